/* Expiry in the store (state/store.h): concurrent EXPIRE/PERSIST resolve to
 * the same deadline in every merge order, the sweep's bound per call, the
 * hiding at the deadline, and writes that follow an expiry. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crdt/obj.h"
#include "state/store.h"
#include "storecheck.h"
#include "testutil.h"

static uint64_t now; /* the fake wall clock, in ms */

static uint64_t fake_clock(void *ctx)
{
	return now;
}

/* A replica: a store and its clock; "k" holds a register. */
struct rep {
	struct store s;
	struct crdt_hlc hlc;
};

static void rep_init(struct rep *r)
{
	store_init(&r->s);
	crdt_hlc_init(&r->hlc, fake_clock, NULL);
}

static void set_key(struct rep *r, const char *k, const char *v)
{
	struct crdt_obj *o;

	assert_int_equal(store_get(&r->s, k, strlen(k), CRDT_LWWREG, true, &o), 0);
	assert_int_equal(crdt_lwwreg_set(o->lww, &r->hlc, &r->s.self, v, strlen(v)), 0);
	/* announced, as a command's write is */
	store_changed(&r->s, store_find(&r->s, k, strlen(k)), CRDT_LWWREG,
		      &(struct store_change){ .op = STORE_OP_STATE, .state = o });
}

/* Merge every instance under @name (as raw bytes) from @from into @to,
 * none if @from has no such name. */
static void send(struct rep *from, struct rep *to, const void *name, size_t len)
{
	struct store_entry *e = store_find(&from->s, name, len);

	for (int t = CRDT_TYPE_MIN; e && t <= CRDT_TYPE_MAX; t++)
		if (store_entry_slot(e, t))
			assert_int_equal(store_merge(&to->s, name, len, store_entry_slot(e, t)), 0);
}

/* The key and its deadline's companion. */
static void send_key(struct rep *from, struct rep *to, const char *k)
{
	char c[64];

	send(from, to, k, strlen(k));
	memcpy(c, STORE_TTL_PREFIX, STORE_TTL_PREFIX_LEN);
	memcpy(c + STORE_TTL_PREFIX_LEN, k, strlen(k));
	send(from, to, c, STORE_TTL_PREFIX_LEN + strlen(k));
}

static int64_t deadline(struct rep *r, const char *k)
{
	struct store_entry *e = store_find(&r->s, k, strlen(k));

	return e ? store_entry_deadline(e) : -1;
}

/* Three replicas set the deadline concurrently (EXPIRE at two times, one
 * PERSIST; ops[] says which runs at which clock); every order of merging
 * the three into a fourth replica, and into each other, ends at the
 * latest-stamped command's deadline. */
static void resolve(const int64_t ops[3], const uint64_t at[3], int64_t want)
{
	static const int perms[6][3] = { { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
					 { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };
	struct rep r[3];

	now = 1000;
	rep_init(&r[0]);
	set_key(&r[0], "k", "v");
	for (int i = 1; i < 3; i++) {
		rep_init(&r[i]);
		send_key(&r[0], &r[i], "k");
	}
	if (want < 0) { /* a tie: the greatest replica id's */
		int w = 0;

		for (int i = 1; i < 3; i++)
			if (crdt_rid_cmp(&r[i].s.self, &r[w].s.self) > 0)
				w = i;
		want = ops[w];
	}
	for (int i = 0; i < 3; i++) {
		now = at[i];
		assert_int_equal(store_set_deadline(&r[i].s, &r[i].hlc, "k", 1, ops[i]), 0);
		assert_int_equal(deadline(&r[i], "k"), ops[i]);
	}
	for (int p = 0; p < 6; p++) {
		struct rep x;

		rep_init(&x);
		for (int i = 0; i < 3; i++)
			send_key(&r[perms[p][i]], &x, "k");
		assert_int_equal(deadline(&x, "k"), want);
		store_done(&x.s);
	}
	/* pairwise, both ways, then all three agree */
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			if (i != j)
				send_key(&r[i], &r[j], "k");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(deadline(&r[i], "k"), want);
		store_done(&r[i].s);
	}
}

static void test_concurrent_expire_persist(void **state)
{
	now = 1000;
	/* the PERSIST is the latest: no deadline */
	resolve((const int64_t[]){ 50000, 60000, 0 }, (const uint64_t[]){ 1010, 1020, 1030 }, 0);
	/* an EXPIRE is the latest: its deadline, whatever came before */
	resolve((const int64_t[]){ 0, 70000, 50000 }, (const uint64_t[]){ 1010, 1030, 1020 }, 70000);
	resolve((const int64_t[]){ 70000, 0, 50000 }, (const uint64_t[]){ 1030, 1010, 1020 }, 70000);
}

/* Same millisecond on every replica: the tie goes to the replica id, as in
 * any LWW register, so the result is still one value in every order. */
static void test_tie_by_replica_id(void **state)
{
	for (int k = 0; k < 8; k++) /* new replica ids each time */
		resolve((const int64_t[]){ 50000, 0, 60000 }, (const uint64_t[]){ 1030, 1030, 1030 },
			-1);
}

/* Ten keys past their deadline: hidden at once, then deleted at most @max
 * a call, soonest first; the deadline goes with them. */
static void test_sweep_bound(void **state)
{
	struct rep r;
	char k[8];

	now = 1000;
	rep_init(&r);
	for (int i = 0; i < 10; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		set_key(&r, k, "v");
		assert_int_equal(store_set_deadline(&r.s, &r.hlc, k, strlen(k), 2000 + 10 * (9 - i)), 0);
	}
	set_key(&r, "stays", "v");
	assert_int_equal(store_set_deadline(&r.s, &r.hlc, "stays", 5, 9000), 0);
	assert_int_equal(store_next_deadline(&r.s), 2000);
	assert_int_equal(store_expire(&r.s, 3), 0); /* nothing due */
	assert_int_equal(store_entry_type(store_find(&r.s, "k0", 2)), CRDT_LWWREG);

	now = 2045; /* k9..k5 are due (2000..2040) */
	assert_int_equal(store_entry_type(store_find(&r.s, "k9", 2)), 0); /* hidden at once */
	assert_int_equal(store_entry_type(store_find(&r.s, "k4", 2)), CRDT_LWWREG);
	assert_int_equal(store_expire(&r.s, 3), 3);
	assert_int_equal(r.s.stats.expired, 3);
	assert_int_equal(store_expire(&r.s, 3), 2);
	assert_int_equal(store_expire(&r.s, 3), 0);
	now = 5000;
	assert_int_equal(store_expire(&r.s, 3), 3);
	assert_int_equal(store_expire(&r.s, 3), 2);
	assert_int_equal(store_expire(&r.s, 3), 0);
	assert_int_equal(r.s.stats.expired, 10);
	assert_int_equal(store_next_deadline(&r.s), 9000);
	for (int i = 0; i < 10; i++) {
		struct store_entry *e;

		snprintf(k, sizeof(k), "k%d", i);
		e = store_find(&r.s, k, strlen(k));
		/* deleted, not only hidden: its register is a tombstone */
		assert_false(crdt_obj_live(store_entry_slot(e, CRDT_LWWREG)));
		assert_true(!e->x || (e->x->deadline == 0 && e->x->hpos == 0));
	}
	assert_int_equal(store_entry_type(store_find(&r.s, "stays", 5)), CRDT_LWWREG);
	store_done(&r.s);
}

/* A write to a key past its deadline, before the sweep: the expiry comes
 * first, so the write starts the key afresh, without a deadline. */
static void test_write_after_expiry(void **state)
{
	struct rep r;
	struct crdt_obj *o;

	now = 1000;
	rep_init(&r);
	assert_int_equal(store_get(&r.s, "s", 1, CRDT_ORSET, true, &o), 0);
	assert_int_equal(crdt_orset_add(o->os, &r.s.self, "old", 3), 0);
	assert_int_equal(store_set_deadline(&r.s, &r.hlc, "s", 1, 1500), 0);
	assert_int_equal(deadline(&r, "s"), 1500);
	now = 1500;
	assert_int_equal(store_get(&r.s, "s", 1, CRDT_ORSET, false, &o), -ENOENT);
	assert_int_equal(store_get(&r.s, "s", 1, CRDT_ORSET, true, &o), 0);
	assert_int_equal(crdt_orset_add(o->os, &r.s.self, "new", 3), 0);
	assert_int_equal(deadline(&r, "s"), 0);
	assert_int_equal(crdt_obj_card(o), 1);
	assert_true(crdt_obj_contains(o, "new", 3));
	assert_int_equal(store_expire(&r.s, 10), 0);
	/* a deadline already past deletes at once; PERSIST removes one */
	assert_int_equal(store_set_deadline(&r.s, &r.hlc, "s", 1, 1200), 0);
	assert_int_equal(store_entry_type(store_find(&r.s, "s", 1)), 0);
	assert_false(crdt_obj_live(o));
	store_done(&r.s);
}

/* A deadline that arrives before the key's state, and is past: with
 * nothing live, b spends it and keeps its companion as it is (deleting it
 * would tell the replicas that still hold the state "no deadline", and let
 * it live on there).  The state arriving after is not hidden at b, which
 * cannot tell it from a write made after the expiry elsewhere; the replica
 * that held it expires it, and that delete removes it at b too. */
static void test_deadline_before_state(void **state)
{
	struct rep a, b;
	char c[8];

	now = 1000;
	rep_init(&a);
	rep_init(&b);
	set_key(&a, "k", "v");
	assert_int_equal(store_set_deadline(&a.s, &a.hlc, "k", 1, 1100), 0);
	memcpy(c, STORE_TTL_PREFIX, STORE_TTL_PREFIX_LEN);
	c[STORE_TTL_PREFIX_LEN] = 'k';
	send(&a, &b, c, STORE_TTL_PREFIX_LEN + 1);
	now = 1200;
	assert_int_equal(store_expire(&b.s, 10), 1);
	assert_int_equal(store_find(&b.s, "k", 1)->x->deadline, 0);
	assert_int_equal(store_find(&b.s, "k", 1)->x->spent, 1100);
	assert_true(crdt_obj_live(store_entry_slot(store_find(&b.s, c, STORE_TTL_PREFIX_LEN + 1),
						   CRDT_LWWREG)));
	send(&a, &b, "k", 1);
	assert_int_equal(store_entry_type(store_find(&b.s, "k", 1)), CRDT_LWWREG);
	assert_int_equal(store_expire(&b.s, 10), 0);
	/* a expires what it holds; its delete reaches b: the same keyspace */
	assert_int_equal(store_expire(&a.s, 10), 1);
	send_key(&a, &b, "k");
	send_key(&b, &a, "k");
	for (struct rep *const *rp = (struct rep *const[]){ &a, &b, NULL }; *rp; rp++) {
		struct rep *r = *rp;

		assert_int_equal(store_expire(&r->s, 10), 0);
		assert_int_equal(store_entry_type(store_find(&r->s, "k", 1)), 0);
		assert_int_equal(store_find(&r->s, "k", 1)->x->deadline, 0);
	}
	store_done(&a.s);
	store_done(&b.s);
}

/* The companion is never visible and the store refuses to delete it. */
static void test_reserved_hidden(void **state)
{
	struct rep r;
	struct crdt_obj *o;

	now = 1000;
	rep_init(&r);
	set_key(&r, "k", "v");
	assert_int_equal(store_set_deadline(&r.s, &r.hlc, "k", 1, 5000), 0);
	assert_int_equal(store_get(&r.s, STORE_TTL_PREFIX "k", STORE_TTL_PREFIX_LEN + 1, CRDT_LWWREG,
				   false, &o), -ENOENT);
	assert_int_equal(store_del(&r.s, STORE_TTL_PREFIX "k", STORE_TTL_PREFIX_LEN + 1), 0);
	assert_int_equal(deadline(&r, "k"), 5000);
	assert_true(store_name_reserved(STORE_TTL_PREFIX "k", STORE_TTL_PREFIX_LEN + 1));
	assert_false(store_name_reserved("k", 1));
	assert_int_equal(store_set_deadline(&r.s, &r.hlc, "absent", 6, 5000), -ENOENT);
	store_done(&r.s);
}

/* What a replica answers about "k": visible type, value, deadline. */
struct view {
	enum crdt_type t;
	char val[8];
	int64_t dl;
};

static struct view view_of(struct rep *r)
{
	struct store_entry *e = store_find(&r->s, "k", 1);
	struct view v = { 0 };
	const uint8_t *p;
	size_t len;

	if (!e || !(v.t = store_entry_type(e)))
		return v;
	crdt_lwwreg_get(store_entry_slot(e, CRDT_LWWREG)->lww, &p, &len);
	assert_true(len < sizeof(v.val));
	memcpy(v.val, p, len);
	v.dl = store_entry_deadline(e);
	return v;
}

/* A write made after the expiry on one replica reaches another that has
 * not swept yet, before the deletion of the deadline does: that replica
 * expires what it held first, and the write survives everywhere (it used
 * to be swept with the old state, and that delete then removed it on every
 * replica). */
static void test_write_after_expiry_elsewhere(void **state)
{
	struct rep a, b;
	struct view va, vb;

	(void)state;
	now = 1000;
	rep_init(&a);
	rep_init(&b);
	set_key(&a, "k", "v1");
	assert_int_equal(store_set_deadline(&a.s, &a.hlc, "k", 1, 1500), 0);
	send_key(&a, &b, "k");
	now = 1600;
	assert_int_equal(store_expire(&a.s, 10), 1);
	set_key(&a, "k", "v2");
	send(&a, &b, "k", 1); /* the key's state only: the deadline's delete is late */
	vb = view_of(&b);
	assert_int_equal(vb.t, CRDT_LWWREG);
	assert_string_equal(vb.val, "v2");
	assert_int_equal(vb.dl, 0);
	assert_int_equal(store_expire(&b.s, 10), 0);
	send_key(&b, &a, "k");
	send_key(&a, &b, "k");
	va = view_of(&a);
	vb = view_of(&b);
	assert_string_equal(va.val, "v2");
	assert_string_equal(vb.val, "v2");
	assert_int_equal(va.dl, 0);
	assert_int_equal(vb.dl, 0);
	store_done(&a.s);
	store_done(&b.s);
}

/* The companion of "k", as a name. */
#define COMP_K STORE_TTL_PREFIX "k", STORE_TTL_PREFIX_LEN + 1

/* A replica that holds "k"'s deadline but nothing live of it (only its
 * companion, or a deleted state) when the deadline passes spends the
 * deadline: a write made after the expiry elsewhere that reaches it before
 * the deadline's deletion survives there, and so everywhere (it used to be
 * hidden, then swept, and that delete removed it on every replica).  With
 * the sweep before the write's arrival (b) or after it (c), and with the
 * old deadline resent afterwards, as a digest round does (d). */
static void test_write_after_spent_deadline(void **state)
{
	struct rep a, b, c, d;
	struct rep *all[4] = { &a, &b, &c, &d };
	struct view v;

	(void)state;
	now = 1000;
	rep_init(&a);
	rep_init(&b);
	rep_init(&c);
	rep_init(&d);
	set_key(&a, "k", "v1");
	assert_int_equal(store_set_deadline(&a.s, &a.hlc, "k", 1, 1500), 0);
	send(&a, &b, COMP_K); /* b and c: the deadline only */
	send(&a, &c, COMP_K);
	send_key(&a, &d, "k"); /* d: the key, then a DEL of it */
	assert_int_equal(store_del(&d.s, "k", 1), 1);
	now = 1600;
	assert_int_equal(store_expire(&b.s, 10), 1); /* nothing live: spent */
	assert_int_equal(store_expire(&d.s, 10), 1);
	assert_int_equal(store_expire(&a.s, 10), 1); /* v1 deleted, and the deadline */
	set_key(&a, "k", "v2");
	/* the key's state only: the deadline's delete is late */
	send(&a, &b, "k", 1);
	send(&a, &c, "k", 1);
	send(&a, &d, "k", 1);
	for (int i = 1; i < 4; i++) {
		struct rep *r = all[i];

		v = view_of(r);
		assert_int_equal(v.t, CRDT_LWWREG);
		assert_string_equal(v.val, "v2");
		assert_int_equal(v.dl, 0);
		assert_int_equal(store_expire(&r->s, 10), 0);
	}
	/* the old deadline, resent, stays spent */
	send(&d, &b, COMP_K);
	send(&c, &d, COMP_K);
	send(&b, &c, COMP_K);
	for (int i = 1; i < 4; i++) {
		assert_int_equal(store_expire(&all[i]->s, 10), 0);
		assert_string_equal(view_of(all[i]).val, "v2");
	}
	/* everyone gets everything: v2 everywhere, without a deadline */
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++)
			if (i != j)
				send_key(all[i], all[j], "k");
	for (int i = 0; i < 4; i++) {
		struct rep *r = all[i];

		assert_int_equal(store_expire(&r->s, 10), 0);
		v = view_of(r);
		assert_string_equal(v.val, "v2");
		assert_int_equal(v.dl, 0);
	}
	/* a new deadline on a spent name applies as any */
	assert_int_equal(store_set_deadline(&b.s, &b.hlc, "k", 1, 1700), 0);
	assert_int_equal(deadline(&b, "k"), 1700);
	now = 1700;
	assert_int_equal(store_entry_type(store_find(&b.s, "k", 1)), 0);
	for (int i = 0; i < 4; i++)
		store_done(&all[i]->s);
}

/* A local write on a name whose deadline was spent, after a write made
 * after the expiry elsewhere has arrived: it adds to that write and deletes
 * nothing (a local write runs the expiry first only while the name holds
 * nothing live). */
static void test_local_write_after_spent(void **state)
{
	struct rep a, b;
	struct crdt_obj *o;

	(void)state;
	now = 1000;
	rep_init(&a);
	rep_init(&b);
	assert_int_equal(store_get(&a.s, "s", 1, CRDT_ORSET, true, &o), 0);
	assert_int_equal(crdt_orset_add(o->os, &a.s.self, "old", 3), 0);
	assert_int_equal(store_set_deadline(&a.s, &a.hlc, "s", 1, 1500), 0);
	send(&a, &b, STORE_TTL_PREFIX "s", STORE_TTL_PREFIX_LEN + 1);
	now = 1600;
	assert_int_equal(store_expire(&b.s, 10), 1); /* spent */
	assert_int_equal(store_expire(&a.s, 10), 1);
	assert_int_equal(store_get(&a.s, "s", 1, CRDT_ORSET, true, &o), 0);
	assert_int_equal(crdt_orset_add(o->os, &a.s.self, "y", 1), 0);
	send(&a, &b, "s", 1); /* the deadline's delete is late */
	assert_int_equal(store_get(&b.s, "s", 1, CRDT_ORSET, true, &o), 0);
	assert_int_equal(crdt_orset_add(o->os, &b.s.self, "z", 1), 0);
	assert_true(crdt_obj_contains(o, "y", 1));
	send_key(&b, &a, "s");
	send_key(&a, &b, "s");
	for (struct rep *const *rp = (struct rep *const[]){ &a, &b, NULL }; *rp; rp++) {
		struct crdt_obj *x = store_entry_slot(store_find(&(*rp)->s, "s", 1), CRDT_ORSET);

		assert_int_equal(store_expire(&(*rp)->s, 10), 0);
		assert_int_equal(store_entry_type(store_find(&(*rp)->s, "s", 1)), CRDT_ORSET);
		assert_int_equal(crdt_obj_card(x), 2);
		assert_true(crdt_obj_contains(x, "y", 1) && crdt_obj_contains(x, "z", 1));
	}
	store_done(&a.s);
	store_done(&b.s);
}

/* ---- the reference model ---------------------------------------------------
 *
 * docs/types.md's expiry rules, written without the store or any CRDT
 * merge: a replica is the set of operations it has seen (a merge is their
 * union), and what it answers is computed from that set alone.
 * - A key's value is the latest-stamped SET seen, unless a delete seen was
 *   stamped at or after it (an observed delete: its stamp is that of the
 *   value the deleting replica saw).
 * - The deadline likewise: the latest-stamped EXPIRE/PERSIST seen (ties by
 *   replica id, as every stamp), unless a deadline delete seen covers it.
 * - The key is visible while it has a value and no deadline at or before
 *   now.  At the deadline a replica that holds a value deletes the value it
 *   saw and the deadline (the sweep); one that holds no value spends the
 *   deadline: it keeps it, but it no longer hides anything, until the
 *   deadline's value changes.  A SET on a replica that sees the key past
 *   its deadline (or holds it spent, and no value) runs that expiry first
 *   and starts the key afresh, with no deadline; the key's state arriving from a peer runs
 *   it too (what the replica held goes, or the deadline is spent; what
 *   arrives is merged after).
 * The stamps are the ones the writes got (read back from the register each
 * write made); which stamp wins, and everything else, is the model's. */
enum mop_kind { M_SET, M_KDEL, M_DL, M_DDEL };

struct mstamp {
	struct crdt_hlc_ts ts;
	struct crdt_rid rid;
};

struct mop {
	enum mop_kind kind;
	struct mstamp st;
	char val[8];  /* M_SET */
	int64_t dl;   /* M_DL: the deadline, 0 for PERSIST */
};

#define MODEL_OPS 128

struct model {
	struct mop ops[MODEL_OPS];
	int n;
	bool seen[3][MODEL_OPS];
	int64_t spent[3]; /* the deadline replica i spent, 0 = none */
};

static int mstamp_cmp(const struct mstamp *a, const struct mstamp *b)
{
	int c = crdt_hlc_cmp(&a->ts, &b->ts);

	return c ? c : crdt_rid_cmp(&a->rid, &b->rid);
}

/* The latest @kind op replica @i has seen, or NULL. */
static const struct mop *m_latest(const struct model *m, int i, enum mop_kind kind)
{
	const struct mop *best = NULL;

	for (int k = 0; k < m->n; k++)
		if (m->seen[i][k] && m->ops[k].kind == kind &&
		    (!best || mstamp_cmp(&m->ops[k].st, &best->st) > 0))
			best = &m->ops[k];
	return best;
}

/* The live value (@kind M_SET) or deadline (M_DL) replica @i sees: the
 * latest write, unless a delete at or after its stamp was seen. */
static const struct mop *m_live(const struct model *m, int i, enum mop_kind kind)
{
	const struct mop *w = m_latest(m, i, kind);
	const struct mop *del = m_latest(m, i, kind == M_SET ? M_KDEL : M_DDEL);

	return w && (!del || mstamp_cmp(&w->st, &del->st) > 0) ? w : NULL;
}

static int64_t m_deadline(const struct model *m, int i)
{
	const struct mop *d = m_live(m, i, M_DL);

	return d ? d->dl : 0;
}

static bool m_due(const struct model *m, int i)
{
	int64_t dl = m_deadline(m, i);

	return dl && dl <= (int64_t)now && dl != m->spent[i];
}

/* A spent deadline lasts until the deadline's value changes. */
static void m_settle(struct model *m)
{
	for (int i = 0; i < 3; i++)
		if (m->spent[i] && m_deadline(m, i) != m->spent[i])
			m->spent[i] = 0;
}

static void m_add(struct model *m, int i, enum mop_kind kind, const struct mstamp *st,
		  const char *val, int64_t dl)
{
	struct mop *o;

	assert_true(m->n < MODEL_OPS);
	o = &m->ops[m->n];
	*o = (struct mop){ .kind = kind, .st = *st, .dl = dl };
	if (val)
		snprintf(o->val, sizeof(o->val), "%s", val);
	m->seen[i][m->n++] = true;
}

/* Replica @i's expiry: delete the value it sees, then the deadline; with a
 * value, or @always (a write follows); else spend the deadline. */
static void m_expire(struct model *m, int i, bool always)
{
	const struct mop *w = m_live(m, i, M_SET), *d = m_live(m, i, M_DL);

	if (!w && !always) {
		m->spent[i] = m_deadline(m, i);
		return;
	}
	m->spent[i] = 0;
	if (w)
		m_add(m, i, M_KDEL, &w->st, NULL, 0);
	if (d)
		m_add(m, i, M_DDEL, &d->st, NULL, 0);
}

static struct mstamp stamp_of(const struct crdt_lwwreg *r)
{
	return (struct mstamp){ .ts = r->ts, .rid = *crdt_rid_at(r->rix) };
}

/* Replica @j takes what @i has seen: the key's state (@key), its deadline
 * (@comp), or both, the key first (as send_key); the key's state arriving
 * past @j's deadline runs @j's expiry first (store_merge), when @i has one
 * to send. */
static void m_merge(struct model *m, int i, int j, bool key, bool comp)
{
	bool has_key = false; /* @i holds a state of the key: it has seen a write */

	for (int k = 0; k < m->n; k++)
		has_key |= m->seen[i][k] && (m->ops[k].kind == M_SET || m->ops[k].kind == M_KDEL);
	if (key && has_key && m_due(m, j))
		m_expire(m, j, false);
	for (int k = 0; k < m->n; k++) {
		bool of_key = m->ops[k].kind == M_SET || m->ops[k].kind == M_KDEL;
		if (of_key ? key : comp)
			m->seen[j][k] |= m->seen[i][k];
	}
}

/* What the model says replica @i answers about "k". */
static struct view m_view(const struct model *m, int i)
{
	const struct mop *w = m_live(m, i, M_SET);
	struct view v = { 0 };

	if (!w || m_due(m, i))
		return v;
	v.t = CRDT_LWWREG;
	snprintf(v.val, sizeof(v.val), "%s", w->val);
	v.dl = m_deadline(m, i) == m->spent[i] ? 0 : m_deadline(m, i);
	return v;
}

static void check_model(const struct model *m, struct rep r[3], int sc, uint64_t seed,
			int ev)
{
	for (int i = 0; i < 3; i++) {
		struct view a = view_of(&r[i]), b = m_view(m, i);

		if (a.t != b.t || strcmp(a.val, b.val) || a.dl != b.dl)
			fail_msg("scenario %d (seed %" PRIu64 "), after event %d: replica %d "
				 "answers (type %d, \"%s\", deadline %" PRId64 "), the model "
				 "(type %d, \"%s\", deadline %" PRId64 ")",
				 sc, seed, ev, i, a.t, a.val, a.dl, b.t, b.val, b.dl);
	}
}

/* The register and the deadline register a replica holds for "k". */
static const struct crdt_lwwreg *key_reg(struct rep *r)
{
	return store_entry_slot(store_find(&r->s, "k", 1), CRDT_LWWREG)->lww;
}

static const struct crdt_lwwreg *deadline_reg(struct rep *r)
{
	char c[8];

	memcpy(c, STORE_TTL_PREFIX, STORE_TTL_PREFIX_LEN);
	c[STORE_TTL_PREFIX_LEN] = 'k';
	return store_entry_slot(store_find(&r->s, c, STORE_TTL_PREFIX_LEN + 1), CRDT_LWWREG)->lww;
}

/* Seeded scenarios: three replicas SET, EXPIRE (future or past), PERSIST,
 * sweep and merge pairwise at random (the key and its deadline together, or
 * only one of them) while the clock moves.  After every
 * event each replica answers about the key what the reference model says;
 * once every replica has everything (and has swept what that made due),
 * all three answer the same, without a deadline. */
static void test_converges(void **state)
{
	uint64_t seed = test_seed("expiry convergence");
	struct rng g = { seed };
	int n = test_scenarios(10000);
	static struct model m;

	for (int sc = 0; sc < n; sc++) {
		struct rep r[3];
		int ev = 0;

		now = 1000;
		memset(&m, 0, sizeof(m));
		for (int i = 0; i < 3; i++)
			rep_init(&r[i]);
		for (; ev < 24; ev++) {
			int i = (int)rng_below(&g, 3), j = (int)rng_below(&g, 3);
			struct store_entry *e = store_find(&r[i].s, "k", 1);
			struct mstamp st;
			int64_t dl;
			char v[4];

			now += rng_below(&g, 40);
			switch (rng_below(&g, 6)) {
			case 5: /* one of the two states only: another datagram was lost */
				if (i != j) {
					bool key = rng_below(&g, 2);

					if (key)
						send(&r[i], &r[j], "k", 1);
					else
						send(&r[i], &r[j], STORE_TTL_PREFIX "k",
						     STORE_TTL_PREFIX_LEN + 1);
					m_merge(&m, i, j, key, !key);
				}
				break;
			case 0:
				snprintf(v, sizeof(v), "%c%d", 'a' + i, ev);
				if (m_due(&m, i) || (m.spent[i] && !m_live(&m, i, M_SET)))
					m_expire(&m, i, true);
				set_key(&r[i], "k", v);
				st = stamp_of(key_reg(&r[i]));
				m_add(&m, i, M_SET, &st, v, 0);
				break;
			case 1:
				if (e && store_entry_type(e)) {
					dl = (int64_t)now - 20 + (int64_t)rng_below(&g, 100);
					assert_int_equal(store_set_deadline(&r[i].s, &r[i].hlc, "k", 1, dl),
							 0);
					st = stamp_of(deadline_reg(&r[i]));
					m_add(&m, i, M_DL, &st, NULL, dl);
					if (dl <= (int64_t)now)
						m_expire(&m, i, true);
				}
				break;
			case 2:
				if (e && store_entry_deadline(e)) {
					assert_int_equal(store_set_deadline(&r[i].s, &r[i].hlc, "k", 1, 0), 0);
					st = stamp_of(deadline_reg(&r[i]));
					m_add(&m, i, M_DL, &st, NULL, 0);
				}
				break;
			case 3:
				store_expire(&r[i].s, 1);
				if (m_due(&m, i))
					m_expire(&m, i, false);
				break;
			default:
				if (i != j) {
					send_key(&r[i], &r[j], "k");
					m_merge(&m, i, j, true, true);
				}
			}
			m_settle(&m);
			check_model(&m, r, sc, seed, ev);
			for (int k = 0; k < 3; k++)
				assert_keyspace(&r[k].s);
		}
		now += 1000; /* every deadline passed */
		for (int round = 0; round < 4; round++)
			for (int i = 0; i < 3; i++) {
				store_expire(&r[i].s, 10);
				if (m_due(&m, i))
					m_expire(&m, i, false);
				for (int j = 0; j < 3; j++)
					if (i != j) {
						send_key(&r[i], &r[j], "k");
						m_merge(&m, i, j, true, true);
					}
				m_settle(&m);
				check_model(&m, r, sc, seed, ev++);
				assert_keyspace(&r[i].s);
			}
		for (int i = 1; i < 3; i++) {
			struct view a = view_of(&r[0]), b = view_of(&r[i]);

			if (a.t != b.t || strcmp(a.val, b.val) || a.dl != b.dl)
				fail_msg("scenario %d (seed %" PRIu64 "): replica 0 and %d differ", sc,
					 seed, i);
			assert_int_equal(b.dl, 0); /* past deadlines are gone */
		}
		for (int i = 0; i < 3; i++)
			store_done(&r[i].s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_expire_persist),
		cmocka_unit_test(test_tie_by_replica_id),
		cmocka_unit_test(test_sweep_bound),
		cmocka_unit_test(test_write_after_expiry_elsewhere),
		cmocka_unit_test(test_write_after_spent_deadline),
		cmocka_unit_test(test_local_write_after_spent),
		cmocka_unit_test(test_write_after_expiry),
		cmocka_unit_test(test_deadline_before_state),
		cmocka_unit_test(test_reserved_hidden),
		cmocka_unit_test(test_converges),
	};

	store_set_clock(fake_clock, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
