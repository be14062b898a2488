/* What every state encoding shares: the type tag and version, the replica
 * table, type names (include/crdt/codec.h). */
#include <string.h>

#include "crdt/codec.h"
#include "crdt/error.h"

static const char *const type_names[] = {
	[CRDT_GCOUNTER] = "gcounter", [CRDT_PNCOUNTER] = "pncounter", [CRDT_GSET] = "gset",
	[CRDT_ORSET] = "orset",       [CRDT_LWWREG] = "lwwreg",       [CRDT_ORMAP] = "ormap",
};

const char *crdt_type_name(enum crdt_type t)
{
	if (t < CRDT_TYPE_MIN || t > CRDT_TYPE_MAX)
		return NULL;
	return type_names[t];
}

int crdt_type_parse(const char *name, enum crdt_type *ret)
{
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		if (strcasecmp(name, type_names[t]) == 0) {
			*ret = (enum crdt_type)t;
			return 0;
		}
	}
	return CRDT_EINVAL;
}

int crdt_codec_put_header(struct crdt_buf *b, enum crdt_type t)
{
	crdt_buf_put_u8(b, (uint8_t)t);
	return crdt_buf_put_u8(b, CRDT_FORMAT_VERSION);
}

int crdt_codec_get_header(struct crdt_cur *c, enum crdt_type t)
{
	if (c->left < 2)
		return CRDT_EBADMSG;
	if (c->p[0] != t || c->p[1] != CRDT_FORMAT_VERSION)
		return CRDT_EPROTO;
	c->p += 2;
	c->left -= 2;
	return 0;
}

int crdt_codec_put_rids(struct crdt_buf *b, const struct crdt_rid *rids, size_t n)
{
	crdt_buf_put_varint(b, n);
	return crdt_buf_put(b, rids, n * sizeof(*rids));
}

int crdt_codec_get_rids(struct crdt_cur *c, const uint8_t **ret, size_t *ret_n)
{
	struct crdt_cur save = *c;
	const uint8_t *p;
	size_t n;

	if (crdt_cur_count(c, CRDT_RID_LEN, &n) < 0 || crdt_cur_take(c, n * CRDT_RID_LEN, &p) < 0)
		goto bad;
	for (size_t i = 1; i < n; i++)
		if (memcmp(p + (i - 1) * CRDT_RID_LEN, p + i * CRDT_RID_LEN, CRDT_RID_LEN) >= 0)
			goto bad;
	*ret = p;
	*ret_n = n;
	return 0;
bad:
	*c = save;
	return CRDT_EBADMSG;
}
