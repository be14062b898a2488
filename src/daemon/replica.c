#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replica.h"

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

static int write_id(const char *path, const struct crdt_rid *rid)
{
	char tmp[PATH_MAX], s[CRDT_RID_STRLEN];
	int fd, r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	crdt_rid_format(rid, s);
	s[CRDT_RID_STRLEN - 1] = '\n';
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, s, sizeof(s)) != (ssize_t)sizeof(s) || fsync(fd) < 0)
		r = errno ? -errno : -EIO;
	close(fd);
	/* rename after fsync: a crash leaves the old file or the new, whole */
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int replica_open(const char *data_dir, struct crdt_rid *ret, int *ret_lock_fd, char *err,
		 size_t errlen)
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

	snprintf(path, sizeof(path), "%s/replica_id", data_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		crdt_rid_generate(&rid);
		if ((r = write_id(path, &rid)) < 0) {
			snprintf(err, errlen, "cannot write %s: %s", path, strerror(-r));
			goto fail;
		}
	} else if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-r));
		goto fail;
	} else {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n == CRDT_RID_STRLEN && buf[CRDT_RID_STRLEN - 1] == '\n')
			buf[CRDT_RID_STRLEN - 1] = 0;
		else
			buf[n > 0 ? n : 0] = 0;
		if (crdt_rid_parse(buf, &rid) < 0) {
			r = -EBADMSG;
			snprintf(err, errlen,
				 "%s is corrupt (expected a UUID and a newline); restore it from a "
				 "backup, or delete it to start as a new replica",
				 path);
			goto fail;
		}
	}
	*ret = rid;
	*ret_lock_fd = lock_fd;
	return 0;
fail:
	close(lock_fd);
	return r;
}
