/* OR-Set: add-wins semantics, merge laws, codec, and the split against an
 * independent reference model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crdt/codec.h"
#include "crdt/error.h"
#include "crdt/json.h"
#include "crdt/orset.h"
#include "testutil.h"

static struct rng rng;

static void rid_of(int i, struct crdt_rid *r)
{
	/* Ids in an order unrelated to the replica number. */
	memset(r->b, 0, sizeof(r->b));
	r->b[0] = (uint8_t)(0x80 ^ (i * 37));
	r->b[15] = (uint8_t)i;
}

#define S(x) (x), sizeof(x) - 1

static int enc(const struct crdt_orset *s, struct crdt_buf *b)
{
	crdt_buf_init(b, 0);
	return crdt_orset_encode(s, b);
}

static bool same_encoding(const struct crdt_orset *a, const struct crdt_orset *b)
{
	struct crdt_buf x, y;
	bool eq;

	assert_int_equal(enc(a, &x), 0);
	assert_int_equal(enc(b, &y), 0);
	eq = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
	crdt_buf_done(&x);
	crdt_buf_done(&y);
	return eq;
}

static struct crdt_orset *roundtrip(const struct crdt_orset *s)
{
	struct crdt_buf b;
	struct crdt_orset *d = NULL;

	assert_int_equal(enc(s, &b), 0);
	assert_int_equal(crdt_orset_decode(b.data, b.len, &d), 0);
	crdt_buf_done(&b);
	assert_true(crdt_orset_equal(s, d));
	return d;
}

/* ---- semantics ---- */

static void test_concurrent_add_wins(void **state)
{
	struct crdt_rid ra, rb;
	struct crdt_orset *a = crdt_orset_new(), *b = crdt_orset_new();

	rid_of(1, &ra);
	rid_of(2, &rb);
	assert_int_equal(crdt_orset_add(a, &ra, S("x")), 0);
	assert_int_equal(crdt_orset_add(b, &rb, S("x")), 0);
	assert_int_equal(crdt_orset_merge(b, a), 0); /* b saw a's add */
	assert_int_equal(crdt_orset_add(a, &ra, S("x")), 0); /* a re-adds, concurrent */
	assert_int_equal(crdt_orset_remove(b, S("x")), 1);  /* b removes what it saw */
	assert_false(crdt_orset_contains(b, S("x")));
	assert_int_equal(crdt_orset_merge(a, b), 0);
	assert_int_equal(crdt_orset_merge(b, a), 0);
	assert_true(crdt_orset_contains(a, S("x")));
	assert_true(crdt_orset_contains(b, S("x")));
	assert_true(crdt_orset_equal(a, b));

	/* A remove after the merge removes it everywhere. */
	assert_int_equal(crdt_orset_remove(a, S("x")), 1);
	assert_int_equal(crdt_orset_remove(a, S("x")), 0);
	assert_int_equal(crdt_orset_merge(b, a), 0);
	assert_false(crdt_orset_contains(b, S("x")));
	assert_int_equal(crdt_orset_card(b), 0);
	crdt_orset_free(a);
	crdt_orset_free(b);
}

static void test_removed_leave_only_context(void **state)
{
	struct crdt_rid ra;
	struct crdt_orset *a = crdt_orset_new(), *e = crdt_orset_new(), *d;
	struct crdt_buf b1, b2;
	char k[48];

	rid_of(1, &ra);
	assert_int_equal(crdt_orset_add(e, &ra, S("only")), 0);
	assert_int_equal(crdt_orset_remove(e, S("only")), 1);
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "element-%d-with-a-long-name", i);
		assert_int_equal(crdt_orset_add(a, &ra, k, strlen(k)), 0);
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "element-%d-with-a-long-name", i);
		assert_int_equal(crdt_orset_remove(a, k, strlen(k)), 1);
	}
	assert_int_equal(crdt_orset_card(a), 0);
	assert_int_equal(enc(a, &b1), 0);
	assert_int_equal(enc(e, &b2), 0);
	/* header, 1 rid, one interval [1,1000], zero elements */
	assert_int_equal(b1.len, 2 + 1 + 16 + 1 + 1 + 2 + 1);
	assert_int_equal(b2.len, 2 + 1 + 16 + 1 + 1 + 1 + 1);
	d = roundtrip(a);
	struct crdt_vv vv;
	assert_int_equal(crdt_orset_context_vv(d, &vv), 0);
	assert_int_equal(crdt_vv_get(&vv, &ra), 1000);
	crdt_vv_done(&vv);
	crdt_orset_free(d);
	crdt_buf_done(&b1);
	crdt_buf_done(&b2);
	crdt_orset_free(a);
	crdt_orset_free(e);
}

static int collect_cb(const uint8_t *e, size_t len, void *ctx)
{
	struct crdt_buf *b = ctx;
	return crdt_buf_put_bytes(b, e, len);
}

/* The decoder hashes short keys from their slot words (et_hash_short), the
 * rest of the library from the bytes (et_hash): a decoded set must find,
 * remove and merge keys of every length, inline or not, as the set it was
 * encoded from does. */
static void test_decode_every_length(void **state)
{
	struct crdt_rid ra;
	struct crdt_orset *a = crdt_orset_new(), *d;
	uint8_t k[24];

	(void)state;
	rid_of(1, &ra);
	for (size_t len = 0; len <= sizeof(k); len++) {
		for (size_t i = 0; i < len; i++) /* zero bytes and high bits too */
			k[i] = (uint8_t)(i % 3 == 0 ? 0 : 0x80 + 7 * i + len);
		assert_int_equal(crdt_orset_add(a, &ra, k, len), 0);
	}
	d = roundtrip(a);
	for (size_t len = 0; len <= sizeof(k); len++) {
		for (size_t i = 0; i < len; i++)
			k[i] = (uint8_t)(i % 3 == 0 ? 0 : 0x80 + 7 * i + len);
		assert_true(crdt_orset_contains(d, k, len));
		if (len) { /* the last byte changed: absent */
			k[len - 1] ^= 1;
			assert_false(crdt_orset_contains(d, k, len));
			k[len - 1] ^= 1;
		}
		if (len % 2)
			assert_int_equal(crdt_orset_remove(d, k, len), 1);
	}
	assert_int_equal(crdt_orset_card(d), sizeof(k) / 2 + 1);
	assert_int_equal(crdt_orset_merge(a, d), 0); /* the removes win */
	assert_true(crdt_orset_equal(a, d));
	crdt_orset_free(a);
	crdt_orset_free(d);
}

static void test_binary_safe(void **state)
{
	struct crdt_rid ra;
	struct crdt_orset *a = crdt_orset_new(), *d;
	struct crdt_buf b;
	/* "", then 16 NULs and a 1, then "a\0b", "a\0c" */
	const uint8_t want[] = { 0, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
				 3, 'a', 0, 'b', 3, 'a', 0, 'c' };
	uint8_t big[17] = { 0 };
	cJSON *j;
	char *txt;

	rid_of(1, &ra);
	big[16] = 1;
	assert_int_equal(crdt_orset_add(a, &ra, "a\0c", 3), 0);
	assert_int_equal(crdt_orset_add(a, &ra, "a\0b", 3), 0);
	assert_int_equal(crdt_orset_add(a, &ra, "", 0), 0);
	assert_int_equal(crdt_orset_add(a, &ra, big, sizeof(big)), 0);
	assert_true(crdt_orset_contains(a, "a\0b", 3));
	assert_false(crdt_orset_contains(a, "a", 1));
	assert_int_equal(crdt_orset_card(a), 4);
	crdt_buf_init(&b, 0);
	assert_int_equal(crdt_orset_foreach(a, collect_cb, &b), 0);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	crdt_buf_done(&b);
	d = roundtrip(a);
	j = crdt_orset_to_json(d);
	assert_non_null(j);
	txt = cJSON_PrintUnformatted(j);
	assert_non_null(strstr(txt, "{\"hex\":\"610063\"}"));
	assert_non_null(strstr(txt, "\"type\":\"orset\""));
	free(txt);
	cJSON_Delete(j);
	crdt_orset_free(d);
	crdt_orset_free(a);
}

/* ---- the reference model ----
 *
 * State-based form of "e is present iff some add of e seen is not in the
 * observed set of any seen op": known = adds seen, killed = union of the
 * observed sets of the ops seen.  A split piece conveys exactly the adds
 * whose dots its context covers, and what is known about them. */

#define MAXR 5
#define MAXOPS 40
#define NELEM 4

static const struct {
	const char *p;
	size_t n;
} elems[NELEM] = {
	{ "a", 1 },
	{ "b\0c", 3 },
	{ "", 0 },
	{ "a-rather-long-element-name", 26 },
};

struct mrep {
	struct crdt_orset *s;
	uint64_t known, killed;
	int nadds; /* adds made here: the next counter */
};

struct madd {
	int e, r;
	uint64_t ctr;
};

struct scen {
	int nr, nops;
	struct crdt_rid rids[MAXR];
	struct mrep rep[MAXR];
	struct madd add[MAXOPS]; /* indexed by op id; r < 0 for removes */
};

static uint64_t live(const struct scen *sc, uint64_t known, uint64_t killed, int e)
{
	uint64_t m = 0;
	for (int a = 0; a < sc->nops; a++)
		if ((known >> a & 1) && !(killed >> a & 1) && sc->add[a].r >= 0 && sc->add[a].e == e)
			m |= 1ULL << a;
	return m;
}

static void check_rep(const struct scen *sc, const struct mrep *m)
{
	for (int e = 0; e < NELEM; e++) {
		bool want = live(sc, m->known, m->killed, e) != 0;
		if (crdt_orset_contains(m->s, elems[e].p, elems[e].n) != want)
			fail_msg("element %d: model says %d", e, want);
	}
}

/* The adds whose dots a piece's context covers: parsed here from the wire
 * format in docs/encoding.md, independently of the decoder. */
static uint64_t piece_mask(const struct scen *sc, const uint8_t *p, size_t len)
{
	struct crdt_cur c;
	const uint8_t *rids;
	size_t nr, niv;
	uint64_t m = 0, gap, span;

	crdt_cur_init(&c, p, len);
	assert_int_equal(crdt_codec_get_header(&c, CRDT_ORSET), 0);
	assert_int_equal(crdt_codec_get_rids(&c, &rids, &nr), 0);
	for (size_t i = 0; i < nr; i++) {
		uint64_t prev = 0;
		assert_int_equal(crdt_cur_varint(&c, &niv), 0);
		for (size_t k = 0; k < niv; k++) {
			assert_int_equal(crdt_cur_varint(&c, &gap), 0);
			assert_int_equal(crdt_cur_varint(&c, &span), 0);
			uint64_t lo = prev + 1 + gap, hi = lo + span;
			prev = hi;
			for (int a = 0; a < sc->nops; a++)
				if (sc->add[a].r >= 0 &&
				    memcmp(sc->rids[sc->add[a].r].b, rids + i * 16, 16) == 0 &&
				    sc->add[a].ctr >= lo && sc->add[a].ctr <= hi)
					m |= 1ULL << a;
		}
	}
	return m;
}

struct pieces {
	uint8_t *p[512];
	size_t len[512];
	int n;
	size_t max;
};

static int piece_cb(const uint8_t *p, size_t len, void *ctx)
{
	struct pieces *ps = ctx;
	if (len > ps->max || ps->n >= 512)
		return -1000;
	ps->p[ps->n] = malloc(len);
	memcpy(ps->p[ps->n], p, len);
	ps->len[ps->n++] = len;
	return 0;
}

static void pieces_done(struct pieces *ps)
{
	for (int i = 0; i < ps->n; i++)
		free(ps->p[i]);
	ps->n = 0;
}

static void merge_piece(struct crdt_orset *dst, const uint8_t *p, size_t len)
{
	struct crdt_orset *d;
	assert_int_equal(crdt_orset_decode(p, len, &d), 0);
	assert_int_equal(crdt_orset_merge(dst, d), 0);
	crdt_orset_free(d);
}

static void laws(struct crdt_orset *a, struct crdt_orset *b, struct crdt_orset *c)
{
	struct crdt_orset *ab = crdt_orset_copy(a), *ba = crdt_orset_copy(b);
	struct crdt_orset *ab_c, *bc, *a_bc, *aa = crdt_orset_copy(a);

	assert_true(crdt_orset_equal(ab, a));
	assert_int_equal(crdt_orset_merge(ab, b), 0);
	assert_int_equal(crdt_orset_merge(ba, a), 0);
	assert_true(crdt_orset_equal(ab, ba));
	assert_true(same_encoding(ab, ba));
	ab_c = crdt_orset_copy(ab);
	assert_int_equal(crdt_orset_merge(ab_c, c), 0);
	bc = crdt_orset_copy(b);
	assert_int_equal(crdt_orset_merge(bc, c), 0);
	a_bc = crdt_orset_copy(a);
	assert_int_equal(crdt_orset_merge(a_bc, bc), 0);
	assert_true(crdt_orset_equal(ab_c, a_bc));
	assert_true(same_encoding(ab_c, a_bc));
	assert_int_equal(crdt_orset_merge(aa, a), 0);
	assert_true(crdt_orset_equal(aa, a));
	assert_int_equal(crdt_orset_merge(aa, aa), 0);
	assert_true(same_encoding(aa, a));
	crdt_orset_free(ab);
	crdt_orset_free(ba);
	crdt_orset_free(ab_c);
	crdt_orset_free(bc);
	crdt_orset_free(a_bc);
	crdt_orset_free(aa);
}

struct snap {
	struct crdt_orset *s;
	uint64_t known, killed;
};

static void run_scenario(void)
{
	struct scen sc = { 0 };
	struct snap snaps[8] = { 0 };
	int nsnaps = 0, steps;
	struct pieces ps = { .n = 0 };

	sc.nr = 3 + (int)rng_below(&rng, 3);
	for (int r = 0; r < sc.nr; r++) {
		rid_of((int)rng_below(&rng, 256) * 8 + r, &sc.rids[r]);
		sc.rep[r].s = crdt_orset_new();
	}
	steps = 10 + (int)rng_below(&rng, 21);
	for (int st = 0; st < steps; st++) {
		int r = (int)rng_below(&rng, sc.nr), k = (int)rng_below(&rng, 10);
		struct mrep *m = &sc.rep[r];

		if (k < 5 && sc.nops < MAXOPS) {
			int e = (int)rng_below(&rng, NELEM), id = sc.nops++;
			bool rm = k >= 3;
			m->killed |= live(&sc, m->known, m->killed, e);
			m->known |= 1ULL << id;
			if (rm) {
				sc.add[id] = (struct madd){ .e = e, .r = -1 };
				crdt_orset_remove(m->s, elems[e].p, elems[e].n);
			} else {
				sc.add[id] = (struct madd){ .e = e, .r = r, .ctr = (uint64_t)++m->nadds };
				assert_int_equal(crdt_orset_add(m->s, &sc.rids[r], elems[e].p, elems[e].n), 0);
			}
		} else if (k < 7) {
			struct mrep *from = &sc.rep[rng_below(&rng, sc.nr)];
			assert_int_equal(crdt_orset_merge(m->s, from->s), 0);
			m->known |= from->known;
			m->killed |= from->killed;
		} else if (k < 8) {
			if (nsnaps < 8) {
				struct mrep *from = &sc.rep[rng_below(&rng, sc.nr)];
				snaps[nsnaps++] = (struct snap){ crdt_orset_copy(from->s), from->known,
								 from->killed };
			} else {
				/* stale or duplicate delivery */
				struct snap *sn = &snaps[rng_below(&rng, nsnaps)];
				assert_int_equal(crdt_orset_merge(m->s, sn->s), 0);
				m->known |= sn->known;
				m->killed |= sn->killed;
			}
		} else {
			/* Some split pieces, in random order, some twice. */
			struct mrep *from = &sc.rep[rng_below(&rng, sc.nr)];
			ps.max = 60 + rng_below(&rng, 120);
			assert_int_equal(crdt_orset_split(from->s, ps.max, piece_cb, &ps), 0);
			int deliver = (int)rng_below(&rng, ps.n + 2);
			for (int i = 0; i < deliver; i++) {
				int pi = (int)rng_below(&rng, ps.n);
				uint64_t pm = piece_mask(&sc, ps.p[pi], ps.len[pi]);
				merge_piece(m->s, ps.p[pi], ps.len[pi]);
				m->known |= from->known & pm;
				m->killed |= from->killed & pm;
			}
			if (rng_below(&rng, 4) == 0) {
				/* all pieces into an empty set give the state back */
				struct crdt_orset *e = crdt_orset_new();
				for (int i = ps.n - 1; i >= 0; i--)
					merge_piece(e, ps.p[i], ps.len[i]);
				assert_true(crdt_orset_equal(e, from->s));
				crdt_orset_free(e);
			}
			pieces_done(&ps);
		}
	}
	for (int r = 0; r < sc.nr; r++)
		check_rep(&sc, &sc.rep[r]);
	if (rng_below(&rng, 2) == 0)
		laws(sc.rep[0].s, sc.rep[1].s, sc.rep[2].s);
	if (rng_below(&rng, 4) == 0) {
		struct crdt_orset *d = roundtrip(sc.rep[rng_below(&rng, sc.nr)].s);
		crdt_orset_free(d);
	}

	/* Everyone exchanges everything. */
	for (int round = 0; round < 2; round++)
		for (int r = 0; r < sc.nr; r++)
			assert_int_equal(crdt_orset_merge(sc.rep[(r + 1) % sc.nr].s, sc.rep[r].s), 0);
	uint64_t known = 0, killed = 0;
	for (int r = 0; r < sc.nr; r++) {
		known |= sc.rep[r].known;
		killed |= sc.rep[r].killed;
	}
	for (int r = 0; r < sc.nr; r++) {
		sc.rep[r].known = known;
		sc.rep[r].killed = killed;
		check_rep(&sc, &sc.rep[r]);
		assert_true(crdt_orset_equal(sc.rep[r].s, sc.rep[0].s));
		assert_true(same_encoding(sc.rep[r].s, sc.rep[0].s));
	}
	for (int r = 0; r < sc.nr; r++)
		crdt_orset_free(sc.rep[r].s);
	for (int i = 0; i < nsnaps; i++)
		crdt_orset_free(snaps[i].s);
}

static void test_model(void **state)
{
	int n = test_scenarios(10000);
	for (int i = 0; i < n; i++)
		run_scenario();
}

/* ---- merge of a small piece into a large set ----
 *
 * Pieces of a few elements merged into a set of hundreds take the small
 * path (the dot index); the same piece merged the other way round, a copy
 * of the piece as destination, takes the bulk join.  Merge is commutative,
 * so both must give the same state, exactly.  The pieces carry removals of
 * elements the destination holds (context over dots it lacks), re-adds
 * (new dots of elements the destination has), concurrent adds on the
 * destination, elements with several dots and long keys. */

static void small_key(char *k, size_t cap, int i, size_t *ret_len)
{
	int n = snprintf(k, cap, i % 5 ? "e%d" : "a-long-element-name-%d", i);
	*ret_len = (size_t)n;
}

static void random_ops(struct crdt_orset *s, const struct crdt_rid *r, int universe, int n)
{
	char k[48];
	size_t len;

	for (int i = 0; i < n; i++) {
		small_key(k, sizeof(k), (int)rng_below(&rng, (uint64_t)universe), &len);
		if (rng_below(&rng, 3))
			assert_int_equal(crdt_orset_add(s, r, k, len), 0);
		else
			crdt_orset_remove(s, k, len);
	}
}

static void merge_both_ways(struct crdt_orset *dst, const struct crdt_orset *piece)
{
	struct crdt_orset *ref = crdt_orset_copy(piece);

	assert_non_null(ref);
	assert_int_equal(crdt_orset_merge(ref, dst), 0); /* bulk */
	assert_int_equal(crdt_orset_merge(dst, piece), 0); /* small when piece is */
	if (!crdt_orset_equal(dst, ref))
		fail_msg("small-path merge differs from the bulk join");
	crdt_orset_free(ref);
}


/* ---- delta mutators ---- */

/* Three replicas write at random with the delta mutators; each write's
 * delta goes to the others late, twice or never, in any order.  Checked:
 * the state before a write joined with its delta is the state after it;
 * whatever subset of deltas arrives, nothing the sender's full state would
 * not also give is lost (a replica that got every delta equals one that got
 * the full states); and deltas joined into intervals behave as one. */
#define DR 3
#define DOPS 300
static void run_delta_scenario(void)
{
	struct crdt_rid rid[DR];
	struct crdt_orset *s[DR], *viad[DR], *viaf[DR];
	struct crdt_orset *log[DR][DOPS];
	struct crdt_orset *ivl[DR];
	char k[48];
	size_t len;

	for (int i = 0; i < DR; i++) {
		rid_of(i + 1, &rid[i]);
		assert_non_null(s[i] = crdt_orset_new());
		assert_non_null(viad[i] = crdt_orset_new());
		assert_non_null(ivl[i] = crdt_orset_new());
	}
	for (int op = 0; op < DOPS; op++) {
		for (int i = 0; i < DR; i++) {
			struct crdt_orset *before = crdt_orset_copy(s[i]), *d = crdt_orset_new();
			int r;

			assert_non_null(before);
			assert_non_null(d);
			small_key(k, sizeof(k), (int)rng_below(&rng, 40), &len);
			if (rng_below(&rng, 3)) {
				assert_int_equal(crdt_orset_add_delta(s[i], &rid[i], k, len, d), 0);
			} else {
				r = crdt_orset_remove_delta(s[i], k, len, d);
				assert_int_equal(r, crdt_orset_contains(before, k, len) ? 1 : 0);
				assert_false(crdt_orset_contains(s[i], k, len));
			}
			/* before ⊔ delta = after */
			assert_int_equal(crdt_orset_merge(before, d), 0);
			if (!crdt_orset_equal(before, s[i]))
				fail_msg("state before a write joined with its delta is not the state after");
			assert_int_equal(crdt_orset_merge(ivl[i], d), 0);
			log[i][op] = d;
			crdt_orset_free(before);
			/* now and then a replica merges another's full state,
			 * so deltas meet states that saw more or less */
			if (!rng_below(&rng, 25)) {
				int j = (int)rng_below(&rng, DR);
				assert_int_equal(crdt_orset_merge(s[i], s[j]), 0);
				/* what that merge brought is no delta of ours:
				 * the interval stays the write's alone */
			}
		}
	}
	/* every delta of every replica, shuffled, some twice, into viad */
	for (int i = 0; i < DR; i++) {
		int idx[DR * DOPS], n = 0;
		for (int j = 0; j < DR; j++)
			for (int op = 0; op < DOPS; op++)
				idx[n++] = j * DOPS + op;
		for (int x = n - 1; x > 0; x--) {
			int y = (int)rng_below(&rng, (uint64_t)x + 1), t = idx[x];
			idx[x] = idx[y];
			idx[y] = t;
		}
		for (int x = 0; x < n; x++) {
			struct crdt_orset *d = log[idx[x] / DOPS][idx[x] % DOPS];
			assert_int_equal(crdt_orset_merge(viad[i], d), 0);
			if (!rng_below(&rng, 5))
				assert_int_equal(crdt_orset_merge(viad[i], d), 0);
		}
	}
	/* the full-state reference: every replica's state joined */
	for (int i = 0; i < DR; i++) {
		assert_non_null(viaf[i] = crdt_orset_copy(s[i]));
		for (int j = 0; j < DR; j++)
			assert_int_equal(crdt_orset_merge(viaf[i], s[j]), 0);
	}
	for (int i = 0; i < DR; i++) {
		if (!crdt_orset_equal(viad[i], viaf[0]) || !crdt_orset_equal(viaf[i], viaf[0]))
			fail_msg("deltas in any order do not reach the full-state join");
		/* the intervals alone reach it too */
		struct crdt_orset *x = crdt_orset_new();
		assert_non_null(x);
		for (int j = 0; j < DR; j++)
			assert_int_equal(crdt_orset_merge(x, ivl[(i + j) % DR]), 0);
		if (!crdt_orset_equal(x, viaf[0]))
			fail_msg("joined intervals do not reach the full-state join");
		crdt_orset_free(x);
	}
	for (int i = 0; i < DR; i++) {
		for (int op = 0; op < DOPS; op++)
			crdt_orset_free(log[i][op]);
		crdt_orset_free(s[i]);
		crdt_orset_free(viad[i]);
		crdt_orset_free(viaf[i]);
		crdt_orset_free(ivl[i]);
	}
}

static void test_delta_mutators(void **state)
{
	(void)state;
	for (int i = 0; i < 20; i++)
		run_delta_scenario();
}

/* Several writes into one delta (a command with many members, MULTI): the
 * mutators join each write's small state into the delta in place; the
 * result must be exactly the ordinary join of the writes' own deltas, and
 * the state before joined with it the state after.  Keys repeat, so writes
 * meet elements the delta already holds, removes meet absent ones, and a
 * merge from another replica now and then gives elements several dots. */
static void test_delta_joined_in_place(void **state)
{
	struct crdt_rid rid[2];
	struct crdt_orset *s[2];
	char k[48];
	size_t len;

	(void)state;
	for (int i = 0; i < 2; i++) {
		rid_of(i + 1, &rid[i]);
		assert_non_null(s[i] = crdt_orset_new());
	}
	for (int round = 0; round < 400; round++) {
		int i = (int)rng_below(&rng, 2), nops = 1 + (int)rng_below(&rng, 8);
		struct crdt_orset *before = crdt_orset_copy(s[i]), *d = crdt_orset_new(),
				  *ref = crdt_orset_new();
		assert_non_null(before);
		assert_non_null(d);
		assert_non_null(ref);
		for (int op = 0; op < nops; op++) {
			struct crdt_orset *one = crdt_orset_new(), *copy = crdt_orset_copy(s[i]);
			assert_non_null(one);
			assert_non_null(copy);
			small_key(k, sizeof(k), (int)rng_below(&rng, 12), &len);
			if (rng_below(&rng, 3)) {
				assert_int_equal(crdt_orset_add_delta(s[i], &rid[i], k, len, d), 0);
				assert_int_equal(crdt_orset_add_delta(copy, &rid[i], k, len, one), 0);
			} else {
				int r = crdt_orset_remove_delta(s[i], k, len, d);
				assert_int_equal(crdt_orset_remove_delta(copy, k, len, one), r);
			}
			assert_true(crdt_orset_equal(copy, s[i]));
			assert_int_equal(crdt_orset_merge(ref, one), 0);
			crdt_orset_free(one);
			crdt_orset_free(copy);
		}
		if (!crdt_orset_equal(d, ref))
			fail_msg("round %d: a delta joined in place differs from the join of its writes",
				 round);
		assert_int_equal(crdt_orset_merge(before, d), 0);
		if (!crdt_orset_equal(before, s[i]))
			fail_msg("round %d: the state before joined with the delta is not the state after",
				 round);
		if (!rng_below(&rng, 6))
			assert_int_equal(crdt_orset_merge(s[i], s[1 - i]), 0);
		crdt_orset_free(before);
		crdt_orset_free(d);
		crdt_orset_free(ref);
	}
	crdt_orset_free(s[0]);
	crdt_orset_free(s[1]);
}

/* The log test_add_at replays: adds with their dots, removes, states
 * merged from elsewhere, and pieces of the set cut meanwhile. */
enum ev_kind { EV_ADD, EV_REM, EV_STATE };
struct ev {
	enum ev_kind kind;
	char k[48];
	size_t len;
	uint64_t ctr;
	struct crdt_orset *st;
};

struct ev_log {
	struct ev v[4096];
	size_t n;
};

static int ev_piece(const uint8_t *p, size_t len, void *ctx)
{
	struct ev_log *l = ctx;
	struct ev *e = &l->v[l->n++];

	assert_true(l->n <= 4096);
	*e = (struct ev){ .kind = EV_STATE };
	assert_int_equal(crdt_orset_decode(p, len, &e->st), 0);
	return 0;
}

/* Adds replayed with their dots (crdt_orset_add_at), in order, among
 * removes, a peer's states and the pieces of a fold (the set cut a piece at
 * a time while it changes, replayed from nothing: the journal's fold drops
 * the base the pieces replace) give the set back exactly, though an add
 * meets a state that lacks dots made before it.  An add replayed once more
 * changes nothing (its dot is seen), also where the element has a newer
 * dot since. */
static void test_add_at(void **state)
{
	struct crdt_rid rid[2];
	char k[48];
	size_t len;

	(void)state;
	rid_of(1, &rid[0]);
	rid_of(2, &rid[1]);
	for (int round = 0; round < 40; round++) {
		struct crdt_orset *s = crdt_orset_new(), *peer = crdt_orset_new(), *r;
		struct ev_log *l = calloc(1, sizeof(*l));
		struct crdt_cursor cur = CRDT_CURSOR_INIT;
		int universe = 20 + (int)rng_below(&rng, 200);

		assert_non_null(l);
		/* a base the fold will replace: never replayed */
		for (int i = 0; i < universe; i++) {
			small_key(k, sizeof(k), (int)rng_below(&rng, (uint64_t)universe), &len);
			assert_int_equal(crdt_orset_add(s, &rid[0], k, len), 0);
		}
		while (!cur.done || l->n < 40) {
			int op = (int)rng_below(&rng, 10);
			struct ev *e;

			assert_true(l->n < 4000);
			if (op < 2 && !cur.done) { /* the fold's next piece */
				assert_true(crdt_orset_pieces(s, &cur, 200, 1, ev_piece, l) >= 0);
				continue;
			}
			e = &l->v[l->n];
			small_key(e->k, sizeof(e->k), (int)rng_below(&rng, (uint64_t)universe), &e->len);
			if (op < 7) {
				e->kind = EV_ADD;
				assert_int_equal(crdt_orset_add(s, &rid[0], e->k, e->len), 0);
				e->ctr = crdt_orset_context_max(s, &rid[0]);
			} else if (op < 9) {
				e->kind = EV_REM;
				crdt_orset_remove(s, e->k, e->len);
			} else {
				e->kind = EV_STATE;
				assert_int_equal(crdt_orset_add(peer, &rid[1], e->k, e->len), 0);
				assert_non_null(e->st = crdt_orset_copy(peer));
				assert_int_equal(crdt_orset_merge(s, peer), 0);
			}
			l->n++;
		}
		assert_non_null(r = crdt_orset_new());
		for (size_t i = 0; i < l->n; i++) {
			struct ev *e = &l->v[i];
			if (e->kind == EV_ADD)
				assert_int_equal(crdt_orset_add_at(r, &rid[0], e->ctr, e->k, e->len), 0);
			else if (e->kind == EV_REM)
				crdt_orset_remove(r, e->k, e->len);
			else
				assert_int_equal(crdt_orset_merge(r, e->st), 0);
		}
		if (!crdt_orset_equal(r, s))
			fail_msg("round %d: the replay differs from the set", round);
		for (size_t i = 0; i < l->n; i++) {
			struct ev *e = &l->v[i];
			if (e->kind == EV_ADD)
				assert_int_equal(crdt_orset_add_at(r, &rid[0], e->ctr, e->k, e->len), 0);
			crdt_orset_free(e->st);
		}
		if (!crdt_orset_equal(r, s))
			fail_msg("round %d: an add replayed again changed the set", round);
		assert_int_equal(crdt_orset_add_at(r, &rid[0], 0, "x", 1), CRDT_EINVAL);
		crdt_orset_free(r);
		crdt_orset_free(s);
		crdt_orset_free(peer);
		free(l);
	}
}

/* A small state (a delta of a few writes) joined into a set takes the
 * in-place path (orset_merge_few); joined the other way round, the set
 * into the small state, it takes the general one.  Both must give the same
 * state, the kept fingerprint must be the one computed afresh, and the dot
 * index must still find every dot (a later remove through it, and an
 * encode/decode round trip, agree). */
static void test_merge_few_matches_general(void **state)
{
	struct crdt_rid rid[3];
	struct crdt_orset *s[3];
	char k[48];
	size_t len;

	(void)state;
	for (int i = 0; i < 3; i++) {
		rid_of(i + 1, &rid[i]);
		assert_non_null(s[i] = crdt_orset_new());
	}
	for (int round = 0; round < 1500; round++) {
		int i = (int)rng_below(&rng, 3), j = (int)((i + 1 + rng_below(&rng, 2)) % 3);
		int nops = 1 + (int)rng_below(&rng, 4);
		struct crdt_orset *d = crdt_orset_new(), *a, *b;
		assert_non_null(d);
		for (int op = 0; op < nops; op++) {
			small_key(k, sizeof(k), (int)rng_below(&rng, 60), &len);
			if (rng_below(&rng, 3))
				assert_int_equal(crdt_orset_add_delta(s[i], &rid[i], k, len, d), 0);
			else
				(void)crdt_orset_remove_delta(s[i], k, len, d);
		}
		/* j's fingerprint kept up to date from here (fp_ok) */
		(void)crdt_orset_fingerprint(s[j]);
		assert_non_null(b = crdt_orset_copy(d));
		assert_int_equal(crdt_orset_merge(b, s[j]), 0); /* general: src is large */
		assert_int_equal(crdt_orset_merge(s[j], d), 0);  /* in place */
		if (!crdt_orset_equal(s[j], b))
			fail_msg("round %d: the in-place join differs from the general one", round);
		assert_non_null(a = crdt_orset_copy(s[j]));
		assert_true(crdt_orset_fingerprint(s[j]) == crdt_orset_fingerprint(b));
		assert_true(crdt_orset_fingerprint(a) == crdt_orset_fingerprint(b));
		crdt_orset_free(a);
		crdt_orset_free(b);
		crdt_orset_free(d);
		/* now and then a full merge, so elements gather several dots */
		if (!rng_below(&rng, 40))
			assert_int_equal(crdt_orset_merge(s[j], s[i]), 0);
	}
	/* every dot still found through the index: remove every element by
	 * deltas joined into the others, then all three must agree */
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			if (i != j)
				assert_int_equal(crdt_orset_merge(s[i], s[j]), 0);
	for (int e = 0; e < 60; e++) {
		struct crdt_orset *d = crdt_orset_new();
		assert_non_null(d);
		small_key(k, sizeof(k), e, &len);
		(void)crdt_orset_remove_delta(s[0], k, len, d);
		assert_int_equal(crdt_orset_merge(s[1], d), 0);
		assert_int_equal(crdt_orset_merge(s[2], d), 0);
		crdt_orset_free(d);
	}
	assert_int_equal(crdt_orset_card(s[1]), 0);
	assert_true(crdt_orset_equal(s[0], s[1]));
	assert_true(crdt_orset_equal(s[0], s[2]));
	for (int i = 0; i < 3; i++)
		crdt_orset_free(s[i]);
}

static void run_small_scenario(void)
{
	struct crdt_rid rids[3];
	struct crdt_orset *a = crdt_orset_new(), *b, *c = crdt_orset_new();
	struct pieces ps = { .n = 0 };
	int universe = 150 + (int)rng_below(&rng, 500);

	for (int i = 0; i < 3; i++)
		rid_of((int)rng_below(&rng, 256) * 4 + i, &rids[i]);
	/* a builds a set, with a few concurrent adds from c (two dots) */
	random_ops(a, &rids[0], universe, universe);
	random_ops(c, &rids[2], universe, universe / 8);
	assert_int_equal(crdt_orset_merge(a, c), 0);
	/* b starts as a copy, then both go on concurrently */
	b = crdt_orset_copy(a);
	if (rng_below(&rng, 2)) {
		/* a decoded copy: its index starts unbuilt */
		crdt_orset_free(b);
		b = roundtrip(a);
	}
	random_ops(b, &rids[1], universe, (int)rng_below(&rng, 40));
	random_ops(a, &rids[0], universe, (int)rng_below(&rng, (uint64_t)universe));
	random_ops(c, &rids[2], universe, (int)rng_below(&rng, 20));
	if (rng_below(&rng, 2))
		assert_int_equal(crdt_orset_merge(a, c), 0);

	/* Rounds: a snapshot of a, in pieces, some lost, some twice; a then
	 * learns b's adds (sometimes) and goes on, so later snapshots remove
	 * what earlier pieces or b's own adds put in b. */
	int rounds = 1 + (int)rng_below(&rng, 3);
	for (int round = 0; round < rounds; round++) {
		if (round > 0) {
			if (rng_below(&rng, 2))
				assert_int_equal(crdt_orset_merge(a, b), 0);
			random_ops(a, &rids[0], universe, (int)rng_below(&rng, 60));
			pieces_done(&ps);
		}
		ps.max = 80 + rng_below(&rng, 300);
		assert_int_equal(crdt_orset_split(a, ps.max, piece_cb, &ps), 0);
		int deliver = (int)rng_below(&rng, (uint64_t)ps.n * 2 + 1);
		for (int i = 0; i < deliver; i++) {
			struct crdt_orset *p;
			int pi = (int)rng_below(&rng, (uint64_t)ps.n);
			assert_int_equal(crdt_orset_decode(ps.p[pi], ps.len[pi], &p), 0);
			merge_both_ways(b, p);
			crdt_orset_free(p);
			switch (rng_below(&rng, 16)) {
			case 0: /* local ops between pieces: the index follows them */
				random_ops(b, &rids[1], universe, 5);
				break;
			case 1: /* a bulk merge: the index is rebuilt on the next piece */
				assert_int_equal(crdt_orset_merge(b, c), 0);
				break;
			default:
				break;
			}
		}
	}
	pieces_done(&ps);
	/* pieces of c's state too: another replica's view */
	ps.max = 80 + rng_below(&rng, 300);
	assert_int_equal(crdt_orset_split(c, ps.max, piece_cb, &ps), 0);
	for (int i = 0; i < ps.n; i++) {
		struct crdt_orset *p;
		assert_int_equal(crdt_orset_decode(ps.p[i], ps.len[i], &p), 0);
		merge_both_ways(b, p);
		crdt_orset_free(p);
	}
	pieces_done(&ps);
	/* finally everything: a and b agree, whichever way it went */
	assert_int_equal(crdt_orset_merge(b, a), 0);
	assert_int_equal(crdt_orset_merge(a, b), 0);
	assert_true(crdt_orset_equal(a, b));
	assert_true(same_encoding(a, b));
	crdt_orset_free(a);
	crdt_orset_free(b);
	crdt_orset_free(c);
}

/* The key order the encoder caches follows adds in ascending order, table
 * growth, removes, out-of-order adds and merges (of a source whose order
 * is cached or not): every encode decodes (the decoder rejects keys out of
 * order) to an equal set, and matches that of a fresh copy.  Keys long and
 * short, with zero bytes and prefixes of each other. */
static void test_order_cache(void **state)
{
	static const uint8_t abc[] = { 0, 'a', 'b', 0xff };
	struct crdt_orset *s = crdt_orset_new(), *o = crdt_orset_new(), *d;
	struct crdt_rid r1, r2, r3;
	uint64_t seed = test_seed("order_cache"), next = 0;

	(void)state;
	rng.s = seed;
	rid_of(1, &r1);
	rid_of(2, &r2);
	rid_of(3, &r3);
	assert_non_null(s);
	assert_non_null(o);
	for (int step = 0; step < 3000; step++) {
		uint8_t k[24];
		size_t len = 0;
		uint64_t op = rng_below(&rng, 100);
		size_t maxlen = step < 1500 ? 16 : sizeof(k); /* short keys sort apart */

		if (op < 50) { /* ascending: 0xff, then a growing big-endian number */
			next += 1 + rng_below(&rng, 3);
			k[0] = 0xff;
			for (int i = 0; i < 8; i++)
				k[1 + i] = (uint8_t)(next >> (56 - 8 * i));
			len = 9 + rng_below(&rng, maxlen - 8);
			memset(k + 9, 'x', len - 9);
		} else {
			len = rng_below(&rng, maxlen + 1);
			for (size_t i = 0; i < len; i++)
				k[i] = abc[rng_below(&rng, 4)];
		}
		if (op < 65)
			assert_int_equal(crdt_orset_add(s, op % 2 ? &r1 : &r2, k, len), 0);
		else if (op < 75)
			assert_int_equal(crdt_orset_add(o, &r3, k, len), 0);
		else if (op < 85)
			crdt_orset_remove(s, k, len);
		else if (op < 90) {
			if (op % 2) /* o's order cached, or not */
				crdt_orset_free(roundtrip(o));
			assert_int_equal(crdt_orset_merge(s, o), 0);
		} else {
			struct crdt_orset *c = crdt_orset_copy(s);
			assert_non_null(c);
			d = roundtrip(s);
			if (!same_encoding(s, c) || !same_encoding(s, d))
				fail_msg("encodings differ at step %d, seed %llu", step,
					 (unsigned long long)seed);
			crdt_orset_free(c);
			crdt_orset_free(d);
		}
	}
	crdt_orset_free(roundtrip(s));
	crdt_orset_free(s);
	crdt_orset_free(o);
}

/* A random key of 0..24 bytes over four byte values: prefixes of one
 * another, zero bytes, short and long keys mixed. */
static size_t rand_key(uint8_t *k)
{
	static const uint8_t abc[] = { 0, 'a', 'b', 0xff };
	size_t len = rng_below(&rng, 25);

	for (size_t i = 0; i < len; i++)
		k[i] = abc[rng_below(&rng, 4)];
	return len;
}

/* The key order through bulk merges (sets of like size): dst's elements
 * and src's new ones are kept as two runs, which the first encode merges;
 * a merge that removes some of dst's elements keeps it as well, and a copy
 * takes the two runs.  Every encode is checked by decoding it (the decoder
 * rejects keys out of order) and against the copy's. */
static void test_order_bulk_merge(void **state)
{
	struct crdt_rid r[3];

	(void)state;
	for (int i = 0; i < 3; i++)
		rid_of(i + 1, &r[i]);
	for (int sc = 0; sc < 300; sc++) {
		struct crdt_orset *a = crdt_orset_new(), *b, *c;
		int n = 1 + (int)rng_below(&rng, 200);
		uint8_t k[24], ak[200][24];
		size_t len, alen[200];

		assert_non_null(a);
		for (int i = 0; i < n; i++) {
			alen[i] = rand_key(ak[i]);
			assert_int_equal(crdt_orset_add(a, &r[rng_below(&rng, 2)], ak[i], alen[i]), 0);
		}
		assert_non_null(b = crdt_orset_copy(a));
		for (int i = 0; i < n; i++) { /* b removes and adds, a adds */
			len = rand_key(k);
			if (rng_below(&rng, 3) == 0) /* mostly one of a's: a loses it */
				crdt_orset_remove(b, ak[i], alen[i]);
			else if (rng_below(&rng, 2))
				assert_int_equal(crdt_orset_add(b, &r[2], k, len), 0);
			else
				assert_int_equal(crdt_orset_add(a, &r[0], k, len), 0);
		}
		if (sc % 3) { /* a's order by decoding, or as its writes left it */
			c = roundtrip(a);
			crdt_orset_free(a);
			a = c;
		}
		if (sc % 2) { /* b's likewise */
			c = roundtrip(b);
			crdt_orset_free(b);
			b = c;
		}
		if (sc % 5 == 0) { /* a merge into a state that holds two runs */
			assert_int_equal(crdt_orset_merge(b, a), 0);
			assert_int_equal(crdt_orset_add(b, &r[2], S("\xff\xff\xff\xff\xff\xff\xff\xff\xff")), 0);
		}
		assert_int_equal(crdt_orset_merge(a, b), 0);
		assert_non_null(c = crdt_orset_copy(a));
		if (sc % 4 == 1) {
			/* an encode that runs out of room part way through the
			 * two runs still leaves the order whole */
			struct crdt_buf x;
			crdt_buf_init(&x, 40 + rng_below(&rng, 400));
			(void)crdt_orset_encode(a, &x);
			crdt_buf_done(&x);
		}
		crdt_orset_free(roundtrip(c));
		crdt_orset_free(roundtrip(a));
		if (!same_encoding(a, c))
			fail_msg("scenario %d: a merged set and its copy encode differently", sc);
		crdt_orset_free(a);
		crdt_orset_free(b);
		crdt_orset_free(c);
	}
}

/* The key order through removes: each remove logs what its backward
 * shift moved, and the next encode, merge or growth replays the log.  Sets
 * in cached order (decoded) lose many elements, no insert between, and
 * are then encoded, merged with a set of like size or grown; each encode
 * is checked by decoding it and against a copy's (a copy of a set with a
 * log sorts). */
static void test_order_removes(void **state)
{
	struct crdt_rid r[2];

	(void)state;
	rid_of(1, &r[0]);
	rid_of(2, &r[1]);
	for (int sc = 0; sc < 60; sc++) {
		struct crdt_orset *a = crdt_orset_new(), *b, *c;
		int n = 20 + (int)rng_below(&rng, 1500), gone = 0;
		static uint8_t ak[1520][24];
		static size_t alen[1520];
		uint8_t k[24];

		assert_non_null(a);
		for (int i = 0; i < n; i++) {
			alen[i] = rand_key(ak[i]);
			assert_int_equal(crdt_orset_add(a, &r[0], ak[i], alen[i]), 0);
		}
		c = roundtrip(a); /* in cached order */
		crdt_orset_free(a);
		a = c;
		assert_non_null(b = crdt_orset_copy(a));
		for (int i = 0; i < n; i++) {
			if (rng_below(&rng, 100) < (uint64_t)(10 + sc))
				gone += crdt_orset_remove(a, ak[i], alen[i]);
		}
		if (sc % 3 == 1) { /* a bulk merge replays the log */
			for (int i = 0; i < n / 2; i++) {
				size_t len = rand_key(k);
				assert_int_equal(crdt_orset_add(b, &r[1], k, len), 0);
			}
			assert_int_equal(crdt_orset_merge(a, b), 0);
		} else if (sc % 3 == 2) { /* growth replays it (long keys: no order kept) */
			for (int i = 0; i < 2 * n; i++) {
				memset(k, 0xff, sizeof(k));
				k[23] = (uint8_t)i, k[22] = (uint8_t)(i >> 8);
				assert_int_equal(crdt_orset_add(a, &r[1], k, sizeof(k)), 0);
			}
		}
		assert_true(gone > 0 || sc % 3 != 0 || n < 30);
		assert_non_null(c = crdt_orset_copy(a));
		crdt_orset_free(roundtrip(a));
		if (!same_encoding(a, c))
			fail_msg("scenario %d: encodings differ after %d removes", sc, gone);
		crdt_orset_free(a);
		crdt_orset_free(b);
		crdt_orset_free(c);
	}
}

static void test_small_merge(void **state)
{
	int n = test_scenarios(10000);
	for (int i = 0; i < n; i++)
		run_small_scenario();
}

/* Removals through pieces, checked element by element against what the
 * sender holds: a receiver with the whole set gets every piece of the
 * sender's state after the sender removed a third and re-added some. */
static void test_small_merge_removals(void **state)
{
	struct crdt_rid ra, rb;
	struct crdt_orset *snd = crdt_orset_new(), *rcv;
	struct pieces ps = { .n = 0, .max = 300 };
	char k[48];
	size_t len;

	rid_of(1, &ra);
	rid_of(2, &rb);
	for (int i = 0; i < 3000; i++) {
		small_key(k, sizeof(k), i, &len);
		assert_int_equal(crdt_orset_add(snd, &ra, k, len), 0);
	}
	rcv = crdt_orset_copy(snd);
	/* the receiver adds one of them concurrently: that add must win */
	small_key(k, sizeof(k), 3, &len);
	assert_int_equal(crdt_orset_add(rcv, &rb, k, len), 0);
	for (int i = 0; i < 3000; i += 3) {
		small_key(k, sizeof(k), i, &len);
		assert_int_equal(crdt_orset_remove(snd, k, len), 1);
	}
	for (int i = 0; i < 3000; i += 7) {
		small_key(k, sizeof(k), i, &len);
		assert_int_equal(crdt_orset_add(snd, &ra, k, len), 0);
	}
	assert_int_equal(crdt_orset_split(snd, ps.max, piece_cb, &ps), 0);
	assert_true(ps.n > 30);
	for (int i = ps.n - 1; i >= 0; i--)
		merge_piece(rcv, ps.p[i], ps.len[i]);
	for (int i = 0; i < 3000; i++) {
		small_key(k, sizeof(k), i, &len);
		bool want = i % 3 != 0 || i % 7 == 0 || i == 3;
		if (crdt_orset_contains(rcv, k, len) != want)
			fail_msg("element %d: want %d", i, want);
	}
	pieces_done(&ps);
	crdt_orset_free(snd);
	crdt_orset_free(rcv);
}

/* ---- split of large states ---- */

static struct crdt_orset *big_state(int n, int nrep, struct crdt_rid *rids)
{
	struct crdt_orset *s = crdt_orset_new();
	char k[40];

	for (int i = 0; i < n; i++) {
		struct crdt_orset *o = NULL;
		int len = snprintf(k, sizeof(k), "%s%d", rng_below(&rng, 4) ? "k" : "long-element-", i);
		int r = (int)rng_below(&rng, nrep);
		if (rng_below(&rng, 8) == 0) {
			/* a concurrent add on another replica: two dots */
			o = crdt_orset_new();
			assert_int_equal(crdt_orset_add(o, &rids[(r + 1) % nrep], k, (size_t)len), 0);
		}
		assert_int_equal(crdt_orset_add(s, &rids[r], k, (size_t)len), 0);
		if (o) {
			assert_int_equal(crdt_orset_merge(s, o), 0);
			crdt_orset_free(o);
		}
		if (rng_below(&rng, 3) == 0)
			assert_int_equal(crdt_orset_remove(s, k, (size_t)len), 1);
	}
	return s;
}

/* A state with no element whose context covers dst's (a DEL's delta from a
 * replica dst is in sync with) empties dst at once: the result is exactly
 * that state (no element, the joined context), fingerprint included.  A dot
 * dst holds outside it, of another replica or past its interval of the
 * same one, keeps its element. */
static void test_covering_removal_clears(void **state)
{
	struct crdt_rid rids[3], other;
	struct crdt_orset *dst, *del, *ahead, *apart, *rt;

	for (int i = 0; i < 3; i++)
		rid_of(i + 1, &rids[i]);
	rid_of(9, &other);
	dst = big_state(20000, 3, rids);
	del = roundtrip(dst);
	assert_int_equal(crdt_orset_clear(del), 1); /* no element, dst's context */
	ahead = roundtrip(dst);
	assert_int_equal(crdt_orset_add(ahead, &rids[0], S("later")), 0);
	apart = roundtrip(dst);
	assert_int_equal(crdt_orset_add(apart, &other, S("elsewhere")), 0);
	(void)crdt_orset_fingerprint(dst); /* kept from here on */

	assert_int_equal(crdt_orset_merge(dst, del), 0);
	assert_int_equal(crdt_orset_card(dst), 0);
	assert_true(same_encoding(dst, del));
	assert_int_equal(crdt_orset_fingerprint(dst), crdt_orset_fingerprint(del));
	/* a dot past del's interval of the same replica */
	assert_int_equal(crdt_orset_merge(ahead, del), 0);
	assert_int_equal(crdt_orset_card(ahead), 1);
	assert_true(crdt_orset_contains(ahead, S("later")));
	rt = roundtrip(ahead);
	assert_int_equal(crdt_orset_fingerprint(ahead), crdt_orset_fingerprint(rt));
	crdt_orset_free(rt);
	/* a dot of a replica del never saw */
	assert_int_equal(crdt_orset_merge(apart, del), 0);
	assert_int_equal(crdt_orset_card(apart), 1);
	assert_true(crdt_orset_contains(apart, S("elsewhere")));
	crdt_orset_free(dst);
	crdt_orset_free(del);
	crdt_orset_free(ahead);
	crdt_orset_free(apart);
}

/* A set of @n elements added under three replica ids, with its dot index
 * (built by local adds), some elements with a second dot from @peer. */
static struct crdt_orset *indexed_state(int n, const struct crdt_rid *rids,
					const struct crdt_rid *peer)
{
	struct crdt_orset *s = crdt_orset_new(), *p = crdt_orset_new();
	char k[40];

	for (int i = 0; i < n; i++) {
		int len = snprintf(k, sizeof(k), "%s%d", i % 5 ? "k" : "long-element-name-", i);
		assert_int_equal(crdt_orset_add(s, &rids[i % 3], k, (size_t)len), 0);
		if (i % 97 == 0)
			assert_int_equal(crdt_orset_add(p, peer, k, (size_t)len), 0);
	}
	assert_int_equal(crdt_orset_merge(s, p), 0);
	crdt_orset_free(p);
	return s;
}

/* A delete's merge that keeps a few elements (added concurrently, or
 * re-added, or given a dot by a replica the delete never saw) moves the
 * rest out first (crdt_orset_detach_removed), with the dot index and
 * without it: the merge then ends exactly where the ordinary merge does,
 * fingerprint included, and the set goes on taking merges as that one.
 * More kept than the bound, or a state with an element, changes nothing. */
static void test_detach_removed(void **state)
{
	struct crdt_rid rids[3], peer, other, third;
	struct crdt_orset *s, *del, *after[2], *ref, *h, *d1, *d2;
	char k[40];
	const int n = 6000;

	for (int i = 0; i < 3; i++)
		rid_of(i + 1, &rids[i]);
	rid_of(7, &peer);
	rid_of(9, &other);
	s = indexed_state(n, rids, &peer);
	del = roundtrip(s);
	assert_int_equal(crdt_orset_clear(del), 1);
	/* concurrent with the delete: 10 new, 5 of a replica it never saw,
	 * one re-added, one given a second dot elsewhere, one removed */
	for (int i = 0; i < 10; i++) {
		int len = snprintf(k, sizeof(k), "later%d", i);
		assert_int_equal(crdt_orset_add(s, &rids[0], k, (size_t)len), 0);
	}
	for (int i = 0; i < 5; i++) {
		int len = snprintf(k, sizeof(k), "long-elsewhere-element-%d", i);
		assert_int_equal(crdt_orset_add(s, &other, k, (size_t)len), 0);
	}
	assert_int_equal(crdt_orset_add(s, &rids[1], S("k7")), 0);
	d1 = crdt_orset_new();
	rid_of(8, &third);
	assert_int_equal(crdt_orset_add(d1, &third, S("k9")), 0); /* a second dot */
	assert_int_equal(crdt_orset_add(d1, &third, S("later0")), 0); /* two outside */
	assert_int_equal(crdt_orset_merge(s, d1), 0);
	assert_int_equal(crdt_orset_remove(s, S("k11")), 1);
	after[0] = s;            /* its index kept by its adds and small merges */
	after[1] = roundtrip(s); /* decoded: no index */
	ref = roundtrip(s);
	assert_int_equal(crdt_orset_merge(ref, del), 0);
	assert_int_equal(crdt_orset_card(ref), 17);

	for (int x = 0; x < 2; x++) {
		struct crdt_orset *a = after[x], *before = roundtrip(a);
		size_t card = crdt_orset_card(a);

		(void)crdt_orset_fingerprint(a);
		/* more kept than the bound: nothing done */
		assert_int_equal(crdt_orset_detach_removed(a, del, 16, &h), 0);
		assert_null(h);
		assert_true(same_encoding(a, before));
		/* a state with an element: not a delete's */
		assert_int_equal(crdt_orset_detach_removed(a, d1, 1000, &h), 0);
		assert_null(h);
		assert_int_equal(crdt_orset_detach_removed(a, del, 17, &h), 1);
		assert_non_null(h);
		assert_int_equal(crdt_orset_card(h), card); /* the table as it was */
		assert_int_equal(crdt_orset_card(a), 17);
		crdt_orset_free(h);
		assert_int_equal(crdt_orset_merge(a, del), 0);
		assert_true(same_encoding(a, ref));
		assert_int_equal(crdt_orset_fingerprint(a), crdt_orset_fingerprint(ref));
		/* the set goes on: a removal made elsewhere, merged as a small
		 * delta (through the dot index where it has one) */
		struct crdt_orset *e = roundtrip(ref);
		d2 = crdt_orset_new();
		assert_int_equal(crdt_orset_remove_delta(e, S("k9"), d2), 1);
		assert_int_equal(crdt_orset_merge(a, d2), 0);
		assert_false(crdt_orset_contains(a, S("k9")));
		assert_true(same_encoding(a, e));
		crdt_orset_free(d2);
		crdt_orset_free(e);
		crdt_orset_free(before);
	}
	assert_true(same_encoding(after[0], after[1]));
	crdt_orset_free(after[0]);
	crdt_orset_free(after[1]);
	crdt_orset_free(ref);
	crdt_orset_free(del);
	crdt_orset_free(d1);
}

/* crdt_orset_clear_detach leaves the set as crdt_orset_clear does, and hands
 * over every element in a set of its own; an empty set hands none. */
static void test_clear_detach(void **state)
{
	struct crdt_rid rids[2];
	struct crdt_orset *src, *a, *b, *h, *rt;

	rid_of(1, &rids[0]);
	rid_of(2, &rids[1]);
	src = big_state(5000, 2, rids);
	a = roundtrip(src);
	b = roundtrip(src);
	(void)crdt_orset_fingerprint(b);
	assert_int_equal(crdt_orset_clear(a), 1);
	assert_int_equal(crdt_orset_clear_detach(b, &h), 1);
	assert_non_null(h);
	assert_int_equal(crdt_orset_card(h), crdt_orset_card(src));
	assert_true(same_encoding(a, b));
	rt = roundtrip(b);
	assert_int_equal(crdt_orset_fingerprint(b), crdt_orset_fingerprint(rt));
	crdt_orset_free(rt);
	/* the set goes on as a cleared one */
	assert_int_equal(crdt_orset_add(a, &rids[0], S("again")), 0);
	assert_int_equal(crdt_orset_add(b, &rids[0], S("again")), 0);
	assert_true(same_encoding(a, b));
	crdt_orset_free(h);
	assert_int_equal(crdt_orset_remove(b, S("again")), 1);
	assert_int_equal(crdt_orset_clear_detach(b, &h), 0);
	assert_null(h);
	crdt_orset_free(src);
	crdt_orset_free(a);
	crdt_orset_free(b);
}

static int contains_cb(const uint8_t *e, size_t len, void *ctx)
{
	return crdt_orset_contains(ctx, e, len) ? 0 : -1;
}

static void test_split_large(void **state)
{
	struct crdt_rid rids[4];
	for (int i = 0; i < 4; i++)
		rid_of(i + 1, &rids[i]);

	for (int iter = 0; iter < 12; iter++) {
		struct crdt_orset *s = big_state(400 + (int)rng_below(&rng, 800), 3, rids);
		struct crdt_orset *e = crdt_orset_new(), *old = crdt_orset_copy(s), *b;
		struct pieces *ps = calloc(1, sizeof(*ps));
		ps->max = 64 + rng_below(&rng, 237);
		assert_int_equal(crdt_orset_split(s, ps->max, piece_cb, ps), 0);
		assert_true(ps->n > 1);
		/* random order */
		for (int i = ps->n - 1; i > 0; i--) {
			int j = (int)rng_below(&rng, i + 1);
			uint8_t *tp = ps->p[i];
			size_t tl = ps->len[i];
			ps->p[i] = ps->p[j], ps->len[i] = ps->len[j];
			ps->p[j] = tp, ps->len[j] = tl;
		}
		for (int i = 0; i < ps->n; i++)
			merge_piece(e, ps->p[i], ps->len[i]);
		assert_true(crdt_orset_equal(e, s));
		pieces_done(ps);

		/* The trap: b holds the old state; s moves on (adds only) and b
		 * receives only some pieces of it.  b must lose nothing. */
		b = crdt_orset_copy(old);
		for (int i = 0; i < 200; i++) {
			char k[20];
			int len = snprintf(k, sizeof(k), "new%d", i);
			assert_int_equal(crdt_orset_add(s, &rids[rng_below(&rng, 4)], k, (size_t)len), 0);
		}
		assert_int_equal(crdt_orset_split(s, ps->max, piece_cb, ps), 0);
		for (int i = 0; i < ps->n; i++)
			if (rng_below(&rng, 2))
				merge_piece(b, ps->p[i], ps->len[i]);
		assert_int_equal(crdt_orset_foreach(old, contains_cb, b), 0);
		for (int i = 0; i < ps->n; i++)
			merge_piece(b, ps->p[i], ps->len[i]);
		assert_true(crdt_orset_equal(b, s));
		pieces_done(ps);
		free(ps);
		crdt_orset_free(b);
		crdt_orset_free(old);
		crdt_orset_free(e);
		crdt_orset_free(s);
	}
}

/* Tables past 2 MiB are mapped apart (huge pages): grow into one, merge
 * into one with a move mid-merge, and round-trip it. */
static void test_large_tables(void **state)
{
	enum { N = 60000 };
	struct crdt_rid ra, rb;
	struct crdt_orset *a = crdt_orset_new(), *b = crdt_orset_new(), *d;
	char k[16];

	rid_of(1, &ra);
	rid_of(2, &rb);
	for (int i = 0; i < N; i++) {
		snprintf(k, sizeof(k), "k%08d", i);
		assert_int_equal(crdt_orset_add(a, &ra, k, strlen(k)), 0);
		snprintf(k, sizeof(k), "k%08d", i + N / 2);
		assert_int_equal(crdt_orset_add(b, &rb, k, strlen(k)), 0);
	}
	/* b removes some of what it shares with a: those stay in a (a never
	 * saw b's dots go), and some of its own */
	for (int i = N / 2; i < N; i += 3) {
		snprintf(k, sizeof(k), "k%08d", i);
		assert_int_equal(crdt_orset_remove(b, k, strlen(k)), 1);
	}
	for (int i = N; i < N + N / 2; i += 7) {
		snprintf(k, sizeof(k), "k%08d", i);
		assert_int_equal(crdt_orset_remove(b, k, strlen(k)), 1);
	}
	assert_int_equal(crdt_orset_merge(a, b), 0);
	assert_int_equal(crdt_orset_card(a), N + N / 2 - (N / 2 + 6) / 7);
	d = roundtrip(a);
	crdt_orset_free(d);
	/* a merged into a copy of b: b's removes of its own adds win there */
	d = crdt_orset_copy(b);
	assert_non_null(d);
	assert_int_equal(crdt_orset_merge(d, a), 0);
	assert_true(crdt_orset_equal(a, d));
	for (int i = 0; i < N + N / 2; i++) {
		snprintf(k, sizeof(k), "k%08d", i);
		crdt_orset_remove(a, k, strlen(k));
	}
	assert_int_equal(crdt_orset_card(a), 0);
	crdt_orset_free(d);
	crdt_orset_free(a);
	crdt_orset_free(b);
}

/* Growth past a table made ready ahead (elemtab.c, prepare()), by each
 * path that grows an OR-Set's table: a peer taking one delta per add
 * (orset_merge_few) across the 77,374-element limit of the class whose
 * next is mapped (131,072 slots, 4 MiB), and a bulk merge that builds the grown table whole (merge_dense)
 * into a set past the start of that window.  Nothing lost or duplicated:
 * the counts, every element, and equal to the same join made the other
 * way round. */
static void test_growth_by_merges(void **state)
{
	enum { N = 77000, M = 20000, TOP = 78000 };
	struct crdt_rid ra, rb;
	struct crdt_orset *a = crdt_orset_new(), *b = crdt_orset_new(), *peer = crdt_orset_new(),
			  *d = crdt_orset_new();
	char k[16];

	(void)state;
	rid_of(1, &ra);
	rid_of(2, &rb);
	for (int i = 0; i < TOP; i++) {
		struct crdt_orset *delta = crdt_orset_new();
		int len = snprintf(k, sizeof(k), "k%08d", i);
		assert_int_equal(crdt_orset_add_delta(a, &ra, k, (size_t)len, delta), 0);
		assert_int_equal(crdt_orset_merge(peer, delta), 0);
		crdt_orset_free(delta);
		if (i < N) /* a as it was at N, grown by adds (a copy is not) */
			assert_int_equal(crdt_orset_add(d, &ra, k, (size_t)len), 0);
	}
	assert_int_equal(crdt_orset_card(peer), TOP);
	assert_true(crdt_orset_equal(a, peer));
	for (int i = 0; i < M; i++)
		assert_int_equal(crdt_orset_add(b, &rb, k, (size_t)snprintf(k, sizeof(k), "n%08d", i)), 0);
	assert_int_equal(crdt_orset_merge(d, b), 0);
	assert_int_equal(crdt_orset_card(d), N + M);
	for (int i = 0; i < N; i++)
		assert_true(crdt_orset_contains(d, k, (size_t)snprintf(k, sizeof(k), "k%08d", i)));
	for (int i = 0; i < M; i++)
		assert_true(crdt_orset_contains(d, k, (size_t)snprintf(k, sizeof(k), "n%08d", i)));
	crdt_orset_free(peer);
	peer = roundtrip(d);
	crdt_orset_free(peer);
	/* b ⊔ a(N) built the other way round */
	for (int i = TOP - 1; i >= N; i--)
		assert_int_equal(crdt_orset_remove(a, k, (size_t)snprintf(k, sizeof(k), "k%08d", i)), 1);
	assert_int_equal(crdt_orset_merge(b, a), 0);
	for (int i = N; i < TOP; i++) /* a's removes: dots in a's context, gone from d */
		assert_int_equal(crdt_orset_remove(d, k, (size_t)snprintf(k, sizeof(k), "k%08d", i)), 0);
	assert_int_equal(crdt_orset_merge(d, a), 0);
	assert_true(crdt_orset_equal(b, d));
	crdt_orset_free(d);
	crdt_orset_free(a);
	crdt_orset_free(b);
}

/* A scan (SSCAN's crdt_orset_scan) from cursor 0 to 0 with steps of random
 * COUNT, while adds, removes and merges between the steps grow and shrink
 * the table: every element held throughout is visited exactly once, and
 * nothing is visited that was never held.  Elements "u" are held
 * throughout; "v" come and go. */
struct scan_seen {
	uint8_t *u, *v; /* visits per element */
	int nu, nv;
	size_t step;    /* visits in this step */
};

static int scan_visit(const uint8_t *e, size_t len, void *ctx)
{
	struct scan_seen *c = ctx;
	char k[16];
	int i;

	assert_true(len < sizeof(k));
	memcpy(k, e, len);
	k[len] = 0;
	assert_true(k[0] == 'u' || k[0] == 'v');
	i = atoi(k + 1);
	if (k[0] == 'u') {
		assert_true(i >= 0 && i < c->nu);
		c->u[i]++;
	} else {
		assert_true(i >= 0 && i < c->nv);
		c->v[i]++;
	}
	c->step++;
	return 0;
}

static void test_scan(void **state)
{
	enum { NU = 3000, NV = 40000 };
	struct crdt_rid ra, rb;
	struct scan_seen c = { .nu = NU, .nv = NV };
	int scenarios = test_scenarios(6);
	char k[16];

	rng.s = test_seed("orset scan");
	rid_of(1, &ra);
	rid_of(2, &rb);
	c.u = calloc(NU, 1);
	c.v = calloc(NV, 1);
	assert_non_null(c.u);
	assert_non_null(c.v);
	for (int sc = 0; sc < scenarios; sc++) {
		struct crdt_orset *s = crdt_orset_new(), *o = crdt_orset_new();
		uint64_t cur = 0, next;
		size_t steps = 0;
		memset(c.u, 0, NU);
		memset(c.v, 0, NV);
		for (int i = 0; i < NU; i++) {
			snprintf(k, sizeof(k), "u%d", i);
			assert_int_equal(crdt_orset_add(s, &ra, k, strlen(k)), 0);
		}
		do {
			size_t count = 1 + rng_below(&rng, 40);
			c.step = 0;
			assert_int_equal(crdt_orset_scan(s, cur, count, scan_visit, &c, &next), 0);
			/* a step visits about count: more only for equal hashes */
			assert_true(c.step <= count + 4);
			assert_true(next == 0 || next > cur || cur == 0);
			cur = next;
			steps++;
			switch (rng_below(&rng, 8)) {
			case 0: /* many adds: the table grows */
				for (int n = (int)rng_below(&rng, 4000); n-- > 0;) {
					snprintf(k, sizeof(k), "v%d", (int)rng_below(&rng, NV));
					assert_true(crdt_orset_add(s, &ra, k, strlen(k)) >= 0);
				}
				break;
			case 1: /* many removes */
				for (int n = (int)rng_below(&rng, 4000); n-- > 0;) {
					snprintf(k, sizeof(k), "v%d", (int)rng_below(&rng, NV));
					assert_true(crdt_orset_remove(s, k, strlen(k)) >= 0);
				}
				break;
			case 2: /* another replica's adds, merged in bulk */
				for (int n = (int)rng_below(&rng, 8000); n-- > 0;) {
					snprintf(k, sizeof(k), "v%d", (int)rng_below(&rng, NV));
					assert_true(crdt_orset_add(o, &rb, k, strlen(k)) >= 0);
				}
				assert_int_equal(crdt_orset_merge(s, o), 0);
				break;
			default:
				break;
			}
			assert_true(steps < 1000000);
		} while (cur != 0);
		for (int i = 0; i < NU; i++)
			assert_int_equal(c.u[i], 1);
		for (int i = 0; i < NV; i++)
			assert_true(c.v[i] <= 1);
		/* a cursor past every hash ends the scan at once */
		c.step = 0;
		assert_int_equal(crdt_orset_scan(s, (uint64_t)1 << 32, 10, scan_visit, &c, &next), 0);
		assert_int_equal(c.step, 0);
		assert_int_equal(next, 0);
		crdt_orset_free(s);
		crdt_orset_free(o);
	}
	free(c.u);
	free(c.v);
}

/* A dot pool past 2 MiB (mapped apart, in huge pages where there are
 * some): two dots on each of 70,000 elements, grown into, copied,
 * encoded, then mostly removed so that it is compacted. */
static void test_large_pool(void **state)
{
	enum { N = 70000 };
	struct crdt_rid ra, rb;
	struct crdt_orset *a = crdt_orset_new(), *b = crdt_orset_new(), *d;
	char k[16];

	(void)state;
	rid_of(1, &ra);
	rid_of(2, &rb);
	for (int i = 0; i < N; i++) {
		snprintf(k, sizeof(k), "p%08d", i);
		assert_int_equal(crdt_orset_add(a, &ra, k, strlen(k)), 0);
		assert_int_equal(crdt_orset_add(b, &rb, k, strlen(k)), 0);
	}
	assert_int_equal(crdt_orset_merge(a, b), 0);
	assert_int_equal(crdt_orset_card(a), N);
	d = roundtrip(a);
	crdt_orset_free(d);
	assert_non_null(d = crdt_orset_copy(a));
	for (int i = 0; i < N; i++) {
		if (i % 4 == 0)
			continue;
		snprintf(k, sizeof(k), "p%08d", i);
		assert_int_equal(crdt_orset_remove(a, k, strlen(k)), 1);
	}
	assert_int_equal(crdt_orset_card(a), N / 4);
	crdt_orset_free(roundtrip(a));
	/* the removes reach the copy, which keeps the rest with both dots */
	assert_int_equal(crdt_orset_merge(d, a), 0);
	assert_true(crdt_orset_equal(a, d));
	snprintf(k, sizeof(k), "p%08d", 4);
	assert_true(crdt_orset_contains(d, k, strlen(k)));
	crdt_orset_free(d);
	crdt_orset_free(a);
	crdt_orset_free(b);
}

static void test_split_limits(void **state)
{
	struct crdt_rid ra;
	struct crdt_orset *s = crdt_orset_new();
	struct pieces ps = { .max = 30 };
	uint8_t big[100] = { 0 };

	rid_of(1, &ra);
	/* empty state: one empty piece */
	assert_int_equal(crdt_orset_split(s, 30, piece_cb, &ps), 0);
	assert_int_equal(ps.n, 1);
	pieces_done(&ps);
	assert_int_equal(crdt_orset_add(s, &ra, big, sizeof(big)), 0);
	/* an element too large for any piece is left out, counted */
	assert_int_equal(crdt_orset_split(s, 30, piece_cb, &ps), 1);
	pieces_done(&ps);
	/* among others, from two replicas: the rest still goes, and no piece
	 * tells a replica that holds it that it was removed */
	{
		struct crdt_rid rb;
		struct crdt_orset *holder = crdt_orset_copy(s), *fresh = crdt_orset_new();
		char m[8];
		rid_of(2, &rb);
		for (int i = 0; i < 20; i++) {
			snprintf(m, sizeof(m), "m%02d", i);
			assert_int_equal(crdt_orset_add(s, i % 2 ? &ra : &rb, m, strlen(m)), 0);
		}
		ps.max = 60;
		assert_int_equal(crdt_orset_split(s, 60, piece_cb, &ps), 1);
		for (int i = 0; i < ps.n; i++) {
			merge_piece(holder, ps.p[i], ps.len[i]);
			merge_piece(fresh, ps.p[i], ps.len[i]);
		}
		assert_int_equal(crdt_orset_card(fresh), 20);
		assert_false(crdt_orset_contains(fresh, big, sizeof(big)));
		assert_int_equal(crdt_orset_card(holder), 21);
		assert_true(crdt_orset_equal(holder, s));
		pieces_done(&ps);
		crdt_orset_free(holder);
		crdt_orset_free(fresh);
		for (int i = 0; i < 20; i++) {
			snprintf(m, sizeof(m), "m%02d", i);
			assert_int_equal(crdt_orset_remove(s, m, strlen(m)), 1);
		}
		ps.max = 30;
	}
	/* after removing it only the context remains, which fits */
	assert_int_equal(crdt_orset_remove(s, big, sizeof(big)), 1);
	assert_int_equal(crdt_orset_split(s, 30, piece_cb, &ps), 0);
	assert_true(ps.n >= 1);
	pieces_done(&ps);
	crdt_orset_free(s);
}

/* ---- codec ---- */

static void test_codec_corrupt(void **state)
{
	struct crdt_rid rids[3];
	struct crdt_buf b;
	struct crdt_orset *s, *d;
	int flips = 0, accepted = 0;

	for (int i = 0; i < 3; i++)
		rid_of(i + 1, &rids[i]);
	s = big_state(40, 3, rids);
	assert_int_equal(enc(s, &b), 0);
	for (size_t n = 0; n < b.len; n++) {
		d = NULL;
		assert_true(crdt_orset_decode(b.data, n, &d) < 0);
		assert_null(d);
	}
	uint8_t *t = malloc(b.len + 1);
	memcpy(t, b.data, b.len);
	t[b.len] = 0;
	assert_int_equal(crdt_orset_decode(t, b.len + 1, &d), CRDT_EBADMSG);
	for (flips = 0; flips < 5000; flips++) {
		memcpy(t, b.data, b.len);
		int nf = 1 + (int)rng_below(&rng, 3);
		for (int f = 0; f < nf; f++)
			t[rng_below(&rng, b.len)] ^= (uint8_t)(1u << rng_below(&rng, 8));
		if (crdt_orset_decode(t, b.len, &d) == 0) {
			struct crdt_orset *d2 = roundtrip(d);
			struct crdt_buf again, twice;
			/* canonical: whatever is accepted (a flip may reorder
			 * elements, which the decoder takes) encodes to the one
			 * encoding of its state, which encodes back to itself */
			assert_int_equal(enc(d, &again), 0);
			assert_int_equal(enc(d2, &twice), 0);
			assert_int_equal(again.len, twice.len);
			assert_memory_equal(again.data, twice.data, again.len);
			crdt_buf_done(&again);
			crdt_buf_done(&twice);
			accepted++;
			crdt_orset_free(d2);
			crdt_orset_free(d);
		}
	}
	free(t);
	crdt_buf_done(&b);
	crdt_orset_free(s);
}

static void expect_bad(const uint8_t *p, size_t n)
{
	struct crdt_orset *d = NULL;
	assert_true(crdt_orset_decode(p, n, &d) < 0);
	assert_null(d);
}

static void test_codec_crafted(void **state)
{
#define R1 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
#define R2 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
	/* one replica, context [1,3], elements "a"{(0,1)} "b"{(0,3)}: each dot
	 * is a head 2 * replica + more, then the zigzagged difference from the
	 * replica's previous counter (1 - 0 -> 2, 3 - 1 -> 4) */
	const uint8_t good[] = { 4, 1, 1, R1, 1, 0, 2, 2, 1, 'a', 0, 2, 1, 'b', 0, 4 };
	/* the same state, "b" first: 3 - 0 -> 6, 1 - 3 -> 3 */
	const uint8_t swapped[] = { 4, 1, 1, R1, 1, 0, 2, 2, 1, 'b', 0, 6, 1, 'a', 0, 3 };
	struct crdt_orset *d, *d2;
	struct crdt_buf b, b2;

	/* Both orders decode (older versions wrote key order) to one state,
	 * which encodes one way: in elemtab order, one of the two. */
	assert_int_equal(crdt_orset_decode(good, sizeof(good), &d), 0);
	assert_int_equal(crdt_orset_decode(swapped, sizeof(swapped), &d2), 0);
	assert_int_equal(crdt_orset_card(d), 2);
	assert_true(crdt_orset_equal(d, d2));
	assert_int_equal(enc(d, &b), 0);
	assert_int_equal(enc(d2, &b2), 0);
	assert_int_equal(b.len, sizeof(good));
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b.data, b2.data, b.len);
	assert_true(memcmp(b.data, good, b.len) == 0 || memcmp(b.data, swapped, b.len) == 0);
	crdt_buf_done(&b);
	crdt_buf_done(&b2);
	crdt_orset_free(d);
	crdt_orset_free(d2);
	{ /* two replicas, contexts [1,5] and [1,3]; "a"{(0,5),(1,2)} "b"{(0,4)}
	   * "c"{(1,3)}: a negative difference (4 - 5 -> 1) and counters
	   * tracked per replica across elements (3 - 2 -> 2) */
		const uint8_t p[] = { 4, 1, 2, R1, R2, 1, 0, 4, 1, 0, 2, 3, 1, 'a', 1, 10, 2,
				      4, 1, 'b', 0, 1, 1, 'c', 2, 2 };
		struct crdt_rid r2;
		memset(&r2, 0, sizeof(r2));
		r2.b[0] = 2;
		assert_int_equal(crdt_orset_decode(p, sizeof(p), &d), 0);
		assert_int_equal(crdt_orset_card(d), 3);
		assert_int_equal(enc(d, &b), 0);
		assert_int_equal(b.len, sizeof(p)); /* any order: the same differences' sizes */
		crdt_buf_done(&b);
		d2 = roundtrip(d);
		crdt_orset_free(d2);
		/* the second replica adds with counter 4: "c" gets dot (1,4),
		 * which encodes and decodes with the others */
		assert_int_equal(crdt_orset_add(d, &r2, "c", 1), 0);
		d2 = roundtrip(d);
		crdt_orset_free(d2);
		crdt_orset_free(d);
	}
	{ /* duplicate element, next to each other */
		const uint8_t p[] = { 4, 1, 1, R1, 1, 0, 2, 2, 1, 'a', 0, 2, 1, 'a', 0, 4 };
		expect_bad(p, sizeof(p));
	}
	{ /* duplicate element after the order broke ("b", "a", "b" and
	   * "a", "b", "a": one of the two breaks it) */
		const uint8_t p[] = { 4, 1, 1, R1, 1, 0, 2, 3, 1, 'b', 0, 2, 1, 'a', 0, 2, 1, 'b', 0, 2 };
		const uint8_t q[] = { 4, 1, 1, R1, 1, 0, 2, 3, 1, 'a', 0, 2, 1, 'b', 0, 2, 1, 'a', 0, 2 };
		expect_bad(p, sizeof(p));
		expect_bad(q, sizeof(q));
	}
	{ /* dot not covered by the context: 1 + 3 = 4 */
		const uint8_t p[] = { 4, 1, 1, R1, 1, 0, 2, 2, 1, 'a', 0, 2, 1, 'b', 0, 6 };
		expect_bad(p, sizeof(p));
	}
	{ /* zero counter */
		const uint8_t p[] = { 4, 1, 1, R1, 1, 0, 2, 1, 1, 'a', 0, 0 };
		expect_bad(p, sizeof(p));
	}
	{ /* a difference back to zero: 1 - 1 */
		const uint8_t p[] = { 4, 1, 1, R1, 1, 0, 2, 2, 1, 'a', 0, 2, 1, 'b', 0, 1 };
		expect_bad(p, sizeof(p));
	}
	{ /* a difference wrapping past 2^64 to a counter the context lacks */
		const uint8_t p[] = { 4, 1, 1, R1, 1, 0, 2, 1, 1, 'a', 0, 3 };
		expect_bad(p, sizeof(p));
	}
	{ /* replica index out of range */
		const uint8_t p[] = { 4, 1, 1, R1, 1, 0, 2, 1, 1, 'a', 2, 2 };
		expect_bad(p, sizeof(p));
	}
	{ /* duplicate dot: (0,1) then a difference of 0 */
		const uint8_t p[] = { 4, 1, 1, R1, 1, 0, 2, 1, 1, 'a', 1, 2, 0, 0 };
		expect_bad(p, sizeof(p));
	}
	{ /* dots of one replica out of order: (0,3) then (0,1) */
		const uint8_t p[] = { 4, 1, 1, R1, 1, 0, 2, 1, 1, 'a', 1, 6, 0, 3 };
		expect_bad(p, sizeof(p));
	}
	{ /* dots out of replica order, then the same dots in order */
		const uint8_t p[] = { 4, 1, 2, R1, R2, 1, 0, 0, 1, 0, 0, 1, 1, 'a', 3, 2, 0, 2 };
		const uint8_t q[] = { 4, 1, 2, R1, R2, 1, 0, 0, 1, 0, 0, 1, 1, 'a', 1, 2, 2, 2 };
		expect_bad(p, sizeof(p));
		assert_int_equal(crdt_orset_decode(q, sizeof(q), &d), 0);
		crdt_orset_free(d);
	}
	{ /* "another dot follows" on the last dot */
		const uint8_t p[] = { 4, 1, 1, R1, 1, 0, 2, 1, 1, 'a', 1, 2 };
		expect_bad(p, sizeof(p));
	}
	{ /* overlong counter difference (2 as 82 00) */
		const uint8_t p[] = { 4, 1, 1, R1, 1, 0, 2, 1, 1, 'a', 0, 0x82, 0 };
		expect_bad(p, sizeof(p));
	}
	{ /* element count beyond what the bytes left can hold */
		const uint8_t p[] = { 4, 1, 1, R1, 1, 0, 2, 2, 1, 'a', 0, 2 };
		expect_bad(p, sizeof(p));
	}
	{ /* an element with bytes but no dot */
		const uint8_t p[] = { 4, 1, 1, R1, 1, 0, 2, 1, 2, 'a', 'b' };
		expect_bad(p, sizeof(p));
	}
	{ /* trailing byte */
		const uint8_t p[] = { 4, 1, 1, R1, 1, 0, 2, 1, 1, 'a', 0, 2, 0 };
		expect_bad(p, sizeof(p));
	}
	{ /* adjacent intervals [1,1] [2,2] */
		const uint8_t p[] = { 4, 1, 1, R1, 2, 0, 0, 0, 0, 0 };
		expect_bad(p, sizeof(p));
	}
	{ /* replica without intervals */
		const uint8_t p[] = { 4, 1, 1, R1, 0, 0 };
		expect_bad(p, sizeof(p));
	}
	{ /* unsorted replica table */
		const uint8_t p[] = { 4, 1, 2, R2, R1, 1, 0, 0, 1, 0, 0, 0 };
		expect_bad(p, sizeof(p));
	}
	{ /* gaps are fine: [1,1] [3,3] */
		const uint8_t p[] = { 4, 1, 1, R1, 2, 0, 0, 1, 0, 1, 1, 'a', 0, 6 };
		struct crdt_vv vv;
		assert_int_equal(crdt_orset_decode(p, sizeof(p), &d), 0);
		assert_int_equal(crdt_orset_context_vv(d, &vv), 0);
		assert_int_equal(vv.len, 1);
		assert_int_equal(vv.e[0].n, 1);
		crdt_vv_done(&vv);
		crdt_orset_free(d);
	}
	{ /* but a dot in the gap is not covered: [1,1] [3,3], dot 2 (the
	   * decoder's one-interval shortcut does not apply, the search refuses) */
		const uint8_t p[] = { 4, 1, 1, R1, 2, 0, 0, 1, 0, 1, 1, 'a', 0, 4 };
		expect_bad(p, sizeof(p));
	}
	{ /* wrong type and version */
		const uint8_t p[] = { 3, 1, 0 }, q[] = { 4, 2, 0, 0 };
		assert_int_equal(crdt_orset_decode(p, sizeof(p), &d), CRDT_EPROTO);
		assert_int_equal(crdt_orset_decode(q, sizeof(q), &d), CRDT_EPROTO);
	}
}

/* The fingerprint a set keeps up to date through local adds, removes and
 * clears (and computes again after a merge) is the one computed afresh:
 * a copy's, whose cache starts empty, after every step of a seeded run of
 * adds by three replicas, re-adds, removes, merges and a clear. */
static void test_fingerprint_kept(void **state)
{
	struct crdt_orset *s = crdt_orset_new(), *o = crdt_orset_new();
	struct crdt_rid r[3];
	char e[16];

	(void)state;
	for (int i = 0; i < 3; i++)
		rid_of(i, &r[i]);
	for (int step = 0; step < 3000; step++) {
		struct crdt_orset *c;
		int n = snprintf(e, sizeof(e), "e%u", (unsigned)rng_below(&rng, 300));
		uint32_t op = (uint32_t)rng_below(&rng, 100);

		if (op < 60)
			assert_int_equal(crdt_orset_add(s, &r[rng_below(&rng, 3)], e, (size_t)n), 0);
		else if (op < 90)
			(void)crdt_orset_remove(s, e, (size_t)n);
		else if (op < 98) {
			assert_int_equal(crdt_orset_add(o, &r[2], e, (size_t)n), 0);
			assert_int_equal(crdt_orset_merge(s, o), 0);
		} else
			(void)crdt_orset_clear(s);
		if (step % 7 == 0 || op >= 90) {
			assert_non_null(c = crdt_orset_copy(s));
			assert_true(crdt_orset_fingerprint(s) == crdt_orset_fingerprint(c));
			crdt_orset_free(c);
		}
	}
	crdt_orset_free(s);
	crdt_orset_free(o);
}

/* The same through bulk merges (merge_bulk: a new table, or a few elements
 * in place): two replicas write concurrently (adds by two replicas each,
 * re-adds, removes), then one merges the other, in turn, with the
 * fingerprint cached on both; each kept fingerprint is the one computed
 * afresh. */
static void test_fingerprint_kept_bulk_merge(void **state)
{
	struct crdt_rid r[4];
	char e[16];

	(void)state;
	for (int i = 0; i < 4; i++)
		rid_of(i, &r[i]);
	for (int round = 0; round < 40; round++) {
		struct crdt_orset *a = crdt_orset_new(), *b = crdt_orset_new(), *c;
		int universe = 50 + (int)rng_below(&rng, 3000);
		for (int step = 0; step < 6; step++) {
			struct crdt_orset *x = step % 2 ? a : b;
			/* both write between merges: concurrent adds leave
			 * elements with several dots */
			for (int side = 0; side < 2; side++) {
				struct crdt_orset *w = side ? a : b;
				int ops = (int)rng_below(&rng, universe);
				for (int k = 0; k < ops; k++) {
					int n = snprintf(e, sizeof(e), "e%u",
							 (unsigned)rng_below(&rng, universe));
					if (rng_below(&rng, 4))
						assert_int_equal(crdt_orset_add(w, &r[side * 2 +
										     rng_below(&rng, 2)],
										e, (size_t)n), 0);
					else
						(void)crdt_orset_remove(w, e, (size_t)n);
				}
			}
			(void)crdt_orset_fingerprint(a);
			(void)crdt_orset_fingerprint(b);
			assert_int_equal(crdt_orset_merge(x == a ? b : a, x), 0); /* x's news to the other */
			for (int k = 0; k < 2; k++) {
				struct crdt_orset *y = k ? a : b;
				assert_non_null(c = crdt_orset_copy(y));
				assert_true(crdt_orset_fingerprint(y) == crdt_orset_fingerprint(c));
				crdt_orset_free(c);
			}
		}
		crdt_orset_free(a);
		crdt_orset_free(b);
	}
}

/* The same through merges into a large set, which join it element by
 * element (merge_small) and keep its cached fingerprint dot by dot: pieces
 * of a diverged replica's split (its removes drop dots of elements the
 * piece lacks), deltas of adds and removes by replicas the set has never
 * seen, and concurrent local adds (elements with several dots). */
struct fp_pieces {
	struct crdt_orset *dst;
};

static void fp_merge(struct crdt_orset *dst, const struct crdt_orset *p)
{
	struct crdt_orset *c;

	(void)crdt_orset_fingerprint(dst); /* the cache is up to date */
	assert_int_equal(crdt_orset_merge(dst, p), 0);
	assert_non_null(c = crdt_orset_copy(dst));
	assert_true(crdt_orset_fingerprint(dst) == crdt_orset_fingerprint(c));
	crdt_orset_free(c);
}

static int fp_piece_cb(const uint8_t *piece, size_t len, void *ctx)
{
	struct fp_pieces *fp = ctx;
	struct crdt_orset *p;

	assert_int_equal(crdt_orset_decode(piece, len, &p), 0);
	fp_merge(fp->dst, p);
	crdt_orset_free(p);
	return 0;
}

static void test_fingerprint_kept_small_merge(void **state)
{
	struct crdt_orset *s = crdt_orset_new(), *t, *c;
	struct crdt_rid r[6];
	struct fp_pieces fp = { .dst = s };
	char e[16];

	(void)state;
	for (int i = 0; i < 6; i++)
		rid_of(i, &r[i]);
	for (int i = 0; i < 3000; i++) {
		int n = snprintf(e, sizeof(e), "e%u", (unsigned)i);
		assert_int_equal(crdt_orset_add(s, &r[i % 2], e, (size_t)n), 0);
	}
	assert_non_null(t = crdt_orset_copy(s));
	for (int step = 0; step < 600; step++) {
		struct crdt_orset *d = crdt_orset_new();
		int n = snprintf(e, sizeof(e), "e%u", (unsigned)rng_below(&rng, 4000));
		uint32_t op = (uint32_t)rng_below(&rng, 100);
		const struct crdt_rid *who = &r[2 + rng_below(&rng, 4)];

		assert_non_null(d);
		if (op < 40)
			assert_true(crdt_orset_add_delta(t, who, e, (size_t)n, d) >= 0);
		else if (op < 70)
			assert_true(crdt_orset_remove_delta(t, e, (size_t)n, d) >= 0);
		else
			assert_int_equal(crdt_orset_add(s, &r[step % 2], e, (size_t)n), 0);
		if (op < 70 && rng_below(&rng, 2))
			fp_merge(s, d);
		crdt_orset_free(d);
	}
	/* t has removed and re-added some of s's elements: its pieces */
	assert_int_equal(crdt_orset_split(t, 300, fp_piece_cb, &fp), 0);
	assert_int_equal(crdt_orset_merge(t, s), 0);
	assert_true(crdt_orset_equal(s, t));
	assert_non_null(c = crdt_orset_copy(s));
	assert_true(crdt_orset_fingerprint(s) == crdt_orset_fingerprint(c));
	crdt_orset_free(c);
	crdt_orset_free(t);
	crdt_orset_free(s);
}

/* A set filled piece by piece from a sender that announced its size
 * (crdt_orset_reserve_for, a catch-up's) sizes its table at the first piece
 * and never grows it again; a count of more than 32 times what it holds
 * and receives, plus 65,536, is not believed (the table grows as usual);
 * a table with room is left alone. */
static void test_reserve_for(void **state)
{
	struct crdt_orset *src = crdt_orset_new(), *dst = crdt_orset_new(), *p;
	struct pieces ps = { .n = 0, .max = 1330 };
	struct crdt_rid ra;
	char e[16];
	size_t room = 0, r;

	(void)state;
	rid_of(1, &ra);
	for (int i = 0; i < 20000; i++)
		assert_int_equal(crdt_orset_add(src, &ra, e, (size_t)snprintf(e, sizeof(e), "e%07d", i)), 0);
	assert_int_equal(crdt_orset_split(src, ps.max, piece_cb, &ps), 0);
	assert_true(ps.n > 100);
	assert_int_equal(crdt_orset_reserve_for(dst, 0, 0), 0);
	assert_int_equal(crdt_orset_room(dst), 0);
	for (int i = 0; i < ps.n; i++) {
		assert_int_equal(crdt_orset_decode(ps.p[i], ps.len[i], &p), 0);
		assert_int_equal(crdt_orset_reserve_for(dst, crdt_orset_card(p), 20000), 0);
		r = crdt_orset_room(dst);
		if (i == 0)
			assert_true(r >= 20000);
		else
			assert_int_equal(r, room); /* no growth after the first */
		room = r;
		assert_int_equal(crdt_orset_merge(dst, p), 0);
		crdt_orset_free(p);
	}
	assert_true(crdt_orset_equal(src, dst));
	/* the table has room: nothing changes, whatever the count says */
	assert_int_equal(crdt_orset_reserve_for(dst, 10, UINT64_MAX), 0);
	assert_int_equal(crdt_orset_room(dst), room);
	/* a count that lies is not believed; one at the bound is */
	crdt_orset_free(dst);
	dst = crdt_orset_new();
	assert_int_equal(crdt_orset_reserve_for(dst, 100, 100 * 32 + 65537), 0);
	assert_true(crdt_orset_room(dst) < 200);
	assert_int_equal(crdt_orset_reserve_for(dst, 100, 100 * 32 + 65536), 0);
	r = crdt_orset_room(dst);
	assert_true(r >= 100 * 32 + 65536);
	assert_true(r < 2 * (100 * 32 + 65536));
	/* a count below what comes: the ordinary growth */
	crdt_orset_free(dst);
	dst = crdt_orset_new();
	assert_int_equal(crdt_orset_reserve_for(dst, 100, 50), 0);
	assert_true(crdt_orset_room(dst) < 200);
	crdt_orset_free(dst);
	crdt_orset_free(src);
	pieces_done(&ps);
}

int main(void)
{
	rng.s = test_seed("orset");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_add_wins),
		cmocka_unit_test(test_growth_by_merges),
		cmocka_unit_test(test_fingerprint_kept),
		cmocka_unit_test(test_fingerprint_kept_small_merge),
		cmocka_unit_test(test_fingerprint_kept_bulk_merge),
		cmocka_unit_test(test_removed_leave_only_context),
		cmocka_unit_test(test_binary_safe),
		cmocka_unit_test(test_decode_every_length),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_order_cache),
		cmocka_unit_test(test_order_bulk_merge),
		cmocka_unit_test(test_order_removes),
		cmocka_unit_test(test_small_merge),
		cmocka_unit_test(test_delta_mutators),
		cmocka_unit_test(test_delta_joined_in_place),
		cmocka_unit_test(test_add_at),
		cmocka_unit_test(test_merge_few_matches_general),
		cmocka_unit_test(test_small_merge_removals),
		cmocka_unit_test(test_split_large),
		cmocka_unit_test(test_covering_removal_clears),
		cmocka_unit_test(test_clear_detach),
		cmocka_unit_test(test_detach_removed),
		cmocka_unit_test(test_split_limits),
		cmocka_unit_test(test_large_tables),
		cmocka_unit_test(test_large_pool),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_codec_corrupt),
		cmocka_unit_test(test_codec_crafted),
		cmocka_unit_test(test_reserve_for),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
