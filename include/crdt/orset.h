/* OR-Set, add-wins, without tombstones (ORSWOT).
 *
 * Each present element carries the dots (replica, counter) of the adds that
 * put it there; the causal context records every dot the state has seen.  A
 * remove just drops the element: its dots stay in the context, which tells
 * other replicas the element was removed, so nothing is kept per removed
 * element.  A concurrent add has a dot the remover never saw, so it wins.
 *
 * The context is a set of counter intervals per replica, not just a version
 * vector: a piece of a split state covers only some dot ranges, and the
 * receiver must remember exactly those until the gaps fill.
 */
#ifndef CRDT_ORSET_H
#define CRDT_ORSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/codec.h"
#include "crdt/gset.h" /* crdt_elem_cb */
#include "crdt/vv.h"

struct crdt_orset; /* opaque */

struct crdt_orset *crdt_orset_new(void);
void crdt_orset_free(struct crdt_orset *s);
/** Add a copy of @e as replica @self with a fresh dot, replacing the dots it
 * had (they are observed).  0 or -ENOMEM (state unchanged). */
int crdt_orset_add(struct crdt_orset *s, const struct crdt_rid *self, const void *e, size_t len);
/** Remove @e: 1 if it was present, 0 if not. */
int crdt_orset_remove(struct crdt_orset *s, const void *e, size_t len);
/** Observed-remove delete: remove every element; their dots stay in the
 * context, so a merge removes them wherever they are, and an add this state
 * has not seen survives.  1 if the set held elements, else 0. */
int crdt_orset_clear(struct crdt_orset *s);
/** crdt_orset_clear, but the elements go to a new set in *@ret_husk (NULL
 * when there were none, or no memory for it: then they were freed at
 * once), which the caller frees with crdt_orset_free later, on any thread:
 * clearing a large set then costs O(1) now. */
int crdt_orset_clear_detach(struct crdt_orset *s, struct crdt_orset **ret_husk);
/** Before a merge of @remote into @s, when @remote holds no element (a
 * delete's delta) and that merge would remove all but at most @max_kept of
 * @s's elements: move the elements it removes to a new set in *@ret_husk,
 * as crdt_orset_clear_detach does, and keep the others (those with a dot
 * outside @remote's context) with all their dots, which the merge then
 * joins as usual.  The merge's result is the same; it no longer removes
 * the elements one by one.  1 if done (*@ret_husk for the caller to free
 * with crdt_orset_free, on any thread), 0 if not applicable (nothing
 * changed), -ENOMEM (nothing changed).  O(the dots outside @remote's
 * context, and the gaps between its intervals) with @s's dot index, else
 * a pass over @s's elements; the elements kept are copied. */
int crdt_orset_detach_removed(struct crdt_orset *s, const struct crdt_orset *remote,
			      size_t max_kept, struct crdt_orset **ret_husk);
/** Whether merging @remote into @local would leave @local no element:
 * @remote holds none and its context covers @local's (a DEL's delta from
 * a replica @local is in sync with).  O(@local's context intervals). */
bool crdt_orset_clears(const struct crdt_orset *local, const struct crdt_orset *remote);
/** Whether the set holds an element (card > 0). */
bool crdt_orset_live(const struct crdt_orset *s);
/* Delta mutators (Almeida, Shoker, Baquero, "Delta state replicated data
 * types", 2018): the operation on @s, and what it changed joined into
 * @delta as a small state that any replica merges with crdt_orset_merge.
 * An add's delta is the element under its new dot, with a context of that
 * dot and the dots the element had (which the add replaced); a remove's is
 * no element and a context of exactly the dots it removed.  Neither claims
 * any other dot, so a delta merged late, twice, or before an older one
 * removes nothing it did not see.  Returns as crdt_orset_add / _remove,
 * except: 1 (add) or 2 (remove of a present element) when @s changed but
 * @delta could not take it (no memory): @delta then misses this write. */
int crdt_orset_add_delta(struct crdt_orset *s, const struct crdt_rid *self, const void *e,
			 size_t len, struct crdt_orset *delta);
int crdt_orset_remove_delta(struct crdt_orset *s, const void *e, size_t len,
			    struct crdt_orset *delta);
/** The add of @e that was made under the dot (@rid, @ctr), again: what
 * merging its delta (crdt_orset_add_delta's, the element under that dot,
 * with a context of it and the dots @e holds now) does; nothing if @s has
 * seen that dot already.  For a replay of adds in the order they were
 * made, where the state may lack dots made before (a stored state read
 * back a piece at a time).  0, CRDT_EINVAL (@ctr 0), CRDT_EMSGSIZE,
 * CRDT_ENOMEM. */
int crdt_orset_add_at(struct crdt_orset *s, const struct crdt_rid *rid, uint64_t ctr,
		      const void *e, size_t len);
bool crdt_orset_contains(const struct crdt_orset *s, const void *e, size_t len);
size_t crdt_orset_card(const struct crdt_orset *s);
/** Size the element table for a state filled piece by piece (a
 * catch-up): about to merge a state of @incoming elements, from a sender
 * that says the whole holds @total.  A count of at most 32 times what the
 * set holds and receives now, plus 65,536, is believed (a count that lies
 * costs that at most; a larger one is not, and the merge grows the table
 * as usual until it is): the table then holds @total without growing
 * again, instead of growing by a half or a third at a time, each growth a
 * new table faulted in and every element placed again.  A table of 2 MiB
 * and more is made ready a huge page a call, on the way, and the elements
 * move into it once it is (et_reserve_toward(): no call faults it whole).
 * Nothing else changes.  0, or -ENOMEM / -EMSGSIZE (the table unchanged:
 * the merge grows it as usual). */
int crdt_orset_reserve_for(struct crdt_orset *s, size_t incoming, uint64_t total);
/** How many elements the set's table holds without growing. */
size_t crdt_orset_room(const struct crdt_orset *s);
/** Present elements in ascending byte order (shorter prefix first). */
int crdt_orset_foreach(const struct crdt_orset *s, crdt_elem_cb cb, void *ctx);
/** Present elements in elemtab order (docs/encoding.md): no sort. */
int crdt_orset_each(const struct crdt_orset *s, crdt_elem_cb cb, void *ctx);
/** One step of a scan (SSCAN): about @count members (every member of the
 * last one's hash) from @cursor on, in the table's order, to @cb; *@next
 * the cursor of the next step, 0 when this one reached the end.  A scan
 * from cursor 0 to 0 visits every member held throughout it exactly once,
 * whatever was added, removed or merged between its steps. */
int crdt_orset_scan(const struct crdt_orset *s, uint64_t cursor, size_t count, crdt_elem_cb cb,
		void *ctx, uint64_t *next);
/** dst ⊔= src.  On -ENOMEM dst is unchanged. */
int crdt_orset_merge(struct crdt_orset *dst, const struct crdt_orset *src);
bool crdt_orset_equal(const struct crdt_orset *a, const struct crdt_orset *b);
/** A 64-bit fingerprint of the state, never 0: equal states (crdt_orset_equal)
 * have equal fingerprints however they were reached; different states
 * differ but with probability about 2^-64.  A pass over the state. */
uint64_t crdt_orset_fingerprint(const struct crdt_orset *s);
struct crdt_orset *crdt_orset_copy(const struct crdt_orset *s);
/** Elements go out in elemtab order, the table's own (docs/encoding.md):
 * one pass over the table, no sort, nothing written to the set.  The
 * fingerprint's cache is the only write a const call makes
 * (crdt_orset_fingerprint), so two threads may encode one set at once
 * while nothing changes it. */
int crdt_orset_encode(const struct crdt_orset *s, struct crdt_buf *b);
int crdt_orset_decode(const uint8_t *buf, size_t len, struct crdt_orset **ret);
/** Cut into pieces of at most @max bytes, each covering some dot ranges with
 * exactly the live (element, dot) pairs in them (docs/encoding.md).  A pair
 * too large for any piece is left out, its dot outside every range; the
 * return counts those (codec.h). */
int crdt_orset_split(const struct crdt_orset *s, size_t max, crdt_piece_cb cb, void *ctx);
/** The split one piece at a time: up to @n pieces (of at most @max bytes)
 * from @cur on, through @cb, @cur moved past them; cur->done once the last
 * went.  Each piece is the state, as it is at this call, clipped to a range
 * of (replica id, counter) dots, and the ranges of one cursor's pieces tile
 * the whole dot space, so the set may change between calls
 * (docs/encoding.md, "Split one piece at a time").  Costs the pieces' size
 * (their elements sorted, a few hundred), never the set's, once the dot
 * index is built.  A set of more than 1,024 elements whose index is not
 * built gets it a slice per call first (about 2,048 table slots a call,
 * the set may change between them): such a call cuts nothing and returns
 * 1; a smaller one goes as the whole split at once.  A set that fits one
 * piece goes as exactly its encoding.  A pair too large for any piece is
 * left out, its dot outside every range, and counted in cur->skipped.  0,
 * 1 (only the index grew: call again), -EMSGSIZE when @max cannot hold one
 * interval, or -ENOMEM, or @cb's negative return (the cursor then stays
 * before the piece that failed). */
int crdt_orset_pieces(struct crdt_orset *s, struct crdt_cursor *cur, size_t max, size_t n,
		      crdt_piece_cb cb, void *ctx);
/** Whether merging the piece @enc (@len bytes, an OR-Set encoding cut by
 * crdt_orset_pieces, whose cursor gave its summary: @dots live dots of sum
 * hash @hash) into @s could change @s.  0, "no news", when every dot of
 * the piece's context is in @s's and @s's live dots inside that context
 * are exactly @dots of sum @hash: then the merge changes nothing (64-bit
 * sum: a collision, by chance or forged by the sender, leaves the piece
 * unmerged).  1 otherwise, also for an encoding that does not parse (the
 * merge reports it) or an index that cannot be built.  Reads the context
 * only, never the elements; builds @s's dot index if it is not built (as
 * a merge of a piece would).  Ownership: nothing taken. */
int crdt_orset_piece_is_news(struct crdt_orset *s, const uint8_t *enc, size_t len,
			     uint64_t dots, uint64_t hash);
/** Highest contiguous counter seen per replica (the context as a version
 * vector, gaps left out), into a fresh @ret. */
int crdt_orset_context_vv(const struct crdt_orset *s, struct crdt_vv *ret);
/** The highest counter of @rid that the causal context covers, 0 for none. */
uint64_t crdt_orset_context_max(const struct crdt_orset *s, const struct crdt_rid *rid);
/** The causal context's intervals, over every replica: what a join into
 * @s (crdt_orset_add_delta, _remove_delta) moves at most, as each one
 * lands in order among them.  O(replicas). */
size_t crdt_orset_context_len(const struct crdt_orset *s);
/** Whether @remote holds writes of replica @rid that @local (NULL: an
 * empty state) lacks: see crdt_type_ops.knows_more_of. */
bool crdt_orset_knows_more_of(const struct crdt_orset *remote, const struct crdt_orset *local,
			      const struct crdt_rid *rid);

#endif
