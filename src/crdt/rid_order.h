/* Internal: fast replica id comparison for the hot loops (merge of large
 * vectors).  Same order as memcmp, done as two big-endian 64-bit compares. */
#ifndef CRDT_RID_ORDER_H
#define CRDT_RID_ORDER_H

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

#endif
