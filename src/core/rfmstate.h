/*
 * rfmstate.h - the running state of segkpi.rfm_agg, and its text form.
 *
 * One state summarises one customer's rows: orders (rows with amount > 0)
 * set the first and last order time and the order count; refunds and
 * adjustments (amount <= 0) only lower the monetary total and are counted
 * apart.  The monetary total is exact: an sk_dec while it fits, and past
 * that the server layer keeps the excess as a numeric ("spill").
 *
 * Timestamps are PostgreSQL TimestampTz values: microseconds since
 * 2000-01-01 00:00 UTC, within the finite range PostgreSQL accepts.
 *
 * Invariants of a valid state (checked by sk_rfm_state_check):
 *   version == SK_RFM_STATE_VERSION, no unknown flag bits,
 *   orders >= 0, refunds >= 0, orders + refunds >= 1,
 *   orders == 0  <=>  first and last are absent (zero),
 *   orders == 1  =>   first == last,   first <= last,
 *   both timestamps in [SK_TS_MIN, SK_TS_END), 0 <= scale <= 38.
 */
#ifndef SK_RFMSTATE_H
#define SK_RFMSTATE_H

#include "numdec.h"

#define SK_RFM_STATE_VERSION 1

/* flag bits */
#define SK_RFM_SPILL 0x01		/* part of the total is kept as a numeric */

/* PostgreSQL's finite TimestampTz range: 4714-11-24 BC .. 294277-01-01 */
#define SK_TS_MIN INT64_C(-211813488000000000)
#define SK_TS_END INT64_C(9223371331200000000)

typedef struct sk_rfm_state
{
	uint8_t		version;
	uint8_t		flags;
	int16_t		scale;			/* scale of the exact part of the total */
	int32_t		reserved;		/* zero; room for the format to grow */
	int64_t		orders;
	int64_t		refunds;
	int64_t		first;			/* first order time; 0 when orders == 0 */
	int64_t		last;			/* last order time; 0 when orders == 0 */
	uint64_t	sum_lo;			/* exact part of the total, as two halves */
	int64_t		sum_hi;			/* so the struct needs only 8-byte alignment */
} sk_rfm_state;

void		sk_rfm_state_init(sk_rfm_state *st);

/* The exact part of the total. */
static inline sk_dec
sk_rfm_state_sum(const sk_rfm_state *st)
{
	sk_dec		d;
	unsigned __int128 u;

	u = ((unsigned __int128) (uint64_t) st->sum_hi << 64) | st->sum_lo;
	d.v = (sk_i128) u;
	d.scale = st->scale;
	return d;
}

static inline void
sk_rfm_state_set_sum(sk_rfm_state *st, sk_dec sum)
{
	unsigned __int128 u = (unsigned __int128) sum.v;

	st->sum_lo = (uint64_t) u;
	st->sum_hi = (int64_t) (uint64_t) (u >> 64);
	st->scale = (int16_t) sum.scale;
}

/*
 * Add one row.  Returns SK_EOVERFLOW, with st unchanged, when the amount
 * does not fit the exact part; the caller then adds it to the spill.
 */
sk_status	sk_rfm_state_add(sk_rfm_state *st, int64_t ts, sk_dec amount);

/* Count one row whose amount the caller has added (to the sum or the spill). */
static inline void
sk_rfm_state_count(sk_rfm_state *st, int64_t ts, int is_order)
{
	if (!is_order)
	{
		st->refunds++;
		return;
	}
	if (st->orders == 0 || ts < st->first)
		st->first = ts;
	if (st->orders == 0 || ts > st->last)
		st->last = ts;
	st->orders++;
}

/*
 * a += b for everything but the monetary total's spill.  SK_EOVERFLOW, with
 * a unchanged, when the exact parts do not add; the caller then moves b's
 * exact part to the spill and calls again with b's sum treated as zero
 * (sk_rfm_state_merge_counts).
 */
sk_status	sk_rfm_state_merge(sk_rfm_state *a, const sk_rfm_state *b);
void		sk_rfm_state_merge_counts(sk_rfm_state *a, const sk_rfm_state *b);

/* SK_OK when st satisfies every invariant above, else SK_EDATA. */
sk_status	sk_rfm_state_check(const sk_rfm_state *st);

/*
 * Text form, version 1:
 *     1:<orders>:<refunds>:<first>:<last>:<total>
 * integers in plain decimal, first and last empty when orders is 0,
 * total a plain decimal ([-]digits[.digits]) of any length: the whole
 * monetary total, spill included.  Example: 1:3:1:757382400000000:
 * 788918400000000:150.25 (on one line).
 *
 * sk_rfm_state_format writes the fields before the total into buf (which
 * needs SK_RFM_TEXT_PREFIX_MAX bytes) and returns the length; the caller
 * appends the total.  sk_rfm_state_parse checks the whole text and fills
 * *st with everything but the total, whose span it returns (already
 * checked to be a plain decimal); the caller stores it (sk_dec_parse, or
 * as a numeric when that reports SK_EOVERFLOW), then runs the check.
 */
#define SK_RFM_TEXT_PREFIX_MAX 96
int			sk_rfm_state_format(const sk_rfm_state *st, char *buf);
sk_status	sk_rfm_state_parse(const char *s, size_t len, sk_rfm_state *st,
							   const char **total, size_t *total_len);

#endif							/* SK_RFMSTATE_H */
