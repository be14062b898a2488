/* The network simulation shim: a struct transport (transport.h) that wraps
 * the real one and misbehaves on purpose, so partition tests can run on one
 * host.  Optional and off by default: main.c creates it only when
 * [simulation] enabled = true, so with it off the send path is the UDP
 * transport's own, untouched.
 *
 *   gossip ──send──► shim ──(drop / duplicate / hold on a timer)──► udp
 *   gossip ◄─recv─── shim ◄──(drop from partitioned peers)───────── udp
 *
 * Send side: a datagram to a partitioned or down link is dropped; otherwise
 * it is lost with probability `loss`, sent twice with probability
 * `duplicate`, held back for a uniform latency_min..latency_max ms on a libuv
 * timer (so datagrams overtake each other naturally), and with probability
 * `reorder` held for an extra 1..max(2 * latency_max, 20) ms so that later
 * datagrams pass it.  Receive side: datagrams from partitioned or down links
 * are dropped, so a partition declared on one node is symmetric.  Random
 * partitions: every round (the gossip interval) each link this node has sent
 * to goes down with probability `partition_probability`, for 1..5 rounds.
 *
 * Every decision comes from one seeded PRNG: the same seed and the same
 * sequence of datagrams give the same decisions.  The decisions are made by
 * struct shim_core, which knows nothing of libuv and is unit-tested alone;
 * struct shim adds the timers and the wrapped transport.
 */
#ifndef CRDTD_SHIM_H
#define CRDTD_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "gossip/transport.h"

#define SHIM_NAME_MAX 64          /* a peer name ([peers] key) */
#define SHIM_PARTITIONS_MAX 1024  /* peers partitioned off at once */
#define SHIM_LINKS_MAX 1024       /* addresses tracked for random partitions */
#define SHIM_LATENCY_MAX_MS 60000
#define SHIM_HELD_MAX_BYTES (64u << 20) /* held datagrams past this are dropped as loss */
#define SHIM_DOWN_ROUNDS_MAX 5    /* a random partition lasts 1..this many rounds */

struct shim_settings {
	double loss;                  /* 0..1 */
	double duplicate;             /* 0..1 */
	double reorder;               /* 0..1 */
	double partition_probability; /* 0..1, per link and round */
	uint32_t latency_min_ms, latency_max_ms; /* min <= max <= SHIM_LATENCY_MAX_MS */
};

struct shim_stats {
	uint64_t passed;            /* datagrams handed on (copies counted) */
	uint64_t dropped_loss;      /* lost to `loss` */
	uint64_t dropped_partition; /* to or from a partitioned, isolated or down link */
	uint64_t delayed;           /* copies held back on a timer */
	uint64_t duplicated;        /* datagrams sent twice */
	uint64_t reordered;         /* copies held for the extra reordering delay */
	uint64_t links_downed;      /* random partitions started */
	uint64_t send_errors;       /* held copies the inner transport refused */
	size_t held, held_bytes;    /* waiting on timers now */
};

/* xoshiro256** seeded through splitmix64. */
struct shim_rng {
	uint64_t s[4];
};

void shim_rng_seed(struct shim_rng *r, uint64_t seed);
uint64_t shim_rng_next(struct shim_rng *r);
/** Uniform in [0, 1). */
double shim_rng_double(struct shim_rng *r);

/** What to do with one outgoing datagram: @copies is 0 (dropped), 1 or 2,
 * each held back @delay_ms[i] (0: send now). */
struct shim_plan {
	unsigned copies;
	uint32_t delay_ms[2];
};

struct shim_block {
	char name[SHIM_NAME_MAX + 1];
	struct sockaddr_storage addr;
};

struct shim_link {
	struct sockaddr_storage addr;
	uint64_t down_until_ms; /* 0: up */
};

/* The decisions, without I/O.  Fields are read-only outside shim.c. */
struct shim_core {
	struct shim_settings set;
	uint64_t seed;
	struct shim_rng rng;
	bool isolated;
	struct shim_block *blocks; /* partitioned peers */
	size_t nblocks, capblocks;
	struct shim_link *links;   /* addresses sent to */
	size_t nlinks, caplinks;
	struct shim_stats stats;
};

/** -EINVAL unless every probability is in 0..1 and min <= max <= limit. */
int shim_settings_check(const struct shim_settings *s);
/** Fill @c (owned by the caller, released with shim_core_done). -EINVAL. */
int shim_core_init(struct shim_core *c, const struct shim_settings *s, uint64_t seed);
void shim_core_done(struct shim_core *c);
/** Replace the settings (partitions stay).  -EINVAL leaves them. */
int shim_core_set(struct shim_core *c, const struct shim_settings *s);
/** Drop everything to and from @addr, shown as @name.  Adding a peer twice
 * is a no-op.  -EINVAL (name too long), -ENOSPC, -ENOMEM. */
int shim_core_partition(struct shim_core *c, const char *name, const struct sockaddr *addr);
/** Drop everything, to and from everyone, until heal. */
void shim_core_isolate(struct shim_core *c);
/** End every partition, the isolation and every random link-down. */
void shim_core_heal(struct shim_core *c);
/** True if datagrams to or from @addr are dropped at @now_ms. */
bool shim_core_blocked(const struct shim_core *c, const struct sockaddr *addr, uint64_t now_ms);
/** Decide the fate of one datagram of @len bytes to @to; counts it. */
void shim_core_send(struct shim_core *c, const struct sockaddr *to, uint64_t now_ms,
		    struct shim_plan *ret);
/** A datagram from @from: true to deliver it, false if dropped (counted). */
bool shim_core_recv(struct shim_core *c, const struct sockaddr *from, uint64_t now_ms);
/** One round: with partition_probability each up link goes down for 1..5
 * rounds of @round_ms. */
void shim_core_round(struct shim_core *c, uint64_t now_ms, uint32_t round_ms);
/** Links down at @now_ms (random partitions). */
size_t shim_core_links_down(const struct shim_core *c, uint64_t now_ms);

/* ---- the transport ---- */

struct shim;

/** A shim over @inner (ownership passes to the shim on success only).
 * @round_ms: period of the random-partition rounds (the gossip interval).
 * @seed: the PRNG seed (the caller picks one when the config says 0).
 * *ret is the shim; its transport (shim_transport) is what gossip gets, and
 * gossip's ops->close frees the shim, its held datagrams and @inner.
 * -EINVAL, -ENOMEM. */
int shim_new(uv_loop_t *loop, struct transport *inner, const struct shim_settings *s,
	     uint64_t seed, uint32_t round_ms, struct shim **ret);
struct transport *shim_transport(struct shim *s);

/* Run-time control (CRDT.SIM); same returns as the shim_core functions. */
int shim_set(struct shim *s, const struct shim_settings *set);
int shim_partition(struct shim *s, const char *name, const struct sockaddr *addr);
void shim_isolate(struct shim *s);
void shim_heal(struct shim *s);
/** The live decision state (settings, partitions, counters). */
const struct shim_core *shim_core(const struct shim *s);
/** Links down now (random partitions). */
size_t shim_links_down(const struct shim *s);

#endif
