/* LWW-Register of a byte string, ordered by (HLC timestamp, replica id).
 *
 * A delete (crdt_lwwreg_clear) leaves a tombstone: the stamp of the value it
 * removed, without the value.  A value survives a tombstone only when it is
 * stamped after it, so a SET concurrent with the delete that was stamped
 * after the removed value survives, and so does any SET that follows the
 * delete (it is stamped after the tombstone); a value the removed one had
 * already beaten stays beaten (docs/types.md, "DEL").  A register is empty,
 * a value, or a tombstone, never two of them: that keeps one state per
 * meaning, so equal registers encode and fingerprint the same. */
#ifndef CRDT_LWWREG_H
#define CRDT_LWWREG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/codec.h"
#include "crdt/hlc.h"
#include "crdt/rid.h"

/* Values this short live in the struct, in place of the pointer. */
#define CRDT_LWWREG_INLINE 8

/* 32 bytes: the writer is an interned replica id (crdt/rid.h), whose
 * indexes stay below 2^30 (CRDT_RID_INTERN_MAX), and the flags share its
 * word; a value is at most UINT32_MAX bytes (a longer one is refused,
 * -EMSGSIZE).  Read the value with crdt_lwwreg_get or crdt_lwwreg_value,
 * not through the union.  A register may live inside another allocation
 * (crdt_lwwreg_init/_done): the daemon's store keeps small ones in their
 * name's entry. */
struct crdt_lwwreg {
	struct crdt_hlc_ts ts;
	uint32_t rix : 30;     /* writer: crdt_rid_at(rix), when set or del */
	bool set : 1;          /* holds a value */
	bool del : 1;          /* a tombstone: ts and rix are the removed value's */
	uint32_t len;
	union {
		uint8_t *val;  /* len > CRDT_LWWREG_INLINE: owned */
		uint8_t small[CRDT_LWWREG_INLINE]; /* else: the value */
	};
};

/** The value's bytes (r->len of them). */
static inline const uint8_t *crdt_lwwreg_value(const struct crdt_lwwreg *r)
{
	return r->len > CRDT_LWWREG_INLINE ? r->val : r->small;
}

struct crdt_lwwreg *crdt_lwwreg_new(void);
void crdt_lwwreg_free(struct crdt_lwwreg *r);
/** An empty register in memory the caller owns (crdt_lwwreg_new without
 * the malloc). */
void crdt_lwwreg_init(struct crdt_lwwreg *r);
/** Free what @r owns (its value), not @r itself: the end of a register
 * made by crdt_lwwreg_init.  @r is left empty. */
void crdt_lwwreg_done(struct crdt_lwwreg *r);
/** Write @val (binary-safe, copied) stamped by @hlc as replica @self.  The
 * stamp is crdt_hlc_after() the register's current one, so a write always
 * beats what this replica has already seen, even a value stamped by a clock
 * far ahead, and @hlc is not dragged forward by it. */
int crdt_lwwreg_set(struct crdt_lwwreg *r, struct crdt_hlc *hlc, const struct crdt_rid *self,
		    const void *val, size_t len);
/** False if never written; else points *ret_val and *ret_len at the value. */
bool crdt_lwwreg_get(const struct crdt_lwwreg *r, const uint8_t **ret_val, size_t *ret_len);
/** Observed-remove delete: a register holding a value becomes the tombstone
 * of its stamp; 1, or 0 (nothing changed) when it holds no value. */
int crdt_lwwreg_clear(struct crdt_lwwreg *r);
/** Whether the register holds a value (not empty, not a tombstone). */
bool crdt_lwwreg_live(const struct crdt_lwwreg *r);
/** Keep the greater (ts, rid), a tombstone winning over a value of the same
 * stamp; equal stamps with different values (only from
 * misuse) are ordered by the bytes, so merge stays commutative. */
int crdt_lwwreg_merge(struct crdt_lwwreg *dst, const struct crdt_lwwreg *src);
/** Whether @remote holds writes of replica @rid that @local (NULL: an
 * empty state) lacks: see crdt_type_ops.knows_more_of. */
bool crdt_lwwreg_knows_more_of(const struct crdt_lwwreg *remote, const struct crdt_lwwreg *local,
			       const struct crdt_rid *rid);
bool crdt_lwwreg_equal(const struct crdt_lwwreg *a, const struct crdt_lwwreg *b);
/** A 64-bit fingerprint of the state, never 0: equal states (crdt_lwwreg_equal)
 * have equal fingerprints however they were reached; different states
 * differ but with probability about 2^-64.  A pass over the state. */
uint64_t crdt_lwwreg_fingerprint(const struct crdt_lwwreg *r);
struct crdt_lwwreg *crdt_lwwreg_copy(const struct crdt_lwwreg *r);
int crdt_lwwreg_encode(const struct crdt_lwwreg *r, struct crdt_buf *b);
int crdt_lwwreg_decode(const uint8_t *buf, size_t len, struct crdt_lwwreg **ret);
/** One piece; -EMSGSIZE if the encoding is larger than @max. */
int crdt_lwwreg_split(const struct crdt_lwwreg *r, size_t max, crdt_piece_cb cb, void *ctx);

#endif
