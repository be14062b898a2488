/* Gossip: ships the full state of the store's instances to peers over
 * datagrams and merges what peers send (docs/protocol.md).
 *
 *  - every interval_ms a round: full state to `fanout` random peers (0: all),
 *    a PING to every peer;
 *  - gossip_sync(): full state now, to one peer or to all;
 *  - push_delay_ms after a local write (announced on the store's change
 *    stream, or gossip_notify_write()): the instances changed, batched under
 *    one timer.  Instances whose encoding passed
 *    GOSSIP_LARGE_BYTES are pushed at most once per interval_ms / 2.
 *
 * Every batch is encoded once and the same datagrams go to every chosen peer.
 * Received STATE datagrams are decoded whole before anything is merged.
 *
 * This is the libuv shell: the round and push timers, the UDP transport and
 * uv_getaddrinfo.  Every decision is made by the gossip core (core.h), which
 * takes the time from here (uv_now, uv_hrtime) and is tested alone with a
 * fake clock and network.
 */
#ifndef CRDTD_GOSSIP_H
#define CRDTD_GOSSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "gossip/core.h"

struct gossip;

/** The limits a gossip holds (set by gossip_new and gossip_set_policy). */
const struct gossip_limits *gossip_get_limits(const struct gossip *g);

/** A gossip bound to a UDP socket on cfg->listen_host:listen_port.  @store,
 * @hlc, @self and @node_name are borrowed and must outlive it (node_name is
 * copied, at most WIRE_NODE_MAX bytes).  Nothing is sent before
 * gossip_start.  *ret written on success; free with gossip_close.
 * -EINVAL for a bad setting, -ENOMEM, socket errors. */
int gossip_new(uv_loop_t *loop, const struct gossip_config *cfg, struct store *store,
	       struct crdt_hlc *hlc, const struct crdt_rid *self, const char *node_name,
	       struct gossip **ret);
/** As gossip_new over the given transport (ownership passes to the gossip on
 * success only; it is closed by gossip_close).  cfg->listen_* and the buffer
 * sizes are ignored. */
int gossip_new_with_transport(uv_loop_t *loop, const struct gossip_config *cfg,
			      struct store *store, struct crdt_hlc *hlc,
			      const struct crdt_rid *self, const char *node_name,
			      struct transport *t, struct gossip **ret);
/** Where the core's large blocks it is done with go (the push queue a
 * burst grew): @fn(@ctx, block) frees it off the loop (the daemon's
 * lazyfree_put_mem).  Unset, they are freed at once. */
void gossip_set_lazyfree(struct gossip *g, void (*fn)(void *ctx, void *p), void *ctx);
/** Start receiving, resolving peers and the round timer (the first round
 * runs at once). */
int gossip_start(struct gossip *g);
/** One round now, as the timer runs it: PING every peer, send the full state
 * to the peers that are up (fanout of them).  A peer that has not answered
 * for 3 rounds is down and gets only the PING until it answers; then it gets
 * the full state at once. */
void gossip_round(struct gossip *g);
/** Push what local writes changed within push_delay_ms (one timer for every
 * write until then).  Every store_changed of a local write calls it. */
void gossip_notify_write(struct gossip *g);
/** Send the full state now to the peer named @peer, or to every peer if
 * NULL.  -ENOENT for an unknown peer name, -EHOSTUNREACH if it is not
 * resolved yet; -ENOMEM. */
int gossip_sync(struct gossip *g, const char *peer);
/** Replace the peer list (SIGHUP).  Peers whose name stays keep their stats,
 * address and RTT.  On error the old list stays.  -EINVAL, -ENOMEM. */
int gossip_set_peers(struct gossip *g, const struct gossip_peer_config *peers, size_t n);
/** Replace the cluster keys (SIGHUP): @kr is copied; NULL or no key turns
 * authentication off.  -ENOMEM (the old keys stay). */
int gossip_set_keys(struct gossip *g, const struct auth_keyring *kr);
/** Replace the receive-side settings that a reload may change. */
void gossip_set_policy(struct gossip *g, bool accept_unknown_peers, uint32_t max_peer_dgrams_per_sec,
		       const struct gossip_limits *lim);

/** Stop and close every handle; the memory goes in the close callbacks, so
 * run the loop afterwards (uv_loop_close() then returns 0).  Accepts NULL. */
void gossip_close(struct gossip *g);

/** Counters for INFO (a snapshot, transport counters folded in). */
void gossip_get_stats(const struct gossip *g, struct gossip_stats *ret);
/** Start INFO gossip_longest_call_us (the longest call into the core) afresh
 * (CONFIG RESETSTAT); accepts NULL. */
void gossip_reset_longest(struct gossip *g);
/** The wall time of every call into the core so far, µs (0 for NULL). */
uint64_t gossip_calls_us(const struct gossip *g);
/** Visit every peer in configuration order; a non-zero return stops and is
 * returned. */
int gossip_foreach_peer(const struct gossip *g,
			int (*cb)(const struct gossip_peer_info *p, void *ctx), void *ctx);
/** Number of configured peers. */
size_t gossip_npeers(const struct gossip *g);
/** The transport's bound address (for a listen port of 0). */
int gossip_local_addr(const struct gossip *g, struct sockaddr_storage *ret);

#endif
