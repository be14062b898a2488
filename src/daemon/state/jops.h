/* A run of the journal's LMDB ops: how a batch holds them and a log record
 * stores them (puts, deletes, drops of a slot's journal records), their
 * check, and applying them to a write transaction (docs/storage.md).
 *
 * Two ways to apply a run, with the same result:
 * - jops_apply: op after op, in the run's order;
 * - jops_apply_sorted: each key's last op only, in LMDB's key order, through
 *   one cursor a table.  Puts of random keys into a large table each search
 *   the B-tree from its root to a cold leaf (1.3-1.8 us a put on this
 *   project's VM); in key order, the keys of one leaf follow each other and
 *   the cursor stays on it (0.6 us, docs/benchmarks.md).  The writer keeps
 *   a batch_ms of groups and applies them so before each commit.
 *
 * Pure over LMDB: no threads, no files of its own.  Every function takes a
 * buffer and its length and never reads past it; only jops_check accepts a
 * run that was not built here (a log record read back). */
#ifndef CRDTD_JOPS_H
#define CRDTD_JOPS_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "state/jwriter.h"

enum { JOP_PUT = 1, JOP_DEL, JOP_DROP_LOG };

/* Before each op's key and value (host byte order: a run is read back only
 * by the machine that wrote it, as LMDB's own file is). */
struct jop_head {
	uint8_t kind, table;
	uint16_t pad;
	uint32_t klen, vlen;
};

/** 0 when @p[0..n) is a well-formed run of ops, -EBADMSG otherwise. */
int jops_check(const uint8_t *p, size_t n);

/** Apply the run @p[0..n) (checked) to @txn, op after op.  MDB_SUCCESS, or
 * LMDB's code with *@what saying what failed. */
int jops_apply(MDB_txn *txn, const MDB_dbi dbi[JWRITER_TABLES], const uint8_t *p, size_t n,
	       const char **what);

/* The index jops_apply_sorted sorts a run's ops in, kept from one call to
 * the next: a commit of a write storm's second sorted about 100,000 ops,
 * and an index allocated afresh each time was faulted in afresh each time.
 * Zeroed: empty.  The caller owns it; jops_scratch_done frees it. */
struct jops_scratch {
	void *v;
	size_t cap;  /* entries */
	size_t used; /* entries the last call sorted */
};

/** The same end state as jops_apply, reached in key order: of the ops on
 * one key only the last is applied; a drop of a slot's records below a
 * number removes those in @txn and the puts of such records before it in
 * the run.  Its index of the ops lives in @sc, grown as needed.
 * MDB_SUCCESS, ENOMEM, or LMDB's code (*@what says what). */
int jops_apply_sorted(MDB_txn *txn, const MDB_dbi dbi[JWRITER_TABLES], const uint8_t *p,
		      size_t n, struct jops_scratch *sc, const char **what);
/** Free @sc's index when it holds more than @keep_bytes and the last call
 * used less than a quarter of it (not the memory of one large commit for
 * ever). */
void jops_scratch_trim(struct jops_scratch *sc, size_t keep_bytes);
/** Free @sc's index; @sc is empty again. */
void jops_scratch_done(struct jops_scratch *sc);

/** At most how many pages the run @p[0..n) can add to a transaction, for
 * pages of @psize bytes, besides what the pages the store already has can
 * take by themselves (at most one copy and two splits each, leaf and
 * branch): its large values' own pages, and four pages a page of entries
 * put (a split page fills again only after half a page more). */
uint64_t jops_pages(const uint8_t *p, size_t n, size_t psize);

#endif
