/* OR-Map: a hash of fields, add-wins, whose values are LWW registers or
 * PN-counters (docs/types.md, "OR-Map").
 *
 * Each field holds one or more entries; an entry is the dot (replica,
 * counter) of the write that made it and the value that write left: a
 * register (HLC stamp, bytes; the writer is the dot's replica) or a
 * PN-counter.  A local write replaces every entry of its field by one new
 * entry (it has observed them); HDEL drops them.  The causal context
 * records every dot the state has seen, so an entry that is missing
 * although its dot is known was removed, and a concurrent write, whose dot
 * the remover never saw, survives (add-wins).  When several entries
 * survive (concurrent writes), the field's value is their join: the
 * greatest register if any entry is a register, else the per-replica
 * maximum of the counters.  A delete joins the counter rows it removes
 * into the field's baseline (kept after the field is gone, merged by
 * maximum); a counter shows per replica only what passed the baseline, so
 * an increment concurrent with a delete keeps only what the delete did not
 * see, and one that follows it starts from 0.
 */
#ifndef CRDT_ORMAP_H
#define CRDT_ORMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/codec.h"
#include "crdt/hlc.h"

struct crdt_ormap; /* opaque */

/** A field's value as read: the register's bytes, or a counter's value
 * written in decimal into @num (the bytes then point there). */
struct crdt_ormap_val {
	bool counter;
	int64_t n;           /* counter: the value (clamped to int64) */
	const uint8_t *p;    /* the bytes: into the map or into num */
	size_t len;
	char num[48];
};

/** Called per field in ascending byte order; a non-zero return stops. */
typedef int (*crdt_ormap_cb)(const uint8_t *f, size_t flen, const struct crdt_ormap_val *v,
			     void *ctx);

struct crdt_ormap *crdt_ormap_new(void);
void crdt_ormap_free(struct crdt_ormap *m);
struct crdt_ormap *crdt_ormap_copy(const struct crdt_ormap *m);

/** HSET: field @f (copied) gets the register value @v (copied), stamped
 * after every register the field holds, as replica @self.  When @delta is
 * not NULL, the change is also joined into it (a small state that merges
 * to the same result: the new entry and the dots it replaced).  0,
 * -ENOMEM, -EOVERFLOW (dot counter exhausted), -EMSGSIZE (field or value
 * past 2^31 bytes); the map is unchanged on error. */
int crdt_ormap_set(struct crdt_ormap *m, struct crdt_hlc *hlc, const struct crdt_rid *self,
		   const void *f, size_t flen, const void *v, size_t vlen,
		   struct crdt_ormap *delta);
/** HINCRBY: add @by (any sign, 0 too) to field @f's counter; a field that
 * holds a register that reads as a Redis integer counts on from it.  The
 * new value in *ret_value.  -EINVAL when the field holds a register that is
 * not an integer, -EOVERFLOW when the value would leave int64; the map is
 * unchanged on error.  @delta as for crdt_ormap_set. */
int crdt_ormap_incr(struct crdt_ormap *m, const struct crdt_rid *self, const void *f,
		    size_t flen, int64_t by, struct crdt_ormap *delta, int64_t *ret_value);
/** HDEL: drop field @f's entries (their dots stay known, their counter
 * rows join the field's baseline).  1 if the field was present, 0 if not,
 * -ENOMEM (the map unchanged). */
int crdt_ormap_del(struct crdt_ormap *m, const void *f, size_t flen, struct crdt_ormap *delta);
/** True and *ret filled when field @f is present; the bytes are valid
 * until the map or @ret changes. */
bool crdt_ormap_get(const struct crdt_ormap *m, const void *f, size_t flen,
		    struct crdt_ormap_val *ret);
/** DEL: drop every field (their dots stay known and their counter rows
 * join the baselines, so a write the map has not seen survives a merge
 * with only what the DEL did not see, and a later write starts afresh).
 * 1 if a field was present, 0 if none, -ENOMEM (the map unchanged). */
int crdt_ormap_clear(struct crdt_ormap *m);
/** crdt_ormap_clear, but the fields go to a new map in *@ret_husk (NULL
 * when there were none, or no memory for it: then they were freed at
 * once), which the caller frees with crdt_ormap_free later, on any thread;
 * the baselines are made as crdt_ormap_clear makes them. */
int crdt_ormap_clear_detach(struct crdt_ormap *m, struct crdt_ormap **ret_husk);
/** Whether merging @remote into @local would leave @local no field:
 * @remote holds none and its context covers @local's. */
bool crdt_ormap_clears(const struct crdt_ormap *local, const struct crdt_ormap *remote);
/** crdt_orset_detach_removed for a map: when @remote holds no field (a
 * DEL's delta) and its merge would remove all but at most @max_kept of
 * @m's fields, the fields it removes move to a new map in *@ret_husk (for
 * crdt_ormap_free, on any thread) and the others (a field with an entry
 * outside @remote's context) are kept with all their entries, which the
 * merge then joins as usual; the baselines stay.  1 if done, 0 if not
 * (nothing changed), -ENOMEM (nothing changed).  A pass over @m's dot
 * index (or its fields without one); the fields kept are copied. */
int crdt_ormap_detach_removed(struct crdt_ormap *m, const struct crdt_ormap *remote,
			      size_t max_kept, struct crdt_ormap **ret_husk);
/** Whether a field is present (an empty map is no key). */
bool crdt_ormap_live(const struct crdt_ormap *m);
/** Size the tables once for a map filled piece by piece (a catch-up):
 * about to merge a piece of @fields fields and @bases baselines, from a
 * sender whose map has @total parts (crdt_ormap_parts: fields and
 * baselines).  Each table the piece brings parts to is sized toward
 * @total as a set's element table is (et_reserve_announced: believed up to
 * ET_ANNOUNCED_FACTOR times what it holds and takes, made ready ahead
 * where it is large).  Fields so are not placed again at each growth (a
 * map of 1,000,000: 9.9 ms of one call), and baselines, which come after
 * the fields in table (hash) order, do not pile into the low part of a
 * table grown a few at a time for them, one run that every insert probes
 * to its end (200,000 of them: 0.4 s).  A map of many fields and few
 * baselines believes @total for its fields only.  0, or -ENOMEM (the
 * tables unchanged: the merge grows them as usual). */
int crdt_ormap_reserve_for(struct crdt_ormap *m, size_t fields, size_t bases, uint64_t total);
/** Room for @n more fields at once, before a write of that many (a HSET
 * of many fields, and its delta): one growth of the field table instead
 * of one each time it fills, every field placed again each time.  0, or
 * -ENOMEM (the table unchanged: the sets grow it as usual). */
int crdt_ormap_reserve(struct crdt_ormap *m, size_t n);
/** Baselines held (crdt_ormap_parts less crdt_ormap_len). */
size_t crdt_ormap_bases(const struct crdt_ormap *m);
/** Number of present fields. */
size_t crdt_ormap_len(const struct crdt_ormap *m);
/** The parts its encoding holds: its fields and the baselines deletes of
 * counter fields left (crdt_obj_parts). */
size_t crdt_ormap_parts(const struct crdt_ormap *m);
/** The causal context's intervals, over every replica: what a merge of a
 * write's delta into @m moves at most (crdt_orset_context_len). */
size_t crdt_ormap_context_len(const struct crdt_ormap *m);
/** Each present field and its value, ascending by field bytes.  -ENOMEM. */
int crdt_ormap_foreach(const struct crdt_ormap *m, crdt_ormap_cb cb, void *ctx);
/** One step of a scan (HSCAN): the present fields among about @count from
 * @cursor on, in the table's order; *@next as crdt_orset_scan's.  A scan
 * from cursor 0 to 0 visits every field present throughout exactly once. */
int crdt_ormap_scan(const struct crdt_ormap *m, uint64_t cursor, size_t count, crdt_ormap_cb cb,
		    void *ctx, uint64_t *next);

/** dst ⊔= src.  On -ENOMEM dst is unchanged (it may know more replica ids,
 * which are not part of the state). */
int crdt_ormap_merge(struct crdt_ormap *dst, const struct crdt_ormap *src);
bool crdt_ormap_equal(const struct crdt_ormap *a, const struct crdt_ormap *b);
/** See crdt_type_ops.fingerprint. */
uint64_t crdt_ormap_fingerprint(const struct crdt_ormap *m);
/** See crdt_type_ops.knows_more_of: @remote's context reaches past
 * @local's (NULL: empty) for @rid. */
bool crdt_ormap_knows_more_of(const struct crdt_ormap *remote, const struct crdt_ormap *local,
			      const struct crdt_rid *rid);
/** Canonical encoding (docs/encoding.md): equal states, equal bytes. */
int crdt_ormap_encode(const struct crdt_ormap *m, struct crdt_buf *b);
/** -EBADMSG / -EPROTO for any input that is not a canonical encoding. */
int crdt_ormap_decode(const uint8_t *buf, size_t len, struct crdt_ormap **ret);
/** Pieces of at most @max bytes: groups of fields with a context of
 * exactly their entries' dots, then the rest of the context (dots of
 * removed entries) in pieces without fields, so that no piece removes
 * an entry another piece carries.  A field too large for any piece is
 * left out, its dots in no piece; the return counts those (codec.h). */
int crdt_ormap_split(const struct crdt_ormap *m, size_t max, crdt_piece_cb cb, void *ctx);
/** Pieces a few at a time from @cur (codec.h; start from
 * CRDT_CURSOR_INIT), as crdt_orset_pieces cuts an OR-Set: each covers the
 * dots from the cursor on, in (replica id, counter) order, as far as it
 * has room: the context clipped to them and the live entries whose dots
 * they are, each in its field; then the baselines, in table order.  About
 * @n pieces a call; the map may change between calls (docs/encoding.md
 * says why that is sound).  A map of up to 1,024 parts (crdt_ormap_parts)
 * goes as the whole split in the first call; a larger one gets its dot
 * index first.  A piece of entries (not the whole split's, not one of
 * baselines) has a summary of its live dots in @cur during its callback
 * (has_sum, sum_dots, sum_hash), for crdt_ormap_piece_is_news.  0, or an
 * error as crdt_ormap_split's. */
int crdt_ormap_pieces(struct crdt_ormap *m, struct crdt_cursor *cur, size_t max, size_t n,
		      crdt_piece_cb cb, void *ctx);
/** Whether merging @enc (a piece crdt_ormap_pieces cut, whose summary
 * counts @dots live dots of sum hash @hash) into @m could change @m, as
 * crdt_orset_piece_is_news for an OR-Set: 0, "no news", when every dot of
 * the piece's context is in @m's and @m's live entries' dots inside that
 * context are exactly @dots of sum @hash; 1 otherwise, also for an
 * encoding that does not parse, an index that cannot be built, or a
 * context that would take more than 4 probes of @m's dot index a live dot
 * (plus 256) to sum.  Reads the context only, never the fields; builds
 * @m's dot index if it is not built.  Ownership: nothing taken. */
int crdt_ormap_piece_is_news(struct crdt_ormap *m, const uint8_t *enc, size_t len,
			     uint64_t dots, uint64_t hash);

#endif
