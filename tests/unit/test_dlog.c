/* A peer's acknowledgement window over the delta log (gossip/dlog.h): out
 * of order ACKs across the window's words, what they fold into acked, the
 * highest one, what is pending, and what is refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gossip/dlog.h"

static void test_window_words(void **state)
{
	struct dlog_peer p;
	const uint64_t last = 1000;

	(void)state;
	memset(&p, 0, sizeof(p));
	/* 1 and 2 lost; 3, 64, 65, 130 and the window's last one arrive */
	assert_int_equal(dlog_peer_ack(&p, 3, last), 0);
	assert_int_equal(dlog_peer_ack(&p, 64, last), 0);
	assert_int_equal(dlog_peer_ack(&p, 65, last), 0);
	assert_int_equal(dlog_peer_ack(&p, 130, last), 0);
	assert_int_equal(dlog_peer_ack(&p, DLOG_WINDOW, last), 0);
	assert_int_equal(dlog_peer_ack(&p, DLOG_WINDOW + 1, last), -ERANGE);
	assert_int_equal(p.acked, 0);
	assert_int_equal(dlog_peer_top(&p), DLOG_WINDOW);
	assert_true(dlog_peer_has(&p, 65) && dlog_peer_has(&p, 130));
	assert_false(dlog_peer_has(&p, 66) || dlog_peer_has(&p, 2));
	assert_int_equal(dlog_peer_pending(&p, DLOG_WINDOW), DLOG_WINDOW - 5);
	/* 2 then 1: acked folds in 1..3 and stops at the gap at 4 */
	assert_int_equal(dlog_peer_ack(&p, 2, last), 0);
	assert_int_equal(p.acked, 0);
	assert_int_equal(dlog_peer_ack(&p, 1, last), 0);
	assert_int_equal(p.acked, 3);
	assert_true(dlog_peer_has(&p, 64) && dlog_peer_has(&p, 65) && !dlog_peer_has(&p, 63));
	assert_int_equal(dlog_peer_top(&p), DLOG_WINDOW);
	/* every one from 4 to 63: acked runs on through 64 and 65 */
	for (uint64_t s = 4; s <= 63; s++)
		assert_int_equal(dlog_peer_ack(&p, s, last), 0);
	assert_int_equal(p.acked, 65);
	assert_true(dlog_peer_has(&p, 130) && !dlog_peer_has(&p, 129));
	/* the window now reaches 65 + DLOG_WINDOW */
	assert_int_equal(dlog_peer_ack(&p, 65 + DLOG_WINDOW, last), 0);
	assert_int_equal(dlog_peer_top(&p), 65 + DLOG_WINDOW);
	assert_int_equal(dlog_peer_pending(&p, 65 + DLOG_WINDOW), DLOG_WINDOW - 3);
	/* up to 129 given whole (a fallback): 130 folds in, the rest stays */
	dlog_peer_upto(&p, 129);
	assert_int_equal(p.acked, 130);
	assert_true(dlog_peer_has(&p, DLOG_WINDOW) && dlog_peer_has(&p, 65 + DLOG_WINDOW));
	assert_false(dlog_peer_has(&p, 131));
	assert_int_equal(p.sent, 129);
	/* past the whole window: nothing of it is left */
	dlog_peer_upto(&p, 2000);
	assert_int_equal(p.acked, 2000);
	assert_int_equal(dlog_peer_top(&p), 2000);
	assert_int_equal(dlog_peer_pending(&p, 2000), 0);
	assert_int_equal(dlog_peer_ack(&p, 2001, 2000), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_words),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
