/* The journal: every change to the store recorded in LMDB, snapshots folded
 * in as it grows, and the load at start-up (state/journal.h,
 * docs/storage.md). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "be.h"
#include "crdt/error.h"
#include "log.h"
#include "state/journal.h"
#include "state/jwriter.h"
#include "state/wal.h"

/* Format 2 added the record kind JOURNAL_OP_STATES, format 3
 * JOURNAL_OP_CLEAR, format 4 JOURNAL_OP_ORSET_ADD_DOT; an older store is
 * read as it is and marked 4 at open, as it may get such records. */
#define FORMAT_VERSION 4
/* An instance's journal is folded into a snapshot once it outweighs the
 * last snapshot and this floor: snapshot cost stays O(1) per write.  The
 * floor only spaces out the snapshots of tiny states (every record is
 * deleted once either way); it is also what each small instance may keep
 * in the file (and, until release_map, in the process's RSS): 64 KiB made
 * that 64 MB for 1,000 counters. */
#define COMPACT_MIN_BYTES (4u * 1024)
/* A set or hash that grew since its snapshot is weighed at its size now,
 * estimated from a record of at least COMPACT_PIECE_MIN members or fields (a piece of a
 * catch-up or of a full-state round: its bytes per element are the
 * state's), with a margin of 2 for pieces that pack fewer elements than
 * the average, and at most COMPACT_GROWTH_MAX times the snapshot.  Weighed
 * against the last snapshot alone, a set filled by news (each piece
 * elements it lacked: a journal as large as what it gained) was encoded
 * whole at every doubling: 12 snapshots, 16 MB encoded on the loop for a
 * 1,000,000-element catch-up (docs/benchmarks.md); now the next record
 * that is not a piece folds it, once.  The journal stays within twice the
 * state it describes, so a snapshot is still O(1) per byte journaled. */
#define COMPACT_PIECE_MIN 16
#define COMPACT_GROWTH_MAX 64u
#define FP_LEN 8
/* The map's pages are handed back (release_map) once no LMDB commit came
 * for RELEASE_MS, or two batch_ms if longer, and at least every
 * RELEASE_MAX_MS while commits go on: each release makes the next commits
 * fault in again every page they write, and under a write storm a release
 * every second still cost 12 % of the writer's CPU in page faults (every
 * 100 ms: 13 %; every 10 s: ~1 %).  A release RELEASE_MS after each commit
 * came between two commits batch_ms (100) apart: a SET storm over 1,000,000
 * keys under none cost the journal thread 2.4-2.8 times the CPU.  At rest the
 * pages leave the RSS soon after the last commit, as before. */
#define RELEASE_MS 100
#define RELEASE_MAX_MS 10000
/* A pass's batch that holds only state merged from peers (no client waits
 * for it) is kept open for the next passes, up to HOLD_MS after its first
 * record or HOLD_BYTES: one LMDB transaction then carries the merges of
 * several passes, and LMDB copies each page it touches once a transaction,
 * so random keys (a write storm) cost fewer page copies a record, and
 * fewer commits.  The state is in memory meanwhile, as while a batch waits
 * for the writer thread; a crash loses what a peer's restart resends
 * anyway (docs/storage.md). */
#define HOLD_MS 20
/* A counter whose last snapshot is at most this size is stored as its
 * snapshot at every change, as a register always is (journal()). */
#define IN_PLACE_MAX 256
#define HOLD_BYTES ((size_t)256 << 10)
/* States merged from peers into one slot, one after the other in a batch
 * (a catch-up's pieces), go into one JOURNAL_OP_STATES record of up to this
 * many bytes: one LMDB put and one key for a few dozen pieces, and LMDB's
 * overflow pages filled, where a record a piece (1.3 KB) filled two thirds
 * of a leaf page. */
#define STATES_MAX_BYTES ((size_t)32 << 10)
/* A set or hash of at least FOLD_MIN_PARTS members or fields is folded a
 * slice a loop pass (fold_some): its state cut into pieces of
 * FOLD_PIECE_BYTES (crdt_obj_pieces: the state may change between two
 * cuts), one a pass (about 0.5 ms of cutting at 1,000,000 members; the
 * folds under way take turns), each a STATES record; once
 * the last is written, the slot's records from before the fold and its old
 * snapshot go.  Encoding a 1,000,000-member set whole held the loop
 * 120-170 ms, and one of 7,000-51,000 members 0.2-5.6 ms (the bound was
 * 65,536); below 4,096 a fold whole takes well under a millisecond.  At
 * most FOLD_MAX folds are under way; past that, a fold is whole, as a
 * smaller state's is. */
#define FOLD_MIN_PARTS 4096
#define FOLD_PIECE_BYTES ((size_t)32 << 10)
#define FOLD_MAX 4
#define FOLD_EVERY_MS 1 /* a fold under way goes on this often while idle */

struct fold {
	struct store_entry *e;
	enum crdt_type t;
	uint64_t sid;
	uint64_t start_seq;     /* the slot's records before this go at the end */
	uint32_t log_at_start;  /* the slot's log_bytes then */
	uint64_t bytes;         /* of the pieces written */
	struct crdt_cursor cur;
};

struct sid_slot {
	uint64_t sid;
	struct store_entry *e;
	enum crdt_type t;
	bool fresh; /* the load merged nothing into it yet: the empty state */
};

struct journal {
	MDB_env *env;
	MDB_dbi meta, inst, snap, jlog;
	struct jwriter *w;          /* LMDB's writes, from journal_load on */
	struct jwriter_batch *cur;  /* this loop pass's writes, or NULL */
	bool pass_lost;             /* this pass wrote, and had no batch (memory) */
	uint64_t pass_gen;          /* the generation this pass's batch gets */
	uint64_t local_writes;      /* local writes journaled since the start */
	journal_report_fn report;   /* batches done, for the held replies */
	void *report_ctx;
	int flush_rc;               /* first failure journal_flush saw */
	enum config_durability mode;
	struct crdt_rid legacy; /* data_dir/replica_id of crdtd 0.1 */
	struct crdt_hash_key hash_key; /* meta "hash_key": journal_hash_key() */
	bool has_legacy;
	uint64_t next_sid, next_seq;
	struct crdt_buf buf;
	struct crdt_buf namebuf; /* a slot's name record, while buf holds its first record */
	/* the JOURNAL_OP_STATES record that may still grow: the last op of
	 * cur, at offset open_at of its ops, of slot open_sid; its checksum
	 * is written when it closes (close_open) */
	bool open;
	uint64_t open_sid;
	size_t open_at;
	char path[PATH_MAX];
	char wal_path[PATH_MAX]; /* data_dir/store.wal */
	struct wal *wal;         /* from journal_load on */
	uint64_t wal_seq;        /* the last log record LMDB holds */
	uv_timer_t timer; /* batch syncs */
	unsigned batch_ms;
	uv_timer_t release; /* one-shot, RELEASE_MS after a commit: the map release */
	bool release_on;
	uv_timer_t hold;    /* one-shot: the end of a held batch (HOLD_MS), or a fold's next slice */
	bool hold_on;
	struct fold folds[FOLD_MAX]; /* folds under way (fold_some) */
	size_t nfolds;
	size_t fold_turn; /* the fold whose slice the next pass cuts (mod nfolds) */
	uint64_t release_first; /* uv_now of the first commit it waits out */
	int open_timers;    /* of timer, release and hold, until journal_close's closes */
	uint8_t *map;       /* LMDB's map of the file (NULL: not found), */
	size_t map_len;     /* and its length */
	struct store *store;   /* set once loaded: changes are followed from then */
	struct store_room room; /* its share of the room beside each instance */
	struct journal_stats st;
};

/* The journal's fields beside each instance (store_sub.inst_room): its id
 * in the durable store (0 = not stored yet), the journal bytes since its
 * last snapshot and the snapshot's size (both saturate at UINT32_MAX; they
 * only decide when to compact). */
struct jinst {
	uint64_t sid;
	uint32_t log_bytes, snap_bytes;
};

static struct jinst *jin(const struct journal *st, const struct store_inst *in)
{
	return store_inst_room(in, st->room.inst);
}

/* LMDB errors are positive codes or errno values; ours are -errno. */
static int lmdb_err(int rc)
{
	return jwriter_errno(rc);
}

/* ---- the journal value: fingerprint, then payload ---------------------- */

/* Start a value in st->buf: room for the fingerprint. */
static void value_begin(struct journal *st)
{
	static const uint8_t zero[FP_LEN];
	crdt_buf_reset(&st->buf);
	crdt_buf_put(&st->buf, zero, FP_LEN);
}

static int value_end(struct journal *st)
{
	if (st->buf.err)
		return st->buf.err;
	put_be64(st->buf.data, store_fingerprint(st->buf.data + FP_LEN, st->buf.len - FP_LEN));
	return 0;
}

/* Check a stored value's fingerprint; its payload into *ret. */
static int value_open(const uint8_t *val, size_t len, const uint8_t **ret, size_t *ret_len)
{
	if (len < FP_LEN || get_be64(val) != store_fingerprint(val + FP_LEN, len - FP_LEN))
		return CRDT_EBADMSG;
	*ret = val + FP_LEN;
	*ret_len = len - FP_LEN;
	return 0;
}

/* Merge the decoded state @o into @slot (a state of another type:
 * CRDT_ETYPE) and free it.  A @slot still *@fresh (the empty state the
 * load moved into an instance of its own, nothing merged into it yet)
 * takes @o as it is: a merge into nothing copied every element and field,
 * 40 % of a load of 300,000 small hashes.  (A register the store keeps in
 * the entry's own allocation was copied there, not moved: never fresh.)
 * @fresh NULL: merged always. */
static int merge_decoded(struct crdt_obj *slot, struct crdt_obj *o, bool *fresh)
{
	int r = 0;

	if (fresh && *fresh && o->type == slot->type) {
		crdt_obj_done(slot);
		*slot = *o;
	} else {
		r = crdt_obj_merge(slot, o);
		crdt_obj_done(o);
	}
	if (fresh)
		*fresh = false;
	return r;
}

/* Decode the state @p[0..n) and merge it into @slot (merge_decoded). */
static int merge_encoded(struct crdt_obj *slot, const uint8_t *p, size_t n, bool *fresh)
{
	struct crdt_obj o;
	int r;

	if ((r = crdt_obj_decode(p, n, &o)) < 0)
		return r == CRDT_ENOMEM ? r : CRDT_EPROTO;
	return merge_decoded(slot, &o, fresh);
}

/* journal_apply_record, with @fresh as for merge_encoded (NULL: merged
 * always); any record that changes @slot makes it not fresh. */
static int apply_record(const uint8_t *val, size_t len, const struct crdt_rid *legacy,
			struct crdt_obj *slot, bool *fresh)
{
	struct crdt_rid as;
	const uint8_t *p, *e;
	size_t n, count, elen;
	uint64_t ctr = 0;
	struct crdt_cur c;
	uint8_t op;
	int r;

	if ((r = value_open(val, len, &p, &n)) < 0)
		return r;
	crdt_cur_init(&c, p, n);
	if (crdt_cur_u8(&c, &op) < 0)
		return CRDT_EBADMSG;
	if (op == JOURNAL_OP_STATE)
		return merge_encoded(slot, c.p, c.left, fresh);
	if (fresh && op != JOURNAL_OP_STATES)
		*fresh = false; /* what follows changes the slot, or fails the load */
	if (op == JOURNAL_OP_CLEAR) {
		if (slot->type != CRDT_ORSET && slot->type != CRDT_ORMAP)
			return CRDT_ETYPE;
		if (c.left)
			return CRDT_EBADMSG;
		return (r = crdt_obj_clear(slot)) < 0 ? r : 0;
	}
	if (op == JOURNAL_OP_STATES) {
		/* the framing of every state first: at least one, and no byte
		 * past the last */
		struct crdt_cur check = c;
		if (!check.left)
			return CRDT_EBADMSG;
		while (check.left)
			if (crdt_cur_bytes(&check, &e, &elen) < 0)
				return CRDT_EBADMSG;
		while (c.left) {
			crdt_cur_bytes(&c, &e, &elen);
			if ((r = merge_encoded(slot, e, elen, fresh)) < 0)
				return r;
		}
		return 0;
	}
	if ((op == JOURNAL_OP_GSET_ADD && slot->type != CRDT_GSET) ||
	    ((op == JOURNAL_OP_ORSET_ADD || op == JOURNAL_OP_ORSET_REM ||
	      op == JOURNAL_OP_ORSET_ADD_AS || op == JOURNAL_OP_ORSET_ADD_DOT) &&
	     slot->type != CRDT_ORSET))
		return CRDT_ETYPE;
	if ((op < JOURNAL_OP_ORSET_ADD || op > JOURNAL_OP_ORSET_ADD_AS) &&
	    op != JOURNAL_OP_ORSET_ADD_DOT)
		return CRDT_EBADMSG;
	if (op == JOURNAL_OP_ORSET_ADD) {
		if (!legacy)
			return CRDT_EBADMSG; /* no id to replay it as */
		as = *legacy;
	} else if (op == JOURNAL_OP_ORSET_ADD_AS || op == JOURNAL_OP_ORSET_ADD_DOT) {
		const uint8_t *id;
		if (crdt_cur_take(&c, CRDT_RID_LEN, &id) < 0)
			return CRDT_EBADMSG;
		memcpy(as.b, id, CRDT_RID_LEN);
		if (op == JOURNAL_OP_ORSET_ADD_AS)
			op = JOURNAL_OP_ORSET_ADD;
	}
	/* kind 8: the first add's counter, the others' the ones after it */
	if (op == JOURNAL_OP_ORSET_ADD_DOT && (crdt_cur_varint(&c, &ctr) < 0 || ctr == 0))
		return CRDT_EBADMSG;
	if (crdt_cur_count(&c, 1, &count) < 0)
		return CRDT_EBADMSG;
	if (op == JOURNAL_OP_ORSET_ADD_DOT && count > UINT64_MAX - ctr)
		return CRDT_EBADMSG;
	/* validate the whole record before changing anything */
	struct crdt_cur check = c;
	for (size_t i = 0; i < count; i++)
		if (crdt_cur_bytes(&check, &e, &elen) < 0)
			return CRDT_EBADMSG;
	if (check.left)
		return CRDT_EBADMSG;
	for (size_t i = 0; i < count; i++) {
		crdt_cur_bytes(&c, &e, &elen);
		if (op == JOURNAL_OP_GSET_ADD)
			r = crdt_gset_add(slot->gs, e, elen);
		else if (op == JOURNAL_OP_ORSET_ADD)
			r = crdt_orset_add(slot->os, &as, e, elen);
		else if (op == JOURNAL_OP_ORSET_ADD_DOT)
			r = crdt_orset_add_at(slot->os, &as, ctr + i, e, elen);
		else
			r = crdt_orset_remove(slot->os, e, elen);
		if (r < 0)
			return r;
	}
	return 0;
}

int journal_apply_record(const uint8_t *val, size_t len, const struct crdt_rid *legacy,
			 struct crdt_obj *slot)
{
	return apply_record(val, len, legacy, slot, NULL);
}

/* ---- writing: records into this pass's batch ---------------------------- */

/* An encoding failed: the batch fails, and with it the replies that wait
 * for it. */
static void fail(struct journal *st, int r, const char *what)
{
	st->st.errors++;
	if (st->cur && !st->cur->rc)
		st->cur->rc = r;
	log_error("storage", "%s: %s: %s", st->path, what, strerror(-r));
}

/* This pass's batch, made on its first record. */
static bool batch_open(struct journal *st)
{
	if (st->cur)
		return !st->cur->rc;
	if (!(st->cur = jwriter_batch_get(st->w))) {
		if (!st->pass_lost)
			fail(st, -ENOMEM, "a batch of writes");
		st->pass_lost = true;
		return false;
	}
	return true;
}

/* The growing STATES record is done: its checksum, over what it holds. */
static void close_open(struct journal *st)
{
	uint8_t *v;
	size_t len;

	if (!st->open)
		return;
	st->open = false;
	v = jwriter_put_value(st->cur, st->open_at, &len);
	put_be64(v, store_fingerprint(v + FP_LEN, len - FP_LEN));
}

static int put(struct journal *st, enum jwriter_table t, const void *k, size_t klen,
	       const void *v, size_t vlen, const char *what)
{
	int r;

	close_open(st); /* it stays the last op it is while it grows */
	r = jwriter_put(st->cur, t, k, klen, v, vlen);

	if (r < 0)
		fail(st, r, what);
	return r;
}

/* The slot's id in the store, made (with its name record) on first use. */
static uint64_t slot_sid(struct journal *st, struct store_entry *e, enum crdt_type t)
{
	uint8_t key[8];

	struct crdt_buf *b = &st->namebuf;

	struct store_inst *in = store_entry_inst(e, t);
	int r;

	if (!in)
		return 0; /* not reached: callers log a type the name holds */
	if (jin(st, in)->sid)
		return jin(st, in)->sid;
	crdt_buf_reset(b);
	crdt_buf_put(b, (uint8_t[FP_LEN]){ 0 }, FP_LEN);
	crdt_buf_put_u8(b, (uint8_t)t);
	crdt_buf_put(b, e->name, e->name_len);
	if (b->err) {
		fail(st, b->err, "encoding a name record");
		return 0;
	}
	put_be64(b->data, store_fingerprint(b->data + FP_LEN, b->len - FP_LEN));
	put_be64(key, st->next_sid);
	if ((r = jwriter_put_name(st->cur, key, 8, b->data, b->len)) < 0) {
		fail(st, r, "name record");
		return 0;
	}
	jin(st, in)->sid = st->next_sid++;
	return jin(st, in)->sid;
}

/* Fold the slot's journal into a snapshot and drop the journal.  0, or
 * -errno when the snapshot could not be encoded (nothing is put; the
 * caller says whether that fails the batch) or not be put (it fails).
 * @enc[0..enc_len), when not NULL, is an encoding of the slot's state as
 * it is (the state a peer sent, which it took whole): no encoding again. */
static int compact_enc(struct journal *st, struct store_entry *e, enum crdt_type t,
		       uint64_t sid, const uint8_t *enc, size_t enc_len)
{
	uint8_t key[8];
	int r;

	value_begin(st);
	struct store_inst *in = store_entry_inst(e, t);

	if (enc)
		crdt_buf_put(&st->buf, enc, enc_len);
	else
		crdt_obj_encode(&in->obj, &st->buf);
	if ((r = value_end(st)) < 0)
		return r;
	put_be64(key, sid);
	if ((r = put(st, JWRITER_SNAP, key, 8, st->buf.data, st->buf.len, "snapshot")) != 0)
		return r;
	/* every record of the slot so far: the snapshot holds them (none
	 * since the last snapshot: nothing to look for in the log) */
	close_open(st);
	if (jin(st, in)->log_bytes && (r = jwriter_drop_log(st->cur, sid, st->next_seq)) < 0) {
		fail(st, r, "dropping the journal");
		return r;
	}
	jin(st, in)->snap_bytes = st->buf.len < UINT32_MAX ? (uint32_t)st->buf.len : UINT32_MAX;
	jin(st, in)->log_bytes = 0;
	return 0;
}

static int compact(struct journal *st, struct store_entry *e, enum crdt_type t, uint64_t sid)
{
	return compact_enc(st, e, t, sid, NULL, 0);
}

/* *@n += @len, saturating: a count only compared with a floor. */
static void add_bytes(uint32_t *n, size_t len)
{
	*n = len < UINT32_MAX - *n ? *n + (uint32_t)len : UINT32_MAX;
}

/* The fold under way of slot @t of @e, NULL if none. */
static struct fold *folding(struct journal *st, const struct store_entry *e, enum crdt_type t)
{
	for (size_t i = 0; i < st->nfolds; i++)
		if (st->folds[i].e == e && st->folds[i].t == t)
			return &st->folds[i];
	return NULL;
}

/* Stop fold @f: the pieces it wrote stay, as records of the slot like any
 * other (they join to what the slot held when they were cut). */
static void fold_drop(struct journal *st, struct fold *f)
{
	struct store_inst *in = store_entry_inst(f->e, f->t);

	if (in)
		add_bytes(&jin(st, in)->log_bytes, f->bytes);
	*f = st->folds[--st->nfolds];
}

/* Fold the slot's journal into a snapshot: at once (compact) when the state
 * is small or cannot be cut in pieces, else a slice a pass from the next
 * commit on.  0 folded, 1 under way, or compact's -errno. */
static int fold(struct journal *st, struct store_entry *e, enum crdt_type t, uint64_t sid)
{
	struct store_inst *in = store_entry_inst(e, t);
	struct fold *f;

	if (folding(st, e, t))
		return 1;
	if (!crdt_obj_has_pieces(&in->obj) || crdt_obj_parts(&in->obj) < FOLD_MIN_PARTS ||
	    st->nfolds == FOLD_MAX)
		return compact(st, e, t, sid);
	f = &st->folds[st->nfolds++];
	*f = (struct fold){ .e = e, .t = t, .sid = sid, .start_seq = st->next_seq,
			    .log_at_start = jin(st, in)->log_bytes };
	return 1;
}

struct fold_cut {
	struct journal *st;
	struct fold *f;
};

/* One piece of a fold: a STATES record of one state. */
static int fold_piece(const uint8_t *piece, size_t len, void *ctx)
{
	struct journal *st = ((struct fold_cut *)ctx)->st;
	struct fold *f = ((struct fold_cut *)ctx)->f;
	uint8_t key[16];
	int r;

	value_begin(st);
	crdt_buf_put_u8(&st->buf, JOURNAL_OP_STATES);
	crdt_buf_put_bytes(&st->buf, piece, len);
	if ((r = value_end(st)) < 0)
		return r;
	put_be64(key, f->sid);
	put_be64(key + 8, st->next_seq++);
	if ((r = put(st, JWRITER_LOG, key, 16, st->buf.data, st->buf.len, "a fold's piece")) != 0)
		return r;
	st->st.records++;
	f->bytes += st->buf.len;
	return 0;
}

/* The last piece of @f is written: the slot's records from before the
 * fold and its old snapshot go; the pieces are its base from now on. */
static void fold_end(struct journal *st, struct fold *f)
{
	struct jinst *j = jin(st, store_entry_inst(f->e, f->t));
	uint8_t key[8];
	int r;

	put_be64(key, f->sid);
	close_open(st);
	if ((r = jwriter_drop_log(st->cur, f->sid, f->start_seq)) < 0 ||
	    (r = jwriter_del(st->cur, JWRITER_SNAP, key, 8)) < 0) {
		fail(st, r, "ending a fold");
		return;
	}
	j->snap_bytes = f->bytes < UINT32_MAX ? (uint32_t)f->bytes : UINT32_MAX;
	j->log_bytes = j->log_bytes > f->log_at_start ? j->log_bytes - f->log_at_start : 0;
	st->st.compactions++;
	st->st.compactions_sliced++;
	*f = st->folds[--st->nfolds];
}

/* A slice of one fold under way (in turn), into this pass's batch. */
static void fold_some(struct journal *st)
{
	struct fold *f;
	struct store_inst *in;
	struct fold_cut cut;
	int r;

	/* one fold a pass, in turn: a pass cuts one piece, however many
	 * large states fold at once */
	if (!st->nfolds || !batch_open(st))
		return;
	f = &st->folds[st->fold_turn++ % st->nfolds];
	in = store_entry_inst(f->e, f->t);
	cut = (struct fold_cut){ st, f };
	r = crdt_obj_pieces(&in->obj, &f->cur, FOLD_PIECE_BYTES, 1, fold_piece, &cut);
	if (r < 0 || (f->cur.done && f->cur.skipped)) {
		/* a piece not written, or a member too large for any: the
		 * slot keeps every record, and folds whole */
		uint64_t sid = f->sid;
		struct store_entry *e = f->e;
		enum crdt_type t = f->t;
		fold_drop(st, f);
		if (compact(st, e, t, sid) == 0)
			st->st.compactions++;
		return;
	}
	if (f->cur.done)
		fold_end(st, f);
}

/* The journal bytes past which @in is folded into a snapshot, after a
 * record of @len bytes that holds a state of @card members or fields
 * (crdt_obj_parts; 0: no state, or a small type's). */
static uint64_t compact_floor(const struct journal *st, const struct store_inst *in, size_t len,
			      size_t card)
{
	uint32_t snap = jin(st, in)->snap_bytes;
	uint64_t floor = snap > COMPACT_MIN_BYTES ? snap : COMPACT_MIN_BYTES;
	uint64_t est;

	if (card < COMPACT_PIECE_MIN)
		return floor;
	est = (uint64_t)crdt_obj_parts(&in->obj) * len / card * 2;
	if (est > floor * COMPACT_GROWTH_MAX)
		est = floor * COMPACT_GROWTH_MAX;
	return est > floor ? est : floor;
}

/* Append the value in st->buf, a record holding a state of @card members
 * or fields (as compact_floor's), to the slot's journal. */
static void append(struct journal *st, struct store_entry *e, enum crdt_type t, size_t card)
{
	struct store_inst *in;
	uint8_t key[16];
	uint64_t sid;
	size_t len;

	if (value_end(st) < 0) {
		fail(st, -ENOMEM, "encoding a record");
		return;
	}
	len = st->buf.len;
	if (!(sid = slot_sid(st, e, t)))
		return;
	put_be64(key, sid);
	put_be64(key + 8, st->next_seq++);
	if (put(st, JWRITER_LOG, key, 16, st->buf.data, len, "journal record") != 0)
		return;
	st->st.records++;
	in = store_entry_inst(e, t);
	add_bytes(&jin(st, in)->log_bytes, len);
	/* a snapshot that cannot be encoded now is tried at the next record */
	if (jin(st, in)->log_bytes > compact_floor(st, in, len, card) && fold(st, e, t, sid) == 0)
		st->st.compactions++;
}

/* Whether a change of slot @t of @e is stored as the slot's snapshot, in
 * place of the last one, rather than as a journal record.  A register's
 * record would be its whole state (the new value, or the one merged in); a
 * counter's whole state is its entries, one per replica id that wrote it,
 * which stay few (IN_PLACE_MAX) unless the counter outlives many starts.  A
 * record would add a key to the log at a random place per write and stay
 * there until 4 KiB of them (70 to 100 writes) made a snapshot; the
 * snapshot is one value per slot, overwritten (docs/storage.md, "Cost per
 * write"). */
static bool in_place(const struct journal *st, struct store_entry *e, enum crdt_type t)
{
	const struct store_inst *in;

	if (t == CRDT_LWWREG)
		return true;
	if (t != CRDT_GCOUNTER && t != CRDT_PNCOUNTER)
		return false;
	in = store_entry_inst(e, t);
	return in && jin(st, in)->snap_bytes <= IN_PLACE_MAX;
}

/* A change of a slot stored in place (in_place): its new snapshot. */
static void snapshot(struct journal *st, struct store_entry *e, enum crdt_type t,
		     const uint8_t *enc, size_t enc_len)
{
	uint64_t sid = slot_sid(st, e, t);
	int r;

	if (!sid)
		return;
	if ((r = compact_enc(st, e, t, sid, enc, enc_len)) == 0)
		st->st.records++;
	else if (!st->cur->rc) /* a put that failed said so */
		fail(st, r, "encoding a snapshot");
}

static void journal(struct journal *st, struct store_entry *e, enum crdt_type t,
		    enum journal_op op, const struct crdt_obj *state, size_t n,
		    const uint8_t *const *elems, const size_t *lens)
{
	size_t card = 0;

	if (!st || !st->w || !batch_open(st))
		return;
	if (in_place(st, e, t)) {
		snapshot(st, e, t, NULL, 0);
		return;
	}
	value_begin(st);
	crdt_buf_put_u8(&st->buf, (uint8_t)(op == JOURNAL_OP_ORSET_ADD ? JOURNAL_OP_ORSET_ADD_DOT : op));
	if (op == JOURNAL_OP_STATE) {
		crdt_obj_encode(state, &st->buf);
		card = crdt_obj_parts(state);
	} else if (op == JOURNAL_OP_CLEAR) {
		/* its replay is the same clear, of the same state: a DEL of a
		 * large hash of counters left as many baselines as fields,
		 * and its record held them all (40 ms of the DEL's pass at
		 * 200,000).  A fold under way need not stop: its pieces cut
		 * before the record hold less than the state had, the clear
		 * of those leaves less, and the pieces cut after it, of the
		 * cleared state, bring the rest (docs/storage.md). */
	} else {
		/* the dots the adds were made under: this start's id (it
		 * changes at every start) and the counters it took, one an
		 * element, the last the set's highest now.  Replayed under
		 * them, not as "one past the highest", an add needs nothing
		 * merged before it: a fold's pieces cut after it may hold
		 * dots before its own (crdt_orset_add_at). */
		if (op == JOURNAL_OP_ORSET_ADD) {
			const struct crdt_obj *o = store_entry_slot(e, t);
			uint64_t last = o ? crdt_orset_context_max(o->os, &st->store->self) : 0;
			if (last < n) {
				fail(st, -EINVAL, "an add's record: its dots are not the set's");
				return;
			}
			crdt_buf_put(&st->buf, st->store->self.b, CRDT_RID_LEN);
			crdt_buf_put_varint(&st->buf, n ? last - n + 1 : 1);
		}
		crdt_buf_put_varint(&st->buf, n);
		for (size_t i = 0; i < n; i++)
			crdt_buf_put_bytes(&st->buf, elems[i], lens[i]);
	}
	append(st, e, t, card);
}

/* A state merged from a peer, @enc[0..enc_len) its encoding (NULL: encoded
 * here), journaled as one more state of the slot's growing STATES record
 * when that is the batch's last op, else as a new one. */
static void journal_remote(struct journal *st, struct store_entry *e, enum crdt_type t,
			   const struct crdt_obj *state, const uint8_t *enc, size_t enc_len)
{
	struct store_inst *in;
	uint8_t head[FP_LEN + 1 + 10], key[16];
	size_t hl, vlen;
	uint64_t sid;
	int r;

	if (!st || !st->w || !batch_open(st))
		return;
	if (in_place(st, e, t)) {
		/* its snapshot, as a local write's; a slot that took the state
		 * that came whole is that state, whose encoding is here (a
		 * register's encoding was 6 % of a peer's CPU in a SET storm) */
		in = store_entry_inst(e, t);
		if (!enc || !in || !crdt_obj_equal(&in->obj, state))
			enc = NULL;
		snapshot(st, e, t, enc, enc_len);
		return;
	}
	if (!enc) {
		crdt_buf_reset(&st->buf);
		crdt_obj_encode(state, &st->buf);
		if (st->buf.err) {
			fail(st, st->buf.err, "encoding a record");
			return;
		}
		enc = st->buf.data;
		enc_len = st->buf.len;
	}
	if (!(sid = slot_sid(st, e, t)))
		return;
	/* the state's framing, after the value's checksum and kind: its
	 * length as a varint */
	hl = FP_LEN + 1 + crdt_varint_write(head + FP_LEN + 1, enc_len);
	if (st->open && st->open_sid == sid) {
		jwriter_put_value(st->cur, st->open_at, &vlen);
		if (vlen + hl + enc_len > STATES_MAX_BYTES)
			close_open(st);
	}
	if (st->open && st->open_sid == sid) {
		r = jwriter_put_more(st->cur, st->open_at, head + FP_LEN + 1, hl - FP_LEN - 1);
		if (r == 0)
			r = jwriter_put_more(st->cur, st->open_at, enc, enc_len);
		if (r < 0) {
			st->open = false; /* the batch failed with it */
			fail(st, r, "journal record");
			return;
		}
		vlen = hl - FP_LEN - 1 + enc_len;
	} else {
		size_t at = st->cur->ops.len;
		memset(head, 0, FP_LEN);
		head[FP_LEN] = JOURNAL_OP_STATES;
		put_be64(key, sid);
		put_be64(key + 8, st->next_seq++);
		/* put() closes the record before it */
		if (put(st, JWRITER_LOG, key, 16, head, hl, "journal record") != 0)
			return;
		if ((r = jwriter_put_more(st->cur, at, enc, enc_len)) < 0) {
			fail(st, r, "journal record");
			return;
		}
		st->open = true;
		st->open_sid = sid;
		st->open_at = at;
		st->st.records++;
		vlen = hl + enc_len;
	}
	in = store_entry_inst(e, t);
	add_bytes(&jin(st, in)->log_bytes, vlen);
	/* a snapshot that cannot be encoded now is tried at the next record */
	if (jin(st, in)->log_bytes > compact_floor(st, in, vlen, crdt_obj_parts(state)) &&
	    fold(st, e, t, sid) == 0)
		st->st.compactions++;
}

void journal_log(struct journal *st, struct store_entry *e, enum crdt_type t,
		 enum journal_op op, const struct crdt_obj *state, size_t n,
		 const uint8_t *const *elems, const size_t *lens)
{
	if (!st || !st->w)
		return;
	/* counted even when it fails: the writer's reply waits, and fails */
	st->local_writes++;
	journal(st, e, t, op, state, n, elems, lens);
	if (st->cur)
		st->cur->local = true;
}

void journal_log_counter(struct journal *st, struct store_entry *e, enum crdt_type t)
{
	struct crdt_obj delta;
	const struct crdt_obj *o = store_entry_slot(e, t);
	const struct crdt_rid *self;
	uint64_t v;

	if (!st || !st->store || !o || crdt_obj_new(t, &delta) < 0)
		return;
	self = &st->store->self;
	/* only this replica's entries change on a local write: they alone
	 * merge to the new value */
	if (t == CRDT_GCOUNTER) {
		if ((v = crdt_vv_get(&o->gc->vv, self)))
			crdt_vv_raise(&delta.gc->vv, self, v);
	} else {
		if ((v = crdt_vv_get(&o->pn->p, self)))
			crdt_vv_raise(&delta.pn->p, self, v);
		if ((v = crdt_vv_get(&o->pn->n, self)))
			crdt_vv_raise(&delta.pn->n, self, v);
	}
	journal_log(st, e, t, JOURNAL_OP_STATE, &delta, 0, NULL, NULL);
	crdt_obj_done(&delta);
}

/* A local write's op is the record kind of the same number. */
_Static_assert((int)STORE_OP_STATE == JOURNAL_OP_STATE &&
		       (int)STORE_OP_ORSET_ADD == JOURNAL_OP_ORSET_ADD &&
		       (int)STORE_OP_ORSET_REM == JOURNAL_OP_ORSET_REM &&
		       (int)STORE_OP_GSET_ADD == JOURNAL_OP_GSET_ADD &&
		       (int)STORE_OP_CLEAR == JOURNAL_OP_CLEAR,
	       "store_op and journal_op differ");

/* The store's change stream: every change, local or remote, is journaled. */
static void changed(void *ctx, struct store_entry *e, enum crdt_type t,
		    const struct store_change *c)
{
	struct journal *st = ctx;

	if (!st->store) /* loading: what is loaded is stored */
		return;
	if (c->remote) {
		/* State from peers is stored "at least with batch timing": it
		 * needs no sync of its own, and no client reply waits for it. */
		journal_remote(st, e, t, c->state, c->enc, c->enc_len);
		return;
	}
	/* a counter's increment changes only our own entries; a state given
	 * with it (a delete's baselines) is journaled whole; a small counter
	 * is stored whole anyway (in_place) */
	if (c->op == STORE_OP_STATE && !c->state && (t == CRDT_GCOUNTER || t == CRDT_PNCOUNTER) &&
	    !in_place(st, e, t))
		journal_log_counter(st, e, t);
	else if (c->op == STORE_OP_CLEAR && t != CRDT_ORSET && t != CRDT_ORMAP)
		/* a register's or counter's clear is not a function of the
		 * state alone (a time, this start's id): stored as its result */
		journal_log(st, e, t, JOURNAL_OP_STATE, c->state, 0, NULL, NULL);
	else
		journal_log(st, e, t, (enum journal_op)c->op, c->state, c->n, c->elems, c->lens);
}

/* The store reclaimed @e (store.h): delete every record of its instances,
 * their name records, snapshots and journals, in this pass's batch. */
static void removed(void *ctx, struct store_entry *e)
{
	struct journal *st = ctx;

	for (size_t i = 0; i < st->nfolds;)
		if (st->folds[i].e == e)
			fold_drop(st, &st->folds[i]);
		else
			i++;
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		struct store_inst *in = store_entry_inst(e, (enum crdt_type)t);
		uint8_t key[8];
		int r;

		if (!in || !jin(st, in)->sid || !st->w || !batch_open(st))
			continue;
		put_be64(key, jin(st, in)->sid);
		close_open(st);
		if ((r = jwriter_del(st->cur, JWRITER_INST, key, 8)) < 0 ||
		    (r = jwriter_del(st->cur, JWRITER_SNAP, key, 8)) < 0 ||
		    (r = jwriter_drop_log(st->cur, jin(st, in)->sid, UINT64_MAX)) < 0)
			fail(st, r, "deleting a reclaimed name's records");
	}
}

size_t journal_folding(const struct journal *st)
{
	return st ? st->nfolds : 0;
}

bool journal_pending(const struct journal *st)
{
	return st && (st->cur || st->pass_lost || jwriter_busy(st->w));
}

uint64_t journal_local_writes(const struct journal *st)
{
	return st ? st->local_writes : 0;
}

uint64_t journal_batch_gen(const struct journal *st)
{
	return st ? st->pass_gen : 0;
}

void journal_set_report(struct journal *st, journal_report_fn fn, void *ctx)
{
	st->report = fn;
	st->report_ctx = ctx;
}

void journal_set_commit_hook(struct journal *st, void (*fn)(void *ctx), void *ctx)
{
	if (st->w)
		jwriter_set_commit_hook(st->w, fn, ctx);
}

/* Unmap the store file's pages from this process: madvise(MADV_DONTNEED)
 * on LMDB's shared map of the file.  The pages stay in the page cache (a
 * page written through the map, under none, keeps its dirty bit and
 * reaches the disk as before; LMDB's next touch maps it again from there),
 * so nothing of the file is lost; they just stop counting in crdtd's RSS,
 * as the pages of a file written with write() never do.  Without it every
 * page the journal ever wrote or read stays mapped: ~110 B a small
 * register.  Here once after the load; then the
 * writer thread does it between its transactions (jwriter_release). */
static void release_map(struct journal *st)
{
	/* the whole map: pages past the last used one may be resident too
	 * (freed pages LMDB wrote before), and a walk of page tables with
	 * nothing in them costs next to nothing */
	if (!st->map)
		return;
	if (madvise(st->map, st->map_len, MADV_DONTNEED) == 0)
		st->st.map_releases++;
}

/* Where LMDB mapped the file: its mapping in /proc/self/maps, found by the
 * file's device and inode (LMDB does not say, unless the map is fixed). */
static void find_map(struct journal *st)
{
	struct stat sb;
	char line[512];
	FILE *f;
	int fd;

	if (mdb_env_get_fd(st->env, &fd) != 0 || fstat(fd, &sb) != 0 ||
	    !(f = fopen("/proc/self/maps", "re")))
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, ino;
		unsigned maj, min;
		if (sscanf(line, "%lx-%lx %*s %*s %x:%x %lu", &lo, &hi, &maj, &min, &ino) == 5 &&
		    ino == sb.st_ino && makedev(maj, min) == sb.st_dev && hi - lo > st->map_len) {
			st->map = (uint8_t *)lo;
			st->map_len = hi - lo;
		}
	}
	fclose(f);
}

static void release_cb(uv_timer_t *t)
{
	struct journal *st = t->data;

	st->release_on = false;
	if (st->w)
		jwriter_release(st->w);
}

/* The writer's counts since its last report, into the stats; LMDB taking
 * the log (re)arms the map release (which also cuts a long log file back:
 * after the last writes of a burst it comes once LMDB has taken them).  A
 * group alone writes no page of the map: LMDB takes the groups at its
 * commit (state/jwriter.h). */
static void writer_counts(void *ctx, const struct jwriter_counts *c)
{
	struct journal *st = ctx;
	uint64_t now = uv_now(st->release.loop);

	st->st.commits += c->commits;
	st->st.loop_commits += c->loop_commits;
	st->st.commit_overlaps += c->overlapped;
	st->st.syncs += c->syncs;
	st->st.errors += c->errors;
	st->st.map_releases += c->releases;
	if (c->last_sync_ms)
		st->st.last_sync_ms = c->last_sync_ms;
	if (c->has_wal)
		st->st.wal_bytes = c->wal_bytes;
	if (!c->taken)
		return;
	if (!st->release_on)
		st->release_first = now;
	if (now < st->release_first + RELEASE_MAX_MS - RELEASE_MS) {
		uv_timer_start(&st->release, release_cb,
			       2 * st->batch_ms > RELEASE_MS ? 2 * st->batch_ms : RELEASE_MS, 0);
		st->release_on = true;
	}
}

static void writer_batch_done(void *ctx, uint64_t gen, int rc)
{
	struct journal *st = ctx;

	if (rc < 0 && !st->flush_rc)
		st->flush_rc = rc;
	if (st->report)
		st->report(st->report_ctx, gen, rc);
}

static void hold_cb(uv_timer_t *t);

static void batch_cb(uv_timer_t *t);

/* Hand this pass's batch over; a batch of merges only, while small and
 * young, is held (HOLD_MS) unless @now. */
static int commit_batch(struct journal *st, bool now)
{
	struct jwriter_batch *b;

	if (!st || !st->w)
		return 0;
	if (st->pass_lost && !st->cur) {
		/* no batch to carry the failure: report it after the earlier
		 * ones, which then are all done */
		st->pass_lost = false;
		jwriter_flush(st->w);
		writer_batch_done(st, st->pass_gen++, -ENOMEM);
		return -ENOMEM;
	}
	if (!(b = st->cur))
		return 0;
	if (!now && !b->local && !b->rc && !st->pass_lost &&
	    b->ops.len + b->names.len < HOLD_BYTES) {
		if (!st->hold_on) {
			uv_timer_start(&st->hold, hold_cb, HOLD_MS, 0);
			st->hold_on = true;
		}
		return 0;
	}
	if (st->hold_on) {
		uv_timer_stop(&st->hold);
		st->hold_on = false;
	}
	if (st->pass_lost && !b->rc)
		b->rc = -ENOMEM; /* some of the pass's records are not in it */
	close_open(st);
	st->pass_lost = false;
	st->cur = NULL;
	b->gen = st->pass_gen++;
	jwriter_submit(st->w, b);
	if (!uv_is_active((uv_handle_t *)&st->timer))
		uv_timer_start(&st->timer, batch_cb, st->batch_ms, 0);
	return 0;
}

/* The pass's batch handed over (or held), with a slice of every fold under
 * way in it; a fold not finished goes on at the next pass, or after
 * FOLD_EVERY_MS if none comes. */
static int commit(struct journal *st, bool now)
{
	int r;

	if (!st || !st->w)
		return 0;
	fold_some(st);
	r = commit_batch(st, now);
	if (st->nfolds && !st->hold_on) {
		uv_timer_start(&st->hold, hold_cb, FOLD_EVERY_MS, 0);
		st->hold_on = true;
	}
	return r;
}

int journal_commit(struct journal *st)
{
	return commit(st, false);
}

static void hold_cb(uv_timer_t *t)
{
	struct journal *st = t->data;

	st->hold_on = false;
	commit(st, true);
}

int journal_flush(struct journal *st)
{
	int r;

	if (!st || !st->w)
		return 0;
	st->flush_rc = 0;
	commit(st, true);
	jwriter_flush(st->w);
	r = st->flush_rc;
	st->flush_rc = 0;
	return r;
}

/* batch_ms after a batch was handed over, and every batch_ms while batches
 * come (or a commit is under way or failed): the open transaction
 * committed.  An idle daemon has no timer running. */
static void batch_cb(uv_timer_t *t)
{
	struct journal *st = t->data;

	if (st->w && jwriter_sync(st->w))
		uv_timer_start(&st->timer, batch_cb, st->batch_ms, 0);
}

/* ---- opening and loading ------------------------------------------------ */

/* The store's hash key (meta "hash_key", 16 bytes), or a new random one
 * stored for a store that has none (new, or written before the key was
 * kept: its sets then load out of order once, each element looked up).
 * Kept so that a restart hashes as the snapshots were written, and a
 * decoder fills their tables front to back: a 1,000,000-member set in
 * 40 ms instead of 240 ms.  It is a secret like the data itself: whoever
 * can read store.lmdb can read every member anyway. */
static int get_hash_key(struct journal *st, MDB_txn *txn)
{
	MDB_val k = { 8, "hash_key" }, v;
	struct crdt_rid r;
	int rc = mdb_get(txn, st->meta, &k, &v);

	if (rc == 0 && v.mv_size == sizeof(st->hash_key)) {
		memcpy(&st->hash_key, v.mv_data, sizeof(st->hash_key));
		return 0;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	crdt_rid_generate(&r); /* 122 random bits */
	memcpy(&st->hash_key, r.b, sizeof(st->hash_key));
	v = (MDB_val){ sizeof(st->hash_key), &st->hash_key };
	return mdb_put(txn, st->meta, &k, &v, 0);
}

const struct crdt_hash_key *journal_hash_key(const struct journal *st)
{
	return &st->hash_key;
}

int journal_open(uv_loop_t *loop, const char *data_dir, const struct crdt_rid *legacy,
		 enum config_durability mode, unsigned batch_ms, size_t map_size,
		 struct journal **ret, char *err, size_t errlen)
{
	struct journal *st = calloc(1, sizeof(*st));
	unsigned flags = MDB_NOSUBDIR | MDB_NOTLS;
	MDB_txn *txn = NULL;
	MDB_val k = { 6, "format" }, v;
	uint32_t format = 0;
	uint8_t ver[4] = { 0, 0, 0, FORMAT_VERSION };
	int rc;

	if (!st)
		return -ENOMEM;
	st->mode = mode;
	if (legacy) {
		st->legacy = *legacy;
		st->has_legacy = true;
	}
	st->next_sid = st->next_seq = 1;
	st->pass_gen = 1;
	crdt_buf_init(&st->buf, 0);
	crdt_buf_init(&st->namebuf, 0);
	snprintf(st->path, sizeof(st->path), "%s/store.lmdb", data_dir);
	/* Without NOSYNC every commit syncs (pages, then the meta page): under
	 * always that is LMDB's commit of the write-ahead log every batch_ms,
	 * after which the log is emptied.  Under batch the batch timer's
	 * mdb_env_sync() does it, under none the OS.  Under none pages are
	 * written in place through the map (WRITEMAP; MAPASYNC leaves the
	 * flush to the OS), so a commit copies no page.  Under batch and
	 * always a commit write()s the pages it changed: the sync of a
	 * writable map (msync) makes every page clean, and each first write
	 * after it a page fault, which cost the journal thread 4-12 times the
	 * write() calls (docs/storage.md).  A commit is in the page cache
	 * either way: it survives kill -9. */
	if (mode == CONFIG_DURABILITY_NONE)
		flags |= MDB_WRITEMAP | MDB_NOSYNC | MDB_MAPASYNC;
	else if (mode == CONFIG_DURABILITY_BATCH)
		flags |= MDB_NOSYNC;
	if ((rc = mdb_env_create(&st->env)) != 0 || (rc = mdb_env_set_maxdbs(st->env, 4)) != 0 ||
	    (rc = mdb_env_set_mapsize(st->env, map_size)) != 0 ||
	    (rc = mdb_env_open(st->env, st->path, flags, 0600)) != 0) {
		snprintf(err, errlen,
			 "%s: cannot open the store: %s%s", st->path, mdb_strerror(rc),
			 rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH || rc == MDB_CORRUPTED
				 ? "; the file is damaged or not a crdtd store: restore data_dir from "
				   "a backup, or move store.lmdb away to start this replica empty and "
				   "let its peers refill it"
				 : "");
		goto fail;
	}
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &st->meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "inst", MDB_CREATE, &st->inst)) != 0 ||
	    (rc = mdb_dbi_open(txn, "snap", MDB_CREATE, &st->snap)) != 0 ||
	    (rc = mdb_dbi_open(txn, "log", MDB_CREATE, &st->jlog)) != 0) {
		snprintf(err, errlen, "%s: cannot open its tables: %s", st->path, mdb_strerror(rc));
		goto fail;
	}
	rc = mdb_get(txn, st->meta, &k, &v);
	if (rc == 0 && v.mv_size == 4) /* anything else is no format of ours: 0 */
		format = get_be32(v.mv_data);
	if (rc == MDB_NOTFOUND || (rc == 0 && format >= 1 && format < FORMAT_VERSION)) {
		/* new, or an older format: read as it is, and marked this one
		 * since it may get its records (STATES, CLEAR) from now on */
		v = (MDB_val){ sizeof(ver), ver };
		rc = mdb_put(txn, st->meta, &k, &v, 0);
	} else if (rc == 0 && format != FORMAT_VERSION) {
		snprintf(err, errlen,
			 "%s: store format %lu, this crdtd reads formats 1 to %u: run the crdtd that "
			 "wrote it, or move store.lmdb away to start this replica empty",
			 st->path, (unsigned long)format, FORMAT_VERSION);
		rc = -1;
		goto fail;
	}
	if (rc == 0)
		rc = get_hash_key(st, txn);
	if (rc != 0 || (rc = mdb_txn_commit(txn)) != 0) {
		txn = NULL;
		snprintf(err, errlen, "%s: %s", st->path, mdb_strerror(rc));
		goto fail;
	}
	txn = NULL;
	/* what a crash (kill -9 included, in any mode) left in the log */
	struct jwriter_recovery rec;
	MDB_dbi dbi[JWRITER_TABLES] = { [JWRITER_META] = st->meta, [JWRITER_INST] = st->inst,
					[JWRITER_SNAP] = st->snap, [JWRITER_LOG] = st->jlog };
	snprintf(st->wal_path, sizeof(st->wal_path), "%s/store.wal", data_dir);
	if ((rc = jwriter_recover(st->env, dbi, st->wal_path, &rec, err, errlen)) < 0)
		goto fail_recover;
	st->wal_seq = rec.seq;
	st->st.wal_applied = rec.records;
	/* only now: the recovery may have grown the map, which LMDB maps
	 * again elsewhere; a release of the old range would zero whatever
	 * the process has mapped there since */
	find_map(st);
	if (rec.map_now)
		log_warn("storage", "%s: its acknowledged writes needed more room than the store's "
			 "map had: the map grew from %llu to %llu bytes for them; raise [storage] "
			 "map_size", st->wal_path, (unsigned long long)rec.map_was,
			 (unsigned long long)rec.map_now);
	if (rec.records || rec.dropped)
		log_info("storage", "%s: applied %llu records (%llu bytes) to the store%s",
			 st->wal_path, (unsigned long long)rec.records,
			 (unsigned long long)rec.bytes,
			 rec.dropped ? "; its last bytes were no whole record (an append a crash "
				       "cut short, never acknowledged, or the rest of older records "
				       "written over)" : "");
	uv_timer_init(loop, &st->timer);
	st->timer.data = st;
	uv_timer_init(loop, &st->release);
	st->release.data = st;
	uv_timer_init(loop, &st->hold);
	st->hold.data = st;
	st->open_timers = 3;
	/* every batch_ms LMDB takes the write-ahead log in one commit (synced
	 * under batch and always; under always this also makes state merged
	 * from peers durable when no client's write synced the log): the
	 * timer runs from a batch handed over (commit_batch) to the first tick
	 * with nothing left to commit (batch_cb) */
	st->batch_ms = batch_ms;
	*ret = st;
	return 0;
fail_recover:
	mdb_env_close(st->env);
	crdt_buf_done(&st->buf);
	crdt_buf_done(&st->namebuf);
	free(st);
	return rc;
fail:
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(st->env);
	crdt_buf_done(&st->buf);
	crdt_buf_done(&st->namebuf);
	free(st);
	return rc > 0 ? lmdb_err(rc) : -EBADMSG;
}

static struct sid_slot *sid_find(struct sid_slot *v, size_t n, uint64_t sid)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v[mid].sid == sid)
			return &v[mid];
		if (v[mid].sid < sid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Describe a bad record for the start-up error. */
static void bad_record(struct journal *st, char *err, size_t errlen, const char *table,
		       const struct sid_slot *s, int r)
{
	snprintf(err, errlen,
		 "%s: a %s record of instance \"%.*s\" (%s) is corrupt (%s); restore data_dir "
		 "from a backup, or move store.lmdb away to start this replica empty and let "
		 "its peers refill it",
		 st->path, table, s ? (int)(s->e->name_len > 64 ? 64 : s->e->name_len) : 1,
		 s ? (const char *)s->e->name : "?", s ? crdt_type_name(s->t) : "unknown type",
		 r == CRDT_EBADMSG ? "checksum or framing" : crdt_strerror(r));
}

int journal_load(struct journal *st, struct store *s, char *err, size_t errlen)
{
	struct sid_slot *slots = NULL;
	size_t n = 0, cap = 0;
	MDB_txn *txn;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc, r = 0;

	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0) {
		snprintf(err, errlen, "%s: %s", st->path, mdb_strerror(rc));
		return lmdb_err(rc);
	}
	/* the share of the room beside each instance that the load fills;
	 * changes are followed once loaded (changed: st->store set) */
	if ((r = store_subscribe(s, &(struct store_sub){ .changed = changed, .ctx = st,
							 .removed = removed,
							 .inst_room = sizeof(struct jinst) },
				 &st->room)) < 0) {
		snprintf(err, errlen, "%s: cannot follow the store's changes", st->path);
		goto out;
	}
	/* names: one record per (name, type) slot, in id order; the table
	 * sized for them first (a name of two types counts twice).  The count
	 * is a hint read from the file: a table it cannot have leaves the
	 * table to grow as the names come, as before */
	MDB_stat ms;
	if ((rc = mdb_stat(txn, st->inst, &ms)) != 0)
		goto lmdb_fail;
	(void)store_reserve(s, ms.ms_entries);
	if ((rc = mdb_cursor_open(txn, st->inst, &cur)) != 0)
		goto lmdb_fail;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *p;
		size_t len;
		struct crdt_obj empty;
		struct store_entry *e;

		if (k.mv_size != 8 || value_open(v.mv_data, v.mv_size, &p, &len) < 0 || len < 1 ||
		    p[0] < CRDT_TYPE_MIN || p[0] > CRDT_TYPE_MAX) {
			bad_record(st, err, errlen, "name", NULL, CRDT_EBADMSG);
			r = -EBADMSG;
			goto out;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			struct sid_slot *t = realloc(slots, cap * sizeof(*t));
			if (!t) {
				r = -ENOMEM;
				snprintf(err, errlen, "%s: out of memory loading", st->path);
				goto out;
			}
			slots = t;
		}
		/* the empty state, moved into its new instance (not copied) */
		if ((r = crdt_obj_new((enum crdt_type)p[0], &empty)) < 0 ||
		    (r = store_merge_take(s, p + 1, len - 1, &empty, NULL, 0)) < 0) {
			crdt_obj_done(&empty);
			snprintf(err, errlen, "%s: out of memory loading", st->path);
			goto out;
		}
		/* moved (type 0 left): a new instance, empty, that owns its
		 * state.  Not moved: a register copied into the entry's own
		 * allocation, or a second record of the same name and type (no
		 * store of ours writes one), whose states are merged with the
		 * first's */
		bool moved = empty.type == 0;
		crdt_obj_done(&empty);
		e = store_find(s, p + 1, len - 1);
		slots[n] = (struct sid_slot){ .sid = get_be64(k.mv_data), .e = e,
					      .t = (enum crdt_type)p[0], .fresh = moved };
		jin(st, store_entry_inst(e, slots[n].t))->sid = slots[n].sid;
		if (slots[n].sid >= st->next_sid)
			st->next_sid = slots[n].sid + 1;
		n++;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	if (rc != MDB_NOTFOUND)
		goto lmdb_fail;

	/* snapshots, then the journal in order */
	MDB_dbi dbis[2] = { st->snap, st->jlog };
	for (int pass = 0; pass < 2; pass++) {
		if ((rc = mdb_cursor_open(txn, dbis[pass], &cur)) != 0)
			goto lmdb_fail;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			size_t klen = pass == 0 ? 8 : 16;
			struct sid_slot *sl = k.mv_size == klen ? sid_find(slots, n, get_be64(k.mv_data))
								: NULL;
			if (!sl) {
				bad_record(st, err, errlen, pass ? "journal" : "snapshot", NULL,
					   CRDT_EBADMSG);
				r = -EBADMSG;
				goto out;
			}
			if (pass == 0) {
				const uint8_t *p;
				size_t len;
				struct crdt_obj o;
				if ((r = value_open(v.mv_data, v.mv_size, &p, &len)) < 0 ||
				    (r = crdt_obj_decode(p, len, &o)) < 0) {
					bad_record(st, err, errlen, "snapshot", sl, r);
					r = -EBADMSG;
					goto out;
				}
				r = merge_decoded(store_entry_slot(sl->e, sl->t), &o, &sl->fresh);
				jin(st, store_entry_inst(sl->e, sl->t))->snap_bytes =
					v.mv_size < UINT32_MAX ? (uint32_t)v.mv_size : UINT32_MAX;
			} else {
				r = apply_record(v.mv_data, v.mv_size,
						 st->has_legacy ? &st->legacy : NULL,
						 store_entry_slot(sl->e, sl->t), &sl->fresh);
				add_bytes(&jin(st, store_entry_inst(sl->e, sl->t))->log_bytes,
					  v.mv_size);
				uint64_t seq = get_be64((uint8_t *)k.mv_data + 8);
				if (seq >= st->next_seq)
					st->next_seq = seq + 1;
				st->st.loaded_records++;
			}
			if (r < 0) {
				bad_record(st, err, errlen, pass ? "journal" : "snapshot", sl, r);
				r = r == CRDT_ENOMEM ? -ENOMEM : -EBADMSG;
				goto out;
			}
		}
		mdb_cursor_close(cur);
		cur = NULL;
		if (rc != MDB_NOTFOUND)
			goto lmdb_fail;
	}
	st->st.loaded_instances = n;
	st->store = s;
	/* from here on LMDB is the writer thread's */
	struct jwriter_config wc = {
		.env = st->env,
		.dbi = { [JWRITER_META] = st->meta, [JWRITER_INST] = st->inst,
			 [JWRITER_SNAP] = st->snap, [JWRITER_LOG] = st->jlog },
		.map = st->map,
		.map_len = st->map_len,
		.path = st->path,
	};
	struct jwriter_events ev = { writer_batch_done, writer_counts, st };
	if ((r = wal_open(st->wal_path, &st->wal)) < 0) {
		st->store = NULL;
		snprintf(err, errlen, "%s: cannot open it: %s", st->wal_path, strerror(-r));
		goto out;
	}
	wc.wal = st->wal;
	wc.wal_path = st->wal_path;
	wc.wal_seq = st->wal_seq;
	wc.sync_groups = st->mode == CONFIG_DURABILITY_ALWAYS;
	wc.sync_interval = st->mode == CONFIG_DURABILITY_BATCH;
	if ((r = jwriter_start(st->release.loop, &wc, &ev, &st->w)) < 0) {
		st->store = NULL;
		snprintf(err, errlen, "%s: cannot start the writer thread: %s", st->path,
			 uv_strerror(r));
		goto out;
	}
	release_map(st); /* the load read every page, the writer's first begin the meta pages */
	/* loading counted as merges; the stats are about the network */
	s->stats.merges = 0;
	r = 0;
	goto out;
lmdb_fail:
	snprintf(err, errlen, "%s: reading the store: %s; restore data_dir from a backup, or move "
		 "store.lmdb away to start this replica empty", st->path, mdb_strerror(rc));
	r = lmdb_err(rc);
out:
	if (r < 0 && !st->store)
		store_unsubscribe(s, st);
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	free(slots);
	return r;
}

/* Both timers closed: the journal goes. */
static void timer_close_cb(uv_handle_t *h)
{
	struct journal *st = h->data;

	if (--st->open_timers)
		return;
	mdb_env_close(st->env);
	crdt_buf_done(&st->buf);
	crdt_buf_done(&st->namebuf);
	free(st);
}

void journal_close(struct journal *st)
{
	if (!st)
		return;
	if (st->w) {
		/* what the last pass wrote, then everything queued, synced */
		commit(st, true);
		jwriter_close(st->w);
		st->w = NULL;
	}
	wal_close(st->wal); /* emptied by the writer's last commit */
	st->wal = NULL;
	if (st->store) {
		store_unsubscribe(st->store, st);
		st->store = NULL;
	}
	uv_close((uv_handle_t *)&st->release, timer_close_cb);
	uv_close((uv_handle_t *)&st->hold, timer_close_cb);
	uv_close((uv_handle_t *)&st->timer, timer_close_cb);
}

void journal_get_stats(const struct journal *st, struct journal_stats *ret)
{
	*ret = st->st;
}

uint64_t journal_inst_bytes(const struct journal *st, const struct store_inst *in)
{
	return st ? (uint64_t)jin(st, in)->log_bytes + jin(st, in)->snap_bytes : 0;
}

uint64_t journal_file_bytes(const struct journal *st)
{
	struct stat sb;
	/* the file is sparse: count what is allocated */
	return stat(st->path, &sb) == 0 ? (uint64_t)sb.st_blocks * 512 : 0;
}

const char *journal_path(const struct journal *st)
{
	return st->path;
}
