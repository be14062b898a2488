/* The client port: RESP over TCP and, when configured, a unix socket.
 * Connections buffer what arrives, hand every complete command to
 * commands_exec in order, and write the replies of one read in one go, so a
 * pipeline costs one write per batch.
 *
 * A client's unsent replies are bounded by the [clients] output buffer
 * limits (config.h), read from the daemon's config at listener_start: above
 * the high-water mark its commands wait until the replies drain; above the
 * hard limit, or above the soft limit for too long, it is disconnected.  A
 * reply that cannot be built closes the connection before another byte of
 * it is written. */
#ifndef CRDTD_LISTENER_H
#define CRDTD_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "client/commands.h"
#include "client/resp.h"

struct daemon;
struct listener;

struct listener_config {
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
 * address.  *ret is owned by the loop; release with listener_close. */
int listener_start(uv_loop_t *loop, struct daemon *d, const struct listener_config *cfg,
		 struct listener **ret);
/** The TCP port actually bound. */
int listener_port(const struct listener *s);
/** The journal's batches up to generation @gen are done: send the replies
 * of the clients whose writes they carry (@ok) or, when the writes did not
 * reach the store, close those clients without a reply, so nothing is
 * acknowledged that was not stored (journal_set_report). */
void listener_release(struct listener *s, uint64_t gen, bool ok);
/** Fill *ret from the connections now open (walks them: for INFO). */
void server_get_stats(const struct listener *s, struct server_stats *ret);
/* One open connection, as CLIENT LIST shows it. */
struct listener_client_info {
	const struct cmd_session *sess; /* id, addr, laddr, name, last command, proto */
	int fd;                /* -1 when unknown */
	uint64_t age_s, idle_s; /* since accept, since its last command */
	size_t qbuf, qbuf_free; /* received bytes not yet run; room left before a read grows it */
	size_t out_bytes;      /* replies built, not yet handed to the kernel */
	size_t unsent;         /* ... plus those being written */
	size_t mem;            /* its struct and buffers, allocated */
	bool unix_socket;
	bool reading, writing;
};

typedef int (*listener_client_cb)(const struct listener_client_info *ci, void *ctx);

/** Call @fn for each open connection (newest first; none when @s is NULL)
 * until it returns non-zero, which is returned; 0 otherwise.  @ci lives for
 * the call. */
int listener_foreach_client(struct listener *s, listener_client_cb fn, void *ctx);
/** Close connection @id now (CLIENT KILL), dropping its unsent replies.
 * Never for the caller's own connection: that one closes after its reply
 * (cmd_session.close_after_reply).  0, or -ENOENT when no open connection
 * has that id. */
int listener_kill_client(struct listener *s, uint64_t id);
/** Stop listening, close every connection; memory goes in close callbacks. */
void listener_close(struct listener *s);

#endif
