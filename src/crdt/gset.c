/* G-Set: a grow-only set of byte strings over the element table; merge,
 * codec, split into pieces of whole elements, at once or from a cursor. */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "crdt/gset.h"
#include "fp.h"
#include "elemtab.h"

struct crdt_gset {
	struct elemtab tab; /* payload unused */
	uint64_t fp;        /* the fingerprint's sum, kept as elements come */
};

struct crdt_gset *crdt_gset_new(void)
{
	struct crdt_gset *s = malloc(sizeof(*s));
	if (s) {
		et_init(&s->tab);
		s->fp = 0;
	}
	return s;
}

void crdt_gset_free(struct crdt_gset *s)
{
	if (!s)
		return;
	et_done(&s->tab);
	free(s);
}

int crdt_gset_add(struct crdt_gset *s, const void *e, size_t len)
{
	uint32_t h;
	uint8_t *owned;
	int r;

	if (len > ET_MAX_LEN)
		return CRDT_EMSGSIZE;
	h = et_hash(e, len);
	if (et_find(&s->tab, e, len, h))
		return 0;
	owned = et_key_dup(e, len, &r);
	if (r < 0)
		return r;
	r = et_reserve(&s->tab, (size_t)s->tab.count + 1);
	if (r < 0) {
		free(owned);
		return r;
	}
	et_insert(&s->tab, e, len, h, owned);
	s->fp += fp_bytes(FP_ELEM, e, len);
	return 1;
}

bool crdt_gset_contains(const struct crdt_gset *s, const void *e, size_t len)
{
	return et_contains(&s->tab, e, len);
}

size_t crdt_gset_card(const struct crdt_gset *s)
{
	return s->tab.count;
}

int crdt_gset_foreach(const struct crdt_gset *s, crdt_elem_cb cb, void *ctx)
{
	return et_foreach_sorted(&s->tab, cb, ctx);
}

int crdt_gset_scan(const struct crdt_gset *s, uint64_t cursor, size_t count, crdt_elem_cb cb,
		   void *ctx, uint64_t *next)
{
	return et_scan_keys(&s->tab, cursor, count, cb, ctx, next);
}

int crdt_gset_each(const struct crdt_gset *s, crdt_elem_cb cb, void *ctx)
{
	return et_foreach(&s->tab, cb, ctx);
}

/* A merged state of at most this many elements (a gossiped piece) lists
 * its new ones on the stack. */
#define MERGE_STACK 256

int crdt_gset_merge(struct crdt_gset *dst, const struct crdt_gset *src)
{
	const struct elemtab *st = &src->tab;
	size_t nnew = 0, nlong = 0, k = 0;
	uint32_t stack[MERGE_STACK], *fresh = stack;
	uint8_t **keys = NULL;
	int r = CRDT_ENOMEM;

	if (dst == src || !st->count)
		return 0;
	/* Everything that can fail happens before dst changes: find the new
	 * elements (one lookup each), copy their long keys, grow the table,
	 * then insert them. */
	if (st->count > MERGE_STACK && !(fresh = malloc(st->count * sizeof(*fresh))))
		return r;
	for (size_t i = et_walk(st, 0); i < et_cap(st); i = et_walk(st, i + 1))
		if (!et_find(&dst->tab, et_key(&st->s[i]), et_len(&st->s[i]), st->s[i].hash)) {
			fresh[nnew++] = (uint32_t)i;
			nlong += et_len(&st->s[i]) > ET_INLINE;
		}
	if (nlong && !(keys = calloc(nnew, sizeof(*keys))))
		goto fail;
	for (; nlong && k < nnew; k++) {
		const struct et_slot *e = &st->s[fresh[k]];
		if (et_len(e) > ET_INLINE && !(keys[k] = et_key_dup(et_key(e), et_len(e), &r)))
			goto fail;
	}
	if (nnew && (r = et_reserve(&dst->tab, (size_t)dst->tab.count + nnew)) < 0)
		goto fail;
	for (k = 0; k < nnew; k++) {
		const struct et_slot *e = &st->s[fresh[k]];
		et_insert_slot(&dst->tab, e, keys ? keys[k] : NULL);
		dst->fp += fp_bytes(FP_ELEM, et_key(e), et_len(e));
	}
	r = 0;
fail:
	while (r < 0 && keys && k-- > 0)
		free(keys[k]);
	free(keys);
	if (fresh != stack)
		free(fresh);
	return r;
}

bool crdt_gset_equal(const struct crdt_gset *a, const struct crdt_gset *b)
{
	if (a->tab.count != b->tab.count)
		return false;
	for (size_t i = 0; i < et_cap(&a->tab); i++) {
		const struct et_slot *e = &a->tab.s[i];
		if (et_used(e) && !et_find(&b->tab, et_key(e), et_len(e), e->hash))
			return false;
	}
	return true;
}

uint64_t crdt_gset_fingerprint(const struct crdt_gset *s)
{
	return fp_finish(CRDT_GSET, s->fp);
}

struct crdt_gset *crdt_gset_copy(const struct crdt_gset *s)
{
	struct crdt_gset *c = crdt_gset_new();

	if (!c || crdt_gset_merge(c, s) < 0) {
		crdt_gset_free(c);
		return NULL;
	}
	return c;
}

int crdt_gset_encode(const struct crdt_gset *s, struct crdt_buf *b)
{
	const struct elemtab *t = &s->tab;

	crdt_codec_put_header(b, CRDT_GSET);
	crdt_buf_put_varint(b, t->count);
	for (size_t i = et_walk(t, 0); i < et_cap(t); i = et_walk(t, i + 1)) /* elemtab order */
		crdt_buf_put_bytes(b, et_key(&t->s[i]), et_len(&t->s[i]));
	return b->err;
}

int crdt_gset_decode(const uint8_t *buf, size_t len, struct crdt_gset **ret)
{
	struct crdt_cur c;
	struct crdt_gset *s;
	const uint8_t *e;
	size_t n, elen;
	struct et_seq seq = ET_SEQ_INIT;
	int r;

	crdt_cur_init(&c, buf, len);
	r = crdt_codec_get_header(&c, CRDT_GSET);
	if (r < 0)
		return r;
	if (crdt_cur_count(&c, 1, &n) < 0)
		return CRDT_EBADMSG;
	s = crdt_gset_new();
	if (!s)
		return CRDT_ENOMEM;
	r = et_reserve(&s->tab, n);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		uint8_t *owned;
		uint32_t h;
		r = CRDT_EBADMSG;
		if (crdt_cur_bytes(&c, &e, &elen) < 0 || elen > ET_MAX_LEN)
			goto fail;
		h = et_hash(e, elen);
		if (!et_seq_next(&seq, &s->tab, e, elen, h))
			goto fail; /* a duplicate */
		owned = et_key_dup(e, elen, &r);
		if (r < 0)
			goto fail;
		et_insert(&s->tab, e, elen, h, owned);
		s->fp += fp_bytes(FP_ELEM, e, elen);
	}
	if (c.left) {
		r = CRDT_EBADMSG;
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	crdt_gset_free(s);
	return r;
}


/* ---- pieces from a cursor ------------------------------------------------------ */

/* A cut visits the hash space in 2^bits blocks, in bit-reversed order of
 * their numbers, each block's elements in elemtab order: pieces in pure
 * hash order land in a receiver's growing table crowded into its first
 * part, one cluster that every insert walks and shifts (a 1,000,000-element
 * catch-up spent most of its receiver's time so); blocks spread over the
 * whole space fill it evenly.  About GSET_BLOCK elements a block, at most
 * 2^16 blocks (one lookup each at the sender). */
#define GSET_BLOCK 16
#define GSET_BITS_MAX 16

static uint32_t rev32(uint32_t x)
{
	x = (x >> 16) | (x << 16);
	x = ((x >> 8) & 0x00ff00ffu) | ((x & 0x00ff00ffu) << 8);
	x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
	x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
	return ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
}

/* The first hash of the @k-th block visited. */
static uint32_t block_lo(uint32_t k, uint32_t bits)
{
	return bits ? rev32(k) & ~(uint32_t)(UINT32_MAX >> bits) : 0;
}

/* A cut's place: slot i of block k (in visit order), after passing rr
 * elements of hash hh. */
struct gwalk {
	const struct elemtab *t;
	uint32_t bits, k, hh, rr;
	size_t i;
	bool end;
};

/* On to the next block while slot i is past the block's end. */
static void settle(struct gwalk *w)
{
	for (;;) {
		uint64_t hi = (uint64_t)block_lo(w->k, w->bits) + ((uint64_t)1 << (32 - w->bits));
		if (w->i < et_cap(w->t) && w->t->s[w->i].hash < hi)
			return;
		if (++w->k >> w->bits) {
			w->end = true;
			return;
		}
		w->hh = block_lo(w->k, w->bits);
		w->rr = 0;
		w->i = et_seek(w->t, w->hh, 0, NULL);
	}
}

static void walk_from(struct gwalk *w, const struct elemtab *t, const struct crdt_cursor *cur)
{
	*w = (struct gwalk){ .t = t, .bits = cur->bbits, .k = cur->bblock, .hh = cur->bhash,
			     .rr = cur->bskip };
	w->i = et_seek(t, w->hh, w->rr, NULL);
	settle(w);
}

static void walk_on(struct gwalk *w)
{
	uint32_t h = w->t->s[w->i].hash;

	w->rr = h == w->hh ? w->rr + 1 : 1;
	w->hh = h;
	w->i = et_walk(w->t, w->i + 1);
	settle(w);
}

static void walk_save(const struct gwalk *w, struct crdt_cursor *cur)
{
	uint32_t h;

	if (w->end) {
		cur->done = 1;
		return;
	}
	h = w->t->s[w->i].hash;
	cur->bases = 1;
	cur->bblock = w->k;
	cur->bhash = h;
	cur->bskip = h == w->hh ? w->rr : 0;
}

/* The blocks of a cut of @t into pieces of @max bytes: one (elemtab order,
 * the encoding's) when the set fits a piece. */
static uint32_t cut_bits(const struct elemtab *t, size_t max)
{
	uint32_t bits = 0;

	if (t->count <= max) {
		size_t size = 2 + crdt_varint_len(t->count);
		for (size_t i = et_walk(t, 0); i < et_cap(t) && size <= max; i = et_walk(t, i + 1))
			size += crdt_varint_len(et_len(&t->s[i])) + et_len(&t->s[i]);
		if (size <= max)
			return 0;
	}
	while (bits < GSET_BITS_MAX && (t->count >> bits) > GSET_BLOCK)
		bits++;
	return bits;
}

int crdt_gset_pieces(const struct crdt_gset *s, struct crdt_cursor *cur, size_t max, size_t n,
		     crdt_piece_cb cb, void *ctx)
{
	const struct elemtab *t = &s->tab;
	size_t fixed = 2 + crdt_varint_len(t->count);
	struct crdt_buf b;
	struct gwalk w;
	int r = 0;

	if (cur->done || n == 0)
		return 0;
	if (fixed > max)
		return CRDT_EMSGSIZE;
	if (!cur->bases && cur->pieces == 0)
		cur->bbits = cut_bits(t, max);
	crdt_buf_init(&b, max);
	walk_from(&w, t, cur);
	for (size_t cnt = 0; cnt < n && (!w.end || cur->pieces == 0);) {
		struct gwalk from = w;
		size_t k = 0, size = fixed;
		uint64_t skip = 0;

		/* the elements that fit; one too long for any piece (only
		 * ever before the first) is left out */
		for (; !w.end; walk_on(&w)) {
			size_t el = et_len(&t->s[w.i]), c = crdt_varint_len(el) + el;
			if (size + c > max && k)
				break;
			if (size + c > max) {
				skip++;
				walk_on(&from);
			} else {
				size += c;
				k++;
			}
		}
		if (k || cur->pieces == 0) { /* an empty set goes as one piece */
			crdt_buf_reset(&b);
			crdt_codec_put_header(&b, CRDT_GSET);
			crdt_buf_put_varint(&b, k);
			for (size_t m = 0; m < k; m++, walk_on(&from))
				crdt_buf_put_bytes(&b, et_key(&t->s[from.i]), et_len(&t->s[from.i]));
			if ((r = b.err) < 0 || (r = cb(b.data, b.len, ctx)) < 0)
				break; /* the cursor stays before the piece */
			cur->pieces++;
			cnt++;
		}
		cur->skipped += skip;
		walk_save(&w, cur);
	}
	if (r == 0 && w.end)
		cur->done = 1;
	crdt_buf_done(&b);
	return r;
}

int crdt_gset_split(const struct crdt_gset *s, size_t max, crdt_piece_cb cb, void *ctx)
{
	struct crdt_cursor cur = CRDT_CURSOR_INIT;
	int r = crdt_gset_pieces(s, &cur, max, SIZE_MAX, cb, ctx);

	return r < 0 ? r : (int)(cur.skipped > INT32_MAX ? INT32_MAX : cur.skipped);
}

int crdt_gset_reserve_for(struct crdt_gset *s, size_t incoming, uint64_t total)
{
	return et_reserve_announced(&s->tab, incoming, total);
}
