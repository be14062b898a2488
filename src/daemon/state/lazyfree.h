/* Lazy free: the members of large sets and hashes that a DEL, an expiry or
 * a peer's DEL emptied, freed on libuv's thread pool instead of in the loop
 * pass that emptied them (Redis's lazyfree, for the same reason: freeing
 * 1,000,000 members takes 10-300 ms).  The store hands each such husk over
 * through its hook (store_set_lazyfree); the husk shares nothing with the
 * store, and libcrdt keeps no globals, so any thread may free it.
 *
 * A job returns the freed heap to the OS after freeing (malloc_trim), on
 * the pool too; the loop's own trim waits while jobs are pending, so that
 * the two never contend for the arena's lock.
 *
 * The gossip's large blocks (its push queue after a burst) go the same way
 * (lazyfree_put_mem): unmapping their pages took milliseconds of a call.
 *
 * Ownership: lazyfree_put takes the husk, lazyfree_put_mem the block; a job
 * frees it and itself.  Jobs
 * still queued at shutdown keep the loop running until they are done, so
 * uv_loop_close sees none. */
#ifndef CRDTD_LAZYFREE_H
#define CRDTD_LAZYFREE_H

#include <stdint.h>

#include <uv.h>

#include "crdt/obj.h"

struct lazyfree {
	uv_loop_t *loop;
	uint64_t pending; /* husks queued, not yet freed */
	uint64_t freed;   /* husks freed (INFO lazyfreed_objects): on the pool, or in
			   * the call when no job could be queued */
};

void lazyfree_init(struct lazyfree *lf, uv_loop_t *loop);
/** The store's lazyfree hook: free @husk (taken) on the thread pool, or at
 * once when it cannot be queued. */
void lazyfree_put(void *lf, struct crdt_obj *husk);
/** Free @p, a large block of plain memory (malloc'd; taken), on the thread
 * pool, or at once when it cannot be queued (gossip_set_lazyfree). */
void lazyfree_put_mem(void *lf, void *p);

#endif
