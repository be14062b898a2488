/* The client port: RESP over TCP and, when configured, a unix socket.
 * Connections buffer what arrives, hand every complete command to
 * commands_exec in order, and write the replies of one read in one go, so a
 * pipeline costs one write per batch.
 *
 * A client's unsent replies are bounded by the [clients] output buffer
 * limits (config.h), read from the daemon's config at server_start: above
 * the high-water mark its commands wait until the replies drain; above the
 * hard limit, or above the soft limit for too long, it is disconnected.  A
 * reply that cannot be built closes the connection before another byte of
 * it is written. */
#ifndef CRDTD_SERVER_H
#define CRDTD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "resp.h"

struct daemon;
struct server;

struct server_config {
	const char *host;        /* TCP address to bind */
	int port;                /* 0 picks a free port (tests) */
	const char *unix_path;   /* NULL or "" for none */
	size_t max_clients;
	size_t max_query_bytes;  /* unparsed bytes one client may have buffered */
	struct resp_limits lim;
};

/* What the connections hold now, for INFO clients. */
struct server_stats {
	size_t paused;         /* clients whose commands wait for their replies to drain */
	size_t unsent_bytes;   /* replies not yet taken by the kernel, all clients */
	size_t max_unsent;     /* the largest of one client */
};

/** Bind and listen.  Errors are negative libuv codes, logged here with the
 * address.  *ret is owned by the loop; release with server_close. */
int server_start(uv_loop_t *loop, struct daemon *d, const struct server_config *cfg,
		 struct server **ret);
/** The TCP port actually bound. */
int server_port(const struct server *s);
/** The storage commit that the held replies waited for is done: send them
 * (@ok) or, when the writes did not reach the disk, close those clients
 * without a reply, so nothing is acknowledged that was not stored. */
void server_release(struct server *s, bool ok);
/** Fill *ret from the connections now open (walks them: for INFO). */
void server_get_stats(const struct server *s, struct server_stats *ret);
/** Stop listening, close every connection; memory goes in close callbacks. */
void server_close(struct server *s);

#endif
