/* Authenticated (and optionally encrypted) gossip datagrams with a cluster
 * key (docs/protocol.md, "Authentication"), and the key files that hold it.
 *
 * auth_seal() turns a plain version-1 datagram (flags 0, as wire.c builds
 * it) into a sealed one; auth_open() checks a sealed datagram and gives back
 * the plain datagram, which wire.c then parses as usual.  Nothing past the
 * 7-byte fixed header (magic, version, type, flags) of a sealed datagram is
 * trusted, or even read, before its tag has been checked.
 *
 * Sealed layout (flag WIRE_FLAG_AUTH, plus WIRE_FLAG_ENCRYPTED):
 *   0   7   magic "CRDT", version 1, type, flags
 *   7   4   key id: the first 4 bytes of BLAKE2b-128 keyed with the key
 *   11  24  nonce, random (XChaCha20-Poly1305)
 *   35  n   the plain datagram from offset 7 on (replica id, node, body),
 *           encrypted when WIRE_FLAG_ENCRYPTED
 *   35+n 16 Poly1305 tag over bytes 0 .. 35+n (as additional data when not
 *           encrypted)
 *
 * The seal/open functions are pure (libsodium only); the key-file functions
 * read and write files but never log: errors come back as text.
 */
#ifndef CRDTD_AUTH_H
#define CRDTD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_KEY_LEN 32
#define AUTH_KID_LEN 4
#define AUTH_NONCE_LEN 24
#define AUTH_TAG_LEN 16
#define AUTH_FIXED 7 /* magic, version, type, flags */
/* Bytes a sealed datagram has beyond the plain one. */
#define AUTH_OVERHEAD (AUTH_KID_LEN + AUTH_NONCE_LEN + AUTH_TAG_LEN)
/* The sending key and at most this many old ones accepted on receive. */
#define AUTH_KEYS_MAX 8

struct auth_key {
	uint8_t key[AUTH_KEY_LEN];
	uint8_t kid[AUTH_KID_LEN];
};

/** keys[0] seals; every key opens.  Plain data: copy it freely, and wipe
 * it with auth_keyring_wipe when done. */
struct auth_keyring {
	struct auth_key keys[AUTH_KEYS_MAX];
	size_t n;
	bool encrypt; /* seal with encryption, not authentication only */
};

/** Initialise libsodium (once; safe to call again).  0 or -EIO. */
int auth_init(void);

/** Add @key to @kr (the first added seals).  -ENOSPC past AUTH_KEYS_MAX;
 * a key already there is not added twice (0). */
int auth_keyring_add(struct auth_keyring *kr, const uint8_t key[AUTH_KEY_LEN]);
/** Zero the keys. Accepts NULL. */
void auth_keyring_wipe(struct auth_keyring *kr);

/** Seal the plain datagram (@d, @len) into @out (@out_size >= len +
 * AUTH_OVERHEAD) with kr->keys[0]; *ret_len is the sealed length.
 * -EINVAL when @kr has no key or (@d, @len) is not a plain datagram (shorter
 * than AUTH_FIXED, or a flag set), -EMSGSIZE when @out is too small. */
int auth_seal(const struct auth_keyring *kr, const uint8_t *d, size_t len, uint8_t *out,
	      size_t out_size, size_t *ret_len);

/** Check the sealed datagram (@d, @len) and write the plain datagram into
 * @out (@out_size >= len - AUTH_OVERHEAD); *ret_len is its length.
 * -EBADMSG when it is not sealed (no WIRE_FLAG_AUTH, unknown flags, too
 * short), -ENOKEY when no key in @kr has its key id, -EBADE when the tag
 * does not verify (with the key of that id), -EMSGSIZE when @out is too
 * small.  On failure @out holds nothing of the datagram (bytes it was
 * decrypted into are zeroed). */
int auth_open(const struct auth_keyring *kr, const uint8_t *d, size_t len, uint8_t *out,
	      size_t out_size, size_t *ret_len);

/** Parse a key: 64 hex digits, blanks and newlines around them ignored.
 * 0 or -EINVAL. */
int auth_key_parse(const char *text, size_t len, uint8_t ret[AUTH_KEY_LEN]);

/** Read the key file @path into @ret.  The file must be a regular file
 * that neither group nor others can read or write (mode 0600 or 0400),
 * else -EPERM.  Errors are negative errno with a message in @err. */
int auth_key_load(const char *path, uint8_t ret[AUTH_KEY_LEN], char *err, size_t err_size);

/** Load a keyring: @key_file seals, each path of the comma-separated
 * @old_key_files (may be NULL or "") opens too.  On failure *ret is
 * untouched and @err holds a message naming the file. */
int auth_keyring_load(const char *key_file, const char *old_key_files, bool encrypt,
		      struct auth_keyring *ret, char *err, size_t err_size);

/** Write a new random key to @path (created with mode 0600; an existing
 * file is never overwritten: -EEXIST).  Errors as negative errno with a
 * message in @err. */
int auth_gen_key_file(const char *path, char *err, size_t err_size);

#endif
