/* The type table: every type's functions behind one row each, and the
 * crdt_obj_* calls that dispatch through it. */
#include "crdt/error.h"
#include "crdt/obj.h"

/* The rows are each type's own functions; these adapters only change the
 * pointer types (calling a function through a pointer of another type is
 * undefined), so each is a single call. */
#define ADAPT(NAME, T)                                                                              \
	static void *NAME##_new_(void) { return crdt_##NAME##_new(); }                               \
	static void NAME##_free_(void *s) { crdt_##NAME##_free(s); }                                 \
	static void *NAME##_copy_(const void *s) { return crdt_##NAME##_copy(s); }                   \
	static int NAME##_merge_(void *d, const void *s) { return crdt_##NAME##_merge(d, s); }       \
	static bool NAME##_equal_(const void *a, const void *b) { return crdt_##NAME##_equal(a, b); } \
	static int NAME##_encode_(const void *s, struct crdt_buf *b)                                 \
	{                                                                                            \
		return crdt_##NAME##_encode(s, b);                                                   \
	}                                                                                            \
	static int NAME##_decode_(const uint8_t *buf, size_t len, void **ret)                        \
	{                                                                                            \
		T *s;                                                                                \
		int r = crdt_##NAME##_decode(buf, len, &s);                                          \
		if (r == 0)                                                                          \
			*ret = s;                                                                    \
		return r;                                                                            \
	}                                                                                            \
	static int NAME##_split_(const void *s, size_t max, crdt_piece_cb cb, void *ctx)             \
	{                                                                                            \
		return crdt_##NAME##_split(s, max, cb, ctx);                                         \
	}                                                                                            \
	static uint64_t NAME##_fp_(const void *s) { return crdt_##NAME##_fingerprint(s); }
#define ADAPT_IDS(NAME)                                                                             \
	static bool NAME##_knows_(const void *r, const void *l, const struct crdt_rid *rid)          \
	{                                                                                            \
		return crdt_##NAME##_knows_more_of(r, l, rid);                                       \
	}
#define ADAPT_DEL(NAME)                                                                             \
	static int NAME##_clear_(void *s) { return crdt_##NAME##_clear(s); }                        \
	static bool NAME##_live_(const void *s) { return crdt_##NAME##_live(s); }
#define ADAPT_DETACH(NAME, T)                                                                       \
	static int NAME##_detach_(void *s, void **ret)                                              \
	{                                                                                            \
		T *h;                                                                                \
		int r = crdt_##NAME##_clear_detach(s, &h);                                          \
		*ret = h;                                                                            \
		return r;                                                                            \
	}                                                                                            \
	static int NAME##_detach_removed_(void *s, const void *r, size_t max, void **ret)           \
	{                                                                                            \
		T *h;                                                                                \
		int rc = crdt_##NAME##_detach_removed(s, r, max, &h);                               \
		*ret = h;                                                                            \
		return rc;                                                                           \
	}
#define ADAPT_COUNTER(NAME)                                                                         \
	static int NAME##_value_(const void *s, int64_t *ret) { return crdt_##NAME##_value(s, ret); }
#define ADAPT_SET(NAME)                                                                             \
	static size_t NAME##_card_(const void *s) { return crdt_##NAME##_card(s); }                  \
	static bool NAME##_contains_(const void *s, const void *e, size_t len)                       \
	{                                                                                            \
		return crdt_##NAME##_contains(s, e, len);                                            \
	}                                                                                            \
	static int NAME##_foreach_(const void *s, crdt_elem_cb cb, void *ctx)                        \
	{                                                                                            \
		return crdt_##NAME##_foreach(s, cb, ctx);                                            \
	}                                                                                            \
	static int NAME##_each_(const void *s, crdt_elem_cb cb, void *ctx)                           \
	{                                                                                            \
		return crdt_##NAME##_each(s, cb, ctx);                                               \
	}                                                                                            \
	static int NAME##_scan_(const void *s, uint64_t cur, size_t count, crdt_elem_cb cb,          \
				void *ctx, uint64_t *next)                                           \
	{                                                                                            \
		return crdt_##NAME##_scan(s, cur, count, cb, ctx, next);                             \
	}

/* The cut from a cursor; the count a catch-up announces (@COUNT of the
 * state: a set's members, a hash's fields and baselines) and the
 * receiver's sizing for it, from the same count of the piece (a hash's
 * sizes each of its tables by what the piece brings, ormap_reserve_for_). */
#define ADAPT_CUT(NAME, COUNT)                                                                      \
	static int NAME##_pieces_(void *s, struct crdt_cursor *cur, size_t max, size_t n,            \
				  crdt_piece_cb cb, void *ctx)                                       \
	{                                                                                            \
		return crdt_##NAME##_pieces(s, cur, max, n, cb, ctx);                                \
	}                                                                                            \
	static uint64_t NAME##_total_(const void *s) { return COUNT(s); }
#define ADAPT_PIECES(NAME, COUNT)                                                                   \
	ADAPT_CUT(NAME, COUNT)                                                                      \
	static int NAME##_reserve_for_(void *s, const void *piece, uint64_t total)                  \
	{                                                                                            \
		return crdt_##NAME##_reserve_for(s, COUNT(piece), total);                            \
	}

/* A piece's news from its summary (orset/news.c, ormap/news.c). */
#define ADAPT_NEWS(NAME)                                                                            \
	static int NAME##_news_(void *s, const uint8_t *enc, size_t len, uint64_t dots,              \
				uint64_t hash)                                                       \
	{                                                                                            \
		return crdt_##NAME##_piece_is_news(s, enc, len, dots, hash);                         \
	}

#define ROW(NAME, TAG)                                                                              \
	.type = TAG, .new = NAME##_new_, .free = NAME##_free_, .copy = NAME##_copy_,                 \
	.merge = NAME##_merge_, .equal = NAME##_equal_, .encode = NAME##_encode_,                    \
	.decode = NAME##_decode_, .split = NAME##_split_, .fingerprint = NAME##_fp_
#define ROW_IDS(NAME) .knows_more_of = NAME##_knows_
#define ROW_DEL(NAME) .clear = NAME##_clear_, .live = NAME##_live_
#define ROW_DETACH(NAME) .clear_detach = NAME##_detach_, .detach_removed = NAME##_detach_removed_
#define ROW_COUNTER(NAME) .value = NAME##_value_
#define ROW_PIECES(NAME) .pieces = NAME##_pieces_, .pieces_total = NAME##_total_, \
			 .reserve_for = NAME##_reserve_for_
#define ROW_NEWS(NAME) .piece_is_news = NAME##_news_
#define ROW_SET(NAME) .card = NAME##_card_, .contains = NAME##_contains_, .foreach = NAME##_foreach_, \
		      .each = NAME##_each_, .scan = NAME##_scan_

ADAPT(gcounter, struct crdt_gcounter)
ADAPT_IDS(gcounter)
ADAPT_COUNTER(gcounter)
ADAPT(pncounter, struct crdt_pncounter)
ADAPT_IDS(pncounter)
ADAPT_COUNTER(pncounter)
ADAPT_DEL(pncounter)
ADAPT(gset, struct crdt_gset)
ADAPT_SET(gset)
ADAPT_PIECES(gset, crdt_gset_card)
ADAPT(orset, struct crdt_orset)
ADAPT_PIECES(orset, crdt_orset_card)
ADAPT_NEWS(orset)
ADAPT_IDS(orset)
ADAPT_SET(orset)
ADAPT_DEL(orset)
ADAPT_DETACH(orset, struct crdt_orset)
ADAPT(lwwreg, struct crdt_lwwreg)
ADAPT_IDS(lwwreg)
ADAPT_DEL(lwwreg)
ADAPT(ormap, struct crdt_ormap)
ADAPT_IDS(ormap)
ADAPT_DEL(ormap)
ADAPT_DETACH(ormap, struct crdt_ormap)
ADAPT_CUT(ormap, crdt_ormap_parts)
static int ormap_reserve_for_(void *s, const void *piece, uint64_t total)
{
	size_t bases = crdt_ormap_bases(piece);

	return crdt_ormap_reserve_for(s, crdt_ormap_parts(piece) - bases, bases, total);
}
ADAPT_NEWS(ormap)

static const struct crdt_type_ops types[CRDT_TYPE_MAX + 1] = {
	[CRDT_GCOUNTER] = { ROW(gcounter, CRDT_GCOUNTER), ROW_IDS(gcounter), ROW_COUNTER(gcounter),
			    .piece_overhead = 2 + 1 + CRDT_RID_LEN + 10, .redis_type = "string" },
	[CRDT_PNCOUNTER] = { ROW(pncounter, CRDT_PNCOUNTER), ROW_IDS(pncounter),
			     ROW_COUNTER(pncounter), ROW_DEL(pncounter),
			     .piece_overhead = 2 + 1 + CRDT_RID_LEN + 3 * 1 + 2 * 10,
			     .redis_type = "string" },
	[CRDT_GSET] = { ROW(gset, CRDT_GSET), ROW_SET(gset), ROW_PIECES(gset), /* carries no replica ids */
			.piece_overhead = 2 + 10, .redis_type = "set" },
	[CRDT_ORSET] = { ROW(orset, CRDT_ORSET), ROW_IDS(orset), ROW_SET(orset), ROW_DEL(orset),
			 ROW_DETACH(orset), ROW_PIECES(orset), ROW_NEWS(orset),
			 .piece_overhead = (2 + 5 + 10) + (CRDT_RID_LEN + 10) + (10 + 10) + (5 + 10),
			 .redis_type = "set" },
	[CRDT_LWWREG] = { ROW(lwwreg, CRDT_LWWREG), ROW_IDS(lwwreg), ROW_DEL(lwwreg),
			  .piece_overhead = 2 + 1 + CRDT_RID_LEN + 10 + 5, .redis_type = "string" },
	/* ormap/codec.c's split bounds for a piece of one register field
	 * (header, one replica, the entry and its dot, two length varints) */
	[CRDT_ORMAP] = { ROW(ormap, CRDT_ORMAP), ROW_IDS(ormap), ROW_DEL(ormap),
			 ROW_DETACH(ormap), ROW_PIECES(ormap), ROW_NEWS(ormap),
			 .piece_overhead = (2 + 3 * 5) + (CRDT_RID_LEN + 5 + 5) + 5 + 5 + 5 +
					   (5 + 10 + 1) + (10 + 1) + 10 + 5 + 5,
			 .redis_type = "hash" },
};

const struct crdt_type_ops *crdt_type_ops(enum crdt_type t)
{
	return (unsigned)t >= CRDT_TYPE_MIN && (unsigned)t <= CRDT_TYPE_MAX ? &types[t] : NULL;
}

int crdt_obj_new(enum crdt_type t, struct crdt_obj *ret)
{
	const struct crdt_type_ops *ops = crdt_type_ops(t);
	void *p;

	if (!ops)
		return CRDT_EINVAL;
	if (!(p = ops->new()))
		return CRDT_ENOMEM;
	ret->type = t;
	ret->p = p;
	return 0;
}

void crdt_obj_done(struct crdt_obj *o)
{
	const struct crdt_type_ops *ops;

	if (!o)
		return;
	if ((ops = crdt_type_ops(o->type)))
		ops->free(o->p);
	o->p = NULL;
}

int crdt_obj_merge(struct crdt_obj *dst, const struct crdt_obj *src)
{
	const struct crdt_type_ops *ops = crdt_type_ops(dst->type);

	if (dst->type != src->type)
		return CRDT_ETYPE;
	return ops ? ops->merge(dst->p, src->p) : CRDT_EINVAL;
}

bool crdt_obj_equal(const struct crdt_obj *a, const struct crdt_obj *b)
{
	const struct crdt_type_ops *ops = crdt_type_ops(a->type);

	return a->type == b->type && ops && ops->equal(a->p, b->p);
}

int crdt_obj_copy(const struct crdt_obj *o, struct crdt_obj *ret)
{
	const struct crdt_type_ops *ops = crdt_type_ops(o->type);
	void *p;

	if (!ops)
		return CRDT_EINVAL;
	if (!(p = ops->copy(o->p)))
		return CRDT_ENOMEM;
	ret->type = o->type;
	ret->p = p;
	return 0;
}

int crdt_obj_encode(const struct crdt_obj *o, struct crdt_buf *b)
{
	const struct crdt_type_ops *ops = crdt_type_ops(o->type);

	return ops ? ops->encode(o->p, b) : CRDT_EINVAL;
}

int crdt_obj_decode(const uint8_t *buf, size_t len, struct crdt_obj *ret)
{
	const struct crdt_type_ops *ops;
	void *p;
	int r;

	if (len == 0)
		return CRDT_EBADMSG;
	/* each decoder checks the tag again, and the version */
	if (!(ops = crdt_type_ops((enum crdt_type)buf[0])))
		return CRDT_EPROTO;
	if ((r = ops->decode(buf, len, &p)) < 0)
		return r;
	ret->type = ops->type;
	ret->p = p;
	return 0;
}

int crdt_obj_split(const struct crdt_obj *o, size_t max, crdt_piece_cb cb, void *ctx)
{
	const struct crdt_type_ops *ops = crdt_type_ops(o->type);

	return ops ? ops->split(o->p, max, cb, ctx) : CRDT_EINVAL;
}

int crdt_obj_pieces(struct crdt_obj *o, struct crdt_cursor *cur, size_t max, size_t n,
		    crdt_piece_cb cb, void *ctx)
{
	const struct crdt_type_ops *ops = crdt_type_ops(o->type);
	int r;

	if (!ops)
		return CRDT_EINVAL;
	if (ops->pieces)
		return ops->pieces(o->p, cur, max, n, cb, ctx);
	if (cur->done || n == 0)
		return 0;
	if ((r = ops->split(o->p, max, cb, ctx)) < 0)
		return r;
	cur->skipped += (uint64_t)r;
	cur->pieces++;
	cur->done = 1;
	return 0;
}

bool crdt_obj_has_pieces(const struct crdt_obj *o)
{
	const struct crdt_type_ops *ops = crdt_type_ops(o->type);

	return ops && ops->pieces;
}

uint64_t crdt_obj_pieces_total(const struct crdt_obj *o)
{
	const struct crdt_type_ops *ops = crdt_type_ops(o->type);

	return ops && ops->pieces_total ? ops->pieces_total(o->p) : 0;
}

int crdt_obj_reserve_for(struct crdt_obj *dst, const struct crdt_obj *piece, uint64_t total)
{
	const struct crdt_type_ops *ops = crdt_type_ops(dst->type);

	if (!ops || !ops->reserve_for || dst->type != piece->type)
		return 0;
	return ops->reserve_for(dst->p, piece->p, total);
}

int crdt_obj_piece_is_news(struct crdt_obj *o, const uint8_t *enc, size_t len, uint64_t dots,
			   uint64_t hash)
{
	const struct crdt_type_ops *ops = crdt_type_ops(o->type);

	if (!ops || !ops->piece_is_news || len < 1 || enc[0] != (uint8_t)o->type)
		return 1;
	return ops->piece_is_news(o->p, enc, len, dots, hash);
}

uint64_t crdt_obj_fingerprint(const struct crdt_obj *o)
{
	const struct crdt_type_ops *ops = crdt_type_ops(o->type);

	return ops ? ops->fingerprint(o->p) : 0;
}

bool crdt_obj_knows_more_of(const struct crdt_obj *remote, const struct crdt_obj *local,
			    const struct crdt_rid *rid)
{
	const struct crdt_type_ops *ops = crdt_type_ops(remote->type);

	if (!ops || !ops->knows_more_of || (local && local->type != remote->type))
		return false;
	return ops->knows_more_of(remote->p, local ? local->p : NULL, rid);
}

int crdt_obj_value(const struct crdt_obj *o, int64_t *ret)
{
	const struct crdt_type_ops *ops = crdt_type_ops(o->type);

	return ops && ops->value ? ops->value(o->p, ret) : CRDT_EINVAL;
}

bool crdt_obj_is_set(const struct crdt_obj *o)
{
	const struct crdt_type_ops *ops = crdt_type_ops(o->type);

	return ops && ops->card;
}

size_t crdt_obj_card(const struct crdt_obj *o)
{
	return crdt_obj_is_set(o) ? crdt_type_ops(o->type)->card(o->p) : 0;
}

size_t crdt_obj_parts(const struct crdt_obj *o)
{
	return o->type == CRDT_ORMAP ? crdt_ormap_parts(o->om) : crdt_obj_card(o);
}

bool crdt_obj_contains(const struct crdt_obj *o, const void *e, size_t len)
{
	return crdt_obj_is_set(o) && crdt_type_ops(o->type)->contains(o->p, e, len);
}

int crdt_obj_foreach(const struct crdt_obj *o, crdt_elem_cb cb, void *ctx)
{
	return crdt_obj_is_set(o) ? crdt_type_ops(o->type)->foreach(o->p, cb, ctx) : 0;
}

int crdt_obj_each(const struct crdt_obj *o, crdt_elem_cb cb, void *ctx)
{
	return crdt_obj_is_set(o) ? crdt_type_ops(o->type)->each(o->p, cb, ctx) : 0;
}

int crdt_obj_scan(const struct crdt_obj *o, uint64_t cursor, size_t count, crdt_elem_cb cb,
		  void *ctx, uint64_t *next)
{
	*next = 0;
	return crdt_obj_is_set(o) ? crdt_type_ops(o->type)->scan(o->p, cursor, count, cb, ctx, next)
				  : 0;
}

bool crdt_obj_can_clear(const struct crdt_obj *o)
{
	const struct crdt_type_ops *ops = crdt_type_ops(o->type);

	return ops && ops->clear;
}

int crdt_obj_clear(struct crdt_obj *o)
{
	const struct crdt_type_ops *ops = crdt_type_ops(o->type);

	return ops && ops->clear ? ops->clear(o->p) : -EOPNOTSUPP;
}

int crdt_obj_clear_detach(struct crdt_obj *o, struct crdt_obj *ret_husk)
{
	const struct crdt_type_ops *ops = crdt_type_ops(o->type);
	void *h = NULL;
	int r;

	if (!ops || !ops->clear_detach)
		r = crdt_obj_clear(o);
	else
		r = ops->clear_detach(o->p, &h);
	*ret_husk = (struct crdt_obj){ .type = o->type, .p = h };
	return r;
}

int crdt_obj_detach_removed(struct crdt_obj *local, const struct crdt_obj *remote,
			    size_t max_kept, struct crdt_obj *ret_husk)
{
	const struct crdt_type_ops *ops = crdt_type_ops(local->type);
	void *h = NULL;
	int r = 0;

	if (ops && ops->detach_removed && remote->type == local->type)
		r = ops->detach_removed(local->p, remote->p, max_kept, &h);
	*ret_husk = (struct crdt_obj){ .type = local->type, .p = h };
	return r;
}

bool crdt_obj_live(const struct crdt_obj *o)
{
	const struct crdt_type_ops *ops = crdt_type_ops(o->type);

	return ops && (!ops->live || ops->live(o->p));
}
