/* The dot pool: runs of sorted dots for elements with more than one (or
 * with a dot too large to sit inline in the slot), and its compaction. */
#include <stdlib.h>
#include <string.h>

#include "crdt/error.h"
#include "internal.h"

int pool_reserve(struct crdt_orset *s, size_t n)
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

void pool_compact(struct crdt_orset *s)
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

int dot_qcmp(const void *x, const void *y)
{
	const struct dot *a = x, *b = y;
	return dot_cmp(a->ri, a->ctr, b->ri, b->ctr);
}
