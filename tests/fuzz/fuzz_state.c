/* libFuzzer target for each type's state decoder (crdt_obj_decode: the
 * first byte is the type tag, so one target covers every type).  What
 * decodes must re-encode to an equal state, merge into a copy of itself
 * without change, and render as JSON; an OR-Map's split pieces must merge
 * back into it, and so must an OR-Set's and an OR-Map's pieces cut from a
 * cursor (each at most the size asked).  A piece an OR-Set's or an
 * OR-Map's receiver is told brings no news (crdt_obj_piece_is_news) leaves
 * it unchanged when merged, and the check reads no byte past a piece,
 * whole or cut short. */
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

struct news_fz {
	const struct crdt_cursor *cur;
	struct crdt_obj *rcv;
};

static int news_piece(const uint8_t *p, size_t len, void *ctx)
{
	struct news_fz *x = ctx;
	struct crdt_obj piece, c;

	CHECK(x->cur->has_sum == 0 || x->cur->has_sum == 1);
	if (!x->cur->has_sum ||
	    crdt_obj_piece_is_news(x->rcv, p, len, x->cur->sum_dots, x->cur->sum_hash))
		return 0;
	CHECK(crdt_obj_decode(p, len, &piece) == 0);
	if (crdt_obj_copy(x->rcv, &c) == 0) {
		if (crdt_obj_merge(&c, &piece) == 0)
			CHECK(crdt_obj_equal(&c, x->rcv));
		crdt_obj_done(&c);
	}
	crdt_obj_done(&piece);
	return 0;
}

/* An OR-Set's or an OR-Map's pieces from a cursor, each asked whether it
 * is news to the state itself (every piece's dots are there: mostly not),
 * and the input's own bytes, whole and cut short, asked the same. */
static void news_back(const struct crdt_obj *o, const uint8_t *data, size_t size)
{
	struct crdt_obj set, empty, rcv;
	struct crdt_cursor cur = CRDT_CURSOR_INIT;
	struct news_fz x = { .cur = &cur, .rcv = &rcv };
	int r = 0;

	if (crdt_obj_copy(o, &set) < 0)
		return;
	if (crdt_obj_copy(o, &rcv) < 0) {
		crdt_obj_done(&set);
		return;
	}
	if (crdt_obj_new(o->type, &empty) == 0) { /* builds the index: the cut walks it */
		crdt_obj_merge(&set, &empty);
		crdt_obj_done(&empty);
	}
	for (int i = 0; i < 100000 && !cur.done && r >= 0; i++)
		r = crdt_obj_pieces(&set, &cur, 200, 2, news_piece, &x);
	for (size_t k = 0; k < 3; k++) {
		size_t len = k == 0 ? size : k == 1 ? size / 2 : size - 1;
		r = crdt_obj_piece_is_news(&rcv, data, len, crdt_obj_card(&rcv), 0);
		CHECK(r == 0 || r == 1);
	}
	crdt_obj_done(&rcv);
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
	if (o.type == CRDT_ORSET || o.type == CRDT_ORMAP)
		news_back(&o, data, size);
	if ((j = crdt_obj_to_json(&o)))
		cJSON_Delete(j);
	crdt_obj_done(&back);
	crdt_obj_done(&o);
	crdt_buf_done(&b);
	return 0;
}
