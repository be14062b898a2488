/* [limits]: the bounds on what a client may make a replica hold, and their
 * rules, written once (limits.c) and used twice: the client's commands
 * refuse a write past one, and the gossip core (core.c) merges a remote
 * state past one all the same, counting and logging it.  Pure: no I/O, no
 * allocation; each check reads only its arguments (and the store, for
 * gossip_limit_state). */
#ifndef CRDTD_GOSSIP_LIMITS_H
#define CRDTD_GOSSIP_LIMITS_H

#include <stddef.h>

#include "crdt/codec.h"

struct store;
struct wire_state;

/** [limits]: what a client may make us hold; 0 = no bound.  They protect
 * memory at the client door and must never make replicas diverge, so their
 * rules are written once, here (gossip_limit_*), and used twice: commands
 * refuse a write past one (or one that could never replicate: past the
 * datagram bound of wire_max_element), gossip merges a remote state past
 * one all the same and counts and logs it (limit_exceeded). */
struct gossip_limits {
	size_t max_name;     /* instance name, bytes */
	size_t max_element;  /* one set element, bytes */
	size_t max_value;    /* a register's value, bytes */
	size_t max_elements; /* elements of one set */
	size_t max_fields;   /* fields of one hash */
	size_t max_instances; /* names in the store */
	/* For wire_max_element, set by the gossip: the plain datagram budget
	 * (its mtu less a seal's overhead, whether or not a key is set, so
	 * turning keys on never strands an accepted write; 0 = no bound) and
	 * the length of its node name, which heads each of its datagrams. */
	size_t dgram;
	size_t node_len;
};

/* Each check returns 0 when within, or -EMSGSIZE with the reason in @why
 * (NUL-terminated, at most @why_size bytes, the text of an "-ERR" reply or
 * a log line). */
/** Name of @name_len bytes for a state of type @t (0: any type, only
 * max_name): max_name, and an empty piece of @t fits a datagram beside it. */
int gossip_limit_name(const struct gossip_limits *lim, enum crdt_type t, size_t name_len,
		      char *why, size_t why_size);
/** One more name when @held are held: max_instances. */
int gossip_limit_instances(const struct gossip_limits *lim, size_t held, char *why,
			   size_t why_size);
/** One set element (@t gset or orset) or register value (lwwreg) of @len
 * bytes under a name of @name_len: max_element / max_value, and it fits
 * one datagram. */
int gossip_limit_element(const struct gossip_limits *lim, enum crdt_type t, size_t name_len,
			 size_t len, char *why, size_t why_size);
/** The most members or fields one instance of @t may hold at the client
 * door (max_elements for a set, max_hash_fields for a hash); 0: no bound.
 * A catch-up's announced size past it is not believed (presize). */
size_t gossip_limit_parts(const struct gossip_limits *lim, enum crdt_type t);
/** A set of @card elements: max_elements. */
int gossip_limit_card(const struct gossip_limits *lim, size_t card, char *why, size_t why_size);
/** A hash of @fields fields: max_hash_fields. */
int gossip_limit_fields(const struct gossip_limits *lim, size_t fields, char *why,
			size_t why_size);
/** A remote record @w, by the rules the client door uses: within, or
 * -EMSGSIZE with the reason in @why.  Reads @store for the instance @w
 * would merge into (what it lacks is what counts against max_elements and
 * max_hash_fields); costs one pass over the record's elements, as the
 * merge does. */
int gossip_limit_state(const struct gossip_limits *lim, const struct store *store,
		       const struct wire_state *w, char *why, size_t why_size);

#endif
