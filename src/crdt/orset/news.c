/* News: whether an OR-Set piece (a state clipped to dot ranges, split.c)
 * would change a set, told from its context and its sender's summary of
 * its live dots, without decoding its elements (docs/encoding.md). */
#include <string.h>

#include "crdt/error.h"
#include "internal.h"

/* Why the rule holds: P's context C_P and live dots D_P (all inside C_P),
 * merged into S (C_S, D_S).  The join keeps a dot of S outside C_P, a
 * dot both hold, and a dot of P outside C_S, under C_S u C_P.  With
 * C_P within C_S the context stays C_S and no dot of P is new unless S
 * holds it; with S's live dots inside C_P equal to D_P none of S's is
 * dropped.  So S u P = S.  A dot names one element, so equal dot sets are
 * equal (element, dot) pairs. */

int crdt_orset_piece_is_news(struct crdt_orset *s, const uint8_t *enc, size_t len,
			     uint64_t dots, uint64_t hash)
{
	struct crdt_cur c;
	const uint8_t *rids;
	size_t nr, ni;
	uint64_t n = 0, sum = 0;

	crdt_cur_init(&c, enc, len);
	if (crdt_codec_get_header(&c, CRDT_ORSET) < 0 || crdt_codec_get_rids(&c, &rids, &nr) < 0)
		return 1; /* the merge reports what is wrong with it */
	for (size_t i = 0; i < nr; i++) {
		struct crdt_rid rid;
		uint32_t ri;
		uint64_t prev = 0, gap, span, rh;

		memcpy(rid.b, rids + i * CRDT_RID_LEN, CRDT_RID_LEN);
		if ((ri = find_rep(s, &rid)) == NONE || crdt_cur_count(&c, 2, &ni) < 0 || ni == 0)
			return 1;
		/* The index, once: what a merge of the piece would build. */
		if (!s->ix_ok && ix_build(s) < 0)
			return 1;
		rh = fp_rid(&rid);
		for (size_t k = 0; k < ni; k++) {
			uint64_t lo, hi;
			if (crdt_cur_varint(&c, &gap) < 0 || crdt_cur_varint(&c, &span) < 0 ||
			    (k > 0 && gap == 0) || gap >= UINT64_MAX - prev)
				return 1;
			lo = prev + 1 + gap;
			if (span > UINT64_MAX - lo)
				return 1;
			hi = lo + span;
			prev = hi;
			if (!ivs_cover(s->reps[ri].iv, s->reps[ri].n, lo, hi))
				return 1; /* (a): the piece's context has a dot we lack */
			ix_sum(s, ri, lo, hi, rh, &n, &sum);
			if (n > dots)
				return 1;
		}
	}
	return n != dots || sum != hash; /* (b) */
}
