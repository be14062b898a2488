/* What the command files of client/ share: the handler type, the argument
 * rules, and the handlers that live outside client/commands.c (which holds
 * the command table).  Private to client/. */
#ifndef CRDTD_CLIENT_CMD_H
#define CRDTD_CLIENT_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/commands.h"

/* Run one command: check its arguments, act, append exactly one reply. */
typedef void (*cmd_fn)(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		       struct crdt_buf *out);

/** Whether argument @i is @s, ignoring case (Redis keywords). */
bool cmd_arg_is(const struct cmd_args *a, size_t i, const char *s);
/** Argument @i as a Redis integer: optional '-', digits, no leading zeros,
 * within int64.  False, *ret unchanged, otherwise. */
bool cmd_arg_int64(const struct cmd_args *a, size_t i, int64_t *ret);

/* client/admin.c */
void cmd_crdt_peers(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		    struct crdt_buf *out);
void cmd_crdt_sim(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		  struct crdt_buf *out);
void cmd_crdt_sync(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		   struct crdt_buf *out);
void cmd_info(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	      struct crdt_buf *out);

/* client/introspect.c */
void cmd_client(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		struct crdt_buf *out);
void cmd_config(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		struct crdt_buf *out);
void cmd_latency(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		 struct crdt_buf *out);
void cmd_memory(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		struct crdt_buf *out);
void cmd_slowlog(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		 struct crdt_buf *out);
void cmd_time(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	      struct crdt_buf *out);

#endif
