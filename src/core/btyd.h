/*
 * btyd.h - buy-till-you-die models: BG/NBD purchase counts and Gamma-Gamma
 * spend, fitted by maximum likelihood, with per-customer predictions,
 * discounted customer lifetime value and a storable text form of each model.
 *
 * Pure C99 under src/core rules: no allocation, no globals, no server
 * headers.  Every function returns an sk_status and writes its results only
 * through out-pointers; on any status other than SK_OK (and SK_ENOCONV for
 * the fits, see below) the out-values are unspecified.
 *
 * References (formulas derived from these, not from other software):
 *   [FHL05] P. S. Fader, B. G. S. Hardie, K. L. Lee (2005), "Counting Your
 *           Customers the Easy Way: An Alternative to the Pareto/NBD Model",
 *           Marketing Science 24(2), 275-284.
 *   [FH13]  P. S. Fader, B. G. S. Hardie (2013), "The Gamma-Gamma Model of
 *           Monetary Value" (note).
 *
 * Data of one customer (the "RFM summary" of a calibration period):
 *   x    number of repeat purchases (purchases after the first), a whole
 *        number 0 <= x <= SK_BTYD_MAX_X;
 *   t_x  time of the last purchase, measured from the first ("birth");
 *   T    length of observation, from birth to the end of calibration.
 * Any time unit may be used (days, weeks); alpha, t, horizon and step are
 * all in that unit.  Rules for a row (violations: SK_EDATA in a fit,
 * SK_EINVAL as a prediction argument):
 *   - every value finite (no NaN, no infinity);
 *   - x a whole number in [0, SK_BTYD_MAX_X];
 *   - T > 0 and 0 <= t_x <= T;
 *   - x = 0 requires t_x = 0 (there is no last repeat purchase);
 *   - x > 0 with t_x = 0 is allowed (repeat purchases at the birth instant,
 *     as coarse time units produce); the likelihood is well defined there.
 *   - weights (optional, NULL means 1 per row) finite and >= 0; a row of
 *     weight 0 is checked but contributes nothing.  Weights let the caller
 *     pass unique rows with their counts; non-integer weights are allowed.
 *
 * Fits: sk_bgnbd_fit() and sk_gg_fit() maximise the likelihood over the
 * logarithms of the parameters with BFGS (analytic gradient, backtracking
 * Armijo line search, step capped in log space).  Results:
 *   SK_OK        converged: max |d(LL/n)/d log(theta)| <= opts->gtol (or
 *                <= 1000 * gtol when rounding leaves no further decrease);
 *   SK_ENOCONV   not converged (iteration limit, or a parameter running off
 *                to 0 or infinity, e.g. data with no sign of dropout); the
 *                out-model still holds the best parameters found and
 *                converged = 0, so a caller can warn and keep them;
 *   SK_EDATA     a row breaks the rules above, no usable rows (empty input,
 *                all weights 0), fewer than two distinct rows (one customer,
 *                or identical customers: the parameters are not
 *                identified), BG/NBD data where every x = 0, Gamma-Gamma
 *                data where no row has x > 0, total weight not finite;
 *   SK_EINVAL    NULL pointers, workspace too small for the largest x;
 *   SK_ELIMIT    x larger than SK_BTYD_MAX_X (from the *_size helpers);
 *   SK_ECANCEL   the tick callback asked to stop.
 * The tick is called once per iteration and every 4096 rows of every pass.
 */
#ifndef SK_BTYD_H
#define SK_BTYD_H

#include <stddef.h>
#include "sk_common.h"

/* Largest x (repeat purchases of one customer) accepted anywhere. */
#define SK_BTYD_MAX_X			1000000

/* Enough for any encoded model, including the terminating NUL. */
#define SK_BTYD_TEXT_MAX		320

/* Most steps sk_bgnbd_clv() evaluates: ceil(horizon / step). */
#define SK_BTYD_CLV_MAX_STEPS	100000

/* Most terms summed by one hypergeometric series before SK_ENOCONV. */
#define SK_BTYD_HYP2F1_MAX_TERMS 10000000

/*
 * The series terms a CLV in the server may sum over all its steps (its
 * max_terms): about 15 seconds of one core.  Typical inputs need
 * thousands; only horizons far longer than alpha + T get near it.
 */
#define SK_BTYD_CLV_MAX_TERMS	UINT64_C(1000000000)

/* Fit controls; pass NULL for the defaults (max_iter 500, gtol 1e-9). */
typedef struct sk_btyd_opts
{
	int			max_iter;		/* BFGS iterations per start, >= 1 */
	double		gtol;			/* gradient tolerance, > 0, see above */
} sk_btyd_opts;

/*
 * A BG/NBD model: parameters and, when it came from a fit, how the fit
 * went.  A hand-made model may carry loglik = 0, n = 0, iterations = 0,
 * converged = 0.  Predictions read only r, alpha, a, b (all finite, > 0;
 * otherwise SK_EINVAL).
 */
typedef struct sk_bgnbd_model
{
	double		r;				/* shape of the Gamma purchase-rate prior */
	double		alpha;			/* rate (scale in time units) of that prior */
	double		a;				/* Beta dropout-probability prior */
	double		b;
	double		loglik;			/* log-likelihood at the estimate */
	double		n;				/* customers used: sum of weights */
	int			iterations;		/* BFGS iterations over all starts */
	int			converged;		/* 1 if SK_OK, 0 otherwise */
} sk_bgnbd_model;

/* A Gamma-Gamma spend model; same conventions as sk_bgnbd_model. */
typedef struct sk_gg_model
{
	double		p;				/* shape of one transaction's value */
	double		q;				/* shape of the Gamma prior on its rate */
	double		gamma;			/* rate of that prior (money units) */
	double		loglik;
	double		n;				/* customers with x > 0: sum of weights */
	int			iterations;
	int			converged;
} sk_gg_model;

/* ---------------------------------------------------------------- BG/NBD */

/*
 * Workspace bytes sk_bgnbd_fit() needs when the largest x in the data is
 * xmax: 3 * (xmax + 1) doubles (per-x weight and per-iteration tables, so
 * data-only work is done once per distinct x, not per row).
 * SK_EINVAL if xmax is negative, not finite or not whole; SK_ELIMIT if
 * xmax > SK_BTYD_MAX_X.  sk_btyd_max_x() finds xmax for a data set.
 */
extern sk_status sk_bgnbd_fit_size(double xmax, size_t *bytes);

/*
 * Largest x over n rows (0 for n = 0); SK_EDATA if an x is not finite,
 * negative or not whole; SK_ELIMIT if above SK_BTYD_MAX_X.
 */
extern sk_status sk_btyd_max_x(const double *x, size_t n, double *xmax);

/* Check one (x, t_x, T) row against the rules above (SK_OK or SK_EDATA). */
extern sk_status sk_bgnbd_check_row(double x, double t_x, double T);

/*
 * Fit (r, alpha, a, b) to n rows (x[i], t_x[i], T[i]) with optional weights
 * w (NULL: all 1).  ws is caller memory of ws_bytes >= sk_bgnbd_fit_size(
 * max x) bytes, aligned for double.  opts may be NULL.  See the file header
 * for the statuses; out->n is the sum of the weights.
 */
extern sk_status sk_bgnbd_fit(const double *x, const double *t_x,
							  const double *T, const double *w, size_t n,
							  void *ws, size_t ws_bytes,
							  const sk_btyd_opts *opts, const sk_tick *tick,
							  sk_bgnbd_model *out);

/*
 * Weighted BG/NBD log-likelihood of the rows at m's parameters, evaluated
 * directly with lgamma (independent of the fit's tabulated path).  Empty
 * input gives 0.  SK_EINVAL for bad parameters, SK_EDATA for a bad row.
 */
extern sk_status sk_bgnbd_loglik(const sk_bgnbd_model *m, const double *x,
								 const double *t_x, const double *T,
								 const double *w, size_t n,
								 const sk_tick *tick, double *ll);

/* P(alive at T | x, t_x, T); 1 when x = 0. */
extern sk_status sk_bgnbd_p_alive(const sk_bgnbd_model *m, double x,
								  double t_x, double T, double *out);

/*
 * E[Y(t) | x, t_x, T]: expected purchases in (T, T + t] of a customer with
 * history (x, t_x, T); t >= 0 finite (t = 0 gives 0).  SK_ENOCONV if the
 * hypergeometric series does not converge within its term limit (only for
 * t very large against alpha + T combined with a large x); SK_EOVERFLOW if
 * the result or a series ratio exceeds the double range (absurd
 * parameters such as r = 1e300).  The series call the tick every 4096
 * terms (SK_ECANCEL when it says stop): one call sums at most four series
 * of at most SK_BTYD_HYP2F1_MAX_TERMS terms each.
 */
extern sk_status sk_bgnbd_expected(const sk_bgnbd_model *m, double t,
								   double x, double t_x, double T,
								   const sk_tick *tick, double *out);

/*
 * How the two expectations are computed (btyd.c, cond_mean): both are
 * P(alive) (1 for a new customer) times F = E_p[(1 - (1 + p s)^-k) / p]
 * over p ~ Beta(a, b'), with k = r + x, b' = b + x, s = t / (alpha + T)
 * (new customer: k = r, b' = b, s = t / alpha).  F is the paper's
 * (c / (a-1)) (1 - (1+s)^-k 2F1(k, b'; c; s/(1+s))), c = a + b' - 1, for
 * any a != 1 (a < 1 included); within 1e-5 of a = 1 it is interpolated
 * between a = 1 -/+ 1e-5 (relative error about 1e-10); when c <= 0
 * (a + b' <= 1) an exact one-step identity raises c first.  Accuracy is
 * about 1e-13 relative, less (about 1e-16 / |a - 1|) for a near 1.
 */

/*
 * E[X(t)]: expected purchases in (0, t] of a customer just acquired; the
 * same as sk_bgnbd_expected() at x = t_x = T = 0, ticks included.
 */
extern sk_status sk_bgnbd_expected_new(const sk_bgnbd_model *m, double t,
									   const sk_tick *tick, double *out);

/*
 * Discounted expected value of a customer's future purchases:
 *
 *   steps  m = ceil(horizon / step), t_i = min(i * step, horizon), t_0 = 0
 *   CLV    = sum_{i=1..m} (E[Y(t_i)] - E[Y(t_{i-1})]) * spend
 *                          / (1 + discount_rate)^(t_i / step)
 *
 * Times are in the model's unit, measured from the end of calibration T.
 * discount_rate is per step (per `step` time units); each step's purchases
 * are discounted from the end of that step, the last, shorter step by its
 * fractional exponent.  spend is the value of one purchase (typically
 * sk_gg_expected_spend()), any finite number.  horizon = 0 gives 0.
 * A customer just acquired is x = t_x = T = 0 (E[X(t)] in place of
 * E[Y(t) | ...]); any other row follows the rules above (T > 0).
 *
 * Work: each step sums one to four hypergeometric series whose length
 * grows like (r + x) (1 + t / (alpha + T)).  max_terms (>= 1; the server
 * passes SK_BTYD_CLV_MAX_TERMS) caps the terms summed over all steps, so
 * the cost of one call is bounded whatever the arguments; the tick is
 * called every 4096 terms and every 256 steps.
 *
 * SK_EINVAL: horizon < 0, step <= 0, discount_rate <= -1, non-finite
 * arguments, a bad row, max_terms = 0; SK_ELIMIT: more than
 * SK_BTYD_CLV_MAX_STEPS steps, or more than max_terms series terms;
 * SK_ENOCONV: one series longer than SK_BTYD_HYP2F1_MAX_TERMS; SK_ECANCEL:
 * the tick said stop.
 */
extern sk_status sk_bgnbd_clv(const sk_bgnbd_model *m, double x, double t_x,
							  double T, double spend, double horizon,
							  double step, double discount_rate,
							  uint64_t max_terms, const sk_tick *tick,
							  double *out);

/* ----------------------------------------------------------- Gamma-Gamma */

/*
 * Gamma-Gamma rows are (x, zbar): x repeat purchases as above and zbar the
 * mean value of those x purchases (the first purchase excluded).  Rows
 * with x = 0 carry no spend information and are skipped (zbar must still be
 * finite and >= 0, conventionally 0), so a caller may pass every customer.
 * A row with x > 0 needs zbar > 0 (zero or negative mean spend: SK_EDATA).
 */

/* Workspace bytes for sk_gg_fit(): (xmax + 1) doubles; as above. */
extern sk_status sk_gg_fit_size(double xmax, size_t *bytes);

/* Check one (x, zbar) row (SK_OK or SK_EDATA). */
extern sk_status sk_gg_check_row(double x, double zbar);

/* Fit (p, q, gamma); conventions as sk_bgnbd_fit(). */
extern sk_status sk_gg_fit(const double *x, const double *zbar,
						   const double *w, size_t n,
						   void *ws, size_t ws_bytes,
						   const sk_btyd_opts *opts, const sk_tick *tick,
						   sk_gg_model *out);

/* Weighted Gamma-Gamma log-likelihood at m's parameters (x > 0 rows). */
extern sk_status sk_gg_loglik(const sk_gg_model *m, const double *x,
							  const double *zbar, const double *w, size_t n,
							  const sk_tick *tick, double *ll);

/*
 * E[M | x, zbar] = (gamma + x zbar) p / (p x + q - 1): the posterior mean
 * value of one purchase.  For x = 0 (zbar ignored) this is the population
 * mean p gamma / (q - 1).  The mean is infinite when p x + q <= 1 (for
 * x = 0: q <= 1): then SK_EOVERFLOW.  SK_EINVAL for bad parameters or row.
 */
extern sk_status sk_gg_expected_spend(const sk_gg_model *m, double x,
									  double zbar, double *out);

/* ------------------------------------------------------- hypergeometric */

/*
 * Gauss hypergeometric 2F1(a, b; c; z) by its power series, for a, b,
 * c > 0 and 0 <= z < 1 (SK_EINVAL otherwise).  There every term is
 * positive, so the sum has no cancellation; terms are rescaled as they go,
 * so intermediate growth cannot overflow.  Summation stops when the
 * remaining tail, bounded geometrically, is below 1e-16 of the sum.  The
 * number of terms grows like (a + b) / (1 - z): SK_ENOCONV past
 * SK_BTYD_HYP2F1_MAX_TERMS, SK_EOVERFLOW if the value exceeds DBL_MAX,
 * SK_ECANCEL if the tick (called every 4096 terms) says stop.
 */
extern sk_status sk_hyp2f1(double a, double b, double c, double z,
						   const sk_tick *tick, double *out);

/* ------------------------------------------------------------ text form */

/*
 * Storable text of a model, one line, fields in this order, single spaces,
 * numbers as printf %.17g (exact round trip), converged as 0 or 1:
 *
 *   bgnbd/1 r=R alpha=A a=A b=B ll=L n=N iter=I converged=C
 *   gammagamma/1 p=P q=Q gamma=G ll=L n=N iter=I converged=C
 *
 * "/1" is the format version.  Encode writes at most SK_BTYD_TEXT_MAX bytes
 * including the NUL to buf (SK_EINVAL if buflen is smaller than needed or
 * the model is invalid) and sets *len to the length without the NUL.
 * Decode reads exactly len bytes (no NUL needed); it accepts only the exact
 * layout above and returns SK_EDATA for anything else: a wrong tag or
 * version, missing, reordered, repeated or unknown fields, extra spaces or
 * trailing bytes, numbers that are not plain decimal (no nan, inf, hex,
 * leading '+' or blanks), parameters not finite and > 0, ll not finite,
 * n not finite or < 0, iter outside [0, INT_MAX], converged not 0 or 1.
 */
extern sk_status sk_bgnbd_encode(const sk_bgnbd_model *m, char *buf,
								 size_t buflen, size_t *len);
extern sk_status sk_bgnbd_decode(const char *text, size_t len,
								 sk_bgnbd_model *out);
extern sk_status sk_gg_encode(const sk_gg_model *m, char *buf,
							  size_t buflen, size_t *len);
extern sk_status sk_gg_decode(const char *text, size_t len,
							  sk_gg_model *out);

#endif							/* SK_BTYD_H */
