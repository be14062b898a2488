/* The client port: TCP and unix listeners, one connection per client, RESP
 * frames handed to the commands, replies held for the journal's commit,
 * output limits and backpressure (client/listener.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/commands.h"
#include "daemon.h"
#include "log.h"
#include "client/listener.h"
#include "state/journal.h"
#include "gossip/transport.h"

#define READ_CHUNK (64 * 1024)
/* How often clients above the soft output limit are checked (redis' clientsCron
 * runs at 10 Hz); the timer runs only while there are such clients. */
#define SOFT_CHECK_MS 100
/* One client's commands run at most this long in one loop pass (a command
 * is never cut); the rest waits for the next pass, so a long pipeline of
 * slow commands does not stall the other clients. */
#define CLIENT_SLICE_NS (1000 * 1000)

struct client {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	struct listener *srv;
	struct resp_parser parser;
	struct crdt_buf in;       /* received, not yet consumed */
	struct crdt_buf out;      /* replies not yet handed to libuv */
	struct crdt_buf inflight; /* replies uv_write is sending */
	size_t inflight_sent;     /* ... of which uv_try_write had sent the first bytes */
	uv_write_t wreq;
	struct cmd_session sess;
	uint64_t soft_since; /* uv_now when unsent replies passed the soft limit; 0 = below */
	uint64_t created_ms, active_ms; /* uv_now at accept, at its last command (CLIENT LIST) */
	bool writing;
	bool reading;
	bool closing;
	bool held; /* replies wait for the journal's batch held_gen (its writes) */
	bool paused; /* commands wait in ->in: unsent replies above the high-water mark */
	bool yielded; /* commands wait in ->in: its time slice of the loop pass ran out */
	struct client *prev, *next;
	struct client *next_held;
	uint64_t held_gen;
};

struct listener {
	uv_loop_t *loop;
	struct daemon *d;
	struct listener_config cfg;
	char *unix_path;
	uv_tcp_t tcp;
	uv_pipe_t pipe;
	uv_timer_t soft_timer; /* checks clients above the soft output limit */
	uv_idle_t resume;      /* clients whose waiting commands run in the next pass */
	bool have_tcp;
	bool have_pipe;
	int handles_open; /* listeners, timer and idle handle, not yet closed */
	size_t over_soft;     /* clients with soft_since set */
	size_t high_water;    /* [clients] output limits, in bytes */
	size_t hard_limit;    /* 0 = none */
	size_t soft_limit;    /* 0 = none */
	uint64_t soft_ms;
	bool closing;
	struct client *clients;
	struct client *held; /* replies waiting for their writes to be stored */
};

static void client_flush(struct client *c);

static void server_maybe_free(struct listener *s)
{
	if (s->closing && s->handles_open == 0 && !s->clients) {
		free(s->unix_path);
		free(s);
	}
}

static void client_close_cb(uv_handle_t *h)
{
	struct client *c = h->data;
	struct listener *s = c->srv;

	if (c->held) {
		struct client **pp = &s->held;
		while (*pp && *pp != c)
			pp = &(*pp)->next_held;
		if (*pp)
			*pp = c->next_held;
	}
	if (c->soft_since)
		s->over_soft--;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->d->clients--;
	commands_session_done(&c->sess);
	resp_parser_done(&c->parser);
	crdt_buf_done(&c->in);
	crdt_buf_done(&c->out);
	crdt_buf_done(&c->inflight);
	free(c);
	server_maybe_free(s);
}

static void client_close(struct client *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close(&c->h.handle, client_close_cb);
}

/* Replies not yet taken by the kernel. */
static size_t client_unsent(const struct client *c)
{
	return c->out.len + (c->writing ? c->inflight.len - c->inflight_sent : 0);
}

/* Who a client is, for a log line: its address, or "unix socket". */
static void client_describe(struct client *c, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (c->h.handle.type == UV_TCP &&
	    uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0)
		transport_addr_format((struct sockaddr *)&ss, buf, size);
	else
		snprintf(buf, size, "unix socket");
}

/* The session's addr and laddr, as Redis writes them: "ip:port", "[v6]:port",
 * and "path:0" for the unix socket. */
static void client_addrs(struct client *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (c->h.handle.type != UV_TCP) {
		const char *path = c->srv->unix_path ? c->srv->unix_path : "";
		snprintf(c->sess.addr, sizeof(c->sess.addr), "%s:0", path);
		snprintf(c->sess.laddr, sizeof(c->sess.laddr), "%s:0", path);
		return;
	}
	if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0)
		transport_addr_format((struct sockaddr *)&ss, c->sess.addr, sizeof(c->sess.addr));
	len = sizeof(ss);
	if (uv_tcp_getsockname(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0)
		transport_addr_format((struct sockaddr *)&ss, c->sess.laddr, sizeof(c->sess.laddr));
}

/* Close now, dropping every unsent reply: the client is over an output
 * limit, or its reply stream can no longer be trusted. */
static void client_drop(struct client *c, const char *why)
{
	char who[128];

	if (c->closing)
		return;
	client_describe(c, who, sizeof(who));
	log_warn("client", "client %s: %s, closing the connection", who, why);
	client_close(c);
}

static void soft_timer_cb(uv_timer_t *t);
static void resume_cb(uv_idle_t *h);

/* The [clients] hard and soft output limits, after the unsent replies grew
 * or shrank.  Returns false when the client was closed. */
static bool client_check_limits(struct client *c)
{
	struct listener *s = c->srv;
	size_t unsent = client_unsent(c);
	char why[160];

	if (c->closing)
		return false;
	if (s->hard_limit && unsent > s->hard_limit) {
		s->d->stats.output_limit_disconnections++;
		snprintf(why, sizeof(why), "%zu unsent reply bytes, over output_buffer_hard_limit (%zu)",
			 unsent, s->hard_limit);
		client_drop(c, why);
		return false;
	}
	if (s->soft_limit && unsent > s->soft_limit) {
		if (!c->soft_since) {
			/* 0 means "below": uv_now is never 0 once the loop ran */
			c->soft_since = uv_now(s->loop) ? uv_now(s->loop) : 1;
			if (s->over_soft++ == 0)
				uv_timer_start(&s->soft_timer, soft_timer_cb, SOFT_CHECK_MS, SOFT_CHECK_MS);
		}
	} else if (c->soft_since) {
		c->soft_since = 0;
		s->over_soft--;
	}
	return true;
}

static void soft_timer_cb(uv_timer_t *t)
{
	struct listener *s = t->data;
	uint64_t now = uv_now(s->loop);

	for (struct client *c = s->clients; c; c = c->next) {
		char why[160];
		if (!c->soft_since || c->closing || now - c->soft_since <= s->soft_ms)
			continue;
		s->d->stats.output_limit_disconnections++;
		snprintf(why, sizeof(why),
			 "%zu unsent reply bytes, over output_buffer_soft_limit (%zu) for %llu ms",
			 client_unsent(c), s->soft_limit, (unsigned long long)(now - c->soft_since));
		client_drop(c, why);
	}
	/* closed clients leave the count in their close callback */
	if (s->over_soft == 0)
		uv_timer_stop(&s->soft_timer);
}

/* Close once the last reply is out (QUIT, protocol errors). */
static void client_close_when_flushed(struct client *c)
{
	if (c->reading) {
		uv_read_stop(&c->h.stream);
		c->reading = false;
	}
	c->sess.close_after_reply = 1;
	if (!c->writing && c->out.len == 0)
		client_close(c);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct client *c = h->data;
	size_t room = c->in.max - c->in.len;

	/* on failure libuv reports UV_ENOBUFS to read_cb, which closes.  Ask
	 * only for what the limit leaves: a refused reserve sticks in ->err,
	 * so asking for a full chunk first would fail every later read. */
	if (room == 0 || crdt_buf_reserve(&c->in, room < READ_CHUNK ? room : READ_CHUNK) < 0) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init((char *)c->in.data + c->in.len, (unsigned)(c->in.cap - c->in.len));
}

/* Pipelined commands: the store lookups of the next few commands' keys are
 * brought into the cache together, their table slots, then their entries
 * (store_prefetch), so that their cache misses overlap instead of each
 * command waiting for its own.  Nothing changes; a key that is not one is
 * harmless. */
#define PREFETCH_AHEAD 32

static void prefetch_keys(struct daemon *d, const uint8_t *buf, size_t len)
{
	const char *key[PREFETCH_AHEAD];
	size_t klen[PREFETCH_AHEAD], n = 0, off = 0, used;

	for (size_t k = 0; k < PREFETCH_AHEAD; k++) {
		if (!(used = resp_peek_key((const char *)buf + off, len - off, &key[n], &klen[n])))
			break;
		off += used;
		n += key[n] != NULL;
	}
	if (n < 2)
		return; /* one command waits for its miss either way */
	for (size_t i = 0; i < n; i++)
		store_prefetch(&d->store, key[i], klen[i], false);
	for (size_t i = 0; i < n; i++)
		store_prefetch(&d->store, key[i], klen[i], true);
}

/* Run the complete commands in c->in, in order, until the input runs out,
 * the unsent replies pass the high-water mark (then c->paused: the rest
 * waits for write_cb), or its time slice runs out (then c->yielded: the
 * rest waits for the next loop pass).  Returns false when the client was
 * closed. */
static bool process_input(struct client *c)
{
	struct listener *s = c->srv;
	struct daemon *d = s->d;
	uint64_t start = uv_hrtime();
	size_t off = 0;

	c->paused = false;
	c->yielded = false;
	prefetch_keys(d, c->in.data, c->in.len);
	while (!c->sess.close_after_reply && off < c->in.len) {
		size_t used;
		if (client_unsent(c) >= s->high_water) {
			c->paused = true;
			break;
		}
		/* the time commands_exec read as the last command ended; an
		 * empty inline line runs none, hence the first test */
		if (off && d->exec_end_ns > start && d->exec_end_ns - start > CLIENT_SLICE_NS) {
			c->yielded = true;
			break;
		}
		int r = resp_parse(&c->parser, (const char *)c->in.data + off, c->in.len - off, &used);
		if (r == 0)
			break;
		if (r < 0) {
			d->stats.protocol_errors++;
			log_debug("client", "protocol error, closing: %s", resp_parser_error(&c->parser));
			resp_error(&c->out, "ERR %s", resp_parser_error(&c->parser));
			client_close_when_flushed(c);
			break;
		}
		off += used;
		if (c->parser.argc == 0)
			continue; /* empty inline line */
		struct cmd_args a = {
			.argc = c->parser.argc,
			.argv = (const uint8_t *const *)c->parser.argv,
			.argl = c->parser.argvlen,
		};
		c->active_ms = uv_now(s->loop);
		commands_exec(d, &c->sess, &a, &c->out);
		if (c->out.err) {
			/* The reply could not be built whole, and the replies after it
			 * would read as its missing parts: nothing more goes out. */
			char why[96];
			if (c->out.err == -EMSGSIZE && s->hard_limit) {
				d->stats.output_limit_disconnections++;
				snprintf(why, sizeof(why),
					 "unsent replies would pass output_buffer_hard_limit (%zu)",
					 s->hard_limit);
			} else {
				d->stats.reply_buffer_errors++;
				snprintf(why, sizeof(why), "reply buffer: %s", strerror(-c->out.err));
			}
			client_drop(c, why);
			return false;
		}
		if (!client_check_limits(c))
			return false;
	}
	if (off) {
		memmove(c->in.data, c->in.data + off, c->in.len - off);
		c->in.len -= off;
	}
	if (c->sess.close_after_reply)
		client_close_when_flushed(c);
	return !c->closing;
}

/* Run what arrived and send the replies, or, when its commands wrote, hold
 * them until the journal reports this pass's batch stored (and synced under
 * always): no reply goes out before the writes it acknowledges, and every
 * client that wrote in the pass shares the batch's commit (group commit).
 * A client that only read is answered at once.  A held client runs nothing
 * more, and reads at most one more chunk, until it is released. */
static void client_serve(struct client *c)
{
	struct journal *j = c->srv->d->journal;
	uint64_t writes = journal_local_writes(j);

	if (c->held) {
		c->yielded = true; /* its input waits for the release */
		if (c->reading) {
			uv_read_stop(&c->h.stream);
			c->reading = false;
		}
		return;
	}
	if (!process_input(c))
		return;
	if (c->yielded)
		uv_idle_start(&c->srv->resume, resume_cb);
	if (journal_local_writes(j) != writes) {
		c->held = true;
		c->held_gen = journal_batch_gen(j);
		c->next_held = c->srv->held;
		c->srv->held = c;
		/* A client that waits for its replies sends nothing meanwhile, and
		 * its reads stay on: stopping and starting them again costs two
		 * epoll_ctl calls a pass.  One that sends on is stopped by its next
		 * read (above); one with input left, or little room, stops now. */
		if (c->reading && (c->paused || c->yielded || c->in.len >= READ_CHUNK ||
				   c->in.max - c->in.len <= READ_CHUNK)) {
			uv_read_stop(&c->h.stream);
			c->reading = false;
		}
		return;
	}
	client_flush(c);
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct client *c = stream->data;

	if (nread < 0) {
		if (nread == UV_ENOBUFS) {
			/* one request larger than the query buffer limit */
			c->srv->d->stats.protocol_errors++;
			resp_error(&c->out, "ERR Protocol error: request larger than %zu bytes",
				   c->srv->cfg.max_query_bytes);
			client_close_when_flushed(c);
			client_flush(c);
		} else {
			client_close(c);
		}
		return;
	}
	if (nread == 0 || c->closing)
		return;
	c->in.len += (size_t)nread;
	client_serve(c);
}

/* After a write completed, or in the pass after held replies were released:
 * a paused client whose replies drained below the high-water mark runs its
 * waiting commands (so each loop pass runs at most about a high-water mark
 * of one client's replies); any other sends what it has. */
static void client_continue(struct client *c)
{
	bool resume;

	if (c->closing || c->held)
		resume = false;
	else if (c->paused)
		resume = !c->writing && client_unsent(c) < c->srv->high_water;
	else
		resume = c->yielded;
	if (resume)
		client_serve(c);
	else
		client_flush(c);
}

/* Clients whose time slice ran out, and paused ones whose replies were
 * held, run their waiting commands in the next loop pass (for the held,
 * not from the commit, a check callback: the writes they make are committed
 * at the end of that pass).  The active idle handle keeps the loop from
 * blocking meanwhile. */
static void resume_cb(uv_idle_t *h)
{
	struct listener *s = h->data;

	uv_idle_stop(h);
	for (struct client *c = s->clients; c; c = c->next)
		if ((c->paused || c->yielded) && !c->closing)
			client_continue(c);
}

void listener_release(struct listener *s, uint64_t gen, bool ok)
{
	struct client **pp = &s->held;

	while (*pp) {
		struct client *c = *pp;
		if (c->held_gen > gen) { /* a later batch's */
			pp = &c->next_held;
			continue;
		}
		*pp = c->next_held;
		c->held = false;
		c->next_held = NULL;
		if (!ok) {
			client_close(c);
		} else {
			client_flush(c);
			if ((c->paused || c->yielded) && !c->closing)
				uv_idle_start(&s->resume, resume_cb);
		}
	}
}

static void write_cb(uv_write_t *req, int status)
{
	struct client *c = req->data;

	c->writing = false;
	c->inflight.len = 0;
	c->inflight_sent = 0;
	if (status < 0 || c->closing) {
		client_close(c);
		return;
	}
	client_continue(c);
}

static void client_flush(struct client *c)
{
	if (c->closing || c->writing || c->held)
		return;
	if (c->out.len) {
		uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
		/* A paused client always writes through write_cb, which resumes
		 * it in a later loop pass: other clients are served in between. */
		int n = c->paused ? 0 : uv_try_write(&c->h.stream, &b, 1);
		if (n < 0 && n != UV_EAGAIN) {
			client_close(c);
			return;
		}
		size_t sent = n > 0 ? (size_t)n : 0;
		if (sent < c->out.len) {
			/* the rest goes asynchronously from a buffer of its own */
			struct crdt_buf t = c->inflight;
			c->inflight = c->out;
			c->out = t;
			c->out.len = 0;
			b = uv_buf_init((char *)c->inflight.data + sent,
					(unsigned)(c->inflight.len - sent));
			c->inflight_sent = sent;
			c->wreq.data = c;
			if (uv_write(&c->wreq, &c->h.stream, &b, 1, write_cb) < 0) {
				client_close(c);
				return;
			}
			c->writing = true;
		} else {
			c->out.len = 0;
		}
	}
	if (c->sess.close_after_reply && !c->writing && c->out.len == 0) {
		client_close(c);
		return;
	}
	if (!client_check_limits(c))
		return;
	/* backpressure: no reading while commands wait or replies pile up */
	bool want_read = !c->sess.close_after_reply && !c->paused && !c->yielded &&
			 client_unsent(c) < c->srv->high_water;
	if (want_read && !c->reading) {
		if (uv_read_start(&c->h.stream, alloc_cb, read_cb) == 0)
			c->reading = true;
	} else if (!want_read && c->reading) {
		uv_read_stop(&c->h.stream);
		c->reading = false;
	}
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct listener *s = listener->data;
	struct daemon *d = s->d;
	struct client *c;
	int r;

	if (status < 0) {
		log_warn("client", "accept: %s", uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->srv = s;
	if (listener == (uv_stream_t *)&s->tcp) {
		r = uv_tcp_init(s->loop, &c->h.tcp);
		if (r == 0)
			uv_tcp_nodelay(&c->h.tcp, 1);
	} else {
		r = uv_pipe_init(s->loop, &c->h.pipe, 0);
	}
	if (r < 0) {
		free(c);
		return;
	}
	c->h.handle.data = c;
	resp_parser_init(&c->parser, &s->cfg.lim);
	crdt_buf_init(&c->in, s->cfg.max_query_bytes);
	/* one reply past the hard limit fails to build: see process_input */
	crdt_buf_init(&c->out, s->hard_limit);
	crdt_buf_init(&c->inflight, s->hard_limit);
	c->next = s->clients;
	if (c->next)
		c->next->prev = c;
	s->clients = c;
	d->clients++;

	if (uv_accept(listener, &c->h.stream) < 0) {
		client_close(c);
		return;
	}
	d->stats.connections++;
	c->sess.id = d->stats.connections;
	c->sess.proto = RESP_PROTO2;
	c->created_ms = c->active_ms = uv_now(s->loop);
	client_addrs(c);
	if ((size_t)d->clients > s->cfg.max_clients) {
		d->stats.rejected_clients++;
		resp_error(&c->out, "ERR max number of clients reached");
		client_close_when_flushed(c);
	}
	client_flush(c);
}

static void listener_close_cb(uv_handle_t *h)
{
	struct listener *s = h->data;
	s->handles_open--;
	server_maybe_free(s);
}

static int listen_tcp(struct listener *s)
{
	struct sockaddr_storage ss;
	int r;

	r = uv_ip4_addr(s->cfg.host, s->cfg.port, (struct sockaddr_in *)&ss);
	if (r < 0)
		r = uv_ip6_addr(s->cfg.host, s->cfg.port, (struct sockaddr_in6 *)&ss);
	if (r < 0) {
		log_error("client", "client address '%s' is not an IP address", s->cfg.host);
		return r;
	}
	if ((r = uv_tcp_init(s->loop, &s->tcp)) < 0)
		return r;
	s->tcp.data = s;
	s->have_tcp = true;
	s->handles_open++;
	if ((r = uv_tcp_bind(&s->tcp, (struct sockaddr *)&ss, 0)) < 0 ||
	    (r = uv_listen((uv_stream_t *)&s->tcp, 511, on_connection)) < 0) {
		log_error("client", "listen on %s:%d: %s", s->cfg.host, s->cfg.port, uv_strerror(r));
		return r;
	}
	return 0;
}

static int listen_unix(struct listener *s)
{
	struct stat st;
	int r;

	/* A socket file left by a daemon that died is replaced; anything else
	 * at that path is not ours to delete. */
	if (lstat(s->unix_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("client", "client_socket %s exists and is not a socket", s->unix_path);
			return UV_EEXIST;
		}
		unlink(s->unix_path);
	}
	if ((r = uv_pipe_init(s->loop, &s->pipe, 0)) < 0)
		return r;
	s->pipe.data = s;
	s->have_pipe = true;
	s->handles_open++;
	if ((r = uv_pipe_bind(&s->pipe, s->unix_path)) < 0 ||
	    (r = uv_listen((uv_stream_t *)&s->pipe, 511, on_connection)) < 0) {
		log_error("client", "listen on %s: %s", s->unix_path, uv_strerror(r));
		return r;
	}
	chmod(s->unix_path, 0660);
	return 0;
}

int listener_start(uv_loop_t *loop, struct daemon *d, const struct listener_config *cfg,
		 struct listener **ret)
{
	struct listener *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return UV_ENOMEM;
	s->loop = loop;
	s->d = d;
	s->cfg = *cfg;
	s->high_water = d->cfg.clients.output_high_water;
	s->hard_limit = d->cfg.clients.output_hard_limit;
	s->soft_limit = d->cfg.clients.output_soft_limit;
	s->soft_ms = (uint64_t)d->cfg.clients.output_soft_seconds * 1000;
	if (!s->high_water) /* a zeroed config; a loaded one always has it */
		s->high_water = 1024 * 1024;
	if (cfg->unix_path && *cfg->unix_path && !(s->unix_path = strdup(cfg->unix_path))) {
		free(s);
		return UV_ENOMEM;
	}
	uv_timer_init(loop, &s->soft_timer);
	s->soft_timer.data = s;
	s->handles_open++;
	uv_idle_init(loop, &s->resume);
	s->resume.data = s;
	s->handles_open++;
	if ((r = listen_tcp(s)) < 0 || (s->unix_path && (r = listen_unix(s)) < 0)) {
		listener_close(s);
		return r;
	}
	*ret = s;
	return 0;
}

int listener_port(const struct listener *s)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

void listener_close(struct listener *s)
{
	if (!s || s->closing)
		return;
	s->closing = true;
	for (struct client *c = s->clients; c; c = c->next)
		client_close(c);
	uv_close((uv_handle_t *)&s->soft_timer, listener_close_cb);
	uv_close((uv_handle_t *)&s->resume, listener_close_cb);
	if (s->have_tcp)
		uv_close((uv_handle_t *)&s->tcp, listener_close_cb);
	if (s->have_pipe) {
		uv_close((uv_handle_t *)&s->pipe, listener_close_cb);
		unlink(s->unix_path);
	}
	server_maybe_free(s);
}

void server_get_stats(const struct listener *s, struct server_stats *ret)
{
	struct server_stats st = { 0 };

	for (const struct client *c = s ? s->clients : NULL; c; c = c->next) {
		size_t n = client_unsent(c);
		st.paused += c->paused;
		st.unsent_bytes += n;
		if (n > st.max_unsent)
			st.max_unsent = n;
	}
	*ret = st;
}

int listener_foreach_client(struct listener *s, listener_client_cb fn, void *ctx)
{
	uint64_t now = s ? uv_now(s->loop) : 0;

	for (struct client *c = s ? s->clients : NULL; c; c = c->next) {
		struct listener_client_info ci = { .sess = &c->sess };
		uv_os_fd_t fd;
		int r;

		if (c->closing)
			continue;
		ci.fd = uv_fileno(&c->h.handle, &fd) == 0 ? (int)fd : -1;
		ci.age_s = (now - c->created_ms) / 1000;
		ci.idle_s = (now - c->active_ms) / 1000;
		ci.qbuf = c->in.len;
		ci.qbuf_free = c->in.cap - c->in.len;
		ci.out_bytes = c->out.len;
		ci.unsent = client_unsent(c);
		ci.mem = sizeof(*c) + c->in.cap + c->out.cap + c->inflight.cap;
		ci.unix_socket = c->h.handle.type != UV_TCP;
		ci.reading = c->reading;
		ci.writing = c->writing;
		if ((r = fn(&ci, ctx)) != 0)
			return r;
	}
	return 0;
}

int listener_kill_client(struct listener *s, uint64_t id)
{
	for (struct client *c = s ? s->clients : NULL; c; c = c->next) {
		if (c->sess.id == id && !c->closing) {
			log_info("client", "client %s (id %llu): CLIENT KILL, closing the connection",
				 c->sess.addr, (unsigned long long)id);
			client_close(c);
			return 0;
		}
	}
	return -ENOENT;
}
