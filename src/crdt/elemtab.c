/* The element table the sets share: byte-string elements interned once,
 * membership by hash, and iteration in the canonical sorted order. */
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "crdt/error.h"
#include "elemtab.h"

/* Load limit 13/16: linear probing stays short, and a 100k-element table
 * still fits in 2^17 slots (4 MiB). */
#define ET_LOAD_NUM 13
#define ET_LOAD_DEN 16
#define ET_MIN_CAP 8


/* Entries of the key-order array of a table of @cap slots: its most
 * elements, and one. */
static size_t ord_room(size_t cap)
{
	return cap * ET_LOAD_NUM / ET_LOAD_DEN + 1;
}

/* @sz bytes mapped in huge pages, 2 MiB aligned, or NULL. */
static void *map_huge(size_t sz)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE) && defined(MAP_ANONYMOUS)
	if (sz >= ET_HUGE && sz % ET_HUGE == 0) {
		/* Map one huge page more and trim, so the block is aligned. */
		uint8_t *p = mmap(NULL, sz + ET_HUGE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED) {
			uintptr_t a = ((uintptr_t)p + ET_HUGE - 1) & ~(uintptr_t)(ET_HUGE - 1);
			size_t head = a - (uintptr_t)p;
			if (head)
				munmap(p, head);
			munmap((uint8_t *)a + sz, ET_HUGE - head);
			madvise((void *)a, sz, MADV_HUGEPAGE); /* advice only */
			return (void *)a;
		}
	}
#endif
	return NULL;
}

void *et_mem_alloc(size_t sz, bool *ret_mapped)
{
	void *p = map_huge(sz);

	*ret_mapped = p != NULL;
	return p ? p : calloc(1, sz);
}

void et_mem_free(void *p, size_t sz, bool mapped)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE) && defined(MAP_ANONYMOUS)
	if (mapped) {
		munmap(p, sz);
		return;
	}
#else
	(void)sz;
	(void)mapped;
#endif
	free(p);
}

/* Zeroed room for @cap slots; *ret_mapped says how to give it back.  A
 * table from the heap has the room for its key order after the slots
 * (one block, so growing a small table frees no extra chunk per step);
 * a mapped one gets a separate array when it needs one. */
static struct et_slot *tab_alloc(size_t cap, bool *ret_mapped)
{
	void *p = map_huge(cap * sizeof(struct et_slot));

	*ret_mapped = p != NULL;
	if (p)
		return p;
	return calloc(1, cap * sizeof(struct et_slot) + ord_room(cap) * sizeof(uint32_t));
}

/* Point @t's order array at its table's block, or leave it to be
 * allocated apart (mapped tables); false when apart and none yet. */
static bool ord_attach(struct elemtab *t)
{
	if (t->mapped) {
		t->ord = NULL;
		t->ordcap = 0;
		t->ord_own = true;
		return false;
	}
	t->ord = (uint32_t *)(t->s + t->cap);
	t->ordcap = ord_room(t->cap);
	t->ord_own = false;
	return true;
}

static void rlog_drop(struct elemtab *t)
{
	free(t->rlog);
	t->rlog = NULL;
	t->rlog_n = t->rlog_cap = t->rlog_gone = 0;
}

/* Log one event of a remove; false (nothing logged) past the bound or
 * without memory. */
static bool rlog_add(struct elemtab *t, uint32_t from, uint32_t to)
{
	if (t->rlog_n == t->rlog_cap) {
		size_t cap = t->rlog_cap ? 2 * (size_t)t->rlog_cap : 16;
		uint32_t(*v)[2];
		if (cap > (size_t)t->count / 2 + 64 || !(v = realloc(t->rlog, cap * sizeof(*v))))
			return false;
		t->rlog = v;
		t->rlog_cap = (uint32_t)cap;
	}
	t->rlog[t->rlog_n][0] = from;
	t->rlog[t->rlog_n++][1] = to;
	return true;
}

static void ord_release(struct elemtab *t)
{
	rlog_drop(t);
	if (t->ord_own)
		free(t->ord);
	t->ord = NULL;
	t->ordcap = 0;
	t->ord_own = false;
}

static void tab_free(struct et_slot *s, size_t cap, bool mapped)
{
	et_mem_free(s, cap * sizeof(*s), mapped);
}

void et_init(struct elemtab *t)
{
	t->s = NULL;
	t->cap = 0;
	t->count = 0;
	t->mapped = false;
	t->ord_ok = true; /* an empty table is in key order */
	t->ord_mid = 0;
	t->rlog = NULL;
	t->rlog_n = t->rlog_cap = t->rlog_gone = 0;
	t->ord = NULL;
	t->ordcap = 0;
	t->ord_own = false;
}

void et_done(struct elemtab *t)
{
	if (!t)
		return;
	if (!t->s) {
		ord_release(t);
		et_init(t);
		return;
	}
	for (size_t i = 0; i < et_cap(t); i++)
		if (et_used(&t->s[i]) && et_len(&t->s[i]) > ET_INLINE)
			free(t->s[i].k.ptr);
	ord_release(t);
	tab_free(t->s, et_cap(t), t->mapped);
	et_init(t);
}

static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* Unkeyed: the library has no globals to hold a secret.  Word at a time with
 * a full avalanche at the end, since the index takes the low bits. */
uint32_t et_hash(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t h = 0x243f6a8885a308d3ULL ^ (len * ET_HASH_MUL);

	while (len >= 8) {
		h = (h ^ et_mix(rd64(p))) * ET_HASH_MUL;
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t tail = 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		if (p != key) /* the key's last 8 bytes, shifted: no memcpy call */
			tail = rd64(p + len - 8) >> (8 * (8 - len));
		else
#endif
			memcpy(&tail, p, len);
		h = (h ^ et_mix(tail ^ ((uint64_t)len << 59))) * ET_HASH_MUL;
	}
	return (uint32_t)et_mix(h);
}

static inline bool slot_is(const struct et_slot *s, const void *key, size_t len, uint32_t hash)
{
	return s->hash == hash && et_len(s) == len && memcmp(et_key(s), key, len) == 0;
}

struct et_slot *et_find(const struct elemtab *t, const void *key, size_t len, uint32_t hash)
{
	if (!t->s)
		return NULL;
	for (uint32_t i = et_home(t, hash);; i = et_next(t, i)) {
		struct et_slot *s = &t->s[i];
		if (!et_used(s))
			return NULL;
		if (slot_is(s, key, len, hash))
			return s;
	}
}

static uint32_t place(const struct elemtab *t, const struct et_slot *from)
{
	uint32_t i = et_home(t, from->hash);
	while (et_used(&t->s[i]))
		i = et_next(t, i);
	t->s[i] = *from;
	return i;
}

/* Cyclic distance from slot @a forward to slot @b. */
static inline uint32_t cdist(const struct elemtab *t, uint32_t a, uint32_t b)
{
	return b >= a ? b - a : b + t->cap - a;
}

/* The capacities: 8, 12, 16, 24, 32, 48, ...: 2^k and 3 * 2^(k-1) in
 * turn, at every size.  A table is then at least 13/24 full after it grows
 * (13/32 with doubling alone): a million short elements take 1.5 M slots
 * (48 MiB) instead of 2 M (64 MiB). */
static size_t cap_after(size_t cap)
{
	return (cap & (cap - 1)) == 0 ? cap + cap / 2 : cap / 3 * 4;
}

bool et_needs_growth(const struct elemtab *t, size_t n)
{
	return n * ET_LOAD_DEN > et_cap(t) * ET_LOAD_NUM;
}

/* The capacity a table holding @n elements is given; 0 past 2^31 slots. */
static size_t cap_for(size_t n)
{
	size_t ncap = ET_MIN_CAP;

	while (n * ET_LOAD_DEN > ncap * ET_LOAD_NUM) {
		if (ncap >= (size_t)1 << 31)
			return 0;
		ncap = cap_after(ncap);
	}
	return ncap;
}

int et_init_for(struct elemtab *nt, size_t n)
{
	size_t ncap;

	et_init(nt);
	if (n == 0)
		return 0;
	if (!(ncap = cap_for(n)))
		return CRDT_EMSGSIZE;
	if (!(nt->s = tab_alloc(ncap, &nt->mapped)))
		return CRDT_ENOMEM;
	nt->cap = (uint32_t)ncap;
	ord_attach(nt);
	return 0;
}

void et_adopt(struct elemtab *t, struct elemtab *nt)
{
	ord_release(t);
	if (t->s)
		tab_free(t->s, et_cap(t), t->mapped);
	*t = *nt;
	et_init(nt);
}

int et_ord_room(struct elemtab *t)
{
	if (t->ord || !t->s)
		return 0;
	if (!(t->ord = malloc(ord_room(t->cap) * sizeof(*t->ord))))
		return CRDT_ENOMEM;
	t->ordcap = ord_room(t->cap);
	t->ord_own = true;
	return 0;
}


int et_reserve_remap(struct elemtab *t, size_t n, uint32_t *idx, size_t nidx)
{
	size_t cap = et_cap(t), ncap;
	struct et_slot *os = t->s, *ns;
	bool mapped;

	if (n * ET_LOAD_DEN <= cap * ET_LOAD_NUM)
		return 0;
	if (!(ncap = cap_for(n)))
		return CRDT_EMSGSIZE;
	et_order_settle(t);
	ns = tab_alloc(ncap, &mapped);
	if (!ns)
		return CRDT_ENOMEM;
	const struct elemtab nt = { .s = ns, .cap = (uint32_t)ncap };
	/* The old table is garbage once copied: its hash words can hold the
	 * new indices for the remap. */
	for (size_t i = 0; i < cap; i++)
		if (et_used(&os[i]))
			os[i].hash = place(&nt, &os[i]);
	for (size_t k = 0; k < nidx; k++)
		if (idx[k] != UINT32_MAX)
			idx[k] = os[idx[k]].hash;
	{
		/* The cache follows; if it cannot have room it is dropped. */
		struct elemtab o = *t;
		t->s = ns;
		t->cap = (uint32_t)ncap;
		t->mapped = mapped;
		if (!ord_attach(t) && o.ord_ok) {
			t->ord = malloc(ord_room(ncap) * sizeof(*t->ord));
			t->ordcap = t->ord ? ord_room(ncap) : 0;
		}
		t->ord_ok = o.ord_ok && t->ord;
		for (size_t k = 0; t->ord_ok && k < o.count; k++)
			t->ord[k] = os[o.ord[k]].hash;
		ord_release(&o);
		if (os)
			tab_free(os, cap, o.mapped);
	}
	return 0;
}

int et_reserve(struct elemtab *t, size_t n)
{
	return et_reserve_remap(t, n, NULL, 0);
}

uint8_t *et_key_dup(const void *key, size_t len, int *ret_err)
{
	uint8_t *p;

	*ret_err = 0;
	if (len <= ET_INLINE)
		return NULL;
	p = malloc(len);
	if (!p) {
		*ret_err = CRDT_ENOMEM;
		return NULL;
	}
	memcpy(p, key, len);
	return p;
}

/* The free slot for @hash, counted in. */
static inline uint32_t insert_at(struct elemtab *t, uint32_t hash)
{
	uint32_t i = et_home(t, hash);

	while (et_used(&t->s[i]))
		i = et_next(t, i);
	t->count++;
	return i;
}

/* The cached order kept if the key just written to slot @i goes last:
 * keys inserted in ascending order (adds in order, the decoder). */
static inline void ord_note(struct elemtab *t, uint32_t i)
{
	size_t k = t->count - 1;

	if (!t->ord_ok)
		return;
	if (t->rlog_n) { /* replaying it here would cost O(n) an insert */
		t->ord_ok = false;
		rlog_drop(t);
		return;
	}
	t->ord_ok = k < t->ordcap && (k == 0 || et_before(&t->s[t->ord[k - 1]], &t->s[i]));
	if (t->ord_ok)
		t->ord[k] = i;
}

struct et_slot *et_insert(struct elemtab *t, const void *key, size_t len, uint32_t hash,
			  uint8_t *owned)
{
	uint32_t i = insert_at(t, hash);
	struct et_slot *s = &t->s[i];

	s->hash = hash;
	s->meta = ET_USED | (uint32_t)len;
	s->pay = 0;
	if (len <= ET_INLINE) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		if (len >= 8) { /* two loads within the key, the second shifted */
			const uint8_t *k = key;
			uint64_t w[2] = { rd64(k), len > 8 ? rd64(k + len - 8) >> (8 * (16 - len)) : 0 };
			memcpy(s->k.in, w, sizeof(w));
		} else
#endif
		{
			memset(s->k.in, 0, sizeof(s->k.in));
			if (len)
				memcpy(s->k.in, key, len);
		}
	} else {
		s->k.ptr = owned;
	}
	ord_note(t, i);
	return s;
}

struct et_slot *et_insert_slot(struct elemtab *t, const struct et_slot *from, uint8_t *owned)
{
	uint32_t i = insert_at(t, from->hash);
	struct et_slot *s = &t->s[i];

	*s = *from; /* hash, length and a short key, zero padded */
	if (et_len(from) > ET_INLINE)
		s->k.ptr = owned;
	s->pay = 0;
	ord_note(t, i);
	return s;
}

/* Remove the entry in slot @hole.  With @inv (slot -> its place in the
 * order array), the order follows: the entry's place is marked UINT32_MAX
 * and each entry the backward shift moves gets its new slot. */
static void remove_at(struct elemtab *t, uint32_t hole, uint32_t *inv, bool log)
{
	if (et_len(&t->s[hole]) > ET_INLINE)
		free(t->s[hole].k.ptr);
	if (inv)
		t->ord[inv[hole]] = UINT32_MAX;
	/* Backward shift: pull every later entry of the cluster that may live
	 * at the hole (its home is not cyclically inside (hole, j]). */
	for (uint32_t j = et_next(t, hole);; j = et_next(t, j)) {
		struct et_slot *s = &t->s[j];
		if (!et_used(s))
			break;
		uint32_t home = et_home(t, s->hash);
		if (cdist(t, home, j) >= cdist(t, hole, j)) {
			t->s[hole] = *s;
			if (inv) {
				t->ord[inv[j]] = hole;
				inv[hole] = inv[j];
			}
			if (log && !rlog_add(t, j, hole)) {
				log = false;
				t->ord_ok = false;
			}
			hole = j;
		}
	}
	memset(&t->s[hole], 0, sizeof(t->s[hole]));
	t->count--;
}

void et_remove(struct elemtab *t, struct et_slot *slot)
{
	uint32_t i = (uint32_t)(slot - t->s);

	if (t->ord_ok && rlog_add(t, i, UINT32_MAX))
		t->rlog_gone++;
	else
		t->ord_ok = false;
	remove_at(t, i, NULL, t->ord_ok);
	if (!t->ord_ok)
		rlog_drop(t);
}

/* Drop the entries marked UINT32_MAX from the first @n of the order,
 * keeping the two runs' boundary. */
static void ord_compact(struct elemtab *t, size_t n)
{
	size_t m = 0, mid = 0;

	for (size_t k = 0; k < n; k++) {
		if (k == t->ord_mid)
			mid = m;
		if (t->ord[k] != UINT32_MAX)
			t->ord[m++] = t->ord[k];
	}
	t->ord_mid = mid < m ? (uint32_t)mid : 0;
}

void et_order_settle(struct elemtab *t)
{
	size_t n = (size_t)t->count + t->rlog_gone;
	uint32_t *inv;

	if (!t->rlog_n)
		return;
	if (!t->ord_ok || !(inv = malloc(et_cap(t) * sizeof(*inv)))) {
		t->ord_ok = false;
		rlog_drop(t);
		return;
	}
	for (size_t k = 0; k < n; k++)
		inv[t->ord[k]] = (uint32_t)k;
	/* inv follows each slot's current entry, as the removes moved them */
	for (uint32_t x = 0; x < t->rlog_n; x++) {
		uint32_t k = inv[t->rlog[x][0]], to = t->rlog[x][1];
		t->ord[k] = to;
		if (to != UINT32_MAX)
			inv[to] = k;
	}
	free(inv);
	rlog_drop(t);
	ord_compact(t, n);
}

void et_sweep_zero(struct elemtab *t)
{
	size_t n;
	uint32_t *inv = NULL;

	et_order_settle(t);
	n = t->count;
	if (t->ord_ok && n && !(inv = malloc(et_cap(t) * sizeof(*inv))))
		t->ord_ok = false;
	for (size_t k = 0; inv && k < n; k++)
		inv[t->ord[k]] = (uint32_t)k;
	/* Backward shift refills slot i, so it is looked at again; a wrapped
	 * entry may be seen twice, harmlessly. */
	for (uint32_t i = 0; i < et_cap(t);) {
		if (et_used(&t->s[i]) && t->s[i].pay == 0)
			remove_at(t, i, inv, false);
		else
			i++;
	}
	if (!inv)
		return;
	ord_compact(t, n);
	free(inv);
}

int et_keycmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* Sorting is on the path of every encode (every gossip round re-encodes
 * the set), so it avoids qsort's indirect comparator and a memcmp per
 * comparison: keys are compared 8 bytes at a time as big-endian integers
 * (a radix-style MSD recursion on equal words), with an inlined quicksort. */
struct sk {
	uint64_t w; /* key bytes [off, off + 8), big-endian, zero padded */
	struct et_slot *s;
};

static uint64_t key_word(const struct et_slot *s, size_t off)
{
	const uint8_t *k = et_key(s);
	size_t len = et_len(s);
	uint64_t w = 0;

	if (len <= ET_INLINE && off + 8 <= ET_INLINE) /* zero padded in the slot */
		return __builtin_bswap64(rd64(k + off));

	for (size_t i = 0; i < 8; i++)
		w = w << 8 | (off + i < len ? k[off + i] : 0);
	return w;
}

static void sk_swap(struct sk *a, struct sk *b)
{
	struct sk t = *a;
	*a = *b;
	*b = t;
}

/* Quicksort on w: median of three, insertion sort for short runs, the
 * smaller side recursed so the stack stays O(log n). */
static void sk_qsort(struct sk *v, size_t n)
{
	while (n > 16) {
		size_t m = n / 2, i = 0, j = n - 1;
		if (v[m].w < v[0].w)
			sk_swap(&v[m], &v[0]);
		if (v[n - 1].w < v[0].w)
			sk_swap(&v[n - 1], &v[0]);
		if (v[n - 1].w < v[m].w)
			sk_swap(&v[n - 1], &v[m]);
		uint64_t p = v[m].w;
		for (;;) {
			while (v[i].w < p)
				i++;
			while (v[j].w > p)
				j--;
			if (i >= j)
				break;
			sk_swap(&v[i++], &v[j--]);
		}
		/* [0, j] <= p <= [j + 1, n) */
		if (j + 1 < n - j - 1) {
			sk_qsort(v, j + 1);
			v += j + 1;
			n -= j + 1;
		} else {
			sk_qsort(v + j + 1, n - j - 1);
			n = j + 1;
		}
	}
	for (size_t i = 1; i < n; i++) {
		struct sk x = v[i];
		size_t k = i;
		for (; k > 0 && v[k - 1].w > x.w; k--)
			v[k] = v[k - 1];
		v[k] = x;
	}
}

/* Sort v by the key bytes from @off on, all keys equal before @off. */
static void sk_sort(struct sk *v, size_t n, size_t off)
{
	for (size_t i = 0; i < n; i++)
		v[i].w = key_word(v[i].s, off);
	sk_qsort(v, n);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1, fin = 0;
		while (j < n && v[j].w == v[i].w)
			j++;
		if (j - i > 1) {
			/* Keys that end inside this word are prefixes (zero padded) of
			 * the longer ones here: they go first, shortest first. */
			for (size_t k = i; k < j; k++) {
				if (et_len(v[k].s) <= off + 8) {
					sk_swap(&v[k], &v[i + fin]);
					fin++;
				}
			}
			for (size_t a = i + 1; a < i + fin; a++) {
				struct sk x = v[a];
				size_t b = a;
				for (; b > i && et_len(v[b - 1].s) > et_len(x.s); b--)
					v[b] = v[b - 1];
				v[b] = x;
			}
			if (j - i - fin > 1)
				sk_sort(v + i + fin, j - i - fin, off + 8);
		}
		i = j;
	}
}

void et_sort(struct et_slot **v, size_t n)
{
	struct sk *k;

	if (n < 2)
		return;
	if (!(k = malloc(n * sizeof(*k)))) {
		/* no memory for the fast path: sort in place, slowly */
		for (size_t i = 1; i < n; i++) {
			struct et_slot *x = v[i];
			size_t j = i;
			for (; j > 0 && et_keycmp(et_key(v[j - 1]), et_len(v[j - 1]), et_key(x),
						  et_len(x)) > 0;
			     j--)
				v[j] = v[j - 1];
			v[j] = x;
		}
		return;
	}
	for (size_t i = 0; i < n; i++)
		k[i].s = v[i];
	sk_sort(k, n, 0);
	for (size_t i = 0; i < n; i++)
		v[i] = k[i].s;
	free(k);
}

bool et_contains(const struct elemtab *t, const void *e, size_t len)
{
	return len <= ET_MAX_LEN && et_find(t, e, len, et_hash(e, len)) != NULL;
}

int et_foreach_sorted(const struct elemtab *t, crdt_elem_cb cb, void *ctx)
{
	struct et_slot **v;
	int r = et_sorted(t, &v);

	if (r < 0)
		return r;
	for (size_t i = 0; i < t->count && r == 0; i++)
		r = cb(et_key(v[i]), et_len(v[i]), ctx);
	free(v);
	return r;
}

int et_sorted(const struct elemtab *t, struct et_slot ***ret)
{
	struct et_slot **v = NULL;
	const uint32_t *o;
	int r;

	if (t->count) {
		if ((r = et_order(t, &o)) < 0)
			return r;
		v = malloc(t->count * sizeof(*v));
		if (!v)
			return CRDT_ENOMEM;
		for (size_t i = 0; i < t->count; i++)
			v[i] = &t->s[o[i]];
	}
	*ret = v;
	return 0;
}

/* Keys of at most 16 bytes, as two big-endian words (zero padded, as in
 * the slot) and the length: in that lexicographic order, key order. */
struct rk {
	uint64_t w[2];
	uint32_t len, idx;
};

static inline unsigned rk_digit(const struct rk *k, unsigned d)
{
	/* d 0: the length, least significant; 1..16: key bytes 15..0 */
	return d == 0 ? k->len : (unsigned)(k->w[(16 - d) / 8] >> (8 * ((d - 1) % 8))) & 0xff;
}

/* Byte @sh / 8 of word @w: 0 and 1 the key's, 2 the length. */
static inline unsigned rk_get(const struct rk *k, unsigned w, unsigned sh)
{
	return (unsigned)((w == 2 ? k->len : k->w[w & 1]) >> sh) & 0xff;
}

/* LSD radix sort, one byte a pass, skipping the bytes all keys share (as
 * the common prefixes of real keys): no comparisons at all. */
static int order_radix(struct elemtab *t)
{
	size_t n = t->count, m = 0;
	struct rk *a = malloc(2 * (n ? n : 1) * sizeof(*a)), *b;
	uint32_t(*cnt)[256] = calloc(17, sizeof(*cnt));
	uint64_t and0 = ~0ULL, and1 = ~0ULL, or0 = 0, or1 = 0;
	uint32_t andl = ~0u, orl = 0;
	unsigned dw[17], ds[17], nd = 0; /* per digit sorted on: word and shift */

	if (!a || !cnt) {
		free(a);
		free(cnt);
		return CRDT_ENOMEM;
	}
	b = a + n;
	for (size_t i = 0; i < et_cap(t); i++) {
		const struct et_slot *s = &t->s[i];
		if (!et_used(s))
			continue;
		a[m] = (struct rk){ { __builtin_bswap64(rd64(s->k.in)),
				      __builtin_bswap64(rd64(s->k.in + 8)) },
				    (uint32_t)et_len(s), (uint32_t)i };
		and0 &= a[m].w[0], or0 |= a[m].w[0];
		and1 &= a[m].w[1], or1 |= a[m].w[1];
		andl &= a[m].len, orl |= a[m].len;
		m++;
	}
	/* Only the digits that differ somewhere are counted and sorted on. */
	{
		struct rk x = { { and0 ^ or0, and1 ^ or1 }, andl ^ orl, 0 };
		for (unsigned d = 0; d < 17; d++) {
			if (!rk_digit(&x, d))
				continue;
			dw[nd] = d == 0 ? 2 : (16 - d) / 8;
			ds[nd++] = d == 0 ? 0 : 8 * ((d - 1) % 8);
		}
	}
	for (size_t i = 0; i < n; i++)
		for (unsigned k = 0; k < nd; k++)
			cnt[k][rk_get(&a[i], dw[k], ds[k])]++;
	for (unsigned k = 0; k < nd; k++) {
		unsigned d = k;
		size_t sum = 0;
		for (unsigned x = 0; x < 256; x++) {
			size_t c = cnt[d][x];
			cnt[d][x] = (uint32_t)sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			b[cnt[d][rk_get(&a[i], dw[k], ds[k])]++] = a[i];
		struct rk *x = a;
		a = b;
		b = x;
	}
	for (size_t i = 0; i < n; i++)
		t->ord[i] = a[i].idx;
	free(a < b ? a : b);
	free(cnt);
	return 0;
}

static int order_build(struct elemtab *t)
{
	struct et_slot **v;
	size_t n = 0;

	if (t->count == 0)
		return 0;
	for (size_t i = 0; i < et_cap(t); i++)
		if (et_used(&t->s[i]) && et_len(&t->s[i]) > ET_INLINE)
			goto long_keys;
	return order_radix(t);
long_keys:
	if (!(v = malloc(t->count * sizeof(*v))))
		return CRDT_ENOMEM;
	for (size_t i = 0; i < et_cap(t); i++)
		if (et_used(&t->s[i]))
			v[n++] = &t->s[i];
	et_sort(v, n);
	for (size_t i = 0; i < n; i++)
		t->ord[i] = (uint32_t)(v[i] - t->s);
	free(v);
	return 0;
}

/* Merge the order's two runs into one: a key comparison an element, the
 * slots loaded ahead (they are in random places).  -ENOMEM. */
#define MERGE_AHEAD 16
static int ord_merge(struct elemtab *t)
{
	size_t na = t->ord_mid, n = t->count, i = 0, j = na, o = 0;
	uint32_t *a = malloc(na * sizeof(*a)), *ord = t->ord;
	const struct et_slot *s = t->s;

	if (!a)
		return CRDT_ENOMEM;
	memcpy(a, ord, na * sizeof(*a));
	/* o == i + (j - na) <= j: the output never overtakes the second run */
	while (i < na && j < n) {
		if (i + MERGE_AHEAD < na)
			__builtin_prefetch(&s[a[i + MERGE_AHEAD]]);
		if (j + MERGE_AHEAD < n)
			__builtin_prefetch(&s[ord[j + MERGE_AHEAD]]);
		if (et_before(&s[ord[j]], &s[a[i]]))
			ord[o++] = ord[j++];
		else
			ord[o++] = a[i++];
	}
	if (i < na)
		memcpy(ord + o, a + i, (na - i) * sizeof(*a));
	free(a);
	t->ord_mid = 0;
	return 0;
}

int et_order(const struct elemtab *ct, const uint32_t **ret)
{
	struct elemtab *t = (struct elemtab *)ct; /* only the cache changes */
	int r;

	et_order_settle(t);
	if (t->ord_ok && t->ord_mid && ord_merge(t) < 0)
		t->ord_ok = false; /* no room to merge: sort */
	if (!t->ord_ok) {
		if (!t->ord && t->count) { /* a mapped table's, apart */
			if (!(t->ord = malloc(ord_room(t->cap) * sizeof(*t->ord))))
				return CRDT_ENOMEM;
			t->ordcap = ord_room(t->cap);
			t->ord_own = true;
		}
		if ((r = order_build(t)) < 0)
			return r;
		t->ord_ok = true;
		t->ord_mid = 0;
	}
	*ret = t->ord;
	return 0;
}

int et_walk_begin(const struct elemtab *ct, struct et_walk *w)
{
	struct elemtab *t = (struct elemtab *)ct; /* only the cache changes */
	const uint32_t *o;
	size_t na;

	et_order_settle(t);
	na = t->ord_mid;
	*w = (struct et_walk){ .t = t, .n = t->count };
	if (t->ord_ok && na && w->n >= ET_WALK_MIN && (w->a = malloc(na * sizeof(*w->a)))) {
		/* the first run aside: the merged order is written over it */
		memcpy(w->a, t->ord, na * sizeof(*w->a));
		w->na = na;
		w->j = na;
		for (size_t k = 0; k < ET_WALK_AHEAD && k < na; k++)
			__builtin_prefetch(&t->s[w->a[k]]);
		for (size_t k = na; k < na + ET_WALK_AHEAD && k < w->n; k++)
			__builtin_prefetch(&t->s[t->ord[k]]);
		return 0;
	}
	for (size_t k = 0; k < ET_WALK_AHEAD && k < w->n && t->ord_ok; k++)
		__builtin_prefetch(&t->s[t->ord[k]]);
	return et_order(t, &o); /* one run, or none the walk could merge */
}

void et_walk_end(struct et_walk *w)
{
	if (!w->a)
		return;
	while (w->o < w->n)
		et_walk_next(w);
	free(w->a);
	w->a = NULL;
	w->t->ord_mid = 0;
}

void et_order_runs(struct elemtab *t, size_t mid)
{
	rlog_drop(t);
	t->ord_ok = true;
	t->ord_mid = mid < t->count ? (uint32_t)mid : 0;
}
