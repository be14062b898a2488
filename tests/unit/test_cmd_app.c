/* The commands applications reach for (client/cmd_strings.c, cmd_sets.c,
 * cmd_multi.c): MGET/MSET/GETSET, the set algebra and its STORE forms,
 * SMISMEMBER, SRANDMEMBER, GETEX, EXPIRETIME, HRANDFIELD, HSCAN, MULTI/EXEC,
 * TYPE's Redis names, and the refusals of what cannot converge.  As tests/unit/test_commands.c:
 * commands_exec on a daemon with a store and no sockets, exact replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/commands.h"
#include "client/resp.h"
#include "config.h"
#include "crdt/error.h"
#include "daemon.h"
#include "state/store.h"

#include "cmdfx.h"

/* The bulk strings of an array reply "*n\r\n$l\r\nx\r\n...", NUL-terminated
 * in place in f->reply; returns n. */
static size_t bulks(struct fx *f, const char **ret, size_t max)
{
	char *p = f->reply, *end;
	size_t n;

	assert_true(*p == '*' || *p == '~');
	n = strtoul(p + 1, &end, 10);
	assert_true(n <= max);
	p = end + 2;
	for (size_t i = 0; i < n; i++) {
		size_t len;
		assert_int_equal(*p, '$');
		len = strtoul(p + 1, &end, 10);
		ret[i] = end + 2;
		end[2 + len] = 0;
		p = end + 2 + len + 2;
	}
	return n;
}

/* ---- strings --------------------------------------------------------------- */

static void test_mget_mset(void **state)
{
	struct fx *f = *state;

	EXPECT(f, "+OK\r\n", "MSET", "a", "1", "b", "two");
	EXPECT(f, ":5\r\n", "INCRBY", "c", "5");
	EXPECT(f, ":1\r\n", "SADD", "s", "x");
	/* a counter reads as its digits; a set and a missing key as nil */
	EXPECT(f, "*5\r\n$1\r\n1\r\n$3\r\ntwo\r\n$1\r\n5\r\n$-1\r\n$-1\r\n", "MGET", "a", "b", "c",
	       "s", "nokey");
	f->s.proto = RESP_PROTO3;
	EXPECT(f, "*2\r\n$1\r\n1\r\n_\r\n", "MGET", "a", "nokey");
	f->s.proto = RESP_PROTO2;
	/* the later of a name given twice wins, as SET after SET */
	EXPECT(f, "+OK\r\n", "MSET", "a", "x", "a", "y");
	EXPECT(f, "$1\r\ny\r\n", "GET", "a");

	/* refused whole: nothing written, not even the pairs before the bad one */
	uint64_t errs = f->d.stats.errors_replied;
	EXPECT(f, WRONGTYPE, "MSET", "new", "1", "s", "2");
	EXPECT(f, WRONGTYPE, "MSET", "new", "1", "c", "2");
	EXPECT(f, "-ERR wrong number of arguments for 'mset' command\r\n", "MSET", "new", "1", "b");
	EXPECT(f, "-ERR wrong number of arguments for 'mset' command\r\n", "MSET", "new");
	EXPECT(f, "-ERR wrong number of arguments for 'mget' command\r\n", "MGET");
	assert_int_equal(f->d.stats.errors_replied, errs + 5);
	EXPECT(f, ":0\r\n", "EXISTS", "new");
	EXPECT(f, "$3\r\ntwo\r\n", "GET", "b");
	/* key positions for clients that route by COMMAND INFO: every second
	 * argument from the first to the last */
	EXPECT(f, "*1\r\n*6\r\n$4\r\nmset\r\n:-3\r\n*1\r\n+write\r\n:1\r\n:-1\r\n:2\r\n",
	       "COMMAND", "INFO", "mset");
	EXPECT(f, "*1\r\n*6\r\n$4\r\nmget\r\n:-2\r\n*1\r\n+readonly\r\n:1\r\n:-1\r\n:1\r\n",
	       "COMMAND", "INFO", "mget");
}

static void test_getset(void **state)
{
	struct fx *f = *state;

	EXPECT(f, "$-1\r\n", "GETSET", "r", "v1");
	EXPECT(f, "$2\r\nv1\r\n", "GETSET", "r", "v2");
	EXPECT(f, "$2\r\nv2\r\n", "GET", "r");
	EXPECT(f, ":3\r\n", "INCRBY", "c", "3");
	EXPECT(f, "-ERR GETSET on a counter cannot converge: replacing its value would lose "
		  "increments made concurrently on other replicas; use INCRBY\r\n",
	       "GETSET", "c", "0");
	EXPECT(f, "$1\r\n3\r\n", "GET", "c");
	EXPECT(f, ":1\r\n", "SADD", "s", "x");
	EXPECT(f, WRONGTYPE, "GETSET", "s", "v");
	EXPECT(f, "+set\r\n", "TYPE", "s");
}

/* INCRBY/DECRBY errors in Redis 7's words. */
static void test_counter_range_errors(void **state)
{
	struct fx *f = *state;

	EXPECT(f, ":9223372036854775806\r\n", "INCRBY", "c", "9223372036854775806");
	EXPECT(f, ":9223372036854775807\r\n", "INCR", "c");
	EXPECT(f, "-ERR increment or decrement would overflow\r\n", "INCR", "c");
	EXPECT(f, "-ERR increment or decrement would overflow\r\n", "INCRBY", "c", "1");
	EXPECT(f, "-ERR increment or decrement would overflow\r\n", "DECRBY", "c", "-1");
	EXPECT(f, "-ERR decrement would overflow\r\n", "DECRBY", "c", "-9223372036854775808");
	EXPECT(f, NOTINT, "INCRBY", "c", "1x");
	EXPECT(f, NOTINT, "DECRBY", "c", "9223372036854775808");
	EXPECT(f, "$19\r\n9223372036854775807\r\n", "GET", "c");
	EXPECT(f, ":-9223372036854775807\r\n", "DECRBY", "d", "9223372036854775807");
	EXPECT(f, "-ERR increment or decrement would overflow\r\n", "DECRBY", "d", "2");
	EXPECT(f, ":-9223372036854775808\r\n", "DECR", "d");
	EXPECT(f, "-ERR increment or decrement would overflow\r\n", "DECR", "d");
}

static void test_type_names(void **state)
{
	struct fx *f = *state;

	EXPECT(f, "+OK\r\n", "SET", "r", "v");
	EXPECT(f, ":1\r\n", "INCR", "c");
	EXPECT(f, "+OK\r\n", "CRDT.CREATE", "g", "gcounter");
	EXPECT(f, "+OK\r\n", "CRDT.CREATE", "gs", "gset");
	EXPECT(f, ":1\r\n", "SADD", "s", "x");
	EXPECT(f, "+string\r\n", "TYPE", "r");
	EXPECT(f, "+string\r\n", "TYPE", "c");
	EXPECT(f, "+string\r\n", "TYPE", "g");
	EXPECT(f, "+set\r\n", "TYPE", "gs");
	EXPECT(f, "+set\r\n", "TYPE", "s");
	EXPECT(f, "+none\r\n", "TYPE", "nokey");
	EXPECT(f, "+lwwreg\r\n", "CRDT.TYPE", "r");
	EXPECT(f, "+pncounter\r\n", "CRDT.TYPE", "c");
	EXPECT(f, "+gcounter\r\n", "CRDT.TYPE", "g");
	EXPECT(f, "+gset\r\n", "CRDT.TYPE", "gs");
	EXPECT(f, "+orset\r\n", "CRDT.TYPE", "s");
	EXPECT(f, "+none\r\n", "CRDT.TYPE", "nokey");
	/* SCAN TYPE takes the Redis names too */
	RUN(f, "SCAN", "0", "TYPE", "set");
	assert_non_null(strstr(f->reply, "*2\r\n$2\r\ngs\r\n$1\r\ns\r\n") ||
			strstr(f->reply, "*2\r\n$1\r\ns\r\n$2\r\ngs\r\n"));
	RUN(f, "SCAN", "0", "TYPE", "string");
	assert_memory_equal(f->reply, "*2\r\n$1\r\n0\r\n*3\r\n", 14);
	EXPECT(f, "*2\r\n$1\r\n0\r\n*0\r\n", "SCAN", "0", "TYPE", "list");
	EXPECT(f, "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nr\r\n", "SCAN", "0", "TYPE", "lwwreg");
}

/* ---- sets ------------------------------------------------------------------ */

static void test_smismember(void **state)
{
	struct fx *f = *state;

	EXPECT(f, ":2\r\n", "SADD", "s", "a", "b");
	EXPECT(f, "*3\r\n:1\r\n:0\r\n:1\r\n", "SMISMEMBER", "s", "a", "z", "b");
	EXPECT(f, "*1\r\n:0\r\n", "SMISMEMBER", "nokey", "a");
	EXPECT(f, "+OK\r\n", "SET", "r", "v");
	EXPECT(f, WRONGTYPE, "SMISMEMBER", "r", "a");
	EXPECT(f, "-ERR wrong number of arguments for 'smismember' command\r\n", "SMISMEMBER", "s");
}

static bool in_abc(const char *m)
{
	return !strcmp(m, "a") || !strcmp(m, "b") || !strcmp(m, "c");
}

static void test_srandmember(void **state)
{
	struct fx *f = *state;
	const char *m[128];

	EXPECT(f, "$-1\r\n", "SRANDMEMBER", "nokey");
	EXPECT(f, "*0\r\n", "SRANDMEMBER", "nokey", "3");
	EXPECT(f, ":3\r\n", "SADD", "s", "a", "b", "c");
	for (int i = 0; i < 20; i++) {
		RUN(f, "SRANDMEMBER", "s");
		assert_memory_equal(f->reply, "$1\r\n", 4);
		f->reply[5] = 0;
		assert_true(in_abc(f->reply + 4));
	}
	EXPECT(f, "*0\r\n", "SRANDMEMBER", "s", "0");
	/* positive: distinct members, at most the whole set */
	for (int i = 0; i < 20; i++) {
		RUN(f, "SRANDMEMBER", "s", "2");
		assert_int_equal(bulks(f, m, 64), 2);
		assert_true(in_abc(m[0]) && in_abc(m[1]) && strcmp(m[0], m[1]) != 0);
	}
	RUN(f, "SRANDMEMBER", "s", "10");
	assert_int_equal(bulks(f, m, 64), 3);
	assert_true(strcmp(m[0], m[1]) && strcmp(m[1], m[2]) && strcmp(m[0], m[2]));
	/* negative: exactly |count|, repeats allowed */
	RUN(f, "SRANDMEMBER", "s", "-40");
	assert_int_equal(bulks(f, m, 64), 40);
	for (int i = 0; i < 40; i++)
		assert_true(in_abc(m[i]));
	/* bad input: an error, counted, the set unchanged */
	uint64_t errs = f->d.stats.errors_replied;
	EXPECT(f, NOTINT, "SRANDMEMBER", "s", "x");
	EXPECT(f, "-ERR value is out of range\r\n", "SRANDMEMBER", "s", "-9223372036854775807");
	EXPECT(f, "-ERR syntax error\r\n", "SRANDMEMBER", "s", "1", "2");
	EXPECT(f, ":1\r\n", "INCR", "c");
	EXPECT(f, WRONGTYPE, "SRANDMEMBER", "c");
	assert_int_equal(f->d.stats.errors_replied, errs + 4);
	EXPECT(f, ":3\r\n", "SCARD", "s");
	/* a negative count repeats: the reply is bounded by max_elements and by
	 * the output limit, with an error before anything is built */
	f->d.cfg.limits.max_elements = 100;
	RUN(f, "SRANDMEMBER", "s", "-100");
	assert_int_equal(bulks(f, m, 128), 100);
	EXPECT(f, "-ERR count is larger than max_elements (100): a reply holds at most as many "
		  "members as a set may hold\r\n",
	       "SRANDMEMBER", "s", "-101");
	EXPECT(f, "-ERR count is larger than max_elements (100): a reply holds at most as many "
		  "members as a set may hold\r\n",
	       "SRANDMEMBER", "s", "-4611686018427387903");
	RUN(f, "SRANDMEMBER", "s", "1000"); /* distinct: at most the set, never refused */
	assert_int_equal(bulks(f, m, 64), 3);
	crdt_buf_done(&f->out);
	crdt_buf_init(&f->out, 512); /* the client's output hard limit */
	EXPECT(f, "-ERR count is too large: the reply would pass the client output buffer hard "
		  "limit (512 bytes)\r\n",
	       "SRANDMEMBER", "s", "-90");
	assert_int_equal(f->d.stats.errors_replied, errs + 7);
	EXPECT(f, ":3\r\n", "SCARD", "s");
}

static void test_set_algebra(void **state)
{
	struct fx *f = *state;

	EXPECT(f, ":3\r\n", "SADD", "s1", "a", "b", "c");
	EXPECT(f, ":3\r\n", "SADD", "s2", "d", "c", "b");
	EXPECT(f, "+OK\r\n", "CRDT.CREATE", "g", "gset");
	EXPECT(f, ":2\r\n", "SADD", "g", "e", "c");
	/* ascending byte order, each member once */
	EXPECT(f, "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n", "SUNION", "s1",
	       "s2", "g", "nokey");
	EXPECT(f, "*1\r\n$1\r\nc\r\n", "SINTER", "s1", "s2", "g");
	EXPECT(f, "*2\r\n$1\r\nb\r\n$1\r\nc\r\n", "SINTER", "s2", "s1");
	EXPECT(f, "*0\r\n", "SINTER", "s1", "nokey");
	EXPECT(f, "*1\r\n$1\r\na\r\n", "SDIFF", "s1", "s2");
	EXPECT(f, "*1\r\n$1\r\na\r\n", "SDIFF", "s1", "s2", "g");
	EXPECT(f, "*0\r\n", "SDIFF", "nokey", "s1");
	EXPECT(f, "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", "SDIFF", "s1");
	f->s.proto = RESP_PROTO3;
	EXPECT(f, "~1\r\n$1\r\nc\r\n", "SINTER", "s1", "s2", "g");
	f->s.proto = RESP_PROTO2;
	EXPECT(f, ":1\r\n", "INCR", "c");
	EXPECT(f, WRONGTYPE, "SUNION", "s1", "c");
	EXPECT(f, WRONGTYPE, "SINTER", "nokey", "c"); /* as Redis: every key is checked */
	EXPECT(f, WRONGTYPE, "SDIFF", "s1", "c");
	EXPECT(f, "-ERR wrong number of arguments for 'sunion' command\r\n", "SUNION");
}

static void test_store_forms(void **state)
{
	struct fx *f = *state;

	EXPECT(f, ":3\r\n", "SADD", "s1", "a", "b", "c");
	EXPECT(f, ":3\r\n", "SADD", "s2", "b", "c", "d");
	EXPECT(f, ":4\r\n", "SUNIONSTORE", "dst", "s1", "s2");
	EXPECT(f, "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n", "SMEMBERS", "dst");
	EXPECT(f, "+orset\r\n", "CRDT.TYPE", "dst");
	/* a STORE replaces: what dst held outside the result goes */
	EXPECT(f, ":2\r\n", "SINTERSTORE", "dst", "s1", "s2");
	EXPECT(f, "*2\r\n$1\r\nb\r\n$1\r\nc\r\n", "SMEMBERS", "dst");
	/* the destination may be a source */
	EXPECT(f, ":1\r\n", "SDIFFSTORE", "s1", "s1", "s2");
	EXPECT(f, "*1\r\n$1\r\na\r\n", "SMEMBERS", "s1");
	/* an empty result: no new key; an existing one left empty */
	EXPECT(f, ":0\r\n", "SINTERSTORE", "new", "s1", "s2");
	EXPECT(f, ":0\r\n", "EXISTS", "new");
	EXPECT(f, ":0\r\n", "SINTERSTORE", "dst", "s1", "s2");
	EXPECT(f, ":0\r\n", "SCARD", "dst");

	/* refused, dst unchanged */
	uint64_t errs = f->d.stats.errors_replied;
	EXPECT(f, ":1\r\n", "SADD", "dst", "keep");
	EXPECT(f, ":1\r\n", "INCR", "c");
	EXPECT(f, WRONGTYPE, "SUNIONSTORE", "dst", "s2", "c");
	EXPECT(f, WRONGTYPE, "SUNIONSTORE", "c", "s2");
	EXPECT(f, "+OK\r\n", "CRDT.CREATE", "g", "gset");
	EXPECT(f, "-ERR a gset can only grow; replacing it needs an orset\r\n", "SUNIONSTORE", "g",
	       "s2");
	EXPECT(f, "-ERR wrong number of arguments for 'sdiffstore' command\r\n", "SDIFFSTORE", "d");
	assert_int_equal(f->d.stats.errors_replied, errs + 4);
	EXPECT(f, "*1\r\n$4\r\nkeep\r\n", "SMEMBERS", "dst");
	EXPECT(f, "*0\r\n", "SMEMBERS", "g");
}

/* The STORE's meaning under concurrency (cmd_sets.c): "dst is now exactly
 * the result, as far as this replica has seen".  A replica that had the same
 * dst and, concurrently, added a member and removed a member of the result
 * is merged in afterwards. */
static void test_store_concurrent(void **state)
{
	struct fx *f = *state;
	static const struct crdt_rid peer = { { 7 } };
	struct store_entry *e;
	struct crdt_obj other;

	EXPECT(f, ":3\r\n", "SADD", "dst", "old", "b", "c");
	EXPECT(f, ":2\r\n", "SADD", "src", "b", "c");
	e = store_find(&f->d.store, "dst", 3);
	assert_non_null(e);
	/* the other replica starts from the same dst */
	assert_int_equal(crdt_obj_copy(store_entry_slot(e, CRDT_ORSET), &other), 0);
	assert_int_equal(crdt_orset_add(other.os, &peer, "new", 3), 0);
	assert_int_equal(crdt_orset_remove(other.os, "b", 1), 1);

	EXPECT(f, ":2\r\n", "SUNIONSTORE", "dst", "src");
	assert_int_equal(store_merge(&f->d.store, "dst", 3, &other), 0);
	crdt_obj_done(&other);
	/* "old": removed by the STORE, stays removed; "new": added concurrently,
	 * survives; "b": removed concurrently, but re-added by the STORE */
	EXPECT(f, "*3\r\n$1\r\nb\r\n$1\r\nc\r\n$3\r\nnew\r\n", "SMEMBERS", "dst");
}

/* SPOP and SMOVE cannot converge: refused, nothing changed. */
static void test_diverging(void **state)
{
	struct fx *f = *state;

	EXPECT(f, ":2\r\n", "SADD", "s", "a", "b");
	EXPECT(f, "-ERR SPOP cannot converge: two replicas could pop the same member "
		  "concurrently; use SRANDMEMBER and SREM\r\n",
	       "SPOP", "s");
	EXPECT(f, "-ERR SMOVE cannot converge: concurrent moves of a member on two replicas "
		  "would leave it in both destinations; use SREM and SADD\r\n",
	       "smove", "s", "t", "a");
	EXPECT(f, ":2\r\n", "SCARD", "s");
	EXPECT(f, ":0\r\n", "EXISTS", "t");
	assert_int_equal(f->d.stats.errors_replied, 2);
}

/* ---- expiry: GETEX, EXPIRETIME, PEXPIRETIME ----------------------------------- */

/* Counts the store's change announcements: a refused command makes none. */
static void count_change(void *ctx, struct store_entry *e, enum crdt_type t,
			 const struct store_change *c)
{
	(*(int *)ctx)++;
}

/* 2100-01-01 in seconds and ms: a deadline no test run reaches */
#define T2100 "4102444800"
#define T2100MS "4102444800000"

static void test_getex(void **state)
{
	struct fx *f = *state;
	int changes = 0;
	uint64_t errs;

	assert_int_equal(store_subscribe(&f->d.store,
					 &(struct store_sub){ .changed = count_change,
							      .ctx = &changes },
					 NULL),
			 0);
	EXPECT(f, "$-1\r\n", "GETEX", "nokey", "EX", "10");
	EXPECT(f, ":-2\r\n", "PTTL", "nokey"); /* a missing key gets no deadline */
	assert_int_equal(changes, 0);
	EXPECT(f, "+OK\r\n", "SET", "k", "v");
	EXPECT(f, "$1\r\nv\r\n", "GETEX", "k"); /* no option: GET */
	EXPECT(f, ":-1\r\n", "PEXPIRETIME", "k");
	EXPECT(f, "$1\r\nv\r\n", "GETEX", "k", "PXAT", T2100MS);
	EXPECT(f, ":" T2100MS "\r\n", "PEXPIRETIME", "k");
	EXPECT(f, ":" T2100 "\r\n", "EXPIRETIME", "k");
	EXPECT(f, "$1\r\nv\r\n", "getex", "k", "exat", "4102444801");
	EXPECT(f, ":4102444801000\r\n", "PEXPIRETIME", "k");
	EXPECT(f, "$1\r\nv\r\n", "GETEX", "k", "PERSIST");
	EXPECT(f, ":-1\r\n", "TTL", "k");
	EXPECT(f, "$1\r\nv\r\n", "GETEX", "k", "EX", "100");
	RUN(f, "TTL", "k");
	assert_true(!strcmp(f->reply, ":100\r\n") || !strcmp(f->reply, ":99\r\n"));
	EXPECT(f, "$1\r\nv\r\n", "GETEX", "k", "PX", "100000");
	/* counters: GET's bulk of digits, then the deadline */
	EXPECT(f, ":7\r\n", "INCRBY", "c", "7");
	EXPECT(f, "$1\r\n7\r\n", "GETEX", "c", "PXAT", T2100MS);
	EXPECT(f, ":" T2100MS "\r\n", "PEXPIRETIME", "c");

	/* bad input: an error, counted, and no change announced */
	changes = 0;
	errs = f->d.stats.errors_replied;
	EXPECT(f, "-ERR invalid expire time in 'getex' command\r\n", "GETEX", "k", "EX", "0");
	EXPECT(f, "-ERR invalid expire time in 'getex' command\r\n", "GETEX", "k", "PX", "-5");
	EXPECT(f, "-ERR invalid expire time in 'getex' command\r\n", "GETEX", "k", "EX",
	       "9223372036854775807");
	EXPECT(f, "-ERR invalid expire time in 'getex' command\r\n", "GETEX", "k", "EXAT",
	       "9223372036854776");
	EXPECT(f, NOTINT, "GETEX", "k", "EX", "ten");
	EXPECT(f, NOTINT, "GETEX", "k", "PX", "99999999999999999999");
	EXPECT(f, "-ERR syntax error\r\n", "GETEX", "k", "EX");
	EXPECT(f, "-ERR syntax error\r\n", "GETEX", "k", "EX", "1", "PX", "1");
	EXPECT(f, "-ERR syntax error\r\n", "GETEX", "k", "PERSIST", "EX", "1");
	EXPECT(f, "-ERR syntax error\r\n", "GETEX", "k", "KEEPTTL");
	EXPECT(f, "-ERR wrong number of arguments for 'getex' command\r\n", "GETEX");
	EXPECT(f, ":1\r\n", "SADD", "s", "m");
	EXPECT(f, WRONGTYPE, "GETEX", "s", "EX", "10");
	/* Redis' order: the words, then the key, then the time */
	EXPECT(f, WRONGTYPE, "GETEX", "s", "EX", "0");
	EXPECT(f, "-ERR syntax error\r\n", "GETEX", "s", "EX");
	EXPECT(f, "$-1\r\n", "GETEX", "nokey", "EX", "x");
	EXPECT(f, "-ERR syntax error\r\n", "GETEX", "nokey", "PX", "1", "PERSIST");
	EXPECT(f, "+OK\r\n", "CRDT.CREATE", "g", "gcounter");
	EXPECT(f, ":1\r\n", "INCR", "g");
	changes = 0;
	EXPECT(f, "-ERR getex on a gcounter: a grow-only type cannot be deleted, so it cannot "
		  "expire; use a pncounter for a key that must expire\r\n",
	       "GETEX", "g", "EX", "10");
	EXPECT(f, "$1\r\n1\r\n", "GETEX", "g");
	EXPECT(f, "-ERR key names starting with the bytes 0xff 'ttl:' are reserved for the "
		  "deadlines of keys\r\n",
	       "SET", "\xffttl:k", "v");
	EXPECT(f, "$-1\r\n", "GETEX", "\xffttl:k", "PERSIST"); /* never visible */
	assert_int_equal(changes, 0);
	assert_int_equal(f->d.stats.errors_replied, errs + 17);
	EXPECT(f, "$1\r\nv\r\n", "GET", "k");
	RUN(f, "PTTL", "k");
	assert_true(f->reply[0] == ':' && atoll(f->reply + 1) > 99000);
	EXPECT(f, ":-1\r\n", "TTL", "g");
	EXPECT(f, ":-1\r\n", "TTL", "s");

	/* a time already past: the value, then the key is gone (as Redis) */
	EXPECT(f, "$1\r\nv\r\n", "GETEX", "k", "PXAT", "1");
	EXPECT(f, ":0\r\n", "EXISTS", "k");
	EXPECT(f, "$-1\r\n", "GETEX", "k");
	f->s.proto = RESP_PROTO3;
	EXPECT(f, "_\r\n", "GETEX", "k", "PERSIST");
	f->s.proto = RESP_PROTO2;
	store_unsubscribe(&f->d.store, &changes);
}

static void test_expiretime(void **state)
{
	struct fx *f = *state;

	EXPECT(f, ":-2\r\n", "EXPIRETIME", "k");
	EXPECT(f, ":-2\r\n", "PEXPIRETIME", "k");
	EXPECT(f, ":2\r\n", "HSET", "k", "f", "v", "g", "w");
	EXPECT(f, ":-1\r\n", "EXPIRETIME", "k");
	EXPECT(f, ":-1\r\n", "PEXPIRETIME", "k");
	EXPECT(f, ":1\r\n", "PEXPIREAT", "k", "4102444800999");
	EXPECT(f, ":" T2100 "\r\n", "EXPIRETIME", "k"); /* seconds, rounded down */
	EXPECT(f, ":4102444800999\r\n", "PEXPIRETIME", "k");
	EXPECT(f, ":1\r\n", "PERSIST", "k");
	EXPECT(f, ":-1\r\n", "EXPIRETIME", "k");
	EXPECT(f, "-ERR wrong number of arguments for 'expiretime' command\r\n", "EXPIRETIME");
	EXPECT(f, "-ERR wrong number of arguments for 'pexpiretime' command\r\n", "PEXPIRETIME",
	       "k", "x");
	EXPECT(f, ":1\r\n", "PEXPIREAT", "k", "1"); /* past: deleted */
	EXPECT(f, ":-2\r\n", "PEXPIRETIME", "k");
}

/* ---- hashes: HRANDFIELD, HSCAN, HINCRBYFLOAT --------------------------------- */

static bool in_fgh(const char *m)
{
	return !strcmp(m, "f") || !strcmp(m, "g") || !strcmp(m, "h");
}

static void test_hrandfield(void **state)
{
	struct fx *f = *state;
	const char *m[256];
	uint64_t errs;

	EXPECT(f, "$-1\r\n", "HRANDFIELD", "nokey");
	EXPECT(f, "*0\r\n", "HRANDFIELD", "nokey", "3");
	EXPECT(f, "*0\r\n", "HRANDFIELD", "nokey", "-3", "WITHVALUES");
	EXPECT(f, ":3\r\n", "HSET", "h", "f", "1", "g", "2", "h", "3");
	for (int i = 0; i < 20; i++) {
		RUN(f, "HRANDFIELD", "h");
		assert_memory_equal(f->reply, "$1\r\n", 4);
		f->reply[5] = 0;
		assert_true(in_fgh(f->reply + 4));
	}
	EXPECT(f, "*0\r\n", "HRANDFIELD", "h", "0");
	/* positive: distinct fields, at most all of them */
	for (int i = 0; i < 20; i++) {
		RUN(f, "HRANDFIELD", "h", "2");
		assert_int_equal(bulks(f, m, 256), 2);
		assert_true(in_fgh(m[0]) && in_fgh(m[1]) && strcmp(m[0], m[1]) != 0);
	}
	RUN(f, "HRANDFIELD", "h", "10");
	assert_int_equal(bulks(f, m, 256), 3);
	assert_true(strcmp(m[0], m[1]) && strcmp(m[1], m[2]) && strcmp(m[0], m[2]));
	/* WITHVALUES: each field then its own value (RESP2: flat) */
	RUN(f, "HRANDFIELD", "h", "3", "withvalues");
	assert_int_equal(bulks(f, m, 256), 6);
	for (int i = 0; i < 6; i += 2)
		assert_int_equal(m[i + 1][0] - '1', m[i][0] - 'f');
	/* negative: exactly |count|, repeats allowed */
	RUN(f, "HRANDFIELD", "h", "-40", "WITHVALUES");
	assert_int_equal(bulks(f, m, 256), 80);
	for (int i = 0; i < 80; i += 2)
		assert_true(in_fgh(m[i]) && m[i + 1][0] - '1' == m[i][0] - 'f');
	EXPECT(f, ":2\r\n", "HDEL", "h", "g", "h");
	EXPECT(f, "*2\r\n$1\r\nf\r\n$1\r\nf\r\n", "HRANDFIELD", "h", "-2");
	EXPECT(f, "*4\r\n$1\r\nf\r\n$1\r\n1\r\n$1\r\nf\r\n$1\r\n1\r\n", "HRANDFIELD", "h", "-2",
	       "WITHVALUES");
	EXPECT(f, ":4\r\n", "HINCRBY", "h", "n", "4"); /* a counter field's value is its digits */
	EXPECT(f, ":1\r\n", "HDEL", "h", "f");
	EXPECT(f, "*2\r\n$1\r\nn\r\n$1\r\n4\r\n", "HRANDFIELD", "h", "1", "WITHVALUES");
	f->s.proto = RESP_PROTO3; /* pairs, as Redis 7 */
	EXPECT(f, "*2\r\n*2\r\n$1\r\nn\r\n$1\r\n4\r\n*2\r\n$1\r\nn\r\n$1\r\n4\r\n", "HRANDFIELD",
	       "h", "-2", "WITHVALUES");
	EXPECT(f, "*1\r\n$1\r\nn\r\n", "HRANDFIELD", "h", "-1");
	EXPECT(f, "_\r\n", "HRANDFIELD", "nokey");
	f->s.proto = RESP_PROTO2;

	/* bad input: an error, counted, nothing changed */
	errs = f->d.stats.errors_replied;
	EXPECT(f, NOTINT, "HRANDFIELD", "h", "x");
	EXPECT(f, NOTINT, "HRANDFIELD", "h", "1.5", "WITHVALUES");
	EXPECT(f, "-ERR syntax error\r\n", "HRANDFIELD", "h", "1", "WITHVALUE");
	EXPECT(f, "-ERR syntax error\r\n", "HRANDFIELD", "h", "1", "WITHVALUES", "x");
	EXPECT(f, "-ERR value is out of range, value must between -9223372036854775807 and "
		  "9223372036854775807\r\n",
	       "HRANDFIELD", "h", "-9223372036854775808");
	EXPECT(f, "-ERR value is out of range\r\n", "HRANDFIELD", "h", "-4611686018427387904",
	       "WITHVALUES");
	EXPECT(f, "-ERR wrong number of arguments for 'hrandfield' command\r\n", "HRANDFIELD");
	EXPECT(f, ":1\r\n", "SADD", "s", "m");
	EXPECT(f, WRONGTYPE, "HRANDFIELD", "s");
	EXPECT(f, WRONGTYPE, "HRANDFIELD", "s", "-5", "WITHVALUES");
	/* a huge negative count: refused before anything is built */
	f->d.cfg.limits.max_hash_fields = 50;
	EXPECT(f, "-ERR count is larger than max_hash_fields (50): a reply holds at most as many "
		  "fields as a hash may hold\r\n",
	       "HRANDFIELD", "h", "-51");
	EXPECT(f, "-ERR count is larger than max_hash_fields (50): a reply holds at most as many "
		  "fields as a hash may hold\r\n",
	       "HRANDFIELD", "h", "-4611686018427387903", "WITHVALUES");
	RUN(f, "HRANDFIELD", "h", "-50");
	assert_int_equal(bulks(f, m, 256), 50);
	crdt_buf_done(&f->out);
	crdt_buf_init(&f->out, 400); /* the client's output hard limit */
	EXPECT(f, "-ERR count is too large: the reply would pass the client output buffer hard "
		  "limit (400 bytes)\r\n",
	       "HRANDFIELD", "h", "-40", "WITHVALUES");
	assert_int_equal(f->d.stats.errors_replied, errs + 12);
	EXPECT(f, "*2\r\n$1\r\nn\r\n$1\r\n4\r\n", "HGETALL", "h");
}

static void test_hscan(void **state)
{
	struct fx *f = *state;
	uint64_t errs;

	EXPECT(f, "*2\r\n$1\r\n0\r\n*0\r\n", "HSCAN", "nokey", "0");
	EXPECT(f, ":3\r\n", "HSET", "h", "b", "2", "a", "1", "ab", "3");
	EXPECT(f, ":5\r\n", "HINCRBY", "h", "n", "5");
	/* the whole hash in one step, ascending, cursor 0 */
	EXPECT(f,
	       "*2\r\n$1\r\n0\r\n*8\r\n$1\r\na\r\n$1\r\n1\r\n$2\r\nab\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n"
	       "$1\r\nn\r\n$1\r\n5\r\n",
	       "HSCAN", "h", "0");
	EXPECT(f, "*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$2\r\nab\r\n$1\r\n3\r\n", "HSCAN",
	       "h", "17", "MATCH", "a*", "COUNT", "1");
	EXPECT(f, "*2\r\n$1\r\n0\r\n*1\r\n$2\r\nab\r\n", "hscan", "h", "0", "novalues", "match",
	       "?b");
	EXPECT(f, "*2\r\n$1\r\n0\r\n*2\r\n$2\r\nab\r\n$1\r\nb\r\n", "HSCAN", "h", "0", "MATCH",
	       "*b", "NOVALUES");
	EXPECT(f, "*2\r\n$1\r\n0\r\n*0\r\n", "HSCAN", "h", "0", "MATCH", "z*");
	f->s.proto = RESP_PROTO3; /* flat in RESP3 too, as Redis */
	EXPECT(f, "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nn\r\n$1\r\n5\r\n", "HSCAN", "h", "0", "MATCH", "n");
	f->s.proto = RESP_PROTO2;

	errs = f->d.stats.errors_replied;
	EXPECT(f, "-ERR invalid cursor\r\n", "HSCAN", "h", "x");
	EXPECT(f, "-ERR invalid cursor\r\n", "HSCAN", "h", " 1");
	EXPECT(f, "-ERR syntax error\r\n", "HSCAN", "h", "0", "COUNT", "0");
	EXPECT(f, NOTINT, "HSCAN", "h", "0", "COUNT", "many");
	EXPECT(f, "-ERR syntax error\r\n", "HSCAN", "h", "0", "MATCH");
	EXPECT(f, "-ERR syntax error\r\n", "HSCAN", "h", "0", "TYPE", "hash");
	EXPECT(f, "-ERR wrong number of arguments for 'hscan' command\r\n", "HSCAN", "h");
	EXPECT(f, ":1\r\n", "SADD", "s", "m");
	EXPECT(f, WRONGTYPE, "HSCAN", "s", "0");
	/* the type before the options, as Redis */
	EXPECT(f, WRONGTYPE, "HSCAN", "s", "0", "COUNT", "0");
	EXPECT(f, WRONGTYPE, "HSCAN", "s", "0", "BOGUS");
	assert_int_equal(f->d.stats.errors_replied, errs + 10);
	/* SCAN's parsing is the same code: NOVALUES is HSCAN's alone */
	EXPECT(f, "-ERR syntax error\r\n", "SCAN", "0", "NOVALUES");
	EXPECT(f, "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nh\r\n", "SCAN", "0", "MATCH", "h", "COUNT", "5");
	EXPECT(f, ":4\r\n", "HLEN", "h");
}

/* Cursors as redis-server 7.0.15 parses them (strtoul in base 10, no
 * leading space, nothing after the digits, within 64 bits; a minus wraps),
 * and its order of checks: the cursor, then the key (a missing key is an
 * empty scan whatever the options), its type, then the options.  The
 * errors, the empty scans and HSCAN's replies are redis-server 7.0.15's,
 * byte for byte, with the same keys; where Redis reads a non-zero cursor
 * as a place in its hash table (SCAN, SSCAN), every valid cursor answers
 * the whole here, in one step with cursor 0. */
static void test_scan_cursor(void **state)
{
	struct fx *f = *state;
	static const char *const ok[] = { "0", "1", "-1", "-0", "+5", "007", "",
					  "18446744073709551615", "-18446744073709551615",
					  "9223372036854775808", "-9223372036854775808" };
	static const char *const bad[] = { " 5", "5 ", "\t1", "abc", "-", "+", "+-1", "- 1",
					   "18446744073709551616", "-18446744073709551616",
					   "99999999999999999999999", "1e3", "0x10" };
	const char *const emp = "*2\r\n$1\r\n0\r\n*0\r\n";
	const char *const inv = "-ERR invalid cursor\r\n";
	uint64_t errs;

	EXPECT(f, ":1\r\n", "HSET", "h", "a", "1");
	EXPECT(f, ":1\r\n", "SADD", "st", "x");
	EXPECT(f, "+OK\r\n", "SET", "str", "v");
	for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
		EXPECT(f, "*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n", "HSCAN", "h", ok[i]);
		EXPECT(f, "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nx\r\n", "SSCAN", "st", ok[i]);
		EXPECT(f, "*2\r\n$1\r\n0\r\n*1\r\n$3\r\nstr\r\n", "SCAN", ok[i], "TYPE", "string");
		EXPECT(f, WRONGTYPE, "HSCAN", "str", ok[i]);
		EXPECT(f, WRONGTYPE, "SSCAN", "str", ok[i]);
		EXPECT(f, emp, "HSCAN", "nokey", ok[i]);
		EXPECT(f, emp, "SSCAN", "nokey", ok[i]);
	}
	errs = f->d.stats.errors_replied;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		EXPECT(f, inv, "SCAN", bad[i]);
		EXPECT(f, inv, "HSCAN", "h", bad[i]);
		EXPECT(f, inv, "HSCAN", "str", bad[i], "COUNT", "0");
		EXPECT(f, inv, "SSCAN", "nokey", bad[i]);
	}
	assert_int_equal(f->d.stats.errors_replied, errs + 4 * sizeof(bad) / sizeof(*bad));
	/* the argument ends at its first NUL, as a C string does */
	{ /* (the keys in the order of this store's table) */
		char whole[128];
		snprintf(whole, sizeof(whole), "%s", run_l(f, 2, ARGS("SCAN", "0"), (size_t[]){ 4, 1 }));
		assert_memory_equal(whole, "*2\r\n$1\r\n0\r\n*3\r\n", 15);
		assert_string_equal(run_l(f, 2, ARGS("SCAN", "0\0x"), (size_t[]){ 4, 3 }), whole);
	}
	assert_string_equal(run_l(f, 3, ARGS("SSCAN", "st", "\0 x"), (size_t[]){ 5, 2, 3 }),
			    "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nx\r\n");
	assert_string_equal(run_l(f, 2, ARGS("SCAN", "x\0"), (size_t[]){ 4, 2 }), inv);

	/* a missing key: an empty scan, the options unread */
	EXPECT(f, emp, "HSCAN", "nokey", "0", "COUNT", "0");
	EXPECT(f, emp, "SSCAN", "nokey", "0", "BOGUS");
	EXPECT(f, emp, "SSCAN", "nokey", "0", "COUNT");
	/* a key of another type: WRONGTYPE, the options unread */
	EXPECT(f, WRONGTYPE, "SSCAN", "str", "0", "COUNT", "x");
	EXPECT(f, WRONGTYPE, "SSCAN", "h", "0", "MATCH");
	/* the set's own options: MATCH and COUNT, no TYPE, no NOVALUES */
	EXPECT(f, "-ERR syntax error\r\n", "SSCAN", "st", "0", "COUNT", "0");
	EXPECT(f, "-ERR syntax error\r\n", "SSCAN", "st", "0", "COUNT", "-1");
	EXPECT(f, NOTINT, "SSCAN", "st", "0", "COUNT", "x");
	EXPECT(f, NOTINT, "SSCAN", "st", "0", "MATCH", "*", "COUNT", "99999999999999999999");
	EXPECT(f, "-ERR syntax error\r\n", "SSCAN", "st", "0", "MATCH");
	EXPECT(f, "-ERR syntax error\r\n", "SSCAN", "st", "0", "TYPE", "string");
	EXPECT(f, "-ERR syntax error\r\n", "SSCAN", "st", "0", "NOVALUES");
	EXPECT(f, "-ERR syntax error\r\n", "SCAN", "0", "COUNT", "1", "NOVALUES");
	EXPECT(f, "-ERR wrong number of arguments for 'sscan' command\r\n", "SSCAN", "st");
	EXPECT(f, ":2\r\n", "SADD", "st", "yy", "z");
	EXPECT(f, "*2\r\n$1\r\n0\r\n*1\r\n$2\r\nyy\r\n", "SSCAN", "st", "0", "MATCH", "y*",
	       "COUNT", "1");
	EXPECT(f, emp, "SSCAN", "st", "0", "MATCH", "q");
	/* a deleted set is a missing key */
	EXPECT(f, ":1\r\n", "DEL", "st");
	EXPECT(f, emp, "SSCAN", "st", "0", "COUNT", "0");
}

static void test_incrbyfloat(void **state)
{
	struct fx *f = *state;

	EXPECT(f, ":5\r\n", "INCRBY", "n", "5");
	EXPECT(f, "-ERR INCRBYFLOAT cannot converge: there is no convergent float counter (float "
		  "increments merged in different orders round differently); use INCRBY with "
		  "integer units\r\n",
	       "INCRBYFLOAT", "n", "1.5");
	EXPECT(f, "-ERR wrong number of arguments for 'incrbyfloat' command\r\n", "INCRBYFLOAT",
	       "n");
	EXPECT(f, "$1\r\n5\r\n", "GET", "n");
	RUN(f, "INFO", "commandstats");
	HAS(f, "cmdstat_incrbyfloat:calls=1,");
}

static void test_hincrbyfloat(void **state)
{
	struct fx *f = *state;

	EXPECT(f, ":1\r\n", "HSET", "h", "f", "1");
	EXPECT(f, "-ERR HINCRBYFLOAT cannot converge: there is no convergent float counter (float "
		  "increments merged in different orders round differently); use HINCRBY with "
		  "integer units\r\n",
	       "HINCRBYFLOAT", "h", "f", "1.5");
	EXPECT(f, "-ERR wrong number of arguments for 'hincrbyfloat' command\r\n", "HINCRBYFLOAT",
	       "h", "f");
	EXPECT(f, "$1\r\n1\r\n", "HGET", "h", "f");
	assert_int_equal(f->d.stats.errors_replied, 2);
	/* counted as the other refusals: a failed call of its own command */
	RUN(f, "INFO", "commandstats");
	HAS(f, "cmdstat_hincrbyfloat:calls=1,");
	HAS(f, "failed_calls=1");
	RUN(f, "INFO", "errorstats");
	HAS(f, "errorstat_ERR:count=2");
}

/* ---- transactions ---------------------------------------------------------- */

static void test_multi_exec(void **state)
{
	struct fx *f = *state;
	struct cmd_session other = { .proto = RESP_PROTO2, .id = 2 };

	EXPECT(f, "+OK\r\n", "MULTI");
	EXPECT(f, "+QUEUED\r\n", "INCR", "c");
	EXPECT(f, "+QUEUED\r\n", "SADD", "s", "x", "y");
	EXPECT(f, "+QUEUED\r\n", "SET", "r", "v");
	EXPECT(f, "+QUEUED\r\n", "GET", "r");
	/* nothing applied before EXEC: another connection sees none of it */
	EXPECT_ON(f, &other, ":0\r\n", "EXISTS", "c", "s", "r");
	EXPECT(f, "-ERR MULTI calls can not be nested\r\n", "MULTI"); /* and does not abort */
	EXPECT(f, "*4\r\n:1\r\n:2\r\n+OK\r\n$1\r\nv\r\n", "EXEC");
	EXPECT_ON(f, &other, ":3\r\n", "EXISTS", "c", "s", "r");
	EXPECT(f, "-ERR EXEC without MULTI\r\n", "EXEC");
	EXPECT(f, "-ERR DISCARD without MULTI\r\n", "DISCARD");

	/* an error at run time is that command's element; the rest apply */
	EXPECT(f, "+OK\r\n", "MULTI");
	EXPECT(f, "+QUEUED\r\n", "INCR", "s");
	EXPECT(f, "+QUEUED\r\n", "INCR", "c");
	EXPECT(f, "*2\r\n" WRONGTYPE ":2\r\n", "EXEC");

	/* an empty transaction */
	EXPECT(f, "+OK\r\n", "MULTI");
	EXPECT(f, "*0\r\n", "EXEC");

	/* DISCARD drops the queue */
	EXPECT(f, "+OK\r\n", "MULTI");
	EXPECT(f, "+QUEUED\r\n", "INCR", "c");
	EXPECT(f, "+OK\r\n", "DISCARD");
	EXPECT(f, "$1\r\n2\r\n", "GET", "c");
}

/* A command refused while queued (unknown, wrong arity) aborts the
 * transaction at EXEC, as Redis: nothing of it applies. */
static void test_multi_abort(void **state)
{
	struct fx *f = *state;

	EXPECT(f, "+OK\r\n", "MULTI");
	EXPECT(f, "+QUEUED\r\n", "INCR", "c");
	EXPECT(f, "-ERR unknown command 'NOSUCH', with args beginning with: \r\n", "NOSUCH");
	EXPECT(f, "+QUEUED\r\n", "SADD", "s", "x");
	EXPECT(f, "-EXECABORT Transaction discarded because of previous errors.\r\n", "EXEC");
	EXPECT(f, ":0\r\n", "EXISTS", "c", "s");

	EXPECT(f, "+OK\r\n", "MULTI");
	EXPECT(f, "+QUEUED\r\n", "INCR", "c");
	EXPECT(f, "-ERR wrong number of arguments for 'get' command\r\n", "GET");
	EXPECT(f, "-EXECABORT Transaction discarded because of previous errors.\r\n", "EXEC");
	EXPECT(f, ":0\r\n", "EXISTS", "c");
	/* the session is out of the transaction again */
	EXPECT(f, ":1\r\n", "INCR", "c");
	assert_int_equal(f->d.stats.errors_replied, 4);

	/* WATCH is refused, in or out of MULTI, without aborting */
	EXPECT(f, "-ERR WATCH is not supported: replicas accept writes concurrently, so no replica "
		  "can tell whether a watched key was changed elsewhere before EXEC\r\n",
	       "WATCH", "c");
	EXPECT(f, "+OK\r\n", "UNWATCH");
	EXPECT(f, "+OK\r\n", "MULTI");
	RUN(f, "WATCH", "c");
	assert_memory_equal(f->reply, "-ERR WATCH", 10);
	EXPECT(f, "+QUEUED\r\n", "INCR", "c");
	EXPECT(f, "*1\r\n:2\r\n", "EXEC");
	/* left open: teardown frees the queue (ASan would see a leak) */
	EXPECT(f, "+OK\r\n", "MULTI");
	EXPECT(f, "+QUEUED\r\n", "INCR", "c");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mget_mset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_getset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counter_range_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_type_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_smismember, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srandmember, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_algebra, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diverging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_getex, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiretime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hrandfield, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hscan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_cursor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incrbyfloat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hincrbyfloat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multi_exec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multi_abort, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
