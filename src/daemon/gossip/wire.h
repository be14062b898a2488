/* The gossip datagram format (docs/protocol.md): pure code, no libuv, no I/O,
 * no logging.
 *
 * A datagram is a header (magic "CRDT", version, message type, flags, sender
 * replica id, sender node name) and a body:
 *   STATE  records until the end: name (bytes), state (bytes, a libcrdt
 *          encoding whose first byte is the type tag);
 *   PING   varint seq, 8-byte big-endian sender timestamp, 8-byte
 *          big-endian sender wall clock (ms);
 *   PONG   the seq and timestamp of the PING it answers, and the
 *          responder's own wall clock (ms);
 *   DIGEST, BUCKETS, KEYS  a digest round's group sums, the bucket sums of
 *          the groups that differed, and a bucket's (name key,
 *          fingerprint) pairs;
 *   DELTA  one numbered delta interval (or catch-up piece): its epoch,
 *          sequence, instance size and a piece's summary of its live dots,
 *          then records as STATE's;
 *   ACK    the delta intervals (or catch-up pieces) a receiver merged.
 * docs/protocol.md gives each byte by byte.
 *
 * Decoders take (buf, len), never read past len, and reject unknown versions,
 * types and flags, oversize names and trailing bytes.  Errors:
 *   -ENOMSG           bad magic: not a crdtd datagram
 *   -EPROTONOSUPPORT  a version this code does not speak
 *   -EBADMSG          malformed: truncated, unknown type or flag, oversize
 *                     name, trailing bytes, a STATE with no record
 *   -EPROTO           (wire_state_decode) a record's state is not a valid
 *                     libcrdt encoding
 *   -ENOMEM
 */
#ifndef CRDTD_WIRE_H
#define CRDTD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crdt/buf.h"
#include "crdt/obj.h"
#include "crdt/rid.h"

#define WIRE_MAGIC "CRDT"
#define WIRE_MAGIC_LEN 4
/* 2: PING and PONG carry the sender's wall clock; 3: DIGEST, BUCKETS and
 * KEYS (digest rounds); 4: DELTA and ACK (delta-state replication); 5: a
 * DELTA carries the size of the instance its pieces were cut from; 6: and
 * the summary of its one piece's live dots */
#define WIRE_VERSION 6

enum wire_type {
	WIRE_STATE = 1,
	WIRE_PING = 2,
	WIRE_PONG = 3,
	WIRE_DIGEST = 4,  /* group sums of the sender's digest */
	WIRE_BUCKETS = 5, /* bucket sums, for the groups that differed */
	WIRE_KEYS = 6,    /* (name key, fingerprint) of a bucket's instances */
	WIRE_DELTA = 7,   /* one numbered delta interval: records as STATE's */
	WIRE_ACK = 8,     /* the delta intervals a receiver has merged */
};
#define WIRE_TYPE_MAX WIRE_ACK

/* A sealed datagram (auth.h): key id and nonce follow the fixed header, an
 * authentication tag ends it; with WIRE_FLAG_ENCRYPTED the rest is
 * encrypted.  auth_open() turns it back into a plain datagram (flags 0),
 * which is all wire_decode_header() accepts. */
#define WIRE_FLAG_AUTH 0x01
#define WIRE_FLAG_ENCRYPTED 0x02
/* Flags a sealed datagram may carry. */
#define WIRE_FLAGS_SEALED (WIRE_FLAG_AUTH | WIRE_FLAG_ENCRYPTED)
/* Flags a plain datagram may carry: none. */
#define WIRE_FLAGS_KNOWN 0x00
/* Magic, version, type and flags: what a receiver reads before it has
 * checked a sealed datagram's tag. */
#define WIRE_FIXED_LEN (WIRE_MAGIC_LEN + 3)

#define WIRE_NAME_MAX 1024 /* instance name, bytes */
#define WIRE_NODE_MAX 255  /* sender node name, bytes */
/* Largest UDP payload over IPv4, and so the largest datagram we build or
 * accept. */
#define WIRE_DATAGRAM_MAX 65507
/* Fixed part of the header: magic, version, type, flags, replica id. */
#define WIRE_HEADER_FIXED (WIRE_MAGIC_LEN + 3 + CRDT_RID_LEN)
/* Smallest mtu configurable. */
#define WIRE_MTU_MIN 512
/* Smallest mtu the packer accepts: room for the longest header and a record
 * with a short name and a small state.  Below WIRE_MTU_MIN so that a sealed
 * datagram (auth.h, 44 bytes more) still fits the smallest mtu. */
#define WIRE_PACK_MIN 448

struct wire_header {
	uint8_t version;
	enum wire_type type;
	uint8_t flags;
	struct crdt_rid rid;
	const uint8_t *node; /* points into the datagram */
	size_t node_len;
};

/** One record of a STATE body; the pointers point into the datagram. */
struct wire_record {
	const uint8_t *name;
	size_t name_len;
	const uint8_t *state;
	size_t state_len;
};

/** A record whose state has been decoded.  The obj is owned by the array
 * (wire_states_free). */
struct wire_state {
	const uint8_t *name; /* points into the datagram */
	size_t name_len;
	struct crdt_obj obj;
	/* the bytes @obj was decoded from (the libcrdt encoding), in the
	 * datagram: a journal stores them as they came */
	const uint8_t *enc;
	size_t enc_len;
};

struct wire_ping {
	uint64_t seq;
	uint64_t ts;    /* PING sender's monotonic clock, opaque to the receiver */
	uint64_t clock; /* this datagram's sender's wall clock, ms since the epoch */
};

/** The longest element (set member, register value) a one-element piece of
 * a type-@t state named by @name_len bytes can carry, so that its STATE
 * datagram, sent by a node whose name is @node_len bytes, stays within @mtu
 * bytes: the header, the record's framing, and the most a piece of @t adds
 * to its element (per type, from the encodings in docs/encoding.md).  For a
 * counter, whose pieces hold replica entries and no element, *ret is 0.
 * @mtu is the plain datagram's budget (a seal's overhead taken off by the
 * caller).  0 and *ret, or -EMSGSIZE when not even an empty piece fits
 * beside that name; -EINVAL for an unknown type. */
int wire_max_element(size_t mtu, size_t node_len, size_t name_len, enum crdt_type t,
		     size_t *ret);

/** Encode a header into @b (appended).  @node_len <= WIRE_NODE_MAX, else
 * -EMSGSIZE; buffer errors as crdt_buf. */
int wire_put_header(struct crdt_buf *b, enum wire_type type, const struct crdt_rid *rid,
		    const void *node, size_t node_len);
/** Bytes wire_put_header writes for a node name of @node_len. */
size_t wire_header_len(size_t node_len);

/** Check the first WIRE_FIXED_LEN bytes (magic, version, known type) and
 * return the flags byte in *ret_flags, unchecked.  Errors as
 * wire_decode_header. */
int wire_decode_fixed(const uint8_t *buf, size_t len, uint8_t *ret_flags);

/** Decode the header of the datagram (@buf, @len).  On success *ret is set
 * and *ret_body_off is where the body starts.  Errors as above. */
int wire_decode_header(const uint8_t *buf, size_t len, struct wire_header *ret,
		       size_t *ret_body_off);

/** Check the framing of a whole STATE body and return its records: *ret is a
 * new array (free()) of *ret_n >= 1 records pointing into @body.  -EBADMSG,
 * -ENOMEM. */
int wire_parse_records(const uint8_t *body, size_t len, struct wire_record **ret, size_t *ret_n);

/** Parse a STATE body and decode every record's state.  Either every record
 * decodes and *ret (free with wire_states_free) holds them all, or nothing is
 * returned: a bad record costs the whole datagram.  -EBADMSG for framing,
 * -EPROTO for a state that does not decode, -ENOMEM. */
int wire_state_decode(const uint8_t *body, size_t len, struct wire_state **ret, size_t *ret_n);
/** Like wire_state_decode, but records for which @skip returns true are
 * left out (not decoded, not returned): the receiver's fast path for states
 * it already holds.  *ret_n may be 0 then, with *ret NULL. */
int wire_state_decode_filtered(const uint8_t *body, size_t len,
			       bool (*skip)(const struct wire_record *r, void *ctx), void *ctx,
			       struct wire_state **ret, size_t *ret_n);
/** Call @cb with each record's name in @body[0..len), in order, until the
 * end or a record whose framing is bad (no error: the decode that follows
 * reports it).  Allocates nothing. */
void wire_records_names(const uint8_t *body, size_t len,
			void (*cb)(const uint8_t *name, size_t name_len, void *ctx), void *ctx);
/** Free what wire_state_decode returned.  Accepts NULL. */
void wire_states_free(struct wire_state *s, size_t n);

/** Encode a whole PING or PONG datagram into @b. */
int wire_encode_ping(struct crdt_buf *b, enum wire_type type, const struct crdt_rid *rid,
		     const void *node, size_t node_len, const struct wire_ping *p);
/** Decode a PING/PONG body.  -EBADMSG when truncated or followed by more. */
int wire_decode_ping(const uint8_t *body, size_t len, struct wire_ping *ret);

/* ---- digest rounds (docs/protocol.md, "Digest rounds") ----------------- */

/* DIGEST and BUCKETS bodies: the digest's geometry (@bits: 2^bits buckets;
 * @gbits: 2^gbits buckets a group), then ranges until the end: first index
 * (varint), count (varint, >= 1), count 8-byte big-endian sums.  In a
 * DIGEST the indexes are groups' (< 2^(bits - gbits)), in BUCKETS
 * buckets' (< 2^bits). */
#define WIRE_SUMS_HEAD 2
/** Bytes a range of @count sums starting at @first takes. */
size_t wire_sums_range_len(uint32_t first, uint32_t count);
/** Append a range to a DIGEST or BUCKETS body being built in @b. */
int wire_put_sums_range(struct crdt_buf *b, uint32_t first, uint32_t count, const uint64_t *sums);
/** Check a whole DIGEST (@buckets false) or BUCKETS body against our
 * geometry, then call @cb for each (index, sum) in order.  Nothing is
 * called for a malformed body: -EBADMSG for framing, an index out of
 * range, no range at all, or a geometry other than (@bits, @gbits). */
int wire_decode_sums(const uint8_t *body, size_t len, unsigned bits, unsigned gbits, bool buckets,
		     void (*cb)(uint32_t idx, uint64_t sum, void *ctx), void *ctx);

/* KEYS body: bucket (varint), from and to (8-byte big-endian each, the
 * range of name keys it covers, inclusive), then (key, fingerprint) pairs
 * of 8-byte big-endian words until the end: every instance of the sender's
 * in that bucket whose key lies in [from, to]. */
struct wire_keys {
	uint32_t bucket;
	uint64_t from, to;
	const uint8_t *pairs; /* into the datagram; 16 bytes each */
	size_t n;
};
/** Bytes of a KEYS body's fixed part for bucket @bucket. */
size_t wire_keys_head_len(uint32_t bucket);
/** Append a KEYS body's fixed part, then wire_put_key for each pair. */
int wire_put_keys_head(struct crdt_buf *b, uint32_t bucket, uint64_t from, uint64_t to);
int wire_put_key(struct crdt_buf *b, uint64_t key, uint64_t fp);
/** Check a whole KEYS body: the bucket below 2^@bits, from <= to, and each
 * pair's key in the range and in the bucket (its top @bits bits).
 * -EBADMSG otherwise. */
int wire_decode_keys(const uint8_t *body, size_t len, unsigned bits, struct wire_keys *ret);
/** Pair @i of a decoded KEYS body. */
void wire_keys_get(const struct wire_keys *k, size_t i, uint64_t *ret_key, uint64_t *ret_fp);

/* ---- delta intervals (docs/protocol.md, "Delta intervals") ------------- */

/* DELTA body: the sender's epoch (8 bytes big-endian: one per start of the
 * sender), the interval's sequence number (8 bytes big-endian, >= 1), the
 * size (4 bytes big-endian: 0, or every record is a piece of one instance
 * that held that many members or fields at the sender, up to 2^32 - 1),
 * the summary of its one piece (4 bytes big-endian: 0 for none, else 1 +
 * the piece's live dots; then 8 bytes big-endian: their sum hash,
 * crdt_orset_piece_is_news), then records as in STATE (at least one).  ACK body: the epoch being
 * acknowledged, then sequence numbers (varint, >= 1 each, at least one)
 * until the end. */
#define WIRE_DELTA_HEAD 32
struct wire_delta {
	uint64_t epoch, seq;
	uint32_t size; /* of the instance cut, 0 for none */
	bool has_sum;  /* the datagram's one record is a piece with a summary */
	uint32_t sum_dots;
	uint64_t sum_hash;
	const uint8_t *records; /* into the datagram: a STATE body */
	size_t len;
};
/** Check a DELTA body's fixed part (the records are checked when they are
 * decoded, as STATE's).  -EBADMSG when truncated, seq 0 or no record
 * bytes. */
int wire_decode_delta(const uint8_t *body, size_t len, struct wire_delta *ret);
/** A whole ACK datagram of @n sequence numbers into @b. */
int wire_encode_ack(struct crdt_buf *b, const struct crdt_rid *rid, const void *node,
		    size_t node_len, uint64_t epoch, const uint64_t *seq, size_t n);
/** Check a whole ACK body, then call @cb for each sequence number.  Nothing
 * is called for a malformed one (-EBADMSG: truncated, no number, a 0). */
int wire_decode_ack(const uint8_t *body, size_t len, uint64_t *ret_epoch,
		    void (*cb)(uint64_t seq, void *ctx), void *ctx);

/* ---- packing instances into datagrams ---------------------------------- */

/** Receives each finished datagram; it is valid only during the call.  A
 * non-zero return stops the packer and is returned by the call that
 * flushed. */
typedef int (*wire_emit_cb)(const uint8_t *dgram, size_t len, void *ctx);

/** Packs many instances into STATE datagrams of at most mtu bytes each:
 * small instances share a datagram, an instance too large for one is cut
 * with crdt_obj_split into pieces that are each a complete, independently
 * mergeable state.  Every datagram is encoded once; the emit callback may
 * send it to as many peers as it likes. */
struct wire_packer {
	size_t mtu;
	size_t hdr_len;
	struct crdt_buf dgram;   /* header + the records so far */
	struct crdt_buf scratch; /* the encoding of the instance being added */
	size_t nrec;             /* records in dgram */
	const uint8_t *name;     /* of the instance being split */
	size_t name_len;
	struct crdt_cursor *cur; /* of the instance being cut, during the call */
	wire_emit_cb emit;
	void *ctx;
	/* a DELTA packer (wire_packer_init_delta): each datagram is numbered
	 * with ++seq as it is emitted */
	bool delta;
	uint64_t seq;
	/* The size a DELTA datagram carries: set by the caller to the size of
	 * the instance whose pieces it adds next (0 for none); a datagram gets
	 * it if every record in it is of that instance and added under it. */
	uint32_t size;
	uint32_t dgram_size;
	/* The summary of the datagram's record (crdt_cursor's has_sum,
	 * sum_dots, sum_hash), sent only when it is the datagram's one
	 * record: set for the record being added (cursor_piece_cb). */
	bool sum, dgram_sum;
	uint32_t sum_dots, dgram_sum_dots;
	uint64_t sum_hash, dgram_sum_hash;
	size_t dgram_name_len; /* of the datagram's first record */
	/* NULL, or called with each record's state as it is packed, with the
	 * cursor of the cut it came from (NULL for none) and the summary it
	 * goes with: the piece cache records a cut through it */
	void (*tap)(const uint8_t *state, size_t len, const struct crdt_cursor *cur, bool sum,
		    uint32_t sum_dots, uint64_t sum_hash, void *ctx);
	void *tap_ctx;
	uint64_t datagrams; /* emitted */
	uint64_t records;   /* emitted */
	uint64_t splits;    /* instances that needed crdt_obj_split */
};

/** @mtu in [WIRE_PACK_MIN, WIRE_DATAGRAM_MAX], else -EINVAL; @node_len <=
 * WIRE_NODE_MAX, else -EMSGSIZE.  Allocates the datagram buffer; release
 * with wire_packer_done. */
int wire_packer_init(struct wire_packer *p, size_t mtu, const struct crdt_rid *rid,
		     const void *node, size_t node_len, wire_emit_cb emit, void *ctx);
/** The same, for DELTA datagrams of epoch @epoch: each one emitted is
 * numbered p->seq + 1 and p->seq moves on (set p->seq first). */
int wire_packer_init_delta(struct wire_packer *p, size_t mtu, const struct crdt_rid *rid,
			   const void *node, size_t node_len, uint64_t epoch, wire_emit_cb emit,
			   void *ctx);
void wire_packer_done(struct wire_packer *p);
/** Add the state @o of instance @name.  On success *ret_size (if not NULL)
 * is the size of its whole encoding, and the return is the number of pieces
 * left out because alone they do not fit a datagram (a set element too long
 * for it: crdt_obj_split skips it and packs the rest).  -EMSGSIZE when the
 * name is longer than WIRE_NAME_MAX or the whole instance cannot fit (a
 * register, a counter under a name too long: it is skipped, the datagrams
 * already packed kept); -ENOMEM; or the emit callback's negative return. */
int wire_packer_add(struct wire_packer *p, const void *name, size_t name_len,
		    const struct crdt_obj *o, size_t *ret_size);
/** Add up to @n pieces of @o from @cur on, each a record filling at most a
 * datagram of its own (crdt_obj_pieces): a large OR-Set is cut a little at
 * a time and may change between calls.  A type with no pieces row goes
 * whole at the first call (wire_packer_add).  *ret_whole: what went is the
 * instance's whole encoding, still in p->scratch.  0 (cur->done once all
 * went, cur->skipped counting what was left out), 1 when the call only
 * built part of the set's dot index (call again later), -EMSGSIZE,
 * -ENOMEM, or the emit callback's negative return. */
int wire_packer_add_pieces(struct wire_packer *p, const void *name, size_t name_len,
			   struct crdt_obj *o, struct crdt_cursor *cur, size_t n, bool *ret_whole);
/** Bytes of a record's state (a piece) in an empty datagram of @p under a
 * name of @name_len bytes: the room wire_packer_add_pieces cuts for. */
size_t wire_packer_room(const struct wire_packer *p, size_t name_len);
/** Add one piece encoded already (one that wire_packer_add_pieces packed
 * before, as the tap saw it) as a record of its own, with its summary
 * (@sum false: none).  0, -EMSGSIZE when it does not fit an empty
 * datagram, -ENOMEM, or the emit callback's negative return. */
int wire_packer_add_piece(struct wire_packer *p, const void *name, size_t name_len,
			  const uint8_t *piece, size_t len, bool sum, uint32_t sum_dots,
			  uint64_t sum_hash);
/** Emit the datagram being filled, if it holds a record. */
int wire_packer_flush(struct wire_packer *p);

/** Constant name of a wire_type; "?" if unknown. */
const char *wire_type_name(int type);

#endif
