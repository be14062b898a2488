/* RESP, the Redis protocol, for the client port: an incremental request
 * parser and the reply writers, RESP2 and, for the few types where they
 * differ, RESP3 (chosen per connection by HELLO).  Pure code: no I/O, no
 * libuv, no logging.
 *
 * The parser follows redis' networking.c (processMultibulkBuffer and
 * processInlineBuffer): it accepts arrays of bulk strings
 * ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") and inline commands ("GET k\n"), caps
 * every length it reads, and never sizes an allocation from a count the
 * client sent.  It keeps its place between calls, so a large bulk argument
 * arriving in small pieces costs O(1) per call, not a rescan.
 *
 * Differences from redis, all stricter or binary-safe:
 *  - a bulk payload must be followed by "\r\n", and a "*N" / "$N" line must
 *    end in "\r\n" (redis skips the two bytes unchecked);
 *  - a "*N" or "$N" line longer than RESP_MAX_COUNT_LINE bytes is an error;
 *  - in an inline line a NUL byte is an ordinary character (redis' splitargs
 *    stops at it).
 */
#ifndef CRDTD_RESP_H
#define CRDTD_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "crdt/buf.h"

#define RESP_DEFAULT_MAX_BULK ((size_t)512 * 1024 * 1024) /* redis proto-max-bulk-len */
#define RESP_DEFAULT_MAX_ARGS ((size_t)1024 * 1024)
#define RESP_DEFAULT_MAX_INLINE ((size_t)64 * 1024) /* redis PROTO_INLINE_MAX_SIZE */
/** Longest "*N\r\n" or "$N\r\n" line, terminator included. */
#define RESP_MAX_COUNT_LINE 32

/** Per-connection limits.  A field left 0 takes its RESP_DEFAULT_* value. */
struct resp_limits {
	size_t max_bulk;   /* longest bulk argument, bytes */
	size_t max_args;   /* most arguments in one command, name included */
	size_t max_inline; /* longest inline line, bytes, without its "\r\n" */
};

/** Parser state for one connection; embed it and use resp_parser_init/done.
 *
 * After resp_parse() returns 1, argc/argv/argvlen describe the command
 * (argc may be 0: see resp_parse()).
 * argv[i] is NOT NUL-terminated and may contain any bytes: use argvlen[i].
 * It points into the caller's input buffer (array commands) or into memory
 * owned by the parser (inline commands, whose quotes and escapes are
 * resolved into a copy).  Either way it stays valid until the next
 * resp_parse() or resp_parser_done() call, or until the caller modifies or
 * moves its input buffer, whichever comes first.
 *
 * Everything below the output fields is private.
 */
struct resp_parser {
	size_t argc;
	const char **argv;
	size_t *argvlen;

	/* private */
	struct resp_limits lim;
	size_t *off;       /* argv as offsets, valid across a moving input buffer */
	size_t cap;        /* slots in argv, argvlen and off */
	char *scratch;     /* unescaped inline arguments */
	size_t scratch_cap;
	int kind;          /* 0 between commands, '*' array, 'i' inline */
	size_t pos;        /* bytes of the current command parsed so far */
	size_t want;       /* array: arguments declared */
	size_t bulklen;    /* array: length of the bulk being read ... */
	int have_bulklen;  /* ... once its "$N" line has been read */
	int err;           /* sticky: first error, 0 if none */
	char errmsg[96];
};

/** Prepare @p with @lim (NULL for the defaults).  Allocates nothing. */
void resp_parser_init(struct resp_parser *p, const struct resp_limits *lim);

/** Free what @p allocated; argv is no longer valid.  Accepts NULL. */
void resp_parser_done(struct resp_parser *p);

/** Parse the next command from @buf, the @len bytes the connection has
 * received and not yet consumed.
 *
 * Returns 1 when a command is complete: *ret_consumed is its length in
 * bytes, to be dropped from the start of @buf (or skipped: the next call
 * gets buf + *ret_consumed), and p->argc/argv/argvlen describe it.  p->argc
 * is 0 for an empty inline line or an empty array ("*0", "*-1"): consume
 * the bytes and run nothing.
 *
 * Returns 0 if more bytes are needed; *ret_consumed is then 0.  The next
 * call must get the same unconsumed bytes with newly received ones appended;
 * the buffer may have moved in between.  The parser remembers how far it
 * got, so the work per call is bounded by the new bytes.
 *
 * Returns a negative errno on a protocol error: -EPROTO for malformed input,
 * -EMSGSIZE past a limit, -ENOMEM.  *ret_consumed is not written.  Errors
 * are sticky: later calls return the same error.  resp_parser_error() gives
 * a Redis-style message, for "-ERR <msg>" before closing the connection.
 *
 * A typical loop:
 *
 *	while ((r = resp_parse(&p, in + off, len - off, &used)) == 1) {
 *		off += used;
 *		if (p.argc)
 *			execute(p.argc, p.argv, p.argvlen);
 *	}
 *	drop off bytes; if r < 0, reply "-ERR <resp_parser_error(&p)>" and close
 */
int resp_parse(struct resp_parser *p, const char *buf, size_t len, size_t *ret_consumed);

/** A look-ahead, outside any parser's state: when @buf's @len bytes start
 * with a complete array command of bulk strings, its length, and its second
 * argument (the key of most commands) in *ret_key / *ret_len (NULL / 0 when
 * it has one argument); else 0.  Reads nothing past @len; what it accepts
 * or refuses decides nothing (resp_parse does). */
size_t resp_peek_key(const char *buf, size_t len, const char **ret_key, size_t *ret_len);

/** Message for the parser's error ("Protocol error: ..."), "" if none.
 * Contains no CR or LF.  Owned by @p. */
const char *resp_parser_error(const struct resp_parser *p);

/* Reply writers.  Each appends one RESP2 value to @b and returns 0 or the
 * buffer's (sticky) error, -ENOMEM or -EMSGSIZE past b->max; on error the
 * buffer may hold a partial value and must be discarded.  None allocates
 * beyond the growth of @b.  Strings passed in must not point into @b. */

/** "+s\r\n".  CR and LF in @s are replaced by spaces. */
int resp_simple(struct crdt_buf *b, const char *s);

/** "-<formatted>\r\n".  The caller supplies the error code:
 * resp_error(b, "ERR unknown command '%s'", name).  CR and LF in the
 * result are replaced by spaces. */
int resp_error(struct crdt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** ":v\r\n". */
int resp_int(struct crdt_buf *b, int64_t v);

/** "$len\r\n<bytes>\r\n"; binary-safe. */
int resp_bulk(struct crdt_buf *b, const void *ptr, size_t len);

/** resp_bulk() of a NUL-terminated string. */
int resp_bulk_str(struct crdt_buf *b, const char *s);

/** resp_bulk() of @v in decimal, as redis replies to GET of a number. */
int resp_bulk_int(struct crdt_buf *b, int64_t v);

/** resp_bulk() of a printf-formatted string. */
int resp_bulkf(struct crdt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** "*n\r\n": the header of an array; the caller appends @n values. */
int resp_array(struct crdt_buf *b, size_t n);

/* Replies whose form depends on the protocol version the connection
 * speaks: @proto is RESP_PROTO2 or RESP_PROTO3. */
#define RESP_PROTO2 2
#define RESP_PROTO3 3

/** The null reply: RESP2 "$-1\r\n" (a null bulk), RESP3 "_\r\n". */
int resp_nil(struct crdt_buf *b, int proto);

/** A null where an array was expected: RESP2 "*-1\r\n", RESP3 "_\r\n". */
int resp_nil_array(struct crdt_buf *b, int proto);

/** The header of a map of @npairs key/value pairs; the caller appends
 * 2 * @npairs values.  RESP2 "*<2n>\r\n" (a flat array), RESP3 "%n\r\n". */
int resp_map(struct crdt_buf *b, size_t npairs, int proto);

/** The header of a set of @n members.  RESP2 "*n\r\n", RESP3 "~n\r\n". */
int resp_set(struct crdt_buf *b, size_t n, int proto);

#endif
