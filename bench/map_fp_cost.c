/* One OR-Map fingerprint after one HSET on an N-field map (default
 * 200,000): the call callgrind counts, with
 *   valgrind --tool=callgrind --toggle-collect=fp_after_write bench/map_fp_cost [N]
 * (--toggle-collect=hset_one: that HSET).  It also checks that the value
 * equals a copy's (computed afresh). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "crdt/hlc.h"
#include "crdt/ormap.h"

static uint64_t fixed_clock(void *ctx)
{
	(void)ctx;
	return 1700000000000ULL;
}

/* Not inlined: the functions callgrind's --toggle-collect names. */
__attribute__((noinline)) static int hset_one(struct crdt_ormap *m, struct crdt_hlc *h,
					     const struct crdt_rid *self)
{
	return crdt_ormap_set(m, h, self, "f0000042", 8, "other", 5, NULL);
}

__attribute__((noinline)) static uint64_t fp_after_write(const struct crdt_ormap *m)
{
	return crdt_ormap_fingerprint(m);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
	struct crdt_ormap *m = crdt_ormap_new(), *c;
	struct crdt_rid self = { { 1 } };
	struct crdt_hlc h;
	char f[32];
	uint64_t fp, fresh;

	if (!m || n < 1)
		return 1;
	crdt_hlc_init(&h, fixed_clock, NULL);
	for (long i = 0; i < n; i++) {
		int len = snprintf(f, sizeof(f), "f%07ld", i);
		if (crdt_ormap_set(m, &h, &self, f, (size_t)len, "value", 5, NULL) < 0)
			return 1;
	}
	(void)crdt_ormap_fingerprint(m); /* the digest's refresh before the write */
	if (hset_one(m, &h, &self) < 0)
		return 1;
	fp = fp_after_write(m);
	if (!(c = crdt_ormap_copy(m)))
		return 1;
	fresh = crdt_ormap_fingerprint(c);
	printf("fields %ld fingerprint %016llx fresh %016llx %s\n", n, (unsigned long long)fp,
	       (unsigned long long)fresh, fp == fresh ? "equal" : "DIFFERENT");
	crdt_ormap_free(c);
	crdt_ormap_free(m);
	return fp == fresh ? 0 : 1;
}
