/* The OR-Map's private header: its layout and the helpers its two parts
 * share (internal to libcrdt): map.c (lifecycle, local operations, queries,
 * merge) and codec.c (encoding, decoding, split, fingerprint).
 *
 * The parts: map.c (lifecycle, operations, queries, merge), codec.c,
 * index.c (the dot index that small merges use).
 *
 * Memory: a field is one element-table slot (32 bytes, the field name
 * inline up to 16 bytes) whose payload points at its entry, one malloc of
 * 29 bytes plus the value; a field with several entries (concurrent
 * writes) points at a small array of them instead (low bit of the payload
 * set).  Replicas are numbered in arrival order and never renumbered; the
 * encoder maps them to the sorted order the wire wants.
 */
#ifndef CRDT_ORMAP_INTERNAL_H
#define CRDT_ORMAP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/ormap.h"
#include "../elemtab.h"
#include "../fp.h"
#include "../ivl.h"

#define ENT_REG 0
#define ENT_CTR 1
#define NO_REP UINT32_MAX

/* One entry: the dot of the write that made it and the value it left. */
struct ment {
	uint64_t ctr;  /* dot counter */
	uint64_t ms;   /* register: HLC stamp */
	uint32_t ri;   /* dot replica (and a register's writer) */
	uint32_t lc;   /* register: HLC logical part */
	uint32_t len;  /* register: value bytes; counter: rows */
	uint8_t kind;  /* ENT_REG or ENT_CTR */
	uint8_t val[]; /* register: the value bytes */
};

/* A counter entry's rows follow the struct, aligned. */
struct mrow {
	uint64_t p, n; /* increments and decrements of replica ri; not both 0 */
	uint32_t ri;
};

static inline struct mrow *ent_rows(const struct ment *e)
{
	return (struct mrow *)((uint8_t *)e + sizeof(struct ment));
}

/* Several entries: the payload is this pointer with its low bit set. */
struct mmulti {
	uint32_t n;
	struct ment *e[];
};

struct mrep {
	struct crdt_rid rid;
	struct ivl *iv; /* the context: sorted, disjoint, non-adjacent */
	uint32_t n, cap;
};

/* The dot index (index.c): per entry its dot and its field's hash. */
struct dslot {
	uint64_t ctr; /* 0: empty */
	uint32_t ri;
	uint32_t h;
};

struct dix {
	struct dslot *s; /* open addressing, power-of-two capacity */
	uint32_t cap, n;
	bool ok; /* built and current */
	/* The table it outgrew, moved into s a few slots a put (index.c):
	 * from slot omoved on it still holds entries (on of them) that s
	 * lacks; a deleted one there is marked DIX_GONE. NULL when none. */
	struct dslot *old;
	uint32_t ocap, omoved, on;
};
#define DIX_GONE UINT32_MAX /* an old slot's ri once deleted */

struct crdt_ormap {
	struct elemtab tab;
	/* Baselines: per field, the join of the counter rows its deletes
	 * (HDEL, DEL) removed; a counter shows only what passed them.  The
	 * payload is a struct ment (ENT_CTR, no dot: ctr 0) of those rows.
	 * Kept after the field is gone (a concurrent increment may still
	 * arrive), joined by merge (per replica the greatest p and n). */
	struct elemtab base;
	struct mrep *reps;
	uint32_t nreps, capreps;
	struct dix dix;
	/* The fingerprint's parts (fp.h) that depend on the fields: the sum
	 * of every entry's part and the sum of every baseline's.  Kept up to
	 * date by every change of entries or baselines while fp_ok (local
	 * operations, merges of either size, clear); a new map, and so a
	 * decoded one or a copy, starts without them, and the next
	 * crdt_ormap_fingerprint computes them in a pass over the fields.
	 * The context's part is summed at each call: a few intervals. */
	uint64_t fp_ents, fp_base;
	bool fp_ok;
	/* A counter entry may be among the fields: set whenever one enters
	 * (fld_put, fld_insert, the merge), cleared when every field goes; a
	 * clear of a map without one has no baseline to make and skips the
	 * visit of each field. */
	bool may_ctr;
};

/* Note @n entries about to enter @m's fields (may_ctr). */
static inline void note_ents(struct crdt_ormap *m, struct ment *const *e, uint32_t n)
{
	for (uint32_t i = 0; i < n && !m->may_ctr; i++)
		m->may_ctr = e[i]->kind == ENT_CTR;
}

#pragma GCC visibility push(hidden)

/* The entries of a slot's payload: *ret points at them (at @one for one). */
static inline uint32_t fld_ents(uint64_t pay, struct ment **one, struct ment *const **ret)
{
	if (pay & 1) {
		const struct mmulti *mm = (const struct mmulti *)(uintptr_t)(pay & ~(uint64_t)1);
		*ret = mm->e;
		return mm->n;
	}
	*one = (struct ment *)(uintptr_t)pay;
	*ret = one;
	return pay ? 1 : 0;
}

/* ---- the fingerprint's parts (codec.c sums them, map.c keeps them) ---- */

/* The fp_rid of replica @ri: from @fr (by index) if given, else hashed. */
static inline uint64_t fp_rep(const struct crdt_ormap *m, const uint64_t *fr, uint32_t ri)
{
	return fr ? fr[ri] : fp_rid(&m->reps[ri].rid);
}

/* A field's key, hashed once for the parts of its entries and baseline. */
static inline uint64_t fp_field(const uint8_t *key, size_t len)
{
	return fp_bytes(FP_MAP_KEY, key, len);
}

static inline uint64_t fp_rows(const struct crdt_ormap *m, const uint64_t *fr, const struct ment *e)
{
	uint64_t rows = 0;

	for (uint32_t y = 0; y < e->len; y++) {
		const struct mrow *r = &ent_rows(e)[y];
		rows += fp_pair(fp_pair(fp_rep(m, fr, r->ri) ^ FP_MAP_ROW, r->p), r->n);
	}
	return rows;
}

/* One entry @e of the field whose fp_field is @kh: its dot, kind and value. */
static inline uint64_t fp_ent(const struct crdt_ormap *m, const uint64_t *fr, uint64_t kh,
			      const struct ment *e)
{
	uint64_t h = fp_pair(fp_pair(kh ^ fp_rep(m, fr, e->ri), e->ctr), e->kind);

	if (e->kind == ENT_REG) {
		h = fp_pair(fp_pair(h, e->ms), e->lc);
		return fp_pair(h, fp_bytes(FP_MAP_VAL, e->val, e->len));
	}
	return fp_pair(h, fp_rows(m, fr, e));
}

/* The baseline @b of the field whose fp_field is @kh. */
static inline uint64_t fp_baseline(const struct crdt_ormap *m, const uint64_t *fr, uint64_t kh,
				   const struct ment *b)
{
	return fp_pair(kh ^ FP_MAP_CTX, fp_rows(m, fr, b));
}

/* The sum of the parts of @e[@n], entries of field @key. */
static inline uint64_t fp_ents_of(const struct crdt_ormap *m, const uint8_t *key, size_t len,
				  struct ment *const *e, uint32_t n)
{
	uint64_t kh = fp_field(key, len), sum = 0;

	for (uint32_t i = 0; i < n; i++)
		sum += fp_ent(m, NULL, kh, e[i]);
	return sum;
}

uint32_t rep_find(const struct crdt_ormap *m, const struct crdt_rid *rid);
/* The index of @rid, appended if new.  NO_REP on -ENOMEM. */
uint32_t rep_get(struct crdt_ormap *m, const struct crdt_rid *rid);
bool ctx_has(const struct crdt_ormap *m, uint32_t ri, uint64_t c);
/* The first of @r's intervals whose hi >= @c (r->n: none). */
uint32_t ctx_first(const struct mrep *r, uint64_t c);
/* Add the intervals @iv[@n] (sorted) to replica @ri's context. */
int ctx_add_ivs(struct crdt_ormap *m, uint32_t ri, const struct ivl *iv, uint32_t n);
/* Add dot counter @c; allocates only when room runs out. */
int ctx_add(struct crdt_ormap *m, uint32_t ri, uint64_t c);
/* Room for @extra more intervals, so that as many ctx_add cannot fail. */
int ctx_reserve(struct crdt_ormap *m, uint32_t ri, size_t extra);
/* A new entry of @m2's... copies: @e with its replica numbers mapped
 * through @map (NULL: unchanged).  NULL on -ENOMEM. */
struct ment *ent_copy(const struct ment *e, const uint32_t *map);
bool ent_same(const struct ment *a, const struct ment *b, const struct crdt_ormap *ma,
	      const struct crdt_ormap *mb);
/* Replace the entries of @slot by @e[@n] (n == 0: remove the slot); the old
 * array, not the entries, is freed.  -ENOMEM (slot unchanged).  The
 * fingerprint's parts (fp_ents) are the caller's to follow. */
int fld_put(struct crdt_ormap *m, struct et_slot *slot, struct ment **e, uint32_t n);
/* Add field @key (et_hash() @h) with entries @e[@n] (n >= 1) to a map
 * that lacks it; their parts join fp_ents. */
int fld_insert(struct crdt_ormap *m, const uint8_t *key, size_t len, uint32_t h, struct ment **e,
	       uint32_t n);

/* Field @key's baseline, NULL if none. */
const struct ment *base_of(const struct crdt_ormap *m, const uint8_t *key, size_t len);
/* Room for @n more baselines at once.  Whoever joins many (a copy, a
 * merge, a decode) takes it first: they come in hash order, and inserted so
 * into a table sized for fewer they would all probe one growing run, O(n^2)
 * (1,000,000 took longer than minutes).  0 or -ENOMEM. */
int base_reserve(struct crdt_ormap *m, size_t n);
/* The rows @r[@n] (replica numbers of @m) joined into field @key's
 * baseline.  0 or -ENOMEM (unchanged). */
int base_join(struct crdt_ormap *m, const uint8_t *key, size_t len, const struct mrow *r,
	      uint32_t n);

/* ---- dot index (index.c) ---- */
void dix_drop(struct crdt_ormap *m);
/* Build from the table: -ENOMEM (then not built). */
int dix_build(struct crdt_ormap *m);
/* Follow a change of entries while built (a failure drops the index). */
void dix_put(struct crdt_ormap *m, uint32_t ri, uint64_t ctr, uint32_t h);
void dix_del(struct crdt_ormap *m, uint32_t ri, uint64_t ctr);
const struct dslot *dix_find(const struct crdt_ormap *m, uint32_t ri, uint64_t ctr);
/* The slot of the field holding dot (@ri, @ctr), NULL if none. */
struct et_slot *dix_slot(const struct crdt_ormap *m, uint32_t ri, uint64_t ctr);
/* Start bringing dot (@ri, @ctr)'s lookup into the cache, ahead of a
 * dix_slot of it: its index slot (@field false), or, once that is in the
 * cache, the home slot of the field it names (@field true).  Reads nothing
 * it would miss on but the index slot; an absent dot is harmless. */
void dix_prefetch(const struct crdt_ormap *m, uint32_t ri, uint64_t ctr, bool field);

#pragma GCC visibility pop

#endif
