/* Delta intervals (docs/protocol.md, "Delta intervals"): what a local
 * write queues (gossip's subscription to the store's change stream), the
 * push that packs the queue's deltas into numbered DELTA intervals kept in
 * the delta log (dlog.h) and sends each to every peer whose window takes
 * it, fast retransmit and the tail's probe of what a peer has not
 * acknowledged, the log's bound (a peer that lacks a dropped interval gets
 * what it carried whole, by its catch-up) and the resync of a peer that
 * restarted or fell behind.  Part of the gossip core (core_int.h): no
 * libuv, time from the entry point. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/core_int.h"
#include "log.h"

/* The tail's probe.  An interval lost, or whose ACK was lost, with no
 * later one acknowledged (a lone write, or a burst's last ones) has no
 * fast retransmit, which needs three acknowledged past it: it waited for
 * the next round, up to interval_ms.  As the catch-up's (xfer.c, after RFC
 * 8985): when intervals sent to a peer stay unacknowledged for two of its
 * round trips (PING's smoothed RTT; at least XFER_PTO_MIN_MS) with no ACK
 * that acknowledges anything, the oldest of them (at most XFER_PROBE_N) go
 * again.  Each probe left unanswered doubles the wait (xfer_pto_ms); after
 * DL_PROBES_MAX the rounds alone send them, as before. */
#define DL_PROBES_MAX 5

static bool dl_outstanding(const struct peer *p)
{
	return p->dl.sent > p->dl.acked;
}

static uint64_t dl_pto(const struct peer *p)
{
	return peer_pto_ms(p, p->dl_probes);
}

/* The probe due @pto ms from now (the shell's tick takes it). */
static void dl_arm(struct gossip_core *g, struct peer *p)
{
	uint64_t pto = dl_pto(p);

	p->dl_probe_at = g->now_ms + pto;
	if (g->io.tick_wanted)
		g->io.tick_wanted(g->io.ctx, pto);
}

/* An ACK from @p came; @news: it acknowledged an interval it had not. */
void deltas_acked(struct gossip_core *g, struct peer *p, bool news)
{
	if (news)
		p->dl_probes = 0;
	if (!dl_outstanding(p))
		p->dl_probe_at = 0;
	else if (!p->dl_probe_at && p->dl_probes < DL_PROBES_MAX)
		dl_arm(g, p);
	else if (news)
		p->dl_probe_at = g->now_ms + dl_pto(p); /* later: the tick wanted finds it so */
}

/* Interval @it went to @p. */
static void interval_sent(struct gossip_core *g, struct peer *p, const struct dlog_int *it)
{
	g->st.delta_dgrams_out++;
	if (it->seq <= p->dl.sent)
		g->st.delta_resent++;
	else
		p->dl.sent = it->seq;
	if (!p->dl_probe_at)
		dl_arm(g, p);
}

/* Seal interval @it and send it to @p. */
static void send_interval(struct gossip_core *g, struct peer *p, const struct dlog_int *it)
{
	size_t len = it->len;
	const uint8_t *d = core_seal(g, it->d, &len);

	if (!d)
		return;
	core_send_to(g, p, d, len);
	interval_sent(g, p, it);
}

/* At a tick: @p's probe, if due.  When the next one is (UINT64_MAX: none). */
uint64_t deltas_probe(struct gossip_core *g, struct peer *p)
{
	uint64_t seq;
	unsigned n = 0;

	if (!p->dl_probe_at)
		return UINT64_MAX;
	if (!p->resolved || peer_down(p) || !dl_outstanding(p) || p->dl_probes >= DL_PROBES_MAX) {
		p->dl_probe_at = 0; /* the rounds go on */
		return UINT64_MAX;
	}
	if (g->now_ms < p->dl_probe_at)
		return p->dl_probe_at;
	for (seq = p->dl.acked + 1; seq <= p->dl.sent && n < XFER_PROBE_N; seq++) {
		const struct dlog_int *it = dlog_get(&g->dlog, seq);
		if (it && !dlog_peer_has(&p->dl, seq)) {
			send_interval(g, p, it);
			n++;
		}
	}
	g->st.delta_probes++;
	g->st.delta_probe_resent += n;
	p->dl_probes++;
	p->dl_probe_at = g->now_ms + dl_pto(p);
	return p->dl_probe_at;
}


/* The full state to @p, in place of every interval so far: it holds
 * nothing, lags past the log, or (digests = no) restarted or came back. */
void deltas_resync(struct gossip_core *g, struct peer *p)
{
	catchup_resync(g, p);
	dlog_peer_upto(&p->dl, g->dlog.last);
	catchup_pump(g, p);
}

void deltas_repair(struct gossip_core *g, struct peer *p, const char *why)
{
	if (p->restarted)
		catchup_restarted(p);
	p->restarted = false;
	if (!g->digests) {
		log_info("gossip", "peer %s: %s, sending the full state", p->name, why);
		deltas_resync(g, p);
		return;
	}
	/* What it lacks of ours is what its digest lacks: the instances its
	 * next exchange finds differing go to it whole, and a store it holds
	 * (loaded back at its start, kept through a partition) is not sent
	 * again (a restart of a node of 1,000,000 keys got them from every
	 * peer).  Its DIGEST showing nothing, or more differing names than a
	 * catch-up queues, still makes it a resync (rounds.c, catchup.c).  The
	 * intervals it did not acknowledge go again as far as the log holds
	 * them: what the exchange would skip as on its way (a write of it
	 * unacknowledged, another peer's writes arriving) then is; what the
	 * log no longer holds, went whole past it, or it lost with a restart,
	 * the exchange finds. */
	log_info("gossip", "peer %s: %s, comparing digests to send it what differs", p->name, why);
	g->st.delta_repairs++;
	p->missed = false;
	p->repairing = REPAIR_EXCHANGES;
	p->repair_keyed = p->repair_held = false;
	if (p->dl.acked + 1 < dlog_first(&g->dlog))
		dlog_peer_upto(&p->dl, dlog_first(&g->dlog) - 1);
	p->repair_upto = g->dlog.last;
	deltas_send(g, p, DL_AGAIN_ALL);
	/* ours to it: it sends us what we lack.  Not while intervals are on
	 * their way to it (the rounds' DIGEST then, as they defer theirs
	 * while intervals stream: its digest lacks them all, and our KEYS
	 * would list the store to it), nor while a walk to it is under way
	 * (its end sends our DIGEST). */
	if (!catchup_walking(p) && !dlog_peer_pending(&p->dl, g->dlog.last))
		rounds_send_digest_retried(g, p);
	catchup_pump(g, p);
}

/* A round sends again at most DL_AGAIN_BURST intervals to a peer at once,
 * and each ACK from it DL_AGAIN_ACK more, until the round's are sent (at
 * the heal of a storm a round sent the whole window again, 256 intervals
 * to each of two peers: 1.0-1.7 ms of the writer's loop in one call). */
#define DL_AGAIN_BURST 32
#define DL_AGAIN_ACK 16

/* Intervals sent to @p before and not acknowledged, from @seq on, again: at
 * most @n, and none made after @young (those are on their way, with the
 * probe behind them).  The next one to look at, 0 when none is left. */
static uint64_t send_again(struct gossip_core *g, struct peer *p, uint64_t seq, uint64_t young,
			   size_t n)
{
	for (; seq <= p->dl.sent; seq++) {
		const struct dlog_int *it = dlog_get(&g->dlog, seq);
		if (!it || dlog_peer_has(&p->dl, seq))
			continue;
		if (it->made_ms > young) {
			g->st.delta_round_skipped++;
			continue;
		}
		if (n-- == 0)
			return seq;
		send_interval(g, p, it);
		/* sent again once: no fast retransmit of it after the pass
		 * either */
		if (seq > p->fast_upto)
			p->fast_upto = seq;
	}
	return 0;
}

void deltas_send(struct gossip_core *g, struct peer *p, enum dl_again again)
{
	uint64_t young = g->now_ms - peer_pto_ms(p, 0), hi, seq, from;

	if (!p->resolved || peer_down(p) || !g->dlog.last)
		return;
	if (p->dl.acked + 1 < dlog_first(&g->dlog)) {
		deltas_resync(g, p); /* it lacks intervals the log no longer holds */
		return;
	}
	hi = p->dl.acked + DLOG_WINDOW < g->dlog.last ? p->dl.acked + DLOG_WINDOW : g->dlog.last;
	if (again == DL_AGAIN_NONE) {
		/* fast retransmit, as TCP's: an interval not acknowledged while
		 * one three past it is was most likely lost; it goes again now,
		 * once, instead of waiting for the round (the round sends again
		 * whatever is still missing then) */
		uint64_t top = dlog_peer_top(&p->dl);
		seq = p->fast_upto > p->dl.acked ? p->fast_upto + 1 : p->dl.acked + 1;
		for (; seq + 3 <= top; seq++) {
			/* not while a round's go again in order (send_again):
			 * first sends made since, acknowledged first, would
			 * send those it has yet to reach twice */
			if (!p->dl_again_at && !dlog_peer_has(&p->dl, seq)) {
				g->st.delta_fast_resent++;
				send_interval(g, p, dlog_get(&g->dlog, seq));
			}
			p->fast_upto = seq;
		}
	}
	from = p->dl.acked + 1;
	if (again == DL_AGAIN_ALL)
		p->dl_again_at = send_again(g, p, from, UINT64_MAX, SIZE_MAX);
	else if (again == DL_AGAIN_OLD)
		p->dl_again_at = send_again(g, p, from, young, DL_AGAIN_BURST);
	else if (p->dl_again_at) /* what a round left, clocked by this ACK */
		p->dl_again_at = send_again(g, p, p->dl_again_at > from ? p->dl_again_at : from, young,
					    DL_AGAIN_ACK);
	/* and those never sent, as far as the window reaches */
	seq = (p->dl.sent > p->dl.acked ? p->dl.sent : p->dl.acked) + 1;
	for (; seq <= hi; seq++)
		if (!dlog_peer_has(&p->dl, seq))
			send_interval(g, p, dlog_get(&g->dlog, seq));
}

/* The instances interval @it carried, whole, to @p: it lags past the log
 * and the interval is about to be dropped. */
static void fallback_full(struct gossip_core *g, struct peer *p, const struct dlog_int *it)
{
	struct wire_header h;
	struct wire_delta wd;
	struct wire_record *rec;
	size_t off, n;

	if (wire_decode_header(it->d, it->len, &h, &off) < 0 ||
	    wire_decode_delta(it->d + off, it->len - off, &wd) < 0 ||
	    wire_parse_records(wd.records, wd.len, &rec, &n) < 0)
		return; /* cannot happen: we built it */
	for (size_t i = 0; i < n; i++) {
		if (i && rec[i].name_len == rec[i - 1].name_len &&
		    !memcmp(rec[i].name, rec[i - 1].name, rec[i].name_len))
			continue;
		g->st.delta_fallbacks++;
		catchup_add(g, p, rec[i].name, rec[i].name_len);
	}
	free(rec);
	catchup_pump(g, p);
}

/* Make room for an interval of @len bytes: the oldest ones go, and a peer
 * that lacks one gets the instances it carried whole. */
static void make_room(struct gossip_core *g, size_t len)
{
	while (dlog_full(&g->dlog, len)) {
		uint64_t seq = dlog_first(&g->dlog);
		const struct dlog_int *it = dlog_get(&g->dlog, seq);
		for (size_t i = 0; i < g->npeers; i++) {
			struct peer *p = g->peers[i];
			/* a peer down or unresolved is resynced when it is back */
			if (dlog_peer_has(&p->dl, seq) || !p->resolved || peer_down(p))
				continue;
			fallback_full(g, p, it);
			dlog_peer_upto(&p->dl, seq);
		}
		dlog_drop_oldest(&g->dlog);
	}
}

/* Drop the intervals every resolved peer has acknowledged.  A peer that is
 * down keeps those it lacks, up to the log's bounds (make_room): back with
 * the same start it gets them again instead of a resync of the store. */
void deltas_trim(struct gossip_core *g)
{
	while (g->dlog.n) {
		uint64_t seq = dlog_first(&g->dlog);
		for (size_t i = 0; i < g->npeers; i++) {
			struct peer *p = g->peers[i];
			if (p->resolved && !dlog_peer_has(&p->dl, seq))
				return;
		}
		dlog_drop_oldest(&g->dlog);
	}
}

/* Each DELTA datagram the packer finishes is a new interval: logged, then
 * sent to every peer whose window has room for it. */
static int delta_emit(const uint8_t *d, size_t len, void *ctx)
{
	struct gossip_core *g = ctx;
	const struct dlog_int *it;
	struct peer *to[CORE_SEND_EACH];
	const uint8_t *sd = NULL;
	size_t n = 0, slen = len;

	make_room(g, len);
	if (dlog_append(&g->dlog, d, len, g->now_ms) < 0)
		return -ENOMEM; /* the packer's number is taken again next time */
	g->st.delta_intervals++;
	it = dlog_get(&g->dlog, g->dlog.last);
	/* one datagram, sealed once, to every peer whose window takes it */
	for (size_t i = 0; i < g->npeers; i++) {
		struct peer *p = g->peers[i];
		if (p->resolved && !peer_down(p) && it->seq <= p->dl.acked + DLOG_WINDOW)
			to[n++] = p;
		if (n == 1 && !sd && !(sd = core_seal(g, it->d, &slen)))
			return 0;
		if (n && (n == CORE_SEND_EACH || i + 1 == g->npeers)) {
			core_send_each(g, to, n, sd, slen);
			for (size_t k = 0; k < n; k++)
				interval_sent(g, to[k], it);
			n = 0;
		}
	}
	return 0;
}

/* The highest interval a peer can be sent now: the furthest any window
 * that answers reaches (UINT64_MAX when no peer answers: nothing waits). */
uint64_t core_window_end(const struct gossip_core *g)
{
	uint64_t end = 0;
	bool any = false;

	for (size_t i = 0; i < g->npeers; i++) {
		const struct peer *p = g->peers[i];
		if (!p->resolved || peer_down(p) || p->restarted)
			continue;
		any = true;
		if (p->dl.acked + DLOG_WINDOW > end)
			end = p->dl.acked + DLOG_WINDOW;
	}
	return any ? end : UINT64_MAX;
}

/* A delta @d (of slot @t of @e) of more than g->catchup_parts parts that is
 * at least a quarter of its instance goes as the instance by every peer's
 * catch-up instead: cut a few pieces a loop pass and paced by each peer's
 * window, where encoding the delta would hold the loop for as long as the
 * instance's own split (writes joined while every window was shut, a peer
 * down through a bulk load: 270 ms for 200,000 fields).  Not lower: under
 * loss a catch-up recovers slower than the intervals' fast retransmit
 * (at 1,024 the 50,000-element convergence at 30 % loss went 0.6-0.9 s ->
 * 3-3.8 s), and a delta of 65,536 members encodes in a few ms. */
static bool too_large(const struct gossip_core *g, const struct crdt_obj *d,
		      struct store_entry *e, enum crdt_type t)
{
	const struct store_inst *in;
	size_t n;

	if (!d || !d->p || (n = crdt_obj_parts(d)) <= g->catchup_parts)
		return false;
	in = store_entry_inst(e, t);
	return in && n >= crdt_obj_parts(&in->obj) / 4;
}

/* A write's join into an OR-Set's delta (an OR-Map's alike) puts each dot
 * it adds to the context in order among the context's intervals, moving
 * every one after it: O(the context) a write.  A re-add brings the dot it
 * replaces, from anywhere in the counters, so while every window stayed
 * shut a storm of re-adds made it quadratic (SADD of random members of a 1,000,000-member
 * set, the peers cut off: 8.1-8.8 us of the writer's CPU an op, 44 % of it
 * moving intervals).  So once a delta's context has FRESH_AFTER intervals
 * the writes join a small delta beside it (g->beside), which joins it
 * (crdt_obj_merge: one pass over its context) at the push, or once its
 * members and intervals reach FRESH_MAX (3.1-4.1 us an op). */
#define FRESH_AFTER 1024
#define FRESH_MAX 2048

/* Delta @d's context intervals, 0 for a type with no context. */
static size_t ctx_len(const struct crdt_obj *d)
{
	return d->type == CRDT_ORSET ? crdt_orset_context_len(d->os)
	       : d->type == CRDT_ORMAP ? crdt_ormap_context_len(d->om)
				       : 0;
}

/* The small delta beside queued entry @e's (@q->beside). */
static struct beside *beside_of(struct gossip_core *g, const struct store_entry *e)
{
	for (size_t i = 0; i < g->nbeside; i++)
		if (g->beside[i].e == e)
			return &g->beside[i];
	return NULL; /* not reached: q->beside says there is one */
}

/* The small delta beside queued entry @e's delta @q joined into it, unless
 * @join is false or @q goes whole anyway; false (@q then goes whole)
 * without memory. */
static bool pend_fresh(struct gossip_core *g, struct store_entry *e, struct pend *q, bool join)
{
	struct beside *b;

	if (!q->beside || !(b = beside_of(g, e)))
		return !q->whole;
	if (join && !q->whole && crdt_obj_merge(&q->d, &b->d) < 0) {
		g->st.delta_whole_writes++;
		q->whole = true;
	}
	crdt_obj_done(&b->d);
	*b = g->beside[--g->nbeside];
	q->beside = false;
	return !q->whole;
}

/* Where a write joins queued entry @e's delta @q: into it, or once it is a
 * large OR-Set or OR-Map, into the small one beside it; NULL when that one
 * had to join it first and could not (@q then goes whole).  The pointer
 * lasts until the next call: the command keeps the set it points to. */
static struct crdt_obj *pend_into(struct gossip_core *g, struct store_entry *e, struct pend *q)
{
	struct beside *b = q->beside ? beside_of(g, e) : NULL;

	if (!q->d.p || ctx_len(&q->d) < FRESH_AFTER)
		return &q->d;
	if (b && crdt_obj_parts(&b->d) + ctx_len(&b->d) >= FRESH_MAX) {
		if (!pend_fresh(g, e, q, true))
			return NULL;
		b = NULL;
	}
	if (b)
		return &b->d;
	if (g->nbeside == g->beside_cap) {
		size_t cap = g->beside_cap ? 2 * g->beside_cap : 4;
		struct beside *v = realloc(g->beside, cap * sizeof(*v));
		if (!v)
			return &q->d; /* slower, as before */
		g->beside = v;
		g->beside_cap = cap;
	}
	b = &g->beside[g->nbeside];
	if (crdt_obj_new(q->d.type, &b->d) < 0)
		return &q->d;
	b->e = e;
	g->nbeside++;
	q->beside = true;
	return &b->d;
}

/* Delta @d's size as a push cuts it: an OR-Set's or OR-Map's context
 * intervals count as its members or fields do (a delta of removals alone
 * has none, and a context that can be as large as the instance's: SREM of
 * random members of a 1,000,000-member set while the peers were cut off,
 * packed in one call at the heal, held the loop 8.6 ms; HDEL of a hash's
 * fields, 22.7 ms). */
static size_t delta_size(const struct crdt_obj *d)
{
	return crdt_obj_parts(d) + ctx_len(d);
}

/* The size of queued entry @e's delta @q and the small one beside it. */
static size_t pend_size(struct gossip_core *g, const struct store_entry *e, const struct pend *q)
{
	const struct beside *b = q->beside ? beside_of(g, e) : NULL;

	return delta_size(&q->d) + (b ? delta_size(&b->d) : 0);
}

/* Entries push_deltas brings into the cache ahead of the one it packs. */
#define PUSH_AHEAD 8

/* Instance @e whole to every peer that is up by its catch-up, but not to
 * one whose resync began after the write (change_gen @gen) that sends it
 * so: that resync's walk sends it as it is now (a set loaded while the peer
 * was down, pushed once the peer was back, went twice).  Nor to one never
 * heard from: its first contact walks the whole store to it anyway (seen),
 * and pieces sent before it is up only time out (a peer counts as down
 * only after PEER_DOWN_ROUNDS rounds of silence). */
static void to_catchups(struct gossip_core *g, struct store_entry *e, uint64_t gen)
{
	g->st.delta_to_catchup++;
	for (size_t i = 0; i < g->npeers; i++) {
		struct peer *p = g->peers[i];
		if (gen <= p->cu_resync_gen)
			continue;
		if (p->resolved && p->seen && !peer_down(p)) {
			catchup_add(g, p, e->name, e->name_len);
			catchup_pump(g, p);
		} else {
			p->missed = true; /* its resync sends it when it is back */
		}
	}
}

/* The change_gen up to which every peer's resync carries the writes: the
 * least of the peers' cu_resync_gen (down and unresolved ones included, as
 * one back from down may go on with the intervals instead of a resync). */
static uint64_t resync_floor(const struct gossip_core *g)
{
	uint64_t f = UINT64_MAX;

	for (size_t i = 0; i < g->npeers; i++)
		if (g->peers[i]->cu_resync_gen < f)
			f = g->peers[i]->cu_resync_gen;
	return g->npeers ? f : 0;
}

/* Queued writes a push may drop as covered (resync_floor), a push, besides
 * the entries it packs: each costs the freeing of its delta and its entry's
 * cache miss (at 65,536 a push, A's longest call into its gossip core while
 * a peer received 1,000,000 keys was 5.4-6.0 ms of CPU; 2.6-4.9 at this). */
#define PUSH_COVERED_MAX 16384

/* Slices: a queued delta of more than GOSSIP_SLICE_PARTS parts leaves the queue
 * for g->slices, where it is cut from a cursor, at most a push's budget of
 * datagrams a call.  Later writes of its entry queue a delta of their own,
 * pushed as any: each piece, and each delta, is a state that merges on its
 * own in any order (protocol.md, "Delta intervals"), so nothing waits for
 * the slice to end, and a write after it (a removal of a member a piece
 * already carried) is never folded into pieces cut before it. */

/* The entry of slice @k is done with unless another slice holds it: its
 * last record is in the interval being filled (@seq). */
static void slice_end(struct gossip_core *g, size_t k, uint64_t seq)
{
	struct store_entry *e = g->slices[k].e;
	bool other = false;

	crdt_obj_done(&g->slices[k].d);
	g->slices[k] = g->slices[--g->nslices];
	for (size_t i = 0; i < g->nslices; i++)
		other |= g->slices[i].e == e;
	if (!other)
		gentry(g, e)->dseq = seq;
}

/* Queued delta @q of @e into a slice of its own (q keeps none).  -ENOMEM. */
static int slice_start(struct gossip_core *g, struct store_entry *e, struct pend *q)
{
	if (g->nslices == g->slices_cap) {
		size_t cap = g->slices_cap ? 2 * g->slices_cap : 4;
		struct slice *v = realloc(g->slices, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		g->slices = v;
		g->slices_cap = cap;
	}
	g->slices[g->nslices].e = e;
	g->slices[g->nslices].d = q->d;
	g->slices[g->nslices].gen = q->gen;
	g->slices[g->nslices++].cur = CRDT_CURSOR_INIT;
	memset(&q->d, 0, sizeof(q->d));
	gentry(g, e)->dseq = DSEQ_SLICING;
	g->st.delta_slices++;
	return 0;
}

/* The small delta beside queued entry @e's delta @q, which has just become
 * a slice, into a slice of its own: each is a state that merges on its own
 * in any order, and joining the small one into the large one moved every
 * interval of that one's context after the first it touched (at the heal
 * of a storm of SREMs with the peers cut off, 260,000 intervals: 0.4-0.7 ms
 * of the writer's push).  Without memory for the slice, the instance goes
 * whole by the catch-ups. */
static void beside_slice(struct gossip_core *g, struct store_entry *e, struct pend *q)
{
	struct beside *b = q->beside ? beside_of(g, e) : NULL;
	struct pend own;

	if (!b)
		return;
	own = (struct pend){ .d = b->d, .gen = q->gen };
	*b = g->beside[--g->nbeside];
	q->beside = false;
	if (slice_start(g, e, &own) < 0) {
		crdt_obj_done(&own.d);
		to_catchups(g, e, q->gen);
	}
}

/* Slice @k failed (no memory, a member too large for any datagram): its
 * instance goes whole to every peer by its catch-up, and the slice ends. */
static void slice_to_catchups(struct gossip_core *g, size_t k)
{
	to_catchups(g, g->slices[k].e, g->slices[k].gen);
	slice_end(g, k, 0);
}

/* A slice of a delta's dot index, built by a call that cuts no piece
 * (crdt_obj_pieces returns 1), counts as this many datagrams against the
 * push's budget (catchup.c counts it so, CU_SLICE). */
#define SLICE_INDEX_COST 6

/* The datagrams a piece of @d counts as against a push's budget: an
 * OR-Map's costs several times an OR-Set's (55 us a piece of 1,400 bytes
 * against 15 when each was built as a map; 30-39 us a catch-up piece of
 * A's CPU since they are written from the fields, bench/notes.md). */
static size_t piece_cost(const struct crdt_obj *d)
{
	return d->type == CRDT_ORMAP ? 4 : 1;
}

/* The slices' next pieces into @pk, while it has emitted fewer than
 * @budget datagrams (*@extra more count for index slices built) and
 * numbers none past @end; a slice that fails goes by the catch-ups, and one
 * older than every peer's resync (@floor, resync_floor) ends unsent.  False
 * when the budget stopped it.  With no peer that answers (@end UINT64_MAX:
 * every peer down, unresolved or restarted) the slices end unsent: each
 * such peer gets every instance whole by its resync when it answers again
 * (deltas_resync), so their pieces would go to nobody, and cutting them
 * after a bulk load ran on into a peer's first catch-up. */
static bool slices_pack(struct gossip_core *g, struct wire_packer *pk, size_t budget,
			size_t *extra, uint64_t end, uint64_t floor)
{
	if (end == UINT64_MAX) {
		if (g->nslices)
			core_missed_by_down(g);
		while (g->nslices)
			slice_end(g, 0, 0);
		return true;
	}
	for (size_t k = 0; k < g->nslices;) {
		struct slice *s = &g->slices[k];
		size_t used = pk->datagrams + *extra, cost = piece_cost(&s->d), n;
		uint64_t before = s->cur.pieces;
		bool whole;
		int r;

		if (s->gen <= floor) { /* as a queued write (push_deltas) */
			g->st.delta_covered++;
			slice_end(g, k, 0);
			continue;
		}
		if (used >= budget)
			return false;
		if (pk->seq >= end) {
			g->st.delta_held++;
			return true;
		}
		n = budget == SIZE_MAX ? SIZE_MAX : (budget - used + cost - 1) / cost;
		r = wire_packer_add_pieces(pk, s->e->name, s->e->name_len, &s->d, &s->cur, n, &whole);
		if (r == 1) { /* a slice of the delta's dot index was built instead */
			*extra += SLICE_INDEX_COST;
			continue;
		}
		*extra += (size_t)(s->cur.pieces - before) * (cost - 1);
		if (r < 0) {
			slice_to_catchups(g, k);
			continue;
		}
		if (!s->cur.done)
			return false; /* it cut all the budget allowed */
		slice_end(g, k, pk->seq + 1);
	}
	return true;
}

/* The first queued deltas as new intervals, as many as the furthest window
 * takes; those that cannot go (no memory, a piece too large for a
 * datagram) are marked whole, for the full push.  How many entries it took:
 * the others stay queued, their writes joining, until an ACK opens a
 * window.  Numbering intervals no peer can be sent yet would only fill
 * the log, whose bound then sends the instances they carried whole
 * (delta_fallbacks): under a write storm that was most of them.  The
 * slices first; *@ret_more when the push's budget stopped it (the rest
 * goes at the next push). */
static size_t push_deltas(struct gossip_core *g, struct store_entry **ents, struct pend *pend,
			  size_t n, bool *ret_more)
{
	struct wire_packer pk;
	uint64_t end = core_window_end(g), floor = resync_floor(g);
	size_t i, budget = push_budget(g), extra = 0, covered = 0;
	size_t most = budget == SIZE_MAX ? SIZE_MAX : budget * GOSSIP_PUSH_ENTRIES_PER_DGRAM;
	int r;

	if (g->dlog.last >= end) {
		g->st.delta_held++;
		return 0;
	}
	if (wire_packer_init_delta(&pk, g->kr ? g->mtu - AUTH_OVERHEAD : g->mtu, g->self, g->node,
				   g->node_len, g->epoch, delta_emit, g) < 0) {
		for (i = 0; i < n; i++)
			pend[i].whole = true;
		return n;
	}
	pk.seq = g->dlog.last;
	*ret_more = !slices_pack(g, &pk, budget, &extra, end, floor);
	for (i = 0; i < n && !*ret_more; i++) {
		struct pend *q = &pend[i];
		const struct crdt_obj *d = &q->d;
		bool sliced;
		if (i + PUSH_AHEAD < n) {
			/* the entries written since the last push left the cache:
			 * one a few ahead is on its way while this one is packed
			 * (its instance, name and a register kept after it) */
			const uint8_t *e = (const uint8_t *)ents[i + PUSH_AHEAD];
			__builtin_prefetch(e);
			__builtin_prefetch(e + 64);
			__builtin_prefetch(e + 128);
		}
		/* every peer's resync began after this write: each walk
		 * sends the instance as it is then (a store loaded before a
		 * first peer answered went twice, by its deltas and its walk) */
		if (q->gen <= floor && !q->whole) {
			g->st.delta_covered++;
			if (++covered >= PUSH_COVERED_MAX && budget != SIZE_MAX) {
				*ret_more = true;
				i++;
				break;
			}
			continue;
		}
		/* the writes beside a delta that goes as slices go as a slice
		 * of their own (beside_slice); any other's join it now */
		sliced = !q->reg && !q->whole && d->p && crdt_obj_has_pieces(d) &&
			 pend_size(g, ents[i], q) > GOSSIP_SLICE_PARTS;
		if (!sliced)
			pend_fresh(g, ents[i], q, true);
		if (q->reg && !(d = store_entry_slot(ents[i], CRDT_LWWREG)))
			q->whole = true; /* not reached: the write made it */
		if (q->whole || !d->p)
			continue;
		if (too_large(g, &q->d, ents[i], q->d.type)) {
			q->whole = q->by_catchup = true;
			continue;
		}
		if (pk.seq >= end) { /* the datagram being filled is past it */
			g->st.delta_held++;
			break;
		}
		/* the rest at the next push: the datagrams' budget, or as many
		 * entries (a few µs each: many small writes, an MSET) */
		if (pk.datagrams + extra >= budget || i - covered >= most) {
			*ret_more = true;
			break;
		}
		if (sliced && slice_start(g, ents[i], q) == 0) {
			beside_slice(g, ents[i], q);
			*ret_more = !slices_pack(g, &pk, budget, &extra, end, floor);
			continue;
		}
		if (!pend_fresh(g, ents[i], q, true)) /* no slice: the writes beside join */
			continue;
		if ((r = wire_packer_add(&pk, ents[i]->name, ents[i]->name_len, d, NULL)) != 0) {
			q->whole = true;
			if (r < 0 && r != -EMSGSIZE) /* the emit failed: start again */
				pk.seq = g->dlog.last;
			continue;
		}
		/* its last record is in the datagram being filled (a slice of
		 * it under way keeps the entry held: it sets dseq at its end) */
		if (gentry(g, ents[i])->dseq != DSEQ_SLICING)
			gentry(g, ents[i])->dseq = pk.seq + 1;
	}
	if (wire_packer_flush(&pk) < 0) { /* no memory for the log: whole, all */
		for (size_t k = 0; k < i; k++)
			pend[k].whole = true;
		while (g->nslices) /* their pieces cut so far may be lost */
			slice_to_catchups(g, 0);
	}
	wire_packer_done(&pk);
	return i;
}

/* This replica's entries of counter @o: they alone change on a local write,
 * and merge to the new value. */
static int counter_delta(struct gossip_core *g, const struct crdt_obj *o, struct crdt_obj *ret)
{
	uint64_t v;
	int r;

	if ((r = crdt_obj_new(o->type, ret)) < 0)
		return r;
	if (o->type == CRDT_GCOUNTER) {
		if ((v = crdt_vv_get(&o->gc->vv, g->self)))
			r = crdt_vv_raise(&ret->gc->vv, g->self, v);
	} else {
		if ((v = crdt_vv_get(&o->pn->p, g->self)))
			r = crdt_vv_raise(&ret->pn->p, g->self, v);
		if (r >= 0 && (v = crdt_vv_get(&o->pn->n, g->self)))
			r = crdt_vv_raise(&ret->pn->n, g->self, v);
	}
	if (r < 0)
		crdt_obj_done(ret);
	return r < 0 ? r : 0;
}

/* The delta of local write @c to @e's instance of type @t into *ret (the
 * caller frees it): what the command made, or built here; -1 when there is
 * none to be had (the instance then goes whole). */
static int make_delta(struct gossip_core *g, struct store_entry *e, enum crdt_type t,
		      const struct store_change *c, struct crdt_obj *ret)
{
	const struct crdt_obj *o = store_entry_slot(e, t);
	int r;

	if (c->delta)
		return crdt_obj_copy(c->delta, ret);
	switch (c->op) {
	case STORE_OP_STATE:
	case STORE_OP_CLEAR:
		if (!c->state)
			return o && (t == CRDT_GCOUNTER || t == CRDT_PNCOUNTER) ? counter_delta(g, o, ret)
										: -1;
		/* a register is its own delta; a new set is empty */
		if (c->state->type == CRDT_LWWREG || !crdt_obj_is_set(c->state) ||
		    crdt_obj_card(c->state) == 0)
			return crdt_obj_copy(c->state, ret);
		return -1;
	case STORE_OP_GSET_ADD:
		if ((r = crdt_obj_new(CRDT_GSET, ret)) < 0)
			return r;
		for (size_t i = 0; i < c->n; i++)
			if ((r = crdt_gset_add(ret->gs, c->elems[i], c->lens[i])) < 0) {
				crdt_obj_done(ret);
				return r;
			}
		return 0;
	default: /* an OR-Set write without its delta */
		return -1;
	}
}

/* The queued entry @e's slot in the push queue, NULL when not queued. */
static struct pend *queued_pend(struct gossip_core *g, const struct store_entry *e)
{
	uint32_t q = gentry(g, e)->qpos;

	return q ? &g->pend[q - 1] : NULL;
}

/* Join local write @c's delta into the queued entry @e's. */
static void pend_join(struct gossip_core *g, struct store_entry *e, enum crdt_type t,
		      const struct store_change *c)
{
	struct pend *q = queued_pend(g, e);
	struct crdt_obj d = { 0 };

	if (q->whole)
		return;
	if (q->reg || (t == CRDT_LWWREG && !q->d.p && !c->delta)) {
		/* a register's write: the register itself goes at the push; a
		 * write of another type under the name as well goes whole */
		if (t != CRDT_LWWREG) {
			g->st.delta_whole_writes++;
			q->whole = true;
		}
		q->reg = true;
		return;
	}
	if (c->joined) /* the command joined it into q->d (delta_use) */
		return;
	if (q->d.p && c->delta) { /* the command's own delta joins, no copy */
		struct crdt_obj *into = pend_into(g, e, q);
		if (into && (into->type != c->delta->type || crdt_obj_merge(into, c->delta) < 0)) {
			g->st.delta_whole_writes++;
			q->whole = true;
		}
		return;
	}
	if (too_large(g, c->delta ? c->delta : c->state, e, t)) {
		/* as too_large a delta goes at the push, without its copy: a
		 * DEL of a large hash of counters leaves as many baselines as
		 * it had fields, which copied and encoded as one delta held
		 * the loop (200,000: 400 ms) */
		q->whole = q->by_catchup = true;
		return;
	}
	if (make_delta(g, e, t, c, &d) < 0) {
		g->st.delta_whole_writes++;
		q->whole = true;
		return;
	}
	if (!q->d.p) {
		q->d = d;
		return;
	}
	if (q->d.type != d.type || crdt_obj_merge(&q->d, &d) < 0) {
		g->st.delta_whole_writes++;
		q->whole = true; /* two types written under one name, or no memory */
	}
	crdt_obj_done(&d);
}


/* The queued deltas of entries @ents are spent. */
static void pend_clear(struct gossip_core *g, struct store_entry **ents, struct pend *pend,
		       size_t n)
{
	for (size_t i = 0; i < n; i++) {
		pend_fresh(g, ents[i], &pend[i], false);
		crdt_obj_done(&pend[i].d);
		pend[i].reg = pend[i].by_catchup = false;
	}
}

/* The push queue's capacity kept once it empties; more is freed. */
#define QUEUE_KEEP 1024

/* Take the first @n queued entries off the queue. */
static void unqueue(struct gossip_core *g, size_t n)
{
	g->qhead += n;
	if (g->qhead < g->nqueue)
		return;
	g->qhead = g->nqueue = 0;
	if (g->queue_cap > QUEUE_KEEP) { /* a burst's peak is not kept */
		core_free_later(g, g->queue);
		core_free_later(g, g->pend);
		g->queue = NULL;
		g->pend = NULL;
		g->queue_cap = 0;
	}
}


/* @e in the push queue: its slot there, NULL without memory. */
static struct pend *enqueue(struct gossip_core *g, struct store_entry *e)
{
	if (!gentry(g, e)->qpos) {
		if (g->nqueue == g->queue_cap && g->qhead) { /* move up */
			g->nqueue -= g->qhead;
			memmove(g->queue, g->queue + g->qhead, g->nqueue * sizeof(*g->queue));
			memmove(g->pend, g->pend + g->qhead, g->nqueue * sizeof(*g->pend));
			for (size_t i = 0; i < g->nqueue; i++)
				gentry(g, g->queue[i])->qpos = (uint32_t)i + 1;
			g->qhead = 0;
		}
		if (g->nqueue == g->queue_cap) {
			size_t cap = g->queue_cap ? g->queue_cap * 2 : 64;
			struct store_entry **q = realloc(g->queue, cap * sizeof(*q));
			struct pend *pd;
			if (!q)
				return NULL;
			g->queue = q;
			if (!(pd = realloc(g->pend, cap * sizeof(*pd))))
				return NULL;
			g->pend = pd;
			g->queue_cap = cap;
		}
		g->pend[g->nqueue] = (struct pend){ .whole = !g->deltas };
		gentry(g, e)->qpos = (uint32_t)g->nqueue + 1;
		g->queue[g->nqueue++] = e;
	}
	return queued_pend(g, e);
}

/* The store's change stream.  A local write invalidates what was sent of
 * the entry and queues it for the push; a remote merge only invalidates,
 * but for one that created the instance from a record as it came: the
 * instance is that record, so the same record again (the next full round's,
 * the next CRDT.SYNC's) is skipped undecoded (record_unchanged). */
static void changed(void *ctx, struct store_entry *e, enum crdt_type t,
		    const struct store_change *c)
{
	struct gossip_core *g = ctx;
	struct store_inst *in;

	if (g->pc)
		pcache_changed(g->pc, e, t, c);
	if (c->remote) {
		if ((in = store_entry_inst(e, t)))
			ginst(g, in)->fp =
				c->created && c->enc ? store_fingerprint(c->enc, c->enc_len) : 0;
		return;
	}
	for (int i = CRDT_TYPE_MIN; i <= CRDT_TYPE_MAX; i++)
		if ((in = store_entry_inst(e, (enum crdt_type)i)))
			ginst(g, in)->fp = 0;
	/* Without memory for the list the write still stands; it travels
	 * with the next full round instead of the push. */
	if (!enqueue(g, e))
		return;
	queued_pend(g, e)->gen = ++g->change_gen;
	if (g->deltas && g->npeers) /* with no peer, nobody to send it to */
		pend_join(g, e, t, c);
	if (g->io.push_wanted)
		g->io.push_wanted(g->io.ctx);
}

/* What a local write's delta must be for us (store_sub.delta): an OR-Set's
 * is joined by the command straight into the queued one (one join a write,
 * not a small set made, joined and freed; into the small one beside it once
 * it is large, FRESH_AFTER), unless the piece cache holds
 * the set (it reads the write's own context) or the write goes whole
 * anyway; nothing without a peer. */
static enum store_delta_use delta_use(void *ctx, struct store_entry *e, enum crdt_type t,
				      struct crdt_obj **acc)
{
	struct gossip_core *g = ctx;
	struct pend *q;

	if (g->pc && pcache_holds(g->pc, e, t))
		return STORE_DELTA_OWN;
	if (!g->deltas || !g->npeers)
		return STORE_DELTA_NONE;
	q = queued_pend(g, e);
	if (q && !q->whole && too_large(g, &q->d, e, t)) {
		/* it goes whole by the catch-ups (push_deltas): let it go
		 * now, not joined on while every window stays shut (a set
		 * loaded while its peers were down: freed at the push, its
		 * 1,000,000 members held the loop 11 ms) */
		q->whole = q->by_catchup = true;
		crdt_obj_done(&q->d);
		pend_fresh(g, e, q, false);
	}
	if (q && (q->whole || q->reg))
		return STORE_DELTA_NONE;
	if (t != CRDT_ORSET)
		return STORE_DELTA_OWN;
	if (!acc)
		return STORE_DELTA_JOIN;
	if (!(q = enqueue(g, e)))
		return STORE_DELTA_OWN;
	if (!q->d.p && crdt_obj_new(CRDT_ORSET, &q->d) < 0)
		return STORE_DELTA_OWN;
	if (q->d.type != CRDT_ORSET)
		return STORE_DELTA_OWN;
	if (!(*acc = pend_into(g, e, q)))
		return STORE_DELTA_NONE; /* whole */
	return STORE_DELTA_JOIN;
}

/* A reclaimed entry: its pieces go (the cache knows it by its address). */
static void removed_entry(void *ctx, struct store_entry *e)
{
	struct gossip_core *g = ctx;

	if (g->pc)
		pcache_forget(g->pc, e);
}

/* The store may not reclaim an entry still in the push list. */
static bool holds_entry(void *ctx, const struct store_entry *e)
{
	const struct gossip_entry *ge = gentry(ctx, e);

	return ge->qpos || ge->dseq == DSEQ_SLICING;
}


/* Push the queued entries: their deltas as new intervals (as many as the
 * windows take; the rest stay queued); a delta that is most of a large
 * instance by every peer's catch-up; what has no delta whole
 * (core_push_whole), with the large instances whose turn has come. */
uint64_t gossip_core_push(struct gossip_core *g, uint64_t now_ms)
{
	struct store_entry **ents = g->queue + g->qhead;
	struct pend *pend = g->pend + g->qhead;
	size_t nents = g->nqueue - g->qhead;
	uint64_t due;
	bool more = false;

	g->now_ms = now_ms;
	/* deltas go to every peer (each acknowledges them), whatever the
	 * fanout; what has none goes whole below.  What the windows cannot
	 * take yet stays queued, after the rest; what the push's budget left
	 * goes at the next, 1 ms from now (the loop serves its clients in
	 * between). */
	if (g->deltas && g->npeers)
		nents = push_deltas(g, ents, pend, nents, &more);
	for (size_t i = 0; i < nents; i++) {
		gentry(g, ents[i])->qpos = 0;
		if (pend[i].by_catchup)
			to_catchups(g, ents[i], pend[i].gen);
	}
	due = core_push_whole(g, ents, pend, nents, now_ms);
	pend_clear(g, ents, pend, nents);
	unqueue(g, nents);
	if (more) {
		g->st.push_budget_stops++;
		due = 1;
	}
	return due;
}

int deltas_subscribe(struct gossip_core *g)
{
	return store_subscribe(g->store,
			       &(struct store_sub){ .changed = changed, .ctx = g,
						    .removed = removed_entry, .holds = holds_entry,
						    .delta = delta_use,
						    .inst_room = sizeof(struct gossip_inst),
						    .entry_room = GOSSIP_ENTRY_ROOM },
			       &g->room);
}

void deltas_queue_free(struct gossip_core *g)
{
	while (g->nslices)
		slice_end(g, 0, 0);
	free(g->slices);
	g->slices = NULL;
	g->slices_cap = 0;
	for (size_t i = g->qhead; i < g->nqueue; i++)
		gentry(g, g->queue[i])->qpos = 0;
	pend_clear(g, g->queue + g->qhead, g->pend + g->qhead, g->nqueue - g->qhead);
	free(g->beside);
	g->beside = NULL;
	g->nbeside = g->beside_cap = 0;
	free(g->queue);
	free(g->pend);
	g->queue = NULL;
	g->pend = NULL;
	g->qhead = g->nqueue = g->queue_cap = 0;
}
