/* The skeleton of a libcrdt cost benchmark that takes N M K R (readd_cost,
 * drop_cost): the process's CPU clock, an OR-Set of N members and a seeded
 * draw of one of them (every build draws the same members in the same
 * order), and a main that runs one run R times and prints the median ns per
 * operation with the range. */
#ifndef CRDTD_BENCH_COST_H
#define CRDTD_BENCH_COST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "crdt/orset.h"

/* Member @i's name, "@prefix" then @i zero-padded to @width, into @e[@cap];
 * its length. */
static inline size_t cost_member(char *e, size_t cap, const char *prefix, int width, long i)
{
	return (size_t)snprintf(e, cap, "%s%0*ld", prefix, width, i);
}

/* An OR-Set of members 0 .. @n - 1 named as cost_member(), each added by
 * replica { 1 }; NULL on failure. */
static inline struct crdt_orset *cost_set(long n, const char *prefix, int width)
{
	struct crdt_rid self = { { 1 } };
	struct crdt_orset *s = crdt_orset_new();
	char e[32];

	for (long i = 0; s && i < n; i++)
		if (crdt_orset_add(s, &self, e, cost_member(e, sizeof(e), prefix, width, i)) < 0) {
			crdt_orset_free(s);
			return NULL;
		}
	return s;
}

/* The next of @n members drawn by xorshift64 from state *@x. */
static inline long cost_draw(uint64_t *x, long n)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return (long)(*x % (uint64_t)n);
}

static inline double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One run's ns an operation, or < 0 on failure. */
typedef double (*cost_run_fn)(long n, long m, long k);

/* argv: N M K R, each defaulting to @def[0..3]; @what names the figure
 * ("an add").  Exits 2 on bad arguments (M must exceed K with @m_over_k),
 * 1 when a run fails. */
static inline int cost_main(int argc, char **argv, const char *name, const long def[4],
			    int m_over_k, const char *what, cost_run_fn run)
{
	long a[4];
	double v[64];

	for (int i = 0; i < 4; i++)
		a[i] = argc > i + 1 ? strtol(argv[i + 1], NULL, 10) : def[i];
	if (a[0] < 1 || a[1] < 1 || a[2] < 1 || (m_over_k && a[1] <= a[2]) || a[3] < 1 || a[3] > 64)
		return 2;
	for (long i = 0; i < a[3]; i++)
		if ((v[i] = run(a[0], a[1], a[2])) < 0) {
			fprintf(stderr, "%s: a call failed\n", name);
			return 1;
		}
	qsort(v, (size_t)a[3], sizeof(v[0]), cmp_double);
	printf("%s n %ld m %ld k %ld: %.1f ns %s (median of %ld; %.1f-%.1f)\n", name, a[0], a[1],
	       a[2], v[a[3] / 2], what, a[3], v[0], v[a[3] - 1]);
	return 0;
}

#endif
