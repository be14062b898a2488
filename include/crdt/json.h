/* JSON views of libcrdt states, for people: crdtd's CRDT.JSON and CRDT.INFO,
 * crdt-demo.  They live in their own library, libcrdt_json (pkg-config
 * libcrdt_json, meson crdt_json_dep), so that libcrdt and its headers do
 * not need cJSON.  The shapes are in docs/types.md.
 *
 * Each function returns a new tree that the caller frees with cJSON_Delete,
 * or NULL when memory runs out.  JSON numbers are doubles: counters past
 * 2^53 are shown rounded.
 */
#ifndef CRDT_JSON_H
#define CRDT_JSON_H

#include <cjson/cJSON.h>

#include "crdt/obj.h"

/** {"<uuid>": n, ...}. */
cJSON *crdt_vv_to_json(const struct crdt_vv *vv);
/** {"type":"gcounter","value":v,"replicas":{uuid:n,...}}. */
cJSON *crdt_gcounter_to_json(const struct crdt_gcounter *g);
cJSON *crdt_pncounter_to_json(const struct crdt_pncounter *c);
cJSON *crdt_gset_to_json(const struct crdt_gset *s);
cJSON *crdt_orset_to_json(const struct crdt_orset *s);
cJSON *crdt_lwwreg_to_json(const struct crdt_lwwreg *r);
/** {"type":"ormap","len":n,"fields":[{"field":f,"value":v}|{"field":f,"counter":n},...]},
 * fields in ascending byte order; f and v shown as set elements are. */
cJSON *crdt_ormap_to_json(const struct crdt_ormap *m);
/** The view of @o's type; NULL for an unknown type too. */
cJSON *crdt_obj_to_json(const struct crdt_obj *o);

#endif
