/* What the event loop's passes cost a client: the time each pass spent
 * working (not waiting for I/O in the poll), counted by size, and what the
 * longest went to.  A request that arrives during a pass waits for it to
 * end, so the longest pass bounds the extra wait every command can see,
 * whatever work filled it.
 *
 * A pure core: passes_tick() takes the clock and the loop's idle time as
 * numbers.  main.c calls it from a prepare handle (before each poll) with
 * uv_hrtime() and uv_metrics_idle_time() (UV_METRICS_IDLE_TIME); a pass is
 * then the time from one poll's start to the next less the time the first
 * one blocked.  The parts of a pass are added as they run (passes_add):
 * commands (commands_exec), gossip (calls into its core), storage (the
 * journal's commit at the end of the pass and its report); the rest is
 * replies written, timers, and on a busy machine the time other processes
 * took of the core while the loop ran. */
#ifndef CRDTD_PASSES_H
#define CRDTD_PASSES_H

#include <stdbool.h>
#include <stdint.h>

/* The bounds of the counted sizes, µs: passes of more than each. */
#define PASSES_NOVER 3
extern const uint64_t passes_over_us[PASSES_NOVER];

/* A pass longer than this is logged with its parts, at most one line
 * every PASSES_LOG_EVERY_NS. */
#define PASSES_LOG_US 100000
#define PASSES_LOG_EVERY_NS 10000000000ULL

enum passes_part { PASSES_COMMANDS, PASSES_GOSSIP, PASSES_STORAGE, PASSES_NPARTS };
extern const char *const passes_part_names[PASSES_NPARTS];

struct passes_pass {
	uint64_t busy_us;
	uint64_t part_us[PASSES_NPARTS];
};

struct passes_stats {
	uint64_t passes;  /* measured since the start or the last reset */
	uint64_t busy_us; /* their working time, in all */
	uint64_t over[PASSES_NOVER]; /* passes longer than passes_over_us[i] */
	struct passes_pass longest;  /* the longest one, and its parts */
};

struct passes {
	struct passes_stats s;
	struct passes_pass last;   /* the pass the last tick ended */
	uint64_t part_ns[PASSES_NPARTS]; /* the running pass's parts so far */
	uint64_t last_ns, last_idle_ns; /* at the last tick */
	uint64_t logged_ns;        /* when a pass was last logged (0: never) */
	uint64_t unlogged;         /* long passes not logged since */
	bool primed;               /* last_* hold a tick */
};

void passes_init(struct passes *p);

/** @ns of the running pass went to @part. */
static inline void passes_add(struct passes *p, enum passes_part part, uint64_t ns)
{
	p->part_ns[part] += ns;
}

/** A poll is about to start at @now_ns, the loop having blocked @idle_ns in
 * all since it began (both monotonic): the pass since the last tick ends,
 * into p->last.  True when it should be logged (longer than PASSES_LOG_US,
 * and none logged for PASSES_LOG_EVERY_NS; p->unlogged then counts those
 * left out since, and the caller zeroes it once logged). */
bool passes_tick(struct passes *p, uint64_t now_ns, uint64_t idle_ns);

/** Zeroes the counts (CONFIG RESETSTAT); the next pass is measured whole. */
void passes_reset(struct passes *p);

#endif
