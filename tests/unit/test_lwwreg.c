/* LWW-Register: ordering by (HLC timestamp, replica id) under skewed and
 * backward-jumping clocks, merge laws, codec, split, JSON, and a seeded
 * simulation checked against a model that records every write's stamp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crdt/error.h"
#include "crdt/json.h"
#include "crdt/lwwreg.h"
#include "testutil.h"

static uint64_t seed;

struct fake_clock {
	uint64_t now;
};

static uint64_t fake_now(void *ctx)
{
	return ((struct fake_clock *)ctx)->now;
}

static void rid_n(struct crdt_rid *id, uint8_t n)
{
	memset(id->b, 0, sizeof(id->b));
	id->b[15] = n;
}

static void set_str(struct crdt_lwwreg *r, struct crdt_hlc *h, const struct crdt_rid *id,
		    const char *s)
{
	assert_int_equal(crdt_lwwreg_set(r, h, id, s, strlen(s)), 0);
}

static void assert_value(const struct crdt_lwwreg *r, const char *s)
{
	const uint8_t *v;
	size_t len;

	assert_true(crdt_lwwreg_get(r, &v, &len));
	assert_int_equal(len, strlen(s));
	assert_memory_equal(v, s, len);
}

static struct crdt_lwwreg *copy_of(const struct crdt_lwwreg *r)
{
	struct crdt_lwwreg *c = crdt_lwwreg_copy(r);

	assert_non_null(c);
	return c;
}

static void test_basics(void **state)
{
	struct fake_clock fc = { 1000 };
	struct crdt_hlc h;
	struct crdt_lwwreg *r = crdt_lwwreg_new(), *e = crdt_lwwreg_new();
	struct crdt_rid a;
	const uint8_t *v;
	size_t len;

	rid_n(&a, 1);
	crdt_hlc_init(&h, fake_now, &fc);
	assert_false(crdt_lwwreg_get(r, &v, &len));
	assert_true(crdt_lwwreg_equal(r, e));
	set_str(r, &h, &a, "one");
	assert_false(crdt_lwwreg_equal(r, e));
	assert_value(r, "one");
	fc.now++;
	set_str(r, &h, &a, "two");
	assert_value(r, "two");
	/* same millisecond: the logical counter orders them */
	set_str(r, &h, &a, "three");
	assert_value(r, "three");
	assert_true(r->ts.ms == 1001 && r->ts.lc == 1);
	/* empty value is a value */
	assert_int_equal(crdt_lwwreg_set(r, &h, &a, NULL, 0), 0);
	assert_true(crdt_lwwreg_get(r, &v, &len));
	assert_int_equal(len, 0);
	/* merging an unset register changes nothing, and vice versa */
	assert_int_equal(crdt_lwwreg_merge(r, e), 0);
	assert_true(crdt_lwwreg_get(r, &v, &len));
	assert_int_equal(crdt_lwwreg_merge(e, r), 0);
	assert_true(crdt_lwwreg_equal(r, e));
	crdt_lwwreg_free(r);
	crdt_lwwreg_free(e);
	crdt_lwwreg_free(NULL);
}

/* Values up to CRDT_LWWREG_INLINE bytes live in the register, longer ones
 * on the heap: every move between the two (set, merge, copy, decode, and a
 * write of the register's own value) keeps the bytes. */
static void test_inline_and_heap_values(void **state)
{
	/* heap values of one length in a row: the second goes in the first's
	 * memory, by a set and by a merge */
	static const char *const vals[] = { "1234567", "12345678", "123456789", "abc",
					    "a longer value here", "the same length too", "",
					    "xyz" };
	struct fake_clock fc = { 1000 };
	struct crdt_hlc h;
	struct crdt_lwwreg *r = crdt_lwwreg_new(), *m = crdt_lwwreg_new(), *c, *d;
	struct crdt_buf b;
	struct crdt_rid a;

	rid_n(&a, 1);
	crdt_hlc_init(&h, fake_now, &fc);
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		set_str(r, &h, &a, vals[i]);
		assert_value(r, vals[i]);
		/* its own bytes as the new value */
		assert_int_equal(crdt_lwwreg_set(r, &h, &a, crdt_lwwreg_value(r), r->len), 0);
		assert_value(r, vals[i]);
		assert_int_equal(crdt_lwwreg_merge(m, r), 0);
		assert_value(m, vals[i]);
		assert_non_null(c = crdt_lwwreg_copy(r));
		assert_true(crdt_lwwreg_equal(c, r));
		crdt_buf_init(&b, 0);
		assert_int_equal(crdt_lwwreg_encode(r, &b), 0);
		assert_int_equal(crdt_lwwreg_decode(b.data, b.len, &d), 0);
		assert_true(crdt_lwwreg_equal(d, r));
		assert_value(d, vals[i]);
		crdt_buf_done(&b);
		crdt_lwwreg_free(c);
		crdt_lwwreg_free(d);
	}
	crdt_lwwreg_free(r);
	crdt_lwwreg_free(m);
}

/* A register in memory the caller owns (crdt_lwwreg_init/_done), as the
 * daemon's store keeps small ones: it works as one from crdt_lwwreg_new,
 * done frees its value (ASan's leak check) and leaves it empty for reuse;
 * the writer, stamp and flags share their word without clobbering each
 * other. */
static void test_in_place(void **state)
{
	struct fake_clock fc = { 5000 };
	struct crdt_hlc h;
	struct crdt_lwwreg r, *o = crdt_lwwreg_new();
	struct crdt_rid a, b;

	rid_n(&a, 1);
	rid_n(&b, 2);
	crdt_hlc_init(&h, fake_now, &fc);
	crdt_lwwreg_init(&r);
	assert_false(crdt_lwwreg_live(&r));
	set_str(&r, &h, &a, "a value longer than inline");
	set_str(o, &h, &b, "later");
	assert_int_equal(crdt_lwwreg_merge(&r, o), 0);
	assert_value(&r, "later");
	assert_memory_equal(crdt_rid_at(r.rix)->b, b.b, CRDT_RID_LEN);
	assert_int_equal(crdt_lwwreg_clear(&r), 1);
	assert_true(r.del && !r.set);
	assert_memory_equal(crdt_rid_at(r.rix)->b, b.b, CRDT_RID_LEN);
	set_str(&r, &h, &a, "another value longer than inline");
	assert_true(r.set && !r.del);
	assert_memory_equal(crdt_rid_at(r.rix)->b, a.b, CRDT_RID_LEN);
	crdt_lwwreg_done(&r);
	assert_false(crdt_lwwreg_live(&r));
	assert_int_equal(r.len, 0);
	assert_false(r.del);
	set_str(&r, &h, &a, "and one more, after done");
	assert_value(&r, "and one more, after done");
	crdt_lwwreg_done(&r);
	crdt_lwwreg_free(o);
}

static void test_clock_jumps_back(void **state)
{
	struct fake_clock fc = { 5000000 };
	struct crdt_hlc h;
	struct crdt_lwwreg *r = crdt_lwwreg_new(), *old;
	struct crdt_rid a;

	rid_n(&a, 1);
	crdt_hlc_init(&h, fake_now, &fc);
	set_str(r, &h, &a, "before");
	old = copy_of(r);
	fc.now = 10; /* wall clock jumps back by more than an hour */
	set_str(r, &h, &a, "after");
	assert_value(r, "after");
	assert_true(crdt_hlc_cmp(&r->ts, &old->ts) > 0);
	/* and it wins everywhere, in either merge order */
	assert_int_equal(crdt_lwwreg_merge(old, r), 0);
	assert_value(old, "after");
	crdt_lwwreg_free(old);
	crdt_lwwreg_free(r);
}

static void test_later_write_beats_fast_clock(void **state)
{
	/* Replica A's clock runs an hour ahead.  B reads A's value, then
	 * writes: B's write must win though B's wall clock is far behind. */
	struct fake_clock ca = { 3600000 + 1000 }, cb = { 1000 };
	struct crdt_hlc ha, hb;
	struct crdt_lwwreg *ra = crdt_lwwreg_new(), *rb = crdt_lwwreg_new();
	struct crdt_rid a, b;

	rid_n(&a, 2); /* a > b: on a timestamp tie a would win */
	rid_n(&b, 1);
	crdt_hlc_init(&ha, fake_now, &ca);
	crdt_hlc_init(&hb, fake_now, &cb);
	set_str(ra, &ha, &a, "from a");
	assert_int_equal(crdt_lwwreg_merge(rb, ra), 0);
	set_str(rb, &hb, &b, "from b");
	assert_value(rb, "from b");
	assert_int_equal(crdt_lwwreg_merge(ra, rb), 0);
	assert_value(ra, "from b");
	assert_true(crdt_lwwreg_equal(ra, rb));
	/* and B's clock was not dragged an hour ahead: its other writes keep
	 * their own time */
	assert_true(crdt_hlc_now(&hb).ms < 3600000);
	crdt_lwwreg_free(ra);
	crdt_lwwreg_free(rb);
}

static void test_ties(void **state)
{
	struct fake_clock fc = { 777 };
	struct crdt_hlc h1, h2;
	struct crdt_lwwreg *x = crdt_lwwreg_new(), *y = crdt_lwwreg_new(), *xy, *yx;
	struct crdt_rid lo, hi;

	rid_n(&lo, 1);
	rid_n(&hi, 9);
	crdt_hlc_init(&h1, fake_now, &fc);
	crdt_hlc_init(&h2, fake_now, &fc);
	/* the same stamp on two replicas: the greater rid wins, either order */
	set_str(x, &h1, &hi, "hi");
	set_str(y, &h2, &lo, "lo");
	assert_int_equal(crdt_hlc_cmp(&x->ts, &y->ts), 0);
	xy = copy_of(x);
	yx = copy_of(y);
	assert_int_equal(crdt_lwwreg_merge(xy, y), 0);
	assert_int_equal(crdt_lwwreg_merge(yx, x), 0);
	assert_value(xy, "hi");
	assert_value(yx, "hi");
	assert_true(crdt_lwwreg_equal(xy, yx));
	crdt_lwwreg_free(xy);
	crdt_lwwreg_free(yx);

	/* equal stamps and rids with different values (misuse): the greater
	 * bytes win, either order; a prefix loses to the longer value */
	static const char *pairs[][2] = { { "abc", "abd" }, { "ab", "abc" }, { "", "a" } };
	for (int i = 0; i < 3; i++) {
		crdt_hlc_init(&h1, fake_now, &fc);
		crdt_hlc_init(&h2, fake_now, &fc);
		set_str(x, &h1, &lo, pairs[i][0]);
		set_str(y, &h2, &lo, pairs[i][1]);
		xy = copy_of(x);
		yx = copy_of(y);
		assert_int_equal(crdt_lwwreg_merge(xy, y), 0);
		assert_int_equal(crdt_lwwreg_merge(yx, x), 0);
		assert_value(xy, pairs[i][1]);
		assert_value(yx, pairs[i][1]);
		crdt_lwwreg_free(xy);
		crdt_lwwreg_free(yx);
	}
	crdt_lwwreg_free(x);
	crdt_lwwreg_free(y);
}

/* Set @g's fields directly: a state no sequence of writes need reach. */
static void fill(struct crdt_lwwreg *g, uint64_t ms, uint32_t lc, const struct crdt_rid *id,
		 const uint8_t *v, size_t len)
{
	uint32_t rix;

	g->set = true;
	g->ts.ms = ms;
	g->ts.lc = lc;
	assert_int_equal(crdt_rid_intern(id, &rix), 0);
	g->rix = rix;
	if (len > CRDT_LWWREG_INLINE) {
		g->val = malloc(len);
		assert_non_null(g->val);
		memcpy(g->val, v, len);
	} else if (len) {
		memcpy(g->small, v, len);
	}
	g->len = (uint32_t)len;
}

/* A register with a random stamp from a small space, so ties happen. */
static struct crdt_lwwreg *rand_reg(struct rng *r)
{
	struct crdt_lwwreg *g = crdt_lwwreg_new();
	struct crdt_rid id;
	uint8_t v[8];
	size_t len = rng_below(r, 3);

	if (rng_below(r, 5) == 0)
		return g;
	for (size_t i = 0; i < len; i++)
		v[i] = (uint8_t)rng_below(r, 3);
	rid_n(&id, (uint8_t)rng_below(r, 2));
	fill(g, rng_below(r, 3), (uint32_t)rng_below(r, 2), &id, v, len);
	return g;
}

static void test_laws(void **state)
{
	struct rng r = { seed ^ 0x1a5 };

	for (int it = 0; it < 5000; it++) {
		struct crdt_lwwreg *a = rand_reg(&r), *b = rand_reg(&r), *c = rand_reg(&r);
		struct crdt_lwwreg *ab = copy_of(a), *ba = copy_of(b), *aa = copy_of(a);
		struct crdt_lwwreg *bc = copy_of(b), *ab_c, *a_bc = copy_of(a);

		assert_true(crdt_lwwreg_equal(a, aa));
		assert_int_equal(crdt_lwwreg_merge(ab, b), 0);
		assert_int_equal(crdt_lwwreg_merge(ba, a), 0);
		assert_true(crdt_lwwreg_equal(ab, ba));
		assert_int_equal(crdt_lwwreg_merge(aa, a), 0);
		assert_true(crdt_lwwreg_equal(aa, a));
		ab_c = copy_of(ab);
		assert_int_equal(crdt_lwwreg_merge(ab_c, c), 0);
		assert_int_equal(crdt_lwwreg_merge(bc, c), 0);
		assert_int_equal(crdt_lwwreg_merge(a_bc, bc), 0);
		assert_true(crdt_lwwreg_equal(ab_c, a_bc));
		crdt_lwwreg_free(a), crdt_lwwreg_free(b), crdt_lwwreg_free(c);
		crdt_lwwreg_free(ab), crdt_lwwreg_free(ba), crdt_lwwreg_free(aa);
		crdt_lwwreg_free(bc), crdt_lwwreg_free(ab_c), crdt_lwwreg_free(a_bc);
	}
}

/* ---- codec ---- */

static void expect_reject(const uint8_t *p, size_t len, int err)
{
	struct crdt_lwwreg *d = NULL;

	assert_int_equal(crdt_lwwreg_decode(p, len, &d), err);
	assert_null(d);
}

static void test_codec(void **state)
{
	struct rng r = { seed ^ 0xc0dec };
	struct crdt_buf b, b2;

	crdt_buf_init(&b, 0);
	crdt_buf_init(&b2, 0);
	for (int it = 0; it < 500; it++) {
		struct crdt_lwwreg *g = crdt_lwwreg_new(), *d = NULL;
		uint8_t v[64];
		size_t len = rng_below(&r, sizeof(v));

		if (rng_below(&r, 8)) {
			for (size_t i = 0; i < len; i++)
				v[i] = (uint8_t)rng_next(&r);
			struct crdt_rid id;
			uint64_t ms = rng_next(&r) >> rng_below(&r, 64);
			uint32_t lc = (uint32_t)(rng_next(&r) >> rng_below(&r, 64));

			for (int i = 0; i < CRDT_RID_LEN; i++)
				id.b[i] = (uint8_t)rng_next(&r);
			fill(g, ms, lc, &id, v, len);
		}
		crdt_buf_reset(&b);
		assert_int_equal(crdt_lwwreg_encode(g, &b), 0);
		assert_int_equal(crdt_lwwreg_decode(b.data, b.len, &d), 0);
		assert_true(crdt_lwwreg_equal(g, d));
		crdt_lwwreg_free(d);

		for (size_t cut = 0; cut < b.len; cut++)
			expect_reject(b.data, cut, CRDT_EBADMSG);
		assert_int_equal(crdt_buf_put_u8(&b, 0), 0);
		expect_reject(b.data, b.len, CRDT_EBADMSG);
		b.len--;

		for (int f = 0; f < 20; f++) {
			uint8_t *m = malloc(b.len);
			int nflip = 1 + (int)rng_below(&r, 3);

			memcpy(m, b.data, b.len);
			for (int k = 0; k < nflip; k++)
				m[rng_below(&r, b.len)] ^= (uint8_t)(1u << rng_below(&r, 8));
			d = NULL;
			if (crdt_lwwreg_decode(m, b.len, &d) == 0) {
				crdt_buf_reset(&b2);
				assert_int_equal(crdt_lwwreg_encode(d, &b2), 0);
				assert_int_equal(b2.len, b.len);
				assert_memory_equal(b2.data, m, b.len);
				crdt_lwwreg_free(d);
			} else {
				assert_null(d);
			}
			free(m);
		}
		crdt_lwwreg_free(g);
	}
	crdt_buf_done(&b);
	crdt_buf_done(&b2);
}

#define RID 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16

static void test_crafted(void **state)
{
	static const uint8_t unset[] = { 5, 1, 0 };
	static const uint8_t ok[] = { 5, 1, 1, RID, 0xe8, 0x07, 3, 2, 'h', 'i' };
	static const uint8_t flags[] = { 5, 1, 3, RID, 0xe8, 0x07, 3, 2, 'h', 'i' };
	static const uint8_t flags_unset[] = { 5, 1, 0x80 };
	static const uint8_t unset_extra[] = { 5, 1, 0, RID };
	static const uint8_t lc_big[] = { 5, 1, 1, RID, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 0 };
	static const uint8_t lc_max[] = { 5, 1, 1, RID, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0 };
	static const uint8_t overlong[] = { 5, 1, 1, RID, 0xe8, 0x87, 0x00, 3, 0 };
	static const uint8_t long_val[] = { 5, 1, 1, RID, 1, 1, 3, 'h', 'i' };
	static const uint8_t version[] = { 5, 0, 0 };
	static const uint8_t tag[] = { 1, 1, 0 };
	struct crdt_lwwreg *g = NULL;

	assert_int_equal(crdt_lwwreg_decode(unset, sizeof(unset), &g), 0);
	assert_false(g->set);
	crdt_lwwreg_free(g);
	assert_int_equal(crdt_lwwreg_decode(ok, sizeof(ok), &g), 0);
	assert_true(g->set && g->ts.ms == 1000 && g->ts.lc == 3 &&
		    crdt_rid_at(g->rix)->b[0] == 1);
	assert_value(g, "hi");
	crdt_lwwreg_free(g);
	assert_int_equal(crdt_lwwreg_decode(lc_max, sizeof(lc_max), &g), 0);
	assert_true(g->ts.lc == UINT32_MAX);
	crdt_lwwreg_free(g);

	expect_reject(flags, sizeof(flags), CRDT_EBADMSG);
	expect_reject(flags_unset, sizeof(flags_unset), CRDT_EBADMSG);
	expect_reject(unset_extra, sizeof(unset_extra), CRDT_EBADMSG);
	expect_reject(lc_big, sizeof(lc_big), CRDT_EBADMSG);
	expect_reject(overlong, sizeof(overlong), CRDT_EBADMSG);
	expect_reject(long_val, sizeof(long_val), CRDT_EBADMSG);
	expect_reject(version, sizeof(version), CRDT_EPROTO);
	expect_reject(tag, sizeof(tag), CRDT_EPROTO);
}

struct one_piece {
	int calls;
	size_t len;
};

static int piece_cb(const uint8_t *p, size_t len, void *ctx)
{
	struct one_piece *o = ctx;
	struct crdt_lwwreg *d = NULL;

	o->calls++;
	o->len = len;
	assert_int_equal(crdt_lwwreg_decode(p, len, &d), 0);
	crdt_lwwreg_free(d);
	return 0;
}

static void test_split(void **state)
{
	struct fake_clock fc = { 1000 };
	struct crdt_hlc h;
	struct crdt_lwwreg *r = crdt_lwwreg_new();
	struct one_piece o = { 0 };
	struct crdt_rid a;

	rid_n(&a, 1);
	crdt_hlc_init(&h, fake_now, &fc);
	assert_int_equal(crdt_lwwreg_split(r, 3, piece_cb, &o), 0);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.len, 3);
	set_str(r, &h, &a, "0123456789");
	/* 2 header + 1 flags + 16 rid + 2 ms + 1 lc + 1 + 10 value = 33 */
	assert_int_equal(crdt_lwwreg_split(r, 32, piece_cb, &o), CRDT_EMSGSIZE);
	assert_int_equal(o.calls, 1);
	assert_int_equal(crdt_lwwreg_split(r, 33, piece_cb, &o), 0);
	assert_int_equal(o.calls, 2);
	assert_int_equal(o.len, 33);
	crdt_lwwreg_free(r);
}

static void test_json(void **state)
{
	struct fake_clock fc = { 1234 };
	struct crdt_hlc h;
	struct crdt_lwwreg *r = crdt_lwwreg_new();
	struct crdt_rid a;
	char id[CRDT_RID_STRLEN];
	cJSON *j, *ts;

	rid_n(&a, 7);
	crdt_rid_format(&a, id);
	crdt_hlc_init(&h, fake_now, &fc);
	j = crdt_lwwreg_to_json(r);
	assert_string_equal(cJSON_GetObjectItem(j, "type")->valuestring, "lwwreg");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "value")));
	cJSON_Delete(j);

	set_str(r, &h, &a, "h\xc3\xa9llo"); /* valid UTF-8 shows as itself */
	j = crdt_lwwreg_to_json(r);
	assert_string_equal(cJSON_GetObjectItem(j, "value")->valuestring, "h\xc3\xa9llo");
	assert_null(cJSON_GetObjectItem(j, "encoding"));
	assert_string_equal(cJSON_GetObjectItem(j, "replica")->valuestring, id);
	ts = cJSON_GetObjectItem(j, "ts");
	assert_int_equal(cJSON_GetArraySize(ts), 2);
	assert_int_equal(cJSON_GetArrayItem(ts, 0)->valuedouble, 1234);
	assert_int_equal(cJSON_GetArrayItem(ts, 1)->valuedouble, 0);
	cJSON_Delete(j);

	/* anything else (bad UTF-8, NUL, overlong forms, surrogates) is base64 */
	static const struct {
		const char *v;
		size_t len;
		const char *b64;
	} bin[] = {
		{ "\xff", 1, "/w==" },
		{ "a\0b", 3, "YQBi" },
		{ "\xc0\xaf", 2, "wK8=" },
		{ "\xed\xa0\x80", 3, "7aCA" },
		{ "\xe2\x82", 2, "4oI=" },
	};
	for (size_t i = 0; i < sizeof(bin) / sizeof(bin[0]); i++) {
		assert_int_equal(crdt_lwwreg_set(r, &h, &a, bin[i].v, bin[i].len), 0);
		j = crdt_lwwreg_to_json(r);
		assert_string_equal(cJSON_GetObjectItem(j, "value")->valuestring, bin[i].b64);
		assert_string_equal(cJSON_GetObjectItem(j, "encoding")->valuestring, "base64");
		cJSON_Delete(j);
	}
	crdt_lwwreg_free(r);
}

/* ---- simulation against a model ---- */

#define MAXR 5
#define POOL 16

struct write {
	struct crdt_hlc_ts ts;
	struct crdt_rid rid;
	uint8_t v[8];
	size_t len;
};

static bool write_after(const struct write *a, const struct write *b)
{
	int c = crdt_hlc_cmp(&a->ts, &b->ts);

	return c > 0 || (c == 0 && memcmp(a->rid.b, b->rid.b, CRDT_RID_LEN) > 0);
}

static void deliver(struct crdt_lwwreg *to, const uint8_t *p, size_t len)
{
	struct crdt_lwwreg *d = NULL;

	assert_int_equal(crdt_lwwreg_decode(p, len, &d), 0);
	assert_int_equal(crdt_lwwreg_merge(to, d), 0);
	crdt_lwwreg_free(d);
}

static int deliver_cb(const uint8_t *p, size_t len, void *ctx)
{
	deliver(ctx, p, len);
	return 0;
}

static void simulate(uint64_t sd)
{
	struct rng r = { sd };
	int nr = 3 + (int)rng_below(&r, 3), steps = 5 + (int)rng_below(&r, 30);
	struct crdt_lwwreg *rep[MAXR];
	struct fake_clock clk[MAXR];
	struct crdt_hlc hlc[MAXR];
	struct crdt_rid id[MAXR];
	struct crdt_buf pool[POOL];
	size_t npool = 0;
	struct write best = { 0 };
	bool any = false;

	for (int i = 0; i < POOL; i++)
		crdt_buf_init(&pool[i], 0);
	for (int i = 0; i < nr; i++) {
		rep[i] = crdt_lwwreg_new();
		clk[i].now = 1000 + rng_below(&r, 50); /* skewed, often equal */
		crdt_hlc_init(&hlc[i], fake_now, &clk[i]);
		for (int k = 0; k < CRDT_RID_LEN; k++)
			id[i].b[k] = (uint8_t)rng_next(&r);
	}
	for (int st = 0; st < steps; st++) {
		int a = (int)rng_below(&r, nr), b = (int)rng_below(&r, nr);
		struct write w;
		struct crdt_buf *pb;

		switch (rng_below(&r, 6)) {
		case 0:
		case 1:
			w.len = rng_below(&r, sizeof(w.v) + 1);
			for (size_t i = 0; i < w.len; i++)
				w.v[i] = (uint8_t)rng_next(&r);
			assert_int_equal(crdt_lwwreg_set(rep[a], &hlc[a], &id[a], w.v, w.len), 0);
			w.ts = rep[a]->ts;
			w.rid = id[a];
			{
				const uint8_t *v;
				size_t len;
				assert_true(crdt_lwwreg_get(rep[a], &v, &len));
				assert_int_equal(len, w.len);
				if (len)
					assert_memory_equal(v, w.v, len);
			}
			if (!any || write_after(&w, &best))
				best = w;
			any = true;
			break;
		case 2: /* clocks wander, backwards too */
			clk[a].now += rng_below(&r, 20);
			if (rng_below(&r, 3) == 0)
				clk[a].now -= rng_below(&r, clk[a].now < 30 ? clk[a].now : 30);
			break;
		case 3:
			pb = &pool[npool < POOL ? npool++ : rng_below(&r, POOL)];
			crdt_buf_reset(pb);
			assert_int_equal(crdt_lwwreg_split(rep[a], 1400, deliver_cb, rep[b]), 0);
			assert_int_equal(crdt_lwwreg_encode(rep[a], pb), 0);
			break;
		default:
			if (npool) {
				pb = &pool[rng_below(&r, npool)];
				deliver(rep[b], pb->data, pb->len); /* stale or duplicate */
			}
			break;
		}
	}
	for (int round = 0; round < 2; round++)
		for (int a = 0; a < nr; a++)
			for (int b = 0; b < nr; b++)
				assert_int_equal(crdt_lwwreg_split(rep[a], 1400, deliver_cb, rep[b]), 0);
	for (int i = 0; i < nr; i++) {
		const uint8_t *v;
		size_t len;

		assert_true(crdt_lwwreg_equal(rep[0], rep[i]));
		assert_int_equal(crdt_lwwreg_get(rep[i], &v, &len), any);
		if (any) {
			assert_int_equal(crdt_hlc_cmp(&rep[i]->ts, &best.ts), 0);
			assert_memory_equal(crdt_rid_at(rep[i]->rix)->b, best.rid.b, CRDT_RID_LEN);
			assert_int_equal(len, best.len);
			if (len)
				assert_memory_equal(v, best.v, len);
		}
	}
	for (int i = 0; i < nr; i++)
		crdt_lwwreg_free(rep[i]);
	for (int i = 0; i < POOL; i++)
		crdt_buf_done(&pool[i]);
}

static void test_sim(void **state)
{
	struct rng r = { seed ^ 0x51e };
	int n = test_scenarios(10000);

	for (int i = 0; i < n; i++)
		simulate(rng_next(&r));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basics),
		cmocka_unit_test(test_inline_and_heap_values),
		cmocka_unit_test(test_in_place),
		cmocka_unit_test(test_clock_jumps_back),
		cmocka_unit_test(test_later_write_beats_fast_clock),
		cmocka_unit_test(test_ties),
		cmocka_unit_test(test_laws),
		cmocka_unit_test(test_codec),
		cmocka_unit_test(test_crafted),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_sim),
	};

	seed = test_seed("lwwreg");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
