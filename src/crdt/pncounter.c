/* PN-Counter: two version vectors, increments and decrements, int64 range
 * checked; merge, codec, split. */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "crdt/pncounter.h"
#include "fp.h"
#include "rid_order.h"

struct crdt_pncounter *crdt_pncounter_new(void)
{
	struct crdt_pncounter *c = malloc(sizeof(*c));

	if (c) {
		crdt_vv_init(&c->p);
		crdt_vv_init(&c->n);
	}
	return c;
}

void crdt_pncounter_free(struct crdt_pncounter *c)
{
	if (!c)
		return;
	crdt_vv_done(&c->p);
	crdt_vv_done(&c->n);
	free(c);
}

/* Each side is a sum of fewer than 2^64 uint64 totals, below 2^128; their
 * difference can still leave __int128 only in theory (2^63 replicas), so
 * P - N is exact. */
static __int128 value(const struct crdt_pncounter *c)
{
	unsigned __int128 p = 0, n = 0;

	for (size_t i = 0; i < c->p.len; i++)
		p += c->p.e[i].n;
	for (size_t i = 0; i < c->n.len; i++)
		n += c->n.e[i].n;
	return (__int128)p - (__int128)n;
}

int crdt_pncounter_inc(struct crdt_pncounter *c, const struct crdt_rid *self, int64_t n)
{
	if (n <= 0)
		return CRDT_EINVAL;
	if (value(c) + n > INT64_MAX)
		return CRDT_EOVERFLOW;
	/* crdt_vv_add refuses (-EOVERFLOW, unchanged) a total past UINT64_MAX,
	 * which many increments and decrements on one replica can reach while
	 * the value itself stays small. */
	return crdt_vv_add(&c->p, self, (uint64_t)n, NULL);
}

int crdt_pncounter_dec(struct crdt_pncounter *c, const struct crdt_rid *self, int64_t n)
{
	if (n <= 0)
		return CRDT_EINVAL;
	if (value(c) - n < INT64_MIN)
		return CRDT_EOVERFLOW;
	return crdt_vv_add(&c->n, self, (uint64_t)n, NULL);
}

int crdt_pncounter_value(const struct crdt_pncounter *c, int64_t *ret)
{
	__int128 v = value(c);

	if (v > INT64_MAX || v < INT64_MIN)
		return CRDT_EOVERFLOW;
	*ret = (int64_t)v;
	return 0;
}

/* If N fails to merge after P did, dst holds the join of itself with (P of
 * src, nothing of N): still a state every replica could reach, so nothing is
 * lost and a retry completes the merge. */
bool crdt_pncounter_knows_more_of(const struct crdt_pncounter *remote,
				  const struct crdt_pncounter *local, const struct crdt_rid *rid)
{
	return crdt_vv_get(&remote->p, rid) > (local ? crdt_vv_get(&local->p, rid) : 0) ||
	       crdt_vv_get(&remote->n, rid) > (local ? crdt_vv_get(&local->n, rid) : 0);
}

int crdt_pncounter_merge(struct crdt_pncounter *dst, const struct crdt_pncounter *src)
{
	int r = crdt_vv_merge(&dst->p, &src->p);

	return r < 0 ? r : crdt_vv_merge(&dst->n, &src->n);
}

bool crdt_pncounter_equal(const struct crdt_pncounter *a, const struct crdt_pncounter *b)
{
	return crdt_vv_equal(&a->p, &b->p) && crdt_vv_equal(&a->n, &b->n);
}

uint64_t crdt_pncounter_fingerprint(const struct crdt_pncounter *c)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < c->p.len; i++)
		sum += fp_pair(fp_rid(rid_at(c->p.e[i].rix)) ^ FP_PN_P, c->p.e[i].n);
	for (size_t i = 0; i < c->n.len; i++)
		sum += fp_pair(fp_rid(rid_at(c->n.e[i].rix)) ^ FP_PN_N, c->n.e[i].n);
	return fp_finish(CRDT_PNCOUNTER, sum);
}

struct crdt_pncounter *crdt_pncounter_copy(const struct crdt_pncounter *c)
{
	struct crdt_pncounter *d = crdt_pncounter_new();

	if (d && (crdt_vv_copy(&d->p, &c->p) < 0 || crdt_vv_copy(&d->n, &c->n) < 0)) {
		crdt_pncounter_free(d);
		return NULL;
	}
	return d;
}

/* One replica of the union of P and N: its totals, 0 where absent. */
struct row {
	const struct crdt_rid *rid;
	uint64_t p, n;
};

/* The union of P and N replicas in rid order; *ret_rows is NULL when empty. */
static int union_rows(const struct crdt_pncounter *c, struct row **ret_rows, size_t *ret_len)
{
	size_t i = 0, j = 0, k = 0;
	struct row *rows = NULL;

	if (c->p.len + c->n.len > 0) {
		rows = malloc((c->p.len + c->n.len) * sizeof(*rows));
		if (!rows)
			return CRDT_ENOMEM;
	}
	while (i < c->p.len || j < c->n.len) {
		int cmp = i == c->p.len ? 1 : j == c->n.len ? -1 : 0;

		if (cmp == 0 && c->p.e[i].rix != c->n.e[j].rix)
			cmp = crdt_rid_cmp(rid_at(c->p.e[i].rix), rid_at(c->n.e[j].rix));
		struct row *w = &rows[k++];

		w->rid = rid_at(cmp <= 0 ? c->p.e[i].rix : c->n.e[j].rix);
		w->p = cmp <= 0 ? c->p.e[i++].n : 0;
		w->n = cmp >= 0 ? c->n.e[j++].n : 0;
	}
	*ret_rows = rows;
	*ret_len = k;
	return 0;
}

/* One side's entries: count, then (index, total) for non-zero totals. */
static void put_side(const struct row *rows, size_t k, bool neg, struct crdt_buf *b)
{
	size_t cnt = 0;

	for (size_t i = 0; i < k; i++)
		cnt += (neg ? rows[i].n : rows[i].p) != 0;
	crdt_buf_put_varint(b, cnt);
	for (size_t i = 0; i < k; i++) {
		uint64_t v = neg ? rows[i].n : rows[i].p;

		if (v) {
			crdt_buf_put_varint(b, i);
			crdt_buf_put_varint(b, v);
		}
	}
}

/* Rows [0, k) as a complete encoding.  The table is written in place (same
 * bytes as crdt_codec_put_rids) since the ids are not in one array. */
static int encode_rows(const struct row *rows, size_t k, struct crdt_buf *b)
{
	crdt_codec_put_header(b, CRDT_PNCOUNTER);
	crdt_buf_put_varint(b, k);
	for (size_t i = 0; i < k; i++)
		crdt_buf_put(b, rows[i].rid->b, CRDT_RID_LEN);
	put_side(rows, k, false, b);
	put_side(rows, k, true, b);
	return b->err;
}

int crdt_pncounter_encode(const struct crdt_pncounter *c, struct crdt_buf *b)
{
	struct row *rows;
	size_t k;
	int r = union_rows(c, &rows, &k);

	if (r < 0)
		return r;
	r = encode_rows(rows, k, b);
	free(rows);
	return r;
}

/* Read one side into @vv (initialised, empty) and mark the table rows it
 * uses.  Each entry's rix is its row in the table, for the caller to
 * replace with the interned id.  On error @vv may hold entries: the caller
 * frees. */
static int get_side(struct crdt_cur *c, size_t n, uint8_t *used, struct crdt_vv *vv)
{
	size_t cnt;

	/* An entry takes at least two bytes, and there is at most one per row. */
	if (crdt_cur_count(c, 2, &cnt) < 0 || cnt > n)
		return CRDT_EBADMSG;
	if (cnt > 0) {
		vv->e = malloc(cnt * sizeof(*vv->e));
		if (!vv->e)
			return CRDT_ENOMEM;
		vv->cap = cnt;
	}
	for (size_t i = 0, prev = 0; i < cnt; i++) {
		struct crdt_vv_entry *e = &vv->e[i];
		uint64_t idx;

		/* Strictly ascending indices into the ascending table keep the
		 * vector sorted and unique. */
		if (crdt_cur_varint(c, &idx) < 0 || idx >= n || (i > 0 && idx <= prev))
			return CRDT_EBADMSG;
		/* the table row for now; the caller interns the ids */
		e->rix = (uint32_t)idx;
		if (crdt_cur_varint(c, &e->n) < 0 || e->n == 0)
			return CRDT_EBADMSG;
		used[idx] = 1;
		prev = (size_t)idx;
		vv->len++;
	}
	return 0;
}

int crdt_pncounter_decode(const uint8_t *buf, size_t len, struct crdt_pncounter **ret)
{
	struct crdt_cur c;
	struct crdt_pncounter *pn;
	const uint8_t *rids;
	uint8_t *used = NULL;
	size_t n;
	int r;

	crdt_cur_init(&c, buf, len);
	r = crdt_codec_get_header(&c, CRDT_PNCOUNTER);
	if (r < 0)
		return r;
	if (crdt_codec_get_rids(&c, &rids, &n) < 0 || n > UINT32_MAX)
		return CRDT_EBADMSG;
	pn = crdt_pncounter_new();
	/* n is bounded by the input (16 bytes a row). */
	used = calloc(n + 1, 1);
	if (!pn || !used) {
		r = CRDT_ENOMEM;
		goto out;
	}
	r = get_side(&c, n, used, &pn->p);
	if (r == 0)
		r = get_side(&c, n, used, &pn->n);
	if (r == 0 && c.left != 0)
		r = CRDT_EBADMSG;
	/* A row no entry uses would give the state a second encoding. */
	for (size_t i = 0; r == 0 && i < n; i++)
		if (!used[i])
			r = CRDT_EBADMSG;
	if (r == 0 && n > 0) {
		/* the ids last, once the rest is known good: one lock */
		uint32_t *ix = malloc(n * sizeof(*ix));

		r = ix ? crdt_rid_intern_many(rids, n, ix) : CRDT_ENOMEM;
		for (size_t i = 0; r == 0 && i < pn->p.len; i++)
			pn->p.e[i].rix = ix[pn->p.e[i].rix];
		for (size_t i = 0; r == 0 && i < pn->n.len; i++)
			pn->n.e[i].rix = ix[pn->n.e[i].rix];
		free(ix);
	}
out:
	free(used);
	if (r < 0) {
		crdt_pncounter_free(pn);
		return r;
	}
	*ret = pn;
	return 0;
}

int crdt_pncounter_split(const struct crdt_pncounter *c, size_t max, crdt_piece_cb cb, void *ctx)
{
	struct row *rows;
	struct crdt_buf b;
	size_t len, from = 0;
	int r = union_rows(c, &rows, &len);

	if (r < 0)
		return r;
	crdt_buf_init(&b, max);
	/* An empty counter still goes out as one piece, so a peer learns the
	 * instance exists. */
	do {
		/* Greedy over rows; the size of a piece is exact arithmetic:
		 * header, table, then per side a count and (index, total) pairs
		 * where the index is the row's place within the piece. */
		size_t k = 0, body = 0, np = 0, nn = 0;

		while (from + k < len) {
			const struct row *w = &rows[from + k];
			size_t add = CRDT_RID_LEN, pp = np + (w->p != 0), qq = nn + (w->n != 0);

			if (w->p)
				add += crdt_varint_len(k) + crdt_varint_len(w->p);
			if (w->n)
				add += crdt_varint_len(k) + crdt_varint_len(w->n);
			if (2 + crdt_varint_len(k + 1) + crdt_varint_len(pp) + crdt_varint_len(qq) +
				    body + add >
			    max)
				break;
			body += add;
			np = pp;
			nn = qq;
			k++;
		}
		if (k == 0 && (from < len || 2 + 3 > max)) {
			r = CRDT_EMSGSIZE;
			break;
		}
		crdt_buf_reset(&b);
		r = encode_rows(rows + from, k, &b);
		if (r == 0)
			r = cb(b.data, b.len, ctx);
		from += k;
	} while (r == 0 && from < len);
	crdt_buf_done(&b);
	free(rows);
	return r;
}
