/* The cost of an OR-Set's element table growing, call by call: N elements
 * (default 1,000,000) added one by one (crdt_orset_add), then the same
 * count written by a second replica and merged into a third set in deltas
 * of K adds (default 1: a peer taking a writer's DELTA per SADD).  Each call that takes longer than
 * 0.5 ms is printed with the count it ran at (the growths), and the
 * longest call of each run.  For perf record -g or
 *   valgrind --tool=callgrind --toggle-collect=add_one bench/grow_cost N
 * (add_one, merge_one: one call). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "crdt/orset.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Not inlined: the functions callgrind's --toggle-collect names. */
__attribute__((noinline)) static int add_one(struct crdt_orset *s, const struct crdt_rid *r,
					    const char *e, int len)
{
	return crdt_orset_add(s, r, e, (size_t)len);
}

__attribute__((noinline)) static int merge_one(struct crdt_orset *dst,
					      const struct crdt_orset *src)
{
	return crdt_orset_merge(dst, src);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
	long k = argc > 2 ? strtol(argv[2], NULL, 10) : 1;
	struct crdt_rid a = { { 1 } }, b = { { 2 } };
	struct crdt_orset *s = crdt_orset_new(), *p = crdt_orset_new(), *w = crdt_orset_new();
	double worst = 0, worst_m = 0, total = 0, total_m = 0;
	long at = 0, at_m = 0;
	char e[32];

	if (!s || !p || !w || n < 1 || k < 1)
		return 1;
	for (long i = 0; i < n; i++) {
		int len = snprintf(e, sizeof(e), "member:%08ld", i);
		double t0 = now_ms(), d;
		if (add_one(s, &a, e, len) < 0)
			return 1;
		d = now_ms() - t0;
		total += d;
		if (d > 0.5)
			printf("add   at %8ld: %8.3f ms\n", i, d);
		if (d > worst) {
			worst = d;
			at = i;
		}
	}
	/* deltas of k new elements from a second writer, merged into p */
	for (long i = 0; i < n; i += k) {
		struct crdt_orset *d = crdt_orset_new();
		double t0, dt;
		for (long x = i; x < i + k && x < n; x++) {
			int len = snprintf(e, sizeof(e), "member:%08ld", x);
			if (!d || crdt_orset_add_delta(w, &b, e, (size_t)len, d) != 0)
				return 1;
		}
		t0 = now_ms();
		if (merge_one(p, d) < 0)
			return 1;
		dt = now_ms() - t0;
		total_m += dt;
		if (dt > 0.5)
			printf("merge at %8ld: %8.3f ms\n", i, dt);
		if (dt > worst_m) {
			worst_m = dt;
			at_m = i;
		}
		crdt_orset_free(d);
	}
	printf("cards %zu %zu\n", crdt_orset_card(s), crdt_orset_card(p));
	printf("n %ld: add worst %.3f ms at %ld, all adds %.1f ms; "
	       "merge (k %ld) worst %.3f ms at %ld, all merges %.1f ms\n",
	       n, worst, at, total, k, worst_m, at_m, total_m);
	crdt_orset_free(s);
	crdt_orset_free(p);
	crdt_orset_free(w);
	return 0;
}
