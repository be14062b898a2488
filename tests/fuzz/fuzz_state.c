/* libFuzzer target for each type's state decoder (crdt_obj_decode: the
 * first byte is the type tag, so one target covers every type).  What
 * decodes must re-encode to an equal state, merge into a copy of itself
 * without change, and render as JSON. */
#include <errno.h>
#include <string.h>

#include "crdt/json.h"
#include "crdt/obj.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct crdt_obj o, back, copy;
	struct crdt_buf b;
	cJSON *j;
	int r;

	if (crdt_obj_decode(data, size, &o) < 0)
		return 0;
	crdt_buf_init(&b, 0);
	CHECK(crdt_obj_encode(&o, &b) == 0);
	CHECK(crdt_obj_decode(b.data, b.len, &back) == 0);
	CHECK(crdt_obj_equal(&o, &back));
	if (crdt_obj_copy(&o, &copy) == 0) {
		r = crdt_obj_merge(&copy, &back);
		CHECK(r == 0 || r == -ENOMEM);
		if (r == 0)
			CHECK(crdt_obj_equal(&o, &copy));
		crdt_obj_done(&copy);
	}
	if ((j = crdt_obj_to_json(&o)))
		cJSON_Delete(j);
	crdt_obj_done(&back);
	crdt_obj_done(&o);
	crdt_buf_done(&b);
	return 0;
}
