/*
 * rank.c - quantile scores by a stable LSD radix sort.
 *
 * A radix sort costs one pass per key byte that actually varies, so a
 * column of timestamps sorts in about six passes and a column of small
 * counts in one or two, independent of n's logarithm.  Records carry their
 * original index so scores land back in input order.
 */
#include "rank.h"

#include <string.h>

typedef struct rank_rec
{
	uint64_t	hi;
	uint64_t	lo;
	uint64_t	idx;
} rank_rec;

#define TICK_EVERY 65536

sk_status
sk_dec_keys(const sk_dec *d, size_t n, sk_key *keys)
{
	int			scale = 0;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		if (d[i].scale < 0)
			return SK_EOVERFLOW;
		if (d[i].scale > scale)
			scale = d[i].scale;
	}
	for (i = 0; i < n; i++)
	{
		sk_dec		x = d[i];

		if (sk_dec_rescale(&x, scale) != SK_OK)
			return SK_EOVERFLOW;
		sk_i128_key(x.v, &keys[i].hi, &keys[i].lo);
	}
	return SK_OK;
}

size_t
sk_scores_work_size(size_t n)
{
	size_t		bytes;

	if (!sk_size_mul(n, 2 * sizeof(rank_rec), &bytes))
		return 0;
	return bytes == 0 ? sizeof(rank_rec) : bytes;
}

static inline unsigned
key_byte(const rank_rec *r, int b)
{
	return b < 8 ? (unsigned) (r->lo >> (8 * b)) & 0xFF
		: (unsigned) (r->hi >> (8 * (b - 8))) & 0xFF;
}

/* Sort recs[0..n) into place (using tmp); returns where the result is. */
static rank_rec *
radix_sort(rank_rec *recs, rank_rec *tmp, size_t n, const sk_tick *tick,
		   int *cancelled)
{
	size_t		counts[16][256];
	rank_rec   *src = recs;
	rank_rec   *dst = tmp;
	size_t		i;
	int			b;

	memset(counts, 0, sizeof(counts));
	for (i = 0; i < n; i++)
	{
		for (b = 0; b < 16; b++)
			counts[b][key_byte(&recs[i], b)]++;
		if (i % TICK_EVERY == 0 && sk_tick_stop(tick))
		{
			*cancelled = 1;
			return recs;
		}
	}

	for (b = 0; b < 16; b++)
	{
		size_t		offs[256];
		size_t		sum = 0;
		rank_rec   *swap;
		int			v;

		/* a byte that is the same in every key does not reorder anything */
		if (counts[b][key_byte(&recs[0], b)] == n)
			continue;
		for (v = 0; v < 256; v++)
		{
			offs[v] = sum;
			sum += counts[b][v];
		}
		for (i = 0; i < n; i++)
		{
			dst[offs[key_byte(&src[i], b)]++] = src[i];
			if (i % TICK_EVERY == 0 && sk_tick_stop(tick))
			{
				*cancelled = 1;
				return src;
			}
		}
		swap = src;
		src = dst;
		dst = swap;
	}
	return src;
}

/*
 * Check the arguments shared by both rules and sort keys with their
 * indexes; *sorted is NULL when there is nothing to sort.
 */
static sk_status
sort_keys(const sk_key *keys, size_t n, int bins, void *work,
		  size_t work_size, const sk_tick *tick, const rank_rec **sorted)
{
	rank_rec   *recs = (rank_rec *) work;
	rank_rec   *out;
	size_t		i;
	int			cancelled = 0;

	*sorted = NULL;
	if (bins < 1 || bins > SK_BINS_MAX)
		return SK_EINVAL;
	if (n == 0)
		return SK_OK;
	if (n > UINT32_MAX)
		return SK_ELIMIT;
	if (work == NULL || work_size < sk_scores_work_size(n))
		return SK_EINVAL;

	for (i = 0; i < n; i++)
	{
		recs[i].hi = keys[i].hi;
		recs[i].lo = keys[i].lo;
		recs[i].idx = i;
	}
	out = radix_sort(recs, recs + n, n, tick, &cancelled);
	if (cancelled)
		return SK_ECANCEL;
	*sorted = out;
	return SK_OK;
}

sk_status
sk_quantile_scores(const sk_key *keys, size_t n, int bins, void *work,
				   size_t work_size, uint8_t *scores, const sk_tick *tick)
{
	const rank_rec *sorted;
	size_t		less = 0;
	size_t		i;
	sk_status	rc = sort_keys(keys, n, bins, work, work_size, tick, &sorted);

	if (rc != SK_OK || sorted == NULL)
		return rc;
	for (i = 0; i < n; i++)
	{
		if (i > 0 && (sorted[i].hi != sorted[i - 1].hi ||
					  sorted[i].lo != sorted[i - 1].lo))
			less = i;
		scores[sorted[i].idx] = (uint8_t) (1 + ((uint64_t) bins * less) / n);
	}
	return SK_OK;
}

sk_status
sk_quantile_cuts(const sk_key *keys, size_t n, int bins, void *work,
				 size_t work_size, size_t *cut_idx, const sk_tick *tick)
{
	const rank_rec *sorted;
	sk_status	rc;
	int			s;

	if (n == 0)
		return SK_EINVAL;
	rc = sort_keys(keys, n, bins, work, work_size, tick, &sorted);
	if (rc != SK_OK)
		return rc;
	for (s = 2; s <= bins; s++)
	{
		/* n < 2^32 and bins <= 100: no overflow; position >= 1 */
		uint64_t	pos = ((uint64_t) (s - 1) * n + (uint64_t) bins - 1) / (uint64_t) bins;

		cut_idx[s - 2] = (size_t) sorted[pos - 1].idx;
	}
	return SK_OK;
}
