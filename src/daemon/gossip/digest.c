/* The digest: per-bucket sums of instance fingerprints, kept up to date
 * from the store's change stream (digest.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/hash.h"
#include "crdt/sort.h"
#include "gossip/digest.h"

/* The digest's fields beside each instance and each entry (its share of
 * the store's room, zero when created): the state fingerprint the
 * instance is counted with in its bucket (0 = not counted), and the
 * entry's tag: whether it changed since the digest last counted it
 * (TAG_STALE), and 1 + its place in its bucket's member list (0: not a
 * member), so that the store's reclaim of a name takes it out of a bucket
 * of any size in one step. */
#define TAG_STALE 0x80000000u
#define TAG_POS 0x7fffffffu

static uint64_t *counted_fp(const struct digest *d, const struct store_inst *in)
{
	return store_inst_room(in, d->room.inst);
}

static uint32_t *tag(const struct digest *d, const struct store_entry *e)
{
	return store_entry_room(e, d->room.entry);
}

static bool is_stale(const struct digest *d, const struct store_entry *e)
{
	return *tag(d, e) & TAG_STALE;
}

static void set_stale(const struct digest *d, const struct store_entry *e, bool on)
{
	*tag(d, e) = on ? *tag(d, e) | TAG_STALE : *tag(d, e) & ~TAG_STALE;
}

static inline bool keyed_lt(const struct digest_keyed *a, const struct digest_keyed *b)
{
	return a->key < b->key;
}

static inline bool keyed_before(const struct digest_keyed *a, uint64_t key)
{
	return a->key < key;
}

/* by key; equal keys (one name's, or a collision) in any order */
SORT_DEFINE(keyed_sort, struct digest_keyed, keyed_lt)

/* The first of @n pairs sorted by key whose key is @key or more. */
LOWER_BOUND_DEFINE(keyed_lower, struct digest_keyed, uint64_t, keyed_before)

/* @m's key order is gone (no memory for it): the next
 * digest_keyed_between() makes it again. */
static void key_order_drop(struct digest_members *m)
{
	free(m->byk);
	m->byk = NULL;
	m->nbyk = m->nsorted = m->capk = 0;
	m->gaps = false;
}

/* @m's key order made from its members, every name hashed and sorted. */
static int key_order_make(struct digest_members *m)
{
	uint32_t cap = m->n + m->n / 4 + 16;
	struct digest_keyed *v = malloc(cap * sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->n; i++)
		v[i] = (struct digest_keyed){
			.key = digest_name_key(m->v[i]->name, m->v[i]->name_len), .e = m->v[i]
		};
	keyed_sort(v, m->n);
	free(m->byk);
	m->byk = v;
	m->nbyk = m->nsorted = m->n;
	m->capk = cap;
	m->gaps = false;
	return 0;
}

/* Every pair of @m's key order sorted: the empty pairs out, and the
 * joiners' tail sorted and merged in, from the back. */
static int key_order_settle(struct digest_members *m)
{
	struct digest_keyed *t;
	uint32_t j = 0, ns = 0, nt;

	if (m->gaps) {
		for (uint32_t i = 0; i < m->nbyk; i++)
			if (m->byk[i].e) {
				ns += i < m->nsorted;
				m->byk[j++] = m->byk[i];
			}
		m->nbyk = j;
		m->nsorted = ns;
		m->gaps = false;
	}
	if (!(nt = m->nbyk - m->nsorted))
		return 0;
	if (!(t = malloc(nt * sizeof(*t))))
		return -ENOMEM;
	memcpy(t, m->byk + m->nsorted, nt * sizeof(*t));
	keyed_sort(t, nt);
	for (uint32_t a = m->nsorted, k = m->nbyk; nt;)
		m->byk[--k] = a && m->byk[a - 1].key > t[nt - 1].key ? m->byk[--a] : t[--nt];
	free(t);
	m->nsorted = m->nbyk;
	return 0;
}

/* @e joined @m under name key @key.  A bucket that just became crowded
 * gets its key order (1,025 names sorted); one that has it takes the
 * pair on its tail, merged in once the tail outgrows an eighth of the
 * sorted pairs: a join costs the bucket's size over 8 at most, where
 * dropping the order had the next lookup sort 50,000 pairs (8-13 ms in
 * one call after a client loaded names of one bucket). */
static void key_order_join(struct digest_members *m, uint64_t key, struct store_entry *e)
{
	uint32_t tail;

	if (!m->byk) {
		if (m->n == DIGEST_CROWDED + 1)
			(void)key_order_make(m); /* else the first lookup */
		return;
	}
	if (m->nbyk == m->capk) {
		uint32_t cap = 2 * m->capk;
		struct digest_keyed *v = realloc(m->byk, cap * sizeof(*v));
		if (!v) {
			key_order_drop(m);
			return;
		}
		m->byk = v;
		m->capk = cap;
	}
	m->byk[m->nbyk++] = (struct digest_keyed){ .key = key, .e = e };
	tail = m->nbyk - m->nsorted;
	if (tail > 64 && tail > m->nsorted / 8 && key_order_settle(m) < 0)
		key_order_drop(m);
}

/* @e, a member of @m under name key @key, out of it: the last member
 * takes its place, and its pair in the key order, if made, is left empty
 * (digest_keyed_between closes the gaps), so that a reclaim of many names
 * while KEYS come does not sort the bucket again for each datagram. */
static void member_drop(struct digest *d, struct digest_members *m, struct store_entry *e,
			uint64_t key)
{
	uint32_t i = (*tag(d, e) & TAG_POS) - 1;
	size_t k;

	m->v[i] = m->v[--m->n];
	*tag(d, m->v[i]) = (*tag(d, m->v[i]) & TAG_STALE) | (i + 1);
	*tag(d, e) &= TAG_STALE;
	if (!m->byk)
		return;
	/* found by its key among the sorted pairs: a tail is merged first */
	if (m->nbyk > m->nsorted && key_order_settle(m) < 0) {
		key_order_drop(m);
		return;
	}
	for (k = keyed_lower(m->byk, m->nbyk, key); k < m->nbyk && m->byk[k].key == key; k++)
		if (m->byk[k].e == e) {
			m->byk[k].e = NULL;
			m->gaps = true;
			return;
		}
	key_order_drop(m); /* not there: cannot be, but then made again */
}

uint64_t digest_counted(const struct digest *d, const struct store_inst *in)
{
	return *counted_fp(d, in);
}

uint64_t digest_name_key(const uint8_t *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= name[i];
		h *= 0x100000001b3ULL;
	}
	return crdt_mix64(h);
}

int64_t digest_keyed_between(struct digest *d, uint32_t b, uint64_t from, uint64_t to,
			     const struct digest_keyed **ret)
{
	struct digest_members *m = &d->members[b];
	size_t lo, hi;

	if (!m->byk && key_order_make(m) < 0)
		return -ENOMEM;
	if ((m->gaps || m->nbyk > m->nsorted) && key_order_settle(m) < 0) {
		key_order_drop(m);
		return -ENOMEM;
	}
	lo = keyed_lower(m->byk, m->nbyk, from);
	hi = to == UINT64_MAX ? m->nbyk : keyed_lower(m->byk, m->nbyk, to + 1);
	*ret = m->byk + lo;
	return hi > lo ? (int64_t)(hi - lo) : 0;
}

uint64_t digest_contrib(uint64_t key, uint64_t fp)
{
	return crdt_mix64(key ^ fp);
}

uint64_t digest_group(const struct digest *d, uint32_t i)
{
	uint64_t sum = 0;

	for (uint32_t k = 0; k < (1u << DIGEST_GROUP_BITS); k++)
		sum += d->bucket[(i << DIGEST_GROUP_BITS) + k];
	return sum;
}

uint64_t digest_root(const struct digest *d)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < DIGEST_BUCKETS; i++)
		sum += d->bucket[i];
	return sum;
}

/* The longest the stale list gets: past it the list is dropped and the
 * next refresh walks the whole store (as after a failed allocation). */
static size_t stale_max(const struct digest *d)
{
	size_t m = d->store->len / DIGEST_STALE_FRACTION;

	return m > DIGEST_STALE_MIN ? m : DIGEST_STALE_MIN;
}

/* Unmark the dropped list's entries, at most @max of them: how many. */
static size_t unmark_dropped(struct digest *d, size_t max)
{
	size_t n = 0;

	while (d->ndropped && n < max) {
		set_stale(d, d->dropped[--d->ndropped], false);
		n++;
	}
	if (!d->ndropped) {
		free(d->dropped);
		d->dropped = NULL;
	}
	return n;
}

/* The list is dropped and the store walked instead, from its start: @e,
 * just changed, may lie behind a walk under way.  Its entries are unmarked
 * a slice at a time by the refresh, before the walk (unmark_dropped). */
static void overflow(struct digest *d)
{
	unmark_dropped(d, SIZE_MAX); /* one dropped before: rare, and bounded */
	d->dropped = d->stale;
	d->ndropped = d->nstale;
	d->stale = NULL;
	d->nstale = d->stale_cap = 0;
	d->walking = true;
	store_walk_start(d->store, &d->walk);
}

/* Mark @e stale, listing it unless it already is. */
static void mark(struct digest *d, struct store_entry *e)
{
	if (is_stale(d, e))
		return;
	if (d->nstale == stale_max(d)) {
		overflow(d);
		return;
	}
	if (d->nstale == d->stale_cap) {
		size_t cap = d->stale_cap ? d->stale_cap * 2 : 64;
		struct store_entry **v = realloc(d->stale, cap * sizeof(*v));
		if (!v) {
			overflow(d);
			return;
		}
		d->stale = v;
		d->stale_cap = cap;
	}
	d->stale[d->nstale++] = e;
	set_stale(d, e, true);
}

static void changed(void *ctx, struct store_entry *e, enum crdt_type t,
		    const struct store_change *c)
{
	(void)t;
	(void)c;
	mark(ctx, e);
}

/* @e is reclaimed (store.h): uncount it and forget it. */
static void removed(void *ctx, struct store_entry *e)
{
	struct digest *d = ctx;
	uint64_t key = digest_name_key(e->name, e->name_len);
	uint32_t bi = digest_bucket_of(key);
	struct digest_members *m = &d->members[bi];

	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		struct store_inst *in = store_entry_inst(e, (enum crdt_type)t);

		if (in && *counted_fp(d, in)) {
			d->bucket[bi] -= digest_contrib(key, *counted_fp(d, in));
			*counted_fp(d, in) = 0;
		}
	}
	/* a member whatever its fingerprints (a state's may be 0) */
	if (*tag(d, e) & TAG_POS)
		member_drop(d, m, e, key);
	if (!is_stale(d, e))
		return;
	if (d->ndropped) /* it may be there: the rest of it unmarked now */
		unmark_dropped(d, SIZE_MAX);
	if (!is_stale(d, e))
		return;
	/* It is in the list, which must not keep it: the store frees it
	 * next.  A refresh follows each change within a round, so the list
	 * is short while peers are there; a long one is dropped once @e is
	 * out of it (the next refresh, if any, walks the store), so that a
	 * reclaim of many names searches it once, not once a name.  (A long
	 * list dropped with @e still in it had the next removal's unmarking
	 * write to @e's freed memory.) */
	for (size_t i = 0; i < d->nstale; i++)
		if (d->stale[i] == e) {
			d->stale[i] = d->stale[--d->nstale];
			break;
		}
	set_stale(d, e, false);
	if (d->nstale > 256)
		overflow(d);
}

/* Bring every instance of @e into its bucket at its current state. */
static size_t refresh_entry(struct digest *d, struct store_entry *e)
{
	uint64_t key = digest_name_key(e->name, e->name_len);
	uint64_t *b = &d->bucket[digest_bucket_of(key)];
	struct digest_members *m = &d->members[digest_bucket_of(key)];
	size_t n = 0;

	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		struct store_inst *in = store_entry_inst(e, (enum crdt_type)t);
		uint64_t fp, *was;

		if (!in)
			continue;
		was = counted_fp(d, in);
		fp = crdt_obj_fingerprint(&in->obj);
		n++;
		if (fp == *was)
			continue;
		if (*was)
			*b -= digest_contrib(key, *was);
		*b += digest_contrib(key, fp);
		*was = fp;
	}
	/* first counted: a member of its bucket until the store reclaims it
	 * (removed) */
	if (!(*tag(d, e) & TAG_POS) && n) {
		if (m->n == m->cap) {
			uint32_t cap = m->cap ? 2 * m->cap : 4;
			struct store_entry **v = realloc(m->v, cap * sizeof(*v));
			if (!v) {
				/* counted in no list: uncount it, retry later */
				for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
					struct store_inst *in = store_entry_inst(e, (enum crdt_type)t);
					if (in && *counted_fp(d, in)) {
						*b -= digest_contrib(key, *counted_fp(d, in));
						*counted_fp(d, in) = 0;
					}
				}
				set_stale(d, e, false);
				overflow(d);
				return n;
			}
			m->v = v;
			m->cap = cap;
		}
		m->v[m->n++] = e;
		*tag(d, e) |= m->n;
		key_order_join(m, key, e);
	}
	set_stale(d, e, false);
	return n;
}

bool digest_refresh_some(struct digest *d, size_t entries)
{
	struct store_entry *e;

	/* the dropped list's marks first (the walk has not begun: every
	 * entry is ahead of it), then the walk (it leaves the listed entries
	 * to the list), then the list, newest first; a failed refresh_entry
	 * may drop the list and start the walk again (overflow) */
	entries -= unmark_dropped(d, entries);
	while (d->walking && entries) { /* none dropped left: entries was spent */
		if (!(e = store_next(d->store, &d->walk))) {
			d->walking = false;
			break;
		}
		if (!is_stale(d, e)) /* else listed: the list's */
			d->stats.refreshed += refresh_entry(d, e);
		entries--;
	}
	while (!d->walking && d->nstale && entries) {
		e = d->stale[--d->nstale];
		d->stats.refreshed += refresh_entry(d, e);
		entries--;
	}
	return !d->walking && !d->nstale && !d->ndropped;
}

size_t digest_refresh(struct digest *d)
{
	uint64_t before = d->stats.refreshed;

	while (!digest_refresh_some(d, SIZE_MAX))
		;
	return (size_t)(d->stats.refreshed - before);
}

static int mark_cb(struct store_entry *e, void *ctx)
{
	mark(ctx, e);
	return 0;
}

int digest_new(struct store *store, struct digest **ret)
{
	struct digest *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	d->store = store;
	if ((r = store_subscribe(store,
				 &(struct store_sub){ .changed = changed, .ctx = d,
						      .removed = removed,
						      .inst_room = sizeof(uint64_t),
						      .entry_room = sizeof(uint32_t) },
				 &d->room)) < 0) {
		free(d);
		return r;
	}
	/* what the store already holds (the journal's load) counts from the
	 * first refresh */
	store_foreach(store, mark_cb, d);
	*ret = d;
	return 0;
}

void digest_free(struct digest *d)
{
	if (!d)
		return;
	store_unsubscribe(d->store, d);
	for (size_t i = 0; i < DIGEST_BUCKETS; i++) {
		free(d->members[i].v);
		free(d->members[i].byk);
	}
	free(d->stale);
	free(d->dropped);
	free(d);
}
