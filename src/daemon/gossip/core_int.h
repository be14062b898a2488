/* The gossip core's own state, and what its parts share (internal to the
 * core, gossip/core.h): core.c (peers, sending, full-state pushes,
 * receiving, [limits], lifecycle, introspection), deltas.c (the push queue
 * and its delta intervals), catchup.c (whole instances to one peer, paced
 * by its ACKs) and rounds.c (the digest exchange of a round).  Nothing
 * outside those four files includes this header.
 *
 * Ownership: a gossip_core owns its peers (peer_free in core.c) and every
 * buffer named below; a peer owns its catch-up's queued names and cut
 * cursor (catchup_names_clear, core.c's peer_free). */
#ifndef CRDTD_GOSSIP_CORE_INT_H
#define CRDTD_GOSSIP_CORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "crdt/buf.h"
#include "crdt/codec.h"
#include "gossip/core.h"
#include "gossip/digest.h"
#include "gossip/dlog.h"
#include "gossip/pcache.h"
#include "gossip/wire.h"
#include "gossip/xfer.h"

/* Warnings about what the network sends are limited to one per this many
 * milliseconds and kind, so a misbehaving peer cannot flood the log. */
#define WARN_EVERY_MS 10000
/* A PONG whose echoed timestamp is older than this is not an RTT sample. */
#define RTT_MAX_US (60ull * 1000 * 1000)

/* Token bucket for max_peer_dgrams_per_sec: tokens in thousandths of a
 * datagram, a second's worth at most. */
struct bucket {
	uint64_t last_ms;
	uint64_t milli;
	bool init;
};

struct ratelimit {
	uint64_t next_ok;
	uint64_t suppressed;
};

/* Entries the digest refreshes in one call while the core has a tick to go
 * on with and no clock (tests); a core with neither refreshes whole.  The
 * first refresh after a bulk load of 100,000 keys took 40-70 ms of one
 * round. */
#define DIGEST_SLICE 2048
/* With a clock: entries refreshed between two reads of it.  A slice of
 * 2,048 entries took 0.5 ms of registers but 2-5 ms of small hashes (whose
 * fingerprint after a load is a pass over their fields): the time, not the
 * count, bounds the slice. */
#define DIGEST_CHUNK 64

/* A push's budget (GOSSIP_PUSH_DGRAMS) while the shell calls it again (it
 * does, 1 ms later, when gossip_core_push returns that; a
 * daemon's io.push_wanted says there is such a shell).  A core with none
 * (tests) packs all it can. */
#define push_budget(g) ((g)->io.push_wanted ? (size_t)GOSSIP_PUSH_DGRAMS : SIZE_MAX)
/* gossip_entry.dseq of an entry whose delta is being sliced: any digest
 * exchange takes it for in flight (rounds.c), and the store keeps it. */
#define DSEQ_SLICING UINT64_MAX

/* Gossip's fields beside each instance and each entry (its share of the
 * store's room, store_sub.inst_room and .entry_room; zero when created). */
struct gossip_inst {
	/* fingerprint of the encoding as it last sent it, 0 when unknown or
	 * stale: a received state with the same fingerprint is the state we
	 * hold, and need not be decoded or merged (record_unchanged) */
	uint64_t fp;
};
struct gossip_entry {
	/* the last delta interval that carried a write of it (0: none;
	 * DSEQ_SLICING while a large delta of it is cut a push at a time) */
	uint64_t dseq;
	/* 1 + its place in the push list (g->queue, g->pend), 0: not queued */
	uint32_t qpos;
};
/* The entry's share asked for: the struct's tail padding is left to the
 * next subscriber (the digest's flag). */
#define GOSSIP_ENTRY_ROOM (offsetof(struct gossip_entry, qpos) + sizeof(uint32_t))

/* The most interval numbers one loop pass's ACK takes before it goes. */
#define ACK_MAX 64
/* How many later ACKs carry each number again: a lost ACK then costs its
 * intervals nothing as long as one of the next ACK_AGAIN arrives. */
#define ACK_AGAIN 2

struct peer {
	char *name;
	char *host;
	uint16_t port;
	bool resolved;
	bool resolving; /* a resolution is in flight (io.resolve) */
	bool resolve_failed; /* warned already; later failures log at debug */
	struct sockaddr_storage addr;
	bool has_rid;
	struct crdt_rid rid;
	char node[WIRE_NODE_MAX + 1];
	bool seen;
	uint64_t last_seen; /* now_ms */
	bool has_rtt;
	uint64_t rtt_us, srtt_us;
	bool has_offset;
	int64_t clock_offset_ms; /* its wall clock minus ours, from the last PONG */
	uint64_t ping_seq; /* last sent to it */
	unsigned unanswered; /* rounds pinged since it was last heard from */
	struct bucket bucket;
	struct ratelimit rl_skew; /* its clock offset warning */
	struct gossip_peer_stats st;
	/* delta intervals: what it acknowledged; whether its replica id just
	 * changed (it restarted: what it merged of ours may be gone) */
	struct dlog_peer dl;
	bool restarted;
	/* something went whole to the peers that were up (a push of whole
	 * writes, an instance by their catch-ups, slices ended unsent) while
	 * it was down or unresolved: back, it needs a repair, not only the
	 * intervals (core_missed_by_down) */
	bool missed;
	/* its stream of our intervals broke (it restarted, or came back
	 * missing what the log cannot give it): the intervals up to
	 * repair_upto go again, and the KEYS exchanges with it that began
	 * once it had acknowledged them send every instance that differs,
	 * those with a write on its way included.  repairing counts such
	 * exchanges left: one ends at its next DIGEST once a KEYS datagram
	 * was answered so (repair_keyed) and none left an instance to a
	 * catch-up under way (repair_held); a DIGEST that finds us in sync
	 * ends them all (deltas_repair, rounds.c) */
	unsigned repairing;
	bool repair_keyed, repair_held;
	uint64_t repair_upto;
	/* sync status (gossip_peer_info) */
	bool has_sync, in_sync;
	/* it sent us catch-up datagrams since its last DIGEST; 1 + the round
	 * count (g->st.rounds) when we last sent it a DIGEST outside the
	 * rounds (rounds_on_digest: at most one a round) */
	bool cu_in_since_digest;
	uint64_t answered_round;
	/* the DIGEST that ended our catch-up to it goes again while nothing
	 * came back from it: sends left, and when the next is due
	 * (rounds_digest_probe); and after we answered the one that ended its
	 * catch-up to us, its DIGESTs we answer again: answers left, and
	 * until when (now_ms) */
	unsigned dg_retries, dg_reanswers;
	uint64_t dg_retry_at, dg_reanswer_until;
	/* its last DIGEST that came while ours was behind (NULL: none),
	 * answered once ours is up to date (rounds_refresh), as of when it
	 * came: the interval it had acknowledged every one up to then, and
	 * whether a catch-up to it was under way */
	uint8_t *dg_kept;
	size_t dg_kept_len;
	uint64_t dg_kept_acked;
	bool dg_kept_cu_busy;
	bool dg_owed; /* a DIGEST to it waits for ours to be up to date */
	/* the buckets its BUCKETS found differing whose KEYS it has not been
	 * sent yet, a bit each, and where the next slice begins
	 * (rounds_send_keys); a crowded bucket's that went in part, 1 + its
	 * number (0: none), and the key its rest begins at */
	uint64_t keys_due[DIGEST_BUCKETS / 64];
	uint32_t nkeys_due, keys_at, keys_part;
	uint64_t keys_from;
	uint64_t differs_since;
	uint64_t differing, differing_acc;
	uint64_t bytes_at_round, bytes_last_round;
	/* catch-up (docs/protocol.md, "Catch-up"): the whole instances it
	 * needs, paced by its ACKs: every name in the store, by the walk
	 * cu_walk (a resync), then the names queued in cu_names */
	struct xfer xf;
	bool cu_busy; /* one was under way when its last DIGEST came, or began since */
	/* the instances its DELTA datagrams (intervals and catch-up) carried
	 * to us last: digest key and 1 + now_ms (0: none), a ring */
	struct {
		uint64_t key, ms;
	} recent[GOSSIP_RECENT];
	unsigned recent_i;
	/* the interval up to which it had acknowledged every one when its
	 * last DIGEST came: what its digest can be expected to hold */
	uint64_t acked_at_digest;
	bool cu_scan;
	/* a CRDT.SYNC came while the walk was under way: walk again from the
	 * start once it ends (syncs that come faster than a walk ends would
	 * otherwise restart it for ever) */
	bool cu_again;
	struct store_walk cu_walk;
	uint64_t cu_resync_gen; /* change_gen when its last resync began */
	struct cu_name {
		uint8_t *name;
		size_t len;
		uint64_t key; /* digest_name_key */
	} *cu_names;
	size_t cu_n, cu_alloc;
	/* cu_names by key, so that a name is queued once at O(1): CU_IX_SLOTS
	 * slots of 1 + its place, 0 empty, CU_IX_GONE taken off; ix_used
	 * counts the slots not empty (NULL until the first name) */
	uint32_t *cu_ix;
	size_t cu_ix_used;
	/* the intervals of epoch ack_epoch it sent that we merged and have not
	 * acknowledged yet: one ACK takes them all (ack_flush) */
	uint64_t ack_epoch;
	uint64_t acks[ACK_MAX];
	unsigned nacks;
	size_t ack_bytes; /* their varints */
	/* numbers of epoch again_epoch already acknowledged, each with how
	 * many more ACKs carry it again (ack_flush) */
	uint64_t again_epoch;
	uint64_t again[ACK_MAX * ACK_AGAIN];
	uint8_t again_left[ACK_MAX * ACK_AGAIN];
	unsigned nagain;
	/* the intervals up to this one that were not acknowledged when three
	 * later ones were have been sent again once already (peer_deltas) */
	uint64_t fast_upto;
	/* the tail's probe of its intervals (dl_probe): when it is due
	 * (now_ms; 0: not armed), and the probes sent since its last ACK
	 * that acknowledged something */
	uint64_t dl_probe_at;
	unsigned dl_probes;
	/* where the intervals a round sends again go on at the next ACK
	 * (deltas_send; 0: none left) */
	uint64_t dl_again_at;
	/* the instance being cut into pieces, a few at a time (NULL: none):
	 * its name, its type slot, where its next piece starts */
	uint8_t *cu_cut;
	size_t cu_cut_len;
	int cu_cut_type;
	struct crdt_cursor cu_cur;
	unsigned cu_hit_acc; /* pieces sent from the piece cache, not yet charged */
};

/* A peer silent for this many rounds is down: it gets a PING a round and
 * nothing else (a down peer costs one datagram a round), until it answers
 * and gets what it missed at once. */
#define PEER_DOWN_ROUNDS 3

/* The exchanges a repair lasts at most (peer.repairing): exchanges may
 * overlap (a round's DIGEST, an answer, a retry), and one can miss an
 * instance that changed while it ran; a bound, as an instance written on
 * differs at every exchange and goes whole at each one of a repair. */
#define REPAIR_EXCHANGES 3

/* Past this many names queued, a catch-up walks the whole store instead. */
#define CU_NAMES_MAX 4096
#define CU_IX_SLOTS (4 * CU_NAMES_MAX) /* a power of two */
#define CU_IX_GONE UINT32_MAX

static inline bool peer_down(const struct peer *p)
{
	return p->unanswered >= PEER_DOWN_ROUNDS;
}

/* An instance whose encoding passed GOSSIP_LARGE_BYTES, remembered by name so
 * that a write to it does not cost an encode of the whole thing every time:
 * its push waits until large_gap_ms after the last one.  Only large
 * instances are here, so a linear scan stays cheap. */
struct large {
	uint8_t *name;
	size_t len;
	uint64_t last_push; /* now_ms */
	bool pending;       /* a push is owed */
};

/* Datagrams to one peer gathered for one call of the transport
 * (send_many): a catch-up window's.  Each is the caller's until
 * core_burst_end, or, sealed, a copy in @sealed, whose room for the whole
 * burst is taken at its first, so that the copies never move. */
#define CORE_BURST_MAX 32
struct core_burst {
	struct peer *p;
	size_t n;
	struct transport_dgram v[CORE_BURST_MAX];
	struct crdt_buf sealed; /* kept between bursts */
};

struct gossip_core {
	struct store *store;
	struct store_room room; /* its share of the store's room (struct gossip_inst, _entry) */
	struct crdt_hlc *hlc;
	const struct crdt_rid *self; /* the store's: it may change (store.h) */
	char node[WIRE_NODE_MAX + 1];
	size_t node_len;

	uint32_t interval_ms, mtu, fanout, push_delay_ms;
	uint64_t large_gap_ms;
	uint64_t max_clock_lead_ms;

	/* security (docs/protocol.md, "Authentication") */
	struct auth_keyring *kr; /* NULL: no key */
	uint8_t *sealbuf, *openbuf; /* WIRE_DATAGRAM_MAX + AUTH_OVERHEAD each, with kr */
	bool accept_unknown;
	uint32_t rate; /* datagrams per second and sender, 0 = unlimited */
	struct bucket unknown_bucket; /* shared by every unknown sender */
	struct gossip_limits lim;

	struct transport *t; /* borrowed from the shell */
	struct gossip_core_io io;
	bool started;
	/* the time of the entry point running now (gossip_core_*) */
	uint64_t now_ms, now_us;

	struct peer **peers;
	size_t npeers;
	struct peer **targets; /* scratch, npeers long */

	struct large *large;
	size_t nlarge, large_cap;

	/* Entries a local write changed since the last push (their queued
	 * flag set), from the store's change stream. */
	struct store_entry **queue;
	size_t qhead, nqueue, queue_cap; /* queued: queue[qhead, nqueue) */
	bool acks_waiting; /* a peer has nacks (send_ack) */
	/* beside each queued entry: the join of its writes' deltas, or whole
	 * when one had none (it is then pushed whole) */
	struct pend {
		struct crdt_obj d; /* d.p NULL: none yet */
		/* the delta is the entry's register as the push finds it (a
		 * register is its own delta): nothing copied or joined per
		 * write */
		bool reg;
		bool whole;
		bool by_catchup; /* whole, to every peer by its catch-up */
		bool beside;     /* a small delta beside d (g->beside) */
		uint64_t gen;    /* change_gen of its last local write */
	} *pend;
	/* local writes counted, and each resync's start: a write a peer's
	 * resync began after is in what that resync's walk sends */
	uint64_t change_gen;
	/* Queued deltas too large to pack in one push (deltas.c, slices):
	 * taken off the queue whole, so that later writes of the entry join a
	 * delta of their own, and cut a few datagrams a push from a cursor.
	 * The entry stays held (its dseq is DSEQ_SLICING) until its last
	 * slice is packed. */
	struct slice {
		struct store_entry *e;
		struct crdt_obj d;
		struct crdt_cursor cur;
		uint64_t gen; /* its pend's */
	} *slices;
	size_t nslices, slices_cap;
	/* Small deltas beside large queued ones (deltas.c, pend_into): an
	 * OR-Set's or OR-Map's writes since its queued delta grew large,
	 * joined into it at the push.  A few at a time: a list, not a field
	 * of every queued entry (16 bytes each, 16 MB for 1,000,000). */
	struct beside {
		struct store_entry *e;
		struct crdt_obj d;
	} *beside;
	size_t nbeside, beside_cap;

	/* delta intervals (docs/protocol.md, "Delta intervals") */
	bool deltas;
	uint64_t epoch; /* ours, for this start: acks of another are ignored */
	/* the last catch-up stream's epoch: epoch + 1, + 2, ... with
	 * GOSSIP_CATCHUP_EPOCH set (and in ours clear) */
	uint64_t xepoch;
	struct dlog dlog;

	/* digest rounds: the digest (always kept, so that a peer's digest
	 * datagrams are answered whatever our own rounds do) */
	bool digests;
	struct digest *dg;
	bool dg_behind; /* a DIGEST waited for its refresh: the ticks go on with it */
	struct crdt_buf dbuf; /* DIGEST, BUCKETS, KEYS encoding */
	uint32_t ddiff[DIGEST_BUCKETS]; /* scratch: indexes that differ */
	size_t nddiff;
	/* delta_intervals + delta_dgrams_in at the last round, and the
	 * rounds in a row that left out their DIGEST (digest_due) */
	uint64_t deltas_at_round;
	unsigned digests_deferred;
	size_t catchup_parts; /* too_large */
	/* what catch-ups cut, for the next ones (NULL: off) */
	struct pcache *pc;

	uint64_t rng;
	uint64_t ping_seq;
	struct crdt_buf pbuf; /* PING/PONG encoding */
	struct core_burst burst; /* core_burst_add */
	struct gossip_stats st;
	struct ratelimit rl_clock, rl_self, rl_skip, rl_send, rl_unknown, rl_auth, rl_limit;
};

static inline bool ratelimit_ok(struct ratelimit *rl, uint64_t now)
{
	if (now < rl->next_ok) {
		rl->suppressed++;
		return false;
	}
	rl->next_ok = now + WARN_EVERY_MS;
	return true;
}


/* Free @p, a large block, off the loop where the shell can (io.free_later). */
static inline void core_free_later(const struct gossip_core *g, void *p)
{
	if (g->io.free_later)
		g->io.free_later(g->io.ctx, p);
	else
		free(p);
}

/* Gossip's fields beside @in and @e. */
static inline struct gossip_inst *ginst(const struct gossip_core *g, const struct store_inst *in)
{
	return store_inst_room(in, g->room.inst);
}
static inline struct gossip_entry *gentry(const struct gossip_core *g,
					  const struct store_entry *e)
{
	return store_entry_room(e, g->room.entry);
}

/* The plain datagram budget: a sealed one must still fit the mtu. */
static inline size_t dgram_budget(const struct gossip_core *g)
{
	return g->kr ? g->mtu - AUTH_OVERHEAD : g->mtu;
}

/* The wait of a probe to @p (the delta intervals' tail, the DIGEST that
 * ended a catch-up): two smoothed round trips (PING's), as xfer_pto_ms
 * takes them, doubled for each of @k probes before it. */
static inline uint64_t peer_pto_ms(const struct peer *p, unsigned k)
{
	return xfer_pto_ms(p->has_rtt ? p->srtt_us / 500 + 1 : 0, k); /* 2 x srtt in ms */
}

/* ---- core.c: sending ---------------------------------------------------- */

/** Count what sending @len bytes to @p returned (@r): sent, or a drop. */
void core_sent(struct gossip_core *g, struct peer *p, size_t len, int r);
/** Send datagram (@d, @len) to @p now, counted. */
void core_send_to(struct gossip_core *g, struct peer *p, const uint8_t *d, size_t len);
/* Peers core_send_each hands the transport in one call. */
#define CORE_SEND_EACH 16
/** The same datagram to each of the @n peers @ps: CORE_SEND_EACH a call of
 * the transport where it can (sendmmsg), else one call each; each counted
 * as core_send_to counts it. */
void core_send_each(struct gossip_core *g, struct peer *const *ps, size_t n, const uint8_t *d,
		    size_t len);
/** Datagram (@d, @len) to @p, sealed if there is a key, as core_send_to
 * sends it but with the others of the burst in one call of the transport
 * (at core_burst_end, or once CORE_BURST_MAX wait, or when @p is not the
 * burst's peer).  Without a key @d must stay as it is until then.  A
 * datagram the transport then refuses is counted as core_send_to counts
 * it: to the caller it is a loss. */
void core_burst_add(struct gossip_core *g, struct peer *p, const uint8_t *d, size_t len);
/** Send what core_burst_add gathered. */
void core_burst_end(struct gossip_core *g);
/** With a key, the sealed copy of plain datagram (@d, @len) in g->sealbuf
 * (*@len updated); without, @d itself.  NULL when sealing fails (counted). */
const uint8_t *core_seal(struct gossip_core *g, const uint8_t *d, size_t *len);
/** Every instance of @e, whole, into @pk as records (one too large for a
 * datagram split into pieces; one that cannot go at all counted and left
 * out): the bytes of their encodings, or the packer's error. */
long core_pack_entry(struct gossip_core *g, struct wire_packer *pk, struct store_entry *e);
/** Whether @e holds an instance of a type cut from a cursor (crdt_obj_has_pieces)
 * with more than @n members or fields: what goes by a catch-up's cut rather
 * than whole. */
bool core_entry_parts_over(struct store_entry *e, size_t n);
/** What just went whole to the peers that are up did not go to the others:
 * each of them gets a resync when it answers again (peer.missed). */
void core_missed_by_down(struct gossip_core *g);
/** Instance (@e, @t) went without @r elements too long for a datagram
 * (r > 0), or not at all (-EMSGSIZE): counted, and logged now and then. */
void core_note_left_out(struct gossip_core *g, const struct store_entry *e, int t, long r);
/** The push's entries @ents[0..@nents) that go whole (no delta, or deltas =
 * no), and the large instances whose turn has come, to the fanout's peers
 * as STATE datagrams.  When the next large one is due, in ms from @now (0:
 * none). */
uint64_t core_push_whole(struct gossip_core *g, struct store_entry **ents, const struct pend *pend,
			 size_t nents, uint64_t now);

/* ---- deltas.c: delta intervals (docs/protocol.md, "Delta intervals") ---- */

/** The highest interval a peer can be sent now: the furthest any window
 * that answers reaches (UINT64_MAX when no peer answers: nothing waits). */
uint64_t core_window_end(const struct gossip_core *g);
/* What deltas_send sends again of the intervals sent before and not
 * acknowledged yet.  NONE (at an ACK): the fast retransmits, and the next
 * few a round left.  OLD (a round's): those made more than a probe's wait
 * ago, a few at once and the rest at the ACKs.  ALL (a repair, a peer up
 * again): every one, at once. */
enum dl_again { DL_AGAIN_NONE, DL_AGAIN_OLD, DL_AGAIN_ALL };
/** Intervals @p may take now: those past what it acknowledged, within the
 * window (and fast retransmits), and those @again says.  A peer that lacks
 * intervals the log no longer holds is resynced instead. */
void deltas_send(struct gossip_core *g, struct peer *p, enum dl_again again);
/** An ACK from @p came; @news: it acknowledged an interval it had not.
 * Arms or moves the tail's probe. */
void deltas_acked(struct gossip_core *g, struct peer *p, bool news);
/** At a tick: @p's tail probe, if due.  When the next one is (UINT64_MAX:
 * none). */
uint64_t deltas_probe(struct gossip_core *g, struct peer *p);
/** The full state to @p, in place of every interval so far: it holds
 * nothing, lags past the log, or (digests = no) restarted or came back. */
void deltas_resync(struct gossip_core *g, struct peer *p);
/** @p restarted or came back missing what the log cannot give it: with
 * digests, a digest exchange sends it what differs (a resync if it holds
 * nothing, or if it differs in more names than a catch-up queues); without,
 * a resync.  @why is for the log. */
void deltas_repair(struct gossip_core *g, struct peer *p, const char *why);
/** Drop the intervals every peer that is up has acknowledged. */
void deltas_trim(struct gossip_core *g);
/** Subscribe the core to the store's change stream (local writes queue
 * their entry and join their delta).  0 or -ENOMEM. */
int deltas_subscribe(struct gossip_core *g);
/** Empty the push queue and free it (the core is going). */
void deltas_queue_free(struct gossip_core *g);

/* ---- catchup.c ---------------------------------------------------------- */

/** Free @p's queued names; its name index stays, emptied. */
void catchup_names_clear(struct peer *p);
/** Nothing queued, cut, in flight or unacknowledged for @p. */
bool catchup_idle(const struct peer *p);
/** @p's resync (the whole store) is under way: its walk has not ended. */
bool catchup_walking(const struct peer *p);
/** @p sent us the instance of digest key @key, or a change to it, within
 * the last round. */
bool catchup_receiving(const struct gossip_core *g, const struct peer *p, uint64_t key);
/** Some peer did (catchup_receiving). */
bool catchup_receiving_any(const struct gossip_core *g, uint64_t key);
/** @p's DELTA carried instance @name. */
void catchup_note_received(struct gossip_core *g, struct peer *p, const uint8_t *name, size_t len);
/** Send what @p's window allows, and ask for a tick when the next is due. */
void catchup_pump(struct gossip_core *g, struct peer *p);
/** @p gets the whole store, from the start: a walk of the table replaces
 * what was queued and what is in flight (ACKs of the old stream are
 * ignored from now on).  catchup_resync counts it as a resync (the peer
 * restarted, lags past the log, its queue overflowed); catchup_walk does
 * not (CRDT.SYNC). */
void catchup_resync(struct gossip_core *g, struct peer *p);
void catchup_walk(struct gossip_core *g, struct peer *p);
/** @p restarted: what its catch-up had in flight goes again at once. */
void catchup_restarted(struct peer *p);
/** @p gets instance @name whole (queued once). */
void catchup_add(struct gossip_core *g, struct peer *p, const uint8_t *name, size_t len);

/* ---- rounds.c: the digest exchange (docs/protocol.md, "Digest rounds") --- */

/** @p's catch-up just ended (its last datagram acknowledged): with digest
 * rounds on, our DIGEST goes to it now rather than at the next rounds
 * (which defer theirs while datagrams stream), so that both sides learn at
 * once that they agree, or what still differs. */
void rounds_catchup_ended(struct gossip_core *g, struct peer *p);
/** Our DIGEST to @p now, and again a few round trips apart while neither
 * a DIGEST nor BUCKETS comes back (rounds_digest_probe). */
void rounds_send_digest_retried(struct gossip_core *g, struct peer *p);
/** The DIGEST that ended @p's catch-up again if it is due and no DIGEST
 * came back: the time the next one is due, UINT64_MAX if none. */
uint64_t rounds_digest_probe(struct gossip_core *g, struct peer *p);
/** One slice of our digest's refresh: whether it is up to date.  When it
 * just caught up, the DIGESTs kept meanwhile are answered. */
bool rounds_refresh(struct gossip_core *g);
/** Work the core slices by time (the digest's refresh, the KEYS owed): a
 * slice begins at core_slice_start(), and has had its GOSSIP_SLICE_BUDGET_US
 * once core_slice_spent().  Without a clock, or with no tick to go on with the
 * rest, a slice is never spent: the caller bounds it another way, or does
 * the work whole. */
static inline uint64_t core_slice_start(const struct gossip_core *g)
{
	return g->io.clock_us ? g->io.clock_us(g->io.ctx) : 0;
}

static inline bool core_slice_spent(const struct gossip_core *g, uint64_t t0)
{
	return g->io.clock_us && g->io.tick_wanted &&
	       g->io.clock_us(g->io.ctx) - t0 >= GOSSIP_SLICE_BUDGET_US;
}

/** The KEYS @p asked for and has not been sent, a bucket after another,
 * until a slice's budget has passed since @t0 (io.clock_us; with no clock
 * every one): whether none is left.  If some are, a tick sends the next
 * slice in the next loop pass. */
bool rounds_send_keys(struct gossip_core *g, struct peer *p, uint64_t t0);
/** Our DIGEST to the @n peers @to (a round's, or one outside the rounds);
 * once our digest is up to date, if it is not yet. */
void rounds_send_digest(struct gossip_core *g, struct peer **to, size_t n);
/** A DIGEST, BUCKETS or KEYS body from @p: answered, or what differs
 * queued for its catch-up.  0, or -errno for a malformed body. */
int rounds_on_digest(struct gossip_core *g, struct peer *p, const uint8_t *body, size_t len);
int rounds_on_buckets(struct gossip_core *g, struct peer *p, const uint8_t *body, size_t len);
int rounds_on_keys(struct gossip_core *g, struct peer *p, const uint8_t *body, size_t len);

#endif
