/* The write-ahead log's file (state/wal.c): records read back in order with
 * their numbers and payloads; a log cut anywhere, or with a byte changed,
 * reads back exactly the whole records before the damage; undo and reset cut
 * records off, or a reset writes the next records over the old ones, and a
 * trim cuts a long file back without touching the records it holds. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "state/wal.h"

struct fixture {
	char dir[PATH_MAX];
	char path[PATH_MAX + 16];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/crdtd-test-wal-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/store.wal", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static const char *const payloads[] = { "first", "", "the third record, longer" };

static struct wal *three(struct fixture *f)
{
	struct wal *w;
	assert_int_equal(wal_open(f->path, &w), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(wal_append(w, 10 + (uint64_t)i, payloads[i], strlen(payloads[i])), 0);
	assert_int_equal(wal_sync(w), 0);
	return w;
}

/* How many whole records @buf[0..len) reads back (checking each), and
 * whether it ended cleanly. */
static int read_back(const uint8_t *buf, size_t len, int *clean)
{
	struct wal_rec r;
	size_t off = 0;
	int n = 0, rc;

	while ((rc = wal_next(buf, len, &off, &r)) > 0) {
		assert_true(n < 3);
		assert_int_equal(r.seq, 10 + (uint64_t)n);
		assert_int_equal(r.n, strlen(payloads[n]));
		assert_memory_equal(r.p, payloads[n], r.n);
		n++;
	}
	*clean = rc == 0;
	if (rc < 0)
		assert_int_equal(rc, -EBADMSG);
	return n;
}

static void test_records_read_back(void **state)
{
	struct fixture *f = *state;
	struct wal *w = three(f);
	uint8_t *buf;
	size_t len;
	int clean;

	assert_int_equal(wal_read(f->path, &buf, &len), 0);
	assert_int_equal(len, wal_size(w));
	assert_int_equal(len, 3 * WAL_HEAD + strlen(payloads[0]) + strlen(payloads[2]));
	assert_int_equal(read_back(buf, len, &clean), 3);
	assert_true(clean);
	free(buf);

	/* the last append undone, then the log emptied */
	assert_int_equal(wal_undo(w), 0);
	assert_int_equal(wal_read(f->path, &buf, &len), 0);
	assert_int_equal(read_back(buf, len, &clean), 2);
	assert_true(clean);
	free(buf);
	assert_int_equal(wal_reset(w, true), 0);
	assert_int_equal(wal_size(w), 0);
	assert_int_equal(wal_read(f->path, &buf, &len), 0);
	assert_int_equal(len, 0);
	free(buf);
	wal_close(w);

	/* a reset that keeps the file: the next record goes over the first,
	 * and the old ones after it stay, to be told apart by their numbers */
	w = three(f);
	assert_int_equal(wal_read(f->path, &buf, &len), 0);
	free(buf);
	assert_int_equal(wal_reset(w, false), 0);
	assert_int_equal(wal_size(w), 0);
	assert_int_equal(wal_append(w, 13, "again", 5), 0);
	assert_int_equal(wal_size(w), WAL_HEAD + 5);
	size_t was = len, off = 0;
	struct wal_rec r;
	assert_int_equal(wal_read(f->path, &buf, &len), 0);
	assert_int_equal(len, was);
	assert_int_equal(wal_next(buf, len, &off, &r), 1);
	assert_int_equal(r.seq, 13);
	assert_memory_equal(r.p, "again", 5);
	assert_int_equal(wal_next(buf, len, &off, &r), 1); /* "first" was as long: 11 follows */
	assert_int_equal(r.seq, 11);
	free(buf);
	wal_close(w);

	/* opening empties it; a missing file reads as empty */
	assert_int_equal(wal_open(f->path, &w), 0);
	wal_close(w);
	unlink(f->path);
	assert_int_equal(wal_read(f->path, &buf, &len), 0);
	assert_null(buf);
	assert_int_equal(len, 0);
}

static long file_len(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (long)st.st_size;
}

/* A file a burst made long is cut back to what it keeps (wal_trim) once it
 * is over twice that, never below the records since the last reset, which
 * read back whole after it. */
static void test_trim(void **state)
{
	struct fixture *f = *state;
	struct wal *w;
	char p[1000];
	uint8_t *buf;
	size_t len, off = 0;
	struct wal_rec r;

	memset(p, 'x', sizeof(p));
	assert_int_equal(wal_open(f->path, &w), 0);
	for (int i = 0; i < 12; i++)
		assert_int_equal(wal_append(w, 1 + (uint64_t)i, p, sizeof(p)), 0);
	/* not while the records are live */
	assert_int_equal(wal_trim(w, 1024), 0);
	assert_int_equal(file_len(f->path), 12 * (WAL_HEAD + 1000));
	assert_int_equal(wal_reset(w, false), 0);
	assert_int_equal(wal_append(w, 13, "new", 3), 0);
	assert_int_equal(wal_trim(w, 4096), 1);
	assert_int_equal(file_len(f->path), 4096);
	assert_int_equal(wal_trim(w, 4096), 0); /* within twice: kept */
	assert_int_equal(wal_trim(w, 2049), 0);
	assert_int_equal(wal_trim(w, 2047), 1);
	assert_int_equal(file_len(f->path), 2047);
	/* the records since the reset are never cut */
	for (int i = 0; i < 3; i++)
		assert_int_equal(wal_append(w, 14 + (uint64_t)i, p, sizeof(p)), 0);
	assert_int_equal(wal_trim(w, 10), 0);
	assert_int_equal(file_len(f->path), (long)wal_size(w));
	assert_int_equal(wal_reset(w, false), 0);
	assert_int_equal(wal_trim(w, 10), 1);
	assert_int_equal(file_len(f->path), 10);
	assert_int_equal(wal_append(w, 17, "after", 5), 0);
	assert_int_equal(wal_read(f->path, &buf, &len), 0);
	assert_int_equal(wal_next(buf, len, &off, &r), 1);
	assert_int_equal(r.seq, 17);
	assert_memory_equal(r.p, "after", 5);
	assert_int_equal(wal_next(buf, len, &off, &r), 0);
	free(buf);
	wal_close(w);
}

/* A crash can leave an append cut at any byte: what reads back is exactly
 * the records before it, and the reader says where the damage starts. */
static void test_cut_anywhere(void **state)
{
	struct fixture *f = *state;
	struct wal *w = three(f);
	size_t ends[3], len;
	uint8_t *buf;
	int clean;

	assert_int_equal(wal_read(f->path, &buf, &len), 0);
	ends[0] = WAL_HEAD + strlen(payloads[0]);
	ends[1] = ends[0] + WAL_HEAD;
	ends[2] = len;
	for (size_t cut = 0; cut <= len; cut++) {
		int want = 0;
		while (want < 3 && ends[want] <= cut)
			want++;
		uint8_t *copy = malloc(cut ? cut : 1); /* exactly cut bytes: ASan sees overreads */
		memcpy(copy, buf, cut);
		assert_int_equal(read_back(copy, cut, &clean), want);
		assert_int_equal(clean, cut == 0 || cut == ends[0] || cut == ends[1] || cut == len);
		free(copy);
	}
	free(buf);
	wal_close(w);
}

/* A changed byte anywhere in a record ends the log there. */
static void test_changed_byte(void **state)
{
	struct fixture *f = *state;
	struct wal *w = three(f);
	size_t len, first = WAL_HEAD + strlen(payloads[0]);
	uint8_t *buf;
	int clean;

	assert_int_equal(wal_read(f->path, &buf, &len), 0);
	for (size_t at = first; at < first + WAL_HEAD; at++) {
		buf[at] ^= 0x20;
		assert_int_equal(read_back(buf, len, &clean), 1);
		assert_false(clean);
		buf[at] ^= 0x20;
	}
	for (size_t at = len - strlen(payloads[2]); at < len; at++) {
		buf[at] ^= 0x01;
		assert_int_equal(read_back(buf, len, &clean), 2);
		assert_false(clean);
		buf[at] ^= 0x01;
	}
	assert_int_equal(read_back(buf, len, &clean), 3);
	free(buf);
	wal_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_records_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_anywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_byte, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
