/* One quicksort for arrays of plain values (libcrdt's, and the journal's
 * ops before LMDB takes them: state/jops.c), instantiated per type with its
 * "less than" inline (qsort's call per compare cost the sorts that run on
 * every cut, merge and SMEMBERS): median of three, the smaller side
 * recursed so the stack stays O(log n), an insertion sort below 16
 * elements.  Not stable.
 *
 *   SORT_DEFINE(name, T, lt)  defines  static void name(T *v, size_t n)
 *
 * where lt(const T *a, const T *b) is true when a sorts before b. */
#ifndef CRDT_SORT_H
#define CRDT_SORT_H

#include <stddef.h>

#define SORT_DEFINE(NAME, T, LT)                                                                   \
	static void NAME(T *v, size_t n)                                                           \
	{                                                                                          \
		while (n > 16) {                                                                   \
			T a_ = v[0], b_ = v[n / 2], c_ = v[n - 1], piv_, t_;                      \
			size_t i_ = 0, j_ = n - 1;                                                 \
			if (LT(&a_, &b_))                                                          \
				piv_ = LT(&b_, &c_) ? b_ : LT(&a_, &c_) ? c_ : a_;                 \
			else                                                                       \
				piv_ = LT(&a_, &c_) ? a_ : LT(&b_, &c_) ? c_ : b_;                 \
			for (;;) {                                                                 \
				while (LT(&v[i_], &piv_))                                          \
					i_++;                                                      \
				while (LT(&piv_, &v[j_]))                                          \
					j_--;                                                      \
				if (i_ >= j_)                                                      \
					break;                                                     \
				t_ = v[i_];                                                        \
				v[i_++] = v[j_];                                                   \
				v[j_--] = t_;                                                      \
			}                                                                          \
			/* [0, j] <= pivot <= [j + 1, n) */                                        \
			if (j_ + 1 < n - j_ - 1) {                                                 \
				NAME(v, j_ + 1);                                                   \
				v += j_ + 1;                                                       \
				n -= j_ + 1;                                                       \
			} else {                                                                   \
				NAME(v + j_ + 1, n - j_ - 1);                                      \
				n = j_ + 1;                                                        \
			}                                                                          \
		}                                                                                  \
		for (size_t i_ = 1; i_ < n; i_++) {                                                \
			T t_ = v[i_];                                                              \
			size_t j_ = i_;                                                            \
			for (; j_ > 0 && LT(&t_, &v[j_ - 1]); j_--)                                \
				v[j_] = v[j_ - 1];                                                 \
			v[j_] = t_;                                                                \
		}                                                                                  \
	}

#endif
