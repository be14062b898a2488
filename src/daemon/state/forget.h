/* The names this replica reclaimed recently (store_reclaim), kept as 64-bit
 * hashes with the time of their reclaim, so that a record another replica
 * still holds and resends is not stored again here (which would start its
 * grace period afresh and let the record bounce between replicas for
 * ever).  A multiset: a name reclaimed twice is forgotten after its last
 * reclaim's turn.  Pure: no I/O, no clock, no store.  Allocated by
 * forget_add, freed by forget_done. */
#ifndef CRDTD_FORGET_H
#define CRDTD_FORGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct forget_rec {
	uint64_t h;
	int64_t ms;
};

struct forget {
	/* open addressing, linear probing: key 0 = empty (a hash of 0 is
	 * kept as 1), with the number of reclaims of that hash held */
	uint64_t *key;
	uint32_t *cnt;
	size_t cap, len;
	/* the reclaims in time order (a ring) */
	struct forget_rec *ring;
	size_t rcap, head, n;
};

/** An empty set (nothing allocated yet). */
void forget_init(struct forget *f);
/** Free everything; accepts a zeroed struct. */
void forget_done(struct forget *f);
/** Remember hash @h, reclaimed at @ms (times given in order).  0 or -ENOMEM
 * (not remembered: the set is unchanged). */
int forget_add(struct forget *f, uint64_t h, int64_t ms);
/** Whether @h was remembered and not yet expired. */
bool forget_has(const struct forget *f, uint64_t h);
/** Forget up to @max reclaims made before @before_ms, oldest first.  The
 * number forgotten. */
size_t forget_expire(struct forget *f, int64_t before_ms, size_t max);

#endif
