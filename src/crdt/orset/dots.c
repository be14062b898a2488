/* The dot pool: runs of sorted dots for elements with more than one (or
 * with a dot too large to sit inline in the slot), and its compaction. */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "internal.h"

/* Room for *@cap dots, no copy: from ET_HUGE bytes on in huge pages (the
 * encoder reads the runs in the table's order, at random, and 4 KiB pages would
 * miss the TLB on most of them), *@cap rounded up to fill them. */
static struct dot *pool_alloc(size_t *cap, bool *ret_mapped)
{
	const size_t per = ET_HUGE / sizeof(struct dot);

	if (*cap >= per) {
		*cap = (*cap + per - 1) / per * per;
		return et_mem_alloc(*cap * sizeof(struct dot), ret_mapped);
	}
	*ret_mapped = false;
	return malloc(*cap * sizeof(struct dot));
}

void pool_free(struct crdt_orset *s)
{
	if (s->pool)
		et_mem_free(s->pool, s->pcap * sizeof(*s->pool), s->pmapped);
	s->pool = NULL;
	s->pmapped = false;
}

int pool_reserve(struct crdt_orset *s, size_t n)
{
	size_t cap;
	struct dot *p;
	bool mapped;

	if (n <= s->pcap - s->plen)
		return 0;
	if (n > UINT32_MAX - s->plen)
		return CRDT_EMSGSIZE;
	cap = s->pcap ? s->pcap : 64;
	while (cap < s->plen + n)
		cap *= 2;
	if (cap * sizeof(*p) < ET_HUGE && !s->pmapped) {
		p = realloc(s->pool, cap * sizeof(*p));
		if (!p)
			return CRDT_ENOMEM;
		s->pool = p;
		s->pcap = cap;
		return 0;
	}
	if (!(p = pool_alloc(&cap, &mapped)))
		return CRDT_ENOMEM;
	if (s->plen)
		memcpy(p, s->pool, s->plen * sizeof(*p));
	pool_free(s);
	s->pool = p;
	s->pcap = cap;
	s->pmapped = mapped;
	return 0;
}

void pool_compact(struct crdt_orset *s)
{
	size_t live = s->plen - s->pfree, k = 0, cap = live ? live : 1;
	struct dot *np;
	bool mapped;

	if (s->pfree < 1024 || s->pfree < live)
		return;
	np = pool_alloc(&cap, &mapped);
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
	pool_free(s);
	s->pool = np;
	s->plen = k;
	s->pcap = cap;
	s->pmapped = mapped;
	s->pfree = 0;
}

int dot_qcmp(const void *x, const void *y)
{
	const struct dot *a = x, *b = y;
	return dot_cmp(a->ri, a->ctr, b->ri, b->ctr);
}
