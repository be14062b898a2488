/* Per-command counters: calls, time spent, failed and rejected calls, and a
 * latency histogram of power-of-two microsecond buckets, as Redis keeps them
 * for INFO commandstats and LATENCY HISTOGRAM.  commands_exec (client/
 * commands.c) records every command here; INFO, LATENCY HISTOGRAM and the
 * HTTP /metrics read the slots.  Plain data embedded in struct daemon: a
 * zeroed struct is empty, nothing to free.  No libuv: times come in. */
#ifndef CRDTD_CMDSTATS_H
#define CRDTD_CMDSTATS_H

#include <stddef.h>
#include <stdint.h>

/* Room for the command table (commands.c asserts it fits). */
#define CMDSTATS_MAX 160
/* Bucket i counts calls of at most 2^i us; the last one takes the rest. */
#define CMDSTATS_BUCKETS 25

struct cmdstat {
	const char *name; /* the table's name (static), NULL while unused */
	uint64_t calls;   /* the handler ran */
	uint64_t usec;    /* total time in the handler */
	uint64_t failed;  /* the handler replied with an error */
	uint64_t rejected; /* refused before it ran: arity, NOAUTH, a limit */
	uint64_t hist[CMDSTATS_BUCKETS];
};

/* Error replies by their first word, as Redis' errorstats: "ERR",
 * "WRONGTYPE", "NOAUTH"...; one past CMDSTATS_ERROR_KINDS kinds, or not a
 * word of capitals, counts as "OTHER". */
#define CMDSTATS_ERROR_KINDS 16
#define CMDSTATS_ERROR_CODE_MAX 23

struct cmdstats {
	struct cmdstat cmd[CMDSTATS_MAX]; /* indexed by the command table */
	uint64_t unknown;                 /* commands not in the table */
	struct {
		char code[CMDSTATS_ERROR_CODE_MAX + 1]; /* "" while unused */
		uint64_t count;
	} errors[CMDSTATS_ERROR_KINDS];
	uint64_t errors_other;
};

enum cmdstats_outcome {
	CMDSTATS_OK = 0,
	CMDSTATS_FAILED,   /* ran, replied an error */
	CMDSTATS_REJECTED, /* did not run */
};

/** Count one call of command @idx (< CMDSTATS_MAX; others are ignored)
 * named @name (a static string), taking @usec when it ran. */
void cmdstats_record(struct cmdstats *st, size_t idx, const char *name, uint64_t usec,
		     enum cmdstats_outcome outcome);

/** Count one error reply; @msg is its text after the '-' (@len bytes). */
void cmdstats_error(struct cmdstats *st, const uint8_t *msg, size_t len);

/** The bucket a call of @usec falls in. */
size_t cmdstats_bucket(uint64_t usec);

/** The upper bound, in us, of bucket @i (2^i). */
uint64_t cmdstats_bucket_usec(size_t i);

/** Zero every counter (the command names stay; the error kinds go). */
void cmdstats_reset(struct cmdstats *st);

#endif
