/*
 * rfmstate.c - rfm_agg's running state: update, merge, check, text form.
 *
 * Every function here keeps the invariants listed in rfmstate.h; the parser
 * accepts exactly the text sk_rfm_state_format (plus a total) produces, so
 * a state that comes back from text is as trustworthy as one built by the
 * aggregate.
 */
#include "rfmstate.h"

#include <stdio.h>
#include <string.h>

void
sk_rfm_state_init(sk_rfm_state *st)
{
	memset(st, 0, sizeof(*st));
	st->version = SK_RFM_STATE_VERSION;
}

sk_status
sk_rfm_state_add(sk_rfm_state *st, int64_t ts, sk_dec amount)
{
	sk_dec		sum = sk_rfm_state_sum(st);

	if (sk_dec_add(&sum, amount) != SK_OK)
		return SK_EOVERFLOW;
	sk_rfm_state_set_sum(st, sum);
	sk_rfm_state_count(st, ts, amount.v > 0);
	return SK_OK;
}

void
sk_rfm_state_merge_counts(sk_rfm_state *a, const sk_rfm_state *b)
{
	if (b->orders > 0)
	{
		if (a->orders == 0 || b->first < a->first)
			a->first = b->first;
		if (a->orders == 0 || b->last > a->last)
			a->last = b->last;
	}
	a->orders += b->orders;
	a->refunds += b->refunds;
}

sk_status
sk_rfm_state_merge(sk_rfm_state *a, const sk_rfm_state *b)
{
	sk_dec		sum = sk_rfm_state_sum(a);

	if (sk_dec_add(&sum, sk_rfm_state_sum(b)) != SK_OK)
		return SK_EOVERFLOW;
	sk_rfm_state_set_sum(a, sum);
	sk_rfm_state_merge_counts(a, b);
	return SK_OK;
}

static int
ts_valid(int64_t ts)
{
	return ts >= SK_TS_MIN && ts < SK_TS_END;
}

sk_status
sk_rfm_state_check(const sk_rfm_state *st)
{
	if (st->version != SK_RFM_STATE_VERSION ||
		(st->flags & ~SK_RFM_SPILL) != 0 || st->reserved != 0)
		return SK_EDATA;
	if (st->orders < 0 || st->refunds < 0 ||
		st->orders > INT64_MAX - st->refunds ||
		st->orders + st->refunds < 1)
		return SK_EDATA;
	if (st->scale < 0 || st->scale > SK_DEC_MAX_DIGITS)
		return SK_EDATA;
	if (st->orders == 0)
		return (st->first == 0 && st->last == 0) ? SK_OK : SK_EDATA;
	if (!ts_valid(st->first) || !ts_valid(st->last) || st->first > st->last)
		return SK_EDATA;
	if (st->orders == 1 && st->first != st->last)
		return SK_EDATA;
	return SK_OK;
}

int
sk_rfm_state_format(const sk_rfm_state *st, char *buf)
{
	if (st->orders == 0)
		return snprintf(buf, SK_RFM_TEXT_PREFIX_MAX, "%d:0:%lld:::",
						SK_RFM_STATE_VERSION, (long long) st->refunds);
	return snprintf(buf, SK_RFM_TEXT_PREFIX_MAX, "%d:%lld:%lld:%lld:%lld:",
					SK_RFM_STATE_VERSION, (long long) st->orders,
					(long long) st->refunds, (long long) st->first,
					(long long) st->last);
}

/*
 * Parse one field: an optional '-' then 1..19 digits, no leading zeros
 * (except "0"), in int64 range, ending at ':'.  An empty field is allowed
 * only when *present may be set to 0.
 */
static sk_status
parse_i64(const char **p, const char *end, int64_t *out, int *present)
{
	const char *s = *p;
	int			neg = 0;
	uint64_t	v = 0;
	int			nd = 0;
	uint64_t	limit;

	if (s < end && *s == ':' && present != NULL)
	{
		*present = 0;
		*out = 0;
		*p = s + 1;
		return SK_OK;
	}
	if (s < end && *s == '-')
	{
		neg = 1;
		s++;
	}
	limit = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
	while (s < end && *s >= '0' && *s <= '9')
	{
		unsigned	d = (unsigned) (*s - '0');

		if (nd == 1 && v == 0)
			return SK_EDATA;	/* leading zero */
		if (v > (limit - d) / 10)
			return SK_EDATA;
		v = v * 10 + d;
		nd++;
		s++;
	}
	if (nd == 0 || s >= end || *s != ':' || (neg && v == 0))
		return SK_EDATA;
	*out = neg ? (int64_t) (0 - v) : (int64_t) v;
	if (present != NULL)
		*present = 1;
	*p = s + 1;
	return SK_OK;
}

static int
plain_decimal(const char *s, size_t len)
{
	size_t		i = 0;
	size_t		int_digits = 0;
	size_t		frac_digits = 0;

	if (i < len && s[i] == '-')
		i++;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		int_digits++;
	if (i < len && s[i] == '.')
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			frac_digits++;
	return int_digits > 0 && i == len &&
		(frac_digits > 0 || memchr(s, '.', len) == NULL);
}

sk_status
sk_rfm_state_parse(const char *s, size_t len, sk_rfm_state *st,
				   const char **total, size_t *total_len)
{
	const char *p = s;
	const char *end = s + len;
	int64_t		version;
	int			has_first;
	int			has_last;

	sk_rfm_state_init(st);
	if (parse_i64(&p, end, &version, NULL) != SK_OK ||
		version != SK_RFM_STATE_VERSION ||
		parse_i64(&p, end, &st->orders, NULL) != SK_OK ||
		parse_i64(&p, end, &st->refunds, NULL) != SK_OK ||
		parse_i64(&p, end, &st->first, &has_first) != SK_OK ||
		parse_i64(&p, end, &st->last, &has_last) != SK_OK)
		return SK_EDATA;
	if (has_first != has_last || has_first != (st->orders > 0))
		return SK_EDATA;
	if (!plain_decimal(p, (size_t) (end - p)))
		return SK_EDATA;
	*total = p;
	*total_len = (size_t) (end - p);
	return SK_OK;
}
