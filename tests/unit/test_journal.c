/* The durable store's journal (state/journal.c): what is logged comes back after a
 * restart, under the replica ids it was written with, through compactions;
 * the writer thread reports each pass's batch, stored (and synced under
 * always) before the report, in every durability mode; a record that does
 * not check out stops the load. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "be.h"
#include "crdt/error.h"
#include "state/journal.h"
#include "state/jwriter.h"
#include "state/store.h"
#include "state/wal.h"

struct fixture {
	char dir[PATH_MAX];
	uv_loop_t loop;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/crdtd-test-storage-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[PATH_MAX + 16];
	assert_int_equal(uv_loop_close(&f->loop), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Open, with a map of @map_size bytes, and load the store into the empty @s. */
static struct journal *open_load_sized(struct fixture *f, struct store *s,
				       enum config_durability mode, const struct crdt_rid *legacy,
				       int want, size_t map_size)
{
	struct journal *st = NULL;
	char err[512];

	assert_int_equal(journal_open(&f->loop, f->dir, legacy, mode, 1000, map_size, &st, err,
				      sizeof(err)), 0);
	int r = journal_load(st, s, err, sizeof(err));
	if (want == 0 && r != 0)
		fail_msg("load: %s", err);
	assert_int_equal(r, want);
	return st;
}

static struct journal *open_load(struct fixture *f, struct store *s, enum config_durability mode,
				 const struct crdt_rid *legacy, int want)
{
	return open_load_sized(f, s, mode, legacy, want, 16u << 20);
}

static void close_run(struct fixture *f, struct journal *st)
{
	journal_close(st);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
}

/* SADD of @elem as the store's own id, journaled as commands.c does. */
static void sadd(struct store *s, struct journal *st, const char *name, const char *elem)
{
	struct crdt_obj *o;
	const uint8_t *elems[1] = { (const uint8_t *)elem };
	size_t lens[1] = { strlen(elem) };

	assert_int_equal(store_get(s, name, strlen(name), CRDT_ORSET, true, &o), 0);
	assert_true(crdt_orset_add(o->os, &s->self, elem, lens[0]) >= 0);
	journal_log(st, store_find(s, name, strlen(name)), CRDT_ORSET, JOURNAL_OP_ORSET_ADD, NULL,
		    1, elems, lens);
}

static void incr(struct store *s, struct journal *st, const char *name, int64_t by)
{
	struct crdt_obj *o;

	assert_int_equal(store_get(s, name, strlen(name), CRDT_PNCOUNTER, true, &o), 0);
	assert_int_equal(by < 0 ? crdt_pncounter_dec(o->pn, &s->self, -by)
				: crdt_pncounter_inc(o->pn, &s->self, by), 0);
	journal_log_counter(st, store_find(s, name, strlen(name)), CRDT_PNCOUNTER);
}

static const struct crdt_obj *slot(struct store *s, const char *name, enum crdt_type t)
{
	struct store_entry *e = store_find(s, name, strlen(name));
	assert_non_null(e);
	assert_non_null(store_entry_slot(e, t));
	return store_entry_slot(e, t);
}

/* What the report callback saw: the batches, and the syncs at that moment. */
struct reports {
	struct journal *st;
	uint64_t gens[8];
	int rcs[8];
	uint64_t syncs[8];
	int n;
};

static void report_cb(void *ctx, uint64_t gen, int rc)
{
	struct reports *r = ctx;
	struct journal_stats s;

	assert_true(r->n < 8);
	journal_get_stats(r->st, &s);
	r->gens[r->n] = gen;
	r->rcs[r->n] = rc;
	r->syncs[r->n++] = s.syncs;
}

/* A local write is counted (its client waits) and its pass's batch is
 * reported once stored: with always, after a sync; a merge from a peer is
 * stored but waits for no sync and holds no client; batches are reported
 * in order. */
static void test_batches_reported_when_stored(void **state)
{
	struct fixture *f = *state;

	for (int mode = CONFIG_DURABILITY_ALWAYS; mode <= CONFIG_DURABILITY_NONE; mode++) {
		struct reports rep = { 0 };
		struct store s, peer;
		struct crdt_obj *o;
		store_init(&s);
		store_init(&peer);
		struct journal *st = open_load(f, &s, (enum config_durability)mode, NULL, 0);
		rep.st = st;
		journal_set_report(st, report_cb, &rep);
		assert_false(journal_pending(st));

		uint64_t w0 = journal_local_writes(st), g0 = journal_batch_gen(st);
		sadd(&s, st, "k", "x");
		assert_int_equal(journal_local_writes(st), w0 + 1);
		assert_int_equal(journal_batch_gen(st), g0);
		assert_true(journal_pending(st));
		assert_int_equal(journal_commit(st), 0);
		assert_int_equal(journal_batch_gen(st), g0 + 1);

		/* a peer's state, merged: journaled, but no local write */
		assert_int_equal(store_get(&peer, "m", 1, CRDT_ORSET, true, &o), 0);
		assert_true(crdt_orset_add(o->os, &peer.self, "y", 1) >= 0);
		assert_true(store_merge(&s, "m", 1, o) >= 0);
		assert_int_equal(journal_local_writes(st), w0 + 1);
		assert_true(journal_pending(st));

		assert_int_equal(journal_flush(st), 0);
		assert_false(journal_pending(st));
		assert_int_equal(rep.n, 2);
		assert_int_equal(rep.gens[0], g0);
		assert_int_equal(rep.gens[1], g0 + 1);
		assert_int_equal(rep.rcs[0], 0);
		assert_int_equal(rep.rcs[1], 0);
		/* under always the write's batch was synced before its report;
		 * the merge's needs no sync of its own */
		if (mode == CONFIG_DURABILITY_ALWAYS)
			assert_true(rep.syncs[0] >= 1);
		else
			assert_int_equal(rep.syncs[1], 0);
		/* a pass with nothing journaled hands nothing over */
		assert_int_equal(journal_flush(st), 0);
		assert_int_equal(rep.n, 2);
		close_run(f, st);
		store_done(&s);
		store_done(&peer);
	}
}

/* Who commits: while the writer thread is idle, a small batch that needs no
 * sync is committed by the loop and reported before journal_commit returns;
 * a write under always (it needs a sync) and a large batch go to the thread,
 * and are reported only through the loop's async handle. */
static void test_small_batches_commit_on_loop(void **state)
{
	struct fixture *f = *state;
	static char big[1024];

	memset(big, 'b', sizeof(big) - 1);
	for (int mode = CONFIG_DURABILITY_ALWAYS; mode <= CONFIG_DURABILITY_NONE; mode++) {
		struct reports rep = { 0 };
		struct journal_stats js;
		struct store s;
		store_init(&s);
		struct journal *st = open_load(f, &s, (enum config_durability)mode, NULL, 0);
		rep.st = st;
		journal_set_report(st, report_cb, &rep);

		sadd(&s, st, "k", "x");
		assert_int_equal(journal_commit(st), 0);
		journal_get_stats(st, &js);
		if (mode == CONFIG_DURABILITY_ALWAYS) {
			assert_int_equal(rep.n, 0); /* the thread syncs it */
			assert_int_equal(js.loop_commits, 0);
			assert_int_equal(journal_flush(st), 0);
			assert_int_equal(rep.n, 1);
			assert_true(rep.syncs[0] >= 1);
		} else {
			assert_int_equal(rep.n, 1); /* stored and reported at once */
			assert_int_equal(rep.rcs[0], 0);
			assert_int_equal(js.loop_commits, 1);
			assert_int_equal(js.commits, 1);
		}

		/* over 64 KiB in one pass: the thread's */
		journal_get_stats(st, &js);
		uint64_t before = js.loop_commits;
		int n = rep.n;
		for (int i = 0; i < 80; i++) {
			big[0] = (char)('A' + i % 26);
			big[1] = (char)('A' + i / 26);
			sadd(&s, st, "big", big);
		}
		assert_int_equal(journal_commit(st), 0);
		assert_int_equal(rep.n, n);
		assert_int_equal(journal_flush(st), 0);
		assert_int_equal(rep.n, n + 1);
		assert_int_equal(rep.rcs[n], 0);
		journal_get_stats(st, &js);
		assert_int_equal(js.loop_commits, before);
		close_run(f, st);

		/* both are there after a restart */
		struct store s2;
		store_init(&s2);
		st = open_load(f, &s2, (enum config_durability)mode, NULL, 0);
		assert_true(crdt_orset_contains(slot(&s2, "k", CRDT_ORSET)->os, "x", 1));
		assert_int_equal(crdt_orset_card(slot(&s2, "big", CRDT_ORSET)->os), 80);
		close_run(f, st);
		store_done(&s2);
		store_done(&s);
	}
}

/* What was journaled comes back equal after a restart, and the adds keep
 * the id they were made under, though the new store has another id. */
static void test_restart_keeps_state_and_ids(void **state)
{
	struct fixture *f = *state;
	struct store a, b;
	struct crdt_rid first;

	store_init(&a);
	first = a.self;
	struct journal *st = open_load(f, &a, CONFIG_DURABILITY_BATCH, NULL, 0);
	sadd(&a, st, "cart", "laptop");
	sadd(&a, st, "cart", "mouse");
	incr(&a, st, "hits", 5);
	incr(&a, st, "hits", -2);
	assert_int_equal(journal_commit(st), 0);
	close_run(f, st);

	store_init(&b);
	assert_int_not_equal(crdt_rid_cmp(&a.self, &b.self), 0);
	st = open_load(f, &b, CONFIG_DURABILITY_BATCH, NULL, 0);
	assert_true(crdt_obj_equal(slot(&a, "cart", CRDT_ORSET), slot(&b, "cart", CRDT_ORSET)));
	assert_true(crdt_obj_equal(slot(&a, "hits", CRDT_PNCOUNTER),
				   slot(&b, "hits", CRDT_PNCOUNTER)));
	assert_int_equal(crdt_orset_context_max(slot(&b, "cart", CRDT_ORSET)->os, &first), 2);
	assert_int_equal(crdt_orset_context_max(slot(&b, "cart", CRDT_ORSET)->os, &b.self), 0);
	/* a write after the restart is the new id's first */
	sadd(&b, st, "cart", "pen");
	assert_int_equal(crdt_orset_context_max(slot(&b, "cart", CRDT_ORSET)->os, &b.self), 1);
	assert_int_equal(journal_commit(st), 0);
	close_run(f, st);

	struct store c;
	store_init(&c);
	st = open_load(f, &c, CONFIG_DURABILITY_BATCH, NULL, 0);
	assert_true(crdt_obj_equal(slot(&b, "cart", CRDT_ORSET), slot(&c, "cart", CRDT_ORSET)));
	assert_int_equal(crdt_orset_card(slot(&c, "cart", CRDT_ORSET)->os), 3);
	close_run(f, st);
	store_done(&a);
	store_done(&b);
	store_done(&c);
}

/* SET of @name to @val as the store's own id, journaled as commands.c does
 * (the new register is the record). */
static void set(struct store *s, struct journal *st, struct crdt_hlc *hlc, const char *name,
		const char *val)
{
	struct crdt_obj *o;

	assert_int_equal(store_get(s, name, strlen(name), CRDT_LWWREG, true, &o), 0);
	assert_int_equal(crdt_lwwreg_set(o->lww, hlc, &s->self, val, strlen(val)), 0);
	journal_log(st, store_find(s, name, strlen(name)), CRDT_LWWREG, JOURNAL_OP_STATE, o, 0,
		    NULL, NULL);
}

static void assert_reg(struct store *s, const char *name, const char *want)
{
	const uint8_t *v;
	size_t len;

	assert_true(crdt_lwwreg_get(slot(s, name, CRDT_LWWREG)->lww, &v, &len));
	assert_int_equal(len, strlen(want));
	assert_memory_equal(v, want, len);
}

/* A register's every change, local or merged from a peer, is stored as its
 * snapshot (one value per register, overwritten), not as a record in the
 * log: after many writes, several to one register within one pass's batch
 * and a peer's older value merged last, the next start loads no journal
 * record, and each register holds its last write.  A write dropped or
 * stored out of order would load another value. */
static void test_register_stored_as_snapshot(void **state)
{
	struct fixture *f = *state;
	struct journal_stats js;
	struct store a, b, peer;
	struct crdt_hlc hlc, phlc;
	char name[32], val[48];

	store_init(&a);
	store_init(&peer);
	crdt_hlc_init(&hlc, NULL, NULL);
	crdt_hlc_init(&phlc, NULL, NULL);
	struct journal *st = open_load(f, &a, CONFIG_DURABILITY_NONE, NULL, 0);
	/* an older write from a peer, stamped before ours: it loses */
	struct crdt_obj *old;
	assert_int_equal(store_get(&peer, "r7", 2, CRDT_LWWREG, true, &old), 0);
	assert_int_equal(crdt_lwwreg_set(old->lww, &phlc, &peer.self, "old", 3), 0);
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 100; i++) {
			snprintf(name, sizeof(name), "r%d", i);
			snprintf(val, sizeof(val), "value-%d-%d", i, round);
			set(&a, st, &hlc, name, val);
			if (i % 10 == 0) { /* twice in one batch */
				snprintf(val, sizeof(val), "again-%d-%d", i, round);
				set(&a, st, &hlc, name, val);
			}
		}
		assert_int_equal(journal_commit(st), 0);
	}
	/* a newer one from the peer wins, and is stored like a local write */
	struct crdt_obj *newer;
	assert_int_equal(store_get(&peer, "r3", 2, CRDT_LWWREG, true, &newer), 0);
	crdt_hlc_observe(&phlc, &slot(&a, "r3", CRDT_LWWREG)->lww->ts, 0);
	assert_int_equal(crdt_lwwreg_set(newer->lww, &phlc, &peer.self, "from-peer", 9), 0);
	/* each with the bytes it came in: the winner's are its snapshot, the
	 * loser's must not be */
	struct crdt_buf enc_new, enc_old;
	crdt_buf_init(&enc_new, 0);
	crdt_buf_init(&enc_old, 0);
	assert_int_equal(crdt_obj_encode(newer, &enc_new), 0);
	assert_int_equal(crdt_obj_encode(old, &enc_old), 0);
	assert_int_equal(store_merge_encoded(&a, "r3", 2, newer, enc_new.data, enc_new.len), 0);
	assert_int_equal(store_merge_encoded(&a, "r7", 2, old, enc_old.data, enc_old.len), 0);
	crdt_buf_done(&enc_new);
	crdt_buf_done(&enc_old);
	/* a small counter beside them is stored the same way */
	incr(&a, st, "hits", 3);
	assert_int_equal(journal_commit(st), 0);
	journal_get_stats(st, &js);
	assert_int_equal(js.records, 5 * 110 + 3);
	assert_int_equal(js.compactions, 0);
	close_run(f, st);

	store_init(&b);
	st = open_load(f, &b, CONFIG_DURABILITY_NONE, NULL, 0);
	journal_get_stats(st, &js);
	assert_int_equal(js.loaded_instances, 101);
	assert_int_equal(js.loaded_records, 0);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		snprintf(val, sizeof(val), i % 10 == 0 ? "again-%d-4" : "value-%d-4", i);
		assert_reg(&b, name, i == 3 ? "from-peer" : val);
		assert_true(crdt_obj_equal(slot(&a, name, CRDT_LWWREG), slot(&b, name, CRDT_LWWREG)));
	}
	assert_true(crdt_obj_equal(slot(&a, "hits", CRDT_PNCOUNTER),
				   slot(&b, "hits", CRDT_PNCOUNTER)));
	/* a delete is a change of the register like any other */
	assert_int_equal(store_del(&b, "r5", 2), 1);
	assert_int_equal(journal_commit(st), 0);
	close_run(f, st);
	store_done(&a);
	store_init(&a);
	st = open_load(f, &a, CONFIG_DURABILITY_NONE, NULL, 0);
	assert_false(crdt_lwwreg_live(slot(&a, "r5", CRDT_LWWREG)->lww));
	assert_reg(&a, "r6", "value-6-4");
	close_run(f, st);
	store_done(&a);
	store_done(&b);
	store_done(&peer);
}

/* SADD of @elem through the store's change stream, as cmd_sadd does: the
 * journal asks for no delta (store_delta), also while the set folds: the
 * op, whose record names the dots the adds took, is enough. */
static void sadd_delta(struct store *s, const char *name, const char *elem)
{
	struct crdt_obj *o;
	const uint8_t *elems[1] = { (const uint8_t *)elem };
	size_t lens[1] = { strlen(elem) };
	struct store_entry *e;
	bool own;

	assert_int_equal(store_get(s, name, strlen(name), CRDT_ORSET, true, &o), 0);
	e = store_find(s, name, strlen(name));
	assert_null(store_delta(s, e, CRDT_ORSET, &own));
	assert_false(own);
	assert_true(crdt_orset_add(o->os, &s->self, elem, lens[0]) >= 0);
	store_changed(s, e, CRDT_ORSET,
		      &(struct store_change){ .op = STORE_OP_ORSET_ADD, .n = 1, .elems = elems,
					      .lens = lens });
}

/* SREM of @elem, journaled as commands.c does. */
static void srem(struct store *s, const char *name, const char *elem)
{
	struct crdt_obj *o;
	const uint8_t *elems[1] = { (const uint8_t *)elem };
	size_t lens[1] = { strlen(elem) };

	assert_int_equal(store_get(s, name, strlen(name), CRDT_ORSET, false, &o), 0);
	crdt_orset_remove(o->os, elem, lens[0]);
	store_changed(s, store_find(s, name, strlen(name)), CRDT_ORSET,
		      &(struct store_change){ .op = STORE_OP_ORSET_REM, .n = 1, .elems = elems,
					      .lens = lens });
}

/* A set past 4,096 members folds a slice a pass (here one past 65,536,
 * which takes many): adds, removes and a
 * peer's states go on while it does; at the end its older records and
 * snapshot are gone, and a start loads exactly the set.  A start after a
 * stop in the middle of a fold (its pieces, the old snapshot and every
 * record there) loads exactly the set too.  An add replayed as "one past
 * the highest dot" among the pieces would take a dot another member holds
 * (the load would differ): its record names its dot. */
static void test_large_set_folds_in_slices(void **state)
{
	struct fixture *f = *state;
	struct store a, b, peer;
	struct journal_stats js;
	struct crdt_obj *po;
	char m[32];
	int i = 0, during = 0, passes = 0;

	store_init(&a);
	store_init(&peer);
	struct journal *st = open_load(f, &a, CONFIG_DURABILITY_NONE, NULL, 0);
	for (int round = 0; round < 2; round++) {
		size_t at_start = 0, sliced0;
		bool was = false;
		/* grow until a sliced fold of 65,536 members or more begins
		 * (the folds of the set while smaller end on the way) */
		for (;;) {
			bool now = journal_folding(st) > 0;
			if (now && !was)
				at_start = crdt_obj_parts(slot(&a, "big", CRDT_ORSET));
			was = now;
			if (now && at_start >= 65536)
				break;
			snprintf(m, sizeof(m), "m%d", i++);
			sadd_delta(&a, "big", m);
			if (i % 500 == 0)
				assert_int_equal(journal_commit(st), 0);
			assert_true(i < 400000);
		}
		journal_get_stats(st, &js);
		sliced0 = js.compactions_sliced;
		/* writes of every kind while it folds, a few a pass */
		while (journal_folding(st) && (round == 0 || passes < 3)) {
			snprintf(m, sizeof(m), "m%d", i++);
			sadd_delta(&a, "big", m);
			snprintf(m, sizeof(m), "m%d", during * 7);
			srem(&a, "big", m);
			snprintf(m, sizeof(m), "p%d", during);
			assert_int_equal(store_get(&peer, "big", 3, CRDT_ORSET, true, &po), 0);
			assert_true(crdt_orset_add(po->os, &peer.self, m, strlen(m)) >= 0);
			assert_int_equal(store_merge(&a, "big", 3, po), 0);
			during++;
			passes++;
			assert_int_equal(journal_commit(st), 0);
			assert_true(passes < 10000);
		}
		if (round == 0) {
			journal_get_stats(st, &js);
			assert_int_equal(js.compactions_sliced, sliced0 + 1);
			assert_true(sliced0 >= 1); /* smaller, on the way: past 4,096 */
			assert_true(passes > 3); /* it took several passes */
		}
		/* a start loads exactly the set: after the fold, then in the
		 * middle of the next one */
		close_run(f, st);
		store_init(&b);
		st = open_load(f, &b, CONFIG_DURABILITY_NONE, NULL, 0);
		assert_true(crdt_obj_equal(slot(&a, "big", CRDT_ORSET), slot(&b, "big", CRDT_ORSET)));
		journal_get_stats(st, &js);
		if (round == 0) /* the records before the fold are gone */
			assert_true(js.loaded_records < 200);
		/* and go on writing into a store loaded again */
		close_run(f, st);
		store_done(&a);
		store_init(&a);
		st = open_load(f, &a, CONFIG_DURABILITY_NONE, NULL, 0);
		assert_true(crdt_obj_equal(slot(&a, "big", CRDT_ORSET), slot(&b, "big", CRDT_ORSET)));
		store_done(&b);
		passes = 0;
	}
	close_run(f, st);
	store_done(&a);
	store_done(&peer);
}

/* A pass of a fold with nothing else written stores one piece, a
 * kind-6 record of at most 32 KiB (about 0.5 ms of the loop at 1,000,000
 * members; three a pass held it 1.5-2 ms), also while two large sets fold
 * at once (they take turns): so the folds of sets of S bytes in all take
 * at least S / 32 KiB passes. */
static void test_fold_slice_is_one_piece(void **state)
{
	struct fixture *f = *state;
	struct store a;
	struct journal_stats js;
	struct crdt_buf enc;
	uint64_t before;
	char m[32];
	int i = 0, passes = 0, both = 0;

	store_init(&a);
	struct journal *st = open_load(f, &a, CONFIG_DURABILITY_NONE, NULL, 0);
	while (journal_folding(st) < 2) { /* two sets grown side by side */
		snprintf(m, sizeof(m), "m%d", i++);
		sadd_delta(&a, "big", m);
		sadd_delta(&a, "bag", m);
		if (i % 250 == 0)
			assert_int_equal(journal_commit(st), 0);
		assert_true(i < 400000);
	}
	while (journal_folding(st)) {
		both += journal_folding(st) == 2;
		journal_get_stats(st, &js);
		before = js.records;
		assert_int_equal(journal_commit(st), 0);
		journal_get_stats(st, &js);
		assert_true(js.records - before <= 1);
		assert_true(++passes < 10000);
	}
	assert_true(both > 1);
	crdt_buf_init(&enc, 0);
	assert_int_equal(crdt_obj_encode(slot(&a, "big", CRDT_ORSET), &enc), 0);
	assert_int_equal(crdt_obj_encode(slot(&a, "bag", CRDT_ORSET), &enc), 0);
	assert_true((size_t)passes + 2 >= enc.len / (32 << 10));
	crdt_buf_done(&enc);
	close_run(f, st);
	store_done(&a);
}

/* HSET or HDEL (@v NULL) of field @fld, journaled with its delta as
 * cmd_hash.c does. */
static void hwrite(struct store *s, struct crdt_hlc *h, const char *name, const char *fld,
		   const char *v)
{
	struct crdt_obj *o, delta;

	assert_int_equal(store_get(s, name, strlen(name), CRDT_ORMAP, true, &o), 0);
	assert_int_equal(crdt_obj_new(CRDT_ORMAP, &delta), 0);
	if (v)
		assert_int_equal(crdt_ormap_set(o->om, h, &s->self, fld, strlen(fld), v, strlen(v),
						 delta.om), 0);
	else
		assert_true(crdt_ormap_del(o->om, fld, strlen(fld), delta.om) >= 0);
	store_changed(s, store_find(s, name, strlen(name)), CRDT_ORMAP,
		      &(struct store_change){ .op = STORE_OP_STATE, .state = &delta,
					      .delta = &delta });
	crdt_obj_done(&delta);
}

/* A hash past 65,536 fields folds a slice a pass as a set does, while
 * fields are set and deleted; a start loads exactly the hash. */
static void test_large_hash_folds_in_slices(void **state)
{
	struct fixture *f = *state;
	struct store a, b;
	struct journal_stats js;
	struct crdt_hlc h;
	char k[32];
	int i = 0, passes = 0;

	crdt_hlc_init(&h, NULL, NULL);
	store_init(&a);
	struct journal *st = open_load(f, &a, CONFIG_DURABILITY_NONE, NULL, 0);
	while (!journal_folding(st)) {
		snprintf(k, sizeof(k), "f%d", i++);
		hwrite(&a, &h, "h", k, "v");
		if (i % 500 == 0)
			assert_int_equal(journal_commit(st), 0);
		assert_true(i < 400000);
	}
	while (journal_folding(st)) {
		snprintf(k, sizeof(k), "f%d", i++);
		hwrite(&a, &h, "h", k, "w");
		snprintf(k, sizeof(k), "f%d", passes * 3);
		hwrite(&a, &h, "h", k, passes % 2 ? NULL : "again");
		passes++;
		assert_int_equal(journal_commit(st), 0);
		assert_true(passes < 10000);
	}
	journal_get_stats(st, &js);
	assert_int_equal(js.compactions_sliced, 1);
	assert_true(passes > 3);
	close_run(f, st);
	store_init(&b);
	st = open_load(f, &b, CONFIG_DURABILITY_NONE, NULL, 0);
	assert_true(crdt_obj_equal(slot(&a, "h", CRDT_ORMAP), slot(&b, "h", CRDT_ORMAP)));
	close_run(f, st);
	store_done(&a);
	store_done(&b);
}

/* HINCRBY of field @fld of hash @name by @by, journaled with its delta. */
static void hincr(struct store *s, const char *name, const char *fld, int64_t by)
{
	struct crdt_obj *o, delta;
	int64_t v;

	assert_int_equal(store_get(s, name, strlen(name), CRDT_ORMAP, true, &o), 0);
	assert_int_equal(crdt_obj_new(CRDT_ORMAP, &delta), 0);
	assert_int_equal(crdt_ormap_incr(o->om, &s->self, fld, strlen(fld), by, delta.om, &v), 0);
	store_changed(s, store_find(s, name, strlen(name)), CRDT_ORMAP,
		      &(struct store_change){ .op = STORE_OP_STATE, .state = &delta,
					      .delta = &delta });
	crdt_obj_done(&delta);
}

/* The log's last record: its kind, and its value's length. */
static size_t last_record(const char *dir, uint8_t *kind)
{
	char path[PATH_MAX + 16];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi log;
	MDB_cursor *cur;
	MDB_val k, v;

	snprintf(path, sizeof(path), "%s/store.lmdb", dir);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
	assert_int_equal(mdb_env_set_mapsize(env, 64u << 20), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "log", 0, &log), 0);
	assert_int_equal(mdb_cursor_open(txn, log, &cur), 0);
	assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_LAST), 0);
	assert_true(v.mv_size > 8);
	*kind = ((const uint8_t *)v.mv_data)[8];
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return v.mv_size;
}

/* A DEL of a hash (or a set) is stored as the clear it was (kind 7), a
 * few bytes, not as the cleared state: a hash of counters keeps a
 * baseline per field, as many as it had fields.  A start replays it into
 * the same state, baselines and all, also when the DEL came while the
 * hash was folding a slice a pass. */
static void test_del_stored_as_clear(void **state)
{
	struct fixture *f = *state;
	struct crdt_hlc h;
	char k[32], cmd[PATH_MAX + 32];
	struct crdt_ormap_val v;
	uint8_t kind;

	crdt_hlc_init(&h, NULL, NULL);
	for (int mid_fold = 0; mid_fold < 2; mid_fold++) {
		struct store a, b;
		struct journal *st;
		int i = 0, passes = 0;

		store_init(&a);
		st = open_load(f, &a, CONFIG_DURABILITY_NONE, NULL, 0);
		for (; i < 3000 || (mid_fold && !journal_folding(st)); i++) {
			snprintf(k, sizeof(k), "f%d", i);
			hincr(&a, "h", k, i + 1);
			if (i % 500 == 0)
				assert_int_equal(journal_commit(st), 0);
			assert_true(i < 400000);
		}
		hwrite(&a, &h, "h", "plain", "v");
		assert_int_equal(journal_commit(st), 0);
		assert_int_equal(store_del(&a, "h", 1), 1);
		assert_int_equal(journal_commit(st), 0);
		while (journal_folding(st)) { /* the fold goes on, of the cleared hash */
			assert_int_equal(journal_commit(st), 0);
			assert_true(++passes < 10000);
		}
		close_run(f, st);
		if (!mid_fold) {
			assert_true(last_record(f->dir, &kind) < 16);
			assert_int_equal(kind, JOURNAL_OP_CLEAR);
		}
		store_init(&b);
		st = open_load(f, &b, CONFIG_DURABILITY_NONE, NULL, 0);
		assert_true(crdt_obj_equal(slot(&a, "h", CRDT_ORMAP), slot(&b, "h", CRDT_ORMAP)));
		assert_int_equal(crdt_ormap_len(slot(&b, "h", CRDT_ORMAP)->om), 0);
		assert_int_equal(crdt_ormap_bases(slot(&b, "h", CRDT_ORMAP)->om), (size_t)i);
		/* counted again after the start: from its baseline */
		hincr(&b, "h", "f7", 5);
		assert_int_equal(journal_commit(st), 0);
		close_run(f, st);
		store_done(&a);
		store_init(&a);
		st = open_load(f, &a, CONFIG_DURABILITY_NONE, NULL, 0);
		assert_true(crdt_obj_equal(slot(&a, "h", CRDT_ORMAP), slot(&b, "h", CRDT_ORMAP)));
		assert_true(crdt_ormap_get(slot(&a, "h", CRDT_ORMAP)->om, "f7", 2, &v));
		assert_true(v.counter);
		assert_int_equal(v.n, 5);
		close_run(f, st);
		store_done(&a);
		store_done(&b);
		snprintf(cmd, sizeof(cmd), "rm -f '%s'/store.*", f->dir); /* the next starts empty */
		assert_int_equal(system(cmd), 0);
	}
}

/* A counter is stored as its snapshot, in place, while its state is small
 * (its entries: one per replica id that wrote it); one that many replica
 * ids wrote goes back to journal records, folded as any slot's.  Either
 * way a start loads the exact value. */
static void test_counter_in_place_while_small(void **state)
{
	struct fixture *f = *state;
	struct store a, b;
	struct journal_stats js;
	struct crdt_obj many;
	struct crdt_rid rid;

	store_init(&a);
	struct journal *st = open_load(f, &a, CONFIG_DURABILITY_NONE, NULL, 0);
	for (int i = 0; i < 50; i++)
		incr(&a, st, "hits", i % 2 ? 2 : -1);
	assert_int_equal(journal_commit(st), 0);
	close_run(f, st);
	store_init(&b);
	st = open_load(f, &b, CONFIG_DURABILITY_NONE, NULL, 0);
	journal_get_stats(st, &js);
	assert_int_equal(js.loaded_instances, 1);
	assert_int_equal(js.loaded_records, 0); /* fifty writes, one value */
	assert_true(crdt_obj_equal(slot(&a, "hits", CRDT_PNCOUNTER),
				   slot(&b, "hits", CRDT_PNCOUNTER)));

	/* twenty replica ids' entries: past IN_PLACE_MAX */
	assert_int_equal(crdt_obj_new(CRDT_PNCOUNTER, &many), 0);
	for (int i = 0; i < 20; i++) {
		crdt_rid_generate(&rid);
		assert_int_equal(crdt_pncounter_inc(many.pn, &rid, 1 + (uint64_t)i), 0);
	}
	assert_int_equal(store_merge(&b, "hits", 4, &many), 0);
	crdt_obj_done(&many);
	for (int i = 0; i < 7; i++)
		incr(&b, st, "hits", 5);
	assert_int_equal(journal_commit(st), 0);
	close_run(f, st);
	store_done(&a);
	store_init(&a);
	st = open_load(f, &a, CONFIG_DURABILITY_NONE, NULL, 0);
	journal_get_stats(st, &js);
	assert_int_equal(js.loaded_records, 7); /* each increment a record again */
	assert_true(crdt_obj_equal(slot(&a, "hits", CRDT_PNCOUNTER),
				   slot(&b, "hits", CRDT_PNCOUNTER)));
	close_run(f, st);
	store_done(&a);
	store_done(&b);
}

/* A peer's @elem for set @name, merged into @s (what the receive path does). */
static void merge_elem(struct store *s, struct store *peer, const char *name, const char *elem)
{
	struct crdt_obj *o;

	assert_int_equal(store_get(peer, name, strlen(name), CRDT_ORSET, true, &o), 0);
	assert_true(crdt_orset_add(o->os, &peer->self, elem, strlen(elem)) >= 0);
	assert_true(store_merge(s, name, strlen(name), o) >= 0);
}

/* A pass's batch of merges only is held for the next passes (one LMDB
 * transaction for several passes' merges): not handed over at the end of
 * its pass, but by its timer, by a pass with a local write (which then
 * carries it, in order), past its size bound, or at close; every merge and
 * write of every pass loads back.  A held batch dropped on any of these
 * paths would lose a member. */
static void test_merges_held_then_stored(void **state)
{
	struct fixture *f = *state;
	static char big[1024];
	struct reports rep = { 0 };
	struct store s, peer, s2;
	char elem[32];

	memset(big, 'b', sizeof(big) - 1);
	store_init(&s);
	store_init(&peer);
	struct journal *st = open_load(f, &s, CONFIG_DURABILITY_NONE, NULL, 0);
	rep.st = st;
	journal_set_report(st, report_cb, &rep);
	uint64_t g0 = journal_batch_gen(st);

	/* two passes of merges: one batch, held */
	merge_elem(&s, &peer, "m", "p1");
	assert_int_equal(journal_commit(st), 0);
	merge_elem(&s, &peer, "m", "p2");
	assert_int_equal(journal_commit(st), 0);
	assert_int_equal(journal_batch_gen(st), g0);
	assert_true(journal_pending(st));
	assert_int_equal(rep.n, 0);
	/* its timer hands it over (the only handle due) */
	for (int i = 0; i < 1000 && rep.n == 0; i++)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_int_equal(rep.n, 1);
	assert_int_equal(rep.gens[0], g0);
	assert_int_equal(rep.rcs[0], 0);
	assert_false(journal_pending(st));

	/* a merge held, then a local write: one batch, handed over at once */
	merge_elem(&s, &peer, "m", "p3");
	assert_int_equal(journal_commit(st), 0);
	assert_int_equal(rep.n, 1);
	sadd(&s, st, "k", "x");
	assert_int_equal(journal_commit(st), 0);
	assert_int_equal(journal_batch_gen(st), g0 + 2);
	assert_int_equal(journal_flush(st), 0);
	assert_int_equal(rep.n, 2);
	assert_int_equal(rep.gens[1], g0 + 1);

	/* past the size bound in one pass: handed over at the pass's end */
	for (int i = 0; i < 300; i++) {
		big[0] = (char)('A' + i % 26);
		big[1] = (char)('A' + i / 26);
		merge_elem(&s, &peer, "big", big);
	}
	assert_int_equal(journal_commit(st), 0);
	assert_int_equal(journal_batch_gen(st), g0 + 3);

	/* held at close: stored by it */
	for (int i = 0; i < 20; i++) {
		snprintf(elem, sizeof(elem), "last-%d", i);
		merge_elem(&s, &peer, "m", elem);
		assert_int_equal(journal_commit(st), 0);
	}
	assert_int_equal(journal_batch_gen(st), g0 + 3);
	close_run(f, st);

	store_init(&s2);
	st = open_load(f, &s2, CONFIG_DURABILITY_NONE, NULL, 0);
	assert_int_equal(crdt_orset_card(slot(&s2, "m", CRDT_ORSET)->os), 23);
	assert_true(crdt_obj_equal(slot(&s, "m", CRDT_ORSET), slot(&s2, "m", CRDT_ORSET)));
	assert_true(crdt_obj_equal(slot(&s, "big", CRDT_ORSET), slot(&s2, "big", CRDT_ORSET)));
	assert_true(crdt_orset_contains(slot(&s2, "k", CRDT_ORSET)->os, "x", 1));
	close_run(f, st);
	store_done(&s);
	store_done(&s2);
	store_done(&peer);
}

/* Copy @from to @to inside the fixture's directory (cp, as an operator's
 * or a crash's view of the files). */
static void copy_file(struct fixture *f, const char *from, const char *to)
{
	char cmd[3 * PATH_MAX];
	snprintf(cmd, sizeof(cmd), "cp '%s/%s' '%s/%s'", f->dir, from, f->dir, to);
	assert_int_equal(system(cmd), 0);
}

static long file_size(struct fixture *f, const char *name)
{
	char path[PATH_MAX + 32];
	FILE *fp;
	long n;
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	if (!(fp = fopen(path, "rb")))
		return -1;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fclose(fp);
	return n;
}

/* A start after a crash: store.lmdb from @lmdb, store.wal from @wal (either
 * NULL: as it is), loaded into the fresh store @s; the log's records it applied
 * must be @applied. */
static struct journal *restart_from(struct fixture *f, const char *lmdb, const char *wal,
				    struct store *s, enum config_durability mode, uint64_t applied)
{
	struct journal_stats js;

	if (lmdb)
		copy_file(f, lmdb, "store.lmdb");
	if (wal)
		copy_file(f, wal, "store.wal");
	store_init(s);
	struct journal *st = open_load(f, s, mode, NULL, 0);
	journal_get_stats(st, &js);
	assert_int_equal(js.wal_applied, applied);
	return st;
}

/* Under always a write is acknowledged once its log record is synced; LMDB
 * takes the log every batch_ms.  A crash in between (here: store.lmdb as it
 * was before the writes, store.wal as it was at their report) loses none of
 * them: the next start applies the log, in any mode, skips the records LMDB
 * already holds, and stops at a record a crash cut short. */
static void test_log_applied_after_crash(void **state)
{
	struct fixture *f = *state;
	struct journal_stats js;
	struct store a, b, c, d;

	store_init(&a);
	struct journal *st = open_load(f, &a, CONFIG_DURABILITY_ALWAYS, NULL, 0);
	copy_file(f, "store.lmdb", "lmdb.before");
	sadd(&a, st, "cart", "laptop");
	incr(&a, st, "hits", 5);
	assert_int_equal(journal_flush(st), 0);
	sadd(&a, st, "cart", "mouse");
	incr(&a, st, "hits", -2);
	assert_int_equal(journal_flush(st), 0);
	journal_get_stats(st, &js);
	assert_true(js.syncs >= 2);
	assert_true(file_size(f, "store.wal") > 0);
	assert_int_equal(js.wal_bytes, file_size(f, "store.wal"));
	copy_file(f, "store.wal", "wal.at-crash");
	close_run(f, st);
	/* a clean close: LMDB took the log, which is empty */
	assert_int_equal(file_size(f, "store.wal"), 0);

	/* the crash: LMDB without the writes, the log with them, and half an
	 * append after them */
	copy_file(f, "wal.at-crash", "store.wal");
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "printf '\\000\\000\\001' >> '%s/store.wal'", f->dir);
	assert_int_equal(system(cmd), 0);
	st = restart_from(f, "lmdb.before", NULL, &b, CONFIG_DURABILITY_ALWAYS, 2);
	assert_true(crdt_obj_equal(slot(&a, "cart", CRDT_ORSET), slot(&b, "cart", CRDT_ORSET)));
	assert_true(crdt_obj_equal(slot(&a, "hits", CRDT_PNCOUNTER),
				   slot(&b, "hits", CRDT_PNCOUNTER)));
	close_run(f, st);

	/* the same log again: LMDB holds its records now, none is applied */
	st = restart_from(f, NULL, "wal.at-crash", &c, CONFIG_DURABILITY_ALWAYS, 0);
	assert_true(crdt_obj_equal(slot(&a, "cart", CRDT_ORSET), slot(&c, "cart", CRDT_ORSET)));
	close_run(f, st);

	/* a restart under batch applies it too (every mode logs), and a clean
	 * close empties it */
	st = restart_from(f, "lmdb.before", "wal.at-crash", &d, CONFIG_DURABILITY_BATCH, 2);
	assert_true(crdt_obj_equal(slot(&a, "hits", CRDT_PNCOUNTER),
				   slot(&d, "hits", CRDT_PNCOUNTER)));
	close_run(f, st);
	assert_int_equal(file_size(f, "store.wal"), 0);
	store_done(&a);
	store_done(&b);
	store_done(&c);
	store_done(&d);
}

/* store.wal written: the first record of @a, then @b from its second on
 * (a crash of the machine that left an old page under newer ones). */
static void splice_logs(struct fixture *f, const char *a, const char *b)
{
	char pa[PATH_MAX + 32], pb[PATH_MAX + 32], out[PATH_MAX + 32];
	uint8_t *ba, *bb;
	size_t la, lb, oa = 0, ob = 0;
	struct wal_rec r;
	FILE *fp;

	snprintf(pa, sizeof(pa), "%s/%s", f->dir, a);
	snprintf(pb, sizeof(pb), "%s/%s", f->dir, b);
	snprintf(out, sizeof(out), "%s/store.wal", f->dir);
	assert_int_equal(wal_read(pa, &ba, &la), 0);
	assert_int_equal(wal_read(pb, &bb, &lb), 0);
	assert_int_equal(wal_next(ba, la, &oa, &r), 1);
	assert_int_equal(wal_next(bb, lb, &ob, &r), 1);
	assert_non_null(fp = fopen(out, "wb"));
	assert_int_equal(fwrite(ba, 1, oa, fp), oa);
	assert_int_equal(fwrite(bb + ob, 1, lb - ob, fp), lb - ob);
	fclose(fp);
	free(ba);
	free(bb);
}

/* After LMDB takes the log (every batch_ms) the log is written again from
 * its start, over the old records, which stay past the new ones.  A crash
 * then (store.lmdb as that commit left it, store.wal as at the new writes'
 * report) loses none of the new writes, and the old records after them are
 * not an error; nor is an old page left before newer ones by a crash of the
 * machine: the log ends there. */
static void test_log_written_over_after_commit(void **state)
{
	struct fixture *f = *state;
	struct journal_stats js;
	struct store a, b, c;
	struct journal *st = NULL;
	char err[512], e[8];

	store_init(&a);
	assert_int_equal(journal_open(&f->loop, f->dir, NULL, CONFIG_DURABILITY_ALWAYS, 20,
				      16u << 20, &st, err, sizeof(err)), 0);
	assert_int_equal(journal_load(st, &a, err, sizeof(err)), 0);
	for (int i = 0; i < 40; i++) {
		snprintf(e, sizeof(e), "a%02d", i);
		sadd(&a, st, "k", e);
		assert_int_equal(journal_commit(st), 0);
	}
	assert_int_equal(journal_flush(st), 0);
	copy_file(f, "store.wal", "wal.first");
	long first = file_size(f, "store.wal");
	/* the batch timer's commit: LMDB takes the log, which is emptied */
	journal_get_stats(st, &js);
	for (int i = 0; i < 500 && js.wal_bytes; i++) {
		uv_run(&f->loop, UV_RUN_ONCE);
		journal_get_stats(st, &js);
	}
	assert_int_equal(js.wal_bytes, 0);
	assert_int_equal(file_size(f, "store.wal"), first); /* kept, not cut */
	copy_file(f, "store.lmdb", "lmdb.ckpt");
	for (int i = 0; i < 3; i++) { /* three records */
		snprintf(e, sizeof(e), "b%02d", i);
		sadd(&a, st, "k", e);
		assert_int_equal(journal_flush(st), 0);
	}
	copy_file(f, "store.wal", "wal.at-crash");
	close_run(f, st);
	assert_int_equal(file_size(f, "store.wal"), 0); /* a clean close cuts it */

	/* the crash: the three new records are applied, the old ones after
	 * them end the log */
	st = restart_from(f, "lmdb.ckpt", "wal.at-crash", &b, CONFIG_DURABILITY_ALWAYS, 3);
	assert_int_equal(crdt_orset_card(slot(&b, "k", CRDT_ORSET)->os), 43);
	assert_true(crdt_obj_equal(slot(&a, "k", CRDT_ORSET), slot(&b, "k", CRDT_ORSET)));
	close_run(f, st);

	/* an old record before the new ones: the log ends at the first new
	 * one, which does not follow what LMDB holds, and the start goes on
	 * from the commit (not a log of a later store) */
	splice_logs(f, "wal.first", "wal.at-crash");
	st = restart_from(f, "lmdb.ckpt", NULL, &c, CONFIG_DURABILITY_ALWAYS, 0);
	assert_int_equal(crdt_orset_card(slot(&c, "k", CRDT_ORSET)->os), 40);
	close_run(f, st);
	store_done(&a);
	store_done(&b);
	store_done(&c);
}

/* The commit hook: the writer thread waits in the middle of a timed
 * commit (while the loop may log) until the test lets it go; @times
 * commits. */
struct pause {
	uv_sem_t entered, go;
	int times;
};

static void pause_hook(void *ctx)
{
	struct pause *p = ctx;

	if (p->times <= 0)
		return;
	p->times--;
	uv_sem_post(&p->entered);
	uv_sem_wait(&p->go);
}

/* Run the loop (its batch timer asks for the commit) until the thread is
 * paused in it: at most 3 s. */
static void wait_paused(struct fixture *f, struct pause *p)
{
	for (int i = 0; i < 3000; i++) {
		if (uv_sem_trywait(&p->entered) == 0)
			return;
		uv_run(&f->loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	fail_msg("the writer thread began no timed commit");
}

/* Run the loop until @pred(@st) holds: at most 3 s. */
static void wait_stats(struct fixture *f, struct journal *st,
		       bool (*pred)(const struct journal_stats *), const char *what)
{
	struct journal_stats js;

	for (int i = 0; i < 3000; i++) {
		journal_get_stats(st, &js);
		if (pred(&js))
			return;
		uv_run(&f->loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	fail_msg("waited 3 s for %s", what);
}

static bool overlapped(const struct journal_stats *js)
{
	return js->commit_overlaps == 1;
}

static bool log_empty(const struct journal_stats *js)
{
	return js->wal_bytes == 0;
}

/* While the writer thread commits LMDB's transaction (tens of ms after a
 * burst of writes), a small write that needs no sync is logged by the loop
 * itself and acknowledged at once, not after the commit; under always a
 * client's write still waits for its sync on the thread.  LMDB takes the
 * write at the next commit.  The commit it overlapped leaves the log as it
 * is (emptying it would drop the write), and the next one empties it.  A
 * crash during the commit, just after it or after the next one loses
 * nothing acknowledged. */
static void test_write_logged_while_lmdb_commits(void **state)
{
	struct fixture *f = *state;

	for (int mode = CONFIG_DURABILITY_ALWAYS; mode <= CONFIG_DURABILITY_NONE; mode++) {
		enum config_durability m = (enum config_durability)mode;
		bool always = m == CONFIG_DURABILITY_ALWAYS;
		struct pause p = { .times = 2 };
		struct reports rep = { 0 };
		struct journal_stats js;
		struct store a, b, c, d, e;
		struct journal *st = NULL;
		char err[512], cmd[4 * PATH_MAX + 64];
		int n;

		assert_int_equal(uv_sem_init(&p.entered, 0), 0);
		assert_int_equal(uv_sem_init(&p.go, 0), 0);
		store_init(&a);
		assert_int_equal(journal_open(&f->loop, f->dir, NULL, m, 20, 16u << 20, &st, err,
					      sizeof(err)), 0);
		assert_int_equal(journal_load(st, &a, err, sizeof(err)), 0);
		rep.st = st;
		journal_set_report(st, report_cb, &rep);
		journal_set_commit_hook(st, pause_hook, &p);
		sadd(&a, st, "k", "before");
		assert_int_equal(journal_flush(st), 0);
		wait_paused(f, &p);

		/* the thread is in the commit */
		n = rep.n;
		sadd(&a, st, "k", "during");
		sadd(&a, st, "n", "new"); /* a new name: its name record in the same group */
		assert_int_equal(journal_commit(st), 0);
		assert_int_equal(rep.n, always ? n : n + 1);
		copy_file(f, "store.lmdb", "lmdb.during");
		copy_file(f, "store.wal", "wal.during");
		uv_sem_post(&p.go);
		assert_int_equal(journal_flush(st), 0);
		assert_int_equal(rep.n, n + 1);
		assert_int_equal(rep.rcs[n], 0);
		/* the next timed commit waits in its turn: LMDB and the log as
		 * the first one left them */
		wait_paused(f, &p);
		if (!always)
			wait_stats(f, st, overlapped, "the first commit's counts");
		journal_get_stats(st, &js);
		assert_int_equal(js.commit_overlaps, always ? 0 : 1);
		assert_true(js.wal_bytes > 0); /* the write, in the log only */
		copy_file(f, "store.lmdb", "lmdb.after");
		copy_file(f, "store.wal", "wal.after");
		uv_sem_post(&p.go);
		wait_stats(f, st, log_empty, "a commit that empties the log");
		copy_file(f, "store.lmdb", "lmdb.taken");
		copy_file(f, "store.wal", "wal.taken");
		close_run(f, st);
		uv_sem_destroy(&p.entered);
		uv_sem_destroy(&p.go);

		/* killed during the commit: LMDB has neither write; the log
		 * has both, or under always the first (the second was not
		 * acknowledged) */
		st = restart_from(f, "lmdb.during", "wal.during", &b, m, always ? 1 : 2);
		assert_true(crdt_orset_contains(slot(&b, "k", CRDT_ORSET)->os, "before", 6));
		assert_int_equal(crdt_orset_contains(slot(&b, "k", CRDT_ORSET)->os, "during", 6),
				 !always);
		assert_int_equal(store_find(&b, "n", 1) != NULL, !always);
		close_run(f, st);
		/* killed after it: LMDB has the first, the log the second */
		st = restart_from(f, "lmdb.after", "wal.after", &c, m, 1);
		assert_true(crdt_obj_equal(slot(&a, "k", CRDT_ORSET), slot(&c, "k", CRDT_ORSET)));
		assert_true(crdt_obj_equal(slot(&a, "n", CRDT_ORSET), slot(&c, "n", CRDT_ORSET)));
		close_run(f, st);
		/* killed after the next commit, which emptied the log: LMDB
		 * took the write the loop logged */
		st = restart_from(f, "lmdb.taken", "wal.taken", &e, m, 0);
		assert_true(crdt_obj_equal(slot(&a, "k", CRDT_ORSET), slot(&e, "k", CRDT_ORSET)));
		assert_true(crdt_obj_equal(slot(&a, "n", CRDT_ORSET), slot(&e, "n", CRDT_ORSET)));
		close_run(f, st);
		/* and after a clean close, LMDB has both */
		st = restart_from(f, NULL, NULL, &d, m, 0);
		assert_true(crdt_obj_equal(slot(&a, "k", CRDT_ORSET), slot(&d, "k", CRDT_ORSET)));
		assert_true(crdt_obj_equal(slot(&a, "n", CRDT_ORSET), slot(&d, "n", CRDT_ORSET)));
		close_run(f, st);
		store_done(&a);
		store_done(&b);
		store_done(&c);
		store_done(&d);
		store_done(&e);
		snprintf(cmd, sizeof(cmd), "rm -f '%s'/store.* '%s'/*.during '%s'/*.after '%s'/*.taken",
			 f->dir, f->dir, f->dir, f->dir);
		assert_int_equal(system(cmd), 0);
	}
}

/* Under batch and none too, a write is stored once its record is in the
 * log (a write() into the page cache) and LMDB takes the log every
 * batch_ms: a kill -9 in between (here: both files as they were at the
 * report, copied while the daemon runs) loses nothing that was reported;
 * store.lmdb alone does not have it yet. */
static void test_kill9_before_commit_keeps_log_writes(void **state)
{
	struct fixture *f = *state;
	struct journal_stats js;

	for (int mode = CONFIG_DURABILITY_BATCH; mode <= CONFIG_DURABILITY_NONE; mode++) {
		enum config_durability m = (enum config_durability)mode;
		struct store a, b, c;
		char cmd[PATH_MAX + 32];

		store_init(&a);
		struct journal *st = open_load(f, &a, m, NULL, 0);
		sadd(&a, st, "cart", "laptop");
		incr(&a, st, "hits", 5);
		assert_int_equal(journal_flush(st), 0); /* reported: a reply could go */
		sadd(&a, st, "cart", "mouse");
		assert_int_equal(journal_flush(st), 0);
		journal_get_stats(st, &js);
		assert_true(js.wal_bytes > 0);
		assert_int_equal(js.syncs, 0); /* no batch_ms passed (1000 here) */
		copy_file(f, "store.lmdb", "lmdb.at-kill");
		copy_file(f, "store.wal", "wal.at-kill");
		close_run(f, st);

		/* store.lmdb as the kill left it has none of them */
		copy_file(f, "lmdb.at-kill", "store.lmdb");
		snprintf(cmd, sizeof(cmd), "rm -f '%s/store.wal'", f->dir);
		assert_int_equal(system(cmd), 0);
		store_init(&b);
		st = open_load(f, &b, m, NULL, 0);
		assert_null(store_find(&b, "cart", 4));
		close_run(f, st);

		/* with its log: all of them */
		copy_file(f, "lmdb.at-kill", "store.lmdb");
		copy_file(f, "wal.at-kill", "store.wal");
		store_init(&c);
		st = open_load(f, &c, m, NULL, 0);
		journal_get_stats(st, &js);
		assert_int_equal(js.wal_applied, 2);
		assert_true(crdt_obj_equal(slot(&a, "cart", CRDT_ORSET),
					   slot(&c, "cart", CRDT_ORSET)));
		assert_true(crdt_orset_contains(slot(&c, "cart", CRDT_ORSET)->os, "mouse", 5));
		assert_true(crdt_obj_equal(slot(&a, "hits", CRDT_PNCOUNTER),
					   slot(&c, "hits", CRDT_PNCOUNTER)));
		close_run(f, st);
		store_done(&a);
		store_done(&b);
		store_done(&c);
		snprintf(cmd, sizeof(cmd), "rm -f '%s'/store.*", f->dir);
		assert_int_equal(system(cmd), 0);
	}
}

/* Resident KiB of the mapping of @path in /proc/self/smaps, -1 if none. */
static long map_rss_kib(const char *path);

/* A log whose acknowledged records need more room than the store's map
 * has (the map filled up, the commit that would have taken them failed):
 * the start grows the map for them and applies them, it does not fail.
 * LMDB maps the grown file anew, elsewhere: the load's release of the map
 * (madvise) is of that mapping, never of the range the first one held,
 * which the process may have mapped again for anything since.  Under none
 * the records are written through the map, so its 6 MiB are resident until
 * that release. */
static void log_larger_than_map(struct fixture *f, enum config_durability mode)
{
	struct journal_stats js;
	struct jwriter_batch b = { 0 };
	struct store a, c;
	struct wal *w;
	struct journal *st;
	char path[PATH_MAX + 16], key[8];
	uint8_t *big = calloc(1, 1u << 20);

	assert_non_null(big);
	store_init(&a);
	st = open_load_sized(f, &a, mode, NULL, 0, 1u << 20);
	close_run(f, st);
	crdt_buf_init(&b.ops, 0);
	for (int i = 0; i < 6; i++) { /* 6 MiB of meta records no load reads */
		snprintf(key, sizeof(key), "pad-%d", i);
		big[0] = (uint8_t)i;
		assert_int_equal(jwriter_put(&b, JWRITER_META, key, 8, big, 1u << 20), 0);
	}
	snprintf(path, sizeof(path), "%s/store.wal", f->dir);
	assert_int_equal(wal_open(path, &w), 0);
	assert_int_equal(wal_append(w, 1, b.ops.data, b.ops.len), 0);
	wal_close(w);
	store_init(&c);
	st = open_load_sized(f, &c, mode, NULL, 0, 1u << 20);
	journal_get_stats(st, &js);
	assert_int_equal(js.wal_applied, 1);
	assert_int_equal(js.map_releases, 1);
	long rss = map_rss_kib(journal_path(st));
	assert_true(rss >= 0 && rss < 256);
	close_run(f, st);
	crdt_buf_done(&b.ops);
	free(big);
	store_done(&a);
	store_done(&c);
	unlink(path);
	snprintf(path, sizeof(path), "%s/store.lmdb", f->dir);
	unlink(path);
}

static void test_log_larger_than_map(void **state)
{
	log_larger_than_map(*state, CONFIG_DURABILITY_ALWAYS);
	log_larger_than_map(*state, CONFIG_DURABILITY_NONE);
}

/* A log record that checks out but whose ops are malformed, or a log that
 * does not continue the store (a gap in its numbers: store.lmdb restored
 * without its log), stops the start with a message that names store.wal. */
static void test_malformed_log_stops_start(void **state)
{
	struct fixture *f = *state;
	struct journal *st = NULL;
	struct store a;
	struct wal *w;
	char err[512], path[PATH_MAX + 16];

	store_init(&a);
	st = open_load(f, &a, CONFIG_DURABILITY_ALWAYS, NULL, 0);
	close_run(f, st);
	snprintf(path, sizeof(path), "%s/store.wal", f->dir);
	assert_int_equal(wal_open(path, &w), 0);
	assert_int_equal(wal_append(w, 1, "\x01\x01\0\0\xff\0\0\0", 8), 0);
	wal_close(w);
	int r = journal_open(&f->loop, f->dir, NULL, CONFIG_DURABILITY_ALWAYS, 1000, 16u << 20,
			     &st, err, sizeof(err));
	assert_int_equal(r, -EBADMSG);
	assert_non_null(strstr(err, "store.wal: a record is malformed"));

	assert_int_equal(wal_open(path, &w), 0);
	assert_int_equal(wal_append(w, 2, "", 0), 0); /* the store holds none: 1 is missing */
	wal_close(w);
	r = journal_open(&f->loop, f->dir, NULL, CONFIG_DURABILITY_BATCH, 1000, 16u << 20, &st,
			 err, sizeof(err));
	assert_int_equal(r, -EXDEV);
	assert_non_null(strstr(err, "continues a later state of the store"));

	assert_int_equal(wal_open(path, &w), 0);
	assert_int_equal(wal_append(w, 1, "", 0), 0); /* continues it: applies */
	wal_close(w);
	st = open_load(f, &a, CONFIG_DURABILITY_BATCH, NULL, 0);
	close_run(f, st);
	store_done(&a);
}

/* A transaction the store refuses (a full map) fails exactly its batch;
 * the next one stores, and carries the name records of the failed one, which
 * later records of the same slot need: the store loads. */
/* Under always, the group that fails is a child of the open transaction:
 * what the parent holds stays. */
static void failed_batch_keeps_names(struct fixture *f, enum config_durability mode)
{
	struct reports rep = { 0 };
	struct store a, b;
	static char huge[2u << 20];
	char cmd[PATH_MAX + 32];

	memset(huge, 'h', sizeof(huge) - 1);
	store_init(&a);
	struct journal *st = open_load_sized(f, &a, mode, NULL, 0, 1u << 20);
	sadd(&a, st, "before", "z"); /* stored before the failure */
	assert_int_equal(journal_flush(st), 0);
	rep.n = 0;
	rep.st = st;
	journal_set_report(st, report_cb, &rep);
	sadd(&a, st, "small", "x");  /* a new slot: its name record is in this batch */
	sadd(&a, st, "big", huge);   /* more than the map holds */
	uint64_t failed = journal_batch_gen(st);
	assert_int_equal(journal_flush(st), -ENOSPC);
	sadd(&a, st, "small", "y");  /* the slot's id is known: no name record now */
	assert_int_equal(journal_flush(st), 0);
	assert_int_equal(rep.n, 2);
	assert_int_equal(rep.gens[0], failed);
	assert_int_equal(rep.rcs[0], -ENOSPC);
	assert_int_equal(rep.rcs[1], 0);
	close_run(f, st);

	store_init(&b);
	st = open_load_sized(f, &b, mode, NULL, 0, 1u << 20);
	const struct crdt_obj *o = slot(&b, "small", CRDT_ORSET);
	assert_true(crdt_orset_contains(o->os, "y", 1));
	assert_false(crdt_orset_contains(o->os, "x", 1)); /* its batch failed */
	assert_true(crdt_orset_contains(slot(&b, "before", CRDT_ORSET)->os, "z", 1));
	close_run(f, st);
	store_done(&a);
	store_done(&b);
	snprintf(cmd, sizeof(cmd), "rm -f '%s'/store.*", f->dir);
	assert_int_equal(system(cmd), 0);
}


static void test_failed_batch_keeps_names(void **state)
{
	struct fixture *f = *state;
	for (int mode = CONFIG_DURABILITY_ALWAYS; mode <= CONFIG_DURABILITY_NONE; mode += 2)
		failed_batch_keeps_names(f, (enum config_durability)mode);
}

/* Enough journal to be folded into snapshots several times over. */
static void test_compaction_keeps_everything(void **state)
{
	struct fixture *f = *state;
	struct store a, b;
	struct journal_stats stats;
	char elem[64];

	store_init(&a);
	struct journal *st = open_load(f, &a, CONFIG_DURABILITY_NONE, NULL, 0);
	for (int i = 0; i < 20000; i++) {
		snprintf(elem, sizeof(elem), "element-%06d-with-some-padding", i);
		sadd(&a, st, "big", elem);
		if (i % 1000 == 999)
			assert_int_equal(journal_commit(st), 0);
	}
	assert_int_equal(journal_commit(st), 0);
	journal_get_stats(st, &stats);
	assert_true(stats.compactions >= 2);
	close_run(f, st);

	store_init(&b);
	st = open_load(f, &b, CONFIG_DURABILITY_NONE, NULL, 0);
	assert_true(crdt_obj_equal(slot(&a, "big", CRDT_ORSET), slot(&b, "big", CRDT_ORSET)));
	close_run(f, st);
	store_done(&a);
	store_done(&b);
}

/* Set "big" of @n members element-000000.. in @peer, written by it. */
static struct crdt_obj *peer_set(struct store *peer, int n)
{
	struct crdt_obj *o;
	char elem[64];

	assert_int_equal(store_get(peer, "big", 3, CRDT_ORSET, true, &o), 0);
	for (int i = 0; i < n; i++) {
		int len = snprintf(elem, sizeof(elem), "element-%06d", i);
		assert_true(crdt_orset_add(o->os, &peer->self, elem, (size_t)len) >= 0);
	}
	return o;
}

/* A set filled by a peer's pieces (a catch-up: every piece news) is
 * weighed at its size now, not against its last snapshot: it is not
 * encoded whole at each doubling (that made 8 snapshots here), and loads
 * back equal from a journal of pieces. */
struct pieces_in {
	struct store *s;
	struct journal *st;
	int n;
};

static int piece_in_cb(const uint8_t *piece, size_t len, void *ctx)
{
	struct pieces_in *pi = ctx;
	struct crdt_obj o;

	assert_int_equal(crdt_obj_decode(piece, len, &o), 0);
	assert_true(store_merge(pi->s, "big", 3, &o) >= 0);
	crdt_obj_done(&o);
	if (++pi->n % 50 == 0)
		assert_int_equal(journal_commit(pi->st), 0);
	return 0;
}

static void test_pieces_not_compacted_at_each_doubling(void **state)
{
	struct fixture *f = *state;
	struct store a, b, peer;
	struct journal_stats stats;
	struct crdt_obj *o;

	store_init(&a);
	store_init(&peer);
	struct journal *st = open_load(f, &a, CONFIG_DURABILITY_NONE, NULL, 0);
	o = peer_set(&peer, 40000);
	struct pieces_in pi = { .s = &a, .st = st };
	assert_int_equal(crdt_obj_split(o, 1330, piece_in_cb, &pi), 0);
	assert_true(pi.n > 300);
	assert_int_equal(journal_commit(st), 0);
	journal_get_stats(st, &stats);
	assert_true(stats.compactions <= 2);
	close_run(f, st);

	store_init(&b);
	st = open_load(f, &b, CONFIG_DURABILITY_NONE, NULL, 0);
	assert_true(crdt_obj_equal(slot(&a, "big", CRDT_ORSET), o));
	assert_true(crdt_obj_equal(slot(&b, "big", CRDT_ORSET), o));
	close_run(f, st);
	store_done(&a);
	store_done(&b);
	store_done(&peer);
}

struct pieces_enc {
	struct store *s, *peer;
	struct journal *st;
	int n;
};

/* Each piece merged as gossip merges it, with the bytes it came in; every
 * 50th one a state of another name between two pieces, and after the
 * 100th a local write into the same set. */
static int piece_enc_cb(const uint8_t *piece, size_t len, void *ctx)
{
	struct pieces_enc *pe = ctx;
	struct crdt_obj o, *other;
	struct crdt_buf b;
	char elem[32];

	assert_int_equal(crdt_obj_decode(piece, len, &o), 0);
	assert_true(store_merge_encoded(pe->s, "big", 3, &o, piece, len) >= 0);
	crdt_obj_done(&o);
	if (++pe->n % 50 == 0) {
		int n = snprintf(elem, sizeof(elem), "other-%d", pe->n);
		assert_int_equal(store_get(pe->peer, "other", 5, CRDT_ORSET, true, &other), 0);
		assert_true(crdt_orset_add(other->os, &pe->peer->self, elem, (size_t)n) >= 0);
		crdt_buf_init(&b, 0);
		assert_int_equal(crdt_obj_encode(other, &b), 0);
		assert_true(store_merge_encoded(pe->s, "other", 5, other, b.data, b.len) >= 0);
		crdt_buf_done(&b);
	}
	if (pe->n == 100)
		sadd(pe->s, pe->st, "big", "local-write");
	return 0;
}

/* A peer's states merged into one name one after the other (a catch-up's
 * pieces) share LMDB records: a few dozen a record, not one each.  A state
 * merged into another name, a local write, a compaction and a batch handed
 * over each end the record that grows; everything comes back. */
static void test_peer_states_share_records(void **state)
{
	struct fixture *f = *state;
	struct store a, b, peer;
	struct journal_stats stats;
	struct crdt_obj *o;

	store_init(&a);
	store_init(&peer);
	struct journal *st = open_load(f, &a, CONFIG_DURABILITY_NONE, NULL, 0);
	o = peer_set(&peer, 40000);
	struct pieces_enc pe = { .s = &a, .peer = &peer, .st = st };
	assert_int_equal(crdt_obj_split(o, 1330, piece_enc_cb, &pe), 0);
	assert_true(pe.n > 300);
	assert_int_equal(journal_flush(st), 0);
	journal_get_stats(st, &stats);
	/* a record a piece before; 32 KiB records now, and the pieces cut
	 * short by the other name's states, the local write, compactions and
	 * hand-overs */
	assert_true(stats.records < (uint64_t)pe.n / 5);
	assert_true(stats.compactions >= 1 || journal_folding(st));
	assert_true(crdt_orset_contains(slot(&a, "big", CRDT_ORSET)->os, "local-write", 11));
	close_run(f, st);

	store_init(&b);
	st = open_load(f, &b, CONFIG_DURABILITY_NONE, NULL, 0);
	assert_true(crdt_obj_equal(slot(&a, "big", CRDT_ORSET), slot(&b, "big", CRDT_ORSET)));
	assert_true(crdt_obj_equal(slot(&a, "other", CRDT_ORSET), slot(&b, "other", CRDT_ORSET)));
	assert_int_equal(crdt_orset_card(slot(&b, "big", CRDT_ORSET)->os), 40001);
	close_run(f, st);
	store_done(&a);
	store_done(&b);
	store_done(&peer);
}

/* What is stored of a peer's state is the bytes it came in, not an
 * encoding made again of what was decoded: given the bytes of another
 * state, those come back after a restart. */
static void test_peer_state_stored_as_it_came(void **state)
{
	struct fixture *f = *state;
	struct store a, b, peer;
	struct crdt_obj *x, *y;
	struct crdt_buf enc;

	store_init(&a);
	store_init(&peer);
	struct journal *st = open_load(f, &a, CONFIG_DURABILITY_NONE, NULL, 0);
	assert_int_equal(store_get(&peer, "x", 1, CRDT_ORSET, true, &x), 0);
	assert_true(crdt_orset_add(x->os, &peer.self, "decoded", 7) >= 0);
	assert_int_equal(store_get(&peer, "y", 1, CRDT_ORSET, true, &y), 0);
	assert_true(crdt_orset_add(y->os, &peer.self, "as-it-came", 10) >= 0);
	crdt_buf_init(&enc, 0);
	assert_int_equal(crdt_obj_encode(y, &enc), 0);
	assert_int_equal(store_merge_encoded(&a, "s", 1, x, enc.data, enc.len), 0);
	/* without bytes: encoded here */
	assert_int_equal(store_merge(&a, "t", 1, x), 0);
	assert_int_equal(journal_flush(st), 0);
	close_run(f, st);

	store_init(&b);
	st = open_load(f, &b, CONFIG_DURABILITY_NONE, NULL, 0);
	assert_true(crdt_obj_equal(slot(&b, "s", CRDT_ORSET), y));
	assert_true(crdt_obj_equal(slot(&b, "t", CRDT_ORSET), x));
	close_run(f, st);
	crdt_buf_done(&enc);
	store_done(&a);
	store_done(&b);
	store_done(&peer);
}

/* Resident KiB of the mapping of @path in /proc/self/smaps, -1 if none. */
static long map_rss_kib(const char *path)
{
	char line[1024];
	long rss = -1;
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);
		if (n && line[n - 1] == '\n')
			line[--n] = 0;
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			/* a mapping's first line: its path is the last field */
			in = n >= strlen(path) && strcmp(line + n - strlen(path), path) == 0;
			continue;
		}
		if (in && strncmp(line, "Rss:", 4) == 0) {
			rss = (rss < 0 ? 0 : rss) + strtol(line + 4, NULL, 10);
			in = false;
		}
	}
	fclose(f);
	return rss;
}

static void wake_cb(uv_timer_t *t)
{
	(void)t; /* only wakes the loop: a wait below is bounded in time */
}

/* A burst of writes between two commits of LMDB makes store.wal long, and
 * a commit keeps its length (the log is written over); the release after
 * the writes stop cuts it back to 8 MiB (WAL_KEEP_BYTES), and what it held
 * is all there at the next load. */
static void test_long_log_cut_back(void **state)
{
	struct fixture *f = *state;
	struct journal_stats stats;
	struct store a, b;
	char name[32], *big = malloc(100001);
	uint64_t released;

	assert_non_null(big);
	store_init(&a);
	struct journal *st = open_load_sized(f, &a, CONFIG_DURABILITY_NONE, NULL, 0, 256u << 20);
	for (int i = 0; i < 200; i++) {
		memset(big, 'a' + i % 26, 100000);
		snprintf(big, 16, "%06d", i);
		big[6] = '-';
		big[100000] = 0;
		snprintf(name, sizeof(name), "key:%03d", i % 7);
		sadd(&a, st, name, big);
		assert_int_equal(journal_commit(st), 0);
	}
	assert_int_equal(journal_flush(st), 0);
	assert_true(file_size(f, "store.wal") > 20l << 20);
	journal_get_stats(st, &stats);
	released = stats.map_releases;
	/* the release after the writes (the log still holds them all), the
	 * batch timer's commit that takes them, then the release after it */
	uv_timer_t wake;
	uv_timer_init(&f->loop, &wake);
	uv_timer_start(&wake, wake_cb, 100, 100);
	/* 10 s at most; the thread cuts the file before its report of the
	 * release reaches the loop */
	for (int i = 0; i < 100 && (file_size(f, "store.wal") > 8l << 20 ||
				    stats.map_releases == released); i++) {
		uv_run(&f->loop, UV_RUN_ONCE);
		journal_get_stats(st, &stats);
	}
	uv_close((uv_handle_t *)&wake, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	journal_get_stats(st, &stats);
	assert_true(stats.map_releases > released);
	assert_int_equal(file_size(f, "store.wal"), 8l << 20);
	assert_int_equal(stats.errors, 0);
	close_run(f, st);

	store_init(&b);
	st = open_load_sized(f, &b, CONFIG_DURABILITY_NONE, NULL, 0, 256u << 20);
	for (int i = 0; i < 7; i++) {
		snprintf(name, sizeof(name), "key:%03d", i);
		assert_true(crdt_obj_equal(slot(&a, name, CRDT_ORSET), slot(&b, name, CRDT_ORSET)));
	}
	close_run(f, st);
	store_done(&a);
	store_done(&b);
	free(big);
}

/* 5,000 sets each take an add: one round of journal records, handed to the
 * writer thread a tenth at a time, then LMDB's commit of them (the batch
 * timer's, 1,000 ms here, which empties the log). */
static void add_round(struct fixture *f, struct store *s, struct journal *st, const char *elem)
{
	struct journal_stats stats;
	char name[32];

	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "key:%06d", i);
		sadd(s, st, name, elem);
		if (i % 500 == 499)
			assert_int_equal(journal_commit(st), 0);
	}
	assert_int_equal(journal_flush(st), 0); /* the writer thread logged them all */
	journal_get_stats(st, &stats);
	for (int i = 0; i < 100 && stats.wal_bytes; i++) {
		uv_run(&f->loop, UV_RUN_ONCE);
		journal_get_stats(st, &stats);
	}
	assert_int_equal(stats.wal_bytes, 0);
}

/* Runs the loop until the writer thread reports a release of the map after
 * `loaded` (RELEASE_MS after a commit): at most 3 s, never blocking on it. */
static void wait_release(struct fixture *f, struct journal *st, struct journal_stats *stats,
			 uint64_t loaded)
{
	journal_get_stats(st, stats);
	for (int i = 0; i < 300 && stats->map_releases == loaded; i++) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		usleep(10 * 1000);
		journal_get_stats(st, stats);
	}
}

/* The pages LMDB's map holds stop counting in the process's RSS soon after
 * a commit (one timer, two batch_ms): under none LMDB writes through the
 * map, so a round's pages are mapped until then; under batch it write()s
 * them, and maps only what it reads (the leaves a second round adds to,
 * before copying them).  All is there at the next load. */
static void map_released(struct fixture *f, enum config_durability mode)
{
	struct journal_stats stats;
	struct store a, b;
	char name[32];
	uint64_t loaded;
	struct journal *st;

	store_init(&a);
	st = open_load(f, &a, mode, NULL, 0);
	add_round(f, &a, st, "element-with-some-bytes");
	journal_get_stats(st, &stats);
	loaded = stats.map_releases; /* the load handed back what it read */
	if (mode == CONFIG_DURABILITY_BATCH) {
		/* written, and nothing read: nothing mapped */
		assert_true(map_rss_kib(journal_path(st)) < 64);
		wait_release(f, st, &stats, loaded);
		assert_int_equal(stats.map_releases, loaded + 1);
		loaded = stats.map_releases;
		add_round(f, &a, st, "another-element-with-bytes");
		journal_get_stats(st, &stats);
	}
	assert_int_equal(stats.map_releases, loaded);
	/* the pages of 5,000 names and records, written or read */
	assert_true(map_rss_kib(journal_path(st)) >= 256);
	/* the release timer is the only handle that is due */
	wait_release(f, st, &stats, loaded);
	assert_int_equal(stats.map_releases, loaded + 1);
	assert_in_range(map_rss_kib(journal_path(st)), 0, 15);
	close_run(f, st);

	store_init(&b);
	st = open_load(f, &b, mode, NULL, 0);
	assert_in_range(map_rss_kib(journal_path(st)), 0, 15); /* the load's pages too */
	for (int i = 0; i < 5000; i += 499) {
		snprintf(name, sizeof(name), "key:%06d", i);
		assert_true(crdt_obj_equal(slot(&a, name, CRDT_ORSET), slot(&b, name, CRDT_ORSET)));
	}
	close_run(f, st);
	store_done(&a);
	store_done(&b);
}

static void test_map_released_after_commit(void **state)
{
	map_released(*state, CONFIG_DURABILITY_NONE);
}

static void test_map_released_after_commit_batch(void **state)
{
	map_released(*state, CONFIG_DURABILITY_BATCH);
}

/* A value with its checksum, as state/journal.c writes it. */
static size_t make_value(uint8_t *out, const uint8_t *payload, size_t len)
{
	uint64_t fp = store_fingerprint(payload, len);
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(fp >> (56 - 8 * i));
	memcpy(out + 8, payload, len);
	return len + 8;
}

/* Kind 2 records (crdtd 0.1) replay under data_dir/replica_id's id, and
 * cannot replay without it; kind 5 under the id they carry, kind 8 under the
 * id and counters they carry. */
static void test_record_kinds(void **state)
{
	static const struct crdt_rid legacy = { { 0x11 } }, named = { { 0x22 } };
	uint8_t payload[64], val[80];
	size_t n = 0, len;
	struct crdt_obj o;

	payload[n++] = JOURNAL_OP_ORSET_ADD;
	payload[n++] = 1; /* one element */
	payload[n++] = 1;
	payload[n++] = 'x';
	len = make_value(val, payload, n);
	assert_int_equal(crdt_obj_new(CRDT_ORSET, &o), 0);
	assert_int_equal(journal_apply_record(val, len, NULL, &o), CRDT_EBADMSG);
	assert_int_equal(crdt_orset_card(o.os), 0);
	assert_int_equal(journal_apply_record(val, len, &legacy, &o), 0);
	assert_int_equal(crdt_orset_context_max(o.os, &legacy), 1);

	n = 0;
	payload[n++] = JOURNAL_OP_ORSET_ADD_AS;
	memcpy(payload + n, named.b, CRDT_RID_LEN);
	n += CRDT_RID_LEN;
	payload[n++] = 1;
	payload[n++] = 1;
	payload[n++] = 'y';
	len = make_value(val, payload, n);
	assert_int_equal(journal_apply_record(val, len, NULL, &o), 0);
	assert_int_equal(crdt_orset_context_max(o.os, &named), 1);
	assert_true(crdt_orset_contains(o.os, "y", 1));
	/* truncated inside the id, and a bad checksum: nothing applied */
	len = make_value(val, payload, 10);
	assert_int_equal(journal_apply_record(val, len, NULL, &o), CRDT_EBADMSG);
	len = make_value(val, payload, n);
	val[len - 1] ^= 1;
	assert_int_equal(journal_apply_record(val, len, NULL, &o), CRDT_EBADMSG);
	assert_int_equal(crdt_orset_card(o.os), 2);
	/* kind 8: adds under the dots they name, counters 5 and 6; a dot
	 * seen already is not added again (x's 1 under legacy is not
	 * touched); counter 0, and counters past the last, are refused */
	static const struct crdt_rid dotted = { { 0x33 } };
	n = 0;
	payload[n++] = JOURNAL_OP_ORSET_ADD_DOT;
	memcpy(payload + n, dotted.b, CRDT_RID_LEN);
	n += CRDT_RID_LEN;
	payload[n++] = 5;
	payload[n++] = 2;
	payload[n++] = 1;
	payload[n++] = 'z';
	payload[n++] = 1;
	payload[n++] = 'w';
	len = make_value(val, payload, n);
	assert_int_equal(journal_apply_record(val, len, NULL, &o), 0);
	assert_int_equal(crdt_orset_context_max(o.os, &dotted), 6);
	assert_true(crdt_orset_contains(o.os, "z", 1));
	assert_true(crdt_orset_contains(o.os, "w", 1));
	assert_int_equal(crdt_orset_card(o.os), 4);
	assert_int_equal(crdt_orset_remove(o.os, "w", 1), 1);
	assert_int_equal(journal_apply_record(val, len, NULL, &o), 0); /* seen: w stays removed */
	assert_false(crdt_orset_contains(o.os, "w", 1));
	payload[CRDT_RID_LEN + 1] = 0;
	len = make_value(val, payload, n);
	assert_int_equal(journal_apply_record(val, len, NULL, &o), CRDT_EBADMSG);
	{
		uint8_t big[80], bv[96];
		size_t m = 0;
		big[m++] = JOURNAL_OP_ORSET_ADD_DOT;
		memcpy(big + m, dotted.b, CRDT_RID_LEN);
		m += CRDT_RID_LEN;
		m += (size_t)crdt_varint_write(big + m, UINT64_MAX);
		big[m++] = 2;
		big[m++] = 1;
		big[m++] = 'v';
		big[m++] = 1;
		big[m++] = 'u';
		len = make_value(bv, big, m);
		assert_int_equal(journal_apply_record(bv, len, NULL, &o), CRDT_EBADMSG);
	}
	assert_int_equal(crdt_orset_card(o.os), 3);
	assert_int_equal(crdt_orset_remove(o.os, "z", 1), 1);
	/* kind 7, a DEL's clear: nothing may follow the kind */
	n = 0;
	payload[n++] = JOURNAL_OP_CLEAR;
	payload[n++] = 0;
	len = make_value(val, payload, 2);
	assert_int_equal(journal_apply_record(val, len, NULL, &o), CRDT_EBADMSG);
	assert_int_equal(crdt_orset_card(o.os), 2);
	len = make_value(val, payload, 1);
	assert_int_equal(journal_apply_record(val, len, NULL, &o), 0);
	assert_int_equal(crdt_orset_card(o.os), 0);
	assert_int_equal(crdt_orset_context_max(o.os, &named), 1); /* what it saw stays */
	/* an OR-Set record, and a clear, on a counter slot */
	crdt_obj_done(&o);
	assert_int_equal(crdt_obj_new(CRDT_PNCOUNTER, &o), 0);
	assert_int_equal(journal_apply_record(val, len, NULL, &o), CRDT_ETYPE);
	len = make_value(val, payload, n);
	assert_int_equal(journal_apply_record(val, len, NULL, &o), CRDT_ETYPE);
	crdt_obj_done(&o);
}

/* Kind 6: states from peers, each as a length and a libcrdt state, merged
 * in order; its framing checked whole before anything is merged. */
static void test_states_record(void **state)
{
	uint8_t payload[512], val[600];
	struct crdt_obj o, a, b;
	struct crdt_buf ea, eb;
	struct crdt_rid r1 = { { 0x31 } }, r2 = { { 0x32 } };
	size_t n = 0, len;

	assert_int_equal(crdt_obj_new(CRDT_ORSET, &a), 0);
	assert_int_equal(crdt_obj_new(CRDT_ORSET, &b), 0);
	assert_true(crdt_orset_add(a.os, &r1, "a", 1) >= 0);
	assert_true(crdt_orset_add(b.os, &r2, "b", 1) >= 0);
	crdt_buf_init(&ea, 0);
	crdt_buf_init(&eb, 0);
	assert_int_equal(crdt_obj_encode(&a, &ea), 0);
	assert_int_equal(crdt_obj_encode(&b, &eb), 0);
	assert_true(ea.len < 120 && eb.len < 120);
	payload[n++] = JOURNAL_OP_STATES;
	payload[n++] = (uint8_t)ea.len;
	memcpy(payload + n, ea.data, ea.len);
	n += ea.len;
	payload[n++] = (uint8_t)eb.len;
	memcpy(payload + n, eb.data, eb.len);
	n += eb.len;
	assert_int_equal(crdt_obj_new(CRDT_ORSET, &o), 0);
	len = make_value(val, payload, n);
	assert_int_equal(journal_apply_record(val, len, NULL, &o), 0);
	assert_true(crdt_orset_contains(o.os, "a", 1));
	assert_true(crdt_orset_contains(o.os, "b", 1));
	crdt_obj_done(&o);

	/* the second state's length past the end, no state at all, a byte
	 * after the last: nothing merged */
	assert_int_equal(crdt_obj_new(CRDT_ORSET, &o), 0);
	payload[1 + 1 + ea.len] = (uint8_t)(eb.len + 1);
	len = make_value(val, payload, n);
	assert_int_equal(journal_apply_record(val, len, NULL, &o), CRDT_EBADMSG);
	payload[1 + 1 + ea.len] = (uint8_t)eb.len;
	len = make_value(val, payload, 1);
	assert_int_equal(journal_apply_record(val, len, NULL, &o), CRDT_EBADMSG);
	payload[n] = 7;
	len = make_value(val, payload, n + 1);
	assert_int_equal(journal_apply_record(val, len, NULL, &o), CRDT_EBADMSG);
	assert_int_equal(crdt_orset_card(o.os), 0);
	/* a state that does not decode; another type's state */
	payload[2] ^= 0xff;
	len = make_value(val, payload, n);
	assert_int_equal(journal_apply_record(val, len, NULL, &o), CRDT_EPROTO);
	payload[2] ^= 0xff;
	crdt_obj_done(&o);
	assert_int_equal(crdt_obj_new(CRDT_GSET, &o), 0);
	len = make_value(val, payload, n);
	assert_int_equal(journal_apply_record(val, len, NULL, &o), CRDT_ETYPE);
	crdt_obj_done(&o);
	crdt_obj_done(&a);
	crdt_obj_done(&b);
	crdt_buf_done(&ea);
	crdt_buf_done(&eb);
}

/* Set (@set) or read the store's format in @dir's store.lmdb, directly. */
static uint32_t store_format(const char *dir, bool set, uint32_t v)
{
	char path[PATH_MAX];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta;
	uint8_t b[4];
	MDB_val k = { 6, "format" }, val = { 4, b };

	snprintf(path, sizeof(path), "%s/store.lmdb", dir);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
	assert_int_equal(mdb_env_set_mapsize(env, 16u << 20), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
	if (set) {
		put_be32(b, v);
		assert_int_equal(mdb_put(txn, meta, &k, &val, 0), 0);
	} else {
		assert_int_equal(mdb_get(txn, meta, &k, &val), 0);
		assert_int_equal(val.mv_size, 4);
		v = get_be32(val.mv_data);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	return v;
}

/* Put @o's encoding as the snapshot of slot @sid in @txn's "snap" table. */
static void put_snapshot(MDB_txn *txn, MDB_dbi snap, uint64_t sid, const struct crdt_obj *o)
{
	struct crdt_buf b;
	uint8_t key[8], *val;
	MDB_val k = { 8, key }, v;

	crdt_buf_init(&b, 0);
	assert_int_equal(crdt_obj_encode(o, &b), 0);
	assert_non_null(val = malloc(b.len + 8));
	v = (MDB_val){ make_value(val, b.data, b.len), val };
	put_be64(key, sid);
	assert_int_equal(mdb_put(txn, snap, &k, &v, 0), 0);
	free(val);
	crdt_buf_done(&b);
}

/* A load moves a set's first stored state into the instance its names
 * record made, and merges what follows.  A second names record of the
 * same name and type (no store of ours writes one; here added by hand,
 * with a snapshot for each) finds the instance made: its snapshot is merged
 * with the first's, not put in its place. */
static void test_second_name_record_merged(void **state)
{
	static const struct crdt_rid r1 = { { 0x31 } }, r2 = { { 0x32 } };
	struct fixture *f = *state;
	struct store a, c;
	struct crdt_obj s1, s2;
	char path[PATH_MAX + 16];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi inst, snap;
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t sid;
	uint8_t key[8];

	store_init(&a);
	struct journal *st = open_load(f, &a, CONFIG_DURABILITY_NONE, NULL, 0);
	sadd(&a, st, "s", "x");
	assert_int_equal(journal_commit(st), 0);
	close_run(f, st);
	store_done(&a);

	snprintf(path, sizeof(path), "%s/store.lmdb", f->dir);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "inst", 0, &inst), 0);
	assert_int_equal(mdb_dbi_open(txn, "snap", 0, &snap), 0);
	assert_int_equal(mdb_cursor_open(txn, inst, &cur), 0);
	assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0); /* "s": the only name */
	assert_int_equal(k.mv_size, 8);
	sid = get_be64(k.mv_data);
	mdb_cursor_close(cur);
	put_be64(key, sid + 100);
	k = (MDB_val){ 8, key };
	assert_int_equal(mdb_put(txn, inst, &k, &v, 0), 0); /* the same record, a later id */
	assert_int_equal(crdt_obj_new(CRDT_ORSET, &s1), 0);
	assert_int_equal(crdt_obj_new(CRDT_ORSET, &s2), 0);
	assert_true(crdt_orset_add(s1.os, &r1, "a", 1) >= 0);
	assert_true(crdt_orset_add(s2.os, &r2, "b", 1) >= 0);
	put_snapshot(txn, snap, sid, &s1);
	put_snapshot(txn, snap, sid + 100, &s2);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	crdt_obj_done(&s1);
	crdt_obj_done(&s2);

	store_init(&c);
	st = open_load(f, &c, CONFIG_DURABILITY_NONE, NULL, 0);
	const struct crdt_obj *o = slot(&c, "s", CRDT_ORSET);
	assert_int_equal(crdt_orset_card(o->os), 3);
	assert_true(crdt_orset_contains(o->os, "a", 1));
	assert_true(crdt_orset_contains(o->os, "b", 1));
	assert_true(crdt_orset_contains(o->os, "x", 1));
	close_run(f, st);
	store_done(&c);
}

/* Format 2 added record kind 6, format 3 kind 7, format 4 kind 8: an older
 * store loads as it is and is marked 4 (a crdtd that reads only older formats then
 * refuses it by name); a later format stops the start with a message
 * naming it. */
static void test_store_format(void **state)
{
	struct fixture *f = *state;
	struct journal *st;
	struct store a, b;
	char err[512];

	store_init(&a);
	st = open_load(f, &a, CONFIG_DURABILITY_NONE, NULL, 0);
	sadd(&a, st, "cart", "apple");
	assert_int_equal(journal_flush(st), 0);
	close_run(f, st);
	assert_int_equal(store_format(f->dir, false, 0), 4);

	for (uint32_t older = 1; older <= 3; older++) {
		store_format(f->dir, true, older);
		store_init(&b);
		st = open_load(f, &b, CONFIG_DURABILITY_NONE, NULL, 0);
		assert_true(crdt_obj_equal(slot(&a, "cart", CRDT_ORSET), slot(&b, "cart", CRDT_ORSET)));
		close_run(f, st);
		store_done(&b);
		assert_int_equal(store_format(f->dir, false, 0), 4);
	}
	store_init(&b);

	store_format(f->dir, true, 5);
	st = NULL;
	assert_int_equal(journal_open(&f->loop, f->dir, NULL, CONFIG_DURABILITY_NONE, 1000,
				      16u << 20, &st, err, sizeof(err)), -EBADMSG);
	assert_null(st);
	assert_non_null(strstr(err, "store format 5"));
	store_done(&a);
	store_done(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batches_reported_when_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_batches_commit_on_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_keeps_state_and_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_batch_keeps_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_applied_after_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_written_over_after_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_logged_while_lmdb_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_log_stops_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill9_before_commit_keeps_log_writes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_log_larger_than_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_released_after_commit_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_released_after_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_log_cut_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compaction_keeps_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_stored_as_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counter_in_place_while_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_set_folds_in_slices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fold_slice_is_one_piece, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_hash_folds_in_slices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_del_stored_as_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merges_held_then_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pieces_not_compacted_at_each_doubling, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_peer_states_share_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_state_stored_as_it_came, setup, teardown),
		cmocka_unit_test(test_record_kinds),
		cmocka_unit_test(test_states_record),
		cmocka_unit_test_setup_teardown(test_store_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_name_record_merged, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
