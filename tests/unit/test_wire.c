/* The gossip datagram format: round trips, packing under an mtu, and a
 * decoder that survives every truncation and random bit flips. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crdt/error.h"
#include "crdt/obj.h"
#include "testutil.h"
#include "gossip/wire.h"

/* ---- collecting datagrams ---------------------------------------------- */

struct dgrams {
	uint8_t **d;
	size_t *len;
	size_t n, cap;
	size_t mtu;
};

static int collect(const uint8_t *d, size_t len, void *ctx)
{
	struct dgrams *c = ctx;

	assert_true(len <= c->mtu);
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->d = realloc(c->d, c->cap * sizeof(*c->d));
		c->len = realloc(c->len, c->cap * sizeof(*c->len));
		assert_non_null(c->d);
		assert_non_null(c->len);
	}
	c->d[c->n] = malloc(len);
	assert_non_null(c->d[c->n]);
	memcpy(c->d[c->n], d, len);
	c->len[c->n++] = len;
	return 0;
}

static void dgrams_free(struct dgrams *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->d[i]);
	free(c->d);
	free(c->len);
	*c = (struct dgrams){ 0 };
}

static struct crdt_rid rid_n(uint8_t n)
{
	struct crdt_rid r;
	memset(r.b, n, sizeof(r.b));
	return r;
}

/* A few instances of every type. */
struct fixture {
	struct crdt_obj o[CRDT_TYPE_MAX];
	char name[CRDT_TYPE_MAX][16];
};

static void fixture_init(struct fixture *f, int gset_elems)
{
	struct crdt_rid a = rid_n(1), b = rid_n(2);
	struct crdt_hlc hlc;
	char e[32];

	crdt_hlc_init(&hlc, NULL, NULL);
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		assert_int_equal(crdt_obj_new((enum crdt_type)t, &f->o[t - 1]), 0);
		snprintf(f->name[t - 1], sizeof(f->name[0]), "key-%d", t);
	}
	assert_int_equal(crdt_gcounter_inc(f->o[0].gc, &a, 5), 0);
	assert_int_equal(crdt_gcounter_inc(f->o[0].gc, &b, 7), 0);
	assert_int_equal(crdt_pncounter_inc(f->o[1].pn, &a, 3), 0);
	assert_int_equal(crdt_pncounter_dec(f->o[1].pn, &b, 10), 0);
	for (int i = 0; i < gset_elems; i++) {
		snprintf(e, sizeof(e), "element-%d", i);
		assert_true(crdt_gset_add(f->o[2].gs, e, strlen(e)) >= 0);
		assert_int_equal(crdt_orset_add(f->o[3].os, i % 2 ? &a : &b, e, strlen(e)), 0);
		assert_int_equal(crdt_ormap_set(f->o[5].om, &hlc, i % 2 ? &a : &b, e, strlen(e), "v",
						1, NULL), 0);
	}
	/* a removed field: its dot goes in a piece of its own */
	assert_int_equal(crdt_ormap_del(f->o[5].om, "element-1", 9, NULL), gset_elems > 1);
	assert_int_equal(crdt_orset_remove(f->o[3].os, "element-0", 9), gset_elems > 0);
	assert_int_equal(crdt_lwwreg_set(f->o[4].lww, &hlc, &a, "value", 5), 0);
}

static void fixture_done(struct fixture *f)
{
	for (int i = 0; i < CRDT_TYPE_MAX; i++)
		crdt_obj_done(&f->o[i]);
}

/* Pack the fixture under @mtu into @out. */
static void pack(struct fixture *f, size_t mtu, struct dgrams *out)
{
	struct wire_packer p;
	struct crdt_rid self = rid_n(9);
	size_t size;

	out->mtu = mtu;
	assert_int_equal(wire_packer_init(&p, mtu, &self, "node-a", 6, collect, out), 0);
	for (int i = 0; i < CRDT_TYPE_MAX; i++) {
		assert_int_equal(wire_packer_add(&p, f->name[i], strlen(f->name[i]), &f->o[i], &size), 0);
		assert_true(size > 0);
	}
	assert_int_equal(wire_packer_flush(&p), 0);
	assert_int_equal(p.datagrams, out->n);
	wire_packer_done(&p);
}

/* Decode every datagram and merge its records, by name, into @got. */
static void unpack_merge(const struct dgrams *in, struct fixture *got)
{
	for (size_t i = 0; i < in->n; i++) {
		struct wire_header h;
		struct wire_state *s;
		size_t off, n;
		struct crdt_rid self = rid_n(9);

		assert_int_equal(wire_decode_header(in->d[i], in->len[i], &h, &off), 0);
		assert_int_equal(h.type, WIRE_STATE);
		assert_int_equal(h.version, WIRE_VERSION);
		assert_int_equal(h.flags, 0);
		assert_int_equal(crdt_rid_cmp(&h.rid, &self), 0);
		assert_int_equal(h.node_len, 6);
		assert_memory_equal(h.node, "node-a", 6);
		assert_int_equal(wire_state_decode(in->d[i] + off, in->len[i] - off, &s, &n), 0);
		for (size_t k = 0; k < n; k++) {
			int j;
			for (j = 0; j < CRDT_TYPE_MAX; j++)
				if (s[k].name_len == strlen(got->name[j]) &&
				    !memcmp(s[k].name, got->name[j], s[k].name_len))
					break;
			assert_true(j < CRDT_TYPE_MAX);
			assert_int_equal(crdt_obj_merge(&got->o[j], &s[k].obj), 0);
		}
		wire_states_free(s, n);
	}
}

static void empty_fixture(struct fixture *f, const struct fixture *like)
{
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		assert_int_equal(crdt_obj_new((enum crdt_type)t, &f->o[t - 1]), 0);
		memcpy(f->name[t - 1], like->name[t - 1], sizeof(f->name[0]));
	}
}

/* ---- tests ------------------------------------------------------------- */

static void test_header_roundtrip(void **state)
{
	struct crdt_buf b;
	struct wire_header h;
	struct crdt_rid r = rid_n(0xab);
	char node[WIRE_NODE_MAX + 1];
	size_t off;

	memset(node, 'n', sizeof(node));
	for (size_t nl = 0; nl <= WIRE_NODE_MAX; nl += 85) {
		for (int t = WIRE_STATE; t <= WIRE_TYPE_MAX; t++) {
			crdt_buf_init(&b, 0);
			assert_int_equal(wire_put_header(&b, (enum wire_type)t, &r, node, nl), 0);
			assert_int_equal(b.len, wire_header_len(nl));
			assert_memory_equal(b.data, "CRDT", 4);
			assert_int_equal(wire_decode_header(b.data, b.len, &h, &off), 0);
			assert_int_equal(off, b.len);
			assert_int_equal((int)h.type, t);
			assert_int_equal(h.node_len, nl);
			assert_int_equal(crdt_rid_cmp(&h.rid, &r), 0);
			crdt_buf_done(&b);
		}
	}
	crdt_buf_init(&b, 0);
	assert_int_equal(wire_put_header(&b, WIRE_STATE, &r, node, WIRE_NODE_MAX + 1), -EMSGSIZE);
	crdt_buf_done(&b);
}

static void test_ping_roundtrip(void **state)
{
	struct crdt_buf b;
	struct wire_header h;
	struct wire_ping p = { .seq = 300, .ts = 0x0102030405060708ULL,
			       .clock = 0x1112131415161718ULL }, q;
	struct crdt_rid r = rid_n(3);
	size_t off;

	crdt_buf_init(&b, 0);
	assert_int_equal(wire_encode_ping(&b, WIRE_PING, &r, "x", 1, &p), 0);
	assert_int_equal(wire_decode_header(b.data, b.len, &h, &off), 0);
	assert_int_equal(h.type, WIRE_PING);
	assert_int_equal(wire_decode_ping(b.data + off, b.len - off, &q), 0);
	assert_int_equal(q.seq, 300);
	assert_int_equal(q.ts, p.ts);
	assert_int_equal(q.clock, p.clock);
	/* both big-endian, the wall clock last in the datagram */
	assert_int_equal(b.data[b.len - 9], 0x08);
	assert_int_equal(b.data[b.len - 16], 0x01);
	assert_int_equal(b.data[b.len - 1], 0x18);
	assert_int_equal(b.data[b.len - 8], 0x11);
	/* a version 1 body (no wall clock) is too short */
	assert_int_equal(wire_decode_ping(b.data + off, b.len - off - 8, &q), -EBADMSG);
	/* trailing byte */
	crdt_buf_put_u8(&b, 0);
	assert_int_equal(wire_decode_ping(b.data + off, b.len - off, &q), -EBADMSG);
	/* every truncation */
	for (size_t l = 0; l < b.len - 1; l++) {
		int r1 = wire_decode_header(b.data, l, &h, &off);
		if (r1 == 0)
			assert_int_equal(wire_decode_ping(b.data + off, l - off, &q), -EBADMSG);
		else
			assert_true(r1 == -EBADMSG);
	}
	crdt_buf_done(&b);
}

static void test_records_roundtrip(void **state)
{
	struct fixture f, got;
	struct dgrams d = { 0 };

	fixture_init(&f, 20);
	pack(&f, 1400, &d);
	assert_int_equal(d.n, 1); /* small instances share one datagram */
	empty_fixture(&got, &f);
	unpack_merge(&d, &got);
	for (int i = 0; i < CRDT_TYPE_MAX; i++)
		assert_true(crdt_obj_equal(&f.o[i], &got.o[i]));
	fixture_done(&got);
	fixture_done(&f);
	dgrams_free(&d);
}

/* A set far larger than a datagram is cut into pieces that each fit and
 * together give it back. */
static void test_split_large(void **state)
{
	struct fixture f, got;
	struct dgrams d = { 0 };

	fixture_init(&f, 3000);
	pack(&f, 1400, &d);
	assert_true(d.n > 20);
	for (size_t i = 0; i < d.n; i++)
		assert_true(d.len[i] <= 1400);
	empty_fixture(&got, &f);
	unpack_merge(&d, &got);
	for (int i = 0; i < CRDT_TYPE_MAX; i++)
		assert_true(crdt_obj_equal(&f.o[i], &got.o[i]));
	fixture_done(&got);
	fixture_done(&f);
	dgrams_free(&d);

	/* the smallest mtu works too */
	fixture_init(&f, 500);
	pack(&f, WIRE_MTU_MIN, &d);
	empty_fixture(&got, &f);
	unpack_merge(&d, &got);
	for (int i = 0; i < CRDT_TYPE_MAX; i++)
		assert_true(crdt_obj_equal(&f.o[i], &got.o[i]));
	fixture_done(&got);
	fixture_done(&f);
	dgrams_free(&d);
}

static void test_packer_limits(void **state)
{
	struct wire_packer p;
	struct dgrams d = { .mtu = 1400 };
	struct crdt_rid self = rid_n(9);
	struct crdt_obj o;
	struct crdt_hlc hlc;
	char name[WIRE_NAME_MAX + 1], big[2000];

	crdt_hlc_init(&hlc, NULL, NULL);
	memset(name, 'k', sizeof(name));
	memset(big, 'v', sizeof(big));
	assert_int_equal(wire_packer_init(&p, WIRE_PACK_MIN - 1, &self, "", 0, collect, &d), -EINVAL);
	assert_int_equal(wire_packer_init(&p, WIRE_DATAGRAM_MAX + 1, &self, "", 0, collect, &d),
			 -EINVAL);
	assert_int_equal(wire_packer_init(&p, 1400, &self, name, WIRE_NODE_MAX + 1, collect, &d),
			 -EMSGSIZE);
	assert_int_equal(wire_packer_init(&p, 1400, &self, "n", 1, collect, &d), 0);
	assert_int_equal(crdt_obj_new(CRDT_LWWREG, &o), 0);
	assert_int_equal(crdt_lwwreg_set(o.lww, &hlc, &self, big, sizeof(big)), 0);
	/* a name over the limit, and a register that cannot be cut */
	assert_int_equal(wire_packer_add(&p, name, sizeof(name), &o, NULL), -EMSGSIZE);
	assert_int_equal(wire_packer_add(&p, "r", 1, &o, NULL), -EMSGSIZE);
	assert_int_equal(wire_packer_flush(&p), 0);
	assert_int_equal(d.n, 0); /* nothing half-sent */
	/* the longest name still fits with a small state */
	assert_int_equal(crdt_lwwreg_set(o.lww, &hlc, &self, "v", 1), 0);
	assert_int_equal(wire_packer_add(&p, name, WIRE_NAME_MAX, &o, NULL), 0);
	assert_int_equal(wire_packer_flush(&p), 0);
	assert_int_equal(d.n, 1);
	crdt_obj_done(&o);
	wire_packer_done(&p);
	dgrams_free(&d);
}

/* wire_max_element: what it allows packs whole, at every type's worst
 * (the longest node name, sealed room taken off, an OR-Set element with
 * dots from several replicas); a name with no room left is refused. */
static void test_max_element(void **state)
{
	char node[WIRE_NODE_MAX], name[WIRE_NAME_MAX], *big;
	size_t room, mtu = 1400 - 44;
	struct crdt_hlc hlc;

	memset(node, 'n', sizeof(node));
	memset(name, 'k', sizeof(name));
	crdt_hlc_init(&hlc, NULL, NULL);
	assert_int_equal(wire_max_element(mtu, 2, 1024, CRDT_ORSET, &room), 0);
	assert_true(room > 200 && room < 300);
	assert_int_equal(wire_max_element(mtu, 2, 1024, CRDT_PNCOUNTER, &room), 0);
	assert_int_equal(room, 0);
	assert_int_equal(wire_max_element(512 - 44, 2, 1024, CRDT_GCOUNTER, &room), -EMSGSIZE);
	assert_int_equal(wire_max_element(mtu, 2, 1025, CRDT_GSET, &room), -EMSGSIZE);
	assert_int_equal(wire_max_element(mtu, 2, 1, (enum crdt_type)0, &room), -EINVAL);
	big = malloc(mtu);
	assert_non_null(big);
	memset(big, 'e', mtu);
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		for (size_t nl = 0; nl <= 1000; nl += 250) {
			struct wire_packer p;
			struct dgrams d = { .mtu = mtu };
			struct crdt_rid self = rid_n(9);
			struct crdt_obj o;
			int r = wire_max_element(mtu, WIRE_NODE_MAX, nl, (enum crdt_type)t, &room);

			if (r < 0)
				continue;
			assert_int_equal(crdt_obj_new((enum crdt_type)t, &o), 0);
			for (uint8_t k = 1; k <= 3; k++) {
				struct crdt_rid id = rid_n(k);
				switch (t) {
				case CRDT_GCOUNTER: crdt_gcounter_inc(o.gc, &id, 1000000); break;
				case CRDT_PNCOUNTER: crdt_pncounter_dec(o.pn, &id, 1000000); break;
				case CRDT_GSET: crdt_gset_add(o.gs, big, room); break;
				case CRDT_ORSET: {
					/* the same element added concurrently on three
					 * replicas: three dots */
					struct crdt_orset *x = crdt_orset_new();
					assert_int_equal(crdt_orset_add(x, &id, big, room), 0);
					assert_int_equal(crdt_orset_merge(o.os, x), 0);
					crdt_orset_free(x);
					break;
				}
				case CRDT_LWWREG: crdt_lwwreg_set(o.lww, &hlc, &id, big, room); break;
				}
			}
			assert_int_equal(wire_packer_init(&p, mtu, &self, node, sizeof(node), collect, &d),
					 0);
			assert_int_equal(wire_packer_add(&p, name, nl, &o, NULL), 0);
			assert_int_equal(wire_packer_flush(&p), 0);
			assert_true(d.n >= 1);
			crdt_obj_done(&o);
			wire_packer_done(&p);
			dgrams_free(&d);
		}
	}
	free(big);
}

/* A DELTA datagram carries the size the caller set (crdt_obj_parts of a
 * set it cuts) when every record in it is a piece of that instance, added
 * under that size; a datagram shared with another instance's record
 * carries 0.  One that holds one piece alone carries its summary. */
static void test_delta_size(void **state)
{
	struct crdt_rid a = rid_n(1);
	struct dgrams out = { .mtu = 1400 };
	struct crdt_obj big = { .type = CRDT_ORSET, .os = crdt_orset_new() };
	struct crdt_obj small = { .type = CRDT_ORSET, .os = crdt_orset_new() };
	struct crdt_cursor cur = CRDT_CURSOR_INIT;
	struct wire_packer p;
	size_t sized = 0, shared = 0, summed = 0;
	bool whole;
	char e[16];

	(void)state;
	for (int i = 0; i < 3000; i++)
		assert_int_equal(crdt_orset_add(big.os, &a, e, (size_t)snprintf(e, sizeof(e), "e%07d", i)), 0);
	assert_int_equal(crdt_orset_add(small.os, &a, "x", 1), 0);
	assert_int_equal(wire_packer_init_delta(&p, 1400, &a, "n", 1, 9, collect, &out), 0);
	assert_int_equal(wire_packer_add(&p, "s", 1, &small, NULL), 0);
	p.size = 3000;
	while (!cur.done)
		assert_true(wire_packer_add_pieces(&p, "big", 3, &big, &cur, 8, &whole) >= 0);
	p.size = 0;
	assert_int_equal(wire_packer_add(&p, "t", 1, &small, NULL), 0);
	assert_int_equal(wire_packer_flush(&p), 0);
	assert_true(cur.pieces > 10);
	for (size_t i = 0; i < out.n; i++) {
		struct wire_header h;
		struct wire_delta wd;
		struct wire_record *rec;
		size_t off, n;
		assert_int_equal(wire_decode_header(out.d[i], out.len[i], &h, &off), 0);
		assert_int_equal(h.type, WIRE_DELTA);
		assert_int_equal(wire_decode_delta(out.d[i] + off, out.len[i] - off, &wd), 0);
		assert_int_equal(wd.seq, i + 1);
		assert_int_equal(wire_parse_records(wd.records, wd.len, &rec, &n), 0);
		bool all_big = true;
		for (size_t k = 0; k < n; k++)
			all_big &= rec[k].name_len == 3 && !memcmp(rec[k].name, "big", 3);
		/* the summary: only on a datagram of one piece, and it is the
		 * piece's (the set it was cut from holds it: no news) */
		if (n == 1 && all_big) {
			struct crdt_orset *pc;
			assert_true(wd.has_sum);
			assert_int_equal(crdt_orset_decode(rec[0].state, rec[0].state_len, &pc), 0);
			assert_int_equal(wd.sum_dots, crdt_orset_card(pc));
			crdt_orset_free(pc);
			assert_int_equal(crdt_orset_piece_is_news(big.os, rec[0].state,
								  rec[0].state_len, wd.sum_dots,
								  wd.sum_hash),
					 0);
			summed++;
		} else {
			assert_false(wd.has_sum);
		}
		if (wd.size) {
			assert_int_equal(wd.size, 3000);
			assert_true(all_big);
			sized++;
		} else {
			assert_false(all_big); /* shared with "s" or "t" */
			shared++;
		}
		free(rec);
	}
	/* every piece in a datagram of its own but the first and last,
	 * which may share one with "s" and "t" */
	assert_true(sized + 2 >= cur.pieces);
	assert_true(shared >= 1 && shared <= 2);
	assert_true(summed + 2 >= cur.pieces);
	wire_packer_done(&p);
	dgrams_free(&out);
	crdt_orset_free(big.os);
	crdt_orset_free(small.os);
}

static void test_reject_header(void **state)
{
	struct crdt_buf b;
	struct wire_header h;
	struct crdt_rid r = rid_n(1);
	size_t off;

	crdt_buf_init(&b, 0);
	assert_int_equal(wire_put_header(&b, WIRE_PING, &r, "a", 1), 0);
	assert_int_equal(wire_decode_header(b.data, b.len, &h, &off), 0);

	b.data[0] = 'X';
	assert_int_equal(wire_decode_header(b.data, b.len, &h, &off), -ENOMSG);
	assert_int_equal(wire_decode_header(b.data, 2, &h, &off), -ENOMSG);
	b.data[0] = 'C';
	assert_int_equal(wire_decode_header(b.data, 0, &h, &off), -EBADMSG);
	b.data[4] = WIRE_VERSION + 1;
	assert_int_equal(wire_decode_header(b.data, b.len, &h, &off), -EPROTONOSUPPORT);
	b.data[4] = 2; /* before digest rounds */
	assert_int_equal(wire_decode_header(b.data, b.len, &h, &off), -EPROTONOSUPPORT);
	b.data[4] = 1; /* before PING/PONG carried the wall clock */
	assert_int_equal(wire_decode_header(b.data, b.len, &h, &off), -EPROTONOSUPPORT);
	b.data[4] = 0;
	assert_int_equal(wire_decode_header(b.data, b.len, &h, &off), -EPROTONOSUPPORT);
	b.data[4] = WIRE_VERSION;
	for (int t = 0; t < 256; t++) {
		b.data[5] = (uint8_t)t;
		int want = t >= WIRE_STATE && t <= WIRE_TYPE_MAX ? 0 : -EBADMSG;
		assert_int_equal(wire_decode_header(b.data, b.len, &h, &off), want);
	}
	b.data[5] = WIRE_PING;
	for (int bit = 0; bit < 8; bit++) {
		b.data[6] = (uint8_t)(1u << bit); /* including the reserved AUTH bit */
		assert_int_equal(wire_decode_header(b.data, b.len, &h, &off), -EBADMSG);
	}
	b.data[6] = 0;
	b.data[23] = 2; /* node name length past the end */
	assert_int_equal(wire_decode_header(b.data, b.len, &h, &off), -EBADMSG);
	crdt_buf_done(&b);

	/* a node name over the limit */
	{
		uint8_t d[WIRE_HEADER_FIXED + 2 + 300] = "CRDT\x06\x02";
		d[WIRE_HEADER_FIXED] = 0x80 | (256 & 0x7f);
		d[WIRE_HEADER_FIXED + 1] = 256 >> 7;
		assert_int_equal(wire_decode_header(d, WIRE_HEADER_FIXED + 2 + 256, &h, &off),
				 -EBADMSG);
		d[WIRE_HEADER_FIXED] = 0x80 | (255 & 0x7f);
		d[WIRE_HEADER_FIXED + 1] = 255 >> 7;
		assert_int_equal(wire_decode_header(d, WIRE_HEADER_FIXED + 2 + 255, &h, &off), 0);
	}
}

/* A STATE datagram built by hand from (name, state) pairs. */
static void build_state(struct crdt_buf *b, const struct crdt_obj *objs, const char **names,
			size_t n)
{
	struct crdt_rid r = rid_n(1);
	struct crdt_buf s;

	crdt_buf_init(b, 0);
	assert_int_equal(wire_put_header(b, WIRE_STATE, &r, "a", 1), 0);
	for (size_t i = 0; i < n; i++) {
		crdt_buf_init(&s, 0);
		assert_int_equal(crdt_obj_encode(&objs[i], &s), 0);
		crdt_buf_put_bytes(b, names[i], strlen(names[i]));
		crdt_buf_put_bytes(b, s.data, s.len);
		crdt_buf_done(&s);
	}
	assert_int_equal(b->err, 0);
}

struct names_seen {
	char buf[64];
	size_t len;
};

static void name_cb(const uint8_t *name, size_t len, void *ctx)
{
	struct names_seen *ns = ctx;

	assert_true(ns->len + len + 1 < sizeof(ns->buf));
	memcpy(ns->buf + ns->len, name, len);
	ns->len += len;
	ns->buf[ns->len++] = ',';
	ns->buf[ns->len] = 0;
}

/* The look-ahead over a body's names (the receiver's prefetch): every
 * name in order, and nothing past a record whose framing is bad, never
 * reading past the body. */
static void test_records_names(void **state)
{
	struct fixture f;
	struct crdt_buf b;
	struct wire_header h;
	struct names_seen ns = { .len = 0 };
	size_t off;
	const char *names[5] = { "a", "bb", "ccc", "d", "e" };

	fixture_init(&f, 3);
	build_state(&b, f.o, names, 5);
	assert_int_equal(wire_decode_header(b.data, b.len, &h, &off), 0);
	wire_records_names(b.data + off, b.len - off, name_cb, &ns);
	assert_string_equal(ns.buf, "a,bb,ccc,d,e,");
	/* cut inside the last record: the first four */
	ns.len = 0;
	ns.buf[0] = 0;
	wire_records_names(b.data + off, b.len - off - 2, name_cb, &ns);
	assert_string_equal(ns.buf, "a,bb,ccc,d,");
	ns.len = 0;
	ns.buf[0] = 0;
	wire_records_names(b.data + off, 0, name_cb, &ns);
	assert_int_equal(ns.len, 0);
	crdt_buf_done(&b);
	fixture_done(&f);
}

static void test_reject_body(void **state)
{
	struct fixture f;
	struct crdt_buf b;
	struct wire_header h;
	struct wire_state *s;
	struct wire_record *rec;
	size_t off, n;
	const char *names[5] = { "a", "b", "c", "d", "e" };
	char longname[WIRE_NAME_MAX + 2];

	fixture_init(&f, 10);
	build_state(&b, f.o, names, 5);
	assert_int_equal(wire_decode_header(b.data, b.len, &h, &off), 0);
	assert_int_equal(wire_state_decode(b.data + off, b.len - off, &s, &n), 0);
	assert_int_equal(n, 5);
	wire_states_free(s, n);

	/* empty body */
	assert_int_equal(wire_state_decode(b.data + off, 0, &s, &n), -EBADMSG);
	/* trailing garbage after the last record */
	crdt_buf_put_u8(&b, 1);
	assert_int_equal(wire_state_decode(b.data + off, b.len - off, &s, &n), -EBADMSG);
	crdt_buf_done(&b);

	/* one bad record among good ones costs the whole datagram: corrupt the
	 * third record's type tag, then its format version */
	build_state(&b, f.o, names, 5);
	assert_int_equal(wire_parse_records(b.data + off, b.len - off, &rec, &n), 0);
	assert_int_equal(n, 5);
	uint8_t *tag = (uint8_t *)rec[2].state;
	free(rec);
	*tag = 99;
	assert_int_equal(wire_state_decode(b.data + off, b.len - off, &s, &n), -EPROTO);
	*tag = CRDT_GSET;
	tag[1] = CRDT_FORMAT_VERSION + 1;
	assert_int_equal(wire_state_decode(b.data + off, b.len - off, &s, &n), -EPROTO);
	tag[1] = CRDT_FORMAT_VERSION;
	assert_int_equal(wire_state_decode(b.data + off, b.len - off, &s, &n), 0);
	wire_states_free(s, n);
	/* the last record's state cut short, the framing kept consistent */
	crdt_buf_done(&b);

	/* a name over the limit */
	memset(longname, 'x', sizeof(longname));
	longname[WIRE_NAME_MAX + 1] = 0;
	names[0] = longname;
	build_state(&b, f.o, names, 1);
	assert_int_equal(wire_state_decode(b.data + off, b.len - off, &s, &n), -EBADMSG);
	crdt_buf_done(&b);
	longname[WIRE_NAME_MAX] = 0;
	build_state(&b, f.o, names, 1);
	off = wire_header_len(1);
	assert_int_equal(wire_state_decode(b.data + off, b.len - off, &s, &n), 0);
	wire_states_free(s, n);
	crdt_buf_done(&b);
	fixture_done(&f);
}

/* Decode a datagram the way the receiver does; never crash, and either
 * accept it whole or reject it whole. */
static int decode_all(const uint8_t *d, size_t len)
{
	struct wire_header h;
	struct wire_ping p;
	struct wire_state *s;
	size_t off, n;
	int r;

	if ((r = wire_decode_header(d, len, &h, &off)) < 0)
		return r;
	if (h.type != WIRE_STATE)
		return wire_decode_ping(d + off, len - off, &p);
	if ((r = wire_state_decode(d + off, len - off, &s, &n)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		/* what was accepted is a usable state: encode it again */
		struct crdt_buf b;
		crdt_buf_init(&b, 0);
		assert_int_equal(crdt_obj_encode(&s[i].obj, &b), 0);
		crdt_buf_done(&b);
		assert_true(s[i].name_len <= WIRE_NAME_MAX);
	}
	wire_states_free(s, n);
	return 0;
}

static void test_truncations(void **state)
{
	struct fixture f;
	struct dgrams d = { 0 };
	struct crdt_buf b;
	struct wire_ping p = { .seq = 77, .ts = 123456789 };
	struct crdt_rid r = rid_n(5);

	fixture_init(&f, 200);
	pack(&f, 1400, &d);
	crdt_buf_init(&b, 0);
	assert_int_equal(wire_encode_ping(&b, WIRE_PONG, &r, "pong", 4, &p), 0);
	collect(b.data, b.len, &d);
	crdt_buf_done(&b);
	for (size_t i = 0; i < d.n; i++) {
		assert_int_equal(decode_all(d.d[i], d.len[i]), 0);
		for (size_t l = 0; l < d.len[i]; l++) {
			/* a copy of exactly l bytes, so ASan sees any over-read */
			uint8_t *c = malloc(l ? l : 1);
			memcpy(c, d.d[i], l);
			int rr = decode_all(c, l);
			assert_true(rr == 0 || rr == -EBADMSG || rr == -EPROTO || rr == -ENOMSG);
			free(c);
		}
	}
	dgrams_free(&d);
	fixture_done(&f);
}

static void test_bit_flips(void **state)
{
	struct fixture f;
	struct dgrams d = { 0 };
	struct rng rng = { test_seed("wire bit flips") };
	int iters = test_scenarios(5000), ok = 0, bad = 0;

	fixture_init(&f, 60);
	pack(&f, 600, &d);
	assert_true(d.n >= 2);
	for (int it = 0; it < iters; it++) {
		size_t i = rng_below(&rng, d.n), len = d.len[i];
		uint8_t *c = malloc(len);
		int flips = 1 + (int)rng_below(&rng, 4);

		memcpy(c, d.d[i], len);
		for (int k = 0; k < flips; k++)
			c[rng_below(&rng, len)] ^= (uint8_t)(1u << rng_below(&rng, 8));
		int r = decode_all(c, len);
		assert_true(r == 0 || r == -EBADMSG || r == -EPROTO || r == -ENOMSG ||
			    r == -EPROTONOSUPPORT);
		r == 0 ? ok++ : bad++;
		free(c);
	}
	/* both outcomes happen: flips in element bytes still decode */
	assert_true(bad > 0);
	assert_true(ok > 0);
	dgrams_free(&d);
	fixture_done(&f);
}

static void sum_cb(uint32_t idx, uint64_t sum, void *ctx)
{
	uint64_t *got = ctx;

	got[idx] += sum;
}

/* DIGEST/BUCKETS bodies: ranges round-trip; another geometry, an index out
 * of range, an empty range or body, a truncation: -EBADMSG and no call. */
static void test_digest_sums(void **state)
{
	struct crdt_buf b;
	uint64_t sums[64], got[4096];

	for (int i = 0; i < 64; i++)
		sums[i] = 0x0102030405060708ULL * (uint64_t)(i + 1);
	crdt_buf_init(&b, 0);
	crdt_buf_put_u8(&b, 12);
	crdt_buf_put_u8(&b, 6);
	assert_int_equal(wire_put_sums_range(&b, 0, 10, sums), 0);
	assert_int_equal(wire_put_sums_range(&b, 60, 4, sums + 60), 0);
	assert_int_equal(b.len, 2 + wire_sums_range_len(0, 10) + wire_sums_range_len(60, 4));
	memset(got, 0, sizeof(got));
	assert_int_equal(wire_decode_sums(b.data, b.len, 12, 6, false, sum_cb, got), 0);
	for (int i = 0; i < 64; i++)
		assert_true(got[i] == (i < 10 || i >= 60 ? sums[i] : 0));
	/* every truncation is malformed, and calls nothing */
	for (size_t len = 0; len < b.len; len++) {
		memset(got, 0, sizeof(got));
		int r = wire_decode_sums(b.data, len, 12, 6, false, sum_cb, got);
		if (len != 2 + wire_sums_range_len(0, 10)) { /* a whole first range is a body */
			assert_int_equal(r, -EBADMSG);
			for (int i = 0; i < 64; i++)
				assert_true(got[i] == 0);
		}
	}
	assert_int_equal(wire_decode_sums(b.data, b.len, 12, 5, false, sum_cb, got), -EBADMSG);
	assert_int_equal(wire_decode_sums(b.data, b.len, 11, 6, false, sum_cb, got), -EBADMSG);
	/* group 60 + 4 is the end of 64 groups; one more is out */
	crdt_buf_reset(&b);
	crdt_buf_put_u8(&b, 12);
	crdt_buf_put_u8(&b, 6);
	wire_put_sums_range(&b, 61, 4, sums);
	assert_int_equal(wire_decode_sums(b.data, b.len, 12, 6, false, sum_cb, got), -EBADMSG);
	/* as BUCKETS, 4096 buckets: in range */
	assert_int_equal(wire_decode_sums(b.data, b.len, 12, 6, true, sum_cb, got), 0);
	crdt_buf_reset(&b);
	crdt_buf_put_u8(&b, 12);
	crdt_buf_put_u8(&b, 6);
	crdt_buf_put_varint(&b, 3);
	crdt_buf_put_varint(&b, 0); /* an empty range */
	assert_int_equal(wire_decode_sums(b.data, b.len, 12, 6, true, sum_cb, got), -EBADMSG);
	b.len = 2; /* no range at all */
	assert_int_equal(wire_decode_sums(b.data, b.len, 12, 6, true, sum_cb, got), -EBADMSG);
	crdt_buf_done(&b);
}

/* KEYS bodies: pairs round-trip; a key outside the range or the bucket, a
 * range backwards, a bucket out of range, a partial pair: -EBADMSG. */
static void test_digest_keys(void **state)
{
	struct crdt_buf b;
	struct wire_keys k;
	uint64_t key, fp, base = (uint64_t)5 << 52; /* bucket 5 of 4096 */

	crdt_buf_init(&b, 0);
	assert_int_equal(wire_put_keys_head(&b, 5, base, base + 100), 0);
	assert_int_equal(b.len, wire_keys_head_len(5));
	for (uint64_t i = 0; i < 3; i++)
		assert_int_equal(wire_put_key(&b, base + 10 * i, 77 + i), 0);
	assert_int_equal(wire_decode_keys(b.data, b.len, 12, &k), 0);
	assert_int_equal(k.bucket, 5);
	assert_true(k.from == base && k.to == base + 100);
	assert_int_equal(k.n, 3);
	wire_keys_get(&k, 2, &key, &fp);
	assert_true(key == base + 20 && fp == 79);
	for (size_t len = 0; len < b.len; len++)
		if ((len - wire_keys_head_len(5)) % 16 || len < wire_keys_head_len(5))
			assert_int_equal(wire_decode_keys(b.data, len, 12, &k), -EBADMSG);
	/* no pairs: an empty bucket */
	assert_int_equal(wire_decode_keys(b.data, wire_keys_head_len(5), 12, &k), 0);
	assert_int_equal(k.n, 0);
	wire_put_key(&b, base + 101, 1); /* past the range */
	assert_int_equal(wire_decode_keys(b.data, b.len, 12, &k), -EBADMSG);
	crdt_buf_reset(&b);
	wire_put_keys_head(&b, 5, 0, UINT64_MAX);
	wire_put_key(&b, (uint64_t)6 << 52, 1); /* another bucket's key */
	assert_int_equal(wire_decode_keys(b.data, b.len, 12, &k), -EBADMSG);
	crdt_buf_reset(&b);
	wire_put_keys_head(&b, 5, 10, 9); /* backwards */
	assert_int_equal(wire_decode_keys(b.data, b.len, 12, &k), -EBADMSG);
	crdt_buf_reset(&b);
	wire_put_keys_head(&b, 4096, 0, UINT64_MAX); /* no such bucket */
	assert_int_equal(wire_decode_keys(b.data, b.len, 12, &k), -EBADMSG);
	crdt_buf_done(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_roundtrip),
		cmocka_unit_test(test_ping_roundtrip),
		cmocka_unit_test(test_records_roundtrip),
		cmocka_unit_test(test_split_large),
		cmocka_unit_test(test_packer_limits),
		cmocka_unit_test(test_delta_size),
		cmocka_unit_test(test_max_element),
		cmocka_unit_test(test_reject_header),
		cmocka_unit_test(test_reject_body),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_digest_sums),
		cmocka_unit_test(test_digest_keys),
		cmocka_unit_test(test_records_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
