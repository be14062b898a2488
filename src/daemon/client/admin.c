/* Administration commands: INFO, and crdtd's own CRDT.PEERS, CRDT.SYNC and
 * CRDT.SIM (the simulation shim); CONFIG and CLIENT are client/introspect.c's.
 * They read and steer the daemon, never the data; client/commands.c lists
 * them in the command table. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cmd.h"
#include "client/info.h"
#include "client/resp.h"
#include "crdt/error.h"
#include "daemon.h"
#include "gossip/gossip.h"
#include "gossip/shim.h"

void cmd_crdt_sync(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			  struct crdt_buf *out)
{
	char peer[256];
	int r;

	if (a->argc > 2) {
		resp_error(out, "ERR wrong number of arguments for 'crdt.sync' command");
		return;
	}
	if (!d->gossip) {
		/* not started yet or closing down: nothing to sync with */
		resp_error(out, "ERR gossip is not running");
		return;
	}
	if (a->argc == 2) {
		size_t n = a->argl[1] < sizeof(peer) - 1 ? a->argl[1] : sizeof(peer) - 1;
		memcpy(peer, a->argv[1], n);
		peer[n] = 0;
	}
	r = gossip_sync(d->gossip, a->argc == 2 ? peer : NULL);
	if (r == -ENOENT)
		resp_error(out, "ERR no such peer '%s'", peer);
	else if (r < 0)
		resp_error(out, "ERR sync failed: %s", crdt_strerror(r));
	else
		resp_simple(out, "OK");
}

void cmd_crdt_peers(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			   struct crdt_buf *out)
{
	info_peers(d, s->proto, out);
}

/* ---- CRDT.SIM: the simulation shim (shim.h) ---------------------------------- */

/* A probability argument: a decimal 0..1 ("0", "0.1", ".5", "1"). */
static bool arg_prob(const struct cmd_args *a, size_t i, double *ret)
{
	char tmp[32], *end;
	double v;

	if (a->argl[i] == 0 || a->argl[i] >= sizeof(tmp))
		return false;
	memcpy(tmp, a->argv[i], a->argl[i]);
	tmp[a->argl[i]] = 0;
	if (strspn(tmp, "0123456789.") != a->argl[i])
		return false; /* no sign, exponent, inf or nan */
	v = strtod(tmp, &end);
	if (*end || !(v >= 0.0 && v <= 1.0))
		return false;
	*ret = v;
	return true;
}

struct sim_peer_ctx {
	const uint8_t *name;
	size_t len;
	const struct gossip_peer_info *found;
	struct sockaddr_storage addr;
	char name_str[SHIM_NAME_MAX + 1];
	bool known, resolved;
};

static int sim_find_peer(const struct gossip_peer_info *p, void *ctx)
{
	struct sim_peer_ctx *c = ctx;

	if (strlen(p->name) != c->len || memcmp(p->name, c->name, c->len) != 0)
		return 0;
	c->known = true;
	snprintf(c->name_str, sizeof(c->name_str), "%s", p->name);
	if (p->addr) {
		c->resolved = true;
		memset(&c->addr, 0, sizeof(c->addr));
		memcpy(&c->addr, p->addr,
		       p->addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						      : sizeof(struct sockaddr_in));
	}
	return 1;
}

static void sim_status(struct daemon *d, int proto, struct crdt_buf *out)
{
	const struct shim_core *c = shim_core(d->shim);
	struct crdt_buf names;

	crdt_buf_init(&names, 0);
	for (size_t i = 0; i < c->nblocks; i++) {
		if (i)
			crdt_buf_put(&names, " ", 1);
		crdt_buf_put(&names, c->blocks[i].name, strlen(c->blocks[i].name));
	}
	resp_map(out, 17, proto);
	resp_bulk_str(out, "loss");
	resp_bulkf(out, "%g", c->set.loss);
	resp_bulk_str(out, "latency_ms");
	resp_bulkf(out, "%u-%u", c->set.latency_min_ms, c->set.latency_max_ms);
	resp_bulk_str(out, "duplicate");
	resp_bulkf(out, "%g", c->set.duplicate);
	resp_bulk_str(out, "reorder");
	resp_bulkf(out, "%g", c->set.reorder);
	resp_bulk_str(out, "partition_probability");
	resp_bulkf(out, "%g", c->set.partition_probability);
	/* the seed as configured, to put in another ini file and replay; the
	 * PRNG's own seed mixes in the node name (and the clock when 0) */
	resp_bulk_str(out, "seed");
	resp_bulkf(out, "%u", d->cfg.simulation.seed);
	resp_bulk_str(out, "rng_seed");
	resp_bulkf(out, "%llu", (unsigned long long)c->seed);
	resp_bulk_str(out, "isolated");
	resp_int(out, c->isolated);
	resp_bulk_str(out, "partitioned");
	resp_bulk(out, names.data ? (const char *)names.data : "", names.len);
	resp_bulk_str(out, "links_down");
	resp_int(out, (int64_t)shim_links_down(d->shim));
	resp_bulk_str(out, "dropped_loss");
	resp_int(out, (int64_t)c->stats.dropped_loss);
	resp_bulk_str(out, "dropped_partition");
	resp_int(out, (int64_t)c->stats.dropped_partition);
	resp_bulk_str(out, "delayed");
	resp_int(out, (int64_t)c->stats.delayed);
	resp_bulk_str(out, "duplicated");
	resp_int(out, (int64_t)c->stats.duplicated);
	resp_bulk_str(out, "reordered");
	resp_int(out, (int64_t)c->stats.reordered);
	resp_bulk_str(out, "passed");
	resp_int(out, (int64_t)c->stats.passed);
	resp_bulk_str(out, "held");
	resp_int(out, (int64_t)c->stats.held);
	crdt_buf_done(&names);
}

/* CRDT.SIM LOSS p | LATENCY min max | DUPLICATE p | REORDER p |
 * PARTITION_PROBABILITY p | PARTITION peer [peer ...] | ISOLATE | HEAL |
 * STATUS.  Arguments are parsed here; the decisions live in shim.c. */
void cmd_crdt_sim(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			 struct crdt_buf *out)
{
	struct shim_settings set;
	double p;
	int64_t lo, hi;
	double *field = NULL;

	if (!d->shim) {
		resp_error(out, "ERR simulation is not enabled in the config ([simulation] enabled = true)");
		return;
	}
	set = shim_core(d->shim)->set;
	if (cmd_arg_is(a, 1, "status") && a->argc == 2) {
		sim_status(d, s->proto, out);
		return;
	}
	if (cmd_arg_is(a, 1, "isolate") && a->argc == 2) {
		shim_isolate(d->shim);
		resp_simple(out, "OK");
		return;
	}
	if (cmd_arg_is(a, 1, "heal") && a->argc == 2) {
		shim_heal(d->shim);
		resp_simple(out, "OK");
		return;
	}
	if (cmd_arg_is(a, 1, "partition") && a->argc >= 3) {
		struct sim_peer_ctx ctx[16];
		size_t n = a->argc - 2;
		if (n > sizeof(ctx) / sizeof(ctx[0])) {
			resp_error(out, "ERR at most %zu peers per CRDT.SIM PARTITION", sizeof(ctx) / sizeof(ctx[0]));
			return;
		}
		/* check every name first: a bad one changes nothing */
		for (size_t i = 0; i < n; i++) {
			char q[80];
			memset(&ctx[i], 0, sizeof(ctx[i]));
			ctx[i].name = a->argv[i + 2];
			ctx[i].len = a->argl[i + 2];
			gossip_foreach_peer(d->gossip, sim_find_peer, &ctx[i]);
			snprintf(q, sizeof(q), "%.*s", (int)(ctx[i].len < 64 ? ctx[i].len : 64),
				 (const char *)ctx[i].name);
			for (char *c = q; *c; c++)
				if (*c < 0x20 || *c > 0x7e || *c == '\'')
					*c = '?';
			if (!ctx[i].known) {
				resp_error(out, "ERR no such peer '%s'", q);
				return;
			}
			if (!ctx[i].resolved) {
				resp_error(out, "ERR peer '%s' has no address yet", q);
				return;
			}
		}
		for (size_t i = 0; i < n; i++) {
			int r = shim_partition(d->shim, ctx[i].name_str,
					       (const struct sockaddr *)&ctx[i].addr);
			if (r < 0) {
				resp_error(out, "ERR partition: %s", crdt_strerror(r));
				return;
			}
		}
		resp_simple(out, "OK");
		return;
	}
	if (cmd_arg_is(a, 1, "latency") && a->argc == 4) {
		if (!cmd_arg_int64(a, 2, &lo) || !cmd_arg_int64(a, 3, &hi) || lo < 0 || lo > hi ||
		    hi > SHIM_LATENCY_MAX_MS) {
			resp_error(out, "ERR latency must be MIN MAX in ms, 0 <= MIN <= MAX <= %d",
				   SHIM_LATENCY_MAX_MS);
			return;
		}
		set.latency_min_ms = (uint32_t)lo;
		set.latency_max_ms = (uint32_t)hi;
	} else if (a->argc == 3 && cmd_arg_is(a, 1, "loss")) {
		field = &set.loss;
	} else if (a->argc == 3 && cmd_arg_is(a, 1, "duplicate")) {
		field = &set.duplicate;
	} else if (a->argc == 3 && cmd_arg_is(a, 1, "reorder")) {
		field = &set.reorder;
	} else if (a->argc == 3 && cmd_arg_is(a, 1, "partition_probability")) {
		field = &set.partition_probability;
	} else {
		resp_error(out, "ERR unknown subcommand or wrong number of arguments for 'crdt.sim': "
				"LOSS p, LATENCY min max, DUPLICATE p, REORDER p, "
				"PARTITION_PROBABILITY p, PARTITION peer..., ISOLATE, HEAL, STATUS");
		return;
	}
	if (field) {
		if (!arg_prob(a, 2, &p)) {
			resp_error(out, "ERR probability must be a decimal between 0 and 1");
			return;
		}
		*field = p;
	}
	if (shim_set(d->shim, &set) < 0)
		resp_error(out, "ERR invalid simulation setting");
	else
		resp_simple(out, "OK");
}

/* ---- generic --------------------------------------------------------------- */

void cmd_info(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	char section[32] = "";

	if (a->argc > 2) {
		resp_error(out, "ERR syntax error");
		return;
	}
	if (a->argc == 2) {
		size_t n = a->argl[1] < sizeof(section) - 1 ? a->argl[1] : sizeof(section) - 1;
		memcpy(section, a->argv[1], n);
		section[n] = 0;
	}
	info_render(d, section, out);
}
