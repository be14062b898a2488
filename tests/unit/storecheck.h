/* The store's keyspace counts (store_keyspace, what DBSIZE and INFO
 * keyspace show) against a walk of its tables that asks every name its
 * visible type now (store_entry_type, what KEYS and TYPE answer).  Include
 * after cmocka.h. */
#ifndef CRDTD_TEST_STORECHECK_H
#define CRDTD_TEST_STORECHECK_H

#include <inttypes.h>

#include "state/store.h"

static inline int storecheck_count(struct store_entry *e, void *ctx)
{
	struct store_keyspace *w = ctx;
	enum crdt_type t = store_entry_type(e);

	if (t) {
		w->keys++;
		w->by_type[t]++;
		w->expires += store_entry_deadline(e) != 0;
	}
	return 0;
}

static inline void assert_keyspace(const struct store *s)
{
	struct store_keyspace ks, w = { 0 };

	store_foreach(s, storecheck_count, &w);
	store_keyspace(s, &ks);
	if (memcmp(&ks, &w, sizeof(w)) != 0)
		fail_msg("keyspace counts: %" PRIu64 " names (%" PRIu64 " with a deadline), a walk "
			 "of the table finds %" PRIu64 " (%" PRIu64 ")", ks.keys, ks.expires, w.keys,
			 w.expires);
	for (int t = 0; t < STORE_NTYPES; t++)
		assert_int_equal(ks.by_type[t], w.by_type[t]);
}

#endif
