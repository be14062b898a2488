/* /status: the page an operator opens first, rendered from a snapshot
 * (http/snapshot.h): the node, its peers (up, last seen, RTT, traffic), the
 * largest instances, the recent warnings.  One self-contained HTML page (no
 * script, no external asset; it reloads itself every 5 s); every string
 * from the daemon is HTML-escaped.  Pure: no libuv, no daemon. */
#ifndef CRDTD_HTTP_STATUS_H
#define CRDTD_HTTP_STATUS_H

#include "crdt/buf.h"
#include "http/snapshot.h"

/** Append the page for @s to @out (check out->err for memory). */
void status_render(const struct snapshot *s, struct crdt_buf *out);

#endif
