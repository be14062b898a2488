/* Command handlers.  Each checks its arguments, acts on the store and writes
 * exactly one reply.  Replies and errors follow Redis wording wherever the
 * semantics match, so Redis clients and their error handling just work. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "commands.h"
#include "crdt/error.h"
#include "crdt/json.h"
#include "crdt/obj.h"
#include "daemon.h"
#include "glob.h"
#include "gossip.h"
#include "info.h"
#include "resp.h"
#include "storage.h"
#include "shim.h"

#define WRONGTYPE "WRONGTYPE Operation against a key holding the wrong kind of value"

struct cmd;
typedef void (*cmd_fn)(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		       struct crdt_buf *out);

struct cmd {
	const char *name;
	int arity; /* Redis style: n exact, -n at least n (name included) */
	cmd_fn fn;
	const char *flags; /* for COMMAND: "write", "readonly", ... */
};

static bool arg_is(const struct cmd_args *a, size_t i, const char *s)
{
	return a->argl[i] == strlen(s) && strncasecmp((const char *)a->argv[i], s, a->argl[i]) == 0;
}

/* Redis' rules for an integer argument: optional '-', digits, no spaces,
 * within int64. */
static bool arg_int64(const struct cmd_args *a, size_t i, int64_t *ret)
{
	const uint8_t *p = a->argv[i];
	size_t n = a->argl[i], k = 0;
	bool neg = false;
	uint64_t v = 0, limit;

	if (n == 0 || n > 20)
		return false;
	if (p[0] == '-') {
		neg = true;
		k = 1;
		if (n == 1)
			return false;
	}
	if (p[k] == '0' && n > k + 1)
		return false; /* leading zeros are not Redis integers */
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; k < n; k++) {
		if (p[k] < '0' || p[k] > '9')
			return false;
		unsigned dgt = (unsigned)(p[k] - '0');
		if (v > (limit - dgt) / 10)
			return false;
		v = v * 10 + dgt;
	}
	*ret = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

static void reply_crdt_error(struct crdt_buf *out, int err)
{
	switch (err) {
	case CRDT_ETYPE:
		resp_error(out, WRONGTYPE);
		break;
	case CRDT_EOVERFLOW:
		resp_error(out, "ERR increment or decrement would overflow");
		break;
	case CRDT_ENOMEM:
		resp_error(out, "OOM command not allowed when used memory > 'maxmemory'");
		break;
	default:
		resp_error(out, "ERR %s", crdt_strerror(err));
		break;
	}
}

/* The visible instance of key a->argv[1], or NULL; *ret_err says why not:
 * 0 absent, CRDT_ETYPE when its type is not in [lo, hi]. */
static struct crdt_obj *lookup(struct daemon *d, const struct cmd_args *a, enum crdt_type lo,
			       enum crdt_type hi, int *ret_err)
{
	struct store_entry *e = store_find(&d->store, a->argv[1], a->argl[1]);
	enum crdt_type t;

	*ret_err = 0;
	if (!e || !(t = store_entry_type(e)))
		return NULL;
	if (t < lo || t > hi) {
		*ret_err = CRDT_ETYPE;
		return NULL;
	}
	return &e->slot[t];
}

/* Like lookup, creating a @dflt instance when the key is new. */
static struct crdt_obj *lookup_or_create(struct daemon *d, const struct cmd_args *a,
					 enum crdt_type lo, enum crdt_type hi, enum crdt_type dflt,
					 int *ret_err)
{
	struct crdt_obj *o = lookup(d, a, lo, hi, ret_err);
	if (o || *ret_err)
		return o;
	*ret_err = store_get(&d->store, a->argv[1], a->argl[1], dflt, true, &o);
	return *ret_err ? NULL : o;
}

/* After a local write to slot @t of key a->argv[1]: journal it in the
 * durable store (storage.h: the elements of a set operation given by
 * argv[first, first + n), or a small state that merges to the result),
 * mark the entry for the push and wake gossip.  One lookup for all three. */
static void wrote(struct daemon *d, const struct cmd_args *a, enum crdt_type t,
		  enum storage_op op, const struct crdt_obj *state, size_t first, size_t n)
{
	struct store_entry *e = store_find(&d->store, a->argv[1], a->argl[1]);

	if (e && d->storage) {
		if (op == STORAGE_OP_STATE && (t == CRDT_GCOUNTER || t == CRDT_PNCOUNTER))
			storage_log_counter(d->storage, e, t);
		else
			storage_log(d->storage, e, t, op, state, n, a->argv + first,
				    a->argl + first);
	}
	if (e)
		store_touch(&d->store, e);
	if (d->gossip)
		gossip_notify_write(d->gossip);
}

/* ---- limits ([limits], docs/configuration.md) ------------------------------ */

/* A write that would create a name: refused once max_instances names are
 * held.  False (with the error replied) when refused. */
static bool may_create(struct daemon *d, const struct cmd_args *a, struct crdt_buf *out)
{
	unsigned max = d->cfg.limits.max_instances;

	if (!max || d->store.len < max || store_find(&d->store, a->argv[1], a->argl[1]))
		return true;
	resp_error(out, "ERR max_instances (%u) reached; no new key can be created", max);
	return false;
}

/* SADD's elements a->argv[2..]: each within max_element_bytes, and the set
 * within max_elements after adding those it lacks.  @o may be NULL (a new
 * set). */
static bool set_within_limits(struct daemon *d, const struct cmd_args *a, const struct crdt_obj *o,
			      struct crdt_buf *out)
{
	unsigned max_len = d->cfg.limits.max_element_bytes, max_n = d->cfg.limits.max_elements;
	size_t card = 0, fresh = 0;

	for (size_t i = 2; i < a->argc; i++) {
		if (max_len && a->argl[i] > max_len) {
			resp_error(out, "ERR element longer than max_element_bytes (%u)", max_len);
			return false;
		}
	}
	if (!max_n)
		return true;
	if (o)
		card = o->type == CRDT_GSET ? crdt_gset_card(o->gs) : crdt_orset_card(o->os);
	/* an element given twice counts twice: errs on the safe side */
	for (size_t i = 2; i < a->argc; i++)
		fresh += !o || !(o->type == CRDT_GSET ? crdt_gset_contains(o->gs, a->argv[i], a->argl[i])
						       : crdt_orset_contains(o->os, a->argv[i], a->argl[i]));
	if (card + fresh > max_n) {
		resp_error(out, "ERR set would pass max_elements (%u)", max_n);
		return false;
	}
	return true;
}

/* ---- counters ---------------------------------------------------------- */

static int counter_value(const struct crdt_obj *o, int64_t *ret)
{
	return o->type == CRDT_GCOUNTER ? crdt_gcounter_value(o->gc, ret)
					: crdt_pncounter_value(o->pn, ret);
}

static void counter_add(struct daemon *d, const struct cmd_args *a, int64_t by,
			struct crdt_buf *out)
{
	int err;
	struct crdt_obj *o;
	int64_t v;

	if (!may_create(d, a, out))
		return;
	o = lookup_or_create(d, a, CRDT_GCOUNTER, CRDT_PNCOUNTER, CRDT_PNCOUNTER, &err);
	if (!o) {
		reply_crdt_error(out, err);
		return;
	}
	if (by < 0 && o->type == CRDT_GCOUNTER) {
		resp_error(out, "ERR a gcounter can only grow; decrement needs a pncounter");
		return;
	}
	if (by > 0)
		err = o->type == CRDT_GCOUNTER ? crdt_gcounter_inc(o->gc, &d->store.self, by)
					       : crdt_pncounter_inc(o->pn, &d->store.self, by);
	else if (by < 0)
		/* -INT64_MIN does not exist: INT64_MIN is rejected as an overflow */
		err = by == INT64_MIN ? CRDT_EOVERFLOW : crdt_pncounter_dec(o->pn, &d->store.self, -by);
	if (err < 0) {
		reply_crdt_error(out, err);
		return;
	}
	if (by != 0) {
		wrote(d, a, o->type, STORAGE_OP_STATE, NULL, 0, 0);
	}
	if ((err = counter_value(o, &v)) < 0)
		reply_crdt_error(out, err);
	else
		resp_int(out, v);
}

static void cmd_incr(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	counter_add(d, a, 1, out);
}

static void cmd_decr(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	counter_add(d, a, -1, out);
}

static void cmd_incrby(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		       struct crdt_buf *out)
{
	int64_t n;
	if (!arg_int64(a, 2, &n))
		resp_error(out, "ERR value is not an integer or out of range");
	else
		counter_add(d, a, n, out);
}

static void cmd_decrby(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		       struct crdt_buf *out)
{
	int64_t n;
	if (!arg_int64(a, 2, &n) || n == INT64_MIN)
		resp_error(out, "ERR value is not an integer or out of range");
	else
		counter_add(d, a, -n, out);
}

/* ---- registers and GET --------------------------------------------------- */

static void cmd_get(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		    struct crdt_buf *out)
{
	struct store_entry *e = store_find(&d->store, a->argv[1], a->argl[1]);
	enum crdt_type t = e ? store_entry_type(e) : 0;
	const uint8_t *val;
	size_t len;
	int64_t v;
	int err;

	switch ((int)t) {
	case 0:
		resp_null(out);
		break;
	case CRDT_GCOUNTER:
	case CRDT_PNCOUNTER:
		/* a Redis counter is a string holding digits: GET answers a bulk */
		if ((err = counter_value(&e->slot[t], &v)) < 0)
			reply_crdt_error(out, err);
		else
			resp_bulk_int(out, v);
		break;
	case CRDT_LWWREG:
		if (crdt_lwwreg_get(e->slot[t].lww, &val, &len))
			resp_bulk(out, val, len);
		else
			resp_null(out);
		break;
	default:
		resp_error(out, WRONGTYPE);
		break;
	}
}

static void cmd_set(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		    struct crdt_buf *out)
{
	int err;
	struct crdt_obj *o;

	if (a->argc != 3) {
		/* EX, NX, KEEPTTL...: no expiry or conditions in a CRDT register */
		resp_error(out, "ERR syntax error");
		return;
	}
	if (d->cfg.limits.max_value_bytes && a->argl[2] > d->cfg.limits.max_value_bytes) {
		resp_error(out, "ERR value longer than max_value_bytes (%u)",
			   d->cfg.limits.max_value_bytes);
		return;
	}
	if (!may_create(d, a, out))
		return;
	o = lookup_or_create(d, a, CRDT_LWWREG, CRDT_LWWREG, CRDT_LWWREG, &err);
	if (!o || (err = crdt_lwwreg_set(o->lww, &d->hlc, &d->store.self, a->argv[2], a->argl[2])) < 0) {
		reply_crdt_error(out, err);
		return;
	}
	wrote(d, a, CRDT_LWWREG, STORAGE_OP_STATE, o, 0, 0);
	resp_simple(out, "OK");
}

/* ---- sets ------------------------------------------------------------------ */

static void cmd_sadd(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	int err;
	struct crdt_obj *o = lookup(d, a, CRDT_GSET, CRDT_ORSET, &err);
	int64_t added = 0;
	size_t i;

	if (!err && (!set_within_limits(d, a, o, out) || (!o && !may_create(d, a, out))))
		return;
	if (!err)
		o = lookup_or_create(d, a, CRDT_GSET, CRDT_ORSET, CRDT_ORSET, &err);
	if (!o) {
		reply_crdt_error(out, err);
		return;
	}
	for (i = 2; i < a->argc; i++) {
		if (o->type == CRDT_GSET) {
			err = crdt_gset_add(o->gs, a->argv[i], a->argl[i]);
			added += err > 0;
		} else {
			bool had = crdt_orset_contains(o->os, a->argv[i], a->argl[i]);
			err = crdt_orset_add(o->os, &d->store.self, a->argv[i], a->argl[i]);
			added += !had && err == 0;
		}
		if (err < 0)
			break;
	}
	/* the elements added before a failure stay added: store them, tell
	 * the peers */
	wrote(d, a, o->type, o->type == CRDT_GSET ? STORAGE_OP_GSET_ADD : STORAGE_OP_ORSET_ADD,
		NULL, 2, i - 2);
	if (err < 0)
		reply_crdt_error(out, err);
	else
		resp_int(out, added);
}

static void cmd_srem(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	int err;
	struct crdt_obj *o = lookup(d, a, CRDT_GSET, CRDT_ORSET, &err);
	int64_t removed = 0;

	if (err) {
		reply_crdt_error(out, err);
		return;
	}
	if (o && o->type == CRDT_GSET) {
		resp_error(out, "ERR a gset can only grow; removing needs an orset");
		return;
	}
	for (size_t i = 2; o && i < a->argc; i++)
		removed += crdt_orset_remove(o->os, a->argv[i], a->argl[i]) > 0;
	if (removed) {
		/* replaying a remove of an absent element is a no-op: log them all */
		wrote(d, a, CRDT_ORSET, STORAGE_OP_ORSET_REM, NULL, 2, a->argc - 2);
	}
	resp_int(out, removed);
}

struct members_ctx {
	struct crdt_buf *out;
};

static int put_member(const uint8_t *e, size_t len, void *ctx)
{
	resp_bulk(ctx, e, len);
	return 0;
}

static void cmd_smembers(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			 struct crdt_buf *out)
{
	int err;
	struct crdt_obj *o = lookup(d, a, CRDT_GSET, CRDT_ORSET, &err);

	if (err) {
		reply_crdt_error(out, err);
	} else if (!o) {
		resp_array(out, 0);
	} else if (o->type == CRDT_GSET) {
		resp_array(out, (int64_t)crdt_gset_card(o->gs));
		crdt_gset_foreach(o->gs, put_member, out);
	} else {
		resp_array(out, (int64_t)crdt_orset_card(o->os));
		crdt_orset_foreach(o->os, put_member, out);
	}
}

static void cmd_sismember(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			  struct crdt_buf *out)
{
	int err;
	struct crdt_obj *o = lookup(d, a, CRDT_GSET, CRDT_ORSET, &err);

	if (err)
		reply_crdt_error(out, err);
	else if (!o)
		resp_int(out, 0);
	else if (o->type == CRDT_GSET)
		resp_int(out, crdt_gset_contains(o->gs, a->argv[2], a->argl[2]));
	else
		resp_int(out, crdt_orset_contains(o->os, a->argv[2], a->argl[2]));
}

static void cmd_scard(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		      struct crdt_buf *out)
{
	int err;
	struct crdt_obj *o = lookup(d, a, CRDT_GSET, CRDT_ORSET, &err);

	if (err)
		reply_crdt_error(out, err);
	else if (!o)
		resp_int(out, 0);
	else
		resp_int(out, (int64_t)(o->type == CRDT_GSET ? crdt_gset_card(o->gs)
							     : crdt_orset_card(o->os)));
}

/* ---- CRDT.* ---------------------------------------------------------------- */

static void cmd_crdt_create(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			    struct crdt_buf *out)
{
	char name[16];
	enum crdt_type t;
	struct crdt_obj *o;
	int err;

	if (a->argl[2] >= sizeof(name)) {
		resp_error(out, "ERR unknown type; use gcounter, pncounter, gset, orset or lwwreg");
		return;
	}
	memcpy(name, a->argv[2], a->argl[2]);
	name[a->argl[2]] = 0;
	if (crdt_type_parse(name, &t) < 0) {
		resp_error(out, "ERR unknown type '%s'; use gcounter, pncounter, gset, orset or lwwreg",
			   name);
		return;
	}
	if (!may_create(d, a, out))
		return;
	/* creating what is already there is a no-op, like a repeated SADD */
	if ((err = store_get(&d->store, a->argv[1], a->argl[1], t, true, &o)) < 0) {
		reply_crdt_error(out, err);
		return;
	}
	wrote(d, a, t, STORAGE_OP_STATE, o, 0, 0);
	resp_simple(out, "OK");
}

/* CRDT.JSON k: the visible state as JSON; CRDT.INFO k: every type held
 * under the name, with the visible one first. */
static void cmd_crdt_json(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			  struct crdt_buf *out)
{
	struct store_entry *e = store_find(&d->store, a->argv[1], a->argl[1]);
	enum crdt_type t = e ? store_entry_type(e) : 0;
	cJSON *j;
	char *txt;

	if (!t) {
		resp_null(out);
		return;
	}
	if (!(j = crdt_obj_to_json(&e->slot[t])) || !(txt = cJSON_PrintUnformatted(j))) {
		cJSON_Delete(j);
		reply_crdt_error(out, CRDT_ENOMEM);
		return;
	}
	resp_bulk(out, txt, strlen(txt));
	cJSON_free(txt);
	cJSON_Delete(j);
}

static void cmd_crdt_info(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			  struct crdt_buf *out)
{
	struct store_entry *e = store_find(&d->store, a->argv[1], a->argl[1]);
	enum crdt_type vis = e ? store_entry_type(e) : 0;
	cJSON *root, *states;
	char *txt = NULL;

	if (!vis) {
		resp_null(out);
		return;
	}
	root = cJSON_CreateObject();
	states = cJSON_AddArrayToObject(root, "states");
	cJSON_AddStringToObject(root, "name", (const char *)e->name);
	cJSON_AddStringToObject(root, "type", crdt_type_name(vis));
	for (int t = CRDT_TYPE_MIN; states && t <= CRDT_TYPE_MAX; t++)
		if (e->slot[t].p)
			cJSON_AddItemToArray(states, crdt_obj_to_json(&e->slot[t]));
	cJSON_AddBoolToObject(root, "conflict", cJSON_GetArraySize(states) > 1);
	if (root)
		txt = cJSON_PrintUnformatted(root);
	if (txt)
		resp_bulk(out, txt, strlen(txt));
	else
		reply_crdt_error(out, CRDT_ENOMEM);
	cJSON_free(txt);
	cJSON_Delete(root);
}

static void cmd_crdt_sync(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			  struct crdt_buf *out)
{
	char peer[256];
	int r;

	if (a->argc > 2) {
		resp_error(out, "ERR wrong number of arguments for 'crdt.sync' command");
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

static void cmd_crdt_peers(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			   struct crdt_buf *out)
{
	info_peers(d, out);
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

static void sim_status(struct daemon *d, struct crdt_buf *out)
{
	const struct shim_core *c = shim_core(d->shim);
	struct crdt_buf names;

	crdt_buf_init(&names, 0);
	for (size_t i = 0; i < c->nblocks; i++) {
		if (i)
			crdt_buf_put(&names, " ", 1);
		crdt_buf_put(&names, c->blocks[i].name, strlen(c->blocks[i].name));
	}
	resp_array(out, 32);
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
	resp_bulk_str(out, "seed");
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
static void cmd_crdt_sim(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
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
	if (arg_is(a, 1, "status") && a->argc == 2) {
		sim_status(d, out);
		return;
	}
	if (arg_is(a, 1, "isolate") && a->argc == 2) {
		shim_isolate(d->shim);
		resp_simple(out, "OK");
		return;
	}
	if (arg_is(a, 1, "heal") && a->argc == 2) {
		shim_heal(d->shim);
		resp_simple(out, "OK");
		return;
	}
	if (arg_is(a, 1, "partition") && a->argc >= 3) {
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
	if (arg_is(a, 1, "latency") && a->argc == 4) {
		if (!arg_int64(a, 2, &lo) || !arg_int64(a, 3, &hi) || lo < 0 || lo > hi ||
		    hi > SHIM_LATENCY_MAX_MS) {
			resp_error(out, "ERR latency must be MIN MAX in ms, 0 <= MIN <= MAX <= %d",
				   SHIM_LATENCY_MAX_MS);
			return;
		}
		set.latency_min_ms = (uint32_t)lo;
		set.latency_max_ms = (uint32_t)hi;
	} else if (a->argc == 3 && arg_is(a, 1, "loss")) {
		field = &set.loss;
	} else if (a->argc == 3 && arg_is(a, 1, "duplicate")) {
		field = &set.duplicate;
	} else if (a->argc == 3 && arg_is(a, 1, "reorder")) {
		field = &set.reorder;
	} else if (a->argc == 3 && arg_is(a, 1, "partition_probability")) {
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

static void cmd_ping(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	if (a->argc > 2)
		resp_error(out, "ERR wrong number of arguments for 'ping' command");
	else if (a->argc == 2)
		resp_bulk(out, a->argv[1], a->argl[1]);
	else
		resp_simple(out, "PONG");
}

static void cmd_echo(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	resp_bulk(out, a->argv[1], a->argl[1]);
}

/* AUTH password | AUTH default password, as Redis with requirepass. */
static void cmd_auth(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	const char *pass = d->cfg.node.requirepass;
	uint8_t want[32], got[32];
	size_t i = a->argc - 1; /* the password */

	if (a->argc > 3) {
		resp_error(out, "ERR syntax error");
		return;
	}
	if (!*pass) {
		resp_error(out, "ERR AUTH <password> called without any password configured for the "
				"default user. Are you sure your configuration is correct?");
		return;
	}
	/* Equal-length digests compared in constant time: neither the
	 * password's length nor its first wrong byte shows in the timing. */
	crypto_generichash(want, sizeof(want), (const uint8_t *)pass, strlen(pass), NULL, 0);
	crypto_generichash(got, sizeof(got), a->argv[i], a->argl[i], NULL, 0);
	if ((a->argc == 3 && !arg_is(a, 1, "default")) || crypto_verify_32(want, got) != 0) {
		d->stats.auth_failures++;
		resp_error(out, "WRONGPASS invalid username-password pair or user is disabled.");
		return;
	}
	s->authenticated = 1;
	resp_simple(out, "OK");
}

static void cmd_quit(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	s->close_after_reply = 1;
	resp_simple(out, "OK");
}

static void cmd_type(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	struct store_entry *e = store_find(&d->store, a->argv[1], a->argl[1]);
	enum crdt_type t = e ? store_entry_type(e) : 0;
	resp_simple(out, t ? crdt_type_name(t) : "none");
}

static void cmd_exists(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		       struct crdt_buf *out)
{
	int64_t n = 0;
	for (size_t i = 1; i < a->argc; i++) {
		struct store_entry *e = store_find(&d->store, a->argv[i], a->argl[i]);
		n += e && store_entry_type(e);
	}
	resp_int(out, n);
}

struct keys_ctx {
	const struct cmd_args *a;
	size_t pat; /* argument index of the pattern, 0 for none */
	enum crdt_type type; /* 0 for any */
	struct crdt_buf *out;
	int64_t n;
};

static int put_key(struct store_entry *e, void *ctx)
{
	struct keys_ctx *k = ctx;
	if (k->pat && !glob_match(k->a->argv[k->pat], k->a->argl[k->pat], e->name, e->name_len))
		return 0;
	if (k->type && store_entry_type(e) != k->type)
		return 0;
	resp_bulk(k->out, e->name, e->name_len);
	k->n++;
	return 0;
}

/* The matching keys as an array; the count is known only at the end, so
 * the elements go to a side buffer first. */
static void reply_keys(struct daemon *d, struct keys_ctx *k, struct crdt_buf *out)
{
	struct crdt_buf body;

	crdt_buf_init(&body, 0);
	k->out = &body;
	store_foreach(&d->store, put_key, k);
	if (body.err) {
		resp_error(out, "ERR out of memory");
	} else {
		resp_array(out, k->n);
		crdt_buf_put(out, body.data, body.len);
	}
	crdt_buf_done(&body);
}

static void cmd_keys(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	struct keys_ctx k = { .a = a, .pat = 1 };
	reply_keys(d, &k, out);
}

/* SCAN answers the whole keyspace in one reply with cursor 0: a valid SCAN
 * by Redis' contract (COUNT is a hint), and the keyspace of a CRDT daemon is
 * bounded by max_instances. */
static void cmd_scan(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	struct keys_ctx k = { .a = a };
	int64_t cursor, count;
	char tname[16];

	if (!arg_int64(a, 1, &cursor) || cursor < 0) {
		resp_error(out, "ERR invalid cursor");
		return;
	}
	for (size_t i = 2; i < a->argc; i += 2) {
		if (i + 1 >= a->argc) {
			resp_error(out, "ERR syntax error");
			return;
		}
		if (arg_is(a, i, "match")) {
			k.pat = i + 1;
		} else if (arg_is(a, i, "count")) {
			if (!arg_int64(a, i + 1, &count) || count < 1) {
				resp_error(out, "ERR value is not an integer or out of range");
				return;
			}
		} else if (arg_is(a, i, "type")) {
			size_t n = a->argl[i + 1] < sizeof(tname) - 1 ? a->argl[i + 1] : sizeof(tname) - 1;
			memcpy(tname, a->argv[i + 1], n);
			tname[n] = 0;
			if (crdt_type_parse(tname, &k.type) < 0) {
				resp_array(out, 2);
				resp_bulk(out, "0", 1);
				resp_array(out, 0);
				return;
			}
		} else {
			resp_error(out, "ERR syntax error");
			return;
		}
	}
	resp_array(out, 2);
	resp_bulk(out, "0", 1);
	reply_keys(d, &k, out);
}

static int count_key(struct store_entry *e, void *ctx)
{
	(*(int64_t *)ctx)++;
	return 0;
}

static void cmd_dbsize(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		       struct crdt_buf *out)
{
	int64_t n = 0;
	store_foreach(&d->store, count_key, &n);
	resp_int(out, n);
}

static void cmd_info(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
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

/* Commands that only make sense to Redis but that clients send on their
 * own: answer them harmlessly. */
static void cmd_select(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		       struct crdt_buf *out)
{
	if (arg_is(a, 1, "0"))
		resp_simple(out, "OK");
	else
		resp_error(out, "ERR DB index is out of range");
}

/* CONFIG GET answers the few parameters clients ask about at start-up
 * (redis-benchmark asks for save and appendonly) with what is true of crdtd;
 * settings live in the ini file, so CONFIG SET is refused. */
static void cmd_config(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		       struct crdt_buf *out)
{
	char maxclients[24];
	const char *params[][2] = {
		{ "save", "" },
		{ "appendonly", "no" },
		{ "databases", "1" },
		{ "maxclients", maxclients },
	};
	size_t n = 0;

	if (!arg_is(a, 1, "get") || a->argc != 3) {
		resp_error(out, "ERR CONFIG %s is not supported; edit the ini file and send SIGHUP",
			   arg_is(a, 1, "set") ? "SET" : "subcommand");
		return;
	}
	snprintf(maxclients, sizeof(maxclients), "%u", d->cfg.node.max_clients);
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++)
		n += glob_match(a->argv[2], a->argl[2], (const uint8_t *)params[i][0],
				strlen(params[i][0]));
	resp_array(out, 2 * n);
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		if (glob_match(a->argv[2], a->argl[2], (const uint8_t *)params[i][0],
			       strlen(params[i][0]))) {
			resp_bulk_str(out, params[i][0]);
			resp_bulk_str(out, params[i][1]);
		}
	}
}

static void cmd_client(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		       struct crdt_buf *out)
{
	if (arg_is(a, 1, "setname") || arg_is(a, 1, "setinfo"))
		resp_simple(out, "OK");
	else if (arg_is(a, 1, "getname"))
		resp_null(out);
	else
		resp_error(out, "ERR unknown subcommand for 'client'");
}

static void cmd_command(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			struct crdt_buf *out);

/* Sorted by name for bsearch. */
static const struct cmd commands[] = {
	{ "auth", -2, cmd_auth, "fast" },
	{ "client", -2, cmd_client, "admin" },
	{ "command", -1, cmd_command, "loading" },
	{ "config", -2, cmd_config, "admin" },
	{ "crdt.create", 3, cmd_crdt_create, "write" },
	{ "crdt.info", 2, cmd_crdt_info, "readonly" },
	{ "crdt.json", 2, cmd_crdt_json, "readonly" },
	{ "crdt.peers", 1, cmd_crdt_peers, "readonly" },
	{ "crdt.sim", -2, cmd_crdt_sim, "admin" },
	{ "crdt.sync", -1, cmd_crdt_sync, "admin" },
	{ "dbsize", 1, cmd_dbsize, "readonly" },
	{ "decr", 2, cmd_decr, "write" },
	{ "decrby", 3, cmd_decrby, "write" },
	{ "echo", 2, cmd_echo, "fast" },
	{ "exists", -2, cmd_exists, "readonly" },
	{ "get", 2, cmd_get, "readonly" },
	{ "incr", 2, cmd_incr, "write" },
	{ "incrby", 3, cmd_incrby, "write" },
	{ "info", -1, cmd_info, "loading" },
	{ "keys", 2, cmd_keys, "readonly" },
	{ "ping", -1, cmd_ping, "fast" },
	{ "quit", -1, cmd_quit, "fast" },
	{ "sadd", -3, cmd_sadd, "write" },
	{ "scan", -2, cmd_scan, "readonly" },
	{ "scard", 2, cmd_scard, "readonly" },
	{ "select", 2, cmd_select, "fast" },
	{ "set", -3, cmd_set, "write" },
	{ "sismember", 3, cmd_sismember, "readonly" },
	{ "smembers", 2, cmd_smembers, "readonly" },
	{ "srem", -3, cmd_srem, "write" },
	{ "type", 2, cmd_type, "readonly" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct cmd *find_command(const uint8_t *name, size_t len)
{
	size_t lo = 0, hi = NCOMMANDS;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *cn = commands[mid].name;
		size_t cl = strlen(cn);
		int c = strncasecmp(cn, (const char *)name, len < cl ? len : cl);
		if (c == 0)
			c = (cl > len) - (cl < len);
		if (c == 0)
			return &commands[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void put_command_info(struct crdt_buf *out, const struct cmd *c)
{
	bool keyed = c->fn != cmd_ping && c->fn != cmd_echo && c->fn != cmd_quit &&
		     c->fn != cmd_info && c->fn != cmd_command && c->fn != cmd_dbsize &&
		     c->fn != cmd_keys && c->fn != cmd_scan && c->fn != cmd_select &&
		     c->fn != cmd_config && c->fn != cmd_client && c->fn != cmd_crdt_peers &&
		     c->fn != cmd_crdt_sync && c->fn != cmd_crdt_sim && c->fn != cmd_auth;
	resp_array(out, 6);
	resp_bulk(out, c->name, strlen(c->name));
	resp_int(out, c->arity);
	resp_array(out, 1);
	resp_simple(out, c->flags);
	resp_int(out, keyed);
	resp_int(out, keyed ? (c->fn == cmd_exists ? -1 : 1) : 0);
	resp_int(out, keyed);
}

static void cmd_command(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			struct crdt_buf *out)
{
	if (a->argc == 1) {
		resp_array(out, NCOMMANDS);
		for (size_t i = 0; i < NCOMMANDS; i++)
			put_command_info(out, &commands[i]);
	} else if (arg_is(a, 1, "count")) {
		resp_int(out, NCOMMANDS);
	} else if (arg_is(a, 1, "docs")) {
		/* redis-cli asks at start-up for its hints; having none is fine */
		resp_array(out, 0);
	} else if (arg_is(a, 1, "info")) {
		resp_array(out, (int64_t)a->argc - 2);
		for (size_t i = 2; i < a->argc; i++) {
			const struct cmd *c = find_command(a->argv[i], a->argl[i]);
			if (c)
				put_command_info(out, c);
			else
				resp_null_array(out);
		}
	} else {
		resp_error(out, "ERR unknown subcommand or wrong number of arguments for 'command'");
	}
}

/* Printable, bounded copy of a client-sent word for an error message. */
static void quote_arg(const uint8_t *p, size_t len, char *out, size_t size)
{
	size_t j = 0;
	for (size_t i = 0; i < len && j + 5 < size; i++)
		j += (size_t)snprintf(out + j, size - j, p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\''
						      ? "%c" : "\\x%02x", p[i]);
	out[j] = 0;
}

void commands_exec(struct daemon *d, struct cmd_session *sess, const struct cmd_args *a,
		   struct crdt_buf *out)
{
	const struct cmd *c = find_command(a->argv[0], a->argl[0]);
	size_t before = out->len;

	d->stats.commands++;
	if (d->cfg.node.requirepass[0] && !sess->authenticated &&
	    (!c || (c->fn != cmd_auth && c->fn != cmd_quit))) {
		/* before AUTH, nothing else: not even whether a command exists */
		resp_error(out, "NOAUTH Authentication required.");
	} else if (!c) {
		char name[128];
		quote_arg(a->argv[0], a->argl[0], name, sizeof(name));
		resp_error(out, "ERR unknown command '%s', with args beginning with: ", name);
	} else if ((c->arity > 0 && a->argc != (size_t)c->arity) ||
		   (c->arity < 0 && a->argc < (size_t)-c->arity)) {
		resp_error(out, "ERR wrong number of arguments for '%s' command", c->name);
	} else if (strcmp(c->flags, "write") == 0 && /* every write names its key first */
		   d->cfg.limits.max_name_bytes && a->argl[1] > d->cfg.limits.max_name_bytes) {
		resp_error(out, "ERR key longer than max_name_bytes (%u)", d->cfg.limits.max_name_bytes);
	} else {
		c->fn(d, sess, a, out);
	}
	if (out->len > before && out->data[before] == '-')
		d->stats.errors_replied++;
}
