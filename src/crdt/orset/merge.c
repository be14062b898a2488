/* Merge: the bulk join of two states of like size, and the join of a small
 * source into a large set through the dot index.  Both rest on the same
 * rule, per element: a dot survives if it is in both states, or in one
 * state and not in the other's context. */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "../fp.h"
#include "internal.h"

/* What both joins share.  Every allocation is made, and every lookup in
 * dst done, against the unchanged dst before the commit, which cannot
 * fail: on error dst is as it was. */
struct join {
	struct crdt_orset *dst;
	const struct crdt_orset *src;
	uint32_t *ms;  /* src replica -> dst replica, new ones appended */
	uint32_t *inv; /* dst replica -> src replica or NONE */
	uint32_t nr;   /* dst's replicas after the join */
	uint32_t *hit; /* per src element, in src slot order: its slot in dst or NONE */
	uint8_t **keys; /* copies of the new long keys, in src slot order */
	size_t nkeys, k;
	size_t nnew, pool_need, maxs, maxd;
	struct dot *scratch; /* one src element's surviving dots */
	/* the bulk join's fingerprint kept (NULL: not kept): dst's replicas
	 * after the join hashed (fp_reps), and the change to dst->fp_dots,
	 * counted dot by dot as the join adds and drops them */
	uint64_t *rh;
	uint64_t fpd;
	/* per replica new to dst (numbered in the join): a copy of src's
	 * intervals and their number, appended at the commit; one block */
	struct ivl **niv;
	uint32_t *nivn;
};

/* One src element in the commit, against its dst slot (if any). */
struct pairing {
	const struct et_slot *se;
	struct et_slot *de; /* NULL: dst lacks it */
	const struct dot *sd, *dd;
	size_t sn, dn;
	size_t keep; /* src dots that survive, in j->scratch */
	struct dot t1, t2;
};

static void join_done(struct join *j)
{
	free(j->rh);
	for (size_t i = 0; i < j->nkeys; i++)
		free(j->keys[i]);
	free(j->keys);
	free(j->scratch);
	free(j->hit);
	free(j->ms); /* and inv, in the same block */
	for (uint32_t i = 0; j->niv && i < j->nr; i++)
		free(j->niv[i]);
	free(j->niv); /* and nivn */
}

/* src's replicas numbered in dst, and room for the new ones reserved.
 * ms and inv are one block: inv has room for every replica of both. */
static int join_reps(struct join *j)
{
	const struct crdt_orset *src = j->src;

	j->nr = j->dst->nreps;
	j->ms = malloc(((size_t)src->nreps + j->dst->nreps + src->nreps + 1) * sizeof(*j->ms));
	if (!j->ms)
		return CRDT_ENOMEM;
	j->inv = j->ms + src->nreps;
	for (uint32_t x = 0; x < src->nreps; x++) {
		j->ms[x] = find_rep(j->dst, &src->reps[x].rid);
		if (j->ms[x] == NONE)
			j->ms[x] = j->nr++;
	}
	if (j->nr > MAX_REPLICAS)
		return CRDT_EMSGSIZE;
	if (reps_reserve(j->dst, j->nr) < 0)
		return CRDT_ENOMEM;
	for (uint32_t i = 0; i < j->nr; i++)
		j->inv[i] = NONE;
	for (uint32_t x = 0; x < src->nreps; x++)
		j->inv[j->ms[x]] = x;
	return 0;
}

/* Count what the element join will need: a src dot survives unless dst has
 * seen it and dropped it.  Where each src element sits in dst is kept in
 * hit[] so the commit does not look it up again; new long keys are copied
 * now, in src slot order, which the commit consumes in turn.  The small join
 * rewrites every element both hold at the pool's end, the bulk one only
 * those that gain dots (@all_shared). */
static int join_count(struct join *j, bool all_shared)
{
	/* Locals, not j's fields, in the loop: the calls out of it could
	 * change those, as far as the compiler knows, so each use reloads. */
	const struct crdt_orset *src = j->src;
	struct crdt_orset *dst = j->dst;
	const struct elemtab *st = &src->tab;
	const uint32_t *ms = j->ms;
	uint32_t *hit = malloc((st->count ? st->count : 1) * sizeof(*hit));
	size_t maxs = 1, maxd = 1, nnew = 0, pool_need = 0;
	struct dot t1, t2;
	int r = 0;

	if (!(j->hit = hit))
		return CRDT_ENOMEM;
	/* dst's table does not change in this pass: a copy the compiler can
	 * keep in registers */
	const struct elemtab dt = dst->tab;
	const struct et_slot *ss = st->s;
	const size_t cap = et_cap(st);

	for (size_t i = 0, u = 0; i < cap; i++) {
		const struct et_slot *e = &ss[i];
		const struct dot *sd, *dd = NULL;
		size_t sn, dn, keep = 0;
		struct et_slot *de;

		if (!et_used(e))
			continue;
		if (i + 8 < cap)
			et_prefetch(&dt, ss[i + 8].hash);
		sn = get_dots(src, e->pay, &t1, &sd);
		if (sn > maxs)
			maxs = sn;
		hit[u] = et_find_slot(&dt, e);
		de = hit[u] != NONE ? &dt.s[hit[u]] : NULL;
		u++;
		dn = de ? get_dots(dst, de->pay, &t2, &dd) : 0;
		if (dn > maxd)
			maxd = dn;
		for (size_t x = 0; x < sn; x++) {
			uint32_t ri = ms[sd[x].ri];
			if (!ctx_has(dst, ri, sd[x].ctr) || (de && dots_have(dd, dn, ri, sd[x].ctr)))
				keep++;
		}
		if (de) {
			if (keep || all_shared)
				pool_need += dn + keep;
		} else if (keep) {
			nnew++;
			pool_need += keep;
			if (et_len(e) > ET_INLINE) {
				if (!j->keys && !(j->keys = calloc(st->count, sizeof(*j->keys)))) {
					r = CRDT_ENOMEM;
					break;
				}
				j->keys[j->nkeys] = et_key_dup(et_key(e), et_len(e), &r);
				if (!j->keys[j->nkeys++]) {
					r = CRDT_ENOMEM;
					break;
				}
			}
		}
	}
	j->maxs = maxs;
	j->maxd = maxd;
	j->nnew = nnew;
	j->pool_need = pool_need;
	return r;
}

/* The room the commit writes into: the table sized once for the union,
 * and the pool. */
static int join_reserve(struct join *j)
{
	int r;

	j->scratch = malloc(j->maxs * sizeof(*j->scratch));
	if (!j->scratch)
		return CRDT_ENOMEM;
	r = et_reserve(&j->dst->tab, (size_t)j->dst->tab.count + j->nnew);
	return r < 0 ? r : pool_reserve(j->dst, j->pool_need);
}

/* The next src element from slot *@i on (the @u-th used one), its dots
 * that survive in dst's numbering, sorted, in j->scratch.  False at the end. */
static inline bool join_next(struct join *j, size_t *i, size_t *u, struct pairing *p)
{
	const struct elemtab *st = &j->src->tab;

	while (*i < et_cap(st) && !et_used(&st->s[*i]))
		(*i)++;
	if (*i == et_cap(st))
		return false;
	p->se = &st->s[(*i)++];
	/* looked up again: the inserts before this one moved slots */
	p->de = j->hit[*u] != NONE ? &j->dst->tab.s[et_find_slot(&j->dst->tab, p->se)] : NULL;
	(*u)++;
	p->sn = get_dots(j->src, p->se->pay, &p->t1, &p->sd);
	p->dd = NULL;
	p->dn = p->de ? get_dots(j->dst, p->de->pay, &p->t2, &p->dd) : 0;
	p->keep = 0;
	for (size_t x = 0; x < p->sn; x++) {
		uint32_t ri = j->ms[p->sd[x].ri];
		if (!ctx_has(j->dst, ri, p->sd[x].ctr) || dots_have(p->dd, p->dn, ri, p->sd[x].ctr))
			j->scratch[p->keep++] = (struct dot){ .ri = ri, .ctr = p->sd[x].ctr };
	}
	sort_dots(j->scratch, p->keep);
	return true;
}

/* Insert the element dst lacks with its surviving dots; NULL if none do. */
static inline struct et_slot *join_insert(struct join *j, const struct pairing *p)
{
	uint8_t *owned = NULL;
	struct et_slot *de;

	if (!p->keep)
		return NULL;
	if (et_len(p->se) > ET_INLINE) {
		owned = j->keys[j->k];
		j->keys[j->k++] = NULL;
	}
	de = et_insert_slot(&j->dst->tab, p->se, owned);
	set_dots(j->dst, de, j->scratch, p->keep);
	return de;
}

/* Sorted union of two sorted dot lists into @out; a dot in both once. */
static inline size_t dots_union(const struct dot *a, size_t an, const struct dot *b, size_t bn,
				struct dot *out)
{
	size_t x = 0, y = 0, n = 0;

	while (x < an || y < bn) {
		int c = x >= an ? 1 : y >= bn ? -1 : dot_cmp(a[x].ri, a[x].ctr, b[y].ri, b[y].ctr);
		if (c <= 0)
			out[n++] = a[x++];
		else
			out[n++] = b[y++];
		if (c == 0)
			y++;
	}
	return n;
}

/* @e's spilled run, of which the first @kept of its @dn dots stay. */
static inline void shrink_run(struct crdt_orset *s, struct et_slot *e, const struct dot *d, size_t dn,
		       size_t kept)
{
	s->pfree += dn - kept;
	if (kept == 1 && dot_inlinable(d[0].ri, d[0].ctr))
		e->pay = pay_inline(d[0].ri, d[0].ctr), s->pfree += 1;
	else
		e->pay = PAY_SPILL | (uint64_t)kept << 32 | (uint32_t)e->pay;
}

/* With the fingerprint kept (j->rh), the pair (element @e, dot @ri/@ctr
 * in dst's numbering) counted in, or out; *@eh caches the element's hash
 * (0: not yet). */
static inline void fp_dot(struct join *j, const struct et_slot *e, uint64_t *eh, uint32_t ri,
			  uint64_t ctr, bool in)
{
	uint64_t v;

	if (!j->rh)
		return;
	if (!*eh)
		*eh = fp_elem(et_key(e), et_len(e));
	v = fp_elem_dot(*eh, j->rh[ri], ctr);
	j->fpd += in ? v : 0 - v;
}

/* ---- the bulk join ----
 *
 * Every element of both sides is visited, O(|dst| + |src|), for two
 * states of like size.  Both tables are in elemtab order, so the join
 * walks them side by side, as a merge of two sorted lists: no element is
 * looked up, and every table is read and written in address order.  The
 * common element, one inline dot, takes no detour through dot arrays.
 * Most bulk joins go into a new table, through a dense array
 * (merge_dense()); a table with room for all of src takes a few new
 * elements in place (merge_bulk()). */

/* The run length or 1 of a payload that holds dots. */
static inline size_t pay_ndots(uint64_t pay)
{
	return pay_spilled(pay) ? (size_t)(pay >> 32) & 0x7fffffff : pay != PAY_NONE;
}

/* Where the front-to-back fill of a new table can end, so that it is
 * sized before anything that must not fail.  The walk counts the union's
 * elements by the top six bits of their hash.  An element's place is its
 * home or the place after the one before, so the last place is, for some
 * element j, home(j) plus the number of elements after j; for j in bucket
 * b that is at most the home of b's last hash plus the elements from
 * bucket b on, less one. */
#define FILL_SHIFT 26
#define FILL_BUCKETS (1u << (32 - FILL_SHIFT))

static size_t fill_end(const uint32_t *cnt, uint32_t hcap)
{
	const struct elemtab t = { .hcap = hcap }; /* for et_home() */
	size_t end = 0, after = 0;

	for (uint32_t b = FILL_BUCKETS; b-- > 0;) {
		uint32_t last = (uint32_t)((((uint64_t)b + 1) << FILL_SHIFT) - 1);
		after += cnt[b];
		if (after && et_home(&t, last) + after - 1 > end)
			end = et_home(&t, last) + after - 1;
	}
	return end;
}

/* Pass one of merge_bulk(), over the union in elemtab order: how many
 * src elements dst lacks (j->nnew), room in the pool for every run the
 * join could write (j->pool_need), and copies of the new long keys
 * (j->keys, in src order). */
static int bulk_count(struct join *j)
{
	const struct elemtab *st = &j->src->tab, *dt = &j->dst->tab;
	const struct et_slot *ss = st->s, *ds = dt->s;
	size_t i, k, maxs = 1, nnew = 0, need = 0;
	const size_t scap = et_cap(st), dcap = et_cap(dt);
	int r = 0;

	i = et_next_used(ss, scap, 0);
	k = et_next_used(ds, dcap, 0);
	while (i < scap) {
		const struct et_slot *e = &ss[i];
		int c = k < dcap ? et_hk_cmp(&ds[k], e) : 1;
		size_t sn;

		if (c < 0) { /* dst's alone */
			k = et_next_used(ds, dcap, k + 1);
			continue;
		}
		sn = pay_ndots(e->pay);
		if (sn > maxs)
			maxs = sn;
		i = et_next_used(ss, scap, i + 1);
		if (c == 0) {
			need += sn + pay_ndots(ds[k].pay); /* a union, at most */
			k = et_next_used(ds, dcap, k + 1);
			continue;
		}
		nnew++;
		if (pay_spilled(e->pay))
			need += sn; /* an inline dot stays inline */
		if (et_len(e) > ET_INLINE) {
			if (!j->keys && !(j->keys = calloc(st->count, sizeof(*j->keys)))) {
				r = CRDT_ENOMEM;
				break;
			}
			j->keys[j->nkeys] = et_key_dup(et_key(e), et_len(e), &r);
			if (!j->keys[j->nkeys++])
				break;
		}
	}
	j->maxs = maxs;
	j->nnew = nnew;
	j->pool_need = need;
	return r;
}

/* dst element @e: a dot src's context covers survives only if src's
 * element (dots @sd, @sn, in src's numbering; none if src lacks it) has
 * it.  An element left without dots is PAY_NONE.  @fresh: a shrunk run
 * is written anew at the pool's end instead of in place, so that dst's
 * runs are as they were (the dense join's, which may still fail). */
static inline __attribute__((always_inline)) void settle_dst(struct join *j, struct et_slot *e,
							   const struct dot *sd, size_t sn,
							   bool fresh)
{
	struct crdt_orset *dst = j->dst;
	const struct crdt_orset *src = j->src;
	const uint32_t *inv = j->inv;
	const struct dot *dd;
	struct dot t1, *o;
	size_t dn, kept = 0;
	uint64_t eh = 0;

	if (!pay_spilled(e->pay)) { /* one dot, inline: it stays or goes */
		uint32_t ri = (uint32_t)(e->pay >> IN_CTR_BITS), s = inv[ri];
		uint64_t ctr = e->pay & IN_CTR_MAX;
		if (s != NONE && ivs_have(src->reps[s].iv, src->reps[s].n, ctr) &&
		    !dots_have(sd, sn, s, ctr)) {
			fp_dot(j, e, &eh, ri, ctr, false);
			e->pay = PAY_NONE;
		}
		return;
	}
	dn = get_dots(dst, e->pay, &t1, &dd);
	o = fresh ? dst->pool + dst->plen : (struct dot *)dd;
	for (size_t x = 0; x < dn; x++) {
		uint32_t s = inv[dd[x].ri];
		if (s == NONE || !ivs_have(src->reps[s].iv, src->reps[s].n, dd[x].ctr) ||
		    dots_have(sd, sn, s, dd[x].ctr))
			o[kept++] = dd[x];
		else
			fp_dot(j, e, &eh, dd[x].ri, dd[x].ctr, false);
	}
	if (kept == dn)
		return;
	if (kept == 0)
		release_dots(dst, e);
	else if (o == dd)
		shrink_run(dst, e, dd, dn, kept);
	else
		set_dots(dst, e, o, kept);
}

/* src element @se's dots that survive, in dst's numbering, into
 * j->scratch, sorted: their count.  @dd, @dn: the dots dst holds for it. */
static inline size_t src_keep(struct join *j, const struct et_slot *se, const struct dot *dd,
			      size_t dn)
{
	struct dot t1;
	const struct dot *sd;
	size_t sn = get_dots(j->src, se->pay, &t1, &sd), keep = 0;

	for (size_t x = 0; x < sn; x++) {
		uint32_t ri = j->ms[sd[x].ri];
		if (!ctx_has(j->dst, ri, sd[x].ctr) || dots_have(dd, dn, ri, sd[x].ctr))
			j->scratch[keep++] = (struct dot){ .ri = ri, .ctr = sd[x].ctr };
	}
	sort_dots(j->scratch, keep);
	return keep;
}

/* src element @se joined into dst's @de, which holds it (its dst dots
 * settled); new runs go at the pool's end. */
static inline __attribute__((always_inline)) void join_shared(struct join *j,
								    const struct et_slot *se,
								    struct et_slot *de)
{
	struct crdt_orset *dst = j->dst;
	uint64_t sp = se->pay, dp = de->pay, eh = 0;

	if (!pay_spilled(sp) && sp != PAY_NONE && !pay_spilled(dp)) {
		/* one dot each (or none left in dst) */
		uint32_t ri = j->ms[sp >> IN_CTR_BITS];
		uint64_t ctr = sp & IN_CTR_MAX, mine = pay_inline(ri, ctr);
		if (dp == mine || ctx_has(dst, ri, ctr))
			return; /* dst has it, or has seen it go */
		fp_dot(j, se, &eh, ri, ctr, true);
		if (dp == PAY_NONE) {
			de->pay = mine;
			return;
		}
		/* both dots: a sorted run of two, room reserved */
		struct dot *o = dst->pool + dst->plen, a = { .ri = ri, .ctr = ctr },
			   b = { .ri = (uint32_t)(dp >> IN_CTR_BITS), .ctr = dp & IN_CTR_MAX };
		bool lt = dot_cmp(a.ri, a.ctr, b.ri, b.ctr) < 0;
		o[0] = lt ? a : b;
		o[1] = lt ? b : a;
		de->pay = PAY_SPILL | 2ULL << 32 | dst->plen;
		dst->plen += 2;
		return;
	}
	struct dot t2, *out = dst->pool + dst->plen;
	const struct dot *dd;
	size_t dn = get_dots(dst, dp, &t2, &dd), keep = src_keep(j, se, dd, dn), n;

	if (!keep)
		return;
	n = dots_union(dd, dn, j->scratch, keep, out);
	for (size_t x = 0; j->rh && n != dn && x < keep; x++)
		if (!dots_have(dd, dn, j->scratch[x].ri, j->scratch[x].ctr))
			fp_dot(j, se, &eh, j->scratch[x].ri, j->scratch[x].ctr, true);
	if (n != dn)
		set_dots(dst, de, out, n);
}

/* src element @se, which dst lacks, as it goes into dst: false if none of
 * its dots survive.  @owned, its key's copy (NULL: the image borrows
 * src's), is freed then. */
static inline __attribute__((always_inline)) bool join_new(struct join *j,
							  const struct et_slot *se,
							  uint8_t *owned, struct et_slot *img)
{
	uint64_t sp = se->pay, eh = 0;
	size_t keep;

	*img = *se;
	if (owned)
		img->k.ptr = owned;
	if (!pay_spilled(sp) && sp != PAY_NONE) {
		/* one dot: it survives unless dst has seen it */
		uint32_t ri = j->ms[sp >> IN_CTR_BITS];
		uint64_t ctr = sp & IN_CTR_MAX;
		if (!ctx_has(j->dst, ri, ctr)) {
			fp_dot(j, se, &eh, ri, ctr, true);
			img->pay = pay_inline(ri, ctr);
			return true;
		}
		free(owned);
		return false;
	}
	if (!(keep = src_keep(j, se, NULL, 0))) {
		free(owned);
		return false;
	}
	for (size_t x = 0; j->rh && x < keep; x++)
		fp_dot(j, se, &eh, j->scratch[x].ri, j->scratch[x].ctr, true);
	img->pay = PAY_NONE;
	set_dots(j->dst, img, j->scratch, keep);
	return true;
}

/* What the context's join at the commit needs, before anything changes:
 * dst's lists the room to take src's in place (their content unchanged), a
 * copy of src's for each replica new to dst.  0 or -ENOMEM. */
static int join_room(struct join *j)
{
	const struct crdt_orset *src = j->src;
	size_t nr = j->nr ? j->nr : 1;

	if (!(j->niv = calloc(nr, sizeof(*j->niv) + sizeof(*j->nivn))))
		return CRDT_ENOMEM;
	j->nivn = (uint32_t *)(j->niv + nr);
	for (uint32_t x = 0; x < src->nreps; x++) {
		const struct rep *b = &src->reps[x];
		uint32_t i = j->ms[x];
		if (i < j->dst->nreps) {
			if (ivs_reserve(&j->dst->reps[i], b->n) < 0)
				return CRDT_ENOMEM;
			continue;
		}
		if (!(j->niv[i] = ivs_dup(b->iv, b->n)))
			return CRDT_ENOMEM;
		j->nivn[i] = b->n;
	}
	return 0;
}

/* The context's join, once the elements' is done (join_room made the
 * room): in place, from the first of dst's intervals src's touch; new
 * replicas appended in dst's numbering. */
static void join_contexts(struct join *j)
{
	struct crdt_orset *dst = j->dst;

	for (uint32_t x = 0, nr = dst->nreps; x < j->nr; x++) {
		if (x >= nr) {
			rep_append(dst, &j->src->reps[j->inv[x]].rid, j->niv[x], j->nivn[x]);
			j->niv[x] = NULL;
		} else if (j->inv[x] != NONE) {
			struct rep *a = &dst->reps[x];
			const struct rep *b = &j->src->reps[j->inv[x]];
			uint32_t f = b->n ? ivs_from(a->iv, a->n, b->iv[0].lo) : a->n;
			a->n = f + ivs_join_into(a->iv + f, a->n - f, b->iv, b->n);
		}
	}
	pool_compact(dst);
}

/* The bulk join into a new table: one walk of both tables writes every
 * element of the union, settled and joined, in order, into a dense array,
 * without changing dst (new runs go after the pool's end); the table is
 * then sized for what the array holds and filled from it front to back,
 * a pass with no comparison.  On error dst is as it was.  A walk that found
 * nothing new and dropped nothing writes the payloads back in place. */
static int merge_dense(struct join *j)
{
	struct crdt_orset *dst = j->dst;
	const struct crdt_orset *src = j->src;
	const struct elemtab *st = &src->tab;
	const struct et_slot *ss = st->s, *ds = dst->tab.s;
	const size_t scap = et_cap(st), dcap = et_cap(&dst->tab);
	size_t i, k, n = 0, nnew = 0, ndrop = 0;
	size_t plen = dst->plen, pfree = dst->pfree; /* as they were, for an error */
	size_t *lk = NULL, nlk = 0;                  /* v's borrowed long keys */
	uint8_t **dk = NULL;                         /* dst's keys of dropped elements */
	size_t ndk = 0;
	uint32_t cnt[FILL_BUCKETS] = { 0 }, fill = 0;
	/* the array: a large one in huge pages (4 KiB faults cost more than
	 * the join), rounded to whole ones */
	size_t vsz = ((size_t)dst->tab.count + st->count + 1) * sizeof(struct et_slot);
	bool vmapped = false;
	struct et_slot *v = vsz < ET_HUGE ? malloc(vsz)
					  : et_mem_alloc(vsz = (vsz + ET_HUGE - 1) / ET_HUGE * ET_HUGE,
							 &vmapped);
	struct elemtab nt;
	int r = CRDT_ENOMEM;

	et_init(&nt);
	/* every run the walk can write: a union for each element both hold
	 * (two inline dots make a run of two), a shrunk or new run for each
	 * of the others; and src's longest run, in scratch */
	if (!v || !(j->scratch = malloc((src->plen + 1) * sizeof(*j->scratch))) ||
	    (r = pool_reserve(dst, (dst->plen - dst->pfree) + (src->plen - src->pfree) +
					   2 * (size_t)st->count)) < 0)
		goto fail;
	r = CRDT_ENOMEM;
	if (!(lk = malloc((st->count + 1) * sizeof(*lk))) ||
	    !(dk = malloc(((size_t)dst->tab.count + 1) * sizeof(*dk))))
		goto fail;
	i = et_next_used(ss, scap, 0);
	k = et_next_used(ds, dcap, 0);
	while (i < scap || k < dcap) {
		int c = k >= dcap ? 1 : i >= scap ? -1 : et_hk_cmp(&ds[k], &ss[i]);
		struct et_slot *img = &v[n];

		if (c > 0) { /* src's alone: its key borrowed until the end */
			const struct et_slot *se = &ss[i];
			i = et_next_used(ss, scap, i + 1);
			nnew++;
			if (!join_new(j, se, NULL, img))
				continue;
			if (et_len(img) > ET_INLINE)
				lk[nlk++] = n;
		} else {
			*img = ds[k];
			k = et_next_used(ds, dcap, k + 1);
			if (c == 0) {
				const struct et_slot *se = &ss[i];
				struct dot t2;
				const struct dot *sd;
				size_t sn = get_dots(src, se->pay, &t2, &sd);
				settle_dst(j, img, sd, sn, true);
				join_shared(j, se, img);
				i = et_next_used(ss, scap, i + 1);
			} else {
				settle_dst(j, img, NULL, 0, true);
			}
			if (img->pay == PAY_NONE) {
				ndrop++;
				if (et_len(img) > ET_INLINE)
					dk[ndk++] = img->k.ptr;
				continue;
			}
		}
		cnt[img->hash >> FILL_SHIFT]++;
		n++;
	}
	if (!nnew && !ndrop) {
		/* the same elements: each payload goes back to its slot */
		struct et_slot *w = dst->tab.s;
		for (size_t x = 0, y = et_next_used(w, dcap, 0); x < n; x++, y = et_next_used(w, dcap, y + 1))
			w[y].pay = v[x].pay;
		goto done;
	}
	/* the table, sized for n; the fill never needs its tail to grow */
	if ((r = et_init_next(&nt, &dst->tab, n)) < 0 ||
	    (n && (r = et_tail_room(&nt, fill_end(cnt, nt.hcap))) < 0))
		goto fail;
	for (size_t x = 0; x < nlk; x++) {
		struct et_slot *e = &v[lk[x]];
		uint8_t *owned = et_key_dup(et_key(e), et_len(e), &r);
		if (!owned) {
			while (x-- > 0)
				free(v[lk[x]].k.ptr);
			goto fail;
		}
		e->k.ptr = owned;
	}
	/* the fill: zeroed first in one streak (a mapped table is zeroed
	 * already), then each element at its home or after the one before */
	if (nt.s && !nt.mapped) /* none for an empty union */
		memset(nt.s, 0, et_cap(&nt) * sizeof(*nt.s));
	for (size_t x = 0; x < n; x++) {
		uint32_t at = et_home(&nt, v[x].hash);
		at = at < fill ? fill : at;
		nt.s[at] = v[x];
		fill = at + 1;
	}
	nt.count = (uint32_t)n;
	nt.end = fill;
	for (size_t x = 0; x < ndk; x++)
		free(dk[x]);
	et_adopt(&dst->tab, &nt);
done:
	ix_drop(dst);
	join_contexts(j);
	r = 0;
	goto out;
fail:
	dst->plen = plen;
	dst->pfree = pfree;
	et_done(&nt);
out:
	if (v)
		et_mem_free(v, vsz, vmapped);
	free(lk);
	free(dk);
	return r;
}

/* dst's replicas after the join hashed for fp_part, the new ones by src's
 * ids; NULL without memory (the fingerprint is then computed again). */
static uint64_t *fp_reps(const struct join *j)
{
	uint64_t *rh = malloc((j->nr ? j->nr : 1) * sizeof(*rh));

	for (uint32_t i = 0; rh && i < j->nr; i++)
		rh[i] = fp_rid(i < j->dst->nreps ? &j->dst->reps[i].rid : &j->src->reps[j->inv[i]].rid);
	return rh;
}

/* With @fp, dst->fp_dots is kept up to date dot by dot as the join adds
 * and drops them (fp_dot()), as merge_small() keeps it. */
static int merge_bulk(struct crdt_orset *dst, const struct crdt_orset *src, bool fp)
{
	struct join j = { .dst = dst, .src = src };
	size_t nins = 0, kk = 0; /* src's new elements, inserted after the walk */
	bool sweep = false;
	int r;

	if ((r = join_reps(&j)) < 0)
		goto out;
	if (fp)
		j.rh = fp_reps(&j); /* NULL: computed again when asked for */
	if ((r = join_room(&j)) < 0)
		goto out;
	/* A table with room for all of src takes a few new elements in place
	 * (each insert shifts the rest of its cluster): the first pieces of
	 * a catch-up into a table sized for all of it.  Otherwise a new one. */
	if (et_needs_growth(&dst->tab, (size_t)dst->tab.count + src->tab.count) ||
	    (size_t)src->tab.count * 16 > et_cap(&dst->tab)) {
		r = merge_dense(&j);
		goto fingerprint;
	}
	if ((r = bulk_count(&j)) < 0)
		goto out;
	if (!(j.scratch = malloc(j.maxs * sizeof(*j.scratch)))) {
		r = CRDT_ENOMEM;
		goto out;
	}
	if ((r = pool_reserve(dst, j.pool_need)) < 0)
		goto out;
	if (j.nnew && ((r = et_reserve(&dst->tab, (size_t)dst->tab.count + j.nnew)) < 0 ||
		       !(j.hit = malloc(j.nnew * sizeof(*j.hit))))) {
		r = r < 0 ? r : CRDT_ENOMEM;
		goto out;
	}
	ix_drop(dst);

	/* The commit, in place: nothing below fails. */
	{
		const struct elemtab *st = &src->tab;
		struct elemtab *dt = &dst->tab;
		const struct et_slot *ss = st->s;
		struct et_slot *ds = dt->s;
		const size_t scap = et_cap(st), dcap = et_cap(dt);
			size_t i, k;

		i = et_next_used(ss, scap, 0);
		k = et_next_used(ds, dcap, 0);
		while (i < scap || k < dcap) {
			int c = k >= dcap ? 1 : i >= scap ? -1 : et_hk_cmp(&ds[k], &ss[i]);
			struct et_slot *de;

			if (c > 0) { /* src's alone: inserted after the walk */
				j.hit[nins++] = (uint32_t)i;
				i = et_next_used(ss, scap, i + 1);
				continue;
			}
			de = &ds[k];
			if (c == 0) {
				const struct et_slot *se = &ss[i];
				struct dot t2;
				const struct dot *sd;
				size_t sn = get_dots(src, se->pay, &t2, &sd);
				settle_dst(&j, de, sd, sn, false);
				join_shared(&j, se, de);
				i = et_next_used(ss, scap, i + 1);
			} else {
				settle_dst(&j, de, NULL, 0, false);
			}
			k = et_next_used(ds, dcap, k + 1);
			sweep |= de->pay == PAY_NONE;
		}
	}
	/* src's new elements; then those left without dots go */
	for (size_t x = 0; x < nins; x++) {
		const struct et_slot *se = &src->tab.s[j.hit[x]];
		uint8_t *owned = et_len(se) > ET_INLINE ? j.keys[kk] : NULL;
		struct et_slot img;
		if (owned)
			j.keys[kk++] = NULL;
		if (join_new(&j, se, owned, &img))
			et_insert_slot(&dst->tab, &img, owned)->pay = img.pay;
	}
	if (sweep)
		et_sweep_zero(&dst->tab);
	join_contexts(&j);
	r = 0;
fingerprint:
	if (r == 0 && j.rh) {
		dst->fp_dots += j.fpd;
		dst->fp_ok = true;
	}
out:
	if (r < 0)
		dst->fp_ok = fp; /* dst is as it was */
	join_done(&j);
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

/* The fingerprint's part (crdt_orset_fingerprint) of element @key's dots
 * @d, their replicas hashed in @rh (by dst's numbering). */
static uint64_t fp_part(const uint8_t *key, size_t len, const struct dot *d, size_t n,
			const uint64_t *rh)
{
	uint64_t eh = fp_elem(key, len), sum = 0;

	for (size_t k = 0; k < n; k++)
		sum += fp_elem_dot(eh, rh[d[k].ri], d[k].ctr);
	return sum;
}


/* A dst dot under src's context, of an element src lacks: it goes. */
struct drop {
	uint64_t ctr;
	uint32_t ri, h;
	uint32_t slot; /* its element's, when found: an insert or a removal since may move it */
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

/* How many drops ahead the element's home slot is fetched: each lookup is
 * a cache miss in a large set, and these overlap. */
#define DROP_AHEAD 8

/* dst's dots under src's context, of elements src lacks, into @dp with
 * their elements' slots: 0, or 1 if the index disagrees with the table,
 * or -ENOMEM.  The index gives the dots first; their elements are then
 * looked up with the next ones' slots already on their way. */
static int find_drops(const struct join *j, struct dropper *dp)
{
	const struct crdt_orset *src = j->src, *dst = j->dst;
	size_t m = 0;

	for (uint32_t x = 0; x < src->nreps; x++) {
		const struct rep *b = &src->reps[x];
		if (j->ms[x] >= dst->nreps)
			continue; /* dst has no dots of this replica */
		dp->ri = j->ms[x];
		for (uint32_t y = 0; y < b->n; y++) {
			int r = ix_range(dst, j->ms[x], b->iv[y].lo, b->iv[y].hi, drop_cb, dp);
			if (r)
				return r;
		}
	}
	for (size_t x = 0; x < dp->n; x++) {
		struct drop q = dp->v[x];
		const struct et_slot *e;
		if (x + DROP_AHEAD < dp->n)
			et_prefetch(&dst->tab, dp->v[x + DROP_AHEAD].h);
		if (!(e = slot_of_dot(dst, q.h, q.ri, q.ctr)))
			return 1; /* the index disagrees with the table */
		if (et_find_slot(&src->tab, e) != NONE)
			continue; /* the src pass settles it */
		q.slot = (uint32_t)(e - dst->tab.s);
		dp->v[m++] = q;
	}
	dp->n = m;
	return 0;
}

/* Remove the dots find_drops() found, and the elements left without any. */
static void apply_drops(struct crdt_orset *dst, const struct dropper *dp)
{
	struct dot tmp;

	for (size_t x = 0; x < dp->n; x++) {
		const struct drop *q = &dp->v[x];
		struct et_slot *e = slot_of_dot_at(dst, q->slot, q->h, q->ri, q->ctr);
		const struct dot *dd;
		size_t dn, m = 0;

		if (!e)
			continue; /* cannot happen: find_drops() checked */
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
		shrink_run(dst, e, dd, dn, m);
	}
}

/* The fingerprint's part of the dots find_drops() found. */
static uint64_t drops_part(const struct crdt_orset *dst, const struct dropper *dp, const uint64_t *rh)
{
	uint64_t sum = 0;

	for (size_t x = 0; x < dp->n; x++) {
		const struct drop *q = &dp->v[x];
		const struct et_slot *e = slot_of_dot_at(dst, q->slot, q->h, q->ri, q->ctr);
		if (e)
			sum += fp_part(et_key(e), et_len(e), &(struct dot){ .ri = q->ri, .ctr = q->ctr }, 1, rh);
	}
	return sum;
}

/* 0 merged, < 0 error (dst unchanged), 1 if the index turned out not to
 * match the table (dst unchanged; the caller drops it and merges in bulk).
 * With @fp, dst->fp_dots is kept up to date dot by dot (the join touches
 * only src's elements and the dropped dots), so that a large set's
 * fingerprint after the merge costs its context, not its elements. */
static int merge_small(struct crdt_orset *dst, const struct crdt_orset *src, bool fp)
{
	struct join j = { .dst = dst, .src = src };
	size_t nempty = 0;
	struct dropper dp = { .dst = dst, .src = src };
	struct dot *kd = NULL; /* one dst element's dots that stay, after ia */
	struct ixent *ia = NULL; /* new dots for the index */
	size_t nia = 0;
	uint64_t *rh = NULL, fpd = dst->fp_dots;
	struct pairing p;
	int r = CRDT_ENOMEM;

	if ((r = join_reps(&j)) < 0 || (r = join_room(&j)) < 0 || (r = join_count(&j, true)) < 0)
		goto out;
	if ((r = find_drops(&j, &dp)) != 0)
		goto out;
	if ((r = join_reserve(&j)) < 0)
		goto out;
	/* the new dots' index entries, added after the commit in dot order
	 * (each then lands at its leaf's end: src's elements come in hash
	 * order, which moved half a leaf a dot); every kept dot counts in
	 * pool_need.  kd follows them in the same block. */
	_Static_assert(_Alignof(struct ixent) >= _Alignof(struct dot), "kd after ia");
	if (!(ia = malloc((j.pool_need + 1) * sizeof(*ia) + j.maxd * sizeof(*kd)))) {
		r = CRDT_ENOMEM;
		goto out;
	}
	kd = (struct dot *)(ia + j.pool_need + 1);
	if (fp && !(rh = fp_reps(&j)))
		fp = false;

	/* The commit; nothing below can fail (the index may be dropped). */
	for (size_t i = 0, u = 0; join_next(&j, &i, &u, &p);) {
		struct dot *o = dst->pool + dst->plen;
		size_t nk = 0, n;

		if (!p.de) {
			if (join_insert(&j, &p)) {
				for (size_t x = 0; x < p.keep; x++)
					ia[nia++] = (struct ixent){ .ri = j.scratch[x].ri,
								    .ctr = j.scratch[x].ctr,
								    .h = p.se->hash };
				if (fp)
					fpd += fp_part(et_key(p.se), et_len(p.se), j.scratch, p.keep, rh);
			}
			continue;
		}
		/* dst's dots: src's context covers it and src lacks it, it goes */
		for (size_t x = 0; x < p.dn; x++) {
			uint32_t s = j.inv[p.dd[x].ri];
			if (s == NONE || !ivs_have(src->reps[s].iv, src->reps[s].n, p.dd[x].ctr) ||
			    dots_have(p.sd, p.sn, s, p.dd[x].ctr))
				kd[nk++] = p.dd[x];
			else
				ix_del(dst, p.dd[x].ri, p.dd[x].ctr);
		}
		/* scratch's dots that dst had are in kd; the others are new */
		n = dots_union(kd, nk, j.scratch, p.keep, o);
		for (size_t x = 0; n > nk && x < p.keep; x++)
			if (!dots_have(kd, nk, j.scratch[x].ri, j.scratch[x].ctr))
				ia[nia++] = (struct ixent){ .ri = j.scratch[x].ri,
							    .ctr = j.scratch[x].ctr,
							    .h = p.de->hash };
		if (nk == p.dn && n == nk)
			continue;
		if (fp)
			fpd += fp_part(et_key(p.se), et_len(p.se), o, n, rh) -
			       fp_part(et_key(p.se), et_len(p.se), p.dd, p.dn, rh);
		set_dots(dst, p.de, o, n);
		nempty += n == 0; /* removed below, once no slot index is needed */
	}
	ix_add_all(dst, ia, nia);
	for (size_t i = 0; nempty && i < et_cap(&src->tab); i++) {
		const struct et_slot *e = &src->tab.s[i];
		uint32_t f;
		if (!et_used(e) || (f = et_find_slot(&dst->tab, e)) == NONE)
			continue;
		if (dst->tab.s[f].pay == PAY_NONE) {
			et_remove(&dst->tab, &dst->tab.s[f]);
			nempty--;
		}
	}

	if (fp)
		fpd -= drops_part(dst, &dp, rh);
	apply_drops(dst, &dp);

	join_contexts(&j); /* finally the context */
	dst->fp_dots = fpd;
	dst->fp_ok = fp;
	r = 0;
out:
	free(rh);
	free(ia);
	free(dp.v);
	join_done(&j);
	return r;
}

int crdt_orset_merge(struct crdt_orset *dst, const struct crdt_orset *src)
{
	size_t work = src->tab.count;
	bool fp = dst->fp_ok;

	if (dst == src)
		return 0;
	/* A state with no element whose context covers dst's (a DEL's delta,
	 * or a removal of every member, from a replica dst is in sync with):
	 * every dot dst holds lies in it, so the join keeps no element.  The
	 * table goes at once, as a local DEL's does (crdt_orset_clear), and
	 * only the contexts are joined below, instead of a removal per
	 * element (0.36 s of one loop pass at 1,000,000 members). */
	if (dst->tab.count && crdt_orset_clears(dst, src))
		(void)crdt_orset_clear(dst);
	if (src->tab.count <= 4) { /* a delta: joined in place (delta.c) */
		int r = orset_merge_few(dst, src);
		if (r <= 0)
			return r;
	}
	/* the fingerprint's dots part is computed again, unless the small
	 * join keeps it */
	dst->fp_ok = false;
	/* The small path wins while src is well below dst; the bulk one has
	 * the better constant.  Its index is built here if a bulk merge or
	 * the decoder left it unbuilt: O(|dst|) once, and every bulk merge
	 * that can leave it so costs as much. */
	for (uint32_t j = 0; j < src->nreps; j++)
		work += src->reps[j].n;
	if (work * 4 <= dst->tab.count && ix_build(dst) == 0) {
		int r = merge_small(dst, src, fp);
		if (r <= 0)
			return r;
		ix_drop(dst);
	}
	return merge_bulk(dst, src, fp);
}
