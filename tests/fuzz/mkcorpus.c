/* Writes the seed corpora of the fuzz targets from real encodings:
 *
 *   build/tests/fuzz/fuzz_mkcorpus tests/fuzz/corpus
 *
 * state/    libcrdt encodings of every type, empty to a few hundred elements
 * wire/     datagrams as the packer builds them (STATE, PING, PONG, DELTA) and
 *           as digest rounds do (DIGEST, BUCKETS, KEYS), ACKs, plain
 *           and sealed with the fuzz key, each after fuzz_wire's mode byte
 * storage/  journal values as state/journal.c writes them, after the mode byte
 * resp/     client requests (arrays, inline, pipelines), after two bytes
 * config/   is copied from conf/ by hand (cp conf/crdtd.ini conf/cluster/...)
 * Hashes (OR-Maps) came later: their entries are numbered from 100 (wire/:
 * 900) in each directory, so that the files before them kept their names
 * (copy only those in: sealed datagrams differ every run).
 * Deterministic: the same files every run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gossip/auth.h"
#include "crdt/obj.h"
#include "fuzz.h"
#include "state/journal.h"
#include "state/jwriter.h"
#include "state/wal.h"
#include "state/store.h"
#include "gossip/wire.h"

static const char *root;
static char subdir[64];
static int seq;

static void put(const char *tag, uint8_t lead, bool has_lead, const uint8_t *d, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%03d-%s", root, subdir, seq++, tag);
	CHECK((f = fopen(path, "wb")));
	if (has_lead)
		CHECK(fwrite(&lead, 1, 1, f) == 1);
	CHECK(len == 0 || fwrite(d, 1, len, f) == len);
	CHECK(fclose(f) == 0);
}

static void dir(const char *name)
{
	char path[512];

	snprintf(subdir, sizeof(subdir), "%s", name);
	snprintf(path, sizeof(path), "%s/%s", root, name);
	CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
	seq = 0;
}

static uint64_t fixed_ms = 1764000000000ull;
static uint64_t fixed_clock(void *ctx)
{
	return fixed_ms++;
}

#define NSTATES 16
static struct crdt_obj states[NSTATES];
static const char *names[NSTATES] = { "gc0", "gc3", "pn0", "pn3", "gs0", "gs5", "gs300", "os0",
				      "os5", "os-rem", "os300", "lww0", "lww", "lwwbin",
				      "pn-del", "lww-del" };

static void make_states(void)
{
	struct crdt_rid r[3];
	struct crdt_hlc hlc;
	char e[32];
	int i = 0;

	for (int k = 0; k < 3; k++)
		memset(r[k].b, 0x10 * (k + 1), sizeof(r[k].b));
	crdt_hlc_init(&hlc, fixed_clock, NULL);
	CHECK(crdt_obj_new(CRDT_GCOUNTER, &states[i++]) == 0);
	CHECK(crdt_obj_new(CRDT_GCOUNTER, &states[i]) == 0);
	for (int k = 0; k < 3; k++)
		CHECK(crdt_gcounter_inc(states[i].gc, &r[k], 1000 * (k + 1)) == 0);
	i++;
	CHECK(crdt_obj_new(CRDT_PNCOUNTER, &states[i++]) == 0);
	CHECK(crdt_obj_new(CRDT_PNCOUNTER, &states[i]) == 0);
	for (int k = 0; k < 3; k++) {
		CHECK(crdt_pncounter_inc(states[i].pn, &r[k], 70000 * (k + 1)) == 0);
		CHECK(crdt_pncounter_dec(states[i].pn, &r[k], 5) == 0);
	}
	i++;
	CHECK(crdt_obj_new(CRDT_GSET, &states[i++]) == 0);
	for (int n = 5; n <= 300; n += 295) {
		CHECK(crdt_obj_new(CRDT_GSET, &states[i]) == 0);
		for (int k = 0; k < n; k++) {
			snprintf(e, sizeof(e), "item-%d", k);
			CHECK(crdt_gset_add(states[i].gs, e, strlen(e)) >= 0);
		}
		i++;
	}
	CHECK(crdt_obj_new(CRDT_ORSET, &states[i++]) == 0);
	CHECK(crdt_obj_new(CRDT_ORSET, &states[i]) == 0);
	for (int k = 0; k < 5; k++) {
		snprintf(e, sizeof(e), "m%d", k);
		CHECK(crdt_orset_add(states[i].os, &r[k % 3], e, strlen(e)) == 0);
	}
	i++;
	CHECK(crdt_obj_new(CRDT_ORSET, &states[i]) == 0);
	for (int k = 0; k < 20; k++) {
		snprintf(e, sizeof(e), "x%d", k);
		CHECK(crdt_orset_add(states[i].os, &r[k % 3], e, strlen(e)) == 0);
		if (k % 3 == 0)
			CHECK(crdt_orset_remove(states[i].os, e, strlen(e)) >= 0);
	}
	i++;
	CHECK(crdt_obj_new(CRDT_ORSET, &states[i]) == 0);
	for (int k = 0; k < 300; k++) {
		snprintf(e, sizeof(e), "user:%05d", k);
		CHECK(crdt_orset_add(states[i].os, &r[k % 3], e, strlen(e)) == 0);
	}
	i++;
	CHECK(crdt_obj_new(CRDT_LWWREG, &states[i++]) == 0);
	CHECK(crdt_obj_new(CRDT_LWWREG, &states[i]) == 0);
	CHECK(crdt_lwwreg_set(states[i].lww, &hlc, &r[0], "hello", 5) == 0);
	i++;
	CHECK(crdt_obj_new(CRDT_LWWREG, &states[i]) == 0);
	CHECK(crdt_lwwreg_set(states[i].lww, &hlc, &r[1], "\x00\xff\r\n", 4) == 0);
	i++;
	/* deleted (DEL): a counter with baselines and a later increment, a
	 * register's tombstone */
	CHECK(crdt_obj_copy(&states[3], &states[i]) == 0);
	CHECK(crdt_obj_clear(&states[i]) == 1);
	CHECK(crdt_pncounter_inc(states[i].pn, &r[1], 9) == 0);
	i++;
	CHECK(crdt_obj_copy(&states[12], &states[i]) == 0);
	CHECK(crdt_obj_clear(&states[i]) == 1);
	i++;
	CHECK(i == NSTATES);
}

struct emit_ctx {
	const char *tag;
	int n;
};

static int emit_cb(const uint8_t *d, size_t len, void *ctx)
{
	static uint8_t sealed[WIRE_DATAGRAM_MAX + AUTH_OVERHEAD];
	struct emit_ctx *c = ctx;
	struct auth_keyring kr = { 0 };
	uint8_t k[AUTH_KEY_LEN];
	size_t slen;

	if (c->n++ >= 3) /* the first few of a batch are enough */
		return 0;
	put(c->tag, 0, true, d, len);
	put(c->tag, 1, true, d, len); /* mode 1: sealed and opened again */
	memset(k, FUZZ_KEY_A, sizeof(k));
	CHECK(auth_keyring_add(&kr, k) == 0);
	for (int enc = 0; enc < 2; enc++) {
		kr.encrypt = enc;
		CHECK(auth_seal(&kr, d, len, sealed, sizeof(sealed), &slen) == 0);
		put(enc ? "sealed-enc" : "sealed", 0, true, sealed, slen);
	}
	return 0;
}

static void make_wire(void)
{
	struct crdt_rid self;
	struct wire_packer p;
	struct crdt_buf b;
	struct wire_ping ping = { .seq = 42, .ts = 1234567890, .clock = 1764000000000ull };

	memset(self.b, 0x77, sizeof(self.b));
	for (int mtu = 512; mtu <= 1400; mtu += 888) {
		for (int i = 0; i < NSTATES; i++) {
			struct emit_ctx c = { .tag = names[i] };
			CHECK(wire_packer_init(&p, (size_t)mtu, &self, "node-a", 6, emit_cb, &c) == 0);
			CHECK(wire_packer_add(&p, names[i], strlen(names[i]), &states[i], NULL) == 0);
			CHECK(wire_packer_flush(&p) == 0);
			wire_packer_done(&p);
		}
	}
	for (int i = 0; i < NSTATES; i += 3) { /* states as delta intervals */
		struct emit_ctx c = { .tag = "delta" };
		CHECK(wire_packer_init_delta(&p, 1400, &self, "node-a", 6, 0x1122334455667788ull,
					     emit_cb, &c) == 0);
		p.seq = (uint64_t)i;
		CHECK(wire_packer_add(&p, names[i], strlen(names[i]), &states[i], NULL) == 0);
		CHECK(wire_packer_flush(&p) == 0);
		wire_packer_done(&p);
	}
	{ /* acknowledgements: one interval, and several */
		static const uint64_t seqs[] = { 1, 2, 300, 1u << 20 };
		for (size_t n = 1; n <= 4; n += 3) {
			struct emit_ctx c = { .tag = "ack" };
			crdt_buf_init(&b, 0);
			CHECK(wire_encode_ack(&b, &self, "n", 1, 0x1122334455667788ull, seqs, n) == 0);
			emit_cb(b.data, b.len, &c);
			crdt_buf_done(&b);
		}
	}
	{ /* many instances in one datagram */
		struct emit_ctx c = { .tag = "packed" };
		CHECK(wire_packer_init(&p, 1400, &self, "node-b", 6, emit_cb, &c) == 0);
		for (int i = 0; i < NSTATES; i++)
			if (i != 6 && i != 10)
				CHECK(wire_packer_add(&p, names[i], strlen(names[i]), &states[i], NULL) == 0);
		CHECK(wire_packer_flush(&p) == 0);
		wire_packer_done(&p);
	}
	for (int t = WIRE_PING; t <= WIRE_PONG; t++) {
		struct emit_ctx c = { .tag = t == WIRE_PING ? "ping" : "pong" };
		crdt_buf_init(&b, 0);
		CHECK(wire_encode_ping(&b, (enum wire_type)t, &self, "n", 1, &ping) == 0);
		emit_cb(b.data, b.len, &c);
		crdt_buf_done(&b);
	}
	{ /* digest rounds: group sums, bucket sums, a bucket's keys */
		uint64_t sums[64];
		for (int i = 0; i < 64; i++)
			sums[i] = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		for (int t = WIRE_DIGEST; t <= WIRE_KEYS; t++) {
			struct emit_ctx c = { .tag = wire_type_name(t) };
			crdt_buf_init(&b, 0);
			CHECK(wire_put_header(&b, (enum wire_type)t, &self, "n", 1) == 0);
			if (t == WIRE_KEYS) {
				uint64_t base = (uint64_t)77 << 52;
				CHECK(wire_put_keys_head(&b, 77, base, base + 1000) == 0);
				for (uint64_t k = 0; k < 5; k++)
					CHECK(wire_put_key(&b, base + 100 * k, sums[k]) == 0);
			} else {
				crdt_buf_put_u8(&b, 12);
				crdt_buf_put_u8(&b, 6);
				CHECK(wire_put_sums_range(&b, t == WIRE_DIGEST ? 0 : 640, 64, sums) == 0);
				CHECK(wire_put_sums_range(&b, t == WIRE_DIGEST ? 3 : 100, 2, sums) == 0);
			}
			emit_cb(b.data, b.len, &c);
			crdt_buf_done(&b);
		}
	}
}

static void put_value(const char *tag, enum crdt_type t, const struct crdt_buf *body)
{
	/* mode byte: type in the low bits, bit 3: the target adds the checksum */
	put(tag, (uint8_t)(8 | (t - CRDT_TYPE_MIN)), true, body->data, body->len);
}

/* A write-ahead log of two records, as the writer thread appends them
 * (mode byte 16: the target reads a log). */
static void make_wal(void)
{
	struct jwriter_batch b = { 0 };
	char path[] = "/tmp/crdtd-mkcorpus-wal-XXXXXX";
	uint8_t k8[8] = { 0, 0, 0, 0, 0, 0, 0, 3 }, *log;
	size_t len;
	struct wal *w;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);
	crdt_buf_init(&b.ops, 0);
	CHECK(wal_open(path, &w) == 0);
	CHECK(jwriter_put(&b, JWRITER_SNAP, k8, 8, "snapshot", 8) == 0);
	CHECK(jwriter_drop_log(&b, 3, 17) == 0);
	CHECK(wal_append(w, 1, b.ops.data, b.ops.len) == 0);
	crdt_buf_reset(&b.ops);
	CHECK(jwriter_del(&b, JWRITER_INST, k8, 8) == 0);
	CHECK(wal_append(w, 2, b.ops.data, b.ops.len) == 0);
	wal_close(w);
	CHECK(wal_read(path, &log, &len) == 0);
	put("wal", 16, true, log, len);
	free(log);
	unlink(path);
	crdt_buf_done(&b.ops);
}

static void make_storage(void)
{
	struct crdt_buf b;
	static const char *elems[] = { "apple", "pear", "", "\x00\x01" };

	crdt_buf_init(&b, 0);
	for (int i = 0; i < NSTATES; i++) {
		if (i == 6 || i == 10)
			continue; /* the large ones are in state/ */
		crdt_buf_reset(&b);
		crdt_buf_put_u8(&b, JOURNAL_OP_STATE);
		CHECK(crdt_obj_encode(&states[i], &b) == 0);
		put_value(names[i], states[i].type, &b);
	}
	static const char *op_names[] = {
		[JOURNAL_OP_ORSET_ADD] = "orset-add", [JOURNAL_OP_ORSET_REM] = "orset-rem",
		[JOURNAL_OP_GSET_ADD] = "gset-add", [JOURNAL_OP_ORSET_ADD_AS] = "orset-add-as",
	};
	for (int op = JOURNAL_OP_ORSET_ADD; op <= JOURNAL_OP_ORSET_ADD_AS; op++) {
		crdt_buf_reset(&b);
		crdt_buf_put_u8(&b, (uint8_t)op);
		if (op == JOURNAL_OP_ORSET_ADD_AS)
			crdt_buf_put(&b, (uint8_t[CRDT_RID_LEN]){ 0x42, 7 }, CRDT_RID_LEN);
		crdt_buf_put_varint(&b, 4);
		for (int k = 0; k < 4; k++)
			crdt_buf_put_bytes(&b, elems[k], k == 3 ? 2 : strlen(elems[k]));
		put_value(op_names[op], op == JOURNAL_OP_GSET_ADD ? CRDT_GSET : CRDT_ORSET, &b);
	}
	make_wal();
	/* kind 6: states from peers, the same one twice */
	for (int i = 0; i < NSTATES; i++) {
		if (i == 6 || i == 10)
		continue;
		struct crdt_buf one;
		char tag[64];
		crdt_buf_init(&one, 0);
		CHECK(crdt_obj_encode(&states[i], &one) == 0);
		crdt_buf_reset(&b);
		crdt_buf_put_u8(&b, JOURNAL_OP_STATES);
		crdt_buf_put_bytes(&b, one.data, one.len);
		crdt_buf_put_bytes(&b, one.data, one.len);
		crdt_buf_done(&one);
		snprintf(tag, sizeof(tag), "states-%s", names[i]);
		put_value(tag, states[i].type, &b);
	}
	crdt_buf_done(&b);
}

static void make_states_dir(void)
{
	struct crdt_buf b;

	crdt_buf_init(&b, 0);
	for (int i = 0; i < NSTATES; i++) {
		crdt_buf_reset(&b);
		CHECK(crdt_obj_encode(&states[i], &b) == 0);
		put(names[i], 0, false, b.data, b.len);
	}
	crdt_buf_done(&b);
}

static void make_resp(void)
{
	static const char *const reqs[] = {
		"*1\r\n$4\r\nPING\r\n",
		"*3\r\n$4\r\nSADD\r\n$4\r\ncart\r\n$6\r\nlaptop\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\n\x01\x02\r\n\r\n",
		"*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n*1\r\n$4\r\nINFO\r\n",
		"PING\r\nINCRBY n 5\r\nGET n\r\n",
		"SET k \"a b\\x41\\n\" \r\n",
		"SADD s 'single quoted' \"double\"\n",
		"*0\r\n*-1\r\n\r\n*1\r\n$4\r\nQUIT\r\n",
		"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n",
		"*5\r\n$8\r\nCRDT.SIM\r\n$7\r\nLATENCY\r\n$2\r\n20\r\n$2\r\n80\r\n$1\r\nx\r\n",
		"*1\r\n$99999999999\r\n",
		"*2\r\n$3\r\nGET\r\n$-1\r\n",
		"*3\r\n$4\r\nSADD\r\n$1\r\ns\r\n$20\r\n0123456789",
	};

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		size_t len = strlen(reqs[i]);
		uint8_t buf[256];
		buf[0] = (uint8_t)(i % 4); /* limits */
		buf[1] = (uint8_t)(i * 37);
		memcpy(buf + 2, reqs[i], len);
		put("req", buf[0], true, buf + 1, len + 1);
	}
}

/* OR-Map states, a write's delta as the journal stores it, a datagram,
 * and hash requests. */
static void make_hashes(void)
{
	struct crdt_obj om[3], delta = { .type = CRDT_ORMAP };
	struct crdt_rid r[3];
	struct crdt_hlc hlc;
	struct crdt_buf b;
	struct wire_packer p;
	char f[32];
	int64_t v;
	static const char *const tags[3] = { "om0", "om-mix", "om300" };
	static const char *const reqs[] = {
		"*6\r\n$4\r\nHSET\r\n$4\r\ncart\r\n$5\r\napple\r\n$1\r\n1\r\n$1\r\nb\r\n$0\r\n\r\n",
		"HINCRBY cart apple -3\r\nHDEL cart apple pear\r\nHGETALL cart\r\n",
		"HMGET cart a b c\r\nHSETNX cart a 1\r\nHSTRLEN cart a\r\nHKEYS cart\r\n",
	};

	for (int k = 0; k < 3; k++) {
		memset(r[k].b, 0x10 * (k + 1), sizeof(r[k].b));
		CHECK(crdt_obj_new(CRDT_ORMAP, &om[k]) == 0);
	}
	crdt_hlc_init(&hlc, fixed_clock, NULL);
	CHECK((delta.om = crdt_ormap_new()));
	for (int k = 0; k < 12; k++) {
		snprintf(f, sizeof(f), "f%d", k % 5);
		if (k % 3 == 0)
			CHECK(crdt_ormap_incr(om[1].om, &r[k % 3], f, strlen(f), k - 4, NULL, &v) >= -EINVAL);
		else
			CHECK(crdt_ormap_set(om[1].om, &hlc, &r[k % 3], f, strlen(f), "val\x00ue", 6,
					     k == 11 ? delta.om : NULL) == 0);
		if (k % 4 == 3)
			CHECK(crdt_ormap_del(om[1].om, f, strlen(f), NULL) >= 0);
	}
	for (int k = 0; k < 300; k++) {
		snprintf(f, sizeof(f), "sku:%05d", k);
		CHECK(crdt_ormap_incr(om[2].om, &r[k % 3], f, strlen(f), k + 1, NULL, &v) == 0);
	}
	crdt_buf_init(&b, 0);
	dir("state");
	seq = 100;
	for (int k = 0; k < 3; k++) {
		crdt_buf_reset(&b);
		CHECK(crdt_obj_encode(&om[k], &b) == 0);
		put(tags[k], 0, false, b.data, b.len);
	}
	dir("storage");
	seq = 100;
	for (int k = 0; k < 2; k++) {
		crdt_buf_reset(&b);
		crdt_buf_put_u8(&b, JOURNAL_OP_STATE);
		CHECK(crdt_obj_encode(k ? &om[1] : &delta, &b) == 0);
		put_value(k ? "om-mix" : "om-delta", CRDT_ORMAP, &b);
	}
	dir("wire");
	seq = 900; /* wire/ holds more than 100 */
	{
		struct crdt_rid self;
		struct emit_ctx c = { .tag = "om-mix" };
		memset(self.b, 0x77, sizeof(self.b));
		CHECK(wire_packer_init(&p, 512, &self, "node-a", 6, emit_cb, &c) == 0);
		CHECK(wire_packer_add(&p, "cart", 4, &om[1], NULL) == 0);
		CHECK(wire_packer_add(&p, "stock", 5, &om[2], NULL) == 0);
		CHECK(wire_packer_flush(&p) == 0);
		wire_packer_done(&p);
	}
	dir("resp");
	seq = 100;
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		size_t len = strlen(reqs[i]);
		uint8_t buf[256];
		buf[0] = (uint8_t)(i % 4);
		buf[1] = (uint8_t)(i * 41);
		memcpy(buf + 2, reqs[i], len);
		put("hash", buf[0], true, buf + 1, len + 1);
	}
	crdt_buf_done(&b);
	for (int k = 0; k < 3; k++)
		crdt_obj_done(&om[k]);
	crdt_obj_done(&delta);
}

/* Kind 8, an add under the dots it names, came after the hashes: from 200. */
static void make_storage_late(void)
{
	static const char *elems[] = { "apple", "pear", "" };
	struct crdt_buf b;

	crdt_buf_init(&b, 0);
	dir("storage");
	seq = 200;
	crdt_buf_put_u8(&b, JOURNAL_OP_ORSET_ADD_DOT);
	crdt_buf_put(&b, (uint8_t[CRDT_RID_LEN]){ 0x42, 7 }, CRDT_RID_LEN);
	crdt_buf_put_varint(&b, 5);
	crdt_buf_put_varint(&b, 3);
	for (int k = 0; k < 3; k++)
		crdt_buf_put_bytes(&b, elems[k], strlen(elems[k]));
	put_value("orset-add-dot", CRDT_ORSET, &b);
	crdt_buf_done(&b);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_ROOT\n", argv[0]);
		return 2;
	}
	root = argv[1];
	CHECK(auth_init() == 0);
	make_states();
	dir("state");
	make_states_dir();
	dir("wire");
	make_wire();
	dir("storage");
	make_storage();
	dir("resp");
	make_resp();
	make_hashes();
	make_storage_late();
	for (int i = 0; i < NSTATES; i++)
		crdt_obj_done(&states[i]);
	return 0;
}
