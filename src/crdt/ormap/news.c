/* News: whether an OR-Map piece (the entries whose dots a cut covered, with
 * the context clipped to those dots, codec.c) would change a map, told
 * from its context and its sender's summary of its live dots, without
 * decoding its fields (docs/encoding.md). */
#include <string.h>

#include "crdt/error.h"
#include "internal.h"

/* Why the rule holds: the OR-Set's (orset/news.c), entry by entry.  A dot
 * names one write, whose entry (its field, its register or counter rows)
 * never changes, so equal live dots inside the piece's context are equal
 * entries; the piece's context within ours adds no dot we lack; and a
 * piece cut through the dot index holds no baseline (they go in pieces of
 * their own, with no summary), so nothing else of it can change the map. */

/* Dots of the piece's context probed in our dot index, at most this many
 * per live dot its summary counts, plus a floor: a context fragmented by
 * deletes is news to decode rather than millions of probes. */
#define NEWS_PROBES_PER_DOT 4
#define NEWS_PROBES_MIN 256

int crdt_ormap_piece_is_news(struct crdt_ormap *m, const uint8_t *enc, size_t len,
			     uint64_t dots, uint64_t hash)
{
	struct crdt_cur c;
	const uint8_t *rids;
	size_t nr, nctx;
	uint64_t n = 0, sum = 0, probes = 0, prev = 0;
	uint64_t budget = dots > (UINT64_MAX - NEWS_PROBES_MIN) / NEWS_PROBES_PER_DOT
				  ? UINT64_MAX
				  : dots * NEWS_PROBES_PER_DOT + NEWS_PROBES_MIN;

	crdt_cur_init(&c, enc, len);
	if (crdt_codec_get_header(&c, CRDT_ORMAP) < 0 || crdt_codec_get_rids(&c, &rids, &nr) < 0 ||
	    crdt_cur_count(&c, 3, &nctx) < 0 || nctx > nr)
		return 1; /* the merge reports what is wrong with it */
	for (size_t k = 0; k < nctx; k++) {
		struct crdt_rid rid;
		uint64_t idx, lo, span, ph = 0, rh;
		size_t ni;
		uint32_t ri;

		if (crdt_cur_varint(&c, &idx) < 0 || idx >= nr || (k > 0 && idx <= prev) ||
		    crdt_cur_count(&c, 2, &ni) < 0 || ni == 0)
			return 1;
		prev = idx;
		memcpy(rid.b, rids + idx * CRDT_RID_LEN, CRDT_RID_LEN);
		if ((ri = rep_find(m, &rid)) == NO_REP)
			return 1; /* a replica we never heard of: its dots are news */
		rh = fp_rid(&rid);
		for (size_t i = 0; i < ni; i++) {
			if (crdt_cur_varint(&c, &lo) < 0 || crdt_cur_varint(&c, &span) < 0)
				return 1;
			if (i > 0) { /* as get_ctx: gaps of at least one counter */
				if (ph > UINT64_MAX - 2 || lo > UINT64_MAX - 2 - ph)
					return 1;
				lo += ph + 2;
			} else if (lo == 0) {
				return 1;
			}
			if (span > UINT64_MAX - lo)
				return 1;
			ph = lo + span;
			if (!ivs_cover(m->reps[ri].iv, m->reps[ri].n, lo, ph))
				return 1; /* (a): the piece's context has a dot we lack */
			if (span >= budget - probes)
				return 1;
			/* the index, once: what a merge of the piece would build */
			if (!m->dix.ok && dix_build(m) < 0)
				return 1;
			probes += span + 1;
			for (uint64_t d = lo;; d++) {
				if (dix_find(m, ri, d)) {
					n++;
					sum += piece_dot_hash(rh, d);
				}
				if (d == ph)
					break;
			}
			if (n > dots)
				return 1;
		}
	}
	return n != dots || sum != hash; /* (b) */
}
