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

int crdt_gset_merge(struct crdt_gset *dst, const struct crdt_gset *src)
{
	const struct elemtab *st = &src->tab;
	size_t nnew = 0, k = 0;
	uint32_t *fresh;
	uint8_t **keys;
	int r = CRDT_ENOMEM;

	if (dst == src || !st->count)
		return 0;
	/* Everything that can fail happens before dst changes: find the new
	 * elements (one lookup each), copy their long keys, grow the table,
	 * then insert them. */
	if (!(fresh = malloc(st->count * sizeof(*fresh))))
		return r;
	for (size_t i = et_walk(st, 0); i < et_cap(st); i = et_walk(st, i + 1))
		if (!et_find(&dst->tab, et_key(&st->s[i]), et_len(&st->s[i]), st->s[i].hash))
			fresh[nnew++] = (uint32_t)i;
	if (!nnew) {
		free(fresh);
		return 0;
	}
	if (!(keys = calloc(nnew, sizeof(*keys))))
		goto fail;
	for (; k < nnew; k++) {
		const struct et_slot *e = &st->s[fresh[k]];
		if (et_len(e) > ET_INLINE && !(keys[k] = et_key_dup(et_key(e), et_len(e), &r)))
			goto fail;
	}
	if ((r = et_reserve(&dst->tab, (size_t)dst->tab.count + nnew)) < 0)
		goto fail;
	for (k = 0; k < nnew; k++) {
		const struct et_slot *e = &st->s[fresh[k]];
		et_insert_slot(&dst->tab, e, keys[k]);
		dst->fp += fp_bytes(FP_ELEM, et_key(e), et_len(e));
	}
	free(keys);
	free(fresh);
	return 0;
fail:
	while (keys && k-- > 0)
		free(keys[k]);
	free(keys);
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

static int put_elems(struct crdt_buf *b, struct et_slot **v, size_t n)
{
	crdt_codec_put_header(b, CRDT_GSET);
	crdt_buf_put_varint(b, n);
	for (size_t i = 0; i < n; i++)
		crdt_buf_put_bytes(b, et_key(v[i]), et_len(v[i]));
	return b->err;
}

int crdt_gset_encode(const struct crdt_gset *s, struct crdt_buf *b)
{
	struct et_slot **v;
	int r = et_list(&s->tab, &v); /* elemtab order, the encoding's */

	if (r < 0)
		return r;
	r = put_elems(b, v, s->tab.count);
	free(v);
	return r;
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

int crdt_gset_split(const struct crdt_gset *s, size_t max, crdt_piece_cb cb, void *ctx)
{
	struct et_slot **v;
	struct crdt_buf b;
	size_t n = s->tab.count, i = 0, fixed, skipped = 0;
	int r = et_list(&s->tab, &v);

	if (r < 0)
		return r;
	/* The count varint is bounded by the total count's. */
	fixed = 2 + crdt_varint_len(n);
	if (fixed > max) {
		free(v);
		return CRDT_EMSGSIZE;
	}
	crdt_buf_init(&b, max);
	do {
		size_t j = i, size = fixed;
		while (j < n) {
			size_t el = et_len(v[j]), c = crdt_varint_len(el) + el;
			if (size + c > max)
				break;
			size += c;
			j++;
		}
		if (j == i && n > 0) {
			/* too long for any piece: left out, the rest still goes */
			skipped++;
			i++;
			continue;
		}
		crdt_buf_reset(&b);
		r = put_elems(&b, v + i, j - i);
		if (r == 0)
			r = cb(b.data, b.len, ctx);
		i = j;
	} while (r == 0 && i < n);
	crdt_buf_done(&b);
	free(v);
	return r < 0 ? r : (int)(skipped > INT32_MAX ? INT32_MAX : skipped);
}

/* ---- pieces from a cursor ------------------------------------------------------ */

/* The first used slot at or after the cursor: the first of hash
 * cur->bhash, less the first cur->bskip of that hash (elemtab order is by
 * hash, then key, however the table grew meanwhile). */
static size_t cursor_slot(const struct elemtab *t, const struct crdt_cursor *cur)
{
	size_t i;
	uint32_t run = 0;

	if (!t->s)
		return 0;
	i = et_walk(t, et_home(t, cur->bhash));
	while (i < et_cap(t) && t->s[i].hash < cur->bhash)
		i = et_walk(t, i + 1);
	for (; i < et_cap(t) && t->s[i].hash == cur->bhash && run < cur->bskip; i = et_walk(t, i + 1))
		run++;
	return i;
}

int crdt_gset_pieces(struct crdt_gset *s, struct crdt_cursor *cur, size_t max, size_t n,
		     crdt_piece_cb cb, void *ctx)
{
	const struct elemtab *t = &s->tab;
	size_t fixed = 2 + crdt_varint_len(t->count), i;
	uint32_t h = cur->bhash, run = cur->bskip; /* (h, run): where slot i is */
	struct crdt_buf b;
	int r = 0;

	if (cur->done || n == 0)
		return 0;
	if (fixed > max)
		return CRDT_EMSGSIZE;
	crdt_buf_init(&b, max);
	i = cursor_slot(t, cur);
	for (size_t cnt = 0; cnt < n && !cur->done;) {
		size_t k = 0, size = fixed, first = i, j = i;
		uint32_t hh = h, rr = run;
		uint64_t skip = 0;

		/* the run of elements that fit; one too long for any piece
		 * (only ever before the first) is left out */
		for (; j < et_cap(t); j = et_walk(t, j + 1)) {
			size_t el = et_len(&t->s[j]), c = crdt_varint_len(el) + el;
			if (size + c > max && k)
				break;
			if (size + c > max) {
				skip++;
				first = et_walk(t, j + 1);
			} else {
				size += c;
				k++;
			}
			rr = t->s[j].hash == hh ? rr + 1 : 1;
			hh = t->s[j].hash;
		}
		if (k || cur->pieces == 0) { /* an empty set goes as one piece */
			crdt_buf_reset(&b);
			crdt_codec_put_header(&b, CRDT_GSET);
			crdt_buf_put_varint(&b, k);
			for (size_t x = first, m = 0; m < k; x = et_walk(t, x + 1), m++)
				crdt_buf_put_bytes(&b, et_key(&t->s[x]), et_len(&t->s[x]));
			if ((r = b.err) < 0 || (r = cb(b.data, b.len, ctx)) < 0)
				break; /* the cursor stays before the piece */
			cur->pieces++;
			cnt++;
		}
		cur->skipped += skip;
		i = j;
		if (i >= et_cap(t)) {
			cur->done = 1;
		} else {
			cur->bases = 1;
			h = cur->bhash = t->s[i].hash;
			run = cur->bskip = t->s[i].hash == hh ? rr : 0;
		}
	}
	crdt_buf_done(&b);
	return r;
}

int crdt_gset_reserve_for(struct crdt_gset *s, size_t incoming, uint64_t total)
{
	return et_reserve_announced(&s->tab, incoming, total);
}
