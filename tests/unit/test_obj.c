/* The crdt_obj dispatcher: every type behind one handle, decode by tag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crdt/error.h"
#include "crdt/json.h"
#include "crdt/obj.h"
#include "testutil.h"

static void rid_n(struct crdt_rid *id, uint8_t n)
{
	memset(id->b, 0, sizeof(id->b));
	id->b[0] = n;
}

static uint64_t clock_1000(void *ctx)
{
	return 1000;
}

/* Put something in @o, as replica @n, so it differs from an empty state. */
static void touch(struct crdt_obj *o, uint8_t n)
{
	struct crdt_rid id;
	struct crdt_hlc h;
	char e[2] = { 'a', (char)('0' + n) };

	rid_n(&id, n);
	crdt_hlc_init(&h, clock_1000, NULL);
	switch (o->type) {
	case CRDT_GCOUNTER: assert_int_equal(crdt_gcounter_inc(o->gc, &id, n), 0); break;
	case CRDT_PNCOUNTER: assert_int_equal(crdt_pncounter_dec(o->pn, &id, n), 0); break;
	case CRDT_GSET: assert_true(crdt_gset_add(o->gs, e, sizeof(e)) >= 0); break;
	case CRDT_ORSET: assert_int_equal(crdt_orset_add(o->os, &id, e, sizeof(e)), 0); break;
	case CRDT_LWWREG: assert_int_equal(crdt_lwwreg_set(o->lww, &h, &id, e, sizeof(e)), 0); break;
	case CRDT_ORMAP:
		assert_int_equal(crdt_ormap_set(o->om, &h, &id, e, sizeof(e), "v", 1, NULL), 0);
		break;
	}
}

static void test_each_type(void **state)
{
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		struct crdt_obj a, b, c, d;
		struct crdt_buf buf;
		cJSON *j;

		assert_int_equal(crdt_obj_new((enum crdt_type)t, &a), 0);
		assert_int_equal(a.type, t);
		assert_int_equal(crdt_obj_new((enum crdt_type)t, &b), 0);
		assert_true(crdt_obj_equal(&a, &b));
		touch(&a, 1);
		assert_false(crdt_obj_equal(&a, &b));
		touch(&b, 2);
		assert_int_equal(crdt_obj_copy(&a, &c), 0);
		assert_int_equal(c.type, t);
		assert_true(crdt_obj_equal(&a, &c));
		assert_true(c.p != a.p);
		assert_int_equal(crdt_obj_merge(&a, &b), 0);
		assert_int_equal(crdt_obj_merge(&b, &c), 0);
		assert_true(crdt_obj_equal(&a, &b));

		crdt_buf_init(&buf, 0);
		assert_int_equal(crdt_obj_encode(&a, &buf), 0);
		assert_int_equal(buf.data[0], t);
		assert_int_equal(crdt_obj_decode(buf.data, buf.len, &d), 0);
		assert_int_equal(d.type, t);
		assert_true(crdt_obj_equal(&a, &d));
		/* a wrong version is refused by every type's decoder */
		buf.data[1] = CRDT_FORMAT_VERSION + 1;
		void *before = c.p;
		assert_int_equal(crdt_obj_decode(buf.data, buf.len, &c), CRDT_EPROTO);
		assert_ptr_equal(c.p, before); /* ret untouched on error */
		crdt_buf_done(&buf);

		j = crdt_obj_to_json(&a);
		assert_non_null(j);
		assert_string_equal(cJSON_GetObjectItem(j, "type")->valuestring,
				    crdt_type_name((enum crdt_type)t));
		cJSON_Delete(j);

		crdt_obj_done(&a);
		assert_null(a.p);
		crdt_obj_done(&a); /* twice is harmless */
		crdt_obj_done(&b);
		crdt_obj_done(&c);
		crdt_obj_done(&d);
	}
	crdt_obj_done(NULL);
}

static void test_type_mismatch(void **state)
{
	struct crdt_obj o[CRDT_TYPE_MAX + 1];

	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		assert_int_equal(crdt_obj_new((enum crdt_type)t, &o[t]), 0);
		touch(&o[t], 3);
	}
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		for (int u = CRDT_TYPE_MIN; u <= CRDT_TYPE_MAX; u++) {
			if (t == u)
				continue;
			assert_int_equal(crdt_obj_merge(&o[t], &o[u]), CRDT_ETYPE);
			assert_false(crdt_obj_equal(&o[t], &o[u]));
		}
	}
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++)
		crdt_obj_done(&o[t]);
}

static void test_new_unknown(void **state)
{
	struct crdt_obj o = { .type = CRDT_GCOUNTER, .p = NULL };

	assert_int_equal(crdt_obj_new((enum crdt_type)0, &o), CRDT_EINVAL);
	assert_int_equal(crdt_obj_new((enum crdt_type)(CRDT_TYPE_MAX + 1), &o), CRDT_EINVAL);
	assert_null(o.p);
	crdt_obj_done(&o); /* p == NULL is fine */
}

static void test_decode_dispatch(void **state)
{
	static const uint8_t one[] = { 1 };
	struct crdt_obj o = { .type = CRDT_GCOUNTER, .p = NULL };
	uint8_t bad[3] = { 0, CRDT_FORMAT_VERSION, 0 };

	assert_int_equal(crdt_obj_decode(one, 0, &o), CRDT_EBADMSG);
	assert_int_equal(crdt_obj_decode(one, 1, &o), CRDT_EBADMSG); /* short header */
	for (int tag = 0; tag < 256; tag++) {
		if (tag >= CRDT_TYPE_MIN && tag <= CRDT_TYPE_MAX)
			continue;
		bad[0] = (uint8_t)tag;
		assert_int_equal(crdt_obj_decode(bad, sizeof(bad), &o), CRDT_EPROTO);
	}
	assert_null(o.p);
	/* a known tag whose body is bad is the type's own -EBADMSG */
	bad[0] = CRDT_GCOUNTER;
	bad[2] = 5;
	assert_int_equal(crdt_obj_decode(bad, sizeof(bad), &o), CRDT_EBADMSG);
	assert_null(o.p);
}

struct merge_ctx {
	struct crdt_obj *into;
	size_t max;
	int pieces;
};

static int merge_piece_cb(const uint8_t *p, size_t len, void *ctx)
{
	struct merge_ctx *m = ctx;
	struct crdt_obj d;

	assert_true(len <= m->max);
	assert_int_equal(crdt_obj_decode(p, len, &d), 0);
	assert_int_equal(crdt_obj_merge(m->into, &d), 0);
	crdt_obj_done(&d);
	m->pieces++;
	return 0;
}

static void test_split(void **state)
{
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		struct crdt_obj a, e;
		struct merge_ctx m = { &e, 200, 0 };

		assert_int_equal(crdt_obj_new((enum crdt_type)t, &a), 0);
		assert_int_equal(crdt_obj_new((enum crdt_type)t, &e), 0);
		for (uint8_t n = 1; n < 40; n++)
			touch(&a, n);
		assert_int_equal(crdt_obj_split(&a, m.max, merge_piece_cb, &m), 0);
		assert_true(m.pieces >= 1);
		assert_true(crdt_obj_equal(&a, &e));
		crdt_obj_done(&a);
		crdt_obj_done(&e);
	}
}

/* ---- fingerprints: equal states, equal fingerprints ------------------ */

#define FP_REPLICAS 3

/* A random local operation of replica @n on @o, over a small element pool
 * so that adds, removes and concurrent writes meet. */
static void random_op(struct crdt_obj *o, uint8_t n, struct crdt_hlc *h, struct rng *r)
{
	struct crdt_rid id;
	char e[3] = { 'e', (char)('a' + rng_below(r, 12)), (char)('0' + rng_below(r, 3)) };
	size_t len = 2 + rng_below(r, 2);

	rid_n(&id, n);
	switch (o->type) {
	case CRDT_GCOUNTER:
		assert_int_equal(crdt_gcounter_inc(o->gc, &id, 1 + rng_below(r, 5)), 0);
		break;
	case CRDT_PNCOUNTER:
		if (rng_below(r, 2))
			assert_int_equal(crdt_pncounter_inc(o->pn, &id, 1 + rng_below(r, 5)), 0);
		else
			assert_int_equal(crdt_pncounter_dec(o->pn, &id, 1 + rng_below(r, 5)), 0);
		break;
	case CRDT_GSET: assert_true(crdt_gset_add(o->gs, e, len) >= 0); break;
	case CRDT_ORSET:
		if (rng_below(r, 3))
			assert_int_equal(crdt_orset_add(o->os, &id, e, len), 0);
		else
			assert_true(crdt_orset_remove(o->os, e, len) >= 0);
		break;
	case CRDT_LWWREG: assert_int_equal(crdt_lwwreg_set(o->lww, h, &id, e, len), 0); break;
	case CRDT_ORMAP: {
		int64_t v;
		unsigned k = rng_below(r, 3);
		if (k == 0)
			assert_int_equal(crdt_ormap_set(o->om, h, &id, e, 2, e, len, NULL), 0);
		else if (k == 1)
			assert_true(crdt_ormap_incr(o->om, &id, e, len, 1, NULL, &v) >= CRDT_EINVAL);
		else
			assert_true(crdt_ormap_del(o->om, e, len, NULL) >= 0);
		break;
	}
	}
}

/* Merge @src into @dst whole, or as the pieces of a split of random size. */
static void deliver(struct crdt_obj *dst, const struct crdt_obj *src, struct rng *r)
{
	/* a counter field with a row per replica needs room for their ids */
	size_t min = dst->type == CRDT_ORMAP ? 64 + FP_REPLICAS * CRDT_RID_LEN : 64;
	struct merge_ctx m = { dst, min + rng_below(r, 200), 0 };

	if (rng_below(r, 2))
		assert_int_equal(crdt_obj_merge(dst, src), 0);
	else
		assert_int_equal(crdt_obj_split(src, m.max, merge_piece_cb, &m), 0);
}

static uint64_t clock_step(void *ctx)
{
	return (*(uint64_t *)ctx)++;
}

/* Replicas write and exchange states (whole or split) at random; at every
 * step, any two replicas hold equal fingerprints exactly when their states
 * are equal, and a write that changes a state changes its fingerprint.  At
 * the end every replica's state is merged into fresh states in two
 * different orders, and a round trip through the codec: equal states all,
 * reached by different paths, with one fingerprint. */
static void test_fingerprint_laws(void **state)
{
	struct rng r = { test_seed("fingerprint laws") };
	int scenarios = test_scenarios(200);

	for (int sc = 0; sc < scenarios; sc++) {
		enum crdt_type t = (enum crdt_type)(CRDT_TYPE_MIN + sc % (CRDT_TYPE_MAX - CRDT_TYPE_MIN + 1));
		struct crdt_obj rep[FP_REPLICAS], a, b, c, before;
		struct crdt_buf buf;
		struct crdt_hlc h;
		uint64_t ms = 1000;

		crdt_hlc_init(&h, clock_step, &ms);
		for (int i = 0; i < FP_REPLICAS; i++)
			assert_int_equal(crdt_obj_new(t, &rep[i]), 0);
		for (int step = 0; step < 60; step++) {
			int i = (int)rng_below(&r, FP_REPLICAS), j = (int)rng_below(&r, FP_REPLICAS);

			if (rng_below(&r, 3)) {
				assert_int_equal(crdt_obj_copy(&rep[i], &before), 0);
				random_op(&rep[i], (uint8_t)(i + 1), &h, &r);
				/* an OR-Set remove of an absent element changes nothing */
				if (!crdt_obj_equal(&before, &rep[i]))
					assert_int_not_equal(crdt_obj_fingerprint(&before),
							     crdt_obj_fingerprint(&rep[i]));
				else
					assert_int_equal(crdt_obj_fingerprint(&before),
							 crdt_obj_fingerprint(&rep[i]));
				crdt_obj_done(&before);
			} else if (i != j) {
				deliver(&rep[i], &rep[j], &r);
			}
			for (int x = 0; x < FP_REPLICAS; x++)
				for (int y = x + 1; y < FP_REPLICAS; y++)
					assert_int_equal(crdt_obj_equal(&rep[x], &rep[y]),
							 crdt_obj_fingerprint(&rep[x]) ==
								 crdt_obj_fingerprint(&rep[y]));
		}
		assert_int_equal(crdt_obj_new(t, &a), 0);
		assert_int_equal(crdt_obj_new(t, &b), 0);
		for (int i = 0; i < FP_REPLICAS; i++) {
			deliver(&a, &rep[i], &r);
			deliver(&b, &rep[FP_REPLICAS - 1 - i], &r);
		}
		deliver(&b, &rep[1], &r); /* a duplicate changes nothing */
		assert_true(crdt_obj_equal(&a, &b));
		assert_int_equal(crdt_obj_fingerprint(&a), crdt_obj_fingerprint(&b));
		crdt_buf_init(&buf, 0);
		assert_int_equal(crdt_obj_encode(&a, &buf), 0);
		assert_int_equal(crdt_obj_decode(buf.data, buf.len, &c), 0);
		assert_int_equal(crdt_obj_fingerprint(&a), crdt_obj_fingerprint(&c));
		crdt_buf_done(&buf);
		crdt_obj_done(&c);
		crdt_obj_done(&a);
		crdt_obj_done(&b);
		for (int i = 0; i < FP_REPLICAS; i++)
			crdt_obj_done(&rep[i]);
	}
}

/* States of different types, even empty ones, fingerprint apart. */
static void test_fingerprint_types(void **state)
{
	uint64_t fp[CRDT_TYPE_MAX + 1];

	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		struct crdt_obj o;
		assert_int_equal(crdt_obj_new((enum crdt_type)t, &o), 0);
		fp[t] = crdt_obj_fingerprint(&o);
		assert_int_not_equal(fp[t], 0);
		for (int u = CRDT_TYPE_MIN; u < t; u++)
			assert_int_not_equal(fp[u], fp[t]);
		crdt_obj_done(&o);
	}
}

/* Every tag in range has a full row; sets, and only sets, have set calls;
 * every row sizes its one-element pieces and names its Redis type. */
static void test_type_table(void **state)
{
	assert_null(crdt_type_ops(0));
	assert_null(crdt_type_ops(CRDT_TYPE_MAX + 1));
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		const struct crdt_type_ops *ops = crdt_type_ops((enum crdt_type)t);
		bool set = t == CRDT_GSET || t == CRDT_ORSET;
		assert_non_null(ops);
		assert_int_equal(ops->type, t);
		assert_true(ops->new && ops->free && ops->copy && ops->merge && ops->equal &&
			    ops->encode && ops->decode && ops->split && ops->fingerprint);
		assert_int_equal(ops->knows_more_of != NULL, t != CRDT_GSET);
		assert_int_equal(ops->card != NULL, set);
		assert_int_equal(ops->contains != NULL, set);
		assert_int_equal(ops->foreach != NULL, set);
		assert_int_equal(ops->value != NULL, t == CRDT_GCOUNTER || t == CRDT_PNCOUNTER);
		assert_int_equal(ops->pieces_total != NULL, ops->pieces != NULL);
		assert_int_equal(ops->reserve_for != NULL, ops->pieces != NULL);
		assert_true(ops->piece_overhead > CRDT_RID_LEN || t == CRDT_GSET);
		assert_true(ops->piece_overhead > 0);
		assert_string_equal(ops->redis_type,
				    set ? "set" : t == CRDT_ORMAP ? "hash" : "string");
	}
}

/* What a catch-up announces with its pieces (an OR-Set's members, an
 * OR-Map's fields and baselines; 0 for the types without pieces), and the receiver's
 * table sized for it before a piece of the same type is merged. */
static void test_pieces_total_and_reserve(void **state)
{
	static const struct crdt_rid r = { { 9 } };
	struct crdt_obj set, big, map, got, reg;
	int64_t v;
	char k[16];

	assert_int_equal(crdt_obj_new(CRDT_ORSET, &set), 0);
	assert_int_equal(crdt_obj_new(CRDT_ORSET, &big), 0);
	assert_int_equal(crdt_obj_new(CRDT_ORMAP, &map), 0);
	assert_int_equal(crdt_obj_new(CRDT_ORMAP, &got), 0);
	assert_int_equal(crdt_obj_new(CRDT_LWWREG, &reg), 0);
	for (int i = 0; i < 3; i++)
		assert_true(crdt_orset_add(set.os, &r, k, (size_t)snprintf(k, sizeof(k), "e%d", i)) >= 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(crdt_ormap_incr(map.om, &r, k, (size_t)snprintf(k, sizeof(k), "f%d", i),
						 1, NULL, &v), 0);
	assert_int_equal(crdt_ormap_del(map.om, "f0", 2, NULL), 1);
	assert_int_equal(crdt_ormap_del(map.om, "f1", 2, NULL), 1);
	assert_int_equal(crdt_obj_pieces_total(&set), 3);
	assert_int_equal(crdt_obj_pieces_total(&map), 3 + 2); /* its fields and baselines */
	assert_int_equal(crdt_obj_pieces_total(&reg), 0);
	/* sized for 20,000 members; a map for its parts; other types and
	 * a piece of another type change nothing */
	assert_int_equal(crdt_obj_reserve_for(&big, &set, 20000), 0);
	assert_true(crdt_orset_room(big.os) >= 20000);
	assert_int_equal(crdt_obj_reserve_for(&got, &map, 70000), 0);
	assert_int_equal(crdt_obj_reserve_for(&reg, &reg, 20000), 0);
	assert_int_equal(crdt_obj_reserve_for(&got, &set, 20000), 0);
	assert_int_equal(crdt_obj_card(&big), 0);
	assert_int_equal(crdt_obj_merge(&got, &map), 0);
	assert_int_equal(crdt_ormap_bases(got.om), 2);
	crdt_obj_done(&set);
	crdt_obj_done(&big);
	crdt_obj_done(&map);
	crdt_obj_done(&got);
	crdt_obj_done(&reg);
}

static int count_cb(const uint8_t *e, size_t len, void *ctx)
{
	(*(size_t *)ctx)++;
	return 0;
}

static void test_set_calls(void **state)
{
	static const struct crdt_rid r = { { 9 } };
	struct crdt_obj o;
	size_t n;

	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		assert_int_equal(crdt_obj_new((enum crdt_type)t, &o), 0);
		if (t == CRDT_GSET)
			assert_true(crdt_gset_add(o.gs, "a", 1) >= 0);
		if (t == CRDT_ORSET)
			assert_true(crdt_orset_add(o.os, &r, "a", 1) >= 0);
		n = 0;
		assert_int_equal(crdt_obj_foreach(&o, count_cb, &n), 0);
		assert_int_equal(crdt_obj_is_set(&o), t == CRDT_GSET || t == CRDT_ORSET);
		assert_int_equal(n, crdt_obj_is_set(&o));
		assert_int_equal(crdt_obj_card(&o), crdt_obj_is_set(&o));
		assert_int_equal(crdt_obj_contains(&o, "a", 1), crdt_obj_is_set(&o));
		assert_false(crdt_obj_contains(&o, "b", 1));
		crdt_obj_done(&o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_type),
		cmocka_unit_test(test_type_mismatch),
		cmocka_unit_test(test_new_unknown),
		cmocka_unit_test(test_decode_dispatch),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_type_table),
		cmocka_unit_test(test_pieces_total_and_reserve),
		cmocka_unit_test(test_fingerprint_laws),
		cmocka_unit_test(test_fingerprint_types),
		cmocka_unit_test(test_set_calls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
