/* G-Set: grow-only set of binary-safe byte strings. */
#ifndef CRDT_GSET_H
#define CRDT_GSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/codec.h"

struct crdt_gset; /* opaque */

/** Visits one element; a non-zero return stops the iteration and is returned. */
typedef int (*crdt_elem_cb)(const uint8_t *e, size_t len, void *ctx);

struct crdt_gset *crdt_gset_new(void);
void crdt_gset_free(struct crdt_gset *s);
/** Add a copy of @e.  1 if added, 0 if already there, -ENOMEM. */
int crdt_gset_add(struct crdt_gset *s, const void *e, size_t len);
bool crdt_gset_contains(const struct crdt_gset *s, const void *e, size_t len);
size_t crdt_gset_card(const struct crdt_gset *s);
/** Every element in ascending byte order (shorter prefix first). */
int crdt_gset_foreach(const struct crdt_gset *s, crdt_elem_cb cb, void *ctx);
/** Every element in elemtab order (docs/encoding.md): no sort. */
int crdt_gset_each(const struct crdt_gset *s, crdt_elem_cb cb, void *ctx);
/** One step of a scan (SSCAN): about @count members (every member of the
 * last one's hash) from @cursor on, in the table's order, to @cb; *@next
 * the cursor of the next step, 0 when this one reached the end.  A scan
 * from cursor 0 to 0 visits every member held throughout it exactly once,
 * whatever was added, removed or merged between its steps. */
int crdt_gset_scan(const struct crdt_gset *s, uint64_t cursor, size_t count, crdt_elem_cb cb,
		void *ctx, uint64_t *next);
int crdt_gset_merge(struct crdt_gset *dst, const struct crdt_gset *src);
bool crdt_gset_equal(const struct crdt_gset *a, const struct crdt_gset *b);
/** A 64-bit fingerprint of the state, never 0: equal states (crdt_gset_equal)
 * have equal fingerprints however they were reached; different states
 * differ but with probability about 2^-64.  O(1): the sum of its
 * elements' parts is kept as they come (add, merge, decode). */
uint64_t crdt_gset_fingerprint(const struct crdt_gset *s);
struct crdt_gset *crdt_gset_copy(const struct crdt_gset *s);
int crdt_gset_encode(const struct crdt_gset *s, struct crdt_buf *b);
int crdt_gset_decode(const uint8_t *buf, size_t len, struct crdt_gset **ret);
/** Every piece crdt_gset_pieces cuts, in one call; an element too long for
 * any piece is left out and counted in the return (codec.h). */
int crdt_gset_split(const struct crdt_gset *s, size_t max, crdt_piece_cb cb, void *ctx);
/** At most @n pieces of at most @max bytes from @cur on (codec.h): the
 * hash space in blocks of about 16 elements visited in bit-reversed order
 * (cur->bbits, cur->bblock; docs/encoding.md says why), each block's
 * elements in elemtab order, the cursor kept as a hash and a count of that
 * hash's elements already cut (cur->bhash, cur->bskip; cur->bases set once
 * the first piece went), so the set may grow between calls: an element added behind
 * the cursor is not in this cut (the change that added it is replicated
 * on its own), and none that was there when the cut began is missed.  A
 * set that fits one piece goes as exactly its encoding; an empty set as
 * one empty piece.  An element too long for any piece is left out and
 * counted in cur->skipped.  Costs the pieces it cuts and one lookup.  0,
 * -EMSGSIZE when @max cannot hold a header, or @cb's negative return (the
 * cursor then stays before the piece that failed). */
int crdt_gset_pieces(const struct crdt_gset *s, struct crdt_cursor *cur, size_t max, size_t n,
		     crdt_piece_cb cb, void *ctx);
/** A catch-up's sizing of the table, as crdt_orset_reserve_for. */
int crdt_gset_reserve_for(struct crdt_gset *s, size_t incoming, uint64_t total);

#endif
