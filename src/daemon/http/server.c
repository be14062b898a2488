/* The HTTP listener: accepts, reads one request through http/request.c,
 * routes it, writes the answer and closes; every connection has a timer
 * bounding how long its request may take to arrive.  It also drives the
 * store's census (http/census.h) that the pages show: a page starts the
 * next one, which counts CENSUS_SLICE names a loop pass. */
#include "http/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "http/collect.h"
#include "http/metrics.h"
#include "http/request.h"
#include "http/status.h"
#include "log.h"

#define HTTP_READ_CHUNK 4096
#define HTTP_REPLY_MAX (64u << 20) /* a page past this is answered 500 */
/* Names the census counts a loop pass: about 1 ms at 0.8 us a name. */
#define CENSUS_SLICE 1024
/* A store this small is counted whole, at once, when a page is asked for. */
#define CENSUS_AT_ONCE 2048

struct http_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wr;
	struct http_server *srv;
	struct http_conn *prev, *next;
	struct http_request req;
	struct crdt_buf out;
	int handles;      /* open handles; the conn is freed when both closed */
	bool closing, answered;
	char rbuf[HTTP_READ_CHUNK];
};

struct http_server {
	uv_loop_t *loop;
	struct daemon *d;
	struct http_server_config cfg;
	uv_tcp_t tcp;
	struct http_conn *conns;
	struct http_stats stats;
	uv_idle_t idle;  /* the census's steps */
	struct census census;
	int handles;     /* tcp and idle: freed when both are closed */
	bool closing;
};

static void conn_handle_closed_cb(uv_handle_t *h)
{
	struct http_conn *c = h->data;

	if (--c->handles > 0)
		return;
	crdt_buf_done(&c->out);
	free(c);
}

static void conn_close(struct http_conn *c)
{
	struct http_server *s = c->srv;

	if (c->closing)
		return;
	c->closing = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->stats.open--;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed_cb);
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed_cb);
}

static void write_cb(uv_write_t *wr, int status)
{
	conn_close(wr->data);
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/* Send @status with @body (@len bytes; left out for HEAD), then close. */
static void answer(struct http_conn *c, int status, const char *type, const char *extra,
		   const void *body, size_t len)
{
	struct http_server *s = c->srv;
	char head[512];
	int n, i;

	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_timer_stop(&c->timer);
	c->answered = true;
	if ((i = http_status_index(status)) >= 0)
		s->stats.responses[i]++;
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
		     status, reason(status), type, len, extra ? extra : "");
	crdt_buf_reset(&c->out);
	crdt_buf_put(&c->out, head, (size_t)n);
	if (!c->req.head)
		crdt_buf_put(&c->out, body, len);
	if (c->out.err) {
		conn_close(c);
		return;
	}
	uv_buf_t buf = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
	c->wr.data = c;
	if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &buf, 1, write_cb) < 0)
		conn_close(c);
}

static void answer_text(struct http_conn *c, int status, const char *text)
{
	answer(c, status, "text/plain; charset=utf-8", NULL, text, strlen(text));
}

static void census_cb(uv_idle_t *h)
{
	struct http_server *s = h->data;

	if (census_step(&s->census, &s->d->store, CENSUS_SLICE, uv_now(s->loop)) ||
	    !s->census.running)
		uv_idle_stop(h);
}

/* The census a page shows (NULL: none finished yet), and the next one
 * begun: a small store is counted now, a large one a slice a loop pass. */
static const struct census_result *census_for_page(struct http_server *s)
{
	const struct store *st = &s->d->store;

	s->census.journal = s->d->journal;
	if (st->len <= CENSUS_AT_ONCE) {
		census_start(&s->census, st);
		if (census_step(&s->census, st, SIZE_MAX, uv_now(s->loop)))
			uv_idle_stop(&s->idle);
		else /* its table is being rehashed */
			uv_idle_start(&s->idle, census_cb);
	} else if (!s->census.running) {
		census_start(&s->census, st);
		uv_idle_start(&s->idle, census_cb);
	}
	return s->census.have_last ? &s->census.last : NULL;
}

/* A rendered page into the answer; 500 if the page did not fit in memory. */
static void answer_page(struct http_conn *c, int status, const char *type,
			void (*render)(const struct snapshot *, struct crdt_buf *))
{
	struct http_server *s = c->srv;
	struct collected col;
	struct crdt_buf page;

	crdt_buf_init(&page, HTTP_REPLY_MAX);
	if (collect_take(s->d, &s->stats, census_for_page(s), &col) < 0) {
		answer_text(c, 500, "out of memory\n");
		crdt_buf_done(&page);
		return;
	}
	render(&col.s, &page);
	if (page.err)
		answer_text(c, 500, "out of memory\n");
	else
		answer(c, status, type, NULL, page.data, page.len);
	collect_done(&col);
	crdt_buf_done(&page);
}

static void route(struct http_conn *c)
{
	struct daemon *d = c->srv->d;
	const char *path = http_request_path(&c->req);
	char why[256], body[300];

	if (d->cfg.node.requirepass[0] && !http_request_bearer_is(&c->req, d->cfg.node.requirepass)) {
		static const char msg[] = "authorization required: Bearer <requirepass>\n";
		answer(c, 401, "text/plain; charset=utf-8",
		       "WWW-Authenticate: Bearer realm=\"crdtd\"\r\n", msg, sizeof(msg) - 1);
		return;
	}
	if (!strcmp(path, "/metrics")) {
		answer_page(c, 200, "text/plain; version=0.0.4; charset=utf-8", metrics_render);
	} else if (!strcmp(path, "/status") || !strcmp(path, "/")) {
		answer_page(c, 200, "text/html; charset=utf-8", status_render);
	} else if (!strcmp(path, "/healthz")) {
		if (collect_health(d, why, sizeof(why))) {
			answer_text(c, 200, "ok\n");
		} else {
			snprintf(body, sizeof(body), "%s\n", why);
			answer_text(c, 503, body);
		}
	} else {
		answer_text(c, 404, "not found: try /metrics, /status or /healthz\n");
	}
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct http_conn *c = h->data;

	*buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct http_conn *c = st->data;
	int r;

	if (nread == 0)
		return;
	if (nread < 0) {
		c->srv->stats.read_errors++;
		conn_close(c);
		return;
	}
	r = http_request_feed(&c->req, buf->base, (size_t)nread);
	if (r == HTTP_REQ_MORE)
		return;
	if (r == HTTP_REQ_DONE) {
		route(c);
		return;
	}
	switch (r) {
	case HTTP_REQ_METHOD: answer_text(c, r, "only GET and HEAD\n"); break;
	case HTTP_REQ_BODY: answer_text(c, r, "requests with a body are refused\n"); break;
	case HTTP_REQ_URI_TOO_LONG: answer_text(c, r, "URI too long\n"); break;
	case HTTP_REQ_HEADERS_TOO_LARGE: answer_text(c, r, "request headers too large\n"); break;
	default: answer_text(c, 400, "bad request\n");
	}
}

static void timeout_cb(uv_timer_t *t)
{
	struct http_conn *c = t->data;

	c->srv->stats.header_timeouts++;
	conn_close(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct http_server *s = listener->data;
	struct http_conn *c;

	if (status < 0 || !(c = calloc(1, sizeof(*c))))
		return;
	c->srv = s;
	if (uv_tcp_init(s->loop, &c->tcp) < 0) {
		free(c);
		return;
	}
	uv_timer_init(s->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->handles = 2;
	crdt_buf_init(&c->out, HTTP_REPLY_MAX + 1024);
	http_request_init(&c->req, s->cfg.max_header_bytes);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->stats.open++;
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c);
		return;
	}
	s->stats.connections++;
	if (s->stats.open > s->cfg.max_connections) {
		s->stats.over_max_connections++;
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_timer_start(&c->timer, timeout_cb, s->cfg.header_timeout_ms, 0);
	if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) < 0)
		conn_close(c);
}

int http_server_start(uv_loop_t *loop, struct daemon *d, const struct http_server_config *cfg,
		      struct http_server **ret)
{
	struct sockaddr_storage ss;
	struct http_server *s;
	int r;

	r = uv_ip4_addr(cfg->host, cfg->port, (struct sockaddr_in *)&ss);
	if (r < 0)
		r = uv_ip6_addr(cfg->host, cfg->port, (struct sockaddr_in6 *)&ss);
	if (r < 0) {
		log_error("http", "[http] listen '%s' is not an IP address", cfg->host);
		return r;
	}
	if (!(s = calloc(1, sizeof(*s))))
		return UV_ENOMEM;
	s->loop = loop;
	s->d = d;
	s->cfg = *cfg;
	if ((r = uv_tcp_init(loop, &s->tcp)) < 0) {
		free(s);
		return r;
	}
	uv_idle_init(loop, &s->idle);
	s->tcp.data = s->idle.data = s;
	s->handles = 2;
	if ((r = uv_tcp_bind(&s->tcp, (struct sockaddr *)&ss, 0)) < 0 ||
	    (r = uv_listen((uv_stream_t *)&s->tcp, 128, on_connection)) < 0) {
		log_error("http", "listen on %s:%u: %s", cfg->host, cfg->port, uv_strerror(r));
		http_server_close(s);
		return r;
	}
	log_info("http", "serving /metrics, /status and /healthz on %s:%u%s", cfg->host, cfg->port,
		 d->cfg.node.requirepass[0] ? " (bearer token required)" : "");
	*ret = s;
	return 0;
}

const struct http_stats *http_server_stats(const struct http_server *s)
{
	return &s->stats;
}

static void server_closed_cb(uv_handle_t *h)
{
	struct http_server *s = h->data;

	if (--s->handles == 0)
		free(s);
}

void http_server_close(struct http_server *s)
{
	if (!s || s->closing)
		return;
	s->closing = true;
	while (s->conns)
		conn_close(s->conns);
	uv_close((uv_handle_t *)&s->tcp, server_closed_cb);
	uv_close((uv_handle_t *)&s->idle, server_closed_cb);
}
