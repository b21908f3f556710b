/*
 * rank.h - quantile scores with ties kept together.
 *
 * For a value v among n values, score(v) = 1 + floor(bins * less(v) / n),
 * where less(v) counts the values strictly smaller than v.  Equal values
 * therefore always share a score (unlike ntile), scores lie in 1..bins, and
 * a score is skipped only when a block of ties is larger than a bin.
 *
 * Values are given as order-preserving unsigned 128-bit keys, so one sort
 * serves timestamps, counts and exact decimals alike (see sk_i128_key()).
 */
#ifndef SK_RANK_H
#define SK_RANK_H

#include "numdec.h"
#include "sk_common.h"

#define SK_BINS_MAX 100

typedef struct sk_key
{
	uint64_t	hi;
	uint64_t	lo;
} sk_key;

/* Order-preserving key of a signed 64-bit value. */
static inline sk_key
sk_key_i64(int64_t v)
{
	sk_key		k;

	k.hi = (uint64_t) v ^ UINT64_C(0x8000000000000000);
	k.lo = 0;
	return k;
}

/*
 * keys[i] = order-preserving key of d[i], for i < n, all compared at the
 * largest scale among them.  SK_EOVERFLOW when a value does not fit 128
 * bits at that scale, or has a negative scale (the caller's mark for a
 * value too wide to decode); keys is then incomplete.
 */
sk_status	sk_dec_keys(const sk_dec *d, size_t n, sk_key *keys);

/* Bytes of workspace sk_quantile_scores needs for n values; 0 on overflow. */
size_t		sk_scores_work_size(size_t n);

/*
 * scores[i] = score of keys[i], for i < n.  work must be aligned for
 * uint64_t and hold sk_scores_work_size(n) bytes.  SK_EINVAL for bins
 * outside 1..SK_BINS_MAX or a short workspace, SK_ELIMIT for n >= 2^32,
 * SK_ECANCEL when the tick asks to stop.
 */
sk_status	sk_quantile_scores(const sk_key *keys, size_t n, int bins,
							   void *work, size_t work_size,
							   uint8_t *scores, const sk_tick *tick);

#endif							/* SK_RANK_H */
