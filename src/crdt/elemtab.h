/* elemtab: the element table behind the G-Set, the OR-Set and the OR-Map
 * (internal).
 *
 * A hash table keyed by binary-safe byte strings: open addressing, linear
 * probing, kept in Robin Hood order with no wrap-around, so that its used
 * slots, read from first to last, are in (hash, key) order (elemtab order,
 * et_hk_before()).  That is the encodings' canonical element order: an
 * encode is one pass over the slots, a decode fills a fresh table front to
 * back, a bulk merge joins two tables in one pass over each, and no sort or
 * cached order exists.
 *
 * An element's home slot is its hash scaled to the home range (hcap
 * slots, classes of 2^k and 3 * 2^(k-1) slots in turn, load at most 13/16);
 * the slot array has a tail of about 1/32 of it past the home range (carved
 * out of a class that fills whole huge pages, which then maps with nothing
 * wasted; on top of any other), grown
 * if ever a cluster runs into its last slot, which is always empty, so
 * every probe ends inside the array.  Each element sits at or after its
 * home.  Inserting shifts the rest of its cluster one slot on; removing
 * shifts it back (no tombstones).  Each slot is 32 bytes: the key's hash and
 * length, the key itself when it fits in 16 bytes (else a pointer to a
 * heap copy the table owns) and a 64-bit payload the owner interprets.
 * With short keys that is the whole memory cost of an element.
 *
 * Slot pointers and indices stay valid until the next insert, remove,
 * reserve or append.
 *
 * Tables of 2 MiB and more are mapped directly (Linux: anonymous mmap,
 * 2 MiB aligned, MADV_HUGEPAGE), so a large table is faulted in a few huge
 * pages, already zeroed, instead of thousands of 4 KiB ones; elsewhere, or
 * if that fails, calloc.
 *
 * Growth: a table past 13/16 of its home range is rebuilt in the next
 * class, in one call (et_reserve(), or a merge that builds the union
 * whole): its elements placed again in one pass over both arrays, about
 * 10 ns each (10-20 ms at 1-1.6 million).  The new array's page faults
 * cost several times that on a VM, so they are paid ahead: over the last
 * sixteenth of the inserts before the limit, a table whose next class is
 * mapped maps it and faults it in a huge page at a time, each et_reserve()
 * its share and at most one page (elemtab.c, prepare()); the growth, or a
 * merge that builds the grown table whole (et_init_next()), takes those
 * slots.  With a populate hook (crdt/mem.h) the table hands the mapping
 * over instead, and any class from ET_PREP_SMALL on (small pages below
 * 2 MiB): the hook's thread faults it in, et_reserve() only looks
 * whether it is in (nxpop), and the growth takes it at the limit either
 * way.  That holds the next class's memory (1.33-1.5 times the table's)
 * from then on.  A table told how many elements are coming (a catch-up's
 * announced size, et_reserve_toward()) makes the table for all of them
 * ready the same way, a huge page a call, and moves into it once it is;
 * with a hook, it hands that table over too (ax, apart from nx, so that
 * the growths on the way keep theirs) and moves once its last page is in.
 */
#ifndef CRDT_ELEMTAB_H
#define CRDT_ELEMTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "crdt/gset.h" /* crdt_elem_cb */
#include "crdt/hash.h"
#include "siphash.h"

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
	uint32_t cap;  /* slots in s: the home range and the tail; 0 when s == NULL */
	uint32_t hcap; /* the home range */
	uint32_t count;
	uint32_t end; /* every slot from here on is empty (a bound, not exact) */
	bool mapped;  /* s came from et_mem_alloc()'s mapping, not calloc */
	/* The next class's slots, mapped and faulted in ahead (elemtab.c,
	 * prepare()) while the table nears its load limit; NULL if none. */
	struct et_slot *nx;
	uint32_t nxcap;  /* its class (et_hcap_for()) */
	uint32_t nxdone; /* the slots before this are faulted in */
	bool nxpop;      /* handed to the populate hook (crdt/mem.h), which faults them */
	/* With a populate hook, the table of a catch-up's aim (class axcap,
	 * et_reserve_toward()), handed to the hook apart from nx; NULL if none. */
	struct et_slot *ax;
	uint32_t axcap;
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
	return (uint32_t)(((uint64_t)hash * t->hcap) >> 32);
}

/* The slot after @i: a probe never wraps, it ends at an empty slot. */
static inline uint32_t et_next(const struct elemtab *t, uint32_t i)
{
	(void)t;
	return i + 1;
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
 * it, and a table read at random (lookups, a merge's pieces) misses the
 * TLB less. */
#define ET_HUGE ((size_t)2 << 20)
/** Zeroed memory of @sz bytes, NULL without: mapped in huge pages, 2 MiB
 * aligned, for a multiple of ET_HUGE (Linux), else calloc'd; *@ret_mapped
 * says which, for et_mem_free(). */
void *et_mem_alloc(size_t sz, bool *ret_mapped);
void et_mem_free(void *p, size_t sz, bool mapped);

void et_init(struct elemtab *t);
void et_done(struct elemtab *t);
/** An element's hash: crdt_hash_bytes() under the element tables' key
 * (crdt/hash.h), its low 32 bits. */
uint32_t et_hash(const void *key, size_t len);

/* The element tables' key (hash.c; crdt_set_hash_key()). */
extern struct crdt_hash_key crdt_hash_key_;

/** et_hash() of a key of @len <= ET_INLINE bytes given as a slot holds
 * it: two words as loaded from memory, zero padded (@w0 bytes 0-7, @w1
 * bytes 8-15).  The same value, inline and without reading the key again:
 * the decoder hashes every element it reads. */
static inline uint32_t et_hash_short(uint64_t w0, uint64_t w1, size_t len)
{
	struct sip s = sip_init(&crdt_hash_key_);

	if (len >= 8) {
		sip_word(&s, sip_le(w0), SIP_C);
		if (len == 16) {
			sip_word(&s, sip_le(w1), SIP_C);
			w1 = 0;
		}
		w0 = w1;
	}
	return (uint32_t)sip_end(&s, (uint64_t)len << 56 | sip_le(w0), SIP_C, SIP_D);
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

/** Order of keys: memcmp on the common length, then shorter first. */
int et_keycmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
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
/** Elemtab order, the table's and the encodings': by hash, then by key.
 * Is @a before @b? */
static inline bool et_hk_before(const struct et_slot *a, const struct et_slot *b)
{
	return a->hash != b->hash ? a->hash < b->hash : et_before(a, b);
}
/** -1, 0 or 1 as @a is before, the same key as, or after @b in elemtab
 * order: the step of a merge-join of two tables. */
static inline int et_hk_cmp(const struct et_slot *a, const struct et_slot *b)
{
	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	if (et_same_key(a, b))
		return 0;
	return et_before(a, b) ? -1 : 1;
}

/** Index in @t of the entry with the same key as @k (a slot of any
 * table), or UINT32_MAX.  The probe stops at the first greater hash;
 * inline, as the merges call it for every element. */
static inline uint32_t et_find_slot(const struct elemtab *t, const struct et_slot *k)
{
	if (!t->s)
		return UINT32_MAX;
	for (uint32_t i = et_home(t, k->hash);; i++) {
		const struct et_slot *s = &t->s[i];
		if (!et_used(s) || s->hash > k->hash)
			return UINT32_MAX;
		if (et_same_key(s, k))
			return i;
	}
}
/** The first used slot of the array @s of @cap slots at or after @i, or
 * @cap: the walk of a table in elemtab order, the array and its size in the
 * caller's registers. */
static inline size_t et_next_used(const struct et_slot *s, size_t cap, size_t i)
{
	while (i < cap && !et_used(&s[i]))
		i++;
	return i;
}
/** The same for table @t. */
static inline size_t et_walk(const struct elemtab *t, size_t i)
{
	return et_next_used(t->s, et_cap(t), i);
}
/** Would a table of @t's capacity need to grow to hold @n elements? */
bool et_needs_growth(const struct elemtab *t, size_t n);
/** The class (slots before the tail) a table of @n elements gets; 0: too
 * many. */
size_t et_hcap_for(size_t n);
/** A new, empty table @nt with room for @n elements, to be filled with
 * et_append(), finished by et_append_end() (its slots are not written
 * before: each is once, by the two) and then made @t's by et_adopt().
 * Until et_append_end() only et_append(), et_tail_room() and et_done() may
 * touch it.  -ENOMEM, -EMSGSIZE past 2^31 slots. */
int et_init_for(struct elemtab *nt, size_t n);
/** The same, in the slots @t made ready ahead for its next class (faulted
 * in already) if that is the class for @n: a merge that builds @t's
 * successor whole.  @t keeps its elements. */
int et_init_next(struct elemtab *nt, struct elemtab *t, size_t n);
/* The tail grown so that slot @i is not the last: -ENOMEM (table
 * unchanged).  et_append()'s and the insert's rare case. */
int et_tail_room(struct elemtab *t, size_t i);
/** Copy slot @from into @t, with room for it, after every key @t holds
 * (in elemtab order; the caller has checked, as the decoder and the merge
 * do).  *@fill is where the last append ended (0 for an empty table), and
 * moves past this one.  A long key's pointer comes along, so exactly one
 * of the two tables may keep it.  -ENOMEM only if the tail must grow,
 * which a table sized by et_init_for() or et_reserve() for its count
 * almost never needs.  Inline: the decoder and the merge call it per
 * element. */
static inline int et_append(struct elemtab *t, const struct et_slot *from, uint32_t *fill)
{
	uint32_t i = et_home(t, from->hash);

	if (i < *fill)
		i = *fill;
	if (__builtin_expect(i + 1 >= t->cap, 0)) {
		int r = et_tail_room(t, i);
		if (r < 0)
			return r;
	}
	if (!t->mapped) /* the gap, empty: a mapped block is zero already */
		for (uint32_t k = *fill; k < i; k++)
			t->s[k] = (struct et_slot){ 0 };
	t->s[i] = *from;
	t->count++;
	*fill = i + 1;
	if (t->end < *fill)
		t->end = *fill;
	return 0;
}
/** The slots after the last et_append() (which ended at @fill) emptied:
 * the table is complete. */
void et_append_end(struct elemtab *t, uint32_t fill);
/** Give @t the slots of @nt: @t's old slot array is freed but not the
 * long keys in it, which et_append() moved.  @nt is left empty. */
void et_adopt(struct elemtab *t, struct elemtab *nt);
/** Remove every entry whose payload is 0 (frees long keys): one pass. */
void et_sweep_zero(struct elemtab *t);
/** Make room for @n elements in total, so that inserts up to that count
 * cannot fail for want of room (the table's load; and its tail, for as
 * many inserts as it holds: past that an insert that reaches its end grows
 * it, which only a failed allocation stops).  -ENOMEM (table unchanged),
 * -EMSGSIZE past 2^31 slots. */
int et_reserve(struct elemtab *t, size_t n);
/** et_reserve() of @n, on the way to @aim elements said to be coming (a
 * catch-up's announced size, bounded by the caller).  A table for @aim
 * that is mapped (2 MiB and more) is made ready ahead, a huge page a
 * call (with a populate hook: by the hook, crdt/mem.h), while the table
 * grows as usual; the call that finds it ready
 * moves the elements into it, and is then the placement alone.  Placed
 * into a large fresh table at once, the elements of a catch-up's first
 * pieces would fault in every huge page of it in one call: they spread
 * over its whole hash range (33-45 ms on this project's VM at 1,000,000).
 * A smaller aim is reserved at once.  Errors as et_reserve(). */
int et_reserve_toward(struct elemtab *t, size_t n, size_t aim);
/** et_reserve_toward() for a table filled piece by piece (a catch-up):
 * about to take @incoming more elements, from a sender that says the
 * whole holds @total.  A @total of at most ET_ANNOUNCED_FACTOR times what
 * the table holds and takes now, plus ET_ANNOUNCED_SLACK, is believed (a
 * count that lies costs a table of that size at most); a larger one, or
 * one below what is held, reserves nothing.  0 or et_reserve()'s errors. */
#define ET_ANNOUNCED_FACTOR 32
#define ET_ANNOUNCED_SLACK 65536
int et_reserve_announced(struct elemtab *t, size_t incoming, uint64_t total);
/** Heap copy of a key too long to sit in a slot, NULL if it fits inline
 * (and in *ret_err 0) or on -ENOMEM (*ret_err set). */
uint8_t *et_key_dup(const void *key, size_t len, int *ret_err);
/** Give @x, a copy of another table's slot, a long key of its own (an
 * et_key_dup() copy, which the table it goes into takes): 0 or -ENOMEM. */
static inline int et_own_key(struct et_slot *x)
{
	int r = 0;

	if (et_len(x) > ET_INLINE && !(x->k.ptr = et_key_dup(x->k.ptr, et_len(x), &r)))
		return r;
	return 0;
}
/** Insert a key known to be absent into reserved room (et_reserve()).  @owned is the
 * et_key_dup() copy for a long key (the table takes it), NULL otherwise. */
struct et_slot *et_insert(struct elemtab *t, const void *key, size_t len, uint32_t hash,
			  uint8_t *owned);
/** et_insert() of the key in @from, a slot of another table. */
struct et_slot *et_insert_slot(struct elemtab *t, const struct et_slot *from, uint8_t *owned);
/** Remove the entry at @slot (frees a long key). */
void et_remove(struct elemtab *t, struct et_slot *slot);
/** The first used slot whose hash is @hash or more, less the first @skip
 * of @hash (a cursor in elemtab order: by hash, then key, however the
 * table grew meanwhile); et_cap() when none.  *@ret_run (may be NULL): how
 * many of @hash it passed. */
size_t et_seek(const struct elemtab *t, uint32_t hash, uint32_t skip, uint32_t *ret_run);
/** A malloc'd array of the used slots in elemtab order (NULL with 0
 * entries): -ENOMEM. */
int et_list(const struct elemtab *t, struct et_slot ***ret);
/* A decoder's check of the keys it reads, one after another.  Encoders
 * write elemtab order, and a decoder then needs no lookup to rule out a
 * duplicate; any other order of distinct keys is taken too (versions
 * before this one wrote key order), each key then looked up in the table
 * being filled. */
struct et_seq {
	const uint8_t *pkey; /* the previous key, while in order */
	size_t pklen, n;
	uint32_t ph;
	bool ordered; /* every key so far after the one before */
};
#define ET_SEQ_INIT { .ordered = true }
/** May a decoder take @key (hash @h) into @t, which holds the keys read so
 * far?  False for a key read before. */
bool et_seq_next(struct et_seq *q, const struct elemtab *t, const uint8_t *key, size_t klen,
		 uint32_t h);
/** A malloc'd array of the used slots sorted by key (NULL with 0 entries),
 * for views that want key order (JSON, SMEMBERS).  -ENOMEM. */
int et_sorted(const struct elemtab *t, struct et_slot ***ret);
/** Sort an array of slot pointers by key. */
void et_sort(struct et_slot **v, size_t n);
/* Is @e (any length, checked against ET_MAX_LEN) in the table? */
bool et_contains(const struct elemtab *t, const void *e, size_t len);
/* Every key in ascending order: the sets' foreach.  A non-zero return of
 * @cb stops and is returned; -ENOMEM if the order cannot be built. */
int et_foreach_sorted(const struct elemtab *t, crdt_elem_cb cb, void *ctx);
/* Every key in elemtab order: the sets' each. */
int et_foreach(const struct elemtab *t, crdt_elem_cb cb, void *ctx);
/* A step of a scan (SSCAN, HSCAN): the slots whose hash is @from or more,
 * in elemtab order, to @fn until about @count are visited (the rest of the
 * last one's hash too), and *@next the hash to go on from, or 0 at the end.
 * A table keeps its elements in hash order as it grows, shrinks or takes
 * inserts, so a scan from 0 to the end visits every element held
 * throughout exactly once.  A @from past every 32-bit hash visits none.  A
 * non-zero return of @fn stops and is returned. */
int et_scan(const struct elemtab *t, uint64_t from, size_t count,
	    int (*fn)(const struct et_slot *e, void *ctx), void *ctx, uint64_t *next);
/* The same, each key to @cb: the sets' scan. */
int et_scan_keys(const struct elemtab *t, uint64_t from, size_t count, crdt_elem_cb cb,
		 void *ctx, uint64_t *next);

#endif
