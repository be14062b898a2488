/* Durable state: every change to the store is journaled in an LMDB file,
 * data_dir/store.lmdb, so acknowledged writes and merged state survive
 * kill -9 and restarts (docs/storage.md).
 *
 * The cost of making one write durable does not grow with the instance it
 * touches: a write appends a small journal record (the elements of an SADD,
 * the replica's own counter entry, the new register); an instance's records
 * are folded into a snapshot of it only once they outweigh the last
 * snapshot, so the snapshot costs O(1) per write amortised.
 *
 * The loop only encodes: a pass's records go into one batch in memory, and
 * journal_commit hands it to the writer thread (state/jwriter.h), which
 * stores every batch queued meanwhile as one group (applied to the LMDB
 * transaction it keeps open, appended to the write-ahead log) and reports
 * each back.  A client whose own commands wrote waits for its pass's batch
 * (journal_local_writes, journal_batch_gen, the report callback): stored in
 * every mode (so a crash of crdtd loses nothing acknowledged: a start
 * applies the log), and synced first with durability = always.  Every
 * batch_ms a timer has LMDB commit (synced with batch and always); with
 * none the OS decides when the pages reach the disk.  A
 * client that only read is not held: it can see a write that is not yet
 * durable.
 */
#ifndef CRDTD_JOURNAL_H
#define CRDTD_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "state/store.h"

/* Journal record kinds (docs/storage.md). */
enum journal_op {
	JOURNAL_OP_STATE = 1,   /* merge this state (local deltas, counters; peers' before format 2) */
	JOURNAL_OP_ORSET_ADD,   /* crdt_orset_add of each element, as the legacy id (crdtd 0.1) */
	JOURNAL_OP_ORSET_REM,   /* crdt_orset_remove of each element */
	JOURNAL_OP_GSET_ADD,    /* crdt_gset_add of each element */
	JOURNAL_OP_ORSET_ADD_AS, /* crdt_orset_add of each element, as the replica id it names */
	JOURNAL_OP_STATES,      /* merge each of these states from peers, in order */
	JOURNAL_OP_CLEAR,       /* crdt_obj_clear of an OR-Set or OR-Map (DEL) */
	JOURNAL_OP_ORSET_ADD_DOT, /* crdt_orset_add_at of each element, under the dots it names */
};

struct journal_stats {
	uint64_t records;     /* journal records written */
	uint64_t commits;     /* groups stored: one carries every batch queued */
	uint64_t loop_commits; /* of those, small unsynced ones the loop ran itself */
	uint64_t commit_overlaps; /* of those, logged while LMDB committed */
	uint64_t syncs;       /* log syncs (always) and synced LMDB commits */
	uint64_t compactions; /* snapshots written */
	uint64_t compactions_sliced; /* of those, a large state's, a slice a pass */
	uint64_t errors;      /* failed encodings, puts, commits or syncs */
	uint64_t last_sync_ms; /* wall clock of the last sync, 0 never */
	uint64_t loaded_instances, loaded_records;
	uint64_t wal_applied; /* records of store.wal applied at the start */
	uint64_t wal_bytes;   /* store.wal's size now, as last reported */
	uint64_t map_releases; /* the map's pages handed back (after groups) */
};

struct journal;

/** Open (creating) data_dir/store.lmdb.  @legacy is the replica id that
 * crdtd 0.1 kept in data_dir/replica_id (NULL when there is none): its
 * journal records replay under it.  -errno, with a message naming the file
 * and what to do in @err, when it cannot be opened, is not an LMDB file, or
 * holds another format version. */
int journal_open(uv_loop_t *loop, const char *data_dir, const struct crdt_rid *legacy,
		 enum config_durability mode, unsigned batch_ms, size_t map_size,
		 struct journal **ret, char *err, size_t errlen);
/** The key libcrdt's element tables are to hash under (crdt/hash.h), kept
 * in the store (a random one drawn at its creation): set it with
 * crdt_set_hash_key() before journal_load(), and a restart loads each set
 * in the order its snapshot was written. */
const struct crdt_hash_key *journal_hash_key(const struct journal *st);
/** Fill the empty store @s with what is stored, and start journaling its
 * changes: it subscribes to the store's change stream (store_changed), local
 * writes and remote merges alike.  A record that fails its
 * checksum or does not decode stops the load with a message in @err: never a
 * silent partial start. */
int journal_load(struct journal *st, struct store *s, char *err, size_t errlen);
/** Hand over what is pending, wait for the writer thread to store (and
 * sync) everything, report it, join the thread and close.  Accepts NULL. */
void journal_close(struct journal *st);

/** Folds of large states under way (a slice a pass; docs/storage.md). */
size_t journal_folding(const struct journal *st);
/** Journal a local write to slot @t of @e (what the change stream does for
 * one; exposed for the tests): @op with the given elements, or
 * for JOURNAL_OP_STATE the state to merge on replay.  Errors are counted
 * and logged; they fail the pass's batch, which the report says. */
void journal_log(struct journal *st, struct store_entry *e, enum crdt_type t,
		 enum journal_op op, const struct crdt_obj *state, size_t n,
		 const uint8_t *const *elems, const size_t *lens);
/** Journal this replica's own entry of a counter slot (a delta that merges
 * to the counter's new value). */
void journal_log_counter(struct journal *st, struct store_entry *e, enum crdt_type t);

/** Records are not yet stored: in this pass's batch, or handed over and
 * not yet reported. */
bool journal_pending(const struct journal *st);
/** Local writes journaled since the start: a client whose commands moved
 * it wrote, and its replies wait for the report of journal_batch_gen. */
uint64_t journal_local_writes(const struct journal *st);
/** The generation of this loop pass's batch (from 1, growing). */
uint64_t journal_batch_gen(const struct journal *st);
/** Called on the loop thread for each batch, in generation order: @rc 0
 * when it is stored (and, with always, synced if it holds a local write),
 * or -errno when it is not (its writers' replies must then not be sent).
 * Generations without records are skipped. */
typedef void (*journal_report_fn)(void *ctx, uint64_t gen, int rc);
void journal_set_report(struct journal *st, journal_report_fn fn, void *ctx);
/** Tests: jwriter_set_commit_hook of the writer thread. */
void journal_set_commit_hook(struct journal *st, void (*fn)(void *ctx), void *ctx);
/** End the loop pass: hand its batch to the writer thread.  0, or -ENOMEM
 * when the pass's records could not be kept (reported as failed). */
int journal_commit(struct journal *st);
/** journal_commit, then wait until everything handed over is stored and
 * reported (tests, shutdown).  0, or the first -errno reported meanwhile. */
int journal_flush(struct journal *st);
void journal_get_stats(const struct journal *st, struct journal_stats *ret);
/** Bytes of the store file. */
uint64_t journal_file_bytes(const struct journal *st);
/** The bytes @in's records take in the journal (its snapshot and the log
 * since), as counted to decide when to compact; 0 with @st NULL. */
uint64_t journal_inst_bytes(const struct journal *st, const struct store_inst *in);
const char *journal_path(const struct journal *st);

/** Decode one stored journal value (checksum included) and apply it to
 * @slot, which has type @t: the loader's per-record step, exposed for the
 * fuzzer.  @legacy as for journal_open.  0, -EBADMSG (checksum, framing), -EPROTO (state does not decode),
 * -ETYPE, -ENOMEM. */
int journal_apply_record(const uint8_t *val, size_t len, const struct crdt_rid *legacy,
			 struct crdt_obj *slot);

#endif
