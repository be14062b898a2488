/* The store's census, a slice at a time (http/census.h). */
#include "http/census.h"

#include <stdio.h>
#include <string.h>

static const char *const type_names[] = { NULL, "gcounter", "pncounter", "gset", "orset", "lwwreg", "ormap" };
_Static_assert(sizeof(type_names) / sizeof(type_names[0]) == CRDT_TYPE_MAX + 1,
	       "a name for every CRDT type");

static void result_init(struct census_result *r)
{
	memset(r, 0, sizeof(*r));
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++)
		r->types[t - CRDT_TYPE_MIN].name = type_names[t];
}

void census_start(struct census *c, const struct store *s)
{
	c->running = true;
	store_walk_start(s, &c->walk);
	result_init(&c->part);
}

/* Whether @a ranks above @b among the largest: more elements, then more
 * stored bytes. */
static bool larger(const struct snapshot_instance *a, const struct snapshot_instance *b)
{
	return a->elements != b->elements ? a->elements > b->elements
					  : a->stored_bytes > b->stored_bytes;
}

static void keep_largest(const struct census *c, struct census_result *r,
			 const struct store_entry *e, enum crdt_type t, const struct store_inst *in,
			 uint64_t elements)
{
	struct snapshot_instance x = { .type = type_names[t], .elements = elements,
				       .stored_bytes = journal_inst_bytes(c->journal, in) };
	size_t n = r->nlargest, i;

	if (n == CENSUS_LARGEST && !larger(&x, &r->largest[n - 1]))
		return;
	if (e->name_len < sizeof(x.name))
		memcpy(x.name, e->name, e->name_len);
	else
		snprintf(x.name, sizeof(x.name), "%.*s...", (int)sizeof(x.name) - 4,
			 (const char *)e->name);
	for (size_t k = 0; k < sizeof(x.name) && x.name[k]; k++) /* binary-safe names */
		if ((unsigned char)x.name[k] < 0x20)
			x.name[k] = '?';
	if (n < CENSUS_LARGEST)
		n++;
	for (i = n - 1; i > 0 && larger(&x, &r->largest[i - 1]); i--)
		r->largest[i] = r->largest[i - 1];
	r->largest[i] = x;
	r->nlargest = n;
}

/* Every instance of a visible name, as INFO keyspace counts names: without
 * a type conflict a name holds one type, its visible one, and the others
 * need not be asked for. */
static void count(struct census *c, const struct store *s, struct store_entry *e)
{
	enum crdt_type first = store_entry_type(e);
	int last = s->stats.conflicts ? CRDT_TYPE_MAX : (int)first;

	if (!first)
		return;
	for (int t = first; t <= last; t++) {
		struct store_inst *in = store_entry_inst(e, (enum crdt_type)t);
		if (!in || !in->obj.p)
			continue;
		uint64_t n = crdt_obj_card(&in->obj);
		c->part.types[t - CRDT_TYPE_MIN].instances++;
		c->part.types[t - CRDT_TYPE_MIN].elements += n;
		keep_largest(c, &c->part, e, (enum crdt_type)t, in, n);
	}
}

bool census_step(struct census *c, const struct store *s, size_t names, uint64_t now_ms)
{
	struct store_entry *e;

	if (!c->running || s->ocap)
		return false;
	if (s->tgen != c->walk.tgen) { /* rehashed: the names moved */
		c->restarts++;
		census_start(c, s);
	}
	for (size_t i = 0; i < names; i++) {
		if (!(e = store_next(s, &c->walk))) {
			c->part.done_ms = now_ms;
			c->last = c->part;
			c->have_last = true;
			c->running = false;
			return true;
		}
		count(c, s, e);
	}
	return false;
}
