/* The OR-Map's dot index: dot -> hash of the field holding it, so that
 * merging a small state (a gossiped piece) into a large map visits only the
 * fields the small one names or removes, not every field.  Built on the
 * first such merge, then kept up to date by every change of entries;
 * dropped (and rebuilt later) when it cannot grow. */
#include <stdlib.h>

#include "crdt/error.h"
#include "internal.h"

static uint32_t dix_home(const struct dix *x, uint32_t ri, uint64_t ctr)
{
	uint64_t h = (ctr ^ (uint64_t)ri << 40) * 0x9e3779b97f4a7c15ULL;
	return (uint32_t)(h >> 32) & (x->cap - 1);
}

void dix_drop(struct crdt_ormap *m)
{
	free(m->dix.s);
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

static int grow(struct dix *x, uint32_t need)
{
	struct dix y = { 0 };

	y.cap = 16;
	while (y.cap < need * 2) {
		if (y.cap > UINT32_MAX / 4)
			return CRDT_ENOMEM;
		y.cap *= 2;
	}
	if (!(y.s = calloc(y.cap, sizeof(*y.s))))
		return CRDT_ENOMEM;
	for (uint32_t i = 0; i < x->cap; i++)
		if (x->s[i].ctr)
			put_slot(&y, x->s[i].ri, x->s[i].ctr, x->s[i].h);
	y.ok = true;
	free(x->s);
	*x = y;
	return 0;
}

int dix_build(struct crdt_ormap *m)
{
	int r;

	dix_drop(m);
	if ((r = grow(&m->dix, m->tab.count + 1)) < 0)
		return r;
	for (uint32_t i = 0; m->tab.s && i < m->tab.cap; i++) {
		const struct et_slot *s = &m->tab.s[i];
		struct ment *one, *const *v;
		uint32_t n;
		if (!et_used(s))
			continue;
		n = fld_ents(s->pay, &one, &v);
		for (uint32_t x = 0; x < n; x++) {
			if (m->dix.n + 1 > m->dix.cap / 2 && grow(&m->dix, m->dix.n + 1) < 0) {
				dix_drop(m);
				return CRDT_ENOMEM;
			}
			put_slot(&m->dix, v[x]->ri, v[x]->ctr, s->hash);
		}
	}
	return 0;
}

void dix_put(struct crdt_ormap *m, uint32_t ri, uint64_t ctr, uint32_t h)
{
	if (!m->dix.ok)
		return;
	if (m->dix.n + 1 > m->dix.cap / 2 && grow(&m->dix, m->dix.n + 1) < 0) {
		dix_drop(m); /* the map is fine; the next small merge rebuilds */
		return;
	}
	put_slot(&m->dix, ri, ctr, h);
}

const struct dslot *dix_find(const struct crdt_ormap *m, uint32_t ri, uint64_t ctr)
{
	const struct dix *x = &m->dix;

	for (uint32_t i = dix_home(x, ri, ctr); x->s[i].ctr; i = (i + 1) & (x->cap - 1))
		if (x->s[i].ctr == ctr && x->s[i].ri == ri)
			return &x->s[i];
	return NULL;
}

void dix_del(struct crdt_ormap *m, uint32_t ri, uint64_t ctr)
{
	struct dix *x = &m->dix;
	const struct dslot *f;
	uint32_t i, j;

	if (!x->ok || !(f = dix_find(m, ri, ctr)))
		return;
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
