/* Commands on whole keys, whatever their type: DEL, UNLINK and GETDEL, the
 * observed-remove delete of the store (store_del, docs/types.md "DEL"). */
#include <errno.h>
#include <stdio.h>

#include "client/cmd.h"
#include "client/resp.h"
#include "crdt/error.h"
#include "crdt/obj.h"
#include "daemon.h"

/* A name holding a grow-only type cannot be deleted: say which and why. */
static void reply_undeletable(struct crdt_buf *out, const char *cmd, enum crdt_type t)
{
	resp_error(out,
		   "ERR %s on a %s: a grow-only type keeps no record of what was removed, so a "
		   "delete could not converge; use %s for a key that must be deleted",
		   cmd, crdt_type_name(t), t == CRDT_GCOUNTER ? "a pncounter" : "an orset");
}

/* The first key of argv[first..] that DEL would refuse, or 0. */
static size_t find_undeletable(struct daemon *d, const struct cmd_args *a, size_t first,
			       enum crdt_type *ret_t)
{
	for (size_t i = first; i < a->argc; i++) {
		struct store_entry *e = store_find(&d->store, a->argv[i], a->argl[i]);
		enum crdt_type t = e ? store_entry_undeletable(e) : 0;

		if (t) {
			*ret_t = t;
			return i;
		}
	}
	return 0;
}

/* DEL key [key ...] and UNLINK: the number of keys that existed.  All or
 * nothing: a grow-only key among them is an error and deletes none. */
void cmd_del(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	     struct crdt_buf *out)
{
	enum crdt_type t;
	int64_t n = 0;

	if (find_undeletable(d, a, 1, &t)) {
		reply_undeletable(out, cmd_arg_is(a, 0, "unlink") ? "UNLINK" : "DEL", t);
		return;
	}
	for (size_t i = 1; i < a->argc; i++) {
		int r = store_del(&d->store, a->argv[i], a->argl[i]);

		if (r < 0) {
			resp_error(out, "OOM command not allowed when used memory > 'maxmemory'");
			return;
		}
		n += r;
	}
	resp_int(out, n);
}

/* GETDEL key: GET, then DEL, of a register or a counter. */
void cmd_getdel(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		struct crdt_buf *out)
{
	struct store_entry *e = store_find(&d->store, a->argv[1], a->argl[1]);
	enum crdt_type t = e ? store_entry_type(e) : 0, g;
	const uint8_t *val;
	size_t len, before = out->len;
	int64_t v;
	int r;

	if (!t) {
		resp_nil(out, s->proto);
		return;
	}
	if (t != CRDT_LWWREG && t != CRDT_PNCOUNTER && t != CRDT_GCOUNTER) {
		resp_error(out, "WRONGTYPE Operation against a key holding the wrong kind of value");
		return;
	}
	if ((g = store_entry_undeletable(e))) {
		reply_undeletable(out, "GETDEL", g);
		return;
	}
	if (t == CRDT_PNCOUNTER) {
		if ((r = crdt_obj_value(store_entry_slot(e, t), &v)) < 0) {
			resp_error(out, "ERR %s", crdt_strerror(r));
			return;
		}
		resp_bulk_int(out, v);
	} else {
		/* the reply copies the value before the delete frees it */
		crdt_lwwreg_get(store_entry_slot(e, t)->lww, &val, &len);
		resp_bulk(out, val, len);
	}
	if (store_del(&d->store, a->argv[1], a->argl[1]) < 0) {
		out->len = before; /* the error replaces the value */
		resp_error(out, "OOM command not allowed when used memory > 'maxmemory'");
	}
}
