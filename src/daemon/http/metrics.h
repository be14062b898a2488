/* /metrics: a snapshot (http/snapshot.h) in the Prometheus text exposition
 * format 0.0.4: every family with its HELP and TYPE, counters ending in
 * _total, label values escaped.  Labels only from bounded sets: peer (the
 * configured peers), type, command (the command table), reason (drop
 * reasons), code (the statuses the listener answers); never an instance
 * name.  Pure: no libuv, no daemon. */
#ifndef CRDTD_HTTP_METRICS_H
#define CRDTD_HTTP_METRICS_H

#include "crdt/buf.h"
#include "http/snapshot.h"

/** Append the exposition of @s to @out (check out->err for memory). */
void metrics_render(const struct snapshot *s, struct crdt_buf *out);

#endif
