/* The sender's delta log (docs/protocol.md, "Delta intervals"): the DELTA
 * datagrams it numbered, kept encoded (plain, before any seal) until every
 * peer has acknowledged them or the bound pushes them out, and each peer's
 * acknowledgement window.  Pure: no I/O, no libuv, no store.
 *
 * Interval numbers are consecutive from 1 for one epoch of the sender.  A
 * peer's window says which it has merged: every number up to acked, and
 * those above it whose bit is set (bit i: acked + 1 + i).  At most
 * DLOG_WINDOW intervals past acked are ever in flight to one peer. */
#ifndef CRDTD_GOSSIP_DLOG_H
#define CRDTD_GOSSIP_DLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DLOG_WINDOW 256 /* a multiple of 64 */

struct dlog_int {
	uint64_t seq;
	uint8_t *d; /* the plain DELTA datagram */
	size_t len;
	uint64_t made_ms; /* the core's now_ms when it was numbered */
};

struct dlog {
	struct dlog_int *v; /* ring of cap */
	size_t cap, head, n;
	size_t bytes, max_bytes;
	uint64_t last; /* the highest number given, 0 for none */
};

struct dlog_peer {
	uint64_t acked; /* every interval up to this one it has */
	uint64_t bits[DLOG_WINDOW / 64]; /* bit i: it has acked + 1 + i */
	uint64_t sent;  /* the highest interval sent to it */
};

/** An empty log of at most @max intervals (>= 1) and @max_bytes (>= one
 * datagram).  0 or -ENOMEM. */
int dlog_init(struct dlog *l, size_t max, size_t max_bytes);
void dlog_done(struct dlog *l);
/** The oldest interval held; last + 1 when none is. */
uint64_t dlog_first(const struct dlog *l);
/** Interval @seq if held, else NULL. */
const struct dlog_int *dlog_get(const struct dlog *l, uint64_t seq);
/** Whether appending @len bytes would pass a bound (drop the oldest first). */
bool dlog_full(const struct dlog *l, size_t len);
/** Forget the oldest interval (there must be one). */
void dlog_drop_oldest(struct dlog *l);
/** Keep a copy of datagram @d (@len bytes) as interval last + 1, made at
 * @now_ms; room must have been made (dlog_full false).  0 or -ENOMEM (the
 * log unchanged). */
int dlog_append(struct dlog *l, const uint8_t *d, size_t len, uint64_t now_ms);

/** The peer has (or no longer needs) every interval up to @seq. */
void dlog_peer_upto(struct dlog_peer *p, uint64_t seq);
/** It acknowledged @seq (of at most @last): 0 if that was news, -ERANGE
 * when @seq is past @last or beyond the window (ignored). */
int dlog_peer_ack(struct dlog_peer *p, uint64_t seq, uint64_t last);
/** Whether it has acknowledged @seq. */
bool dlog_peer_has(const struct dlog_peer *p, uint64_t seq);
/** The highest interval it has acknowledged (acked when none past it). */
uint64_t dlog_peer_top(const struct dlog_peer *p);
/** Intervals up to @last it has not acknowledged. */
uint64_t dlog_peer_pending(const struct dlog_peer *p, uint64_t last);

#endif
