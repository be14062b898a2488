/* The command table: what each RESP command does to the store, and its
 * reply.  The client module parses frames and hands complete commands here;
 * nothing in this module touches a socket. */
#ifndef CRDTD_COMMANDS_H
#define CRDTD_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

#include "crdt/buf.h"

struct daemon;
struct cmd_multi;

/* One command's arguments; argv[0] is the command name.  The bytes belong
 * to the connection's input buffer and live for the call only. */
struct cmd_args {
	size_t argc;
	const uint8_t *const *argv;
	const size_t *argl;
};

/* The longest name CLIENT SETNAME keeps. */
#define CMD_CLIENT_NAME_MAX 128

/* Per-connection state a command may read or change. */
struct cmd_session {
	int close_after_reply; /* QUIT */
	int authenticated;     /* AUTH succeeded (matters with requirepass) */
	int proto;             /* RESP_PROTO2 (the default) or RESP_PROTO3, set by HELLO */
	uint64_t id;           /* the connection's number, from 1 (HELLO's id) */
	struct cmd_multi *multi; /* between MULTI and EXEC/DISCARD: the queue; else NULL */
	/* CLIENT LIST, SLOWLOG: set by the listener at accept, "" without one */
	char addr[64];         /* the peer: "ip:port", "[v6]:port", "/path:0" */
	char laddr[64];        /* the local end, the same way */
	char name[CMD_CLIENT_NAME_MAX + 1]; /* CLIENT SETNAME; "" = none */
	const char *last_cmd;  /* the table's name of the last command, NULL before one */
};

/** Rows of the command table (at most CMDSTATS_MAX), and the name of row
 * @i (lower case, static). */
size_t commands_count(void);
const char *commands_name(size_t i);

/** Run one command, appending its reply to @out.  Never fails: errors are
 * replies.  (Allocation failures inside show as -ERR replies.) */
void commands_exec(struct daemon *d, struct cmd_session *sess, const struct cmd_args *a,
		   struct crdt_buf *out);

/** Free what the session holds (a transaction's queue); the connection
 * ends.  Accepts a session that holds nothing. */
void commands_session_done(struct cmd_session *sess);

#endif
