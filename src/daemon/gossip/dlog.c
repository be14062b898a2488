/* The delta log and the per-peer acknowledgement windows (gossip/dlog.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/dlog.h"

int dlog_init(struct dlog *l, size_t max, size_t max_bytes)
{
	*l = (struct dlog){ .cap = max ? max : 1, .max_bytes = max_bytes };
	if (!(l->v = calloc(l->cap, sizeof(*l->v))))
		return -ENOMEM;
	return 0;
}

void dlog_done(struct dlog *l)
{
	while (l->n)
		dlog_drop_oldest(l);
	free(l->v);
	l->v = NULL;
}

uint64_t dlog_first(const struct dlog *l)
{
	return l->last + 1 - l->n;
}

const struct dlog_int *dlog_get(const struct dlog *l, uint64_t seq)
{
	uint64_t first = dlog_first(l);

	if (seq < first || seq > l->last)
		return NULL;
	return &l->v[(l->head + (size_t)(seq - first)) % l->cap];
}

bool dlog_full(const struct dlog *l, size_t len)
{
	return l->n && (l->n == l->cap || l->bytes + len > l->max_bytes);
}

void dlog_drop_oldest(struct dlog *l)
{
	struct dlog_int *i = &l->v[l->head];

	l->bytes -= i->len;
	free(i->d);
	*i = (struct dlog_int){ 0 };
	l->head = (l->head + 1) % l->cap;
	l->n--;
}

int dlog_append(struct dlog *l, const uint8_t *d, size_t len, uint64_t now_ms)
{
	struct dlog_int *i = &l->v[(l->head + l->n) % l->cap];
	uint8_t *c = malloc(len ? len : 1);

	if (!c || l->n == l->cap) {
		free(c);
		return -ENOMEM;
	}
	memcpy(c, d, len);
	*i = (struct dlog_int){ .seq = ++l->last, .d = c, .len = len, .made_ms = now_ms };
	l->bytes += len;
	l->n++;
	return 0;
}

#define WORDS (DLOG_WINDOW / 64)

/* The window's bits shifted down by @k: bit i becomes bit i - k. */
static void shift_down(struct dlog_peer *p, uint64_t k)
{
	size_t w = k / 64;
	unsigned r = (unsigned)(k % 64);

	if (k >= DLOG_WINDOW) {
		memset(p->bits, 0, sizeof(p->bits));
		return;
	}
	for (size_t i = 0; i < WORDS; i++) {
		uint64_t lo = i + w < WORDS ? p->bits[i + w] : 0;
		uint64_t hi = i + w + 1 < WORDS ? p->bits[i + w + 1] : 0;
		p->bits[i] = r ? lo >> r | hi << (64 - r) : lo;
	}
}

/* Fold the bits that follow acked into it. */
static void settle(struct dlog_peer *p)
{
	uint64_t k = 0;

	while (k < DLOG_WINDOW && (p->bits[k / 64] >> (k % 64) & 1))
		k++;
	if (k) {
		shift_down(p, k);
		p->acked += k;
	}
}

void dlog_peer_upto(struct dlog_peer *p, uint64_t seq)
{
	if (seq <= p->acked)
		return;
	shift_down(p, seq - p->acked);
	p->acked = seq;
	if (p->sent < seq)
		p->sent = seq;
	settle(p);
}

int dlog_peer_ack(struct dlog_peer *p, uint64_t seq, uint64_t last)
{
	uint64_t off;

	if (seq > last)
		return -ERANGE;
	if (seq <= p->acked)
		return 0;
	off = seq - p->acked - 1;
	if (off >= DLOG_WINDOW)
		return -ERANGE;
	p->bits[off / 64] |= 1ull << (off % 64);
	settle(p);
	return 0;
}

bool dlog_peer_has(const struct dlog_peer *p, uint64_t seq)
{
	uint64_t off;

	if (seq <= p->acked)
		return true;
	off = seq - p->acked - 1;
	return off < DLOG_WINDOW && (p->bits[off / 64] >> (off % 64) & 1);
}

uint64_t dlog_peer_top(const struct dlog_peer *p)
{
	for (size_t i = WORDS; i-- > 0;)
		if (p->bits[i])
			return p->acked + 64 * i + 64 - (uint64_t)__builtin_clzll(p->bits[i]);
	return p->acked;
}

uint64_t dlog_peer_pending(const struct dlog_peer *p, uint64_t last)
{
	if (last <= p->acked)
		return 0;
	uint64_t n = 0;

	for (size_t i = 0; i < WORDS; i++)
		n += (uint64_t)__builtin_popcountll(p->bits[i]);
	return last - p->acked - n;
}
