/* libcrdt micro-benchmarks: OR-Set operations, merge, codec and memory, the
 * merge of one gossip-sized split piece into sets of growing size, and
 * G-Counter merges.  Prints markdown tables of medians over several runs.
 *
 * G-Counter merges, and merge / encode / decode of every type side by side.
 *
 *   bench_crdt [runs] [largest set for the piece merge]   (default 5, 1000000)
 *   bench_crdt scale [runs] [largest n]   ns/element from 1k to 1M only, tab-separated
 *   bench_crdt op merge|encmerged|encremoved|encode|decode [n] [reps]   one OR-Set operation
 *       repeated on the scale table's sets, for callgrind (--toggle-collect=
 *       crdt_orset_merge / _encode / _decode: the set-up is made by adds, not
 *       copies, so only the operation itself runs inside those functions)
 * The ns/element table stops at the largest set for the piece merge.
 */
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "crdt/gcounter.h"
#include "crdt/gset.h"
#include "crdt/hlc.h"
#include "crdt/lwwreg.h"
#include "crdt/orset.h"
#include "crdt/pncounter.h"

/* Large element tables are mapped by libcrdt itself (huge pages), out of
 * malloc's sight: count those mappings here so the memory figure is the
 * heap in use, malloc's own mappings and the library's, together. */
static size_t lib_mapped;

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	if (p != MAP_FAILED)
		lib_mapped += len;
	return p;
}

int munmap(void *addr, size_t len)
{
	int r = (int)syscall(SYS_munmap, addr, len);
	if (r == 0)
		lib_mapped -= len;
	return r;
}

static size_t mem_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd + lib_mapped;
}

/* The thread's CPU time (page faults included), not the wall clock: on
 * this shared 2-core machine a busy neighbour otherwise stretches every
 * figure by the share of the CPU it takes (at load 8, threefold). */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), dcmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_crdt: %s failed\n", what);
	exit(1);
}

/* "key" and 8 decimal digits: 11 bytes (i < 10^8) */
static void key(char *k, int i)
{
	unsigned v = (unsigned)i % 100000000u;

	memcpy(k, "key", 3);
	for (int d = 10; d >= 3; d--, v /= 10)
		k[d] = (char)('0' + v % 10);
	k[11] = 0;
}

static void rid(struct crdt_rid *r, int i)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->b, &i, sizeof(i));
	r->b[15] = 0x5a;
}

enum { ADD, REMOVE, MERGE_MS, ENC, DEC, BYTES, BYTES_EMPTY, MEM, NMETRIC };

static void run_orset(int n, double *m)
{
	struct crdt_rid ra, rb;
	char k[12];
	double t;
	size_t before;

	rid(&ra, 1);
	rid(&rb, 2);

	/* add, and memory: the heap grows by exactly what the set holds */
	before = mem_in_use();
	struct crdt_orset *s = crdt_orset_new();
	if (!s)
		die("new");
	t = now();
	for (int i = 0; i < n; i++) {
		key(k, i);
		if (crdt_orset_add(s, &ra, k, 11) < 0)
			die("add");
	}
	m[ADD] = n / (now() - t);
	m[MEM] = (double)(mem_in_use() - before) / n;

	/* encode, decode */
	struct crdt_buf b;
	struct crdt_orset *d = NULL;
	crdt_buf_init(&b, 0);
	t = now();
	if (crdt_orset_encode(s, &b) < 0)
		die("encode");
	m[ENC] = n / (now() - t);
	m[BYTES] = (double)b.len / n;
	t = now();
	if (crdt_orset_decode(b.data, b.len, &d) < 0)
		die("decode");
	m[DEC] = n / (now() - t);
	crdt_orset_free(d);

	/* remove every element */
	t = now();
	for (int i = 0; i < n; i++) {
		key(k, i);
		if (crdt_orset_remove(s, k, 11) != 1)
			die("remove");
	}
	m[REMOVE] = n / (now() - t);
	crdt_buf_reset(&b);
	if (crdt_orset_encode(s, &b) < 0)
		die("encode");
	m[BYTES_EMPTY] = (double)b.len;
	crdt_buf_done(&b);
	crdt_orset_free(s);

	/* two half-overlapping replicas: a has [0, n), b has [n/2, 3n/2) */
	struct crdt_orset *a = crdt_orset_new(), *c = crdt_orset_new();
	for (int i = 0; i < n; i++) {
		key(k, i);
		if (crdt_orset_add(a, &ra, k, 11) < 0)
			die("add");
		key(k, i + n / 2);
		if (crdt_orset_add(c, &rb, k, 11) < 0)
			die("add");
	}
	t = now();
	if (crdt_orset_merge(a, c) < 0)
		die("merge");
	m[MERGE_MS] = (now() - t) * 1e3;
	if (crdt_orset_card(a) != (size_t)(n + n / 2))
		die("merge result");
	crdt_orset_free(a);
	crdt_orset_free(c);
}

/* Pieces of the sender's state, as the daemon gossips them. */
struct pieces {
	struct crdt_orset **p;
	size_t n, cap, bytes;
};

static int piece_cb(const uint8_t *p, size_t len, void *ctx)
{
	struct pieces *ps = ctx;
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? 2 * ps->cap : 64;
		struct crdt_orset **v = realloc(ps->p, cap * sizeof(*v));
		if (!v)
			return -1;
		ps->p = v;
		ps->cap = cap;
	}
	if (crdt_orset_decode(p, len, &ps->p[ps->n]) < 0)
		return -1;
	ps->n++;
	ps->bytes += len;
	return 0;
}

/* Median µs to merge one ~1,250-byte split piece into a set of n elements
 * that already has (almost) all of it, as a gossip receiver does.  The
 * receiver built its set with n adds on replica a; the sender made the
 * same adds, then removed every tenth element and added n/10 new ones, so
 * the pieces carry removals (context over dots the receiver holds but the
 * piece lacks) and new elements as well as what the receiver has.  Each
 * piece is merged once, already decoded, in the order split made them. */
static double run_piece(int n, double *ret_bytes)
{
	struct crdt_orset *dst = crdt_orset_new(), *snd = crdt_orset_new();
	struct pieces ps = { 0 };
	struct crdt_rid ra;
	char k[12];
	double *t, med;

	rid(&ra, 1);
	if (!dst || !snd)
		die("new");
	for (int i = 0; i < n; i++) {
		key(k, i);
		if (crdt_orset_add(dst, &ra, k, 11) < 0 || crdt_orset_add(snd, &ra, k, 11) < 0)
			die("add");
	}
	for (int i = 0; i < n; i += 10) {
		key(k, i);
		if (crdt_orset_remove(snd, k, 11) != 1)
			die("remove");
	}
	for (int i = n; i < n + n / 10; i++) {
		key(k, i);
		if (crdt_orset_add(snd, &ra, k, 11) < 0)
			die("add");
	}
	if (crdt_orset_split(snd, 1250, piece_cb, &ps) < 0 || ps.n == 0)
		die("split");
	t = malloc(ps.n * sizeof(*t));
	if (!t)
		die("malloc");
	for (size_t i = 0; i < ps.n; i++) {
		double t0 = now();
		if (crdt_orset_merge(dst, ps.p[i]) < 0)
			die("merge piece");
		t[i] = (now() - t0) * 1e6;
	}
	if (crdt_orset_card(dst) != crdt_orset_card(snd) || !crdt_orset_equal(dst, snd))
		die("piece merge result");
	med = median(t, (int)ps.n);
	*ret_bytes = (double)ps.bytes / (double)ps.n;
	for (size_t i = 0; i < ps.n; i++)
		crdt_orset_free(ps.p[i]);
	free(ps.p);
	free(t);
	crdt_orset_free(dst);
	crdt_orset_free(snd);
	return med;
}

static double run_gcounter(int nrep)
{
	struct crdt_gcounter *a = crdt_gcounter_new(), *b = crdt_gcounter_new();
	struct crdt_rid r;
	int iters = nrep > 100 ? 20000 : 1000000;
	double t;

	if (!a || !b)
		die("gcounter_new");
	for (int i = 0; i < nrep; i++) {
		rid(&r, i);
		if (crdt_gcounter_inc(a, &r, i + 1) < 0 || crdt_gcounter_inc(b, &r, (i * 7) % 13 + 1) < 0)
			die("gcounter_inc");
	}
	t = now();
	for (int i = 0; i < iters; i++)
		if (crdt_gcounter_merge(a, b) < 0)
			die("gcounter_merge");
	t = now() - t;
	crdt_gcounter_free(a);
	crdt_gcounter_free(b);
	return iters / t;
}

/* ---- every type: merge, encode, decode ------------------------------------
 * Two replicas of one state each: counters touched by 100 replicas, sets of
 * 10,000 11-byte elements (half of them shared, added on both), a register
 * with a 16-byte value.  "merge" is a fresh copy of a joined with b (the
 * copy is timed apart and taken off); encode and decode are of the joined
 * state.  Figures per operation, in ns, and the encoded size. */
#define PT_N 10000
#define PT_REPLICAS 100

struct pt_result {
	double merge_ns, encode_ns, decode_ns, bytes;
};

#define PT_BENCH(T, a, b, iters, res)                                                          \
	do {                                                                                   \
		struct crdt_buf buf_;                                                          \
		struct crdt_##T *m_, *d_;                                                      \
		double t0_, tc_;                                                               \
		t0_ = now();                                                                   \
		for (int i_ = 0; i_ < (iters); i_++)                                           \
			crdt_##T##_free(crdt_##T##_copy(a));                                   \
		tc_ = (now() - t0_) / (iters);                                                 \
		t0_ = now();                                                                   \
		for (int i_ = 0; i_ < (iters); i_++) {                                         \
			m_ = crdt_##T##_copy(a);                                               \
			if (!m_ || crdt_##T##_merge(m_, b) < 0)                                \
				die(#T " merge");                                              \
			crdt_##T##_free(m_);                                                   \
		}                                                                              \
		(res)->merge_ns = ((now() - t0_) / (iters) - tc_) * 1e9;                       \
		if ((res)->merge_ns < 0)                                                       \
			(res)->merge_ns = 0;                                                   \
		m_ = crdt_##T##_copy(a);                                                       \
		crdt_##T##_merge(m_, b);                                                       \
		crdt_buf_init(&buf_, 0);                                                       \
		t0_ = now();                                                                   \
		for (int i_ = 0; i_ < (iters); i_++) {                                         \
			crdt_buf_reset(&buf_);                                                 \
			if (crdt_##T##_encode(m_, &buf_) < 0)                                  \
				die(#T " encode");                                             \
		}                                                                              \
		(res)->encode_ns = (now() - t0_) / (iters) * 1e9;                              \
		(res)->bytes = (double)buf_.len;                                               \
		t0_ = now();                                                                   \
		for (int i_ = 0; i_ < (iters); i_++) {                                         \
			if (crdt_##T##_decode(buf_.data, buf_.len, &d_) < 0)                   \
				die(#T " decode");                                             \
			crdt_##T##_free(d_);                                                   \
		}                                                                              \
		(res)->decode_ns = (now() - t0_) / (iters) * 1e9;                              \
		crdt_buf_done(&buf_);                                                          \
		crdt_##T##_free(m_);                                                           \
	} while (0)

static uint64_t fixed_clock(void *ctx)
{
	(void)ctx;
	return 1767225600000ULL;
}

static void run_types(struct pt_result res[5])
{
	struct crdt_rid r, ra, rb;
	char e[16];
	int it_small = 20000, it_set = 20;

	rid(&ra, 1);
	rid(&rb, 2);
	{
		struct crdt_gcounter *a = crdt_gcounter_new(), *b = crdt_gcounter_new();
		struct crdt_pncounter *pa = crdt_pncounter_new(), *pb = crdt_pncounter_new();
		for (int i = 0; i < PT_REPLICAS; i++) {
			rid(&r, i + 10);
			crdt_gcounter_inc(i % 2 ? a : b, &r, i + 1);
			crdt_gcounter_inc(a, &r, 1);
			crdt_pncounter_inc(i % 2 ? pa : pb, &r, i + 1);
			crdt_pncounter_inc(pa, &r, -1);
		}
		PT_BENCH(gcounter, a, b, it_small, &res[0]);
		PT_BENCH(pncounter, pa, pb, it_small, &res[1]);
		crdt_gcounter_free(a);
		crdt_gcounter_free(b);
		crdt_pncounter_free(pa);
		crdt_pncounter_free(pb);
	}
	{
		struct crdt_gset *a = crdt_gset_new(), *b = crdt_gset_new();
		struct crdt_orset *oa = crdt_orset_new(), *ob = crdt_orset_new();
		for (int i = 0; i < PT_N; i++) {
			snprintf(e, sizeof(e), "key%08d", i);
			crdt_gset_add(a, e, 11);
			crdt_orset_add(oa, &ra, e, 11);
			snprintf(e, sizeof(e), "key%08d", i + PT_N / 2);
			crdt_gset_add(b, e, 11);
			crdt_orset_add(ob, &rb, e, 11);
		}
		PT_BENCH(gset, a, b, it_set, &res[2]);
		PT_BENCH(orset, oa, ob, it_set, &res[3]);
		crdt_gset_free(a);
		crdt_gset_free(b);
		crdt_orset_free(oa);
		crdt_orset_free(ob);
	}
	{
		struct crdt_hlc ha, hb;
		struct crdt_lwwreg *a = crdt_lwwreg_new(), *b = crdt_lwwreg_new();
		crdt_hlc_init(&ha, fixed_clock, NULL);
		crdt_hlc_init(&hb, fixed_clock, NULL);
		crdt_lwwreg_set(a, &ha, &ra, "value-0123456789", 16);
		crdt_lwwreg_set(b, &hb, &rb, "value-abcdefghij", 16);
		PT_BENCH(lwwreg, a, b, it_small, &res[4]);
		crdt_lwwreg_free(a);
		crdt_lwwreg_free(b);
	}
}

/* ---- ns per element from 1k to 1M -----------------------------------------
 * The two half-overlapping sets of run_orset() (a holds [0, n) added on one
 * replica, c holds [n/2, 3n/2) on another), each figure the median over
 * repeated operations in one process, as a steady daemon sees them:
 *   merge       c into a fresh copy of a (the copy is made untimed)
 *   encode      a set whose key order is cached (every encode after the first)
 *   first enc.  the first encode of a fresh copy (a copy takes its source's
 *               cached order; a was built by adds in key order, which keep it)
 *   after merge the first encode of a merged with c, whose order the merge
 *               left as two runs, merged by that encode (per element of
 *               the 1.5 n it holds)
 *   decode      the encoding of a into a new set
 * All per element of one input set (n), but "after merge". */
enum { SC_MERGE, SC_ENC, SC_ENC_COLD, SC_DEC, SC_ENC_MERGED, NSC };

static void run_scale(int n, int reps, double out[NSC])
{
	struct crdt_orset *a = crdt_orset_new(), *c = crdt_orset_new(), *x, *d;
	double *t = malloc((size_t)reps * sizeof(*t)), t0;
	struct crdt_rid ra, rb;
	struct crdt_buf b;
	char k[12];

	rid(&ra, 1);
	rid(&rb, 2);
	if (!a || !c || !t)
		die("new");
	for (int i = 0; i < n; i++) {
		key(k, i);
		if (crdt_orset_add(a, &ra, k, 11) < 0)
			die("add");
		key(k, i + n / 2);
		if (crdt_orset_add(c, &rb, k, 11) < 0)
			die("add");
	}
	crdt_buf_init(&b, 0);
	for (int r = 0; r < reps; r++) {
		if (!(x = crdt_orset_copy(a)))
			die("copy");
		t0 = now();
		if (crdt_orset_merge(x, c) < 0)
			die("merge");
		t[r] = now() - t0;
		if (crdt_orset_card(x) != (size_t)(n + n / 2))
			die("merge result");
		crdt_orset_free(x);
	}
	out[SC_MERGE] = median(t, reps) / n * 1e9;
	for (int r = 0; r < reps; r++) {
		if (!(x = crdt_orset_copy(a)) || crdt_orset_merge(x, c) < 0)
			die("copy, merge");
		crdt_buf_reset(&b);
		t0 = now();
		if (crdt_orset_encode(x, &b) < 0)
			die("encode");
		t[r] = now() - t0;
		crdt_orset_free(x);
	}
	out[SC_ENC_MERGED] = median(t, reps) / (n + n / 2) * 1e9;
	for (int r = 0; r < reps; r++) {
		if (!(x = crdt_orset_copy(a)))
			die("copy");
		crdt_buf_reset(&b);
		t0 = now();
		if (crdt_orset_encode(x, &b) < 0)
			die("encode");
		t[r] = now() - t0;
		crdt_orset_free(x);
	}
	out[SC_ENC_COLD] = median(t, reps) / n * 1e9;
	for (int r = 0; r < reps; r++) {
		crdt_buf_reset(&b);
		t0 = now();
		if (crdt_orset_encode(a, &b) < 0)
			die("encode");
		t[r] = now() - t0;
	}
	out[SC_ENC] = median(t, reps) / n * 1e9;
	for (int r = 0; r < reps; r++) {
		t0 = now();
		if (crdt_orset_decode(b.data, b.len, &d) < 0)
			die("decode");
		t[r] = now() - t0;
		crdt_orset_free(d);
	}
	out[SC_DEC] = median(t, reps) / n * 1e9;
	crdt_buf_done(&b);
	crdt_orset_free(a);
	crdt_orset_free(c);
	free(t);
}

/* One operation @reps times on the scale table's sets (a: [0, n) on replica
 * A, c: [n/2, 3n/2) on B): merge c into a fresh a; encode a merged with c
 * (the first encode after a merge); encode a fresh a after removing every
 * tenth element; encode a; decode a's encoding.  Prints the median ns per
 * element (of the set encoded). */
static int run_op(const char *op, int n, int reps)
{
	struct crdt_orset *a = crdt_orset_new(), *c = crdt_orset_new(), *x;
	double *t = malloc((size_t)reps * sizeof(*t)), t0, per = n;
	struct crdt_rid ra, rb;
	struct crdt_buf b;
	char k[12];
	int w = strcmp(op, "merge") == 0 ? 0 : strcmp(op, "encmerged") == 0 ? 1
		: strcmp(op, "encode") == 0 ? 2 : strcmp(op, "decode") == 0 ? 3
		: strcmp(op, "encremoved") == 0 ? 4 : -1;

	if (w < 0 || n < 2 || reps < 1 || !a || !c || !t)
		return 2;
	rid(&ra, 1);
	rid(&rb, 2);
	for (int i = 0; i < n; i++) {
		key(k, i);
		if (crdt_orset_add(a, &ra, k, 11) < 0)
			die("add");
		key(k, i + n / 2);
		if (crdt_orset_add(c, &rb, k, 11) < 0)
			die("add");
	}
	crdt_buf_init(&b, 0);
	if (crdt_orset_encode(a, &b) < 0)
		die("encode");
	for (int r = 0; r < reps; r++) {
		x = NULL;
		if (w <= 1 || w == 4) {
			if (!(x = crdt_orset_new()))
				die("new");
			for (int i = 0; i < n; i++) {
				key(k, i);
				if (crdt_orset_add(x, &ra, k, 11) < 0)
					die("add");
			}
		}
		if (w == 1 && crdt_orset_merge(x, c) < 0)
			die("merge");
		for (int i = 0; w == 4 && i < n; i += 10) {
			key(k, i);
			if (crdt_orset_remove(x, k, 11) != 1)
				die("remove");
		}
		if (w != 3)
			crdt_buf_reset(&b);
		t0 = now();
		if (w == 0 && crdt_orset_merge(x, c) < 0)
			die("merge");
		if (w == 1 && crdt_orset_encode(x, &b) < 0)
			die("encode");
		if (w == 2 && crdt_orset_encode(a, &b) < 0)
			die("encode");
		if (w == 3 && crdt_orset_decode(b.data, b.len, &x) < 0)
			die("decode");
		if (w == 4 && crdt_orset_encode(x, &b) < 0)
			die("encode");
		t[r] = now() - t0;
		if (w <= 1 && crdt_orset_card(x) != (size_t)(n + n / 2))
			die("merge result");
		crdt_orset_free(x);
	}
	if (w == 1)
		per = n + n / 2;
	if (w == 4)
		per = n - (n + 9) / 10;
	printf("%s\t%d\t%.1f ns/element\t%.1f M el/s\t%.4f ms\n", op, n, median(t, reps) / per * 1e9,
	       per / median(t, reps) * 1e-6, median(t, reps) * 1e3);
	crdt_buf_done(&b);
	crdt_orset_free(a);
	crdt_orset_free(c);
	free(t);
	return 0;
}

/* The table, and with @tsv the same figures as tab-separated lines for
 * gnuplot (docs/orset-scale.gp). */
static void print_scale(int runs, int nmax, bool tsv)
{
	static const int ns[] = { 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000, 1000000 };

	if (tsv)
		printf("# n\tmerge\tencode\tfirst_encode\tdecode\tencode_after_merge (ns/element)\n");
	else
		printf("\n| OR-Set, ns per element (median of repeated operations) | merge | encode |"
		       " first encode | decode | merge ms | encode M el/s | decode M el/s |"
		       " first encode after merge | its M el/s |\n"
		       "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (size_t z = 0; z < sizeof(ns) / sizeof(ns[0]) && ns[z] <= nmax; z++) {
		/* at least 5 repetitions, about 0.2 s of merges each */
		int reps = 2000000 / ns[z] * runs / 5;
		double o[NSC];
		if (reps < 5)
			reps = 5;
		if (reps > 1001)
			reps = 1001;
		run_scale(ns[z], reps, o);
		if (tsv)
			printf("%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\n", ns[z], o[SC_MERGE], o[SC_ENC],
			       o[SC_ENC_COLD], o[SC_DEC], o[SC_ENC_MERGED]);
		else
			printf("| %d | %.1f | %.1f | %.1f | %.1f | %.3f | %.1f | %.1f | %.1f | %.1f |\n",
			       ns[z], o[SC_MERGE], o[SC_ENC], o[SC_ENC_COLD], o[SC_DEC],
			       o[SC_MERGE] * ns[z] * 1e-6, 1e3 / o[SC_ENC], 1e3 / o[SC_DEC],
			       o[SC_ENC_MERGED], 1e3 / o[SC_ENC_MERGED]);
		fflush(stdout);
	}
}

int main(int argc, char **argv)
{
	bool scale = argc > 1 && strcmp(argv[1], "scale") == 0;
	int runs = argc > 1 + scale ? atoi(argv[1 + scale]) : 5;
	int pmax = argc > 2 ? atoi(argv[2]) : 1000000;
	static const int sizes[] = { 1000, 10000, 100000 };
	static const char *names[NMETRIC] = {
		"add ops/s", "remove ops/s", "merge of two half-overlapping sets (ms)",
		"encode elements/s", "decode elements/s", "encoded bytes/element",
		"encoded bytes after removing all (total)", "memory bytes/element",
	};
	double res[3][NMETRIC], *v = malloc(sizeof(double) * (size_t)(runs > 0 ? runs : 1));

	bool op = argc > 2 && strcmp(argv[1], "op") == 0;

	if ((runs < 1 && !op) || !v)
		return 2;
	/* Fixed malloc thresholds: with glibc's moving ones, whether a
	 * table of a few hundred KiB comes back from the heap or from fresh,
	 * faulting pages (the heap's top trimmed by a free) depends on the
	 * order of earlier allocations, and a repeated merge could take twice
	 * as long at one size as at its neighbours for that alone.  Tables of
	 * 2 MiB and more are libcrdt's own mappings either way. */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	if (op) {
		free(v);
		return run_op(argv[2], argc > 3 ? atoi(argv[3]) : 10000, argc > 4 ? atoi(argv[4]) : 5);
	}
	if (scale) {
		print_scale(runs, argc > 3 ? atoi(argv[3]) : 1000000, true);
		free(v);
		return 0;
	}
	for (int z = 0; z < 3; z++) {
		double all[NMETRIC][64], warm[NMETRIC];
		/* one run discarded first, as it faults in heap pages the
		 * process never had (a daemon's heap has them after its
		 * first large merge); the next few runs still fault in some
		 * as the heap reaches its extent, so take 9 runs or more
		 * (at 10k, runs 1-3 took 6.8, 1.7 and 1.1 ms, the rest 0.3-0.5) */
		run_orset(sizes[z], warm);
		for (int r = 0; r < runs && r < 64; r++) {
			double m[NMETRIC];
			run_orset(sizes[z], m);
			for (int k = 0; k < NMETRIC; k++)
				all[k][r] = m[k];
		}
		for (int k = 0; k < NMETRIC; k++)
			res[z][k] = median(all[k], runs < 64 ? runs : 64);
	}
	printf("| OR-Set (11-byte elements, median of %d runs after one discarded) | 1k | 10k | 100k |\n", runs);
	printf("|---|---:|---:|---:|\n");
	for (int k = 0; k < NMETRIC; k++) {
		printf("| %s |", names[k]);
		for (int z = 0; z < 3; z++) {
			double x = res[z][k];
			if (k == MERGE_MS || k == BYTES || k == MEM)
				printf(" %.2f |", x);
			else
				printf(" %.0f |", x);
		}
		printf("\n");
	}
	static const int psizes[] = { 1000, 10000, 100000, 1000000 };
	printf("\n| merge one split piece into a set of n (µs per piece, median of %d runs) |"
	       " 1k | 10k | 100k | 1M |\n|---|---:|---:|---:|---:|\n| µs per piece |", runs);
	double pbytes[4];
	for (int z = 0; z < 4; z++) {
		if (psizes[z] > pmax) {
			pbytes[z] = 0;
			printf(" – |");
			continue;
		}
		for (int r = 0; r < runs; r++)
			v[r] = run_piece(psizes[z], &pbytes[z]);
		printf(" %.1f |", median(v, runs));
	}
	printf("\n| mean piece size (bytes) |");
	for (int z = 0; z < 4; z++)
		printf(" %.0f |", pbytes[z]);
	printf("\n");
	printf("\n| G-Counter merges/s (median of %d runs) | value |\n|---|---:|\n", runs);
	static const int reps[] = { 3, 1000 };
	for (int z = 0; z < 2; z++) {
		for (int r = 0; r < runs; r++)
			v[r] = run_gcounter(reps[z]);
		printf("| %d replicas | %.0f |\n", reps[z], median(v, runs));
	}
	{
		static const char *tn[5] = { "G-Counter, 100 replicas", "PN-Counter, 100 replicas",
					     "G-Set, 2 × 10,000 elements (half shared)",
					     "OR-Set, 2 × 10,000 elements (half shared)",
					     "LWW-Register, 16-byte value" };
		double all[5][4][64];
		struct pt_result pr[5];
		for (int r = 0; r < runs && r < 64; r++) {
			run_types(pr);
			for (int t = 0; t < 5; t++) {
				all[t][0][r] = pr[t].merge_ns;
				all[t][1][r] = pr[t].encode_ns;
				all[t][2][r] = pr[t].decode_ns;
				all[t][3][r] = pr[t].bytes;
			}
		}
		printf("\n| every type (median of %d runs) | merge ns | encode ns | decode ns | encoded bytes |\n"
		       "|---|---:|---:|---:|---:|\n", runs);
		for (int t = 0; t < 5; t++)
			printf("| %s | %.0f | %.0f | %.0f | %.0f |\n", tn[t],
			       median(all[t][0], runs < 64 ? runs : 64), median(all[t][1], runs < 64 ? runs : 64),
			       median(all[t][2], runs < 64 ? runs : 64), median(all[t][3], runs < 64 ? runs : 64));
	}
	print_scale(runs, pmax, false);
	free(v);
	return 0;
}
