/* Version vectors: replica id -> counter, sorted by id; compare, merge,
 * and the encoding counters share. */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "crdt/vv.h"
#include "rid_order.h"

void crdt_vv_init(struct crdt_vv *vv)
{
	*vv = (struct crdt_vv){ 0 };
}

void crdt_vv_done(struct crdt_vv *vv)
{
	if (!vv)
		return;
	free(vv->e);
	crdt_vv_init(vv);
}

/* Order of two entries by their ids' bytes; equal indices, equal ids. */
static inline int ent_order(const struct crdt_vv_entry *a, const struct crdt_vv_entry *b)
{
	return a->rix == b->rix ? 0 : rid_order(rid_at(a->rix), rid_at(b->rix));
}

/* Index of the entry of @rid (interned as @rix), or of where it would go,
 * in *ret_pos; true if found. */
static bool vv_find(const struct crdt_vv *vv, const struct crdt_rid *rid, uint32_t rix,
		    size_t *ret_pos)
{
	size_t lo = 0, hi = vv->len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = vv->e[mid].rix == rix ? 0 : rid_order(rid_at(vv->e[mid].rix), rid);
		if (c == 0) {
			*ret_pos = mid;
			return true;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret_pos = lo;
	return false;
}

/* Room for exactly @need entries.  No doubling: a vector gains an entry
 * per new replica, rarely, and every insert or merge that grows it already
 * moves O(len) entries; the slack of doubling (a quarter of a vector on
 * average, three entries of four for the usual one-replica counter) would
 * stay for the vector's life. */
static int vv_grow(struct crdt_vv *vv, size_t need)
{
	if (need <= vv->cap)
		return 0;
	size_t cap = need;
	struct crdt_vv_entry *e = realloc(vv->e, cap * sizeof(*e));
	if (!e)
		return CRDT_ENOMEM;
	vv->e = e;
	vv->cap = cap;
	return 0;
}

uint64_t crdt_vv_get(const struct crdt_vv *vv, const struct crdt_rid *rid)
{
	uint32_t rix;
	size_t pos;

	/* an id never interned is in no vector */
	if (vv->len == 0 || crdt_rid_lookup(rid, &rix) < 0)
		return 0;
	return vv_find(vv, rid, rix, &pos) ? vv->e[pos].n : 0;
}

/* Slot for @rid, inserted with counter 0 if absent (the caller sets it). */
static int vv_slot(struct crdt_vv *vv, const struct crdt_rid *rid, struct crdt_vv_entry **ret)
{
	uint32_t rix;
	size_t pos;
	int r = crdt_rid_intern(rid, &rix);

	if (r < 0)
		return r;
	if (!vv_find(vv, rid, rix, &pos)) {
		if (vv_grow(vv, vv->len + 1) < 0)
			return CRDT_ENOMEM;
		memmove(&vv->e[pos + 1], &vv->e[pos], (vv->len - pos) * sizeof(vv->e[0]));
		vv->e[pos] = (struct crdt_vv_entry){ .rix = rix, .n = 0 };
		vv->len++;
	}
	*ret = &vv->e[pos];
	return 0;
}

int crdt_vv_add(struct crdt_vv *vv, const struct crdt_rid *rid, uint64_t n, uint64_t *ret_n)
{
	struct crdt_vv_entry *e;
	int r;

	if (n == 0)
		return CRDT_EINVAL;
	if (crdt_vv_get(vv, rid) > UINT64_MAX - n)
		return CRDT_EOVERFLOW;
	r = vv_slot(vv, rid, &e);
	if (r < 0)
		return r;
	e->n += n;
	if (ret_n)
		*ret_n = e->n;
	return 0;
}

int crdt_vv_inc(struct crdt_vv *vv, const struct crdt_rid *rid, uint64_t *ret_n)
{
	return crdt_vv_add(vv, rid, 1, ret_n);
}

int crdt_vv_raise(struct crdt_vv *vv, const struct crdt_rid *rid, uint64_t n)
{
	struct crdt_vv_entry *e;
	int r;

	if (n == 0)
		return 0;
	r = vv_slot(vv, rid, &e);
	if (r < 0)
		return r;
	if (e->n < n)
		e->n = n;
	return 0;
}

int crdt_vv_merge(struct crdt_vv *dst, const struct crdt_vv *src)
{
	size_t i, j, k, total;

	/* Common case (the same replicas on both sides): max in place, no
	 * allocation, one pass. */
	if (dst->len == src->len) {
		for (i = 0; i < dst->len; i++)
			if (dst->e[i].rix != src->e[i].rix)
				break;
		if (i == dst->len) {
			for (i = 0; i < dst->len; i++)
				if (dst->e[i].n < src->e[i].n)
					dst->e[i].n = src->e[i].n;
			return 0;
		}
	}

	/* Count the union, make room, then merge from the back so that dst can
	 * be merged in place without a second array. */
	for (i = j = total = 0; i < dst->len || j < src->len; total++) {
		int c = i == dst->len ? 1 : j == src->len ? -1 : ent_order(&dst->e[i], &src->e[j]);
		i += c <= 0;
		j += c >= 0;
	}
	if (vv_grow(dst, total) < 0)
		return CRDT_ENOMEM;

	i = dst->len;
	j = src->len;
	k = total;
	while (j > 0) {
		int c = i == 0 ? -1 : ent_order(&dst->e[i - 1], &src->e[j - 1]);
		if (c > 0) {
			dst->e[--k] = dst->e[--i];
		} else if (c < 0) {
			dst->e[--k] = src->e[--j];
		} else {
			struct crdt_vv_entry e = dst->e[--i];
			j--;
			if (e.n < src->e[j].n)
				e.n = src->e[j].n;
			dst->e[--k] = e;
		}
	}
	dst->len = total;
	return 0;
}

enum crdt_order crdt_vv_compare(const struct crdt_vv *a, const struct crdt_vv *b)
{
	bool a_more = false, b_more = false;
	size_t i = 0, j = 0;

	while ((i < a->len || j < b->len) && !(a_more && b_more)) {
		int c = i == a->len ? 1 : j == b->len ? -1 : ent_order(&a->e[i], &b->e[j]);
		if (c < 0) {
			a_more = true; /* counters are never 0, so a has more */
			i++;
		} else if (c > 0) {
			b_more = true;
			j++;
		} else {
			a_more |= a->e[i].n > b->e[j].n;
			b_more |= a->e[i].n < b->e[j].n;
			i++;
			j++;
		}
	}
	if (a_more && b_more)
		return CRDT_CONCURRENT;
	if (a_more)
		return CRDT_AFTER;
	if (b_more)
		return CRDT_BEFORE;
	return CRDT_EQUAL;
}

bool crdt_vv_dominates(const struct crdt_vv *a, const struct crdt_vv *b)
{
	enum crdt_order o = crdt_vv_compare(a, b);
	return o == CRDT_EQUAL || o == CRDT_AFTER;
}

bool crdt_vv_equal(const struct crdt_vv *a, const struct crdt_vv *b)
{
	/* field by field: an entry has 4 bytes of padding */
	if (a->len != b->len)
		return false;
	for (size_t i = 0; i < a->len; i++)
		if (a->e[i].rix != b->e[i].rix || a->e[i].n != b->e[i].n)
			return false;
	return true;
}

int crdt_vv_copy(struct crdt_vv *dst, const struct crdt_vv *src)
{
	struct crdt_vv_entry *e = NULL;

	if (src->len) {
		e = malloc(src->len * sizeof(*e));
		if (!e)
			return CRDT_ENOMEM;
		memcpy(e, src->e, src->len * sizeof(*e));
	}
	free(dst->e);
	dst->e = e;
	dst->len = dst->cap = src->len;
	return 0;
}

int crdt_vv_encode_body(const struct crdt_vv *vv, struct crdt_buf *b)
{
	crdt_buf_put_varint(b, vv->len);
	for (size_t i = 0; i < vv->len; i++) {
		crdt_buf_put(b, rid_at(vv->e[i].rix)->b, CRDT_RID_LEN);
		crdt_buf_put_varint(b, vv->e[i].n);
	}
	return b->err;
}

int crdt_vv_decode_body(struct crdt_cur *c, struct crdt_vv *ret)
{
	struct crdt_cur cur = *c;
	struct crdt_rid prev, rid;
	struct crdt_vv vv;
	size_t n;
	int r = CRDT_EBADMSG;

	crdt_vv_init(&vv);
	if (crdt_cur_count(&cur, CRDT_RID_LEN + 1, &n) < 0)
		return CRDT_EBADMSG;
	if (vv_grow(&vv, n) < 0)
		return CRDT_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct crdt_vv_entry *e = &vv.e[i];
		const uint8_t *p;
		if (crdt_cur_take(&cur, CRDT_RID_LEN, &p) < 0 || crdt_cur_varint(&cur, &e->n) < 0 ||
		    e->n == 0)
			goto bad;
		memcpy(rid.b, p, CRDT_RID_LEN);
		if (i > 0 && rid_order(&prev, &rid) >= 0)
			goto bad;
		int ir = crdt_rid_intern(&rid, &e->rix);
		if (ir < 0) {
			r = ir;
			goto bad;
		}
		prev = rid;
		vv.len++;
	}
	*c = cur;
	*ret = vv;
	return 0;
bad:
	crdt_vv_done(&vv);
	return r;
}
