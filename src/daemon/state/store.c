/* The store: named instances in an open-addressing table, type conflicts,
 * the change stream, and the replica id writes are made under. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "crdt/error.h"
#include "crdt/hash.h"
#include "crdt/hlc.h"
#include "log.h"
#include "state/store.h"

/* 8 bytes a step, multiply-xorshift mixing (the finaliser of splitmix64):
 * fast on the kilobytes of a full state, and well spread.  Not keyed: a
 * peer that forges a collision only stops its own record from merging.
 * The journal's checksums are these values: they stay as they are. */
uint64_t store_fingerprint(const uint8_t *p, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len;

	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 31;
	}
	for (; len; p++, len--)
		h = (h ^ *p) * 0x94d049bb133111ebULL;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return h | 1;
}

/* Keyed SipHash (crdt/hash.h), as libcrdt's element tables: a client names
 * the instances, and with a hash it can compute it could give as many
 * names as it may write one slot, every lookup probing through them all.
 * The word-at-a-time hash above, keyed by a secret start, did not stop
 * that (e95494f): its step (h ^ w) * c, h ^= h >> 31 takes a difference
 * in the top bit of h ^ w to one in bits 63 and 32 whatever h is, which
 * the next word cancels; so names of 16-byte blocks, each block one of
 * two, all collided under every seed (2^64 such names of 1,024 bytes).
 * The key also differs from store to store: a peer's walk and catch-up
 * send names in its slots' order, which would be ours too with one hash
 * for all, the order in which linear probing piles names into one growing
 * cluster (a catch-up of 300,000 names averaged thousands of probes a
 * lookup). */
static uint64_t name_hash(const struct store *s, const uint8_t *p, size_t len)
{
	return crdt_hash_bytes(&s->seed, p, len);
}

void store_init(struct store *s)
{
	struct crdt_rid key;

	*s = (struct store){ 0 };
	crdt_rid_generate(&s->self);
	/* a draw of its own: the replica id is no secret (peers, CRDT.JSON) */
	crdt_rid_generate(&key);
	memcpy(&s->seed, key.b, sizeof(s->seed));
}

/* The instances of other types under @e, NULL when it has none. */
static struct store_inst *more_of(const struct store_entry *e)
{
	return e->x ? e->x->more : NULL;
}

/* The name's deadline (0: none) and heap position (0: none). */
static int64_t deadline_of(const struct store_entry *e)
{
	return e->x ? e->x->deadline : 0;
}

static uint32_t hpos_of(const struct store_entry *e)
{
	return e->x ? e->x->hpos : 0;
}

/* @e's store_extra, allocated on first use; NULL on -ENOMEM. */
static struct store_extra *extra(struct store_entry *e)
{
	if (!e->x)
		e->x = calloc(1, sizeof(*e->x));
	return e->x;
}

/* Where the register inside an entry's allocation goes: after the name
 * and its NUL, aligned.  Only there when e->reg_room. */
#define REG_ALIGN _Alignof(struct crdt_lwwreg)
#define REG_OFFSET(name_len) \
	((offsetof(struct store_entry, name) + (name_len) + 1 + REG_ALIGN - 1) & ~(REG_ALIGN - 1))

static struct crdt_lwwreg *entry_reg(struct store_entry *e)
{
	return (struct crdt_lwwreg *)((uint8_t *)e + REG_OFFSET(e->name_len));
}

/* Whether @in is the register inside @e's allocation. */
static bool inst_inside(struct store_entry *e, const struct store_inst *in)
{
	return in == &e->one && e->reg_room && in->obj.p == entry_reg(e);
}

/* Whether a new instance of @t in the unused @in of @e goes inside @e. */
static bool goes_inside(struct store_entry *e, const struct store_inst *in, enum crdt_type t)
{
	return t == CRDT_LWWREG && in == &e->one && e->reg_room;
}

/* A new empty instance of @t in the unused @in of @e: the register inside
 * the entry when there is room for it, else crdt_obj_new's. */
static int inst_new(struct store_entry *e, struct store_inst *in, enum crdt_type t)
{
	int r;

	if (!goes_inside(e, in, t)) {
		/* its fingerprint while it is empty (nothing to hash): the
		 * writes after it keep a set's or a hash's up to date, where
		 * the first digest refresh would compute it whole, in one call
		 * (14 ms at 1,000,000 members on the writer) */
		if ((r = crdt_obj_new(t, &in->obj)) == 0)
			(void)crdt_obj_fingerprint(&in->obj);
		return r;
	}
	crdt_lwwreg_init(entry_reg(e));
	in->obj = (struct crdt_obj){ .type = t, .lww = entry_reg(e) };
	return 0;
}

/* A copy of @src in the unused @in of @e, as inst_new places it. */
static int inst_copy(struct store_entry *e, struct store_inst *in, const struct crdt_obj *src)
{
	int r;

	if (!goes_inside(e, in, src->type))
		return crdt_obj_copy(src, &in->obj);
	inst_new(e, in, src->type); /* cannot fail: in place */
	if ((r = crdt_obj_merge(&in->obj, src)) < 0) {
		crdt_lwwreg_done(in->obj.lww);
		in->obj = (struct crdt_obj){ 0 };
	}
	return r;
}

static void entry_free(struct store_entry *e)
{
	struct store_inst *more;

	if (!e)
		return;
	more = more_of(e);
	if (inst_inside(e, &e->one))
		crdt_lwwreg_done(e->one.obj.lww);
	else
		crdt_obj_done(&e->one.obj);
	for (int i = 0; more && i < STORE_MORE; i++)
		crdt_obj_done(&more[i].obj);
	free(more);
	free(e->x);
	free(e);
}

/* Tables from 2 MiB on are mapped on their own, in huge pages where the
 * kernel gives them: calloc'd, a 32 MiB table was 8,192 page faults of 4 KiB
 * at its first write, most of a growth's 110-150 ms at 1,700,000 names on a
 * VM (the element table's lesson, src/crdt/elemtab.h). */
#define TABLE_MAP_MIN ((size_t)2 << 20)

static struct store_slot *table_alloc(size_t cap, bool *ret_mapped)
{
	size_t sz = cap * sizeof(struct store_slot);
	void *p;

	*ret_mapped = false;
	if (sz >= TABLE_MAP_MIN) {
		p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED) {
#ifdef MADV_HUGEPAGE
			(void)madvise(p, sz, MADV_HUGEPAGE);
#endif
			*ret_mapped = true;
			return p;
		}
	}
	return calloc(cap, sizeof(struct store_slot));
}

static void table_free(struct store_slot *t, size_t cap, bool mapped)
{
	if (mapped)
		munmap(t, cap * sizeof(*t));
	else
		free(t);
}

/* Slot @i in a walk's order: the old table's while a rehash runs, then
 * the new one's. */
static struct store_slot *slot_at(const struct store *s, size_t i)
{
	return i < s->ocap ? &s->old[i] : &s->table[i - s->ocap];
}

void store_done(struct store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ocap + s->cap; i++)
		entry_free(store_slot_entry(slot_at(s, i)));
	table_free(s->table, s->cap, s->table_mapped);
	if (s->ocap)
		table_free(s->old, s->ocap, s->old_mapped);
	if (s->ahead)
		table_free(s->ahead, s->ahead_cap, true);
	free(s->heap);
	free(s->rq);
	forget_done(&s->forgot);
	*s = (struct store){ 0 };
}

/* The bits of @h a slot keeps (the slot's index uses the low ones). */
static uint64_t slot_tag(uint64_t h)
{
	return h >> STORE_SLOT_PTR_BITS << STORE_SLOT_PTR_BITS;
}

/* The slot of a reclaimed entry: a tag and no entry, so probes go on past
 * it and walks skip it; it stays until the table is rebuilt. */
#define SLOT_TOMB ((uint64_t)1 << STORE_SLOT_PTR_BITS)

/* Slot index of @name in @t (of @cap slots), or of the empty slot where
 * it would go. */
static size_t find_slot(const struct store_slot *t, size_t cap, const void *name, size_t len,
			uint64_t h)
{
	size_t mask = cap - 1;
	uint64_t tag = slot_tag(h);

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		const struct store_slot *sl = &t[i];
		const struct store_entry *e = store_slot_entry(sl);
		if (!sl->v || (e && slot_tag(sl->v) == tag && e->name_len == len &&
			       memcmp(e->name, name, len) == 0))
			return i;
	}
}

/* The slot where @h's probe most likely finds its name: the old table's
 * while the rehash has not reached it, else the new one's. */
static const struct store_slot *home_slot(const struct store *s, uint64_t h)
{
	if (s->ocap && (h & (s->ocap - 1)) >= s->opos)
		return &s->old[h & (s->ocap - 1)];
	return &s->table[h & (s->cap - 1)];
}

/* The slot holding @name, in the old table (*@in_old) or the new one, or
 * NULL. */
static struct store_slot *lookup(const struct store *s, const void *name, size_t len,
				 uint64_t h, bool *in_old)
{
	struct store_slot *sl;

	*in_old = false;
	if (!s->cap)
		return NULL;
	if (s->ocap && (sl = &s->old[find_slot(s->old, s->ocap, name, len, h)])->v) {
		*in_old = true;
		return sl;
	}
	sl = &s->table[find_slot(s->table, s->cap, name, len, h)];
	return sl->v ? sl : NULL;
}

void store_prefetch(const struct store *s, const void *name, size_t len, bool entry)
{
	uint64_t h;
	const struct store_slot *sl;

	if (!s->cap)
		return;
	h = name_hash(s, name, len);
	sl = home_slot(s, h);
	if (!entry) {
		__builtin_prefetch(sl);
	} else if (sl->v && slot_tag(sl->v) == slot_tag(h)) {
		/* the instance, then the name (offset 73) */
		const uint8_t *e = (const uint8_t *)store_slot_entry(sl);
		__builtin_prefetch(e);
		__builtin_prefetch(e + 64);
	}
}

struct store_entry *store_find(const struct store *s, const void *name, size_t len)
{
	bool in_old;
	struct store_slot *sl = lookup(s, name, len, name_hash(s, name, len), &in_old);

	return sl ? store_slot_entry(sl) : NULL;
}

/* Rebuilding the table (rehash_begin) without its tombstones, at the
 * smallest size the names fill to at most 13/32, half the load that
 * rebuilds it (so a table that grew past 13/16 doubles; before, 5/16 made
 * it four times larger or more); its size always changes: twice as large
 * when that is the same size.
 *
 * The names move incrementally, as Redis's dict rehashes: REHASH_PER_ADD
 * slots of the old table at each new name, and store_rehash's slices,
 * which the daemon runs every loop pass while a rehash is under way.  At
 * 1,720,000 names one rebuild in one call held the loop 89-125 ms
 * (docs/benchmarks.md).  A moved slot becomes a tombstone in the old
 * table, so that probes there go on past it.  The new table has room for
 * the names added before the rehash ends: it fills from 13/32 to 13/16
 * only after 13/16 of the old table's size in new names, and by then
 * REHASH_PER_ADD slots a name have moved every slot (after 4 KiB a name
 * of a mapped new table brought in first, fault_in: 1/32 as many names).
 * Should it fill first all the same, the rehash ends in that call.  Tables up to
 * REHASH_AT_ONCE slots move in the call (64 KiB, about 0.2 ms). */
#define REHASH_PER_ADD 16
#define REHASH_AT_ONCE 8192
#define GROW_AHEAD 16

/* The hash of the entry in old slot @i (0 if none), its home in the new
 * table loaded meanwhile. */
static uint64_t move_hash(const struct store *s, size_t i)
{
	struct store_entry *e = store_slot_entry(&s->old[i]);
	uint64_t h;

	if (!e)
		return 0;
	h = name_hash(s, e->name, e->name_len);
	__builtin_prefetch(&s->table[h & (s->cap - 1)], 1);
	return h;
}

/* Move the names of old slots [@from, @to) into the new table.  Each name
 * is read for its hash, and its new slot is anywhere in the new table: two
 * cache misses a name (78 ns at 1,700,000 names).  So the entry 2 *
 * GROW_AHEAD slots on is loaded ahead, the one GROW_AHEAD on is hashed and
 * its new home loaded, and this one is placed with the hash kept for it. */
static void move_slots(struct store *s, size_t from, size_t to)
{
	uint64_t hs[GROW_AHEAD];

	for (size_t i = from; i < from + GROW_AHEAD && i < to; i++)
		hs[i % GROW_AHEAD] = move_hash(s, i);
	for (size_t i = from; i < to; i++) {
		struct store_entry *e;
		if (i + 2 * GROW_AHEAD < to && (e = store_slot_entry(&s->old[i + 2 * GROW_AHEAD])))
			__builtin_prefetch(e->name);
		if ((e = store_slot_entry(&s->old[i]))) {
			uint64_t h = hs[i % GROW_AHEAD];
			s->table[find_slot(s->table, s->cap, e->name, e->name_len, h)] = s->old[i];
			s->old[i].v = SLOT_TOMB;
			s->olen--;
		}
		if (i + GROW_AHEAD < to) /* the ring's slot just read */
			hs[i % GROW_AHEAD] = move_hash(s, i + GROW_AHEAD);
	}
}

/* Bring the next pages of a mapped new table into memory, about @bytes;
 * whether some are left.  A fresh mapping's pages are faulted in (and
 * zeroed) at their first write, and the names moved in one slice land all
 * over the table: the first slice at 1,720,000 names took 2-3 ms of page
 * faults (16 huge pages), so the table is brought in first, a slice's
 * share at a time, before names move. */
static bool fault_in(struct store *s, size_t bytes)
{
	size_t size = s->cap * sizeof(*s->table);
	uint8_t *p = (uint8_t *)s->table + s->faulted;

	if (!s->table_mapped || s->faulted >= size)
		return false;
	if (bytes > size - s->faulted)
		bytes = size - s->faulted;
	bytes = (bytes + 4095) & ~(size_t)4095;
#ifdef MADV_POPULATE_WRITE
	if (madvise(p, bytes, MADV_POPULATE_WRITE) < 0)
#endif
		for (size_t i = 0; i < bytes; i += 4096) /* names may be there */
			((volatile uint8_t *)p)[i] = ((volatile uint8_t *)p)[i];
	s->faulted += bytes;
	return s->faulted < size;
}

bool store_rehash(struct store *s, size_t slots)
{
	size_t end;

	if (!s->ocap)
		return false;
	/* 256 bytes a slot's budget: a huge page (2 MiB) a slice of 8,192 */
	if (fault_in(s, slots < SIZE_MAX / 256 ? slots * 256 : SIZE_MAX))
		return true;
	end = s->olen && slots < s->ocap - s->opos ? s->opos + slots : s->ocap;
	move_slots(s, s->opos, end);
	s->opos = end;
	if (s->opos < s->ocap)
		return true;
	table_free(s->old, s->ocap, s->old_mapped);
	s->old = NULL;
	s->ocap = s->opos = s->olen = 0;
	s->tgen++;
	return false;
}

/* The size of the table a rehash with @len names builds. */
static size_t rehash_cap(const struct store *s, size_t len)
{
	size_t cap = 64;

	while (len * 32 > cap * 13)
		cap *= 2;
	return cap == s->cap ? 2 * cap : cap;
}

/* A mapped table's fresh pages are faulted in at their first write: on a
 * VM whose host backs the guest's memory lazily, 2.9-3.9 ms a huge page
 * (2 MiB), and the names added during a rehash land all over the new
 * table, so a catch-up of 1,000,000 names had single datagrams of 28
 * names wait 4-12 ms for them.  So from 11/16 of the table's load (the
 * rehash begins at 13/16) the next table is mapped and handed to the
 * populate hook, which faults it in on the thread pool; the rehash takes
 * it if its size is still the one needed (what it has not faulted in yet
 * is faulted in as without it: fault_in, the names' first writes). */
static void prepare_ahead(struct store *s)
{
	/* what rehash_cap gives for the names at 13/16: twice this table */
	size_t cap = 2 * s->cap;
	bool mapped;

	/* every write's lookup (find_or_add) comes here: the cheap tests first */
	if (s->ahead || s->ocap || !s->populate || (s->len + s->tombs + 1) * 16 <= s->cap * 11 ||
	    cap * sizeof(struct store_slot) < TABLE_MAP_MIN)
		return;
	if (!(s->ahead = table_alloc(cap, &mapped)))
		return; /* the rehash maps its own, if it can */
	if (!mapped) {
		table_free(s->ahead, cap, false);
		s->ahead = NULL;
		return;
	}
	s->ahead_cap = cap;
	s->stats.tables_ahead++;
	s->populate(s->ahead, cap * sizeof(struct store_slot));
}

/* The table a rehash to @cap slots builds into: the one mapped ahead if
 * it has that size (*@mapped set), else a new one. */
static struct store_slot *next_table(struct store *s, size_t cap, bool *mapped)
{
	struct store_slot *t = s->ahead;

	if (t && s->ahead_cap == cap) {
		s->ahead = NULL;
		*mapped = true;
		return t;
	}
	if (t) {
		table_free(t, s->ahead_cap, true);
		s->ahead = NULL;
	}
	return table_alloc(cap, mapped);
}

static int rehash_begin(struct store *s)
{
	size_t cap;
	struct store_slot *t;
	bool mapped;

	store_rehash(s, SIZE_MAX); /* one under way ends first */
	cap = rehash_cap(s, s->len);
	if (!(t = next_table(s, cap, &mapped)))
		return -ENOMEM;
	s->old = s->table;
	s->ocap = s->cap;
	s->old_mapped = s->table_mapped;
	s->opos = 0;
	s->olen = s->len;
	s->table = t;
	s->cap = cap;
	s->table_mapped = mapped;
	s->faulted = 0;
	s->tombs = 0;
	s->tgen++;
	if (!s->ocap) /* the first table */
		s->tgen++;
	else if (s->ocap <= REHASH_AT_ONCE)
		store_rehash(s, SIZE_MAX);
	return 0;
}

int store_reserve(struct store *s, size_t names)
{
	size_t cap = 64;
	struct store_slot *t;
	bool mapped;

	if (s->len || s->ocap || s->tombs || names > SIZE_MAX / 32)
		return 0;
	while (cap < SIZE_MAX / 32 && names * 16 > cap * 13)
		cap *= 2;
	if (cap <= s->cap)
		return 0;
	if (!(t = table_alloc(cap, &mapped)))
		return -ENOMEM;
	if (s->table)
		table_free(s->table, s->cap, s->table_mapped);
	if (s->ahead) { /* made for the table just dropped */
		table_free(s->ahead, s->ahead_cap, true);
		s->ahead = NULL;
	}
	s->table = t;
	s->cap = cap;
	s->table_mapped = mapped;
	s->tgen += 2; /* as a first table */
	/* the names that come land all over it: its pages are faulted in off
	 * the loop meanwhile, as a table made ahead (prepare_ahead) */
	if (mapped && s->populate)
		s->populate(t, cap * sizeof(*t));
	return 0;
}

/* A register's entry with a 10-byte name ("reg:000001") and the register
 * inside is one 120-byte malloc request, a 128-byte chunk: keep it so
 * (docs/benchmarks.md, memory per key). */
_Static_assert(offsetof(struct store_entry, name) + 11 <= 88 &&
		       REG_OFFSET(10) + sizeof(struct crdt_lwwreg) <= 120,
	       "struct store_entry grew: a 10-byte name and its register no longer fit a "
	       "128-byte chunk");

/* The entry for @name, created empty when absent, with room for a register
 * after the name when @t (the type about to be created in it, 0 if not
 * known) is CRDT_LWWREG. */
static int find_or_add(struct store *s, const void *name, size_t len, enum crdt_type t,
		       struct store_entry **ret)
{
	uint64_t h = name_hash(s, name, len);
	struct store_slot *sl;
	size_t i;

	if (len > UINT32_MAX)
		return -EINVAL;
	store_rehash(s, REHASH_PER_ADD);
	/* keep the new table's load (tombstones too) under 13/16: a probe
	 * reads 8-byte slots in a row and their hash tags spare it the other
	 * names' entries, so the longer runs of a fuller table cost little
	 * (docs/benchmarks.md, memory per key part 6), and the table is 10 to
	 * 20 bytes a name instead of 13 to 26 */
	if ((s->len - s->olen + s->tombs + 1) * 16 > s->cap * 13 && rehash_begin(s) < 0)
		return -ENOMEM;
	prepare_ahead(s);
	if (s->ocap && (sl = &s->old[find_slot(s->old, s->ocap, name, len, h)])->v) {
		*ret = store_slot_entry(sl);
		return 0;
	}
	i = find_slot(s->table, s->cap, name, len, h);
	if (!s->table[i].v) {
		/* a new name takes the first tombstone on its probe, if any,
		 * so that churn does not fill the table with them */
		for (size_t j = h & (s->cap - 1); j != i; j = (j + 1) & (s->cap - 1))
			if (s->table[j].v == SLOT_TOMB) {
				i = j;
				break;
			}
		/* the name starts in the struct's tail padding */
		size_t size = t == CRDT_LWWREG ? REG_OFFSET(len) + sizeof(struct crdt_lwwreg)
					       : offsetof(struct store_entry, name) + len + 1;
		struct store_entry *e = calloc(1, size > sizeof(*e) ? size : sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->reg_room = t == CRDT_LWWREG;
		if ((uint64_t)(uintptr_t)e >> STORE_SLOT_PTR_BITS) {
			free(e); /* an address the slot cannot hold */
			return -ENOMEM;
		}
		memcpy(e->name, name, len);
		e->name[len] = 0;
		e->name_len = (uint32_t)len;
		s->tombs -= s->table[i].v == SLOT_TOMB;
		s->table[i] = (struct store_slot){ .v = slot_tag(h) | (uint64_t)(uintptr_t)e };
		s->len++;
	}
	*ret = store_slot_entry(&s->table[i]);
	return 0;
}

/* Process-wide, as the wall clock is: store_entry_type has no store. */
static crdt_clock_fn clock_fn = crdt_clock_realtime;
static void *clock_ctx;

void store_set_clock(crdt_clock_fn clock, void *ctx)
{
	clock_fn = clock ? clock : crdt_clock_realtime;
	clock_ctx = ctx;
}

static int64_t now_ms(void)
{
	uint64_t ms = clock_fn(clock_ctx);
	return ms > INT64_MAX ? INT64_MAX : (int64_t)ms;
}

bool store_name_reserved(const void *name, size_t len)
{
	return len >= STORE_TTL_PREFIX_LEN && memcmp(name, STORE_TTL_PREFIX, STORE_TTL_PREFIX_LEN) == 0;
}

/* Whether @e's deadline has passed: it is absent, whatever it holds. */
static bool entry_expired(const struct store_entry *e)
{
	int64_t d = deadline_of(e);

	return d && d <= now_ms();
}

/* The visible type, before the deadline is considered. */
static enum crdt_type live_type(const struct store_entry *e)
{
	enum crdt_type t = e->one.obj.p && crdt_obj_live(&e->one.obj) ? e->one.obj.type : 0;
	const struct store_inst *more = more_of(e);

	for (int i = 0; more && i < STORE_MORE; i++)
		if (more[i].obj.p && (!t || more[i].obj.type < t) && crdt_obj_live(&more[i].obj))
			t = more[i].obj.type;
	return t;
}

/* Count @e in the keyspace under type @t (0: not), @exp with a deadline. */
static void ks_count(struct store *s, struct store_entry *e, enum crdt_type t, bool exp)
{
	if (e->ks_type) {
		s->ks.keys--;
		s->ks.by_type[e->ks_type]--;
	}
	s->ks.expires -= e->ks_exp;
	if (t) {
		s->ks.keys++;
		s->ks.by_type[t]++;
	}
	s->ks.expires += exp;
	e->ks_type = t;
	e->ks_exp = exp;
}

/* Count @e as it is now, ignoring the clock (store_keyspace takes off the
 * names past their deadline): after every change to what it holds or to
 * its deadline. */
static void ks_note(struct store *s, struct store_entry *e)
{
	enum crdt_type t = store_name_reserved(e->name, e->name_len) ? 0 : live_type(e);

	ks_count(s, e, t, t && deadline_of(e));
}

enum crdt_type store_entry_type(const struct store_entry *e)
{
	if (e->name[0] == 0xff && store_name_reserved(e->name, e->name_len))
		return 0;
	if (entry_expired(e))
		return 0;
	return live_type(e);
}

/* Whether the entry holds any instance, live or deleted. */
static bool entry_used(const struct store_entry *e)
{
	const struct store_inst *more = more_of(e);

	if (e->one.obj.p)
		return true;
	for (int i = 0; more && i < STORE_MORE; i++)
		if (more[i].obj.p)
			return true;
	return false;
}

struct store_inst *store_entry_inst(struct store_entry *e, enum crdt_type t)
{
	struct store_inst *more;

	if (e->one.obj.p && e->one.obj.type == t)
		return &e->one;
	more = more_of(e);
	for (int i = 0; more && i < STORE_MORE; i++)
		if (more[i].obj.p && more[i].obj.type == t)
			return &more[i];
	return NULL;
}

struct crdt_obj *store_entry_slot(struct store_entry *e, enum crdt_type t)
{
	struct store_inst *in = store_entry_inst(e, t);

	return in ? &in->obj : NULL;
}

/* Count the live instances, to notice a name that has come to hold two
 * types (a deleted one conflicts with nothing). */
static int insts_live(const struct store_entry *e)
{
	const struct store_inst *more = more_of(e);
	int n = e->one.obj.p && crdt_obj_live(&e->one.obj);

	for (int i = 0; more && i < STORE_MORE; i++)
		n += more[i].obj.p && crdt_obj_live(&more[i].obj);
	return n;
}

/* An unused instance of @e to fill with a new type, NULL on -ENOMEM. */
static struct store_inst *inst_free(struct store_entry *e)
{
	struct store_extra *x;

	if (!e->one.obj.p)
		return &e->one;
	if (!(x = extra(e)) || (!x->more && !(x->more = calloc(STORE_MORE, sizeof(*x->more)))))
		return NULL;
	for (int i = 0; i < STORE_MORE; i++)
		if (!x->more[i].obj.p)
			return &x->more[i];
	return NULL; /* not reached: a name holds each type at most once */
}

static int expire_entry(struct store *s, struct store_entry *e, bool always);
static bool reclaimed_record(struct store *s, const void *name, size_t len,
			     const struct crdt_obj *remote);
static void reclaim_note(struct store *s, struct store_entry *e);

int store_get(struct store *s, const void *name, size_t len, enum crdt_type t, bool create,
	      struct crdt_obj **ret)
{
	struct store_entry *e = store_find(s, name, len);
	struct store_inst *in;
	enum crdt_type vis;
	int r;

	/* a write on a name past its deadline follows its expiry (also one
	 * spent while it still holds nothing live: the write deletes the
	 * deadline it follows; a write that arrived since is kept) */
	if (e && create && (entry_expired(e) || (e->x && e->x->spent && !live_type(e))) &&
	    (r = expire_entry(s, e, true)) < 0)
		return r;
	vis = e ? store_entry_type(e) : 0;
	if (vis) {
		if (vis != t)
			return CRDT_ETYPE;
		*ret = store_entry_slot(e, t);
		return 0;
	}
	if (!create)
		return -ENOENT;
	if (!e && (r = find_or_add(s, name, len, t, &e)) < 0)
		return r;
	/* absent: a deleted instance of @t is written on after its delete */
	if ((in = store_entry_inst(e, t))) {
		*ret = &in->obj;
		return 0;
	}
	if (!(in = inst_free(e)))
		return -ENOMEM;
	if ((r = inst_new(e, in, t)) < 0)
		return r; /* the empty entry stays; it holds no type and is skipped */
	s->stats.by_type[t]++;
	*ret = &in->obj;
	return 0;
}

enum crdt_type store_entry_undeletable(struct store_entry *e)
{
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		struct store_inst *in = store_entry_inst(e, t);
		if (in && !crdt_obj_can_clear(&in->obj))
			return t;
	}
	return 0;
}

void store_set_lazyfree(struct store *s, void (*free)(void *ctx, struct crdt_obj *husk),
			void *ctx)
{
	s->lazyfree = free;
	s->lazyfree_ctx = ctx;
}

/* A set's members or a map's fields: what a delete frees (a map's
 * baselines stay), unlike crdt_obj_parts. */
static size_t members(const struct crdt_obj *o)
{
	return o->type == CRDT_ORMAP ? crdt_ormap_len(o->om) : crdt_obj_card(o);
}

/* crdt_obj_clear of @o, a large one's members handed to the lazyfree hook. */
static int clear_inst(struct store *s, struct crdt_obj *o)
{
	struct crdt_obj husk;
	int r;

	if (!s->lazyfree || members(o) < STORE_LAZYFREE_PARTS)
		return crdt_obj_clear(o);
	r = crdt_obj_clear_detach(o, &husk);
	if (husk.p) {
		s->stats.lazyfree_handed++;
		s->lazyfree(s->lazyfree_ctx, &husk);
	}
	return r;
}

/* Before merging @remote into @o: what the merge would remove, when that
 * is all or nearly all of a large @o (a DEL elsewhere; members added here
 * concurrently are kept), handed to the lazyfree hook. */
static int detach_removed(struct store *s, struct crdt_obj *o, const struct crdt_obj *remote)
{
	struct crdt_obj husk;
	size_t n = members(o);
	int r;

	if (!s->lazyfree || n < STORE_LAZYFREE_PARTS)
		return 0;
	r = crdt_obj_detach_removed(o, remote, n / STORE_LAZYFREE_KEPT, &husk);
	if (husk.p) {
		s->stats.lazyfree_handed++;
		s->lazyfree(s->lazyfree_ctx, &husk);
	}
	return r < 0 ? r : 0;
}

/* store_del of @e, which may be a hidden one (expiry's). */
static int del_entry(struct store *s, struct store_entry *e)
{
	bool was;
	int r;

	if (store_entry_undeletable(e))
		return -EOPNOTSUPP;
	was = store_entry_type(e) != 0;
	/* every type the name holds: a type conflict ends with the delete */
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		struct store_inst *in = store_entry_inst(e, t);

		if (!in)
			continue;
		if ((r = clear_inst(s, &in->obj)) < 0)
			return r;
		if (r > 0)
			store_changed(s, e, t,
				      &(struct store_change){ .op = STORE_OP_CLEAR, .state = &in->obj });
	}
	return was;
}

int store_del(struct store *s, const void *name, size_t len)
{
	struct store_entry *e = store_find(s, name, len);

	if (!e || store_name_reserved(name, len))
		return 0;
	return del_entry(s, e);
}

static void deadline_changed(struct store *s, struct store_entry *comp);
static void heap_push(struct store *s, struct store_entry *e);
static void reclaim_note(struct store *s, struct store_entry *e);

void store_changed(struct store *s, struct store_entry *e, enum crdt_type t,
		   const struct store_change *c)
{
	if (e->name[0] == 0xff && store_name_reserved(e->name, e->name_len)) {
		deadline_changed(s, e);
		if (s->reclaim_ms)
			reclaim_note(s, store_find(s, e->name + STORE_TTL_PREFIX_LEN,
						   e->name_len - STORE_TTL_PREFIX_LEN));
	} else {
		if (deadline_of(e) && !hpos_of(e))
			heap_push(s, e); /* state for a name already past its deadline */
		if (s->reclaim_ms)
			reclaim_note(s, e);
		ks_note(s, e);
	}
	for (size_t i = 0; i < s->nsubs; i++)
		s->subs[i].changed(s->subs[i].ctx, e, t, c);
}

struct crdt_obj *store_delta(struct store *s, struct store_entry *e, enum crdt_type t, bool *own)
{
	struct crdt_obj *acc = NULL;
	size_t join = s->nsubs;

	*own = false;
	for (size_t i = 0; i < s->nsubs && !*own; i++) {
		enum store_delta_use u = s->subs[i].delta
						 ? s->subs[i].delta(s->subs[i].ctx, e, t, NULL)
						 : STORE_DELTA_NONE;
		if (u == STORE_DELTA_OWN || (u == STORE_DELTA_JOIN && join < s->nsubs))
			*own = true; /* two joins: each takes the delta from the change */
		else if (u == STORE_DELTA_JOIN)
			join = i;
	}
	if (*own || join == s->nsubs)
		return NULL;
	if (s->subs[join].delta(s->subs[join].ctx, e, t, &acc) != STORE_DELTA_JOIN || !acc) {
		*own = true;
		return NULL;
	}
	return acc;
}

/* Where @size bytes of a room of @cap go, aligned for @size, overlapping
 * no share the subscribers hold (@inst: the instance's room, else the
 * entry's); -1 if nowhere.  A share of 8 bytes or more goes as low as it
 * fits, a smaller one as high, so that the small ones leave the 8-aligned
 * offsets to the large, in whatever order they come. */
static int room_fit(const struct store *s, bool inst, unsigned size, unsigned cap)
{
	unsigned align = size >= 8 ? 8 : size >= 4 ? 4 : size >= 2 ? 2 : 1;
	unsigned top = (cap - size) / align;

	for (unsigned k = 0; k <= top && size <= cap; k++) {
		unsigned off = (size >= 8 ? k : top - k) * align;
		bool clear = true;
		for (size_t i = 0; i < s->nsubs && clear; i++) {
			unsigned o = inst ? s->rooms[i].inst : s->rooms[i].entry;
			unsigned n = inst ? s->subs[i].inst_room : s->subs[i].entry_room;
			clear = off + size <= o || o + n <= off;
		}
		if (clear)
			return (int)off;
	}
	return -1;
}

struct room_zero {
	struct store_room at;
	const struct store_sub *sub;
};

static int room_zero_cb(struct store_entry *e, void *ctx)
{
	const struct room_zero *z = ctx;
	struct store_inst *more = more_of(e);

	memset(store_entry_room(e, z->at.entry), 0, z->sub->entry_room);
	memset(store_inst_room(&e->one, z->at.inst), 0, z->sub->inst_room);
	for (int i = 0; more && i < STORE_MORE; i++)
		memset(store_inst_room(&more[i], z->at.inst), 0, z->sub->inst_room);
	return 0;
}

int store_subscribe(struct store *s, const struct store_sub *sub, struct store_room *room)
{
	int inst = 0, entry = 0;

	if (s->nsubs == STORE_SUBS_MAX)
		return -ENOSPC;
	if ((sub->inst_room && (inst = room_fit(s, true, sub->inst_room, STORE_INST_ROOM)) < 0) ||
	    (sub->entry_room &&
	     (entry = room_fit(s, false, sub->entry_room, STORE_ENTRY_ROOM)) < 0))
		return -ENOSPC;
	struct room_zero z = { .at = { .inst = (uint8_t)inst, .entry = (uint8_t)entry },
			       .sub = sub };
	/* bytes a share held before may hold a former subscriber's fields */
	uint32_t inst_bytes = sub->inst_room ? (uint32_t)((1ULL << sub->inst_room) - 1) << inst : 0;
	uint32_t entry_bytes = sub->entry_room ? (uint32_t)((1ULL << sub->entry_room) - 1) << entry
					       : 0;
	if ((inst_bytes & s->room_used_inst) || (entry_bytes & s->room_used_entry))
		store_foreach(s, room_zero_cb, &z);
	s->room_used_inst |= inst_bytes;
	s->room_used_entry |= entry_bytes;
	s->rooms[s->nsubs] = z.at;
	s->subs[s->nsubs++] = *sub;
	if (room)
		*room = z.at;
	return 0;
}

void store_unsubscribe(struct store *s, void *ctx)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nsubs; i++)
		if (s->subs[i].ctx != ctx) {
			s->rooms[n] = s->rooms[i];
			s->subs[n++] = s->subs[i];
		}
	s->nsubs = n;
}

/* Another history was written under our id (see store.h): never write
 * under it again.  What it wrote merges in as any other replica's writes. */
static void change_rid(struct store *s, const void *name, size_t len)
{
	char was[CRDT_RID_STRLEN], now[CRDT_RID_STRLEN];

	crdt_rid_format(&s->self, was);
	crdt_rid_generate(&s->self);
	crdt_rid_format(&s->self, now);
	s->stats.rid_changes++;
	log_error("store",
		  "\"%.*s\" from a peer holds writes of our replica id %s that this replica never "
		  "made: another process writes (or wrote) under the same id, e.g. a clone or a "
		  "rolled-back snapshot of this one. Writing as %s from now on; both histories "
		  "are kept", (int)(len > 64 ? 64 : len), (const char *)name, was, now);
}

/* store_merge and its kin: @remote is only read, except that with @take
 * (store_merge_take: @remote itself) a new instance takes its state (moved,
 * @take emptied) where it goes outside its entry. */
static int merge_remote(struct store *s, const void *name, size_t len,
			const struct crdt_obj *remote, struct crdt_obj *take, const uint8_t *enc,
			size_t enc_len)
{
	const struct crdt_obj *state = remote; /* what is announced as merged */
	struct store_entry *e;
	struct store_inst *in;
	enum crdt_type t = remote->type;
	bool created = false;
	int r, live;

	if (t < CRDT_TYPE_MIN || t > CRDT_TYPE_MAX)
		return CRDT_EINVAL;
	if (s->reclaim_ms && reclaimed_record(s, name, len, remote)) {
		s->stats.reclaim_dropped++;
		return 0;
	}
	if ((r = find_or_add(s, name, len, t, &e)) < 0)
		return r;
	/* State for a name past its deadline here, not swept yet: the expiry
	 * comes first, as before a local write.  What we held goes (or, with
	 * nothing live, the deadline is spent); what arrives may be a write
	 * made after the deadline where it was written (its writer expired the
	 * name first), and must not go with it. */
	if (entry_expired(e) && !store_name_reserved(name, len) &&
	    (r = expire_entry(s, e, false)) < 0)
		return r;
	in = store_entry_inst(e, t);
	live = more_of(e) ? insts_live(e) : 0; /* no conflict without a second instance */
	if (crdt_obj_knows_more_of(remote, in ? &in->obj : NULL, &s->self))
		change_rid(s, name, len);
	if (!in) {
		if (!(in = inst_free(e)))
			return -ENOMEM;
		if (take && !goes_inside(e, in, t)) {
			in->obj = *take; /* its value: what the subscribers are told */
			*take = (struct crdt_obj){ 0 };
			state = &in->obj;
		} else if ((r = inst_copy(e, in, remote)) < 0) {
			return r;
		}
		/* A set's or a hash's fingerprint now, while it is the size of
		 * what came (a delta, a piece), as inst_new's: the merges after
		 * it keep it up to date (orset/internal.h), where the first
		 * digest refresh would compute it whole at its full size, in one
		 * call (20-30 ms at 1,000,000 members on a peer).  The other
		 * types keep none: theirs is computed at the refresh. */
		if (t == CRDT_ORSET || t == CRDT_ORMAP)
			(void)crdt_obj_fingerprint(&in->obj);
		s->stats.by_type[t]++;
		created = true;
	} else {
		/* what a DEL elsewhere removed, all of it or all but a few:
		 * emptied here first, the members handed over as a local
		 * DEL's are */
		if ((r = detach_removed(s, &in->obj, remote)) < 0)
			return r;
		if ((r = crdt_obj_merge(&in->obj, remote)) < 0)
			return r;
	}
	if (live < 2 && more_of(e) && insts_live(e) >= 2)
		s->stats.conflicts++;
	s->stats.merges++;
	store_changed(s, e, t, &(struct store_change){ .remote = true, .op = STORE_OP_STATE,
						      .state = state, .enc = enc,
						      .enc_len = enc_len, .created = created });
	return 0;
}

/* A set's, a hash's or a G-Set's size (0 for the other types): states of
 * different sizes differ, told without a fingerprint (a catch-up's piece
 * of a large set, a delta).  Only these types list elements in an order
 * that depends on the hash key: the others' bytes are the same on every
 * replica, and record_unchanged() tells theirs already. */
static size_t elems_of(const struct crdt_obj *o)
{
	switch (o->type) {
	case CRDT_GSET:
		return crdt_gset_card(o->gs);
	case CRDT_ORSET:
		return crdt_orset_card(o->os);
	case CRDT_ORMAP:
		return crdt_ormap_parts(o->om);
	default:
		return 0;
	}
}

bool store_holds(struct store *s, const void *name, size_t len, const struct crdt_obj *remote)
{
	size_t n = elems_of(remote);
	struct store_entry *e = n ? store_find(s, name, len) : NULL;
	struct store_inst *in = e ? store_entry_inst(e, remote->type) : NULL;

	return in && !entry_expired(e) && elems_of(&in->obj) == n &&
	       crdt_obj_fingerprint(&in->obj) == crdt_obj_fingerprint(remote);
}

int store_merge(struct store *s, const void *name, size_t len, const struct crdt_obj *remote)
{
	return merge_remote(s, name, len, remote, NULL, NULL, 0);
}

int store_merge_encoded(struct store *s, const void *name, size_t len,
			const struct crdt_obj *remote, const uint8_t *enc, size_t enc_len)
{
	return merge_remote(s, name, len, remote, NULL, enc, enc_len);
}

int store_merge_take(struct store *s, const void *name, size_t len, struct crdt_obj *remote,
		     const uint8_t *enc, size_t enc_len)
{
	return merge_remote(s, name, len, remote, remote, enc, enc_len);
}

void store_walk_start(const struct store *s, struct store_walk *w)
{
	*w = (struct store_walk){ .ocap = s->ocap, .tgen = s->tgen };
}

/* Keep @w's place across what happened to the tables since it moved. */
static void walk_keep_place(const struct store *s, struct store_walk *w)
{
	if (w->tgen == s->tgen)
		return;
	if (w->tgen + 1 == s->tgen && s->ocap && !w->ocap) {
		/* a rehash began from the table the walk was in: the old one
		 * now, walked first, and what moves goes to the one after */
	} else if (w->tgen + 1 == s->tgen && !s->ocap && w->ocap) {
		/* the rehash ended: all the old table held is in the new one */
		w->pos = w->pos < w->ocap ? 0 : w->pos - w->ocap;
	} else {
		w->pos = 0;
		w->restarts++;
	}
	w->ocap = s->ocap;
	w->tgen = s->tgen;
}

/* Slots a walk reads ahead of the one it is at, to fetch their entries:
 * the slots lie in order, their entries anywhere in the heap, a cache miss
 * each in a large store (the digest's refresh walk spent most of its time
 * on them: bench/digest_cost). */
#define WALK_AHEAD 8

/* The entry in use at slot @i of a walk that ends at @end, or NULL; the
 * entry WALK_AHEAD slots on is fetched meanwhile. */
static struct store_entry *walk_at(const struct store *s, size_t i, size_t end)
{
	struct store_entry *e;

	if (i + WALK_AHEAD < end && (e = store_slot_entry(slot_at(s, i + WALK_AHEAD)))) {
		/* the entry and a register kept after its name */
		__builtin_prefetch(e);
		__builtin_prefetch((const uint8_t *)e + 64);
	}
	e = store_slot_entry(slot_at(s, i));
	return e && entry_used(e) ? e : NULL;
}

struct store_entry *store_next(const struct store *s, struct store_walk *w)
{
	size_t end = s->ocap + s->cap;

	walk_keep_place(s, w);
	if (w->pos < s->opos)
		w->pos = s->opos; /* moved already: tombstones */
	while (w->pos < end) {
		struct store_entry *e = walk_at(s, w->pos++, end);
		if (e)
			return e;
	}
	return NULL;
}

int store_foreach(const struct store *s, int (*cb)(struct store_entry *e, void *ctx), void *ctx)
{
	size_t end = s->ocap + s->cap;

	for (size_t i = s->opos; i < end; i++) {
		struct store_entry *e = walk_at(s, i, end);
		int r;
		if (e && (r = cb(e, ctx)))
			return r;
	}
	return 0;
}

static uint64_t bits_reversed(uint64_t v)
{
	v = (v >> 1 & 0x5555555555555555ULL) | (v & 0x5555555555555555ULL) << 1;
	v = (v >> 2 & 0x3333333333333333ULL) | (v & 0x3333333333333333ULL) << 2;
	v = (v >> 4 & 0x0f0f0f0f0f0f0f0fULL) | (v & 0x0f0f0f0f0f0f0f0fULL) << 4;
	return __builtin_bswap64(v);
}

/* The cursor after @v among the indexes under @mask, counting from the
 * top bit: a table twice or half as large splits or joins buckets that
 * this order visits together. */
static uint64_t cursor_next(uint64_t v, size_t mask)
{
	v |= ~(uint64_t)mask;
	return bits_reversed(bits_reversed(v) + 1);
}

/* Visit the entries of bucket @b of @t (@mask + 1 slots): they lie from
 * slot @b to the next empty slot (a table keeps one: its load stays under
 * 13/16).  Non-zero when @cb stopped the scan. */
static int scan_bucket(const struct store *s, const struct store_slot *t, size_t mask, size_t b,
		       size_t *seen, int (*cb)(struct store_entry *e, void *ctx), void *ctx)
{
	size_t n = 0;

	for (size_t i = b; t[i].v && n++ <= mask; i = (i + 1) & mask) {
		struct store_entry *e = store_slot_entry(&t[i]);
		if (!e || !entry_used(e) || (name_hash(s, e->name, e->name_len) & mask) != b)
			continue;
		(*seen)++;
		if (cb(e, ctx))
			return 1;
	}
	return 0;
}

uint64_t store_scan(const struct store *s, uint64_t cursor, size_t count,
		    int (*cb)(struct store_entry *e, void *ctx), void *ctx)
{
	/* t0 the smaller table, t1 the larger one while a rehash runs */
	const struct store_slot *t0 = s->table, *t1 = s->old;
	size_t m0 = s->cap - 1, m1 = s->ocap - 1;
	uint64_t v = cursor;
	size_t seen = 0, buckets = 0;

	if (!s->cap)
		return 0;
	if (s->ocap && s->ocap < s->cap) {
		t0 = s->old, t1 = s->table;
		m0 = s->ocap - 1, m1 = s->cap - 1;
	}
	if (count > s->cap + s->ocap)
		count = s->cap + s->ocap; /* a client's COUNT: no step needs more */
	do {
		if (scan_bucket(s, t0, m0, v & m0, &seen, cb, ctx))
			return 0;
		if (!s->ocap) {
			v = cursor_next(v, m0);
			continue;
		}
		/* the buckets of the larger table that this one splits into;
		 * the last step carries into the smaller table's bits */
		do {
			if (scan_bucket(s, t1, m1, v & m1, &seen, cb, ctx))
				return 0;
			v = cursor_next(v, m1);
		} while (v & (m0 ^ m1));
		/* about @count entries, or ten times as many buckets, as Redis */
	} while (v && seen < count && ++buckets < 10 * count);
	return v;
}

/* ---- expiry (store.h) ------------------------------------------------------ */

static bool heap_less(const struct store *s, size_t i, size_t j)
{
	return s->heap[i]->x->deadline < s->heap[j]->x->deadline;
}

static void heap_put(struct store *s, size_t i, struct store_entry *e)
{
	s->heap[i] = e;
	e->x->hpos = (uint32_t)i + 1;
}

static void heap_swap(struct store *s, size_t i, size_t j)
{
	struct store_entry *t = s->heap[i];

	heap_put(s, i, s->heap[j]);
	heap_put(s, j, t);
}

/* Restore the heap order around index @i after its key changed. */
static void heap_fix(struct store *s, size_t i)
{
	while (i > 0 && heap_less(s, i, (i - 1) / 2)) {
		heap_swap(s, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l < s->hlen && heap_less(s, l, m))
			m = l;
		if (l + 1 < s->hlen && heap_less(s, l + 1, m))
			m = l + 1;
		if (m == i)
			return;
		heap_swap(s, i, m);
		i = m;
	}
}

/* Without memory the name is not swept, but still hidden at its deadline
 * and expired by the next write to it. */
static void heap_push(struct store *s, struct store_entry *e)
{
	if (s->hlen == s->hcap) {
		size_t cap = s->hcap ? 2 * s->hcap : 64;
		struct store_entry **h = cap <= UINT32_MAX ? realloc(s->heap, cap * sizeof(*h)) : NULL;

		if (!h) {
			log_error("store", "out of memory: \"%.*s\" expires on its next write only",
				  (int)(e->name_len > 64 ? 64 : e->name_len), (const char *)e->name);
			return;
		}
		s->heap = h;
		s->hcap = cap;
	}
	heap_put(s, s->hlen++, e);
	heap_fix(s, s->hlen - 1);
}

static void heap_remove(struct store *s, struct store_entry *e)
{
	size_t i = e->x->hpos - 1;

	e->x->hpos = 0;
	if (i != --s->hlen) {
		heap_put(s, i, s->heap[s->hlen]);
		heap_fix(s, i);
	}
}

/* The deadline a companion register holds: 0 when none, deleted or not
 * 8 bytes (a forged or damaged one means no deadline). */
static int64_t companion_deadline(struct store_entry *comp)
{
	struct crdt_obj *o = store_entry_slot(comp, CRDT_LWWREG);
	const uint8_t *v;
	size_t len;
	uint64_t d = 0;

	if (!o || !crdt_obj_live(o) || !crdt_lwwreg_get(o->lww, &v, &len) || len != 8)
		return 0;
	for (int i = 0; i < 8; i++)
		d = d << 8 | v[i];
	return d > INT64_MAX ? 0 : (int64_t)d;
}

/* The companion of @name, NULL if it has none (or no memory for @add). */
static struct store_entry *companion(struct store *s, const void *name, size_t len, bool add)
{
	uint8_t stack[256], *n = len + STORE_TTL_PREFIX_LEN <= sizeof(stack) ? stack : NULL;
	struct store_entry *e = NULL;

	if (!n && !(n = malloc(len + STORE_TTL_PREFIX_LEN)))
		return NULL;
	memcpy(n, STORE_TTL_PREFIX, STORE_TTL_PREFIX_LEN);
	memcpy(n + STORE_TTL_PREFIX_LEN, name, len);
	if (add)
		find_or_add(s, n, len + STORE_TTL_PREFIX_LEN, CRDT_LWWREG, &e);
	else
		e = store_find(s, n, len + STORE_TTL_PREFIX_LEN);
	if (n != stack)
		free(n);
	return e;
}

/* Mirror companion @comp into its name's entry and the heap. */
static void deadline_changed(struct store *s, struct store_entry *comp)
{
	const uint8_t *name = comp->name + STORE_TTL_PREFIX_LEN;
	size_t len = comp->name_len - STORE_TTL_PREFIX_LEN;
	int64_t d = companion_deadline(comp);
	struct store_entry *e = store_find(s, name, len);

	/* reclaiming keeps a name's time on its entry, deadline or not */
	if (!e && (d || s->reclaim_ms) && find_or_add(s, name, len, 0, &e) < 0)
		e = NULL; /* no memory: the deadline waits for the name's state */
	if (e && e->x && e->x->spent) {
		if (d == e->x->spent)
			return; /* the spent deadline again: it stays spent */
		e->x->spent = 0;
	}
	if (!e || deadline_of(e) == d)
		return;
	if (!extra(e)) {
		log_error("store", "out of memory: \"%.*s\" keeps its deadline only in its companion",
			  (int)(e->name_len > 64 ? 64 : e->name_len), (const char *)e->name);
		return;
	}
	e->x->deadline = d;
	if (!d && e->x->hpos)
		heap_remove(s, e);
	else if (d && e->x->hpos)
		heap_fix(s, e->x->hpos - 1);
	else if (d)
		heap_push(s, e);
	ks_note(s, e);
}

int64_t store_entry_deadline(const struct store_entry *e)
{
	return store_entry_type(e) ? deadline_of(e) : 0;
}

/* Delete the companion's deadline (observed-remove, announced). */
static int clear_deadline(struct store *s, struct store_entry *e)
{
	struct store_entry *comp = companion(s, e->name, e->name_len, false);
	struct crdt_obj *o = comp ? store_entry_slot(comp, CRDT_LWWREG) : NULL;
	int r;

	if (!o || (r = crdt_obj_clear(o)) == 0) {
		if (hpos_of(e))
			heap_remove(s, e); /* no companion: nothing to mirror */
		if (e->x)
			e->x->deadline = e->x->spent = 0;
		ks_note(s, e);
		return 0;
	}
	if (r < 0)
		return r;
	store_changed(s, comp, CRDT_LWWREG,
		      &(struct store_change){ .op = STORE_OP_STATE, .state = o });
	return 0;
}

/* The expiry of @e: delete what this replica holds of it, then its
 * deadline.  With nothing live here (and no write following, !@always),
 * there is nothing to delete: the deadline is spent, not deleted.  Its
 * companion stays as it is, since deleting it would tell the replicas that
 * still hold the name's old state "no deadline" and let that state live on;
 * but a spent deadline hides and deletes nothing that arrives after it:
 * that may be a write made after the expiry where it was made, whose
 * deletion of the deadline is still on its way. */
static int expire_entry(struct store *s, struct store_entry *e, bool always)
{
	bool live = live_type(e) != 0;
	int r;

	if (hpos_of(e))
		heap_remove(s, e);
	if (!live && !always) {
		if (e->x && e->x->deadline) {
			e->x->spent = e->x->deadline;
			e->x->deadline = 0;
			if (s->reclaim_ms)
				reclaim_note(s, e); /* its grace starts at the deadline */
		}
		return 0;
	}
	if (live) {
		if (store_entry_undeletable(e))
			return clear_deadline(s, e); /* grow-only: cannot go, so it stays */
		if ((r = del_entry(s, e)) < 0)
			return r;
		s->stats.expired++;
	}
	return clear_deadline(s, e);
}

int store_set_deadline(struct store *s, struct crdt_hlc *hlc, const void *name, size_t len,
		       int64_t deadline_ms)
{
	struct store_entry *comp, *e = store_find(s, name, len);
	struct store_inst *in;
	uint8_t v[8];
	int r;

	if (!e || store_name_reserved(name, len))
		return -ENOENT;
	if (!(comp = companion(s, name, len, true)))
		return -ENOMEM;
	if (!(in = store_entry_inst(comp, CRDT_LWWREG))) {
		if (!(in = inst_free(comp)))
			return -ENOMEM;
		if ((r = inst_new(comp, in, CRDT_LWWREG)) < 0)
			return r;
		s->stats.by_type[CRDT_LWWREG]++;
	}
	for (int i = 0; i < 8; i++)
		v[i] = (uint8_t)((uint64_t)deadline_ms >> (56 - 8 * i));
	if ((r = crdt_lwwreg_set(in->obj.lww, hlc, &s->self, v, deadline_ms > 0 ? 8 : 0)) < 0)
		return r;
	store_changed(s, comp, CRDT_LWWREG,
		      &(struct store_change){ .op = STORE_OP_STATE, .state = &in->obj });
	if (deadline_ms > 0 && deadline_ms <= now_ms())
		return expire_entry(s, e, true);
	return 0;
}

size_t store_expire(struct store *s, size_t max)
{
	size_t n = 0;
	int64_t now = now_ms();

	while (n < max && s->hlen && s->heap[0]->x->deadline <= now) {
		if (expire_entry(s, s->heap[0], false) < 0)
			break; /* no memory: hidden, and expired by its next write */
		n++;
	}
	return n;
}

int64_t store_next_deadline(const struct store *s)
{
	return s->hlen ? s->heap[0]->x->deadline : 0;
}

void store_loaded(struct store *s)
{
	struct store_entry **c = NULL, **t;
	size_t n = 0, cap = 0;
	bool nomem = false;

	/* one walk (an entry each is a cache miss): count the keyspace, and
	 * collect the deadlines' companions first, as mirroring may add
	 * entries, which moves the table */
	for (size_t i = 0; i < s->ocap + s->cap; i++) {
		struct store_entry *e = store_slot_entry(slot_at(s, i));

		if (!e)
			continue;
		ks_note(s, e); /* the deadlines, mirrored below, count themselves */
		if (nomem || !store_name_reserved(e->name, e->name_len))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			if (!(t = realloc(c, cap * sizeof(*c)))) {
				nomem = true;
				continue;
			}
			c = t;
		}
		c[n++] = e;
	}
	if (nomem) {
		log_error("store", "out of memory: deadlines apply on writes only");
		n = 0;
	}
	for (size_t i = 0; i < n; i++)
		deadline_changed(s, c[i]);
	free(c);
}

/* Take off @ks the counted names at heap index @i and below it whose
 * deadline is at or before @now: a min-heap, so the walk stops at the
 * first later one on each path, and visits only the names past their
 * deadline (and their children). */
static void ks_expired(const struct store *s, size_t i, int64_t now, struct store_keyspace *ks)
{
	while (i < s->hlen && s->heap[i]->x->deadline <= now) {
		const struct store_entry *e = s->heap[i];
		if (e->ks_type) {
			ks->keys--;
			ks->by_type[e->ks_type]--;
			ks->expires -= e->ks_exp;
		}
		ks_expired(s, 2 * i + 1, now, ks); /* depth: the heap's, at most 32 */
		i = 2 * i + 2;
	}
}

void store_keyspace(const struct store *s, struct store_keyspace *ret)
{
	*ret = s->ks;
	ks_expired(s, 0, now_ms(), ret);
}

/* ---- reclaiming deletes (store.h) ------------------------------------------ */

/* A name a subscriber still holds is looked at again this much later. */
#define RECLAIM_RETRY_MS 1000

/* The deadline a companion holds, from its register (0: none). */
static int64_t companion_deadline(struct store_entry *comp);

/* The hash a name and its companion are remembered by: the key's name. */
static uint64_t forget_key(const struct store *s, const uint8_t *name, size_t len)
{
	if (store_name_reserved(name, len))
		return name_hash(s, name + STORE_TTL_PREFIX_LEN, len - STORE_TTL_PREFIX_LEN);
	return name_hash(s, name, len);
}

/* A state that would be reclaimable at once: nothing live, or (a companion)
 * no deadline in the future. */
static bool state_spent(const void *name, size_t len, const struct crdt_obj *o)
{
	const uint8_t *v;
	size_t vlen;
	uint64_t d = 0;

	if (!crdt_obj_live(o))
		return true;
	if (!store_name_reserved(name, len) || o->type != CRDT_LWWREG)
		return false;
	if (!crdt_lwwreg_get(o->lww, &v, &vlen) || vlen != 8)
		return true; /* PERSIST: no deadline */
	for (int i = 0; i < 8; i++)
		d = d << 8 | v[i];
	return d <= (uint64_t)now_ms();
}

/* A record resent by a peer for a name reclaimed here, that holds nothing
 * this replica would keep: storing it again would start its grace afresh
 * and send it back to the replicas that reclaimed it too. */
static bool reclaimed_record(struct store *s, const void *name, size_t len,
			     const struct crdt_obj *remote)
{
	struct store_entry *e = store_find(s, name, len);

	return (!e || !entry_used(e)) && forget_has(&s->forgot, forget_key(s, name, len)) &&
	       state_spent(name, len, remote);
}

static int rq_push(struct store *s, struct store_entry *e, int64_t ms)
{
	if (s->rqn == s->rqcap) {
		size_t cap = s->rqcap ? 2 * s->rqcap : 64;
		struct store_rq *v = malloc(cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < s->rqn; i++)
			v[i] = s->rq[(s->rqhead + i) % s->rqcap];
		free(s->rq);
		s->rq = v;
		s->rqcap = cap;
		s->rqhead = 0;
	}
	s->rq[(s->rqhead + s->rqn++) % s->rqcap] = (struct store_rq){ e, ms };
	e->x->rq = true;
	return 0;
}

/* A change to key entry @e or its deadline: when the name now holds
 * nothing live, its grace starts (again) now. */
static void reclaim_note(struct store *s, struct store_entry *e)
{
	int64_t now = now_ms();

	if (!e || live_type(e))
		return;
	if (!extra(e)) {
		log_error("store", "out of memory: \"%.*s\" will not be reclaimed",
			  (int)(e->name_len > 64 ? 64 : e->name_len), (const char *)e->name);
		return;
	}
	e->x->chg_ms = now;
	if (!e->x->rq && rq_push(s, e, now) < 0)
		log_error("store", "out of memory: \"%.*s\" will not be reclaimed",
			  (int)(e->name_len > 64 ? 64 : e->name_len), (const char *)e->name);
}

static int note_cb(struct store_entry *e, void *ctx)
{
	if (!store_name_reserved(e->name, e->name_len))
		reclaim_note(ctx, e);
	return 0;
}

/* A companion whose name has no entry (its state never came here): the
 * name gets one, which holds the pair's time. */
static bool unanchored(const struct store *s, const struct store_entry *e)
{
	return store_name_reserved(e->name, e->name_len) &&
	       !store_find(s, e->name + STORE_TTL_PREFIX_LEN, e->name_len - STORE_TTL_PREFIX_LEN);
}

void store_set_reclaim(struct store *s, int64_t after_ms)
{
	bool was = s->reclaim_ms != 0;
	struct store_entry **c = NULL;
	size_t n = 0, k = 0;

	s->reclaim_ms = after_ms > 0 ? after_ms : 0;
	if (was || !s->reclaim_ms)
		return;
	/* collected first: adding entries may rebuild the table (entries
	 * themselves never move) */
	for (size_t i = 0; i < s->ocap + s->cap; i++) {
		struct store_entry *e = store_slot_entry(slot_at(s, i));

		n += e && unanchored(s, e);
	}
	if (n && !(c = malloc(n * sizeof(*c))))
		log_error("store", "out of memory: deadlines of names never held are not reclaimed");
	for (size_t i = 0; c && i < s->ocap + s->cap; i++) {
		struct store_entry *e = store_slot_entry(slot_at(s, i));

		if (e && unanchored(s, e))
			c[k++] = e;
	}
	for (size_t i = 0; i < k; i++) {
		struct store_entry *e;

		find_or_add(s, c[i]->name + STORE_TTL_PREFIX_LEN,
			    c[i]->name_len - STORE_TTL_PREFIX_LEN, 0, &e);
	}
	free(c);
	for (size_t i = 0; i < s->ocap + s->cap; i++) {
		struct store_entry *e = store_slot_entry(slot_at(s, i));

		if (e)
			note_cb(e, s);
	}
}

/* Whether a subscriber still holds @e. */
static bool held(const struct store *s, const struct store_entry *e)
{
	for (size_t i = 0; i < s->nsubs; i++)
		if (s->subs[i].holds && s->subs[i].holds(s->subs[i].ctx, e))
			return true;
	return false;
}

/* Tell the subscribers, empty @e's slot and free it.  (It holds nothing
 * live, so the keyspace's counts never counted it.) */
static void remove_entry(struct store *s, struct store_entry *e)
{
	bool in_old;
	struct store_slot *sl = lookup(s, e->name, e->name_len,
				       name_hash(s, e->name, e->name_len), &in_old);

	for (size_t k = 0; k < s->nsubs; k++)
		if (s->subs[k].removed)
			s->subs[k].removed(s->subs[k].ctx, e);
	sl->v = SLOT_TOMB;
	s->len--;
	if (in_old)
		s->olen--; /* the rehash skips it; the old table goes whole */
	else
		s->tombs++;
	entry_free(e);
}

size_t store_reclaim(struct store *s, size_t max)
{
	int64_t now = now_ms(), grace = s->reclaim_ms;
	size_t n = 0;

	if (!grace)
		return 0;
	/* a peer's copy outlives ours by its own grace at most */
	n += forget_expire(&s->forgot, now - 2 * grace, max);
	while (n < max && s->rqn) {
		struct store_rq q = s->rq[s->rqhead];
		struct store_entry *e = q.e, *comp;
		int64_t at, d;

		if (q.ms > now - grace)
			break; /* the ring is in time order: nothing after is due */
		s->rqhead = (s->rqhead + 1) % s->rqcap;
		s->rqn--;
		n++;
		e->x->rq = false;
		if (live_type(e))
			continue; /* written again: noted again at its next delete */
		/* its last change, or the deadline that is still to come or
		 * passed since (a spent one hides nothing, but the name's state
		 * may still be on its way to a replica that held it) */
		comp = companion(s, e->name, e->name_len, false);
		d = comp ? companion_deadline(comp) : 0;
		at = e->x->chg_ms;
		if (d > at)
			at = d;
		if (deadline_of(e) > at)
			at = deadline_of(e);
		if (at > now)
			continue; /* noted again when the deadline is spent or changes */
		if (at > now - grace || held(s, e) || (comp && held(s, comp))) {
			/* never later than now in the ring, so that it cannot hold
			 * back the names behind it for long */
			int64_t again = at > now - grace ? at : now - grace + RECLAIM_RETRY_MS;

			if (rq_push(s, e, again < now ? again : now) < 0)
				log_error("store", "out of memory: \"%.*s\" will not be reclaimed",
					  (int)(e->name_len > 64 ? 64 : e->name_len),
					  (const char *)e->name);
			continue;
		}
		if (hpos_of(e))
			heap_remove(s, e);
		if (forget_add(&s->forgot, name_hash(s, e->name, e->name_len), now) < 0)
			log_warn("store", "out of memory: a peer may send \"%.*s\" back once",
				 (int)(e->name_len > 64 ? 64 : e->name_len), (const char *)e->name);
		if (comp)
			remove_entry(s, comp);
		remove_entry(s, e);
		s->stats.reclaimed++;
	}
	return n;
}

void store_set_populate(struct store *s, void (*fn)(void *addr, size_t len))
{
	s->populate = fn;
}
