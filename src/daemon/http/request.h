/* One HTTP request read off a connection, through Debian's http_parser
 * (libhttp-parser): the method, the path and the Authorization header are
 * kept, every other header is skipped, and the limits are ours: the request
 * line and headers are capped at max_header_bytes, a body is refused.  No
 * libuv and no sockets here: the listener (http/server.h) feeds it bytes,
 * and the fuzz target and unit tests do the same. */
#ifndef CRDTD_HTTP_REQUEST_H
#define CRDTD_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <http_parser.h>

#define HTTP_PATH_MAX 255  /* longer URLs are answered 414 */
#define HTTP_AUTH_MAX 255  /* a longer Authorization header never matches */
#define HTTP_FIELD_MAX 31  /* header names we compare are shorter */

/* What http_request_feed says; an error is the status to answer (the
 * connection is then closed). */
enum {
	HTTP_REQ_MORE = 0, /* need more bytes */
	HTTP_REQ_DONE = 1, /* a whole request: read method, path, auth */
	HTTP_REQ_BAD = 400,
	HTTP_REQ_METHOD = 405,      /* not GET or HEAD */
	HTTP_REQ_BODY = 413,        /* a request with a body */
	HTTP_REQ_URI_TOO_LONG = 414,
	HTTP_REQ_HEADERS_TOO_LARGE = 431,
};

/* Embedded in its connection; all state is inside, nothing allocated. */
struct http_request {
	http_parser p;
	size_t max_header_bytes;
	size_t header_bytes; /* fed before the headers were complete */
	bool headers_done, done, head;
	int error; /* sticky: once set, every feed returns it */
	char path[HTTP_PATH_MAX + 1];
	size_t path_len;
	bool path_long;
	char field[HTTP_FIELD_MAX + 1];
	size_t field_len;
	bool in_value;    /* the last callback was a header value */
	bool auth_value;  /* the value being read is Authorization's */
	char auth[HTTP_AUTH_MAX + 1];
	size_t auth_len;
	bool auth_long, has_auth;
};

/** Ready @r for a request of at most @max_header_bytes of request line and
 * headers. */
void http_request_init(struct http_request *r, size_t max_header_bytes);

/** Parse @len bytes of @buf (never read past them).  Returns HTTP_REQ_MORE,
 * HTTP_REQ_DONE (bytes after the request are ignored: one request per
 * connection) or an error status (400, 405, 413, 414, 431). */
int http_request_feed(struct http_request *r, const char *buf, size_t len);

/** The path without its query string, NUL-terminated (valid once DONE). */
const char *http_request_path(const struct http_request *r);

/** Whether the request carried "Authorization: Bearer @token" (compared in
 * constant time for a given length). */
bool http_request_bearer_is(const struct http_request *r, const char *token);

#endif
