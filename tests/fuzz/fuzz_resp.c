/* libFuzzer target for the RESP parser.
 *
 * The first two bytes choose the limits and seed the piece sizes; the rest
 * is fed through the parser three ways: whole, in pseudo-random pieces
 * through a connection buffer that moves on every append, and, for the
 * commands it yields, re-encoded with the reply writers and parsed back.
 * All three must agree, and every argv must lie inside the input or the
 * parser's scratch.
 *
 * The outcomes are kept as text in a plain buffer, not a crdt_buf, and the
 * harness is FUZZ_HARNESS: only the parser and the reply writers are
 * instrumented for coverage, so a run costs what they cost.
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -Iinclude -Isrc/daemon \
 *     tests/fuzz/fuzz_resp.c src/daemon/client/resp.c src/crdt/buf.c -o /tmp/fuzz_resp
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/buf.h"
#include "fuzz.h"
#include "client/resp.h"

/* A run's outcome, as text. */
struct text {
	char *data;
	size_t len, cap;
};

FUZZ_HARNESS static void put(struct text *t, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (n > t->cap - t->len) {
		size_t cap = t->cap ? t->cap : 256;
		while (cap - t->len < n)
			cap *= 2;
		t->data = realloc(t->data, cap);
		CHECK(t->data);
		t->cap = cap;
	}
	memcpy(t->data + t->len, p, n);
	t->len += n;
}

/* @tag and @n in decimal */
FUZZ_HARNESS static void put_size(struct text *t, char tag, size_t n)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	tmp[--i] = tag;
	put(t, tmp + i, sizeof(tmp) - i);
}

FUZZ_HARNESS static bool within(const char *p, size_t n, const char *base, size_t len)
{
	return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

/* The outcome as text: commands, then "E<err>:<msg>" or "N<left over>".
 * With @reenc, each command is also written back as an array of bulks.
 * Returns the length of the commands' part. */
FUZZ_HARNESS static size_t run(const struct resp_limits *lim, const uint8_t *in, size_t len,
			       uint32_t seed, bool whole, struct text *out, struct crdt_buf *reenc)
{
	struct resp_parser p;
	char *buf = NULL;
	size_t have = 0, at = 0;
	size_t cmds_len;
	int r = 0;

	resp_parser_init(&p, lim);
	while (r >= 0) {
		size_t piece = whole ? len : 1 + seed % 23;
		char *nbuf;

		seed = seed * 1103515245u + 12345u;
		if (!whole && (seed & 0x10000))
			piece = 1 + (seed >> 20) % 300;
		if (piece > len - at)
			piece = len - at;
		/* a fresh allocation each time, so stale pointers are caught */
		nbuf = malloc(have + piece + 1);
		CHECK(nbuf);
		if (have)
			memcpy(nbuf, buf, have);
		if (piece)
			memcpy(nbuf + have, in + at, piece);
		free(buf);
		buf = nbuf;
		have += piece;
		at += piece;

		for (;;) {
			size_t used;

			r = resp_parse(&p, buf, have, &used);
			if (r < 0)
				break;
			CHECK(used <= have && (r == 1 || used == 0));
			if (r == 1 && p.argc) {
				CHECK(p.argc <= p.lim.max_args);
				put_size(out, 'C', p.argc);
				if (reenc)
					resp_array(reenc, p.argc);
				for (size_t i = 0; i < p.argc; i++) {
					size_t n = p.argvlen[i];
					CHECK(within(p.argv[i], n, buf, used) ||
					      within(p.argv[i], n, p.scratch, p.scratch_cap));
					CHECK(n <= p.lim.max_bulk || n <= p.lim.max_inline);
					put_size(out, ' ', n);
					put(out, ":", 1);
					put(out, p.argv[i], n);
					if (reenc)
						resp_bulk(reenc, p.argv[i], n);
				}
			}
			memmove(buf, buf + used, have - used);
			have -= used;
			if (r == 0)
				break;
		}
		if (at == len)
			break;
	}
	cmds_len = out->len;
	if (r < 0) {
		const char *msg = resp_parser_error(&p);
		CHECK(!strpbrk(msg, "\r\n") && !strncmp(msg, "Protocol error: ", 16));
		put_size(out, 'E', (size_t)-r);
		put(out, msg, strlen(msg));
	} else {
		put_size(out, 'N', have);
	}
	free(buf);
	resp_parser_done(&p);
	return cmds_len;
}

FUZZ_HARNESS int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct resp_limits limits[] = {
		{ 0, 0, 0 },
		{ .max_bulk = 16, .max_args = 4, .max_inline = 24 },
		{ .max_bulk = 1, .max_args = 1, .max_inline = 1 },
		{ .max_bulk = 1024, .max_args = 64, .max_inline = 256 },
	};
	struct text whole = { 0 }, pieces = { 0 }, back = { 0 };
	struct crdt_buf reenc;
	const struct resp_limits *lim;
	uint32_t seed;

	if (size < 2)
		return 0;
	lim = &limits[data[0] % 4];
	seed = data[1] * 2654435761u;
	data += 2;
	size -= 2;

	crdt_buf_init(&reenc, 0);
	size_t cmds = run(lim, data, size, seed, true, &whole, &reenc);
	run(lim, data, size, seed, false, &pieces, NULL);
	CHECK(whole.len == pieces.len && !memcmp(whole.data, pieces.data, whole.len));

	/* the commands, re-encoded, parse back to themselves (default limits:
	 * an inline argument may exceed a small max_bulk) */
	CHECK(reenc.err == 0);
	size_t back_cmds = run(NULL, reenc.data, reenc.len, seed ^ 1, false, &back, NULL);
	CHECK(back_cmds == cmds && !memcmp(back.data, whole.data, cmds));
	CHECK(back.len == cmds + 2 && !memcmp(back.data + cmds, "N0", 2));
	free(whole.data);
	free(pieces.data);
	crdt_buf_done(&reenc);
	free(back.data);
	return 0;
}
