/* What the HTTP endpoints show: a snapshot of the daemon's counters, taken
 * by the listener (http/server.c, which reads struct daemon) and rendered by
 * the pure modules (http/metrics.c as Prometheus text, http/status.c as the
 * HTML page), so both are tested without libuv or a running daemon.
 * Everything is borrowed from the taker for the length of one render. */
#ifndef CRDTD_HTTP_SNAPSHOT_H
#define CRDTD_HTTP_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/core.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE };

/* One unlabelled counter or gauge: an INFO field under its metric name
 * (crdtd_..., counters ending in _total). */
struct metric_row {
	const char *name;
	enum metric_type type;
	const char *help;
	double value;
};

/* A peer as gossip reports it (struct gossip_peer_info), its strings copied
 * so the snapshot outlives gossip_foreach_peer. */
struct snapshot_peer {
	struct gossip_peer_info info; /* name and node point below; addr and rid NULL */
	char name[GOSSIP_PEER_NAME_MAX + 1];
	char node[256];
};

struct snapshot_type {
	const char *name; /* "orset", ... */
	uint64_t instances, elements;
};

struct snapshot_instance {
	char name[80]; /* cut, with "..." when longer */
	const char *type;
	uint64_t elements;
	uint64_t stored_bytes; /* journal bytes: last snapshot and records since */
};

/* One command of the table: its calls, error replies, time in its handler
 * and the latency histogram (not cumulative: bucket i counts the calls
 * above bound i - 1 and at most bound i). */
struct snapshot_command {
	const char *name;
	uint64_t calls, errors;
	uint64_t usec_sum;
	const uint64_t *buckets; /* snapshot.nbounds + 1 */
};

/* The HTTP listener's own counters.  Responses by status: the statuses the
 * listener answers, in http_status_codes order. */
#define HTTP_NSTATUS 10
extern const int http_status_codes[HTTP_NSTATUS]; /* 200, 400, 401, 404, ... */
struct http_stats {
	uint64_t connections;       /* accepted */
	uint64_t open;              /* connections open now */
	uint64_t responses[HTTP_NSTATUS];
	uint64_t over_max_connections; /* closed at once: max_connections open */
	uint64_t header_timeouts;   /* closed: request incomplete after header_timeout_ms */
	uint64_t read_errors;       /* closed by the client or an error before a request */
};
/** The index of @status in http_status_codes, or -1. */
int http_status_index(int status);

struct snapshot {
	const char *node, *version, *replica_id;
	uint64_t uptime_ms;
	uint64_t gossip_interval_ms;
	const struct metric_row *rows;
	size_t nrows;
	const struct snapshot_peer *peers;
	size_t npeers;
	const struct snapshot_type *types;
	size_t ntypes;
	const uint64_t *drops; /* GOSSIP_DROP_MAX, by enum gossip_drop */
	const struct snapshot_command *cmds;
	size_t ncmds;
	/* the latency histogram's bucket bounds, microseconds, ascending;
	 * each command has nbounds + 1 buckets, the last one unbounded */
	const uint64_t *bounds_us;
	size_t nbounds;
	const struct http_stats *http;
	/* /status only */
	const struct snapshot_instance *largest; /* largest first */
	size_t nlargest;
	const char *const *warnings; /* oldest first */
	size_t nwarnings;
	const char *unhealthy; /* NULL when /healthz says 200, else why not */
};

#endif
