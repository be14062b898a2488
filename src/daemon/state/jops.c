/* A run of the journal's LMDB ops: check and apply (state/jops.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "be.h"
#include "crdt/sort.h"
#include "state/jops.h"

/* The bytes an entry of a key and a small value takes in a leaf: its node
 * header and its pointer in the page besides the key and value.  A value
 * over half a page goes to pages of its own (LMDB's overflow pages). */
#define NODE_BYTES 16

int jops_check(const uint8_t *p, size_t n)
{
	size_t off = 0;

	while (off < n) {
		struct jop_head h;
		if (n - off < sizeof(h))
			return -EBADMSG;
		memcpy(&h, p + off, sizeof(h));
		off += sizeof(h);
		if (h.kind < JOP_PUT || h.kind > JOP_DROP_LOG || h.table >= JWRITER_TABLES ||
		    h.klen > n - off || h.vlen > n - off - h.klen ||
		    (h.kind == JOP_DROP_LOG && (h.klen != 16 || h.table != JWRITER_LOG)) ||
		    (h.kind != JOP_PUT && h.vlen) || h.klen == 0)
			return -EBADMSG;
		off += (size_t)h.klen + h.vlen;
	}
	return 0;
}

/* Delete slot @sid's journal records below sequence @below. */
static int drop_log(MDB_txn *txn, MDB_dbi dbi, uint64_t sid, uint64_t below)
{
	uint8_t first[16];
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		return rc;
	put_be64(first, sid);
	put_be64(first + 8, 0);
	key = (MDB_val){ sizeof(first), first };
	/* after a delete the cursor already sits on the next record, and
	 * LMDB's MDB_NEXT returns that one */
	for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		if (key.mv_size != 16 || get_be64(key.mv_data) != sid ||
		    get_be64((uint8_t *)key.mv_data + 8) >= below) {
			rc = MDB_NOTFOUND; /* past this slot's records */
			break;
		}
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static const char *const op_what[JWRITER_TABLES] = { "meta", "name record", "snapshot",
						     "journal record" };

static int del(MDB_txn *txn, MDB_dbi dbi, const uint8_t *k, size_t klen)
{
	MDB_val key = { klen, (void *)k };
	int rc = mdb_del(txn, dbi, &key, NULL);

	return rc == MDB_NOTFOUND ? 0 : rc;
}

int jops_apply(MDB_txn *txn, const MDB_dbi dbi[JWRITER_TABLES], const uint8_t *p, size_t n,
	       const char **what)
{
	size_t off = 0;
	int rc = 0;

	while (rc == 0 && off < n) {
		struct jop_head h;
		memcpy(&h, p + off, sizeof(h));
		const uint8_t *k = p + off + sizeof(h);
		off += sizeof(h) + h.klen + h.vlen;
		if (h.kind == JOP_DROP_LOG) {
			*what = "dropping the journal";
			rc = drop_log(txn, dbi[JWRITER_LOG], get_be64(k), get_be64(k + 8));
		} else if (h.kind == JOP_DEL) {
			*what = "deleting a record";
			rc = del(txn, dbi[h.table], k, h.klen);
		} else {
			MDB_val key = { h.klen, (void *)k }, val = { h.vlen, (void *)(k + h.klen) };
			*what = op_what[h.table];
			rc = mdb_put(txn, dbi[h.table], &key, &val, 0);
		}
	}
	return rc;
}

/* ---- in key order ------------------------------------------------------- */

/* One op of the run, with its key's first 16 bytes as two numbers (zero
 * padded) so that most comparisons need no memcmp.  A drop sorts under its
 * slot's 8-byte id: before every record of the slot (16-byte keys). */
struct sop {
	uint64_t p0, p1;
	const uint8_t *k;
	uint32_t klen, vlen;
	uint32_t idx; /* place in the run */
	uint8_t table, kind;
};

static uint64_t prefix(const uint8_t *k, size_t len)
{
	uint8_t b[8] = { 0 };

	memcpy(b, k, len < 8 ? len : 8);
	return get_be64(b);
}

/* LMDB's order of keys (bytes, then the shorter first), then run order. */
static inline int sop_cmp(const struct sop *a, const struct sop *b)
{
	size_t min;
	int c;

	if (a->table != b->table)
		return a->table < b->table ? -1 : 1;
	if (a->p0 != b->p0)
		return a->p0 < b->p0 ? -1 : 1;
	if (a->p1 != b->p1)
		return a->p1 < b->p1 ? -1 : 1;
	min = a->klen < b->klen ? a->klen : b->klen;
	if (min > 16 && (c = memcmp(a->k + 16, b->k + 16, min - 16)) != 0)
		return c;
	if (a->klen != b->klen)
		return a->klen < b->klen ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static inline bool sop_lt(const struct sop *a, const struct sop *b)
{
	return sop_cmp(a, b) < 0;
}

/* Every entry's key is distinct (run order breaks ties); the comparison
 * inlined: qsort's call a comparison took half the time of applying a
 * commit's ops. */
SORT_DEFINE(sop_sort, struct sop, sop_lt)

static bool same_key(const struct sop *a, const struct sop *b)
{
	return a->table == b->table && a->klen == b->klen && a->p0 == b->p0 && a->p1 == b->p1 &&
	       (a->klen <= 16 || memcmp(a->k + 16, b->k + 16, a->klen - 16) == 0);
}

/* Whether a drop of @d[0..nd) (one slot's, in run order) after op @idx
 * removes record number @seq. */
static bool dropped(const struct sop *d, size_t nd, uint32_t idx, uint64_t seq)
{
	for (size_t i = nd; i-- > 0 && d[i].idx > idx;)
		if (seq < get_be64(d[i].k + 8))
			return true;
	return false;
}

void jops_scratch_done(struct jops_scratch *sc)
{
	free(sc->v);
	*sc = (struct jops_scratch){ 0 };
}

void jops_scratch_trim(struct jops_scratch *sc, size_t keep_bytes)
{
	if (sc->cap * sizeof(struct sop) > keep_bytes && sc->used < sc->cap / 4)
		jops_scratch_done(sc);
}

static int sorted_index(const uint8_t *p, size_t n, struct jops_scratch *sc, struct sop **ret,
			size_t *ret_n)
{
	struct sop *v;
	size_t off = 0, cnt = 0;

	while (off < n) {
		struct jop_head h;
		memcpy(&h, p + off, sizeof(h));
		off += sizeof(h) + h.klen + h.vlen;
		cnt++;
	}
	if (cnt > UINT32_MAX)
		return ENOMEM;
	if (cnt > sc->cap || !sc->v) {
		size_t cap = cnt > 2 * sc->cap ? cnt : 2 * sc->cap;
		jops_scratch_done(sc);
		if (!(sc->v = malloc((cap ? cap : 1) * sizeof(*v))))
			return ENOMEM;
		sc->cap = cap ? cap : 1;
	}
	v = sc->v;
	sc->used = cnt;
	off = 0;
	for (size_t i = 0; i < cnt; i++) {
		struct jop_head h;
		memcpy(&h, p + off, sizeof(h));
		const uint8_t *k = p + off + sizeof(h);
		uint32_t klen = h.kind == JOP_DROP_LOG ? 8 : h.klen;
		v[i] = (struct sop){
			.p0 = prefix(k, klen),
			.p1 = klen > 8 ? prefix(k + 8, klen - 8) : 0,
			.k = k, .klen = klen, .vlen = h.vlen, .idx = (uint32_t)i,
			.table = h.table, .kind = h.kind,
		};
		off += sizeof(h) + h.klen + h.vlen;
	}
	sop_sort(v, cnt);
	*ret = v;
	*ret_n = cnt;
	return 0;
}

int jops_apply_sorted(MDB_txn *txn, const MDB_dbi dbi[JWRITER_TABLES], const uint8_t *p,
		      size_t n, struct jops_scratch *sc, const char **what)
{
	MDB_cursor *cur[JWRITER_TABLES] = { 0 };
	const struct sop *drops = NULL;
	struct sop *v;
	size_t cnt, nd = 0;
	int rc;

	*what = "memory";
	if ((rc = sorted_index(p, n, sc, &v, &cnt)) != 0)
		return rc;
	for (size_t i = 0; rc == 0 && i < cnt; i++) {
		const struct sop *s = &v[i];
		if (s->kind == JOP_DROP_LOG) {
			/* the slot's drops, in run order; the records LMDB has
			 * below the highest go at once (they were all put before
			 * every op of the run) */
			uint64_t below = 0;
			size_t j = i;
			for (; j < cnt && v[j].kind == JOP_DROP_LOG && v[j].p0 == s->p0; j++)
				if (get_be64(v[j].k + 8) > below)
					below = get_be64(v[j].k + 8);
			drops = s;
			nd = j - i;
			i = j - 1;
			*what = "dropping the journal";
			rc = drop_log(txn, dbi[JWRITER_LOG], s->p0, below);
			continue;
		}
		if (i + 1 < cnt && same_key(s, &v[i + 1]))
			continue; /* a later op on the key decides */
		if (s->table == JWRITER_LOG && s->klen == 16 && drops && drops->p0 == s->p0 &&
		    dropped(drops, nd, s->idx, s->p1))
			continue;
		if (s->kind == JOP_DEL) {
			*what = "deleting a record";
			rc = del(txn, dbi[s->table], s->k, s->klen);
			continue;
		}
		MDB_val key = { s->klen, (void *)s->k }, val = { s->vlen, (void *)(s->k + s->klen) };
		*what = op_what[s->table];
		if (!cur[s->table] && (rc = mdb_cursor_open(txn, dbi[s->table], &cur[s->table])) != 0)
			break;
		rc = mdb_cursor_put(cur[s->table], &key, &val, 0);
	}
	for (int t = 0; t < JWRITER_TABLES; t++)
		if (cur[t])
			mdb_cursor_close(cur[t]);
	return rc;
}

uint64_t jops_pages(const uint8_t *p, size_t n, size_t psize)
{
	uint64_t pages = 0, bytes = 0;
	size_t off = 0;

	while (off < n) {
		struct jop_head h;
		memcpy(&h, p + off, sizeof(h));
		off += sizeof(h) + h.klen + h.vlen;
		if (h.kind != JOP_PUT)
			continue; /* a delete frees; its copies are the store's pages */
		if (h.vlen > psize / 2) { /* pages of its own, and its node */
			pages += (h.vlen + psize - 1) / psize;
			bytes += h.klen + NODE_BYTES + 8;
		} else {
			bytes += h.klen + h.vlen + NODE_BYTES;
		}
	}
	/* A page a split made is half full: it splits again only after half a
	 * page more went into it, so the leaves' splits are at most 2 bytes /
	 * psize beyond one a page the store has (room_measure counts those),
	 * and the branches' at most as many again. */
	return pages + 4 * ((bytes + psize - 1) / psize);
}
