/* Version vectors: replica id -> counter, kept sorted by replica id with no
 * zero entries, so two equal vectors have identical entries.  An entry
 * names its replica by the id's interned index (crdt/rid.h): 16 bytes an
 * entry, not 24.  The order is still that of the ids' bytes, and the
 * encodings carry the full ids; decoding interns them.
 *
 * The G-Counter is a version vector whose counters are the per-replica
 * totals; the same code serves both.
 */
#ifndef CRDT_VV_H
#define CRDT_VV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/buf.h"
#include "crdt/rid.h"

struct crdt_vv_entry {
	uint32_t rix; /* the replica: crdt_rid_at(rix) */
	uint64_t n;   /* never 0 */
};

struct crdt_vv {
	struct crdt_vv_entry *e; /* sorted by rid, unique */
	size_t len;
	size_t cap;
};

enum crdt_order {
	CRDT_EQUAL,
	CRDT_BEFORE,    /* a < b: b has seen everything a has and more */
	CRDT_AFTER,     /* a > b */
	CRDT_CONCURRENT,
};

/** The replica id of an entry. */
static inline const struct crdt_rid *crdt_vv_entry_rid(const struct crdt_vv_entry *e)
{
	return crdt_rid_at(e->rix);
}

/** Embedded lifecycle: init allocates nothing; done frees and accepts NULL. */
void crdt_vv_init(struct crdt_vv *vv);
void crdt_vv_done(struct crdt_vv *vv);

/** Counter of @rid, 0 if absent. */
uint64_t crdt_vv_get(const struct crdt_vv *vv, const struct crdt_rid *rid);
/** Add @n (> 0) to the counter of @rid.  -EOVERFLOW if it would pass
 * UINT64_MAX, -EINVAL if n == 0, -ENOMEM, -EMSGSIZE if @rid is new and the
 * process's table of ids is full; the vector is unchanged on error.
 * On success *ret_n (if not NULL) is the new counter. */
int crdt_vv_add(struct crdt_vv *vv, const struct crdt_rid *rid, uint64_t n, uint64_t *ret_n);
/** crdt_vv_add(vv, rid, 1, ret_n). */
int crdt_vv_inc(struct crdt_vv *vv, const struct crdt_rid *rid, uint64_t *ret_n);
/** Raise the counter of @rid to at least @n (no-op when already >= n or n == 0).
 * Errors as crdt_vv_add's. */
int crdt_vv_raise(struct crdt_vv *vv, const struct crdt_rid *rid, uint64_t n);
/** dst = pointwise max(dst, src).  On -ENOMEM dst is unchanged. */
int crdt_vv_merge(struct crdt_vv *dst, const struct crdt_vv *src);
enum crdt_order crdt_vv_compare(const struct crdt_vv *a, const struct crdt_vv *b);
/** True when a >= b pointwise. */
bool crdt_vv_dominates(const struct crdt_vv *a, const struct crdt_vv *b);
bool crdt_vv_equal(const struct crdt_vv *a, const struct crdt_vv *b);
/** Replace dst with a copy of src.  On -ENOMEM dst is unchanged. */
int crdt_vv_copy(struct crdt_vv *dst, const struct crdt_vv *src);

/** Body encoding (no tag): varint count, then per entry 16-byte rid and
 * varint counter, rids strictly ascending, counters > 0. */
int crdt_vv_encode_body(const struct crdt_vv *vv, struct crdt_buf *b);
/** Decode a body into a fresh @ret (initialised here, owned by the caller on
 * success, untouched on error).  -EBADMSG for truncated, unsorted, duplicate
 * or zero entries; -ENOMEM or -EMSGSIZE if its ids cannot be interned
 * (the ones interned before stay in the table). */
int crdt_vv_decode_body(struct crdt_cur *c, struct crdt_vv *ret);

#endif
