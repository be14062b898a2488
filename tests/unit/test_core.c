/* Buffers, cursors, replica ids, version vectors and the hybrid logical
 * clock: the pieces every type is built from. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crdt/buf.h"
#include "crdt/codec.h"
#include "crdt/error.h"
#include "crdt/hlc.h"
#include "crdt/rid.h"
#include "crdt/vv.h"
#include "testutil.h"

static void test_varint_round_trip(void **state)
{
	static const uint64_t vals[] = { 0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX,
					 (1ULL << 63) - 1, 1ULL << 63, UINT64_MAX };
	struct crdt_buf b;

	crdt_buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		crdt_buf_reset(&b);
		assert_int_equal(crdt_buf_put_varint(&b, vals[i]), 0);
		assert_int_equal(b.len, crdt_varint_len(vals[i]));

		struct crdt_cur c;
		uint64_t v;
		crdt_cur_init(&c, b.data, b.len);
		assert_int_equal(crdt_cur_varint(&c, &v), 0);
		assert_true(v == vals[i]);
		assert_int_equal(c.left, 0);

		/* every truncation fails and leaves the cursor where it was */
		for (size_t cut = 0; cut < b.len; cut++) {
			crdt_cur_init(&c, b.data, cut);
			assert_int_equal(crdt_cur_varint(&c, &v), CRDT_EBADMSG);
			assert_int_equal(c.left, cut);
		}
	}
	crdt_buf_done(&b);
}

static void test_varint_rejects_overlong(void **state)
{
	static const uint8_t padded[] = { 0x81, 0x00 };          /* 1 with a zero group */
	static const uint8_t eleven[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
					  0x80, 0x80, 0x80, 0x80, 0x01 };
	static const uint8_t big[] = { 0xff, 0xff, 0xff, 0xff, 0xff,
				       0xff, 0xff, 0xff, 0xff, 0x02 }; /* 2^64 + ... */
	struct crdt_cur c;
	uint64_t v;

	crdt_cur_init(&c, padded, sizeof(padded));
	assert_int_equal(crdt_cur_varint(&c, &v), CRDT_EBADMSG);
	crdt_cur_init(&c, eleven, sizeof(eleven));
	assert_int_equal(crdt_cur_varint(&c, &v), CRDT_EBADMSG);
	crdt_cur_init(&c, big, sizeof(big));
	assert_int_equal(crdt_cur_varint(&c, &v), CRDT_EBADMSG);
}

static void test_buf_max_is_sticky(void **state)
{
	struct crdt_buf b;

	crdt_buf_init(&b, 8);
	assert_int_equal(crdt_buf_put(&b, "12345678", 8), 0);
	assert_int_equal(crdt_buf_put_u8(&b, 'x'), CRDT_EMSGSIZE);
	assert_int_equal(crdt_buf_put_varint(&b, 1), CRDT_EMSGSIZE);
	assert_int_equal(b.len, 8);
	assert_int_equal(b.err, CRDT_EMSGSIZE);
	crdt_buf_reset(&b);
	assert_int_equal(crdt_buf_put_u8(&b, 'x'), 0);
	crdt_buf_done(&b);
	crdt_buf_done(NULL);
}

/* printf into a buffer: the text whole, however long (the INFO, metrics
 * and status pages' lines once went through 512- and 1,024-byte copies
 * that cut them), no NUL after it, appended to what is there; past the
 * maximum the error sticks and nothing is added. */
static void test_buf_printf(void **state)
{
	struct crdt_buf b;
	char path[3000];

	memset(path, 'p', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	crdt_buf_init(&b, 0);
	assert_int_equal(crdt_buf_printf(&b, "%s:%d", "a", 1), 0);
	assert_int_equal(b.len, 3);
	assert_int_equal(crdt_buf_printf(&b, ",config_file:%s!", path), 0);
	assert_int_equal(b.len, 3 + 13 + sizeof(path) - 1 + 1);
	assert_memory_equal(b.data, "a:1,config_file:ppp", 19);
	assert_int_equal(b.data[b.len - 1], '!');
	assert_int_equal(crdt_buf_printf(&b, "%s", ""), 0);
	assert_int_equal(b.len, 3 + 13 + sizeof(path));
	crdt_buf_done(&b);
	crdt_buf_init(&b, 8);
	assert_int_equal(crdt_buf_printf(&b, "%d", 1234), 0);
	assert_int_equal(crdt_buf_printf(&b, "%d", 123456), CRDT_EMSGSIZE);
	assert_int_equal(b.len, 4);
	assert_int_equal(crdt_buf_printf(&b, "x"), CRDT_EMSGSIZE);
	assert_memory_equal(b.data, "1234", 4);
	crdt_buf_done(&b);
}

static void test_cur_bounds(void **state)
{
	static const uint8_t data[] = { 3, 'a', 'b' }; /* claims 3 bytes, has 2 */
	static const uint8_t count[] = { 5, 1, 2, 3 }; /* 5 items, 3 bytes */
	struct crdt_cur c;
	const uint8_t *p;
	size_t n;

	crdt_cur_init(&c, data, sizeof(data));
	assert_int_equal(crdt_cur_bytes(&c, &p, &n), CRDT_EBADMSG);
	assert_int_equal(c.left, sizeof(data));
	crdt_cur_init(&c, count, sizeof(count));
	assert_int_equal(crdt_cur_count(&c, 1, &n), CRDT_EBADMSG);
	crdt_cur_init(&c, count + 1, 3);
	assert_int_equal(crdt_cur_count(&c, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(crdt_cur_take(&c, 3, &p), CRDT_EBADMSG);
	assert_int_equal(crdt_cur_take(&c, 2, &p), 0);
	assert_int_equal(c.left, 0);
}

static void test_rid_parse_format(void **state)
{
	struct crdt_rid a, b;
	char s[CRDT_RID_STRLEN];

	crdt_rid_generate(&a);
	assert_false(crdt_rid_is_nil(&a));
	crdt_rid_format(&a, s);
	assert_int_equal(strlen(s), 36);
	assert_int_equal(crdt_rid_parse(s, &b), 0);
	assert_int_equal(crdt_rid_cmp(&a, &b), 0);
	assert_int_equal(crdt_rid_parse("not-a-uuid", &b), CRDT_EINVAL);
	assert_int_equal(crdt_rid_parse("123e4567-e89b-12d3-a456-4266141740000", &b), CRDT_EINVAL);
	assert_int_equal(crdt_rid_parse("123e4567-e89b-12d3-a456-42661417400g", &b), CRDT_EINVAL);
	assert_int_equal(crdt_rid_parse("123E4567-E89B-12D3-A456-426614174000", &b), 0);
	crdt_rid_format(&b, s);
	assert_string_equal(s, "123e4567-e89b-12d3-a456-426614174000");
}

static void test_type_names(void **state)
{
	enum crdt_type t;

	for (int i = CRDT_TYPE_MIN; i <= CRDT_TYPE_MAX; i++) {
		assert_int_equal(crdt_type_parse(crdt_type_name((enum crdt_type)i), &t), 0);
		assert_int_equal(t, i);
	}
	assert_int_equal(crdt_type_parse("hash", &t), CRDT_EINVAL);
	assert_null(crdt_type_name((enum crdt_type)0));
	assert_null(crdt_type_name((enum crdt_type)(CRDT_TYPE_MAX + 1)));
}

static void test_rid_table(void **state)
{
	struct crdt_rid ids[3];
	struct crdt_buf b;
	struct crdt_cur c;
	const uint8_t *p;
	size_t n;

	memset(ids, 0, sizeof(ids));
	ids[0].b[15] = 1;
	ids[1].b[15] = 2;
	ids[2].b[0] = 1;
	crdt_buf_init(&b, 0);
	assert_int_equal(crdt_codec_put_rids(&b, ids, 3), 0);
	crdt_cur_init(&c, b.data, b.len);
	assert_int_equal(crdt_codec_get_rids(&c, &p, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(p, ids, sizeof(ids));

	/* unsorted, then duplicated */
	ids[0].b[0] = 2;
	crdt_buf_reset(&b);
	crdt_codec_put_rids(&b, ids, 3);
	crdt_cur_init(&c, b.data, b.len);
	assert_int_equal(crdt_codec_get_rids(&c, &p, &n), CRDT_EBADMSG);
	assert_int_equal(c.left, b.len);
	ids[0] = ids[1];
	crdt_buf_reset(&b);
	crdt_codec_put_rids(&b, ids, 2);
	crdt_cur_init(&c, b.data, b.len);
	assert_int_equal(crdt_codec_get_rids(&c, &p, &n), CRDT_EBADMSG);
	crdt_buf_done(&b);
}

/* Replica ids from a small pool, so vectors share some replicas. */
static struct crdt_rid pool_rid(unsigned i)
{
	struct crdt_rid r;
	memset(&r, 0, sizeof(r));
	r.b[0] = (uint8_t)(i * 37);
	r.b[15] = (uint8_t)i;
	return r;
}

static void random_vv(struct rng *rng, struct crdt_vv *vv)
{
	crdt_vv_init(vv);
	unsigned n = (unsigned)rng_below(rng, 6);
	for (unsigned i = 0; i < n; i++) {
		struct crdt_rid r = pool_rid((unsigned)rng_below(rng, 8));
		assert_int_equal(crdt_vv_add(vv, &r, 1 + rng_below(rng, 5), NULL), 0);
	}
}

static void test_vv_basics(void **state)
{
	struct crdt_vv a, b;
	struct crdt_rid r1 = pool_rid(1), r2 = pool_rid(2);
	uint64_t n;

	crdt_vv_init(&a);
	crdt_vv_init(&b);
	assert_int_equal(crdt_vv_compare(&a, &b), CRDT_EQUAL);
	assert_int_equal(crdt_vv_inc(&a, &r1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(crdt_vv_compare(&a, &b), CRDT_AFTER);
	assert_int_equal(crdt_vv_compare(&b, &a), CRDT_BEFORE);
	assert_int_equal(crdt_vv_inc(&b, &r2, NULL), 0);
	assert_int_equal(crdt_vv_compare(&a, &b), CRDT_CONCURRENT);
	assert_false(crdt_vv_dominates(&a, &b));
	assert_int_equal(crdt_vv_merge(&a, &b), 0);
	assert_true(crdt_vv_dominates(&a, &b));
	assert_int_equal(crdt_vv_get(&a, &r2), 1);
	assert_int_equal(crdt_vv_add(&a, &r1, 0, NULL), CRDT_EINVAL);
	assert_int_equal(crdt_vv_add(&a, &r1, UINT64_MAX, NULL), CRDT_EOVERFLOW);
	assert_int_equal(crdt_vv_get(&a, &r1), 1);
	assert_int_equal(crdt_vv_raise(&a, &r1, 9), 0);
	assert_int_equal(crdt_vv_raise(&a, &r1, 3), 0);
	assert_int_equal(crdt_vv_get(&a, &r1), 9);
	crdt_vv_done(&a);
	crdt_vv_done(&b);
}

/* Merge laws and compare on random vectors, checked against a pointwise
 * reference computed from crdt_vv_get. */
static void test_vv_laws(void **state)
{
	struct rng rng = { test_seed("vv laws") };

	for (int s = 0; s < test_scenarios(10000); s++) {
		struct crdt_vv a, b, c, ab, ba, abc1, abc2, tmp;
		random_vv(&rng, &a);
		random_vv(&rng, &b);
		random_vv(&rng, &c);
		crdt_vv_init(&ab);
		crdt_vv_init(&ba);
		crdt_vv_init(&abc1);
		crdt_vv_init(&abc2);
		crdt_vv_init(&tmp);

		assert_int_equal(crdt_vv_copy(&ab, &a), 0);
		assert_int_equal(crdt_vv_merge(&ab, &b), 0);
		assert_int_equal(crdt_vv_copy(&ba, &b), 0);
		assert_int_equal(crdt_vv_merge(&ba, &a), 0);
		assert_true(crdt_vv_equal(&ab, &ba));

		for (unsigned i = 0; i < 8; i++) {
			struct crdt_rid r = pool_rid(i);
			uint64_t x = crdt_vv_get(&a, &r), y = crdt_vv_get(&b, &r);
			assert_true(crdt_vv_get(&ab, &r) == (x > y ? x : y));
		}

		/* (a ⊔ b) ⊔ c == a ⊔ (b ⊔ c) */
		crdt_vv_copy(&abc1, &ab);
		crdt_vv_merge(&abc1, &c);
		crdt_vv_copy(&tmp, &b);
		crdt_vv_merge(&tmp, &c);
		crdt_vv_copy(&abc2, &a);
		crdt_vv_merge(&abc2, &tmp);
		assert_true(crdt_vv_equal(&abc1, &abc2));

		/* idempotent */
		crdt_vv_merge(&abc1, &abc1);
		assert_true(crdt_vv_equal(&abc1, &abc2));

		/* compare agrees with dominance both ways */
		bool ge = crdt_vv_dominates(&a, &b), le = crdt_vv_dominates(&b, &a);
		enum crdt_order o = crdt_vv_compare(&a, &b);
		assert_int_equal(o, ge && le ? CRDT_EQUAL : ge ? CRDT_AFTER : le ? CRDT_BEFORE : CRDT_CONCURRENT);
		assert_true(crdt_vv_dominates(&ab, &a) && crdt_vv_dominates(&ab, &b));

		/* codec round trip, and every truncation is rejected */
		struct crdt_buf buf;
		crdt_buf_init(&buf, 0);
		assert_int_equal(crdt_vv_encode_body(&ab, &buf), 0);
		for (size_t cut = 0; cut <= buf.len; cut++) {
			struct crdt_cur cur;
			struct crdt_vv d;
			crdt_cur_init(&cur, buf.data, cut);
			int r = crdt_vv_decode_body(&cur, &d);
			if (cut < buf.len) {
				assert_int_equal(r, CRDT_EBADMSG);
			} else {
				assert_int_equal(r, 0);
				assert_true(crdt_vv_equal(&d, &ab));
				crdt_vv_done(&d);
			}
		}
		crdt_buf_done(&buf);

		crdt_vv_done(&a);
		crdt_vv_done(&b);
		crdt_vv_done(&c);
		crdt_vv_done(&ab);
		crdt_vv_done(&ba);
		crdt_vv_done(&abc1);
		crdt_vv_done(&abc2);
		crdt_vv_done(&tmp);
	}
}

static void test_vv_decode_rejects(void **state)
{
	struct crdt_rid r1 = pool_rid(1), r2 = pool_rid(2);
	struct crdt_buf b;
	struct crdt_cur c;
	struct crdt_vv vv;

	/* out of order */
	crdt_buf_init(&b, 0);
	crdt_buf_put_varint(&b, 2);
	crdt_buf_put(&b, r2.b, 16);
	crdt_buf_put_varint(&b, 1);
	crdt_buf_put(&b, r1.b, 16);
	crdt_buf_put_varint(&b, 1);
	crdt_cur_init(&c, b.data, b.len);
	assert_int_equal(crdt_vv_decode_body(&c, &vv), CRDT_EBADMSG);

	/* zero counter */
	crdt_buf_reset(&b);
	crdt_buf_put_varint(&b, 1);
	crdt_buf_put(&b, r1.b, 16);
	crdt_buf_put_varint(&b, 0);
	crdt_cur_init(&c, b.data, b.len);
	assert_int_equal(crdt_vv_decode_body(&c, &vv), CRDT_EBADMSG);

	/* a count far larger than the bytes */
	crdt_buf_reset(&b);
	crdt_buf_put_varint(&b, UINT64_MAX);
	crdt_cur_init(&c, b.data, b.len);
	assert_int_equal(crdt_vv_decode_body(&c, &vv), CRDT_EBADMSG);
	crdt_buf_done(&b);
}

struct fake_clock {
	uint64_t ms;
};

static uint64_t fake_now(void *ctx)
{
	return ((struct fake_clock *)ctx)->ms;
}

static void test_hlc_monotonic_when_clock_jumps_back(void **state)
{
	struct fake_clock fc = { 1000000 };
	struct crdt_hlc hlc;
	struct crdt_hlc_ts prev, ts;

	crdt_hlc_init(&hlc, fake_now, &fc);
	prev = crdt_hlc_now(&hlc);
	assert_true(prev.ms == 1000000 && prev.lc == 0);

	fc.ms = 5; /* the wall clock goes back by 16 minutes */
	for (int i = 0; i < 100; i++) {
		ts = crdt_hlc_now(&hlc);
		assert_true(crdt_hlc_cmp(&ts, &prev) > 0);
		prev = ts;
	}
	fc.ms = 2000000; /* and forward again: back to physical time */
	ts = crdt_hlc_now(&hlc);
	assert_true(ts.ms == 2000000 && ts.lc == 0);

	/* a logical counter at its limit moves to the next millisecond */
	hlc.last = (struct crdt_hlc_ts){ .ms = 3000000, .lc = UINT32_MAX };
	ts = crdt_hlc_now(&hlc);
	assert_true(ts.ms == 3000001 && ts.lc == 0);

	/* and at the end of time it saturates instead of wrapping to zero */
	hlc.last = (struct crdt_hlc_ts){ .ms = UINT64_MAX, .lc = UINT32_MAX };
	ts = crdt_hlc_now(&hlc);
	assert_true(ts.ms == UINT64_MAX && ts.lc == UINT32_MAX);
}

static void test_hlc_observe(void **state)
{
	struct fake_clock fc = { 1000 };
	struct crdt_hlc hlc;
	struct crdt_hlc_ts remote = { .ms = 5000, .lc = 7 }, far = { .ms = 1000000, .lc = 0 };

	crdt_hlc_init(&hlc, fake_now, &fc);
	assert_int_equal(crdt_hlc_observe(&hlc, &remote, 60000), 0);
	struct crdt_hlc_ts ts = crdt_hlc_now(&hlc);
	assert_true(crdt_hlc_cmp(&ts, &remote) > 0);

	/* a peer a quarter hour ahead drags us only as far as the bound */
	assert_int_equal(crdt_hlc_observe(&hlc, &far, 60000), 1);
	ts = crdt_hlc_now(&hlc);
	assert_true(ts.ms == 1000 + 60000 && ts.lc == 1);
	/* unless no bound is asked for */
	assert_int_equal(crdt_hlc_observe(&hlc, &far, 0), 0);
	ts = crdt_hlc_now(&hlc);
	assert_true(ts.ms == 1000000 && ts.lc == 1);
}

/* A stamp after a value from a clock far ahead orders after it, and leaves
 * the clock where it was. */
static void test_hlc_after(void **state)
{
	struct fake_clock fc = { 1000 };
	struct crdt_hlc hlc;
	struct crdt_hlc_ts far = { .ms = 3600000, .lc = UINT32_MAX }, old = { .ms = 10, .lc = 3 };
	struct crdt_hlc_ts ts;

	crdt_hlc_init(&hlc, fake_now, &fc);
	ts = crdt_hlc_after(&hlc, &far);
	assert_true(ts.ms == 3600001 && ts.lc == 0);
	ts = crdt_hlc_now(&hlc);
	assert_true(ts.ms == 1000 && ts.lc == 1);
	/* a value older than our clock: just now */
	ts = crdt_hlc_after(&hlc, &old);
	assert_true(ts.ms == 1000 && ts.lc == 2);
}

static void test_strerror(void **state)
{
	assert_string_equal(crdt_strerror(CRDT_EBADMSG), "malformed encoding");
	assert_string_equal(crdt_strerror(CRDT_EOVERFLOW), "value out of int64 range");
	assert_non_null(crdt_strerror(-12345));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_varint_round_trip),
		cmocka_unit_test(test_varint_rejects_overlong),
		cmocka_unit_test(test_buf_printf),
		cmocka_unit_test(test_buf_max_is_sticky),
		cmocka_unit_test(test_cur_bounds),
		cmocka_unit_test(test_rid_parse_format),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_rid_table),
		cmocka_unit_test(test_vv_basics),
		cmocka_unit_test(test_vv_laws),
		cmocka_unit_test(test_vv_decode_rejects),
		cmocka_unit_test(test_hlc_monotonic_when_clock_jumps_back),
		cmocka_unit_test(test_hlc_observe),
		cmocka_unit_test(test_hlc_after),
		cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
