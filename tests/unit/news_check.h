/* A piece's "news" verdict (crdt_obj_piece_is_news) checked against a
 * real merge into a copy of each receiver: test_pieces.c (OR-Set) and
 * test_ormap.c (OR-Map) cut pieces from a cursor with news_check_cb as the
 * callback.  Include after cmocka.h. */
#ifndef NEWS_CHECK_H
#define NEWS_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/obj.h"

struct news_check {
	const struct crdt_cursor *cur; /* the cutter's: the piece's summary */
	struct crdt_obj *recv;         /* the receivers, each checked */
	size_t nrecv;
	const bool *exact; /* per receiver: "no news" exactly when nothing changes */
	size_t *no_news, *changed; /* per receiver */
	size_t summed, plain;      /* pieces with a summary, and without */
};

static int news_check_cb(const uint8_t *p, size_t len, void *ctx)
{
	struct news_check *x = ctx;
	struct crdt_obj d;

	assert_int_equal(crdt_obj_decode(p, len, &d), 0);
	if (!x->cur->has_sum) {
		x->plain++;
		crdt_obj_done(&d);
		return 0;
	}
	x->summed++;
	for (size_t i = 0; i < x->nrecv; i++) {
		struct crdt_obj *rv = &x->recv[i], c;
		int news = crdt_obj_piece_is_news(rv, p, len, x->cur->sum_dots, x->cur->sum_hash);
		bool same;

		assert_true(news == 0 || news == 1);
		assert_int_equal(crdt_obj_copy(rv, &c), 0);
		assert_int_equal(crdt_obj_merge(&c, &d), 0);
		same = crdt_obj_equal(&c, rv);
		/* sound always: a piece said to bring nothing changes nothing */
		if (!news)
			assert_true(same);
		if (x->exact[i])
			assert_int_equal(news, !same);
		x->no_news[i] += !news;
		x->changed[i] += !same;
		/* a wrong summary is news, and so is a truncated piece (the
		 * merge reports it) */
		assert_int_equal(crdt_obj_piece_is_news(rv, p, len, x->cur->sum_dots + 1,
							x->cur->sum_hash),
				 1);
		assert_int_equal(crdt_obj_piece_is_news(rv, p, len, x->cur->sum_dots,
							x->cur->sum_hash ^ 1),
				 1);
		assert_int_equal(crdt_obj_piece_is_news(rv, p, len / 2, 0, 0), 1);
		crdt_obj_done(&c);
	}
	crdt_obj_done(&d);
	return 0;
}

/* The verdicts every such test expects of its first three receivers: one
 * that holds the sender's state (every summed piece is no news and changes
 * nothing), one that lacks its last write (one piece changes it), one that
 * deleted that write (nothing changes, but one piece is news all the
 * same: its summary counts a dot the receiver no longer holds live). */
static void news_check_three(const struct news_check *x)
{
	assert_int_equal(x->no_news[0], x->summed); /* nothing new: every piece skipped */
	assert_int_equal(x->changed[0], 0);
	assert_int_equal(x->changed[1], 1); /* the one piece with the new write */
	assert_int_equal(x->no_news[1], x->summed - 1);
	assert_int_equal(x->changed[2], 0);            /* nothing to change ... */
	assert_int_equal(x->no_news[2], x->summed - 1); /* ... but one piece merged all the same */
}

#endif
