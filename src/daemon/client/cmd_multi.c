/* MULTI/EXEC/DISCARD: a connection's queued commands, run together by EXEC
 * within one call, so in one loop pass: one journal transaction (a
 * pass's batch is committed whole) and one gossip push.  WATCH is refused. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "client/cmd.h"
#include "client/resp.h"
#include "daemon.h"

/* The bytes one transaction may queue: the arguments are copies (the
 * connection's input buffer moves on), so their total is bounded. */
#define MULTI_MAX_BYTES (64u << 20)

/* For each queued command: its argc as a varint, then each argument as a
 * length-prefixed byte string (crdt_buf_put_bytes). */
struct cmd_multi {
	struct crdt_buf q;
	size_t n;
	size_t max_argc; /* the most arguments of one queued command */
	bool aborted; /* a command was refused while queued: EXEC answers EXECABORT */
};

static void multi_free(struct cmd_multi *m)
{
	if (!m)
		return;
	crdt_buf_done(&m->q);
	free(m);
}

void commands_session_done(struct cmd_session *s)
{
	multi_free(s->multi);
	s->multi = NULL;
}

void cmd_multi_flag_error(struct cmd_session *s)
{
	if (s->multi)
		s->multi->aborted = true;
}

bool cmd_multi_queue(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out)
{
	struct cmd_multi *m = s->multi;

	if (!m || cmd_arg_is(a, 0, "exec") || cmd_arg_is(a, 0, "discard") ||
	    cmd_arg_is(a, 0, "multi") || cmd_arg_is(a, 0, "watch") || cmd_arg_is(a, 0, "quit"))
		return false;
	crdt_buf_put_varint(&m->q, a->argc);
	for (size_t i = 0; i < a->argc; i++)
		crdt_buf_put_bytes(&m->q, a->argv[i], a->argl[i]);
	if (m->q.err) {
		m->aborted = true;
		resp_error(out, "ERR transaction too large: its queued commands pass %u bytes",
			   MULTI_MAX_BYTES);
		return true;
	}
	m->n++;
	if (a->argc > m->max_argc)
		m->max_argc = a->argc;
	resp_simple(out, "QUEUED");
	return true;
}

void cmd_multi(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out)
{
	if (s->multi) {
		resp_error(out, "ERR MULTI calls can not be nested");
		return;
	}
	if (!(s->multi = calloc(1, sizeof(*s->multi)))) {
		resp_error(out, "ERR out of memory");
		return;
	}
	crdt_buf_init(&s->multi->q, MULTI_MAX_BYTES);
	resp_simple(out, "OK");
}

void cmd_discard(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		 struct crdt_buf *out)
{
	if (!s->multi) {
		resp_error(out, "ERR DISCARD without MULTI");
		return;
	}
	commands_session_done(s);
	resp_simple(out, "OK");
}

/* One queued command at the cursor into @argv/@argl (room for @max). */
static int next_command(struct crdt_cur *cur, const uint8_t **argv, size_t *argl, size_t max,
			size_t *ret_argc)
{
	uint64_t argc;

	if (crdt_cur_varint(cur, &argc) < 0 || argc == 0 || argc > max)
		return -EBADMSG;
	for (size_t i = 0; i < argc; i++)
		if (crdt_cur_bytes(cur, &argv[i], &argl[i]) < 0)
			return -EBADMSG;
	*ret_argc = (size_t)argc;
	return 0;
}

/* EXEC: an array of the queued commands' replies, each run as if sent
 * alone (an error of one is its element; the others still run, as Redis
 * does).  They run here, back to back: nothing from another client comes
 * between them, and their writes share the pass's journal commit and the
 * next push. */
void cmd_exec(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	      struct crdt_buf *out)
{
	struct cmd_multi *m = s->multi;
	size_t max;
	const uint8_t **argv = NULL;
	size_t *argl = NULL;
	struct crdt_cur cur;

	if (!m) {
		resp_error(out, "ERR EXEC without MULTI");
		return;
	}
	s->multi = NULL; /* the queued commands run outside the transaction */
	if (m->aborted) {
		resp_error(out, "EXECABORT Transaction discarded because of previous errors.");
		multi_free(m);
		return;
	}
	max = m->max_argc ? m->max_argc : 1;
	argv = malloc(max * sizeof(*argv));
	argl = malloc(max * sizeof(*argl));
	if (!argv || !argl) {
		resp_error(out, "ERR out of memory");
		goto done;
	}
	resp_array(out, m->n);
	crdt_cur_init(&cur, m->q.data, m->q.len);
	for (size_t i = 0; i < m->n; i++) {
		struct cmd_args q = { .argv = argv, .argl = argl };
		if (next_command(&cur, argv, argl, max, &q.argc) < 0) {
			resp_error(out, "ERR internal: queued command unreadable"); /* cannot happen */
			continue;
		}
		commands_exec(d, s, &q, out);
	}
done:
	free(argv);
	free(argl);
	multi_free(m);
}

/* WATCH's check-and-set needs one order of every write to the key; a
 * replica that accepts writes while apart from the others has none, so the
 * EXEC it guards could not be refused for a write made elsewhere. */
void cmd_watch(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out)
{
	resp_error(out, "ERR WATCH is not supported: replicas accept writes concurrently, so no "
			"replica can tell whether a watched key was changed elsewhere before EXEC");
}

/* UNWATCH: nothing is ever watched. */
void cmd_unwatch(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		 struct crdt_buf *out)
{
	resp_simple(out, "OK");
}
