/* The store (named instances, type conflicts, the dirty list) and the glob
 * matcher behind KEYS and SCAN MATCH. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include <cmocka.h>

#include "crdt/error.h"
#include "client/glob.h"
#include "state/store.h"
#include "testutil.h"

static const struct crdt_rid r1 = { { 1 } }, r2 = { { 2 } };

/* A state of type @t with one write of @rid in it: live. */
static void live_state(enum crdt_type t, const struct crdt_rid *rid, const char *e,
		       struct crdt_obj *ret)
{
	struct crdt_hlc h;

	crdt_hlc_init(&h, NULL, NULL);
	assert_int_equal(crdt_obj_new(t, ret), 0);
	switch (t) {
	case CRDT_GCOUNTER: assert_int_equal(crdt_gcounter_inc(ret->gc, rid, 1), 0); break;
	case CRDT_PNCOUNTER: assert_int_equal(crdt_pncounter_inc(ret->pn, rid, 1), 0); break;
	case CRDT_GSET: assert_int_equal(crdt_gset_add(ret->gs, e, strlen(e)), 1); break;
	case CRDT_ORSET: assert_int_equal(crdt_orset_add(ret->os, rid, e, strlen(e)), 0); break;
	case CRDT_LWWREG:
		assert_int_equal(crdt_lwwreg_set(ret->lww, &h, rid, e, strlen(e)), 0);
		break;
	case CRDT_ORMAP:
		assert_int_equal(crdt_ormap_set(ret->om, &h, rid, e, strlen(e), "v", 1, NULL), 0);
		break;
	}
	assert_true(crdt_obj_live(ret));
}

static void test_get_creates_and_checks_type(void **state)
{
	struct store s;
	struct crdt_obj *o, *o2;

	store_init(&s);
	assert_int_equal(store_get(&s, "k", 1, CRDT_ORSET, false, &o), -ENOENT);
	assert_int_equal(store_get(&s, "k", 1, CRDT_ORSET, true, &o), 0);
	assert_int_equal(o->type, CRDT_ORSET);
	assert_int_equal(crdt_orset_add(o->os, &r1, "x", 1), 0);
	assert_int_equal(store_get(&s, "k", 1, CRDT_ORSET, true, &o2), 0);
	assert_ptr_equal(o, o2);
	assert_int_equal(store_get(&s, "k", 1, CRDT_PNCOUNTER, true, &o2), CRDT_ETYPE);
	/* names are binary-safe: "k\0" is another name */
	assert_int_equal(store_get(&s, "k\0", 2, CRDT_PNCOUNTER, true, &o2), 0);
	assert_int_equal(s.len, 2);
	store_done(&s);
}

/* The fingerprint of an instance equals that of its state decoded afresh
 * (computed whole), whether it was made by local writes (the store takes
 * its fingerprint when it is created, empty, and the writes keep it) or
 * from a remote state (taken when it arrives, and kept by the merges). */
static uint64_t fresh_fingerprint(const struct crdt_obj *o)
{
	struct crdt_buf b;
	struct crdt_obj d;
	uint64_t fp;

	crdt_buf_init(&b, 0);
	assert_int_equal(crdt_obj_encode(o, &b), 0);
	assert_int_equal(crdt_obj_decode(b.data, b.len, &d), 0);
	fp = crdt_obj_fingerprint(&d);
	crdt_obj_done(&d);
	crdt_buf_done(&b);
	return fp;
}

static void test_fingerprint_kept_from_creation(void **state)
{
	struct store s;
	struct crdt_obj *o, *p, delta, peer;
	struct crdt_rid r;
	char m[32];

	store_init(&s);
	memset(r.b, 0x42, sizeof(r.b));
	assert_int_equal(store_get(&s, "set", 3, CRDT_ORSET, true, &o), 0);
	for (int i = 0; i < 3000; i++) {
		snprintf(m, sizeof(m), "m%d", i);
		assert_int_equal(crdt_orset_add(o->os, &s.self, m, strlen(m)), 0);
		if (i % 7 == 0) { /* and one of the earlier ones goes */
			snprintf(m, sizeof(m), "m%d", i / 2);
			assert_int_equal(crdt_orset_remove(o->os, m, strlen(m)), 1);
		}
	}
	assert_true(crdt_obj_fingerprint(o) == fresh_fingerprint(o));
	/* from a peer: a delta makes the instance, more deltas grow it */
	assert_int_equal(crdt_obj_new(CRDT_ORSET, &peer), 0);
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(crdt_obj_new(CRDT_ORSET, &delta), 0);
		snprintf(m, sizeof(m), "p%d", i);
		assert_int_equal(crdt_orset_add_delta(peer.os, &r, m, strlen(m), delta.os), 0);
		assert_int_equal(store_merge(&s, "remote", 6, &delta), 0);
		crdt_obj_done(&delta);
	}
	crdt_obj_done(&peer);
	assert_int_equal(store_get(&s, "remote", 6, CRDT_ORSET, false, &p), 0);
	assert_int_equal(crdt_orset_card(p->os), 2000);
	assert_true(crdt_obj_fingerprint(p) == fresh_fingerprint(p));
	store_done(&s);
}

/* Lazy free: a DEL of a set or hash of STORE_LAZYFREE_PARTS members or
 * more, or a merge of a peer's DEL that empties one, hands its members to
 * the hook (freed here on another thread, as the daemon's thread pool
 * does); a smaller one is freed in the call.  The instance ends as a plain
 * clear leaves it: no member, the same context (a member a peer adds
 * concurrently survives the peer's DEL), the fingerprint right. */
struct husks {
	struct crdt_obj h[8];
	size_t n;
};

static void keep_husk(void *ctx, struct crdt_obj *husk)
{
	struct husks *k = ctx;

	assert_true(k->n < 8);
	assert_non_null(husk->p);
	k->h[k->n++] = *husk;
}

static void *free_husk(void *arg)
{
	crdt_obj_done(arg);
	return NULL;
}

static void fill(struct crdt_obj *o, const struct crdt_rid *rid, const char *pre, int n)
{
	char m[32];

	for (int i = 0; i < n; i++) {
		snprintf(m, sizeof(m), "%s%d", pre, i);
		assert_int_equal(crdt_orset_add(o->os, rid, m, strlen(m)), 0);
	}
}

static void test_lazyfree(void **state)
{
	struct store s;
	struct husks k = { .n = 0 };
	struct crdt_obj *o, *small, ref, del, late, plain, many;
	struct crdt_rid peer;
	pthread_t th;

	store_init(&s);
	store_set_lazyfree(&s, keep_husk, &k);
	memset(peer.b, 0x42, sizeof(peer.b));
	assert_int_equal(store_get(&s, "big", 3, CRDT_ORSET, true, &o), 0);
	fill(o, &s.self, "m", STORE_LAZYFREE_PARTS);
	assert_int_equal(store_get(&s, "small", 5, CRDT_ORSET, true, &small), 0);
	fill(small, &s.self, "m", STORE_LAZYFREE_PARTS - 1);
	assert_int_equal(crdt_obj_copy(o, &ref), 0);
	assert_int_equal(crdt_obj_clear(&ref), 1);

	assert_int_equal(store_del(&s, "small", 5), 1);
	assert_int_equal(k.n, 0);
	assert_int_equal(store_del(&s, "big", 3), 1);
	assert_int_equal(k.n, 1);
	assert_int_equal(s.stats.lazyfree_handed, 1);
	assert_int_equal(crdt_obj_card(&k.h[0]), STORE_LAZYFREE_PARTS);
	assert_true(crdt_obj_equal(o, &ref));
	assert_true(crdt_obj_fingerprint(o) == fresh_fingerprint(o));
	assert_int_equal(pthread_create(&th, NULL, free_husk, &k.h[0]), 0);
	assert_int_equal(pthread_join(th, NULL), 0);

	/* a peer's DEL of a set it and we hold, while we add one member */
	assert_int_equal(crdt_obj_new(CRDT_ORSET, &del), 0);
	fill(&del, &peer, "p", STORE_LAZYFREE_PARTS);
	assert_int_equal(store_merge(&s, "shared", 6, &del), 0);
	assert_int_equal(store_get(&s, "shared", 6, CRDT_ORSET, false, &o), 0);
	assert_int_equal(crdt_orset_add(o->os, &s.self, "mine", 4), 0);
	assert_int_equal(crdt_obj_clear(&del), 1);
	assert_int_equal(crdt_obj_copy(o, &plain), 0);
	assert_int_equal(crdt_obj_merge(&plain, &del), 0);
	assert_int_equal(store_merge(&s, "shared", 6, &del), 0);
	/* ours is not in del's context: kept, the rest handed over */
	assert_int_equal(k.n, 2);
	assert_int_equal(crdt_obj_card(&k.h[1]), STORE_LAZYFREE_PARTS + 1);
	assert_int_equal(crdt_obj_card(o), 1);
	assert_true(crdt_obj_contains(o, "mine", 4));
	assert_true(crdt_obj_equal(o, &plain));
	assert_true(crdt_obj_fingerprint(o) == fresh_fingerprint(o));
	crdt_obj_done(&k.h[1]);
	crdt_obj_done(&plain);
	/* more than 1 / STORE_LAZYFREE_KEPT of it added here meanwhile: merged member by
	 * member, nothing handed over */
	assert_int_equal(crdt_obj_new(CRDT_ORSET, &many), 0);
	fill(&many, &peer, "r", STORE_LAZYFREE_PARTS);
	assert_int_equal(store_merge(&s, "shared2", 7, &many), 0);
	assert_int_equal(store_get(&s, "shared2", 7, CRDT_ORSET, false, &o), 0);
	fill(o, &s.self, "c", STORE_LAZYFREE_PARTS / 2); /* a third of it */
	assert_int_equal(crdt_obj_clear(&many), 1);
	assert_int_equal(store_merge(&s, "shared2", 7, &many), 0);
	assert_int_equal(k.n, 2);
	assert_int_equal(crdt_obj_card(o), STORE_LAZYFREE_PARTS / 2);
	/* the same without our add: covered, handed over */
	assert_int_equal(crdt_obj_new(CRDT_ORSET, &late), 0);
	fill(&late, &peer, "q", STORE_LAZYFREE_PARTS);
	assert_int_equal(store_merge(&s, "shared3", 7, &late), 0);
	assert_int_equal(crdt_obj_clear(&late), 1);
	assert_int_equal(store_merge(&s, "shared3", 7, &late), 0);
	assert_int_equal(k.n, 3);
	assert_int_equal(crdt_obj_card(&k.h[2]), STORE_LAZYFREE_PARTS);
	/* not live now: store_get would not find it */
	assert_non_null(store_find(&s, "shared3", 7));
	o = &store_entry_inst(store_find(&s, "shared3", 7), CRDT_ORSET)->obj;
	assert_int_equal(crdt_obj_card(o), 0);
	assert_true(crdt_obj_equal(o, &late));
	assert_true(crdt_obj_fingerprint(o) == fresh_fingerprint(o));
	crdt_obj_done(&k.h[2]);
	crdt_obj_done(&late);
	crdt_obj_done(&many);
	crdt_obj_done(&del);
	crdt_obj_done(&ref);
	store_done(&s);
}

/* Every name survives the table's growths, past the size from which the
 * table is mapped on its own (2 MiB, 262,144 slots) and once more, where a
 * mapped table is rebuilt into another (grow's hashes run ahead of its
 * placements: a hash put with the wrong entry loses that name). */
static void test_many_names_survive_growth(void **state)
{
	struct store s;
	struct crdt_obj *o;
	char name[32];
	const int n_names = 250000;

	store_init(&s);
	for (int i = 0; i < n_names; i++) {
		int n = snprintf(name, sizeof(name), "counter:%d", i);
		assert_int_equal(store_get(&s, name, (size_t)n, CRDT_GCOUNTER, true, &o), 0);
		assert_int_equal(crdt_gcounter_inc(o->gc, &r1, i + 1), 0);
	}
	assert_true(s.table_mapped);
	for (int i = 0; i < n_names; i++) {
		int n = snprintf(name, sizeof(name), "counter:%d", i);
		int64_t v;
		assert_int_equal(store_get(&s, name, (size_t)n, CRDT_GCOUNTER, false, &o), 0);
		assert_int_equal(crdt_gcounter_value(o->gc, &v), 0);
		assert_int_equal(v, i + 1);
	}
	store_done(&s);
}

/* The table keeps its load under 13/16 and grows by doubling, never more
 * (docs/benchmarks.md, memory per key part 6). */
static void test_table_doubles(void **state)
{
	struct store s;
	struct crdt_obj *o;
	char name[32];
	size_t cap = 0, grew = 0;

	store_init(&s);
	for (int i = 0; i < 20000; i++) {
		int n = snprintf(name, sizeof(name), "k%d", i);
		assert_int_equal(store_get(&s, name, (size_t)n, CRDT_LWWREG, true, &o), 0);
		assert_true(s.len * 16 <= s.cap * 13);
		if (s.cap != cap) {
			assert_true(cap == 0 ? s.cap == 64 : s.cap == 2 * cap);
			cap = s.cap;
			grew++;
		}
	}
	/* 64 up to 32,768: 20,000 names are past 13/16 of 16,384 */
	assert_int_equal(s.cap, 32768);
	assert_int_equal(grew, 10);
	store_done(&s);
}

/* A load that knows its count sizes the table once: 20,000 names into a
 * store reserved for them never grow it (no old table, no rehash), and
 * every one is found.  A store that holds something is left as it is. */
static void test_reserve(void **state)
{
	struct store s;
	struct crdt_obj *o;
	char name[32];

	store_init(&s);
	assert_int_equal(store_reserve(&s, 20000), 0);
	assert_int_equal(s.cap, 32768); /* 20,000 under 13/16 of it */
	for (int i = 0; i < 20000; i++) {
		int n = snprintf(name, sizeof(name), "k%d", i);
		assert_int_equal(store_get(&s, name, (size_t)n, CRDT_LWWREG, true, &o), 0);
		assert_int_equal(s.cap, 32768);
		assert_int_equal(s.ocap, 0);
	}
	for (int i = 0; i < 20000; i += 7) {
		int n = snprintf(name, sizeof(name), "k%d", i);
		assert_non_null(store_find(&s, name, (size_t)n));
	}
	assert_int_equal(store_reserve(&s, 1000000), 0);
	assert_int_equal(s.cap, 32768);
	assert_int_equal(s.len, 20000);
	store_done(&s);
}

/* Whether the page at @p (page-aligned) is in memory. */
static bool page_in(void *p)
{
	unsigned char v = 0;

	assert_int_equal(mincore(p, 4096, &v), 0);
	return v & 1;
}

/* What a populate hook was given (store_set_populate), in order. */
static struct {
	void *addr[8];
	size_t len[8];
	int n;
} pops;

/* Faults the pages in as the daemon's hook would (by writing the zeros a
 * fresh mapping holds: nothing else runs here meanwhile). */
static void record_populate(void *addr, size_t len)
{
	memset(addr, 0, len);
	if (pops.n < 8) {
		pops.addr[pops.n] = addr;
		pops.len[pops.n] = len;
	}
	pops.n++;
}

/* A large store's next table is mapped at 11/16 of the load and handed to
 * the populate hook, once; the rehash at 13/16 builds into that very
 * table, and the next one is made ready the same way.  A table reserved
 * for a catch-up is handed over too.  Every name is found. */
static void test_table_made_ready_ahead(void **state)
{
	struct store s;
	struct crdt_obj *o;
	char name[32];
	int i, n;

	/* 4 KiB pages: a huge page would bring the whole 2 MiB table in at
	 * the rehash's first fault, ahead or not */
	assert_int_equal(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), 0);
	memset(&pops, 0, sizeof(pops));
	store_init(&s);
	store_set_populate(&s, record_populate);
	for (i = 0; s.cap < 131072 || s.len * 16 <= s.cap * 11; i++) {
		/* tables under 2 MiB are faulted as they are used */
		assert_int_equal(pops.n, 0);
		n = snprintf(name, sizeof(name), "k%d", i);
		assert_int_equal(store_get(&s, name, (size_t)n, CRDT_LWWREG, true, &o), 0);
	}
	/* past 11/16 of 131,072 slots: the next, 262,144 slots of 8 bytes */
	assert_int_equal(pops.n, 1);
	assert_int_equal(pops.len[0], (size_t)262144 * 8);
	assert_ptr_equal(s.ahead, pops.addr[0]);
	for (; s.cap == 131072; i++) {
		n = snprintf(name, sizeof(name), "k%d", i);
		assert_int_equal(store_get(&s, name, (size_t)n, CRDT_LWWREG, true, &o), 0);
	}
	/* the rehash just began, into the table faulted in ahead: its last
	 * page is in, where a fresh mapping's would not be yet (unless the
	 * one name added landed there: 1 in 512) */
	assert_int_equal(pops.n, 1);
	assert_ptr_equal(s.table, pops.addr[0]);
	assert_null(s.ahead);
	assert_true(s.ocap > 0);
	assert_true(page_in((uint8_t *)s.table + s.cap * 8 - 4096));
	for (; s.len * 16 <= s.cap * 11; i++) {
		assert_int_equal(pops.n, 1);
		n = snprintf(name, sizeof(name), "k%d", i);
		assert_int_equal(store_get(&s, name, (size_t)n, CRDT_LWWREG, true, &o), 0);
	}
	assert_int_equal(pops.n, 2);
	assert_int_equal(pops.len[1], (size_t)524288 * 8);
	assert_int_equal(s.stats.tables_ahead, 2);
	for (int k = 0; k < i; k += 3) {
		n = snprintf(name, sizeof(name), "k%d", k);
		assert_non_null(store_find(&s, name, (size_t)n));
	}
	store_done(&s);

	memset(&pops, 0, sizeof(pops));
	store_init(&s);
	store_set_populate(&s, record_populate);
	assert_int_equal(store_reserve(&s, 1000000), 0);
	assert_int_equal(pops.n, 1);
	assert_ptr_equal(pops.addr[0], s.table);
	assert_int_equal(pops.len[0], s.cap * 8);
	store_done(&s);
	assert_int_equal(prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0), 0);
}

/* Add counter "r:@i" holding @i + 1 (or find it: the count stays). */
static void add_counter(struct store *s, int i)
{
	char name[32];
	struct crdt_obj *o;
	int n = snprintf(name, sizeof(name), "r:%d", i);
	int64_t v;

	assert_int_equal(store_get(s, name, (size_t)n, CRDT_GCOUNTER, true, &o), 0);
	assert_int_equal(crdt_gcounter_value(o->gc, &v), 0);
	if (v == 0)
		assert_int_equal(crdt_gcounter_inc(o->gc, &r1, i + 1), 0);
}

/* Counter "r:@i" holding @i + 1 as a peer's state (store_merge). */
static void merge_counter(struct store *s, int i)
{
	char name[32];
	int n = snprintf(name, sizeof(name), "r:%d", i);
	struct crdt_obj c;

	assert_int_equal(crdt_obj_new(CRDT_GCOUNTER, &c), 0);
	assert_int_equal(crdt_gcounter_inc(c.gc, &r1, i + 1), 0);
	assert_int_equal(store_merge(s, name, (size_t)n, &c), 0);
	crdt_obj_done(&c);
}

/* Whether counter "r:@i" is found holding @i + 1. */
static bool has_counter(const struct store *s, int i)
{
	char name[32];
	int n = snprintf(name, sizeof(name), "r:%d", i);
	struct store_entry *e = store_find(s, name, (size_t)n);
	int64_t v;

	if (!e || !store_entry_slot(e, CRDT_GCOUNTER))
		return false;
	assert_int_equal(crdt_gcounter_value(store_entry_slot(e, CRDT_GCOUNTER)->gc, &v), 0);
	return v == i + 1;
}

static int count_visits(struct store_entry *e, void *ctx)
{
	((uint8_t *)ctx)[atoi((const char *)e->name + 2)]++;
	return 0;
}

#define REHASH_NAMES 40000

/* The table is rebuilt a slice at a time: the name that begins a rehash
 * moves a few slots, not the table; every name is found throughout, in the
 * old table or the new; a name of the old table is found, not added again;
 * store_foreach meets each name once; a walk begun before the rehash and
 * stepped across its beginning and its end meets every name it started
 * with without starting again; the old table goes once every slot moved. */
static void test_rehash_incremental(void **state)
{
	struct store s;
	struct store_walk w;
	static uint8_t met[REHASH_NAMES], visits[REHASH_NAMES];
	int n = 0, before;
	uint64_t gen;
	size_t len;
	struct store_entry *e;

	memset(met, 0, sizeof(met));
	store_init(&s);
	/* up to the name that rebuilds a table of 16,384 slots (past the
	 * size moved at once) */
	while (!(s.cap == 16384 && (s.len + 1) * 16 > s.cap * 13)) {
		add_counter(&s, n++);
		assert_true(n < REHASH_NAMES);
	}
	before = n;
	store_walk_start(&s, &w);
	for (int k = 0; k < 100 && (e = store_next(&s, &w)); k++)
		met[atoi((const char *)e->name + 2)]++;
	gen = s.tgen;
	add_counter(&s, n++);
	assert_int_equal(s.ocap, 16384);
	assert_int_equal(s.cap, 32768);
	assert_int_equal(s.tgen, gen + 1);
	assert_true(s.olen + 64 > s.len); /* a few slots moved, not the table */
	/* a walk begun in the old table, still there when the rehash ends */
	static uint8_t met2[REHASH_NAMES];
	struct store_walk w2;
	int before2 = n;
	memset(met2, 0, sizeof(met2));
	store_walk_start(&s, &w2);
	for (int k = 0; k < 10 && (e = store_next(&s, &w2)); k++)
		met2[atoi((const char *)e->name + 2)]++;
	assert_true(w2.pos < s.ocap);
	while (s.ocap) {
		len = s.len;
		/* names of either table: found, not added again */
		add_counter(&s, n / 2);
		for (int i = n % 13; i < n; i += n / 16)
			merge_counter(&s, i);
		assert_int_equal(s.len, len);
		for (int k = 0; k < 50; k++)
			add_counter(&s, n++);
		store_rehash(&s, 97);
		for (int k = 0; k < 100 && (e = store_next(&s, &w)); k++)
			met[atoi((const char *)e->name + 2)]++;
		for (int i = 0; i < n; i += 7)
			assert_true(has_counter(&s, i));
		memset(visits, 0, sizeof(visits));
		assert_int_equal(store_foreach(&s, count_visits, visits), 0);
		for (int i = 0; i < n; i++)
			assert_int_equal(visits[i], 1);
		assert_int_equal(s.len, (size_t)n);
		assert_true(n < REHASH_NAMES);
	}
	assert_int_equal(s.tgen, gen + 2);
	assert_int_equal(s.olen, 0);
	while ((e = store_next(&s, &w)))
		met[atoi((const char *)e->name + 2)]++;
	assert_int_equal(w.restarts, 0);
	for (int i = 0; i < before; i++)
		assert_true(met[i] >= 1);
	while ((e = store_next(&s, &w2)))
		met2[atoi((const char *)e->name + 2)]++;
	assert_int_equal(w2.restarts, 0);
	for (int i = 0; i < before2; i++)
		assert_true(met2[i] >= 1);
	for (int i = 0; i < n; i++)
		assert_true(has_counter(&s, i));
	assert_false(store_rehash(&s, 1));
	store_done(&s);
}

/* A walk that slept through a whole rehash (begun and ended) cannot know
 * where its names went: it starts again, and still meets every name. */
static void test_walk_restarts_after_two_changes(void **state)
{
	struct store s;
	struct store_walk w;
	static uint8_t met[REHASH_NAMES];
	struct store_entry *e;
	int n = 0;

	memset(met, 0, sizeof(met));
	store_init(&s);
	while (s.cap < 16384)
		add_counter(&s, n++);
	store_walk_start(&s, &w);
	for (int k = 0; k < 1000; k++)
		assert_non_null(store_next(&s, &w));
	while (!s.ocap)
		add_counter(&s, n++);
	assert_false(store_rehash(&s, SIZE_MAX));
	while ((e = store_next(&s, &w)))
		met[atoi((const char *)e->name + 2)]++;
	assert_int_equal(w.restarts, 1);
	for (int i = 0; i < n; i++)
		assert_true(met[i] >= 1);
	store_done(&s);
}

/* The value of the register @name holds. */
static void assert_reg(struct store *s, const char *name, const char *want)
{
	struct crdt_obj *o;
	const uint8_t *v;
	size_t len;

	assert_int_equal(store_get(s, name, strlen(name), CRDT_LWWREG, false, &o), 0);
	assert_true(crdt_lwwreg_get(o->lww, &v, &len));
	assert_int_equal(len, strlen(want));
	assert_memory_equal(v, want, len);
}

/* A name made for a register keeps it inside its entry (store.h): made by
 * a write or by a merge, with a value inline or on the heap, written on
 * after a delete, its handle kept through the table's growth, beside a set
 * that came first or second; all of it freed by store_done (ASan). */
static void test_registers_every_way(void **state)
{
	struct store s;
	struct crdt_hlc h;
	struct crdt_obj *o, *kept, remote;
	char name[32], val[64];

	crdt_hlc_init(&h, NULL, NULL);
	store_init(&s);
	assert_int_equal(store_get(&s, "w", 1, CRDT_LWWREG, true, &kept), 0);
	assert_int_equal(crdt_lwwreg_set(kept->lww, &h, &s.self, "a heap value, not inline", 24), 0);
	live_state(CRDT_LWWREG, &r1, "short", &remote);
	assert_int_equal(store_merge(&s, "m", 1, &remote), 0);
	crdt_obj_done(&remote);
	live_state(CRDT_LWWREG, &r1, "a merged value on the heap", &remote);
	assert_int_equal(store_merge(&s, "mh", 2, &remote), 0);
	crdt_obj_done(&remote);
	/* a set first, a register second: the register is not inside */
	live_state(CRDT_ORSET, &r1, "x", &remote);
	assert_int_equal(store_merge(&s, "c", 1, &remote), 0);
	crdt_obj_done(&remote);
	live_state(CRDT_LWWREG, &r2, "conflict", &remote);
	assert_int_equal(store_merge(&s, "c", 1, &remote), 0);
	crdt_obj_done(&remote);
	assert_int_equal(store_entry_type(store_find(&s, "c", 1)), CRDT_ORSET);
	/* a register first, a set second */
	live_state(CRDT_ORSET, &r1, "y", &remote);
	assert_int_equal(store_merge(&s, "m", 1, &remote), 0);
	crdt_obj_done(&remote);
	assert_int_equal(store_entry_type(store_find(&s, "m", 1)), CRDT_ORSET);
	assert_true(crdt_lwwreg_live(store_entry_slot(store_find(&s, "m", 1), CRDT_LWWREG)->lww));
	/* deleted, then written on again */
	assert_int_equal(store_del(&s, "mh", 2), 1);
	assert_int_equal(store_get(&s, "mh", 2, CRDT_LWWREG, false, &o), -ENOENT);
	assert_int_equal(store_get(&s, "mh", 2, CRDT_LWWREG, true, &o), 0);
	assert_int_equal(crdt_lwwreg_set(o->lww, &h, &s.self, "again", 5), 0);
	/* the table grows many times; handles stay valid */
	for (int i = 0; i < 3000; i++) {
		int n = snprintf(name, sizeof(name), "reg:%06d", i);
		int vn = snprintf(val, sizeof(val), i % 2 ? "v%06d" : "a longer value %06d", i);
		assert_int_equal(store_get(&s, name, (size_t)n, CRDT_LWWREG, true, &o), 0);
		assert_int_equal(crdt_lwwreg_set(o->lww, &h, &s.self, val, (size_t)vn), 0);
	}
	assert_int_equal(crdt_lwwreg_set(kept->lww, &h, &s.self, "w2", 2), 0);
	assert_reg(&s, "w", "w2");
	assert_reg(&s, "mh", "again");
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "reg:%06d", i);
		snprintf(val, sizeof(val), i % 2 ? "v%06d" : "a longer value %06d", i);
		assert_reg(&s, name, val);
	}
	store_done(&s);
}

/* Two replicas create one name as two types: both states are kept on both
 * sides and the visible type is the lowest tag, whatever the merge order. */
static void test_type_conflict_resolves_the_same_everywhere(void **state)
{
	struct store a, b;
	struct crdt_obj *oa, *ob;
	struct store_entry *ea, *eb;

	store_init(&a);
	store_init(&b);
	assert_int_equal(store_get(&a, "cart", 4, CRDT_ORSET, true, &oa), 0);
	assert_int_equal(crdt_orset_add(oa->os, &r1, "laptop", 6), 0);
	assert_int_equal(store_get(&b, "cart", 4, CRDT_PNCOUNTER, true, &ob), 0);
	assert_int_equal(crdt_pncounter_inc(ob->pn, &r2, 3), 0);

	assert_int_equal(store_merge(&a, "cart", 4, ob), 0);
	assert_int_equal(store_merge(&b, "cart", 4, oa), 0);
	ea = store_find(&a, "cart", 4);
	eb = store_find(&b, "cart", 4);
	assert_int_equal(store_entry_type(ea), CRDT_PNCOUNTER);
	assert_int_equal(store_entry_type(eb), CRDT_PNCOUNTER);
	assert_true(crdt_obj_equal(store_entry_slot(ea, CRDT_ORSET), store_entry_slot(eb, CRDT_ORSET)));
	assert_true(crdt_orset_contains(store_entry_slot(eb, CRDT_ORSET)->os, "laptop", 6));
	assert_true(crdt_obj_equal(store_entry_slot(ea, CRDT_PNCOUNTER), store_entry_slot(eb, CRDT_PNCOUNTER)));
	assert_int_equal(a.stats.conflicts, 1);
	assert_int_equal(b.stats.conflicts, 1);
	/* the hidden side no longer answers commands */
	assert_int_equal(store_get(&a, "cart", 4, CRDT_ORSET, true, &oa), CRDT_ETYPE);
	store_done(&a);
	store_done(&b);
}

struct sub_log {
	int calls;
	bool remote, created;
	enum store_op op;
	enum crdt_type t;
	const struct crdt_obj *state;
	size_t n;
	char name[8];
	int order; /* the call count of all subscribers when this one ran */
};

static int sub_calls;

static void sub_changed(void *ctx, struct store_entry *e, enum crdt_type t,
			const struct store_change *c)
{
	struct sub_log *l = ctx;

	l->calls++;
	l->remote = c->remote;
	l->created = c->created;
	l->op = c->op;
	l->t = t;
	l->state = c->state;
	l->n = c->n;
	snprintf(l->name, sizeof(l->name), "%.*s", (int)e->name_len, e->name);
	l->order = ++sub_calls;
}

/* @log follows @s's change stream, with no room of its own. */
static int subscribe_log(struct store *s, struct sub_log *log)
{
	struct store_sub sub = { .changed = sub_changed, .ctx = log };

	return store_subscribe(s, &sub, NULL);
}

/* Every change is announced once to every subscriber, in subscription
 * order: a local write when its command says so, a remote state from
 * store_merge.  The store leaves the subscribers' fields alone. */
static void test_change_stream(void **state)
{
	struct store s;
	struct crdt_obj *o, remote;
	struct sub_log a = { 0 }, b = { 0 };
	const uint8_t *elems[1] = { (const uint8_t *)"x" };
	size_t lens[1] = { 1 };
	struct store_entry *e;

	store_init(&s);
	sub_calls = 0;
	assert_int_equal(subscribe_log(&s, &a), 0);
	assert_int_equal(subscribe_log(&s, &b), 0);
	assert_int_equal(store_get(&s, "a", 1, CRDT_GSET, true, &o), 0);
	e = store_find(&s, "a", 1);
	store_entry_inst(e, CRDT_GSET)->room[0] = 5;
	store_entry_inst(e, CRDT_GSET)->room[3] = 6;
	e->room[1] = 7;
	assert_int_equal(crdt_gset_add(o->gs, "x", 1), 1);
	store_changed(&s, e, CRDT_GSET,
		      &(struct store_change){ .op = STORE_OP_GSET_ADD, .n = 1, .elems = elems,
					      .lens = lens });
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_true(a.order < b.order);
	assert_false(a.remote);
	assert_int_equal(a.op, STORE_OP_GSET_ADD);
	assert_int_equal(a.t, CRDT_GSET);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.name, "a");
	assert_int_equal(store_entry_inst(e, CRDT_GSET)->room[0], 5);
	assert_int_equal(store_entry_inst(e, CRDT_GSET)->room[3], 6);
	assert_int_equal(e->room[1], 7);

	assert_int_equal(crdt_obj_new(CRDT_GCOUNTER, &remote), 0);
	assert_int_equal(store_merge(&s, "b", 1, &remote), 0);
	assert_int_equal(a.calls, 2);
	assert_int_equal(b.calls, 2);
	assert_true(b.remote);
	assert_int_equal(b.op, STORE_OP_STATE);
	assert_int_equal(b.t, CRDT_GCOUNTER);
	assert_ptr_equal(b.state, &remote);
	assert_string_equal(b.name, "b");
	assert_true(b.created); /* "b" held no counter: it is now that state */
	assert_int_equal(store_merge(&s, "b", 1, &remote), 0);
	assert_false(b.created); /* merged into the one it holds */
	assert_int_equal(b.calls, 3);
	crdt_obj_done(&remote);

	store_unsubscribe(&s, &a);
	store_changed(&s, e, CRDT_GSET, &(struct store_change){ .op = STORE_OP_STATE, .state = o });
	assert_int_equal(a.calls, 3);
	assert_int_equal(b.calls, 4);
	/* a full table says so */
	for (int i = 1; i < STORE_SUBS_MAX; i++)
		assert_int_equal(subscribe_log(&s, &a), 0);
	assert_int_equal(subscribe_log(&s, &a), -ENOSPC);
	store_done(&s);
}

/* The room beside each instance and entry: each subscriber gets its share
 * aligned for its size, a share of 8 bytes or more as low as it fits and a
 * smaller one as high (so the small first leave room for the large), a
 * share that does not fit is refused, and a share a former subscriber held is zeroed
 * before it is handed out again, in every instance of every entry. */
/* Subscribe @log with shares of @inst and @entry bytes of room (test_rooms). */
static int room_sub(struct store *s, struct sub_log *log, unsigned inst, unsigned entry,
		    struct store_room *room)
{
	return store_subscribe(s, &(struct store_sub){ .changed = sub_changed, .ctx = log,
						       .inst_room = inst, .entry_room = entry },
			       room);
}

static void test_rooms(void **state)
{
	struct store s;
	struct crdt_obj *o, remote;
	struct store_room ra, rb, rc;
	struct store_entry *e;
	struct sub_log a = { 0 }, b = { 0 }, c = { 0 };

	store_init(&s);
	assert_int_equal(store_get(&s, "a", 1, CRDT_GSET, true, &o), 0);
	live_state(CRDT_ORSET, &r2, "x", &remote); /* a second type under "a" */
	assert_int_equal(store_merge(&s, "a", 1, &remote), 0);
	crdt_obj_done(&remote);
	e = store_find(&s, "a", 1);
	for (size_t i = 0; i < STORE_INST_ROOM / 8; i++) /* zeroed at creation */
		assert_int_equal(store_entry_inst(e, CRDT_ORSET)->room[i], 0);
	assert_int_equal(e->room[0] | e->room[1], 0);

	/* beside an entry: 1 byte, at the top; 12, at 0; then 2, below the 1 */
	assert_int_equal(room_sub(&s, &a, 8, 1, &ra), 0);
	assert_int_equal(room_sub(&s, &b, 16, 12, &rb), 0);
	assert_int_equal(ra.inst, 0);
	assert_int_equal(ra.entry, 15);
	assert_int_equal(rb.inst, 8);
	assert_int_equal(rb.entry, 0);
	/* no room for 16 more beside an instance, nor 4 beside an entry */
	assert_int_equal(room_sub(&s, &c, 16, 0, &rc), -ENOSPC);
	assert_int_equal(room_sub(&s, &c, 0, 4, &rc), -ENOSPC);
	assert_int_equal(s.nsubs, 2);
	assert_int_equal(room_sub(&s, &c, 8, 2, &rc), 0);
	assert_int_equal(rc.inst, 24);
	assert_int_equal(rc.entry, 12);

	/* each writes its share; a change leaves them all as they are */
	for (int t = CRDT_GSET; t <= CRDT_ORSET; t += CRDT_ORSET - CRDT_GSET) {
		struct store_inst *in = store_entry_inst(e, (enum crdt_type)t);
		memset(store_inst_room(in, ra.inst), 0xa1, 8);
		memset(store_inst_room(in, rb.inst), 0xb2, 16);
		memset(store_inst_room(in, rc.inst), 0xc3, 8);
	}
	memset(store_entry_room(e, ra.entry), 0xa1, 1);
	memset(store_entry_room(e, rb.entry), 0xb2, 12);
	memset(store_entry_room(e, rc.entry), 0xc3, 2);
	store_changed(&s, e, CRDT_GSET, &(struct store_change){ .op = STORE_OP_STATE, .state = o });
	assert_int_equal(b.calls, 1);
	assert_int_equal(store_entry_inst(e, CRDT_ORSET)->room[1], 0xb2b2b2b2b2b2b2b2ULL);
	assert_int_equal(*(uint8_t *)store_entry_room(e, ra.entry), 0xa1);
	assert_int_equal(*(uint16_t *)store_entry_room(e, rc.entry), 0xc3c3);

	/* b goes; the next to come gets its shares, zeroed; the others keep theirs */
	store_unsubscribe(&s, &b);
	assert_int_equal(room_sub(&s, &b, 16, 4, &rb), 0);
	assert_int_equal(rb.inst, 8);
	assert_int_equal(rb.entry, 8);
	for (int t = CRDT_GSET; t <= CRDT_ORSET; t += CRDT_ORSET - CRDT_GSET) {
		struct store_inst *in = store_entry_inst(e, (enum crdt_type)t);
		assert_int_equal(in->room[0], 0xa1a1a1a1a1a1a1a1ULL);
		assert_int_equal(in->room[1] | in->room[2], 0);
		assert_int_equal(in->room[3], 0xc3c3c3c3c3c3c3c3ULL);
	}
	assert_int_equal(*(uint32_t *)store_entry_room(e, rb.entry), 0);
	assert_int_equal(*(uint8_t *)store_entry_room(e, ra.entry), 0xa1);
	assert_int_equal(*(uint16_t *)store_entry_room(e, rc.entry), 0xc3c3);
	store_done(&s);
}

/* A subscriber's answer to store_delta, and the state it gives to join into. */
struct delta_sub {
	enum store_delta_use use;
	struct crdt_obj *acc; /* NULL: it has none to give after all */
	int asked, fetched;
};

static enum store_delta_use sub_delta(void *ctx, struct store_entry *e, enum crdt_type t,
				      struct crdt_obj **acc)
{
	struct delta_sub *d = ctx;

	if (!acc) {
		d->asked++;
		return d->use;
	}
	d->fetched++;
	if (!d->acc)
		return STORE_DELTA_OWN;
	*acc = d->acc;
	return STORE_DELTA_JOIN;
}

/* store_delta: a write's delta is joined in place only when exactly one
 * subscriber needs it and only as its join; any that needs the write's own,
 * or a second join, or a join that cannot be given, makes it the write's
 * own; none that needs it: neither. */
static void test_delta_use(void **state)
{
	static const struct {
		enum store_delta_use a, b;
		bool a_gives, joined, own;
	} cases[] = {
		{ STORE_DELTA_NONE, STORE_DELTA_NONE, true, false, false },
		{ STORE_DELTA_JOIN, STORE_DELTA_NONE, true, true, false },
		{ STORE_DELTA_NONE, STORE_DELTA_JOIN, true, true, false },
		{ STORE_DELTA_JOIN, STORE_DELTA_OWN, true, false, true },
		{ STORE_DELTA_OWN, STORE_DELTA_JOIN, true, false, true },
		{ STORE_DELTA_JOIN, STORE_DELTA_JOIN, true, false, true },
		{ STORE_DELTA_JOIN, STORE_DELTA_NONE, false, false, true },
	};
	struct crdt_obj *o, acc_a = { 0 }, acc_b = { 0 }, *got;
	struct store_entry *e;
	struct sub_log log = { 0 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct store s;
		struct delta_sub a = { .use = cases[i].a, .acc = cases[i].a_gives ? &acc_a : NULL };
		struct delta_sub b = { .use = cases[i].b, .acc = &acc_b };
		bool own = !cases[i].own;

		store_init(&s);
		assert_int_equal(store_subscribe(&s, &(struct store_sub){ .changed = sub_changed,
									 .ctx = &log }, NULL), 0);
		assert_int_equal(store_subscribe(&s, &(struct store_sub){
					 .changed = sub_changed, .ctx = &a, .delta = sub_delta },
					 NULL),
				 0);
		assert_int_equal(store_subscribe(&s, &(struct store_sub){
					 .changed = sub_changed, .ctx = &b, .delta = sub_delta },
					 NULL),
				 0);
		assert_int_equal(store_get(&s, "a", 1, CRDT_ORSET, true, &o), 0);
		e = store_find(&s, "a", 1);
		got = store_delta(&s, e, CRDT_ORSET, &own);
		assert_int_equal(own, cases[i].own);
		if (cases[i].joined)
			assert_ptr_equal(got, cases[i].a == STORE_DELTA_JOIN ? &acc_a : &acc_b);
		else
			assert_null(got);
		/* only the one that joins is asked for its state */
		assert_int_equal(a.fetched + b.fetched,
				 cases[i].joined || !cases[i].a_gives ? 1 : 0);
		store_done(&s);
	}
}

static bool gm(const char *pat, const char *s)
{
	return glob_match((const uint8_t *)pat, strlen(pat), (const uint8_t *)s, strlen(s));
}

static void test_glob(void **state)
{
	assert_true(gm("*", ""));
	assert_true(gm("*", "anything"));
	assert_true(gm("user:*", "user:42"));
	assert_false(gm("user:*", "users:42"));
	assert_true(gm("h?llo", "hello"));
	assert_false(gm("h?llo", "hllo"));
	assert_true(gm("h[ae]llo", "hallo"));
	assert_false(gm("h[ae]llo", "hillo"));
	assert_true(gm("h[^e]llo", "hallo"));
	assert_false(gm("h[^e]llo", "hello"));
	assert_true(gm("h[a-c]llo", "hbllo"));
	assert_true(gm("a\\*b", "a*b"));
	assert_false(gm("a\\*b", "axb"));
	assert_true(gm("*a*b*c*", "xxaxxbxxcxx"));
	assert_false(gm("*a*b*c*", "xxaxxcxxbxx"));
	assert_false(gm("[", "a"));
	/* a pattern that is exponential for naive recursion stays fast */
	assert_false(gm("*a*a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static void test_new_store_new_id(void **state)
{
	struct store a, b;

	store_init(&a);
	store_init(&b);
	assert_false(crdt_rid_is_nil(&a.self));
	assert_int_not_equal(crdt_rid_cmp(&a.self, &b.self), 0);
	store_done(&a);
	store_done(&b);
}

/* store_merge_take: a state for a name that has no instance of its type is
 * moved in (the caller's left empty), a register still copied into its
 * entry; into an instance it has, merged, the caller's left as it was. */
static void test_merge_take(void **state)
{
	struct store s;
	struct crdt_obj a, b, copy, *o;
	char n[2] = { 0 };

	store_init(&s);
	for (enum crdt_type t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		n[0] = (char)('a' + t); /* a name a type */
		live_state(t, &r1, "x", &a);
		assert_int_equal(crdt_obj_copy(&a, &copy), 0);
		assert_int_equal(store_merge_take(&s, n, 1, &a, NULL, 0), 0);
		assert_int_equal(store_get(&s, n, 1, t, false, &o), 0);
		assert_true(crdt_obj_equal(o, &copy));
		if (t == CRDT_LWWREG) { /* inside its entry: copied */
			assert_int_equal(a.type, t);
			assert_true(crdt_obj_equal(&a, &copy));
		} else {
			assert_int_equal(a.type, 0);
			assert_null(a.p);
		}
		crdt_obj_done(&a); /* nothing, or the register's copy */
		/* into the instance it has now: merged, the caller's kept */
		live_state(t, &r2, "y", &b);
		assert_int_equal(crdt_obj_merge(&copy, &b), 0);
		assert_int_equal(store_merge_take(&s, n, 1, &b, NULL, 0), 0);
		assert_int_equal(b.type, t);
		assert_true(crdt_obj_live(&b));
		assert_int_equal(store_get(&s, n, 1, t, false, &o), 0);
		assert_true(crdt_obj_equal(o, &copy));
		crdt_obj_done(&b);
		crdt_obj_done(&copy);
	}
	store_done(&s);
}

struct walk_order {
	struct store *into; /* names added to it in the order walked */
	size_t n, same;     /* walked; at the place they hold in into's walk */
	const char **names;
};

static int walk_into_cb(struct store_entry *e, void *ctx)
{
	struct walk_order *w = ctx;
	struct crdt_obj *o;

	assert_int_equal(store_get(w->into, e->name, e->name_len, CRDT_GCOUNTER, true, &o), 0);
	w->n++;
	return 0;
}

static int walk_same_cb(struct store_entry *e, void *ctx)
{
	struct walk_order *w = ctx;

	w->same += !strcmp(w->names[w->n], (const char *)e->name);
	w->n++;
	return 0;
}

static int walk_names_cb(struct store_entry *e, void *ctx)
{
	struct walk_order *w = ctx;

	w->names[w->n++] = (const char *)e->name;
	return 0;
}

/* Two stores hash names with keys of their own: one's walk (a catch-up, a
 * full state) does not come in the other's slots' order.  With one hash
 * for every store it did, and linear probing piled the names so added
 * into one growing cluster (thousands of probes a lookup at 300,000
 * names). */
static void test_tables_in_orders_of_their_own(void **state)
{
	enum { N = 20000 };
	struct store a, b;
	struct walk_order w = { .into = &b };
	char k[16];

	store_init(&a);
	store_init(&b);
	for (int i = 0; i < N; i++) {
		struct crdt_obj *o;
		snprintf(k, sizeof(k), "k%07d", i);
		assert_int_equal(store_get(&a, k, strlen(k), CRDT_GCOUNTER, true, &o), 0);
	}
	store_foreach(&a, walk_into_cb, &w);
	assert_int_equal(w.n, N);
	assert_int_equal(b.len, N);
	/* b walks its names in an order unlike a's: few at the same place */
	w.names = malloc(N * sizeof(*w.names));
	assert_non_null(w.names);
	w.n = 0;
	store_foreach(&a, walk_names_cb, &w);
	w.n = 0;
	store_foreach(&b, walk_same_cb, &w);
	assert_int_equal(w.n, N);
	assert_true(w.same < N / 100);
	free(w.names);
	store_done(&a);
	store_done(&b);
}

/* A remote state that holds writes of our id that we never made: the store
 * stops writing under that id before merging, and keeps both histories. */
static void test_clash_takes_a_new_id(void **state)
{
	struct store s;
	struct crdt_obj *o, remote;
	struct crdt_rid old;
	struct crdt_hlc hlc;

	store_init(&s);
	old = s.self;
	/* counter: ours 5, theirs 3 under our id: a stale copy, no clash */
	assert_int_equal(store_get(&s, "c", 1, CRDT_PNCOUNTER, true, &o), 0);
	assert_int_equal(crdt_pncounter_inc(o->pn, &s.self, 5), 0);
	assert_int_equal(crdt_obj_new(CRDT_PNCOUNTER, &remote), 0);
	assert_int_equal(crdt_pncounter_inc(remote.pn, &old, 3), 0);
	assert_int_equal(store_merge(&s, "c", 1, &remote), 0);
	assert_int_equal(crdt_rid_cmp(&s.self, &old), 0);
	assert_int_equal(s.stats.rid_changes, 0);
	/* theirs 7: a history we never wrote */
	assert_int_equal(crdt_pncounter_inc(remote.pn, &old, 4), 0);
	assert_int_equal(store_merge(&s, "c", 1, &remote), 0);
	assert_int_not_equal(crdt_rid_cmp(&s.self, &old), 0);
	assert_int_equal(s.stats.rid_changes, 1);
	assert_int_equal(crdt_pncounter_inc(o->pn, &s.self, 2), 0);
	int64_t v;
	assert_int_equal(crdt_pncounter_value(o->pn, &v), 0);
	assert_int_equal(v, 9); /* max(5, 7) under the old id, 2 under the new */
	crdt_obj_done(&remote);

	/* OR-Set: a context past ours for our current id */
	old = s.self;
	assert_int_equal(store_get(&s, "o", 1, CRDT_ORSET, true, &o), 0);
	assert_int_equal(crdt_orset_add(o->os, &old, "x", 1), 0);
	assert_int_equal(crdt_obj_new(CRDT_ORSET, &remote), 0);
	assert_int_equal(crdt_orset_add(remote.os, &old, "x", 1), 0);
	assert_int_equal(store_merge(&s, "o", 1, &remote), 0);
	assert_int_equal(s.stats.rid_changes, 1); /* the same dot: no clash */
	assert_int_equal(crdt_orset_add(remote.os, &old, "y", 1), 0);
	assert_int_equal(store_merge(&s, "o", 1, &remote), 0);
	assert_int_equal(s.stats.rid_changes, 2);
	assert_true(crdt_orset_contains(o->os, "y", 1));
	crdt_obj_done(&remote);

	/* register written by our id at a time we never wrote */
	old = s.self;
	crdt_hlc_init(&hlc, NULL, NULL);
	assert_int_equal(store_get(&s, "r", 1, CRDT_LWWREG, true, &o), 0);
	assert_int_equal(crdt_lwwreg_set(o->lww, &hlc, &old, "a", 1), 0);
	assert_int_equal(crdt_obj_copy(o, &remote), 0);
	assert_int_equal(store_merge(&s, "r", 1, &remote), 0);
	assert_int_equal(s.stats.rid_changes, 2);
	assert_int_equal(crdt_lwwreg_set(remote.lww, &hlc, &old, "b", 1), 0);
	assert_int_equal(store_merge(&s, "r", 1, &remote), 0);
	assert_int_equal(s.stats.rid_changes, 3);
	crdt_obj_done(&remote);
	store_done(&s);
}

/* A name that comes to hold every type: each keeps its own state and the
 * subscribers' room beside it, the pointers handed out stay put as types arrive, and the
 * visible type is the lowest tag. */
static void test_every_type_under_one_name(void **state)
{
	struct store s;
	struct store_entry *e;
	struct crdt_obj *first, remote;

	store_init(&s);
	assert_int_equal(store_get(&s, "n", 1, CRDT_LWWREG, true, &first), 0);
	live_state(CRDT_LWWREG, &r1, "v", &remote);
	assert_int_equal(crdt_obj_merge(first, &remote), 0);
	crdt_obj_done(&remote);
	e = store_find(&s, "n", 1);
	store_entry_inst(e, CRDT_LWWREG)->room[0] = 7;
	store_entry_inst(e, CRDT_LWWREG)->room[3] = 9;
	for (int t = CRDT_TYPE_MAX; t >= CRDT_TYPE_MIN; t--) {
		if (t == CRDT_LWWREG)
			continue;
		live_state((enum crdt_type)t, &r2, "x", &remote);
		assert_int_equal(store_merge(&s, "n", 1, &remote), 0);
		crdt_obj_done(&remote);
		assert_int_equal(store_entry_type(e), t < CRDT_LWWREG ? t : CRDT_LWWREG);
		store_entry_inst(e, (enum crdt_type)t)->room[3] = 100 + (uint64_t)t;
	}
	assert_int_equal(s.stats.conflicts, 1);
	assert_ptr_equal(store_entry_slot(e, CRDT_LWWREG), first);
	assert_int_equal(store_entry_inst(e, CRDT_LWWREG)->room[0], 7);
	assert_int_equal(store_entry_inst(e, CRDT_LWWREG)->room[3], 9);
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++)
		assert_int_equal(store_entry_slot(e, (enum crdt_type)t)->type, t);
	assert_int_equal(store_entry_inst(e, CRDT_GSET)->room[3], 100 + CRDT_GSET);
	assert_null(store_entry_slot(store_find(&s, "n", 1), 0));
	store_done(&s);
}

/* What the change stream saw: local changes and whether they carried a
 * state that is no longer live (a delete's). */
struct seen {
	int local, dead;
};

static void seen_cb(void *ctx, struct store_entry *e, enum crdt_type t,
		    const struct store_change *c)
{
	struct seen *n = ctx;

	if (!c->remote) {
		n->local++;
		n->dead += c->op == STORE_OP_CLEAR && c->state && !crdt_obj_live(c->state);
	}
}

static int count_cb(struct store_entry *e, void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

/* DEL: one path for every type; the deleted instance stays, invisible, and
 * replicates; a concurrent write survives; a later write starts afresh,
 * as any type, ending a type conflict; grow-only types refuse. */
/* store_prefetch (the receiver's look-ahead) reads only: on an empty
 * store, an absent name and a present one, nothing changes. */
static void test_prefetch_reads_only(void **state)
{
	struct store s;
	struct crdt_obj *o;

	store_init(&s);
	store_prefetch(&s, "a", 1, false);
	store_prefetch(&s, "a", 1, true);
	assert_int_equal(s.len, 0);
	assert_int_equal(store_get(&s, "a", 1, CRDT_GCOUNTER, true, &o), 0);
	store_prefetch(&s, "a", 1, false);
	store_prefetch(&s, "a", 1, true);
	store_prefetch(&s, "zz", 2, true);
	assert_int_equal(s.len, 1);
	assert_non_null(store_find(&s, "a", 1));
	assert_null(store_find(&s, "zz", 2));
	store_done(&s);
}

static void test_del(void **state)
{
	struct store s;
	struct seen seen = { 0 };
	struct crdt_obj *o, *o2, before, later;
	struct store_entry *e;
	int n = 0;

	store_init(&s);
	assert_int_equal(store_subscribe(&s, &(struct store_sub){ .changed = seen_cb, .ctx = &seen },
					 NULL),
			 0);
	assert_int_equal(store_del(&s, "k", 1), 0);
	assert_int_equal(store_get(&s, "k", 1, CRDT_ORSET, true, &o), 0);
	assert_int_equal(crdt_orset_add(o->os, &s.self, "x", 1), 0);
	assert_int_equal(crdt_obj_copy(o, &before), 0);
	assert_int_equal(store_del(&s, "k", 1), 1);
	assert_int_equal(seen.local, 1);
	assert_int_equal(seen.dead, 1);
	e = store_find(&s, "k", 1);
	assert_non_null(e);
	assert_int_equal(store_entry_type(e), 0);
	assert_int_equal(store_get(&s, "k", 1, CRDT_ORSET, false, &o2), -ENOENT);
	assert_int_equal(store_del(&s, "k", 1), 0); /* absent: nothing announced */
	assert_int_equal(seen.local, 1);
	store_foreach(&s, count_cb, &n);
	assert_int_equal(n, 1); /* still stored and replicated */

	/* the state the delete saw, merged again, stays deleted; an add it
	 * did not see survives */
	assert_int_equal(store_merge(&s, "k", 1, &before), 0);
	assert_int_equal(store_entry_type(e), 0);
	assert_int_equal(crdt_orset_add(before.os, &r2, "y", 1), 0);
	assert_int_equal(store_merge(&s, "k", 1, &before), 0);
	assert_int_equal(store_entry_type(e), CRDT_ORSET);
	assert_false(crdt_orset_contains(o->os, "x", 1));
	assert_true(crdt_orset_contains(o->os, "y", 1));
	crdt_obj_done(&before);

	/* a type conflict: both types go, and the next write picks the type */
	live_state(CRDT_LWWREG, &r2, "v", &later);
	assert_int_equal(store_merge(&s, "k", 1, &later), 0);
	crdt_obj_done(&later);
	assert_int_equal(store_entry_type(e), CRDT_ORSET);
	assert_int_equal(store_del(&s, "k", 1), 1);
	assert_int_equal(store_entry_type(e), 0);
	assert_int_equal(s.stats.conflicts, 1);
	assert_int_equal(store_get(&s, "k", 1, CRDT_PNCOUNTER, true, &o2), 0);
	assert_int_equal(crdt_pncounter_inc(o2->pn, &s.self, 4), 0);
	assert_int_equal(store_entry_type(e), CRDT_PNCOUNTER);
	/* the same type again after a delete: the same instance, written on */
	assert_int_equal(store_del(&s, "k", 1), 1);
	assert_int_equal(store_get(&s, "k", 1, CRDT_ORSET, true, &o2), 0);
	assert_ptr_equal(o2, o);
	/* a type arriving beside deleted ones is no conflict */
	live_state(CRDT_LWWREG, &r2, "w", &later);
	later.lww->ts.ms += 1000; /* after the tombstone of "v", made in the same ms maybe */
	assert_int_equal(store_merge(&s, "k", 1, &later), 0);
	crdt_obj_done(&later);
	assert_int_equal(store_entry_type(e), CRDT_LWWREG);
	assert_int_equal(s.stats.conflicts, 1);

	/* grow-only: refused, nothing changed */
	assert_int_equal(store_get(&s, "g", 1, CRDT_GSET, true, &o), 0);
	assert_int_equal(store_del(&s, "g", 1), -EOPNOTSUPP);
	assert_int_equal(store_entry_undeletable(store_find(&s, "g", 1)), CRDT_GSET);
	assert_int_equal(store_entry_type(store_find(&s, "g", 1)), CRDT_GSET);
	store_done(&s);
}

/* SCAN's walk (store_scan): about COUNT entries a step; from cursor 0 to 0
 * every entry once while the table stands still, and every entry held
 * throughout at least once while it doubles between steps. */
static int scan_count(struct store_entry *e, void *ctx)
{
	uint8_t *seen = ctx;
	int i;

	assert_true(e->name[0] == 'o' || e->name[0] == 'n');
	if (e->name[0] == 'o') {
		i = atoi((const char *)e->name + 1);
		assert_true(i >= 0 && i < 3000);
		if (seen[i] < 255)
			seen[i]++;
	}
	return 0;
}

static void test_scan(void **state)
{
	struct store s;
	struct crdt_obj *o;
	uint8_t seen[3000];
	char name[32];
	int added = 0;

	store_init(&s);
	assert_int_equal(store_scan(&s, 0, 10, scan_count, seen), 0); /* empty */
	for (int i = 0; i < 3000; i++) {
		int n = snprintf(name, sizeof(name), "o%d", i);
		assert_int_equal(store_get(&s, name, (size_t)n, CRDT_GCOUNTER, true, &o), 0);
	}
	for (int pass = 0; pass < 2; pass++) {
		uint64_t cur = 0;
		size_t steps = 0, cap0 = s.cap;
		memset(seen, 0, sizeof(seen));
		do {
			cur = store_scan(&s, cur, 1 + (steps * 7) % 30, scan_count, seen);
			steps++;
			if (pass == 1 && steps % 3 == 0 && added < 24000) /* it doubles under the scan */
				for (int k = 0; k < 400; k++, added++) {
					int n = snprintf(name, sizeof(name), "n%d", added);
					assert_int_equal(store_get(&s, name, (size_t)n, CRDT_GCOUNTER,
								   true, &o), 0);
				}
			assert_true(steps < 100000);
		} while (cur);
		for (int i = 0; i < 3000; i++)
			if (pass == 0)
				assert_int_equal(seen[i], 1);
			else
				assert_true(seen[i] >= 1);
		if (pass == 0)
			assert_true(steps > 3000 / 30); /* steps, not the whole table at once */
		else
			assert_true(s.cap >= 4 * cap0);
	}
	store_done(&s);
}

/* SCAN while the table is rehashed: with the rehash standing still, a scan
 * from 0 to 0 meets every name exactly once (a bucket of the smaller table
 * and the buckets it splits into in the larger); with slices moved and
 * names added between its steps, every name held throughout at least
 * once. */
static void test_scan_while_rehashing(void **state)
{
	struct store s;
	static uint8_t visits[REHASH_NAMES];
	int n = 0;

	store_init(&s);
	while (s.ocap < 16384) {
		add_counter(&s, n++);
		assert_true(n < REHASH_NAMES);
	}
	store_rehash(&s, s.ocap / 3);
	for (int pass = 0; pass < 2; pass++) {
		int held = n;
		uint64_t cur = 0;
		size_t steps = 0;

		memset(visits, 0, sizeof(visits));
		do {
			cur = store_scan(&s, cur, 1 + steps % 20, count_visits, visits);
			if (pass == 1 && s.ocap) {
				store_rehash(&s, 61);
				for (int k = 0; k < 3 && n < REHASH_NAMES; k++)
					add_counter(&s, n++);
			}
			assert_true(++steps < 100000);
		} while (cur);
		for (int i = 0; i < held; i++)
			if (pass == 0)
				assert_int_equal(visits[i], 1);
			else
				assert_true(visits[i] >= 1);
		if (pass == 0)
			assert_true(s.ocap != 0); /* it stood still */
	}
	assert_int_equal(s.ocap, 0); /* and ended under the second scan */
	store_done(&s);
}

/* The rehash against a model, seeded: names added (new, or again; by a
 * command's store_get or a peer's store_merge), slices
 * of every size, a walk and a SCAN under way throughout, each begun again
 * when it ends.  Every name is found, none twice; every walk and every
 * scan meets each name held from its start to its end. */
#define MODEL_NAMES 30000

static void test_rehash_model(void **state)
{
	static uint8_t held[MODEL_NAMES], walk_met[MODEL_NAMES], scan_met[MODEL_NAMES];
	static uint8_t walk_from[MODEL_NAMES], scan_from[MODEL_NAMES];
	struct rng rng = { .s = test_seed("store rehash model") };
	struct store s;
	struct store_walk w;
	struct store_entry *e;
	uint64_t cur = 0;
	size_t n = 0, walks = 0, scans = 0, rehashes = 0;

	memset(held, 0, sizeof(held));
	memset(walk_met, 0, sizeof(walk_met));
	memset(scan_met, 0, sizeof(scan_met));
	store_init(&s);
	store_walk_start(&s, &w);
	memcpy(walk_from, held, sizeof(held));
	memcpy(scan_from, held, sizeof(held));
	for (int step = 0; step < 120000; step++) {
		bool was = s.ocap != 0;
		switch (rng_below(&rng, 8)) {
		case 0: case 1: case 2: { /* a name: the next new one, or one held */
			int i = (int)(rng_below(&rng, 4) && n < MODEL_NAMES ? n : rng_below(&rng, n + 1));
			if (i >= MODEL_NAMES)
				i = MODEL_NAMES - 1;
			if (rng_below(&rng, 3)) {
				add_counter(&s, i);
			} else { /* as a peer's state: store_merge's own lookup */
				merge_counter(&s, i);
			}
			n += !held[i];
			held[i] = 1;
			break;
		}
		case 3:
			store_rehash(&s, rng_below(&rng, 3) ? rng_below(&rng, 64) : rng_below(&rng, 5000));
			break;
		case 4: case 5:
			for (int k = (int)rng_below(&rng, 50); k >= 0; k--) {
				if (!(e = store_next(&s, &w))) {
					for (int i = 0; i < MODEL_NAMES; i++)
						if (walk_from[i])
							assert_true(walk_met[i]);
					memset(walk_met, 0, sizeof(walk_met));
					memcpy(walk_from, held, sizeof(held));
					store_walk_start(&s, &w);
					walks++;
					break;
				}
				walk_met[atoi((const char *)e->name + 2)] = 1;
			}
			break;
		case 6:
			cur = store_scan(&s, cur, 1 + rng_below(&rng, 40), count_visits, scan_met);
			if (!cur) {
				for (int i = 0; i < MODEL_NAMES; i++)
					if (scan_from[i])
						assert_true(scan_met[i]);
				memset(scan_met, 0, sizeof(scan_met));
				memcpy(scan_from, held, sizeof(held));
				scans++;
			}
			break;
		default: { /* a lookup */
			int i = (int)rng_below(&rng, MODEL_NAMES);
			assert_int_equal(has_counter(&s, i), held[i]);
		}
		}
		rehashes += !was && s.ocap;
		assert_int_equal(s.len, n);
	}
	/* every name, once */
	memset(scan_met, 0, sizeof(scan_met));
	assert_int_equal(store_foreach(&s, count_visits, scan_met), 0);
	for (int i = 0; i < MODEL_NAMES; i++)
		assert_int_equal(scan_met[i], held[i]);
	/* the run saw incremental rehashes (from 16,384 and 32,768 slots),
	 * and walks and scans finish */
	assert_int_equal(n, MODEL_NAMES);
	assert_true(rehashes >= 2);
	assert_true(walks >= 2);
	assert_true(scans >= 2);
	store_done(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_creates_and_checks_type),
		cmocka_unit_test(test_fingerprint_kept_from_creation),
		cmocka_unit_test(test_many_names_survive_growth),
		cmocka_unit_test(test_registers_every_way),
		cmocka_unit_test(test_table_doubles),
		cmocka_unit_test(test_rehash_incremental),
		cmocka_unit_test(test_walk_restarts_after_two_changes),
		cmocka_unit_test(test_type_conflict_resolves_the_same_everywhere),
		cmocka_unit_test(test_every_type_under_one_name),
		cmocka_unit_test(test_change_stream),
		cmocka_unit_test(test_rooms),
		cmocka_unit_test(test_delta_use),
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_new_store_new_id),
		cmocka_unit_test(test_tables_in_orders_of_their_own),
		cmocka_unit_test(test_merge_take),
		cmocka_unit_test(test_reserve),
		cmocka_unit_test(test_table_made_ready_ahead),
		cmocka_unit_test(test_clash_takes_a_new_id),
		cmocka_unit_test(test_del),
		cmocka_unit_test(test_lazyfree),
		cmocka_unit_test(test_prefetch_reads_only),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_scan_while_rehashing),
		cmocka_unit_test(test_rehash_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
