/* INFO and CRDT.PEERS: the daemon's counters rendered as Redis INFO
 * sections and as the peer table. */
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "daemon.h"
#include "gossip/gossip.h"
#include "client/info.h"
#include "client/resp.h"
#include "client/listener.h"
#include "gossip/shim.h"
#include "state/journal.h"

#ifndef CRDTD_VERSION
#error "CRDTD_VERSION comes from meson.project_version() (src/daemon/meson.build)"
#endif

static void line(struct crdt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line(struct crdt_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	crdt_buf_vprintf(b, fmt, ap);
	va_end(ap);
	crdt_buf_put(b, "\r\n", 2);
}

static void section_server(struct daemon *d, struct crdt_buf *b)
{
	uint64_t up = (uv_now(d->loop) - d->start_ms) / 1000;

	line(b, "# Server");
	line(b, "crdtd_version:%s", CRDTD_VERSION);
	line(b, "redis_version:%s", INFO_REDIS_VERSION);
	line(b, "node_name:%s", d->cfg.node.name);
	char rid[CRDT_RID_STRLEN];
	crdt_rid_format(&d->store.self, rid);
	line(b, "replica_id:%s", rid);
	line(b, "replica_id_changes:%" PRIu64, d->store.stats.rid_changes);
	line(b, "process_id:%d", (int)uv_os_getpid());
	line(b, "tcp_port:%u", d->cfg.node.client.port);
	line(b, "gossip_port:%u", d->cfg.node.listen.port);
	line(b, "config_file:%s", d->config_path ? d->config_path : "");
	line(b, "uptime_in_seconds:%" PRIu64, up);
	line(b, "uptime_in_days:%" PRIu64, up / 86400);
}

static void section_clients(struct daemon *d, struct crdt_buf *b)
{
	struct server_stats s;

	server_get_stats(d->listener, &s);
	line(b, "# Clients");
	line(b, "connected_clients:%d", d->clients);
	line(b, "maxclients:%u", d->cfg.node.max_clients);
	line(b, "clients_paused_on_output:%zu", s.paused);
	line(b, "output_buffer_bytes:%zu", s.unsent_bytes);
	line(b, "output_buffer_max_client_bytes:%zu", s.max_unsent);
}

static void section_stats(struct daemon *d, struct crdt_buf *b)
{
	line(b, "# Stats");
	line(b, "total_connections_received:%" PRIu64, d->stats.connections);
	line(b, "total_commands_processed:%" PRIu64, d->stats.commands);
	line(b, "rejected_connections:%" PRIu64, d->stats.rejected_clients);
	line(b, "total_error_replies:%" PRIu64, d->stats.errors_replied);
	line(b, "expired_keys:%" PRIu64, d->store.stats.expired);
	line(b, "names_reclaimed:%" PRIu64, d->store.stats.reclaimed);
	line(b, "reclaimed_records_dropped:%" PRIu64, d->store.stats.reclaim_dropped);
	line(b, "protocol_errors:%" PRIu64, d->stats.protocol_errors);
	line(b, "auth_failures:%" PRIu64, d->stats.auth_failures);
	line(b, "client_output_buffer_limit_disconnections:%" PRIu64,
	     d->stats.output_limit_disconnections);
	line(b, "reply_buffer_errors:%" PRIu64, d->stats.reply_buffer_errors);
	line(b, "loop_passes:%" PRIu64, d->passes.s.passes);
	line(b, "loop_busy_us:%" PRIu64, d->passes.s.busy_us);
	line(b, "loop_longest_pass_us:%" PRIu64, d->passes.s.longest.busy_us);
	for (int k = 0; k < PASSES_NPARTS; k++)
		line(b, "loop_longest_pass_%s_us:%" PRIu64, passes_part_names[k],
		     d->passes.s.longest.part_us[k]);
	line(b, "loop_passes_over_1ms:%" PRIu64, d->passes.s.over[0]);
	line(b, "loop_passes_over_10ms:%" PRIu64, d->passes.s.over[1]);
	line(b, "loop_passes_over_100ms:%" PRIu64, d->passes.s.over[2]);
}

/* ms since @p's digests began to differ from ours; -1 in sync or unknown */
static int64_t differs_ago(const struct gossip_peer_info *p)
{
	if (!p->has_sync || p->in_sync)
		return -1;
	return p->now_ms > p->differs_since_ms ? (int64_t)(p->now_ms - p->differs_since_ms) : 0;
}

struct peer_lines {
	struct crdt_buf *b;
	size_t i, skewed;
};

/* One "peerN:" line per peer, as Redis lists replicas ("slave0:"). */
static int put_peer_line(const struct gossip_peer_info *p, void *ctx)
{
	struct peer_lines *pl = ctx;
	char off[32] = "unknown", sync[8] = "unknown";

	if (p->has_clock_offset)
		snprintf(off, sizeof(off), "%" PRId64, p->clock_offset_ms);
	if (p->has_sync)
		snprintf(sync, sizeof(sync), "%d", p->in_sync);
	line(pl->b, "peer%zu:name=%s,node=%s,up=%d,clock_offset_ms=%s,clock_skewed=%d,"
		    "clock_lead_capped=%" PRIu64 ",in_sync=%s,differs_since_ms_ago=%" PRId64
		    ",instances_differing=%" PRIu64 ",deltas_acked=%" PRIu64
		    ",deltas_pending=%" PRIu64 ",bytes_last_round=%" PRIu64
		    ",catching_up=%d,catchup_pending=%" PRIu64 ",catchup_window=%" PRIu64
		    ",repairing=%d",
	     pl->i++, p->name, p->node ? p->node : "", p->seen && !p->down, off, p->clock_skewed,
	     p->stats.clock_capped, sync, differs_ago(p), p->instances_differing, p->deltas_acked,
	     p->deltas_pending, p->bytes_last_round, p->catching_up, p->catchup_pending,
	     p->catchup_window, p->repairing);
	pl->skewed += p->clock_skewed;
	return 0;
}

static void section_gossip(struct daemon *d, struct crdt_buf *b)
{
	struct gossip_stats s;
	struct peer_lines pl = { .b = b };

	line(b, "# Gossip");
	if (!d->gossip)
		return;
	gossip_get_stats(d->gossip, &s);
	line(b, "gossip_interval_ms:%u", d->cfg.gossip.interval_ms);
	line(b, "gossip_mtu:%u", d->cfg.gossip.mtu);
	line(b, "gossip_peers:%zu", gossip_npeers(d->gossip));
	line(b, "gossip_auth:%s", !d->cfg.security.key_file[0] ? "off"
				  : d->cfg.security.encrypt   ? "encrypt"
							      : "authenticate");
	line(b, "gossip_rounds:%" PRIu64, s.rounds);
	line(b, "gossip_pushes:%" PRIu64, s.pushes);
	line(b, "gossip_syncs:%" PRIu64, s.syncs);
	line(b, "datagrams_out:%" PRIu64, s.dgrams_out);
	line(b, "max_datagram_bytes:%" PRIu64, s.max_dgram_out);
	line(b, "bytes_out:%" PRIu64, s.bytes_out);
	line(b, "datagrams_in:%" PRIu64, s.dgrams_in);
	line(b, "bytes_in:%" PRIu64, s.bytes_in);
	line(b, "records_in:%" PRIu64, s.records_in);
	line(b, "merges:%" PRIu64, s.merges);
	line(b, "records_unchanged:%" PRIu64, s.unchanged);
	line(b, "pieces_no_news:%" PRIu64, s.pieces_no_news);
	line(b, "gossip_digests:%s", d->cfg.gossip.digests ? "yes" : "no");
	line(b, "gossip_deltas:%s", d->cfg.gossip.deltas ? "yes" : "no");
	line(b, "digest_datagrams_out:%" PRIu64, s.digest_dgrams_out);
	line(b, "digest_datagrams_in:%" PRIu64, s.digest_dgrams_in);
	line(b, "digest_buckets_differing:%" PRIu64, s.digest_buckets_differing);
	line(b, "digest_instances_sent:%" PRIu64, s.digest_instances_sent);
	line(b, "digest_instances_in_flight:%" PRIu64, s.digest_in_flight);
	line(b, "digest_rounds_deferred:%" PRIu64, s.digest_rounds_deferred);
	line(b, "digest_walk_skips:%" PRIu64, s.digest_walk_skips);
	line(b, "digest_unready:%" PRIu64, s.digest_unready);
	line(b, "digest_refreshed:%" PRIu64, s.digest_refreshed);
	line(b, "digest_after_catchup:%" PRIu64, s.digests_after_catchup);
	line(b, "digest_retries:%" PRIu64, s.digest_retries);
	line(b, "digest_reanswered:%" PRIu64, s.digests_reanswered);
	line(b, "digest_answered:%" PRIu64, s.digests_answered);
	line(b, "delta_intervals:%" PRIu64, s.delta_intervals);
	line(b, "delta_datagrams_out:%" PRIu64, s.delta_dgrams_out);
	line(b, "delta_resent:%" PRIu64, s.delta_resent);
	line(b, "delta_round_skipped:%" PRIu64, s.delta_round_skipped);
	line(b, "delta_datagrams_in:%" PRIu64, s.delta_dgrams_in);
	line(b, "acks_out:%" PRIu64, s.acks_out);
	line(b, "acks_in:%" PRIu64, s.acks_in);
	line(b, "delta_whole_writes:%" PRIu64, s.delta_whole_writes);
	line(b, "delta_held:%" PRIu64, s.delta_held);
	line(b, "delta_to_catchup:%" PRIu64, s.delta_to_catchup);
	line(b, "delta_covered:%" PRIu64, s.delta_covered);
	line(b, "delta_slices:%" PRIu64, s.delta_slices);
	line(b, "push_budget_stops:%" PRIu64, s.push_budget_stops);
	line(b, "delta_fast_resent:%" PRIu64, s.delta_fast_resent);
	line(b, "delta_probes:%" PRIu64, s.delta_probes);
	line(b, "delta_probe_resent:%" PRIu64, s.delta_probe_resent);
	line(b, "delta_fallbacks:%" PRIu64, s.delta_fallbacks);
	line(b, "delta_resyncs:%" PRIu64, s.delta_resyncs);
	line(b, "delta_repairs:%" PRIu64, s.delta_repairs);
	line(b, "digest_empty_resyncs:%" PRIu64, s.digest_empty_resyncs);
	line(b, "catchup_instances:%" PRIu64, s.catchup_instances);
	line(b, "catchup_datagrams_out:%" PRIu64, s.catchup_dgrams_out);
	line(b, "catchup_resent:%" PRIu64, s.catchup_resent);
	line(b, "catchup_lost:%" PRIu64, s.catchup_lost);
	line(b, "catchup_timeouts:%" PRIu64, s.catchup_timeouts);
	line(b, "catchup_probes:%" PRIu64, s.catchup_probes);
	line(b, "catchup_window_decreases:%" PRIu64, s.catchup_decreases);
	line(b, "catchup_window_undone:%" PRIu64, s.catchup_undone);
	line(b, "delta_log_intervals:%" PRIu64, s.dlog_intervals);
	line(b, "delta_log_bytes:%" PRIu64, s.dlog_bytes);
	line(b, "delta_log_max_bytes:%" PRIu64, s.dlog_max_bytes);
	line(b, "piece_cache_hits:%" PRIu64, s.pcache_hits);
	line(b, "piece_cache_misses:%" PRIu64, s.pcache_misses);
	line(b, "piece_cache_drops:%" PRIu64, s.pcache_drops);
	line(b, "piece_cache_evictions:%" PRIu64, s.pcache_evictions);
	line(b, "piece_cache_bytes:%" PRIu64, s.pcache_bytes);
	line(b, "piece_cache_instances:%" PRIu64, s.pcache_instances);
	line(b, "piece_cache_max_bytes:%" PRIu64, s.pcache_max_bytes);
	line(b, "gossip_longest_call_us:%" PRIu64, s.longest_call_us);
	line(b, "gossip_longest_call_cpu_us:%" PRIu64, s.longest_call_cpu_us);
	line(b, "type_conflicts:%" PRIu64, d->store.stats.conflicts);
	line(b, "unknown_sender:%" PRIu64, s.unknown_sender);
	line(b, "large_push_deferred:%" PRIu64, s.large_deferred);
	line(b, "instances_too_large:%" PRIu64, s.skipped);
	line(b, "elements_too_large:%" PRIu64, s.pieces_skipped);
	line(b, "limit_exceeded:%" PRIu64, s.limit_exceeded);
	line(b, "max_clock_lead_ms:%u", d->cfg.gossip.max_clock_lead_ms);
	line(b, "clock_lead_capped:%" PRIu64, s.clock_capped);
	gossip_foreach_peer(d->gossip, put_peer_line, &pl);
	line(b, "clock_skewed_peers:%zu", pl.skewed);
	for (int i = 0; i < GOSSIP_DROP_MAX; i++)
		line(b, "dropped_%s:%" PRIu64, gossip_drop_name((enum gossip_drop)i), s.drops[i]);
	line(b, "rcvbuf:%d", s.rcvbuf);
	line(b, "sndbuf:%d", s.sndbuf);
	line(b, "recv_held:%" PRIu64, s.recv_held);
}

/* The simulation shim: its settings and what it did (shim.h). */
static void section_simulation(struct daemon *d, struct crdt_buf *b)
{
	const struct shim_core *c;

	line(b, "# Simulation");
	line(b, "sim_enabled:%d", d->shim != NULL);
	if (!d->shim)
		return;
	c = shim_core(d->shim);
	line(b, "sim_loss:%g", c->set.loss);
	line(b, "sim_latency_ms:%u-%u", c->set.latency_min_ms, c->set.latency_max_ms);
	line(b, "sim_duplicate:%g", c->set.duplicate);
	line(b, "sim_reorder:%g", c->set.reorder);
	line(b, "sim_partition_probability:%g", c->set.partition_probability);
	line(b, "sim_seed:%u", d->cfg.simulation.seed);
	line(b, "sim_rng_seed:%" PRIu64, c->seed);
	line(b, "sim_isolated:%d", c->isolated);
	line(b, "sim_partitioned_peers:%zu", c->nblocks);
	line(b, "sim_links_down:%zu", shim_links_down(d->shim));
	line(b, "sim_passed:%" PRIu64, c->stats.passed);
	line(b, "sim_dropped_loss:%" PRIu64, c->stats.dropped_loss);
	line(b, "sim_dropped_partition:%" PRIu64, c->stats.dropped_partition);
	line(b, "sim_delayed:%" PRIu64, c->stats.delayed);
	line(b, "sim_duplicated:%" PRIu64, c->stats.duplicated);
	line(b, "sim_reordered:%" PRIu64, c->stats.reordered);
	line(b, "sim_links_downed:%" PRIu64, c->stats.links_downed);
	line(b, "sim_held:%zu", c->stats.held);
	line(b, "sim_held_bytes:%zu", c->stats.held_bytes);
}

static void section_persistence(struct daemon *d, struct crdt_buf *b)
{
	static const char *const modes[] = { "always", "batch", "none" };
	struct journal_stats s;

	line(b, "# Persistence");
	if (!d->journal)
		return;
	journal_get_stats(d->journal, &s);
	line(b, "durability:%s", modes[d->cfg.storage.durability]);
	line(b, "store_file:%s", journal_path(d->journal));
	line(b, "store_bytes:%" PRIu64, journal_file_bytes(d->journal));
	line(b, "pending_writes:%d", journal_pending(d->journal) ? 1 : 0);
	line(b, "last_sync_unix_ms:%" PRIu64, s.last_sync_ms);
	line(b, "journal_records:%" PRIu64, s.records);
	line(b, "commits:%" PRIu64, s.commits);
	line(b, "loop_commits:%" PRIu64, s.loop_commits);
	line(b, "commit_overlaps:%" PRIu64, s.commit_overlaps);
	line(b, "syncs:%" PRIu64, s.syncs);
	line(b, "compactions:%" PRIu64, s.compactions);
	line(b, "compactions_sliced:%" PRIu64, s.compactions_sliced);
	line(b, "folds_in_progress:%zu", journal_folding(d->journal));
	line(b, "map_releases:%" PRIu64, s.map_releases);
	line(b, "storage_errors:%" PRIu64, s.errors);
	line(b, "loaded_instances:%" PRIu64, s.loaded_instances);
	line(b, "loaded_records:%" PRIu64, s.loaded_records);
	line(b, "wal_bytes:%" PRIu64, s.wal_bytes);
	line(b, "wal_applied_records:%" PRIu64, s.wal_applied);
}

static void section_memory(struct daemon *d, struct crdt_buf *b)
{
	struct mallinfo2 mi = mallinfo2();

	line(b, "# Memory");
	line(b, "used_memory:%zu", mi.uordblks + mi.hblkhd);
	line(b, "used_memory_heap_total:%zu", mi.arena + mi.hblkhd);
	/* Redis' names: large sets and hashes emptied by a DEL, an expiry or
	 * a peer's DEL, freed on the thread pool (state/lazyfree.h) */
	line(b, "lazyfree_pending_objects:%" PRIu64, d->lazyfree.pending);
	line(b, "lazyfreed_objects:%" PRIu64, d->lazyfree.freed);
	/* large tables' pages faulted in on the thread pool (state/populate.h) */
	line(b, "populate_jobs:%" PRIu64, d->populate.jobs);
	line(b, "populate_bytes:%" PRIu64, d->populate.bytes);
	line(b, "store_tables_ahead:%" PRIu64, d->store.stats.tables_ahead);
}

/* Redis' commandstats lines, from client/cmdstats.h: every command called
 * or refused since the start (or CONFIG RESETSTAT). */
static void section_commandstats(struct daemon *d, struct crdt_buf *b)
{
	line(b, "# Commandstats");
	for (size_t i = 0; i < CMDSTATS_MAX; i++) {
		const struct cmdstat *c = &d->cmdstats.cmd[i];
		if (!c->name || (!c->calls && !c->rejected))
			continue;
		line(b, "cmdstat_%s:calls=%" PRIu64 ",usec=%" PRIu64 ",usec_per_call=%.2f"
			",rejected_calls=%" PRIu64 ",failed_calls=%" PRIu64,
		     c->name, c->calls, c->usec, c->calls ? (double)c->usec / (double)c->calls : 0.0,
		     c->rejected, c->failed);
	}
}

/* Redis' errorstats lines: error replies by their first word. */
static void section_errorstats(struct daemon *d, struct crdt_buf *b)
{
	line(b, "# Errorstats");
	for (size_t i = 0; i < CMDSTATS_ERROR_KINDS && d->cmdstats.errors[i].code[0]; i++)
		line(b, "errorstat_%s:count=%" PRIu64, d->cmdstats.errors[i].code,
		     d->cmdstats.errors[i].count);
	if (d->cmdstats.errors_other)
		line(b, "errorstat_OTHER:count=%" PRIu64, d->cmdstats.errors_other);
}

static void section_keyspace(struct daemon *d, struct crdt_buf *b)
{
	static const char *const names[] = { NULL, "gcounter", "pncounter", "gset", "orset", "lwwreg", "ormap" };
	struct store_keyspace ks;

	store_keyspace(&d->store, &ks); /* counted as it changes: no walk */
	line(b, "# Keyspace");
	line(b, "instances:%" PRIu64, ks.keys);
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++)
		line(b, "instances_%s:%" PRIu64, names[t], ks.by_type[t]);
	line(b, "type_conflicts:%" PRIu64, d->store.stats.conflicts);
	/* every name held: keys, deleted ones not reclaimed yet, deadlines */
	line(b, "names_held:%zu", d->store.len);
	/* redis-cli and client libraries parse this line */
	line(b, "db0:keys=%" PRIu64 ",expires=%" PRIu64 ",avg_ttl=0", ks.keys, ks.expires);
}

static const struct {
	const char *name;
	void (*fn)(struct daemon *d, struct crdt_buf *b);
} sections[] = {
	{ "server", section_server }, { "clients", section_clients }, { "stats", section_stats },
	{ "gossip", section_gossip }, { "persistence", section_persistence },
	{ "memory", section_memory },   { "keyspace", section_keyspace },
	{ "simulation", section_simulation },
	{ "commandstats", section_commandstats },
	{ "errorstats", section_errorstats },
};

void info_render(struct daemon *d, const char *section, struct crdt_buf *out)
{
	bool all = !*section || !strcasecmp(section, "all") || !strcasecmp(section, "everything") ||
		   !strcasecmp(section, "default");
	struct crdt_buf b;

	crdt_buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		if (!all && strcasecmp(section, sections[i].name))
			continue;
		if (b.len)
			crdt_buf_put(&b, "\r\n", 2);
		sections[i].fn(d, &b);
	}
	if (b.err)
		resp_error(out, "ERR out of memory");
	else
		resp_bulk(out, b.data, b.len);
	crdt_buf_done(&b);
}

struct peers_ctx {
	struct crdt_buf *out;
	int proto;
};

static int put_peer(const struct gossip_peer_info *p, void *ctx)
{
	struct peers_ctx *pc = ctx;
	struct crdt_buf *out = pc->out;
	char addr[128] = "unresolved";

	if (p->addr)
		transport_addr_format(p->addr, addr, sizeof(addr));
	resp_map(out, 22, pc->proto);
	resp_bulk_str(out, "name");
	resp_bulk_str(out, p->name);
	resp_bulk_str(out, "address");
	resp_bulk_str(out, addr);
	resp_bulk_str(out, "last_seen_ms_ago");
	resp_int(out, p->seen ? (int64_t)p->last_seen_ago_ms : -1);
	resp_bulk_str(out, "rtt_ms");
	resp_bulkf(out, "%.3f", p->has_rtt ? (double)p->srtt_us / 1000.0 : -1.0);
	resp_bulk_str(out, "datagrams_out");
	resp_int(out, (int64_t)p->stats.dgrams_out);
	resp_bulk_str(out, "bytes_out");
	resp_int(out, (int64_t)p->stats.bytes_out);
	resp_bulk_str(out, "datagrams_in");
	resp_int(out, (int64_t)p->stats.dgrams_in);
	resp_bulk_str(out, "bytes_in");
	resp_int(out, (int64_t)p->stats.bytes_in);
	resp_bulk_str(out, "node");
	resp_bulk_str(out, p->node ? p->node : "");
	/* its wall clock minus ours, from PING/PONG; nil until measured */
	resp_bulk_str(out, "clock_offset_ms");
	if (p->has_clock_offset)
		resp_int(out, p->clock_offset_ms);
	else
		resp_nil(out, pc->proto);
	resp_bulk_str(out, "clock_skewed");
	resp_int(out, p->clock_skewed);
	resp_bulk_str(out, "clock_lead_capped");
	resp_int(out, (int64_t)p->stats.clock_capped);
	/* sync status (docs/protocol.md, "Sync status per peer") */
	resp_bulk_str(out, "in_sync");
	resp_int(out, p->has_sync ? p->in_sync : -1);
	resp_bulk_str(out, "differs_since_ms_ago");
	resp_int(out, differs_ago(p));
	resp_bulk_str(out, "instances_differing");
	resp_int(out, (int64_t)p->instances_differing);
	resp_bulk_str(out, "deltas_acked");
	resp_int(out, (int64_t)p->deltas_acked);
	resp_bulk_str(out, "deltas_pending");
	resp_int(out, (int64_t)p->deltas_pending);
	resp_bulk_str(out, "bytes_last_round");
	resp_int(out, (int64_t)p->bytes_last_round);
	/* catch-up (docs/protocol.md, "Catch-up") */
	resp_bulk_str(out, "catching_up");
	resp_int(out, p->catching_up);
	resp_bulk_str(out, "catchup_pending");
	resp_int(out, (int64_t)p->catchup_pending);
	resp_bulk_str(out, "catchup_window");
	resp_int(out, (int64_t)p->catchup_window);
	resp_bulk_str(out, "repairing");
	resp_int(out, p->repairing);
	return 0;
}

void info_peers(struct daemon *d, int proto, struct crdt_buf *out)
{
	struct peers_ctx pc = { .out = out, .proto = proto };

	if (!d->gossip) {
		resp_array(out, 0); /* not started yet or closing down: no peers */
		return;
	}
	resp_array(out, gossip_npeers(d->gossip));
	gossip_foreach_peer(d->gossip, put_peer, &pc);
}
