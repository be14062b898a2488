/* libFuzzer target for the stored-state loader's per-record step
 * (journal_apply_record): one journal value, checksum first, applied to a
 * slot.  Byte 0 picks the slot's type (low 3 bits) and whether the target
 * fixes the checksum (bit 3), so the fuzzer gets past it half the time; the
 * rest is the value (with the fix: the value after its checksum).  A record
 * that fails must leave the slot valid: it is encoded and decoded again.
 * With bit 4 set the rest is a write-ahead log instead (state/wal.h): its
 * records are read as the start-up reads them, each payload's ops checked;
 * neither may read past the buffer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/obj.h"
#include "fuzz.h"
#include "state/journal.h"
#include "state/jops.h"
#include "state/jwriter.h"
#include "state/store.h"
#include "state/wal.h"

#define FP 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t val[1 << 20];
	struct crdt_rid self;
	struct crdt_obj slot, back;
	struct crdt_buf b;
	enum crdt_type t;
	size_t len;
	uint64_t fp;

	if (size < 1 || size > sizeof(val) - FP)
		return 0;
	if (data[0] & 16) {
		struct wal_rec r;
		size_t off = 0, n = size - 1;
		uint8_t *log = malloc(n ? n : 1); /* exactly the log: overreads show */
		CHECK(log != NULL);
		memcpy(log, data + 1, n);
		while (wal_next(log, n, &off, &r) > 0) {
			CHECK(r.p >= log && r.p + r.n <= log + n && off <= n);
			(void)jops_check(r.p, r.n);
		}
		CHECK(off <= n);
		free(log);
		return 0;
	}
	t = (enum crdt_type)(CRDT_TYPE_MIN + (data[0] & 7) % (CRDT_TYPE_MAX - CRDT_TYPE_MIN + 1));
	if (data[0] & 8) {
		fp = store_fingerprint(data + 1, size - 1);
		for (int i = 0; i < FP; i++)
			val[i] = (uint8_t)(fp >> (56 - 8 * i));
		memcpy(val + FP, data + 1, size - 1);
		len = size - 1 + FP;
	} else {
		memcpy(val, data + 1, size - 1);
		len = size - 1;
	}
	memset(self.b, 0x11, sizeof(self.b));
	CHECK(crdt_obj_new(t, &slot) == 0);
	(void)journal_apply_record(val, len, &self, &slot);
	crdt_buf_init(&b, 0);
	CHECK(crdt_obj_encode(&slot, &b) == 0);
	CHECK(crdt_obj_decode(b.data, b.len, &back) == 0);
	CHECK(crdt_obj_equal(&slot, &back));
	crdt_obj_done(&back);
	crdt_obj_done(&slot);
	crdt_buf_done(&b);
	return 0;
}
