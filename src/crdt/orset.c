/* OR-Set without tombstones: dots per element, a causal context of counter
 * intervals per replica (docs/types.md, docs/encoding.md).
 *
 * Memory layout, chosen so an element with one dot costs one 32-byte table
 * slot: the slot's 64-bit payload holds that dot inline (16-bit replica
 * index, 47-bit counter).  Elements with several dots (concurrent adds), or
 * a dot that does not fit, keep a sorted run in a per-set dot pool and the
 * payload holds the run's offset and length.  Runs freed by later writes are
 * counted and reclaimed by compaction, so merge never mallocs per element.
 *
 * Replicas are numbered in arrival order and never renumbered, so a new
 * replica costs nothing per element; the encoder maps them to the sorted
 * order the wire wants.
 *
 * Dot index: merging a small piece into a large set must find the set's
 * elements whose dots the piece's context covers without scanning the set.
 * Per replica, a sorted directory of leaves, each covering 256 consecutive
 * counters: a 256-bit map of the counters that are live dots and, in
 * counter order, the 32-bit hash of the element holding each.  A hash plus
 * the dot finds the slot (probe from the hash's home for the entry with
 * that hash holding that dot), so the index survives rehashes and
 * backward shifts untouched.  Dense counters cost 4.25 bytes a dot.  The
 * index is a cache: the bulk merge path and the decoder leave it unbuilt
 * (ix_ok false), a failed allocation drops it, and the next small merge
 * rebuilds it in one pass.
 */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "crdt/orset.h"
#include "elemtab.h"

#define PAY_SPILL (1ULL << 63)
#define IN_CTR_BITS 47
#define IN_CTR_MAX ((1ULL << IN_CTR_BITS) - 1)
#define PAY_NONE 0 /* counter 0 is never a dot: "dots pending" during merge */
#define MAX_REPLICAS 0xffffu
#define NONE UINT32_MAX

struct dot {
	uint64_t ctr;
	uint32_t ri;
	uint32_t pad;
};

struct ivl {
	uint64_t lo, hi;
};

#define IX_SHIFT 8
#define IX_SPAN (1u << IX_SHIFT) /* counters per leaf */
#define IX_WORDS (IX_SPAN / 64)

struct ixleaf {
	uint64_t base; /* counter >> IX_SHIFT */
	uint64_t bits[IX_WORDS];
	uint32_t n, cap;
	uint32_t h[]; /* element hashes, in counter order */
};

struct ixdir {
	struct ixleaf **v; /* sorted by base */
	uint32_t n, cap;
};

struct rep {
	struct crdt_rid rid;
	struct ivl *iv; /* sorted, disjoint, non-adjacent, never empty */
	uint32_t n, cap;
	struct ixdir ix; /* zeroed in every reps[] entry past nreps too */
};

struct crdt_orset {
	struct elemtab tab;
	struct rep *reps; /* arrival order; dots refer to the index */
	uint32_t *order;  /* indices of reps sorted by rid */
	uint32_t nreps, capreps;
	struct dot *pool;
	size_t plen, pcap, pfree; /* pfree: dots in dead runs */
	bool ix_ok;               /* the dot index matches the table */
};

/* ---- payload ---- */

static inline bool pay_spilled(uint64_t p)
{
	return p & PAY_SPILL;
}

static inline bool dot_inlinable(uint32_t ri, uint64_t ctr)
{
	return ri <= MAX_REPLICAS && ctr <= IN_CTR_MAX;
}

static inline uint64_t pay_inline(uint32_t ri, uint64_t ctr)
{
	return (uint64_t)ri << IN_CTR_BITS | ctr;
}

/* The dots of an element as a sorted array; *tmp holds an inline one. */
static inline size_t get_dots(const struct crdt_orset *s, uint64_t pay, struct dot *tmp,
			      const struct dot **ret)
{
	if (pay_spilled(pay)) {
		*ret = s->pool + (uint32_t)pay;
		return (size_t)(pay >> 32) & 0x7fffffff;
	}
	if (pay == PAY_NONE) {
		*ret = tmp;
		return 0;
	}
	tmp->ctr = pay & IN_CTR_MAX;
	tmp->ri = (uint32_t)(pay >> IN_CTR_BITS);
	*ret = tmp;
	return 1;
}

static void release_dots(struct crdt_orset *s, struct et_slot *e)
{
	if (pay_spilled(e->pay))
		s->pfree += (size_t)(e->pay >> 32) & 0x7fffffff;
	e->pay = PAY_NONE;
}

static int pool_reserve(struct crdt_orset *s, size_t n)
{
	size_t cap;
	struct dot *p;

	if (n <= s->pcap - s->plen)
		return 0;
	if (n > UINT32_MAX - s->plen)
		return CRDT_EMSGSIZE;
	cap = s->pcap ? s->pcap : 64;
	while (cap < s->plen + n)
		cap *= 2;
	p = realloc(s->pool, cap * sizeof(*p));
	if (!p)
		return CRDT_ENOMEM;
	s->pool = p;
	s->pcap = cap;
	return 0;
}

/* Store @n sorted dots for @e; room in the pool must be reserved. */
static void set_dots(struct crdt_orset *s, struct et_slot *e, const struct dot *d, size_t n)
{
	release_dots(s, e);
	if (n == 1 && dot_inlinable(d[0].ri, d[0].ctr)) {
		e->pay = pay_inline(d[0].ri, d[0].ctr);
	} else if (n > 0) {
		memmove(s->pool + s->plen, d, n * sizeof(*d));
		e->pay = PAY_SPILL | (uint64_t)n << 32 | s->plen;
		s->plen += n;
	}
}

/* Dead runs are reclaimed once they are most of the pool.  Best effort: if
 * the new pool cannot be had, the old one simply stays. */
static void pool_compact(struct crdt_orset *s)
{
	size_t live = s->plen - s->pfree, k = 0;
	struct dot *np;

	if (s->pfree < 1024 || s->pfree < live)
		return;
	np = malloc((live ? live : 1) * sizeof(*np));
	if (!np)
		return;
	for (size_t i = 0; i < et_cap(&s->tab); i++) {
		struct et_slot *e = &s->tab.s[i];
		if (et_used(e) && pay_spilled(e->pay)) {
			size_t cnt = (size_t)(e->pay >> 32) & 0x7fffffff;
			memcpy(np + k, s->pool + (uint32_t)e->pay, cnt * sizeof(*np));
			e->pay = PAY_SPILL | (uint64_t)cnt << 32 | k;
			k += cnt;
		}
	}
	free(s->pool);
	s->pool = np;
	s->plen = k;
	s->pcap = live ? live : 1;
	s->pfree = 0;
}

static inline int dot_cmp(uint32_t ari, uint64_t actr, uint32_t bri, uint64_t bctr)
{
	if (ari != bri)
		return ari < bri ? -1 : 1;
	return actr < bctr ? -1 : actr > bctr;
}

static bool dots_have(const struct dot *d, size_t n, uint32_t ri, uint64_t ctr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = dot_cmp(d[mid].ri, d[mid].ctr, ri, ctr);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int dot_qcmp(const void *x, const void *y)
{
	const struct dot *a = x, *b = y;
	return dot_cmp(a->ri, a->ctr, b->ri, b->ctr);
}

static void sort_dots(struct dot *d, size_t n)
{
	if (n > 16) {
		qsort(d, n, sizeof(*d), dot_qcmp);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		struct dot t = d[i];
		size_t j = i;
		while (j > 0 && dot_cmp(d[j - 1].ri, d[j - 1].ctr, t.ri, t.ctr) > 0) {
			d[j] = d[j - 1];
			j--;
		}
		d[j] = t;
	}
}

/* ---- context ---- */

static bool ivs_have(const struct ivl *iv, size_t n, uint64_t c)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c < iv[mid].lo)
			hi = mid;
		else if (c > iv[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static bool ctx_has(const struct crdt_orset *s, uint32_t ri, uint64_t c)
{
	return ri < s->nreps && ivs_have(s->reps[ri].iv, s->reps[ri].n, c);
}

static uint32_t find_rep(const struct crdt_orset *s, const struct crdt_rid *rid)
{
	size_t lo = 0, hi = s->nreps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(s->reps[s->order[mid]].rid.b, rid->b, CRDT_RID_LEN);
		if (c == 0)
			return s->order[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NONE;
}

static int reps_reserve(struct crdt_orset *s, size_t n)
{
	struct rep *r;
	uint32_t *o;
	size_t cap;

	if (n <= s->capreps)
		return 0;
	if (n > MAX_REPLICAS)
		return CRDT_EMSGSIZE;
	cap = s->capreps ? s->capreps : 4;
	while (cap < n)
		cap *= 2;
	r = realloc(s->reps, cap * sizeof(*r));
	if (!r)
		return CRDT_ENOMEM;
	memset(r + s->capreps, 0, (cap - s->capreps) * sizeof(*r));
	s->reps = r;
	o = realloc(s->order, cap * sizeof(*o));
	if (!o) {
		/* reps merely grew; nothing is lost, and the zeroed tail
		 * is zeroed again next time */
		return CRDT_ENOMEM;
	}
	s->order = o;
	s->capreps = (uint32_t)cap;
	return 0;
}

/* Append a replica whose interval array is @iv (taken); room reserved. */
static uint32_t rep_append(struct crdt_orset *s, const struct crdt_rid *rid, struct ivl *iv,
			   uint32_t n)
{
	uint32_t i = s->nreps++, k = i;

	/* The index part may already hold dots a merge gave this replica. */
	s->reps[i].rid = *rid;
	s->reps[i].iv = iv;
	s->reps[i].n = s->reps[i].cap = n;
	while (k > 0 && memcmp(s->reps[s->order[k - 1]].rid.b, rid->b, CRDT_RID_LEN) > 0) {
		s->order[k] = s->order[k - 1];
		k--;
	}
	s->order[k] = i;
	return i;
}

/* ---- dot index ---- */

static inline unsigned leaf_rank(const struct ixleaf *l, unsigned p)
{
	unsigned r = 0, w = p / 64;

	for (unsigned k = 0; k < w; k++)
		r += (unsigned)__builtin_popcountll(l->bits[k]);
	if (p % 64)
		r += (unsigned)__builtin_popcountll(l->bits[w] & ((1ULL << (p % 64)) - 1));
	return r;
}

static inline bool leaf_has(const struct ixleaf *l, unsigned p)
{
	return l->bits[p / 64] >> (p % 64) & 1;
}

/* First leaf of @d with base >= @b. */
static uint32_t ix_lower(const struct ixdir *d, uint64_t b)
{
	uint32_t lo = 0, hi = d->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (d->v[mid]->base < b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Free every leaf; the index is unbuilt until ix_build(). */
static void ix_drop(struct crdt_orset *s)
{
	for (uint32_t i = 0; i < s->capreps; i++) {
		struct ixdir *d = &s->reps[i].ix;
		for (uint32_t k = 0; k < d->n; k++)
			free(d->v[k]);
		free(d->v);
		*d = (struct ixdir){ 0 };
	}
	s->ix_ok = false;
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
	r = leaf_rank(l, p);
	memmove(l->h + r + 1, l->h + r, (l->n - r) * sizeof(l->h[0]));
	l->h[r] = h;
	l->bits[p / 64] |= 1ULL << (p % 64);
	l->n++;
	return 0;
}

/* The index follows every change of the table's dots while it is built;
 * if it cannot, it is dropped (the set itself is unaffected). */
static void ix_add(struct crdt_orset *s, uint32_t ri, uint64_t ctr, uint32_t h)
{
	if (s->ix_ok && ix_add_raw(s, ri, ctr, h) < 0)
		ix_drop(s);
}

static void ix_del(struct crdt_orset *s, uint32_t ri, uint64_t ctr)
{
	struct ixdir *d;
	struct ixleaf *l;
	uint64_t b = ctr >> IX_SHIFT;
	unsigned p = (unsigned)(ctr & (IX_SPAN - 1)), r;
	uint32_t k;

	if (!s->ix_ok)
		return;
	d = &s->reps[ri].ix;
	k = ix_lower(d, b);
	if (k == d->n || d->v[k]->base != b || !leaf_has(d->v[k], p)) {
		ix_drop(s); /* cannot happen; never trust an index that disagrees */
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

static void ix_del_dots(struct crdt_orset *s, const struct et_slot *e)
{
	const struct dot *d;
	struct dot t;
	size_t n = get_dots(s, e->pay, &t, &d);

	for (size_t x = 0; x < n && s->ix_ok; x++)
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

/* The slot of the element hashed @h that holds dot (@ri, @ctr), or NULL. */
static struct et_slot *slot_of_dot(const struct crdt_orset *s, uint32_t h, uint32_t ri,
				   uint64_t ctr)
{
	const struct elemtab *t = &s->tab;

	if (!t->s)
		return NULL;
	for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
		struct et_slot *e = &t->s[i];
		if (!et_used(e))
			return NULL;
		if (e->hash == h && slot_has_dot(s, e, ri, ctr))
			return e;
	}
}

struct ixent {
	uint64_t ctr;
	uint32_t ri, h;
};

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
static int ix_build(struct crdt_orset *s)
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

/* Calls @cb for each indexed dot of replica @ri in [@lo, @hi], in counter
 * order; stops at the first nonzero return.  The index must not change
 * meanwhile. */
typedef int (*ix_cb)(uint64_t ctr, uint32_t h, void *ctx);

static int ix_range(const struct crdt_orset *s, uint32_t ri, uint64_t lo, uint64_t hi, ix_cb cb,
		    void *ctx)
{
	const struct ixdir *d = &s->reps[ri].ix;

	for (uint32_t k = ix_lower(d, lo >> IX_SHIFT); k < d->n && d->v[k]->base <= hi >> IX_SHIFT;
	     k++) {
		const struct ixleaf *l = d->v[k];
		uint64_t first = l->base << IX_SHIFT;
		unsigned p0 = lo > first ? (unsigned)(lo - first) : 0;
		unsigned p1 = hi - first < IX_SPAN ? (unsigned)(hi - first) : IX_SPAN - 1;
		unsigned r = leaf_rank(l, p0);
		for (unsigned w = p0 / 64; w <= p1 / 64; w++) {
			uint64_t m = l->bits[w];
			if (w == p0 / 64)
				m &= ~0ULL << (p0 % 64);
			if (w == p1 / 64 && p1 % 64 != 63)
				m &= (1ULL << (p1 % 64 + 1)) - 1;
			while (m) {
				unsigned b = (unsigned)__builtin_ctzll(m);
				int rc = cb(first + w * 64 + b, l->h[r++], ctx);
				if (rc)
					return rc;
				m &= m - 1;
			}
		}
	}
	return 0;
}

/* ---- lifecycle and local operations ---- */

struct crdt_orset *crdt_orset_new(void)
{
	struct crdt_orset *s = calloc(1, sizeof(*s));
	if (s) {
		et_init(&s->tab);
		s->ix_ok = true; /* empty, and so is the table */
	}
	return s;
}

void crdt_orset_free(struct crdt_orset *s)
{
	if (!s)
		return;
	et_done(&s->tab);
	ix_drop(s);
	for (uint32_t i = 0; i < s->nreps; i++)
		free(s->reps[i].iv);
	free(s->reps);
	free(s->order);
	free(s->pool);
	free(s);
}

int crdt_orset_add(struct crdt_orset *s, const struct crdt_rid *self, const void *e, size_t len)
{
	uint32_t ri = find_rep(s, self), h;
	uint64_t ctr = 1;
	struct et_slot *slot;
	struct ivl *niv = NULL;
	uint8_t *owned = NULL;
	int r;

	if (len > ET_MAX_LEN)
		return CRDT_EMSGSIZE;
	if (ri != NONE) {
		ctr = s->reps[ri].iv[s->reps[ri].n - 1].hi;
		if (ctr == UINT64_MAX)
			return CRDT_EOVERFLOW;
		ctr++;
	} else {
		r = reps_reserve(s, (size_t)s->nreps + 1);
		if (r < 0)
			return r;
		niv = malloc(sizeof(*niv));
		if (!niv)
			return CRDT_ENOMEM;
	}
	h = et_hash(e, len);
	slot = et_find(&s->tab, e, len, h);
	if (!slot) {
		owned = et_key_dup(e, len, &r);
		if (r < 0 || (r = et_reserve(&s->tab, (size_t)s->tab.count + 1)) < 0)
			goto fail;
	}
	if (!dot_inlinable(ri == NONE ? s->nreps : ri, ctr) && (r = pool_reserve(s, 1)) < 0)
		goto fail;

	/* Nothing fails from here on. */
	if (ri == NONE) {
		*niv = (struct ivl){ 1, 1 };
		ri = rep_append(s, self, niv, 1);
	} else {
		/* The new counter is adjacent to the last interval. */
		s->reps[ri].iv[s->reps[ri].n - 1].hi = ctr;
	}
	if (!slot)
		slot = et_insert(&s->tab, e, len, h, owned);
	else
		ix_del_dots(s, slot);
	set_dots(s, slot, &(struct dot){ .ri = ri, .ctr = ctr }, 1);
	ix_add(s, ri, ctr, h);
	pool_compact(s);
	return 0;
fail:
	free(owned);
	free(niv);
	return r;
}

int crdt_orset_remove(struct crdt_orset *s, const void *e, size_t len)
{
	struct et_slot *slot;

	if (len > ET_MAX_LEN)
		return 0;
	slot = et_find(&s->tab, e, len, et_hash(e, len));
	if (!slot)
		return 0;
	ix_del_dots(s, slot);
	release_dots(s, slot);
	et_remove(&s->tab, slot);
	pool_compact(s);
	return 1;
}

bool crdt_orset_contains(const struct crdt_orset *s, const void *e, size_t len)
{
	return et_contains(&s->tab, e, len);
}

size_t crdt_orset_card(const struct crdt_orset *s)
{
	return s->tab.count;
}

int crdt_orset_foreach(const struct crdt_orset *s, crdt_elem_cb cb, void *ctx)
{
	return et_foreach_sorted(&s->tab, cb, ctx);
}

/* ---- merge ---- */

/* Sorted union of two interval lists into @out (room for an + bn),
 * coalescing overlapping and adjacent intervals. */
static uint32_t ivs_union(const struct ivl *a, uint32_t an, const struct ivl *b, uint32_t bn,
			  struct ivl *out)
{
	uint32_t i = 0, j = 0, n = 0;

	while (i < an || j < bn) {
		struct ivl x = (j >= bn || (i < an && a[i].lo <= b[j].lo)) ? a[i++] : b[j++];
		if (n > 0 && (out[n - 1].hi == UINT64_MAX || x.lo <= out[n - 1].hi + 1)) {
			if (x.hi > out[n - 1].hi)
				out[n - 1].hi = x.hi;
		} else {
			out[n++] = x;
		}
	}
	return n;
}

/* The bulk join: every element of both sides is visited, O(|dst| + |src|).
 * For two states of like size. */
static int merge_bulk(struct crdt_orset *dst, const struct crdt_orset *src)
{
	const struct elemtab *st = &src->tab;
	uint32_t *ms = NULL, *inv = NULL, nr = dst->nreps;
	struct ivl **niv = NULL;
	uint32_t *nivn = NULL;
	struct dot *scratch = NULL, tmp, tmp2;
	uint8_t **keys = NULL;
	uint32_t *hit = NULL; /* per src element, its slot in dst or NONE */
	size_t nnew = 0, nkeys = 0, k = 0, pool_need = 0, maxs = 1;
	bool sweep = false;
	int r = CRDT_ENOMEM;

	/* 1. Replica table: src replicas map into dst's numbering, new ones
	 * appended; inv maps back for context lookups in src. */
	ms = malloc((src->nreps ? src->nreps : 1) * sizeof(*ms));
	if (!ms)
		goto out;
	for (uint32_t j = 0; j < src->nreps; j++) {
		ms[j] = find_rep(dst, &src->reps[j].rid);
		if (ms[j] == NONE)
			ms[j] = nr++;
	}
	if (nr > MAX_REPLICAS) {
		r = CRDT_EMSGSIZE;
		goto out;
	}
	inv = malloc((nr ? nr : 1) * sizeof(*inv));
	niv = calloc(nr ? nr : 1, sizeof(*niv));
	nivn = calloc(nr ? nr : 1, sizeof(*nivn));
	if (!inv || !niv || !nivn || reps_reserve(dst, nr) < 0)
		goto out;
	for (uint32_t i = 0; i < nr; i++)
		inv[i] = NONE;
	for (uint32_t j = 0; j < src->nreps; j++)
		inv[ms[j]] = j;

	/* 2. The joined context, built aside and swapped in at the end. */
	for (uint32_t j = 0; j < src->nreps; j++) {
		const struct rep *b = &src->reps[j];
		uint32_t i = ms[j];
		const struct rep *a = i < dst->nreps ? &dst->reps[i] : NULL;
		uint32_t an = a ? a->n : 0;
		niv[i] = malloc(((size_t)an + b->n) * sizeof(**niv));
		if (!niv[i])
			goto out;
		nivn[i] = ivs_union(a ? a->iv : NULL, an, b->iv, b->n, niv[i]);
	}

	/* 3. Count what the element join will need, against the unchanged dst:
	 * a src dot survives unless dst has seen it and dropped it.  Where each
	 * src element sits in dst is kept (hit[], in src slot order) so the
	 * commit does not look it up again; growing dst rewrites the indices. */
	hit = malloc((st->count ? st->count : 1) * sizeof(*hit));
	if (!hit)
		goto out;
	for (size_t i = 0, u = 0; i < et_cap(st); i++) {
		const struct et_slot *e = &st->s[i];
		const struct dot *sd, *dd = NULL;
		size_t sn, dn, keep = 0;
		struct et_slot *de;

		if (i + 8 < et_cap(st))
			et_prefetch(&dst->tab, st->s[i + 8].hash);
		if (!et_used(e))
			continue;
		sn = get_dots(src, e->pay, &tmp, &sd);
		if (sn > maxs)
			maxs = sn;
		hit[u] = et_find_slot(&dst->tab, e);
		de = hit[u] != NONE ? &dst->tab.s[hit[u]] : NULL;
		u++;
		dn = de ? get_dots(dst, de->pay, &tmp2, &dd) : 0;
		for (size_t x = 0; x < sn; x++) {
			uint32_t ri = ms[sd[x].ri];
			if (!ctx_has(dst, ri, sd[x].ctr) || (de && dots_have(dd, dn, ri, sd[x].ctr)))
				keep++;
		}
		if (de) {
			if (keep)
				pool_need += dn + keep;
		} else if (keep) {
			nnew++;
			pool_need += keep;
			if (et_len(e) > ET_INLINE) {
				/* New long keys are copied now, in src's slot
				 * order, which the src pass consumes in turn. */
				if (!keys && !(keys = calloc(st->count, sizeof(*keys))))
					goto out;
				keys[nkeys] = et_key_dup(et_key(e), et_len(e), &r);
				if (!keys[nkeys++]) {
					r = CRDT_ENOMEM;
					goto out;
				}
			}
		}
	}
	scratch = malloc(maxs * sizeof(*scratch));
	if (!scratch)
		goto out;
	/* Sized once for the union, before anything is inserted. */
	if ((r = et_reserve_remap(&dst->tab, (size_t)dst->tab.count + nnew, hit, st->count)) < 0 ||
	    (r = pool_reserve(dst, pool_need)) < 0)
		goto out;
	ix_drop(dst);

	/* 4. Commit; nothing below can fail, and nothing is removed from the
	 * table until the end, so the indices in hit[] stay good.  The dot
	 * index is not kept up to date here: it would cost more than this
	 * whole pass, and is rebuilt in one go if a small merge needs it.  First dst's
	 * elements: a dot src's context covers survives only if src still has
	 * it.  An element left without dots (PAY_NONE) is settled by the src
	 * pass if src has it, else swept out at the end. */
	for (size_t i = 0; i < et_cap(&dst->tab); i++) {
		struct et_slot *e = &dst->tab.s[i];
		const struct dot *dd, *sd = NULL;
		const struct et_slot *se = NULL;
		size_t dn, sn = 0, kept = 0;
		bool looked = false;

		if (!et_used(e))
			continue;
		dn = get_dots(dst, e->pay, &tmp, &dd);
		for (size_t x = 0; x < dn; x++) {
			uint32_t j = inv[dd[x].ri];
			bool keep = j == NONE || !ivs_have(src->reps[j].iv, src->reps[j].n, dd[x].ctr);
			if (!keep) {
				if (!looked) {
					uint32_t si = et_find_slot(st, e);
					looked = true;
					if (si != NONE) {
						se = &st->s[si];
						sn = get_dots(src, se->pay, &tmp2, &sd);
					}
				}
				keep = se && dots_have(sd, sn, j, dd[x].ctr);
			}
			if (keep && pay_spilled(e->pay))
				((struct dot *)dd)[kept] = dd[x];
			kept += keep;
		}
		if (kept == dn) {
			continue;
		} else if (kept == 0) {
			release_dots(dst, e);
			sweep = true;
		} else if (pay_spilled(e->pay)) {
			/* Shrunk in place. */
			dst->pfree += dn - kept;
			if (kept == 1 && dot_inlinable(dd[0].ri, dd[0].ctr))
				e->pay = pay_inline(dd[0].ri, dd[0].ctr), dst->pfree += 1;
			else
				e->pay = PAY_SPILL | (uint64_t)kept << 32 | (uint32_t)e->pay;
		}
		/* else an inline dot is all or nothing */
	}

	/* Then src's elements: keep what dst has not seen or also has. */
	k = 0;
	for (size_t i = 0, u = 0; i < et_cap(st); i++) {
		const struct et_slot *e = &st->s[i];
		const struct dot *sd, *dd = NULL;
		struct et_slot *de;
		size_t sn, dn, keep = 0;

		if (!et_used(e))
			continue;
		de = hit[u] != NONE ? &dst->tab.s[hit[u]] : NULL;
		u++;
		sn = get_dots(src, e->pay, &tmp, &sd);
		dn = de ? get_dots(dst, de->pay, &tmp2, &dd) : 0;
		for (size_t x = 0; x < sn; x++) {
			uint32_t ri = ms[sd[x].ri];
			if (!ctx_has(dst, ri, sd[x].ctr) || dots_have(dd, dn, ri, sd[x].ctr))
				scratch[keep++] = (struct dot){ .ri = ri, .ctr = sd[x].ctr };
		}
		sort_dots(scratch, keep);
		if (!de) {
			if (!keep)
				continue;
			uint8_t *owned = NULL;
			if (et_len(e) > ET_INLINE) {
				owned = keys[k];
				keys[k++] = NULL;
			}
			de = et_insert(&dst->tab, et_key(e), et_len(e), e->hash, owned);
			set_dots(dst, de, scratch, keep);
			continue;
		}
		if (!keep)
			continue; /* with dn == 0, swept below */
		/* Sorted union of dd and scratch, written at the pool's end. */
		struct dot *out = dst->pool + dst->plen;
		size_t a = 0, b = 0, n = 0;
		while (a < dn || b < keep) {
			int c = a >= dn ? 1 : b >= keep ? -1 : dot_cmp(dd[a].ri, dd[a].ctr, scratch[b].ri, scratch[b].ctr);
			if (c <= 0)
				out[n++] = dd[a++];
			else
				out[n++] = scratch[b++];
			if (c == 0)
				b++;
		}
		if (n == dn)
			continue;
		if (n == 1 && dot_inlinable(out[0].ri, out[0].ctr)) {
			release_dots(dst, de);
			de->pay = pay_inline(out[0].ri, out[0].ctr);
		} else {
			release_dots(dst, de);
			de->pay = PAY_SPILL | (uint64_t)n << 32 | dst->plen;
			dst->plen += n;
		}
	}

	/* Elements left without dots go.  Backward shift refills slot i, so it
	 * is looked at again; a wrapped entry may be seen twice, harmlessly. */
	for (size_t i = 0; sweep && i < et_cap(&dst->tab);) {
		struct et_slot *e = &dst->tab.s[i];
		if (et_used(e) && e->pay == PAY_NONE)
			et_remove(&dst->tab, e);
		else
			i++;
	}

	/* Finally the context. */
	for (uint32_t j = 0; j < src->nreps; j++) {
		uint32_t i = ms[j];
		if (i < dst->nreps) {
			free(dst->reps[i].iv);
			dst->reps[i].iv = niv[i];
			dst->reps[i].n = dst->reps[i].cap = nivn[i];
		}
	}
	for (uint32_t i = dst->nreps; i < nr; i++)
		rep_append(dst, &src->reps[inv[i]].rid, niv[i], nivn[i]);
	for (uint32_t i = 0; i < nr; i++)
		niv[i] = NULL;
	pool_compact(dst);
	r = 0;
out:
	for (size_t i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	if (niv)
		for (uint32_t i = 0; i < nr; i++)
			free(niv[i]);
	free(niv);
	free(nivn);
	free(scratch);
	free(hit);
	free(inv);
	free(ms);
	return r;
}

/* ---- merge of a small source ----
 *
 * The same join as merge_bulk(), visiting only src's elements and, through
 * the dot index, dst's dots under src's context intervals: O(|src| + src's
 * intervals + dst dots in them), whatever the size of dst.  dst's elements
 * split in two: those src also holds are settled in the src pass exactly as
 * in the bulk join; the others keep every dot src's context does not
 * cover, so only the covered ones, found in the index, are looked at.
 */

/* A dst dot under src's context, of an element src lacks: it goes. */
struct drop {
	uint64_t ctr;
	uint32_t ri, h;
};

struct dropper {
	const struct crdt_orset *dst, *src;
	uint32_t ri;
	struct drop *v;
	size_t n, cap;
};

static int drop_cb(uint64_t ctr, uint32_t h, void *ctx)
{
	struct dropper *dp = ctx;
	const struct et_slot *e = slot_of_dot(dp->dst, h, dp->ri, ctr);

	if (!e)
		return CRDT_EBADMSG; /* the index disagrees with the table */
	if (et_find_slot(&dp->src->tab, e) != NONE)
		return 0; /* the src pass settles it */
	if (dp->n == dp->cap) {
		size_t cap = dp->cap ? 2 * dp->cap : 64;
		struct drop *v = realloc(dp->v, cap * sizeof(*v));
		if (!v)
			return CRDT_ENOMEM;
		dp->v = v;
		dp->cap = cap;
	}
	dp->v[dp->n++] = (struct drop){ .ctr = ctr, .ri = dp->ri, .h = h };
	return 0;
}

/* First interval of @a[@n] that is not wholly before @lo - 1 (so it
 * overlaps or touches [lo, ...]); lo >= 1. */
static uint32_t ivs_from(const struct ivl *a, uint32_t n, uint64_t lo)
{
	uint32_t l = 0, h = n;

	while (l < h) {
		uint32_t mid = l + (h - l) / 2;
		if (a[mid].hi < lo - 1)
			l = mid + 1;
		else
			h = mid;
	}
	return l;
}

/* First interval of @a[@n] wholly after @hi + 1. */
static uint32_t ivs_after(const struct ivl *a, uint32_t n, uint64_t hi)
{
	uint32_t l = 0, h = n;

	while (l < h) {
		uint32_t mid = l + (h - l) / 2;
		if (a[mid].lo - 1 <= hi)
			l = mid + 1;
		else
			h = mid;
	}
	return l;
}

/* 0 merged, < 0 error (dst unchanged), 1 if the index turned out not to
 * match the table (dst unchanged; the caller drops it and merges in bulk). */
static int merge_small(struct crdt_orset *dst, const struct crdt_orset *src)
{
	const struct elemtab *st = &src->tab;
	uint32_t *ms = NULL, *inv = NULL, nr = dst->nreps, nold = dst->nreps;
	struct ivl **niv = NULL; /* per src replica: its window of the joined context */
	uint32_t *nivn = NULL, *wfirst = NULL, *wlast = NULL;
	struct dot *scratch = NULL, *kd = NULL, tmp, tmp2;
	uint8_t **keys = NULL;
	uint32_t *hit = NULL;
	struct dropper dp = { .dst = dst, .src = src };
	size_t nnew = 0, nkeys = 0, k = 0, pool_need = 0, maxs = 1, maxd = 1, nempty = 0;
	size_t nsr = src->nreps ? src->nreps : 1;
	int r = CRDT_ENOMEM;

	/* 1. Replica numbering, as in the bulk join. */
	ms = malloc(nsr * sizeof(*ms));
	if (!ms)
		goto out;
	for (uint32_t j = 0; j < src->nreps; j++) {
		ms[j] = find_rep(dst, &src->reps[j].rid);
		if (ms[j] == NONE)
			ms[j] = nr++;
	}
	if (nr > MAX_REPLICAS) {
		r = CRDT_EMSGSIZE;
		goto out;
	}
	inv = malloc((nr ? nr : 1) * sizeof(*inv));
	niv = calloc(nsr, sizeof(*niv));
	nivn = calloc(nsr, sizeof(*nivn));
	wfirst = calloc(nsr, sizeof(*wfirst));
	wlast = calloc(nsr, sizeof(*wlast));
	if (!inv || !niv || !nivn || !wfirst || !wlast || reps_reserve(dst, nr) < 0)
		goto out;
	for (uint32_t i = 0; i < nr; i++)
		inv[i] = NONE;
	for (uint32_t j = 0; j < src->nreps; j++)
		inv[ms[j]] = j;

	/* 2. The joined context: per replica only the window of dst's
	 * intervals that src's overlap or touch is joined, aside; dst's array
	 * gets the room for the splice now, its content unchanged. */
	for (uint32_t j = 0; j < src->nreps; j++) {
		const struct rep *b = &src->reps[j];
		uint32_t i = ms[j];

		if (i < nold) {
			struct rep *a = &dst->reps[i];
			uint32_t f = ivs_from(a->iv, a->n, b->iv[0].lo);
			uint32_t l = ivs_after(a->iv, a->n, b->iv[b->n - 1].hi);
			if (l < f)
				l = f;
			wfirst[j] = f;
			wlast[j] = l;
			niv[j] = malloc(((size_t)(l - f) + b->n) * sizeof(**niv));
			if (!niv[j])
				goto out;
			nivn[j] = ivs_union(a->iv + f, l - f, b->iv, b->n, niv[j]);
			if ((size_t)a->n + b->n > a->cap) {
				struct ivl *p = realloc(a->iv, ((size_t)a->n + b->n) * sizeof(*p));
				if (!p)
					goto out;
				a->iv = p;
				a->cap = a->n + b->n;
			}
		} else {
			niv[j] = malloc((size_t)b->n * sizeof(**niv));
			if (!niv[j])
				goto out;
			memcpy(niv[j], b->iv, (size_t)b->n * sizeof(**niv));
			nivn[j] = b->n;
		}
	}

	/* 3. src's elements against the unchanged dst, as in the bulk join. */
	hit = malloc((st->count ? st->count : 1) * sizeof(*hit));
	if (!hit)
		goto out;
	for (size_t i = 0, u = 0; i < et_cap(st); i++) {
		const struct et_slot *e = &st->s[i];
		const struct dot *sd, *dd = NULL;
		size_t sn, dn, keep = 0;
		struct et_slot *de;

		if (!et_used(e))
			continue;
		sn = get_dots(src, e->pay, &tmp, &sd);
		if (sn > maxs)
			maxs = sn;
		hit[u] = et_find_slot(&dst->tab, e);
		de = hit[u] != NONE ? &dst->tab.s[hit[u]] : NULL;
		u++;
		dn = de ? get_dots(dst, de->pay, &tmp2, &dd) : 0;
		if (dn > maxd)
			maxd = dn;
		for (size_t x = 0; x < sn; x++) {
			uint32_t ri = ms[sd[x].ri];
			if (!ctx_has(dst, ri, sd[x].ctr) || (de && dots_have(dd, dn, ri, sd[x].ctr)))
				keep++;
		}
		if (de) {
			pool_need += dn + keep;
		} else if (keep) {
			nnew++;
			pool_need += keep;
			if (et_len(e) > ET_INLINE) {
				if (!keys && !(keys = calloc(st->count, sizeof(*keys))))
					goto out;
				keys[nkeys] = et_key_dup(et_key(e), et_len(e), &r);
				if (!keys[nkeys++]) {
					r = CRDT_ENOMEM;
					goto out;
				}
			}
		}
	}

	/* 4. dst's dots under src's context, of elements src lacks. */
	for (uint32_t j = 0; j < src->nreps; j++) {
		const struct rep *b = &src->reps[j];
		if (ms[j] >= nold)
			continue; /* dst has no dots of this replica */
		dp.ri = ms[j];
		for (uint32_t x = 0; x < b->n; x++) {
			r = ix_range(dst, ms[j], b->iv[x].lo, b->iv[x].hi, drop_cb, &dp);
			if (r == CRDT_EBADMSG)
				r = 1;
			if (r)
				goto out;
		}
	}

	r = CRDT_ENOMEM;
	scratch = malloc(maxs * sizeof(*scratch));
	kd = malloc(maxd * sizeof(*kd));
	if (!scratch || !kd)
		goto out;
	if ((r = et_reserve_remap(&dst->tab, (size_t)dst->tab.count + nnew, hit, st->count)) < 0 ||
	    (r = pool_reserve(dst, pool_need)) < 0)
		goto out;

	/* 5. Commit; nothing below can fail (the index may be dropped). */
	for (size_t i = 0, u = 0; i < et_cap(st); i++) {
		const struct et_slot *e = &st->s[i];
		const struct dot *sd, *dd = NULL;
		struct et_slot *de;
		size_t sn, dn, keep = 0, nk = 0, nadd = 0;

		if (!et_used(e))
			continue;
		de = hit[u] != NONE ? &dst->tab.s[hit[u]] : NULL;
		u++;
		sn = get_dots(src, e->pay, &tmp, &sd);
		dn = de ? get_dots(dst, de->pay, &tmp2, &dd) : 0;
		for (size_t x = 0; x < sn; x++) {
			uint32_t ri = ms[sd[x].ri];
			if (!ctx_has(dst, ri, sd[x].ctr) || dots_have(dd, dn, ri, sd[x].ctr))
				scratch[keep++] = (struct dot){ .ri = ri, .ctr = sd[x].ctr };
		}
		sort_dots(scratch, keep);
		if (!de) {
			if (!keep)
				continue;
			uint8_t *owned = NULL;
			if (et_len(e) > ET_INLINE) {
				owned = keys[k];
				keys[k++] = NULL;
			}
			de = et_insert(&dst->tab, et_key(e), et_len(e), e->hash, owned);
			set_dots(dst, de, scratch, keep);
			for (size_t x = 0; x < keep; x++)
				ix_add(dst, scratch[x].ri, scratch[x].ctr, e->hash);
			continue;
		}
		/* dst's dots: src's context covers it and src lacks it, it goes */
		for (size_t x = 0; x < dn; x++) {
			uint32_t j = inv[dd[x].ri];
			if (j == NONE || !ivs_have(src->reps[j].iv, src->reps[j].n, dd[x].ctr) ||
			    dots_have(sd, sn, j, dd[x].ctr))
				kd[nk++] = dd[x];
			else
				ix_del(dst, dd[x].ri, dd[x].ctr);
		}
		/* Sorted union of kd and scratch (whose dots dst had are in kd),
		 * at the pool's end. */
		struct dot *o = dst->pool + dst->plen;
		size_t a = 0, c = 0, n = 0;
		while (a < nk || c < keep) {
			int cmp = a >= nk     ? 1
				  : c >= keep ? -1
					      : dot_cmp(kd[a].ri, kd[a].ctr, scratch[c].ri,
							scratch[c].ctr);
			if (cmp <= 0) {
				o[n++] = kd[a++];
				c += cmp == 0;
			} else {
				o[n++] = scratch[c];
				ix_add(dst, scratch[c].ri, scratch[c].ctr, de->hash);
				nadd++;
				c++;
			}
		}
		if (nk == dn && nadd == 0)
			continue;
		release_dots(dst, de);
		if (n == 0) {
			nempty++; /* removed below, once no slot index is needed */
		} else if (n == 1 && dot_inlinable(o[0].ri, o[0].ctr)) {
			de->pay = pay_inline(o[0].ri, o[0].ctr);
		} else {
			de->pay = PAY_SPILL | (uint64_t)n << 32 | dst->plen;
			dst->plen += n;
		}
	}
	for (size_t i = 0; nempty && i < et_cap(st); i++) {
		const struct et_slot *e = &st->s[i];
		uint32_t f;
		if (!et_used(e) || (f = et_find_slot(&dst->tab, e)) == NONE)
			continue;
		if (dst->tab.s[f].pay == PAY_NONE) {
			et_remove(&dst->tab, &dst->tab.s[f]);
			nempty--;
		}
	}

	/* The dots of elements src lacks. */
	for (size_t x = 0; x < dp.n; x++) {
		const struct drop *q = &dp.v[x];
		struct et_slot *e = slot_of_dot(dst, q->h, q->ri, q->ctr);
		const struct dot *dd;
		size_t dn, m = 0;

		if (!e)
			continue; /* cannot happen: checked in step 4 */
		ix_del(dst, q->ri, q->ctr);
		dn = get_dots(dst, e->pay, &tmp, &dd);
		if (dn == 1) {
			release_dots(dst, e);
			et_remove(&dst->tab, e);
			continue;
		}
		/* a spilled run: shrunk in place */
		for (size_t y = 0; y < dn; y++)
			if (dd[y].ri != q->ri || dd[y].ctr != q->ctr)
				((struct dot *)dd)[m++] = dd[y];
		dst->pfree += dn - m;
		if (m == 1 && dot_inlinable(dd[0].ri, dd[0].ctr))
			e->pay = pay_inline(dd[0].ri, dd[0].ctr), dst->pfree += 1;
		else
			e->pay = PAY_SPILL | (uint64_t)m << 32 | (uint32_t)e->pay;
	}

	/* Finally the context: each window spliced in, new replicas added. */
	for (uint32_t j = 0; j < src->nreps; j++) {
		uint32_t i = ms[j];
		if (i < nold) {
			struct rep *a = &dst->reps[i];
			uint32_t f = wfirst[j], l = wlast[j], w = nivn[j];
			memmove(a->iv + f + w, a->iv + l, (size_t)(a->n - l) * sizeof(*a->iv));
			memcpy(a->iv + f, niv[j], (size_t)w * sizeof(*a->iv));
			a->n = f + w + (a->n - l);
		} else {
			rep_append(dst, &src->reps[j].rid, niv[j], nivn[j]);
			niv[j] = NULL;
		}
	}
	pool_compact(dst);
	r = 0;
out:
	for (size_t i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	if (niv)
		for (uint32_t j = 0; j < src->nreps; j++)
			free(niv[j]);
	free(niv);
	free(nivn);
	free(wfirst);
	free(wlast);
	free(scratch);
	free(kd);
	free(hit);
	free(dp.v);
	free(inv);
	free(ms);
	return r;
}

int crdt_orset_merge(struct crdt_orset *dst, const struct crdt_orset *src)
{
	size_t work = src->tab.count;

	if (dst == src)
		return 0;
	/* The small path wins while src is well below dst; the bulk one has
	 * the better constant.  Its index is built here if a bulk merge or
	 * the decoder left it unbuilt: O(|dst|) once, and every bulk merge
	 * that can leave it so costs as much. */
	for (uint32_t j = 0; j < src->nreps; j++)
		work += src->reps[j].n;
	if (work * 4 <= dst->tab.count && ix_build(dst) == 0) {
		int r = merge_small(dst, src);
		if (r <= 0)
			return r;
		ix_drop(dst);
	}
	return merge_bulk(dst, src);
}

/* ---- queries ---- */

bool crdt_orset_equal(const struct crdt_orset *a, const struct crdt_orset *b)
{
	uint32_t *map;
	bool eq = false;

	if (a == b)
		return true;
	if (a->tab.count != b->tab.count || a->nreps != b->nreps)
		return false;
	map = malloc((a->nreps ? a->nreps : 1) * sizeof(*map));
	if (!map)
		return false; /* cannot tell; never claim equality */
	for (uint32_t i = 0; i < a->nreps; i++) {
		const struct rep *x = &a->reps[i], *y;
		map[i] = find_rep(b, &x->rid);
		if (map[i] == NONE)
			goto out;
		y = &b->reps[map[i]];
		if (x->n != y->n || memcmp(x->iv, y->iv, x->n * sizeof(*x->iv)) != 0)
			goto out;
	}
	for (size_t i = 0; i < et_cap(&a->tab); i++) {
		const struct et_slot *e = &a->tab.s[i], *f;
		const struct dot *ad, *bd;
		struct dot t1, t2;
		size_t an, bn;

		if (!et_used(e))
			continue;
		f = et_find(&b->tab, et_key(e), et_len(e), e->hash);
		if (!f)
			goto out;
		an = get_dots(a, e->pay, &t1, &ad);
		bn = get_dots(b, f->pay, &t2, &bd);
		if (an != bn)
			goto out;
		/* Both lists are duplicate-free, so inclusion is equality. */
		for (size_t x = 0; x < an; x++)
			if (!dots_have(bd, bn, map[ad[x].ri], ad[x].ctr))
				goto out;
	}
	eq = true;
out:
	free(map);
	return eq;
}

struct crdt_orset *crdt_orset_copy(const struct crdt_orset *s)
{
	struct crdt_orset *c = crdt_orset_new();

	if (!c || crdt_orset_merge(c, s) < 0) {
		crdt_orset_free(c);
		return NULL;
	}
	return c;
}

int crdt_orset_context_vv(const struct crdt_orset *s, struct crdt_vv *ret)
{
	struct crdt_vv vv;

	crdt_vv_init(&vv);
	for (uint32_t k = 0; k < s->nreps; k++) {
		const struct rep *p = &s->reps[s->order[k]];
		int r;
		if (p->iv[0].lo != 1)
			continue;
		r = crdt_vv_raise(&vv, &p->rid, p->iv[0].hi);
		if (r < 0) {
			crdt_vv_done(&vv);
			return r;
		}
	}
	*ret = vv;
	return 0;
}

uint64_t crdt_orset_context_max(const struct crdt_orset *s, const struct crdt_rid *rid)
{
	uint32_t ri = find_rep(s, rid);

	return ri == NONE ? 0 : s->reps[ri].iv[s->reps[ri].n - 1].hi;
}

bool crdt_orset_knows_more_of(const struct crdt_orset *remote, const struct crdt_orset *local,
			      const struct crdt_rid *rid)
{
	return crdt_orset_context_max(remote, rid) > (local ? crdt_orset_context_max(local, rid) : 0);
}

/* ---- codec ---- */

static void put_ivs(struct crdt_buf *b, const struct ivl *iv, size_t n)
{
	uint64_t prev = 0;

	crdt_buf_put_varint(b, n);
	for (size_t i = 0; i < n; i++) {
		crdt_buf_put_varint(b, iv[i].lo - prev - 1);
		crdt_buf_put_varint(b, iv[i].hi - iv[i].lo);
		prev = iv[i].hi;
	}
}

/* A dot's counter goes on the wire as the difference from the previous
 * counter of the same replica in the element list (0 before the first),
 * taken mod 2^64 as a signed number and zigzagged: 0, -1, 1, -2 -> 0, 1, 2,
 * 3.  Elements added in key order cost one byte a counter. */
static inline uint64_t ctr_zz(uint64_t ctr, uint64_t last)
{
	uint64_t d = ctr - last;
	return d << 1 ^ (0 - (d >> 63));
}

static inline uint64_t ctr_unzz(uint64_t z, uint64_t last)
{
	return last + ((z >> 1) ^ (0 - (z & 1)));
}

/* Upper bound on the varint of ctr_zz() between two counters <= @hi. */
static inline size_t ctr_zz_max_len(uint64_t hi)
{
	return hi >> 62 ? 10 : crdt_varint_len(hi << 1);
}

/* One element: its bytes, then per dot (sorted, wire indices) the varint
 * 2 * replica + (1 if another dot follows) and the zigzagged counter
 * difference.  @last holds each replica's previous counter. */
static void put_elem(struct crdt_buf *b, const uint8_t *e, size_t len, const struct dot *d,
		     size_t n, uint64_t *last)
{
	crdt_buf_put_bytes(b, e, len);
	for (size_t x = 0; x < n; x++) {
		crdt_buf_put_varint(b, (uint64_t)d[x].ri << 1 | (x + 1 < n));
		crdt_buf_put_varint(b, ctr_zz(d[x].ctr, last[d[x].ri]));
		last[d[x].ri] = d[x].ctr;
	}
}

/* Encoder's view of the replica table: sorted rids and, per replica
 * index, its position in that order. */
struct wire_reps {
	struct crdt_rid *rids;
	uint32_t *pos;
};

static int wire_reps_init(const struct crdt_orset *s, struct wire_reps *w)
{
	size_t n = s->nreps ? s->nreps : 1;

	w->rids = malloc(n * sizeof(*w->rids));
	w->pos = malloc(n * sizeof(*w->pos));
	if (!w->rids || !w->pos) {
		free(w->rids);
		free(w->pos);
		return CRDT_ENOMEM;
	}
	for (uint32_t k = 0; k < s->nreps; k++) {
		w->rids[k] = s->reps[s->order[k]].rid;
		w->pos[s->order[k]] = k;
	}
	return 0;
}

static void wire_reps_done(struct wire_reps *w)
{
	free(w->rids);
	free(w->pos);
}

int crdt_orset_encode(const struct crdt_orset *s, struct crdt_buf *b)
{
	struct wire_reps w;
	struct et_slot **v = NULL;
	struct dot *scratch = NULL;
	uint64_t *last = NULL;
	size_t cap = 0;
	int r;

	if ((r = wire_reps_init(s, &w)) < 0)
		return r;
	r = CRDT_ENOMEM;
	if (!(last = calloc(s->nreps ? s->nreps : 1, sizeof(*last))))
		goto out;
	if ((r = et_sorted(&s->tab, &v)) < 0)
		goto out;
	crdt_codec_put_header(b, CRDT_ORSET);
	crdt_codec_put_rids(b, w.rids, s->nreps);
	for (uint32_t k = 0; k < s->nreps; k++)
		put_ivs(b, s->reps[s->order[k]].iv, s->reps[s->order[k]].n);
	crdt_buf_put_varint(b, s->tab.count);
	for (size_t i = 0; i < s->tab.count && !b->err; i++) {
		const struct dot *d;
		struct dot t = { 0 }, one;
		size_t n = get_dots(s, v[i]->pay, &t, &d);

		if (n > 1) {
			/* Arrival numbering to wire numbering changes the order. */
			if (n > cap) {
				struct dot *p = realloc(scratch, n * sizeof(*p));
				if (!p) {
					r = CRDT_ENOMEM;
					goto out;
				}
				scratch = p;
				cap = n;
			}
			for (size_t x = 0; x < n; x++)
				scratch[x] = (struct dot){ .ri = w.pos[d[x].ri], .ctr = d[x].ctr };
			sort_dots(scratch, n);
			d = scratch;
		} else {
			one = (struct dot){ .ri = w.pos[d[0].ri], .ctr = d[0].ctr };
			d = &one;
		}
		put_elem(b, et_key(v[i]), et_len(v[i]), d, n, last);
	}
	r = b->err;
out:
	free(last);
	free(scratch);
	free(v);
	wire_reps_done(&w);
	return r;
}

static int get_ivs(struct crdt_cur *c, struct rep *p)
{
	uint64_t prev = 0, gap, span;
	size_t n;

	/* Each interval takes at least two bytes. */
	if (crdt_cur_count(c, 2, &n) < 0 || n == 0 || n > UINT32_MAX)
		return CRDT_EBADMSG;
	p->iv = malloc(n * sizeof(*p->iv));
	if (!p->iv)
		return CRDT_ENOMEM;
	p->cap = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		if (crdt_cur_varint(c, &gap) < 0 || crdt_cur_varint(c, &span) < 0)
			return CRDT_EBADMSG;
		/* lo = prev + 1 + gap; after the first, gap 0 would be adjacent. */
		if ((i > 0 && gap == 0) || gap >= UINT64_MAX - prev)
			return CRDT_EBADMSG;
		p->iv[i].lo = prev + 1 + gap;
		if (span > UINT64_MAX - p->iv[i].lo)
			return CRDT_EBADMSG;
		p->iv[i].hi = p->iv[i].lo + span;
		prev = p->iv[i].hi;
		p->n = (uint32_t)(i + 1);
	}
	return 0;
}

int crdt_orset_decode(const uint8_t *buf, size_t len, struct crdt_orset **ret)
{
	struct crdt_cur c;
	struct crdt_orset *s;
	const uint8_t *rids, *prev = NULL, *e;
	size_t nr, n, plen = 0, elen;
	uint64_t *last = NULL; /* per replica, the previous dot's counter */
	int r;

	crdt_cur_init(&c, buf, len);
	r = crdt_codec_get_header(&c, CRDT_ORSET);
	if (r < 0)
		return r;
	if (crdt_codec_get_rids(&c, &rids, &nr) < 0)
		return CRDT_EBADMSG;
	if (nr > MAX_REPLICAS)
		return CRDT_EMSGSIZE;
	s = crdt_orset_new();
	if (!s)
		return CRDT_ENOMEM;
	/* Most decoded states are pieces to merge, never merged into: the
	 * index is built only if one becomes a destination. */
	s->ix_ok = false;
	if ((r = reps_reserve(s, nr)) < 0)
		goto fail;
	/* Sorted on the wire, so arrival order is rid order. */
	for (size_t i = 0; i < nr; i++) {
		struct rep *p = &s->reps[i];
		memcpy(p->rid.b, rids + i * CRDT_RID_LEN, CRDT_RID_LEN);
		s->order[i] = (uint32_t)i;
		s->nreps++;
		if ((r = get_ivs(&c, p)) < 0)
			goto fail;
		p->cap = p->n;
	}
	r = CRDT_ENOMEM;
	if (!(last = calloc(nr ? nr : 1, sizeof(*last))))
		goto fail;
	r = CRDT_EBADMSG;
	/* bytes, and one dot of head and counter: at least three bytes */
	if (crdt_cur_count(&c, 3, &n) < 0)
		goto fail;
	if ((r = et_reserve(&s->tab, n)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct et_slot *slot;
		struct dot one = { 0 };
		uint8_t *owned;
		size_t nd = 0, start = s->plen;
		uint64_t head, z;
		uint32_t h;

		r = CRDT_EBADMSG;
		if (crdt_cur_bytes(&c, &e, &elen) < 0 || elen > ET_MAX_LEN)
			goto fail;
		if (i > 0 && et_keycmp(prev, plen, e, elen) >= 0)
			goto fail;
		do {
			uint64_t ri, ctr;

			r = CRDT_EBADMSG;
			if (crdt_cur_varint(&c, &head) < 0 || crdt_cur_varint(&c, &z) < 0)
				goto fail;
			ri = head >> 1;
			if (ri >= nr)
				goto fail;
			ctr = ctr_unzz(z, last[ri]);
			if (ctr == 0 || !ctx_has(s, (uint32_t)ri, ctr))
				goto fail;
			if (nd > 0 && dot_cmp(one.ri, one.ctr, (uint32_t)ri, ctr) >= 0)
				goto fail;
			if (nd >= 0x7fffffff)
				goto fail;
			last[ri] = ctr;
			if (nd == 1) { /* a second dot: the run moves to the pool */
				if ((r = pool_reserve(s, 2)) < 0)
					goto fail;
				s->pool[start] = one;
			}
			one = (struct dot){ .ri = (uint32_t)ri, .ctr = ctr };
			if (nd >= 1) {
				if ((r = pool_reserve(s, nd + 1)) < 0)
					goto fail;
				s->pool[start + nd] = one;
			}
			nd++;
		} while (head & 1);
		owned = et_key_dup(e, elen, &r);
		if (r < 0)
			goto fail;
		h = et_hash(e, elen);
		slot = et_insert(&s->tab, e, elen, h, owned);
		if (nd > 1) {
			slot->pay = PAY_SPILL | (uint64_t)nd << 32 | start;
			s->plen += nd;
		} else if (dot_inlinable(one.ri, one.ctr)) {
			slot->pay = pay_inline(one.ri, one.ctr);
		} else {
			if ((r = pool_reserve(s, 1)) < 0)
				goto fail;
			set_dots(s, slot, &one, 1);
		}
		prev = e;
		plen = elen;
	}
	if (c.left) {
		r = CRDT_EBADMSG;
		goto fail;
	}
	free(last);
	*ret = s;
	return 0;
fail:
	free(last);
	crdt_orset_free(s);
	return r;
}

/* ---- split ----
 *
 * Walk every live (element, dot) pair in (replica, counter) order together
 * with the context's intervals, and cut wherever the next interval or pair
 * would overflow the piece.  Piece k covers, for the replicas it spans, the
 * counters from its start cut to just before the next piece's: the cuts of
 * one replica tile its whole context.  Sizes are summed as upper bounds
 * (every pair costed as an element of its own, with the largest head and
 * the largest counter difference its replica's context allows, varints of
 * counts at their largest), so the exact encoding never exceeds max.
 */

struct pair {
	uint64_t ctr;
	uint32_t ri; /* arrival index while walking, piece index when emitting */
	uint32_t pad;
	const struct et_slot *e;
};

struct cut {
	uint32_t r; /* replica index */
	uint64_t c; /* counter */
	size_t p;   /* first pair index */
};

struct splitter {
	const struct crdt_orset *s;
	size_t max;
	crdt_piece_cb cb;
	void *ctx;
	struct pair *pairs, *tmp;
	size_t npairs;
	uint32_t *local; /* replica index -> piece table index */
	uint32_t *incl;  /* replicas of the piece, then sorted by rid */
	uint64_t *last;  /* per piece replica, the previous counter */
	struct dot *dots; /* one element's dots */
	size_t cap;
	struct crdt_buf b;
};

static int pair_walk_cmp(const void *x, const void *y)
{
	const struct pair *a = x, *b = y;
	return dot_cmp(a->ri, a->ctr, b->ri, b->ctr);
}

static int pair_elem_cmp(const void *x, const void *y)
{
	const struct pair *a = x, *b = y;
	int c = et_keycmp(et_key(a->e), et_len(a->e), et_key(b->e), et_len(b->e));
	return c ? c : dot_cmp(a->ri, a->ctr, b->ri, b->ctr);
}


/* Intervals of replica @r clipped to [lo, hi]; first index and count. */
static size_t clip(const struct rep *p, uint64_t lo, uint64_t hi, size_t *ret_first)
{
	size_t a = 0, b = p->n, i;

	while (a < b) { /* first interval with hi >= lo */
		size_t mid = a + (b - a) / 2;
		if (p->iv[mid].hi < lo)
			a = mid + 1;
		else
			b = mid;
	}
	*ret_first = a;
	for (i = a; i < p->n && p->iv[i].lo <= hi && lo <= hi; i++)
		;
	return i - a;
}

static int emit(struct splitter *sp, const struct cut *from, const struct cut *to)
{
	const struct crdt_orset *s = sp->s;
	struct crdt_buf *b = &sp->b;
	size_t ninc = 0, np = to->p - from->p, nelem = 0;

	for (uint32_t r = from->r; r <= to->r && r < s->nreps; r++) {
		uint64_t lo = r == from->r ? from->c : 0, hi = r == to->r ? to->c : UINT64_MAX;
		size_t first;
		if (clip(&s->reps[r], lo, hi, &first))
			sp->incl[ninc++] = r;
	}
	/* Already in arrival order; rid order wants a (short) insertion sort. */
	for (size_t i = 1; i < ninc; i++) {
		uint32_t t = sp->incl[i];
		size_t j = i;
		for (; j > 0 && memcmp(s->reps[sp->incl[j - 1]].rid.b, s->reps[t].rid.b,
				       CRDT_RID_LEN) > 0; j--)
			sp->incl[j] = sp->incl[j - 1];
		sp->incl[j] = t;
	}
	for (size_t k = 0; k < ninc; k++)
		sp->local[sp->incl[k]] = (uint32_t)k;

	crdt_buf_reset(b);
	crdt_codec_put_header(b, CRDT_ORSET);
	crdt_buf_put_varint(b, ninc);
	for (size_t k = 0; k < ninc; k++)
		crdt_buf_put(b, s->reps[sp->incl[k]].rid.b, CRDT_RID_LEN);
	for (size_t k = 0; k < ninc; k++) {
		uint32_t r = sp->incl[k];
		const struct rep *p = &s->reps[r];
		uint64_t lo = r == from->r ? from->c : 0, hi = r == to->r ? to->c : UINT64_MAX;
		uint64_t prev = 0;
		size_t first, n = clip(p, lo, hi, &first);

		crdt_buf_put_varint(b, n);
		for (size_t i = first; i < first + n; i++) {
			uint64_t a = p->iv[i].lo > lo ? p->iv[i].lo : lo;
			uint64_t z = p->iv[i].hi < hi ? p->iv[i].hi : hi;
			crdt_buf_put_varint(b, a - prev - 1);
			crdt_buf_put_varint(b, z - a);
			prev = z;
		}
	}
	for (size_t i = 0; i < np; i++) {
		sp->tmp[i] = sp->pairs[from->p + i];
		sp->tmp[i].ri = sp->local[sp->tmp[i].ri];
	}
	qsort(sp->tmp, np, sizeof(*sp->tmp), pair_elem_cmp);
	for (size_t i = 0; i < np; i++)
		nelem += i == 0 || sp->tmp[i].e != sp->tmp[i - 1].e;
	crdt_buf_put_varint(b, nelem);
	for (size_t k = 0; k < ninc; k++)
		sp->last[k] = 0;
	for (size_t i = 0, j; i < np; i = j) {
		const struct et_slot *e = sp->tmp[i].e;
		size_t nd;
		for (j = i; j < np && sp->tmp[j].e == e; j++)
			;
		/* put_elem() wants the element's dots as an array. */
		nd = j - i;
		if (nd > sp->cap) {
			struct dot *p = realloc(sp->dots, nd * sizeof(*p));
			if (!p)
				return CRDT_ENOMEM;
			sp->dots = p;
			sp->cap = nd;
		}
		for (size_t x = 0; x < nd; x++)
			sp->dots[x] = (struct dot){ .ri = sp->tmp[i + x].ri, .ctr = sp->tmp[i + x].ctr };
		put_elem(b, et_key(e), et_len(e), sp->dots, nd, sp->last);
	}
	if (b->err)
		return b->err;
	return sp->cb(b->data, b->len, sp->ctx);
}

int crdt_orset_split(const struct crdt_orset *s, size_t max, crdt_piece_cb cb, void *ctx)
{
	struct splitter sp = { .s = s, .max = max, .cb = cb, .ctx = ctx };
	size_t fixed, vidx, k = 0, skipped = 0;
	struct cut from = { 0 };
	int r = CRDT_ENOMEM;

	crdt_buf_init(&sp.b, max);
	for (size_t i = 0; i < et_cap(&s->tab); i++) {
		const struct et_slot *e = &s->tab.s[i];
		struct dot t;
		const struct dot *d;
		if (et_used(e))
			sp.npairs += get_dots(s, e->pay, &t, &d);
	}
	sp.pairs = malloc((sp.npairs ? sp.npairs : 1) * sizeof(*sp.pairs));
	sp.tmp = malloc((sp.npairs ? sp.npairs : 1) * sizeof(*sp.tmp));
	sp.local = malloc((s->nreps ? s->nreps : 1) * sizeof(*sp.local));
	sp.incl = malloc((s->nreps ? s->nreps : 1) * sizeof(*sp.incl));
	sp.last = malloc((s->nreps ? s->nreps : 1) * sizeof(*sp.last));
	if (!sp.pairs || !sp.tmp || !sp.local || !sp.incl || !sp.last)
		goto out;
	for (size_t i = 0; i < et_cap(&s->tab); i++) {
		const struct et_slot *e = &s->tab.s[i];
		struct dot t;
		const struct dot *d;
		size_t n;
		if (!et_used(e))
			continue;
		n = get_dots(s, e->pay, &t, &d);
		for (size_t x = 0; x < n; x++)
			sp.pairs[k++] = (struct pair){ .ctr = d[x].ctr, .ri = d[x].ri, .e = e };
	}
	qsort(sp.pairs, sp.npairs, sizeof(*sp.pairs), pair_walk_cmp);

	fixed = 2 + crdt_varint_len(s->nreps) + crdt_varint_len(sp.npairs);
	/* a dot's head 2 * index + 1 stays below 2 * nreps */
	vidx = crdt_varint_len(2 * (uint64_t)s->nreps);
	r = CRDT_EMSGSIZE;
	if (fixed > max)
		goto out;
	if (s->nreps == 0) {
		r = emit(&sp, &from, &(struct cut){ 0 });
		goto out;
	}
	from = (struct cut){ .r = 0, .c = s->reps[0].iv[0].lo, .p = 0 };
	size_t size = fixed, p = 0;
	for (uint32_t ri = 0; ri < s->nreps; ri++) {
		const struct rep *rp = &s->reps[ri];
		size_t repcost = CRDT_RID_LEN + crdt_varint_len(rp->n);
		size_t zmax = ctr_zz_max_len(rp->iv[rp->n - 1].hi);

		size += repcost;
		for (uint32_t j = 0; j < rp->n; j++) {
			uint64_t lo = rp->iv[j].lo;
			size_t fc = crdt_varint_len(lo) + crdt_varint_len(rp->iv[j].hi - lo);

			if (size + fc > max) {
				if ((r = emit(&sp, &from, &(struct cut){ ri, lo - 1, p })) != 0)
					goto out;
				from = (struct cut){ ri, lo, p };
				size = fixed + repcost;
				r = CRDT_EMSGSIZE;
				if (size + fc > max)
					goto out;
			}
			size += fc;
			for (; p < sp.npairs && sp.pairs[p].ri == ri && sp.pairs[p].ctr <= rp->iv[j].hi; p++) {
				const struct et_slot *e = sp.pairs[p].e;
				uint64_t c = sp.pairs[p].ctr;
				size_t pc = crdt_varint_len(et_len(e)) + et_len(e) + vidx + zmax;
				if (fixed + repcost + crdt_varint_len(c) +
					    crdt_varint_len(rp->iv[j].hi - c) + pc > max) {
					/* This pair fits no piece: cut around its
					 * dot, so that no piece's context covers
					 * it (one that did without the pair would
					 * remove the element at the receiver). */
					if ((from.r < ri || from.c < c) &&
					    (r = emit(&sp, &from, &(struct cut){ ri, c - 1, p })) != 0)
						goto out;
					skipped++;
					from = (struct cut){ ri, c + 1, p + 1 };
					size = fixed + repcost + crdt_varint_len(c + 1) +
					       crdt_varint_len(rp->iv[j].hi - c);
					continue;
				}
				if (size + pc > max) {
					if ((r = emit(&sp, &from, &(struct cut){ ri, c - 1, p })) != 0)
						goto out;
					from = (struct cut){ ri, c, p };
					size = fixed + repcost + crdt_varint_len(c) +
					       crdt_varint_len(rp->iv[j].hi - c);
					r = CRDT_EMSGSIZE;
					if (size + pc > max)
						goto out;
				}
				size += pc;
			}
		}
	}
	{
		const struct rep *last = &s->reps[s->nreps - 1];
		r = emit(&sp, &from,
			 &(struct cut){ s->nreps - 1, last->iv[last->n - 1].hi, sp.npairs });
		if (r == 0)
			r = (int)(skipped > INT32_MAX ? INT32_MAX : skipped);
	}
out:
	crdt_buf_done(&sp.b);
	free(sp.pairs);
	free(sp.tmp);
	free(sp.local);
	free(sp.incl);
	free(sp.last);
	free(sp.dots);
	return r;
}

/* ---- JSON ---- */

cJSON *crdt_orset_to_json(const struct crdt_orset *s)
{
	struct et_slot **v = NULL;
	cJSON *o = cJSON_CreateObject(), *els, *ctx, *dots;
	char id[CRDT_RID_STRLEN];

	if (!o || !cJSON_AddStringToObject(o, "type", "orset") ||
	    !(els = cJSON_AddArrayToObject(o, "elements")) ||
	    !(ctx = cJSON_AddObjectToObject(o, "context")) ||
	    !(dots = cJSON_AddArrayToObject(o, "dots")) || et_sorted(&s->tab, &v) < 0)
		goto fail;
	for (uint32_t k = 0; k < s->nreps; k++) {
		const struct rep *p = &s->reps[s->order[k]];
		cJSON *a;
		crdt_rid_format(&p->rid, id);
		if (!(a = cJSON_AddArrayToObject(ctx, id)))
			goto fail;
		for (uint32_t i = 0; i < p->n; i++) {
			cJSON *pair = cJSON_CreateArray();
			if (!pair)
				goto fail;
			cJSON_AddItemToArray(a, pair);
			if (!cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)p->iv[i].lo)) ||
			    !cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)p->iv[i].hi)))
				goto fail;
		}
	}
	for (size_t i = 0; i < s->tab.count; i++) {
		const struct dot *d;
		struct dot t;
		size_t n = get_dots(s, v[i]->pay, &t, &d);
		cJSON *el = et_elem_json(et_key(v[i]), et_len(v[i])), *dl;

		if (!el)
			goto fail;
		cJSON_AddItemToArray(els, el);
		if (!(dl = cJSON_CreateArray()))
			goto fail;
		cJSON_AddItemToArray(dots, dl);
		for (size_t x = 0; x < n; x++) {
			cJSON *dj = cJSON_CreateArray();
			if (!dj)
				goto fail;
			cJSON_AddItemToArray(dl, dj);
			crdt_rid_format(&s->reps[d[x].ri].rid, id);
			if (!cJSON_AddItemToArray(dj, cJSON_CreateString(id)) ||
			    !cJSON_AddItemToArray(dj, cJSON_CreateNumber((double)d[x].ctr)))
				goto fail;
		}
	}
	free(v);
	return o;
fail:
	free(v);
	cJSON_Delete(o);
	return NULL;
}
