/* Catch-up pacing (xfer.h): a window of datagrams in flight to one peer,
 * grown by its acknowledgements and halved on loss, and the lost ones sent
 * again.  No I/O: the caller sends through a callback and passes the time. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/xfer.h"

#define RING_MIN 64

static struct xfer_dgram *at(const struct xfer *x, size_t i)
{
	return &x->v[(x->head + i) & (x->cap - 1)];
}

static bool acked(const struct xfer_dgram *s)
{
	return !s->d && s->tries;
}

void xfer_init(struct xfer *x, uint64_t epoch)
{
	*x = (struct xfer){ .epoch = epoch, .base = 1, .cwnd = XFER_WINDOW_INIT,
			    .ssthresh = XFER_WINDOW_MAX, .rto_ms = XFER_RTO_INIT_MS };
}

static void drop_all(struct xfer *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(at(x, i)->d);
	free(x->v);
	x->v = NULL;
	x->cap = x->head = x->n = x->nsent = x->bytes = 0;
	x->inflight = 0;
}

void xfer_done(struct xfer *x)
{
	drop_all(x);
}

void xfer_reset(struct xfer *x, uint64_t epoch)
{
	struct xfer old = *x;

	drop_all(x);
	xfer_init(x, epoch);
	x->has_rtt = old.has_rtt;
	x->srtt8 = old.srtt8;
	x->rttvar4 = old.rttvar4;
	x->rto_ms = old.rto_ms;
	x->st = old.st;
}

uint64_t xfer_next_seq(const struct xfer *x)
{
	return x->base + x->n;
}

size_t xfer_unsent(const struct xfer *x)
{
	return x->n - x->nsent;
}

bool xfer_idle(const struct xfer *x)
{
	return x->n == 0;
}

int xfer_queue(struct xfer *x, const uint8_t *d, size_t len)
{
	struct xfer_dgram *s;
	uint8_t *copy;

	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : RING_MIN;
		struct xfer_dgram *v = malloc(cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < x->n; i++)
			v[i] = *at(x, i);
		free(x->v);
		x->v = v;
		x->cap = cap;
		x->head = 0;
	}
	if (!(copy = malloc(len ? len : 1)))
		return -ENOMEM;
	memcpy(copy, d, len);
	s = at(x, x->n++);
	*s = (struct xfer_dgram){ .d = copy, .len = len };
	x->bytes += len;
	return 0;
}

/* A loss of datagram @seq: the window halves, once for every window sent. */
static void congestion(struct xfer *x, uint64_t seq)
{
	if (seq <= x->recover)
		return;
	x->undo_cwnd = x->cwnd;
	x->undo_ssthresh = x->ssthresh;
	x->undo_left = 0;
	x->ssthresh = x->cwnd / 2 > XFER_WINDOW_MIN ? x->cwnd / 2 : XFER_WINDOW_MIN;
	x->cwnd = x->ssthresh;
	x->grow = 0;
	x->recover = x->base + x->nsent - 1;
	x->st.decreases++;
}

static void mark_lost(struct xfer *x, size_t i)
{
	struct xfer_dgram *s = at(x, i);

	s->lost = true;
	x->inflight--;
	x->st.lost++;
	congestion(x, x->base + i);
	s->event = x->st.decreases;
	x->undo_left++;
}

/* Datagram @s, found lost but never sent again, is acknowledged: it was
 * not lost, only late (a receiver that stalled past the timeout, as one
 * does while it faults in a large table).  Once that holds for every
 * datagram found lost since the last halving, nothing was lost: the window
 * goes back to where it was (as TCP's undo after a spurious timeout, RFC
 * 5682's aim), instead of growing back by one a window for the rest of
 * the transfer. */
static void not_lost(struct xfer *x, const struct xfer_dgram *s)
{
	if (s->event != x->st.decreases || !x->undo_left || --x->undo_left || !x->undo_cwnd)
		return;
	if (x->cwnd < x->undo_cwnd)
		x->cwnd = x->undo_cwnd;
	if (x->ssthresh < x->undo_ssthresh)
		x->ssthresh = x->undo_ssthresh;
	x->undo_cwnd = 0;
	x->grow = 0;
	x->st.undone++;
}

/* The timeout from the estimator (RFC 6298): SRTT + 4 RTTVAR, bounded. */
static void rto_estimate(struct xfer *x)
{
	uint64_t rto = x->srtt8 / 8 + (x->rttvar4 ? x->rttvar4 : 1);

	x->rto_ms = rto < XFER_RTO_MIN_MS ? XFER_RTO_MIN_MS : rto > XFER_RTO_MAX_MS ? XFER_RTO_MAX_MS : rto;
}

static void rtt_sample(struct xfer *x, uint64_t r)
{
	if (!x->has_rtt) {
		x->srtt8 = r * 8;
		x->rttvar4 = r * 2;
		x->has_rtt = true;
	} else {
		uint64_t srtt = x->srtt8 / 8, err = r > srtt ? r - srtt : srtt - r;
		x->srtt8 = x->srtt8 - x->srtt8 / 8 + r;
		x->rttvar4 = x->rttvar4 - x->rttvar4 / 4 + err;
	}
	rto_estimate(x);
}

void xfer_rewind(struct xfer *x)
{
	for (size_t i = 0; i < x->nsent; i++) {
		struct xfer_dgram *s = at(x, i);
		if (s->d && !s->lost) {
			s->lost = true; /* lost with the receiver: no halving */
			x->st.lost++;
		}
	}
	x->inflight = 0;
	x->cwnd = XFER_WINDOW_INIT;
	x->ssthresh = XFER_WINDOW_MAX;
	x->grow = x->undo_cwnd = x->undo_left = 0;
	x->recover = x->base + x->nsent; /* losses of these halve nothing */
	x->probes_unanswered = 0;
	if (x->has_rtt)
		rto_estimate(x);
	else
		x->rto_ms = XFER_RTO_INIT_MS;
}

int xfer_ack(struct xfer *x, uint64_t seq, uint64_t now_ms)
{
	struct xfer_dgram *s;
	size_t k;

	if (seq < x->base || seq - x->base >= x->nsent)
		return -ERANGE;
	k = (size_t)(seq - x->base);
	s = at(x, k);
	if (acked(s))
		return -ERANGE;
	if (!s->lost)
		x->inflight--;
	else if (s->tries == 1)
		not_lost(x, s);
	/* Karn: only a datagram sent once times the round trip.  Any ACK
	 * that is news ends the backoff all the same (as QUIC's does): the
	 * peer is there and merging, and at a transfer's tail, where nothing
	 * is sent once any more, a backoff kept until a round trip is timed
	 * again would double with each further loss there. */
	if (s->tries == 1 && now_ms >= s->sent_ms)
		rtt_sample(x, now_ms - s->sent_ms);
	else if (x->has_rtt)
		rto_estimate(x);
	free(s->d);
	s->d = NULL;
	s->lost = false;
	x->bytes -= s->len;
	x->st.acked++;
	x->quiet_since_ms = now_ms;
	x->probes_unanswered = 0;
	if (x->cwnd < x->ssthresh)
		x->cwnd++;
	else if (++x->grow >= x->cwnd) {
		x->grow = 0;
		x->cwnd++;
	}
	if (x->cwnd > XFER_WINDOW_MAX)
		x->cwnd = XFER_WINDOW_MAX;
	/* those sent before it and XFER_REORDER numbers older are lost: their
	 * ACKs would have come first */
	for (size_t i = 0; i + XFER_REORDER <= k; i++) {
		struct xfer_dgram *o = at(x, i);
		if (o->d && !o->lost && o->xmit < s->xmit)
			mark_lost(x, i);
	}
	while (x->n && acked(at(x, 0))) {
		x->head = (x->head + 1) & (x->cap - 1);
		x->n--;
		x->nsent--;
		x->base++;
	}
	return 0;
}

static bool may_send(const struct xfer *x)
{
	return x->inflight < x->cwnd;
}

/* A new datagram may go: the window has room, and the sent ones still held
 * (acknowledged ones wait behind an unacknowledged oldest) stay within
 * XFER_SPAN, which bounds every scan of them (xfer_ack, xfer_send,
 * xfer_due) whatever the receiver does. */
static bool may_send_new(const struct xfer *x)
{
	return may_send(x) && x->nsent < x->n && x->nsent < XFER_SPAN;
}

/* When the tail's probe is due: nothing new left to send, some in flight,
 * and two smoothed round trips (at least XFER_PTO_MIN_MS) of silence since
 * the last send or new ACK, doubled for each probe not answered yet.
 * UINT64_MAX when none is. */
static uint64_t probe_due(const struct xfer *x)
{
	if (x->nsent < x->n || !x->inflight)
		return UINT64_MAX;
	return x->quiet_since_ms + xfer_pto_ms(x->has_rtt ? x->srtt8 / 4 : 0, x->probes_unanswered);
}

size_t xfer_send(struct xfer *x, uint64_t now_ms, xfer_send_cb cb, void *ctx)
{
	bool timed_out = false;
	size_t sent = 0;

	for (size_t i = 0; i < x->nsent; i++) {
		struct xfer_dgram *s = at(x, i);
		if (s->d && !s->lost && s->sent_ms + x->rto_ms <= now_ms) {
			mark_lost(x, i);
			x->st.timeouts++;
			timed_out = true;
		}
	}
	if (timed_out) /* back off until an ACK times a round trip again */
		x->rto_ms = x->rto_ms * 2 < XFER_RTO_MAX_MS ? x->rto_ms * 2 : XFER_RTO_MAX_MS;
	for (size_t i = 0; i < x->nsent && may_send(x); i++) {
		struct xfer_dgram *s = at(x, i);
		if (!s->d || !s->lost)
			continue;
		if (cb(s->d, s->len, ctx) < 0)
			return sent;
		s->lost = false;
		s->tries++;
		s->sent_ms = now_ms;
		s->xmit = ++x->xmits;
		x->inflight++;
		x->st.resent++;
		sent++;
	}
	while (may_send_new(x)) {
		struct xfer_dgram *s = at(x, x->nsent);
		if (cb(s->d, s->len, ctx) < 0)
			return sent;
		s->tries = 1;
		s->sent_ms = now_ms;
		s->xmit = ++x->xmits;
		x->nsent++;
		x->inflight++;
		x->st.sent++;
		sent++;
	}
	if (sent)
		x->quiet_since_ms = now_ms;
	else if (now_ms >= probe_due(x)) {
		size_t k = 0;
		for (size_t i = 0; i < x->nsent && k < XFER_PROBE_N; i++) {
			struct xfer_dgram *s = at(x, i);
			if (!s->d || s->lost)
				continue;
			if (cb(s->d, s->len, ctx) < 0)
				return sent;
			s->tries++; /* its ACK times no round trip (Karn) */
			s->sent_ms = now_ms;
			s->xmit = ++x->xmits;
			x->st.resent++;
			x->st.probes++;
			sent++;
			k++;
		}
		x->probes_unanswered++;
		x->quiet_since_ms = now_ms;
	}
	return sent;
}

uint64_t xfer_due(const struct xfer *x, uint64_t now_ms)
{
	uint64_t due = UINT64_MAX, probe;

	if (may_send_new(x))
		return now_ms;
	for (size_t i = 0; i < x->nsent; i++) {
		const struct xfer_dgram *s = at(x, i);
		if (!s->d)
			continue;
		if (s->lost) {
			if (may_send(x))
				return now_ms;
			continue;
		}
		if (s->sent_ms + x->rto_ms < due)
			due = s->sent_ms + x->rto_ms;
	}
	probe = probe_due(x);
	return probe < due ? probe : due;
}
