/* The keyed hash of byte strings others choose (crdt/hash.h). */
#include "crdt/hash.h"

#include "siphash.h"

/* pi's first fractional digits: a fixed key until a program sets one */
struct crdt_hash_key crdt_hash_key_ = { 0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL };

uint64_t crdt_hash_bytes(const struct crdt_hash_key *key, const void *p, size_t len)
{
	return sip_hash(key, p, len, SIP_C, SIP_D);
}

void crdt_set_hash_key(const struct crdt_hash_key *key)
{
	crdt_hash_key_ = *key;
}
