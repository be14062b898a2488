/* elemtab: the element table behind the G-Set and the OR-Set (internal).
 *
 * A hash table keyed by binary-safe byte strings: open addressing, linear
 * probing, backward-shift deletion (so no tombstones pile up), capacities
 * 2^k and 3 * 2^(k-1) in turn (the home slot is the hash scaled to the
 * capacity), load at most 13/16.  Each slot is 32 bytes:
 * the key's hash and length, the key itself when it fits in 16 bytes (else
 * a pointer to a heap copy the table owns) and a 64-bit payload the owner
 * interprets.  With short keys that is the whole memory cost of an element,
 * with the key-order array: 4 bytes for each element the table can hold
 * (13/16 of its slots), see et_order().
 *
 * Slot pointers stay valid until the next insert, remove or reserve.
 *
 * Tables of 2 MiB and more are mapped directly (Linux: anonymous mmap,
 * 2 MiB aligned, MADV_HUGEPAGE), so a large table is faulted in a few huge
 * pages, already zeroed, instead of thousands of 4 KiB ones; elsewhere, or
 * if that fails, calloc.
 */
#ifndef CRDT_ELEMTAB_H
#define CRDT_ELEMTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "crdt/gset.h" /* crdt_elem_cb */

#define ET_INLINE 16
#define ET_MAX_LEN 0x7fffffffu /* the length shares a word with a flag */

struct et_slot {
	uint32_t hash;
	uint32_t meta; /* 0: empty; else ET_USED | length */
	union {
		uint8_t in[ET_INLINE];
		uint8_t *ptr;
	} k;
	uint64_t pay; /* owner's payload */
};

#define ET_USED 0x80000000u

struct elemtab {
	struct et_slot *s;
	uint32_t cap; /* slots; 0 when s == NULL */
	uint32_t count;
	bool mapped; /* s came from et_map(), not calloc */
	/* A cache, not part of the value: the used slots' indices in key
	 * order, valid while ord_ok.  Valid for the empty table, kept through
	 * inserts in ascending key order, growth, removes (rlog below),
	 * et_sweep_zero() and et_order_runs(); any other insert or et_put()
	 * only clears ord_ok (the array stays), and the next et_order()
	 * sorts.  With
	 * ord_mid nonzero the array holds two runs, [0, ord_mid) and
	 * [ord_mid, count), each in key order (as a merge leaves them), which
	 * et_order() merges in one linear pass.  A heap table's array is in
	 * the table's block (ord_own false), a mapped one's apart. */
	bool ord_ok;
	bool ord_own; /* ord malloc'd apart, else in the table's block */
	uint32_t ord_mid;
	uint32_t *ord;
	size_t ordcap;
	/* Removes the order has not followed yet: per remove, (slot, ~0u)
	 * and (from, to) for each entry its backward shift moved, replayed
	 * by the next et_order(), growth or merge (O(n) once, no sort); the
	 * array then holds count + rlog_gone entries.  An insert meanwhile,
	 * or more than count / 2 + 64 events, drops the order instead. */
	uint32_t (*rlog)[2];
	uint32_t rlog_n, rlog_cap, rlog_gone;
};

static inline bool et_used(const struct et_slot *s)
{
	return s->meta != 0;
}

static inline size_t et_len(const struct et_slot *s)
{
	return s->meta & ~ET_USED;
}

static inline const uint8_t *et_key(const struct et_slot *s)
{
	return et_len(s) <= ET_INLINE ? s->k.in : s->k.ptr;
}

static inline size_t et_cap(const struct elemtab *t)
{
	return t->s ? t->cap : 0;
}

/* A hash's home slot: the hash scaled to the capacity (a multiply, not a
 * mask, since capacities go up by 1.5 and 2 in turn, not only powers of
 * two, to waste less room). */
static inline uint32_t et_home(const struct elemtab *t, uint32_t hash)
{
	return (uint32_t)(((uint64_t)hash * t->cap) >> 32);
}

/* The slot after @i, wrapping round. */
static inline uint32_t et_next(const struct elemtab *t, uint32_t i)
{
	return i + 1 == t->cap ? 0 : i + 1;
}

/* Start loading the home slot of @hash, to be probed a little later. */
static inline void et_prefetch(const struct elemtab *t, uint32_t hash)
{
	if (t->s)
		__builtin_prefetch(&t->s[et_home(t, hash)]);
}

/* Tables (and the OR-Set's dot pool) from this size on are mapped on
 * their own in huge pages: on a VM a 4 KiB page fault can cost 10 µs, so
 * faulting 8 MiB of fresh table slot by slot would cost more than filling
 * it, and a table read in key order (at random) misses the TLB less. */
#define ET_HUGE ((size_t)2 << 20)
/** Zeroed memory of @sz bytes, NULL without: mapped in huge pages, 2 MiB
 * aligned, for a multiple of ET_HUGE (Linux), else calloc'd; *@ret_mapped
 * says which, for et_mem_free(). */
void *et_mem_alloc(size_t sz, bool *ret_mapped);
void et_mem_free(void *p, size_t sz, bool mapped);

void et_init(struct elemtab *t);
void et_done(struct elemtab *t);
uint32_t et_hash(const void *key, size_t len);

/* et_hash()'s finaliser and multiplier, for et_hash_short(). */
static inline uint64_t et_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
#define ET_HASH_MUL 0x9e3779b97f4a7c15ULL

/** et_hash() of a key of @len <= ET_INLINE bytes given as a slot holds
 * it: two little-endian words, zero padded (@w0 bytes 0-7, @w1 bytes
 * 8-15).  The same value, inline and without reading the key again: the
 * decoder hashes every element it reads. */
static inline uint32_t et_hash_short(uint64_t w0, uint64_t w1, size_t len)
{
	uint64_t h = 0x243f6a8885a308d3ULL ^ (len * ET_HASH_MUL);

	if (len >= 8) {
		h = (h ^ et_mix(w0)) * ET_HASH_MUL;
		if (len > 8)
			h = (h ^ et_mix(w1 ^ (len < 16 ? (uint64_t)(len - 8) << 59 : 0))) * ET_HASH_MUL;
	} else if (len) {
		h = (h ^ et_mix(w0 ^ (uint64_t)len << 59)) * ET_HASH_MUL;
	}
	return (uint32_t)et_mix(h);
}
struct et_slot *et_find(const struct elemtab *t, const void *key, size_t len, uint32_t hash);
/* Short keys are zero-padded in their slot, so equal keys of equal length
 * have equal inline words. */
static inline bool et_same_key(const struct et_slot *a, const struct et_slot *b)
{
	if (a->hash != b->hash || a->meta != b->meta)
		return false;
	if (et_len(a) <= ET_INLINE)
		return memcmp(a->k.in, b->k.in, ET_INLINE) == 0;
	return memcmp(a->k.ptr, b->k.ptr, et_len(a)) == 0;
}

/** Index in @t of the entry with the same key as @k (a slot of any
 * table), or UINT32_MAX.  Compares short keys a word at a time; inline,
 * as the merges call it for every element. */
static inline uint32_t et_find_slot(const struct elemtab *t, const struct et_slot *k)
{
	if (!t->s)
		return UINT32_MAX;
	for (uint32_t i = et_home(t, k->hash);; i = et_next(t, i)) {
		const struct et_slot *s = &t->s[i];
		if (!et_used(s))
			return UINT32_MAX;
		if (et_same_key(s, k))
			return i;
	}
}
/** Would a table of @t's capacity need to grow to hold @n elements? */
bool et_needs_growth(const struct elemtab *t, size_t n);
/** A new, empty table @nt with room for @n elements, to be filled with
 * et_put() and then made @t's by et_adopt(); @nt has no order cache.
 * -ENOMEM, -EMSGSIZE past 2^31 slots. */
int et_init_for(struct elemtab *nt, size_t n);
/** Copy slot @from (of another table, or of this one's former array) into
 * free room of @t, whose key it must not hold: its index.  A long key's
 * pointer comes along, so exactly one of the two tables may keep it.
 * Clears the order cache.  Inline, as the merge calls it per element. */
static inline uint32_t et_put(struct elemtab *t, const struct et_slot *from)
{
	uint32_t i = et_home(t, from->hash);

	while (et_used(&t->s[i]))
		i = et_next(t, i);
	t->s[i] = *from;
	t->count++;
	t->ord_ok = false; /* a log of removes, if any, goes with it */
	return i;
}
/** Can @t take @n keys by et_put_append()?  Its order must be one valid
 * run, with no removes pending, and have room for them. */
static inline bool et_can_append(const struct elemtab *t, size_t n)
{
	return t->ord_ok && !t->ord_mid && !t->rlog_n && t->ord && t->count + n <= t->ordcap;
}
/** et_put() of a key after every key in @t (the caller has checked, as
 * the decoder does), which the order takes as the last; the caller has
 * checked et_can_append() for all its keys, so no test per key. */
static inline uint32_t et_put_append(struct elemtab *t, const struct et_slot *from)
{
	uint32_t i = et_home(t, from->hash);

	while (et_used(&t->s[i]))
		i = et_next(t, i);
	t->s[i] = *from;
	t->ord[t->count++] = i;
	return i;
}
/** Give @t the slots of @nt (filled by et_put()) and its order cache:
 * @t's old slot array is freed but not the long keys in it, which et_put()
 * moved.  @nt is left empty. */
void et_adopt(struct elemtab *t, struct elemtab *nt);
/** Make sure @t (with slots) has an order array (t->ord, t->ordcap
 * entries, room for every element the table can hold): -ENOMEM. */
int et_ord_room(struct elemtab *t);
/** Declare t->ord[0, t->count), written by the caller, valid from now on:
 * the used slots' indices as one run in key order (@mid 0), or as two,
 * [0, @mid) and [@mid, count), each in key order. */
void et_order_runs(struct elemtab *t, size_t mid);
/** Replay the removes the order has not followed (see struct elemtab),
 * so that t->ord[0, count) is valid again if ord_ok; without the memory
 * for it the order is dropped. */
void et_order_settle(struct elemtab *t);
/** Remove every entry whose payload is 0 (frees long keys), keeping the
 * order cache valid if it is (else, without memory for it, dropped). */
void et_sweep_zero(struct elemtab *t);
/** Make room for @n elements in total, so that inserts up to that count
 * cannot fail.  -ENOMEM (table unchanged), -EMSGSIZE past 2^31 slots. */
int et_reserve(struct elemtab *t, size_t n);
/** et_reserve(), and if the table moved, rewrite each slot index in
 * @idx[@nidx] (UINT32_MAX entries left alone) to where that entry went. */
int et_reserve_remap(struct elemtab *t, size_t n, uint32_t *idx, size_t nidx);
/** Heap copy of a key too long to sit in a slot, NULL if it fits inline
 * (and in *ret_err 0) or on -ENOMEM (*ret_err set). */
uint8_t *et_key_dup(const void *key, size_t len, int *ret_err);
/** Insert a key known to be absent into reserved room.  @owned is the
 * et_key_dup() copy for a long key (the table takes it), NULL otherwise. */
struct et_slot *et_insert(struct elemtab *t, const void *key, size_t len, uint32_t hash,
			  uint8_t *owned);
/** et_insert() of the key in @from, a slot of another table. */
struct et_slot *et_insert_slot(struct elemtab *t, const struct et_slot *from, uint8_t *owned);
/** Remove the entry at @slot (frees a long key). */
void et_remove(struct elemtab *t, struct et_slot *slot);
/** Order of keys: memcmp on the common length, then shorter first. */
int et_keycmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
/** A malloc'd array of the used slots sorted by key (NULL with 0 entries).
 * -ENOMEM. */
int et_sorted(const struct elemtab *t, struct et_slot ***ret);
/** The used slots' indices in key order (t->count of them), from the
 * cache, built first if need be: a pointer into the table, valid until its
 * next change.  -ENOMEM.  The table is logically const: only the cache is
 * written, so two threads must not call this on one table at once. */
int et_order(const struct elemtab *t, const uint32_t **ret);
/** Is slot @a's key before slot @b's?  Short keys compare as two
 * big-endian words (zero padded) and then their lengths. */
static inline bool et_before(const struct et_slot *a, const struct et_slot *b)
{
	if (et_len(a) <= ET_INLINE && et_len(b) <= ET_INLINE) {
		uint64_t x, y;
		memcpy(&x, a->k.in, 8);
		memcpy(&y, b->k.in, 8);
		if (x == y) {
			memcpy(&x, a->k.in + 8, 8);
			memcpy(&y, b->k.in + 8, 8);
		}
		x = __builtin_bswap64(x);
		y = __builtin_bswap64(y);
		return x != y ? x < y : et_len(a) < et_len(b);
	}
	return et_keycmp(et_key(a), et_len(a), et_key(b), et_len(b)) < 0;
}

/* The key order walked by a caller that visits every element in that
 * order anyway (the encoder): when a bulk merge left it as two runs, the
 * walk merges them as it goes, each slot loaded once for the comparison
 * and the caller's work together, and writes the merged order back, so
 * that the table is left with one run (from ET_WALK_MIN elements on;
 * below, et_walk_begin() merges them first).  Slots are loaded ET_WALK_AHEAD
 * places ahead in each run; @ahead is the slot ET_WALK_AHEAD / 2 places
 * further in the run the last element came from (UINT32_MAX near its end),
 * for the caller's own loads. */
#define ET_WALK_AHEAD 32
/* Below this many elements (1 MiB of slots, past the second-level cache)
 * the slots are cheap to load twice, and merging the runs first, in a
 * loop of its own, costs less than merging them inside the caller's. */
#define ET_WALK_MIN (1u << 15)
struct et_walk {
	struct elemtab *t;
	uint32_t *a; /* a copy of the first run; NULL: one run, t->ord */
	size_t i, na, j, n, o;
	uint32_t ahead;
};
/** Start a walk of @t in key order (the order built or settled first, as
 * et_order() does): -ENOMEM.  Each et_walk_next() gives the next slot
 * index, t->count of them; et_walk_end() must follow, however far the
 * walk went.  The table is logically const, as for et_order(). */
int et_walk_begin(const struct elemtab *t, struct et_walk *w);
/** Finish the merged order if the walk stopped early, and free the walk. */
void et_walk_end(struct et_walk *w);

static inline __attribute__((always_inline)) uint32_t et_walk_next(struct et_walk *w)
{
	const struct et_slot *s = w->t->s;
	uint32_t *ord = w->t->ord, x;

	if (!w->a) {
		x = ord[w->o];
		w->ahead = w->o + ET_WALK_AHEAD / 2 < w->n ? ord[w->o + ET_WALK_AHEAD / 2] : UINT32_MAX;
		if (w->o + ET_WALK_AHEAD < w->n)
			__builtin_prefetch(&s[ord[w->o + ET_WALK_AHEAD]]);
		w->o++;
		return x;
	}
	/* w->o == w->i + (w->j - w->na) <= w->j: the output never overtakes
	 * the second run */
	if (w->j == w->n || (w->i < w->na && !et_before(&s[ord[w->j]], &s[w->a[w->i]]))) {
		x = w->a[w->i++];
		w->ahead = w->i + ET_WALK_AHEAD / 2 < w->na ? w->a[w->i + ET_WALK_AHEAD / 2] : UINT32_MAX;
		if (w->i + ET_WALK_AHEAD < w->na)
			__builtin_prefetch(&s[w->a[w->i + ET_WALK_AHEAD]]);
	} else {
		x = ord[w->j++];
		w->ahead = w->j + ET_WALK_AHEAD / 2 < w->n ? ord[w->j + ET_WALK_AHEAD / 2] : UINT32_MAX;
		if (w->j + ET_WALK_AHEAD < w->n)
			__builtin_prefetch(&s[ord[w->j + ET_WALK_AHEAD]]);
	}
	ord[w->o++] = x;
	return x;
}

/** Sort an array of slot pointers by key. */
void et_sort(struct et_slot **v, size_t n);
/* Is @e (any length, checked against ET_MAX_LEN) in the table? */
bool et_contains(const struct elemtab *t, const void *e, size_t len);
/* Every key in ascending order: the sets' foreach.  A non-zero return of
 * @cb stops and is returned; -ENOMEM if the order cannot be built. */
int et_foreach_sorted(const struct elemtab *t, crdt_elem_cb cb, void *ctx);

#endif
