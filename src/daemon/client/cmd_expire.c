/* Expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL,
 * EXPIRETIME, PEXPIRETIME, PERSIST, GETEX and SET's EX/PX/EXAT/PXAT/KEEPTTL,
 * over the store's deadlines (state/store.h, docs/types.md "Expiry"). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client/cmd.h"
#include "client/resp.h"
#include "crdt/error.h"
#include "crdt/obj.h"
#include "daemon.h"
#include "gossip/core.h"

static int64_t now_ms(void)
{
	return (int64_t)crdt_clock_realtime(NULL);
}

/* @v in units of @unit_ms, relative to now or absolute, as a deadline in ms;
 * false on overflow. */
static bool to_deadline(int64_t v, int64_t unit_ms, bool at, int64_t *ret)
{
	int64_t base = at ? 0 : now_ms();

	if (v > INT64_MAX / unit_ms || v < INT64_MIN / unit_ms)
		return false;
	v *= unit_ms;
	if ((v > 0 && base > INT64_MAX - v) || (v < 0 && base < INT64_MIN - v))
		return false;
	*ret = base + v;
	return true;
}

/* The command's name as Redis writes it in errors (lower case). */
static void lower_name(const struct cmd_args *a, char *buf, size_t size)
{
	size_t n = a->argl[0] < size - 1 ? a->argl[0] : size - 1;

	for (size_t i = 0; i < n; i++) {
		char c = (char)a->argv[0][i];
		buf[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	buf[n] = 0;
}

/* The deadline of key a->argv[1] is replicated under a name
 * STORE_TTL_PREFIX_LEN bytes longer: it must be within [limits] too, or
 * peers would refuse it.  False with the error replied. */
bool cmd_may_expire(struct daemon *d, const struct cmd_args *a, struct crdt_buf *out)
{
	char why[200];

	if (gossip_limit_name(cmd_limits(d), CRDT_LWWREG, a->argl[1] + STORE_TTL_PREFIX_LEN, why,
			      sizeof(why)) < 0) {
		resp_error(out, "ERR the key's deadline is kept under a name %d bytes longer: %s",
			   STORE_TTL_PREFIX_LEN, why);
		return false;
	}
	return true;
}

static void reply_write_error(struct crdt_buf *out, int r)
{
	if (r == -ENOMEM || r == CRDT_ENOMEM)
		resp_error(out, "OOM command not allowed when used memory > 'maxmemory'");
	else
		cmd_reply_crdt_error(out, r);
}

/* EXPIRE key seconds [NX|XX|GT|LT] and PEXPIRE, EXPIREAT, PEXPIREAT: 1 if
 * the deadline was set (or the key deleted, for one already past), 0 if
 * the key is absent or a condition failed. */
void cmd_expire(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		struct crdt_buf *out)
{
	bool ms = a->argv[0][0] == 'p' || a->argv[0][0] == 'P';
	bool at = a->argl[0] > 2 && (a->argv[0][a->argl[0] - 1] | 0x20) == 't';
	bool nx = false, xx = false, gt = false, lt = false;
	struct store_entry *e;
	enum crdt_type t;
	int64_t v, deadline, cur;
	char name[16];
	int r;

	lower_name(a, name, sizeof(name));
	if (!cmd_arg_int64(a, 2, &v)) {
		resp_error(out, "ERR value is not an integer or out of range");
		return;
	}
	for (size_t i = 3; i < a->argc; i++) {
		if (cmd_arg_is(a, i, "nx"))
			nx = true;
		else if (cmd_arg_is(a, i, "xx"))
			xx = true;
		else if (cmd_arg_is(a, i, "gt"))
			gt = true;
		else if (cmd_arg_is(a, i, "lt"))
			lt = true;
		else {
			resp_error(out, "ERR Unsupported option %.*s",
				   (int)(a->argl[i] > 64 ? 64 : a->argl[i]), (const char *)a->argv[i]);
			return;
		}
	}
	if (nx && (xx || gt || lt)) {
		resp_error(out, "ERR NX and XX, GT or LT options at the same time are not compatible");
		return;
	}
	if (gt && lt) {
		resp_error(out, "ERR GT and LT options at the same time are not compatible");
		return;
	}
	if (!to_deadline(v, ms ? 1 : 1000, at, &deadline)) {
		resp_error(out, "ERR invalid expire time in '%s' command", name);
		return;
	}
	e = store_find(&d->store, a->argv[1], a->argl[1]);
	if (!e || !(t = store_entry_type(e))) {
		resp_int(out, 0);
		return;
	}
	if ((t = store_entry_undeletable(e))) {
		resp_error(out,
			   "ERR %s on a %s: a grow-only type cannot be deleted, so it cannot expire; "
			   "use %s for a key that must expire",
			   name, crdt_type_name(t), t == CRDT_GCOUNTER ? "a pncounter" : "an orset");
		return;
	}
	if (!cmd_may_expire(d, a, out))
		return;
	cur = store_entry_deadline(e); /* 0: none, which counts as infinite */
	if ((nx && cur) || (xx && !cur) || (gt && (!cur || deadline <= cur)) ||
	    (lt && cur && deadline >= cur)) {
		resp_int(out, 0);
		return;
	}
	/* a deadline of 0 or less is past: store_set_deadline takes > 0 */
	if ((r = store_set_deadline(&d->store, &d->hlc, a->argv[1], a->argl[1],
				    deadline > 0 ? deadline : 1)) < 0) {
		reply_write_error(out, r);
		return;
	}
	resp_int(out, 1);
}

/* TTL key and PTTL key: -2 absent, -1 no deadline, else the time left. */
void cmd_ttl(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	     struct crdt_buf *out)
{
	struct store_entry *e = store_find(&d->store, a->argv[1], a->argl[1]);
	bool ms = a->argv[0][0] == 'p' || a->argv[0][0] == 'P';
	int64_t dl, left;

	if (!e || !store_entry_type(e)) {
		resp_int(out, -2);
		return;
	}
	if (!(dl = store_entry_deadline(e))) {
		resp_int(out, -1);
		return;
	}
	left = dl - now_ms();
	if (left < 0)
		left = 0;
	resp_int(out, ms ? left : (left + 500) / 1000);
}

/* EXPIRETIME key and PEXPIRETIME key: -2 absent, -1 no deadline, else the
 * deadline as a unix time (seconds, rounded down, or ms). */
void cmd_expiretime(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		    struct crdt_buf *out)
{
	struct store_entry *e = store_find(&d->store, a->argv[1], a->argl[1]);
	bool ms = a->argv[0][0] == 'p' || a->argv[0][0] == 'P';
	int64_t dl;

	if (!e || !store_entry_type(e))
		resp_int(out, -2);
	else if (!(dl = store_entry_deadline(e)))
		resp_int(out, -1);
	else
		resp_int(out, ms ? dl : dl / 1000);
}

/* PERSIST key: 1 if a deadline was removed, else 0. */
void cmd_persist(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		 struct crdt_buf *out)
{
	struct store_entry *e = store_find(&d->store, a->argv[1], a->argl[1]);
	int r;

	if (!e || !store_entry_deadline(e)) {
		resp_int(out, 0);
		return;
	}
	if ((r = store_set_deadline(&d->store, &d->hlc, a->argv[1], a->argl[1], 0)) < 0) {
		reply_write_error(out, r);
		return;
	}
	resp_int(out, 1);
}

/* The options a->argv[first..] of SET (EX, PX, EXAT, PXAT, or @keep_word
 * KEEPTTL) or GETEX (the same, or PERSIST): a deadline, or ret->keep for
 * the keep word.  @name is the command in the error for a bad time.
 * Without @values only the words are checked (ret->deadline is then 1 for
 * any time): GETEX, as Redis, checks the time after the key. */
static int parse_expiry(const struct cmd_args *a, size_t first, const char *name,
			const char *keep_word, bool values, struct cmd_set_expiry *ret,
			struct crdt_buf *out)
{
	*ret = (struct cmd_set_expiry){ 0 };
	for (size_t i = first; i < a->argc; i++) {
		static const char *const units[] = { "ex", "px", "exat", "pxat" };
		int u = -1;
		int64_t v;

		for (int k = 0; k < 4; k++)
			if (cmd_arg_is(a, i, units[k]))
				u = k;
		if (cmd_arg_is(a, i, keep_word) && !ret->keep && !ret->deadline) {
			ret->keep = true;
			continue;
		}
		if (u < 0 || ret->keep || ret->deadline || i + 1 == a->argc) {
			resp_error(out, "ERR syntax error");
			return -1;
		}
		if (!values) {
			ret->deadline = 1;
			i++;
			continue;
		}
		if (!cmd_arg_int64(a, ++i, &v)) {
			resp_error(out, "ERR value is not an integer or out of range");
			return -1;
		}
		if (v <= 0 || !to_deadline(v, u == 0 || u == 2 ? 1000 : 1, u >= 2, &ret->deadline) ||
		    ret->deadline <= 0) {
			resp_error(out, "ERR invalid expire time in '%s' command", name);
			return -1;
		}
	}
	return 0;
}

int cmd_set_parse_expiry(const struct cmd_args *a, size_t first, struct cmd_set_expiry *ret,
			 struct crdt_buf *out)
{
	return parse_expiry(a, first, "set", "keepttl", true, ret, out);
}

int cmd_set_apply_expiry(struct daemon *d, const struct cmd_args *a,
			 const struct cmd_set_expiry *x)
{
	struct store_entry *e;

	if (x->deadline)
		return store_set_deadline(&d->store, &d->hlc, a->argv[1], a->argl[1], x->deadline);
	if (x->keep || !(e = store_find(&d->store, a->argv[1], a->argl[1])) ||
	    !store_entry_deadline(e))
		return 0;
	return store_set_deadline(&d->store, &d->hlc, a->argv[1], a->argl[1], 0);
}

/* SETEX key seconds value and PSETEX: SET key value EX|PX, with their own
 * name in the error for a bad time. */
void cmd_setex(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out)
{
	bool ms = a->argv[0][0] == 'p' || a->argv[0][0] == 'P';
	const uint8_t *argv[5] = { (const uint8_t *)"set", a->argv[1], a->argv[3],
				   (const uint8_t *)(ms ? "px" : "ex"), a->argv[2] };
	size_t argl[5] = { 3, a->argl[1], a->argl[3], 2, a->argl[2] };
	int64_t v, dl;
	char name[16];

	lower_name(a, name, sizeof(name));
	if (!cmd_arg_int64(a, 2, &v)) {
		resp_error(out, "ERR value is not an integer or out of range");
		return;
	}
	if (v <= 0 || !to_deadline(v, ms ? 1 : 1000, false, &dl)) {
		resp_error(out, "ERR invalid expire time in '%s' command", name);
		return;
	}
	cmd_set(d, s, &(struct cmd_args){ .argc = 5, .argv = argv, .argl = argl }, out);
}

/* GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST]: GET, then the deadline as
 * EXPIRE (or PERSIST) would set it; a time already past deletes the key
 * after its value is read, as Redis.  The options are checked before
 * anything changes, in Redis' order: the words, then the key (a missing
 * one answers nil and gets no deadline; another type WRONGTYPE), then the
 * time. */
void cmd_getex(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out)
{
	struct cmd_set_expiry x;
	struct store_entry *e;
	enum crdt_type t, g;
	const uint8_t *val;
	size_t len, before = out->len;
	int64_t v;
	int r;

	if (parse_expiry(a, 2, "getex", "persist", false, &x, out) < 0)
		return;
	e = store_find(&d->store, a->argv[1], a->argl[1]);
	if (!e || !(t = store_entry_type(e))) {
		resp_nil(out, s->proto);
		return;
	}
	if (t != CRDT_LWWREG && t != CRDT_PNCOUNTER && t != CRDT_GCOUNTER) {
		resp_error(out, "WRONGTYPE Operation against a key holding the wrong kind of value");
		return;
	}
	if (parse_expiry(a, 2, "getex", "persist", true, &x, out) < 0)
		return;
	if (x.deadline && (g = store_entry_undeletable(e))) {
		resp_error(out,
			   "ERR getex on a %s: a grow-only type cannot be deleted, so it cannot "
			   "expire; use %s for a key that must expire",
			   crdt_type_name(g), g == CRDT_GCOUNTER ? "a pncounter" : "an orset");
		return;
	}
	if (x.deadline && !cmd_may_expire(d, a, out))
		return;
	if (t == CRDT_LWWREG) {
		/* the reply copies the value before an expiry could free it */
		crdt_lwwreg_get(store_entry_slot(e, t)->lww, &val, &len);
		resp_bulk(out, val, len);
	} else if ((r = crdt_obj_value(store_entry_slot(e, t), &v)) < 0) {
		cmd_reply_crdt_error(out, r);
		return;
	} else {
		resp_bulk_int(out, v);
	}
	r = 0;
	if (x.deadline)
		r = store_set_deadline(&d->store, &d->hlc, a->argv[1], a->argl[1], x.deadline);
	else if (x.keep && store_entry_deadline(e))
		r = store_set_deadline(&d->store, &d->hlc, a->argv[1], a->argl[1], 0);
	if (r < 0) {
		out->len = before; /* the error replaces the value */
		reply_write_error(out, r);
	}
}
