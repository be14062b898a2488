/* Tests for src/daemon/gossip/auth.c: sealing and opening datagrams, key files. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "gossip/auth.h"
#include "gossip/wire.h"

static void keyring(struct auth_keyring *kr, uint8_t seed, bool encrypt)
{
	uint8_t k[AUTH_KEY_LEN];

	memset(kr, 0, sizeof(*kr));
	memset(k, seed, sizeof(k));
	kr->encrypt = encrypt;
	assert_int_equal(auth_keyring_add(kr, k), 0);
}

/* A real PING datagram. */
static size_t ping(uint8_t *out)
{
	struct crdt_buf b;
	struct crdt_rid rid;
	struct wire_ping p = { .seq = 7, .ts = 123456 };
	size_t len;

	memset(rid.b, 0x42, sizeof(rid.b));
	crdt_buf_init(&b, 0);
	assert_int_equal(wire_encode_ping(&b, WIRE_PING, &rid, "node-a", 6, &p), 0);
	memcpy(out, b.data, b.len);
	len = b.len;
	crdt_buf_done(&b);
	return len;
}

static void roundtrip(bool encrypt)
{
	struct auth_keyring kr, other;
	uint8_t plain[256], sealed[512], back[512];
	size_t len = ping(plain), slen, blen;
	struct wire_header h;
	size_t off;

	keyring(&kr, 1, encrypt);
	keyring(&other, 2, encrypt);
	assert_int_equal(auth_seal(&kr, plain, len, sealed, sizeof(sealed), &slen), 0);
	assert_int_equal(slen, len + AUTH_OVERHEAD);
	assert_int_equal(sealed[6], WIRE_FLAG_AUTH | (encrypt ? WIRE_FLAG_ENCRYPTED : 0));
	/* a sealed datagram is no plain one */
	assert_int_equal(wire_decode_header(sealed, slen, &h, &off), -EBADMSG);
	/* encrypted: the node name is not in clear */
	assert_int_equal(memmem(sealed, slen, "node-a", 6) == NULL, encrypt);

	assert_int_equal(auth_open(&kr, sealed, slen, back, sizeof(back), &blen), 0);
	assert_int_equal(blen, len);
	assert_memory_equal(back, plain, len);
	assert_int_equal(wire_decode_header(back, blen, &h, &off), 0);

	/* another key: its id is unknown */
	assert_int_equal(auth_open(&other, sealed, slen, back, sizeof(back), &blen), -ENOKEY);
	assert_int_equal(auth_open(NULL, sealed, slen, back, sizeof(back), &blen), -ENOKEY);

	/* every single-bit flip, every truncation: refused, nothing usable in
	 * @out (libsodium zeroes what it decrypted) */
	for (size_t i = 0; i < slen * 8; i++) {
		memset(back, 0xee, sizeof(back));
		sealed[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_true(auth_open(&kr, sealed, slen, back, sizeof(back), &blen) < 0);
		assert_int_equal(back[0], 0xee);
		assert_true(back[AUTH_FIXED] == 0xee || back[AUTH_FIXED] == 0);
		sealed[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	for (size_t n = 0; n < slen; n++)
		assert_true(auth_open(&kr, sealed, n, back, sizeof(back), &blen) < 0);
	/* a flipped byte in the middle of a key id that happens to be ours
	 * (forged key id): the tag still fails */
	{
		struct auth_keyring two = kr;
		assert_int_equal(auth_keyring_add(&two, other.keys[0].key), 0);
		memcpy(sealed + AUTH_FIXED, other.keys[0].kid, AUTH_KID_LEN);
		assert_int_equal(auth_open(&two, sealed, slen, back, sizeof(back), &blen), -EBADE);
	}
	/* too small an output */
	assert_int_equal(auth_seal(&kr, plain, len, sealed, len + AUTH_OVERHEAD - 1, &slen),
			 -EMSGSIZE);
	/* a datagram with a flag is not plain */
	plain[6] = 1;
	assert_int_equal(auth_seal(&kr, plain, len, sealed, sizeof(sealed), &slen), -EINVAL);
	auth_keyring_wipe(&kr);
	auth_keyring_wipe(&other);
}

static void test_seal_open(void **state)
{
	roundtrip(false);
	roundtrip(true);
}

/* The receiver opens with any key of its ring, whatever mode the sender
 * used; the nonce differs every time. */
static void test_rotation(void **state)
{
	struct auth_keyring old_k, new_k, both;
	uint8_t plain[256], s1[512], s2[512], back[512];
	size_t len = ping(plain), l1, l2, blen;

	keyring(&old_k, 1, false);
	keyring(&new_k, 2, true);
	both = new_k;
	assert_int_equal(auth_keyring_add(&both, old_k.keys[0].key), 0);
	assert_int_equal(auth_keyring_add(&both, old_k.keys[0].key), 0); /* no duplicate */
	assert_int_equal(both.n, 2);
	assert_int_equal(auth_seal(&old_k, plain, len, s1, sizeof(s1), &l1), 0);
	assert_int_equal(auth_seal(&new_k, plain, len, s2, sizeof(s2), &l2), 0);
	assert_int_equal(auth_open(&both, s1, l1, back, sizeof(back), &blen), 0);
	assert_memory_equal(back, plain, len);
	assert_int_equal(auth_open(&both, s2, l2, back, sizeof(back), &blen), 0);
	assert_memory_equal(back, plain, len);
	assert_int_equal(auth_open(&new_k, s1, l1, back, sizeof(back), &blen), -ENOKEY);
	/* the same datagram sealed twice: different nonces */
	assert_int_equal(auth_seal(&old_k, plain, len, s2, sizeof(s2), &l2), 0);
	assert_memory_not_equal(s1 + AUTH_FIXED + AUTH_KID_LEN, s2 + AUTH_FIXED + AUTH_KID_LEN,
				AUTH_NONCE_LEN);
	/* the ring is bounded */
	for (int i = 3; both.n < AUTH_KEYS_MAX; i++) {
		uint8_t k[AUTH_KEY_LEN];
		memset(k, i, sizeof(k));
		assert_int_equal(auth_keyring_add(&both, k), 0);
	}
	{
		uint8_t k[AUTH_KEY_LEN];
		memset(k, 0x99, sizeof(k));
		assert_int_equal(auth_keyring_add(&both, k), -ENOSPC);
	}
}

static void test_key_parse(void **state)
{
	uint8_t k[AUTH_KEY_LEN];
	const char *good = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";

	assert_int_equal(auth_key_parse(good, 64, k), 0);
	assert_int_equal(k[0], 0x00);
	assert_int_equal(k[31], 0xff);
	assert_int_equal(auth_key_parse("  \n00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n\n",
					70, k),
			 0);
	assert_int_equal(auth_key_parse(good, 62, k), -EINVAL);
	assert_int_equal(auth_key_parse("0011 2233445566778899aabbccddeeff00112233445566778899aabbccddeef", 64,
					k),
			 -EINVAL);
	assert_int_equal(auth_key_parse("zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 64,
					k),
			 -EINVAL);
	assert_int_equal(auth_key_parse("", 0, k), -EINVAL);
}

static void test_key_files(void **state)
{
	char dir[] = "/tmp/crdtd-auth-XXXXXX", path[128], path2[128], list[300], err[512];
	struct auth_keyring kr;
	uint8_t k[AUTH_KEY_LEN];
	struct stat st;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/key", dir);
	snprintf(path2, sizeof(path2), "%s/old", dir);
	assert_int_equal(auth_gen_key_file(path, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 65);
	/* never overwrites */
	assert_int_equal(auth_gen_key_file(path, err, sizeof(err)), -EEXIST);
	assert_int_equal(auth_key_load(path, k, err, sizeof(err)), 0);

	/* readable by others: refused, with the reason */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(auth_key_load(path, k, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "chmod 600"));
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(auth_key_load(path, k, err, sizeof(err)), -EPERM);
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(auth_key_load(path, k, err, sizeof(err)), 0);

	/* a ring of the key and an old one */
	assert_int_equal(auth_gen_key_file(path2, err, sizeof(err)), 0);
	snprintf(list, sizeof(list), " %s , ", path2);
	assert_int_equal(auth_keyring_load(path, list, true, &kr, err, sizeof(err)), 0);
	assert_int_equal(kr.n, 2);
	assert_true(kr.encrypt);
	assert_memory_equal(kr.keys[0].key, k, AUTH_KEY_LEN);
	auth_keyring_wipe(&kr);
	snprintf(list, sizeof(list), "%s,%s/missing", path2, dir);
	assert_int_equal(auth_keyring_load(path, list, false, &kr, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "missing"));
	/* not a key */
	{
		int fd = open(path2, O_WRONLY | O_TRUNC);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "hello\n", 6), 6);
		close(fd);
	}
	assert_int_equal(auth_key_load(path2, k, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "64 hex digits"));
	unlink(path);
	unlink(path2);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_open),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_key_parse),
		cmocka_unit_test(test_key_files),
	};
	if (auth_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
