/*
 * btyd.c - BG/NBD and Gamma-Gamma: likelihoods, fits, predictions, text.
 *
 * See btyd.h for the contract.  Formulas are derived from [FHL05] and [FH13]
 * (cited in the header); the derivations are summarised next to the code.
 *
 * Invariants:
 *   - no allocation, no globals; the fits keep their tables in the caller's
 *     workspace, indexed by x (whole, 0..xmax), so everything that depends
 *     on x alone is computed once per distinct x and iteration, and each row
 *     costs at most two log, one exp and one log1p per evaluation;
 *   - every row is validated before any arithmetic, so the math below may
 *     assume finite data with 0 <= t_x <= T, T > 0 and x whole;
 *   - optimisation runs on theta = log(parameters), so every trial point
 *     has positive parameters; the step in theta is capped, so exp() cannot
 *     overflow before the divergence check stops the search.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "btyd.h"

#define TICK_ROWS		4096	/* rows between tick calls */
#define TICK_TERMS		4096	/* series terms between tick calls (power of 2) */
#define TICK_STEPS		256		/* CLV steps between tick calls (power of 2) */
#define MAX_DIM			4		/* largest parameter vector */
#define STEP_CAP		3.0		/* largest move of one log-parameter */
#define THETA_LIMIT		40.0	/* |log(param)| beyond this: diverging */
#define NEAR_ONE		1e-5	/* |a - 1| below this: interpolate */

typedef sk_status (*objective_fn) (const double *theta, double *f,
								   double *g, void *ctx);

/* ------------------------------------------------------------ helpers */

static int
is_whole(double v)
{
	return isfinite(v) && floor(v) == v;
}

static int
positive_finite(double v)
{
	return isfinite(v) && v > 0.0;
}

/*
 * Digamma for v > 0: shift up with psi(v) = psi(v + 1) - 1/v until v >= 10,
 * then the asymptotic series (Bernoulli numbers B2..B10); error < 1e-14.
 */
static double
digamma(double v)
{
	double		acc = 0.0;
	double		f;

	while (v < 10.0)
	{
		acc -= 1.0 / v;
		v += 1.0;
	}
	f = 1.0 / (v * v);
	return acc + log(v) - 0.5 / v -
		f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 -
											  f * (1.0 / 240 - f / 132))));
}

/* log(exp(u) + exp(v)) without overflow */
static double
log_sum_exp(double u, double v)
{
	if (u >= v)
		return u + log1p(exp(v - u));
	return v + log1p(exp(u - v));
}

static int
tick_due(size_t i, const sk_tick *tick)
{
	return (i % TICK_ROWS) == TICK_ROWS - 1 && sk_tick_stop(tick);
}

static sk_status
table_bytes(double xmax, size_t per_x, size_t *bytes)
{
	size_t		entries;

	if (bytes == NULL || !is_whole(xmax) || xmax < 0.0)
		return SK_EINVAL;
	if (xmax > SK_BTYD_MAX_X)
		return SK_ELIMIT;
	entries = (size_t) xmax + 1;
	if (!sk_size_mul(entries, per_x * sizeof(double), bytes))
		return SK_ELIMIT;
	return SK_OK;
}

/* Capacity (number of x entries) of a workspace, 0 if unusable. */
static size_t
table_entries(void *ws, size_t ws_bytes, size_t per_x)
{
	if (ws == NULL || ((uintptr_t) ws) % sizeof(double) != 0)
		return 0;
	return ws_bytes / (per_x * sizeof(double));
}

/* ---------------------------------------------------------- optimiser */

/*
 * BFGS state that outlives one iteration.  h is the inverse Hessian
 * approximation, dim x dim, row major.
 */
typedef struct bfgs_state
{
	int			dim;
	double		theta[MAX_DIM];
	double		g[MAX_DIM];
	double		f;
	double		h[MAX_DIM * MAX_DIM];
	int			fresh;			/* h is a multiple of the identity */
} bfgs_state;

static void
bfgs_reset(bfgs_state *s)
{
	int			i;

	memset(s->h, 0, sizeof(s->h));
	for (i = 0; i < s->dim; i++)
		s->h[i * s->dim + i] = 1.0;
	s->fresh = 1;
}

static double
max_abs(const double *v, int dim)
{
	double		m = 0.0;
	int			i;

	for (i = 0; i < dim; i++)
		if (fabs(v[i]) > m)
			m = fabs(v[i]);
	return m;
}

/*
 * Inverse-Hessian update with s = step, y = gradient change.  Skipped when
 * the curvature s'y is not clearly positive, which keeps h positive
 * definite even though the line search only enforces Armijo.  The first
 * update rescales the identity by s'y / y'y so the next unit step is of
 * the right length.
 */
static void
bfgs_update(bfgs_state *st, const double *s, const double *y)
{
	int			n = st->dim;
	double		sy = 0.0,
				yy = 0.0,
				ss = 0.0,
				yhy = 0.0,
				rho;
	double		hy[MAX_DIM];
	int			i,
				j;

	for (i = 0; i < n; i++)
	{
		sy += s[i] * y[i];
		yy += y[i] * y[i];
		ss += s[i] * s[i];
	}
	if (!(sy > 1e-12 * sqrt(ss * yy)))
		return;
	if (st->fresh)
	{
		for (i = 0; i < n; i++)
			st->h[i * n + i] = sy / yy;
		st->fresh = 0;
	}
	for (i = 0; i < n; i++)
	{
		hy[i] = 0.0;
		for (j = 0; j < n; j++)
			hy[i] += st->h[i * n + j] * y[j];
		yhy += y[i] * hy[i];
	}
	rho = 1.0 / sy;
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++)
			st->h[i * n + j] += -rho * (hy[i] * s[j] + s[i] * hy[j]) +
				(rho * rho * yhy + rho) * s[i] * s[j];
}

/*
 * Backtracking Armijo search along d.  On success the state moves to the
 * new point and s, y hold the step and gradient change; returns 1.
 * Returns 0 if no acceptable point was found, or a negative sk_status
 * negated on an objective error.
 */
static int
line_search(objective_fn fn, void *ctx, bfgs_state *st, const double *d,
			double slope, double *s, double *y, sk_status *err)
{
	double		step = 1.0;
	double		th[MAX_DIM],
				g[MAX_DIM],
				f;
	int			tries,
				i;

	for (tries = 0; tries < 60; tries++)
	{
		for (i = 0; i < st->dim; i++)
			th[i] = st->theta[i] + step * d[i];
		*err = fn(th, &f, g, ctx);
		if (*err != SK_OK)
			return 0;
		/* strict decrease too: near the optimum f + tiny == f */
		if (isfinite(f) && f < st->f && f <= st->f + 1e-4 * step * slope)
		{
			for (i = 0; i < st->dim; i++)
			{
				s[i] = th[i] - st->theta[i];
				y[i] = g[i] - st->g[i];
				st->theta[i] = th[i];
				st->g[i] = g[i];
			}
			st->f = f;
			return 1;
		}
		if (isfinite(f))
		{
			/* minimiser of the quadratic through f(0), f'(0), f(step) */
			double		q = -slope * step * step /
				(2.0 * (f - st->f - slope * step));

			step = fmin(fmax(q, 0.1 * step), 0.5 * step);
		}
		else
			step *= 0.2;
	}
	return 0;
}

/* Search direction -h g; falls back to steepest descent if not downhill. */
static double
bfgs_direction(bfgs_state *st, double *d)
{
	int			n = st->dim;
	double		slope = 0.0,
				big;
	int			i,
				j;

	for (i = 0; i < n; i++)
	{
		d[i] = 0.0;
		for (j = 0; j < n; j++)
			d[i] -= st->h[i * n + j] * st->g[j];
		slope += d[i] * st->g[i];
	}
	if (!(slope < 0.0))
	{
		bfgs_reset(st);
		slope = 0.0;
		for (i = 0; i < n; i++)
		{
			d[i] = -st->g[i];
			slope -= st->g[i] * st->g[i];
		}
	}
	big = max_abs(d, n);
	if (big > STEP_CAP)
	{
		for (i = 0; i < n; i++)
			d[i] *= STEP_CAP / big;
		slope *= STEP_CAP / big;
	}
	return slope;
}

/*
 * Minimise fn from st->theta.  Sets *converged per the header's rule and
 * adds the iterations done to *iters.  Errors of fn (cancel) pass through.
 */
static sk_status
bfgs_minimise(objective_fn fn, void *ctx, bfgs_state *st,
			  const sk_btyd_opts *o, const sk_tick *tick,
			  int *iters, int *converged)
{
	double		d[MAX_DIM],
				s[MAX_DIM],
				y[MAX_DIM];
	sk_status	err;
	double		f_before;
	int			it,
				stalls = 0;

	*converged = 0;
	err = fn(st->theta, &st->f, st->g, ctx);
	if (err != SK_OK)
		return err;
	if (!isfinite(st->f))
		return SK_OK;			/* unusable start; caller sees !converged */
	bfgs_reset(st);
	for (it = 0;; it++)
	{
		double		slope;

		if (max_abs(st->g, st->dim) <= o->gtol)
		{
			*converged = 1;
			break;
		}
		if (it >= o->max_iter || max_abs(st->theta, st->dim) > THETA_LIMIT)
			break;
		if (sk_tick_stop(tick))
			return SK_ECANCEL;
		f_before = st->f;
		slope = bfgs_direction(st, d);
		if (!line_search(fn, ctx, st, d, slope, s, y, &err))
		{
			if (err != SK_OK)
				return err;
			if (!st->fresh)
			{
				bfgs_reset(st);
				continue;
			}
			/* no representable decrease left: accept a near-stationary point */
			*converged = max_abs(st->g, st->dim) <= 1000.0 * o->gtol;
			break;
		}
		bfgs_update(st, s, y);
		/* progress at rounding level only: stop rather than creep */
		stalls = st->f > f_before - 1e-15 * fabs(f_before) ? stalls + 1 : 0;
		if (stalls >= 5)
		{
			*converged = max_abs(st->g, st->dim) <= 1000.0 * o->gtol;
			break;
		}
	}
	*iters += it;
	return SK_OK;
}

static void
resolve_opts(const sk_btyd_opts *in, sk_btyd_opts *out)
{
	out->max_iter = 500;
	out->gtol = 1e-9;
	if (in != NULL && in->max_iter >= 1)
		out->max_iter = in->max_iter;
	if (in != NULL && positive_finite(in->gtol))
		out->gtol = in->gtol;
}

/* ------------------------------------------------------ BG/NBD: checks */

sk_status
sk_bgnbd_check_row(double x, double t_x, double T)
{
	if (!is_whole(x) || x < 0.0 || x > SK_BTYD_MAX_X)
		return SK_EDATA;
	if (!isfinite(t_x) || !isfinite(T) || !(T > 0.0))
		return SK_EDATA;
	if (t_x < 0.0 || t_x > T)
		return SK_EDATA;
	if (x == 0.0 && t_x != 0.0)
		return SK_EDATA;
	return SK_OK;
}

static sk_status
check_bgnbd_params(const sk_bgnbd_model *m)
{
	if (m == NULL || !positive_finite(m->r) || !positive_finite(m->alpha) ||
		!positive_finite(m->a) || !positive_finite(m->b))
		return SK_EINVAL;
	return SK_OK;
}

sk_status
sk_btyd_max_x(const double *x, size_t n, double *xmax)
{
	double		m = 0.0;
	size_t		i;

	if (xmax == NULL || (x == NULL && n > 0))
		return SK_EINVAL;
	for (i = 0; i < n; i++)
	{
		if (!is_whole(x[i]) || x[i] < 0.0)
			return SK_EDATA;
		if (x[i] > m)
			m = x[i];
	}
	if (m > SK_BTYD_MAX_X)
		return SK_ELIMIT;
	*xmax = m;
	return SK_OK;
}

sk_status
sk_bgnbd_fit_size(double xmax, size_t *bytes)
{
	return table_bytes(xmax, 3, bytes);
}

/* ---------------------------------------------- BG/NBD: log-likelihood */

/*
 * One customer's likelihood [FHL05, eq. 6], with B the Beta function:
 *
 *   L = B(a, b+x)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
 *     + [x > 0] B(a+1, b+x-1)/B(a, b) * G(r+x) alpha^r
 *                                     / (G(r) (alpha+t_x)^(r+x))
 *
 * The second Beta ratio is the first times a / (b+x-1), so
 *
 *   log L = A(x) + log( (alpha+T)^-(r+x)
 *                       + [x > 0] a/(b+x-1) (alpha+t_x)^-(r+x) )
 *   A(x)  = [lnG(r+x) - lnG(r)] + r ln alpha
 *         + [lnG(b+x) - lnG(b)] - [lnG(a+b+x) - lnG(a+b)]
 *
 * A depends on the row through x only; for whole x each bracket is a
 * finite sum of logs (and its derivative a sum of reciprocals).
 */
static double
bgnbd_row_loglik(const sk_bgnbd_model *m, double x, double t_x, double T)
{
	double		k = m->r + x;
	double		ab = m->a + m->b;
	double		head = lgamma(k) - lgamma(m->r) + m->r * log(m->alpha) +
		lgamma(m->b + x) - lgamma(m->b) - lgamma(ab + x) + lgamma(ab);
	double		alive = -k * log(m->alpha + T);

	if (x == 0.0)
		return head + alive;
	return head + log_sum_exp(alive, log(m->a) - log(m->b + x - 1.0) -
							  k * log(m->alpha + t_x));
}

sk_status
sk_bgnbd_loglik(const sk_bgnbd_model *m, const double *x, const double *t_x,
				const double *T, const double *w, size_t n,
				const sk_tick *tick, double *ll)
{
	double		sum = 0.0;
	size_t		i;

	if (ll == NULL || check_bgnbd_params(m) != SK_OK)
		return SK_EINVAL;
	if (n > 0 && (x == NULL || t_x == NULL || T == NULL))
		return SK_EINVAL;
	for (i = 0; i < n; i++)
	{
		double		wi = w ? w[i] : 1.0;

		if (sk_bgnbd_check_row(x[i], t_x[i], T[i]) != SK_OK ||
			!isfinite(wi) || wi < 0.0)
			return SK_EDATA;
		if (wi > 0.0)
			sum += wi * bgnbd_row_loglik(m, x[i], t_x[i], T[i]);
		if (tick_due(i, tick))
			return SK_ECANCEL;
	}
	*ll = sum;
	return SK_OK;
}

/* ------------------------------------------------------ BG/NBD: fitting */

typedef struct bg_ctx
{
	const double *x;
	const double *t_x;
	const double *T;
	const double *w;
	size_t		n;
	size_t		xmax;
	double		wsum;
	double	   *wx;				/* total weight of rows with each x */
	double	   *lnb1;			/* per evaluation: ln(b + x - 1) */
	double	   *invb1;			/* per evaluation: 1 / (b + x - 1) */
	const sk_tick *tick;
} bg_ctx;

/*
 * The x-only part: sum over x of wx[x] * A(x) and its gradient in
 * (r, alpha, a, b); fills lnb1/invb1 for the row pass on the way.
 */
static sk_status
bg_table_pass(bg_ctx *c, const double *p, double *f, double *g)
{
	double		r = p[0],
				al = p[1],
				a = p[2],
				b = p[3];
	double		lnal = log(al);
	double		slr = 0,
				sdr = 0,
				slb = 0,
				sdb = 0,
				slab = 0,
				sdab = 0;
	size_t		xi;

	for (xi = 0; xi <= c->xmax; xi++)
	{
		double		wxi;

		if (xi > 0)
		{
			double		k = (double) (xi - 1);

			slr += log(r + k);
			sdr += 1.0 / (r + k);
			c->lnb1[xi] = log(b + k);
			c->invb1[xi] = 1.0 / (b + k);
			slb += c->lnb1[xi];
			sdb += c->invb1[xi];
			slab += log(a + b + k);
			sdab += 1.0 / (a + b + k);
			if (tick_due(xi, c->tick))
				return SK_ECANCEL;
		}
		wxi = c->wx[xi];
		if (wxi == 0.0)
			continue;
		*f += wxi * (slr + r * lnal + slb - slab);
		g[0] += wxi * (sdr + lnal);
		g[1] += wxi * r / al;
		g[2] -= wxi * sdab;
		g[3] += wxi * (sdb - sdab);
	}
	return SK_OK;
}

/*
 * The per-row part: log of the two-term sum and its gradient.  With
 * u = -(r+x) ln(alpha+T) (alive at T) and v = ln a - ln(b+x-1)
 * - (r+x) ln(alpha+t_x) (dropped out after the last purchase), the share
 * pv = e^v / (e^u + e^v) weights the derivatives of the two terms.
 */
static sk_status
bg_row_pass(bg_ctx *c, const double *p, double *f, double *g)
{
	double		r = p[0],
				al = p[1],
				lna = log(p[2]);
	double		spv = 0.0;
	size_t		i;

	for (i = 0; i < c->n; i++)
	{
		double		wi = c->w ? c->w[i] : 1.0;
		double		aT = al + c->T[i];
		double		lT = log(aT);
		size_t		xi = (size_t) c->x[i];

		if (tick_due(i, c->tick))
			return SK_ECANCEL;
		if (wi == 0.0)
			continue;
		if (xi == 0)
		{
			*f -= wi * r * lT;
			g[0] -= wi * lT;
			g[1] -= wi * r / aT;
		}
		else
		{
			double		k = r + (double) xi;
			double		at = al + c->t_x[i];
			double		lt = log(at);
			double		d = lna - c->lnb1[xi] + k * (lT - lt);
			double		e = exp(-fabs(d));
			double		pv = d > 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
			double		pu = d > 0.0 ? e / (1.0 + e) : 1.0 / (1.0 + e);

			*f += wi * ((d > 0.0 ? d : 0.0) - k * lT + log1p(e));
			g[0] -= wi * (pu * lT + pv * lt);
			g[1] -= wi * k * (pu / aT + pv / at);
			spv += wi * pv;
			g[3] -= wi * pv * c->invb1[xi];
		}
	}
	g[2] += spv / p[2];
	return SK_OK;
}

/* Objective for BFGS: -LL / n at theta = log(r, alpha, a, b). */
static sk_status
bg_objective(const double *theta, double *f, double *g, void *vctx)
{
	bg_ctx	   *c = (bg_ctx *) vctx;
	double		p[4],
				ll = 0.0,
				gp[4] = {0, 0, 0, 0};
	sk_status	st;
	int			i;

	for (i = 0; i < 4; i++)
		p[i] = exp(theta[i]);
	st = bg_table_pass(c, p, &ll, gp);
	if (st == SK_OK)
		st = bg_row_pass(c, p, &ll, gp);
	if (st != SK_OK)
		return st;
	*f = -ll / c->wsum;
	for (i = 0; i < 4; i++)
		g[i] = -gp[i] * p[i] / c->wsum;
	return SK_OK;
}

/*
 * Validate every row, tally weights by x, and check that the data can
 * identify the model.  Also returns mean x and mean T for the start.
 */
static sk_status
bg_prepare(bg_ctx *c, size_t cap, double *mean_x, double *mean_T)
{
	size_t		i,
				first = c->n;
	int			distinct = 0,
				repeat = 0;
	double		sx = 0.0,
				sT = 0.0;

	memset(c->wx, 0, cap * sizeof(double));
	c->xmax = 0;
	c->wsum = 0.0;
	for (i = 0; i < c->n; i++)
	{
		double		wi = c->w ? c->w[i] : 1.0;

		if (sk_bgnbd_check_row(c->x[i], c->t_x[i], c->T[i]) != SK_OK ||
			!isfinite(wi) || wi < 0.0)
			return SK_EDATA;
		if ((size_t) c->x[i] >= cap)
			return SK_EINVAL;	/* workspace sized for a smaller xmax */
		if (tick_due(i, c->tick))
			return SK_ECANCEL;
		if (wi == 0.0)
			continue;
		if (first == c->n)
			first = i;
		else if (c->x[i] != c->x[first] || c->t_x[i] != c->t_x[first] ||
				 c->T[i] != c->T[first])
			distinct = 1;
		repeat |= c->x[i] > 0.0;
		if ((size_t) c->x[i] > c->xmax)
			c->xmax = (size_t) c->x[i];
		c->wx[(size_t) c->x[i]] += wi;
		c->wsum += wi;
		sx += wi * c->x[i];
		sT += wi * c->T[i];
	}
	if (!distinct || !repeat || !isfinite(c->wsum) || !isfinite(sT))
		return SK_EDATA;
	*mean_x = sx / c->wsum;
	*mean_T = sT / c->wsum;
	return SK_OK;
}

/*
 * Starting points.  The first matches the repeat rate of a population
 * without dropout (E[x] = r T / alpha with r = 1) and a mild dropout prior;
 * the second, used only if the first fails, starts from heavier dropout.
 */
static void
bg_start(int which, double mean_x, double mean_T, double *theta)
{
	double		rate = fmax(mean_x, 1e-3) / mean_T;

	if (which == 0)
	{
		theta[0] = 0.0;
		theta[1] = log(1.0 / rate);
		theta[2] = 0.0;
		theta[3] = 0.0;
	}
	else
	{
		theta[0] = log(0.5);
		theta[1] = log(0.25 / rate);
		theta[2] = log(0.5);
		theta[3] = log(3.0);
	}
}

sk_status
sk_bgnbd_fit(const double *x, const double *t_x, const double *T,
			 const double *w, size_t n, void *ws, size_t ws_bytes,
			 const sk_btyd_opts *opts, const sk_tick *tick,
			 sk_bgnbd_model *out)
{
	bg_ctx		c;
	sk_btyd_opts o;
	bfgs_state	best,
				st;
	size_t		cap = table_entries(ws, ws_bytes, 3);
	double		mean_x,
				mean_T;
	int			start,
				iters = 0,
				conv = 0,
				best_conv = 0;
	sk_status	s;

	if (out == NULL || (n > 0 && (x == NULL || t_x == NULL || T == NULL)))
		return SK_EINVAL;
	if (n == 0)
		return SK_EDATA;
	if (cap == 0)
		return SK_EINVAL;
	resolve_opts(opts, &o);
	c.x = x;
	c.t_x = t_x;
	c.T = T;
	c.w = w;
	c.n = n;
	c.wx = (double *) ws;
	c.lnb1 = c.wx + cap;
	c.invb1 = c.lnb1 + cap;
	c.tick = tick;
	s = bg_prepare(&c, cap, &mean_x, &mean_T);
	if (s != SK_OK)
		return s;

	best.dim = 0;
	for (start = 0; start < 2 && !best_conv; start++)
	{
		st.dim = 4;
		bg_start(start, mean_x, mean_T, st.theta);
		s = bfgs_minimise(bg_objective, &c, &st, &o, tick, &iters, &conv);
		if (s != SK_OK)
			return s;
		if (best.dim == 0 || (isfinite(st.f) && !(st.f >= best.f)) || conv)
		{
			best = st;
			best_conv = conv;
		}
	}
	out->r = exp(best.theta[0]);
	out->alpha = exp(best.theta[1]);
	out->a = exp(best.theta[2]);
	out->b = exp(best.theta[3]);
	out->loglik = -best.f * c.wsum;
	out->n = c.wsum;
	out->iterations = iters;
	out->converged = best_conv;
	return best_conv ? SK_OK : SK_ENOCONV;
}

/* ------------------------------------------------- hypergeometric series */

/*
 * What a prediction may spend on series: the tick, called every
 * TICK_TERMS terms of every series, and the terms still allowed across all
 * the series it sums (a CLV sums one or more per step).  A single series
 * also stops at SK_BTYD_HYP2F1_MAX_TERMS; which limit ran out decides the
 * status (SK_ENOCONV for the series, SK_ELIMIT for the budget).
 */
typedef struct hyp_work
{
	const sk_tick *tick;
	uint64_t	left;
} hyp_work;

/*
 * ln 2F1(k, bp; c; z) for k, bp, c > 0 and 0 <= z < 1.  Terms t_n of the
 * series are positive with ratio  rho_n = z (k+n)(bp+n) / ((c+n)(n+1)).
 * Writing rho_n / z - 1 = (A n + B) / ((c+n)(n+1)) with A = k+bp-c-1 and
 * B = k bp - c: once A n + B > 0 the ratio decreases after its peak, and
 * when A <= 0 it either decreases or stays below z.  So when the ratio is
 * past its peak (or A <= 0), the tail after t_n is at most
 * t_n rb / (1 - rb), rb = max(rho_n, z), and we stop once that is below
 * 1e-17 of the sum.  Large terms are rescaled by 1e-250 (shift tracks
 * the log of the scale), so a peak far above DBL_MAX is still summed.
 * About (k - c + 40) / (1 - z) terms are needed, so z near 1 is slow: the
 * terms are counted against w->left and the tick is called as they go.
 */
static sk_status
hyp_log(double k, double bp, double c, double z, hyp_work *w, double *out)
{
	const double scale = 1e-250;
	double		term = 1.0,
				sum = 0.0,
				shift = 0.0,
				prev = HUGE_VAL,
				A = k + bp - c - 1.0,
				B = k * bp - c;
	uint64_t	n,
				cap = SK_BTYD_HYP2F1_MAX_TERMS;
	int			by_budget = 0;

	if (w->left < cap)
	{
		cap = w->left;
		by_budget = 1;
	}
	for (n = 0; n < cap; n++)
	{
		double		dn = (double) n;
		double		rho = z * ((k + dn) / (dn + 1.0)) * ((bp + dn) / (c + dn));
		double		rb = fmax(rho, z);

		if ((n & (TICK_TERMS - 1)) == TICK_TERMS - 1 && sk_tick_stop(w->tick))
		{
			w->left -= n;
			return SK_ECANCEL;
		}
		term *= rho;
		sum += term;
		if (!isfinite(sum))
		{
			w->left -= n + 1;
			return SK_EOVERFLOW;	/* one ratio beyond the double range */
		}
		if (term > 1e250)
		{
			term *= scale;
			sum *= scale;
			shift -= log(scale);
		}
		if (term == 0.0 ||
			(rho < 1.0 && (A <= 0.0 || (A * dn + B > 0.0 && rho <= prev)) &&
			 term * rb / (1.0 - rb) <= 1e-17 * (sum + exp(-shift))))
		{
			w->left -= n + 1;
			*out = shift == 0.0 ? log1p(sum) : shift + log(sum + exp(-shift));
			return SK_OK;
		}
		prev = rho;
	}
	w->left -= cap;
	return by_budget ? SK_ELIMIT : SK_ENOCONV;
}

sk_status
sk_hyp2f1(double a, double b, double c, double z, const sk_tick *tick,
		  double *out)
{
	hyp_work	w = {tick, UINT64_MAX};
	double		lf;
	sk_status	s;

	if (out == NULL || !positive_finite(a) || !positive_finite(b) ||
		!positive_finite(c) || !isfinite(z) || z < 0.0 || z >= 1.0)
		return SK_EINVAL;
	s = hyp_log(a, b, c, z, &w, &lf);
	if (s != SK_OK)
		return s;
	*out = exp(lf);
	return isfinite(*out) ? SK_OK : SK_EOVERFLOW;
}

/* ------------------------------------------------- BG/NBD: predictions */

/*
 * 1 - E[(1 + p s)^-k] for p ~ Beta(a, bp) with c = a + bp > 0.  By Euler's
 * integral and Pfaff's transformation, E[(1 + p s)^-k] =
 * (1-z)^k 2F1(k, bp; c; z) with z = s / (1 + s).  Written as -expm1 of a
 * log so small s keeps its relative accuracy.
 */
static sk_status
one_minus_h(double k, double s, double bp, double c, hyp_work *w, double *out)
{
	double		lf;
	sk_status	st = hyp_log(k, bp, c, s / (1.0 + s), w, &lf);

	if (st != SK_OK)
		return st;
	*out = -expm1(lf - k * log1p(s));
	return SK_OK;
}

/*
 * E over p ~ Beta(a, bp) of (1 - (1 + p s)^-k) / p.
 *
 * Given alive, lambda ~ Gamma(k, beta) and p ~ Beta(a, bp), a customer's
 * expected purchases in the next t units are (1 - e^{-lambda p t}) / p;
 * averaging over lambda gives (1 - (1 + p s)^-k) / p with s = t / beta.
 * For a > 1 the p-average is [FHL05, eq. 10]'s factor
 *   (c / (a-1)) (1 - (1-z)^k 2F1(k, bp; c; z)),   c = a + bp - 1,
 * which also holds for a < 1 by continuation (both factors change sign).
 * At a = 1 it is 0/0, so within NEAR_ONE of 1 we interpolate linearly
 * between a = 1 -/+ NEAR_ONE (error O(NEAR_ONE^2), cancellation O(eps /
 * NEAR_ONE)).  When c <= 0 the series is not usable; then 1/p = 1 +
 * (1-p)/p and E_{a,bp}[(1-p) h] = bp/(a+bp) E_{a,bp+1}[h] give
 *   F(a, bp) = (1 - E_{a,bp}[(1+ps)^-k]) + bp/(a+bp) F(a, bp+1),
 * whose pieces have c > 0.
 */
static sk_status
cond_mean_at(double k, double s, double a, double bp, hyp_work *w,
			 double *out)
{
	double		c = a + bp - 1.0,
				g = 0.0,
				rest = 0.0;
	sk_status	st;

	if (c <= 0.0)
	{
		st = one_minus_h(k, s, bp, a + bp, w, &g);
		if (st == SK_OK)
			st = cond_mean_at(k, s, a, bp + 1.0, w, &rest);
		*out = g + bp / (a + bp) * rest;
		return st;
	}
	st = one_minus_h(k, s, bp, c, w, &g);
	*out = c / (a - 1.0) * g;
	return st;
}

static sk_status
cond_mean(double k, double s, double a, double bp, hyp_work *w, double *out)
{
	double		lo,
				hi = 0.0;
	sk_status	st;

	if (s == 0.0)
	{
		*out = 0.0;
		return SK_OK;
	}
	if (!(fabs(a - 1.0) < NEAR_ONE))
		return cond_mean_at(k, s, a, bp, w, out);
	st = cond_mean_at(k, s, 1.0 - NEAR_ONE, bp, w, &lo);
	if (st == SK_OK)
		st = cond_mean_at(k, s, 1.0 + NEAR_ONE, bp, w, &hi);
	*out = lo + (a - (1.0 - NEAR_ONE)) / (2.0 * NEAR_ONE) * (hi - lo);
	return st;
}

/*
 * P(alive | x, t_x, T) [FHL05, eq. 9]: the share of the "alive at T" term
 * in the likelihood, 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)).
 */
static double
p_alive(const sk_bgnbd_model *m, double x, double t_x, double T)
{
	double		d;

	if (x == 0.0)
		return 1.0;
	d = log(m->a) - log(m->b + x - 1.0) +
		(m->r + x) * log1p((T - t_x) / (m->alpha + t_x));
	return 1.0 / (1.0 + exp(d));
}

sk_status
sk_bgnbd_p_alive(const sk_bgnbd_model *m, double x, double t_x, double T,
				 double *out)
{
	if (out == NULL || check_bgnbd_params(m) != SK_OK ||
		sk_bgnbd_check_row(x, t_x, T) != SK_OK)
		return SK_EINVAL;
	*out = p_alive(m, x, t_x, T);
	return SK_OK;
}

/*
 * E[Y(t) | x, t_x, T] [FHL05, eq. 10] = P(alive) * F with the posterior
 * given alive: lambda ~ Gamma(r+x, alpha+T), p ~ Beta(a, b+x).  With
 * x = t_x = T = 0 this is E[X(t)] [FHL05, eq. 7] exactly: the posterior is
 * the prior and P(alive) is 1.  Arguments are checked by the callers.
 */
static sk_status
expected_at(const sk_bgnbd_model *m, double t, double x, double t_x,
			double T, hyp_work *w, double *out)
{
	double		f;
	sk_status	st;

	st = cond_mean(m->r + x, t / (m->alpha + T), m->a, m->b + x, w, &f);
	if (st != SK_OK)
		return st;
	*out = p_alive(m, x, t_x, T) * f;
	return isfinite(*out) ? SK_OK : SK_EOVERFLOW;
}

sk_status
sk_bgnbd_expected(const sk_bgnbd_model *m, double t, double x, double t_x,
				  double T, const sk_tick *tick, double *out)
{
	hyp_work	w = {tick, UINT64_MAX};

	if (out == NULL || check_bgnbd_params(m) != SK_OK ||
		sk_bgnbd_check_row(x, t_x, T) != SK_OK || !isfinite(t) || t < 0.0)
		return SK_EINVAL;
	return expected_at(m, t, x, t_x, T, &w, out);
}

sk_status
sk_bgnbd_expected_new(const sk_bgnbd_model *m, double t, const sk_tick *tick,
					  double *out)
{
	hyp_work	w = {tick, UINT64_MAX};

	if (out == NULL || check_bgnbd_params(m) != SK_OK || !isfinite(t) ||
		t < 0.0)
		return SK_EINVAL;
	return expected_at(m, t, 0.0, 0.0, 0.0, &w, out);
}

sk_status
sk_bgnbd_clv(const sk_bgnbd_model *m, double x, double t_x, double T,
			 double spend, double horizon, double step, double discount_rate,
			 uint64_t max_terms, const sk_tick *tick, double *out)
{
	hyp_work	w = {tick, max_terms};
	double		steps,
				prev = 0.0,
				sum = 0.0,
				ld;
	long		i,
				count;
	int			fresh = x == 0.0 && t_x == 0.0 && T == 0.0;

	if (out == NULL || check_bgnbd_params(m) != SK_OK ||
		(!fresh && sk_bgnbd_check_row(x, t_x, T) != SK_OK) ||
		!isfinite(spend) || !isfinite(horizon) || horizon < 0.0 ||
		!positive_finite(step) || !isfinite(discount_rate) ||
		discount_rate <= -1.0 || max_terms == 0)
		return SK_EINVAL;
	steps = ceil(horizon / step);
	if (!(steps <= SK_BTYD_CLV_MAX_STEPS))
		return SK_ELIMIT;
	count = (long) steps;
	ld = log1p(discount_rate);
	for (i = 1; i <= count; i++)
	{
		double		ti = i == count ? horizon : (double) i * step;
		double		e;
		sk_status	st;

		if ((i & (TICK_STEPS - 1)) == 0 && sk_tick_stop(tick))
			return SK_ECANCEL;
		st = expected_at(m, ti, x, t_x, T, &w, &e);
		if (st != SK_OK)
			return st;
		sum += (e - prev) * spend * exp(-(ti / step) * ld);
		prev = e;
	}
	*out = sum;
	return isfinite(sum) ? SK_OK : SK_EOVERFLOW;
}

/* ------------------------------------------------------- Gamma-Gamma */

/*
 * [FH13]: a customer's transaction values are Gamma(p, nu) (shape p,
 * rate nu), nu ~ Gamma(q, gamma) across customers.  The mean zbar of x
 * values has, after integrating nu out, the density
 *
 *   f(zbar | x) = G(px+q) / (G(px) G(q)) * gamma^q x^(px) zbar^(px-1)
 *                 / (gamma + x zbar)^(px+q)
 *
 * so log f = [lnG(px+q) - lnG(px) - lnG(q) + q ln gamma]  (x only)
 *          + p (x ln zbar + x ln x) - ln zbar               (data only)
 *          - (px+q) ln(gamma + x zbar)                      (per row)
 */
sk_status
sk_gg_check_row(double x, double zbar)
{
	if (!is_whole(x) || x < 0.0 || x > SK_BTYD_MAX_X || !isfinite(zbar) ||
		zbar < 0.0)
		return SK_EDATA;
	if (x > 0.0 && !(zbar > 0.0))
		return SK_EDATA;
	return SK_OK;
}

static sk_status
check_gg_params(const sk_gg_model *m)
{
	if (m == NULL || !positive_finite(m->p) || !positive_finite(m->q) ||
		!positive_finite(m->gamma))
		return SK_EINVAL;
	return SK_OK;
}

sk_status
sk_gg_fit_size(double xmax, size_t *bytes)
{
	return table_bytes(xmax, 1, bytes);
}

sk_status
sk_gg_loglik(const sk_gg_model *m, const double *x, const double *zbar,
			 const double *w, size_t n, const sk_tick *tick, double *ll)
{
	double		sum = 0.0;
	size_t		i;

	if (ll == NULL || check_gg_params(m) != SK_OK ||
		(n > 0 && (x == NULL || zbar == NULL)))
		return SK_EINVAL;
	for (i = 0; i < n; i++)
	{
		double		wi = w ? w[i] : 1.0;
		double		px;

		if (sk_gg_check_row(x[i], zbar[i]) != SK_OK || !isfinite(wi) ||
			wi < 0.0)
			return SK_EDATA;
		if (tick_due(i, tick))
			return SK_ECANCEL;
		if (wi == 0.0 || x[i] == 0.0)
			continue;
		px = m->p * x[i];
		sum += wi * (lgamma(px + m->q) - lgamma(px) - lgamma(m->q) +
					 m->q * log(m->gamma) + (px - 1.0) * log(zbar[i]) +
					 px * log(x[i]) - (px + m->q) * log(m->gamma + x[i] * zbar[i]));
	}
	*ll = sum;
	return SK_OK;
}

typedef struct gg_ctx
{
	const double *x;
	const double *zbar;
	const double *w;
	size_t		n;
	size_t		xmax;
	double	   *wx;				/* total weight of rows with each x > 0 */
	double		wsum;
	double		c0;				/* sum w ln zbar */
	double		c1;				/* sum w x (ln zbar + ln x) */
	const sk_tick *tick;
} gg_ctx;

static sk_status
gg_objective(const double *theta, double *f, double *g, void *vctx)
{
	gg_ctx	   *c = (gg_ctx *) vctx;
	double		p = exp(theta[0]),
				q = exp(theta[1]),
				gm = exp(theta[2]);
	double		lgq = lgamma(q),
				dgq = digamma(q),
				lng = log(gm);
	double		ll = p * c->c1 - c->c0,
				gp = c->c1,
				gq = 0.0,
				gg = 0.0;
	double		sl = 0.0,
				sxl = 0.0,
				si = 0.0,
				sxi = 0.0;
	size_t		i;

	for (i = 1; i <= c->xmax; i++)
	{
		double		wxi = c->wx[i],
					px = p * (double) i;

		if (wxi == 0.0)
			continue;
		ll += wxi * (lgamma(px + q) - lgamma(px) - lgq + q * lng);
		gp += wxi * (double) i * (digamma(px + q) - digamma(px));
		gq += wxi * (digamma(px + q) - dgq + lng);
		gg += wxi * q / gm;
		if (tick_due(i, c->tick))
			return SK_ECANCEL;
	}
	for (i = 0; i < c->n; i++)
	{
		double		wi = c->w ? c->w[i] : 1.0,
					xi = c->x[i],
					den,
					l;

		if (tick_due(i, c->tick))
			return SK_ECANCEL;
		if (wi == 0.0 || xi == 0.0)
			continue;
		den = gm + xi * c->zbar[i];
		l = log(den);
		sl += wi * l;
		sxl += wi * xi * l;
		si += wi / den;
		sxi += wi * xi / den;
	}
	ll -= p * sxl + q * sl;
	gp -= sxl;
	gq -= sl;
	gg -= p * sxi + q * si;
	*f = -ll / c->wsum;
	g[0] = -gp * p / c->wsum;
	g[1] = -gq * q / c->wsum;
	g[2] = -gg * gm / c->wsum;
	return SK_OK;
}

/* Validate rows, tally x > 0 rows by x, precompute the data-only sums. */
static sk_status
gg_prepare(gg_ctx *c, size_t cap, double *mean_z)
{
	size_t		i,
				first = c->n;
	int			distinct = 0;
	double		sz = 0.0;

	memset(c->wx, 0, cap * sizeof(double));
	c->xmax = 0;
	c->wsum = c->c0 = c->c1 = 0.0;
	for (i = 0; i < c->n; i++)
	{
		double		wi = c->w ? c->w[i] : 1.0,
					xi = c->x[i];

		if (sk_gg_check_row(xi, c->zbar[i]) != SK_OK || !isfinite(wi) ||
			wi < 0.0)
			return SK_EDATA;
		if ((size_t) xi >= cap)
			return SK_EINVAL;
		if (tick_due(i, c->tick))
			return SK_ECANCEL;
		if (wi == 0.0 || xi == 0.0)
			continue;
		if (first == c->n)
			first = i;
		else if (xi != c->x[first] || c->zbar[i] != c->zbar[first])
			distinct = 1;
		if ((size_t) xi > c->xmax)
			c->xmax = (size_t) xi;
		c->wx[(size_t) xi] += wi;
		c->wsum += wi;
		c->c0 += wi * log(c->zbar[i]);
		c->c1 += wi * xi * (log(c->zbar[i]) + log(xi));
		sz += wi * c->zbar[i];
	}
	if (!distinct || !isfinite(c->wsum) || !isfinite(sz) ||
		!isfinite(c->c0) || !isfinite(c->c1))
		return SK_EDATA;
	*mean_z = sz / c->wsum;
	return SK_OK;
}

/*
 * Starts: p = 1, q = 2 puts the population mean p gamma / (q - 1) at the
 * observed mean spend; the fallback assumes less spread across customers.
 */
static void
gg_start(int which, double mean_z, double *theta)
{
	theta[0] = which == 0 ? 0.0 : log(4.0);
	theta[1] = which == 0 ? log(2.0) : log(4.0);
	theta[2] = which == 0 ? log(mean_z) : log(mean_z * 3.0 / 4.0);
}

sk_status
sk_gg_fit(const double *x, const double *zbar, const double *w, size_t n,
		  void *ws, size_t ws_bytes, const sk_btyd_opts *opts,
		  const sk_tick *tick, sk_gg_model *out)
{
	gg_ctx		c;
	sk_btyd_opts o;
	bfgs_state	best,
				st;
	size_t		cap = table_entries(ws, ws_bytes, 1);
	double		mean_z;
	int			start,
				iters = 0,
				conv = 0,
				best_conv = 0;
	sk_status	s;

	if (out == NULL || (n > 0 && (x == NULL || zbar == NULL)))
		return SK_EINVAL;
	if (n == 0)
		return SK_EDATA;
	if (cap == 0)
		return SK_EINVAL;
	resolve_opts(opts, &o);
	c.x = x;
	c.zbar = zbar;
	c.w = w;
	c.n = n;
	c.wx = (double *) ws;
	c.tick = tick;
	s = gg_prepare(&c, cap, &mean_z);
	if (s != SK_OK)
		return s;

	best.dim = 0;
	for (start = 0; start < 2 && !best_conv; start++)
	{
		st.dim = 3;
		gg_start(start, mean_z, st.theta);
		s = bfgs_minimise(gg_objective, &c, &st, &o, tick, &iters, &conv);
		if (s != SK_OK)
			return s;
		if (best.dim == 0 || (isfinite(st.f) && !(st.f >= best.f)) || conv)
		{
			best = st;
			best_conv = conv;
		}
	}
	out->p = exp(best.theta[0]);
	out->q = exp(best.theta[1]);
	out->gamma = exp(best.theta[2]);
	out->loglik = -best.f * c.wsum;
	out->n = c.wsum;
	out->iterations = iters;
	out->converged = best_conv;
	return best_conv ? SK_OK : SK_ENOCONV;
}

/*
 * E[M | x, zbar] [FH13]: the posterior of nu is Gamma(px+q, gamma+x zbar),
 * and the mean value of one transaction is p / nu, whose posterior mean is
 * p (gamma + x zbar) / (px + q - 1), finite only when px + q > 1.
 */
sk_status
sk_gg_expected_spend(const sk_gg_model *m, double x, double zbar,
					 double *out)
{
	double		den;

	if (out == NULL || check_gg_params(m) != SK_OK ||
		sk_gg_check_row(x, zbar) != SK_OK)
		return SK_EINVAL;
	den = m->p * x + m->q - 1.0;
	if (!(den > 0.0))
		return SK_EOVERFLOW;
	*out = (m->gamma + (x > 0.0 ? x * zbar : 0.0)) * m->p / den;
	return isfinite(*out) ? SK_OK : SK_EOVERFLOW;
}

/* ---------------------------------------------------------- text form */

/* Fit diagnostics shared by both models' text. */
typedef struct fit_info
{
	double		loglik;
	double		n;
	int			iterations;
	int			converged;
} fit_info;

static int
fit_info_valid(const fit_info *fi)
{
	return isfinite(fi->loglik) && isfinite(fi->n) && fi->n >= 0.0 &&
		fi->iterations >= 0 && (fi->converged == 0 || fi->converged == 1);
}

/* Cursor over the undecoded bytes. */
typedef struct cursor
{
	const char *p;
	const char *end;
} cursor;

static int
take_literal(cursor *cur, const char *lit)
{
	size_t		len = strlen(lit);

	if ((size_t) (cur->end - cur->p) < len || memcmp(cur->p, lit, len) != 0)
		return 0;
	cur->p += len;
	return 1;
}

/* Length of the token at the cursor: up to a space or the end. */
static size_t
token_length(const cursor *cur)
{
	const char *q = cur->p;

	while (q < cur->end && *q != ' ')
		q++;
	return (size_t) (q - cur->p);
}

static int
digits(const char *s, size_t len, size_t *i)
{
	size_t		start = *i;

	while (*i < len && s[*i] >= '0' && s[*i] <= '9')
		(*i)++;
	return *i > start;
}

/* Plain decimal: -?D+(.D*)?([eE][+-]?D+)? */
static int
plain_decimal(const char *s, size_t len)
{
	size_t		i = 0;

	if (i < len && s[i] == '-')
		i++;
	if (!digits(s, len, &i))
		return 0;
	if (i < len && s[i] == '.')
	{
		i++;
		(void) digits(s, len, &i);
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (!digits(s, len, &i))
			return 0;
	}
	return i == len;
}

static int
take_double(cursor *cur, double *v)
{
	char		buf[64];
	size_t		len = token_length(cur);
	int			used = 0;

	if (len == 0 || len >= sizeof(buf) || !plain_decimal(cur->p, len))
		return 0;
	memcpy(buf, cur->p, len);
	buf[len] = '\0';
	if (sscanf(buf, "%lf%n", v, &used) != 1 || (size_t) used != len ||
		!isfinite(*v))
		return 0;
	cur->p += len;
	return 1;
}

static int
take_int(cursor *cur, int *v)
{
	size_t		len = token_length(cur),
				i;
	int64_t		acc = 0;

	if (len == 0 || len > 10)
		return 0;
	for (i = 0; i < len; i++)
	{
		if (cur->p[i] < '0' || cur->p[i] > '9')
			return 0;
		acc = acc * 10 + (cur->p[i] - '0');
	}
	if (acc > INT32_MAX)
		return 0;
	*v = (int) acc;
	cur->p += len;
	return 1;
}

/* " name=" then a number; the caller checks the value's range. */
static int
take_field(cursor *cur, const char *name, double *v)
{
	return take_literal(cur, " ") && take_literal(cur, name) &&
		take_literal(cur, "=") && take_double(cur, v);
}

static int
take_fit_info(cursor *cur, fit_info *fi)
{
	if (!take_field(cur, "ll", &fi->loglik) ||
		!take_field(cur, "n", &fi->n) ||
		!take_literal(cur, " iter=") || !take_int(cur, &fi->iterations) ||
		!take_literal(cur, " converged=") || !take_int(cur, &fi->converged))
		return 0;
	return cur->p == cur->end && fit_info_valid(fi);
}

static sk_status
finish_encode(int written, size_t buflen, size_t *len)
{
	if (written < 0 || (size_t) written >= buflen)
		return SK_EINVAL;
	*len = (size_t) written;
	return SK_OK;
}

sk_status
sk_bgnbd_encode(const sk_bgnbd_model *m, char *buf, size_t buflen,
				size_t *len)
{
	fit_info	fi;

	if (buf == NULL || len == NULL || check_bgnbd_params(m) != SK_OK)
		return SK_EINVAL;
	fi.loglik = m->loglik;
	fi.n = m->n;
	fi.iterations = m->iterations;
	fi.converged = m->converged;
	if (!fit_info_valid(&fi))
		return SK_EINVAL;
	return finish_encode(snprintf(buf, buflen,
								  "bgnbd/1 r=%.17g alpha=%.17g a=%.17g b=%.17g "
								  "ll=%.17g n=%.17g iter=%d converged=%d",
								  m->r, m->alpha, m->a, m->b, m->loglik, m->n,
								  m->iterations, m->converged),
						 buflen, len);
}

sk_status
sk_bgnbd_decode(const char *text, size_t len, sk_bgnbd_model *out)
{
	cursor		cur;
	sk_bgnbd_model m;
	fit_info	fi;

	if (out == NULL || (text == NULL && len > 0))
		return SK_EINVAL;
	if (text == NULL)
		return SK_EDATA;
	cur.p = text;
	cur.end = text + len;
	if (!take_literal(&cur, "bgnbd/1") ||
		!take_field(&cur, "r", &m.r) || !take_field(&cur, "alpha", &m.alpha) ||
		!take_field(&cur, "a", &m.a) || !take_field(&cur, "b", &m.b) ||
		!take_fit_info(&cur, &fi))
		return SK_EDATA;
	m.loglik = fi.loglik;
	m.n = fi.n;
	m.iterations = fi.iterations;
	m.converged = fi.converged;
	if (check_bgnbd_params(&m) != SK_OK)
		return SK_EDATA;
	*out = m;
	return SK_OK;
}

sk_status
sk_gg_encode(const sk_gg_model *m, char *buf, size_t buflen, size_t *len)
{
	fit_info	fi;

	if (buf == NULL || len == NULL || check_gg_params(m) != SK_OK)
		return SK_EINVAL;
	fi.loglik = m->loglik;
	fi.n = m->n;
	fi.iterations = m->iterations;
	fi.converged = m->converged;
	if (!fit_info_valid(&fi))
		return SK_EINVAL;
	return finish_encode(snprintf(buf, buflen,
								  "gammagamma/1 p=%.17g q=%.17g gamma=%.17g "
								  "ll=%.17g n=%.17g iter=%d converged=%d",
								  m->p, m->q, m->gamma, m->loglik, m->n,
								  m->iterations, m->converged),
						 buflen, len);
}

sk_status
sk_gg_decode(const char *text, size_t len, sk_gg_model *out)
{
	cursor		cur;
	sk_gg_model m;
	fit_info	fi;

	if (out == NULL || (text == NULL && len > 0))
		return SK_EINVAL;
	if (text == NULL)
		return SK_EDATA;
	cur.p = text;
	cur.end = text + len;
	if (!take_literal(&cur, "gammagamma/1") ||
		!take_field(&cur, "p", &m.p) || !take_field(&cur, "q", &m.q) ||
		!take_field(&cur, "gamma", &m.gamma) || !take_fit_info(&cur, &fi))
		return SK_EDATA;
	m.loglik = fi.loglik;
	m.n = fi.n;
	m.iterations = fi.iterations;
	m.converged = fi.converged;
	if (check_gg_params(&m) != SK_OK)
		return SK_EDATA;
	*out = m;
	return SK_OK;
}
