/* The hash of byte strings that others choose: a set's members, a hash's
 * fields (libcrdt's element tables) and the daemon's instance names.
 *
 * Keyed, so that whoever writes the strings cannot make them collide.
 * With a public hash a client can compute members that all share one
 * hash, and a table that keeps them in hash order piles them into one
 * cluster that every insert walks and shifts: 20,000 such members took
 * 250 us an SADD, 25 times a random member's, growing with the set
 * (docs/benchmarks.md, "Members chosen to collide").  With the key unknown
 * the same members spread as any others.
 *
 * SipHash-1-3 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
 * 2012; one compression round a word and three to finish, as Rust's
 * HashMap uses), under a 128-bit key.  A pseudorandom function, so seeing
 * hashes does not give the key away: SSCAN's and SCAN's cursors are
 * hashes.  A keyed multiply-xorshift chain would be three times faster
 * but is no such function, and one with a xor-multiply step lets the top
 * bit's difference through the same for every key (the store's name hash
 * before this did: names collided under every seed). */
#ifndef CRDT_HASH_H
#define CRDT_HASH_H

#include <stddef.h>
#include <stdint.h>

struct crdt_hash_key {
	uint64_t k0, k1;
};

/** SipHash-1-3 of @p[@len] under @key. */
uint64_t crdt_hash_bytes(const struct crdt_hash_key *key, const void *p, size_t len);

/** The key of every element table's hash (sets, hashes, G-Sets) from now
 * on.  Set it once, before any state with elements is made (tables made
 * under another key would no longer find their elements), as the daemon
 * does at its start with a random draw.  The default is a fixed key, so
 * that a program that sets none (the tests, the tools) hashes the same
 * from run to run.  Encodings list elements in the encoder's table order;
 * a decoder takes them in any order, so replicas with different keys read
 * each other's states (docs/encoding.md, "Elemtab order"). */
void crdt_set_hash_key(const struct crdt_hash_key *key);

/** The splitmix64 finaliser (Steele, Lea, Flood, "Fast splittable
 * pseudorandom number generators", 2014): a bijection on 64 bits, well
 * spread, not keyed.  For mixing numbers nobody hostile picks, and for
 * seeding: crdt_splitmix64 steps @state and returns its next draw. */
static inline uint64_t crdt_mix64(uint64_t h)
{
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

static inline uint64_t crdt_splitmix64(uint64_t *state)
{
	return crdt_mix64(*state += 0x9e3779b97f4a7c15ULL);
}

#endif
