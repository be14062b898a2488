/* The store: named instances in an open-addressing table, type conflicts,
 * the change stream, and the replica id writes are made under. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "log.h"
#include "state/store.h"

/* FNV-1a: names are short, and this table is not exposed to hash flooding
 * beyond what a client with write access could do anyway (limits cap names). */
static uint64_t name_hash(const uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* 8 bytes a step, multiply-xorshift mixing (the finaliser of splitmix64):
 * fast on the kilobytes of a full state, and well spread.  Not keyed: a
 * peer that forges a collision only stops its own record from merging. */
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

void store_init(struct store *s)
{
	*s = (struct store){ 0 };
	crdt_rid_generate(&s->self);
}

static void entry_free(struct store_entry *e)
{
	if (!e)
		return;
	crdt_obj_done(&e->one.obj);
	for (int i = 0; e->more && i < STORE_MORE; i++)
		crdt_obj_done(&e->more[i].obj);
	free(e->more);
	free(e);
}

void store_done(struct store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->cap; i++)
		entry_free(store_slot_entry(&s->table[i]));
	free(s->table);
	*s = (struct store){ 0 };
}

/* The bits of @h a slot keeps (the slot's index uses the low ones). */
static uint64_t slot_tag(uint64_t h)
{
	return h >> STORE_SLOT_PTR_BITS << STORE_SLOT_PTR_BITS;
}

/* Slot index of @name, or of the empty slot where it would go. */
static size_t find_slot(const struct store *s, const void *name, size_t len, uint64_t h)
{
	size_t mask = s->cap - 1;
	uint64_t tag = slot_tag(h);

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		const struct store_slot *sl = &s->table[i];
		const struct store_entry *e = store_slot_entry(sl);
		if (!e || (slot_tag(sl->v) == tag && e->name_len == len &&
			   memcmp(e->name, name, len) == 0))
			return i;
	}
}

struct store_entry *store_find(const struct store *s, const void *name, size_t len)
{
	if (!s->cap)
		return NULL;
	return store_slot_entry(&s->table[find_slot(s, name, len, name_hash(name, len))]);
}

static int grow(struct store *s)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	struct store_slot *t = calloc(cap, sizeof(*t));
	if (!t)
		return -ENOMEM;

	struct store old = *s;
	s->table = t;
	s->cap = cap;
	for (size_t i = 0; i < old.cap; i++) {
		struct store_entry *e = store_slot_entry(&old.table[i]);
		if (e)
			s->table[find_slot(s, e->name, e->name_len, name_hash(e->name, e->name_len))] =
				old.table[i];
	}
	free(old.table);
	return 0;
}

/* The entry for @name, created empty when absent. */
static int find_or_add(struct store *s, const void *name, size_t len, struct store_entry **ret)
{
	uint64_t h = name_hash(name, len);
	size_t i;

	if (len > UINT32_MAX)
		return -EINVAL;
	/* keep the load under 5/8 so linear probes stay short */
	if ((s->len + 1) * 8 > s->cap * 5 && grow(s) < 0)
		return -ENOMEM;
	i = find_slot(s, name, len, h);
	if (!s->table[i].v) {
		/* the name starts in the struct's tail padding */
		size_t size = offsetof(struct store_entry, name) + len + 1;
		struct store_entry *e = calloc(1, size > sizeof(*e) ? size : sizeof(*e));
		if (!e)
			return -ENOMEM;
		if ((uint64_t)(uintptr_t)e >> STORE_SLOT_PTR_BITS) {
			free(e); /* an address the slot cannot hold */
			return -ENOMEM;
		}
		memcpy(e->name, name, len);
		e->name[len] = 0;
		e->name_len = (uint32_t)len;
		s->table[i] = (struct store_slot){ .v = slot_tag(h) | (uint64_t)(uintptr_t)e };
		s->len++;
	}
	*ret = store_slot_entry(&s->table[i]);
	return 0;
}

enum crdt_type store_entry_type(const struct store_entry *e)
{
	enum crdt_type t = e->one.obj.p && crdt_obj_live(&e->one.obj) ? e->one.obj.type : 0;

	for (int i = 0; e->more && i < STORE_MORE; i++)
		if (e->more[i].obj.p && (!t || e->more[i].obj.type < t) &&
		    crdt_obj_live(&e->more[i].obj))
			t = e->more[i].obj.type;
	return t;
}

/* Whether the entry holds any instance, live or deleted. */
static bool entry_used(const struct store_entry *e)
{
	if (e->one.obj.p)
		return true;
	for (int i = 0; e->more && i < STORE_MORE; i++)
		if (e->more[i].obj.p)
			return true;
	return false;
}

struct store_inst *store_entry_inst(struct store_entry *e, enum crdt_type t)
{
	if (e->one.obj.p && e->one.obj.type == t)
		return &e->one;
	for (int i = 0; e->more && i < STORE_MORE; i++)
		if (e->more[i].obj.p && e->more[i].obj.type == t)
			return &e->more[i];
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
	int n = e->one.obj.p && crdt_obj_live(&e->one.obj);

	for (int i = 0; e->more && i < STORE_MORE; i++)
		n += e->more[i].obj.p && crdt_obj_live(&e->more[i].obj);
	return n;
}

/* An unused instance of @e to fill with a new type, NULL on -ENOMEM. */
static struct store_inst *inst_free(struct store_entry *e)
{
	if (!e->one.obj.p)
		return &e->one;
	if (!e->more && !(e->more = calloc(STORE_MORE, sizeof(*e->more))))
		return NULL;
	for (int i = 0; i < STORE_MORE; i++)
		if (!e->more[i].obj.p)
			return &e->more[i];
	return NULL; /* not reached: a name holds each type at most once */
}

int store_get(struct store *s, const void *name, size_t len, enum crdt_type t, bool create,
	      struct crdt_obj **ret)
{
	struct store_entry *e = store_find(s, name, len);
	struct store_inst *in;
	enum crdt_type vis = e ? store_entry_type(e) : 0;
	int r;

	if (vis) {
		if (vis != t)
			return CRDT_ETYPE;
		*ret = store_entry_slot(e, t);
		return 0;
	}
	if (!create)
		return -ENOENT;
	if (!e && (r = find_or_add(s, name, len, &e)) < 0)
		return r;
	/* absent: a deleted instance of @t is written on after its delete */
	if ((in = store_entry_inst(e, t))) {
		*ret = &in->obj;
		return 0;
	}
	if (!(in = inst_free(e)))
		return -ENOMEM;
	if ((r = crdt_obj_new(t, &in->obj)) < 0)
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

int store_del(struct store *s, const void *name, size_t len)
{
	struct store_entry *e = store_find(s, name, len);
	bool was;
	int r;

	if (!e)
		return 0;
	if (store_entry_undeletable(e))
		return -EOPNOTSUPP;
	was = store_entry_type(e) != 0;
	/* every type the name holds: a type conflict ends with the delete */
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		struct store_inst *in = store_entry_inst(e, t);

		if (!in)
			continue;
		if ((r = crdt_obj_clear(&in->obj)) < 0)
			return r;
		if (r > 0)
			store_changed(s, e, t,
				      &(struct store_change){ .op = STORE_OP_STATE, .state = &in->obj });
	}
	return was;
}

void store_changed(struct store *s, struct store_entry *e, enum crdt_type t,
		   const struct store_change *c)
{
	for (size_t i = 0; i < s->nsubs; i++)
		s->subs[i].changed(s->subs[i].ctx, e, t, c);
}

int store_subscribe(struct store *s, const struct store_sub *sub)
{
	if (s->nsubs == STORE_SUBS_MAX)
		return -ENOSPC;
	s->subs[s->nsubs++] = *sub;
	return 0;
}

void store_unsubscribe(struct store *s, void *ctx)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nsubs; i++)
		if (s->subs[i].ctx != ctx)
			s->subs[n++] = s->subs[i];
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

int store_merge(struct store *s, const void *name, size_t len, const struct crdt_obj *remote)
{
	struct store_entry *e;
	struct store_inst *in;
	enum crdt_type t = remote->type;
	int r, live;

	if (t < CRDT_TYPE_MIN || t > CRDT_TYPE_MAX)
		return CRDT_EINVAL;
	if ((r = find_or_add(s, name, len, &e)) < 0)
		return r;
	in = store_entry_inst(e, t);
	live = e->more ? insts_live(e) : 0; /* no conflict without a second instance */
	if (crdt_obj_knows_more_of(remote, in ? &in->obj : NULL, &s->self))
		change_rid(s, name, len);
	if (!in) {
		if (!(in = inst_free(e)))
			return -ENOMEM;
		if ((r = crdt_obj_copy(remote, &in->obj)) < 0)
			return r;
		s->stats.by_type[t]++;
	} else if ((r = crdt_obj_merge(&in->obj, remote)) < 0) {
		return r;
	}
	if (live < 2 && e->more && insts_live(e) >= 2)
		s->stats.conflicts++;
	s->stats.merges++;
	store_changed(s, e, t,
		      &(struct store_change){ .remote = true, .op = STORE_OP_STATE, .state = remote });
	return 0;
}

int store_foreach(const struct store *s, int (*cb)(struct store_entry *e, void *ctx), void *ctx)
{
	for (size_t i = 0; i < s->cap; i++) {
		struct store_entry *e = store_slot_entry(&s->table[i]);
		if (e && entry_used(e)) {
			int r = cb(e, ctx);
			if (r)
				return r;
		}
	}
	return 0;
}
