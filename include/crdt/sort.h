/* One sort for arrays of plain values (libcrdt's, and the journal's ops
 * before LMDB takes them: state/jops.c), instantiated per type with its
 * "less than" inline (qsort's call per compare cost the sorts that run on
 * every cut, merge and SMEMBERS): a quicksort whose pivot is the median of
 * the elements at a quarter, a half and three quarters, the smaller side
 * recursed so the stack stays O(log n), an insertion sort below 16
 * elements, and a heapsort for a range that has been split 2 log2 n times
 * (an introsort), so no input costs more than O(n log n).  The median of
 * the first, middle and last elements was quadratic on a run sorted but
 * for a few small elements at its end: 250 ms for 20,000 journal ops.
 * Not stable.
 *
 *   SORT_DEFINE(name, T, lt)  defines  static void name(T *v, size_t n)
 *
 * where lt(const T *a, const T *b) is true when a sorts before b. */
#ifndef CRDT_SORT_H
#define CRDT_SORT_H

#include <stddef.h>

#define SORT_DEFINE(NAME, T, LT)                                                                   \
	static void NAME##_sift_(T *v, size_t i, size_t n)                                         \
	{                                                                                          \
		T t_ = v[i];                                                                       \
		for (size_t c_; (c_ = 2 * i + 1) < n; i = c_) {                                    \
			if (c_ + 1 < n && LT(&v[c_], &v[c_ + 1]))                                  \
				c_++;                                                              \
			if (!LT(&t_, &v[c_]))                                                      \
				break;                                                             \
			v[i] = v[c_];                                                              \
		}                                                                                  \
		v[i] = t_;                                                                         \
	}                                                                                          \
	static void NAME##_intro_(T *v, size_t n, unsigned depth)                                  \
	{                                                                                          \
		while (n > 16) {                                                                   \
			if (!depth--) { /* heapsort */                                             \
				for (size_t i_ = n / 2; i_-- > 0;)                                 \
					NAME##_sift_(v, i_, n);                                    \
				for (size_t m_ = n; m_-- > 1;) {                                   \
					T t_ = v[0];                                               \
					v[0] = v[m_];                                              \
					v[m_] = t_;                                                \
					NAME##_sift_(v, 0, m_);                                    \
				}                                                                  \
				return;                                                            \
			}                                                                          \
			T a_ = v[n / 4], b_ = v[n / 2], c_ = v[n - n / 4], piv_, t_;              \
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
				NAME##_intro_(v, j_ + 1, depth);                                   \
				v += j_ + 1;                                                       \
				n -= j_ + 1;                                                       \
			} else {                                                                   \
				NAME##_intro_(v + j_ + 1, n - j_ - 1, depth);                      \
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
	}                                                                                          \
	static void NAME(T *v, size_t n)                                                           \
	{                                                                                          \
		unsigned d_ = 0;                                                                   \
		for (size_t m_ = n; m_; m_ >>= 1)                                                  \
			d_ += 2;                                                                   \
		NAME##_intro_(v, n, d_);                                                           \
	}

/* The search that goes with a sorted array: the first of @v[@n] that does
 * not sort before @key (@n if every one does), in O(log n).
 *
 *   LOWER_BOUND_DEFINE(name, T, K, before)  defines
 *       static inline size_t name(const T *v, size_t n, K key)
 *
 * where before(const T *x, K key) is true when x sorts before key, for a
 * prefix of v and for none after it. */
#define LOWER_BOUND_DEFINE(NAME, T, K, BEFORE)                                                     \
	static inline size_t NAME(const T *v, size_t n, K key)                                     \
	{                                                                                          \
		size_t lo_ = 0, hi_ = n;                                                           \
		while (lo_ < hi_) {                                                                \
			size_t mid_ = lo_ + (hi_ - lo_) / 2;                                       \
			if (BEFORE(&v[mid_], key))                                                 \
				lo_ = mid_ + 1;                                                    \
			else                                                                       \
				hi_ = mid_;                                                        \
		}                                                                                  \
		return lo_;                                                                        \
	}

#endif
