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

#endif
