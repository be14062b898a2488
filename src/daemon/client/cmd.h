/* What the command files of client/ share: the handler type, the argument
 * rules, and the handlers that live outside client/commands.c (which holds
 * the command table).  Private to client/. */
#ifndef CRDTD_CLIENT_CMD_H
#define CRDTD_CLIENT_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/commands.h"
#include "crdt/obj.h"

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

/* client/commands.c, for the other command files */
struct gossip_limits;
/** The error reply for a libcrdt error (WRONGTYPE, overflow, OOM...). */
void cmd_reply_crdt_error(struct crdt_buf *out, int err);
/** Whether a write of type @t to key a->argv[1] is within [limits] (name,
 * max_instances); false with the error replied. */
bool cmd_may_write(struct daemon *d, const struct cmd_args *a, enum crdt_type t,
		   struct crdt_buf *out);
/** Announce a local write of slot @t of key a->argv[1] as a state change
 * (@state the new state; NULL for a counter). */
void cmd_wrote_state(struct daemon *d, const struct cmd_args *a, enum crdt_type t,
		     const struct crdt_obj *state);
/** The [limits] in force (all zero without gossip). */
const struct gossip_limits *cmd_limits(struct daemon *d);
/** Redis' name of a type for TYPE: "string", "set", "none" for 0. */
const char *cmd_redis_type_name(enum crdt_type t);
/** A reply of @count elements (SRANDMEMBER, HRANDFIELD with a negative
 * count, which repeats): within [limits] max_elements (max_hash_fields
 * when @hash), the most a set (hash) may hold, and, at @min_bytes an
 * element at least, within what @out may still take (the client's output
 * hard limit).  False with the error replied. */
bool cmd_may_reply_count(struct daemon *d, uint64_t count, size_t min_bytes, bool hash,
			 struct crdt_buf *out);
/* The arguments of SCAN, HSCAN and SSCAN: argument indices, 0 for none. */
struct cmd_scan {
	size_t pat;     /* MATCH's pattern */
	size_t type;    /* SCAN's TYPE */
	bool novalues;  /* HSCAN's NOVALUES */
	uint64_t count; /* COUNT, CMD_SCAN_COUNT without it */
};
/* COUNT's default, as Redis's */
#define CMD_SCAN_COUNT 10
/* A set or hash of up to this many members answers SSCAN and HSCAN whole,
 * in one step with cursor 0, sorted, as Redis answers its small encodings;
 * a larger one a step at a time by its hash cursor (crdt_orset_scan). */
#define CMD_SCAN_WHOLE 128
enum cmd_scan_kind { CMD_SCAN_KEYS, CMD_SCAN_HASH, CMD_SCAN_SET };
/** Check the cursor a->argv[@i] as redis-server 7.0 does, its value into
 * *@ret.  0, or -1 with "ERR invalid cursor" replied.  Redis checks it
 * first, before the key and the options. */
int cmd_scan_cursor(const struct cmd_args *a, size_t i, uint64_t *ret, struct crdt_buf *out);
/** Parse the options after the cursor a->argv[@cur]: MATCH p, COUNT n (a
 * hint, >= 1), and TYPE t for SCAN (@kind CMD_SCAN_KEYS) or NOVALUES for
 * HSCAN.  HSCAN and SSCAN parse them only for a key of their type, as
 * Redis.  0, or -1 with the error replied. */
int cmd_scan_parse(const struct cmd_args *a, size_t cur, enum cmd_scan_kind kind,
		   struct cmd_scan *ret, struct crdt_buf *out);
/** SET k v (a->argc 3): checks, writes, replies. */
void cmd_set(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	     struct crdt_buf *out);

/* client/cmd_strings.c */
void cmd_getset(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		struct crdt_buf *out);
void cmd_mget(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	      struct crdt_buf *out);
void cmd_mset(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	      struct crdt_buf *out);

/* client/cmd_sets.c */
void cmd_sscan(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out);
void cmd_smismember(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		    struct crdt_buf *out);
void cmd_srandmember(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out);
void cmd_sunion(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		struct crdt_buf *out);
void cmd_sinter(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		struct crdt_buf *out);
void cmd_sdiff(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out);
void cmd_sunionstore(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out);
void cmd_sinterstore(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out);
void cmd_sdiffstore(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		    struct crdt_buf *out);
/** SPOP and SMOVE, refused: the error says why they cannot converge. */
void cmd_set_diverging(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		       struct crdt_buf *out);

/* client/cmd_multi.c */
/** Inside MULTI, queue the checked command @a (replies QUEUED, or an error
 * that makes EXEC abort).  False when the session is not in MULTI or @a is
 * a command that runs at once (EXEC, DISCARD, MULTI, WATCH, QUIT...). */
bool cmd_multi_queue(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		     struct crdt_buf *out);
/** Inside MULTI, a command refused at queue time (unknown, arity): EXEC
 * will answer EXECABORT. */
void cmd_multi_flag_error(struct cmd_session *s);
void cmd_multi(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out);
void cmd_exec(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	      struct crdt_buf *out);
void cmd_discard(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		 struct crdt_buf *out);
void cmd_watch(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out);
void cmd_unwatch(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		 struct crdt_buf *out);
/* client/cmd_hash.c */
void cmd_hdel(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	      struct crdt_buf *out);
void cmd_hexists(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		 struct crdt_buf *out);
void cmd_hget(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	      struct crdt_buf *out);
void cmd_hgetall(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		 struct crdt_buf *out);
void cmd_hincrby(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		 struct crdt_buf *out);
/** HINCRBYFLOAT, refused: the error says why it cannot converge. */
void cmd_hincrbyfloat(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		      struct crdt_buf *out);
void cmd_hkeys(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out);
void cmd_hlen(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	      struct crdt_buf *out);
void cmd_hmget(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out);
void cmd_hrandfield(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		    struct crdt_buf *out);
void cmd_hscan(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out);
void cmd_hmset(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out);
void cmd_hset(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	      struct crdt_buf *out);
void cmd_hsetnx(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		struct crdt_buf *out);
void cmd_hstrlen(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		 struct crdt_buf *out);
void cmd_hvals(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out);

/* client/cmd_keys.c */
void cmd_del(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	     struct crdt_buf *out);
void cmd_getdel(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
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

/* client/cmd_expire.c */
void cmd_expire(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		struct crdt_buf *out);
void cmd_ttl(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	     struct crdt_buf *out);
void cmd_expiretime(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		    struct crdt_buf *out);
void cmd_getex(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out);
void cmd_persist(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
		 struct crdt_buf *out);
void cmd_setex(struct daemon *d, struct cmd_session *s, const struct cmd_args *a,
	       struct crdt_buf *out);
/** Whether key a->argv[1]'s deadline name is within [limits]; false with
 * the error replied. */
bool cmd_may_expire(struct daemon *d, const struct cmd_args *a, struct crdt_buf *out);
/* SET's expiry options: a deadline in ms (0: none given), or KEEPTTL. */
struct cmd_set_expiry {
	int64_t deadline;
	bool keep;
};
/** Parse SET's options a->argv[first..] (EX, PX, EXAT, PXAT, KEEPTTL); 0,
 * or -1 with the error replied. */
int cmd_set_parse_expiry(const struct cmd_args *a, size_t first, struct cmd_set_expiry *ret,
			 struct crdt_buf *out);
/** After SET wrote key a->argv[1]: its new deadline, or none unless
 * KEEPTTL.  0, or a negative errno / CRDT error. */
int cmd_set_apply_expiry(struct daemon *d, const struct cmd_args *a,
			 const struct cmd_set_expiry *x);

#endif
