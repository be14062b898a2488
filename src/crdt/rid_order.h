/* Internal: fast replica id comparison for the hot loops (merge of large
 * vectors).  Same order as memcmp, done as two big-endian 64-bit compares.
 * And the interned ids' table, read inline. */
#ifndef CRDT_RID_ORDER_H
#define CRDT_RID_ORDER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "crdt/rid.h"

static inline uint64_t rid_word(const struct crdt_rid *r, int i)
{
	uint64_t w;
	memcpy(&w, r->b + 8 * i, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

static inline int rid_order(const struct crdt_rid *a, const struct crdt_rid *b)
{
	uint64_t x = rid_word(a, 0), y = rid_word(b, 0);
	if (x == y) {
		x = rid_word(a, 1);
		y = rid_word(b, 1);
	}
	return (x > y) - (x < y);
}

static inline bool rid_equal(const struct crdt_rid *a, const struct crdt_rid *b)
{
	return memcmp(a->b, b->b, CRDT_RID_LEN) == 0;
}

/* crdt_rid_at, inline for the loops that compare interned ids (vv.c):
 * the table's chunks (rid.c), chunk k holding 64 << k ids. */
#define RID_CHUNK0_SHIFT 6
#define RID_NCHUNKS 27
extern _Atomic(struct crdt_rid *) crdt_rid_chunks_[RID_NCHUNKS] __attribute__((visibility("hidden")));

static inline const struct crdt_rid *rid_at(uint32_t ix)
{
	uint64_t v = (uint64_t)ix + (1u << RID_CHUNK0_SHIFT);
	unsigned k = 63 - (unsigned)__builtin_clzll(v) - RID_CHUNK0_SHIFT;

	return atomic_load_explicit(&crdt_rid_chunks_[k], memory_order_acquire) +
	       (v - ((uint64_t)1 << (k + RID_CHUNK0_SHIFT)));
}

#endif
