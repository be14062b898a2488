/* The write-ahead log of durability = always: append, sync, empty, and read
 * back at start-up (state/wal.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "be.h"
#include "state/store.h"   /* store_fingerprint */
#include "state/wal.h"

struct wal {
	int fd;
	uint64_t size, last; /* bytes appended; where the last append began */
	uint64_t end;        /* the file's length */
};

/* fsync the directory holding @path: a file just created is found after a
 * power loss only once its directory entry is on the disk too (fdatasync
 * of the file does not write it). */
static int sync_dir(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	int fd, r = 0;

	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	if (!slash || n == 0) {
		strcpy(dir, slash ? "/" : ".");
	} else {
		memcpy(dir, path, n);
		dir[n] = 0;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int wal_open(const char *path, struct wal **ret)
{
	struct wal *w = calloc(1, sizeof(*w));
	int e;

	if (!w)
		return -ENOMEM;
	w->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		e = -errno;
		free(w);
		return e;
	}
	if (ftruncate(w->fd, 0) < 0 || fsync(w->fd) < 0) {
		e = -errno;
		wal_close(w);
		return e;
	}
	if ((e = sync_dir(path)) < 0) {
		wal_close(w);
		return e;
	}
	*ret = w;
	return 0;
}

void wal_close(struct wal *w)
{
	if (!w)
		return;
	close(w->fd);
	free(w);
}

static uint64_t checksum(const uint8_t *head, const void *p, size_t n)
{
	/* the length and number, then the payload: one fingerprint each, mixed */
	uint64_t h = store_fingerprint(head, 12);
	return h ^ (store_fingerprint(p, n) * 0x9e3779b97f4a7c15ull + (h >> 29));
}

static int write_all(int fd, const void *p, size_t n, uint64_t at)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t r = pwrite(fd, b, n, (off_t)at);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += r;
		at += (uint64_t)r;
		n -= (size_t)r;
	}
	return 0;
}

int wal_append(struct wal *w, uint64_t seq, const void *p, size_t n)
{
	uint8_t head[WAL_HEAD];
	int r;

	if (n > UINT32_MAX)
		return -EMSGSIZE;
	put_be32(head, (uint32_t)n);
	put_be64(head + 4, seq);
	put_be64(head + 12, checksum(head, p, n));
	/* one pwritev for both (a write storm appends a record a loop pass);
	 * what a short write left, the loop below */
	struct iovec iov[2] = { { head, sizeof(head) }, { (void *)p, n } };
	ssize_t done = pwritev(w->fd, iov, n ? 2 : 1, (off_t)w->size);
	size_t hd = done < 0 ? 0 : (size_t)done < sizeof(head) ? (size_t)done : sizeof(head);
	size_t pd = done < 0 ? 0 : (size_t)done - hd;
	if ((r = write_all(w->fd, head + hd, sizeof(head) - hd, w->size + hd)) == 0 && pd < n)
		r = write_all(w->fd, (const uint8_t *)p + pd, n - pd, w->size + sizeof(head) + pd);
	if (r < 0) {
		/* no part of it stays to be read back (should this fail too,
		 * the next append overwrites it, and a reader stops at it) */
		if (ftruncate(w->fd, (off_t)w->size) == 0)
			w->end = w->size;
		return r;
	}
	w->last = w->size;
	w->size += sizeof(head) + n;
	if (w->size > w->end)
		w->end = w->size;
	return 0;
}

int wal_undo(struct wal *w)
{
	if (ftruncate(w->fd, (off_t)w->last) < 0)
		return -errno;
	w->size = w->end = w->last;
	return 0;
}

int wal_sync(struct wal *w)
{
	return fdatasync(w->fd) < 0 ? -errno : 0;
}

int wal_reset(struct wal *w, bool cut)
{
	if (cut) {
		if (ftruncate(w->fd, 0) < 0)
			return -errno;
		w->end = 0;
	}
	w->size = w->last = 0;
	return 0;
}

int wal_trim(struct wal *w, uint64_t keep)
{
	if (keep < w->size)
		keep = w->size;
	if (w->end <= 2 * keep)
		return 0;
	if (ftruncate(w->fd, (off_t)keep) < 0)
		return -errno;
	w->end = keep;
	return 1;
}

uint64_t wal_size(const struct wal *w)
{
	return w->size;
}

int wal_next(const uint8_t *buf, size_t len, size_t *off, struct wal_rec *r)
{
	size_t at = *off, n;

	if (at >= len)
		return 0;
	if (len - at < WAL_HEAD)
		return -EBADMSG;
	const uint8_t *head = buf + at;
	n = get_be32(head);
	if (n > len - at - WAL_HEAD)
		return -EBADMSG;
	if (get_be64(head + 12) != checksum(head, head + WAL_HEAD, n))
		return -EBADMSG;
	r->seq = get_be64(head + 4);
	r->p = head + WAL_HEAD;
	r->n = n;
	*off = at + WAL_HEAD + n;
	return 1;
}

int wal_read(const char *path, uint8_t **buf, size_t *len)
{
	struct stat sb;
	uint8_t *b = NULL;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*buf = NULL;
	*len = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &sb) < 0)
		goto fail;
	if (sb.st_size > 0 && !(b = malloc((size_t)sb.st_size))) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t r = read(fd, b + got, (size_t)sb.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break; /* shorter than it said: read what is there */
		got += (size_t)r;
	}
	close(fd);
	*buf = b;
	*len = got;
	return 0;
fail:;
	int e = -errno;
	free(b);
	close(fd);
	return e;
}
