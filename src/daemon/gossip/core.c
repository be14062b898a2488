/* The gossip core: the peer table, full-state rounds and pushes, PING/PONG
 * liveness and clock offsets, and what arrives merged into the store
 * (gossip/core.h); the push queue and its delta intervals are in deltas.c,
 * a peer's catch-up in catchup.c and the digest exchange of a round in
 * rounds.c (core_int.h).  No libuv: time comes in through each entry
 * point, randomness from the seeded generator, datagrams go out through
 * the transport and name resolution through the io hooks. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crdt/error.h"
#include "crdt/hash.h"
#include "gossip/core_int.h"
#include "log.h"

static const char *const drop_names[GOSSIP_DROP_MAX] = {
	[GOSSIP_DROP_TRUNCATED] = "truncated",
	[GOSSIP_DROP_BAD_MAGIC] = "bad_magic",
	[GOSSIP_DROP_BAD_VERSION] = "bad_version",
	[GOSSIP_DROP_MALFORMED] = "malformed",
	[GOSSIP_DROP_BAD_STATE] = "bad_state",
	[GOSSIP_DROP_SELF] = "self",
	[GOSSIP_DROP_NOMEM] = "nomem",
	[GOSSIP_DROP_UNKNOWN_PEER] = "unknown_peer",
	[GOSSIP_DROP_RATE] = "rate",
	[GOSSIP_DROP_UNAUTHENTICATED] = "unauthenticated",
	[GOSSIP_DROP_BAD_AUTH] = "bad_auth",
	[GOSSIP_DROP_SEND_ERROR] = "send_error",
};

/* |offset|, without llabs(INT64_MIN): the offset comes off the wire. */
static uint64_t offset_mag(int64_t off)
{
	return off < 0 ? 0 - (uint64_t)off : (uint64_t)off;
}

/* Its clock is further from ours than a timestamp may lead ours. */
static bool clock_skewed(const struct gossip_core *g, const struct peer *p)
{
	return p->has_offset && g->max_clock_lead_ms &&
	       offset_mag(p->clock_offset_ms) > g->max_clock_lead_ms;
}

const char *gossip_drop_name(enum gossip_drop d)
{
	return (unsigned)d < GOSSIP_DROP_MAX ? drop_names[d] : "?";
}

/* splitmix64: peer selection only, nothing secret */
static uint64_t rng_next(struct gossip_core *g)
{
	return crdt_splitmix64(&g->rng);
}

/* The wall clock our HLC reads: what PING and PONG tell peers. */
static uint64_t wall_ms(struct gossip_core *g)
{
	return g->hlc->clock(g->hlc->clock_ctx);
}

/* ---- peers ------------------------------------------------------------- */

static void peer_free(struct peer *p)
{
	if (!p)
		return;
	xfer_done(&p->xf);
	catchup_names_clear(p);
	free(p->cu_names);
	free(p->cu_ix);
	free(p->cu_cut);
	free(p->dg_kept);
	free(p->name);
	free(p->host);
	free(p);
}

static struct peer *peer_by_name(const struct gossip_core *g, const char *name)
{
	for (size_t i = 0; i < g->npeers; i++)
		if (!strcmp(g->peers[i]->name, name))
			return g->peers[i];
	return NULL;
}

static struct peer *peer_by_addr(const struct gossip_core *g, const struct sockaddr *sa)
{
	for (size_t i = 0; i < g->npeers; i++)
		if (g->peers[i]->resolved &&
		    transport_addr_equal((const struct sockaddr *)&g->peers[i]->addr, sa))
			return g->peers[i];
	return NULL;
}

void gossip_core_resolved(struct gossip_core *g, const char *name, const struct sockaddr *addr,
			  socklen_t addrlen, const char *err)
{
	struct peer *p = peer_by_name(g, name);

	if (!p || !p->resolving)
		return; /* removed meanwhile, or re-added: resolved again */
	p->resolving = false;
	if (!addr) {
		g->st.resolve_errors++;
		if (!p->resolve_failed)
			log_warn("gossip", "peer %s: cannot resolve %s: %s; retrying every round",
				 p->name, p->host, err ? err : "?");
		else
			log_debug("gossip", "peer %s: cannot resolve %s: %s", p->name, p->host,
				  err ? err : "?");
		p->resolve_failed = true;
		return;
	}
	char a[INET6_ADDRSTRLEN + 8];
	memset(&p->addr, 0, sizeof(p->addr));
	memcpy(&p->addr, addr, addrlen < sizeof(p->addr) ? addrlen : sizeof(p->addr));
	transport_addr_normalize(&p->addr);
	p->resolved = true;
	p->resolve_failed = false;
	transport_addr_format((const struct sockaddr *)&p->addr, a, sizeof(a));
	log_info("gossip", "peer %s: resolved to %s", p->name, a);
}

/* Give @p an address: IP literals at once, names through io.resolve. */
static void peer_resolve(struct gossip_core *g, struct peer *p)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&p->addr;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&p->addr;
	int r;

	if (p->resolved || p->resolving)
		return;
	memset(&p->addr, 0, sizeof(p->addr));
	if (inet_pton(AF_INET, p->host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(p->port);
	} else if (inet_pton(AF_INET6, p->host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(p->port);
	} else {
		if (!g->io.resolve)
			return;
		if ((r = g->io.resolve(g->io.ctx, p->name, p->host, p->port)) < 0) {
			g->st.resolve_errors++;
			log_warn("gossip", "peer %s: cannot resolve %s: %s", p->name, p->host,
				 strerror(-r));
			return;
		}
		p->resolving = true;
		return;
	}
	transport_addr_normalize(&p->addr);
	p->resolved = true;
}

static void resolve_all(struct gossip_core *g)
{
	for (size_t i = 0; i < g->npeers; i++)
		peer_resolve(g, g->peers[i]);
}

/* Build the new table aside, so that a failure leaves the old one. */
int gossip_core_set_peers(struct gossip_core *g, const struct gossip_peer_config *cfg, size_t n)
{
	struct peer **np = NULL, **nt = NULL;
	size_t i, j;

	for (i = 0; i < n; i++) {
		if (!cfg[i].name || !cfg[i].host || !*cfg[i].host ||
		    strlen(cfg[i].name) > GOSSIP_PEER_NAME_MAX)
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (!strcmp(cfg[i].name, cfg[j].name))
				return -EINVAL;
	}
	if (n && (!(np = calloc(n, sizeof(*np))) || !(nt = calloc(n, sizeof(*nt)))))
		goto nomem;
	for (i = 0; i < n; i++) {
		struct peer *old = peer_by_name(g, cfg[i].name);
		if (old && !strcmp(old->host, cfg[i].host) && old->port == cfg[i].port)
			continue; /* moved over below, once nothing can fail */
		if (!(np[i] = calloc(1, sizeof(*np[i]))) || !(np[i]->name = strdup(cfg[i].name)) ||
		    !(np[i]->host = strdup(cfg[i].host)))
			goto nomem;
		np[i]->port = cfg[i].port;
		xfer_init(&np[i]->xf, ++g->xepoch);
		if (old) /* same name, new address: keep the counters */
			np[i]->st = old->st;
	}
	for (i = 0; i < n; i++) {
		if (np[i])
			continue;
		for (j = 0; j < g->npeers; j++)
			if (g->peers[j] && !strcmp(g->peers[j]->name, cfg[i].name)) {
				np[i] = g->peers[j];
				g->peers[j] = NULL;
				break;
			}
	}
	for (j = 0; j < g->npeers; j++) {
		if (g->peers[j])
			log_info("gossip", "peer %s: removed", g->peers[j]->name);
		peer_free(g->peers[j]);
	}
	free(g->peers);
	free(g->targets);
	g->peers = np;
	g->targets = nt;
	g->npeers = n;
	if (g->started)
		resolve_all(g);
	return 0;
nomem:
	/* only fresh peers are in np yet: the old ones move after this point */
	for (i = 0; np && i < n; i++)
		peer_free(np[i]);
	free(np);
	free(nt);
	return -ENOMEM;
}

/* ---- sending ----------------------------------------------------------- */

/* What sending @len bytes to @p returned (@r), counted. */
void core_sent(struct gossip_core *g, struct peer *p, size_t len, int r)
{
	if (r < 0) {
		g->st.drops[GOSSIP_DROP_SEND_ERROR]++;
		if (ratelimit_ok(&g->rl_send, g->now_ms))
			log_warn("gossip", "peer %s: send: %s", p->name, strerror(-r));
		return;
	}
	g->st.dgrams_out++;
	g->st.bytes_out += len;
	if (len > g->st.max_dgram_out)
		g->st.max_dgram_out = len;
	p->st.dgrams_out++;
	p->st.bytes_out += len;
}

void core_send_to(struct gossip_core *g, struct peer *p, const uint8_t *d, size_t len)
{
	core_sent(g, p, len, g->t->ops->send(g->t, d, len, (const struct sockaddr *)&p->addr));
}

void core_send_each(struct gossip_core *g, struct peer *const *ps, size_t n, const uint8_t *d,
		    size_t len)
{
	const struct sockaddr *to[CORE_SEND_EACH];
	int ret[CORE_SEND_EACH];

	if (!g->t->ops->send_each || n < 2) {
		for (size_t i = 0; i < n; i++)
			core_send_to(g, ps[i], d, len);
		return;
	}
	for (size_t k = 0; k < n; k += CORE_SEND_EACH) {
		size_t m = n - k < CORE_SEND_EACH ? n - k : CORE_SEND_EACH;
		for (size_t i = 0; i < m; i++)
			to[i] = (const struct sockaddr *)&ps[k + i]->addr;
		g->t->ops->send_each(g->t, d, len, to, m, ret);
		for (size_t i = 0; i < m; i++)
			core_sent(g, ps[k + i], len, ret[i]);
	}
}

/* With a key, the sealed copy of plain datagram (@d, *@len) in @out (@size
 * bytes), *@len its length; without, @d itself.  NULL when sealing fails
 * (counted). */
static const uint8_t *seal_into(struct gossip_core *g, const uint8_t *d, size_t *len, uint8_t *out,
				size_t size)
{
	size_t n;

	if (!g->kr)
		return d;
	if (auth_seal(g->kr, d, *len, out, size, &n) < 0) {
		g->st.drops[GOSSIP_DROP_SEND_ERROR]++;
		return NULL;
	}
	*len = n;
	return out;
}

const uint8_t *core_seal(struct gossip_core *g, const uint8_t *d, size_t *len)
{
	return seal_into(g, d, len, g->sealbuf, WIRE_DATAGRAM_MAX + AUTH_OVERHEAD);
}

void core_burst_end(struct gossip_core *g)
{
	struct core_burst *b = &g->burst;
	int ret[CORE_BURST_MAX];

	if (!b->n)
		return;
	if (g->t->ops->send_many && b->n > 1) {
		g->t->ops->send_many(g->t, b->v, b->n, (const struct sockaddr *)&b->p->addr, ret);
		for (size_t i = 0; i < b->n; i++)
			core_sent(g, b->p, b->v[i].len, ret[i]);
	} else {
		for (size_t i = 0; i < b->n; i++)
			core_send_to(g, b->p, b->v[i].buf, b->v[i].len);
	}
	b->n = 0;
	crdt_buf_reset(&b->sealed);
}

void core_burst_add(struct gossip_core *g, struct peer *p, const uint8_t *d, size_t len)
{
	struct core_burst *b = &g->burst;
	size_t need = len + AUTH_OVERHEAD, room = CORE_BURST_MAX * (size_t)g->mtu;

	if (b->n && (b->p != p || b->n == CORE_BURST_MAX ||
		     (g->kr && need > b->sealed.cap - b->sealed.len)))
		core_burst_end(g);
	if (g->kr) {
		/* at the burst's first, the room of all its sealed copies
		 * (each at most an mtu): none moves while the burst holds it */
		if (!b->n && crdt_buf_reserve(&b->sealed, need > room ? need : room) < 0) {
			crdt_buf_reset(&b->sealed); /* its error is not the next burst's */
			core_sent(g, p, len, -ENOMEM);
			return;
		}
		if (!(d = seal_into(g, d, &len, b->sealed.data + b->sealed.len, need)))
			return;
		b->sealed.len += len;
	}
	b->p = p;
	b->v[b->n++] = (struct transport_dgram){ .buf = d, .len = len };
}



struct batch {
	struct gossip_core *g;
	struct peer **to;
	size_t n;
	struct wire_packer pk;
	uint64_t now;
	int err;
};

/* Each datagram is encoded once and goes to every chosen peer, in one
 * call of the transport where it can. */
static int batch_emit(const uint8_t *d, size_t len, void *ctx)
{
	struct batch *b = ctx;

	if ((d = core_seal(b->g, d, &len)))
		core_send_each(b->g, b->to, b->n, d, len);
	return 0;
}

/* Resolved peers that are up into g->targets: all of them, or @k chosen at
 * random. */
static size_t choose_targets(struct gossip_core *g, uint32_t k)
{
	size_t n = 0;

	for (size_t i = 0; i < g->npeers; i++)
		if (g->peers[i]->resolved && !peer_down(g->peers[i]))
			g->targets[n++] = g->peers[i];
	if (k == 0 || k >= n)
		return n;
	for (size_t i = 0; i < k; i++) { /* partial Fisher-Yates */
		size_t j = i + (size_t)(rng_next(g) % (n - i));
		struct peer *t = g->targets[i];
		g->targets[i] = g->targets[j];
		g->targets[j] = t;
	}
	return k;
}

static int batch_begin(struct gossip_core *g, struct batch *b, struct peer **to, size_t n)
{
	*b = (struct batch){ .g = g, .to = to, .n = n, .now = g->now_ms };
	/* a sealed datagram is AUTH_OVERHEAD longer and must still fit the mtu */
	return wire_packer_init(&b->pk, g->kr ? g->mtu - AUTH_OVERHEAD : g->mtu, g->self, g->node,
				g->node_len, batch_emit, b);
}

static int batch_end(struct batch *b)
{
	int r = b->err ? b->err : wire_packer_flush(&b->pk);
	wire_packer_done(&b->pk);
	return r;
}

static struct large *large_find(struct gossip_core *g, const uint8_t *name, size_t len)
{
	for (size_t i = 0; i < g->nlarge; i++)
		if (g->large[i].len == len && !memcmp(g->large[i].name, name, len))
			return &g->large[i];
	return NULL;
}

/* An instance was just sent whole, @size bytes encoded. */
static void large_note(struct gossip_core *g, const struct store_entry *e, size_t size, uint64_t now)
{
	struct large *l = large_find(g, e->name, e->name_len);

	if (size <= GOSSIP_LARGE_BYTES) {
		if (l) {
			free(l->name);
			*l = g->large[--g->nlarge];
		}
		return;
	}
	if (!l) {
		if (g->nlarge == g->large_cap) {
			size_t cap = g->large_cap ? 2 * g->large_cap : 16;
			struct large *v = realloc(g->large, cap * sizeof(*v));
			if (!v)
				return; /* then it is simply not rate-limited */
			g->large = v;
			g->large_cap = cap;
		}
		l = &g->large[g->nlarge];
		if (!(l->name = malloc(e->name_len ? e->name_len : 1)))
			return;
		memcpy(l->name, e->name, e->name_len);
		l->len = e->name_len;
		g->nlarge++;
	}
	l->last_push = now;
	l->pending = false;
}

/* Instance (@e, @t) went without @r elements too long for a datagram
 * (r > 0), or not at all (-EMSGSIZE): counted, and logged now and then. */
void core_note_left_out(struct gossip_core *g, const struct store_entry *e, int t, long r)
{
	if (r > 0) {
		/* the rest of it went; only these elements did not */
		g->st.pieces_skipped += (uint64_t)r;
		if (ratelimit_ok(&g->rl_skip, g->now_ms))
			log_warn("gossip",
				 "instance \"%.*s\" (%s): %ld element(s) too long for a datagram "
				 "of mtu %u, not replicated; the rest is",
				 (int)(e->name_len > 64 ? 64 : e->name_len), e->name,
				 crdt_type_name((enum crdt_type)t), r, g->mtu);
	} else if (r == -EMSGSIZE) {
		g->st.skipped++;
		if (ratelimit_ok(&g->rl_skip, g->now_ms))
			log_warn("gossip",
				 "instance \"%.*s\" (%s) does not fit a datagram of mtu %u; "
				 "not replicated",
				 (int)(e->name_len > 64 ? 64 : e->name_len), e->name,
				 crdt_type_name((enum crdt_type)t), g->mtu);
	}
}

/* Every type slot of @e into packer @pk; the encoded size, summed, or a
 * negative error.  The fingerprint of each encoding is kept for the receive
 * fast path.  An encoding that fits one record comes from the piece cache
 * when it holds it, and goes there when it did not. */
long core_pack_entry(struct gossip_core *g, struct wire_packer *pk, struct store_entry *e)
{
	size_t total = 0, size, room = wire_packer_room(pk, e->name_len);
	int r;

	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		struct store_inst *in = store_entry_inst(e, t);
		const struct pcache_run *w;
		uint64_t splits = pk->splits;
		if (!in)
			continue;
		if (g->pc && (w = pcache_whole(g->pc, e, (enum crdt_type)t)) &&
		    crdt_varint_len(w->pieces[0].len) + w->pieces[0].len <= room) {
			if ((r = wire_packer_add_piece(pk, e->name, e->name_len, w->pieces[0].data,
						       w->pieces[0].len, false, 0, 0)) < 0)
				return r;
			pcache_hit(g->pc, 1);
			ginst(g, in)->fp = w->fp;
			total += w->pieces[0].len;
			continue;
		}
		r = wire_packer_add(pk, e->name, e->name_len, &in->obj, &size);
		if (r > 0) {
			core_note_left_out(g, e, t, r);
			r = 0;
		}
		if (r == -EMSGSIZE) {
			core_note_left_out(g, e, t, r);
			continue;
		}
		if (r < 0)
			return r;
		ginst(g, in)->fp = store_fingerprint(pk->scratch.data, pk->scratch.len);
		if (g->pc && pk->splits == splits && r == 0) /* went as one record */
			pcache_put_whole(g->pc, e, (enum crdt_type)t, room, pk->scratch.data,
					 pk->scratch.len, ginst(g, in)->fp);
		total += size;
	}
	return (long)total;
}

static size_t batch_add_entry(struct batch *b, struct store_entry *e)
{
	long r;

	if (b->err)
		return 0;
	if ((r = core_pack_entry(b->g, &b->pk, e)) < 0) {
		b->err = (int)r;
		return 0;
	}
	return (size_t)r;
}

bool core_entry_parts_over(struct store_entry *e, size_t n)
{
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		const struct store_inst *in = store_entry_inst(e, (enum crdt_type)t);
		if (in && crdt_obj_has_pieces(&in->obj) && crdt_obj_parts(&in->obj) > n)
			return true;
	}
	return false;
}

/* An entry with an instance of more members or fields than this is not
 * pushed whole in STATE datagrams but by each target's catch-up: about
 * GOSSIP_LARGE_BYTES of OR-Set members. */
#define PUSH_CATCHUP_PARTS 4096

/* A push's whole entry: a large one to each target's catch-up (paced by
 * its window, cut a few pieces a loop pass, from the piece cache), where
 * encoding and splitting it here held the loop (a 1,000,000-member set:
 * 14 MB, 0.3-0.4 s) and sent it unpaced; else into the batch.  Its size
 * for large_note. */
static size_t push_entry(struct batch *b, struct store_entry *e)
{
	if (!core_entry_parts_over(e, PUSH_CATCHUP_PARTS))
		return batch_add_entry(b, e);
	for (size_t i = 0; i < b->n; i++)
		catchup_add(b->g, b->to[i], e->name, e->name_len);
	return GOSSIP_LARGE_BYTES + 1; /* pushed at most every large_gap_ms */
}

static void send_ping(struct gossip_core *g, struct peer *p, enum wire_type type,
		      const struct wire_ping *ping, const struct sockaddr *to)
{
	const uint8_t *d;
	size_t len;
	int r;

	crdt_buf_reset(&g->pbuf);
	if (wire_encode_ping(&g->pbuf, type, g->self, g->node, g->node_len, ping) < 0)
		return;
	len = g->pbuf.len;
	if (!(d = core_seal(g, g->pbuf.data, &len)))
		return;
	if (p) {
		core_send_to(g, p, d, len);
		return;
	}
	/* a PONG to a sender that is no configured peer */
	if ((r = g->t->ops->send(g->t, d, len, to)) < 0) {
		g->st.drops[GOSSIP_DROP_SEND_ERROR]++;
		return;
	}
	g->st.dgrams_out++;
	g->st.bytes_out += len;
}

static void ping_peer(struct gossip_core *g, struct peer *p)
{
	struct wire_ping ping = { .seq = ++g->ping_seq, .ts = g->now_us, .clock = wall_ms(g) };

	p->ping_seq = ping.seq;
	p->st.pings_out++;
	g->st.pings_out++;
	send_ping(g, p, WIRE_PING, &ping, NULL);
}

uint64_t gossip_core_tick(struct gossip_core *g, uint64_t now_ms)
{
	uint64_t due = UINT64_MAX, t0;

	g->now_ms = now_ms;
	t0 = core_slice_start(g);
	/* only a refresh a DIGEST waits for: other ticks (a probe's, every
	 * few ms in a write storm) would recompute entries each write marks
	 * again, which the rounds do once */
	if (g->dg_behind && !rounds_refresh(g))
		g->io.tick_wanted(g->io.ctx, 0); /* the refresh goes on in the next pass */
	/* KEYS owed: what the refresh left of one slice's budget (at least a
	 * bucket), so that a tick stays within about one slice */
	for (size_t i = 0; i < g->npeers; i++)
		if ((g->peers[i]->nkeys_due || g->peers[i]->keys_part) &&
		    !rounds_send_keys(g, g->peers[i], t0))
			break;
	for (size_t i = 0; i < g->npeers; i++) {
		struct peer *p = g->peers[i];
		uint64_t d;
		catchup_pump(g, p);
		if (p->resolved && !peer_down(p) && (d = xfer_due(&p->xf, now_ms)) < due)
			due = d;
		if ((d = deltas_probe(g, p)) < due)
			due = d;
		if ((d = rounds_digest_probe(g, p)) < due)
			due = d;
	}
	return due == UINT64_MAX ? 0 : due > now_ms ? due - now_ms : 1;
}

/* Whether this round sends its DIGEST.  While DELTA intervals stream (at
 * least DIGEST_BUSY_DELTAS sent or received since the last round), every
 * bucket differs by writes still on their way, and an exchange would list
 * every key of the store both ways only to leave the differences to those
 * deltas (digest_in_flight): such a round leaves its DIGEST out, at most
 * DIGEST_DEFER_MAX rounds in a row.  A quiet node compares every round. */
#define DIGEST_BUSY_DELTAS 64
#define DIGEST_DEFER_MAX 7

static bool digest_due(struct gossip_core *g)
{
	uint64_t d = g->st.delta_intervals + g->st.delta_dgrams_in;
	bool busy = d - g->deltas_at_round >= DIGEST_BUSY_DELTAS;

	g->deltas_at_round = d;
	if (busy && g->digests_deferred < DIGEST_DEFER_MAX) {
		g->digests_deferred++;
		g->st.digest_rounds_deferred++;
		return false;
	}
	g->digests_deferred = 0;
	return true;
}

void gossip_core_round(struct gossip_core *g, uint64_t now_ms, uint64_t now_us)
{
	size_t n;

	g->now_ms = now_ms;
	g->now_us = now_us;
	g->st.rounds++;
	resolve_all(g); /* the names that did not resolve yet */
	n = choose_targets(g, g->fanout);
	for (size_t i = 0; i < g->npeers; i++) {
		struct peer *p = g->peers[i];
		p->bytes_last_round = p->st.bytes_out - p->bytes_at_round;
		p->bytes_at_round = p->st.bytes_out;
		if (p->resolved) {
			ping_peer(g, p);
			if (p->unanswered++ == PEER_DOWN_ROUNDS)
				log_info("gossip", "peer %s: no answer for %u rounds, down",
					 p->name, PEER_DOWN_ROUNDS);
		}
	}
	if (!g->digests) {
		/* the full state: a walk of the store on each one's catch-up,
		 * unless the last is still under way */
		for (size_t i = 0; i < n; i++)
			if (!catchup_walking(g->targets[i]))
				catchup_walk(g, g->targets[i]);
	} else if (digest_due(g)) {
		/* not to a peer our resync is walking the store to: its end
		 * sends our DIGEST (rounds_catchup_ended) */
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			if (catchup_walking(g->targets[i]))
				g->st.digest_walk_skips++;
			else
				g->targets[k++] = g->targets[i];
		}
		rounds_send_digest(g, g->targets, k);
	}
	/* intervals not acknowledged yet go again; catch-ups go on */
	for (size_t i = 0; i < g->npeers; i++) {
		deltas_send(g, g->peers[i], DL_AGAIN_OLD);
		catchup_pump(g, g->peers[i]);
	}
	deltas_trim(g);
}

int gossip_core_sync(struct gossip_core *g, const char *name, uint64_t now_ms, uint64_t now_us)
{
	size_t n = 0;

	g->now_ms = now_ms;
	g->now_us = now_us;
	if (name) {
		struct peer *p = peer_by_name(g, name);
		if (!p)
			return -ENOENT;
		if (!p->resolved)
			return -EHOSTUNREACH;
		g->targets[n++] = p;
	} else {
		n = choose_targets(g, 0);
	}
	g->st.syncs++;
	for (size_t i = 0; i < n; i++) {
		ping_peer(g, g->targets[i]);
		if (catchup_walking(g->targets[i])) /* this walk goes on; another follows */
			g->targets[i]->cu_again = true;
		else
			catchup_walk(g, g->targets[i]);
		catchup_pump(g, g->targets[i]);
	}
	return 0;
}

void core_missed_by_down(struct gossip_core *g)
{
	for (size_t i = 0; i < g->npeers; i++)
		if (!g->peers[i]->resolved || peer_down(g->peers[i]))
			g->peers[i]->missed = true;
}

/* The push's entries @ents[0..@nents) that go whole (their pend says so: no
 * delta, or deltas = no), and the large instances whose turn has come, to
 * the fanout's peers as STATE datagrams (one over PUSH_CATCHUP_PARTS by
 * their catch-ups).  When the next large one is due, in ms from @now (0:
 * none). */
uint64_t core_push_whole(struct gossip_core *g, struct store_entry **ents, const struct pend *pend,
			 size_t nents, uint64_t now)
{
	struct batch b;
	size_t n;
	uint64_t due = UINT64_MAX;

	n = choose_targets(g, g->fanout);
	for (size_t i = 0; i < nents; i++)
		if (!g->deltas || (pend[i].whole && !pend[i].by_catchup)) {
			core_missed_by_down(g); /* what goes whole now skips them */
			break;
		}
	if (n == 0 || batch_begin(g, &b, g->targets, n) < 0)
		return 0; /* the next round carries it when peers appear */
	g->st.pushes++;
	for (size_t i = 0; i < nents && !b.err; i++) {
		struct store_entry *e = ents[i];
		struct large *l = large_find(g, e->name, e->name_len);
		size_t size;
		if (g->deltas && (!pend[i].whole || pend[i].by_catchup))
			continue; /* gone as a delta, or to the catch-ups */
		if (l && now < l->last_push + g->large_gap_ms) {
			if (!l->pending)
				g->st.large_deferred++;
			l->pending = true;
			continue;
		}
		size = push_entry(&b, e);
		if (!b.err)
			large_note(g, e, size, now);
	}
	for (size_t i = 0; i < g->nlarge && !b.err; i++) {
		struct large *l = &g->large[i];
		struct store_entry *e;
		if (!l->pending)
			continue;
		if (now < l->last_push + g->large_gap_ms) {
			if (l->last_push + g->large_gap_ms < due)
				due = l->last_push + g->large_gap_ms;
			continue;
		}
		l->pending = false;
		l->last_push = now;
		if ((e = store_find(g->store, l->name, l->len)) != NULL)
			push_entry(&b, e);
	}
	if (batch_end(&b) < 0)
		log_error("gossip", "push: encoding failed");
	for (size_t i = 0; i < n; i++)
		catchup_pump(g, g->targets[i]);
	return due != UINT64_MAX ? due - now : 0;
}

uint32_t gossip_core_push_delay_ms(const struct gossip_core *g)
{
	return g->push_delay_ms;
}

uint32_t gossip_core_interval_ms(const struct gossip_core *g)
{
	return g->interval_ms;
}

/* ---- receiving --------------------------------------------------------- */

static void drop(struct gossip_core *g, struct peer *p, enum gossip_drop why)
{
	g->st.drops[why]++;
	if (p) {
		p->st.dropped_in++;
		p->st.drops[why]++;
	}
}

static void seen(struct gossip_core *g, struct peer *p, const struct wire_header *h)
{
	if (!p)
		return;
	p->seen = true;
	p->unanswered = 0;
	p->last_seen = g->now_ms;
	/* A new replica id is a new start: whatever it merged of ours
	 * before, it may have lost.  So is the first we hear of it: every
	 * start takes a new id, so we never synced with this one, and what
	 * it holds is unknown (empty, a copy restored from a backup, another
	 * cluster's).  It gets the full state either way, and does not hang
	 * on whether our rounds had already counted it down: a piece that
	 * brings it nothing costs it a summary's check. */
	if (!p->has_rid || crdt_rid_cmp(&p->rid, &h->rid))
		p->restarted = true;
	p->has_rid = true;
	p->rid = h->rid;
	memcpy(p->node, h->node, h->node_len);
	p->node[h->node_len] = 0;
}

/* A datagram's records name up to a few dozen instances, each a cache miss
 * (slot, then entry) in a large store, paid one after the other by the
 * decode's skip test and the merge.  Their slots are fetched first, then
 * their entries, all before the first lookup, so the misses overlap. */
#define PREFETCH_MIN_ENTRIES 4096

static void prefetch_slot_cb(const uint8_t *name, size_t len, void *ctx)
{
	store_prefetch(ctx, name, len, false);
}

static void prefetch_entry_cb(const uint8_t *name, size_t len, void *ctx)
{
	store_prefetch(ctx, name, len, true);
}

static void prefetch_records(struct gossip_core *g, const uint8_t *body, size_t len)
{
	if (g->store->len < PREFETCH_MIN_ENTRIES) /* the table fits the cache */
		return;
	wire_records_names(body, len, prefetch_slot_cb, g->store);
	wire_records_names(body, len, prefetch_entry_cb, g->store);
}

/* A record whose encoding is the one we hold (and last sent) changes
 * nothing: skip decoding and merging it.  In a converged cluster that is
 * nearly every record of every full round. */
static bool record_unchanged(const struct wire_record *rec, void *ctx)
{
	struct gossip_core *g = ctx;
	struct store_entry *e = store_find(g->store, rec->name, rec->name_len);
	uint8_t t = rec->state[0]; /* wire_parse_records: states have >= 2 bytes */
	const struct store_inst *in = e ? store_entry_inst(e, t) : NULL;

	uint64_t fp = in ? ginst(g, in)->fp : 0;

	if (!fp || fp != store_fingerprint(rec->state, rec->state_len))
		return false;
	g->st.unchanged++;
	return true;
}

/* A DELTA's record: skipped as record_unchanged does, or, when it is the
 * datagram's one record and a catch-up piece with a summary, when the
 * summary says merging it into the OR-Set or OR-Map we hold would change
 * nothing (protocol.md, "Catch-up"): its context and our dot index are
 * read, its elements never. */
struct news_ctx {
	struct gossip_core *g;
	const struct wire_delta *wd;
};

static bool record_no_news(const struct wire_record *rec, void *ctx)
{
	struct news_ctx *x = ctx;
	struct store_entry *e;
	struct store_inst *in;

	if (record_unchanged(rec, x->g))
		return true;
	if (!x->wd->has_sum || rec->name != x->wd->records + crdt_varint_len(rec->name_len) ||
	    (size_t)(rec->state + rec->state_len - x->wd->records) != x->wd->len ||
	    !(e = store_find(x->g->store, rec->name, rec->name_len)) ||
	    !(in = store_entry_inst(e, rec->state[0])) ||
	    crdt_obj_piece_is_news(&in->obj, rec->state, rec->state_len, x->wd->sum_dots,
				   x->wd->sum_hash))
		return false;
	x->g->st.pieces_no_news++;
	return true;
}

const struct gossip_limits *gossip_core_get_limits(const struct gossip_core *g)
{
	return &g->lim;
}

/* A DELTA whose records are pieces of one instance of @size at its sender
 * (crdt_obj_pieces_total: a set's members, a hash's fields and baselines):
 * the instance we hold sizes its tables for that size (crdt_obj_reserve_for),
 * at most the client door's limit for its type, instead of growing it at
 * every few pieces.  Only capacity changes, so failing is harmless: the
 * merge grows it as usual. */
static void presize(struct gossip_core *g, const struct wire_state *s, size_t n, uint32_t size)
{
	const struct crdt_obj *o = n ? &s[0].obj : NULL;
	struct store_entry *e;
	struct store_inst *in;
	size_t most;

	if (!size || !o || !crdt_obj_has_pieces(o) ||
	    !(e = store_find(g->store, s[0].name, s[0].name_len)) ||
	    !(in = store_entry_inst(e, o->type)))
		return;
	most = gossip_limit_parts(&g->lim, o->type);
	(void)crdt_obj_reserve_for(&in->obj, o, most && size > most ? most : size);
}

/* Returns how many records could not be merged (no memory). */
static size_t merge_states(struct gossip_core *g, struct peer *p, const struct sockaddr *from,
			   struct wire_state *s, size_t n)
{
	size_t failed = 0;

	for (size_t i = 0; i < n; i++) {
		struct crdt_obj *o = &s[i].obj;
		int r;

		/* Every valid state is merged, whatever the clocks say: a
		 * register stamped far ahead only drags our clock as far as
		 * max_clock_lead_ms (a later write here that read it still
		 * wins: crdt_lwwreg_set), and is counted and logged. */
		if (o->type == CRDT_LWWREG && o->lww->set &&
		    crdt_hlc_observe(g->hlc, &o->lww->ts, g->max_clock_lead_ms) > 0) {
			g->st.clock_capped++;
			if (p)
				p->st.clock_capped++;
			if (ratelimit_ok(&g->rl_clock, g->now_ms)) {
				char a[INET6_ADDRSTRLEN + 8];
				transport_addr_format(from, a, sizeof(a));
				log_warn("gossip",
					 "peer %s: register \"%.*s\" stamped %lld ms ahead of our "
					 "clock, past max_clock_lead_ms %llu: merged, our clock "
					 "moves %llu ms ahead at most (%llu similar suppressed)",
					 p ? p->name : a,
					 (int)(s[i].name_len > 64 ? 64 : s[i].name_len), s[i].name,
					 (long long)(o->lww->ts.ms - g->hlc->clock(g->hlc->clock_ctx)),
					 (unsigned long long)g->max_clock_lead_ms,
					 (unsigned long long)g->max_clock_lead_ms,
					 (unsigned long long)g->rl_clock.suppressed);
				g->rl_clock.suppressed = 0;
			}
		}
		/* Limits guard the client door; a state a peer already holds is
		 * merged past them all the same, or the replicas would never
		 * agree again.  Counted and logged. */
		char why[200];
		if (gossip_limit_state(&g->lim, g->store, &s[i], why, sizeof(why)) < 0) {
			g->st.limit_exceeded++;
			if (ratelimit_ok(&g->rl_limit, g->now_ms)) {
				char a[INET6_ADDRSTRLEN + 8];
				transport_addr_format(from, a, sizeof(a));
				log_warn("gossip",
					 "peer %s: \"%.*s\": %s; merged all the same (%llu similar "
					 "suppressed)",
					 p ? p->name : a,
					 (int)(s[i].name_len > 64 ? 64 : s[i].name_len), s[i].name, why,
					 (unsigned long long)g->rl_limit.suppressed);
				g->rl_limit.suppressed = 0;
			}
		}
		g->st.records_in++;
		/* a peer's record of a set we hold differs from ours in its
		 * bytes (each replica lists members in its own hash order), so
		 * record_unchanged() missed it: equal states, nothing to do */
		if (store_holds(g->store, s[i].name, s[i].name_len, o)) {
			g->st.unchanged++;
			continue;
		}
		if ((r = store_merge_take(g->store, s[i].name, s[i].name_len, o, s[i].enc,
					  s[i].enc_len)) < 0) {
			drop(g, p, GOSSIP_DROP_NOMEM);
			failed++;
			continue;
		}
		g->st.merges++;
	}
	return failed;
}

/* The bytes of interval numbers an ACK datagram has room for. */
static size_t ack_room(const struct gossip_core *g)
{
	return dgram_budget(g) - wire_header_len(g->node_len) - 8;
}

/* One ACK of the @n intervals @seq of epoch @epoch, to @p or else to @to. */
static void ack_send(struct gossip_core *g, struct peer *p, const struct sockaddr *to,
		     uint64_t epoch, const uint64_t *seq, size_t n)
{
	const uint8_t *d;
	size_t len;

	crdt_buf_reset(&g->pbuf);
	if (wire_encode_ack(&g->pbuf, g->self, g->node, g->node_len, epoch, seq, n) < 0 ||
	    g->pbuf.err) {
		g->st.drops[GOSSIP_DROP_SEND_ERROR]++; /* no memory: what it acknowledges comes again */
		return;
	}
	len = g->pbuf.len;
	if (!(d = core_seal(g, g->pbuf.data, &len)))
		return;
	g->st.acks_out++;
	if (p) {
		core_send_to(g, p, d, len);
	} else if (g->t->ops->send(g->t, d, len, to) < 0) {
		g->st.drops[GOSSIP_DROP_SEND_ERROR]++;
	} else {
		g->st.dgrams_out++;
		g->st.bytes_out += len;
	}
}

/* One ACK of the pass's numbers, and of the numbers the last ACK_AGAIN
 * ACKs of that epoch carried (a lost ACK would otherwise cost each of its
 * intervals a second send: at 30 % loss each way about one send in two is
 * answered; with them about 0.7).  The datagram stays within the mtu:
 * the oldest numbers again are left out first. */
static void ack_flush(struct gossip_core *g, struct peer *p)
{
	uint64_t seq[ACK_MAX * (ACK_AGAIN + 1)];
	size_t n = 0, k = 0, from = p->nagain, room = ack_room(g), used = p->ack_bytes;

	if (!p->nacks)
		return;
	if (p->again_epoch != p->ack_epoch)
		p->nagain = from = 0;
	p->again_epoch = p->ack_epoch;
	/* the newest of the numbers again that fit, in the order they came
	 * (before the new ones: an older one acknowledged after a newer would
	 * look lost to a sender that counts the order, xfer.h) */
	while (from && used + crdt_varint_len(p->again[from - 1]) <= room)
		used += crdt_varint_len(p->again[--from]);
	for (size_t i = from; i < p->nagain; i++)
		seq[n++] = p->again[i];
	for (size_t i = 0; i < p->nacks; i++)
		seq[n++] = p->acks[i];
	for (size_t i = 0; i < p->nagain; i++)
		if (--p->again_left[i]) {
			p->again[k] = p->again[i];
			p->again_left[k++] = p->again_left[i];
		}
	for (size_t i = 0; i < p->nacks; i++) {
		p->again[k] = p->acks[i];
		p->again_left[k++] = ACK_AGAIN;
	}
	p->nagain = (unsigned)k;
	ack_send(g, p, NULL, p->ack_epoch, seq, n);
	p->nacks = 0;
	p->ack_bytes = 0;
}

/* Acknowledge interval @seq of epoch @epoch to its sender: a known peer's
 * waits for gossip_core_flush (the end of the loop pass's reads), so that a
 * burst of DELTA datagrams costs one ACK, not one each; an unknown sender's
 * goes now. */
static void send_ack(struct gossip_core *g, struct peer *p, const struct sockaddr *to,
		     uint64_t epoch, uint64_t seq)
{
	if (!p) {
		ack_send(g, NULL, to, epoch, &seq, 1);
		return;
	}
	if (p->nacks && (p->ack_epoch != epoch || p->nacks == ACK_MAX ||
			 p->ack_bytes + crdt_varint_len(seq) > ack_room(g)))
		ack_flush(g, p);
	p->ack_epoch = epoch;
	p->acks[p->nacks++] = seq;
	p->ack_bytes += crdt_varint_len(seq);
	g->acks_waiting = true;
}

void gossip_core_flush(struct gossip_core *g)
{
	if (!g->acks_waiting)
		return;
	g->acks_waiting = false;
	for (size_t i = 0; i < g->npeers; i++)
		ack_flush(g, g->peers[i]);
}

struct ack_ctx {
	struct gossip_core *g;
	struct peer *p;
	const uint64_t *epoch;
	bool catchup; /* it acknowledged catch-up datagrams */
	bool news;    /* it acknowledged an interval it had not */
};

const uint32_t gossip_lag_bounds_ms[GOSSIP_LAG_BUCKETS] = {
	1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
};

static void lag_observe(struct gossip_lag *h, uint64_t ms)
{
	size_t k = 0;

	while (k < GOSSIP_LAG_BUCKETS && ms > gossip_lag_bounds_ms[k])
		k++;
	h->buckets[k]++;
	h->count++;
	h->sum_ms += ms;
}

static void ack_cb(uint64_t seq, void *ctx)
{
	struct ack_ctx *a = ctx;
	struct gossip_core *g = a->g;
	const struct dlog_int *it;
	bool news;

	if (!a->p)
		return;
	if (*a->epoch == a->p->xf.epoch) {
		a->catchup |= xfer_ack(&a->p->xf, seq, g->now_ms) == 0;
		return;
	}
	/* an ACK of another epoch (ours before a restart) is stale */
	if (*a->epoch != g->epoch)
		return;
	/* the first ACK of an interval still held is one convergence-lag
	 * sample: from its making to now */
	news = !dlog_peer_has(&a->p->dl, seq);
	if (dlog_peer_ack(&a->p->dl, seq, g->dlog.last) == 0 && news) {
		a->news = true;
		if ((it = dlog_get(&g->dlog, seq)))
			lag_observe(&a->p->st.lag, g->now_ms > it->made_ms ? g->now_ms - it->made_ms : 0);
	}
}

static void on_pong(struct gossip_core *g, struct peer *p, const struct wire_ping *pong)
{
	uint64_t now = g->now_us, rtt;

	g->st.pongs_in++;
	if (!p)
		return;
	p->st.pongs_in++;
	/* Only an answer to something we sent is a sample. */
	if (pong->seq == 0 || pong->seq > g->ping_seq || pong->ts > now || now - pong->ts > RTT_MAX_US)
		return;
	rtt = now - pong->ts;
	p->rtt_us = rtt;
	p->srtt_us = p->has_rtt ? (7 * p->srtt_us + rtt) / 8 : rtt;
	p->has_rtt = true;
	/* Its clock read when it answered, against ours half a round trip
	 * ago: off by at most rtt / 2, nothing next to a skew that matters. */
	p->clock_offset_ms = (int64_t)(pong->clock - (wall_ms(g) - rtt / 2000));
	p->has_offset = true;
	if (g->max_clock_lead_ms && clock_skewed(g, p) &&
	    ratelimit_ok(&p->rl_skew, g->now_ms))
		log_warn("gossip",
			 "peer %s: its clock is %llu ms %s ours, more than max_clock_lead_ms %llu; "
			 "registers still converge, but its writes and ours order by skewed "
			 "clocks (docs/types.md)",
			 p->name, (unsigned long long)offset_mag(p->clock_offset_ms),
			 p->clock_offset_ms > 0 ? "ahead of" : "behind",
			 (unsigned long long)g->max_clock_lead_ms);
}

/* One datagram from the sender of @b: false when past the rate. */
static bool bucket_take(struct gossip_core *g, struct bucket *b)
{
	uint64_t now = g->now_ms, cap = (uint64_t)g->rate * 1000;

	if (!g->rate)
		return true;
	if (!b->init) {
		b->init = true;
		b->milli = cap;
	} else if (now > b->last_ms) {
		uint64_t add = (now - b->last_ms) * g->rate; /* rate/s = rate/1000 per ms */
		b->milli = b->milli + add > cap ? cap : b->milli + add;
	}
	b->last_ms = now;
	if (b->milli < 1000)
		return false;
	b->milli -= 1000;
	return true;
}

static void warn_from(struct gossip_core *g, struct ratelimit *rl, const struct sockaddr *from,
		      const char *what)
{
	char a[INET6_ADDRSTRLEN + 8];

	if (!ratelimit_ok(rl, g->now_ms))
		return;
	transport_addr_format(from, a, sizeof(a));
	log_warn("gossip", "datagram from %s: %s, dropped (%llu similar suppressed)", a, what,
		 (unsigned long long)rl->suppressed);
	rl->suppressed = 0;
}

void gossip_core_recv(struct gossip_core *g, const uint8_t *buf, size_t len,
		      const struct sockaddr *from, bool truncated, uint64_t now_ms, uint64_t now_us)
{
	struct peer *p;
	struct wire_header h;
	struct wire_ping ping;
	struct wire_state *s;
	size_t off, n;
	uint8_t flags;
	bool was_down = false, first;
	int r;

	g->now_ms = now_ms;
	g->now_us = now_us;
	g->st.dgrams_in++;
	g->st.bytes_in += len;
	first = (p = peer_by_addr(g, from)) && !p->has_rid;
	if (p) {
		p->st.dgrams_in++;
		p->st.bytes_in += len;
	} else {
		g->st.unknown_sender++;
	}
	if (truncated) {
		drop(g, p, GOSSIP_DROP_TRUNCATED);
		return;
	}
	/* Nothing past the fixed header is read before the sender is known,
	 * within its rate, and (with a key) its tag verified. */
	if ((r = wire_decode_fixed(buf, len, &flags)) < 0) {
		drop(g, p,
		     r == -ENOMSG	     ? GOSSIP_DROP_BAD_MAGIC
		     : r == -EPROTONOSUPPORT ? GOSSIP_DROP_BAD_VERSION
					     : GOSSIP_DROP_MALFORMED);
		return;
	}
	if (!p && !g->accept_unknown) {
		drop(g, p, GOSSIP_DROP_UNKNOWN_PEER);
		warn_from(g, &g->rl_unknown, from, "not a configured peer");
		return;
	}
	if (!bucket_take(g, p ? &p->bucket : &g->unknown_bucket)) {
		drop(g, p, GOSSIP_DROP_RATE);
		return;
	}
	if (g->kr) {
		if (!(flags & WIRE_FLAG_AUTH)) {
			drop(g, p, GOSSIP_DROP_UNAUTHENTICATED);
			warn_from(g, &g->rl_auth, from, "no authentication tag");
			return;
		}
		r = auth_open(g->kr, buf, len, g->openbuf, WIRE_DATAGRAM_MAX + AUTH_OVERHEAD, &n);
		if (r < 0) {
			drop(g, p, r == -EBADMSG ? GOSSIP_DROP_MALFORMED : GOSSIP_DROP_BAD_AUTH);
			if (r != -EBADMSG)
				warn_from(g, &g->rl_auth, from,
					  r == -ENOKEY ? "signed with a key we do not have"
						       : "authentication tag does not verify");
			return;
		}
		buf = g->openbuf;
		len = n;
	} else if (flags & WIRE_FLAG_AUTH) {
		drop(g, p, GOSSIP_DROP_BAD_AUTH);
		warn_from(g, &g->rl_auth, from, "sealed, and we have no key ([security] key_file)");
		return;
	}
	if ((r = wire_decode_header(buf, len, &h, &off)) < 0) {
		drop(g, p,
		     r == -ENOMSG	     ? GOSSIP_DROP_BAD_MAGIC
		     : r == -EPROTONOSUPPORT ? GOSSIP_DROP_BAD_VERSION
					     : GOSSIP_DROP_MALFORMED);
		return;
	}
	if (!crdt_rid_cmp(&h.rid, g->self)) {
		/* Ourselves listed as a peer, or a clone of this running
		 * process.  Its states still merge (STATE, and DELTA, which a
		 * catch-up sends, with their ACKs): if they hold writes we
		 * lack, the store takes a new id (store.h), and so will the
		 * clone. */
		if (ratelimit_ok(&g->rl_self, g->now_ms)) {
			char a[INET6_ADDRSTRLEN + 8];
			transport_addr_format(from, a, sizeof(a));
			log_warn("gossip", "datagram from %s carries our own replica id: this node "
				 "is listed as its own peer, or a clone of this process runs there",
				 a);
		}
		if (h.type != WIRE_STATE && h.type != WIRE_DELTA && h.type != WIRE_ACK) {
			drop(g, p, GOSSIP_DROP_SELF);
			return;
		}
	}
	switch (h.type) {
	case WIRE_PING:
	case WIRE_PONG:
		if (wire_decode_ping(buf + off, len - off, &ping) < 0) {
			drop(g, p, GOSSIP_DROP_MALFORMED);
			return;
		}
		was_down = p && peer_down(p);
		seen(g, p, &h);
		if (h.type == WIRE_PING) {
			ping.clock = wall_ms(g);
			send_ping(g, p, WIRE_PONG, &ping, from);
		} else
			on_pong(g, p, &ping);
		break;
	case WIRE_STATE:
		prefetch_records(g, buf + off, len - off);
		r = wire_state_decode_filtered(buf + off, len - off, record_unchanged, g, &s, &n);
		if (r < 0) {
			drop(g, p,
			     r == -ENOMEM ? GOSSIP_DROP_NOMEM
			     : r == -EPROTO ? GOSSIP_DROP_BAD_STATE
					    : GOSSIP_DROP_MALFORMED);
			return;
		}
		was_down = p && peer_down(p);
		seen(g, p, &h);
		merge_states(g, p, from, s, n);
		wire_states_free(s, n);
		break;
	case WIRE_DELTA: {
		struct wire_delta wd;
		if (wire_decode_delta(buf + off, len - off, &wd) < 0) {
			drop(g, p, GOSSIP_DROP_MALFORMED);
			return;
		}
		prefetch_records(g, wd.records, wd.len);
		r = wire_state_decode_filtered(wd.records, wd.len, record_no_news,
					       &(struct news_ctx){ g, &wd }, &s, &n);
		if (r < 0) {
			drop(g, p,
			     r == -ENOMEM ? GOSSIP_DROP_NOMEM
			     : r == -EPROTO ? GOSSIP_DROP_BAD_STATE
					    : GOSSIP_DROP_MALFORMED);
			return;
		}
		g->st.delta_dgrams_in++;
		/* what it writes (an interval), or a piece of a large instance
		 * it sends us (alone in its datagram): not sent back whole by
		 * our digest exchange with it within a round */
		if (p && (!(wd.epoch & GOSSIP_CATCHUP_EPOCH) || (n == 1 && 2 * len > g->mtu)))
			for (size_t i = 0; i < n; i++)
				catchup_note_received(g, p, s[i].name, s[i].name_len);
		if (p && (wd.epoch & GOSSIP_CATCHUP_EPOCH))
			p->cu_in_since_digest = true;
		was_down = p && peer_down(p);
		seen(g, p, &h);
		presize(g, s, n, wd.size);
		/* merged whole, or not acknowledged: it comes again */
		if (merge_states(g, p, from, s, n) == 0)
			send_ack(g, p, from, wd.epoch, wd.seq);
		wire_states_free(s, n);
		break;
	}
	case WIRE_ACK: {
		uint64_t epoch = 0;
		struct ack_ctx a = { g, p, &epoch, false, false };
		if (wire_decode_ack(buf + off, len - off, &epoch, ack_cb, &a) < 0) {
			drop(g, p, GOSSIP_DROP_MALFORMED);
			return;
		}
		g->st.acks_in++;
		was_down = p && peer_down(p);
		seen(g, p, &h);
		if (p && !was_down && !p->restarted) {
			deltas_trim(g);
			deltas_send(g, p, DL_AGAIN_NONE); /* the window moved */
			deltas_acked(g, p, a.news);
			if ((g->nqueue || g->nslices) && g->io.push_wanted) /* writes wait for it */
				g->io.push_wanted(g->io.ctx);
			if (a.catchup)
				catchup_pump(g, p);
			if (a.catchup && catchup_idle(p))
				rounds_catchup_ended(g, p);
		}
		break;
	}
	case WIRE_DIGEST:
	case WIRE_BUCKETS:
	case WIRE_KEYS:
		g->st.digest_dgrams_in++;
		was_down = p && peer_down(p);
		r = h.type == WIRE_DIGEST    ? rounds_on_digest(g, p, buf + off, len - off)
		    : h.type == WIRE_BUCKETS ? rounds_on_buckets(g, p, buf + off, len - off)
					     : rounds_on_keys(g, p, buf + off, len - off);
		if (r < 0) {
			drop(g, p, r == -ENOMEM ? GOSSIP_DROP_NOMEM : GOSSIP_DROP_MALFORMED);
			return;
		}
		seen(g, p, &h);
		break;
	}
	/* Back from down (restarted, or the partition healed): catch it up
	 * now rather than at the next round. */
	if (was_down && !p->restarted && g->deltas && !p->missed &&
	    p->dl.acked + 1 >= dlog_first(&g->dlog)) {
		/* Silent a while (a partition, its loop busy merging what we
		 * send or ours packing it), same start: it still holds all it
		 * merged, the log every interval it lacks, and nothing went
		 * whole past it meanwhile.  Those intervals go again, and a
		 * catch-up under way goes on; the digest rounds compare after
		 * (a resync sent a store of 1,000,000 keys both ways after a
		 * partition of a few seconds). */
		log_info("gossip", "peer %s: up again, %llu intervals to send%s", p->name,
			 (unsigned long long)dlog_peer_pending(&p->dl, g->dlog.last),
			 catchup_idle(p) ? "" : ", its catch-up goes on");
		deltas_send(g, p, DL_AGAIN_ALL);
		catchup_pump(g, p);
	} else if (was_down || (p && p->restarted)) {
		/* Restarted (what it held of our intervals may be gone with
		 * its memory), or back missing what the log cannot give it. */
		deltas_repair(g, p,
			      p->restarted ? (first ? "first heard from" : "restarted (new replica id)")
			      : !g->deltas ? "up again (deltas = no)"
			      : p->missed  ? "up again, states went whole past it meanwhile"
					   : "up again, it lacks intervals the log no longer holds");
	}
}

/* ---- lifecycle --------------------------------------------------------- */

int gossip_core_new(const struct gossip_config *cfg, struct store *store, struct crdt_hlc *hlc,
		    const struct crdt_rid *self, const char *node_name, struct transport *t,
		    const struct gossip_core_io *io, struct gossip_core **ret)
{
	struct gossip_core *g;
	size_t nlen = node_name ? strlen(node_name) : 0;
	int r;

	if (!cfg || !store || !hlc || !self || !t || cfg->interval_ms == 0 ||
	    cfg->mtu < WIRE_MTU_MIN || cfg->mtu > WIRE_DATAGRAM_MAX || nlen > WIRE_NODE_MAX)
		return -EINVAL;
	if (!(g = calloc(1, sizeof(*g))))
		return -ENOMEM;
	g->store = store;
	g->hlc = hlc;
	g->self = self;
	memcpy(g->node, node_name ? node_name : "", nlen);
	g->node_len = nlen;
	g->interval_ms = cfg->interval_ms;
	g->mtu = cfg->mtu;
	g->fanout = cfg->fanout;
	g->push_delay_ms = cfg->push_delay_ms;
	g->digests = cfg->digests;
	g->deltas = cfg->deltas;
	g->large_gap_ms = cfg->interval_ms / 2;
	g->max_clock_lead_ms = cfg->max_clock_lead_ms;
	if (io)
		g->io = *io;
	gossip_core_set_policy(g, cfg->accept_unknown_peers, cfg->max_peer_dgrams_per_sec,
			       &cfg->lim);
	if (cfg->keys && cfg->keys->n && gossip_core_set_keys(g, cfg->keys) < 0) {
		free(g);
		return -ENOMEM;
	}
	g->rng = cfg->seed; /* the shell picks one when the config says 0 */
	/* an epoch of our own: the seed and this start's replica id */
	g->epoch = (rng_next(g) ^ store_fingerprint(self->b, CRDT_RID_LEN)) & ~GOSSIP_CATCHUP_EPOCH;
	g->xepoch = g->epoch | GOSSIP_CATCHUP_EPOCH;
	g->catchup_parts = cfg->delta_catchup_parts ? cfg->delta_catchup_parts
						    : GOSSIP_DELTA_CATCHUP_PARTS;
	size_t log_bytes = cfg->delta_log_bytes ? cfg->delta_log_bytes : GOSSIP_DELTA_LOG_BYTES;
	size_t log_n = log_bytes / GOSSIP_DELTA_LOG_PER > GOSSIP_DELTA_LOG_MIN
			       ? log_bytes / GOSSIP_DELTA_LOG_PER : GOSSIP_DELTA_LOG_MIN;
	if (dlog_init(&g->dlog, cfg->delta_log ? cfg->delta_log : log_n, log_bytes) < 0) {
		gossip_core_set_keys(g, NULL);
		free(g);
		return -ENOMEM;
	}
	/* PING, PONG and ACK: an ACK fills up to a datagram (ack_room) */
	crdt_buf_init(&g->pbuf, WIRE_DATAGRAM_MAX);
	crdt_buf_init(&g->burst.sealed, CORE_BURST_MAX * ((size_t)WIRE_DATAGRAM_MAX + AUTH_OVERHEAD));
	if ((r = gossip_core_set_peers(g, cfg->peers, cfg->npeers)) < 0) {
		crdt_buf_done(&g->pbuf);
		dlog_done(&g->dlog);
		gossip_core_set_keys(g, NULL);
		free(g);
		return r;
	}
	crdt_buf_init(&g->dbuf, WIRE_DATAGRAM_MAX);
	if (cfg->piece_cache_bytes && (r = pcache_new(cfg->piece_cache_bytes, &g->pc)) < 0) {
		gossip_core_free(g);
		return r;
	}
	if ((r = deltas_subscribe(g)) < 0 ||
	    (r = digest_new(store, &g->dg)) < 0) {
		gossip_core_free(g);
		return r;
	}
	g->t = t;
	*ret = g;
	return 0;
}

void gossip_core_start(struct gossip_core *g)
{
	g->started = true;
	resolve_all(g);
}

void gossip_core_free(struct gossip_core *g)
{
	if (!g)
		return;
	store_unsubscribe(g->store, g);
	deltas_queue_free(g);
	dlog_done(&g->dlog);
	for (size_t i = 0; i < g->npeers; i++)
		peer_free(g->peers[i]);
	free(g->peers);
	free(g->targets);
	for (size_t i = 0; i < g->nlarge; i++)
		free(g->large[i].name);
	free(g->large);
	digest_free(g->dg);
	pcache_free(g->pc);
	crdt_buf_done(&g->dbuf);
	crdt_buf_done(&g->pbuf);
	crdt_buf_done(&g->burst.sealed);
	gossip_core_set_keys(g, NULL);
	free(g);
}

int gossip_core_set_keys(struct gossip_core *g, const struct auth_keyring *kr)
{
	struct auth_keyring *nk = NULL;
	uint8_t *sb = NULL, *ob = NULL;
	size_t bufsz = WIRE_DATAGRAM_MAX + AUTH_OVERHEAD;

	if (kr && kr->n) {
		/* sodium_malloc: guarded pages, locked when allowed, zeroed on free */
		if (auth_init() < 0 || !(nk = sodium_malloc(sizeof(*nk))))
			return -ENOMEM;
		*nk = *kr;
		if (g->kr) { /* keep the buffers */
			sb = g->sealbuf;
			ob = g->openbuf;
		} else if (!(sb = malloc(bufsz)) || !(ob = malloc(bufsz))) {
			free(sb);
			sodium_free(nk);
			return -ENOMEM;
		}
	} else if (g->kr) {
		free(g->sealbuf);
		free(g->openbuf);
	}
	if (g->kr)
		sodium_free(g->kr);
	g->kr = nk;
	g->sealbuf = sb;
	g->openbuf = ob;
	return 0;
}

void gossip_core_set_policy(struct gossip_core *g, bool accept_unknown_peers, uint32_t max_peer_dgrams_per_sec,
		       const struct gossip_limits *lim)
{
	g->accept_unknown = accept_unknown_peers;
	g->rate = max_peer_dgrams_per_sec;
	if (lim)
		g->lim = *lim;
	else
		memset(&g->lim, 0, sizeof(g->lim));
	g->lim.dgram = g->mtu - AUTH_OVERHEAD;
	g->lim.node_len = g->node_len;
}

/* ---- introspection ----------------------------------------------------- */

void gossip_core_get_stats(const struct gossip_core *g, struct gossip_stats *ret)
{
	*ret = g->st;
	ret->digest_refreshed = g->dg ? g->dg->stats.refreshed : 0;
	for (size_t i = 0; i < g->npeers; i++) {
		const struct xfer_stats *x = &g->peers[i]->xf.st;
		ret->catchup_dgrams_out += x->sent;
		ret->catchup_resent += x->resent;
		ret->catchup_lost += x->lost;
		ret->catchup_timeouts += x->timeouts;
		ret->catchup_probes += x->probes;
		ret->catchup_decreases += x->decreases;
		ret->catchup_undone += x->undone;
	}
	ret->dlog_intervals = g->dlog.n;
	ret->dlog_bytes = g->dlog.bytes;
	ret->dlog_max_bytes = g->dlog.max_bytes;
	if (g->pc) {
		struct pcache_stats ps;
		pcache_get_stats(g->pc, &ps);
		ret->pcache_hits = ps.hits;
		ret->pcache_misses = ps.misses;
		ret->pcache_drops = ps.drops;
		ret->pcache_evictions = ps.evictions;
		ret->pcache_bytes = ps.bytes;
		ret->pcache_instances = ps.instances;
		ret->pcache_max_bytes = ps.max_bytes;
	}
	if (g->t) {
		ret->drops[GOSSIP_DROP_SEND_ERROR] += g->t->stats.send_errors;
		ret->rcvbuf = g->t->stats.rcvbuf;
		ret->sndbuf = g->t->stats.sndbuf;
		ret->recv_held = g->t->stats.recv_held;
	}
}

int gossip_core_foreach_peer(const struct gossip_core *g, uint64_t now_ms,
			     int (*cb)(const struct gossip_peer_info *p, void *ctx), void *ctx)
{
	uint64_t now = now_ms;

	for (size_t i = 0; i < g->npeers; i++) {
		const struct peer *p = g->peers[i];
		struct gossip_peer_info info = {
			.name = p->name,
			.resolved = p->resolved,
			.addr = p->resolved ? (const struct sockaddr *)&p->addr : NULL,
			.seen = p->seen,
			.down = peer_down(p),
			.last_seen_ms = p->last_seen,
			.last_seen_ago_ms = p->seen && now > p->last_seen ? now - p->last_seen : 0,
			.has_rtt = p->has_rtt,
			.rtt_us = p->rtt_us,
			.srtt_us = p->srtt_us,
			.has_clock_offset = p->has_offset,
			.clock_offset_ms = p->clock_offset_ms,
			.clock_skewed = clock_skewed(g, p),
			.rid = p->has_rid ? &p->rid : NULL,
			.node = p->node,
			.has_sync = p->has_sync,
			.in_sync = p->in_sync,
			.differs_since_ms = p->differs_since,
			.instances_differing = p->differing,
			.deltas_acked = p->dl.acked,
			.deltas_pending = dlog_peer_pending(&p->dl, g->dlog.last),
			.bytes_last_round = p->bytes_last_round,
			.catching_up = !catchup_idle(p),
			.catchup_pending = p->xf.n,
			.catchup_window = p->xf.cwnd,
			.repairing = p->repairing > 0,
			.now_ms = now,
			.stats = p->st,
		};
		int r = cb(&info, ctx);
		if (r)
			return r;
	}
	return 0;
}

size_t gossip_core_npeers(const struct gossip_core *g)
{
	return g->npeers;
}
