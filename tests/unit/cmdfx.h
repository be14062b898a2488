/* The fixture of the command tests (test_commands, test_cmd_app,
 * test_introspect): a daemon with a store and a config but no gossip,
 * journal, listener or shim; commands_exec on one connection, the reply
 * kept NUL-terminated for exact comparison.  Include after cmocka.h. */
#ifndef CRDTD_TEST_CMDFX_H
#define CRDTD_TEST_CMDFX_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "client/commands.h"
#include "client/resp.h"
#include "client/slowlog.h"
#include "config.h"
#include "daemon.h"
#include "state/store.h"
#include "storecheck.h"

struct fx {
	uv_loop_t loop;
	struct daemon d;
	struct cmd_session s;
	struct crdt_buf out;
	char reply[65536];
};

/* Connection 1 from 127.0.0.1:5555 to the port 6380, RESP2. */
static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->d.loop = &f->loop;
	assert_int_equal(config_defaults(&f->d.cfg), 0);
	crdt_hlc_init(&f->d.hlc, NULL, NULL);
	store_init(&f->d.store);
	f->s.proto = RESP_PROTO2;
	f->s.id = 1;
	snprintf(f->s.addr, sizeof(f->s.addr), "127.0.0.1:5555");
	snprintf(f->s.laddr, sizeof(f->s.laddr), "127.0.0.1:6380");
	crdt_buf_init(&f->out, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	commands_session_done(&f->s); /* a transaction left open is freed */
	crdt_buf_done(&f->out);
	slowlog_done(&f->d.slowlog);
	store_done(&f->d.store);
	config_done(&f->d.cfg);
	/* nothing the commands did may leave a handle on the loop */
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

/* Run one command on connection @s, given as argc byte strings with
 * lengths; the reply, NUL-terminated, in f->reply (replies here never hold
 * a NUL themselves unless a test says so and compares with memcmp). */
static const char *run_on(struct fx *f, struct cmd_session *s, size_t argc,
			  const char *const *argv, const size_t *argl)
{
	struct cmd_args a = { .argc = argc, .argv = (const uint8_t *const *)argv, .argl = argl };

	crdt_buf_reset(&f->out);
	commands_exec(&f->d, s, &a, &f->out);
	assert_int_equal(f->out.err, 0);
	assert_true(f->out.len < sizeof(f->reply));
	memcpy(f->reply, f->out.data, f->out.len);
	f->reply[f->out.len] = 0;
	assert_keyspace(&f->d.store); /* every command keeps the counts */
	return f->reply;
}

static inline const char *run_l(struct fx *f, size_t argc, const char *const *argv,
				const size_t *argl)
{
	return run_on(f, &f->s, argc, argv, argl);
}

/* NUL-terminated arguments, on connection @s. */
static inline const char *run_s(struct fx *f, struct cmd_session *s, size_t argc,
				const char *const *argv)
{
	size_t argl[64];

	assert_true(argc <= 64);
	for (size_t i = 0; i < argc; i++)
		argl[i] = strlen(argv[i]);
	return run_on(f, s, argc, argv, argl);
}

static inline const char *run_v(struct fx *f, size_t argc, const char *const *argv)
{
	return run_s(f, &f->s, argc, argv);
}

#define ARGS(...) (const char *const[]){ __VA_ARGS__ }
#define NARGS(...) (sizeof(ARGS(__VA_ARGS__)) / sizeof(const char *))
#define RUN(f, ...) run_v((f), NARGS(__VA_ARGS__), ARGS(__VA_ARGS__))
#define EXPECT(f, reply, ...) assert_string_equal(RUN(f, __VA_ARGS__), (reply))
/* the same on another connection */
#define EXPECT_ON(f, sess, reply, ...)                                                            \
	assert_string_equal(run_s((f), (sess), NARGS(__VA_ARGS__), ARGS(__VA_ARGS__)), (reply))
#define HAS(f, s) assert_non_null(strstr((f)->reply, (s)))

#define NOTINT "-ERR value is not an integer or out of range\r\n"
#define WRONGTYPE "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"

#endif
