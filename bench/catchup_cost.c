/* The catch-up of a large OR-Set in libcrdt alone, for callgrind: a set of
 * N elements ("e0000000"...) made by crdt_orset_add, cut into pieces of
 * at most 1,330 bytes by crdt_orset_pieces (16 a call, as the daemon's
 * loop asks), then each piece decoded and merged into an empty set sized
 * by crdt_orset_reserve_for, as a receiver does.  Prints the pieces and
 * each phase's thread CPU time; exits 1 unless the copy equals the set.
 *
 *     catchup_cost [N] [cut]     ("cut": stop after the cut)
 *     catchup_cost [N] order     (the whole set in its table order instead)
 *
 * "order" encodes the whole set at once, in the sender's table order, and
 * decodes that encoding into a fresh set twice: under the sender's hash
 * key (each element lands in table order) and under another key, as a
 * replica that drew its own key at its start does (each element lands in
 * a random slot).  It prints the encode and both decodes.
 *     valgrind --tool=callgrind --toggle-collect=crdt_orset_pieces catchup_cost 1000000 cut
 *     valgrind --tool=callgrind --toggle-collect=crdt_orset_merge \
 *         --toggle-collect=crdt_orset_decode --toggle-collect=crdt_orset_reserve_for catchup_cost
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crdt/buf.h"
#include "crdt/codec.h"
#include "crdt/hash.h"
#include "crdt/orset.h"

struct piece {
	uint8_t *p;
	size_t n;
};

struct pieces {
	struct piece *v;
	size_t n, cap;
};

static int keep_cb(const uint8_t *b, size_t n, void *ctx)
{
	struct pieces *ps = ctx;

	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? 2 * ps->cap : 1024;
		struct piece *v = realloc(ps->v, cap * sizeof(*v));
		if (!v)
			return -1;
		ps->v = v;
		ps->cap = cap;
	}
	if (!(ps->v[ps->n].p = malloc(n)))
		return -1;
	memcpy(ps->v[ps->n].p, b, n);
	ps->v[ps->n++].n = n;
	return 0;
}

static double cpu_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Decode @b's @len bytes into a fresh set and check its size: CPU ms. */
static double decode_ms(const uint8_t *b, size_t len, size_t n)
{
	struct crdt_orset *d;
	double t0 = cpu_ms(), t1;

	if (crdt_orset_decode(b, len, &d) < 0)
		exit(1);
	t1 = cpu_ms();
	if (crdt_orset_card(d) != n)
		exit(1);
	crdt_orset_free(d);
	return t1 - t0;
}

static int table_order(struct crdt_orset *a, size_t n)
{
	const struct crdt_hash_key other = { 0x0123456789abcdefULL, 0xfedcba9876543210ULL };
	struct crdt_buf b;
	double t0, t1, same, moved;

	crdt_buf_init(&b, 0);
	t0 = cpu_ms();
	if (crdt_orset_encode(a, &b) < 0)
		return 1;
	t1 = cpu_ms();
	same = decode_ms(b.data, b.len, n);
	crdt_set_hash_key(&other); /* a no longer finds its elements: not used again */
	moved = decode_ms(b.data, b.len, n);
	printf("elements=%zu encode_ms=%.1f decode_same_key_ms=%.1f decode_other_key_ms=%.1f\n", n,
	       t1 - t0, same, moved);
	crdt_buf_done(&b);
	return 0;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	bool cut_only = argc > 2 && !strcmp(argv[2], "cut");
	bool whole = argc > 2 && !strcmp(argv[2], "order");
	struct crdt_rid rid = { { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 } };
	struct crdt_orset *a = crdt_orset_new(), *b = crdt_orset_new();
	struct crdt_cursor cur = CRDT_CURSOR_INIT;
	struct pieces ps = { 0 };
	double t0, t1, t2;
	char k[32];

	if (!a || !b)
		return 1;
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(k, sizeof(k), "e%07zu", i);
		if (crdt_orset_add(a, &rid, k, (size_t)len) < 0)
			return 1;
	}
	if (whole)
		return table_order(a, n);
	t0 = cpu_ms();
	while (!cur.done)
		if (crdt_orset_pieces(a, &cur, 1330, 16, keep_cb, &ps) < 0)
			return 1;
	t1 = cpu_ms();
	if (cut_only) {
		printf("pieces=%zu cut_ms=%.1f\n", ps.n, t1 - t0);
		return 0;
	}
	for (size_t i = 0; i < ps.n; i++) {
		struct crdt_orset *p;
		if (crdt_orset_decode(ps.v[i].p, ps.v[i].n, &p) < 0)
			return 1;
		(void)crdt_orset_reserve_for(b, crdt_orset_card(p), n);
		if (crdt_orset_merge(b, p) < 0)
			return 1;
		crdt_orset_free(p);
	}
	t2 = cpu_ms();
	printf("pieces=%zu cut_ms=%.1f merge_ms=%.1f equal=%d\n", ps.n, t1 - t0, t2 - t1,
	       crdt_orset_equal(a, b));
	return crdt_orset_equal(a, b) ? 0 : 1;
}
