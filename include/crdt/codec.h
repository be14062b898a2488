/* What every state encoding shares: the header, the replica table, and the
 * callback through which a state is cut into pieces that fit a datagram.
 *
 * Every encoding starts with two bytes, the type tag and the format version
 * (docs/encoding.md).  Every piece a split emits is itself a complete,
 * independently decodable and mergeable state; merging all pieces of a state
 * into an empty one gives the state back, and merging any subset of them is
 * still correct (it only knows less).
 */
#ifndef CRDT_CODEC_H
#define CRDT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "crdt/buf.h"
#include "crdt/rid.h"

enum crdt_type {
	CRDT_GCOUNTER = 1,
	CRDT_PNCOUNTER = 2,
	CRDT_GSET = 3,
	CRDT_ORSET = 4,
	CRDT_LWWREG = 5,
	CRDT_ORMAP = 6,
};
#define CRDT_TYPE_MIN CRDT_GCOUNTER
#define CRDT_TYPE_MAX CRDT_ORMAP

#define CRDT_FORMAT_VERSION 1

/** Called once a piece with its encoding; return 0, or a negative error,
 * which stops the split and is returned by it.
 *
 * A split (crdt_*_split, crdt_obj_split) returns 0 when every piece went
 * out, a positive count when that many set elements were left out because
 * alone they do not fit @max (each remaining piece still sound: a skipped
 * OR-Set dot lies outside every piece's context, so no piece removes it),
 * or a negative error: -EMSGSIZE when @max cannot hold what may not be left
 * out (a register, one counter entry, a set's header). */
typedef int (*crdt_piece_cb)(const uint8_t *piece, size_t len, void *ctx);

/** Where a split cut one piece at a time (crdt_obj_pieces) goes on: the
 * pieces cut so far covered every dot below (rid, ctr) in (replica id,
 * counter) order, so the next piece starts there.  Start from all zeros
 * (CRDT_CURSOR_INIT); the state may change between two calls. */
struct crdt_cursor {
	struct crdt_rid rid;
	uint64_t ctr;
	uint64_t pieces;  /* emitted so far */
	uint64_t skipped; /* elements left out so far, as a split's return */
	int done;         /* nonzero once the last piece went */
	/* A cut in elemtab order (an OR-Map's baselines once its dots are
	 * done; a G-Set's elements after its first piece), bases set, goes
	 * on from the first of hash bhash, less the first bskip of that
	 * hash, already sent (elemtab order is by hash, then key).  rid and
	 * ctr do not move there: they do not say where such a cursor is. */
	int bases;
	uint32_t bhash, bskip;
	/* A G-Set's cut visits its hash space in 2^bbits blocks, bblock of
	 * them done (gset.c). */
	uint32_t bblock, bbits;
	/* The summary of the piece being emitted, valid only during its
	 * callback: has_sum is nonzero when the cut gave one (an OR-Set piece
	 * cut through its dot index), sum_dots its live dots and sum_hash
	 * their sum hash, what crdt_orset_piece_is_news compares. */
	int has_sum;
	uint64_t sum_dots, sum_hash;
};
#define CRDT_CURSOR_INIT ((struct crdt_cursor){ 0 })

/** "gcounter", "pncounter", "gset", "orset", "lwwreg", "ormap"; NULL if unknown. */
const char *crdt_type_name(enum crdt_type t);
/** Inverse of crdt_type_name; -EINVAL if unknown. */
int crdt_type_parse(const char *name, enum crdt_type *ret);

/** Write tag and version. */
int crdt_codec_put_header(struct crdt_buf *b, enum crdt_type t);
/** Read and check tag and version: -EPROTO for another type or version,
 * -EBADMSG when truncated. */
int crdt_codec_get_header(struct crdt_cur *c, enum crdt_type t);

/** Replica table: varint count then 16 bytes each, strictly ascending. */
int crdt_codec_put_rids(struct crdt_buf *b, const struct crdt_rid *rids, size_t n);
/** Points *ret into the input (no copy): the ids are read with memcpy.
 * -EBADMSG when truncated, unsorted or duplicated. */
int crdt_codec_get_rids(struct crdt_cur *c, const uint8_t **ret, size_t *ret_n);

#endif
