/* Catch-up to one peer, paced by its acknowledgements (docs/protocol.md,
 * "Catch-up").  Pure: no I/O, no libuv, no store, no wire format.
 *
 * The caller queues datagrams numbered xfer_next_seq(), +1, ... (the gossip
 * core builds them as DELTA datagrams of the stream's own epoch, so the
 * receiver merges and acknowledges them as any interval) and hands over the
 * ACKs that come back.  At most cwnd datagrams are in flight (sent, neither
 * acknowledged nor found lost).  cwnd grows by one for each ACK below
 * ssthresh and by one a window above it, and is halved (never below
 * XFER_WINDOW_MIN) at most once a window when a datagram is lost: not
 * acknowledged while one numbered XFER_REORDER or more past it, and sent
 * after it (RACK's rule, with sends ordered by count, not by a clock too
 * coarse for a loopback round trip), is, or not within the
 * retransmission timeout (RFC 6298's estimator; the timeout doubles while
 * nothing is acknowledged).  A halving is undone when every datagram found
 * lost since is acknowledged from its first send: they were late, not lost
 * (a receiver that stalled).  At the tail, where nothing new is left to send
 * and so no later ACK can show a loss, the oldest datagrams in flight go
 * again after a short silence (a probe, not a loss: the window stays), and
 * their ACKs show what the timeout would have, sooner.  A lost datagram is
 * sent again, alone: a loss
 * costs that datagram, never the transfer.  At most XFER_SPAN datagrams from
 * the oldest unacknowledged one on are sent and held, so one lost again and
 * again holds back the stream, and bounds the work each ACK costs.
 *
 * The floor matters: a window that collapsed to one datagram under random
 * loss (a lossy link, not a full buffer) would make a 30 % loss cost 30 times
 * the time; XFER_WINDOW_MIN datagrams in flight fit any receive buffer a
 * Linux socket has by default (212,992 bytes hold about 90 datagrams of
 * 1,400 bytes). */
#ifndef CRDTD_GOSSIP_XFER_H
#define CRDTD_GOSSIP_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XFER_WINDOW_MIN 32
#define XFER_WINDOW_INIT 32
#define XFER_WINDOW_MAX 256
/* Datagrams sent and held at most, from the oldest unacknowledged one on. */
#define XFER_SPAN (2 * XFER_WINDOW_MAX)
#define XFER_REORDER 3
#define XFER_RTO_INIT_MS 200
#define XFER_RTO_MIN_MS 100
#define XFER_RTO_MAX_MS 4000
/* The tail's probe (RFC 8985, "Tail Loss Probe"): with nothing left to
 * send, the oldest datagrams in flight go again after two smoothed round
 * trips of silence, at least this long, doubling while none is answered;
 * at most XFER_PROBE_N a probe. */
#define XFER_PTO_MIN_MS 10
#define XFER_PROBE_N 4

/** The wait before a tail's probe: @rtt2_ms, two smoothed round trips (0
 * when none is measured), at least XFER_PTO_MIN_MS, doubled for each of
 * @unanswered probes (at most 8 times).  The delta intervals' probe
 * (gossip/deltas.c) waits the same way. */
static inline uint64_t xfer_pto_ms(uint64_t rtt2_ms, unsigned unanswered)
{
	uint64_t pto = rtt2_ms > XFER_PTO_MIN_MS ? rtt2_ms : XFER_PTO_MIN_MS;

	return pto << (unanswered < 8 ? unanswered : 8);
}

struct xfer_dgram {
	uint8_t *d; /* NULL once acknowledged */
	size_t len;
	uint64_t sent_ms; /* last sent */
	uint64_t xmit;    /* the stream's send count at its last send: orders sends within a ms */
	uint32_t tries;   /* sends so far; 0 = queued */
	uint64_t event;   /* the window's halving its loss belonged to (st.decreases then) */
	bool lost;        /* found lost, not yet sent again */
};

struct xfer_stats {
	uint64_t sent, resent, acked;
	uint64_t lost;     /* found lost (each loss once) */
	uint64_t timeouts; /* of those, by the timeout */
	uint64_t decreases; /* halvings of the window */
	uint64_t undone;    /* of those, undone: every loss behind it was not one */
	uint64_t probes;    /* datagrams sent again by the tail's probe (in resent too) */
};

struct xfer {
	uint64_t epoch; /* the stream's id, chosen by the caller */
	/* datagrams base .. base + n - 1 in a ring of cap (a power of two);
	 * the oldest is the lowest not acknowledged */
	struct xfer_dgram *v;
	size_t cap, head, n;
	uint64_t base;
	size_t nsent;      /* v[0 .. nsent) have been sent at least once */
	uint64_t xmits;    /* sends so far, first and again */
	size_t bytes;      /* of the datagrams still held */
	uint32_t inflight; /* sent, neither acknowledged nor lost */
	uint32_t cwnd, ssthresh, grow;
	uint64_t recover; /* losses of datagrams up to this one cost no more halving */
	/* The window before the last halving, and how many of the datagrams
	 * found lost since have not yet been acknowledged from their first
	 * send (which proves them not lost): at 0 the halving is undone. */
	uint32_t undo_cwnd, undo_ssthresh, undo_left;
	/* RTT (RFC 6298) in ms scaled by 8 and 4, and the timeout */
	bool has_rtt;
	uint64_t srtt8, rttvar4, rto_ms;
	/* the tail's probe: the last send or ACK that was news, and the
	 * probes since (each doubles the wait) */
	uint64_t quiet_since_ms;
	uint32_t probes_unanswered;
	struct xfer_stats st;
};

/** An empty stream of @epoch. */
void xfer_init(struct xfer *x, uint64_t epoch);
/** Frees what it holds. */
void xfer_done(struct xfer *x);
/** Forget every datagram (the peer restarted, or is gone) and start @epoch,
 * numbering from 1 again; the window starts afresh, the RTT is kept. */
void xfer_reset(struct xfer *x, uint64_t epoch);
/** The receiver restarted: what is in flight will never be acknowledged.
 * Every datagram sent and not acknowledged goes again as soon as the window
 * allows (the same numbers: a receiver keeps nothing per stream), and the
 * window and the timeout start afresh, as the timeouts while it was away
 * had doubled them; the RTT estimate stays. */
void xfer_rewind(struct xfer *x);
/** The number the next queued datagram must carry. */
uint64_t xfer_next_seq(const struct xfer *x);
/** Keep a copy of datagram @d (@len bytes), numbered xfer_next_seq(), to
 * send when the window allows.  0 or -ENOMEM. */
int xfer_queue(struct xfer *x, const uint8_t *d, size_t len);
/** Datagrams queued and not yet sent once. */
size_t xfer_unsent(const struct xfer *x);
/** Nothing held: everything queued was acknowledged. */
bool xfer_idle(const struct xfer *x);

/** Sends one datagram; 0, or a negative errno (it stays to be sent). */
typedef int (*xfer_send_cb)(const uint8_t *d, size_t len, void *ctx);
/** What may go now: datagrams whose timeout passed are lost; lost ones go
 * again first, then new ones, while fewer than cwnd are in flight.  Stops
 * at the first send that fails.  Returns the number sent. */
size_t xfer_send(struct xfer *x, uint64_t now_ms, xfer_send_cb cb, void *ctx);
/** The receiver acknowledged @seq: 0 if that was news, -ERANGE when @seq
 * was never sent or is acknowledged already. */
int xfer_ack(struct xfer *x, uint64_t seq, uint64_t now_ms);
/** When xfer_send has work next: now_ms if it could send now, the first
 * timeout of a datagram in flight, or UINT64_MAX for nothing. */
uint64_t xfer_due(const struct xfer *x, uint64_t now_ms);

#endif
