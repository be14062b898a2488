/* ivl: an interval of dot counters, as the OR-Set's and the OR-Map's causal
 * contexts keep them per replica (internal to libcrdt): a list sorted by
 * lo, its intervals disjoint and never adjacent. */
#ifndef CRDT_IVL_H
#define CRDT_IVL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "crdt/sort.h"

struct ivl {
	uint64_t lo, hi;
};

static inline bool ivl_ends_before(const struct ivl *a, uint64_t lo)
{
	return a->hi < lo;
}

/* The first interval of @a[@n] that does not end before @lo (@n if
 * none).  O(log n). */
LOWER_BOUND_DEFINE(ivs_first_ending, struct ivl, uint64_t, ivl_ends_before)

/* Whether [lo, hi] lies within one interval of @a[@n]: the first interval
 * that does not end before lo holds it or none does (the intervals are
 * disjoint and never adjacent, so no two together cover it).  O(log n). */
static inline bool ivs_cover(const struct ivl *a, uint32_t n, uint64_t lo, uint64_t hi)
{
	uint32_t l = ivs_first_ending(a, n, lo);

	return l < n && a[l].lo <= lo && hi <= a[l].hi;
}

/* [@lo, @hi] joined into @a[*@n] in place, which has room for one more
 * interval: those it overlaps or touches become one with it, and the ones
 * after move.  O(log n) and that move: a few intervals into a long list
 * cost less so than a merge into a new list, which copies it whole. */
static inline void ivs_put(struct ivl *a, uint32_t *n, uint64_t lo, uint64_t hi)
{
	/* the first that ends at lo - 1 or later: it touches [lo, hi] or
	 * comes after it */
	uint32_t f = ivs_first_ending(a, *n, lo ? lo - 1 : 0), l = f;

	while (l < *n && (hi == UINT64_MAX || a[l].lo <= hi + 1))
		l++;
	if (f == l) { /* touches none: a new interval at f */
		memmove(a + f + 1, a + f, (size_t)(*n - f) * sizeof(*a));
		a[f] = (struct ivl){ lo, hi };
		(*n)++;
		return;
	}
	a[f].lo = a[f].lo < lo ? a[f].lo : lo;
	a[f].hi = a[l - 1].hi > hi ? a[l - 1].hi : hi;
	memmove(a + f + 1, a + l, (size_t)(*n - l) * sizeof(*a));
	*n -= l - f - 1;
}

/* @b[@bn] joined into @a[@an] in place, @a having room for @an + @bn: the
 * union, coalesced; returns its length.  From the top down, by hi, each
 * interval written once above those not yet read (w - i >= j), then what
 * stayed below moved up to it: O(an + bn) and no new list (a large
 * context's, fresh from the allocator, page-faulted every 4 KiB: most of a
 * queued delta's join at a push).  Called on the tail of a list from the
 * first interval @b touches, it moves only that tail. */
static inline uint32_t ivs_join_into(struct ivl *a, uint32_t an, const struct ivl *b, uint32_t bn)
{
	uint32_t i = an, j = bn, w = an + bn; /* a[w .. an + bn) is joined */

	while (j > 0) {
		struct ivl x = i > 0 && a[i - 1].hi >= b[j - 1].hi ? a[--i] : b[--j];
		if (w < an + bn && (x.hi == UINT64_MAX || x.hi + 1 >= a[w].lo)) {
			if (x.lo < a[w].lo) /* it touches the lowest written */
				a[w].lo = x.lo;
		} else {
			a[--w] = x;
		}
	}
	/* a[0 .. i) stays, but for its highest ones that the lowest written
	 * reaches (b's lowest may start below several) */
	while (i > 0 && w < an + bn && a[i - 1].hi + 1 >= a[w].lo) {
		if (a[i - 1].lo < a[w].lo)
			a[w].lo = a[i - 1].lo;
		i--;
	}
	if (w != i)
		memmove(a + i, a + w, (size_t)(an + bn - w) * sizeof(*a));
	return i + (an + bn - w);
}

/* @sum plus the counters @a[@n] holds, saturating at UINT64_MAX. */
static inline uint64_t ivs_count(uint64_t sum, const struct ivl *a, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t w = a[i].hi - a[i].lo;
		if (w >= UINT64_MAX - sum)
			return UINT64_MAX;
		sum += w + 1;
	}
	return sum;
}

#endif
