/* Page faults of large tables, taken on libuv's thread pool: the populate
 * hook of crdt/mem.h, and the store's for its next table (state/store.h,
 * store_set_populate).  When an element table maps the next class's
 * slots ahead of a growth (tens of MiB for a set of a million members), a
 * job faults them in (madvise MADV_POPULATE_WRITE, 2 MiB at a time, first to
 * last) while the loop goes on; the table looks whether the pages are in
 * before it moves into them, and never faults them itself.  On a VM whose
 * host backs the guest's memory lazily, faulting 2 MiB of fresh memory took
 * 2.9-3.4 ms, and that was one SADD in a few thousand waiting
 * (docs/benchmarks.md).
 *
 * One per process: libcrdt's hook takes no context.  populate_init
 * installs the hook only where the kernel has MADV_POPULATE_WRITE (Linux
 * 5.14): without it libcrdt faults on the loop, as before.  A job only
 * faults pages in, never writes to them, so the table's owner may write
 * into them meanwhile; a range unmapped before its job is done (the table
 * freed) makes that madvise fail, which ends the job (and one mapped again
 * meanwhile for something else only has its pages faulted in early).
 *
 * Ownership: each job frees itself.  Jobs still queued at shutdown keep the
 * loop running until they are done (populate_stop first removes the hook). */
#ifndef CRDTD_POPULATE_H
#define CRDTD_POPULATE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

struct populate {
	uv_loop_t *loop;
	uint64_t jobs;  /* jobs done (INFO populate_jobs) */
	uint64_t bytes; /* bytes they faulted in (INFO populate_bytes) */
};

/** Install libcrdt's populate hook on @loop's thread pool, if the kernel can
 * populate (whether it did); @p must outlive the loop's run. */
bool populate_init(struct populate *p, uv_loop_t *loop);
/** The hook: a job that faults [@addr, @addr + @len) in on the thread pool.
 * Called on the loop's thread only, while installed (else it does nothing);
 * the store's is the same (store_set_populate). */
void populate_queue(void *addr, size_t len);
/** Remove the hook: later tables fault on the caller's thread. */
void populate_stop(struct populate *p);

#endif
