/* The snapshot the HTTP endpoints render (http/snapshot.h), taken from the
 * running daemon: its INFO counters as metric rows, the peers, the types,
 * the commands, the largest instances, the recent warnings; and the health
 * verdict of /healthz. */
#ifndef CRDTD_HTTP_COLLECT_H
#define CRDTD_HTTP_COLLECT_H

#include <stdbool.h>
#include <stddef.h>

#include "client/cmdstats.h"
#include "client/commands.h"
#include "crdt/rid.h"
#include "http/census.h"
#include "http/snapshot.h"
#include "log.h"

struct daemon;

#define COLLECT_ROWS_MAX 128

#define COLLECT_CMD_BOUNDS 9 /* 8 us .. 1 s, every other power of two */

/* A snapshot and the storage it points into. */
struct collected {
	struct snapshot s;
	struct metric_row rows[COLLECT_ROWS_MAX];
	struct snapshot_peer *peers; /* owned */
	size_t peers_cap;
	const char *warnings[LOG_RECENT_MAX];
	struct snapshot_command cmds[CMDSTATS_MAX];
	/* client/cmdstats.h's power-of-two buckets, coarsened to the bounds
	 * 2^COLLECT_CMD_POW2[k] us */
	uint64_t bounds_us[COLLECT_CMD_BOUNDS];
	uint64_t cmd_buckets[CMDSTATS_MAX][COLLECT_CMD_BOUNDS + 1];
	uint64_t drops[GOSSIP_DROP_MAX];
	char rid[CRDT_RID_STRLEN];
	char unhealthy[256];
};

/** Fill @ret from @d now (@http: the listener's counters), with the
 * instances by type and the largest from @census (NULL: none finished yet;
 * @ret points into it).  0, or -ENOMEM (nothing to release then).
 * Release with collect_done. */
int collect_take(struct daemon *d, const struct http_stats *http,
		 const struct census_result *census, struct collected *ret);
void collect_done(struct collected *c);
/** The per-command rows of @c (zeroed) from @d's command counters; part of
 * collect_take. */
void collect_commands(const struct daemon *d, struct collected *c);

/** Whether the daemon serves and its store takes writes: true, or false
 * with the reason in @why (NUL-terminated, at most @size bytes). */
bool collect_health(struct daemon *d, char *why, size_t size);

#endif
