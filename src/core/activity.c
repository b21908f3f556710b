/*
 * activity.c - per-customer activity by period and its roll-up per segment.
 *
 * Every function keeps the invariants listed in activity.h and changes
 * nothing when it fails, so the server layer can grow an array or report
 * an error and leave the state as it was.  The parser accepts exactly the
 * text sk_act_format writes.
 */
#include "activity.h"

#include <stddef.h>
#include <string.h>

#include "rfmstate.h"			/* SK_TS_MIN, SK_TS_END */

void
sk_act_init(sk_act_head *h)
{
	memset(h, 0, sizeof(*h));
	h->version = SK_ACT_VERSION;
}

/* v * 10^k into *out; 0 when it does not fit. */
static int
scale_up(sk_i128 v, int k, sk_i128 *out)
{
	__int128	r;

	if (k == 0)
	{
		*out = v;
		return 1;
	}
	if (__builtin_mul_overflow((__int128) v, (__int128) sk_pow10_i128(k), &r))
		return 0;
	*out = r;
	return 1;
}

static int
add_i128(sk_i128 *acc, sk_i128 x)
{
	__int128	r;

	if (__builtin_add_overflow((__int128) *acc, (__int128) x, &r))
		return 0;
	*acc = r;
	return 1;
}

/* Can every sum of the entries be brought from scale `from` to `to`? */
static int
entries_rescale_fit(const sk_act_entry *e, int32_t n, int from, int to)
{
	sk_i128		dummy;
	int32_t		i;

	if (to == from)
		return 1;
	for (i = 0; i < n; i++)
		if (!scale_up(e[i].revenue, to - from, &dummy) ||
			!scale_up(e[i].cost, to - from, &dummy))
			return 0;
	return 1;
}

static void
entries_rescale(sk_act_entry *e, int32_t n, int from, int to)
{
	int32_t		i;

	if (to == from)
		return;
	for (i = 0; i < n; i++)
	{
		scale_up(e[i].revenue, to - from, &e[i].revenue);
		scale_up(e[i].cost, to - from, &e[i].cost);
	}
}

/*
 * Index of the first of n records (stride bytes apart, each starting with
 * its int32 period, as sk_act_entry and sk_rollup_cell do) whose period
 * is >= p.  Rows often come in time order, so the last one is tried first
 * (a row in the latest period, or after it, reads no other record).
 */
static int32_t
find_period_at(const void *base, size_t stride, int32_t n, int32_t p)
{
	const char *b = (const char *) base;
	int32_t		lo = 0,
				hi = n;

#define PERIOD_AT(i) (*(const int32_t *) (b + (size_t) (i) * stride))
	if (n > 0 && PERIOD_AT(n - 1) <= p)
		return PERIOD_AT(n - 1) < p ? n : n - 1;
	while (lo < hi)
	{
		int32_t		mid = lo + (hi - lo) / 2;

		if (PERIOD_AT(mid) < p)
			lo = mid + 1;
		else
			hi = mid;
	}
#undef PERIOD_AT
	return lo;
}

/* find_period_at relies on the period coming first */
typedef char sk_period_first_1[offsetof(sk_act_entry, period) == 0 ? 1 : -1];
typedef char sk_period_first_2[offsetof(sk_rollup_cell, period) == 0 ? 1 : -1];

static int32_t
find_period(const sk_act_entry *e, int32_t n, int32_t p)
{
	return find_period_at(e, sizeof(sk_act_entry), n, p);
}

sk_status
sk_act_add(sk_act_head *h, sk_act_entry *e, int32_t cap, const sk_act_row *row)
{
	int			scale = h->scale;
	int			is_order = row->amount.v > 0;
	int32_t		pos = find_period(e, h->n, row->period);
	int			found = pos < h->n && e[pos].period == row->period;
	sk_i128		amount,
				cost = 0,
				rev,
				cst;

	if (row->amount.scale > scale)
		scale = row->amount.scale;
	if (row->cost.scale > scale)
		scale = row->cost.scale;
	if (!found && h->n >= cap)
		return SK_ELIMIT;
	if (!found && h->n >= SK_ACT_MAX_PERIODS)
		return SK_EOVERFLOW;
	if (!scale_up(row->amount.v, scale - row->amount.scale, &amount) ||
		(row->cost.scale >= 0 && !scale_up(row->cost.v, scale - row->cost.scale, &cost)) ||
		!entries_rescale_fit(e, h->n, h->scale, scale))
		return SK_EOVERFLOW;

	/* the new sums, checked before anything is written */
	rev = amount;
	cst = cost;
	if (found)
	{
		sk_i128		old_rev = 0,
					old_cost = 0;

		scale_up(e[pos].revenue, scale - h->scale, &old_rev);
		scale_up(e[pos].cost, scale - h->scale, &old_cost);
		if (!add_i128(&rev, old_rev) || !add_i128(&cst, old_cost) ||
			(is_order && e[pos].orders == INT32_MAX))
			return SK_EOVERFLOW;
	}
	if (is_order ? h->orders == INT64_MAX : h->refunds == INT64_MAX)
		return SK_EOVERFLOW;

	entries_rescale(e, h->n, h->scale, scale);
	h->scale = (int16_t) scale;
	if (!found)
	{
		memmove(&e[pos + 1], &e[pos], (size_t) (h->n - pos) * sizeof(sk_act_entry));
		memset(&e[pos], 0, sizeof(sk_act_entry));
		e[pos].period = row->period;
		h->n++;
	}
	e[pos].revenue = rev;
	e[pos].cost = cst;
	if (h->orders + h->refunds == 0 || row->ts < h->first_row)
		h->first_row = row->ts;
	if (!is_order)
	{
		h->refunds++;
		return SK_OK;
	}
	e[pos].orders++;
	if (h->orders == 0 || row->ts < h->first_order)
		h->first_order = row->ts;
	if (h->orders == 0 || row->ts > h->last_order)
		h->last_order = row->ts;
	h->orders++;
	return SK_OK;
}

sk_status
sk_act_merge(const sk_act_head *a, const sk_act_entry *ae,
			 const sk_act_head *b, const sk_act_entry *be,
			 sk_act_head *out, sk_act_entry *oute)
{
	int			scale = a->scale > b->scale ? a->scale : b->scale;
	int32_t		i = 0,
				j = 0,
				k = 0;
	sk_act_head h;

	if (b->n == 0 || a->n == 0)
	{
		const sk_act_head *src = b->n == 0 ? a : b;

		*out = *src;
		memcpy(oute, b->n == 0 ? ae : be, (size_t) src->n * sizeof(sk_act_entry));
		return SK_OK;
	}
	if (a->orders > INT64_MAX - b->orders || a->refunds > INT64_MAX - b->refunds)
		return SK_EOVERFLOW;
	h = *a;
	h.scale = (int16_t) scale;
	while (i < a->n || j < b->n)
	{
		sk_act_entry x;

		if (j >= b->n || (i < a->n && ae[i].period < be[j].period))
		{
			x = ae[i++];
			if (!scale_up(x.revenue, scale - a->scale, &x.revenue) ||
				!scale_up(x.cost, scale - a->scale, &x.cost))
				return SK_EOVERFLOW;
		}
		else if (i >= a->n || be[j].period < ae[i].period)
		{
			x = be[j++];
			if (!scale_up(x.revenue, scale - b->scale, &x.revenue) ||
				!scale_up(x.cost, scale - b->scale, &x.cost))
				return SK_EOVERFLOW;
		}
		else
		{
			sk_i128		r2,
						c2;

			x = ae[i];
			if (!scale_up(x.revenue, scale - a->scale, &x.revenue) ||
				!scale_up(x.cost, scale - a->scale, &x.cost) ||
				!scale_up(be[j].revenue, scale - b->scale, &r2) ||
				!scale_up(be[j].cost, scale - b->scale, &c2) ||
				!add_i128(&x.revenue, r2) || !add_i128(&x.cost, c2) ||
				x.orders > INT32_MAX - be[j].orders)
				return SK_EOVERFLOW;
			x.orders += be[j].orders;
			i++;
			j++;
		}
		oute[k++] = x;
	}
	h.n = k;
	h.orders = a->orders + b->orders;
	h.refunds = a->refunds + b->refunds;
	if (b->first_row < h.first_row)
		h.first_row = b->first_row;
	if (b->orders > 0)
	{
		if (a->orders == 0 || b->first_order < h.first_order)
			h.first_order = b->first_order;
		if (a->orders == 0 || b->last_order > h.last_order)
			h.last_order = b->last_order;
	}
	*out = h;
	return SK_OK;
}

sk_status
sk_act_totals(const sk_act_head *h, const sk_act_entry *e, sk_dec *revenue, sk_dec *cost)
{
	sk_i128		r = 0,
				c = 0;
	int32_t		i;

	for (i = 0; i < h->n; i++)
		if (!add_i128(&r, e[i].revenue) || !add_i128(&c, e[i].cost))
			return SK_EOVERFLOW;
	revenue->v = r;
	revenue->scale = h->scale;
	cost->v = c;
	cost->scale = h->scale;
	return SK_OK;
}

static int
ts_valid(int64_t ts)
{
	return ts >= SK_TS_MIN && ts < SK_TS_END;
}

sk_status
sk_act_check(const sk_act_head *h, const sk_act_entry *e)
{
	int64_t		orders = 0;
	int32_t		i;

	if (h->version != SK_ACT_VERSION || h->flags != 0 ||
		h->scale < 0 || h->scale > SK_DEC_MAX_DIGITS ||
		h->n < 1 || h->n > SK_ACT_MAX_PERIODS ||
		h->orders < 0 || h->refunds < 0 ||
		h->orders > INT64_MAX - h->refunds || h->orders + h->refunds < h->n)
		return SK_EDATA;
	for (i = 0; i < h->n; i++)
	{
		if (e[i].orders < 0 || (i > 0 && e[i].period <= e[i - 1].period))
			return SK_EDATA;
		orders += e[i].orders;
	}
	if (orders != h->orders || !ts_valid(h->first_row))
		return SK_EDATA;
	if (h->orders == 0)
		return (h->first_order == 0 && h->last_order == 0) ? SK_OK : SK_EDATA;
	if (!ts_valid(h->first_order) || !ts_valid(h->last_order) ||
		h->first_row > h->first_order || h->first_order > h->last_order ||
		(h->orders == 1 && h->first_order != h->last_order))
		return SK_EDATA;
	return SK_OK;
}

/* ---- text form ------------------------------------------------------ */

/* decimal digits of an int64 with sign: 20; of an sk_i128: 40 */
#define I64_TEXT 20
#define I128_TEXT 40
#define HEAD_TEXT (2 + 3 + 5 * (I64_TEXT + 1))
#define ENTRY_TEXT (1 + 11 + 1 + 11 + 1 + I128_TEXT + 1 + I128_TEXT)

size_t
sk_act_text_size(int32_t n)
{
	size_t		body,
				total;

	if (n < 0 || !sk_size_mul((size_t) n, ENTRY_TEXT, &body) ||
		!sk_size_add(body, HEAD_TEXT + 1, &total))
		return 0;
	return total;
}

static size_t
put_i128(char *buf, sk_i128 v)
{
	char		tmp[I128_TEXT];
	unsigned __int128 u = v < 0 ? -(unsigned __int128) v : (unsigned __int128) v;
	size_t		n = 0,
				len = 0;

	do
	{
		tmp[n++] = (char) ('0' + (int) (u % 10));
		u /= 10;
	} while (u != 0);
	if (v < 0)
		buf[len++] = '-';
	while (n > 0)
		buf[len++] = tmp[--n];
	return len;
}

size_t
sk_act_format(const sk_act_head *h, const sk_act_entry *e, char *buf)
{
	size_t		len = 0;
	int64_t		head[5] = {h->orders, h->refunds, h->first_row, h->first_order, h->last_order};
	int32_t		i;
	int			k;

	len += put_i128(buf + len, h->version);
	buf[len++] = ':';
	len += put_i128(buf + len, h->scale);
	for (k = 0; k < 5; k++)
	{
		buf[len++] = ':';
		len += put_i128(buf + len, head[k]);
	}
	for (i = 0; i < h->n; i++)
	{
		buf[len++] = ';';
		len += put_i128(buf + len, e[i].period);
		buf[len++] = ',';
		len += put_i128(buf + len, e[i].orders);
		buf[len++] = ',';
		len += put_i128(buf + len, e[i].revenue);
		buf[len++] = ',';
		len += put_i128(buf + len, e[i].cost);
	}
	buf[len] = '\0';
	return len;
}

#define I128_MIN (-(sk_i128) (((unsigned __int128) 1 << 127) - 1) - 1)
#define I128_MAX ((sk_i128) (((unsigned __int128) 1 << 127) - 1))

/*
 * Read an integer at *p (before end) within [lo, hi] as an sk_i128:
 * optional '-', then 1..39 digits; *p moves past it.
 */
static int
get_int(const char **p, const char *end, sk_i128 lo, sk_i128 hi, sk_i128 *out)
{
	const char *s = *p;
	int			neg = 0,
				digits = 0;
	__int128	v = 0;

	if (s < end && *s == '-')
	{
		neg = 1;
		s++;
	}
	while (s < end && *s >= '0' && *s <= '9')
	{
		if (++digits > 39 ||
			__builtin_mul_overflow(v, 10, &v) ||
			__builtin_sub_overflow(v, (__int128) (*s - '0'), &v))
			return 0;
		s++;
	}
	/*
	 * Accumulated as a negative number so that the minimum fits.  Only the
	 * canonical form is accepted (no leading zeros, no "-0"), so a parsed
	 * value formats back to the very same text.
	 */
	if (digits == 0 || (!neg && v == I128_MIN) || (neg && v == 0) ||
		(digits > 1 && (*p)[neg] == '0'))
		return 0;
	if (!neg)
		v = -v;
	if (v < lo || v > hi)
		return 0;
	*out = v;
	*p = s;
	return 1;
}

static int
expect(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return 0;
	(*p)++;
	return 1;
}

sk_status
sk_act_parse_count(const char *s, size_t len, int32_t *n)
{
	size_t		i;
	int64_t		count = 0;

	for (i = 0; i < len; i++)
		if (s[i] == ';' && ++count > SK_ACT_MAX_PERIODS)
			return SK_EDATA;
	*n = (int32_t) count;
	return SK_OK;
}

sk_status
sk_act_parse(const char *s, size_t len, sk_act_head *h, sk_act_entry *e, int32_t cap)
{
	const char *p = s,
			   *end = s + len;
	sk_i128		v;
	int64_t    *head[5];
	int			k;

	memset(h, 0, sizeof(*h));
	head[0] = &h->orders;
	head[1] = &h->refunds;
	head[2] = &h->first_row;
	head[3] = &h->first_order;
	head[4] = &h->last_order;
	if (!get_int(&p, end, 0, 255, &v) || !expect(&p, end, ':'))
		return SK_EDATA;
	h->version = (uint8_t) v;
	if (!get_int(&p, end, 0, SK_DEC_MAX_DIGITS, &v))
		return SK_EDATA;
	h->scale = (int16_t) v;
	for (k = 0; k < 5; k++)
	{
		if (!expect(&p, end, ':') || !get_int(&p, end, INT64_MIN, INT64_MAX, &v))
			return SK_EDATA;
		*head[k] = (int64_t) v;
	}
	while (p < end)
	{
		sk_act_entry *x;

		if (h->n >= cap || !expect(&p, end, ';'))
			return SK_EDATA;
		x = &e[h->n];
		memset(x, 0, sizeof(*x));
		if (!get_int(&p, end, INT32_MIN, INT32_MAX, &v))
			return SK_EDATA;
		x->period = (int32_t) v;
		if (!expect(&p, end, ',') || !get_int(&p, end, 0, INT32_MAX, &v))
			return SK_EDATA;
		x->orders = (int32_t) v;
		if (!expect(&p, end, ',') || !get_int(&p, end, I128_MIN, I128_MAX, &x->revenue) ||
			!expect(&p, end, ',') || !get_int(&p, end, I128_MIN, I128_MAX, &x->cost))
			return SK_EDATA;
		h->n++;
	}
	return sk_act_check(h, e);
}

/* ---- roll-up -------------------------------------------------------- */

/*
 * Month of a date, counted from March of year 0 shifted back to January:
 * the civil calendar repeats every 400 years (146097 days), and counting
 * years from March puts the leap day at the end of the year.
 */
int64_t
sk_date_month(int32_t date)
{
	/* days since 0000-03-01: 2000-01-01 is day 730425 of that count */
	int64_t		z = (int64_t) date + 730425;
	int64_t		era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t		doe = z - era * 146097;	/* 0 .. 146096 */
	int64_t		yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t		doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t		mp = (5 * doy + 2) / 153;	/* 0 = March .. 11 = February */
	int64_t		year = yoe + era * 400 + (mp >= 10);
	int64_t		month = mp < 10 ? mp + 2 : mp - 10;	/* 0 = January */

	return year * 12 + month;
}

sk_status
sk_rollup_init(sk_rollup_head *r, int32_t step)
{
	memset(r, 0, sizeof(*r));
	r->version = SK_ROLLUP_VERSION;
	if (step < 1 || step > 12)
		return SK_EINVAL;
	r->step = step;
	return SK_OK;
}

static int32_t
find_cell(const sk_rollup_cell *c, int32_t n, int32_t p)
{
	return find_period_at(c, sizeof(sk_rollup_cell), n, p);
}

int32_t
sk_rollup_need(const sk_rollup_head *r, const sk_rollup_cell *c,
			   const sk_act_head *a, const sk_act_entry *ae)
{
	int32_t		need = r->n,
				i;

	for (i = 0; i < a->n; i++)
	{
		int32_t		pos = find_cell(c, r->n, ae[i].period);

		if (pos >= r->n || c[pos].period != ae[i].period)
			need++;
	}
	return need;
}

/* Is entry i of an activity retained: active, and active step months before? */
static int
is_retained(const sk_act_entry *ae, int32_t i, int32_t step)
{
	return i > 0 && ae[i].orders > 0 && ae[i - 1].orders > 0 &&
		sk_date_month(ae[i].period) - sk_date_month(ae[i - 1].period) == step;
}

static int
cell_fits(const sk_rollup_cell *x, int xscale, const sk_act_entry *y, int yscale, int scale)
{
	sk_i128		a,
				b;

	return scale_up(x->revenue, scale - xscale, &a) &&
		scale_up(y->revenue, scale - yscale, &b) && add_i128(&a, b) &&
		scale_up(x->cost, scale - xscale, &a) &&
		scale_up(y->cost, scale - yscale, &b) && add_i128(&a, b) &&
		x->orders <= INT64_MAX - y->orders && x->active < INT64_MAX;
}

/*
 * The common case of sk_rollup_add, tried first: every period of a already
 * has a cell and both use one scale, so nothing is inserted or rescaled.
 * Entries and cells are both in period order: one walk checks every sum,
 * a second applies them.  Returns 0, having changed nothing, when the case
 * does not apply; else 1 with *st set.
 */
static int
rollup_add_in_place(sk_rollup_head *r, sk_rollup_cell *c, const sk_act_head *a,
					const sk_act_entry *ae, sk_status *st)
{
	int32_t		start,
				pos,
				i;
	int64_t		month = 0,
				prev_month = 0;

	if (a->n == 0 || a->scale != r->scale)
		return 0;
	start = pos = find_cell(c, r->n, ae[0].period);
	for (i = 0; i < a->n; i++)
	{
		while (pos < r->n && c[pos].period < ae[i].period)
			pos++;
		if (pos >= r->n || c[pos].period != ae[i].period)
			return 0;
		if (!cell_fits(&c[pos], r->scale, &ae[i], a->scale, r->scale))
		{
			*st = SK_EOVERFLOW;
			return 1;
		}
	}
	pos = start;
	for (i = 0; i < a->n; i++)
	{
		int			active = ae[i].orders > 0;

		while (c[pos].period < ae[i].period)
			pos++;
		if (active)
			month = sk_date_month(ae[i].period);
		/* retained: active, and active step months before (is_retained) */
		c[pos].retained += active && i > 0 && ae[i - 1].orders > 0 &&
			month - prev_month == r->step;
		c[pos].active += active;
		c[pos].orders += ae[i].orders;
		c[pos].revenue += ae[i].revenue;
		c[pos].cost += ae[i].cost;
		prev_month = month;
	}
	r->customers++;
	*st = SK_OK;
	return 1;
}

sk_status
sk_rollup_add(sk_rollup_head *r, sk_rollup_cell *c, int32_t cap,
			  const sk_act_head *a, const sk_act_entry *ae)
{
	int			scale = r->scale > a->scale ? r->scale : a->scale;
	int32_t		i;
	sk_status	st;

	if (r->customers == INT64_MAX)
		return SK_EOVERFLOW;
	if (rollup_add_in_place(r, c, a, ae, &st))
		return st;
	if (sk_rollup_need(r, c, a, ae) > cap)
		return SK_ELIMIT;
	/* check every sum before changing anything */
	for (i = 0; scale != r->scale && i < r->n; i++)
	{
		sk_i128		v;

		if (!scale_up(c[i].revenue, scale - r->scale, &v) ||
			!scale_up(c[i].cost, scale - r->scale, &v))
			return SK_EOVERFLOW;
	}
	for (i = 0; i < a->n; i++)
	{
		int32_t		pos = find_cell(c, r->n, ae[i].period);
		sk_rollup_cell zero;

		memset(&zero, 0, sizeof(zero));
		if (!cell_fits(pos < r->n && c[pos].period == ae[i].period ? &c[pos] : &zero,
					   r->scale, &ae[i], a->scale, scale))
			return SK_EOVERFLOW;
	}

	for (i = 0; scale != r->scale && i < r->n; i++)
	{
		scale_up(c[i].revenue, scale - r->scale, &c[i].revenue);
		scale_up(c[i].cost, scale - r->scale, &c[i].cost);
	}
	r->scale = (int16_t) scale;
	for (i = 0; i < a->n; i++)
	{
		int32_t		pos = find_cell(c, r->n, ae[i].period);
		sk_i128		v = 0;

		if (pos >= r->n || c[pos].period != ae[i].period)
		{
			memmove(&c[pos + 1], &c[pos], (size_t) (r->n - pos) * sizeof(sk_rollup_cell));
			memset(&c[pos], 0, sizeof(sk_rollup_cell));
			c[pos].period = ae[i].period;
			r->n++;
		}
		c[pos].active += ae[i].orders > 0;
		c[pos].retained += is_retained(ae, i, r->step);
		c[pos].orders += ae[i].orders;
		scale_up(ae[i].revenue, scale - a->scale, &v);
		c[pos].revenue += v;
		scale_up(ae[i].cost, scale - a->scale, &v);
		c[pos].cost += v;
	}
	r->customers++;
	return SK_OK;
}

sk_status
sk_rollup_merge(const sk_rollup_head *a, const sk_rollup_cell *ac,
				const sk_rollup_head *b, const sk_rollup_cell *bc,
				sk_rollup_head *out, sk_rollup_cell *outc)
{
	int			scale = a->scale > b->scale ? a->scale : b->scale;
	int32_t		i = 0,
				j = 0,
				k = 0;
	sk_rollup_head h = *a;

	if (a->step != b->step)
		return SK_EINVAL;
	if (a->customers > INT64_MAX - b->customers)
		return SK_EOVERFLOW;
	while (i < a->n || j < b->n)
	{
		sk_rollup_cell x;
		int			take_a = j >= b->n || (i < a->n && ac[i].period <= bc[j].period);
		int			take_b = i >= a->n || (j < b->n && bc[j].period <= ac[i].period);

		memset(&x, 0, sizeof(x));
		x.period = take_a ? ac[i].period : bc[j].period;
		if (take_a)
		{
			if (!scale_up(ac[i].revenue, scale - a->scale, &x.revenue) ||
				!scale_up(ac[i].cost, scale - a->scale, &x.cost))
				return SK_EOVERFLOW;
			x.active = ac[i].active;
			x.retained = ac[i].retained;
			x.orders = ac[i].orders;
			i++;
		}
		if (take_b)
		{
			sk_i128		rv,
						cv;

			if (!scale_up(bc[j].revenue, scale - b->scale, &rv) ||
				!scale_up(bc[j].cost, scale - b->scale, &cv) ||
				!add_i128(&x.revenue, rv) || !add_i128(&x.cost, cv) ||
				x.active > INT64_MAX - bc[j].active ||
				x.orders > INT64_MAX - bc[j].orders)
				return SK_EOVERFLOW;
			x.active += bc[j].active;
			x.retained += bc[j].retained;
			x.orders += bc[j].orders;
			j++;
		}
		outc[k++] = x;
	}
	h.n = k;
	h.scale = (int16_t) scale;
	h.customers = a->customers + b->customers;
	*out = h;
	return SK_OK;
}

sk_status
sk_rollup_check(const sk_rollup_head *r, const sk_rollup_cell *c)
{
	int32_t		i;

	if (r->version != SK_ROLLUP_VERSION || r->flags != 0 || r->reserved != 0 ||
		r->scale < 0 || r->scale > SK_DEC_MAX_DIGITS ||
		r->step < 1 || r->step > 12 || r->n < 0 || r->n > SK_ACT_MAX_PERIODS ||
		r->customers < 0)
		return SK_EDATA;
	for (i = 0; i < r->n; i++)
	{
		if ((i > 0 && c[i].period <= c[i - 1].period) || c[i].reserved != 0 ||
			c[i].active < 0 || c[i].active > r->customers ||
			c[i].retained < 0 || c[i].retained > c[i].active ||
			c[i].orders < c[i].active)
			return SK_EDATA;
	}
	return SK_OK;
}
