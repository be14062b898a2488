/* Per-command counters and their latency histogram (client/cmdstats.h). */
#include <string.h>

#include "client/cmdstats.h"

size_t cmdstats_bucket(uint64_t usec)
{
	size_t i = 0;

	while (i < CMDSTATS_BUCKETS - 1 && usec > ((uint64_t)1 << i))
		i++;
	return i;
}

uint64_t cmdstats_bucket_usec(size_t i)
{
	return (uint64_t)1 << i;
}

void cmdstats_record(struct cmdstats *st, size_t idx, const char *name, uint64_t usec,
		     enum cmdstats_outcome outcome)
{
	struct cmdstat *c;

	if (idx >= CMDSTATS_MAX)
		return;
	c = &st->cmd[idx];
	c->name = name;
	if (outcome == CMDSTATS_REJECTED) {
		c->rejected++;
		return;
	}
	c->calls++;
	c->usec += usec;
	c->failed += outcome == CMDSTATS_FAILED;
	c->hist[cmdstats_bucket(usec)]++;
}

void cmdstats_error(struct cmdstats *st, const uint8_t *msg, size_t len)
{
	char code[CMDSTATS_ERROR_CODE_MAX + 1];
	size_t n = 0;

	while (n < len && n < CMDSTATS_ERROR_CODE_MAX && msg[n] >= 'A' && msg[n] <= 'Z')
		code[n] = (char)msg[n], n++;
	if (n == 0 || (n < len && msg[n] != ' ' && msg[n] != '\r')) {
		st->errors_other++;
		return;
	}
	code[n] = 0;
	for (size_t i = 0; i < CMDSTATS_ERROR_KINDS; i++) {
		if (!st->errors[i].code[0])
			memcpy(st->errors[i].code, code, n + 1);
		if (strcmp(st->errors[i].code, code) == 0) {
			st->errors[i].count++;
			return;
		}
	}
	st->errors_other++;
}

void cmdstats_reset(struct cmdstats *st)
{
	for (size_t i = 0; i < CMDSTATS_MAX; i++) {
		const char *name = st->cmd[i].name;
		memset(&st->cmd[i], 0, sizeof(st->cmd[i]));
		st->cmd[i].name = name;
	}
	st->unknown = 0;
	memset(st->errors, 0, sizeof(st->errors));
	st->errors_other = 0;
}
