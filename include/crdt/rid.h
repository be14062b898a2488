/* Replica ids: 16-byte UUIDs (libuuid), compared as bytes. */
#ifndef CRDT_RID_H
#define CRDT_RID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRDT_RID_LEN 16
#define CRDT_RID_STRLEN 37 /* 36 characters and the NUL */

struct crdt_rid {
	uint8_t b[CRDT_RID_LEN];
};

/** A new random (version 4) replica id. */
void crdt_rid_generate(struct crdt_rid *ret);
/** Parse the canonical 36-character form.  -EINVAL if malformed. */
int crdt_rid_parse(const char *s, struct crdt_rid *ret);
/** Write the canonical lower-case form and a NUL into @out. */
void crdt_rid_format(const struct crdt_rid *id, char out[CRDT_RID_STRLEN]);
/** memcmp order: <0, 0, >0. */
int crdt_rid_cmp(const struct crdt_rid *a, const struct crdt_rid *b);
bool crdt_rid_is_nil(const struct crdt_rid *id);

/* Interned ids: one table per process maps each replica id seen to a 32-bit
 * index, so a structure that holds many ids (a version vector's entries)
 * keeps 4 bytes for each instead of 16.  The table only grows: an index,
 * once given, names the same id for the life of the process, and the id
 * it names stays at the same address.  A decoder interns the ids it reads,
 * so a peer can add ids at will; the table refuses more than
 * CRDT_RID_INTERN_MAX (about 24 MiB of ids and hash slots at the cap).
 *
 * Threads: crdt_rid_intern and crdt_rid_lookup take the table's lock and
 * may be called from any thread.  crdt_rid_at takes no lock and may be
 * called from any thread for an index that thread may see: one it got from
 * crdt_rid_intern/lookup itself, or one it read from a structure handed to
 * it through a lock or another synchronising operation (as any structure
 * must be handed from one thread to another).  Nothing is ever freed. */
#define CRDT_RID_INTERN_MAX (1u << 20)

/** The index of @id, adding @id to the table if absent.  -EMSGSIZE when
 * the table holds CRDT_RID_INTERN_MAX ids already, -ENOMEM; *ret_ix is
 * written only on success. */
int crdt_rid_intern(const struct crdt_rid *id, uint32_t *ret_ix);
/** crdt_rid_intern of @n ids stored one after the other at @ids (16 bytes
 * each, any alignment), under one lock: what a decoder of a replica table
 * calls.  On success ret_ix[i] is the index of the i-th id; on error
 * ret_ix is undefined (the ids before the failing one stay interned). */
int crdt_rid_intern_many(const uint8_t *ids, size_t n, uint32_t *ret_ix);
/** The index of @id if it was interned, without adding it: 0, or -ENOENT. */
int crdt_rid_lookup(const struct crdt_rid *id, uint32_t *ret_ix);
/** The id at index @ix, which must come from crdt_rid_intern or
 * crdt_rid_lookup.  Never NULL; valid for the life of the process. */
const struct crdt_rid *crdt_rid_at(uint32_t ix);
/** How many ids the table holds. */
uint32_t crdt_rid_interned(void);

#endif
