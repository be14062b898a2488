/* The OR-Set's encoding (docs/encoding.md): encoder and decoder. */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "internal.h"

static void put_ivs(struct crdt_buf *b, const struct ivl *iv, size_t n)
{
	uint64_t prev = 0;

	crdt_buf_put_varint(b, n);
	for (size_t i = 0; i < n; i++) {
		crdt_buf_put_varint(b, iv[i].lo - prev - 1);
		crdt_buf_put_varint(b, iv[i].hi - iv[i].lo);
		prev = iv[i].hi;
	}
}

static inline uint8_t *varint_to(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Room for one element of a short key and @n dots written straight into
 * the buffer: length, 16 key bytes (copied whole), and per dot a head
 * (2 * replica + 1 < 2^17: 3 bytes) and a counter (10). */
#define FAST_ROOM(n) (1 + ET_INLINE + (n) * (3 + 10))
/* Dots per element the fast path takes (the pool run is sorted in wire
 * order when replica numbering follows rid order). */
#define FAST_DOTS 8
/* How many slots ahead the encoder loads a spilled element's dots: a few
 * hundred ns of memory latency at a few ns an element. */
#define ENC_AHEAD_DOTS 16

void put_elem(struct crdt_buf *b, const uint8_t *e, size_t len, const struct dot *d,
		     size_t n, uint64_t *last)
{
	/* Straight into the buffer while it has the room (a piece being
	 * cut: the calls per byte were a fifth of the cut), else put by
	 * put, which stops exactly at the buffer's maximum. */
	if (!b->err && len <= ET_INLINE && n <= FAST_DOTS && b->cap - b->len >= FAST_ROOM(n)) {
		uint8_t *p = b->data + b->len;
		*p++ = (uint8_t)len;
		memcpy(p, e, len);
		p += len;
		for (size_t x = 0; x < n; x++) {
			p = varint_to(p, (uint64_t)d[x].ri << 1 | (x + 1 < n));
			p = varint_to(p, ctr_zz(d[x].ctr, last[d[x].ri]));
			last[d[x].ri] = d[x].ctr;
		}
		b->len = (size_t)(p - b->data);
		return;
	}
	crdt_buf_put_bytes(b, e, len);
	for (size_t x = 0; x < n; x++) {
		crdt_buf_put_varint(b, (uint64_t)d[x].ri << 1 | (x + 1 < n));
		crdt_buf_put_varint(b, ctr_zz(d[x].ctr, last[d[x].ri]));
		last[d[x].ri] = d[x].ctr;
	}
}

/* Encoder's view of the replica table: sorted rids and, per replica
 * index, its position in that order. */
struct wire_reps {
	struct crdt_rid *rids;
	uint32_t *pos;
};

static int wire_reps_init(const struct crdt_orset *s, struct wire_reps *w)
{
	size_t n = s->nreps ? s->nreps : 1;

	w->rids = malloc(n * sizeof(*w->rids));
	w->pos = malloc(n * sizeof(*w->pos));
	if (!w->rids || !w->pos) {
		free(w->rids);
		free(w->pos);
		return CRDT_ENOMEM;
	}
	for (uint32_t k = 0; k < s->nreps; k++) {
		w->rids[k] = s->reps[s->order[k]].rid;
		w->pos[s->order[k]] = k;
	}
	return 0;
}

static void wire_reps_done(struct wire_reps *w)
{
	free(w->rids);
	free(w->pos);
}


/* What the encoding of one element needs besides the element. */
struct enc {
	const struct crdt_orset *s;
	struct crdt_buf *b;
	const uint32_t *pos; /* replica index -> wire index */
	uint64_t *last;      /* per wire replica, the previous counter */
	struct dot *scratch;
	size_t cap;
	bool mono; /* arrival numbering in rid order: dot runs are in wire order */
};

/* An element the fast path does not take: a long key, many dots, dots to
 * reorder, or a buffer that needs to grow by little.  -ENOMEM. */
static int enc_slow(struct enc *x, const struct et_slot *e)
{
	const struct dot *d;
	struct dot t = { 0 }, one;
	size_t n = get_dots(x->s, e->pay, &t, &d);

	if (n > 1) {
		/* Arrival numbering to wire numbering changes the order. */
		if (n > x->cap) {
			struct dot *q = realloc(x->scratch, n * sizeof(*q));
			if (!q)
				return CRDT_ENOMEM;
			x->scratch = q;
			x->cap = n;
		}
		for (size_t k = 0; k < n; k++)
			x->scratch[k] = (struct dot){ .ri = x->pos[d[k].ri], .ctr = d[k].ctr };
		sort_dots(x->scratch, n);
		d = x->scratch;
	} else {
		one = (struct dot){ .ri = x->pos[d[0].ri], .ctr = d[0].ctr };
		d = &one;
	}
	put_elem(x->b, et_key(e), et_len(e), d, n, x->last);
	return 0;
}

/* One element, written straight into the buffer in the common cases.
 * @x's fields come as arguments too: kept in registers, not reloaded
 * after every byte stored. */
static inline __attribute__((always_inline)) int enc_elem(struct enc *x, const struct et_slot *e, struct crdt_buf *b,
			   const uint32_t *pos, uint64_t *last, const struct dot *pool, bool mono)
{
	if (et_len(e) <= ET_INLINE &&
	    (b->cap - b->len >= FAST_ROOM(FAST_DOTS) ||
	     (b->max - b->len >= 64 * FAST_ROOM(FAST_DOTS) &&
	      crdt_buf_reserve(b, 64 * FAST_ROOM(FAST_DOTS)) == 0))) {
		uint8_t *p = b->data + b->len;
		size_t len = et_len(e), n;

		if (!pay_spilled(e->pay)) {
			/* The common element: a short key and one inline dot. */
			uint32_t ri = pos[e->pay >> IN_CTR_BITS];
			uint64_t ctr = e->pay & IN_CTR_MAX;

			p[0] = (uint8_t)len;
			memcpy(p + 1, e->k.in, ET_INLINE);
			p = varint_to(p + 1 + len, (uint64_t)ri << 1);
			p = varint_to(p, ctr_zz(ctr, last[ri]));
			last[ri] = ctr;
			b->len = (size_t)(p - b->data);
			return 0;
		}
		n = (size_t)(e->pay >> 32) & 0x7fffffff;
		if (mono && n <= FAST_DOTS) {
			/* A few dots (concurrent adds), already in wire order. */
			const struct dot *d = pool + (uint32_t)e->pay;
			p[0] = (uint8_t)len;
			memcpy(p + 1, e->k.in, ET_INLINE);
			p += 1 + len;
			for (size_t k = 0; k < n; k++) {
				uint32_t ri = pos[d[k].ri];
				uint64_t ctr = d[k].ctr;
				p = varint_to(p, (uint64_t)ri << 1 | (k + 1 < n));
				p = varint_to(p, ctr_zz(ctr, last[ri]));
				last[ri] = ctr;
			}
			b->len = (size_t)(p - b->data);
			return 0;
		}
	}
	return enc_slow(x, e);
}

int crdt_orset_encode(const struct crdt_orset *s, struct crdt_buf *b)
{
	struct wire_reps w;
	struct enc x = { .s = s, .b = b, .mono = true };
	const struct et_slot *ts = s->tab.s;
	const size_t count = s->tab.count, cap = et_cap(&s->tab);
	const struct dot *pool = s->pool;
	const uint32_t *pos;
	uint64_t *last;
	bool pooled = s->plen != 0, mono;
	int r;

	if ((r = wire_reps_init(s, &w)) < 0)
		return r;
	x.pos = w.pos;
	r = CRDT_ENOMEM;
	if (!(x.last = calloc(s->nreps ? s->nreps : 1, sizeof(*x.last))))
		goto out;
	for (uint32_t k = 0; k < s->nreps; k++)
		x.mono &= w.pos[k] == k;
	pos = x.pos;
	last = x.last;
	mono = x.mono;
	crdt_codec_put_header(b, CRDT_ORSET);
	crdt_codec_put_rids(b, w.rids, s->nreps);
	for (uint32_t k = 0; k < s->nreps; k++)
		put_ivs(b, s->reps[s->order[k]].iv, s->reps[s->order[k]].n);
	crdt_buf_put_varint(b, count);
	/* The table's order is the encoding's: one pass over the slots. */
	for (size_t i = et_walk(&s->tab, 0); i < cap && !b->err; i = et_walk(&s->tab, i + 1)) {
		if (pooled && i + ENC_AHEAD_DOTS < cap) { /* the pool is in random order */
			uint64_t ap = ts[i + ENC_AHEAD_DOTS].pay;
			if (pay_spilled(ap))
				__builtin_prefetch(pool + (uint32_t)ap);
		}
		if ((r = enc_elem(&x, &ts[i], b, pos, last, pool, mono)) < 0)
			goto out;
	}
	r = b->err;
out:
	free(x.last);
	free(x.scratch);
	wire_reps_done(&w);
	return r;
}

static int get_ivs(struct crdt_cur *c, struct rep *p)
{
	uint64_t prev = 0, gap, span;
	size_t n;

	/* Each interval takes at least two bytes. */
	if (crdt_cur_count(c, 2, &n) < 0 || n == 0 || n > UINT32_MAX)
		return CRDT_EBADMSG;
	p->iv = malloc(n * sizeof(*p->iv));
	if (!p->iv)
		return CRDT_ENOMEM;
	p->cap = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		if (crdt_cur_varint(c, &gap) < 0 || crdt_cur_varint(c, &span) < 0)
			return CRDT_EBADMSG;
		/* lo = prev + 1 + gap; after the first, gap 0 would be adjacent. */
		if ((i > 0 && gap == 0) || gap >= UINT64_MAX - prev)
			return CRDT_EBADMSG;
		p->iv[i].lo = prev + 1 + gap;
		if (span > UINT64_MAX - p->iv[i].lo)
			return CRDT_EBADMSG;
		p->iv[i].hi = p->iv[i].lo + span;
		prev = p->iv[i].hi;
		p->n = (uint32_t)(i + 1);
	}
	return 0;
}

/* crdt_cur_varint() and crdt_cur_bytes() with the one-byte varint, what
 * nearly every length, head and counter difference takes, inline. */
static inline int cur_varint(struct crdt_cur *c, uint64_t *ret)
{
	if (c->left && c->p[0] < 0x80) {
		*ret = *c->p++;
		c->left--;
		return 0;
	}
	return crdt_cur_varint(c, ret);
}

static inline int cur_bytes(struct crdt_cur *c, const uint8_t **ret, size_t *ret_len)
{
	if (c->left && c->p[0] < 0x80 && c->p[0] < c->left) {
		*ret_len = c->p[0];
		*ret = c->p + 1;
		c->p += 1 + *ret_len;
		c->left -= 1 + *ret_len;
		return 0;
	}
	return crdt_cur_bytes(c, ret, ret_len);
}

/* The decoder's view of one replica (crdt_orset_decode()). */
struct dec_rep {
	uint64_t last;   /* the previous dot's counter */
	uint64_t lo, hi; /* the context's only interval, or [1, 0] */
};

/* Is dot (@ri, @ctr) in the context?  Most replicas' contexts are one
 * interval, checked here without ctx_has()'s search. */
static inline bool dec_has(const struct crdt_orset *s, const struct dec_rep *d, uint32_t ri,
			   uint64_t ctr)
{
	if (ctr >= d->lo && ctr <= d->hi)
		return true;
	return ctr != 0 && ctx_has(s, ri, ctr);
}

static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* @e's slot image, @pay aside: hash, length and the key, inline and zero
 * padded (two loads within the key, the second shifted) or in @owned. */
static inline __attribute__((always_inline)) void slot_image(struct et_slot *q, const uint8_t *e, size_t len, uint8_t *owned)
{
	q->meta = ET_USED | (uint32_t)len;
	if (len > ET_INLINE) {
		q->hash = et_hash(e, len);
		q->k.ptr = owned;
		return;
	}
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (len >= 8) {
		uint64_t w[2] = { rd64(e), len > 8 ? rd64(e + len - 8) >> (8 * (16 - len)) : 0 };
		memcpy(q->k.in, w, sizeof(w));
		q->hash = et_hash_short(w[0], w[1], len);
		return;
	}
#endif
	memset(q->k.in, 0, sizeof(q->k.in));
	if (len)
		memcpy(q->k.in, e, len);
	q->hash = et_hash_short(rd64(q->k.in), rd64(q->k.in + 8), len);
}

int crdt_orset_decode(const uint8_t *buf, size_t len, struct crdt_orset **ret)
{
	struct crdt_cur c;
	struct crdt_orset *s;
	const uint8_t *rids, *e;
	size_t nr, n, elen;
	/* per replica: the previous dot's counter, and the context's one
	 * interval if it has only one (else [1, 0]: ctx_has() decides) */
	struct dec_rep *dr = NULL;
	struct et_slot prev = { 0 };
	uint32_t fill = 0;
	bool ordered = true; /* every element so far after the one before */
	int r;

	crdt_cur_init(&c, buf, len);
	r = crdt_codec_get_header(&c, CRDT_ORSET);
	if (r < 0)
		return r;
	if (crdt_codec_get_rids(&c, &rids, &nr) < 0)
		return CRDT_EBADMSG;
	if (nr > MAX_REPLICAS)
		return CRDT_EMSGSIZE;
	s = crdt_orset_new();
	if (!s)
		return CRDT_ENOMEM;
	/* Most decoded states are pieces to merge, never merged into: the
	 * index is built only if one becomes a destination. */
	s->ix_ok = false;
	if ((r = reps_reserve(s, nr)) < 0)
		goto fail;
	/* Sorted on the wire, so arrival order is rid order. */
	for (size_t i = 0; i < nr; i++) {
		struct rep *p = &s->reps[i];
		memcpy(p->rid.b, rids + i * CRDT_RID_LEN, CRDT_RID_LEN);
		s->order[i] = (uint32_t)i;
		s->nreps++;
		if ((r = get_ivs(&c, p)) < 0)
			goto fail;
		p->cap = p->n;
	}
	r = CRDT_ENOMEM;
	if (!(dr = calloc(nr ? nr : 1, sizeof(*dr))))
		goto fail;
	for (size_t i = 0; i < nr; i++) {
		bool one = s->reps[i].n == 1;
		dr[i].lo = one ? s->reps[i].iv[0].lo : 1;
		dr[i].hi = one ? s->reps[i].iv[0].hi : 0;
	}
	r = CRDT_EBADMSG;
	/* bytes, and one dot of head and counter: at least three bytes */
	if (crdt_cur_count(&c, 3, &n) < 0)
		goto fail;
	/* filled front to back, each slot written once (et_init_for()) */
	if ((r = et_init_for(&s->tab, n)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct dot one = { 0 };
		struct et_slot q;
		uint8_t *owned = NULL;
		size_t nd = 0, start = s->plen;
		uint64_t head, z;

		r = CRDT_EBADMSG;
		if (cur_bytes(&c, &e, &elen) < 0 || elen > ET_MAX_LEN)
			goto fail;
		if (elen <= ET_INLINE)
			slot_image(&q, e, elen, NULL);
		if (c.left >= 2 && c.p[0] < 0x80 && !(c.p[0] & 1) && c.p[1] < 0x80) {
			/* one dot, head and counter a byte each: the common case */
			uint64_t ri = c.p[0] >> 1, ctr;
			if (ri >= nr)
				goto fail;
			ctr = ctr_unzz(c.p[1], dr[ri].last);
			if (!dec_has(s, &dr[ri], (uint32_t)ri, ctr))
				goto fail;
			dr[ri].last = ctr;
			one = (struct dot){ .ri = (uint32_t)ri, .ctr = ctr };
			nd = 1;
			c.p += 2;
			c.left -= 2;
		} else do {
			uint64_t ri, ctr;

			r = CRDT_EBADMSG;
			if (cur_varint(&c, &head) < 0 || cur_varint(&c, &z) < 0)
				goto fail;
			ri = head >> 1;
			if (ri >= nr)
				goto fail;
			ctr = ctr_unzz(z, dr[ri].last);
			if (!dec_has(s, &dr[ri], (uint32_t)ri, ctr))
				goto fail;
			if (nd > 0 && dot_cmp(one.ri, one.ctr, (uint32_t)ri, ctr) >= 0)
				goto fail;
			if (nd >= 0x7fffffff)
				goto fail;
			dr[ri].last = ctr;
			if (nd == 1) { /* a second dot: the run moves to the pool */
				if ((r = pool_reserve(s, 2)) < 0)
					goto fail;
				s->pool[start] = one;
			}
			one = (struct dot){ .ri = (uint32_t)ri, .ctr = ctr };
			if (nd >= 1) {
				if ((r = pool_reserve(s, nd + 1)) < 0)
					goto fail;
				s->pool[start + nd] = one;
			}
			nd++;
		} while (head & 1);

		if (elen > ET_INLINE) {
			if (!(owned = et_key_dup(e, elen, &r)))
				goto fail;
			slot_image(&q, e, elen, owned);
		}
		/* Encoders write elemtab order, and the decoder then fills the
		 * table front to back.  Any other order of distinct elements
		 * is taken too (as older versions wrote, by key), each one
		 * looked up and inserted. */
		r = CRDT_EBADMSG;
		if (i > 0 && ordered) {
			int cmp = et_hk_cmp(&prev, &q);
			if (cmp == 0)
				goto fail_key;
			if (cmp > 0) { /* the table complete, for lookups */
				ordered = false;
				et_append_end(&s->tab, fill);
				if ((r = et_reserve(&s->tab, n)) < 0)
					goto fail_key;
				r = CRDT_EBADMSG;
			}
		}
		if (!ordered && et_find(&s->tab, e, elen, q.hash))
			goto fail_key;
		if (nd > 1) {
			q.pay = PAY_SPILL | (uint64_t)nd << 32 | start;
			s->plen += nd;
		} else if (dot_inlinable(one.ri, one.ctr)) {
			q.pay = pay_inline(one.ri, one.ctr);
		} else {
			if ((r = pool_reserve(s, 1)) < 0)
				goto fail_key;
			s->pool[s->plen] = one;
			q.pay = PAY_SPILL | (uint64_t)1 << 32 | s->plen;
			s->plen++;
		}
		if (ordered) {
			if ((r = et_append(&s->tab, &q, &fill)) < 0)
				goto fail_key;
			prev = q;
		} else {
			et_insert_slot(&s->tab, &q, owned)->pay = q.pay;
		}
		continue;
fail_key:
		free(owned);
		goto fail;
	}
	if (ordered)
		et_append_end(&s->tab, fill);
	if (c.left) {
		r = CRDT_EBADMSG;
		goto fail;
	}
	free(dr);
	*ret = s;
	return 0;
fail:
	if (ordered) /* crdt_orset_free() reads the slots */
		et_append_end(&s->tab, fill);
	free(dr);
	crdt_orset_free(s);
	return r;
}
