/* The introspection commands (client/introspect.c), the per-command stats
 * (client/cmdstats.c) and the slow log (client/slowlog.c) without a socket:
 * commands_exec against a daemon with a store and a config but no listener,
 * the reply bytes compared with what Redis sends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "client/cmdstats.h"
#include "client/commands.h"
#include "client/resp.h"
#include "client/slowlog.h"
#include "config.h"
#include "daemon.h"
#include "state/store.h"

#include "cmdfx.h"

/* connection 7, so that its id is not every other number in a reply */
static int setup7(void **state)
{
	int r = setup(state);

	((struct fx *)*state)->s.id = 7;
	return r;
}

/* ---- SLOWLOG --------------------------------------------------------------- */

static void test_slowlog(void **state)
{
	struct fx *f = *state;
	uint64_t errs;

	f->d.cfg.slowlog.log_slower_than_us = 0; /* every command */
	EXPECT(f, ":0\r\n", "SLOWLOG", "LEN");
	/* SLOWLOG LEN itself was logged after it replied */
	EXPECT(f, ":1\r\n", "SLOWLOG", "LEN");
	EXPECT(f, "+OK\r\n", "CLIENT", "SETNAME", "app");
	EXPECT(f, ":1\r\n", "INCR", "c");
	RUN(f, "SLOWLOG", "GET", "1");
	/* [id, unix time, duration, args, addr, name]: the id is the fourth
	 * entry's (LEN, LEN, SETNAME, INCR), the time is now */
	assert_memory_equal(f->reply, "*1\r\n*6\r\n:3\r\n:", 13);
	long long t = strtoll(f->reply + 13, NULL, 10);
	assert_true(t > time(NULL) - 60 && t <= time(NULL));
	HAS(f, "*2\r\n$4\r\nINCR\r\n$1\r\nc\r\n$14\r\n127.0.0.1:5555\r\n$3\r\napp\r\n");
	/* newest first; -1 is all of them; 0 none */
	RUN(f, "SLOWLOG", "GET", "-1");
	assert_memory_equal(f->reply, "*5\r\n*6\r\n:4\r\n", 12);
	EXPECT(f, "*0\r\n", "SLOWLOG", "GET", "0");
	RUN(f, "SLOWLOG", "GET");
	assert_memory_equal(f->reply, "*7\r\n", 4);

	/* the arguments as Redis keeps them: 32 at most, the last saying how
	 * many more; each cut at 128 bytes, saying how many more bytes */
	{
		const char *argv[40];
		size_t argl[40];
		char big[200];
		memset(big, 'x', sizeof(big));
		argv[0] = "EXISTS";
		argl[0] = 6;
		argv[1] = big;
		argl[1] = sizeof(big);
		for (size_t i = 2; i < 40; i++) {
			argv[i] = "k";
			argl[i] = 1;
		}
		assert_string_equal(run_l(f, 40, argv, argl), ":0\r\n");
	}
	RUN(f, "SLOWLOG", "GET", "1");
	HAS(f, "*32\r\n$6\r\nEXISTS\r\n$147\r\nxxxx");
	HAS(f, "x... (72 more bytes)\r\n$1\r\nk\r\n");
	HAS(f, "$1\r\nk\r\n$22\r\n... (9 more arguments)\r\n$14\r\n127.0.0.1:5555\r\n");

	/* AUTH and HELLO never reach the log: they may carry the password */
	EXPECT(f, "+OK\r\n", "SLOWLOG", "RESET");
	RUN(f, "AUTH", "secret");
	RUN(f, "HELLO", "2", "AUTH", "default", "secret");
	RUN(f, "SLOWLOG", "GET");
	assert_null(strstr(f->reply, "secret"));
	EXPECT(f, ":2\r\n", "SLOWLOG", "LEN"); /* RESET and GET */

	/* max_len keeps the newest; a reload that shortens it trims at the
	 * next entry */
	f->d.cfg.slowlog.max_len = 2;
	RUN(f, "PING");
	EXPECT(f, ":2\r\n", "SLOWLOG", "LEN");
	RUN(f, "SLOWLOG", "GET");
	assert_memory_equal(f->reply, "*2\r\n*6\r\n", 8);
	HAS(f, "$7\r\nSLOWLOG\r\n$3\r\nLEN\r\n");
	HAS(f, "$4\r\nPING\r\n");
	f->d.cfg.slowlog.max_len = 0; /* off: nothing kept */
	RUN(f, "PING");
	EXPECT(f, ":0\r\n", "SLOWLOG", "LEN");
	f->d.cfg.slowlog.max_len = 128;
	f->d.cfg.slowlog.log_slower_than_us = 4000000000u; /* nothing is that slow here */
	RUN(f, "PING");
	EXPECT(f, ":0\r\n", "SLOWLOG", "LEN");

	/* bad input: an error each, counted, nothing changed */
	errs = f->d.stats.errors_replied;
	EXPECT(f, "-ERR count should be greater than or equal to -1\r\n", "SLOWLOG", "GET", "-2");
	EXPECT(f, "-ERR count should be greater than or equal to -1\r\n", "SLOWLOG", "GET", "ten");
	EXPECT(f, "-ERR wrong number of arguments for 'slowlog|get' command\r\n", "SLOWLOG", "GET",
	       "1", "2");
	EXPECT(f, "-ERR wrong number of arguments for 'slowlog|len' command\r\n", "SLOWLOG", "LEN",
	       "x");
	EXPECT(f, "-ERR unknown subcommand 'FOO'. Try SLOWLOG HELP.\r\n", "SLOWLOG", "FOO");
	EXPECT(f, "-ERR wrong number of arguments for 'slowlog' command\r\n", "SLOWLOG");
	assert_int_equal(f->d.stats.errors_replied, errs + 6);
	/* five ran and failed, one was refused before it ran */
	RUN(f, "INFO", "commandstats");
	HAS(f, ",rejected_calls=1,failed_calls=5\r\n");
	RUN(f, "SLOWLOG", "HELP");
	assert_memory_equal(f->reply, "*", 1);
}

/* The ring on its own: ids keep counting across RESET, a longer max_len
 * keeps what is there. */
static void test_slowlog_ring(void **state)
{
	struct slowlog l = { 0 };
	const char *argv[] = { "PING" };
	size_t argl[] = { 4 };

	(void)state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(slowlog_push(&l, 3, 100 + i, (uint64_t)i, 1,
					      (const uint8_t *const *)argv, argl, "a:1", ""), 0);
	assert_int_equal(slowlog_len(&l), 3);
	assert_int_equal(slowlog_get(&l, 0)->id, 4);
	assert_int_equal(slowlog_get(&l, 2)->id, 2);
	assert_int_equal(slowlog_get(&l, 2)->time, 102);
	assert_null(slowlog_get(&l, 3));
	assert_int_equal(slowlog_push(&l, 5, 200, 9, 1, (const uint8_t *const *)argv, argl, NULL,
				      NULL), 0);
	assert_int_equal(slowlog_len(&l), 4);
	assert_int_equal(slowlog_get(&l, 0)->id, 5);
	assert_string_equal(slowlog_get(&l, 0)->addr, "");
	assert_int_equal(slowlog_get(&l, 3)->id, 2);
	slowlog_reset(&l);
	assert_int_equal(slowlog_len(&l), 0);
	assert_int_equal(slowlog_push(&l, 5, 300, 1, 1, (const uint8_t *const *)argv, argl, "b", "n"),
			 0);
	assert_int_equal(slowlog_get(&l, 0)->id, 6);
	assert_memory_equal(slowlog_get(&l, 0)->argv[0], "PING", 4);
	slowlog_done(&l);
	slowlog_done(&l);
}

/* ---- LATENCY, per-command stats ---------------------------------------------- */

static void test_latency(void **state)
{
	struct fx *f = *state;
	uint64_t errs;

	EXPECT(f, "*0\r\n", "LATENCY", "LATEST");
	EXPECT(f, "*0\r\n", "LATENCY", "HISTORY", "command");
	EXPECT(f, ":0\r\n", "LATENCY", "RESET");
	EXPECT(f, ":0\r\n", "LATENCY", "RESET", "command", "fork");
	EXPECT(f, "-ERR No samples available for event 'command'\r\n", "LATENCY", "GRAPH", "command");
	RUN(f, "LATENCY", "DOCTOR");
	assert_memory_equal(f->reply, "$", 1);
	HAS(f, "does not record latency events");

	/* the histogram: calls, and per bucket its upper bound in us and the
	 * calls up to it; every bucket holds at least 1 us */
	RUN(f, "INCR", "c");
	RUN(f, "INCR", "c");
	RUN(f, "INCR", "c");
	RUN(f, "LATENCY", "HISTOGRAM", "incr", "nosuch");
	assert_memory_equal(f->reply,
			    "*2\r\n$4\r\nincr\r\n*4\r\n$5\r\ncalls\r\n:3\r\n$14\r\nhistogram_usec\r\n*", 50);
	/* cumulative: the last bucket holds all three */
	assert_memory_equal(f->reply + strlen(f->reply) - 4, ":3\r\n", 4);
	f->s.proto = RESP_PROTO3;
	RUN(f, "LATENCY", "HISTOGRAM", "INCR");
	assert_memory_equal(f->reply, "%1\r\n$4\r\nincr\r\n%2\r\n$5\r\ncalls\r\n:3\r\n", 32);
	EXPECT(f, "%0\r\n", "LATENCY", "HISTOGRAM", "get");
	f->s.proto = RESP_PROTO2;

	errs = f->d.stats.errors_replied;
	EXPECT(f, "-ERR wrong number of arguments for 'latency|history' command\r\n", "LATENCY",
	       "HISTORY");
	EXPECT(f, "-ERR wrong number of arguments for 'latency|latest' command\r\n", "LATENCY",
	       "LATEST", "x");
	EXPECT(f, "-ERR unknown subcommand 'SPIKES'. Try LATENCY HELP.\r\n", "LATENCY", "SPIKES");
	EXPECT(f, "-ERR wrong number of arguments for 'latency' command\r\n", "LATENCY");
	assert_int_equal(f->d.stats.errors_replied, errs + 4);

	/* INFO commandstats, as Redis: one line per command used */
	EXPECT(f, "-ERR wrong number of arguments for 'incr' command\r\n", "INCR");
	RUN(f, "INFO", "commandstats");
	HAS(f, "# Commandstats\r\n");
	HAS(f, "\r\ncmdstat_incr:calls=3,usec=");
	HAS(f, ",rejected_calls=1,failed_calls=0\r\n");
	/* GRAPH and three bad subcommands ran and failed; the bare LATENCY
	 * was refused */
	HAS(f, "\r\ncmdstat_latency:calls=12,");
	HAS(f, ",rejected_calls=1,failed_calls=4\r\n");
	assert_null(strstr(f->reply, "cmdstat_get:"));
	/* unknown commands have no line, and a count of their own */
	RUN(f, "NOSUCH");
	assert_int_equal(f->d.cmdstats.unknown, 1);
	/* error replies by their first word, as Redis' errorstats: ERR for
	 * GRAPH, the three bad subcommands, the bare LATENCY, INCR's arity and
	 * NOSUCH */
	RUN(f, "SADD", "set", "a");
	RUN(f, "INCR", "set");
	RUN(f, "INFO", "errorstats");
	HAS(f, "# Errorstats\r\nerrorstat_ERR:count=7\r\nerrorstat_WRONGTYPE:count=1\r\n");
	{
		struct cmdstats st = { 0 };
		cmdstats_error(&st, (const uint8_t *)"ERR x", 5);
		cmdstats_error(&st, (const uint8_t *)"ERR", 3);
		cmdstats_error(&st, (const uint8_t *)"lower case", 10);
		cmdstats_error(&st, (const uint8_t *)"ERRx", 4);
		cmdstats_error(&st, (const uint8_t *)"", 0);
		assert_string_equal(st.errors[0].code, "ERR");
		assert_int_equal(st.errors[0].count, 2);
		assert_int_equal(st.errors_other, 3);
		for (int i = 0; i < CMDSTATS_ERROR_KINDS + 3; i++) {
			char code[8];
			snprintf(code, sizeof(code), "E%c", 'A' + i);
			cmdstats_error(&st, (const uint8_t *)code, 2);
		}
		assert_int_equal(st.errors_other, 3 + 4); /* the table holds 16 kinds */
	}
	/* CONFIG RESETSTAT starts the counts again */
	EXPECT(f, "+OK\r\n", "CONFIG", "RESETSTAT");
	RUN(f, "INFO", "commandstats");
	assert_null(strstr(f->reply, "cmdstat_incr:"));
	HAS(f, "cmdstat_config:calls=1,"); /* RESETSTAT itself, counted after it ran */
	assert_null(strstr(f->reply, "errorstat_"));
}

static void test_cmdstats_buckets(void **state)
{
	(void)state;
	assert_int_equal(cmdstats_bucket(0), 0);
	assert_int_equal(cmdstats_bucket(1), 0);
	assert_int_equal(cmdstats_bucket(2), 1);
	assert_int_equal(cmdstats_bucket(3), 2);
	assert_int_equal(cmdstats_bucket(1024), 10);
	assert_int_equal(cmdstats_bucket(1025), 11);
	assert_int_equal(cmdstats_bucket(UINT64_MAX), CMDSTATS_BUCKETS - 1);
	assert_int_equal(cmdstats_bucket_usec(10), 1024);
}

/* ---- CLIENT ----------------------------------------------------------------- */

static void test_client(void **state)
{
	struct fx *f = *state;
	uint64_t errs = f->d.stats.errors_replied;

	RUN(f, "CLIENT", "INFO");
	HAS(f, " cmd=client "); /* the running command, as Redis */
	EXPECT(f, ":7\r\n", "CLIENT", "ID");
	EXPECT(f, "$-1\r\n", "CLIENT", "GETNAME");
	EXPECT(f, "+OK\r\n", "CLIENT", "SETNAME", "worker-1");
	EXPECT(f, "$8\r\nworker-1\r\n", "CLIENT", "GETNAME");
	EXPECT(f, "-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
	       "CLIENT", "SETNAME", "a b");
	EXPECT(f, "$8\r\nworker-1\r\n", "CLIENT", "GETNAME"); /* a refused name changes nothing */
	RUN(f, "CLIENT", "INFO");
	HAS(f, "id=7 addr=127.0.0.1:5555 laddr=127.0.0.1:6380 fd=-1 name=worker-1 age=0 idle=0 "
	       "flags=N db=0 ");
	HAS(f, " cmd=client user=default redir=-1 resp=2\n\r\n");
	EXPECT(f, "+OK\r\n", "CLIENT", "SETNAME", "");
	EXPECT(f, "$-1\r\n", "CLIENT", "GETNAME");
	EXPECT(f, "+OK\r\n", "CLIENT", "SETINFO", "lib-name", "redis-py");
	/* HELLO SETNAME keeps the name too, once every check passed */
	RUN(f, "HELLO", "2", "SETNAME", "via-hello");
	EXPECT(f, "$9\r\nvia-hello\r\n", "CLIENT", "GETNAME");
	RUN(f, "HELLO", "2", "SETNAME", "other", "bogus");
	EXPECT(f, "$9\r\nvia-hello\r\n", "CLIENT", "GETNAME");
	EXPECT(f, "+OK\r\n", "CLIENT", "SETNAME", "");
	/* no listener here: no connection to list or kill */
	EXPECT(f, "$0\r\n\r\n", "CLIENT", "LIST");
	EXPECT(f, "$0\r\n\r\n", "CLIENT", "LIST", "TYPE", "normal", "ID", "7", "8");
	EXPECT(f, ":0\r\n", "CLIENT", "KILL", "ID", "8");
	EXPECT(f, ":0\r\n", "CLIENT", "KILL", "ADDR", "127.0.0.1:1", "SKIPME", "no");
	assert_int_equal(f->d.stats.errors_replied, errs + 2);

	errs = f->d.stats.errors_replied;
	EXPECT(f, "-ERR No such client\r\n", "CLIENT", "KILL", "127.0.0.1:1");
	EXPECT(f, "-ERR client-id should be greater than 0\r\n", "CLIENT", "KILL", "ID", "0");
	EXPECT(f, "-ERR client-id should be greater than 0\r\n", "CLIENT", "KILL", "ID", "x");
	EXPECT(f, "-ERR syntax error\r\n", "CLIENT", "KILL", "ID", "1", "SKIPME", "maybe");
	EXPECT(f, "-ERR syntax error\r\n", "CLIENT", "KILL", "COLOR", "red");
	EXPECT(f, "-ERR syntax error\r\n", "CLIENT", "KILL", "ID", "1", "ADDR");
	EXPECT(f, "-ERR Unknown client type 'robot'\r\n", "CLIENT", "KILL", "TYPE", "robot");
	EXPECT(f, "-ERR No such user 'bob'\r\n", "CLIENT", "KILL", "USER", "bob");
	EXPECT(f, "-ERR Unknown client type 'robot'\r\n", "CLIENT", "LIST", "TYPE", "robot");
	EXPECT(f, "-ERR Invalid client ID\r\n", "CLIENT", "LIST", "ID", "0");
	EXPECT(f, "-ERR syntax error\r\n", "CLIENT", "LIST", "ALL");
	EXPECT(f, "-ERR wrong number of arguments for 'client|id' command\r\n", "CLIENT", "ID", "1");
	EXPECT(f, "-ERR wrong number of arguments for 'client|setname' command\r\n", "CLIENT",
	       "SETNAME");
	EXPECT(f, "-ERR unknown subcommand 'PAUSE'. Try CLIENT HELP.\r\n", "CLIENT", "PAUSE", "10");
	assert_int_equal(f->d.stats.errors_replied, errs + 14);
	assert_int_equal(f->s.close_after_reply, 0);
	RUN(f, "CLIENT", "HELP");
	assert_memory_equal(f->reply, "*", 1);
}

/* ---- CONFIG GET --------------------------------------------------------------- */

static void test_config_get(void **state)
{
	struct fx *f = *state;

	EXPECT(f, "*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n", "CONFIG", "GET", "maxclients");
	/* patterns ignore case, as Redis' */
	EXPECT(f, "*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n", "CONFIG", "GET", "MAXCLIENTS");
	EXPECT(f, "*2\r\n$11\r\nrequirepass\r\n$0\r\n\r\n", "CONFIG", "GET", "requirepass");
	{
		/* a pattern of any length: 300 stars, then the name */
		char pat[320];
		memset(pat, '*', 300);
		snprintf(pat + 300, sizeof(pat) - 300, "MAXCLIENTS");
		EXPECT(f, "*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n", "CONFIG", "GET", pat);
	}
	EXPECT(f, "*4\r\n$4\r\nport\r\n$4\r\n6380\r\n$4\r\nbind\r\n$9\r\n127.0.0.1\r\n", "CONFIG",
	       "GET", "port", "bind");
	EXPECT(f, "*4\r\n$23\r\nslowlog-log-slower-than\r\n$5\r\n10000\r\n$15\r\nslowlog-max-len\r\n"
		  "$3\r\n128\r\n",
	       "CONFIG", "GET", "slowlog-*");
	EXPECT(f, "*2\r\n$11\r\nappendfsync\r\n$6\r\nalways\r\n", "CONFIG", "GET", "appendfsync");
	f->d.cfg.storage.durability = CONFIG_DURABILITY_BATCH;
	EXPECT(f, "*2\r\n$11\r\nappendfsync\r\n$8\r\neverysec\r\n", "CONFIG", "GET", "appendfsync");
	f->d.cfg.storage.durability = CONFIG_DURABILITY_NONE;
	EXPECT(f, "*2\r\n$11\r\nappendfsync\r\n$2\r\nno\r\n", "CONFIG", "GET", "appendfsync");
	EXPECT(f, "*2\r\n$9\r\ndatabases\r\n$1\r\n1\r\n", "CONFIG", "GET", "databases");
	/* every ini key as section.key, the value as the file spells it */
	EXPECT(f, "*2\r\n$10\r\ngossip.mtu\r\n$4\r\n1400\r\n", "CONFIG", "GET", "gossip.mtu");
	EXPECT(f, "*4\r\n$26\r\nslowlog.log_slower_than_us\r\n$5\r\n10000\r\n$15\r\nslowlog.max_len\r\n"
		  "$3\r\n128\r\n",
	       "CONFIG", "GET", "slowlog.*");
	/* the password never shows */
	snprintf(f->d.cfg.node.requirepass, sizeof(f->d.cfg.node.requirepass), "hunter2");
	f->s.authenticated = 1;
	EXPECT(f, "*4\r\n$11\r\nrequirepass\r\n$8\r\n********\r\n$16\r\nnode.requirepass\r\n"
		  "$8\r\n********\r\n",
	       "CONFIG", "GET", "*requirepass");
	RUN(f, "CONFIG", "GET", "*");
	assert_null(strstr(f->reply, "hunter2"));
	HAS(f, "$10\r\nmaxclients\r\n");
	HAS(f, "$4\r\nsave\r\n$0\r\n\r\n");
	f->s.proto = RESP_PROTO3;
	EXPECT(f, "%1\r\n$15\r\nslowlog-max-len\r\n$3\r\n128\r\n", "CONFIG", "GET", "slowlog-max-len");
	EXPECT(f, "%0\r\n", "CONFIG", "GET", "nothing");
	EXPECT(f, "-ERR unknown subcommand 'FROB'. Try CONFIG HELP.\r\n", "CONFIG", "FROB");
	EXPECT(f, "-ERR CONFIG REWRITE is not supported; edit the ini file and send SIGHUP\r\n",
	       "CONFIG", "REWRITE");
}

/* ---- TIME, MEMORY USAGE -------------------------------------------------------- */

static void test_time_memory(void **state)
{
	struct fx *f = *state;
	char *p;

	RUN(f, "TIME");
	assert_memory_equal(f->reply, "*2\r\n$", 5);
	p = strstr(f->reply + 5, "\r\n") + 2;
	long long sec = strtoll(p, &p, 10);
	/* time() reads a coarse clock that can trail the one TIME reads by a
	 * tick, so at a second's edge TIME may already be one second on */
	assert_true(sec > time(NULL) - 60 && sec <= time(NULL) + 1);
	p = strstr(p + 2, "\r\n") + 2;
	long long usec = strtoll(p, NULL, 10);
	assert_true(usec >= 0 && usec < 1000000);
	EXPECT(f, "-ERR wrong number of arguments for 'time' command\r\n", "TIME", "now");

	EXPECT(f, "$-1\r\n", "MEMORY", "USAGE", "nothing");
	RUN(f, "SADD", "small", "a");
	for (int i = 0; i < 200; i++) {
		char m[16];
		snprintf(m, sizeof(m), "member-%d", i);
		RUN(f, "SADD", "big", m);
	}
	long long small = strtoll(RUN(f, "MEMORY", "USAGE", "small") + 1, NULL, 10);
	long long big = strtoll(RUN(f, "MEMORY", "USAGE", "big", "SAMPLES", "5") + 1, NULL, 10);
	assert_memory_equal(f->reply, ":", 1);
	/* at least the name, the entry and the members' bytes */
	assert_true(small > (long long)sizeof(struct store_entry));
	assert_true(big > small + 200 * 8);

	uint64_t errs = f->d.stats.errors_replied;
	EXPECT(f, "-ERR value is not an integer or out of range\r\n", "MEMORY", "USAGE", "big",
	       "SAMPLES", "-1");
	EXPECT(f, "-ERR syntax error\r\n", "MEMORY", "USAGE", "big", "SAMPLE", "5");
	EXPECT(f, "-ERR syntax error\r\n", "MEMORY", "USAGE", "big", "SAMPLES");
	EXPECT(f, "-ERR wrong number of arguments for 'memory|usage' command\r\n", "MEMORY", "USAGE");
	EXPECT(f, "-ERR unknown subcommand 'STATS'. Try MEMORY HELP.\r\n", "MEMORY", "STATS");
	assert_int_equal(f->d.stats.errors_replied, errs + 5);
}

/* Inside MULTI a command is counted, and logged, when EXEC runs it, not
 * when it is queued; EXEC itself is not logged (Redis' rules). */
static void test_multi_counts(void **state)
{
	struct fx *f = *state;

	f->d.cfg.slowlog.log_slower_than_us = 0;
	EXPECT(f, "+OK\r\n", "MULTI");
	EXPECT(f, "+QUEUED\r\n", "INCR", "c");
	EXPECT(f, "+QUEUED\r\n", "INCR", "c");
	for (size_t i = 0; i < CMDSTATS_MAX; i++)
		if (f->d.cmdstats.cmd[i].name && !strcmp(f->d.cmdstats.cmd[i].name, "incr"))
			fail_msg("a queued INCR was counted");
	EXPECT(f, "*2\r\n:1\r\n:2\r\n", "EXEC");
	RUN(f, "INFO", "commandstats");
	HAS(f, "cmdstat_incr:calls=2,");
	HAS(f, "cmdstat_exec:calls=1,");
	RUN(f, "SLOWLOG", "GET", "3");
	assert_memory_equal(f->reply, "*3\r\n", 4);
	HAS(f, "$4\r\nINCR\r\n");
	assert_null(strstr(f->reply, "EXEC"));
}

/* The table is searched by bisection: every row must be found by its name
 * (a row out of order is not), and each has its stats slot. */
static void test_table_sorted(void **state)
{
	struct fx *f = *state;

	assert_true(commands_count() <= CMDSTATS_MAX);
	for (size_t i = 0; i < commands_count(); i++) {
		const char *name = commands_name(i);
		char want[64];
		if (i)
			assert_true(strcmp(commands_name(i - 1), name) < 0);
		RUN(f, "COMMAND", "INFO", name);
		snprintf(want, sizeof(want), "*1\r\n*6\r\n$%zu\r\n%s\r\n", strlen(name), name);
		if (strncmp(f->reply, want, strlen(want)) != 0)
			fail_msg("COMMAND INFO %s: %s", name, f->reply);
	}
}

/* ---- random arguments ------------------------------------------------------ */

/* Length of the one RESP value at @p (of @len bytes), or 0 if it is not
 * exactly one well-formed value.  @depth bounds the nesting. */
static size_t resp_value_len(const char *p, size_t len, int depth)
{
	const char *end = memchr(p, '\n', len);
	size_t line, n = 0;
	long long v;

	if (!len || !end || end == p || end[-1] != '\r' || depth > 8)
		return 0;
	line = (size_t)(end - p) + 1;
	switch (p[0]) {
	case '+': case '-': case ':': case '_':
		return line;
	case '$':
		v = strtoll(p + 1, NULL, 10);
		if (v == -1)
			return line;
		if (v < 0 || line + (size_t)v + 2 > len || memcmp(p + line + v, "\r\n", 2))
			return 0;
		return line + (size_t)v + 2;
	case '*': case '%': case '~':
		v = strtoll(p + 1, NULL, 10);
		if (v == -1 && p[0] == '*')
			return line;
		n = line;
		for (long long i = 0; i < (p[0] == '%' ? 2 * v : v); i++) {
			size_t k = resp_value_len(p + n, len - n, depth + 1);
			if (!k)
				return 0;
			n += k;
		}
		return n;
	default:
		return 0;
	}
}

/* Thousands of seeded random argument vectors for the introspection
 * commands: each gets exactly one well-formed reply, an error reply is
 * counted, and nothing in the store changes. */
static void test_random_arguments(void **state)
{
	static const char *const cmds[] = { "CLIENT", "CONFIG", "SLOWLOG", "LATENCY", "MEMORY",
					    "TIME" };
	static const char *const words[] = {
		"LIST", "INFO", "KILL", "ID", "SETNAME", "GETNAME", "SETINFO", "GET", "SET",
		"RESETSTAT", "LEN", "RESET", "LATEST", "HISTORY", "HISTOGRAM", "DOCTOR", "GRAPH",
		"USAGE", "SAMPLES", "HELP", "TYPE", "ADDR", "LADDR", "SKIPME", "USER", "MAXAGE",
		"normal", "pubsub", "yes", "no", "default", "*", "slowlog-*", "[", "\\", "k",
		"0", "1", "-1", "-2", "7", "99999999999999999999", "9223372036854775807", "",
		"127.0.0.1:5555", "a b", "\x01\xff", "incr",
	};
	struct fx *f = *state;
	unsigned seed = 20261201;
	size_t keys;

	f->d.cfg.slowlog.log_slower_than_us = 0;
	RUN(f, "SADD", "s", "a", "b");
	keys = f->d.store.len;
	srand(seed);
	for (int iter = 0; iter < 20000; iter++) {
		const char *argv[8];
		size_t argc = 1 + (size_t)(rand() % 6);
		uint64_t errs = f->d.stats.errors_replied;

		argv[0] = cmds[rand() % (int)(sizeof(cmds) / sizeof(cmds[0]))];
		for (size_t i = 1; i < argc; i++)
			argv[i] = words[rand() % (int)(sizeof(words) / sizeof(words[0]))];
		run_v(f, argc, argv);
		if (resp_value_len(f->reply, f->out.len, 0) != f->out.len)
			fail_msg("seed %u iteration %d: not one RESP value: %s", seed, iter, f->reply);
		assert_int_equal(f->d.stats.errors_replied, errs + (f->reply[0] == '-'));
		assert_int_equal(f->d.store.len, keys);
		f->s.close_after_reply = 0; /* CLIENT KILL ... SKIPME no */
	}
	EXPECT(f, ":1\r\n", "SISMEMBER", "s", "a");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_slowlog, setup7, teardown),
		cmocka_unit_test(test_slowlog_ring),
		cmocka_unit_test_setup_teardown(test_latency, setup7, teardown),
		cmocka_unit_test(test_cmdstats_buckets),
		cmocka_unit_test_setup_teardown(test_client, setup7, teardown),
		cmocka_unit_test_setup_teardown(test_config_get, setup7, teardown),
		cmocka_unit_test_setup_teardown(test_time_memory, setup7, teardown),
		cmocka_unit_test_setup_teardown(test_random_arguments, setup7, teardown),
		cmocka_unit_test_setup_teardown(test_table_sorted, setup7, teardown),
		cmocka_unit_test_setup_teardown(test_multi_counts, setup7, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
