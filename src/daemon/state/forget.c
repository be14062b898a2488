/* The recently reclaimed names of the store (state/forget.h): a counted
 * hash set with a time-ordered ring to expire it. */
#include <errno.h>
#include <stdlib.h>

#include "state/forget.h"

void forget_init(struct forget *f)
{
	*f = (struct forget){ 0 };
}

void forget_done(struct forget *f)
{
	if (!f)
		return;
	free(f->key);
	free(f->cnt);
	free(f->ring);
	forget_init(f);
}

static uint64_t norm(uint64_t h)
{
	return h ? h : 1;
}

/* The slot of @h, or the empty slot where it would go (cap > len). */
static size_t slot(const struct forget *f, uint64_t h)
{
	size_t m = f->cap - 1, i = (size_t)(h ^ h >> 29) & m;

	while (f->key[i] && f->key[i] != h)
		i = (i + 1) & m;
	return i;
}

static int rehash(struct forget *f, size_t cap)
{
	uint64_t *key = calloc(cap, sizeof(*key));
	uint32_t *cnt = calloc(cap, sizeof(*cnt));
	struct forget old = *f;

	if (!key || !cnt) {
		free(key);
		free(cnt);
		return -ENOMEM;
	}
	f->key = key;
	f->cnt = cnt;
	f->cap = cap;
	for (size_t i = 0; i < old.cap; i++)
		if (old.key[i]) {
			size_t j = slot(f, old.key[i]);
			f->key[j] = old.key[i];
			f->cnt[j] = old.cnt[i];
		}
	free(old.key);
	free(old.cnt);
	return 0;
}

int forget_add(struct forget *f, uint64_t h, int64_t ms)
{
	size_t i;

	h = norm(h);
	if (f->n == f->rcap) {
		size_t cap = f->rcap ? 2 * f->rcap : 64;
		struct forget_rec *r = malloc(cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		for (size_t k = 0; k < f->n; k++)
			r[k] = f->ring[(f->head + k) % f->rcap];
		free(f->ring);
		f->ring = r;
		f->rcap = cap;
		f->head = 0;
	}
	/* at most half full, so probes stay short and always end */
	if ((f->len + 1) * 2 > f->cap && rehash(f, f->cap ? 2 * f->cap : 64) < 0)
		return -ENOMEM;
	i = slot(f, h);
	if (!f->key[i]) {
		f->key[i] = h;
		f->len++;
	}
	f->cnt[i]++;
	f->ring[(f->head + f->n++) % f->rcap] = (struct forget_rec){ h, ms };
	return 0;
}

bool forget_has(const struct forget *f, uint64_t h)
{
	return f->cap && f->key[slot(f, norm(h))];
}

/* Remove the key at @i, shifting back the ones after it that probed past
 * it, so that no probe ever stops short of its key. */
static void remove_at(struct forget *f, size_t i)
{
	size_t m = f->cap - 1, j = i;

	f->key[i] = 0;
	f->cnt[i] = 0;
	for (;;) {
		uint64_t k;
		size_t home;

		j = (j + 1) & m;
		if (!f->key[j])
			break;
		k = f->key[j];
		home = (size_t)(k ^ k >> 29) & m;
		/* the key at j may move to i when its home is not in (i, j] */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			f->key[i] = f->key[j];
			f->cnt[i] = f->cnt[j];
			f->key[j] = 0;
			f->cnt[j] = 0;
			i = j;
		}
	}
	f->len--;
}

size_t forget_expire(struct forget *f, int64_t before_ms, size_t max)
{
	size_t n = 0;

	while (n < max && f->n && f->ring[f->head].ms < before_ms) {
		size_t i = slot(f, f->ring[f->head].h);

		if (f->key[i] && --f->cnt[i] == 0)
			remove_at(f, i);
		f->head = (f->head + 1) % f->rcap;
		f->n--;
		n++;
	}
	return n;
}
