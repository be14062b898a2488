/* The journal's writer thread: the loop's batches of LMDB ops applied,
 * committed and synced off the event loop (state/jwriter.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>

#include "be.h"
#include "log.h"
#include "state/jops.h"
#include "state/jwriter.h"
#include "state/wal.h"

/* Submitted bytes not yet committed past which jwriter_submit waits: only
 * state merged from peers can pile up (a client's writes wait for their
 * batch), so this bounds memory when the disk falls behind gossip. */
#define JWRITER_QUEUE_MAX ((size_t)64 << 20)
/* Reported batches kept for reuse, and the buffer size kept with them. */
#define SPARE_MAX 8
#define SPARE_BYTES ((size_t)1 << 20)
/* A batch up to this size that needs no sync goes into the open transaction
 * and the log on the loop when the thread is idle: a few puts and a write()
 * cost less than waking the thread and waiting for its report (about 3 x a
 * write's reply time on a 2-core machine).  Syncs and large batches go to
 * the thread. */
#define INLINE_MAX_BYTES ((size_t)64 << 10)
/* Past this many bytes of log LMDB takes them at once, before batch_ms (the
 * open transaction's pages are in memory, or dirty in the map, until then). */
#define WAL_MAX_BYTES ((uint64_t)64 << 20)
/* At each map release (state/journal.c: soon after the writes stop, and
 * every 10 s while they go on) a log file longer than twice this is cut
 * back to it (wal_trim); a file this long keeps its blocks for good. */
#define WAL_KEEP_BYTES ((uint64_t)8 << 20)
/* Pages left free besides the bound of room_measure: the commit's own
 * (free list, meta) and the tables' roots. */
#define ROOM_SLACK_PAGES 256
/* wal_apply: the log does not continue the store (a gap in the numbers). */
#define WAL_GAP (-1)
/* LMDB's meta key of the last log record it holds (8 bytes, big-endian). */
static const char WALSEQ_KEY[] = "walseq";

struct jwriter {
	uv_async_t async; /* the thread's reports */
	uv_thread_t thread;
	uv_mutex_t mu;
	uv_cond_t work; /* the thread waits for batches, requests, stop */
	uv_cond_t idle; /* the loop waits for batches to finish */
	struct jwriter_config cfg;
	struct jwriter_events ev;

	/* under mu */
	struct jwriter_batch *queue, **queue_tail; /* submitted, not taken */
	struct jwriter_batch *done, **done_tail;   /* finished, not reported */
	size_t queued_bytes;
	uint64_t finished; /* batches finished */
	bool want_sync, want_release, stop;
	bool ready; /* the thread began its first open transaction */
	bool running; /* a transaction, sync or release is under way (either thread) */
	/* The thread is inside a timed commit's LMDB part (log_ok): the log
	 * is the loop's meanwhile, which appends small unsynced batches to it
	 * itself (logging while it does) and keeps their ops in @logged for
	 * the next transaction. */
	bool committing, logging;
	struct jwriter_counts counts; /* since the last report */
	char msg[320];                /* the last error since the last report */

	/* whoever runs (the thread, or the loop while running is its own) */
	struct crdt_buf retry; /* name records of transactions that failed */
	/* the transaction LMDB keeps open between its commits (every batch_ms),
	 * which every group goes into, begun and ended by the thread; the
	 * payload of the group's log record; the number of the last record
	 * appended */
	MDB_txn *parent;
	uint64_t groups;       /* groups parent holds */
	bool parent_bad;       /* a group failed in parent on the loop: the thread aborts it */
	bool reapply;          /* parent was aborted or its commit failed: the log goes in again */
	bool commit_failed;    /* the last commit of parent failed: only the timer retries */
	struct crdt_buf payload;
	uint64_t seq;
	/* The groups logged since parent began, not yet applied to it: LMDB
	 * takes them in key order at the commit (state/jops.h).  A group goes
	 * there while the pages they can need (jops_pages) fit the room left
	 * beside four times the pages the store has (room_measure, at each
	 * commit); room is 0 while parent holds groups applied as they came. */
	struct crdt_buf pending;
	struct jops_scratch sort; /* pending_apply's index of the pending ops */
	uint64_t pending_pages, room;
	size_t psize;
	void (*commit_hook)(void *ctx); /* jwriter_set_commit_hook, under mu */
	void *commit_hook_ctx;
	/* the groups the loop logged while the thread committed, as their
	 * records' payloads (the loop's while committing, the thread's after) */
	struct crdt_buf logged;
	uint64_t nlogged;

	/* the loop only */
	struct jwriter_batch *spare;
	size_t nspare;
	uint64_t submitted, reported;
	uint64_t sync_mark; /* submitted at the last jwriter_sync request */
};

int jwriter_errno(int rc)
{
	switch (rc) {
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return -EBADMSG;
	default:
		return rc > 0 && rc < 200 ? -rc : -EIO;
	}
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- filling a batch (loop) --------------------------------------------- */

static int append_op(struct jwriter_batch *b, struct crdt_buf *to, uint8_t kind, uint8_t table,
		     const void *k, size_t klen, const void *v, size_t vlen)
{
	struct jop_head h = { .kind = kind, .table = table };
	int r;

	if (b->rc)
		return b->rc;
	if (klen > UINT32_MAX || vlen > UINT32_MAX)
		return b->rc = -EMSGSIZE;
	h.klen = (uint32_t)klen;
	h.vlen = (uint32_t)vlen;
	/* all of it or nothing: the buffer never ends inside an op */
	if ((r = crdt_buf_reserve(to, sizeof(h) + klen + vlen)) < 0)
		return b->rc = r;
	crdt_buf_put(to, &h, sizeof(h));
	crdt_buf_put(to, k, klen);
	if (vlen)
		crdt_buf_put(to, v, vlen);
	return 0;
}

int jwriter_put(struct jwriter_batch *b, enum jwriter_table t, const void *k, size_t klen,
		const void *v, size_t vlen)
{
	return append_op(b, &b->ops, JOP_PUT, (uint8_t)t, k, klen, v, vlen);
}

int jwriter_put_more(struct jwriter_batch *b, size_t at, const void *v, size_t vlen)
{
	struct jop_head h;
	int r;

	if (b->rc)
		return b->rc;
	if (at > b->ops.len || b->ops.len - at < sizeof(h))
		return -EINVAL;
	memcpy(&h, b->ops.data + at, sizeof(h));
	if (h.kind != JOP_PUT || at + sizeof(h) + h.klen + h.vlen != b->ops.len)
		return -EINVAL;
	if (vlen > UINT32_MAX - h.vlen)
		return b->rc = -EMSGSIZE;
	if ((r = crdt_buf_reserve(&b->ops, vlen)) < 0)
		return b->rc = r;
	crdt_buf_put(&b->ops, v, vlen);
	h.vlen += (uint32_t)vlen;
	memcpy(b->ops.data + at, &h, sizeof(h));
	return 0;
}

uint8_t *jwriter_put_value(struct jwriter_batch *b, size_t at, size_t *vlen)
{
	struct jop_head h;

	memcpy(&h, b->ops.data + at, sizeof(h));
	*vlen = h.vlen;
	return b->ops.data + at + sizeof(h) + h.klen;
}

int jwriter_put_name(struct jwriter_batch *b, const void *k, size_t klen, const void *v,
		     size_t vlen)
{
	return append_op(b, &b->names, JOP_PUT, JWRITER_INST, k, klen, v, vlen);
}

int jwriter_del(struct jwriter_batch *b, enum jwriter_table t, const void *k, size_t klen)
{
	return append_op(b, &b->ops, JOP_DEL, (uint8_t)t, k, klen, NULL, 0);
}

int jwriter_drop_log(struct jwriter_batch *b, uint64_t sid, uint64_t below)
{
	uint8_t k[16];

	put_be64(k, sid);
	put_be64(k + 8, below);
	return append_op(b, &b->ops, JOP_DROP_LOG, JWRITER_LOG, k, sizeof(k), NULL, 0);
}

struct jwriter_batch *jwriter_batch_get(struct jwriter *w)
{
	struct jwriter_batch *b = w->spare;

	if (b) {
		w->spare = b->next;
		w->nspare--;
	} else if ((b = calloc(1, sizeof(*b)))) {
		crdt_buf_init(&b->ops, 0);
		crdt_buf_init(&b->names, 0);
	} else {
		return NULL;
	}
	b->next = NULL;
	b->gen = 0;
	b->local = false;
	b->rc = 0;
	crdt_buf_reset(&b->ops);
	crdt_buf_reset(&b->names);
	return b;
}

static void batch_free(struct jwriter_batch *b)
{
	crdt_buf_done(&b->ops);
	crdt_buf_done(&b->names);
	free(b);
}

/* Keep a few reported batches, without the memory of a large one. */
static void recycle(struct jwriter *w, struct jwriter_batch *b)
{
	if (w->nspare >= SPARE_MAX) {
		batch_free(b);
		return;
	}
	if (b->ops.cap > SPARE_BYTES)
		crdt_buf_done(&b->ops);
	if (b->names.cap > SPARE_BYTES)
		crdt_buf_done(&b->names);
	b->next = w->spare;
	w->spare = b;
	w->nspare++;
}

/* ---- the thread --------------------------------------------------------- */

/* A group's transaction failed (@what, LMDB's @rc): every batch in it
 * fails, and their name records go again in the next transaction, since
 * later records of these slots name them by id. */
static void group_failed(struct jwriter *w, struct jwriter_batch *g, struct jwriter_counts *c,
			 char *msg, size_t msglen, const char *what, int rc)
{
	c->errors++;
	snprintf(msg, msglen, "%s: %s: %s%s", w->cfg.path, what, mdb_strerror(rc),
		 rc == MDB_MAP_FULL ? " (raise [storage] map_size)" : "");
	for (struct jwriter_batch *b = g; b; b = b->next) {
		if (!b->rc)
			b->rc = jwriter_errno(rc);
		crdt_buf_put(&w->retry, b->names.data, b->names.len);
	}
}

/* ---- the log first (state/wal.h) ---------------------------------------- */

static int put_walseq(const struct jwriter *w, MDB_txn *txn, uint64_t seq)
{
	uint8_t v[8];
	MDB_val key = { sizeof(WALSEQ_KEY) - 1, (void *)WALSEQ_KEY }, val = { 8, v };

	put_be64(v, seq);
	return mdb_put(txn, w->cfg.dbi[JWRITER_META], &key, &val, 0);
}

/* Apply to @txn the records of @buf[0..len) numbered above what @txn holds,
 * and note the last one there; *@last and *@used say what was read.  An
 * LMDB code, or MDB_SUCCESS; a record that does not check out ends the log
 * (a crash's leftover). */
static int wal_apply(const struct jwriter *w, MDB_txn *txn, const uint8_t *buf, size_t len,
		     uint64_t *last, size_t *used, uint64_t *applied)
{
	MDB_val key = { sizeof(WALSEQ_KEY) - 1, (void *)WALSEQ_KEY }, val;
	struct wal_rec r;
	uint64_t held = 0;
	size_t off = 0, at = 0;
	const char *what;
	int rc, more;

	if ((rc = mdb_get(txn, w->cfg.dbi[JWRITER_META], &key, &val)) == 0 && val.mv_size == 8)
		held = get_be64(val.mv_data);
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	*last = held;
	*applied = 0;
	while ((more = wal_next(buf, len, &off, &r)) > 0) {
		/* LMDB has it: a log not yet emptied at a crash, or past the
		 * new records, one of an earlier pass over the file (the log
		 * is written from its start again after each commit) */
		if (r.seq <= held) {
			at = off;
			continue;
		}
		if (r.seq != *last + 1) {
			if (!at)
				return WAL_GAP; /* the log continues a later store */
			break; /* older and newer pages mixed by a crash of the machine */
		}
		if (jops_check(r.p, r.n) < 0)
			return MDB_CORRUPTED; /* it checked out: not a torn append */
		if ((rc = jops_apply(txn, w->cfg.dbi, r.p, r.n, &what)) != 0)
			return rc;
		*last = r.seq;
		(*applied)++;
		at = off;
	}
	*used = more > 0 ? at : off;
	return *applied ? put_walseq(w, txn, *last) : 0;
}

/* Forget the pending groups (applied, or in the log to be applied again).
 * Their memory stays for the next interval's while they fill a quarter of
 * it: freed and grown again at every commit, its pages were faulted in
 * anew each time (3 % of a peer's CPU in a SET storm at batch_ms 1000). */
static void pending_reset(struct jwriter *w)
{
	if (w->pending.cap > SPARE_BYTES && w->pending.len < w->pending.cap / 4) {
		crdt_buf_done(&w->pending);
		crdt_buf_init(&w->pending, 0);
	}
	crdt_buf_reset(&w->pending);
	w->pending_pages = 0;
}

/* The pages a transaction begun now may add to the store's and still fit
 * the map: a copy and two splits of every page the store has at most
 * (jops.h), the rest for the pending groups' own (jops_pages), and the
 * free list's record of the pages the commit frees (8 bytes each). */
static void room_measure(struct jwriter *w)
{
	MDB_envinfo info;
	MDB_stat st;
	uint64_t map, used;

	w->room = 0;
	if (mdb_env_info(w->cfg.env, &info) != 0 || mdb_env_stat(w->cfg.env, &st) != 0 ||
	    !st.ms_psize)
		return;
	w->psize = st.ms_psize;
	map = info.me_mapsize / st.ms_psize;
	used = (uint64_t)info.me_last_pgno + 1;
	used += 3 * used + used / 256 + ROOM_SLACK_PAGES;
	w->room = map > used ? map - used : 0;
}

/* LMDB takes the pending groups, in key order, into the open transaction.
 * On failure the caller drops the transaction: the log holds them. */
static int pending_apply(struct jwriter *w, const char **what)
{
	int rc = 0;

	if (w->pending.len) {
		rc = jops_apply_sorted(w->parent, w->cfg.dbi, w->pending.data, w->pending.len, &w->sort,
				       what);
		jops_scratch_trim(&w->sort, SPARE_BYTES);
		pending_reset(w);
	}
	w->room = 0; /* what comes now goes in as it comes, until the commit */
	return rc;
}

/* The open transaction is unusable (a put or an append of the group failed
 * in it, LMDB's rule after a failed put): the thread, which began it, aborts
 * it; the next one takes the log in again, so only the group that failed is
 * lost (its clients disconnected).  On the loop it is only marked. */
static void drop_parent(struct jwriter *w, bool on_loop)
{
	if (on_loop) {
		w->parent_bad = true;
		return;
	}
	if (w->parent)
		mdb_txn_abort(w->parent);
	w->parent = NULL;
	w->parent_bad = false;
	w->groups = 0;
	w->reapply = true;
	pending_reset(w); /* the log holds them: the next transaction takes it again */
	w->room = 0;
}

/* The log is the loop's while LMDB commits (log_ok): the thread's
 * timed commit opens it, and takes it back before the log is emptied,
 * once no append of the loop is under way; the number of groups the loop
 * logged meanwhile. */
static void logging_open(struct jwriter *w)
{
	void (*hook)(void *);
	void *ctx;

	uv_mutex_lock(&w->mu);
	w->committing = true;
	hook = w->commit_hook;
	ctx = w->commit_hook_ctx;
	uv_mutex_unlock(&w->mu);
	if (hook)
		hook(ctx);
}

static uint64_t logging_close(struct jwriter *w)
{
	uint64_t n;

	uv_mutex_lock(&w->mu);
	while (w->logging)
		uv_cond_wait(&w->work, &w->mu);
	w->committing = false;
	n = w->nlogged;
	uv_mutex_unlock(&w->mu);
	return n;
}

/* LMDB takes the log up to record @upto: the open transaction is
 * committed (synced under always by the env itself, under batch by a sync
 * after it, under none only when @final, at shutdown).  True when LMDB
 * holds those records as the mode wants them held. */
static bool lmdb_commit(struct jwriter *w, uint64_t upto, bool final, struct jwriter_counts *c,
			char *msg, size_t msglen)
{
	bool synced = w->cfg.sync_groups;
	int rc;

	if (w->pending.len) {
		const char *what = "memory";
		if ((rc = pending_apply(w, &what)) != 0 || (what = "meta",
		    (rc = put_walseq(w, w->parent, upto)) != 0)) {
			drop_parent(w, false);
			w->commit_failed = true;
			c->errors++;
			snprintf(msg, msglen, "%s: %s, taking the log into the store: %s%s (the "
				 "writes stay in store.wal)", w->cfg.path, what, mdb_strerror(rc),
				 rc == MDB_MAP_FULL ? "; raise [storage] map_size" : "");
			return false;
		}
	}
	rc = mdb_txn_commit(w->parent);
	w->parent = NULL;
	w->groups = 0;
	if (rc != 0) {
		/* the log still holds every record: the next group applies it again */
		w->reapply = w->commit_failed = true;
		c->errors++;
		snprintf(msg, msglen, "%s: commit of the log into the store: %s (the writes stay "
			 "in store.wal)", w->cfg.path, mdb_strerror(rc));
		return false;
	}
	w->commit_failed = false;
	room_measure(w);
	if (!synced && (w->cfg.sync_interval || final)) {
		if ((rc = mdb_env_sync(w->cfg.env, 1)) != 0) {
			/* the log keeps its records (LMDB holds them: skipped at a
			 * start), until a sync empties it */
			c->errors++;
			snprintf(msg, msglen, "%s: sync: %s", w->cfg.path, mdb_strerror(rc));
			return false;
		}
		synced = true;
	}
	if (synced) {
		c->syncs++;
		c->last_sync_ms = wall_ms();
	}
	return true;
}

/* LMDB takes what the log holds (lmdb_commit), and the log is emptied.
 * Nothing to do when no group went into the open transaction since the
 * last commit.  With @overlap (the timed commit) the loop may log small
 * batches meanwhile, unless the log is long enough to be emptied now: a
 * commit after a burst applies tens of thousands of ops (35-265 ms on this
 * project's VM after 300,000 SETs), which a client's write waited for.  The log then keeps
 * LMDB's records, with the loop's after them, until a commit that nobody
 * logged during empties it (a start skips the records LMDB holds). */
static void wal_commit(struct jwriter *w, bool final, bool overlap, struct jwriter_counts *c,
		       char *msg, size_t msglen)
{
	uint64_t upto = w->seq, logged = 0;
	bool held;
	int rc;

	if (w->parent_bad)
		drop_parent(w, false);
	if (!w->parent || (!w->groups && !final))
		return;
	overlap = overlap && !final && wal_size(w->cfg.wal) < WAL_MAX_BYTES / 2;
	if (overlap)
		logging_open(w);
	held = lmdb_commit(w, upto, final, c, msg, msglen);
	if (overlap)
		logged = logging_close(w);
	c->overlapped += logged;
	if (!held)
		return;
	c->taken++;
	if (!logged && (rc = wal_reset(w->cfg.wal, final)) < 0) {
		c->errors++;
		snprintf(msg, msglen, "%s: emptying store.wal: %s", w->cfg.path, strerror(-rc));
	}
	c->wal_bytes = wal_size(w->cfg.wal);
	c->has_wal = true;
}

/* The groups the loop logged while LMDB committed (log_ok) go into the
 * next transaction: they become the pending groups (the commit applied or
 * dropped the earlier ones), as the thread's own are, while the map has
 * room for them; else (and after a failed commit, or when a copy ran
 * short of memory) the next transaction takes the log in again from the
 * file, as after any failure.  The thread's, after wal_commit. */
static void take_logged(struct jwriter *w)
{
	uint64_t pages;

	if (w->nlogged) {
		pages = w->logged.err ? 0 : jops_pages(w->logged.data, w->logged.len, w->psize);
		if (w->reapply || w->logged.err || w->pending.len || pages > w->room) {
			pending_reset(w);
			w->reapply = true;
		} else {
			struct crdt_buf t = w->pending; /* empty: its memory goes to the loop's copy */
			w->pending = w->logged;
			w->logged = t;
			w->pending_pages = pages;
			w->groups += w->nlogged;
		}
		w->nlogged = 0;
	}
	/* emptied either way: a copy that failed does not fail the next commit's */
	if (w->logged.cap > SPARE_BYTES) {
		crdt_buf_done(&w->logged);
		crdt_buf_init(&w->logged, 0);
	}
	crdt_buf_reset(&w->logged);
}

/* The open transaction, begun if there is none (after a commit, or a failure,
 * with the log applied again from the file).  The thread's only: LMDB's
 * writer lock is the thread's that begins and ends a transaction. */
static int wal_parent(struct jwriter *w, const char **what)
{
	uint8_t *buf;
	size_t len, used;
	uint64_t last, n;
	int rc;

	if (w->parent_bad)
		drop_parent(w, false);
	if (w->parent)
		return 0;
	*what = "begin";
	if ((rc = mdb_txn_begin(w->cfg.env, NULL, 0, &w->parent)) != 0) {
		w->parent = NULL;
		return rc;
	}
	if (!w->reapply)
		return 0;
	*what = "applying store.wal again";
	if ((rc = wal_read(w->cfg.wal_path, &buf, &len)) < 0) {
		mdb_txn_abort(w->parent);
		w->parent = NULL;
		return -rc;
	}
	rc = wal_apply(w, w->parent, buf, len, &last, &used, &n);
	free(buf);
	if (rc != 0) {
		mdb_txn_abort(w->parent);
		w->parent = NULL;
		return rc;
	}
	w->groups = n;
	w->reapply = false;
	return 0;
}

/* One group (every batch of @g, in order: the retried name records, then
 * each batch's name records, then its ops unless it failed on the loop):
 * applied to the open transaction, then appended to the log as one record,
 * which is synced first under always when a batch holds a client's write
 * (one fdatasync, which also covers the records before it).  Once appended
 * (a write() into the page cache, which kill -9 does not lose) the group is
 * stored: a start applies the log.  On the loop (@on_loop) the open
 * transaction is there (inline_ok).
 *
 * While the map has room for it (w->room), a group is only logged and kept
 * (w->pending): LMDB takes the pending groups in key order before its
 * commit, a put a leaf it has just been on (state/jops.h).
 *
 * A group the map has no room for fails only when it fails alone: a long
 * transaction cannot reuse the pages it freed (LMDB reuses them once a
 * commit took them), so the groups before it are committed first and it
 * is tried again in a transaction of its own.  On the loop that is the
 * thread's to do: false, and nothing reported (the caller queues @g); so
 * is applying the kept groups when one comes that the room does not fit. */
static bool run_group(struct jwriter *w, struct jwriter_batch *g, bool on_loop,
		      struct jwriter_counts *c, char *msg, size_t msglen)
{
	struct crdt_buf *p = &w->payload;
	const char *what = "memory";
	bool sync = false, touched = false, logged = false, again = false, defer = false;
	uint64_t pages = 0;
	int rc = 0, r;

	if (!g->next && !w->retry.len && !g->names.len && !g->rc) {
		p = &g->ops; /* one batch, its ops alone: no copy (a held batch of merges) */
		sync = g->local && w->cfg.sync_groups;
	} else {
		crdt_buf_reset(p);
		crdt_buf_put(p, w->retry.data, w->retry.len);
		for (struct jwriter_batch *b = g; b; b = b->next) {
			crdt_buf_put(p, b->names.data, b->names.len);
			if (!b->rc)
				crdt_buf_put(p, b->ops.data, b->ops.len);
			sync |= b->local && w->cfg.sync_groups;
		}
	}
	if (p->err)
		rc = -p->err;
retry:
	if (rc == 0 && !on_loop)
		rc = wal_parent(w, &what);
	if (rc == 0 && !again && w->room) {
		pages = jops_pages(p->data, p->len, w->psize);
		defer = w->pending_pages + pages <= w->room;
	}
	if (rc == 0 && !defer && on_loop && w->pending.len)
		return false; /* a second of groups at once: not on the loop */
	if (rc == 0 && !defer) {
		touched = true;
		if ((rc = pending_apply(w, &what)) == 0 &&
		    (rc = jops_apply(w->parent, w->cfg.dbi, p->data, p->len, &what)) == 0 &&
		    (rc = put_walseq(w, w->parent, w->seq + 1)) != 0)
			what = "meta";
	}
	if (rc == MDB_MAP_FULL && !again && !w->commit_failed) {
		drop_parent(w, on_loop);
		if (on_loop)
			return false;
		/* the groups before it, then one small commit more: LMDB reuses
		 * pages a transaction frees (here: replaced large values) only
		 * once its free list has a record two commits old */
		for (int i = 0; i < 2 && !w->commit_failed && wal_parent(w, &what) == 0; i++) {
			if (i && put_walseq(w, w->parent, w->seq) != 0) {
				drop_parent(w, false);
				break;
			}
			w->groups += (uint64_t)i;
			wal_commit(w, false, false, c, msg, msglen);
		}
		again = true;
		touched = false;
		rc = 0;
		goto retry;
	}
	if (rc == 0) {
		what = "store.wal";
		if ((r = wal_append(w->cfg.wal, w->seq + 1, p->data, p->len)) < 0)
			rc = -r;
		else if ((logged = true) && sync && (r = wal_sync(w->cfg.wal)) < 0)
			rc = -r;
	}
	if (rc != 0) {
		if (logged)
			(void)wal_undo(w->cfg.wal);
		if (touched)
			drop_parent(w, on_loop);
		group_failed(w, g, c, msg, msglen, what, rc);
		return true;
	}
	if (defer) {
		/* stored (logged); LMDB takes it at the commit, or the log
		 * again after a transaction that failed */
		if (crdt_buf_put(&w->pending, p->data, p->len) < 0)
			drop_parent(w, on_loop);
		else
			w->pending_pages += pages;
	}
	crdt_buf_reset(&w->retry);
	if (w->payload.cap > SPARE_BYTES) { /* not the memory of one large group for ever */
		crdt_buf_done(&w->payload);
		crdt_buf_init(&w->payload, 0);
	}
	w->seq++;
	w->groups++;
	c->commits++;
	if (sync) {
		c->syncs++;
		c->last_sync_ms = wall_ms();
	}
	c->wal_bytes = wal_size(w->cfg.wal);
	c->has_wal = true;
	if (c->wal_bytes > WAL_MAX_BYTES && !w->commit_failed && !on_loop)
		wal_commit(w, false, false, c, msg, msglen);
	return true;
}

int jwriter_recover(MDB_env *env, const MDB_dbi dbi[JWRITER_TABLES], const char *wal_path,
		    struct jwriter_recovery *out, char *err, size_t errlen)
{
	struct jwriter w = { .cfg = { .env = env } };
	uint8_t *buf;
	size_t len, used = 0;
	MDB_txn *txn;
	int rc;

	memset(out, 0, sizeof(*out));
	memcpy(w.cfg.dbi, dbi, sizeof(w.cfg.dbi));
	if ((rc = wal_read(wal_path, &buf, &len)) < 0) {
		snprintf(err, errlen, "%s: cannot read it: %s", wal_path, strerror(-rc));
		return rc;
	}
	for (int grow = 0;; grow++) {
		MDB_envinfo info;
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
			goto fail;
		if ((rc = wal_apply(&w, txn, buf, len, &out->seq, &used, &out->records)) != 0)
			mdb_txn_abort(txn);
		else
			rc = mdb_txn_commit(txn);
		if (rc != MDB_MAP_FULL || grow == 6)
			break;
		/* Every record was acknowledged: the map grows for them (no
		 * transaction is open, as mdb_env_set_mapsize() wants). */
		if ((rc = mdb_env_info(env, &info)) != 0 ||
		    (rc = mdb_env_set_mapsize(env, info.me_mapsize * 2)) != 0)
			break;
		if (!out->map_was)
			out->map_was = info.me_mapsize;
		out->map_now = info.me_mapsize * 2;
	}
	if (rc != 0 || (rc = mdb_env_sync(env, 1)) != 0)
		goto fail;
	out->bytes = len;
	out->dropped = len - used;
	free(buf);
	return 0;
fail:
	free(buf);
	if (rc == MDB_CORRUPTED)
		snprintf(err, errlen, "%s: a record is malformed; restore data_dir from a backup, "
			 "or move store.wal away to start without the writes it holds", wal_path);
	else if (rc == WAL_GAP)
		snprintf(err, errlen, "%s: it continues a later state of the store than store.lmdb "
			 "holds (store.lmdb restored or copied without its store.wal?); move store.wal "
			 "away to start from store.lmdb as it is", wal_path);
	else
		snprintf(err, errlen, "%s: applying it to the store: %s%s", wal_path,
			 mdb_strerror(rc), rc == MDB_MAP_FULL ? " (raise [storage] map_size)" : "");
	return rc == WAL_GAP ? -EXDEV : jwriter_errno(rc);
}

/* Unmap the store file's pages from this process (docs/storage.md): they
 * stay in the page cache, dirty ones (written through the map under none)
 * with their dirty bit.  Between transactions, so that none faults them
 * straight back in.  A log
 * file a burst made long is cut back too (WAL_KEEP_BYTES). */
static void release_now(struct jwriter *w, struct jwriter_counts *c, char *msg, size_t msglen)
{
	int r;

	if (w->cfg.map && madvise(w->cfg.map, w->cfg.map_len, MADV_DONTNEED) == 0)
		c->releases++;
	if (w->cfg.wal && (r = wal_trim(w->cfg.wal, WAL_KEEP_BYTES)) < 0) {
		c->errors++;
		snprintf(msg, msglen, "%s: cutting store.wal back: %s", w->cfg.path, strerror(-r));
	}
}

static void add_counts(struct jwriter_counts *to, const struct jwriter_counts *c)
{
	to->commits += c->commits;
	to->syncs += c->syncs;
	to->errors += c->errors;
	to->releases += c->releases;
	to->taken += c->taken;
	to->loop_commits += c->loop_commits;
	to->overlapped += c->overlapped;
	if (c->last_sync_ms)
		to->last_sync_ms = c->last_sync_ms;
	if (c->has_wal) {
		to->wal_bytes = c->wal_bytes;
		to->has_wal = true;
	}
}

/* Under mu: hand what the thread did to the loop. */
static void post(struct jwriter *w, const struct jwriter_counts *c, const char *msg)
{
	add_counts(&w->counts, c);
	if (msg[0])
		snprintf(w->msg, sizeof(w->msg), "%s", msg);
	uv_async_send(&w->async);
}

/* On the thread, once a group, sync or release is done: the open
 * transaction again, so that the loop can commit a small batch into it. */
static void ensure_parent(struct jwriter *w, struct jwriter_counts *c, char *msg,
			  size_t msglen)
{
	const char *what = "begin";
	int rc;

	if (!w->parent_bad && w->parent)
		return;
	if ((rc = wal_parent(w, &what)) != 0) {
		c->errors++;
		snprintf(msg, msglen, "%s: %s: %s", w->cfg.path, what, mdb_strerror(rc));
	}
}

static void thread_main(void *arg)
{
	struct jwriter *w = arg;

	prctl(PR_SET_NAME, "crdtd-journal"); /* as top -H and ps -L show it */
	uv_mutex_lock(&w->mu);
	for (;;) {
		struct jwriter_counts c = { 0 };
		char msg[sizeof(w->msg)] = "";

		if (w->running) { /* the loop runs a group (run_inline) */
			uv_cond_wait(&w->work, &w->mu);
			continue;
		}
		if (w->queue) {
			struct jwriter_batch *g = w->queue, *last = g;
			uint64_t n = 1;
			size_t bytes = g->ops.len + g->names.len;
			for (; last->next; last = last->next, n++)
				bytes += last->next->ops.len + last->next->names.len;
			w->queue = NULL;
			w->queue_tail = &w->queue;
			w->running = true;
			uv_mutex_unlock(&w->mu);
			run_group(w, g, false, &c, msg, sizeof(msg));
			ensure_parent(w, &c, msg, sizeof(msg));
			uv_mutex_lock(&w->mu);
			w->running = false;
			*w->done_tail = g;
			w->done_tail = &last->next;
			w->queued_bytes -= bytes;
			w->finished += n;
			post(w, &c, msg);
			uv_cond_broadcast(&w->idle);
			continue;
		}
		if (w->want_sync || w->want_release) {
			bool s = w->want_sync, r = w->want_release;
			w->want_sync = w->want_release = false;
			w->running = true;
			uv_mutex_unlock(&w->mu);
			if (s) {
				wal_commit(w, false, true, &c, msg, sizeof(msg));
				take_logged(w);
			}
			if (r)
				release_now(w, &c, msg, sizeof(msg));
			ensure_parent(w, &c, msg, sizeof(msg));
			uv_mutex_lock(&w->mu);
			w->running = false;
			post(w, &c, msg);
			continue;
		}
		if (w->stop) {
			/* LMDB's open transaction ends on the thread that began
			 * it: LMDB's writer lock is that thread's */
			w->running = true;
			uv_mutex_unlock(&w->mu);
			ensure_parent(w, &c, msg, sizeof(msg)); /* a failed one: the log again */
			wal_commit(w, true, false, &c, msg, sizeof(msg));
			uv_mutex_lock(&w->mu);
			w->running = false;
			post(w, &c, msg);
			break;
		}
		if (!w->ready || w->parent_bad) {
			/* at start, or a group the loop ran failed */
			w->running = true;
			uv_mutex_unlock(&w->mu);
			ensure_parent(w, &c, msg, sizeof(msg));
			uv_mutex_lock(&w->mu);
			w->running = false;
			w->ready = true;
			if (c.errors)
				post(w, &c, msg);
			uv_cond_broadcast(&w->idle);
			continue;
		}
		uv_cond_wait(&w->work, &w->mu);
	}
	uv_mutex_unlock(&w->mu);
}

/* ---- reports (loop) ----------------------------------------------------- */

static void report(struct jwriter *w)
{
	struct jwriter_batch *d;
	struct jwriter_counts c;
	char msg[sizeof(w->msg)];

	uv_mutex_lock(&w->mu);
	d = w->done;
	w->done = NULL;
	w->done_tail = &w->done;
	c = w->counts;
	memset(&w->counts, 0, sizeof(w->counts));
	memcpy(msg, w->msg, sizeof(msg));
	w->msg[0] = 0;
	uv_mutex_unlock(&w->mu);

	if (msg[0])
		log_error("storage", "%s", msg);
	/* the counts first: a client released below sees them in INFO */
	if (c.commits || c.syncs || c.errors || c.releases || c.has_wal)
		w->ev.counts(w->ev.ctx, &c);
	while (d) {
		struct jwriter_batch *next = d->next;
		w->reported++;
		w->ev.batch_done(w->ev.ctx, d->gen, d->rc);
		recycle(w, d);
		d = next;
	}
}

static void async_cb(uv_async_t *h)
{
	report(h->data);
}

/* Under mu: may @b be committed on the loop, now?  Only while the thread
 * has nothing queued or under way (so order and LMDB's one writer hold) and
 * the open transaction is there to take it (the thread begins and ends it),
 * when it needs no sync (under always, a client's write does) and is small. */
static bool inline_ok(const struct jwriter *w, const struct jwriter_batch *b)
{
	return !w->queue && !w->running && !w->want_sync && !w->want_release && !w->stop &&
	       w->parent && !w->parent_bad && !(b->local && w->cfg.sync_groups) &&
	       b->ops.len + b->names.len + w->retry.len <= INLINE_MAX_BYTES;
}

/* Commit @b on the loop (inline_ok held, mu held on entry and released),
 * then report it at once, as the thread's report would; or hand it to the
 * thread after all (run_group). */
static void run_inline(struct jwriter *w, struct jwriter_batch *b)
{
	struct jwriter_counts c = { 0 };
	char msg[sizeof(w->msg)] = "";
	bool done;

	b->next = NULL;
	w->running = true;
	w->submitted++;
	uv_mutex_unlock(&w->mu);
	done = run_group(w, b, true, &c, msg, sizeof(msg));
	c.loop_commits = c.commits;
	uv_mutex_lock(&w->mu);
	w->running = false;
	add_counts(&w->counts, &c);
	if (msg[0])
		snprintf(w->msg, sizeof(w->msg), "%s", msg);
	if (!done) {
		*w->queue_tail = b;
		w->queue_tail = &b->next;
		w->queued_bytes += b->ops.len + b->names.len;
	} else {
		*w->done_tail = b;
		w->done_tail = &b->next;
		w->finished++;
	}
	/* what only the thread may do: abort a failed transaction, run a
	 * group again, commit a long log */
	if (!done || w->parent_bad || (c.wal_bytes > WAL_MAX_BYTES && !w->commit_failed)) {
		w->want_sync |= done && !w->parent_bad;
		uv_cond_signal(&w->work);
	}
	uv_mutex_unlock(&w->mu);
	if (done)
		report(w);
}

/* Under mu: may the loop log @b itself, while the thread commits LMDB's
 * transaction (wal_commit)?  When nothing is queued before it (order), it
 * needs no sync and it is small, as for inline_ok; LMDB takes it at the next
 * commit (take_logged). */
static bool log_ok(const struct jwriter *w, const struct jwriter_batch *b)
{
	return w->committing && !w->logging && !w->queue && !w->stop && !b->rc &&
	       !(b->local && w->cfg.sync_groups) &&
	       b->ops.len + b->names.len <= INLINE_MAX_BYTES;
}

/* Append @b to the log on the loop (log_ok held, mu held on entry and
 * released) and report it at once: stored.  If its copy or the append
 * fails the thread runs it after the commit, as any group. */
static void run_logged(struct jwriter *w, struct jwriter_batch *b)
{
	struct crdt_buf *l = &w->logged;
	size_t off = l->len;
	int r;

	b->next = NULL;
	w->logging = true;
	w->submitted++;
	uv_mutex_unlock(&w->mu);
	/* the record's payload is joined where the next transaction takes
	 * it from, and appended from there: one copy */
	crdt_buf_put(l, b->names.data, b->names.len);
	crdt_buf_put(l, b->ops.data, b->ops.len);
	r = l->err ? -l->err : wal_append(w->cfg.wal, w->seq + 1, l->data + off, l->len - off);
	if (r == 0)
		w->seq++;
	else if (!l->err)
		l->len = off; /* not in the log: the thread runs it after the commit */
	uv_mutex_lock(&w->mu);
	w->logging = false;
	uv_cond_signal(&w->work); /* logging_close may wait */
	if (r == 0) {
		w->nlogged++;
		w->counts.commits++;
		w->counts.loop_commits++;
		*w->done_tail = b;
		w->done_tail = &b->next;
		w->finished++;
	} else {
		*w->queue_tail = b;
		w->queue_tail = &b->next;
		w->queued_bytes += b->ops.len + b->names.len;
	}
	uv_mutex_unlock(&w->mu);
	if (r == 0)
		report(w);
}

void jwriter_submit(struct jwriter *w, struct jwriter_batch *b)
{
	uv_mutex_lock(&w->mu);
	if (inline_ok(w, b)) {
		run_inline(w, b);
		return;
	}
	if (log_ok(w, b)) {
		run_logged(w, b);
		return;
	}
	while (w->queued_bytes > JWRITER_QUEUE_MAX && w->finished < w->submitted)
		uv_cond_wait(&w->idle, &w->mu);
	b->next = NULL;
	*w->queue_tail = b;
	w->queue_tail = &b->next;
	w->queued_bytes += b->ops.len + b->names.len;
	w->submitted++;
	uv_cond_signal(&w->work);
	uv_mutex_unlock(&w->mu);
}

void jwriter_flush(struct jwriter *w)
{
	uv_mutex_lock(&w->mu);
	while (w->finished < w->submitted)
		uv_cond_wait(&w->idle, &w->mu);
	uv_mutex_unlock(&w->mu);
	report(w);
}

static void request(struct jwriter *w, bool *flag)
{
	uv_mutex_lock(&w->mu);
	*flag = true;
	uv_cond_signal(&w->work);
	uv_mutex_unlock(&w->mu);
}

bool jwriter_sync(struct jwriter *w)
{
	bool busy, ask;

	/* The last request's commit takes every batch submitted before it (the
	 * thread runs its queue first): with nothing submitted since, the
	 * thread is left asleep, unless that commit failed and must be tried
	 * again (commit_failed is read only while nobody runs). */
	uv_mutex_lock(&w->mu);
	busy = w->running || w->want_sync;
	ask = w->submitted != w->sync_mark || (!busy && w->commit_failed);
	if (ask) {
		w->sync_mark = w->submitted;
		w->want_sync = true;
		uv_cond_signal(&w->work);
	}
	uv_mutex_unlock(&w->mu);
	return ask || busy;
}

void jwriter_release(struct jwriter *w)
{
	request(w, &w->want_release);
}

void jwriter_set_commit_hook(struct jwriter *w, void (*fn)(void *ctx), void *ctx)
{
	uv_mutex_lock(&w->mu);
	w->commit_hook = fn;
	w->commit_hook_ctx = ctx;
	uv_mutex_unlock(&w->mu);
}

bool jwriter_busy(const struct jwriter *w)
{
	return w && w->reported < w->submitted;
}

/* ---- life --------------------------------------------------------------- */

int jwriter_start(uv_loop_t *loop, const struct jwriter_config *cfg,
		  const struct jwriter_events *ev, struct jwriter **ret)
{
	struct jwriter *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->cfg = *cfg;
	w->ev = *ev;
	w->queue_tail = &w->queue;
	w->done_tail = &w->done;
	crdt_buf_init(&w->retry, 0);
	crdt_buf_init(&w->payload, 0);
	crdt_buf_init(&w->pending, 0);
	crdt_buf_init(&w->logged, 0);
	w->seq = cfg->wal_seq;
	room_measure(w);
	if ((r = uv_mutex_init(&w->mu)) < 0)
		goto fail_mutex;
	if ((r = uv_cond_init(&w->work)) < 0)
		goto fail_work;
	if ((r = uv_cond_init(&w->idle)) < 0)
		goto fail_idle;
	if ((r = uv_async_init(loop, &w->async, async_cb)) < 0)
		goto fail_async;
	w->async.data = w;
	if ((r = uv_thread_create(&w->thread, thread_main, w)) < 0) {
		/* the handle is freed by its close callback */
		w->stop = true;
		jwriter_close(w);
		return r;
	}
	/* the open transaction first, so the loop can commit into it at once */
	uv_mutex_lock(&w->mu);
	while (!w->ready)
		uv_cond_wait(&w->idle, &w->mu);
	uv_mutex_unlock(&w->mu);
	*ret = w;
	return 0;
fail_async:
	uv_cond_destroy(&w->idle);
fail_idle:
	uv_cond_destroy(&w->work);
fail_work:
	uv_mutex_destroy(&w->mu);
fail_mutex:
	free(w);
	return r;
}

static void close_cb(uv_handle_t *h)
{
	struct jwriter *w = h->data;

	while (w->spare) {
		struct jwriter_batch *b = w->spare;
		w->spare = b->next;
		batch_free(b);
	}
	crdt_buf_done(&w->retry);
	crdt_buf_done(&w->payload);
	crdt_buf_done(&w->pending);
	crdt_buf_done(&w->logged);
	jops_scratch_done(&w->sort);
	uv_cond_destroy(&w->idle);
	uv_cond_destroy(&w->work);
	uv_mutex_destroy(&w->mu);
	free(w);
}

void jwriter_close(struct jwriter *w)
{
	if (!w)
		return;
	if (!w->stop) { /* a running thread: drain, commit, sync and join it */
		uv_mutex_lock(&w->mu);
		w->stop = true;
		uv_cond_signal(&w->work);
		uv_mutex_unlock(&w->mu);
		uv_thread_join(&w->thread);
		report(w);
	}
	uv_close((uv_handle_t *)&w->async, close_cb);
}
