/* libcrdt_json: the JSON views of the states, for people (CRDT.JSON and
 * CRDT.INFO in crdtd, crdt-demo), apart from the core so that libcrdt and
 * its headers do not need cJSON.  The OR-Set's view reads its layout
 * (orset/internal.h); the others need only the public API. */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "crdt/json.h"
#include "orset/internal.h"

/* Strict UTF-8: no overlong forms, surrogates or code points past
 * U+10FFFF, and no NUL, which a C string cannot carry. */
static bool is_text(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		size_t k;
		uint32_t cp;
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i - 1 < k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

/* One element: a string when the bytes are text, else {"hex":"<lower-case
 * hex>"}. */
static cJSON *elem_json(const uint8_t *e, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	bool text = is_text(e, len);
	char *s = malloc(text ? len + 1 : 2 * len + 1);
	cJSON *j = NULL;

	if (!s)
		return NULL;
	if (text) {
		if (len)
			memcpy(s, e, len);
		s[len] = 0;
		j = cJSON_CreateString(s);
	} else {
		for (size_t i = 0; i < len; i++) {
			s[2 * i] = hex[e[i] >> 4];
			s[2 * i + 1] = hex[e[i] & 15];
		}
		s[2 * len] = 0;
		j = cJSON_CreateObject();
		if (j && !cJSON_AddStringToObject(j, "hex", s)) {
			cJSON_Delete(j);
			j = NULL;
		}
	}
	free(s);
	return j;
}

cJSON *crdt_vv_to_json(const struct crdt_vv *vv)
{
	cJSON *o = cJSON_CreateObject();

	for (size_t i = 0; o && i < vv->len; i++) {
		char id[CRDT_RID_STRLEN];
		crdt_rid_format(crdt_vv_entry_rid(&vv->e[i]), id);
		/* JSON numbers are doubles; counters beyond 2^53 would lose digits */
		if (!cJSON_AddNumberToObject(o, id, (double)vv->e[i].n)) {
			cJSON_Delete(o);
			return NULL;
		}
	}
	return o;
}

cJSON *crdt_gcounter_to_json(const struct crdt_gcounter *g)
{
	cJSON *j = cJSON_CreateObject();
	cJSON *reps = crdt_vv_to_json(&g->vv);
	int64_t v;
	bool ok;

	if (!j || !reps)
		goto fail;
	ok = cJSON_AddStringToObject(j, "type", "gcounter") != NULL;
	if (crdt_gcounter_value(g, &v) == 0)
		ok = ok && cJSON_AddNumberToObject(j, "value", (double)v) != NULL;
	else
		ok = ok && cJSON_AddNullToObject(j, "value") && cJSON_AddTrueToObject(j, "overflow");
	if (!ok || !cJSON_AddItemToObject(j, "replicas", reps))
		goto fail;
	return j;
fail:
	cJSON_Delete(reps);
	cJSON_Delete(j);
	return NULL;
}

cJSON *crdt_pncounter_to_json(const struct crdt_pncounter *c)
{
	cJSON *j = cJSON_CreateObject();
	cJSON *p = crdt_vv_to_json(&c->p);
	cJSON *n = crdt_vv_to_json(&c->n);
	int64_t v;
	bool ok;

	if (!j || !p || !n)
		goto fail;
	ok = cJSON_AddStringToObject(j, "type", "pncounter") != NULL;
	if (crdt_pncounter_value(c, &v) == 0)
		ok = ok && cJSON_AddNumberToObject(j, "value", (double)v) != NULL;
	else
		ok = ok && cJSON_AddNullToObject(j, "value") && cJSON_AddTrueToObject(j, "overflow");
	if (!ok || !cJSON_AddItemToObject(j, "p", p))
		goto fail;
	p = NULL;
	if (!cJSON_AddItemToObject(j, "n", n))
		goto fail;
	n = NULL;
	/* what deletes saw, only once there was one */
	if ((c->bp.len && !cJSON_AddItemToObject(j, "base_p", crdt_vv_to_json(&c->bp))) ||
	    (c->bn.len && !cJSON_AddItemToObject(j, "base_n", crdt_vv_to_json(&c->bn))))
		goto fail;
	return j;
fail:
	cJSON_Delete(p);
	cJSON_Delete(n);
	cJSON_Delete(j);
	return NULL;
}

static int add_elem_cb(const uint8_t *e, size_t len, void *ctx)
{
	cJSON *el = elem_json(e, len);

	if (!el)
		return CRDT_ENOMEM;
	cJSON_AddItemToArray(ctx, el);
	return 0;
}

cJSON *crdt_gset_to_json(const struct crdt_gset *s)
{
	cJSON *o = cJSON_CreateObject(), *arr;

	if (!o || !cJSON_AddStringToObject(o, "type", "gset") ||
	    !(arr = cJSON_AddArrayToObject(o, "elements")) ||
	    crdt_gset_foreach(s, add_elem_cb, arr) < 0) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

cJSON *crdt_orset_to_json(const struct crdt_orset *s)
{
	struct et_slot **v = NULL;
	cJSON *o = cJSON_CreateObject(), *els, *ctx, *dots;
	char id[CRDT_RID_STRLEN];

	if (!o || !cJSON_AddStringToObject(o, "type", "orset") ||
	    !(els = cJSON_AddArrayToObject(o, "elements")) ||
	    !(ctx = cJSON_AddObjectToObject(o, "context")) ||
	    !(dots = cJSON_AddArrayToObject(o, "dots")) || et_sorted(&s->tab, &v) < 0)
		goto fail;
	for (uint32_t k = 0; k < s->nreps; k++) {
		const struct rep *p = &s->reps[s->order[k]];
		cJSON *a;
		crdt_rid_format(&p->rid, id);
		if (!(a = cJSON_AddArrayToObject(ctx, id)))
			goto fail;
		for (uint32_t i = 0; i < p->n; i++) {
			cJSON *pair = cJSON_CreateArray();
			if (!pair)
				goto fail;
			cJSON_AddItemToArray(a, pair);
			if (!cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)p->iv[i].lo)) ||
			    !cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)p->iv[i].hi)))
				goto fail;
		}
	}
	for (size_t i = 0; i < s->tab.count; i++) {
		const struct dot *d;
		struct dot t;
		size_t n = get_dots(s, v[i]->pay, &t, &d);
		cJSON *el = elem_json(et_key(v[i]), et_len(v[i])), *dl;

		if (!el)
			goto fail;
		cJSON_AddItemToArray(els, el);
		if (!(dl = cJSON_CreateArray()))
			goto fail;
		cJSON_AddItemToArray(dots, dl);
		for (size_t x = 0; x < n; x++) {
			cJSON *dj = cJSON_CreateArray();
			if (!dj)
				goto fail;
			cJSON_AddItemToArray(dl, dj);
			crdt_rid_format(&s->reps[d[x].ri].rid, id);
			if (!cJSON_AddItemToArray(dj, cJSON_CreateString(id)) ||
			    !cJSON_AddItemToArray(dj, cJSON_CreateNumber((double)d[x].ctr)))
				goto fail;
		}
	}
	free(v);
	return o;
fail:
	free(v);
	cJSON_Delete(o);
	return NULL;
}

/* Standard base64 with padding, NUL-terminated; NULL on -ENOMEM. */
static char *base64(const uint8_t *s, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < len)
			v |= s[i + 2];
		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = i + 1 < len ? tab[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static cJSON *value_json(const struct crdt_lwwreg *r, bool *ret_b64)
{
	cJSON *v;
	char *s;

	const uint8_t *val = crdt_lwwreg_value(r);

	*ret_b64 = !is_text(val, r->len);
	s = *ret_b64 ? base64(val, r->len) : malloc(r->len + 1);
	if (!s)
		return NULL;
	if (!*ret_b64) {
		if (r->len)
			memcpy(s, val, r->len);
		s[r->len] = '\0';
	}
	v = cJSON_CreateString(s);
	free(s);
	return v;
}

cJSON *crdt_lwwreg_to_json(const struct crdt_lwwreg *r)
{
	cJSON *j = cJSON_CreateObject(), *v = NULL, *ts = NULL;
	char id[CRDT_RID_STRLEN];
	bool b64 = false;

	if (!j || !cJSON_AddStringToObject(j, "type", "lwwreg"))
		goto fail;
	if (!r->set && !r->del) {
		if (!cJSON_AddNullToObject(j, "value"))
			goto fail;
		return j;
	}
	/* a tombstone: no value, and the stamp of the value it removed */
	v = r->del ? cJSON_CreateNull() : value_json(r, &b64);
	if (!v || !cJSON_AddItemToObject(j, "value", v))
		goto fail;
	v = NULL;
	if (r->del && !cJSON_AddTrueToObject(j, "deleted"))
		goto fail;
	if (b64 && !cJSON_AddStringToObject(j, "encoding", "base64"))
		goto fail;
	ts = cJSON_CreateArray();
	if (!ts || !cJSON_AddItemToArray(ts, cJSON_CreateNumber((double)r->ts.ms)) ||
	    !cJSON_AddItemToArray(ts, cJSON_CreateNumber(r->ts.lc)) ||
	    !cJSON_AddItemToObject(j, "ts", ts))
		goto fail;
	ts = NULL;
	crdt_rid_format(crdt_rid_at(r->rix), id);
	if (!cJSON_AddStringToObject(j, "replica", id))
		goto fail;
	return j;
fail:
	cJSON_Delete(v);
	cJSON_Delete(ts);
	cJSON_Delete(j);
	return NULL;
}

cJSON *crdt_obj_to_json(const struct crdt_obj *o)
{
	switch (o->type) {
	case CRDT_GCOUNTER: return crdt_gcounter_to_json(o->gc);
	case CRDT_PNCOUNTER: return crdt_pncounter_to_json(o->pn);
	case CRDT_GSET: return crdt_gset_to_json(o->gs);
	case CRDT_ORSET: return crdt_orset_to_json(o->os);
	case CRDT_LWWREG: return crdt_lwwreg_to_json(o->lww);
	}
	return NULL;
}
