/* Growable output buffer and bounds-checked input cursor, the two halves of
 * every libcrdt codec.
 *
 * Varints are LEB128: 7 bits a byte, least significant group first, high bit
 * set on every byte but the last.  A decoder accepts only the minimal form
 * (no trailing 0x80 0x00 padding) and at most 10 bytes / 64 bits.
 */
#ifndef CRDT_BUF_H
#define CRDT_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** A growable byte buffer with a hard maximum size.
 *
 * Errors are sticky: the first failing put records its error in ->err and
 * every later put does nothing and returns it, so an encoder may write
 * everything and check once at the end.  The buffer owns ->data.
 */
struct crdt_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max; /* never grows past this many bytes */
	int err;    /* first error, 0 if none */
};

/** Initialise an empty buffer that will never hold more than @max bytes
 * (0 means SIZE_MAX).  Allocates nothing. */
void crdt_buf_init(struct crdt_buf *b, size_t max);
/** Free the data; the buffer may be initialised again.  Accepts NULL. */
void crdt_buf_done(struct crdt_buf *b);
/** Forget the contents (and any sticky error) but keep the memory. */
void crdt_buf_reset(struct crdt_buf *b);
/** Make room for @n more bytes.  -ENOMEM, -EMSGSIZE past ->max. */
int crdt_buf_reserve(struct crdt_buf *b, size_t n);
/** Append @n bytes. */
int crdt_buf_put(struct crdt_buf *b, const void *p, size_t n);
int crdt_buf_put_u8(struct crdt_buf *b, uint8_t v);
int crdt_buf_put_varint(struct crdt_buf *b, uint64_t v);
/** Append a varint length followed by the bytes. */
int crdt_buf_put_bytes(struct crdt_buf *b, const void *p, size_t n);
/** Append printf-formatted text, whole (no NUL after it; vsnprintf needs
 * room for one byte more than the text while it formats).  -EINVAL for a
 * format vsnprintf refuses. */
int crdt_buf_printf(struct crdt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int crdt_buf_vprintf(struct crdt_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/** Bytes a varint of @v takes (1..10); inline, as the cut asks it per
 * element and dot. */
static inline size_t crdt_varint_len(uint64_t v)
{
	return 1 + (size_t)(63 - __builtin_clzll(v | 1)) / 7;
}
/** Write the varint of @v at @p, which has room for crdt_varint_len(@v)
 * bytes; the bytes written. */
static inline size_t crdt_varint_write(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	for (; v >= 0x80; v >>= 7)
		p[n++] = (uint8_t)(v | 0x80);
	p[n++] = (uint8_t)v;
	return n;
}

/** Read position over (buf, len) that never moves past len.
 * Every read returns 0 or -EBADMSG (truncated or malformed); on error the
 * cursor and the output are left unchanged. */
struct crdt_cur {
	const uint8_t *p;
	size_t left;
};

static inline void crdt_cur_init(struct crdt_cur *c, const void *buf, size_t len)
{
	c->p = buf;
	c->left = len;
}

int crdt_cur_u8(struct crdt_cur *c, uint8_t *ret);
int crdt_cur_varint(struct crdt_cur *c, uint64_t *ret);
/** Point *ret at the next @n bytes and move past them. */
int crdt_cur_take(struct crdt_cur *c, size_t n, const uint8_t **ret);
/** A varint length then that many bytes. */
int crdt_cur_bytes(struct crdt_cur *c, const uint8_t **ret, size_t *ret_len);
/** A varint count of items that each take at least @min_size bytes: a count
 * larger than the remaining bytes allow is rejected before anyone allocates
 * from it. */
int crdt_cur_count(struct crdt_cur *c, size_t min_size, size_t *ret);

#endif
