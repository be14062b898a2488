/* PN-Counter: two G-Counters, increments P and decrements N; value P - N.
 *
 * A delete (crdt_pncounter_clear) resets the counter by remembering, per
 * replica, the totals it saw: the baselines BP <= P and BN <= N.  The value
 * is (P - BP) - (N - BN), so increments the delete did not see, made
 * concurrently elsewhere, still count; baselines merge by maximum like the
 * totals. */
#ifndef CRDT_PNCOUNTER_H
#define CRDT_PNCOUNTER_H

#include <stdbool.h>
#include <stdint.h>

#include "crdt/codec.h"
#include "crdt/vv.h"

struct crdt_pncounter {
	struct crdt_vv p;
	struct crdt_vv n;
	struct crdt_vv bp, bn; /* what deletes saw of p and n; empty until one */
};

struct crdt_pncounter *crdt_pncounter_new(void);
void crdt_pncounter_free(struct crdt_pncounter *c);
/** Add @n (> 0, else -EINVAL).  -EOVERFLOW if the value would pass INT64_MAX. */
int crdt_pncounter_inc(struct crdt_pncounter *c, const struct crdt_rid *self, int64_t n);
/** Subtract @n (> 0, else -EINVAL).  -EOVERFLOW below INT64_MIN. */
int crdt_pncounter_dec(struct crdt_pncounter *c, const struct crdt_rid *self, int64_t n);
/** Observed-remove delete: baselines become the totals seen here, so the
 * value is 0.  1 if the counter was live (crdt_pncounter_live), 0 if not;
 * -ENOMEM with the counter unchanged. */
int crdt_pncounter_clear(struct crdt_pncounter *c);
/** Whether any replica's totals pass its baselines: an increment or a
 * decrement that no delete saw (a value of 0 can still be live). */
bool crdt_pncounter_live(const struct crdt_pncounter *c);
/** (P - BP) - (N - BN); -EOVERFLOW if outside int64 (only after concurrent updates). */
int crdt_pncounter_value(const struct crdt_pncounter *c, int64_t *ret);
int crdt_pncounter_merge(struct crdt_pncounter *dst, const struct crdt_pncounter *src);
/** Whether @remote holds writes of replica @rid that @local (NULL: an
 * empty state) lacks: see crdt_type_ops.knows_more_of. */
bool crdt_pncounter_knows_more_of(const struct crdt_pncounter *remote,
				  const struct crdt_pncounter *local, const struct crdt_rid *rid);
bool crdt_pncounter_equal(const struct crdt_pncounter *a, const struct crdt_pncounter *b);
/** A 64-bit fingerprint of the state, never 0: equal states (crdt_pncounter_equal)
 * have equal fingerprints however they were reached; different states
 * differ but with probability about 2^-64.  A pass over the state. */
uint64_t crdt_pncounter_fingerprint(const struct crdt_pncounter *c);
struct crdt_pncounter *crdt_pncounter_copy(const struct crdt_pncounter *c);
int crdt_pncounter_encode(const struct crdt_pncounter *c, struct crdt_buf *b);
int crdt_pncounter_decode(const uint8_t *buf, size_t len, struct crdt_pncounter **ret);
int crdt_pncounter_split(const struct crdt_pncounter *c, size_t max, crdt_piece_cb cb, void *ctx);

#endif
