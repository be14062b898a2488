/* A SADD storm's OR-Set work on the writer, in libcrdt alone: a set of N
 * members (default 100,000), then M adds of members drawn at random from
 * the same N (default 1,000,000: mostly re-adds, each a new dot replacing
 * the old), each joined into a delta (crdt_orset_add_delta) that is dropped
 * every K adds (default 2,000: the queued delta a push takes while the
 * peers' windows are shut).  Prints the CPU ns an add, median of R runs
 * (default 5), each on a fresh set.  Seeded: every build adds the same
 * members in the same order, so two builds compare.
 *   bench/readd_cost [N] [M] [K] [R]   (perf record -g works on it) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "crdt/orset.h"
#include "cost.h"

/* One run: the CPU ns an add of the M; -1 on failure. */
static double run(long n, long m, long k)
{
	struct crdt_rid self = { { 1 } };
	struct crdt_orset *s = cost_set(n, "", 0), *d = crdt_orset_new();
	uint64_t x = 88172645463325252ull; /* xorshift64 */
	double t0, t;
	char e[32];

	if (!s || !d)
		return -1;
	t0 = cpu_ns();
	for (long i = 0; i < m; i++) {
		size_t len = cost_member(e, sizeof(e), "", 0, cost_draw(&x, n));
		if (crdt_orset_add_delta(s, &self, e, len, d) != 0)
			return -1;
		if ((i + 1) % k == 0) {
			crdt_orset_free(d);
			if (!(d = crdt_orset_new()))
				return -1;
		}
	}
	t = (cpu_ns() - t0) / (double)m;
	if (crdt_orset_card(s) != (size_t)n)
		return -1;
	crdt_orset_free(d);
	crdt_orset_free(s);
	return t;
}

int main(int argc, char **argv)
{
	static const long def[4] = { 100000, 1000000, 2000, 5 };

	return cost_main(argc, argv, "readd_cost", def, 0, "an add", run);
}
