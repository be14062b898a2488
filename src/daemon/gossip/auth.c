/* Sealing gossip datagrams with the cluster key.  See auth.h.
 *
 * One primitive for both modes: XChaCha20-Poly1305 (IETF) with a random
 * 192-bit nonce, so no nonce state has to survive restarts and random nonces
 * never collide in practice.  Authentication only encrypts nothing and puts
 * the whole datagram in the additional data; encryption encrypts everything
 * after the fixed header and key id.  Either way the fixed header, the key
 * id and the nonce are covered by the tag, so flipping the ENCRYPTED flag or
 * the message type breaks it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "gossip/auth.h"
#include "gossip/wire.h"

#define HDR (AUTH_FIXED + AUTH_KID_LEN + AUTH_NONCE_LEN) /* 35 */

_Static_assert(AUTH_FIXED == WIRE_FIXED_LEN, "the fixed header is wire's");
_Static_assert(AUTH_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce");
_Static_assert(AUTH_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag");
_Static_assert(AUTH_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key");

int auth_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

static void key_id(const uint8_t key[AUTH_KEY_LEN], uint8_t ret[AUTH_KID_LEN])
{
	static const char ctx[] = "crdtd gossip key id v1";
	uint8_t h[crypto_generichash_BYTES_MIN];

	crypto_generichash(h, sizeof(h), (const uint8_t *)ctx, sizeof(ctx) - 1, key, AUTH_KEY_LEN);
	memcpy(ret, h, AUTH_KID_LEN);
}

int auth_keyring_add(struct auth_keyring *kr, const uint8_t key[AUTH_KEY_LEN])
{
	for (size_t i = 0; i < kr->n; i++)
		if (!sodium_memcmp(kr->keys[i].key, key, AUTH_KEY_LEN))
			return 0;
	if (kr->n >= AUTH_KEYS_MAX)
		return -ENOSPC;
	memcpy(kr->keys[kr->n].key, key, AUTH_KEY_LEN);
	key_id(key, kr->keys[kr->n].kid);
	kr->n++;
	return 0;
}

void auth_keyring_wipe(struct auth_keyring *kr)
{
	if (kr)
		sodium_memzero(kr, sizeof(*kr));
}

int auth_seal(const struct auth_keyring *kr, const uint8_t *d, size_t len, uint8_t *out,
	      size_t out_size, size_t *ret_len)
{
	const struct auth_key *k;
	size_t n;

	if (!kr || kr->n == 0 || len < AUTH_FIXED || d[AUTH_FIXED - 1] != 0)
		return -EINVAL;
	if (out_size < len + AUTH_OVERHEAD)
		return -EMSGSIZE;
	k = &kr->keys[0];
	n = len - AUTH_FIXED; /* replica id, node, body */
	memcpy(out, d, AUTH_FIXED);
	out[AUTH_FIXED - 1] = WIRE_FLAG_AUTH | (kr->encrypt ? WIRE_FLAG_ENCRYPTED : 0);
	memcpy(out + AUTH_FIXED, k->kid, AUTH_KID_LEN);
	randombytes_buf(out + AUTH_FIXED + AUTH_KID_LEN, AUTH_NONCE_LEN);
	if (kr->encrypt) {
		crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
			out + HDR, out + HDR + n, NULL, d + AUTH_FIXED, n, out, HDR, NULL,
			out + AUTH_FIXED + AUTH_KID_LEN, k->key);
	} else {
		memcpy(out + HDR, d + AUTH_FIXED, n);
		crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
			out + HDR + n /* nothing to encrypt */, out + HDR + n, NULL, d, 0, out,
			HDR + n, NULL, out + AUTH_FIXED + AUTH_KID_LEN, k->key);
	}
	*ret_len = len + AUTH_OVERHEAD;
	return 0;
}

int auth_open(const struct auth_keyring *kr, const uint8_t *d, size_t len, uint8_t *out,
	      size_t out_size, size_t *ret_len)
{
	const struct auth_key *k = NULL;
	const uint8_t *nonce, *tag;
	uint8_t flags;
	size_t n;
	int r;

	if (len < HDR + AUTH_TAG_LEN)
		return -EBADMSG;
	flags = d[AUTH_FIXED - 1];
	if (!(flags & WIRE_FLAG_AUTH) || (flags & ~WIRE_FLAGS_SEALED))
		return -EBADMSG;
	n = len - HDR - AUTH_TAG_LEN;
	if (out_size < AUTH_FIXED + n)
		return -EMSGSIZE;
	for (size_t i = 0; kr && i < kr->n && !k; i++)
		if (!memcmp(kr->keys[i].kid, d + AUTH_FIXED, AUTH_KID_LEN))
			k = &kr->keys[i];
	if (!k)
		return -ENOKEY;
	nonce = d + AUTH_FIXED + AUTH_KID_LEN;
	tag = d + HDR + n;
	if (flags & WIRE_FLAG_ENCRYPTED) {
		/* decrypts into out only when the tag verifies */
		r = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
			out + AUTH_FIXED, NULL, d + HDR, n, tag, d, HDR, nonce, k->key);
	} else {
		r = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
			NULL, NULL, d + HDR, 0, tag, d, HDR + n, nonce, k->key);
		if (r == 0)
			memcpy(out + AUTH_FIXED, d + HDR, n);
	}
	if (r != 0)
		return -EBADE;
	memcpy(out, d, AUTH_FIXED);
	out[AUTH_FIXED - 1] = 0;
	*ret_len = AUTH_FIXED + n;
	return 0;
}

/* ---- key files --------------------------------------------------------- */

int auth_key_parse(const char *text, size_t len, uint8_t ret[AUTH_KEY_LEN])
{
	uint8_t key[AUTH_KEY_LEN];
	size_t bin_len = 0;
	const char *end = NULL;

	/* sodium_hex2bin with " \t\r\n" ignored would also accept blanks inside
	 * the digits; only around them is allowed */
	while (len && strchr(" \t\r\n", text[0]))
		text++, len--;
	while (len && strchr(" \t\r\n", text[len - 1]))
		len--;
	if (len != 2 * AUTH_KEY_LEN ||
	    sodium_hex2bin(key, sizeof(key), text, len, NULL, &bin_len, &end) != 0 ||
	    bin_len != AUTH_KEY_LEN || end != text + len) {
		sodium_memzero(key, sizeof(key));
		return -EINVAL;
	}
	memcpy(ret, key, AUTH_KEY_LEN);
	sodium_memzero(key, sizeof(key));
	return 0;
}

int auth_key_load(const char *path, uint8_t ret[AUTH_KEY_LEN], char *err, size_t err_size)
{
	char text[256];
	struct stat st;
	ssize_t n;
	int fd, r = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		r = -errno;
		snprintf(err, err_size, "key file %s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, err_size, "key file %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		snprintf(err, err_size, "key file %s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		r = -EPERM;
		snprintf(err, err_size,
			 "key file %s: mode %04o lets group or others at it; refusing it "
			 "(chmod 600 %s)",
			 path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	n = read(fd, text, sizeof(text));
	if (n < 0) {
		r = -errno;
		snprintf(err, err_size, "key file %s: %s", path, strerror(errno));
		goto out;
	}
	if ((size_t)n == sizeof(text) || auth_key_parse(text, (size_t)n, ret) < 0) {
		r = -EINVAL;
		snprintf(err, err_size,
			 "key file %s: expected 64 hex digits (a 32-byte key; crdtd --gen-key "
			 "FILE makes one)",
			 path);
	}
out:
	sodium_memzero(text, sizeof(text));
	close(fd);
	return r;
}

int auth_keyring_load(const char *key_file, const char *old_key_files, bool encrypt,
		      struct auth_keyring *ret, char *err, size_t err_size)
{
	struct auth_keyring kr = { .encrypt = encrypt };
	uint8_t key[AUTH_KEY_LEN];
	const char *p = old_key_files ? old_key_files : "";
	int r;

	if ((r = auth_key_load(key_file, key, err, err_size)) < 0)
		return r;
	auth_keyring_add(&kr, key);
	while (*p) {
		char path[1024];
		size_t len;

		p += strspn(p, " \t,");
		len = strcspn(p, ",");
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (!len)
			break;
		if (len >= sizeof(path)) {
			snprintf(err, err_size, "old_key_files: a path longer than %zu bytes",
				 sizeof(path) - 1);
			r = -ENAMETOOLONG;
			goto fail;
		}
		memcpy(path, p, len);
		path[len] = 0;
		p += len;
		if ((r = auth_key_load(path, key, err, err_size)) < 0)
			goto fail;
		if ((r = auth_keyring_add(&kr, key)) < 0) {
			snprintf(err, err_size, "old_key_files: more than %d keys in all",
				 AUTH_KEYS_MAX);
			goto fail;
		}
		p += strspn(p, " \t");
		if (*p == ',')
			p++;
	}
	sodium_memzero(key, sizeof(key));
	*ret = kr;
	sodium_memzero(&kr, sizeof(kr));
	return 0;
fail:
	sodium_memzero(key, sizeof(key));
	auth_keyring_wipe(&kr);
	return r;
}

int auth_gen_key_file(const char *path, char *err, size_t err_size)
{
	uint8_t key[AUTH_KEY_LEN];
	char hex[2 * AUTH_KEY_LEN + 2];
	int fd, r = 0;

	if (auth_init() < 0) {
		snprintf(err, err_size, "cannot initialise libsodium");
		return -EIO;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		r = -errno;
		snprintf(err, err_size, "%s: %s%s", path, strerror(errno),
			 errno == EEXIST ? " (not overwriting an existing key file)" : "");
		return r;
	}
	randombytes_buf(key, sizeof(key));
	sodium_bin2hex(hex, sizeof(hex) - 1, key, sizeof(key));
	hex[2 * AUTH_KEY_LEN] = '\n';
	/* the umask may have taken bits away; never added any, but be exact */
	if (fchmod(fd, 0600) < 0 || write(fd, hex, 2 * AUTH_KEY_LEN + 1) != 2 * AUTH_KEY_LEN + 1 ||
	    fsync(fd) < 0) {
		r = errno ? -errno : -EIO;
		snprintf(err, err_size, "%s: %s", path, strerror(-r));
		unlink(path);
	}
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hex, sizeof(hex));
	if (close(fd) < 0 && r == 0) {
		r = -errno;
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
	}
	return r;
}
