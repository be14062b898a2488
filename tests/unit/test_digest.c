/* The digest: per-bucket sums of instance fingerprints, kept from the
 * store's change stream.  Equal stores, equal buckets, whatever path they
 * took; one changed instance, one changed bucket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crdt/error.h"
#include "gossip/digest.h"
#include "state/store.h"

static void rid_n(struct crdt_rid *id, uint8_t n)
{
	memset(id->b, 0, sizeof(id->b));
	id->b[0] = n;
}

static uint64_t clock_1000(void *ctx)
{
	(void)ctx;
	return 1000;
}

static int name_of(char *buf, size_t size, int i)
{
	return snprintf(buf, size, "key:%d", i);
}

/* Type of the i-th name: every type in turn. */
static enum crdt_type type_of(int i)
{
	return (enum crdt_type)(CRDT_TYPE_MIN + i % (CRDT_TYPE_MAX - CRDT_TYPE_MIN + 1));
}

/* A local write of replica @n to name @i, announced as a command does. */
static void local_write(struct store *s, int i, uint8_t n, int v)
{
	struct crdt_rid id;
	struct crdt_hlc h;
	struct crdt_obj *o;
	char name[32], e[16];
	int len = name_of(name, sizeof(name), i);
	int elen = snprintf(e, sizeof(e), "e%d", v);

	rid_n(&id, n);
	crdt_hlc_init(&h, clock_1000, NULL);
	assert_int_equal(store_get(s, name, (size_t)len, type_of(i), true, &o), 0);
	switch (o->type) {
	case CRDT_GCOUNTER: assert_int_equal(crdt_gcounter_inc(o->gc, &id, (uint64_t)v + 1), 0); break;
	case CRDT_PNCOUNTER: assert_int_equal(crdt_pncounter_dec(o->pn, &id, v + 1), 0); break;
	case CRDT_GSET: assert_true(crdt_gset_add(o->gs, e, (size_t)elen) >= 0); break;
	case CRDT_ORSET: assert_int_equal(crdt_orset_add(o->os, &id, e, (size_t)elen), 0); break;
	case CRDT_LWWREG: assert_int_equal(crdt_lwwreg_set(o->lww, &h, &id, e, (size_t)elen), 0); break;
	case CRDT_ORMAP:
		assert_int_equal(crdt_ormap_set(o->om, &h, &id, e, (size_t)elen, e, 1, NULL), 0);
		break;
	}
	store_changed(s, store_find(s, name, (size_t)len), o->type,
		      &(struct store_change){ .op = STORE_OP_STATE, .state = o });
}

/* Merge every instance of @from into @into, as gossip would: through
 * store_merge, which announces each as a remote change. */
static int copy_cb(struct store_entry *e, void *ctx)
{
	struct store *into = ctx;

	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		struct crdt_obj *o = store_entry_slot(e, (enum crdt_type)t);
		if (o)
			assert_int_equal(store_merge(into, e->name, e->name_len, o), 0);
	}
	return 0;
}

static int differing(const struct digest *a, const struct digest *b, uint32_t *ret_last)
{
	int n = 0;

	for (uint32_t i = 0; i < DIGEST_BUCKETS; i++)
		if (a->bucket[i] != b->bucket[i]) {
			n++;
			*ret_last = i;
		}
	return n;
}

#define NAMES 3000

/* Replicas 1 and 2 write every name, each in a store of its own; store a
 * merges 1's states then 2's, store b 2's then 1's, store c a's: all three
 * digests agree bucket for bucket.  One more write to one instance of a
 * moves exactly that instance's bucket, and its merge into b brings the two
 * back level. */
/* The refresh a slice at a time: a store written past the list's bound is
 * walked a few entries a call, while writes go on ahead of the walk and
 * behind it (and new names make the table grow, moving every entry: the
 * walk starts again); when digest_refresh_some says it is done, the digest
 * equals one refreshed after every write.  No call refreshes more than its
 * slice. */
static void test_refresh_in_slices(void **state)
{
	struct store a, b;
	struct digest *da, *db;
	const int n = 4 * DIGEST_STALE_MIN;
	uint32_t last;
	int calls = 0, extra = n;

	store_init(&a);
	store_init(&b);
	assert_int_equal(digest_new(&a, &da), 0);
	assert_int_equal(digest_new(&b, &db), 0);
	for (int i = 0; i < n; i++) {
		local_write(&a, i, 1, i);
		local_write(&b, i, 1, i);
		digest_refresh(db); /* b's digest never overflows */
	}
	assert_true(da->walking);
	for (;;) {
		uint64_t before = da->stats.refreshed;
		bool done = digest_refresh_some(da, 100);
		assert_true(da->stats.refreshed - before <= 100);
		calls++;
		assert_true(calls < 10000);
		if (done)
			break;
		/* behind the walk, ahead of it, and new names */
		local_write(&a, calls % n, 3, calls);
		local_write(&b, calls % n, 3, calls);
		digest_refresh(db);
		for (int k = 0; k < (calls == 5 ? 3 * n : calls % 3 == 0); k++) {
			/* (once, enough names to rebuild the table) */
			local_write(&a, extra, 1, 1);
			local_write(&b, extra, 1, 1);
			digest_refresh(db);
			extra++;
		}
	}
	assert_true(extra > 4 * n);
	assert_true(calls >= n / 100);
	digest_refresh(db);
	assert_int_equal(differing(da, db, &last), 0);
	assert_int_equal(digest_root(da), digest_root(db));
	digest_free(da);
	digest_free(db);
	store_done(&a);
	store_done(&b);
}

static void test_equal_stores_equal_digests(void **state)
{
	struct store r1, r2, a, b, c;
	struct digest *da, *db, *dc;
	uint32_t last = 0;
	char name[32];
	int len;

	store_init(&r1);
	store_init(&r2);
	store_init(&a);
	store_init(&b);
	store_init(&c);
	assert_int_equal(digest_new(&a, &da), 0);
	assert_int_equal(digest_new(&b, &db), 0);
	assert_int_equal(digest_new(&c, &dc), 0);
	for (int i = 0; i < NAMES; i++) {
		local_write(&r1, i, 1, i);
		local_write(&r2, NAMES - 1 - i, 2, i * 7);
	}
	store_foreach(&r1, copy_cb, &a);
	store_foreach(&r2, copy_cb, &a);
	store_foreach(&r2, copy_cb, &b);
	store_foreach(&r1, copy_cb, &b);
	store_foreach(&a, copy_cb, &c);
	assert_int_equal(digest_refresh(da), NAMES);
	assert_int_equal(digest_refresh(db), NAMES);
	assert_int_equal(digest_refresh(dc), NAMES);
	assert_int_equal(differing(da, db, &last), 0);
	assert_int_equal(differing(da, dc, &last), 0);
	assert_int_equal(digest_root(da), digest_root(db));
	assert_int_not_equal(digest_root(da), 0);

	/* nothing changed: a refresh costs nothing and moves nothing */
	assert_int_equal(digest_refresh(da), 0);

	local_write(&a, 42, 3, 1);
	local_write(&a, 42, 3, 2); /* twice: still one instance to refresh */
	assert_int_equal(digest_refresh(da), 1);
	assert_int_equal(differing(da, db, &last), 1);
	len = name_of(name, sizeof(name), 42);
	assert_int_equal(last, digest_bucket_of(digest_name_key((const uint8_t *)name, (size_t)len)));
	assert_int_not_equal(digest_root(da), digest_root(db));
	assert_int_equal(store_merge(&b, name, (size_t)len,
				     store_entry_slot(store_find(&a, name, (size_t)len), type_of(42))),
			 0);
	assert_int_equal(digest_refresh(db), 1);
	assert_int_equal(differing(da, db, &last), 0);

	digest_free(da);
	digest_free(db);
	digest_free(dc);
	store_done(&r1);
	store_done(&r2);
	store_done(&a);
	store_done(&b);
	store_done(&c);
}

/* A digest made over a store that already holds instances (the journal's
 * load) counts them all at its first refresh, exactly as a digest that
 * watched them arrive; a second digest of the same store starts afresh. */
static void test_existing_contents(void **state)
{
	struct store a, b;
	struct digest *da, *db, *db2;
	uint32_t last;

	store_init(&a);
	store_init(&b);
	assert_int_equal(digest_new(&a, &da), 0);
	for (int i = 0; i < 500; i++) {
		local_write(&a, i, 1, i);
		local_write(&b, i, 1, i);
	}
	assert_int_equal(digest_new(&b, &db), 0);
	assert_int_equal(digest_refresh(da), 500);
	assert_int_equal(digest_refresh(db), 500);
	assert_int_equal(differing(da, db, &last), 0);
	digest_free(db);
	local_write(&b, 7, 2, 1); /* seen by no digest */
	assert_int_equal(digest_new(&b, &db2), 0);
	assert_int_equal(digest_refresh(db2), 500);
	assert_int_equal(differing(da, db2, &last), 1);
	digest_free(da);
	digest_free(db2);
	store_done(&a);
	store_done(&b);
}

/* A name that holds two types (a type conflict) counts both states. */
static void test_type_conflict_counts_both(void **state)
{
	struct store a, b;
	struct digest *da, *db;
	struct crdt_obj *o, reg;
	struct crdt_rid r1;
	struct crdt_hlc h;
	uint32_t last;

	rid_n(&r1, 1);
	store_init(&a);
	store_init(&b);
	assert_int_equal(digest_new(&a, &da), 0);
	assert_int_equal(digest_new(&b, &db), 0);
	local_write(&a, 0, 1, 0); /* key:0, the first type */
	local_write(&b, 0, 1, 0);
	crdt_hlc_init(&h, clock_1000, NULL);
	assert_int_equal(crdt_obj_new(CRDT_LWWREG, &reg), 0);
	assert_int_equal(crdt_lwwreg_set(reg.lww, &h, &r1, "v", 1), 0);
	assert_int_equal(store_merge(&a, "key:0", 5, &reg), 0);
	crdt_obj_done(&reg);
	assert_int_equal(digest_refresh(da), 2);
	assert_int_equal(digest_refresh(db), 1);
	assert_int_equal(differing(da, db, &last), 1);
	o = store_entry_slot(store_find(&a, "key:0", 5), CRDT_LWWREG);
	assert_non_null(o);
	assert_int_equal(store_merge(&b, "key:0", 5, o), 0);
	assert_int_equal(digest_refresh(db), 2);
	assert_int_equal(differing(da, db, &last), 0);
	digest_free(da);
	digest_free(db);
	store_done(&a);
	store_done(&b);
}

/* A store written without refreshes (a daemon with no peers) lists at most
 * DIGEST_STALE_MIN or a 1/DIGEST_STALE_FRACTION of its names as stale:
 * past that the list is dropped (the changes after it listed again), and
 * the next refresh walks the store and counts exactly what a digest
 * refreshed after every write counts, each entry once. */
/* Two empty stores, each with its digest, written alike by the tests. */
struct pair {
	struct store a, b;
	struct digest *da, *db;
};

static void pair_init(struct pair *p)
{
	store_init(&p->a);
	store_init(&p->b);
	assert_int_equal(digest_new(&p->a, &p->da), 0);
	assert_int_equal(digest_new(&p->b, &p->db), 0);
}

static void pair_write(struct pair *p, int i, uint8_t n, int v)
{
	local_write(&p->a, i, n, v);
	local_write(&p->b, i, n, v);
}

static void pair_done(struct pair *p)
{
	digest_free(p->da);
	digest_free(p->db);
	store_done(&p->a);
	store_done(&p->b);
}

static void test_stale_list_bounded(void **state)
{
	struct pair p;
	const int n = 4 * DIGEST_STALE_MIN;
	uint32_t last;

	pair_init(&p);
	for (int i = 0; i < n; i++) {
		pair_write(&p, i, 1, i);
		if (i < DIGEST_STALE_MIN)
			assert_int_equal(p.da->nstale, (size_t)i + 1);
		assert_true(p.da->nstale <= DIGEST_STALE_MIN);
		assert_int_equal(digest_refresh(p.db), 1);
	}
	assert_true(p.da->walking);
	assert_int_equal(digest_refresh(p.da), (size_t)n);
	assert_false(p.da->walking);
	assert_int_equal(p.da->nstale, 0);
	assert_int_equal(differing(p.da, p.db, &last), 0);
	assert_int_equal(digest_root(p.da), digest_root(p.db));
	/* listed again from the next change on */
	local_write(&p.a, 3, 2, 1);
	assert_int_equal(p.da->nstale, 1);
	assert_int_equal(digest_refresh(p.da), 1);
	assert_int_not_equal(digest_root(p.da), digest_root(p.db));
	pair_done(&p);
}

/* An overflow drops a long list without touching its entries: the
 * refresh unmarks them a slice at a time, within its budget, before the
 * walk begins; entries changed meanwhile (still marked) are the walk's.
 * The digest ends equal to one refreshed change by change. */
static void test_overflow_unmarked_in_slices(void **state)
{
	struct pair p;
	const int n = 40000, m = n / DIGEST_STALE_FRACTION;
	uint32_t last;

	pair_init(&p);
	for (int i = 0; i < n; i++)
		pair_write(&p, i, 1, i);
	digest_refresh(p.da);
	digest_refresh(p.db);
	for (int i = 0; i < m; i++) /* a full list */
		pair_write(&p, i, 2, i);
	assert_int_equal(p.da->nstale, (size_t)m);
	assert_false(p.da->walking);
	pair_write(&p, m, 2, m); /* one more: the list is dropped */
	assert_true(p.da->walking);
	assert_int_equal(p.da->nstale, 0);
	assert_int_equal(p.da->ndropped, (size_t)m);
	assert_false(digest_refresh_some(p.da, 100));
	assert_int_equal(p.da->ndropped, (size_t)m - 100);
	/* changed again, one unmarked and one still in the dropped list */
	pair_write(&p, m - 1, 3, 7); /* the last listed: unmarked first */
	pair_write(&p, 0, 3, 7);
	assert_int_equal(p.da->nstale, 1);
	while (!digest_refresh_some(p.da, 100))
		;
	assert_int_equal(p.da->ndropped, 0);
	assert_null(p.da->dropped);
	digest_refresh(p.db);
	assert_int_equal(differing(p.da, p.db, &last), 0);
	assert_int_equal(digest_root(p.da), digest_root(p.db));
	pair_done(&p);
}

static uint64_t fake_now;

static uint64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

/* @s on the fake clock, reclaiming names 1,000 ms after their DEL, and
 * its digest @d. */
static void reclaiming_store_init(struct store *s, struct digest **d)
{
	fake_now = 1000;
	store_set_clock(fake_clock, NULL);
	store_init(s);
	store_set_reclaim(s, 1000);
	assert_int_equal(digest_new(s, d), 0);
}

/* Names the store reclaims (store_reclaim) leave the digest as if they had
 * never been there: its buckets and members equal a fresh digest's of what
 * is left, whether the entries were counted (refreshed) or still stale. */
static void test_reclaimed_uncounted(void **state)
{
	struct store a;
	struct digest *da, *fresh;
	char name[32];

	(void)state;
	reclaiming_store_init(&a, &da);
	for (int i = 0; i < 300; i++)
		local_write(&a, i, 1, i);
	digest_refresh(da);
	/* every deletable name: half deleted before the refresh, half after */
	for (int i = 0; i < 300; i++) {
		int len = name_of(name, sizeof(name), i);

		if (i == 150)
			digest_refresh(da);
		if (type_of(i) != CRDT_GCOUNTER && type_of(i) != CRDT_GSET)
			assert_int_equal(store_del(&a, name, (size_t)len), 1);
	}
	fake_now = 2000;
	store_reclaim(&a, 1000);
	assert_int_equal(a.stats.reclaimed, 200);
	digest_refresh(da);
	assert_int_equal(digest_new(&a, &fresh), 0);
	digest_refresh(fresh);
	for (uint32_t b = 0; b < DIGEST_BUCKETS; b++) {
		assert_int_equal(da->bucket[b], fresh->bucket[b]);
		assert_int_equal(da->members[b].n, fresh->members[b].n);
	}
	digest_free(fresh);
	digest_free(da);
	store_done(&a);
	store_set_clock(NULL, NULL);
}

/* Names whose digest bucket is @b: the @n first "c<i>" that fall there. */
static int crowd_names(char (*v)[16], int n, uint32_t b)
{
	int k = 0;

	for (int i = 0; k < n; i++) {
		int len = snprintf(v[k], sizeof(v[k]), "c%d", i);
		if (digest_bucket_of(digest_name_key((const uint8_t *)v[k], (size_t)len)) == b)
			k++;
	}
	return k;
}

/* A register written under @name in @s, announced. */
static void reg_write(struct store *s, const char *name)
{
	struct crdt_obj *o;
	struct crdt_rid id;
	struct crdt_hlc h;

	rid_n(&id, 1);
	crdt_hlc_init(&h, clock_1000, NULL);
	assert_int_equal(store_get(s, name, strlen(name), CRDT_LWWREG, true, &o), 0);
	assert_int_equal(crdt_lwwreg_set(o->lww, &h, &id, "v", 1), 0);
	store_changed(s, store_find(s, name, strlen(name)), o->type,
		      &(struct store_change){ .op = STORE_OP_STATE, .state = o });
}

/* A crowded bucket (more than DIGEST_CROWDED members, as a client that
 * picks its names can make one): its members leave in one step each, in
 * any order, and its key order lists exactly the members left, sorted,
 * each within the range asked. */
#define CROWD (DIGEST_CROWDED + 500)
static void test_crowded_bucket(void **state)
{
	static char names[CROWD][16];
	struct store a;
	struct digest *da, *fresh;
	const struct digest_keyed *kv;
	const uint32_t b = 77;
	int64_t n;

	(void)state;
	reclaiming_store_init(&a, &da);
	crowd_names(names, CROWD, b);
	for (int i = 0; i < CROWD; i++)
		reg_write(&a, names[i]);
	digest_refresh(da);
	assert_int_equal(da->members[b].n, CROWD);
	n = digest_keyed_between(da, b, 0, UINT64_MAX, &kv);
	assert_int_equal(n, CROWD);
	/* every third name goes, the first and the last among them */
	for (int i = 0; i < CROWD; i += 3)
		assert_int_equal(store_del(&a, names[i], strlen(names[i])), 1);
	fake_now = 2000;
	store_reclaim(&a, SIZE_MAX);
	digest_refresh(da);
	assert_int_equal(da->members[b].n, CROWD - (CROWD + 2) / 3);
	assert_int_equal(digest_new(&a, &fresh), 0);
	digest_refresh(fresh);
	for (uint32_t i = 0; i < DIGEST_BUCKETS; i++) {
		assert_int_equal(da->bucket[i], fresh->bucket[i]);
		assert_int_equal(da->members[i].n, fresh->members[i].n);
	}
	/* the key order: the members left, in a key range */
	n = digest_keyed_between(da, b, 0, UINT64_MAX, &kv);
	assert_int_equal(n, da->members[b].n);
	for (int64_t i = 0; i < n; i++) {
		assert_int_equal(kv[i].key, digest_name_key(kv[i].e->name, kv[i].e->name_len));
		assert_true(i == 0 || kv[i - 1].key <= kv[i].key);
		assert_non_null(store_find(&a, kv[i].e->name, kv[i].e->name_len));
	}
	{
		uint64_t from = kv[n / 4].key, to = kv[n / 2].key;
		const struct digest_keyed *sub;
		int64_t m = digest_keyed_between(da, b, from, to, &sub), want = 0;

		for (int64_t i = 0; i < n; i++)
			want += kv[i].key >= from && kv[i].key <= to;
		assert_int_equal(m, want);
		assert_true(sub[0].key == from && sub[m - 1].key == to);
	}
	/* the rest go too: the bucket ends empty */
	for (int i = 0; i < CROWD; i++)
		if (i % 3)
			assert_int_equal(store_del(&a, names[i], strlen(names[i])), 1);
	fake_now = 3000;
	store_reclaim(&a, SIZE_MAX);
	assert_int_equal(da->members[b].n, 0);
	assert_int_equal(digest_keyed_between(da, b, 0, UINT64_MAX, &kv), 0);
	digest_free(fresh);
	digest_free(da);
	store_done(&a);
	store_set_clock(NULL, NULL);
}

/* Bucket @b's whole key order against its members: each once, under its
 * own name's key, sorted. */
static void assert_key_order(struct digest *d, uint32_t b)
{
	const struct digest_members *m = &d->members[b];
	const struct digest_keyed *kv;
	int64_t n = digest_keyed_between(d, b, 0, UINT64_MAX, &kv);
	static bool seen[4 * DIGEST_CROWDED];

	assert_int_equal(n, m->n);
	assert_true(m->n <= 4 * DIGEST_CROWDED);
	memset(seen, 0, sizeof(seen));
	for (int64_t i = 0; i < n; i++) {
		uint32_t k = 0;

		assert_int_equal(kv[i].key, digest_name_key(kv[i].e->name, kv[i].e->name_len));
		assert_true(i == 0 || kv[i - 1].key <= kv[i].key);
		while (k < m->n && m->v[k] != kv[i].e)
			k++;
		assert_true(k < m->n && !seen[k]);
		seen[k] = true;
	}
}

/* A crowded bucket keeps its key order while members join and leave:
 * joiners go on a tail, merged in as it grows, before a lookup or before a
 * leave (dropping the order at each join had the next lookup sort the
 * whole bucket again: 8-13 ms in one call at 50,000 names).  Rounds of
 * joins and leaves, each leave while joiners wait on the tail, end with
 * the order listing exactly the members, sorted. */
static void test_crowded_key_order_kept(void **state)
{
	static char names[3 * DIGEST_CROWDED][16];
	const int total = 3 * DIGEST_CROWDED;
	struct store a;
	struct digest *da;
	const uint32_t b = 3001;
	int next = 0, gone = 0;

	(void)state;
	reclaiming_store_init(&a, &da);
	crowd_names(names, total, b);
	/* crowded at the 1,025th join: the order made then, before any lookup */
	for (; next < DIGEST_CROWDED + 1; next++)
		reg_write(&a, names[next]);
	digest_refresh(da);
	assert_non_null(da->members[b].byk);
	assert_int_equal(da->members[b].nsorted, DIGEST_CROWDED + 1);
	for (int r = 0; r < 6; r++) {
		/* 150 join (more than 64, less than an eighth: a tail), then
		 * 50 of the oldest leave, then 100 more join */
		for (int i = 0; i < 150; i++, next++)
			reg_write(&a, names[next]);
		digest_refresh(da);
		assert_non_null(da->members[b].byk); /* kept through the joins */
		assert_true(da->members[b].nbyk > da->members[b].nsorted);
		for (int i = 0; i < 50; i++, gone++)
			assert_int_equal(store_del(&a, names[gone], strlen(names[gone])), 1);
		fake_now += 2000;
		store_reclaim(&a, SIZE_MAX);
		assert_non_null(da->members[b].byk); /* and through the leaves */
		for (int i = 0; i < 100; i++, next++)
			reg_write(&a, names[next]);
		digest_refresh(da);
		assert_int_equal(da->members[b].n, next - gone);
		assert_key_order(da, b);
	}
	/* a join of many at once: the tail merged in on the way, the order
	 * never dropped */
	while (next < total)
		reg_write(&a, names[next++]);
	digest_refresh(da);
	assert_non_null(da->members[b].byk);
	assert_true(da->members[b].nbyk - da->members[b].nsorted <= da->members[b].nsorted / 8 + 64);
	assert_key_order(da, b);
	digest_free(da);
	store_done(&a);
	store_set_clock(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stale_list_bounded),
		cmocka_unit_test(test_overflow_unmarked_in_slices),
		cmocka_unit_test(test_refresh_in_slices),
		cmocka_unit_test(test_equal_stores_equal_digests),
		cmocka_unit_test(test_existing_contents),
		cmocka_unit_test(test_type_conflict_counts_both),
		cmocka_unit_test(test_reclaimed_uncounted),
		cmocka_unit_test(test_crowded_bucket),
		cmocka_unit_test(test_crowded_key_order_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
