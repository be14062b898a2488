/* The set commands beyond SADD/SREM/SMEMBERS: SMISMEMBER, SRANDMEMBER, SSCAN and
 * the set algebra SUNION/SINTER/SDIFF with their STORE forms. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client/cmd.h"
#include "client/glob.h"
#include "client/resp.h"
#include "crdt/error.h"
#include "daemon.h"
#include "gossip/gossip.h"

#define WRONGTYPE "WRONGTYPE Operation against a key holding the wrong kind of value"

/* The set under key a->argv[i]: 0 and *ret (NULL when absent, which every
 * command here reads as the empty set), or CRDT_ETYPE. */
static int set_at(struct daemon *d, const struct cmd_args *a, size_t i,
		  const struct crdt_obj **ret)
{
	struct store_entry *e = store_find(&d->store, a->argv[i], a->argl[i]);
	enum crdt_type t = e ? store_entry_type(e) : 0;

	if (t && t != CRDT_GSET && t != CRDT_ORSET)
		return CRDT_ETYPE;
	*ret = t ? store_entry_slot(e, t) : NULL;
	return 0;
}

/* SMISMEMBER k m [m ...]: 1 or 0 per member. */
void cmd_smismember(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		    struct crdt_buf *out)
{
	const struct crdt_obj *o;

	if (set_at(d, a, 1, &o) < 0) {
		resp_error(out, WRONGTYPE);
		return;
	}
	resp_array(out, a->argc - 2);
	for (size_t i = 2; i < a->argc; i++)
		resp_int(out, o && crdt_obj_contains(o, a->argv[i], a->argl[i]));
}

/* ---- SRANDMEMBER ----------------------------------------------------------- */

struct member {
	const uint8_t *p;
	size_t len;
};

struct members {
	struct member *v;
	size_t n;
};

static int collect(const uint8_t *e, size_t len, void *ctx)
{
	struct members *m = ctx;
	m->v[m->n++] = (struct member){ e, len };
	return 0;
}

/* SRANDMEMBER k [count], as Redis: without count one member (nil for an
 * empty set); count > 0 that many distinct members (all when fewer);
 * count < 0 |count| members, repeats allowed, at most max_elements (and
 * what the output limit lets through).  The members are pointers into the
 * set, which nothing changes during the call. */
void cmd_srandmember(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	const struct crdt_obj *o;
	struct members m = { 0 };
	int64_t count = 1;
	size_t card;

	if (a->argc > 3) {
		resp_error(out, "ERR syntax error");
		return;
	}
	if (a->argc == 3 && !cmd_arg_int64(a, 2, &count)) {
		resp_error(out, "ERR value is not an integer or out of range");
		return;
	}
	if (count < -INT64_MAX / 2 || count > INT64_MAX / 2) {
		resp_error(out, "ERR value is out of range"); /* Redis' bound, Redis' words */
		return;
	}
	if (set_at(d, a, 1, &o) < 0) {
		resp_error(out, WRONGTYPE);
		return;
	}
	card = o ? crdt_obj_card(o) : 0;
	if (a->argc == 2 && card == 0) {
		resp_nil(out, s->proto);
		return;
	}
	if (card == 0 || count == 0) {
		resp_array(out, 0);
		return;
	}
	/* repeats: the reply's size comes from the client, not from the set
	 * (a bulk is at least 6 bytes, "$0\r\n\r\n") */
	if (count < 0 && !cmd_may_reply_count(d, (uint64_t)-count, 6, false, out))
		return;
	if (!(m.v = malloc(card * sizeof(*m.v)))) {
		resp_error(out, "OOM command not allowed when used memory > 'maxmemory'");
		return;
	}
	crdt_obj_foreach(o, collect, &m);
	if (a->argc == 2) {
		struct member *x = &m.v[randombytes_uniform((uint32_t)(card < UINT32_MAX ? card : UINT32_MAX))];
		resp_bulk(out, x->p, x->len);
	} else if (count > 0) {
		/* the first k of a partial Fisher-Yates shuffle */
		size_t k = (uint64_t)count < card ? (size_t)count : card;
		resp_array(out, k);
		for (size_t i = 0; i < k; i++) {
			size_t j = i + randombytes_uniform((uint32_t)(card - i < UINT32_MAX ? card - i : UINT32_MAX));
			struct member t = m.v[i];
			m.v[i] = m.v[j];
			m.v[j] = t;
			resp_bulk(out, m.v[i].p, m.v[i].len);
		}
	} else {
		/* a reply that passes the output limits stops being built: its
		 * buffer's error closes the connection (client/listener.c) */
		resp_array(out, (size_t)-count);
		for (int64_t i = 0; i < -count && !out->err; i++) {
			struct member *x = &m.v[randombytes_uniform((uint32_t)(card < UINT32_MAX ? card : UINT32_MAX))];
			resp_bulk(out, x->p, x->len);
		}
	}
	free(m.v);
}

/* ---- SSCAN ----------------------------------------------------------------- */

struct scan_ctx {
	const struct cmd_args *a;
	size_t pat;
	struct crdt_buf *body;
	size_t n;
};

static int put_match(const uint8_t *e, size_t len, void *ctx)
{
	struct scan_ctx *c = ctx;

	if (!c->pat || glob_match(c->a->argv[c->pat], c->a->argl[c->pat], e, len)) {
		resp_bulk(c->body, e, len);
		c->n++;
	}
	return 0;
}

/* SSCAN key cursor [MATCH p] [COUNT n]: a set of up to CMD_SCAN_WHOLE
 * members whole in one step with cursor 0, in SMEMBERS' order; a larger
 * one about COUNT members a step, by its hash cursor (crdt_orset_scan),
 * MATCH filtering what the step visited, as Redis.  Checked in Redis'
 * order (the cursor, the key, its type, the options). */
void cmd_sscan(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out)
{
	const struct crdt_obj *o;
	struct cmd_scan sc = { 0 };
	struct crdt_buf body;
	struct scan_ctx c = { .a = a, .body = &body };
	uint64_t cursor, next = 0;
	char nb[24];
	int r = 0;

	if (cmd_scan_cursor(a, 2, &cursor, out) < 0)
		return;
	if (set_at(d, a, 1, &o) < 0) {
		resp_error(out, WRONGTYPE);
		return;
	}
	if (o && cmd_scan_parse(a, 2, CMD_SCAN_SET, &sc, out) < 0)
		return;
	c.pat = sc.pat;
	crdt_buf_init(&body, 0);
	if (o && crdt_obj_card(o) <= CMD_SCAN_WHOLE)
		r = crdt_obj_foreach(o, put_match, &c);
	else if (o)
		r = crdt_obj_scan(o, cursor, sc.count, put_match, &c, &next);
	if (body.err || r < 0) {
		resp_error(out, "OOM command not allowed when used memory > 'maxmemory'");
	} else {
		resp_array(out, 2);
		resp_bulk(out, nb, (size_t)snprintf(nb, sizeof(nb), "%" PRIu64, next));
		resp_array(out, c.n);
		crdt_buf_put(out, body.data, body.len);
	}
	crdt_buf_done(&body);
}

/* ---- set algebra ----------------------------------------------------------- */

enum algebra { UNION, INTER, DIFF };

struct algebra_ctx {
	struct daemon *d;
	const struct cmd_args *a;
	size_t first;              /* the first source key's argument index */
	const struct crdt_obj **src; /* a->argc entries, NULL for an absent key */
	struct crdt_gset *res;
	enum algebra op;
};

static int add_elem(const uint8_t *e, size_t len, void *ctx)
{
	return crdt_gset_add(ctx, e, len) < 0 ? CRDT_ENOMEM : 0;
}

/* A member of the first set: kept by INTER when every other set has it,
 * by DIFF when none does. */
static int filter_elem(const uint8_t *e, size_t len, void *ctx)
{
	struct algebra_ctx *c = ctx;
	for (size_t i = c->first + 1; i < c->a->argc; i++) {
		bool in = c->src[i] && crdt_obj_contains(c->src[i], e, len);
		if (c->op == INTER ? !in : in)
			return 0;
	}
	return crdt_gset_add(c->res, e, len) < 0 ? CRDT_ENOMEM : 0;
}

/* The result of @op over the sets named by a->argv[first..] into a fresh
 * c->res (a G-Set: a plain set of byte strings, in ascending order).  0, or
 * CRDT_ETYPE / CRDT_ENOMEM with nothing left to free. */
static int algebra(struct algebra_ctx *c)
{
	const struct cmd_args *a = c->a;
	int err = 0;

	if (!(c->src = calloc(a->argc, sizeof(*c->src))))
		return CRDT_ENOMEM;
	for (size_t i = c->first; i < a->argc && !err; i++)
		err = set_at(c->d, a, i, &c->src[i]);
	if (!err && !(c->res = crdt_gset_new()))
		err = CRDT_ENOMEM;
	if (!err && c->op == UNION) {
		for (size_t i = c->first; i < a->argc && !err; i++)
			if (c->src[i])
				err = crdt_obj_foreach(c->src[i], add_elem, c->res);
	} else if (!err && c->src[c->first]) {
		err = crdt_obj_foreach(c->src[c->first], filter_elem, c);
	}
	free(c->src);
	if (err) {
		crdt_gset_free(c->res);
		c->res = NULL;
	}
	return err;
}

static int put_member(const uint8_t *e, size_t len, void *ctx)
{
	resp_bulk(ctx, e, len);
	return 0;
}

static void algebra_reply(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			  enum algebra op, struct crdt_buf *out)
{
	struct algebra_ctx c = { .d = d, .a = a, .first = 1, .op = op };
	int err = algebra(&c);

	if (err) {
		cmd_reply_crdt_error(out, err);
		return;
	}
	resp_set(out, crdt_gset_card(c.res), s->proto);
	crdt_gset_foreach(c.res, put_member, out);
	crdt_gset_free(c.res);
}

void cmd_sunion(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		struct crdt_buf *out)
{
	algebra_reply(d, s, a, UNION, out);
}

void cmd_sinter(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		struct crdt_buf *out)
{
	algebra_reply(d, s, a, INTER, out);
}

void cmd_sdiff(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out)
{
	algebra_reply(d, s, a, DIFF, out);
}

/* ---- the STORE forms --------------------------------------------------------
 *
 * S*STORE dst k [k ...] writes the result into dst as an OR-Set, and the
 * write means "dst is now exactly this, as far as I have seen": every member
 * dst holds that the result lacks is removed (observed-remove: it takes only
 * the adds this replica has seen), and every member of the result is added
 * anew, with a fresh dot.  So, merged with concurrent writes elsewhere: a
 * member that another replica adds to dst concurrently survives (add-wins),
 * and a concurrent SREM elsewhere of a member of the result does not take
 * it away (the fresh add is one that SREM never saw).  Two concurrent
 * STOREs into one dst end as the union of their results.  An empty result
 * leaves dst an empty OR-Set (Redis deletes the key; DEL does that here).
 */

struct store_ctx {
	struct crdt_gset *res;
	struct crdt_gset *gone; /* members of dst not in the result */
	const struct gossip_limits *lim;
	size_t name_len;
	char why[200];
};

static int note_gone(const uint8_t *e, size_t len, void *ctx)
{
	struct store_ctx *c = ctx;
	if (crdt_gset_contains(c->res, e, len))
		return 0;
	return crdt_gset_add(c->gone, e, len) < 0 ? CRDT_ENOMEM : 0;
}

/* Each member fits beside dst's name (a longer name than its source's
 * may not leave room in a datagram). */
static int check_elem(const uint8_t *e, size_t len, void *ctx)
{
	struct store_ctx *c = ctx;
	return gossip_limit_element(c->lim, CRDT_ORSET, c->name_len, len, c->why, sizeof(c->why));
}

struct apply_ctx {
	struct crdt_orset *os;
	const struct crdt_rid *self;
};

static int remove_elem(const uint8_t *e, size_t len, void *ctx)
{
	crdt_orset_remove(((struct apply_ctx *)ctx)->os, e, len);
	return 0;
}

static int readd_elem(const uint8_t *e, size_t len, void *ctx)
{
	struct apply_ctx *c = ctx;
	return crdt_orset_add(c->os, c->self, e, len) < 0 ? CRDT_ENOMEM : 0;
}

static void algebra_store(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
			  enum algebra op, struct crdt_buf *out)
{
	struct algebra_ctx c = { .d = d, .a = a, .first = 2, .op = op };
	struct store_ctx sc = { .lim = cmd_limits(d), .name_len = a->argl[1] };
	struct store_entry *e = store_find(&d->store, a->argv[1], a->argl[1]);
	enum crdt_type t = e ? store_entry_type(e) : 0;
	struct crdt_obj *dst = NULL;
	size_t card;
	int err;

	if (t == CRDT_GSET) {
		resp_error(out, "ERR a gset can only grow; replacing it needs an orset");
		return;
	}
	if (t && t != CRDT_ORSET) {
		resp_error(out, WRONGTYPE);
		return;
	}
	if ((err = algebra(&c))) {
		cmd_reply_crdt_error(out, err);
		return;
	}
	sc.res = c.res;
	card = crdt_gset_card(c.res);
	/* everything is checked before dst changes */
	if (crdt_gset_foreach(c.res, check_elem, &sc) < 0 ||
	    gossip_limit_card(sc.lim, card, sc.why, sizeof(sc.why)) < 0) {
		resp_error(out, "ERR %s", sc.why);
		goto done;
	}
	if (!t && card == 0) {
		resp_int(out, 0); /* nothing to write: no key is created */
		goto done;
	}
	if (!t && !cmd_may_write(d, a, CRDT_ORSET, out))
		goto done;
	if (!(sc.gone = crdt_gset_new()) ||
	    (t && crdt_obj_foreach(store_entry_slot(e, t), note_gone, &sc) < 0)) {
		cmd_reply_crdt_error(out, CRDT_ENOMEM);
		goto done;
	}
	if ((err = store_get(&d->store, a->argv[1], a->argl[1], CRDT_ORSET, true, &dst)) < 0) {
		cmd_reply_crdt_error(out, err);
		goto done;
	}
	struct apply_ctx ac = { .os = dst->os, .self = &d->store.self };
	crdt_gset_foreach(sc.gone, remove_elem, &ac);
	err = crdt_gset_foreach(c.res, readd_elem, &ac);
	/* what was applied before a failure is applied: announce it */
	cmd_wrote_state(d, a, CRDT_ORSET, dst);
	if (err)
		cmd_reply_crdt_error(out, err);
	else
		resp_int(out, (int64_t)card);
done:
	crdt_gset_free(sc.gone);
	crdt_gset_free(c.res);
}

void cmd_sunionstore(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	algebra_store(d, s, a, UNION, out);
}

void cmd_sinterstore(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	algebra_store(d, s, a, INTER, out);
}

void cmd_sdiffstore(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		    struct crdt_buf *out)
{
	algebra_store(d, s, a, DIFF, out);
}

/* SPOP and SMOVE: their Redis meaning needs one order of all writes.  Two
 * replicas could pop the same member concurrently (both clients get it),
 * or move it concurrently to two destinations (it ends in both). */
void cmd_set_diverging(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		       struct crdt_buf *out)
{
	if (cmd_arg_is(a, 0, "spop"))
		resp_error(out, "ERR SPOP cannot converge: two replicas could pop the same member "
				"concurrently; use SRANDMEMBER and SREM");
	else
		resp_error(out, "ERR SMOVE cannot converge: concurrent moves of a member on two "
				"replicas would leave it in both destinations; use SREM and SADD");
}
