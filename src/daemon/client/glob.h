/* Redis-style glob matching for KEYS and SCAN MATCH: * ? [abc] [^a-z] and
 * backslash escapes, over binary-safe strings. */
#ifndef CRDTD_GLOB_H
#define CRDTD_GLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool glob_match(const uint8_t *pat, size_t plen, const uint8_t *s, size_t slen);

#endif
