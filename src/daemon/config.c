/* crdtd configuration.  See config.h.
 *
 * The model is redis' config.c: every key is one row of config_table below,
 * with its type, bounds, default and place in struct config.  Defaults are
 * written as strings and go through the same parser as the file, so a default
 * can never be outside its own bounds (a unit test applies them all).
 *
 * The file format is inih's (the syntax in docs/configuration.md), read by
 * our own line reader and tokeniser.  The loader used inih until issue 15: its
 * packaged build (Debian's r55) has a fixed 200-byte line buffer, far below
 * the longest values the table accepts (1023-byte paths, 253-byte hosts), so
 * a value could load when written "key=value" and fail when config_dump()
 * wrote it back as "key = value".  Now one bound, CONFIG_LINE_MAX, is well
 * above the longest line a dump can produce, and config_dump() checks it.
 * Besides, inih had to be kept from accepting what we refuse: indented lines
 * as continuations, "name: value", unknown sections with no keys.
 * Each line is checked whole (check_line) before it is split, and the first
 * error stops the load, so it is the one reported. */
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KIB 1024ULL
#define MIB (1024ULL * KIB)
#define GIB (1024ULL * MIB)

/* room for a reason that quotes a whole host name */
#define WHY_MAX (CONFIG_HOST_MAX + 64)
/* an error message quotes at most this much of a value, so that the reason
 * after it fits in struct config_error */
#define QUOTE_MAX 128

#define FIELD(f) .offset = offsetof(struct config, f), .size = sizeof(((struct config *)0)->f)

static const char *const log_level_names[] = { "error", "warn", "info", "debug", NULL };
_Static_assert(LOG_LEVEL_ERROR == 0 && LOG_LEVEL_WARN == 1 && LOG_LEVEL_INFO == 2 &&
		       LOG_LEVEL_DEBUG == 3 && LOG_LEVEL_COUNT == 4,
	       "log_level_names follows enum log_level");
_Static_assert(sizeof(enum log_level) == sizeof(int), "CONFIG_ENUM fields are int-sized");

static const char *const durability_names[] = { "always", "batch", "none", NULL };
_Static_assert(sizeof(enum config_durability) == sizeof(int), "CONFIG_ENUM fields are int-sized");

/* The one list of keys.  Order is file order (conf/crdtd.ini, config_dump). */
static const struct config_key config_table[] = {
	/* [node] */
	{ .section = "node", .name = "name", .type = CONFIG_STRING, .min = 1, .max = CONFIG_NAME_MAX,
	  .flags = CONFIG_F_REQUIRED | CONFIG_F_NAME, FIELD(node.name),
	  .help = "this node's name, shown in INFO and logs; 1..64 of [A-Za-z0-9_.-]" },
	{ .section = "node", .name = "data_dir", .type = CONFIG_STRING, .min = 1, .max = CONFIG_PATH_MAX,
	  .flags = CONFIG_F_REQUIRED, FIELD(node.data_dir),
	  .help = "directory for the replica id and state; relative to the current directory" },
	{ .section = "node", .name = "listen", .type = CONFIG_ADDR, .flags = CONFIG_F_REQUIRED,
	  FIELD(node.listen), .help = "UDP gossip address, host:port ([::1]:7946 for IPv6)" },
	{ .section = "node", .name = "client", .type = CONFIG_ADDR, .def = "127.0.0.1:6380",
	  FIELD(node.client), .help = "RESP over TCP, host:port; loopback by default" },
	{ .section = "node", .name = "client_socket", .type = CONFIG_STRING, .min = 0,
	  .max = CONFIG_SOCKET_MAX, .def = "", FIELD(node.client_socket),
	  .help = "RESP over a unix socket at this path; empty = off" },
	{ .section = "node", .name = "max_clients", .type = CONFIG_UINT, .min = 1, .max = 1000000,
	  .def = "10000", FIELD(node.max_clients), .help = "client connections accepted at once" },
	{ .section = "node", .name = "max_request_bytes", .type = CONFIG_SIZE, .min = 1 * KIB,
	  .max = 1 * GIB, .def = "67108864", FIELD(node.max_request_bytes),
	  .help = "largest bulk string or inline line a client may send" },
	{ .section = "node", .name = "max_args", .type = CONFIG_UINT, .min = 16, .max = 16777216,
	  .def = "1048576", FIELD(node.max_args),
	  .help = "most arguments (command name included) in one request" },
	{ .section = "node", .name = "requirepass", .flags = CONFIG_F_RELOAD, .type = CONFIG_STRING, .min = 0,
	  .max = CONFIG_SECRET_MAX, .def = "", FIELD(node.requirepass),
	  .help = "clients must AUTH with this password before any other command; empty = off" },

	/* [gossip] */
	{ .section = "gossip", .name = "interval_ms", .type = CONFIG_UINT, .min = 10, .max = 3600000,
	  .def = "1000", FIELD(gossip.interval_ms), .help = "period of the full-state round" },
	{ .section = "gossip", .name = "mtu", .type = CONFIG_UINT, .min = 512, .max = 65000,
	  .def = "1400", FIELD(gossip.mtu), .help = "largest UDP payload sent" },
	{ .section = "gossip", .name = "fanout", .type = CONFIG_UINT, .min = 0, .max = CONFIG_PEERS_MAX,
	  .def = "0", FIELD(gossip.fanout), .help = "peers sent to per round; 0 = all" },
	{ .section = "gossip", .name = "push_delay_ms", .type = CONFIG_UINT, .min = 0, .max = 1000,
	  .def = "2", FIELD(gossip.push_delay_ms),
	  .help = "a local write is pushed to peers within this many ms" },
	{ .section = "gossip", .name = "digests", .type = CONFIG_BOOL, .def = "yes",
	  FIELD(gossip.digests),
	  .help = "rounds compare digests and send only the instances that differ" },
	{ .section = "gossip", .name = "deltas", .type = CONFIG_BOOL, .def = "yes",
	  FIELD(gossip.deltas),
	  .help = "local writes travel as acknowledged delta intervals, not whole states" },
	{ .section = "gossip", .name = "rcvbuf", .type = CONFIG_SIZE, .min = 0, .max = 1 * GIB,
	  .def = "8388608", FIELD(gossip.rcvbuf),
	  .help = "SO_RCVBUF of the gossip socket; 0 = kernel default" },
	{ .section = "gossip", .name = "sndbuf", .type = CONFIG_SIZE, .min = 0, .max = 1 * GIB,
	  .def = "4194304", FIELD(gossip.sndbuf),
	  .help = "SO_SNDBUF of the gossip socket; 0 = kernel default" },
	{ .section = "gossip", .name = "delta_log_bytes", .type = CONFIG_SIZE, .min = 64 * KIB,
	  .max = 4 * GIB, .def = "67108864", FIELD(gossip.delta_log_bytes),
	  .help = "bytes of delta intervals kept for peers that have not acknowledged them (one interval a KiB at most, and at least 1,024)" },
	{ .section = "gossip", .name = "piece_cache_bytes", .type = CONFIG_SIZE, .min = 0,
	  .max = 16 * GIB, .def = "67108864", FIELD(gossip.piece_cache_bytes),
	  .help = "bytes of encoded catch-up pieces kept for the next catch-ups; 0 = none" },
	{ .section = "gossip", .name = "max_clock_lead_ms", .type = CONFIG_UINT, .min = 1,
	  .max = 86400000, .def = "60000", FIELD(gossip.max_clock_lead_ms),
	  .help = "how far a remote HLC timestamp may drag our clock; states stamped further ahead are still merged" },

	/* [log] */
	{ .section = "log", .name = "level", .flags = CONFIG_F_RELOAD, .type = CONFIG_ENUM, .def = "info",
	  .enum_names = log_level_names, FIELD(log.level),
	  .help = "error, warn, info or debug" },

	/* [slowlog]: commands slower than the threshold, for SLOWLOG GET */
	{ .section = "slowlog", .name = "log_slower_than_us", .flags = CONFIG_F_RELOAD,
	  .type = CONFIG_UINT, .min = 0, .max = UINT32_MAX, .def = "10000",
	  FIELD(slowlog.log_slower_than_us),
	  .help = "a command that runs at least this many microseconds is logged; 0 = every command" },
	{ .section = "slowlog", .name = "max_len", .flags = CONFIG_F_RELOAD, .type = CONFIG_UINT,
	  .min = 0, .max = 1000000, .def = "128", FIELD(slowlog.max_len),
	  .help = "entries SLOWLOG keeps, the oldest dropped first; 0 = none (the slow log is off)" },

	/* [simulation]: the network simulation shim (src/daemon/gossip/shim.h) */
	{ .section = "simulation", .name = "enabled", .type = CONFIG_BOOL, .def = "no",
	  FIELD(simulation.enabled),
	  .help = "put the simulation shim between gossip and the UDP socket (CRDT.SIM)" },
	{ .section = "simulation", .name = "loss", .type = CONFIG_PROB, .def = "0",
	  FIELD(simulation.loss), .help = "probability that an outgoing datagram is lost, 0..1" },
	{ .section = "simulation", .name = "latency_ms", .type = CONFIG_RANGE, .min = 0,
	  .max = 60000, .def = "0-0", FIELD(simulation.latency_ms),
	  .help = "outgoing datagrams are held a uniform MIN-MAX ms" },
	{ .section = "simulation", .name = "duplicate", .type = CONFIG_PROB, .def = "0",
	  FIELD(simulation.duplicate), .help = "probability that a datagram is sent twice, 0..1" },
	{ .section = "simulation", .name = "reorder", .type = CONFIG_PROB, .def = "0",
	  FIELD(simulation.reorder),
	  .help = "probability that a datagram is held longer, so later ones pass it, 0..1" },
	{ .section = "simulation", .name = "partition_probability", .type = CONFIG_PROB, .def = "0",
	  FIELD(simulation.partition_probability),
	  .help = "per round and peer link: probability the link goes down for 1..5 rounds" },
	{ .section = "simulation", .name = "seed", .type = CONFIG_UINT, .min = 0, .max = UINT32_MAX,
	  .def = "0", FIELD(simulation.seed),
	  .help = "seed of the shim's decisions; 0 = from the clock (shown in CRDT.SIM STATUS)" },

	/* [security]: authenticated gossip (src/daemon/gossip/auth.h) */
	{ .section = "security", .name = "key_file", .flags = CONFIG_F_RELOAD, .type = CONFIG_STRING, .min = 0,
	  .max = CONFIG_PATH_MAX, .def = "", FIELD(security.key_file),
	  .help = "cluster key (64 hex digits, mode 0600) sealing every datagram; empty = off" },
	{ .section = "security", .name = "old_key_files", .flags = CONFIG_F_RELOAD, .type = CONFIG_STRING, .min = 0,
	  .max = CONFIG_PATH_MAX, .def = "", FIELD(security.old_key_files),
	  .help = "comma-separated key files still accepted on receive (key rotation)" },
	{ .section = "security", .name = "encrypt", .flags = CONFIG_F_RELOAD, .type = CONFIG_BOOL, .def = "no",
	  FIELD(security.encrypt), .help = "encrypt datagrams too, not only authenticate them" },
	{ .section = "security", .name = "accept_unknown_peers", .flags = CONFIG_F_RELOAD, .type = CONFIG_BOOL, .def = "no",
	  FIELD(security.accept_unknown_peers),
	  .help = "merge datagrams from addresses that are not in [peers]" },

	/* [limits]: sizes a client or a peer may make us hold */
	{ .section = "limits", .name = "max_name_bytes", .flags = CONFIG_F_RELOAD, .type = CONFIG_UINT, .min = 1, .max = 1024,
	  .def = "1024", FIELD(limits.max_name_bytes), .help = "longest instance name" },
	{ .section = "limits", .name = "max_element_bytes", .flags = CONFIG_F_RELOAD, .type = CONFIG_UINT, .min = 1,
	  .max = 65000, .def = "1024", FIELD(limits.max_element_bytes),
	  .help = "longest set element" },
	{ .section = "limits", .name = "max_value_bytes", .flags = CONFIG_F_RELOAD, .type = CONFIG_UINT, .min = 1, .max = 65000,
	  .def = "1024", FIELD(limits.max_value_bytes), .help = "longest register value" },
	{ .section = "limits", .name = "max_elements", .flags = CONFIG_F_RELOAD, .type = CONFIG_UINT, .min = 1,
	  .max = UINT32_MAX, .def = "10000000", FIELD(limits.max_elements),
	  .help = "most elements in one set" },
	{ .section = "limits", .name = "max_hash_fields", .flags = CONFIG_F_RELOAD, .type = CONFIG_UINT, .min = 1,
	  .max = UINT32_MAX, .def = "10000000", FIELD(limits.max_hash_fields),
	  .help = "most fields in one hash" },
	{ .section = "limits", .name = "max_instances", .flags = CONFIG_F_RELOAD, .type = CONFIG_UINT, .min = 1,
	  .max = UINT32_MAX, .def = "1000000", FIELD(limits.max_instances),
	  .help = "most instance names in the daemon" },
	{ .section = "limits", .name = "max_peer_datagrams_per_sec", .flags = CONFIG_F_RELOAD, .type = CONFIG_UINT, .min = 0,
	  .max = 10000000, .def = "100000", FIELD(limits.max_peer_datagrams_per_sec),
	  .help = "datagrams accepted per second from one sender; 0 = no limit" },

	/* [storage]: the durable store in data_dir (src/daemon/state/journal.h) */
	{ .section = "storage", .name = "durability", .type = CONFIG_ENUM, .def = "always",
	  .enum_names = durability_names, FIELD(storage.durability),
	  .help = "always: a write is on disk before its reply (group commit); batch: synced "
		  "every batch_ms; none: left to the OS" },
	{ .section = "storage", .name = "batch_ms", .type = CONFIG_UINT, .min = 1, .max = 60000,
	  .def = "100", FIELD(storage.batch_ms),
	  .help = "how often LMDB takes the write-ahead log in one commit (synced under batch and "
		  "always)" },
	{ .section = "storage", .name = "map_size", .type = CONFIG_SIZE, .min = 1 * MIB,
	  .max = 1024 * GIB, .def = "4294967296", FIELD(storage.map_size),
	  .help = "largest size of the store file data_dir/store.lmdb" },

	/* [clients]: what one client connection may make us hold (client/listener.c) */
	{ .section = "clients", .name = "output_buffer_high_water", .type = CONFIG_SIZE,
	  .min = 4 * KIB, .max = 1 * GIB, .def = "1048576", FIELD(clients.output_high_water),
	  .help = "a client's commands wait while this many bytes of its replies are unsent" },
	{ .section = "clients", .name = "output_buffer_hard_limit", .type = CONFIG_SIZE, .min = 0,
	  .max = 1024 * GIB, .def = "268435456", FIELD(clients.output_hard_limit),
	  .help = "a client with more unsent reply bytes is disconnected at once; 0 = no limit" },
	{ .section = "clients", .name = "output_buffer_soft_limit", .type = CONFIG_SIZE, .min = 0,
	  .max = 1024 * GIB, .def = "67108864", FIELD(clients.output_soft_limit),
	  .help = "a client above this many unsent reply bytes for output_buffer_soft_seconds is "
		  "disconnected; 0 = no limit" },
	{ .section = "clients", .name = "output_buffer_soft_seconds", .type = CONFIG_UINT, .min = 0,
	  .max = 86400, .def = "60", FIELD(clients.output_soft_seconds),
	  .help = "how long a client may stay above output_buffer_soft_limit" },

	/* [http]: metrics, status page and health check (src/daemon/http/) */
	{ .section = "http", .name = "listen", .type = CONFIG_ADDR, .flags = CONFIG_F_EMPTY,
	  .def = "", FIELD(http.listen),
	  .help = "HTTP address for /metrics, /status and /healthz, host:port; empty = off" },
	{ .section = "http", .name = "max_connections", .type = CONFIG_UINT, .min = 1, .max = 10000,
	  .def = "64", FIELD(http.max_connections),
	  .help = "HTTP connections open at once; more are closed at once" },
	{ .section = "http", .name = "max_header_bytes", .type = CONFIG_SIZE, .min = 1 * KIB,
	  .max = 1 * MIB, .def = "8192", FIELD(http.max_header_bytes),
	  .help = "request line and headers, bytes; more are answered 431" },
	{ .section = "http", .name = "header_timeout_ms", .type = CONFIG_UINT, .min = 100,
	  .max = 600000, .def = "5000", FIELD(http.header_timeout_ms),
	  .help = "a connection whose request is not complete this long after it opened is closed" },

	/* [keyspace]: reclaiming deleted names (state/store.h, store_reclaim) */
	{ .section = "keyspace", .name = "reclaim_after", .flags = CONFIG_F_RELOAD,
	  .type = CONFIG_UINT, .min = 0, .max = 315360000, .def = "0",
	  FIELD(keyspace.reclaim_after),
	  .help = "seconds a deleted or expired name keeps its removal record before it is "
		  "dropped; a peer cut off longer can bring its value back; 0 (default) = keep for ever" },
};

#define N_KEYS (sizeof config_table / sizeof config_table[0])

static const char peers_section[] = "peers";

const struct config_key *config_keys(size_t *ret_n)
{
	if (ret_n)
		*ret_n = N_KEYS;
	return config_table;
}

const struct config_key *config_key_find(const char *section, const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(config_table[i].section, section) == 0 &&
		    strcmp(config_table[i].name, name) == 0)
			return &config_table[i];
	return NULL;
}

static bool section_known(const char *section)
{
	if (strcmp(section, peers_section) == 0)
		return true;
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(config_table[i].section, section) == 0)
			return true;
	return false;
}

/* ---- value parsers: 0, or -EINVAL with a reason in why ---- */

static bool name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
			return false;
	return true;
}

/* Plain decimal: no sign, no blanks, no hex, no overflow. */
static int parse_u64(const char *s, const char **ret_end, uint64_t *ret)
{
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*ret_end = s;
	*ret = v;
	return 0;
}

static int parse_number(const struct config_key *k, const char *s, uint64_t *ret, char *why,
			size_t why_size)
{
	const char *end;
	uint64_t v, mult = 1;
	int r;

	r = parse_u64(s, &end, &v);
	if (r == 0 && *end && k->type == CONFIG_SIZE) {
		if (strcasecmp(end, "k") == 0 || strcasecmp(end, "kb") == 0)
			mult = KIB;
		else if (strcasecmp(end, "m") == 0 || strcasecmp(end, "mb") == 0)
			mult = MIB;
		else if (strcasecmp(end, "g") == 0 || strcasecmp(end, "gb") == 0)
			mult = GIB;
		else
			r = -EINVAL;
		if (r == 0 && v > UINT64_MAX / mult)
			r = -ERANGE;
		v *= mult;
	} else if (r == 0 && *end) {
		r = -EINVAL;
	}
	if (r == -EINVAL) {
		snprintf(why, why_size, "%s",
			 k->type == CONFIG_SIZE ? "expected a byte count, optionally with a k, m or g suffix"
						: "expected an unsigned integer");
		return -EINVAL;
	}
	if (r == -ERANGE || v < k->min || v > k->max) {
		snprintf(why, why_size, "must be between %llu and %llu", (unsigned long long)k->min,
			 (unsigned long long)k->max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

/* RFC 1123 labels of 1..63 [A-Za-z0-9-] (plus '_', which container DNS
 * uses), not starting or ending with '-'; one trailing dot allowed. */
static bool hostname_ok(const char *h)
{
	size_t n = strlen(h), label = 0;

	if (n && h[n - 1] == '.')
		n--;
	if (n == 0)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || h[i] == '.') {
			if (label == 0 || label > 63 || h[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '_')
			return false;
		if (label == 0 && h[i] == '-')
			return false;
		label++;
	}
	return true;
}

static int parse_addr(const char *s, struct config_addr *ret, char *why, size_t why_size)
{
	struct config_addr a = { 0 };
	const char *host, *port;
	size_t hlen;
	uint64_t pv;
	const char *end;

	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close) {
			snprintf(why, why_size, "missing ']' after the IPv6 address");
			return -EINVAL;
		}
		if (close[1] != ':') {
			snprintf(why, why_size, "expected [ipv6]:port");
			return -EINVAL;
		}
		host = s + 1;
		hlen = (size_t)(close - host);
		port = close + 2;
		a.kind = CONFIG_ADDR_IPV6;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon) {
			snprintf(why, why_size, "expected host:port");
			return -EINVAL;
		}
		if (memchr(s, ':', (size_t)(colon - s))) {
			snprintf(why, why_size, "an IPv6 address needs brackets, e.g. [::1]:7946");
			return -EINVAL;
		}
		host = s;
		hlen = (size_t)(colon - s);
		port = colon + 1;
	}
	if (hlen == 0) {
		snprintf(why, why_size, "empty host (expected host:port)");
		return -EINVAL;
	}
	if (hlen > CONFIG_HOST_MAX) {
		snprintf(why, why_size, "host longer than %d characters", CONFIG_HOST_MAX);
		return -EINVAL;
	}
	if (parse_u64(port, &end, &pv) < 0 || *end || pv < 1 || pv > 65535) {
		snprintf(why, why_size, "port must be a number between 1 and 65535");
		return -EINVAL;
	}
	memcpy(a.host, host, hlen);
	a.host[hlen] = '\0';
	a.port = (uint16_t)pv;

	if (a.kind == CONFIG_ADDR_IPV6) {
		/* inet_pton() knows no zone ids; "fe80::1%eth0" is checked in two parts */
		char tmp[CONFIG_HOST_MAX + 1];
		struct in6_addr in6;
		char *zone;

		memcpy(tmp, a.host, hlen + 1);
		zone = strchr(tmp, '%');
		if (zone)
			*zone++ = '\0';
		if (inet_pton(AF_INET6, tmp, &in6) != 1 || (zone && !name_ok(zone))) {
			snprintf(why, why_size, "'%s' is not an IPv6 address", a.host);
			return -EINVAL;
		}
	} else if (strspn(a.host, "0123456789.") == hlen) {
		struct in_addr in4;
		if (inet_pton(AF_INET, a.host, &in4) != 1) {
			snprintf(why, why_size, "'%s' is not an IPv4 address", a.host);
			return -EINVAL;
		}
		a.kind = CONFIG_ADDR_IPV4;
	} else if (!hostname_ok(a.host)) {
		snprintf(why, why_size, "'%s' is not a valid host name", a.host);
		return -EINVAL;
	}
	*ret = a;
	return 0;
}

/* A probability: "0", "1", "0.25", ".5", "1.0"; at most 9 decimals. */
static int parse_prob(const char *s, double *ret, char *why, size_t why_size)
{
	const char *p = s;
	double v = 0, scale = 1;
	unsigned digits = 0, decimals = 0;

	for (; *p >= '0' && *p <= '9'; p++, digits++)
		v = v * 10 + (*p - '0');
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, decimals++) {
			scale /= 10;
			v += (*p - '0') * scale;
		}
	if (*p || digits + decimals == 0 || digits > 9 || decimals > 9) {
		snprintf(why, why_size, "expected a probability between 0 and 1, e.g. 0.25");
		return -EINVAL;
	}
	if (v > 1.0) {
		snprintf(why, why_size, "must be between 0 and 1");
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

/* "MIN-MAX" or "N" (N-N), both within the key's bounds, MIN <= MAX. */
static int parse_range(const struct config_key *k, const char *s, struct config_range *ret,
		       char *why, size_t why_size)
{
	const char *end;
	uint64_t lo, hi;

	if (parse_u64(s, &end, &lo) < 0)
		goto bad;
	hi = lo;
	if (*end == '-' && parse_u64(end + 1, &end, &hi) < 0)
		goto bad;
	if (*end)
		goto bad;
	if (lo < k->min || hi > k->max || lo > hi) {
		snprintf(why, why_size, "must be MIN-MAX with %llu <= MIN <= MAX <= %llu",
			 (unsigned long long)k->min, (unsigned long long)k->max);
		return -EINVAL;
	}
	ret->min = (unsigned)lo;
	ret->max = (unsigned)hi;
	return 0;
bad:
	snprintf(why, why_size, "expected MIN-MAX, e.g. 20-80");
	return -EINVAL;
}

/* Parse @value for @k into @c.  On failure @c is unchanged. */
static int set_value(struct config *c, const struct config_key *k, const char *value, char *why,
		     size_t why_size)
{
	void *field = (char *)c + k->offset;
	uint64_t v;

	switch (k->type) {
	case CONFIG_STRING: {
		size_t len = strlen(value);
		/* "..." keeps leading/trailing blanks and lets "" mean empty */
		if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
			value++;
			len -= 2;
		}
		if (len < k->min) {
			snprintf(why, why_size, "must not be empty");
			return -EINVAL;
		}
		if (len > k->max || len >= k->size) {
			snprintf(why, why_size, "longer than %llu characters",
				 (unsigned long long)k->max);
			return -EINVAL;
		}
		if ((k->flags & CONFIG_F_NAME) && len > 0) {
			char tmp[CONFIG_NAME_MAX + 1];
			assert(len < sizeof tmp);
			memcpy(tmp, value, len);
			tmp[len] = '\0';
			if (!name_ok(tmp)) {
				snprintf(why, why_size,
					 "may contain only letters, digits, '_', '.' and '-'");
				return -EINVAL;
			}
		}
		memcpy(field, value, len);
		((char *)field)[len] = '\0';
		return 0;
	}
	case CONFIG_BOOL: {
		static const char *const yes[] = { "yes", "true", "on", "1" };
		static const char *const no[] = { "no", "false", "off", "0" };
		assert(k->size == sizeof(bool));
		for (size_t i = 0; i < 4; i++) {
			if (strcasecmp(value, yes[i]) == 0 || strcasecmp(value, no[i]) == 0) {
				*(bool *)field = strcasecmp(value, yes[i]) == 0;
				return 0;
			}
		}
		snprintf(why, why_size, "expected yes or no");
		return -EINVAL;
	}
	case CONFIG_UINT:
		assert(k->size == sizeof(unsigned) && k->max <= UINT32_MAX);
		if (parse_number(k, value, &v, why, why_size) < 0)
			return -EINVAL;
		*(unsigned *)field = (unsigned)v;
		return 0;
	case CONFIG_SIZE:
		assert(k->size == sizeof(size_t) && k->max <= SIZE_MAX);
		if (parse_number(k, value, &v, why, why_size) < 0)
			return -EINVAL;
		*(size_t *)field = (size_t)v;
		return 0;
	case CONFIG_ENUM: {
		size_t n = 0;
		assert(k->size == sizeof(int) && k->enum_names);
		for (int i = 0; k->enum_names[i]; i++)
			if (strcasecmp(value, k->enum_names[i]) == 0) {
				*(int *)field = i;
				return 0;
			}
		n = (size_t)snprintf(why, why_size, "expected one of");
		for (int i = 0; k->enum_names[i] && n < why_size; i++)
			n += (size_t)snprintf(why + n, why_size - n, "%s %s", i ? "," : "",
					      k->enum_names[i]);
		return -EINVAL;
	}
	case CONFIG_ADDR:
		assert(k->size == sizeof(struct config_addr));
		if (!*value && (k->flags & CONFIG_F_EMPTY)) {
			memset(field, 0, sizeof(struct config_addr));
			return 0;
		}
		return parse_addr(value, field, why, why_size);
	case CONFIG_PROB:
		assert(k->size == sizeof(double));
		return parse_prob(value, field, why, why_size);
	case CONFIG_RANGE:
		assert(k->size == sizeof(struct config_range) && k->max <= UINT32_MAX);
		return parse_range(k, value, field, why, why_size);
	}
	assert(false && "unknown config type");
	return -EINVAL;
}

/* ---- formatting ---- */

static int fit(int n, size_t size)
{
	return n < 0 ? -EIO : (size_t)n >= size ? -EMSGSIZE : n;
}

int config_addr_format(const struct config_addr *a, char *buf, size_t size)
{
	return fit(snprintf(buf, size, a->kind == CONFIG_ADDR_IPV6 ? "[%s]:%u" : "%s:%u", a->host,
			    (unsigned)a->port),
		   size);
}

int config_format_value(const struct config *c, const struct config_key *k, char *buf,
			size_t size)
{
	const void *field = (const char *)c + k->offset;

	switch (k->type) {
	case CONFIG_STRING: {
		const char *s = field;
		size_t len = strlen(s);
		/* "key =;x" loads as ";x", but "key = ;x" as a comment: quote a
		 * leading comment character (found by fuzz_config) */
		bool quote = len > 0 && (isspace((unsigned char)s[0]) ||
					 isspace((unsigned char)s[len - 1]) || s[0] == '"' ||
					 s[0] == ';' || s[0] == '#');
		return fit(snprintf(buf, size, quote ? "\"%s\"" : "%s", s), size);
	}
	case CONFIG_BOOL:
		return fit(snprintf(buf, size, "%s", *(const bool *)field ? "yes" : "no"), size);
	case CONFIG_UINT:
		return fit(snprintf(buf, size, "%u", *(const unsigned *)field), size);
	case CONFIG_SIZE:
		return fit(snprintf(buf, size, "%zu", *(const size_t *)field), size);
	case CONFIG_ENUM: {
		int v = *(const int *)field;
		const char *name = "?";
		for (int i = 0; k->enum_names[i]; i++)
			if (i == v)
				name = k->enum_names[i];
		return fit(snprintf(buf, size, "%s", name), size);
	}
	case CONFIG_ADDR: {
		const struct config_addr *a = field;
		if (!a->host[0]) /* a required address not set yet */
			return fit(snprintf(buf, size, "%s", ""), size);
		return config_addr_format(a, buf, size);
	}
	case CONFIG_PROB:
		/* %.9g of a value parsed from at most 9 decimals reads back the same */
		return fit(snprintf(buf, size, "%.9g", *(const double *)field), size);
	case CONFIG_RANGE: {
		const struct config_range *r = field;
		return fit(snprintf(buf, size, "%u-%u", r->min, r->max), size);
	}
	}
	return -EINVAL;
}

/* A peer line at its longest fits; the table's keys are checked by a test. */
_Static_assert(CONFIG_NAME_MAX + sizeof " = [" + CONFIG_HOST_MAX + sizeof "]:65535" - 2 <=
		       CONFIG_LINE_MAX,
	       "a peer line of config_dump() fits in CONFIG_LINE_MAX");

/* Write "name = value" unless it is longer than the loader reads. */
static int dump_line(FILE *f, const char *name, const char *value)
{
	if (strlen(name) + strlen(" = ") + strlen(value) > CONFIG_LINE_MAX)
		return -EMSGSIZE;
	fprintf(f, "%s = %s\n", name, value);
	return 0;
}

int config_dump(const struct config *c, FILE *f)
{
	const char *section = NULL;
	char val[CONFIG_LINE_MAX + 1];
	int r;

	for (size_t i = 0; i < N_KEYS; i++) {
		const struct config_key *k = &config_table[i];
		if (!section || strcmp(section, k->section) != 0) {
			fprintf(f, "%s[%s]\n", section ? "\n" : "", k->section);
			section = k->section;
		}
		r = config_format_value(c, k, val, sizeof val);
		if (r < 0)
			return r == -EMSGSIZE ? r : -EIO;
		r = dump_line(f, k->name, val);
		if (r < 0)
			return r;
	}
	fprintf(f, "\n[%s]\n", peers_section);
	for (size_t i = 0; i < c->n_peers; i++) {
		r = config_addr_format(&c->peers[i].addr, val, sizeof val);
		if (r < 0)
			return r == -EMSGSIZE ? r : -EIO;
		r = dump_line(f, c->peers[i].name, val);
		if (r < 0)
			return r;
	}
	return ferror(f) ? -EIO : 0;
}

/* ---- lifecycle ---- */

void config_done(struct config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->peers);
	memset(c, 0, sizeof *c);
}

int config_defaults(struct config *ret)
{
	struct config c;
	char why[WHY_MAX];

	memset(&c, 0, sizeof c);
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct config_key *k = &config_table[i];
		if (!k->def)
			continue;
		int r = set_value(&c, k, k->def, why, sizeof why);
		assert(r == 0 && "a default in config_table does not parse");
		(void)r;
	}
	*ret = c;
	return 0;
}

/* ---- loading ---- */

struct parser {
	const char *path;
	FILE *f;
	struct config cfg;
	struct config_error *err;
	int rc;             /* first error, or 0 */
	unsigned lineno;    /* of the line being parsed */
	char section[CONFIG_NAME_MAX + 1]; /* the last [section], "" before any */
	char line[CONFIG_LINE_MAX + 2]; /* and a CR */
	unsigned seen[N_KEYS]; /* line each key was set on, 0 = not set */
	size_t peers_cap;
	bool any_line;      /* anything but blanks and comments */
};

static int fail(struct parser *p, int code, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Record the first error as "path:line: message" (or "path: message"). */
static int fail(struct parser *p, int code, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->rc)
		return p->rc;
	p->rc = code;
	p->err->line = line;
	if (line)
		n = snprintf(p->err->msg, sizeof p->err->msg, "%s:%u: ", p->path, line);
	else
		n = snprintf(p->err->msg, sizeof p->err->msg, "%s: ", p->path);
	if (n < 0 || (size_t)n >= sizeof p->err->msg)
		return code;
	va_start(ap, fmt);
	vsnprintf(p->err->msg + n, sizeof p->err->msg - (size_t)n, fmt, ap);
	va_end(ap);
	return code;
}

/* Refuse a line (without its leading blanks) that is neither a comment, nor
 * "[known section]", nor "name = value"; see the comment at the top. */
static void check_line(struct parser *p, const char *s)
{
	if (*s == '\0' || *s == ';' || *s == '#')
		return;
	p->any_line = true;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		const char *rest;
		char name[CONFIG_NAME_MAX + 1];
		size_t len;

		if (!close) {
			fail(p, -EINVAL, p->lineno, "section header without ']'");
			return;
		}
		rest = close + 1;
		rest += strspn(rest, " \t");
		if (*rest && *rest != ';' && *rest != '#') {
			fail(p, -EINVAL, p->lineno, "unexpected text after section header");
			return;
		}
		len = (size_t)(close - s - 1);
		if (len >= sizeof name || (memcpy(name, s + 1, len), name[len] = '\0',
					    !section_known(name))) {
			fail(p, -EINVAL, p->lineno, "unknown section [%.*s]", (int)len, s + 1);
			return;
		}
		return;
	}
	/* "name = value": '=' must come before any ':' and any " ;" comment */
	for (const char *q = s; *q; q++) {
		if (*q == '=')
			return;
		if (*q == ':' || (*q == ';' && q > s && isspace((unsigned char)q[-1])))
			break;
	}
	fail(p, -EINVAL, p->lineno, "expected 'name = value' or '[section]'");
}

/* Read the next line into p->line, without its newline, CR, leading blanks
 * and (on line 1) UTF-8 byte order mark, and check it.  Returns a pointer to
 * it, or NULL at the end of the file or after an error (then in p->rc). */
static char *read_line(struct parser *p)
{
	char *str = p->line;
	size_t len = 0, skip;
	bool too_long = false;
	int c = EOF;

	if (p->rc)
		return NULL;
	while ((c = getc(p->f)) != EOF && c != '\n') {
		if (c == '\0') {
			fail(p, -EINVAL, p->lineno + 1, "NUL byte in line (not a text file?)");
			return NULL;
		}
		if (len < sizeof p->line - 1)
			str[len++] = (char)c;
		else
			too_long = true;
	}
	if (c == EOF && ferror(p->f)) {
		fail(p, errno ? -errno : -EIO, 0, "read error: %s", strerror(errno ? errno : EIO));
		return NULL;
	}
	if (c == EOF && len == 0 && !too_long)
		return NULL;
	p->lineno++;
	str[len] = '\0';
	if (!too_long && len && str[len - 1] == '\r')
		str[--len] = '\0';
	if (too_long || len > CONFIG_LINE_MAX) {
		fail(p, -EINVAL, p->lineno, "line longer than %d bytes", CONFIG_LINE_MAX);
		return NULL;
	}
	if (p->lineno == 1 && len >= 3 && memcmp(str, "\xEF\xBB\xBF", 3) == 0) {
		memmove(str, str + 3, len - 2);
		len -= 3;
	}
	skip = strspn(str, " \t\f\v");
	if (skip)
		memmove(str, str + skip, len - skip + 1);
	check_line(p, str);
	return p->rc ? NULL : str;
}

static char *rstrip(char *s)
{
	size_t n = strlen(s);

	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static int add_peer(struct parser *p, const char *name, const char *value)
{
	struct config_peer peer = { .line = p->lineno };
	char why[WHY_MAX];

	if (strlen(name) > CONFIG_NAME_MAX || !name_ok(name))
		return fail(p, -EINVAL, p->lineno,
			    "[peers] %s: a peer name is 1..%d of letters, digits, '_', '.' and '-'",
			    name, CONFIG_NAME_MAX);
	for (size_t i = 0; i < p->cfg.n_peers; i++)
		if (strcmp(p->cfg.peers[i].name, name) == 0)
			return fail(p, -EINVAL, p->lineno,
				    "[peers] %s: duplicate peer (first defined on line %u)", name,
				    p->cfg.peers[i].line);
	if (p->cfg.n_peers >= CONFIG_PEERS_MAX)
		return fail(p, -EINVAL, p->lineno, "[peers] %s: too many peers (at most %d)", name,
			    CONFIG_PEERS_MAX);
	if (parse_addr(value, &peer.addr, why, sizeof why) < 0)
		return fail(p, -EINVAL, p->lineno, "[peers] %s = %.*s%s: %s", name, QUOTE_MAX, value,
			    strlen(value) > QUOTE_MAX ? "..." : "", why);
	strcpy(peer.name, name);

	if (p->cfg.n_peers == p->peers_cap) {
		size_t cap = p->peers_cap ? p->peers_cap * 2 : 8;
		struct config_peer *np = realloc(p->cfg.peers, cap * sizeof *np);
		if (!np)
			return fail(p, -ENOMEM, p->lineno, "out of memory");
		p->cfg.peers = np;
		p->peers_cap = cap;
	}
	p->cfg.peers[p->cfg.n_peers++] = peer;
	return 0;
}

static void set_key(struct parser *p, const char *name, const char *value)
{
	const char *section = p->section;
	char why[WHY_MAX];

	if (!*section) {
		fail(p, -EINVAL, p->lineno, "key '%s' is outside any [section]", name);
		return;
	}
	if (strcmp(section, peers_section) == 0) {
		add_peer(p, name, value);
		return;
	}
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct config_key *k = &config_table[i];
		if (strcmp(k->section, section) != 0 || strcmp(k->name, name) != 0)
			continue;
		if (p->seen[i]) {
			fail(p, -EINVAL, p->lineno, "[%s] %s: duplicate key (first set on line %u)",
			     section, name, p->seen[i]);
			return;
		}
		if (set_value(&p->cfg, k, value, why, sizeof why) < 0) {
			fail(p, -EINVAL, p->lineno, "[%s] %s = %.*s%s: %s", section, name,
			     QUOTE_MAX, value, strlen(value) > QUOTE_MAX ? "..." : "", why);
			return;
		}
		p->seen[i] = p->lineno;
		return;
	}
	fail(p, -EINVAL, p->lineno, "unknown key '%s' in [%s]", name, section);
}

/* Split a line that check_line() accepted.  As in inih: a name and a value
 * lose their surrounding blanks, and a value ends at a ';' after a blank. */
static void parse_line(struct parser *p, char *s)
{
	char *eq, *value;

	if (*s == '\0' || *s == ';' || *s == '#')
		return;
	if (*s == '[') {
		size_t len = (size_t)(strchr(s, ']') - s - 1);
		assert(len < sizeof p->section); /* check_line() knows the name */
		memcpy(p->section, s + 1, len);
		p->section[len] = '\0';
		return;
	}
	eq = strchr(s, '=');
	assert(eq); /* check_line() found it */
	*eq = '\0';
	value = eq + 1;
	for (char *q = value; *q; q++)
		if (*q == ';' && q > value && isspace((unsigned char)q[-1])) {
			*q = '\0';
			break;
		}
	value += strspn(value, " \t\f\v\r\n");
	set_key(p, rstrip(s), rstrip(value));
}

static bool addr_equal(const struct config_addr *a, const struct config_addr *b)
{
	return a->port == b->port && strcasecmp(a->host, b->host) == 0;
}

/* Checks that need the whole file. */
static void validate(struct parser *p)
{
	const struct config *c = &p->cfg;
	char buf[CONFIG_HOST_MAX + 16];

	for (size_t i = 0; i < N_KEYS && !p->rc; i++)
		if ((config_table[i].flags & CONFIG_F_REQUIRED) && !p->seen[i])
			fail(p, -EINVAL, 0, "[%s] %s: required key is missing%s",
			     config_table[i].section, config_table[i].name,
			     p->any_line ? "" : " (the file is empty)");

	if (!p->rc && !c->security.key_file[0] && (c->security.encrypt || c->security.old_key_files[0]))
		fail(p, -EINVAL, 0, "[security] %s needs key_file",
		     c->security.encrypt ? "encrypt" : "old_key_files");

	for (size_t i = 0; i < c->n_peers && !p->rc; i++) {
		const struct config_peer *peer = &c->peers[i];

		config_addr_format(&peer->addr, buf, sizeof buf);
		if (strcmp(peer->name, c->node.name) == 0) {
			fail(p, -EINVAL, peer->line, "[peers] %s: a peer cannot have this node's name",
			     peer->name);
			break;
		}
		if (addr_equal(&peer->addr, &c->node.listen)) {
			fail(p, -EINVAL, peer->line,
			     "[peers] %s = %s: that is this node's own listen address", peer->name,
			     buf);
			break;
		}
		for (size_t j = 0; j < i; j++)
			if (addr_equal(&peer->addr, &c->peers[j].addr)) {
				fail(p, -EINVAL, peer->line,
				     "[peers] %s = %s: same address as peer '%s' (line %u)",
				     peer->name, buf, c->peers[j].name, c->peers[j].line);
				break;
			}
	}
}

int config_load(const char *path, struct config *ret, struct config_error *err)
{
	struct config_error dummy;
	struct parser *p;
	int r;

	if (!err)
		err = &dummy;
	memset(err, 0, sizeof *err);

	/* on the heap: the struct holds a 4 KiB path, a 4 KiB line buffer and a
	 * few hundred seen[] */
	p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(err->msg, sizeof err->msg, "%s: out of memory", path);
		return -ENOMEM;
	}
	p->path = path;
	p->err = err;
	config_defaults(&p->cfg);

	p->f = fopen(path, "re");
	if (!p->f) {
		int e = errno;
		fail(p, -e, 0, "cannot open: %s", strerror(e));
		goto out;
	}

	for (char *line; (line = read_line(p));)
		parse_line(p, line);
	if (!p->rc)
		validate(p);
	if (!p->rc) {
		p->cfg.path = strdup(path);
		if (!p->cfg.path)
			fail(p, -ENOMEM, 0, "out of memory");
	}

out:
	if (p->f)
		fclose(p->f);
	r = p->rc;
	if (r == 0)
		*ret = p->cfg;
	else
		config_done(&p->cfg);
	free(p);
	return r;
}

size_t config_reload(struct config *running, struct config *fresh,
		     void (*restart_only)(const struct config_key *k, void *ctx), void *ctx)
{
	size_t changed = 0;

	for (size_t i = 0; i < sizeof(config_table) / sizeof(config_table[0]); i++) {
		const struct config_key *k = &config_table[i];
		uint8_t *to = (uint8_t *)running + k->offset;
		const uint8_t *from = (const uint8_t *)fresh + k->offset;
		char a[CONFIG_LINE_MAX], b[CONFIG_LINE_MAX];

		/* compare as the file spells them: padding and the bytes past a
		 * string's end do not count */
		if (config_format_value(running, k, a, sizeof(a)) >= 0 &&
		    config_format_value(fresh, k, b, sizeof(b)) >= 0 && strcmp(a, b) == 0)
			continue;
		if (k->flags & CONFIG_F_RELOAD) {
			memcpy(to, from, k->size);
			changed++;
		} else if (restart_only) {
			restart_only(k, ctx);
		}
	}
	struct config_peer *peers = running->peers;
	size_t n = running->n_peers;
	running->peers = fresh->peers;
	running->n_peers = fresh->n_peers;
	fresh->peers = peers;
	fresh->n_peers = n;
	return changed;
}
