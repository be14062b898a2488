/* Any libcrdt state behind one tagged handle, for code (the daemon) that
 * holds instances of every type side by side. */
#ifndef CRDT_OBJ_H
#define CRDT_OBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/codec.h"
#include "crdt/gcounter.h"
#include "crdt/gset.h"
#include "crdt/lwwreg.h"
#include "crdt/orset.h"
#include "crdt/pncounter.h"

struct crdt_obj {
	enum crdt_type type;
	union {
		void *p;
		struct crdt_gcounter *gc;
		struct crdt_pncounter *pn;
		struct crdt_gset *gs;
		struct crdt_orset *os;
		struct crdt_lwwreg *lww;
	};
};

/** An empty state of @t into @ret.  -EINVAL for an unknown type, -ENOMEM. */
int crdt_obj_new(enum crdt_type t, struct crdt_obj *ret);
/** Free the state; accepts an obj whose p is NULL. */
void crdt_obj_done(struct crdt_obj *o);
/** -ETYPE (CRDT_ETYPE) when the types differ. */
int crdt_obj_merge(struct crdt_obj *dst, const struct crdt_obj *src);
bool crdt_obj_equal(const struct crdt_obj *a, const struct crdt_obj *b);
int crdt_obj_copy(const struct crdt_obj *o, struct crdt_obj *ret);
int crdt_obj_encode(const struct crdt_obj *o, struct crdt_buf *b);
/** The type comes from the encoding's tag. */
int crdt_obj_decode(const uint8_t *buf, size_t len, struct crdt_obj *ret);
int crdt_obj_split(const struct crdt_obj *o, size_t max, crdt_piece_cb cb, void *ctx);
/** Whether @remote holds writes made under @rid that @local (same type, or
 * NULL for none) lacks: a counter entry of @rid above ours, a causal context
 * reaching past ours for @rid, a register written by @rid at a later time.
 * For the replica whose id @rid is, that is proof that another history was
 * written under its id (a restored snapshot of a running process, a clone):
 * it must stop writing under @rid.  G-Sets carry no replica ids: false. */
bool crdt_obj_knows_more_of(const struct crdt_obj *remote, const struct crdt_obj *local,
			    const struct crdt_rid *rid);

#endif
