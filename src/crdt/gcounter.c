/* G-Counter: a version vector of per-replica totals; value, merge, codec,
 * split into pieces of whole entries. */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "crdt/gcounter.h"
#include "fp.h"
#include "rid_order.h"

struct crdt_gcounter *crdt_gcounter_new(void)
{
	struct crdt_gcounter *g = malloc(sizeof(*g));

	if (g)
		crdt_vv_init(&g->vv);
	return g;
}

void crdt_gcounter_free(struct crdt_gcounter *g)
{
	if (!g)
		return;
	crdt_vv_done(&g->vv);
	free(g);
}

/* Totals are uint64 and there are fewer than 2^64 of them, so the sum always
 * fits 128 bits. */
static unsigned __int128 sum(const struct crdt_vv *vv)
{
	unsigned __int128 s = 0;

	for (size_t i = 0; i < vv->len; i++)
		s += vv->e[i].n;
	return s;
}

int crdt_gcounter_inc(struct crdt_gcounter *g, const struct crdt_rid *self, int64_t n)
{
	if (n <= 0)
		return CRDT_EINVAL;
	if (sum(&g->vv) + (uint64_t)n > INT64_MAX)
		return CRDT_EOVERFLOW;
	return crdt_vv_add(&g->vv, self, (uint64_t)n, NULL);
}

int crdt_gcounter_value(const struct crdt_gcounter *g, int64_t *ret)
{
	unsigned __int128 s = sum(&g->vv);

	if (s > INT64_MAX)
		return CRDT_EOVERFLOW;
	*ret = (int64_t)s;
	return 0;
}

bool crdt_gcounter_knows_more_of(const struct crdt_gcounter *remote,
				 const struct crdt_gcounter *local, const struct crdt_rid *rid)
{
	return crdt_vv_get(&remote->vv, rid) > (local ? crdt_vv_get(&local->vv, rid) : 0);
}

int crdt_gcounter_merge(struct crdt_gcounter *dst, const struct crdt_gcounter *src)
{
	return crdt_vv_merge(&dst->vv, &src->vv);
}

bool crdt_gcounter_equal(const struct crdt_gcounter *a, const struct crdt_gcounter *b)
{
	return crdt_vv_equal(&a->vv, &b->vv);
}

uint64_t crdt_gcounter_fingerprint(const struct crdt_gcounter *g)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < g->vv.len; i++)
		sum += fp_pair(fp_rid(rid_at(g->vv.e[i].rix)) ^ FP_GC_ENTRY, g->vv.e[i].n);
	return fp_finish(CRDT_GCOUNTER, sum);
}

struct crdt_gcounter *crdt_gcounter_copy(const struct crdt_gcounter *g)
{
	struct crdt_gcounter *c = crdt_gcounter_new();

	if (c && crdt_vv_copy(&c->vv, &g->vv) < 0) {
		crdt_gcounter_free(c);
		return NULL;
	}
	return c;
}

/* Entries [from, from + k) as a complete encoding.  The replica table is
 * written here rather than with crdt_codec_put_rids because the ids sit
 * inside the entries, not in an array of their own; the bytes are the same
 * (varint count, then the ids), and the decoder reads them with
 * crdt_codec_get_rids. */
static int encode_range(const struct crdt_vv *vv, size_t from, size_t k, struct crdt_buf *b)
{
	/* vv->e is NULL in an empty counter: no pointer arithmetic on it
	 * (NULL + 0 is undefined; clang's UBSan reports it) */
	const struct crdt_vv_entry *e = vv->e;

	crdt_codec_put_header(b, CRDT_GCOUNTER);
	crdt_buf_put_varint(b, k);
	for (size_t i = 0; i < k; i++)
		crdt_buf_put(b, rid_at(e[from + i].rix)->b, CRDT_RID_LEN);
	for (size_t i = 0; i < k; i++)
		crdt_buf_put_varint(b, e[from + i].n);
	return b->err;
}

int crdt_gcounter_encode(const struct crdt_gcounter *g, struct crdt_buf *b)
{
	return encode_range(&g->vv, 0, g->vv.len, b);
}

int crdt_gcounter_decode(const uint8_t *buf, size_t len, struct crdt_gcounter **ret)
{
	struct crdt_cur c;
	struct crdt_gcounter *g;
	const uint8_t *rids;
	size_t n;
	int r;

	crdt_cur_init(&c, buf, len);
	r = crdt_codec_get_header(&c, CRDT_GCOUNTER);
	if (r < 0)
		return r;
	/* get_rids bounds n by the input; each total takes at least one more
	 * byte, which bounds it again before we allocate. */
	if (crdt_codec_get_rids(&c, &rids, &n) < 0 || n > c.left)
		return CRDT_EBADMSG;
	g = crdt_gcounter_new();
	if (!g)
		return CRDT_ENOMEM;
	if (n > 0) {
		g->vv.e = malloc(n * sizeof(*g->vv.e));
		if (!g->vv.e) {
			crdt_gcounter_free(g);
			return CRDT_ENOMEM;
		}
		g->vv.cap = n;
	}
	/* The table is strictly ascending (get_rids checked), so filling the
	 * entries in order keeps the vector's sorted, unique invariant. */
	for (size_t i = 0; i < n; i++) {
		struct crdt_vv_entry *e = &g->vv.e[i];

		if (crdt_cur_varint(&c, &e->n) < 0 || e->n == 0)
			goto bad;
		g->vv.len++;
	}
	if (c.left != 0)
		goto bad;
	if (n > 0) {
		/* the ids last, once the counts are known good: one lock */
		uint32_t *ix = malloc(n * sizeof(*ix));

		r = ix ? crdt_rid_intern_many(rids, n, ix) : CRDT_ENOMEM;
		for (size_t i = 0; r == 0 && i < n; i++)
			g->vv.e[i].rix = ix[i];
		free(ix);
		if (r < 0)
			goto out;
	}
	*ret = g;
	return 0;
bad:
	r = CRDT_EBADMSG;
out:
	crdt_gcounter_free(g);
	return r;
}

/* Header, table count, and the counts' contribution for k entries. */
static size_t piece_overhead(size_t k)
{
	return 2 + crdt_varint_len(k);
}

int crdt_gcounter_split(const struct crdt_gcounter *g, size_t max, crdt_piece_cb cb, void *ctx)
{
	const struct crdt_vv *vv = &g->vv;
	struct crdt_buf b;
	size_t from = 0;
	int r = 0;

	crdt_buf_init(&b, max);
	/* An empty counter still goes out as one piece, so a peer learns the
	 * instance exists. */
	do {
		size_t k = 0, body = 0;

		/* Greedy: the size of a piece is exact arithmetic, so take entries
		 * while the next one still fits. */
		while (from + k < vv->len) {
			size_t add = CRDT_RID_LEN + crdt_varint_len(vv->e[from + k].n);

			if (piece_overhead(k + 1) + body + add > max)
				break;
			body += add;
			k++;
		}
		if (k == 0 && (from < vv->len || piece_overhead(0) > max)) {
			r = CRDT_EMSGSIZE;
			break;
		}
		crdt_buf_reset(&b);
		r = encode_range(vv, from, k, &b);
		if (r == 0)
			r = cb(b.data, b.len, ctx);
		from += k;
	} while (r == 0 && from < vv->len);
	crdt_buf_done(&b);
	return r;
}
