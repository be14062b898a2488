/* fp: the pieces of a state fingerprint (internal to libcrdt).
 *
 * A state's fingerprint is the wrapping sum of a 64-bit hash of each of its
 * parts (a counter entry, an element, an element's dot, a context
 * interval), each hashed with a domain constant of its kind.  The parts of
 * a state are a set (each type keeps them canonical: vectors without zero
 * entries, coalesced intervals, duplicate-free dots), and a sum over a set
 * does not depend on the order in which the parts arrived, on how the
 * state was split or merged, or on the layout of the table that holds
 * them.  Being a sum, it can also follow a change by subtracting the parts
 * that left and adding those that came.
 *
 * Not keyed and not cryptographic: a peer that forges a collision only
 * keeps its own difference from being noticed, as with the record
 * fingerprints of the receive path.
 */
#ifndef CRDT_FP_H
#define CRDT_FP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "crdt/hash.h"
#include "crdt/rid.h"

/* Domain constants: one per kind of part, so that, say, a G-Counter entry
 * and an OR-Set context interval with the same numbers hash apart. */
#define FP_GC_ENTRY 0x6763656e74727931ULL
#define FP_PN_P 0x706e2d7020202031ULL
#define FP_PN_N 0x706e2d6e20202031ULL
#define FP_ELEM 0x656c656d656e7431ULL
#define FP_DOT 0x646f742020202031ULL
#define FP_CTX 0x636f6e7465787431ULL
#define FP_REG 0x7265676973746531ULL
#define FP_REG_DEL 0x7265672d64656c31ULL
#define FP_PN_BP 0x706e2d6270202031ULL
#define FP_PN_BN 0x706e2d626e202031ULL
#define FP_RID 0x7269642020202031ULL
#define FP_MAP_CTX 0x6d61702d63747831ULL
#define FP_MAP_KEY 0x6d61702d6b657931ULL
#define FP_MAP_VAL 0x6d61702d76616c31ULL
#define FP_MAP_ROW 0x6d61702d726f7731ULL

/* Two words, in order, into one: the part (a, b). */
static inline uint64_t fp_pair(uint64_t a, uint64_t b)
{
	return crdt_mix64(crdt_mix64(a + 0x9e3779b97f4a7c15ULL) ^ b);
}

/* A byte string under @seed, 8 bytes a step. */
static inline uint64_t fp_bytes(uint64_t seed, const uint8_t *p, size_t len)
{
	uint64_t h = crdt_mix64(seed ^ len);

	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = crdt_mix64(h ^ w);
	}
	if (len) {
		uint64_t w = 0;
		memcpy(&w, p, len);
		h = crdt_mix64(h ^ w ^ (uint64_t)len << 56);
	}
	return h;
}

static inline uint64_t fp_rid(const struct crdt_rid *r)
{
	return fp_bytes(FP_RID, r->b, CRDT_RID_LEN);
}

/* One live dot's part of a piece's summary (an OR-Set's or an OR-Map's
 * piece cut through its dot index): its replica's fp_rid @rh and its
 * counter, with no element or field key, so that a receiver can compute
 * it from its dot index alone (orset/news.c, ormap/news.c). */
static inline uint64_t piece_dot_hash(uint64_t rh, uint64_t ctr)
{
	return fp_pair(rh ^ FP_DOT, ctr);
}

/* The fingerprint of a state of type tag @type from the sum of its parts:
 * never 0, so that callers may keep 0 for "no state". */
static inline uint64_t fp_finish(unsigned type, uint64_t sum)
{
	uint64_t h = fp_pair(type, sum);
	return h ? h : 1;
}

/* An OR-Set element's part of its dots' sum: @eh = fp_elem(key) once an
 * element, then fp_elem_dot for each dot, its replica hashed by fp_rid. */
static inline uint64_t fp_elem(const void *key, size_t len)
{
	return fp_bytes(FP_ELEM, key, len) ^ FP_DOT;
}

static inline uint64_t fp_elem_dot(uint64_t eh, uint64_t rid_hash, uint64_t ctr)
{
	return fp_pair(fp_pair(eh, rid_hash), ctr);
}

#endif
