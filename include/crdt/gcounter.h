/* G-Counter: grow-only counter, one total per replica; value is the sum. */
#ifndef CRDT_GCOUNTER_H
#define CRDT_GCOUNTER_H

#include <stdbool.h>
#include <stdint.h>

#include "crdt/codec.h"
#include "crdt/vv.h"

struct crdt_gcounter {
	struct crdt_vv vv; /* replica -> its total */
};

/** NULL on allocation failure.  Free with crdt_gcounter_free (accepts NULL). */
struct crdt_gcounter *crdt_gcounter_new(void);
void crdt_gcounter_free(struct crdt_gcounter *g);
/** Add @n (> 0, else -EINVAL) on replica @self.  -EOVERFLOW when the value
 * would pass INT64_MAX; unchanged on error. */
int crdt_gcounter_inc(struct crdt_gcounter *g, const struct crdt_rid *self, int64_t n);
/** Sum of all replicas' totals.  -EOVERFLOW if it does not fit int64 (possible
 * only after concurrent increments on several replicas). */
int crdt_gcounter_value(const struct crdt_gcounter *g, int64_t *ret);
int crdt_gcounter_merge(struct crdt_gcounter *dst, const struct crdt_gcounter *src);
/** Whether @remote holds writes of replica @rid that @local (NULL: an
 * empty state) lacks: see crdt_type_ops.knows_more_of. */
bool crdt_gcounter_knows_more_of(const struct crdt_gcounter *remote,
				 const struct crdt_gcounter *local, const struct crdt_rid *rid);
bool crdt_gcounter_equal(const struct crdt_gcounter *a, const struct crdt_gcounter *b);
/** A 64-bit fingerprint of the state, never 0: equal states (crdt_gcounter_equal)
 * have equal fingerprints however they were reached; different states
 * differ but with probability about 2^-64.  A pass over the state. */
uint64_t crdt_gcounter_fingerprint(const struct crdt_gcounter *g);
/** Deep copy; NULL on allocation failure. */
struct crdt_gcounter *crdt_gcounter_copy(const struct crdt_gcounter *g);
int crdt_gcounter_encode(const struct crdt_gcounter *g, struct crdt_buf *b);
/** *ret is a new counter owned by the caller, set only on success. */
int crdt_gcounter_decode(const uint8_t *buf, size_t len, struct crdt_gcounter **ret);
/** Pieces are subsets of replica entries, each at most @max bytes. */
int crdt_gcounter_split(const struct crdt_gcounter *g, size_t max, crdt_piece_cb cb, void *ctx);

#endif
