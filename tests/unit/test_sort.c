/* The one sort (include/crdt/sort.h): every pattern comes out ordered and
 * a permutation of what went in, the heapsort it falls back to included;
 * and no pattern costs more than O(n log n) comparisons, the journal's run
 * (sorted but for a few small elements at its end, which made the median
 * of the first, middle and last elements quadratic) among them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crdt/sort.h"

struct item {
	uint32_t key, at; /* at: its place before the sort */
};

static uint64_t compares;

static inline bool item_lt(const struct item *a, const struct item *b)
{
	compares++;
	return a->key != b->key ? a->key < b->key : a->at < b->at;
}

SORT_DEFINE(item_sort, struct item, item_lt)

enum pattern { RANDOM, SORTED, REVERSED, SMALL_TAIL, FEW_KEYS, ORGAN, PATTERNS };

static void fill(struct item *v, size_t n, enum pattern p, uint64_t *s)
{
	for (size_t i = 0; i < n; i++) {
		*s = *s * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t r = (uint32_t)(*s >> 33);
		switch (p) {
		case RANDOM: v[i].key = r; break;
		case SORTED: v[i].key = (uint32_t)i; break;
		case REVERSED: v[i].key = (uint32_t)(n - i); break;
		case SMALL_TAIL: /* a table's records in order, a few of another */
			v[i].key = i % 1300 == 7 || i + 3 >= n ? r % 16 : 1000 + (uint32_t)i;
			break;
		case FEW_KEYS: v[i].key = r % 3; break;
		default: v[i].key = (uint32_t)(i < n / 2 ? i : n - i); break;
		}
		v[i].at = (uint32_t)i;
	}
}

/* Ordered, and each place taken once. */
static void check_sorted(const struct item *v, size_t n)
{
	bool *seen = calloc(n ? n : 1, 1);

	assert_non_null(seen);
	for (size_t i = 0; i < n; i++) {
		if (i)
			assert_true(item_lt(&v[i - 1], &v[i]));
		assert_true(v[i].at < n);
		assert_false(seen[v[i].at]);
		seen[v[i].at] = true;
	}
	free(seen);
}

static void test_patterns(void **state)
{
	(void)state;
	static const size_t sizes[] = { 0, 1, 2, 15, 16, 17, 100, 1000, 20031 };
	uint64_t s = 42;

	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		size_t n = sizes[z], log2n = 1;
		struct item *v = malloc((n ? n : 1) * sizeof(*v));
		assert_non_null(v);
		while ((1ul << log2n) < n)
			log2n++;
		for (int p = 0; p < PATTERNS; p++) {
			fill(v, n, (enum pattern)p, &s);
			compares = 0;
			item_sort(v, n);
			/* within a constant of n log n: the quadratic pivot made
			 * about n * n / 16 on SMALL_TAIL */
			assert_true(compares <= 8 * (n + 16) * log2n + 256);
			check_sorted(v, n);
			/* the heapsort on its own */
			fill(v, n, (enum pattern)p, &s);
			item_sort_intro_(v, n, 0);
			check_sorted(v, n);
		}
		free(v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patterns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
