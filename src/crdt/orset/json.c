/* The OR-Set's JSON view. */
#include <stdlib.h>

#include "internal.h"

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
		cJSON *el = et_elem_json(et_key(v[i]), et_len(v[i])), *dl;

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
