/* What the event loop's passes cost a client: the time each pass spent
 * working (not waiting for I/O in the poll), counted by size.  A request
 * that arrives during a pass waits for it to end, so the longest pass bounds
 * the extra wait every command can see, whatever work filled it (commands,
 * gossip, the journal's own commits).
 *
 * A pure core: passes_tick() takes the clock and the loop's idle time as
 * numbers.  main.c calls it from a prepare handle (before each poll) with
 * uv_hrtime() and uv_metrics_idle_time() (UV_METRICS_IDLE_TIME); a pass is
 * then the time from one poll's start to the next less the time the first
 * one blocked. */
#ifndef CRDTD_PASSES_H
#define CRDTD_PASSES_H

#include <stdbool.h>
#include <stdint.h>

/* The bounds of the counted sizes, µs: passes of more than each. */
#define PASSES_NOVER 3
extern const uint64_t passes_over_us[PASSES_NOVER];

struct passes_stats {
	uint64_t passes;  /* measured since the start or the last reset */
	uint64_t busy_us; /* their working time, in all */
	uint64_t longest_us;
	uint64_t over[PASSES_NOVER]; /* passes longer than passes_over_us[i] */
};

struct passes {
	struct passes_stats s;
	uint64_t last_ns, last_idle_ns; /* at the last tick */
	bool primed;                    /* last_* hold a tick */
};

void passes_init(struct passes *p);

/** A poll is about to start at @now_ns, the loop having blocked @idle_ns in
 * all since it began (both monotonic): the pass since the last tick ends. */
void passes_tick(struct passes *p, uint64_t now_ns, uint64_t idle_ns);

/** Zeroes the counts (CONFIG RESETSTAT); the next pass is measured whole. */
void passes_reset(struct passes *p);

#endif
