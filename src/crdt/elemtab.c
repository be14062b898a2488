/* The element table the sets share: byte-string elements interned once,
 * membership by hash, kept in elemtab order (by hash, then key), which is
 * also the order the encodings write. */
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "crdt/error.h"
#include "crdt/mem.h"
#include "elemtab.h"
#include "crdt/sort.h"

/* Load limit 13/16: linear probing stays short, and a 100k-element table
 * still fits in 2^17 slots (4 MiB). */
#define ET_LOAD_NUM 13
#define ET_LOAD_DEN 16
#define ET_MIN_CAP 8


/* The tail past a home range of @hcap slots: room for the last clusters
 * to run on, and the empty slot that ends every probe. */
static size_t tail_for(size_t hcap)
{
	return hcap / 32 + 2;
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

/* Slots to allocate for at least @cap: a large array is rounded up to
 * whole huge pages (the tail gets the rest), so that it can be mapped. */
static size_t cap_round(size_t cap)
{
	size_t sz = cap * sizeof(struct et_slot);

	if (sz >= ET_HUGE)
		sz = (sz + ET_HUGE - 1) / ET_HUGE * ET_HUGE;
	return sz / sizeof(struct et_slot);
}

/* Room for @cap slots, zeroed if @zero (a mapped block always is). */
static struct et_slot *tab_alloc(size_t cap, bool zero, bool *ret_mapped)
{
	void *p = map_huge(cap * sizeof(struct et_slot));

	*ret_mapped = p != NULL;
	if (p)
		return p;
	return zero ? calloc(cap, sizeof(struct et_slot)) : malloc(cap * sizeof(struct et_slot));
}

static void tab_free(struct et_slot *s, size_t cap, bool mapped)
{
	et_mem_free(s, cap * sizeof(*s), mapped);
}

/* A class whose slots fill whole huge pages keeps that size, its tail
 * carved out of it (the home range a few percent shorter), so that it can
 * be mapped with nothing wasted; any other gets its tail on top. */
static bool carved(size_t c)
{
	return c * sizeof(struct et_slot) >= ET_HUGE && c * sizeof(struct et_slot) % ET_HUGE == 0;
}

static size_t home_of(size_t c)
{
	return carved(c) ? c - tail_for(c) : c;
}

/* The slots of a table of class @c: the home range and the tail. */
static size_t class_slots(size_t c)
{
	return carved(c) ? c : c + tail_for(c);
}

void et_init(struct elemtab *t)
{
	*t = (struct elemtab){ 0 };
}

/* Free the next table made ready ahead, if any. */
static void drop_next(struct elemtab *t)
{
	if (t->nx)
		tab_free(t->nx, class_slots(t->nxcap), true);
	t->nx = NULL;
	t->nxcap = t->nxdone = 0;
	t->nxpop = false;
}

/* Free the aim's table made ready by the hook, if any. */
static void drop_aim(struct elemtab *t)
{
	if (t->ax)
		tab_free(t->ax, class_slots(t->axcap), true);
	t->ax = NULL;
	t->axcap = 0;
}

void et_done(struct elemtab *t)
{
	if (!t)
		return;
	drop_next(t);
	drop_aim(t);
	for (size_t i = 0; i < t->end; i++) /* past it, empty, or not yet written */
		if (et_used(&t->s[i]) && et_len(&t->s[i]) > ET_INLINE)
			free(t->s[i].k.ptr);
	if (t->s)
		tab_free(t->s, et_cap(t), t->mapped);
	et_init(t);
}

static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

uint32_t et_hash(const void *key, size_t len)
{
	return (uint32_t)sip_hash(&crdt_hash_key_, key, len, SIP_C, SIP_D);
}

static inline bool slot_is(const struct et_slot *s, const void *key, size_t len, uint32_t hash)
{
	return s->hash == hash && et_len(s) == len && memcmp(et_key(s), key, len) == 0;
}

struct et_slot *et_find(const struct elemtab *t, const void *key, size_t len, uint32_t hash)
{
	if (!t->s)
		return NULL;
	for (uint32_t i = et_home(t, hash);; i++) {
		struct et_slot *s = &t->s[i];
		if (!et_used(s) || s->hash > hash)
			return NULL;
		if (slot_is(s, key, len, hash))
			return s;
	}
}

/* The home ranges: 8, 12, 16, 24, 32, 48, ...: 2^k and 3 * 2^(k-1) in
 * turn, at every size.  A table is then at least 13/24 full after it grows
 * (13/32 with doubling alone): a million short elements take 1.5 M slots
 * (48 MiB) instead of 2 M (64 MiB). */
static size_t cap_after(size_t cap)
{
	return (cap & (cap - 1)) == 0 ? cap + cap / 2 : cap / 3 * 4;
}

bool et_needs_growth(const struct elemtab *t, size_t n)
{
	return n * ET_LOAD_DEN > (size_t)t->hcap * ET_LOAD_NUM;
}

/* The class a table holding @n elements is given; 0 past 2^30 slots. */
size_t et_hcap_for(size_t n)
{
	size_t ncap = ET_MIN_CAP;

	while (n * ET_LOAD_DEN > home_of(ncap) * ET_LOAD_NUM) {
		if (ncap >= (size_t)1 << 30)
			return 0;
		ncap = cap_after(ncap);
	}
	return ncap;
}

/* An empty table of class @c (et_hcap_for()) in @nt, its slots not
 * written (et_append(), then et_append_end()). */
static int tab_make(struct elemtab *nt, size_t c)
{
	size_t cap = class_slots(c), hcap = home_of(c);

	et_init(nt);
	if (!(nt->s = tab_alloc(cap, false, &nt->mapped)))
		return CRDT_ENOMEM;
	nt->cap = (uint32_t)cap;
	nt->hcap = (uint32_t)hcap;
	return 0;
}

/* An empty table of class @c in the mapped block @s made ready ahead
 * (zero, faulted in or on the way). */
static void tab_in(struct elemtab *nt, struct et_slot *s, size_t c)
{
	et_init(nt);
	nt->s = s;
	nt->mapped = true;
	nt->cap = (uint32_t)class_slots(c);
	nt->hcap = (uint32_t)home_of(c);
}

/* Whether the slots @t made ready ahead serve a new table of class @c:
 * they are of that class (the next one, faulted in or on the way), or of
 * a larger one and all faulted in (an aim, et_reserve_toward()). */
static bool next_serves(const struct elemtab *t, size_t c)
{
	return t->nx && (t->nxcap == c || (t->nxcap > c && t->nxdone >= class_slots(t->nxcap)));
}

/* tab_make(), in the slots @t made ready ahead if they serve class @c
 * (next_serves(): the table then gets their class): mapped and faulted in
 * already, still zero.  Slots of a smaller class are freed; of a larger
 * one not yet ready, kept for later. */
static int tab_make_from(struct elemtab *nt, size_t c, struct elemtab *t)
{
	if (!next_serves(t, c)) {
		if (t->nx && t->nxcap < c)
			drop_next(t);
		return tab_make(nt, c);
	}
	tab_in(nt, t->nx, t->nxcap);
	t->nx = NULL;
	t->nxcap = t->nxdone = 0;
	t->nxpop = false;
	return 0;
}

/* Growing a table of a million elements costs tens of milliseconds, most
 * of it (four parts in five on a VM, more under load) the faults that
 * bring in the new slot array; placing the elements is the rest, about
 * 10 ns each.  So over its last sixteenth before the load limit, a table
 * whose next class is mapped (a multiple of 2 MiB: 65,536 slots, 131,072,
 * 196,608 and every class above) maps that class's slots and faults them
 * in a huge page at a time (0.1 to 4 ms on a VM; in 4 KiB pages the whole
 * costs several times more), at most one a call, paced by its count so
 * that all are in by the limit (one huge page per hundreds of inserts);
 * the growth (et_reserve(), or a merge's et_init_next()) then takes
 * them and is only the placement.  Best effort: without the mapping the
 * growth maps its own.  @n: the count et_reserve() makes room for.
 * Removes that bring the count back down keep what was made ready (until
 * the table grows or is freed). */
#define ET_PREP_DEN 16

static crdt_populate_fn populate;

void crdt_set_populate(crdt_populate_fn fn)
{
	populate = fn;
}

/* Whether the page holding @p is in memory (mincore; without it, yes). */
static bool resident(const void *p)
{
#ifdef __linux__
	unsigned char v = 0;
	void *page = (void *)((uintptr_t)p & ~(uintptr_t)4095);

	return mincore(page, 4096, &v) != 0 || (v & 1);
#else
	(void)p;
	return true;
#endif
}

/* One huge page more of the slots made ready ahead faulted in, if any is
 * left: a write in each 4 KiB page (all of the huge page, or of the small
 * ones if none was to be had).  With a populate hook, which faults them in
 * from the first to the last (nxpop), the step only looks: the huge page
 * counts as in once its last page is. */
static void fault_step(struct elemtab *t)
{
	size_t end = (size_t)t->nxdone + ET_HUGE / sizeof(struct et_slot);

	if (end > class_slots(t->nxcap))
		end = class_slots(t->nxcap);
	if (end <= t->nxdone)
		return;
	if (t->nxpop) {
		if (!resident(&t->nx[end - 1]))
			return;
	} else {
		for (size_t i = t->nxdone; i < end; i += 4096 / sizeof(struct et_slot))
			((volatile struct et_slot *)t->nx)[i].meta = 0;
	}
	t->nxdone = (uint32_t)end;
}

/* A class that does not fill whole huge pages is made ready ahead only
 * for a populate hook, from this size (4,096 slots) on: faulting its 4 KiB
 * pages (about 10 us each on a VM) cost the growths into the classes from
 * 12,288 slots (384 KiB) to 98,304 (3 MiB) 1.1-12 ms, on the loop. */
#define ET_PREP_SMALL ((size_t)128 << 10)

/* The slots of class @c mapped into @t->nx (none faulted in yet), and
 * handed to the populate hook if there is one: a class that fills whole
 * huge pages (carved()) in them, another of ET_PREP_SMALL bytes or more in
 * small pages if there is a hook.  False if it is not made ready. */
static bool map_next(struct elemtab *t, size_t c)
{
	size_t sz = class_slots(c) * sizeof(struct et_slot);

	if (carved(c))
		t->nx = map_huge(sz);
#if defined(__linux__) && defined(MAP_ANONYMOUS)
	else if (populate && sz >= ET_PREP_SMALL) {
		void *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		t->nx = p == MAP_FAILED ? NULL : p;
	}
#endif
	if (!t->nx)
		return false;
	t->nxcap = (uint32_t)c;
	t->nxdone = 0;
	t->nxpop = populate != NULL;
	if (t->nxpop)
		populate(t->nx, sz);
	return true;
}

static void prepare(struct elemtab *t, size_t n)
{
	size_t lim = (size_t)t->hcap * ET_LOAD_NUM / ET_LOAD_DEN, start = lim - lim / ET_PREP_DEN;
	size_t want;

	if (n <= start || start == lim)
		return;
	if (!t->nx) {
		size_t c = et_hcap_for(lim + 1);
		if (!c || !map_next(t, c))
			return;
	}
	/* the share due by now, in whole huge pages; one a call, so that a
	 * merge that jumps the count into the window does not fault it all */
	want = class_slots(t->nxcap) * ((n < lim ? n : lim) - start) / (lim - start);
	if (t->nxdone < want)
		fault_step(t);
}

int et_init_for(struct elemtab *nt, size_t n)
{
	size_t hcap;

	et_init(nt);
	if (n == 0)
		return 0;
	if (!(hcap = et_hcap_for(n)))
		return CRDT_EMSGSIZE;
	return tab_make(nt, hcap);
}

int et_init_next(struct elemtab *nt, struct elemtab *t, size_t n)
{
	size_t hcap = et_hcap_for(n);

	if (n == 0 || !hcap || !next_serves(t, hcap))
		return et_init_for(nt, n);
	return tab_make_from(nt, hcap, t);
}

void et_adopt(struct elemtab *t, struct elemtab *nt)
{
	struct et_slot *nx = NULL, *ax = NULL;
	uint32_t nxcap = t->nxcap, nxdone = t->nxdone, axcap = t->axcap;
	bool nxpop = t->nxpop;

	/* slots made ready for a class beyond the new table's stay ready */
	if (t->nx && class_slots(nxcap) > nt->cap && !nt->nx) {
		nx = t->nx;
		t->nx = NULL;
	}
	/* and so does an aim's, if the new table is not as large */
	if (t->ax && class_slots(axcap) > nt->cap && !nt->ax) {
		ax = t->ax;
		t->ax = NULL;
	}
	drop_next(t);
	drop_aim(t);
	if (t->s)
		tab_free(t->s, et_cap(t), t->mapped);
	*t = *nt;
	et_init(nt);
	if (nx) {
		t->nx = nx;
		t->nxcap = nxcap;
		t->nxdone = nxdone;
		t->nxpop = nxpop;
	}
	if (ax) {
		t->ax = ax;
		t->axcap = axcap;
	}
}

void et_append_end(struct elemtab *t, uint32_t fill)
{
	if (t->s && !t->mapped) /* a mapped block is fresh from mmap: zero */
		memset(t->s + fill, 0, (et_cap(t) - fill) * sizeof(*t->s));
}

int et_tail_room(struct elemtab *t, size_t i)
{
	size_t cap = et_cap(t), ncap = cap;
	struct et_slot *ns;
	bool mapped;

	if (i + 1 < cap || !t->s)
		return 0;
	while (i + 1 >= ncap)
		ncap += ncap - t->hcap; /* the tail doubles */
	ncap = cap_round(ncap);
	if (ncap > (size_t)1 << 31)
		return CRDT_EMSGSIZE;
	if (!(ns = tab_alloc(ncap, true, &mapped)))
		return CRDT_ENOMEM;
	memcpy(ns, t->s, t->end * sizeof(*ns)); /* the rest is empty */
	tab_free(t->s, cap, t->mapped);
	t->s = ns;
	t->cap = (uint32_t)ncap;
	t->mapped = mapped;
	return 0;
}

/* Room in the tail for the inserts up to @n elements: each moves the end
 * of the last cluster one slot at most.  For at most the tail's own size
 * of them: a count far above it (a catch-up sizing its table for a
 * million elements to come) would double the table for a case random
 * hashes never come near; inserts past it grow the tail when they reach
 * it (put()). */
static int tail_reserve(struct elemtab *t, size_t n)
{
	size_t more = n > t->count ? n - t->count : 0, tail = et_cap(t) - t->hcap;

	if (more > tail)
		more = tail;
	return (size_t)t->end + more + 1 < et_cap(t) ? 0 : et_tail_room(t, t->end + more);
}

/* @t's elements placed again in the empty table @nt, which @t then adopts
 * (@nt freed on an error: -ENOMEM, -EMSGSIZE, @t unchanged). */
static int place(struct elemtab *t, struct elemtab *nt)
{
	uint32_t fill = 0;
	int r;

	/* in elemtab order already: each goes at its home or after the last */
	for (size_t i = et_walk(t, 0); i < et_cap(t); i = et_walk(t, i + 1))
		if ((r = et_append(nt, &t->s[i], &fill)) < 0) {
			tab_free(nt->s, et_cap(nt), nt->mapped);
			return r;
		}
	et_append_end(nt, fill);
	et_adopt(t, nt);
	return 0;
}

/* @t's elements placed again in a new table of class @c (or the larger
 * one made ready ahead, tab_make_from()): -ENOMEM, -EMSGSIZE, @t unchanged. */
static int grow(struct elemtab *t, size_t c)
{
	struct elemtab nt;
	int r;

	if ((r = tab_make_from(&nt, c, t)) < 0)
		return r;
	return place(t, &nt);
}

int et_reserve(struct elemtab *t, size_t n)
{
	size_t hcap;
	int r;

	if (!t->s && n == 0)
		return 0;
	if (t->s && !et_needs_growth(t, n)) {
		prepare(t, n); /* n is at most the limit here */
		return tail_reserve(t, n);
	}
	if (!(hcap = et_hcap_for(n)))
		return CRDT_EMSGSIZE;
	if ((r = grow(t, hcap)) < 0)
		return r;
	return tail_reserve(t, n); /* the table is good either way */
}

/* et_reserve_toward() with a populate hook: the aim's table (class @c) is
 * handed to the hook in one piece, apart from the next class's slots (nx),
 * so that the growths on the way still find theirs ready; the call that
 * finds the aim's last page in (the hook faults from first to last) moves
 * the elements into it.  No call faults any of it. */
static int toward_handed(struct elemtab *t, size_t n, size_t c)
{
	size_t slots = class_slots(c);
	struct elemtab nt;
	int r;

	if (t->ax && t->axcap < c)
		drop_aim(t);
	if (!t->ax) {
		if (!(t->ax = map_huge(slots * sizeof(struct et_slot))))
			return et_reserve(t, n);
		t->axcap = (uint32_t)c;
		populate(t->ax, slots * sizeof(struct et_slot));
	}
	if ((r = et_reserve(t, n)) < 0 || !t->ax || !resident(&t->ax[slots - 1]))
		return r;
	tab_in(&nt, t->ax, t->axcap);
	t->ax = NULL;
	t->axcap = 0;
	if ((r = place(t, &nt)) < 0)
		return r;
	return tail_reserve(t, n);
}

int et_reserve_toward(struct elemtab *t, size_t n, size_t aim)
{
	uint32_t done;
	size_t c;
	int r;

	/* a table that holds the aim already (every piece after the move) */
	if (aim <= n || (t->s && !et_needs_growth(t, aim)) || !(c = et_hcap_for(aim))) {
		drop_aim(t);
		return et_reserve(t, n);
	}
	if (!carved(c)) /* small: calloc'd, its pages faulted as filled */
		return et_reserve(t, aim);
	if (populate)
		return toward_handed(t, n, c);
	if (t->nx && t->nxcap < c)
		drop_next(t);
	if (!t->nx && !map_next(t, c)) /* no hook here: toward_handed() */
		return et_reserve(t, n);
	done = t->nxdone;
	if ((r = et_reserve(t, n)) < 0 || !t->nx)
		return r; /* a growth took the slots (they were ready) */
	if (t->nxdone == done) /* one huge page a call: et_reserve() faulted none */
		fault_step(t);
	if (t->nxdone < class_slots(t->nxcap))
		return 0;
	if ((r = grow(t, t->nxcap)) < 0)
		return r;
	return tail_reserve(t, n);
}

size_t et_seek(const struct elemtab *t, uint32_t hash, uint32_t skip, uint32_t *ret_run)
{
	size_t i;
	uint32_t run = 0;

	if (ret_run)
		*ret_run = 0;
	if (!t->s)
		return 0;
	i = et_walk(t, et_home(t, hash));
	while (i < et_cap(t) && t->s[i].hash < hash)
		i = et_walk(t, i + 1);
	for (; i < et_cap(t) && t->s[i].hash == hash && run < skip; i = et_walk(t, i + 1))
		run++;
	if (ret_run)
		*ret_run = run;
	return i;
}

int et_reserve_announced(struct elemtab *t, size_t incoming, uint64_t total)
{
	size_t need = (size_t)t->count + incoming;

	if (total > need && need <= (SIZE_MAX - ET_ANNOUNCED_SLACK) / ET_ANNOUNCED_FACTOR &&
	    total <= need * ET_ANNOUNCED_FACTOR + ET_ANNOUNCED_SLACK)
		return et_reserve_toward(t, need, (size_t)total);
	return 0;
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

/* Where the key of slot image @k goes: the first slot from its home that
 * is empty or holds a later key. */
static inline uint32_t insert_pos(const struct elemtab *t, const struct et_slot *k)
{
	uint32_t i = et_home(t, k->hash);

	while (et_used(&t->s[i]) && et_hk_before(&t->s[i], k))
		i++;
	return i;
}

/* Slot image @k in at its place, the rest of its cluster shifted on. */
static struct et_slot *put(struct elemtab *t, const struct et_slot *k)
{
	uint32_t i = insert_pos(t, k), e = i;

	while (et_used(&t->s[e]))
		e++;
	/* et_reserve() made room in the tail for as many inserts as the
	 * tail holds; past that (a cluster at the top of the hash range that
	 * outgrew the tail: crafted keys, or a reservation far ahead) it grows
	 * here, and only a failed allocation of it, which leaves nowhere to
	 * put the element, stops the process */
	if (e + 1 >= t->cap && et_tail_room(t, e) < 0)
		abort();
	memmove(&t->s[i + 1], &t->s[i], (size_t)(e - i) * sizeof(*t->s));
	t->s[i] = *k;
	t->count++;
	if (t->end <= e)
		t->end = e + 1;
	return &t->s[i];
}

struct et_slot *et_insert(struct elemtab *t, const void *key, size_t len, uint32_t hash,
			  uint8_t *owned)
{
	struct et_slot s;

	s.hash = hash;
	s.meta = ET_USED | (uint32_t)len;
	s.pay = 0;
	if (len <= ET_INLINE) {
		memset(s.k.in, 0, sizeof(s.k.in));
		if (len)
			memcpy(s.k.in, key, len);
	} else {
		s.k.ptr = owned;
	}
	return put(t, &s);
}

struct et_slot *et_insert_slot(struct elemtab *t, const struct et_slot *from, uint8_t *owned)
{
	struct et_slot s = *from; /* hash, length and a short key, zero padded */

	if (et_len(from) > ET_INLINE)
		s.k.ptr = owned;
	s.pay = 0;
	return put(t, &s);
}

void et_remove(struct elemtab *t, struct et_slot *slot)
{
	uint32_t hole = (uint32_t)(slot - t->s), e = hole + 1;

	if (et_len(slot) > ET_INLINE)
		free(slot->k.ptr);
	/* Backward shift: the entries after the hole that are not at home
	 * move back one, in order; the first at home (or an empty slot)
	 * ends the run. */
	while (et_used(&t->s[e]) && et_home(t, t->s[e].hash) < e)
		e++;
	memmove(&t->s[hole], &t->s[hole + 1], (size_t)(e - hole - 1) * sizeof(*t->s));
	memset(&t->s[e - 1], 0, sizeof(*t->s));
	t->count--;
}

void et_sweep_zero(struct elemtab *t)
{
	uint32_t fill = 0;

	/* One pass: every kept entry goes at its home or after the last kept
	 * one, never after where it was, so the table is refilled in place. */
	for (size_t i = 0; i < et_cap(t); i++) {
		struct et_slot *s = &t->s[i];
		uint32_t at;
		if (!et_used(s))
			continue;
		if (s->pay == 0) {
			if (et_len(s) > ET_INLINE)
				free(s->k.ptr);
			memset(s, 0, sizeof(*s));
			t->count--;
			continue;
		}
		at = et_home(t, s->hash);
		if (at < fill)
			at = fill;
		if (at != i) {
			t->s[at] = *s;
			memset(s, 0, sizeof(*s));
		}
		fill = at + 1;
	}
	t->end = fill;
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

static inline bool sk_lt(const struct sk *a, const struct sk *b)
{
	return a->w < b->w;
}

/* By w */
SORT_DEFINE(sk_qsort, struct sk, sk_lt)

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

int et_foreach(const struct elemtab *t, crdt_elem_cb cb, void *ctx)
{
	int r = 0;

	for (size_t i = et_walk(t, 0); i < et_cap(t) && r == 0; i = et_walk(t, i + 1))
		r = cb(et_key(&t->s[i]), et_len(&t->s[i]), ctx);
	return r;
}

int et_scan(const struct elemtab *t, uint64_t from, size_t count,
	    int (*fn)(const struct et_slot *e, void *ctx), void *ctx, uint64_t *next)
{
	const size_t cap = et_cap(t);
	size_t n = 0;
	uint32_t last = 0;
	int r = 0;

	*next = 0;
	if (!t->s || from > UINT32_MAX)
		return 0;
	if (!count)
		count = 1; /* a step always moves on */
	/* every slot before the home of @from holds a smaller hash */
	for (size_t i = et_walk(t, et_home(t, (uint32_t)from)); i < cap && r == 0;
	     i = et_walk(t, i + 1)) {
		const struct et_slot *e = &t->s[i];
		if (e->hash < from)
			continue;
		if (n >= count && e->hash != last) {
			*next = e->hash; /* above last, so never 0 */
			break;
		}
		last = e->hash;
		n++;
		r = fn(e, ctx);
	}
	return r;
}

struct scan_key {
	crdt_elem_cb cb;
	void *ctx;
};

static int scan_key(const struct et_slot *e, void *ctx)
{
	const struct scan_key *k = ctx;

	return k->cb(et_key(e), et_len(e), k->ctx);
}

int et_scan_keys(const struct elemtab *t, uint64_t from, size_t count, crdt_elem_cb cb,
		 void *ctx, uint64_t *next)
{
	return et_scan(t, from, count, scan_key, &(struct scan_key){ cb, ctx }, next);
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

int et_list(const struct elemtab *t, struct et_slot ***ret)
{
	struct et_slot **v = NULL;
	size_t n = 0;

	if (t->count) {
		if (!(v = malloc(t->count * sizeof(*v))))
			return CRDT_ENOMEM;
		for (size_t i = et_walk(t, 0); i < et_cap(t); i = et_walk(t, i + 1))
			v[n++] = &t->s[i];
	}
	*ret = v;
	return 0;
}

int et_sorted(const struct elemtab *t, struct et_slot ***ret)
{
	int r = et_list(t, ret);

	if (r == 0)
		et_sort(*ret, t->count);
	return r;
}

bool et_seq_next(struct et_seq *q, const struct elemtab *t, const uint8_t *key, size_t klen,
		 uint32_t h)
{
	if (q->n++ > 0 && q->ordered) {
		int c = h != q->ph ? (q->ph < h ? -1 : 1) : et_keycmp(q->pkey, q->pklen, key, klen);
		if (c == 0)
			return false;
		q->ordered = c < 0;
	}
	q->ph = h;
	q->pkey = key;
	q->pklen = klen;
	return q->ordered || !et_find(t, key, klen, h);
}
