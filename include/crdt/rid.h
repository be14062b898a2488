/* Replica ids: 16-byte UUIDs (libuuid), compared as bytes. */
#ifndef CRDT_RID_H
#define CRDT_RID_H

#include <stdbool.h>
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

#endif
