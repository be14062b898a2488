/* LWW-Register: a byte string ordered by (HLC timestamp, replica id); set,
 * delete (a tombstone of the removed value's stamp), merge, codec. */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "crdt/lwwreg.h"
#include "fp.h"
#include "rid_order.h"

_Static_assert(sizeof(struct crdt_lwwreg) == 32, "struct crdt_lwwreg grew (lwwreg.h)");
_Static_assert(CRDT_RID_INTERN_MAX <= (1u << 30), "an interned index no longer fits rix");

struct crdt_lwwreg *crdt_lwwreg_new(void)
{
	return calloc(1, sizeof(struct crdt_lwwreg));
}

void crdt_lwwreg_init(struct crdt_lwwreg *r)
{
	*r = (struct crdt_lwwreg){ 0 };
}

void crdt_lwwreg_done(struct crdt_lwwreg *r)
{
	if (r->len > CRDT_LWWREG_INLINE)
		free(r->val);
	crdt_lwwreg_init(r);
}

void crdt_lwwreg_free(struct crdt_lwwreg *r)
{
	if (!r)
		return;
	crdt_lwwreg_done(r);
	free(r);
}

/* Replace the value with a copy of @len bytes at @p (which may be the
 * current value): in r->small when it fits, saving a malloc for the many
 * short values, and in the memory of the value it replaces when that is as
 * long (a key overwritten with values of one size: a malloc and a free a
 * write, 4-9 % of a SET storm's writer and peers).  On -ENOMEM, or
 * -EMSGSIZE past UINT32_MAX bytes, the register is unchanged. */
static int put_value(struct crdt_lwwreg *r, const void *p, size_t len)
{
	uint8_t small[CRDT_LWWREG_INLINE];
	uint8_t *d = NULL;

	if (len > UINT32_MAX)
		return CRDT_EMSGSIZE;
	if (len > CRDT_LWWREG_INLINE && len == r->len) {
		memmove(r->val, p, len);
		return 0;
	}
	if (len > CRDT_LWWREG_INLINE) {
		if (!(d = malloc(len)))
			return CRDT_ENOMEM;
		memcpy(d, p, len);
	} else if (len > 0) {
		memcpy(small, p, len); /* before the old value goes */
	}
	if (r->len > CRDT_LWWREG_INLINE)
		free(r->val);
	if (d)
		r->val = d;
	else if (len > 0)
		memcpy(r->small, small, len);
	r->len = (uint32_t)len;
	return 0;
}

int crdt_lwwreg_set(struct crdt_lwwreg *r, struct crdt_hlc *hlc, const struct crdt_rid *self,
		    const void *val, size_t len)
{
	uint32_t rix;
	int ret = crdt_rid_intern(self, &rix);

	if (ret == 0)
		ret = put_value(r, val, len);
	if (ret < 0)
		return ret;
	/* The register may hold a stamp from a clock ahead of ours: the new
	 * stamp orders after it, so a write always replaces what the caller
	 * just read, on every replica.  Only this register's stamp moves past
	 * it; our clock is not dragged along (hlc.h). */
	r->ts = r->set || r->del ? crdt_hlc_after(hlc, &r->ts) : crdt_hlc_now(hlc);
	r->rix = rix;
	r->set = true;
	r->del = false;
	return 0;
}

int crdt_lwwreg_clear(struct crdt_lwwreg *r)
{
	if (!r->set)
		return 0;
	put_value(r, NULL, 0); /* cannot fail: frees only */
	r->set = false;
	r->del = true;
	return 1;
}

bool crdt_lwwreg_live(const struct crdt_lwwreg *r)
{
	return r->set;
}

bool crdt_lwwreg_get(const struct crdt_lwwreg *r, const uint8_t **ret_val, size_t *ret_len)
{
	if (!r->set)
		return false;
	*ret_val = crdt_lwwreg_value(r);
	*ret_len = r->len;
	return true;
}

/* Total order on non-empty registers: (ts, rid), then a tombstone above a
 * value of the same stamp (it removed that value), then the value bytes
 * (shorter prefix first) so that equal stamps, which only misuse produces,
 * still merge the same way in either order.  Merge keeps the greater. */
static int order(const struct crdt_lwwreg *a, const struct crdt_lwwreg *b)
{
	int c = crdt_hlc_cmp(&a->ts, &b->ts);
	size_t min = a->len < b->len ? a->len : b->len;

	if (c == 0 && a->rix != b->rix)
		c = crdt_rid_cmp(rid_at(a->rix), rid_at(b->rix));
	if (c == 0)
		c = (int)a->del - (int)b->del;
	if (c == 0 && min > 0)
		c = memcmp(crdt_lwwreg_value(a), crdt_lwwreg_value(b), min);
	if (c == 0)
		c = (a->len > b->len) - (a->len < b->len);
	return c;
}

bool crdt_lwwreg_knows_more_of(const struct crdt_lwwreg *remote, const struct crdt_lwwreg *local,
			       const struct crdt_rid *rid)
{
	int c;

	if (!(remote->set || remote->del) || crdt_rid_cmp(rid_at(remote->rix), rid) != 0)
		return false;
	if (!local || !(local->set || local->del))
		return true;
	c = crdt_hlc_cmp(&remote->ts, &local->ts);
	return c > 0 || (c == 0 && local->rix != remote->rix);
}

int crdt_lwwreg_merge(struct crdt_lwwreg *dst, const struct crdt_lwwreg *src)
{
	int r;

	if (!(src->set || src->del) || ((dst->set || dst->del) && order(src, dst) <= 0))
		return 0;
	r = put_value(dst, crdt_lwwreg_value(src), src->len);
	if (r < 0)
		return r;
	dst->ts = src->ts;
	dst->rix = src->rix;
	dst->set = src->set;
	dst->del = src->del;
	return 0;
}

bool crdt_lwwreg_equal(const struct crdt_lwwreg *a, const struct crdt_lwwreg *b)
{
	if (!(a->set || a->del) || !(b->set || b->del))
		return a->set == b->set && a->del == b->del;
	return order(a, b) == 0;
}

/* The register is one part: writer, stamp and value together. */
uint64_t crdt_lwwreg_fingerprint(const struct crdt_lwwreg *r)
{
	uint64_t h = 0;

	if (r->set) {
		h = fp_pair(fp_rid(rid_at(r->rix)) ^ FP_REG, r->ts.ms);
		h = fp_pair(h, r->ts.lc);
		h = fp_pair(h, fp_bytes(FP_REG, crdt_lwwreg_value(r), r->len));
	} else if (r->del) {
		h = fp_pair(fp_rid(rid_at(r->rix)) ^ FP_REG_DEL, r->ts.ms);
		h = fp_pair(h, r->ts.lc);
	}
	return fp_finish(CRDT_LWWREG, h);
}

struct crdt_lwwreg *crdt_lwwreg_copy(const struct crdt_lwwreg *r)
{
	struct crdt_lwwreg *c = crdt_lwwreg_new();

	if (c && crdt_lwwreg_merge(c, r) < 0) {
		crdt_lwwreg_free(c);
		return NULL;
	}
	return c;
}

#define LWW_SET 0x01
#define LWW_DEL 0x02 /* a tombstone: writer and stamp, no value (format 1 all the same:
		      * older encodings never set it) */

int crdt_lwwreg_encode(const struct crdt_lwwreg *r, struct crdt_buf *b)
{
	crdt_codec_put_header(b, CRDT_LWWREG);
	crdt_buf_put_u8(b, r->set ? LWW_SET : r->del ? LWW_DEL : 0);
	if (r->set || r->del) {
		crdt_buf_put(b, rid_at(r->rix)->b, CRDT_RID_LEN);
		crdt_buf_put_varint(b, r->ts.ms);
		crdt_buf_put_varint(b, r->ts.lc);
	}
	if (r->set)
		crdt_buf_put_bytes(b, crdt_lwwreg_value(r), r->len);
	return b->err;
}

int crdt_lwwreg_decode(const uint8_t *buf, size_t len, struct crdt_lwwreg **ret)
{
	struct crdt_lwwreg tmp = { 0 }, *r;
	size_t vlen = 0;
	struct crdt_cur c;
	const uint8_t *rid, *val = NULL;
	struct crdt_rid id;
	uint64_t lc;
	uint32_t rix = 0;
	uint8_t flags;
	int e;

	crdt_cur_init(&c, buf, len);
	e = crdt_codec_get_header(&c, CRDT_LWWREG);
	if (e < 0)
		return e;
	if (crdt_cur_u8(&c, &flags) < 0 || (flags & ~(LWW_SET | LWW_DEL)) ||
	    flags == (LWW_SET | LWW_DEL))
		return CRDT_EBADMSG;
	if (flags) {
		if (crdt_cur_take(&c, CRDT_RID_LEN, &rid) < 0 ||
		    crdt_cur_varint(&c, &tmp.ts.ms) < 0 || crdt_cur_varint(&c, &lc) < 0 ||
		    lc > UINT32_MAX || ((flags & LWW_SET) && crdt_cur_bytes(&c, &val, &vlen) < 0))
			return CRDT_EBADMSG;
		memcpy(id.b, rid, CRDT_RID_LEN);
		tmp.ts.lc = (uint32_t)lc;
		tmp.set = (flags & LWW_SET) != 0;
		tmp.del = (flags & LWW_DEL) != 0;
	}
	if (c.left != 0)
		return CRDT_EBADMSG;
	if ((tmp.set || tmp.del) && (e = crdt_rid_intern(&id, &rix)) < 0)
		return e;
	if (!(r = crdt_lwwreg_new()))
		return CRDT_ENOMEM;
	if ((e = put_value(r, val, vlen)) < 0) {
		free(r);
		return e;
	}
	r->ts = tmp.ts;
	r->rix = rix;
	r->set = tmp.set;
	r->del = tmp.del;
	*ret = r;
	return 0;
}

int crdt_lwwreg_split(const struct crdt_lwwreg *r, size_t max, crdt_piece_cb cb, void *ctx)
{
	struct crdt_buf b;
	int e;

	crdt_buf_init(&b, max);
	e = crdt_lwwreg_encode(r, &b);
	if (e == 0)
		e = cb(b.data, b.len, ctx);
	crdt_buf_done(&b);
	return e;
}
