/* crdtd logging: one line per event on stderr (or a chosen fd), e.g.
 *
 *   2026-11-25T14:03:01.123Z warn  gossip: peer beta: bad datagram, ignoring
 *   2026-11-25T14:03:01.123Z [a] info  main: ready      (with log_set_prefix("a"))
 *
 * Timestamps are UTC with milliseconds.  Only the daemon logs; libcrdt never
 * does.  The level check is an inline compare against one global, so a
 * disabled log_debug() costs a load and a branch and its arguments are not
 * evaluated.  Not thread-safe to reconfigure; crdtd is single-threaded. */
#ifndef CRDTD_LOG_H
#define CRDTD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Ordered by verbosity: a message is written when its level <= the current
 * level.  (Not LOG_INFO/LOG_DEBUG: those are <syslog.h> macros.) */
enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

#define LOG_LEVEL_COUNT 4

/* Lines longer than this (after escaping) are cut and end in "...". */
#define LOG_LINE_MAX 4096

/* The current level.  Read it through log_enabled(); set it with
 * log_set_level(). */
extern enum log_level log_current_level;

/** True when a message at @lvl would be written. */
static inline bool log_enabled(enum log_level lvl)
{
	return lvl <= log_current_level;
}

/** Set the level; messages more verbose than @lvl are dropped.  Default:
 * LOG_LEVEL_INFO. */
void log_set_level(enum log_level lvl);

/** The current level. */
enum log_level log_get_level(void);

/**
 * Parse "error", "warn", "info" or "debug" (case-insensitive).
 * Returns 0 and writes *ret_lvl, or -EINVAL for anything else (ret_lvl
 * untouched).
 */
int log_parse_level(const char *s, enum log_level *ret_lvl);

/** "error", "warn", "info", "debug"; "?" for an out-of-range value. */
const char *log_level_name(enum log_level lvl);

/**
 * Put "[prefix] " after the timestamp of every line (the node name, so the
 * logs of several local nodes can share a terminal).  NULL or "" removes it.
 * The string is copied (up to 64 bytes).
 */
void log_set_prefix(const char *prefix);

/** Write lines to @fd instead of stderr (2).  The fd is not owned. */
void log_set_fd(int fd);

/**
 * Write one line unconditionally (the macros below check the level first).
 * @subsys is a short module name ("gossip", "client", ...).  Control
 * characters in the formatted message are written as \xNN, so text that came
 * from the network cannot forge log lines.  Each line goes out in a single
 * write(2).  errno is preserved.
 */
void log_write(enum log_level lvl, const char *subsys, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** va_list form of log_write(). */
void log_writev(enum log_level lvl, const char *subsys, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* The last warn and error lines written, for the status page (http/status.h):
 * a ring of LOG_RECENT_MAX, each cut to LOG_RECENT_LINE bytes. */
#define LOG_RECENT_MAX 16
#define LOG_RECENT_LINE 240

/** Point @ret at the recent warn and error lines, oldest first; returns how
 * many.  The strings stay valid until the next log_write. */
size_t log_recent(const char *ret[LOG_RECENT_MAX]);

#define log_at(lvl, subsys, ...)                                                                   \
	do {                                                                                       \
		if (log_enabled(lvl))                                                              \
			log_write((lvl), (subsys), __VA_ARGS__);                                   \
	} while (0)

/* log_warn("gossip", "peer %s: %s, ignoring", name, why); arguments are
 * printf-checked and not evaluated when the level is off. */
#define log_error(subsys, ...) log_at(LOG_LEVEL_ERROR, subsys, __VA_ARGS__)
#define log_warn(subsys, ...)  log_at(LOG_LEVEL_WARN, subsys, __VA_ARGS__)
#define log_info(subsys, ...)  log_at(LOG_LEVEL_INFO, subsys, __VA_ARGS__)
#define log_debug(subsys, ...) log_at(LOG_LEVEL_DEBUG, subsys, __VA_ARGS__)

#endif
