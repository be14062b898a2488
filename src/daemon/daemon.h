/* The daemon's shared context: one per process, owned by main.c, handed to
 * the modules that need more than their own state (commands, INFO). */
#ifndef CRDTD_DAEMON_H
#define CRDTD_DAEMON_H

#include <stdint.h>

#include <uv.h>

#include "client/cmdstats.h"
#include "client/slowlog.h"
#include "config.h"
#include "passes.h"
#include "client/commands.h"
#include "crdt/hlc.h"
#include "crdt/rid.h"
#include "state/lazyfree.h"
#include "state/populate.h"
#include "state/store.h"

struct gossip;
struct http_server;
struct journal;
struct listener;
struct shim;

struct daemon_stats {
	uint64_t commands;          /* commands executed */
	uint64_t connections;       /* accepted since start */
	uint64_t rejected_clients;  /* over max_clients */
	uint64_t protocol_errors;   /* malformed frames; each closed a connection */
	uint64_t errors_replied;    /* commands answered with an error */
	uint64_t auth_failures;     /* AUTH with a wrong password */
	uint64_t output_limit_disconnections; /* over [clients] output_buffer_*_limit */
	uint64_t reply_buffer_errors; /* a reply could not be built (no memory): closed */
};

struct daemon {
	uv_loop_t *loop;
	const char *config_path;
	struct config cfg;
	struct crdt_hlc hlc;
	struct store store;
	struct gossip *gossip;
	struct journal *journal;
	struct listener *listener;
	struct shim *shim; /* NULL unless [simulation] enabled; owned by gossip */
	uint64_t start_ms; /* uv_now at start */
	struct daemon_stats stats;
	struct http_server *http; /* NULL unless [http] listen is set */
	int commit_error; /* the last storage commit: 0 or -errno (/healthz) */
	int clients; /* connected now */
	struct cmdstats cmdstats; /* per command, recorded by commands_exec */
	struct slowlog slowlog;   /* SLOWLOG; slowlog_done at exit */
	uint64_t exec_end_ns;     /* uv_hrtime when commands_exec last returned */
	struct passes passes;     /* the loop's passes (INFO loop_*), by main.c's prepare */
	struct lazyfree lazyfree; /* large emptied states freed off the loop (store's hook) */
	struct populate populate; /* large tables' page faults off the loop (libcrdt's hook) */
};

#endif
