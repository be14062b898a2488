/* Shared by the fuzz targets: a check that aborts (so libFuzzer and the
 * replay driver both report it), and the fixed cluster key the datagram
 * target and the corpus generator use. */
#ifndef CRDTD_FUZZ_H
#define CRDTD_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* For a target's own bookkeeping (not the code under test): no coverage
 * counters or comparison hooks there, which would cost time on every byte and
 * steer libFuzzer by the harness instead of the parser.  The checks and the
 * sanitizers are unchanged.  clang only; gcc (the replay build) has nothing
 * to leave out. */
#ifdef __clang__
#define FUZZ_HARNESS __attribute__((no_sanitize("coverage")))
#else
#define FUZZ_HARNESS
#endif

#define CHECK(x)                                                                          \
	do {                                                                              \
		if (!(x)) {                                                               \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x); \
			abort();                                                          \
		}                                                                         \
	} while (0)

/* The datagram target's keys: seals with FUZZ_KEY_A, opens A and B. */
#define FUZZ_KEY_A 0x5a
#define FUZZ_KEY_B 0xa5

#endif
