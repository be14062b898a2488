/* Split: an OR-Set cut into pieces of at most a given size, each a state of
 * its own that covers some dot ranges (docs/encoding.md).
 *
 * Walk every live (element, dot) pair in (replica, counter) order together
 * with the context's intervals, and cut wherever the next interval or pair
 * would overflow the piece.  Piece k covers, for the replicas it spans, the
 * counters from its start cut to just before the next piece's: the cuts of
 * one replica tile its whole context.  Sizes are summed as upper bounds
 * (every pair costed as an element of its own, with the largest head and
 * the largest counter difference its replica's context allows, varints of
 * counts at their largest), so the exact encoding never exceeds max.
 */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "internal.h"
#include "crdt/sort.h"

struct pair {
	uint64_t ctr;
	uint32_t ri; /* arrival index while walking, piece index when emitting */
	uint32_t pad;
	const struct et_slot *e;
};

struct cut {
	uint32_t r; /* replica index */
	uint64_t c; /* counter */
	size_t p;   /* first pair index */
};

/* Scratch for put_piece: one element's dots, as put_elem() wants them;
 * the pairs' sort keys and a copy of the pairs. */
struct dotbuf {
	struct dot *d;
	size_t cap;
	uint64_t *key, *tmp;
	uint32_t *cnt; /* kcap + 1 bucket counts */
	struct pair *pr;
	size_t kcap;
};

struct splitter {
	const struct crdt_orset *s;
	size_t max;
	crdt_piece_cb cb;
	void *ctx;
	struct pair *pairs, *tmp;
	size_t npairs;
	uint32_t *local; /* replica index -> piece table index */
	uint32_t *incl;  /* replicas of the piece, then sorted by rid */
	uint64_t *last;  /* per piece replica, the previous counter */
	uint64_t *rlo, *rhi; /* per piece replica, the counters it covers */
	size_t dropped;      /* pairs left out by emit */
	struct dotbuf db;
	struct crdt_buf b;
};

/* (replica, counter), then the table's order for a dot two elements hold:
 * the order the walk met them in */
static inline bool pair_walk_lt(const struct pair *a, const struct pair *b)
{
	if (a->ri != b->ri)
		return a->ri < b->ri;
	return a->ctr != b->ctr ? a->ctr < b->ctr : a->e < b->e;
}

static int pair_elem_cmp(const void *x, const void *y)
{
	const struct pair *a = x, *b = y;
	int c = a->e == b->e ? 0 : et_hk_cmp(a->e, b->e); /* the encoding's order */
	return c ? c : dot_cmp(a->ri, a->ctr, b->ri, b->ctr);
}


static inline bool u64_lt(const uint64_t *a, const uint64_t *b)
{
	return *a < *b;
}

/* Integers in ascending order */
SORT_DEFINE(sort_u64, uint64_t, u64_lt)
/* Pairs in (replica, counter) order, the walk's */
SORT_DEFINE(sort_walk, struct pair, pair_walk_lt)

/* Sort the keys @k[0..n) (a slot index << 24 | a position) into @out: a
 * piece's slots are spread evenly over the table (their hashes are), so
 * each goes first to one of n buckets by its slot's place in the table's
 * @cap slots, and an insertion pass orders the few of each bucket.  The
 * quicksort's mispredicted compares were a sixth of a catch-up sender's
 * CPU (docs/benchmarks.md).  A bucket of more than 16 (a table crowded by
 * crafted hashes) sends the whole run to the quicksort instead, so no input
 * costs more than O(n log n). */
static void sort_keys(const uint64_t *k, uint64_t *out, uint32_t *cnt, size_t n, size_t cap)
{
	uint32_t most = 0;

	memset(cnt, 0, (n + 1) * sizeof(*cnt));
	for (size_t i = 0; i < n; i++) {
		uint32_t c = ++cnt[(k[i] >> 24) * n / cap + 1];
		most = c > most ? c : most;
	}
	if (most > 16) {
		memcpy(out, k, n * sizeof(*out));
		sort_u64(out, n);
		return;
	}
	for (size_t b = 1; b <= n; b++)
		cnt[b] += cnt[b - 1];
	for (size_t i = 0; i < n; i++)
		out[cnt[(k[i] >> 24) * n / cap]++] = k[i];
	for (size_t i = 1; i < n; i++) {
		uint64_t t = out[i];
		size_t j = i;
		for (; j > 0 && out[j - 1] > t; j--)
			out[j] = out[j - 1];
		out[j] = t;
	}
}

/* Sort @pr[0..np) into the encoding's order (pair_elem_cmp).  The table
 * is in (hash, key) order, so an element's slot index is its place: the
 * pairs go by (slot index, position) as plain 64-bit keys, and the few of
 * one element by dot after.  qsort's calls of pair_elem_cmp were a fifth
 * of a catch-up sender's CPU (docs/benchmarks.md). */
static int sort_pairs(const struct crdt_orset *s, struct pair *pr, size_t np, struct dotbuf *db)
{
	if (np >= 1u << 24) {
		qsort(pr, np, sizeof(*pr), pair_elem_cmp);
		return 0;
	}
	if (np > db->kcap) {
		uint64_t *k = realloc(db->key, np * sizeof(*k));
		uint64_t *t = k ? realloc(db->tmp, np * sizeof(*t)) : NULL;
		uint32_t *c = t ? realloc(db->cnt, (np + 1) * sizeof(*c)) : NULL;
		struct pair *p = c ? realloc(db->pr, np * sizeof(*p)) : NULL;
		if (k)
			db->key = k;
		if (t)
			db->tmp = t;
		if (c)
			db->cnt = c;
		if (!p)
			return CRDT_ENOMEM;
		db->pr = p;
		db->kcap = np;
	}
	for (size_t i = 0; i < np; i++)
		db->key[i] = (uint64_t)(pr[i].e - s->tab.s) << 24 | i;
	sort_keys(db->key, db->tmp, db->cnt, np, et_cap(&s->tab));
	for (size_t i = 0; i < np; i++)
		db->pr[i] = pr[db->tmp[i] & ((1u << 24) - 1)];
	for (size_t i = 0; i < np; i++) {
		struct pair t = db->pr[i];
		size_t j = i;
		for (; j > 0 && db->pr[j - 1].e == t.e &&
		       dot_cmp(db->pr[j - 1].ri, db->pr[j - 1].ctr, t.ri, t.ctr) > 0; j--)
			db->pr[j] = db->pr[j - 1];
		db->pr[j] = t;
	}
	memcpy(pr, db->pr, np * sizeof(*pr));
	return 0;
}

/* Intervals of replica @r clipped to [lo, hi]; first index and count. */
/* The first interval of replica @p with hi >= @lo. */
static size_t iv_first(const struct rep *p, uint64_t lo)
{
	size_t a = 0, b = p->n;

	while (a < b) {
		size_t mid = a + (b - a) / 2;
		if (p->iv[mid].hi < lo)
			a = mid + 1;
		else
			b = mid;
	}
	return a;
}

static size_t clip(const struct rep *p, uint64_t lo, uint64_t hi, size_t *ret_first)
{
	size_t a = iv_first(p, lo), i;

	*ret_first = a;
	for (i = a; i < p->n && p->iv[i].lo <= hi && lo <= hi; i++)
		;
	return i - a;
}

/* Write one piece into @b: the replicas @inc[0..ninc) (ascending rid),
 * replica k covering the counters [lo[k], hi[k]] (which clip its context
 * to at least one interval), and the pairs @pr[0..np) whose ri are
 * positions in @inc (sorted here into the encoding's order). */
static int put_piece(struct crdt_buf *b, const struct crdt_orset *s, const uint32_t *inc,
		     const uint64_t *lo, const uint64_t *hi, size_t ninc, struct pair *pr, size_t np,
		     struct dotbuf *db, uint64_t *last)
{
	size_t nelem = 0;

	crdt_buf_reset(b);
	crdt_codec_put_header(b, CRDT_ORSET);
	crdt_buf_put_varint(b, ninc);
	for (size_t k = 0; k < ninc; k++)
		crdt_buf_put(b, s->reps[inc[k]].rid.b, CRDT_RID_LEN);
	for (size_t k = 0; k < ninc; k++) {
		const struct rep *p = &s->reps[inc[k]];
		uint64_t prev = 0;
		size_t first, n = clip(p, lo[k], hi[k], &first);

		crdt_buf_put_varint(b, n);
		for (size_t i = first; i < first + n; i++) {
			uint64_t a = p->iv[i].lo > lo[k] ? p->iv[i].lo : lo[k];
			uint64_t z = p->iv[i].hi < hi[k] ? p->iv[i].hi : hi[k];
			crdt_buf_put_varint(b, a - prev - 1);
			crdt_buf_put_varint(b, z - a);
			prev = z;
		}
	}
	for (size_t i = 1; i < np; i++)
		if (pair_elem_cmp(&pr[i - 1], &pr[i]) > 0) { /* else in order already */
			int r = sort_pairs(s, pr, np, db);
			if (r < 0)
				return r;
			break;
		}
	for (size_t i = 0; i < np; i++)
		nelem += i == 0 || pr[i].e != pr[i - 1].e;
	crdt_buf_put_varint(b, nelem);
	for (size_t k = 0; k < ninc; k++)
		last[k] = 0;
	for (size_t i = 0, j; i < np; i = j) {
		const struct et_slot *e = pr[i].e;
		size_t nd;
		for (j = i; j < np && pr[j].e == e; j++)
			;
		nd = j - i;
		if (nd > db->cap) {
			struct dot *p = realloc(db->d, nd * sizeof(*p));
			if (!p)
				return CRDT_ENOMEM;
			db->d = p;
			db->cap = nd;
		}
		for (size_t x = 0; x < nd; x++)
			db->d[x] = (struct dot){ .ri = pr[i + x].ri, .ctr = pr[i + x].ctr };
		put_elem(b, et_key(e), et_len(e), db->d, nd, last);
	}
	return b->err;
}

static int emit(struct splitter *sp, const struct cut *from, const struct cut *to)
{
	const struct crdt_orset *s = sp->s;
	size_t ninc = 0, np = to->p - from->p;
	int r;

	for (uint32_t ri = from->r; ri <= to->r && ri < s->nreps; ri++) {
		uint64_t lo = ri == from->r ? from->c : 0, hi = ri == to->r ? to->c : UINT64_MAX;
		size_t first;
		if (clip(&s->reps[ri], lo, hi, &first))
			sp->incl[ninc++] = ri;
	}
	/* Already in arrival order; rid order wants a (short) insertion sort. */
	for (size_t i = 1; i < ninc; i++) {
		uint32_t t = sp->incl[i];
		size_t j = i;
		for (; j > 0 && memcmp(s->reps[sp->incl[j - 1]].rid.b, s->reps[t].rid.b,
				       CRDT_RID_LEN) > 0; j--)
			sp->incl[j] = sp->incl[j - 1];
		sp->incl[j] = t;
	}
	for (size_t k = 0; k < ninc; k++) {
		uint32_t ri = sp->incl[k];
		sp->local[ri] = (uint32_t)k;
		sp->rlo[k] = ri == from->r ? from->c : 0;
		sp->rhi[k] = ri == to->r ? to->c : UINT64_MAX;
	}
	size_t m = 0;

	for (size_t i = 0; i < np; i++) {
		struct pair q = sp->pairs[from->p + i];
		uint64_t lo = q.ri == from->r ? from->c : 0, hi = q.ri == to->r ? to->c : UINT64_MAX;
		/* A dot two elements hold (no replica makes such a state, but
		 * the decoder takes one) can have the cut fall between its
		 * pairs: the one left outside the piece's context would make
		 * the piece undecodable, so it is left out, and counted. */
		if (q.ri < from->r || q.ri > to->r || q.ctr < lo || q.ctr > hi) {
			sp->dropped++;
		} else {
			q.ri = sp->local[q.ri];
			sp->tmp[m++] = q;
		}
	}
	np = m;
	if ((r = put_piece(&sp->b, s, sp->incl, sp->rlo, sp->rhi, ninc, sp->tmp, np, &sp->db,
			   sp->last)) != 0)
		return r;
	return sp->cb(sp->b.data, sp->b.len, sp->ctx);
}

int crdt_orset_split(const struct crdt_orset *s, size_t max, crdt_piece_cb cb, void *ctx)
{
	struct splitter sp = { .s = s, .max = max, .cb = cb, .ctx = ctx };
	size_t fixed, vidx, k = 0, skipped = 0;
	struct cut from = { 0 };
	int r = CRDT_ENOMEM;

	crdt_buf_init(&sp.b, max);
	for (size_t i = 0; i < et_cap(&s->tab); i++) {
		const struct et_slot *e = &s->tab.s[i];
		struct dot t;
		const struct dot *d;
		if (et_used(e))
			sp.npairs += get_dots(s, e->pay, &t, &d);
	}
	sp.pairs = malloc((sp.npairs ? sp.npairs : 1) * sizeof(*sp.pairs));
	sp.tmp = malloc((sp.npairs ? sp.npairs : 1) * sizeof(*sp.tmp));
	sp.local = malloc((s->nreps ? s->nreps : 1) * sizeof(*sp.local));
	sp.incl = malloc((s->nreps ? s->nreps : 1) * sizeof(*sp.incl));
	sp.last = malloc((s->nreps ? s->nreps : 1) * sizeof(*sp.last));
	sp.rlo = malloc((s->nreps ? s->nreps : 1) * sizeof(*sp.rlo));
	sp.rhi = malloc((s->nreps ? s->nreps : 1) * sizeof(*sp.rhi));
	if (!sp.pairs || !sp.tmp || !sp.local || !sp.incl || !sp.last || !sp.rlo || !sp.rhi)
		goto out;
	for (size_t i = 0; i < et_cap(&s->tab); i++) {
		const struct et_slot *e = &s->tab.s[i];
		struct dot t;
		const struct dot *d;
		size_t n;
		if (!et_used(e))
			continue;
		n = get_dots(s, e->pay, &t, &d);
		for (size_t x = 0; x < n; x++)
			sp.pairs[k++] = (struct pair){ .ctr = d[x].ctr, .ri = d[x].ri, .e = e };
	}
	sort_walk(sp.pairs, sp.npairs);

	fixed = 2 + crdt_varint_len(s->nreps) + crdt_varint_len(sp.npairs);
	/* a dot's head 2 * index + 1 stays below 2 * nreps */
	vidx = crdt_varint_len(2 * (uint64_t)s->nreps);
	r = CRDT_EMSGSIZE;
	if (fixed > max)
		goto out;
	if (s->nreps == 0) {
		r = emit(&sp, &from, &(struct cut){ 0 });
		goto out;
	}
	from = (struct cut){ .r = 0, .c = s->reps[0].iv[0].lo, .p = 0 };
	size_t size = fixed, p = 0;
	for (uint32_t ri = 0; ri < s->nreps; ri++) {
		const struct rep *rp = &s->reps[ri];
		size_t repcost = CRDT_RID_LEN + crdt_varint_len(rp->n);
		size_t zmax = ctr_zz_max_len(rp->iv[rp->n - 1].hi);

		size += repcost;
		for (uint32_t j = 0; j < rp->n; j++) {
			uint64_t lo = rp->iv[j].lo;
			size_t fc = crdt_varint_len(lo) + crdt_varint_len(rp->iv[j].hi - lo);

			if (size + fc > max) {
				if ((r = emit(&sp, &from, &(struct cut){ ri, lo - 1, p })) != 0)
					goto out;
				from = (struct cut){ ri, lo, p };
				size = fixed + repcost;
				r = CRDT_EMSGSIZE;
				if (size + fc > max)
					goto out;
			}
			size += fc;
			for (; p < sp.npairs && sp.pairs[p].ri == ri && sp.pairs[p].ctr <= rp->iv[j].hi; p++) {
				const struct et_slot *e = sp.pairs[p].e;
				uint64_t c = sp.pairs[p].ctr;
				size_t pc = crdt_varint_len(et_len(e)) + et_len(e) + vidx + zmax;
				if (fixed + repcost + crdt_varint_len(c) +
					    crdt_varint_len(rp->iv[j].hi - c) + pc > max) {
					/* This pair fits no piece: cut around its
					 * dot, so that no piece's context covers
					 * it (one that did without the pair would
					 * remove the element at the receiver). */
					if ((from.r < ri || from.c < c) &&
					    (r = emit(&sp, &from, &(struct cut){ ri, c - 1, p })) != 0)
						goto out;
					skipped++;
					from = (struct cut){ ri, c + 1, p + 1 };
					size = fixed + repcost + crdt_varint_len(c + 1) +
					       crdt_varint_len(rp->iv[j].hi - c);
					continue;
				}
				if (size + pc > max) {
					if ((r = emit(&sp, &from, &(struct cut){ ri, c - 1, p })) != 0)
						goto out;
					from = (struct cut){ ri, c, p };
					size = fixed + repcost + crdt_varint_len(c) +
					       crdt_varint_len(rp->iv[j].hi - c);
					r = CRDT_EMSGSIZE;
					if (size + pc > max)
						goto out;
				}
				size += pc;
			}
		}
	}
	{
		const struct rep *last = &s->reps[s->nreps - 1];
		r = emit(&sp, &from,
			 &(struct cut){ s->nreps - 1, last->iv[last->n - 1].hi, sp.npairs });
		skipped += sp.dropped;
		if (r == 0)
			r = (int)(skipped > INT32_MAX ? INT32_MAX : skipped);
	}
out:
	crdt_buf_done(&sp.b);
	free(sp.pairs);
	free(sp.tmp);
	free(sp.local);
	free(sp.incl);
	free(sp.last);
	free(sp.rlo);
	free(sp.rhi);
	free(sp.db.d);
	free(sp.db.key);
	free(sp.db.tmp);
	free(sp.db.cnt);
	free(sp.db.pr);
	return r;
}

/* ---- one piece at a time, from a cursor ------------------------------
 *
 * The same cut as above, in (replica id, counter) order instead of arrival
 * order, so that a cursor, (rid, counter), names where the next piece
 * starts whatever the set became meanwhile.  Each piece walks the context's
 * intervals from the cursor and the live dots in each through the dot
 * index, so it costs its own size; its pairs are sorted into the encoding's
 * order only among themselves.
 */


struct cutter {
	struct crdt_orset *s;
	size_t max, fixed, vidx;
	/* the piece: its replicas in rid order, each covering [lo, hi] */
	uint32_t *inc;
	uint64_t *lo, *hi, *last;
	size_t ninc;
	struct pair *pairs;
	size_t np, cap;
	struct dotbuf db;
	struct crdt_buf b;
	/* the interval being walked: its replica, its end, the costs */
	uint32_t ri;
	uint64_t z;
	size_t size, repcost, zmax;
	uint64_t stop; /* where ix_range stopped */
};

#define CUT_FULL 1 /* the next pair starts the next piece */
#define CUT_SKIP 2 /* the next pair fits no piece */

static int cut_dot(uint64_t ctr, uint32_t h, void *ctx)
{
	struct cutter *c = ctx;
	const struct et_slot *e = slot_of_dot(c->s, h, c->ri, ctr);
	size_t pc;

	if (!e)
		return CRDT_EBADMSG; /* an index that disagrees with the table */
	pc = crdt_varint_len(et_len(e)) + et_len(e) + c->vidx + c->zmax;
	c->stop = ctr;
	/* what a piece starting at this dot would cost with it */
	if (c->fixed + c->repcost + crdt_varint_len(ctr) + crdt_varint_len(c->z - ctr) + pc > c->max)
		return CUT_SKIP;
	if (c->size + pc > c->max || c->np == c->cap)
		return CUT_FULL;
	c->size += pc;
	c->pairs[c->np++] = (struct pair){ .ctr = ctr, .ri = (uint32_t)(c->ninc - 1), .e = e };
	return 0;
}

/* First position in s->order whose rid is >= @rid. */
static uint32_t order_from(const struct crdt_orset *s, const struct crdt_rid *rid)
{
	uint32_t lo = 0, hi = s->nreps;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (memcmp(s->reps[s->order[mid]].rid.b, rid->b, CRDT_RID_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The id right after @rid; false past the last. */
static bool rid_succ(struct crdt_rid *rid)
{
	for (int i = CRDT_RID_LEN - 1; i >= 0; i--)
		if (++rid->b[i])
			return true;
	return false;
}

/* Cut the piece that starts at @cur, emit it if it covers anything, and
 * move @cur past it. */
static int cut_one(struct cutter *c, struct crdt_cursor *cur, crdt_piece_cb cb, void *ctx)
{
	struct crdt_orset *s = c->s;
	uint32_t k0 = order_from(s, &cur->rid);
	bool same = k0 < s->nreps && !memcmp(s->reps[s->order[k0]].rid.b, cur->rid.b, CRDT_RID_LEN);
	struct crdt_cursor next = *cur;
	int stop = 0, r;

	c->ninc = c->np = 0;
	c->size = c->fixed;
	for (uint32_t k = k0; k < s->nreps && !stop; k++) {
		const struct rep *rp = &s->reps[s->order[k]];
		uint64_t lo = same && k == k0 ? cur->ctr : 0;
		size_t j = iv_first(rp, lo);
		bool in = false;

		c->ri = s->order[k];
		c->repcost = CRDT_RID_LEN + crdt_varint_len(rp->n);
		c->zmax = ctr_zz_max_len(rp->iv[rp->n - 1].hi);
		for (; j < rp->n && !stop; j++) {
			uint64_t a = rp->iv[j].lo > lo ? rp->iv[j].lo : lo;
			size_t fc = crdt_varint_len(a) + crdt_varint_len(rp->iv[j].hi - a);

			if (c->size + fc + (in ? 0 : c->repcost) > c->max) {
				if (c->ninc == 0)
					return CRDT_EMSGSIZE; /* not even one interval */
				next.ctr = a;
				stop = CUT_FULL;
				break;
			}
			if (!in) {
				c->inc[c->ninc] = c->ri;
				c->lo[c->ninc] = lo;
				c->hi[c->ninc++] = UINT64_MAX;
				c->size += c->repcost;
				in = true;
			}
			c->size += fc;
			c->z = rp->iv[j].hi;
			if ((r = ix_range(s, c->ri, a, c->z, cut_dot, c)) < 0)
				return r;
			if (r > 0) {
				next.ctr = c->stop;
				stop = r;
			}
		}
		if (stop) {
			next.rid = rp->rid;
			if (in)
				c->hi[c->ninc - 1] = next.ctr - 1; /* next.ctr >= 1: counters are */
		}
	}
	/* A cut at the first counter of a replica's first interval leaves it
	 * nothing; only the last replica can be cut so. */
	if (c->ninc) {
		size_t first;
		uint32_t l = (uint32_t)c->ninc - 1;
		if (!clip(&s->reps[c->inc[l]], c->lo[l], c->hi[l], &first))
			c->ninc--;
	}
	if (c->ninc || (!stop && cur->pieces == 0)) { /* an empty set is one piece */
		/* the summary, before put_piece sorts the pairs by element:
		 * they come in walk order, one replica after another */
		uint64_t sum = 0, rh = 0;
		for (size_t i = 0; i < c->np; i++) {
			if (i == 0 || c->pairs[i].ri != c->pairs[i - 1].ri)
				rh = fp_rid(&s->reps[c->inc[c->pairs[i].ri]].rid);
			sum += piece_dot_hash(rh, c->pairs[i].ctr);
		}
		cur->has_sum = 1;
		cur->sum_dots = c->np;
		cur->sum_hash = sum;
		if ((r = put_piece(&c->b, s, c->inc, c->lo, c->hi, c->ninc, c->pairs, c->np, &c->db,
				   c->last)) != 0 ||
		    (r = cb(c->b.data, c->b.len, ctx)) != 0)
			return r;
		next.pieces++;
	}
	if (!stop) {
		next.done = 1;
	} else if (stop == CUT_SKIP) {
		/* Leave the pair's dot out of every piece: one whose context
		 * held it without the pair would remove it at the receiver. */
		next.skipped++;
		if (next.ctr == UINT64_MAX) {
			next.ctr = 0;
			next.done = !rid_succ(&next.rid);
		} else {
			next.ctr++;
		}
	}
	*cur = next;
	return 0;
}

int crdt_orset_pieces(struct crdt_orset *s, struct crdt_cursor *cur, size_t max, size_t n,
		      crdt_piece_cb cb, void *ctx)
{
	struct cutter c = { .s = s, .max = max };
	size_t nr = s->nreps ? s->nreps : 1, emitted = 0;
	int r = CRDT_ENOMEM;

	if (cur->done || n == 0)
		return 0;
	/* a set of few members with a large context (a delta of removals)
	 * is cut from the cursor too: its index costs its few dots */
	if (!s->ix_ok &&
	    (s->tab.count > PIECES_UNINDEXED || crdt_orset_context_len(s) > PIECES_UNINDEXED) &&
	    (r = ix_build_some(s)) == 0)
		return 1; /* a slice of the index: call again */
	if (!s->ix_ok) {
		/* A small set is not worth an index; a large one whose index
		 * could not be built (no memory, a dot held twice) goes so
		 * too.  The rest as the whole split: sound whatever went
		 * before, each piece below the state, with no summary. */
		cur->has_sum = 0;
		if ((r = crdt_orset_split(s, max, cb, ctx)) < 0)
			return r;
		cur->skipped += (uint64_t)r;
		cur->pieces++;
		cur->done = 1;
		return 0;
	}
	c.fixed = 2 + crdt_varint_len(s->nreps) + crdt_varint_len(max);
	c.vidx = crdt_varint_len(2 * (uint64_t)s->nreps);
	c.cap = max / 3 + 1; /* a pair costs at least 3 bytes */
	crdt_buf_init(&c.b, max);
	c.inc = malloc(nr * sizeof(*c.inc));
	c.lo = malloc(nr * sizeof(*c.lo));
	c.hi = malloc(nr * sizeof(*c.hi));
	c.last = malloc(nr * sizeof(*c.last));
	c.pairs = malloc(c.cap * sizeof(*c.pairs));
	if (!c.inc || !c.lo || !c.hi || !c.last || !c.pairs)
		goto out;
	r = CRDT_EMSGSIZE;
	if (c.fixed > max)
		goto out;
	r = 0;
	while (!cur->done && emitted < n && r == 0) {
		uint64_t before = cur->pieces;
		r = cut_one(&c, cur, cb, ctx);
		emitted += cur->pieces - before;
	}
out:
	crdt_buf_done(&c.b);
	free(c.inc);
	free(c.lo);
	free(c.hi);
	free(c.last);
	free(c.pairs);
	free(c.db.d);
	free(c.db.key);
	free(c.db.tmp);
	free(c.db.cnt);
	free(c.db.pr);
	return r;
}
