/* The digest's refresh walk over a large store (gossip/digest.h): what one
 * entry costs when the whole store is walked, as after a bulk load (the
 * stale list overflows) or a failed allocation.  A slice of the walk is
 * one call of the core's tick (DIGEST_SLICE entries), so this cost times
 * the slice is how long such a tick holds the loop.
 *
 *   build/bench/digest_cost [KEYS] [RUNS]
 *
 * KEYS registers (default 1,000,000) are merged into a store the digest
 * is subscribed to; the first refresh (each entry's fingerprint computed
 * and counted in its bucket) is timed, then RUNS (default 5) walks of the
 * whole store again (every fingerprint recomputed, none changed); each
 * line gives ns a walked entry, in thread CPU time. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "crdt/hlc.h"
#include "crdt/lwwreg.h"
#include "crdt/obj.h"
#include "crdt/rid.h"
#include "gossip/digest.h"
#include "state/store.h"

static double cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "digest_cost: %s\n", what);
	exit(1);
}

/* Walk the whole store a slice at a time, as the ticks do: ns an entry. */
static double walk(struct digest *d, size_t keys)
{
	double t0 = cpu_ns();

	while (!digest_refresh_some(d, 2048))
		;
	return (cpu_ns() - t0) / (double)keys;
}

int main(int argc, char **argv)
{
	long keys = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
	long runs = argc > 2 ? strtol(argv[2], NULL, 10) : 5;
	struct crdt_rid rid;
	struct crdt_hlc hlc;
	struct digest *d;
	struct store s;
	uint64_t root;

	if (keys < 1 || runs < 1)
		die("usage: digest_cost [KEYS] [RUNS]");
	store_init(&s);
	crdt_rid_generate(&rid);
	crdt_hlc_init(&hlc, NULL, NULL);
	if (digest_new(&s, &d) < 0)
		die("digest_new");
	for (long i = 0; i < keys; i++) {
		struct crdt_obj o;
		char name[32], val[24];
		int n = snprintf(name, sizeof(name), "key:%012ld", i);
		int vn = snprintf(val, sizeof(val), "v%012ld", i);
		if (crdt_obj_new(CRDT_LWWREG, &o) < 0 ||
		    crdt_lwwreg_set(o.lww, &hlc, &rid, val, (size_t)vn) < 0 ||
		    store_merge(&s, name, (size_t)n, &o) < 0)
			die("out of memory");
		crdt_obj_done(&o);
	}
	printf("keys %ld, first refresh: %.0f ns an entry\n", keys, walk(d, (size_t)keys));
	root = digest_root(d);
	for (long r = 0; r < runs; r++) {
		/* what an overflow of the stale list does: walk it all again */
		d->walking = true;
		store_walk_start(&s, &d->walk);
		printf("walk again %ld: %.0f ns an entry\n", r + 1, walk(d, (size_t)keys));
		if (digest_root(d) != root)
			die("a walk that changed nothing moved the digest");
	}
	digest_free(d);
	store_done(&s);
	return 0;
}
