/* The slow log (client/slowlog.h): a ring of entries, each one allocation
 * holding its copied, truncated arguments. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/slowlog.h"

/* The kept form of argument @i of @argc: Redis' rules (slowlogCreateEntry):
 * past SLOWLOG_MAX_ARGC the last slot says how many more there were; a long
 * string keeps its first SLOWLOG_MAX_STRING bytes and says how many more. */
static size_t kept_arg(size_t i, size_t argc, const uint8_t *const *argv, const size_t *argl,
		       char *note, size_t note_size, const uint8_t **ret_p, size_t *ret_note)
{
	*ret_note = 0;
	if (argc > SLOWLOG_MAX_ARGC && i == SLOWLOG_MAX_ARGC - 1) {
		*ret_p = NULL;
		*ret_note = (size_t)snprintf(note, note_size, "... (%zu more arguments)",
					     argc - SLOWLOG_MAX_ARGC + 1);
		return 0;
	}
	*ret_p = argv[i];
	if (argl[i] > SLOWLOG_MAX_STRING) {
		*ret_note = (size_t)snprintf(note, note_size, "... (%zu more bytes)",
					     argl[i] - SLOWLOG_MAX_STRING);
		return SLOWLOG_MAX_STRING;
	}
	return argl[i];
}

static struct slowlog_entry *entry_new(size_t argc, const uint8_t *const *argv, const size_t *argl,
				       const char *addr, const char *name)
{
	size_t n = argc < SLOWLOG_MAX_ARGC ? argc : SLOWLOG_MAX_ARGC;
	size_t alen = strlen(addr) + 1, nlen = strlen(name) + 1, bytes = 0;
	struct slowlog_entry *e;
	char note[64];
	uint8_t *p;

	for (size_t i = 0; i < n; i++) {
		const uint8_t *src;
		size_t extra;
		bytes += kept_arg(i, argc, argv, argl, note, sizeof(note), &src, &extra) + extra;
	}
	e = malloc(sizeof(*e) + n * (sizeof(e->argv[0]) + sizeof(e->argl[0])) + bytes + alen + nlen);
	if (!e)
		return NULL;
	e->argv = (const uint8_t **)(e + 1);
	e->argl = (size_t *)(e->argv + n);
	p = (uint8_t *)(e->argl + n);
	e->argc = n;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *src;
		size_t extra, len = kept_arg(i, argc, argv, argl, note, sizeof(note), &src, &extra);
		e->argv[i] = p;
		if (len)
			memcpy(p, src, len);
		memcpy(p + len, note, extra);
		e->argl[i] = len + extra;
		p += len + extra;
	}
	memcpy(p, addr, alen);
	e->addr = (const char *)p;
	memcpy(p + alen, name, nlen);
	e->name = (const char *)p + alen;
	return e;
}

/* Make the ring hold @cap slots, keeping the newest entries that fit. */
static int resize(struct slowlog *l, size_t cap)
{
	struct slowlog_entry **ring = NULL;
	size_t keep = l->len < cap ? l->len : cap;

	if (cap && !(ring = calloc(cap, sizeof(*ring))))
		return -ENOMEM;
	for (size_t i = 0; i < l->len; i++) {
		struct slowlog_entry *e = l->ring[(l->head + i) % l->cap];
		if (i < l->len - keep)
			free(e);
		else
			ring[i - (l->len - keep)] = e;
	}
	free(l->ring);
	l->ring = ring;
	l->cap = cap;
	l->head = 0;
	l->len = keep;
	return 0;
}

int slowlog_push(struct slowlog *l, size_t max_len, int64_t unix_time, uint64_t usec,
		 size_t argc, const uint8_t *const *argv, const size_t *argl, const char *addr,
		 const char *name)
{
	struct slowlog_entry *e;

	if (max_len != l->cap && resize(l, max_len) < 0)
		return -ENOMEM;
	if (!max_len)
		return 0;
	if (!(e = entry_new(argc, argv, argl, addr ? addr : "", name ? name : "")))
		return -ENOMEM;
	e->id = l->next_id++;
	e->time = unix_time;
	e->usec = usec;
	if (l->len == l->cap) {
		free(l->ring[l->head]);
		l->ring[l->head] = e;
		l->head = (l->head + 1) % l->cap;
	} else {
		l->ring[(l->head + l->len++) % l->cap] = e;
	}
	return 0;
}

size_t slowlog_len(const struct slowlog *l)
{
	return l->len;
}

const struct slowlog_entry *slowlog_get(const struct slowlog *l, size_t i)
{
	if (i >= l->len)
		return NULL;
	return l->ring[(l->head + l->len - 1 - i) % l->cap];
}

void slowlog_reset(struct slowlog *l)
{
	for (size_t i = 0; i < l->len; i++)
		free(l->ring[(l->head + i) % l->cap]);
	l->head = 0;
	l->len = 0;
}

void slowlog_done(struct slowlog *l)
{
	if (!l)
		return;
	slowlog_reset(l);
	free(l->ring);
	l->ring = NULL;
	l->cap = 0;
}
