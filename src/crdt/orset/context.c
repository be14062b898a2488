/* The causal context: per replica a sorted list of counter intervals, the
 * replica table that numbers them, and the interval algebra merge uses. */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "internal.h"

uint32_t find_rep(const struct crdt_orset *s, const struct crdt_rid *rid)
{
	size_t lo = 0, hi = s->nreps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(s->reps[s->order[mid]].rid.b, rid->b, CRDT_RID_LEN);
		if (c == 0)
			return s->order[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NONE;
}

int reps_reserve(struct crdt_orset *s, size_t n)
{
	struct rep *r;
	uint32_t *o;
	size_t cap;

	if (n <= s->capreps)
		return 0;
	if (n > MAX_REPLICAS)
		return CRDT_EMSGSIZE;
	cap = s->capreps ? s->capreps : 4;
	while (cap < n)
		cap *= 2;
	r = realloc(s->reps, cap * sizeof(*r));
	if (!r)
		return CRDT_ENOMEM;
	memset(r + s->capreps, 0, (cap - s->capreps) * sizeof(*r));
	s->reps = r;
	o = realloc(s->order, cap * sizeof(*o));
	if (!o) {
		/* reps merely grew; nothing is lost, and the zeroed tail
		 * is zeroed again next time */
		return CRDT_ENOMEM;
	}
	s->order = o;
	s->capreps = (uint32_t)cap;
	return 0;
}

uint32_t rep_append(struct crdt_orset *s, const struct crdt_rid *rid, struct ivl *iv,
			   uint32_t n)
{
	uint32_t i = s->nreps++, k = i;

	/* The index part may already hold dots a merge gave this replica. */
	s->reps[i].rid = *rid;
	s->reps[i].iv = iv;
	s->reps[i].n = s->reps[i].cap = n;
	while (k > 0 && memcmp(s->reps[s->order[k - 1]].rid.b, rid->b, CRDT_RID_LEN) > 0) {
		s->order[k] = s->order[k - 1];
		k--;
	}
	s->order[k] = i;
	return i;
}

struct ivl *ivs_dup(const struct ivl *v, uint32_t n)
{
	struct ivl *d = malloc(((size_t)n ? n : 1) * sizeof(*d));

	if (d && n)
		memcpy(d, v, (size_t)n * sizeof(*d));
	return d;
}

uint32_t ivs_from(const struct ivl *a, uint32_t n, uint64_t lo)
{
	uint32_t l = 0, h = n;

	while (l < h) {
		uint32_t mid = l + (h - l) / 2;
		if (a[mid].hi < lo - 1)
			l = mid + 1;
		else
			h = mid;
	}
	return l;
}

bool ctx_within(const struct crdt_orset *a, const struct crdt_orset *b)
{
	for (uint32_t i = 0; i < a->nreps; i++) {
		const struct rep *p = &a->reps[i];
		uint32_t j;
		if (p->n == 0)
			continue;
		if ((j = find_rep(b, &p->rid)) == NONE)
			return false;
		for (uint32_t k = 0; k < p->n; k++)
			if (!ivs_cover(b->reps[j].iv, b->reps[j].n, p->iv[k].lo, p->iv[k].hi))
				return false;
	}
	return true;
}

int ivs_reserve(struct rep *a, uint32_t extra)
{
	size_t need = (size_t)a->n + extra, cap = a->cap ? a->cap : 4;
	struct ivl *iv;

	if (need <= a->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > UINT32_MAX || !(iv = realloc(a->iv, cap * sizeof(*iv))))
		return CRDT_ENOMEM;
	a->iv = iv;
	a->cap = (uint32_t)cap;
	return 0;
}

int crdt_orset_context_vv(const struct crdt_orset *s, struct crdt_vv *ret)
{
	struct crdt_vv vv;

	crdt_vv_init(&vv);
	for (uint32_t k = 0; k < s->nreps; k++) {
		const struct rep *p = &s->reps[s->order[k]];
		int r;
		if (p->iv[0].lo != 1)
			continue;
		r = crdt_vv_raise(&vv, &p->rid, p->iv[0].hi);
		if (r < 0) {
			crdt_vv_done(&vv);
			return r;
		}
	}
	*ret = vv;
	return 0;
}

uint64_t crdt_orset_context_max(const struct crdt_orset *s, const struct crdt_rid *rid)
{
	uint32_t ri = find_rep(s, rid);

	return ri == NONE ? 0 : s->reps[ri].iv[s->reps[ri].n - 1].hi;
}

size_t crdt_orset_context_len(const struct crdt_orset *s)
{
	size_t n = 0;

	for (uint32_t i = 0; i < s->nreps; i++)
		n += s->reps[i].n;
	return n;
}

bool crdt_orset_knows_more_of(const struct crdt_orset *remote, const struct crdt_orset *local,
			      const struct crdt_rid *rid)
{
	return crdt_orset_context_max(remote, rid) > (local ? crdt_orset_context_max(local, rid) : 0);
}
