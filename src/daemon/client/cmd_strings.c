/* The multi-key and read-and-write string commands: MGET, MSET, GETSET.
 * A Redis string is here an LWW-Register (SET) or a counter (INCR). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "client/cmd.h"
#include "client/resp.h"
#include "daemon.h"
#include "gossip/gossip.h"

/* The value of a string key as GET answers it, or nil. */
static void put_string(struct store_entry *e, int proto, struct crdt_buf *out)
{
	enum crdt_type t = e ? store_entry_type(e) : 0;
	const uint8_t *val;
	size_t len;
	int64_t v;

	if (t == CRDT_LWWREG && crdt_lwwreg_get(store_entry_slot(e, t)->lww, &val, &len))
		resp_bulk(out, val, len);
	else if ((t == CRDT_GCOUNTER || t == CRDT_PNCOUNTER) &&
		 crdt_obj_value(store_entry_slot(e, t), &v) == 0)
		resp_bulk_int(out, v);
	else
		resp_nil(out, proto); /* absent, a set, an overflowed counter: as Redis, nil */
}

/* MGET k [k ...]: each as GET, nil for a missing key or one of another type. */
void cmd_mget(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	      struct crdt_buf *out)
{
	resp_array(out, a->argc - 1);
	for (size_t i = 1; i < a->argc; i++)
		put_string(store_find(&d->store, a->argv[i], a->argl[i]), s->proto, out);
}

/* The arguments of a SET k v as they sit at @i (key) and @i + 1 (value) in
 * @a: SET's own checks and write run on them unchanged (argv[0] is not
 * read). */
static struct cmd_args pair_args(const struct cmd_args *a, size_t i)
{
	return (struct cmd_args){ .argc = 3, .argv = a->argv + i - 1, .argl = a->argl + i - 1 };
}

/* MSET k v [k v ...]: all or nothing.  Every pair is checked first (type,
 * [limits], and the new names together against max_instances); only then
 * is each written, as SET writes it. */
void cmd_mset(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	      struct crdt_buf *out)
{
	const struct gossip_limits *lim = cmd_limits(d);
	size_t fresh = 0;
	char why[200];
	struct crdt_buf scratch;

	if (a->argc % 2 != 1) {
		resp_error(out, "ERR wrong number of arguments for 'mset' command");
		return;
	}
	for (size_t i = 1; i < a->argc; i += 2) {
		struct store_entry *e = store_find(&d->store, a->argv[i], a->argl[i]);
		enum crdt_type t = e ? store_entry_type(e) : 0;
		if (t && t != CRDT_LWWREG) {
			resp_error(out, "WRONGTYPE Operation against a key holding the wrong kind of "
					"value");
			return;
		}
		if (gossip_limit_name(lim, CRDT_LWWREG, a->argl[i], why, sizeof(why)) < 0 ||
		    gossip_limit_element(lim, CRDT_LWWREG, a->argl[i], a->argl[i + 1], why,
					 sizeof(why)) < 0) {
			resp_error(out, "ERR %s", why);
			return;
		}
		/* a new name given twice counts twice: errs on the safe side */
		fresh += !t;
	}
	if (fresh && gossip_limit_instances(lim, d->store.len + fresh - 1, why, sizeof(why)) < 0) {
		resp_error(out, "ERR %s", why);
		return;
	}
	/* Checked: each SET can now fail only for memory; its reply is
	 * dropped, the first error kept. */
	crdt_buf_init(&scratch, 0);
	for (size_t i = 1; i < a->argc; i += 2) {
		struct cmd_args p = pair_args(a, i);
		crdt_buf_reset(&scratch);
		cmd_set(d, s, &p, &scratch);
		if (scratch.err || (scratch.len && scratch.data[0] == '-'))
			break;
	}
	if (scratch.err)
		resp_error(out, "ERR out of memory");
	else if (scratch.len && scratch.data[0] == '-')
		crdt_buf_put(out, scratch.data, scratch.len);
	else
		resp_simple(out, "OK");
	crdt_buf_done(&scratch);
}

/* GETSET k v: SET that answers the value before it.  On a register this
 * converges as SET does (the old value is what this replica saw).  A
 * counter refuses: replacing its value would drop or resurrect increments
 * made concurrently elsewhere. */
void cmd_getset(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		struct crdt_buf *out)
{
	struct store_entry *e = store_find(&d->store, a->argv[1], a->argl[1]);
	enum crdt_type t = e ? store_entry_type(e) : 0;
	struct crdt_buf old;

	if (t == CRDT_GCOUNTER || t == CRDT_PNCOUNTER) {
		resp_error(out, "ERR GETSET on a counter cannot converge: replacing its value would "
				"lose increments made concurrently on other replicas; use INCRBY");
		return;
	}
	if (t && t != CRDT_LWWREG) {
		resp_error(out, "WRONGTYPE Operation against a key holding the wrong kind of value");
		return;
	}
	/* the old value, kept aside: SET frees it */
	crdt_buf_init(&old, 0);
	put_string(e, s->proto, &old);
	size_t before = out->len;
	cmd_set(d, s, a, out);
	if (!old.err && out->len > before && out->data[before] == '+') {
		out->len = before; /* SET's +OK becomes the old value */
		crdt_buf_put(out, old.data, old.len);
	} else if (old.err && out->len > before && out->data[before] == '+') {
		out->len = before;
		resp_error(out, "ERR out of memory");
	}
	crdt_buf_done(&old);
}
