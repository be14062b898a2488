/* The hybrid logical clock that orders LWW-Register writes: physical ms and
 * a logical counter, with a bound on how far a remote time drags it. */
#include <time.h>

#include "crdt/hlc.h"

uint64_t crdt_clock_realtime(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void crdt_hlc_init(struct crdt_hlc *hlc, crdt_clock_fn clock, void *ctx)
{
	*hlc = (struct crdt_hlc){
		.clock = clock ? clock : crdt_clock_realtime,
		.clock_ctx = ctx,
	};
}

/* One step past @ts: the logical counter, and when it is exhausted the next
 * millisecond.  At the very end of time it stays put rather than wrap to
 * zero: a stamp that repeats is better than one that goes backwards. */
static struct crdt_hlc_ts hlc_succ(struct crdt_hlc_ts ts)
{
	if (ts.lc == UINT32_MAX && ts.ms == UINT64_MAX)
		return ts;
	if (ts.lc == UINT32_MAX)
		return (struct crdt_hlc_ts){ .ms = ts.ms + 1, .lc = 0 };
	return (struct crdt_hlc_ts){ .ms = ts.ms, .lc = ts.lc + 1 };
}

struct crdt_hlc_ts crdt_hlc_now(struct crdt_hlc *hlc)
{
	uint64_t wall = hlc->clock(hlc->clock_ctx);

	if (wall > hlc->last.ms)
		hlc->last = (struct crdt_hlc_ts){ .ms = wall, .lc = 0 };
	else
		hlc->last = hlc_succ(hlc->last); /* wall clock stalled or went back */
	return hlc->last;
}

int crdt_hlc_observe(struct crdt_hlc *hlc, const struct crdt_hlc_ts *ts, uint64_t max_lead_ms)
{
	uint64_t wall = hlc->clock(hlc->clock_ctx);
	struct crdt_hlc_ts t = *ts;
	int capped = 0;

	if (max_lead_ms && t.ms > wall && t.ms - wall > max_lead_ms) {
		t = (struct crdt_hlc_ts){ .ms = wall + max_lead_ms, .lc = 0 };
		capped = 1;
	}
	if (crdt_hlc_cmp(&t, &hlc->last) > 0)
		hlc->last = t;
	return capped;
}

struct crdt_hlc_ts crdt_hlc_after(struct crdt_hlc *hlc, const struct crdt_hlc_ts *after)
{
	struct crdt_hlc_ts now = crdt_hlc_now(hlc);

	return crdt_hlc_cmp(&now, after) > 0 ? now : hlc_succ(*after);
}

int crdt_hlc_cmp(const struct crdt_hlc_ts *a, const struct crdt_hlc_ts *b)
{
	if (a->ms != b->ms)
		return a->ms < b->ms ? -1 : 1;
	return (a->lc > b->lc) - (a->lc < b->lc);
}
