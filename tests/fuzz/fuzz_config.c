/* libFuzzer target for the ini loader (config_load).  The input is the file.  What loads must dump (config_dump) to a
 * file that loads again to the same dump. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c, again;
	struct config_error err;
	char path[64], *d1, *d2;
	size_t l1, l2;
	int fd, fd2, r;

	if (size > 64 * 1024)
		return 0;
	fd = mem_file(data, size, path, sizeof(path));
	r = config_load(path, &c, &err);
	close(fd);
	if (r < 0) {
		CHECK(err.msg[0] && memchr(err.msg, 0, sizeof(err.msg)));
		return 0;
	}
	d1 = dump(&c, &l1);
	fd2 = mem_file((const uint8_t *)d1, l1, path, sizeof(path));
	r = config_load(path, &again, &err);
	close(fd2);
	if (r < 0)
		fprintf(stderr, "dump does not load back: %s\n---\n%s---\n", err.msg, d1);
	CHECK(r == 0);
	d2 = dump(&again, &l2);
	CHECK(l1 == l2 && !memcmp(d1, d2, l1));
	free(d1);
	free(d2);
	config_done(&c);
	config_done(&again);
	return 0;
}
