/* The process's table of interned replica ids: indices are stable and
 * distinct, ids never move, threads agree, and the table stops at its cap.
 * A program of its own: the last test fills the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <cmocka.h>

#include "crdt/error.h"
#include "crdt/rid.h"
#include "crdt/vv.h"
#include "testutil.h"

static uint64_t seed;

static void rid_rand(struct rng *r, struct crdt_rid *id)
{
	for (int i = 0; i < CRDT_RID_LEN; i += 8) {
		uint64_t v = rng_next(r);
		memcpy(id->b + i, &v, 8);
	}
}

static void test_basics(void **state)
{
	struct crdt_rid a, b;
	uint32_t ia, ia2, ib, il;
	const struct crdt_rid *pa;
	uint32_t before = crdt_rid_interned();

	(void)state;
	memset(a.b, 0xaa, sizeof(a.b));
	memset(b.b, 0xaa, sizeof(b.b));
	b.b[15] = 0xab; /* differs from a in the last byte only */

	assert_int_equal(crdt_rid_lookup(&a, &il), -ENOENT);
	assert_int_equal(crdt_rid_intern(&a, &ia), 0);
	assert_int_equal(ia, before);
	assert_int_equal(crdt_rid_interned(), before + 1);
	pa = crdt_rid_at(ia);
	assert_memory_equal(pa->b, a.b, CRDT_RID_LEN);

	assert_int_equal(crdt_rid_intern(&b, &ib), 0);
	assert_int_equal(ib, before + 1);
	assert_int_equal(crdt_rid_intern(&a, &ia2), 0);
	assert_int_equal(ia2, ia);
	assert_int_equal(crdt_rid_lookup(&b, &il), 0);
	assert_int_equal(il, ib);
	assert_int_equal(crdt_rid_lookup(&a, &il), 0);
	assert_int_equal(il, ia);
	assert_memory_equal(crdt_rid_at(ib)->b, b.b, CRDT_RID_LEN);
	assert_int_equal(crdt_rid_interned(), before + 2);
	/* a vector entry names its replica in 16 bytes */
	assert_true(sizeof(struct crdt_vv_entry) <= 16);
}

/* Many ids: the hash and the chunks grow under them; every index is given
 * once, in order, and every id stays where it was. */
static void test_many(void **state)
{
	enum { N = 100000 };
	struct crdt_rid *ids = malloc(N * sizeof(*ids));
	const struct crdt_rid **at = malloc(N * sizeof(*at));
	uint32_t first = crdt_rid_interned();
	struct rng r = { seed };

	(void)state;
	assert_non_null(ids);
	assert_non_null(at);
	for (uint32_t i = 0; i < N; i++) {
		uint32_t ix;

		rid_rand(&r, &ids[i]);
		assert_int_equal(crdt_rid_intern(&ids[i], &ix), 0);
		assert_int_equal(ix, first + i);
		at[i] = crdt_rid_at(ix);
	}
	for (uint32_t i = 0; i < N; i++) {
		uint32_t ix;

		assert_int_equal(crdt_rid_lookup(&ids[i], &ix), 0);
		assert_int_equal(ix, first + i);
		assert_ptr_equal(crdt_rid_at(ix), at[i]);
		assert_memory_equal(at[i]->b, ids[i].b, CRDT_RID_LEN);
	}
	assert_int_equal(crdt_rid_interned(), first + N);
	free(ids);
	free(at);
}

/* A table of ids at once: the same indices as one by one, new ones in
 * order, a repeated id once. */
static void test_many_at_once(void **state)
{
	struct rng r = { seed + 3 };
	uint8_t ids[5 * CRDT_RID_LEN];
	struct crdt_rid known, id;
	uint32_t ix[5], kix, first;

	(void)state;
	rid_rand(&r, &known);
	assert_int_equal(crdt_rid_intern(&known, &kix), 0);
	first = crdt_rid_interned();
	for (int i = 0; i < 5; i++) {
		rid_rand(&r, &id);
		memcpy(ids + i * CRDT_RID_LEN, (i == 1 ? &known : &id)->b, CRDT_RID_LEN);
	}
	memcpy(ids + 4 * CRDT_RID_LEN, ids, CRDT_RID_LEN); /* the first again */
	assert_int_equal(crdt_rid_intern_many(ids + CRDT_RID_LEN, 3, ix + 1), 0);
	assert_int_equal(crdt_rid_interned(), first + 2);
	assert_int_equal(ix[1], kix);
	assert_int_equal(ix[2], first);
	assert_int_equal(ix[3], first + 1);
	assert_int_equal(crdt_rid_intern_many(ids, 5, ix), 0);
	assert_int_equal(crdt_rid_interned(), first + 3);
	assert_int_equal(ix[0], first + 2);
	assert_int_equal(ix[4], first + 2);
	assert_int_equal(ix[1], kix);
	assert_int_equal(ix[3], first + 1);
	for (int i = 0; i < 5; i++) {
		memcpy(id.b, ids + i * CRDT_RID_LEN, CRDT_RID_LEN);
		assert_int_equal(crdt_rid_lookup(&id, &kix), 0);
		assert_int_equal(kix, ix[i]);
	}
}

enum { TN = 20000, THREADS = 4 };

struct worker {
	const struct crdt_rid *ids;
	uint32_t ix[TN];
	int start;
	int err;
};

static void *work(void *arg)
{
	struct worker *w = arg;

	/* each thread walks the same ids from its own starting point */
	for (int k = 0; k < TN; k++) {
		int i = (w->start + k) % TN;
		uint32_t ix;

		if (crdt_rid_intern(&w->ids[i], &ix) < 0 ||
		    memcmp(crdt_rid_at(ix)->b, w->ids[i].b, CRDT_RID_LEN) != 0)
			w->err++;
		w->ix[i] = ix;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct crdt_rid *ids = malloc(TN * sizeof(*ids));
	struct worker *w = calloc(THREADS, sizeof(*w));
	pthread_t t[THREADS];
	uint32_t first = crdt_rid_interned();
	struct rng r = { seed + 1 };

	(void)state;
	assert_non_null(ids);
	assert_non_null(w);
	for (int i = 0; i < TN; i++)
		rid_rand(&r, &ids[i]);
	for (int k = 0; k < THREADS; k++) {
		w[k].ids = ids;
		w[k].start = k * TN / THREADS;
		assert_int_equal(pthread_create(&t[k], NULL, work, &w[k]), 0);
	}
	for (int k = 0; k < THREADS; k++)
		assert_int_equal(pthread_join(t[k], NULL), 0);
	for (int k = 0; k < THREADS; k++) {
		assert_int_equal(w[k].err, 0);
		assert_memory_equal(w[k].ix, w[0].ix, sizeof(w[0].ix));
	}
	/* each id was added once, whichever thread came first */
	assert_int_equal(crdt_rid_interned(), first + TN);
	free(ids);
	free(w);
}

/* Last: fill the table.  A new id is then refused everywhere it would be
 * added, and nothing changes; the ids already in it still work. */
static void test_cap(void **state)
{
	struct rng r = { seed + 2 };
	struct crdt_rid id, known;
	struct crdt_vv vv, dec;
	struct crdt_buf b;
	struct crdt_cur c;
	uint32_t ix, kix;

	(void)state;
	rid_rand(&r, &known);
	assert_int_equal(crdt_rid_intern(&known, &kix), 0);
	while (crdt_rid_interned() < CRDT_RID_INTERN_MAX) {
		rid_rand(&r, &id);
		assert_int_equal(crdt_rid_intern(&id, &ix), 0);
	}
	rid_rand(&r, &id);
	assert_int_equal(crdt_rid_intern(&id, &ix), CRDT_EMSGSIZE);
	assert_int_equal(crdt_rid_lookup(&id, &ix), -ENOENT);
	assert_int_equal(crdt_rid_interned(), CRDT_RID_INTERN_MAX);
	assert_int_equal(crdt_rid_intern(&known, &ix), 0);
	assert_int_equal(ix, kix);
	assert_int_equal(crdt_rid_intern_many(id.b, 1, &ix), CRDT_EMSGSIZE);

	crdt_vv_init(&vv);
	assert_int_equal(crdt_vv_add(&vv, &known, 3, NULL), 0);
	assert_int_equal(crdt_vv_add(&vv, &id, 1, NULL), CRDT_EMSGSIZE);
	assert_int_equal(crdt_vv_raise(&vv, &id, 5), CRDT_EMSGSIZE);
	assert_int_equal(vv.len, 1);
	assert_int_equal(crdt_vv_get(&vv, &known), 3);
	assert_int_equal(crdt_vv_get(&vv, &id), 0);

	/* a body naming the new id decodes to the same error */
	crdt_buf_init(&b, 0);
	crdt_buf_put_varint(&b, 1);
	crdt_buf_put(&b, id.b, CRDT_RID_LEN);
	crdt_buf_put_varint(&b, 1);
	assert_int_equal(b.err, 0);
	crdt_cur_init(&c, b.data, b.len);
	assert_int_equal(crdt_vv_decode_body(&c, &dec), CRDT_EMSGSIZE);
	crdt_buf_done(&b);
	assert_int_equal(crdt_rid_interned(), CRDT_RID_INTERN_MAX);
	crdt_vv_done(&vv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basics),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_many_at_once),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_cap),
	};

	seed = test_seed("rid");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
