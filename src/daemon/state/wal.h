/* The write-ahead log: data_dir/store.wal, a file of records written in turn,
 * each one group of the writer thread's LMDB ops, numbered (docs/storage.md).
 * A write is stored once its record is appended (a write() into the page
 * cache, which kill -9 does not lose); under durability = always it is
 * acknowledged once the record is also synced: one fdatasync of a sequential
 * append, where an LMDB commit syncs twice (its pages, then its meta page).
 * LMDB itself takes the same ops in a transaction that stays open and is
 * committed every batch_ms; then the log is emptied and written again from
 * its start.  At start-up the records numbered above what LMDB holds are
 * applied again.
 *
 * A record: its payload's length (4 bytes, big-endian), its number (8), a
 * checksum of both and the payload (8: store_fingerprint), the payload.  A
 * record that is cut short or does not check out ends the log: it is what a
 * crash left of an append that never finished (or, after a crash of the
 * machine, whose sync never returned), so no reply waited on it.  Past the
 * records written since the last reset lie those of earlier passes over the
 * file, with lower numbers: the reader tells them apart by their numbers
 * (state/jwriter.c, wal_apply).
 *
 * This module owns the file and its format; what a payload means is the
 * writer's (state/jwriter.c).  Not thread-safe: one thread uses a wal at a
 * time. */
#ifndef CRDTD_WAL_H
#define CRDTD_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WAL_HEAD 20 /* length, number, checksum */

struct wal;

/** Open (creating) the log at @path for appending; it starts empty (call
 * wal_read and replay what it holds first), and its directory entry is
 * synced.  -errno. */
int wal_open(const char *path, struct wal **ret);
/** Close it.  Accepts NULL. */
void wal_close(struct wal *w);
/** Append record @seq with payload @p[0..n) (not yet synced).  On failure
 * the file is cut back to where it was: -errno. */
int wal_append(struct wal *w, uint64_t seq, const void *p, size_t n);
/** Cut the last append back off (its transaction failed after it). */
int wal_undo(struct wal *w);
/** fdatasync: every record appended is on the disk.  -errno. */
int wal_sync(struct wal *w);
/** Empty the log (what it held is in LMDB, synced): the next record goes
 * at its start.  Unless @cut (at shutdown) the file keeps its length and
 * its blocks, and the records past the new ones are older ones, which LMDB
 * holds: an ftruncate per commit held the writer thread 0.4-6.6 ms on this
 * project's VM (the file system's journal), and a write into blocks the
 * file already has needs no allocation, so its fdatasync writes no
 * metadata.  A reader tells the old records by their numbers.  -errno. */
int wal_reset(struct wal *w, bool cut);
/** Cut the file back to @keep bytes (or to the records appended since the
 * last reset, if more) when it is over twice as long: the length a burst
 * of writes gave it is kept by wal_reset, and need not be kept for ever.
 * Past the records since the last reset lie only older ones, which LMDB
 * holds.  1 when it was cut, 0 when not, -errno. */
int wal_trim(struct wal *w, uint64_t keep);
/** Bytes appended since the last reset. */
uint64_t wal_size(const struct wal *w);

/* ---- reading (start-up) ---- */

struct wal_rec {
	uint64_t seq;
	const uint8_t *p;
	size_t n;
};

/** The record at *@off of @buf[0..len): 1 and *@off past it, 0 at the end,
 * -EBADMSG where a record is cut short or does not check out (*@off stays:
 * the bytes from there on are a crash's leftover).  Never reads past @len. */
int wal_next(const uint8_t *buf, size_t len, size_t *off, struct wal_rec *r);
/** The whole file at @path into a malloc'd *@buf (NULL and 0 when it does
 * not exist).  -errno. */
int wal_read(const char *path, uint8_t **buf, size_t *len);

#endif
