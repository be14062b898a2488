/* libcrdt error codes.
 *
 * Every libcrdt function that can fail returns 0 (or a count) on success and
 * one of these negative values on failure.  They are negative errno values, so
 * callers may treat them as such; crdt_strerror() gives the message.
 */
#ifndef CRDT_ERROR_H
#define CRDT_ERROR_H

#include <errno.h>

enum crdt_error {
	CRDT_OK = 0,
	CRDT_ENOMEM = -ENOMEM,       /* allocation failed */
	CRDT_EINVAL = -EINVAL,       /* bad argument: zero or negative amount, ... */
	CRDT_EOVERFLOW = -EOVERFLOW, /* result would leave the int64 range */
	CRDT_EBADMSG = -EBADMSG,     /* malformed encoding */
	CRDT_EPROTO = -EPROTO,       /* unknown type tag or format version */
	CRDT_EMSGSIZE = -EMSGSIZE,   /* a size limit was exceeded */
	CRDT_ETYPE = -EMEDIUMTYPE,   /* operation on a state of another type */
};

/** Message for a crdt_error (or any negative errno); never NULL. */
const char *crdt_strerror(int err);

#endif
