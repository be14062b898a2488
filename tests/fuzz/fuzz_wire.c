/* libFuzzer target for the gossip datagram decoder, as a receiver runs it:
 * the fixed header, then (for a sealed datagram) auth_open with the fuzz
 * keys, then the header and body of the plain datagram, every record's
 * state decoded.  Properties checked on what decodes:
 *  - every decoded state re-encodes to something that decodes to an equal
 *    state, and merging it into a copy of itself changes nothing;
 *  - a DIGEST or BUCKETS body calls back only indexes in range, a KEYS
 *    body gives only pairs in its range and bucket;
 *  - a DELTA's records decode and check as a STATE's, under a seq >= 1; an
 *    ACK calls back only numbers >= 1, and nothing when it is malformed;
 *  - with the first input byte odd, the rest is first sealed (with and
 *    without encryption) and opened again, which must give it back exactly:
 *    so arbitrary plain datagrams go through auth_seal/auth_open too.
 *
 *   scripts/fuzz.sh builds it with clang -fsanitize=fuzzer,address,undefined;
 *   the meson test fuzz-wire replays tests/fuzz/corpus/wire. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "gossip/auth.h"
#include "crdt/obj.h"
#include "fuzz.h"
#include "gossip/wire.h"

static struct auth_keyring ring, ring_enc;

static void init_keys(void)
{
	static bool done;
	uint8_t k[AUTH_KEY_LEN];

	if (done)
		return;
	CHECK(auth_init() == 0);
	memset(k, FUZZ_KEY_A, sizeof(k));
	CHECK(auth_keyring_add(&ring, k) == 0);
	memset(k, FUZZ_KEY_B, sizeof(k));
	CHECK(auth_keyring_add(&ring, k) == 0);
	ring_enc = ring;
	ring_enc.encrypt = true;
	done = true;
}

static void check_state(const struct crdt_obj *o)
{
	struct crdt_buf b;
	struct crdt_obj back, copy;

	crdt_buf_init(&b, 0);
	CHECK(crdt_obj_encode(o, &b) == 0);
	CHECK(crdt_obj_decode(b.data, b.len, &back) == 0);
	CHECK(crdt_obj_equal(o, &back));
	if (crdt_obj_copy(o, &copy) == 0) {
		int r = crdt_obj_merge(&copy, o);
		CHECK(r == 0 || r == -ENOMEM);
		if (r == 0)
			CHECK(crdt_obj_equal(o, &copy));
		crdt_obj_done(&copy);
	}
	crdt_obj_done(&back);
	crdt_buf_done(&b);
}

static void ack_cb(uint64_t seq, void *ctx)
{
	CHECK(seq >= 1);
	(*(size_t *)ctx)++;
}

/* A STATE body (or a DELTA's records): every state checked. */
static void records(const uint8_t *body, size_t len)
{
	struct wire_state *st;
	size_t n;

	if (wire_state_decode(body, len, &st, &n) < 0)
		return;
	CHECK(n >= 1);
	for (size_t i = 0; i < n; i++) {
		CHECK(st[i].name_len <= WIRE_NAME_MAX);
		check_state(&st[i].obj);
	}
	wire_states_free(st, n);
}

static void sum_cb(uint32_t idx, uint64_t sum, void *ctx)
{
	(void)sum;
	CHECK(idx < *(uint32_t *)ctx);
}

/* The receive path of gossip.c, less the store. */
static void receive(const uint8_t *d, size_t len)
{
	static uint8_t plain[WIRE_DATAGRAM_MAX + AUTH_OVERHEAD];
	struct wire_header h;
	struct wire_ping ping;
	size_t off, n;
	uint8_t flags;

	if (wire_decode_fixed(d, len, &flags) < 0)
		return;
	if (flags & WIRE_FLAG_AUTH) {
		if (auth_open(&ring, d, len, plain, sizeof(plain), &n) < 0)
			return;
		d = plain;
		len = n;
	}
	if (wire_decode_header(d, len, &h, &off) < 0)
		return;
	CHECK(off <= len && h.node_len <= WIRE_NODE_MAX);
	if (h.type == WIRE_STATE) {
		records(d + off, len - off);
	} else if (h.type == WIRE_DELTA) {
		struct wire_delta wd;
		if (wire_decode_delta(d + off, len - off, &wd) < 0)
			return;
		CHECK(wd.seq >= 1 && wd.records + wd.len == d + len && wd.len >= 1);
		records(wd.records, wd.len);
	} else if (h.type == WIRE_ACK) {
		uint64_t epoch;
		size_t calls = 0;
		if (wire_decode_ack(d + off, len - off, &epoch, ack_cb, &calls) < 0)
			CHECK(calls == 0);
		else
			CHECK(calls >= 1);
	} else if (h.type == WIRE_DIGEST || h.type == WIRE_BUCKETS) {
		uint32_t space = h.type == WIRE_DIGEST ? 64 : 4096;
		(void)wire_decode_sums(d + off, len - off, 12, 6, h.type == WIRE_BUCKETS, sum_cb,
				       &space);
	} else if (h.type == WIRE_KEYS) {
		struct wire_keys k;
		if (wire_decode_keys(d + off, len - off, 12, &k) < 0)
			return;
		CHECK(k.bucket < 4096 && k.from <= k.to && 16 * k.n <= len - off);
		for (size_t i = 0; i < k.n; i++) {
			uint64_t key, fp;
			wire_keys_get(&k, i, &key, &fp);
			CHECK(key >= k.from && key <= k.to && key >> 52 == k.bucket);
		}
	} else {
		(void)wire_decode_ping(d + off, len - off, &ping);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t sealed[WIRE_DATAGRAM_MAX + AUTH_OVERHEAD], back[WIRE_DATAGRAM_MAX];
	size_t slen, blen;

	init_keys();
	if (size < 1 || size > WIRE_DATAGRAM_MAX + 1)
		return 0;
	if (data[0] & 1) {
		data++;
		size--;
		for (int enc = 0; enc < 2; enc++) {
			if (auth_seal(enc ? &ring_enc : &ring, data, size, sealed, sizeof(sealed),
				      &slen) < 0)
				break; /* not a plain datagram */
			CHECK(slen == size + AUTH_OVERHEAD);
			CHECK(auth_open(&ring, sealed, slen, back, sizeof(back), &blen) == 0);
			CHECK(blen == size && !memcmp(back, data, size));
			/* one flipped bit anywhere: refused */
			sealed[(size * 7 + 3) % slen] ^= 0x10;
			CHECK(auth_open(&ring, sealed, slen, back, sizeof(back), &blen) < 0);
		}
		receive(data, size);
		return 0;
	}
	receive(data + 1, size - 1);
	return 0;
}
