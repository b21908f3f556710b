/*
 * test_btyd.c - unit tests of src/core/btyd.c (BG/NBD, Gamma-Gamma, CLV,
 * 2F1, model text).
 *
 * Reference values fall in three groups:
 *   - published estimates on the CDNOW sample (Fader, Hardie & Lee 2005;
 *     Fader & Hardie's Gamma-Gamma note), with the calibration summary
 *     rebuilt here from the event log and checked against the shipped
 *     summary; skipped, with a message, when the data directory is absent;
 *   - likelihoods recomputed in this file from the paper's formula written
 *     with Beta functions, independently of btyd.c's simplified form;
 *   - predictions cross-checked by hand with Python (scipy.special.hyp2f1
 *     for the paper's closed forms, scipy.integrate.quad over the Beta
 *     prior as a second, integral-based route); see cross_checked().
 * The data directory is $SEGKPI_DATA_DIR or ../shared/data relative to the
 * repository root (the working directory when tests run).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "btyd.h"

#define MAX_CUST	4000
#define MAX_EVENTS	10000

/* ------------------------------------------------------------ helpers */

static double
lbeta(double a, double b)
{
	return lgamma(a) + lgamma(b) - lgamma(a + b);
}

/* [FHL05] eq. 6 written literally with Beta functions. */
static double
direct_bgnbd_ll(double r, double al, double a, double b,
				double x, double tx, double T)
{
	double		gr = exp(lgamma(r + x) - lgamma(r) + r * log(al));
	double		l = exp(lbeta(a, b + x) - lbeta(a, b)) * gr /
		pow(al + T, r + x);

	if (x > 0)
		l += exp(lbeta(a + 1, b + x - 1) - lbeta(a, b)) * gr /
			pow(al + tx, r + x);
	return log(l);
}

static int
cancel_now(void *arg)
{
	int		   *calls = (int *) arg;

	(*calls)++;
	return 1;
}

static sk_bgnbd_model
bg_model(double r, double al, double a, double b)
{
	sk_bgnbd_model m;

	memset(&m, 0, sizeof(m));
	m.r = r;
	m.alpha = al;
	m.a = a;
	m.b = b;
	return m;
}

static sk_gg_model
gg_model(double p, double q, double g)
{
	sk_gg_model m;

	memset(&m, 0, sizeof(m));
	m.p = p;
	m.q = q;
	m.gamma = g;
	return m;
}

/* Workspace for the fits in this file: enough for x <= 10000. */
static double workspace[3 * 10001];

/* ------------------------------------------------------- CDNOW summary */

typedef struct event
{
	int			cust;
	long		day;
	double		sales;
} event;

static event events[MAX_EVENTS];
static double cx[MAX_CUST],
			ctx[MAX_CUST],
			cT[MAX_CUST],
			czbar[MAX_CUST];
static int	ncust;

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static long
day_number(long ymd)
{
	long		y = ymd / 10000,
				m = (ymd / 100) % 100,
				d = ymd % 100;
	long		era,
				yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
event_cmp(const void *pa, const void *pb)
{
	const event *a = pa,
			   *b = pb;

	if (a->cust != b->cust)
		return a->cust < b->cust ? -1 : 1;
	return (a->day > b->day) - (a->day < b->day);
}

static FILE *
open_data(const char *name)
{
	const char *dir = getenv("SEGKPI_DATA_DIR");
	char		path[1024];

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "../shared/data", name);
	return fopen(path, "r");
}

static int
read_events(FILE *f)
{
	char		line[256];
	int			n = 0;

	if (!fgets(line, sizeof(line), f))
		return -1;
	while (fgets(line, sizeof(line), f) && n < MAX_EVENTS)
	{
		int			mid,
					sid,
					cds;
		long		date;
		double		sales;

		if (sscanf(line, "%d,%d,%ld,%d,%lf", &mid, &sid, &date, &cds,
				   &sales) != 5)
			return -1;
		events[n].cust = sid;
		events[n].day = day_number(date);
		events[n].sales = sales;
		n++;
	}
	return n;
}

/*
 * Calibration summary per the data README: same-day purchases merged,
 * birth = first day, calibration to 1997-09-30 inclusive, weeks.
 */
static void
summarise(int nev)
{
	long		end = day_number(19970930);
	int			i = 0;

	qsort(events, nev, sizeof(event), event_cmp);
	ncust = 0;
	while (i < nev && ncust < MAX_CUST)
	{
		int			c = events[i].cust;
		long		first = events[i].day,
					last = first,
					prevday = -1;
		int			days = 0;
		double		repeat_sum = 0.0;

		for (; i < nev && events[i].cust == c; i++)
		{
			if (events[i].day > end)
				continue;
			if (events[i].day != prevday)
			{
				days++;
				prevday = events[i].day;
				last = prevday;
			}
			if (days > 1)
				repeat_sum += events[i].sales;
		}
		cx[ncust] = days - 1;
		ctx[ncust] = (double) (last - first) / 7.0;
		cT[ncust] = (double) (end - first) / 7.0;
		czbar[ncust] = days > 1 ? repeat_sum / (days - 1) : 0.0;
		ncust++;
	}
}

/* Compare with the shipped summary (2 decimals); returns mismatches. */
static int
compare_summary(FILE *f)
{
	char		line[256];
	int			bad = 0,
				k = 0;

	if (!fgets(line, sizeof(line), f))
		return -1;
	while (fgets(line, sizeof(line), f))
	{
		int			id;
		double		x,
					tx,
					T,
					z;

		if (sscanf(line, "%d,%lf,%lf,%lf,%lf", &id, &x, &tx, &T, &z) != 5 ||
			id != k + 1 || k >= ncust)
			return -1;
		if (x != cx[k] || fabs(tx - ctx[k]) > 0.0051 ||
			fabs(T - cT[k]) > 0.0051 || fabs(z - czbar[k]) > 0.0051)
			bad++;
		k++;
	}
	return k == ncust ? bad : -1;
}

static int
load_cdnow(void)
{
	FILE	   *f = open_data("cdnowElog.csv");
	FILE	   *g;
	int			nev,
				bad;

	if (f == NULL)
	{
		SKIP("CDNOW checks: cdnowElog.csv not found under $SEGKPI_DATA_DIR "
			 "or ../shared/data");
		return 0;
	}
	nev = read_events(f);
	fclose(f);
	CHECK(nev == 6919);
	if (nev <= 0)
		return 0;
	summarise(nev);
	CHECK_EQ_INT(ncust, 2357);
	g = open_data("cdnow_customers_summary_with_transactions.csv");
	if (g == NULL)
	{
		SKIP("CDNOW summary comparison: summary file not found");
		return 1;
	}
	bad = compare_summary(g);
	fclose(g);
	CHECK_EQ_INT(bad, 0);
	return 1;
}

/* ---------------------------------------------------------- CDNOW fits */

static void
test_cdnow(void)
{
	sk_bgnbd_model m;
	sk_gg_model gm;
	size_t		need;
	double		xmax,
				ll,
				direct = 0.0;
	int			i,
				repeaters = 0;

	if (!load_cdnow())
		return;
	CHECK_EQ_INT(sk_btyd_max_x(cx, ncust, &xmax), SK_OK);
	CHECK_EQ_INT(sk_bgnbd_fit_size(xmax, &need), SK_OK);
	CHECK(need <= sizeof(workspace));

	CHECK_EQ_INT(sk_bgnbd_fit(cx, ctx, cT, NULL, ncust, workspace,
							  sizeof(workspace), NULL, NULL, &m), SK_OK);
	printf("cdnow bg/nbd: r=%.6f alpha=%.6f a=%.6f b=%.6f ll=%.4f iter=%d\n",
		   m.r, m.alpha, m.a, m.b, m.loglik, m.iterations);
	CHECK_NEAR(m.r, 0.243, 0.001);
	CHECK_NEAR(m.alpha, 4.414, 0.001);
	CHECK_NEAR(m.a, 0.793, 0.001);
	CHECK_NEAR(m.b, 2.426, 0.001);
	CHECK_NEAR(m.loglik, -9582.4, 0.1);
	CHECK_NEAR(m.n, 2357, 0);
	CHECK_EQ_INT(m.converged, 1);

	/* the fit's tabulated likelihood agrees with two direct evaluations */
	CHECK_EQ_INT(sk_bgnbd_loglik(&m, cx, ctx, cT, NULL, ncust, NULL, &ll),
				 SK_OK);
	for (i = 0; i < ncust; i++)
		direct += direct_bgnbd_ll(m.r, m.alpha, m.a, m.b, cx[i], ctx[i], cT[i]);
	CHECK_NEAR(ll, m.loglik, 1e-8);
	CHECK_NEAR(direct, m.loglik, 1e-8);

	/* Gamma-Gamma over every customer: x = 0 rows are skipped */
	for (i = 0; i < ncust; i++)
		repeaters += cx[i] > 0;
	CHECK_EQ_INT(repeaters, 946);
	CHECK_EQ_INT(sk_gg_fit(cx, czbar, NULL, ncust, workspace,
						   sizeof(workspace), NULL, NULL, &gm), SK_OK);
	printf("cdnow gamma-gamma: p=%.6f q=%.6f gamma=%.6f ll=%.4f iter=%d\n",
		   gm.p, gm.q, gm.gamma, gm.loglik, gm.iterations);
	CHECK_NEAR(gm.p, 6.25, 0.01);
	CHECK_NEAR(gm.q, 3.74, 0.01);
	CHECK_NEAR(gm.gamma, 15.44, 0.01);
	CHECK_NEAR(gm.loglik, -4055.9, 0.1);
	CHECK_NEAR(gm.n, 946, 0);
	CHECK_EQ_INT(sk_gg_loglik(&gm, cx, czbar, NULL, ncust, NULL, &ll), SK_OK);
	CHECK_NEAR(ll, gm.loglik, 1e-8);
	{
		/* every customer counted twice: same estimate, twice the LL */
		static double two[MAX_CUST];
		sk_gg_model g2;

		for (i = 0; i < ncust; i++)
			two[i] = 2.0;
		CHECK_EQ_INT(sk_gg_fit(cx, czbar, two, ncust, workspace,
							   sizeof(workspace), NULL, NULL, &g2), SK_OK);
		CHECK_NEAR(g2.p, gm.p, 1e-4);
		CHECK_NEAR(g2.q, gm.q, 1e-4);
		CHECK_NEAR(g2.gamma, gm.gamma, 1e-3);
		CHECK_NEAR(g2.loglik, 2 * gm.loglik, 1e-6);
		CHECK_NEAR(g2.n, 1892, 0);
	}
}

/*
 * Compressing identical rows into weights must not change the fit: the
 * glue passes unique (x, t_x, T) with counts.
 */
static void
test_cdnow_weighted(void)
{
	static double ux[MAX_CUST],
				utx[MAX_CUST],
				uT[MAX_CUST],
				uw[MAX_CUST];
	sk_bgnbd_model full,
				comp;
	int			i,
				j,
				nu = 0;

	if (ncust == 0)
	{
		SKIP("weighted CDNOW fit: data not loaded");
		return;
	}
	for (i = 0; i < ncust; i++)
	{
		for (j = 0; j < nu; j++)
			if (ux[j] == cx[i] && utx[j] == ctx[i] && uT[j] == cT[i])
				break;
		if (j == nu)
		{
			ux[nu] = cx[i];
			utx[nu] = ctx[i];
			uT[nu] = cT[i];
			uw[nu++] = 0;
		}
		uw[j] += 1;
	}
	CHECK(nu < ncust);
	CHECK_EQ_INT(sk_bgnbd_fit(cx, ctx, cT, NULL, ncust, workspace,
							  sizeof(workspace), NULL, NULL, &full), SK_OK);
	CHECK_EQ_INT(sk_bgnbd_fit(ux, utx, uT, uw, nu, workspace,
							  sizeof(workspace), NULL, NULL, &comp), SK_OK);
	CHECK_NEAR(comp.r, full.r, 1e-6);
	CHECK_NEAR(comp.alpha, full.alpha, 1e-5);
	CHECK_NEAR(comp.a, full.a, 1e-6);
	CHECK_NEAR(comp.b, full.b, 1e-5);
	CHECK_NEAR(comp.loglik, full.loglik, 1e-6);
	CHECK_NEAR(comp.n, 2357, 0);
}

/* ------------------------------------------------ likelihood, by hand */

static void
test_single_customer_ll(void)
{
	sk_bgnbd_model m = bg_model(0.243, 4.414, 0.793, 2.426);
	double		xs[] = {0, 1, 2, 7, 29};
	double		txs[] = {0, 1.71, 30.43, 35.0, 38.0};
	double		Ts[] = {38.86, 38.86, 38.86, 38.86, 39.0};
	double		w[] = {1, 2.5, 0, 1, 3};
	double		ll,
				sum = 0.0;
	int			i;

	for (i = 0; i < 5; i++)
	{
		CHECK_EQ_INT(sk_bgnbd_loglik(&m, &xs[i], &txs[i], &Ts[i], NULL, 1,
									 NULL, &ll), SK_OK);
		CHECK_NEAR(ll, direct_bgnbd_ll(0.243, 4.414, 0.793, 2.426,
									   xs[i], txs[i], Ts[i]), 1e-10);
		sum += w[i] * direct_bgnbd_ll(0.243, 4.414, 0.793, 2.426,
									  xs[i], txs[i], Ts[i]);
	}
	CHECK_EQ_INT(sk_bgnbd_loglik(&m, xs, txs, Ts, w, 5, NULL, &ll), SK_OK);
	CHECK_NEAR(ll, sum, 1e-9);

	/* x = 0: the likelihood is (alpha / (alpha + T))^r exactly */
	CHECK_EQ_INT(sk_bgnbd_loglik(&m, xs, txs, Ts, NULL, 1, NULL, &ll), SK_OK);
	CHECK_NEAR(ll, 0.243 * log(4.414 / (4.414 + 38.86)), 1e-12);
}

static void
test_gg_ll_by_hand(void)
{
	/* x = 1: zbar ~ Gamma(p, nu), nu ~ Gamma(q, gamma) -> a Lomax-like
	 * density G(p+q)/(G(p)G(q)) g^q z^(p-1) / (g+z)^(p+q) */
	sk_gg_model m = gg_model(2.0, 3.0, 10.0);
	double		x = 1,
				z = 7.5,
				ll;
	double		expect = lgamma(5.0) - lgamma(2.0) - lgamma(3.0) +
		3 * log(10.0) + log(7.5) - 5 * log(17.5);

	CHECK_EQ_INT(sk_gg_loglik(&m, &x, &z, NULL, 1, NULL, &ll), SK_OK);
	CHECK_NEAR(ll, expect, 1e-12);
}

/* ------------------------------------------------ predictions, by hand */

/*
 * Constants below were computed by hand with /usr/bin/python3 (Debian's
 * scipy 1.10.1, mpmath): 2F1 values with mpmath.hyp2f1 at 30 digits;
 * predictions at r = 0.243, alpha = 4.414, a = 0.793, b = 2.426 (the
 * published CDNOW estimates) with the closed forms of [FHL05] (P(alive),
 * E[X(t)], E[Y(t)|x,t_x,T] using scipy.special.hyp2f1), and again by
 * scipy.integrate.quad of E_p[(1 - (1 + p t/beta)^-k) / p] over the Beta
 * prior or posterior; the two routes agreed to 2e-14.  The a + b < 1 and
 * a = 1 cases, where the closed form does not apply, come from quad alone.
 */
static void
test_cross_checked(void)
{
	sk_bgnbd_model m = bg_model(0.243, 4.414, 0.793, 2.426);
	sk_bgnbd_model m2 = bg_model(0.3, 2.0, 0.3, 0.4);	/* a + b < 1 */
	sk_bgnbd_model m3 = bg_model(0.5, 6.0, 1.0, 2.5);	/* a = 1 exactly */
	double		v;

	CHECK_EQ_INT(sk_hyp2f1(0.243, 2.426, 2.219, 0.5, NULL, &v), SK_OK);
	CHECK_NEAR(v, 1.2070970070440423, 1e-13);
	CHECK_EQ_INT(sk_hyp2f1(30.0, 12.0, 5.5, 0.9, NULL, &v), SK_OK);
	CHECK_NEAR(v / 1.8180888111535358e+40, 1.0, 1e-12);

	CHECK_EQ_INT(sk_bgnbd_expected_new(&m, 39.0, NULL, &v), SK_OK);
	CHECK_NEAR(v, 1.1967231933208, 1e-12);
	CHECK_EQ_INT(sk_bgnbd_expected_new(&m, 78.0, NULL, &v), SK_OK);
	CHECK_NEAR(v, 1.8605190579427, 1e-12);

	CHECK_EQ_INT(sk_bgnbd_p_alive(&m, 2, 30.43, 38.86, &v), SK_OK);
	CHECK_NEAR(v, 0.726578570080673, 1e-14);
	CHECK_EQ_INT(sk_bgnbd_expected(&m, 39.0, 2, 30.43, 38.86, NULL, &v), SK_OK);
	CHECK_NEAR(v, 1.2260281747671, 1e-12);
	CHECK_EQ_INT(sk_bgnbd_expected(&m, 39.0, 0, 0, 38.86, NULL, &v), SK_OK);
	CHECK_NEAR(v, 0.195098052011260, 1e-13);
	CHECK_EQ_INT(sk_bgnbd_expected(&m, 10.0, 10, 38.0, 39.0, NULL, &v), SK_OK);
	CHECK_NEAR(v, 2.0174279550752, 1e-12);

	/* a + b < 1: the c <= 0 route (quad only; the series form is invalid) */
	CHECK_EQ_INT(sk_bgnbd_expected_new(&m2, 20.0, NULL, &v), SK_OK);
	CHECK_NEAR(v, 1.449601071476849, 1e-12);
	/* a = 1: the 0/0 point of eq. 10, by interpolation (quad) */
	CHECK_EQ_INT(sk_bgnbd_expected(&m3, 26.0, 3, 20.0, 30.0, NULL, &v), SK_OK);
	CHECK_NEAR(v, 1.2130406354974947, 1e-9);
}

static void
test_prediction_properties(void)
{
	sk_bgnbd_model m = bg_model(0.243, 4.414, 0.793, 2.426);
	sk_gg_model g = gg_model(6.25, 3.74, 15.44);
	double		v,
				prev,
				lo,
				hi;
	int			i;

	/* x = 0: never seen to buy again, so never seen to drop out */
	CHECK_EQ_INT(sk_bgnbd_p_alive(&m, 0, 0, 38.86, &v), SK_OK);
	CHECK_NEAR(v, 1.0, 0);
	/* longer silence after the last purchase lowers P(alive) */
	prev = 1.0;
	for (i = 1; i <= 10; i++)
	{
		CHECK_EQ_INT(sk_bgnbd_p_alive(&m, 3, 10.0, 10.0 + 3 * i, &v), SK_OK);
		CHECK(v < prev && v > 0);
		prev = v;
	}
	/* E[Y(t)] grows with t, slower than linearly; t = 0 gives 0 */
	CHECK_EQ_INT(sk_bgnbd_expected(&m, 0, 2, 30.43, 38.86, NULL, &v), SK_OK);
	CHECK_NEAR(v, 0, 0);
	prev = 0;
	for (i = 1; i <= 20; i++)
	{
		CHECK_EQ_INT(sk_bgnbd_expected(&m, 13.0 * i, 2, 30.43, 38.86, NULL, &v),
					 SK_OK);
		CHECK(v > prev);
		prev = v;
	}
	/* continuity across the a = 1 interpolation band */
	{
		sk_bgnbd_model m1 = bg_model(0.5, 6.0, 1.0 - 2e-5, 2.5),
					m2 = bg_model(0.5, 6.0, 1.0 + 2e-5, 2.5),
					m0 = bg_model(0.5, 6.0, 1.0 + 3e-6, 2.5);

		CHECK_EQ_INT(sk_bgnbd_expected(&m1, 26.0, 3, 20, 30, NULL, &lo), SK_OK);
		CHECK_EQ_INT(sk_bgnbd_expected(&m2, 26.0, 3, 20, 30, NULL, &hi), SK_OK);
		CHECK_EQ_INT(sk_bgnbd_expected(&m0, 26.0, 3, 20, 30, NULL, &v), SK_OK);
		CHECK(fabs(hi - lo) < 1e-4);
		CHECK(v > fmin(lo, hi) - 1e-9 && v < fmax(lo, hi) + 1e-9);
	}
	/* huge horizon and large x: the series must still converge */
	CHECK_EQ_INT(sk_bgnbd_expected(&m, 5000.0, 200, 38.0, 39.0, NULL, &v), SK_OK);
	CHECK(isfinite(v) && v > 0);

	/* Gamma-Gamma: x = 0 gives the population mean p gamma / (q - 1) */
	CHECK_EQ_INT(sk_gg_expected_spend(&g, 0, 0, &v), SK_OK);
	CHECK_NEAR(v, 6.25 * 15.44 / 2.74, 1e-12);
	CHECK_EQ_INT(sk_gg_expected_spend(&g, 2, 22.35, &v), SK_OK);
	CHECK_NEAR(v, (15.44 + 2 * 22.35) * 6.25 / (12.5 + 2.74), 1e-12);
	/* more evidence pulls the estimate towards the customer's own mean */
	CHECK_EQ_INT(sk_gg_expected_spend(&g, 50, 100, &v), SK_OK);
	CHECK(fabs(v - 100) < 5);
	/* q <= 1: infinite population mean, finite once p x + q > 1 */
	g.q = 0.8;
	CHECK_EQ_INT(sk_gg_expected_spend(&g, 0, 0, &v), SK_EOVERFLOW);
	CHECK_EQ_INT(sk_gg_expected_spend(&g, 1, 10, &v), SK_OK);
	g.p = 0.1;
	CHECK_EQ_INT(sk_gg_expected_spend(&g, 1, 10, &v), SK_EOVERFLOW);
}

static void
test_clv(void)
{
	sk_bgnbd_model m = bg_model(0.243, 4.414, 0.793, 2.426);
	const uint64_t all = SK_BTYD_CLV_MAX_TERMS;
	double		v,
				e,
				e1,
				e2;

	/* no discount: CLV = E[Y(horizon)] * spend, whatever the step */
	CHECK_EQ_INT(sk_bgnbd_clv(&m, 2, 30.43, 38.86, 20.0, 39.0, 4.0, 0.0, all, NULL, &v),
				 SK_OK);
	CHECK_EQ_INT(sk_bgnbd_expected(&m, 39.0, 2, 30.43, 38.86, NULL, &e), SK_OK);
	CHECK_NEAR(v, 20.0 * e, 1e-10);
	/* two steps by hand, the second truncated: horizon 1.5 steps */
	CHECK_EQ_INT(sk_bgnbd_clv(&m, 2, 30.43, 38.86, 20.0, 6.0, 4.0, 0.1, all, NULL, &v),
				 SK_OK);
	CHECK_EQ_INT(sk_bgnbd_expected(&m, 4.0, 2, 30.43, 38.86, NULL, &e1), SK_OK);
	CHECK_EQ_INT(sk_bgnbd_expected(&m, 6.0, 2, 30.43, 38.86, NULL, &e2), SK_OK);
	CHECK_NEAR(v, 20.0 * (e1 / 1.1 + (e2 - e1) / pow(1.1, 1.5)), 1e-12);
	/* discounting lowers the value, by at most the last step's factor */
	CHECK_EQ_INT(sk_bgnbd_expected(&m, 39.0, 2, 30.43, 38.86, NULL, &e), SK_OK);
	CHECK_EQ_INT(sk_bgnbd_clv(&m, 2, 30.43, 38.86, 20.0, 39.0, 4.0, 0.05, all, NULL, &v), SK_OK);
	CHECK(v < 20.0 * e && v > 20.0 * e / pow(1.05, 39.0 / 4.0));
	/* horizon 0 is worth nothing */
	CHECK_EQ_INT(sk_bgnbd_clv(&m, 2, 30.43, 38.86, 20.0, 0.0, 4.0, 0.05, all, NULL, &v),
				 SK_OK);
	CHECK_NEAR(v, 0, 0);
	/* bad arguments */
	CHECK_EQ_INT(sk_bgnbd_clv(&m, 2, 30.43, 38.86, 20, -1, 4, 0.05, all, NULL, &v),
				 SK_EINVAL);
	CHECK_EQ_INT(sk_bgnbd_clv(&m, 2, 30.43, 38.86, 20, 10, 4, -1.0, all, NULL, &v),
				 SK_EINVAL);
	CHECK_EQ_INT(sk_bgnbd_clv(&m, 2, 30.43, 38.86, 20, 10, 0, 0.05, all, NULL, &v),
				 SK_EINVAL);
	CHECK_EQ_INT(sk_bgnbd_clv(&m, 2, 30.43, 38.86, NAN, 10, 1, 0.05, all, NULL, &v),
				 SK_EINVAL);
	CHECK_EQ_INT(sk_bgnbd_clv(&m, 2, 30.43, 38.86, 20, 1e9, 1, 0.05, all, NULL, &v),
				 SK_ELIMIT);
	CHECK_EQ_INT(sk_bgnbd_clv(&m, 2, 30.43, 38.86, 20, 10, 1, 0.05, 0, NULL, &v),
				 SK_EINVAL);
	/* T = 0 needs x = t_x = 0: that is a customer just acquired */
	CHECK_EQ_INT(sk_bgnbd_clv(&m, 1, 0, 0, 20, 10, 1, 0.05, all, NULL, &v),
				 SK_EINVAL);
}

/*
 * A customer just acquired (x = t_x = T = 0): the same steps and
 * discounting over E[X(t)].
 */
static void
test_clv_new_customer(void)
{
	sk_bgnbd_model m = bg_model(0.243, 4.414, 0.793, 2.426);
	double		v,
				e1,
				e2,
				e3;

	CHECK_EQ_INT(sk_bgnbd_clv(&m, 0, 0, 0, 20.0, 10.0, 4.0, 0.1,
							  SK_BTYD_CLV_MAX_TERMS, NULL, &v), SK_OK);
	CHECK_EQ_INT(sk_bgnbd_expected_new(&m, 4.0, NULL, &e1), SK_OK);
	CHECK_EQ_INT(sk_bgnbd_expected_new(&m, 8.0, NULL, &e2), SK_OK);
	CHECK_EQ_INT(sk_bgnbd_expected_new(&m, 10.0, NULL, &e3), SK_OK);
	CHECK_NEAR(v, 20.0 * (e1 / 1.1 + (e2 - e1) / pow(1.1, 2.0) +
						  (e3 - e2) / pow(1.1, 2.5)), 1e-12);
}

/* ------------------------------------------- series work and the tick */

typedef struct tick_count
{
	long		calls;
	long		stop_at;		/* ask to stop on this call; 0: never */
} tick_count;

static int
count_tick(void *arg)
{
	tick_count *c = (tick_count *) arg;

	c->calls++;
	return c->stop_at != 0 && c->calls >= c->stop_at;
}

/*
 * The slow case of issue 20: alpha + T tiny against the horizon, so the
 * series run close to z = 1 and need up to millions of terms per step.
 */
static sk_bgnbd_model
slow_model(void)
{
	return bg_model(1, 0.001, 0.5, 1);
}

static void
test_series_tick(void)
{
	sk_bgnbd_model m = slow_model();
	tick_count	c = {0, 0};
	sk_tick		t = {count_tick, &c};
	double		v,
				plain;

	/* a long series calls the tick as it goes, and the value is the same */
	CHECK_EQ_INT(sk_hyp2f1(2, 2, 1.5, 0.9999, NULL, &plain), SK_OK);
	CHECK_EQ_INT(sk_hyp2f1(2, 2, 1.5, 0.9999, &t, &v), SK_OK);
	CHECK(c.calls >= 100);
	CHECK_NEAR(v, plain, 0);
	/* a short one needs no tick at all */
	c.calls = 0;
	CHECK_EQ_INT(sk_hyp2f1(2, 2, 1.5, 0.5, &t, &v), SK_OK);
	CHECK_EQ_INT(c.calls, 0);
	/* up to the term limit, the tick keeps being called */
	c.calls = 0;
	CHECK_EQ_INT(sk_hyp2f1(1e6, 1e6, 1, 1 - 1e-9, &t, &v), SK_ENOCONV);
	CHECK_EQ_INT(c.calls, SK_BTYD_HYP2F1_MAX_TERMS / 4096);

	/* a stop request ends the series at once, with SK_ECANCEL */
	c.calls = 0;
	c.stop_at = 3;
	CHECK_EQ_INT(sk_hyp2f1(2, 2, 1.5, 0.99999, &t, &v), SK_ECANCEL);
	CHECK_EQ_INT(c.calls, 3);
	c.calls = 0;
	CHECK_EQ_INT(sk_bgnbd_expected(&m, 200, 1, 0.0005, 0.001, &t, &v), SK_ECANCEL);
	CHECK_EQ_INT(c.calls, 3);
	c.calls = 0;
	CHECK_EQ_INT(sk_bgnbd_expected_new(&m, 200, &t, &v), SK_ECANCEL);
	CHECK_EQ_INT(c.calls, 3);
	/* near a = 1 (interpolated) too */
	m.a = 1.0 + 1e-7;
	c.calls = 0;
	CHECK_EQ_INT(sk_bgnbd_expected(&m, 200, 1, 0.0005, 0.001, &t, &v), SK_ECANCEL);
	CHECK_EQ_INT(c.calls, 3);
}

static void
test_clv_work(void)
{
	sk_bgnbd_model m = slow_model();
	sk_bgnbd_model cd = bg_model(0.243, 4.414, 0.793, 2.426);
	tick_count	c = {0, 0};
	sk_tick		t = {count_tick, &c};
	double		v,
				full;

	/*
	 * The repro (horizon 200 in steps of 0.01 against alpha + T =
	 * 0.002: 20,000 steps of up to millions of terms) stops at the tenth
	 * tick, with nothing else done after the stop request.
	 */
	c.stop_at = 10;
	CHECK_EQ_INT(sk_bgnbd_clv(&m, 1, 0.0005, 0.001, 1, 200, 0.01, 0,
							  SK_BTYD_CLV_MAX_TERMS, &t, &v), SK_ECANCEL);
	CHECK_EQ_INT(c.calls, 10);
	/* a customer just acquired, the same */
	c.calls = 0;
	CHECK_EQ_INT(sk_bgnbd_clv(&m, 0, 0, 0, 1, 200, 0.01, 0,
							  SK_BTYD_CLV_MAX_TERMS, &t, &v), SK_ECANCEL);
	CHECK_EQ_INT(c.calls, 10);
	/* many short steps: the step loop ticks too */
	c.calls = 0;
	c.stop_at = 2;
	CHECK_EQ_INT(sk_bgnbd_clv(&cd, 2, 30.43, 38.86, 20, 1000, 0.01, 0,
							  SK_BTYD_CLV_MAX_TERMS, &t, &v), SK_ECANCEL);
	CHECK_EQ_INT(c.calls, 2);

	/* the term budget: the repro stops with SK_ELIMIT, counted not timed */
	c.calls = 0;
	c.stop_at = 0;
	CHECK_EQ_INT(sk_bgnbd_clv(&m, 1, 0.0005, 0.001, 1, 200, 0.01, 0,
							  2000000, &t, &v), SK_ELIMIT);
	CHECK(c.calls >= 1 && c.calls <= 2000000 / 4096 + 20000 / 256);
	CHECK_EQ_INT(sk_bgnbd_clv(&m, 0, 0, 0, 1, 200, 0.01, 0, 2000000, NULL, &v),
				 SK_ELIMIT);
	/* the same budget is ample for an ordinary CLV, whose value it keeps */
	CHECK_EQ_INT(sk_bgnbd_clv(&cd, 2, 30.43, 38.86, 20, 52, 1, 0.01,
							  SK_BTYD_CLV_MAX_TERMS, NULL, &full), SK_OK);
	CHECK_EQ_INT(sk_bgnbd_clv(&cd, 2, 30.43, 38.86, 20, 52, 1, 0.01,
							  2000000, &t, &v), SK_OK);
	CHECK_NEAR(v, full, 0);
	/* a budget of exactly the terms needed passes, one less does not */
	{
		uint64_t	lo = 1,
					hi = 2000000;

		while (lo < hi)
		{
			uint64_t	mid = lo + (hi - lo) / 2;

			if (sk_bgnbd_clv(&cd, 2, 30.43, 38.86, 20, 52, 1, 0.01, mid, NULL, &v) == SK_OK)
				hi = mid;
			else
				lo = mid + 1;
		}
		CHECK_EQ_INT(sk_bgnbd_clv(&cd, 2, 30.43, 38.86, 20, 52, 1, 0.01, lo, NULL, &v),
					 SK_OK);
		CHECK_NEAR(v, full, 0);
		CHECK_EQ_INT(sk_bgnbd_clv(&cd, 2, 30.43, 38.86, 20, 52, 1, 0.01, lo - 1, NULL, &v),
					 SK_ELIMIT);
		CHECK(lo >= 52 && lo < 100000);
	}
}

/* ------------------------------------------------------ bad input */

static void
test_bad_input(void)
{
	sk_bgnbd_model m,
				good = bg_model(0.243, 4.414, 0.793, 2.426);
	sk_gg_model gm;
	double		x[] = {0, 2, 1},
				tx[] = {0, 5, 3},
				T[] = {10, 10, 8},
				w[] = {1, 1, 1};
	double		bad[] = {-1, 0.5, NAN, INFINITY};
	size_t		need;
	double		v;
	int			i;

	CHECK_EQ_INT(sk_bgnbd_check_row(1, 0, 5), SK_OK);	/* t_x = 0, x > 0 */
	CHECK_EQ_INT(sk_bgnbd_check_row(0, 1, 5), SK_EDATA);
	CHECK_EQ_INT(sk_bgnbd_check_row(1, 6, 5), SK_EDATA);
	CHECK_EQ_INT(sk_bgnbd_check_row(1, -1, 5), SK_EDATA);
	CHECK_EQ_INT(sk_bgnbd_check_row(0, 0, 0), SK_EDATA);
	CHECK_EQ_INT(sk_bgnbd_check_row(1, 1, INFINITY), SK_EDATA);
	CHECK_EQ_INT(sk_bgnbd_check_row(2e6, 1, 5), SK_EDATA);
	for (i = 0; i < 4; i++)
	{
		double		xx[] = {0, 2, 1};

		CHECK_EQ_INT(sk_bgnbd_check_row(bad[i], 1, 5), SK_EDATA);
		xx[1] = bad[i];
		CHECK_EQ_INT(sk_bgnbd_fit(xx, tx, T, NULL, 3, workspace,
								  sizeof(workspace), NULL, NULL, &m),
					 SK_EDATA);
	}
	w[2] = -1;
	CHECK_EQ_INT(sk_bgnbd_fit(x, tx, T, w, 3, workspace, sizeof(workspace),
							  NULL, NULL, &m), SK_EDATA);
	w[2] = NAN;
	CHECK_EQ_INT(sk_bgnbd_fit(x, tx, T, w, 3, workspace, sizeof(workspace),
							  NULL, NULL, &m), SK_EDATA);
	w[0] = w[1] = w[2] = 0;
	CHECK_EQ_INT(sk_bgnbd_fit(x, tx, T, w, 3, workspace, sizeof(workspace),
							  NULL, NULL, &m), SK_EDATA);
	/* empty, one customer, identical customers, nobody repeats */
	CHECK_EQ_INT(sk_bgnbd_fit(x, tx, T, NULL, 0, workspace, sizeof(workspace),
							  NULL, NULL, &m), SK_EDATA);
	CHECK_EQ_INT(sk_bgnbd_fit(x + 1, tx + 1, T + 1, NULL, 1, workspace,
							  sizeof(workspace), NULL, NULL, &m), SK_EDATA);
	{
		double		sx[] = {2, 2},
					stx[] = {5, 5},
					sT[] = {10, 10},
					zx[] = {0, 0},
					ztx[] = {0, 0};

		CHECK_EQ_INT(sk_bgnbd_fit(sx, stx, sT, NULL, 2, workspace,
								  sizeof(workspace), NULL, NULL, &m), SK_EDATA);
		CHECK_EQ_INT(sk_bgnbd_fit(zx, ztx, sT, NULL, 2, workspace,
								  sizeof(workspace), NULL, NULL, &m), SK_EDATA);
		CHECK_EQ_INT(sk_gg_fit(zx, ztx, NULL, 2, workspace, sizeof(workspace),
							   NULL, NULL, &gm), SK_EDATA);
	}
	/* workspace */
	CHECK_EQ_INT(sk_bgnbd_fit(x, tx, T, NULL, 3, NULL, 0, NULL, NULL, &m),
				 SK_EINVAL);
	CHECK_EQ_INT(sk_bgnbd_fit_size(2, &need), SK_OK);
	CHECK_EQ_INT(need, 9 * sizeof(double));
	CHECK_EQ_INT(sk_bgnbd_fit(x, tx, T, NULL, 3, workspace, need - 1, NULL,
							  NULL, &m), SK_EINVAL);
	CHECK_EQ_INT(sk_bgnbd_fit_size(2e6, &need), SK_ELIMIT);
	CHECK_EQ_INT(sk_bgnbd_fit_size(-1, &need), SK_EINVAL);
	CHECK_EQ_INT(sk_bgnbd_fit_size(1.5, &need), SK_EINVAL);
	CHECK_EQ_INT(sk_gg_fit_size(2, &need), SK_OK);
	CHECK_EQ_INT(need, 3 * sizeof(double));
	CHECK_EQ_INT(sk_btyd_max_x(x, 3, &v), SK_OK);
	CHECK_NEAR(v, 2, 0);
	CHECK_EQ_INT(sk_btyd_max_x(bad, 1, &v), SK_EDATA);

	/* Gamma-Gamma rows */
	CHECK_EQ_INT(sk_gg_check_row(0, 0), SK_OK);
	CHECK_EQ_INT(sk_gg_check_row(2, 0), SK_EDATA);
	CHECK_EQ_INT(sk_gg_check_row(2, -5), SK_EDATA);
	CHECK_EQ_INT(sk_gg_check_row(2, NAN), SK_EDATA);
	CHECK_EQ_INT(sk_gg_check_row(0, NAN), SK_EDATA);

	/* predictions: bad arguments and bad models are SK_EINVAL */
	CHECK_EQ_INT(sk_bgnbd_p_alive(&good, 0, 1, 5, &v), SK_EINVAL);
	CHECK_EQ_INT(sk_bgnbd_expected(&good, -1, 0, 0, 5, NULL, &v), SK_EINVAL);
	CHECK_EQ_INT(sk_bgnbd_expected(&good, NAN, 0, 0, 5, NULL, &v), SK_EINVAL);
	CHECK_EQ_INT(sk_bgnbd_expected_new(&good, INFINITY, NULL, &v), SK_EINVAL);
	good.b = 0;
	CHECK_EQ_INT(sk_bgnbd_expected_new(&good, 1, NULL, &v), SK_EINVAL);
	good.b = NAN;
	CHECK_EQ_INT(sk_bgnbd_p_alive(&good, 0, 0, 5, &v), SK_EINVAL);
	CHECK_EQ_INT(sk_hyp2f1(1, 1, 1, 1.0, NULL, &v), SK_EINVAL);
	CHECK_EQ_INT(sk_hyp2f1(1, 1, 0, 0.5, NULL, &v), SK_EINVAL);
	CHECK_EQ_INT(sk_hyp2f1(1, 1, 1, 0.0, NULL, &v), SK_OK);
	CHECK_NEAR(v, 1, 0);
	/* series too long for the term limit */
	CHECK_EQ_INT(sk_hyp2f1(1e6, 1e6, 1, 1 - 1e-9, NULL, &v), SK_ENOCONV);
}

/* ------------------------------------------ non-convergence, cancel */

static void
test_noconv_and_cancel(void)
{
	sk_bgnbd_model m;
	sk_gg_model gm;
	sk_btyd_opts o = {1, 1e-9};
	sk_tick		t;
	int			calls = 0;
	double		x[] = {0, 2, 1, 5, 0},
				tx[] = {0, 5, 3, 9, 0},
				T[] = {10, 10, 8, 12, 11},
				z[] = {0, 20, 15, 31, 0};

	CHECK_EQ_INT(sk_bgnbd_fit(x, tx, T, NULL, 5, workspace, sizeof(workspace),
							  &o, NULL, &m), SK_ENOCONV);
	CHECK_EQ_INT(m.converged, 0);
	CHECK(m.r > 0 && m.alpha > 0 && m.a > 0 && m.b > 0 && isfinite(m.loglik));
	CHECK(m.iterations >= 1 && m.iterations <= 2);
	CHECK_EQ_INT(sk_gg_fit(x, z, NULL, 5, workspace, sizeof(workspace), &o,
						   NULL, &gm), SK_ENOCONV);
	CHECK_EQ_INT(gm.converged, 0);
	CHECK(gm.p > 0 && gm.q > 0 && gm.gamma > 0);

	t.fn = cancel_now;
	t.arg = &calls;
	CHECK_EQ_INT(sk_bgnbd_fit(x, tx, T, NULL, 5, workspace, sizeof(workspace),
							  NULL, &t, &m), SK_ECANCEL);
	CHECK(calls >= 1);
	CHECK_EQ_INT(sk_gg_fit(x, z, NULL, 5, workspace, sizeof(workspace), NULL,
						   &t, &gm), SK_ECANCEL);
}

/* ------------------------------------------------------ simulation */

static double
rng_normal(sk_rng *g)
{
	double		u1 = 1.0 - sk_rng_uniform(g),
				u2 = sk_rng_uniform(g);

	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Gamma(shape, 1) by Marsaglia & Tsang; boosted for shape < 1. */
static double
rng_gamma(sk_rng *g, double shape)
{
	double		d,
				c;

	if (shape < 1.0)
		return rng_gamma(g, shape + 1.0) *
			pow(1.0 - sk_rng_uniform(g), 1.0 / shape);
	d = shape - 1.0 / 3.0;
	c = 1.0 / sqrt(9.0 * d);
	for (;;)
	{
		double		z = rng_normal(g),
					v = 1.0 + c * z,
					u;

		if (v <= 0)
			continue;
		v = v * v * v;
		u = 1.0 - sk_rng_uniform(g);
		if (log(u) < 0.5 * z * z + d - d * v + d * log(v))
			return d * v;
	}
}

/* One BG/NBD customer observed for T after its first purchase. */
static void
simulate_customer(sk_rng *g, const sk_bgnbd_model *m, double T,
				  double *x, double *tx)
{
	double		lambda = rng_gamma(g, m->r) / m->alpha;
	double		ga = rng_gamma(g, m->a),
				p = ga / (ga + rng_gamma(g, m->b));
	double		t = 0.0;

	*x = 0;
	*tx = 0;
	for (;;)
	{
		t += -log(1.0 - sk_rng_uniform(g)) / lambda;
		if (t > T)
			return;
		*x += 1;
		*tx = t;
		if (sk_rng_uniform(g) < p)
			return;
	}
}

static void
test_simulated_recovery(void)
{
	enum
	{
	NSIM = 20000};
	static double x[NSIM],
				tx[NSIM],
				T[NSIM];
	sk_bgnbd_model truth = bg_model(0.5, 8.0, 0.7, 3.0),
				fit;
	sk_rng		g;
	double		xmax,
				ll_true;
	size_t		need;
	int			i;

	sk_rng_seed(&g, 20240601);
	for (i = 0; i < NSIM; i++)
	{
		T[i] = 20.0 + 32.0 * sk_rng_uniform(&g);
		simulate_customer(&g, &truth, T[i], &x[i], &tx[i]);
	}
	CHECK_EQ_INT(sk_btyd_max_x(x, NSIM, &xmax), SK_OK);
	CHECK_EQ_INT(sk_bgnbd_fit_size(xmax, &need), SK_OK);
	CHECK(need <= sizeof(workspace));
	CHECK_EQ_INT(sk_bgnbd_fit(x, tx, T, NULL, NSIM, workspace,
							  sizeof(workspace), NULL, NULL, &fit), SK_OK);
	printf("simulated bg/nbd (truth 0.5 8 0.7 3): r=%.4f alpha=%.4f a=%.4f "
		   "b=%.4f iter=%d\n", fit.r, fit.alpha, fit.a, fit.b, fit.iterations);
	/* the MLE beats the truth, and lands near it */
	CHECK_EQ_INT(sk_bgnbd_loglik(&truth, x, tx, T, NULL, NSIM, NULL, &ll_true),
				 SK_OK);
	CHECK(fit.loglik >= ll_true);
	CHECK(fabs(fit.r / 0.5 - 1) < 0.1);
	CHECK(fabs(fit.alpha / 8.0 - 1) < 0.15);
	CHECK(fabs(fit.a / 0.7 - 1) < 0.3);
	CHECK(fabs(fit.b / 3.0 - 1) < 0.4);
}

/* ---------------------------------------------------------- text form */

static void
test_text(void)
{
	sk_bgnbd_model m = bg_model(0.24259395230803076, 4.4135937855, 0.79292,
								2.4258),
				back;
	sk_gg_model g = gg_model(6.2487, 3.7444, 15.4435),
				gback;
	char		buf[SK_BTYD_TEXT_MAX];
	size_t		len;
	const char *bad[] = {
		"",
		"bgnbd/1",
		"bgnbd/2 r=1 alpha=1 a=1 b=1 ll=0 n=0 iter=0 converged=0",
		"bgnbd/1 r=1 alpha=1 a=1 b=1 ll=0 n=0 iter=0 converged=2",
		"bgnbd/1 r=1 alpha=1 a=1 b=1 ll=0 n=0 iter=0 converged=0 ",
		"bgnbd/1 r=1 alpha=1 a=1 b=1 ll=0 n=0 iter=0",
		"bgnbd/1 r=1  alpha=1 a=1 b=1 ll=0 n=0 iter=0 converged=0",
		"bgnbd/1 alpha=1 r=1 a=1 b=1 ll=0 n=0 iter=0 converged=0",
		"bgnbd/1 r=0 alpha=1 a=1 b=1 ll=0 n=0 iter=0 converged=0",
		"bgnbd/1 r=-1 alpha=1 a=1 b=1 ll=0 n=0 iter=0 converged=0",
		"bgnbd/1 r=nan alpha=1 a=1 b=1 ll=0 n=0 iter=0 converged=0",
		"bgnbd/1 r=inf alpha=1 a=1 b=1 ll=0 n=0 iter=0 converged=0",
		"bgnbd/1 r=1e999 alpha=1 a=1 b=1 ll=0 n=0 iter=0 converged=0",
		"bgnbd/1 r=1e-999 alpha=1 a=1 b=1 ll=0 n=0 iter=0 converged=0",
		"bgnbd/1 r=0x1p3 alpha=1 a=1 b=1 ll=0 n=0 iter=0 converged=0",
		"bgnbd/1 r=+1 alpha=1 a=1 b=1 ll=0 n=0 iter=0 converged=0",
		"bgnbd/1 r=.5 alpha=1 a=1 b=1 ll=0 n=0 iter=0 converged=0",
		"bgnbd/1 r=1 alpha=1 a=1 b=1 ll=0 n=-1 iter=0 converged=0",
		"bgnbd/1 r=1 alpha=1 a=1 b=1 ll=0 n=0 iter=-1 converged=0",
		"bgnbd/1 r=1 alpha=1 a=1 b=1 ll=0 n=0 iter=2147483648 converged=0",
		"bgnbd/1 r=1 alpha=1 a=1 b=1 ll=0 n=0 iter=0 converged=0 x=1",
		"gammagamma/1 p=1 q=1 gamma=1 ll=0 n=0 iter=0 converged=0",
	};
	int			i;

	m.loglik = -9582.429183;
	m.n = 2357;
	m.iterations = 23;
	m.converged = 1;
	CHECK_EQ_INT(sk_bgnbd_encode(&m, buf, sizeof(buf), &len), SK_OK);
	CHECK_EQ_INT(len, strlen(buf));
	CHECK_EQ_INT(sk_bgnbd_decode(buf, len, &back), SK_OK);
	CHECK(memcmp(&m.r, &back.r, 6 * sizeof(double)) == 0);
	CHECK_EQ_INT(back.iterations, 23);
	CHECK_EQ_INT(back.converged, 1);
	CHECK_STR(buf, "bgnbd/1 r=0.24259395230803077 alpha=4.4135937854999998 "
			  "a=0.79291999999999996 b=2.4258000000000002 "
			  "ll=-9582.4291830000002 n=2357 iter=23 converged=1");
	/* every truncation of a valid text is rejected */
	for (i = 0; i < (int) len; i++)
		CHECK_EQ_INT(sk_bgnbd_decode(buf, i, &back), SK_EDATA);
	CHECK_EQ_INT(sk_bgnbd_encode(&m, buf, len, &len), SK_EINVAL);
	m.r = -1;
	CHECK_EQ_INT(sk_bgnbd_encode(&m, buf, sizeof(buf), &len), SK_EINVAL);

	g.loglik = -4055.9;
	g.n = 946;
	CHECK_EQ_INT(sk_gg_encode(&g, buf, sizeof(buf), &len), SK_OK);
	CHECK_EQ_INT(sk_gg_decode(buf, len, &gback), SK_OK);
	CHECK(memcmp(&g.p, &gback.p, 5 * sizeof(double)) == 0);
	CHECK_EQ_INT(sk_bgnbd_decode(buf, len, &back), SK_EDATA);
	CHECK_EQ_INT(sk_gg_decode("gammagamma/1 p=1 q=1 gamma=0 ll=0 n=0 iter=0 "
							  "converged=0", 55, &gback), SK_EDATA);
	for (i = 0; i < (int) (sizeof(bad) / sizeof(bad[0])); i++)
		CHECK_EQ_INT(sk_bgnbd_decode(bad[i], strlen(bad[i]), &back), SK_EDATA);
	/* an embedded NUL inside the given length is junk, not an end */
	CHECK_EQ_INT(sk_bgnbd_decode("bgnbd/1 r=1 alpha=1 a=1 b=1 ll=0 n=0 iter=0 "
								 "converged=0\0", 56, &back), SK_EDATA);
	CHECK_EQ_INT(sk_bgnbd_decode("bgnbd/1 r=1 alpha=1 a=1 b=1 ll=0 n=0 iter=0 "
								 "converged=0", 55, &back), SK_OK);
}

int
main(void)
{
	RUN(test_cdnow);
	RUN(test_cdnow_weighted);
	RUN(test_single_customer_ll);
	RUN(test_gg_ll_by_hand);
	RUN(test_cross_checked);
	RUN(test_prediction_properties);
	RUN(test_clv);
	RUN(test_clv_new_customer);
	RUN(test_series_tick);
	RUN(test_clv_work);
	RUN(test_bad_input);
	RUN(test_noconv_and_cancel);
	RUN(test_simulated_recovery);
	RUN(test_text);
	UNIT_DONE();
}
