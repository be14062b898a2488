/* The OR-Map's lifecycle, local operations (HSET, HINCRBY, HDEL), queries
 * and merge. */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "internal.h"

/* ---- replicas and the causal context -------------------------------------- */

uint32_t rep_find(const struct crdt_ormap *m, const struct crdt_rid *rid)
{
	for (uint32_t i = 0; i < m->nreps; i++)
		if (memcmp(m->reps[i].rid.b, rid->b, CRDT_RID_LEN) == 0)
			return i;
	return NO_REP;
}

uint32_t rep_get(struct crdt_ormap *m, const struct crdt_rid *rid)
{
	uint32_t i = rep_find(m, rid);

	if (i != NO_REP)
		return i;
	if (m->nreps == m->capreps) {
		uint32_t cap = m->capreps ? m->capreps * 2 : 2;
		struct mrep *r = realloc(m->reps, cap * sizeof(*r));
		if (!r)
			return NO_REP;
		m->reps = r;
		m->capreps = cap;
	}
	m->reps[m->nreps] = (struct mrep){ .rid = *rid };
	return m->nreps++;
}

bool ctx_has(const struct crdt_ormap *m, uint32_t ri, uint64_t c)
{
	const struct mrep *r;
	uint32_t lo = 0, hi;

	if (ri >= m->nreps)
		return false;
	r = &m->reps[ri];
	hi = r->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (c < r->iv[mid].lo)
			hi = mid;
		else if (c > r->iv[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/* Every dot of @a's context is in @b's. */
static bool ctx_within(const struct crdt_ormap *a, const struct crdt_ormap *b)
{
	for (uint32_t i = 0; i < a->nreps; i++) {
		const struct mrep *p = &a->reps[i];
		uint32_t j;
		if (p->n == 0)
			continue;
		if ((j = rep_find(b, &p->rid)) == NO_REP)
			return false;
		for (uint32_t k = 0; k < p->n; k++)
			if (!ivs_cover(b->reps[j].iv, b->reps[j].n, p->iv[k].lo, p->iv[k].hi))
				return false;
	}
	return true;
}

/* In place, from the first interval @iv touches (ivs_join_into): a merge
 * into a new list copied the whole context for each HSET's delta joined
 * into a queued one (14 % of the writer's CPU in an HSET storm), and a
 * large one fresh from the allocator page-faulted every 4 KiB. */
int ctx_add_ivs(struct crdt_ormap *m, uint32_t ri, const struct ivl *iv, uint32_t n)
{
	struct mrep *r = &m->reps[ri];
	uint32_t f;

	if (n == 1 && iv[0].lo == iv[0].hi)
		return ctx_add(m, ri, iv[0].lo);
	if ((size_t)r->n + n > r->cap && ctx_reserve(m, ri, n > r->n / 2 ? n : r->n / 2) < 0)
		return CRDT_ENOMEM; /* grown by half, as ctx_add */
	f = ctx_first(r, iv[0].lo ? iv[0].lo - 1 : 0);
	r->n = f + ivs_join_into(r->iv + f, r->n - f, iv, n);
	return 0;
}

int ctx_reserve(struct crdt_ormap *m, uint32_t ri, size_t extra)
{
	struct mrep *r = &m->reps[ri];
	struct ivl *iv;

	if ((size_t)r->n + extra <= r->cap)
		return 0;
	if ((size_t)r->n + extra > UINT32_MAX ||
	    !(iv = realloc(r->iv, ((size_t)r->n + extra) * sizeof(*iv))))
		return CRDT_ENOMEM;
	r->iv = iv;
	r->cap = (uint32_t)(r->n + extra);
	return 0;
}

uint32_t ctx_first(const struct mrep *r, uint64_t c)
{
	uint32_t lo = 0, hi = r->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (r->iv[mid].hi < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int ctx_add(struct crdt_ormap *m, uint32_t ri, uint64_t c)
{
	struct mrep *r = &m->reps[ri];
	uint32_t lo = ctx_first(r, c);
	bool left, right;

	if (lo < r->n && r->iv[lo].lo <= c)
		return 0; /* known */
	left = lo > 0 && r->iv[lo - 1].hi + 1 == c;
	right = lo < r->n && r->iv[lo].lo - 1 == c;
	if (left && right) {
		r->iv[lo - 1].hi = r->iv[lo].hi;
		memmove(&r->iv[lo], &r->iv[lo + 1], (r->n - lo - 1) * sizeof(r->iv[0]));
		r->n--;
	} else if (left) {
		r->iv[lo - 1].hi = c;
	} else if (right) {
		r->iv[lo].lo = c;
	} else {
		if (r->n == r->cap && ctx_reserve(m, ri, r->n < 4 ? 1 : r->n / 2) < 0)
			return CRDT_ENOMEM;
		memmove(&r->iv[lo + 1], &r->iv[lo], (r->n - lo) * sizeof(r->iv[0]));
		r->iv[lo] = (struct ivl){ c, c };
		r->n++;
	}
	return 0;
}

/* The next dot counter of replica @ri: past everything its context holds. */
static uint64_t next_ctr(const struct crdt_ormap *m, uint32_t ri)
{
	const struct mrep *r = &m->reps[ri];
	uint64_t top = r->n ? r->iv[r->n - 1].hi : 0;
	return top == UINT64_MAX ? 0 : top + 1;
}

/* ---- entries and fields ----------------------------------------------------- */

static size_t ent_size(uint8_t kind, uint32_t len)
{
	return kind == ENT_REG ? offsetof(struct ment, val) + len
			       : sizeof(struct ment) + (size_t)len * sizeof(struct mrow);
}

static struct ment *ent_alloc(uint8_t kind, uint32_t len)
{
	size_t sz = ent_size(kind, len);
	struct ment *e = malloc(sz < sizeof(struct ment) ? sizeof(struct ment) : sz);

	if (e) {
		memset(e, 0, sizeof(*e));
		e->kind = kind;
		e->len = len;
	}
	return e;
}

struct ment *ent_copy(const struct ment *e, const uint32_t *map)
{
	struct ment *c = ent_alloc(e->kind, e->len);

	if (!c)
		return NULL;
	memcpy(c, e, ent_size(e->kind, e->len));
	if (map) {
		c->ri = map[e->ri];
		for (uint32_t i = 0; c->kind == ENT_CTR && i < c->len; i++)
			ent_rows(c)[i].ri = map[ent_rows(e)[i].ri];
	}
	return c;
}

static void free_pay(uint64_t pay, bool entries)
{
	struct ment *one;
	struct ment *const *v;
	uint32_t n = fld_ents(pay, &one, &v);

	for (uint32_t i = 0; entries && i < n; i++)
		free(v[i]);
	if (pay & 1)
		free((void *)(uintptr_t)(pay & ~(uint64_t)1));
}

static int make_pay(struct ment **e, uint32_t n, uint64_t *ret)
{
	struct mmulti *mm;

	if (n <= 1) {
		*ret = n ? (uint64_t)(uintptr_t)e[0] : 0;
		return 0;
	}
	if (!(mm = malloc(sizeof(*mm) + n * sizeof(mm->e[0]))))
		return CRDT_ENOMEM;
	mm->n = n;
	memcpy(mm->e, e, n * sizeof(e[0]));
	*ret = (uint64_t)(uintptr_t)mm | 1;
	return 0;
}

int fld_put(struct crdt_ormap *m, struct et_slot *slot, struct ment **e, uint32_t n)
{
	uint64_t pay;
	int r = make_pay(e, n, &pay);

	if (r < 0)
		return r;
	note_ents(m, e, n);
	free_pay(slot->pay, false);
	slot->pay = pay;
	if (n == 0)
		et_remove(&m->tab, slot);
	return 0;
}

int fld_insert(struct crdt_ormap *m, const uint8_t *key, size_t len, uint32_t h, struct ment **e,
	       uint32_t n)
{
	uint8_t *owned = NULL;
	uint64_t pay;
	int r;

	if ((r = et_reserve(&m->tab, (size_t)m->tab.count + 1)) < 0)
		return r;
	owned = et_key_dup(key, len, &r);
	if (r < 0)
		return r;
	if ((r = make_pay(e, n, &pay)) < 0) {
		free(owned);
		return r;
	}
	note_ents(m, e, n);
	et_insert(&m->tab, key, len, h, owned)->pay = pay;
	if (m->fp_ok)
		m->fp_ents += fp_ents_of(m, key, len, e, n);
	return 0;
}

/* Whether two entries of maps @ma and @mb are the same write: one dot. */
bool ent_same(const struct ment *a, const struct ment *b, const struct crdt_ormap *ma,
	      const struct crdt_ormap *mb)
{
	return a->ctr == b->ctr &&
	       memcmp(ma->reps[a->ri].rid.b, mb->reps[b->ri].rid.b, CRDT_RID_LEN) == 0;
}

/* ---- lifecycle --------------------------------------------------------------- */

struct crdt_ormap *crdt_ormap_new(void)
{
	struct crdt_ormap *m = calloc(1, sizeof(*m));

	if (m) {
		et_init(&m->tab);
		et_init(&m->base);
	}
	return m;
}

void crdt_ormap_free(struct crdt_ormap *m)
{
	if (!m)
		return;
	for (uint32_t i = 0; m->tab.s && i < m->tab.cap; i++)
		if (et_used(&m->tab.s[i]))
			free_pay(m->tab.s[i].pay, true);
	et_done(&m->tab);
	for (uint32_t i = 0; m->base.s && i < m->base.cap; i++)
		if (et_used(&m->base.s[i]))
			free((void *)(uintptr_t)m->base.s[i].pay);
	et_done(&m->base);
	dix_drop(m);
	for (uint32_t i = 0; i < m->nreps; i++)
		free(m->reps[i].iv);
	free(m->reps);
	free(m);
}

struct crdt_ormap *crdt_ormap_copy(const struct crdt_ormap *m)
{
	struct crdt_ormap *c = crdt_ormap_new();

	if (!c)
		return NULL;
	for (uint32_t i = 0; i < m->nreps; i++) {
		if (rep_get(c, &m->reps[i].rid) == NO_REP ||
		    (m->reps[i].n && ctx_add_ivs(c, i, m->reps[i].iv, m->reps[i].n) < 0))
			goto fail;
	}
	if (et_reserve(&c->tab, m->tab.count) < 0)
		goto fail;
	for (uint32_t i = 0; m->tab.s && i < m->tab.cap; i++) {
		const struct et_slot *s = &m->tab.s[i];
		struct ment *one, *const *v, *cp[64], **e = cp;
		uint32_t n;

		if (!et_used(s))
			continue;
		n = fld_ents(s->pay, &one, &v);
		if (n > 64 && !(e = malloc(n * sizeof(*e))))
			goto fail;
		for (uint32_t k = 0; k < n; k++) {
			if (!(e[k] = ent_copy(v[k], NULL))) {
				while (k-- > 0)
					free(e[k]);
				if (e != cp)
					free(e);
				goto fail;
			}
		}
		if (fld_insert(c, et_key(s), et_len(s), s->hash, e, n) < 0) {
			for (uint32_t k = 0; k < n; k++)
				free(e[k]);
			if (e != cp)
				free(e);
			goto fail;
		}
		if (e != cp)
			free(e);
	}
	/* the baselines come in hash order: inserted so into a table sized
	 * for fewer, they would all probe one growing run (base_reserve) */
	if (base_reserve(c, m->base.count) < 0)
		goto fail;
	for (uint32_t i = 0; m->base.s && i < m->base.cap; i++) {
		const struct et_slot *s = &m->base.s[i];
		const struct ment *b = (const struct ment *)(uintptr_t)s->pay;
		/* the replicas are numbered alike */
		if (et_used(s) && base_join(c, et_key(s), et_len(s), ent_rows(b), b->len) < 0)
			goto fail;
	}
	return c;
fail:
	crdt_ormap_free(c);
	return NULL;
}

/* ---- values ------------------------------------------------------------------- */

/* Order of two register entries: stamp, writer, then the bytes (equal
 * stamps from one writer only come from misuse; still deterministic). */
static int reg_cmp(const struct crdt_ormap *m, const struct ment *a, const struct ment *b)
{
	int c;
	uint32_t min = a->len < b->len ? a->len : b->len;

	if (a->ms != b->ms)
		return a->ms < b->ms ? -1 : 1;
	if (a->lc != b->lc)
		return a->lc < b->lc ? -1 : 1;
	if ((c = memcmp(m->reps[a->ri].rid.b, m->reps[b->ri].rid.b, CRDT_RID_LEN)) != 0)
		return c;
	if (min && (c = memcmp(a->val, b->val, min)) != 0)
		return c;
	return (a->len > b->len) - (a->len < b->len);
}

static const struct ment *top_reg(const struct crdt_ormap *m, struct ment *const *v, uint32_t n)
{
	const struct ment *best = NULL;

	for (uint32_t i = 0; i < n; i++)
		if (v[i]->kind == ENT_REG && (!best || reg_cmp(m, v[i], best) > 0))
			best = v[i];
	return best;
}

/* The join of the counter entries' rows (per replica the maximum), into
 * a malloc'd *ret (room for one more row).  The number of rows. */
static int join_rows(struct ment *const *v, uint32_t n, struct mrow **ret, uint32_t *ret_n)
{
	size_t cap = 1;
	uint32_t k = 0;
	struct mrow *out;

	for (uint32_t i = 0; i < n; i++)
		cap += v[i]->kind == ENT_CTR ? v[i]->len : 0;
	if (!(out = malloc(cap * sizeof(*out))))
		return CRDT_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t j = 0; v[i]->kind == ENT_CTR && j < v[i]->len; j++) {
			const struct mrow *r = &ent_rows(v[i])[j];
			uint32_t x = 0;
			while (x < k && out[x].ri != r->ri)
				x++;
			if (x == k)
				out[k++] = *r;
			if (r->p > out[x].p)
				out[x].p = r->p;
			if (r->n > out[x].n)
				out[x].n = r->n;
		}
	}
	*ret = out;
	*ret_n = k;
	return 0;
}

/* The counter @r[@n] over baseline @b (NULL: none): per replica only what
 * passed the baseline. */
static __int128 rel_value(const struct mrow *r, uint32_t n, const struct ment *b)
{
	__int128 v = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t bp = 0, bn = 0;
		for (uint32_t j = 0; b && j < b->len; j++) {
			if (ent_rows(b)[j].ri == r[i].ri) {
				bp = ent_rows(b)[j].p;
				bn = ent_rows(b)[j].n;
			}
		}
		v += (__int128)(r[i].p > bp ? r[i].p - bp : 0);
		v -= (__int128)(r[i].n > bn ? r[i].n - bn : 0);
	}
	return v;
}

/* ---- baselines ------------------------------------------------------------------ */

const struct ment *base_of(const struct crdt_ormap *m, const uint8_t *key, size_t len)
{
	const struct et_slot *s;

	if (m->base.count == 0 || len > ET_MAX_LEN)
		return NULL;
	s = et_find(&m->base, key, len, et_hash(key, len));
	return s ? (const struct ment *)(uintptr_t)s->pay : NULL;
}

/* A baseline change made ready: the new record (NULL: no change) and the
 * key's copy for a new long key. */
struct bprep {
	struct ment *e;
	uint8_t *owned;
	bool fresh; /* a field without a baseline yet: needs a slot */
};

/* Field @key's baseline joined with @r[@n], not yet installed.  -ENOMEM. */
static int base_prep(const struct crdt_ormap *m, const uint8_t *key, size_t len,
		     const struct mrow *r, uint32_t n, struct bprep *p)
{
	const struct ment *old = base_of(m, key, len);
	struct ment *add, *v[2];
	struct mrow *rows;
	uint32_t nr;
	__int128 a = 0, b = 0;
	int rc;

	*p = (struct bprep){ 0 };
	if (n == 0)
		return 0;
	if (!old) { /* @r as it is: a state's rows name each replica once */
		if (!(p->e = ent_alloc(ENT_CTR, n)))
			return CRDT_ENOMEM;
		memcpy(ent_rows(p->e), r, n * sizeof(*r));
		p->fresh = true;
		if (!(p->owned = et_key_dup(key, len, &rc)) && rc < 0) {
			free(p->e);
			p->e = NULL;
		}
		return rc;
	}
	if (!(add = ent_alloc(ENT_CTR, n)))
		return CRDT_ENOMEM;
	memcpy(ent_rows(add), r, n * sizeof(*r));
	v[0] = add;
	v[1] = (struct ment *)(uintptr_t)old;
	rc = join_rows(v, 2, &rows, &nr);
	free(add);
	if (rc < 0)
		return rc;
	if (nr == old->len) {
		/* the join is at least the old rows: equal sums, equal rows */
		for (uint32_t i = 0; i < nr; i++) {
			a += (__int128)rows[i].p + rows[i].n;
			b += (__int128)ent_rows(old)[i].p + ent_rows(old)[i].n;
		}
		if (a == b) {
			free(rows);
			return 0;
		}
	}
	if (!(p->e = ent_alloc(ENT_CTR, nr))) {
		free(rows);
		return CRDT_ENOMEM;
	}
	memcpy(ent_rows(p->e), rows, nr * sizeof(*rows));
	free(rows);
	return 0;
}

/* Install a prepared change; room in the table is reserved. */
static void base_put(struct crdt_ormap *m, const uint8_t *key, size_t len, struct bprep *p)
{
	uint32_t h = et_hash(key, len);
	struct et_slot *s;

	if (!p->e)
		return;
	if ((s = et_find(&m->base, key, len, h))) {
		if (m->fp_ok)
			m->fp_base -= fp_baseline(m, NULL, fp_field(key, len),
						  (const struct ment *)(uintptr_t)s->pay);
		free((void *)(uintptr_t)s->pay);
		s->pay = (uint64_t)(uintptr_t)p->e;
	} else {
		et_insert(&m->base, key, len, h, p->owned)->pay = (uint64_t)(uintptr_t)p->e;
	}
	if (m->fp_ok)
		m->fp_base += fp_baseline(m, NULL, fp_field(key, len), p->e);
	*p = (struct bprep){ 0 };
}

static void base_unprep(struct bprep *p)
{
	free(p->e);
	free(p->owned);
	*p = (struct bprep){ 0 };
}

int base_reserve(struct crdt_ormap *m, size_t n)
{
	return n ? et_reserve(&m->base, (size_t)m->base.count + n) : 0;
}

int base_join(struct crdt_ormap *m, const uint8_t *key, size_t len, const struct mrow *r,
	      uint32_t n)
{
	struct bprep p;
	int rc;

	if ((rc = base_prep(m, key, len, r, n, &p)) < 0)
		return rc;
	if (p.fresh && (rc = et_reserve(&m->base, (size_t)m->base.count + 1)) < 0) {
		base_unprep(&p);
		return rc;
	}
	base_put(m, key, len, &p);
	return 0;
}

/* Baseline @b (@m's replica numbers; @m takes it, or it is freed) of the
 * field named in @s, a slot of another table: joined into the one @m
 * has, or, new to @m (a catch-up's pieces bring only such), put in as it
 * is after one lookup.  0 or -ENOMEM (@m unchanged). */
static int base_take(struct crdt_ormap *m, const struct et_slot *s, struct ment *b)
{
	uint8_t *owned;
	int r;

	if (et_find(&m->base, et_key(s), et_len(s), s->hash)) {
		r = base_join(m, et_key(s), et_len(s), ent_rows(b), b->len);
		free(b);
		return r;
	}
	if ((r = et_reserve(&m->base, (size_t)m->base.count + 1)) < 0 ||
	    (!(owned = et_key_dup(et_key(s), et_len(s), &r)) && r < 0)) {
		free(b);
		return r;
	}
	et_insert_slot(&m->base, s, owned)->pay = (uint64_t)(uintptr_t)b;
	if (m->fp_ok)
		m->fp_base += fp_baseline(m, NULL, fp_field(et_key(s), et_len(s)), b);
	return 0;
}

static void fmt128(__int128 v, char *out)
{
	char tmp[48];
	size_t k = 0;
	unsigned __int128 u = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;

	do {
		tmp[k++] = (char)('0' + (int)(u % 10));
		u /= 10;
	} while (u);
	if (v < 0)
		*out++ = '-';
	while (k)
		*out++ = tmp[--k];
	*out = 0;
}

static bool value_of(const struct crdt_ormap *m, const struct et_slot *s,
		     struct crdt_ormap_val *ret)
{
	struct ment *one, *const *v;
	uint32_t n = fld_ents(s->pay, &one, &v), nr;
	const struct ment *r = top_reg(m, v, n), *b;
	struct mrow *rows;
	__int128 x = 0;

	if (n == 0)
		return false;
	if (r) {
		ret->counter = false;
		ret->p = r->len ? r->val : (const uint8_t *)"";
		ret->len = r->len;
		return true;
	}
	/* without memory for the join, the first entry alone */
	b = base_of(m, et_key(s), et_len(s));
	if (join_rows(v, n, &rows, &nr) == 0) {
		x = rel_value(rows, nr, b);
		free(rows);
	} else {
		x = rel_value(ent_rows(v[0]), v[0]->len, b);
	}
	ret->counter = true;
	ret->n = x > INT64_MAX ? INT64_MAX : x < INT64_MIN ? INT64_MIN : (int64_t)x;
	fmt128(x, ret->num);
	ret->p = (const uint8_t *)ret->num;
	ret->len = strlen(ret->num);
	return true;
}

static struct et_slot *find(const struct crdt_ormap *m, const void *f, size_t flen)
{
	return flen > ET_MAX_LEN ? NULL : et_find(&m->tab, f, flen, et_hash(f, flen));
}

bool crdt_ormap_get(const struct crdt_ormap *m, const void *f, size_t flen,
		    struct crdt_ormap_val *ret)
{
	const struct et_slot *s = find(m, f, flen);
	return s && value_of(m, s, ret);
}

/* Every field and the dot index go; the context and the baselines stay. */
static void drop_fields(struct crdt_ormap *m)
{
	m->may_ctr = false;
	for (uint32_t i = 0; m->tab.s && i < m->tab.cap; i++)
		if (et_used(&m->tab.s[i]))
			free_pay(m->tab.s[i].pay, true);
	et_done(&m->tab);
	et_init(&m->tab);
	dix_drop(m);
	m->fp_ents = 0; /* no entry left; the baselines keep their part */
}

/* Move @m's fields and their dot index into @h (a husk, only ever freed);
 * the context and the baselines stay. */
static void fields_to(struct crdt_ormap *m, struct crdt_ormap *h)
{
	h->tab = m->tab;
	h->may_ctr = m->may_ctr;
	h->dix = m->dix; /* its array too: 32 MiB at 1,000,000 fields */
	et_init(&m->tab);
	m->dix = (struct dix){ 0 };
	m->may_ctr = false;
	m->fp_ents = 0;
}

/* A new baseline of field @v[@n]'s counter rows into *@ret (NULL: it has
 * none, as base_prep makes none of no rows).  0 or -ENOMEM. */
static int base_new(struct ment *const *v, uint32_t n, struct ment **ret)
{
	struct mrow *rows;
	uint32_t x = 0, nr;

	*ret = NULL;
	while (x < n && v[x]->kind != ENT_CTR)
		x++;
	if (x == n)
		return 0;
	if (n == 1) { /* one counter entry: its rows as they are */
		if (v[0]->len == 0)
			return 0;
		if (!(*ret = ent_alloc(ENT_CTR, v[0]->len)))
			return CRDT_ENOMEM;
		memcpy(ent_rows(*ret), ent_rows(v[0]), v[0]->len * sizeof(struct mrow));
		return 0;
	}
	if (join_rows(v, n, &rows, &nr) < 0)
		return CRDT_ENOMEM;
	if (nr && (*ret = ent_alloc(ENT_CTR, nr)))
		memcpy(ent_rows(*ret), rows, nr * sizeof(*rows));
	free(rows);
	return *ret || !nr ? 0 : CRDT_ENOMEM;
}

/* *@e, a new baseline, joined with @old in a new allocation.  -ENOMEM
 * (*@e unchanged). */
static int base_rejoin(struct ment **e, const struct ment *old)
{
	struct ment *v[2] = { *e, (struct ment *)(uintptr_t)old }, *x;
	struct mrow *rows;
	uint32_t nr;

	if (join_rows(v, 2, &rows, &nr) < 0)
		return CRDT_ENOMEM;
	if ((x = ent_alloc(ENT_CTR, nr)))
		memcpy(ent_rows(x), rows, nr * sizeof(*rows));
	free(rows);
	if (!x)
		return CRDT_ENOMEM;
	free(*e);
	*e = x;
	return 0;
}

/* The slot of @o from @j on that is not before field slot @f (elemtab
 * order; NULL: the end), counting in *@n those it passes. */
static size_t base_upto(const struct elemtab *o, size_t j, const struct et_slot *f, uint32_t *n)
{
	for (; j < et_cap(o) && (!f || et_hk_before(&o->s[j], f)); j = et_walk(o, j + 1))
		(*n)++;
	return j;
}

#define BASES_AHEAD 8
/* clear's baselines in one pass, for a map with at most this many times as
 * many baselines as fields (its first DEL among them). */
#define BASES_MERGED 4

/* clear's baselines as a new table, built in one pass over the fields and
 * the old baselines together, both in the table's order (elemtab order),
 * by appending: no lookup and no insert, one allocation a counter field
 * (two where it had a baseline), the old baselines moved over as they are.
 * Joining each field into the table took three lookups and four
 * allocations.  All or none: 0 or -ENOMEM. */
static int bases_merged(struct crdt_ormap *m)
{
	const struct elemtab *t = &m->tab, *o = &m->base;
	struct ment **b = calloc(t->count, sizeof(*b)), **old = calloc(t->count, sizeof(*old));
	uint8_t **own = calloc(t->count, sizeof(*own));
	uint64_t stack[16], *fr = NULL, dfp = 0;
	uint32_t k = 0, total = 0, fill = 0;
	struct elemtab nt;
	size_t i, j = et_walk(o, 0);
	int r = CRDT_ENOMEM;

	if (!b || !old || !own)
		goto out;
	/* every allocation first: the fields' new baselines, joined with
	 * their old ones, and a long name's copy for a new one */
	for (i = et_walk(t, 0); i < et_cap(t); i = et_walk(t, i + 1), k++) {
		const struct et_slot *f = &t->s[i];
		struct ment *one, *const *v;
		uint32_t n = fld_ents(f->pay, &one, &v);
		/* each entry is a cache miss of its own: a few on their way
		 * while this one is read (a slot's payload, 0 if empty) */
		if (i + BASES_AHEAD < et_cap(t))
			__builtin_prefetch((const void *)(uintptr_t)(t->s[i + BASES_AHEAD].pay & ~(uint64_t)1));
		j = base_upto(o, j, f, &total);
		if (j < et_cap(o) && et_hk_cmp(&o->s[j], f) == 0) {
			old[k] = (struct ment *)(uintptr_t)o->s[j].pay;
			j = et_walk(o, j + 1);
		}
		if (base_new(v, n, &b[k]) < 0 || (b[k] && old[k] && base_rejoin(&b[k], old[k]) < 0))
			goto out;
		if (b[k] && !old[k] && et_len(f) > ET_INLINE &&
		    !(own[k] = et_key_dup(et_key(f), et_len(f), &r)))
			goto out;
		total += b[k] || old[k];
	}
	base_upto(o, j, NULL, &total);
	if ((r = et_init_for(&nt, total)) < 0)
		goto out;
	if (m->fp_ok && (fr = m->nreps <= 16 ? stack : malloc(m->nreps * sizeof(*fr))))
		for (uint32_t x = 0; x < m->nreps; x++) /* each replica's part hashed once */
			fr[x] = fp_rid(&m->reps[x].rid);
	/* then the table, in order: the old baselines before each field, the
	 * field's (an old one's slot, or the field's with its copy) */
	j = et_walk(o, 0);
	k = 0;
	for (i = et_walk(t, 0); r == 0; i = et_walk(t, i + 1), k++) {
		const struct et_slot *f = i < et_cap(t) ? &t->s[i] : NULL;
		struct et_slot x;
		for (; r == 0 && j < et_cap(o) && (!f || et_hk_before(&o->s[j], f)); j = et_walk(o, j + 1))
			r = et_append(&nt, &o->s[j], &fill);
		if (!f || r < 0)
			break;
		if (!b[k] && !old[k])
			continue;
		x = old[k] ? o->s[j] : *f;
		if (old[k])
			j = et_walk(o, j + 1);
		else if (own[k])
			x.k.ptr = own[k];
		if (b[k]) {
			uint64_t kh = m->fp_ok ? fp_field(et_key(&x), et_len(&x)) : 0;
			x.pay = (uint64_t)(uintptr_t)b[k];
			if (m->fp_ok)
				dfp += fp_baseline(m, fr, kh, b[k]) -
				       (old[k] ? fp_baseline(m, fr, kh, old[k]) : 0);
		}
		r = et_append(&nt, &x, &fill);
	}
	et_append_end(&nt, fill);
	if (r < 0) { /* no slot of it is its own: the array goes, not what they point to */
		for (i = 0; i < et_cap(&nt); i++)
			nt.s[i].meta = 0;
		et_done(&nt);
		goto out;
	}
	m->fp_base += dfp;
	for (k = 0; k < t->count; k++) {
		if (b[k])
			free(old[k]); /* replaced */
		b[k] = NULL;   /* the table's now, */
		own[k] = NULL; /* as the long names */
	}
	et_adopt(&m->base, &nt); /* the old array goes, not its names */
out:
	for (k = 0; b && own && k < t->count; k++) {
		free(b[k]);
		free(own[k]);
	}
	if (fr != stack)
		free(fr);
	free(b);
	free(old);
	free(own);
	return r;
}

/* The clear, the fields freed (@h NULL) or moved into @h. */
static int clear(struct crdt_ormap *m, struct crdt_ormap *h)
{
	struct bprep *p;
	uint32_t k = 0, fresh = 0;
	int r;

	if (m->tab.count == 0)
		return 0;
	if (!m->may_ctr) /* registers only: no baseline to make */
		goto drop;
	if (m->base.count <= (size_t)BASES_MERGED * m->tab.count) {
		if ((r = bases_merged(m)) < 0)
			return r;
		goto drop;
	}
	/* each counter's rows join its field's baseline: all or none */
	if (!(p = calloc(m->tab.count, sizeof(*p))))
		return CRDT_ENOMEM;
	for (uint32_t i = 0; m->tab.s && i < m->tab.cap; i++) {
		const struct et_slot *s = &m->tab.s[i];
		struct ment *one, *const *v;
		struct mrow *rows;
		uint32_t nr;
		if (!et_used(s))
			continue;
		uint32_t n = fld_ents(s->pay, &one, &v), x = 0;
		while (x < n && v[x]->kind != ENT_CTR)
			x++;
		if (x == n) { /* registers only: no baseline, nothing to join */
			p[k++] = (struct bprep){ 0 };
			continue;
		}
		if ((r = join_rows(v, n, &rows, &nr)) == 0) {
			r = base_prep(m, et_key(s), et_len(s), rows, nr, &p[k]);
			free(rows);
		}
		if (r < 0)
			goto fail;
		fresh += p[k++].fresh;
	}
	if (fresh && (r = et_reserve(&m->base, (size_t)m->base.count + fresh)) < 0)
		goto fail;
	k = 0;
	for (uint32_t i = 0; m->tab.s && i < m->tab.cap; i++)
		if (et_used(&m->tab.s[i]))
			base_put(m, et_key(&m->tab.s[i]), et_len(&m->tab.s[i]), &p[k++]);
	free(p);
drop:
	if (h) {
		fields_to(m, h);
	} else {
		drop_fields(m);
	}
	return 1;
fail:
	while (k-- > 0)
		base_unprep(&p[k]);
	free(p);
	return r;
}

int crdt_ormap_clear(struct crdt_ormap *m)
{
	return clear(m, NULL);
}

int crdt_ormap_clear_detach(struct crdt_ormap *m, struct crdt_ormap **ret_husk)
{
	struct crdt_ormap *h;
	int r;

	*ret_husk = NULL;
	if (m->tab.count == 0 || !(h = crdt_ormap_new()))
		return clear(m, NULL);
	et_done(&h->tab); /* a new map's own empty table */
	if ((r = clear(m, h)) <= 0) {
		crdt_ormap_free(h);
		return r;
	}
	*ret_husk = h;
	return r;
}

/* ---- what a delete's merge removes (crdt_ormap_detach_removed) ---- */

static int slot_ptr_cmp(const void *x, const void *y)
{
	const struct et_slot *a = *(const struct et_slot *const *)x;
	const struct et_slot *b = *(const struct et_slot *const *)y;

	return a < b ? -1 : a > b;
}

/* Whether @m's dot (@ri, @ctr) lies outside @remote's context; @map: @m's
 * replica numbers in @remote's (NO_REP: absent). */
static bool outside(const struct crdt_ormap *remote, const uint32_t *map, uint32_t ri,
		    uint64_t ctr)
{
	return map[ri] == NO_REP || !ctx_has(remote, map[ri], ctr);
}

/* Up to this many dot counters of @m's context outside @remote's are
 * looked up one by one in the dot index; past it the index is read whole. */
#define KEPT_LOOKUPS 65536

/* The fields gathered so far (gather_kept). */
struct kept {
	const struct crdt_ormap *m;
	const struct et_slot **v;
	size_t n, max, lookups;
};

/* Dot (@ri, @c) of @m's context, outside @remote's: its field, if it still
 * has that entry, is kept.  1 past the bound, 2 past KEPT_LOOKUPS. */
static int kept_dot(struct kept *k, uint32_t ri, uint64_t c)
{
	const struct et_slot *s;

	if (k->lookups++ == KEPT_LOOKUPS)
		return 2;
	if (!dix_find(k->m, ri, c) || !(s = dix_slot(k->m, ri, c)))
		return 0;
	if (k->n == k->max)
		return 1;
	k->v[k->n++] = s;
	return 0;
}

/* kept_dot() of every counter of replica @ri's context in @k->m that
 * @remote's replica @rr (NO_REP: none) lacks: every dot a field holds is
 * in its map's context, so these are the only dots a delete with that
 * context can have missed. */
static int kept_outside(struct kept *k, uint32_t ri, const struct crdt_ormap *remote, uint32_t rr)
{
	const struct mrep *l = &k->m->reps[ri], *o = rr == NO_REP ? NULL : &remote->reps[rr];
	int r;

	for (uint32_t i = 0; i < l->n; i++) {
		uint64_t c = l->iv[i].lo, hi = l->iv[i].hi;
		uint32_t j = o ? ctx_first(o, c) : 0;

		for (;;) {
			uint64_t end = hi;
			if (o && j < o->n && o->iv[j].lo <= c) { /* covered up to its hi */
				if (o->iv[j].hi >= hi)
					break;
				c = o->iv[j++].hi + 1;
				continue;
			}
			if (o && j < o->n && o->iv[j].lo - 1 < end)
				end = o->iv[j].lo - 1;
			for (uint64_t x = c;; x++) {
				if ((r = kept_dot(k, ri, x)) != 0)
					return r;
				if (x == end)
					break;
			}
			if (end == hi)
				break;
			c = end + 1;
		}
	}
	return 0;
}

/* Into @v[@max] the fields of @m with an entry outside @remote's context:
 * from the dot index, the few dots of @m's context outside @remote's
 * looked up (kept_outside), or one sequential pass over the index when
 * there are many; else a pass over the fields.  How many, or @max + 1 past
 * the bound. */
static size_t gather_kept(const struct crdt_ormap *m, const struct crdt_ormap *remote,
			  const uint32_t *map, const struct et_slot **v, size_t max)
{
	size_t n = 0;

	if (m->dix.ok) {
		struct kept k = { .m = m, .v = v, .max = max };
		int r = 0;
		for (uint32_t ri = 0; ri < m->nreps && !r; ri++)
			r = kept_outside(&k, ri, remote, map[ri]);
		if (r != 2)
			return r ? max + 1 : k.n;
	}
	if (m->dix.ok && !m->dix.old) { /* (one growing: the fields instead) */
		for (uint32_t i = 0; i < m->dix.cap; i++) {
			const struct dslot *d = &m->dix.s[i];
			const struct et_slot *s;
			if (!d->ctr || !outside(remote, map, d->ri, d->ctr))
				continue;
			if (!(s = dix_slot(m, d->ri, d->ctr)))
				continue;
			if (n == max)
				return max + 1;
			v[n++] = s;
		}
		return n;
	}
	for (uint32_t i = 0; m->tab.s && i < m->tab.cap; i++) {
		const struct et_slot *s = &m->tab.s[i];
		struct ment *one, *const *e;
		uint32_t ne;
		if (!et_used(s))
			continue;
		ne = fld_ents(s->pay, &one, &e);
		for (uint32_t x = 0; x < ne; x++)
			if (outside(remote, map, e[x]->ri, e[x]->ctr)) {
				if (n == max)
					return max + 1;
				v[n++] = s;
				break;
			}
	}
	return n;
}

/* A table holding copies of the fields @v[@n] of @m and their entries. */
static int copy_kept(const struct crdt_ormap *m, const struct et_slot *const *v, size_t n,
		     struct elemtab *keep)
{
	int r;

	if ((r = et_reserve(keep, n)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct ment *one, *const *e, *c[16], **cp = c;
		uint32_t ne = fld_ents(v[i]->pay, &one, &e), x = 0;
		uint8_t *owned = NULL;
		uint64_t pay;

		if (ne > 16 && !(cp = malloc(ne * sizeof(*cp))))
			return CRDT_ENOMEM;
		for (; x < ne; x++)
			if (!(cp[x] = ent_copy(e[x], NULL)))
				break;
		if (x < ne || (et_len(v[i]) > ET_INLINE &&
			       !(owned = et_key_dup(et_key(v[i]), et_len(v[i]), &r))) ||
		    make_pay(cp, ne, &pay) < 0) {
			while (x-- > 0)
				free(cp[x]);
			free(owned);
			if (cp != c)
				free(cp);
			return CRDT_ENOMEM;
		}
		et_insert_slot(keep, v[i], owned)->pay = pay;
		if (cp != c)
			free(cp);
	}
	return 0;
}

/* Free what copy_kept put in @keep. */
static void keep_done(struct elemtab *keep)
{
	for (uint32_t i = 0; keep->s && i < keep->cap; i++)
		if (et_used(&keep->s[i]))
			free_pay(keep->s[i].pay, true);
	et_done(keep);
}

int crdt_ormap_detach_removed(struct crdt_ormap *m, const struct crdt_ormap *remote,
			      size_t max_kept, struct crdt_ormap **ret_husk)
{
	const struct et_slot **v = NULL;
	uint32_t *map = NULL;
	struct elemtab keep;
	struct crdt_ormap *h = NULL;
	size_t n;
	int r = CRDT_ENOMEM;

	*ret_husk = NULL;
	if (remote->tab.count || !m->tab.count)
		return 0;
	/* Each field removed has an entry's dot of its own in @remote's
	 * context: one too small for all but @max_kept of them (an HDEL's
	 * delta) is told in O(its intervals), before the index is read. */
	if (max_kept >= m->tab.count)
		max_kept = m->tab.count - 1; /* else nothing to gain */
	uint64_t ctx = 0;
	for (uint32_t i = 0; i < remote->nreps && ctx < m->tab.count; i++)
		ctx = ivs_count(ctx, remote->reps[i].iv, remote->reps[i].n);
	if (ctx < m->tab.count - max_kept)
		return 0;
	if (crdt_ormap_clears(m, remote)) { /* keeps none: no field visited */
		if (!(h = crdt_ormap_new()))
			return CRDT_ENOMEM;
		/* no baselines made of the fields here, as the merge makes
		 * none: @remote's, joined by the merge, cover them */
		et_done(&h->tab);
		fields_to(m, h);
		*ret_husk = h;
		return 1;
	}
	/* room for twice the bound: a field with two entries outside is met
	 * twice from the index, and counted once below */
	if (!(map = malloc((m->nreps ? m->nreps : 1) * sizeof(*map))) ||
	    !(v = malloc((2 * max_kept + 1) * sizeof(*v))))
		goto out;
	for (uint32_t ri = 0; ri < m->nreps; ri++)
		map[ri] = rep_find(remote, &m->reps[ri].rid);
	r = 0;
	if ((n = gather_kept(m, remote, map, v, 2 * max_kept + 1)) > 2 * max_kept + 1)
		goto out;
	qsort(v, n, sizeof(*v), slot_ptr_cmp);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (!u || v[u - 1] != v[i])
			v[u++] = v[i];
	if ((n = u) > max_kept)
		goto out;
	et_init(&keep);
	if ((r = copy_kept(m, v, n, &keep)) < 0 || !(h = crdt_ormap_new())) {
		keep_done(&keep);
		r = r < 0 ? r : CRDT_ENOMEM;
		goto out;
	}
	/* Nothing fails from here on.  The fields and their index move (as
	 * clear's do); the context and the baselines stay, and the merge
	 * joins @remote's. */
	et_done(&h->tab); /* a new map's own empty table */
	fields_to(m, h);
	m->tab = keep;
	for (uint32_t i = 0; m->tab.s && i < m->tab.cap; i++) {
		const struct et_slot *s = &m->tab.s[i];
		struct ment *one, *const *e;
		uint32_t ne;
		if (!et_used(s))
			continue;
		ne = fld_ents(s->pay, &one, &e);
		note_ents(m, e, ne);
		m->fp_ents += fp_ents_of(m, et_key(s), et_len(s), e, ne);
	}
	*ret_husk = h;
	r = 1;
out:
	free(map);
	free(v);
	return r;
}

bool crdt_ormap_clears(const struct crdt_ormap *local, const struct crdt_ormap *remote)
{
	return remote->tab.count == 0 && ctx_within(local, remote);
}

bool crdt_ormap_live(const struct crdt_ormap *m)
{
	return m->tab.count > 0;
}

size_t crdt_ormap_context_len(const struct crdt_ormap *m)
{
	size_t n = 0;

	for (uint32_t i = 0; i < m->nreps; i++)
		n += m->reps[i].n;
	return n;
}

size_t crdt_ormap_len(const struct crdt_ormap *m)
{
	return m->tab.count;
}

size_t crdt_ormap_parts(const struct crdt_ormap *m)
{
	return (size_t)m->tab.count + m->base.count;
}

size_t crdt_ormap_bases(const struct crdt_ormap *m)
{
	return m->base.count;
}

int crdt_ormap_reserve_for(struct crdt_ormap *m, size_t fields, size_t bases, uint64_t total)
{
	int r = fields ? et_reserve_announced(&m->tab, fields, total) : 0;

	return r == 0 && bases ? et_reserve_announced(&m->base, bases, total) : r;
}

int crdt_ormap_reserve(struct crdt_ormap *m, size_t n)
{
	if (n > SIZE_MAX - m->tab.count)
		return CRDT_ENOMEM;
	return et_reserve(&m->tab, (size_t)m->tab.count + n);
}

int crdt_ormap_foreach(const struct crdt_ormap *m, crdt_ormap_cb cb, void *ctx)
{
	struct et_slot **v;
	struct crdt_ormap_val val;
	int r = et_sorted(&m->tab, &v);

	for (uint32_t i = 0; r == 0 && i < m->tab.count; i++)
		if (value_of(m, v[i], &val))
			r = cb(et_key(v[i]), et_len(v[i]), &val, ctx);
	free(v);
	return r;
}

struct scan_field {
	const struct crdt_ormap *m;
	crdt_ormap_cb cb;
	void *ctx;
};

static int scan_field(const struct et_slot *e, void *ctx)
{
	const struct scan_field *f = ctx;
	struct crdt_ormap_val val;

	return value_of(f->m, e, &val) ? f->cb(et_key(e), et_len(e), &val, f->ctx) : 0;
}

int crdt_ormap_scan(const struct crdt_ormap *m, uint64_t cursor, size_t count, crdt_ormap_cb cb,
		    void *ctx, uint64_t *next)
{
	return et_scan(&m->tab, cursor, count, scan_field, &(struct scan_field){ m, cb, ctx }, next);
}

/* ---- local operations ---------------------------------------------------------- */

/* The write's entry @e (or none) and the dots of the entries @old it
 * replaced, into @to, which does not hold field @f: the entry goes in with
 * its dot (room for the dot first, so that the context cannot fail once
 * the entry is in), and the replaced dots join the context (no other field
 * of @to holds them).  That is what crdt_ormap_merge of the write's own
 * small state does to such a map.  @map is @m's replica indexes in @to. */
static int put_write(struct crdt_ormap *to, const uint32_t *map, const void *f, size_t flen,
		     struct ment *const *old, uint32_t nold, const struct ment *e)
{
	uint32_t h = et_hash(f, flen);
	struct ment *c;
	int r;

	if (e && !ctx_has(to, map[e->ri], e->ctr)) {
		if ((r = ctx_reserve(to, map[e->ri], 1)) < 0)
			return r;
		if (!(c = ent_copy(e, map)))
			return CRDT_ENOMEM;
		if ((r = fld_insert(to, f, flen, h, &c, 1)) < 0) {
			free(c);
			return r;
		}
		ctx_add(to, c->ri, c->ctr); /* reserved */
		dix_put(to, c->ri, c->ctr, h);
	}
	for (uint32_t i = 0; i < nold; i++)
		if ((r = ctx_add(to, map[old[i]->ri], old[i]->ctr)) < 0)
			return r;
	return 0;
}

/* The delta of one write: the new entry @e (or none, HDEL) and the dots of
 * the entries @old it replaces, joined into @delta.  Where @delta does not
 * hold @f (each field of a HSET of many) in place; else the write as a
 * small map of its own, merged (a HSET of 10,000 fields made, merged and
 * freed one for each: a quarter of its time). */
static int join_delta(struct crdt_ormap *delta, const struct crdt_ormap *m, const void *f,
		      size_t flen, struct ment *const *old, uint32_t nold, const struct ment *e)
{
	struct crdt_ormap *d = NULL, *to = delta;
	uint32_t *map, stack[16];
	int r = CRDT_ENOMEM;

	if (find(delta, f, flen) && !(to = d = crdt_ormap_new()))
		return CRDT_ENOMEM;
	if (!(map = m->nreps <= 16 ? stack : malloc(m->nreps * sizeof(*map))))
		goto out;
	for (uint32_t i = 0; i < m->nreps; i++)
		if ((map[i] = rep_get(to, &m->reps[i].rid)) == NO_REP)
			goto out;
	if ((r = put_write(to, map, f, flen, old, nold, e)) == 0 && d)
		r = crdt_ormap_merge(delta, d);
out:
	if (map != stack)
		free(map);
	crdt_ormap_free(d);
	return r;
}

/* Replace field @f's entries by @e (NULL: none), the dot of @e taken from
 * the context's next counter.  @e is taken on success, freed on error. */
static int commit(struct crdt_ormap *m, const void *f, size_t flen, struct ment *e,
		  struct crdt_ormap *delta)
{
	struct et_slot *slot;
	struct ment *one, *const *v = NULL;
	uint32_t n = 0;
	int r;

	if (e && !find(m, f, flen) && (r = et_reserve(&m->tab, (size_t)m->tab.count + 1)) < 0)
		goto fail;
	if (e && (r = ctx_add(m, e->ri, e->ctr)) < 0)
		goto fail;
	if ((slot = find(m, f, flen)))
		n = fld_ents(slot->pay, &one, &v);
	if (delta && (r = join_delta(delta, m, f, flen, v, n, e)) < 0)
		goto fail;
	if (e)
		dix_put(m, e->ri, e->ctr, et_hash(f, flen));
	if (slot) {
		/* the fingerprint's parts: the old entries' out, the new one's in */
		if (m->fp_ok) {
			uint64_t kh = fp_field(f, flen);
			for (uint32_t x = 0; x < n; x++)
				m->fp_ents -= fp_ent(m, NULL, kh, v[x]);
			if (e)
				m->fp_ents += fp_ent(m, NULL, kh, e);
		}
		for (uint32_t x = 0; x < n; x++) {
			dix_del(m, v[x]->ri, v[x]->ctr);
			free(v[x]);
		}
		/* one entry or none: no allocation, cannot fail */
		fld_put(m, slot, e ? &e : NULL, e ? 1 : 0);
		return 0;
	}
	if (e && (r = fld_insert(m, f, flen, et_hash(f, flen), &e, 1)) < 0) {
		dix_del(m, e->ri, e->ctr);
		goto fail;
	}
	return 0;
fail:
	free(e);
	return r;
}

/* The replica index of @self and the counter of its next dot. */
static int next_dot(struct crdt_ormap *m, const struct crdt_rid *self, uint32_t *ret_ri,
		    uint64_t *ret_ctr)
{
	uint32_t ri = rep_get(m, self);

	if (ri == NO_REP)
		return CRDT_ENOMEM;
	if (!(*ret_ctr = next_ctr(m, ri)))
		return CRDT_EOVERFLOW;
	*ret_ri = ri;
	return 0;
}

int crdt_ormap_set(struct crdt_ormap *m, struct crdt_hlc *hlc, const struct crdt_rid *self,
		   const void *f, size_t flen, const void *v, size_t vlen, struct crdt_ormap *delta)
{
	const struct et_slot *s;
	const struct ment *top = NULL;
	struct crdt_hlc_ts ts;
	struct ment *e, *one, *const *ents;
	uint32_t ri;
	uint64_t ctr;
	int r;

	if (flen > ET_MAX_LEN || vlen > ET_MAX_LEN)
		return CRDT_EMSGSIZE;
	if ((r = next_dot(m, self, &ri, &ctr)) < 0)
		return r;
	if ((s = find(m, f, flen)))
		top = top_reg(m, ents, fld_ents(s->pay, &one, &ents));
	/* after every register the field holds, so the write replaces what
	 * the caller read, even one stamped by a clock ahead (lwwreg.h) */
	ts = top ? crdt_hlc_after(hlc, &(struct crdt_hlc_ts){ top->ms, top->lc })
		 : crdt_hlc_now(hlc);
	if (!(e = ent_alloc(ENT_REG, (uint32_t)vlen)))
		return CRDT_ENOMEM;
	e->ri = ri;
	e->ctr = ctr;
	e->ms = ts.ms;
	e->lc = ts.lc;
	if (vlen)
		memcpy(e->val, v, vlen);
	return commit(m, f, flen, e, delta);
}

/* Redis' integers: optional '-', digits without leading zeros, int64. */
static bool parse_int(const uint8_t *p, size_t n, int64_t *ret)
{
	size_t k = 0;
	bool neg = false;
	unsigned __int128 v = 0;

	if (n == 0 || n > 20)
		return false;
	if (p[0] == '-') {
		neg = true;
		if (++k == n)
			return false;
	}
	if (p[k] == '0' && (n > k + 1 || neg))
		return false;
	for (; k < n; k++) {
		if (p[k] < '0' || p[k] > '9')
			return false;
		v = v * 10 + (unsigned)(p[k] - '0');
	}
	if (v > (unsigned __int128)INT64_MAX + neg)
		return false;
	*ret = neg ? (int64_t)(0 - (uint64_t)v) : (int64_t)v;
	return true;
}

int crdt_ormap_incr(struct crdt_ormap *m, const struct crdt_rid *self, const void *f,
		    size_t flen, int64_t by, struct crdt_ormap *delta, int64_t *ret_value)
{
	const struct et_slot *s;
	struct ment *e, *one, *const *ents = NULL;
	const struct ment *top = NULL, *b;
	struct ment **all;
	struct mrow *rows = NULL, *mine;
	uint32_t ri, nr = 0, n = 0, x;
	uint64_t ctr;
	__int128 val;
	int64_t base = 0;
	int r;

	if (flen > ET_MAX_LEN)
		return CRDT_EMSGSIZE;
	if ((s = find(m, f, flen))) {
		n = fld_ents(s->pay, &one, &ents);
		top = top_reg(m, ents, n);
	}
	if (top && !parse_int(top->val, top->len, &base))
		return CRDT_EINVAL;
	if ((r = next_dot(m, self, &ri, &ctr)) < 0)
		return r;
	/* The rows start from the counters joined with the baseline, so that
	 * they pass it only by what is new; a register counts on from its
	 * integer, added to this replica's row above the baseline. */
	b = base_of(m, f, flen);
	if (top)
		n = 0;
	if (!(all = malloc(((size_t)n + 1) * sizeof(*all))))
		return CRDT_ENOMEM;
	if (n)
		memcpy(all, ents, n * sizeof(*all));
	if (b)
		all[n++] = (struct ment *)(uintptr_t)b;
	r = join_rows(all, n, &rows, &nr);
	free(all);
	if (r < 0)
		return r;
	if (top && base != 0) {
		for (x = 0; x < nr && rows[x].ri != ri; x++)
			;
		if (x == nr)
			rows[nr++] = (struct mrow){ .ri = ri };
		if ((base > 0 && rows[x].p > UINT64_MAX - (uint64_t)base) ||
		    (base < 0 && rows[x].n > UINT64_MAX - (0 - (uint64_t)base))) {
			free(rows);
			return CRDT_EOVERFLOW;
		}
		if (base > 0)
			rows[x].p += (uint64_t)base;
		else
			rows[x].n += 0 - (uint64_t)base;
	}
	val = rel_value(rows, nr, b) + by;
	if (val > INT64_MAX || val < INT64_MIN) {
		free(rows);
		return CRDT_EOVERFLOW;
	}
	for (x = 0; x < nr && rows[x].ri != ri; x++)
		;
	if (x == nr && by != 0)
		rows[nr++] = (struct mrow){ .ri = ri };
	mine = &rows[x];
	if ((by > 0 && mine->p > UINT64_MAX - (uint64_t)by) ||
	    (by < 0 && mine->n > UINT64_MAX - (0 - (uint64_t)by))) {
		free(rows);
		return CRDT_EOVERFLOW;
	}
	if (by > 0)
		mine->p += (uint64_t)by;
	else if (by < 0)
		mine->n += 0 - (uint64_t)by;
	if (!(e = ent_alloc(ENT_CTR, nr))) {
		free(rows);
		return CRDT_ENOMEM;
	}
	e->ri = ri;
	e->ctr = ctr;
	memcpy(ent_rows(e), rows, nr * sizeof(*rows));
	free(rows);
	if ((r = commit(m, f, flen, e, delta)) < 0)
		return r;
	*ret_value = (int64_t)val;
	return 0;
}

/* @rows[@n] (replica numbers of @m) joined into @delta's baseline of @f. */
static int delta_base(struct crdt_ormap *delta, const struct crdt_ormap *m, const void *f,
		      size_t flen, const struct mrow *rows, uint32_t n)
{
	struct mrow *d;
	int r = CRDT_ENOMEM;

	if (n == 0)
		return 0;
	if (!(d = malloc(n * sizeof(*d))))
		return r;
	for (uint32_t i = 0; i < n; i++) {
		d[i] = rows[i];
		if ((d[i].ri = rep_get(delta, &m->reps[rows[i].ri].rid)) == NO_REP)
			goto out;
	}
	r = base_join(delta, f, flen, d, n);
out:
	free(d);
	return r;
}

int crdt_ormap_del(struct crdt_ormap *m, const void *f, size_t flen, struct crdt_ormap *delta)
{
	const struct et_slot *s = find(m, f, flen);
	struct ment *one, *const *v;
	struct mrow *rows;
	struct bprep p = { 0 };
	uint32_t n, nr;
	int r;

	if (!s)
		return 0;
	/* the counter rows it removes join the field's baseline */
	n = fld_ents(s->pay, &one, &v);
	if ((r = join_rows(v, n, &rows, &nr)) < 0)
		return r;
	if ((delta && (r = delta_base(delta, m, f, flen, rows, nr)) < 0) ||
	    (r = base_prep(m, f, flen, rows, nr, &p)) < 0) {
		free(rows);
		return r;
	}
	free(rows);
	if (p.fresh && (r = et_reserve(&m->base, (size_t)m->base.count + 1)) < 0) {
		base_unprep(&p);
		return r;
	}
	if ((r = commit(m, f, flen, NULL, delta)) < 0) {
		base_unprep(&p);
		return r;
	}
	base_put(m, f, flen, &p);
	return 1;
}

/* ---- merge ---------------------------------------------------------------------- */

static bool has_dot(struct ment *const *v, uint32_t n, uint32_t ri, uint64_t ctr)
{
	for (uint32_t i = 0; i < n; i++)
		if (v[i]->ri == ri && v[i]->ctr == ctr)
			return true;
	return false;
}

/* The entries of field @key in @m, none if absent. */
static uint32_t ents_of(const struct crdt_ormap *m, const uint8_t *key, size_t len,
			struct ment **one, struct ment *const **ret)
{
	const struct et_slot *s = find(m, key, len);
	*ret = NULL;
	return s ? fld_ents(s->pay, one, ret) : 0;
}

/* Free the entries of @add[@n]. */
static void free_ents(struct ment **add, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		free(add[i]);
}

struct mctx {
	struct crdt_ormap *dst;
	const struct crdt_ormap *src;
	const uint32_t *map, *inv; /* src replica -> dst's, and back */
	struct ment **keep;
	size_t keepcap;
	uint32_t *emptied; /* hashes of the fields left empty, or NULL */
	size_t nempty;
};

/* Merge src's entries of the field in dst's slot @s into it: keep each dst
 * entry that src holds too or has not seen, add src's entries that dst has
 * not seen, each with its dot.  -ENOMEM leaves the field as it was. */
static int merge_field(struct mctx *c, struct et_slot *s)
{
	struct crdt_ormap *dst = c->dst;
	struct ment *one, *sone, *const *v, *const *sv;
	uint32_t n, sn, k = 0, kold;
	uint64_t pay, old, kh;
	bool changed = false;

	n = fld_ents(s->pay, &one, &v);
	sn = ents_of(c->src, et_key(s), et_len(s), &sone, &sv);
	if (c->keepcap < (size_t)n + sn) {
		struct ment **nk = realloc(c->keep, ((size_t)n + sn) * sizeof(*nk));
		if (!nk)
			return CRDT_ENOMEM;
		c->keep = nk;
		c->keepcap = (size_t)n + sn;
	}
	for (uint32_t x = 0; x < n; x++) {
		uint32_t j = c->inv[v[x]->ri];
		if (j != NO_REP && ctx_has(c->src, j, v[x]->ctr) && !has_dot(sv, sn, j, v[x]->ctr))
			changed = true; /* src saw it and dropped it */
		else
			c->keep[k++] = v[x];
	}
	kold = k;
	for (uint32_t y = 0; y < sn; y++) {
		uint32_t ri = c->map[sv[y]->ri];
		if (has_dot(v, n, ri, sv[y]->ctr) || ctx_has(dst, ri, sv[y]->ctr))
			continue;
		if (!(c->keep[k] = ent_copy(sv[y], c->map))) {
			free_ents(c->keep + kold, k - kold);
			return CRDT_ENOMEM;
		}
		k++;
		changed = true;
	}
	if (!changed)
		return 0;
	if (make_pay(c->keep, k, &pay) < 0) {
		free_ents(c->keep + kold, k - kold);
		return CRDT_ENOMEM;
	}
	/* the dropped entries are freed, the kept ones move; the fingerprint
	 * loses the parts of the first and gains those of the new ones */
	kh = dst->fp_ok ? fp_field(et_key(s), et_len(s)) : 0;
	for (uint32_t x = 0; x < n; x++) {
		if (!has_dot(c->keep, kold, v[x]->ri, v[x]->ctr)) {
			if (dst->fp_ok)
				dst->fp_ents -= fp_ent(dst, NULL, kh, v[x]);
			dix_del(dst, v[x]->ri, v[x]->ctr);
			free(v[x]);
		}
	}
	note_ents(dst, c->keep, k);
	old = s->pay;
	s->pay = pay; /* 0 for a field left empty: removed by the caller */
	free_pay(old, false);
	for (uint32_t z = kold; z < k; z++) {
		ctx_add(dst, c->keep[z]->ri, c->keep[z]->ctr); /* reserved */
		dix_put(dst, c->keep[z]->ri, c->keep[z]->ctr, s->hash);
		if (dst->fp_ok)
			dst->fp_ents += fp_ent(dst, NULL, kh, c->keep[z]);
	}
	if (k == 0 && c->emptied)
		c->emptied[c->nempty++] = s->hash;
	return 0;
}

static int u32_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return (a > b) - (a < b);
}

/* The dst slots a small src touches: its fields, and the fields holding
 * dots its context covers (found through the dot index).  Sorted, unique,
 * in a malloc'd *ret; -ENOMEM. */
static int touched(const struct mctx *c, uint64_t sdots, uint32_t **ret, size_t *ret_n)
{
	const struct crdt_ormap *dst = c->dst, *src = c->src;
	size_t cap = src->tab.count + sdots + 1, n = 0;
	uint32_t *ix = malloc(cap * sizeof(*ix));

	if (!ix)
		return CRDT_ENOMEM;
	for (uint32_t i = 0; src->tab.s && i < src->tab.cap; i++) {
		const struct et_slot *d;
		if (et_used(&src->tab.s[i]) &&
		    (d = find(dst, et_key(&src->tab.s[i]), et_len(&src->tab.s[i]))))
			ix[n++] = (uint32_t)(d - dst->tab.s);
	}
	/* only the dots dst's own context holds can be dots of its entries:
	 * a piece of a catch-up (its dots past what came before) probes none */
	for (uint32_t j = 0; j < src->nreps; j++) {
		const struct mrep *dr = &dst->reps[c->map[j]];
		for (uint32_t k = 0; k < src->reps[j].n; k++) {
			const struct ivl *sv = &src->reps[j].iv[k];
			for (uint32_t x = ivs_first_ending(dr->iv, dr->n, sv->lo);
			     x < dr->n && dr->iv[x].lo <= sv->hi; x++) {
				uint64_t lo = sv->lo > dr->iv[x].lo ? sv->lo : dr->iv[x].lo;
				uint64_t hi = sv->hi < dr->iv[x].hi ? sv->hi : dr->iv[x].hi;
				for (uint64_t ctr = lo;; ctr++) {
					const struct et_slot *d = dix_slot(dst, c->map[j], ctr);
					if (d)
						ix[n++] = (uint32_t)(d - dst->tab.s);
					if (ctr == hi)
						break;
				}
			}
		}
	}
	qsort(ix, n, sizeof(*ix), u32_cmp);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (u == 0 || ix[u - 1] != ix[i])
			ix[u++] = ix[i];
	*ret = ix;
	*ret_n = u;
	return 0;
}

/* The size of dst from which a merge of a src of at most a quarter of it
 * visits only the fields src touches, through dst's dot index (built
 * here, then kept), not every field of dst.  At 256, a write's delta
 * joined into the delta gossip queues for the push (a few hundred fields
 * a loop pass under an HSET storm) visited all of it while it was small:
 * a fifth of the writer's CPU. */
#define MERGE_SMALL_MIN 32
/* The sizes of dst (at least) and src (at most) for which a merge fetches
 * src's lookups in dst ahead. */
#define MERGE_PREFETCH_MIN 4096
#define MERGE_PREFETCH_MAX 256

int crdt_ormap_merge(struct crdt_ormap *dst, const struct crdt_ormap *src)
{
	struct mctx c = { .dst = dst, .src = src };
	uint32_t *map = NULL, *inv = NULL, *ix = NULL, nnew = 0;
	size_t *cnt = NULL, nix = 0;
	uint64_t sdots = 0;
	bool small;
	int r = CRDT_ENOMEM;

	if (dst == src)
		return 0;
	/* A state with no field whose context covers dst's (a DEL's delta,
	 * from a replica dst is in sync with): every entry dst holds has its
	 * dot in it, so the join keeps none.  The fields go at once, without
	 * a visit and a dot-index removal per field (0.35 s of one loop pass
	 * at 1,000,000 fields); the context and baselines join below, as
	 * ever (the merge adds nothing of dst's dropped entries to them). */
	if (dst->tab.count && crdt_ormap_clears(dst, src))
		drop_fields(dst);
	if (!(map = malloc((src->nreps ? src->nreps : 1) * sizeof(*map))) ||
	    !(cnt = calloc(src->nreps ? src->nreps : 1, sizeof(*cnt))))
		goto out;
	for (uint32_t j = 0; j < src->nreps; j++)
		if ((map[j] = rep_get(dst, &src->reps[j].rid)) == NO_REP)
			goto out;
	if (!(inv = malloc((dst->nreps ? dst->nreps : 1) * sizeof(*inv))))
		goto out;
	for (uint32_t i = 0; i < dst->nreps; i++)
		inv[i] = NO_REP;
	for (uint32_t j = 0; j < src->nreps; j++) {
		inv[map[j]] = j;
		for (uint32_t k = 0; k < src->reps[j].n; k++) {
			uint64_t w = src->reps[j].iv[k].hi - src->reps[j].iv[k].lo + 1;
			sdots = w == 0 || sdots + w < sdots ? UINT64_MAX : sdots + w;
		}
	}
	c.map = map;
	c.inv = inv;
	/* src's fields and their dots are looked up in a large dst below, one
	 * miss after the other: their slots are fetched first, all at once,
	 * so that the misses overlap (a catch-up's piece into a large map) */
	for (uint32_t i = 0; dst->tab.count >= MERGE_PREFETCH_MIN && src->tab.s &&
			    src->tab.count <= MERGE_PREFETCH_MAX && i < src->tab.cap; i++) {
		const struct et_slot *s = &src->tab.s[i];
		struct ment *one, *const *v;
		if (!et_used(s))
			continue;
		et_prefetch(&dst->tab, s->hash);
		for (uint32_t x = 0, n = fld_ents(s->pay, &one, &v); x < n; x++)
			dix_prefetch(dst, map[v[x]->ri], v[x]->ctr, false);
	}
	for (uint32_t i = 0; src->tab.s && i < src->tab.cap; i++) {
		const struct et_slot *s = &src->tab.s[i];
		struct ment *one, *const *v;
		uint32_t n;
		if (!et_used(s))
			continue;
		nnew += !find(dst, et_key(s), et_len(s));
		n = fld_ents(s->pay, &one, &v);
		for (uint32_t x = 0; x < n; x++)
			cnt[v[x]->ri]++;
	}
	/* Room first, so that adding an entry's dot to the context below
	 * cannot fail once the entry is in. */
	if ((r = et_reserve(&dst->tab, (size_t)dst->tab.count + nnew)) < 0)
		goto out;
	for (uint32_t j = 0; j < src->nreps; j++)
		if ((r = ctx_reserve(dst, map[j], cnt[j])) < 0)
			goto out;
	r = CRDT_ENOMEM; /* until the end is reached */

	/* A small src (a gossiped piece) into a large dst visits only the
	 * fields it touches, through the dot index; otherwise every field.
	 * A merge cut short by -ENOMEM leaves dst joined with sound pieces of
	 * src only (entries with their dots, removals src made). */
	small = dst->tab.count >= MERGE_SMALL_MIN && sdots <= dst->tab.count / 4 &&
		src->tab.count <= dst->tab.count / 4 &&
		(dst->dix.ok || dix_build(dst) == 0) && touched(&c, sdots, &ix, &nix) == 0;
	if (small) {
		if (!(c.emptied = malloc((nix ? nix : 1) * sizeof(*c.emptied))))
			goto sweep;
		for (size_t i = 0; i < nix; i++)
			if (merge_field(&c, &dst->tab.s[ix[i]]) < 0)
				goto sweep;
	} else {
		for (uint32_t i = 0; dst->tab.s && i < dst->tab.cap; i++)
			if (et_used(&dst->tab.s[i]) && merge_field(&c, &dst->tab.s[i]) < 0)
				goto sweep;
	}
	/* Fields only src holds: the entries dst has not seen. */
	for (uint32_t i = 0; src->tab.s && i < src->tab.cap; i++) {
		const struct et_slot *s = &src->tab.s[i];
		struct ment *one, *const *v;
		uint32_t n, k = 0;

		if (!et_used(s) || find(dst, et_key(s), et_len(s)))
			continue;
		n = fld_ents(s->pay, &one, &v);
		if (c.keepcap < n) {
			struct ment **nk = realloc(c.keep, n * sizeof(*nk));
			if (!nk)
				goto sweep;
			c.keep = nk;
			c.keepcap = n;
		}
		for (uint32_t x = 0; x < n; x++) {
			if (ctx_has(dst, map[v[x]->ri], v[x]->ctr))
				continue;
			if (!(c.keep[k] = ent_copy(v[x], map))) {
				free_ents(c.keep, k);
				goto sweep;
			}
			k++;
		}
		if (k > 0 && fld_insert(dst, et_key(s), et_len(s), s->hash, c.keep, k) < 0) {
			free_ents(c.keep, k);
			goto sweep;
		}
		for (uint32_t x = 0; x < k; x++) {
			ctx_add(dst, c.keep[x]->ri, c.keep[x]->ctr); /* reserved */
			dix_put(dst, c.keep[x]->ri, c.keep[x]->ctr, s->hash);
		}
	}
	/* Then the contexts: src's knowledge joins dst's. */
	for (uint32_t j = 0; j < src->nreps; j++)
		if (src->reps[j].n && ctx_add_ivs(dst, map[j], src->reps[j].iv, src->reps[j].n) < 0)
			goto sweep;
	/* Last, the baselines: per replica the greater rows (room first, as
	 * they come in hash order: base_reserve). */
	if (base_reserve(dst, src->base.count) < 0)
		goto sweep;
	for (uint32_t i = 0; src->base.s && i < src->base.cap; i++) {
		const struct et_slot *s = &src->base.s[i];
		struct ment *b;
		if (!et_used(s))
			continue;
		if (!(b = ent_copy((const struct ment *)(uintptr_t)s->pay, map)) ||
		    base_take(dst, s, b) < 0)
			goto sweep;
	}
	r = 0;
sweep:
	/* Remove the fields the merge left without entries.  Backward-shift
	 * deletion only moves entries from after the hole into it, so a scan
	 * that re-checks the current slot sees every one; a small merge looks
	 * for each emptied field along its hash's probe run instead. */
	if (small) {
		for (size_t e = 0; c.emptied && e < c.nempty; e++) {
			const struct elemtab *t = &dst->tab;
			for (uint32_t i = et_home(t, c.emptied[e]); et_used(&t->s[i]); i = et_next(t, i)) {
				if (t->s[i].hash == c.emptied[e] && t->s[i].pay == 0) {
					et_remove(&dst->tab, &dst->tab.s[i]);
					break;
				}
			}
		}
	} else {
		for (uint32_t i = 0; dst->tab.s && i < dst->tab.cap; i++)
			while (et_used(&dst->tab.s[i]) && dst->tab.s[i].pay == 0)
				et_remove(&dst->tab, &dst->tab.s[i]);
	}
out:
	free(c.keep);
	free(c.emptied);
	free(ix);
	free(map);
	free(cnt);
	free(inv);
	return r;
}
