/* libFuzzer target for each type's state decoder (crdt_obj_decode: the
 * first byte is the type tag, so one target covers every type).  What
 * decodes must re-encode to an equal state, merge into a copy of itself
 * without change, and render as JSON; an OR-Map's split pieces must merge
 * back into it, and so must an OR-Set's and an OR-Map's pieces cut from a
 * cursor (each at most the size asked). */
#include <errno.h>
#include <string.h>

#include "crdt/json.h"
#include "crdt/obj.h"
#include "fuzz.h"

static int merge_piece(const uint8_t *p, size_t len, void *ctx)
{
	struct crdt_obj x;

	CHECK(crdt_obj_decode(p, len, &x) == 0);
	CHECK(crdt_obj_merge(ctx, &x) == 0);
	crdt_obj_done(&x);
	return 0;
}

/* An OR-Map's pieces merge back into the whole state, whatever state it is. */
static void split_back(const struct crdt_obj *o)
{
	struct crdt_obj got;

	if (crdt_obj_new(o->type, &got) < 0)
		return;
	if (crdt_obj_split(o, 200, merge_piece, &got) == 0)
		CHECK(crdt_obj_equal(o, &got));
	crdt_obj_done(&got);
}

static int merge_small_piece(const uint8_t *p, size_t len, void *ctx)
{
	CHECK(len <= 200);
	return merge_piece(p, len, ctx);
}

/* An OR-Set or an OR-Map cut two pieces a call from a cursor merges back
 * into the whole state; a set with its dot index built first (merging an
 * empty set into it does), so that the cut walks the index. */
static void pieces_back(const struct crdt_obj *o)
{
	struct crdt_obj set, empty, got;
	struct crdt_cursor cur = CRDT_CURSOR_INIT;
	int r = 0;

	if (crdt_obj_copy(o, &set) < 0)
		return;
	if (crdt_obj_new(o->type, &empty) == 0) {
		crdt_obj_merge(&set, &empty);
		crdt_obj_done(&empty);
	}
	if (crdt_obj_new(o->type, &got) == 0) {
		for (int i = 0; i < 100000 && !cur.done && r >= 0; i++)
			r = crdt_obj_pieces(&set, &cur, 200, 2, merge_small_piece, &got);
		if (r >= 0 && cur.done && cur.skipped == 0)
			CHECK(crdt_obj_equal(&set, &got));
		crdt_obj_done(&got);
	}
	crdt_obj_done(&set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct crdt_obj o, back, copy;
	struct crdt_buf b;
	cJSON *j;
	int r;

	if (crdt_obj_decode(data, size, &o) < 0)
		return 0;
	crdt_buf_init(&b, 0);
	CHECK(crdt_obj_encode(&o, &b) == 0);
	CHECK(crdt_obj_decode(b.data, b.len, &back) == 0);
	CHECK(crdt_obj_equal(&o, &back));
	if (crdt_obj_copy(&o, &copy) == 0) {
		r = crdt_obj_merge(&copy, &back);
		CHECK(r == 0 || r == -ENOMEM);
		if (r == 0)
			CHECK(crdt_obj_equal(&o, &copy));
		crdt_obj_done(&copy);
	}
	if (o.type == CRDT_ORMAP)
		split_back(&o);
	if (o.type == CRDT_ORSET || o.type == CRDT_ORMAP)
		pieces_back(&o);
	if ((j = crdt_obj_to_json(&o)))
		cJSON_Delete(j);
	crdt_obj_done(&back);
	crdt_obj_done(&o);
	crdt_buf_done(&b);
	return 0;
}
