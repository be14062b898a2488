/* Hybrid logical clock (Kulkarni et al.): physical milliseconds plus a
 * logical counter.  Timestamps it hands out never go backwards, even when the
 * wall clock does, and stay close to the wall clock otherwise.
 */
#ifndef CRDT_HLC_H
#define CRDT_HLC_H

#include <stdint.h>

struct crdt_hlc_ts {
	uint64_t ms;
	uint32_t lc;
};

/** Source of wall-clock milliseconds; injectable so tests can move time. */
typedef uint64_t (*crdt_clock_fn)(void *ctx);

struct crdt_hlc {
	crdt_clock_fn clock;
	void *clock_ctx;
	struct crdt_hlc_ts last;
};

/** Wall clock (CLOCK_REALTIME) in milliseconds: the default source. */
uint64_t crdt_clock_realtime(void *ctx);

/** Start a clock at zero reading @clock (NULL: crdt_clock_realtime). */
void crdt_hlc_init(struct crdt_hlc *hlc, crdt_clock_fn clock, void *ctx);
/** Timestamp for a local event: strictly greater than every timestamp this
 * clock has handed out or observed. */
struct crdt_hlc_ts crdt_hlc_now(struct crdt_hlc *hlc);
/** Take in a timestamp seen from elsewhere, so that later local timestamps
 * order after it.  When @max_lead_ms is not 0 the clock moves at most to our
 * wall clock + @max_lead_ms: a peer with a clock far ahead drags us no
 * further than that (the state that carried @ts is still merged; only the
 * clock is bounded).  Returns 1 when @ts lay past the bound (the clock was
 * capped), else 0. */
int crdt_hlc_observe(struct crdt_hlc *hlc, const struct crdt_hlc_ts *ts, uint64_t max_lead_ms);
/** Timestamp for a local event that must order after @after (the value a
 * write replaces): crdt_hlc_now(), or the successor of @after when that is
 * later.  The clock itself moves only as crdt_hlc_now moves it, so a value
 * stamped by a clock far ahead is overwritten by the write that read it
 * without dragging every later stamp of this replica along. */
struct crdt_hlc_ts crdt_hlc_after(struct crdt_hlc *hlc, const struct crdt_hlc_ts *after);
/** <0, 0, >0. */
int crdt_hlc_cmp(const struct crdt_hlc_ts *a, const struct crdt_hlc_ts *b);

#endif
