/* Names that all fall in one digest bucket (gossip/digest.h): the bucket is
 * the top DIGEST_BITS bits of a public hash of the name, the same on every
 * replica, so a client finds such names by trying, one in 2^DIGEST_BITS.
 * For bench/bucket_flood.py, which measures what they cost a daemon.
 *
 *     bucket_names N [BUCKET] [PREFIX]
 *
 * prints N names PREFIX<10 hex digits>, one a line, whose bucket is BUCKET
 * (default 0; PREFIX default "b:"); with BUCKET -1, the first N such names
 * whatever their bucket (the random case).  100,000 in one bucket take
 * about 4 * 10^8 tries, a few seconds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gossip/digest.h"

/* The next number of the @n hex digits at @d, in place: no formatting a
 * try. */
static void next_hex(char *d, size_t n)
{
	for (size_t i = n; i-- > 0; d[i] = '0') {
		if (d[i] == '9') {
			d[i] = 'a';
			return;
		}
		if (d[i] != 'f') {
			d[i]++;
			return;
		}
	}
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
	long want = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
	const char *prefix = argc > 3 ? argv[3] : "b:";
	char name[64];
	size_t pl = strlen(prefix);

	if (n < 0 || want < -1 || want >= (long)DIGEST_BUCKETS || strlen(prefix) > 32) {
		fprintf(stderr, "usage: bucket_names N [BUCKET|-1] [PREFIX]\n");
		return 2;
	}
	memcpy(name, prefix, pl);
	memset(name + pl, '0', 10);
	name[pl + 10] = '\0';
	for (; n > 0;) {
		next_hex(name + pl, 10);
		uint64_t key = digest_name_key((const uint8_t *)name, pl + 10);

		if (want >= 0 && digest_bucket_of(key) != (uint32_t)want)
			continue;
		puts(name);
		n--;
	}
	return 0;
}
