/* The OR-Map against a reference model of causal histories: HSET, HINCRBY
 * and HDEL on a few replicas, delivered as whole states, as split pieces,
 * as deltas, or through the codec; merge laws; the codec's canonical
 * form; decoders fed truncations and bit flips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crdt/error.h"
#include "crdt/hlc.h"
#include "crdt/json.h"
#include "crdt/mem.h"
#include "crdt/ormap.h"
#include "news_check.h"
#include "testutil.h"

#define NREP 3
#define NFIELD 4
#define MAXEV 96

/* ---- the model ------------------------------------------------------------
 *
 * Every operation is an event; a replica's state is the set of events it
 * has seen.  A write of field f observes the writes of f live at its
 * replica, and HDEL observes them too; a write is live where it is seen
 * and no seen event of its field observed it.  A field is present when a
 * write of it is live; its value is the greatest live register if there is
 * one, else the per-replica join of the live counters' rows less the
 * baseline: per replica the join of the rows the seen HDELs of the field
 * observed (an HINCRBY starts its rows there, so that only increments no
 * HDEL saw count).  Nothing here knows of dots or contexts. */

enum { EV_SET, EV_INCR, EV_DEL };

struct event {
	int kind, rep, field;
	uint64_t obs[2]; /* bitset of event ids */
	uint64_t ts;     /* register stamp */
	char val[24];
	int64_t p[NREP], n[NREP]; /* counter rows; an HDEL's: its baseline */
};

struct model {
	struct event ev[MAXEV];
	int nev;
	uint64_t seen[NREP][2];
};

static bool bit(const uint64_t *b, int i)
{
	return b[i / 64] >> (i % 64) & 1;
}

static void setbit(uint64_t *b, int i)
{
	b[i / 64] |= 1ULL << (i % 64);
}

static bool live(const struct model *m, const uint64_t *seen, int e)
{
	if (!bit(seen, e) || m->ev[e].kind == EV_DEL)
		return false;
	for (int x = 0; x < m->nev; x++)
		if (bit(seen, x) && m->ev[x].field == m->ev[e].field && bit(m->ev[x].obs, e))
			return false;
	return true;
}

/* The baseline of field @f under @seen into @p, @n. */
static void model_base(const struct model *m, const uint64_t *seen, int f, int64_t *p, int64_t *n)
{
	for (int e = 0; e < m->nev; e++) {
		if (m->ev[e].field != f || m->ev[e].kind != EV_DEL || !bit(seen, e))
			continue;
		for (int r = 0; r < NREP; r++) {
			if (m->ev[e].p[r] > p[r])
				p[r] = m->ev[e].p[r];
			if (m->ev[e].n[r] > n[r])
				n[r] = m->ev[e].n[r];
		}
	}
}

/* The model's value of field @f under @seen: false if absent. */
static bool model_get(const struct model *m, const uint64_t *seen, int f, char *out, size_t size)
{
	int top = -1;
	int64_t p[NREP] = { 0 }, n[NREP] = { 0 }, v = 0;
	bool any = false;

	for (int e = 0; e < m->nev; e++) {
		if (m->ev[e].field != f || !live(m, seen, e))
			continue;
		any = true;
		if (m->ev[e].kind == EV_SET && (top < 0 || m->ev[e].ts > m->ev[top].ts))
			top = e;
		for (int r = 0; m->ev[e].kind == EV_INCR && r < NREP; r++) {
			if (m->ev[e].p[r] > p[r])
				p[r] = m->ev[e].p[r];
			if (m->ev[e].n[r] > n[r])
				n[r] = m->ev[e].n[r];
		}
	}
	if (!any)
		return false;
	if (top >= 0) {
		snprintf(out, size, "%s", m->ev[top].val);
		return true;
	}
	int64_t bp[NREP] = { 0 }, bn[NREP] = { 0 };
	model_base(m, seen, f, bp, bn);
	for (int r = 0; r < NREP; r++)
		v += (p[r] > bp[r] ? p[r] - bp[r] : 0) - (n[r] > bn[r] ? n[r] - bn[r] : 0);
	snprintf(out, size, "%lld", (long long)v);
	return true;
}

/* ---- the replicas ------------------------------------------------------- */

static uint64_t now_ms;

static uint64_t clock_global(void *ctx)
{
	return now_ms;
}

struct world {
	struct model m;
	struct crdt_ormap *s[NREP];
	struct crdt_hlc hlc[NREP];
	struct crdt_rid id[NREP];
	struct rng *r;
};

static void fname(int f, char out[4])
{
	out[0] = 'f';
	out[1] = (char)('0' + f);
	out[2] = 0;
}

/* A random operation at replica @k; its delta in *ret_delta. */
static void op(struct world *w, int k, struct crdt_ormap **ret_delta)
{
	struct model *m = &w->m;
	struct event *e = &m->ev[m->nev];
	struct crdt_ormap *delta = crdt_ormap_new();
	char f[4], cur[48];
	int kind = (int)rng_below(w->r, 3), rc;
	int64_t by = (int64_t)rng_below(w->r, 7) - 3, v;

	assert_non_null(delta);
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->rep = k;
	e->field = (int)rng_below(w->r, NFIELD);
	fname(e->field, f);
	now_ms++;
	e->ts = now_ms;
	for (int x = 0; x < m->nev; x++)
		if (m->ev[x].field == e->field && live(m, m->seen[k], x))
			setbit(e->obs, x);
	if (kind == EV_SET) {
		/* sometimes an integer, so HINCRBY counts on from it */
		if (rng_below(w->r, 2))
			snprintf(e->val, sizeof(e->val), "%d", (int)rng_below(w->r, 50) - 20);
		else
			snprintf(e->val, sizeof(e->val), "v%d", m->nev);
		assert_int_equal(crdt_ormap_set(w->s[k], &w->hlc[k], &w->id[k], f, 2, e->val,
						strlen(e->val), delta),
				 0);
	} else if (kind == EV_INCR) {
		bool has = model_get(m, m->seen[k], e->field, cur, sizeof(cur));
		bool reg = false;
		int64_t base = 0;
		for (int x = 0; x < m->nev; x++) {
			if (!bit(e->obs, x))
				continue;
			if (m->ev[x].kind == EV_SET)
				reg = true;
			for (int r = 0; m->ev[x].kind == EV_INCR && r < NREP; r++) {
				if (m->ev[x].p[r] > e->p[r])
					e->p[r] = m->ev[x].p[r];
				if (m->ev[x].n[r] > e->n[r])
					e->n[r] = m->ev[x].n[r];
			}
		}
		if (reg) {
			char *end;
			memset(e->p, 0, sizeof(e->p));
			memset(e->n, 0, sizeof(e->n));
			base = strtoll(cur, &end, 10);
			if (*end || cur[0] == 0 || (cur[0] == '0' && cur[1]) ||
			    (cur[0] == '-' && cur[1] == '0')) {
				assert_int_equal(crdt_ormap_incr(w->s[k], &w->id[k], f, 2, by, delta, &v),
						 CRDT_EINVAL);
				crdt_ormap_free(delta);
				*ret_delta = NULL;
				return; /* not an event: nothing changed */
			}
		}
		/* the rows start from the baseline */
		model_base(m, m->seen[k], e->field, e->p, e->n);
		if (base > 0)
			e->p[k] += base;
		else
			e->n[k] -= base;
		if (by > 0)
			e->p[k] += by;
		else
			e->n[k] -= by;
		rc = crdt_ormap_incr(w->s[k], &w->id[k], f, 2, by, delta, &v);
		assert_int_equal(rc, 0);
		(void)has;
	} else {
		/* the baseline it leaves: the rows it removes */
		for (int x = 0; x < m->nev; x++) {
			for (int r = 0; bit(e->obs, x) && m->ev[x].kind == EV_INCR && r < NREP; r++) {
				if (m->ev[x].p[r] > e->p[r])
					e->p[r] = m->ev[x].p[r];
				if (m->ev[x].n[r] > e->n[r])
					e->n[r] = m->ev[x].n[r];
			}
		}
		rc = crdt_ormap_del(w->s[k], f, 2, delta);
		assert_true(rc >= 0);
		if (rc == 0) {
			crdt_ormap_free(delta);
			*ret_delta = NULL;
			return;
		}
	}
	setbit(m->seen[k], m->nev);
	m->nev++;
	*ret_delta = delta;
}

static void check(struct world *w, int k)
{
	size_t n = 0;

	for (int f = 0; f < NFIELD; f++) {
		char name[4], want[48];
		struct crdt_ormap_val got;
		bool mh = model_get(&w->m, w->m.seen[k], f, want, sizeof(want));
		fname(f, name);
		bool gh = crdt_ormap_get(w->s[k], name, 2, &got);
		if (mh != gh)
			fail_msg("replica %d field %s: model %s, map %s", k, name,
				 mh ? "present" : "absent", gh ? "present" : "absent");
		if (mh) {
			if (got.len != strlen(want) || memcmp(got.p, want, got.len) != 0)
				fail_msg("replica %d field %s: model %s, map %.*s", k, name, want,
					 (int)got.len, got.p);
			n++;
		}
	}
	assert_int_equal(crdt_ormap_len(w->s[k]), n);
}

struct pieces {
	struct crdt_ormap *dst;
	size_t max, n;
	uint64_t total; /* > 0: the catch-up's size, dst sized for it as the daemon does */
};

static int merge_piece(const uint8_t *p, size_t len, void *ctx)
{
	struct pieces *pc = ctx;
	struct crdt_ormap *x;

	struct crdt_buf b;

	assert_true(len <= pc->max);
	assert_int_equal(crdt_ormap_decode(p, len, &x), 0);
	/* each piece is the canonical encoding of the state it holds (the
	 * decoder also takes fields out of elemtab order) */
	crdt_buf_init(&b, 0);
	assert_int_equal(crdt_ormap_encode(x, &b), 0);
	assert_int_equal(b.len, len);
	assert_memory_equal(b.data, p, len);
	crdt_buf_done(&b);
	if (pc->total)
		assert_int_equal(crdt_ormap_reserve_for(pc->dst,
							crdt_ormap_parts(x) - crdt_ormap_bases(x),
							crdt_ormap_bases(x), pc->total),
				 0);
	assert_int_equal(crdt_ormap_merge(pc->dst, x), 0);
	crdt_ormap_free(x);
	pc->n++;
	return 0;
}

/* Replica @to learns what @from knows: whole, in pieces, or re-decoded. */
static void deliver(struct world *w, int from, int to)
{
	struct crdt_buf b;
	struct crdt_ormap *x;
	/* room for a field of several concurrent counters with every replica's
	 * row (their rows start from the baseline, so they name more replicas) */
	struct pieces pc = { w->s[to], 200 + rng_below(w->r, 300), 0, 0 };

	switch (rng_below(w->r, 3)) {
	case 0:
		assert_int_equal(crdt_ormap_merge(w->s[to], w->s[from]), 0);
		break;
	case 1:
		assert_int_equal(crdt_ormap_split(w->s[from], pc.max, merge_piece, &pc), 0);
		assert_true(pc.n >= 1);
		break;
	default:
		crdt_buf_init(&b, 0);
		assert_int_equal(crdt_ormap_encode(w->s[from], &b), 0);
		assert_int_equal(crdt_ormap_decode(b.data, b.len, &x), 0);
		assert_true(crdt_ormap_equal(x, w->s[from]));
		assert_int_equal(crdt_ormap_fingerprint(x), crdt_ormap_fingerprint(w->s[from]));
		assert_int_equal(crdt_ormap_merge(w->s[to], x), 0);
		crdt_ormap_free(x);
		crdt_buf_done(&b);
		break;
	}
	w->m.seen[to][0] |= w->m.seen[from][0];
	w->m.seen[to][1] |= w->m.seen[from][1];
}

static void world_init(struct world *w, struct rng *r)
{
	memset(w, 0, sizeof(*w));
	w->r = r;
	for (int k = 0; k < NREP; k++) {
		assert_non_null(w->s[k] = crdt_ormap_new());
		crdt_hlc_init(&w->hlc[k], clock_global, NULL);
		memset(w->id[k].b, 0, CRDT_RID_LEN);
		w->id[k].b[0] = (uint8_t)(0x30 - k); /* ids not in arrival order */
	}
}

static void world_done(struct world *w)
{
	for (int k = 0; k < NREP; k++)
		crdt_ormap_free(w->s[k]);
}

/* Random operations and deliveries; after every step each replica holds
 * exactly what the model says it has seen.  Deltas are delivered alone
 * too, out of order, to any replica.  At the end all meet and agree. */
static void test_against_model(void **state)
{
	struct rng r = { test_seed("ormap model") };
	int scenarios = test_scenarios(10000);

	for (int sc = 0; sc < scenarios; sc++) {
		struct world w;
		struct crdt_ormap *x;

		world_init(&w, &r);
		while (w.m.nev < 40) {
			int k = (int)rng_below(&r, NREP), to = (int)rng_below(&r, NREP);
			unsigned what = (unsigned)rng_below(&r, 4);
			if (what < 2) {
				struct crdt_ormap *delta;
				op(&w, k, &delta);
				if (delta && to != k && rng_below(&r, 2)) {
					/* the delta alone: exactly that event */
					assert_int_equal(crdt_ormap_merge(w.s[to], delta), 0);
					setbit(w.m.seen[to], w.m.nev - 1);
				}
				crdt_ormap_free(delta);
			} else if (k != to) {
				deliver(&w, k, to);
			}
			check(&w, k);
			check(&w, to);
		}
		for (int k = 1; k < NREP; k++)
			deliver(&w, k, 0);
		for (int k = 1; k < NREP; k++)
			deliver(&w, 0, k);
		for (int k = 0; k < NREP; k++) {
			check(&w, k);
			assert_true(crdt_ormap_equal(w.s[0], w.s[k]));
			assert_int_equal(crdt_ormap_fingerprint(w.s[0]), crdt_ormap_fingerprint(w.s[k]));
		}
		/* idempotent: merging what is already known changes nothing */
		assert_non_null(x = crdt_ormap_copy(w.s[0]));
		assert_int_equal(crdt_ormap_merge(x, w.s[1]), 0);
		assert_true(crdt_ormap_equal(x, w.s[0]));
		crdt_ormap_free(x);
		world_done(&w);
	}
}

/* Commutative, associative, idempotent, on states that diverged. */
static void test_merge_laws(void **state)
{
	struct rng r = { test_seed("ormap laws") };
	int scenarios = test_scenarios(10000) / 4;

	for (int sc = 0; sc < scenarios; sc++) {
		struct world w;
		struct crdt_ormap *ab, *ba, *ab_c, *bc, *a_bc, *aa;

		world_init(&w, &r);
		for (int i = 0; i < 30; i++) {
			struct crdt_ormap *d;
			int k = (int)rng_below(&r, NREP), to = (int)rng_below(&r, NREP);
			if (rng_below(&r, 4)) {
				op(&w, k, &d);
				crdt_ormap_free(d);
			} else if (k != to) {
				deliver(&w, k, to);
			}
		}
		ab = crdt_ormap_copy(w.s[0]);
		ba = crdt_ormap_copy(w.s[1]);
		bc = crdt_ormap_copy(w.s[1]);
		aa = crdt_ormap_copy(w.s[0]);
		assert_true(ab && ba && bc && aa);
		assert_int_equal(crdt_ormap_merge(ab, w.s[1]), 0);
		assert_int_equal(crdt_ormap_merge(ba, w.s[0]), 0);
		assert_true(crdt_ormap_equal(ab, ba));
		assert_int_equal(crdt_ormap_fingerprint(ab), crdt_ormap_fingerprint(ba));
		ab_c = crdt_ormap_copy(ab);
		assert_int_equal(crdt_ormap_merge(ab_c, w.s[2]), 0);
		assert_int_equal(crdt_ormap_merge(bc, w.s[2]), 0);
		a_bc = crdt_ormap_copy(w.s[0]);
		assert_int_equal(crdt_ormap_merge(a_bc, bc), 0);
		assert_true(crdt_ormap_equal(ab_c, a_bc));
		assert_int_equal(crdt_ormap_merge(aa, w.s[0]), 0);
		assert_true(crdt_ormap_equal(aa, w.s[0]));
		crdt_ormap_free(ab);
		crdt_ormap_free(ba);
		crdt_ormap_free(ab_c);
		crdt_ormap_free(bc);
		crdt_ormap_free(a_bc);
		crdt_ormap_free(aa);
		world_done(&w);
	}
}

static uint64_t clock_0(void *ctx)
{
	return 1000;
}

/* The rules docs/types.md states, one scenario each. */
static void test_documented_rules(void **state)
{
	struct crdt_ormap *a = crdt_ormap_new(), *b = crdt_ormap_new(), *base;
	struct crdt_rid ia = { { 1 } }, ib = { { 2 } };
	struct crdt_hlc h;
	struct crdt_ormap_val v;
	int64_t n;

	crdt_hlc_init(&h, clock_0, NULL);
	/* HINCRBY after HDEL starts from 0 */
	assert_int_equal(crdt_ormap_incr(a, &ia, "q", 1, 5, NULL, &n), 0);
	assert_int_equal(crdt_ormap_del(a, "q", 1, NULL), 1);
	assert_int_equal(crdt_ormap_del(a, "q", 1, NULL), 0);
	assert_int_equal(crdt_ormap_incr(a, &ia, "q", 1, 2, NULL, &n), 0);
	assert_int_equal(n, 2);
	/* concurrent HINCRBY on two replicas add up; a concurrent HDEL removes
	 * the 2 it saw and nothing else: 2 + 10 + 100 - 2 (issue 13) */
	assert_int_equal(crdt_ormap_merge(b, a), 0);
	base = crdt_ormap_copy(a);
	assert_int_equal(crdt_ormap_incr(a, &ia, "q", 1, 10, NULL, &n), 0);
	assert_int_equal(crdt_ormap_incr(b, &ib, "q", 1, 100, NULL, &n), 0);
	assert_int_equal(crdt_ormap_del(base, "q", 1, NULL), 1);
	assert_int_equal(crdt_ormap_merge(a, b), 0);
	assert_int_equal(crdt_ormap_merge(a, base), 0);
	assert_true(crdt_ormap_get(a, "q", 1, &v));
	assert_true(v.counter);
	assert_int_equal(v.n, 110);
	/* HSET concurrent with HINCRBY: the register is the value */
	assert_int_equal(crdt_ormap_merge(b, a), 0);
	assert_int_equal(crdt_ormap_set(a, &h, &ia, "q", 1, "7", 1, NULL), 0);
	assert_int_equal(crdt_ormap_incr(b, &ib, "q", 1, 1, NULL, &n), 0);
	assert_int_equal(crdt_ormap_merge(b, a), 0);
	assert_true(crdt_ormap_get(b, "q", 1, &v));
	assert_false(v.counter);
	assert_memory_equal(v.p, "7", 1);
	/* and HINCRBY counts on from a register's integer */
	assert_int_equal(crdt_ormap_incr(b, &ib, "q", 1, 3, NULL, &n), 0);
	assert_int_equal(n, 10);
	/* DEL (clear) is an HDEL of every field: a concurrent write survives
	 * with only what the DEL did not see, a later one starts afresh */
	crdt_ormap_free(base);
	assert_non_null(base = crdt_ormap_copy(b));
	assert_int_equal(crdt_ormap_clear(base), 1);
	assert_false(crdt_ormap_live(base));
	assert_int_equal(crdt_ormap_clear(base), 0);
	assert_int_equal(crdt_ormap_incr(b, &ib, "q", 1, 1, NULL, &n), 0);
	assert_int_equal(crdt_ormap_merge(base, b), 0);
	assert_true(crdt_ormap_get(base, "q", 1, &v));
	assert_int_equal(v.n, 1);
	assert_int_equal(crdt_ormap_len(base), 1);
	assert_int_equal(crdt_ormap_clear(base), 1);
	assert_int_equal(crdt_ormap_incr(base, &ia, "q", 1, 1, NULL, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(crdt_ormap_incr(b, &ib, "q", 1, -1, NULL, &n), 0);
	/* errors change nothing */
	assert_int_equal(crdt_ormap_set(b, &h, &ib, "s", 1, "x", 1, NULL), 0);
	assert_int_equal(crdt_ormap_incr(b, &ib, "s", 1, 1, NULL, &n), CRDT_EINVAL);
	assert_int_equal(crdt_ormap_incr(b, &ib, "q", 1, INT64_MAX, NULL, &n), CRDT_EOVERFLOW);
	assert_true(crdt_ormap_get(b, "q", 1, &v));
	assert_int_equal(v.n, 10);
	crdt_ormap_free(a);
	crdt_ormap_free(b);
	crdt_ormap_free(base);
}

/* Issue 13's example: HINCRBY 1 racing HDEL of a field at 1 leaves 1 (the
 * increment the HDEL did not see), after the codec too; the baseline the
 * HDEL left is no field. */
static void test_del_keeps_unseen(void **state)
{
	struct crdt_ormap *a = crdt_ormap_new(), *b = crdt_ormap_new(), *x;
	struct crdt_rid ia = { { 1 } }, ib = { { 2 } };
	struct crdt_ormap_val v;
	struct crdt_buf buf;
	int64_t n;

	assert_int_equal(crdt_ormap_incr(a, &ia, "k", 1, 1, NULL, &n), 0);
	assert_int_equal(crdt_ormap_merge(b, a), 0);
	assert_int_equal(crdt_ormap_del(a, "k", 1, NULL), 1);
	assert_int_equal(crdt_ormap_incr(b, &ib, "k", 1, 1, NULL, &n), 0);
	assert_int_equal(n, 2);
	assert_false(crdt_ormap_live(a));
	assert_int_equal(crdt_ormap_len(a), 0);
	assert_false(crdt_ormap_get(a, "k", 1, &v));
	crdt_buf_init(&buf, 0);
	assert_int_equal(crdt_ormap_encode(a, &buf), 0);
	assert_int_equal(crdt_ormap_decode(buf.data, buf.len, &x), 0);
	assert_true(crdt_ormap_equal(x, a));
	assert_int_equal(crdt_ormap_merge(b, x), 0);
	assert_true(crdt_ormap_get(b, "k", 1, &v));
	assert_int_equal(v.n, 1);
	assert_int_equal(crdt_ormap_merge(a, b), 0);
	assert_true(crdt_ormap_get(a, "k", 1, &v));
	assert_int_equal(v.n, 1);
	assert_true(crdt_ormap_equal(a, b));
	/* and counting on: the next HINCRBY adds to what shows */
	assert_int_equal(crdt_ormap_incr(a, &ia, "k", 1, 5, NULL, &n), 0);
	assert_int_equal(n, 6);
	crdt_buf_done(&buf);
	crdt_ormap_free(x);
	crdt_ormap_free(a);
	crdt_ormap_free(b);
}

/* 3,000 fields "field-N" written by two replicas: registers, counters
 * (every third), a seventh of them deleted again. */
static void fill_mixed(struct crdt_ormap *dst, struct crdt_hlc *h, const struct crdt_rid *id,
		       const struct crdt_rid *id2)
{
	char f[32];
	int64_t n;

	for (int i = 0; i < 3000; i++) {
		int len = snprintf(f, sizeof(f), "field-%d", i);
		const struct crdt_rid *w = i % 5 ? id : id2;
		if (i % 3)
			assert_int_equal(crdt_ormap_set(dst, h, w, f, (size_t)len, f, (size_t)len, NULL), 0);
		else
			assert_int_equal(crdt_ormap_incr(dst, w, f, (size_t)len, i, NULL, &n), 0);
		if (i % 7 == 0)
			assert_int_equal(crdt_ormap_del(dst, f, (size_t)len, NULL), 1);
	}
}

/* A large map cut into small pieces: every piece fits, any order gives it
 * back, and a piece alone never removes what another piece carries. */
/* A map with no field whose context covers dst's (a DEL's delta, its
 * baselines included) empties dst at once: the result is exactly that
 * map, fingerprint included.  A field written past it survives. */
static void test_covering_removal_clears(void **state)
{
	struct crdt_ormap *dst = crdt_ormap_new(), *del, *ahead;
	struct crdt_rid id = { { 7 } }, id2 = { { 8 } };
	struct crdt_hlc h;
	struct crdt_ormap_val v;
	int64_t n;

	crdt_hlc_init(&h, clock_0, NULL);
	fill_mixed(dst, &h, &id, &id2);
	del = crdt_ormap_copy(dst);
	assert_non_null(del);
	assert_int_equal(crdt_ormap_clear(del), 1); /* counters' rows into baselines */
	ahead = crdt_ormap_copy(dst);
	assert_non_null(ahead);
	assert_int_equal(crdt_ormap_set(ahead, &h, &id, "later", 5, "x", 1, NULL), 0);
	(void)crdt_ormap_fingerprint(dst);

	assert_int_equal(crdt_ormap_merge(dst, del), 0);
	assert_int_equal(crdt_ormap_len(dst), 0);
	assert_true(crdt_ormap_equal(dst, del));
	assert_int_equal(crdt_ormap_fingerprint(dst), crdt_ormap_fingerprint(del));
	/* a counter incremented again counts from the baseline: 1, not 1 + 3 */
	assert_int_equal(crdt_ormap_incr(dst, &id, "field-3", 7, 1, NULL, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(crdt_ormap_merge(ahead, del), 0);
	assert_int_equal(crdt_ormap_len(ahead), 1);
	assert_true(crdt_ormap_get(ahead, "later", 5, &v));
	crdt_ormap_free(dst);
	crdt_ormap_free(del);
	crdt_ormap_free(ahead);
}

/* A delete's merge that keeps a few fields (written concurrently: new, set
 * again, a counter incremented again, by a replica the delete never saw)
 * moves the rest out first (crdt_ormap_detach_removed), with the dot index
 * and without it: the merge then ends exactly where the ordinary merge
 * does, baselines and fingerprint included, and a counter goes on from the
 * same value.  More kept than the bound, or a map with a field, changes
 * nothing. */
static void test_detach_removed(void **state)
{
	struct crdt_ormap *dst = crdt_ormap_new(), *del, *a[2], *ref, *h, *peer = crdt_ormap_new();
	struct crdt_rid id = { { 7 } }, id2 = { { 8 } }, id3 = { { 9 } }, id4 = { { 10 } };
	struct crdt_hlc hlc;
	char f[32];
	int64_t n, n2;

	crdt_hlc_init(&hlc, clock_0, NULL);
	fill_mixed(dst, &hlc, &id, &id2);
	del = crdt_ormap_copy(dst);
	assert_non_null(del);
	assert_int_equal(crdt_ormap_clear(del), 1); /* counters' rows into baselines */
	/* concurrent with the delete (the first dot past its context first) */
	assert_int_equal(crdt_ormap_incr(dst, &id, "field-3", 7, 10, NULL, &n), 0);
	assert_int_equal(crdt_ormap_set(dst, &hlc, &id, "later", 5, "x", 1, NULL), 0);
	assert_int_equal(crdt_ormap_set(dst, &hlc, &id3, "elsewhere", 9, "y", 1, NULL), 0);
	assert_int_equal(crdt_ormap_set(dst, &hlc, &id2, "field-1", 7, "again", 5, NULL), 0);
	/* a small merge: dst gets its dot index, "later" a second entry */
	assert_int_equal(crdt_ormap_set(peer, &hlc, &id4, "from-peer", 9, "z", 1, NULL), 0);
	assert_int_equal(crdt_ormap_set(peer, &hlc, &id4, "later", 5, "w", 1, NULL), 0); /* 2 entries */
	assert_int_equal(crdt_ormap_merge(dst, peer), 0);
	a[0] = dst;
	a[1] = crdt_ormap_copy(dst); /* no index */
	ref = crdt_ormap_copy(dst);
	assert_int_equal(crdt_ormap_merge(ref, del), 0);
	assert_int_equal(crdt_ormap_len(ref), 5);

	for (int x = 0; x < 2; x++) {
		struct crdt_ormap *before = crdt_ormap_copy(a[x]);
		size_t len = crdt_ormap_len(a[x]);

		(void)crdt_ormap_fingerprint(a[x]);
		assert_int_equal(crdt_ormap_detach_removed(a[x], del, 4, &h), 0);
		assert_null(h);
		assert_true(crdt_ormap_equal(a[x], before));
		assert_int_equal(crdt_ormap_detach_removed(a[x], peer, 1000, &h), 0);
		assert_null(h);
		assert_int_equal(crdt_ormap_detach_removed(a[x], del, 5, &h), 1);
		assert_non_null(h);
		assert_int_equal(crdt_ormap_len(h), len); /* the table as it was */
		assert_int_equal(crdt_ormap_len(a[x]), 5);
		crdt_ormap_free(h);
		assert_int_equal(crdt_ormap_merge(a[x], del), 0);
		assert_true(crdt_ormap_equal(a[x], ref));
		assert_int_equal(crdt_ormap_fingerprint(a[x]), crdt_ormap_fingerprint(ref));
		crdt_ormap_free(before);
	}
	/* a clear of either makes the same baselines (the counter kept is
	 * known to be there) */
	struct crdt_ormap *rc = crdt_ormap_copy(ref);
	assert_int_equal(crdt_ormap_clear(rc), 1);
	assert_int_equal(crdt_ormap_clear(a[1]), 1);
	assert_true(crdt_ormap_equal(a[1], rc));
	crdt_ormap_free(rc);
	/* the counter counts on alike: what passed the baseline, then 1 */
	assert_int_equal(crdt_ormap_incr(a[0], &id, "field-3", 7, 1, NULL, &n), 0);
	assert_int_equal(crdt_ormap_incr(ref, &id, "field-3", 7, 1, NULL, &n2), 0);
	assert_int_equal(n, n2);
	assert_int_equal(n, 11);
	crdt_ormap_free(a[0]);
	crdt_ormap_free(a[1]);
	crdt_ormap_free(ref);
	crdt_ormap_free(del);

	/* more dots outside the delete's context than are looked up one by
	 * one (70,000 writes of one field since): the index is read whole */
	struct crdt_ormap *y = crdt_ormap_new(), *ydel, *yref;
	for (int i = 0; i < 5000; i++) {
		int len = snprintf(f, sizeof(f), "f%d", i);
		assert_int_equal(crdt_ormap_set(y, &hlc, &id, f, (size_t)len, "v", 1, NULL), 0);
	}
	ydel = crdt_ormap_copy(y);
	assert_non_null(ydel);
	assert_int_equal(crdt_ormap_clear(ydel), 1);
	for (int i = 0; i < 70000; i++)
		assert_int_equal(crdt_ormap_set(y, &hlc, &id, "hot", 3, "v", 1, NULL), 0);
	assert_int_equal(crdt_ormap_merge(y, peer), 0); /* its dot index */
	yref = crdt_ormap_copy(y);
	assert_int_equal(crdt_ormap_merge(yref, ydel), 0);
	assert_int_equal(crdt_ormap_len(yref), 3);
	assert_int_equal(crdt_ormap_detach_removed(y, ydel, 100, &h), 1);
	assert_int_equal(crdt_ormap_len(y), 3);
	crdt_ormap_free(h);
	assert_int_equal(crdt_ormap_merge(y, ydel), 0);
	assert_true(crdt_ormap_equal(y, yref));
	crdt_ormap_free(y);
	crdt_ormap_free(ydel);
	crdt_ormap_free(yref);
	crdt_ormap_free(peer);
}

/* crdt_ormap_clear_detach leaves the map as crdt_ormap_clear does (the
 * counters' baselines made), and hands over every field in a map of its
 * own; a map of registers only (no baseline to make) likewise. */

/* Two maps cleared by different paths are equal, with one fingerprint, and
 * @b's counter @f (of two bytes) counted @by from its baseline shows @by. */
static void assert_cleared_alike(const struct crdt_ormap *a, struct crdt_ormap *b,
				 const struct crdt_rid *id, const char *f, int64_t by)
{
	int64_t n;

	assert_true(crdt_ormap_equal(a, b));
	assert_int_equal(crdt_ormap_fingerprint(a), crdt_ormap_fingerprint(b));
	assert_int_equal(crdt_ormap_incr(b, id, f, 2, by, NULL, &n), 0);
	assert_int_equal(n, by);
}
static void test_clear_detach(void **state)
{
	struct crdt_rid id = { { 7 } };
	struct crdt_hlc h;
	char f[32];
	int64_t n;

	crdt_hlc_init(&h, clock_0, NULL);
	for (int counters = 0; counters < 2; counters++) {
		struct crdt_ormap *m = crdt_ormap_new(), *a, *b, *husk;
		for (int i = 0; i < 2000; i++) {
			int len = snprintf(f, sizeof(f), "f%d", i);
			if (counters && i % 2)
				assert_int_equal(crdt_ormap_incr(m, &id, f, (size_t)len, i, NULL, &n), 0);
			else
				assert_int_equal(crdt_ormap_set(m, &h, &id, f, (size_t)len, "v", 1, NULL), 0);
		}
		a = crdt_ormap_copy(m);
		b = crdt_ormap_copy(m);
		assert_non_null(a);
		assert_non_null(b);
		assert_int_equal(crdt_ormap_clear(a), 1);
		assert_int_equal(crdt_ormap_clear_detach(b, &husk), 1);
		assert_non_null(husk);
		assert_int_equal(crdt_ormap_len(husk), 2000);
		/* a counter goes on from its baseline */
		assert_cleared_alike(a, b, &id, "f1", 1);
		crdt_ormap_free(husk);
		crdt_ormap_free(m);
		crdt_ormap_free(a);
		crdt_ormap_free(b);
	}
}

/* Field @i's name: every other one too long to sit in a slot. */
static int field_name(char *f, size_t size, int i)
{
	return snprintf(f, size, i % 2 ? "c%d" : "a-counter-field-with-a-long-name-%d", i);
}

/* A clear of @m against an HDEL of each of its fields, one by one: the
 * same state, and the fingerprint kept equals the one computed afresh. */
static void assert_clear_is_hdels(const struct crdt_ormap *m, int fields)
{
	struct crdt_ormap *cleared = crdt_ormap_copy(m), *hdels = crdt_ormap_copy(m), *x;
	char f[64];

	assert_non_null(cleared);
	assert_non_null(hdels);
	(void)crdt_ormap_fingerprint(cleared); /* its parts kept from here on */
	(void)crdt_ormap_fingerprint(hdels);
	assert_int_equal(crdt_ormap_clear(cleared), 1);
	for (int i = 0; i < fields; i++) {
		int len = field_name(f, sizeof(f), i);
		assert_true(crdt_ormap_del(hdels, f, (size_t)len, NULL) >= 0);
	}
	assert_int_equal(crdt_ormap_len(cleared), 0);
	x = crdt_ormap_copy(cleared); /* its fingerprint computed afresh */
	assert_int_equal(crdt_ormap_fingerprint(x), crdt_ormap_fingerprint(cleared));
	crdt_ormap_free(x);
	/* a counter goes on from its baseline: 0 + 5 */
	assert_cleared_alike(hdels, cleared, &(struct crdt_rid){ { 7 } }, "c3", 5);
	crdt_ormap_free(cleared);
	crdt_ormap_free(hdels);
}

/* A clear builds the baselines in one pass over the fields and the old
 * baselines together (bases_merged) unless the map holds many more
 * baselines than fields; then it joins each field's into them.  Either
 * way it ends as an HDEL of every field does, whatever the fields hold:
 * long names, registers, two replicas' concurrent counter entries in one
 * field, baselines of their own from an earlier DEL or none, and
 * baselines of fields no longer there. */
static void test_clear_baselines(void **state)
{
	struct crdt_rid ia = { { 7 } }, ib = { { 9 } };
	struct crdt_hlc h;
	char f[64];
	int64_t n;

	crdt_hlc_init(&h, clock_0, NULL);
	/* round 0: as many baselines as fields (merged); 1: far more (joined) */
	for (int round = 0; round < 2; round++) {
		struct crdt_ormap *a = crdt_ormap_new(), *b;
		int fields = round ? 30 : 600, gone = round ? 3000 : 600;

		for (int i = 0; i < gone; i++) { /* an earlier DEL's baselines */
			int len = field_name(f, sizeof(f), fields / 2 + i);
			assert_int_equal(crdt_ormap_incr(a, &ia, f, (size_t)len, 3, NULL, &n), 0);
		}
		assert_int_equal(crdt_ormap_clear(a), 1);
		for (int i = 0; i < fields; i++) {
			int len = field_name(f, sizeof(f), i);
			if (i % 5 == 4)
				assert_int_equal(crdt_ormap_set(a, &h, &ia, f, (size_t)len, "v", 1, NULL), 0);
			else
				assert_int_equal(crdt_ormap_incr(a, &ia, f, (size_t)len, i + 1, NULL, &n), 0);
		}
		b = crdt_ormap_copy(a);
		assert_non_null(b);
		for (int i = 0; i < fields; i += 3) { /* concurrent increments elsewhere */
			int len = field_name(f, sizeof(f), i);
			if (i % 5 != 4) {
				assert_int_equal(crdt_ormap_incr(b, &ib, f, (size_t)len, 2, NULL, &n), 0);
				assert_int_equal(crdt_ormap_incr(a, &ia, f, (size_t)len, 1, NULL, &n), 0);
			}
		}
		assert_int_equal(crdt_ormap_merge(a, b), 0); /* two entries in those fields */
		crdt_ormap_free(b);
		/* fields of the earlier DEL that a replica which never saw them
		 * writes again: their entries lack the baseline's rows */
		b = crdt_ormap_new();
		for (int i = fields; i < fields + fields / 2; i++) {
			int len = field_name(f, sizeof(f), i);
			assert_int_equal(crdt_ormap_incr(b, &ib, f, (size_t)len, 2, NULL, &n), 0);
		}
		assert_int_equal(crdt_ormap_merge(a, b), 0);
		assert_int_equal(crdt_ormap_bases(a), (size_t)gone);
		assert_clear_is_hdels(a, fields + fields / 2);
		crdt_ormap_free(a);
		crdt_ormap_free(b);
	}
}

static void test_split_large(void **state)
{
	struct crdt_ormap *m = crdt_ormap_new(), *got = crdt_ormap_new(), *one;
	struct crdt_rid id = { { 7 } };
	struct crdt_hlc h;
	struct pieces pc = { got, 300, 0, 0 };
	char f[32];
	int64_t n;

	crdt_hlc_init(&h, clock_0, NULL);
	for (int i = 0; i < 3000; i++) {
		int len = snprintf(f, sizeof(f), "field-%d", i);
		if (i % 3)
			assert_int_equal(crdt_ormap_set(m, &h, &id, f, (size_t)len, f, (size_t)len, NULL), 0);
		else
			assert_int_equal(crdt_ormap_incr(m, &id, f, (size_t)len, i, NULL, &n), 0);
		if (i % 7 == 0)
			assert_int_equal(crdt_ormap_del(m, f, (size_t)len, NULL), 1);
	}
	assert_int_equal(crdt_ormap_split(m, pc.max, merge_piece, &pc), 0);
	assert_true(pc.n > 20);
	assert_true(crdt_ormap_equal(m, got));
	/* a replica that has every field merges one piece: nothing lost */
	one = crdt_ormap_copy(m);
	pc.dst = one;
	pc.n = 0;
	assert_int_equal(crdt_ormap_split(m, pc.max, merge_piece, &pc), 0);
	assert_true(crdt_ormap_equal(m, one));
	/* one field too large for the pieces is left out and counted */
	assert_int_equal(crdt_ormap_set(m, &h, &id, "big", 3, f, 0, NULL), 0);
	{
		char big[400];
		memset(big, 'x', sizeof(big));
		assert_int_equal(crdt_ormap_set(m, &h, &id, "big", 3, big, sizeof(big), NULL), 0);
	}
	crdt_ormap_free(got);
	got = crdt_ormap_new();
	pc.dst = got;
	assert_int_equal(crdt_ormap_split(m, pc.max, merge_piece, &pc), 1);
	assert_false(crdt_ormap_get(got, "big", 3, &(struct crdt_ormap_val){ 0 }));
	assert_int_equal(crdt_ormap_len(got), crdt_ormap_len(m) - 1);
	crdt_ormap_free(m);
	crdt_ormap_free(got);
	crdt_ormap_free(one);
}

/* ---- a receiver that pays for news only (crdt_ormap_piece_is_news) ---- */

/* Random maps (registers and counters, concurrent writers, deleted fields)
 * cut from a cursor, against receivers that hold the same map, miss one
 * field (its dot unseen), deleted that field (its dot seen and dead), and
 * hold one live entry the sender deleted: each piece's verdict against a
 * real merge on a copy.  Baseline pieces carry no summary. */
static void test_pieces_news(void **state)
{
	struct rng r = { test_seed("ormap pieces news") };
	struct crdt_rid ids[3] = { { { 7 } }, { { 9 } }, { { 11 } } };
	static const bool exact[4] = { true, true, false, true };
	struct crdt_hlc h;
	char f[32];
	int64_t n;

	now_ms = 1;
	crdt_hlc_init(&h, clock_global, NULL);
	for (int iter = 0; iter < 2; iter++) {
		struct crdt_ormap *m = crdt_ormap_new(), *recv[4];
		struct crdt_obj rv[4];
		struct crdt_cursor cur = CRDT_CURSOR_INIT;
		size_t no_news[4] = { 0 }, changed[4] = { 0 };
		struct news_check x = { .cur = &cur, .recv = rv, .nrecv = 4, .exact = exact,
					.no_news = no_news, .changed = changed };
		/* past PIECES_WHOLE, so the pieces go through the dot index;
		 * the second past LIVE_LISTED (its dots probed) */
		int fields = (iter == 0 ? 1500 : 4500) + (int)rng_below(&r, 1000), guard = 0;
		const struct crdt_rid *who = &ids[rng_below(&r, 3)];

		for (int i = 0; i < fields; i++) {
			int len = snprintf(f, sizeof(f), "field-%d", i);
			const struct crdt_rid *w = &ids[rng_below(&r, 3)];
			if (i % 3)
				assert_int_equal(crdt_ormap_set(m, &h, w, f, (size_t)len, f, (size_t)len, NULL), 0);
			else
				assert_int_equal(crdt_ormap_incr(m, w, f, (size_t)len, i, NULL, &n), 0);
			if (i % 7 == 0)
				assert_int_equal(crdt_ormap_del(m, f, (size_t)len, NULL), 1);
		}
		/* "gone" written and deleted; "news" written last */
		recv[3] = crdt_ormap_copy(m);
		assert_int_equal(crdt_ormap_set(m, &h, who, "gone", 4, "g", 1, NULL), 0);
		assert_int_equal(crdt_ormap_set(recv[3], &h, who, "gone", 4, "g", 1, NULL), 0);
		assert_int_equal(crdt_ormap_del(m, "gone", 4, NULL), 1); /* recv[3] keeps it live */
		recv[1] = crdt_ormap_copy(m); /* missing "news" */
		assert_int_equal(crdt_ormap_set(m, &h, who, "news", 4, "n", 1, NULL), 0);
		/* recv[3] has not seen "news" either: it gets it; its "gone" is
		 * the sender's deleted one (the same dot: the copies share the
		 * clock's order up to here) */
		recv[2] = crdt_ormap_copy(m);
		assert_int_equal(crdt_ormap_del(recv[2], "news", 4, NULL), 1); /* deleted it */
		recv[0] = crdt_ormap_copy(m); /* the same */
		for (int i = 0; i < 4; i++)
			rv[i] = (struct crdt_obj){ .type = CRDT_ORMAP, .om = recv[i] };
		while (!cur.done) {
			assert_int_equal(crdt_ormap_pieces(m, &cur, 300 + rng_below(&r, 900), 1,
							   news_check_cb, &x),
					 0);
			assert_true(++guard < 100000);
		}
		assert_true(x.summed > 2);
		assert_true(x.plain > 0); /* the counters' baselines */
		news_check_three(&x);
		assert_true(changed[3] >= 1);               /* the delete reaches it, and "news" */
		assert_int_equal(no_news[3], x.summed - changed[3]);
		for (int i = 0; i < 4; i++)
			crdt_ormap_free(recv[i]);
		crdt_ormap_free(m);
	}
}

/* Pieces from a cursor, a few a call (crdt_ormap_pieces), of a map that
 * changes between calls (new fields, overwrites, increments, deletes, each
 * with its delta): the pieces alone end at least the map as it was when the
 * first was cut and at most the map at the end; with the deltas of the
 * changes they end exactly equal.  And a map still in the table's hash
 * order, unchanged, comes back whole from its pieces. */
static void test_pieces_from_cursor(void **state)
{
	struct rng r = { test_seed("ormap pieces from cursor") };
	struct crdt_rid id = { { 7 } }, other = { { 9 } };
	struct crdt_hlc h;
	char f[32];
	int64_t n;

	now_ms = 1;
	crdt_hlc_init(&h, clock_global, NULL);
	for (int round = 0; round < 4; round++) {
		struct crdt_ormap *m = crdt_ormap_new(), *got = crdt_ormap_new(), *start, *deltas = crdt_ormap_new(), *x;
		struct crdt_cursor cur = CRDT_CURSOR_INIT;
		struct pieces pc = { got, 250 + rng_below(&r, 400), 0, 0 };
		/* rounds 2 and 3 probe the dot index for each dot; 0 and 1
		 * step through their live dots, listed (codec.c, LIVE_LISTED) */
		int fields = (round < 2 ? 1500 : 4500) + (int)rng_below(&r, 1500), calls = 0, rc;
		bool mutate = round % 2;

		for (int i = 0; i < fields; i++) {
			int len = snprintf(f, sizeof(f), "field-%d", i);
			if (i % 3)
				assert_int_equal(crdt_ormap_set(m, &h, &id, f, (size_t)len, f, (size_t)len, NULL), 0);
			else
				assert_int_equal(crdt_ormap_incr(m, i % 2 ? &id : &other, f, (size_t)len, i, NULL, &n), 0);
			if (i % 7 == 0)
				assert_int_equal(crdt_ormap_del(m, f, (size_t)len, NULL), 1);
		}
		start = crdt_ormap_copy(m);
		while (!cur.done) {
			uint64_t before = cur.pieces;
			assert_int_equal(crdt_ormap_pieces(m, &cur, pc.max, 1 + rng_below(&r, 4), merge_piece, &pc), 0);
			assert_int_equal(cur.pieces - before, pc.n - before);
			assert_true(++calls < 100000);
			for (int k = 0; mutate && k < 3; k++) {
				int i = (int)rng_below(&r, (uint64_t)fields * 2);
				int len = snprintf(f, sizeof(f), "field-%d", i);
				switch (rng_below(&r, 3)) {
				case 0:
					assert_int_equal(crdt_ormap_set(m, &h, &id, f, (size_t)len, "v", 1, deltas), 0);
					break;
				case 1:
					/* -EINVAL: the field holds a register "v" */
					rc = crdt_ormap_incr(m, &other, f, (size_t)len, 1, deltas, &n);
					assert_true(rc == 0 || rc == -EINVAL);
					break;
				default:
					assert_true(crdt_ormap_del(m, f, (size_t)len, deltas) >= 0);
				}
			}
		}
		assert_int_equal(cur.skipped, 0);
		assert_int_equal(cur.pieces, pc.n);
		assert_true(calls > 10); /* it was cut a few pieces at a time */
		if (!mutate) {
			assert_true(crdt_ormap_equal(m, got));
		} else {
			/* start <= got: merging start changes nothing */
			x = crdt_ormap_copy(got);
			assert_int_equal(crdt_ormap_merge(x, start), 0);
			assert_true(crdt_ormap_equal(x, got));
			crdt_ormap_free(x);
			/* got <= m */
			x = crdt_ormap_copy(m);
			assert_int_equal(crdt_ormap_merge(x, got), 0);
			assert_true(crdt_ormap_equal(x, m));
			crdt_ormap_free(x);
			/* with the changes' deltas: exactly m */
			assert_int_equal(crdt_ormap_merge(got, deltas), 0);
			assert_true(crdt_ormap_equal(got, m));
		}
		crdt_ormap_free(m);
		crdt_ormap_free(got);
		crdt_ormap_free(start);
		crdt_ormap_free(deltas);
	}
}

/* A map that deletes of counter fields left with many baselines goes a few
 * pieces a call too, its baselines included (crdt_ormap_parts counts
 * them): no call emits more than it was asked for past the one it began,
 * the pieces end equal to the map, and baselines joined or added between
 * calls arrive with their deltas. */
static void test_pieces_of_baselines(void **state)
{
	struct rng r = { test_seed("ormap pieces of baselines") };
	struct crdt_rid id = { { 7 } }, other = { { 9 } };
	char f[32];
	int64_t n;

	for (int round = 0; round < 4; round++) {
		struct crdt_ormap *m = crdt_ormap_new(), *got = crdt_ormap_new(), *deltas = crdt_ormap_new();
		struct crdt_cursor cur = CRDT_CURSOR_INIT;
		struct pieces pc = { got, 200 + rng_below(&r, 300), 0, 0 };
		int fields = 3000 + (int)rng_below(&r, 2000), calls = 0;
		bool mutate = round % 2;

		for (int i = 0; i < fields; i++) { /* some names too long for a slot */
			int len = snprintf(f, sizeof(f), i % 4 ? "c%d" : "c%d-and-a-longer-name", i);
			assert_int_equal(crdt_ormap_incr(m, i % 3 ? &id : &other, f, (size_t)len, i + 1, NULL, &n), 0);
		}
		assert_int_equal(crdt_ormap_clear(m), 1);
		for (int i = 0; i < 20; i++) { /* a few counted again since */
			int len = snprintf(f, sizeof(f), "c%d", i * 7);
			assert_int_equal(crdt_ormap_incr(m, &id, f, (size_t)len, 5, NULL, &n), 0);
		}
		assert_int_equal(crdt_ormap_len(m), 20);
		assert_int_equal(crdt_ormap_parts(m), 20 + (size_t)fields);
		while (!cur.done) {
			uint64_t before = pc.n, k = 1 + rng_below(&r, 3);
			assert_int_equal(crdt_ormap_pieces(m, &cur, pc.max, k, merge_piece, &pc), 0);
			assert_true(pc.n - before <= k);
			assert_int_equal(cur.pieces, pc.n);
			assert_true(++calls < 100000);
			for (int j = 0; mutate && j < 2; j++) {
				int i = (int)rng_below(&r, (uint64_t)fields * 2);
				int len = snprintf(f, sizeof(f), "c%d", i);
				assert_int_equal(crdt_ormap_incr(m, &other, f, (size_t)len, 3, deltas, &n), 0);
				assert_int_equal(crdt_ormap_del(m, f, (size_t)len, deltas), 1);
			}
		}
		assert_int_equal(cur.skipped, 0);
		assert_true(calls > 20);
		if (mutate)
			assert_int_equal(crdt_ormap_merge(got, deltas), 0);
		assert_true(crdt_ormap_equal(got, m));
		assert_int_equal(crdt_ormap_fingerprint(got), crdt_ormap_fingerprint(m));
		/* and the values a later increment shows */
		for (int i = 0; i < 30; i++) {
			int64_t want;
			int len = snprintf(f, sizeof(f), "c%d", i * 7);
			assert_int_equal(crdt_ormap_incr(m, &id, f, (size_t)len, 1, NULL, &want), 0);
			assert_int_equal(crdt_ormap_incr(got, &id, f, (size_t)len, 1, NULL, &n), 0);
			assert_int_equal(n, want);
		}
		crdt_ormap_free(m);
		crdt_ormap_free(got);
		crdt_ormap_free(deltas);
	}
}

/* The fields held when the first table of at least 100,000 slots was
 * handed to the populate hook (0: none yet). */
static struct {
	const struct crdt_ormap *m;
	size_t held;
} big;

static void big_hook(void *addr, size_t len)
{
	(void)addr;
	if (!big.held && len >= 100000 * 16) /* a slot is 16 bytes or more */
		big.held = crdt_ormap_len(big.m) + 1;
}

/* A map filled piece by piece from empty, told the sender's size (a
 * catch-up's), sizes its field table for it early, as a set does, rather
 * than doubling it and placing every field again at each growth: the
 * table for 100,000 fields is made while it holds a few thousand, not
 * once it holds tens of thousands (a hash of 1,000,000 fields held one
 * receiving call 9.7 ms placing them). */
static void test_pieces_sized(void **state)
{
	struct crdt_ormap *m = crdt_ormap_new(), *got = crdt_ormap_new();
	struct crdt_cursor cur = CRDT_CURSOR_INIT;
	struct crdt_rid id = { { 7 } };
	struct crdt_hlc hlc;
	struct pieces pc = { got, 1200, 0, 0 };
	char f[32];

	crdt_hlc_init(&hlc, NULL, NULL);
	for (int i = 0; i < 100000; i++) {
		int len = snprintf(f, sizeof(f), "f%d", i);
		assert_int_equal(crdt_ormap_set(m, &hlc, &id, f, (size_t)len, "v", 1, NULL), 0);
	}
	pc.total = crdt_ormap_parts(m);
	big.m = got;
	big.held = 0;
	crdt_set_populate(big_hook);
	while (!cur.done)
		assert_int_equal(crdt_ormap_pieces(m, &cur, pc.max, 64, merge_piece, &pc), 0);
	crdt_set_populate(NULL);
	assert_true(crdt_ormap_equal(got, m));
	assert_true(big.held > 0);
	assert_true(big.held < 10000);
	crdt_ormap_free(m);
	crdt_ormap_free(got);
}

/* The DEL of a large hash of counters: its context, with the few fields
 * written since, goes in the first piece from a cursor, however many dots
 * it spans, so a peer's merge of that piece removes every field the DEL
 * removed (as the DEL's own delta would) and not a slice of them in each
 * of several merges that visit every field. */
static void test_pieces_of_cleared_map(void **state)
{
	struct crdt_ormap *m = crdt_ormap_new(), *peer, *got = crdt_ormap_new();
	struct crdt_cursor cur = CRDT_CURSOR_INIT;
	struct crdt_rid id = { { 7 } };
	struct pieces pc = { NULL, 1200, 0, 0 };
	char f[32];
	int64_t n;

	for (int i = 0; i < 100000; i++) {
		int len = snprintf(f, sizeof(f), "c%d", i);
		assert_int_equal(crdt_ormap_incr(m, &id, f, (size_t)len, 1, NULL, &n), 0);
	}
	peer = crdt_ormap_copy(m);
	assert_non_null(peer);
	assert_int_equal(crdt_ormap_clear(m), 1);
	assert_int_equal(crdt_ormap_incr(m, &id, "new", 3, 2, NULL, &n), 0);
	pc.dst = peer;
	assert_int_equal(crdt_ormap_pieces(m, &cur, pc.max, 1, merge_piece, &pc), 0);
	assert_int_equal(pc.n, 1);
	assert_int_equal(crdt_ormap_len(peer), 1);
	assert_true(crdt_ormap_get(peer, "new", 3, &(struct crdt_ormap_val){ 0 }));
	/* the baselines come next, in hash order: sized for all at once
	 * (as the daemon does, from the catch-up's count), or each piece's
	 * inserts would probe one run that grows with every piece */
	assert_int_equal(crdt_ormap_reserve_for(peer, 0, 1, crdt_ormap_parts(m)), 0);
	while (!cur.done)
		assert_int_equal(crdt_ormap_pieces(m, &cur, pc.max, 64, merge_piece, &pc), 0);
	assert_true(crdt_ormap_equal(peer, m));
	/* and from nothing */
	cur = CRDT_CURSOR_INIT;
	pc.dst = got;
	assert_int_equal(crdt_ormap_reserve_for(got, 0, 1, crdt_ormap_parts(m)), 0);
	while (!cur.done)
		assert_int_equal(crdt_ormap_pieces(m, &cur, pc.max, 64, merge_piece, &pc), 0);
	assert_true(crdt_ormap_equal(got, m));
	crdt_ormap_free(m);
	crdt_ormap_free(peer);
	crdt_ormap_free(got);
}

/* A delta of deletes alone (every other field of 4,000: no field, a context
 * of 2,000 intervals) is cut from the cursor, a piece a call, each filled
 * to its bytes (an interval costs its varints, 3 bytes here, not the 20 a
 * cut once counted for it: seven times the pieces); merged into the map as
 * it was, the pieces delete exactly those fields. */
static void test_pieces_of_deletes(void **state)
{
	struct crdt_ormap *m = crdt_ormap_new(), *d = crdt_ormap_new(), *was;
	struct crdt_cursor cur = CRDT_CURSOR_INIT;
	struct crdt_hlc h;
	struct crdt_rid id = { { 7 } };
	struct pieces pc = { NULL, 200, 0, 0 };
	char f[32];

	now_ms = 1;
	crdt_hlc_init(&h, clock_global, NULL);
	for (int i = 0; i < 4000; i++) {
		int len = snprintf(f, sizeof(f), "f%d", i);
		assert_int_equal(crdt_ormap_set(m, &h, &id, f, (size_t)len, "v", 1, NULL), 0);
	}
	assert_non_null(was = crdt_ormap_copy(m));
	for (int i = 1; i < 4000; i += 2) {
		int len = snprintf(f, sizeof(f), "f%d", i);
		assert_int_equal(crdt_ormap_del(m, f, (size_t)len, d), 1);
	}
	assert_int_equal(crdt_ormap_len(d), 0);
	assert_int_equal(crdt_ormap_context_len(d), 2000);
	pc.dst = was;
	for (size_t calls = 1; !cur.done; calls++) {
		assert_int_equal(crdt_ormap_pieces(d, &cur, pc.max, 1, merge_piece, &pc), 0);
		assert_true(pc.n <= calls);
		assert_true(calls < 1000);
	}
	assert_true(pc.n < 60); /* about 2,000 intervals of 3 bytes, 200 a piece */
	assert_true(crdt_ormap_equal(was, m));
	crdt_ormap_free(was);
	crdt_ormap_free(d);
	crdt_ormap_free(m);
}

/* Small merges into a large map go through the dot index and visit only the
 * fields they touch: a large map that receives another's deltas and split
 * pieces one by one ends equal to what the whole-state merge (which visits
 * every field) gives, after random writes, overwrites and deletes on both. */
static void test_small_merges(void **state)
{
	struct rng r = { test_seed("ormap small merges") };
	struct crdt_rid ia = { { 1 } }, ib = { { 2 } };
	struct crdt_hlc h;
	char f[32];
	int64_t n;

	now_ms = 1;
	crdt_hlc_init(&h, clock_global, NULL);
	for (int round = 0; round < 20; round++) {
		struct crdt_ormap *a = crdt_ormap_new(), *deltas = crdt_ormap_new(), *a0, *b, *whole;
		struct pieces pc;
		int nf = 300 + (int)rng_below(&r, 3000);

		for (int i = 0; i < nf; i++) {
			int len = snprintf(f, sizeof(f), "f%d", i);
			now_ms++;
			assert_int_equal(crdt_ormap_set(a, &h, &ia, f, (size_t)len, "x", 1, NULL), 0);
		}
		b = crdt_ormap_copy(a);
		a0 = crdt_ormap_copy(a);
		for (int i = 0; i < 200; i++) {
			int len = snprintf(f, sizeof(f), "f%d", (int)rng_below(&r, (uint64_t)nf + 50));
			struct crdt_ormap *m = rng_below(&r, 2) ? a : b, *d = crdt_ormap_new();
			const struct crdt_rid *id = m == a ? &ia : &ib;
			now_ms++;
			switch (rng_below(&r, 3)) {
			case 0:
				assert_int_equal(crdt_ormap_set(m, &h, id, f, (size_t)len, f, (size_t)len, d), 0);
				break;
			case 1:
				assert_true(crdt_ormap_incr(m, id, f, (size_t)len, 1, d, &n) >= CRDT_EINVAL);
				break;
			default:
				assert_true(crdt_ormap_del(m, f, (size_t)len, d) >= 0);
				break;
			}
			if (m == a)
				assert_int_equal(crdt_ormap_merge(deltas, d), 0);
			/* now and then a's delta reaches b at once */
			if (m == a && rng_below(&r, 3) == 0)
				assert_int_equal(crdt_ormap_merge(b, d), 0);
			crdt_ormap_free(d);
		}
		/* a's writes joined one by one into deltas (the delta gossip
		 * queues: small merges once it has a few dozen fields) take a
		 * from where it was to where it is */
		assert_int_equal(crdt_ormap_merge(a0, deltas), 0);
		assert_true(crdt_ormap_equal(a0, a));
		crdt_ormap_free(a0);
		whole = crdt_ormap_copy(b);
		assert_int_equal(crdt_ormap_merge(whole, a), 0);
		/* b learns a's state piece by piece, and the joined deltas */
		pc = (struct pieces){ b, 200 + rng_below(&r, 1200), 0, 0 };
		assert_int_equal(crdt_ormap_split(a, pc.max, merge_piece, &pc), 0);
		assert_int_equal(crdt_ormap_merge(b, deltas), 0);
		assert_true(crdt_ormap_equal(b, whole));
		assert_int_equal(crdt_ormap_fingerprint(b), crdt_ormap_fingerprint(whole));
		crdt_ormap_free(a);
		crdt_ormap_free(b);
		crdt_ormap_free(whole);
		crdt_ormap_free(deltas);
	}
}

/* A map's fingerprint equals the one computed afresh (a copy's, which
 * starts without the parts the map keeps) after every step of a seeded run
 * on a large map @a and a diverging replica @b, both fingerprinted first so
 * that they keep it: HSET, HINCRBY (counters with rows of both replicas),
 * HDEL (baselines), a rare clear; b's deltas, split pieces and whole state
 * into a (small merges through the dot index, and bulk ones), a's into b. */
static void fp_check(const struct crdt_ormap *m)
{
	struct crdt_ormap *c = crdt_ormap_copy(m);

	assert_non_null(c);
	assert_int_equal(crdt_ormap_fingerprint(m), crdt_ormap_fingerprint(c));
	crdt_ormap_free(c);
}

static void fp_write(struct crdt_ormap *m, struct rng *r, struct crdt_hlc *h,
		     const struct crdt_rid *id, int nf, struct crdt_ormap *delta)
{
	char f[16], v[16];
	int fl = snprintf(f, sizeof(f), "f%d", (int)rng_below(r, (uint64_t)nf)), vl;
	int64_t n;

	now_ms++;
	switch (rng_below(r, 10)) {
	case 0: case 1: case 2: case 3:
		vl = snprintf(v, sizeof(v), "v%d", (int)rng_below(r, 1000));
		assert_int_equal(crdt_ormap_set(m, h, id, f, (size_t)fl, v, (size_t)vl, delta), 0);
		break;
	case 4: case 5: case 6:
		/* -EINVAL on a register that holds no integer */
		assert_true(crdt_ormap_incr(m, id, f, (size_t)fl, (int64_t)rng_below(r, 9) - 4, delta,
					    &n) >= CRDT_EINVAL);
		break;
	default:
		assert_true(crdt_ormap_del(m, f, (size_t)fl, delta) >= 0);
		break;
	}
}

static void test_fingerprint_kept(void **state)
{
	struct rng r = { test_seed("ormap fingerprint kept") };
	struct crdt_rid ia = { { 1 } }, ib = { { 2 } };
	struct crdt_hlc h;
	struct crdt_buf buf;

	(void)state;
	now_ms = 1;
	crdt_hlc_init(&h, clock_global, NULL);
	for (int round = 0; round < 6; round++) {
		struct crdt_ormap *a = crdt_ormap_new(), *b, *x;
		int nf = 400 + (int)rng_below(&r, 800);
		char f[16];

		assert_non_null(a);
		for (int i = 0; i < nf; i++) {
			int len = snprintf(f, sizeof(f), "f%d", i);
			now_ms++;
			assert_int_equal(crdt_ormap_set(a, &h, &ia, f, (size_t)len, "x", 1, NULL), 0);
		}
		assert_non_null(b = crdt_ormap_copy(a));
		(void)crdt_ormap_fingerprint(a); /* both keep it from here */
		(void)crdt_ormap_fingerprint(b);
		for (int step = 0; step < 400; step++) {
			struct crdt_ormap *d = crdt_ormap_new();
			struct pieces pc;
			uint64_t what = rng_below(&r, 100);

			assert_non_null(d);
			if (what < 35) {
				fp_write(a, &r, &h, &ia, nf + 20, NULL);
			} else if (what < 75) {
				/* b writes; its delta reaches a now or never */
				fp_write(b, &r, &h, &ib, nf + 20, d);
				if (rng_below(&r, 3))
					assert_int_equal(crdt_ormap_merge(a, d), 0);
			} else if (what < 85) {
				/* a's write reaches b as a delta */
				fp_write(a, &r, &h, &ia, nf + 20, d);
				assert_int_equal(crdt_ormap_merge(b, d), 0);
				fp_check(b);
			} else if (what < 93) {
				pc = (struct pieces){ a, 200 + rng_below(&r, 800), 0, 0 };
				assert_int_equal(crdt_ormap_split(b, pc.max, merge_piece, &pc), 0);
			} else if (what < 98) {
				assert_int_equal(crdt_ormap_merge(a, b), 0);
				assert_int_equal(crdt_ormap_merge(b, a), 0);
				assert_true(crdt_ormap_equal(a, b));
				assert_int_equal(crdt_ormap_fingerprint(a), crdt_ormap_fingerprint(b));
				fp_check(b);
			} else {
				assert_true(crdt_ormap_clear(b) >= 0);
				fp_check(b);
			}
			crdt_ormap_free(d);
			fp_check(a);
			if (step % 16 == 0)
				fp_check(b);
		}
		/* and the codec's round trip agrees */
		crdt_buf_init(&buf, 0);
		assert_int_equal(crdt_ormap_encode(a, &buf), 0);
		assert_int_equal(crdt_ormap_decode(buf.data, buf.len, &x), 0);
		assert_int_equal(crdt_ormap_fingerprint(a), crdt_ormap_fingerprint(x));
		crdt_buf_done(&buf);
		crdt_ormap_free(x);
		crdt_ormap_free(a);
		crdt_ormap_free(b);
	}
}

/* Decoders take only canonical encodings: every truncation and random bit
 * flips of a valid one either fail or decode to a state that encodes back
 * to the same bytes. */
/* Two fields whose entries share one dot do not decode; the same map with
 * the second entry under its own dot does. */
static void test_decode_dot_twice(void **state)
{
	uint8_t twice[] = { 0x06, 0x01, 0x01, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
			    0x01, 0x00, 0x01, 0x01, 0x00, /* context: replica 0, [1, 1] */
			    0x02, /* two fields */
			    0x01, 'a', 0x01, 0x00, 0x01, 0x00, 0x05, 0x00, 0x01, 'x',
			    0x01, 'b', 0x01, 0x00, 0x01, 0x00, 0x05, 0x00, 0x01, 'x',
			    0x00 };
	struct crdt_ormap *m;

	assert_int_equal(crdt_ormap_decode(twice, sizeof(twice), &m), CRDT_EBADMSG);
	twice[23] = 0x01; /* context [1, 2] */
	twice[39] = 0x02; /* field b's entry under dot 2 */
	assert_int_equal(crdt_ormap_decode(twice, sizeof(twice), &m), 0);
	assert_int_equal(crdt_ormap_len(m), 2);
	crdt_ormap_free(m);
}

static void test_decode_hardened(void **state)
{
	struct rng r = { test_seed("ormap decode") };
	struct world w;
	struct crdt_buf b, c;
	struct crdt_ormap *x;
	int64_t n;

	world_init(&w, &r);
	for (int i = 0; i < 40; i++) {
		struct crdt_ormap *d;
		op(&w, i % NREP, &d);
		crdt_ormap_free(d);
		if (i % 5 == 0)
			deliver(&w, i % NREP, (i + 1) % NREP);
	}
	assert_int_equal(crdt_ormap_incr(w.s[0], &w.id[0], "c", 1, -5, NULL, &n), 0);
	crdt_buf_init(&b, 0);
	assert_int_equal(crdt_ormap_encode(w.s[0], &b), 0);
	for (size_t l = 0; l < b.len; l++)
		assert_true(crdt_ormap_decode(b.data, l, &x) < 0);
	for (int i = 0; i < 20000; i++) {
		uint8_t *p = malloc(b.len);
		assert_non_null(p);
		memcpy(p, b.data, b.len);
		for (int k = 0; k < 1 + (int)rng_below(&r, 3); k++)
			p[rng_below(&r, b.len)] ^= (uint8_t)(1u << rng_below(&r, 8));
		if (crdt_ormap_decode(p, b.len, &x) == 0) {
			struct crdt_ormap *y = NULL;
			struct crdt_buf d;
			/* canonical: a flip may reorder the fields, which the
			 * decoder takes; the state encodes its one way, which
			 * decodes to it and encodes back to itself */
			crdt_buf_init(&c, 0);
			crdt_buf_init(&d, 0);
			assert_int_equal(crdt_ormap_encode(x, &c), 0);
			assert_int_equal(c.len, b.len);
			assert_int_equal(crdt_ormap_decode(c.data, c.len, &y), 0);
			assert_true(crdt_ormap_equal(x, y));
			assert_int_equal(crdt_ormap_encode(y, &d), 0);
			assert_int_equal(d.len, c.len);
			assert_memory_equal(d.data, c.data, c.len);
			crdt_buf_done(&c);
			crdt_buf_done(&d);
			crdt_ormap_free(x);
			crdt_ormap_free(y);
		}
		free(p);
	}
	crdt_buf_done(&b);
	world_done(&w);
}

static uint64_t fixed_ms(void *ctx)
{
	(void)ctx;
	return 1700000000000ULL;
}

/* Many sets into one map and one delta, the field tables sized first
 * (crdt_ormap_reserve, as a HSET of many fields does) or not: the same map,
 * the same delta, and the delta alone brings a copy of the map as it was
 * to the map as it is.  Each new field's write joins the delta in place
 * (join_new_field); a field set again in the same delta by a merge. */
static void test_reserve_and_many_sets(void **state)
{
	enum { N = 3000, PRE = 500 };
	struct crdt_rid id = { { 7 } };
	struct crdt_ormap *m[2], *d[2], *before;
	struct crdt_hlc h[2];
	char f[32], v[32];

	(void)state;
	for (int k = 0; k < 2; k++) {
		crdt_hlc_init(&h[k], fixed_ms, NULL);
		m[k] = crdt_ormap_new();
		d[k] = crdt_ormap_new();
		assert_non_null(m[k]);
		assert_non_null(d[k]);
		for (int i = 0; i < PRE; i++) { /* fields held before */
			int n = snprintf(f, sizeof(f), "f%05d", 3 * i);
			assert_int_equal(crdt_ormap_set(m[k], &h[k], &id, f, (size_t)n, "old", 3, NULL), 0);
		}
	}
	before = crdt_ormap_copy(m[0]);
	assert_non_null(before);
	assert_int_equal(crdt_ormap_reserve(m[1], N), 0);
	assert_int_equal(crdt_ormap_reserve(d[1], N), 0);
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < N; i++) { /* some held, some new, a few twice */
			int n = snprintf(f, sizeof(f), "f%05d", i % 7 == 6 ? i - 1 : i);
			int vn = snprintf(v, sizeof(v), "v%d", i);
			assert_int_equal(crdt_ormap_set(m[k], &h[k], &id, f, (size_t)n, v, (size_t)vn, d[k]), 0);
		}
		assert_int_equal(crdt_ormap_del(m[k], "f00003", 6, d[k]), 1);
	}
	assert_true(crdt_ormap_equal(m[0], m[1]));
	assert_true(crdt_ormap_equal(d[0], d[1]));
	assert_int_equal(crdt_ormap_fingerprint(d[0]), crdt_ormap_fingerprint(d[1]));
	assert_int_equal(crdt_ormap_merge(before, d[1]), 0);
	assert_true(crdt_ormap_equal(before, m[1]));
	assert_int_equal(crdt_ormap_fingerprint(before), crdt_ormap_fingerprint(m[1]));
	/* the delta is a sound state: it decodes (each entry's dot in its
	 * context) to itself */
	struct crdt_buf b;
	struct crdt_ormap *back = NULL;
	crdt_buf_init(&b, 0);
	assert_int_equal(crdt_ormap_encode(d[1], &b), 0);
	assert_int_equal(crdt_ormap_decode(b.data, b.len, &back), 0);
	assert_true(crdt_ormap_equal(back, d[1]));
	crdt_ormap_free(back);
	crdt_buf_done(&b);
	for (int k = 0; k < 2; k++) {
		crdt_ormap_free(m[k]);
		crdt_ormap_free(d[k]);
	}
	crdt_ormap_free(before);
}

static void test_json(void **state)
{
	struct crdt_ormap *m = crdt_ormap_new();
	struct crdt_rid id = { { 7 } };
	struct crdt_hlc h;
	int64_t n;
	char *s;
	cJSON *j;

	crdt_hlc_init(&h, clock_0, NULL);
	assert_int_equal(crdt_ormap_set(m, &h, &id, "name", 4, "ann", 3, NULL), 0);
	assert_int_equal(crdt_ormap_incr(m, &id, "qty", 3, -4, NULL, &n), 0);
	assert_non_null(j = crdt_ormap_to_json(m));
	s = cJSON_PrintUnformatted(j);
	assert_string_equal(s, "{\"type\":\"ormap\",\"len\":2,\"fields\":[{\"field\":\"name\","
			       "\"value\":\"ann\"},{\"field\":\"qty\",\"counter\":-4}]}");
	free(s);
	cJSON_Delete(j);
	crdt_ormap_free(m);
}

static int count_piece(const uint8_t *p, size_t len, void *ctx)
{
	(void)p;
	(void)len;
	++*(int *)ctx;
	return 0;
}

/* The dot index grows a few slots a put (ormap/index.c): while the
 * outgrown table is still being moved, a delete merged from a peer finds
 * each field whose dot sits in it (without the old table's lookup, the
 * first such delete is lost), and a field deleted here meanwhile stays
 * deleted. */
static void test_index_growing(void **state)
{
	struct crdt_rid ia = { { 1 } };
	struct crdt_hlc h;
	struct crdt_ormap *m = crdt_ormap_new(), *peer;
	struct crdt_cursor cur = CRDT_CURSOR_INIT;
	struct crdt_ormap_val val;
	int pieces = 0;
	char f[32];

	(void)state;
	now_ms = 1;
	crdt_hlc_init(&h, clock_global, NULL);
	for (int i = 0; i < 2000; i++) {
		int len = snprintf(f, sizeof(f), "f%05d", i);
		assert_int_equal(crdt_ormap_set(m, &h, &ia, f, (size_t)len, "v", 1, NULL), 0);
	}
	/* a cut of more than 1,024 fields builds the index, sized for them */
	assert_int_equal(crdt_ormap_pieces(m, &cur, 1400, 1, count_piece, &pieces), 0);
	assert_int_equal(pieces, 1);
	peer = crdt_ormap_copy(m);
	assert_non_null(peer);
	/* past half the index's 4,096 slots, then a few puts more: most of
	 * the old table is not moved yet */
	for (int i = 2000; i < 2060; i++) {
		int len = snprintf(f, sizeof(f), "f%05d", i);
		assert_int_equal(crdt_ormap_set(m, &h, &ia, f, (size_t)len, "v", 1, NULL), 0);
	}
	assert_int_equal(crdt_ormap_del(m, "f00007", 6, NULL), 1);
	for (int i = 1; i < 2000; i += 13) {
		struct crdt_ormap *d = crdt_ormap_new();
		int len = snprintf(f, sizeof(f), "f%05d", i);
		assert_non_null(d);
		assert_int_equal(crdt_ormap_del(peer, f, (size_t)len, d), 1);
		assert_int_equal(crdt_ormap_merge(m, d), 0);
		assert_false(crdt_ormap_get(m, f, (size_t)len, &val));
		crdt_ormap_free(d);
	}
	assert_false(crdt_ormap_get(m, "f00007", 6, &val));
	assert_true(crdt_ormap_get(m, "f00002", 6, &val));
	assert_int_equal(crdt_ormap_len(m), 2060 - 1 - 154);
	crdt_ormap_free(peer);
	crdt_ormap_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_documented_rules),
		cmocka_unit_test(test_del_keeps_unseen), cmocka_unit_test(test_against_model),
		cmocka_unit_test(test_merge_laws),       cmocka_unit_test(test_split_large),
		cmocka_unit_test(test_covering_removal_clears),
		cmocka_unit_test(test_clear_detach),
		cmocka_unit_test(test_detach_removed),
		cmocka_unit_test(test_pieces_from_cursor),
		cmocka_unit_test(test_pieces_news),
		cmocka_unit_test(test_pieces_of_baselines),
		cmocka_unit_test(test_clear_baselines),
		cmocka_unit_test(test_pieces_of_cleared_map),
		cmocka_unit_test(test_pieces_sized), cmocka_unit_test(test_pieces_of_deletes),
		cmocka_unit_test(test_small_merges),
		cmocka_unit_test(test_decode_dot_twice), cmocka_unit_test(test_decode_hardened),  cmocka_unit_test(test_json),
		cmocka_unit_test(test_fingerprint_kept),
		cmocka_unit_test(test_reserve_and_many_sets),
		cmocka_unit_test(test_index_growing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
