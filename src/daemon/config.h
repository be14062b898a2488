/* crdtd configuration: one table of typed keys (config.c), an ini file parsed
 * whole into a fresh struct, validated, and only then handed over.
 *
 *   struct config cfg;
 *   struct config_error err;
 *   int r = config_load("conf/crdtd.ini", &cfg, &err);
 *   if (r < 0) { fprintf(stderr, "%s\n", err.msg); return 1; }
 *   ...
 *   config_done(&cfg);
 *
 * A reload (SIGHUP) loads into a second struct and swaps only on success, so
 * a bad edit keeps the running config.  config.c has no global state.
 * Every key is listed, with its default, in conf/crdtd.ini and
 * docs/configuration.md; tests/unit/test_config.c checks all three agree. */
#ifndef CRDTD_CONFIG_H
#define CRDTD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

#define CONFIG_NAME_MAX 64      /* node and peer names: 1..64 of [A-Za-z0-9_.-] */
#define CONFIG_HOST_MAX 253     /* a DNS name, or an IP literal (IPv6 without brackets) */
#define CONFIG_PATH_MAX 1023    /* data_dir */
#define CONFIG_SOCKET_MAX 107   /* client_socket: sizeof(sun_path) - 1 */
#define CONFIG_PEERS_MAX 1024
#define CONFIG_SECRET_MAX 128   /* requirepass */

/* The longest line config_load() reads, in bytes, without its newline.  It is
 * far above the longest line config_dump() writes (a 64-byte name, " = ", a
 * quoted 1023-byte path), so every value that loads also loads back from a
 * dump; config_dump() refuses to write a longer line and a unit test writes
 * every key at its longest. */
#define CONFIG_LINE_MAX 4095

/* [storage] durability: when a write is on disk (docs/configuration.md). */
enum config_durability {
	CONFIG_DURABILITY_ALWAYS = 0, /* before the client's reply: group commit */
	CONFIG_DURABILITY_BATCH,      /* synced every batch_ms */
	CONFIG_DURABILITY_NONE,       /* left to the OS */
};

enum config_addr_kind {
	CONFIG_ADDR_HOSTNAME = 0, /* to be resolved by the daemon */
	CONFIG_ADDR_IPV4,
	CONFIG_ADDR_IPV6,
};

/* "host:port" or "[v6]:port" as written in the file, split but not resolved. */
struct config_addr {
	char host[CONFIG_HOST_MAX + 1]; /* IPv6 literals without the brackets */
	uint16_t port;                  /* 1..65535 */
	enum config_addr_kind kind;
};

/* "MIN-MAX" (or one number N, meaning N-N), e.g. a latency range in ms. */
struct config_range {
	unsigned min, max;
};

struct config_peer {
	char name[CONFIG_NAME_MAX + 1];
	struct config_addr addr;
	unsigned line; /* where it was defined, for messages */
};

struct config {
	char *path; /* the file this came from (owned) */

	struct {
		char name[CONFIG_NAME_MAX + 1];
		char data_dir[CONFIG_PATH_MAX + 1]; /* relative: to the daemon's cwd */
		struct config_addr listen;          /* UDP gossip */
		struct config_addr client;          /* RESP over TCP */
		char client_socket[CONFIG_SOCKET_MAX + 1]; /* "" = off */
		unsigned max_clients;
		size_t max_request_bytes;
		unsigned max_args;
		char requirepass[CONFIG_SECRET_MAX + 1]; /* "" = no AUTH */
	} node;

	struct {
		unsigned interval_ms;
		unsigned mtu;
		unsigned fanout; /* 0 = all peers */
		unsigned push_delay_ms;
		bool digests; /* rounds compare digests first */
		bool deltas;  /* local writes go as delta intervals */
		size_t rcvbuf; /* 0 = leave the kernel default */
		size_t sndbuf;
		size_t delta_log_bytes; /* the delta log's bound (gossip/dlog.h) */
		size_t piece_cache_bytes; /* 0 = no piece cache */
		unsigned max_clock_lead_ms;
	} gossip;

	struct {
		enum log_level level;
	} log;

	/* [slowlog]: SLOWLOG's threshold and length (client/slowlog.h) */
	struct {
		unsigned log_slower_than_us; /* Redis' slowlog-log-slower-than */
		unsigned max_len;            /* Redis' slowlog-max-len; 0 = keep none */
	} slowlog;

	struct {
		bool enabled;
		double loss;                  /* 0..1 */
		struct config_range latency_ms;
		double duplicate;             /* 0..1 */
		double reorder;               /* 0..1 */
		double partition_probability; /* 0..1 */
		unsigned seed;                /* 0 = from the clock */
	} simulation;

	struct {
		char key_file[CONFIG_PATH_MAX + 1];      /* "" = no authentication */
		char old_key_files[CONFIG_PATH_MAX + 1]; /* comma-separated */
		bool encrypt;
		bool accept_unknown_peers;
	} security;

	struct {
		unsigned max_name_bytes;
		unsigned max_element_bytes;
		unsigned max_value_bytes;
		unsigned max_elements;
		unsigned max_hash_fields;
		unsigned max_instances;
		unsigned max_peer_datagrams_per_sec; /* 0 = no limit */
	} limits;

	struct {
		enum config_durability durability;
		unsigned batch_ms; /* durability = batch: sync at least this often */
		size_t map_size;   /* largest the store file may grow */
	} storage;

	/* [clients]: output buffer limits, as redis' client-output-buffer-limit
	 * (bytes of replies not yet taken by the kernel; 0 = no limit) */
	struct {
		size_t output_high_water;    /* commands wait above this, until it drains */
		size_t output_hard_limit;    /* above it: disconnected at once */
		size_t output_soft_limit;    /* above it for output_soft_seconds: disconnected */
		unsigned output_soft_seconds;
	} clients;

	/* [http]: the metrics and status listener (http/server.h) */
	struct {
		struct config_addr listen; /* host[0] == 0: off */
		unsigned max_connections;
		size_t max_header_bytes;
		unsigned header_timeout_ms;
	} http;

	/* [keyspace]: deleted names (state/store.h, store_reclaim) */
	struct {
		unsigned reclaim_after; /* seconds; 0 = never reclaim */
	} keyspace;

	/* [peers], in file order; never contains node.name. */
	struct config_peer *peers; /* owned; NULL when n_peers == 0 */
	size_t n_peers;
};

enum config_type {
	CONFIG_STRING, /* char[size], length min..max */
	CONFIG_BOOL,   /* bool: yes/no, true/false, on/off, 1/0 */
	CONFIG_UINT,   /* unsigned, min..max */
	CONFIG_SIZE,   /* size_t, min..max, bytes; k/m/g suffixes (x1024) accepted */
	CONFIG_ENUM,   /* int-sized enum, one of enum_names */
	CONFIG_ADDR,   /* struct config_addr */
	CONFIG_PROB,   /* double, a probability 0..1 written as a decimal (0.25) */
	CONFIG_RANGE,  /* struct config_range "MIN-MAX", both within min..max */
};

#define CONFIG_F_REQUIRED  (1u << 0) /* no default: the file must set it */
#define CONFIG_F_NAME      (1u << 1) /* string restricted to [A-Za-z0-9_.-] */
#define CONFIG_F_RELOAD    (1u << 2) /* SIGHUP applies it (config_reload); others need a restart */
#define CONFIG_F_EMPTY     (1u << 3) /* CONFIG_ADDR: may be empty (host[0] == 0: off) */

/* One entry of the key table. */
struct config_key {
	const char *section;
	const char *name;
	enum config_type type;
	uint64_t min, max; /* numbers: bounds; strings: length bounds */
	const char *def;   /* default, as written in the file; NULL if required */
	size_t offset;     /* into struct config */
	size_t size;       /* of that field */
	unsigned flags;
	const char *const *enum_names; /* CONFIG_ENUM: NULL-terminated, index = value */
	const char *help;
};

/* A load error: msg reads like
 *   conf/a.ini:7: [gossip] mtu = 99999: must be between 512 and 65000 */
struct config_error {
	char msg[640];
	unsigned line; /* 0 when not tied to a line (missing file, missing key) */
};

/**
 * Parse the ini file at @path into a fresh config filled with defaults,
 * validate it, and only then move it into *ret (which the caller later passes
 * to config_done()).  Unknown sections and keys, duplicated keys and peers,
 * out-of-range values, bad addresses, lines that are not "[section]" or
 * "name = value", lines longer than CONFIG_LINE_MAX bytes, and missing
 * required keys are all errors.
 *
 * Returns 0 on success.  On failure *ret is untouched, @err (if not NULL)
 * holds a message naming file, line, section and key, and the return is
 * -errno from opening/reading the file (e.g. -ENOENT), -ENOMEM, or -EINVAL
 * for any problem with the contents.
 */
int config_load(const char *path, struct config *ret, struct config_error *err);

/** Free what a loaded config owns and zero it.  Accepts NULL and a zeroed
 * struct. */
void config_done(struct config *c);

/**
 * Fill *ret with the defaults of every key (required keys left empty), no
 * peers and no path.  Returns 0; *ret needs config_done() like a loaded one.
 */
int config_defaults(struct config *ret);

/** The key table, in file order; *ret_n gets its length. */
const struct config_key *config_keys(size_t *ret_n);

/** The table entry for section/name, or NULL. */
const struct config_key *config_key_find(const char *section, const char *name);

/**
 * Format @c's value of @key the way the file would spell it ("1400", "yes",
 * "info", "[::1]:7946").  Returns the length written, or -EMSGSIZE if @size
 * is too small (buf then holds a truncated string).
 */
int config_format_value(const struct config *c, const struct config_key *key, char *buf,
			size_t size);

/** "host:port", bracketing IPv6 literals.  Same return as above. */
int config_addr_format(const struct config_addr *a, char *buf, size_t size);

/**
 * Write @c as an ini file that config_load() reads back to the same values:
 * every section of the table, then [peers].  For --check-config and INFO.
 * Returns 0, -EMSGSIZE if a line would be longer than CONFIG_LINE_MAX (never
 * for a config that config_load() returned), or -EIO.
 */
int config_dump(const struct config *c, FILE *f);

/**
 * Apply what SIGHUP applies: copy into @running the value of every key of
 * @fresh flagged CONFIG_F_RELOAD, and the peer list (swapped: @fresh then
 * holds the old one, for config_done).  Every other key whose value differs
 * is left as it runs and passed to @restart_only (may be NULL), so the
 * caller can say it takes effect at the next start.  Returns how many
 * reloadable keys changed.
 */
size_t config_reload(struct config *running, struct config *fresh,
		     void (*restart_only)(const struct config_key *k, void *ctx), void *ctx);

#endif
