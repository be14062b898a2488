/* Growable byte buffers with a hard maximum and sticky errors, and the
 * bounds-checked cursor every decoder reads through (include/crdt/buf.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/buf.h"
#include "crdt/error.h"

void crdt_buf_init(struct crdt_buf *b, size_t max)
{
	*b = (struct crdt_buf){ .max = max ? max : SIZE_MAX };
}

void crdt_buf_done(struct crdt_buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->err = 0;
}

void crdt_buf_reset(struct crdt_buf *b)
{
	b->len = 0;
	b->err = 0;
}

int crdt_buf_reserve(struct crdt_buf *b, size_t n)
{
	if (b->err)
		return b->err;
	if (n <= b->cap - b->len)
		return 0;
	if (n > b->max - b->len)
		return b->err = CRDT_EMSGSIZE;

	size_t need = b->len + n;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
	if (cap > b->max)
		cap = b->max;

	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return b->err = CRDT_ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int crdt_buf_vprintf(struct crdt_buf *b, const char *fmt, va_list ap)
{
	size_t room = b->cap - b->len;
	va_list again;
	int n;

	if (b->err)
		return b->err;
	va_copy(again, ap);
	n = vsnprintf(room ? (char *)b->data + b->len : NULL, room, fmt, ap);
	if (n >= 0 && (size_t)n >= room && crdt_buf_reserve(b, (size_t)n + 1) == 0)
		vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, again);
	va_end(again);
	if (n < 0)
		return b->err = CRDT_EINVAL;
	if (b->err)
		return b->err;
	b->len += (size_t)n;
	return 0;
}

int crdt_buf_printf(struct crdt_buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = crdt_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

int crdt_buf_put(struct crdt_buf *b, const void *p, size_t n)
{
	int r = crdt_buf_reserve(b, n);
	if (r < 0)
		return r;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int crdt_buf_put_u8(struct crdt_buf *b, uint8_t v)
{
	return crdt_buf_put(b, &v, 1);
}

int crdt_buf_put_varint(struct crdt_buf *b, uint64_t v)
{
	/* Reserve the exact length, not 10: a varint that fits the last bytes
	 * below ->max must not fail with -EMSGSIZE (splits fill pieces exactly). */
	int r = crdt_buf_reserve(b, crdt_varint_len(v));
	if (r < 0)
		return r;
	b->len += crdt_varint_write(b->data + b->len, v);
	return 0;
}

int crdt_buf_put_bytes(struct crdt_buf *b, const void *p, size_t n)
{
	crdt_buf_put_varint(b, n);
	return crdt_buf_put(b, p, n);
}

int crdt_cur_u8(struct crdt_cur *c, uint8_t *ret)
{
	if (c->left < 1)
		return CRDT_EBADMSG;
	*ret = *c->p++;
	c->left--;
	return 0;
}

int crdt_cur_varint(struct crdt_cur *c, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < c->left && i < 10; i++) {
		uint8_t byte = c->p[i];
		/* the tenth byte holds bit 63 only */
		if (i == 9 && byte > 1)
			return CRDT_EBADMSG;
		v |= (uint64_t)(byte & 0x7f) << (7 * i);
		if (!(byte & 0x80)) {
			/* a zero last byte after others is an overlong form */
			if (byte == 0 && i > 0)
				return CRDT_EBADMSG;
			c->p += i + 1;
			c->left -= i + 1;
			*ret = v;
			return 0;
		}
	}
	return CRDT_EBADMSG;
}

int crdt_cur_take(struct crdt_cur *c, size_t n, const uint8_t **ret)
{
	if (c->left < n)
		return CRDT_EBADMSG;
	*ret = c->p;
	c->p += n;
	c->left -= n;
	return 0;
}

int crdt_cur_bytes(struct crdt_cur *c, const uint8_t **ret, size_t *ret_len)
{
	struct crdt_cur save = *c;
	uint64_t n;

	if (crdt_cur_varint(c, &n) < 0 || n > c->left) {
		*c = save;
		return CRDT_EBADMSG;
	}
	*ret = c->p;
	*ret_len = (size_t)n;
	c->p += n;
	c->left -= n;
	return 0;
}

int crdt_cur_count(struct crdt_cur *c, size_t min_size, size_t *ret)
{
	struct crdt_cur save = *c;
	uint64_t n;

	if (crdt_cur_varint(c, &n) < 0)
		return CRDT_EBADMSG;
	if (min_size == 0)
		min_size = 1;
	if (n > c->left / min_size) {
		*c = save;
		return CRDT_EBADMSG;
	}
	*ret = (size_t)n;
	return 0;
}
