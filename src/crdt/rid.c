/* Replica ids: 16-byte UUIDs from libuuid, their text form and order, and
 * the process's table of interned ids (id <-> 32-bit index). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#include "crdt/error.h"
#include "crdt/rid.h"
#include "rid_order.h"

void crdt_rid_generate(struct crdt_rid *ret)
{
	uuid_generate_random(ret->b);
}

int crdt_rid_parse(const char *s, struct crdt_rid *ret)
{
	uuid_t u;

	if (!s || strlen(s) != CRDT_RID_STRLEN - 1 || uuid_parse(s, u) < 0)
		return CRDT_EINVAL;
	memcpy(ret->b, u, CRDT_RID_LEN);
	return 0;
}

void crdt_rid_format(const struct crdt_rid *id, char out[CRDT_RID_STRLEN])
{
	uuid_unparse_lower(id->b, out);
}

int crdt_rid_cmp(const struct crdt_rid *a, const struct crdt_rid *b)
{
	return memcmp(a->b, b->b, CRDT_RID_LEN);
}

bool crdt_rid_is_nil(const struct crdt_rid *id)
{
	return uuid_is_null(id->b);
}

/* ---- the table of interned ids ----
 *
 * The ids sit in chunks that never move: chunk k holds 64 << k ids, so
 * index ix is in chunk log2(ix + 64) - 6, and 27 chunks would cover every
 * 32-bit index.  Readers find an id by its index without the lock (the
 * chunk pointers are atomics, written once under the lock).  The lookup
 * from id to index is an open-addressed hash of indices plus one (0 is
 * empty), at most half full, kept under the lock; its hash is seeded per
 * process so that a peer cannot choose ids that collide. */
/* declared in rid_order.h, for its inline rid_at() */
_Atomic(struct crdt_rid *) crdt_rid_chunks_[RID_NCHUNKS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint32_t count;
static uint32_t *slots; /* under lock */
static size_t nslots;   /* a power of two, or 0 */
static uint64_t seed;

/* The last id this thread interned or found: counters are written under
 * one replica id over and over, and this skips the lock for them. */
static _Thread_local struct {
	struct crdt_rid id;
	uint32_t ix;
	bool set;
} last;

static void locate(uint32_t ix, unsigned *ret_k, size_t *ret_off)
{
	uint64_t v = (uint64_t)ix + (1u << RID_CHUNK0_SHIFT);
	unsigned k = 63 - (unsigned)__builtin_clzll(v) - RID_CHUNK0_SHIFT;

	*ret_k = k;
	*ret_off = (size_t)(v - ((uint64_t)1 << (k + RID_CHUNK0_SHIFT)));
}

const struct crdt_rid *crdt_rid_at(uint32_t ix)
{
	return rid_at(ix);
}

uint32_t crdt_rid_interned(void)
{
	return atomic_load_explicit(&count, memory_order_relaxed);
}

static size_t hash(const struct crdt_rid *id)
{
	uint64_t a, b;

	memcpy(&a, id->b, 8);
	memcpy(&b, id->b + 8, 8);
	a = (a ^ seed) * 0x9e3779b97f4a7c15u;
	a = (a ^ b ^ (a >> 29)) * 0xbf58476d1ce4e5b9u;
	return (size_t)(a ^ (a >> 32));
}

/* Under lock: the slot of @id, or the empty slot where it would go. */
static uint32_t *find_slot(const struct crdt_rid *id)
{
	size_t mask = nslots - 1;

	for (size_t i = hash(id) & mask;; i = (i + 1) & mask) {
		uint32_t s = slots[i];
		if (s == 0 || memcmp(rid_at(s - 1)->b, id->b, CRDT_RID_LEN) == 0)
			return &slots[i];
	}
}

/* Under lock: room for one more id in the hash, kept at most half full. */
static int grow_slots(void)
{
	uint32_t n = atomic_load_explicit(&count, memory_order_relaxed);
	size_t old = nslots, want = old ? old * 2 : 256;
	uint32_t *prev = slots;

	if (2 * ((size_t)n + 1) <= old)
		return 0;
	if (!old) {
		struct crdt_rid r;
		crdt_rid_generate(&r);
		memcpy(&seed, r.b, 8);
	}
	slots = calloc(want, sizeof(*slots));
	if (!slots) {
		slots = prev;
		return CRDT_ENOMEM;
	}
	nslots = want;
	for (size_t i = 0; i < old; i++)
		if (prev[i])
			*find_slot(rid_at(prev[i] - 1)) = prev[i];
	free(prev);
	return 0;
}

/* Under lock: append @id; *ret_ix is its index. */
static int append(const struct crdt_rid *id, uint32_t *ret_ix)
{
	uint32_t ix = atomic_load_explicit(&count, memory_order_relaxed);
	struct crdt_rid *chunk;
	unsigned k;
	size_t off;

	if (ix >= CRDT_RID_INTERN_MAX)
		return CRDT_EMSGSIZE;
	if (grow_slots() < 0)
		return CRDT_ENOMEM;
	locate(ix, &k, &off);
	chunk = atomic_load_explicit(&crdt_rid_chunks_[k], memory_order_relaxed);
	if (!chunk) {
		chunk = malloc(((size_t)1 << (k + RID_CHUNK0_SHIFT)) * sizeof(*chunk));
		if (!chunk)
			return CRDT_ENOMEM;
		atomic_store_explicit(&crdt_rid_chunks_[k], chunk, memory_order_release);
	}
	chunk[off] = *id;
	*find_slot(id) = ix + 1;
	atomic_store_explicit(&count, ix + 1, memory_order_release);
	*ret_ix = ix;
	return 0;
}

static int intern(const struct crdt_rid *id, bool add, uint32_t *ret_ix)
{
	uint32_t ix = 0;
	int r = CRDT_OK;

	if (last.set && memcmp(last.id.b, id->b, CRDT_RID_LEN) == 0) {
		*ret_ix = last.ix;
		return 0;
	}
	pthread_mutex_lock(&lock);
	uint32_t *s = nslots ? find_slot(id) : NULL;
	if (s && *s)
		ix = *s - 1;
	else
		r = add ? append(id, &ix) : -ENOENT;
	pthread_mutex_unlock(&lock);
	if (r < 0)
		return r;
	last.id = *id;
	last.ix = ix;
	last.set = true;
	*ret_ix = ix;
	return 0;
}

int crdt_rid_intern(const struct crdt_rid *id, uint32_t *ret_ix)
{
	return intern(id, true, ret_ix);
}

int crdt_rid_intern_many(const uint8_t *ids, size_t n, uint32_t *ret_ix)
{
	int r = 0;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n && r == 0; i++) {
		struct crdt_rid id;
		uint32_t *s;

		memcpy(id.b, ids + i * CRDT_RID_LEN, CRDT_RID_LEN);
		s = nslots ? find_slot(&id) : NULL;
		if (s && *s)
			ret_ix[i] = *s - 1;
		else
			r = append(&id, &ret_ix[i]);
	}
	pthread_mutex_unlock(&lock);
	return r;
}

int crdt_rid_lookup(const struct crdt_rid *id, uint32_t *ret_ix)
{
	return intern(id, false, ret_ix);
}
