/* G-Set: semantics, merge laws, codec, split, and pieces from a cursor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crdt/error.h"
#include "crdt/json.h"
#include "crdt/gset.h"
#include "crdt/hash.h"
#include "testutil.h"
#include "../../src/crdt/elemtab.h" /* et_hash: keys that share a hash */

static struct rng rng;

static struct crdt_gset *random_set(int max_elems, int alphabet)
{
	struct crdt_gset *s = crdt_gset_new();
	int n = (int)rng_below(&rng, (uint64_t)max_elems + 1);
	uint8_t e[24];

	for (int i = 0; i < n; i++) {
		/* lengths 0..23 so both inline and heap keys occur; NULs included */
		size_t len = rng_below(&rng, 24);
		uint64_t v = rng_below(&rng, (uint64_t)alphabet);
		memset(e, 0, sizeof(e));
		memcpy(e, &v, len < 8 ? len : 8);
		len = len % 3 == 0 ? len : (size_t)(v % 20);
		assert_true(crdt_gset_add(s, e, len) >= 0);
	}
	return s;
}

static bool same_encoding(const struct crdt_gset *a, const struct crdt_gset *b)
{
	struct crdt_buf x, y;
	bool eq;

	crdt_buf_init(&x, 0);
	crdt_buf_init(&y, 0);
	assert_int_equal(crdt_gset_encode(a, &x), 0);
	assert_int_equal(crdt_gset_encode(b, &y), 0);
	eq = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
	crdt_buf_done(&x);
	crdt_buf_done(&y);
	return eq;
}

static void test_basic(void **state)
{
	struct crdt_gset *a = crdt_gset_new(), *b = crdt_gset_new();
	cJSON *j;
	char *t;

	assert_int_equal(crdt_gset_add(a, "x\0y", 3), 1);
	assert_int_equal(crdt_gset_add(a, "x\0y", 3), 0);
	assert_int_equal(crdt_gset_add(a, "x", 1), 1);
	assert_int_equal(crdt_gset_add(b, "", 0), 1);
	assert_true(crdt_gset_contains(a, "x\0y", 3));
	assert_false(crdt_gset_contains(a, "x\0z", 3));
	assert_int_equal(crdt_gset_merge(a, b), 0);
	assert_int_equal(crdt_gset_card(a), 3);
	assert_true(crdt_gset_contains(a, "", 0));
	j = crdt_gset_to_json(a);
	t = cJSON_PrintUnformatted(j);
	assert_string_equal(t, "{\"type\":\"gset\",\"elements\":[\"\",\"x\",{\"hex\":\"780079\"}]}");
	free(t);
	cJSON_Delete(j);
	crdt_gset_free(a);
	crdt_gset_free(b);
	crdt_gset_free(NULL);
}

static void test_laws_and_codec(void **state)
{
	int n = test_scenarios(10000);

	for (int i = 0; i < n; i++) {
		struct crdt_gset *a = random_set(12, 16), *b = random_set(12, 16), *c = random_set(12, 16);
		struct crdt_gset *ab = crdt_gset_copy(a), *ba = crdt_gset_copy(b), *bc = crdt_gset_copy(b);
		struct crdt_gset *d = NULL;
		struct crdt_buf x;

		assert_int_equal(crdt_gset_merge(ab, b), 0);
		assert_int_equal(crdt_gset_merge(ba, a), 0);
		assert_true(crdt_gset_equal(ab, ba));
		assert_true(same_encoding(ab, ba));
		assert_int_equal(crdt_gset_merge(bc, c), 0);
		assert_int_equal(crdt_gset_merge(ab, c), 0);       /* (a+b)+c */
		assert_int_equal(crdt_gset_merge(bc, a), 0);       /* (b+c)+a */
		assert_true(crdt_gset_equal(ab, bc));
		assert_int_equal(crdt_gset_merge(ba, ba), 0);
		assert_int_equal(crdt_gset_merge(ba, a), 0);
		assert_true(same_encoding(ba, ab) == crdt_gset_equal(ba, ab));

		crdt_buf_init(&x, 0);
		assert_int_equal(crdt_gset_encode(ab, &x), 0);
		assert_int_equal(crdt_gset_decode(x.data, x.len, &d), 0);
		assert_true(crdt_gset_equal(d, ab));
		crdt_gset_free(d);
		if (i % 50 == 0) {
			for (size_t k = 0; k < x.len; k++) {
				d = NULL;
				assert_true(crdt_gset_decode(x.data, k, &d) < 0);
				assert_null(d);
			}
			for (int f = 0; f < 20 && x.len; f++) {
				uint8_t *t = malloc(x.len);
				memcpy(t, x.data, x.len);
				t[rng_below(&rng, x.len)] ^= (uint8_t)(1u << rng_below(&rng, 8));
				if (crdt_gset_decode(t, x.len, &d) == 0) {
					struct crdt_buf y;
					struct crdt_gset *d2;
					crdt_buf_init(&y, 0);
					assert_int_equal(crdt_gset_encode(d, &y), 0);
					assert_int_equal(crdt_gset_decode(y.data, y.len, &d2), 0);
					assert_true(crdt_gset_equal(d, d2));
					crdt_gset_free(d2);
					crdt_gset_free(d);
					crdt_buf_done(&y);
				}
				free(t);
			}
		}
		crdt_buf_done(&x);
		crdt_gset_free(a);
		crdt_gset_free(b);
		crdt_gset_free(c);
		crdt_gset_free(ab);
		crdt_gset_free(ba);
		crdt_gset_free(bc);
	}
}

/* The hash of docs/encoding.md's elemtab order, written from the text:
 * SipHash-c-d of the bytes under the key (k0, k1), a byte at a time. */
static uint64_t doc_rotl(uint64_t x, int b)
{
	return x << b | x >> (64 - b);
}

static void doc_rounds(uint64_t v[4], int n)
{
	while (n-- > 0) {
		v[0] += v[1], v[1] = doc_rotl(v[1], 13), v[1] ^= v[0], v[0] = doc_rotl(v[0], 32);
		v[2] += v[3], v[3] = doc_rotl(v[3], 16), v[3] ^= v[2];
		v[0] += v[3], v[3] = doc_rotl(v[3], 21), v[3] ^= v[0];
		v[2] += v[1], v[1] = doc_rotl(v[1], 17), v[1] ^= v[2], v[2] = doc_rotl(v[2], 32);
	}
}

static uint64_t doc_sip(uint64_t k0, uint64_t k1, const uint8_t *p, size_t n, int c, int d)
{
	uint64_t v[4] = { k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
			  k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL };

	for (size_t i = 0; i <= n / 8; i++) { /* the last word: the bytes left, and n */
		uint64_t m = i == n / 8 ? (uint64_t)(n & 0xff) << 56 : 0;
		for (size_t b = 0; b < 8 && i * 8 + b < n; b++)
			m |= (uint64_t)p[i * 8 + b] << (8 * b);
		v[3] ^= m;
		doc_rounds(v, c);
		v[0] ^= m;
	}
	v[2] ^= 0xff;
	doc_rounds(v, d);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* The paper's SipHash-2-4 vectors (key 00 01 .. 0f): the empty message,
 * and 00 01 .. 0e.  So doc_sip() is SipHash, and with it libcrdt's. */
static void test_siphash_vectors(void **state)
{
	const uint64_t k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;
	const struct crdt_hash_key key = { k0, k1 };
	uint8_t m[64];

	(void)state;
	for (size_t i = 0; i < sizeof(m); i++)
		m[i] = (uint8_t)i;
	assert_true(doc_sip(k0, k1, m, 0, 2, 4) == 0x726fdb47dd0e0e31ULL);
	assert_true(doc_sip(k0, k1, m, 15, 2, 4) == 0xa129ca6149be45e5ULL);
	for (size_t n = 0; n <= sizeof(m); n++) {
		assert_true(sip_hash(&key, m, n, 2, 4) == doc_sip(k0, k1, m, n, 2, 4));
		assert_true(crdt_hash_bytes(&key, m, n) == doc_sip(k0, k1, m, n, 1, 3));
	}
}

/* The encoder writes elemtab order as docs/encoding.md defines it: by that
 * hash (SipHash-1-3's low 32 bits under the element tables' key), then by
 * bytes; keys of every length from 0 to 40.  Under the default key, then
 * under another one set as a program sets its own (the daemon at its
 * start), which must then be the order. */
static void check_order(uint64_t k0, uint64_t k1)
{
	struct crdt_gset *s = crdt_gset_new();
	struct crdt_buf b;
	uint8_t key[40];
	const uint8_t *p;
	size_t left, n, plen = 0;
	const uint8_t *prev = NULL;
	uint32_t ph = 0;

	for (int i = 0; i < 2000; i++) {
		for (size_t k = 0; k < sizeof(key); k++)
			key[k] = (uint8_t)(i * 31 + k * 7);
		assert_true(crdt_gset_add(s, key, (size_t)i % (sizeof(key) + 1)) >= 0);
	}
	crdt_buf_init(&b, 0);
	assert_int_equal(crdt_gset_encode(s, &b), 0);
	p = b.data + 2;
	left = b.len - 2;
	n = p[0] & 0x7f; /* the count: a varint of one or two bytes here */
	if (p[0] & 0x80) {
		n |= (size_t)p[1] << 7;
		p++;
		left--;
	}
	p++;
	left--;
	assert_int_equal(n, crdt_gset_card(s));
	assert_true(n > 1000);
	for (size_t i = 0; i < n; i++) {
		size_t len = p[0]; /* lengths below 128: one byte */
		uint32_t h = (uint32_t)doc_sip(k0, k1, p + 1, len, 1, 3);
		assert_true(left >= 1 + len);
		if (i > 0) {
			int c = memcmp(prev, p + 1, plen < len ? plen : len);
			assert_true(ph < h || (ph == h && (c < 0 || (c == 0 && plen < len))));
		}
		prev = p + 1;
		plen = len;
		ph = h;
		p += 1 + len;
		left -= 1 + len;
	}
	assert_int_equal(left, 0);
	crdt_buf_done(&b);
	crdt_gset_free(s);
}

static void test_elemtab_order(void **state)
{
	const struct crdt_hash_key other = { 0x0123456789abcdefULL, 0xfedcba9876543210ULL };
	const struct crdt_hash_key dflt = crdt_hash_key_;

	(void)state;
	assert_true(dflt.k0 == 0x243f6a8885a308d3ULL && dflt.k1 == 0x13198a2e03707344ULL);
	check_order(dflt.k0, dflt.k1);
	crdt_set_hash_key(&other);
	check_order(other.k0, other.k1);
	crdt_set_hash_key(&dflt);
}

static void test_crafted(void **state)
{
	struct crdt_gset *d = NULL;
	const uint8_t ok[] = { 3, 1, 2, 1, 'a', 1, 'b' };
	const uint8_t unsorted[] = { 3, 1, 2, 1, 'b', 1, 'a' };
	const uint8_t dup[] = { 3, 1, 2, 1, 'a', 1, 'a' };
	/* a duplicate after the order broke: one of the two breaks it */
	const uint8_t dup_late[] = { 3, 1, 3, 1, 'a', 1, 'b', 1, 'a' };
	const uint8_t dup_late2[] = { 3, 1, 3, 1, 'b', 1, 'a', 1, 'b' };
	const uint8_t prefix_order[] = { 3, 1, 2, 2, 'a', 'a', 1, 'a' };
	const uint8_t trailing[] = { 3, 1, 1, 1, 'a', 0 };
	const uint8_t huge[] = { 3, 1, 0xff, 0xff, 0xff, 0xff, 0x0f };
	const uint8_t other[] = { 4, 1, 0 };

	assert_int_equal(crdt_gset_decode(ok, sizeof(ok), &d), 0);
	assert_int_equal(crdt_gset_card(d), 2);
	crdt_gset_free(d);
	/* any order of distinct elements (older versions wrote key order) */
	assert_int_equal(crdt_gset_decode(unsorted, sizeof(unsorted), &d), 0);
	assert_int_equal(crdt_gset_card(d), 2);
	crdt_gset_free(d);
	assert_int_equal(crdt_gset_decode(prefix_order, sizeof(prefix_order), &d), 0);
	assert_int_equal(crdt_gset_card(d), 2);
	crdt_gset_free(d);
	assert_int_equal(crdt_gset_decode(dup, sizeof(dup), &d), CRDT_EBADMSG);
	assert_int_equal(crdt_gset_decode(dup_late, sizeof(dup_late), &d), CRDT_EBADMSG);
	assert_int_equal(crdt_gset_decode(dup_late2, sizeof(dup_late2), &d), CRDT_EBADMSG);
	assert_int_equal(crdt_gset_decode(trailing, sizeof(trailing), &d), CRDT_EBADMSG);
	assert_int_equal(crdt_gset_decode(huge, sizeof(huge), &d), CRDT_EBADMSG);
	assert_int_equal(crdt_gset_decode(other, sizeof(other), &d), CRDT_EPROTO);
}

struct pieces {
	struct crdt_gset *into;
	size_t max;
	int n;
};

static int piece_cb(const uint8_t *p, size_t len, void *ctx)
{
	struct pieces *ps = ctx;
	struct crdt_gset *d;

	assert_true(len <= ps->max);
	assert_int_equal(crdt_gset_decode(p, len, &d), 0);
	assert_int_equal(crdt_gset_merge(ps->into, d), 0);
	crdt_gset_free(d);
	ps->n++;
	return 0;
}

static int keep_cb(const uint8_t *p, size_t len, void *ctx)
{
	return crdt_buf_put(ctx, p, len);
}

static void test_split(void **state)
{
	for (int i = 0; i < 200; i++) {
		struct crdt_gset *s = random_set(300, 1 << 20);
		struct pieces ps = { .into = crdt_gset_new(), .max = 30 + rng_below(&rng, 270) };
		assert_int_equal(crdt_gset_split(s, ps.max, piece_cb, &ps), 0);
		assert_true(ps.n >= 1);
		assert_true(crdt_gset_equal(s, ps.into));
		crdt_gset_free(ps.into);
		crdt_gset_free(s);
	}
	struct crdt_gset *s = crdt_gset_new();
	uint8_t big[64] = { 0 };
	assert_int_equal(crdt_gset_add(s, big, sizeof(big)), 1);
	struct pieces ps = { .into = crdt_gset_new(), .max = 40 };
	/* too long for any piece: left out, counted, the rest still goes */
	assert_int_equal(crdt_gset_split(s, 40, piece_cb, &ps), 1);
	assert_int_equal(crdt_gset_card(ps.into), 0);
	assert_int_equal(crdt_gset_add(s, "a", 1), 1);
	assert_int_equal(crdt_gset_add(s, "zz", 2), 1);
	assert_int_equal(crdt_gset_split(s, 40, piece_cb, &ps), 1);
	assert_int_equal(crdt_gset_card(ps.into), 2);
	assert_int_equal(crdt_gset_split(s, 2, piece_cb, &ps), CRDT_EMSGSIZE);
	crdt_gset_free(ps.into);
	crdt_gset_free(s);
}

/* A cut's callback that fails on its @fail_at-th piece (0: never), else
 * merges it as a peer would and counts its elements. */
struct cut {
	struct pieces ps;
	int fail_at, calls;
	size_t elems;
};

static int cut_cb(const uint8_t *p, size_t len, void *ctx)
{
	struct cut *c = ctx;
	struct crdt_gset *d;

	if (++c->calls == c->fail_at)
		return -5;
	assert_int_equal(crdt_gset_decode(p, len, &d), 0);
	c->elems += crdt_gset_card(d);
	crdt_gset_free(d);
	return piece_cb(p, len, &c->ps);
}

static uint64_t cut_all(struct crdt_gset *s, struct cut *c, size_t max, size_t n)
{
	struct crdt_cursor cur = CRDT_CURSOR_INIT;

	for (int calls = 0; !cur.done; calls++) {
		assert_true(calls < 1000000);
		assert_int_equal(crdt_gset_pieces(s, &cur, max, n, cut_cb, c), 0);
	}
	return cur.skipped;
}

/* Two keys "h<i>" of one 32-bit hash, into @a and @b. */
struct hk {
	uint32_t h, i;
};

static int hk_cmp(const void *x, const void *y)
{
	const struct hk *a = x, *b = y;
	return a->h != b->h ? (a->h < b->h ? -1 : 1) : (a->i > b->i) - (a->i < b->i);
}

static size_t colliding(char keys[][16], size_t max)
{
	size_t n = 300000, k = 0;
	struct hk *v = malloc(n * sizeof(*v));

	assert_non_null(v);
	for (uint32_t i = 0; i < n; i++) {
		char b[16];
		int len = snprintf(b, sizeof(b), "h%u", i);
		v[i] = (struct hk){ et_hash(b, (size_t)len), i };
	}
	qsort(v, n, sizeof(*v), hk_cmp);
	for (size_t i = 1; i < n && k + 2 <= max; i++)
		if (v[i].h == v[i - 1].h) {
			snprintf(keys[k++], 16, "h%u", v[i - 1].i);
			snprintf(keys[k++], 16, "h%u", v[i].i);
		}
	free(v);
	return k;
}

static void test_pieces_cursor(void **state)
{
	(void)state;
	/* a cut a few pieces a call, the set growing between calls: every
	 * element there when the cut began arrives, each piece at most max */
	for (int i = 0; i < 200; i++) {
		struct crdt_gset *s = random_set(300, 1 << 20), *before = crdt_gset_copy(s);
		struct cut c = { .ps = { .into = crdt_gset_new(), .max = 30 + rng_below(&rng, 270) } };
		struct crdt_cursor cur = CRDT_CURSOR_INIT;
		size_t n = 1 + rng_below(&rng, 4);
		assert_non_null(before);
		while (!cur.done) {
			assert_int_equal(crdt_gset_pieces(s, &cur, c.ps.max, n, cut_cb, &c), 0);
			for (int a = (int)rng_below(&rng, 5); a > 0; a--) {
				uint32_t v = (uint32_t)rng_below(&rng, 1u << 30);
				assert_true(crdt_gset_add(s, &v, sizeof(v)) >= 0);
			}
		}
		assert_int_equal(cur.skipped, 0);
		assert_true(cur.pieces >= 1 && (uint64_t)c.ps.n == cur.pieces);
		assert_int_equal(crdt_gset_merge(before, c.ps.into), 0);
		assert_int_equal(crdt_gset_card(before), crdt_gset_card(c.ps.into));
		crdt_gset_free(c.ps.into);
		crdt_gset_free(before);
		crdt_gset_free(s);
	}
	/* a set that fits one piece goes as exactly its encoding; an empty
	 * one as one empty piece */
	struct crdt_gset *s = crdt_gset_new();
	struct crdt_buf enc;
	struct cut c = { .ps = { .into = crdt_gset_new(), .max = 200 } };
	assert_int_equal(cut_all(s, &c, 200, 4), 0);
	assert_int_equal(c.ps.n, 1);
	for (int i = 0; i < 10; i++)
		assert_int_equal(crdt_gset_add(s, &i, sizeof(i)), 1);
	crdt_buf_init(&enc, 0);
	assert_int_equal(crdt_gset_encode(s, &enc), 0);
	struct crdt_cursor one = CRDT_CURSOR_INIT;
	struct crdt_buf got;
	crdt_buf_init(&got, 0);
	assert_int_equal(crdt_gset_pieces(s, &one, 200, 4, keep_cb, &got), 0);
	assert_true(one.done && one.pieces == 1);
	assert_int_equal(got.len, enc.len);
	assert_memory_equal(got.data, enc.data, enc.len);
	crdt_buf_done(&got);
	crdt_buf_done(&enc);
	/* an element too long for any piece is left out and counted */
	uint8_t big[64] = { 0 };
	assert_int_equal(crdt_gset_add(s, big, sizeof(big)), 1);
	crdt_gset_free(c.ps.into);
	c = (struct cut){ .ps = { .into = crdt_gset_new(), .max = 40 } };
	assert_int_equal(cut_all(s, &c, 40, 2), 1);
	assert_int_equal(crdt_gset_card(c.ps.into), 10);
	struct crdt_cursor tiny = CRDT_CURSOR_INIT;
	assert_int_equal(crdt_gset_pieces(s, &tiny, 2, 1, cut_cb, &c), CRDT_EMSGSIZE);
	crdt_gset_free(c.ps.into);
	/* a piece its callback refused is cut again: the cursor stayed */
	c = (struct cut){ .ps = { .into = crdt_gset_new(), .max = 16 }, .fail_at = 3 };
	struct crdt_cursor f = CRDT_CURSOR_INIT;
	assert_int_equal(crdt_gset_pieces(s, &f, 16, 8, cut_cb, &c), -5);
	assert_int_equal(f.pieces, 2);
	while (!f.done)
		assert_int_equal(crdt_gset_pieces(s, &f, 16, 8, cut_cb, &c), 0);
	assert_int_equal(crdt_gset_card(c.ps.into), 10);
	assert_int_equal(c.elems, 10);
	crdt_gset_free(c.ps.into);
	crdt_gset_free(s);
	/* a large set's first pieces already spread over the whole hash
	 * space (a receiver's growing table fills evenly), not its first part */
	s = crdt_gset_new();
	for (int i = 0; i < 20000; i++)
		assert_int_equal(crdt_gset_add(s, &i, sizeof(i)), 1);
	struct crdt_cursor sp = CRDT_CURSOR_INIT;
	struct crdt_buf first;
	crdt_buf_init(&first, 0);
	assert_int_equal(crdt_gset_pieces(s, &sp, 1400, 1, keep_cb, &first), 0);
	struct crdt_gset *p1;
	assert_int_equal(crdt_gset_decode(first.data, first.len, &p1), 0);
	assert_true(crdt_gset_card(p1) > 100);
	uint32_t quarters = 0;
	for (int i = 0; i < 20000; i++)
		if (crdt_gset_contains(p1, &i, sizeof(i)))
			quarters |= 1u << (et_hash(&i, sizeof(i)) >> 30);
	assert_int_equal(quarters, 0xf);
	crdt_gset_free(p1);
	crdt_buf_done(&first);
	c = (struct cut){ .ps = { .into = crdt_gset_new(), .max = 1400 } };
	assert_int_equal(cut_all(s, &c, 1400, 3), 0);
	assert_int_equal(c.elems, 20000);
	assert_true(crdt_gset_equal(s, c.ps.into));
	crdt_gset_free(c.ps.into);
	crdt_gset_free(s);
	/* keys that share a hash, a piece each: the cursor stops between
	 * them and goes on after the first, neither lost nor sent twice */
	char keys[8][16];
	size_t nk = colliding(keys, 8);
	assert_true(nk >= 2);
	s = crdt_gset_new();
	for (size_t i = 0; i < nk; i++)
		assert_int_equal(crdt_gset_add(s, keys[i], strlen(keys[i])), 1);
	for (int i = 0; i < 50; i++)
		assert_int_equal(crdt_gset_add(s, &i, sizeof(i)), 1);
	c = (struct cut){ .ps = { .into = crdt_gset_new(), .max = 3 + 1 + 8 } };
	assert_int_equal(cut_all(s, &c, c.ps.max, 1), 0);
	assert_int_equal(c.elems, nk + 50);
	assert_int_equal((size_t)c.ps.n, nk + 50);
	assert_true(crdt_gset_equal(s, c.ps.into));
	crdt_gset_free(c.ps.into);
	crdt_gset_free(s);
}

int main(void)
{
	rng.s = test_seed("gset");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_laws_and_codec),
		cmocka_unit_test(test_crafted),
		cmocka_unit_test(test_siphash_vectors),
		cmocka_unit_test(test_elemtab_order),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_pieces_cursor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
