/* Redis glob patterns (KEYS, SCAN MATCH, CONFIG GET): *, ?, [...] and \\. */
#include "client/glob.h"

/* Does the class starting after '[' at pat[*i] match c?  Moves *i past ']'. */
static bool class_match(const uint8_t *pat, size_t plen, size_t *i, uint8_t c)
{
	size_t k = *i;
	bool neg = false, hit = false;

	if (k < plen && pat[k] == '^') {
		neg = true;
		k++;
	}
	for (; k < plen && pat[k] != ']'; k++) {
		if (pat[k] == '\\' && k + 1 < plen) {
			hit |= pat[++k] == c;
		} else if (k + 2 < plen && pat[k + 1] == '-' && pat[k + 2] != ']') {
			uint8_t lo = pat[k], hi = pat[k + 2];
			if (lo > hi) {
				uint8_t t = lo;
				lo = hi;
				hi = t;
			}
			hit |= c >= lo && c <= hi;
			k += 2;
		} else {
			hit |= pat[k] == c;
		}
	}
	*i = k; /* at ']' or the end */
	return hit != neg;
}

/* Iterative with one backtrack point for the last '*': linear in practice
 * and never recursive, so a hostile pattern cannot blow the stack. */
bool glob_match(const uint8_t *pat, size_t plen, const uint8_t *s, size_t slen)
{
	size_t p = 0, i = 0, star_p = (size_t)-1, star_i = 0;

	while (i < slen) {
		if (p < plen) {
			uint8_t pc = pat[p];
			if (pc == '*') {
				star_p = p++;
				star_i = i;
				continue;
			}
			if (pc == '?') {
				p++;
				i++;
				continue;
			}
			if (pc == '[') {
				size_t k = p + 1;
				if (class_match(pat, plen, &k, s[i])) {
					p = k < plen ? k + 1 : k;
					i++;
					continue;
				}
			} else {
				if (pc == '\\' && p + 1 < plen)
					pc = pat[++p];
				if (pc == s[i]) {
					p++;
					i++;
					continue;
				}
			}
		}
		if (star_p == (size_t)-1)
			return false;
		p = star_p + 1;
		i = ++star_i;
	}
	while (p < plen && pat[p] == '*')
		p++;
	return p == plen;
}
