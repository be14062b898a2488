/* Shared test helpers: a seeded RNG whose seed is printed, so any failing
 * property test can be replayed with CRDT_TEST_SEED=<seed>. */
#ifndef CRDT_TESTUTIL_H
#define CRDT_TESTUTIL_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "crdt/hash.h"

struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	return crdt_splitmix64(&r->s);
}

/* Uniform in [0, n), n > 0. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return rng_next(r) % n;
}

/* The seed for this run: CRDT_TEST_SEED if set, else the clock.  Printed
 * either way, so a failure names what reproduces it. */
static inline uint64_t test_seed(const char *what)
{
	const char *env = getenv("CRDT_TEST_SEED");
	uint64_t seed;

	if (env && *env) {
		seed = strtoull(env, NULL, 0);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec;
	}
	fprintf(stderr, "# %s: seed %" PRIu64 " (replay with CRDT_TEST_SEED=%" PRIu64 ")\n",
		what, seed, seed);
	return seed;
}

/* Number of property-test scenarios: CRDT_TEST_SCENARIOS or the default. */
static inline int test_scenarios(int dflt)
{
	const char *env = getenv("CRDT_TEST_SCENARIOS");
	return env && *env ? atoi(env) : dflt;
}

#endif
