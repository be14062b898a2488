/* The Prometheus text exposition of a snapshot: the flat INFO counters, then
 * the labelled families (per peer, type, command, drop reason, status). */
#include "http/metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const int http_status_codes[HTTP_NSTATUS] = { 200, 400, 401, 404, 405, 413, 414, 431, 500, 503 };

int http_status_index(int status)
{
	for (int i = 0; i < HTTP_NSTATUS; i++)
		if (http_status_codes[i] == status)
			return i;
	return -1;
}

static void family(struct crdt_buf *b, const char *name, const char *type, const char *help)
{
	crdt_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped, as the format wants. */
static void put_label(struct crdt_buf *b, const char *key, const char *val, bool first)
{
	crdt_buf_printf(b, "%s%s=\"", first ? "" : ",", key);
	for (const char *p = val; *p; p++) {
		if (*p == '\\' || *p == '"')
			crdt_buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			crdt_buf_printf(b, "\\n");
		else
			crdt_buf_put(b, p, 1);
	}
	crdt_buf_put(b, "\"", 1);
}

/* A value as the format reads it: integers exactly, others to 9 digits. */
static void put_value(struct crdt_buf *b, double v)
{
	if (v == (double)(int64_t)v && v < 9e15 && v > -9e15)
		crdt_buf_printf(b, " %" PRId64 "\n", (int64_t)v);
	else
		crdt_buf_printf(b, " %.9g\n", v);
}

static void sample1(struct crdt_buf *b, const char *name, const char *key, const char *val,
		    double v)
{
	crdt_buf_printf(b, "%s{", name);
	put_label(b, key, val, true);
	crdt_buf_put(b, "}", 1);
	put_value(b, v);
}

static const char *type_name(enum metric_type t)
{
	return t == METRIC_COUNTER ? "counter" : "gauge";
}

/* Per peer: one row per family, each a getter that returns false when the
 * peer has no value yet (never seen, no RTT measured): no sample then.  A
 * new per-peer figure (gossip_peer_info) is one more row. */
struct peer_metric {
	const char *name;
	enum metric_type type;
	const char *help;
	bool (*get)(const struct gossip_peer_info *p, double *ret);
};

static bool peer_up(const struct gossip_peer_info *p, double *ret)
{
	*ret = p->seen && !p->down;
	return true;
}
static bool peer_seen_ago(const struct gossip_peer_info *p, double *ret)
{
	*ret = (double)p->last_seen_ago_ms / 1000.0;
	return p->seen;
}
static bool peer_rtt(const struct gossip_peer_info *p, double *ret)
{
	*ret = (double)p->srtt_us / 1e6;
	return p->has_rtt;
}
static bool peer_offset(const struct gossip_peer_info *p, double *ret)
{
	*ret = (double)p->clock_offset_ms / 1000.0;
	return p->has_clock_offset;
}
static bool peer_skewed(const struct gossip_peer_info *p, double *ret)
{
	*ret = p->clock_skewed;
	return true;
}
static bool peer_in_sync(const struct gossip_peer_info *p, double *ret)
{
	*ret = p->in_sync;
	return p->has_sync;
}
static bool peer_out_of_sync(const struct gossip_peer_info *p, double *ret)
{
	uint64_t ms = p->in_sync || p->now_ms < p->differs_since_ms ? 0
								  : p->now_ms - p->differs_since_ms;
	*ret = (double)ms / 1000.0;
	return p->has_sync;
}
static bool peer_differing(const struct gossip_peer_info *p, double *ret)
{
	*ret = (double)p->instances_differing;
	return p->has_sync;
}
static bool peer_deltas_pending(const struct gossip_peer_info *p, double *ret)
{
	*ret = (double)p->deltas_pending;
	return true;
}
static bool peer_deltas_acked(const struct gossip_peer_info *p, double *ret)
{
	*ret = (double)p->deltas_acked;
	return true;
}
static bool peer_bytes_round(const struct gossip_peer_info *p, double *ret)
{
	*ret = (double)p->bytes_last_round;
	return true;
}
static bool peer_catchup_pending(const struct gossip_peer_info *p, double *ret)
{
	*ret = (double)p->catchup_pending;
	return true;
}
static bool peer_catchup_window(const struct gossip_peer_info *p, double *ret)
{
	*ret = (double)p->catchup_window;
	return true;
}
static bool peer_catching_up(const struct gossip_peer_info *p, double *ret)
{
	*ret = p->catching_up;
	return true;
}
static bool peer_repairing(const struct gossip_peer_info *p, double *ret)
{
	*ret = p->repairing;
	return true;
}
#define PEER_STAT(field)                                                                           \
	static bool peer_##field(const struct gossip_peer_info *p, double *ret)                    \
	{                                                                                          \
		*ret = (double)p->stats.field;                                                     \
		return true;                                                                       \
	}
PEER_STAT(dgrams_out)
PEER_STAT(bytes_out)
PEER_STAT(dgrams_in)
PEER_STAT(bytes_in)
PEER_STAT(pings_out)
PEER_STAT(pongs_in)
PEER_STAT(clock_capped)

static const struct peer_metric peer_metrics[] = {
	{ "crdtd_peer_up", METRIC_GAUGE,
	  "1 while the peer answers: a valid datagram from it within the last 3 gossip rounds",
	  peer_up },
	{ "crdtd_peer_last_seen_seconds", METRIC_GAUGE,
	  "seconds since the last valid datagram from the peer (absent until one came)",
	  peer_seen_ago },
	{ "crdtd_peer_rtt_seconds", METRIC_GAUGE,
	  "smoothed round-trip time of PING/PONG with the peer (RFC 6298)", peer_rtt },
	{ "crdtd_peer_datagrams_sent_total", METRIC_COUNTER, "datagrams sent to the peer",
	  peer_dgrams_out },
	{ "crdtd_peer_sent_bytes_total", METRIC_COUNTER, "bytes sent to the peer", peer_bytes_out },
	{ "crdtd_peer_datagrams_received_total", METRIC_COUNTER,
	  "datagrams from the peer's address, valid or not", peer_dgrams_in },
	{ "crdtd_peer_received_bytes_total", METRIC_COUNTER, "bytes from the peer's address",
	  peer_bytes_in },
	{ "crdtd_peer_pings_sent_total", METRIC_COUNTER, "PINGs sent to the peer", peer_pings_out },
	{ "crdtd_peer_pongs_received_total", METRIC_COUNTER, "PONGs received from the peer",
	  peer_pongs_in },
	{ "crdtd_peer_clock_offset_seconds", METRIC_GAUGE,
	  "the peer's wall clock minus ours, from the last PONG", peer_offset },
	{ "crdtd_peer_clock_skewed", METRIC_GAUGE,
	  "1 when the peer's clock offset passes max_clock_lead_ms", peer_skewed },
	{ "crdtd_peer_in_sync", METRIC_GAUGE,
	  "1 when the peer's last DIGEST agreed with ours, 0 when it differed (absent until one came)",
	  peer_in_sync },
	{ "crdtd_peer_out_of_sync_seconds", METRIC_GAUGE,
	  "seconds since the peer's digests began to differ from ours (0 while in sync)",
	  peer_out_of_sync },
	{ "crdtd_peer_instances_differing", METRIC_GAUGE,
	  "instances found differing in the last digest exchange with the peer", peer_differing },
	{ "crdtd_peer_delta_intervals_pending", METRIC_GAUGE,
	  "delta intervals sent to the peer and not acknowledged yet", peer_deltas_pending },
	{ "crdtd_peer_delta_interval_acked", METRIC_GAUGE,
	  "the highest delta interval the peer acknowledged (all before it too)", peer_deltas_acked },
	{ "crdtd_peer_sent_bytes_last_round", METRIC_GAUGE,
	  "bytes sent to the peer between the last two gossip rounds", peer_bytes_round },
	{ "crdtd_peer_catching_up", METRIC_GAUGE,
	  "1 while instances are left to pack for the peer's catch-up or datagrams unacknowledged",
	  peer_catching_up },
	{ "crdtd_peer_catchup_pending_datagrams", METRIC_GAUGE,
	  "catch-up datagrams to the peer queued or not acknowledged yet", peer_catchup_pending },
	{ "crdtd_peer_catchup_window_datagrams", METRIC_GAUGE,
	  "catch-up datagrams that may be in flight to the peer at once (the paced window)",
	  peer_catchup_window },
	{ "crdtd_peer_repairing", METRIC_GAUGE,
	  "1 from the peer's restart or return until the digest exchange that repairs it",
	  peer_repairing },
	{ "crdtd_peer_clock_lead_capped_total", METRIC_COUNTER,
	  "register states from the peer stamped past max_clock_lead_ms ahead of our clock",
	  peer_clock_capped },
};

/* One histogram bucket (or _sum or _count with @le NULL) of label @key. */
static void put_bucket(struct crdt_buf *b, const char *h, const char *suffix, const char *key,
		       const char *val, const char *le, double v)
{
	crdt_buf_printf(b, "%s%s{", h, suffix);
	put_label(b, key, val, true);
	if (le)
		put_label(b, "le", le, false);
	crdt_buf_put(b, "}", 1);
	put_value(b, v);
}

/* Per peer, by reason: the drops a known peer's address can cause (never
 * unknown_peer, which is no peer's; send errors are ours, not its). */
static void render_peer_drops(const struct snapshot *s, struct crdt_buf *b)
{
	const char *name = "crdtd_peer_datagrams_dropped_total";

	family(b, name, "counter",
	       "datagrams from the peer's address dropped as invalid, by reason (docs/protocol.md)");
	for (size_t i = 0; i < s->npeers; i++)
		for (int k = 0; k < GOSSIP_DROP_MAX; k++) {
			if (k == GOSSIP_DROP_UNKNOWN_PEER || k == GOSSIP_DROP_SEND_ERROR)
				continue;
			crdt_buf_printf(b, "%s{", name);
			put_label(b, "peer", s->peers[i].name, true);
			put_label(b, "reason", gossip_drop_name((enum gossip_drop)k), false);
			crdt_buf_put(b, "}", 1);
			put_value(b, (double)s->peers[i].info.stats.drops[k]);
		}
}

static void render_peer_lag(const struct snapshot *s, struct crdt_buf *b)
{
	const char *h = "crdtd_peer_convergence_lag_seconds";

	family(b, h, "histogram",
	       "time from a local write's delta interval to its acknowledgement by the peer");
	for (size_t i = 0; i < s->npeers; i++) {
		const struct gossip_lag *l = &s->peers[i].info.stats.lag;
		const char *peer = s->peers[i].name;
		uint64_t cum = 0;
		for (size_t k = 0; k <= GOSSIP_LAG_BUCKETS; k++) {
			char le[32];
			cum += l->buckets[k];
			if (k < GOSSIP_LAG_BUCKETS)
				snprintf(le, sizeof(le), "%g", (double)gossip_lag_bounds_ms[k] / 1e3);
			else
				snprintf(le, sizeof(le), "+Inf");
			put_bucket(b, h, "_bucket", "peer", peer, le, (double)cum);
		}
		put_bucket(b, h, "_sum", "peer", peer, NULL, (double)l->sum_ms / 1e3);
		put_bucket(b, h, "_count", "peer", peer, NULL, (double)l->count);
	}
}

static void render_peers(const struct snapshot *s, struct crdt_buf *b)
{
	for (size_t m = 0; m < sizeof(peer_metrics) / sizeof(peer_metrics[0]); m++) {
		const struct peer_metric *pm = &peer_metrics[m];
		family(b, pm->name, type_name(pm->type), pm->help);
		for (size_t i = 0; i < s->npeers; i++) {
			double v;
			if (pm->get(&s->peers[i].info, &v))
				sample1(b, pm->name, "peer", s->peers[i].name, v);
		}
	}
	render_peer_drops(s, b);
	render_peer_lag(s, b);
}

static void render_types(const struct snapshot *s, struct crdt_buf *b)
{
	family(b, "crdtd_instances", "gauge", "instances held, by CRDT type");
	for (size_t i = 0; i < s->ntypes; i++)
		sample1(b, "crdtd_instances", "type", s->types[i].name, (double)s->types[i].instances);
	family(b, "crdtd_elements", "gauge",
	       "set members held, by CRDT type (0 for counters and registers)");
	for (size_t i = 0; i < s->ntypes; i++)
		sample1(b, "crdtd_elements", "type", s->types[i].name, (double)s->types[i].elements);
}

static void render_drops(const struct snapshot *s, struct crdt_buf *b)
{
	family(b, "crdtd_gossip_dropped_total", "counter",
	       "datagrams dropped, by reason (docs/protocol.md)");
	for (int i = 0; i < GOSSIP_DROP_MAX; i++)
		sample1(b, "crdtd_gossip_dropped_total", "reason",
			gossip_drop_name((enum gossip_drop)i), (double)s->drops[i]);
}

static void render_commands(const struct snapshot *s, struct crdt_buf *b)
{
	const char *h = "crdtd_command_duration_seconds";

	family(b, "crdtd_commands_total", "counter", "commands run, by command");
	for (size_t i = 0; i < s->ncmds; i++)
		sample1(b, "crdtd_commands_total", "command", s->cmds[i].name,
			(double)s->cmds[i].calls);
	family(b, "crdtd_command_errors_total", "counter",
	       "commands answered with an error, by command");
	for (size_t i = 0; i < s->ncmds; i++)
		sample1(b, "crdtd_command_errors_total", "command", s->cmds[i].name,
			(double)s->cmds[i].errors);
	family(b, h, "histogram",
	       "time a command took to run, by command (replies held for the storage commit "
	       "wait outside it)");
	for (size_t i = 0; i < s->ncmds; i++) {
		const struct snapshot_command *c = &s->cmds[i];
		uint64_t cum = 0;
		for (size_t k = 0; k <= s->nbounds; k++) {
			char le[32];
			cum += c->buckets[k];
			if (k < s->nbounds)
				snprintf(le, sizeof(le), "%g", (double)s->bounds_us[k] / 1e6);
			else
				snprintf(le, sizeof(le), "+Inf");
			crdt_buf_printf(b, "%s_bucket{", h);
			put_label(b, "command", c->name, true);
			put_label(b, "le", le, false);
			crdt_buf_printf(b, "} %" PRIu64 "\n", cum);
		}
		crdt_buf_printf(b, "%s_sum{", h);
		put_label(b, "command", c->name, true);
		crdt_buf_put(b, "}", 1);
		put_value(b, (double)c->usec_sum / 1e6);
		crdt_buf_printf(b, "%s_count{", h);
		put_label(b, "command", c->name, true);
		crdt_buf_printf(b, "} %" PRIu64 "\n", cum);
	}
}

static void render_http(const struct snapshot *s, struct crdt_buf *b)
{
	const struct http_stats *h = s->http;

	family(b, "crdtd_http_responses_total", "counter",
	       "HTTP responses, by status (400, 405, 413, 414, 431: bad requests, then closed)");
	for (int i = 0; i < HTTP_NSTATUS; i++) {
		char code[8];
		snprintf(code, sizeof(code), "%d", http_status_codes[i]);
		sample1(b, "crdtd_http_responses_total", "code", code, (double)h->responses[i]);
	}
	family(b, "crdtd_http_closed_total", "counter",
	       "HTTP connections closed without a response, by reason");
	sample1(b, "crdtd_http_closed_total", "reason", "max_connections",
		(double)h->over_max_connections);
	sample1(b, "crdtd_http_closed_total", "reason", "header_timeout",
		(double)h->header_timeouts);
	sample1(b, "crdtd_http_closed_total", "reason", "client", (double)h->read_errors);
	family(b, "crdtd_http_connections_total", "counter", "HTTP connections accepted");
	crdt_buf_printf(b, "crdtd_http_connections_total %" PRIu64 "\n", h->connections);
	family(b, "crdtd_http_connections", "gauge", "HTTP connections open now");
	crdt_buf_printf(b, "crdtd_http_connections %" PRIu64 "\n", h->open);
}

void metrics_render(const struct snapshot *s, struct crdt_buf *b)
{
	family(b, "crdtd_info", "gauge", "always 1; the labels say which node and version");
	crdt_buf_printf(b, "crdtd_info{");
	put_label(b, "node", s->node, true);
	put_label(b, "version", s->version, false);
	put_label(b, "replica_id", s->replica_id, false);
	crdt_buf_printf(b, "} 1\n");
	family(b, "crdtd_uptime_seconds", "gauge", "seconds since the daemon started");
	crdt_buf_printf(b, "crdtd_uptime_seconds");
	put_value(b, (double)s->uptime_ms / 1000.0);
	family(b, "crdtd_healthy", "gauge", "1 when /healthz answers 200: the store takes writes");
	crdt_buf_printf(b, "crdtd_healthy %d\n", s->unhealthy == NULL);
	for (size_t i = 0; i < s->nrows; i++) {
		const struct metric_row *r = &s->rows[i];
		family(b, r->name, type_name(r->type), r->help);
		crdt_buf_printf(b, "%s", r->name);
		put_value(b, r->value);
	}
	render_peers(s, b);
	render_types(s, b);
	render_drops(s, b);
	render_commands(s, b);
	render_http(s, b);
}
