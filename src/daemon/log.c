/* See log.h. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum log_level log_current_level = LOG_LEVEL_INFO;

static int log_fd = 2;
static char recent[LOG_RECENT_MAX][LOG_RECENT_LINE + 1];
static size_t recent_next, recent_n; /* the slot written next; lines held */
static char log_prefix[65];

/* Padded to the width of "error" so subsystems line up. */
static const char *const level_names[LOG_LEVEL_COUNT] = { "error", "warn", "info", "debug" };
static const char *const level_padded[LOG_LEVEL_COUNT] = { "error", "warn ", "info ", "debug" };

void log_set_level(enum log_level lvl)
{
	if ((unsigned)lvl < LOG_LEVEL_COUNT)
		log_current_level = lvl;
}

enum log_level log_get_level(void)
{
	return log_current_level;
}

int log_parse_level(const char *s, enum log_level *ret_lvl)
{
	if (!s)
		return -EINVAL;
	for (unsigned i = 0; i < LOG_LEVEL_COUNT; i++)
		if (strcasecmp(s, level_names[i]) == 0) {
			*ret_lvl = (enum log_level)i;
			return 0;
		}
	return -EINVAL;
}

const char *log_level_name(enum log_level lvl)
{
	return (unsigned)lvl < LOG_LEVEL_COUNT ? level_names[lvl] : "?";
}

void log_set_prefix(const char *prefix)
{
	if (!prefix)
		prefix = "";
	snprintf(log_prefix, sizeof log_prefix, "%s", prefix);
}

void log_set_fd(int fd)
{
	log_fd = fd;
}

void log_writev(enum log_level lvl, const char *subsys, const char *fmt, va_list ap)
{
	int saved_errno = errno;
	char msg[LOG_LINE_MAX];
	char line[LOG_LINE_MAX + 8];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof line - n, ".%03ldZ %s%s%s%s%s %s: ", ts.tv_nsec / 1000000L,
		     log_prefix[0] ? "[" : "", log_prefix, log_prefix[0] ? "]" : "",
		     log_prefix[0] ? " " : "", (unsigned)lvl < LOG_LEVEL_COUNT ? level_padded[lvl] : "?    ",
		     subsys ? subsys : "-");
	n += r > 0 ? (size_t)r : 0;
	if (n > LOG_LINE_MAX / 2)
		n = LOG_LINE_MAX / 2;

	errno = saved_errno; /* so %m works */
	r = vsnprintf(msg, sizeof msg, fmt, ap);
	bool cut = r < 0 || (size_t)r >= sizeof msg;
	if (r < 0)
		msg[0] = '\0';

	/* Escape control bytes; stop early enough to leave room for "...\n". */
	for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
		if (n + 4 > LOG_LINE_MAX) {
			cut = true;
			break;
		}
		if (*p < 0x20 || *p == 0x7f) {
			static const char hex[] = "0123456789abcdef";
			line[n++] = '\\';
			line[n++] = 'x';
			line[n++] = hex[*p >> 4];
			line[n++] = hex[*p & 15];
		} else {
			line[n++] = (char)*p;
		}
	}
	if (cut) {
		memcpy(line + n, "...", 3);
		n += 3;
	}
	if (lvl <= LOG_LEVEL_WARN) {
		size_t k = n < LOG_RECENT_LINE ? n : LOG_RECENT_LINE;
		memcpy(recent[recent_next], line, k);
		recent[recent_next][k] = 0;
		recent_next = (recent_next + 1) % LOG_RECENT_MAX;
		recent_n += recent_n < LOG_RECENT_MAX;
	}
	line[n++] = '\n';

	/* Best effort: a log line that cannot be written is dropped. */
	for (size_t off = 0; off < n;) {
		ssize_t w = write(log_fd, line + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	errno = saved_errno;
}

void log_write(enum log_level lvl, const char *subsys, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_writev(lvl, subsys, fmt, ap);
	va_end(ap);
}

size_t log_recent(const char *ret[LOG_RECENT_MAX])
{
	size_t first = (recent_next + LOG_RECENT_MAX - recent_n) % LOG_RECENT_MAX;

	for (size_t i = 0; i < recent_n; i++)
		ret[i] = recent[(first + i) % LOG_RECENT_MAX];
	return recent_n;
}
