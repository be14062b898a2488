/* INFO and CRDT.PEERS: the daemon's counters rendered as Redis renders them
 * ("# Section" headers, "key:value" lines). */
#ifndef CRDTD_INFO_H
#define CRDTD_INFO_H

#include "crdt/buf.h"

struct daemon;

/** INFO [section]: "" or "all"/"everything"/"default" for every section; an
 * unknown section gives an empty bulk, as Redis does. */
void info_render(struct daemon *d, const char *section, struct crdt_buf *out);
/** CRDT.PEERS: one array per peer of field/value pairs. */
void info_peers(struct daemon *d, struct crdt_buf *out);

#endif
