/* Merge: the bulk join of two states of like size, and the join of a small
 * source into a large set through the dot index. */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "internal.h"

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
