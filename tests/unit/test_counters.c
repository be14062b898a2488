/* G-Counter and PN-Counter: semantics, merge laws, codecs, splits, and a
 * seeded simulation of replicas exchanging whole states and split pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crdt/error.h"
#include "crdt/json.h"
#include "crdt/gcounter.h"
#include "crdt/pncounter.h"
#include "testutil.h"

static uint64_t seed;

static void rid_rand(struct rng *r, struct crdt_rid *id)
{
	for (int i = 0; i < CRDT_RID_LEN; i += 8) {
		uint64_t v = rng_next(r);
		memcpy(id->b + i, &v, 8);
	}
}

static void rid_n(struct crdt_rid *id, uint8_t n)
{
	memset(id->b, 0, sizeof(id->b));
	id->b[0] = n;
}

/* Amounts of every size, small ones most often. */
static int64_t rand_amount(struct rng *r)
{
	switch (rng_below(r, 4)) {
	case 0: return 1;
	case 1: return 1 + (int64_t)rng_below(r, 100);
	case 2: return 1 + (int64_t)rng_below(r, 1000000);
	default: return 1 + (int64_t)rng_below(r, 1ULL << rng_below(r, 40));
	}
}

/* ---- a common face for both counters, so one simulation serves both ---- */

struct ops {
	const char *name;
	void *(*make)(void);
	void (*free)(void *);
	int (*merge)(void *, const void *);
	bool (*equal)(const void *, const void *);
	int (*encode)(const void *, struct crdt_buf *);
	int (*decode)(const uint8_t *, size_t, void **);
	int (*split)(const void *, size_t, crdt_piece_cb, void *);
	int (*value)(const void *, int64_t *);
	size_t min_piece; /* the largest one-replica piece */
	bool pn;
};

static void *g_make(void) { return crdt_gcounter_new(); }
static void g_free(void *p) { crdt_gcounter_free(p); }
static int g_merge(void *d, const void *s) { return crdt_gcounter_merge(d, s); }
static bool g_equal(const void *a, const void *b) { return crdt_gcounter_equal(a, b); }
static int g_encode(const void *p, struct crdt_buf *b) { return crdt_gcounter_encode(p, b); }
static int g_decode(const uint8_t *p, size_t n, void **ret)
{
	return crdt_gcounter_decode(p, n, (struct crdt_gcounter **)ret);
}
static int g_split(const void *p, size_t max, crdt_piece_cb cb, void *ctx)
{
	return crdt_gcounter_split(p, max, cb, ctx);
}
static int g_value(const void *p, int64_t *v) { return crdt_gcounter_value(p, v); }

static void *pn_make(void) { return crdt_pncounter_new(); }
static void pn_free(void *p) { crdt_pncounter_free(p); }
static int pn_merge(void *d, const void *s) { return crdt_pncounter_merge(d, s); }
static bool pn_equal(const void *a, const void *b) { return crdt_pncounter_equal(a, b); }
static int pn_encode(const void *p, struct crdt_buf *b) { return crdt_pncounter_encode(p, b); }
static int pn_decode(const uint8_t *p, size_t n, void **ret)
{
	return crdt_pncounter_decode(p, n, (struct crdt_pncounter **)ret);
}
static int pn_split(const void *p, size_t max, crdt_piece_cb cb, void *ctx)
{
	return crdt_pncounter_split(p, max, cb, ctx);
}
static int pn_value(const void *p, int64_t *v) { return crdt_pncounter_value(p, v); }

static const struct ops gops = { "gcounter", g_make, g_free, g_merge, g_equal, g_encode,
				 g_decode, g_split, g_value, 2 + 1 + 16 + 10, false };
static const struct ops pnops = { "pncounter", pn_make, pn_free, pn_merge, pn_equal, pn_encode,
				  pn_decode, pn_split, pn_value, 2 + 1 + 16 + 2 * 12, true };

/* Apply one random update as replica @id; returns the change in value, 0 if
 * refused (overflow). */
static int64_t rand_op(const struct ops *o, void *s, const struct crdt_rid *id, struct rng *r)
{
	int64_t n = rand_amount(r);
	int e;

	if (o->pn && rng_below(r, 2)) {
		e = crdt_pncounter_dec(s, id, n);
		n = -n;
	} else {
		e = o->pn ? crdt_pncounter_inc(s, id, n) : crdt_gcounter_inc(s, id, n);
	}
	assert_true(e == 0 || e == CRDT_EOVERFLOW);
	return e == 0 ? n : 0;
}

static void *rand_state(const struct ops *o, struct rng *r, const struct crdt_rid *pool,
			size_t npool, int ops)
{
	void *s = o->make();

	assert_non_null(s);
	for (int i = 0; i < ops; i++)
		rand_op(o, s, &pool[rng_below(r, npool)], r);
	return s;
}

static void *round_trip(const struct ops *o, const void *s)
{
	struct crdt_buf b;
	void *d = NULL;

	crdt_buf_init(&b, 0);
	assert_int_equal(o->encode(s, &b), 0);
	assert_int_equal(o->decode(b.data, b.len, &d), 0);
	crdt_buf_done(&b);
	return d;
}

static void *copy_of(const struct ops *o, const void *s)
{
	void *d = o->make();

	assert_int_equal(o->merge(d, s), 0);
	return d;
}

/* ---- semantics ---- */

static void test_gcounter_basics(void **state)
{
	struct crdt_gcounter *g = crdt_gcounter_new(), *h = crdt_gcounter_new();
	struct crdt_rid a, b;
	int64_t v = -1;

	rid_n(&a, 1);
	rid_n(&b, 2);
	assert_int_equal(crdt_gcounter_value(g, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(crdt_gcounter_inc(g, &a, 0), CRDT_EINVAL);
	assert_int_equal(crdt_gcounter_inc(g, &a, -5), CRDT_EINVAL);
	assert_int_equal(crdt_gcounter_inc(g, &a, INT64_MIN), CRDT_EINVAL);
	assert_int_equal(g->vv.len, 0);
	assert_int_equal(crdt_gcounter_inc(g, &a, 5), 0);
	assert_int_equal(crdt_gcounter_inc(g, &a, 2), 0);
	assert_int_equal(crdt_gcounter_inc(h, &b, 10), 0);
	assert_int_equal(crdt_gcounter_merge(g, h), 0);
	assert_int_equal(crdt_gcounter_merge(g, h), 0);
	assert_int_equal(crdt_gcounter_value(g, &v), 0);
	assert_int_equal(v, 17);
	assert_int_equal(crdt_vv_get(&g->vv, &a), 7);
	crdt_gcounter_free(g);
	crdt_gcounter_free(h);
	crdt_gcounter_free(NULL);
}

static void test_gcounter_overflow(void **state)
{
	struct crdt_gcounter *g = crdt_gcounter_new(), *h = crdt_gcounter_new(), *c;
	struct crdt_rid a, b;
	int64_t v;

	rid_n(&a, 1);
	rid_n(&b, 2);
	assert_int_equal(crdt_gcounter_inc(g, &a, INT64_MAX - 1), 0);
	assert_int_equal(crdt_gcounter_inc(g, &b, 1), 0);
	c = crdt_gcounter_copy(g);
	assert_int_equal(crdt_gcounter_inc(g, &a, 1), CRDT_EOVERFLOW);
	assert_int_equal(crdt_gcounter_inc(g, &b, INT64_MAX), CRDT_EOVERFLOW);
	assert_true(crdt_gcounter_equal(g, c));
	assert_int_equal(crdt_gcounter_value(g, &v), 0);
	assert_true(v == INT64_MAX);

	/* Two replicas near the top concurrently: each increment was fine
	 * locally, the merge holds both, and the value no longer fits. */
	crdt_gcounter_free(g);
	crdt_gcounter_free(c);
	g = crdt_gcounter_new();
	assert_int_equal(crdt_gcounter_inc(g, &a, INT64_MAX - 10), 0);
	assert_int_equal(crdt_gcounter_inc(h, &b, INT64_MAX - 10), 0);
	c = crdt_gcounter_copy(h);
	assert_int_equal(crdt_gcounter_merge(g, h), 0);
	assert_int_equal(crdt_gcounter_merge(c, g), 0);
	assert_true(crdt_gcounter_equal(g, c));
	v = 42;
	assert_int_equal(crdt_gcounter_value(g, &v), CRDT_EOVERFLOW);
	assert_int_equal(v, 42); /* ret_* untouched on error */
	assert_int_equal(crdt_gcounter_inc(g, &a, 1), CRDT_EOVERFLOW);
	assert_true(crdt_gcounter_equal(g, c));

	cJSON *j = crdt_gcounter_to_json(g);
	assert_non_null(j);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "value")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "overflow")));
	cJSON_Delete(j);
	crdt_gcounter_free(g);
	crdt_gcounter_free(h);
	crdt_gcounter_free(c);
}

static void test_pncounter_bounds(void **state)
{
	struct crdt_pncounter *c = crdt_pncounter_new(), *d, *e = crdt_pncounter_new();
	struct crdt_rid a, b;
	int64_t v;

	rid_n(&a, 1);
	rid_n(&b, 2);
	assert_int_equal(crdt_pncounter_inc(c, &a, 0), CRDT_EINVAL);
	assert_int_equal(crdt_pncounter_dec(c, &a, 0), CRDT_EINVAL);
	assert_int_equal(crdt_pncounter_dec(c, &a, -1), CRDT_EINVAL);
	assert_int_equal(crdt_pncounter_dec(c, &a, 7), 0);
	assert_int_equal(crdt_pncounter_inc(c, &b, 3), 0);
	assert_int_equal(crdt_pncounter_value(c, &v), 0);
	assert_int_equal(v, -4);

	/* down to exactly INT64_MIN, and not one past */
	assert_int_equal(crdt_pncounter_dec(c, &a, INT64_MAX), CRDT_EOVERFLOW);
	assert_int_equal(crdt_pncounter_inc(c, &b, 4), 0);
	assert_int_equal(crdt_pncounter_dec(c, &a, INT64_MAX), 0);
	assert_int_equal(crdt_pncounter_dec(c, &b, 2), CRDT_EOVERFLOW);
	assert_int_equal(crdt_pncounter_dec(c, &b, 1), 0);
	assert_int_equal(crdt_pncounter_value(c, &v), 0);
	assert_true(v == INT64_MIN);
	d = crdt_pncounter_copy(c);
	assert_int_equal(crdt_pncounter_dec(c, &a, 1), CRDT_EOVERFLOW);
	assert_true(crdt_pncounter_equal(c, d));
	assert_int_equal(crdt_pncounter_inc(c, &a, INT64_MAX), 0);
	assert_int_equal(crdt_pncounter_value(c, &v), 0);
	assert_int_equal(v, -1);
	assert_int_equal(crdt_pncounter_inc(c, &a, INT64_MAX), 0);
	assert_int_equal(crdt_pncounter_value(c, &v), 0);
	assert_true(v == INT64_MAX - 1);
	assert_int_equal(crdt_pncounter_inc(c, &a, 2), CRDT_EOVERFLOW);
	crdt_pncounter_free(d);
	crdt_pncounter_free(c);

	/* A replica's own total may not pass UINT64_MAX even when the value
	 * stays small. */
	c = crdt_pncounter_new();
	assert_int_equal(crdt_pncounter_inc(c, &a, INT64_MAX), 0);
	assert_int_equal(crdt_pncounter_dec(c, &a, INT64_MAX), 0);
	assert_int_equal(crdt_pncounter_inc(c, &a, INT64_MAX), 0);
	assert_int_equal(crdt_pncounter_dec(c, &a, INT64_MAX), 0);
	d = crdt_pncounter_copy(c);
	assert_int_equal(crdt_pncounter_inc(c, &a, 2), CRDT_EOVERFLOW);
	assert_true(crdt_pncounter_equal(c, d));
	assert_int_equal(crdt_pncounter_inc(c, &b, 2), 0); /* another replica may */

	/* concurrent decrements past INT64_MIN */
	crdt_pncounter_free(c);
	c = crdt_pncounter_new();
	assert_int_equal(crdt_pncounter_dec(c, &a, INT64_MAX), 0);
	assert_int_equal(crdt_pncounter_dec(e, &b, 5), 0);
	assert_int_equal(crdt_pncounter_merge(c, e), 0);
	v = 9;
	assert_int_equal(crdt_pncounter_value(c, &v), CRDT_EOVERFLOW);
	assert_int_equal(v, 9);
	cJSON *j = crdt_pncounter_to_json(c);
	assert_non_null(j);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "value")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "overflow")));
	cJSON_Delete(j);
	crdt_pncounter_free(c);
	crdt_pncounter_free(d);
	crdt_pncounter_free(e);
	crdt_pncounter_free(NULL);
}

static void test_json(void **state)
{
	struct crdt_gcounter *g = crdt_gcounter_new();
	struct crdt_pncounter *c = crdt_pncounter_new();
	struct crdt_rid a;
	char id[CRDT_RID_STRLEN];
	cJSON *j;

	rid_n(&a, 0xab);
	crdt_rid_format(&a, id);
	assert_int_equal(crdt_gcounter_inc(g, &a, 12), 0);
	j = crdt_gcounter_to_json(g);
	assert_string_equal(cJSON_GetObjectItem(j, "type")->valuestring, "gcounter");
	assert_int_equal(cJSON_GetObjectItem(j, "value")->valuedouble, 12);
	assert_null(cJSON_GetObjectItem(j, "overflow"));
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "replicas"), id)->valuedouble,
			 12);
	cJSON_Delete(j);

	assert_int_equal(crdt_pncounter_inc(c, &a, 2), 0);
	assert_int_equal(crdt_pncounter_dec(c, &a, 5), 0);
	j = crdt_pncounter_to_json(c);
	assert_string_equal(cJSON_GetObjectItem(j, "type")->valuestring, "pncounter");
	assert_int_equal(cJSON_GetObjectItem(j, "value")->valuedouble, -3);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "p"), id)->valuedouble, 2);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "n"), id)->valuedouble, 5);
	cJSON_Delete(j);
	crdt_gcounter_free(g);
	crdt_pncounter_free(c);
}

/* ---- merge laws on random states ---- */

static void laws(const struct ops *o)
{
	struct rng r = { seed ^ 0x1a5 };
	struct crdt_rid pool[8];

	for (int i = 0; i < 8; i++)
		rid_rand(&r, &pool[i]);
	for (int it = 0; it < 2000; it++) {
		size_t np = 1 + rng_below(&r, 8);
		void *a = rand_state(o, &r, pool, np, (int)rng_below(&r, 10));
		void *b = rand_state(o, &r, pool, np, (int)rng_below(&r, 10));
		void *c = rand_state(o, &r, pool, np, (int)rng_below(&r, 10));
		void *ab = copy_of(o, a), *ba = copy_of(o, b), *aa = copy_of(o, a);
		void *ab_c, *a_bc = copy_of(o, a), *bc = copy_of(o, b);

		assert_int_equal(o->merge(ab, b), 0);
		assert_int_equal(o->merge(ba, a), 0);
		assert_true(o->equal(ab, ba));                 /* commutative */
		assert_int_equal(o->merge(aa, a), 0);
		assert_true(o->equal(aa, a));                  /* idempotent */
		assert_int_equal(o->merge(aa, ab), 0);
		assert_true(o->equal(aa, ab));                 /* a ⊔ (a ⊔ b) = a ⊔ b */
		ab_c = copy_of(o, ab);
		assert_int_equal(o->merge(ab_c, c), 0);
		assert_int_equal(o->merge(bc, c), 0);
		assert_int_equal(o->merge(a_bc, bc), 0);
		assert_true(o->equal(ab_c, a_bc));             /* associative */
		o->free(a), o->free(b), o->free(c), o->free(ab), o->free(ba), o->free(aa);
		o->free(ab_c), o->free(a_bc), o->free(bc);
	}
}

static void test_gcounter_laws(void **state) { laws(&gops); }
static void test_pncounter_laws(void **state) { laws(&pnops); }

/* ---- codecs ---- */

struct pieces {
	uint8_t *data[4096];
	size_t len[4096];
	size_t n, max;
};

static int collect_cb(const uint8_t *p, size_t len, void *ctx)
{
	struct pieces *ps = ctx;

	assert_true(len <= ps->max);
	assert_true(ps->n < 4096);
	ps->data[ps->n] = malloc(len);
	memcpy(ps->data[ps->n], p, len);
	ps->len[ps->n++] = len;
	return 0;
}

static void pieces_done(struct pieces *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		free(ps->data[i]);
	ps->n = 0;
}

static void codec(const struct ops *o)
{
	struct rng r = { seed ^ 0xc0dec };
	struct crdt_rid pool[40];
	struct crdt_buf b, b2;

	for (int i = 0; i < 40; i++)
		rid_rand(&r, &pool[i]);
	crdt_buf_init(&b, 0);
	crdt_buf_init(&b2, 0);
	for (int it = 0; it < 300; it++) {
		void *s = rand_state(o, &r, pool, 1 + rng_below(&r, 40), (int)rng_below(&r, 30));
		void *d = round_trip(o, s);

		assert_true(o->equal(s, d));
		o->free(d);
		crdt_buf_reset(&b);
		assert_int_equal(o->encode(s, &b), 0);

		/* every truncation, and trailing bytes */
		for (size_t cut = 0; cut < b.len; cut++) {
			d = NULL;
			assert_true(o->decode(b.data, cut, &d) < 0);
			assert_null(d);
		}
		assert_int_equal(crdt_buf_put_u8(&b, 0), 0);
		assert_int_equal(o->decode(b.data, b.len, &d), CRDT_EBADMSG);
		b.len--;

		/* bit flips: rejected, or a valid state in canonical form */
		for (int f = 0; f < 30; f++) {
			uint8_t *m = malloc(b.len);
			int nflip = 1 + (int)rng_below(&r, 3);

			memcpy(m, b.data, b.len);
			for (int k = 0; k < nflip; k++)
				m[rng_below(&r, b.len)] ^= (uint8_t)(1u << rng_below(&r, 8));
			d = NULL;
			if (o->decode(m, b.len, &d) == 0) {
				int64_t v;
				crdt_buf_reset(&b2);
				assert_int_equal(o->encode(d, &b2), 0);
				assert_int_equal(b2.len, b.len);
				assert_memory_equal(b2.data, m, b.len);
				o->value(d, &v); /* either result is fine; must not crash */
				o->free(d);
			} else {
				assert_null(d);
			}
			free(m);
		}
		o->free(s);
	}
	crdt_buf_done(&b);
	crdt_buf_done(&b2);
}

static void test_gcounter_codec(void **state) { codec(&gops); }
static void test_pncounter_codec(void **state) { codec(&pnops); }

static void expect_reject(const struct ops *o, const uint8_t *p, size_t len, int err)
{
	void *d = NULL;

	assert_int_equal(o->decode(p, len, &d), err);
	assert_null(d);
}

#define R0 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
#define R1 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0

static void test_gcounter_crafted(void **state)
{
	static const uint8_t ok[] = { 1, 1, 2, R0, R1, 5, 0x80, 0x01 };
	static const uint8_t empty[] = { 1, 1, 0 };
	static const uint8_t unsorted[] = { 1, 1, 2, R1, R0, 5, 6 };
	static const uint8_t dup[] = { 1, 1, 2, R1, R1, 5, 6 };
	static const uint8_t zero[] = { 1, 1, 2, R0, R1, 5, 0 };
	static const uint8_t overlong[] = { 1, 1, 2, R0, R1, 5, 0x86, 0x00 };
	static const uint8_t overlong_n[] = { 1, 1, 0x82, 0x00, R0, R1, 5, 6 };
	static const uint8_t huge_n[] = { 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, R0, 5 };
	static const uint8_t trailing[] = { 1, 1, 1, R0, 5, 0 };
	static const uint8_t version[] = { 1, 2, 0 };
	static const uint8_t tag[] = { 2, 1, 0 };
	static const uint8_t big[] = { 1, 1, 2, R0, R1, 0xff, 0xff, 0xff, 0xff, 0xff,
				       0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff,
				       0xff, 0xff, 0xff, 0xff, 0x01 };
	struct crdt_gcounter *g = NULL;
	int64_t v;

	assert_int_equal(crdt_gcounter_decode(ok, sizeof(ok), &g), 0);
	assert_int_equal(crdt_gcounter_value(g, &v), 0);
	assert_int_equal(v, 133);
	crdt_gcounter_free(g);
	assert_int_equal(crdt_gcounter_decode(empty, sizeof(empty), &g), 0);
	assert_int_equal(g->vv.len, 0);
	crdt_gcounter_free(g);
	/* a decoded state may hold a value past int64 (concurrent increments) */
	assert_int_equal(crdt_gcounter_decode(big, sizeof(big), &g), 0);
	assert_int_equal(crdt_gcounter_value(g, &v), CRDT_EOVERFLOW);
	crdt_gcounter_free(g);

	expect_reject(&gops, unsorted, sizeof(unsorted), CRDT_EBADMSG);
	expect_reject(&gops, dup, sizeof(dup), CRDT_EBADMSG);
	expect_reject(&gops, zero, sizeof(zero), CRDT_EBADMSG);
	expect_reject(&gops, overlong, sizeof(overlong), CRDT_EBADMSG);
	expect_reject(&gops, overlong_n, sizeof(overlong_n), CRDT_EBADMSG);
	expect_reject(&gops, huge_n, sizeof(huge_n), CRDT_EBADMSG);
	expect_reject(&gops, trailing, sizeof(trailing), CRDT_EBADMSG);
	expect_reject(&gops, version, sizeof(version), CRDT_EPROTO);
	expect_reject(&gops, tag, sizeof(tag), CRDT_EPROTO);
	expect_reject(&gops, ok, 0, CRDT_EBADMSG);
	expect_reject(&gops, ok, 1, CRDT_EBADMSG);
}

static void test_pncounter_crafted(void **state)
{
	/* table {R0, R1}; P: R0=5; N: R0=2, R1=7 */
	static const uint8_t ok[] = { 2, 1, 2, R0, R1, 1, 0, 5, 2, 0, 2, 1, 7 };
	static const uint8_t empty[] = { 2, 1, 0, 0, 0 };
	static const uint8_t unused[] = { 2, 1, 2, R0, R1, 1, 0, 5, 1, 0, 2 };
	static const uint8_t desc[] = { 2, 1, 2, R0, R1, 0, 2, 1, 7, 0, 2 };
	static const uint8_t same[] = { 2, 1, 2, R0, R1, 0, 2, 0, 7, 0, 2 };
	static const uint8_t range[] = { 2, 1, 2, R0, R1, 1, 0, 5, 2, 0, 2, 2, 7 };
	static const uint8_t zero[] = { 2, 1, 2, R0, R1, 1, 0, 5, 2, 0, 2, 1, 0 };
	static const uint8_t count[] = { 2, 1, 2, R0, R1, 3, 0, 5, 1, 1, 2, 1, 7 };
	static const uint8_t overlong[] = { 2, 1, 2, R0, R1, 1, 0x80, 0, 5, 1, 1, 7 };
	static const uint8_t unsorted[] = { 2, 1, 2, R1, R0, 1, 0, 5, 1, 1, 7 };
	static const uint8_t trailing[] = { 2, 1, 1, R0, 1, 0, 5, 0, 0 };
	static const uint8_t missing_n[] = { 2, 1, 1, R0, 1, 0, 5 };
	struct crdt_pncounter *c = NULL;
	struct crdt_rid a, b;
	int64_t v;

	rid_n(&a, 0);
	rid_n(&b, 1);
	assert_int_equal(crdt_pncounter_decode(ok, sizeof(ok), &c), 0);
	assert_int_equal(crdt_pncounter_value(c, &v), 0);
	assert_int_equal(v, -4);
	assert_int_equal(crdt_vv_get(&c->p, &a), 5);
	assert_int_equal(crdt_vv_get(&c->p, &b), 0);
	assert_int_equal(crdt_vv_get(&c->n, &b), 7);
	crdt_pncounter_free(c);
	assert_int_equal(crdt_pncounter_decode(empty, sizeof(empty), &c), 0);
	crdt_pncounter_free(c);

	expect_reject(&pnops, unused, sizeof(unused), CRDT_EBADMSG);
	expect_reject(&pnops, desc, sizeof(desc), CRDT_EBADMSG);
	expect_reject(&pnops, same, sizeof(same), CRDT_EBADMSG);
	expect_reject(&pnops, range, sizeof(range), CRDT_EBADMSG);
	expect_reject(&pnops, zero, sizeof(zero), CRDT_EBADMSG);
	expect_reject(&pnops, count, sizeof(count), CRDT_EBADMSG);
	expect_reject(&pnops, overlong, sizeof(overlong), CRDT_EBADMSG);
	expect_reject(&pnops, unsorted, sizeof(unsorted), CRDT_EBADMSG);
	expect_reject(&pnops, trailing, sizeof(trailing), CRDT_EBADMSG);
	expect_reject(&pnops, missing_n, sizeof(missing_n), CRDT_EBADMSG);
	expect_reject(&pnops, empty, 2, CRDT_EBADMSG);
}

/* ---- splits ---- */

static void split(const struct ops *o)
{
	struct rng r = { seed ^ 0x5b1 };
	static struct crdt_rid pool[300];
	static struct pieces ps;

	for (int i = 0; i < 300; i++)
		rid_rand(&r, &pool[i]);
	for (int it = 0; it < 200; it++) {
		void *s = rand_state(o, &r, pool, 1 + rng_below(&r, 300), (int)rng_below(&r, 600));
		void *d = o->make();
		size_t order[4096];

		ps.max = o->min_piece + rng_below(&r, it % 2 ? 60 : 1400);
		assert_int_equal(o->split(s, ps.max, collect_cb, &ps), 0);
		assert_true(ps.n >= 1);
		/* merge the pieces in a random order */
		for (size_t i = 0; i < ps.n; i++)
			order[i] = i;
		for (size_t i = ps.n; i > 1; i--) {
			size_t k = rng_below(&r, i), t = order[i - 1];
			order[i - 1] = order[k];
			order[k] = t;
		}
		for (size_t i = 0; i < ps.n; i++) {
			void *p = NULL;
			assert_int_equal(o->decode(ps.data[order[i]], ps.len[order[i]], &p), 0);
			assert_int_equal(o->merge(d, p), 0);
			o->free(p);
		}
		assert_true(o->equal(s, d));
		pieces_done(&ps);
		o->free(s);
		o->free(d);
	}
}

static void test_gcounter_split(void **state) { split(&gops); }
static void test_pncounter_split(void **state) { split(&pnops); }

static int stop_cb(const uint8_t *p, size_t len, void *ctx)
{
	++*(int *)ctx;
	return -1234;
}

static void test_split_edges(void **state)
{
	struct crdt_gcounter *g = crdt_gcounter_new();
	struct crdt_pncounter *c = crdt_pncounter_new();
	struct pieces ps = { .max = 100 };
	struct crdt_rid a, b;
	int calls = 0;

	rid_n(&a, 1);
	rid_n(&b, 2);
	/* an empty state is one (empty) piece */
	assert_int_equal(crdt_gcounter_split(g, 100, collect_cb, &ps), 0);
	assert_int_equal(ps.n, 1);
	assert_int_equal(ps.len[0], 3);
	pieces_done(&ps);
	assert_int_equal(crdt_pncounter_split(c, 100, collect_cb, &ps), 0);
	assert_int_equal(ps.n, 1);
	assert_int_equal(ps.len[0], 5);
	pieces_done(&ps);
	assert_int_equal(crdt_gcounter_split(g, 2, collect_cb, &ps), CRDT_EMSGSIZE);
	assert_int_equal(crdt_pncounter_split(c, 4, collect_cb, &ps), CRDT_EMSGSIZE);
	assert_int_equal(ps.n, 0);

	/* one replica that does not fit */
	assert_int_equal(crdt_gcounter_inc(g, &a, INT64_MAX), 0);
	assert_int_equal(crdt_gcounter_split(g, 2 + 1 + 16 + 9 - 1, collect_cb, &ps),
			 CRDT_EMSGSIZE);
	ps.max = 2 + 1 + 16 + 9;
	assert_int_equal(crdt_gcounter_split(g, ps.max, collect_cb, &ps), 0);
	assert_int_equal(ps.n, 1);
	pieces_done(&ps);

	/* exact fit: two small replicas take 2+1+32+2 = 37 bytes */
	crdt_gcounter_free(g);
	g = crdt_gcounter_new();
	assert_int_equal(crdt_gcounter_inc(g, &a, 1), 0);
	assert_int_equal(crdt_gcounter_inc(g, &b, 1), 0);
	ps.max = 37;
	assert_int_equal(crdt_gcounter_split(g, 37, collect_cb, &ps), 0);
	assert_int_equal(ps.n, 1);
	pieces_done(&ps);
	ps.max = 36;
	assert_int_equal(crdt_gcounter_split(g, 36, collect_cb, &ps), 0);
	assert_int_equal(ps.n, 2);
	pieces_done(&ps);

	/* the callback's error stops the split and comes back */
	assert_int_equal(crdt_gcounter_split(g, 20, stop_cb, &calls), -1234);
	assert_int_equal(calls, 1);
	assert_int_equal(crdt_pncounter_inc(c, &a, 1), 0);
	assert_int_equal(crdt_pncounter_dec(c, &b, 1), 0);
	assert_int_equal(crdt_pncounter_split(c, 30, stop_cb, &calls), -1234);
	assert_int_equal(calls, 2);
	crdt_gcounter_free(g);
	crdt_pncounter_free(c);
}

/* ---- simulation ---- */

#define MAXR 5
#define POOL 24

struct sim {
	const struct ops *o;
	struct rng *r;
	int nr;
	void *rep[MAXR];
	struct crdt_rid id[MAXR];
	/* encodings sent earlier, for stale and duplicate delivery */
	uint8_t *pool[POOL];
	size_t pool_len[POOL];
	size_t npool;
	struct pieces ps;
};

static void sim_remember(struct sim *s, const uint8_t *p, size_t len)
{
	size_t k = s->npool < POOL ? s->npool++ : rng_below(s->r, POOL);

	free(s->pool[k]);
	s->pool[k] = malloc(len);
	memcpy(s->pool[k], p, len);
	s->pool_len[k] = len;
}

static void sim_deliver(struct sim *s, int to, const uint8_t *p, size_t len)
{
	void *d = NULL;

	assert_int_equal(s->o->decode(p, len, &d), 0);
	assert_int_equal(s->o->merge(s->rep[to], d), 0);
	s->o->free(d);
}

static void sim_send_full(struct sim *s, int from, int to)
{
	struct crdt_buf b;

	crdt_buf_init(&b, 0);
	assert_int_equal(s->o->encode(s->rep[from], &b), 0);
	sim_deliver(s, to, b.data, b.len);
	if (rng_below(s->r, 2))
		sim_deliver(s, to, b.data, b.len);
	sim_remember(s, b.data, b.len);
	crdt_buf_done(&b);
}

/* Split, then deliver a random subset (some twice), remember the rest. */
static void sim_send_pieces(struct sim *s, int from, int to, bool all)
{
	s->ps.max = s->o->min_piece + rng_below(s->r, 80);
	assert_int_equal(s->o->split(s->rep[from], s->ps.max, collect_cb, &s->ps), 0);
	for (size_t i = 0; i < s->ps.n; i++) {
		if (all || rng_below(s->r, 3))
			sim_deliver(s, to, s->ps.data[i], s->ps.len[i]);
		if (!all && !rng_below(s->r, 4))
			sim_deliver(s, to, s->ps.data[i], s->ps.len[i]);
		if (!rng_below(s->r, 3))
			sim_remember(s, s->ps.data[i], s->ps.len[i]);
	}
	pieces_done(&s->ps);
}

static void simulate(const struct ops *o, uint64_t sd)
{
	struct rng r = { sd };
	static struct sim s;
	int64_t truth = 0, v;
	int steps = 5 + (int)rng_below(&r, 30);

	memset(&s, 0, sizeof(s));
	s.o = o;
	s.r = &r;
	s.nr = 3 + (int)rng_below(&r, 3);
	for (int i = 0; i < s.nr; i++) {
		s.rep[i] = o->make();
		rid_rand(&r, &s.id[i]);
	}
	for (int st = 0; st < steps; st++) {
		int a = (int)rng_below(&r, s.nr), b = (int)rng_below(&r, s.nr);
		size_t k;

		switch (rng_below(&r, 5)) {
		case 0:
		case 1:
			truth += rand_op(o, s.rep[a], &s.id[a], &r);
			break;
		case 2:
			sim_send_full(&s, a, b);
			break;
		case 3:
			sim_send_pieces(&s, a, b, false);
			break;
		default:
			if (s.npool) {
				k = rng_below(&r, s.npool);
				sim_deliver(&s, b, s.pool[k], s.pool_len[k]);
			}
			break;
		}
		/* a G-Counter replica never shows more than was added */
		if (!o->pn) {
			assert_int_equal(o->value(s.rep[b], &v), 0);
			assert_true(v <= truth);
		}
	}
	/* everyone exchanges everything: pieces all round, twice */
	for (int round = 0; round < 2; round++)
		for (int a = 0; a < s.nr; a++)
			for (int b = 0; b < s.nr; b++)
				if (a != b)
					sim_send_pieces(&s, a, b, true);
	for (int i = 0; i < s.nr; i++) {
		assert_true(o->equal(s.rep[0], s.rep[i]));
		assert_int_equal(o->value(s.rep[i], &v), 0);
		assert_true(v == truth);
	}
	for (int i = 0; i < s.nr; i++)
		o->free(s.rep[i]);
	for (size_t i = 0; i < s.npool; i++)
		free(s.pool[i]);
}

static void run_sims(const struct ops *o)
{
	struct rng r = { seed ^ 0x51e };
	int n = test_scenarios(10000);

	for (int i = 0; i < n; i++)
		simulate(o, rng_next(&r));
}

static void test_gcounter_sim(void **state) { run_sims(&gops); }
static void test_pncounter_sim(void **state) { run_sims(&pnops); }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gcounter_basics),
		cmocka_unit_test(test_gcounter_overflow),
		cmocka_unit_test(test_pncounter_bounds),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_gcounter_laws),
		cmocka_unit_test(test_pncounter_laws),
		cmocka_unit_test(test_gcounter_codec),
		cmocka_unit_test(test_pncounter_codec),
		cmocka_unit_test(test_gcounter_crafted),
		cmocka_unit_test(test_pncounter_crafted),
		cmocka_unit_test(test_gcounter_split),
		cmocka_unit_test(test_pncounter_split),
		cmocka_unit_test(test_split_edges),
		cmocka_unit_test(test_gcounter_sim),
		cmocka_unit_test(test_pncounter_sim),
	};

	seed = test_seed("counters");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
