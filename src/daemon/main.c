/* crdtd: command line, start-up, signals, shutdown.  Everything else lives in
 * the modules; this file only wires them together. */
#include <getopt.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crdt/hash.h"
#include "gossip/auth.h"
#include "config.h"
#include "daemon.h"
#include "gossip/gossip.h"
#include "log.h"
#include "state/datadir.h"
#include "client/listener.h"
#include "gossip/shim.h"
#include "http/server.h"
#include "state/journal.h"

#ifndef CRDTD_VERSION
#define CRDTD_VERSION "unknown"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: crdtd -c FILE [--check-config] [--log-level LEVEL]\n"
		"       crdtd --gen-key FILE\n"
		"       crdtd --version | --help\n"
		"\n"
		"Replicated data daemon: CRDT instances gossiped over UDP, served over RESP.\n"
		"\n"
		"  -c, --config FILE     ini file to run with (see crdtd(8), conf/crdtd.ini)\n"
		"      --check-config    validate FILE (and its key files) and exit 0 (valid) or 1\n"
		"      --gen-key FILE    write a new cluster key to FILE (mode 0600) and exit\n"
		"  -l, --log-level LVL   error, warn, info or debug (overrides [log] level)\n"
		"  -V, --version         print the version and exit\n"
		"  -h, --help            print this help and exit\n"
		"\n"
		"Signals: SIGINT/SIGTERM stop cleanly; SIGHUP reloads the peer list, the keys,\n"
		"[limits], [slowlog], requirepass, accept_unknown_peers, [log] level and\n"
		"[keyspace] reclaim_after; other changed keys are logged and wait for a restart.\n");
}

struct runtime {
	struct daemon d;
	uv_signal_t sig_int, sig_term, sig_hup;
	uv_check_t commit; /* ends each loop pass: its writes to the journal's writer */
	uv_prepare_t meter; /* before each poll: the pass that ends (passes.h) */
	uint64_t gossip_us;  /* gossip_calls_us at the last meter tick */
	uv_timer_t expire; /* deletes names past their deadline (store_expire) */
	uv_idle_t expire_more; /* its next slices while names are left, a pass each */
	uv_check_t rehash_watch; /* notices a rehash of the store's table begun */
	uv_idle_t rehash;        /* runs its slices (store_rehash), a pass each */
	uv_timer_t trim;   /* returns freed heap to the OS after writes (trim_cb) */
	uint64_t trim_commits; /* the journal's commits at the last trim tick */
	int trim_left;         /* ticks that still trim since commits stopped */
	bool log_level_forced; /* --log-level: [log] level does not apply */
	int lock_fd;
};

/* [security] keys into *ret (n == 0 without key_file).  A message in @err
 * on failure. */
static int load_keys(const struct config *c, struct auth_keyring *ret, char *err, size_t err_size)
{
	memset(ret, 0, sizeof(*ret));
	if (!c->security.key_file[0])
		return 0;
	return auth_keyring_load(c->security.key_file, c->security.old_key_files,
				 c->security.encrypt, ret, err, err_size);
}

static struct gossip_limits gossip_limits_from(const struct config *c)
{
	return (struct gossip_limits){
		.max_name = c->limits.max_name_bytes,
		.max_element = c->limits.max_element_bytes,
		.max_value = c->limits.max_value_bytes,
		.max_elements = c->limits.max_elements,
		.max_fields = c->limits.max_hash_fields,
		.max_instances = c->limits.max_instances,
	};
}

/* Gossip's view of the parsed config.  Strings point into @c; *ret_peers
 * is an array the caller frees. */
static int gossip_config_from(const struct config *c, struct gossip_config *g,
			      struct gossip_peer_config **ret_peers)
{
	struct gossip_peer_config *peers = NULL;

	if (c->n_peers && !(peers = calloc(c->n_peers, sizeof(*peers))))
		return -ENOMEM;
	for (size_t i = 0; i < c->n_peers; i++)
		peers[i] = (struct gossip_peer_config){
			.name = c->peers[i].name,
			.host = c->peers[i].addr.host,
			.port = c->peers[i].addr.port,
		};
	*g = (struct gossip_config){
		.listen_host = c->node.listen.host,
		.listen_port = c->node.listen.port,
		.interval_ms = c->gossip.interval_ms,
		.mtu = c->gossip.mtu,
		.fanout = c->gossip.fanout,
		.push_delay_ms = c->gossip.push_delay_ms,
		.digests = c->gossip.digests,
		.deltas = c->gossip.deltas,
		.rcvbuf = (int)c->gossip.rcvbuf,
		.sndbuf = (int)c->gossip.sndbuf,
		.max_clock_lead_ms = c->gossip.max_clock_lead_ms,
		.piece_cache_bytes = c->gossip.piece_cache_bytes,
		.delta_log_bytes = c->gossip.delta_log_bytes,
		.peers = peers,
		.npeers = c->n_peers,
		.accept_unknown_peers = c->security.accept_unknown_peers,
		.max_peer_dgrams_per_sec = c->limits.max_peer_datagrams_per_sec,
		.lim = gossip_limits_from(c),
	};
	*ret_peers = peers;
	return 0;
}

/* Gossip over the simulation shim over UDP ([simulation] enabled = yes).
 * The seed mixes in the node name, so nodes sharing a config seed still
 * decide differently, and reproducibly. */
static int gossip_new_simulated(struct daemon *d, const struct gossip_config *gc)
{
	const struct config *c = &d->cfg;
	struct shim_settings ss = {
		.loss = c->simulation.loss,
		.duplicate = c->simulation.duplicate,
		.reorder = c->simulation.reorder,
		.partition_probability = c->simulation.partition_probability,
		.latency_min_ms = c->simulation.latency_ms.min,
		.latency_max_ms = c->simulation.latency_ms.max,
	};
	uint64_t seed = c->simulation.seed;
	struct transport *udp, *t;
	struct shim *shim;
	int r;

	if (seed == 0)
		seed = uv_hrtime() ^ ((uint64_t)uv_os_getpid() << 32);
	for (const char *p = c->node.name; *p; p++)
		seed = (seed ^ (uint8_t)*p) * 0x100000001b3ULL; /* FNV-1a step */
	if ((r = transport_udp_new(d->loop, gc->listen_host, gc->listen_port, gc->rcvbuf,
				   gc->sndbuf, &udp)) < 0)
		return r;
	if ((r = shim_new(d->loop, udp, &ss, seed, gc->interval_ms, &shim)) < 0) {
		udp->ops->close(udp);
		return r;
	}
	t = shim_transport(shim);
	if ((r = gossip_new_with_transport(d->loop, gc, &d->store, &d->hlc, &d->store.self, c->node.name,
					   t, &d->gossip)) < 0) {
		t->ops->close(t);
		return r;
	}
	d->shim = shim;
	log_warn("main", "simulation shim on (seed %llu): loss %g, latency %u-%u ms, duplicate %g, "
		 "reorder %g, partition_probability %g", (unsigned long long)seed, ss.loss,
		 ss.latency_min_ms, ss.latency_max_ms, ss.duplicate, ss.reorder,
		 ss.partition_probability);
	return 0;
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	/* only our signal handles remain open by the time this runs */
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void shutdown_daemon(struct runtime *rt, const char *why)
{
	log_info("main", "%s: shutting down", why);
	listener_close(rt->d.listener);
	rt->d.listener = NULL;
	http_server_close(rt->d.http);
	rt->d.http = NULL;
	gossip_close(rt->d.gossip); /* closes the shim too */
	rt->d.gossip = NULL;
	rt->d.shim = NULL;
	journal_close(rt->d.journal); /* stores what was written, joins its thread */
	rt->d.journal = NULL;
	uv_walk(rt->d.loop, close_walk_cb, NULL);
}

/* After the I/O of each loop pass: the pass's writes go to the journal's
 * writer thread as one batch; the clients that wrote wait for its report. */
static void commit_cb(uv_check_t *h)
{
	struct runtime *rt = h->data;
	uint64_t t0 = uv_hrtime();

	journal_commit(rt->d.journal);
	passes_add(&rt->d.passes, PASSES_STORAGE, uv_hrtime() - t0);
}

/* A pass's time not in its counted parts, ms. */
static uint64_t rest_ms(const struct passes_pass *x)
{
	uint64_t parts = 0;

	for (int k = 0; k < PASSES_NPARTS; k++)
		parts += x->part_us[k];
	return x->busy_us > parts ? (x->busy_us - parts) / 1000 : 0;
}

/* Before each poll: the pass since the last one is measured, and a long
 * one logged with its parts. */
static void meter_cb(uv_prepare_t *h)
{
	struct runtime *rt = h->data;
	struct passes *p = &rt->d.passes;
	uint64_t gu = gossip_calls_us(rt->d.gossip);

	passes_add(p, PASSES_GOSSIP, (gu - rt->gossip_us) * 1000);
	rt->gossip_us = gu;
	if (!passes_tick(p, uv_hrtime(), uv_metrics_idle_time(rt->d.loop)))
		return;
	log_warn("main", "the event loop worked %" PRIu64 " ms in one pass, clients waiting: "
		 "commands %" PRIu64 " ms, gossip %" PRIu64 " ms, storage %" PRIu64 " ms, the rest "
		 "(replies, timers, other processes on this CPU) %" PRIu64 " ms; %" PRIu64
		 " more such passes since the last line (INFO stats loop_*)",
		 p->last.busy_us / 1000, p->last.part_us[PASSES_COMMANDS] / 1000,
		 p->last.part_us[PASSES_GOSSIP] / 1000, p->last.part_us[PASSES_STORAGE] / 1000,
		 rest_ms(&p->last), p->unlogged);
	p->unlogged = 0;
}

/* A batch is stored (and synced, under always) or failed: the replies that
 * waited for it go, or their clients are closed (group commit, in every
 * durability mode: nothing is acknowledged before the store has it). */
static void journal_report_cb(void *ctx, uint64_t gen, int rc)
{
	struct daemon *d = ctx;

	d->commit_error = rc;
	if (d->listener)
		listener_release(d->listener, gen, rc == 0);
}

/* Expiry in the background: at most EXPIRE_PER_PASS names a loop pass, so
 * a burst of deadlines never stalls clients; while names are left over it
 * runs again in the next pass (an idle handle), else every EXPIRE_EVERY_MS.
 * Not a timer restarted at 0 ms from its callback: libuv (1.44) runs such a
 * timer again in the same pass, while it is due, and the sweep of 300,000
 * names held one pass 245 ms. */
#define EXPIRE_PER_PASS 128
#define EXPIRE_EVERY_MS 100

/* A slice of the sweep: whether names are left over for the next. */
static bool expire_slice(struct runtime *rt)
{
	size_t expired = store_expire(&rt->d.store, EXPIRE_PER_PASS);

	/* deleted names past [keyspace] reclaim_after, with the same bound */
	return store_reclaim(&rt->d.store, EXPIRE_PER_PASS) == EXPIRE_PER_PASS ||
	       expired == EXPIRE_PER_PASS;
}

static void expire_more_cb(uv_idle_t *h)
{
	if (!expire_slice(h->data))
		uv_idle_stop(h);
}

static void expire_cb(uv_timer_t *h)
{
	struct runtime *rt = h->data;

	if (!uv_is_active((uv_handle_t *)&rt->expire_more) && expire_slice(rt))
		uv_idle_start(&rt->expire_more, expire_more_cb);
}

/* The store's table is rebuilt incrementally (store_rehash): a check
 * handle notices a rehash begun by a pass's writes, and an idle handle then
 * runs a slice of REHASH_PER_PASS slots a pass (it keeps the loop from
 * sleeping) until it ends.  At 1,720,000 names a slice took 0.7-0.8 ms, or
 * about 2.4 ms while it brought in a huge page of the new table. */
#define REHASH_PER_PASS 8192

static void rehash_cb(uv_idle_t *h)
{
	struct runtime *rt = h->data;

	if (!store_rehash(&rt->d.store, REHASH_PER_PASS))
		uv_idle_stop(h);
}

static void rehash_watch_cb(uv_check_t *h)
{
	struct runtime *rt = h->data;

	if (rt->d.store.ocap && !uv_is_active((uv_handle_t *)&rt->rehash))
		uv_idle_start(&rt->rehash, rehash_cb);
}

/* The heap's free pages back to the OS: once a second while the journal
 * commits, and once more after (gossip frees what a burst queued at its
 * next round).  A write burst's temporaries (command buffers, deltas, the
 * delta log) leave free chunks among the keys' chunks that glibc's malloc
 * does not return by itself; an idle daemon never trims. */
#define TRIM_EVERY_MS 1000

static void trim_cb(uv_timer_t *h)
{
	struct runtime *rt = h->data;
	struct journal_stats s;

	if (!rt->d.journal)
		return;
	journal_get_stats(rt->d.journal, &s);
	if (s.commits != rt->trim_commits) {
		rt->trim_commits = s.commits;
		rt->trim_left = 2;
	}
	if (rt->trim_left && !rt->d.lazyfree.pending) { /* else the pool's job trims (lazyfree.c) */
		rt->trim_left--;
#ifdef __GLIBC__
		malloc_trim(0);
#endif
	}
}

static void restart_only_cb(const struct config_key *k, void *ctx)
{
	log_warn("main", "reload: [%s] %s changed; it takes effect at the next start", k->section,
		 k->name);
}

/* SIGHUP: the keys flagged CONFIG_F_RELOAD and the peer list (config.c),
 * then each module told of its part.  The cluster keys are applied only
 * when they load: otherwise the running ones stay, and so do their keys. */
static void reload(struct runtime *rt)
{
	struct daemon *d = &rt->d;
	struct config fresh;
	struct config_error err;
	struct gossip_config gc;
	struct gossip_peer_config *peers = NULL;
	struct auth_keyring kr;
	char kerr[512] = "";

	if (config_load(d->config_path, &fresh, &err) < 0) {
		log_error("main", "reload failed, keeping the running config: %s", err.msg);
		return;
	}
	if (load_keys(&fresh, &kr, kerr, sizeof(kerr)) < 0 || gossip_set_keys(d->gossip, &kr) < 0) {
		log_error("main", "reload: %s; keeping the running keys",
			  kerr[0] ? kerr : "out of memory");
		memcpy(fresh.security.key_file, d->cfg.security.key_file,
		       sizeof(fresh.security.key_file));
		memcpy(fresh.security.old_key_files, d->cfg.security.old_key_files,
		       sizeof(fresh.security.old_key_files));
		fresh.security.encrypt = d->cfg.security.encrypt;
	} else {
		log_info("main", "reload: %s", kr.n ? "cluster keys loaded" : "no cluster key");
	}
	auth_keyring_wipe(&kr);
	/* the gossip peer list first: on failure the running list stays */
	if (gossip_config_from(&fresh, &gc, &peers) < 0 ||
	    gossip_set_peers(d->gossip, gc.peers, gc.npeers) < 0) {
		log_error("main", "reload: out of memory, keeping the peer list");
		free(peers);
		config_done(&fresh);
		return;
	}
	free(peers);
	config_reload(&d->cfg, &fresh, restart_only_cb, NULL);
	store_set_reclaim(&d->store, (int64_t)d->cfg.keyspace.reclaim_after * 1000);
	struct gossip_limits lim = gossip_limits_from(&d->cfg);
	gossip_set_policy(d->gossip, d->cfg.security.accept_unknown_peers,
			  d->cfg.limits.max_peer_datagrams_per_sec, &lim);
	if (!rt->log_level_forced)
		log_set_level(d->cfg.log.level);
	log_info("main", "reloaded %s: %zu peers", d->config_path, d->cfg.n_peers);
	config_done(&fresh);
}

static void signal_cb(uv_signal_t *h, int signum)
{
	struct runtime *rt = h->data;

	if (signum == SIGHUP)
		reload(rt);
	else
		shutdown_daemon(rt, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static int start_signals(struct runtime *rt)
{
	uv_signal_t *hs[] = { &rt->sig_int, &rt->sig_term, &rt->sig_hup };
	int sigs[] = { SIGINT, SIGTERM, SIGHUP };

	for (int i = 0; i < 3; i++) {
		int r = uv_signal_init(rt->d.loop, hs[i]);
		if (r < 0)
			return r;
		hs[i]->data = rt;
		if ((r = uv_signal_start(hs[i], signal_cb, sigs[i])) < 0)
			return r;
	}
	return 0;
}

static int run(struct runtime *rt)
{
	struct daemon *d = &rt->d;
	const struct config *c = &d->cfg;
	struct gossip_config gc;
	struct gossip_peer_config *peers = NULL;
	char err[512];
	bool meter;
	int r;

	struct crdt_rid legacy;
	bool has_legacy;
	char rid_str[CRDT_RID_STRLEN];

	if ((r = datadir_open(c->node.data_dir, &rt->lock_fd, &legacy, &has_legacy, err,
			      sizeof(err))) < 0) {
		log_error("main", "%s", err);
		return 1;
	}
	crdt_hlc_init(&d->hlc, NULL, NULL);
	store_init(&d->store); /* a new replica id: see store.h */
	crdt_rid_format(&d->store.self, rid_str);

	d->loop = malloc(sizeof(*d->loop));
	if (!d->loop || uv_loop_init(d->loop) < 0) {
		log_error("main", "cannot create the event loop");
		free(d->loop);
		return 1;
	}
	d->start_ms = uv_now(d->loop);
	lazyfree_init(&d->lazyfree, d->loop);
	store_set_lazyfree(&d->store, lazyfree_put, &d->lazyfree);
	if (populate_init(&d->populate, d->loop))
		store_set_populate(&d->store, populate_queue);
	passes_init(&d->passes);
	/* the loop counts its time in the poll, for the pass meter below */
	meter = uv_loop_configure(d->loop, UV_METRICS_IDLE_TIME) == 0;

	/* the durable store: a damaged one stops us here, with the reason.
	 * Members and fields are hashed under the store's secret key (no
	 * client can compute ones that collide), set before any state is
	 * loaded or made. */
	r = journal_open(d->loop, c->node.data_dir, has_legacy ? &legacy : NULL,
			 c->storage.durability, c->storage.batch_ms, c->storage.map_size,
			 &d->journal, err, sizeof(err));
	if (r == 0) {
		crdt_set_hash_key(journal_hash_key(d->journal));
		r = journal_load(d->journal, &d->store, err, sizeof(err));
	}
	if (r < 0) {
		log_error("main", "%s", err);
		if (d->journal) {
			journal_close(d->journal);
			d->journal = NULL;
		}
		uv_run(d->loop, UV_RUN_DEFAULT);
		populate_stop(&d->populate);
		uv_loop_close(d->loop);
		free(d->loop);
		store_done(&d->store);
		close(rt->lock_fd);
		return 1;
	}
	log_info("main", "loaded %zu instances from %s", d->store.len, journal_path(d->journal));
	journal_set_report(d->journal, journal_report_cb, d);
	uv_check_init(d->loop, &rt->commit);
	rt->commit.data = rt;
	uv_check_start(&rt->commit, commit_cb);
	if (meter) {
		uv_prepare_init(d->loop, &rt->meter);
		rt->meter.data = rt;
		uv_prepare_start(&rt->meter, meter_cb);
	} else {
		log_warn("main", "this libuv counts no idle time: INFO loop_* stay 0");
	}
	store_loaded(&d->store);
	store_set_reclaim(&d->store, (int64_t)c->keyspace.reclaim_after * 1000);
	uv_timer_init(d->loop, &rt->expire);
	rt->expire.data = rt;
	uv_timer_start(&rt->expire, expire_cb, EXPIRE_EVERY_MS, EXPIRE_EVERY_MS);
	uv_idle_init(d->loop, &rt->expire_more);
	rt->expire_more.data = rt;
	uv_idle_init(d->loop, &rt->rehash);
	rt->rehash.data = rt;
	uv_check_init(d->loop, &rt->rehash_watch);
	rt->rehash_watch.data = rt;
	uv_check_start(&rt->rehash_watch, rehash_watch_cb);
	uv_timer_init(d->loop, &rt->trim);
	rt->trim.data = rt;
	uv_timer_start(&rt->trim, trim_cb, TRIM_EVERY_MS, TRIM_EVERY_MS);

	struct listener_config sc = {
		.host = c->node.client.host,
		.port = c->node.client.port,
		.unix_path = c->node.client_socket,
		.max_clients = c->node.max_clients,
		.max_query_bytes = c->node.max_request_bytes + 64 * 1024,
		.lim = {
			.max_bulk = c->node.max_request_bytes,
			.max_args = c->node.max_args,
			.max_inline = 64 * 1024,
		},
	};
	struct auth_keyring kr;
	if (load_keys(c, &kr, err, sizeof(err)) < 0) {
		log_error("main", "%s", err);
		r = -EINVAL;
		goto keys_failed;
	}
	if (kr.n)
		log_info("main", "gossip authenticated%s with %zu key(s)",
			 kr.encrypt ? " and encrypted" : "", kr.n);
	else
		log_warn("main", "no [security] key_file: gossip is not authenticated");
	r = gossip_config_from(c, &gc, &peers);
	gc.keys = &kr;
	if (r == 0 && c->simulation.enabled)
		r = gossip_new_simulated(d, &gc);
	else if (r == 0)
		r = gossip_new(d->loop, &gc, &d->store, &d->hlc, &d->store.self, c->node.name,
			       &d->gossip);
	free(peers);
	auth_keyring_wipe(&kr);
keys_failed:
	if (r == 0) {
		gossip_set_lazyfree(d->gossip, lazyfree_put_mem, &d->lazyfree);
		r = gossip_start(d->gossip);
	}
	if (r == 0)
		r = listener_start(d->loop, d, &sc, &d->listener);
	if (r == 0 && c->http.listen.host[0]) {
		struct http_server_config hc = {
			.host = c->http.listen.host,
			.port = c->http.listen.port,
			.max_connections = c->http.max_connections,
			.max_header_bytes = c->http.max_header_bytes,
			.header_timeout_ms = c->http.header_timeout_ms,
		};
		r = http_server_start(d->loop, d, &hc, &d->http);
	}
	if (r == 0)
		r = start_signals(rt);
	if (r < 0) {
		log_error("main", "start-up failed: %s", uv_strerror(r));
		shutdown_daemon(rt, "start-up failure");
	} else {
		log_info("main", "crdtd %s ready: node %s, replica %s, client %s:%d, gossip %s:%u, %zu peers",
			 CRDTD_VERSION, c->node.name, rid_str, c->node.client.host,
			 listener_port(d->listener), c->node.listen.host, c->node.listen.port, c->n_peers);
	}

	uv_run(d->loop, UV_RUN_DEFAULT);
	populate_stop(&d->populate); /* its jobs are done: the loop ran them out */
	int closed = uv_loop_close(d->loop);
	if (closed != 0)
		log_error("main", "event loop closed with handles still open: %s", uv_strerror(closed));
	free(d->loop);
	store_done(&d->store);
	slowlog_done(&d->slowlog);
	close(rt->lock_fd);
	if (r == 0)
		log_info("main", "stopped");
	return r < 0 || closed != 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "gen-key", required_argument, NULL, 'K' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *level = NULL, *keyfile = NULL;
	bool check = false;
	int opt;

	/* No fastbins: a small chunk freed goes back to its bin at once.  With
	 * them, the million entries of a large hash that lazyfree frees on the
	 * thread pool sit in fastbins until the loop's next large malloc, which
	 * then consolidates all of them under the arena lock: 130-520 ms of one
	 * pass, measured (docs/benchmarks.md, "DEL of a large set or hash").
	 * The per-thread tcache still serves the hot small sizes; a SET storm's
	 * CPU an op did not move. */
	mallopt(M_MXFAST, 0);

	while ((opt = getopt_long(argc, argv, "c:l:Vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'K':
			keyfile = optarg;
			break;
		case 'l':
			level = optarg;
			break;
		case 'V':
			printf("crdtd %s\n", CRDTD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (keyfile) {
		char kerr[512];
		if (path || check || optind != argc) {
			fprintf(stderr, "crdtd: --gen-key takes only the file to write\n");
			return 2;
		}
		if (auth_gen_key_file(keyfile, kerr, sizeof(kerr)) < 0) {
			fprintf(stderr, "crdtd: --gen-key: %s\n", kerr);
			return 1;
		}
		printf("%s: new cluster key written (mode 0600); copy it to every node\n", keyfile);
		return 0;
	}
	if (auth_init() < 0) {
		fprintf(stderr, "crdtd: cannot initialise libsodium\n");
		return 1;
	}
	if (!path || optind != argc) {
		fprintf(stderr, "crdtd: %s\n", path ? "unexpected argument" : "no config file: use -c FILE");
		usage(stderr);
		return 2;
	}

	static struct runtime rt;
	struct config_error err;
	enum log_level lvl;

	if (level && log_parse_level(level, &lvl) < 0) {
		fprintf(stderr, "crdtd: unknown log level '%s' (error, warn, info, debug)\n", level);
		return 2;
	}
	if (config_load(path, &rt.d.cfg, &err) < 0) {
		fprintf(stderr, "crdtd: %s\n", err.msg);
		return 1;
	}
	if (check) {
		struct auth_keyring kr;
		char kerr[512];
		if (load_keys(&rt.d.cfg, &kr, kerr, sizeof(kerr)) < 0) {
			fprintf(stderr, "crdtd: %s: %s\n", path, kerr);
			config_done(&rt.d.cfg);
			return 1;
		}
		auth_keyring_wipe(&kr);
		printf("%s: OK\n", path);
		config_done(&rt.d.cfg);
		return 0;
	}
	rt.d.config_path = path;
	log_set_level(level ? lvl : rt.d.cfg.log.level);
	rt.log_level_forced = level != NULL;
	log_set_prefix(rt.d.cfg.node.name);
	signal(SIGPIPE, SIG_IGN);

	int r = run(&rt);
	config_done(&rt.d.cfg);
	return r;
}
