/* The HTTP listener ([http] listen): a TCP port on the daemon's libuv loop
 * that answers GET /metrics (http/metrics.h), /status (http/status.h) and
 * /healthz, one request per connection ("Connection: close").  Requests are
 * read by http/request.h within [http] max_header_bytes; a connection whose
 * request is not complete after header_timeout_ms is closed, and so is one
 * past max_connections; bad requests are answered 400/405/413/414/431 and
 * closed.  Everything is counted (struct http_stats).  With [node]
 * requirepass set, every request needs "Authorization: Bearer <password>"
 * (401 otherwise); the password is read at each request, so a reload
 * applies. */
#ifndef CRDTD_HTTP_SERVER_H
#define CRDTD_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "http/snapshot.h"

struct daemon;
struct http_server;

struct http_server_config {
	const char *host; /* an IP literal */
	uint16_t port;
	unsigned max_connections;
	size_t max_header_bytes;
	unsigned header_timeout_ms;
};

/** Bind and listen.  Negative libuv codes, logged here with the address.
 * *ret is owned by the loop; release it with http_server_close. */
int http_server_start(uv_loop_t *loop, struct daemon *d, const struct http_server_config *cfg,
		      struct http_server **ret);
/** Its counters (for /metrics). */
const struct http_stats *http_server_stats(const struct http_server *s);
/** Stop listening and close every connection; the memory goes in the close
 * callbacks, so run the loop afterwards.  Accepts NULL. */
void http_server_close(struct http_server *s);

#endif
