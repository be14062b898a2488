/* The hash commands (HSET ... HDEL, HRANDFIELD, HSCAN) on OR-Maps
 * (include/crdt/ormap.h): Redis' replies and errors, [limits], and one
 * change announced per write carrying its delta, which the journal stores
 * and replays. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client/cmd.h"
#include "client/glob.h"
#include "client/resp.h"
#include "crdt/error.h"
#include "crdt/obj.h"
#include "daemon.h"
#include "gossip/gossip.h"
#include "gossip/wire.h"

#define WRONGTYPE "WRONGTYPE Operation against a key holding the wrong kind of value"

static const struct gossip_limits *limits(struct daemon *d)
{
	static const struct gossip_limits none;
	return d->gossip ? gossip_get_limits(d->gossip) : &none;
}

/* The hash at key a->argv[1]: NULL when absent (*ret_err 0) or another
 * type (*ret_err CRDT_ETYPE). */
static struct crdt_ormap *lookup(struct daemon *d, const struct cmd_args *a, int *ret_err)
{
	struct store_entry *e = store_find(&d->store, a->argv[1], a->argl[1]);
	enum crdt_type t = e ? store_entry_type(e) : 0;

	*ret_err = 0;
	if (!t)
		return NULL;
	if (t != CRDT_ORMAP) {
		*ret_err = CRDT_ETYPE;
		return NULL;
	}
	return store_entry_slot(e, t)->om;
}

/* A read: the hash, or a reply already made (WRONGTYPE) and false. */
static bool read_hash(struct daemon *d, const struct cmd_args *a, struct crdt_buf *out,
		      struct crdt_ormap **ret)
{
	int err;

	*ret = lookup(d, a, &err);
	if (err)
		resp_error(out, WRONGTYPE);
	return !err;
}

static void reply_err(struct crdt_buf *out, int err)
{
	switch (err) {
	case CRDT_ETYPE: resp_error(out, WRONGTYPE); break;
	case CRDT_EINVAL: resp_error(out, "ERR hash value is not an integer"); break;
	case CRDT_EOVERFLOW: resp_error(out, "ERR increment or decrement would overflow"); break;
	case CRDT_ENOMEM: resp_error(out, "OOM command not allowed when used memory > 'maxmemory'"); break;
	default: resp_error(out, "ERR %s", crdt_strerror(err)); break;
	}
}

/* Fields argv[2..end) (with their values after each when @pairs; else one
 * field, a counter) within [limits]: the name within max_element_bytes,
 * the value within max_value_bytes, both together in one datagram beside
 * the key; the hash, with the new fields, within max_hash_fields (a write
 * of fields it holds only is never refused for that).  False with the
 * error replied. */
static bool within_limits(struct daemon *d, const struct cmd_args *a, const struct crdt_ormap *h,
			  bool pairs, size_t end, struct crdt_buf *out)
{
	const struct gossip_limits *lim = limits(d);
	struct crdt_ormap_val v;
	size_t fresh = 0, step = pairs ? 2 : 1, room, held = h ? crdt_ormap_len(h) : 0;
	/* the fields counted only when the write could pass the limit: a
	 * lookup each, which the write makes again (5 % of an HSET storm) */
	bool count = lim->max_fields && held + (end - 2) / step > lim->max_fields;
	char why[200];

	if (gossip_limit_name(lim, CRDT_ORMAP, a->argl[1], why, sizeof(why)) < 0 ||
	    (!store_find(&d->store, a->argv[1], a->argl[1]) &&
	     gossip_limit_instances(lim, d->store.len, why, sizeof(why)) < 0)) {
		resp_error(out, "ERR %s", why);
		return false;
	}
	for (size_t i = 2; i < end; i += step) {
		/* a counter: a row of two numbers per replica, three at most */
		size_t vl = pairs ? a->argl[i + 1] : 0, wl = pairs ? vl : 3 * 25;
		if (lim->max_element && a->argl[i] > lim->max_element) {
			resp_error(out, "ERR field longer than max_element_bytes (%zu)", lim->max_element);
			return false;
		}
		if (lim->max_value && vl > lim->max_value) {
			resp_error(out, "ERR value longer than max_value_bytes (%zu)", lim->max_value);
			return false;
		}
		if (lim->dgram) {
			if (wire_max_element(lim->dgram, lim->node_len, a->argl[1], CRDT_ORMAP, &room) < 0)
				room = 0;
			if (a->argl[i] + wl > room) {
				resp_error(out,
					   "ERR field and value too long to replicate: beside a key of %zu "
					   "bytes at most %zu bytes of both fit one datagram (gossip mtu, "
					   "less the header)",
					   a->argl[1], room);
				return false;
			}
		}
		/* a field given twice counts twice: errs on the safe side */
		fresh += count && (!h || !crdt_ormap_get(h, a->argv[i], a->argl[i], &v));
	}
	/* updates of fields a hash holds pass, even past the limit (a peer's
	 * state may have brought it there) */
	if (fresh && gossip_limit_fields(lim, held + fresh, why, sizeof(why)) < 0) {
		resp_error(out, "ERR %s", why);
		return false;
	}
	return true;
}

/* The hash at a->argv[1] for a write, created if absent; NULL with the
 * error replied. */
static struct crdt_ormap *write_hash(struct daemon *d, const struct cmd_args *a, bool pairs,
				     size_t end, struct crdt_buf *out)
{
	struct crdt_ormap *h;
	struct crdt_obj *o;
	int err;

	h = lookup(d, a, &err);
	if (err) {
		reply_err(out, err);
		return NULL;
	}
	if (!within_limits(d, a, h, pairs, end, out))
		return NULL;
	if (!h && (err = store_get(&d->store, a->argv[1], a->argl[1], CRDT_ORMAP, true, &o)) < 0) {
		reply_err(out, err);
		return NULL;
	}
	return h ? h : o->om;
}

/* Announce a local write with its delta: the journal stores it (replayed
 * by merge), gossip pushes it (its context is exactly the dots the write
 * added and replaced, so it removes nothing else where it lands). */
static void wrote(struct daemon *d, const struct cmd_args *a, struct crdt_ormap *delta)
{
	struct store_entry *e = store_find(&d->store, a->argv[1], a->argl[1]);
	struct crdt_obj st = { .type = CRDT_ORMAP, .om = delta };

	if (e)
		store_changed(&d->store, e, CRDT_ORMAP,
			      &(struct store_change){ .op = STORE_OP_STATE, .state = &st,
						      .delta = &st });
}

/* HSET, HMSET and HSETNX: set pairs argv[2..]; *ret_new counts fields
 * that were absent.  With @nx only an absent field is set. */
static bool set_pairs(struct daemon *d, const struct cmd_args *a, bool nx, int64_t *ret_new,
		      struct crdt_buf *out)
{
	struct crdt_ormap *h, *delta;
	struct crdt_ormap_val v;
	int64_t fresh = 0;
	size_t i;
	int err = 0;

	if (a->argc % 2 != 0) {
		resp_error(out, "ERR wrong number of arguments for '%s' command",
			   nx ? "hsetnx" : cmd_arg_is(a, 0, "hmset") ? "hmset" : "hset");
		return false;
	}
	if (!(h = write_hash(d, a, true, a->argc, out)))
		return false;
	if (!(delta = crdt_ormap_new())) {
		reply_err(out, CRDT_ENOMEM);
		return false;
	}
	/* room for every pair at once, in the hash and its delta: one growth
	 * each, not one each time a table fills (without memory the sets
	 * grow them as usual) */
	if (a->argc > 4) {
		(void)crdt_ormap_reserve(h, (a->argc - 2) / 2);
		(void)crdt_ormap_reserve(delta, (a->argc - 2) / 2);
	}
	for (i = 2; i < a->argc; i += 2) {
		bool had = crdt_ormap_get(h, a->argv[i], a->argl[i], &v);
		if (nx && had)
			continue;
		err = crdt_ormap_set(h, &d->hlc, &d->store.self, a->argv[i], a->argl[i],
				     a->argv[i + 1], a->argl[i + 1], delta);
		if (err < 0)
			break;
		fresh += !had;
	}
	/* the pairs set before a failure stay set: store them, tell peers */
	if (i > 2 || err == 0)
		wrote(d, a, delta);
	crdt_ormap_free(delta);
	if (err < 0) {
		reply_err(out, err);
		return false;
	}
	*ret_new = fresh;
	return true;
}

void cmd_hset(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	      struct crdt_buf *out)
{
	int64_t n;

	if (set_pairs(d, a, false, &n, out))
		resp_int(out, n);
}

void cmd_hmset(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out)
{
	int64_t n;

	if (set_pairs(d, a, false, &n, out))
		resp_simple(out, "OK");
}

void cmd_hsetnx(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		struct crdt_buf *out)
{
	int64_t n;

	if (set_pairs(d, a, true, &n, out))
		resp_int(out, n);
}

void cmd_hincrby(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		 struct crdt_buf *out)
{
	struct crdt_ormap *h, *delta;
	int64_t by, v;
	int err;

	if (!cmd_arg_int64(a, 3, &by)) {
		resp_error(out, "ERR value is not an integer or out of range");
		return;
	}
	if (!(h = write_hash(d, a, false, 3, out)))
		return;
	if (!(delta = crdt_ormap_new())) {
		reply_err(out, CRDT_ENOMEM);
		return;
	}
	err = crdt_ormap_incr(h, &d->store.self, a->argv[2], a->argl[2], by, delta, &v);
	if (err == 0)
		wrote(d, a, delta);
	crdt_ormap_free(delta);
	if (err < 0)
		reply_err(out, err);
	else
		resp_int(out, v);
}

void cmd_hdel(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	      struct crdt_buf *out)
{
	struct crdt_ormap *h, *delta;
	int64_t removed = 0;
	int err = 0;

	if (!read_hash(d, a, out, &h))
		return;
	if (!h) {
		resp_int(out, 0);
		return;
	}
	if (!(delta = crdt_ormap_new())) {
		reply_err(out, CRDT_ENOMEM);
		return;
	}
	for (size_t i = 2; i < a->argc && err >= 0; i++) {
		err = crdt_ormap_del(h, a->argv[i], a->argl[i], delta);
		removed += err > 0;
	}
	if (removed)
		wrote(d, a, delta);
	crdt_ormap_free(delta);
	if (err < 0)
		reply_err(out, err);
	else
		resp_int(out, removed);
}

void cmd_hget(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	      struct crdt_buf *out)
{
	struct crdt_ormap *h;
	struct crdt_ormap_val v;

	if (!read_hash(d, a, out, &h))
		return;
	if (h && crdt_ormap_get(h, a->argv[2], a->argl[2], &v))
		resp_bulk(out, v.p, v.len);
	else
		resp_nil(out, s->proto);
}

void cmd_hmget(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out)
{
	struct crdt_ormap *h;
	struct crdt_ormap_val v;

	if (!read_hash(d, a, out, &h))
		return;
	resp_array(out, a->argc - 2);
	for (size_t i = 2; i < a->argc; i++) {
		if (h && crdt_ormap_get(h, a->argv[i], a->argl[i], &v))
			resp_bulk(out, v.p, v.len);
		else
			resp_nil(out, s->proto);
	}
}

void cmd_hexists(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		 struct crdt_buf *out)
{
	struct crdt_ormap *h;
	struct crdt_ormap_val v;

	if (read_hash(d, a, out, &h))
		resp_int(out, h && crdt_ormap_get(h, a->argv[2], a->argl[2], &v));
}

void cmd_hstrlen(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		 struct crdt_buf *out)
{
	struct crdt_ormap *h;
	struct crdt_ormap_val v;

	if (read_hash(d, a, out, &h))
		resp_int(out, h && crdt_ormap_get(h, a->argv[2], a->argl[2], &v) ? (int64_t)v.len : 0);
}

void cmd_hlen(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	      struct crdt_buf *out)
{
	struct crdt_ormap *h;

	if (read_hash(d, a, out, &h))
		resp_int(out, h ? (int64_t)crdt_ormap_len(h) : 0);
}

enum { PUT_KEYS = 1, PUT_VALS = 2 };

struct put_ctx {
	struct crdt_buf *out;
	int what;
};

static int put_field(const uint8_t *f, size_t flen, const struct crdt_ormap_val *v, void *ctx)
{
	struct put_ctx *p = ctx;

	if (p->what & PUT_KEYS)
		resp_bulk(p->out, f, flen);
	if (p->what & PUT_VALS)
		resp_bulk(p->out, v->p, v->len);
	return 0;
}

/* HGETALL (a map in RESP3), HKEYS, HVALS: fields in ascending byte order,
 * the same on every replica that holds the same state. */
static void put_all(struct daemon *d, struct cmd_session *s, const struct cmd_args *a, int what,
		    struct crdt_buf *out)
{
	struct crdt_ormap *h;
	struct put_ctx p = { out, what };
	size_t n;
	struct crdt_buf tmp;

	if (!read_hash(d, a, out, &h))
		return;
	n = h ? crdt_ormap_len(h) : 0;
	/* the body first, so that a failure replies one error, not half an array */
	crdt_buf_init(&tmp, out->max);
	p.out = &tmp;
	if (h && crdt_ormap_foreach(h, put_field, &p) != 0) {
		crdt_buf_done(&tmp);
		reply_err(out, CRDT_ENOMEM);
		return;
	}
	if (what == (PUT_KEYS | PUT_VALS))
		resp_map(out, n, s->proto);
	else
		resp_array(out, n);
	crdt_buf_put(out, tmp.data, tmp.len);
	crdt_buf_done(&tmp);
}

void cmd_hgetall(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		 struct crdt_buf *out)
{
	put_all(d, s, a, PUT_KEYS | PUT_VALS, out);
}

void cmd_hkeys(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out)
{
	put_all(d, s, a, PUT_KEYS, out);
}

void cmd_hvals(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out)
{
	put_all(d, s, a, PUT_VALS, out);
}

/* ---- HRANDFIELD, HSCAN ----------------------------------------------------- */

struct field {
	const uint8_t *p;
	size_t len;
};

struct fields {
	struct field *v;
	size_t n;
	const struct cmd_args *a;
	size_t pat; /* HSCAN's MATCH argument, 0 for none */
};

static int collect_field(const uint8_t *f, size_t flen, const struct crdt_ormap_val *v, void *ctx)
{
	struct fields *fs = ctx;

	if (!fs->pat || glob_match(fs->a->argv[fs->pat], fs->a->argl[fs->pat], f, flen))
		fs->v[fs->n++] = (struct field){ f, flen };
	return 0;
}

/* Every field of @h (matching argument @pat when not 0), ascending; the
 * names point into the map, which nothing changes during the command.
 * 0, or CRDT_ENOMEM. */
static int collect_fields(const struct crdt_ormap *h, const struct cmd_args *a, size_t pat,
			  struct fields *ret)
{
	size_t n = crdt_ormap_len(h);

	*ret = (struct fields){ .a = a, .pat = pat };
	if (n && !(ret->v = malloc(n * sizeof(*ret->v))))
		return CRDT_ENOMEM;
	if (crdt_ormap_foreach(h, collect_field, ret) != 0) {
		free(ret->v);
		return CRDT_ENOMEM;
	}
	return 0;
}

/* One field, with its value after it when @values (RESP3: the pair as an
 * array of two, as Redis answers HRANDFIELD WITHVALUES). */
static void put_pick(const struct crdt_ormap *h, const struct field *f, bool values, int proto,
		     struct crdt_buf *out)
{
	struct crdt_ormap_val v;

	if (values && proto == RESP_PROTO3)
		resp_array(out, 2);
	resp_bulk(out, f->p, f->len);
	if (values) {
		if (!crdt_ormap_get(h, f->p, f->len, &v))
			v = (struct crdt_ormap_val){ .p = (const uint8_t *)"", .len = 0 };
		resp_bulk(out, v.p, v.len);
	}
}

static size_t pick(size_t n)
{
	return randombytes_uniform((uint32_t)(n < UINT32_MAX ? n : UINT32_MAX));
}

/* HRANDFIELD key [count [WITHVALUES]], as Redis: without count one field
 * (nil for a missing key); count > 0 that many distinct fields (all when
 * fewer); count < 0 |count| fields, repeats allowed, at most
 * max_hash_fields (and what the output limit lets through). */
void cmd_hrandfield(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		    struct crdt_buf *out)
{
	struct crdt_ormap *h;
	struct fields fs;
	int64_t count = 1;
	bool values = a->argc == 4;
	size_t card, k;
	int err;

	if (a->argc >= 3 && !cmd_arg_int64(a, 2, &count)) {
		resp_error(out, "ERR value is not an integer or out of range");
		return;
	}
	if (a->argc > 4 || (values && !cmd_arg_is(a, 3, "withvalues"))) {
		resp_error(out, "ERR syntax error");
		return;
	}
	/* Redis' bounds, Redis' words: |count| (twice it with values) fits */
	if (count < -INT64_MAX) {
		resp_error(out, "ERR value is out of range, value must between "
				"-9223372036854775807 and 9223372036854775807");
		return;
	}
	if (values && count < -INT64_MAX / 2) {
		resp_error(out, "ERR value is out of range");
		return;
	}
	if (!read_hash(d, a, out, &h))
		return;
	card = h ? crdt_ormap_len(h) : 0;
	if (a->argc == 2 && card == 0) {
		resp_nil(out, s->proto);
		return;
	}
	if (card == 0 || count == 0) {
		resp_array(out, 0);
		return;
	}
	/* a bulk is at least 6 bytes, "$0\r\n\r\n" */
	if (count < 0 && !cmd_may_reply_count(d, (uint64_t)-count, values ? 12 : 6, true, out))
		return;
	if ((err = collect_fields(h, a, 0, &fs)) < 0) {
		reply_err(out, err);
		return;
	}
	if (a->argc == 2) {
		put_pick(h, &fs.v[pick(fs.n)], false, s->proto, out);
	} else if (count > 0) {
		/* the first k of a partial Fisher-Yates shuffle */
		k = (uint64_t)count < fs.n ? (size_t)count : fs.n;
		resp_array(out, values && s->proto != RESP_PROTO3 ? 2 * k : k);
		for (size_t i = 0; i < k; i++) {
			size_t j = i + pick(fs.n - i);
			struct field t = fs.v[i];

			fs.v[i] = fs.v[j];
			fs.v[j] = t;
			put_pick(h, &fs.v[i], values, s->proto, out);
		}
	} else {
		k = (size_t)-count;
		resp_array(out, values && s->proto != RESP_PROTO3 ? 2 * k : k);
		/* past the output limits the buffer's error closes the connection */
		for (size_t i = 0; i < k && !out->err; i++)
			put_pick(h, &fs.v[pick(fs.n)], values, s->proto, out);
	}
	free(fs.v);
}

/* HSCAN key cursor [MATCH p] [COUNT n] [NOVALUES]: as SCAN, the whole hash
 * in one step with cursor 0 (Redis' contract allows it; a hash is bounded
 * by max_hash_fields): fields in ascending byte order, each followed by its
 * value unless NOVALUES. */
struct hscan_ctx {
	const struct cmd_args *a;
	const struct cmd_scan *sc;
	struct crdt_buf body;
	size_t n;
};

static int hscan_field(const uint8_t *f, size_t flen, const struct crdt_ormap_val *v, void *ctx)
{
	struct hscan_ctx *c = ctx;
	const struct cmd_args *a = c->a;

	if (c->sc->pat && !glob_match(a->argv[c->sc->pat], a->argl[c->sc->pat], f, flen))
		return 0;
	resp_bulk(&c->body, f, flen);
	if (!c->sc->novalues)
		resp_bulk(&c->body, v->p, v->len);
	c->n++;
	return 0;
}

/* One step of HSCAN over a hash past CMD_SCAN_WHOLE fields, by its hash
 * cursor (crdt_ormap_scan): about COUNT fields visited, MATCH filtering
 * them. */
static void hscan_step(const struct crdt_ormap *h, const struct cmd_args *a,
		       const struct cmd_scan *sc, uint64_t cursor, struct crdt_buf *out)
{
	struct hscan_ctx c = { .a = a, .sc = sc };
	uint64_t next;
	char nb[24];

	crdt_buf_init(&c.body, 0);
	if (crdt_ormap_scan(h, cursor, sc->count, hscan_field, &c, &next) < 0 || c.body.err) {
		resp_error(out, "OOM command not allowed when used memory > 'maxmemory'");
	} else {
		resp_array(out, 2);
		resp_bulk(out, nb, (size_t)snprintf(nb, sizeof(nb), "%" PRIu64, next));
		resp_array(out, sc->novalues ? c.n : 2 * c.n);
		crdt_buf_put(out, c.body.data, c.body.len);
	}
	crdt_buf_done(&c.body);
}

void cmd_hscan(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out)
{
	struct crdt_ormap *h;
	struct cmd_scan sc = { 0 };
	struct fields fs = { 0 };
	uint64_t cursor;
	int err;

	/* Redis' order: the cursor, the key (a missing one answers an empty
	 * scan whatever the options), its type, then the options */
	if (cmd_scan_cursor(a, 2, &cursor, out) < 0 || !read_hash(d, a, out, &h))
		return;
	if (h && cmd_scan_parse(a, 2, CMD_SCAN_HASH, &sc, out) < 0)
		return;
	if (h && crdt_ormap_len(h) > CMD_SCAN_WHOLE) {
		hscan_step(h, a, &sc, cursor, out);
		return;
	}
	if (h && (err = collect_fields(h, a, sc.pat, &fs)) < 0) {
		reply_err(out, err);
		return;
	}
	resp_array(out, 2);
	resp_bulk(out, "0", 1);
	resp_array(out, sc.novalues ? fs.n : 2 * fs.n);
	for (size_t i = 0; i < fs.n; i++)
		put_pick(h, &fs.v[i], !sc.novalues, RESP_PROTO2, out);
	free(fs.v);
}

/* HINCRBYFLOAT: refused, saying why. */
void cmd_hincrbyfloat(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		      struct crdt_buf *out)
{
	resp_error(out, "ERR HINCRBYFLOAT cannot converge: there is no convergent float counter "
			"(float increments merged in different orders round differently); use "
			"HINCRBY with integer units");
}
