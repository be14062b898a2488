/* siphash: SipHash's rounds, for crdt_hash_bytes() and the element
 * tables' inline hash of a short key (internal to libcrdt).
 *
 * Written from the paper (Aumasson, Bernstein, "SipHash: a fast
 * short-input PRF", 2012): four 64-bit words of state from a 128-bit key;
 * each 8-byte little-endian word of the message is xored into v3, run
 * through @c rounds and xored into v0; the last word holds the bytes left
 * and the length's low byte in its top byte; then v2 ^= 0xff, @d rounds,
 * and the four words xored.  crdt_hash_bytes() and the element tables use
 * SipHash-1-3 (SIP_C, SIP_D); the tests check SipHash-2-4 against the
 * paper's vectors with the same code. */
#ifndef CRDT_SIPHASH_H
#define CRDT_SIPHASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "crdt/hash.h"

/* The rounds of libcrdt's hash: a word, and the end. */
#define SIP_C 1
#define SIP_D 3

struct sip {
	uint64_t v0, v1, v2, v3;
};

/* A word read from memory, as the little-endian value SipHash takes. */
static inline uint64_t sip_le(uint64_t w)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap64(w);
#else
	return w;
#endif
}

static inline uint64_t sip_rotl(uint64_t x, unsigned b)
{
	return x << b | x >> (64 - b);
}

static inline void sip_round(struct sip *s)
{
	s->v0 += s->v1;
	s->v1 = sip_rotl(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = sip_rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = sip_rotl(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = sip_rotl(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = sip_rotl(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = sip_rotl(s->v2, 32);
}

static inline struct sip sip_init(const struct crdt_hash_key *k)
{
	return (struct sip){ k->k0 ^ 0x736f6d6570736575ULL, k->k1 ^ 0x646f72616e646f6dULL,
			     k->k0 ^ 0x6c7967656e657261ULL, k->k1 ^ 0x7465646279746573ULL };
}

static inline void sip_word(struct sip *s, uint64_t m, int c)
{
	s->v3 ^= m;
	for (int i = 0; i < c; i++)
		sip_round(s);
	s->v0 ^= m;
}

/* The last word @b (bytes left, length in the top byte), and the end. */
static inline uint64_t sip_end(struct sip *s, uint64_t b, int c, int d)
{
	sip_word(s, b, c);
	s->v2 ^= 0xff;
	for (int i = 0; i < d; i++)
		sip_round(s);
	return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

/* SipHash-c-d of @p[@len] under @k (little-endian words). */
static inline uint64_t sip_hash(const struct crdt_hash_key *k, const void *p, size_t len,
				int c, int d)
{
	const uint8_t *q = p;
	struct sip s = sip_init(k);
	uint64_t b = (uint64_t)len << 56, w;
	size_t left = len;

	for (; left >= 8; q += 8, left -= 8) {
		memcpy(&w, q, 8);
		sip_word(&s, sip_le(w), c);
	}
	w = 0;
	if (left)
		memcpy(&w, q, left);
	return sip_end(&s, b | sip_le(w), c, d);
}

#endif
