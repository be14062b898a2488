/* The OR-Set's private header: the layout of a set and the small helpers
 * that every part of it uses in its inner loops (internal to libcrdt).
 *
 * Memory layout, chosen so an element with one dot costs one 32-byte table
 * slot: the slot's 64-bit payload holds that dot inline (16-bit replica
 * index, 47-bit counter).  Elements with several dots (concurrent adds), or
 * a dot that does not fit, keep a sorted run in a per-set dot pool and the
 * payload holds the run's offset and length.  Runs freed by later writes are
 * counted and reclaimed by compaction, so merge never mallocs per element.
 *
 * Replicas are numbered in arrival order and never renumbered, so a new
 * replica costs nothing per element; the encoder maps them to the sorted
 * order the wire wants.
 *
 * The parts: dots.c (the dot pool), context.c (the causal context),
 * index.c (the dot index), orset.c (lifecycle, local operations, queries),
 * merge.c, codec.c, split.c, news.c (whether a piece brings anything).
 * The JSON view, in libcrdt_json, reads it
 * from src/crdt/json.c.
 */
#ifndef CRDT_ORSET_INTERNAL_H
#define CRDT_ORSET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/orset.h"
#include "../elemtab.h"
#include "../fp.h"
#include "../ivl.h"

#define PAY_SPILL (1ULL << 63)
#define IN_CTR_BITS 47
#define IN_CTR_MAX ((1ULL << IN_CTR_BITS) - 1)
#define PAY_NONE 0 /* counter 0 is never a dot: "dots pending" during merge */
#define MAX_REPLICAS 0xffffu
#define NONE UINT32_MAX

struct dot {
	uint64_t ctr;
	uint32_t ri;
	uint32_t pad;
};

#define IX_SHIFT 8
#define IX_SPAN (1u << IX_SHIFT) /* counters per leaf */
#define IX_WORDS (IX_SPAN / 64)

struct ixleaf {
	uint64_t base; /* counter >> IX_SHIFT */
	uint64_t bits[IX_WORDS];
	uint32_t n, cap;
	uint32_t h[]; /* element hashes, in counter order */
};

struct ixdir {
	struct ixleaf **v; /* sorted by base */
	uint32_t n, cap;
};

struct rep {
	struct crdt_rid rid;
	struct ivl *iv; /* sorted, disjoint, non-adjacent, never empty */
	uint32_t n, cap;
	struct ixdir ix; /* zeroed in every reps[] entry past nreps too */
};

struct crdt_orset {
	struct elemtab tab;
	struct rep *reps; /* arrival order; dots refer to the index */
	uint32_t *order;  /* indices of reps sorted by rid */
	uint32_t nreps, capreps;
	struct dot *pool;
	size_t plen, pcap, pfree; /* pfree: dots in dead runs */
	bool pmapped;             /* pool from et_mem_alloc()'s mapping */
	bool ix_ok;               /* the dot index matches the table */
	/* The index is being built a slice at a time (ix_build_some): it
	 * holds every dot of the elements whose hash is below ix_next, and
	 * follows every change meanwhile. */
	bool ix_part;
	uint64_t ix_next;
	/* The element-dot part of the fingerprint (fp.h), a sum, kept up to
	 * date while fp_ok by add, remove and clear, and by merges, which
	 * count each (element, dot) pair they add or drop (merge_small and
	 * the bulk join alike); a decode leaves fp_ok clear and the next
	 * crdt_orset_fingerprint computes it again (a pass over every
	 * element), so that a set taking local writes or merges is
	 * fingerprinted at the cost of its context, not of its size. */
	uint64_t fp_dots;
	bool fp_ok;
};

/* Not exported from the shared library: these names are libcrdt's own. */
#pragma GCC visibility push(hidden)

/* ---- dots and the pool (dots.c) ---- */

static inline bool pay_spilled(uint64_t p)
{
	return p & PAY_SPILL;
}

static inline bool dot_inlinable(uint32_t ri, uint64_t ctr)
{
	return ri <= MAX_REPLICAS && ctr <= IN_CTR_MAX;
}

static inline uint64_t pay_inline(uint32_t ri, uint64_t ctr)
{
	return (uint64_t)ri << IN_CTR_BITS | ctr;
}

/* The dots of an element as a sorted array; *tmp holds an inline one. */
static inline size_t get_dots(const struct crdt_orset *s, uint64_t pay, struct dot *tmp,
			      const struct dot **ret)
{
	if (pay_spilled(pay)) {
		*ret = s->pool + (uint32_t)pay;
		return (size_t)(pay >> 32) & 0x7fffffff;
	}
	if (pay == PAY_NONE) {
		*ret = tmp;
		return 0;
	}
	tmp->ctr = pay & IN_CTR_MAX;
	tmp->ri = (uint32_t)(pay >> IN_CTR_BITS);
	*ret = tmp;
	return 1;
}

static inline void release_dots(struct crdt_orset *s, struct et_slot *e)
{
	if (pay_spilled(e->pay))
		s->pfree += (size_t)(e->pay >> 32) & 0x7fffffff;
	e->pay = PAY_NONE;
}

static inline int dot_cmp(uint32_t ari, uint64_t actr, uint32_t bri, uint64_t bctr)
{
	if (ari != bri)
		return ari < bri ? -1 : 1;
	return actr < bctr ? -1 : actr > bctr;
}

static inline bool dots_have(const struct dot *d, size_t n, uint32_t ri, uint64_t ctr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = dot_cmp(d[mid].ri, d[mid].ctr, ri, ctr);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

int dot_qcmp(const void *x, const void *y);

static inline void sort_dots(struct dot *d, size_t n)
{
	if (n > 16) {
		qsort(d, n, sizeof(*d), dot_qcmp);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		struct dot t = d[i];
		size_t j = i;
		while (j > 0 && dot_cmp(d[j - 1].ri, d[j - 1].ctr, t.ri, t.ctr) > 0) {
			d[j] = d[j - 1];
			j--;
		}
		d[j] = t;
	}
}

int pool_reserve(struct crdt_orset *s, size_t n);
/* The join of a small @src (a delta: a few elements, a few dots of
 * context) into @dst, in place (delta.c): 0, -errno with @dst unchanged,
 * or 1 when @src is not small and merge.c must join it. */
int orset_merge_few(struct crdt_orset *dst, const struct crdt_orset *src);
/* Free the pool (not its counts). */
void pool_free(struct crdt_orset *s);
/* Store @n sorted dots for @e; room in the pool must be reserved. */
static inline void set_dots(struct crdt_orset *s, struct et_slot *e, const struct dot *d, size_t n)
{
	release_dots(s, e);
	if (n == 1 && dot_inlinable(d[0].ri, d[0].ctr)) {
		e->pay = pay_inline(d[0].ri, d[0].ctr);
	} else if (n > 0) {
		if (d != s->pool + s->plen) /* else merge built it in place */
			memmove(s->pool + s->plen, d, n * sizeof(*d));
		e->pay = PAY_SPILL | (uint64_t)n << 32 | s->plen;
		s->plen += n;
	}
}

/* Dead runs are reclaimed once they are most of the pool.  Best effort: if
 * the new pool cannot be had, the old one simply stays. */
void pool_compact(struct crdt_orset *s);

/* ---- causal context (context.c) ---- */

static inline bool ivs_have(const struct ivl *iv, size_t n, uint64_t c)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c < iv[mid].lo)
			hi = mid;
		else if (c > iv[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static inline bool ctx_has(const struct crdt_orset *s, uint32_t ri, uint64_t c)
{
	return ri < s->nreps && ivs_have(s->reps[ri].iv, s->reps[ri].n, c);
}

uint32_t find_rep(const struct crdt_orset *s, const struct crdt_rid *rid);
int reps_reserve(struct crdt_orset *s, size_t n);
/* Append a replica whose interval array is @iv (taken); room reserved. */
uint32_t rep_append(struct crdt_orset *s, const struct crdt_rid *rid, struct ivl *iv,
		    uint32_t n);
/* A copy of @v[@n] (a list of its own, at least one interval's room), or
 * NULL without memory. */
struct ivl *ivs_dup(const struct ivl *v, uint32_t n);
/* First interval of @a[@n] that is not wholly before @lo - 1 (so it
 * overlaps or touches [lo, ...]); lo >= 1. */
uint32_t ivs_from(const struct ivl *a, uint32_t n, uint64_t lo);
/* Every dot of @a's context is in @b's. */
bool ctx_within(const struct crdt_orset *a, const struct crdt_orset *b);
/* Room for @extra more intervals in @a's list. */
int ivs_reserve(struct rep *a, uint32_t extra);

/* ---- dot index (index.c) ---- */

/* Free every leaf; the index is unbuilt until ix_build(). */
void ix_drop(struct crdt_orset *s);
/* Build the index from the table.  -ENOMEM, or -EBADMSG if two elements
 * share a dot; the index stays unbuilt on failure. */
int ix_build(struct crdt_orset *s);
/* Build a slice of the index: the elements whose hash is in the next
 * range, about IX_SLICE slots of the table.  1 once the index is built, 0
 * while it is not yet, -ENOMEM or -EBADMSG (two elements share a dot) with
 * the index dropped.  The set may change between two calls. */
int ix_build_some(struct crdt_orset *s);
/* The index follows every change of the table's dots while it is built
 * (or being built); if it cannot, it is dropped (the set itself is
 * unaffected). */
void ix_add(struct crdt_orset *s, uint32_t ri, uint64_t ctr, uint32_t h);
/* Up to this many elements, a set with no dot index is cut whole (a
 * fraction of a millisecond) rather than given one (4.25 bytes a dot);
 * local adds that grow a set past it build its index (crdt_orset_add). */
#define PIECES_UNINDEXED 1024

/* One dot for ix_add_all(). */
struct ixent {
	uint64_t ctr;
	uint32_t ri, h;
};
/* ix_add() of each of @v[0..n), which it sorts (by dot, so that each
 * lands after its leaf's others and costs no move). */
void ix_add_all(struct crdt_orset *s, struct ixent *v, size_t n);
void ix_del(struct crdt_orset *s, uint32_t ri, uint64_t ctr);
void ix_del_dots(struct crdt_orset *s, const struct et_slot *e);
/* The slot of the element hashed @h that holds dot (@ri, @ctr), or NULL. */
struct et_slot *slot_of_dot(const struct crdt_orset *s, uint32_t h, uint32_t ri, uint64_t ctr);
/* The same, slot @at tried first: where it was found before an insert or a
 * removal that may have moved it. */
struct et_slot *slot_of_dot_at(const struct crdt_orset *s, uint32_t at, uint32_t h, uint32_t ri,
			       uint64_t ctr);
/* Calls @cb for each indexed dot of replica @ri in [@lo, @hi], in counter
 * order; stops at the first nonzero return.  The index must not change
 * meanwhile. */
typedef int (*ix_cb)(uint64_t ctr, uint32_t h, void *ctx);
int ix_range(const struct crdt_orset *s, uint32_t ri, uint64_t lo, uint64_t hi, ix_cb cb,
	     void *ctx);
/* The indexed dots of replica @ri in [@lo, @hi], counted into *@n and
 * summed into *@sum by piece_dot_hash under the replica's fp_rid @rh,
 * without touching their elements (news.c). */
void ix_sum(const struct crdt_orset *s, uint32_t ri, uint64_t lo, uint64_t hi, uint64_t rh,
	    uint64_t *n, uint64_t *sum);

/* ---- wire (codec.c) ---- */

/* A dot's counter goes on the wire as the difference from the previous
 * counter of the same replica in the element list (0 before the first),
 * taken mod 2^64 as a signed number and zigzagged: 0, -1, 1, -2 -> 0, 1, 2,
 * 3.  Elements are in elemtab order, not the order of the adds, so a
 * replica's counters come shuffled: two or three bytes a counter. */
static inline uint64_t ctr_zz(uint64_t ctr, uint64_t last)
{
	uint64_t d = ctr - last;
	return d << 1 ^ (0 - (d >> 63));
}

static inline uint64_t ctr_unzz(uint64_t z, uint64_t last)
{
	return last + ((z >> 1) ^ (0 - (z & 1)));
}

/* Upper bound on the varint of ctr_zz() between two counters <= @hi. */
static inline size_t ctr_zz_max_len(uint64_t hi)
{
	return hi >> 62 ? 10 : crdt_varint_len(hi << 1);
}

/* One element: its bytes, then per dot (sorted, wire indices) the varint
 * 2 * replica + (1 if another dot follows) and the zigzagged counter
 * difference.  @last holds each replica's previous counter. */
void put_elem(struct crdt_buf *b, const uint8_t *e, size_t len, const struct dot *d, size_t n,
	      uint64_t *last);

#pragma GCC visibility pop

#endif
