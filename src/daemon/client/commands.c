/* Command handlers.  Each checks its arguments, acts on the store and writes
 * exactly one reply.  Replies and errors follow Redis wording wherever the
 * semantics match, so Redis clients and their error handling just work. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "client/cmd.h"
#include "client/commands.h"
#include "crdt/error.h"
#include "crdt/json.h"
#include "crdt/obj.h"
#include "daemon.h"
#include "client/glob.h"
#include "gossip/gossip.h"
#include "client/info.h"
#include "client/resp.h"
#include "state/journal.h"
#include "gossip/shim.h"

#define WRONGTYPE "WRONGTYPE Operation against a key holding the wrong kind of value"

struct cmd {
	const char *name;
	int arity; /* Redis style: n exact, -n at least n (name included) */
	cmd_fn fn;
	const char *flags; /* for COMMAND: "write", "readonly", ... */
};

static void quote_arg(const uint8_t *p, size_t len, char *out, size_t size);

bool cmd_arg_is(const struct cmd_args *a, size_t i, const char *s)
{
	return a->argl[i] == strlen(s) && strncasecmp((const char *)a->argv[i], s, a->argl[i]) == 0;
}

/* Redis' rules for an integer argument: optional '-', digits, no spaces,
 * within int64. */
bool cmd_arg_int64(const struct cmd_args *a, size_t i, int64_t *ret)
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
	return store_entry_slot(e, t);
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

/* After a local write to slot @t of key a->argv[1]: announce it on the
 * store's change stream (state/store.h), which journals it and queues it for
 * the push: @op with the elements argv[first, first + n), or a small state
 * that merges to the result. */
static void wrote_delta(struct daemon *d, const struct cmd_args *a, enum crdt_type t,
			enum store_op op, const struct crdt_obj *state, size_t first, size_t n,
			const struct crdt_obj *delta, bool joined)
{
	struct store_entry *e = store_find(&d->store, a->argv[1], a->argl[1]);

	if (e)
		store_changed(&d->store, e, t,
			      &(struct store_change){ .op = op, .state = state, .n = n,
						      .elems = a->argv + first,
						      .lens = a->argl + first, .delta = delta,
						      .joined = joined });
}

static void wrote(struct daemon *d, const struct cmd_args *a, enum crdt_type t, enum store_op op,
		  const struct crdt_obj *state, size_t first, size_t n)
{
	wrote_delta(d, a, t, op, state, first, n, NULL, false);
}

/* The set that an OR-Set write to key a->argv[1] joins its delta into
 * (store_delta): the one a subscriber keeps (*@joined), or @own, made here
 * when they need the write's own; NULL when nobody needs it. */
static struct crdt_orset *delta_into(struct daemon *d, const struct cmd_args *a,
				     struct crdt_obj *own, bool *joined)
{
	struct store_entry *e = store_find(&d->store, a->argv[1], a->argl[1]);
	struct crdt_obj *acc;
	bool want;

	*joined = false;
	if (!e)
		return NULL;
	if ((acc = store_delta(&d->store, e, CRDT_ORSET, &want))) {
		*joined = true;
		return acc->os;
	}
	return want && crdt_obj_new(CRDT_ORSET, own) == 0 ? own->os : NULL;
}

/* ---- limits ([limits], docs/configuration.md) ------------------------------ */

/* The rules live in gossip.c (gossip_limit_*), shared with what gossip
 * checks of remote state; here a write past one is refused, nothing
 * applied, with the reason as the error. */
static const struct gossip_limits *limits(struct daemon *d)
{
	static const struct gossip_limits none;
	return d->gossip ? gossip_get_limits(d->gossip) : &none;
}

/* A write of type @t to key a->argv[1]: its name fits, and a write that
 * would create the name is refused once max_instances names are held.
 * False (with the error replied) when refused. */
static bool may_write(struct daemon *d, const struct cmd_args *a, enum crdt_type t,
		      struct crdt_buf *out)
{
	char why[200];

	if (store_name_reserved(a->argv[1], a->argl[1])) {
		resp_error(out, "ERR key names starting with the bytes 0xff 'ttl:' are reserved "
				"for the deadlines of keys");
		return false;
	}
	if (gossip_limit_name(limits(d), t, a->argl[1], why, sizeof(why)) < 0 ||
	    (!store_find(&d->store, a->argv[1], a->argl[1]) &&
	     gossip_limit_instances(limits(d), d->store.len, why, sizeof(why)) < 0)) {
		resp_error(out, "ERR %s", why);
		return false;
	}
	return true;
}

bool cmd_may_reply_count(struct daemon *d, uint64_t count, size_t min_bytes, bool hash,
			 struct crdt_buf *out)
{
	size_t max = hash ? d->cfg.limits.max_hash_fields : d->cfg.limits.max_elements;

	if (max && count > max) {
		resp_error(out, "ERR count is larger than %s (%zu): a reply holds at most as many %s "
				"as a %s may hold",
			   hash ? "max_hash_fields" : "max_elements", max, hash ? "fields" : "members",
			   hash ? "hash" : "set");
		return false;
	}
	if (out->max != SIZE_MAX && count > (out->max - out->len) / min_bytes) {
		resp_error(out, "ERR count is too large: the reply would pass the client output "
				"buffer hard limit (%zu bytes)", out->max);
		return false;
	}
	return true;
}

/* SADD's elements a->argv[2..]: each within max_element_bytes and one
 * datagram, and the set within max_elements after adding those it lacks.
 * @o may be NULL (a new set). */
static bool set_within_limits(struct daemon *d, const struct cmd_args *a, const struct crdt_obj *o,
			      struct crdt_buf *out)
{
	const struct gossip_limits *lim = limits(d);
	enum crdt_type t = o ? o->type : CRDT_ORSET;
	size_t card = 0, fresh = 0;
	char why[200];

	for (size_t i = 2; i < a->argc; i++) {
		if (gossip_limit_element(lim, t, a->argl[1], a->argl[i], why, sizeof(why)) < 0) {
			resp_error(out, "ERR %s", why);
			return false;
		}
	}
	if (!lim->max_elements)
		return true;
	if (o)
		card = crdt_obj_card(o);
	if (card + (a->argc - 2) <= lim->max_elements)
		return true; /* within it even if every element is new: no lookups */
	/* an element given twice counts twice: errs on the safe side */
	for (size_t i = 2; i < a->argc; i++)
		fresh += !o || !crdt_obj_contains(o, a->argv[i], a->argl[i]);
	if (gossip_limit_card(lim, card + fresh, why, sizeof(why)) < 0) {
		resp_error(out, "ERR %s", why);
		return false;
	}
	return true;
}

/* What the other command files share (client/cmd.h). */
void cmd_reply_crdt_error(struct crdt_buf *out, int err)
{
	reply_crdt_error(out, err);
}

bool cmd_may_write(struct daemon *d, const struct cmd_args *a, enum crdt_type t,
		   struct crdt_buf *out)
{
	return may_write(d, a, t, out);
}

void cmd_wrote_state(struct daemon *d, const struct cmd_args *a, enum crdt_type t,
		     const struct crdt_obj *state)
{
	wrote(d, a, t, STORE_OP_STATE, state, 0, 0);
}

const struct gossip_limits *cmd_limits(struct daemon *d)
{
	return limits(d);
}

/* ---- counters ---------------------------------------------------------- */

static void counter_add(struct daemon *d, const struct cmd_args *a, int64_t by,
			struct crdt_buf *out)
{
	int err;
	struct crdt_obj *o;
	int64_t v;

	o = lookup(d, a, CRDT_GCOUNTER, CRDT_PNCOUNTER, &err);
	if (!err && !may_write(d, a, o ? o->type : CRDT_PNCOUNTER, out))
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
		wrote(d, a, o->type, STORE_OP_STATE, NULL, 0, 0);
	}
	if ((err = crdt_obj_value(o, &v)) < 0)
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
	if (!cmd_arg_int64(a, 2, &n))
		resp_error(out, "ERR value is not an integer or out of range");
	else
		counter_add(d, a, n, out);
}

/* INCRBYFLOAT: refused, saying why (as HINCRBYFLOAT). */
static void cmd_incrbyfloat(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			    struct crdt_buf *out)
{
	resp_error(out, "ERR INCRBYFLOAT cannot converge: there is no convergent float counter "
			"(float increments merged in different orders round differently); use "
			"INCRBY with integer units");
}

static void cmd_decrby(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		       struct crdt_buf *out)
{
	int64_t n;
	if (!cmd_arg_int64(a, 2, &n))
		resp_error(out, "ERR value is not an integer or out of range");
	else if (n == INT64_MIN) /* its negation is no int64: Redis 7's words */
		resp_error(out, "ERR decrement would overflow");
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
		resp_nil(out, s->proto);
		break;
	case CRDT_GCOUNTER:
	case CRDT_PNCOUNTER:
		/* a Redis counter is a string holding digits: GET answers a bulk */
		if ((err = crdt_obj_value(store_entry_slot(e, t), &v)) < 0)
			reply_crdt_error(out, err);
		else
			resp_bulk_int(out, v);
		break;
	case CRDT_LWWREG:
		if (crdt_lwwreg_get(store_entry_slot(e, t)->lww, &val, &len))
			resp_bulk(out, val, len);
		else
			resp_nil(out, s->proto);
		break;
	default:
		resp_error(out, WRONGTYPE);
		break;
	}
}

void cmd_set(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	     struct crdt_buf *out)
{
	int err;
	struct crdt_obj *o;
	char why[200];
	struct cmd_set_expiry x;

	/* EX, PX, EXAT, PXAT, KEEPTTL; NX, XX, GET...: no conditions in a
	 * CRDT register (syntax error) */
	if (cmd_set_parse_expiry(a, 3, &x, out) < 0 || (x.deadline && !cmd_may_expire(d, a, out)))
		return;
	if (gossip_limit_element(limits(d), CRDT_LWWREG, a->argl[1], a->argl[2], why,
				 sizeof(why)) < 0) {
		resp_error(out, "ERR %s", why);
		return;
	}
	if (!may_write(d, a, CRDT_LWWREG, out))
		return;
	o = lookup_or_create(d, a, CRDT_LWWREG, CRDT_LWWREG, CRDT_LWWREG, &err);
	if (!o || (err = crdt_lwwreg_set(o->lww, &d->hlc, &d->store.self, a->argv[2], a->argl[2])) < 0) {
		reply_crdt_error(out, err);
		return;
	}
	wrote(d, a, CRDT_LWWREG, STORE_OP_STATE, o, 0, 0);
	if ((err = cmd_set_apply_expiry(d, a, &x)) < 0) {
		reply_crdt_error(out, err == -ENOMEM ? CRDT_ENOMEM : err);
		return;
	}
	resp_simple(out, "OK");
}

/* ---- sets ------------------------------------------------------------------ */

/* Room for @n more elements in @s at once, before a SADD of @n members:
 * one growth of its table instead of one each time it fills, every element
 * placed again each time (half of a 10,000-member SADD's time); a table of
 * 2 MiB and more is made ready a huge page a call as the set grows
 * (crdt_orset_reserve_for).  Without memory the adds grow it as usual. */
static void set_room(struct crdt_orset *s, size_t n)
{
	if (s && n > 1)
		(void)crdt_orset_reserve_for(s, 0, (uint64_t)crdt_orset_card(s) + n);
}

static void cmd_sadd(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	int err;
	struct crdt_obj *o = lookup(d, a, CRDT_GSET, CRDT_ORSET, &err);
	int64_t added = 0;
	size_t i;

	if (!err && (!may_write(d, a, o ? o->type : CRDT_ORSET, out) ||
		     !set_within_limits(d, a, o, out)))
		return;
	if (!err)
		o = lookup_or_create(d, a, CRDT_GSET, CRDT_ORSET, CRDT_ORSET, &err);
	if (!o) {
		reply_crdt_error(out, err);
		return;
	}
	/* an OR-Set write also yields its delta (crdt_orset_add_delta), for
	 * gossip; without memory for it the write goes whole */
	struct crdt_obj delta = { 0 };
	bool joined = false;
	struct crdt_orset *into = o->type == CRDT_ORSET ? delta_into(d, a, &delta, &joined) : NULL;
	if (o->type == CRDT_ORSET) {
		set_room(o->os, a->argc - 2);
		set_room(into, a->argc - 2);
	}
	for (i = 2; i < a->argc; i++) {
		if (o->type == CRDT_GSET) {
			err = crdt_gset_add(o->gs, a->argv[i], a->argl[i]);
			added += err > 0;
		} else {
			/* new if the set grew: no lookup of its own (an add
			 * looks the element up, and its delta once more) */
			size_t card = crdt_orset_card(o->os);
			if (into) {
				err = crdt_orset_add_delta(o->os, &d->store.self, a->argv[i],
							   a->argl[i], into);
				if (err > 0) { /* added, but the delta missed it */
					into = NULL;
					err = 0;
				}
			} else {
				err = crdt_orset_add(o->os, &d->store.self, a->argv[i], a->argl[i]);
			}
			added += err == 0 && crdt_orset_card(o->os) > card;
		}
		if (err < 0)
			break;
	}
	/* the elements added before a failure stay added: store them, tell
	 * the peers */
	wrote_delta(d, a, o->type, o->type == CRDT_GSET ? STORE_OP_GSET_ADD : STORE_OP_ORSET_ADD,
		    NULL, 2, i - 2, into && !joined ? &delta : NULL, into && joined);
	crdt_obj_done(&delta);
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
	struct crdt_obj delta = { 0 };
	struct crdt_orset *into = NULL;
	bool asked = false, joined = false;
	for (size_t i = 2; o && i < a->argc; i++) {
		int r;
		if (!asked && crdt_orset_contains(o->os, a->argv[i], a->argl[i])) {
			/* asked at the first removal: a write that removes
			 * nothing is not announced, so leaves no delta */
			into = delta_into(d, a, &delta, &joined);
			asked = true;
		}
		r = into ? crdt_orset_remove_delta(o->os, a->argv[i], a->argl[i], into)
			 : crdt_orset_remove(o->os, a->argv[i], a->argl[i]);
		if (r == 2)
			into = NULL; /* removed, but the delta missed it */
		removed += r > 0;
	}
	if (removed) {
		/* replaying a remove of an absent element is a no-op: log them all */
		wrote_delta(d, a, CRDT_ORSET, STORE_OP_ORSET_REM, NULL, 2, a->argc - 2,
			    into && !joined ? &delta : NULL, into && joined);
	}
	crdt_obj_done(&delta);
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
		resp_set(out, 0, s->proto);
	} else {
		resp_set(out, crdt_obj_card(o), s->proto);
		crdt_obj_foreach(o, put_member, out);
	}
}

static void cmd_sismember(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			  struct crdt_buf *out)
{
	int err;
	struct crdt_obj *o = lookup(d, a, CRDT_GSET, CRDT_ORSET, &err);

	if (err)
		reply_crdt_error(out, err);
	else
		resp_int(out, o && crdt_obj_contains(o, a->argv[2], a->argl[2]));
}

static void cmd_scard(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		      struct crdt_buf *out)
{
	int err;
	struct crdt_obj *o = lookup(d, a, CRDT_GSET, CRDT_ORSET, &err);

	if (err)
		reply_crdt_error(out, err);
	else
		resp_int(out, o ? (int64_t)crdt_obj_card(o) : 0);
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
		resp_error(out, "ERR unknown type; use gcounter, pncounter, gset, orset, lwwreg or ormap");
		return;
	}
	memcpy(name, a->argv[2], a->argl[2]);
	name[a->argl[2]] = 0;
	if (crdt_type_parse(name, &t) < 0) {
		resp_error(out, "ERR unknown type '%s'; use gcounter, pncounter, gset, orset, lwwreg or ormap",
			   name);
		return;
	}
	if (!may_write(d, a, t, out))
		return;
	/* creating what is already there is a no-op, like a repeated SADD */
	if ((err = store_get(&d->store, a->argv[1], a->argl[1], t, true, &o)) < 0) {
		reply_crdt_error(out, err);
		return;
	}
	wrote(d, a, t, STORE_OP_STATE, o, 0, 0);
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
		resp_nil(out, s->proto);
		return;
	}
	if (!(j = crdt_obj_to_json(store_entry_slot(e, t))) || !(txt = cJSON_PrintUnformatted(j))) {
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
	int live = 0;
	char *txt = NULL;

	if (!vis) {
		resp_nil(out, s->proto);
		return;
	}
	root = cJSON_CreateObject();
	states = cJSON_AddArrayToObject(root, "states");
	cJSON_AddStringToObject(root, "name", (const char *)e->name);
	cJSON_AddStringToObject(root, "type", crdt_type_name(vis));
	for (int t = CRDT_TYPE_MIN; states && t <= CRDT_TYPE_MAX; t++)
		if (store_entry_slot(e, t)) {
			cJSON_AddItemToArray(states, crdt_obj_to_json(store_entry_slot(e, t)));
			live += crdt_obj_live(store_entry_slot(e, t));
		}
	/* a deleted type is listed, but conflicts with nothing */
	cJSON_AddBoolToObject(root, "conflict", live > 1);
	if (root)
		txt = cJSON_PrintUnformatted(root);
	if (txt)
		resp_bulk(out, txt, strlen(txt));
	else
		reply_crdt_error(out, CRDT_ENOMEM);
	cJSON_free(txt);
	cJSON_Delete(root);
}

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

#define WRONGPASS "WRONGPASS invalid username-password pair or user is disabled."

/* Whether argument @pass is [node] requirepass, the password of the only
 * user, "default"; @user is its argument index, 0 when not given.  Without
 * requirepass the default user takes any password, as Redis' "nopass".  A
 * failure is counted. */
static bool login_ok(struct daemon *d, const struct cmd_args *a, size_t user, size_t pass)
{
	const char *want_pass = d->cfg.node.requirepass;
	uint8_t want[32], got[32];
	bool ok;

	/* Equal-length digests compared in constant time: neither the
	 * password's length nor its first wrong byte shows in the timing. */
	crypto_generichash(want, sizeof(want), (const uint8_t *)want_pass, strlen(want_pass), NULL, 0);
	crypto_generichash(got, sizeof(got), a->argv[pass], a->argl[pass], NULL, 0);
	ok = (!user || cmd_arg_is(a, user, "default")) &&
	     (!*want_pass || crypto_verify_32(want, got) == 0);
	if (!ok)
		d->stats.auth_failures++;
	return ok;
}

/* AUTH password | AUTH default password, as Redis with requirepass. */
static void cmd_auth(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	if (a->argc > 3) {
		resp_error(out, "ERR syntax error");
		return;
	}
	if (!d->cfg.node.requirepass[0]) {
		resp_error(out, "ERR AUTH <password> called without any password configured for the "
				"default user. Are you sure your configuration is correct?");
		return;
	}
	if (!login_ok(d, a, a->argc == 3 ? 1 : 0, a->argc - 1)) {
		resp_error(out, WRONGPASS);
		return;
	}
	s->authenticated = 1;
	resp_simple(out, "OK");
}

/* HELLO [protover [AUTH username password] [SETNAME clientname]], as Redis 7:
 * the same checks in the same order, the same errors, and the same map,
 * which in RESP2 is a flat array.  The client name, as CLIENT SETNAME's, is
 * kept once every check passed. */
static void cmd_hello(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		      struct crdt_buf *out)
{
	int64_t ver = 0;
	size_t i = 1, user = 0, name = 0;

	if (a->argc >= 2) {
		if (!cmd_arg_int64(a, 1, &ver)) {
			resp_error(out, "ERR Protocol version is not an integer or out of range");
			return;
		}
		if (ver < RESP_PROTO2 || ver > RESP_PROTO3) {
			resp_error(out, "NOPROTO unsupported protocol version");
			return;
		}
		i = 2;
	}
	for (; i < a->argc; i++) {
		size_t more = a->argc - 1 - i;
		if (cmd_arg_is(a, i, "auth") && more >= 2) {
			user = i + 1;
			i += 2;
		} else if (cmd_arg_is(a, i, "setname") && more >= 1) {
			for (size_t k = 0; k < a->argl[i + 1]; k++) {
				if (a->argv[i + 1][k] < '!' || a->argv[i + 1][k] > '~') {
					resp_error(out, "ERR Client names cannot contain spaces, newlines "
							"or special characters.");
					return;
				}
			}
			if (a->argl[i + 1] > CMD_CLIENT_NAME_MAX) {
				resp_error(out, "ERR Client names are at most %d bytes in crdtd",
					   CMD_CLIENT_NAME_MAX);
				return;
			}
			name = ++i;
		} else {
			char opt[128];
			quote_arg(a->argv[i], a->argl[i], opt, sizeof(opt));
			resp_error(out, "ERR Syntax error in HELLO option '%s'", opt);
			return;
		}
	}
	if (user) {
		if (!login_ok(d, a, user, user + 1)) {
			resp_error(out, WRONGPASS);
			return;
		}
		s->authenticated = 1;
	}
	if (d->cfg.node.requirepass[0] && !s->authenticated) {
		resp_error(out, "NOAUTH HELLO must be called with the client already authenticated, "
				"otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
				"authenticate the client and select the RESP protocol version at the "
				"same time");
		return;
	}
	if (ver)
		s->proto = (int)ver;
	if (name) {
		memcpy(s->name, a->argv[name], a->argl[name]);
		s->name[a->argl[name]] = 0;
	}
	resp_map(out, 7, s->proto);
	resp_bulk_str(out, "server");
	resp_bulk_str(out, "crdtd");
	resp_bulk_str(out, "version");
	resp_bulk_str(out, INFO_REDIS_VERSION);
	resp_bulk_str(out, "proto");
	resp_int(out, s->proto);
	resp_bulk_str(out, "id");
	resp_int(out, (int64_t)s->id);
	resp_bulk_str(out, "mode");
	resp_bulk_str(out, "standalone");
	resp_bulk_str(out, "role");
	resp_bulk_str(out, "master");
	resp_bulk_str(out, "modules");
	resp_array(out, 0);
}

static void cmd_quit(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	s->close_after_reply = 1;
	resp_simple(out, "OK");
}

/* Redis' name for a type, so that clients which switch on TYPE work: a
 * register and a counter are both what Redis calls a string. */
const char *cmd_redis_type_name(enum crdt_type t)
{
	const struct crdt_type_ops *ops = crdt_type_ops(t);

	return ops ? ops->redis_type : "none";
}

static void cmd_type(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	struct store_entry *e = store_find(&d->store, a->argv[1], a->argl[1]);
	enum crdt_type t = e ? store_entry_type(e) : 0;
	resp_simple(out, cmd_redis_type_name(t));
}

/* CRDT.TYPE k: the exact CRDT behind TYPE's Redis name. */
static void cmd_crdt_type(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
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
	const char *rtype;   /* a Redis type name (TYPE), NULL for any */
	struct crdt_buf *out;
	int64_t n;
};

static int put_key(struct store_entry *e, void *ctx)
{
	struct keys_ctx *k = ctx;
	if (k->pat && !glob_match(k->a->argv[k->pat], k->a->argl[k->pat], e->name, e->name_len))
		return 0;
	if (!store_entry_type(e) || (k->type && store_entry_type(e) != k->type))
		return 0; /* deleted, or another type */
	if (k->rtype && strcmp(cmd_redis_type_name(store_entry_type(e)), k->rtype) != 0)
		return 0;
	resp_bulk(k->out, e->name, e->name_len);
	k->n++;
	return 0;
}

/* The matching keys as an array; the count is known only at the end, so
 * the elements go to a side buffer first.  With @count, one step of a scan
 * from @cursor: *@next its next cursor. */
static void reply_keys(struct daemon *d, struct keys_ctx *k, uint64_t cursor, size_t count,
		       uint64_t *next, struct crdt_buf *out)
{
	struct crdt_buf body;

	crdt_buf_init(&body, 0);
	k->out = &body;
	if (count)
		*next = store_scan(&d->store, cursor, count, put_key, k);
	else
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
	reply_keys(d, &k, 0, 0, NULL, out);
}

/* A cursor as redis-server 7.0 reads one (strtoul in base 10 on the
 * argument as a C string): an optional sign and decimal digits, the digits
 * within 64 bits, a minus negating modulo 2^64 ("-1" is a valid cursor, as
 * in Redis); no leading space; the argument ends at its first NUL, so ""
 * and "1\0x" are cursors too. */
int cmd_scan_cursor(const struct cmd_args *a, size_t i, uint64_t *ret, struct crdt_buf *out)
{
	const uint8_t *p = a->argv[i];
	size_t n = a->argl[i], k = 0, digits = 0;
	uint64_t v = 0;
	bool ok = true;

	for (size_t j = 0; j < n; j++)
		if (!p[j]) {
			n = j;
			break;
		}
	if (n && (p[0] == '+' || p[0] == '-'))
		k = 1;
	for (; ok && k < n && p[k] >= '0' && p[k] <= '9'; k++, digits++) {
		unsigned dgt = (unsigned)(p[k] - '0');

		ok = v <= (UINT64_MAX - dgt) / 10;
		v = v * 10 + dgt;
	}
	/* "" is strtoul's 0 with nothing left; a lone sign is no number */
	if (!ok || k != n || (n && !digits)) {
		resp_error(out, "ERR invalid cursor");
		return -1;
	}
	*ret = n && p[0] == '-' ? 0 - v : v;
	return 0;
}

/* The options of SCAN, SSCAN and HSCAN, in Redis' order of checks. */
int cmd_scan_parse(const struct cmd_args *a, size_t cur, enum cmd_scan_kind kind,
		   struct cmd_scan *ret, struct crdt_buf *out)
{
	struct cmd_scan sc = { .count = CMD_SCAN_COUNT };
	int64_t count;

	for (size_t i = cur + 1; i < a->argc; i += 2) {
		if (kind == CMD_SCAN_HASH && cmd_arg_is(a, i, "novalues")) {
			sc.novalues = true;
			i--; /* a flag, without a value */
			continue;
		}
		if (i + 1 >= a->argc) {
			resp_error(out, "ERR syntax error");
			return -1;
		}
		if (cmd_arg_is(a, i, "match")) {
			sc.pat = i + 1;
		} else if (cmd_arg_is(a, i, "count")) {
			if (!cmd_arg_int64(a, i + 1, &count)) {
				resp_error(out, "ERR value is not an integer or out of range");
				return -1;
			}
			if (count < 1) {
				resp_error(out, "ERR syntax error"); /* as Redis */
				return -1;
			}
			sc.count = (uint64_t)count;
		} else if (kind == CMD_SCAN_KEYS && cmd_arg_is(a, i, "type")) {
			sc.type = i + 1;
		} else {
			resp_error(out, "ERR syntax error");
			return -1;
		}
	}
	*ret = sc;
	return 0;
}

static void cmd_scan(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	struct keys_ctx k = { .a = a };
	struct cmd_scan sc;
	struct crdt_buf keys;
	uint64_t cursor, next = 0;
	size_t count = 0;
	char tname[16], nb[24];

	if (cmd_scan_cursor(a, 1, &cursor, out) < 0 ||
	    cmd_scan_parse(a, 1, CMD_SCAN_KEYS, &sc, out) < 0)
		return;
	k.pat = sc.pat;
	if (sc.type) {
		size_t n = a->argl[sc.type] < sizeof(tname) - 1 ? a->argl[sc.type] : sizeof(tname) - 1;
		memcpy(tname, a->argv[sc.type], n);
		tname[n] = 0;
		/* a CRDT name, else a TYPE name (one no key has matches none) */
		if (crdt_type_parse(tname, &k.type) < 0)
			k.rtype = tname;
	}
	/* a small keyspace whole, as Redis's small table answers; else a step */
	if (d->store.len > CMD_SCAN_WHOLE)
		count = sc.count;
	crdt_buf_init(&keys, 0);
	reply_keys(d, &k, cursor, count, &next, &keys);
	if (keys.err || (keys.len && keys.data[0] == '-')) {
		resp_error(out, "ERR out of memory");
	} else {
		resp_array(out, 2);
		resp_bulk(out, nb, (size_t)snprintf(nb, sizeof(nb), "%" PRIu64, next));
		crdt_buf_put(out, keys.data, keys.len);
	}
	crdt_buf_done(&keys);
}

static void cmd_dbsize(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		       struct crdt_buf *out)
{
	struct store_keyspace ks;

	store_keyspace(&d->store, &ks); /* counted as it changes: no walk */
	resp_int(out, (int64_t)ks.keys);
}

/* Commands that only make sense to Redis but that clients send on their
 * own: answer them harmlessly. */
static void cmd_select(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		       struct crdt_buf *out)
{
	if (cmd_arg_is(a, 1, "0"))
		resp_simple(out, "OK");
	else
		resp_error(out, "ERR DB index is out of range");
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
	{ "crdt.type", 2, cmd_crdt_type, "readonly" },
	{ "dbsize", 1, cmd_dbsize, "readonly" },
	{ "decr", 2, cmd_decr, "write" },
	{ "decrby", 3, cmd_decrby, "write" },
	{ "del", -2, cmd_del, "write" },
	{ "discard", 1, cmd_discard, "fast" },
	{ "echo", 2, cmd_echo, "fast" },
	{ "exec", 1, cmd_exec, "slow" },
	{ "exists", -2, cmd_exists, "readonly" },
	{ "expire", -3, cmd_expire, "write" },
	{ "expireat", -3, cmd_expire, "write" },
	{ "expiretime", 2, cmd_expiretime, "readonly" },
	{ "get", 2, cmd_get, "readonly" },
	{ "getdel", 2, cmd_getdel, "write" },
	{ "getex", -2, cmd_getex, "write" },
	{ "getset", 3, cmd_getset, "write" },
	{ "hdel", -3, cmd_hdel, "write" },
	{ "hello", -1, cmd_hello, "fast" },
	{ "hexists", 3, cmd_hexists, "readonly" },
	{ "hget", 3, cmd_hget, "readonly" },
	{ "hgetall", 2, cmd_hgetall, "readonly" },
	{ "hincrby", 4, cmd_hincrby, "write" },
	{ "hincrbyfloat", 4, cmd_hincrbyfloat, "write" },
	{ "hkeys", 2, cmd_hkeys, "readonly" },
	{ "hlen", 2, cmd_hlen, "readonly" },
	{ "hmget", -3, cmd_hmget, "readonly" },
	{ "hmset", -4, cmd_hmset, "write" },
	{ "hrandfield", -2, cmd_hrandfield, "readonly" },
	{ "hscan", -3, cmd_hscan, "readonly" },
	{ "hset", -4, cmd_hset, "write" },
	{ "hsetnx", 4, cmd_hsetnx, "write" },
	{ "hstrlen", 3, cmd_hstrlen, "readonly" },
	{ "hvals", 2, cmd_hvals, "readonly" },
	{ "incr", 2, cmd_incr, "write" },
	{ "incrby", 3, cmd_incrby, "write" },
	{ "incrbyfloat", 3, cmd_incrbyfloat, "write" },
	{ "info", -1, cmd_info, "loading" },
	{ "keys", 2, cmd_keys, "readonly" },
	{ "latency", -2, cmd_latency, "admin" },
	{ "memory", -2, cmd_memory, "readonly" },
	{ "mget", -2, cmd_mget, "readonly" },
	{ "mset", -3, cmd_mset, "write" },
	{ "multi", 1, cmd_multi, "fast" },
	{ "persist", 2, cmd_persist, "write" },
	{ "pexpire", -3, cmd_expire, "write" },
	{ "pexpireat", -3, cmd_expire, "write" },
	{ "pexpiretime", 2, cmd_expiretime, "readonly" },
	{ "ping", -1, cmd_ping, "fast" },
	{ "psetex", 4, cmd_setex, "write" },
	{ "pttl", 2, cmd_ttl, "readonly" },
	{ "quit", -1, cmd_quit, "fast" },
	{ "sadd", -3, cmd_sadd, "write" },
	{ "scan", -2, cmd_scan, "readonly" },
	{ "scard", 2, cmd_scard, "readonly" },
	{ "sdiff", -2, cmd_sdiff, "readonly" },
	{ "sdiffstore", -3, cmd_sdiffstore, "write" },
	{ "select", 2, cmd_select, "fast" },
	{ "set", -3, cmd_set, "write" },
	{ "setex", 4, cmd_setex, "write" },
	{ "sinter", -2, cmd_sinter, "readonly" },
	{ "sinterstore", -3, cmd_sinterstore, "write" },
	{ "sismember", 3, cmd_sismember, "readonly" },
	{ "slowlog", -2, cmd_slowlog, "admin" },
	{ "smembers", 2, cmd_smembers, "readonly" },
	{ "smismember", -3, cmd_smismember, "readonly" },
	{ "smove", 4, cmd_set_diverging, "write" },
	{ "spop", -2, cmd_set_diverging, "write" },
	{ "srandmember", -2, cmd_srandmember, "readonly" },
	{ "srem", -3, cmd_srem, "write" },
	{ "sscan", -3, cmd_sscan, "readonly" },
	{ "sunion", -2, cmd_sunion, "readonly" },
	{ "sunionstore", -3, cmd_sunionstore, "write" },
	{ "time", 1, cmd_time, "fast" },
	{ "ttl", 2, cmd_ttl, "readonly" },
	{ "type", 2, cmd_type, "readonly" },
	{ "unlink", -2, cmd_del, "write" },
	{ "unwatch", 1, cmd_unwatch, "fast" },
	{ "watch", -2, cmd_watch, "fast" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))
_Static_assert(NCOMMANDS <= CMDSTATS_MAX, "client/cmdstats.h has a slot per command");

size_t commands_count(void)
{
	return NCOMMANDS;
}

const char *commands_name(size_t i)
{
	return i < NCOMMANDS ? commands[i].name : "?";
}

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
		     c->fn != cmd_crdt_sync && c->fn != cmd_crdt_sim && c->fn != cmd_auth &&
		     c->fn != cmd_hello && c->fn != cmd_multi && c->fn != cmd_exec &&
		     c->fn != cmd_discard && c->fn != cmd_unwatch && c->fn != cmd_latency &&
		     c->fn != cmd_memory && c->fn != cmd_slowlog && c->fn != cmd_time;
	resp_array(out, 6);
	resp_bulk(out, c->name, strlen(c->name));
	resp_int(out, c->arity);
	resp_array(out, 1);
	resp_simple(out, c->flags);
	bool many = c->fn == cmd_exists || c->fn == cmd_mget || c->fn == cmd_mset ||
		    c->fn == cmd_sunion || c->fn == cmd_sinter || c->fn == cmd_sdiff ||
		    c->fn == cmd_sunionstore || c->fn == cmd_sinterstore || c->fn == cmd_sdiffstore ||
		    c->fn == cmd_watch || c->fn == cmd_del;
	resp_int(out, keyed);
	resp_int(out, keyed ? (many ? -1 : 1) : 0);
	resp_int(out, keyed ? (c->fn == cmd_mset ? 2 : 1) : 0);
}

static void cmd_command(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			struct crdt_buf *out)
{
	if (a->argc == 1) {
		resp_array(out, NCOMMANDS);
		for (size_t i = 0; i < NCOMMANDS; i++)
			put_command_info(out, &commands[i]);
	} else if (cmd_arg_is(a, 1, "count")) {
		resp_int(out, NCOMMANDS);
	} else if (cmd_arg_is(a, 1, "docs")) {
		/* redis-cli asks at start-up for its hints; having none is fine */
		resp_array(out, 0);
	} else if (cmd_arg_is(a, 1, "info")) {
		resp_array(out, (int64_t)a->argc - 2);
		for (size_t i = 2; i < a->argc; i++) {
			const struct cmd *c = find_command(a->argv[i], a->argl[i]);
			if (c)
				put_command_info(out, c);
			else
				resp_nil_array(out, s->proto);
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

/* A command that ran at least [slowlog] log_slower_than_us goes to the slow
 * log; AUTH and HELLO never (their arguments may be the password), nor EXEC:
 * the commands it runs are logged one by one, as Redis does. */
static void maybe_slowlog(struct daemon *d, const struct cmd_session *sess, const struct cmd *c,
			  const struct cmd_args *a, uint64_t usec)
{
	if (usec < d->cfg.slowlog.log_slower_than_us || c->fn == cmd_auth || c->fn == cmd_hello ||
	    c->fn == cmd_exec)
		return;
	/* out of memory: the entry is lost, the command's reply is not */
	(void)slowlog_push(&d->slowlog, d->cfg.slowlog.max_len, (int64_t)time(NULL), usec, a->argc,
			   a->argv, a->argl, sess->addr, sess->name);
}

void commands_exec(struct daemon *d, struct cmd_session *sess, const struct cmd_args *a,
		   struct crdt_buf *out)
{
	const struct cmd *c = find_command(a->argv[0], a->argl[0]);
	size_t before = out->len;
	uint64_t t0 = uv_hrtime(), usec = 0;
	bool refused = true; /* before it could run or be queued */
	bool ran = false, queued = false, failed;
	char why[200];

	d->stats.commands++;
	if (c)
		sess->last_cmd = c->name; /* CLIENT LIST's cmd=, the running one included */
	if (d->cfg.node.requirepass[0] && !sess->authenticated &&
	    (!c || (c->fn != cmd_auth && c->fn != cmd_hello && c->fn != cmd_quit))) {
		/* before AUTH, nothing else: not even whether a command exists
		 * (HELLO may carry the AUTH, and says NOAUTH itself otherwise) */
		resp_error(out, "NOAUTH Authentication required.");
	} else if (!c) {
		char name[128];
		d->cmdstats.unknown++;
		quote_arg(a->argv[0], a->argl[0], name, sizeof(name));
		resp_error(out, "ERR unknown command '%s', with args beginning with: ", name);
	} else if ((c->arity > 0 && a->argc != (size_t)c->arity) ||
		   (c->arity < 0 && a->argc < (size_t)-c->arity)) {
		resp_error(out, "ERR wrong number of arguments for '%s' command", c->name);
	} else if (strcmp(c->flags, "write") == 0 && /* every write names its key first */
		   gossip_limit_name(limits(d), 0, a->argl[1], why, sizeof(why)) < 0) {
		resp_error(out, "ERR %s", why);
	} else {
		refused = false;
		if (cmd_multi_queue(d, sess, a, out)) {
			queued = true;
		} else {
			c->fn(d, sess, a, out);
			ran = true;
		}
	}
	/* one clock read serves both counters and the listener's time slice */
	d->exec_end_ns = uv_hrtime();
	passes_add(&d->passes, PASSES_COMMANDS, d->exec_end_ns - t0);
	if (ran)
		usec = (d->exec_end_ns - t0) / 1000;
	failed = out->len > before && out->data[before] == '-';
	if (failed) {
		d->stats.errors_replied++;
		cmdstats_error(&d->cmdstats, out->data + before + 1, out->len - before - 1);
		if (refused)
			cmd_multi_flag_error(sess); /* inside MULTI: EXEC aborts, as Redis */
	}
	if (c) {
		/* refused and failed apart; a queued command counts when EXEC
		 * runs it (cmdstats.h) */
		if (!queued || failed)
			cmdstats_record(&d->cmdstats, (size_t)(c - commands), c->name, usec,
					!ran ? CMDSTATS_REJECTED
					     : failed ? CMDSTATS_FAILED : CMDSTATS_OK);
		if (ran)
			maybe_slowlog(d, sess, c, a, usec);
	}
}
