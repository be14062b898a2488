/* INFO and CRDT.PEERS: the daemon's counters rendered as Redis renders them
 * ("# Section" headers, "key:value" lines). */
#ifndef CRDTD_INFO_H
#define CRDTD_INFO_H

#include "crdt/buf.h"

struct daemon;

/* The Redis version crdtd answers as (INFO redis_version, HELLO's version):
 * what clients that check versions before using a command expect. */
#define INFO_REDIS_VERSION "7.0.0"

/** INFO [section]: "" or "all"/"everything"/"default" for every section; an
 * unknown section gives an empty bulk, as Redis does. */
void info_render(struct daemon *d, const char *section, struct crdt_buf *out);
/** CRDT.PEERS: one map per peer (@proto RESP_PROTO2: a flat array of
 * field/value pairs, RESP_PROTO3: a map). */
void info_peers(struct daemon *d, int proto, struct crdt_buf *out);

#endif
