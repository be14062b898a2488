/* The digest: a fingerprint of the whole store, bucketed by name hash, for
 * anti-entropy rounds that compare before they send (docs/protocol.md).
 *
 * Each instance (a name's state of one type) contributes
 *
 *     contrib = mix(key ^ crdt_obj_fingerprint(state))
 *
 * to bucket key >> (64 - DIGEST_BITS), where key = digest_name_key(name);
 * a bucket is the wrapping sum of its instances' contributions.  A sum over
 * a set depends only on the set: two stores that hold equal states under
 * equal names have equal buckets, whatever order their instances came in,
 * and a bucket follows a change of one instance by subtracting its old
 * contribution and adding its new one, whatever the number of instances.
 *
 * The digest subscribes to the store's change stream.  A change only marks
 * its entry stale (O(1)); digest_refresh() recomputes the stale entries'
 * fingerprints, each once however many writes it took since, and moves
 * their buckets, paid at the round, never on the write path.  An OR-Set
 * and an OR-Map keep the parts of their fingerprint that follow their
 * elements or fields up to date as they change (orset/internal.h,
 * ormap/internal.h), so refreshing one costs its causal context (a few
 * intervals), not its size, except after a decode or (for a set) a bulk
 * merge; the other types' fingerprints are a pass over their state.
 *
 * Pure: no libuv, no I/O.  The per-instance and per-entry fields it keeps
 * (the fingerprint each instance is counted with, an entry's stale mark)
 * live in its share of the room the store keeps beside each (store.h).
 */
#ifndef CRDTD_DIGEST_H
#define CRDTD_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/store.h"

/* 4096 buckets in 64 groups of 64: a round between peers in sync sends
 * the 64 group sums (512 bytes, one datagram at the default mtu); a group
 * that differs costs its 64 bucket sums; a bucket that differs, its
 * instances' keys and fingerprints (about 25 a bucket at 100,000
 * instances). */
#define DIGEST_BITS 12
#define DIGEST_BUCKETS (1u << DIGEST_BITS)
#define DIGEST_GROUP_BITS 6
#define DIGEST_GROUPS (DIGEST_BUCKETS >> DIGEST_GROUP_BITS)

/* The stale list holds at most a 1/DIGEST_STALE_FRACTION of the store's
 * entries (and at least DIGEST_STALE_MIN): when more changed since the last
 * refresh, listing them would cost more memory than walking the store
 * costs time, so the list is dropped and the next refresh walks every
 * entry.  This also bounds the list of a daemon with no peers, where no
 * round ever refreshes: it would otherwise grow by a pointer per name. */
#define DIGEST_STALE_FRACTION 16
#define DIGEST_STALE_MIN 1024

struct digest_stats {
	uint64_t refreshed; /* instance fingerprints recomputed */
};

/* A bucket holding more members than this is crowded: its KEYS are
 * looked up in its members sorted by name key, not by a pass over them
 * all.  At 1,000,000 names a bucket holds about 250.  Its buckets are
 * public (every replica must place a name alike), so a client can pile
 * names into one by trying, one name in 4,096: a pass a KEYS datagram
 * then cost the bucket's size squared over 80 an exchange (0.3-0.4 s of
 * CPU on each side at 20,000 such names; bench/bucket_flood.py). */
#define DIGEST_CROWDED 1024

/* A member's name key beside it, for a crowded bucket's key order. */
struct digest_keyed {
	uint64_t key;
	struct store_entry *e;
};

/* The entries counted in one bucket, in no order: a member leaving takes
 * the last one's place (its place is in its tag, digest.c). */
struct digest_members {
	struct store_entry **v;
	uint32_t n, cap;
	/* a crowded bucket's members in name key order: made when it becomes
	 * crowded (or by the first digest_keyed_between() that needs it),
	 * nsorted pairs sorted, then the pairs of members that joined since
	 * (nbyk in all, room for capk), merged in when they outgrow an eighth
	 * of the sorted ones or before a lookup; a member that leaves leaves
	 * its pair empty (gaps), closed by the next digest_keyed_between() */
	struct digest_keyed *byk;
	uint32_t nbyk, nsorted, capk;
	bool gaps;
};

struct digest {
	struct store *store;
	struct store_room room; /* its share of the room beside each instance and entry */
	uint64_t bucket[DIGEST_BUCKETS];
	struct digest_members members[DIGEST_BUCKETS];
	struct store_entry **stale; /* entries marked stale */
	size_t nstale, stale_cap;
	/* a list dropped by an overflow, its entries' marks cleared a slice
	 * at a time before the walk begins (clearing them at once was a cache
	 * miss each: 5-25 ms of one call while a peer received a store of
	 * 1,000,000 names); until then their marks stay set, and the walk,
	 * not started yet, refreshes them all */
	struct store_entry **dropped;
	size_t ndropped;
	/* a stale entry could not be listed (no memory, or the list reached
	 * its bound): the refresh walks the whole store (again from the
	 * start if the list overflows again); changes meanwhile are listed
	 * as before */
	bool walking;
	struct store_walk walk;
	struct digest_stats stats;
};

/** The digest of @store's current contents, subscribed to its change
 * stream: every instance is stale until the first digest_refresh().
 * Allocated here, freed (and unsubscribed) by digest_free.  0, -ENOMEM, or
 * -ENOSPC when the store has no room for another subscriber. */
int digest_new(struct store *store, struct digest **ret);
/** Unsubscribe and free; accepts NULL. */
void digest_free(struct digest *d);
/** The state fingerprint @in is counted with in its bucket, 0 = not
 * counted. */
uint64_t digest_counted(const struct digest *d, const struct store_inst *in);

/** Recompute the fingerprints of the instances changed since the last
 * refresh and bring their buckets up to date.  Returns how many instances
 * it recomputed. */
size_t digest_refresh(struct digest *d);
/** The same a slice at a time: at most @entries entries (listed, or of the
 * walk), so that a refresh after a burst of changes (a bulk load: 100,000
 * registers are about 40 ms) never holds the loop at once.  Whether the
 * digest is now up to date (nothing stale left). */
bool digest_refresh_some(struct digest *d, size_t entries);

/** The key an instance is bucketed and listed by: a 64-bit hash of its
 * name (FNV-1a 64, then the splitmix64 finaliser), the same on every
 * replica. */
uint64_t digest_name_key(const uint8_t *name, size_t len);

/** The members of crowded bucket @b whose name keys lie in [@from, @to],
 * in key order: sets *@ret to the first (the digest's; valid until the
 * bucket's members change) and returns how many.  -ENOMEM if the order
 * could not be made (the caller may pass over the members instead). */
int64_t digest_keyed_between(struct digest *d, uint32_t b, uint64_t from, uint64_t to,
			     const struct digest_keyed **ret);
/** The bucket of @key. */
static inline uint32_t digest_bucket_of(uint64_t key)
{
	return (uint32_t)(key >> (64 - DIGEST_BITS));
}
/** An instance's share of its bucket: its name key and state fingerprint
 * mixed (never computed by this function from a state). */
uint64_t digest_contrib(uint64_t key, uint64_t fp);
/** The sum of group @i's buckets (i < DIGEST_GROUPS). */
uint64_t digest_group(const struct digest *d, uint32_t i);
/** The sum of every bucket: one word that tells whether two stores
 * differ at all.  Call after digest_refresh(). */
uint64_t digest_root(const struct digest *d);

#endif
