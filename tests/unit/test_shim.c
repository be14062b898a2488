/* Tests for src/daemon/gossip/shim.c: the decisions with fixed seeds (no libuv),
 * then the transport over a fake inner transport on a real loop: held
 * datagrams arrive late, partitions drop both ways, close frees what is
 * still held (uv_loop_close() == 0). */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gossip/shim.h"

#define SEED 20261125u

static struct sockaddr_storage addr4(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	assert_int_equal(uv_ip4_addr(ip, port, (struct sockaddr_in *)&ss), 0);
	return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

static void test_settings_checked(void **state)
{
	struct shim_core c;
	struct shim_settings ok = { .loss = 1.0, .latency_min_ms = 5, .latency_max_ms = 5 };
	struct shim_settings bad[] = {
		{ .loss = 1.5 },
		{ .loss = -0.1 },
		{ .duplicate = 2 },
		{ .reorder = -1 },
		{ .partition_probability = 1.01 },
		{ .latency_min_ms = 10, .latency_max_ms = 5 },
		{ .latency_max_ms = SHIM_LATENCY_MAX_MS + 1 },
	};

	assert_int_equal(shim_core_init(&c, &ok, 1), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(shim_settings_check(&bad[i]), -EINVAL);
		assert_int_equal(shim_core_set(&c, &bad[i]), -EINVAL);
	}
	assert_true(c.set.loss == 1.0); /* unchanged */
	shim_core_done(&c);
}

/* Loss 0.3 over 10,000 datagrams: about 3,000 dropped, and exactly the same
 * number for the same seed every time. */
static void test_loss_rate_and_determinism(void **state)
{
	struct shim_settings s = { .loss = 0.3 };
	struct sockaddr_storage to = addr4("127.0.0.1", 7000);
	uint64_t dropped[2];

	for (int run = 0; run < 2; run++) {
		struct shim_core c;
		struct shim_plan p;
		assert_int_equal(shim_core_init(&c, &s, SEED), 0);
		for (int i = 0; i < 10000; i++)
			shim_core_send(&c, SA(to), 0, &p);
		dropped[run] = c.stats.dropped_loss;
		assert_int_equal(c.stats.passed + c.stats.dropped_loss, 10000);
		assert_int_equal(c.stats.dropped_partition, 0);
		shim_core_done(&c);
	}
	assert_true(dropped[0] >= 2800 && dropped[0] <= 3200);
	assert_int_equal(dropped[0], dropped[1]);
	/* the exact count for this seed: a change here changes every
	 * reproduction of a seeded run, so it must be deliberate */
	print_message("seed %u: dropped %llu of 10000\n", SEED, (unsigned long long)dropped[0]);
	assert_int_equal(dropped[0], 3037);
}

static void test_loss_extremes(void **state)
{
	struct shim_settings s = { .loss = 1.0 };
	struct sockaddr_storage to = addr4("127.0.0.1", 7000);
	struct shim_core c;
	struct shim_plan p;

	assert_int_equal(shim_core_init(&c, &s, SEED), 0);
	for (int i = 0; i < 1000; i++) {
		shim_core_send(&c, SA(to), 0, &p);
		assert_int_equal(p.copies, 0);
	}
	s.loss = 0;
	assert_int_equal(shim_core_set(&c, &s), 0);
	for (int i = 0; i < 1000; i++) {
		shim_core_send(&c, SA(to), 0, &p);
		assert_int_equal(p.copies, 1);
		assert_int_equal(p.delay_ms[0], 0);
	}
	assert_int_equal(c.stats.dropped_loss, 1000);
	assert_int_equal(c.stats.passed, 1000);
	shim_core_done(&c);
}

static void test_latency_duplicate_reorder(void **state)
{
	struct shim_settings s = { .latency_min_ms = 20, .latency_max_ms = 80, .duplicate = 0.1,
				   .reorder = 0.2 };
	struct sockaddr_storage to = addr4("127.0.0.1", 7000);
	struct shim_core c;
	struct shim_plan p;
	uint32_t lo = UINT32_MAX, hi = 0;
	unsigned copies = 0, late = 0;

	assert_int_equal(shim_core_init(&c, &s, SEED), 0);
	for (int i = 0; i < 10000; i++) {
		shim_core_send(&c, SA(to), 0, &p);
		assert_true(p.copies == 1 || p.copies == 2);
		copies += p.copies;
		for (unsigned k = 0; k < p.copies; k++) {
			/* plain latency within 20..80, reordered up to 160 more */
			assert_true(p.delay_ms[k] >= 20 && p.delay_ms[k] <= 80 + 160);
			late += p.delay_ms[k] > 80;
			lo = p.delay_ms[k] < lo ? p.delay_ms[k] : lo;
			hi = p.delay_ms[k] > hi ? p.delay_ms[k] : hi;
		}
	}
	assert_int_equal(copies, 10000 + c.stats.duplicated);
	assert_true(c.stats.duplicated >= 850 && c.stats.duplicated <= 1150);
	assert_true(c.stats.reordered >= 1900 && c.stats.reordered <= 2500);
	assert_int_equal(c.stats.delayed, copies);
	assert_true(late > 0 && late <= c.stats.reordered);
	assert_true(lo <= 22 && hi > 200);
	shim_core_done(&c);
}

/* A partition drops both ways (send and receive), only for the named peer;
 * heal restores it. */
static void test_partition_both_ways_and_heal(void **state)
{
	struct shim_settings s = { 0 };
	struct sockaddr_storage b = addr4("127.0.0.1", 7001), c2 = addr4("127.0.0.1", 7002);
	struct shim_core c;
	struct shim_plan p;

	assert_int_equal(shim_core_init(&c, &s, SEED), 0);
	assert_int_equal(shim_core_partition(&c, "b", SA(b)), 0);
	assert_int_equal(shim_core_partition(&c, "b", SA(b)), 0); /* twice: once */
	assert_int_equal(c.nblocks, 1);
	shim_core_send(&c, SA(b), 0, &p);
	assert_int_equal(p.copies, 0);
	assert_false(shim_core_recv(&c, SA(b), 0));
	shim_core_send(&c, SA(c2), 0, &p);
	assert_int_equal(p.copies, 1);
	assert_true(shim_core_recv(&c, SA(c2), 0));
	assert_int_equal(c.stats.dropped_partition, 2);

	shim_core_isolate(&c);
	shim_core_send(&c, SA(c2), 0, &p);
	assert_int_equal(p.copies, 0);
	assert_false(shim_core_recv(&c, SA(c2), 0));

	shim_core_heal(&c);
	assert_int_equal(c.nblocks, 0);
	assert_false(c.isolated);
	shim_core_send(&c, SA(b), 0, &p);
	assert_int_equal(p.copies, 1);
	assert_true(shim_core_recv(&c, SA(b), 0));
	assert_int_equal(c.stats.dropped_partition, 4);
	assert_int_equal(shim_core_partition(&c, "a-name-longer-than-sixty-four-characters-is-refused-"
						 "by-the-shim-x", SA(b)), -EINVAL);
	shim_core_done(&c);
}

/* Random partitions: links are learnt from sends, go down for 1..5 rounds,
 * come back by themselves; the same seed gives the same history. */
static void test_random_partitions(void **state)
{
	struct shim_settings s = { .partition_probability = 0.2 };
	struct sockaddr_storage peers[4];
	uint64_t history[2] = { 0, 0 };

	for (int i = 0; i < 4; i++)
		peers[i] = addr4("127.0.0.1", (uint16_t)(7001 + i));
	for (int run = 0; run < 2; run++) {
		struct shim_core c;
		struct shim_plan p;
		size_t max_down = 0;

		assert_int_equal(shim_core_init(&c, &s, SEED), 0);
		for (int i = 0; i < 4; i++)
			shim_core_send(&c, SA(peers[i]), 0, &p);
		assert_int_equal(c.nlinks, 4);
		for (uint64_t round = 1; round <= 200; round++) {
			uint64_t now = round * 100;
			shim_core_round(&c, now, 100);
			size_t down = shim_core_links_down(&c, now);
			max_down = down > max_down ? down : max_down;
			for (int i = 0; i < 4; i++) {
				bool blocked = shim_core_blocked(&c, SA(peers[i]), now);
				history[run] = history[run] * 31 + blocked;
				/* a down link never outlasts 5 rounds */
				assert_true(c.links[i].down_until_ms <= now + 5 * 100);
			}
		}
		assert_true(c.stats.links_downed > 20);
		assert_true(max_down >= 1);
		shim_core_heal(&c);
		assert_int_equal(shim_core_links_down(&c, 200 * 100), 0);
		shim_core_done(&c);
	}
	assert_true(history[0] == history[1]);
}

/* ---- the transport over a fake inner one, on a real loop ---- */

struct fake {
	struct transport t;
	unsigned sent, closed;
	uint8_t last[16];
};

static int fake_send(struct transport *t, const void *buf, size_t len, const struct sockaddr *to)
{
	struct fake *f = (struct fake *)t;
	f->sent++;
	memcpy(f->last, buf, len < sizeof(f->last) ? len : sizeof(f->last));
	return 0;
}

static int fake_start(struct transport *t)
{
	return 0;
}

static int fake_local_addr(struct transport *t, struct sockaddr_storage *ret)
{
	*ret = addr4("127.0.0.1", 7000);
	return 0;
}

static void fake_close(struct transport *t)
{
	((struct fake *)t)->closed++;
}

static const struct transport_ops fake_ops = { fake_send, fake_start, fake_local_addr, fake_close,
						 NULL, NULL };

struct upper {
	unsigned got;
};

static void upper_recv_cb(void *ctx, const uint8_t *buf, size_t len, const struct sockaddr *from,
			  bool truncated)
{
	((struct upper *)ctx)->got++;
}

static void stop_timer_cb(uv_timer_t *t)
{
	uv_stop(t->loop);
}

static void test_transport_holds_and_frees(void **state)
{
	uv_loop_t loop;
	struct fake f = { .t.ops = &fake_ops };
	struct upper up = { 0 };
	struct shim_settings s = { .latency_min_ms = 30, .latency_max_ms = 30 };
	struct sockaddr_storage b = addr4("127.0.0.1", 7001);
	struct shim *shim;
	struct transport *t;
	uv_timer_t stop;

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(shim_new(&loop, &f.t, &s, SEED, 100, &shim), 0);
	t = shim_transport(shim);
	t->recv_cb = upper_recv_cb;
	t->recv_ctx = &up;
	assert_int_equal(t->ops->start(t), 0);

	/* 5 datagrams held 30 ms: none sent at once, all after the wait */
	for (int i = 0; i < 5; i++)
		assert_int_equal(t->ops->send(t, "hello", 5, SA(b)), 0);
	assert_int_equal(f.sent, 0);
	assert_int_equal(shim_core(shim)->stats.held, 5);
	uv_timer_init(&loop, &stop);
	uv_timer_start(&stop, stop_timer_cb, 60, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(f.sent, 5);
	assert_int_equal(shim_core(shim)->stats.held, 0);
	assert_int_equal(shim_core(shim)->stats.delayed, 5);

	/* receive: delivered, then dropped once partitioned, then delivered */
	f.t.recv_cb(f.t.recv_ctx, (const uint8_t *)"x", 1, SA(b), false);
	assert_int_equal(shim_partition(shim, "b", SA(b)), 0);
	f.t.recv_cb(f.t.recv_ctx, (const uint8_t *)"x", 1, SA(b), false);
	assert_int_equal(t->ops->send(t, "y", 1, SA(b)), 0);
	shim_heal(shim);
	f.t.recv_cb(f.t.recv_ctx, (const uint8_t *)"x", 1, SA(b), false);
	assert_int_equal(up.got, 2);
	assert_int_equal(shim_core(shim)->stats.dropped_partition, 2);

	/* held datagrams at close are freed, never sent */
	s.latency_min_ms = s.latency_max_ms = 10000;
	assert_int_equal(shim_set(shim, &s), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(t->ops->send(t, "late", 4, SA(b)), 0);
	assert_int_equal(shim_core(shim)->stats.held, 3);
	t->ops->close(t);
	assert_int_equal(f.closed, 1);
	uv_close((uv_handle_t *)&stop, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(f.sent, 5);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* An inner transport with send_many: what each call handed it, in order. */
struct fake_many {
	struct transport t;
	unsigned calls, n;
	char got[128][8];
};

static void fake_send_many(struct transport *t, const struct transport_dgram *v, size_t n,
			   const struct sockaddr *to, int *ret)
{
	struct fake_many *f = (struct fake_many *)t;

	f->calls++;
	for (size_t i = 0; i < n; i++) {
		assert_true(f->n < 128 && v[i].len < 8);
		memcpy(f->got[f->n], v[i].buf, v[i].len);
		f->got[f->n++][v[i].len] = 0;
		ret[i] = 0;
	}
}

static const struct transport_ops fake_many_ops = { fake_send, fake_start, fake_local_addr,
						      fake_close, NULL, fake_send_many };

static void test_transport_send_many(void **state)
{
	uv_loop_t loop;
	struct fake_many f = { .t.ops = &fake_many_ops };
	struct shim_settings s = { 0 };
	struct sockaddr_storage b = addr4("127.0.0.1", 7001);
	struct transport_dgram v[40];
	char text[40][8];
	int ret[40];
	struct shim *shim;
	struct transport *t;

	for (int i = 0; i < 40; i++) {
		snprintf(text[i], sizeof(text[i]), "d%02d", i);
		v[i] = (struct transport_dgram){ text[i], strlen(text[i]) };
	}
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(shim_new(&loop, &f.t, &s, SEED, 100, &shim), 0);
	t = shim_transport(shim);
	assert_non_null(t->ops->send_many);

	/* no faults: all of them, in order, a call per 32 */
	t->ops->send_many(t, v, 40, SA(b), ret);
	assert_int_equal(f.calls, 2);
	assert_int_equal(f.n, 40);
	for (int i = 0; i < 40; i++) {
		assert_string_equal(f.got[i], text[i]);
		assert_int_equal(ret[i], 0);
	}

	/* every one duplicated, no delay: each twice, in one call */
	f.calls = f.n = 0;
	s.duplicate = 1.0;
	assert_int_equal(shim_set(shim, &s), 0);
	t->ops->send_many(t, v, 20, SA(b), ret);
	assert_int_equal(f.calls, 1);
	assert_int_equal(f.n, 40);
	for (int i = 0; i < 40; i++)
		assert_string_equal(f.got[i], text[i / 2]);

	/* all lost: nothing reaches the inner transport, a success each */
	f.calls = f.n = 0;
	s.duplicate = 0;
	s.loss = 1.0;
	assert_int_equal(shim_set(shim, &s), 0);
	t->ops->send_many(t, v, 10, SA(b), ret);
	assert_int_equal(f.n, 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(ret[i], 0);
	assert_int_equal(shim_core(shim)->stats.dropped_loss, 10);

	t->ops->close(t);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_settings_checked),
		cmocka_unit_test(test_loss_rate_and_determinism),
		cmocka_unit_test(test_loss_extremes),
		cmocka_unit_test(test_latency_duplicate_reorder),
		cmocka_unit_test(test_partition_both_ways_and_heal),
		cmocka_unit_test(test_random_partitions),
		cmocka_unit_test(test_transport_holds_and_frees),
		cmocka_unit_test(test_transport_send_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
