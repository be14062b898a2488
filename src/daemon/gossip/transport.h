/* The datagram sender/receiver gossip talks through.
 *
 * Gossip never touches a socket: it calls ops->send() and is called back
 * through recv_cb.  The real implementation (transport_udp_new) is a libuv
 * UDP socket; tests plug in an in-memory network that drops, duplicates and
 * reorders, and the simulation shim of a later issue wraps another transport
 * the same way (raft's lesson).
 *
 * Addresses handed up are normalised: an IPv4-mapped IPv6 sender arrives as
 * a plain AF_INET address, so it compares equal to the peer's resolved
 * address.
 */
#ifndef CRDTD_TRANSPORT_H
#define CRDTD_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Only transport_udp_new needs the loop: the interface itself reaches no
 * libuv, so the gossip core can use it. */
struct uv_loop_s;

struct transport;

/** One received datagram, valid only during the call.  @truncated: the
 * datagram was larger than the receive buffer (UV_UDP_PARTIAL) and @buf holds
 * only its start; the receiver drops it. */
typedef void (*transport_recv_cb)(void *ctx, const uint8_t *buf, size_t len,
				  const struct sockaddr *from, bool truncated);

/** One datagram of a send_many batch. */
struct transport_dgram {
	const void *buf;
	size_t len;
};

struct transport_ops {
	/** Send one datagram to @to.  @buf is the caller's and only needs to
	 * live during the call: an implementation that queues copies it.
	 * 0, or a negative errno (the datagram is not sent). */
	int (*send)(struct transport *t, const void *buf, size_t len, const struct sockaddr *to);
	/** Begin delivering datagrams to t->recv_cb.  0 or a negative errno. */
	int (*start)(struct transport *t);
	/** The bound local address into *ret.  0 or a negative errno. */
	int (*local_addr)(struct transport *t, struct sockaddr_storage *ret);
	/** Stop receiving and release everything; @t is freed (possibly later,
	 * from a close callback).  No callback is made after this returns. */
	void (*close)(struct transport *t);
	/** Optional (NULL: the caller sends to each): the same datagram to each
	 * of @n addresses @to, in as few calls as the implementation can make
	 * (sendmmsg), in that order, as send would each; ret[i] is what send
	 * would have returned for to[i]. */
	void (*send_each)(struct transport *t, const void *buf, size_t len,
			  const struct sockaddr *const *to, size_t n, int *ret);
	/** Optional (NULL: the caller sends each): the @n datagrams @v to one
	 * address @to, in that order, in as few calls as the implementation
	 * can make (sendmmsg); ret[i] is what send would have returned for
	 * v[i].  The buffers only need to live during the call. */
	void (*send_many)(struct transport *t, const struct transport_dgram *v, size_t n,
			  const struct sockaddr *to, int *ret);
};

/** Counted by the implementation, read by gossip for INFO. */
struct transport_stats {
	uint64_t send_errors;  /* failed after being queued (send callback) */
	uint64_t queued;       /* datagrams that had to wait (EAGAIN) */
	uint64_t queue_full;   /* refused: too many bytes already waiting */
	uint64_t recv_errors;  /* errors reported by the socket */
	uint64_t recv_held;    /* read past a pass's receive budget, delivered in a later pass */
	size_t queued_bytes;   /* waiting now */
	int rcvbuf, sndbuf;    /* effective socket buffer sizes, 0 if unknown */
};

struct transport {
	const struct transport_ops *ops;
	transport_recv_cb recv_cb; /* set by the user before start */
	void *recv_ctx;
	struct transport_stats stats;
};

/* Bytes of datagrams that may wait in the UDP send queue before send
 * refuses more with -ENOBUFS. */
#define TRANSPORT_QUEUE_MAX (8u << 20)
/* Receive buffer: one datagram of the largest size UDP allows, and room for
 * this many of them for recvmmsg. */
#define TRANSPORT_RECV_CHUNK 65536
#define TRANSPORT_RECV_CHUNKS 8
/* What the receive callbacks of one loop pass may take (µs of wall time,
 * from one poll's start to the next): libuv reads up to 32 datagrams a
 * readable event, and at a million names 30 DELTAs are 1.7 ms.  Past it,
 * the rest of the batch already read is held and the socket is not read
 * again until they are delivered, each later pass within the budget (the
 * kernel's receive buffer queues what comes meanwhile).  A pass
 * that begins with none of it spent delivers at least one datagram. */
#define TRANSPORT_RECV_BUDGET_US 500

/** A UDP socket bound to @host (an IP literal, or a name resolved now,
 * synchronously: this runs at start-up) and @port (0: any free port; read it
 * back with ops->local_addr).  @rcvbuf / @sndbuf: socket buffer sizes to ask
 * for (0: leave the system default); SO_RCVBUFFORCE/SO_SNDBUFFORCE are tried
 * first (they pass net.core.rmem_max when we have CAP_NET_ADMIN), then the
 * plain options; the effective sizes are read back, logged and kept in
 * stats.  On success *ret is a new transport, freed by ops->close.
 * -EINVAL for a bad host, libuv errors as negative errno. */
int transport_udp_new(struct uv_loop_s *loop, const char *host, uint16_t port, int rcvbuf,
		      int sndbuf, struct transport **ret);

/** Normalise @sa in place: an IPv4-mapped IPv6 address becomes AF_INET. */
void transport_addr_normalize(struct sockaddr_storage *sa);
/** True when both are the same family, address and port. */
bool transport_addr_equal(const struct sockaddr *a, const struct sockaddr *b);
/** "1.2.3.4:5" or "[::1]:5" into @out (NUL-terminated, cut to @size). */
void transport_addr_format(const struct sockaddr *sa, char *out, size_t size);
/** Port of an AF_INET/AF_INET6 address, 0 otherwise. */
uint16_t transport_addr_port(const struct sockaddr *sa);

#endif
