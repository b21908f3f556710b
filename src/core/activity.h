/*
 * activity.h - one customer's orders by period, and their roll-up per segment.
 *
 * An activity summarises one customer's order rows the way the KPI refresh
 * needs them: per period (a calendar month or quarter, given by the caller
 * as the PostgreSQL date of its first day) the number of orders (rows with
 * amount > 0), the sum of all amounts (refunds included) and the sum of
 * costs; over all periods the refund count, the first row time and the
 * first and last order times.  With one activity per customer, the KPIs of
 * a segment need one pass over customers instead of one over
 * customer-periods.
 *
 * Sums are exact scaled 128-bit integers at one scale per activity (the
 * largest scale seen).  A sum that needs more than 38 significant digits is
 * SK_EOVERFLOW: a documented limit, never a rounding.
 *
 * Invariants of a valid activity (sk_act_check):
 *   version == SK_ACT_VERSION, flags == 0, 0 <= scale <= 38,
 *   1 <= n, periods strictly increasing, every orders >= 0,
 *   head.orders == sum of entry orders, refunds >= 0,
 *   orders + refunds >= n (every period has at least one row),
 *   orders == 0  <=>  first_order and last_order are zero,
 *   first_row <= first_order <= last_order when orders > 0,
 *   timestamps within PostgreSQL's finite range.
 *
 * A roll-up sums activities of many customers per period: customers active
 * (orders > 0), customers retained (active in the period and in the one
 * step months before it), orders, revenue, cost.
 */
#ifndef SK_ACTIVITY_H
#define SK_ACTIVITY_H

#include "numdec.h"

#define SK_ACT_VERSION 1

/* 2^20 periods: far more months than PostgreSQL's date range holds */
#define SK_ACT_MAX_PERIODS (1 << 20)

typedef struct sk_act_entry
{
	int32_t		period;			/* first day of the period, days since 2000-01-01 */
	int32_t		orders;			/* rows with amount > 0 */
	sk_i128		revenue;		/* sum of amounts, at the activity's scale */
	sk_i128		cost;			/* sum of costs, at the activity's scale */
} sk_act_entry;

typedef struct sk_act_head
{
	uint8_t		version;
	uint8_t		flags;			/* zero; room for the format to grow */
	int16_t		scale;
	int32_t		n;				/* entries */
	int64_t		orders;
	int64_t		refunds;
	int64_t		first_row;		/* earliest row, order or refund */
	int64_t		first_order;	/* 0 when orders == 0 */
	int64_t		last_order;		/* 0 when orders == 0 */
} sk_act_head;

/* One order row; cost.scale < 0 means no cost. */
typedef struct sk_act_row
{
	int32_t		period;
	int64_t		ts;
	sk_dec		amount;
	sk_dec		cost;
} sk_act_row;

/* An empty activity (n = 0): valid only as the start of an aggregation. */
void		sk_act_init(sk_act_head *h);

/*
 * Add one row to h and its entries (capacity cap).  SK_ELIMIT, with
 * nothing changed, when a new period needs an entry and n == cap: the
 * caller grows the array and calls again.  SK_EOVERFLOW, with nothing
 * changed, when a sum would pass 38 digits or a period's orders 2^31 - 1.
 */
sk_status	sk_act_add(sk_act_head *h, sk_act_entry *e, int32_t cap,
					   const sk_act_row *row);

/*
 * out = a + b; oute needs room for a->n + b->n entries and must not
 * overlap either input.  SK_EOVERFLOW on a sum past 38 digits.
 */
sk_status	sk_act_merge(const sk_act_head *a, const sk_act_entry *ae,
						 const sk_act_head *b, const sk_act_entry *be,
						 sk_act_head *out, sk_act_entry *oute);

/* Totals over all periods; SK_EOVERFLOW when they pass 38 digits. */
sk_status	sk_act_totals(const sk_act_head *h, const sk_act_entry *e,
						  sk_dec *revenue, sk_dec *cost);

/* SK_OK when h and its n entries satisfy every invariant, else SK_EDATA. */
sk_status	sk_act_check(const sk_act_head *h, const sk_act_entry *e);

/*
 * Text form, version 1 (one line):
 *   1:<scale>:<orders>:<refunds>:<first_row>:<first_order>:<last_order>
 *   then per period ";<period>,<orders>,<revenue>,<cost>"
 * all integers in plain decimal, revenue and cost as scaled integers.
 * sk_act_text_size gives the buffer size format needs (0 on overflow).
 * sk_act_parse_count reads the number of periods the text declares
 * implicitly (its ';' count), so the caller can size the entries;
 * sk_act_parse then fills and checks everything.
 */
size_t		sk_act_text_size(int32_t n);
size_t		sk_act_format(const sk_act_head *h, const sk_act_entry *e, char *buf);
sk_status	sk_act_parse_count(const char *s, size_t len, int32_t *n);
sk_status	sk_act_parse(const char *s, size_t len, sk_act_head *h,
						 sk_act_entry *e, int32_t cap);

/* ---- roll-up -------------------------------------------------------- */

typedef struct sk_rollup_cell
{
	int32_t		period;
	int32_t		reserved;		/* zero */
	int64_t		active;
	int64_t		retained;
	int64_t		orders;
	sk_i128		revenue;
	sk_i128		cost;
} sk_rollup_cell;

typedef struct sk_rollup_head
{
	uint8_t		version;
	uint8_t		flags;			/* zero */
	int16_t		scale;
	int32_t		n;				/* cells, periods strictly increasing */
	int32_t		step;			/* months from one period to the next: 1..12 */
	int32_t		reserved;		/* zero */
	int64_t		customers;		/* activities added */
} sk_rollup_head;

#define SK_ROLLUP_VERSION 1

/* An empty roll-up for periods step months long (SK_EINVAL outside 1..12). */
sk_status	sk_rollup_init(sk_rollup_head *r, int32_t step);

/*
 * How many cells r needs after adding activity a: r->n plus the periods
 * of a it does not have yet.
 */
int32_t		sk_rollup_need(const sk_rollup_head *r, const sk_rollup_cell *c,
						   const sk_act_head *a, const sk_act_entry *ae);

/*
 * Add one customer's activity.  c must have room for sk_rollup_need()
 * cells (SK_ELIMIT otherwise, nothing changed); SK_EOVERFLOW, nothing
 * changed, when a sum would pass 38 digits.
 */
sk_status	sk_rollup_add(sk_rollup_head *r, sk_rollup_cell *c, int32_t cap,
						  const sk_act_head *a, const sk_act_entry *ae);

/* out = a + b (same step); outc has room for a->n + b->n cells. */
sk_status	sk_rollup_merge(const sk_rollup_head *a, const sk_rollup_cell *ac,
							const sk_rollup_head *b, const sk_rollup_cell *bc,
							sk_rollup_head *out, sk_rollup_cell *outc);

/* SK_OK when r and its cells satisfy the invariants, else SK_EDATA. */
sk_status	sk_rollup_check(const sk_rollup_head *r, const sk_rollup_cell *c);

/* Months since year 0 of the month that holds a PostgreSQL date. */
int64_t		sk_date_month(int32_t date);

#endif							/* SK_ACTIVITY_H */
