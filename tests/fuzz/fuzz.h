/* Shared by the fuzz targets: a check that aborts (so libFuzzer and the
 * replay driver both report it), and the fixed cluster key the datagram
 * target and the corpus generator use. */
#ifndef CRDTD_FUZZ_H
#define CRDTD_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
