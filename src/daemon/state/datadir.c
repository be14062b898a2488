/* The data directory: created on first start, locked while the daemon runs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state/datadir.h"

/* mkdir -p, each component 0700. */
static int make_dirs(const char *path)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int datadir_open(const char *data_dir, int *ret_lock_fd, struct crdt_rid *ret_legacy,
		 bool *ret_has_legacy, char *err, size_t errlen)
{
	char path[PATH_MAX], buf[64];
	struct crdt_rid rid;
	int r, fd, lock_fd;
	ssize_t n;

	if ((r = make_dirs(data_dir)) < 0) {
		snprintf(err, errlen, "cannot create data_dir %s: %s", data_dir, strerror(-r));
		return r;
	}
	snprintf(path, sizeof(path), "%s/lock", data_dir);
	lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(-r));
		return r;
	}
	if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s is locked: another crdtd is using data_dir %s", path,
			 data_dir);
		close(lock_fd);
		return r;
	}

	*ret_has_legacy = false;
	snprintf(path, sizeof(path), "%s/replica_id", data_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT) {
		r = -errno;
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-r));
		goto fail;
	}
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n == CRDT_RID_STRLEN && buf[CRDT_RID_STRLEN - 1] == '\n')
			buf[CRDT_RID_STRLEN - 1] = 0;
		else
			buf[n > 0 ? n : 0] = 0;
		if (crdt_rid_parse(buf, &rid) < 0) {
			r = -EBADMSG;
			snprintf(err, errlen,
				 "%s is corrupt (expected a UUID and a newline): restore it from a "
				 "backup of this data_dir; without it, move data_dir away to start "
				 "this replica empty and let its peers refill it",
				 path);
			goto fail;
		}
		*ret_legacy = rid;
		*ret_has_legacy = true;
	}
	*ret_lock_fd = lock_fd;
	return 0;
fail:
	close(lock_fd);
	return r;
}
