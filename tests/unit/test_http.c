/* The pure parts of the HTTP pipeline: the request reader (http/request.h)
 * on good, bad and split input, the renderers of a hand-made snapshot:
 * the Prometheus exposition (http/metrics.h) and the status page
 * (http/status.h), and the store's census a slice at a time
 * (http/census.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crdt/error.h"
#include "http/census.h"
#include "http/metrics.h"
#include "http/request.h"
#include "http/status.h"

static int feed_all(struct http_request *r, const char *s)
{
	return http_request_feed(r, s, strlen(s));
}

/* The verdict on @s fed whole, and fed in every split into two pieces:
 * they must agree (the parser keeps state across reads). */
static int verdict(const char *s, size_t max)
{
	struct http_request r;
	size_t len = strlen(s);
	int whole;

	http_request_init(&r, max);
	whole = feed_all(&r, s);
	for (size_t cut = 1; cut < len; cut++) {
		int v;
		http_request_init(&r, max);
		v = http_request_feed(&r, s, cut);
		if (v == HTTP_REQ_MORE)
			v = http_request_feed(&r, s + cut, len - cut);
		if (v != whole)
			fail_msg("split at %zu of %s: %d, whole: %d", cut, s, v, whole);
	}
	return whole;
}

static void test_request_get(void **state)
{
	struct http_request r;

	http_request_init(&r, 8192);
	assert_int_equal(feed_all(&r, "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n"), HTTP_REQ_MORE);
	assert_int_equal(feed_all(&r, "Authorization: Bearer s3cret\r\n\r\n"), HTTP_REQ_DONE);
	assert_string_equal(http_request_path(&r), "/metrics");
	assert_false(r.head);
	assert_true(http_request_bearer_is(&r, "s3cret"));
	assert_false(http_request_bearer_is(&r, "s3cre"));
	assert_false(http_request_bearer_is(&r, "s3cretX"));
	assert_false(http_request_bearer_is(&r, "S3cret"));

	http_request_init(&r, 8192);
	assert_int_equal(feed_all(&r, "HEAD /healthz HTTP/1.0\r\n\r\n"), HTTP_REQ_DONE);
	assert_true(r.head);
	assert_false(http_request_bearer_is(&r, "")); /* no header: never authorized */
	assert_int_equal(verdict("GET / HTTP/1.1\r\nauthorization: bearer x\r\n\r\n", 8192),
			 HTTP_REQ_DONE);
}

static void test_request_refused(void **state)
{
	char big[9000];

	assert_int_equal(verdict("POST /metrics HTTP/1.1\r\n\r\n", 8192), HTTP_REQ_METHOD);
	assert_int_equal(verdict("GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 8192),
			 HTTP_REQ_BODY);
	assert_int_equal(verdict("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
				 8192),
			 HTTP_REQ_BODY);
	assert_int_equal(verdict("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 8192), HTTP_REQ_BAD);
	assert_int_equal(verdict("GET / HTTP/1.1\r\nbad header\r\n\r\n", 8192), HTTP_REQ_BAD);
	/* an Upgrade is ignored: answered as a plain GET, then closed */
	assert_int_equal(verdict("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
				 8192),
			 HTTP_REQ_DONE);

	/* a URL past HTTP_PATH_MAX */
	snprintf(big, sizeof(big), "GET /%0300d HTTP/1.1\r\n\r\n", 0);
	assert_int_equal(verdict(big, 8192), HTTP_REQ_URI_TOO_LONG);

	/* headers past the bound: 431, whether or not they would end */
	snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nX-Pad: %01100d\r\n\r\n", 0);
	assert_int_equal(verdict(big, 1024), HTTP_REQ_HEADERS_TOO_LARGE);
	assert_int_equal(verdict(big, 8192), HTTP_REQ_DONE);
	snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nX-Pad: %01100d", 0); /* never ends */
	assert_int_equal(verdict(big, 1024), HTTP_REQ_HEADERS_TOO_LARGE);

	/* one byte at a time: the bound holds across reads, and the verdict
	 * sticks */
	struct http_request r;
	size_t i;
	int v = HTTP_REQ_MORE;
	http_request_init(&r, 1024);
	for (i = 0; big[i] && v == HTTP_REQ_MORE; i++)
		v = http_request_feed(&r, big + i, 1);
	assert_int_equal(v, HTTP_REQ_HEADERS_TOO_LARGE);
	assert_int_equal(i, 1025);
	assert_int_equal(http_request_feed(&r, "\r\n\r\n", 4), HTTP_REQ_HEADERS_TOO_LARGE);
}

/* A snapshot of two peers, one never seen, with a name that needs escaping. */
static struct snapshot_peer peers[2];
static uint64_t buckets[2][4];
static const uint64_t bounds_us[3] = { 10, 1000, 1000000 };
static struct snapshot_command cmds[2];
static uint64_t drops[GOSSIP_DROP_MAX];
static struct http_stats hstats;
static const struct metric_row rows[] = {
	{ "crdtd_commands_processed_total", METRIC_COUNTER, "commands run", 42 },
	{ "crdtd_connected_clients", METRIC_GAUGE, "client connections open", 3 },
};
static const struct snapshot_type types[] = { { "orset", 2, 7 }, { "gcounter", 1, 0 } };
static const struct snapshot_instance largest[] = { { "<cart>", "orset", 5, 100 } };
static const char *const warnings[] = { "warn gossip: peer \"b\" <down>" };

static struct snapshot make_snapshot(void)
{
	memset(peers, 0, sizeof(peers));
	snprintf(peers[0].name, sizeof(peers[0].name), "b");
	snprintf(peers[0].node, sizeof(peers[0].node), "b");
	peers[0].info = (struct gossip_peer_info){ .name = peers[0].name, .seen = true,
						   .last_seen_ago_ms = 1500, .has_rtt = true,
						   .srtt_us = 250 };
	peers[0].info.stats.dgrams_in = 9;
	peers[0].info.stats.drops[GOSSIP_DROP_RATE] = 6;
	peers[0].info.stats.lag.buckets[0] = 2;  /* <= 1 ms */
	peers[0].info.stats.lag.buckets[10] = 1; /* <= 5 s */
	peers[0].info.stats.lag.count = 3;
	peers[0].info.stats.lag.sum_ms = 5000;
	snprintf(peers[1].name, sizeof(peers[1].name), "we\"ird\\");
	peers[1].info.name = peers[1].name;
	memset(buckets, 0, sizeof(buckets));
	buckets[1][0] = 1; /* <= 10 us */
	buckets[1][1] = 1; /* <= 1 ms */
	buckets[1][3] = 1; /* > 1 s */
	cmds[0] = (struct snapshot_command){ .name = "get", .buckets = buckets[0] };
	cmds[1] = (struct snapshot_command){ .name = "sadd", .calls = 3, .errors = 1,
					     .usec_sum = 1500, .buckets = buckets[1] };
	drops[GOSSIP_DROP_BAD_AUTH] = 4;
	hstats = (struct http_stats){ .connections = 5 };
	hstats.responses[http_status_index(431)] = 2;
	return (struct snapshot){
		.node = "a<b>", .version = "0.2.0", .replica_id = "r", .uptime_ms = 61000,
		.rows = rows, .nrows = 2, .peers = peers, .npeers = 2, .types = types, .ntypes = 2,
		.drops = drops, .cmds = cmds, .ncmds = 2, .bounds_us = bounds_us, .nbounds = 3,
		.http = &hstats,
		.largest = largest, .nlargest = 1, .warnings = warnings, .nwarnings = 1,
	};
}

static char *render(void (*fn)(const struct snapshot *, struct crdt_buf *), struct crdt_buf *b)
{
	struct snapshot s = make_snapshot();

	crdt_buf_init(b, 0);
	fn(&s, b);
	crdt_buf_put(b, "", 1);
	assert_int_equal(b->err, 0);
	return (char *)b->data;
}

static void has(const char *text, const char *line)
{
	if (!strstr(text, line))
		fail_msg("missing: %s", line);
}

static void test_metrics(void **state)
{
	struct crdt_buf b;
	char *m = render(metrics_render, &b);

	has(m, "# HELP crdtd_commands_processed_total commands run\n"
	       "# TYPE crdtd_commands_processed_total counter\n"
	       "crdtd_commands_processed_total 42\n");
	has(m, "# TYPE crdtd_connected_clients gauge\ncrdtd_connected_clients 3\n");
	has(m, "crdtd_info{node=\"a<b>\",version=\"0.2.0\",replica_id=\"r\"} 1\n");
	has(m, "crdtd_uptime_seconds 61\n");
	has(m, "crdtd_healthy 1\n");
	/* per peer; the never-seen peer has no last-seen and no RTT sample */
	has(m, "crdtd_peer_up{peer=\"b\"} 1\n");
	has(m, "crdtd_peer_up{peer=\"we\\\"ird\\\\\"} 0\n");
	has(m, "crdtd_peer_last_seen_seconds{peer=\"b\"} 1.5\n");
	assert_null(strstr(m, "crdtd_peer_last_seen_seconds{peer=\"we"));
	has(m, "crdtd_peer_rtt_seconds{peer=\"b\"} 0.00025\n");
	assert_null(strstr(m, "crdtd_peer_rtt_seconds{peer=\"we"));
	has(m, "crdtd_peer_datagrams_received_total{peer=\"b\"} 9\n");
	/* drops by peer and reason; none a peer cannot cause */
	has(m, "crdtd_peer_datagrams_dropped_total{peer=\"b\",reason=\"rate\"} 6\n");
	has(m, "crdtd_peer_datagrams_dropped_total{peer=\"b\",reason=\"bad_auth\"} 0\n");
	assert_null(strstr(m, "{peer=\"b\",reason=\"unknown_peer\"}"));
	/* the convergence lag, a histogram per peer */
	has(m, "# TYPE crdtd_peer_convergence_lag_seconds histogram\n");
	has(m, "crdtd_peer_convergence_lag_seconds_bucket{peer=\"b\",le=\"0.001\"} 2\n");
	has(m, "crdtd_peer_convergence_lag_seconds_bucket{peer=\"b\",le=\"2.5\"} 2\n");
	has(m, "crdtd_peer_convergence_lag_seconds_bucket{peer=\"b\",le=\"5\"} 3\n");
	has(m, "crdtd_peer_convergence_lag_seconds_bucket{peer=\"b\",le=\"+Inf\"} 3\n");
	has(m, "crdtd_peer_convergence_lag_seconds_sum{peer=\"b\"} 5\n");
	has(m, "crdtd_peer_convergence_lag_seconds_count{peer=\"b\"} 3\n");
	has(m, "crdtd_peer_convergence_lag_seconds_count{peer=\"we\\\"ird\\\\\"} 0\n");
	has(m, "crdtd_instances{type=\"orset\"} 2\n");
	has(m, "crdtd_elements{type=\"orset\"} 7\n");
	has(m, "crdtd_gossip_dropped_total{reason=\"bad_auth\"} 4\n");
	has(m, "crdtd_gossip_dropped_total{reason=\"truncated\"} 0\n");
	/* the histogram: cumulative buckets, +Inf equal to the count */
	has(m, "# TYPE crdtd_command_duration_seconds histogram\n");
	has(m, "crdtd_commands_total{command=\"sadd\"} 3\n");
	has(m, "crdtd_command_errors_total{command=\"sadd\"} 1\n");
	has(m, "crdtd_command_duration_seconds_bucket{command=\"sadd\",le=\"1e-05\"} 1\n");
	has(m, "crdtd_command_duration_seconds_bucket{command=\"sadd\",le=\"0.001\"} 2\n");
	has(m, "crdtd_command_duration_seconds_bucket{command=\"sadd\",le=\"1\"} 2\n");
	has(m, "crdtd_command_duration_seconds_bucket{command=\"sadd\",le=\"+Inf\"} 3\n");
	has(m, "crdtd_command_duration_seconds_sum{command=\"sadd\"} 0.0015\n");
	has(m, "crdtd_command_duration_seconds_count{command=\"sadd\"} 3\n");
	has(m, "crdtd_http_responses_total{code=\"431\"} 2\n");
	has(m, "crdtd_http_connections_total 5\n");
	/* every family once, HELP before TYPE before its samples */
	for (char *p = m; (p = strstr(p, "# TYPE ")); p++) {
		char name[128], help[140];
		sscanf(p + 7, "%127s", name);
		snprintf(help, sizeof(help), "# HELP %s ", name);
		assert_non_null(strstr(m, help));
		assert_true(strstr(m, help) < p);
		assert_ptr_equal(strstr(m, help), strstr(strstr(m, help), help));
		snprintf(help, sizeof(help), "\n# TYPE %s ", name);
		assert_null(strstr(p + 1, help)); /* no second TYPE line */
	}
	crdt_buf_done(&b);
}

static void test_status(void **state)
{
	struct crdt_buf b;
	char *h = render(status_render, &b);

	has(h, "<title>crdtd a&lt;b&gt;</title>");
	assert_null(strstr(h, "<b>"));
	assert_null(strstr(h, "<cart>"));
	has(h, "&lt;cart&gt;");
	has(h, "warn gossip: peer &quot;b&quot; &lt;down&gt;");
	has(h, "<h2>Peers (1 of 2 up)</h2>");
	has(h, "<tr class=\"up\" data-peer=\"b\">");
	has(h, "<tr class=\"down\" data-peer=\"we&quot;ird\\\">");
	has(h, "<td>0.250 ms</td>");
	has(h, "never seen");
	has(h, "Health: <span class=\"ok\" id=\"health\">ok</span>");
	assert_null(strstr(h, "http://")); /* no external assets */
	assert_null(strstr(h, "<script"));
	crdt_buf_done(&b);
}

/* Names of three types in @s: @n registers, @n / 10 counters, and sets
 * "s<i>" of i members for i < @sets (so the largest are known). */
static void fill(struct store *s, int first, int n, int sets)
{
	struct crdt_hlc h;
	struct crdt_obj *o;
	char k[32], m[32];

	crdt_hlc_init(&h, NULL, NULL);
	for (int i = first; i < first + n; i++) {
		snprintf(k, sizeof(k), "r%d", i);
		assert_int_equal(store_get(s, k, strlen(k), CRDT_LWWREG, true, &o), 0);
		assert_int_equal(crdt_lwwreg_set(o->lww, &h, &s->self, "v", 1), 0);
		if (i % 10 == 0) {
			snprintf(k, sizeof(k), "c%d", i);
			assert_int_equal(store_get(s, k, strlen(k), CRDT_PNCOUNTER, true, &o), 0);
			assert_int_equal(crdt_pncounter_inc(o->pn, &s->self, 1), 0);
		}
	}
	for (int i = 0; i < sets; i++) {
		snprintf(k, sizeof(k), "s%d", i);
		assert_int_equal(store_get(s, k, strlen(k), CRDT_ORSET, true, &o), 0);
		for (int j = 0; j < i; j++) {
			snprintf(m, sizeof(m), "m%d", j);
			assert_true(crdt_orset_add(o->os, &s->self, m, strlen(m)) >= 0);
		}
	}
}

static const struct snapshot_type *type_row(const struct census_result *r, const char *name)
{
	for (size_t i = 0; i < CENSUS_NTYPES; i++)
		if (!strcmp(r->types[i].name, name))
			return &r->types[i];
	fail_msg("no row for %s", name);
	return NULL;
}

/* A census taken 7 slots a step counts what one taken whole does: every
 * instance and member by type, the ten largest sets in order.  A table
 * rebuilt between two steps (the store grew) starts the walk again, and
 * the names added meanwhile are counted too. */
static void test_census_in_steps(void **state)
{
	struct store s;
	struct census whole = { 0 }, steps = { 0 };
	int n = 0;

	store_init(&s);
	fill(&s, 0, 500, 30);
	census_start(&whole, &s);
	assert_true(census_step(&whole, &s, SIZE_MAX, 1));
	assert_false(census_step(&whole, &s, SIZE_MAX, 2)); /* nothing under way */
	assert_int_equal(type_row(&whole.last, "lwwreg")->instances, 500);
	assert_int_equal(type_row(&whole.last, "pncounter")->instances, 50);
	assert_int_equal(type_row(&whole.last, "orset")->instances, 29); /* s0 is empty */
	assert_int_equal(type_row(&whole.last, "orset")->elements, 29 * 30 / 2);
	assert_int_equal(whole.last.nlargest, CENSUS_LARGEST);
	for (int i = 0; i < CENSUS_LARGEST; i++)
		assert_int_equal(whole.last.largest[i].elements, 29 - i);
	assert_string_equal(whole.last.largest[0].name, "s29");

	census_start(&steps, &s);
	while (!census_step(&steps, &s, 7, 10))
		assert_true(++n < 100000);
	assert_false(steps.running);
	assert_int_equal(steps.last.done_ms, 10);
	whole.last.done_ms = 10;
	assert_memory_equal(&steps.last, &whole.last, sizeof(whole.last));

	/* the store doubles while a census is under way */
	census_start(&steps, &s);
	assert_false(census_step(&steps, &s, 7, 20));
	size_t cap = s.cap;
	fill(&s, 500, 2000, 0);
	assert_true(s.cap > cap);
	while (!census_step(&steps, &s, 7, 30))
		;
	assert_int_equal(steps.restarts, 1);
	assert_int_equal(type_row(&steps.last, "lwwreg")->instances, 2500);
	assert_int_equal(type_row(&steps.last, "pncounter")->instances, 250);
	/* a name deleted between two steps is not counted once it is gone */
	census_start(&steps, &s);
	assert_int_equal(store_del(&s, "s29", 3), 1);
	while (!census_step(&steps, &s, 7, 40))
		;
	assert_int_equal(type_row(&steps.last, "orset")->instances, 28);
	assert_string_equal(steps.last.largest[0].name, "s28");
	store_done(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_get),
		cmocka_unit_test(test_request_refused),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_census_in_steps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
