/* The OR-Set's lifecycle, local operations (add, remove) and queries. */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "../fp.h"
#include "internal.h"

struct crdt_orset *crdt_orset_new(void)
{
	struct crdt_orset *s = calloc(1, sizeof(*s));
	if (s) {
		et_init(&s->tab);
		s->ix_ok = false; /* built by the first small merge, or past 1,024 adds */
	}
	return s;
}

void crdt_orset_free(struct crdt_orset *s)
{
	if (!s)
		return;
	et_done(&s->tab);
	ix_drop(s);
	for (uint32_t i = 0; i < s->nreps; i++)
		free(s->reps[i].iv);
	free(s->reps);
	free(s->order);
	pool_free(s);
	free(s);
}

/* The fingerprint parts of element @e's dots (crdt_orset_fingerprint). */
static uint64_t dots_part(const struct crdt_orset *s, const struct et_slot *e)
{
	uint64_t eh = fp_elem(et_key(e), et_len(e)), sum = 0;
	const struct dot *d;
	struct dot tmp;
	size_t n = get_dots(s, e->pay, &tmp, &d);

	for (size_t k = 0; k < n; k++)
		sum += fp_elem_dot(eh, fp_rid(&s->reps[d[k].ri].rid), d[k].ctr);
	return sum;
}

int crdt_orset_add(struct crdt_orset *s, const struct crdt_rid *self, const void *e, size_t len)
{
	uint32_t ri = find_rep(s, self), h;
	uint64_t ctr = 1;
	struct et_slot *slot;
	struct ivl *niv = NULL;
	uint8_t *owned = NULL;
	int r;

	if (len > ET_MAX_LEN)
		return CRDT_EMSGSIZE;
	if (ri != NONE) {
		ctr = s->reps[ri].iv[s->reps[ri].n - 1].hi;
		if (ctr == UINT64_MAX)
			return CRDT_EOVERFLOW;
		ctr++;
	} else {
		r = reps_reserve(s, (size_t)s->nreps + 1);
		if (r < 0)
			return r;
		niv = malloc(sizeof(*niv));
		if (!niv)
			return CRDT_ENOMEM;
	}
	h = et_hash(e, len);
	slot = et_find(&s->tab, e, len, h);
	if (!slot) {
		owned = et_key_dup(e, len, &r);
		if (r < 0 || (r = et_reserve(&s->tab, (size_t)s->tab.count + 1)) < 0)
			goto fail;
	}
	if (!dot_inlinable(ri == NONE ? s->nreps : ri, ctr) && (r = pool_reserve(s, 1)) < 0)
		goto fail;

	/* Nothing fails from here on. */
	if (ri == NONE) {
		*niv = (struct ivl){ 1, 1 };
		ri = rep_append(s, self, niv, 1);
	} else {
		/* The new counter is adjacent to the last interval. */
		s->reps[ri].iv[s->reps[ri].n - 1].hi = ctr;
	}
	if (!slot) {
		slot = et_insert(&s->tab, e, len, h, owned);
	} else {
		if (s->fp_ok)
			s->fp_dots -= dots_part(s, slot);
		ix_del_dots(s, slot);
	}
	set_dots(s, slot, &(struct dot){ .ri = ri, .ctr = ctr }, 1);
	if (s->fp_ok)
		s->fp_dots += dots_part(s, slot);
	ix_add(s, ri, ctr, h);
	/* A set that local adds grow past what is cut without an index gets
	 * one now (about 1,000 dots: microseconds) and keeps it up add by
	 * add, at the end of a leaf: its first catch-up then does not build
	 * it in hash order, which cost a third of that catch-up's sender. */
	if (s->tab.count == PIECES_UNINDEXED + 1 && !s->ix_ok && !s->ix_part)
		(void)ix_build(s); /* else unbuilt, as before */
	pool_compact(s);
	return 0;
fail:
	free(owned);
	free(niv);
	return r;
}

int crdt_orset_remove(struct crdt_orset *s, const void *e, size_t len)
{
	struct et_slot *slot;

	if (len > ET_MAX_LEN)
		return 0;
	slot = et_find(&s->tab, e, len, et_hash(e, len));
	if (!slot)
		return 0;
	if (s->fp_ok)
		s->fp_dots -= dots_part(s, slot);
	ix_del_dots(s, slot);
	release_dots(s, slot);
	et_remove(&s->tab, slot);
	pool_compact(s);
	return 1;
}

/* Move @s's elements (table and dot pool) into @h, a set with no replica
 * of its own and no index (a husk, only ever freed); @s keeps its context,
 * with no element and an empty index. */
static void take_elements(struct crdt_orset *s, struct crdt_orset *h)
{
	h->tab = s->tab;
	h->pool = s->pool;
	h->plen = s->plen;
	h->pcap = s->pcap;
	h->pfree = s->pfree;
	h->pmapped = s->pmapped;
	et_init(&s->tab);
	s->pool = NULL;
	s->plen = s->pcap = s->pfree = 0;
	s->pmapped = false;
	ix_drop(s);
	s->ix_ok = true; /* empty, as the table */
	s->fp_dots = 0;  /* no element, no dot */
	s->fp_ok = true;
	h->ix_ok = false;
	h->fp_ok = false;
}

int crdt_orset_clear(struct crdt_orset *s)
{
	struct crdt_orset h = { .tab = { 0 } };

	if (s->tab.count == 0)
		return 0;
	/* the table, the dots and the index go; the context stays */
	take_elements(s, &h);
	et_done(&h.tab);
	pool_free(&h);
	return 1;
}

int crdt_orset_clear_detach(struct crdt_orset *s, struct crdt_orset **ret_husk)
{
	struct crdt_orset *h;

	*ret_husk = NULL;
	if (s->tab.count == 0 || !(h = crdt_orset_new()))
		return crdt_orset_clear(s);
	et_done(&h->tab); /* a new set's own empty table */
	take_elements(s, h);
	*ret_husk = h;
	return 1;
}

/* ---- what a delete's merge removes (crdt_orset_detach_removed) ---- */

/* The elements a merge of a state with no element keeps: those with a dot
 * outside its context, gathered up to a bound. */
struct kept {
	const struct crdt_orset *s;
	uint32_t ri;
	const struct et_slot **v;
	size_t n, max;
};

static int kept_add(struct kept *k, const struct et_slot *e)
{
	if (k->n == k->max)
		return 1; /* more than the bound: the ordinary merge it is */
	k->v[k->n++] = e;
	return 0;
}

static int kept_dot(uint64_t ctr, uint32_t h, void *ctx)
{
	struct kept *k = ctx;
	const struct et_slot *e = slot_of_dot(k->s, h, k->ri, ctr);

	return e ? kept_add(k, e) : 0;
}

static int slot_ptr_cmp(const void *x, const void *y)
{
	const struct et_slot *a = *(const struct et_slot *const *)x;
	const struct et_slot *b = *(const struct et_slot *const *)y;

	return a < b ? -1 : a > b;
}

/* Gather into @k the elements of @s with a dot outside @remote's context:
 * from the dot index, the dots in the gaps between @remote's intervals of
 * each replica (no element visited but those), else a pass over every
 * element.  1 when more than k->max, 0, or -ENOMEM. */
static int gather_kept(const struct crdt_orset *s, const struct crdt_orset *remote,
		       struct kept *k)
{
	int r = 0;

	if (s->ix_ok && !s->ix_part) {
		for (uint32_t ri = 0; ri < s->nreps && !r; ri++) {
			uint32_t rr = find_rep(remote, &s->reps[ri].rid);
			const struct ivl *iv = rr == NONE ? NULL : remote->reps[rr].iv;
			uint32_t n = rr == NONE ? 0 : remote->reps[rr].n;
			uint64_t from = 1; /* the first counter not yet looked at */

			k->ri = ri;
			for (uint32_t i = 0; i <= n && !r; i++) {
				uint64_t to = i < n ? iv[i].lo - 1 : UINT64_MAX;
				if (from <= to)
					r = ix_range(s, ri, from, to, kept_dot, k);
				if (i == n || iv[i].hi == UINT64_MAX)
					break;
				from = iv[i].hi + 1;
			}
		}
		return r;
	}
	uint32_t *map = malloc((s->nreps ? s->nreps : 1) * sizeof(*map));
	if (!map)
		return CRDT_ENOMEM;
	for (uint32_t ri = 0; ri < s->nreps; ri++)
		map[ri] = find_rep(remote, &s->reps[ri].rid);
	for (size_t i = 0; i < et_cap(&s->tab) && !r; i++) {
		const struct et_slot *e = &s->tab.s[i];
		const struct dot *d;
		struct dot tmp;
		size_t nd;

		if (!et_used(e))
			continue;
		nd = get_dots(s, e->pay, &tmp, &d);
		for (size_t j = 0; j < nd; j++)
			if (map[d[j].ri] == NONE || !ctx_has(remote, map[d[j].ri], d[j].ctr)) {
				r = kept_add(k, e);
				break;
			}
	}
	free(map);
	return r;
}

/* A table and pool holding copies of @k's elements with their dots. */
static int copy_kept(const struct crdt_orset *s, const struct kept *k, struct crdt_orset *keep)
{
	size_t spilled = 0;
	int r;

	for (size_t i = 0; i < k->n; i++)
		if (pay_spilled(k->v[i]->pay))
			spilled += (size_t)(k->v[i]->pay >> 32) & 0x7fffffff;
	if ((r = et_reserve(&keep->tab, k->n)) < 0 || (spilled && (r = pool_reserve(keep, spilled)) < 0))
		return r;
	for (size_t i = 0; i < k->n; i++) {
		const struct et_slot *e = k->v[i];
		const struct dot *d;
		struct dot tmp;
		size_t nd = get_dots(s, e->pay, &tmp, &d);
		uint8_t *owned = NULL;

		if (et_len(e) > ET_INLINE && !(owned = et_key_dup(et_key(e), et_len(e), &r)))
			return r;
		set_dots(keep, et_insert_slot(&keep->tab, e, owned), d, nd);
	}
	return 0;
}

int crdt_orset_detach_removed(struct crdt_orset *s, const struct crdt_orset *remote,
			      size_t max_kept, struct crdt_orset **ret_husk)
{
	struct crdt_orset keep = { .tab = { 0 } }, *h = NULL;
	struct kept k = { .s = s };
	int r;

	*ret_husk = NULL;
	if (remote->tab.count || !s->tab.count)
		return 0;
	/* Each element removed has a dot of its own in @remote's context: one
	 * too small for all but @max_kept of them (an SREM's delta) is told
	 * in O(its intervals), before any element or index is read. */
	if (max_kept >= s->tab.count)
		max_kept = s->tab.count - 1; /* else nothing to gain */
	uint64_t ctx = 0;
	for (uint32_t i = 0; i < remote->nreps && ctx < s->tab.count; i++)
		ctx = ivs_count(ctx, remote->reps[i].iv, remote->reps[i].n);
	if (ctx < s->tab.count - max_kept)
		return 0;
	if (crdt_orset_clears(s, remote)) /* keeps none: no element visited */
		return crdt_orset_clear_detach(s, ret_husk);
	/* room for twice the bound: an element with two dots outside is met
	 * twice from the index, and counted once below */
	k.max = 2 * max_kept + 1;
	if (!(k.v = malloc(k.max * sizeof(*k.v))))
		return CRDT_ENOMEM;
	if ((r = gather_kept(s, remote, &k)) != 0) {
		free(k.v);
		return r > 0 ? 0 : r;
	}
	qsort(k.v, k.n, sizeof(*k.v), slot_ptr_cmp);
	size_t u = 0;
	for (size_t i = 0; i < k.n; i++)
		if (!u || k.v[u - 1] != k.v[i])
			k.v[u++] = k.v[i];
	if ((k.n = u) > max_kept) {
		free(k.v);
		return 0;
	}
	et_init(&keep.tab);
	if ((r = copy_kept(s, &k, &keep)) < 0 || !(h = crdt_orset_new())) {
		et_done(&keep.tab);
		pool_free(&keep);
		free(k.v);
		return r < 0 ? r : CRDT_ENOMEM;
	}
	free(k.v);
	/* Nothing fails from here on. */
	et_done(&h->tab);
	take_elements(s, h); /* the index empty and built, the fingerprint's dots 0 */
	s->tab = keep.tab;
	s->pool = keep.pool;
	s->plen = keep.plen;
	s->pcap = keep.pcap;
	s->pmapped = keep.pmapped;
	for (size_t i = 0; i < et_cap(&s->tab); i++) {
		const struct et_slot *e = &s->tab.s[i];
		const struct dot *d;
		struct dot tmp;
		size_t nd;

		if (!et_used(e))
			continue;
		nd = get_dots(s, e->pay, &tmp, &d);
		for (size_t j = 0; j < nd; j++)
			ix_add(s, d[j].ri, d[j].ctr, e->hash);
		s->fp_dots += dots_part(s, e);
	}
	*ret_husk = h;
	return 1;
}

bool crdt_orset_clears(const struct crdt_orset *local, const struct crdt_orset *remote)
{
	return remote->tab.count == 0 && ctx_within(local, remote);
}

bool crdt_orset_live(const struct crdt_orset *s)
{
	return s->tab.count > 0;
}

bool crdt_orset_contains(const struct crdt_orset *s, const void *e, size_t len)
{
	return et_contains(&s->tab, e, len);
}

size_t crdt_orset_card(const struct crdt_orset *s)
{
	return s->tab.count;
}

size_t crdt_orset_room(const struct crdt_orset *s)
{
	size_t lo = s->tab.count, hi = (size_t)1 << 32;

	/* the largest n the table holds without growing: et_needs_growth is
	 * monotone in n */
	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;
		if (et_needs_growth(&s->tab, mid))
			hi = mid - 1;
		else
			lo = mid;
	}
	return lo;
}

int crdt_orset_reserve_for(struct crdt_orset *s, size_t incoming, uint64_t total)
{
	return et_reserve_announced(&s->tab, incoming, total);
}

int crdt_orset_foreach(const struct crdt_orset *s, crdt_elem_cb cb, void *ctx)
{
	return et_foreach_sorted(&s->tab, cb, ctx);
}

int crdt_orset_scan(const struct crdt_orset *s, uint64_t cursor, size_t count, crdt_elem_cb cb,
		    void *ctx, uint64_t *next)
{
	return et_scan_keys(&s->tab, cursor, count, cb, ctx, next);
}

int crdt_orset_each(const struct crdt_orset *s, crdt_elem_cb cb, void *ctx)
{
	return et_foreach(&s->tab, cb, ctx);
}

bool crdt_orset_equal(const struct crdt_orset *a, const struct crdt_orset *b)
{
	uint32_t *map;
	bool eq = false;

	if (a == b)
		return true;
	if (a->tab.count != b->tab.count || a->nreps != b->nreps)
		return false;
	map = malloc((a->nreps ? a->nreps : 1) * sizeof(*map));
	if (!map)
		return false; /* cannot tell; never claim equality */
	for (uint32_t i = 0; i < a->nreps; i++) {
		const struct rep *x = &a->reps[i], *y;
		map[i] = find_rep(b, &x->rid);
		if (map[i] == NONE)
			goto out;
		y = &b->reps[map[i]];
		if (x->n != y->n || memcmp(x->iv, y->iv, x->n * sizeof(*x->iv)) != 0)
			goto out;
	}
	for (size_t i = 0; i < et_cap(&a->tab); i++) {
		const struct et_slot *e = &a->tab.s[i], *f;
		const struct dot *ad, *bd;
		struct dot t1, t2;
		size_t an, bn;

		if (!et_used(e))
			continue;
		f = et_find(&b->tab, et_key(e), et_len(e), e->hash);
		if (!f)
			goto out;
		an = get_dots(a, e->pay, &t1, &ad);
		bn = get_dots(b, f->pay, &t2, &bd);
		if (an != bn)
			goto out;
		/* Both lists are duplicate-free, so inclusion is equality. */
		for (size_t x = 0; x < an; x++)
			if (!dots_have(bd, bn, map[ad[x].ri], ad[x].ctr))
				goto out;
	}
	eq = true;
out:
	free(map);
	return eq;
}

/* Parts: each (element, dot) pair and each context interval, the dots'
 * and intervals' replicas by id (never by the set's own numbering, which
 * follows arrival order). */
uint64_t crdt_orset_fingerprint(const struct crdt_orset *cs)
{
	/* the set itself is not changed: only its cache of the dots' part */
	struct crdt_orset *s = (struct crdt_orset *)cs;
	uint64_t ridh[64], sum = 0, dots = 0;

	for (uint32_t i = 0; i < s->nreps && i < 64; i++)
		ridh[i] = fp_rid(&s->reps[i].rid);
	for (uint32_t i = 0; i < s->nreps; i++) {
		const struct rep *r = &s->reps[i];
		uint64_t h = (i < 64 ? ridh[i] : fp_rid(&r->rid)) ^ FP_CTX;
		for (uint32_t k = 0; k < r->n; k++)
			sum += fp_pair(fp_pair(h, r->iv[k].lo), r->iv[k].hi);
	}
	if (s->fp_ok)
		return fp_finish(CRDT_ORSET, sum + s->fp_dots);
	for (size_t i = 0; i < et_cap(&s->tab); i++) {
		const struct et_slot *e = &s->tab.s[i];
		const struct dot *d;
		struct dot tmp;
		uint64_t eh;
		size_t n;

		if (!et_used(e))
			continue;
		eh = fp_elem(et_key(e), et_len(e));
		n = get_dots(s, e->pay, &tmp, &d);
		for (size_t k = 0; k < n; k++) {
			uint32_t ri = d[k].ri;
			uint64_t rh = ri < 64 ? ridh[ri] : fp_rid(&s->reps[ri].rid);
			dots += fp_elem_dot(eh, rh, d[k].ctr);
		}
	}
	s->fp_dots = dots;
	s->fp_ok = true;
	return fp_finish(CRDT_ORSET, sum + dots);
}

struct crdt_orset *crdt_orset_copy(const struct crdt_orset *s)
{
	struct crdt_orset *c = crdt_orset_new();

	if (!c || crdt_orset_merge(c, s) < 0) {
		crdt_orset_free(c);
		return NULL;
	}
	return c;
}
