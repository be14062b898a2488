/* The Redis introspection commands operators' tools send: CLIENT, CONFIG GET,
 * SLOWLOG, LATENCY, TIME and MEMORY USAGE, with Redis' reply shapes and
 * errors.  They read the daemon (its connections, config, counters), never
 * the data; client/commands.c lists them in the command table. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cmd.h"
#include "client/cmdstats.h"
#include "client/glob.h"
#include "client/listener.h"
#include "client/resp.h"
#include "client/slowlog.h"
#include "crdt/obj.h"
#include "daemon.h"
#include "gossip/gossip.h"

/* Printable, bounded copy of a client-sent word for an error message. */
static void word(const struct cmd_args *a, size_t i, char *out, size_t size)
{
	size_t j = 0;

	for (size_t k = 0; k < a->argl[i] && j + 1 < size && k < 64; k++) {
		uint8_t ch = a->argv[i][k];
		out[j++] = ch >= 0x20 && ch < 0x7f && ch != '\'' ? (char)ch : '?';
	}
	out[j] = 0;
}

static void unknown_subcommand(const struct cmd_args *a, const char *cmd, struct crdt_buf *out)
{
	char sub[72];

	word(a, 1, sub, sizeof(sub));
	resp_error(out, "ERR unknown subcommand '%s'. Try %s HELP.", sub, cmd);
}

/* Redis 7's wording for a subcommand's arity, e.g. 'client|kill'. */
static void wrong_arity(const char *cmd, const char *sub, struct crdt_buf *out)
{
	resp_error(out, "ERR wrong number of arguments for '%s|%s' command", cmd, sub);
}

static void help(struct crdt_buf *out, const char *const *lines, size_t n)
{
	resp_array(out, n);
	for (size_t i = 0; i < n; i++)
		resp_simple(out, lines[i]);
}

/* ---- CLIENT ---------------------------------------------------------------- */

/* One CLIENT LIST line, with Redis 7.0's fields in Redis' order; the ones
 * crdtd has no use for (databases, pub/sub, MULTI, users) hold what Redis
 * shows for a plain client. */
static void client_line(const struct listener_client_info *ci, struct crdt_buf *b)
{
	const struct cmd_session *s = ci->sess;
	char line[640];
	int n;

	n = snprintf(line, sizeof(line),
		     "id=%" PRIu64 " addr=%s laddr=%s fd=%d name=%s age=%" PRIu64 " idle=%" PRIu64
		     " flags=%s db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=%zu qbuf-free=%zu argv-mem=0"
		     " multi-mem=0 rbs=%zu rbp=0 obl=%zu oll=0 omem=%zu tot-mem=%zu events=%s%s"
		     " cmd=%s user=default redir=-1 resp=%d\n",
		     s->id, s->addr, s->laddr, ci->fd, s->name, ci->age_s, ci->idle_s,
		     ci->unix_socket ? "U" : "N", ci->qbuf, ci->qbuf_free, ci->qbuf + ci->qbuf_free,
		     ci->out_bytes, ci->unsent, ci->mem, ci->reading ? "r" : "", ci->writing ? "w" : "",
		     s->last_cmd ? s->last_cmd : "NULL", s->proto);
	if (n > 0)
		crdt_buf_put(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* CLIENT LIST [TYPE type] [ID id ...] and CLIENT KILL's filters. */
struct client_filter {
	uint64_t ids[64];
	size_t nids;
	bool none;          /* TYPE master/replica/pubsub: crdtd has no such clients */
	const uint8_t *addr, *laddr;
	size_t addr_len, laddr_len;
	bool skipme;        /* KILL: never the caller (the default) */
	int64_t maxage;     /* KILL: only clients older than this, seconds; 0 = any */
	uint64_t self;
	struct crdt_buf *body;
	int64_t n;
	struct listener *l;
	struct cmd_session *caller;
};

static bool filter_match(const struct client_filter *f, const struct listener_client_info *ci)
{
	const struct cmd_session *s = ci->sess;
	bool id_ok = f->nids == 0;

	for (size_t i = 0; i < f->nids; i++)
		id_ok |= f->ids[i] == s->id;
	return id_ok && !f->none && !(f->skipme && s->id == f->self) &&
	       (!f->addr || (strlen(s->addr) == f->addr_len && !memcmp(s->addr, f->addr, f->addr_len))) &&
	       (!f->laddr ||
		(strlen(s->laddr) == f->laddr_len && !memcmp(s->laddr, f->laddr, f->laddr_len))) &&
	       (!f->maxage || ci->age_s >= (uint64_t)f->maxage);
}

/* TYPE's argument: normal matches every crdtd client, the others none. */
static bool parse_type(const struct cmd_args *a, size_t i, struct client_filter *f,
		       struct crdt_buf *out)
{
	char t[72];

	if (cmd_arg_is(a, i, "normal"))
		return true;
	if (cmd_arg_is(a, i, "master") || cmd_arg_is(a, i, "replica") ||
	    cmd_arg_is(a, i, "slave") || cmd_arg_is(a, i, "pubsub")) {
		f->none = true;
		return true;
	}
	word(a, i, t, sizeof(t));
	resp_error(out, "ERR Unknown client type '%s'", t);
	return false;
}

static int list_cb(const struct listener_client_info *ci, void *ctx)
{
	struct client_filter *f = ctx;

	if (filter_match(f, ci))
		client_line(ci, f->body);
	return 0;
}

static void client_list(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			struct crdt_buf *out)
{
	struct client_filter f = { .self = s->id };
	struct crdt_buf body;
	size_t i = 2;

	while (i < a->argc) {
		if (cmd_arg_is(a, i, "type") && i + 1 < a->argc) {
			if (!parse_type(a, i + 1, &f, out))
				return;
			i += 2;
		} else if (cmd_arg_is(a, i, "id") && i + 1 < a->argc) {
			for (i++; i < a->argc; i++) {
				int64_t id;
				if (!cmd_arg_int64(a, i, &id) || id < 1) {
					resp_error(out, "ERR Invalid client ID");
					return;
				}
				if (f.nids == sizeof(f.ids) / sizeof(f.ids[0])) {
					resp_error(out, "ERR at most %zu client IDs", f.nids);
					return;
				}
				f.ids[f.nids++] = (uint64_t)id;
			}
		} else {
			resp_error(out, "ERR syntax error");
			return;
		}
	}
	crdt_buf_init(&body, 0);
	f.body = &body;
	listener_foreach_client(d->listener, list_cb, &f);
	if (body.err)
		resp_error(out, "ERR out of memory");
	else
		resp_bulk(out, body.data ? (const char *)body.data : "", body.len);
	crdt_buf_done(&body);
}

static int self_cb(const struct listener_client_info *ci, void *ctx)
{
	struct client_filter *f = ctx;

	if (ci->sess->id != f->self)
		return 0;
	client_line(ci, f->body);
	return 1;
}

/* CLIENT INFO: the caller's own line (a session without a connection, as
 * in the unit tests, shows its session with zero counters). */
static void client_info(struct daemon *d, struct cmd_session *s, struct crdt_buf *out)
{
	struct client_filter f = { .self = s->id };
	struct crdt_buf body;

	crdt_buf_init(&body, 0);
	f.body = &body;
	if (!listener_foreach_client(d->listener, self_cb, &f))
		client_line(&(struct listener_client_info){ .sess = s, .fd = -1 }, &body);
	if (body.err)
		resp_error(out, "ERR out of memory");
	else
		resp_bulk(out, body.data, body.len);
	crdt_buf_done(&body);
}

static int kill_cb(const struct listener_client_info *ci, void *ctx)
{
	struct client_filter *f = ctx;

	if (!filter_match(f, ci))
		return 0;
	if (ci->sess->id == f->caller->id)
		f->caller->close_after_reply = 1; /* after this reply, as Redis */
	else if (listener_kill_client(f->l, ci->sess->id) < 0)
		return 0;
	f->n++;
	return 0;
}

/* CLIENT KILL ip:port (the old form: +OK or an error), or CLIENT KILL
 * <filter> <value> ... with ID, ADDR, LADDR, TYPE, USER, SKIPME, MAXAGE:
 * the number killed. */
static void client_kill(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			struct crdt_buf *out)
{
	struct client_filter f = { .self = s->id, .l = d->listener, .caller = s };

	if (a->argc == 3) {
		f.addr = a->argv[2];
		f.addr_len = a->argl[2];
		listener_foreach_client(d->listener, kill_cb, &f);
		if (f.n)
			resp_simple(out, "OK");
		else
			resp_error(out, "ERR No such client");
		return;
	}
	if (a->argc < 4 || a->argc % 2) {
		resp_error(out, "ERR syntax error");
		return;
	}
	f.skipme = true;
	for (size_t i = 2; i < a->argc; i += 2) {
		int64_t v;
		if (cmd_arg_is(a, i, "id")) {
			if (!cmd_arg_int64(a, i + 1, &v) || v < 1) {
				resp_error(out, "ERR client-id should be greater than 0");
				return;
			}
			f.ids[0] = (uint64_t)v;
			f.nids = 1;
		} else if (cmd_arg_is(a, i, "type")) {
			if (!parse_type(a, i + 1, &f, out))
				return;
		} else if (cmd_arg_is(a, i, "addr")) {
			f.addr = a->argv[i + 1];
			f.addr_len = a->argl[i + 1];
		} else if (cmd_arg_is(a, i, "laddr")) {
			f.laddr = a->argv[i + 1];
			f.laddr_len = a->argl[i + 1];
		} else if (cmd_arg_is(a, i, "user")) {
			char u[72];
			if (!cmd_arg_is(a, i + 1, "default")) {
				word(a, i + 1, u, sizeof(u));
				resp_error(out, "ERR No such user '%s'", u);
				return;
			}
		} else if (cmd_arg_is(a, i, "skipme")) {
			if (cmd_arg_is(a, i + 1, "yes"))
				f.skipme = true;
			else if (cmd_arg_is(a, i + 1, "no"))
				f.skipme = false;
			else {
				resp_error(out, "ERR syntax error");
				return;
			}
		} else if (cmd_arg_is(a, i, "maxage")) {
			if (!cmd_arg_int64(a, i + 1, &v) || v < 1) {
				resp_error(out, "ERR value is not an integer or out of range");
				return;
			}
			f.maxage = v;
		} else {
			resp_error(out, "ERR syntax error");
			return;
		}
	}
	listener_foreach_client(d->listener, kill_cb, &f);
	resp_int(out, f.n);
}

/* CLIENT SETNAME: Redis' rule, printable ASCII without spaces; "" clears. */
static void client_setname(struct cmd_session *s, const struct cmd_args *a, size_t i,
			   struct crdt_buf *out)
{
	for (size_t k = 0; k < a->argl[i]; k++) {
		if (a->argv[i][k] < '!' || a->argv[i][k] > '~') {
			resp_error(out, "ERR Client names cannot contain spaces, newlines or special "
					"characters.");
			return;
		}
	}
	if (a->argl[i] > CMD_CLIENT_NAME_MAX) {
		resp_error(out, "ERR Client names are at most %d bytes in crdtd", CMD_CLIENT_NAME_MAX);
		return;
	}
	memcpy(s->name, a->argv[i], a->argl[i]);
	s->name[a->argl[i]] = 0;
	resp_simple(out, "OK");
}

void cmd_client(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		struct crdt_buf *out)
{
	static const char *const lines[] = {
		"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"ID", "    Return the ID of the current connection.",
		"INFO", "    Return information about the current client connection.",
		"LIST [TYPE <normal|master|replica|pubsub>] [ID <id> [<id> ...]]",
		"    Return information about client connections.",
		"KILL <ip:port>", "    Kill connection made from <ip:port>.",
		"KILL <option> <value> [<option> <value> [...]]",
		"    Kill connections. Options are: ID, ADDR, LADDR, TYPE, USER, SKIPME, MAXAGE.",
		"GETNAME", "    Return the name of the current connection.",
		"SETNAME <name>", "    Assign the name <name> to the current connection.",
		"SETINFO <lib-name|lib-ver> <value>", "    Accepted and not kept.",
		"HELP", "    Print this help.",
	};

	if (cmd_arg_is(a, 1, "id")) {
		if (a->argc != 2)
			wrong_arity("client", "id", out);
		else
			resp_int(out, (int64_t)s->id);
	} else if (cmd_arg_is(a, 1, "getname")) {
		if (a->argc != 2)
			wrong_arity("client", "getname", out);
		else if (s->name[0])
			resp_bulk_str(out, s->name);
		else
			resp_nil(out, s->proto);
	} else if (cmd_arg_is(a, 1, "setname")) {
		if (a->argc != 3)
			wrong_arity("client", "setname", out);
		else
			client_setname(s, a, 2, out);
	} else if (cmd_arg_is(a, 1, "setinfo")) {
		if (a->argc != 4)
			wrong_arity("client", "setinfo", out);
		else
			resp_simple(out, "OK");
	} else if (cmd_arg_is(a, 1, "list")) {
		client_list(d, s, a, out);
	} else if (cmd_arg_is(a, 1, "info")) {
		if (a->argc != 2)
			wrong_arity("client", "info", out);
		else
			client_info(d, s, out);
	} else if (cmd_arg_is(a, 1, "kill")) {
		if (a->argc < 3)
			wrong_arity("client", "kill", out);
		else
			client_kill(d, s, a, out);
	} else if (cmd_arg_is(a, 1, "help") && a->argc == 2) {
		help(out, lines, sizeof(lines) / sizeof(lines[0]));
	} else {
		unknown_subcommand(a, "CLIENT", out);
	}
}

/* ---- CONFIG ---------------------------------------------------------------- */

struct config_reply {
	const struct cmd_args *a;
	char *pats[8]; /* the patterns, lowercased: Redis matches them ignoring case */
	size_t plen[8], npats;
	struct crdt_buf body;
	size_t n;
};

static void config_param(struct config_reply *x, const char *name, const char *value)
{
	for (size_t i = 0; i < x->npats; i++) {
		if (x->pats[i] && glob_match((const uint8_t *)x->pats[i], x->plen[i], (const uint8_t *)name,
			       strlen(name))) {
			resp_bulk_str(&x->body, name);
			resp_bulk_str(&x->body, value);
			x->n++;
			return;
		}
	}
}

/* Redis' loglevel for ours. */
static const char *redis_loglevel(enum log_level l)
{
	switch (l) {
	case LOG_LEVEL_DEBUG:
		return "debug";
	case LOG_LEVEL_INFO:
		return "notice";
	default:
		return "warning";
	}
}

/* CONFIG GET answers Redis' names for what crdtd has (the values are ours:
 * maxclients, port, bind, appendfsync from [storage] durability, the
 * slow log's keys), what is true of crdtd under Redis' names (one database,
 * no RDB saves, no maxmemory, no eviction, no idle timeout), and every ini
 * key as "section.key".  The password shows as "********" when set.
 * Settings live in the ini file: CONFIG SET and REWRITE are refused. */
static void config_get(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		       struct crdt_buf *out)
{
	static const char *const fsync[] = { "always", "everysec", "no" };
	const struct config *c = &d->cfg;
	struct config_reply x = { .a = a };
	char num[64], addr[CONFIG_HOST_MAX + 1], full[160], value[CONFIG_PATH_MAX + 64];
	const struct config_key *keys;
	size_t nkeys;

	if (a->argc - 2 > sizeof(x.pats) / sizeof(x.pats[0])) {
		resp_error(out, "ERR at most %zu patterns in one CONFIG GET",
			   sizeof(x.pats) / sizeof(x.pats[0]));
		return;
	}
	crdt_buf_init(&x.body, 0);
	for (size_t i = 2; i < a->argc; i++) {
		char *p = malloc(a->argl[i] + 1);
		if (!p)
			x.body.err = -ENOMEM;
		for (size_t k = 0; p && k < a->argl[i]; k++)
			p[k] = (char)tolower(a->argv[i][k]);
		x.pats[x.npats] = p;
		x.plen[x.npats++] = a->argl[i];
	}
	snprintf(num, sizeof(num), "%u", c->node.max_clients);
	config_param(&x, "maxclients", num);
	config_param(&x, "requirepass", c->node.requirepass[0] ? "********" : "");
	snprintf(num, sizeof(num), "%d", d->listener ? listener_port(d->listener) : c->node.client.port);
	config_param(&x, "port", num);
	snprintf(addr, sizeof(addr), "%s", c->node.client.host);
	config_param(&x, "bind", addr);
	config_param(&x, "unixsocket", c->node.client_socket);
	config_param(&x, "appendonly", "yes");
	config_param(&x, "appendfsync", fsync[c->storage.durability <= 2 ? c->storage.durability : 0]);
	config_param(&x, "databases", "1");
	config_param(&x, "save", "");
	config_param(&x, "maxmemory", "0");
	config_param(&x, "maxmemory-policy", "noeviction");
	config_param(&x, "timeout", "0");
	config_param(&x, "loglevel", redis_loglevel(c->log.level));
	config_param(&x, "dir", c->node.data_dir);
	snprintf(num, sizeof(num), "%zu", c->node.max_request_bytes);
	config_param(&x, "proto-max-bulk-len", num);
	snprintf(num, sizeof(num), "%u", c->slowlog.log_slower_than_us);
	config_param(&x, "slowlog-log-slower-than", num);
	snprintf(num, sizeof(num), "%u", c->slowlog.max_len);
	config_param(&x, "slowlog-max-len", num);
	config_param(&x, "latency-monitor-threshold", "0");
	config_param(&x, "io-threads", "1");
	keys = config_keys(&nkeys);
	for (size_t i = 0; i < nkeys; i++) {
		snprintf(full, sizeof(full), "%s.%s", keys[i].section, keys[i].name);
		if (keys[i].offset == offsetof(struct config, node.requirepass))
			snprintf(value, sizeof(value), "%s", c->node.requirepass[0] ? "********" : "");
		else if (config_format_value(c, &keys[i], value, sizeof(value)) < 0)
			continue;
		config_param(&x, full, value);
	}
	if (x.body.err) {
		resp_error(out, "ERR out of memory");
	} else {
		resp_map(out, x.n, s->proto);
		crdt_buf_put(out, x.body.data, x.body.len);
	}
	crdt_buf_done(&x.body);
	for (size_t i = 0; i < x.npats; i++)
		free(x.pats[i]);
}

void cmd_config(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		struct crdt_buf *out)
{
	static const char *const lines[] = {
		"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"GET <pattern> [<pattern> ...]",
		"    Return parameters matching the glob-like <pattern> and their values.",
		"RESETSTAT", "    Reset the per-command statistics, the slow log, INFO gossip_longest_call_us and loop_*.",
		"SET, REWRITE", "    Refused: edit the ini file and send SIGHUP.",
		"HELP", "    Print this help.",
	};

	if (cmd_arg_is(a, 1, "get")) {
		if (a->argc < 3)
			wrong_arity("config", "get", out);
		else
			config_get(d, s, a, out);
	} else if (cmd_arg_is(a, 1, "set") || cmd_arg_is(a, 1, "rewrite")) {
		resp_error(out, "ERR CONFIG %s is not supported; edit the ini file and send SIGHUP",
			   cmd_arg_is(a, 1, "set") ? "SET" : "REWRITE");
	} else if (cmd_arg_is(a, 1, "resetstat") && a->argc == 2) {
		cmdstats_reset(&d->cmdstats);
		slowlog_reset(&d->slowlog);
		gossip_reset_longest(d->gossip);
		passes_reset(&d->passes);
		resp_simple(out, "OK");
	} else if (cmd_arg_is(a, 1, "help") && a->argc == 2) {
		help(out, lines, sizeof(lines) / sizeof(lines[0]));
	} else {
		unknown_subcommand(a, "CONFIG", out);
	}
}

/* ---- SLOWLOG --------------------------------------------------------------- */

void cmd_slowlog(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		 struct crdt_buf *out)
{
	static const char *const lines[] = {
		"SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"GET [<count>]",
		"    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
		"    Entries are made of:",
		"    id, timestamp, time in microseconds, arguments array, client IP and port,",
		"    client name",
		"LEN", "    Return the length of the slowlog.",
		"RESET", "    Reset the slowlog.",
		"HELP", "    Print this help.",
	};
	int64_t count = 10;

	if (cmd_arg_is(a, 1, "get")) {
		if (a->argc > 3) {
			wrong_arity("slowlog", "get", out);
			return;
		}
		if (a->argc == 3 && (!cmd_arg_int64(a, 2, &count) || count < -1)) {
			resp_error(out, "ERR count should be greater than or equal to -1");
			return;
		}
		size_t n = slowlog_len(&d->slowlog);
		if (count >= 0 && (uint64_t)count < n)
			n = (size_t)count;
		resp_array(out, n);
		for (size_t i = 0; i < n; i++) {
			const struct slowlog_entry *e = slowlog_get(&d->slowlog, i);
			resp_array(out, 6);
			resp_int(out, (int64_t)e->id);
			resp_int(out, e->time);
			resp_int(out, (int64_t)e->usec);
			resp_array(out, e->argc);
			for (size_t k = 0; k < e->argc; k++)
				resp_bulk(out, e->argv[k], e->argl[k]);
			resp_bulk_str(out, e->addr);
			resp_bulk_str(out, e->name);
		}
	} else if (cmd_arg_is(a, 1, "len")) {
		if (a->argc != 2)
			wrong_arity("slowlog", "len", out);
		else
			resp_int(out, (int64_t)slowlog_len(&d->slowlog));
	} else if (cmd_arg_is(a, 1, "reset")) {
		if (a->argc != 2) {
			wrong_arity("slowlog", "reset", out);
		} else {
			slowlog_reset(&d->slowlog);
			resp_simple(out, "OK");
		}
	} else if (cmd_arg_is(a, 1, "help") && a->argc == 2) {
		help(out, lines, sizeof(lines) / sizeof(lines[0]));
	} else {
		unknown_subcommand(a, "SLOWLOG", out);
	}
}

/* ---- LATENCY --------------------------------------------------------------- */

/* One command's LATENCY HISTOGRAM entry: its calls and, per bucket that
 * holds any, the bucket's upper bound in us and the calls up to it
 * (cumulative), as Redis 7 reports them. */
static void histogram_entry(const struct cmdstat *c, int proto, struct crdt_buf *out)
{
	size_t used = 0;
	uint64_t cum = 0;

	for (size_t b = 0; b < CMDSTATS_BUCKETS; b++)
		used += c->hist[b] != 0;
	resp_bulk_str(out, c->name);
	resp_map(out, 2, proto);
	resp_bulk_str(out, "calls");
	resp_int(out, (int64_t)c->calls);
	resp_bulk_str(out, "histogram_usec");
	resp_map(out, used, proto);
	for (size_t b = 0; b < CMDSTATS_BUCKETS; b++) {
		if (!c->hist[b])
			continue;
		cum += c->hist[b];
		resp_int(out, (int64_t)cmdstats_bucket_usec(b));
		resp_int(out, (int64_t)cum);
	}
}

static bool histogram_wanted(const struct cmd_args *a, const struct cmdstat *c)
{
	if (!c->name || !c->calls)
		return false;
	if (a->argc == 2)
		return true;
	for (size_t i = 2; i < a->argc; i++)
		if (cmd_arg_is(a, i, c->name))
			return true;
	return false;
}

/* crdtd keeps no latency events (Redis' latency monitor samples its own
 * event loop, fork and fsync times); LATEST, HISTORY and RESET answer the
 * empty, well-formed replies Redis gives when none was recorded.  The
 * per-command histogram is real (client/cmdstats.h). */
void cmd_latency(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		 struct crdt_buf *out)
{
	static const char *const lines[] = {
		"LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"DOCTOR", "    Return a human readable latency analysis report.",
		"GRAPH <event>", "    Return an ASCII latency graph for the <event> class.",
		"HISTORY <event>", "    Return time-latency samples for the <event> class.",
		"LATEST", "    Return the latest latency samples for all events.",
		"RESET [<event> ...]", "    Reset latency data of one or more <event> classes.",
		"HISTOGRAM [COMMAND ...]",
		"    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
		"HELP", "    Print this help.",
	};
	char ev[72];

	if (cmd_arg_is(a, 1, "latest")) {
		if (a->argc != 2)
			wrong_arity("latency", "latest", out);
		else
			resp_array(out, 0);
	} else if (cmd_arg_is(a, 1, "history")) {
		if (a->argc != 3)
			wrong_arity("latency", "history", out);
		else
			resp_array(out, 0);
	} else if (cmd_arg_is(a, 1, "reset")) {
		resp_int(out, 0);
	} else if (cmd_arg_is(a, 1, "graph")) {
		if (a->argc != 3) {
			wrong_arity("latency", "graph", out);
			return;
		}
		word(a, 2, ev, sizeof(ev));
		resp_error(out, "ERR No samples available for event '%s'", ev);
	} else if (cmd_arg_is(a, 1, "doctor")) {
		if (a->argc != 2) {
			wrong_arity("latency", "doctor", out);
			return;
		}
		resp_bulk_str(out, "crdtd does not record latency events, so LATENCY LATEST and "
				   "HISTORY are always empty. Per-command latency: LATENCY HISTOGRAM "
				   "and INFO commandstats; the slowest commands: SLOWLOG GET "
				   "(the [slowlog] section of the ini file).\n");
	} else if (cmd_arg_is(a, 1, "histogram")) {
		size_t n = 0;
		for (size_t i = 0; i < CMDSTATS_MAX; i++)
			n += histogram_wanted(a, &d->cmdstats.cmd[i]);
		resp_map(out, n, s->proto);
		for (size_t i = 0; i < CMDSTATS_MAX; i++)
			if (histogram_wanted(a, &d->cmdstats.cmd[i]))
				histogram_entry(&d->cmdstats.cmd[i], s->proto, out);
	} else if (cmd_arg_is(a, 1, "help") && a->argc == 2) {
		help(out, lines, sizeof(lines) / sizeof(lines[0]));
	} else {
		unknown_subcommand(a, "LATENCY", out);
	}
}

/* ---- TIME, MEMORY ---------------------------------------------------------- */

void cmd_time(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	      struct crdt_buf *out)
{
	uv_timeval64_t tv;

	if (uv_gettimeofday(&tv) < 0) {
		resp_error(out, "ERR the clock cannot be read");
		return;
	}
	resp_array(out, 2);
	resp_bulkf(out, "%" PRId64, tv.tv_sec);
	resp_bulkf(out, "%d", (int)tv.tv_usec);
}

/* Bytes held by the heap now (glibc's count; 0 where the allocator is
 * replaced, as under ASan). */
static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/* What one instance holds: measured as the heap a copy of it takes (the
 * copy is made and freed here), and never less than its encoded size. */
static size_t instance_bytes(const struct crdt_obj *o)
{
	struct crdt_buf enc;
	struct crdt_obj copy;
	size_t before = heap_used(), grew = 0, encoded = 0;

	if (crdt_obj_copy(o, &copy) == 0) {
		size_t after = heap_used();
		grew = after > before ? after - before : 0;
		crdt_obj_done(&copy);
	}
	crdt_buf_init(&enc, 0);
	if (crdt_obj_encode(o, &enc) == 0)
		encoded = enc.len;
	crdt_buf_done(&enc);
	return grew > encoded ? grew : encoded;
}

/* MEMORY USAGE key [SAMPLES n]: an estimate, in bytes, of what the key holds:
 * its store entry and name, and each type's instance under it (see
 * instance_bytes; SAMPLES is accepted and ignored: every element counts).
 * Costs time in proportion to the instance's size. */
void cmd_memory(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		struct crdt_buf *out)
{
	static const char *const lines[] = {
		"MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"USAGE <key> [SAMPLES <count>]",
		"    Return memory in bytes used by <key> and its value. Nested values are",
		"    counted in full: SAMPLES is accepted and ignored.",
		"HELP", "    Print this help.",
	};
	struct store_entry *e;
	int64_t samples;
	size_t bytes;

	if (cmd_arg_is(a, 1, "help") && a->argc == 2) {
		help(out, lines, sizeof(lines) / sizeof(lines[0]));
		return;
	}
	if (!cmd_arg_is(a, 1, "usage")) {
		unknown_subcommand(a, "MEMORY", out);
		return;
	}
	if (a->argc != 3 && a->argc != 5) {
		if (a->argc < 3)
			wrong_arity("memory", "usage", out);
		else
			resp_error(out, "ERR syntax error");
		return;
	}
	if (a->argc == 5) {
		if (!cmd_arg_is(a, 3, "samples")) {
			resp_error(out, "ERR syntax error");
			return;
		}
		if (!cmd_arg_int64(a, 4, &samples) || samples < 0) {
			resp_error(out, "ERR value is not an integer or out of range");
			return;
		}
	}
	e = store_find(&d->store, a->argv[2], a->argl[2]);
	if (!e || !store_entry_type(e)) {
		resp_nil(out, s->proto);
		return;
	}
	bytes = sizeof(*e) + e->name_len + 1 +
		(e->x ? sizeof(*e->x) + (e->x->more ? STORE_MORE * sizeof(*e->x->more) : 0) : 0);
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		const struct crdt_obj *o = store_entry_slot(e, (enum crdt_type)t);
		if (o)
			bytes += instance_bytes(o);
	}
	resp_int(out, (int64_t)bytes);
}
