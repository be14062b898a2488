/* What a peer's merge of a delta of removals costs, in libcrdt alone: a
 * set of N members (default 1,000,000) held by a writer and by a peer;
 * the writer removes members drawn at random, K a delta (default 700: about
 * what one 1,400-byte DELTA datagram of removals carries), M removals in all
 * (default 200,000); the peer merges each delta.  Prints the peer's CPU ns
 * a removal, median of R runs (default 3), each on fresh sets.  Seeded:
 * every build removes the same members in the same order.
 *   bench/drop_cost [N] [M] [K] [R]   (perf record -g works on it) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "crdt/orset.h"
#include "cost.h"

/* One run: the peer's CPU ns a removal; -1 on failure. */
static double run(long n, long m, long k)
{
	struct crdt_orset *s = cost_set(n, "e", 7), *p = crdt_orset_new(), *d = NULL;
	uint64_t x = 88172645463325252ull; /* xorshift64 */
	double t = 0;
	long done = 0;
	char e[32];

	if (!s || !p)
		return -1;
	if (crdt_orset_merge(p, s) < 0)
		return -1;
	(void)crdt_orset_fingerprint(p); /* a store keeps it: the merge follows it */
	/* the first delta builds the peer's dot index, as a daemon's first
	 * merge into the set does: not timed */
	for (long first = 1; done < m; first = 0) {
		double t0;
		if (!(d = crdt_orset_new()))
			return -1;
		for (long i = 0; i < k && done < m; i++) {
			size_t len = cost_member(e, sizeof(e), "e", 7, cost_draw(&x, n));
			if (crdt_orset_remove_delta(s, e, len, d) < 0)
				return -1;
			done++;
		}
		t0 = cpu_ns();
		if (crdt_orset_merge(p, d) < 0)
			return -1;
		if (!first)
			t += cpu_ns() - t0;
		crdt_orset_free(d);
	}
	if (crdt_orset_card(p) != crdt_orset_card(s) ||
	    crdt_orset_fingerprint(p) != crdt_orset_fingerprint(s))
		return -1;
	crdt_orset_free(p);
	crdt_orset_free(s);
	return t / (double)(m - k);
}

int main(int argc, char **argv)
{
	static const long def[4] = { 1000000, 200000, 700, 3 };

	return cost_main(argc, argv, "drop_cost", def, 1, "a removal at the peer", run);
}
