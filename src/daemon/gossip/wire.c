/* The datagram format: header, records packed up to the MTU, and their
 * strict decoding (docs/protocol.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "be.h"
#include "crdt/error.h"
#include "gossip/wire.h"

const char *wire_type_name(int type)
{
	switch (type) {
	case WIRE_STATE: return "STATE";
	case WIRE_PING: return "PING";
	case WIRE_PONG: return "PONG";
	case WIRE_DIGEST: return "DIGEST";
	case WIRE_BUCKETS: return "BUCKETS";
	case WIRE_KEYS: return "KEYS";
	case WIRE_DELTA: return "DELTA";
	case WIRE_ACK: return "ACK";
	}
	return "?";
}

size_t wire_header_len(size_t node_len)
{
	return WIRE_HEADER_FIXED + crdt_varint_len(node_len) + node_len;
}

int wire_max_element(size_t mtu, size_t node_len, size_t name_len, enum crdt_type t,
		     size_t *ret)
{
	size_t fixed = wire_header_len(node_len) + crdt_varint_len(name_len) + name_len +
		       crdt_varint_len(mtu), room, best = 0;
	const struct crdt_type_ops *ops = crdt_type_ops(t);
	size_t over = ops ? ops->piece_overhead : 0;
	bool fits = false;

	if (!over)
		return -EINVAL;
	if (name_len > WIRE_NAME_MAX || fixed + over > mtu)
		return -EMSGSIZE;
	room = mtu - fixed - over;
	if (ops->value) { /* a counter: its pieces hold no element */
		*ret = 0;
		return 0;
	}
	/* the element's own length varint: the longest len with
	 * varint_len(len) + len <= room */
	for (size_t k = 1; k <= 10 && k <= room; k++) {
		if (crdt_varint_len(room - k) <= k && (!fits || room - k > best)) {
			best = room - k;
			fits = true;
		}
	}
	if (!fits)
		return -EMSGSIZE;
	*ret = best;
	return 0;
}

int wire_put_header(struct crdt_buf *b, enum wire_type type, const struct crdt_rid *rid,
		    const void *node, size_t node_len)
{
	if (node_len > WIRE_NODE_MAX)
		return -EMSGSIZE;
	crdt_buf_put(b, WIRE_MAGIC, WIRE_MAGIC_LEN);
	crdt_buf_put_u8(b, WIRE_VERSION);
	crdt_buf_put_u8(b, (uint8_t)type);
	crdt_buf_put_u8(b, 0); /* flags */
	crdt_buf_put(b, rid->b, CRDT_RID_LEN);
	return crdt_buf_put_bytes(b, node, node_len);
}

int wire_decode_fixed(const uint8_t *buf, size_t len, uint8_t *ret_flags)
{
	if (len == 0)
		return -EBADMSG;
	/* A datagram shorter than the magic is nobody's: call it bad magic only
	 * when the bytes that are there differ, else truncated. */
	if (len < WIRE_MAGIC_LEN)
		return memcmp(buf, WIRE_MAGIC, len) ? -ENOMSG : -EBADMSG;
	if (memcmp(buf, WIRE_MAGIC, WIRE_MAGIC_LEN))
		return -ENOMSG;
	if (len < WIRE_MAGIC_LEN + 1)
		return -EBADMSG;
	if (buf[WIRE_MAGIC_LEN] != WIRE_VERSION)
		return -EPROTONOSUPPORT;
	if (len < WIRE_FIXED_LEN)
		return -EBADMSG;
	if (buf[WIRE_MAGIC_LEN + 1] < WIRE_STATE || buf[WIRE_MAGIC_LEN + 1] > WIRE_TYPE_MAX)
		return -EBADMSG;
	*ret_flags = buf[WIRE_MAGIC_LEN + 2];
	return 0;
}

int wire_decode_header(const uint8_t *buf, size_t len, struct wire_header *ret,
		       size_t *ret_body_off)
{
	struct crdt_cur c;
	struct wire_header h = { 0 };
	const uint8_t *p;
	uint8_t type;

	int r;

	if ((r = wire_decode_fixed(buf, len, &h.flags)) < 0)
		return r;
	crdt_cur_init(&c, buf, len);
	(void)crdt_cur_take(&c, WIRE_FIXED_LEN, &p);
	h.version = buf[WIRE_MAGIC_LEN];
	type = buf[WIRE_MAGIC_LEN + 1];
	h.type = (enum wire_type)type;
	if (h.flags & ~WIRE_FLAGS_KNOWN)
		return -EBADMSG;
	if (crdt_cur_take(&c, CRDT_RID_LEN, &p) < 0)
		return -EBADMSG;
	memcpy(h.rid.b, p, CRDT_RID_LEN);
	if (crdt_cur_bytes(&c, &h.node, &h.node_len) < 0 || h.node_len > WIRE_NODE_MAX)
		return -EBADMSG;
	*ret = h;
	*ret_body_off = len - c.left;
	return 0;
}

/* One record's framing; the cursor moves past it only on success. */
static int next_record(struct crdt_cur *c, struct wire_record *ret)
{
	struct crdt_cur t = *c;
	struct wire_record r;

	if (crdt_cur_bytes(&t, &r.name, &r.name_len) < 0 || r.name_len > WIRE_NAME_MAX)
		return -EBADMSG;
	/* every libcrdt state starts with its tag and version */
	if (crdt_cur_bytes(&t, &r.state, &r.state_len) < 0 || r.state_len < 2)
		return -EBADMSG;
	*c = t;
	*ret = r;
	return 0;
}

int wire_parse_records(const uint8_t *body, size_t len, struct wire_record **ret, size_t *ret_n)
{
	struct crdt_cur c;
	struct wire_record r, *v;
	size_t n = 0;

	/* Count first, so the array is sized by records that are really there
	 * (each takes at least 4 bytes), never by a number off the wire. */
	crdt_cur_init(&c, body, len);
	while (c.left) {
		if (next_record(&c, &r) < 0)
			return -EBADMSG;
		n++;
	}
	if (n == 0)
		return -EBADMSG;
	if (!(v = malloc(n * sizeof(*v))))
		return -ENOMEM;
	crdt_cur_init(&c, body, len);
	for (size_t i = 0; i < n; i++)
		(void)next_record(&c, &v[i]);
	*ret = v;
	*ret_n = n;
	return 0;
}

void wire_records_names(const uint8_t *body, size_t len,
			void (*cb)(const uint8_t *name, size_t name_len, void *ctx), void *ctx)
{
	struct crdt_cur c;
	struct wire_record r;

	crdt_cur_init(&c, body, len);
	while (c.left && next_record(&c, &r) == 0)
		cb(r.name, r.name_len, ctx);
}

void wire_states_free(struct wire_state *s, size_t n)
{
	if (!s)
		return;
	for (size_t i = 0; i < n; i++)
		crdt_obj_done(&s[i].obj);
	free(s);
}

int wire_state_decode_filtered(const uint8_t *body, size_t len,
			       bool (*skip)(const struct wire_record *r, void *ctx), void *ctx,
			       struct wire_state **ret, size_t *ret_n)
{
	struct wire_record *rec;
	struct wire_state *st = NULL;
	size_t n, k = 0;
	int r;

	if ((r = wire_parse_records(body, len, &rec, &n)) < 0)
		return r;
	if (!(st = calloc(n, sizeof(*st)))) {
		free(rec);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (skip && skip(&rec[i], ctx))
			continue;
		st[k].name = rec[i].name;
		st[k].name_len = rec[i].name_len;
		st[k].enc = rec[i].state;
		st[k].enc_len = rec[i].state_len;
		r = crdt_obj_decode(rec[i].state, rec[i].state_len, &st[k].obj);
		if (r < 0) {
			wire_states_free(st, k);
			free(rec);
			return r == -ENOMEM ? -ENOMEM : -EPROTO;
		}
		k++;
	}
	free(rec);
	if (k == 0) {
		free(st);
		st = NULL;
	}
	*ret = st;
	*ret_n = k;
	return 0;
}

int wire_state_decode(const uint8_t *body, size_t len, struct wire_state **ret, size_t *ret_n)
{
	return wire_state_decode_filtered(body, len, NULL, NULL, ret, ret_n);
}

/* ---- digest rounds ----------------------------------------------------- */

size_t wire_sums_range_len(uint32_t first, uint32_t count)
{
	return crdt_varint_len(first) + crdt_varint_len(count) + 8 * (size_t)count;
}

int wire_put_sums_range(struct crdt_buf *b, uint32_t first, uint32_t count, const uint64_t *sums)
{
	uint8_t w[8];

	crdt_buf_put_varint(b, first);
	crdt_buf_put_varint(b, count);
	for (uint32_t i = 0; i < count; i++) {
		put_be64(w, sums[i]);
		crdt_buf_put(b, w, 8);
	}
	return b->err;
}

/* One pass checks (cb NULL), the next calls: a bad range anywhere costs
 * the whole datagram before anything acts on it. */
static int sums_pass(const uint8_t *body, size_t len, uint64_t space,
		     void (*cb)(uint32_t idx, uint64_t sum, void *ctx), void *ctx)
{
	struct crdt_cur c;
	size_t ranges = 0;

	crdt_cur_init(&c, body + WIRE_SUMS_HEAD, len - WIRE_SUMS_HEAD);
	while (c.left) {
		uint64_t first, count;
		const uint8_t *p;

		if (crdt_cur_varint(&c, &first) < 0 || crdt_cur_varint(&c, &count) < 0 ||
		    count == 0 || first >= space || count > space - first ||
		    crdt_cur_take(&c, 8 * (size_t)count, &p) < 0)
			return -EBADMSG;
		for (uint64_t i = 0; cb && i < count; i++)
			cb((uint32_t)(first + i), get_be64(p + 8 * i), ctx);
		ranges++;
	}
	return ranges ? 0 : -EBADMSG;
}

int wire_decode_sums(const uint8_t *body, size_t len, unsigned bits, unsigned gbits, bool buckets,
		     void (*cb)(uint32_t idx, uint64_t sum, void *ctx), void *ctx)
{
	uint64_t space = buckets ? 1ull << bits : 1ull << (bits - gbits);
	int r;

	if (len < WIRE_SUMS_HEAD || body[0] != bits || body[1] != gbits)
		return -EBADMSG;
	if ((r = sums_pass(body, len, space, NULL, NULL)) < 0)
		return r;
	return sums_pass(body, len, space, cb, ctx);
}

size_t wire_keys_head_len(uint32_t bucket)
{
	return crdt_varint_len(bucket) + 16;
}

int wire_put_keys_head(struct crdt_buf *b, uint32_t bucket, uint64_t from, uint64_t to)
{
	uint8_t w[8];

	crdt_buf_put_varint(b, bucket);
	put_be64(w, from);
	crdt_buf_put(b, w, 8);
	put_be64(w, to);
	return crdt_buf_put(b, w, 8);
}

int wire_put_key(struct crdt_buf *b, uint64_t key, uint64_t fp)
{
	uint8_t w[16];

	put_be64(w, key);
	put_be64(w + 8, fp);
	return crdt_buf_put(b, w, 16);
}

void wire_keys_get(const struct wire_keys *k, size_t i, uint64_t *ret_key, uint64_t *ret_fp)
{
	*ret_key = get_be64(k->pairs + 16 * i);
	*ret_fp = get_be64(k->pairs + 16 * i + 8);
}

int wire_decode_keys(const uint8_t *body, size_t len, unsigned bits, struct wire_keys *ret)
{
	struct crdt_cur c;
	struct wire_keys k = { 0 };
	const uint8_t *p;
	uint64_t bucket;

	crdt_cur_init(&c, body, len);
	if (crdt_cur_varint(&c, &bucket) < 0 || bucket >= 1ull << bits ||
	    crdt_cur_take(&c, 16, &p) < 0)
		return -EBADMSG;
	k.bucket = (uint32_t)bucket;
	k.from = get_be64(p);
	k.to = get_be64(p + 8);
	if (k.from > k.to || c.left % 16)
		return -EBADMSG;
	k.n = c.left / 16;
	k.pairs = c.p;
	for (size_t i = 0; i < k.n; i++) {
		uint64_t key, fp;
		wire_keys_get(&k, i, &key, &fp);
		if (key < k.from || key > k.to || key >> (64 - bits) != bucket)
			return -EBADMSG;
	}
	*ret = k;
	return 0;
}

int wire_encode_ping(struct crdt_buf *b, enum wire_type type, const struct crdt_rid *rid,
		     const void *node, size_t node_len, const struct wire_ping *p)
{
	uint8_t ts[8], clock[8];
	int r;

	if (type != WIRE_PING && type != WIRE_PONG)
		return -EINVAL;
	if ((r = wire_put_header(b, type, rid, node, node_len)) < 0)
		return r;
	put_be64(ts, p->ts);
	put_be64(clock, p->clock);
	crdt_buf_put_varint(b, p->seq);
	crdt_buf_put(b, ts, sizeof(ts));
	return crdt_buf_put(b, clock, sizeof(clock));
}

int wire_decode_ping(const uint8_t *body, size_t len, struct wire_ping *ret)
{
	struct crdt_cur c;
	struct wire_ping p;
	const uint8_t *ts, *clock;

	crdt_cur_init(&c, body, len);
	if (crdt_cur_varint(&c, &p.seq) < 0 || crdt_cur_take(&c, 8, &ts) < 0 ||
	    crdt_cur_take(&c, 8, &clock) < 0 || c.left)
		return -EBADMSG;
	p.ts = get_be64(ts);
	p.clock = get_be64(clock);
	*ret = p;
	return 0;
}

/* ---- delta intervals --------------------------------------------------- */

int wire_decode_delta(const uint8_t *body, size_t len, struct wire_delta *ret)
{
	struct wire_delta d;

	if (len <= WIRE_DELTA_HEAD)
		return -EBADMSG;
	d.epoch = get_be64(body);
	d.seq = get_be64(body + 8);
	if (d.seq == 0)
		return -EBADMSG;
	d.size = get_be32(body + 16);
	d.sum_dots = get_be32(body + 20);
	d.has_sum = d.sum_dots != 0;
	d.sum_dots -= d.has_sum;
	d.sum_hash = get_be64(body + 24);
	d.records = body + WIRE_DELTA_HEAD;
	d.len = len - WIRE_DELTA_HEAD;
	*ret = d;
	return 0;
}

int wire_encode_ack(struct crdt_buf *b, const struct crdt_rid *rid, const void *node,
		    size_t node_len, uint64_t epoch, const uint64_t *seq, size_t n)
{
	uint8_t e[8];
	int r;

	if (n == 0)
		return -EINVAL;
	if ((r = wire_put_header(b, WIRE_ACK, rid, node, node_len)) < 0)
		return r;
	put_be64(e, epoch);
	crdt_buf_put(b, e, sizeof(e));
	for (size_t i = 0; i < n; i++)
		if ((r = crdt_buf_put_varint(b, seq[i])) < 0)
			return r;
	return 0;
}

int wire_decode_ack(const uint8_t *body, size_t len, uint64_t *ret_epoch,
		    void (*cb)(uint64_t seq, void *ctx), void *ctx)
{
	struct crdt_cur c;
	uint64_t seq;

	if (len <= 8)
		return -EBADMSG;
	crdt_cur_init(&c, body + 8, len - 8);
	while (c.left) /* check all first: nothing is acted on for a bad one */
		if (crdt_cur_varint(&c, &seq) < 0 || seq == 0)
			return -EBADMSG;
	*ret_epoch = get_be64(body);
	crdt_cur_init(&c, body + 8, len - 8);
	while (c.left) {
		(void)crdt_cur_varint(&c, &seq);
		cb(seq, ctx);
	}
	return 0;
}

/* ---- packer ------------------------------------------------------------ */

int wire_packer_init(struct wire_packer *p, size_t mtu, const struct crdt_rid *rid,
		     const void *node, size_t node_len, wire_emit_cb emit, void *ctx)
{
	int r;

	if (mtu < WIRE_PACK_MIN || mtu > WIRE_DATAGRAM_MAX)
		return -EINVAL;
	if (node_len > WIRE_NODE_MAX)
		return -EMSGSIZE;
	*p = (struct wire_packer){ .mtu = mtu, .emit = emit, .ctx = ctx };
	crdt_buf_init(&p->dgram, mtu);
	crdt_buf_init(&p->scratch, 0);
	if ((r = crdt_buf_reserve(&p->dgram, mtu)) < 0 ||
	    (r = wire_put_header(&p->dgram, WIRE_STATE, rid, node, node_len)) < 0) {
		crdt_buf_done(&p->dgram);
		return r;
	}
	p->hdr_len = p->dgram.len;
	return 0;
}

int wire_packer_init_delta(struct wire_packer *p, size_t mtu, const struct crdt_rid *rid,
			   const void *node, size_t node_len, uint64_t epoch, wire_emit_cb emit,
			   void *ctx)
{
	uint8_t head[WIRE_DELTA_HEAD] = { 0 };
	int r;

	if ((r = wire_packer_init(p, mtu, rid, node, node_len, emit, ctx)) < 0)
		return r;
	p->dgram.data[WIRE_MAGIC_LEN + 1] = WIRE_DELTA; /* the header's type byte */
	put_be64(head, epoch);
	crdt_buf_put(&p->dgram, head, sizeof(head)); /* seq filled in at each flush */
	p->hdr_len = p->dgram.len;
	p->delta = true;
	return 0;
}

void wire_packer_done(struct wire_packer *p)
{
	if (!p)
		return;
	crdt_buf_done(&p->dgram);
	crdt_buf_done(&p->scratch);
}

int wire_packer_flush(struct wire_packer *p)
{
	int r;

	if (!p->nrec)
		return 0;
	if (p->delta) {
		bool sum = p->dgram_sum && p->nrec == 1;
		put_be64(p->dgram.data + p->hdr_len - 24, ++p->seq);
		put_be32(p->dgram.data + p->hdr_len - 16, p->dgram_size);
		put_be32(p->dgram.data + p->hdr_len - 12, sum ? p->dgram_sum_dots + 1 : 0);
		put_be64(p->dgram.data + p->hdr_len - 8, sum ? p->dgram_sum_hash : 0);
	}
	r = p->emit(p->dgram.data, p->dgram.len, p->ctx);
	p->datagrams++;
	p->records += p->nrec;
	p->nrec = 0;
	p->dgram.len = p->hdr_len; /* keep the header for the next one */
	return r;
}

static size_t record_len(size_t name_len, size_t state_len)
{
	return crdt_varint_len(name_len) + name_len + crdt_varint_len(state_len) + state_len;
}

/* Append one record, starting a new datagram when this one is too full.  The
 * caller has checked that the record fits an empty datagram. */
static int pack_record(struct wire_packer *p, const uint8_t *name, size_t name_len,
		       const uint8_t *state, size_t state_len)
{
	int r;

	if (record_len(name_len, state_len) > p->mtu - p->dgram.len &&
	    (r = wire_packer_flush(p)) != 0)
		return r;
	if (!p->nrec) {
		p->dgram_size = p->size;
		p->dgram_name_len = name_len;
		p->dgram_sum = p->sum;
		p->dgram_sum_dots = p->sum_dots;
		p->dgram_sum_hash = p->sum_hash;
	} else if (p->dgram_size &&
		   (p->size != p->dgram_size || name_len != p->dgram_name_len ||
		    memcmp(p->dgram.data + p->hdr_len + crdt_varint_len(name_len), name, name_len))) {
		p->dgram_size = 0; /* another instance's record, or another size */
	}
	crdt_buf_put_bytes(&p->dgram, name, name_len);
	if ((r = crdt_buf_put_bytes(&p->dgram, state, state_len)) < 0)
		return r; /* cannot happen: checked against mtu == dgram.max */
	p->nrec++;
	if (p->tap)
		p->tap(state, state_len, p->cur, p->sum, p->sum_dots, p->sum_hash, p->tap_ctx);
	return 0;
}

static int piece_cb(const uint8_t *piece, size_t len, void *ctx)
{
	struct wire_packer *p = ctx;

	if (record_len(p->name_len, len) > p->mtu - p->hdr_len)
		return -EMSGSIZE; /* the split broke its promise; do not send it */
	return pack_record(p, p->name, p->name_len, piece, len);
}

int wire_packer_add(struct wire_packer *p, const void *name, size_t name_len,
		    const struct crdt_obj *o, size_t *ret_size)
{
	size_t room, avail, max;
	int r;

	if (name_len > WIRE_NAME_MAX)
		return -EMSGSIZE;
	crdt_buf_reset(&p->scratch);
	if ((r = crdt_obj_encode(o, &p->scratch)) < 0)
		return r;
	room = p->mtu - p->hdr_len; /* in an empty datagram */
	if (record_len(name_len, p->scratch.len) <= room) {
		r = pack_record(p, name, name_len, p->scratch.data, p->scratch.len);
	} else {
		/* Too large for any datagram: cut it into pieces that each fill
		 * at most a whole datagram of their own. */
		if (crdt_varint_len(name_len) + name_len + 2 >= room)
			return -EMSGSIZE;
		avail = room - crdt_varint_len(name_len) - name_len;
		max = avail - crdt_varint_len(avail);
		p->name = name;
		p->name_len = name_len;
		p->splits++;
		r = crdt_obj_split(o, max, piece_cb, p);
		p->name = NULL;
	}
	if (r >= 0 && ret_size)
		*ret_size = p->scratch.len;
	return r;
}

/* A piece cut from a cursor: kept in scratch as well, for the caller to
 * fingerprint when it was the whole instance. */
static int cursor_piece_cb(const uint8_t *piece, size_t len, void *ctx)
{
	struct wire_packer *p = ctx;
	const struct crdt_cursor *cur = p->cur;
	int r;

	crdt_buf_reset(&p->scratch);
	crdt_buf_put(&p->scratch, piece, len);
	/* its summary, for the receiver to skip a piece that brings nothing
	 * (protocol.md, "Catch-up") */
	p->sum = cur->has_sum && cur->sum_dots < UINT32_MAX;
	p->sum_dots = p->sum ? (uint32_t)cur->sum_dots : 0;
	p->sum_hash = cur->sum_hash;
	r = piece_cb(piece, len, ctx);
	p->sum = false;
	return r;
}

size_t wire_packer_room(const struct wire_packer *p, size_t name_len)
{
	size_t room = p->mtu - p->hdr_len;

	if (crdt_varint_len(name_len) + name_len + 2 >= room)
		return 0;
	return room - crdt_varint_len(name_len) - name_len;
}

int wire_packer_add_piece(struct wire_packer *p, const void *name, size_t name_len,
			  const uint8_t *piece, size_t len, bool sum, uint32_t sum_dots,
			  uint64_t sum_hash)
{
	int r;

	if (name_len > WIRE_NAME_MAX || record_len(name_len, len) > p->mtu - p->hdr_len)
		return -EMSGSIZE;
	p->sum = sum;
	p->sum_dots = sum_dots;
	p->sum_hash = sum_hash;
	r = pack_record(p, name, name_len, piece, len);
	p->sum = false;
	return r;
}

int wire_packer_add_pieces(struct wire_packer *p, const void *name, size_t name_len,
			   struct crdt_obj *o, struct crdt_cursor *cur, size_t n, bool *ret_whole)
{
	size_t room = p->mtu - p->hdr_len, avail, max;
	uint64_t before = cur->pieces;
	bool fresh = before == 0 && !cur->done;
	int r;

	*ret_whole = false;
	if (!crdt_obj_has_pieces(o)) {
		if (cur->done || n == 0)
			return 0;
		r = wire_packer_add(p, name, name_len, o, NULL);
		if (r < 0)
			return r;
		cur->skipped += (uint64_t)r;
		cur->pieces++;
		cur->done = 1;
		*ret_whole = true; /* wire_packer_add encoded it whole first */
		return 0;
	}
	if (name_len > WIRE_NAME_MAX || crdt_varint_len(name_len) + name_len + 2 >= room)
		return -EMSGSIZE;
	avail = room - crdt_varint_len(name_len) - name_len;
	max = avail - crdt_varint_len(avail);
	p->name = name;
	p->name_len = name_len;
	p->cur = cur;
	cur->has_sum = 0; /* a type whose cut gives none */
	r = crdt_obj_pieces(o, cur, max, n, cursor_piece_cb, p);
	p->name = NULL;
	p->cur = NULL;
	if (r != 0)
		return r; /* an error, or 1: it only prepared, call again */
	if (fresh && cur->done && cur->pieces == 1 && cur->skipped == 0)
		*ret_whole = true; /* one piece covering every dot: the encoding */
	else if (fresh && cur->pieces > before)
		p->splits++;
	return 0;
}
