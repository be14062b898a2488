/* The OR-Map's canonical encoding, its decoder (which accepts nothing
 * else), the split into datagram-sized pieces, equality and fingerprint. */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "../fp.h"
#include "internal.h"

/* ---- the replica numbering of the wire --------------------------------------- */

struct wmap {
	uint32_t *wire;  /* map index -> wire index, NO_REP if unused */
	uint32_t *order; /* wire index -> map index */
	uint32_t n;
};

static int rid_qcmp_ctx(const struct crdt_ormap *m, uint32_t a, uint32_t b)
{
	return memcmp(m->reps[a].rid.b, m->reps[b].rid.b, CRDT_RID_LEN);
}

/* The replicas the encoding names (a context, a dot, a counter row), in
 * ascending id order. */
static int wmap_build(const struct crdt_ormap *m, struct wmap *w)
{
	size_t nr = m->nreps ? m->nreps : 1;

	w->n = 0;
	w->wire = malloc(nr * sizeof(*w->wire));
	w->order = malloc(nr * sizeof(*w->order));
	if (!w->wire || !w->order) {
		free(w->wire);
		free(w->order);
		return CRDT_ENOMEM;
	}
	for (uint32_t i = 0; i < m->nreps; i++)
		w->wire[i] = m->reps[i].n ? 0 : NO_REP;
	for (uint32_t i = 0; m->tab.s && i < m->tab.cap; i++) {
		struct ment *one, *const *v;
		uint32_t n;
		if (!et_used(&m->tab.s[i]))
			continue;
		n = fld_ents(m->tab.s[i].pay, &one, &v);
		for (uint32_t x = 0; x < n; x++) {
			w->wire[v[x]->ri] = 0;
			for (uint32_t y = 0; v[x]->kind == ENT_CTR && y < v[x]->len; y++)
				w->wire[ent_rows(v[x])[y].ri] = 0;
		}
	}
	for (uint32_t i = 0; m->base.s && i < m->base.cap; i++) {
		const struct ment *b = (const struct ment *)(uintptr_t)m->base.s[i].pay;
		for (uint32_t y = 0; et_used(&m->base.s[i]) && y < b->len; y++)
			w->wire[ent_rows(b)[y].ri] = 0;
	}
	for (uint32_t i = 0; i < m->nreps; i++) {
		if (w->wire[i] == NO_REP)
			continue;
		/* insertion into the sorted order: replicas are few */
		uint32_t k = w->n++;
		while (k > 0 && rid_qcmp_ctx(m, w->order[k - 1], i) > 0) {
			w->order[k] = w->order[k - 1];
			k--;
		}
		w->order[k] = i;
	}
	for (uint32_t k = 0; k < w->n; k++)
		w->wire[w->order[k]] = k;
	return 0;
}

static void wmap_done(struct wmap *w)
{
	free(w->wire);
	free(w->order);
}

/* ---- encode ------------------------------------------------------------------ */

static void sort_ents(struct ment **v, uint32_t n, const uint32_t *wire)
{
	for (uint32_t i = 1; i < n; i++) {
		struct ment *t = v[i];
		uint32_t j = i;
		while (j > 0 && (wire[v[j - 1]->ri] > wire[t->ri] ||
				 (wire[v[j - 1]->ri] == wire[t->ri] && v[j - 1]->ctr > t->ctr))) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = t;
	}
}

static void put_rows(struct crdt_buf *b, const struct ment *e, const uint32_t *wire);

static void put_ent(struct crdt_buf *b, const struct ment *e, const uint32_t *wire)
{
	crdt_buf_put_varint(b, wire[e->ri]);
	crdt_buf_put_varint(b, e->ctr);
	crdt_buf_put_u8(b, e->kind);
	if (e->kind == ENT_REG) {
		crdt_buf_put_varint(b, e->ms);
		crdt_buf_put_varint(b, e->lc);
		crdt_buf_put_bytes(b, e->val, e->len);
		return;
	}
	put_rows(b, e, wire);
}

/* A counter's (or a baseline's) rows: their count, then each in wire order. */
static void put_rows(struct crdt_buf *b, const struct ment *e, const uint32_t *wire)
{
	crdt_buf_put_varint(b, e->len);
	/* rows in wire order: pick the next smallest each time (rows are few) */
	for (uint32_t k = 0, last = 0; k < e->len; k++) {
		const struct mrow *best = NULL;
		for (uint32_t y = 0; y < e->len; y++) {
			const struct mrow *r = &ent_rows(e)[y];
			if ((k == 0 || wire[r->ri] > last) && (!best || wire[r->ri] < wire[best->ri]))
				best = r;
		}
		last = wire[best->ri];
		crdt_buf_put_varint(b, last);
		crdt_buf_put_varint(b, best->p);
		crdt_buf_put_varint(b, best->n);
	}
}

int crdt_ormap_encode(const struct crdt_ormap *m, struct crdt_buf *b)
{
	struct wmap w;
	struct ment **tmp = NULL;
	size_t tcap = 0;
	uint32_t nctx = 0;
	int r;

	if ((r = wmap_build(m, &w)) < 0)
		return r;
	crdt_codec_put_header(b, CRDT_ORMAP);
	crdt_buf_put_varint(b, w.n);
	for (uint32_t k = 0; k < w.n; k++)
		crdt_buf_put(b, m->reps[w.order[k]].rid.b, CRDT_RID_LEN);
	for (uint32_t k = 0; k < w.n; k++)
		nctx += m->reps[w.order[k]].n > 0;
	crdt_buf_put_varint(b, nctx);
	for (uint32_t k = 0; k < w.n; k++) {
		const struct mrep *p = &m->reps[w.order[k]];
		if (!p->n)
			continue;
		crdt_buf_put_varint(b, k);
		crdt_buf_put_varint(b, p->n);
		for (uint32_t i = 0; i < p->n; i++) {
			crdt_buf_put_varint(b, i == 0 ? p->iv[0].lo : p->iv[i].lo - p->iv[i - 1].hi - 2);
			crdt_buf_put_varint(b, p->iv[i].hi - p->iv[i].lo);
		}
	}
	crdt_buf_put_varint(b, m->tab.count);
	/* fields and baselines in elemtab order: each table's own */
	for (size_t i = et_walk(&m->tab, 0); i < et_cap(&m->tab); i = et_walk(&m->tab, i + 1)) {
		const struct et_slot *s = &m->tab.s[i];
		struct ment *one, *const *v;
		uint32_t n = fld_ents(s->pay, &one, &v);

		if (tcap < n) {
			struct ment **t = realloc(tmp, n * sizeof(*t));
			if (!t) {
				r = CRDT_ENOMEM;
				goto out;
			}
			tmp = t;
			tcap = n;
		}
		memcpy(tmp, v, n * sizeof(*tmp));
		sort_ents(tmp, n, w.wire);
		crdt_buf_put_bytes(b, et_key(s), et_len(s));
		crdt_buf_put_varint(b, n);
		for (uint32_t x = 0; x < n; x++)
			put_ent(b, tmp[x], w.wire);
	}
	/* the baselines */
	crdt_buf_put_varint(b, m->base.count);
	if (m->base.count) {
		for (size_t i = et_walk(&m->base, 0); i < et_cap(&m->base);
		     i = et_walk(&m->base, i + 1)) {
			const struct et_slot *s = &m->base.s[i];
			crdt_buf_put_bytes(b, et_key(s), et_len(s));
			put_rows(b, (const struct ment *)(uintptr_t)s->pay, w.wire);
		}
	}
	r = b->err;
out:
	free(tmp);
	wmap_done(&w);
	return r;
}

/* ---- decode ------------------------------------------------------------------ */

static int get_ctx(struct crdt_cur *c, struct crdt_ormap *m, uint8_t *used)
{
	size_t nctx;

	if (crdt_cur_count(c, 3, &nctx) < 0 || nctx > m->nreps)
		return CRDT_EBADMSG;
	for (size_t k = 0; k < nctx; k++) {
		uint64_t idx, lo, d, prev = 0;
		size_t n;
		struct mrep *p;

		if (crdt_cur_varint(c, &idx) < 0 || idx >= m->nreps ||
		    (k > 0 && idx <= prev) || crdt_cur_count(c, 2, &n) < 0 || n == 0)
			return CRDT_EBADMSG;
		prev = idx;
		p = &m->reps[idx];
		if (p->n || !(p->iv = malloc(n * sizeof(*p->iv))))
			return p->n ? CRDT_EBADMSG : CRDT_ENOMEM;
		p->cap = (uint32_t)n;
		for (size_t i = 0; i < n; i++) {
			if (crdt_cur_varint(c, &lo) < 0 || crdt_cur_varint(c, &d) < 0)
				return CRDT_EBADMSG;
			if (i == 0) {
				if (lo == 0)
					return CRDT_EBADMSG;
			} else {
				uint64_t ph = p->iv[i - 1].hi;
				/* non-adjacent: at least one counter between */
				if (ph > UINT64_MAX - 2 || lo > UINT64_MAX - 2 - ph)
					return CRDT_EBADMSG;
				lo += ph + 2;
			}
			if (d > UINT64_MAX - lo)
				return CRDT_EBADMSG;
			p->iv[i] = (struct ivl){ lo, lo + d };
			p->n++;
		}
		used[idx] = 1;
	}
	return 0;
}

/* A counter's rows (put_rows): ascending replicas, none all 0. */
static int get_rows(struct crdt_cur *c, const struct crdt_ormap *m, uint8_t *used,
		    struct ment **ret)
{
	struct ment *e;
	size_t n;

	if (crdt_cur_count(c, 3, &n) < 0 || n > m->nreps)
		return CRDT_EBADMSG;
	if (!(e = malloc(sizeof(struct ment) + n * sizeof(struct mrow))))
		return CRDT_ENOMEM;
	memset(e, 0, sizeof(*e));
	e->kind = ENT_CTR;
	for (size_t y = 0; y < n; y++) {
		struct mrow *r = &ent_rows(e)[y];
		uint64_t x;
		if (crdt_cur_varint(c, &x) < 0 || x >= m->nreps ||
		    (y > 0 && x <= ent_rows(e)[y - 1].ri) || crdt_cur_varint(c, &r->p) < 0 ||
		    crdt_cur_varint(c, &r->n) < 0 || (r->p == 0 && r->n == 0)) {
			free(e);
			return CRDT_EBADMSG;
		}
		r->ri = (uint32_t)x;
		used[x] = 1;
	}
	e->len = (uint32_t)n;
	*ret = e;
	return 0;
}

static int get_ent(struct crdt_cur *c, struct crdt_ormap *m, uint8_t *used, struct ment **ret)
{
	uint64_t ri, ctr, a, bb;
	uint8_t kind;
	const uint8_t *val;
	size_t len;
	struct ment *e;

	if (crdt_cur_varint(c, &ri) < 0 || ri >= m->nreps || crdt_cur_varint(c, &ctr) < 0 ||
	    ctr == 0 || !ctx_has(m, (uint32_t)ri, ctr) || crdt_cur_u8(c, &kind) < 0)
		return CRDT_EBADMSG;
	if (kind == ENT_REG) {
		if (crdt_cur_varint(c, &a) < 0 || crdt_cur_varint(c, &bb) < 0 || bb > UINT32_MAX ||
		    crdt_cur_bytes(c, &val, &len) < 0 || len > ET_MAX_LEN)
			return CRDT_EBADMSG;
		if (!(e = malloc(offsetof(struct ment, val) + len < sizeof(struct ment)
					 ? sizeof(struct ment)
					 : offsetof(struct ment, val) + len)))
			return CRDT_ENOMEM;
		memset(e, 0, sizeof(*e));
		e->ms = a;
		e->lc = (uint32_t)bb;
		e->len = (uint32_t)len;
		if (len)
			memcpy(e->val, val, len);
	} else if (kind == ENT_CTR) {
		int r = get_rows(c, m, used, &e);
		if (r < 0)
			return r;
	} else {
		return CRDT_EBADMSG;
	}
	e->kind = kind;
	e->ri = (uint32_t)ri;
	e->ctr = ctr;
	used[ri] = 1;
	*ret = e;
	return 0;
}

struct ldot {
	uint32_t ri;
	uint64_t ctr;
};

static int ldot_cmp(const void *x, const void *y)
{
	const struct ldot *a = x, *b = y;
	if (a->ri != b->ri)
		return a->ri < b->ri ? -1 : 1;
	return (a->ctr > b->ctr) - (a->ctr < b->ctr);
}

static int live_dots(const struct crdt_ormap *m, struct ldot **ret, size_t *ret_n);

/* No replica makes one dot twice: two entries with one dot (in two fields)
 * would merge as one write, and a split would lose one of them. */
static int dots_unique(const struct crdt_ormap *m)
{
	struct ldot *d;
	size_t n;
	int r;

	if ((r = live_dots(m, &d, &n)) < 0)
		return r;
	for (size_t i = 1; i < n && r == 0; i++)
		if (ldot_cmp(&d[i - 1], &d[i]) == 0)
			r = CRDT_EBADMSG;
	free(d);
	return r;
}

int crdt_ormap_decode(const uint8_t *buf, size_t len, struct crdt_ormap **ret)
{
	struct crdt_cur c;
	struct crdt_ormap *m = NULL;
	const uint8_t *rids, *key;
	uint8_t *used = NULL;
	struct ment **ents = NULL;
	size_t nr, nf, klen;
	struct et_seq seq = ET_SEQ_INIT;
	int r;

	crdt_cur_init(&c, buf, len);
	if ((r = crdt_codec_get_header(&c, CRDT_ORMAP)) < 0)
		return r;
	if (crdt_codec_get_rids(&c, &rids, &nr) < 0)
		return CRDT_EBADMSG;
	r = CRDT_ENOMEM;
	if (!(m = crdt_ormap_new()) || !(used = calloc(nr + 1, 1)))
		goto out;
	for (size_t i = 0; i < nr; i++) {
		struct crdt_rid id;
		memcpy(id.b, rids + i * CRDT_RID_LEN, CRDT_RID_LEN);
		/* ascending and unique (get_rids), so each is new: index i */
		if (rep_get(m, &id) == NO_REP)
			goto out;
	}
	if ((r = get_ctx(&c, m, used)) < 0)
		goto out;
	r = CRDT_EBADMSG;
	if (crdt_cur_count(&c, 5, &nf) < 0)
		goto out;
	for (size_t f = 0; f < nf; f++) {
		size_t ne, k = 0;
		uint32_t h = 0;

		r = CRDT_EBADMSG;
		if (crdt_cur_bytes(&c, &key, &klen) < 0 || klen > ET_MAX_LEN ||
		    !et_seq_next(&seq, &m->tab, key, klen, h = et_hash(key, klen)) ||
		    crdt_cur_count(&c, 3, &ne) < 0 || ne == 0)
			goto out;
		if (!(ents = malloc(ne * sizeof(*ents)))) {
			r = CRDT_ENOMEM;
			goto out;
		}
		for (; k < ne; k++) {
			if ((r = get_ent(&c, m, used, &ents[k])) < 0)
				break;
			/* strictly ascending dots: unique, one order */
			if (k > 0 && (ents[k - 1]->ri > ents[k]->ri ||
				      (ents[k - 1]->ri == ents[k]->ri && ents[k - 1]->ctr >= ents[k]->ctr))) {
				free(ents[k]);
				r = CRDT_EBADMSG;
				break;
			}
		}
		if (k == ne)
			r = fld_insert(m, key, klen, h, ents, (uint32_t)ne);
		if (r < 0) {
			while (k-- > 0)
				free(ents[k]);
			goto out;
		}
		free(ents);
		ents = NULL;
	}
	/* the baselines: distinct fields, at least one row each */
	{
		seq = (struct et_seq)ET_SEQ_INIT;
		r = CRDT_EBADMSG;
		if (crdt_cur_count(&c, 2, &nf) < 0)
			goto out;
		/* nf is capped by the bytes left (2 a baseline at least) */
		if ((r = base_reserve(m, nf)) < 0)
			goto out;
		for (size_t f = 0; f < nf; f++) {
			struct ment *b;
			r = CRDT_EBADMSG;
			if (crdt_cur_bytes(&c, &key, &klen) < 0 || klen > ET_MAX_LEN ||
			    !et_seq_next(&seq, &m->base, key, klen, et_hash(key, klen)))
				goto out;
			if ((r = get_rows(&c, m, used, &b)) < 0)
				goto out;
			r = b->len ? base_join(m, key, klen, ent_rows(b), b->len) : CRDT_EBADMSG;
			free(b);
			if (r < 0)
				goto out;
		}
	}
	r = c.left ? CRDT_EBADMSG : 0;
	/* a replica nothing names would give the state a second encoding */
	for (size_t i = 0; r == 0 && i < nr; i++)
		if (!used[i])
			r = CRDT_EBADMSG;
	if (r == 0)
		r = dots_unique(m);
out:
	free(ents);
	free(used);
	if (r < 0) {
		crdt_ormap_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

/* ---- equality, fingerprint, knowledge ------------------------------------------ */

bool crdt_ormap_equal(const struct crdt_ormap *a, const struct crdt_ormap *b)
{
	struct crdt_buf x, y;
	bool eq;

	if (a == b)
		return true;
	if (a->tab.count != b->tab.count)
		return false;
	crdt_buf_init(&x, 0);
	crdt_buf_init(&y, 0);
	/* the encoding is canonical; without memory, never claim equality */
	eq = crdt_ormap_encode(a, &x) == 0 && crdt_ormap_encode(b, &y) == 0 && x.len == y.len &&
	     memcmp(x.data, y.data, x.len) == 0;
	crdt_buf_done(&x);
	crdt_buf_done(&y);
	return eq;
}

/* Parts: each context interval, each entry (with its field and value),
 * each baseline.  The entries' and baselines' sums are kept by the map
 * (internal.h: fp_ok) and computed here only when it has none; the
 * context's are summed at every call. */
uint64_t crdt_ormap_fingerprint(const struct crdt_ormap *cm)
{
	/* the map itself is not changed: only its cache of the fields' parts */
	struct crdt_ormap *m = (struct crdt_ormap *)cm;
	uint64_t sum = 0, ents = 0, base = 0, stack[16], *fr = stack;

	if (m->nreps > 16 && !(fr = malloc(m->nreps * sizeof(*fr))))
		return 1; /* not 0; equal states still differ from it */
	for (uint32_t i = 0; i < m->nreps; i++) {
		fr[i] = fp_rid(&m->reps[i].rid);
		for (uint32_t k = 0; k < m->reps[i].n; k++)
			sum += fp_pair(fp_pair(fr[i] ^ FP_MAP_CTX, m->reps[i].iv[k].lo),
				       m->reps[i].iv[k].hi);
	}
	if (m->fp_ok)
		goto out;
	for (uint32_t i = 0; m->tab.s && i < m->tab.cap; i++) {
		const struct et_slot *s = &m->tab.s[i];
		struct ment *one, *const *v;
		uint32_t n;
		uint64_t kh;

		if (!et_used(s))
			continue;
		kh = fp_field(et_key(s), et_len(s));
		n = fld_ents(s->pay, &one, &v);
		for (uint32_t x = 0; x < n; x++)
			ents += fp_ent(m, fr, kh, v[x]);
	}
	for (uint32_t i = 0; m->base.s && i < m->base.cap; i++) {
		const struct et_slot *s = &m->base.s[i];
		if (et_used(s))
			base += fp_baseline(m, fr, fp_field(et_key(s), et_len(s)),
					    (const struct ment *)(uintptr_t)s->pay);
	}
	m->fp_ents = ents;
	m->fp_base = base;
	m->fp_ok = true;
out:
	if (fr != stack)
		free(fr);
	return fp_finish(CRDT_ORMAP, sum + m->fp_ents + m->fp_base);
}

static uint64_t ctx_top(const struct crdt_ormap *m, const struct crdt_rid *rid)
{
	uint32_t ri = m ? rep_find(m, rid) : NO_REP;
	return ri == NO_REP || !m->reps[ri].n ? 0 : m->reps[ri].iv[m->reps[ri].n - 1].hi;
}

bool crdt_ormap_knows_more_of(const struct crdt_ormap *remote, const struct crdt_ormap *local,
			      const struct crdt_rid *rid)
{
	return ctx_top(remote, rid) > ctx_top(local, rid);
}

/* ---- split -------------------------------------------------------------------- */

/* Upper bounds of what a piece costs: its header and three counts (of
 * replicas, contexts and fields: below 2^21 each); a replica (id, wire
 * index, interval count). */
#define PIECE_FIXED (2 + 3 * 3)
#define PIECE_REP(ri_len) (CRDT_RID_LEN + (ri_len) + 3)

/* Replica indices of @m in ascending id order, into @ord (an insertion
 * sort: a map names a few replicas). */
static void rid_order(const struct crdt_ormap *m, uint32_t *ord)
{
	for (uint32_t i = 0; i < m->nreps; i++) {
		uint32_t k = i;
		for (; k > 0 && memcmp(m->reps[ord[k - 1]].rid.b, m->reps[i].rid.b, CRDT_RID_LEN) > 0; k--)
			ord[k] = ord[k - 1];
		ord[k] = i;
	}
}

/* A piece being filled: references into the source map (which does not
 * change during a call), written out in the canonical encoding when it is
 * full (piece_flush), no map built for it. */
struct pent { /* an entry of a field (those of one field group at flush) */
	const struct et_slot *s;
	const struct ment *e;
	uint32_t w; /* its replica's wire index, set at flush */
};

struct pbase {
	const struct et_slot *s;
	const struct ment *b;
};

struct pivl {
	uint32_t ri; /* source replica; its wire index once flushing */
	uint64_t lo, hi;
};

struct piece {
	const struct crdt_ormap *m;
	uint32_t *pmap; /* source replica -> PIN in the piece, else NO_REP;
			 * its wire index while flushing */
	uint32_t *used; /* the source replicas in the piece */
	uint32_t nused;
	uint32_t *ord;  /* the source replicas in id order (the wire's) */
	struct pent *f;
	size_t nf, cf;
	struct pbase *bs;
	size_t nbs, cbs;
	struct pivl *iv; /* the context, in any order: sorted at flush */
	size_t niv, civ;
	bool iv_sorted; /* appended in (replica id, lo) order so far */
	size_t est;
	bool any;
	struct crdt_buf b;
	crdt_piece_cb cb;
	void *ctx;
	size_t max;
	bool sent;
	size_t ri_len; /* bytes of the largest replica index */
	/* crdt_ormap_pieces: the cursor a piece's summary goes in at its
	 * flush, when it is one of the cut's (entries and the context of their
	 * dots, no baseline): its live dots, their piece_dot_hash sum, and the
	 * last entry's replica with its fp_rid */
	struct crdt_cursor *cur;
	bool cutting;
	uint64_t sdots, shash, rh;
	uint32_t rh_ri;
};
#define PIN 0

/* Room for one more of *@n items of @size in *@v (capacity *@cap). */
static int room_for(void *v, size_t *cap, size_t n, size_t size)
{
	void **pv = v, *x;
	size_t nc = *cap ? 2 * *cap : 64;

	if (n < *cap)
		return 0;
	if (!(x = realloc(*pv, nc * size)))
		return CRDT_ENOMEM;
	*pv = x;
	*cap = nc;
	return 0;
}

static void piece_reset(struct piece *pc)
{
	for (uint32_t k = 0; k < pc->nused; k++)
		pc->pmap[pc->used[k]] = NO_REP;
	pc->nused = 0;
	pc->nf = pc->nbs = pc->niv = 0;
	pc->sdots = pc->shash = 0;
	pc->iv_sorted = true;
	pc->est = PIECE_FIXED;
	pc->any = false;
}

static int pivl_cmp(const void *x, const void *y)
{
	const struct pivl *a = x, *b = y;

	if (a->ri != b->ri)
		return a->ri < b->ri ? -1 : 1;
	return (a->lo > b->lo) - (a->lo < b->lo);
}

/* Elemtab order of the fields, then each field's entries by dot (wire). */
static int pent_cmp(const void *x, const void *y)
{
	const struct pent *a = x, *b = y;
	int c = a->s == b->s ? 0 : et_hk_cmp(a->s, b->s);

	if (c)
		return c;
	if (a->w != b->w)
		return a->w < b->w ? -1 : 1;
	return (a->e->ctr > b->e->ctr) - (a->e->ctr < b->e->ctr);
}

static bool pent_sorted(const struct pent *v, size_t n)
{
	for (size_t k = 1; k < n; k++)
		if (pent_cmp(&v[k - 1], &v[k]) >= 0)
			return false;
	return true;
}

/* The piece in the encoding crdt_ormap_encode gives the map it stands
 * for (the decoder takes no other): its replicas in id order, the
 * context's intervals sorted and joined, the fields and baselines in
 * elemtab order, a field's entries by dot. */
static int piece_encode(struct piece *pc)
{
	const struct crdt_ormap *m = pc->m;
	struct crdt_buf *b = &pc->b;
	uint32_t nw = 0, nctx = 0, nfields = 0;
	size_t k, w;

	for (k = 0; k < m->nreps; k++)
		if (pc->pmap[pc->ord[k]] != NO_REP)
			pc->pmap[pc->ord[k]] = nw++;
	for (k = 0; k < pc->niv; k++)
		pc->iv[k].ri = pc->pmap[pc->iv[k].ri];
	if (!pc->iv_sorted)
		qsort(pc->iv, pc->niv, sizeof(*pc->iv), pivl_cmp);
	for (k = 0, w = 0; k < pc->niv; k++) { /* join overlapping and adjacent */
		struct pivl *last = w ? &pc->iv[w - 1] : NULL;
		if (last && last->ri == pc->iv[k].ri && pc->iv[k].lo <= last->hi + 1) {
			if (pc->iv[k].hi > last->hi)
				last->hi = pc->iv[k].hi;
			continue;
		}
		nctx += !last || last->ri != pc->iv[k].ri;
		pc->iv[w++] = pc->iv[k];
	}
	pc->niv = w;
	for (k = 0; k < pc->nf; k++)
		pc->f[k].w = pc->pmap[pc->f[k].e->ri];
	if (!pent_sorted(pc->f, pc->nf))
		qsort(pc->f, pc->nf, sizeof(*pc->f), pent_cmp);
	for (k = 0; k < pc->nf; k++)
		nfields += k == 0 || pc->f[k].s != pc->f[k - 1].s;

	crdt_codec_put_header(b, CRDT_ORMAP);
	crdt_buf_put_varint(b, nw);
	for (k = 0; k < m->nreps; k++)
		if (pc->pmap[pc->ord[k]] != NO_REP)
			crdt_buf_put(b, m->reps[pc->ord[k]].rid.b, CRDT_RID_LEN);
	crdt_buf_put_varint(b, nctx);
	for (k = 0; k < pc->niv;) {
		size_t e = k;
		while (e < pc->niv && pc->iv[e].ri == pc->iv[k].ri)
			e++;
		crdt_buf_put_varint(b, pc->iv[k].ri);
		crdt_buf_put_varint(b, e - k);
		for (size_t i = k; i < e; i++) {
			crdt_buf_put_varint(b, i == k ? pc->iv[i].lo : pc->iv[i].lo - pc->iv[i - 1].hi - 2);
			crdt_buf_put_varint(b, pc->iv[i].hi - pc->iv[i].lo);
		}
		k = e;
	}
	crdt_buf_put_varint(b, nfields);
	for (k = 0; k < pc->nf;) {
		size_t e = k;
		while (e < pc->nf && pc->f[e].s == pc->f[k].s)
			e++;
		crdt_buf_put_bytes(b, et_key(pc->f[k].s), et_len(pc->f[k].s));
		crdt_buf_put_varint(b, e - k);
		for (size_t i = k; i < e; i++)
			put_ent(b, pc->f[i].e, pc->pmap);
		k = e;
	}
	crdt_buf_put_varint(b, pc->nbs);
	for (k = 0; k < pc->nbs; k++) {
		crdt_buf_put_bytes(b, et_key(pc->bs[k].s), et_len(pc->bs[k].s));
		put_rows(b, pc->bs[k].b, pc->pmap);
	}
	for (k = 0; k < m->nreps; k++) /* back to "in the piece" */
		if (pc->pmap[k] != NO_REP)
			pc->pmap[k] = PIN;
	return b->err;
}

static int piece_flush(struct piece *pc)
{
	int r;

	crdt_buf_reset(&pc->b);
	if ((r = piece_encode(pc)) < 0)
		return r;
	if (pc->cur) {
		pc->cur->has_sum = pc->cutting && pc->nbs == 0;
		pc->cur->sum_dots = pc->sdots;
		pc->cur->sum_hash = pc->shash;
	}
	if ((r = pc->cb(pc->b.data, pc->b.len, pc->ctx)) < 0)
		return r;
	pc->sent = true;
	piece_reset(pc);
	return 0;
}

/* An entry's bytes and its dot's in the context (an interval of its own
 * at worst: the gap from the previous one, then 0). */
static size_t ent_cost(const struct ment *e, size_t ri_len)
{
	size_t c = ri_len + 2 * crdt_varint_len(e->ctr) + 1 + 1;

	if (e->kind == ENT_REG)
		return c + crdt_varint_len(e->ms) + crdt_varint_len(e->lc) +
		       crdt_varint_len(e->len) + e->len;
	c += crdt_varint_len(e->len);
	for (uint32_t y = 0; y < e->len; y++)
		c += ri_len + crdt_varint_len(ent_rows(e)[y].p) + crdt_varint_len(ent_rows(e)[y].n);
	return c;
}

/* Replicas of @e not yet in the piece, each counted once via @seen. */
static size_t new_reps(const struct piece *pc, const struct ment *e, uint32_t *seen, size_t ns)
{
	size_t k = 0;

	for (uint32_t y = 0; y <= (e->kind == ENT_CTR ? e->len : 0); y++) {
		uint32_t ri = y == 0 ? e->ri : ent_rows(e)[y - 1].ri;
		bool dup = pc->pmap[ri] != NO_REP;
		for (size_t z = 0; z < ns + k && !dup; z++)
			dup = seen[z] == ri;
		if (!dup)
			seen[ns + k++] = ri;
	}
	return k;
}

static void piece_map(struct piece *pc, uint32_t ri)
{
	if (pc->pmap[ri] == NO_REP) {
		pc->pmap[ri] = PIN;
		pc->used[pc->nused++] = ri;
	}
}

/* Context interval [lo, hi] of source replica @ri into the piece. */
static int put_ctx(struct piece *pc, uint32_t ri, uint64_t lo, uint64_t hi)
{
	struct pivl *last = pc->niv ? &pc->iv[pc->niv - 1] : NULL;
	int r;

	piece_map(pc, ri);
	pc->any = true;
	if (last && last->ri == ri && lo <= last->hi + 1 && lo >= last->lo) {
		if (hi > last->hi)
			last->hi = hi;
		return 0;
	}
	if (last && (last->ri == ri ? lo < last->lo
				    : memcmp(pc->m->reps[last->ri].rid.b, pc->m->reps[ri].rid.b,
					     CRDT_RID_LEN) > 0))
		pc->iv_sorted = false;
	if ((r = room_for(&pc->iv, &pc->civ, pc->niv, sizeof(*pc->iv))) < 0)
		return r;
	pc->iv[pc->niv++] = (struct pivl){ ri, lo, hi };
	return 0;
}

/* Entries @v[0..@n) of field @s into the piece, with their dots in its
 * context when @dots (a cut's context covers them already). */
static int add_field(struct piece *pc, const struct et_slot *s, struct ment *const *v, uint32_t n,
		     bool dots)
{
	int r;

	for (uint32_t k = 0; k < n; k++) {
		for (uint32_t y = 0; y <= (v[k]->kind == ENT_CTR ? v[k]->len : 0); y++)
			piece_map(pc, y == 0 ? v[k]->ri : ent_rows(v[k])[y - 1].ri);
		if ((r = room_for(&pc->f, &pc->cf, pc->nf, sizeof(*pc->f))) < 0 ||
		    (dots && (r = put_ctx(pc, v[k]->ri, v[k]->ctr, v[k]->ctr)) < 0))
			return r;
		pc->f[pc->nf++] = (struct pent){ s, v[k], 0 };
	}
	pc->any = true;
	return 0;
}

/* The context less the live dots: intervals that only removed entries
 * had.  Every piece may carry them, as no entry anywhere in @m is under
 * them. */
static int put_gaps(struct piece *pc, const struct ldot *live, size_t nlive)
{
	const struct crdt_ormap *m = pc->m;
	size_t li = 0;
	int r;

	for (uint32_t ri = 0; ri < m->nreps; ri++) {
		for (uint32_t k = 0; k < m->reps[ri].n; k++) {
			uint64_t lo = m->reps[ri].iv[k].lo, hi = m->reps[ri].iv[k].hi;
			while (lo <= hi) {
				uint64_t end = hi;
				size_t cost;
				while (li < nlive && (live[li].ri < ri || (live[li].ri == ri && live[li].ctr < lo)))
					li++;
				if (li < nlive && live[li].ri == ri && live[li].ctr <= hi) {
					if (live[li].ctr == lo) {
						if (lo == hi)
							break;
						lo++;
						continue;
					}
					end = live[li].ctr - 1;
				}
				cost = 20 + (pc->pmap[ri] == NO_REP ? PIECE_REP(pc->ri_len) : 0);
				if (pc->est + cost > pc->max && pc->any) {
					if ((r = piece_flush(pc)) < 0)
						return r;
					cost = 20 + PIECE_REP(pc->ri_len);
				}
				if (pc->est + cost > pc->max)
					return CRDT_EMSGSIZE;
				if ((r = put_ctx(pc, ri, lo, end)) < 0)
					return r;
				pc->est += cost;
				pc->any = true;
				if (end == hi)
					break;
				lo = end + 1;
			}
		}
	}
	return 0;
}

/* Counts the pieces a call emits. */
struct counted {
	crdt_piece_cb cb;
	void *ctx;
	uint64_t n;
};

/* Where put_bases starts and stops in a call of crdt_ormap_pieces: from
 * @cur's place in the baselines, until @cnt counts @n pieces. */
struct bases_at {
	struct crdt_cursor *cur;
	const struct counted *cnt;
	uint64_t n;
};

/* Baseline @b of slot @s after those of the piece (its replicas mapped). */
static int base_append(struct piece *pc, const struct et_slot *s, const struct ment *b)
{
	int r;

	if ((r = room_for(&pc->bs, &pc->cbs, pc->nbs, sizeof(*pc->bs))) < 0)
		return r;
	pc->bs[pc->nbs++] = (struct pbase){ s, b };
	return 0;
}

/* The baselines, each whole in some piece (any piece may carry one: it
 * only lowers counters, and merges as a join), all of them or (@at) from
 * its cursor's place on.  One too large for any piece is counted in
 * *skipped.  1 when it stopped at @at's count of pieces with more to go
 * (the place written back), else 0 or an error. */
static int put_bases(struct piece *pc, size_t *skipped, struct bases_at *at)
{
	const struct elemtab *t = &pc->m->base;
	uint32_t hash = 0, run = 0; /* run: baselines of this hash before */
	size_t i = 0;
	int r;

	if (at) {
		hash = at->cur->bhash;
		i = et_seek(t, hash, at->cur->bskip, &run);
	}
	for (i = et_walk(t, i); i < et_cap(t); i = et_walk(t, i + 1), run++) {
		const struct et_slot *s = &t->s[i];
		const struct ment *b = (const struct ment *)(uintptr_t)s->pay;
		size_t cost = 3 + crdt_varint_len(et_len(s)) + et_len(s) + crdt_varint_len(b->len);

		if (s->hash != hash) {
			hash = s->hash;
			run = 0;
		}
		for (uint32_t y = 0; y < b->len; y++)
			cost += PIECE_REP(pc->ri_len) + pc->ri_len +
				crdt_varint_len(ent_rows(b)[y].p) + crdt_varint_len(ent_rows(b)[y].n);
		if (pc->est + cost > pc->max && pc->any) {
			if ((r = piece_flush(pc)) < 0)
				return r;
			if (at && at->cnt->n >= at->n) {
				at->cur->bhash = hash;
				at->cur->bskip = run;
				return 1;
			}
		}
		if (pc->est + cost > pc->max) {
			(*skipped)++;
			continue;
		}
		for (uint32_t y = 0; y < b->len; y++)
			piece_map(pc, ent_rows(b)[y].ri);
		if ((r = base_append(pc, s, b)) < 0)
			return r;
		pc->est += cost;
		pc->any = true;
	}
	return 0;
}

/* Every live entry's dot, sorted by (replica, counter), into *@ret (NULL
 * when there are none).  A walk of the table marking a bitmap per
 * replica over its context's span, read back in order: O(entries + span /
 * 64), no sort, when the spans are not much larger than the map (dots are
 * numbered 1, 2, 3... by each replica, so they are not); else a sort. */
static int live_dots(const struct crdt_ormap *m, struct ldot **ret, size_t *ret_n)
{
	size_t n = 0, k = 0, words = 0;
	uint64_t *bits = NULL, *off = NULL;
	struct ldot *live;
	bool sorted = true;

	*ret = NULL;
	*ret_n = 0;
	for (uint32_t i = 0; m->tab.s && i < m->tab.cap; i++) {
		struct ment *one, *const *v;
		n += et_used(&m->tab.s[i]) ? fld_ents(m->tab.s[i].pay, &one, &v) : 0;
	}
	if (n == 0)
		return 0;
	if (!(live = malloc(n * sizeof(*live))))
		return CRDT_ENOMEM;
	/* off[ri]: the replica's first bit; its span is [iv[0].lo, iv[n-1].hi] */
	if ((off = malloc(((size_t)m->nreps + 1) * sizeof(*off)))) {
		for (uint32_t ri = 0; ri < m->nreps; ri++) {
			const struct mrep *rp = &m->reps[ri];
			off[ri] = words * 64;
			if (rp->n)
				words += (size_t)((rp->iv[rp->n - 1].hi - rp->iv[0].lo) / 64 + 1);
			if (words > 8 * n + 4096) /* a sparse numbering: sort */
				break;
		}
		if (words <= 8 * n + 4096)
			bits = calloc(words ? words : 1, sizeof(*bits));
	}
	for (uint32_t i = 0; m->tab.s && i < m->tab.cap; i++) {
		struct ment *one, *const *v;
		uint32_t c;
		if (!et_used(&m->tab.s[i]))
			continue;
		c = fld_ents(m->tab.s[i].pay, &one, &v);
		for (uint32_t x = 0; x < c; x++) {
			const struct mrep *rp = &m->reps[v[x]->ri];
			live[k++] = (struct ldot){ v[x]->ri, v[x]->ctr };
			if (!bits)
				continue;
			if (!rp->n || v[x]->ctr < rp->iv[0].lo || v[x]->ctr > rp->iv[rp->n - 1].hi) {
				free(bits); /* outside its context: not ours to order */
				bits = NULL;
				continue;
			}
			uint64_t b = off[v[x]->ri] + (v[x]->ctr - rp->iv[0].lo);
			bits[b / 64] |= (uint64_t)1 << (b % 64);
		}
	}
	if (bits) {
		k = 0;
		for (uint32_t ri = 0; ri < m->nreps; ri++) {
			const struct mrep *rp = &m->reps[ri];
			uint64_t end = ri + 1 < m->nreps ? off[ri + 1] : (uint64_t)words * 64;
			for (uint64_t w = off[ri] / 64; w < end / 64; w++)
				for (uint64_t b = bits[w]; b; b &= b - 1)
					live[k++] = (struct ldot){ ri, rp->iv[0].lo + w * 64 +
							       (uint64_t)__builtin_ctzll(b) - off[ri] };
		}
		sorted = k == n; /* two entries with one dot: sort instead */
	}
	if (!bits || !sorted) {
		k = 0;
		for (uint32_t i = 0; m->tab.s && i < m->tab.cap; i++) {
			struct ment *one, *const *v;
			uint32_t c = et_used(&m->tab.s[i]) ? fld_ents(m->tab.s[i].pay, &one, &v) : 0;
			for (uint32_t x = 0; x < c; x++)
				live[k++] = (struct ldot){ v[x]->ri, v[x]->ctr };
		}
		qsort(live, n, sizeof(*live), ldot_cmp);
	}
	free(bits);
	free(off);
	*ret = live;
	*ret_n = n;
	return 0;
}

/* Field @s into the piece, after flushing a full one; a field that fits no
 * piece is left out and counted in *@skipped (its dots in no piece's
 * context, since the gaps skip every live dot). */
static int put_field(struct piece *pc, const struct et_slot *s, uint32_t *seen, size_t *skipped)
{
	struct ment *one, *const *v;
	uint32_t n = fld_ents(s->pay, &one, &v);
	size_t cost = crdt_varint_len(et_len(s)) + et_len(s) + crdt_varint_len(n), nnew = 0;
	int r;

	for (uint32_t x = 0; x < n; x++) {
		cost += ent_cost(v[x], pc->ri_len);
		nnew += new_reps(pc, v[x], seen, nnew);
	}
	if (pc->any && pc->est + cost + nnew * PIECE_REP(pc->ri_len) > pc->max) {
		if ((r = piece_flush(pc)) < 0)
			return r;
		/* every replica is new to an empty piece */
		nnew = 0;
		for (uint32_t x = 0; x < n; x++)
			nnew += new_reps(pc, v[x], seen, nnew);
	}
	if (pc->est + cost + nnew * PIECE_REP(pc->ri_len) > pc->max) {
		(*skipped)++;
		return 0;
	}
	if ((r = add_field(pc, s, v, n, true)) < 0)
		return r;
	pc->est += cost + nnew * PIECE_REP(pc->ri_len);
	return 0;
}

/* What every split holds: the piece being filled and the replicas new to it. */
static int piece_begin(struct piece *pc, uint32_t **seen)
{
	size_t nr = pc->m->nreps ? pc->m->nreps : 1;

	crdt_buf_init(&pc->b, pc->max);
	*seen = NULL;
	if (!(pc->pmap = malloc(nr * sizeof(*pc->pmap))) ||
	    !(pc->used = malloc(nr * sizeof(*pc->used))) ||
	    !(pc->ord = malloc(nr * sizeof(*pc->ord))) ||
	    !(*seen = malloc(((size_t)pc->m->nreps + 1) * sizeof(**seen))))
		return CRDT_ENOMEM;
	for (uint32_t i = 0; i < pc->m->nreps; i++)
		pc->pmap[i] = NO_REP;
	rid_order(pc->m, pc->ord);
	pc->rh_ri = NO_REP;
	piece_reset(pc);
	return 0;
}

static void piece_end(struct piece *pc, uint32_t *seen)
{
	free(pc->pmap);
	free(pc->used);
	free(pc->ord);
	free(pc->f);
	free(pc->bs);
	free(pc->iv);
	free(seen);
	crdt_buf_done(&pc->b);
}

/* The pieces after the fields: the context less the live dots, then the
 * baselines, then the last piece (with @one, even empty: an empty map
 * still goes out as one piece, so a peer learns the instance exists). */
static int put_rest(struct piece *pc, size_t *skipped, bool one)
{
	struct ldot *live;
	size_t nlive;
	int r;

	if ((r = live_dots(pc->m, &live, &nlive)) < 0)
		return r;
	r = put_gaps(pc, live, nlive);
	free(live);
	if (r < 0 || (r = put_bases(pc, skipped, NULL)) < 0)
		return r;
	if (pc->any || (one && !pc->sent))
		return piece_flush(pc);
	return 0;
}

int crdt_ormap_split(const struct crdt_ormap *m, size_t max, crdt_piece_cb cb, void *ctx)
{
	struct piece pc = { .m = m, .cb = cb, .ctx = ctx, .max = max,
			    .ri_len = crdt_varint_len(m->nreps) };
	uint32_t *seen;
	size_t skipped = 0;
	int r;

	if ((r = piece_begin(&pc, &seen)) < 0)
		goto out;
	for (size_t i = et_walk(&m->tab, 0); i < et_cap(&m->tab) && r == 0; i = et_walk(&m->tab, i + 1))
		r = put_field(&pc, &m->tab.s[i], seen, &skipped);
	if (r == 0 && (r = put_rest(&pc, &skipped, true)) == 0)
		r = (int)(skipped > INT32_MAX ? INT32_MAX : skipped);
out:
	piece_end(&pc, seen);
	return r;
}

/* ---- pieces from a cursor ------------------------------------------------------ */

/* A map of at most this many parts goes as the whole split at once. */
#define PIECES_WHOLE 1024
/* Dots a piece looks up at most (a long run of removed ones costs its
 * interval's few bytes, but a lookup each): the piece ends there. */
#define PIECE_PROBES 65536

static int counted_cb(const uint8_t *piece, size_t len, void *ctx)
{
	struct counted *c = ctx;

	c->n++;
	return c->cb(piece, len, c->ctx);
}


/* Entry @e of field @s into the piece (its dot in the context the cut
 * puts after it).  0, CUT_NEXT when the piece has no room left for it, or
 * an error. */
#define CUT_NEXT 1
static int put_entry(struct piece *pc, const struct et_slot *s, struct ment *e, uint32_t *seen)
{
	size_t cost = crdt_varint_len(et_len(s)) + et_len(s) + 1 + ent_cost(e, pc->ri_len);
	size_t nnew = new_reps(pc, e, seen, 0);
	struct ment *const one[1] = { e };
	int r;

	if (pc->est + cost + nnew * PIECE_REP(pc->ri_len) > pc->max)
		return CUT_NEXT;
	if ((r = add_field(pc, s, one, 1, false)) < 0)
		return r;
	pc->est += cost + nnew * PIECE_REP(pc->ri_len);
	if (e->ri != pc->rh_ri) {
		pc->rh_ri = e->ri;
		pc->rh = fp_rid(&pc->m->reps[e->ri].rid);
	}
	pc->sdots++;
	pc->shash += piece_dot_hash(pc->rh, e->ctr);
	return 0;
}

/* A map of at most this many fields has its live dots listed, sorted, for
 * each call: its pieces then step from one live dot to the next, where
 * probing each dot of the context would look up every dot its deletes
 * left (a DEL of 200,000 fields: a few pieces of 65,536 probes each, each
 * removing only part of a peer's fields, in a merge that visits all). */
#define LIVE_LISTED 4096

/* How many dots ahead of the one it looks up a cut brings the next ones'
 * index slots into the cache (and half as far, their fields' slots): each
 * lookup is two misses in a large map, one after the other. */
#define LIVE_AHEAD 32

/* Where the dots of a cut are looked for: listed, or probed. */
struct live {
	bool listed;
	const struct ldot *v; /* listed: sorted (replica, counter) */
	size_t n;
	uint32_t probes;
};

/* The first dot of replica @ri from *@d to @hi that a field holds, into
 * *@d, with its slot and entry in *@ret_s, *@ret_e: LIVE_AT; LIVE_NONE
 * when no dot up to @hi is; LIVE_PROBED when probing reached PIECE_PROBES
 * at *@d, which it did not look up. */
#define LIVE_AT 0
#define LIVE_NONE 1
#define LIVE_PROBED 2
static int next_live(const struct crdt_ormap *m, struct live *lv, uint32_t ri, uint64_t *d,
		     uint64_t hi, struct et_slot **ret_s, struct ment **ret_e)
{
	if (lv->listed) {
		size_t lo = 0, up = lv->n;
		while (lo < up) { /* the first at (ri, *d) or after */
			size_t mid = lo + (up - lo) / 2;
			if (lv->v[mid].ri < ri || (lv->v[mid].ri == ri && lv->v[mid].ctr < *d))
				lo = mid + 1;
			else
				up = mid;
		}
		if (lo == lv->n || lv->v[lo].ri != ri || lv->v[lo].ctr > hi)
			return LIVE_NONE;
		*d = lv->v[lo].ctr;
	}
	for (;; (*d)++) {
		struct et_slot *s;
		if (!lv->listed && ++lv->probes > PIECE_PROBES)
			return LIVE_PROBED;
		/* the dots after it, looked up in turn: their misses overlap */
		dix_prefetch(m, ri, *d + LIVE_AHEAD, false);
		dix_prefetch(m, ri, *d + LIVE_AHEAD / 2, true);
		if ((s = dix_slot(m, ri, *d))) {
			struct ment *one, *const *v;
			uint32_t n = fld_ents(s->pay, &one, &v), x = 0;
			while (x < n && !(v[x]->ri == ri && v[x]->ctr == *d))
				x++;
			if (x < n) {
				*ret_s = s;
				*ret_e = v[x];
				return LIVE_AT;
			}
		}
		if (*d == hi || lv->listed) /* listed: it is, so not reached */
			return LIVE_NONE;
	}
}

/* One piece from @cur: the dots from (cur->rid, cur->ctr) on, in (replica
 * id, counter) order, as far as it has room: the context clipped to them
 * and the live entries whose dots they are, each in its field.  Moves
 * @cur to the first dot it did not cover; *@end once it covered the last. */
static int cut_piece(struct piece *pc, const uint32_t *ord, struct live *lv,
		     struct crdt_cursor *cur, uint32_t *seen, bool *end)
{
	const struct crdt_ormap *m = pc->m;
	uint32_t k = 0;
	int r = 0, at;

	lv->probes = 0;
	while (k < m->nreps && memcmp(m->reps[ord[k]].rid.b, cur->rid.b, CRDT_RID_LEN) < 0)
		k++;
	for (; k < m->nreps; k++) {
		const struct mrep *rp = &m->reps[ord[k]];
		uint64_t from = memcmp(rp->rid.b, cur->rid.b, CRDT_RID_LEN) ? 0 : cur->ctr;
		/* a binary search: a fragmented context has many intervals */
		for (uint32_t j = ctx_first(rp, from); j < rp->n; j++) {
			uint64_t a = rp->iv[j].lo > from ? rp->iv[j].lo : from, d, hi = rp->iv[j].hi;
			/* the interval's bytes at most: a piece codes its first
			 * lo whole, the others' as the gap from the one before */
			size_t ic = crdt_varint_len(a) + crdt_varint_len(hi - a);
			size_t rep = pc->pmap[ord[k]] == NO_REP ? PIECE_REP(pc->ri_len) : 0;
			if (pc->est + ic + rep > pc->max) {
				if (!pc->any)
					return CRDT_EMSGSIZE; /* not even one interval */
				d = a;
				goto stop;
			}
			pc->est += ic;
			for (d = a;; d++) {
				struct et_slot *s;
				struct ment *e;
				if ((at = next_live(m, lv, ord[k], &d, hi, &s, &e)) != LIVE_AT)
					break;
				if ((r = put_entry(pc, s, e, seen)) != 0)
					break;
				if (d == hi) {
					at = LIVE_NONE;
					break;
				}
			}
			if (r < 0)
				return r;
			if (r == 0 && at == LIVE_NONE) { /* covered up to hi */
				if ((r = put_ctx(pc, ord[k], a, hi)) < 0)
					return r;
				continue;
			}
			/* stopped at dot d, which it does not cover */
			if (d > a && (r = put_ctx(pc, ord[k], a, d - 1)) < 0)
				return r;
			if (!pc->any) {
				/* one entry too large for any piece: its dot
				 * in no piece's context, the next starts after */
				cur->skipped++;
				d++;
			}
		stop:
			cur->rid = rp->rid;
			cur->ctr = d;
			return 0;
		}
	}
	*end = true;
	return 0;
}

int crdt_ormap_pieces(struct crdt_ormap *m, struct crdt_cursor *cur, size_t max, size_t n,
		      crdt_piece_cb cb, void *ctx)
{
	struct counted cnt = { cb, ctx, 0 };
	struct piece pc = { .m = m, .cb = counted_cb, .ctx = &cnt, .max = max,
			    .ri_len = crdt_varint_len(m->nreps), .cur = cur, .cutting = true };
	size_t skipped = 0;
	uint32_t *seen = NULL;
	struct ldot *lv_v = NULL;
	struct live lv = { 0 };
	bool end = cur->bases;
	int r;

	if (cur->done || n == 0)
		return 0;
	/* small, its context too (a delta of deletes has no field, and a
	 * context as large as the map's): split whole */
	if (cur->pieces == 0 && cur->ctr == 0 && !cur->bases &&
	    crdt_ormap_parts(m) + crdt_ormap_context_len(m) <= PIECES_WHOLE) {
		if ((r = crdt_ormap_split(m, max, counted_cb, &cnt)) < 0)
			return r;
		cur->skipped += (uint64_t)r;
		cur->pieces += cnt.n;
		cur->done = 1;
		return 0;
	}
	if (!m->dix.ok && (r = dix_build(m)) < 0)
		return r;
	lv.listed = m->tab.count <= LIVE_LISTED;
	if (lv.listed && (r = live_dots(m, &lv_v, &lv.n)) < 0)
		return r;
	lv.v = lv_v;
	if ((r = piece_begin(&pc, &seen)) < 0)
		goto out;
	while (!end && cnt.n < n && r == 0) {
		if ((r = cut_piece(&pc, pc.ord, &lv, cur, seen, &end)) == 0 && pc.any)
			r = piece_flush(&pc);
	}
	if (r == 0 && end && !cur->bases) {
		cur->bases = 1;
		cur->bhash = cur->bskip = 0;
	}
	pc.cutting = false; /* the baselines' pieces have no summary */
	if (r == 0 && end && cnt.n < n &&
	    (r = put_bases(&pc, &skipped, &(struct bases_at){ cur, &cnt, n })) == 0) {
		if (pc.any || (cur->pieces == 0 && cnt.n == 0))
			r = piece_flush(&pc);
		cur->done = 1;
	}
	r = r == 1 ? 0 : r;
	cur->pieces += cnt.n;
	cur->skipped += skipped;
out:
	piece_end(&pc, seen);
	free(lv_v);
	return r;
}
