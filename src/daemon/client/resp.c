/* RESP request parser and reply writers; see resp.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/resp.h"

enum { KIND_NONE = 0, KIND_ARRAY = '*', KIND_INLINE = 'i' };

/* Internal results of the per-kind parsers, beside negative errors. */
enum { NEED_MORE = 0, COMPLETE = 1, SKIP = 2 };

/* Arrays bigger than this are freed between commands, so one huge command
 * does not pin its memory for the life of the connection. */
#define ARGV_KEEP 1024
#define SCRATCH_KEEP (16 * 1024)

void resp_parser_init(struct resp_parser *p, const struct resp_limits *lim)
{
	*p = (struct resp_parser){ 0 };
	if (lim)
		p->lim = *lim;
	if (!p->lim.max_bulk)
		p->lim.max_bulk = RESP_DEFAULT_MAX_BULK;
	if (!p->lim.max_args)
		p->lim.max_args = RESP_DEFAULT_MAX_ARGS;
	if (!p->lim.max_inline)
		p->lim.max_inline = RESP_DEFAULT_MAX_INLINE;
	/* keeps bulklen + 2 and max_inline + 2 from overflowing */
	if (p->lim.max_bulk > SIZE_MAX / 4)
		p->lim.max_bulk = SIZE_MAX / 4;
	if (p->lim.max_inline > SIZE_MAX / 4)
		p->lim.max_inline = SIZE_MAX / 4;
}

static void free_args(struct resp_parser *p)
{
	free(p->argv);
	free(p->argvlen);
	free(p->off);
	p->argv = NULL;
	p->argvlen = NULL;
	p->off = NULL;
	p->cap = 0;
	p->argc = 0;
}

void resp_parser_done(struct resp_parser *p)
{
	if (!p)
		return;
	free_args(p);
	free(p->scratch);
	p->scratch = NULL;
	p->scratch_cap = 0;
}

const char *resp_parser_error(const struct resp_parser *p)
{
	return p->errmsg;
}

static int fail(struct resp_parser *p, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct resp_parser *p, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->errmsg, sizeof(p->errmsg), fmt, ap);
	va_end(ap);
	p->err = err;
	return err;
}

/* Room for one more argument.  Grows geometrically, never past @limit (the
 * declared count, itself already capped by max_args), so the memory follows
 * the arguments actually received, not the count in the header. */
static int grow_args(struct resp_parser *p, size_t limit)
{
	size_t ncap;
	void *np;

	if (p->argc < p->cap)
		return 0;
	ncap = p->cap ? p->cap * 2 : 8;
	if (ncap > limit)
		ncap = limit;
	if (ncap <= p->cap)
		return fail(p, -EMSGSIZE, "Protocol error: too many arguments");
	/* each array is committed as soon as it grows; cap only when all have */
	np = realloc(p->off, ncap * sizeof(*p->off));
	if (!np)
		goto nomem;
	p->off = np;
	np = realloc(p->argvlen, ncap * sizeof(*p->argvlen));
	if (!np)
		goto nomem;
	p->argvlen = np;
	np = realloc(p->argv, ncap * sizeof(*p->argv));
	if (!np)
		goto nomem;
	p->argv = np;
	p->cap = ncap;
	return 0;
nomem:
	return fail(p, -ENOMEM, "out of memory");
}

static int push_arg(struct resp_parser *p, size_t limit, size_t off, size_t len)
{
	int r = grow_args(p, limit);

	if (r < 0)
		return r;
	p->off[p->argc] = off;
	p->argvlen[p->argc] = len;
	p->argc++;
	return 0;
}

/* redis' string2ll: an optional '-', then "0" or a digit 1-9 followed by
 * digits; no '+', spaces or leading zeros; must fit in int64. */
static bool parse_ll(const char *s, size_t n, int64_t *ret)
{
	bool neg = false;
	uint64_t v = 0;
	size_t i = 0;

	if (n == 0)
		return false;
	if (n == 1 && s[0] == '0') {
		*ret = 0;
		return true;
	}
	if (s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i >= n || s[i] < '1' || s[i] > '9')
		return false;
	for (; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return false;
		*ret = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > INT64_MAX)
			return false;
		*ret = (int64_t)v;
	}
	return true;
}

/* A "<c>N\r\n" line at @s (s[0] is the type byte, already checked).
 * Returns NEED_MORE, COMPLETE with *ret and *ret_linelen, or -EPROTO for a
 * line too long or not a number (the caller words the message).  The scan
 * is bounded by RESP_MAX_COUNT_LINE, so rescanning a partial line on every
 * call stays O(1). */
static int parse_count_line(const char *s, size_t n, int64_t *ret, size_t *ret_linelen)
{
	size_t w = n < RESP_MAX_COUNT_LINE ? n : RESP_MAX_COUNT_LINE;
	const char *cr = memchr(s, '\r', w);
	size_t i;

	if (!cr)
		return n >= RESP_MAX_COUNT_LINE ? -EPROTO : NEED_MORE;
	i = (size_t)(cr - s);
	if (i + 2 > n)
		return NEED_MORE;
	if (s[i + 1] != '\n' || !parse_ll(s + 1, i - 1, ret))
		return -EPROTO;
	*ret_linelen = i + 2;
	return COMPLETE;
}

size_t resp_peek_key(const char *buf, size_t len, const char **ret_key, size_t *ret_len)
{
	int64_t argc, blen;
	size_t pos, ll;

	*ret_key = NULL;
	*ret_len = 0;
	if (len < 4 || buf[0] != '*' || parse_count_line(buf, len, &argc, &ll) != COMPLETE ||
	    argc < 1 || (uint64_t)argc > len)
		return 0;
	pos = ll;
	for (int64_t i = 0; i < argc; i++) {
		if (pos >= len || buf[pos] != '$' ||
		    parse_count_line(buf + pos, len - pos, &blen, &ll) != COMPLETE || blen < 0 ||
		    (uint64_t)blen > len - pos - ll || len - pos - ll - (size_t)blen < 2)
			return 0;
		pos += ll;
		if (buf[pos + (size_t)blen] != '\r' || buf[pos + (size_t)blen + 1] != '\n')
			return 0;
		if (i == 1) {
			*ret_key = buf + pos;
			*ret_len = (size_t)blen;
		}
		pos += (size_t)blen + 2;
	}
	return pos;
}

/* A byte for an error message: itself if printable, else \xHH. */
static const char *show_byte(char *out, unsigned char c)
{
	if (c >= 0x20 && c < 0x7f)
		snprintf(out, 5, "%c", c);
	else
		snprintf(out, 5, "\\x%02x", c);
	return out;
}

static int parse_array(struct resp_parser *p, const char *s, size_t n)
{
	int64_t v;
	size_t linelen;
	int r;

	if (p->pos == 0) {
		r = parse_count_line(s, n, &v, &linelen);
		if (r < 0)
			return fail(p, -EPROTO, "Protocol error: invalid multibulk length");
		if (r == NEED_MORE)
			return NEED_MORE;
		if (v <= 0) {
			/* "*0" and "*-1" are accepted and ignored, like redis */
			p->pos = linelen;
			return SKIP;
		}
		if ((uint64_t)v > p->lim.max_args)
			return fail(p, -EMSGSIZE, "Protocol error: invalid multibulk length");
		p->want = (size_t)v;
		p->pos = linelen;
		p->have_bulklen = 0;
	}

	while (p->argc < p->want) {
		if (!p->have_bulklen) {
			if (p->pos == n)
				return NEED_MORE;
			if (s[p->pos] != '$') {
				char c[5];
				return fail(p, -EPROTO, "Protocol error: expected '$', got '%s'",
					    show_byte(c, (unsigned char)s[p->pos]));
			}
			r = parse_count_line(s + p->pos, n - p->pos, &v, &linelen);
			if (r == NEED_MORE)
				return NEED_MORE;
			if (r < 0 || v < 0)
				return fail(p, -EPROTO, "Protocol error: invalid bulk length");
			if ((uint64_t)v > p->lim.max_bulk)
				return fail(p, -EMSGSIZE, "Protocol error: invalid bulk length");
			p->bulklen = (size_t)v;
			p->have_bulklen = 1;
			p->pos += linelen;
		}
		/* the payload is never scanned: just wait until it is all here */
		if (n - p->pos < p->bulklen + 2)
			return NEED_MORE;
		if (s[p->pos + p->bulklen] != '\r' || s[p->pos + p->bulklen + 1] != '\n')
			return fail(p, -EPROTO, "Protocol error: expected '\\r\\n' after bulk argument");
		r = push_arg(p, p->want, p->pos, p->bulklen);
		if (r < 0)
			return r;
		p->pos += p->bulklen + 2;
		p->have_bulklen = 0;
	}
	return COMPLETE;
}

/* isspace() in the C locale, which splitargs skips between arguments */
static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* redis' sdssplitargs over s[0..n), unescaped into p->scratch (which holds
 * at least n bytes: unescaping only shrinks). */
static int split_inline(struct resp_parser *p, const char *s, size_t n)
{
	char *out = p->scratch;
	size_t i = 0, o = 0;

	for (;;) {
		bool inq = false, insq = false, done = false;
		size_t start;
		int r;

		while (i < n && is_space(s[i]))
			i++;
		if (i == n)
			return 0;
		start = o;
		while (!done) {
			bool more = i + 1 < n; /* is there a byte after s[i]? */

			if (inq) {
				if (i == n)
					goto unbalanced;
				if (s[i] == '\\' && i + 3 < n && s[i + 1] == 'x' &&
				    hex_val(s[i + 2]) >= 0 && hex_val(s[i + 3]) >= 0) {
					out[o++] = (char)(hex_val(s[i + 2]) * 16 + hex_val(s[i + 3]));
					i += 3;
				} else if (s[i] == '\\' && more) {
					char c;
					i++;
					switch (s[i]) {
					case 'n': c = '\n'; break;
					case 'r': c = '\r'; break;
					case 't': c = '\t'; break;
					case 'b': c = '\b'; break;
					case 'a': c = '\a'; break;
					default: c = s[i]; break;
					}
					out[o++] = c;
				} else if (s[i] == '"') {
					/* the closing quote must end the argument */
					if (more && !is_space(s[i + 1]))
						goto unbalanced;
					done = true;
				} else {
					out[o++] = s[i];
				}
			} else if (insq) {
				if (i == n)
					goto unbalanced;
				if (s[i] == '\\' && more && s[i + 1] == '\'') {
					i++;
					out[o++] = '\'';
				} else if (s[i] == '\'') {
					if (more && !is_space(s[i + 1]))
						goto unbalanced;
					done = true;
				} else {
					out[o++] = s[i];
				}
			} else if (i == n) {
				done = true;
			} else {
				switch (s[i]) {
				case ' ':
				case '\n':
				case '\r':
				case '\t':
					done = true;
					break;
				case '"':
					inq = true;
					break;
				case '\'':
					insq = true;
					break;
				default:
					out[o++] = s[i];
					break;
				}
			}
			if (i < n)
				i++;
		}
		if (p->argc >= p->lim.max_args)
			return fail(p, -EMSGSIZE, "Protocol error: too many arguments in inline request");
		r = push_arg(p, p->lim.max_args, start, o - start);
		if (r < 0)
			return r;
	}
unbalanced:
	return fail(p, -EPROTO, "Protocol error: unbalanced quotes in request");
}

static int parse_inline(struct resp_parser *p, const char *s, size_t n)
{
	size_t max = p->lim.max_inline;
	size_t w = n < max + 2 ? n : max + 2;
	const char *nl;
	size_t end, linelen;
	int r;

	/* p->pos: bytes already known to hold no '\n' */
	nl = p->pos < w ? memchr(s + p->pos, '\n', w - p->pos) : NULL;
	if (!nl) {
		p->pos = w;
		if (n >= max + 2)
			return fail(p, -EMSGSIZE, "Protocol error: too big inline request");
		return NEED_MORE;
	}
	end = (size_t)(nl - s);
	linelen = end > 0 && s[end - 1] == '\r' ? end - 1 : end;
	if (linelen > max)
		return fail(p, -EMSGSIZE, "Protocol error: too big inline request");

	if (linelen > p->scratch_cap) {
		char *ns = realloc(p->scratch, linelen);
		if (!ns)
			return fail(p, -ENOMEM, "out of memory");
		p->scratch = ns;
		p->scratch_cap = linelen;
	}
	r = split_inline(p, s, linelen);
	if (r < 0)
		return r;
	p->pos = end + 1;
	return p->argc ? COMPLETE : SKIP;
}

static void begin_command(struct resp_parser *p, char first)
{
	if (p->cap > ARGV_KEEP)
		free_args(p);
	if (p->scratch_cap > SCRATCH_KEEP) {
		free(p->scratch);
		p->scratch = NULL;
		p->scratch_cap = 0;
	}
	p->kind = first == '*' ? KIND_ARRAY : KIND_INLINE;
	p->argc = 0;
	p->pos = 0;
	p->want = 0;
	p->have_bulklen = 0;
}

int resp_parse(struct resp_parser *p, const char *buf, size_t len, size_t *ret_consumed)
{
	int kind, r;

	if (p->err)
		return p->err;
	if (p->kind == KIND_NONE) {
		if (len == 0) {
			*ret_consumed = 0;
			return 0;
		}
		begin_command(p, buf[0]);
	}
	kind = p->kind;
	r = kind == KIND_ARRAY ? parse_array(p, buf, len) : parse_inline(p, buf, len);
	if (r < 0) {
		p->argc = 0;
		return r;
	}
	if (r == NEED_MORE) {
		*ret_consumed = 0;
		return 0;
	}
	p->kind = KIND_NONE;
	if (r == SKIP) {
		/* reported at once, with argc 0, so that returning 0 never asks
		 * the caller to drop anything */
		p->argc = 0;
	} else {
		/* offsets become pointers only now, when buf is final */
		const char *base = kind == KIND_ARRAY ? buf : p->scratch;
		for (size_t i = 0; i < p->argc; i++)
			p->argv[i] = base + p->off[i];
	}
	*ret_consumed = p->pos;
	return 1;
}

/* ---- replies ---- */

/* Room for exactly @n more bytes, or NULL with the error left in b->err. */
static char *reserve(struct crdt_buf *b, size_t n)
{
	if (crdt_buf_reserve(b, n) < 0)
		return NULL;
	return (char *)b->data + b->len;
}

/* Decimal digits of @v into @out (20 bytes); returns their count. */
static size_t fmt_u64(char *out, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static size_t fmt_i64(char *out, int64_t v)
{
	if (v < 0) {
		out[0] = '-';
		/* via uint64_t, so INT64_MIN does not overflow */
		return 1 + fmt_u64(out + 1, -(uint64_t)v);
	}
	return fmt_u64(out, (uint64_t)v);
}

/* "<type><digits>\r\n" */
static int put_header(struct crdt_buf *b, char type, const char *digits, size_t nd)
{
	char *w = reserve(b, nd + 3);

	if (!w)
		return b->err;
	w[0] = type;
	memcpy(w + 1, digits, nd);
	w[nd + 1] = '\r';
	w[nd + 2] = '\n';
	b->len += nd + 3;
	return 0;
}

static void sanitise(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\r' || s[i] == '\n')
			s[i] = ' ';
}

static int put_line(struct crdt_buf *b, char type, const char *s, size_t n)
{
	char *w;

	if (n > SIZE_MAX - 3)
		return b->err = -EMSGSIZE;
	w = reserve(b, n + 3);
	if (!w)
		return b->err;
	w[0] = type;
	memcpy(w + 1, s, n);
	sanitise(w + 1, n);
	w[n + 1] = '\r';
	w[n + 2] = '\n';
	b->len += n + 3;
	return 0;
}

int resp_simple(struct crdt_buf *b, const char *s)
{
	return put_line(b, '+', s, strlen(s));
}

int resp_int(struct crdt_buf *b, int64_t v)
{
	char d[21];

	return put_header(b, ':', d, fmt_i64(d, v));
}

int resp_array(struct crdt_buf *b, size_t n)
{
	char d[21];

	return put_header(b, '*', d, fmt_u64(d, n));
}

int resp_nil(struct crdt_buf *b, int proto)
{
	return proto == RESP_PROTO3 ? crdt_buf_put(b, "_\r\n", 3) : crdt_buf_put(b, "$-1\r\n", 5);
}

int resp_nil_array(struct crdt_buf *b, int proto)
{
	return proto == RESP_PROTO3 ? crdt_buf_put(b, "_\r\n", 3) : crdt_buf_put(b, "*-1\r\n", 5);
}

int resp_map(struct crdt_buf *b, size_t npairs, int proto)
{
	char d[21];

	if (proto == RESP_PROTO3)
		return put_header(b, '%', d, fmt_u64(d, npairs));
	if (npairs > SIZE_MAX / 2)
		return b->err ? b->err : (b->err = -EMSGSIZE);
	return resp_array(b, 2 * npairs);
}

int resp_set(struct crdt_buf *b, size_t n, int proto)
{
	char d[21];

	return put_header(b, proto == RESP_PROTO3 ? '~' : '*', d, fmt_u64(d, n));
}

/* Reserve a whole bulk reply of @len payload bytes, write its header and
 * trailer, and return where the payload goes. */
static char *bulk_slot(struct crdt_buf *b, size_t len)
{
	char d[21];
	size_t nd = fmt_u64(d, len);
	char *w;

	if (len > SIZE_MAX - 32) {
		if (!b->err)
			b->err = -EMSGSIZE;
		return NULL;
	}
	w = reserve(b, 1 + nd + 2 + len + 2);
	if (!w)
		return NULL;
	w[0] = '$';
	memcpy(w + 1, d, nd);
	w += 1 + nd;
	memcpy(w, "\r\n", 2);
	memcpy(w + 2 + len, "\r\n", 2);
	b->len += 1 + nd + 2 + len + 2;
	return w + 2;
}

int resp_bulk(struct crdt_buf *b, const void *ptr, size_t len)
{
	char *w = bulk_slot(b, len);

	if (!w)
		return b->err;
	if (len)
		memcpy(w, ptr, len);
	return 0;
}

int resp_bulk_str(struct crdt_buf *b, const char *s)
{
	return resp_bulk(b, s, strlen(s));
}

int resp_bulk_int(struct crdt_buf *b, int64_t v)
{
	char d[21];

	return resp_bulk(b, d, fmt_i64(d, v));
}

/* The formatted length of @fmt, formatting into @tmp when it fits. */
static int vformat_len(char *tmp, size_t tmpsz, size_t *ret_len, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static int vformat_len(char *tmp, size_t tmpsz, size_t *ret_len, const char *fmt, va_list ap)
{
	int n = vsnprintf(tmp, tmpsz, fmt, ap);

	if (n < 0)
		return -EINVAL;
	*ret_len = (size_t)n;
	return 0;
}

/* vsnprintf() into @w, which has room for @len bytes plus one more, the
 * NUL, that the caller then overwrites. */
static void vformat_into(char *w, size_t len, const char *tmp, size_t tmpsz,
			 const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void vformat_into(char *w, size_t len, const char *tmp, size_t tmpsz,
			 const char *fmt, va_list ap)
{
	if (len < tmpsz)
		memcpy(w, tmp, len);
	else
		vsnprintf(w, len + 1, fmt, ap);
}

int resp_error(struct crdt_buf *b, const char *fmt, ...)
{
	char tmp[256];
	size_t len;
	va_list ap, ap2;
	char *w;
	int r;

	if (b->err)
		return b->err;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	r = vformat_len(tmp, sizeof(tmp), &len, fmt, ap);
	va_end(ap);
	if (r < 0 || len > SIZE_MAX - 3) {
		va_end(ap2);
		return b->err = r < 0 ? r : -EMSGSIZE;
	}
	w = reserve(b, len + 3);
	if (!w) {
		va_end(ap2);
		return b->err;
	}
	w[0] = '-';
	/* the NUL lands on the '\r' written just after */
	vformat_into(w + 1, len, tmp, sizeof(tmp), fmt, ap2);
	va_end(ap2);
	sanitise(w + 1, len);
	w[len + 1] = '\r';
	w[len + 2] = '\n';
	b->len += len + 3;
	return 0;
}

int resp_bulkf(struct crdt_buf *b, const char *fmt, ...)
{
	char tmp[256];
	size_t len;
	va_list ap, ap2;
	char *w;
	int r;

	if (b->err)
		return b->err;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	r = vformat_len(tmp, sizeof(tmp), &len, fmt, ap);
	va_end(ap);
	if (r < 0) {
		va_end(ap2);
		return b->err = r;
	}
	w = bulk_slot(b, len);
	if (!w) {
		va_end(ap2);
		return b->err;
	}
	/* the NUL lands on the trailing '\r', rewritten below */
	vformat_into(w, len, tmp, sizeof(tmp), fmt, ap2);
	va_end(ap2);
	w[len] = '\r';
	return 0;
}
