/* The OR-Set's delta mutators (Almeida, Shoker, Baquero 2018): an add or a
 * remove that also joins what it changed, as a small state, into a delta
 * that any replica merges with the ordinary merge. */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
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
	if (!(iv = malloc(((size_t)d->reps[ri].n + 1) * sizeof(*iv))))
		return CRDT_ENOMEM;
	d->reps[ri].n = d->reps[ri].cap = ivs_union(d->reps[ri].iv, d->reps[ri].n, &one, 1, iv);
	free(d->reps[ri].iv);
	d->reps[ri].iv = iv;
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
