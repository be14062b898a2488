/* Reading the running daemon into a snapshot for the HTTP endpoints: the
 * INFO counters under their metric names, and what only /status shows. */
#include "http/collect.h"

#include <assert.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "gossip/gossip.h"
#include "gossip/shim.h"
#include "client/listener.h"
#include "state/journal.h"

static void row(struct collected *c, const char *name, enum metric_type t, const char *help,
		double v)
{
	assert(c->s.nrows < COLLECT_ROWS_MAX && "COLLECT_ROWS_MAX holds every row");
	c->rows[c->s.nrows++] = (struct metric_row){ name, t, help, v };
}

#define C(name, help, v) row(c, "crdtd_" name, METRIC_COUNTER, help, (double)(v))
#define G(name, help, v) row(c, "crdtd_" name, METRIC_GAUGE, help, (double)(v))

static void rows_clients(struct daemon *d, struct collected *c)
{
	struct server_stats ss = { 0 };

	if (d->listener)
		server_get_stats(d->listener, &ss);
	G("connected_clients", "client connections open", d->clients);
	G("maxclients", "[node] max_clients", d->cfg.node.max_clients);
	G("clients_paused_on_output", "clients whose commands wait for their replies to drain",
	  ss.paused);
	G("output_buffer_bytes", "reply bytes not yet taken by the kernel, all clients",
	  ss.unsent_bytes);
	G("output_buffer_max_client_bytes", "the largest unsent reply bytes of one client",
	  ss.max_unsent);
	C("connections_received_total", "client connections accepted", d->stats.connections);
	C("commands_processed_total", "commands run", d->stats.commands);
	C("rejected_connections_total", "client connections refused: max_clients",
	  d->stats.rejected_clients);
	C("error_replies_total", "commands answered with an error", d->stats.errors_replied);
	C("protocol_errors_total", "malformed RESP frames (each closed its connection)",
	  d->stats.protocol_errors);
	C("auth_failures_total", "AUTH with a wrong password", d->stats.auth_failures);
	C("client_output_buffer_limit_disconnections_total",
	  "clients disconnected past an output buffer limit", d->stats.output_limit_disconnections);
	C("reply_buffer_errors_total", "replies that could not be built (no memory)",
	  d->stats.reply_buffer_errors);
	C("replica_id_changes_total", "new replica ids taken after a clash",
	  d->store.stats.rid_changes);
	C("type_conflicts_total", "names that came to hold two types", d->store.stats.conflicts);
	C("store_merges_total", "remote states merged into the store", d->store.stats.merges);
	C("loop_passes_total", "event loop passes measured", d->passes.s.passes);
	C("loop_busy_seconds_total", "time the event loop worked, not waiting for I/O",
	  (double)d->passes.s.busy_us / 1e6);
	G("loop_longest_pass_seconds", "the longest event loop pass (a request waits for it)",
	  (double)d->passes.s.longest.busy_us / 1e6);
	C("loop_passes_over_1ms_total", "event loop passes that worked more than 1 ms",
	  d->passes.s.over[0]);
	C("loop_passes_over_10ms_total", "event loop passes that worked more than 10 ms",
	  d->passes.s.over[1]);
	C("loop_passes_over_100ms_total", "event loop passes that worked more than 100 ms",
	  d->passes.s.over[2]);
}

static void rows_gossip(struct daemon *d, struct collected *c)
{
	struct gossip_stats s;

	if (!d->gossip)
		return;
	gossip_get_stats(d->gossip, &s);
	memcpy(c->drops, s.drops, sizeof(c->drops));
	G("gossip_interval_seconds", "[gossip] interval_ms, in seconds",
	  d->cfg.gossip.interval_ms / 1000.0);
	G("gossip_mtu_bytes", "[gossip] mtu", d->cfg.gossip.mtu);
	G("gossip_peers", "configured peers", gossip_npeers(d->gossip));
	G("gossip_digests_enabled", "1 when rounds compare digests first", d->cfg.gossip.digests);
	C("gossip_rounds_total", "gossip rounds", s.rounds);
	C("gossip_pushes_total", "pushes after local writes", s.pushes);
	C("gossip_syncs_total", "CRDT.SYNC full-state sends", s.syncs);
	C("gossip_datagrams_sent_total", "datagrams sent", s.dgrams_out);
	C("gossip_sent_bytes_total", "datagram bytes sent", s.bytes_out);
	G("gossip_max_datagram_bytes", "largest datagram sent", s.max_dgram_out);
	C("gossip_datagrams_received_total", "datagrams received", s.dgrams_in);
	C("gossip_received_bytes_total", "datagram bytes received", s.bytes_in);
	C("gossip_pings_sent_total", "PINGs sent", s.pings_out);
	C("gossip_pongs_received_total", "PONGs received", s.pongs_in);
	C("gossip_records_received_total", "state records accepted", s.records_in);
	C("gossip_merges_total", "records merged into the store", s.merges);
	C("gossip_records_unchanged_total", "records equal to what we hold: not decoded",
	  s.unchanged);
	C("gossip_pieces_no_news_total",
	  "catch-up pieces that brought nothing new: neither decoded nor merged",
	  s.pieces_no_news);
	C("gossip_piece_cache_hits_total", "catch-up pieces sent from the piece cache",
	  s.pcache_hits);
	C("gossip_piece_cache_misses_total", "catch-up pieces cut: the piece cache had none",
	  s.pcache_misses);
	C("gossip_piece_cache_drops_total", "cached pieces dropped: a change reached their range",
	  s.pcache_drops);
	C("gossip_piece_cache_evictions_total", "cached pieces dropped or not kept for its bound",
	  s.pcache_evictions);
	G("gossip_delta_log_intervals", "delta intervals held until every peer acknowledges them",
	  s.dlog_intervals);
	G("gossip_delta_log_bytes", "bytes of delta intervals held", s.dlog_bytes);
	G("gossip_delta_log_max_bytes", "[gossip] delta_log_bytes", s.dlog_max_bytes);
	G("gossip_piece_cache_bytes", "bytes the piece cache holds", s.pcache_bytes);
	G("gossip_piece_cache_max_bytes", "[gossip] piece_cache_bytes", s.pcache_max_bytes);
	C("gossip_digest_datagrams_sent_total", "DIGEST, BUCKETS and KEYS datagrams sent",
	  s.digest_dgrams_out);
	C("gossip_digest_datagrams_received_total", "DIGEST, BUCKETS and KEYS datagrams received",
	  s.digest_dgrams_in);
	C("gossip_digest_buckets_differing_total", "digest buckets found differing from a peer's",
	  s.digest_buckets_differing);
	C("gossip_digest_instances_sent_total", "instances sent because a peer's KEYS lacked them",
	  s.digest_instances_sent);
	C("gossip_unknown_sender_total", "datagrams from an address no peer has", s.unknown_sender);
	C("gossip_large_push_deferred_total", "large instances whose push waited", s.large_deferred);
	C("gossip_instances_too_large_total", "instances not sent: they fit no datagram", s.skipped);
	C("gossip_elements_too_large_total", "set elements left out: alone too long for a datagram",
	  s.pieces_skipped);
	C("gossip_limit_exceeded_total", "remote records past a [limits] bound (merged all the same)",
	  s.limit_exceeded);
	C("gossip_resolve_errors_total", "peer names that failed to resolve", s.resolve_errors);
	G("gossip_max_clock_lead_seconds", "[gossip] max_clock_lead_ms, in seconds",
	  d->cfg.gossip.max_clock_lead_ms / 1000.0);
	C("gossip_clock_lead_capped_total", "register states stamped past max_clock_lead_ms ahead",
	  s.clock_capped);
	G("gossip_rcvbuf_bytes", "SO_RCVBUF of the gossip socket", s.rcvbuf);
	G("gossip_sndbuf_bytes", "SO_SNDBUF of the gossip socket", s.sndbuf);
	C("gossip_recv_held_total", "datagrams read past a loop pass's receive budget, delivered later",
	  s.recv_held);
}

static void rows_storage(struct daemon *d, struct collected *c)
{
	struct journal_stats s;

	if (!d->journal)
		return;
	journal_get_stats(d->journal, &s);
	G("store_file_bytes", "bytes of the store file", journal_file_bytes(d->journal));
	G("store_map_bytes", "[storage] map_size: the largest the store file may grow",
	  d->cfg.storage.map_size);
	G("storage_pending_writes", "1 while records wait for the commit",
	  journal_pending(d->journal));
	G("storage_last_sync_timestamp_seconds", "wall clock of the last sync (0: never)",
	  s.last_sync_ms / 1000.0);
	C("journal_records_total", "journal records written", s.records);
	C("storage_commits_total", "storage commits", s.commits);
	C("storage_loop_commits_total", "storage commits run on the event loop (small, unsynced)",
	  s.loop_commits);
	C("storage_syncs_total", "storage commits that synced, and batch syncs", s.syncs);
	C("storage_compactions_total", "snapshots written", s.compactions);
	C("storage_compactions_sliced_total", "of those, a large state's written a slice a loop pass",
	  s.compactions_sliced);
	G("storage_folds_in_progress", "large states being folded a slice a loop pass now",
	  journal_folding(d->journal));
	C("storage_errors_total", "failed journal puts or commits", s.errors);
	G("storage_loaded_instances", "instances loaded at start", s.loaded_instances);
	G("storage_loaded_records", "journal records replayed at start", s.loaded_records);
	G("storage_wal_bytes", "store.wal's size: writes LMDB has not taken yet (always)",
	  s.wal_bytes);
	G("storage_wal_applied_records", "store.wal records applied to the store at start",
	  s.wal_applied);
}

static void rows_memory_sim(struct daemon *d, struct collected *c)
{
	struct mallinfo2 mi = mallinfo2();

	G("used_memory_bytes", "heap bytes in use (malloc)", mi.uordblks + mi.hblkhd);
	G("lazyfree_pending_objects", "emptied large sets and hashes not yet freed off the loop",
	  d->lazyfree.pending);
	C("lazyfreed_objects_total", "emptied large sets and hashes freed off the loop",
	  d->lazyfree.freed);
	C("populate_jobs_total", "large tables made ready ahead of a growth, faulted in off the loop",
	  d->populate.jobs);
	C("populate_bytes_total", "bytes of those tables faulted in off the loop", d->populate.bytes);
	G("heap_bytes", "heap bytes taken from the system (malloc)", mi.arena + mi.hblkhd);
	G("sim_enabled", "1 when the simulation shim is on", d->shim != NULL);
	if (!d->shim)
		return;
	const struct shim_core *k = shim_core(d->shim);
	G("sim_isolated", "1 while CRDT.SIM isolates this node", k->isolated);
	G("sim_partitioned_peers", "peers CRDT.SIM PARTITION blocks", k->nblocks);
	G("sim_links_down", "links down by partition_probability now", shim_links_down(d->shim));
	G("sim_held", "datagrams the shim holds (latency, reorder)", k->stats.held);
	G("sim_held_bytes", "bytes the shim holds", k->stats.held_bytes);
	C("sim_passed_total", "datagrams the shim let through", k->stats.passed);
	C("sim_dropped_loss_total", "datagrams the shim lost (loss)", k->stats.dropped_loss);
	C("sim_dropped_partition_total", "datagrams the shim dropped (partition)",
	  k->stats.dropped_partition);
	C("sim_delayed_total", "datagrams the shim delayed", k->stats.delayed);
	C("sim_duplicated_total", "datagrams the shim duplicated", k->stats.duplicated);
	C("sim_reordered_total", "datagrams the shim reordered", k->stats.reordered);
	C("sim_links_downed_total", "links taken down by partition_probability",
	  k->stats.links_downed);
}

static int copy_peer(const struct gossip_peer_info *p, void *ctx)
{
	struct collected *c = ctx;
	struct snapshot_peer *sp;

	if (c->s.npeers == c->peers_cap)
		return 0; /* the list grew since it was counted: next scrape */
	sp = &c->peers[c->s.npeers++];
	sp->info = *p;
	snprintf(sp->name, sizeof(sp->name), "%s", p->name);
	snprintf(sp->node, sizeof(sp->node), "%s", p->node ? p->node : "");
	sp->info.name = sp->name;
	sp->info.node = sp->node;
	sp->info.addr = NULL;
	sp->info.rid = NULL;
	return 0;
}

/* The per-command counters (client/cmdstats.h, kept by commands_exec) as
 * snapshot rows: every call, refused ones too (a refusal takes no handler
 * time: the lowest bucket); errors are failed and refused calls. */
void collect_commands(const struct daemon *d, struct collected *c)
{
	static const unsigned pow2[COLLECT_CMD_BOUNDS] = { 3, 5, 7, 9, 11, 13, 15, 17, 20 };

	for (size_t k = 0; k < COLLECT_CMD_BOUNDS; k++)
		c->bounds_us[k] = cmdstats_bucket_usec(pow2[k]);
	c->s.bounds_us = c->bounds_us;
	c->s.nbounds = COLLECT_CMD_BOUNDS;
	c->s.ncmds = commands_count();
	for (size_t i = 0; i < c->s.ncmds; i++) {
		const struct cmdstat *st = &d->cmdstats.cmd[i];
		uint64_t *b = c->cmd_buckets[i];

		/* bucket h holds calls of at most 2^h us (cmdstats.h) */
		for (size_t h = 0, k = 0; h < CMDSTATS_BUCKETS; h++) {
			while (k < COLLECT_CMD_BOUNDS && h > pow2[k])
				k++;
			b[k] += st->hist[h];
		}
		b[0] += st->rejected;
		c->cmds[i] = (struct snapshot_command){ .name = commands_name(i),
							.calls = st->calls + st->rejected,
							.errors = st->failed + st->rejected,
							.usec_sum = st->usec,
							.buckets = b };
	}
	c->s.cmds = c->cmds;
}

int collect_take(struct daemon *d, const struct http_stats *http,
		 const struct census_result *census, struct collected *c)
{
	memset(c, 0, sizeof(*c));
	if (d->gossip && (c->peers_cap = gossip_npeers(d->gossip)) &&
	    !(c->peers = calloc(c->peers_cap, sizeof(*c->peers))))
		return -ENOMEM;
	crdt_rid_format(&d->store.self, c->rid);
	c->s.node = d->cfg.node.name;
	c->s.version = CRDTD_VERSION;
	c->s.replica_id = c->rid;
	c->s.uptime_ms = uv_now(d->loop) - d->start_ms;
	c->s.gossip_interval_ms = d->cfg.gossip.interval_ms;
	rows_clients(d, c);
	rows_gossip(d, c);
	rows_storage(d, c);
	rows_memory_sim(d, c);
	c->s.rows = c->rows;
	c->s.peers = c->peers;
	if (d->gossip) {
		size_t skewed = 0;
		gossip_foreach_peer(d->gossip, copy_peer, c);
		for (size_t i = 0; i < c->s.npeers; i++)
			skewed += c->peers[i].info.clock_skewed;
		G("gossip_clock_skewed_peers", "peers whose clock is off by more than max_clock_lead_ms",
		  skewed);
	}
	if (census) {
		G("census_age_seconds", "how old the instance and member counts by type are: the "
		  "last census of the store, taken a slice at a time after a scrape",
		  (double)(uv_now(d->loop) - census->done_ms) / 1000);
		c->s.types = census->types;
		c->s.ntypes = CENSUS_NTYPES;
		c->s.largest = census->largest;
		c->s.nlargest = census->nlargest;
	}
	c->s.drops = c->drops;
	collect_commands(d, c);
	c->s.http = http;
	c->s.nwarnings = log_recent(c->warnings);
	c->s.warnings = c->warnings;
	if (!collect_health(d, c->unhealthy, sizeof(c->unhealthy)))
		c->s.unhealthy = c->unhealthy;
	return 0;
}

void collect_done(struct collected *c)
{
	free(c->peers);
	c->peers = NULL;
}

bool collect_health(struct daemon *d, char *why, size_t size)
{
	if (!d->journal || !d->gossip) {
		snprintf(why, size, "not serving: starting or shutting down");
		return false;
	}
	if (d->commit_error < 0) {
		snprintf(why, size, "store not writable: the last commit failed: %s",
			 strerror(-d->commit_error));
		return false;
	}
	/* LMDB refuses writes once the file reaches map_size: say so a little
	 * before, while a reload or a restart with a larger map can help */
	if (journal_file_bytes(d->journal) >= d->cfg.storage.map_size / 100 * 98) {
		snprintf(why, size, "store nearly full: %llu of map_size %zu bytes",
			 (unsigned long long)journal_file_bytes(d->journal), d->cfg.storage.map_size);
		return false;
	}
	return true;
}
