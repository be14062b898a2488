/* The OR-Map's dot index: dot -> hash of the field holding it, so that
 * merging a small state (a gossiped piece) into a large map visits only the
 * fields the small one names or removes, not every field.  Built on the
 * first such merge, then kept up to date by every change of entries;
 * dropped (and rebuilt later) when it cannot grow.
 *
 * Growing moves the entries a few slots a put, not all in one call (at
 * 200,000 entries a whole rehash held a catch-up's receiver 26-28 ms):
 * the outgrown table stays beside the new one, read-only but for marks,
 * until every slot of it is moved; a lookup that misses in the new one
 * looks in the old one's slots not yet moved. */
#include <stdlib.h>

#include "crdt/error.h"
#include "internal.h"

static uint32_t dix_home(const struct dix *x, uint32_t ri, uint64_t ctr)
{
	uint64_t h = (ctr ^ (uint64_t)ri << 40) * 0x9e3779b97f4a7c15ULL;
	return (uint32_t)(h >> 32) & (x->cap - 1);
}

/* Old slots a put moves while a growth is under way: the old table (cap
 * C, at most C/2 entries) is empty after C / DIX_STEP puts, well before the
 * new one (cap 2C) fills past half again, which takes C/2 puts. */
#define DIX_STEP 16

void dix_drop(struct crdt_ormap *m)
{
	free(m->dix.s);
	free(m->dix.old);
	m->dix = (struct dix){ 0 };
}

static void put_slot(struct dix *x, uint32_t ri, uint64_t ctr, uint32_t h)
{
	uint32_t i = dix_home(x, ri, ctr);

	while (x->s[i].ctr)
		i = (i + 1) & (x->cap - 1);
	x->s[i] = (struct dslot){ .ctr = ctr, .ri = ri, .h = h };
	x->n++;
}

/* Move up to @k more slots of the old table into the new one. */
static void move_some(struct dix *x, uint32_t k)
{
	for (; x->old && k > 0; k--) {
		const struct dslot *d = &x->old[x->omoved++];
		if (d->ctr && d->ri != DIX_GONE) {
			put_slot(x, d->ri, d->ctr, d->h);
			x->on--;
		}
		if (x->omoved == x->ocap) {
			free(x->old);
			x->old = NULL;
			x->ocap = x->omoved = x->on = 0;
		}
	}
}

/* A table of at least twice @need slots, power of two, into @y. */
static int table_for(struct dix *y, uint32_t need)
{
	y->cap = 16;
	while (y->cap < need * 2) {
		if (y->cap > UINT32_MAX / 4)
			return CRDT_ENOMEM;
		y->cap *= 2;
	}
	return (y->s = calloc(y->cap, sizeof(*y->s))) ? 0 : CRDT_ENOMEM;
}

/* Room for one entry more: a table twice the size, the current one
 * becoming the old one, moved a few slots a put from then on (one still
 * being moved is finished first). */
static int grow(struct dix *x)
{
	struct dix y = { 0 };
	int r;

	if (x->n + x->on + 1 <= x->cap / 2)
		return 0;
	move_some(x, UINT32_MAX);
	if ((r = table_for(&y, x->n + 1)) < 0)
		return r;
	x->old = x->s;
	x->ocap = x->cap;
	x->omoved = 0;
	x->on = x->n;
	x->s = y.s;
	x->cap = y.cap;
	x->n = 0;
	return 0;
}

int dix_build(struct crdt_ormap *m)
{
	int r;

	dix_drop(m);
	if ((r = table_for(&m->dix, m->tab.count + 1)) < 0)
		return r;
	m->dix.ok = true;
	for (uint32_t i = 0; m->tab.s && i < m->tab.cap; i++) {
		const struct et_slot *s = &m->tab.s[i];
		struct ment *one, *const *v;
		uint32_t n;
		if (!et_used(s))
			continue;
		n = fld_ents(s->pay, &one, &v);
		for (uint32_t x = 0; x < n; x++) {
			if (grow(&m->dix) < 0) {
				dix_drop(m);
				return CRDT_ENOMEM;
			}
			move_some(&m->dix, DIX_STEP);
			put_slot(&m->dix, v[x]->ri, v[x]->ctr, s->hash);
		}
	}
	return 0;
}

void dix_put(struct crdt_ormap *m, uint32_t ri, uint64_t ctr, uint32_t h)
{
	if (!m->dix.ok)
		return;
	if (grow(&m->dix) < 0) {
		dix_drop(m); /* the map is fine; the next small merge rebuilds */
		return;
	}
	move_some(&m->dix, DIX_STEP);
	put_slot(&m->dix, ri, ctr, h);
}

/* Dot (@ri, @ctr) in the old table, among the slots not moved yet. */
static struct dslot *old_find(const struct dix *x, uint32_t ri, uint64_t ctr)
{
	uint32_t mask = x->ocap - 1;
	uint64_t hh = (ctr ^ (uint64_t)ri << 40) * 0x9e3779b97f4a7c15ULL;

	for (uint32_t i = (uint32_t)(hh >> 32) & mask; x->old[i].ctr; i = (i + 1) & mask)
		if (x->old[i].ctr == ctr && x->old[i].ri == ri)
			return i >= x->omoved ? &x->old[i] : NULL;
	return NULL;
}

const struct dslot *dix_find(const struct crdt_ormap *m, uint32_t ri, uint64_t ctr)
{
	const struct dix *x = &m->dix;

	for (uint32_t i = dix_home(x, ri, ctr); x->s[i].ctr; i = (i + 1) & (x->cap - 1))
		if (x->s[i].ctr == ctr && x->s[i].ri == ri)
			return &x->s[i];
	return x->old ? old_find(x, ri, ctr) : NULL;
}

void dix_del(struct crdt_ormap *m, uint32_t ri, uint64_t ctr)
{
	struct dix *x = &m->dix;
	const struct dslot *f;
	uint32_t i, j;

	if (!x->ok || !(f = dix_find(m, ri, ctr)))
		return;
	if (x->old && f >= x->old && f < x->old + x->ocap) {
		/* not moved yet: marked, so that its probe chain holds */
		x->old[f - x->old].ri = DIX_GONE;
		x->on--;
		return;
	}
	/* backward-shift deletion: no tombstones */
	i = (uint32_t)(f - x->s);
	for (j = (i + 1) & (x->cap - 1); x->s[j].ctr; j = (j + 1) & (x->cap - 1)) {
		uint32_t home = dix_home(x, x->s[j].ri, x->s[j].ctr);
		/* move j into the hole i unless its home lies cyclically in (i, j] */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			x->s[i] = x->s[j];
			i = j;
		}
	}
	x->s[i] = (struct dslot){ 0 };
	x->n--;
}

void dix_prefetch(const struct crdt_ormap *m, uint32_t ri, uint64_t ctr, bool field)
{
	const struct dix *x = &m->dix;
	const struct dslot *d;

	if (!x->s)
		return;
	if (!field)
		__builtin_prefetch(&x->s[dix_home(x, ri, ctr)]);
	else if ((d = dix_find(m, ri, ctr)) && m->tab.s)
		et_prefetch(&m->tab, d->h);
}

struct et_slot *dix_slot(const struct crdt_ormap *m, uint32_t ri, uint64_t ctr)
{
	const struct dslot *d = dix_find(m, ri, ctr);
	const struct elemtab *t = &m->tab;

	if (!d || !t->s)
		return NULL;
	for (uint32_t i = et_home(t, d->h); et_used(&t->s[i]); i = et_next(t, i)) {
		struct ment *one, *const *v;
		uint32_t n;
		if (t->s[i].hash != d->h)
			continue;
		n = fld_ents(t->s[i].pay, &one, &v);
		for (uint32_t x = 0; x < n; x++)
			if (v[x]->ri == ri && v[x]->ctr == ctr)
				return &t->s[i];
	}
	return NULL;
}
