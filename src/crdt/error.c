/* crdt_strerror: the text of each libcrdt error code. */
#include <string.h>

#include "crdt/error.h"

const char *crdt_strerror(int err)
{
	switch (err) {
	case CRDT_OK:
		return "success";
	case CRDT_ENOMEM:
		return "out of memory";
	case CRDT_EINVAL:
		return "invalid argument";
	case CRDT_EOVERFLOW:
		return "value out of int64 range";
	case CRDT_EBADMSG:
		return "malformed encoding";
	case CRDT_EPROTO:
		return "unknown type or format version";
	case CRDT_EMSGSIZE:
		return "size limit exceeded";
	case CRDT_ETYPE:
		return "state of another type";
	default:
		return err < 0 ? strerror(-err) : "unknown error";
	}
}
