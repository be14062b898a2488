/* The data directory: created on first start, and held (flock on
 * data_dir/lock) while the daemon runs, so a second daemon on the same
 * data_dir refuses to start.
 *
 * The replica id is not kept here: a new one is made at every start (see
 * store.h).  data_dir/replica_id, written by crdtd 0.1, is still read
 * so that the journal records written under that id replay as before. */
#ifndef CRDTD_DATADIR_H
#define CRDTD_DATADIR_H

#include <stdbool.h>

#include "crdt/rid.h"

/** Create @data_dir if needed and take its lock.  When data_dir/replica_id
 * exists, its id goes into *ret_legacy and *ret_has_legacy is set.  On error
 * returns -errno and writes a message naming the file into @err.  On success
 * *ret_lock_fd is the held lock (close it to release). */
int datadir_open(const char *data_dir, int *ret_lock_fd, struct crdt_rid *ret_legacy,
		 bool *ret_has_legacy, char *err, size_t errlen);

#endif
