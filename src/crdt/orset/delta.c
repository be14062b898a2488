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
 * otherwise; a context of exactly that dot and @old) joined into @delta. */
static int join_small(struct crdt_orset *delta, const void *e, size_t len,
		      const struct crdt_rid *self, uint64_t ctr, const struct rdot *old, size_t nold)
{
	struct crdt_orset *d = crdt_orset_new();
	uint32_t ri = 0, h;
	struct et_slot *slot;
	uint8_t *owned;
	int r = CRDT_ENOMEM;

	if (!d)
		return r;
	for (size_t i = 0; i < nold; i++)
		if ((r = ctx_put(d, &old[i].rid, old[i].ctr, &ri)) < 0)
			goto out;
	if (self) {
		if ((r = ctx_put(d, self, ctr, &ri)) < 0)
			goto out;
		h = et_hash(e, len);
		owned = et_key_dup(e, len, &r);
		if (r < 0 || (r = et_reserve(&d->tab, 1)) < 0 ||
		    (!dot_inlinable(ri, ctr) && (r = pool_reserve(d, 1)) < 0)) {
			free(owned);
			goto out;
		}
		slot = et_insert(&d->tab, e, len, h, owned);
		set_dots(d, slot, &(struct dot){ .ri = ri, .ctr = ctr }, 1);
		ix_add(d, ri, ctr, h);
	}
	r = crdt_orset_merge(delta, d);
out:
	crdt_orset_free(d);
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
