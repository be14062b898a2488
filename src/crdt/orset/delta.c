/* The OR-Set's delta mutators (Almeida, Shoker, Baquero 2018): an add or a
 * remove that also joins what it changed, as a small state, into a delta
 * that any replica merges with the ordinary merge. */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "../fp.h"
#include "internal.h"

struct rdot {
	struct crdt_rid rid;
	uint64_t ctr;
};

/* Dot (@rid, @ctr) into @d's causal context; its replica's index there in
 * *ret_ri. */
static int ctx_put(struct crdt_orset *d, const struct crdt_rid *rid, uint64_t ctr, uint32_t *ret_ri)
{
	struct ivl one = { ctr, ctr }, *iv;
	uint32_t ri = find_rep(d, rid);
	int r;

	if (ri == NONE) {
		if ((r = reps_reserve(d, (size_t)d->nreps + 1)) < 0)
			return r;
		if (!(iv = malloc(sizeof(*iv))))
			return CRDT_ENOMEM;
		*iv = one;
		*ret_ri = rep_append(d, rid, iv, 1);
		return 0;
	}
	if ((r = ivs_reserve(&d->reps[ri], 1)) < 0)
		return r;
	ivs_put(d->reps[ri].iv, &d->reps[ri].n, ctr, ctr);
	*ret_ri = ri;
	return 0;
}

/* The small state (element @e under dot (@self, @ctr) if @self, none
 * otherwise; a context of exactly that dot and @old) joined into @delta,
 * in place.  The join's rule, for this small state: @e's dots in @delta lose
 * those of @old (the small state's context covers them, it lacks them) and
 * gain the new one (no context of @delta holds a dot not yet minted); the
 * context gains @old and the new dot; no other element changes, since a dot
 * names one element.  On failure @delta is left part-joined: the callers
 * then drop it (the write goes whole). */
static int join_small(struct crdt_orset *delta, const void *e, size_t len,
		      const struct crdt_rid *self, uint64_t ctr, const struct rdot *old, size_t nold)
{
	struct crdt_orset *d = delta;
	uint32_t ri = 0, h = et_hash(e, len);
	struct et_slot *slot;
	struct dot stack[8], *nd = stack, tmp;
	const struct dot *cur;
	size_t n = 0, ncur;
	int r = 0;

	d->fp_ok = false; /* computed again if it is ever asked for */
	for (size_t i = 0; i < nold; i++)
		if ((r = ctx_put(d, &old[i].rid, old[i].ctr, &ri)) < 0)
			return r;
	if (self && (r = ctx_put(d, self, ctr, &ri)) < 0)
		return r;

	slot = et_find(&d->tab, e, len, h);
	ncur = slot ? get_dots(d, slot->pay, &tmp, &cur) : 0;
	if (ncur + 1 > sizeof(stack) / sizeof(stack[0]) && !(nd = malloc((ncur + 1) * sizeof(*nd))))
		return CRDT_ENOMEM;
	for (size_t k = 0; k < ncur; k++) {
		bool gone = false;
		for (size_t i = 0; i < nold && !gone; i++)
			gone = cur[k].ctr == old[i].ctr &&
			       crdt_rid_cmp(&d->reps[cur[k].ri].rid, &old[i].rid) == 0;
		if (!gone)
			nd[n++] = cur[k];
	}
	if (self)
		nd[n++] = (struct dot){ .ri = ri, .ctr = ctr };
	sort_dots(nd, n);

	if (n == 0) {
		if (slot) {
			ix_del_dots(d, slot);
			release_dots(d, slot);
			et_remove(&d->tab, slot);
		}
		goto out;
	}
	if (!slot) {
		uint8_t *owned = et_key_dup(e, len, &r);
		if (r < 0 || (r = et_reserve(&d->tab, (size_t)d->tab.count + 1)) < 0) {
			free(owned);
			goto out;
		}
		slot = et_insert(&d->tab, e, len, h, owned);
	} else {
		ix_del_dots(d, slot);
	}
	if ((n > 1 || !dot_inlinable(nd[0].ri, nd[0].ctr)) && (r = pool_reserve(d, n)) < 0) {
		/* the slot keeps its old dots: re-index them, then fail */
		ncur = get_dots(d, slot->pay, &tmp, &cur);
		for (size_t k = 0; k < ncur; k++)
			ix_add(d, cur[k].ri, cur[k].ctr, h);
		goto out;
	}
	set_dots(d, slot, nd, n);
	for (size_t k = 0; k < n; k++)
		ix_add(d, nd[k].ri, nd[k].ctr, h);
out:
	pool_compact(d);
	if (nd != stack)
		free(nd);
	return r;
}

/* The dots @e has in @s, by replica id, into a new array. */
static int old_dots(const struct crdt_orset *s, const void *e, size_t len, struct rdot **ret,
		    size_t *ret_n)
{
	const struct et_slot *slot = len <= ET_MAX_LEN ? et_find(&s->tab, e, len, et_hash(e, len))
						       : NULL;
	const struct dot *d;
	struct dot tmp;
	size_t n;

	*ret = NULL;
	*ret_n = 0;
	if (!slot || !(n = get_dots(s, slot->pay, &tmp, &d)))
		return 0;
	if (!(*ret = malloc(n * sizeof(**ret))))
		return CRDT_ENOMEM;
	for (size_t i = 0; i < n; i++)
		(*ret)[i] = (struct rdot){ s->reps[d[i].ri].rid, d[i].ctr };
	*ret_n = n;
	return 0;
}

int crdt_orset_add_delta(struct crdt_orset *s, const struct crdt_rid *self, const void *e,
			 size_t len, struct crdt_orset *delta)
{
	struct rdot *old;
	size_t n;
	int r;

	if ((r = old_dots(s, e, len, &old, &n)) < 0)
		return r;
	if ((r = crdt_orset_add(s, self, e, len)) < 0) {
		free(old);
		return r;
	}
	r = join_small(delta, e, len, self, crdt_orset_context_max(s, self), old, n);
	free(old);
	return r < 0 ? 1 : 0;
}

int crdt_orset_add_at(struct crdt_orset *s, const struct crdt_rid *rid, uint64_t ctr,
		      const void *e, size_t len)
{
	uint32_t ri = find_rep(s, rid);
	struct crdt_orset *d;
	struct rdot *old;
	size_t n;
	int r;

	if (ctr == 0)
		return CRDT_EINVAL;
	if (len > ET_MAX_LEN)
		return CRDT_EMSGSIZE;
	if (ri != NONE && ctx_has(s, ri, ctr))
		return 0; /* seen: the add, or what came after it */
	/* the dot the add would take now (a replay in order, the usual
	 * case): the add itself, which replaces the element's dots the same
	 * way, without the small state and its merge (3 times the CPU a
	 * replayed add at 1,000,000) */
	if (ctr == (ri == NONE ? 1 : s->reps[ri].iv[s->reps[ri].n - 1].hi + 1))
		return crdt_orset_add(s, rid, e, len);
	if ((r = old_dots(s, e, len, &old, &n)) < 0)
		return r;
	if (!(d = crdt_orset_new())) {
		free(old);
		return CRDT_ENOMEM;
	}
	if ((r = join_small(d, e, len, rid, ctr, old, n)) == 0)
		r = crdt_orset_merge(s, d);
	crdt_orset_free(d);
	free(old);
	return r < 0 ? r : 0;
}

int crdt_orset_remove_delta(struct crdt_orset *s, const void *e, size_t len,
			    struct crdt_orset *delta)
{
	struct rdot *old;
	size_t n;
	int r;

	if ((r = old_dots(s, e, len, &old, &n)) < 0)
		return r;
	if (!crdt_orset_remove(s, e, len)) {
		free(old);
		return 0;
	}
	r = join_small(delta, e, len, NULL, 0, old, n);
	free(old);
	return r < 0 ? 2 : 1;
}

/* ---- a small state joined into any set ----------------------------------- */

/* What merge_few handles: a delta of one command or one push (a few
 * elements, a few dots of context); anything larger takes merge.c. */
#define FEW_ELEMS 4
#define FEW_DOTS 64

struct few_dot {
	uint64_t ctr;
	uint32_t ri, h; /* ri: dst's numbering */
};

struct few {
	const struct crdt_orset *src;
	struct few_dot drops[FEW_DOTS];
	size_t ndrops;
	uint32_t x;   /* the src replica being walked */
	uint32_t ri;  /* its number in dst */
	const struct crdt_orset *dst;
	size_t pool;  /* pool room the drops need */
};

/* A dst dot under src's context: it goes unless src holds it too, on the
 * same element. */
static int few_cb(uint64_t ctr, uint32_t h, void *ctx)
{
	struct few *f = ctx;
	const struct et_slot *e = slot_of_dot(f->dst, h, f->ri, ctr), *se;
	const struct dot *sd;
	struct dot tmp;
	uint32_t k;

	if (!e)
		return CRDT_EBADMSG; /* the index disagrees with the table */
	if ((k = et_find_slot(&f->src->tab, e)) != NONE) {
		se = &f->src->tab.s[k];
		size_t sn = get_dots(f->src, se->pay, &tmp, &sd);
		if (dots_have(sd, sn, f->x, ctr))
			return 0;
	}
	f->drops[f->ndrops++] = (struct few_dot){ .ctr = ctr, .ri = f->ri, .h = h };
	f->pool += get_dots(f->dst, e->pay, &tmp, &sd); /* its dots, written again */
	return 0;
}

/* @e's dots with (@ri, @ctr) taken out (@out: room for its dots). */
static size_t dots_without(const struct crdt_orset *s, const struct et_slot *e, uint32_t ri,
			   uint64_t ctr, struct dot *out)
{
	const struct dot *d;
	struct dot tmp;
	size_t n = get_dots(s, e->pay, &tmp, &d), m = 0;

	for (size_t k = 0; k < n; k++)
		if (d[k].ri != ri || d[k].ctr != ctr)
			out[m++] = d[k];
	return m;
}

int orset_merge_few(struct crdt_orset *dst, const struct crdt_orset *src)
{
	uint32_t map[FEW_DOTS], nnew = 0, nold = dst->nreps;
	struct ivl *ctx[FEW_DOTS] = { 0 };
	uint8_t *owned[FEW_ELEMS] = { 0 };
	struct few f = { .src = src, .dst = dst };
	uint64_t ndots = 0, fpd = dst->fp_dots;
	size_t pool_need = 0, adds = 0;
	int r = 1;

	if (src->tab.count > FEW_ELEMS || src->nreps > FEW_DOTS)
		return 1;
	for (uint32_t x = 0; x < src->nreps; x++)
		for (uint32_t y = 0; y < src->reps[x].n; y++) {
			ndots += src->reps[x].iv[y].hi - src->reps[x].iv[y].lo + 1;
			if (ndots > FEW_DOTS || ndots == 0)
				return 1;
		}
	if (ix_build(dst) < 0)
		return 1; /* merge.c decides */

	/* Nothing in the set changes until the commit below; first what it
	 * needs, and what goes. */
	for (uint32_t x = 0; x < src->nreps; x++) {
		map[x] = find_rep(dst, &src->reps[x].rid);
		if (map[x] == NONE)
			map[x] = dst->nreps + nnew++;
	}
	if (nnew && (r = reps_reserve(dst, (size_t)dst->nreps + nnew)) < 0)
		return r;
	for (uint32_t x = 0; x < src->nreps; x++) {
		const struct rep *b = &src->reps[x];
		if (map[x] >= nold) { /* a new replica: its list is src's */
			if (!(ctx[x] = malloc((size_t)b->n * sizeof(struct ivl)))) {
				r = CRDT_ENOMEM;
				goto out;
			}
			continue;
		}
		if ((r = ivs_reserve(&dst->reps[map[x]], b->n)) < 0)
			goto out;
		f.x = x;
		f.ri = map[x];
		for (uint32_t y = 0; y < b->n; y++)
			if ((r = ix_range(dst, map[x], b->iv[y].lo, b->iv[y].hi, few_cb, &f)) != 0) {
				r = r == CRDT_EBADMSG ? 1 : r;
				goto out;
			}
	}
	for (size_t i = 0, k = 0; i < et_cap(&src->tab); i++) {
		const struct et_slot *se = &src->tab.s[i];
		const struct et_slot *de;
		const struct dot *sd, *dd;
		struct dot tmp;
		size_t sn, dn = 0;
		if (!et_used(se))
			continue;
		/* room for the element's dots after the join, written anew */
		sn = get_dots(src, se->pay, &tmp, &sd);
		de = et_find(&dst->tab, et_key(se), et_len(se), se->hash);
		if (de)
			dn = get_dots(dst, de->pay, &tmp, &dd);
		/* a key for each: a drop below may empty an element first */
		owned[k++] = et_key_dup(et_key(se), et_len(se), &r);
		if (r < 0)
			goto out;
		adds++;
		pool_need += dn + sn;
	}
	if ((r = et_reserve(&dst->tab, (size_t)dst->tab.count + adds)) < 0 ||
	    (r = pool_reserve(dst, pool_need + f.pool)) < 0)
		goto out;

	/* The commit: nothing below fails. */
	for (uint32_t x = 0; x < src->nreps; x++) {
		const struct rep *b = &src->reps[x];
		if (map[x] >= nold) { /* in map's order: rep_append gives map[x] */
			memcpy(ctx[x], b->iv, (size_t)b->n * sizeof(*b->iv));
			rep_append(dst, &b->rid, ctx[x], b->n);
			ctx[x] = NULL;
		}
	}
	for (size_t i = 0; i < f.ndrops; i++) {
		const struct few_dot *q = &f.drops[i];
		struct et_slot *e = slot_of_dot(dst, q->h, q->ri, q->ctr);
		struct dot *o = dst->pool + dst->plen;
		size_t n;
		if (!e)
			continue; /* cannot happen: few_cb found it */
		if (dst->fp_ok)
			fpd -= fp_elem_dot(fp_elem(et_key(e), et_len(e)),
					   fp_rid(&dst->reps[q->ri].rid), q->ctr);
		ix_del(dst, q->ri, q->ctr);
		if ((n = dots_without(dst, e, q->ri, q->ctr, o)) == 0) {
			release_dots(dst, e);
			et_remove(&dst->tab, e);
		} else {
			set_dots(dst, e, o, n);
		}
	}
	for (size_t i = 0, k = 0; i < et_cap(&src->tab); i++) {
		const struct et_slot *se = &src->tab.s[i];
		struct et_slot *de;
		const struct dot *sd, *dd;
		struct dot tmp, tmp2, *o = dst->pool + dst->plen;
		size_t sn, dn = 0, n;
		uint64_t eh = 0;
		if (!et_used(se))
			continue;
		sn = get_dots(src, se->pay, &tmp, &sd);
		de = et_find(&dst->tab, et_key(se), et_len(se), se->hash);
		if (!de) {
			de = et_insert(&dst->tab, et_key(se), et_len(se), se->hash, owned[k]);
			owned[k] = NULL;
		}
		k++;
		dn = get_dots(dst, de->pay, &tmp2, &dd);
		memcpy(o, dd, dn * sizeof(*o));
		n = dn;
		for (size_t y = 0; y < sn; y++) {
			uint32_t ri = map[sd[y].ri];
			/* seen by dst (its context is still the old one for the
			 * replicas it had): kept above if dst holds it, else
			 * dst removed it */
			if (ri < nold && ctx_has(dst, ri, sd[y].ctr))
				continue;
			o[n++] = (struct dot){ .ri = ri, .ctr = sd[y].ctr };
			ix_add(dst, ri, sd[y].ctr, se->hash);
			if (dst->fp_ok) {
				if (!eh)
					eh = fp_elem(et_key(se), et_len(se));
				fpd += fp_elem_dot(eh, fp_rid(&dst->reps[ri].rid), sd[y].ctr);
			}
		}
		if (n == dn && dn)
			continue;
		sort_dots(o, n);
		if (n == 0) { /* a new element whose every dot dst had seen */
			release_dots(dst, de);
			et_remove(&dst->tab, de);
			continue;
		}
		set_dots(dst, de, o, n);
	}
	for (uint32_t x = 0; x < src->nreps; x++)
		for (uint32_t y = 0; map[x] < nold && y < src->reps[x].n; y++)
			ivs_put(dst->reps[map[x]].iv, &dst->reps[map[x]].n, src->reps[x].iv[y].lo,
				src->reps[x].iv[y].hi);
	pool_compact(dst);
	dst->fp_dots = fpd;
	r = 0;
out:
	for (uint32_t x = 0; x < src->nreps && x < FEW_DOTS; x++)
		free(ctx[x]);
	for (size_t k = 0; k < FEW_ELEMS; k++)
		free(owned[k]); /* the keys of elements dst had */
	return r;
}

