/* The dot index: merging a small piece into a large set must find the set's
 * elements whose dots the piece's context covers without scanning the set.
 * Per replica, a sorted directory of leaves, each covering 256 consecutive
 * counters: a 256-bit map of the counters that are live dots and, in
 * counter order, the 32-bit hash of the element holding each.  A hash plus
 * the dot finds the slot (probe from the hash's home for the entry with
 * that hash holding that dot), so the index survives rehashes and
 * backward shifts untouched.  Dense counters cost 4.25 bytes a dot.  The
 * index is a cache: the bulk merge path and the decoder leave it unbuilt
 * (ix_ok false), a failed allocation drops it, and the next small merge
 * rebuilds it in one pass (a cut, in slices).  Local adds build it when a
 * set reaches PIECES_UNINDEXED + 1 elements (crdt_orset_add).
 */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "internal.h"
#include "crdt/sort.h"

static inline unsigned leaf_rank(const struct ixleaf *l, unsigned p)
{
	unsigned r = 0, w = p / 64;

	for (unsigned k = 0; k < w; k++)
		r += (unsigned)__builtin_popcountll(l->bits[k]);
	if (p % 64)
		r += (unsigned)__builtin_popcountll(l->bits[w] & ((1ULL << (p % 64)) - 1));
	return r;
}

/* The position of @l's last dot; -1 in none. */
static inline int leaf_last(const struct ixleaf *l)
{
	for (unsigned w = IX_WORDS; w-- > 0;)
		if (l->bits[w])
			return (int)(w * 64 + 63) - __builtin_clzll(l->bits[w]);
	return -1;
}

static inline bool leaf_has(const struct ixleaf *l, unsigned p)
{
	return l->bits[p / 64] >> (p % 64) & 1;
}

/* First leaf of @d with base >= @b.  A directory with a leaf for every
 * base from its first to its last (a replica's dense counters: a set
 * loaded by one replica, or caught up from it) is indexed directly: the
 * binary search cost a cache miss a step, most of building a
 * 1,000,000-element set's index (docs/benchmarks.md). */
static uint32_t ix_lower(const struct ixdir *d, uint64_t b)
{
	uint32_t lo = 0, hi = d->n;

	if (d->n && d->v[d->n - 1]->base - d->v[0]->base == d->n - 1) {
		uint64_t b0 = d->v[0]->base;
		return b <= b0 ? 0 : b - b0 >= d->n ? d->n : (uint32_t)(b - b0);
	}

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (d->v[mid]->base < b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void ix_drop(struct crdt_orset *s)
{
	for (uint32_t i = 0; i < s->capreps; i++) {
		struct ixdir *d = &s->reps[i].ix;
		for (uint32_t k = 0; k < d->n; k++)
			free(d->v[k]);
		free(d->v);
		*d = (struct ixdir){ 0 };
	}
	s->ix_ok = false;
	s->ix_part = false;
}

/* Insert leaf @l at position @k of @d.  -ENOMEM. */
static int dir_insert(struct ixdir *d, uint32_t k, struct ixleaf *l)
{
	if (d->n == d->cap) {
		uint32_t cap = d->cap ? 2 * d->cap : 4;
		struct ixleaf **v = realloc(d->v, cap * sizeof(*v));
		if (!v)
			return CRDT_ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	memmove(d->v + k + 1, d->v + k, (d->n - k) * sizeof(*d->v));
	d->v[k] = l;
	d->n++;
	return 0;
}

static struct ixleaf *leaf_new(uint64_t base, uint32_t cap)
{
	struct ixleaf *l = malloc(sizeof(*l) + cap * sizeof(l->h[0]));

	if (l) {
		memset(l, 0, sizeof(*l));
		l->base = base;
		l->cap = cap;
	}
	return l;
}

/* Record dot (@ri, @ctr) of the element hashed @h.  -ENOMEM, or -EBADMSG if
 * the dot is already indexed (two elements holding one dot: a state no
 * replica makes, which only a hostile peer could send). */
static int ix_add_raw(struct crdt_orset *s, uint32_t ri, uint64_t ctr, uint32_t h)
{
	struct ixdir *d = &s->reps[ri].ix;
	uint64_t b = ctr >> IX_SHIFT;
	unsigned p = (unsigned)(ctr & (IX_SPAN - 1)), r;
	struct ixleaf *l;
	uint32_t k;

	/* Local adds and fresh remote dots land at the end. */
	if (d->n && d->v[d->n - 1]->base <= b)
		k = d->v[d->n - 1]->base == b ? d->n - 1 : d->n;
	else
		k = ix_lower(d, b);
	if (k < d->n && d->v[k]->base == b) {
		l = d->v[k];
		if (leaf_has(l, p))
			return CRDT_EBADMSG;
		if (l->n == l->cap) {
			uint32_t cap = l->cap * 2 < IX_SPAN ? l->cap * 2 : IX_SPAN;
			l = realloc(l, sizeof(*l) + cap * sizeof(l->h[0]));
			if (!l)
				return CRDT_ENOMEM;
			l->cap = cap;
			d->v[k] = l;
		}
	} else {
		l = leaf_new(b, 4);
		if (!l)
			return CRDT_ENOMEM;
		if (dir_insert(d, k, l) < 0) {
			free(l);
			return CRDT_ENOMEM;
		}
	}
	r = (int)p > leaf_last(l) ? l->n : leaf_rank(l, p);
	memmove(l->h + r + 1, l->h + r, (l->n - r) * sizeof(l->h[0]));
	l->h[r] = h;
	l->bits[p / 64] |= 1ULL << (p % 64);
	l->n++;
	return 0;
}

void ix_add(struct crdt_orset *s, uint32_t ri, uint64_t ctr, uint32_t h)
{
	if ((s->ix_ok || s->ix_part) && ix_add_raw(s, ri, ctr, h) < 0)
		ix_drop(s);
}

static inline bool ixent_lt(const struct ixent *a, const struct ixent *b)
{
	return a->ri != b->ri ? a->ri < b->ri : a->ctr < b->ctr;
}

/* @v by dot */
SORT_DEFINE(ixent_qsort, struct ixent, ixent_lt)

/* Dots @v[0..n), ascending, of one replica and one leaf's span, added at
 * once when they all come after the leaf's last: 0, 1 if some do not (the
 * caller adds them one by one), -ENOMEM, -EBADMSG for a dot twice. */
static int ix_append(struct crdt_orset *s, const struct ixent *v, size_t n)
{
	struct ixdir *d = &s->reps[v[0].ri].ix;
	uint64_t b = v[0].ctr >> IX_SHIFT;
	uint32_t k, cap = 4;
	struct ixleaf *l;

	if (d->n && d->v[d->n - 1]->base <= b)
		k = d->v[d->n - 1]->base == b ? d->n - 1 : d->n;
	else
		k = ix_lower(d, b);
	l = k < d->n && d->v[k]->base == b ? d->v[k] : NULL;
	if (l && (int)(v[0].ctr & (IX_SPAN - 1)) <= leaf_last(l))
		return 1;
	while (cap < (l ? l->n : 0) + n && cap < IX_SPAN)
		cap *= 2;
	if (!l) {
		if (!(l = leaf_new(b, cap)))
			return CRDT_ENOMEM;
		if (dir_insert(d, k, l) < 0) {
			free(l);
			return CRDT_ENOMEM;
		}
	} else if (cap > l->cap) {
		if (!(l = realloc(l, sizeof(*l) + cap * sizeof(l->h[0]))))
			return CRDT_ENOMEM;
		l->cap = cap;
		d->v[k] = l;
	}
	for (size_t x = 0; x < n; x++) {
		unsigned p = (unsigned)(v[x].ctr & (IX_SPAN - 1));
		if (x && v[x].ctr == v[x - 1].ctr)
			return CRDT_EBADMSG;
		l->h[l->n++] = v[x].h;
		l->bits[p / 64] |= 1ULL << (p % 64);
	}
	return 0;
}

void ix_add_all(struct crdt_orset *s, struct ixent *v, size_t n)
{
	uint64_t lo = n ? v[0].ctr : 0, hi = lo;
	size_t i = 1;
	bool one = true;

	if (!s->ix_ok && !s->ix_part)
		return;
	while (i < n && ixent_lt(&v[i - 1], &v[i]))
		i++;
	for (size_t k = 0; i < n && k < n; k++) {
		one = one && v[k].ri == v[0].ri;
		lo = v[k].ctr < lo ? v[k].ctr : lo;
		hi = v[k].ctr > hi ? v[k].ctr : hi;
	}
	if (i < n && one && hi - lo < 4 * (uint64_t)n && n <= 512) {
		/* One replica's counters close together (a piece's): placed
		 * by counter, no compares (32 KiB of stack at most).  A dot
		 * held twice (no replica makes that) drops the index, as
		 * ix_add does. */
		struct ixent w[4 * 512];
		uint64_t seen[4 * 512 / 64] = { 0 };
		size_t m = 0;
		for (size_t k = 0; k < n; k++) {
			size_t at = (size_t)(v[k].ctr - lo);
			if (seen[at / 64] >> (at % 64) & 1) {
				ix_drop(s);
				return;
			}
			seen[at / 64] |= 1ULL << (at % 64);
			w[at] = v[k];
		}
		for (size_t at = 0; at <= hi - lo; at++)
			if (seen[at / 64] >> (at % 64) & 1)
				v[m++] = w[at];
	} else if (i < n) {
		ixent_qsort(v, n);
	}
	/* then each leaf's run at once */
	i = 0;
	for (size_t j; i < n && (s->ix_ok || s->ix_part); i = j) {
		uint64_t b = v[i].ctr >> IX_SHIFT;
		int r;
		for (j = i + 1; j < n && v[j].ri == v[i].ri && v[j].ctr >> IX_SHIFT == b; j++)
			;
		if ((r = ix_append(s, v + i, j - i)) < 0)
			ix_drop(s);
		for (size_t k = i; r > 0 && k < j; k++)
			ix_add(s, v[k].ri, v[k].ctr, v[k].h);
	}
}

void ix_del(struct crdt_orset *s, uint32_t ri, uint64_t ctr)
{
	struct ixdir *d;
	struct ixleaf *l;
	uint64_t b = ctr >> IX_SHIFT;
	unsigned p = (unsigned)(ctr & (IX_SPAN - 1)), r;
	uint32_t k;

	if (!s->ix_ok && !s->ix_part)
		return;
	d = &s->reps[ri].ix;
	k = ix_lower(d, b);
	if (k == d->n || d->v[k]->base != b || !leaf_has(d->v[k], p)) {
		/* being built: a dot its slices have not reached yet; built:
		 * cannot happen, never trust an index that disagrees */
		if (!s->ix_part)
			ix_drop(s);
		return;
	}
	l = d->v[k];
	r = leaf_rank(l, p);
	memmove(l->h + r, l->h + r + 1, (l->n - r - 1) * sizeof(l->h[0]));
	l->bits[p / 64] &= ~(1ULL << (p % 64));
	if (--l->n == 0) {
		free(l);
		memmove(d->v + k, d->v + k + 1, (d->n - k - 1) * sizeof(*d->v));
		d->n--;
	} else if (l->cap >= 16 && l->n < l->cap / 4) {
		struct ixleaf *nl = realloc(l, sizeof(*l) + l->cap / 2 * sizeof(l->h[0]));
		if (nl) { /* else it stays larger */
			nl->cap /= 2;
			d->v[k] = nl;
		}
	}
}

void ix_del_dots(struct crdt_orset *s, const struct et_slot *e)
{
	const struct dot *d;
	struct dot t;
	size_t n = get_dots(s, e->pay, &t, &d);

	for (size_t x = 0; x < n && (s->ix_ok || s->ix_part); x++)
		ix_del(s, d[x].ri, d[x].ctr);
}

static bool slot_has_dot(const struct crdt_orset *s, const struct et_slot *e, uint32_t ri,
			 uint64_t ctr)
{
	const struct dot *d;
	struct dot t;
	size_t n = get_dots(s, e->pay, &t, &d);

	return dots_have(d, n, ri, ctr);
}

struct et_slot *slot_of_dot(const struct crdt_orset *s, uint32_t h, uint32_t ri,
				   uint64_t ctr)
{
	const struct elemtab *t = &s->tab;

	if (!t->s)
		return NULL;
	for (uint32_t i = et_home(t, h);; i++) {
		struct et_slot *e = &t->s[i];
		if (!et_used(e) || e->hash > h)
			return NULL;
		if (e->hash == h && slot_has_dot(s, e, ri, ctr))
			return e;
	}
}

struct et_slot *slot_of_dot_at(const struct crdt_orset *s, uint32_t at, uint32_t h, uint32_t ri,
			       uint64_t ctr)
{
	struct et_slot *e = at < et_cap(&s->tab) ? &s->tab.s[at] : NULL;

	if (e && et_used(e) && e->hash == h && slot_has_dot(s, e, ri, ctr))
		return e;
	return slot_of_dot(s, h, ri, ctr);
}

/* LSD radix sort of @v by (ri, ctr), bytes that are the same in every
 * entry skipped (counters rarely use more than three).  @tmp as large. */
static void ixent_sort(struct ixent *v, struct ixent *tmp, size_t n)
{
	for (unsigned pass = 0; pass < 10; pass++) {
		size_t cnt[256] = { 0 }, pos = 0;
		unsigned sh = pass < 8 ? pass * 8 : (pass - 8) * 8;
#define DIGIT(x) ((pass < 8 ? (x).ctr >> sh : (uint64_t)(x).ri >> sh) & 0xff)
		for (size_t i = 0; i < n; i++)
			cnt[DIGIT(v[i])]++;
		if (n == 0 || cnt[DIGIT(v[0])] == n)
			continue;
		for (unsigned k = 0; k < 256; k++) {
			size_t c = cnt[k];
			cnt[k] = pos;
			pos += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[cnt[DIGIT(v[i])]++] = v[i];
#undef DIGIT
		memcpy(v, tmp, n * sizeof(*v));
	}
}

/* Build the index from the table: one pass, a sort, and the leaves laid
 * down in order.  -ENOMEM, or -EBADMSG if two elements share a dot; the
 * index stays unbuilt on failure. */
int ix_build(struct crdt_orset *s)
{
	struct ixent *v = NULL, *tmp = NULL;
	size_t n = 0, k = 0;
	int r = CRDT_ENOMEM;

	if (s->ix_ok)
		return 0;
	ix_drop(s);
	for (size_t i = 0; i < et_cap(&s->tab); i++) {
		struct et_slot *e = &s->tab.s[i];
		const struct dot *d;
		struct dot t;
		if (et_used(e))
			n += get_dots(s, e->pay, &t, &d);
	}
	v = malloc((n ? n : 1) * sizeof(*v));
	tmp = malloc((n ? n : 1) * sizeof(*tmp));
	if (!v || !tmp)
		goto out;
	for (size_t i = 0; i < et_cap(&s->tab); i++) {
		struct et_slot *e = &s->tab.s[i];
		const struct dot *d;
		struct dot t;
		size_t m;
		if (!et_used(e))
			continue;
		m = get_dots(s, e->pay, &t, &d);
		for (size_t x = 0; x < m; x++)
			v[k++] = (struct ixent){ .ctr = d[x].ctr, .ri = d[x].ri, .h = e->hash };
	}
	ixent_sort(v, tmp, n);
	free(tmp);
	tmp = NULL;
	s->ix_ok = true; /* for ix_drop() on the way out */
	for (size_t i = 0, j; i < n; i = j) {
		struct ixdir *dir = &s->reps[v[i].ri].ix;
		uint64_t b = v[i].ctr >> IX_SHIFT;
		struct ixleaf *l;
		for (j = i; j < n && v[j].ri == v[i].ri && v[j].ctr >> IX_SHIFT == b; j++)
			if (j > i && v[j].ctr == v[j - 1].ctr) {
				r = CRDT_EBADMSG;
				goto fail;
			}
		if (!(l = leaf_new(b, (uint32_t)(j - i))))
			goto fail;
		if (dir_insert(dir, dir->n, l) < 0) {
			free(l);
			goto fail;
		}
		for (size_t x = i; x < j; x++) {
			unsigned p = (unsigned)(v[x].ctr & (IX_SPAN - 1));
			l->bits[p / 64] |= 1ULL << (p % 64);
			l->h[l->n++] = v[x].h;
		}
	}
	r = 0;
	goto out;
fail:
	ix_drop(s);
out:
	free(v);
	free(tmp);
	return r;
}


/* The hash indexed for dot (@ri, @ctr), which is indexed. */
static uint32_t ix_hash_at(const struct crdt_orset *s, uint32_t ri, uint64_t ctr)
{
	const struct ixdir *d = &s->reps[ri].ix;
	const struct ixleaf *l = d->v[ix_lower(d, ctr >> IX_SHIFT)];

	return l->h[leaf_rank(l, (unsigned)(ctr & (IX_SPAN - 1)))];
}

/* Slots of the table one slice covers: about 0.3 ms of ix_add_raw at
 * 1,000,000 elements (docs/benchmarks.md). */
#define IX_SLICE 2048

/* A slice takes the elements by hash, not by slot: the table is in hash
 * order and an element lies at or after its home, so the elements whose
 * hash is in [h0, h1) are the run of them from home(h0) on, whatever moved
 * (an insert's or a removal's shift, a growth) between two slices. */
int ix_build_some(struct crdt_orset *s)
{
	const struct elemtab *t = &s->tab;
	uint64_t h0, h1;
	uint32_t i;

	if (s->ix_ok)
		return 1;
	if (!s->ix_part) {
		ix_drop(s);
		s->ix_part = true;
		s->ix_next = 0;
	}
	if (!t->s || s->ix_next >= 1ULL << 32) {
		s->ix_part = false;
		s->ix_ok = true;
		return 1;
	}
	h0 = s->ix_next;
	h1 = h0 + (((uint64_t)IX_SLICE << 32) + t->hcap - 1) / t->hcap;
	if (h1 > 1ULL << 32)
		h1 = 1ULL << 32;
	/* the slice's elements, a run in elemtab order from h0's home on */
	for (i = et_home(t, (uint32_t)h0); i < t->cap; i++) {
		const struct et_slot *e = &t->s[i];
		const struct dot *d;
		struct dot tmp;
		size_t n;
		if (!et_used(e) || e->hash < h0)
			continue;
		if (e->hash >= h1)
			break;
		n = get_dots(s, e->pay, &tmp, &d);
		for (size_t x = 0; x < n; x++) {
			int r = ix_add_raw(s, d[x].ri, d[x].ctr, e->hash);
			/* already there: added since the build began, or two
			 * elements holding one dot (a state no replica makes) */
			if (r == CRDT_EBADMSG && ix_hash_at(s, d[x].ri, d[x].ctr) == e->hash)
				continue;
			if (r < 0) {
				ix_drop(s);
				return r;
			}
		}
	}
	s->ix_next = h1;
	if (h1 < 1ULL << 32)
		return 0;
	s->ix_part = false;
	s->ix_ok = true;
	return 1;
}

/* The positions [*p0, *p1] of leaf @l that counters [@lo, @hi] cover (the
 * leaf overlaps the range). */
static inline void leaf_span(const struct ixleaf *l, uint64_t lo, uint64_t hi, unsigned *p0,
			     unsigned *p1)
{
	uint64_t first = l->base << IX_SHIFT;

	*p0 = lo > first ? (unsigned)(lo - first) : 0;
	*p1 = hi - first < IX_SPAN ? (unsigned)(hi - first) : IX_SPAN - 1;
}

/* The bits of word @w of leaf @l at positions [@p0, @p1]. */
static inline uint64_t word_in(const struct ixleaf *l, unsigned w, unsigned p0, unsigned p1)
{
	uint64_t m = l->bits[w];

	if (w == p0 / 64)
		m &= ~0ULL << (p0 % 64);
	if (w == p1 / 64 && p1 % 64 != 63)
		m &= (1ULL << (p1 % 64 + 1)) - 1;
	return m;
}

/* How many dots ahead ix_range prefetches the element's home slot. */
#define IX_AHEAD 8

int ix_range(const struct crdt_orset *s, uint32_t ri, uint64_t lo, uint64_t hi, ix_cb cb,
		    void *ctx)
{
	const struct ixdir *d = &s->reps[ri].ix;

	for (uint32_t k = ix_lower(d, lo >> IX_SHIFT); k < d->n && d->v[k]->base <= hi >> IX_SHIFT;
	     k++) {
		const struct ixleaf *l = d->v[k];
		uint64_t first = l->base << IX_SHIFT;
		unsigned p0, p1, r;
		leaf_span(l, lo, hi, &p0, &p1);
		r = leaf_rank(l, p0);
		for (unsigned w = p0 / 64; w <= p1 / 64; w++) {
			uint64_t m = word_in(l, w, p0, p1);
			while (m) {
				unsigned b = (unsigned)__builtin_ctzll(m);
				/* the element of a dot a few ahead: its slot is
				 * a cache miss in a large table, and the callback
				 * (a cut, a merge) looks each one up in turn */
				if (r + IX_AHEAD < l->n)
					et_prefetch(&s->tab, l->h[r + IX_AHEAD]);
				int rc = cb(first + w * 64 + b, l->h[r++], ctx);
				if (rc)
					return rc;
				m &= m - 1;
			}
		}
	}
	return 0;
}

void ix_sum(const struct crdt_orset *s, uint32_t ri, uint64_t lo, uint64_t hi, uint64_t rh,
	    uint64_t *n, uint64_t *sum)
{
	const struct ixdir *d = &s->reps[ri].ix;

	for (uint32_t k = ix_lower(d, lo >> IX_SHIFT); k < d->n && d->v[k]->base <= hi >> IX_SHIFT;
	     k++) {
		const struct ixleaf *l = d->v[k];
		uint64_t first = l->base << IX_SHIFT;
		unsigned p0, p1;
		leaf_span(l, lo, hi, &p0, &p1);
		for (unsigned w = p0 / 64; w <= p1 / 64; w++) {
			uint64_t m = word_in(l, w, p0, p1);
			*n += (uint64_t)__builtin_popcountll(m);
			for (; m; m &= m - 1)
				*sum += piece_dot_hash(rh, first + w * 64 + (unsigned)__builtin_ctzll(m));
		}
	}
}
