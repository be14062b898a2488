/* The element table's growth (src/crdt/elemtab.c), built in: each growth
 * past a mapped class takes the slots made ready ahead (prepare()), and
 * neither loses nor duplicates an element, keeps elemtab order, and a scan
 * whose steps straddle growths visits every element held throughout
 * exactly once.  With a populate hook (crdt/mem.h), every table made ready
 * ahead is handed to it whole, once, and the table faults none of it
 * itself: it moves in early only once the hook has faulted it in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/crdt/elemtab.h"
#include "crdt/mem.h"
#include "testutil.h"

static size_t key_of(char *buf, uint32_t i)
{
	return (size_t)snprintf(buf, 32, "%s%07u", i % 3 ? "k" : "a-longer-key-", i);
}

static void add(struct elemtab *t, uint32_t i)
{
	char k[32];
	size_t len = key_of(k, i);
	uint32_t h = et_hash(k, len);
	uint8_t *owned;
	int r;

	assert_null(et_find(t, k, len, h));
	owned = et_key_dup(k, len, &r);
	assert_int_equal(r, 0);
	assert_int_equal(et_reserve(t, (size_t)t->count + 1), 0);
	et_insert(t, k, len, h, owned)->pay = i + 1;
}

/* Every used slot in elemtab order, each key once with its payload: as
 * many as the count, and every key of [0, n) with @have set found. */
static void check(const struct elemtab *t, uint32_t n, const uint8_t *have)
{
	const struct et_slot *prev = NULL;
	size_t used = 0;
	char k[32];

	for (size_t i = et_walk(t, 0); i < et_cap(t); i = et_walk(t, i + 1)) {
		const struct et_slot *s = &t->s[i];
		assert_true(et_home(t, s->hash) <= i);
		if (prev)
			assert_true(et_hk_before(prev, s));
		prev = s;
		used++;
	}
	assert_int_equal(used, t->count);
	for (uint32_t i = 0; i < n; i++) {
		size_t len = key_of(k, i);
		struct et_slot *s = et_find(t, k, len, et_hash(k, len));
		if (have && !have[i]) {
			assert_null(s);
			continue;
		}
		assert_non_null(s);
		assert_int_equal(s->pay, i + 1);
	}
}

/* Adds one by one to 200,000: the growths to mapped classes (from 51,582
 * on) each take the prepared slots, and lose nothing. */
static void test_growth_takes_prepared(void **state)
{
	struct elemtab t;
	uint32_t n = 200000, taken = 0, grown = 0;

	(void)state;
	et_init(&t);
	for (uint32_t i = 0; i < n; i++) {
		struct et_slot *nx = t.nx, *old = t.s;
		uint32_t done = t.nxdone, nxcap = t.nxcap;
		add(&t, i);
		if (t.s == old)
			continue;
		grown++;
		/* a table made ready ahead is whole by the growth, and used */
		if (nx) {
			assert_int_equal(done, nxcap);
			assert_ptr_equal(t.s, nx);
			assert_null(t.nx);
			taken++;
		}
		check(&t, i + 1, NULL);
	}
	check(&t, n, NULL);
	assert_true(grown > 10);
	/* into the 65,536-, 131,072- and 196,608-slot classes (Linux:
	 * mapped; 98,304 slots, 3 MiB, is not) */
#ifdef __linux__
	assert_true(taken >= 3);
#endif
	et_done(&t);
	assert_null(t.nx);
}

/* Removes after the next table was made ready, adds past the limit again,
 * and a reserve that jumps past the prepared class: the table stays right. */
static void test_growth_after_removes_and_jumps(void **state)
{
	struct elemtab t;
	uint32_t n = 60000, m = 200000;
	uint8_t *have = calloc(m, 1);
	char k[32];

	(void)state;
	assert_non_null(have);
	et_init(&t);
	for (uint32_t i = 0; i < n; i++) {
		add(&t, i);
		have[i] = 1;
		if (i == 51000) { /* past the start of the window: ready in part */
			for (uint32_t j = 0; j < 5000; j++) {
				size_t len = key_of(k, j * 7);
				struct et_slot *s = et_find(&t, k, len, et_hash(k, len));
				if (s) {
					et_remove(&t, s);
					have[j * 7] = 0;
				}
			}
			check(&t, i + 1, have);
		}
	}
	check(&t, n, have);
	/* a catch-up sizing for far more than the next class */
	assert_int_equal(et_reserve(&t, m), 0);
	assert_null(t.nx);
	check(&t, n, have);
	for (uint32_t i = n; i < m; i++) {
		add(&t, i);
		have[i] = 1;
	}
	check(&t, m, have);
	et_done(&t);
	free(have);
}

/* A reserve that jumps the count from below the window to the limit (a
 * merge of many new elements) faults one huge page of the next table in
 * that call, not all of it; the inserts after it fault the rest, and the
 * growth takes it whole. */
static void test_jump_into_window(void **state)
{
	struct elemtab t;
	uint32_t lim = 206334; /* the 262,144-slot class's; the next is 12 MiB */
	struct et_slot *nx;
	uint32_t hcap;

	(void)state;
	et_init(&t);
	for (uint32_t i = 0; i < 190000; i++)
		add(&t, i);
	hcap = t.hcap;
	assert_int_equal(hcap * 13 / 16, lim);
	assert_null(t.nx);
	assert_int_equal(et_reserve(&t, lim), 0);
#ifdef __linux__
	assert_non_null(t.nx);
	assert_int_equal(t.nxdone, ET_HUGE / sizeof(struct et_slot));
	assert_true(t.nxcap > 4 * ET_HUGE / sizeof(struct et_slot));
#endif
	for (uint32_t i = 190000; i < lim; i++)
		add(&t, i);
	assert_int_equal(t.hcap, hcap); /* no growth yet */
	nx = t.nx;
	add(&t, lim);
	assert_ptr_equal(t.s, nx);
	check(&t, lim + 1, NULL);
	et_done(&t);
}

/* add(), with room made by et_reserve_toward() as a catch-up's does. */
static void add_toward(struct elemtab *t, uint32_t i, size_t aim)
{
	char k[32];
	size_t len = key_of(k, i);
	uint32_t h = et_hash(k, len);
	uint8_t *owned;
	int r;

	owned = et_key_dup(k, len, &r);
	assert_int_equal(r, 0);
	assert_int_equal(et_reserve_toward(t, (size_t)t->count + 1, aim), 0);
	et_insert(t, k, len, h, owned)->pay = i + 1;
}

/* Adds toward a million said to be coming (et_reserve_toward(), a
 * catch-up's): the 48 MiB table for it is made ready a huge page a call
 * while the table grows as usual (each growth keeps it), and the call
 * that finds it ready moves the elements in, so no call faults it whole.
 * Nothing is lost; no growth follows.  A smaller aim is reserved at once. */
static void test_reserve_toward(void **state)
{
	struct elemtab t;
	const uint32_t step = ET_HUGE / sizeof(struct et_slot), aim = 1000000, n = 5000;
	const size_t c = et_hcap_for(aim);
	uint32_t moved = 0, growths = 0;
	struct et_slot *s = NULL;

	(void)state;
	et_init(&t);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t done = t.nxdone;
		bool had = t.nx != NULL;
		struct et_slot *old = t.s;
		add_toward(&t, i, aim);
#ifdef __linux__
		if (t.nx) { /* one huge page more, every call */
			assert_int_equal(t.nxcap, c);
			assert_int_equal(t.nxdone, done + step);
			growths += t.s != old;
		} else if (had) {
			assert_false(et_needs_growth(&t, aim));
			assert_true(t.mapped);
			moved = i + 1;
			check(&t, i + 1, NULL);
			s = t.s;
		} else if (moved) {
			assert_ptr_equal(t.s, s); /* no growth after */
		}
#else
		(void)done;
		(void)had;
		(void)old;
#endif
	}
	check(&t, n, NULL);
#ifdef __linux__
	assert_int_equal(moved, c / step); /* the call that faulted the last */
	assert_true(growths >= 2);
#endif
	(void)s;
	(void)growths;
	et_done(&t);
	/* a table of less than 2 MiB for the aim: at once */
	et_init(&t);
	assert_int_equal(et_reserve_toward(&t, 1, 20000), 0);
	assert_false(et_needs_growth(&t, 20000));
	assert_null(t.nx);
	et_done(&t);
}

/* A populate hook that records each range; @touch: fault it in at once
 * (as a thread pool's job would, some time later), else leave it. */
static struct {
	bool touch;
	size_t calls;
	uint8_t *addr[64];
	size_t len[64];
} pop;

static void pop_hook(void *addr, size_t len)
{
	if (pop.calls < 64) {
		pop.addr[pop.calls] = addr;
		pop.len[pop.calls] = len;
	}
	pop.calls++;
	if (pop.touch)
		for (size_t i = 0; i < len; i += 4096)
			((volatile uint8_t *)addr)[i] = 0;
}

/* The last recorded range at @p (an address the kernel may give again
 * once a table is freed), or -1. */
static int pop_range(const void *p)
{
	for (size_t i = pop.calls < 64 ? pop.calls : 64; i-- > 0;)
		if ((const uint8_t *)p == pop.addr[i])
			return (int)i;
	return -1;
}

/* Adds one by one to 200,000 with a hook: each table made ready ahead is
 * handed over once, whole (the slots of its class, its tail included), the
 * classes under 2 MiB from 4,096 slots (128 KiB) on too; each growth into
 * one takes it; nothing is lost. */
static void test_populate_hook(void **state)
{
	struct elemtab t;
	uint32_t n = 200000, taken = 0, small = 0;
	bool took_3mib = false;

	(void)state;
	memset(&pop, 0, sizeof(pop));
	pop.touch = true;
	crdt_set_populate(pop_hook);
	et_init(&t);
	for (uint32_t i = 0; i < n; i++) {
		struct et_slot *nx = t.nx, *old = t.s;
		size_t calls = pop.calls;
		add(&t, i);
#ifdef __linux__
		if (t.nx && !nx) { /* made ready by this add: handed over now */
			assert_int_equal(pop.calls, calls + 1);
			assert_ptr_equal(pop.addr[calls], t.nx);
		} else {
			assert_int_equal(pop.calls, calls);
		}
#else
		(void)calls;
#endif
		if (t.s == old || !nx)
			continue;
		assert_ptr_equal(t.s, nx);
		assert_int_equal(pop.len[pop_range(nx)], et_cap(&t) * sizeof(struct et_slot));
		taken++;
		small += et_cap(&t) * sizeof(struct et_slot) < ET_HUGE;
		took_3mib |= t.hcap == 98304;
		check(&t, i + 1, NULL);
	}
	check(&t, n, NULL);
#ifdef __linux__
	/* every growth from 4,096 slots to 262,144: 8 classes under 2 MiB,
	 * and 98,304 slots (3 MiB), which only a hook makes ready, among them */
	assert_int_equal(small, 8);
	assert_true(took_3mib);
	assert_int_equal(taken, 13);
	assert_int_equal(pop.calls, taken + (t.nx != NULL));
#endif
	et_done(&t);
	crdt_set_populate(NULL);
}

/* A hook that has not faulted the range in yet: the table waits for it,
 * faulting nothing itself (nxdone stays 0 while the count rises through
 * the window), and the growth still takes the slots.  A catch-up's table
 * (et_reserve_toward()) is moved into only once the hook has it in. */
static void test_populate_waits(void **state)
{
	struct elemtab t;
	const size_t aim = 1000000;
	struct et_slot *nx, *ax = NULL;
	uint32_t i;

	(void)state;
	memset(&pop, 0, sizeof(pop));
	crdt_set_populate(pop_hook);
	et_init(&t);
	for (i = 0; i < 206334; i++) {
		add(&t, i);
		assert_int_equal(t.nxdone, 0);
	}
#ifdef __linux__
	assert_non_null(nx = t.nx);
	add(&t, i++); /* the limit: the growth takes the slots not faulted in */
	assert_ptr_equal(t.s, nx);
#else
	(void)nx;
#endif
	check(&t, i, NULL);
	et_done(&t);

	/* toward a million: the aim's table is handed over whole, apart from
	 * the next class's, and waited for while the table grows as usual */
	memset(&pop, 0, sizeof(pop));
	et_init(&t);
	add_toward(&t, 0, aim);
#ifdef __linux__
	assert_non_null(ax = t.ax);
	assert_int_equal(pop.calls, 1);
	assert_ptr_equal(pop.addr[0], ax);
	assert_int_equal(pop.len[0], et_hcap_for(aim) * sizeof(struct et_slot));
#endif
	for (i = 1; i < 30000; i++) {
		add_toward(&t, i, aim);
		assert_ptr_equal(t.ax, ax);
	}
	assert_true(et_needs_growth(&t, aim)); /* not moved */
#ifdef __linux__
	assert_true(pop.calls > 4); /* the growths' own tables, handed too */
	for (size_t b = 0; b < pop.len[0]; b += 4096) /* the pool's job, done */
		((volatile uint8_t *)ax)[b] = 0;
	add_toward(&t, i++, aim); /* finds it in, and moves */
	assert_ptr_equal(t.s, ax);
	assert_null(t.ax);
	assert_false(et_needs_growth(&t, aim));
#endif
	check(&t, i, NULL);
	et_done(&t);
	crdt_set_populate(NULL);
}

struct seen {
	uint8_t *count; /* per key index: times visited */
	uint32_t n;
};

static int visit(const struct et_slot *e, void *ctx)
{
	struct seen *s = ctx;
	uint32_t i = (uint32_t)e->pay - 1;

	assert_true(i < s->n);
	s->count[i]++;
	return 0;
}

/* A scan in steps of 97 with 100 adds between steps, from 40,000 to
 * 200,000 elements: it straddles every growth, made ready or not, and
 * sees each of the first 40,000 exactly once, any later one at most once. */
static void test_scan_across_growths(void **state)
{
	struct elemtab t;
	uint32_t first = 40000, n = first;
	struct seen s = { calloc(200000, 1), 200000 };
	uint64_t cur = 0;
	int steps = 0;

	(void)state;
	assert_non_null(s.count);
	et_init(&t);
	for (uint32_t i = 0; i < first; i++)
		add(&t, i);
	do {
		assert_int_equal(et_scan(&t, cur, 97, visit, &s, &cur), 0);
		for (int j = 0; j < 100 && n < s.n; j++)
			add(&t, n++);
		assert_true(++steps < 1000000);
	} while (cur != 0);
	for (uint32_t i = 0; i < n; i++)
		assert_true(i < first ? s.count[i] == 1 : s.count[i] <= 1);
	check(&t, n, NULL);
	et_done(&t);
	free(s.count);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_growth_takes_prepared),
		cmocka_unit_test(test_growth_after_removes_and_jumps),
		cmocka_unit_test(test_jump_into_window),
		cmocka_unit_test(test_reserve_toward),
		cmocka_unit_test(test_scan_across_growths),
		cmocka_unit_test(test_populate_hook),
		cmocka_unit_test(test_populate_waits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
