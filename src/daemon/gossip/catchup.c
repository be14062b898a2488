/* Catch-up (docs/protocol.md, "Catch-up"): the whole instances one peer
 * needs (a resync walks the store, a digest exchange queues names), cut
 * into pieces a few at a time, served from the piece cache where it holds
 * them, and sent as the peer's ACK-paced window allows (xfer.h).  Part of
 * the gossip core (core_int.h): no libuv, time from the entry point. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/core_int.h"
#include "log.h"

void catchup_names_clear(struct peer *p)
{
	for (size_t i = 0; i < p->cu_n; i++)
		free(p->cu_names[i].name);
	p->cu_n = 0;
	if (p->cu_ix)
		memset(p->cu_ix, 0, CU_IX_SLOTS * sizeof(*p->cu_ix));
	p->cu_ix_used = 0;
}


/* Datagrams packed ahead of what the window sends. */
#define CU_AHEAD 64

/* The index slot holding place @pos (1-based) of key @key, or NULL. */
static uint32_t *cu_ix_slot(struct peer *p, uint64_t key, uint32_t pos)
{
	if (!p->cu_ix)
		return NULL;
	for (size_t i = key & (CU_IX_SLOTS - 1); p->cu_ix[i]; i = (i + 1) & (CU_IX_SLOTS - 1))
		if (p->cu_ix[i] == pos)
			return &p->cu_ix[i];
	return NULL;
}
/* Pieces cut at most in one call of cu_pump, however wide the window: a
 * piece of a 1,000,000-element set costs about 30 us to cut, so a loop pass
 * spends at most about half a millisecond on it; what is left goes on at a
 * tick in the next pass.  A slice of a large OR-Set's dot index (when it
 * has none yet) costs about 0.3 ms: it counts as CU_SLICE pieces, so that
 * a pass builds at most three (docs/benchmarks.md). */
#define CU_CUT_PASS 16
#define CU_SLICE 6
/* An entry whose instances are all small (no type that is cut from a
 * cursor, or at most CU_SMALL_PARTS members or fields) goes whole, as the
 * pushes' STATE records do: many a datagram, not a cut of one piece each
 * (1,000,000 registers went as 62,500 half-empty datagrams, 16 a call).
 * Such entries count against a call's budget a piece for each datagram
 * they fill and for every CU_SMALL_PER_PIECE of them. */
#define CU_SMALL_PARTS 32
#define CU_SMALL_PER_PIECE 32

static bool cu_more(const struct peer *p)
{
	return p->cu_scan || p->cu_n || p->cu_cut;
}

bool catchup_idle(const struct peer *p)
{
	return !cu_more(p) && xfer_idle(&p->xf);
}

bool catchup_walking(const struct peer *p)
{
	return p->cu_scan;
}

/* @p sent us the instance of digest key @key, or a change to it, within
 * the last round: it is sending it, or writing it, now. */
bool catchup_receiving(const struct gossip_core *g, const struct peer *p, uint64_t key)
{
	for (size_t i = 0; i < GOSSIP_RECENT; i++)
		if (p->recent[i].ms && p->recent[i].key == key &&
		    g->now_ms < p->recent[i].ms + g->interval_ms)
			return true;
	return false;
}

/* Some peer sent us the instance of digest key @key, or a change to it,
 * within the last round. */
bool catchup_receiving_any(const struct gossip_core *g, uint64_t key)
{
	for (size_t i = 0; i < g->npeers; i++)
		if (catchup_receiving(g, g->peers[i], key))
			return true;
	return false;
}

/* Remember that @p's DELTA carried instance @name (consecutive records of
 * one instance, a large one's pieces, take one slot). */
void catchup_note_received(struct gossip_core *g, struct peer *p, const uint8_t *name, size_t len)
{
	uint64_t key = digest_name_key(name, len);
	unsigned last = (p->recent_i + GOSSIP_RECENT - 1) % GOSSIP_RECENT;

	if (p->recent[last].ms && p->recent[last].key == key) {
		p->recent[last].ms = g->now_ms + 1;
		return;
	}
	p->recent[p->recent_i].key = key;
	p->recent[p->recent_i].ms = g->now_ms + 1;
	p->recent_i = (p->recent_i + 1) % GOSSIP_RECENT;
}

/* @p's walk of the store from its first name, carrying every write so far
 * (to_catchups reads cu_resync_gen). */
static void walk_from_start(struct gossip_core *g, struct peer *p)
{
	p->cu_scan = true;
	p->cu_again = false;
	p->cu_resync_gen = g->change_gen;
	store_walk_start(g->store, &p->cu_walk);
}

/* The next instance of @p's catch-up, or NULL when none is left. */
static struct store_entry *cu_next(struct gossip_core *g, struct peer *p)
{
	struct store_entry *e;

	for (int walk = 0; p->cu_scan && walk < 2; walk++) {
		if ((e = store_next(g->store, &p->cu_walk)))
			return e;
		p->cu_scan = false;
		if (p->cu_again) /* a CRDT.SYNC during this walk: the next one */
			walk_from_start(g, p);
	}
	while (p->cu_n) {
		struct cu_name *q = &p->cu_names[p->cu_n - 1];
		uint32_t *sl = cu_ix_slot(p, q->key, (uint32_t)p->cu_n);
		if (sl)
			*sl = CU_IX_GONE;
		p->cu_n--;
		e = store_find(g->store, q->name, q->len);
		free(q->name);
		if (e)
			return e;
	}
	return NULL;
}

static int cu_emit(const uint8_t *d, size_t len, void *ctx)
{
	struct peer *p = ctx;

	return xfer_queue(&p->xf, d, len);
}

/* Cut @e's type slots from @t on, the first one found starting now; the
 * cut ends when none is left.  -ENOMEM. */
static int cu_cut_from(struct peer *p, const struct store_entry *e, int t)
{
	for (; t <= CRDT_TYPE_MAX; t++)
		if (store_entry_inst((struct store_entry *)e, t))
			break;
	if (t > CRDT_TYPE_MAX) {
		free(p->cu_cut);
		p->cu_cut = NULL;
		return 0;
	}
	if (!p->cu_cut) { /* else it is @e's name already */
		if (!(p->cu_cut = malloc(e->name_len ? e->name_len : 1)))
			return -ENOMEM;
		memcpy(p->cu_cut, e->name, e->name_len);
		p->cu_cut_len = e->name_len;
	}
	p->cu_cut_type = t;
	p->cu_cur = CRDT_CURSOR_INIT;
	return 0;
}

/* Pieces sent from the piece cache cost this many fewer than cut ones
 * against a pass's budget (a copy, not a cut). */
#define CU_HITS_PER_CUT 8

/* The run of the piece cache that holds @p's cursor, sent as it is: its
 * records packed, the cursor moved past its range.  1 if one was sent, 0
 * if the cache has none (*@ret_ahead: one starts further on), or the
 * packer's error. */
static int cu_send_cached(struct gossip_core *g, struct peer *p, struct wire_packer *pk,
			  struct store_entry *e, struct store_inst *in, size_t room, size_t *budget,
			  bool *ret_ahead)
{
	const struct pcache_run *run;
	bool fresh = p->cu_cur.pieces == 0;
	int r;

	if (!g->pc ||
	    !(run = pcache_find(g->pc, e, p->cu_cut_type, room, &p->cu_cur, ret_ahead)))
		return 0;
	for (size_t i = 0; i < run->n; i++) /* a whole encoding kept for a larger room */
		if (crdt_varint_len(run->pieces[i].len) + run->pieces[i].len > room)
			return 0;
	for (size_t i = 0; i < run->n; i++) {
		const struct pcache_piece *pc = &run->pieces[i];
		if ((r = wire_packer_add_piece(pk, e->name, e->name_len, pc->data, pc->len, pc->sum,
					       pc->sum_dots, pc->sum_hash)) < 0)
			return r;
	}
	pcache_hit(g->pc, run->n);
	if (fresh && run->fp)
		ginst(g, in)->fp = run->fp;
	p->cu_cur.pieces += run->n;
	p->cu_cur.skipped += run->skipped;
	if (run->hi_end) {
		p->cu_cur.done = 1;
	} else {
		p->cu_cur.rid = run->hi_rid;
		p->cu_cur.ctr = run->hi_ctr;
	}
	p->cu_hit_acc += (unsigned)(run->n < CU_HITS_PER_CUT ? run->n : CU_HITS_PER_CUT);
	if (p->cu_hit_acc >= CU_HITS_PER_CUT) {
		p->cu_hit_acc -= CU_HITS_PER_CUT;
		if (*budget)
			(*budget)--;
	}
	return 1;
}

static void cu_tap(const uint8_t *state, size_t len, const struct crdt_cursor *cur, bool sum,
		   uint32_t sum_dots, uint64_t sum_hash, void *ctx)
{
	pcache_cut_piece(ctx, state, len, cur, sum, sum_dots, sum_hash);
}

/* The next pieces of the instance being cut, at most *@budget, as its state
 * is now (each piece is sound on its own, whatever the instance was when
 * the one before was cut: docs/encoding.md).  What the piece cache holds
 * for the cursor goes from there; what it lacks is cut, and kept. */
static int cu_cut_some(struct gossip_core *g, struct peer *p, struct wire_packer *pk,
		       size_t *budget)
{
	struct store_entry *e = store_find(g->store, p->cu_cut, p->cu_cut_len);
	struct store_inst *in = e ? store_entry_inst(e, p->cu_cut_type) : NULL;
	size_t ahead = CU_AHEAD - xfer_unsent(&p->xf), n = *budget < ahead ? *budget : ahead;
	uint64_t before = p->cu_cur.pieces;
	size_t size, room;
	bool whole, more = false;
	int r;

	if (!in) { /* gone meanwhile; what replaced it goes by the digest rounds */
		free(p->cu_cut);
		p->cu_cut = NULL;
		return 0;
	}
	/* the instance's size goes with its pieces, a set's members or a
	 * hash's fields and baselines: the receiver sizes its tables once
	 * (protocol.md, "Catch-up") */
	size = crdt_obj_pieces_total(&in->obj);
	pk->size = size < UINT32_MAX ? (uint32_t)size : UINT32_MAX;
	room = wire_packer_room(pk, e->name_len);
	r = cu_send_cached(g, p, pk, e, in, room, budget, &more);
	if (r == 0) {
		/* a run of the cache further on: cut only up to it */
		if (more)
			n = 1;
		if (g->pc) {
			pcache_cut_start(g->pc, e, p->cu_cut_type, room, &p->cu_cur);
			pk->tap = cu_tap;
			pk->tap_ctx = g->pc;
		}
		r = wire_packer_add_pieces(pk, e->name, e->name_len, &in->obj, &p->cu_cur, n,
					   &whole);
		pk->tap = NULL;
		if (g->pc) {
			if (r == 0)
				pcache_cut_end(g->pc, &p->cu_cur,
					       whole ? store_fingerprint(pk->scratch.data,
									 pk->scratch.len)
						     : 0);
			else
				pcache_cut_abort(g->pc);
		}
		*budget -= p->cu_cur.pieces > before + 1 ? p->cu_cur.pieces - before : 1;
	} else {
		whole = false;
		r = r > 0 ? 0 : r;
	}
	pk->size = 0;
	if (r > 0) {
		/* a slice of the set's dot index was built instead (about
		 * 0.3 ms, the cost of CU_SLICE pieces) */
		if (g->io.tick_wanted)
			*budget = *budget > CU_SLICE ? *budget - CU_SLICE : 0;
		return 0;
	}
	if (r == -EMSGSIZE) {
		core_note_left_out(g, e, p->cu_cut_type, r);
		p->cu_cur.done = 1;
	} else if (r < 0) {
		return r;
	}
	if (whole)
		ginst(g, in)->fp = store_fingerprint(pk->scratch.data, pk->scratch.len);
	if (!p->cu_cur.done)
		return 0;
	if (p->cu_cur.skipped)
		core_note_left_out(g, e, p->cu_cut_type,
			      (long)(p->cu_cur.skipped > INT32_MAX ? INT32_MAX : p->cu_cur.skipped));
	return cu_cut_from(p, e, p->cu_cut_type + 1);
}

/* Pack what comes next into the stream, CU_AHEAD datagrams ahead and at
 * most *@budget pieces. */
static void cu_fill(struct gossip_core *g, struct peer *p, size_t *budget)
{
	struct wire_packer pk;
	struct store_entry *e;
	size_t small = 0;

	if (!cu_more(p) || xfer_unsent(&p->xf) >= CU_AHEAD || !*budget ||
	    wire_packer_init_delta(&pk, dgram_budget(g), g->self, g->node, g->node_len,
				   p->xf.epoch, cu_emit, p) < 0)
		return;
	pk.seq = xfer_next_seq(&p->xf) - 1;
	while (xfer_unsent(&p->xf) < CU_AHEAD && *budget) {
		if (!p->cu_cut) {
			if (!(e = cu_next(g, p)))
				break;
			g->st.catchup_instances++;
			if (!core_entry_parts_over(e, CU_SMALL_PARTS)) {
				uint64_t before = pk.datagrams;
				size_t cost;
				if (core_pack_entry(g, &pk, e) < 0)
					break; /* no memory: the digest rounds find it again */
				cost = (size_t)(pk.datagrams - before) +
				       (++small % CU_SMALL_PER_PIECE == 0);
				*budget -= cost < *budget ? cost : *budget;
				continue;
			}
			if (cu_cut_from(p, e, CRDT_TYPE_MIN) < 0)
				break; /* no memory: the digest rounds find it again */
			if (!p->cu_cut)
				continue;
		}
		if (cu_cut_some(g, p, &pk, budget) < 0)
			break; /* no memory: the cut goes on at the next call */
	}
	if (wire_packer_flush(&pk) < 0 && ratelimit_ok(&g->rl_send, g->now_ms))
		log_error("gossip", "peer %s: catch-up: out of memory", p->name);
	wire_packer_done(&pk);
}

/* Pieces are left to cut that the window could take: the next loop pass
 * should go on (after the clients' I/O of this one). */
static bool cu_cut_wanted(const struct peer *p)
{
	return cu_more(p) && xfer_unsent(&p->xf) < CU_AHEAD;
}

struct cu_send {
	struct gossip_core *g;
	struct peer *p;
};

/* A datagram of the stream (the xfer's copy, which stays until the burst
 * ends) into the burst: the window's go to the transport in one call.  One
 * the transport refuses then is lost to the stream, which sends it again
 * as it does one the network lost. */
static int cu_send(const uint8_t *d, size_t len, void *ctx)
{
	struct cu_send *c = ctx;

	core_burst_add(c->g, c->p, d, len);
	return 0;
}

/* xfer_send, its datagrams in one burst. */
static size_t cu_send_window(struct gossip_core *g, struct peer *p)
{
	struct cu_send c = { g, p };
	size_t n = xfer_send(&p->xf, g->now_ms, cu_send, &c);

	core_burst_end(g);
	return n;
}

/* Send what @p's window allows, and ask for a tick when the next is due. */
void catchup_pump(struct gossip_core *g, struct peer *p)
{
	/* with no tick to go on later, only rounds and ACKs: all it can now */
	size_t budget = g->io.tick_wanted ? CU_CUT_PASS : SIZE_MAX;
	uint64_t due;

	if (!p->resolved || peer_down(p) || catchup_idle(p))
		return;
	do
		cu_fill(g, p, &budget);
	while (cu_send_window(g, p) && !xfer_unsent(&p->xf) && cu_more(p) && budget);
	if (!g->io.tick_wanted)
		return;
	if (cu_cut_wanted(p))
		g->io.tick_wanted(g->io.ctx, 0);
	else if ((due = xfer_due(&p->xf, g->now_ms)) != UINT64_MAX)
		g->io.tick_wanted(g->io.ctx, due > g->now_ms ? due - g->now_ms : 1);
}

void catchup_resync(struct gossip_core *g, struct peer *p)
{
	g->st.delta_resyncs++; /* also when the queue overflows (catchup_add) */
	catchup_walk(g, p);
}

void catchup_walk(struct gossip_core *g, struct peer *p)
{
	xfer_reset(&p->xf, ++g->xepoch); /* what was queued is in the walk */
	p->missed = false; /* and what went whole past it */
	catchup_names_clear(p);
	free(p->cu_cut); /* the walk sends it again, whole */
	p->cu_cut = NULL;
	p->cu_busy = true; /* a digest exchange under way sends nothing more */
	walk_from_start(g, p);
}

/* The datagrams in flight to @p's previous process will never be
 * acknowledged, and the stream's timeouts grew while it was up and silent
 * (not yet counted down): it sent nothing for 0.8-3 s when a node of
 * 300,000 keys came back after 100,000 writes.  They go again at once, and
 * what is queued after them. */
void catchup_restarted(struct peer *p)
{
	xfer_rewind(&p->xf);
}

/* Put cu_names[pos - 1] in the index: its first empty slot from its key. */
static void cu_ix_put(struct peer *p, uint32_t pos)
{
	size_t i = p->cu_names[pos - 1].key & (CU_IX_SLOTS - 1);

	while (p->cu_ix[i])
		i = (i + 1) & (CU_IX_SLOTS - 1);
	p->cu_ix[i] = pos;
	p->cu_ix_used++;
}

/* @p gets instance @name whole.  Once queued it is not queued twice. */
void catchup_add(struct gossip_core *g, struct peer *p, const uint8_t *name, size_t len)
{
	struct cu_name *q;
	uint64_t key = digest_name_key(name, len);

	if (p->cu_scan && p->cu_walk.pos == 0)
		return; /* the walk has not started: it sends this one */
	if (!p->cu_ix && !(p->cu_ix = calloc(CU_IX_SLOTS, sizeof(*p->cu_ix)))) {
		catchup_resync(g, p); /* costs no memory */
		return;
	}
	for (size_t i = key & (CU_IX_SLOTS - 1); p->cu_ix[i]; i = (i + 1) & (CU_IX_SLOTS - 1)) {
		if (p->cu_ix[i] == CU_IX_GONE)
			continue;
		q = &p->cu_names[p->cu_ix[i] - 1];
		if (q->key == key && q->len == len && !memcmp(q->name, name, len))
			return;
	}
	if (p->cu_n == CU_NAMES_MAX) {
		catchup_resync(g, p);
		return;
	}
	if (p->cu_n == p->cu_alloc) {
		size_t cap = p->cu_alloc ? 2 * p->cu_alloc : 16;
		if (!(q = realloc(p->cu_names, cap * sizeof(*q)))) {
			catchup_resync(g, p); /* costs no memory */
			return;
		}
		p->cu_names = q;
		p->cu_alloc = cap;
	}
	q = &p->cu_names[p->cu_n];
	if (!(q->name = malloc(len ? len : 1))) {
		catchup_resync(g, p);
		return;
	}
	memcpy(q->name, name, len);
	q->len = len;
	q->key = key;
	p->cu_n++; /* a stack: cu_next takes the newest (order does not matter) */
	if (p->cu_ix_used >= CU_IX_SLOTS / 2) { /* mostly taken-off slots: anew */
		memset(p->cu_ix, 0, CU_IX_SLOTS * sizeof(*p->cu_ix));
		p->cu_ix_used = 0;
		for (uint32_t i = 1; i < p->cu_n; i++)
			cu_ix_put(p, i);
	}
	cu_ix_put(p, (uint32_t)p->cu_n);
}
