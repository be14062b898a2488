/* PN-Counter: two version vectors, increments and decrements, int64 range
 * checked, and the baselines a delete leaves; merge, codec, split. */
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
		crdt_vv_init(&c->bp);
		crdt_vv_init(&c->bn);
	}
	return c;
}

void crdt_pncounter_free(struct crdt_pncounter *c)
{
	if (!c)
		return;
	crdt_vv_done(&c->p);
	crdt_vv_done(&c->n);
	crdt_vv_done(&c->bp);
	crdt_vv_done(&c->bn);
	free(c);
}

static unsigned __int128 sum(const struct crdt_vv *vv)
{
	unsigned __int128 s = 0;

	for (size_t i = 0; i < vv->len; i++)
		s += vv->e[i].n;
	return s;
}

/* Each side is a sum of fewer than 2^64 uint64 totals, below 2^128, and a
 * baseline is at most its side; the difference can still leave __int128
 * only in theory (2^63 replicas), so (P - BP) - (N - BN) is exact. */
static __int128 value(const struct crdt_pncounter *c)
{
	return (__int128)(sum(&c->p) - sum(&c->bp)) - (__int128)(sum(&c->n) - sum(&c->bn));
}

bool crdt_pncounter_live(const struct crdt_pncounter *c)
{
	/* a baseline entry never passes its total (merge keeps that, decode
	 * checks it): equal sums mean equal entries */
	return sum(&c->p) != sum(&c->bp) || sum(&c->n) != sum(&c->bn);
}

int crdt_pncounter_clear(struct crdt_pncounter *c)
{
	struct crdt_vv bp, bn;
	int r;

	if (!crdt_pncounter_live(c))
		return 0;
	crdt_vv_init(&bp);
	crdt_vv_init(&bn);
	if ((r = crdt_vv_copy(&bp, &c->p)) < 0 || (r = crdt_vv_copy(&bn, &c->n)) < 0) {
		crdt_vv_done(&bp);
		crdt_vv_done(&bn);
		return r;
	}
	crdt_vv_done(&c->bp);
	crdt_vv_done(&c->bn);
	c->bp = bp;
	c->bn = bn;
	return 1;
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


bool crdt_pncounter_knows_more_of(const struct crdt_pncounter *remote,
				  const struct crdt_pncounter *local, const struct crdt_rid *rid)
{
	return crdt_vv_get(&remote->p, rid) > (local ? crdt_vv_get(&local->p, rid) : 0) ||
	       crdt_vv_get(&remote->n, rid) > (local ? crdt_vv_get(&local->n, rid) : 0);
}

/* If a part fails to merge after others did, dst holds the join of itself
 * with those parts of src: totals first, then baselines, so a baseline never
 * passes its total, and a retry completes the merge. */
int crdt_pncounter_merge(struct crdt_pncounter *dst, const struct crdt_pncounter *src)
{
	int r = crdt_vv_merge(&dst->p, &src->p);

	if (r == 0)
		r = crdt_vv_merge(&dst->n, &src->n);
	if (r == 0)
		r = crdt_vv_merge(&dst->bp, &src->bp);
	return r < 0 ? r : crdt_vv_merge(&dst->bn, &src->bn);
}

bool crdt_pncounter_equal(const struct crdt_pncounter *a, const struct crdt_pncounter *b)
{
	return crdt_vv_equal(&a->p, &b->p) && crdt_vv_equal(&a->n, &b->n) &&
	       crdt_vv_equal(&a->bp, &b->bp) && crdt_vv_equal(&a->bn, &b->bn);
}

uint64_t crdt_pncounter_fingerprint(const struct crdt_pncounter *c)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < c->p.len; i++)
		sum += fp_pair(fp_rid(rid_at(c->p.e[i].rix)) ^ FP_PN_P, c->p.e[i].n);
	for (size_t i = 0; i < c->n.len; i++)
		sum += fp_pair(fp_rid(rid_at(c->n.e[i].rix)) ^ FP_PN_N, c->n.e[i].n);
	for (size_t i = 0; i < c->bp.len; i++)
		sum += fp_pair(fp_rid(rid_at(c->bp.e[i].rix)) ^ FP_PN_BP, c->bp.e[i].n);
	for (size_t i = 0; i < c->bn.len; i++)
		sum += fp_pair(fp_rid(rid_at(c->bn.e[i].rix)) ^ FP_PN_BN, c->bn.e[i].n);
	return fp_finish(CRDT_PNCOUNTER, sum);
}

struct crdt_pncounter *crdt_pncounter_copy(const struct crdt_pncounter *c)
{
	struct crdt_pncounter *d = crdt_pncounter_new();

	if (d && (crdt_vv_copy(&d->p, &c->p) < 0 || crdt_vv_copy(&d->n, &c->n) < 0 ||
		  crdt_vv_copy(&d->bp, &c->bp) < 0 || crdt_vv_copy(&d->bn, &c->bn) < 0)) {
		crdt_pncounter_free(d);
		return NULL;
	}
	return d;
}

/* One replica of the union of P and N: its totals and baselines (v[SIDE_*]),
 * 0 where absent.  A baseline entry implies a total entry, so the union of
 * P and N holds every replica. */
enum side { SIDE_P, SIDE_N, SIDE_BP, SIDE_BN, SIDES };
struct row {
	const struct crdt_rid *rid;
	uint64_t v[SIDES];
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
		w->v[SIDE_P] = cmp <= 0 ? c->p.e[i++].n : 0;
		w->v[SIDE_N] = cmp >= 0 ? c->n.e[j++].n : 0;
		w->v[SIDE_BP] = crdt_vv_get(&c->bp, w->rid);
		w->v[SIDE_BN] = crdt_vv_get(&c->bn, w->rid);
	}
	*ret_rows = rows;
	*ret_len = k;
	return 0;
}

/* One side's entries: count, then (index, total) for non-zero totals. */
static void put_side(const struct row *rows, size_t k, enum side sd, struct crdt_buf *b)
{
	size_t cnt = 0;

	for (size_t i = 0; i < k; i++)
		cnt += rows[i].v[sd] != 0;
	crdt_buf_put_varint(b, cnt);
	for (size_t i = 0; i < k; i++) {
		uint64_t v = rows[i].v[sd];

		if (v) {
			crdt_buf_put_varint(b, i);
			crdt_buf_put_varint(b, v);
		}
	}
}

/* Rows [0, k) as a complete encoding.  The table is written in place (same
 * bytes as crdt_codec_put_rids) since the ids are not in one array.  The
 * baseline sides follow only when a row has a baseline: a counter never
 * deleted encodes as before deletes existed. */
static int encode_rows(const struct row *rows, size_t k, struct crdt_buf *b)
{
	bool base = false;

	crdt_codec_put_header(b, CRDT_PNCOUNTER);
	crdt_buf_put_varint(b, k);
	for (size_t i = 0; i < k; i++) {
		crdt_buf_put(b, rows[i].rid->b, CRDT_RID_LEN);
		base = base || rows[i].v[SIDE_BP] || rows[i].v[SIDE_BN];
	}
	for (enum side sd = SIDE_P; sd < (base ? SIDES : SIDE_BP); sd++)
		put_side(rows, k, sd, b);
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

/* Whether each entry of baseline @b is at most the entry of the same table
 * row in total @t (both as get_side leaves them: rix is the row, ascending). */
static bool under(const struct crdt_vv *b, const struct crdt_vv *t)
{
	size_t j = 0;

	for (size_t i = 0; i < b->len; i++) {
		while (j < t->len && t->e[j].rix < b->e[i].rix)
			j++;
		if (j == t->len || t->e[j].rix != b->e[i].rix || b->e[i].n > t->e[j].n)
			return false;
	}
	return true;
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
	if (r == 0 && c.left != 0) {
		/* baselines: present only when one is not empty, each entry at
		 * most its replica's total */
		r = get_side(&c, n, used, &pn->bp);
		if (r == 0)
			r = get_side(&c, n, used, &pn->bn);
		if (r == 0 && (c.left != 0 || pn->bp.len + pn->bn.len == 0))
			r = CRDT_EBADMSG;
		if (r == 0 && (!under(&pn->bp, &pn->p) || !under(&pn->bn, &pn->n)))
			r = CRDT_EBADMSG;
	}
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
		for (size_t i = 0; r == 0 && i < pn->bp.len; i++)
			pn->bp.e[i].rix = ix[pn->bp.e[i].rix];
		for (size_t i = 0; r == 0 && i < pn->bn.len; i++)
			pn->bn.e[i].rix = ix[pn->bn.e[i].rix];
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

/* Bytes of a piece of @k rows with @cnt entries per side and @body bytes of
 * ids and entries. */
static size_t piece_size(size_t k, const size_t cnt[SIDES], size_t body)
{
	size_t n = 2 + crdt_varint_len(k) + crdt_varint_len(cnt[SIDE_P]) +
		   crdt_varint_len(cnt[SIDE_N]) + body;

	if (cnt[SIDE_BP] || cnt[SIDE_BN])
		n += crdt_varint_len(cnt[SIDE_BP]) + crdt_varint_len(cnt[SIDE_BN]);
	return n;
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
		 * where the index is the row's place within the piece.  A row
		 * carries its baselines with it. */
		size_t k = 0, body = 0, cnt[SIDES] = { 0 };

		while (from + k < len) {
			const struct row *w = &rows[from + k];
			size_t add = CRDT_RID_LEN, nc[SIDES];

			for (enum side sd = SIDE_P; sd < SIDES; sd++) {
				nc[sd] = cnt[sd] + (w->v[sd] != 0);
				if (w->v[sd])
					add += crdt_varint_len(k) + crdt_varint_len(w->v[sd]);
			}
			if (piece_size(k + 1, nc, body + add) > max)
				break;
			body += add;
			memcpy(cnt, nc, sizeof(cnt));
			k++;
		}
		if (k == 0 && (from < len || piece_size(0, cnt, 0) > max)) {
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
