/* The piece cache: what a catch-up cut (crdt_obj_pieces through the
 * packer) made of an instance, kept encoded so that the next catch-up, to
 * any peer, and every resync sends it again without cutting or encoding
 * anything (docs/protocol.md, "The piece cache").  Pure: no I/O, no libuv;
 * it reads the store's change announcements, never the store.
 *
 * An instance's cache is a list of runs, each the records one cut emitted
 * for a range [lo, hi) of the dot space in (replica id, counter) order (the
 * cursor's, crdt/codec.h): the pieces of a large OR-Set one run each, any
 * other cut one run for all it emitted (an instance sent whole is one run
 * over the whole space; under PCACHE_WHOLE_MIN bytes it is not kept).  A
 * cut that begins with its cursor in elemtab order (crdt_cursor.bases: a
 * G-Set after its first piece, an OR-Map's baselines) is not kept: its
 * place is no point of the dot space.  A
 * run holds exactly the instance's state restricted to its range, as it
 * was when cut; it stays while no change could have changed that
 * restriction:
 *  - a change to an OR-Set that carries its delta (a local write) or the
 *    state merged in (a remote one, up to PCACHE_PARSE_PARTS elements)
 *    drops the runs whose range meets an interval of that state's causal
 *    context, and keeps the others (docs/encoding.md, "Pieces kept across
 *    changes", says why that is sound);
 *  - any other change drops every run of the instance.
 * A run that is an instance's whole encoding in one piece (fp set) serves
 * any datagram size it fits, and the full-state sends of rounds and
 * CRDT.SYNC use it too (pcache_whole, pcache_put_whole).
 * Runs are sorted by lo and none lies inside another; two may overlap
 * (a range cut again runs on into the next run's), which only sends a few
 * dots twice.
 *
 * The cache holds at most max_bytes (piece bytes and their bookkeeping,
 * its table included): past it, whole instances go, least recently used
 * first; a run that does not fit even then is not kept.  Instances are
 * keyed by an address the caller chooses (the store entry) and a type;
 * pcache_forget drops a key that is going away.  Who frees what: the
 * cache owns every run; a run pcache_find or pcache_whole returns is the
 * cache's, valid until the next call that changes the cache. */
#ifndef CRDTD_GOSSIP_PCACHE_H
#define CRDTD_GOSSIP_PCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/codec.h"
#include "state/store.h"

/* A remote OR-Set state of more elements than this is not read for its
 * context (encoding it would cost what the cache saves): it drops every
 * run of its instance. */
#define PCACHE_PARSE_PARTS 4096
/* A whole encoding shorter than this is not kept: encoding it again costs
 * less than finding it (docs/benchmarks.md, "The sender's piece cache"). */
#define PCACHE_WHOLE_MIN 512

struct pcache_piece {
	const uint8_t *data;
	size_t len;
	/* its summary, as the packer sends it (wire_packer_add_piece) */
	bool sum;
	uint32_t sum_dots;
	uint64_t sum_hash;
};

struct pcache_run {
	struct crdt_rid lo_rid, hi_rid;
	uint64_t lo_ctr, hi_ctr;
	bool hi_end;       /* hi is the end of the dot space */
	uint64_t skipped;  /* elements the cut left out (crdt_cursor.skipped) */
	uint64_t fp;       /* store_fingerprint of the whole encoding, 0: not whole */
	size_t n;          /* pieces */
	struct pcache_piece *pieces;
	size_t bytes;      /* what it counts against max_bytes */
};

struct pcache_stats {
	uint64_t hits;      /* pieces sent from the cache */
	uint64_t misses;    /* pieces cut because the cache had none for their range */
	uint64_t drops;     /* pieces dropped because a change reached their range */
	uint64_t evictions; /* pieces dropped (or not kept) for max_bytes */
	uint64_t bytes;     /* held now */
	uint64_t instances; /* with a run now */
	uint64_t max_bytes;
};

struct pcache;

/** A cache of at most @max_bytes (> 0).  *ret on success; free with
 * pcache_free.  -EINVAL, -ENOMEM. */
int pcache_new(size_t max_bytes, struct pcache **ret);
/** Frees it and every run.  Accepts NULL. */
void pcache_free(struct pcache *c);
/** The run of (@key, @t) cut for records of @room bytes that holds the
 * point (@at->rid, @at->ctr), NULL for none; *@ret_ahead says whether a
 * run starts after that point (so a cut from it should stop early).  A run
 * found counts as used (least recently used goes first).  Valid until the
 * next call that changes the cache. */
const struct pcache_run *pcache_find(struct pcache *c, const void *key, enum crdt_type t,
				     size_t room, const struct crdt_cursor *at, bool *ret_ahead);
/** The run of (@key, @t) that is its whole encoding in one piece (fp set,
 * over the whole dot space), whatever record size it was kept for; NULL
 * for none.  Counts as used; valid as pcache_find's. */
const struct pcache_run *pcache_whole(struct pcache *c, const void *key, enum crdt_type t);
/** Keep @enc (@len bytes), the whole encoding of (@key, @t), of
 * store_fingerprint @fp (not 0), just sent as one record of @room bytes at
 * most (counted as a miss). */
void pcache_put_whole(struct pcache *c, const void *key, enum crdt_type t, size_t room,
		      const uint8_t *enc, size_t len, uint64_t fp);
/** Count @n pieces sent from a run found. */
void pcache_hit(struct pcache *c, size_t n);

/* Recording a cut: pcache_cut_start with the cursor before it, then
 * pcache_cut_piece for each record it emits (with the cursor as it was at
 * the piece, NULL for none), then pcache_cut_end with the cursor after it,
 * or pcache_cut_abort to keep nothing (a cut that failed).  One cut at a
 * time. */
void pcache_cut_start(struct pcache *c, const void *key, enum crdt_type t, size_t room,
		      const struct crdt_cursor *at);
void pcache_cut_piece(struct pcache *c, const uint8_t *piece, size_t len,
		      const struct crdt_cursor *cur, bool sum, uint32_t sum_dots,
		      uint64_t sum_hash);
/** @fp: store_fingerprint of the whole encoding when the cut sent exactly
 * that, else 0. */
void pcache_cut_end(struct pcache *c, const struct crdt_cursor *after, uint64_t fp);
void pcache_cut_abort(struct pcache *c);

/** Whether runs of (@key, @t) are kept: a local write to it must then come
 * with its own delta, whose context says which runs it changed. */
bool pcache_holds(const struct pcache *c, const void *key, enum crdt_type t);
/** A change of (@key, @t), as the store announced it (store.h): drop the
 * runs it may have changed. */
void pcache_changed(struct pcache *c, const void *key, enum crdt_type t,
		    const struct store_change *ch);
/** Drop every run of @key, of every type. */
void pcache_forget(struct pcache *c, const void *key);
void pcache_get_stats(const struct pcache *c, struct pcache_stats *ret);

#endif
