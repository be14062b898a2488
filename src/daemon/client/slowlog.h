/* The slow log: the last commands that ran longer than [slowlog]
 * log_slower_than_us, as Redis' SLOWLOG keeps them: an id, the unix time,
 * the duration, the arguments (at most SLOWLOG_MAX_ARGC, each cut at
 * SLOWLOG_MAX_STRING bytes, as Redis cuts them), the client's address and
 * name.  Pure: times come in.  A zeroed struct is an empty log; the entries
 * belong to the log and go with slowlog_reset/slowlog_done. */
#ifndef CRDTD_SLOWLOG_H
#define CRDTD_SLOWLOG_H

#include <stddef.h>
#include <stdint.h>

#define SLOWLOG_MAX_ARGC 32
#define SLOWLOG_MAX_STRING 128

struct slowlog_entry {
	uint64_t id;
	int64_t time; /* unix seconds */
	uint64_t usec;
	size_t argc;  /* <= SLOWLOG_MAX_ARGC */
	const uint8_t **argv;
	size_t *argl;
	const char *addr; /* "ip:port", "/path:0" */
	const char *name; /* "" when unnamed */
};

struct slowlog {
	struct slowlog_entry **ring; /* ring[(head + i) % cap], i = 0 the oldest */
	size_t cap, head, len;
	uint64_t next_id; /* not reset by slowlog_reset, as Redis */
};

/**
 * Add a command, copying what it keeps, and drop the oldest entries past
 * @max_len (0 keeps nothing).  Returns 0 or -ENOMEM (then the log is as it
 * was, less what @max_len trims).
 */
int slowlog_push(struct slowlog *l, size_t max_len, int64_t unix_time, uint64_t usec,
		 size_t argc, const uint8_t *const *argv, const size_t *argl, const char *addr,
		 const char *name);

/** Entries held. */
size_t slowlog_len(const struct slowlog *l);

/** Entry @i, 0 the newest; NULL past the end.  Valid until the next push
 * or reset. */
const struct slowlog_entry *slowlog_get(const struct slowlog *l, size_t i);

/** Drop every entry. */
void slowlog_reset(struct slowlog *l);

/** Free everything; accepts a zeroed struct.  The log is then empty. */
void slowlog_done(struct slowlog *l);

#endif
