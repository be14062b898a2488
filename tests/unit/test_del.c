/* The observed-remove delete (crdt_obj_clear) of every type, against a
 * reference model: seeded interleavings of deletes with adds, removes,
 * increments and SETs on three replicas that merge at random, through the
 * merge, the codec and the split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crdt/error.h"
#include "crdt/obj.h"
#include "testutil.h"

#define NREP 3
#define NEV 64    /* events per scenario: one bit each in a uint64_t */
#define UNIVERSE 4 /* OR-Set elements "a".."d"; register values too */

enum ev_kind { EV_ADD, EV_REM, EV_INC, EV_DEC, EV_SET, EV_DEL };

/* One operation as the model sees it.  A remove or a delete covers what
 * its replica knew (seen); a set carries the stamp the register gave it; a
 * delete of a register, the stamp of the value it removed (tomb). */
struct ev {
	enum ev_kind kind;
	int elem;     /* ADD/REM/SET: element or value index */
	int64_t n;    /* INC/DEC */
	uint64_t seen;
	struct crdt_hlc_ts ts;
	struct crdt_rid rid;
	bool tomb; /* DEL of a register that held a value */
};

struct scen {
	enum crdt_type type;
	struct crdt_obj o[NREP];
	struct crdt_rid rid[NREP];
	struct crdt_hlc hlc[NREP];
	uint64_t clock[NREP];
	uint64_t known[NREP];
	struct ev ev[NEV];
	int nev;
	struct rng *rng;
	uint64_t seed;
};

static uint64_t fake_clock(void *ctx)
{
	return *(uint64_t *)ctx;
}

static const char *const names[UNIVERSE] = { "a", "b", "c", "d" };

static int stamp_cmp(const struct crdt_hlc_ts *ats, const struct crdt_rid *arid,
		     const struct crdt_hlc_ts *bts, const struct crdt_rid *brid)
{
	int c = crdt_hlc_cmp(ats, bts);
	return c ? c : crdt_rid_cmp(arid, brid);
}

/* ---- the model: a value computed from the set of events a replica knows */

static bool covered(const struct scen *sc, uint64_t known, int i)
{
	const struct ev *a = &sc->ev[i];

	for (int k = 0; k < sc->nev; k++) {
		const struct ev *d = &sc->ev[k];
		if (!(known >> k & 1) || !(d->seen >> i & 1))
			continue;
		if (d->kind == EV_DEL || (d->kind == EV_REM && d->elem == a->elem))
			return true;
	}
	return false;
}

static bool model_has(const struct scen *sc, uint64_t known, int elem)
{
	for (int i = 0; i < sc->nev; i++)
		if ((known >> i & 1) && sc->ev[i].kind == EV_ADD && sc->ev[i].elem == elem &&
		    !covered(sc, known, i))
			return true;
	return false;
}

/* Counters: the increments and decrements no known delete saw. */
static int64_t model_count(const struct scen *sc, uint64_t known, bool *ret_live)
{
	int64_t v = 0;

	*ret_live = false;
	for (int i = 0; i < sc->nev; i++) {
		const struct ev *e = &sc->ev[i];
		if (!(known >> i & 1) || (e->kind != EV_INC && e->kind != EV_DEC) ||
		    covered(sc, known, i))
			continue;
		v += e->kind == EV_INC ? e->n : -e->n;
		*ret_live = true;
	}
	return v;
}

/* Registers: the greatest known SET stamped after every known tombstone;
 * -1 for none. */
static int model_reg(const struct scen *sc, uint64_t known)
{
	int best = -1;

	for (int i = 0; i < sc->nev; i++) {
		const struct ev *e = &sc->ev[i];
		bool dead = false;

		if (!(known >> i & 1) || e->kind != EV_SET)
			continue;
		for (int k = 0; k < sc->nev && !dead; k++) {
			const struct ev *d = &sc->ev[k];
			dead = (known >> k & 1) && d->kind == EV_DEL && d->tomb &&
			       stamp_cmp(&e->ts, &e->rid, &d->ts, &d->rid) <= 0;
		}
		if (!dead && (best < 0 || stamp_cmp(&e->ts, &e->rid, &sc->ev[best].ts,
						    &sc->ev[best].rid) > 0))
			best = i;
	}
	return best;
}

/* Replica @r's state against the model of what it knows. */
static void check(const struct scen *sc, int r)
{
	const struct crdt_obj *o = &sc->o[r];
	uint64_t known = sc->known[r];
	bool live = false;

	switch (o->type) {
	case CRDT_ORSET: {
		size_t card = 0;
		for (int e = 0; e < UNIVERSE; e++) {
			bool want = model_has(sc, known, e);
			if (want != crdt_obj_contains(o, names[e], 1))
				fail_msg("seed %llu replica %d: element %s present %d, model %d",
					 (unsigned long long)sc->seed, r, names[e], !want, want);
			card += want;
		}
		assert_int_equal(crdt_obj_card(o), card);
		live = card > 0;
		break;
	}
	case CRDT_PNCOUNTER: {
		int64_t v, want = model_count(sc, known, &live);
		assert_int_equal(crdt_obj_value(o, &v), 0);
		if (v != want)
			fail_msg("seed %llu replica %d: counter %lld, model %lld",
				 (unsigned long long)sc->seed, r, (long long)v, (long long)want);
		break;
	}
	case CRDT_LWWREG: {
		int best = model_reg(sc, known);
		const uint8_t *val;
		size_t len;
		bool has = crdt_lwwreg_get(o->lww, &val, &len);
		if (has != (best >= 0))
			fail_msg("seed %llu replica %d: register holds a value %d, model %d",
				 (unsigned long long)sc->seed, r, has, best >= 0);
		if (has) {
			assert_int_equal(len, 1);
			assert_memory_equal(val, names[sc->ev[best].elem], 1);
		}
		live = has;
		break;
	}
	default:
		fail();
	}
	if (crdt_obj_live(o) != live)
		fail_msg("seed %llu replica %d: live %d, model %d", (unsigned long long)sc->seed, r,
			 !live, live);
}

/* ---- operations ------------------------------------------------------------ */

static void local_op(struct scen *sc, int r)
{
	struct crdt_obj *o = &sc->o[r];
	struct ev *e = &sc->ev[sc->nev];
	uint64_t pick = rng_below(sc->rng, 10);

	*e = (struct ev){ .seen = sc->known[r], .elem = (int)rng_below(sc->rng, UNIVERSE) };
	sc->clock[r] += rng_below(sc->rng, 3); /* clocks drift apart, sometimes stand still */
	if (pick < 3) {
		/* a delete observes exactly what its replica knows */
		e->kind = EV_DEL;
		if (o->type == CRDT_LWWREG && o->lww->set) {
			e->tomb = true;
			e->ts = o->lww->ts;
			e->rid = *crdt_rid_at(o->lww->rix);
		}
		assert_true(crdt_obj_clear(o) >= 0);
		assert_false(crdt_obj_live(o));
	} else if (o->type == CRDT_ORSET) {
		e->kind = pick < 5 ? EV_REM : EV_ADD;
		if (e->kind == EV_ADD)
			assert_int_equal(crdt_orset_add(o->os, &sc->rid[r], names[e->elem], 1), 0);
		else
			crdt_orset_remove(o->os, names[e->elem], 1);
	} else if (o->type == CRDT_PNCOUNTER) {
		e->n = 1 + (int64_t)rng_below(sc->rng, 5);
		e->kind = pick < 5 ? EV_DEC : EV_INC;
		assert_int_equal(e->kind == EV_INC ? crdt_pncounter_inc(o->pn, &sc->rid[r], e->n)
						   : crdt_pncounter_dec(o->pn, &sc->rid[r], e->n),
				 0);
	} else {
		e->kind = EV_SET;
		assert_int_equal(crdt_lwwreg_set(o->lww, &sc->hlc[r], &sc->rid[r], names[e->elem], 1),
				 0);
		e->ts = o->lww->ts;
		e->rid = *crdt_rid_at(o->lww->rix);
	}
	sc->known[r] |= 1ULL << sc->nev;
	sc->nev++;
}

static int merge_piece(const uint8_t *p, size_t len, void *ctx)
{
	struct crdt_obj piece;
	int r = crdt_obj_decode(p, len, &piece);

	if (r == 0) {
		r = crdt_obj_merge(ctx, &piece);
		crdt_obj_done(&piece);
	}
	return r;
}

/* dst ⊔= src, by one of the three ways a state travels. */
static void merge_into(struct scen *sc, int dst, int src)
{
	struct crdt_buf b;
	struct crdt_obj dec;

	switch (rng_below(sc->rng, 3)) {
	case 0:
		assert_int_equal(crdt_obj_merge(&sc->o[dst], &sc->o[src]), 0);
		break;
	case 1:
		crdt_buf_init(&b, 0);
		assert_int_equal(crdt_obj_encode(&sc->o[src], &b), 0);
		assert_int_equal(crdt_obj_decode(b.data, b.len, &dec), 0);
		crdt_buf_done(&b);
		assert_int_equal(crdt_obj_merge(&sc->o[dst], &dec), 0);
		crdt_obj_done(&dec);
		break;
	default:
		/* small pieces: a counter row or two, a few set elements */
		assert_int_equal(crdt_obj_split(&sc->o[src], 72, merge_piece, &sc->o[dst]), 0);
		break;
	}
	sc->known[dst] |= sc->known[src];
}

/* Merging commutes and is idempotent for this pair of states. */
static void check_laws(const struct crdt_obj *a, const struct crdt_obj *b)
{
	struct crdt_obj ab, ba, aa;

	assert_int_equal(crdt_obj_copy(a, &ab), 0);
	assert_int_equal(crdt_obj_copy(b, &ba), 0);
	assert_int_equal(crdt_obj_copy(a, &aa), 0);
	assert_int_equal(crdt_obj_merge(&ab, b), 0);
	assert_int_equal(crdt_obj_merge(&ba, a), 0);
	assert_int_equal(crdt_obj_merge(&aa, a), 0);
	assert_true(crdt_obj_equal(&ab, &ba));
	assert_int_equal(crdt_obj_fingerprint(&ab), crdt_obj_fingerprint(&ba));
	assert_true(crdt_obj_equal(&aa, a));
	crdt_obj_done(&ab);
	crdt_obj_done(&ba);
	crdt_obj_done(&aa);
}

static void scenario(enum crdt_type t, struct rng *rng, uint64_t seed)
{
	struct scen sc = { .type = t, .rng = rng, .seed = seed };
	int steps = 8 + (int)rng_below(rng, NEV - 8);

	for (int r = 0; r < NREP; r++) {
		assert_int_equal(crdt_obj_new(t, &sc.o[r]), 0);
		crdt_rid_generate(&sc.rid[r]);
		sc.clock[r] = 1000 + rng_below(rng, 5);
		crdt_hlc_init(&sc.hlc[r], fake_clock, &sc.clock[r]);
	}
	for (int s = 0; s < steps && sc.nev < NEV; s++) {
		int r = (int)rng_below(rng, NREP), q = (int)rng_below(rng, NREP);

		if (rng_below(rng, 3) == 0 && q != r) {
			if (rng_below(rng, 4) == 0)
				check_laws(&sc.o[r], &sc.o[q]);
			merge_into(&sc, r, q);
		} else {
			local_op(&sc, r);
		}
		check(&sc, r);
	}
	/* heal: everyone learns everything, in a random order */
	for (int round = 0; round < 2; round++)
		for (int k = 0; k < NREP * NREP; k++) {
			int a = (int)rng_below(rng, NREP), b = (int)rng_below(rng, NREP);
			if (a != b)
				merge_into(&sc, a, b);
		}
	for (int r = 1; r < NREP; r++) {
		merge_into(&sc, 0, r);
	}
	for (int r = 1; r < NREP; r++)
		merge_into(&sc, r, 0);
	for (int r = 0; r < NREP; r++) {
		assert_int_equal(sc.known[r], sc.known[0]);
		check(&sc, r);
		assert_true(crdt_obj_equal(&sc.o[r], &sc.o[0]));
		assert_int_equal(crdt_obj_fingerprint(&sc.o[r]), crdt_obj_fingerprint(&sc.o[0]));
	}
	for (int r = 0; r < NREP; r++)
		crdt_obj_done(&sc.o[r]);
}

static void run(enum crdt_type t, const char *what)
{
	struct rng rng;
	uint64_t seed = test_seed(what);
	int n = test_scenarios(10000);

	for (int i = 0; i < n; i++) {
		rng.s = seed + (uint64_t)i;
		scenario(t, &rng, seed + (uint64_t)i);
	}
}

static void test_orset_del(void **state)
{
	run(CRDT_ORSET, "del orset");
}

static void test_pncounter_del(void **state)
{
	run(CRDT_PNCOUNTER, "del pncounter");
}

static void test_lwwreg_del(void **state)
{
	run(CRDT_LWWREG, "del lwwreg");
}

/* The cases the issue names, by hand: what each replica ends with. */
static void test_concurrent_writes_survive(void **state)
{
	struct crdt_rid a, b;
	struct crdt_hlc ha, hb;
	uint64_t ca = 1000, cb = 900; /* b's clock is behind */
	struct crdt_pncounter *pa = crdt_pncounter_new(), *pb;
	struct crdt_lwwreg *ra = crdt_lwwreg_new(), *rb, *old;
	int64_t v;

	crdt_rid_generate(&a);
	crdt_rid_generate(&b);
	crdt_hlc_init(&ha, fake_clock, &ca);
	crdt_hlc_init(&hb, fake_clock, &cb);

	/* counter: a deletes 10 while b adds 5 it never saw: 5 remain */
	assert_int_equal(crdt_pncounter_inc(pa, &a, 10), 0);
	pb = crdt_pncounter_copy(pa);
	assert_int_equal(crdt_pncounter_clear(pa), 1);
	assert_int_equal(crdt_pncounter_clear(pa), 0);
	assert_int_equal(crdt_pncounter_inc(pb, &b, 5), 0);
	assert_int_equal(crdt_pncounter_merge(pa, pb), 0);
	assert_int_equal(crdt_pncounter_value(pa, &v), 0);
	assert_int_equal(v, 5);
	assert_true(crdt_pncounter_live(pa));
	crdt_pncounter_free(pb);

	/* register: b's SET after the value both saw survives a's DEL of it,
	 * though b's clock is behind a's */
	assert_int_equal(crdt_lwwreg_set(ra, &ha, &a, "x", 1), 0);
	rb = crdt_lwwreg_copy(ra);
	old = crdt_lwwreg_copy(ra);
	assert_int_equal(crdt_lwwreg_clear(ra), 1);
	assert_false(crdt_lwwreg_live(ra));
	assert_int_equal(crdt_lwwreg_set(rb, &hb, &b, "y", 1), 0);
	assert_int_equal(crdt_lwwreg_merge(ra, rb), 0);
	assert_true(crdt_lwwreg_live(ra));
	assert_int_equal(crdt_lwwreg_value(ra)[0], 'y');
	/* the deleted value itself, merged again, stays deleted */
	assert_int_equal(crdt_lwwreg_clear(ra), 1);
	assert_int_equal(crdt_lwwreg_merge(ra, old), 0);
	assert_int_equal(crdt_lwwreg_merge(ra, rb), 0);
	assert_false(crdt_lwwreg_live(ra));
	crdt_lwwreg_free(ra);
	crdt_lwwreg_free(rb);
	crdt_lwwreg_free(old);
	crdt_pncounter_free(pa);
}

static void test_grow_only_refuse(void **state)
{
	struct crdt_obj o;
	struct crdt_rid a;
	struct crdt_buf b1, b2;

	crdt_rid_generate(&a);
	for (enum crdt_type t = CRDT_GCOUNTER; t <= CRDT_GSET; t += CRDT_GSET - CRDT_GCOUNTER) {
		assert_int_equal(crdt_obj_new(t, &o), 0);
		if (t == CRDT_GCOUNTER)
			assert_int_equal(crdt_gcounter_inc(o.gc, &a, 3), 0);
		else
			assert_int_equal(crdt_gset_add(o.gs, "x", 1), 1);
		crdt_buf_init(&b1, 0);
		crdt_buf_init(&b2, 0);
		assert_int_equal(crdt_obj_encode(&o, &b1), 0);
		assert_false(crdt_obj_can_clear(&o));
		assert_int_equal(crdt_obj_clear(&o), -EOPNOTSUPP);
		assert_true(crdt_obj_live(&o));
		assert_int_equal(crdt_obj_encode(&o, &b2), 0);
		assert_int_equal(b1.len, b2.len);
		assert_memory_equal(b1.data, b2.data, b1.len);
		crdt_buf_done(&b1);
		crdt_buf_done(&b2);
		crdt_obj_done(&o);
	}
}

/* A counter never deleted encodes as before; baselines are checked. */
static void test_pncounter_baseline_codec(void **state)
{
	struct crdt_pncounter *c = crdt_pncounter_new(), *d;
	struct crdt_rid a;
	struct crdt_buf b;
	size_t before;

	crdt_rid_generate(&a);
	assert_int_equal(crdt_pncounter_inc(c, &a, 7), 0);
	crdt_buf_init(&b, 0);
	assert_int_equal(crdt_pncounter_encode(c, &b), 0);
	/* header 2, table 1 + 16, P: count, index, total; N: count */
	assert_int_equal(b.len, 2 + 17 + 3 + 1);
	before = b.len;
	/* trailing empty baselines would be a second encoding of the state */
	crdt_buf_put_u8(&b, 0);
	crdt_buf_put_u8(&b, 0);
	assert_int_equal(crdt_pncounter_decode(b.data, b.len, &d), CRDT_EBADMSG);
	/* a baseline above its total */
	b.len = before;
	crdt_buf_put_u8(&b, 1);
	crdt_buf_put_u8(&b, 0);
	crdt_buf_put_u8(&b, 8);
	crdt_buf_put_u8(&b, 0);
	assert_int_equal(crdt_pncounter_decode(b.data, b.len, &d), CRDT_EBADMSG);
	/* at its total: the encoding of the deleted counter */
	b.data[b.len - 2] = 7;
	assert_int_equal(crdt_pncounter_decode(b.data, b.len, &d), 0);
	assert_int_equal(crdt_pncounter_clear(c), 1);
	assert_true(crdt_pncounter_equal(c, d));
	assert_false(crdt_pncounter_live(d));
	crdt_pncounter_free(d);
	crdt_buf_done(&b);
	crdt_pncounter_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_writes_survive),
		cmocka_unit_test(test_grow_only_refuse),
		cmocka_unit_test(test_pncounter_baseline_codec),
		cmocka_unit_test(test_orset_del),
		cmocka_unit_test(test_pncounter_del),
		cmocka_unit_test(test_lwwreg_del),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
