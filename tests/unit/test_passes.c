/* passes.c: the event loop's passes measured from the clock and the loop's
 * idle time, as main.c's prepare handle feeds them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "passes.h"

#define MS 1000000ULL /* ns */
#define US 1000ULL

static void test_busy_is_wall_less_idle(void **state)
{
	struct passes p;

	(void)state;
	passes_init(&p);
	passes_tick(&p, 5 * MS, 2 * MS); /* the first tick only starts the clock */
	assert_int_equal(p.s.passes, 0);
	/* 12 ms went by, 9.5 of them in the poll: a pass of 2.5 ms */
	passes_tick(&p, 17 * MS, 11 * MS + 500 * US);
	assert_int_equal(p.s.passes, 1);
	assert_int_equal(p.s.busy_us, 2500);
	assert_int_equal(p.s.longest.busy_us, 2500);
	assert_int_equal(p.s.over[0], 1);
	assert_int_equal(p.s.over[1], 0);
	/* all of 30 ms in the poll: a pass of nothing */
	passes_tick(&p, 47 * MS, 41 * MS + 500 * US);
	assert_int_equal(p.s.passes, 2);
	assert_int_equal(p.s.busy_us, 2500);
	/* 150 ms of work and no wait */
	passes_tick(&p, 197 * MS, 41 * MS + 500 * US);
	assert_int_equal(p.s.busy_us, 152500);
	assert_int_equal(p.s.longest.busy_us, 150000);
	assert_int_equal(p.s.over[0], 2);
	assert_int_equal(p.s.over[1], 1);
	assert_int_equal(p.s.over[2], 1);
}

/* A pass of exactly a bound is not over it; one microsecond more is. */
static void test_bounds(void **state)
{
	struct passes p;
	uint64_t t = 0;

	(void)state;
	passes_init(&p);
	passes_tick(&p, t, 0);
	for (int i = 0; i < PASSES_NOVER; i++) {
		passes_tick(&p, t += passes_over_us[i] * US, 0);
		passes_tick(&p, t += (passes_over_us[i] + 1) * US, 0);
	}
	assert_int_equal(p.s.passes, 2 * PASSES_NOVER);
	assert_int_equal(p.s.over[0], 5);
	assert_int_equal(p.s.over[1], 3);
	assert_int_equal(p.s.over[2], 1);
	assert_int_equal(p.s.longest.busy_us, passes_over_us[PASSES_NOVER - 1] + 1);
}

/* A clock or an idle count that goes back restarts the measure rather
 * than counting a wrapped difference; a reset zeroes the counts only. */
static void test_backwards_and_reset(void **state)
{
	struct passes p;

	(void)state;
	passes_init(&p);
	passes_tick(&p, 100 * MS, 50 * MS);
	passes_tick(&p, 90 * MS, 50 * MS);
	passes_tick(&p, 95 * MS, 40 * MS);
	assert_int_equal(p.s.passes, 0);
	passes_tick(&p, 96 * MS, 40 * MS);
	assert_int_equal(p.s.passes, 1);
	assert_int_equal(p.s.busy_us, 1000);
	passes_reset(&p);
	assert_int_equal(p.s.passes, 0);
	assert_int_equal(p.s.longest.busy_us, 0);
	passes_tick(&p, 99 * MS, 42 * MS); /* measured from the last tick, 96 ms */
	assert_int_equal(p.s.passes, 1);
	assert_int_equal(p.s.busy_us, 1000);
	/* idle time that ran ahead of the wall clock is no negative pass */
	passes_tick(&p, 100 * MS, 44 * MS);
	assert_int_equal(p.s.passes, 2);
	assert_int_equal(p.s.busy_us, 1000);
}

/* The parts added during a pass are the pass's, kept with the longest; a
 * long pass is logged at most once in PASSES_LOG_EVERY_NS, the others
 * counted. */
static void test_parts_and_log(void **state)
{
	struct passes p;
	uint64_t t = 1000 * MS;
	const uint64_t long_ns = (PASSES_LOG_US + 1) * US;

	(void)state;
	passes_init(&p);
	passes_add(&p, PASSES_GOSSIP, 7 * MS); /* before the first tick: dropped */
	assert_false(passes_tick(&p, t, 0));
	passes_add(&p, PASSES_COMMANDS, 2 * MS);
	passes_add(&p, PASSES_GOSSIP, 3 * MS);
	passes_add(&p, PASSES_COMMANDS, 1 * MS);
	assert_false(passes_tick(&p, t += 8 * MS, 0));
	assert_int_equal(p.last.busy_us, 8000);
	assert_int_equal(p.last.part_us[PASSES_COMMANDS], 3000);
	assert_int_equal(p.last.part_us[PASSES_GOSSIP], 3000);
	assert_int_equal(p.last.part_us[PASSES_STORAGE], 0);
	assert_int_equal(p.s.longest.part_us[PASSES_COMMANDS], 3000);
	/* a shorter pass: its parts are its own, the longest's stay */
	passes_add(&p, PASSES_STORAGE, 1 * MS);
	assert_false(passes_tick(&p, t += 2 * MS, 0));
	assert_int_equal(p.last.part_us[PASSES_COMMANDS], 0);
	assert_int_equal(p.last.part_us[PASSES_STORAGE], 1000);
	assert_int_equal(p.s.longest.busy_us, 8000);
	assert_int_equal(p.s.longest.part_us[PASSES_STORAGE], 0);

	/* long passes: the first logged, the next two within the interval not */
	passes_add(&p, PASSES_STORAGE, long_ns);
	assert_true(passes_tick(&p, t += long_ns, 0));
	assert_int_equal(p.s.longest.part_us[PASSES_STORAGE], PASSES_LOG_US + 1);
	assert_false(passes_tick(&p, t += long_ns, 0));
	assert_false(passes_tick(&p, t += long_ns, 0));
	assert_int_equal(p.unlogged, 2);
	/* ten seconds all in the poll, then a long pass: logged again */
	t += PASSES_LOG_EVERY_NS;
	assert_false(passes_tick(&p, t, PASSES_LOG_EVERY_NS));
	assert_int_equal(p.last.busy_us, 0);
	t += long_ns;
	assert_true(passes_tick(&p, t, PASSES_LOG_EVERY_NS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_busy_is_wall_less_idle),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_backwards_and_reset),
		cmocka_unit_test(test_parts_and_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
