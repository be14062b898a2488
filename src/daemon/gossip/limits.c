/* [limits]: the rules, once (gossip/limits.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "gossip/auth.h"
#include "gossip/limits.h"
#include "gossip/wire.h"
#include "state/store.h"

static int why_not(char *why, size_t why_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int why_not(char *why, size_t why_size, const char *fmt, ...)
{
	va_list ap;

	if (why && why_size) {
		va_start(ap, fmt);
		vsnprintf(why, why_size, fmt, ap);
		va_end(ap);
	}
	return -EMSGSIZE;
}

/* Whether a name of @name_len bytes and an element (or value) of @len
 * bytes of type @t surely fit one datagram, without wire_max_element's
 * exact room: that room is never less than the budget less the header, the
 * name, the type's piece overhead and three varints of at most 10 bytes
 * (the name's length, the budget's, the element's).  Nearly every write,
 * and every record merged from a peer, takes this path. */
static bool surely_fits(const struct gossip_limits *lim, enum crdt_type t, size_t name_len,
			size_t len)
{
	const struct crdt_type_ops *ops = crdt_type_ops(t);

	return ops && ops->piece_overhead && !ops->value && name_len <= WIRE_NAME_MAX &&
	       wire_header_len(lim->node_len) + name_len + ops->piece_overhead + 30 + len <=
		       lim->dgram;
}

int gossip_limit_name(const struct gossip_limits *lim, enum crdt_type t, size_t name_len,
		      char *why, size_t why_size)
{
	size_t room;

	if (lim->max_name && name_len > lim->max_name)
		return why_not(why, why_size, "key longer than max_name_bytes (%zu)", lim->max_name);
	if (t && lim->dgram && !surely_fits(lim, t, name_len, 0) &&
	    wire_max_element(lim->dgram, lim->node_len, name_len, t, &room) < 0)
		return why_not(why, why_size,
			       "key too long to replicate: a %s named by its %zu bytes does not fit "
			       "one datagram (gossip mtu %zu, less the header)",
			       crdt_type_name(t), name_len, lim->dgram + AUTH_OVERHEAD);
	return 0;
}

int gossip_limit_instances(const struct gossip_limits *lim, size_t held, char *why,
			   size_t why_size)
{
	if (lim->max_instances && held >= lim->max_instances)
		return why_not(why, why_size, "max_instances (%zu) reached; no new key can be created",
			       lim->max_instances);
	return 0;
}

int gossip_limit_element(const struct gossip_limits *lim, enum crdt_type t, size_t name_len,
			 size_t len, char *why, size_t why_size)
{
	bool reg = t == CRDT_LWWREG;
	size_t max = reg ? lim->max_value : lim->max_element, room;

	if (max && len > max)
		return why_not(why, why_size, "%s longer than %s (%zu)", reg ? "value" : "element",
			       reg ? "max_value_bytes" : "max_element_bytes", max);
	if (lim->dgram && !surely_fits(lim, t, name_len, len)) {
		if (wire_max_element(lim->dgram, lim->node_len, name_len, t, &room) < 0)
			room = 0;
		if (len > room)
			return why_not(why, why_size,
				       "%s too long to replicate: beside a key of %zu bytes at most "
				       "%zu bytes of %s fit one datagram (gossip mtu, less the header)",
				       reg ? "value" : "element", name_len, room,
				       reg ? "value" : "element");
	}
	return 0;
}

size_t gossip_limit_parts(const struct gossip_limits *lim, enum crdt_type t)
{
	if (t == CRDT_ORMAP)
		return lim->max_fields;
	return t == CRDT_GSET || t == CRDT_ORSET ? lim->max_elements : 0;
}

int gossip_limit_card(const struct gossip_limits *lim, size_t card, char *why, size_t why_size)
{
	if (lim->max_elements && card > lim->max_elements)
		return why_not(why, why_size, "set would pass max_elements (%zu)", lim->max_elements);
	return 0;
}

int gossip_limit_fields(const struct gossip_limits *lim, size_t fields, char *why,
			size_t why_size)
{
	if (lim->max_fields && fields > lim->max_fields)
		return why_not(why, why_size, "hash would pass max_hash_fields (%zu)",
			       lim->max_fields);
	return 0;
}

struct elem_check {
	const struct gossip_limits *lim;
	enum crdt_type t;
	size_t name_len;
	size_t longest;               /* what gossip_limit_element lets through */
	bool count;                   /* count fresh */
	const struct crdt_obj *local; /* same type, or NULL */
	size_t fresh;                 /* elements the local state lacks */
	char *why;
	size_t why_size;
	int err;
};

static int elem_check_cb(const uint8_t *e, size_t len, void *ctx)
{
	struct elem_check *c = ctx;

	if (len > c->longest &&
	    (c->err = gossip_limit_element(c->lim, c->t, c->name_len, len, c->why, c->why_size)))
		return 1;
	if (c->count && (!c->local || !crdt_obj_contains(c->local, e, len)))
		c->fresh++;
	return 0;
}

struct field_check {
	const struct crdt_ormap *local; /* or NULL */
	size_t fresh;                   /* fields the local hash lacks */
};

static int field_check_cb(const uint8_t *f, size_t flen, const struct crdt_ormap_val *v, void *ctx)
{
	struct field_check *c = ctx;
	struct crdt_ormap_val x;

	c->fresh += !c->local || !crdt_ormap_get(c->local, f, flen, &x);
	return 0;
}

/* Whether a remote record stays within [limits], by the rules the client
 * door uses; on -EMSGSIZE @why says which.  Costs one pass over the record's
 * elements, as the merge does. */
int gossip_limit_state(const struct gossip_limits *lim, const struct store *store,
		       const struct wire_state *w, char *why, size_t why_size)
{
	const struct crdt_obj *o = &w->obj;
	struct store_entry *e;
	const uint8_t *val;
	size_t len, card;
	int r;

	if ((r = gossip_limit_name(lim, o->type, w->name_len, why, why_size)))
		return r;
	/* a new name can pass max_instances only once the store is full: a
	 * lookup only then (or for a set's or hash's own state, below) */
	if (lim->max_instances && store->len >= lim->max_instances &&
	    !store_find(store, w->name, w->name_len) &&
	    (r = gossip_limit_instances(lim, store->len, why, why_size)))
		return r;
	if (o->type == CRDT_LWWREG) {
		if (crdt_lwwreg_get(o->lww, &val, &len))
			return gossip_limit_element(lim, o->type, w->name_len, len, why, why_size);
		return 0;
	}
	e = o->type == CRDT_ORMAP || crdt_obj_is_set(o) ? store_find(store, w->name, w->name_len)
							 : NULL;
	if (o->type == CRDT_ORMAP && lim->max_fields) {
		struct crdt_obj *l = e ? store_entry_slot(e, CRDT_ORMAP) : NULL;
		struct field_check c = { .local = l ? l->om : NULL };
		size_t held = c.local ? crdt_ormap_len(c.local) : 0;
		/* the fields the local hash lacks are counted (a sorted pass
		 * and a lookup each, in a hash that may be large) only when the
		 * record could pass max_hash_fields: a catch-up piece into a
		 * hash far below it costs neither (a tenth of a receiver's CPU
		 * in a catch-up of 1,000,000 fields) */
		if (held + crdt_ormap_len(o->om) > lim->max_fields) {
			crdt_ormap_foreach(o->om, field_check_cb, &c);
			if ((r = gossip_limit_fields(lim, held + c.fresh, why, why_size)))
				return r;
		}
	}
	if (crdt_obj_is_set(o)) {
		struct elem_check c = { .lim = lim, .t = o->type, .name_len = w->name_len,
					.why = why, .why_size = why_size };
		const struct crdt_obj *local = e ? store_entry_slot(e, o->type) : NULL;
		size_t room;

		/* the element bound, once for the record, not once an element */
		c.longest = lim->max_element ? lim->max_element : SIZE_MAX;
		if (lim->dgram) {
			if (wire_max_element(lim->dgram, lim->node_len, w->name_len, o->type, &room) < 0)
				room = 0;
			if (room < c.longest)
				c.longest = room;
		}
		/* the elements the local state lacks are counted (a lookup each
		 * in a set that may be large) only when the record could pass
		 * max_elements: a catch-up piece into a set far below it costs
		 * no lookup */
		card = local ? crdt_obj_card(local) : 0;
		c.count = lim->max_elements && card + crdt_obj_card(o) > lim->max_elements;
		c.local = local;
		crdt_obj_each(o, elem_check_cb, &c); /* any order: no sort */
		if (c.err || !c.count)
			return c.err;
		return gossip_limit_card(lim, card + c.fresh, why, why_size);
	}
	return 0;
}

