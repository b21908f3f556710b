/*
 * test_activity.c - unit tests of src/core/activity.c: activities by
 * period, their merge, text form and roll-up, against brute force.
 */
#include "activity.h"
#include "unit.h"

#include <stdlib.h>

#define MAXP 64

/* A reference customer: per period index (0..MAXP-1) plain sums. */
typedef struct ref_cust
{
	int			orders[MAXP];
	int			rows[MAXP];
	long long	rev[MAXP];		/* at scale 2 */
	long long	cost[MAXP];
	long long	first_row,
				first_order,
				last_order;
	int			n_orders,
				n_refunds;
} ref_cust;

static sk_dec
dec(long long v, int scale)
{
	sk_dec		d;

	d.v = v;
	d.scale = scale;
	return d;
}

/* period index i is the first of month i after 2000-01: a date */
static int32_t
period_date(int i)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int32_t		d = 0;
	int			k;

	/* months of 2000 (leap) then 2001.. (not leap): good for i < 24 */
	for (k = 0; k < i; k++)
		d += (k < 12) ? mdays[k % 12] : (k % 12 == 1 ? 28 : mdays[k % 12]);
	return d;
}

static void
test_date_month(void)
{
	/* walk the calendar day by day from 1600-01-01 to 2400-12-31 */
	int			y = 1600,
				m = 0,
				day = 1;
	int32_t		date = -146097;	/* 1600-01-01 is 400 years before 2000-01-01 */
	int			bad = 0;

	while (y <= 2400)
	{
		int			leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
		int			len[12] = {31, 28 + leap, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

		if (sk_date_month(date) != (int64_t) y * 12 + m)
			bad++;
		date++;
		if (++day > len[m])
		{
			day = 1;
			if (++m == 12)
			{
				m = 0;
				y++;
			}
		}
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(sk_date_month(0), 2000 * 12);
	CHECK_EQ_INT(sk_date_month(31), 2000 * 12 + 1);
	CHECK_EQ_INT(sk_date_month(-1), 1999 * 12 + 11);
	CHECK_EQ_INT(period_date(13), 366 + 31);
}

/* Random rows into an activity and a reference; returns rows added. */
static void
fill(unsigned *seed, sk_act_head *h, sk_act_entry *e, int32_t cap, ref_cust *ref, int rows)
{
	int			i,
				bad = 0;

	sk_act_init(h);
	memset(ref, 0, sizeof(*ref));
	for (i = 0; i < rows; i++)
	{
		sk_act_row row;
		int			p = (int) (rand_r(seed) % 24);
		long long	amount = (long long) (rand_r(seed) % 20000) - 4000;	/* cents */
		long long	cost = (long long) (rand_r(seed) % 500);
		int			with_cost = rand_r(seed) % 4 != 0;
		int64_t		ts = (int64_t) period_date(p) * 86400000000LL +
			(int64_t) (rand_r(seed) % 86400) * 1000000LL;

		row.period = period_date(p);
		row.ts = ts;
		/* the same value at scale 1 or 2 */
		row.amount = (amount % 10 == 0 && rand_r(seed) % 2) ? dec(amount / 10, 1) : dec(amount, 2);
		row.cost = with_cost ? dec(cost, 2) : dec(0, -1);
		if (sk_act_add(h, e, cap, &row) != SK_OK)
			bad++;
		if (ref->n_orders + ref->n_refunds == 0 || ts < ref->first_row)
			ref->first_row = ts;
		ref->rows[p]++;
		ref->rev[p] += amount;
		ref->cost[p] += with_cost ? cost : 0;
		if (amount > 0)
		{
			if (ref->n_orders == 0 || ts < ref->first_order)
				ref->first_order = ts;
			if (ref->n_orders == 0 || ts > ref->last_order)
				ref->last_order = ts;
			ref->n_orders++;
			ref->orders[p]++;
		}
		else
			ref->n_refunds++;
	}
	CHECK_EQ_INT(bad, 0);		/* one check per activity, not per row */
}

static int
same_as_ref(const sk_act_head *h, const sk_act_entry *e, const ref_cust *ref)
{
	int			p,
				k = 0;

	if (sk_act_check(h, e) != SK_OK || h->orders != ref->n_orders ||
		h->refunds != ref->n_refunds || h->first_row != ref->first_row)
		return 0;
	if (ref->n_orders > 0 && (h->first_order != ref->first_order ||
							  h->last_order != ref->last_order))
		return 0;
	for (p = 0; p < 24; p++)
	{
		sk_i128		f = h->scale == 2 ? 1 : 10;

		if (ref->rows[p] == 0)
			continue;
		if (k >= h->n || e[k].period != period_date(p) || e[k].orders != ref->orders[p] ||
			e[k].revenue * f != (sk_i128) ref->rev[p] || e[k].cost * f != (sk_i128) ref->cost[p])
			return 0;
		k++;
	}
	return k == h->n;
}

static void
test_add_and_merge(void)
{
	unsigned	seed = 12345;
	int			round;

	for (round = 0; round < 300; round++)
	{
		sk_act_head a,
					b,
					m;
		sk_act_entry ae[24],
					be[24],
					me[48];
		ref_cust	ra,
					rb,
					rm;
		int			p;

		fill(&seed, &a, ae, 24, &ra, 1 + round % 40);
		fill(&seed, &b, be, 24, &rb, 1 + round % 7);
		CHECK(same_as_ref(&a, ae, &ra));
		CHECK(same_as_ref(&b, be, &rb));
		CHECK_EQ_INT(sk_act_merge(&a, ae, &b, be, &m, me), SK_OK);
		rm = ra;
		for (p = 0; p < 24; p++)
		{
			rm.orders[p] += rb.orders[p];
			rm.rows[p] += rb.rows[p];
			rm.rev[p] += rb.rev[p];
			rm.cost[p] += rb.cost[p];
		}
		if (rb.first_row < rm.first_row)
			rm.first_row = rb.first_row;
		if (rb.n_orders > 0 && (ra.n_orders == 0 || rb.first_order < rm.first_order))
			rm.first_order = rb.first_order;
		if (rb.n_orders > 0 && (ra.n_orders == 0 || rb.last_order > rm.last_order))
			rm.last_order = rb.last_order;
		rm.n_orders += rb.n_orders;
		rm.n_refunds += rb.n_refunds;
		CHECK(same_as_ref(&m, me, &rm));
	}
}

static void
test_limits(void)
{
	sk_act_head h,
				before;
	sk_act_entry e[2],
				ebefore[2];
	sk_act_row row;
	sk_dec		r,
				c;

	sk_act_init(&h);
	memset(e, 0, sizeof(e));
	row.ts = 0;
	row.amount = dec(5, 0);
	row.cost = dec(0, -1);
	row.period = 31;
	CHECK_EQ_INT(sk_act_add(&h, e, 1, &row), SK_OK);
	row.period = 0;
	before = h;
	memcpy(ebefore, e, sizeof(e));
	/* a new period with no room: nothing changes, the caller grows */
	CHECK_EQ_INT(sk_act_add(&h, e, 1, &row), SK_ELIMIT);
	CHECK(memcmp(&h, &before, sizeof(h)) == 0 && memcmp(e, ebefore, sizeof(e)) == 0);
	CHECK_EQ_INT(sk_act_add(&h, e, 2, &row), SK_OK);
	CHECK_EQ_INT(h.n, 2);
	CHECK_EQ_INT(e[0].period, 0);
	CHECK_EQ_INT(e[1].period, 31);

	/* a sum past 38 digits: overflow, nothing changes */
	row.amount.v = sk_pow10_i128(38) - 1;
	row.amount.scale = 0;
	CHECK_EQ_INT(sk_act_add(&h, e, 2, &row), SK_OK);
	before = h;
	memcpy(ebefore, e, sizeof(e));
	CHECK_EQ_INT(sk_act_add(&h, e, 2, &row), SK_EOVERFLOW);
	CHECK(memcmp(&h, &before, sizeof(h)) == 0 && memcmp(e, ebefore, sizeof(e)) == 0);
	/* rescaling what is there would overflow: also refused */
	row.amount = dec(1, 20);
	CHECK_EQ_INT(sk_act_add(&h, e, 2, &row), SK_EOVERFLOW);
	CHECK(memcmp(&h, &before, sizeof(h)) == 0);
	CHECK_EQ_INT(sk_act_totals(&h, e, &r, &c), SK_OK);
	CHECK(r.v == sk_pow10_i128(38) - 1 + 5 + 5);
}

static void
test_text(void)
{
	unsigned	seed = 777;
	int			round;

	for (round = 0; round < 200; round++)
	{
		sk_act_head h,
					back;
		sk_act_entry e[24],
					eback[24];
		ref_cust	ref;
		char		buf[4096];
		size_t		len;
		int32_t		n;
		size_t		cut;

		fill(&seed, &h, e, 24, &ref, 1 + round % 30);
		CHECK(sk_act_text_size(h.n) <= sizeof(buf));
		len = sk_act_format(&h, e, buf);
		CHECK_EQ_INT(sk_act_parse_count(buf, len, &n), SK_OK);
		CHECK_EQ_INT(n, h.n);
		CHECK_EQ_INT(sk_act_parse(buf, len, &back, eback, n), SK_OK);
		CHECK(memcmp(&h, &back, sizeof(h)) == 0);
		CHECK(memcmp(e, eback, (size_t) n * sizeof(sk_act_entry)) == 0);
		/* too little room, and every truncation, are rejected */
		if (n > 0)
			CHECK_EQ_INT(sk_act_parse(buf, len, &back, eback, n - 1), SK_EDATA);
		/*
		 * Cuts before the last cost: a cut may leave a valid text only by
		 * dropping whole trailing periods that had no orders.
		 */
		for (cut = 0; cut < (size_t) (strrchr(buf, ',') - buf); cut += 1 + len / 17)
		{
			sk_status	rc = sk_act_parse(buf, cut, &back, eback, 24);
			int32_t		i;
			int			dropped_orders = 0;

			for (i = back.n; rc == SK_OK && i < h.n; i++)
				dropped_orders += e[i].orders;
			CHECK(rc == SK_EDATA || (back.n < h.n && dropped_orders == 0));
		}
	}
	{
		sk_act_head h;
		sk_act_entry e[4];
		static const char *const bad[] = {
			"", "2:0:1:0:0:0:0;0,1,5,0", "1:0:1:0:0:0:0", "1:39:1:0:0:0:0;0,1,5,0",
			"1:0:2:0:0:0:0;0,1,5,0", "1:0:1:0:5:0:0;0,1,5,0", "1:0:1:0:0:0:0;0,1,5,0;0,0,1,0",
			"1:0:1:0:0:0:0;0,1,5", "1:0:1:0:0:0:0;0,-1,5,0", "1:0:1:0:0:0:0;0,1,5,0x",
			"1:0:0:1:0:0:0;0,0,-5,0", "1:0:1:0:0:0:0 ;0,1,5,0", "1:0:1:0:0:0:0;0,1,+5,0",
		};
		size_t		i;

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		{
			sk_status	rc = sk_act_parse(bad[i], strlen(bad[i]), &h, e, 4);

			if (i == 10)
				CHECK_EQ_INT(rc, SK_OK);	/* refund only: valid */
			else
				CHECK_EQ_INT(rc, SK_EDATA);
		}
	}
}

static void
test_rollup(void)
{
	unsigned	seed = 4242;
	sk_rollup_head r,
				r1,
				r2,
				m;
	sk_rollup_cell c[24],
				c1[24],
				c2[24],
				mc[48];
	long long	active[24] = {0},
				retained[24] = {0},
				orders[24] = {0},
				rev[24] = {0};
	int			cust,
				p,
				ok = 1;

	CHECK_EQ_INT(sk_rollup_init(&r, 0), SK_EINVAL);
	CHECK_EQ_INT(sk_rollup_init(&r, 1), SK_OK);
	CHECK_EQ_INT(sk_rollup_init(&r1, 1), SK_OK);
	CHECK_EQ_INT(sk_rollup_init(&r2, 1), SK_OK);
	for (cust = 0; cust < 500; cust++)
	{
		sk_act_head h;
		sk_act_entry e[24];
		ref_cust	ref;

		fill(&seed, &h, e, 24, &ref, 1 + cust % 9);
		CHECK(sk_rollup_need(&r, c, &h, e) <= 24);
		CHECK_EQ_INT(sk_rollup_add(&r, c, 24, &h, e), SK_OK);
		CHECK_EQ_INT(sk_rollup_add(cust % 2 ? &r1 : &r2, cust % 2 ? c1 : c2, 24, &h, e), SK_OK);
		for (p = 0; p < 24; p++)
		{
			active[p] += ref.orders[p] > 0;
			retained[p] += p > 0 && ref.orders[p] > 0 && ref.orders[p - 1] > 0;
			orders[p] += ref.orders[p];
			rev[p] += ref.rev[p];
		}
	}
	CHECK_EQ_INT(sk_rollup_check(&r, c), SK_OK);
	CHECK_EQ_INT(sk_rollup_merge(&r1, c1, &r2, c2, &m, mc), SK_OK);
	CHECK_EQ_INT(m.n, r.n);
	CHECK(memcmp(c, mc, (size_t) r.n * sizeof(sk_rollup_cell)) == 0);
	CHECK_EQ_INT(r.customers, 500);
	for (p = 0; p < r.n; p++)
	{
		int			i;

		for (i = 0; i < 24 && period_date(i) != c[p].period; i++)
			;
		if (i == 24 || c[p].active != active[i] || c[p].retained != retained[i] ||
			c[p].orders != orders[i] ||
			c[p].revenue * (r.scale == 2 ? 1 : 10) != (sk_i128) rev[i])
			ok = 0;
	}
	CHECK(ok);

	/* quarters: months 0 and 3 are consecutive, months 0 and 1 are not */
	{
		sk_act_head h;
		sk_act_entry e[3];
		sk_act_row row;

		CHECK_EQ_INT(sk_rollup_init(&r, 3), SK_OK);
		sk_act_init(&h);
		row.amount = dec(1, 0);
		row.cost = dec(0, -1);
		row.ts = 0;
		row.period = period_date(0);
		sk_act_add(&h, e, 3, &row);
		row.period = period_date(3);
		sk_act_add(&h, e, 3, &row);
		row.period = period_date(9);
		sk_act_add(&h, e, 3, &row);
		CHECK_EQ_INT(sk_rollup_add(&r, c, 24, &h, e), SK_OK);
		CHECK_EQ_INT(c[0].retained, 0);
		CHECK_EQ_INT(c[1].retained, 1);
		CHECK_EQ_INT(c[2].retained, 0);
		c[1].retained = 5;
		CHECK_EQ_INT(sk_rollup_check(&r, c), SK_EDATA);
	}
}

/* Days from 2000-01-01 to year y, month m (1..12), day d (proleptic Gregorian). */
static int32_t
civil_date(int y, int m, int d)
{
	int			yy = y - (m <= 2);
	int			era = (yy >= 0 ? yy : yy - 399) / 400;
	int			yoe = yy - era * 400;
	int			doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int			doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return (int32_t) ((int64_t) era * 146097 + doe - 730425);
}

/*
 * Roll-ups over long spans with gaps: periods anywhere in 400 months (or
 * 150 quarters) from 1980 on, some customers only on every fifth period so
 * that the cells have holes; every cell against brute force, whichever
 * way (in place or not) each customer was added.
 */
static void
test_rollup_far(void)
{
	static const int steps[2] = {1, 3};
	int			t;

	CHECK_EQ_INT(sk_date_month(civil_date(1980, 1, 1)), 1980 * 12);
	CHECK_EQ_INT(sk_date_month(civil_date(2013, 12, 1)), 2013 * 12 + 11);
	CHECK_EQ_INT(civil_date(2000, 3, 1), 31 + 29);
	for (t = 0; t < 2; t++)
	{
		enum {NP = 400};
		int			step = steps[t];
		int			np = step == 1 ? NP : 150;
		unsigned	seed = 77 + t;
		static sk_rollup_cell c[NP];
		static long long active[NP],
					retained[NP],
					orders[NP],
					rev[NP];
		static int	used[NP];
		sk_rollup_head r;
		int			cust,
					p,
					bad = 0,
					ncells = 0;

		memset(active, 0, sizeof(active));
		memset(retained, 0, sizeof(retained));
		memset(orders, 0, sizeof(orders));
		memset(rev, 0, sizeof(rev));
		memset(used, 0, sizeof(used));
		CHECK_EQ_INT(sk_rollup_init(&r, step), SK_OK);
		for (cust = 0; cust < 600; cust++)
		{
			sk_act_head h;
			sk_act_entry e[16];
			int			ord[NP] = {0};
			int			rows = 1 + (int) (rand_r(&seed) % 12),
						sparse = cust < 300 || cust % 3 == 0,
						i;

			sk_act_init(&h);
			for (i = 0; i < rows; i++)
			{
				sk_act_row row;
				int			q = (int) (rand_r(&seed) % (unsigned) np);
				long long	amount = (long long) (rand_r(&seed) % 3000) - 500;

				if (sparse)
					q -= q % 5;
				row.period = civil_date(1980 + q * step / 12, 1 + q * step % 12, 1);
				row.ts = (int64_t) row.period * 86400000000LL + i;
				row.amount = dec(amount, 0);
				row.cost = dec(0, -1);
				if (sk_act_add(&h, e, 16, &row) != SK_OK)
					bad++;
				ord[q] += amount > 0;
				rev[q] += amount;
				used[q] = 1;
			}
			for (p = 0; p < np; p++)
			{
				active[p] += ord[p] > 0;
				retained[p] += p > 0 && ord[p] > 0 && ord[p - 1] > 0;
				orders[p] += ord[p];
			}
			if (sk_rollup_need(&r, c, &h, e) > NP ||
				sk_rollup_add(&r, c, NP, &h, e) != SK_OK)
				bad++;
		}
		CHECK_EQ_INT(bad, 0);
		CHECK_EQ_INT(sk_rollup_check(&r, c), SK_OK);
		for (p = 0; p < np; p++)
			ncells += used[p];
		CHECK_EQ_INT(r.n, ncells);
		for (p = 0; p < r.n; p++)
		{
			int64_t		m = sk_date_month(c[p].period) - 1980 * 12;
			int			q = (int) (m / step);

			if (m % step != 0 || q < 0 || q >= np || !used[q] ||
				c[p].active != active[q] || c[p].retained != retained[q] ||
				c[p].orders != orders[q] || c[p].revenue != (sk_i128) rev[q])
				bad++;
		}
		CHECK_EQ_INT(bad, 0);
	}
}

int
main(void)
{
	RUN(test_date_month);
	RUN(test_add_and_merge);
	RUN(test_limits);
	RUN(test_text);
	RUN(test_rollup);
	RUN(test_rollup_far);
	UNIT_DONE();
}
