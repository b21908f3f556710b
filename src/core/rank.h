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

/*
 * Cut points of the same rule, for scoring values outside the keys:
 * cut_idx[s - 2], for s = 2..bins, is the index (into keys) of the key at
 * sorted position ceil((s - 1) * n / bins) - 1.  For any key v,
 *
 *     min(bins, 1 + floor(bins * less(v) / n)) == sk_cut_score(v, cut keys)
 *
 * where less(v) counts the keys strictly smaller than v: less(v) >=
 * ceil((s - 1) * n / bins) holds exactly when v is above that sorted key.
 * (For a v among the keys, less(v) < n and the min changes nothing; a v
 * above them all gets the top score.)
 * Same workspace and errors as sk_quantile_scores; n must be at least 1.
 */
sk_status	sk_quantile_cuts(const sk_key *keys, size_t n, int bins,
							 void *work, size_t work_size,
							 size_t *cut_idx, const sk_tick *tick);

static inline int
sk_key_cmp(sk_key a, sk_key b)
{
	if (a.hi != b.hi)
		return a.hi < b.hi ? -1 : 1;
	if (a.lo != b.lo)
		return a.lo < b.lo ? -1 : 1;
	return 0;
}

/* 1 + the number of cuts[0..ncuts) strictly below v. */
static inline int
sk_cut_score(sk_key v, const sk_key *cuts, int ncuts)
{
	int			s = 1;
	int			j;

	for (j = 0; j < ncuts; j++)
		s += sk_key_cmp(v, cuts[j]) > 0;
	return s;
}

#endif							/* SK_RANK_H */
