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
#include <time.h>

#include "crdt/orset.h"

static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One run: the peer's CPU ns a removal; -1 on failure. */
static double run(long n, long m, long k)
{
	struct crdt_rid self = { { 1 } };
	struct crdt_orset *s = crdt_orset_new(), *p = crdt_orset_new(), *d = NULL;
	uint64_t x = 88172645463325252ull; /* xorshift64 */
	double t = 0;
	long done = 0;
	char e[32];

	if (!s || !p)
		return -1;
	for (long i = 0; i < n; i++) {
		int len = snprintf(e, sizeof(e), "e%07ld", i);
		if (crdt_orset_add(s, &self, e, (size_t)len) < 0)
			return -1;
	}
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
			int len;
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			len = snprintf(e, sizeof(e), "e%07ld", (long)(x % (uint64_t)n));
			if (crdt_orset_remove_delta(s, e, (size_t)len, d) < 0)
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
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
	long m = argc > 2 ? strtol(argv[2], NULL, 10) : 200000;
	long k = argc > 3 ? strtol(argv[3], NULL, 10) : 700;
	long r = argc > 4 ? strtol(argv[4], NULL, 10) : 3;
	double v[64];

	if (n < 1 || m <= k || k < 1 || r < 1 || r > 64)
		return 2;
	for (long i = 0; i < r; i++)
		if ((v[i] = run(n, m, k)) < 0) {
			fprintf(stderr, "drop_cost: a call failed\n");
			return 1;
		}
	qsort(v, (size_t)r, sizeof(v[0]), cmp_double);
	printf("drop_cost n %ld m %ld k %ld: %.1f ns a removal at the peer (median of %ld; %.1f-%.1f)\n",
	       n, m, k, v[r / 2], r, v[0], v[r - 1]);
	return 0;
}
