/* The network simulation shim.  See shim.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/hash.h"
#include "log.h"
#include "gossip/shim.h"

/* ---- PRNG --------------------------------------------------------------- */

void shim_rng_seed(struct shim_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = crdt_splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t shim_rng_next(struct shim_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double shim_rng_double(struct shim_rng *r)
{
	return (double)(shim_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [lo, hi]. */
static uint32_t rng_range(struct shim_rng *r, uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)(shim_rng_next(r) % ((uint64_t)hi - lo + 1));
}

/* ---- decisions ---------------------------------------------------------- */

static bool prob_ok(double p)
{
	return p >= 0.0 && p <= 1.0; /* false for NaN too */
}

int shim_settings_check(const struct shim_settings *s)
{
	if (!prob_ok(s->loss) || !prob_ok(s->duplicate) || !prob_ok(s->reorder) ||
	    !prob_ok(s->partition_probability) || s->latency_min_ms > s->latency_max_ms ||
	    s->latency_max_ms > SHIM_LATENCY_MAX_MS)
		return -EINVAL;
	return 0;
}

int shim_core_init(struct shim_core *c, const struct shim_settings *s, uint64_t seed)
{
	if (shim_settings_check(s) < 0)
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	c->set = *s;
	c->seed = seed;
	shim_rng_seed(&c->rng, seed);
	return 0;
}

void shim_core_done(struct shim_core *c)
{
	if (!c)
		return;
	free(c->blocks);
	free(c->links);
	c->blocks = NULL;
	c->links = NULL;
	c->nblocks = c->capblocks = c->nlinks = c->caplinks = 0;
}

int shim_core_set(struct shim_core *c, const struct shim_settings *s)
{
	if (shim_settings_check(s) < 0)
		return -EINVAL;
	c->set = *s;
	return 0;
}

int shim_core_partition(struct shim_core *c, const char *name, const struct sockaddr *addr)
{
	struct shim_block *b;

	if (strlen(name) > SHIM_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < c->nblocks; i++)
		if (transport_addr_equal((const struct sockaddr *)&c->blocks[i].addr, addr))
			return 0;
	if (c->nblocks >= SHIM_PARTITIONS_MAX)
		return -ENOSPC;
	if (c->nblocks == c->capblocks) {
		size_t cap = c->capblocks ? c->capblocks * 2 : 8;
		if (!(b = realloc(c->blocks, cap * sizeof(*b))))
			return -ENOMEM;
		c->blocks = b;
		c->capblocks = cap;
	}
	b = &c->blocks[c->nblocks++];
	memset(b, 0, sizeof(*b));
	strcpy(b->name, name);
	memcpy(&b->addr, addr,
	       addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	return 0;
}

void shim_core_isolate(struct shim_core *c)
{
	c->isolated = true;
}

void shim_core_heal(struct shim_core *c)
{
	c->isolated = false;
	c->nblocks = 0;
	for (size_t i = 0; i < c->nlinks; i++)
		c->links[i].down_until_ms = 0;
}

static struct shim_link *link_find(const struct shim_core *c, const struct sockaddr *addr)
{
	for (size_t i = 0; i < c->nlinks; i++)
		if (transport_addr_equal((const struct sockaddr *)&c->links[i].addr, addr))
			return &c->links[i];
	return NULL;
}

/* Remember @addr as a link for random partitions (best effort). */
static void link_note(struct shim_core *c, const struct sockaddr *addr)
{
	struct shim_link *l;

	if (c->set.partition_probability <= 0.0 || link_find(c, addr) || c->nlinks >= SHIM_LINKS_MAX)
		return;
	if (c->nlinks == c->caplinks) {
		size_t cap = c->caplinks ? c->caplinks * 2 : 8;
		if (!(l = realloc(c->links, cap * sizeof(*l))))
			return;
		c->links = l;
		c->caplinks = cap;
	}
	l = &c->links[c->nlinks++];
	memset(l, 0, sizeof(*l));
	memcpy(&l->addr, addr,
	       addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
}

bool shim_core_blocked(const struct shim_core *c, const struct sockaddr *addr, uint64_t now_ms)
{
	const struct shim_link *l;

	if (c->isolated)
		return true;
	for (size_t i = 0; i < c->nblocks; i++)
		if (transport_addr_equal((const struct sockaddr *)&c->blocks[i].addr, addr))
			return true;
	l = c->nlinks ? link_find(c, addr) : NULL;
	return l && l->down_until_ms > now_ms;
}

/* The random draws are made in a fixed order (loss, duplicate, then per
 * copy latency and reorder), each only when its setting is non-zero. */
void shim_core_send(struct shim_core *c, const struct sockaddr *to, uint64_t now_ms,
		    struct shim_plan *ret)
{
	const struct shim_settings *s = &c->set;

	memset(ret, 0, sizeof(*ret));
	link_note(c, to);
	if (shim_core_blocked(c, to, now_ms)) {
		c->stats.dropped_partition++;
		return;
	}
	if (s->loss > 0.0 && shim_rng_double(&c->rng) < s->loss) {
		c->stats.dropped_loss++;
		return;
	}
	ret->copies = 1;
	if (s->duplicate > 0.0 && shim_rng_double(&c->rng) < s->duplicate) {
		ret->copies = 2;
		c->stats.duplicated++;
	}
	for (unsigned i = 0; i < ret->copies; i++) {
		uint32_t d = 0;
		if (s->latency_max_ms > 0)
			d = rng_range(&c->rng, s->latency_min_ms, s->latency_max_ms);
		if (s->reorder > 0.0 && shim_rng_double(&c->rng) < s->reorder) {
			uint32_t extra = 2 * s->latency_max_ms > 20 ? 2 * s->latency_max_ms : 20;
			d += rng_range(&c->rng, 1, extra);
			c->stats.reordered++;
		}
		ret->delay_ms[i] = d;
		if (d)
			c->stats.delayed++;
	}
	c->stats.passed += ret->copies;
}

bool shim_core_recv(struct shim_core *c, const struct sockaddr *from, uint64_t now_ms)
{
	if (shim_core_blocked(c, from, now_ms)) {
		c->stats.dropped_partition++;
		return false;
	}
	return true;
}

void shim_core_round(struct shim_core *c, uint64_t now_ms, uint32_t round_ms)
{
	double p = c->set.partition_probability;

	if (p <= 0.0)
		return;
	for (size_t i = 0; i < c->nlinks; i++) {
		struct shim_link *l = &c->links[i];
		if (l->down_until_ms > now_ms)
			continue;
		l->down_until_ms = 0;
		if (shim_rng_double(&c->rng) < p) {
			uint32_t rounds = rng_range(&c->rng, 1, SHIM_DOWN_ROUNDS_MAX);
			l->down_until_ms = now_ms + (uint64_t)rounds * round_ms;
			c->stats.links_downed++;
		}
	}
}

size_t shim_core_links_down(const struct shim_core *c, uint64_t now_ms)
{
	size_t n = 0;
	for (size_t i = 0; i < c->nlinks; i++)
		n += c->links[i].down_until_ms > now_ms;
	return n;
}

/* ---- the transport ------------------------------------------------------ */

struct held;

struct shim {
	struct transport t; /* first: the ops receive &shim->t */
	uv_loop_t *loop;
	struct transport *inner;
	struct shim_core core;
	uv_timer_t round_timer;
	uint32_t round_ms;
	struct held *held; /* doubly linked, every datagram on a timer */
	unsigned open;     /* handles whose close callback is still to come */
	bool closing;
};

/* One copy of a datagram waiting on its own timer. */
struct held {
	uv_timer_t timer;
	struct shim *s;
	struct held *prev, *next;
	struct sockaddr_storage to;
	size_t len;
	uint8_t data[];
};

static struct shim *shim_of(struct transport *t)
{
	return (struct shim *)t;
}

/* gossip reads the transport's counters for INFO: show the inner ones, with
 * the failures of delayed copies added. */
static void sync_stats(struct shim *s)
{
	s->t.stats = s->inner->stats;
	s->t.stats.send_errors += s->core.stats.send_errors;
}

static void maybe_free(struct shim *s)
{
	if (s->closing && s->open == 0) {
		shim_core_done(&s->core);
		free(s);
	}
}

static void held_unlink(struct held *h)
{
	struct shim *s = h->s;

	if (h->prev)
		h->prev->next = h->next;
	else
		s->held = h->next;
	if (h->next)
		h->next->prev = h->prev;
	s->core.stats.held--;
	s->core.stats.held_bytes -= h->len;
}

static void held_close_cb(uv_handle_t *handle)
{
	struct held *h = handle->data;
	struct shim *s = h->s;

	free(h);
	s->open--;
	maybe_free(s);
}

static void held_timer_cb(uv_timer_t *timer)
{
	struct held *h = timer->data;
	struct shim *s = h->s;
	int r;

	held_unlink(h);
	r = s->inner->ops->send(s->inner, h->data, h->len, (const struct sockaddr *)&h->to);
	if (r < 0)
		s->core.stats.send_errors++;
	sync_stats(s);
	uv_close((uv_handle_t *)&h->timer, held_close_cb);
}

static int hold(struct shim *s, const void *buf, size_t len, const struct sockaddr *to,
		uint32_t delay_ms)
{
	struct held *h;

	if (s->core.stats.held_bytes + len > SHIM_HELD_MAX_BYTES) {
		s->core.stats.dropped_loss++;
		return 0; /* as a full router queue would: the datagram is lost */
	}
	if (!(h = malloc(sizeof(*h) + len)))
		return -ENOMEM;
	if (uv_timer_init(s->loop, &h->timer) < 0) {
		free(h);
		return -ENOMEM;
	}
	h->timer.data = h;
	h->s = s;
	h->len = len;
	memset(&h->to, 0, sizeof(h->to));
	memcpy(&h->to, to,
	       to->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	memcpy(h->data, buf, len);
	h->prev = NULL;
	h->next = s->held;
	if (s->held)
		s->held->prev = h;
	s->held = h;
	s->open++;
	s->core.stats.held++;
	s->core.stats.held_bytes += len;
	uv_timer_start(&h->timer, held_timer_cb, delay_ms, 0);
	return 0;
}

static int shim_send(struct transport *t, const void *buf, size_t len, const struct sockaddr *to)
{
	struct shim *s = shim_of(t);
	struct shim_plan plan;
	int r = 0;

	shim_core_send(&s->core, to, uv_now(s->loop), &plan);
	for (unsigned i = 0; i < plan.copies; i++) {
		int e = plan.delay_ms[i] ? hold(s, buf, len, to, plan.delay_ms[i])
					 : s->inner->ops->send(s->inner, buf, len, to);
		if (i == 0)
			r = e;
	}
	sync_stats(s);
	/* a simulated loss is a success for the sender, as on a real network */
	return r;
}

/* Datagrams of a send_many that one call of the inner transport takes:
 * each has at most two copies due now. */
#define SHIM_BATCH 32

/* Each datagram as shim_send would send it; the copies due now in one
 * batch of the inner transport (send_many where it has one). */
static void shim_send_many(struct transport *t, const struct transport_dgram *v, size_t n,
			   const struct sockaddr *to, int *ret)
{
	struct shim *s = shim_of(t);
	uint64_t now = uv_now(s->loop);

	for (size_t i = 0; i < n;) {
		struct transport_dgram now_v[2 * SHIM_BATCH];
		/* now_v[k] is the first copy of v[of[k]], or a duplicate (SIZE_MAX) */
		size_t of[2 * SHIM_BATCH];
		int r[2 * SHIM_BATCH];
		size_t k = 0, end = i + SHIM_BATCH < n ? i + SHIM_BATCH : n;

		for (; i < end; i++) {
			struct shim_plan plan;
			shim_core_send(&s->core, to, now, &plan);
			ret[i] = 0; /* a simulated loss is a success for the sender */
			for (unsigned c = 0; c < plan.copies; c++) {
				if (plan.delay_ms[c]) {
					int e = hold(s, v[i].buf, v[i].len, to, plan.delay_ms[c]);
					if (c == 0)
						ret[i] = e;
					continue;
				}
				now_v[k] = v[i];
				of[k++] = c == 0 ? i : SIZE_MAX;
			}
		}
		if (s->inner->ops->send_many) {
			s->inner->ops->send_many(s->inner, now_v, k, to, r);
		} else {
			for (size_t x = 0; x < k; x++)
				r[x] = s->inner->ops->send(s->inner, now_v[x].buf, now_v[x].len, to);
		}
		for (size_t x = 0; x < k; x++)
			if (of[x] != SIZE_MAX)
				ret[of[x]] = r[x];
	}
	sync_stats(s);
}

static void shim_recv_cb(void *ctx, const uint8_t *buf, size_t len, const struct sockaddr *from,
			 bool truncated)
{
	struct shim *s = ctx;

	if (!shim_core_recv(&s->core, from, uv_now(s->loop)))
		return;
	sync_stats(s);
	if (s->t.recv_cb)
		s->t.recv_cb(s->t.recv_ctx, buf, len, from, truncated);
}

static void round_cb(uv_timer_t *timer)
{
	struct shim *s = timer->data;
	shim_core_round(&s->core, uv_now(s->loop), s->round_ms);
}

static int shim_start(struct transport *t)
{
	struct shim *s = shim_of(t);
	int r;

	s->inner->recv_cb = shim_recv_cb;
	s->inner->recv_ctx = s;
	if ((r = s->inner->ops->start(s->inner)) < 0)
		return r;
	return uv_timer_start(&s->round_timer, round_cb, s->round_ms, s->round_ms);
}

static int shim_local_addr(struct transport *t, struct sockaddr_storage *ret)
{
	struct shim *s = shim_of(t);
	return s->inner->ops->local_addr(s->inner, ret);
}

static void round_close_cb(uv_handle_t *handle)
{
	struct shim *s = handle->data;
	s->open--;
	maybe_free(s);
}

static void shim_close(struct transport *t)
{
	struct shim *s;

	if (!t)
		return;
	s = shim_of(t);
	s->closing = true;
	s->t.recv_cb = NULL;
	/* held datagrams are never sent: freed in their close callbacks */
	for (struct held *h = s->held, *next; h; h = next) {
		next = h->next;
		uv_timer_stop(&h->timer);
		uv_close((uv_handle_t *)&h->timer, held_close_cb);
	}
	s->held = NULL;
	s->core.stats.held = 0;
	s->core.stats.held_bytes = 0;
	s->inner->ops->close(s->inner);
	s->inner = NULL;
	uv_close((uv_handle_t *)&s->round_timer, round_close_cb);
}

static const struct transport_ops shim_ops = {
	.send = shim_send,
	.start = shim_start,
	.local_addr = shim_local_addr,
	.close = shim_close,
	.send_many = shim_send_many,
};

int shim_new(uv_loop_t *loop, struct transport *inner, const struct shim_settings *set,
	     uint64_t seed, uint32_t round_ms, struct shim **ret)
{
	struct shim *s;
	int r;

	if (!inner || round_ms == 0)
		return -EINVAL;
	if (!(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	if ((r = shim_core_init(&s->core, set, seed)) < 0) {
		free(s);
		return r;
	}
	if ((r = uv_timer_init(loop, &s->round_timer)) < 0) {
		shim_core_done(&s->core);
		free(s);
		return r;
	}
	s->round_timer.data = s;
	s->open = 1;
	s->t.ops = &shim_ops;
	s->loop = loop;
	s->inner = inner;
	s->round_ms = round_ms;
	sync_stats(s);
	*ret = s;
	return 0;
}

struct transport *shim_transport(struct shim *s)
{
	return &s->t;
}

int shim_set(struct shim *s, const struct shim_settings *set)
{
	return shim_core_set(&s->core, set);
}

int shim_partition(struct shim *s, const char *name, const struct sockaddr *addr)
{
	return shim_core_partition(&s->core, name, addr);
}

void shim_isolate(struct shim *s)
{
	shim_core_isolate(&s->core);
}

void shim_heal(struct shim *s)
{
	shim_core_heal(&s->core);
}

const struct shim_core *shim_core(const struct shim *s)
{
	return &s->core;
}

size_t shim_links_down(const struct shim *s)
{
	return shim_core_links_down(&s->core, uv_now(s->loop));
}
