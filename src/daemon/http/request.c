/* The HTTP request reader: http_parser's callbacks keep what the endpoints
 * need, within fixed buffers, and turn the parser's verdicts into statuses. */
#include "http/request.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_request *r = p->data;

	if (r->path_long || r->path_len + len > HTTP_PATH_MAX) {
		r->path_long = true;
		return 0;
	}
	memcpy(r->path + r->path_len, at, len);
	r->path_len += len;
	r->path[r->path_len] = 0;
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_request *r = p->data;

	if (r->in_value) { /* a new header starts */
		r->in_value = false;
		r->field_len = 0;
	}
	/* a name longer than the buffer is no name we look for: keep it
	 * longer than any, so it matches none */
	if (r->field_len + len > HTTP_FIELD_MAX) {
		r->field_len = HTTP_FIELD_MAX + 1;
		return 0;
	}
	memcpy(r->field + r->field_len, at, len);
	r->field_len += len;
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_request *r = p->data;

	if (!r->in_value) {
		r->in_value = true;
		r->auth_value = r->field_len == 13 && !strncasecmp(r->field, "authorization", 13);
		if (r->auth_value) { /* the last one counts */
			r->has_auth = true;
			r->auth_len = 0;
			r->auth_long = false;
		}
	}
	if (!r->auth_value)
		return 0;
	if (r->auth_long || r->auth_len + len > HTTP_AUTH_MAX) {
		r->auth_long = true;
		return 0;
	}
	memcpy(r->auth + r->auth_len, at, len);
	r->auth_len += len;
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct http_request *r = p->data;

	r->headers_done = true;
	if (p->method != HTTP_GET && p->method != HTTP_HEAD) {
		r->error = HTTP_REQ_METHOD;
		return -1;
	}
	if ((p->flags & F_CHUNKED) || p->uses_transfer_encoding ||
	    (p->content_length != 0 && p->content_length != ULLONG_MAX)) {
		r->error = HTTP_REQ_BODY;
		return -1;
	}
	if (r->path_long) {
		r->error = HTTP_REQ_URI_TOO_LONG;
		return -1;
	}
	r->head = p->method == HTTP_HEAD;
	char *q = memchr(r->path, '?', r->path_len); /* the query string means nothing here */
	if (q) {
		*q = 0;
		r->path_len = (size_t)(q - r->path);
	}
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_request *r = p->data;

	r->done = true;
	http_parser_pause(p, 1); /* one request per connection: stop here */
	return 0;
}

static const http_parser_settings settings = {
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

void http_request_init(struct http_request *r, size_t max_header_bytes)
{
	memset(r, 0, sizeof(*r));
	http_parser_init(&r->p, HTTP_REQUEST);
	r->p.data = r;
	r->max_header_bytes = max_header_bytes;
}

int http_request_feed(struct http_request *r, const char *buf, size_t len)
{
	size_t n;

	if (r->error)
		return r->error;
	if (r->done)
		return HTTP_REQ_DONE;
	if (len == 0) /* http_parser reads 0 bytes as the end of the stream */
		return HTTP_REQ_MORE;
	/* our own bound on the head, whatever http_parser's is: the bytes fed
	 * before the headers ended, this chunk's included up to that point */
	if (!r->headers_done && r->header_bytes + len > r->max_header_bytes) {
		size_t room = r->max_header_bytes - r->header_bytes;
		/* (0 bytes would read as the end of the stream) */
		n = room ? http_parser_execute(&r->p, &settings, buf, room) : 0;
		r->header_bytes += n;
		if (!r->headers_done && !r->error && HTTP_PARSER_ERRNO(&r->p) == HPE_OK)
			r->error = HTTP_REQ_HEADERS_TOO_LARGE;
	} else {
		n = http_parser_execute(&r->p, &settings, buf, len);
		if (!r->headers_done)
			r->header_bytes += n;
	}
	if (r->error)
		return r->error;
	if (r->done)
		return HTTP_REQ_DONE;
	switch (HTTP_PARSER_ERRNO(&r->p)) {
	case HPE_OK:
		break;
	case HPE_HEADER_OVERFLOW:
		r->error = HTTP_REQ_HEADERS_TOO_LARGE;
		return r->error;
	default:
		r->error = HTTP_REQ_BAD;
		return r->error;
	}
	if (r->p.upgrade) { /* "Upgrade:" ends the parse; we upgrade to nothing */
		r->error = HTTP_REQ_BAD;
		return r->error;
	}
	return HTTP_REQ_MORE;
}

const char *http_request_path(const struct http_request *r)
{
	return r->path;
}

bool http_request_bearer_is(const struct http_request *r, const char *token)
{
	size_t tl = strlen(token);
	unsigned char diff = 0;

	if (!r->has_auth || r->auth_long || r->auth_len != 7 + tl ||
	    strncasecmp(r->auth, "Bearer ", 7))
		return false;
	for (size_t i = 0; i < tl; i++)
		diff |= (unsigned char)(r->auth[7 + i] ^ token[i]);
	return diff == 0;
}
