/* Where libcrdt's large tables get their memory faulted in.
 *
 * An element table nearing its load limit maps the next class's slot array
 * ahead and faults it in, a huge page (2 MiB) a call, so that the growth
 * itself is only the placement (elemtab.h, "Growth").  A fault of fresh
 * memory is slow on a VM whose host backs the guest's memory lazily: 2.9 ms
 * for a 2 MiB huge page the guest never used before, against 0.1 ms for one
 * it used (docs/benchmarks.md), and that was a client's SADD waiting, one
 * in a few thousand.  A program that has threads can take the faults off
 * the caller's: given a populate hook, a table calls it once with the whole
 * new array, when it maps it, and faults nothing itself; the growth takes the
 * array whether the hook got to it or not (the pages it has not faulted in
 * are faulted by the placement, as without a hook).  A table sized ahead
 * for a catch-up's announced count (et_reserve_toward) hands its array
 * over the same way, and moves into it only once the hook has it in.
 *
 * The hook must only fault the pages in, never write to them (Linux:
 * madvise(MADV_POPULATE_WRITE)): the table's owner may be writing into the
 * array meanwhile.  The range may be unmapped before the hook is done with
 * it (the table freed): populating what is no longer mapped fails, which
 * the hook ignores, and faulting in pages mapped there again since harms
 * nothing.
 *
 * Set it once, before any table is made (as cJSON_InitHooks): it is one of
 * the two settings libcrdt keeps outside its states (the other is the hash
 * key, crdt/hash.h), and it is not locked.  NULL (the default) faults on
 * the caller's thread. */
#ifndef CRDT_MEM_H
#define CRDT_MEM_H

#include <stddef.h>

typedef void (*crdt_populate_fn)(void *addr, size_t len);

void crdt_set_populate(crdt_populate_fn fn);

#endif
