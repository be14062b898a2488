/* The replica's identity on disk: data_dir/replica_id holds the UUID made on
 * first start; data_dir/lock is held (flock) while the daemon runs, so a
 * second daemon on the same data_dir refuses to start. */
#ifndef CRDTD_REPLICA_H
#define CRDTD_REPLICA_H

#include "crdt/rid.h"

/** Create @data_dir if needed, take its lock and read (or make and store)
 * the replica id.  On error returns -errno and writes a message naming the
 * file into @err.  On success *ret_lock_fd is the held lock (close it to
 * release). */
int replica_open(const char *data_dir, struct crdt_rid *ret, int *ret_lock_fd, char *err,
		 size_t errlen);

#endif
