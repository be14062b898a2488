/* The piece cache: the records catch-up cuts made, kept per instance and
 * dot range until a change reaches the range (gossip/pcache.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/pcache.h"

/* One instance's runs, in the hash table by (key, t) and in the list of
 * use (most recent first). */
struct inst {
	const void *key;
	enum crdt_type t;
	size_t room;
	/* sorted by lo, none inside another; each run one allocation with
	 * its pieces, so that dropping one moves pointers only */
	struct pcache_run **runs;
	size_t n, cap;
	struct inst *hnext, *prev, *next;
};

/* A piece of the cut being recorded: where its bytes are in cut.data, its
 * summary, and the cursor it was cut at when it covers a dot range of its
 * own (an OR-Set's piece cut through the dot index). */
struct cut_piece {
	size_t off, len;
	bool sum;
	uint32_t dots;
	uint64_t hash;
	bool ranged;
	struct crdt_rid rid;
	uint64_t ctr;
};

struct pcache {
	size_t max;
	struct inst **tab; /* chains; tcap a power of two */
	size_t tcap;
	struct inst *head, *tail;
	struct pcache_stats st;
	struct {
		bool on;
		bool placeless; /* began in elemtab order: its range is unknown */
		const void *key;
		enum crdt_type t;
		size_t room;
		struct crdt_rid rid;
		uint64_t ctr, skipped;
		struct crdt_buf data;
		struct cut_piece *v;
		size_t n, cap;
	} cut;
	struct crdt_buf enc; /* a change's state, encoded to read its context */
};

/* ---- points of the dot space ------------------------------------------ */

static int pt_cmp(const struct crdt_rid *ar, uint64_t ac, const struct crdt_rid *br, uint64_t bc)
{
	int r = memcmp(ar->b, br->b, CRDT_RID_LEN);

	if (r)
		return r;
	return ac < bc ? -1 : ac > bc;
}

/* The run's lo compared with a point. */
static int lo_cmp(const struct pcache_run *r, const struct crdt_rid *rid, uint64_t ctr)
{
	return pt_cmp(&r->lo_rid, r->lo_ctr, rid, ctr);
}

/* Whether the run's hi lies past a point: the run reaches beyond it. */
static bool hi_after(const struct pcache_run *r, const struct crdt_rid *rid, uint64_t ctr)
{
	return r->hi_end || pt_cmp(&r->hi_rid, r->hi_ctr, rid, ctr) > 0;
}

/* Runs [0, i) have lo <= the point. */
static size_t lo_upto(const struct inst *in, const struct crdt_rid *rid, uint64_t ctr)
{
	size_t lo = 0, hi = in->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (lo_cmp(in->runs[mid], rid, ctr) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The first run whose hi lies past the point (his ascend with the los). */
static size_t hi_from(const struct inst *in, const struct crdt_rid *rid, uint64_t ctr)
{
	size_t lo = 0, hi = in->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (hi_after(in->runs[mid], rid, ctr))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* ---- instances --------------------------------------------------------- */

static size_t slot_of(const struct pcache *c, const void *key, enum crdt_type t)
{
	uint64_t h = (uint64_t)(uintptr_t)key * 0x9e3779b97f4a7c15ULL ^ (uint64_t)t;

	h ^= h >> 29;
	return (size_t)(h & (c->tcap - 1));
}

static struct inst *inst_find(const struct pcache *c, const void *key, enum crdt_type t)
{
	for (struct inst *in = c->tab[slot_of(c, key, t)]; in; in = in->hnext)
		if (in->key == key && in->t == t)
			return in;
	return NULL;
}

static void lru_unlink(struct pcache *c, struct inst *in)
{
	if (in->prev)
		in->prev->next = in->next;
	else
		c->head = in->next;
	if (in->next)
		in->next->prev = in->prev;
	else
		c->tail = in->prev;
	in->prev = in->next = NULL;
}

static void lru_front(struct pcache *c, struct inst *in)
{
	if (c->head == in)
		return;
	if (in->prev || in->next || c->tail == in)
		lru_unlink(c, in);
	in->next = c->head;
	if (c->head)
		c->head->prev = in;
	c->head = in;
	if (!c->tail)
		c->tail = in;
}

/* Free runs [i, j) of @in, their pieces counted in *@count. */
static void runs_drop(struct pcache *c, struct inst *in, size_t i, size_t j, uint64_t *count)
{
	if (i >= j)
		return;
	for (size_t k = i; k < j; k++) {
		*count += in->runs[k]->n;
		c->st.bytes -= in->runs[k]->bytes;
		free(in->runs[k]);
	}
	memmove(in->runs + i, in->runs + j, (in->n - j) * sizeof(*in->runs));
	in->n -= j - i;
}

/* Take @in out of the table and free it, its runs counted in *@count. */
static void inst_free(struct pcache *c, struct inst *in, uint64_t *count)
{
	struct inst **pp = &c->tab[slot_of(c, in->key, in->t)];

	runs_drop(c, in, 0, in->n, count);
	while (*pp != in)
		pp = &(*pp)->hnext;
	*pp = in->hnext;
	lru_unlink(c, in);
	c->st.bytes -= sizeof(*in) + in->cap * sizeof(*in->runs);
	c->st.instances--;
	free(in->runs);
	free(in);
}

static int tab_grow(struct pcache *c)
{
	size_t ncap = c->tcap * 2;
	struct inst **nt = calloc(ncap, sizeof(*nt));
	struct inst **old = c->tab;
	size_t ocap = c->tcap;

	if (!nt)
		return -ENOMEM;
	c->tab = nt;
	c->tcap = ncap;
	c->st.bytes += (ncap - ocap) * sizeof(*nt);
	for (size_t i = 0; i < ocap; i++)
		for (struct inst *in = old[i], *nx; in; in = nx) {
			size_t s = slot_of(c, in->key, in->t);
			nx = in->hnext;
			in->hnext = nt[s];
			nt[s] = in;
		}
	free(old);
	return 0;
}

static struct inst *inst_get(struct pcache *c, const void *key, enum crdt_type t)
{
	struct inst *in = inst_find(c, key, t);
	size_t s;

	if (in)
		return in;
	if (c->st.instances >= c->tcap && tab_grow(c) < 0)
		return NULL;
	if (!(in = calloc(1, sizeof(*in))))
		return NULL;
	in->key = key;
	in->t = t;
	s = slot_of(c, key, t);
	in->hnext = c->tab[s];
	c->tab[s] = in;
	c->st.instances++;
	c->st.bytes += sizeof(*in);
	lru_front(c, in);
	return in;
}

/* Make room for @need more bytes: whole instances go, least recently used
 * first, but never @keep.  Whether it fits now. */
static bool make_room(struct pcache *c, size_t need, const struct inst *keep)
{
	/* @keep was just used: it is last only when it is alone */
	while (c->st.bytes + need > c->max && c->tail && c->tail != keep)
		inst_free(c, c->tail, &c->st.evictions);
	return c->st.bytes + need <= c->max;
}

/* Insert @r (owned by @in from now on, or freed) keeping the
 * runs sorted by lo with none inside another: runs inside @r go, and @r
 * is not kept when one holds it already. */
static void run_insert(struct pcache *c, struct inst *in, struct pcache_run *r)
{
	size_t i = lo_upto(in, &r->lo_rid, r->lo_ctr), j;
	uint64_t superseded = 0;

	/* the run before (lo <= r's lo) holds r if its hi reaches r's hi */
	if (i > 0) {
		const struct pcache_run *p = in->runs[i - 1];
		if (p->hi_end || (!r->hi_end && pt_cmp(&p->hi_rid, p->hi_ctr, &r->hi_rid,
							r->hi_ctr) >= 0)) {
			c->st.evictions += r->n;
			free(r);
			return;
		}
		if (lo_cmp(p, &r->lo_rid, r->lo_ctr) == 0)
			i--; /* same lo, shorter: inside r */
	}
	for (j = i; j < in->n; j++) {
		const struct pcache_run *q = in->runs[j];
		if (!r->hi_end &&
		    (q->hi_end || pt_cmp(&q->hi_rid, q->hi_ctr, &r->hi_rid, r->hi_ctr) > 0))
			break;
	}
	runs_drop(c, in, i, j, &superseded); /* r holds their range, as it is now */
	if (in->n == in->cap) {
		size_t ncap = in->cap ? 2 * in->cap : 1; /* most hold one run */
		struct pcache_run **v = realloc(in->runs, ncap * sizeof(*v));
		if (!v) {
			c->st.evictions += r->n;
			free(r);
			return;
		}
		c->st.bytes += (ncap - in->cap) * sizeof(*v);
		in->runs = v;
		in->cap = ncap;
	}
	memmove(in->runs + i + 1, in->runs + i, (in->n - i) * sizeof(*in->runs));
	in->runs[i] = r;
	in->n++;
	c->st.bytes += r->bytes;
}

/* ---- the cache --------------------------------------------------------- */

int pcache_new(size_t max_bytes, struct pcache **ret)
{
	struct pcache *c;

	if (!max_bytes)
		return -EINVAL;
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	c->tcap = 64;
	if (!(c->tab = calloc(c->tcap, sizeof(*c->tab)))) {
		free(c);
		return -ENOMEM;
	}
	c->max = max_bytes;
	c->st.max_bytes = max_bytes;
	c->st.bytes = c->tcap * sizeof(*c->tab);
	/* a cut or a change larger than the whole cache is not kept or read */
	crdt_buf_init(&c->cut.data, max_bytes);
	crdt_buf_init(&c->enc, max_bytes);
	*ret = c;
	return 0;
}

void pcache_free(struct pcache *c)
{
	uint64_t n = 0;

	if (!c)
		return;
	while (c->head)
		inst_free(c, c->head, &n);
	free(c->tab);
	free(c->cut.v);
	crdt_buf_done(&c->cut.data);
	crdt_buf_done(&c->enc);
	free(c);
}

static bool run_whole(const struct pcache_run *r)
{
	static const struct crdt_rid zero;

	return r->fp && r->n == 1 && r->hi_end && r->lo_ctr == 0 &&
	       !memcmp(&r->lo_rid, &zero, sizeof(zero));
}

const struct pcache_run *pcache_whole(struct pcache *c, const void *key, enum crdt_type t)
{
	struct inst *in = inst_find(c, key, t);

	if (!in || in->n != 1 || !run_whole(in->runs[0]))
		return NULL;
	lru_front(c, in);
	return in->runs[0];
}

void pcache_put_whole(struct pcache *c, const void *key, enum crdt_type t, size_t room,
		      const uint8_t *enc, size_t len, uint64_t fp)
{
	struct crdt_cursor done = CRDT_CURSOR_INIT;

	if (len < PCACHE_WHOLE_MIN)
		return;
	pcache_cut_start(c, key, t, room, &done);
	pcache_cut_piece(c, enc, len, NULL, false, 0, 0);
	done.done = 1;
	pcache_cut_end(c, &done, fp);
}

const struct pcache_run *pcache_find(struct pcache *c, const void *key, enum crdt_type t,
				     size_t room, const struct crdt_cursor *at, bool *ret_ahead)
{
	struct inst *in = inst_find(c, key, t);
	size_t i;

	*ret_ahead = false;
	if (!in || at->done)
		return NULL;
	if (in->room != room) /* a whole encoding serves any room it fits */
		return in->n == 1 && run_whole(in->runs[0]) ? pcache_whole(c, key, t) : NULL;
	i = lo_upto(in, &at->rid, at->ctr);
	*ret_ahead = i < in->n;
	if (i == 0 || !hi_after(in->runs[i - 1], &at->rid, at->ctr))
		return NULL;
	lru_front(c, in);
	return in->runs[i - 1];
}

void pcache_hit(struct pcache *c, size_t n)
{
	c->st.hits += n;
}

/* What one cut's scratch may keep between cuts: a larger one (a G-Set
 * split whole) is given back. */
#define CUT_KEEP_BYTES (1u << 20)

void pcache_cut_start(struct pcache *c, const void *key, enum crdt_type t, size_t room,
		      const struct crdt_cursor *at)
{
	if (c->cut.data.cap > CUT_KEEP_BYTES) {
		crdt_buf_done(&c->cut.data);
		crdt_buf_init(&c->cut.data, c->max);
	}
	c->cut.on = true;
	c->cut.key = key;
	c->cut.t = t;
	c->cut.room = room;
	c->cut.rid = at->rid;
	c->cut.ctr = at->ctr;
	c->cut.placeless = at->bases;
	c->cut.skipped = at->skipped;
	c->cut.n = 0;
	crdt_buf_reset(&c->cut.data);
}

void pcache_cut_piece(struct pcache *c, const uint8_t *piece, size_t len,
		      const struct crdt_cursor *cur, bool sum, uint32_t sum_dots,
		      uint64_t sum_hash)
{
	struct cut_piece *p;

	if (!c->cut.on)
		return;
	if (c->cut.n == c->cut.cap) {
		size_t ncap = c->cut.cap ? 2 * c->cut.cap : 16;
		if (!(p = realloc(c->cut.v, ncap * sizeof(*p)))) {
			c->cut.on = false; /* keeps nothing of this cut */
			return;
		}
		c->cut.v = p;
		c->cut.cap = ncap;
	}
	p = &c->cut.v[c->cut.n];
	p->off = c->cut.data.len;
	p->len = len;
	if (crdt_buf_put(&c->cut.data, piece, len) < 0) {
		c->cut.on = false;
		return;
	}
	p->sum = sum;
	p->dots = sum_dots;
	p->hash = sum_hash;
	/* an OR-Set's piece cut through its dot index covers a range of its
	 * own; anything else (a whole split, another type) goes as one run */
	p->ranged = c->cut.t == CRDT_ORSET && cur && cur->has_sum;
	if (cur) {
		p->rid = cur->rid;
		p->ctr = cur->ctr;
	} else {
		p->rid = c->cut.rid;
		p->ctr = c->cut.ctr;
	}
	c->cut.n++;
}

void pcache_cut_abort(struct pcache *c)
{
	c->cut.on = false;
}

/* Pieces [i, j) of the cut as one run over [lo, hi) into @in. */
static void keep_run(struct pcache *c, struct inst *in, size_t i, size_t j,
		     const struct crdt_rid *lo_rid, uint64_t lo_ctr, const struct crdt_rid *hi_rid,
		     uint64_t hi_ctr, bool hi_end, uint64_t skipped, uint64_t fp)
{
	struct pcache_run *r;
	size_t data = 0, bytes, n = j - i;
	uint8_t *d;

	if (!hi_end && pt_cmp(lo_rid, lo_ctr, hi_rid, hi_ctr) >= 0)
		return; /* covers nothing */
	for (size_t k = i; k < j; k++)
		data += c->cut.v[k].len;
	bytes = sizeof(*r) + n * sizeof(*r->pieces) + data;
	if (!make_room(c, bytes, in) || !(r = malloc(bytes))) {
		c->st.evictions += n;
		return;
	}
	*r = (struct pcache_run){ .lo_rid = *lo_rid, .lo_ctr = lo_ctr, .hi_end = hi_end,
				  .skipped = skipped, .fp = fp, .n = n, .bytes = bytes,
				  .pieces = (struct pcache_piece *)(r + 1) };
	if (!hi_end) {
		r->hi_rid = *hi_rid;
		r->hi_ctr = hi_ctr;
	}
	d = (uint8_t *)(r->pieces + n);
	for (size_t k = i; k < j; k++) {
		const struct cut_piece *p = &c->cut.v[k];
		memcpy(d, c->cut.data.data + p->off, p->len);
		r->pieces[k - i] = (struct pcache_piece){
			.data = d, .len = p->len, .sum = p->sum, .sum_dots = p->dots,
			.sum_hash = p->hash };
		d += p->len;
	}
	run_insert(c, in, r);
}

void pcache_cut_end(struct pcache *c, const struct crdt_cursor *after, uint64_t fp)
{
	struct inst *in;
	size_t n = c->cut.n;
	bool ranged = true;
	uint64_t skipped = after->skipped - c->cut.skipped; /* by this cut */

	if (!c->cut.on)
		return;
	c->cut.on = false;
	if (!n || (n == 1 && fp && c->cut.v[0].len < PCACHE_WHOLE_MIN))
		return; /* nothing, or a small whole encoding */
	c->st.misses += n;
	if (c->cut.placeless)
		return; /* (a cursor's rid and ctr stay put in elemtab order) */
	for (size_t k = 0; k < n && ranged; k++)
		ranged = c->cut.v[k].ranged &&
			 (k == 0 || pt_cmp(&c->cut.v[k - 1].rid, c->cut.v[k - 1].ctr,
					   &c->cut.v[k].rid, c->cut.v[k].ctr) < 0);
	if (!(in = inst_get(c, c->cut.key, c->cut.t))) {
		c->st.evictions += n;
		return;
	}
	if (in->room != c->cut.room) { /* cut for another datagram size */
		runs_drop(c, in, 0, in->n, &c->st.drops);
		in->room = c->cut.room;
	}
	lru_front(c, in);
	if (!ranged) {
		keep_run(c, in, 0, n, &c->cut.rid, c->cut.ctr, &after->rid, after->ctr,
			 after->done != 0, skipped, fp);
	} else {
		/* piece k covers from its cursor (the first from where the cut
		 * began) to the next one's, the last to where the cut ended;
		 * a stretch the cut passed without a piece held nothing */
		for (size_t k = 0; k < n; k++) {
			const struct cut_piece *p = &c->cut.v[k];
			const struct crdt_rid *lr = k ? &p->rid : &c->cut.rid;
			uint64_t lc = k ? p->ctr : c->cut.ctr;
			if (k + 1 < n)
				keep_run(c, in, k, k + 1, lr, lc, &c->cut.v[k + 1].rid,
					 c->cut.v[k + 1].ctr, false, 0, 0);
			else
				keep_run(c, in, k, k + 1, lr, lc, &after->rid, after->ctr,
					 after->done != 0, skipped, n == 1 ? fp : 0);
		}
	}
	if (!in->n)
		inst_free(c, in, &c->st.evictions);
}

/* ---- changes ----------------------------------------------------------- */

/* Drop the runs that meet [lo, hi] of replica @rid. */
static void drop_interval(struct pcache *c, struct inst *in, const struct crdt_rid *rid,
			  uint64_t lo, uint64_t hi)
{
	size_t i = hi_from(in, rid, lo), j = lo_upto(in, rid, hi);

	runs_drop(c, in, i, j, &c->st.drops);
}

/* Drop the runs that meet the causal context of the OR-Set encoding @p:
 * its replica table and context come first (docs/encoding.md, "OR-Set").
 * -EBADMSG (nothing is known: the caller drops every run). */
static int drop_context(struct pcache *c, struct inst *in, const uint8_t *p, size_t len)
{
	struct crdt_cur cur;
	const uint8_t *rids;
	size_t nrids;

	crdt_cur_init(&cur, p, len);
	if (crdt_codec_get_header(&cur, CRDT_ORSET) < 0 ||
	    crdt_codec_get_rids(&cur, &rids, &nrids) < 0)
		return -EBADMSG;
	for (size_t i = 0; i < nrids; i++) {
		struct crdt_rid rid;
		uint64_t nint, prev = 0;
		memcpy(rid.b, rids + i * CRDT_RID_LEN, CRDT_RID_LEN);
		if (crdt_cur_varint(&cur, &nint) < 0 || nint == 0)
			return -EBADMSG;
		for (uint64_t k = 0; k < nint; k++) {
			uint64_t gap, span, lo, hi;
			if (crdt_cur_varint(&cur, &gap) < 0 || crdt_cur_varint(&cur, &span) < 0 ||
			    gap >= UINT64_MAX - prev || span > UINT64_MAX - (prev + gap + 1))
				return -EBADMSG;
			lo = prev + gap + 1;
			hi = lo + span;
			drop_interval(c, in, &rid, lo, hi);
			prev = hi;
		}
	}
	return 0;
}

bool pcache_holds(const struct pcache *c, const void *key, enum crdt_type t)
{
	return inst_find(c, key, t) != NULL;
}

void pcache_changed(struct pcache *c, const void *key, enum crdt_type t,
		    const struct store_change *ch)
{
	struct inst *in = inst_find(c, key, t);
	const struct crdt_obj *x = ch->remote ? ch->state : ch->delta;

	if (!in)
		return;
	/* S' = S ⊔ X, and restriction to a range distributes over the join:
	 * a range X's context misses keeps S's restriction (protocol.md) */
	if (t == CRDT_ORSET && x && x->type == CRDT_ORSET && x->p &&
	    (!ch->remote || crdt_obj_parts(x) <= PCACHE_PARSE_PARTS)) {
		crdt_buf_reset(&c->enc);
		if (crdt_obj_encode(x, &c->enc) < 0 ||
		    drop_context(c, in, c->enc.data, c->enc.len) < 0)
			runs_drop(c, in, 0, in->n, &c->st.drops);
	} else {
		runs_drop(c, in, 0, in->n, &c->st.drops);
	}
	if (!in->n)
		inst_free(c, in, &c->st.drops);
}

void pcache_forget(struct pcache *c, const void *key)
{
	for (int t = CRDT_TYPE_MIN; t <= CRDT_TYPE_MAX; t++) {
		struct inst *in = inst_find(c, key, (enum crdt_type)t);
		if (in)
			inst_free(c, in, &c->st.drops);
	}
}

void pcache_get_stats(const struct pcache *c, struct pcache_stats *ret)
{
	*ret = c->st;
}
