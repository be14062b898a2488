/* The journal's writer thread: LMDB's write transactions, commits and syncs
 * run on a thread of their own, so the event loop never waits for the disk
 * (state/journal.h owns what is written; docs/storage.md).
 *
 * The loop fills one batch per pass with small ops (put a value, drop a
 * slot's journal records, a name record: state/jops.h) and submits it; the
 * thread takes every batch queued meanwhile into one group, appends it to
 * the write-ahead log (state/wal.h) as one record, synced first under
 * durability = always when a batch holds a client's write, and reports each
 * batch back to the loop, in order, through a uv_async handle: stored or
 * failed.  Every batch_ms (jwriter_sync; synced under always and batch) LMDB
 * takes the groups logged since, each key's last op in key order, into a
 * transaction it keeps open, commits it, and the log is emptied: LMDB
 * copies each page it touches once an interval, not once a group, and
 * searches its tree from a leaf it has just been on.  (While the map might
 * not have room for them, groups go into the transaction as they come, so
 * that one LMDB cannot take fails before it is acknowledged.)  While the
 * thread is idle, a small batch that needs no sync is logged on the loop
 * itself and reported before jwriter_submit returns: one write's reply
 * then does not wait for two thread wake-ups.  So is one while the thread
 * commits the transaction of batch_ms (log_ok): the log is the loop's
 * during LMDB's part of it, which takes tens of milliseconds after a burst
 * of writes, and LMDB takes those groups at the next commit.
 *
 * Threads: every function here runs on the loop thread; the thread only
 * touches LMDB, the log, the queue and the counters under the mutex, and it
 * alone begins, commits and aborts the open transaction (LMDB's writer lock
 * is the thread's).  The map release (madvise) and the batch timer's commit
 * are requests the thread serves between groups. */
#ifndef CRDTD_JWRITER_H
#define CRDTD_JWRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>
#include <uv.h>

#include "crdt/buf.h"

enum jwriter_table { JWRITER_META, JWRITER_INST, JWRITER_SNAP, JWRITER_LOG, JWRITER_TABLES };

/* One pass's writes.  Filled by the loop (jwriter_put and friends), owned by
 * the writer from jwriter_submit until its report, then reused. */
struct jwriter_batch {
	struct jwriter_batch *next;
	uint64_t gen;          /* set by the caller before jwriter_submit */
	bool local;            /* a client waits for it: under always, synced first */
	int rc;                /* 0, or the first -errno (sticky) */
	struct crdt_buf ops;   /* puts and drops, applied in order */
	struct crdt_buf names; /* name records: stored even when the batch fails */
};

/* What the thread did since the last report (added to the journal's stats). */
struct jwriter_counts {
	uint64_t commits, syncs, errors, releases;
	uint64_t loop_commits; /* of the commits, those the loop ran itself */
	uint64_t overlapped;   /* of those, logged while LMDB committed (log_ok) */
	uint64_t taken;        /* LMDB commits that took the log (which they emptied unless
	                        * the loop logged meanwhile) */
	uint64_t last_sync_ms; /* wall clock of the last sync, 0 none since */
	uint64_t wal_bytes;    /* the log's size, when has_wal */
	bool has_wal;
};

struct jwriter_events {
	/* each submitted batch, in submission order: rc 0 stored, or -errno */
	void (*batch_done)(void *ctx, uint64_t gen, int rc);
	/* after the batches of one report */
	void (*counts)(void *ctx, const struct jwriter_counts *since);
	void *ctx;
};

struct jwriter_config {
	MDB_env *env;
	MDB_dbi dbi[JWRITER_TABLES];
	uint8_t *map;          /* LMDB's map of the file (NULL: no release) */
	size_t map_len;
	const char *path;      /* for log lines */
	/* the write-ahead log (state/wal.h, the caller's to open and close),
	 * its path, and the number of its last record that LMDB holds
	 * (jwriter_recover) */
	struct wal *wal;
	const char *wal_path;
	uint64_t wal_seq;
	/* always: a group with a client's write syncs the log (the env syncs
	 * LMDB's commits); batch: LMDB's commit every batch_ms is synced */
	bool sync_groups, sync_interval;
};

/* What jwriter_recover applied. */
struct jwriter_recovery {
	uint64_t seq;     /* the last record LMDB now holds */
	uint64_t records; /* records applied (numbered above what LMDB held) */
	uint64_t bytes;   /* the log's size */
	uint64_t dropped; /* bytes at its end that were no whole record */
	/* The map's size before and after, when the records needed more
	 * room than it had: they were acknowledged, so the map grows for
	 * them (doubling, up to 64 times) rather than the start failing. */
	uint64_t map_was, map_now;
};

struct jwriter;

/** Start the thread.  The env must not be used by the caller from now on
 * until jwriter_close returns.  -errno (thread, handle or memory). */
int jwriter_start(uv_loop_t *loop, const struct jwriter_config *cfg,
		  const struct jwriter_events *ev, struct jwriter **ret);
/** Stop taking batches once the queue is drained, sync what is unsynced,
 * join the thread, report what was left, and close the handle (the writer
 * is freed in its close callback).  Accepts NULL. */
void jwriter_close(struct jwriter *w);

/** Before jwriter_start: apply to LMDB (one synced commit) the records of
 * the log at @wal_path that it does not hold yet, which a crash (kill -9
 * included, in every mode) left there.  A missing log is an empty one.  -errno,
 * with a message in @err. */
int jwriter_recover(MDB_env *env, const MDB_dbi dbi[JWRITER_TABLES], const char *wal_path,
		    struct jwriter_recovery *out, char *err, size_t errlen);

/** An empty batch (reused memory), NULL without memory. */
struct jwriter_batch *jwriter_batch_get(struct jwriter *w);
/** Append a put of @v under @k in table @t.  0, or the batch's -errno. */
int jwriter_put(struct jwriter_batch *b, enum jwriter_table t, const void *k, size_t klen,
		const void *v, size_t vlen);
/** Append @v[0..vlen) to the value of the put that began at offset @at of
 * @b's ops (b->ops.len before that jwriter_put), which must still be its
 * last op: a record that grows while nothing comes after it.  0, -EINVAL
 * when it is not the last op, or the batch's -errno. */
int jwriter_put_more(struct jwriter_batch *b, size_t at, const void *v, size_t vlen);
/** The value of the put at @at (as for jwriter_put_more), writable until
 * the batch is submitted; its length in *@vlen. */
uint8_t *jwriter_put_value(struct jwriter_batch *b, size_t at, size_t *vlen);
/** A slot's name record (table inst): kept and stored again in the next
 * transaction when the one carrying it fails, since later records of the
 * slot name it by its id. */
int jwriter_put_name(struct jwriter_batch *b, const void *k, size_t klen, const void *v,
		     size_t vlen);
/** Delete the value under @k in table @t, if there is one. */
int jwriter_del(struct jwriter_batch *b, enum jwriter_table t, const void *k, size_t klen);
/** Drop slot @sid's journal records below sequence @below (a compaction;
 * UINT64_MAX: all of them). */
int jwriter_drop_log(struct jwriter_batch *b, uint64_t sid, uint64_t below);
/** Hand @b over (ownership passes).  Waits while the queue holds more than
 * JWRITER_QUEUE_MAX bytes (the disk cannot keep up).  May commit @b on the
 * calling thread and call batch_done (and counts) before returning. */
void jwriter_submit(struct jwriter *w, struct jwriter_batch *b);
/** Wait until every submitted batch is reported, and report them. */
void jwriter_flush(struct jwriter *w);
/** Ask the thread to commit the open transaction (synced under always and
 * batch) and empty the log: the batch timer.  Nothing is asked when no batch
 * was submitted since the last time and that commit did not fail.  False
 * when nothing is left to commit (the timer may stop until the next
 * submit), true while a commit was asked for or may still be needed. */
bool jwriter_sync(struct jwriter *w);
/** Ask the thread to hand the map's pages back (madvise). */
void jwriter_release(struct jwriter *w);
/** Batches submitted and not yet reported. */
bool jwriter_busy(const struct jwriter *w);
/** Tests: @fn(@ctx) is called on the thread in the middle of each timed
 * commit, while the loop may log batches itself (NULL: none). */
void jwriter_set_commit_hook(struct jwriter *w, void (*fn)(void *ctx), void *ctx);
/** An LMDB return code as -errno. */
int jwriter_errno(int rc);

#endif
