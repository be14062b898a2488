/* Reclaiming deletes (state/store.h, store_reclaim; state/forget.h): a
 * deleted or expired name is dropped after the grace and not before, a
 * write inside the grace keeps it, a record a peer resends for a name
 * reclaimed here is not stored again, subscribers are told and may hold an
 * entry back, the table stays bounded under churn; the forgotten-names set
 * against a reference model.  Time is a fake clock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crdt/obj.h"
#include "state/forget.h"
#include "state/store.h"
#include "storecheck.h"
#include "testutil.h"

#define GRACE 10000 /* ms */

static uint64_t now;

static uint64_t fake_clock(void *ctx)
{
	return now;
}

struct rep {
	struct store s;
	struct crdt_hlc hlc;
};

static void rep_init(struct rep *r)
{
	store_init(&r->s);
	crdt_hlc_init(&r->hlc, fake_clock, NULL);
	store_set_reclaim(&r->s, GRACE);
}

static void set_key(struct rep *r, const char *k, const char *v)
{
	struct crdt_obj *o;

	assert_int_equal(store_get(&r->s, k, strlen(k), CRDT_LWWREG, true, &o), 0);
	assert_int_equal(crdt_lwwreg_set(o->lww, &r->hlc, &r->s.self, v, strlen(v)), 0);
	store_changed(&r->s, store_find(&r->s, k, strlen(k)), CRDT_LWWREG,
		      &(struct store_change){ .op = STORE_OP_STATE, .state = o });
}

static void sadd(struct rep *r, const char *k, const char *m)
{
	struct crdt_obj *o;

	assert_int_equal(store_get(&r->s, k, strlen(k), CRDT_ORSET, true, &o), 0);
	assert_int_equal(crdt_orset_add(o->os, &r->s.self, m, strlen(m)), 0);
	store_changed(&r->s, store_find(&r->s, k, strlen(k)), CRDT_ORSET,
		      &(struct store_change){ .op = STORE_OP_STATE, .state = o });
}

static void incr(struct rep *r, const char *k, int64_t by)
{
	struct crdt_obj *o;

	assert_int_equal(store_get(&r->s, k, strlen(k), CRDT_PNCOUNTER, true, &o), 0);
	assert_int_equal(crdt_pncounter_inc(o->pn, &r->s.self, by), 0);
	store_changed(&r->s, store_find(&r->s, k, strlen(k)), CRDT_PNCOUNTER,
		      &(struct store_change){ .op = STORE_OP_STATE });
}

/* Merge every instance under @name from @from into @to. */
static void send(struct rep *from, struct rep *to, const void *name, size_t len)
{
	struct store_entry *e = store_find(&from->s, name, len);

	for (int t = CRDT_TYPE_MIN; e && t <= CRDT_TYPE_MAX; t++)
		if (store_entry_slot(e, t))
			assert_int_equal(store_merge(&to->s, name, len, store_entry_slot(e, t)), 0);
}

static bool has(struct rep *r, const char *k)
{
	return store_find(&r->s, k, strlen(k)) != NULL;
}

static enum crdt_type type_of(struct rep *r, const char *k)
{
	struct store_entry *e = store_find(&r->s, k, strlen(k));

	return e ? store_entry_type(e) : 0;
}

/* A subscriber that counts removals and may hold entries back. */
struct watch {
	int removed;
	bool hold;
};

static void w_changed(void *ctx, struct store_entry *e, enum crdt_type t,
		      const struct store_change *c)
{
}

static void w_removed(void *ctx, struct store_entry *e)
{
	((struct watch *)ctx)->removed++;
}

static bool w_holds(void *ctx, const struct store_entry *e)
{
	return ((struct watch *)ctx)->hold;
}

/* Every type that can be deleted: gone after the grace, not one ms before;
 * the subscribers are told of each entry. */
static void test_gone_after_grace(void **state)
{
	struct rep a;
	struct watch w = { 0 };
	size_t len0;

	now = 1000;
	rep_init(&a);
	assert_int_equal(store_subscribe(&a.s, &(struct store_sub){ .changed = w_changed, .ctx = &w,
								     .removed = w_removed }, NULL),
			 0);
	set_key(&a, "r", "v");
	sadd(&a, "s", "x");
	incr(&a, "c", 5);
	set_key(&a, "live", "v");
	len0 = a.s.len;
	now = 2000;
	for (const char *const *k = (const char *const[]){ "r", "s", "c", NULL }; *k; k++)
		assert_int_equal(store_del(&a.s, *k, strlen(*k)), 1);
	now = 2000 + GRACE - 1;
	store_reclaim(&a.s, 100);
	assert_true(has(&a, "r") && has(&a, "s") && has(&a, "c"));
	assert_int_equal(a.s.stats.reclaimed, 0);
	now = 2000 + GRACE;
	store_reclaim(&a.s, 100);
	assert_false(has(&a, "r") || has(&a, "s") || has(&a, "c"));
	assert_int_equal(type_of(&a, "live"), CRDT_LWWREG);
	assert_int_equal(a.s.stats.reclaimed, 3);
	assert_int_equal(w.removed, 3);
	assert_int_equal(a.s.len, len0 - 3);
	/* the name starts afresh, as any type */
	incr(&a, "r", 2);
	assert_int_equal(type_of(&a, "r"), CRDT_PNCOUNTER);
	store_done(&a.s);
}

/* A write concurrent with the delete, merged inside the grace, makes the
 * name live: it is never reclaimed, and a later delete starts the grace
 * again from that delete. */
static void test_concurrent_write_survives(void **state)
{
	struct rep a, b;
	int64_t v;

	now = 1000;
	rep_init(&a);
	rep_init(&b);
	sadd(&a, "s", "x");
	incr(&a, "c", 5);
	send(&a, &b, "s", 1);
	send(&a, &b, "c", 1);
	assert_int_equal(store_del(&a.s, "s", 1), 1);
	assert_int_equal(store_del(&a.s, "c", 1), 1);
	sadd(&b, "s", "y"); /* concurrent with the delete */
	incr(&b, "c", 2);
	now = 1000 + GRACE / 2;
	send(&b, &a, "s", 1);
	send(&b, &a, "c", 1);
	now = 1000 + 3 * GRACE;
	store_reclaim(&a.s, 100);
	assert_int_equal(a.s.stats.reclaimed, 0);
	assert_int_equal(type_of(&a, "s"), CRDT_ORSET);
	assert_int_equal(crdt_obj_card(store_entry_slot(store_find(&a.s, "s", 1), CRDT_ORSET)), 1);
	assert_true(crdt_obj_contains(store_entry_slot(store_find(&a.s, "s", 1), CRDT_ORSET), "y", 1));
	assert_int_equal(crdt_obj_value(store_entry_slot(store_find(&a.s, "c", 1), CRDT_PNCOUNTER), &v),
			 0);
	assert_int_equal(v, 2); /* only what the delete did not see */
	/* deleted again: the grace counts from this delete */
	assert_int_equal(store_del(&a.s, "s", 1), 1);
	now += GRACE - 1;
	store_reclaim(&a.s, 100);
	assert_true(has(&a, "s"));
	now += 1;
	store_reclaim(&a.s, 100);
	assert_false(has(&a, "s"));
	store_done(&a.s);
	store_done(&b.s);
}

/* A change that keeps the name deleted (a peer's delete of a write we never
 * saw) restarts the grace too: a peer may still hold that write. */
static void test_change_while_deleted(void **state)
{
	struct rep a, b;

	now = 1000;
	rep_init(&a);
	rep_init(&b);
	sadd(&a, "s", "x");
	assert_int_equal(store_del(&a.s, "s", 1), 1);
	sadd(&b, "s", "y");
	assert_int_equal(store_del(&b.s, "s", 1), 1);
	now = 1000 + GRACE - 5;
	send(&b, &a, "s", 1);
	assert_int_equal(type_of(&a, "s"), 0);
	now = 1000 + GRACE;
	store_reclaim(&a.s, 100);
	assert_true(has(&a, "s"));
	now = 1000 + 2 * GRACE - 5;
	store_reclaim(&a.s, 100);
	assert_false(has(&a, "s"));
	store_done(&a.s);
	store_done(&b.s);
}

/* b reclaims first; a, later, still holds the record and resends it: b
 * drops it (stored again it would start a new grace and come back to a
 * after a reclaimed it).  A write after the delete is stored as any. */
static void test_resent_record_dropped(void **state)
{
	struct rep a, b;

	now = 1000;
	rep_init(&a);
	rep_init(&b);
	set_key(&a, "k", "v");
	send(&a, &b, "k", 1);
	assert_int_equal(store_del(&b.s, "k", 1), 1);
	now = 1500;
	send(&b, &a, "k", 1); /* a deleted it half a second later */
	assert_int_equal(type_of(&a, "k"), 0);
	now = 1000 + GRACE;
	store_reclaim(&b.s, 100);
	store_reclaim(&a.s, 100);
	assert_false(has(&b, "k"));
	assert_true(has(&a, "k"));
	send(&a, &b, "k", 1);
	assert_false(has(&b, "k"));
	assert_int_equal(b.s.stats.reclaim_dropped, 1);
	now = 1500 + GRACE;
	store_reclaim(&a.s, 100);
	assert_false(has(&a, "k"));
	/* a new write is no record: it is stored */
	set_key(&a, "k", "new");
	send(&a, &b, "k", 1);
	assert_int_equal(type_of(&b, "k"), CRDT_LWWREG);
	/* the forgotten names expire after twice the grace */
	now = 1000 + 3 * GRACE + 1;
	store_reclaim(&b.s, 100);
	assert_int_equal(b.s.forgot.n, 0);
	store_done(&a.s);
	store_done(&b.s);
}

/* An expired key goes with its deadline's companion, a grace after its
 * expiry; a deleted key with a deadline still to come waits for that
 * deadline, then the grace. */
static void test_expired_and_deadlines(void **state)
{
	struct rep a;

	now = 1000;
	rep_init(&a);
	set_key(&a, "e", "v");
	assert_int_equal(store_set_deadline(&a.s, &a.hlc, "e", 1, 2000), 0);
	set_key(&a, "d", "v");
	assert_int_equal(store_set_deadline(&a.s, &a.hlc, "d", 1, 1000 + 3 * GRACE), 0);
	assert_int_equal(store_del(&a.s, "d", 1), 1);
	now = 2000;
	assert_int_equal(store_expire(&a.s, 10), 1);
	assert_int_equal(a.s.stats.expired, 1);
	now = 2000 + GRACE;
	store_reclaim(&a.s, 100);
	assert_false(has(&a, "e"));
	assert_null(store_find(&a.s, STORE_TTL_PREFIX "e", STORE_TTL_PREFIX_LEN + 1));
	assert_true(has(&a, "d")); /* its deadline is to come */
	assert_non_null(store_find(&a.s, STORE_TTL_PREFIX "d", STORE_TTL_PREFIX_LEN + 1));
	now = 1000 + 3 * GRACE;
	store_expire(&a.s, 10); /* nothing live: spent */
	now = 1000 + 4 * GRACE - 1;
	store_reclaim(&a.s, 100);
	assert_true(has(&a, "d"));
	now = 1000 + 4 * GRACE;
	store_reclaim(&a.s, 100);
	assert_false(has(&a, "d"));
	assert_null(store_find(&a.s, STORE_TTL_PREFIX "d", STORE_TTL_PREFIX_LEN + 1));
	assert_int_equal(a.s.stats.reclaimed, 2);
	assert_int_equal(a.s.len, 0);
	store_done(&a.s);
}

/* A subscriber that holds an entry (gossip, while it is queued for a push)
 * delays it; the store tries again.  Off (0), nothing is reclaimed. */
static void test_held_and_off(void **state)
{
	struct rep a;
	struct watch w = { .hold = true };

	now = 1000;
	rep_init(&a);
	assert_int_equal(store_subscribe(&a.s, &(struct store_sub){ .changed = w_changed, .ctx = &w,
								     .removed = w_removed,
								     .holds = w_holds }, NULL),
			 0);
	set_key(&a, "k", "v");
	assert_int_equal(store_del(&a.s, "k", 1), 1);
	now = 1000 + GRACE;
	store_reclaim(&a.s, 100);
	assert_true(has(&a, "k"));
	w.hold = false;
	store_reclaim(&a.s, 100);
	assert_true(has(&a, "k")); /* not before the retry */
	now += 1000;
	store_reclaim(&a.s, 100);
	assert_false(has(&a, "k"));
	assert_int_equal(w.removed, 1);
	/* off: deleted names stay */
	store_set_reclaim(&a.s, 0);
	set_key(&a, "k2", "v");
	assert_int_equal(store_del(&a.s, "k2", 2), 1);
	now += 10 * GRACE;
	assert_int_equal(store_reclaim(&a.s, 100), 0);
	assert_true(has(&a, "k2"));
	/* turned on again: what is deleted now counts from now */
	store_set_reclaim(&a.s, GRACE);
	now += GRACE;
	store_reclaim(&a.s, 100);
	assert_false(has(&a, "k2"));
	store_done(&a.s);
}

/* Turned on after a load (what main does after the journal): every name
 * that holds nothing live is noted as deleted now, and a deadline's
 * companion whose name never came here is anchored on an entry of that
 * name and goes with it. */
static void test_on_after_load(void **state)
{
	struct rep a, b;

	now = 1000;
	rep_init(&a);
	store_init(&b.s); /* b: reclaiming off, as during a load */
	crdt_hlc_init(&b.hlc, fake_clock, NULL);
	set_key(&a, "k", "v");
	assert_int_equal(store_set_deadline(&a.s, &a.hlc, "k", 1, 1500), 0);
	set_key(&a, "d", "v");
	assert_int_equal(store_del(&a.s, "d", 1), 1);
	now = 1500;
	assert_int_equal(store_expire(&a.s, 10), 1); /* a deletes k and its deadline */
	send(&a, &b, STORE_TTL_PREFIX "k", STORE_TTL_PREFIX_LEN + 1); /* b: the deadline's delete only */
	send(&a, &b, "d", 1);
	assert_null(store_find(&b.s, "k", 1));
	now = 5000;
	store_set_reclaim(&b.s, GRACE);
	assert_non_null(store_find(&b.s, "k", 1));
	now = 5000 + GRACE - 1;
	store_reclaim(&b.s, 100);
	assert_int_equal(b.s.stats.reclaimed, 0);
	now = 5000 + GRACE;
	store_reclaim(&b.s, 100);
	assert_int_equal(b.s.stats.reclaimed, 2);
	assert_int_equal(b.s.len, 0);
	store_done(&a.s);
	store_done(&b.s);
}

/* Churn: names written and deleted for ever, a few live; the table stays
 * bounded (tombstones are dropped when it is rebuilt), every live name is
 * found, and each pass does at most its bound of work. */
static void test_churn_bounded(void **state)
{
	struct rep a;
	char k[32];
	size_t maxcap = 0;

	now = 1000;
	rep_init(&a);
	for (int i = 0; i < 20; i++) {
		snprintf(k, sizeof(k), "live:%d", i);
		set_key(&a, k, "v");
	}
	for (int i = 0; i < 20000; i++) {
		snprintf(k, sizeof(k), "session:%d", i);
		set_key(&a, k, "v");
		assert_int_equal(store_del(&a.s, k, strlen(k)), 1);
		now += 5;
		assert_true(store_reclaim(&a.s, 8) <= 8);
		if (a.s.cap > maxcap)
			maxcap = a.s.cap;
	}
	/* the grace holds 2,000 names at a time: the table never needs more
	 * than a few times that */
	assert_true(maxcap <= 16384);
	assert_true(a.s.stats.reclaimed > 17000);
	for (int i = 0; i < 20; i++) {
		snprintf(k, sizeof(k), "live:%d", i);
		assert_int_equal(type_of(&a, k), CRDT_LWWREG);
	}
	store_done(&a.s);
}

/* Names reclaimed while the store's table is rehashed (store_rehash), half
 * of them from the old table and half from the new: gone, every other name
 * found, and the rehash ends with the counts right. */
static void test_reclaim_while_rehashing(void **state)
{
	struct rep a;
	char k[32];
	int n = 0;
	const int dead = 6000;

	now = 1000;
	rep_init(&a);
	for (int i = 0; i < dead; i++) {
		snprintf(k, sizeof(k), "d:%d", i);
		set_key(&a, k, "v");
		assert_int_equal(store_del(&a.s, k, strlen(k)), 1);
	}
	while (a.s.ocap < 16384) {
		snprintf(k, sizeof(k), "live:%d", n++);
		set_key(&a, k, "v");
		assert_true(n < 40000);
	}
	store_rehash(&a.s, a.s.ocap / 2);
	assert_true(a.s.ocap && a.s.olen > 0);
	now = 1000 + GRACE;
	assert_int_equal(store_reclaim(&a.s, 2 * dead), dead);
	assert_int_equal(a.s.stats.reclaimed, dead);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < dead; i++) {
			snprintf(k, sizeof(k), "d:%d", i);
			assert_false(has(&a, k));
		}
		for (int i = 0; i < n; i++) {
			snprintf(k, sizeof(k), "live:%d", i);
			assert_int_equal(type_of(&a, k), CRDT_LWWREG);
		}
		assert_int_equal(a.s.len, (size_t)n);
		assert_keyspace(&a.s);
		while (store_rehash(&a.s, 1000))
			;
		assert_int_equal(a.s.ocap, 0);
	}
	set_key(&a, "d:1", "again");
	assert_int_equal(type_of(&a, "d:1"), CRDT_LWWREG);
	store_done(&a.s);
}

/* The forgotten-names set against a reference: random adds (with repeats)
 * and expiries in time order. */
static void test_forget_model(void **state)
{
	uint64_t seed = test_seed("forget");
	struct rng g = { seed };
	static uint64_t hs[4096];
	static int64_t ms[4096];
	size_t n = 0, first = 0;
	struct forget f;
	int64_t t = 0;

	forget_init(&f);
	for (int step = 0; step < 20000; step++) {
		if (rng_below(&g, 3) && n < 4096) {
			/* few distinct hashes, so that repeats and collisions of
			 * probe chains happen; 0 is a hash too */
			hs[n] = rng_below(&g, 300) * 0x9e3779b97f4a7c15ULL;
			ms[n] = ++t;
			assert_int_equal(forget_add(&f, hs[n], ms[n]), 0);
			n++;
		} else {
			int64_t before = t - (int64_t)rng_below(&g, 50);
			size_t k = forget_expire(&f, before, 1 + rng_below(&g, 8));

			for (size_t i = 0; i < k; i++)
				assert_true(ms[first + i] < before);
			first += k;
		}
		if (step % 97 == 0)
			for (uint64_t x = 0; x < 300; x++) {
				uint64_t h = x * 0x9e3779b97f4a7c15ULL;
				bool want = false;

				for (size_t i = first; i < n && !want; i++)
					want = hs[i] == h;
				if (forget_has(&f, h) != want)
					fail_msg("seed %" PRIu64 ", step %d: hash %" PRIu64 " %s", seed,
						 step, x, want ? "lost" : "kept");
			}
		if (n == 4096 && first == n)
			n = first = 0;
	}
	forget_done(&f);
}

/* The keyspace's counts (DBSIZE, INFO keyspace) kept as names change,
 * against a walk of the table after every step: seeded random writes of
 * three types (type conflicts arise between replicas), deletes, deadlines
 * in the future and the past, PERSIST, merges of a name or of its
 * deadline alone, the sweep, reclaiming, and a clock that passes
 * deadlines nobody swept yet. */
static void test_keyspace_counts(void **state)
{
	uint64_t seed = test_seed("keyspace counts");
	struct rng g = { seed };
	struct rep r[3];
	char k[16], c[32];

	now = 1000;
	for (int i = 0; i < 3; i++)
		rep_init(&r[i]);
	for (int step = 0; step < 6000; step++) {
		int i = (int)rng_below(&g, 3), j = (int)rng_below(&g, 3);
		struct rep *a = &r[i];
		struct store_entry *e;
		enum crdt_type t;

		snprintf(k, sizeof(k), "n%d", (int)rng_below(&g, 40));
		e = store_find(&a->s, k, strlen(k));
		t = e ? store_entry_type(e) : 0;
		now += rng_below(&g, 30);
		switch (rng_below(&g, 9)) {
		case 0:
		case 1: /* a write of the type the name has, or of any */
			if (!t)
				t = (enum crdt_type[]){ CRDT_LWWREG, CRDT_ORSET,
							CRDT_PNCOUNTER }[rng_below(&g, 3)];
			if (t == CRDT_LWWREG)
				set_key(a, k, "v");
			else if (t == CRDT_ORSET)
				sadd(a, k, rng_below(&g, 2) ? "x" : "y");
			else if (t == CRDT_PNCOUNTER)
				incr(a, k, 1);
			break;
		case 2:
			assert_true(store_del(&a->s, k, strlen(k)) >= 0);
			break;
		case 3: /* EXPIRE, at times already past too */
			if (t)
				assert_true(store_set_deadline(&a->s, &a->hlc, k, strlen(k),
							       (int64_t)now - 50 +
								       (int64_t)rng_below(&g, 300)) >= 0);
			break;
		case 4: /* PERSIST */
			if (t && store_entry_deadline(e))
				assert_int_equal(store_set_deadline(&a->s, &a->hlc, k, strlen(k), 0),
						 0);
			break;
		case 5:
			store_expire(&a->s, 1 + rng_below(&g, 3));
			break;
		case 6:
			store_reclaim(&a->s, 4);
			now += GRACE / 4;
			break;
		default: /* the name, its deadline, or both, to another replica */
			if (i == j)
				break;
			snprintf(c, sizeof(c), STORE_TTL_PREFIX "%s", k);
			if (rng_below(&g, 3))
				send(a, &r[j], k, strlen(k));
			if (rng_below(&g, 3))
				send(a, &r[j], c, strlen(c));
			assert_keyspace(&r[j].s);
		}
		assert_keyspace(&a->s);
	}
	for (int i = 0; i < 3; i++) {
		assert_keyspace(&r[i].s);
		store_done(&r[i].s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gone_after_grace),
		cmocka_unit_test(test_concurrent_write_survives),
		cmocka_unit_test(test_change_while_deleted),
		cmocka_unit_test(test_resent_record_dropped),
		cmocka_unit_test(test_expired_and_deadlines),
		cmocka_unit_test(test_held_and_off),
		cmocka_unit_test(test_on_after_load),
		cmocka_unit_test(test_churn_bounded),
		cmocka_unit_test(test_reclaim_while_rehashing),
		cmocka_unit_test(test_forget_model),
		cmocka_unit_test(test_keyspace_counts),
	};

	store_set_clock(fake_clock, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
