/* The digest exchange of a round (docs/protocol.md, "Digest rounds"): our
 * DIGEST to the round's peers, and a peer's DIGEST, BUCKETS and KEYS
 * answered by descending to the buckets and keys that differ, whose
 * instances go to that peer's catch-up (catchup.c).  Part of the gossip
 * core (core_int.h): no libuv, time from the entry point. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/core_int.h"
#include "log.h"

/* Start a DIGEST, BUCKETS or KEYS datagram in g->dbuf. */
static void dgram_start(struct gossip_core *g, enum wire_type type)
{
	crdt_buf_reset(&g->dbuf);
	wire_put_header(&g->dbuf, type, g->self, g->node, g->node_len);
	if (type != WIRE_KEYS) {
		crdt_buf_put_u8(&g->dbuf, DIGEST_BITS);
		crdt_buf_put_u8(&g->dbuf, DIGEST_GROUP_BITS);
	}
}

/* Seal g->dbuf and send it to @to[@n]. */
static void dgram_send(struct gossip_core *g, struct peer **to, size_t n)
{
	size_t len = g->dbuf.len;
	const uint8_t *d;

	if (g->dbuf.err || !(d = core_seal(g, g->dbuf.data, &len)))
		return;
	for (size_t i = 0; i < n; i++) {
		core_send_to(g, to[i], d, len);
		g->st.digest_dgrams_out++;
	}
}

/* Sums @sums[@idx[0..n)] (indexes ascending) as DIGEST or BUCKETS
 * datagrams to @to: runs of consecutive indexes as ranges, as many ranges
 * a datagram as fit. */
static void send_sums(struct gossip_core *g, struct peer **to, size_t nto, enum wire_type type,
		      const uint64_t *sums, const uint32_t *idx, size_t n)
{
	size_t budget = dgram_budget(g);
	size_t hdr = wire_header_len(g->node_len) + WIRE_SUMS_HEAD;
	bool open = false;

	for (size_t i = 0; i < n;) {
		uint32_t first = idx[i], count = 1;
		size_t room;

		while (i + count < n && idx[i + count] == first + count)
			count++;
		if (!open) {
			dgram_start(g, type);
			open = true;
		}
		room = budget - g->dbuf.len;
		if (wire_sums_range_len(first, count) > room) {
			/* what fits of the run here, the rest in the next one */
			uint32_t fit = 0;
			while (fit < count && wire_sums_range_len(first, fit + 1) <= room)
				fit++;
			if (fit == 0) {
				if (g->dbuf.len == hdr) /* not even one: cannot happen at mtu >= 512 */
					return;
				dgram_send(g, to, nto);
				open = false;
				continue;
			}
			count = fit;
		}
		wire_put_sums_range(&g->dbuf, first, count, sums + first);
		i += count;
		if (budget - g->dbuf.len < wire_sums_range_len(DIGEST_BUCKETS, 1)) {
			dgram_send(g, to, nto);
			open = false;
		}
	}
	if (open && g->dbuf.len > hdr)
		dgram_send(g, to, nto);
}

static int on_digest(struct gossip_core *g, struct peer *p, const uint8_t *body, size_t len,
		     uint64_t acked, bool cu_busy);

/* Our digest is up to date again: the DIGESTs that could not go while it
 * was behind go now, and those that came meanwhile (the last of each peer)
 * are answered: the exchanges go on. */
static void digest_caught_up(struct gossip_core *g)
{
	for (size_t i = 0; i < g->npeers; i++) {
		struct peer *p = g->peers[i];
		uint8_t *body = p->dg_kept;
		if (p->dg_owed) {
			p->dg_owed = false;
			rounds_send_digest(g, &p, 1);
		}
		if (!body)
			continue;
		p->dg_kept = NULL;
		/* checked when kept */
		(void)on_digest(g, p, body, p->dg_kept_len, p->dg_kept_acked, p->dg_kept_cu_busy);
		free(body);
	}
}

bool rounds_refresh(struct gossip_core *g)
{
	bool done;

	if (!g->io.tick_wanted) {
		done = digest_refresh_some(g->dg, SIZE_MAX);
	} else if (!g->io.clock_us) {
		done = digest_refresh_some(g->dg, DIGEST_SLICE);
	} else {
		uint64_t t0 = core_slice_start(g);
		while (!(done = digest_refresh_some(g->dg, DIGEST_CHUNK)) &&
		       !core_slice_spent(g, t0))
			;
	}
	if (!done)
		return false;
	if (g->dg_behind) {
		g->dg_behind = false;
		digest_caught_up(g);
	}
	return true;
}

/* Bring the digest up to date, a slice at a time: whether it is.  If not,
 * the DIGEST waiting on it goes, or is answered, once it is
 * (digest_caught_up; INFO digest_unready), and a tick goes on with the
 * refresh, a slice a loop pass.  A refresh under way is the tick's alone:
 * a pass that reads many DIGESTs (a repair, several peers) would else
 * spend a slice on each. */
static bool digest_ready(struct gossip_core *g)
{
	if (!g->dg_behind && rounds_refresh(g))
		return true;
	g->dg_behind = true;
	g->st.digest_unready++;
	g->io.tick_wanted(g->io.ctx, 0);
	return false;
}

static void sums_check_cb(uint32_t i, uint64_t sum, void *ctx)
{
	(void)i;
	(void)sum;
	(void)ctx;
}

/* Keep @p's DIGEST @body (checked) until our digest is up to date, with
 * what it had acknowledged and whether a catch-up to it was under way when
 * it came (@acked, @cu_busy): its answer must not take the ACKs that came
 * meanwhile as known to a digest made before them (a restarted peer was
 * then sent whole every instance its repair's intervals carried). */
static int keep_digest(struct peer *p, const uint8_t *body, size_t len, uint64_t acked,
		       bool cu_busy)
{
	uint8_t *k;
	int r;

	if ((r = wire_decode_sums(body, len, DIGEST_BITS, DIGEST_GROUP_BITS, false, sums_check_cb,
				  NULL)) < 0)
		return r;
	if (!(k = malloc(len ? len : 1)))
		return 0; /* as before: the next round starts the exchange again */
	memcpy(k, body, len);
	free(p->dg_kept);
	p->dg_kept = k;
	p->dg_kept_len = len;
	p->dg_kept_acked = acked;
	p->dg_kept_cu_busy = cu_busy;
	return 0;
}

/* The timer round with digests: the group sums of our digest to every
 * target.  A peer whose groups differ answers with its bucket sums. */
void rounds_send_digest(struct gossip_core *g, struct peer **to, size_t n)
{
	uint64_t groups[DIGEST_GROUPS];
	uint32_t idx[DIGEST_GROUPS];

	if (n == 0)
		return;
	if (!digest_ready(g)) {
		for (size_t i = 0; i < n; i++)
			to[i]->dg_owed = true;
		return;
	}
	for (uint32_t i = 0; i < DIGEST_GROUPS; i++) {
		groups[i] = digest_group(g->dg, i);
		idx[i] = i;
	}
	send_sums(g, to, n, WIRE_DIGEST, groups, idx, DIGEST_GROUPS);
}

/* The DIGEST that ends a catch-up, and the answer to it, are each one
 * datagram: on a link that loses 30 %, half such exchanges would lose one,
 * and the sync status wait for the rounds.  So it goes again, up to
 * DG_RETRIES times, two round trips apart and doubling (as the tail's
 * probe), until a DIGEST or BUCKETS comes back; the peer answers each
 * that comes within the span of those retries (it answered the first, and
 * cannot know whether that answer arrived). */
#define DG_RETRIES 3

void rounds_send_digest_retried(struct gossip_core *g, struct peer *p)
{
	rounds_send_digest(g, &p, 1);
	p->dg_retries = DG_RETRIES;
	p->dg_retry_at = g->now_ms + peer_pto_ms(p, 0);
	if (g->io.tick_wanted)
		g->io.tick_wanted(g->io.ctx, p->dg_retry_at - g->now_ms);
}

void rounds_catchup_ended(struct gossip_core *g, struct peer *p)
{
	if (!g->digests)
		return;
	p->answered_round = g->st.rounds + 1; /* what an answer of ours would tell it */
	g->st.digests_after_catchup++;
	rounds_send_digest_retried(g, p);
}

uint64_t rounds_digest_probe(struct gossip_core *g, struct peer *p)
{
	if (!p->dg_retries)
		return UINT64_MAX;
	if (!p->resolved || peer_down(p)) {
		p->dg_retries = 0; /* the rounds go on */
		return UINT64_MAX;
	}
	if (g->now_ms < p->dg_retry_at)
		return p->dg_retry_at;
	p->dg_retries--;
	g->st.digest_retries++;
	rounds_send_digest(g, &p, 1);
	if (!p->dg_retries)
		return UINT64_MAX;
	p->dg_retry_at = g->now_ms + peer_pto_ms(p, DG_RETRIES - p->dg_retries);
	return p->dg_retry_at;
}

struct sums_cmp {
	struct gossip_core *g;
	const uint64_t *ours;
};

static void sums_cmp_cb(uint32_t i, uint64_t sum, void *ctx)
{
	struct sums_cmp *c = ctx;

	/* a peer may repeat an index; it cannot make us list more than all */
	if (c->ours[i] != sum && c->g->nddiff < DIGEST_BUCKETS)
		c->g->ddiff[c->g->nddiff++] = i;
}

/* What a DIGEST tells of the peer's store: whether some group sum is not
 * 0, and which groups it covered (a DIGEST may take more than one
 * datagram at a small mtu: one alone cannot tell a store is empty). */
struct sums_any {
	bool any;
	uint32_t covered;
	uint8_t seen[DIGEST_GROUPS / 8];
};

static void sums_any_cb(uint32_t i, uint64_t sum, void *ctx)
{
	struct sums_any *a = ctx;

	a->any |= sum != 0;
	if (!(a->seen[i / 8] & (1u << (i % 8)))) {
		a->seen[i / 8] |= (uint8_t)(1u << (i % 8));
		a->covered++;
	}
}

/* A peer's group sums: ours for every group that differs, as BUCKETS. */
int rounds_on_digest(struct gossip_core *g, struct peer *p, const uint8_t *body, size_t len)
{
	return on_digest(g, p, body, len, p ? p->dl.acked : 0, p && !catchup_idle(p));
}

/* @p's DIGEST, which came when it had acknowledged every interval up to
 * @acked, and a catch-up to it was under way or not (@cu_busy). */
static int on_digest(struct gossip_core *g, struct peer *p, const uint8_t *body, size_t len,
		     uint64_t acked, bool cu_busy)
{
	uint64_t groups[DIGEST_GROUPS];
	uint32_t idx[DIGEST_BUCKETS];
	struct sums_cmp c = { g, groups };
	struct sums_any theirs = { 0 };
	size_t n = 0;
	int r;

	if (p && p->dg_kept) { /* this one is newer */
		free(p->dg_kept);
		p->dg_kept = NULL;
	}
	if (p) {
		r = wire_decode_sums(body, len, DIGEST_BITS, DIGEST_GROUP_BITS, false, sums_any_cb,
				     &theirs);
		if (r < 0)
			return r;
		/* we hold nothing and it holds something (its repair's DIGEST
		 * to a new node): our DIGEST tells it so (below), where BUCKETS
		 * would only make it list its keys to us */
		if (!g->store->len && theirs.any) {
			rounds_send_digest(g, &p, 1);
			return 0;
		}
	}
	if (p && g->store->len) {
		/* it holds nothing (every sum 0: a new node, an emptied data
		 * directory): the walk sends it everything, at once, where
		 * descending would wait for our digest to be up to date and
		 * list every bucket only to find it all missing */
		if (!theirs.any && theirs.covered == DIGEST_GROUPS) {
			p->dg_retries = 0; /* it answered */
			if (catchup_walking(p))
				return 0;
			log_info("gossip", "peer %s holds nothing, sending the full state", p->name);
			g->st.digest_empty_resyncs++;
			if (p->in_sync || !p->has_sync)
				p->differs_since = g->now_ms;
			p->in_sync = false;
			p->has_sync = true;
			deltas_resync(g, p);
			return 0;
		}
	}
	if (!digest_ready(g))
		return p ? keep_digest(p, body, len, acked, cu_busy) : 0;
	for (uint32_t i = 0; i < DIGEST_GROUPS; i++)
		groups[i] = digest_group(g->dg, i);
	g->nddiff = 0;
	r = wire_decode_sums(body, len, DIGEST_BITS, DIGEST_GROUP_BITS, false, sums_cmp_cb, &c);
	if (r < 0)
		return r;
	if (p) { /* its sync status: the last exchange's count, then afresh */
		/* its view of us may be stale: we did not agree before (at
		 * most one answer a round), or its catch-up to us since its
		 * last DIGEST just ended (once: even in a round in which our
		 * catch-up to it ended too, whose DIGEST it may have found
		 * differing, as it came before its catch-up to us ended) */
		bool ended = p->cu_in_since_digest;
		bool answer = !g->nddiff && ((!(p->has_sync && p->in_sync) &&
					      p->answered_round != g->st.rounds + 1) ||
					     ended);
		/* or it sends again the DIGEST that ended its catch-up, whose
		 * answer it may not have had: within the span of its retries
		 * (as it would time them, from our round trip to it) */
		bool again = !answer && !g->nddiff && p->dg_reanswers &&
			     g->now_ms < p->dg_reanswer_until;
		p->dg_retries = 0; /* it answered, or sent its own */
		p->cu_in_since_digest = false;
		p->cu_busy = cu_busy;
		p->acked_at_digest = acked;
		if (g->nddiff && (p->in_sync || !p->has_sync))
			p->differs_since = g->now_ms;
		p->in_sync = !g->nddiff;
		p->has_sync = true;
		/* a repair's exchanges: one is spent by answering its KEYS
		 * with nothing left to a catch-up under way, and all by one
		 * that finds nothing to repair */
		if (p->in_sync)
			p->repairing = 0;
		else if (p->repairing && p->repair_keyed && !p->repair_held)
			p->repairing--;
		p->repair_keyed = p->repair_held = false;
		p->differing = p->differing_acc;
		p->differing_acc = 0;
		/* we agree, and it may not know: our DIGEST tells it at once.
		 * At most one answer to a peer between two of our rounds, so
		 * that two nodes cannot answer each other's answers on and on */
		if (answer) {
			p->answered_round = g->st.rounds + 1;
			p->dg_reanswers = ended ? DG_RETRIES : 0;
			p->dg_reanswer_until = g->now_ms + 2 * peer_pto_ms(p, DG_RETRIES);
			g->st.digests_answered++;
			rounds_send_digest(g, &p, 1);
		} else if (again) {
			p->dg_reanswers--;
			g->st.digests_reanswered++;
			rounds_send_digest(g, &p, 1);
		}
	}
	/* a range may repeat a group: each once, in order */
	for (size_t i = 0; i < g->nddiff && n < DIGEST_BUCKETS; i++) {
		uint32_t grp = g->ddiff[i];
		if (i && grp <= g->ddiff[i - 1])
			continue;
		for (uint32_t k = 0; k < (1u << DIGEST_GROUP_BITS); k++)
			idx[n++] = (grp << DIGEST_GROUP_BITS) + k;
	}
	if (n && p && catchup_walking(p)) {
		/* our resync sends it every instance we hold, and its end our
		 * DIGEST: descending now would list the store's keys both ways
		 * (16 bytes a key) only to find them on their way */
		g->st.digest_walk_skips++;
		n = 0;
	}
	if (n && p)
		send_sums(g, &p, 1, WIRE_BUCKETS, g->dg->bucket, idx, n);
	return 0;
}

/* Up to @per of our (key, fingerprint) pairs, from member @i of @m (in
 * key order @kv if given) on: at least member @i's, and never part of a
 * member's (one name's types share its key).  Returns the member after. */
static size_t keys_take(struct gossip_core *g, const struct digest_members *m,
			const struct digest_keyed *kv, size_t nm, size_t i, size_t per,
			uint64_t (*pairs)[2], size_t *n)
{
	for (*n = 0; i < nm; i++) {
		struct store_entry *e = kv ? kv[i].e : m->v[i];
		uint64_t key = kv ? kv[i].key : digest_name_key(e->name, e->name_len);
		uint64_t fp[CRDT_TYPE_MAX + 1];
		size_t k = 0;

		for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
			const struct store_inst *in = store_entry_inst(e, (enum crdt_type)t);
			if (in && (fp[k] = digest_counted(g->dg, in)))
				k++;
		}
		if (*n && *n + k > per)
			break;
		for (size_t j = 0; j < k; j++, (*n)++) {
			pairs[*n][0] = key;
			pairs[*n][1] = fp[j];
		}
	}
	return i;
}

/* One KEYS datagram to @p: bucket @b's pairs @pairs[0..n), covering keys
 * @from to @to. */
static void keys_put(struct gossip_core *g, struct peer *p, uint32_t b, uint64_t from,
		     uint64_t to, uint64_t (*pairs)[2], size_t n)
{
	dgram_start(g, WIRE_KEYS);
	wire_put_keys_head(&g->dbuf, b, from, to);
	for (size_t k = 0; k < n; k++)
		wire_put_key(&g->dbuf, pairs[k][0], pairs[k][1]);
	dgram_send(g, &p, 1);
}

static size_t keys_per_dgram(const struct gossip_core *g, uint32_t b)
{
	return (dgram_budget(g) - wire_header_len(g->node_len) - wire_keys_head_len(b)) / 16;
}

/* Our (key, fingerprint) pairs of a crowded bucket @b from key @*from on,
 * as KEYS datagrams to @p, in the key order its members keep, each covering
 * the key range up to where the next one starts: until done (true) or
 * until a slice's budget has passed since @t0, after one datagram at least
 * (false, @*from where the next slice goes on).  A bucket of 50,000 names
 * is 625 datagrams: 15-22 ms in one call.  Members that join meanwhile are
 * compared at the next exchange. */
static bool send_keys_crowded(struct gossip_core *g, struct peer *p, uint32_t b,
			      uint64_t *from, uint64_t t0)
{
	const struct digest_members *m = &g->dg->members[b];
	const struct digest_keyed *kv;
	size_t per = keys_per_dgram(g, b), n, i = 0, nm;
	uint64_t (*pairs)[2] = malloc(per * sizeof(*pairs));
	int64_t r;

	if (!pairs || (r = digest_keyed_between(g->dg, b, *from, UINT64_MAX, &kv)) < 0) {
		free(pairs);
		return true; /* the next round asks again */
	}
	nm = (size_t)r;
	for (;;) {
		size_t next = keys_take(g, m, kv, nm, i, per, pairs, &n);
		uint64_t to = next < nm ? kv[next].key - 1 : UINT64_MAX;

		/* one key over a datagram's pairs (a crafted collision): the
		 * range ends with it, and the next begins with it again */
		if (next < nm && kv[next].key == kv[next - 1].key)
			to = kv[next].key;
		keys_put(g, p, b, *from, to, pairs, n);
		if (next >= nm)
			break;
		*from = kv[next].key;
		i = next;
		if (core_slice_spent(g, t0)) {
			free(pairs);
			return false;
		}
	}
	free(pairs);
	return true;
}

static int key_cmp(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Our (key, fingerprint) pairs of bucket @b, as KEYS datagrams to @p:
 * sorted by key, cut where a datagram is full but never between equal
 * keys, each covering the key range up to where the next one starts.  A
 * crowded bucket's go from @*from on, a slice at a time (send_keys_crowded):
 * whether all went. */
static bool send_keys(struct gossip_core *g, struct peer *p, uint32_t b, uint64_t *from,
		      uint64_t t0)
{
	const struct digest_members *m = &g->dg->members[b];
	size_t per = keys_per_dgram(g, b), n;
	uint64_t (*pairs)[2];

	if (m->n > DIGEST_CROWDED)
		return send_keys_crowded(g, p, b, from, t0);
	/* at most DIGEST_CROWDED members, each a pair a type */
	if (!(pairs = malloc(((size_t)m->n * (CRDT_TYPE_MAX - CRDT_TYPE_MIN + 1) + 1) *
			     sizeof(*pairs))))
		return true; /* the next round asks again */
	(void)keys_take(g, m, NULL, m->n, 0, SIZE_MAX, pairs, &n);
	if (n)
		qsort(pairs, n, sizeof(*pairs), key_cmp);
	for (size_t i = 0;;) {
		size_t end = i + per < n ? i + per : n;
		uint64_t lo = i ? pairs[i][0] : 0, to;

		/* equal keys (one name, two types) stay in one datagram */
		while (end < n && end > i + 1 && pairs[end][0] == pairs[end - 1][0])
			end--;
		to = end < n ? pairs[end][0] - 1 : UINT64_MAX;
		keys_put(g, p, b, lo, to, pairs + i, end - i);
		if (end >= n)
			break;
		i = end;
	}
	free(pairs);
	return true;
}

/* The first bucket marked in @bits at or after @from, wrapping round (one
 * is marked). */
static uint32_t next_marked(const uint64_t *bits, uint32_t from)
{
	uint32_t w = from / 64;
	uint64_t x = bits[w] & (~UINT64_C(0) << (from % 64));

	while (!x) { /* the next word, round to the first one, whole */
		w = (w + 1) % (DIGEST_BUCKETS / 64);
		x = bits[w];
	}
	return w * 64 + (uint32_t)__builtin_ctzll(x);
}

/* A bucket is about 250 instances at 1,000,000 names, and a write storm
 * leaves every bucket differing: the KEYS of the 128 buckets one BUCKETS
 * datagram lists took 15-37 ms of CPU in one call.  They go a slice at a
 * time, from a cursor, in bucket order. */
bool rounds_send_keys(struct gossip_core *g, struct peer *p, uint64_t t0)
{
	if (peer_down(p)) { /* the next exchange asks again */
		memset(p->keys_due, 0, sizeof(p->keys_due));
		p->nkeys_due = p->keys_at = p->keys_part = 0;
	}
	while (p->keys_part || p->nkeys_due) {
		uint32_t b;
		uint64_t from = 0;

		if (p->keys_part) { /* a crowded bucket's rest first */
			b = p->keys_part - 1;
			from = p->keys_from;
			p->keys_part = 0;
		} else {
			b = next_marked(p->keys_due, p->keys_at);
			p->keys_due[b / 64] &= ~(UINT64_C(1) << (b % 64));
			p->nkeys_due--;
			p->keys_at = (b + 1) % DIGEST_BUCKETS;
		}
		if (!send_keys(g, p, b, &from, t0)) {
			p->keys_part = b + 1;
			p->keys_from = from;
			break;
		}
		if (core_slice_spent(g, t0))
			break;
	}
	if (!p->keys_part && !p->nkeys_due) {
		p->keys_at = 0;
		return true;
	}
	g->io.tick_wanted(g->io.ctx, 0);
	return false;
}

/* A peer's bucket sums: our keys for every bucket that differs (sent a
 * slice at a time, rounds_send_keys). */
int rounds_on_buckets(struct gossip_core *g, struct peer *p, const uint8_t *body, size_t len)
{
	struct sums_cmp c = { g, g->dg->bucket };
	int r;

	/* our sums as our DIGEST that began this exchange sent them: a
	 * refresh here would fingerprint again every instance changed since,
	 * once for each BUCKETS datagram */
	g->nddiff = 0;
	r = wire_decode_sums(body, len, DIGEST_BITS, DIGEST_GROUP_BITS, true, sums_cmp_cb, &c);
	if (r < 0)
		return r;
	if (p)
		p->dg_retries = 0; /* our DIGEST came: this is its answer */
	if (p && g->nddiff && catchup_walking(p)) { /* as in rounds_on_digest */
		g->st.digest_walk_skips++;
		return 0;
	}
	for (size_t i = 0; i < g->nddiff; i++) {
		uint32_t b = g->ddiff[i];
		if (i && b <= g->ddiff[i - 1])
			continue;
		g->st.digest_buckets_differing++;
		if (p && !(p->keys_due[b / 64] & (UINT64_C(1) << (b % 64)))) {
			p->keys_due[b / 64] |= UINT64_C(1) << (b % 64);
			p->nkeys_due++;
		}
	}
	if (p && p->nkeys_due)
		(void)rounds_send_keys(g, p, core_slice_start(g));
	return 0;
}

/* A peer's keys for part of a bucket: every instance of ours in that part
 * whose (key, fingerprint) it lacks goes to it whole, by its catch-up. */
int rounds_on_keys(struct gossip_core *g, struct peer *p, const uint8_t *body, size_t len)
{
	const struct digest_members *m;
	const struct digest_keyed *kv = NULL;
	size_t nkv = 0;
	struct wire_keys k;
	uint64_t (*pairs)[2] = NULL;
	bool room; /* a window has room: a queued write goes at the next push */
	bool repair;
	int r;

	if ((r = wire_decode_keys(body, len, DIGEST_BITS, &k)) < 0)
		return r;
	if (!p)
		return 0;
	if (catchup_walking(p)) { /* as in rounds_on_digest */
		g->st.digest_walk_skips++;
		return 0;
	}
	/* a repair's exchange: one that began once the intervals sent again
	 * were acknowledged (before, what differs is mostly on its way) */
	repair = p->repairing > 0 && p->acked_at_digest >= p->repair_upto;
	if (repair)
		p->repair_keyed = true;
	room = g->dlog.last < core_window_end(g);
	/* our fingerprints as the DIGEST from it that began this exchange
	 * found them (on_digest refreshed them); an instance changed since is
	 * compared again at the next exchange */
	/* sorted, to look ours up; the count is bounded by the datagram */
	if (k.n && !(pairs = malloc(k.n * sizeof(*pairs))))
		return -ENOMEM;
	for (size_t i = 0; i < k.n; i++)
		wire_keys_get(&k, i, &pairs[i][0], &pairs[i][1]);
	if (k.n)
		qsort(pairs, k.n, sizeof(*pairs), key_cmp);
	/* ours in the datagram's key range: a crowded bucket's from its key
	 * order (a pass over all its members a datagram costs its size
	 * squared an exchange); else, or without memory for that order, a
	 * pass */
	m = &g->dg->members[k.bucket];
	if (m->n > DIGEST_CROWDED) {
		int64_t n = digest_keyed_between(g->dg, k.bucket, k.from, k.to, &kv);
		if (n >= 0)
			nkv = (size_t)n;
		else
			kv = NULL;
	}
	for (size_t i = 0; i < (kv ? nkv : m->n); i++) {
		struct store_entry *e = kv ? kv[i].e : m->v[i];
		uint64_t key = kv ? kv[i].key : digest_name_key(e->name, e->name_len);
		bool differs = false;

		if (key < k.from || key > k.to)
			continue;
		for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX && !differs; t++) {
			const struct store_inst *in = store_entry_inst(e, (enum crdt_type)t);
			uint64_t want[2] = { key, in ? digest_counted(g->dg, in) : 0 };
			differs = want[1] &&
				  (!k.n || !bsearch(want, pairs, k.n, sizeof(*pairs), key_cmp));
		}
		if (!differs)
			continue;
		p->differing_acc++;
		/* A delta of it was on its way to the peer, not acknowledged
		 * when its DIGEST came (so its digest may lack it): the
		 * difference may be just that, and that delta, sent again until
		 * acknowledged, settles it for a few bytes where the whole
		 * instance may be megabytes.  Likewise a write of it waiting in
		 * the push queue for push_delay_ms, in no interval yet, while a
		 * window has room for it; not one held there because every
		 * window is shut (loss, a slow peer): the whole instance is the
		 * way round that (at 50 % loss, leaving it to the deltas took
		 * a 50,000-element convergence from 2.3 s to 29.5 s).  The next
		 * exchange compares again.  Not in a repair: a peer that
		 * restarted may have lost what came before that write, and
		 * while the key is written on the exchanges would skip it. */
		if (!repair && g->deltas &&
		    ((gentry(g, e)->dseq && gentry(g, e)->dseq > p->acked_at_digest) ||
		     (gentry(g, e)->qpos && room))) {
			g->st.digest_in_flight++;
			continue;
		}
		/* The same for a catch-up to it that was under way when this
		 * exchange began, and for an instance any peer sent us deltas
		 * or pieces of within the last round: that one is writing it
		 * (or sending it) now, to this peer as to us, and the two
		 * copies differ by what is on its way.  Two replicas that only
		 * receive a third's writes to a 1,000,000-element set otherwise
		 * found it differing at every exchange and sent it whole to
		 * each other (10,000 datagrams each way, while 1,000 SADDs a
		 * second went on).  What one of them holds and the writer's
		 * stream will not bring is sent once the stream stops.  In a
		 * repair, only the catch-up's rule holds: what it lost may be
		 * what came before the stream, and every writer of the
		 * instance receives the others' writes. */
		if (p->cu_busy || (!repair && catchup_receiving_any(g, key))) {
			g->st.digest_in_flight++;
			p->repair_held |= repair;
			continue;
		}
		g->st.digest_instances_sent++;
		catchup_add(g, p, e->name, e->name_len);
	}
	free(pairs);
	catchup_pump(g, p);
	return 0;
}
