/* Replica ids: 16-byte UUIDs from libuuid, their text form and order. */
#include <string.h>

#include <uuid/uuid.h>

#include "crdt/error.h"
#include "crdt/rid.h"

void crdt_rid_generate(struct crdt_rid *ret)
{
	uuid_generate_random(ret->b);
}

int crdt_rid_parse(const char *s, struct crdt_rid *ret)
{
	uuid_t u;

	if (!s || strlen(s) != CRDT_RID_STRLEN - 1 || uuid_parse(s, u) < 0)
		return CRDT_EINVAL;
	memcpy(ret->b, u, CRDT_RID_LEN);
	return 0;
}

void crdt_rid_format(const struct crdt_rid *id, char out[CRDT_RID_STRLEN])
{
	uuid_unparse_lower(id->b, out);
}

int crdt_rid_cmp(const struct crdt_rid *a, const struct crdt_rid *b)
{
	return memcmp(a->b, b->b, CRDT_RID_LEN);
}

bool crdt_rid_is_nil(const struct crdt_rid *id)
{
	return uuid_is_null(id->b);
}
