/* Internal: is a byte string text that JSON views can show as a string? */
#ifndef CRDT_TEXT_H
#define CRDT_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Strict UTF-8: no overlong forms, surrogates or code points past
 * U+10FFFF, and no NUL, which a C string cannot carry. */
bool crdt_is_text(const uint8_t *p, size_t n);

#endif
