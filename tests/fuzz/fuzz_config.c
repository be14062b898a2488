/* libFuzzer target for the ini loader (config_load).  The input is the file.
 * What loads must dump (config_dump) to a file that loads again to the same
 * dump, and so must the same config with every free-text string at its
 * longest: a line bound that the longest values do not fit (issue 15) shows
 * on the first input that loads, not only when the fuzzer happens on a line
 * of just the wrong length. */
#define _GNU_SOURCE /* memfd_create */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

/* A file in memory, reachable by path for config_load. */
static int mem_file(const uint8_t *data, size_t size, char *path, size_t psize)
{
	int fd = memfd_create("fuzz.ini", MFD_CLOEXEC);

	CHECK(fd >= 0);
	CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
	snprintf(path, psize, "/proc/self/fd/%d", fd);
	return fd;
}

static char *dump(const struct config *c, size_t *ret_len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, ret_len);

	CHECK(f);
	CHECK(config_dump(c, f) == 0);
	CHECK(fclose(f) == 0);
	return buf;
}

static void round_trip(const struct config *c)
{
	struct config again;
	struct config_error err;
	char path[64], *d1, *d2;
	size_t l1, l2;
	int fd, r;

	d1 = dump(c, &l1);
	fd = mem_file((const uint8_t *)d1, l1, path, sizeof(path));
	r = config_load(path, &again, &err);
	close(fd);
	if (r < 0)
		fprintf(stderr, "dump does not load back: %s\n---\n%s---\n", err.msg, d1);
	CHECK(r == 0);
	d2 = dump(&again, &l2);
	CHECK(l1 == l2 && !memcmp(d1, d2, l1));
	free(d1);
	free(d2);
	config_done(&again);
}

/* Append 'x' to each string without a character set of its own up to its
 * maximum.  Names are left alone: a longer node name could become a peer's. */
static void stretch(struct config *c)
{
	size_t n;
	const struct config_key *t = config_keys(&n);

	for (size_t i = 0; i < n; i++) {
		if (t[i].type != CONFIG_STRING || (t[i].flags & CONFIG_F_NAME))
			continue;
		char *s = (char *)c + t[i].offset;
		size_t len = strlen(s);
		memset(s + len, 'x', t[i].max - len);
		s[t[i].max] = '\0';
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	struct config_error err;
	char path[64];
	int fd, r;

	if (size > 64 * 1024)
		return 0;
	fd = mem_file(data, size, path, sizeof(path));
	r = config_load(path, &c, &err);
	close(fd);
	if (r < 0) {
		CHECK(err.msg[0] && memchr(err.msg, 0, sizeof(err.msg)));
		return 0;
	}
	round_trip(&c);
	stretch(&c);
	round_trip(&c);
	config_done(&c);
	return 0;
}
