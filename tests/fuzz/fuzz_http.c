/* libFuzzer target for the HTTP request path (http/request.c over Debian's
 * http_parser).
 *
 * The first byte chooses max_header_bytes (1024..9184), the second seeds
 * the piece sizes; the rest is fed whole and again in pseudo-random pieces,
 * as reads would bring it.  Both must reach the same verdict; a finished
 * request has a NUL-terminated path within HTTP_PATH_MAX, and no verdict
 * comes after more head bytes than the bound.
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -Iinclude -Isrc/daemon \
 *     tests/fuzz/fuzz_http.c src/daemon/http/request.c -lhttp_parser -o /tmp/fuzz_http
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "http/request.h"

FUZZ_HARNESS static int feed_pieces(struct http_request *r, const uint8_t *p, size_t len,
				    uint32_t seed)
{
	int v = HTTP_REQ_MORE;

	while (len && v == HTTP_REQ_MORE) {
		size_t n;
		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % 64;
		if (n > len)
			n = len;
		v = http_request_feed(r, (const char *)p, n);
		p += n;
		len -= n;
	}
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request whole, pieces;
	size_t max;
	int a, b;

	if (size < 2)
		return 0;
	max = 1024 + (size_t)data[0] * 32;
	http_request_init(&whole, max);
	http_request_init(&pieces, max);
	a = http_request_feed(&whole, (const char *)data + 2, size - 2);
	b = feed_pieces(&pieces, data + 2, size - 2, data[1]);
	CHECK(a == b);
	CHECK(whole.header_bytes <= max && pieces.header_bytes <= max);
	if (a == HTTP_REQ_DONE) {
		const char *path = http_request_path(&whole);
		CHECK(strlen(path) <= HTTP_PATH_MAX);
		CHECK(!strcmp(path, http_request_path(&pieces)));
		CHECK(http_request_bearer_is(&whole, "secret") ==
		      http_request_bearer_is(&pieces, "secret"));
	}
	return 0;
}
