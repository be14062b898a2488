/* The UDP transport on loopback: send_each hands one datagram to several
 * addresses (sendmmsg) and each gets it whole; an address it cannot send
 * to is refused alone, the others still go.  send_many hands several
 * datagrams to one address, which gets each whole and in order.  A burst
 * read at once is delivered a receive budget a loop pass, whole and in
 * order. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "gossip/transport.h"

/* A plain UDP socket on 127.0.0.1, its address in *ret. */
static int receiver(struct sockaddr_in *ret)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	socklen_t sl = sizeof(*ret);

	assert_true(fd >= 0);
	memset(ret, 0, sizeof(*ret));
	ret->sin_family = AF_INET;
	ret->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)ret, sizeof(*ret)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)ret, &sl), 0);
	return fd;
}

/* The next datagram on @fd within 2 s (a bound, not a timing assertion). */
static ssize_t recv_one(int fd, uint8_t *buf, size_t size)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, 2000) != 1)
		return -1;
	return recv(fd, buf, size, MSG_DONTWAIT);
}

static void test_send_each(void **state)
{
	uv_loop_t loop;
	struct transport *t;
	struct sockaddr_in a[3];
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6, .sin6_port = htons(9) };
	int fd[3], ret[4] = { 1, 1, 1, 1 };
	uint8_t msg[1200], got[2048];

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(transport_udp_new(&loop, "127.0.0.1", 0, 0, 0, &t), 0);
	assert_non_null(t->ops->send_each);
	for (int i = 0; i < 3; i++)
		fd[i] = receiver(&a[i]);
	/* an IPv6 address on an IPv4 socket: refused, alone */
	const struct sockaddr *to[4] = { (struct sockaddr *)&a[0], (struct sockaddr *)&v6,
					 (struct sockaddr *)&a[1], (struct sockaddr *)&a[2] };
	t->ops->send_each(t, msg, sizeof(msg), to, 4, ret);
	assert_int_equal(ret[0], 0);
	assert_int_equal(ret[1], -EAFNOSUPPORT);
	assert_int_equal(ret[2], 0);
	assert_int_equal(ret[3], 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(recv_one(fd[i], got, sizeof(got)), sizeof(msg));
		assert_memory_equal(got, msg, sizeof(msg));
		close(fd[i]);
	}
	t->ops->close(t);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_send_many(void **state)
{
	uv_loop_t loop;
	struct transport *t;
	struct sockaddr_in a;
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6, .sin6_port = htons(9) };
	struct transport_dgram v[40];
	static uint8_t msg[40][1300];
	uint8_t got[2048];
	int fd, ret[40];

	for (size_t i = 0; i < 40; i++) {
		for (size_t k = 0; k < sizeof(msg[i]); k++)
			msg[i][k] = (uint8_t)(i * 31 + k);
		/* lengths differ too: each its own */
		v[i] = (struct transport_dgram){ msg[i], 1000 + 7 * i };
	}
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(transport_udp_new(&loop, "127.0.0.1", 0, 0, 1 << 20, &t), 0);
	assert_non_null(t->ops->send_many);
	fd = receiver(&a);
	/* more than one sendmmsg takes: all, whole, in order */
	for (size_t i = 0; i < 40; i++)
		ret[i] = 1;
	t->ops->send_many(t, v, 40, (struct sockaddr *)&a, ret);
	for (size_t i = 0; i < 40; i++) {
		assert_int_equal(ret[i], 0);
		assert_int_equal(recv_one(fd, got, sizeof(got)), v[i].len);
		assert_memory_equal(got, msg[i], v[i].len);
	}
	/* an address the socket cannot send to: each refused, nothing sent */
	t->ops->send_many(t, v, 3, (struct sockaddr *)&v6, ret);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(ret[i], -EAFNOSUPPORT);
	assert_int_equal(recv(fd, got, sizeof(got), MSG_DONTWAIT), -1);
	close(fd);
	t->ops->close(t);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- the receive budget ------------------------------------------------ */

#define BURST 24
#define SPIN_US 200

struct burst {
	uint64_t pass;          /* loop passes begun (a prepare handle) */
	uint64_t pass_of[2 * BURST];
	uint8_t first[2 * BURST];
	size_t len[2 * BURST];
	size_t got;
};

static void count_pass(uv_prepare_t *h)
{
	((struct burst *)h->data)->pass++;
}

static void tick(uv_timer_t *h)
{
	(void)h; /* keeps the loop's poll short */
}

/* Each datagram takes SPIN_US of wall time, whatever else runs. */
static void slow_recv(void *ctx, const uint8_t *buf, size_t len, const struct sockaddr *from,
		      bool truncated)
{
	struct burst *b = ctx;
	uint64_t t0 = uv_hrtime();

	(void)from;
	assert_false(truncated);
	assert_true(b->got < 2 * BURST);
	b->pass_of[b->got] = b->pass;
	b->first[b->got] = len ? buf[0] : 0;
	b->len[b->got++] = len;
	while (uv_hrtime() - t0 < SPIN_US * 1000)
		;
}

/* @n datagrams of @len bytes from a plain socket, all sent before the loop
 * runs, so that the transport reads them as one burst. */
static void send_burst(int fd, const struct sockaddr_storage *to, size_t from, size_t n)
{
	uint8_t msg[1400];

	for (size_t i = from; i < from + n; i++) {
		memset(msg, (int)i, sizeof(msg));
		assert_int_equal(sendto(fd, msg, 100 + i, 0, (const struct sockaddr *)to,
					sizeof(struct sockaddr_in)),
				 (ssize_t)(100 + i));
	}
}

/* Run the loop until @want datagrams came, bounded in passes and time. */
static void run_until(uv_loop_t *loop, struct burst *b, size_t want)
{
	uint64_t t0 = uv_hrtime();

	while (b->got < want && uv_hrtime() - t0 < 5000000000ULL)
		uv_run(loop, UV_RUN_ONCE);
	assert_int_equal(b->got, want);
}

static void test_recv_budget(void **state)
{
	uv_loop_t loop;
	uv_prepare_t prep;
	uv_timer_t timer;
	struct transport *t;
	struct sockaddr_storage at;
	struct burst b = { 0 };
	size_t per_pass = 0, most = 0;
	int fd;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(transport_udp_new(&loop, "127.0.0.1", 0, 1 << 20, 0, &t), 0);
	assert_int_equal(t->ops->local_addr(t, &at), 0);
	t->recv_cb = slow_recv;
	t->recv_ctx = &b;
	uv_prepare_init(&loop, &prep);
	prep.data = &b;
	uv_prepare_start(&prep, count_pass);
	uv_timer_init(&loop, &timer);
	uv_timer_start(&timer, tick, 10, 10);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);

	/* a burst waiting in the socket before the first read */
	send_burst(fd, &at, 0, BURST);
	assert_int_equal(t->ops->start(t), 0);
	run_until(&loop, &b, BURST);
	/* then another, once reading has resumed */
	send_burst(fd, &at, BURST, BURST);
	run_until(&loop, &b, 2 * BURST);

	for (size_t i = 0; i < 2 * BURST; i++) {
		assert_int_equal(b.len[i], 100 + i); /* whole and in order */
		assert_int_equal(b.first[i], (uint8_t)i);
		per_pass = i && b.pass_of[i] == b.pass_of[i - 1] ? per_pass + 1 : 1;
		if (per_pass > most)
			most = per_pass;
	}
	/* within the budget a pass: one more while less than it is spent */
	assert_true(most <= (TRANSPORT_RECV_BUDGET_US + SPIN_US - 1) / SPIN_US);
	assert_true(t->stats.recv_held > 0);

	close(fd);
	uv_close((uv_handle_t *)&prep, NULL);
	uv_close((uv_handle_t *)&timer, NULL);
	t->ops->close(t);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_send_each),
		cmocka_unit_test(test_send_many),
		cmocka_unit_test(test_recv_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
