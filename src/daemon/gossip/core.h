/* The gossip core: everything gossip decides, without libuv (raft's lesson,
 * as shim_core for the shim).  It holds the peer table, runs rounds, pushes
 * and PING/PONG, takes received datagrams apart and merges them into the
 * store, and applies the [limits] rules.
 *
 * What it needs from outside comes in explicitly:
 *  - time: each entry point takes now_ms (a monotonic millisecond clock:
 *    rate limits, last-seen, the large-instance gap) and, where a PING or
 *    PONG may be made or read, now_us (a monotonic microsecond clock: RTT);
 *    the wall clock peers are told is the HLC's clock;
 *  - randomness: peer selection from cfg->seed (the caller picks one);
 *  - the network: datagrams go out through a struct transport (borrowed),
 *    and come in through gossip_core_recv;
 *  - name resolution: gossip_core_io.resolve starts it, and the answer
 *    comes back through gossip_core_resolved.
 * The libuv shell (gossip.h) owns the timers, the UDP transport and
 * uv_getaddrinfo; tests drive the core directly with a fake clock and an
 * in-memory network.
 */
#ifndef CRDTD_GOSSIP_CORE_H
#define CRDTD_GOSSIP_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "crdt/hlc.h"
#include "crdt/rid.h"
#include "gossip/auth.h"
#include "gossip/limits.h"
#include "gossip/transport.h"
#include "state/store.h"

/* Encoded size past which an instance's push is rate-limited. */
#define GOSSIP_LARGE_BYTES (64u << 10)
#define GOSSIP_PEER_NAME_MAX 300 /* "host:port" */
/* The delta log's bound ([gossip] delta_log_bytes), and at most one
 * interval a GOSSIP_DELTA_LOG_PER bytes of it (at least GOSSIP_DELTA_LOG_MIN):
 * 65,536 by default. */
#define GOSSIP_DELTA_LOG_BYTES (64u << 20)
#define GOSSIP_DELTA_LOG_PER 1024
#define GOSSIP_DELTA_LOG_MIN 1024
/* A queued delta of more members or fields than this, and at least a
 * quarter of its instance, goes as the instance by the catch-ups. */
#define GOSSIP_DELTA_CATCHUP_PARTS 65536
/* The DELTA datagrams one push packs at most (about half a millisecond of
 * cutting, sealing and sending); what is left goes at the next push,
 * 1 ms later.  A queued delta of more than GOSSIP_SLICE_PARTS
 * parts is cut a slice a push from a cursor, not packed whole in one call
 * (a SADD of 60,000 members held the writer's loop 20 ms in one push). */
#define GOSSIP_PUSH_DGRAMS 32
/* and at most 16 queued entries a datagram of that budget (512): packing
 * an entry costs 1-3 µs, so many small writes (an MSET of 10,000 keys)
 * filled 32 datagrams in 3-5 ms */
#define GOSSIP_PUSH_ENTRIES_PER_DGRAM 16
#define GOSSIP_SLICE_PARTS 2048
/* The time a slice of the digest's refresh takes at most, µs (with
 * io.clock_us): a loop pass keeps well under a millisecond for it, and the
 * next slice follows in the next pass. */
#define GOSSIP_SLICE_BUDGET_US 300
/* The bit of a DELTA's epoch that marks a catch-up stream (docs/protocol.md,
 * "Catch-up"); a sender's interval epoch has it clear. */
#define GOSSIP_CATCHUP_EPOCH (UINT64_C(1) << 63)
/* Instances a peer's DELTA datagrams carried to us last, remembered per
 * peer: a digest exchange does not send them back to it whole within a
 * round (it is writing them, or sending them to us, now). */
#define GOSSIP_RECENT 16

struct gossip_core;

struct gossip_peer_config {
	const char *name; /* "host:port", the key stats are kept under */
	const char *host; /* IP literal or host name */
	uint16_t port;
};

/** The limits a gossip holds (set by gossip_new and gossip_set_policy). */
const struct gossip_limits *gossip_core_get_limits(const struct gossip_core *g);

/** Plain settings, filled by the caller (main from the parsed config); the
 * strings are copied by gossip_new / gossip_set_peers. */

struct gossip_config {
	const char *listen_host; /* "0.0.0.0", "::", an address */
	uint16_t listen_port;    /* 0: any free port */
	uint32_t interval_ms;    /* between rounds; > 0 */
	uint32_t mtu;            /* datagram payload, [WIRE_MTU_MIN, WIRE_DATAGRAM_MAX] */
	uint32_t fanout;         /* peers per round; 0 = all */
	uint32_t push_delay_ms;  /* after a local write */
	/* rounds compare digests first and send only the instances that
	 * differ (DIGEST, BUCKETS, KEYS); else every round sends the full
	 * state.  Digest datagrams are answered either way. */
	bool digests;
	/* local writes are pushed as deltas in numbered, acknowledged DELTA
	 * intervals (docs/protocol.md, "Delta intervals"); else a push sends
	 * the whole instances.  DELTA datagrams are merged and acknowledged
	 * either way.  The log of intervals not yet acknowledged by every
	 * peer holds at most delta_log intervals and delta_log_bytes bytes
	 * (0: GOSSIP_DELTA_LOG_BYTES, and the intervals from the bytes); a
	 * peer that lags past it gets the full state of what it missed. */
	bool deltas;
	uint32_t delta_log;
	size_t delta_log_bytes;
	/* 0: GOSSIP_DELTA_CATCHUP_PARTS (docs/protocol.md, "Delta intervals") */
	size_t delta_catchup_parts;
	/* the piece cache's bound, bytes (gossip/pcache.h): what catch-ups
	 * cut is kept for the next ones; 0: no cache, every catch-up cuts */
	size_t piece_cache_bytes;
	int rcvbuf;              /* SO_RCVBUF to ask for; 0 = system default */
	int sndbuf;              /* SO_SNDBUF to ask for; 0 = system default */
	/* How far a remote timestamp may drag our HLC past our wall clock, and
	 * the peer clock offset past which a peer is reported skewed; 0 = no
	 * bound.  States are merged whatever their timestamps. */
	uint64_t max_clock_lead_ms;
	uint64_t seed;           /* peer selection RNG; 0 = from the clock */
	const struct gossip_peer_config *peers;
	size_t npeers;
	/* Cluster keys (copied): NULL or none, and datagrams are neither sealed
	 * nor checked, and a sealed one is dropped (bad_auth). */
	const struct auth_keyring *keys;
	bool accept_unknown_peers; /* else datagrams from no peer's address are dropped */
	uint32_t max_peer_dgrams_per_sec; /* per sending address; 0 = no limit */
	struct gossip_limits lim;
};

enum gossip_drop {
	GOSSIP_DROP_TRUNCATED,   /* larger than the receive buffer (UV_UDP_PARTIAL) */
	GOSSIP_DROP_BAD_MAGIC,   /* not ours */
	GOSSIP_DROP_BAD_VERSION, /* a version we do not speak */
	GOSSIP_DROP_MALFORMED,   /* framing, unknown type or flag, trailing bytes */
	GOSSIP_DROP_BAD_STATE,   /* a record's state does not decode: whole datagram */
	GOSSIP_DROP_SELF,        /* carries our own replica id */
	GOSSIP_DROP_NOMEM,       /* could not decode or merge for lack of memory */
	GOSSIP_DROP_UNKNOWN_PEER, /* from an address no peer has (accept_unknown_peers off) */
	GOSSIP_DROP_RATE,        /* past max_peer_datagrams_per_sec for its sender */
	GOSSIP_DROP_UNAUTHENTICATED, /* no tag, and we have a key */
	GOSSIP_DROP_BAD_AUTH,    /* tag fails, unknown key id, or a tag and no key here */
	GOSSIP_DROP_SEND_ERROR,  /* outgoing datagram the transport refused or failed */
	GOSSIP_DROP_MAX
};

/** "truncated", "bad_magic", ... (the INFO field names); "?" if unknown. */
const char *gossip_drop_name(enum gossip_drop d);

struct gossip_stats {
	uint64_t rounds;          /* timer rounds */
	uint64_t syncs;           /* gossip_sync calls */
	uint64_t pushes;          /* pushes after local writes */
	uint64_t large_deferred;  /* large instances whose push waited */
	uint64_t skipped;         /* instances not sent: do not fit a datagram */
	uint64_t pieces_skipped;  /* set elements left out: alone too long for one */
	/* remote records past a [limits] bound: merged all the same */
	uint64_t limit_exceeded;
	uint64_t dgrams_out, bytes_out;
	uint64_t dgrams_in, bytes_in;
	uint64_t max_dgram_out;   /* largest datagram sent, bytes (<= mtu) */
	uint64_t pings_out, pongs_in;
	uint64_t records_in;      /* state records accepted */
	uint64_t merges;          /* records merged into the store */
	uint64_t unchanged;       /* records equal to what we hold: not decoded */
	/* catch-up pieces whose summary says they bring nothing we hold
	 * not: neither decoded nor merged (crdt_orset_piece_is_news) */
	uint64_t pieces_no_news;
	uint64_t unknown_sender;  /* datagrams from an address no peer has */
	/* register records stamped past max_clock_lead_ms ahead of our clock:
	 * merged, our clock moved only to the bound */
	uint64_t clock_capped;
	uint64_t resolve_errors;
	/* digest rounds: DIGEST, BUCKETS and KEYS datagrams sent and
	 * received; buckets found differing (a BUCKETS sum unlike ours);
	 * instances sent whole because a KEYS list lacked their fingerprint */
	uint64_t digest_dgrams_out, digest_dgrams_in;
	uint64_t digest_buckets_differing;
	uint64_t digest_instances_sent;
	/* instances a KEYS list found differing but not sent whole: a delta
	 * of theirs was on its way to that peer, unacknowledged */
	uint64_t digest_in_flight;
	/* rounds that left their DIGEST out while DELTA intervals streamed
	 * (docs/protocol.md, "Digest rounds") */
	uint64_t digest_rounds_deferred;
	/* DIGESTs, BUCKETS and KEYS not sent to a peer while our resync of
	 * the whole store to it was under way (its end compares) */
	uint64_t digest_walk_skips;
	/* DIGESTs not sent or not answered while the digest was brought up to
	 * date a slice at a time */
	uint64_t digest_unready;
	/* instance fingerprints the digest recomputed (digest_stats) */
	uint64_t digest_refreshed;
	/* DIGESTs sent outside the rounds: to a peer whose catch-up just
	 * ended, and to a peer whose DIGEST we agree with when the last did
	 * not (or was the first) */
	uint64_t digests_after_catchup, digests_answered;
	/* of those, sent again: the DIGEST that ended a catch-up while no
	 * DIGEST came back (retries), and answers to its retries */
	uint64_t digest_retries, digests_reanswered;
	/* delta intervals: numbered (one DELTA datagram each), DELTA
	 * datagrams sent (first sends and resends) and received, ACKs sent
	 * and received; writes pushed whole because they had no delta; full
	 * state sent to a peer in place of intervals it lagged past
	 * (fallbacks: instances) or because it restarted or came back
	 * (resyncs: peers) */
	uint64_t delta_intervals, delta_dgrams_out, delta_resent, delta_dgrams_in;
	uint64_t acks_out, acks_in;
	uint64_t delta_whole_writes, delta_fallbacks, delta_resyncs;
	/* peers that restarted or came back from down, repaired by a digest
	 * exchange (the instances that differ) instead of a resync; of the
	 * resyncs, those begun because a peer's DIGEST showed it held nothing */
	uint64_t delta_repairs, digest_empty_resyncs;
	/* pushes that left writes queued because no window had room */
	uint64_t delta_held;
	/* queued deltas so large (over 65,536 members or fields, and a
	 * quarter of their instance) that the instance went by the peers'
	 * catch-ups instead */
	uint64_t delta_to_catchup;
	/* queued writes dropped unsent: every peer's resync began after them,
	 * so its walk carries them */
	uint64_t delta_covered;
	/* queued deltas of more than 2,048 parts cut a few datagrams a push
	 * (slices), and pushes that stopped at their budget of 32 datagrams,
	 * leaving the rest to the next push */
	uint64_t delta_slices, push_budget_stops;
	/* intervals sent again at once because three later ones were
	 * acknowledged before them (fast retransmit; also in delta_resent) */
	uint64_t delta_fast_resent;
	/* probes: intervals sent again because neither an ACK nor a round
	 * came for a while after the last was sent (also in delta_resent) */
	uint64_t delta_probes, delta_probe_resent;
	/* unacknowledged intervals a round did not send again: sent, and
	 * made within a probe's wait, so on their way */
	uint64_t delta_round_skipped;
	/* catch-up (docs/protocol.md, "Catch-up"), summed over the peers:
	 * instances packed, datagrams sent once and again, found lost (by
	 * the timeout: timeouts), halvings of a window */
	uint64_t catchup_instances, catchup_dgrams_out, catchup_resent;
	uint64_t catchup_lost, catchup_timeouts, catchup_decreases, catchup_undone;
	uint64_t catchup_probes; /* of catchup_resent, by the tail's probe */
	/* the piece cache (pcache_stats): pieces sent from it, cut for want
	 * of one, dropped by a change in their range, dropped or not kept for
	 * its bound; bytes and instances it holds, its bound (0: off) */
	uint64_t pcache_hits, pcache_misses, pcache_drops, pcache_evictions;
	uint64_t pcache_bytes, pcache_instances, pcache_max_bytes;
	/* the delta log: intervals and bytes it holds (a peer has not
	 * acknowledged them), and its bound in bytes */
	uint64_t dlog_intervals, dlog_bytes, dlog_max_bytes;
	uint64_t drops[GOSSIP_DROP_MAX];
	/* from the shell: the longest call into the core (a datagram
	 * received, a round, a push, a tick) since start, in us: wall time
	 * and the thread's CPU time */
	uint64_t longest_call_us, longest_call_cpu_us;
	/* from the transport */
	int rcvbuf, sndbuf;
	uint64_t recv_held; /* read past a pass's receive budget (transport.h) */
};

/* The convergence lag to one peer: for each delta interval it acknowledged,
 * the ms from when the interval was numbered (the local write's push) to
 * the ACK, counted in the first bucket whose bound it does not pass
 * (buckets[GOSSIP_LAG_BUCKETS]: past the last bound). */
#define GOSSIP_LAG_BUCKETS 14
extern const uint32_t gossip_lag_bounds_ms[GOSSIP_LAG_BUCKETS];
struct gossip_lag {
	uint64_t buckets[GOSSIP_LAG_BUCKETS + 1];
	uint64_t count, sum_ms;
};

struct gossip_peer_stats {
	uint64_t dgrams_out, bytes_out;
	uint64_t dgrams_in, bytes_in; /* every datagram from its address */
	uint64_t dropped_in;          /* of those, dropped as invalid */
	uint64_t drops[GOSSIP_DROP_MAX]; /* dropped_in by reason */
	struct gossip_lag lag;
	uint64_t pings_out, pongs_in;
	uint64_t clock_capped; /* as gossip_stats.clock_capped, from it */
};

/** What CRDT.PEERS shows of one peer; valid during the callback. */
struct gossip_peer_info {
	const char *name;      /* "host:port" as configured */
	bool resolved;
	const struct sockaddr *addr; /* NULL until resolved */
	bool seen;             /* a valid datagram has come from it */
	bool down;             /* silent for 3 rounds: pinged only */
	uint64_t last_seen_ms; /* now_ms of the last one, if seen */
	uint64_t last_seen_ago_ms;
	bool has_rtt;
	uint64_t rtt_us, srtt_us; /* last and smoothed (RFC 6298 alpha 1/8) */
	bool has_clock_offset;
	/* its wall clock minus ours, ms, from the last PONG (the midpoint of
	 * the round trip stands for our send time) */
	int64_t clock_offset_ms;
	bool clock_skewed; /* |clock_offset_ms| > max_clock_lead_ms (when set) */
	const struct crdt_rid *rid; /* from its last datagram; NULL if none yet */
	const char *node;      /* its node name, NUL-terminated; "" if unknown */
	/* sync status: from its last DIGEST, whether our digests agreed
	 * (has_sync false until one came); since when they have differed
	 * (now_ms); instances found differing in the exchange its last
	 * DIGEST before that started */
	bool has_sync, in_sync;
	uint64_t differs_since_ms;
	uint64_t instances_differing;
	/* delta intervals: acknowledged by it (every one up to
	 * deltas_acked), pending (numbered and not acknowledged) */
	uint64_t deltas_acked, deltas_pending;
	uint64_t bytes_last_round; /* sent to it between the last two rounds */
	/* its catch-up: under way (instances left, or datagrams not
	 * acknowledged), datagrams held (queued and in flight), the window */
	bool catching_up;
	uint64_t catchup_pending, catchup_window;
	/* restarted or back from down, its repair's digest exchange not done
	 * yet (docs/protocol.md, "Repair of a restarted or returning peer") */
	bool repairing;
	uint64_t now_ms;           /* the now_ms given to foreach_peer */
	struct gossip_peer_stats stats;
};

/** The hooks the core calls out through. */
struct gossip_core_io {
	/** Start resolving @host:@port for the peer named @name (copy what
	 * is kept).  Its answer, whenever it comes, goes to
	 * gossip_core_resolved.  0 if under way, a negative errno if not (the
	 * core tries again next round).  NULL: names are never resolved. */
	int (*resolve)(void *ctx, const char *name, const char *host, uint16_t port);
	/** A local write was queued: call gossip_core_push soon (the shell
	 * runs it push_delay_ms later, once for every write until then).
	 * NULL: the caller pushes when it likes. */
	void (*push_wanted)(void *ctx);
	/** A catch-up has work due in @ms (0: in the next loop pass, after
	 * its I/O): call gossip_core_tick then (or sooner).  With it a large instance is cut a few pieces a call and
	 * the rest left to the tick; NULL: only rounds and ACKs move
	 * catch-ups on, and each call cuts all the window can take. */
	void (*tick_wanted)(void *ctx, uint64_t ms);
	/** The monotonic clock, µs: work the core slices (the digest's
	 * refresh) stops a slice once it has taken about
	 * GOSSIP_SLICE_BUDGET_US, whatever each entry costs.  NULL: a slice
	 * is a fixed count of entries (tests, whose time is fake). */
	uint64_t (*clock_us)(void *ctx);
	/** Free @p, a large block the core is done with (the push queue a
	 * burst grew), off the loop: unmapping the pages of a queue of
	 * 1,000,000 entries took 3 ms of one call.  NULL: free() at once. */
	void (*free_later)(void *ctx, void *p);
	void *ctx;
};

/** A core over @t (borrowed: it must outlive the core).  @store, @hlc,
 * @self and @node_name as for gossip_new; cfg->listen_* and the buffer
 * sizes are not read, cfg->seed is used as is.  The core subscribes to
 * @store's change stream (store.h): local writes are queued for
 * gossip_core_push.  *ret written on success; free with gossip_core_free
 * (before the store).  -EINVAL for a bad setting, -ENOMEM, -ENOSPC (no
 * room for another subscriber). */
int gossip_core_new(const struct gossip_config *cfg, struct store *store, struct crdt_hlc *hlc,
		    const struct crdt_rid *self, const char *node_name, struct transport *t,
		    const struct gossip_core_io *io, struct gossip_core **ret);
/** Frees the core, its peers and keys.  Accepts NULL. */
void gossip_core_free(struct gossip_core *g);
/** From now on peers are resolved (the first time here, then each round). */
void gossip_core_start(struct gossip_core *g);
/** One round (gossip_round). */
void gossip_core_round(struct gossip_core *g, uint64_t now_ms, uint64_t now_us);
/** gossip_sync; same returns. */
int gossip_core_sync(struct gossip_core *g, const char *peer, uint64_t now_ms, uint64_t now_us);
/** Push the instances local writes changed (and the large ones whose turn came)
 * to the chosen peers.  Returns 0, or the ms after which a large instance's
 * deferred push is due: call again then. */
uint64_t gossip_core_push(struct gossip_core *g, uint64_t now_ms);
/** Move every catch-up on: send what the windows allow, and again what was
 * lost.  Returns the ms after which the next is due, 0 for none. */
uint64_t gossip_core_tick(struct gossip_core *g, uint64_t now_ms);
/** One received datagram (as transport_recv_cb). */
void gossip_core_recv(struct gossip_core *g, const uint8_t *buf, size_t len,
		      const struct sockaddr *from, bool truncated, uint64_t now_ms,
		      uint64_t now_us);
/** Send the ACKs gossip_core_recv gathered (call once the datagrams that
 * have arrived are read: at the end of each loop pass's I/O). */
void gossip_core_flush(struct gossip_core *g);
/** The answer to io.resolve for the peer named @name: @addr (@addrlen
 * bytes), or NULL and @err saying why.  Ignored if the peer is gone. */
void gossip_core_resolved(struct gossip_core *g, const char *name, const struct sockaddr *addr,
			  socklen_t addrlen, const char *err);
/* As the gossip_* functions of the same names (gossip.h). */
int gossip_core_set_peers(struct gossip_core *g, const struct gossip_peer_config *peers,
			  size_t n);
int gossip_core_set_keys(struct gossip_core *g, const struct auth_keyring *kr);
void gossip_core_set_policy(struct gossip_core *g, bool accept_unknown_peers,
			    uint32_t max_peer_dgrams_per_sec, const struct gossip_limits *lim);
void gossip_core_get_stats(const struct gossip_core *g, struct gossip_stats *ret);
/** As gossip_foreach_peer; @now_ms for last_seen_ago_ms. */
int gossip_core_foreach_peer(const struct gossip_core *g, uint64_t now_ms,
			     int (*cb)(const struct gossip_peer_info *p, void *ctx), void *ctx);
size_t gossip_core_npeers(const struct gossip_core *g);
uint32_t gossip_core_push_delay_ms(const struct gossip_core *g);
uint32_t gossip_core_interval_ms(const struct gossip_core *g);

#endif
