/* The client connections (client/listener.c) over real TCP on 127.0.0.1:
 * a listener on a free port in a libuv loop, and a plain socket in the
 * same thread as the client.  The test drives the loop one pass at a time
 * (UV_RUN_ONCE returns after the pass that served the socket), so nothing
 * waits on the clock; a watchdog timer fails the test instead of hanging
 * if an expected event never comes. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/listener.h"
#include "config.h"
#include "daemon.h"
#include "state/store.h"

#define WATCHDOG_MS 10000

struct fx {
	uv_loop_t loop;
	uv_timer_t watchdog;
	int watchdog_fired;
	struct daemon d;
	struct listener *srv;
	int port;
};

static void watchdog_cb(uv_timer_t *t)
{
	struct fx *f = t->data;
	f->watchdog_fired++;
}

static int setup_with(void **state, size_t max_clients)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct listener_config lc = {
		.host = "127.0.0.1",
		.port = 0,
		.max_clients = max_clients,
		.max_query_bytes = 64 * 1024,
		.lim = { .max_bulk = 4096, .max_args = 16, .max_inline = 1024 },
	};

	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->d.loop = &f->loop;
	assert_int_equal(config_defaults(&f->d.cfg), 0);
	crdt_hlc_init(&f->d.hlc, NULL, NULL);
	store_init(&f->d.store);
	assert_int_equal(listener_start(&f->loop, &f->d, &lc, &f->srv), 0);
	f->d.listener = f->srv;
	f->port = listener_port(f->srv);
	assert_true(f->port > 0);
	assert_int_equal(uv_timer_init(&f->loop, &f->watchdog), 0);
	f->watchdog.data = f;
	/* unref'd: the watchdog alone never keeps the loop running */
	uv_unref((uv_handle_t *)&f->watchdog);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, 100);
}

static int setup_one_client(void **state)
{
	return setup_with(state, 1);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	listener_close(f->srv);
	uv_close((uv_handle_t *)&f->watchdog, NULL);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	/* every handle the listener opened was closed and freed */
	assert_int_equal(uv_loop_close(&f->loop), 0);
	assert_int_equal(f->d.clients, 0);
	store_done(&f->d.store);
	config_done(&f->d.cfg);
	free(f);
	return 0;
}

/* One loop pass that blocks until something happens; fails the test when
 * only the watchdog did. */
static void pass(struct fx *f)
{
	uv_timer_start(&f->watchdog, watchdog_cb, WATCHDOG_MS, 0);
	uv_ref((uv_handle_t *)&f->watchdog);
	uv_run(&f->loop, UV_RUN_ONCE);
	uv_unref((uv_handle_t *)&f->watchdog);
	uv_timer_stop(&f->watchdog);
	assert_int_equal(f->watchdog_fired, 0);
}

/* Connect a blocking client socket; the loop accepts it. */
static int client_connect(struct fx *f)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)f->port) };
	uint64_t before = f->d.stats.connections;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* completes from the listen backlog, before the loop accepts */
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	while (f->d.stats.connections == before)
		pass(f);
	assert_int_equal(f->d.stats.connections, before + 1);
	return fd;
}

static void client_send(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

/* Read until @want bytes arrived, running the loop between reads; the
 * bytes in @buf.  Returns how many came (exactly @want, or fails). */
static size_t client_recv(struct fx *f, int fd, char *buf, size_t want)
{
	size_t got = 0;

	while (got < want) {
		ssize_t n = recv(fd, buf + got, want - got, MSG_DONTWAIT);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (!(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
			print_error("recv: %zd (%s) after %zu of %zu bytes: '%.*s'\n", n,
				    n < 0 ? strerror(errno) : "end of stream", got, want, (int)got, buf);
		assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
		pass(f);
	}
	return got;
}

/* After the expected replies: the server closes (recv sees EOF, and not a
 * byte more), and its close callback ran, leaving @others connected. */
static void expect_closed(struct fx *f, int fd, int others)
{
	char extra[64];

	for (;;) {
		ssize_t n = recv(fd, extra, sizeof(extra), MSG_DONTWAIT);
		if (n == 0)
			break;
		assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
		pass(f);
	}
	while (f->d.clients > others)
		pass(f);
	assert_int_equal(f->d.clients, others);
	close(fd);
}

/* The server has nothing more to say on @fd now: a PING's reply is the next
 * thing that arrives.  (A positive proof of "no extra bytes", no waiting.) */
static void expect_nothing_before_pong(struct fx *f, int fd)
{
	char buf[7];

	client_send(fd, "PING\r\n", 6);
	client_recv(f, fd, buf, sizeof(buf));
	assert_memory_equal(buf, "+PONG\r\n", 7);
}

/* RESP2 multibulk and inline commands mixed, each idempotent so every
 * connection gets the same replies. */
static const char pipeline[] = "*3\r\n$3\r\nSET\r\n$1\r\nr\r\n$5\r\nhello\r\n"
			       "PING\r\n"
			       "*2\r\n$3\r\nGET\r\n$1\r\nr\r\n"
			       "\r\n" /* an empty inline line: no command, no reply */
			       "*3\r\n$6\r\nINCRBY\r\n$1\r\nc\r\n$1\r\n0\r\n"
			       "ECHO \"a b\"\r\n"
			       "*1\r\n$3\r\nGET\r\n";
static const char replies[] = "+OK\r\n"
			      "+PONG\r\n"
			      "$5\r\nhello\r\n"
			      ":0\r\n"
			      "$3\r\na b\r\n"
			      "-ERR wrong number of arguments for 'get' command\r\n";
#define PIPELINE_COMMANDS 6

/* The same pipeline cut in two at every byte boundary: the server sees the
 * first part alone (a pass runs between the sends) and the replies are
 * byte for byte the same. */
static void test_pipeline_split_everywhere(void **state)
{
	struct fx *f = *state;
	size_t len = sizeof(pipeline) - 1, n = 0;
	char buf[sizeof(replies)];

	for (size_t cut = 0; cut <= len; cut++, n++) {
		uint64_t cmds = f->d.stats.commands;
		int fd = client_connect(f);

		client_send(fd, pipeline, cut);
		if (cut)
			pass(f); /* the server reads the first part on its own */
		client_send(fd, pipeline + cut, len - cut);
		client_recv(f, fd, buf, sizeof(replies) - 1);
		assert_memory_equal(buf, replies, sizeof(replies) - 1);
		assert_int_equal(f->d.stats.commands - cmds, PIPELINE_COMMANDS);
		expect_nothing_before_pong(f, fd);
		close(fd);
		while (f->d.clients)
			pass(f);
	}
	assert_int_equal(f->d.stats.connections, n);
	assert_int_equal(f->d.stats.commands, n * (PIPELINE_COMMANDS + 1));
	assert_int_equal(f->d.stats.errors_replied, n);
	assert_int_equal(f->d.stats.protocol_errors, 0);
}

/* QUIT: its +OK, then the close; what came after it in the pipeline is
 * never run. */
static void test_quit_closes_after_reply(void **state)
{
	struct fx *f = *state;
	static const char want[] = "+PONG\r\n+OK\r\n";
	char buf[sizeof(want)];
	int fd = client_connect(f);

	client_send(fd, "PING\r\nQUIT\r\nSET k v\r\nPING\r\n", 28);
	client_recv(f, fd, buf, sizeof(want) - 1);
	assert_memory_equal(buf, want, sizeof(want) - 1);
	expect_closed(f, fd, 0);
	assert_int_equal(f->d.stats.commands, 2);
	assert_null(store_find(&f->d.store, "k", 1));
	assert_int_equal(f->d.stats.connections, 1);
}

/* A malformed frame: the replies before it, one -ERR naming the problem,
 * then the close; nothing after it runs. */
static void test_protocol_error_closes(void **state)
{
	struct fx *f = *state;
	static const char want[] = "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n";
	char buf[sizeof(want)];
	int fd = client_connect(f);

	client_send(fd, "PING\r\n*1\r\n$x\r\nSET k v\r\n", 24);
	client_recv(f, fd, buf, sizeof(want) - 1);
	assert_memory_equal(buf, want, sizeof(want) - 1);
	expect_closed(f, fd, 0);
	assert_int_equal(f->d.stats.protocol_errors, 1);
	assert_int_equal(f->d.stats.commands, 1);
	assert_null(store_find(&f->d.store, "k", 1));
}

/* One request that would pass max_query_bytes (64 KiB here) while every
 * argument is within the parser's limits: refused with the Redis-style
 * error once the buffer is full, then closed; nothing of it runs. */
static void test_request_over_query_limit(void **state)
{
	struct fx *f = *state;
	static const char want[] = "-ERR Protocol error: request larger than 65536 bytes\r\n";
	char buf[sizeof(want)], *req = malloc(70000), *w = req;
	int fd = client_connect(f);

	assert_non_null(req);
	w += sprintf(w, "*16\r\n");
	for (int i = 0; i < 16 && w - req < 66000; i++) {
		w += sprintf(w, "$4096\r\n");
		memset(w, 'x', 4096);
		w += 4096;
		w += sprintf(w, "\r\n");
	}
	/* never complete: the last argument is cut */
	client_send(fd, req, 65536); /* exactly: more would sit unread and the close reset */
	client_recv(f, fd, buf, sizeof(want) - 1);
	assert_memory_equal(buf, want, sizeof(want) - 1);
	expect_closed(f, fd, 0);
	assert_int_equal(f->d.stats.protocol_errors, 1);
	assert_int_equal(f->d.stats.commands, 0);
	free(req);
}

/* Over max_clients: the newcomer gets the Redis error and is closed; the
 * connected client is untouched and a later one is accepted again. */
static void test_max_clients(void **state)
{
	struct fx *f = *state;
	static const char full[] = "-ERR max number of clients reached\r\n";
	char buf[sizeof(full)];
	int a = client_connect(f), b;

	assert_int_equal(f->d.clients, 1);
	b = client_connect(f);
	client_recv(f, b, buf, sizeof(full) - 1);
	assert_memory_equal(buf, full, sizeof(full) - 1);
	expect_closed(f, b, 1);
	assert_int_equal(f->d.stats.rejected_clients, 1);
	assert_int_equal(f->d.clients, 1);
	expect_nothing_before_pong(f, a);
	close(a);
	while (f->d.clients)
		pass(f);
	b = client_connect(f);
	expect_nothing_before_pong(f, b);
	close(b);
	while (f->d.clients)
		pass(f);
	assert_int_equal(f->d.stats.connections, 3);
	assert_int_equal(f->d.stats.rejected_clients, 1);
	assert_int_equal(f->d.stats.commands, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pipeline_split_everywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quit_closes_after_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_protocol_error_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_over_query_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_clients, setup_one_client, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
