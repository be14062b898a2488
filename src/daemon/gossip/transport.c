/* The UDP transport: one libuv socket behind the transport interface that
 * gossip sends through (the shim is another implementation of it). */
#define _GNU_SOURCE /* sendmmsg */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <uv.h>

#include "log.h"
#include "gossip/transport.h"

/* A datagram read past the pass's budget: its bytes stay in rbuf, which is
 * not lent again before it is delivered. */
struct udp_held {
	const uint8_t *buf;
	size_t len;
	struct sockaddr_storage from;
	bool truncated;
};

struct udp {
	struct transport t; /* first: the ops receive &udp->t */
	uv_udp_t handle;
	uv_prepare_t pass_start; /* the receive budget starts again */
	uv_idle_t drain;     /* delivers what was held, a budget a pass */
	int open;            /* handles not closed yet */
	int family; /* of the socket */
	uint8_t *rbuf; /* TRANSPORT_RECV_CHUNKS * TRANSPORT_RECV_CHUNK */
	size_t rlen;
	bool in_alloc; /* rbuf lent to libuv */
	bool reading;  /* uv_udp_recv_start in effect */
	uint64_t spent_ns; /* in receive callbacks since the last poll began */
	struct udp_held held[TRANSPORT_RECV_CHUNKS]; /* at most one batch */
	size_t nheld, next_held;
};

/* A datagram that had to wait for the socket: the copy lives until the send
 * callback. */
struct udp_send {
	uv_udp_send_t req;
	struct udp *u;
	size_t len;
	uint8_t data[];
};

/* ---- addresses --------------------------------------------------------- */

void transport_addr_normalize(struct sockaddr_storage *sa)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
	struct sockaddr_in s4;

	if (sa->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	memset(sa, 0, sizeof(*sa));
	memcpy(sa, &s4, sizeof(s4));
}

bool transport_addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) &&
		       x->sin6_scope_id == y->sin6_scope_id;
	}
	return false;
}

uint16_t transport_addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	return 0;
}

void transport_addr_format(const struct sockaddr *sa, char *out, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		uv_ip4_name((const struct sockaddr_in *)(const void *)sa, ip, sizeof(ip));
		snprintf(out, size, "%s:%u", ip, transport_addr_port(sa));
	} else if (sa->sa_family == AF_INET6) {
		uv_ip6_name((const struct sockaddr_in6 *)(const void *)sa, ip, sizeof(ip));
		snprintf(out, size, "[%s]:%u", ip, transport_addr_port(sa));
	} else {
		snprintf(out, size, "?");
	}
}

/* ---- UDP --------------------------------------------------------------- */

static struct udp *udp_of(struct transport *t)
{
	return (struct udp *)t;
}

/* Put @to in the socket's family: an AF_INET peer on a dual-stack IPv6
 * socket goes out as an IPv4-mapped address. */
static int udp_dest(const struct udp *u, const struct sockaddr *to, struct sockaddr_storage *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (to->sa_family == u->family) {
		memcpy(ret, to, to->sa_family == AF_INET ? sizeof(struct sockaddr_in)
							 : sizeof(struct sockaddr_in6));
		return 0;
	}
	if (to->sa_family == AF_INET && u->family == AF_INET6) {
		const struct sockaddr_in *s4 = (const void *)to;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ret;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = s4->sin_port;
		s6->sin6_addr.s6_addr[10] = 0xff;
		s6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&s6->sin6_addr.s6_addr[12], &s4->sin_addr, 4);
		return 0;
	}
	return -EAFNOSUPPORT;
}

static void udp_send_cb(uv_udp_send_t *req, int status)
{
	struct udp_send *s = req->data;

	s->u->t.stats.queued_bytes -= s->len;
	if (status < 0 && status != UV_ECANCELED) {
		s->u->t.stats.send_errors++;
		log_debug("transport", "send: %s", uv_strerror(status));
	}
	free(s);
}

static int udp_send(struct transport *t, const void *buf, size_t len, const struct sockaddr *to)
{
	struct udp *u = udp_of(t);
	struct sockaddr_storage dst;
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	struct udp_send *s;
	int r;

	if ((r = udp_dest(u, to, &dst)) < 0)
		return r;
	/* Most datagrams leave at once, without a copy; uv_udp_try_send
	 * refuses with EAGAIN while older ones still wait, keeping the order. */
	r = uv_udp_try_send(&u->handle, &b, 1, (const struct sockaddr *)&dst);
	if (r >= 0)
		return 0;
	if (r != UV_EAGAIN && r != UV_ENOSYS)
		return r;
	if (t->stats.queued_bytes + len > TRANSPORT_QUEUE_MAX) {
		t->stats.queue_full++;
		return -ENOBUFS;
	}
	if (!(s = malloc(sizeof(*s) + len)))
		return -ENOMEM;
	s->u = u;
	s->len = len;
	memcpy(s->data, buf, len);
	s->req.data = s;
	b = uv_buf_init((char *)s->data, (unsigned)len);
	if ((r = uv_udp_send(&s->req, &u->handle, &b, 1, (const struct sockaddr *)&dst,
			     udp_send_cb)) < 0) {
		free(s);
		return r;
	}
	t->stats.queued++;
	t->stats.queued_bytes += len;
	return 0;
}

/* Most datagrams one sendmmsg takes. */
#define SENDMMSG_MAX 32

/* Datagram k of a batch: v[k] to to[k], where a batch of one datagram to
 * several addresses (send_each) has nv 1 and one of several datagrams to
 * one address (send_many) has nto 1.  Each goes as send would send it,
 * in order, in as few sendmmsg calls as the socket takes; ret[k] is what
 * send would have returned. */
static void udp_batch(struct transport *t, const struct transport_dgram *v, size_t nv,
		      const struct sockaddr *const *to, size_t nto, size_t n, int *ret)
{
	struct udp *u = udp_of(t);
	struct sockaddr_storage dst[SENDMMSG_MAX];
	struct mmsghdr m[SENDMMSG_MAX];
	struct iovec iov[SENDMMSG_MAX];
	uv_os_fd_t fd;
	size_t i = 0;

#define DGRAM(k) (&v[nv == 1 ? 0 : (k)])
#define TO(k) (to[nto == 1 ? 0 : (k)])
	while (i < n) {
		size_t k = 0;
		int r;
		/* while older datagrams wait in libuv's queue, these queue
		 * behind them (udp_send), keeping the order */
		if (t->stats.queued_bytes || uv_fileno((const uv_handle_t *)&u->handle, &fd) < 0) {
			ret[i] = udp_send(t, DGRAM(i)->buf, DGRAM(i)->len, TO(i));
			i++;
			continue;
		}
		for (; k < SENDMMSG_MAX && i + k < n; k++) {
			if ((ret[i + k] = udp_dest(u, TO(i + k), &dst[k])) < 0)
				break;
			iov[k] = (struct iovec){ .iov_base = (void *)DGRAM(i + k)->buf,
						 .iov_len = DGRAM(i + k)->len };
			m[k] = (struct mmsghdr){
				.msg_hdr = { .msg_name = &dst[k],
					     .msg_namelen = dst[k].ss_family == AF_INET
								    ? sizeof(struct sockaddr_in)
								    : sizeof(struct sockaddr_in6),
					     .msg_iov = &iov[k],
					     .msg_iovlen = 1 } };
		}
		if (k == 0) { /* ret[i] holds udp_dest's error */
			i++;
			continue;
		}
		do
			r = sendmmsg(fd, m, (unsigned)k, 0);
		while (r < 0 && errno == EINTR);
		if (r <= 0) {
			/* the first could not go now: as one send, which queues
			 * it on EAGAIN or says the error */
			ret[i] = udp_send(t, DGRAM(i)->buf, DGRAM(i)->len, TO(i));
			i++;
			continue;
		}
		for (int j = 0; j < r; j++)
			ret[i + (size_t)j] = 0;
		i += (size_t)r;
	}
#undef DGRAM
#undef TO
}

static void udp_send_each(struct transport *t, const void *buf, size_t len,
			  const struct sockaddr *const *to, size_t n, int *ret)
{
	const struct transport_dgram d = { buf, len };

	udp_batch(t, &d, 1, to, n, n, ret);
}

static void udp_send_many(struct transport *t, const struct transport_dgram *v, size_t n,
			  const struct sockaddr *to, int *ret)
{
	udp_batch(t, v, n, &to, 1, n, ret);
}

static void udp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct udp *u = h->data;

	/* One buffer, lent to libuv for one read at a time (the loop is
	 * single-threaded): several 64 KiB chunks for recvmmsg. */
	if (u->in_alloc) {
		*buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
		return;
	}
	u->in_alloc = true;
	*buf = uv_buf_init((char *)u->rbuf, (unsigned)u->rlen);
}

/* One datagram to the user, its time counted against the pass's budget. */
static void deliver(struct udp *u, const uint8_t *buf, size_t len,
		    const struct sockaddr_storage *from, bool truncated)
{
	uint64_t t0 = uv_hrtime();

	if (u->t.recv_cb)
		u->t.recv_cb(u->t.recv_ctx, buf, len, (const struct sockaddr *)from, truncated);
	u->spent_ns += uv_hrtime() - t0;
}

static bool budget_spent(const struct udp *u)
{
	return u->spent_ns >= (uint64_t)TRANSPORT_RECV_BUDGET_US * 1000;
}

static void udp_recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
			const struct sockaddr *addr, unsigned flags);

/* Held datagrams are delivered in order while the pass's budget lasts (a
 * pass that begins with none spent delivers at least one); once none is
 * left the socket is read again. */
static void drain_cb(uv_idle_t *h)
{
	struct udp *u = h->data;

	while (u->next_held < u->nheld && !budget_spent(u)) {
		struct udp_held *d = &u->held[u->next_held++];
		deliver(u, d->buf, d->len, &d->from, d->truncated);
	}
	if (u->next_held < u->nheld)
		return;
	u->nheld = u->next_held = 0;
	uv_idle_stop(&u->drain);
	if (u->t.recv_cb && !u->reading &&
	    uv_udp_recv_start(&u->handle, udp_alloc_cb, udp_recv_cb) == 0)
		u->reading = true;
}

/* Before each poll: a pass, as INFO's loop_* figures count them (from one
 * poll to the next), begins. */
static void pass_start_cb(uv_prepare_t *h)
{
	struct udp *u = h->data;

	u->spent_ns = 0;
}

/* libuv hands the buffer back at the end of a batch: the socket is read no
 * more while datagrams of it are held (recvmmsg's other chunks are still
 * delivered before libuv looks at the stop). */
static void batch_end(struct udp *u)
{
	if (!u->nheld || !u->reading)
		return;
	uv_udp_recv_stop(&u->handle);
	u->reading = false;
	uv_idle_start(&u->drain, drain_cb);
}

static void udp_recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
			const struct sockaddr *addr, unsigned flags)
{
	struct udp *u = h->data;
	struct sockaddr_storage from;
	bool truncated = (flags & UV_UDP_PARTIAL) != 0;

	/* With recvmmsg each datagram comes as a chunk of the buffer, and a last
	 * call (MMSG_FREE) hands the buffer back; without it, every call does. */
	if (nread < 0) {
		u->t.stats.recv_errors++;
		log_warn("transport", "receive: %s", uv_strerror((int)nread));
	} else if (addr) {
		memset(&from, 0, sizeof(from));
		memcpy(&from, addr,
		       addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						   : sizeof(struct sockaddr_in));
		transport_addr_normalize(&from);
		/* held behind the ones held before, in order; the array holds a
		 * batch, and reading stops at its end, so it is never full here
		 * (if it were, the datagram would go now, out of order, not be
		 * lost) */
		if ((u->nheld || budget_spent(u)) && u->nheld < TRANSPORT_RECV_CHUNKS) {
			u->held[u->nheld++] = (struct udp_held){ (const uint8_t *)buf->base,
								 (size_t)nread, from, truncated };
			u->t.stats.recv_held++;
		} else {
			deliver(u, (const uint8_t *)buf->base, (size_t)nread, &from, truncated);
		}
	} /* else nothing more to read (nread == 0), or the MMSG_FREE call */
	if (!(flags & UV_UDP_MMSG_CHUNK)) {
		u->in_alloc = false;
		batch_end(u);
	}
}

static int udp_start(struct transport *t)
{
	struct udp *u = udp_of(t);
	int r;

	if ((r = uv_prepare_start(&u->pass_start, pass_start_cb)) < 0 ||
	    (r = uv_udp_recv_start(&u->handle, udp_alloc_cb, udp_recv_cb)) < 0)
		return r;
	u->reading = true;
	return 0;
}

static int udp_local_addr(struct transport *t, struct sockaddr_storage *ret)
{
	struct udp *u = udp_of(t);
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	int r;

	if ((r = uv_udp_getsockname(&u->handle, (struct sockaddr *)&ss, &len)) < 0)
		return r;
	*ret = ss;
	return 0;
}

static void udp_close_cb(uv_handle_t *h)
{
	struct udp *u = h->data;

	if (--u->open > 0)
		return;
	free(u->rbuf);
	free(u);
}

static void udp_close(struct transport *t)
{
	struct udp *u = udp_of(t);

	if (!t)
		return;
	u->t.recv_cb = NULL; /* held datagrams are dropped */
	/* pending sends complete with UV_ECANCELED before the close callback */
	uv_close((uv_handle_t *)&u->handle, udp_close_cb);
	uv_close((uv_handle_t *)&u->pass_start, udp_close_cb);
	uv_close((uv_handle_t *)&u->drain, udp_close_cb);
}

static const struct transport_ops udp_ops = {
	.send = udp_send,
	.start = udp_start,
	.local_addr = udp_local_addr,
	.close = udp_close,
	.send_each = udp_send_each,
	.send_many = udp_send_many,
};

/* Ask for @want bytes of socket buffer, by force first (past the sysctl cap,
 * needs CAP_NET_ADMIN), then politely; return what the kernel gives. */
static int set_buf(int fd, int force_opt, int opt, int want, const char *what)
{
	int got = 0;
	socklen_t glen = sizeof(got);

	if (want > 0) {
		bool ok = false;
#ifdef SO_RCVBUFFORCE
		ok = setsockopt(fd, SOL_SOCKET, force_opt, &want, sizeof(want)) == 0;
#else
		(void)force_opt;
#endif
		if (!ok && setsockopt(fd, SOL_SOCKET, opt, &want, sizeof(want)) < 0)
			log_warn("transport", "%s %d: %s", what, want, strerror(errno));
	}
	if (getsockopt(fd, SOL_SOCKET, opt, &got, &glen) < 0)
		return 0;
	/* Linux reports twice the size asked for (it counts its bookkeeping),
	 * capped by net.core.{r,w}mem_max unless forced. */
	if (want > 0 && got < want)
		log_warn("transport",
			 "%s: asked for %d bytes, got %d (raise net.core.%s or run with "
			 "CAP_NET_ADMIN)",
			 what, want, got, opt == SO_RCVBUF ? "rmem_max" : "wmem_max");
	else
		log_info("transport", "%s: %d bytes", what, got);
	return got;
}

static int resolve_bind(uv_loop_t *loop, const char *host, uint16_t port,
			struct sockaddr_storage *ret)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM };
	uv_getaddrinfo_t req;
	char sport[8];
	int r;

	memset(ret, 0, sizeof(*ret));
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)ret) == 0 ||
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)ret) == 0)
		return 0;
	snprintf(sport, sizeof(sport), "%u", port);
	/* start-up only: a synchronous lookup (no callback) is fine here */
	if ((r = uv_getaddrinfo(loop, &req, NULL, host, sport, &hints)) < 0)
		return r;
	memcpy(ret, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
	uv_freeaddrinfo(req.addrinfo);
	return 0;
}

int transport_udp_new(uv_loop_t *loop, const char *host, uint16_t port, int rcvbuf, int sndbuf,
		      struct transport **ret)
{
	struct sockaddr_storage addr;
	struct udp *u;
	uv_os_fd_t fd;
	char name[INET6_ADDRSTRLEN + 8];
	int r;

	if (!host || !*host)
		return -EINVAL;
	if ((r = resolve_bind(loop, host, port, &addr)) < 0) {
		log_error("transport", "listen address %s: %s", host, uv_strerror(r));
		return r;
	}
	if (!(u = calloc(1, sizeof(*u))))
		return -ENOMEM;
	u->rlen = (size_t)TRANSPORT_RECV_CHUNK * TRANSPORT_RECV_CHUNKS;
	if (!(u->rbuf = malloc(u->rlen))) {
		free(u);
		return -ENOMEM;
	}
	u->t.ops = &udp_ops;
	u->family = addr.ss_family;
	if ((r = uv_udp_init_ex(loop, &u->handle, (unsigned)addr.ss_family | UV_UDP_RECVMMSG)) < 0) {
		free(u->rbuf);
		free(u);
		return r;
	}
	uv_prepare_init(loop, &u->pass_start); /* cannot fail */
	uv_idle_init(loop, &u->drain);
	uv_unref((uv_handle_t *)&u->pass_start);
	u->handle.data = u->pass_start.data = u->drain.data = u;
	u->open = 3;
	/* From here on the handle exists: errors go through uv_close. */
	transport_addr_format((const struct sockaddr *)&addr, name, sizeof(name));
	if ((r = uv_udp_bind(&u->handle, (const struct sockaddr *)&addr, 0)) < 0) {
		log_error("transport", "bind %s: %s", name, uv_strerror(r));
		goto fail;
	}
	if ((r = uv_fileno((uv_handle_t *)&u->handle, &fd)) < 0)
		goto fail;
#ifdef SO_RCVBUFFORCE
	u->t.stats.rcvbuf = set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf, "SO_RCVBUF");
	u->t.stats.sndbuf = set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf, "SO_SNDBUF");
#else
	u->t.stats.rcvbuf = set_buf(fd, 0, SO_RCVBUF, rcvbuf, "SO_RCVBUF");
	u->t.stats.sndbuf = set_buf(fd, 0, SO_SNDBUF, sndbuf, "SO_SNDBUF");
#endif
	log_info("transport", "listening on udp %s%s", name,
		 uv_udp_using_recvmmsg(&u->handle) ? " (recvmmsg)" : "");
	*ret = &u->t;
	return 0;
fail:
	udp_close(&u->t);
	return r;
}
