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

void cmdstats_reset(struct cmdstats *st)
{
	for (size_t i = 0; i < CMDSTATS_MAX; i++) {
		const char *name = st->cmd[i].name;
		memset(&st->cmd[i], 0, sizeof(st->cmd[i]));
		st->cmd[i].name = name;
	}
	st->unknown = 0;
}
