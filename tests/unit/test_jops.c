/* A run of the journal's LMDB ops (state/jops.c): the check refuses every
 * malformed run; applied in key order (jops_apply_sorted) a run leaves every
 * table exactly as applied op after op (jops_apply), for random runs of
 * puts, overwrites, deletes and drops of a slot's records over a store that
 * already holds records; the page bound counts overflow pages. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "be.h"
#include "state/jops.h"
#include "state/jwriter.h"

/* The op check: a batch's own ops pass; each kind of damage is refused. */
static void test_ops_check(void **state)
{
	(void)state;
	struct jwriter_batch b = { 0 };
	uint8_t k8[8] = { 0, 0, 0, 0, 0, 0, 0, 7 };

	crdt_buf_init(&b.ops, 0);
	assert_int_equal(jwriter_put(&b, JWRITER_SNAP, k8, 8, "value", 5), 0);
	assert_int_equal(jwriter_del(&b, JWRITER_INST, k8, 8), 0);
	assert_int_equal(jwriter_drop_log(&b, 7, 100), 0);
	assert_int_equal(jops_check(b.ops.data, b.ops.len), 0);
	assert_int_equal(jops_check(b.ops.data, 0), 0);
	for (size_t cut = 1; cut < b.ops.len; cut++) {
		uint8_t *copy = malloc(cut);
		memcpy(copy, b.ops.data, cut);
		int whole = cut == 12 + 8 + 5 || cut == 12 + 8 + 5 + 12 + 8;
		assert_int_equal(jops_check(copy, cut), whole ? 0 : -EBADMSG);
		free(copy);
	}
	uint8_t *p = b.ops.data;
	p[0] = 9; /* an unknown kind */
	assert_int_equal(jops_check(p, b.ops.len), -EBADMSG);
	p[0] = 1;
	p[1] = JWRITER_TABLES; /* no such table */
	assert_int_equal(jops_check(p, b.ops.len), -EBADMSG);
	p[1] = JWRITER_SNAP;
	p[8] = 0xff; /* a value longer than the run */
	assert_int_equal(jops_check(p, b.ops.len), -EBADMSG);
	p[8] = 5;
	assert_int_equal(jops_check(p, b.ops.len), 0);
	crdt_buf_done(&b.ops);
}

struct env {
	char dir[PATH_MAX];
	char path[PATH_MAX + 16];
	MDB_env *env;
	MDB_dbi dbi[JWRITER_TABLES];
};

static void env_open(struct env *e)
{
	static const char *const names[JWRITER_TABLES] = { "meta", "inst", "snap", "log" };
	MDB_txn *txn;

	snprintf(e->dir, sizeof(e->dir), "/tmp/crdtd-test-jops-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->path, sizeof(e->path), "%s/store.lmdb", e->dir);
	assert_int_equal(mdb_env_create(&e->env), 0);
	assert_int_equal(mdb_env_set_maxdbs(e->env, JWRITER_TABLES), 0);
	assert_int_equal(mdb_env_set_mapsize(e->env, (size_t)64 << 20), 0);
	assert_int_equal(mdb_env_open(e->env, e->path, MDB_NOSUBDIR | MDB_NOSYNC, 0600), 0);
	assert_int_equal(mdb_txn_begin(e->env, NULL, 0, &txn), 0);
	for (int t = 0; t < JWRITER_TABLES; t++)
		assert_int_equal(mdb_dbi_open(txn, names[t], MDB_CREATE, &e->dbi[t]), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
}

static void env_close(struct env *e)
{
	char lock[PATH_MAX + 32];

	mdb_env_close(e->env);
	snprintf(lock, sizeof(lock), "%s-lock", e->path);
	unlink(e->path);
	unlink(lock);
	rmdir(e->dir);
}

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void put_key8(struct jwriter_batch *b, enum jwriter_table t, uint64_t id, size_t vlen,
		     uint8_t fill)
{
	uint8_t k[8], v[3000];

	put_be64(k, id);
	memset(v, fill, vlen);
	assert_int_equal(jwriter_put(b, t, k, 8, v, vlen), 0);
}

static void put_record(struct jwriter_batch *b, uint64_t sid, uint64_t seq, uint8_t fill)
{
	uint8_t k[16], v[24];

	put_be64(k, sid);
	put_be64(k + 8, seq);
	memset(v, fill, sizeof(v));
	assert_int_equal(jwriter_put(b, JWRITER_LOG, k, 16, v, 1 + fill % sizeof(v)), 0);
}

/* Meta keys of 1 to 40 bytes sharing prefixes: the order past 16 bytes and
 * of a key against its own prefix. */
static void put_meta(struct jwriter_batch *b, uint64_t r, uint8_t fill)
{
	char k[41];
	size_t len = 1 + r % 40;

	for (size_t i = 0; i < len; i++)
		k[i] = (char)('a' + (i == len - 1 ? r / 40 % 3 : 0));
	assert_int_equal(jwriter_put(b, JWRITER_META, k, len, &fill, 1), 0);
}

/* A run of @n random ops; *@seq numbers the slots' records (as the journal
 * does, rising). */
static void random_run(struct jwriter_batch *b, uint64_t *s, size_t n, uint64_t *seq)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t r = rng(s), sid = 1 + r % 24, pick = (r >> 8) % 100;
		uint8_t fill = (uint8_t)(r >> 20);
		uint8_t k[8];
		if (pick < 30) {
			size_t vlen = (r >> 30) % 50 == 0 ? 2000 + (r >> 40) % 1000 : (r >> 30) % 40;
			put_key8(b, (r >> 12) & 1 ? JWRITER_SNAP : JWRITER_INST, sid, vlen, fill);
		} else if (pick < 40) {
			put_be64(k, sid);
			assert_int_equal(jwriter_del(b, (r >> 12) & 1 ? JWRITER_SNAP : JWRITER_INST,
						     k, 8), 0);
		} else if (pick < 75) {
			put_record(b, sid % 8, (*seq)++, fill);
		} else if (pick < 85) {
			/* the journal's drop: every record so far; or any bound */
			uint64_t below = (r >> 12) & 1 ? *seq : (r >> 16) % (*seq + 4);
			assert_int_equal(jwriter_drop_log(b, sid % 8, below), 0);
		} else if (pick < 90) {
			put_record(b, sid % 8, (r >> 16) % *seq, fill); /* an older number again */
		} else {
			put_meta(b, r >> 24, fill);
		}
	}
}

/* One index for every sorted run of a test, as the writer keeps one from
 * commit to commit: runs of every size go through it in turn. */
static struct jops_scratch sort_scratch;

static void apply_run(struct env *e, const struct jwriter_batch *b, bool sorted)
{
	const char *what = NULL;
	MDB_txn *txn;

	assert_int_equal(mdb_txn_begin(e->env, NULL, 0, &txn), 0);
	if (sorted)
		assert_int_equal(jops_apply_sorted(txn, e->dbi, b->ops.data, b->ops.len, &sort_scratch,
						   &what),
				 0);
	else
		assert_int_equal(jops_apply(txn, e->dbi, b->ops.data, b->ops.len, &what), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
}

/* Every table of @a equals @b's, key by key and value by value; the
 * number of records compared. */
static size_t same_tables(struct env *a, struct env *b)
{
	MDB_txn *ta, *tb;
	size_t n = 0;

	assert_int_equal(mdb_txn_begin(a->env, NULL, MDB_RDONLY, &ta), 0);
	assert_int_equal(mdb_txn_begin(b->env, NULL, MDB_RDONLY, &tb), 0);
	for (int t = 0; t < JWRITER_TABLES; t++) {
		MDB_cursor *ca, *cb;
		MDB_val ka, va, kb, vb;
		int ra, rb;
		assert_int_equal(mdb_cursor_open(ta, a->dbi[t], &ca), 0);
		assert_int_equal(mdb_cursor_open(tb, b->dbi[t], &cb), 0);
		for (ra = mdb_cursor_get(ca, &ka, &va, MDB_FIRST),
		    rb = mdb_cursor_get(cb, &kb, &vb, MDB_FIRST);
		     ra == 0 && rb == 0; ra = mdb_cursor_get(ca, &ka, &va, MDB_NEXT),
		    rb = mdb_cursor_get(cb, &kb, &vb, MDB_NEXT), n++) {
			assert_int_equal(ka.mv_size, kb.mv_size);
			assert_memory_equal(ka.mv_data, kb.mv_data, ka.mv_size);
			assert_int_equal(va.mv_size, vb.mv_size);
			if (va.mv_size)
				assert_memory_equal(va.mv_data, vb.mv_data, va.mv_size);
		}
		assert_int_equal(ra, MDB_NOTFOUND);
		assert_int_equal(rb, MDB_NOTFOUND);
		mdb_cursor_close(ca);
		mdb_cursor_close(cb);
	}
	mdb_txn_abort(ta);
	mdb_txn_abort(tb);
	return n;
}

/* 300 seeds: a store filled by one run, then a second run applied op after
 * op to one copy and in key order to the other. */
static void test_sorted_same_as_in_order(void **state)
{
	(void)state;
	size_t compared = 0, skipped = 0;

	for (uint64_t seed = 1; seed <= 300; seed++) {
		struct env a, b;
		struct jwriter_batch fill = { 0 }, run = { 0 };
		uint64_t s = seed * 0x9e3779b97f4a7c15ull, seq = 1;
		crdt_buf_init(&fill.ops, 0);
		crdt_buf_init(&run.ops, 0);
		env_open(&a);
		env_open(&b);
		random_run(&fill, &s, 200, &seq);
		apply_run(&a, &fill, false);
		apply_run(&b, &fill, false);
		random_run(&run, &s, 50 + seed % 400, &seq);
		apply_run(&a, &run, false);
		apply_run(&b, &run, true);
		compared += same_tables(&a, &b);
		/* the in-order result must differ from the fill alone, or the
		 * run tested nothing */
		struct env c;
		env_open(&c);
		apply_run(&c, &fill, false);
		MDB_txn *t1, *t2;
		MDB_stat s1, s2;
		assert_int_equal(mdb_txn_begin(a.env, NULL, MDB_RDONLY, &t1), 0);
		assert_int_equal(mdb_txn_begin(c.env, NULL, MDB_RDONLY, &t2), 0);
		assert_int_equal(mdb_stat(t1, a.dbi[JWRITER_LOG], &s1), 0);
		assert_int_equal(mdb_stat(t2, c.dbi[JWRITER_LOG], &s2), 0);
		skipped += s1.ms_entries == s2.ms_entries;
		mdb_txn_abort(t1);
		mdb_txn_abort(t2);
		env_close(&c);
		env_close(&a);
		env_close(&b);
		crdt_buf_done(&fill.ops);
		crdt_buf_done(&run.ops);
	}
	assert_true(compared > 300 * 20);
	assert_true(skipped < 30);
}

/* A drop removes the records put before it in the run, and not those put
 * after it; a delete after a put removes the key, a put after a delete
 * brings it back. */
static void test_drop_and_delete_order(void **state)
{
	(void)state;
	struct env e;
	struct jwriter_batch b = { 0 };
	uint8_t k[16];
	MDB_txn *txn;
	MDB_val key = { 16, k }, val;
	MDB_stat st;

	crdt_buf_init(&b.ops, 0);
	env_open(&e);
	put_record(&b, 5, 1, 1);
	put_record(&b, 5, 2, 2);
	assert_int_equal(jwriter_drop_log(&b, 5, 3), 0);
	put_record(&b, 5, 3, 3);
	put_record(&b, 6, 1, 4);
	put_key8(&b, JWRITER_SNAP, 5, 4, 7);
	put_be64(k, 5);
	assert_int_equal(jwriter_del(&b, JWRITER_SNAP, k, 8), 0);
	put_key8(&b, JWRITER_INST, 5, 4, 7);
	assert_int_equal(jwriter_del(&b, JWRITER_INST, k, 8), 0);
	put_key8(&b, JWRITER_INST, 5, 3, 8);
	apply_run(&e, &b, true);

	assert_int_equal(mdb_txn_begin(e.env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_stat(txn, e.dbi[JWRITER_LOG], &st), 0);
	assert_int_equal(st.ms_entries, 2); /* (5, 3) and (6, 1) */
	put_be64(k, 5);
	put_be64(k + 8, 3);
	assert_int_equal(mdb_get(txn, e.dbi[JWRITER_LOG], &key, &val), 0);
	put_be64(k + 8, 2);
	assert_int_equal(mdb_get(txn, e.dbi[JWRITER_LOG], &key, &val), MDB_NOTFOUND);
	key.mv_size = 8;
	assert_int_equal(mdb_get(txn, e.dbi[JWRITER_SNAP], &key, &val), MDB_NOTFOUND);
	assert_int_equal(mdb_get(txn, e.dbi[JWRITER_INST], &key, &val), 0);
	assert_int_equal(val.mv_size, 3);
	mdb_txn_abort(txn);
	env_close(&e);
	crdt_buf_done(&b.ops);
}

static uint64_t pages_used(struct env *e)
{
	MDB_envinfo info;

	assert_int_equal(mdb_env_info(e->env, &info), 0);
	return (uint64_t)info.me_last_pgno + 1;
}

/* The bound: nothing for deletes, four pages a page of entries put, a
 * large value's own pages; and what LMDB really used stays within it. */
static void test_pages(void **state)
{
	(void)state;
	struct jwriter_batch b = { 0 };
	uint8_t k[8] = { 0 };
	uint64_t s = 7, seq = 1;
	struct env e;

	crdt_buf_init(&b.ops, 0);
	assert_int_equal(jops_pages(b.ops.data, 0, 4096), 0);
	assert_int_equal(jwriter_del(&b, JWRITER_SNAP, k, 8), 0);
	assert_int_equal(jops_pages(b.ops.data, b.ops.len, 4096), 0);
	put_key8(&b, JWRITER_SNAP, 1, 10, 0);
	assert_int_equal(jops_pages(b.ops.data, b.ops.len, 4096), 4);
	for (int i = 0; i < 1000; i++)
		put_key8(&b, JWRITER_SNAP, 2, 10, 0); /* 34 bytes each */
	assert_int_equal(jops_pages(b.ops.data, b.ops.len, 4096), 4 * 9);
	crdt_buf_reset(&b.ops);
	put_key8(&b, JWRITER_SNAP, 2, 2999, 0); /* a page of its own */
	assert_int_equal(jops_pages(b.ops.data, b.ops.len, 4096), 1 + 4);
	assert_int_equal(jops_pages(b.ops.data, b.ops.len, 1024), 3 + 4);

	/* a store, then a transaction of 20,000 new keys of 100 bytes and of
	 * random ops: the pages it ends with are within four of each page
	 * before and the bound (jwriter's room) */
	for (int round = 0; round < 2; round++) {
		uint64_t before, bound;
		env_open(&e);
		crdt_buf_reset(&b.ops);
		random_run(&b, &s, 2000, &seq);
		apply_run(&e, &b, false);
		before = pages_used(&e);
		crdt_buf_reset(&b.ops);
		if (round == 0)
			for (uint64_t i = 0; i < 20000; i++)
				put_key8(&b, JWRITER_SNAP, rng(&s), 100, (uint8_t)i);
		else
			random_run(&b, &s, 20000, &seq);
		bound = jops_pages(b.ops.data, b.ops.len, 4096);
		apply_run(&e, &b, true);
		if (round == 0) /* new keys: a bound within four times what they took */
			assert_true(pages_used(&e) > before + bound / 4);
		assert_true(pages_used(&e) <= 4 * before + bound + 16);
		env_close(&e);
	}
	crdt_buf_done(&b.ops);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops_check),
		cmocka_unit_test(test_sorted_same_as_in_order),
		cmocka_unit_test(test_drop_and_delete_order),
		cmocka_unit_test(test_pages),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);

	jops_scratch_done(&sort_scratch);
	return r;
}
