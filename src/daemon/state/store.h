/* The store: named CRDT instances, the daemon's only state.
 *
 * A name normally holds one instance.  When two replicas concurrently create
 * the same name as different types, both states are kept under the name (one
 * slot per type) and replicated; the one with the lowest type tag is the
 * visible one that commands act on (docs/commands.md, "Type conflicts").  No
 * replica ever drops either side, so every replica resolves it the same way.
 *
 * DEL is one path, store_del: the observed-remove delete (crdt_obj_clear) of
 * every instance under the name.  A deleted instance stays in the store and
 * replicates like any state (it carries the removal), but only live ones
 * (crdt_obj_live) are visible: a name whose instances are all not live is
 * absent to every command, and the next write starts it afresh, as any type
 * (store_get), which also ends a type conflict.
 *
 * Expiry (docs/types.md, "Expiry"): a name's deadline is an LWW register of
 * its own under the reserved companion name STORE_TTL_PREFIX + name (never
 * visible, refused to clients), holding the absolute deadline in wall-clock
 * ms as 8 big-endian bytes, or an empty value for "none" (PERSIST).  It
 * replicates, journals and digests like any instance.  The store mirrors
 * each companion into its name's entry (store_extra.deadline) and keeps the
 * names with a deadline in a heap: once the clock passes a deadline the name
 * is absent at once, and store_expire deletes it (store_del's observed
 * remove) and the deadline, a bounded number of names per call.
 *
 * Reclaiming deletes (docs/types.md, "Reclaiming deletes"): a name whose
 * instances hold nothing live, and whose deadline (if any) is not in the
 * future, keeps its removal record (context, baselines, tombstone) so that
 * a peer that has not seen the delete cannot send the old value back.  With
 * [keyspace] reclaim_after > 0 (store_set_reclaim), once nothing has
 * changed the name or its deadline for that long, store_reclaim drops both
 * from the table: each subscriber is told (store_sub.removed: the journal
 * deletes its records, the digest uncounts it) and the entry is freed.
 * The names reclaimed are remembered (state/forget.h) for twice the grace:
 * a record a peer resends for one of them, holding nothing live, is
 * dropped instead of stored again.
 *
 * Every change to an instance is announced once, by the store, to its
 * subscribers (struct store_sub): a local write when the command that made
 * it calls store_changed, a remote state from inside store_merge.  The
 * journal stores each change and gossip queues local ones for the push;
 * the store itself keeps nothing about them (no dirty list, no journal
 * bookkeeping).  Before a write that can yield its delta, store_delta
 * asks them what they need of it: gossip, which joins every write's delta
 * into the one it queues, takes the join in place (the command adds into
 * that delta itself), instead of a small state made, joined and freed.
 *
 * The store also owns the replica id that local writes are made under
 * (docs/storage.md, "Replica identity").  An id names one history of
 * writes, so it is never reused for another: store_init makes a new one at
 * every start (after a restart, a restored backup or a copied data_dir the
 * old ids are just other replicas' entries), and store_merge takes a new one
 * as soon as a peer's state proves that another history was written under
 * the current id (a running process cloned or rolled back).
 */
#ifndef CRDTD_STORE_H
#define CRDTD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/hash.h"
#include "crdt/obj.h"
#include "state/forget.h"

#define STORE_NTYPES (CRDT_TYPE_MAX + 1)

/* Room beside each instance and each entry for the subscribers' own
 * fields.  A subscriber asks for its share when it subscribes
 * (store_sub.inst_room, .entry_room), is given offsets in it
 * (struct store_room), and reaches its share with store_inst_room and
 * store_entry_room.  The store zeroes the room when it creates the
 * instance or entry, and a share that held a former subscriber's fields
 * before it hands it out again; it never reads it.  The room lives here
 * rather than in tables of the subscribers' own because every write
 * reaches its entry anyway: a table would cost each subscriber a lookup
 * per write and the memory of a second key. */
#define STORE_INST_ROOM 32  /* at most 32: store.room_used_inst */
#define STORE_ENTRY_ROOM 16

/* Where a subscriber's share of the room starts (store_subscribe). */
struct store_room {
	uint8_t inst, entry;
};

/* One type's instance under a name. */
struct store_inst {
	struct crdt_obj obj; /* obj.p == NULL: unused */
	uint64_t room[STORE_INST_ROOM / 8]; /* the subscribers' */
};

/* What few names need: the instances of other types in a type conflict, a
 * deadline.  Allocated for the name's first conflict or deadline and kept
 * until store_done. */
struct store_extra {
	struct store_inst *more; /* NULL, or STORE_MORE instances of other types */
	/* the deadline in wall-clock ms from the companion, 0 = none */
	int64_t deadline;
	/* a deadline that passed while the name held nothing live here, so
	 * there was nothing to delete (0 = none): it no longer hides or
	 * deletes what arrives after, and its companion is kept as it is
	 * (docs/types.md, "Expiry"); the same value mirrored again (a digest
	 * round resending the companion) leaves it spent */
	int64_t spent;
	/* 1 + the entry's index in the deadline heap, 0 = none */
	uint32_t hpos;
	/* reclaiming: the entry is in the store's reclaim ring */
	bool rq;
	/* the last change to the name or its deadline that left it holding
	 * nothing live (wall-clock ms) */
	int64_t chg_ms;
};

/* A name nearly always holds one type and no deadline, so one instance is
 * inline and the rest is in store_extra.  The other instances of a type
 * conflict get an array of their own, allocated on the first conflict and
 * never moved: a struct crdt_obj * handed out stays valid until the name is
 * reclaimed (store_reclaim, from its own timer: never during a command).
 * The name follows the struct in the same allocation, and when the name was
 * created for an LWW register (the common small key) that register follows
 * the name there too: one.obj.lww points into the entry, no malloc of its
 * own (the store makes and frees it; to everyone else it is any register).
 * Reach the instances through store_entry_inst/_slot, never by these
 * fields. */
struct store_entry {
	struct store_inst one;   /* the first type the name held */
	struct store_extra *x;   /* the store's: NULL, or the conflict's and the deadline's */
	uint64_t room[STORE_ENTRY_ROOM / 8]; /* the subscribers' */
	uint32_t name_len;
	/* room for a register after the name (store.c, entry_reg) */
	bool reg_room : 1;
	/* the type this name is counted under in the keyspace's
	 * counts (store_keyspace; 0: not counted), and whether among the
	 * names with a deadline */
	unsigned ks_type : 3;
	bool ks_exp : 1;
	/* binary-safe, NUL-terminated for convenience; it starts right after
	 * the flags (offset 77), so a name of up to 10 bytes and its NUL fit an
	 * 88-byte malloc request (a 96-byte chunk) */
	uint8_t name[];
};

#define STORE_MORE (CRDT_TYPE_MAX - CRDT_TYPE_MIN)

/* The keyspace's counts (store_keyspace): the names visible, those of
 * each type, those with a deadline. */
struct store_keyspace {
	uint64_t keys;
	uint64_t by_type[STORE_NTYPES];
	uint64_t expires;
};

struct store_stats {
	uint64_t merges;     /* remote states merged in */
	uint64_t rid_changes; /* new replica ids taken after a clash */
	uint64_t conflicts;  /* names that came to hold two types */
	uint64_t expired;    /* names deleted at their deadline */
	uint64_t reclaimed;  /* names dropped after reclaim_after (store_reclaim) */
	uint64_t reclaim_dropped; /* records resent for names reclaimed here, not stored */
	uint64_t lazyfree_handed; /* emptied large states handed to the lazyfree hook */
	uint64_t tables_ahead; /* next tables mapped ahead and handed to populate */
	uint64_t by_type[STORE_NTYPES];
};

/* A table slot: the entry's address in the low STORE_SLOT_PTR_BITS bits and
 * the top 16 bits of its name's hash above them, so a probe that meets
 * another name rarely costs a cache miss on that entry; 0 = empty.  8 bytes
 * a slot (user-space addresses fit in 48 bits on x86-64 and arm64; the store
 * refuses an entry allocated above). */
struct store_slot {
	uint64_t v;
};

#define STORE_SLOT_PTR_BITS 48

/** The entry in a slot, NULL if empty. */
static inline struct store_entry *store_slot_entry(const struct store_slot *sl)
{
	return (struct store_entry *)(uintptr_t)(sl->v & (((uint64_t)1 << STORE_SLOT_PTR_BITS) - 1));
}

/* What a local write did: enough for a journal to replay it. */
enum store_op {
	STORE_OP_STATE = 1, /* merge @state (a counter's: this replica's entries) */
	STORE_OP_ORSET_ADD, /* crdt_orset_add of each element, under the store's id */
	STORE_OP_ORSET_REM, /* crdt_orset_remove of each element */
	STORE_OP_GSET_ADD,  /* crdt_gset_add of each element */
	STORE_OP_CLEAR = 7, /* crdt_obj_clear (DEL); @state is the result */
};

/* One change to an instance, valid during the announcement only. */
struct store_change {
	bool remote; /* merged from a peer (store_merge), else a local write */
	/* local: what the write did; STORE_OP_STATE with @state (the new
	 * state, or NULL for a counter: its subscribers take this replica's
	 * own entries), STORE_OP_CLEAR with @state the cleared state, or an
	 * element op with @n elements @elems / @lens.
	 * remote: op is STORE_OP_STATE and @state what was merged in. */
	enum store_op op;
	const struct crdt_obj *state;
	size_t n;
	const uint8_t *const *elems;
	const size_t *lens;
	/* local: what the write changed as a small state of the same type
	 * that merges to the result (a delta, crdt_orset_add_delta), when the
	 * command made one; NULL otherwise.  Remote: NULL. */
	const struct crdt_obj *delta;
	/* local: the write's delta was joined in place into the state that
	 * store_delta gave (@delta is NULL) */
	bool joined;
	/* remote: @state's encoding as it came (the bytes it was decoded
	 * from), or NULL; a journal stores these rather than encode it again */
	const uint8_t *enc;
	size_t enc_len;
	/* remote: the name held no instance of the type, so the instance is
	 * now exactly @state (and @enc, when given, its encoding) */
	bool created;
};

/* What a subscriber needs of a local write's delta (store_delta). */
enum store_delta_use {
	STORE_DELTA_NONE, /* nothing: the change's op is enough */
	STORE_DELTA_OWN,  /* the write's own delta, as store_change.delta */
	STORE_DELTA_JOIN, /* only its join into a state the subscriber keeps */
};

/* A subscriber to the change stream.  @changed runs after the change, once
 * per change, in subscription order; it must not change the store.
 * @removed (NULL: none) runs before a reclaimed entry is freed: drop every
 * reference to it.  @holds (NULL: never) says the subscriber cannot let
 * @e go now (store_reclaim tries again later).  @delta (NULL: NONE)
 * answers store_delta for a write of @e's instance of @t about to be
 * made: with @acc NULL what it needs; with @acc, asked after it said JOIN,
 * the state to join the delta into (*acc, owned by the subscriber, valid
 * until the change is announced), or OWN when it has none to give. */
struct store_sub {
	void (*changed)(void *ctx, struct store_entry *e, enum crdt_type t,
			const struct store_change *c);
	void *ctx;
	void (*removed)(void *ctx, struct store_entry *e);
	bool (*holds)(void *ctx, const struct store_entry *e);
	enum store_delta_use (*delta)(void *ctx, struct store_entry *e, enum crdt_type t,
				      struct crdt_obj **acc);
	/* bytes of the room beside each instance and each entry it keeps
	 * fields in (0: none), aligned to the largest power of two up to 8
	 * that the size is not below */
	uint8_t inst_room, entry_room;
};

#define STORE_SUBS_MAX 4

struct store {
	struct crdt_rid self;     /* local writes are made under this id */
	struct store_slot *table; /* open addressing, linear probing */
	/* the names' hash (SipHash, crdt/hash.h) is keyed by this, drawn at
	 * store_init apart from the replica id (which peers and clients see):
	 * nobody can pick names that share a slot, and a peer's table is in
	 * another order than ours (its walk, a catch-up, sends names in its
	 * slots' order; in ours they piled into one cluster) */
	struct crdt_hash_key seed;
	bool table_mapped;        /* mmap'd (grow), else calloc'd */
	size_t cap;                 /* power of two */
	size_t len;                 /* names in both tables */
	/* An incremental rehash (store_rehash): while ocap > 0 the names of
	 * the table before the last rebuild are moved into the new one a slice
	 * at a time, in slot order from opos; olen of them are still there.
	 * Lookups read both, new names go to the new one. */
	struct store_slot *old;
	bool old_mapped;
	size_t ocap, opos, olen;
	size_t faulted; /* bytes of a mapped new table brought in (store_rehash) */
	/* The next table, mapped ahead of the rehash and handed to populate
	 * (store_set_populate) to be faulted in off the loop; NULL if none. */
	struct store_slot *ahead;
	size_t ahead_cap;
	void (*populate)(void *addr, size_t len);
	/* a rehash begun or finished: walks use it to keep their place */
	uint64_t tgen;
	struct store_sub subs[STORE_SUBS_MAX];
	struct store_room rooms[STORE_SUBS_MAX]; /* where each sub's share starts */
	size_t nsubs;
	/* the bytes of each room ever handed out, a bit a byte: a share
	 * that takes one may find a former subscriber's fields there */
	uint32_t room_used_inst, room_used_entry;
	struct store_stats stats;
	/* the names counted visible ignoring the clock, kept at every change
	 * (store_keyspace takes those past their deadline off) */
	struct store_keyspace ks;
	/* names with a deadline, soonest first (a binary min-heap) */
	struct store_entry **heap;
	size_t hlen, hcap;
	/* reclaiming: table slots of removed entries (until the table is
	 * rebuilt), the grace in ms (0: off), the names that may be due in
	 * the order they became so (a ring), the names reclaimed recently */
	size_t tombs;
	int64_t reclaim_ms;
	struct store_rq {
		struct store_entry *e;
		int64_t ms;
	} *rq;
	size_t rqcap, rqhead, rqn;
	struct forget forgot;
	/* Lazy free (store_set_lazyfree): NULL frees at once. */
	void (*lazyfree)(void *ctx, struct crdt_obj *husk);
	void *lazyfree_ctx;
};

/* A set or hash of at least this many members or fields that a DEL (or
 * expiry) empties, or a merge would empty but for at most 1 /
 * STORE_LAZYFREE_KEPT of them (crdt_obj_detach_removed), is emptied by
 * crdt_obj_clear_detach and its members handed to the lazyfree hook, not
 * freed in the call: freeing 1,000,000 members takes 10-300 ms, removing
 * them one by one in a merge 330 ms. */
#define STORE_LAZYFREE_PARTS 4096
#define STORE_LAZYFREE_KEPT 4

/** Hand the members of large states that deletes and merges empty to
 * @free (it owns each husk, a state to crdt_obj_done on any thread),
 * instead of freeing them in the call that empties them; NULL: free at
 * once (the default). */
void store_set_lazyfree(struct store *s, void (*free)(void *ctx, struct crdt_obj *husk),
			void *ctx);

/** Have the next table of a large store (2 MiB and up) mapped ahead of its
 * rehash and given to @fn, which faults its pages in (off the loop: it
 * must only fault them, never write; the range may be unmapped before it
 * is done), as libcrdt's populate hook (crdt/mem.h).  NULL (the default):
 * the rehash maps its table and faults it itself. */
void store_set_populate(struct store *s, void (*fn)(void *addr, size_t len));

/* The companion names that hold deadlines start with these bytes (0xff
 * never occurs in UTF-8 text). */
#define STORE_TTL_PREFIX "\xff" "ttl:"
#define STORE_TTL_PREFIX_LEN 5

/** An empty store with a new replica id. */
void store_init(struct store *s);
void store_done(struct store *s);
/** The entry for @name, or NULL. */
struct store_entry *store_find(const struct store *s, const void *name, size_t len);
/** Start bringing @name's lookup into the CPU's cache, ahead of a
 * store_find of it: its table slot (@entry false), or, once that slot is
 * in the cache, the entry it holds when the hash's tag matches (@entry
 * true).  Changes nothing, reads no entry; a name absent is harmless. */
void store_prefetch(const struct store *s, const void *name, size_t len, bool entry);
/** The visible type of an entry: the lowest type tag among its live
 * instances, 0 if none (the name is absent). */
enum crdt_type store_entry_type(const struct store_entry *e);
/** The instance of type @t under @e, NULL when the name holds no @t.  Owned
 * by the store; valid until store_done. */
struct store_inst *store_entry_inst(struct store_entry *e, enum crdt_type t);
/** A subscriber's share of the room beside @in or @e, at its offset @off
 * (store_subscribe). */
static inline void *store_inst_room(const struct store_inst *in, uint8_t off)
{
	return (uint8_t *)in->room + off;
}
static inline void *store_entry_room(const struct store_entry *e, uint8_t off)
{
	return (uint8_t *)e->room + off;
}
/** The state of type @t under @e (&store_entry_inst(e, t)->obj), or NULL. */
struct crdt_obj *store_entry_slot(struct store_entry *e, enum crdt_type t);
/** The visible instance of @name for a command that implies type @t.
 * Creates the instance when the name is absent (and @create): new, or all
 * its instances deleted; then an instance of @t the name already holds is
 * reused, so the write lands after the delete.  Returns 0 and
 * *ret, -ENOENT when absent and !create, -EMEDIUMTYPE (CRDT_ETYPE) when the
 * name holds another type, -ENOMEM. */
int store_get(struct store *s, const void *name, size_t len, enum crdt_type t, bool create,
	      struct crdt_obj **ret);
/** 64-bit fingerprint of an encoded state (never 0). */
uint64_t store_fingerprint(const uint8_t *p, size_t len);
/** Announce a change of @e's instance of type @t to every subscriber:
 * a command calls it once after each local write (@c->remote false);
 * store_merge calls it for remote state. */
void store_changed(struct store *s, struct store_entry *e, enum crdt_type t,
		   const struct store_change *c);
/** Before a local write of @e's instance of type @t that can yield its
 * delta: where that delta should go.  NULL and *@own false: nobody needs
 * it (announce the op alone); NULL and *@own true: make it on its own and
 * announce it as store_change.delta; else the state to join it into in
 * place (the one subscriber that needs it keeps that state), announced
 * with store_change.joined.  A join that fails part-way leaves that state
 * unusable: announce the write with neither, and the subscriber drops it. */
struct crdt_obj *store_delta(struct store *s, struct store_entry *e, enum crdt_type t, bool *own);
/** Add @sub (copied) to the change stream, and give it its share of the
 * room beside each instance and entry (store.c, room_fit), zero in every
 * entry held, its offsets in *@room (NULL: it asks for none).  0, or
 * -ENOSPC past STORE_SUBS_MAX or when a share does not fit. */
int store_subscribe(struct store *s, const struct store_sub *sub, struct store_room *room);
/** Remove every subscription with context @ctx.  Accepts an absent one. */
void store_unsubscribe(struct store *s, void *ctx);
/** Merge a remote state into @name's slot of its type, creating either as
 * needed.  When @remote holds writes of our own replica id that we lack,
 * another history was written under it: the store takes a new id first (and
 * logs it), so nothing written here from now on can collide with it.  The
 * merge is then announced to the subscribers (remote).  The caller keeps
 * @remote.  0, or -ENOMEM with the store unchanged. */
int store_merge(struct store *s, const void *name, size_t len, const struct crdt_obj *remote);
/** store_merge of a state that came encoded: @enc[0..enc_len) are the bytes
 * @remote was decoded from (crdt_obj_decode), announced with it (NULL: none). */
int store_merge_encoded(struct store *s, const void *name, size_t len,
			const struct crdt_obj *remote, const uint8_t *enc, size_t enc_len);
/** Whether @name holds exactly @remote already (its instance of that type
 * has @remote's fingerprint, and no deadline passed): a merge of it would
 * change nothing.  Each replica encodes a set in its own hash order
 * (crdt/hash.h), so a peer's bytes of a set equal to ours differ from
 * ours; the fingerprints do not.  False at once for the other types (and
 * for an empty state), whose bytes are the same everywhere; cheap for
 * these, which keep their fingerprints as they change. */
bool store_holds(struct store *s, const void *name, size_t len, const struct crdt_obj *remote);
/** store_merge_encoded of a state the caller owns and is done with (a
 * decoded record): where @name had no instance of @remote's type, @remote's
 * state is moved into the new one, not copied (a catch-up of 1,000,000
 * small sets spent most of its receiver's loop copying each), and @remote
 * is left empty (type 0: crdt_obj_done on it does nothing). */
int store_merge_take(struct store *s, const void *name, size_t len, struct crdt_obj *remote,
		     const uint8_t *enc, size_t enc_len);
/** DEL of @name: clear every instance under it (crdt_obj_clear) and
 * announce each one that changed (a local STORE_OP_STATE with its new
 * state).  1 if the name was visible, 0 if it was absent; -EOPNOTSUPP with
 * nothing changed when an instance is of a grow-only type; -ENOMEM (the
 * instances cleared before it stay cleared, and are announced). */
int store_del(struct store *s, const void *name, size_t len);
/** Whether some instance of the name has type @t without delete
 * (crdt_obj_can_clear): DEL would answer -EOPNOTSUPP.  0, or that type. */
enum crdt_type store_entry_undeletable(struct store_entry *e);
/** The wall clock deadlines are compared with, for every store of the
 * process (NULL: crdt_clock_realtime); tests move time with their own. */
void store_set_clock(crdt_clock_fn clock, void *ctx);
/** Whether @name is reserved to the store (a deadline's companion): never
 * visible, and not a name clients may write. */
bool store_name_reserved(const void *name, size_t len);
/** The deadline of a visible @e in wall-clock ms, 0 if none. */
int64_t store_entry_deadline(const struct store_entry *e);
/** Set (@deadline_ms > 0) or remove (0, PERSIST) the deadline of @name: a
 * write of its companion register stamped by @hlc, announced as a local
 * change.  A deadline already past deletes the name at once, as expiry
 * does.  0, or a negative errno / CRDT error. */
int store_set_deadline(struct store *s, struct crdt_hlc *hlc, const void *name, size_t len,
		       int64_t deadline_ms);
/** Delete up to @max names whose deadline is at or before the store's clock
 * (store_del, then the deadline's own delete).  The number handled. */
size_t store_expire(struct store *s, size_t max);
/** The soonest deadline in the heap (wall-clock ms), 0 if none. */
int64_t store_next_deadline(const struct store *s);
/** Room for @names names before the table grows, in an empty store (a load
 * that knows its count: no rehash of the growing table, 10 % of loading
 * 1,000,000 keys).  0, or -ENOMEM with the store unchanged; a store that
 * holds anything, or a count past any table, is left as it is. */
int store_reserve(struct store *s, size_t names);
/** After a load that filled instances without store_merge (the journal):
 * mirror every companion into its name's entry, and count the keyspace. */
void store_loaded(struct store *s);
/** The keyspace as DBSIZE and INFO keyspace show it: the names visible now
 * (store_entry_type), by type, and those of them with a deadline.  Counts
 * kept at every change; the cost is the names past their deadline that the
 * expiry has not deleted yet (a walk of that top of the heap), not the size
 * of the store. */
void store_keyspace(const struct store *s, struct store_keyspace *ret);
/** The grace of reclaiming, [keyspace] reclaim_after in ms (0: never
 * reclaim).  Turning it on notes every name that holds nothing live now,
 * as deleted now (a walk of the table). */
void store_set_reclaim(struct store *s, int64_t after_ms);
/** Drop up to @max names that have held nothing live, with no deadline in
 * the future, and had no change for the grace (store.h above), with their
 * deadline's companion; forget expired reclaims.  The names looked at (a
 * bound on the work). */
size_t store_reclaim(struct store *s, size_t max);
/* A walk of the store that may pause between entries (store_next): its
 * place, kept by the walker.  Zeroed, or store_walk_start'ed, it starts at
 * the beginning. */
struct store_walk {
	size_t pos;        /* the next slot: the old table's, then the new one's */
	size_t ocap;       /* the old table's size when it last moved */
	uint64_t tgen;     /* the store's tgen then */
	uint64_t restarts; /* times it began again since store_walk_start */
};

/** @w at the start of @s. */
void store_walk_start(const struct store *s, struct store_walk *w);
/** The next entry of a walk that holds an instance, NULL at the end (@w
 * stays there).  Every entry held from the start of the walk to its end
 * is returned at least once: a rehash that begins or ends between two
 * calls keeps the walk's place; if it may have been lost (two rehashes
 * began or ended in between), the walk starts again (w->restarts).  While
 * a rehash runs, an entry moved after the walk met it in the old table may
 * be met again in the new one. */
struct store_entry *store_next(const struct store *s, struct store_walk *w);
/** Move up to @slots slots of the table being rehashed into the new one
 * (about 45 ns a slot at 1,000,000 names).  A table rebuilt at its load
 * limit is rehashed this way, besides a few slots at every new name, so
 * that no single call moves every name (store.c, rehash_begin).  Whether a
 * rehash is still under way. */
bool store_rehash(struct store *s, size_t slots);
/** Visit every entry that holds an instance, visible or not (the deleted
 * ones replicate and are stored too), each once; order is the tables'.
 * @cb must not add or remove names.  A non-zero return stops. */
int store_foreach(const struct store *s, int (*cb)(struct store_entry *e, void *ctx), void *ctx);
/** One step of a scan (SCAN): the entries of the table buckets from
 * @cursor on, as store_foreach visits them, to @cb, until about @count of
 * them (or ten times as many buckets) are visited; the cursor of the
 * next step, 0 after the last.  Buckets go in Redis's reverse-binary order
 * of their index, and a bucket is every entry whose hash's low bits are its
 * index, so a scan from cursor 0 to 0 visits every entry held throughout
 * at least once however the table was rebuilt or rehashed between steps
 * (exactly once if it was neither).  While a rehash runs, a step visits a
 * bucket of the smaller table and the buckets it splits into in the larger
 * one, as Redis's dictScan does. */
uint64_t store_scan(const struct store *s, uint64_t cursor, size_t count,
		    int (*cb)(struct store_entry *e, void *ctx), void *ctx);

#endif
