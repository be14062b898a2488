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
	struct dot *dots; /* one element's dots */
	size_t cap;
	struct crdt_buf b;
};

static int pair_walk_cmp(const void *x, const void *y)
{
	const struct pair *a = x, *b = y;
	return dot_cmp(a->ri, a->ctr, b->ri, b->ctr);
}

static int pair_elem_cmp(const void *x, const void *y)
{
	const struct pair *a = x, *b = y;
	int c = et_keycmp(et_key(a->e), et_len(a->e), et_key(b->e), et_len(b->e));
	return c ? c : dot_cmp(a->ri, a->ctr, b->ri, b->ctr);
}


/* Intervals of replica @r clipped to [lo, hi]; first index and count. */
static size_t clip(const struct rep *p, uint64_t lo, uint64_t hi, size_t *ret_first)
{
	size_t a = 0, b = p->n, i;

	while (a < b) { /* first interval with hi >= lo */
		size_t mid = a + (b - a) / 2;
		if (p->iv[mid].hi < lo)
			a = mid + 1;
		else
			b = mid;
	}
	*ret_first = a;
	for (i = a; i < p->n && p->iv[i].lo <= hi && lo <= hi; i++)
		;
	return i - a;
}

static int emit(struct splitter *sp, const struct cut *from, const struct cut *to)
{
	const struct crdt_orset *s = sp->s;
	struct crdt_buf *b = &sp->b;
	size_t ninc = 0, np = to->p - from->p, nelem = 0;

	for (uint32_t r = from->r; r <= to->r && r < s->nreps; r++) {
		uint64_t lo = r == from->r ? from->c : 0, hi = r == to->r ? to->c : UINT64_MAX;
		size_t first;
		if (clip(&s->reps[r], lo, hi, &first))
			sp->incl[ninc++] = r;
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
	for (size_t k = 0; k < ninc; k++)
		sp->local[sp->incl[k]] = (uint32_t)k;

	crdt_buf_reset(b);
	crdt_codec_put_header(b, CRDT_ORSET);
	crdt_buf_put_varint(b, ninc);
	for (size_t k = 0; k < ninc; k++)
		crdt_buf_put(b, s->reps[sp->incl[k]].rid.b, CRDT_RID_LEN);
	for (size_t k = 0; k < ninc; k++) {
		uint32_t r = sp->incl[k];
		const struct rep *p = &s->reps[r];
		uint64_t lo = r == from->r ? from->c : 0, hi = r == to->r ? to->c : UINT64_MAX;
		uint64_t prev = 0;
		size_t first, n = clip(p, lo, hi, &first);

		crdt_buf_put_varint(b, n);
		for (size_t i = first; i < first + n; i++) {
			uint64_t a = p->iv[i].lo > lo ? p->iv[i].lo : lo;
			uint64_t z = p->iv[i].hi < hi ? p->iv[i].hi : hi;
			crdt_buf_put_varint(b, a - prev - 1);
			crdt_buf_put_varint(b, z - a);
			prev = z;
		}
	}
	for (size_t i = 0; i < np; i++) {
		sp->tmp[i] = sp->pairs[from->p + i];
		sp->tmp[i].ri = sp->local[sp->tmp[i].ri];
	}
	qsort(sp->tmp, np, sizeof(*sp->tmp), pair_elem_cmp);
	for (size_t i = 0; i < np; i++)
		nelem += i == 0 || sp->tmp[i].e != sp->tmp[i - 1].e;
	crdt_buf_put_varint(b, nelem);
	for (size_t k = 0; k < ninc; k++)
		sp->last[k] = 0;
	for (size_t i = 0, j; i < np; i = j) {
		const struct et_slot *e = sp->tmp[i].e;
		size_t nd;
		for (j = i; j < np && sp->tmp[j].e == e; j++)
			;
		/* put_elem() wants the element's dots as an array. */
		nd = j - i;
		if (nd > sp->cap) {
			struct dot *p = realloc(sp->dots, nd * sizeof(*p));
			if (!p)
				return CRDT_ENOMEM;
			sp->dots = p;
			sp->cap = nd;
		}
		for (size_t x = 0; x < nd; x++)
			sp->dots[x] = (struct dot){ .ri = sp->tmp[i + x].ri, .ctr = sp->tmp[i + x].ctr };
		put_elem(b, et_key(e), et_len(e), sp->dots, nd, sp->last);
	}
	if (b->err)
		return b->err;
	return sp->cb(b->data, b->len, sp->ctx);
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
	if (!sp.pairs || !sp.tmp || !sp.local || !sp.incl || !sp.last)
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
	qsort(sp.pairs, sp.npairs, sizeof(*sp.pairs), pair_walk_cmp);

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
	free(sp.dots);
	return r;
}
