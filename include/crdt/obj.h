/* Any libcrdt state behind one tagged handle, for code (the daemon) that
 * holds instances of every type side by side. */
#ifndef CRDT_OBJ_H
#define CRDT_OBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/codec.h"
#include "crdt/gcounter.h"
#include "crdt/gset.h"
#include "crdt/lwwreg.h"
#include "crdt/ormap.h"
#include "crdt/orset.h"
#include "crdt/pncounter.h"

struct crdt_obj {
	enum crdt_type type;
	union {
		void *p;
		struct crdt_gcounter *gc;
		struct crdt_pncounter *pn;
		struct crdt_gset *gs;
		struct crdt_orset *os;
		struct crdt_lwwreg *lww;
		struct crdt_ormap *om;
	};
};

/* What code that holds states of every type side by side calls them
 * through: one row per type (obj.c), so that a new type is its own file and
 * one row, not edits wherever types are told apart.  Each entry is the
 * type's own crdt_<name>_* function behind a void pointer. */
struct crdt_type_ops {
	enum crdt_type type;
	void *(*new)(void);
	void (*free)(void *s);
	void *(*copy)(const void *s);
	int (*merge)(void *dst, const void *src);
	bool (*equal)(const void *a, const void *b);
	int (*encode)(const void *s, struct crdt_buf *b);
	int (*decode)(const uint8_t *buf, size_t len, void **ret);
	int (*split)(const void *s, size_t max, crdt_piece_cb cb, void *ctx);
	/* The split one piece at a time from a cursor (crdt_obj_pieces), for
	 * a type whose states can be large (the OR-Set); NULL for the others,
	 * which go whole.  The state is not const: it may build a cache. */
	int (*pieces)(void *s, struct crdt_cursor *cur, size_t max, size_t n, crdt_piece_cb cb,
		      void *ctx);
	/* A catch-up of a state cut in pieces: the count its sender
	 * announces with them (an OR-Set's members; an OR-Map's baselines,
	 * what deletes of its counter fields left), and the receiver's table
	 * sized for that count before a piece is merged
	 * (crdt_orset_reserve_for, crdt_ormap_reserve_for; 0 or -ENOMEM /
	 * -EMSGSIZE, the state unchanged).  NULL for the types without
	 * pieces. */
	uint64_t (*pieces_total)(const void *s);
	int (*reserve_for)(void *s, const void *piece, uint64_t total);
	/* Whether a piece its cut gave with a summary (crdt_cursor has_sum)
	 * could change the state: crdt_orset_piece_is_news,
	 * crdt_ormap_piece_is_news.  NULL for a type whose pieces have none. */
	int (*piece_is_news)(void *s, const uint8_t *enc, size_t len, uint64_t dots, uint64_t hash);
	/* A 64-bit fingerprint of the state, never 0, that depends only on
	 * the state: the wrapping sum of a hash of each of its parts (counter
	 * entries, elements, dots, context intervals), so neither arrival
	 * order, nor splits, nor merge order change it (src/crdt/fp.h). */
	uint64_t (*fingerprint)(const void *s);
	/* Whether @remote holds writes made under @rid that @local (same
	 * type, or NULL for none) lacks: a counter entry of @rid above ours, a
	 * causal context reaching past ours for @rid, a register written by
	 * @rid at a later time.  For the replica whose id @rid is, that is
	 * proof that another history was written under its id.  NULL for a
	 * type whose states carry no replica ids (G-Set). */
	bool (*knows_more_of)(const void *remote, const void *local, const struct crdt_rid *rid);
	/* Counters (G-Counter, PN-Counter) only: the value, or -EOVERFLOW
	 * when it leaves int64.  NULL for the other types. */
	int (*value)(const void *s, int64_t *ret);
	/* The observed-remove delete (DEL): remove what the state holds and
	 * keep what tells a merge that it was removed (an OR-Set's dots stay
	 * in its context, a PN-Counter's totals become its baselines, a
	 * register keeps the removed value's stamp), so that a write the
	 * state has not seen survives the merge and a later local write
	 * starts afresh.  1 if something was removed, 0 if the state was not
	 * live, -ENOMEM with the state unchanged.  NULL for the grow-only
	 * types, which cannot forget (G-Counter, G-Set). */
	int (*clear)(void *s);
	/* clear, but what it would free goes to a new state of the type in
	 * *ret (NULL: nothing handed over; all was freed at once), which the
	 * caller frees later, on any thread.  NULL for a type whose clear
	 * frees little (counters, registers). */
	int (*clear_detach)(void *s, void **ret);
	/* Before merging @remote into @s: when that merge would remove all
	 * but at most @max_kept of @s's members (a DEL's delta, from a replica
	 * in sync with @s or not quite), move what it removes to a new state
	 * in *ret as clear_detach does, and keep the rest; the merge's result
	 * is the same.  1 if done, 0 if not (nothing changed), -ENOMEM.
	 * NULL: never done. */
	int (*detach_removed)(void *s, const void *remote, size_t max_kept, void **ret);
	/* Whether the state holds anything no delete has removed; a name
	 * whose states are all not live is absent (the store's visibility
	 * rule).  An empty state is not live.  NULL: always live (the
	 * grow-only types, whose empty state a client created on purpose). */
	bool (*live)(const void *s);
	/* Sets (G-Set, OR-Set) only; NULL for the other types. */
	size_t (*card)(const void *s);
	bool (*contains)(const void *s, const void *e, size_t len);
	int (*foreach)(const void *s, crdt_elem_cb cb, void *ctx);
	int (*each)(const void *s, crdt_elem_cb cb, void *ctx); /* any order */
	int (*scan)(const void *s, uint64_t cursor, size_t count, crdt_elem_cb cb, void *ctx,
		    uint64_t *next);
	/* The most bytes split adds to one element's bytes and length in a
	 * piece that holds that element alone (docs/encoding.md, each type's
	 * "Split"): for the counters a whole one-replica piece; for the
	 * OR-Set its splitter's upper bound (header and counts, one replica's
	 * id and interval count, one interval, a dot's head and counter
	 * difference at their largest); for the OR-Map a piece of one
	 * register field, the element being the field's name and value.  A
	 * sender sizes its largest element by it. */
	size_t piece_overhead;
	/* What Redis's TYPE calls the nearest Redis value: "string" (a
	 * counter or a register), "set" or "hash". */
	const char *redis_type;
};

/** The row of type @t, NULL for a tag that is no type. */
const struct crdt_type_ops *crdt_type_ops(enum crdt_type t);

/** An empty state of @t into @ret.  -EINVAL for an unknown type, -ENOMEM. */
int crdt_obj_new(enum crdt_type t, struct crdt_obj *ret);
/** Free the state; accepts an obj whose p is NULL. */
void crdt_obj_done(struct crdt_obj *o);
/** -ETYPE (CRDT_ETYPE) when the types differ. */
int crdt_obj_merge(struct crdt_obj *dst, const struct crdt_obj *src);
bool crdt_obj_equal(const struct crdt_obj *a, const struct crdt_obj *b);
int crdt_obj_copy(const struct crdt_obj *o, struct crdt_obj *ret);
int crdt_obj_encode(const struct crdt_obj *o, struct crdt_buf *b);
/** The type comes from the encoding's tag. */
int crdt_obj_decode(const uint8_t *buf, size_t len, struct crdt_obj *ret);
int crdt_obj_split(const struct crdt_obj *o, size_t max, crdt_piece_cb cb, void *ctx);
/** Up to @n pieces of at most @max bytes from @cur on (crdt_orset_pieces),
 * so that a large state is cut a little at a time and may change between
 * calls; cur->done once the last went, cur->skipped counts what a split's
 * return counts.  A type with no pieces row sends everything at the first
 * call, as crdt_obj_split.  0, 1 when the call only prepared (built part of
 * an index) and cut nothing: call again, or a negative error as
 * crdt_obj_split. */
int crdt_obj_pieces(struct crdt_obj *o, struct crdt_cursor *cur, size_t max, size_t n,
		    crdt_piece_cb cb, void *ctx);
/** Whether crdt_obj_pieces cuts @o a little at a time. */
bool crdt_obj_has_pieces(const struct crdt_obj *o);
/** The count a catch-up of @o announces with its pieces
 * (crdt_type_ops.pieces_total); 0 for a type without pieces. */
uint64_t crdt_obj_pieces_total(const struct crdt_obj *o);
/** Before @piece, one of a catch-up that announced @total, is merged into
 * @dst: @dst's table sized for @total (crdt_type_ops.reserve_for).  0 when
 * the type has no such row or the types differ; -ENOMEM / -EMSGSIZE with
 * @dst unchanged.  Only capacity changes. */
int crdt_obj_reserve_for(struct crdt_obj *dst, const struct crdt_obj *piece, uint64_t total);
/** Whether merging the encoded piece @enc of @o's type, cut with a summary
 * of @dots live dots of sum hash @hash, could change @o
 * (crdt_type_ops.piece_is_news): 0 when it cannot, 1 when it could, or
 * when @o's type keeps no summaries or @enc is of another type. */
int crdt_obj_piece_is_news(struct crdt_obj *o, const uint8_t *enc, size_t len, uint64_t dots,
			   uint64_t hash);
/** crdt_type_ops.fingerprint, mixed with the type: states of different
 * types differ.  0 only for an obj of no type. */
uint64_t crdt_obj_fingerprint(const struct crdt_obj *o);
/** crdt_type_ops.knows_more_of; false when the types differ. */
bool crdt_obj_knows_more_of(const struct crdt_obj *remote, const struct crdt_obj *local,
			    const struct crdt_rid *rid);
/** A counter's value (crdt_type_ops.value); -EINVAL for any other state. */
int crdt_obj_value(const struct crdt_obj *o, int64_t *ret);
/** Whether the type has a delete (crdt_type_ops.clear). */
bool crdt_obj_can_clear(const struct crdt_obj *o);
/** crdt_type_ops.clear: 1, 0, -ENOMEM, or -EOPNOTSUPP for a grow-only type
 * (nothing changed). */
int crdt_obj_clear(struct crdt_obj *o);
/** crdt_obj_clear, but what the clear would free moves to *@ret_husk, a
 * state of @o's type (ret_husk->p NULL when nothing moved), which the
 * caller frees with crdt_obj_done later, on any thread: a large set's or
 * hash's delete then costs O(1) now (crdt_type_ops.clear_detach). */
int crdt_obj_clear_detach(struct crdt_obj *o, struct crdt_obj *ret_husk);
/** crdt_type_ops.detach_removed of @remote (of @local's type) into
 * @local: what a merge of @remote would remove moved to *@ret_husk
 * (ret_husk->p NULL when nothing moved), when the merge keeps at most
 * @max_kept members.  1, 0 (not done; other types too), -ENOMEM. */
int crdt_obj_detach_removed(struct crdt_obj *local, const struct crdt_obj *remote,
			    size_t max_kept, struct crdt_obj *ret_husk);
/** crdt_type_ops.live (true when the type has none). */
bool crdt_obj_live(const struct crdt_obj *o);
/** Whether the state is a set: a G-Set or an OR-Set. */
bool crdt_obj_is_set(const struct crdt_obj *o);
/** Members of a set (crdt_obj_is_set), 0 for any other state. */
size_t crdt_obj_card(const struct crdt_obj *o);
/** The parts that make a state large: a set's members, a map's fields and
 * baselines (crdt_ormap_parts); 0 for the other types (small whatever
 * they hold). */
size_t crdt_obj_parts(const struct crdt_obj *o);
/** Whether the set holds @e; false for any other state. */
bool crdt_obj_contains(const struct crdt_obj *o, const void *e, size_t len);
/** Each member of a set, in ascending byte order; 0 and no call for any
 * other state.  A non-zero return of @cb stops and is returned. */
int crdt_obj_foreach(const struct crdt_obj *o, crdt_elem_cb cb, void *ctx);
/** Each member of a set in the table's own order (elemtab order,
 * docs/encoding.md): no sort and no allocation, for callers to whom the
 * order does not matter. */
int crdt_obj_each(const struct crdt_obj *o, crdt_elem_cb cb, void *ctx);
/** One step of a scan of a set (crdt_orset_scan); for any other state no
 * call, and *@next 0. */
int crdt_obj_scan(const struct crdt_obj *o, uint64_t cursor, size_t count, crdt_elem_cb cb,
		  void *ctx, uint64_t *next);

#endif
