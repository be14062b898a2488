/* The gossip shell: the libuv half of gossip (gossip/gossip.h).  It owns the
 * round, push and catch-up timers, the transport and the uv_getaddrinfo requests, and
 * calls the core (gossip/core.h) with the loop's time; it decides nothing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gossip/gossip.h"

struct resolve_req {
	uv_getaddrinfo_t req;
	struct gossip *g;
	struct resolve_req *prev, *next;
	char name[]; /* the peer's: the peer itself may be gone when we return */
};

struct gossip {
	uv_loop_t *loop;
	struct gossip_core *core;
	struct transport *t;
	uv_timer_t round_timer, push_timer, tick_timer;
	uv_check_t flush; /* after each loop pass's I/O: the gathered ACKs */
	/* a tick in the next loop pass: a timer of 0 ms started from a timer
	 * callback would run again in the same pass (libuv 1.44), before any
	 * client's I/O */
	uv_idle_t tick_soon;
	struct resolve_req *reqs;
	int open; /* handles and requests whose callback is still to come */
	bool started, closing;
	/* the longest call into the core (a receive, a round, a push, a sync, a
	 * tick): wall time, and this thread's CPU time (without what other
	 * processes took of the core meanwhile) */
	uint64_t longest_us, longest_cpu_us, cpu0;
	uint64_t cpu0_at; /* when cpu0 was read (wall µs) */
	uint64_t calls_us; /* every call's wall time, in all (gossip_calls_us) */
	/* frees the core's large blocks off the loop (gossip_set_lazyfree) */
	void (*lazyfree)(void *ctx, void *p);
	void *lazyfree_ctx;
};

static uint64_t now_us(void)
{
	return uv_hrtime() / 1000;
}

static uint64_t cpu_us(void)
{
	struct timespec t;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) < 0)
		return 0;
	return (uint64_t)t.tv_sec * 1000000 + (uint64_t)t.tv_nsec / 1000;
}

/* A call into the core begins: returns its wall start.  The CPU clock is
 * a system call (1.5 µs on a loaded VM, 9 % of a catch-up's receiver when
 * read for every datagram), so it is read at most once a millisecond: a
 * call's CPU time is then counted from up to 1 ms before it began, which
 * can add up to that much of the loop's other work. */
static uint64_t timing(struct gossip *g)
{
	uint64_t t0 = now_us();

	if (t0 - g->cpu0_at >= 1000 || !g->cpu0_at) {
		g->cpu0 = cpu_us();
		g->cpu0_at = t0;
	}
	return t0;
}

/* A call into the core that began at @t0 (timing()) just ended.  Its CPU
 * time is at most its wall time (one thread, both truncated to µs), so the
 * CPU clock, a system call, is read again only for a call as long as the
 * longest CPU time so far: a catch-up's receiver makes one call a
 * datagram, and the second read cost it 2 % of its CPU. */
static void timed(struct gossip *g, uint64_t t0)
{
	uint64_t d = now_us() - t0, c;

	g->calls_us += d;
	if (d > g->longest_us)
		g->longest_us = d;
	if (d >= g->longest_cpu_us && (c = cpu_us() - g->cpu0) > g->longest_cpu_us)
		g->longest_cpu_us = c;
}

/* ---- name resolution --------------------------------------------------- */

static void resolve_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct resolve_req *rq = req->data;
	struct gossip *g = rq->g;

	if (rq->prev)
		rq->prev->next = rq->next;
	else
		g->reqs = rq->next;
	if (rq->next)
		rq->next->prev = rq->prev;
	if (!g->closing) {
		if (status < 0 || !res)
			gossip_core_resolved(g->core, rq->name, NULL, 0,
					     status < 0 ? uv_strerror(status) : "no address");
		else
			gossip_core_resolved(g->core, rq->name, res->ai_addr, res->ai_addrlen, NULL);
	}
	uv_freeaddrinfo(res);
	free(rq);
	if (--g->open == 0 && g->closing)
		free(g); /* the last close callback already ran */
}

static uint64_t clock_us(void *ctx)
{
	(void)ctx;
	return now_us();
}

static void push_wanted(void *ctx)
{
	gossip_notify_write(ctx);
}

static void tick_wanted(void *ctx, uint64_t ms);

static void tick(struct gossip *g)
{
	uint64_t t0 = timing(g), due = gossip_core_tick(g->core, uv_now(g->loop));

	timed(g, t0);
	if (due)
		tick_wanted(g, due); /* unless the core asked for one sooner */
}

static void tick_cb(uv_timer_t *t)
{
	tick(t->data);
}

static void tick_soon_cb(uv_idle_t *h)
{
	uv_idle_stop(h);
	tick(h->data);
}

static void tick_wanted(void *ctx, uint64_t ms)
{
	struct gossip *g = ctx;

	if (g->closing)
		return;
	if (ms == 0) {
		uv_idle_start(&g->tick_soon, tick_soon_cb); /* once, whatever the calls */
		return;
	}
	if (uv_is_active((uv_handle_t *)&g->tick_timer) &&
	    uv_timer_get_due_in(&g->tick_timer) <= ms)
		return;
	uv_timer_start(&g->tick_timer, tick_cb, ms, 0);
}

static int resolve(void *ctx, const char *name, const char *host, uint16_t port)
{
	struct gossip *g = ctx;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM };
	struct resolve_req *rq;
	size_t nlen = strlen(name) + 1;
	char portstr[8];
	int r;

	if (g->closing)
		return -ECANCELED;
	if (!(rq = calloc(1, sizeof(*rq) + nlen)))
		return -ENOMEM;
	memcpy(rq->name, name, nlen);
	rq->g = g;
	rq->req.data = rq;
	snprintf(portstr, sizeof(portstr), "%u", port);
	if ((r = uv_getaddrinfo(g->loop, &rq->req, resolve_cb, host, portstr, &hints)) < 0) {
		free(rq);
		return r;
	}
	rq->next = g->reqs;
	if (g->reqs)
		g->reqs->prev = rq;
	g->reqs = rq;
	g->open++;
	return 0;
}

/* ---- timers and datagrams ---------------------------------------------- */

static void round_cb(uv_timer_t *t)
{
	gossip_round(t->data);
}

static void push_cb(uv_timer_t *t)
{
	struct gossip *g = t->data;
	uint64_t t0 = timing(g), due = gossip_core_push(g->core, uv_now(g->loop));

	timed(g, t0);
	if (due)
		uv_timer_start(&g->push_timer, push_cb, due, 0);
}

static void recv_cb(void *ctx, const uint8_t *buf, size_t len, const struct sockaddr *from,
		    bool truncated)
{
	struct gossip *g = ctx;
	uint64_t t0 = timing(g);

	if (!g->closing) {
		gossip_core_recv(g->core, buf, len, from, truncated, uv_now(g->loop), t0);
		timed(g, t0);
	}
}

static void flush_cb(uv_check_t *h)
{
	struct gossip *g = h->data;

	if (!g->closing)
		gossip_core_flush(g->core);
}

void gossip_round(struct gossip *g)
{
	uint64_t t0 = timing(g);

	gossip_core_round(g->core, uv_now(g->loop), t0);
	timed(g, t0);
}

int gossip_sync(struct gossip *g, const char *peer)
{
	uint64_t t0 = timing(g);
	int r = gossip_core_sync(g->core, peer, uv_now(g->loop), now_us());

	timed(g, t0);
	return r;
}

void gossip_notify_write(struct gossip *g)
{
	uint32_t delay;

	if (!g || g->closing || !g->started)
		return;
	delay = gossip_core_push_delay_ms(g->core);
	/* One timer for every write until it fires; a later one (a large
	 * instance's turn) is brought forward. */
	if (uv_is_active((uv_handle_t *)&g->push_timer) &&
	    uv_timer_get_due_in(&g->push_timer) <= delay)
		return;
	uv_timer_start(&g->push_timer, push_cb, delay, 0);
}

static void free_later(void *ctx, void *p)
{
	struct gossip *g = ctx;

	if (g->lazyfree)
		g->lazyfree(g->lazyfree_ctx, p);
	else
		free(p);
}

void gossip_set_lazyfree(struct gossip *g, void (*fn)(void *ctx, void *p), void *ctx)
{
	g->lazyfree = fn;
	g->lazyfree_ctx = ctx;
}

/* ---- lifecycle --------------------------------------------------------- */

int gossip_new_with_transport(uv_loop_t *loop, const struct gossip_config *cfg,
			      struct store *store, struct crdt_hlc *hlc,
			      const struct crdt_rid *self, const char *node_name,
			      struct transport *t, struct gossip **ret)
{
	struct gossip_config c;
	struct gossip_core_io io;
	struct gossip *g;
	int r;

	if (!loop || !cfg || !t)
		return -EINVAL;
	if (!(g = calloc(1, sizeof(*g))))
		return -ENOMEM;
	c = *cfg;
	if (!c.seed && self)
		c.seed = uv_hrtime() ^ ((uint64_t)self->b[0] << 56 | self->b[15]);
	io = (struct gossip_core_io){ .resolve = resolve, .push_wanted = push_wanted,
				      .tick_wanted = tick_wanted, .clock_us = clock_us,
				      .free_later = free_later, .ctx = g };
	if ((r = gossip_core_new(&c, store, hlc, self, node_name, t, &io, &g->core)) < 0) {
		free(g);
		return r;
	}
	/* nothing fails from here on */
	g->loop = loop;
	g->t = t;
	t->recv_cb = recv_cb;
	t->recv_ctx = g;
	uv_timer_init(loop, &g->round_timer);
	uv_timer_init(loop, &g->push_timer);
	uv_timer_init(loop, &g->tick_timer);
	uv_idle_init(loop, &g->tick_soon);
	g->round_timer.data = g;
	g->push_timer.data = g;
	g->tick_timer.data = g;
	uv_check_init(loop, &g->flush);
	g->flush.data = g;
	g->tick_soon.data = g;
	g->open = 5;
	*ret = g;
	return 0;
}

int gossip_new(uv_loop_t *loop, const struct gossip_config *cfg, struct store *store,
	       struct crdt_hlc *hlc, const struct crdt_rid *self, const char *node_name,
	       struct gossip **ret)
{
	struct transport *t;
	int r;

	if (!cfg || !cfg->listen_host)
		return -EINVAL;
	if ((r = transport_udp_new(loop, cfg->listen_host, cfg->listen_port, cfg->rcvbuf,
				   cfg->sndbuf, &t)) < 0)
		return r;
	if ((r = gossip_new_with_transport(loop, cfg, store, hlc, self, node_name, t, ret)) < 0)
		t->ops->close(t);
	return r;
}

int gossip_start(struct gossip *g)
{
	int r;

	if (g->started || g->closing)
		return -EINVAL;
	if ((r = g->t->ops->start(g->t)) < 0)
		return r;
	g->started = true;
	gossip_core_start(g->core);
	uv_check_start(&g->flush, flush_cb);
	uv_timer_start(&g->round_timer, round_cb, 0, gossip_core_interval_ms(g->core));
	return 0;
}

static void close_cb(uv_handle_t *h)
{
	struct gossip *g = h->data;

	if (--g->open == 0)
		free(g);
}

void gossip_close(struct gossip *g)
{
	if (!g || g->closing)
		return;
	g->closing = true;
	/* The writes still queued go now, once, as the push would have a few
	 * milliseconds later: a node stopped right after a write, whose store
	 * is then lost or moved away, leaves them with its peers (best effort:
	 * nothing waits for their ACKs; within one push's budget). */
	if (g->core)
		gossip_core_push(g->core, uv_now(g->loop));
	for (struct resolve_req *rq = g->reqs; rq; rq = rq->next)
		uv_cancel((uv_req_t *)&rq->req); /* its callback still comes */
	gossip_core_free(g->core);
	g->core = NULL;
	if (g->t)
		g->t->ops->close(g->t);
	g->t = NULL;
	uv_close((uv_handle_t *)&g->round_timer, close_cb);
	uv_close((uv_handle_t *)&g->push_timer, close_cb);
	uv_close((uv_handle_t *)&g->tick_timer, close_cb);
	uv_close((uv_handle_t *)&g->flush, close_cb);
	uv_close((uv_handle_t *)&g->tick_soon, close_cb);
}

/* ---- the rest goes straight to the core -------------------------------- */

int gossip_set_peers(struct gossip *g, const struct gossip_peer_config *peers, size_t n)
{
	return gossip_core_set_peers(g->core, peers, n);
}

int gossip_set_keys(struct gossip *g, const struct auth_keyring *kr)
{
	return gossip_core_set_keys(g->core, kr);
}

void gossip_set_policy(struct gossip *g, bool accept_unknown_peers, uint32_t max_peer_dgrams_per_sec,
		       const struct gossip_limits *lim)
{
	gossip_core_set_policy(g->core, accept_unknown_peers, max_peer_dgrams_per_sec, lim);
}

const struct gossip_limits *gossip_get_limits(const struct gossip *g)
{
	return gossip_core_get_limits(g->core);
}

uint64_t gossip_calls_us(const struct gossip *g)
{
	return g ? g->calls_us : 0;
}

void gossip_reset_longest(struct gossip *g)
{
	if (g)
		g->longest_us = g->longest_cpu_us = 0;
}

void gossip_get_stats(const struct gossip *g, struct gossip_stats *ret)
{
	gossip_core_get_stats(g->core, ret);
	ret->longest_call_us = g->longest_us;
	ret->longest_call_cpu_us = g->longest_cpu_us;
}

int gossip_foreach_peer(const struct gossip *g,
			int (*cb)(const struct gossip_peer_info *p, void *ctx), void *ctx)
{
	return gossip_core_foreach_peer(g->core, uv_now(g->loop), cb, ctx);
}

size_t gossip_npeers(const struct gossip *g)
{
	return gossip_core_npeers(g->core);
}

int gossip_local_addr(const struct gossip *g, struct sockaddr_storage *ret)
{
	if (!g->t || !g->t->ops->local_addr)
		return -ENOTSUP;
	return g->t->ops->local_addr(g->t, ret);
}
