/* Tests for src/daemon/config.c (and log.c, which has no other test file).
 *
 * The examples in conf/ must load; the key table, conf/crdtd.ini and
 * docs/configuration.md must agree; every kind of bad file must give the
 * exact "file:line: ..." message and leave the output struct untouched. */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <ini.h>

#include "config.h"
#include "log.h"

#define MINIMAL "[node]\nname = a\ndata_dir = d\nlisten = 127.0.0.1:7000\n"

/* ---- helpers ---- */

static const char *source_root(void)
{
	const char *r = getenv("CRDTD_SOURCE_ROOT");
	return r && *r ? r : ".";
}

static void src_path(char *buf, size_t size, const char *rel)
{
	int n = snprintf(buf, size, "%s/%s", source_root(), rel);
	assert_true(n > 0 && (size_t)n < size);
}

/* Write @len bytes to a fresh file under /tmp; the caller unlinks it. */
static void write_tmp_n(char path[static 32], const char *content, size_t len)
{
	strcpy(path, "/tmp/crdtd-test-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void write_tmp(char path[static 32], const char *content)
{
	write_tmp_n(path, content, strlen(content));
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	char *s = malloc((size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	return s;
}

/* Load @content, which must succeed. */
static void load_ok(const char *content, struct config *ret)
{
	char path[32];
	struct config_error err;

	write_tmp(path, content);
	int r = config_load(path, ret, &err);
	if (r != 0)
		print_error("unexpected error: %s\n", err.msg);
	unlink(path);
	assert_int_equal(r, 0);
	assert_string_equal(ret->path, path);
}

/* Load @content (@len bytes), which must fail with @rc and exactly
 * "<path>:<line>: <msg>" (or "<path>: <msg>" for line 0), not touching ret. */
static void load_bad_n(const char *content, size_t len, int rc, unsigned line, const char *msg)
{
	char path[32], want[1024];
	struct config c, sentinel;
	struct config_error err;

	write_tmp_n(path, content, len);
	memset(&c, 0xa5, sizeof c);
	memcpy(&sentinel, &c, sizeof c);
	int r = config_load(path, &c, &err);
	unlink(path);
	if (line)
		snprintf(want, sizeof want, "%s:%u: %s", path, line, msg);
	else
		snprintf(want, sizeof want, "%s: %s", path, msg);
	assert_string_equal(err.msg, want);
	assert_int_equal(r, rc);
	assert_int_equal(err.line, line);
	assert_memory_equal(&c, &sentinel, sizeof c);
}

static void load_bad(const char *content, unsigned line, const char *msg)
{
	load_bad_n(content, strlen(content), -EINVAL, line, msg);
}

static void fmt_value(const struct config *c, const struct config_key *k, char *buf, size_t size)
{
	assert_true(config_format_value(c, k, buf, size) >= 0);
}

/* ---- the examples ---- */

static void test_example_loads(void **state)
{
	char path[4096];
	struct config c;
	struct config_error err;

	src_path(path, sizeof path, "conf/crdtd.ini");
	int r = config_load(path, &c, &err);
	if (r)
		print_error("%s\n", err.msg);
	assert_int_equal(r, 0);
	assert_string_equal(c.node.name, "alpha");
	assert_string_equal(c.node.data_dir, "./data/crdtd");
	assert_string_equal(c.node.listen.host, "0.0.0.0");
	assert_int_equal(c.node.listen.port, 7946);
	assert_int_equal(c.node.listen.kind, CONFIG_ADDR_IPV4);
	assert_int_equal(c.n_peers, 0);
	assert_null(c.peers);
	config_done(&c);
	assert_null(c.path);
	config_done(&c); /* twice, and NULL, are fine */
	config_done(NULL);
}

static void test_cluster_loads(void **state)
{
	static const char *const names[] = { "a", "b", "c" };

	for (unsigned i = 0; i < 3; i++) {
		char rel[64], path[4096], dir[16];
		struct config c;
		struct config_error err;

		snprintf(rel, sizeof rel, "conf/cluster/%s.ini", names[i]);
		src_path(path, sizeof path, rel);
		int r = config_load(path, &c, &err);
		if (r)
			print_error("%s\n", err.msg);
		assert_int_equal(r, 0);
		snprintf(dir, sizeof dir, "run/%s", names[i]);
		assert_string_equal(c.node.name, names[i]);
		assert_string_equal(c.node.data_dir, dir);
		assert_string_equal(c.node.listen.host, "127.0.0.1");
		assert_int_equal(c.node.listen.port, 7946 + i);
		assert_string_equal(c.node.client.host, "127.0.0.1");
		assert_int_equal(c.node.client.port, 6380 + i);
		assert_int_equal(c.gossip.interval_ms, 1000);
		assert_int_equal(c.n_peers, 2);
		for (unsigned j = 0, k = 0; j < 3; j++) {
			if (j == i)
				continue;
			assert_string_equal(c.peers[k].name, names[j]);
			assert_string_equal(c.peers[k].addr.host, "127.0.0.1");
			assert_int_equal(c.peers[k].addr.port, 7946 + j);
			k++;
		}
		config_done(&c);
	}
}

/* ---- table, example file and docs agree ---- */

static void test_table_sane(void **state)
{
	size_t n;
	const struct config_key *t = config_keys(&n);
	struct config d;

	assert_true(n > 0);
	config_defaults(&d); /* asserts every default parses */
	for (size_t i = 0; i < n; i++) {
		const struct config_key *k = &t[i];
		assert_non_null(k->section);
		assert_non_null(k->name);
		assert_true(k->help && *k->help);
		assert_ptr_equal(config_key_find(k->section, k->name), k);
		assert_true((k->def == NULL) == !!(k->flags & CONFIG_F_REQUIRED));
		assert_true(k->min <= k->max || k->type == CONFIG_ADDR || k->type == CONFIG_ENUM ||
			    k->type == CONFIG_BOOL);
		assert_true(k->offset + k->size <= sizeof(struct config));
		assert_true(strcmp(k->section, "peers") != 0);
		switch (k->type) {
		case CONFIG_STRING:
			assert_true(k->max < k->size);
			/* the dump of the longest value, quoted, fits in a line */
			assert_true(strlen(k->name) + strlen(" = \"\"") + k->max <= CONFIG_LINE_MAX);
			break;
		case CONFIG_BOOL:
			assert_int_equal(k->size, sizeof(bool));
			break;
		case CONFIG_UINT:
			assert_int_equal(k->size, sizeof(unsigned));
			break;
		case CONFIG_SIZE:
			assert_int_equal(k->size, sizeof(size_t));
			break;
		case CONFIG_ENUM:
			assert_int_equal(k->size, sizeof(int));
			assert_non_null(k->enum_names);
			break;
		case CONFIG_ADDR:
			assert_int_equal(k->size, sizeof(struct config_addr));
			break;
		case CONFIG_PROB:
			assert_int_equal(k->size, sizeof(double));
			break;
		case CONFIG_RANGE:
			assert_int_equal(k->size, sizeof(struct config_range));
			break;
		}
		/* a key's section appears in one contiguous run, so dumps group */
		for (size_t j = i + 2; j < n; j++)
			if (strcmp(t[j].section, k->section) == 0)
				assert_string_equal(t[j - 1].section, k->section);
	}
	assert_null(config_key_find("gossip", "mtuu"));
	config_done(&d);
}

struct seen_keys {
	char key[64][80];
	char value[64][256];
	unsigned count[64];
	size_t n;
	char unknown[1024];
};

static int collect_cb(void *user, const char *section, const char *name, const char *value)
{
	struct seen_keys *s = user;

	if (strcmp(section, "peers") == 0)
		return 1;
	if (!config_key_find(section, name)) {
		size_t len = strlen(s->unknown);
		snprintf(s->unknown + len, sizeof s->unknown - len, " [%s] %s", section, name);
		return 1;
	}
	char key[80];
	snprintf(key, sizeof key, "%s.%s", section, name);
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->key[i], key) == 0) {
			s->count[i]++;
			return 1;
		}
	if (s->n < 64) {
		strcpy(s->key[s->n], key);
		snprintf(s->value[s->n], sizeof s->value[0], "%s", value);
		s->count[s->n++] = 1;
	}
	return 1;
}

/* STYLE.md: conf/crdtd.ini lists every key with its default. */
static void test_example_matches_table(void **state)
{
	char path[4096];
	static struct seen_keys s;
	size_t n;
	const struct config_key *t = config_keys(&n);
	struct config d, c;
	struct config_error err;

	src_path(path, sizeof path, "conf/crdtd.ini");
	memset(&s, 0, sizeof s);
	assert_int_equal(ini_parse(path, collect_cb, &s), 0);
	if (s.unknown[0])
		print_error("conf/crdtd.ini has keys the table lacks:%s\n", s.unknown);
	assert_string_equal(s.unknown, "");

	config_defaults(&d);
	assert_int_equal(config_load(path, &c, &err), 0);
	for (size_t i = 0; i < n; i++) {
		char key[80], got[1100], want[1100];
		size_t j;

		snprintf(key, sizeof key, "%s.%s", t[i].section, t[i].name);
		for (j = 0; j < s.n; j++)
			if (strcmp(s.key[j], key) == 0)
				break;
		if (j == s.n)
			print_error("conf/crdtd.ini lacks %s\n", key);
		assert_true(j < s.n);
		assert_int_equal(s.count[j], 1);
		if (!t[i].def)
			continue;
		/* compare parsed values, so "8m" would equal "8388608" */
		fmt_value(&c, &t[i], got, sizeof got);
		fmt_value(&d, &t[i], want, sizeof want);
		if (strcmp(got, want) != 0)
			print_error("conf/crdtd.ini: %s = %s, but the default is %s\n", key, got, want);
		assert_string_equal(got, want);
	}
	assert_int_equal(s.n, n);
	config_done(&c);
	config_done(&d);
}

/* docs/configuration.md has a row "| `name` | type | default | ..." for every
 * key under its "## `[section]`" heading, with the table's default. */
static void test_docs_match_table(void **state)
{
	char path[4096];
	size_t n;
	const struct config_key *t = config_keys(&n);

	src_path(path, sizeof path, "docs/configuration.md");
	char *doc = read_all(path);
	for (size_t i = 0; i < n; i++) {
		char heading[80], row[160], dflt[300];
		const struct config_key *k = &t[i];

		snprintf(heading, sizeof heading, "\n## `[%s]`\n", k->section);
		const char *sec = strstr(doc, heading);
		if (!sec)
			print_error("docs/configuration.md lacks heading %s", heading + 1);
		assert_non_null(sec);
		sec += strlen(heading);
		const char *end = strstr(sec, "\n## ");
		size_t sec_len = end ? (size_t)(end - sec) : strlen(sec);

		snprintf(row, sizeof row, "\n| `%s` | ", k->name);
		const char *r = strstr(sec, row);
		if (!r || (size_t)(r - sec) > sec_len)
			print_error("docs/configuration.md lacks a row for [%s] %s\n", k->section,
				    k->name);
		assert_true(r && (size_t)(r - sec) < sec_len);
		/* third cell: the default */
		r = strchr(r + strlen(row), '|');
		assert_non_null(r);
		if (!k->def)
			snprintf(dflt, sizeof dflt, "| required |");
		else if (!*k->def)
			snprintf(dflt, sizeof dflt, "| (empty) |");
		else
			snprintf(dflt, sizeof dflt, "| `%s` |", k->def);
		if (strncmp(r, dflt, strlen(dflt)) != 0)
			print_error("docs: [%s] %s: want default cell '%s'\n", k->section, k->name,
				    dflt);
		assert_memory_equal(r, dflt, strlen(dflt));
	}
	free(doc);
}

/* ---- good files ---- */

static void test_defaults_applied(void **state)
{
	struct config c, d;
	size_t n;
	const struct config_key *t = config_keys(&n);

	load_ok(MINIMAL, &c);
	config_defaults(&d);
	for (size_t i = 0; i < n; i++) {
		char got[1100], want[1100];
		if (!t[i].def)
			continue;
		fmt_value(&c, &t[i], got, sizeof got);
		fmt_value(&d, &t[i], want, sizeof want);
		assert_string_equal(got, want);
		assert_string_equal(want, t[i].def);
	}
	assert_string_equal(c.node.name, "a");
	assert_string_equal(c.node.data_dir, "d");
	assert_string_equal(c.node.client.host, "127.0.0.1");
	assert_int_equal(c.node.client.port, 6380);
	assert_string_equal(c.node.client_socket, "");
	assert_int_equal(c.node.max_clients, 10000);
	assert_int_equal(c.node.max_request_bytes, 64 << 20);
	assert_int_equal(c.node.max_args, 1048576);
	assert_int_equal(c.gossip.interval_ms, 1000);
	assert_int_equal(c.gossip.mtu, 1400);
	assert_int_equal(c.gossip.fanout, 0);
	assert_int_equal(c.gossip.push_delay_ms, 2);
	assert_int_equal(c.gossip.rcvbuf, 8 << 20);
	assert_int_equal(c.gossip.sndbuf, 4 << 20);
	assert_int_equal(c.gossip.max_clock_lead_ms, 60000);
	assert_int_equal(c.log.level, LOG_LEVEL_INFO);
	assert_int_equal(c.n_peers, 0);
	config_done(&c);
	config_done(&d);
}

static void test_syntax_accepted(void **state)
{
	struct config c;

	load_ok("\xEF\xBB\xBF; BOM, CRLF, comments, indentation, quotes\r\n"
		"# hash comment\r\n"
		"[log]\r\n"
		"level = DEBUG ; inline comment\r\n"
		"  [node]  ; indented header\r\n"
		"\tname = n-1.x_y\r\n"
		"   data_dir = \" spaced dir \"\r\n"
		"listen = [::1]:7946\r\n"
		"client_socket = \"\"\r\n"
		"client = [fe80::1%eth0]:6380\r\n"
		"max_request_bytes = 2m\r\n"
		"[gossip]\r\n"
		"interval_ms = 5000\r\n"
		"  mtu = 9000\r\n" /* not a continuation of interval_ms */
		"rcvbuf = 1G\r\n"
		"sndbuf = 0\r\n"
		"push_delay_ms = 0\r\n"
		"fanout = 3\r\n"
		"[peers]\r\n"
		"p1 = 10.0.0.2:7946\r\n"
		"p2 = node-d.example.net.:65535\r\n"
		"p3 = [2001:db8::3]:1\r\n"
		"p4 = under_score:7946\r\n"
		"[node]\r\n" /* a section may be reopened */
		"max_args = 16\r\n"
		"[peers]\r\n"
		"p5 = 10.0.0.5:7946",  /* no final newline */
		&c);
	assert_int_equal(c.log.level, LOG_LEVEL_DEBUG);
	assert_string_equal(c.node.name, "n-1.x_y");
	assert_string_equal(c.node.data_dir, " spaced dir ");
	assert_string_equal(c.node.listen.host, "::1");
	assert_int_equal(c.node.listen.kind, CONFIG_ADDR_IPV6);
	assert_string_equal(c.node.client.host, "fe80::1%eth0");
	assert_string_equal(c.node.client_socket, "");
	assert_int_equal(c.node.max_request_bytes, 2 << 20);
	assert_int_equal(c.node.max_args, 16);
	assert_int_equal(c.gossip.interval_ms, 5000);
	assert_int_equal(c.gossip.mtu, 9000);
	assert_int_equal(c.gossip.rcvbuf, 1 << 30);
	assert_int_equal(c.gossip.sndbuf, 0);
	assert_int_equal(c.gossip.fanout, 3);
	assert_int_equal(c.n_peers, 5);
	assert_string_equal(c.peers[1].name, "p2");
	assert_string_equal(c.peers[1].addr.host, "node-d.example.net.");
	assert_int_equal(c.peers[1].addr.port, 65535);
	assert_int_equal(c.peers[1].addr.kind, CONFIG_ADDR_HOSTNAME);
	assert_int_equal(c.peers[2].addr.kind, CONFIG_ADDR_IPV6);
	assert_int_equal(c.peers[2].addr.port, 1);
	assert_int_equal(c.peers[2].line, 22);
	assert_string_equal(c.peers[4].name, "p5");

	char buf[64];
	assert_int_equal(config_addr_format(&c.peers[2].addr, buf, sizeof buf),
			 (int)strlen("[2001:db8::3]:1"));
	assert_string_equal(buf, "[2001:db8::3]:1");
	assert_int_equal(config_addr_format(&c.peers[2].addr, buf, 4), -EMSGSIZE);
	config_done(&c);
}

/* Load @content, dump it, load the dump and dump again: both loads succeed
 * and both dumps are equal.  Returns the first dump (free it). */
static char *round_trip(const char *content)
{
	struct config c, c2;
	char *dump1, *dump2;
	size_t len1, len2;
	FILE *f;

	load_ok(content, &c);
	f = open_memstream(&dump1, &len1);
	assert_int_equal(config_dump(&c, f), 0);
	assert_int_equal(fclose(f), 0);
	load_ok(dump1, &c2);
	f = open_memstream(&dump2, &len2);
	assert_int_equal(config_dump(&c2, f), 0);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(dump1, dump2);
	free(dump2);
	config_done(&c);
	config_done(&c2);
	return dump1;
}

/* Issue 15, found by fuzz_config: a listen line that fits the line bound as
 * written ("listen=[...]:6", 199 bytes) loaded, but its dump ("listen = ")
 * did not.  tests/fuzz/corpus/config/regress-dump-long-zone-id.ini is the
 * fuzzer's file. */
static void test_dump_regress_long_zone(void **state)
{
	char buf[512], want[512];
	size_t n = (size_t)snprintf(buf, sizeof buf, "[node]\nname=d\n\ndata_dir =\x8c\n");
	size_t start = n;

	n += (size_t)snprintf(buf + n, sizeof buf - n, "listen=[::%%");
	while (n - start < 199 - strlen("]:6"))
		buf[n++] = 'T';
	n += (size_t)snprintf(buf + n, sizeof buf - n, "]:6\n");
	assert_int_equal(strchr(buf + start, '\n') - (buf + start), 199);

	char *dump = round_trip(buf);
	snprintf(want, sizeof want, "\nlisten = %.*s\n", 199 - (int)strlen("listen="),
		 buf + start + strlen("listen="));
	assert_non_null(strstr(dump, want));
	free(dump);
}

/* Every string key at its longest, written so that the dump must quote it
 * (a leading blank), every address at the longest host, and a peer with the
 * longest name and host: whatever loads dumps to a file that loads. */
static void test_dump_longest_values(void **state)
{
	size_t n_keys, size = 64 * 1024, n = 0;
	const struct config_key *t = config_keys(&n_keys);
	const char *section = "";
	char *s = malloc(size), host[CONFIG_HOST_MAX + 1], zone[CONFIG_HOST_MAX + 1];
	char node[CONFIG_NAME_MAX + 1], peer[CONFIG_NAME_MAX + 1];
	struct config c;

	assert_non_null(s);
	/* four labels: 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 */
	memset(host, 'h', CONFIG_HOST_MAX);
	host[63] = host[127] = host[191] = '.';
	host[CONFIG_HOST_MAX] = '\0';
	memset(zone, 'z', CONFIG_HOST_MAX);
	zone[CONFIG_HOST_MAX - strlen("fe80::1%")] = '\0';
	memset(node, 'n', CONFIG_NAME_MAX);
	node[CONFIG_NAME_MAX] = '\0';
	memset(peer, 'p', CONFIG_NAME_MAX);
	peer[CONFIG_NAME_MAX] = '\0';

	for (size_t i = 0; i < n_keys; i++) {
		const struct config_key *k = &t[i];
		if (strcmp(k->section, section) != 0)
			n += (size_t)snprintf(s + n, size - n, "[%s]\n", k->section);
		section = k->section;
		if (k->type == CONFIG_STRING) {
			int len = (int)k->max;
			if (k->flags & CONFIG_F_NAME)
				n += (size_t)snprintf(s + n, size - n, "%s = %.*s\n", k->name, len,
						      node);
			else
				n += (size_t)snprintf(s + n, size - n, "%s = \" %*s\"\n", k->name,
						      len - 1, "x");
		} else if (k->type == CONFIG_ADDR && strcmp(k->name, "listen") == 0) {
			n += (size_t)snprintf(s + n, size - n, "%s = [fe80::1%%%s]:65535\n", k->name,
					      zone);
		} else if (k->type == CONFIG_ADDR) {
			n += (size_t)snprintf(s + n, size - n, "%s = %s:65535\n", k->name, host);
		}
		assert_true(n < size);
	}
	n += (size_t)snprintf(s + n, size - n, "[peers]\n%s = %s:65534\n", peer, host);
	assert_true(n < size);

	load_ok(s, &c);
	for (size_t i = 0; i < n_keys; i++) {
		const struct config_key *k = &t[i];
		if (k->type == CONFIG_STRING)
			assert_int_equal(strlen((char *)&c + k->offset), k->max);
		if (k->type == CONFIG_ADDR)
			assert_int_equal(
				strlen(((struct config_addr *)((char *)&c + k->offset))->host),
				CONFIG_HOST_MAX);
	}
	config_done(&c);
	free(round_trip(s));
	free(s);
}

/* config_dump writes what config_load reads back to the same values. */
static void test_dump_round_trip(void **state)
{
	struct config c, c2;
	char path[32];
	char *dump1, *dump2;
	size_t len1, len2;
	FILE *f;

	load_ok(MINIMAL "client_socket = /tmp/x.sock\nclient = [::1]:1\n"
			"[gossip]\nrcvbuf = 3k\n[log]\nlevel = warn\n"
			"[peers]\nb = 10.0.0.2:7946\nc = h.example:7\n",
		&c);
	f = open_memstream(&dump1, &len1);
	assert_int_equal(config_dump(&c, f), 0);
	fclose(f);
	load_ok(dump1, &c2);
	f = open_memstream(&dump2, &len2);
	assert_int_equal(config_dump(&c2, f), 0);
	fclose(f);
	assert_string_equal(dump1, dump2);
	assert_non_null(strstr(dump1, "\n[gossip]\n"));
	assert_non_null(strstr(dump1, "rcvbuf = 3072\n"));
	assert_non_null(strstr(dump1, "client = [::1]:1\n"));
	assert_non_null(strstr(dump1, "level = warn\n"));
	assert_non_null(strstr(dump1, "[peers]\nb = 10.0.0.2:7946\nc = h.example:7\n"));
	assert_int_equal(c2.n_peers, 2);
	(void)path;
	free(dump1);
	free(dump2);
	config_done(&c);
	config_done(&c2);
}

/* A reload that fails keeps the config already in the struct. */
static void test_failed_reload_keeps_old(void **state)
{
	struct config c;
	struct config_error err;
	char path[32];

	load_ok(MINIMAL "[peers]\nb = 10.0.0.2:1\n", &c);
	write_tmp(path, MINIMAL "[gossip]\nmtu = 1\n");
	assert_int_equal(config_load(path, &c, &err), -EINVAL);
	unlink(path);
	assert_string_equal(c.node.name, "a");
	assert_int_equal(c.n_peers, 1);
	assert_string_equal(c.peers[0].name, "b");
	assert_int_equal(c.gossip.mtu, 1400);
	/* and a NULL err is allowed */
	assert_int_equal(config_load("/nonexistent/crdtd.ini", &c, NULL), -ENOENT);
	assert_string_equal(c.node.name, "a");
	config_done(&c);
}

static void test_many_peers(void **state)
{
	size_t size = 64 * 1100;
	char *s = malloc(size), path[32];
	size_t n = (size_t)snprintf(s, size, "%s[peers]\n", MINIMAL);
	struct config c;

	for (int i = 0; i < CONFIG_PEERS_MAX; i++)
		n += (size_t)snprintf(s + n, size - n, "p%d = 10.0.%d.%d:7946\n", i, i / 256,
				      i % 256);
	load_ok(s, &c);
	assert_int_equal(c.n_peers, CONFIG_PEERS_MAX);
	assert_string_equal(c.peers[1023].name, "p1023");
	config_done(&c);

	snprintf(s + n, size - n, "extra = 10.9.9.9:1\n");
	load_bad(s, 5 + CONFIG_PEERS_MAX + 1, "[peers] extra: too many peers (at most 1024)");
	free(s);
	(void)path;
}

/* ---- bad files ---- */

struct bad_case {
	const char *name;
	const char *content;
	unsigned line;
	const char *msg;
};

static const struct bad_case bad_cases[] = {
	{ "unknown key", MINIMAL "[gossip]\nmtuu = 1400\n", 6, "unknown key 'mtuu' in [gossip]" },
	{ "unknown key in node", "[node]\nname = a\nnmae = b\n", 3, "unknown key 'nmae' in [node]" },
	{ "unknown empty section", MINIMAL "[gosip]\n", 5, "unknown section [gosip]" },
	{ "unknown section with keys", "[nodes]\nname = a\n", 1, "unknown section [nodes]" },
	{ "key outside sections", "mtu = 1400\n" MINIMAL, 1, "key 'mtu' is outside any [section]" },
	{ "above max", MINIMAL "[gossip]\nmtu = 99999\n", 6,
	  "[gossip] mtu = 99999: must be between 512 and 65000" },
	{ "below min", MINIMAL "[gossip]\ninterval_ms = 9\n", 6,
	  "[gossip] interval_ms = 9: must be between 10 and 3600000" },
	{ "overflow", MINIMAL "[gossip]\nmtu = 99999999999999999999999\n", 6,
	  "[gossip] mtu = 99999999999999999999999: must be between 512 and 65000" },
	{ "negative", MINIMAL "[gossip]\nfanout = -1\n", 6,
	  "[gossip] fanout = -1: expected an unsigned integer" },
	{ "not a number", MINIMAL "[gossip]\nmtu = 14x0\n", 6,
	  "[gossip] mtu = 14x0: expected an unsigned integer" },
	{ "empty number", MINIMAL "[gossip]\nmtu =\n", 6,
	  "[gossip] mtu = : expected an unsigned integer" },
	{ "hex", MINIMAL "[node]\nmax_clients = 0x10\n", 6,
	  "[node] max_clients = 0x10: expected an unsigned integer" },
	{ "bad size suffix", MINIMAL "[gossip]\nrcvbuf = 8q\n", 6,
	  "[gossip] rcvbuf = 8q: expected a byte count, optionally with a k, m or g suffix" },
	{ "size above max", MINIMAL "[gossip]\nsndbuf = 2g\n", 6,
	  "[gossip] sndbuf = 2g: must be between 0 and 1073741824" },
	{ "size below min", MINIMAL "max_request_bytes = 1023\n", 5,
	  "[node] max_request_bytes = 1023: must be between 1024 and 1073741824" },
	{ "bad enum", MINIMAL "[log]\nlevel = loud\n", 6,
	  "[log] level = loud: expected one of error, warn, info, debug" },
	{ "name too long", "[node]\nname = " "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	  2, "[node] name = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: "
	     "longer than 64 characters" },
	{ "name charset", "[node]\nname = a/b\n", 2,
	  "[node] name = a/b: may contain only letters, digits, '_', '.' and '-'" },
	{ "empty name", "[node]\nname =\n", 2, "[node] name = : must not be empty" },
	{ "empty quoted data_dir", "[node]\ndata_dir = \"\"\n", 2,
	  "[node] data_dir = \"\": must not be empty" },
	{ "socket path too long",
	  MINIMAL "client_socket = /tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	  5,
	  "[node] client_socket = /tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: longer than 107 characters" },
	/* addresses */
	{ "address without port", "[node]\nlisten = 10.0.0.1\n", 2,
	  "[node] listen = 10.0.0.1: expected host:port" },
	{ "address empty", "[node]\nlisten =\n", 2, "[node] listen = : expected host:port" },
	{ "address empty host", "[node]\nlisten = :7946\n", 2,
	  "[node] listen = :7946: empty host (expected host:port)" },
	{ "bad ipv4", "[node]\nlisten = 300.1.1.1:7946\n", 2,
	  "[node] listen = 300.1.1.1:7946: '300.1.1.1' is not an IPv4 address" },
	{ "ipv6 without brackets", "[node]\nlisten = ::1:7946\n", 2,
	  "[node] listen = ::1:7946: an IPv6 address needs brackets, e.g. [::1]:7946" },
	{ "ipv6 missing bracket", "[node]\nlisten = [::1:7946\n", 2,
	  "[node] listen = [::1:7946: missing ']' after the IPv6 address" },
	{ "ipv6 no port", "[node]\nlisten = [::1]\n", 2,
	  "[node] listen = [::1]: expected [ipv6]:port" },
	{ "bad ipv6", "[node]\nlisten = [::g]:7946\n", 2,
	  "[node] listen = [::g]:7946: '::g' is not an IPv6 address" },
	{ "ipv4 in brackets", "[node]\nlisten = [10.0.0.1]:7946\n", 2,
	  "[node] listen = [10.0.0.1]:7946: '10.0.0.1' is not an IPv6 address" },
	{ "bad host name", "[node]\nclient = -bad-.example:6380\n", 2,
	  "[node] client = -bad-.example:6380: '-bad-.example' is not a valid host name" },
	{ "host name empty label", "[node]\nclient = a..b:6380\n", 2,
	  "[node] client = a..b:6380: 'a..b' is not a valid host name" },
	{ "host name with space", "[peers]\nb = my host:1\n", 2,
	  "[peers] b = my host:1: 'my host' is not a valid host name" },
	/* ports */
	{ "port zero", "[node]\nlisten = 127.0.0.1:0\n", 2,
	  "[node] listen = 127.0.0.1:0: port must be a number between 1 and 65535" },
	{ "port too big", "[node]\nlisten = 127.0.0.1:65536\n", 2,
	  "[node] listen = 127.0.0.1:65536: port must be a number between 1 and 65535" },
	{ "port not a number", "[node]\nclient = localhost:redis\n", 2,
	  "[node] client = localhost:redis: port must be a number between 1 and 65535" },
	{ "port empty", "[node]\nlisten = 127.0.0.1:\n", 2,
	  "[node] listen = 127.0.0.1:: port must be a number between 1 and 65535" },
	{ "port negative", "[node]\nlisten = 127.0.0.1:-1\n", 2,
	  "[node] listen = 127.0.0.1:-1: port must be a number between 1 and 65535" },
	{ "peer port", MINIMAL "[peers]\nb = 10.0.0.2:70000\n", 6,
	  "[peers] b = 10.0.0.2:70000: port must be a number between 1 and 65535" },
	/* duplicates */
	{ "duplicate key", MINIMAL "[gossip]\nmtu = 1400\nmtu = 1500\n", 7,
	  "[gossip] mtu: duplicate key (first set on line 6)" },
	{ "duplicate key across reopened section", MINIMAL "[log]\n[node]\nname = b\n", 7,
	  "[node] name: duplicate key (first set on line 2)" },
	{ "duplicate peer", MINIMAL "[peers]\nb = 10.0.0.2:7946\nc = 10.0.0.3:7946\nb = 10.0.0.4:7946\n",
	  8, "[peers] b: duplicate peer (first defined on line 6)" },
	{ "peer is this node", MINIMAL "[peers]\nb = 10.0.0.2:7946\na = 10.0.0.3:7946\n", 7,
	  "[peers] a: a peer cannot have this node's name" },
	{ "peer named before node", "[peers]\nz = 10.0.0.3:7946\n[node]\nname = z\ndata_dir = d\n"
				    "listen = 127.0.0.1:7000\n",
	  2, "[peers] z: a peer cannot have this node's name" },
	{ "peer bad name", MINIMAL "[peers]\nb/c = 10.0.0.2:7946\n", 6,
	  "[peers] b/c: a peer name is 1..64 of letters, digits, '_', '.' and '-'" },
	{ "peer same address", MINIMAL "[peers]\nb = 10.0.0.2:7946\nc = 10.0.0.2:7946\n", 7,
	  "[peers] c = 10.0.0.2:7946: same address as peer 'b' (line 6)" },
	{ "peer is own listen", MINIMAL "[peers]\nb = 127.0.0.1:7000\n", 6,
	  "[peers] b = 127.0.0.1:7000: that is this node's own listen address" },
	/* required keys */
	{ "missing name", "[node]\ndata_dir = d\nlisten = 127.0.0.1:1\n", 0,
	  "[node] name: required key is missing" },
	{ "missing data_dir", "[node]\nname = a\nlisten = 127.0.0.1:1\n", 0,
	  "[node] data_dir: required key is missing" },
	{ "missing listen", "[node]\nname = a\ndata_dir = d\n[gossip]\nmtu = 1400\n", 0,
	  "[node] listen: required key is missing" },
	{ "empty file", "", 0, "[node] name: required key is missing (the file is empty)" },
	{ "only comments", "; nothing\n\n# here\n   \n", 0,
	  "[node] name: required key is missing (the file is empty)" },
	/* lines that are not ini */
	{ "garbage line", MINIMAL "this is not a setting\n", 5,
	  "expected 'name = value' or '[section]'" },
	{ "missing equals", MINIMAL "[peers]\nb 10.0.0.2:7946\n", 6,
	  "expected 'name = value' or '[section]'" },
	{ "colon separator", "[node]\nname: a\n", 2, "expected 'name = value' or '[section]'" },
	{ "comment before equals", "[node]\nname ; = a\n", 2,
	  "expected 'name = value' or '[section]'" },
	{ "unterminated section", "[node\nname = a\n", 1, "section header without ']'" },
	{ "text after section", "[node] name = a\n", 1, "unexpected text after section header" },
	{ "first error wins", MINIMAL "[gossip]\nmtu = 1\nbogus\n[bad]\n", 6,
	  "[gossip] mtu = 1: must be between 512 and 65000" },
};

static void test_bad_case(void **state)
{
	const struct bad_case *c = *state;
	load_bad(c->content, c->line, c->msg);
}

static void test_bad_binary_and_long(void **state)
{
	static const char nul[] = "[node]\nname = a\0b\n";
	char buf[512];

	load_bad_n(nul, sizeof nul - 1, -EINVAL, 2, "NUL byte in line (not a text file?)");

	/* CONFIG_LINE_MAX bytes fit in a line, one more does not: the longest
	 * data_dir, its name and a comment make up a line of exactly that */
	size_t size = 2 * CONFIG_LINE_MAX, n, start;
	char *s = malloc(size);
	struct config c;

	assert_non_null(s);
	n = (size_t)snprintf(s, size, "[node]\nname = a\nlisten = 127.0.0.1:1\n");
	start = n;
	n += (size_t)snprintf(s + n, size - n, "data_dir = ");
	memset(s + n, 'x', CONFIG_PATH_MAX);
	n += CONFIG_PATH_MAX;
	n += (size_t)snprintf(s + n, size - n, " ;");
	while (n - start < CONFIG_LINE_MAX)
		s[n++] = 'c';
	strcpy(s + n, "\r\n");
	load_ok(s, &c);
	assert_int_equal(strlen(c.node.data_dir), CONFIG_PATH_MAX);
	config_done(&c);

	strcpy(s + n, "c\n");
	snprintf(buf, sizeof buf, "line longer than %d bytes", CONFIG_LINE_MAX);
	load_bad(s, 4, buf);

	/* one character more than the longest value is a value error */
	n = start + strlen("data_dir = ") + CONFIG_PATH_MAX;
	strcpy(s + n, "x\n");
	snprintf(buf, sizeof buf, "[node] data_dir = %.128s...: longer than %d characters",
		 s + n - CONFIG_PATH_MAX, CONFIG_PATH_MAX);
	load_bad_n(s, strlen(s), -EINVAL, 4, buf);
	free(s);
}

static void test_bad_files(void **state)
{
	char want[256];
	struct config c;
	struct config_error err;

	memset(&c, 0x5a, sizeof c);
	assert_int_equal(config_load("/nonexistent/dir/crdtd.ini", &c, &err), -ENOENT);
	assert_string_equal(err.msg,
			    "/nonexistent/dir/crdtd.ini: cannot open: No such file or directory");
	assert_int_equal(err.line, 0);
	assert_int_equal(c.n_peers, (size_t)0x5a5a5a5a5a5a5a5aULL);

	assert_int_equal(config_load("/tmp", &c, &err), -EISDIR);
	snprintf(want, sizeof want, "/tmp: read error: %s", strerror(EISDIR));
	assert_string_equal(err.msg, want);
	assert_int_equal(c.n_peers, (size_t)0x5a5a5a5a5a5a5a5aULL);
}

/* ---- log.c ---- */

static int side_effects;

static int bump(void)
{
	return ++side_effects;
}

/* Run @fn with log output captured; return what was written (malloc'd). */
static char *capture(void (*fn)(void))
{
	char path[32];
	write_tmp(path, "");
	int fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	log_set_fd(fd);
	fn();
	log_set_fd(2);
	close(fd);
	char *s = read_all(path);
	unlink(path);
	return s;
}

static void log_some(void)
{
	log_set_level(LOG_LEVEL_INFO);
	log_info("test", "hello %d", 5);
	log_debug("test", "hidden %d", bump());
	log_warn("gossip", "peer %s: line\nbreak", "beta");
	log_set_prefix("alpha");
	log_error("main", "%s", "with prefix");
	log_set_prefix(NULL);
	log_set_level(LOG_LEVEL_DEBUG);
	log_debug("test", "shown %d", bump());
	log_set_level(LOG_LEVEL_INFO);
}

static void test_log_lines(void **state)
{
	regex_t re;
	const char *pat = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
			  "info  test: hello 5\n"
			  "[0-9TZ:.-]{24} warn  gossip: peer beta: line\\\\x0abreak\n"
			  "[0-9TZ:.-]{24} \\[alpha\\] error main: with prefix\n"
			  "[0-9TZ:.-]{24} debug test: shown 1\n$";

	side_effects = 0;
	char *out = capture(log_some);
	assert_int_equal(regcomp(&re, pat, REG_EXTENDED), 0);
	if (regexec(&re, out, 0, NULL, 0) != 0)
		print_error("log output:\n%s", out);
	assert_int_equal(regexec(&re, out, 0, NULL, 0), 0);
	assert_int_equal(side_effects, 1); /* the disabled debug's args never ran */
	regfree(&re);
	free(out);
}

static void log_long(void)
{
	char big[LOG_LINE_MAX * 2];
	memset(big, 'z', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	errno = EPIPE;
	log_warn("test", "%s", big);
	assert_int_equal(errno, EPIPE);
}

static void test_log_truncates(void **state)
{
	char *out = capture(log_long);
	size_t n = strlen(out);
	assert_true(n <= LOG_LINE_MAX + 4);
	assert_true(n > LOG_LINE_MAX - 8);
	assert_memory_equal(out + n - 6, "zz...\n", 6);
	assert_ptr_equal(strchr(out, '\n'), out + n - 1);
	free(out);
}

static void test_log_levels(void **state)
{
	enum log_level l = LOG_LEVEL_ERROR;

	assert_int_equal(log_parse_level("debug", &l), 0);
	assert_int_equal(l, LOG_LEVEL_DEBUG);
	assert_int_equal(log_parse_level("WARN", &l), 0);
	assert_int_equal(l, LOG_LEVEL_WARN);
	assert_int_equal(log_parse_level("verbose", &l), -EINVAL);
	assert_int_equal(log_parse_level(NULL, &l), -EINVAL);
	assert_int_equal(l, LOG_LEVEL_WARN);
	assert_string_equal(log_level_name(LOG_LEVEL_ERROR), "error");
	assert_string_equal(log_level_name(LOG_LEVEL_INFO), "info");
	assert_string_equal(log_level_name((enum log_level)9), "?");

	log_set_level(LOG_LEVEL_WARN);
	assert_true(log_enabled(LOG_LEVEL_ERROR));
	assert_true(log_enabled(LOG_LEVEL_WARN));
	assert_false(log_enabled(LOG_LEVEL_INFO));
	assert_int_equal(log_get_level(), LOG_LEVEL_WARN);
	log_set_level(LOG_LEVEL_INFO);
}

struct restart_only {
	char seen[8][64];
	size_t n;
};

static void restart_only_cb(const struct config_key *k, void *ctx)
{
	struct restart_only *r = ctx;
	assert_true(r->n < 8);
	snprintf(r->seen[r->n++], sizeof(r->seen[0]), "%s.%s", k->section, k->name);
}

/* SIGHUP applies the flagged keys and the peer list; a changed key that
 * needs a restart keeps its running value and is reported. */
static void test_reload_applies_flagged_keys_only(void **state)
{
	const char *base = "[node]\nname = a\ndata_dir = /tmp/x\nlisten = 127.0.0.1:7000\n"
			   "[peers]\nb = 127.0.0.1:7001\n";
	struct config running, fresh;
	struct restart_only r = { .n = 0 };
	char text[512];

	load_ok(base, &running);
	snprintf(text, sizeof(text),
		 "[node]\nname = a\ndata_dir = /tmp/x\nlisten = 127.0.0.1:7000\n"
		 "requirepass = hunter2\n[gossip]\nmtu = 1200\n[log]\nlevel = debug\n"
		 "[limits]\nmax_elements = 77\n[peers]\nb = 127.0.0.1:7001\nc = 127.0.0.1:7002\n");
	load_ok(text, &fresh);
	unsigned mtu = running.gossip.mtu;
	assert_int_equal(config_reload(&running, &fresh, restart_only_cb, &r), 3);
	assert_int_equal(running.limits.max_elements, 77);
	assert_int_equal(running.log.level, LOG_LEVEL_DEBUG);
	assert_string_equal(running.node.requirepass, "hunter2");
	assert_int_equal(running.gossip.mtu, mtu);
	assert_int_equal(running.n_peers, 2);
	assert_int_equal(fresh.n_peers, 1); /* the old list, for config_done */
	assert_int_equal(r.n, 1);
	assert_string_equal(r.seen[0], "gossip.mtu");
	/* again: nothing left to apply; the mtu is reported while the file
	 * and the running value differ */
	r.n = 0;
	config_done(&fresh);
	load_ok(text, &fresh);
	assert_int_equal(config_reload(&running, &fresh, restart_only_cb, &r), 0);
	assert_int_equal(r.n, 1);
	config_done(&fresh);
	config_done(&running);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_example_loads),
		cmocka_unit_test(test_cluster_loads),
		cmocka_unit_test(test_table_sane),
		cmocka_unit_test(test_example_matches_table),
		cmocka_unit_test(test_docs_match_table),
		cmocka_unit_test(test_defaults_applied),
		cmocka_unit_test(test_syntax_accepted),
		cmocka_unit_test(test_dump_round_trip),
		cmocka_unit_test(test_dump_regress_long_zone),
		cmocka_unit_test(test_dump_longest_values),
		cmocka_unit_test(test_failed_reload_keeps_old),
		cmocka_unit_test(test_many_peers),
		cmocka_unit_test(test_bad_binary_and_long),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_log_lines),
		cmocka_unit_test(test_log_truncates),
		cmocka_unit_test(test_log_levels),
		cmocka_unit_test(test_reload_applies_flagged_keys_only),
	};
	enum { N_FIXED = sizeof fixed / sizeof fixed[0],
	       N_BAD = sizeof bad_cases / sizeof bad_cases[0] };
	static struct CMUnitTest tests[N_FIXED + N_BAD];
	static char names[N_BAD][80];

	memcpy(tests, fixed, sizeof fixed);
	for (size_t i = 0; i < N_BAD; i++) {
		snprintf(names[i], sizeof names[i], "bad: %s", bad_cases[i].name);
		tests[N_FIXED + i] = (struct CMUnitTest){
			.name = names[i],
			.test_func = test_bad_case,
			.initial_state = (void *)&bad_cases[i],
		};
	}
	return _cmocka_run_group_tests("config", tests, N_FIXED + N_BAD, NULL, NULL);
}
