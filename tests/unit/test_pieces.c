/* The OR-Set's split one piece at a time from a cursor (crdt_orset_pieces):
 * exact coverage of each piece against the state it was cut from, sizes,
 * and a set that changes between pieces, against the source it copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <cmocka.h>

#include "crdt/buf.h"
#include "crdt/error.h"
#include "crdt/json.h"
#include "crdt/obj.h"
#include "crdt/orset.h"
#include "news_check.h"
#include "testutil.h"

static struct rng rng;

static void rid_of(int i, struct crdt_rid *r)
{
	memset(r->b, 0, sizeof(r->b));
	r->b[0] = (uint8_t)(0x80 ^ (i * 37));
	r->b[15] = (uint8_t)i;
}

/* ---- a state flattened: context intervals and live pairs -------------- */

struct ivx {
	char rid[40];
	uint64_t lo, hi;
};
struct pairx {
	char rid[40];
	uint64_t ctr;
	char *elem; /* its JSON */
};
struct flat {
	struct ivx *iv;
	size_t niv;
	struct pairx *p;
	size_t np;
};

static void flatten(const struct crdt_orset *s, struct flat *f)
{
	cJSON *j = crdt_orset_to_json(s), *ctx, *els, *dots, *a;

	assert_non_null(j);
	*f = (struct flat){ 0 };
	ctx = cJSON_GetObjectItem(j, "context");
	els = cJSON_GetObjectItem(j, "elements");
	dots = cJSON_GetObjectItem(j, "dots");
	cJSON_ArrayForEach(a, ctx) {
		cJSON *pr;
		cJSON_ArrayForEach(pr, a) {
			if ((f->niv & (f->niv - 1)) == 0) /* 0, 1, 2, 4, ...: doubled */
				f->iv = realloc(f->iv, (2 * f->niv + 1) * sizeof(*f->iv));
			snprintf(f->iv[f->niv].rid, sizeof(f->iv[0].rid), "%s", a->string);
			f->iv[f->niv].lo = (uint64_t)pr->child->valuedouble;
			f->iv[f->niv].hi = (uint64_t)pr->child->next->valuedouble;
			f->niv++;
		}
	}
	/* elements and their dot lists side by side (cJSON arrays are lists) */
	for (cJSON *el = els->child, *dl = dots->child; el && dl; el = el->next, dl = dl->next) {
		cJSON *d;
		char *ej = cJSON_PrintUnformatted(el);
		cJSON_ArrayForEach(d, dl) {
			if ((f->np & (f->np - 1)) == 0)
				f->p = realloc(f->p, (2 * f->np + 1) * sizeof(*f->p));
			snprintf(f->p[f->np].rid, sizeof(f->p[0].rid), "%s", d->child->valuestring);
			f->p[f->np].ctr = (uint64_t)d->child->next->valuedouble;
			f->p[f->np].elem = strdup(ej);
			f->np++;
		}
		cJSON_free(ej);
	}
	cJSON_Delete(j);
}

static void flat_done(struct flat *f)
{
	for (size_t i = 0; i < f->np; i++)
		free(f->p[i].elem);
	free(f->iv);
	free(f->p);
}

/* The dot range [from, to) of a cursor's piece; to_end: no upper end. */
struct range {
	char from_rid[40], to_rid[40];
	uint64_t from, to;
	bool to_end;
};

static int dot_vs(const char *rid, uint64_t c, const char *brid, uint64_t bc)
{
	int x = strcmp(rid, brid);
	return x ? x : c < bc ? -1 : c > bc;
}

static bool in_range(const struct range *r, const char *rid, uint64_t c)
{
	return dot_vs(rid, c, r->from_rid, r->from) >= 0 &&
	       (r->to_end || dot_vs(rid, c, r->to_rid, r->to) < 0);
}

/* Counters of @f's intervals of @rid inside @r, as a count and a sum (with
 * the intervals' ends mixed in), enough to tell two clipped contexts apart. */
static void ctx_in(const struct flat *f, const struct range *r, const char *only_rid,
		   uint64_t *ret_n, uint64_t *ret_sum)
{
	uint64_t n = 0, sum = 0;

	for (size_t i = 0; i < f->niv; i++) {
		const struct ivx *v = &f->iv[i];
		if (only_rid && strcmp(v->rid, only_rid))
			continue;
		for (uint64_t c = v->lo; c <= v->hi; c++)
			if (in_range(r, v->rid, c)) {
				n++;
				sum += c * 2654435761u + (uint64_t)(unsigned char)v->rid[0];
			}
	}
	*ret_n = n;
	*ret_sum = sum;
}

static bool has_pair(const struct flat *f, const struct pairx *p)
{
	for (size_t i = 0; i < f->np; i++)
		if (f->p[i].ctr == p->ctr && !strcmp(f->p[i].rid, p->rid) &&
		    !strcmp(f->p[i].elem, p->elem))
			return true;
	return false;
}

/* Piece @pc is exactly @src clipped to @r: its context is @src's context
 * in @r (every interval's counters, per replica), its pairs @src's live
 * pairs in @r. */
static void check_exact(const struct crdt_orset *src, const struct crdt_orset *pc,
			const struct range *r)
{
	struct flat fs, fp;
	size_t want = 0;

	flatten(src, &fs);
	flatten(pc, &fp);
	for (size_t i = 0; i < fs.niv; i++) {
		uint64_t n1, s1, n2, s2;
		ctx_in(&fs, r, fs.iv[i].rid, &n1, &s1);
		ctx_in(&fp, r, fs.iv[i].rid, &n2, &s2);
		assert_int_equal(n1, n2);
		assert_int_equal(s1, s2);
	}
	for (size_t i = 0; i < fp.niv; i++) { /* nothing outside the range */
		assert_true(in_range(r, fp.iv[i].rid, fp.iv[i].lo));
		assert_true(in_range(r, fp.iv[i].rid, fp.iv[i].hi));
	}
	for (size_t i = 0; i < fp.np; i++) {
		assert_true(in_range(r, fp.p[i].rid, fp.p[i].ctr));
		assert_true(has_pair(&fs, &fp.p[i]));
	}
	for (size_t i = 0; i < fs.np; i++)
		want += in_range(r, fs.p[i].rid, fs.p[i].ctr);
	assert_int_equal(fp.np, want);
	flat_done(&fs);
	flat_done(&fp);
}

static void cursor_range(const struct crdt_cursor *before, const struct crdt_cursor *after,
			 struct range *r)
{
	char id[CRDT_RID_STRLEN];

	crdt_rid_format(&before->rid, id);
	snprintf(r->from_rid, sizeof(r->from_rid), "%s", id);
	r->from = before->ctr;
	crdt_rid_format(&after->rid, id);
	snprintf(r->to_rid, sizeof(r->to_rid), "%s", id);
	r->to = after->ctr;
	r->to_end = after->done;
}

/* ---- pieces collected one call at a time ------------------------------- */

struct got {
	struct crdt_orset *last; /* the piece just cut, decoded */
	uint8_t enc[4096];
	size_t len, max;
	int n;
};

static int got_cb(const uint8_t *p, size_t len, void *ctx)
{
	struct got *g = ctx;

	assert_true(len <= g->max);
	assert_null(g->last); /* one piece a call here */
	assert_int_equal(crdt_orset_decode(p, len, &g->last), 0);
	memcpy(g->enc, p, len);
	g->len = len;
	g->n++;
	return 0;
}

static int got_count_cb(const uint8_t *p, size_t len, void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

/* Each piece merged into both receivers at once. */
struct into {
	struct crdt_orset *a, *b;
	size_t max;
};

static int into_cb(const uint8_t *p, size_t len, void *ctx)
{
	struct into *t = ctx;
	struct crdt_orset *d;

	assert_true(len <= t->max);
	assert_int_equal(crdt_orset_decode(p, len, &d), 0);
	assert_int_equal(crdt_orset_merge(t->a, d), 0);
	assert_int_equal(crdt_orset_merge(t->b, d), 0);
	crdt_orset_free(d);
	return 0;
}

static struct crdt_orset *big_state(int n, int nrep, const struct crdt_rid *rids)
{
	struct crdt_orset *s = crdt_orset_new();
	char k[40];

	for (int i = 0; i < n; i++) {
		int len = snprintf(k, sizeof(k), "%s%d", rng_below(&rng, 4) ? "k" : "long-element-", i);
		int r = (int)rng_below(&rng, nrep);
		if (rng_below(&rng, 8) == 0) { /* a concurrent add elsewhere: two dots */
			struct crdt_orset *o = crdt_orset_new();
			assert_int_equal(crdt_orset_add(o, &rids[(r + 1) % nrep], k, (size_t)len), 0);
			assert_int_equal(crdt_orset_merge(s, o), 0);
			crdt_orset_free(o);
		}
		assert_int_equal(crdt_orset_add(s, &rids[r], k, (size_t)len), 0);
		if (rng_below(&rng, 3) == 0)
			assert_int_equal(crdt_orset_remove(s, k, (size_t)len), 1);
	}
	return s;
}

/* Whether @small ⊑ @big: merging it in changes nothing. */
static bool below(const struct crdt_orset *small, const struct crdt_orset *big)
{
	struct crdt_orset *c = crdt_orset_copy(big);
	bool r;

	assert_int_equal(crdt_orset_merge(c, small), 0);
	r = crdt_orset_equal(c, big);
	crdt_orset_free(c);
	return r;
}

/* A fixed set: every piece is exactly its range of the set, at most max
 * bytes, and all of them give the set back. */
static void test_pieces_exact(void **state)
{
	struct crdt_rid rids[4];

	for (int i = 0; i < 4; i++)
		rid_of(i + 1, &rids[i]);
	for (int iter = 0; iter < 8; iter++) {
		struct crdt_orset *s = big_state(200 + (int)rng_below(&rng, 500), 3, rids);
		struct crdt_orset *e = crdt_orset_new();
		struct crdt_cursor cur = CRDT_CURSOR_INIT;
		struct got g = { .max = 60 + rng_below(&rng, 240) };
		int guard = 0;

		while (!cur.done) {
			struct crdt_cursor before = cur;
			struct range r;
			assert_int_equal(crdt_orset_pieces(s, &cur, g.max, 1, got_cb, &g), 0);
			assert_true(++guard < 10000);
			assert_non_null(g.last);
			cursor_range(&before, &cur, &r);
			check_exact(s, g.last, &r);
			assert_true(below(g.last, s));
			assert_int_equal(crdt_orset_merge(e, g.last), 0);
			crdt_orset_free(g.last);
			g.last = NULL;
		}
		assert_true(g.n > 1);
		assert_int_equal(cur.pieces, g.n);
		assert_int_equal(cur.skipped, 0);
		assert_true(crdt_orset_equal(e, s));
		crdt_orset_free(e);
		crdt_orset_free(s);
	}
}

/* Every piece of a cut, kept. */
struct all {
	uint8_t **p;
	size_t *len, n;
};

static int all_cb(const uint8_t *p, size_t len, void *ctx)
{
	struct all *a = ctx;

	a->p = realloc(a->p, (a->n + 1) * sizeof(*a->p));
	a->len = realloc(a->len, (a->n + 1) * sizeof(*a->len));
	assert_non_null(a->p);
	assert_non_null(a->len);
	assert_non_null(a->p[a->n] = malloc(len));
	memcpy(a->p[a->n], p, len);
	a->len[a->n++] = len;
	return 0;
}

static void cut_all(struct crdt_orset *s, size_t max, struct all *a)
{
	struct crdt_cursor cur = CRDT_CURSOR_INIT;
	int guard = 0;

	*a = (struct all){ 0 };
	while (!cur.done) {
		assert_true(crdt_orset_pieces(s, &cur, max, 16, all_cb, a) >= 0);
		assert_true(++guard < 100000);
	}
}

static void all_done(struct all *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->p[i]);
	free(a->p);
	free(a->len);
}

/* Merge the pieces @a (freed here) into @e one at a time, in their order or
 * @shuffled; @e must then equal @want and cut into the same pieces of at
 * most @max bytes (its dot index, kept by the small merges, is exact). */
static void merge_pieces(struct all *a, struct crdt_orset *e, bool shuffled,
			 struct crdt_orset *want, size_t max)
{
	struct all b;

	for (size_t i = shuffled ? a->n : 0; i > 1; i--) {
		size_t k = rng_below(&rng, i);
		uint8_t *t = a->p[i - 1];
		size_t tl = a->len[i - 1];
		a->p[i - 1] = a->p[k];
		a->len[i - 1] = a->len[k];
		a->p[k] = t;
		a->len[k] = tl;
	}
	for (size_t i = 0; i < a->n; i++) {
		struct crdt_orset *d;
		assert_int_equal(crdt_orset_decode(a->p[i], a->len[i], &d), 0);
		assert_int_equal(crdt_orset_merge(e, d), 0);
		crdt_orset_free(d);
	}
	assert_true(crdt_orset_equal(e, want));
	all_done(a);
	cut_all(want, max, a);
	cut_all(e, max, &b);
	assert_int_equal(a->n, b.n);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->len[i], b.len[i]);
		assert_memory_equal(a->p[i], b.p[i], a->len[i]);
	}
	all_done(a);
	all_done(&b);
}

/* A set caught up piece by piece, in order or shuffled, holds a dot index
 * that the small merges kept up (new dots added a leaf's run at once, or
 * one by one where a leaf already holds later ones): cut again, it gives
 * exactly the pieces of the set it copies. */
static void test_pieces_recut(void **state)
{
	struct crdt_rid rids[3];

	for (int i = 0; i < 3; i++)
		rid_of(i + 1, &rids[i]);
	for (int iter = 0; iter < 6; iter++) {
		int nrep = 1 + iter % 3;
		struct crdt_orset *s = big_state(3000 + (int)rng_below(&rng, 3000), nrep, rids);
		struct crdt_orset *e = crdt_orset_new();
		size_t max = 200 + rng_below(&rng, 1200);
		struct all a;

		cut_all(s, max, &a);
		assert_true(a.n > 4);
		merge_pieces(&a, e, iter >= 3, s, max);
		crdt_orset_free(e);
		crdt_orset_free(s);
	}
}

/* libcrdt's element hash (elemtab.c; exported for its tests) */
uint32_t et_hash(const void *key, size_t len);

struct hkey {
	uint32_t h;
	int i;
};

static int hkey_cmp(const void *x, const void *y)
{
	const struct hkey *a = x, *b = y;
	return a->h != b->h ? (a->h < b->h ? -1 : 1) : a->i - b->i;
}

/* A set whose elements were added in the order of their hashes, shuffled
 * within runs of 150: a piece, a range of dots, is then a run of the table, and its elements crowd a few
 * of the buckets the cut orders them by (one a piece's element over the
 * table), which sends them to the quicksort instead.  The pieces still
 * give the set back, and cut again from the copy, the same bytes. */
static void test_pieces_crowded(void **state)
{
	struct crdt_rid rid;
	struct crdt_orset *s = crdt_orset_new(), *e = crdt_orset_new();
	struct hkey *hk = calloc(3000, sizeof(*hk));
	char k[40];
	struct all a;

	assert_non_null(hk);
	rid_of(1, &rid);
	for (int i = 0; i < 3000; i++) {
		int len = snprintf(k, sizeof(k), "crowd-%d", i);
		hk[i] = (struct hkey){ et_hash(k, (size_t)len), i };
	}
	qsort(hk, 3000, sizeof(*hk), hkey_cmp);
	for (int w = 0; w < 3000; w += 150) /* shuffled within runs of 150 */
		for (int i = 149; i > 0; i--) {
			int j = (int)rng_below(&rng, (uint64_t)i + 1);
			struct hkey t = hk[w + i];
			hk[w + i] = hk[w + j];
			hk[w + j] = t;
		}
	for (int i = 0; i < 3000; i++) {
		int len = snprintf(k, sizeof(k), "crowd-%d", hk[i].i);
		assert_int_equal(crdt_orset_add(s, &rid, k, (size_t)len), 0);
	}
	free(hk);
	cut_all(s, 1300, &a);
	assert_true(a.n > 10);
	for (size_t i = 0; i < a.n; i++) { /* each in the encoding's order */
		struct crdt_orset *d;
		struct crdt_buf b;
		crdt_buf_init(&b, 0);
		assert_int_equal(crdt_orset_decode(a.p[i], a.len[i], &d), 0);
		assert_int_equal(crdt_orset_encode(d, &b), 0);
		assert_int_equal(b.len, a.len[i]);
		assert_memory_equal(b.data, a.p[i], b.len);
		crdt_buf_done(&b);
		crdt_orset_free(d);
	}
	merge_pieces(&a, e, true, s, 1300);
	crdt_orset_free(e);
	crdt_orset_free(s);
}

/* Pieces merged into a set that already holds some of their elements, with
 * dots of another replica and removes of its own: the small merges settle
 * the shared elements (dots kept, dropped and gained) beside the new ones,
 * and the set equals the bulk join and cuts into the same bytes (its dot
 * index, kept by those merges, is exact). */
static void test_pieces_into_shared(void **state)
{
	struct crdt_rid rids[4];

	for (int i = 0; i < 4; i++)
		rid_of(i + 1, &rids[i]);
	for (int iter = 0; iter < 6; iter++) {
		int n = 3000 + (int)rng_below(&rng, 3000), nrep = 1 + iter % 3;
		struct crdt_orset *s = big_state(n, nrep, rids);
		struct crdt_orset *e = crdt_orset_new(), *x = crdt_orset_new();
		size_t max = 200 + rng_below(&rng, 1200);
		struct all a;
		char k[40];

		for (int i = 0; i < n; i++) { /* half of s's names, some removed again */
			int len;
			if (rng_below(&rng, 2))
				continue;
			len = snprintf(k, sizeof(k), "%s%d", rng_below(&rng, 2) ? "k" : "long-element-", i);
			assert_int_equal(crdt_orset_add(e, &rids[3], k, (size_t)len), 0);
			if (rng_below(&rng, 5) == 0)
				assert_int_equal(crdt_orset_remove(e, k, (size_t)len), 1);
		}
		assert_int_equal(crdt_orset_merge(x, e), 0);
		assert_int_equal(crdt_orset_merge(x, s), 0); /* the join, in bulk */
		cut_all(s, max, &a);
		merge_pieces(&a, e, iter >= 3, x, max);
		crdt_orset_free(x);
		crdt_orset_free(e);
		crdt_orset_free(s);
	}
}

/* A set that local adds grow past 1,024 elements keeps its dot index up
 * from then on: its first cut cuts at once, with no slice of an index to
 * build first (crdt_orset_pieces returning 1), and its pieces are exact;
 * the same set merged in bulk into an empty one has none. */
static void test_pieces_adds_keep_index(void **state)
{
	struct crdt_rid ra;
	struct crdt_orset *s = crdt_orset_new(), *b = crdt_orset_new(), *e = crdt_orset_new();
	struct crdt_cursor cur = CRDT_CURSOR_INIT;
	struct into t = { .a = e, .b = e, .max = 1000 };
	char k[24];

	rid_of(1, &ra);
	for (int i = 0; i < 20000; i++) {
		int len = snprintf(k, sizeof(k), "k%d", i);
		assert_int_equal(crdt_orset_add(s, &ra, k, (size_t)len), 0);
		if (i % 7 == 0) /* removes keep it too */
			assert_int_equal(crdt_orset_remove(s, k, (size_t)len), 1);
	}
	assert_int_equal(crdt_orset_pieces(s, &cur, t.max, 1, into_cb, &t), 0);
	assert_int_equal(cur.pieces, 1);
	assert_int_equal(crdt_orset_pieces(s, &cur, t.max, SIZE_MAX, into_cb, &t), 0);
	assert_true(cur.done);
	assert_true(crdt_orset_equal(e, s));
	assert_int_equal(crdt_orset_merge(b, s), 0);
	cur = CRDT_CURSOR_INIT;
	assert_int_equal(crdt_orset_pieces(b, &cur, t.max, 1, into_cb, &t), 1);
	crdt_orset_free(s);
	crdt_orset_free(b);
	crdt_orset_free(e);
}

/* A set that fits one piece goes as exactly its encoding; an empty one as
 * the empty set's; a type with no pieces row through crdt_obj_pieces as
 * its split, at once. */
static void test_pieces_whole(void **state)
{
	struct crdt_rid ra, rb;
	struct crdt_orset *s = crdt_orset_new();
	struct crdt_cursor cur = CRDT_CURSOR_INIT;
	struct got g = { .max = 1200 };
	struct crdt_buf b;
	static const uint8_t empty[] = { 0x04, 0x01, 0x00, 0x00 };

	assert_int_equal(crdt_orset_pieces(s, &cur, g.max, 8, got_cb, &g), 0);
	assert_true(cur.done);
	assert_int_equal(g.len, sizeof(empty));
	assert_memory_equal(g.enc, empty, sizeof(empty));
	crdt_orset_free(g.last);
	g.last = NULL;
	/* done: nothing more */
	assert_int_equal(crdt_orset_pieces(s, &cur, g.max, 8, got_cb, &g), 0);
	assert_int_equal(g.n, 1);

	rid_of(1, &ra);
	rid_of(2, &rb);
	for (int i = 0; i < 40; i++) {
		char k[8];
		snprintf(k, sizeof(k), "e%d", i);
		assert_int_equal(crdt_orset_add(s, i % 3 ? &ra : &rb, k, strlen(k)), 0);
		if (i % 5 == 0)
			assert_int_equal(crdt_orset_remove(s, k, strlen(k)), 1);
	}
	cur = CRDT_CURSOR_INIT;
	assert_int_equal(crdt_orset_pieces(s, &cur, g.max, 8, got_cb, &g), 0);
	assert_true(cur.done);
	assert_int_equal(cur.pieces, 1);
	crdt_buf_init(&b, 0);
	assert_int_equal(crdt_orset_encode(s, &b), 0);
	assert_int_equal(g.len, b.len);
	assert_memory_equal(g.enc, b.data, b.len);
	crdt_buf_done(&b);
	crdt_orset_free(g.last);
	crdt_orset_free(s);

	{ /* the fallback: a G-Counter goes whole at the first call */
		struct crdt_obj o;
		struct got h = { .max = 1200 };
		int n = 0;
		assert_int_equal(crdt_obj_new(CRDT_GCOUNTER, &o), 0);
		assert_false(crdt_obj_has_pieces(&o));
		cur = CRDT_CURSOR_INIT;
		assert_int_equal(crdt_obj_pieces(&o, &cur, h.max, 1, got_count_cb, &n), 0);
		assert_true(cur.done);
		assert_int_equal(n, 1);
		crdt_obj_done(&o);
	}
}

/* A delta of removals alone (every other member of 4,000: no element, a
 * context of 2,000 intervals, no dot index) is cut from the cursor as a
 * set is, a piece a call, not whole at the first call; its pieces, merged
 * into the set as it was, remove exactly those members. */
static void test_pieces_removals(void **state)
{
	struct crdt_rid ra;
	struct crdt_orset *s = crdt_orset_new(), *d = crdt_orset_new(), *was, *e;
	struct crdt_cursor cur = CRDT_CURSOR_INIT;
	struct all a = { 0 };
	char k[16];
	int calls = 0;

	rid_of(1, &ra);
	for (int i = 0; i < 4000; i++) {
		snprintf(k, sizeof(k), "e%05d", i);
		assert_int_equal(crdt_orset_add(s, &ra, k, strlen(k)), 0);
	}
	assert_non_null(was = crdt_orset_copy(s));
	for (int i = 1; i < 4000; i += 2) {
		snprintf(k, sizeof(k), "e%05d", i);
		assert_int_equal(crdt_orset_remove_delta(s, k, strlen(k), d), 1);
	}
	assert_int_equal(crdt_orset_card(d), 0);
	assert_int_equal(crdt_orset_context_len(d), 2000);
	while (!cur.done) {
		size_t before = a.n;
		assert_true(crdt_orset_pieces(d, &cur, 200, 1, all_cb, &a) >= 0);
		assert_true(a.n - before <= 1);
		assert_true(++calls < 10000);
	}
	assert_true(a.n > 20); /* about 2,000 intervals of 3 bytes, 200 a piece */
	assert_non_null(e = crdt_orset_copy(was));
	for (size_t i = 0; i < a.n; i++) {
		struct crdt_orset *p;
		assert_true(a.len[i] <= 200);
		assert_int_equal(crdt_orset_decode(a.p[i], a.len[i], &p), 0);
		assert_int_equal(crdt_orset_merge(e, p), 0);
		crdt_orset_free(p);
	}
	assert_true(crdt_orset_equal(e, s));
	all_done(&a);
	crdt_orset_free(e);
	crdt_orset_free(was);
	crdt_orset_free(d);
	crdt_orset_free(s);
}

/* An element too large for any piece is left out, counted, and its dot is
 * in no piece: a replica that holds it keeps it. */
static void test_pieces_skip(void **state)
{
	struct crdt_rid ra, rb;
	struct crdt_orset *s = crdt_orset_new(), *holder, *fresh = crdt_orset_new();
	struct crdt_cursor cur = CRDT_CURSOR_INIT;
	struct got g = { .max = 60 };
	uint8_t big[100] = { 1 };

	rid_of(1, &ra);
	rid_of(2, &rb);
	for (int i = 0; i < 20; i++) {
		char m[8];
		snprintf(m, sizeof(m), "m%02d", i);
		assert_int_equal(crdt_orset_add(s, i % 2 ? &ra : &rb, m, strlen(m)), 0);
		if (i == 7)
			assert_int_equal(crdt_orset_add(s, &ra, big, sizeof(big)), 0);
	}
	{ /* a small merge builds the dot index (a set this small is cut
	   * whole without one) */
		struct crdt_orset *o = crdt_orset_new();
		struct crdt_rid rc;
		rid_of(3, &rc);
		assert_int_equal(crdt_orset_add(o, &rc, "z", 1), 0);
		assert_int_equal(crdt_orset_merge(s, o), 0);
		crdt_orset_free(o);
	}
	holder = crdt_orset_copy(s);
	assert_int_equal(crdt_orset_remove(holder, "m03", 3), 1); /* not in s: s's pieces re-add nothing */
	while (!cur.done) {
		assert_int_equal(crdt_orset_pieces(s, &cur, g.max, 1, got_cb, &g), 0);
		if (g.last) {
			assert_int_equal(crdt_orset_merge(holder, g.last), 0);
			assert_int_equal(crdt_orset_merge(fresh, g.last), 0);
			crdt_orset_free(g.last);
			g.last = NULL;
		}
	}
	assert_int_equal(cur.skipped, 1);
	assert_true(cur.pieces > 1);
	assert_int_equal(crdt_orset_card(fresh), 21);
	assert_false(crdt_orset_contains(fresh, big, sizeof(big)));
	assert_true(crdt_orset_contains(holder, big, sizeof(big)));
	assert_false(crdt_orset_contains(holder, "m03", 3));
	assert_int_equal(crdt_orset_card(holder), 21);
	/* too small for one interval */
	cur = CRDT_CURSOR_INIT;
	assert_int_equal(crdt_orset_pieces(s, &cur, 20, 1, got_cb, &g), CRDT_EMSGSIZE);
	assert_null(g.last);
	crdt_orset_free(holder);
	crdt_orset_free(fresh);
	crdt_orset_free(s);
}

/* The catch-up's case: the source changes between pieces (local adds and
 * removes, each with its delta; merges of other replicas' states, some
 * with gaps, some under ids between the ones the cursor passed).  At every
 * step what the receiver holds is below the source (it never learns what
 * the source does not hold); the pieces alone end above the state the
 * source had when the first was cut; pieces, deltas and the other
 * replicas' states (which reach it by their own replication) end exactly
 * equal to the source. */
static void test_pieces_mutated(void **state)
{
	enum { NR = 6 };
	struct crdt_rid rids[NR];

	for (int i = 0; i < NR; i++)
		rid_of(i + 1, &rids[i]);
	for (int iter = 0; iter < 10; iter++) {
		struct crdt_orset *s = big_state(300 + (int)rng_below(&rng, 400), 3, rids);
		struct crdt_orset *s0 = crdt_orset_copy(s), *rp = crdt_orset_new(), *rx = crdt_orset_new();
		struct crdt_orset *others = crdt_orset_new(); /* what third replicas sent s */
		struct crdt_cursor cur = CRDT_CURSOR_INIT;
		struct into t = { .a = rp, .b = rx, .max = 80 + rng_below(&rng, 200) };
		int step = 0;

		while (!cur.done) {
			size_t n = 1 + rng_below(&rng, 3);
			int r = crdt_orset_pieces(s, &cur, t.max, n, into_cb, &t);
			assert_true(r == 0 || r == 1);
			assert_true(below(rp, s));
			assert_true(below(rx, s));
			for (int m = (int)rng_below(&rng, 6); m > 0; m--) {
				struct crdt_orset *d = crdt_orset_new();
				char k[24];
				int op = (int)rng_below(&rng, 10), len;
				len = snprintf(k, sizeof(k), "%s%d", op < 3 ? "new" : "k",
					       (int)rng_below(&rng, 900));
				if (op < 6) {
					/* a local add on replica 1: new elements, or
					 * re-adds replacing older dots anywhere */
					assert_true(crdt_orset_add_delta(s, &rids[0], k, (size_t)len, d) == 0);
				} else if (op < 9) {
					crdt_orset_remove_delta(s, k, (size_t)len, d);
				} else {
					/* another replica's write, merged into s: some
					 * of its adds only (gaps in s's context), under
					 * an id the cursor may have passed */
					struct crdt_orset *o = crdt_orset_new(), *part = crdt_orset_new();
					const struct crdt_rid *w = &rids[3 + rng_below(&rng, NR - 3)];
					for (int x = 0; x < 4; x++) {
						struct crdt_orset *dd = crdt_orset_new();
						len = snprintf(k, sizeof(k), "o%d", (int)rng_below(&rng, 50));
						assert_int_equal(crdt_orset_add_delta(o, w, k, (size_t)len, dd), 0);
						if (rng_below(&rng, 2))
							assert_int_equal(crdt_orset_merge(part, dd), 0);
						crdt_orset_free(dd);
					}
					assert_int_equal(crdt_orset_merge(s, part), 0);
					assert_int_equal(crdt_orset_merge(others, part), 0);
					crdt_orset_free(part);
					crdt_orset_free(o);
				}
				/* the deltas reach rx only (rp: pieces alone) */
				assert_int_equal(crdt_orset_merge(rx, d), 0);
				crdt_orset_free(d);
			}
			assert_true(++step < 20000);
		}
		assert_true(below(s0, rp));
		assert_true(below(rp, s));
		assert_int_equal(crdt_orset_merge(rx, others), 0);
		assert_true(crdt_orset_equal(rx, s));
		crdt_orset_free(s);
		crdt_orset_free(s0);
		crdt_orset_free(rp);
		crdt_orset_free(rx);
		crdt_orset_free(others);
	}
}

/* A large set with no dot index gets it a slice per call, and changes
 * between the slices (adds, removes, re-adds, growth of its table); the
 * index then agrees with the set: the pieces cut from it are exact, and
 * pieces plus deltas end equal to the source. */
static void test_pieces_index_slices(void **state)
{
	struct crdt_rid ra, rb;
	struct crdt_orset *s = crdt_orset_new(), *rp = crdt_orset_new(), *rx = crdt_orset_new();
	struct into t = { .a = rp, .b = rx, .max = 1200 };
	struct crdt_cursor cur = CRDT_CURSOR_INIT;
	int slices = 0, calls = 0;
	char k[24];

	rid_of(1, &ra);
	rid_of(2, &rb);
	{ /* added elsewhere and merged in bulk: no index (adds past 1,024
	   * elements would build one) */
		struct crdt_orset *w = crdt_orset_new();
		for (int i = 0; i < 30000; i++) {
			int len = snprintf(k, sizeof(k), "k%d", i);
			assert_int_equal(crdt_orset_add(w, i % 5 ? &ra : &rb, k, (size_t)len), 0);
		}
		assert_int_equal(crdt_orset_merge(s, w), 0);
		crdt_orset_free(w);
	}
	while (!cur.done) {
		int r = crdt_orset_pieces(s, &cur, t.max, 4, into_cb, &t);
		assert_true(r == 0 || r == 1);
		slices += r;
		assert_true(++calls < 100000);
		for (int m = 0; m < 40; m++) { /* 40 writes a call: the table grows */
			struct crdt_orset *d = crdt_orset_new();
			int op = (int)rng_below(&rng, 3), len;
			len = snprintf(k, sizeof(k), "%s%d", op == 0 ? "new" : "k",
				       (int)rng_below(&rng, op == 0 ? 1000000 : 30000));
			if (op < 2)
				assert_int_equal(crdt_orset_add_delta(s, m % 2 ? &ra : &rb, k, (size_t)len, d),
						 0);
			else
				crdt_orset_remove_delta(s, k, (size_t)len, d);
			assert_int_equal(crdt_orset_merge(rx, d), 0);
			crdt_orset_free(d);
		}
		if (calls % 64 == 0)
			assert_true(below(rp, s));
	}
	assert_true(slices > 3);
	assert_true(crdt_orset_equal(rx, s));
	/* still; cut again from the index the slices built and kept */
	crdt_orset_free(rp);
	rp = crdt_orset_new();
	t.a = t.b = rp;
	cur = CRDT_CURSOR_INIT;
	assert_int_equal(crdt_orset_pieces(s, &cur, t.max, SIZE_MAX, into_cb, &t), 0);
	assert_true(cur.done);
	assert_true(crdt_orset_equal(rp, s));
	{ /* exact, for the first pieces */
		struct got g = { .max = 300 };
		cur = CRDT_CURSOR_INIT;
		for (int i = 0; i < 5; i++) {
			struct crdt_cursor before = cur;
			struct range r;
			assert_int_equal(crdt_orset_pieces(s, &cur, g.max, 1, got_cb, &g), 0);
			assert_non_null(g.last);
			cursor_range(&before, &cur, &r);
			check_exact(s, g.last, &r);
			crdt_orset_free(g.last);
			g.last = NULL;
		}
	}
	crdt_orset_free(s);
	crdt_orset_free(rp);
	crdt_orset_free(rx);
}

/* ---- a receiver that pays for news only (crdt_orset_piece_is_news) ---- */

/* Random sets cut from a cursor, against receivers that hold the same set,
 * miss one element (its dot unseen), miss a removed one too, removed one element (its dot seen and
 * dead), and hold one live dot the sender removed: each piece's verdict
 * against a real merge on a copy. */
static void test_pieces_news(void **state)
{
	struct crdt_rid rids[3];
	static const bool exact[5] = { true, true, false, true, true };

	for (int i = 0; i < 3; i++)
		rid_of(i + 1, &rids[i]);
	for (int iter = 0; iter < 6; iter++) {
		/* past PIECES_UNINDEXED, so the pieces go through the index */
		struct crdt_orset *s0 = big_state(2000 + (int)rng_below(&rng, 600), 3, rids);
		struct crdt_orset *s = crdt_orset_copy(s0), *recv[5];
		struct crdt_obj rv[5];
		struct crdt_cursor cur = CRDT_CURSOR_INIT;
		size_t no_news[5] = { 0 }, changed[5] = { 0 };
		struct news_check x = { .cur = &cur, .recv = rv, .nrecv = 5, .exact = exact,
					.no_news = no_news, .changed = changed };
		int w = (int)rng_below(&rng, 3);
		const struct crdt_rid *who = &rids[w], *other = &rids[(w + 1) % 3];
		char k[40];
		int len, guard = 0;

		/* The sender adds "gone" at one replica and removes it, then
		 * adds "news" at another (one dot each, the same at every
		 * copy). */
		char g[40];
		int glen = snprintf(g, sizeof(g), "gone-%d", iter);
		len = snprintf(k, sizeof(k), "news-%d", iter);
		recv[4] = crdt_orset_copy(s); /* missing only the dead dot of "gone" */
		assert_int_equal(crdt_orset_add(recv[4], who, k, (size_t)len), 0);
		assert_int_equal(crdt_orset_add(s, other, g, (size_t)glen), 0);
		recv[3] = crdt_orset_copy(s); /* an extra live dot: "gone"'s */
		assert_int_equal(crdt_orset_add(recv[3], who, k, (size_t)len), 0);
		assert_int_equal(crdt_orset_remove(s, g, (size_t)glen), 1);
		recv[1] = crdt_orset_copy(s); /* missing "news" */
		assert_int_equal(crdt_orset_add(s, who, k, (size_t)len), 0);
		recv[2] = crdt_orset_copy(s);
		assert_int_equal(crdt_orset_remove(recv[2], k, (size_t)len), 1); /* removed it */
		recv[0] = crdt_orset_copy(s); /* the same */
		for (int i = 0; i < 5; i++)
			rv[i] = (struct crdt_obj){ .type = CRDT_ORSET, .os = recv[i] };
		while (!cur.done) {
			int r = crdt_orset_pieces(s, &cur, 100 + rng_below(&rng, 400), 1, news_check_cb,
						  &x);
			assert_true(r == 0 || r == 1); /* 1: a slice of the index */
			assert_true(++guard < 100000);
		}
		assert_true(cur.pieces > 2);
		assert_int_equal(x.plain, 0); /* every piece through the index has a summary */
		assert_int_equal(x.summed, cur.pieces);
		news_check_three(&x); /* summed == pieces, above */
		assert_int_equal(changed[3], 1);            /* the removal reaches it */
		assert_int_equal(no_news[3], cur.pieces - 1);
		assert_int_equal(changed[4], 1); /* the context alone is news */
		assert_int_equal(no_news[4], cur.pieces - 1);
		for (int i = 0; i < 5; i++)
			crdt_orset_free(recv[i]);
		crdt_orset_free(s);
		crdt_orset_free(s0);
	}
}

int main(void)
{
	rng.s = test_seed("pieces");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pieces_exact),
		cmocka_unit_test(test_pieces_whole),
		cmocka_unit_test(test_pieces_removals),
		cmocka_unit_test(test_pieces_skip),
		cmocka_unit_test(test_pieces_mutated),
		cmocka_unit_test(test_pieces_index_slices),
		cmocka_unit_test(test_pieces_news),
		cmocka_unit_test(test_pieces_recut),
		cmocka_unit_test(test_pieces_crowded),
		cmocka_unit_test(test_pieces_into_shared),
		cmocka_unit_test(test_pieces_adds_keep_index),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
