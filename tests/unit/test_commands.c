/* The command table (client/commands.c, client/admin.c) without a socket:
 * commands_exec against a daemon that has a store and a config but no
 * gossip, journal, listener or shim, and the exact reply bytes compared.
 * These are the replies Redis clients parse, so each byte is the spec. */
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

#include "client/cmdstats.h"
#include "cmdfx.h"
#include "http/collect.h"

/* ---- counters and integer arguments --------------------------------------- */

static void test_incr_decr(void **state)
{
	struct fx *f = *state;

	EXPECT(f, ":1\r\n", "INCR", "c");
	EXPECT(f, ":2\r\n", "incr", "c");
	EXPECT(f, ":1\r\n", "DECR", "c");
	EXPECT(f, ":-9\r\n", "DECRBY", "c", "10");
	EXPECT(f, ":91\r\n", "INCRBY", "c", "100");
	/* GET of a counter is a bulk of its digits, as Redis' string counter */
	EXPECT(f, "$2\r\n91\r\n", "GET", "c");
	EXPECT(f, "+string\r\n", "TYPE", "c");
	EXPECT(f, "+pncounter\r\n", "CRDT.TYPE", "c");
	assert_int_equal(f->d.stats.commands, 8);
	assert_int_equal(f->d.stats.errors_replied, 0);
}

/* Redis' string2ll: "-0" is 0, a leading zero or sign or space is not an
 * integer, and the range is exactly int64. */
static void test_integer_arguments(void **state)
{
	struct fx *f = *state;

	EXPECT(f, ":0\r\n", "INCRBY", "c", "0");
	EXPECT(f, ":0\r\n", "INCRBY", "c", "-0");
	EXPECT(f, NOTINT, "INCRBY", "c", "007");
	EXPECT(f, NOTINT, "INCRBY", "c", "-01");
	EXPECT(f, NOTINT, "INCRBY", "c", "+1");
	EXPECT(f, NOTINT, "INCRBY", "c", " 1");
	EXPECT(f, NOTINT, "INCRBY", "c", "1 ");
	EXPECT(f, NOTINT, "INCRBY", "c", "");
	EXPECT(f, NOTINT, "INCRBY", "c", "-");
	EXPECT(f, NOTINT, "INCRBY", "c", "1.0");
	EXPECT(f, NOTINT, "INCRBY", "c", "9223372036854775808");
	EXPECT(f, NOTINT, "INCRBY", "c", "-9223372036854775809");
	EXPECT(f, NOTINT, "INCRBY", "c", "99999999999999999999");
	/* no refused argument touched it: the counter never counted, and a
	 * counter that counted nothing is no key (docs/types.md, "DEL") */
	EXPECT(f, "$-1\r\n", "GET", "c");
	EXPECT(f, ":9223372036854775807\r\n", "INCRBY", "c", "9223372036854775807");
	EXPECT(f, "-ERR increment or decrement would overflow\r\n", "INCR", "c");
	EXPECT(f, "$19\r\n9223372036854775807\r\n", "GET", "c");
	assert_int_equal(f->d.stats.errors_replied, 12);
}

static void test_int64_min(void **state)
{
	struct fx *f = *state;

	/* INT64_MIN parses for INCRBY, but its negation does not exist */
	EXPECT(f, "-ERR increment or decrement would overflow\r\n", "INCRBY", "c",
	       "-9223372036854775808");
	EXPECT(f, "-ERR decrement would overflow\r\n", "DECRBY", "c", "-9223372036854775808");
	EXPECT(f, ":-9223372036854775807\r\n", "DECRBY", "c", "9223372036854775807");
	EXPECT(f, "-ERR increment or decrement would overflow\r\n", "DECRBY", "c", "2");
	EXPECT(f, ":-9223372036854775807\r\n", "INCRBY", "c", "0");
}

static void test_gcounter_only_grows(void **state)
{
	struct fx *f = *state;

	EXPECT(f, "+OK\r\n", "CRDT.CREATE", "g", "gcounter");
	EXPECT(f, ":5\r\n", "INCRBY", "g", "5");
	EXPECT(f, "-ERR a gcounter can only grow; decrement needs a pncounter\r\n", "DECR", "g");
	EXPECT(f, "-ERR a gcounter can only grow; decrement needs a pncounter\r\n", "INCRBY", "g",
	       "-1");
	EXPECT(f, ":5\r\n", "INCRBY", "g", "0");
	EXPECT(f, "+gcounter\r\n", "CRDT.TYPE", "g");
	/* creating what is there is a no-op; another type is WRONGTYPE */
	EXPECT(f, "+OK\r\n", "CRDT.CREATE", "g", "gcounter");
	EXPECT(f, WRONGTYPE, "CRDT.CREATE", "g", "orset");
	EXPECT(f, "-ERR unknown type 'hash'; use gcounter, pncounter, gset, orset, lwwreg or ormap\r\n",
	       "CRDT.CREATE", "h", "hash");
	EXPECT(f, "-ERR unknown type; use gcounter, pncounter, gset, orset, lwwreg or ormap\r\n",
	       "CRDT.CREATE", "h", "averyveryverylongtypename");
	EXPECT(f, ":0\r\n", "EXISTS", "h");
}

/* ---- registers -------------------------------------------------------------- */

/* DEL, UNLINK, GETDEL on every type (the semantics are test_del's and
 * test_store's; here the replies, the errors and their count). */
static void test_del_commands(void **state)
{
	struct fx *f = *state;
	const char *gonly = "-ERR DEL on a gset: a grow-only type keeps no record of what was "
			    "removed, so a delete could not converge; use an orset for a key that "
			    "must be deleted\r\n";

	EXPECT(f, ":1\r\n", "SADD", "s", "a");
	EXPECT(f, ":5\r\n", "INCRBY", "c", "5");
	EXPECT(f, "+OK\r\n", "SET", "r", "v");
	EXPECT(f, "+OK\r\n", "CRDT.CREATE", "g", "gset");
	EXPECT(f, ":4\r\n", "DBSIZE");
	EXPECT(f, "-ERR wrong number of arguments for 'del' command\r\n", "DEL");
	EXPECT(f, "-ERR wrong number of arguments for 'getdel' command\r\n", "GETDEL", "r", "x");
	/* all or nothing: the grow-only key refuses, and s stays */
	EXPECT(f, gonly, "DEL", "s", "g");
	EXPECT(f, ":1\r\n", "EXISTS", "s");
	EXPECT(f, ":2\r\n", "DEL", "s", "nosuch", "c");
	EXPECT(f, ":0\r\n", "EXISTS", "s", "c");
	EXPECT(f, "+none\r\n", "TYPE", "s");
	EXPECT(f, "*0\r\n", "SMEMBERS", "s");
	EXPECT(f, "$-1\r\n", "GET", "c");
	EXPECT(f, ":2\r\n", "DBSIZE");
	EXPECT(f, "*1\r\n$1\r\ng\r\n", "KEYS", "[gs]");
	EXPECT(f, "*1\r\n$1\r\nr\r\n", "KEYS", "[rsc]");
	EXPECT(f, WRONGTYPE, "GETDEL", "g");
	EXPECT(f, "$1\r\nv\r\n", "GETDEL", "r");
	EXPECT(f, "$-1\r\n", "GETDEL", "r");
	EXPECT(f, ":0\r\n", "UNLINK", "r");
	/* a write after the delete starts the key afresh, as any type */
	EXPECT(f, ":1\r\n", "INCR", "s");
	EXPECT(f, "+OK\r\n", "SET", "c", "now a string");
	EXPECT(f, "$1\r\n1\r\n", "GETDEL", "s");
	EXPECT(f, ":1\r\n", "UNLINK", "c");
	EXPECT(f, ":1\r\n", "DBSIZE");
	assert_int_equal(f->d.stats.errors_replied, 4);
}

static void test_set_get(void **state)
{
	struct fx *f = *state;
	const char *argv[] = { "SET", "bin", "a\0b" };
	const size_t argl[] = { 3, 3, 3 };

	EXPECT(f, "$-1\r\n", "GET", "r");
	EXPECT(f, "+OK\r\n", "SET", "r", "hello");
	EXPECT(f, "$5\r\nhello\r\n", "GET", "r");
	EXPECT(f, "+OK\r\n", "SET", "r", "");
	EXPECT(f, "$0\r\n\r\n", "GET", "r");
	EXPECT(f, "-ERR syntax error\r\n", "SET", "r", "v", "NX");
	EXPECT(f, "$0\r\n\r\n", "GET", "r");
	EXPECT(f, "+lwwreg\r\n", "CRDT.TYPE", "r");
	/* values are binary-safe */
	run_l(f, 3, argv, argl);
	assert_string_equal(f->reply, "+OK\r\n");
	run_v(f, 2, ARGS("GET", "bin"));
	assert_int_equal(f->out.len, 9);
	assert_memory_equal(f->out.data, "$3\r\na\0b\r\n", 9);
	/* a register does not count */
	EXPECT(f, WRONGTYPE, "INCR", "r");
	EXPECT(f, WRONGTYPE, "SADD", "r", "x");
	EXPECT(f, "$0\r\n\r\n", "GET", "r");
}

static void test_resp3_nulls(void **state)
{
	struct fx *f = *state;

	EXPECT(f, "$-1\r\n", "GET", "none");
	EXPECT(f, "$-1\r\n", "CRDT.JSON", "none");
	EXPECT(f, "$-1\r\n", "CLIENT", "GETNAME");
	f->s.proto = RESP_PROTO3;
	EXPECT(f, "_\r\n", "GET", "none");
	EXPECT(f, "_\r\n", "CRDT.JSON", "none");
	EXPECT(f, "_\r\n", "CRDT.INFO", "none");
	EXPECT(f, "_\r\n", "CLIENT", "GETNAME");
}

/* ---- sets ------------------------------------------------------------------- */

/* The hash commands' exact bytes in both protocols (the behaviour under
 * concurrency is tests/unit/test_ormap.c's, the errors and limits
 * tests/integration/test_hash.py's). */
static void test_hashes(void **state)
{
	struct fx *f = *state;

	EXPECT(f, ":2\r\n", "HSET", "h", "b", "2", "a", "1");
	EXPECT(f, ":0\r\n", "HSET", "h", "a", "x");
	EXPECT(f, "+OK\r\n", "HMSET", "h", "c", "");
	EXPECT(f, ":0\r\n", "HSETNX", "h", "c", "y");
	EXPECT(f, "$1\r\nx\r\n", "HGET", "h", "a");
	EXPECT(f, "$0\r\n\r\n", "HGET", "h", "c");
	EXPECT(f, "$-1\r\n", "HGET", "h", "zz");
	EXPECT(f, "*3\r\n$1\r\nx\r\n$-1\r\n$1\r\n2\r\n", "HMGET", "h", "a", "zz", "b");
	EXPECT(f, ":7\r\n", "HINCRBY", "h", "n", "7");
	EXPECT(f, "$1\r\n7\r\n", "HGET", "h", "n");
	EXPECT(f, "*8\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$0\r\n\r\n"
		  "$1\r\nn\r\n$1\r\n7\r\n",
	       "HGETALL", "h");
	EXPECT(f, "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nn\r\n", "HKEYS", "h");
	EXPECT(f, "*4\r\n$1\r\nx\r\n$1\r\n2\r\n$0\r\n\r\n$1\r\n7\r\n", "HVALS", "h");
	EXPECT(f, ":4\r\n", "HLEN", "h");
	EXPECT(f, ":1\r\n", "HSTRLEN", "h", "n");
	EXPECT(f, ":2\r\n", "HDEL", "h", "n", "c", "zz");
	EXPECT(f, ":0\r\n", "HEXISTS", "h", "n");
	EXPECT(f, ":-1\r\n", "HINCRBY", "h", "n", "-1");
	EXPECT(f, "-ERR hash value is not an integer\r\n", "HINCRBY", "h", "a", "1");
	EXPECT(f, "+hash\r\n", "TYPE", "h");
	EXPECT(f, "*0\r\n", "HGETALL", "nokey");
	EXPECT(f, ":0\r\n", "HLEN", "nokey");
	EXPECT(f, ":0\r\n", "HDEL", "nokey", "a");
	EXPECT(f, ":1\r\n", "SADD", "s", "m");
	EXPECT(f, WRONGTYPE, "HGET", "s", "a");
	EXPECT(f, WRONGTYPE, "HSET", "s", "a", "b");
	EXPECT(f, WRONGTYPE, "GET", "h");
	f->s.proto = RESP_PROTO3;
	EXPECT(f, ":1\r\n", "HDEL", "h", "n");
	EXPECT(f, "%2\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\nb\r\n$1\r\n2\r\n", "HGETALL", "h");
	EXPECT(f, "*2\r\n$1\r\nx\r\n_\r\n", "HMGET", "h", "a", "zz");
	/* DEL removes every field; the next write starts afresh */
	EXPECT(f, ":7\r\n", "HINCRBY", "h", "q", "7");
	EXPECT(f, ":1\r\n", "DEL", "h");
	EXPECT(f, ":0\r\n", "EXISTS", "h");
	EXPECT(f, "+none\r\n", "TYPE", "h");
	EXPECT(f, "%0\r\n", "HGETALL", "h");
	EXPECT(f, ":1\r\n", "HINCRBY", "h", "q", "1");
	/* a hash whose last field is deleted is no key, as in Redis */
	EXPECT(f, ":1\r\n", "HDEL", "h", "q");
	EXPECT(f, ":0\r\n", "EXISTS", "h");
	EXPECT(f, ":0\r\n", "HLEN", "h");
}

static void test_sets(void **state)
{
	struct fx *f = *state;

	EXPECT(f, ":3\r\n", "SADD", "s", "b", "a", "c");
	/* an element given twice is added once */
	EXPECT(f, ":1\r\n", "SADD", "s", "d", "d", "a");
	EXPECT(f, ":4\r\n", "SCARD", "s");
	/* members in ascending byte order whatever the insertion order; a
	 * prefix sorts first */
	EXPECT(f, ":2\r\n", "SADD", "s", "ab", "B");
	EXPECT(f, "*6\r\n$1\r\nB\r\n$1\r\na\r\n$2\r\nab\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n",
	       "SMEMBERS", "s");
	EXPECT(f, ":2\r\n", "SREM", "s", "a", "zz", "ab");
	EXPECT(f, ":0\r\n", "SREM", "s", "a");
	EXPECT(f, ":0\r\n", "SREM", "nokey", "a");
	EXPECT(f, ":1\r\n", "SISMEMBER", "s", "b");
	EXPECT(f, ":0\r\n", "SISMEMBER", "s", "a");
	EXPECT(f, ":0\r\n", "SISMEMBER", "nokey", "a");
	EXPECT(f, ":0\r\n", "SCARD", "nokey");
	EXPECT(f, "*0\r\n", "SMEMBERS", "nokey");
	f->s.proto = RESP_PROTO3;
	EXPECT(f, "~4\r\n$1\r\nB\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n", "SMEMBERS", "s");
	EXPECT(f, "~0\r\n", "SMEMBERS", "nokey");
	EXPECT(f, "+orset\r\n", "CRDT.TYPE", "s");
	EXPECT(f, WRONGTYPE, "GET", "s");
	EXPECT(f, WRONGTYPE, "INCR", "s");
	EXPECT(f, WRONGTYPE, "SET", "s", "v");
	/* removed, then added again: new; still there: not */
	EXPECT(f, ":1\r\n", "SADD", "s", "a", "b");
	EXPECT(f, ":5\r\n", "SCARD", "s");
}

/* One SADD of many members: the set's table is sized for them at once
 * (set_room), into a set that holds some of them and into a new one. */
static void test_sadd_many(void **state)
{
	struct fx *f = *state;
	enum { N = 5000, HELD = 1000 };
	static char names[N][16];
	static const char *argv[2 + N + 2];
	static size_t argl[2 + N + 2];
	char want[32];

	argv[0] = "SADD";
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "m%05d", i);
		argv[2 + i] = names[i];
	}
	for (size_t i = 0; i < 2 + N + 2; i++)
		argl[i] = 6; /* SADD, the names, m%05d: 4 or 6 bytes */
	argl[0] = 4;
	/* the set holds every fifth member first */
	argv[1] = "big";
	argl[1] = 3;
	for (int i = 0; i < HELD; i++)
		argv[2 + i] = names[5 * i];
	snprintf(want, sizeof(want), ":%d\r\n", HELD);
	assert_string_equal(run_l(f, 2 + HELD, argv, argl), want);
	for (int i = 0; i < N; i++)
		argv[2 + i] = names[i];
	/* the rest are new; a member given twice counts once */
	argv[2 + N] = names[7];
	argv[2 + N + 1] = names[N - 1];
	snprintf(want, sizeof(want), ":%d\r\n", N - HELD);
	assert_string_equal(run_l(f, 2 + N + 2, argv, argl), want);
	snprintf(want, sizeof(want), ":%d\r\n", N);
	EXPECT(f, want, "SCARD", "big");
	EXPECT(f, ":1\r\n", "SISMEMBER", "big", "m00000");
	EXPECT(f, ":1\r\n", "SISMEMBER", "big", "m03333");
	EXPECT(f, ":1\r\n", "SISMEMBER", "big", "m04999");
	EXPECT(f, ":0\r\n", "SISMEMBER", "big", "m05000");
	/* a new set */
	argv[1] = "fresh";
	argl[1] = 5;
	snprintf(want, sizeof(want), ":%d\r\n", N);
	assert_string_equal(run_l(f, 2 + N + 2, argv, argl), want);
	EXPECT(f, want, "SCARD", "fresh");
	EXPECT(f, ":1\r\n", "SREM", "fresh", "m02500");
	EXPECT(f, ":0\r\n", "SISMEMBER", "fresh", "m02500");
	EXPECT(f, ":1\r\n", "SISMEMBER", "fresh", "m02501");
}

static void test_gset(void **state)
{
	struct fx *f = *state;

	EXPECT(f, "+OK\r\n", "CRDT.CREATE", "g", "gset");
	EXPECT(f, ":2\r\n", "SADD", "g", "y", "x");
	EXPECT(f, ":0\r\n", "SADD", "g", "x");
	EXPECT(f, "-ERR a gset can only grow; removing needs an orset\r\n", "SREM", "g", "x");
	EXPECT(f, "*2\r\n$1\r\nx\r\n$1\r\ny\r\n", "SMEMBERS", "g");
	EXPECT(f, "+gset\r\n", "CRDT.TYPE", "g");
}

/* Two types under one name (a concurrent create on two replicas, arriving
 * here by merge): the lowest type tag is the one commands see, and
 * CRDT.INFO shows both. */
static void test_type_conflict_visibility(void **state)
{
	struct fx *f = *state;
	static const struct crdt_rid peer = { { 9 } };
	struct crdt_obj remote;

	EXPECT(f, ":1\r\n", "SADD", "k", "x");
	assert_int_equal(crdt_obj_new(CRDT_PNCOUNTER, &remote), 0);
	assert_int_equal(crdt_pncounter_inc(remote.pn, &peer, 7), 0);
	assert_int_equal(store_merge(&f->d.store, "k", 1, &remote), 0);
	crdt_obj_done(&remote);

	EXPECT(f, "+pncounter\r\n", "CRDT.TYPE", "k");
	EXPECT(f, "$1\r\n7\r\n", "GET", "k");
	EXPECT(f, WRONGTYPE, "SMEMBERS", "k");
	EXPECT(f, WRONGTYPE, "SADD", "k", "y");
	EXPECT(f, WRONGTYPE, "SREM", "k", "x");
	EXPECT(f, WRONGTYPE, "SISMEMBER", "k", "x");
	EXPECT(f, WRONGTYPE, "SCARD", "k");
	/* the counter side takes writes */
	EXPECT(f, ":8\r\n", "INCR", "k");
	EXPECT(f, ":1\r\n", "EXISTS", "k");
	EXPECT(f, ":1\r\n", "DBSIZE");
	RUN(f, "CRDT.INFO", "k");
	assert_non_null(strstr(f->reply, "\"type\":\"pncounter\""));
	assert_non_null(strstr(f->reply, "\"conflict\":true"));
	assert_non_null(strstr(f->reply, "\"x\""));
	assert_int_equal(f->d.store.stats.conflicts, 1);
}

/* ---- arity, unknown commands, errors -------------------------------------------- */

static void test_arity_and_unknown(void **state)
{
	struct fx *f = *state;

	EXPECT(f, "-ERR wrong number of arguments for 'get' command\r\n", "GET");
	EXPECT(f, "-ERR wrong number of arguments for 'get' command\r\n", "get", "a", "b");
	EXPECT(f, "-ERR wrong number of arguments for 'sadd' command\r\n", "SADD", "s");
	EXPECT(f, "-ERR wrong number of arguments for 'incrby' command\r\n", "INCRBY", "c");
	EXPECT(f, "-ERR wrong number of arguments for 'set' command\r\n", "SET", "r");
	EXPECT(f, "-ERR wrong number of arguments for 'exists' command\r\n", "EXISTS");
	EXPECT(f, "-ERR wrong number of arguments for 'ping' command\r\n", "PING", "a", "b");
	EXPECT(f, "-ERR wrong number of arguments for 'crdt.sync' command\r\n", "CRDT.SYNC", "a",
	       "b");
	EXPECT(f, "-ERR unknown command 'FLUSHALL', with args beginning with: \r\n", "FLUSHALL");
	/* the name is quoted printable: no CR LF can break the error line */
	EXPECT(f, "-ERR unknown command 'a\\x0d\\x0ab\\x27', with args beginning with: \r\n",
	       "a\r\nb'");
	EXPECT(f, "-ERR unknown command 'gets', with args beginning with: \r\n", "gets", "k");
	EXPECT(f, "-ERR unknown command 'ge', with args beginning with: \r\n", "ge", "k");
	assert_int_equal(f->d.stats.commands, 12);
	assert_int_equal(f->d.stats.errors_replied, 12);
	/* none of them created a key */
	EXPECT(f, "*0\r\n", "KEYS", "*");
}

/* The per-command counters /metrics shows (http/collect.c from
 * client/cmdstats.h): calls, error replies and the latency histogram, in the
 * row of the command's name; unknown commands in none. */
static void test_command_stats(void **state)
{
	struct fx *f = *state;
	struct collected *c = calloc(1, sizeof(*c));
	size_t sadd = SIZE_MAX, get = SIZE_MAX;
	uint64_t in_buckets = 0;

	assert_non_null(c);
	for (size_t i = 0; i < commands_count(); i++) {
		if (!strcmp(commands_name(i), "sadd"))
			sadd = i;
		if (!strcmp(commands_name(i), "get"))
			get = i;
	}
	assert_true(sadd < CMDSTATS_MAX && get < CMDSTATS_MAX);
	RUN(f, "SADD", "s", "a");
	RUN(f, "sadd", "s", "b");
	EXPECT(f, WRONGTYPE, "GET", "s");
	EXPECT(f, "-ERR wrong number of arguments for 'sadd' command\r\n", "SADD", "s");
	RUN(f, "NOSUCH");
	collect_commands(&f->d, c);
	assert_int_equal(c->s.ncmds, commands_count());
	assert_int_equal(c->s.cmds[sadd].calls, 3);
	assert_int_equal(c->s.cmds[sadd].errors, 1);
	assert_int_equal(c->s.cmds[get].calls, 1);
	assert_int_equal(c->s.cmds[get].errors, 1);
	for (size_t k = 0; k <= c->s.nbounds; k++)
		in_buckets += c->s.cmds[sadd].buckets[k];
	assert_int_equal(in_buckets, 3);
	uint64_t total = 0;
	for (size_t i = 0; i < commands_count(); i++)
		total += c->s.cmds[i].calls;
	assert_int_equal(total, 4); /* NOSUCH has no row */
	free(c);
}

static void test_ping_echo_select_quit(void **state)
{
	struct fx *f = *state;

	EXPECT(f, "+PONG\r\n", "PING");
	EXPECT(f, "$2\r\nhi\r\n", "PING", "hi");
	EXPECT(f, "$0\r\n\r\n", "ECHO", "");
	EXPECT(f, "+OK\r\n", "SELECT", "0");
	EXPECT(f, "-ERR DB index is out of range\r\n", "SELECT", "1");
	assert_int_equal(f->s.close_after_reply, 0);
	EXPECT(f, "+OK\r\n", "QUIT");
	assert_int_equal(f->s.close_after_reply, 1);
}

static void test_keys_scan(void **state)
{
	struct fx *f = *state;

	EXPECT(f, ":1\r\n", "INCR", "user:1");
	EXPECT(f, ":1\r\n", "SADD", "tags", "x");
	EXPECT(f, "*1\r\n$6\r\nuser:1\r\n", "KEYS", "user:*");
	EXPECT(f, "*2\r\n$1\r\n0\r\n*1\r\n$4\r\ntags\r\n", "SCAN", "0", "TYPE", "orset");
	EXPECT(f, "*2\r\n$1\r\n0\r\n*0\r\n", "SCAN", "0", "TYPE", "hash");
	EXPECT(f, "*2\r\n$1\r\n0\r\n*1\r\n$6\r\nuser:1\r\n", "SCAN", "0", "MATCH", "u*", "COUNT",
	       "10");
	EXPECT(f, "-ERR invalid cursor\r\n", "SCAN", " 1"); /* as Redis 7.0: "-1" wraps */
	EXPECT(f, "-ERR invalid cursor\r\n", "SCAN", "1x");
	EXPECT(f, "-ERR syntax error\r\n", "SCAN", "0", "MATCH");
	EXPECT(f, "-ERR syntax error\r\n", "SCAN", "0", "COUNT", "0"); /* as Redis */
	EXPECT(f, ":2\r\n", "EXISTS", "tags", "user:1", "nope");
	EXPECT(f, ":2\r\n", "EXISTS", "tags", "tags");
	EXPECT(f, ":2\r\n", "DBSIZE");
}

/* ---- sessions: HELLO and AUTH ---------------------------------------------------- */

#define HELLO_BODY                                                                        \
	"$6\r\nserver\r\n$5\r\ncrdtd\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n$5\r\nproto\r\n:%d\r\n" \
	"$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"   \
	"$7\r\nmodules\r\n*0\r\n"

static void test_hello(void **state)
{
	struct fx *f = *state;
	char want[512];

	snprintf(want, sizeof(want), "*14\r\n" HELLO_BODY, 2);
	EXPECT(f, want, "HELLO");
	EXPECT(f, "-NOPROTO unsupported protocol version\r\n", "HELLO", "4");
	EXPECT(f, "-NOPROTO unsupported protocol version\r\n", "HELLO", "1");
	EXPECT(f, "-ERR Protocol version is not an integer or out of range\r\n", "HELLO", "03");
	EXPECT(f, "-ERR Syntax error in HELLO option 'bogus'\r\n", "HELLO", "3", "bogus");
	EXPECT(f, "-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
	       "HELLO", "3", "SETNAME", "a b");
	assert_int_equal(f->s.proto, RESP_PROTO2); /* no failed HELLO switched it */
	snprintf(want, sizeof(want), "%%7\r\n" HELLO_BODY, 3);
	EXPECT(f, want, "HELLO", "3", "SETNAME", "me");
	assert_int_equal(f->s.proto, RESP_PROTO3);
	EXPECT(f, want, "HELLO");
	snprintf(want, sizeof(want), "*14\r\n" HELLO_BODY, 2);
	EXPECT(f, want, "HELLO", "2");
}

static void test_auth(void **state)
{
	struct fx *f = *state;

	EXPECT(f, "-ERR AUTH <password> called without any password configured for the default "
		  "user. Are you sure your configuration is correct?\r\n",
	       "AUTH", "x");
	strcpy(f->d.cfg.node.requirepass, "secret");
	EXPECT(f, "-NOAUTH Authentication required.\r\n", "GET", "k");
	/* not even whether a command exists shows before AUTH */
	EXPECT(f, "-NOAUTH Authentication required.\r\n", "NOSUCH");
	EXPECT(f, "-WRONGPASS invalid username-password pair or user is disabled.\r\n", "AUTH",
	       "secreT");
	EXPECT(f, "-WRONGPASS invalid username-password pair or user is disabled.\r\n", "AUTH",
	       "admin", "secret");
	EXPECT(f, "-ERR syntax error\r\n", "AUTH", "a", "b", "c");
	assert_int_equal(f->d.stats.auth_failures, 2);
	assert_int_equal(f->s.authenticated, 0);
	EXPECT(f, "+OK\r\n", "AUTH", "default", "secret");
	assert_int_equal(f->s.authenticated, 1);
	EXPECT(f, "$-1\r\n", "GET", "k");
	assert_int_equal(f->d.stats.errors_replied, 6);
}

/* ---- administration (client/admin.c) ---------------------------------------------- */

static void test_admin(void **state)
{
	struct fx *f = *state;

	EXPECT(f, "+OK\r\n", "CLIENT", "SETNAME", "me");
	EXPECT(f, "-ERR wrong number of arguments for 'client|kill' command\r\n", "CLIENT", "KILL");
	EXPECT(f, "*4\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n$4\r\nsave\r\n$0\r\n\r\n", "CONFIG",
	       "GET", "save", "append?nly");
	EXPECT(f, "-ERR CONFIG SET is not supported; edit the ini file and send SIGHUP\r\n", "CONFIG",
	       "SET", "save", "");
	EXPECT(f, "-ERR wrong number of arguments for 'config|get' command\r\n", "CONFIG", "GET");
	f->s.proto = RESP_PROTO3;
	EXPECT(f, "%1\r\n$9\r\ndatabases\r\n$1\r\n1\r\n", "CONFIG", "GET", "databases");
	EXPECT(f, "%0\r\n", "CONFIG", "GET", "nothing");
	EXPECT(f, "-ERR syntax error\r\n", "INFO", "a", "b");
	EXPECT(f, ":88\r\n", "COMMAND", "COUNT");
	EXPECT(f, "*2\r\n*6\r\n$3\r\nget\r\n:2\r\n*1\r\n+readonly\r\n:1\r\n:1\r\n:1\r\n_\r\n",
	       "COMMAND", "INFO", "get", "nosuch");
}

/* A daemon without gossip (tests, or a shutdown in progress) answers the
 * gossip commands instead of dereferencing NULL. */
static void test_no_gossip(void **state)
{
	struct fx *f = *state;

	EXPECT(f, "*0\r\n", "CRDT.PEERS");
	EXPECT(f, "-ERR gossip is not running\r\n", "CRDT.SYNC");
	EXPECT(f, "-ERR gossip is not running\r\n", "CRDT.SYNC", "peer");
	EXPECT(f, "-ERR simulation is not enabled in the config ([simulation] enabled = true)\r\n", "CRDT.SIM",
	       "STATUS");
	RUN(f, "INFO");
	assert_memory_equal(f->reply, "$", 1);
	assert_non_null(strstr(f->reply, "connected_clients:0\r\n"));
	RUN(f, "INFO", "gossip");
	assert_non_null(strstr(f->reply, "# Gossip\r\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_incr_decr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_integer_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_del_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_int64_min, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gcounter_only_grows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resp3_nulls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sadd_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hashes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_type_conflict_visibility, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arity_and_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ping_echo_select_quit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys_scan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hello, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_gossip, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
