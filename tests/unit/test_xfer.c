/* The catch-up window (gossip/xfer.h): how many datagrams go, when a loss is
 * found, what goes again, and how the window and the timeout move, with a
 * fake clock and exact counts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gossip/xfer.h"

/* What the fake network saw: the sequence number each datagram carries
 * (its first 8 bytes), in order; sends fail while @fail is set. */
struct wire {
	uint64_t seq[4096];
	size_t n;
	bool fail;
};

static int send_cb(const uint8_t *d, size_t len, void *ctx)
{
	struct wire *w = ctx;
	uint64_t seq;

	if (w->fail)
		return -ENOBUFS;
	assert_int_equal(len, 100);
	memcpy(&seq, d, sizeof(seq));
	assert_true(w->n < 4096);
	w->seq[w->n++] = seq;
	return 0;
}

/* Queue @n datagrams of 100 bytes, each carrying its number. */
static void queue(struct xfer *x, size_t n)
{
	uint8_t d[100] = { 0 };

	for (size_t i = 0; i < n; i++) {
		uint64_t seq = xfer_next_seq(x);
		memcpy(d, &seq, sizeof(seq));
		assert_int_equal(xfer_queue(x, d, sizeof(d)), 0);
	}
}

/* The window opens at XFER_WINDOW_INIT and grows by one for each ACK below
 * ssthresh: each round trip doubles what goes. */
static void test_slow_start(void **state)
{
	struct xfer x;
	struct wire w = { 0 };
	uint64_t now = 1000;

	(void)state;
	xfer_init(&x, 7);
	assert_true(xfer_idle(&x));
	assert_int_equal(xfer_due(&x, now), UINT64_MAX);
	queue(&x, 1000);
	assert_int_equal(xfer_unsent(&x), 1000);
	assert_int_equal(xfer_due(&x, now), now);
	assert_int_equal(xfer_send(&x, now, send_cb, &w), XFER_WINDOW_INIT);
	assert_int_equal(w.seq[0], 1);
	assert_int_equal(w.seq[XFER_WINDOW_INIT - 1], XFER_WINDOW_INIT);
	/* full: nothing more until an ACK, and the timeout is what is due */
	assert_int_equal(xfer_send(&x, now, send_cb, &w), 0);
	assert_int_equal(xfer_due(&x, now), now + XFER_RTO_INIT_MS);
	for (uint64_t s = 1; s <= XFER_WINDOW_INIT; s++)
		assert_int_equal(xfer_ack(&x, s, now + 10), 0);
	assert_int_equal(x.cwnd, 2 * XFER_WINDOW_INIT);
	assert_int_equal(x.inflight, 0);
	assert_int_equal(xfer_send(&x, now + 10, send_cb, &w), 2 * XFER_WINDOW_INIT);
	/* the acknowledged ones are freed from the front */
	assert_int_equal(x.base, XFER_WINDOW_INIT + 1);
	/* acknowledging everything, the window stops at its maximum */
	for (uint64_t t = now + 20; !xfer_idle(&x); t += 10) {
		uint64_t hi = xfer_next_seq(&x) - xfer_unsent(&x);
		for (uint64_t s = x.base; s < hi; s++)
			assert_int_equal(xfer_ack(&x, s, t), 0);
		xfer_send(&x, t, send_cb, &w);
		assert_true(x.inflight <= XFER_WINDOW_MAX);
	}
	assert_int_equal(x.cwnd, XFER_WINDOW_MAX);
	assert_int_equal(w.n, 1000);
	assert_int_equal(x.bytes, 0);
	assert_int_equal(x.st.resent, 0);
	assert_int_equal(x.st.lost, 0);
	xfer_done(&x);
}

/* A datagram not acknowledged while XFER_REORDER sent after it are is lost:
 * the window halves once, and it goes again, before anything new. */
static void test_loss_by_later_acks(void **state)
{
	struct xfer x;
	struct wire w = { 0 };

	(void)state;
	xfer_init(&x, 7);
	queue(&x, 200);
	assert_int_equal(xfer_send(&x, 0, send_cb, &w), XFER_WINDOW_INIT);
	/* 5 is missing: acks of 6 and 7 are within the reordering allowed */
	for (uint64_t s = 1; s <= 4; s++)
		assert_int_equal(xfer_ack(&x, s, 1), 0);
	assert_int_equal(xfer_ack(&x, 6, 1), 0);
	assert_int_equal(xfer_ack(&x, 7, 1), 0);
	assert_int_equal(x.st.lost, 0);
	assert_int_equal(x.cwnd, XFER_WINDOW_INIT + 6);
	assert_int_equal(xfer_ack(&x, 8, 1), 0); /* 5 + XFER_REORDER */
	assert_int_equal(x.st.lost, 1);
	assert_int_equal(x.st.decreases, 1);
	assert_int_equal(x.cwnd, XFER_WINDOW_MIN); /* (32 + 7) / 2 < the floor */
	/* a second loss in the same window costs no second halving */
	for (uint64_t s = 10; s <= 12; s++)
		assert_int_equal(xfer_ack(&x, s, 1), 0);
	assert_int_equal(x.st.lost, 2); /* 9 */
	assert_int_equal(x.st.decreases, 1);
	w.n = 0;
	xfer_send(&x, 0, send_cb, &w); /* in the millisecond of the first flight */
	assert_int_equal(w.seq[0], 5);
	assert_int_equal(w.seq[1], 9);
	assert_int_equal(w.seq[2], XFER_WINDOW_INIT + 1);
	assert_int_equal(x.st.resent, 2);
	/* an ACK of one sent before those went again says nothing of them,
	 * even within the same millisecond */
	assert_int_equal(xfer_ack(&x, 13, 2), 0);
	assert_int_equal(x.st.lost, 2);
	/* an ACK twice, or of one never sent, is no news */
	assert_int_equal(xfer_ack(&x, 6, 3), -ERANGE);
	assert_int_equal(xfer_ack(&x, 199, 3), -ERANGE);
	assert_int_equal(xfer_ack(&x, 0, 3), -ERANGE);
	/* base waits for 5 */
	assert_int_equal(x.base, 5);
	assert_int_equal(xfer_ack(&x, 5, 3), 0);
	assert_int_equal(x.base, 9);
	xfer_done(&x);
}

/* Nothing acknowledged within the timeout: every datagram in flight is
 * lost and goes again, the timeout doubles until an ACK times a round
 * trip.  (More are queued than the window holds, so no tail's probe.) */
static void test_timeout(void **state)
{
	struct xfer x;
	struct wire w = { 0 };

	(void)state;
	xfer_init(&x, 7);
	queue(&x, XFER_WINDOW_INIT + 10);
	assert_int_equal(xfer_send(&x, 1000, send_cb, &w), XFER_WINDOW_INIT);
	assert_int_equal(xfer_send(&x, 1000 + XFER_RTO_INIT_MS - 1, send_cb, &w), 0);
	assert_int_equal(xfer_send(&x, 1000 + XFER_RTO_INIT_MS, send_cb, &w), XFER_WINDOW_INIT);
	assert_int_equal(x.st.timeouts, XFER_WINDOW_INIT);
	assert_int_equal(x.st.resent, XFER_WINDOW_INIT);
	assert_int_equal(x.rto_ms, 2 * XFER_RTO_INIT_MS);
	assert_int_equal(xfer_due(&x, 1200), 1200 + 2 * XFER_RTO_INIT_MS);
	/* sent twice: no RTT sample (Karn), the timeout stays doubled */
	assert_int_equal(xfer_ack(&x, 1, 1250), 0);
	assert_false(x.has_rtt);
	assert_int_equal(x.rto_ms, 2 * XFER_RTO_INIT_MS);
	/* many timeouts: the timeout stops at its maximum */
	for (uint64_t t = 1300; t < 100000; t += XFER_RTO_MAX_MS)
		xfer_send(&x, t, send_cb, &w);
	assert_int_equal(x.rto_ms, XFER_RTO_MAX_MS);
	xfer_done(&x);
}

/* After a timeout, any ACK that is news ends the backoff, though one of a
 * datagram sent again times no round trip (Karn): at a transfer's tail,
 * where nothing is sent once any more, the doubled timeout would otherwise
 * stay, and double again with each further loss there. */
static void test_backoff_ends_on_any_ack(void **state)
{
	struct xfer x;
	struct wire w = { 0 };

	(void)state;
	xfer_init(&x, 7);
	queue(&x, 10);
	assert_int_equal(xfer_send(&x, 0, send_cb, &w), 10);
	assert_int_equal(xfer_ack(&x, 1, 10), 0); /* SRTT 10: the timeout is the minimum */
	assert_int_equal(x.rto_ms, XFER_RTO_MIN_MS);
	/* 2..10 time out and go again; the timeout doubles */
	assert_int_equal(xfer_send(&x, XFER_RTO_MIN_MS, send_cb, &w), 9);
	assert_int_equal(x.st.timeouts, 9);
	assert_int_equal(x.rto_ms, 2 * XFER_RTO_MIN_MS);
	/* the ACK of one sent twice: no sample, but the backoff ends */
	assert_int_equal(xfer_ack(&x, 2, XFER_RTO_MIN_MS + 5), 0);
	assert_int_equal(x.srtt8 / 8, 10);
	assert_int_equal(x.rto_ms, XFER_RTO_MIN_MS);
	/* nothing new is left: the tail's probe comes before the timeout, the
	 * oldest four in flight two SRTT (20 ms) after that ACK, and again 40
	 * ms after that probe, left unanswered */
	uint64_t t0 = XFER_RTO_MIN_MS + 5, p = 2 * 10;
	assert_true(p >= XFER_PTO_MIN_MS);
	assert_true(t0 + 3 * p < 2 * XFER_RTO_MIN_MS && t0 + 7 * p > 2 * XFER_RTO_MIN_MS);
	assert_int_equal(xfer_due(&x, t0), t0 + p);
	assert_int_equal(xfer_send(&x, t0 + p - 1, send_cb, &w), 0);
	w.n = 0;
	assert_int_equal(xfer_send(&x, t0 + p, send_cb, &w), XFER_PROBE_N);
	assert_int_equal(w.seq[0], 3);
	assert_int_equal(xfer_send(&x, t0 + 3 * p, send_cb, &w), XFER_PROBE_N);
	/* the four the probes did not send again time out one timeout after
	 * their send at XFER_RTO_MIN_MS */
	assert_int_equal(xfer_send(&x, 2 * XFER_RTO_MIN_MS - 1, send_cb, &w), 0);
	assert_int_equal(xfer_send(&x, 2 * XFER_RTO_MIN_MS, send_cb, &w), 8 - XFER_PROBE_N);
	assert_int_equal(x.st.timeouts, 9 + 8 - XFER_PROBE_N);
	assert_int_equal(x.st.probes, 2 * XFER_PROBE_N);
	xfer_done(&x);
}

/* A receiver that stalls past the timeout (it faulted in a large table)
 * makes the oldest datagrams in flight time out, and the window halves;
 * when every one of them is then acknowledged from its first send, none
 * was lost, and the window goes back to where it was.  If one had to go
 * again, its ACK proves nothing, and the halving stays. */
static void test_spurious_timeout_undone(void **state)
{
	for (int resend = 0; resend <= 1; resend++) {
		struct xfer x;
		struct wire w = { 0 };
		uint64_t rto;

		(void)state;
		xfer_init(&x, 7);
		queue(&x, 100);
		assert_int_equal(xfer_send(&x, 0, send_cb, &w), 32);
		for (uint64_t q = 1; q <= 16; q++) /* RTT 50 */
			assert_int_equal(xfer_ack(&x, q, 50), 0);
		rto = x.rto_ms;
		assert_true(rto > 50 && rto < 150);
		assert_int_equal(x.cwnd, 48);
		assert_int_equal(xfer_send(&x, 50, send_cb, &w), 32); /* 33..64 */
		/* the stall: 17..32, sent at 0, time out; the window halves
		 * (to its floor), 48 are still counted in flight less 16 */
		assert_int_equal(xfer_send(&x, rto, send_cb, &w), 0);
		assert_int_equal(x.st.timeouts, 16);
		assert_int_equal(x.st.decreases, 1);
		assert_int_equal(x.cwnd, XFER_WINDOW_MIN);
		if (resend) { /* one ACK opens the window: 17 goes again */
			assert_int_equal(xfer_ack(&x, 33, rto + 1), 0);
			assert_int_equal(xfer_send(&x, rto + 1, send_cb, &w), 1);
			assert_int_equal(x.st.resent, 1);
		}
		for (uint64_t q = 17; q <= 32; q++)
			assert_int_equal(xfer_ack(&x, q, rto + 10), 0);
		if (!resend) {
			assert_int_equal(x.st.undone, 1);
			assert_true(x.cwnd >= 48);
			assert_int_equal(x.ssthresh, XFER_WINDOW_MAX);
		} else {
			assert_int_equal(x.st.undone, 0);
			assert_true(x.cwnd <= XFER_WINDOW_MIN + 1);
		}
		xfer_done(&x);
	}
}

/* RFC 6298: the first sample R gives SRTT R, RTTVAR R/2, RTO SRTT + 4
 * RTTVAR, never below the minimum. */
static void test_rtt(void **state)
{
	struct xfer x;
	struct wire w = { 0 };

	(void)state;
	xfer_init(&x, 7);
	queue(&x, 3);
	xfer_send(&x, 0, send_cb, &w);
	assert_int_equal(xfer_ack(&x, 1, 50), 0);
	assert_int_equal(x.srtt8 / 8, 50);
	assert_int_equal(x.rto_ms, 50 + 4 * 25);
	assert_int_equal(xfer_ack(&x, 2, 10), 0); /* R = 10: |50 - 10| moves RTTVAR */
	assert_int_equal(x.srtt8 / 8, 45);
	assert_int_equal(x.rto_ms, 45 + (100 - 25 + 40)); /* 4 RTTVAR: 3/4 of it + |err| */
	assert_int_equal(xfer_ack(&x, 3, 0), 0);
	xfer_done(&x);
	xfer_init(&x, 7);
	queue(&x, 1);
	xfer_send(&x, 0, send_cb, &w);
	assert_int_equal(xfer_ack(&x, 1, 1), 0);
	assert_int_equal(x.rto_ms, XFER_RTO_MIN_MS);
	xfer_done(&x);
}

/* A send the transport refuses leaves the datagram to be sent: nothing is
 * counted sent or in flight, and it is due now. */
static void test_send_fails(void **state)
{
	struct xfer x;
	struct wire w = { .fail = true };

	(void)state;
	xfer_init(&x, 7);
	queue(&x, 5);
	assert_int_equal(xfer_send(&x, 0, send_cb, &w), 0);
	assert_int_equal(x.inflight, 0);
	assert_int_equal(xfer_unsent(&x), 5);
	assert_int_equal(xfer_due(&x, 3), 3);
	w.fail = false;
	assert_int_equal(xfer_send(&x, 3, send_cb, &w), 5);
	assert_int_equal(w.seq[0], 1);
	xfer_done(&x);
}

/* A seeded random loss of 30 % on the way out and back: every datagram is
 * acknowledged in the end, each was sent at most a few times, and the
 * window never holds more than its maximum in flight. */
static void test_random_loss(void **state)
{
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	struct xfer x;
	struct wire w = { 0 };
	size_t delivered = 0;
	bool got[1001] = { 0 };

	(void)state;
	xfer_init(&x, 7);
	queue(&x, 1000);
	for (uint64_t t = 0; !xfer_idle(&x) && t < 600000; t += 5) {
		size_t from = w.n;
		xfer_send(&x, t, send_cb, &w);
		assert_true(x.inflight <= XFER_WINDOW_MAX);
		for (size_t i = from; i < w.n; i++) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			if (rng % 100 < 30)
				continue; /* the datagram, or its ACK, is lost */
			delivered += !got[w.seq[i]];
			got[w.seq[i]] = true;
			(void)xfer_ack(&x, w.seq[i], t + 1);
		}
		w.n = 0;
	}
	assert_true(xfer_idle(&x));
	assert_int_equal(delivered, 1000);
	assert_true(x.st.resent > 0);
	assert_int_equal(x.st.sent, 1000);
	/* a resend for each loss at most, beside the tail's probes, and the
	 * window never under its floor */
	assert_true(x.st.resent <= x.st.lost + x.st.probes);
	assert_true(x.cwnd >= XFER_WINDOW_MIN);
	xfer_done(&x);
}

/* A receiver that never acknowledges the oldest datagram (but every other)
 * holds the stream at XFER_SPAN sent: what is held, and what each ACK
 * scans, stays bounded. */
static void test_span(void **state)
{
	struct xfer x;
	struct wire w = { 0 };

	(void)state;
	xfer_init(&x, 7);
	queue(&x, 2000);
	for (uint64_t t = 0; t < 2000; t++) {
		w.n = 0;
		xfer_send(&x, t, send_cb, &w);
		for (size_t i = 0; i < w.n; i++)
			if (w.seq[i] != 1)
				(void)xfer_ack(&x, w.seq[i], t);
		assert_true(x.nsent <= XFER_SPAN);
	}
	assert_int_equal(x.st.sent, XFER_SPAN);
	assert_int_equal(x.base, 1);
	assert_int_equal(xfer_unsent(&x), 2000 - XFER_SPAN);
	xfer_done(&x);
}

/* A reset forgets the datagrams and starts another epoch from 1. */
static void test_reset(void **state)
{
	struct xfer x;
	struct wire w = { 0 };

	(void)state;
	xfer_init(&x, 7);
	queue(&x, 100);
	xfer_send(&x, 0, send_cb, &w);
	xfer_reset(&x, 8);
	assert_true(xfer_idle(&x));
	assert_int_equal(x.epoch, 8);
	assert_int_equal(xfer_next_seq(&x), 1);
	assert_int_equal(x.bytes, 0);
	assert_int_equal(x.st.sent, XFER_WINDOW_INIT); /* counters go on */
	xfer_done(&x);
}

/* The receiver restarted after the timeouts had doubled a few times: a
 * rewind sends every datagram in flight again at the next call, numbered
 * as before, counts them lost without halving anything, and starts the
 * window and the timeout afresh (the RTT estimate stays). */
static void test_rewind(void **state)
{
	struct xfer x;
	struct wire w = { 0 };
	uint64_t now = 1000, decreases;

	(void)state;
	xfer_init(&x, 7);
	queue(&x, 200);
	assert_int_equal(xfer_send(&x, now, send_cb, &w), XFER_WINDOW_INIT);
	assert_int_equal(xfer_ack(&x, 1, now + 10), 0); /* an RTT sample: 10 ms */
	assert_true(x.has_rtt);
	now += 10;
	xfer_send(&x, now, send_cb, &w);
	for (int i = 0; i < 4; i++) { /* no ACK: timeout after timeout */
		now += x.rto_ms;
		xfer_send(&x, now, send_cb, &w);
	}
	assert_true(x.rto_ms >= 8 * XFER_RTO_MIN_MS);
	assert_true(x.ssthresh < XFER_WINDOW_MAX); /* halved */
	decreases = x.st.decreases;
	size_t inflight = x.inflight, lost = x.st.lost, n = w.n;
	assert_true(inflight > 0);
	/* nothing goes before the doubled timeout */
	assert_int_equal(xfer_send(&x, now + 1, send_cb, &w), 0);
	xfer_rewind(&x);
	assert_int_equal(x.inflight, 0);
	assert_int_equal(x.st.lost, lost + inflight);
	assert_int_equal(x.st.decreases, decreases);
	assert_int_equal(x.cwnd, XFER_WINDOW_INIT);
	assert_int_equal(x.ssthresh, XFER_WINDOW_MAX);
	assert_true(x.rto_ms <= XFER_RTO_INIT_MS);
	assert_int_equal(xfer_next_seq(&x), 201); /* the same stream */
	/* at once, a window of them, oldest first */
	assert_int_equal(xfer_send(&x, now + 1, send_cb, &w), XFER_WINDOW_INIT);
	for (size_t i = 0; i < XFER_WINDOW_INIT; i++)
		assert_int_equal(w.seq[n + i], 2 + i);
	/* their ACKs are taken as usual */
	assert_int_equal(xfer_ack(&x, 2, now + 5), 0);
	xfer_done(&x);
}

/* The tail's probe: with nothing new left to send, the oldest datagrams in
 * flight (at most XFER_PROBE_N) go again after two smoothed round trips
 * (at least XFER_PTO_MIN_MS) of silence, each probe left unanswered
 * doubling the wait; a probe marks nothing lost, leaves the window, and an
 * ACK that is news starts the silence again.  While datagrams wait unsent
 * (the window full), no probe goes: later ACKs show a loss there. */
static void test_tail_probe(void **state)
{
	struct xfer x;
	struct wire w = { 0 };
	uint32_t cwnd;

	(void)state;
	xfer_init(&x, 7);
	queue(&x, 10);
	assert_int_equal(xfer_send(&x, 1000, send_cb, &w), 10);
	for (uint64_t s = 1; s <= 4; s++)
		assert_int_equal(xfer_ack(&x, s, 1002), 0); /* SRTT 2: the probe's floor */
	cwnd = x.cwnd;
	assert_int_equal(xfer_due(&x, 1002), 1002 + XFER_PTO_MIN_MS);
	assert_int_equal(xfer_send(&x, 1002 + XFER_PTO_MIN_MS - 1, send_cb, &w), 0);
	w.n = 0;
	assert_int_equal(xfer_send(&x, 1002 + XFER_PTO_MIN_MS, send_cb, &w), XFER_PROBE_N);
	for (size_t i = 0; i < XFER_PROBE_N; i++)
		assert_int_equal(w.seq[i], 5 + i); /* the oldest in flight */
	assert_int_equal(x.st.probes, XFER_PROBE_N);
	assert_int_equal(x.st.resent, XFER_PROBE_N);
	assert_int_equal(x.st.lost, 0);
	assert_int_equal(x.st.decreases, 0);
	assert_int_equal(x.cwnd, cwnd);
	/* unanswered: the next waits twice as long */
	assert_int_equal(xfer_due(&x, 1012), 1012 + 2 * XFER_PTO_MIN_MS);
	assert_int_equal(xfer_send(&x, 1012 + 2 * XFER_PTO_MIN_MS - 1, send_cb, &w), 0);
	assert_int_equal(xfer_send(&x, 1012 + 2 * XFER_PTO_MIN_MS, send_cb, &w), XFER_PROBE_N);
	assert_int_equal(xfer_due(&x, 1032), 1032 + 4 * XFER_PTO_MIN_MS);
	/* an ACK that is news: the silence starts again, at the floor */
	assert_int_equal(xfer_ack(&x, 6, 1033), 0);
	assert_int_equal(xfer_due(&x, 1033), 1033 + XFER_PTO_MIN_MS);
	for (uint64_t s = 5; s <= 10; s++)
		if (s != 6)
			assert_int_equal(xfer_ack(&x, s, 1034), 0);
	assert_true(xfer_idle(&x));
	assert_int_equal(xfer_due(&x, 1034), UINT64_MAX);
	assert_int_equal(x.st.lost, 0);
	xfer_done(&x);

	/* the window full, more waiting: no probe before the timeout */
	xfer_init(&x, 8);
	queue(&x, 100);
	w.n = 0;
	assert_int_equal(xfer_send(&x, 0, send_cb, &w), XFER_WINDOW_INIT);
	assert_int_equal(xfer_send(&x, XFER_RTO_INIT_MS - 1, send_cb, &w), 0);
	assert_int_equal(xfer_due(&x, 0), XFER_RTO_INIT_MS);
	assert_int_equal(x.st.probes, 0);
	xfer_done(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slow_start),
		cmocka_unit_test(test_loss_by_later_acks),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_rtt),
		cmocka_unit_test(test_backoff_ends_on_any_ack),
		cmocka_unit_test(test_spurious_timeout_undone),
		cmocka_unit_test(test_send_fails),
		cmocka_unit_test(test_random_loss),
		cmocka_unit_test(test_span),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_rewind),
		cmocka_unit_test(test_tail_probe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
