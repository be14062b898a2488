/* The store's census for the HTTP pages: instances and set members by CRDT
 * type, and the largest instances, counted a slice of the store's table at
 * a time, so that a scrape never walks every name in one loop pass (at
 * 1,000,000 names that took 105-150 ms; docs/operations.md, "Cost").
 *
 * Pure: it reads the store it is handed, between steps, and the time it is
 * told.  The HTTP server drives it (http/server.c: a step a loop pass on an
 * idle handle, started by a scrape) and the pages show the last finished
 * census with its age.  A rehash of the store's table moves its names, and
 * a walk across it may meet a name twice (store_next): the census waits
 * while one runs, and starts again after one began or ended.  Nothing is
 * kept of an entry between steps but copies, so names may come and go
 * meanwhile. */
#ifndef CRDTD_HTTP_CENSUS_H
#define CRDTD_HTTP_CENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/snapshot.h"
#include "state/journal.h"
#include "state/store.h"

#define CENSUS_LARGEST 10
#define CENSUS_NTYPES (CRDT_TYPE_MAX - CRDT_TYPE_MIN + 1)

struct census_result {
	struct snapshot_type types[CENSUS_NTYPES]; /* in type order */
	struct snapshot_instance largest[CENSUS_LARGEST]; /* largest first */
	size_t nlargest;
	uint64_t done_ms; /* when the walk finished (the clock census_step is given) */
};

struct census {
	/* what each instance's records take in it (NULL: no data_dir) */
	const struct journal *journal;
	bool running;
	struct store_walk walk; /* the walk under way (walk.tgen: the tables it began on) */
	struct census_result part;
	bool have_last;
	struct census_result last; /* the last finished */
	uint64_t restarts;         /* walks begun again: the table was rehashed */
};

/** Begin a walk of @s (a census under way begins again). */
void census_start(struct census *c, const struct store *s);
/** Count up to @names names of @s (none while its table is rehashed).
 * True when the walk finished at this step: c->last is the new census
 * (and c->running false).  False with nothing under way too. */
bool census_step(struct census *c, const struct store *s, size_t names, uint64_t now_ms);

#endif
