#include "crdt/error.h"
#include "crdt/obj.h"

int crdt_obj_new(enum crdt_type t, struct crdt_obj *ret)
{
	void *p;

	switch (t) {
	case CRDT_GCOUNTER: p = crdt_gcounter_new(); break;
	case CRDT_PNCOUNTER: p = crdt_pncounter_new(); break;
	case CRDT_GSET: p = crdt_gset_new(); break;
	case CRDT_ORSET: p = crdt_orset_new(); break;
	case CRDT_LWWREG: p = crdt_lwwreg_new(); break;
	default: return CRDT_EINVAL;
	}
	if (!p)
		return CRDT_ENOMEM;
	ret->type = t;
	ret->p = p;
	return 0;
}

void crdt_obj_done(struct crdt_obj *o)
{
	if (!o)
		return;
	switch (o->type) {
	case CRDT_GCOUNTER: crdt_gcounter_free(o->gc); break;
	case CRDT_PNCOUNTER: crdt_pncounter_free(o->pn); break;
	case CRDT_GSET: crdt_gset_free(o->gs); break;
	case CRDT_ORSET: crdt_orset_free(o->os); break;
	case CRDT_LWWREG: crdt_lwwreg_free(o->lww); break;
	}
	o->p = NULL;
}

int crdt_obj_merge(struct crdt_obj *dst, const struct crdt_obj *src)
{
	if (dst->type != src->type)
		return CRDT_ETYPE;
	switch (dst->type) {
	case CRDT_GCOUNTER: return crdt_gcounter_merge(dst->gc, src->gc);
	case CRDT_PNCOUNTER: return crdt_pncounter_merge(dst->pn, src->pn);
	case CRDT_GSET: return crdt_gset_merge(dst->gs, src->gs);
	case CRDT_ORSET: return crdt_orset_merge(dst->os, src->os);
	case CRDT_LWWREG: return crdt_lwwreg_merge(dst->lww, src->lww);
	}
	return CRDT_EINVAL;
}

bool crdt_obj_equal(const struct crdt_obj *a, const struct crdt_obj *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case CRDT_GCOUNTER: return crdt_gcounter_equal(a->gc, b->gc);
	case CRDT_PNCOUNTER: return crdt_pncounter_equal(a->pn, b->pn);
	case CRDT_GSET: return crdt_gset_equal(a->gs, b->gs);
	case CRDT_ORSET: return crdt_orset_equal(a->os, b->os);
	case CRDT_LWWREG: return crdt_lwwreg_equal(a->lww, b->lww);
	}
	return false;
}

int crdt_obj_copy(const struct crdt_obj *o, struct crdt_obj *ret)
{
	void *p;

	switch (o->type) {
	case CRDT_GCOUNTER: p = crdt_gcounter_copy(o->gc); break;
	case CRDT_PNCOUNTER: p = crdt_pncounter_copy(o->pn); break;
	case CRDT_GSET: p = crdt_gset_copy(o->gs); break;
	case CRDT_ORSET: p = crdt_orset_copy(o->os); break;
	case CRDT_LWWREG: p = crdt_lwwreg_copy(o->lww); break;
	default: return CRDT_EINVAL;
	}
	if (!p)
		return CRDT_ENOMEM;
	ret->type = o->type;
	ret->p = p;
	return 0;
}

int crdt_obj_encode(const struct crdt_obj *o, struct crdt_buf *b)
{
	switch (o->type) {
	case CRDT_GCOUNTER: return crdt_gcounter_encode(o->gc, b);
	case CRDT_PNCOUNTER: return crdt_pncounter_encode(o->pn, b);
	case CRDT_GSET: return crdt_gset_encode(o->gs, b);
	case CRDT_ORSET: return crdt_orset_encode(o->os, b);
	case CRDT_LWWREG: return crdt_lwwreg_encode(o->lww, b);
	}
	return CRDT_EINVAL;
}

int crdt_obj_decode(const uint8_t *buf, size_t len, struct crdt_obj *ret)
{
	struct crdt_obj o;
	int r;

	if (len == 0)
		return CRDT_EBADMSG;
	/* Each decoder checks the tag again, and the version. */
	o.type = (enum crdt_type)buf[0];
	switch (o.type) {
	case CRDT_GCOUNTER: r = crdt_gcounter_decode(buf, len, &o.gc); break;
	case CRDT_PNCOUNTER: r = crdt_pncounter_decode(buf, len, &o.pn); break;
	case CRDT_GSET: r = crdt_gset_decode(buf, len, &o.gs); break;
	case CRDT_ORSET: r = crdt_orset_decode(buf, len, &o.os); break;
	case CRDT_LWWREG: r = crdt_lwwreg_decode(buf, len, &o.lww); break;
	default: return CRDT_EPROTO;
	}
	if (r < 0)
		return r;
	*ret = o;
	return 0;
}

int crdt_obj_split(const struct crdt_obj *o, size_t max, crdt_piece_cb cb, void *ctx)
{
	switch (o->type) {
	case CRDT_GCOUNTER: return crdt_gcounter_split(o->gc, max, cb, ctx);
	case CRDT_PNCOUNTER: return crdt_pncounter_split(o->pn, max, cb, ctx);
	case CRDT_GSET: return crdt_gset_split(o->gs, max, cb, ctx);
	case CRDT_ORSET: return crdt_orset_split(o->os, max, cb, ctx);
	case CRDT_LWWREG: return crdt_lwwreg_split(o->lww, max, cb, ctx);
	}
	return CRDT_EINVAL;
}

bool crdt_obj_knows_more_of(const struct crdt_obj *remote, const struct crdt_obj *local,
			    const struct crdt_rid *rid)
{
	const struct crdt_lwwreg *rr, *lr;

	if (local && local->type != remote->type)
		return false;
	switch (remote->type) {
	case CRDT_GCOUNTER:
		return crdt_vv_get(&remote->gc->vv, rid) > (local ? crdt_vv_get(&local->gc->vv, rid) : 0);
	case CRDT_PNCOUNTER:
		return crdt_vv_get(&remote->pn->p, rid) > (local ? crdt_vv_get(&local->pn->p, rid) : 0) ||
		       crdt_vv_get(&remote->pn->n, rid) > (local ? crdt_vv_get(&local->pn->n, rid) : 0);
	case CRDT_ORSET:
		return crdt_orset_context_max(remote->os, rid) >
		       (local ? crdt_orset_context_max(local->os, rid) : 0);
	case CRDT_LWWREG:
		rr = remote->lww;
		lr = local ? local->lww : NULL;
		if (!rr->set || crdt_rid_cmp(&rr->rid, rid) != 0)
			return false;
		return !lr || !lr->set || crdt_hlc_cmp(&rr->ts, &lr->ts) > 0 ||
		       (crdt_hlc_cmp(&rr->ts, &lr->ts) == 0 && crdt_rid_cmp(&lr->rid, rid) != 0);
	case CRDT_GSET:
		break;
	}
	return false;
}
