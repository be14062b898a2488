/* RESP parser and reply writers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crdt/buf.h"
#include "client/resp.h"
#include "testutil.h"

/* ---- a simulated connection ----
 *
 * The outcome of feeding bytes through the parser is written as text, so
 * that two ways of feeding the same bytes can be compared with one memcmp:
 * "C<argc>" then "<len>:<bytes>;" per argument for each command, and at
 * the end either "E<err>:<message>" or "N<unconsumed bytes>". */

struct conn {
	struct resp_parser p;
	char *in; /* moved on every append, to catch pointers kept across calls */
	size_t len;
	int err;
	struct crdt_buf out;
};

static void conn_init(struct conn *c, const struct resp_limits *lim)
{
	memset(c, 0, sizeof(*c));
	resp_parser_init(&c->p, lim);
	crdt_buf_init(&c->out, 0);
}

static void conn_done(struct conn *c)
{
	resp_parser_done(&c->p);
	free(c->in);
	crdt_buf_done(&c->out);
}

static void put_str(struct crdt_buf *b, const char *s)
{
	crdt_buf_put(b, s, strlen(s));
}

static void put_size(struct crdt_buf *b, char tag, size_t n)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "%c%zu", tag, n);
	put_str(b, tmp);
}

static void put_arg(struct crdt_buf *b, const void *p, size_t n)
{
	put_size(b, ' ', n);
	crdt_buf_put(b, ":", 1);
	crdt_buf_put(b, p, n);
	crdt_buf_put(b, ";", 1);
}

/* Append @n bytes and run the parser until it wants more. */
static void conn_feed(struct conn *c, const char *p, size_t n)
{
	char *nin;
	size_t used;
	int r;

	if (c->err)
		return;
	nin = malloc(c->len + n + 1);
	assert_non_null(nin);
	if (c->len)
		memcpy(nin, c->in, c->len);
	if (n)
		memcpy(nin + c->len, p, n);
	free(c->in);
	c->in = nin;
	c->len += n;

	for (;;) {
		used = SIZE_MAX;
		r = resp_parse(&c->p, c->in, c->len, &used);
		if (r < 0) {
			c->err = r;
			assert_int_equal(resp_parse(&c->p, c->in, c->len, &used), r); /* sticky */
			return;
		}
		assert_true(used <= c->len);
		if (r == 0)
			assert_int_equal(used, 0);
		if (r == 1 && c->p.argc) {
			put_size(&c->out, 'C', c->p.argc);
			for (size_t i = 0; i < c->p.argc; i++)
				put_arg(&c->out, c->p.argv[i], c->p.argvlen[i]);
		}
		memmove(c->in, c->in + used, c->len - used);
		c->len -= used;
		if (r == 0)
			return;
	}
}

static void conn_finish(struct conn *c)
{
	if (c->err) {
		put_size(&c->out, 'E', (size_t)-c->err);
		put_str(&c->out, ":");
		put_str(&c->out, resp_parser_error(&c->p));
	} else {
		put_size(&c->out, 'N', c->len);
	}
	assert_int_equal(c->out.err, 0);
}

/* Feed @in cut at the @ncuts ascending offsets in @cuts; the outcome goes
 * to @ret (initialised by the caller). */
static void run_cuts(const struct resp_limits *lim, const char *in, size_t len,
		     const size_t *cuts, size_t ncuts, struct crdt_buf *ret)
{
	struct conn c;
	size_t at = 0;

	conn_init(&c, lim);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		conn_feed(&c, in + at, to - at);
		at = to;
	}
	conn_finish(&c);
	crdt_buf_reset(ret);
	crdt_buf_put(ret, c.out.data, c.out.len);
	conn_done(&c);
}

static void run_whole(const struct resp_limits *lim, const char *in, size_t len, struct crdt_buf *ret)
{
	run_cuts(lim, in, len, NULL, 0, ret);
}

static void assert_same(const struct crdt_buf *a, const struct crdt_buf *b, const char *what)
{
	if (a->len != b->len || memcmp(a->data, b->data, a->len)) {
		fprintf(stderr, "# %s:\n#  want %.*s\n#  got  %.*s\n", what, (int)a->len,
			(const char *)a->data, (int)b->len, (const char *)b->data);
		fail();
	}
}

/* Every way of cutting @in once or twice (twice only for short inputs),
 * and one byte at a time, gives the outcome @want. */
static void check_all_splits(const struct resp_limits *lim, const char *in, size_t len,
			     const struct crdt_buf *want)
{
	struct crdt_buf got;
	size_t cuts[2];

	crdt_buf_init(&got, 0);
	run_whole(lim, in, len, &got);
	assert_same(want, &got, "whole");
	for (size_t i = 0; i <= len; i++) {
		cuts[0] = i;
		run_cuts(lim, in, len, cuts, 1, &got);
		assert_same(want, &got, "one cut");
		for (size_t j = i; len <= 80 && j <= len; j++) {
			cuts[1] = j;
			run_cuts(lim, in, len, cuts, 2, &got);
			assert_same(want, &got, "two cuts");
		}
	}
	{
		size_t *all = malloc((len + 1) * sizeof(*all));
		assert_non_null(all);
		for (size_t i = 0; i < len; i++)
			all[i] = i;
		run_cuts(lim, in, len, all, len, &got);
		assert_same(want, &got, "byte by byte");
		free(all);
	}
	crdt_buf_done(&got);
}

/* ---- samples: one command each, every split ---- */

struct sample {
	const char *in;
	size_t inlen; /* 0: strlen(in) */
	size_t argc;
	const char *args[6];
	size_t lens[6]; /* 0: strlen(args[i]) */
};

#define BIN(s) s, sizeof(s) - 1

static const struct sample samples[] = {
	{ "*1\r\n$4\r\nPING\r\n", 0, 1, { "PING" }, { 0 } },
	{ "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", 0, 3, { "SET", "key", "value" }, { 0 } },
	{ "*2\r\n$3\r\nGET\r\n$0\r\n\r\n", 0, 2, { "GET", "" }, { 0 } },
	{ BIN("*2\r\n$3\r\nSET\r\n$6\r\na\0b\r\nc\r\n"), 2, { "SET", "a\0b\r\nc" }, { 0, 6 } },
	{ BIN("*1\r\n$4\r\n\r\n\r\n\r\n"), 1, { "\r\n\r\n" }, { 0 } },
	{ "*2\r\n$1\r\n*\r\n$1\r\n$\r\n", 0, 2, { "*", "$" }, { 0 } },
	{ "PING\r\n", 0, 1, { "PING" }, { 0 } },
	{ "PING\n", 0, 1, { "PING" }, { 0 } },
	{ "set  k\t v \r\n", 0, 3, { "set", "k", "v" }, { 0 } },
	{ "SET \"hello world\" 'it\\'s'\r\n", 0, 3, { "SET", "hello world", "it's" }, { 0 } },
	{ BIN("SET k \"\\x00\\xff\\n\\r\\t\\\"\"\n"), 3, { "SET", "k", "\0\xff\n\r\t\"" }, { 0, 0, 6 } },
	{ "\r\n\n  \n*0\r\n*-1\r\nECHO ''\r\n", 0, 2, { "ECHO", "" }, { 0 } },
	{ "*-1\r\n*2\r\n$4\r\nINCR\r\n$1\r\nc\r\n", 0, 2, { "INCR", "c" }, { 0 } },
	{ "*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n", 0, 5,
	  { "a", "b", "c", "d", "e" }, { 0 } },
	{ "*1\r\n$10\r\n0123456789\r\n", 0, 1, { "0123456789" }, { 0 } },
};

static void expected_for(const struct sample *s, struct crdt_buf *want)
{
	crdt_buf_reset(want);
	put_size(want, 'C', s->argc);
	for (size_t i = 0; i < s->argc; i++)
		put_arg(want, s->args[i], s->lens[i] ? s->lens[i] : strlen(s->args[i]));
	put_size(want, 'N', 0);
}

static void test_samples_every_split(void **state)
{
	struct crdt_buf want;

	crdt_buf_init(&want, 0);
	for (size_t k = 0; k < sizeof(samples) / sizeof(samples[0]); k++) {
		const struct sample *s = &samples[k];
		size_t len = s->inlen ? s->inlen : strlen(s->in);

		expected_for(s, &want);
		check_all_splits(NULL, s->in, len, &want);
	}
	crdt_buf_done(&want);
}

/* A command split anywhere and the start of the next one: the leftover
 * bytes are reported, not consumed. */
static void test_partial_leaves_bytes(void **state)
{
	static const char in[] = "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET";
	struct crdt_buf want;

	crdt_buf_init(&want, 0);
	put_str(&want, "C1 4:PING;N11");
	check_all_splits(NULL, in, sizeof(in) - 1, &want);
	crdt_buf_done(&want);
}

/* Empty lines and empty arrays are consumed as they come, as commands of
 * no arguments, so a client cannot fill the buffer with them. */
static void test_skips_are_consumed(void **state)
{
	static const char in[] = "\n\r\n*0\r\n*-1\r\n   \r\nPING\n";
	static const size_t lens[] = { 1, 2, 4, 5, 5, 5 };
	struct resp_parser p;
	size_t used = 99, off = 0;

	resp_parser_init(&p, NULL);
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(resp_parse(&p, in + off, sizeof(in) - 1 - off, &used), 1);
		assert_int_equal(used, lens[i]);
		assert_int_equal(p.argc, i == 5 ? 1 : 0);
		off += used;
	}
	assert_int_equal(off, sizeof(in) - 1);
	assert_memory_equal(p.argv[0], "PING", 4);
	assert_int_equal(resp_parse(&p, "", 0, &used), 0);
	assert_int_equal(used, 0);
	/* "*0" split after the digit: nothing consumed yet */
	assert_int_equal(resp_parse(&p, "*0\r", 3, &used), 0);
	assert_int_equal(used, 0);
	assert_int_equal(resp_parse(&p, "*0\r\nPI", 6, &used), 1);
	assert_int_equal(used, 4);
	assert_int_equal(p.argc, 0);
	assert_int_equal(resp_parse(&p, "PI", 2, &used), 0);
	assert_int_equal(resp_parse(&p, "PING\n", 5, &used), 1);
	assert_int_equal(used, 5);
	assert_int_equal(p.argc, 1);
	resp_parser_done(&p);
}

/* ---- pipelines and random differential runs ---- */

/* Append a random command to @in in array or inline form, and what it
 * should parse to, to @want. */
static void random_command(struct rng *r, struct crdt_buf *in, struct crdt_buf *want)
{
	size_t argc = 1 + rng_below(r, 5);
	bool inl = rng_below(r, 3) == 0;
	char tmp[64];

	put_size(want, 'C', argc);
	if (!inl) {
		snprintf(tmp, sizeof(tmp), "*%zu\r\n", argc);
		put_str(in, tmp);
	}
	for (size_t i = 0; i < argc; i++) {
		size_t n = rng_below(r, 4) == 0 ? rng_below(r, 300) : rng_below(r, 12);
		char arg[300];

		for (size_t j = 0; j < n; j++)
			arg[j] = inl ? (char)('a' + rng_below(r, 26)) : (char)rng_below(r, 256);
		if (inl && n == 0) {
			put_str(in, i ? " \"\"" : "\"\"");
		} else if (inl) {
			if (i)
				put_str(in, rng_below(r, 2) ? " " : " \t ");
			crdt_buf_put(in, arg, n);
		} else {
			snprintf(tmp, sizeof(tmp), "$%zu\r\n", n);
			put_str(in, tmp);
			crdt_buf_put(in, arg, n);
			put_str(in, "\r\n");
		}
		put_arg(want, arg, n);
	}
	if (inl)
		put_str(in, rng_below(r, 2) ? "\r\n" : "\n");
}

static void random_cuts(struct rng *r, size_t len, size_t *cuts, size_t *ret_n)
{
	size_t n = 0, at = 0;

	while (at < len) {
		at += 1 + rng_below(r, rng_below(r, 4) ? 16 : 2000);
		if (at < len)
			cuts[n++] = at;
	}
	*ret_n = n;
}

static void test_pipeline_in_order(void **state)
{
	struct rng r = { test_seed("resp pipeline") };
	struct crdt_buf in, want, got;
	size_t *cuts, ncuts;

	crdt_buf_init(&in, 0);
	crdt_buf_init(&want, 0);
	crdt_buf_init(&got, 0);
	for (int i = 0; i < 3000; i++)
		random_command(&r, &in, &want);
	put_size(&want, 'N', 0);
	cuts = malloc(in.len * sizeof(*cuts));
	assert_non_null(cuts);

	run_whole(NULL, (const char *)in.data, in.len, &got);
	assert_same(&want, &got, "pipeline whole");
	for (int k = 0; k < 20; k++) {
		random_cuts(&r, in.len, cuts, &ncuts);
		run_cuts(NULL, (const char *)in.data, in.len, cuts, ncuts, &got);
		assert_same(&want, &got, "pipeline in pieces");
	}
	free(cuts);
	crdt_buf_done(&in);
	crdt_buf_done(&want);
	crdt_buf_done(&got);
}

/* Random and broken input, under tight limits: cut anywhere, the outcome
 * (commands, then the error or the bytes left over) is the same as parsing
 * it whole.  What the fuzzer checks, seeded. */
static void test_random_split_equivalence(void **state)
{
	static const char *const atoms[] = {
		"*", "$", "\r\n", "\n", "\r", "0", "1", "2", "3", "-1", "17", "99999999999999999999",
		" ", "\t", "\"", "'", "\\", "\\x4", "\\x41", "a", "PING", "*2\r\n", "$3\r\n", "\0",
	};
	struct resp_limits lim = { .max_bulk = 16, .max_args = 4, .max_inline = 24 };
	struct rng r = { test_seed("resp random split") };
	int scenarios = test_scenarios(3000);
	struct crdt_buf in, want, got;
	size_t cuts[512], ncuts;

	crdt_buf_init(&in, 0);
	crdt_buf_init(&want, 0);
	crdt_buf_init(&got, 0);
	for (int s = 0; s < scenarios; s++) {
		crdt_buf_reset(&in);
		size_t natoms = rng_below(&r, 40);
		for (size_t i = 0; i < natoms; i++) {
			const char *a = atoms[rng_below(&r, sizeof(atoms) / sizeof(atoms[0]))];
			crdt_buf_put(&in, a, *a ? strlen(a) : 1);
		}
		run_whole(&lim, (const char *)in.data, in.len, &want);
		ncuts = 0;
		for (size_t at = 0; in.len && ncuts < 512;) {
			at += 1 + rng_below(&r, 6);
			if (at >= in.len)
				break;
			cuts[ncuts++] = at;
		}
		run_cuts(&lim, (const char *)in.data, in.len, cuts, ncuts, &got);
		assert_same(&want, &got, "random split");
	}
	crdt_buf_done(&in);
	crdt_buf_done(&want);
	crdt_buf_done(&got);
}

/* ---- inline commands ---- */

static void test_inline_quotes(void **state)
{
	static const struct {
		const char *line;
		size_t argc;
		const char *args[5];
	} cases[] = {
		{ "foo bar \"newline are supported\\n\" and \"\\xff\\x00otherstuff\"\n", 0, { 0 } },
		{ "SET \"a b\" c\n", 3, { "SET", "a b", "c" } },
		{ "'single' \"double\"\n", 2, { "single", "double" } },
		{ "'a\\nb' \"a\\nb\"\n", 2, { "a\\nb", "a\nb" } },
		{ "'\\'' \"\\\\\" \"\\q\"\n", 3, { "'", "\\", "q" } },
		{ "x\"y z\" w\n", 2, { "xy z", "w" } },
		{ "\"\" ''\n", 2, { "", "" } },
		{ "\"\\x4\" \"\\xZZ\"\n", 2, { "x4", "xZZ" } },
		{ "  \t lead and trail \t \r\n", 3, { "lead", "and", "trail" } },
		{ "\"a\"\t'b'\r\n", 2, { "a", "b" } },
		{ "a\vb\n", 1, { "a\vb" } },
		{ "a\rb\n", 2, { "a", "b" } },
	};
	struct crdt_buf want;

	crdt_buf_init(&want, 0);
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		crdt_buf_reset(&want);
		if (k == 0) {
			/* redis' own sdssplitargs test */
			put_str(&want, "C5");
			put_arg(&want, "foo", 3);
			put_arg(&want, "bar", 3);
			put_arg(&want, "newline are supported\n", 22);
			put_arg(&want, "and", 3);
			put_arg(&want, "\xff\0otherstuff", 12);
		} else {
			put_size(&want, 'C', cases[k].argc);
			for (size_t i = 0; i < cases[k].argc; i++)
				put_arg(&want, cases[k].args[i], strlen(cases[k].args[i]));
		}
		put_str(&want, "N0");
		check_all_splits(NULL, cases[k].line, strlen(cases[k].line), &want);
	}
	crdt_buf_done(&want);
}

/* ---- errors ---- */

struct err_case {
	const char *in;
	size_t inlen;
	int err;
	const char *msg; /* after any commands before it */
};

static void check_errors(const struct resp_limits *lim, const struct err_case *cases, size_t n)
{
	struct crdt_buf want, got;

	crdt_buf_init(&want, 0);
	crdt_buf_init(&got, 0);
	for (size_t k = 0; k < n; k++) {
		size_t len = cases[k].inlen ? cases[k].inlen : strlen(cases[k].in);
		char tail[160];

		run_whole(lim, cases[k].in, len, &got);
		snprintf(tail, sizeof(tail), "E%d:%s", -cases[k].err, cases[k].msg);
		if (got.len < strlen(tail) ||
		    memcmp(got.data + got.len - strlen(tail), tail, strlen(tail))) {
			fprintf(stderr, "# case %zu: want ...%s, got %.*s\n", k, tail, (int)got.len,
				(const char *)got.data);
			fail();
		}
		/* and the same whatever the cuts */
		crdt_buf_reset(&want);
		crdt_buf_put(&want, got.data, got.len);
		check_all_splits(lim, cases[k].in, len, &want);
	}
	crdt_buf_done(&want);
	crdt_buf_done(&got);
}

static void test_errors(void **state)
{
	static const struct err_case cases[] = {
		{ "*x\r\n", 0, -EPROTO, "Protocol error: invalid multibulk length" },
		{ "*\r\n", 0, -EPROTO, "Protocol error: invalid multibulk length" },
		{ "*01\r\n", 0, -EPROTO, "Protocol error: invalid multibulk length" },
		{ "*+1\r\n", 0, -EPROTO, "Protocol error: invalid multibulk length" },
		{ "*1 \r\n", 0, -EPROTO, "Protocol error: invalid multibulk length" },
		{ "*1\rX", 0, -EPROTO, "Protocol error: invalid multibulk length" },
		{ "*99999999999999999999\r\n", 0, -EPROTO, "Protocol error: invalid multibulk length" },
		{ "*5\r\n", 0, -EMSGSIZE, "Protocol error: invalid multibulk length" },
		{ "*1111111111111111111111111111111", 0, -EPROTO,
		  "Protocol error: invalid multibulk length" },
		{ "*1\r\n$-1\r\n", 0, -EPROTO, "Protocol error: invalid bulk length" },
		{ "*1\r\n$-5\r\n", 0, -EPROTO, "Protocol error: invalid bulk length" },
		{ "*1\r\n$abc\r\n", 0, -EPROTO, "Protocol error: invalid bulk length" },
		{ "*1\r\n$\r\n", 0, -EPROTO, "Protocol error: invalid bulk length" },
		{ "*1\r\n$17\r\n", 0, -EMSGSIZE, "Protocol error: invalid bulk length" },
		{ "*1\r\n$9223372036854775807\r\n", 0, -EMSGSIZE, "Protocol error: invalid bulk length" },
		{ "*1\r\n$1111111111111111111111111111111", 0, -EPROTO,
		  "Protocol error: invalid bulk length" },
		{ "*2\r\n$1\r\na\r\nx", 0, -EPROTO, "Protocol error: expected '$', got 'x'" },
		{ BIN("*2\r\n$1\r\na\r\n\r"), -EPROTO, "Protocol error: expected '$', got '\\x0d'" },
		{ BIN("*1\r\n\0"), -EPROTO, "Protocol error: expected '$', got '\\x00'" },
		{ "*1\r\n$3\r\nabcX\r\n", 0, -EPROTO,
		  "Protocol error: expected '\\r\\n' after bulk argument" },
		{ "*1\r\n$3\r\nabc\rX", 0, -EPROTO,
		  "Protocol error: expected '\\r\\n' after bulk argument" },
		{ "*1\r\n$3\r\nabc\n\r", 0, -EPROTO,
		  "Protocol error: expected '\\r\\n' after bulk argument" },
		{ "a b c d e\r\n", 0, -EMSGSIZE, "Protocol error: too many arguments in inline request" },
		{ "01234567890123456789012345", 0, -EMSGSIZE, "Protocol error: too big inline request" },
		{ "0123456789012345678901234\n", 0, -EMSGSIZE, "Protocol error: too big inline request" },
		{ "\"unterminated\n", 0, -EPROTO, "Protocol error: unbalanced quotes in request" },
		{ "'unterminated\n", 0, -EPROTO, "Protocol error: unbalanced quotes in request" },
		{ "\"a\"b\n", 0, -EPROTO, "Protocol error: unbalanced quotes in request" },
		{ "'a'b\n", 0, -EPROTO, "Protocol error: unbalanced quotes in request" },
		{ "\"ab\\\"\n", 0, -EPROTO, "Protocol error: unbalanced quotes in request" },
		{ "PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n", 0, -EPROTO,
		  "Protocol error: invalid bulk length" },
	};
	/* exactly at each limit is fine */
	static const char *const ok[] = {
		"a b c d\r\n",
		"012345678901234567890123\r\n",
		"012345678901234567890123\n",
		"*4\r\n$0\r\n\r\n$0\r\n\r\n$0\r\n\r\n$16\r\n0123456789abcdef\r\n",
	};
	struct resp_limits lim = { .max_bulk = 16, .max_args = 4, .max_inline = 24 };
	struct crdt_buf got;

	check_errors(&lim, cases, sizeof(cases) / sizeof(cases[0]));

	crdt_buf_init(&got, 0);
	for (size_t k = 0; k < sizeof(ok) / sizeof(ok[0]); k++) {
		run_whole(&lim, ok[k], strlen(ok[k]), &got);
		assert_true(got.len >= 2 && got.data[0] == 'C' && !memcmp(got.data + got.len - 2, "N0", 2));
	}
	crdt_buf_done(&got);
}

static void test_error_message_is_a_line(void **state)
{
	struct resp_parser p;
	size_t used;

	resp_parser_init(&p, NULL);
	assert_string_equal(resp_parser_error(&p), "");
	assert_int_equal(resp_parse(&p, "*2\r\n$1\r\na\r\n\n", 13, &used), -EPROTO);
	assert_null(strpbrk(resp_parser_error(&p), "\r\n"));
	resp_parser_done(&p);
	resp_parser_done(NULL);
}

/* ---- memory follows what arrives, not what is declared ---- */

static void test_huge_count_does_not_allocate(void **state)
{
	static const struct {
		size_t max_args;
		const char *hdr;
	} cases[] = {
		{ 0, "*1048576\r\n" },
		{ SIZE_MAX, "*9223372036854775807\r\n" },
		{ SIZE_MAX, "*2147483648\r\n" },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct resp_limits lim = { .max_args = cases[k].max_args };
		struct resp_parser p;
		char in[256];
		size_t used, len;

		resp_parser_init(&p, &lim);
		len = (size_t)snprintf(in, sizeof(in), "%s$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", cases[k].hdr);
		assert_int_equal(resp_parse(&p, in, len, &used), 0);
		assert_int_equal(used, 0);
		assert_true(p.cap <= 8);
		resp_parser_done(&p);
	}
}

/* Arguments arriving one by one grow the arrays geometrically, and a big
 * command's arrays are not kept for the next one. */
static void test_many_args_then_shrink(void **state)
{
	struct crdt_buf in;
	struct resp_parser p;
	size_t used, n = 5000;

	crdt_buf_init(&in, 0);
	put_size(&in, '*', n);
	put_str(&in, "\r\n");
	for (size_t i = 0; i < n; i++)
		put_str(&in, "$1\r\nx\r\n");
	resp_parser_init(&p, NULL);
	assert_int_equal(resp_parse(&p, (const char *)in.data, in.len, &used), 1);
	assert_int_equal(used, in.len);
	assert_int_equal(p.argc, n);
	assert_true(p.cap >= n && p.cap < 2 * n);
	for (size_t i = 0; i < n; i++)
		assert_true(p.argvlen[i] == 1 && p.argv[i][0] == 'x');
	assert_int_equal(resp_parse(&p, "PING\n", 5, &used), 1);
	assert_true(p.cap <= 8);
	resp_parser_done(&p);
	crdt_buf_done(&in);
}

/* A large bulk or a long inline line arriving a byte at a time: O(1) work
 * per call.  A parser that rescanned from the start would take minutes. */
static void test_tiny_pieces_are_linear(void **state)
{
	size_t bulk = (size_t)8 << 20;
	size_t hdr, total;
	char *in = malloc(bulk + 64);
	struct resp_parser p;
	size_t used;
	int r = 0;

	assert_non_null(in);
	hdr = (size_t)sprintf(in, "*1\r\n$%zu\r\n", bulk);
	memset(in + hdr, 'v', bulk);
	memcpy(in + hdr + bulk, "\r\n", 2);
	total = hdr + bulk + 2;
	resp_parser_init(&p, NULL);
	for (size_t i = 1; i <= total; i++) {
		r = resp_parse(&p, in, i, &used);
		if (i < total)
			assert_int_equal(r, 0);
	}
	assert_int_equal(r, 1);
	assert_int_equal(used, total);
	assert_int_equal(p.argvlen[0], bulk);
	assert_ptr_equal(p.argv[0], in + hdr);

	/* an inline line just under the limit */
	size_t line = RESP_DEFAULT_MAX_INLINE;
	memset(in, 'i', line);
	in[line] = '\n';
	for (size_t i = 1; i <= line + 1; i++)
		r = resp_parse(&p, in, i, &used);
	assert_int_equal(r, 1);
	assert_int_equal(p.argvlen[0], line);
	resp_parser_done(&p);
	free(in);
}

/* ---- reply writers ---- */

static void assert_buf(struct crdt_buf *b, const char *want, size_t n)
{
	assert_int_equal(b->err, 0);
	if (b->len != n || memcmp(b->data, want, n)) {
		fprintf(stderr, "# want %zu bytes, got %zu: %.*s\n", n, b->len, (int)b->len,
			(const char *)b->data);
		fail();
	}
	crdt_buf_reset(b);
}

#define ASSERT_BUF(b, lit) assert_buf((b), (lit), sizeof(lit) - 1)

static void test_replies_exact(void **state)
{
	struct crdt_buf b;

	crdt_buf_init(&b, 0);
	assert_int_equal(resp_simple(&b, "OK"), 0);
	ASSERT_BUF(&b, "+OK\r\n");
	resp_simple(&b, "a\r\nb\nc");
	ASSERT_BUF(&b, "+a  b c\r\n");
	resp_simple(&b, "");
	ASSERT_BUF(&b, "+\r\n");

	assert_int_equal(resp_error(&b, "ERR unknown command '%s'", "FOO"), 0);
	ASSERT_BUF(&b, "-ERR unknown command 'FOO'\r\n");
	resp_error(&b, "ERR %s", "bad\r\nthing");
	ASSERT_BUF(&b, "-ERR bad  thing\r\n");
	resp_error(&b, "WRONGTYPE");
	ASSERT_BUF(&b, "-WRONGTYPE\r\n");

	resp_int(&b, 0);
	ASSERT_BUF(&b, ":0\r\n");
	resp_int(&b, 7);
	ASSERT_BUF(&b, ":7\r\n");
	resp_int(&b, -1);
	ASSERT_BUF(&b, ":-1\r\n");
	resp_int(&b, 1234567890);
	ASSERT_BUF(&b, ":1234567890\r\n");
	resp_int(&b, INT64_MAX);
	ASSERT_BUF(&b, ":9223372036854775807\r\n");
	resp_int(&b, INT64_MIN);
	ASSERT_BUF(&b, ":-9223372036854775808\r\n");
	resp_int(&b, -10);
	ASSERT_BUF(&b, ":-10\r\n");

	resp_bulk(&b, "hello", 5);
	ASSERT_BUF(&b, "$5\r\nhello\r\n");
	resp_bulk(&b, "", 0);
	ASSERT_BUF(&b, "$0\r\n\r\n");
	resp_bulk(&b, NULL, 0);
	ASSERT_BUF(&b, "$0\r\n\r\n");
	resp_bulk(&b, "a\0\r\nb", 5);
	ASSERT_BUF(&b, "$5\r\na\0\r\nb\r\n");
	resp_bulk_str(&b, "xyz");
	ASSERT_BUF(&b, "$3\r\nxyz\r\n");
	resp_bulk_int(&b, INT64_MIN);
	ASSERT_BUF(&b, "$20\r\n-9223372036854775808\r\n");
	resp_bulk_int(&b, 42);
	ASSERT_BUF(&b, "$2\r\n42\r\n");
	resp_bulkf(&b, "%s=%d", "x", -3);
	ASSERT_BUF(&b, "$4\r\nx=-3\r\n");
	resp_bulkf(&b, "%s", "");
	ASSERT_BUF(&b, "$0\r\n\r\n");

	resp_nil(&b, RESP_PROTO2);
	ASSERT_BUF(&b, "$-1\r\n");
	resp_nil_array(&b, RESP_PROTO2);
	ASSERT_BUF(&b, "*-1\r\n");
	resp_array(&b, 0);
	ASSERT_BUF(&b, "*0\r\n");
	resp_array(&b, 2);
	resp_bulk(&b, "a", 1);
	resp_int(&b, 1);
	ASSERT_BUF(&b, "*2\r\n$1\r\na\r\n:1\r\n");
	resp_array(&b, 1000000);
	ASSERT_BUF(&b, "*1000000\r\n");
	crdt_buf_done(&b);
}

/* The replies that HELLO 3 changes: RESP2 is byte for byte what the RESP2
 * writers give, RESP3 uses its own types. */
static void test_replies_by_protocol(void **state)
{
	struct crdt_buf b;

	crdt_buf_init(&b, 0);
	resp_nil(&b, RESP_PROTO2);
	ASSERT_BUF(&b, "$-1\r\n");
	resp_nil(&b, RESP_PROTO3);
	ASSERT_BUF(&b, "_\r\n");
	resp_nil_array(&b, RESP_PROTO2);
	ASSERT_BUF(&b, "*-1\r\n");
	resp_nil_array(&b, RESP_PROTO3);
	ASSERT_BUF(&b, "_\r\n");
	resp_map(&b, 0, RESP_PROTO2);
	ASSERT_BUF(&b, "*0\r\n");
	resp_map(&b, 7, RESP_PROTO2);
	ASSERT_BUF(&b, "*14\r\n");
	resp_map(&b, 7, RESP_PROTO3);
	ASSERT_BUF(&b, "%7\r\n");
	resp_set(&b, 0, RESP_PROTO2);
	ASSERT_BUF(&b, "*0\r\n");
	resp_set(&b, 12345, RESP_PROTO2);
	ASSERT_BUF(&b, "*12345\r\n");
	resp_set(&b, 12345, RESP_PROTO3);
	ASSERT_BUF(&b, "~12345\r\n");
	assert_int_equal(resp_map(&b, SIZE_MAX, RESP_PROTO2), -EMSGSIZE);
	crdt_buf_done(&b);
}

/* Formatted replies longer than the writers' stack buffer. */
static void test_replies_long_formats(void **state)
{
	struct crdt_buf b, want;
	char big[1000];

	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	big[500] = '\n';
	crdt_buf_init(&b, 0);
	crdt_buf_init(&want, 0);

	/* at and around the 256-byte boundary too */
	for (size_t n = 250; n < 262; n++) {
		char s[300];
		memset(s, 'q', n);
		s[n] = 0;
		resp_bulkf(&b, "%s", s);
		resp_bulk(&want, s, n);
		resp_error(&b, "%s", s);
		put_str(&want, "-");
		put_str(&want, s);
		put_str(&want, "\r\n");
	}
	resp_bulkf(&b, "<%s>", big);
	put_str(&want, "$1001\r\n<");
	put_str(&want, big);
	put_str(&want, ">\r\n");
	resp_error(&b, "ERR %s", big);
	big[500] = ' ';
	put_str(&want, "-ERR ");
	put_str(&want, big);
	put_str(&want, "\r\n");
	assert_int_equal(b.err, 0);
	assert_int_equal(b.len, want.len);
	assert_memory_equal(b.data, want.data, b.len);
	crdt_buf_done(&b);
	crdt_buf_done(&want);
}

/* Replies fit a buffer of exactly their size and fail, stickily, past it. */
static void test_replies_respect_max(void **state)
{
	struct crdt_buf b;

	crdt_buf_init(&b, 11);
	assert_int_equal(resp_bulk(&b, "hello", 5), 0);
	assert_int_equal(b.len, 11);
	assert_int_equal(resp_int(&b, 1), -EMSGSIZE);
	assert_int_equal(resp_simple(&b, "OK"), -EMSGSIZE);
	crdt_buf_done(&b);

	crdt_buf_init(&b, 10);
	assert_int_equal(resp_bulk(&b, "hello", 5), -EMSGSIZE);
	crdt_buf_done(&b);

	crdt_buf_init(&b, 8);
	assert_int_equal(resp_error(&b, "ERR %s", "x"), 0);
	assert_int_equal(resp_error(&b, "%s", ""), -EMSGSIZE);
	crdt_buf_done(&b);

	crdt_buf_init(&b, 9);
	assert_int_equal(resp_bulkf(&b, "%d", 123), 0);
	assert_int_equal(b.len, 9);
	crdt_buf_done(&b);
	crdt_buf_init(&b, 300);
	assert_int_equal(resp_bulkf(&b, "%300s", "x"), -EMSGSIZE);
	crdt_buf_done(&b);

	crdt_buf_init(&b, 23);
	assert_int_equal(resp_int(&b, INT64_MIN), 0);
	assert_int_equal(resp_nil(&b, RESP_PROTO2), -EMSGSIZE);
	crdt_buf_done(&b);
}

/* What the writers produce, the parser reads back (an array of bulks is a
 * request). */
static void test_writer_parser_roundtrip(void **state)
{
	struct crdt_buf b;
	struct resp_parser p;
	size_t used;

	crdt_buf_init(&b, 0);
	resp_array(&b, 3);
	resp_bulk(&b, "SET", 3);
	resp_bulk_int(&b, -5);
	resp_bulkf(&b, "v%d", 9);
	resp_parser_init(&p, NULL);
	assert_int_equal(resp_parse(&p, (const char *)b.data, b.len, &used), 1);
	assert_int_equal(used, b.len);
	assert_int_equal(p.argc, 3);
	assert_memory_equal(p.argv[1], "-5", 2);
	assert_memory_equal(p.argv[2], "v9", 2);
	resp_parser_done(&p);
	crdt_buf_done(&b);
}

/* The look-ahead finds each complete command's key and length, and at
 * every cut of the input stops at the last complete one, reading nothing
 * past what it is given (ASan: each cut is a buffer of its own). */
static void test_peek_key(void **state)
{
	const char *in = "*3\r\n$3\r\nSET\r\n$5\r\nkey:1\r\n$2\r\nv1\r\n"
			 "*1\r\n$4\r\nPING\r\n"
			 "*2\r\n$3\r\nGET\r\n$0\r\n\r\n";
	size_t len = strlen(in), first = 32, second = 14;
	const char *k;
	size_t kl;

	for (size_t cut = 0; cut <= len; cut++) {
		char *b = malloc(cut ? cut : 1);
		assert_non_null(b);
		memcpy(b, in, cut);
		size_t n = resp_peek_key(b, cut, &k, &kl);
		if (cut < first) {
			assert_int_equal(n, 0);
		} else {
			assert_int_equal(n, first);
			assert_int_equal(kl, 5);
			assert_memory_equal(k, "key:1", 5);
			n = resp_peek_key(b + first, cut - first, &k, &kl);
			assert_int_equal(n, cut < first + second ? 0 : second);
			assert_null(k);
			if (cut >= first + second) {
				n = resp_peek_key(b + first + second, cut - first - second, &k, &kl);
				assert_int_equal(n, cut == len ? len - first - second : 0);
				if (n)
					assert_int_equal(kl, 0);
			}
		}
		free(b);
	}
	/* what it does not read: inline commands, a bad terminator, a lying count */
	assert_int_equal(resp_peek_key("GET k\r\n", 7, &k, &kl), 0);
	assert_int_equal(resp_peek_key("*2\r\n$3\r\nGET\r\n$1\r\nkXY", 20, &k, &kl), 0);
	assert_int_equal(resp_peek_key("*9999\r\n$1\r\nk\r\n", 14, &k, &kl), 0);
	assert_int_equal(resp_peek_key("*2\r\n$-1\r\n", 9, &k, &kl), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_samples_every_split),
		cmocka_unit_test(test_partial_leaves_bytes),
		cmocka_unit_test(test_skips_are_consumed),
		cmocka_unit_test(test_pipeline_in_order),
		cmocka_unit_test(test_random_split_equivalence),
		cmocka_unit_test(test_inline_quotes),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_error_message_is_a_line),
		cmocka_unit_test(test_huge_count_does_not_allocate),
		cmocka_unit_test(test_many_args_then_shrink),
		cmocka_unit_test(test_tiny_pieces_are_linear),
		cmocka_unit_test(test_replies_exact),
		cmocka_unit_test(test_replies_by_protocol),
		cmocka_unit_test(test_replies_long_formats),
		cmocka_unit_test(test_replies_respect_max),
		cmocka_unit_test(test_writer_parser_roundtrip),
		cmocka_unit_test(test_peek_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
