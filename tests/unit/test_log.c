/* log.c's ring of recent warn and error lines (the status page's "recent
 * warnings"): what it keeps, in which order, and how long. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static void test_recent_ring(void **state)
{
	const char *got[LOG_RECENT_MAX];
	char big[LOG_RECENT_LINE * 2];
	int fd = open("/dev/null", O_WRONLY);

	assert_true(fd >= 0);
	log_set_fd(fd);
	log_set_level(LOG_LEVEL_DEBUG);
	assert_int_equal(log_recent(got), 0);
	log_info("t", "not kept");
	log_warn("t", "first");
	log_debug("t", "not kept either");
	assert_int_equal(log_recent(got), 1);
	assert_non_null(strstr(got[0], "warn  t: first"));
	assert_null(strchr(got[0], '\n'));

	for (int i = 0; i < LOG_RECENT_MAX + 3; i++)
		log_error("t", "line %d", i);
	assert_int_equal(log_recent(got), LOG_RECENT_MAX);
	/* the oldest first: "first" and lines 0..2 fell out */
	assert_non_null(strstr(got[0], "error t: line 3"));
	assert_non_null(strstr(got[LOG_RECENT_MAX - 1], "t: line 18"));

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	log_warn("t", "%s", big);
	assert_int_equal(log_recent(got), LOG_RECENT_MAX);
	assert_int_equal(strlen(got[LOG_RECENT_MAX - 1]), LOG_RECENT_LINE);
	log_set_fd(2);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recent_ring),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
