/*
 * kmeans.c - server-free k-means (see kmeans.h for the contract).
 *
 * Invariants:
 *  - Nothing here allocates: all scratch lives in the caller's "work"
 *    block, carved by the same layout function that sizes it, so a size
 *    helper and its user can never disagree.
 *  - Working rows are contiguous and row-major, in the transformed space:
 *    the caller's array itself when there is neither a transform nor a
 *    sample, else a copy in the workspace.  Every |value| <= SK_KM_MAX_ABS
 *    (z-scores are bounded by sqrt(n) anyway), so no squared distance or
 *    centre sum can overflow; only the inertia sum could, and it is checked.
 *  - Order independence: the fit depends on the multiset of working rows
 *    only.  Sums are exact in fixed point (see "Order-independent sums"),
 *    random draws rank rows by a seeded hash of their values, ties
 *    (relocation) break in that same order.  Only the reservoir sample
 *    (sample_cap in the core) follows the input order.
 *  - Hamerly's bounds: upper >= distance of row i to its centre and
 *    lower <= distance to any other centre, in Euclidean (not squared)
 *    units, stored relative to the summed centre moves (see
 *    upper_bound()).  They are floats rounded outwards (up for upper,
 *    down for lower), which halves their memory: on large inputs touching
 *    fresh pages costs more than the looser bounds do.  A row is skipped
 *    only when the bound decides with a relative margin, so pruning never
 *    changes a label except in exact ties.
 *  - Randomness comes only from one sk_rng seeded with params->seed and
 *    consumed in a fixed order (sample, then restart 1, 2, ...).
 *  - The text decoder reads at most len bytes, never needs a terminator
 *    and copies each number into a bounded local buffer before strtod.
 */
#include "kmeans.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The passes over the rows are compiled once per small dimension (2, 3, 4)
 * besides the general case, so that the loops over features unroll: a
 * pass body is SK_KM_INLINE and a dispatcher calls it with a constant dim.
 */
#if defined(__GNUC__)
#define SK_KM_INLINE inline __attribute__((always_inline))
#else
#define SK_KM_INLINE inline
#endif

#define SK_KM_BY_DIM(dim, call_with) \
	switch (dim) \
	{ \
		case 2: return call_with(2); \
		case 3: return call_with(3); \
		case 4: return call_with(4); \
		default: return call_with(dim); \
	}

/* Larger working values could overflow squared distances. */
#define SK_KM_MAX_ABS		1e150
/* Rows between two ticks. */
#define SK_KM_TICK_ROWS		4096
/* Relative slack that keeps Hamerly's pruning exact under rounding. */
#define SK_KM_BOUND_SLACK	1e-10
/* Longest number token the decoder accepts. */
#define SK_KM_NUM_MAX		40
#define SK_KM_DBL_EPS		2.220446049250313e-16

#define SK_KM_TICK(i, tick) \
	((((i) & (SK_KM_TICK_ROWS - 1)) == 0) && sk_tick_stop(tick))

/* ---------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------
 */

static SK_KM_INLINE double
sq_dist(const double *a, const double *b, int dim)
{
	double		s = 0.0;
	int			f;

	for (f = 0; f < dim; f++)
	{
		double		d = a[f] - b[f];

		s += d * d;
	}
	return s;
}

/* Nearest of k centres (lowest index on ties); returns its index. */
static SK_KM_INLINE int
nearest(const double *x, const double *cen, int k, int dim, double *d2out)
{
	int			best = 0;
	double		bestd = sq_dist(x, cen, dim);
	int			j;

	for (j = 1; j < k; j++)
	{
		double		d = sq_dist(x, cen + (size_t) j * dim, dim);

		if (d < bestd)
		{
			bestd = d;
			best = j;
		}
	}
	*d2out = bestd;
	return best;
}

/* ---------------------------------------------------------------------
 * Nearest centres of a block of rows, by brute force
 * ---------------------------------------------------------------------
 *
 * With few centres of few features, computing every distance costs about
 * what Hamerly's bound test does, and four rows at a time it costs less:
 * on x86-64 CPUs with AVX2 the Lloyd and final passes label the rows in
 * blocks with nearest_block() instead of keeping bounds.  The result is
 * the same bit for bit as nearest(): each lane computes
 * ((x0-c0)^2 + (x1-c1)^2) + ... in the scalar order, with separate
 * multiplies and adds (the AVX2 target has no FMA, and the build passes
 * -ffp-contract=off), and a centre replaces the best only when strictly
 * nearer, so ties go to the lowest index as in nearest().
 */
#define SK_KM_BLOCK			64	/* rows labelled at a time */
#define SK_KM_BRUTE_MAX_K	8	/* measured: up to here blocks beat bounds */
#define SK_KM_BRUTE_MAX_DIM	4

#if defined(__GNUC__) && defined(__x86_64__) && !defined(SK_KM_NO_SIMD)
#include <immintrin.h>
#define SK_KM_HAVE_AVX2 1

#define SK_KM_AVX2 __attribute__((target("avx2")))

/* Squared distances of four rows (feature-major in xf) to centre c. */
static inline __attribute__((always_inline)) SK_KM_AVX2 __m256d
dist4_avx2(const __m256d *xf, const double *c, int dim)
{
	__m256d		d = _mm256_sub_pd(xf[0], _mm256_broadcast_sd(&c[0]));
	__m256d		s = _mm256_mul_pd(d, d);
	int			f;

#pragma GCC unroll 4
	for (f = 1; f < dim; f++)
	{
		d = _mm256_sub_pd(xf[f], _mm256_broadcast_sd(&c[f]));
		s = _mm256_add_pd(s, _mm256_mul_pd(d, d));
	}
	return s;
}

static inline __attribute__((always_inline)) SK_KM_AVX2 void
nearest_block_avx2_dim(const double *x, size_t rows, const double *cen, int k,
					   int dim, int32_t *label, double *d2)
{
	size_t		i;

	for (i = 0; i + 4 <= rows; i += 4)
	{
		const double *r = x + i * dim;
		__m256d		xf[SK_KM_BRUTE_MAX_DIM];
		__m256d		best,
					idx = _mm256_setzero_pd();
		int			f,
					j;

#pragma GCC unroll 4
		for (f = 0; f < dim; f++)
			xf[f] = _mm256_set_pd(r[3 * dim + f], r[2 * dim + f], r[dim + f], r[f]);
		best = dist4_avx2(xf, cen, dim);
		for (j = 1; j < k; j++)
		{
			__m256d		s = dist4_avx2(xf, cen + (size_t) j * dim, dim);
			__m256d		lt = _mm256_cmp_pd(s, best, _CMP_LT_OQ);

			best = _mm256_blendv_pd(best, s, lt);
			idx = _mm256_blendv_pd(idx, _mm256_set1_pd((double) j), lt);
		}
		_mm_storeu_si128((__m128i *) (label + i), _mm256_cvtpd_epi32(idx));
		_mm256_storeu_pd(d2 + i, best);
	}
	for (; i < rows; i++)
		label[i] = nearest(x + i * dim, cen, k, dim, &d2[i]);
}

static SK_KM_AVX2 void
nearest_block_avx2(const double *x, size_t rows, const double *cen, int k,
				   int dim, int32_t *label, double *d2)
{
	switch (dim)
	{
		case 1:
			nearest_block_avx2_dim(x, rows, cen, k, 1, label, d2);
			break;
		case 2:
			nearest_block_avx2_dim(x, rows, cen, k, 2, label, d2);
			break;
		case 3:
			nearest_block_avx2_dim(x, rows, cen, k, 3, label, d2);
			break;
		default:
			nearest_block_avx2_dim(x, rows, cen, k, 4, label, d2);
			break;
	}
}
#endif

/* -1: not yet probed; 0: off (no AVX2, or turned off by a test); 1: on */
static int	km_simd = -1;

int
sk_km_set_simd(int on)
{
#ifdef SK_KM_HAVE_AVX2
	km_simd = on && __builtin_cpu_supports("avx2");
#else
	(void) on;
	km_simd = 0;
#endif
	return km_simd;
}

/* Do the passes of a fit with k centres of dim features label by blocks? */
static int
use_blocks(int k, int dim)
{
	if (km_simd < 0)
		sk_km_set_simd(1);
	return km_simd && k <= SK_KM_BRUTE_MAX_K && dim <= SK_KM_BRUTE_MAX_DIM;
}

/* Label rows [0, rows) of x: the nearest centre and its squared distance. */
static void
nearest_block(const double *x, size_t rows, const double *cen, int k, int dim,
			  int32_t *label, double *d2)
{
#ifdef SK_KM_HAVE_AVX2
	if (km_simd > 0)
	{
		nearest_block_avx2(x, rows, cen, k, dim, label, d2);
		return;
	}
#endif
	for (size_t i = 0; i < rows; i++)
		label[i] = nearest(x + i * dim, cen, k, dim, &d2[i]);
}

static int
valid_k_dim(int k, int dim, sk_status *st)
{
	if (k < 1 || dim < 1)
		*st = SK_EINVAL;
	else if (k > SK_KM_MAX_K || dim > SK_KM_MAX_DIM)
		*st = SK_ELIMIT;
	else
		return 1;
	return 0;
}

/* g(x) = sign(x) * ln(1 + |x|): symmetric, finite for every finite x. */
static inline double
signed_log1p(double x)
{
	return x < 0 ? -log1p(-x) : log1p(x);
}

static inline double
signed_expm1(double y)
{
	return y < 0 ? -expm1(-y) : expm1(y);
}

const char *
sk_km_transform_name(sk_km_transform t)
{
	switch (t)
	{
		case SK_KM_NONE:
			return "none";
		case SK_KM_ZSCORE:
			return "zscore";
		case SK_KM_LOG_ZSCORE:
			return "log_zscore";
	}
	return NULL;
}

sk_status
sk_km_transform_parse(const char *name, size_t len, sk_km_transform *out)
{
	int			t;

	if (name == NULL || out == NULL)
		return SK_EINVAL;
	for (t = SK_KM_NONE; t <= SK_KM_LOG_ZSCORE; t++)
	{
		const char *s = sk_km_transform_name((sk_km_transform) t);

		if (strlen(s) == len && memcmp(s, name, len) == 0)
		{
			*out = (sk_km_transform) t;
			return SK_OK;
		}
	}
	return SK_EINVAL;
}

void
sk_km_params_init(sk_km_params *p, int k)
{
	memset(p, 0, sizeof(*p));
	p->k = k;
	p->seed = 0;
	p->restarts = 1;
	p->max_iter = 300;
	p->tol = 1e-4;
	p->transform = SK_KM_NONE;
	p->sample_cap = 0;
	p->init = NULL;
}

/* ---------------------------------------------------------------------
 * Model block
 * ---------------------------------------------------------------------
 */

/* doubles: shift, scale (dim each), centroids (k*dim), wcss (k); u64 sizes (k) */
static int
model_doubles(int k, int dim, size_t *out)
{
	size_t		kd;
	size_t		t;

	return sk_size_mul((size_t) k, (size_t) dim, &kd) &&
		sk_size_add(kd, 2 * (size_t) dim, &t) &&
		sk_size_add(t, 2 * (size_t) k, out);
}

sk_status
sk_km_model_size(int k, int dim, size_t *bytes)
{
	sk_status	st;
	size_t		nd;

	if (bytes == NULL)
		return SK_EINVAL;
	if (!valid_k_dim(k, dim, &st))
		return st;
	if (!model_doubles(k, dim, &nd) || !sk_size_mul(nd, sizeof(double), bytes))
		return SK_EOVERFLOW;
	return SK_OK;
}

sk_status
sk_km_model_bind(sk_km_model *model, int k, int dim, void *buf, size_t bytes)
{
	size_t		need;
	sk_status	st;
	double	   *d = (double *) buf;

	if (model == NULL || buf == NULL || ((uintptr_t) buf % sizeof(double)) != 0)
		return SK_EINVAL;
	st = sk_km_model_size(k, dim, &need);
	if (st != SK_OK)
		return st;
	if (bytes < need)
		return SK_EINVAL;
	memset(model, 0, sizeof(*model));
	memset(buf, 0, need);
	model->k = k;
	model->dim = dim;
	model->shift = d;
	model->scale = d + dim;
	model->centroids = d + 2 * (size_t) dim;
	model->wcss = model->centroids + (size_t) k * dim;
	/* uint64_t and double have the same size and alignment here */
	model->sizes = (uint64_t *) (model->wcss + k);
	return SK_OK;
}

static int
model_ok(const sk_km_model *m)
{
	sk_status	st;

	return m != NULL && valid_k_dim(m->k, m->dim, &st) &&
		m->shift != NULL && m->scale != NULL && m->centroids != NULL &&
		m->sizes != NULL && m->wcss != NULL &&
		m->transform >= SK_KM_NONE && m->transform <= SK_KM_LOG_ZSCORE;
}

/* ---------------------------------------------------------------------
 * Transform
 * ---------------------------------------------------------------------
 */

static inline double
pre_transform(sk_km_transform t, double x)
{
	return t == SK_KM_LOG_ZSCORE ? signed_log1p(x) : x;
}

static void
apply_transform(const sk_km_model *m, const double *x, double *out)
{
	int			f;

	if (m->transform == SK_KM_NONE)
	{
		memcpy(out, x, sizeof(double) * m->dim);
		return;
	}
	for (f = 0; f < m->dim; f++)
		out[f] = (pre_transform(m->transform, x[f]) - m->shift[f]) / m->scale[f];
}

static int
row_finite(const double *x, int dim)
{
	int			f;

	for (f = 0; f < dim; f++)
		if (!isfinite(x[f]))
			return 0;
	return 1;
}

sk_status
sk_km_transform_row(const sk_km_model *model, const double *x, double *out)
{
	if (!model_ok(model) || x == NULL || out == NULL)
		return SK_EINVAL;
	if (!row_finite(x, model->dim))
		return SK_EDATA;
	apply_transform(model, x, out);
	return SK_OK;
}

/* ---------------------------------------------------------------------
 * Order-independent sums
 * ---------------------------------------------------------------------
 *
 * A floating-point sum depends on the order of its terms, and the fit must
 * not depend on the order of the rows.  So every sum the fit decides on is
 * taken in fixed point: a term is multiplied by a power of two chosen from
 * a bound on the terms (so that it stays below 2^62 in magnitude),
 * truncated to an int64, and added exactly into a 128-bit integer.
 * Integer addition is associative, so the sum depends only on the multiset
 * of terms; each term loses less than 2^-61 of the bound, far less than
 * a double sum of a million terms loses to rounding.  Exact sums can also
 * be updated: Lloyd's iterations move only the rows that change cluster.
 */

typedef struct fx128
{
	uint64_t	lo;
	int64_t		hi;
} fx128;

static inline void
fx_add(fx128 *a, int64_t v)
{
	uint64_t	lo = a->lo + (uint64_t) v;

	a->hi += (int64_t) (lo < a->lo) - (int64_t) (v < 0);
	a->lo = lo;
}

/* The sum as a double (deterministic; within an ulp or two). */
static double
fx_double(fx128 a)
{
	double		two64 = 18446744073709551616.0;

	if (a.hi < 0)
	{
		uint64_t	lo = ~a.lo + 1;
		uint64_t	hi = ~(uint64_t) a.hi + (lo == 0);

		return -((double) hi * two64 + (double) lo);
	}
	return (double) a.hi * two64 + (double) a.lo;
}

static inline int
fx_less(fx128 a, fx128 b)
{
	return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo);
}

/*
 * The power of two that maps terms of magnitude <= bound below 2^61 (2^62
 * with the headroom that absorbs a bound exceeded by rounding).
 */
static double
fx_scale(double bound)
{
	int			e;

	if (!(bound > 0.0) || !isfinite(bound))
		return 1.0;
	(void) frexp(bound, &e);	/* bound < 2^e */
	if (e < -950)
		e = -950;
	return ldexp(1.0, 61 - e);
}

static inline int64_t
fx_term(double v, double scale)
{
	return (int64_t) (v * scale);
}

/* ---------------------------------------------------------------------
 * Transform estimate
 * ---------------------------------------------------------------------
 */

/*
 * Check every input row: NaN/Inf is SK_EDATA; with transform none a value
 * beyond SK_KM_MAX_ABS is SK_EOVERFLOW (its squared distances could
 * overflow).  Every row is looked at, so the status does not depend on
 * which bad row comes first.  For the transforms also the range of g(x).
 */
static sk_status
check_input(const double *x, size_t n, int dim, sk_km_transform t,
			double *lo, double *hi, const sk_tick *tick)
{
	int			bad_data = 0,
				too_big = 0;
	size_t		i;
	int			f;

	for (f = 0; f < dim; f++)
	{
		lo[f] = INFINITY;
		hi[f] = -INFINITY;
	}
	for (i = 0; i < n; i++)
	{
		const double *r = x + i * (size_t) dim;

		if (SK_KM_TICK(i, tick))
			return SK_ECANCEL;
		for (f = 0; f < dim; f++)
		{
			double		y;

			if (!isfinite(r[f]))
			{
				bad_data = 1;
				continue;
			}
			too_big |= t == SK_KM_NONE && !(fabs(r[f]) <= SK_KM_MAX_ABS);
			y = pre_transform(t, r[f]);
			lo[f] = y < lo[f] ? y : lo[f];
			hi[f] = y > hi[f] ? y : hi[f];
		}
	}
	return bad_data ? SK_EDATA : too_big ? SK_EOVERFLOW : SK_OK;
}

/*
 * Estimate shift (mean) and scale (population sd) of g(x) per feature over
 * all n rows, two passes for accuracy, in fixed point (order-independent).
 * lo/hi hold the range of g(x) from check_input().
 *
 * A feature is treated as constant (scale 1) when all values are equal or
 * its variance is within rounding noise of zero (var <= (n eps mean)^2);
 * dividing by a noise-sized deviation would turn rounding into signal.
 */
static sk_status
estimate_transform(const double *x, size_t n, int dim, sk_km_model *m,
				   const double *lo, const double *hi, fx128 *acc,
				   double *sc, const sk_tick *tick)
{
	sk_km_transform t = m->transform;
	size_t		i;
	int			f;

	for (f = 0; f < dim; f++)
	{
		m->shift[f] = 0.0;
		m->scale[f] = 1.0;
	}
	if (t == SK_KM_NONE)
		return SK_OK;
	memset(acc, 0, sizeof(fx128) * dim);
	for (f = 0; f < dim; f++)
		sc[f] = fx_scale(fmax(fabs(lo[f]), fabs(hi[f])));
	for (i = 0; i < n; i++)
	{
		const double *r = x + i * (size_t) dim;

		if (SK_KM_TICK(i, tick))
			return SK_ECANCEL;
		for (f = 0; f < dim; f++)
			fx_add(&acc[f], fx_term(pre_transform(t, r[f]), sc[f]));
	}
	for (f = 0; f < dim; f++)
	{
		m->shift[f] = lo[f] == hi[f] ? lo[f] : fx_double(acc[f]) / sc[f] / (double) n;
		sc[f] = fx_scale((hi[f] - lo[f]) * (hi[f] - lo[f]));
	}
	memset(acc, 0, sizeof(fx128) * dim);
	for (i = 0; i < n; i++)
	{
		const double *r = x + i * (size_t) dim;

		if (SK_KM_TICK(i, tick))
			return SK_ECANCEL;
		for (f = 0; f < dim; f++)
		{
			double		d = pre_transform(t, r[f]) - m->shift[f];

			fx_add(&acc[f], fx_term(d * d, sc[f]));
		}
	}
	for (f = 0; f < dim; f++)
	{
		double		w = hi[f] - lo[f];
		double		var = fx_double(acc[f]) / sc[f] / (double) n;
		double		noise = (double) n * SK_KM_DBL_EPS * m->shift[f];

		if (!isfinite(var) || !isfinite(m->shift[f]) || !isfinite(w * w))
			return SK_EOVERFLOW;
		m->scale[f] = (lo[f] == hi[f] || var <= noise * noise) ? 1.0 : sqrt(var);
	}
	return SK_OK;
}

/* ---------------------------------------------------------------------
 * Fit workspace
 * ---------------------------------------------------------------------
 */

/*
 * Rows are ranked for the random draws of k-means++ by a seeded hash of
 * their values (then by the values), never by their position.  A draw
 * finds its row by a radix descent over the keys: bins of the top kbits
 * bits, then of the next kbits within the chosen bin, and so on, with
 * exact integer weights, so no sort is needed.  kbits grows with the rows
 * (about 16 rows a top bin) up to SK_KM_KEY_BITS.
 */
#define SK_KM_KEY_BITS		12
/* 2 + floor(ln k) <= 8 for k <= 1000 */
#define SK_KM_MAX_TRIALS	8

static int
key_bits(size_t m)
{
	int			bits = 1;

	while (bits < SK_KM_KEY_BITS && ((size_t) 1 << (bits + 4)) < m)
		bits++;
	return bits;
}

static int
seed_trials(int k)
{
	int			trials = 2 + (int) log((double) k);

	return trials > SK_KM_MAX_TRIALS ? SK_KM_MAX_TRIALS : trials;
}

typedef struct fit_ws
{
	size_t		m;				/* working rows */
	const double *x;			/* [m * dim] working rows: rows or the input */
	double	   *rows;			/* [m * dim] transformed copy, if needed */
	/*
	 * One region of m doubles, used in turn as: k-means++'s D^2 (d2); the
	 * Hamerly bounds upper and lower (m floats each); relocation distances.
	 */
	double	   *d2;
	float	   *upper;
	float	   *lower;
	uint64_t   *key;			/* [m] seeded hash of each row's values */
	int32_t    *label;			/* [m]; before Lloyd, seeding's bin_rows */
	double	   *cen;			/* [k * dim] current centres */
	double	   *cnew;			/* [k * dim] next centres */
	fx128	   *sum;			/* [k * dim] exact sums of each cluster */
	fx128	   *acc;			/* [max(k, dim, trials)] scratch sums */
	double	   *shift;			/* [k] centre moves of the last iteration */
	double	   *drift;			/* [k] each centre's moves, summed */
	double		max_drift;		/* the largest move of each iteration, summed */
	double	   *half;			/* [k] half distance to the nearest other */
	double	   *wcss;			/* [k] of the current run */
	uint64_t   *count;			/* [k] */
	int64_t    *reloc;			/* [3 * k] rows moved by relocate_empty */
	int			nreloc;
	double	   *lo;				/* [dim] range of the working rows */
	double	   *hi;				/* [dim] */
	double	   *xs;				/* [dim] fixed-point scale per feature */
	double		box2;			/* squared diameter of the rows' box */
	int			kbits;			/* key bits per descent level */
	uint64_t   *bins_n;			/* [2^kbits] rows per top key bin */
	uint64_t   *bins_w;			/* [2^kbits] D^2 weight per top key bin */
	uint64_t   *bins_t;			/* [trials * 2^kbits] descent bins */
	uint64_t   *bin_at;			/* [2^kbits + 1] start of each top bin in bin_rows */
	uint32_t   *bin_rows;		/* [m] rows grouped by top key bin, or NULL */
	double		d2max;			/* largest D^2 */
	double		wscale;			/* D^2 -> integer weight */
	int			uniform;		/* draw with weight 1 instead of D^2 */
	int			blocks;			/* label by nearest_block(), without bounds */
} fit_ws;

static size_t
working_rows(size_t n, size_t cap)
{
	return (cap != 0 && n > cap) ? cap : n;
}

/*
 * Rows are copied only when they must change: a transform or a sample.
 * Otherwise the fit reads the caller's array in place, which saves
 * touching n * dim doubles of fresh memory.
 */
static int
needs_copy(size_t n, const sk_km_params *p)
{
	return p->transform != SK_KM_NONE || working_rows(n, p->sample_cap) < n;
}

/* Carve `count` items of `size` bytes (8-byte multiples) from *at. */
static int
carve(char **at, size_t *used, size_t count, size_t size, void **out)
{
	size_t		b;

	if (!sk_size_mul(count, size, &b) || !sk_size_add(*used, b, used))
		return 0;
	if (*at != NULL)
	{
		*out = *at;
		*at += b;
	}
	return 1;
}

/*
 * Lay out (or, with base NULL, only size) the fit workspace.  Returns 0 on
 * size_t overflow.
 */
static int
fit_layout(size_t m, int dim, int k, int copy, char *base, fit_ws *ws,
		   size_t *bytes)
{
	fit_ws		dummy;
	char	   *at = base;
	int			trials = seed_trials(k);
	size_t		used = 0,
				kd = (size_t) k * dim,
				nacc = (size_t) (k > dim ? k : dim),
				bins = (size_t) 1 << key_bits(m);
	void	   *rows = NULL;

	if (ws == NULL)
		ws = &dummy;
	nacc = nacc > (size_t) trials ? nacc : (size_t) trials;
	if (!carve(&at, &used, copy ? m : 0, sizeof(double) * (size_t) dim, &rows) ||
		!carve(&at, &used, m, sizeof(double), (void **) &ws->d2) ||
		!carve(&at, &used, m, sizeof(uint64_t), (void **) &ws->key) ||
		!carve(&at, &used, kd, sizeof(double), (void **) &ws->cen) ||
		!carve(&at, &used, kd, sizeof(double), (void **) &ws->cnew) ||
		!carve(&at, &used, kd, sizeof(fx128), (void **) &ws->sum) ||
		!carve(&at, &used, nacc, sizeof(fx128), (void **) &ws->acc) ||
		!carve(&at, &used, k, sizeof(double), (void **) &ws->shift) ||
		!carve(&at, &used, k, sizeof(double), (void **) &ws->drift) ||
		!carve(&at, &used, k, sizeof(double), (void **) &ws->half) ||
		!carve(&at, &used, k, sizeof(double), (void **) &ws->wcss) ||
		!carve(&at, &used, k, sizeof(uint64_t), (void **) &ws->count) ||
		!carve(&at, &used, 3 * (size_t) k, sizeof(int64_t), (void **) &ws->reloc) ||
		!carve(&at, &used, dim, sizeof(double), (void **) &ws->lo) ||
		!carve(&at, &used, dim, sizeof(double), (void **) &ws->hi) ||
		!carve(&at, &used, dim, sizeof(double), (void **) &ws->xs) ||
		!carve(&at, &used, bins, sizeof(uint64_t), (void **) &ws->bins_n) ||
		!carve(&at, &used, bins, sizeof(uint64_t), (void **) &ws->bins_w) ||
		!carve(&at, &used, bins * trials, sizeof(uint64_t), (void **) &ws->bins_t) ||
		!carve(&at, &used, bins + 1, sizeof(uint64_t), (void **) &ws->bin_at) ||
		/* last: 4-byte items keep everything before 8-byte aligned */
		!carve(&at, &used, m, sizeof(int32_t), (void **) &ws->label))
		return 0;
	*bytes = used;
	if (base != NULL)
	{
		ws->m = m;
		ws->kbits = key_bits(m);
		ws->x = ws->rows = copy ? (double *) rows : NULL;
		ws->upper = (float *) ws->d2;
		ws->lower = ws->upper + m;
		/* seeding borrows the labels' memory for its bin index */
		ws->bin_rows = m <= UINT32_MAX ? (uint32_t *) ws->label : NULL;
	}
	return 1;
}

sk_status
sk_km_fit_work_size(size_t n, int dim, const sk_km_params *p, size_t *bytes)
{
	sk_status	st;

	if (p == NULL || bytes == NULL)
		return SK_EINVAL;
	if (!valid_k_dim(p->k, dim, &st))
		return st;
	if (!fit_layout(working_rows(n, p->sample_cap), dim, p->k,
					needs_copy(n, p), NULL, NULL, bytes))
		return SK_EOVERFLOW;
	return SK_OK;
}

int
sk_km_reservoir_slot(sk_rng *rng, uint64_t seen, uint64_t cap, uint64_t *slot)
{
	uint64_t	j;

	if (seen < cap)
	{
		*slot = seen;
		return 1;
	}
	if (cap == 0 || seen == UINT64_MAX)
		return 0;
	j = sk_rng_below(rng, seen + 1);
	if (j >= cap)
		return 0;
	*slot = j;
	return 1;
}

/*
 * Point ws->x at the working rows: the input itself, or a copy (all rows
 * or a reservoir sample) in the transformed space.  Transformed values are
 * bounded (|z| <= sqrt(n)), and raw ones were bounded by check_input(),
 * so no magnitude check is needed here.
 */
static sk_status
build_working_rows(const double *x, size_t n, const sk_km_model *m,
				   fit_ws *ws, sk_rng *rng, const sk_tick *tick)
{
	int			dim = m->dim;
	size_t		rowbytes = sizeof(double) * (size_t) dim;
	size_t		i;

	if (ws->rows == NULL)
	{
		ws->x = x;
		return SK_OK;
	}
	if (ws->m == n)
		memcpy(ws->rows, x, rowbytes * n);
	else
	{
		for (i = 0; i < n; i++)
		{
			uint64_t	slot;

			if (SK_KM_TICK(i, tick))
				return SK_ECANCEL;
			if (sk_km_reservoir_slot(rng, i, ws->m, &slot))
				memcpy(ws->rows + slot * dim, x + i * dim, rowbytes);
		}
	}
	for (i = 0; i < ws->m && m->transform != SK_KM_NONE; i++)
	{
		if (SK_KM_TICK(i, tick))
			return SK_ECANCEL;
		apply_transform(m, ws->rows + i * dim, ws->rows + i * dim);
	}
	return SK_OK;
}

/* Total order of rows by their values' bit patterns. */
static int
row_cmp_bits(const double *a, const double *b, int dim)
{
	int			f;

	for (f = 0; f < dim; f++)
	{
		uint64_t	u,
					v;

		memcpy(&u, &a[f], sizeof(u));
		memcpy(&v, &b[f], sizeof(v));
		if (u != v)
			return u < v ? -1 : 1;
	}
	return 0;
}

/* Row a comes before row b in the canonical order (key, then values). */
static int
row_before(const fit_ws *ws, int dim, size_t a, size_t b)
{
	if (ws->key[a] != ws->key[b])
		return ws->key[a] < ws->key[b];
	return row_cmp_bits(ws->x + a * dim, ws->x + b * dim, dim) < 0;
}

/*
 * One pass over the working rows: their keys, rows per top key bin, the
 * range of each feature, the fixed-point scale of each feature (for the
 * cluster sums) and the squared diameter of the bounding box (a bound on
 * every squared distance between rows and centres).
 */
static SK_KM_INLINE sk_status
prepare_rows_dim(fit_ws *ws, int dim, uint64_t seed, const sk_tick *tick)
{
	size_t		i;
	int			f;

	memset(ws->bins_n, 0, sizeof(uint64_t) << ws->kbits);
	for (f = 0; f < dim; f++)
	{
		ws->lo[f] = INFINITY;
		ws->hi[f] = -INFINITY;
	}
	for (i = 0; i < ws->m; i++)
	{
		const double *r = ws->x + i * dim;

		if (SK_KM_TICK(i, tick))
			return SK_ECANCEL;
		ws->key[i] = sk_km_row_key(r, dim, seed);
		ws->bins_n[ws->key[i] >> (64 - ws->kbits)]++;
		for (f = 0; f < dim; f++)
		{
			ws->lo[f] = r[f] < ws->lo[f] ? r[f] : ws->lo[f];
			ws->hi[f] = r[f] > ws->hi[f] ? r[f] : ws->hi[f];
		}
	}
	ws->box2 = 0.0;
	for (f = 0; f < dim; f++)
	{
		double		w = ws->hi[f] - ws->lo[f];

		ws->box2 += w * w;
		ws->xs[f] = fx_scale(fmax(fabs(ws->lo[f]), fabs(ws->hi[f])));
	}
	return isfinite(ws->box2) ? SK_OK : SK_EOVERFLOW;
}

static sk_status
prepare_rows(fit_ws *ws, int dim, uint64_t seed, const sk_tick *tick)
{
#define SK_KM_CALL(d) prepare_rows_dim(ws, d, seed, tick)
	SK_KM_BY_DIM(dim, SK_KM_CALL)
#undef SK_KM_CALL
}

/*
 * tol * mean over features of the population variance of the working
 * rows (cen and cnew serve as scratch for the means and scales).
 */
static double
absolute_tol(fit_ws *ws, int dim, double tol)
{
	double	   *mean = ws->cen;
	double	   *vs = ws->cnew;
	size_t		i;
	int			f;
	double		tot = 0.0;

	if (tol == 0.0)
		return 0.0;
	memset(ws->acc, 0, sizeof(fx128) * dim);
	for (i = 0; i < ws->m; i++)
		for (f = 0; f < dim; f++)
			fx_add(&ws->acc[f], fx_term(ws->x[i * dim + f], ws->xs[f]));
	for (f = 0; f < dim; f++)
	{
		double		w = ws->hi[f] - ws->lo[f];

		mean[f] = fx_double(ws->acc[f]) / ws->xs[f] / (double) ws->m;
		vs[f] = fx_scale(w * w);
	}
	memset(ws->acc, 0, sizeof(fx128) * dim);
	for (i = 0; i < ws->m; i++)
		for (f = 0; f < dim; f++)
		{
			double		d = ws->x[i * dim + f] - mean[f];

			fx_add(&ws->acc[f], fx_term(d * d, vs[f]));
		}
	for (f = 0; f < dim; f++)
		tot += fx_double(ws->acc[f]) / vs[f] / (double) ws->m;
	return tol * (tot / dim);
}

/* ---------------------------------------------------------------------
 * Seeding
 * ---------------------------------------------------------------------
 */

/*
 * The scale that turns D^2 values <= bound into integer weights whose sum
 * over all m rows stays below 2^62.
 */
static double
weight_scale(double bound, size_t m)
{
	int			bits = 0;

	while (bits < 62 && ((uint64_t) 1 << bits) < m)
		bits++;
	return ldexp(fx_scale(bound), -bits);
}

static inline uint64_t
draw_weight(const fit_ws *ws, size_t i)
{
	return ws->uniform ? 1 : (uint64_t) (ws->d2[i] * ws->wscale);
}

/* Sum the draw weights by top key bin. */
static void
bin_weights(fit_ws *ws)
{
	size_t		i;

	memset(ws->bins_w, 0, sizeof(uint64_t) << ws->kbits);
	for (i = 0; i < ws->m; i++)
		ws->bins_w[ws->key[i] >> (64 - ws->kbits)] += draw_weight(ws, i);
}

/* One draw on its way down the key bits. */
typedef struct key_draw
{
	uint64_t	r;				/* threshold left within the key range */
	uint64_t	prefix;			/* the key bits fixed so far ... */
	int			fixed;			/* ... and how many, from the top */
	size_t		row;			/* the drawn row, or SIZE_MAX */
} key_draw;

/* Fix the next `chunk` key bits: the bin where the running sum passes r. */
static void
descend(key_draw *d, const uint64_t *bins, int chunk)
{
	uint64_t	cum = 0;
	int			b;

	for (b = 0; b < (1 << chunk) - 1; b++)
	{
		if (d->r < cum + bins[b])
			break;
		cum += bins[b];
	}
	d->r -= cum;
	d->fixed += chunk;
	d->prefix |= (uint64_t) b << (64 - d->fixed);
}

/*
 * Rows with one full key but different values (a 64-bit hash collision):
 * walk them in the order of their values' bit patterns, one pass for
 * each distinct row.  Practically never runs.
 */
static size_t
draw_among_equal_keys(const fit_ws *ws, int dim, uint64_t key, uint64_t r)
{
	size_t		prev = SIZE_MAX;

	for (;;)
	{
		size_t		best = SIZE_MAX,
					i;
		uint64_t	w = 0;

		for (i = 0; i < ws->m; i++)
		{
			uint64_t	wi;
			int			c;

			if (ws->key[i] != key || (wi = draw_weight(ws, i)) == 0)
				continue;
			if (prev != SIZE_MAX &&
				row_cmp_bits(ws->x + i * dim, ws->x + prev * dim, dim) <= 0)
				continue;
			c = best == SIZE_MAX ? -1 :
				row_cmp_bits(ws->x + i * dim, ws->x + best * dim, dim);
			if (c < 0)
			{
				best = i;
				w = wi;
			}
			else if (c == 0)
				w += wi;
		}
		if (best == SIZE_MAX)
			return prev == SIZE_MAX ? 0 : prev; /* not reached: r < total */
		if (r < w)
			return best;
		r -= w;
		prev = best;
	}
}

/*
 * Row i in a level of the descent: add its weight to the bins of every
 * open draw whose key prefix it shares, and note whether those rows all
 * have the same values.  The order of the visits does not matter: the
 * bins are integer sums, and first[t] is only used when every row it
 * stands for has the same values.
 */
static SK_KM_INLINE void
draw_visit(fit_ws *ws, int dim, const key_draw *d, int trials, size_t *first,
		   int *same, size_t i)
{
	uint64_t	key = ws->key[i];
	int			t;

	for (t = 0; t < trials; t++)
	{
		uint64_t	w;
		int			chunk;

		if (d[t].row != SIZE_MAX ||
			((key ^ d[t].prefix) >> (64 - d[t].fixed)) != 0 ||
			(w = draw_weight(ws, i)) == 0)
			continue;
		chunk = 64 - d[t].fixed < ws->kbits ? 64 - d[t].fixed : ws->kbits;
		if (chunk > 0)
			ws->bins_t[((size_t) t << ws->kbits) +
					   ((key >> (64 - d[t].fixed - chunk)) & ((1u << chunk) - 1))] += w;
		if (first[t] == SIZE_MAX)
			first[t] = i;
		else if (same[t] &&
				 row_cmp_bits(ws->x + i * dim, ws->x + first[t] * dim, dim) != 0)
			same[t] = 0;
	}
}

/*
 * Group the rows by top key bin (a counting sort into bin_rows, which
 * borrows the labels' memory until Lloyd starts), so that the levels of a
 * draw below the top visit only the rows of the bins drawn.  bins_w is
 * scratch here; add_centre() fills it afterwards.
 */
static void
build_bin_index(fit_ws *ws)
{
	size_t		bins = (size_t) 1 << ws->kbits,
				b,
				i;

	if (ws->bin_rows == NULL)
		return;
	ws->bin_at[0] = 0;
	for (b = 0; b < bins; b++)
	{
		ws->bins_w[b] = ws->bin_at[b];
		ws->bin_at[b + 1] = ws->bin_at[b] + ws->bins_n[b];
	}
	for (i = 0; i < ws->m; i++)
		ws->bin_rows[ws->bins_w[ws->key[i] >> (64 - ws->kbits)]++] = (uint32_t) i;
}

/*
 * Draw `trials` rows, each with probability draw_weight() / total, in the
 * canonical order of the rows (key, then values), so the result does not
 * depend on where a row sits.  `top` holds the weights by top key bin.
 * All draws descend together, one pass over the keys per level; a level
 * ends a draw when the positive rows left in its range are all the same
 * values (usually after one or two levels).
 */
static sk_status
draw_rows(fit_ws *ws, int dim, const uint64_t *top, int trials, sk_rng *rng,
		  size_t *out, const sk_tick *tick)
{
	key_draw	d[SK_KM_MAX_TRIALS];
	size_t		first[SK_KM_MAX_TRIALS];
	int			same[SK_KM_MAX_TRIALS];
	uint64_t	total = 0;
	int			t,
				open = trials,
				b;
	size_t		i;

	for (b = 0; b < (1 << ws->kbits); b++)
		total += top[b];
	for (t = 0; t < trials; t++)
	{
		d[t].r = sk_rng_below(rng, total);
		d[t].prefix = 0;
		d[t].fixed = 0;
		d[t].row = SIZE_MAX;
		descend(&d[t], top, ws->kbits);
	}
	while (open > 0)
	{
		/* the top bins of the open draws: most rows fail this one test */
		uint64_t	want[((1 << SK_KM_KEY_BITS) + 63) / 64] = {0};

		for (t = 0; t < trials; t++)
		{
			uint64_t	top = d[t].prefix >> (64 - ws->kbits);

			memset(ws->bins_t + ((size_t) t << ws->kbits), 0,
				   sizeof(uint64_t) << ws->kbits);
			first[t] = SIZE_MAX;
			same[t] = 1;
			if (d[t].row == SIZE_MAX)
				want[top >> 6] |= (uint64_t) 1 << (top & 63);
		}
		if (ws->bin_rows != NULL)
		{
			/* only the rows of the wanted top bins, each bin once */
			size_t		seen = 0;

			for (b = 0; b < (1 << ws->kbits); b++)
			{
				uint64_t	p;

				if (((want[b >> 6] >> (b & 63)) & 1) == 0)
				{
					b |= 63 * (want[b >> 6] == 0);	/* skip an empty word */
					continue;
				}
				for (p = ws->bin_at[b]; p < ws->bin_at[b + 1]; p++, seen++)
				{
					if (SK_KM_TICK(seen, tick))
						return SK_ECANCEL;
					draw_visit(ws, dim, d, trials, first, same, ws->bin_rows[p]);
				}
			}
		}
		else
			for (i = 0; i < ws->m; i++)
			{
				uint64_t	top = ws->key[i] >> (64 - ws->kbits);

				if (SK_KM_TICK(i, tick))
					return SK_ECANCEL;
				if (((want[top >> 6] >> (top & 63)) & 1) != 0)
					draw_visit(ws, dim, d, trials, first, same, i);
			}
		for (t = 0; t < trials; t++)
		{
			if (d[t].row != SIZE_MAX)
				continue;
			if (same[t])
				d[t].row = first[t];
			else if (d[t].fixed == 64)
				d[t].row = draw_among_equal_keys(ws, dim, d[t].prefix, d[t].r);
			else
			{
				int			chunk = 64 - d[t].fixed < ws->kbits ? 64 - d[t].fixed : ws->kbits;

				descend(&d[t], ws->bins_t + ((size_t) t << ws->kbits), chunk);
				continue;
			}
			open--;
		}
	}
	for (t = 0; t < trials; t++)
		out[t] = d[t].row;
	return SK_OK;
}

/*
 * Make row c centre j: update D^2, its maximum and (unless last) the draw
 * weights by top key bin.  The weights are scaled for the previous
 * largest D^2 (which bounds the new values); when the largest shrank so
 * much that the weights lost their resolution, they are binned again.
 */
static SK_KM_INLINE sk_status
add_centre_dim(fit_ws *ws, int dim, int j, size_t c, int last, const sk_tick *tick)
{
	double	   *xc = ws->cen + (size_t) j * dim;
	double		newmax = 0.0;
	size_t		i;

	memcpy(xc, ws->x + c * dim, sizeof(double) * dim);
	ws->uniform = 0;
	ws->wscale = weight_scale(j == 0 ? ws->box2 : ws->d2max, ws->m);
	memset(ws->bins_w, 0, sizeof(uint64_t) << ws->kbits);
	for (i = 0; i < ws->m; i++)
	{
		double		d = sq_dist(ws->x + i * dim, xc, dim);

		if (SK_KM_TICK(i, tick))
			return SK_ECANCEL;
		if (j == 0 || d < ws->d2[i])
			ws->d2[i] = d;
		else
			d = ws->d2[i];
		newmax = d > newmax ? d : newmax;
		if (!last)
			ws->bins_w[ws->key[i] >> (64 - ws->kbits)] += (uint64_t) (d * ws->wscale);
	}
	ws->d2max = newmax;
	if (!last && newmax > 0.0 && newmax * ws->wscale < 1073741824.0)
	{
		ws->wscale = weight_scale(newmax, ws->m);
		bin_weights(ws);
	}
	return SK_OK;
}

static sk_status
add_centre(fit_ws *ws, int dim, int j, size_t c, int last, const sk_tick *tick)
{
#define SK_KM_CALL(d) add_centre_dim(ws, d, j, c, last, tick)
	SK_KM_BY_DIM(dim, SK_KM_CALL)
#undef SK_KM_CALL
}

/* Potential (sum of D^2) for each candidate if it were added as a centre. */
static SK_KM_INLINE sk_status
trial_potentials_dt(const fit_ws *ws, int dim, int trials, const size_t *cand,
					fx128 *pot, const sk_tick *tick)
{
	const double *c[SK_KM_MAX_TRIALS];
	uint64_t	lo[SK_KM_MAX_TRIALS],
				hi[SK_KM_MAX_TRIALS];
	double		s = fx_scale(ws->d2max);
	size_t		i;
	int			t;

	for (t = 0; t < trials; t++)
	{
		c[t] = ws->x + cand[t] * dim;
		lo[t] = hi[t] = 0;
	}
	for (i = 0; i < ws->m; i++)
	{
		const double *x = ws->x + i * dim;
		double		u = ws->d2[i];

		if (SK_KM_TICK(i, tick))
			return SK_ECANCEL;
		for (t = 0; t < trials; t++)
		{
			double		d = sq_dist(x, c[t], dim);
			uint64_t	v;

			d = d < u ? d : u;
			/* fx_add() of a term that is never negative */
			v = (uint64_t) fx_term(d, s);
			lo[t] += v;
			hi[t] += lo[t] < v;
		}
	}
	for (t = 0; t < trials; t++)
	{
		pot[t].lo = lo[t];
		pot[t].hi = (int64_t) hi[t];
	}
	return SK_OK;
}

/* The common trial counts (2, 3, 4: k up to 20) get loops of their own. */
static SK_KM_INLINE sk_status
trial_potentials_dim(const fit_ws *ws, int dim, const size_t *cand,
					 int trials, fx128 *pot, const sk_tick *tick)
{
	switch (trials)
	{
		case 2:
			return trial_potentials_dt(ws, dim, 2, cand, pot, tick);
		case 3:
			return trial_potentials_dt(ws, dim, 3, cand, pot, tick);
		case 4:
			return trial_potentials_dt(ws, dim, 4, cand, pot, tick);
		default:
			return trial_potentials_dt(ws, dim, trials, cand, pot, tick);
	}
}

static sk_status
trial_potentials(const fit_ws *ws, int dim, const size_t *cand, int trials,
				 fx128 *pot, const sk_tick *tick)
{
#define SK_KM_CALL(d) trial_potentials_dim(ws, d, cand, trials, pot, tick)
	SK_KM_BY_DIM(dim, SK_KM_CALL)
#undef SK_KM_CALL
}

/*
 * Greedy k-means++: the first centre is a uniform draw, each next one the
 * best of 2 + floor(ln k) rows drawn by D^2 weighting (lowest resulting
 * potential, the first drawn on ties).  A largest D^2 of zero before k
 * centres means every row already coincides with a centre: fewer than k
 * distinct rows.
 */
static sk_status
seed_plus_plus(fit_ws *ws, int dim, int k, sk_rng *rng, const sk_tick *tick)
{
	int			trials = seed_trials(k);
	size_t		first;
	int			j;
	sk_status	st;

	build_bin_index(ws);
	ws->uniform = 1;
	st = draw_rows(ws, dim, ws->bins_n, 1, rng, &first, tick);
	if (st == SK_OK)
		st = add_centre(ws, dim, 0, first, k == 1, tick);
	for (j = 1; j < k && st == SK_OK; j++)
	{
		size_t		cand[SK_KM_MAX_TRIALS];
		int			best = 0,
					t;

		if (!(ws->d2max > 0.0))
			return SK_EINVAL;
		st = draw_rows(ws, dim, ws->bins_w, trials, rng, cand, tick);
		if (st == SK_OK)
			st = trial_potentials(ws, dim, cand, trials, ws->acc, tick);
		if (st != SK_OK)
			return st;
		for (t = 1; t < trials; t++)
			if (fx_less(ws->acc[t], ws->acc[best]))
				best = t;
		st = add_centre(ws, dim, j, cand[best], j == k - 1, tick);
	}
	return st;
}

static int
rows_equal(const double *a, const double *b, int dim)
{
	int			f;

	for (f = 0; f < dim; f++)
		if (a[f] != b[f])
			return 0;
	return 1;
}

/*
 * With an explicit init there is no seeding to notice duplicates: collect
 * distinct rows in cnew until k are found.
 */
static int
has_k_distinct(fit_ws *ws, int dim, int k)
{
	int			found = 0;
	size_t		i;

	for (i = 0; i < ws->m && found < k; i++)
	{
		const double *r = ws->x + i * dim;
		int			j;

		for (j = 0; j < found; j++)
			if (rows_equal(ws->cnew + (size_t) j * dim, r, dim))
				break;
		if (j == found)
			memcpy(ws->cnew + (size_t) found++ * dim, r, sizeof(double) * dim);
	}
	return found >= k;
}

/* ---------------------------------------------------------------------
 * Lloyd iterations with Hamerly's bounds
 * ---------------------------------------------------------------------
 */

/* Nearest and second-nearest squared distances; returns the nearest. */
static SK_KM_INLINE int
nearest_two(const double *x, const double *cen, int k, int dim,
			double *d1, double *d2)
{
	int			best = 0;
	double		b1 = sq_dist(x, cen, dim);
	double		b2 = INFINITY;
	int			j;

	for (j = 1; j < k; j++)
	{
		double		d = sq_dist(x, cen + (size_t) j * dim, dim);

		if (d < b1)
		{
			b2 = b1;
			b1 = d;
			best = j;
		}
		else if (d < b2)
			b2 = d;
	}
	*d1 = b1;
	*d2 = b2;
	return best;
}

/* half[j] = half the distance from centre j to its nearest other centre */
static void
centre_halves(fit_ws *ws, int k, int dim)
{
	int			a,
				b;

	for (a = 0; a < k; a++)
		ws->half[a] = INFINITY;
	for (a = 0; a < k; a++)
		for (b = a + 1; b < k; b++)
		{
			double		d = 0.5 * sqrt(sq_dist(ws->cen + (size_t) a * dim,
											   ws->cen + (size_t) b * dim, dim));

			ws->half[a] = d < ws->half[a] ? d : ws->half[a];
			ws->half[b] = d < ws->half[b] ? d : ws->half[b];
		}
}

/*
 * A float >= v (resp. <= v) for a bound v: widen v by more than a float's
 * rounding error (2^-24 relative, plus the subnormal step) before the
 * conversion, which is cheaper than nextafterf() in the inner loop.  A
 * lower bound beyond the float range is clamped, an upper one may become
 * infinity; both stay valid.
 */
#define SK_KM_FLT_WIDEN		1e-7
#define SK_KM_FLT_TINY		1e-44
#define SK_KM_FLT_CLAMP		3.0e38

static SK_KM_INLINE float
float_up(double v)
{
	return (float) (v + fabs(v) * SK_KM_FLT_WIDEN + SK_KM_FLT_TINY);
}

static SK_KM_INLINE float
float_down(double v)
{
	v = v - fabs(v) * SK_KM_FLT_WIDEN - SK_KM_FLT_TINY;
	return (float) (v > SK_KM_FLT_CLAMP ? SK_KM_FLT_CLAMP : v);
}

/*
 * Hamerly's bounds are stored relative to the summed centre moves, so a
 * row whose label is confirmed by them costs no store: the stored upper
 * is u - drift[a] and the stored lower l + max_drift, where u bounds the
 * distance to its own centre a and l the distance to every other one.
 * As centres move, u grows by a's moves and l shrinks by the largest
 * move of each iteration, which the sums do implicitly.
 */
static SK_KM_INLINE double
upper_bound(const fit_ws *ws, int a, size_t i)
{
	return (double) ws->upper[i] + ws->drift[a];
}

static SK_KM_INLINE double
lower_bound(const fit_ws *ws, size_t i)
{
	return (double) ws->lower[i] - ws->max_drift;
}

static SK_KM_INLINE void
set_bounds(fit_ws *ws, size_t i, int a, double u, double l)
{
	ws->upper[i] = float_up(u - ws->drift[a]);
	ws->lower[i] = float_down(l + ws->max_drift);
}

/*
 * The distance below which row i surely keeps centre a: half the distance
 * from a to its nearest other centre, or the lower bound on the other
 * centres, with a relative margin against rounding.
 */
static SK_KM_INLINE double
keep_bound(const fit_ws *ws, int a, size_t i)
{
	double		lo = lower_bound(ws, i);

	return (ws->half[a] > lo ? ws->half[a] : lo) * (1.0 - SK_KM_BOUND_SLACK);
}

/*
 * Can row i keep centre a without a full scan?  First by the bounds alone,
 * then after tightening the upper bound to the exact distance.
 */
static SK_KM_INLINE int
hamerly_keeps(fit_ws *ws, const double *x, int a, size_t i, int dim)
{
	double		bound = keep_bound(ws, a, i);
	double		up;

	if (upper_bound(ws, a, i) < bound)
		return 1;
	up = sqrt(sq_dist(x, ws->cen + (size_t) a * dim, dim));
	ws->upper[i] = float_up(up - ws->drift[a]);
	return up < bound;
}

/*
 * Label the block of rows from row i by nearest_block(): returns its
 * number of rows, 0 when the tick says stop.
 */
static size_t
block_labels(const fit_ws *ws, size_t i, int k, int dim, int32_t *lab,
			 double *d2, const sk_tick *tick)
{
	size_t		rows = ws->m - i < SK_KM_BLOCK ? ws->m - i : SK_KM_BLOCK;

	if (SK_KM_TICK(i, tick))
		return 0;
	nearest_block(ws->x + i * dim, rows, ws->cen, k, dim, lab, d2);
	return rows;
}

/* Add row x to (sign 1) or remove it from (sign -1) cluster a's sums. */
static SK_KM_INLINE void
move_row(fit_ws *ws, const double *x, int dim, int a, int64_t sign)
{
	fx128	   *s = ws->sum + (size_t) a * dim;
	int			f;

	for (f = 0; f < dim; f++)
		fx_add(&s[f], sign * fx_term(x[f], ws->xs[f]));
	ws->count[a] += (uint64_t) sign;
}

/*
 * One assignment step over all rows.  The exact sums of each cluster in
 * ws->sum follow the labels: the first iteration (first != 0) labels every
 * row from scratch and sums them all, later ones move only the rows that
 * change cluster.  *changed counts label changes.
 */
static SK_KM_INLINE sk_status
assign_step_dim(fit_ws *ws, int k, int dim, int first, size_t *changed,
			const sk_tick *tick)
{
	const double *cen = ws->cen;
	size_t		i;
	size_t		nchanged = 0;
	int			r;

	if (first)
	{
		memset(ws->sum, 0, sizeof(fx128) * (size_t) k * dim);
		memset(ws->count, 0, sizeof(uint64_t) * k);
	}
	else if (!ws->blocks)
		centre_halves(ws, k, dim);
	for (i = 0; ws->blocks && i < ws->m; i += SK_KM_BLOCK)
	{
		int32_t		lab[SK_KM_BLOCK];
		double		d2[SK_KM_BLOCK];
		size_t		rows = block_labels(ws, i, k, dim, lab, d2, tick),
					t;

		if (rows == 0)
			return SK_ECANCEL;
		for (t = 0; t < rows; t++)
		{
			int			a = first ? -1 : ws->label[i + t];

			if (lab[t] == a)
				continue;
			nchanged++;
			if (a >= 0)
				move_row(ws, ws->x + (i + t) * dim, dim, a, -1);
			move_row(ws, ws->x + (i + t) * dim, dim, lab[t], 1);
			ws->label[i + t] = lab[t];
		}
	}
	for (i = 0; !ws->blocks && i < ws->m; i++)
	{
		const double *x = ws->x + i * dim;
		int			a = first ? -1 : ws->label[i];
		double		d1,
					d2;
		int			b;

		if (SK_KM_TICK(i, tick))
			return SK_ECANCEL;
		if (a >= 0 && hamerly_keeps(ws, x, a, i, dim))
			continue;
		b = nearest_two(x, cen, k, dim, &d1, &d2);
		set_bounds(ws, i, b, sqrt(d1), sqrt(d2));
		if (b == a)
			continue;
		nchanged++;
		if (a >= 0)
			move_row(ws, x, dim, a, -1);
		move_row(ws, x, dim, b, 1);
		ws->label[i] = b;
	}

	/*
	 * relocate_empty() relabelled the rows it moved; count their changes
	 * against the cluster they came from, as if it had not.
	 */
	for (r = 0; r < ws->nreloc; r++)
	{
		int			now = ws->label[ws->reloc[3 * r]];

		if (now == (int) ws->reloc[3 * r + 1])
			nchanged--;
		else if (now == (int) ws->reloc[3 * r + 2])
			nchanged++;
	}
	ws->nreloc = 0;
	*changed = nchanged;
	return SK_OK;
}

static sk_status
assign_step(fit_ws *ws, int k, int dim, int first, size_t *changed,
			const sk_tick *tick)
{
#define SK_KM_CALL(d) assign_step_dim(ws, k, d, first, changed, tick)
	SK_KM_BY_DIM(dim, SK_KM_CALL)
#undef SK_KM_CALL
}

/*
 * Give each empty cluster the row farthest from its own centre (taking no
 * row that is the last of its cluster; ties in canonical row order), as
 * scikit-learn does.  The row is moved in the sums and relabelled.  The
 * distances borrow the bounds' memory; the bounds are then reset to
 * infinity and 0, valid if useless: one iteration of full scans is the
 * price of a rare event.
 */
static sk_status
relocate_empty(fit_ws *ws, int k, int dim, const sk_tick *tick)
{
	double	   *far = ws->d2;
	size_t		i;
	int			j;
	int			any = 0;

	for (j = 0; j < k; j++)
		any |= ws->count[j] == 0;
	if (!any)
		return SK_OK;
	for (i = 0; i < ws->m; i++)
	{
		if (SK_KM_TICK(i, tick))
			return SK_ECANCEL;
		far[i] = sq_dist(ws->x + i * dim,
						 ws->cen + (size_t) ws->label[i] * dim, dim);
	}
	for (j = 0; j < k; j++)
	{
		size_t		pick = ws->m;
		double		pick_d = -1.0;
		int			from;

		if (ws->count[j] != 0)
			continue;
		for (i = 0; i < ws->m; i++)
			if (ws->count[ws->label[i]] > 1 &&
				(far[i] > pick_d ||
				 (far[i] == pick_d && pick < ws->m && row_before(ws, dim, i, pick))))
			{
				pick = i;
				pick_d = far[i];
			}
		if (pick == ws->m)
			break;				/* cannot happen while k <= distinct rows */
		far[pick] = -1.0;
		from = ws->label[pick];
		move_row(ws, ws->x + pick * dim, dim, from, -1);
		move_row(ws, ws->x + pick * dim, dim, j, 1);
		ws->label[pick] = j;
		ws->reloc[3 * ws->nreloc] = (int64_t) pick;
		ws->reloc[3 * ws->nreloc + 1] = from;
		ws->reloc[3 * ws->nreloc + 2] = j;
		ws->nreloc++;
	}
	for (i = 0; i < ws->m; i++)
	{
		ws->upper[i] = INFINITY;
		ws->lower[i] = -INFINITY;
	}
	return SK_OK;
}

/*
 * Turn sums into means, measure each centre's move, install the new
 * centres; returns the sum of squared moves.
 */
static double
update_centres(fit_ws *ws, int k, int dim)
{
	double		tot = 0.0;
	int			j,
				f;

	for (j = 0; j < k; j++)
	{
		double	   *c = ws->cen + (size_t) j * dim;
		double	   *s = ws->cnew + (size_t) j * dim;
		double		d2;

		if (ws->count[j] > 0)
			for (f = 0; f < dim; f++)
				s[f] = fx_double(ws->sum[(size_t) j * dim + f]) / ws->xs[f] /
					(double) ws->count[j];
		else
			memcpy(s, c, sizeof(double) * dim);	/* not reached: relocated */
		d2 = sq_dist(c, s, dim);
		ws->shift[j] = sqrt(d2);
		tot += d2;
		memcpy(c, s, sizeof(double) * dim);
	}
	return tot;
}

/* Add the last iteration's moves to the drifts the bounds are kept against. */
static void
add_drift(fit_ws *ws, int k)
{
	double		mx = 0.0;
	int			j;

	for (j = 0; j < k; j++)
	{
		ws->drift[j] += ws->shift[j];
		mx = ws->shift[j] > mx ? ws->shift[j] : mx;
	}
	ws->max_drift += mx;
}

/*
 * Lloyd from the centres in ws->cen.  Sets *iters and *converged.  Leaves
 * the labels, bounds and moves of the last iteration for final_pass().
 */
static sk_status
lloyd(fit_ws *ws, int k, int dim, int max_iter, double tol_abs,
	  int *iters, int *converged, const sk_tick *tick)
{
	int			it;

	*converged = 0;
	ws->nreloc = 0;
	memset(ws->drift, 0, sizeof(double) * k);
	ws->max_drift = 0.0;
	for (it = 0; it < max_iter; it++)
	{
		size_t		changed;
		double		moved;
		sk_status	st;

		st = assign_step(ws, k, dim, it == 0, &changed, tick);
		if (st == SK_OK)
			st = relocate_empty(ws, k, dim, tick);
		if (st != SK_OK)
			return st;
		moved = update_centres(ws, k, dim);
		add_drift(ws, k);
		*iters = it + 1;
		/* on the first pass every label is new (sklearn starts from -1) */
		if ((it > 0 && changed == 0) || moved <= tol_abs)
		{
			*converged = 1;
			break;
		}
	}
	return SK_OK;
}

/*
 * Exact final labelling against the final centres: sizes and wcss.  The
 * last iteration's label is confirmed by the bounds when they allow (one
 * distance instead of k), else found by a full scan; either way each row
 * gets its nearest centre, the lowest index on ties.
 */
static SK_KM_INLINE sk_status
final_pass_dim(fit_ws *ws, int k, int dim, double *inertia, const sk_tick *tick)
{
	double		s = fx_scale(ws->box2);
	fx128	   *w = ws->acc;
	size_t		i;
	int			j;

	memset(ws->count, 0, sizeof(uint64_t) * k);
	memset(w, 0, sizeof(fx128) * k);
	if (!ws->blocks)
		centre_halves(ws, k, dim);
	for (i = 0; ws->blocks && i < ws->m; i += SK_KM_BLOCK)
	{
		int32_t		lab[SK_KM_BLOCK];
		double		d2[SK_KM_BLOCK];
		size_t		rows = block_labels(ws, i, k, dim, lab, d2, tick),
					t;

		if (rows == 0)
			return SK_ECANCEL;
		for (t = 0; t < rows; t++)
		{
			ws->count[lab[t]]++;
			fx_add(&w[lab[t]], fx_term(d2[t], s));
		}
	}
	for (i = 0; !ws->blocks && i < ws->m; i++)
	{
		const double *x = ws->x + i * dim;
		double		d2;
		double		bound;

		if (SK_KM_TICK(i, tick))
			return SK_ECANCEL;
		j = ws->label[i];
		d2 = sq_dist(x, ws->cen + (size_t) j * dim, dim);
		bound = keep_bound(ws, j, i);
		if (!(sqrt(d2) < bound))
			j = nearest(x, ws->cen, k, dim, &d2);
		ws->count[j]++;
		fx_add(&w[j], fx_term(d2, s));
	}
	*inertia = 0.0;
	for (j = 0; j < k; j++)
	{
		ws->wcss[j] = fx_double(w[j]) / s;
		*inertia += ws->wcss[j];
	}
	return isfinite(*inertia) ? SK_OK : SK_EOVERFLOW;
}

static sk_status
final_pass(fit_ws *ws, int k, int dim, double *inertia, const sk_tick *tick)
{
#define SK_KM_CALL(d) final_pass_dim(ws, k, d, inertia, tick)
	SK_KM_BY_DIM(dim, SK_KM_CALL)
#undef SK_KM_CALL
}

static void
keep_run(const fit_ws *ws, sk_km_model *model, double inertia, int iters,
		 int converged)
{
	size_t		kd = (size_t) model->k * model->dim;

	memcpy(model->centroids, ws->cen, sizeof(double) * kd);
	memcpy(model->sizes, ws->count, sizeof(uint64_t) * model->k);
	memcpy(model->wcss, ws->wcss, sizeof(double) * model->k);
	model->inertia = inertia;
	model->iterations = iters;
	model->converged = converged;
}

/* One run from explicit or k-means++ centres; keeps it if best so far. */
static sk_status
one_run(fit_ws *ws, const sk_km_params *p, sk_km_model *model, sk_rng *rng,
		double tol_abs, int first_run, const sk_tick *tick)
{
	int			k = p->k,
				dim = model->dim;
	int			iters = 0,
				converged = 0;
	double		inertia;
	sk_status	st;

	if (p->init == NULL)
		st = seed_plus_plus(ws, dim, k, rng, tick);
	else
	{
		int			j;

		for (j = 0; j < k; j++)
			apply_transform(model, p->init + (size_t) j * dim,
							ws->cen + (size_t) j * dim);
		st = SK_OK;
	}
	if (st == SK_OK)
		st = lloyd(ws, k, dim, p->max_iter, tol_abs, &iters, &converged, tick);
	if (st == SK_OK)
		st = final_pass(ws, k, dim, &inertia, tick);
	if (st != SK_OK)
		return st;
	if (first_run || inertia < model->inertia)
		keep_run(ws, model, inertia, iters, converged);
	return SK_OK;
}

static sk_status
check_params(const sk_km_params *p, size_t n, int dim, const sk_km_model *m)
{
	sk_status	st;

	if (p == NULL || m == NULL)
		return SK_EINVAL;
	if (!valid_k_dim(p->k, dim, &st))
		return st;
	if (p->restarts > SK_KM_MAX_RESTARTS || p->max_iter > SK_KM_MAX_ITER)
		return SK_ELIMIT;
	if (n == 0 || (size_t) p->k > working_rows(n, p->sample_cap) ||
		p->restarts < 1 || p->max_iter < 1 ||
		!isfinite(p->tol) || p->tol < 0.0 ||
		p->transform < SK_KM_NONE || p->transform > SK_KM_LOG_ZSCORE)
		return SK_EINVAL;
	if (m->k != p->k || m->dim != dim || m->shift == NULL ||
		m->scale == NULL || m->centroids == NULL || m->sizes == NULL ||
		m->wcss == NULL)
		return SK_EINVAL;
	return SK_OK;
}

sk_status
sk_km_fit(const double *x, size_t n, int dim, const sk_km_params *p,
		  void *work, size_t work_bytes, sk_km_model *model,
		  const sk_tick *tick)
{
	fit_ws		ws;
	size_t		need;
	sk_rng		rng;
	double		tol_abs;
	int			r,
				runs;
	sk_status	st;

	st = check_params(p, n, dim, model);
	if (st != SK_OK)
		return st;
	if (x == NULL || work == NULL || ((uintptr_t) work % sizeof(double)) != 0)
		return SK_EINVAL;
	if (!fit_layout(working_rows(n, p->sample_cap), dim, p->k,
					needs_copy(n, p), NULL, NULL, &need))
		return SK_EOVERFLOW;
	if (work_bytes < need)
		return SK_EINVAL;
	fit_layout(working_rows(n, p->sample_cap), dim, p->k, needs_copy(n, p),
			   (char *) work, &ws, &need);

	ws.blocks = use_blocks(p->k, dim);
	model->transform = p->transform;
	st = check_input(x, n, dim, p->transform, ws.lo, ws.hi, tick);
	if (st == SK_OK)
		st = estimate_transform(x, n, dim, model, ws.lo, ws.hi, ws.acc, ws.xs, tick);
	if (st != SK_OK)
		return st;
	if (p->init != NULL)
	{
		int			j;

		for (j = 0; j < p->k; j++)
			if (!row_finite(p->init + (size_t) j * dim, dim))
				return SK_EDATA;
	}
	sk_rng_seed(&rng, p->seed);
	st = build_working_rows(x, n, model, &ws, &rng, tick);
	if (st == SK_OK)
		st = prepare_rows(&ws, dim, p->seed, tick);
	if (st != SK_OK)
		return st;
	if (p->init != NULL && !has_k_distinct(&ws, dim, p->k))
		return SK_EINVAL;
	tol_abs = absolute_tol(&ws, dim, p->tol);
	model->n = ws.m;

	runs = p->init != NULL ? 1 : p->restarts;
	for (r = 0; r < runs; r++)
	{
		st = one_run(&ws, p, model, &rng, tol_abs, r == 0, tick);
		if (st != SK_OK)
			return st;
	}
	return SK_OK;
}

/* ---------------------------------------------------------------------
 * Using a model
 * ---------------------------------------------------------------------
 */

sk_status
sk_km_assign(const sk_km_model *model, const double *x, double *scratch,
			 int *cluster, double *dist2)
{
	double		d2;

	if (!model_ok(model) || x == NULL || scratch == NULL || cluster == NULL)
		return SK_EINVAL;
	if (!row_finite(x, model->dim))
		return SK_EDATA;
	apply_transform(model, x, scratch);
	*cluster = nearest(scratch, model->centroids, model->k, model->dim, &d2);
	if (dist2 != NULL)
		*dist2 = d2;
	return SK_OK;
}

sk_status
sk_km_centroid_original(const sk_km_model *model, int j, double *out)
{
	const double *c;
	int			f;

	if (!model_ok(model) || out == NULL || j < 0 || j >= model->k)
		return SK_EINVAL;
	c = model->centroids + (size_t) j * model->dim;
	for (f = 0; f < model->dim; f++)
	{
		double		y = c[f] * model->scale[f] + model->shift[f];

		if (model->transform == SK_KM_NONE)
			y = c[f];
		else if (model->transform == SK_KM_LOG_ZSCORE)
			y = signed_expm1(y);
		if (!isfinite(y))
			return SK_EOVERFLOW;
		out[f] = y;
	}
	return SK_OK;
}

/* ---------------------------------------------------------------------
 * Model text
 * ---------------------------------------------------------------------
 */

/* Longest "%.17g" of a finite double ("-2.2250738585072014e-308"). */
#define SK_KM_NUM_WIDTH		24

sk_status
sk_km_model_text_size(int k, int dim, size_t *bytes)
{
	size_t		per_cluster,
				t;
	sk_status	st;

	if (bytes == NULL)
		return SK_EINVAL;
	if (!valid_k_dim(k, dim, &st))
		return st;
	/* every number with its separator; fixed text well under 256 bytes */
	if (!sk_size_mul((size_t) dim + 2, SK_KM_NUM_WIDTH + 1, &per_cluster) ||
		!sk_size_add(per_cluster, 32, &per_cluster) ||
		!sk_size_mul(per_cluster, (size_t) k, &t) ||
		!sk_size_add(t, 2 * ((size_t) dim * (SK_KM_NUM_WIDTH + 1) + 16), &t) ||
		!sk_size_add(t, 256, bytes))
		return SK_EOVERFLOW;
	return SK_OK;
}

typedef struct text_out
{
	char	   *buf;
	size_t		cap;
	size_t		len;
	int			ok;				/* 0 once the buffer ran out */
} text_out;

static void
put_written(text_out *o, int w)
{
	if (w < 0 || (size_t) w >= o->cap - o->len)
		o->ok = 0;
	else
		o->len += (size_t) w;
}

static void
put_str(text_out *o, const char *s)
{
	if (o->ok)
		put_written(o, snprintf(o->buf + o->len, o->cap - o->len, "%s", s));
}

static void
put_u64(text_out *o, const char *label, uint64_t v)
{
	put_str(o, label);
	if (o->ok)
		put_written(o, snprintf(o->buf + o->len, o->cap - o->len, "%llu",
								(unsigned long long) v));
}

/* 17 significant digits: strtod gives back the same double */
static void
put_num(text_out *o, double v)
{
	if (o->ok)
		put_written(o, snprintf(o->buf + o->len, o->cap - o->len, "%.17g", v));
}

static void
put_list(text_out *o, const char *label, const double *v, int count)
{
	int			i;

	put_str(o, label);
	for (i = 0; i < count; i++)
	{
		if (i > 0)
			put_str(o, ",");
		put_num(o, v[i]);
	}
}

static int
all_finite(const double *v, size_t count)
{
	size_t		i;

	for (i = 0; i < count; i++)
		if (!isfinite(v[i]))
			return 0;
	return 1;
}

sk_status
sk_km_model_encode(const sk_km_model *model, char *buf, size_t cap,
				   size_t *len)
{
	text_out	o;
	int			j;

	if (!model_ok(model) || buf == NULL || len == NULL || cap == 0)
		return SK_EINVAL;
	buf[0] = '\0';
	if (!isfinite(model->inertia) ||
		!all_finite(model->shift, model->dim) ||
		!all_finite(model->scale, model->dim) ||
		!all_finite(model->wcss, model->k) ||
		!all_finite(model->centroids, (size_t) model->k * model->dim))
		return SK_EDATA;
	o.buf = buf;
	o.cap = cap;
	o.len = 0;
	o.ok = 1;
	put_u64(&o, "kmeans v1 k=", (uint64_t) model->k);
	put_u64(&o, " dim=", (uint64_t) model->dim);
	put_str(&o, " transform=");
	put_str(&o, sk_km_transform_name(model->transform));
	put_u64(&o, " n=", model->n);
	put_u64(&o, " iterations=", (uint64_t) (model->iterations < 0 ? 0 : model->iterations));
	put_u64(&o, " converged=", (uint64_t) (model->converged != 0));
	put_str(&o, " inertia=");
	put_num(&o, model->inertia);
	put_list(&o, " shift=", model->shift, model->dim);
	put_list(&o, " scale=", model->scale, model->dim);
	for (j = 0; j < model->k; j++)
	{
		put_u64(&o, " cluster=", model->sizes[j]);
		put_str(&o, ",");
		put_num(&o, model->wcss[j]);
		put_list(&o, ",", model->centroids + (size_t) j * model->dim, model->dim);
	}
	if (!o.ok)
	{
		buf[0] = '\0';
		return SK_EINVAL;
	}
	*len = o.len;
	return SK_OK;
}

typedef struct text_in
{
	const char *p;
	size_t		len;
	size_t		pos;
} text_in;

static int
eat(text_in *in, const char *lit)
{
	size_t		l = strlen(lit);

	if (in->len - in->pos < l || memcmp(in->p + in->pos, lit, l) != 0)
		return 0;
	in->pos += l;
	return 1;
}

static int
read_uint(text_in *in, uint64_t *out)
{
	uint64_t	v = 0;
	size_t		start = in->pos;

	while (in->pos < in->len && in->p[in->pos] >= '0' && in->p[in->pos] <= '9')
	{
		unsigned	d = (unsigned) (in->p[in->pos] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
		in->pos++;
	}
	/* at least one digit, no leading zero */
	if (in->pos == start || (in->p[start] == '0' && in->pos - start > 1))
		return 0;
	*out = v;
	return 1;
}

static int
num_char(char c)
{
	return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' ||
		c == '+' || c == '-';
}

static int
read_num(text_in *in, double *out)
{
	char		tok[SK_KM_NUM_MAX + 1];
	size_t		l = 0;
	char	   *end;
	double		v;

	while (in->pos + l < in->len && num_char(in->p[in->pos + l]))
	{
		if (l == SK_KM_NUM_MAX)
			return 0;
		tok[l] = in->p[in->pos + l];
		l++;
	}
	if (l == 0 || !(tok[0] == '-' || (tok[0] >= '0' && tok[0] <= '9')))
		return 0;
	tok[l] = '\0';
	v = strtod(tok, &end);
	if (end != tok + l || !isfinite(v))
		return 0;
	in->pos += l;
	*out = v;
	return 1;
}

static int
read_list(text_in *in, double *v, int count)
{
	int			i;

	for (i = 0; i < count; i++)
		if ((i > 0 && !eat(in, ",")) || !read_num(in, &v[i]))
			return 0;
	return 1;
}

static int
read_bounded(text_in *in, const char *label, uint64_t lo, uint64_t hi,
			 uint64_t *out)
{
	return eat(in, label) && read_uint(in, out) && *out >= lo && *out <= hi;
}

static int
read_header(text_in *in, int *k, int *dim)
{
	uint64_t	v;

	if (!eat(in, "kmeans v1") || !read_bounded(in, " k=", 1, SK_KM_MAX_K, &v))
		return 0;
	*k = (int) v;
	if (!read_bounded(in, " dim=", 1, SK_KM_MAX_DIM, &v))
		return 0;
	*dim = (int) v;
	return 1;
}

sk_status
sk_km_model_peek(const char *text, size_t len, int *k, int *dim)
{
	text_in		in;

	if (text == NULL || k == NULL || dim == NULL)
		return SK_EINVAL;
	in.p = text;
	in.len = len;
	in.pos = 0;
	return read_header(&in, k, dim) ? SK_OK : SK_EDATA;
}

static int
read_transform(text_in *in, sk_km_transform *t)
{
	size_t		start;

	if (!eat(in, " transform="))
		return 0;
	start = in->pos;
	while (in->pos < in->len && in->p[in->pos] != ' ')
		in->pos++;
	return sk_km_transform_parse(in->p + start, in->pos - start, t) == SK_OK;
}

/* Fields after the header, up to the clusters. */
static int
read_globals(text_in *in, sk_km_model *m)
{
	uint64_t	v;

	if (!read_transform(in, &m->transform) ||
		!read_bounded(in, " n=", 1, SK_KM_MAX_N, &m->n))
		return 0;
	if (!read_bounded(in, " iterations=", 1, SK_KM_MAX_ITER, &v))
		return 0;
	m->iterations = (int) v;
	if (!read_bounded(in, " converged=", 0, 1, &v))
		return 0;
	m->converged = (int) v;
	return eat(in, " inertia=") && read_num(in, &m->inertia) &&
		eat(in, " shift=") && read_list(in, m->shift, m->dim) &&
		eat(in, " scale=") && read_list(in, m->scale, m->dim);
}

static int
read_clusters(text_in *in, sk_km_model *m)
{
	int			j;

	for (j = 0; j < m->k; j++)
	{
		if (!eat(in, " cluster=") || !read_uint(in, &m->sizes[j]) ||
			!eat(in, ",") || !read_num(in, &m->wcss[j]) || !eat(in, ",") ||
			!read_list(in, m->centroids + (size_t) j * m->dim, m->dim))
			return 0;
	}
	return in->pos == in->len;
}

/* Cross-field checks: what the fit could have produced. */
static int
model_consistent(const sk_km_model *m)
{
	uint64_t	total = 0;
	double		sum = 0.0;
	int			j,
				f;

	for (f = 0; f < m->dim; f++)
	{
		if (!(m->scale[f] > 0.0))
			return 0;
		if (m->transform == SK_KM_NONE &&
			(m->shift[f] != 0.0 || m->scale[f] != 1.0))
			return 0;
	}
	for (j = 0; j < m->k; j++)
	{
		if (m->sizes[j] > UINT64_MAX - total || !(m->wcss[j] >= 0.0) ||
			(m->sizes[j] == 0 && m->wcss[j] != 0.0))
			return 0;
		total += m->sizes[j];
		sum += m->wcss[j];
	}
	for (j = 0; j < m->k * m->dim; j++)
		if (!(fabs(m->centroids[j]) <= SK_KM_MAX_ABS))
			return 0;
	if (total != m->n || !isfinite(sum) || !(m->inertia >= 0.0))
		return 0;
	return fabs(m->inertia - sum) <= 1e-9 * (m->inertia > sum ? m->inertia : sum);
}

sk_status
sk_km_model_decode(const char *text, size_t len, sk_km_model *model)
{
	text_in		in;
	int			k,
				dim;

	if (text == NULL || !model_ok(model))
		return SK_EINVAL;
	in.p = text;
	in.len = len;
	in.pos = 0;
	if (!read_header(&in, &k, &dim) || k != model->k || dim != model->dim)
		return SK_EDATA;
	if (!read_globals(&in, model) || !read_clusters(&in, model) ||
		!model_consistent(model))
		return SK_EDATA;
	return SK_OK;
}

/* ---------------------------------------------------------------------
 * Choosing k: scores
 * ---------------------------------------------------------------------
 */

typedef struct score_ws
{
	double	   *z;				/* [n * dim] transformed rows */
	double	   *mean;			/* [k * dim] means of labelled rows */
	double	   *spread;			/* [k] mean distance to the mean (S) */
	double	   *acc;			/* [k] silhouette per-cluster distance sums */
	uint64_t   *count;			/* [k] rows per label */
	uint64_t   *scount;			/* [k] sampled rows per label */
	uint64_t   *sample;			/* [s] sampled row numbers */
	int32_t    *label;			/* [n] */
} score_ws;

static int
score_layout(size_t n, int dim, int k, size_t s, char *base, score_ws *ws,
			 size_t *bytes)
{
	size_t		nd,
				kd,
				t,
				u;

	if (!sk_size_mul(n, (size_t) dim, &nd) ||
		!sk_size_mul((size_t) k, (size_t) dim, &kd) ||
		!sk_size_add(nd, kd, &t) || !sk_size_add(t, 4 * (size_t) k, &t) ||
		!sk_size_add(t, s, &t) || !sk_size_mul(t, sizeof(double), &t) ||
		!sk_size_mul(n, sizeof(int32_t), &u) || !sk_size_add(t, u, bytes))
		return 0;
	if (base != NULL)
	{
		double	   *d = (double *) base;

		ws->z = d;
		d += nd;
		ws->mean = d;
		d += kd;
		ws->spread = d;
		d += k;
		ws->acc = d;
		d += k;
		ws->count = (uint64_t *) d;
		d += k;
		ws->scount = (uint64_t *) d;
		d += k;
		ws->sample = (uint64_t *) d;
		d += s;
		ws->label = (int32_t *) d;
	}
	return 1;
}

static size_t
silhouette_rows(size_t n, size_t cap)
{
	return (cap != 0 && cap < n) ? cap : n;
}

sk_status
sk_km_score_work_size(size_t n, int dim, int k, size_t silhouette_cap,
					  size_t *bytes)
{
	sk_status	st;

	if (bytes == NULL)
		return SK_EINVAL;
	if (!valid_k_dim(k, dim, &st))
		return st;
	if (!score_layout(n, dim, k, silhouette_rows(n, silhouette_cap), NULL,
					  NULL, bytes))
		return SK_EOVERFLOW;
	return SK_OK;
}

/* Label every row; fill count, mean, inertia. */
static sk_status
score_label(const sk_km_model *m, const double *x, size_t n, score_ws *ws,
			double *inertia, const sk_tick *tick)
{
	int			k = m->k,
				dim = m->dim;
	size_t		i;
	int			j,
				f;

	memset(ws->count, 0, sizeof(uint64_t) * k);
	memset(ws->mean, 0, sizeof(double) * (size_t) k * dim);
	*inertia = 0.0;
	for (i = 0; i < n; i++)
	{
		double	   *z = ws->z + i * dim;
		double		d2;

		if (SK_KM_TICK(i, tick))
			return SK_ECANCEL;
		if (!row_finite(x + i * dim, dim))
			return SK_EDATA;
		apply_transform(m, x + i * dim, z);
		for (f = 0; f < dim; f++)
			if (!(fabs(z[f]) <= SK_KM_MAX_ABS))
				return SK_EOVERFLOW;
		j = nearest(z, m->centroids, k, dim, &d2);
		ws->label[i] = j;
		ws->count[j]++;
		*inertia += d2;
		for (f = 0; f < dim; f++)
			ws->mean[(size_t) j * dim + f] += z[f];
	}
	for (j = 0; j < k; j++)
		for (f = 0; f < dim && ws->count[j] > 0; f++)
			ws->mean[(size_t) j * dim + f] /= (double) ws->count[j];
	return SK_OK;
}

/* S of each non-empty cluster: mean distance of its rows to their mean */
static sk_status
cluster_spread(const sk_km_model *m, size_t n, score_ws *ws,
			   const sk_tick *tick)
{
	size_t		i;
	int			a;

	for (a = 0; a < m->k; a++)
		ws->spread[a] = 0.0;
	for (i = 0; i < n; i++)
	{
		if (SK_KM_TICK(i, tick))
			return SK_ECANCEL;
		a = ws->label[i];
		ws->spread[a] += sqrt(sq_dist(ws->z + i * m->dim,
									  ws->mean + (size_t) a * m->dim, m->dim));
	}
	for (a = 0; a < m->k; a++)
		if (ws->count[a] > 0)
			ws->spread[a] /= (double) ws->count[a];
	return SK_OK;
}

/*
 * Davies-Bouldin over the non-empty clusters; pairs whose means coincide
 * are skipped (scikit-learn makes that distance infinite).
 */
static double
davies_bouldin(const sk_km_model *m, const score_ws *ws)
{
	int			k = m->k,
				dim = m->dim;
	int			a,
				b,
				present = 0;
	int			spread_zero = 1,
				dist_zero = 1;
	double		total = 0.0;

	for (a = 0; a < k; a++)
	{
		double		worst = 0.0;

		if (ws->count[a] == 0)
			continue;
		present++;
		spread_zero &= ws->spread[a] <= 1e-8;
		for (b = 0; b < k; b++)
		{
			double		d;

			if (b == a || ws->count[b] == 0)
				continue;
			d = sqrt(sq_dist(ws->mean + (size_t) a * dim,
							 ws->mean + (size_t) b * dim, dim));
			dist_zero &= d <= 1e-8;
			if (d > 0.0 && (ws->spread[a] + ws->spread[b]) / d > worst)
				worst = (ws->spread[a] + ws->spread[b]) / d;
		}
		total += worst;
	}
	if (present < 2)
		return NAN;
	if (spread_zero || dist_zero)
		return 0.0;
	return total / present;
}

/* Knuth's selection sampling: s of n row numbers, in order. */
static void
draw_sample(size_t n, size_t s, uint64_t seed, uint64_t *out)
{
	sk_rng		rng;
	size_t		i,
				got = 0;

	sk_rng_seed(&rng, seed);
	for (i = 0; i < n && got < s; i++)
		if (s == n || (double) (n - i) * sk_rng_uniform(&rng) < (double) (s - got))
			out[got++] = i;
}

/* Silhouette of one sampled row against the others of the sample. */
static double
silhouette_one(const sk_km_model *m, score_ws *ws, size_t s, size_t p)
{
	int			k = m->k,
				dim = m->dim;
	const double *zi = ws->z + ws->sample[p] * dim;
	int			li = ws->label[ws->sample[p]];
	double		a,
				b = INFINITY;
	size_t		q;
	int			j;

	if (ws->scount[li] <= 1)
		return 0.0;
	for (j = 0; j < k; j++)
		ws->acc[j] = 0.0;
	for (q = 0; q < s; q++)
		ws->acc[ws->label[ws->sample[q]]] +=
			sqrt(sq_dist(zi, ws->z + ws->sample[q] * dim, dim));
	a = ws->acc[li] / (double) (ws->scount[li] - 1);
	for (j = 0; j < k; j++)
		if (j != li && ws->scount[j] > 0 &&
			ws->acc[j] / (double) ws->scount[j] < b)
			b = ws->acc[j] / (double) ws->scount[j];
	if (a == 0.0 && b == 0.0)
		return 0.0;
	return (b - a) / (a > b ? a : b);
}

static sk_status
silhouette(const sk_km_model *m, size_t n, size_t s, uint64_t seed,
		   score_ws *ws, double *out, const sk_tick *tick)
{
	size_t		p;
	int			j,
				labels = 0;
	double		total = 0.0;

	draw_sample(n, s, seed, ws->sample);
	memset(ws->scount, 0, sizeof(uint64_t) * m->k);
	for (p = 0; p < s; p++)
		ws->scount[ws->label[ws->sample[p]]]++;
	for (j = 0; j < m->k; j++)
		labels += ws->scount[j] > 0;
	*out = NAN;
	if (labels < 2 || (size_t) labels > s - 1)
		return SK_OK;
	for (p = 0; p < s; p++)
	{
		/* each row costs s distances: tick per row, not per 4096 */
		if ((s >= SK_KM_TICK_ROWS || (p & (SK_KM_TICK_ROWS - 1)) == 0) &&
			sk_tick_stop(tick))
			return SK_ECANCEL;
		total += silhouette_one(m, ws, s, p);
	}
	*out = total / (double) s;
	return SK_OK;
}

sk_status
sk_km_score(const sk_km_model *model, const double *x, size_t n,
			size_t silhouette_cap, uint64_t seed, void *work,
			size_t work_bytes, sk_km_scores *out, const sk_tick *tick)
{
	score_ws	ws;
	size_t		need;
	size_t		s = silhouette_rows(n, silhouette_cap);
	sk_status	st;

	if (!model_ok(model) || x == NULL || out == NULL || work == NULL ||
		n == 0 || ((uintptr_t) work % sizeof(double)) != 0)
		return SK_EINVAL;
	if (!score_layout(n, model->dim, model->k, s, NULL, NULL, &need))
		return SK_EOVERFLOW;
	if (work_bytes < need)
		return SK_EINVAL;
	score_layout(n, model->dim, model->k, s, (char *) work, &ws, &need);

	st = score_label(model, x, n, &ws, &out->inertia, tick);
	if (st != SK_OK)
		return st;
	st = cluster_spread(model, n, &ws, tick);
	if (st != SK_OK)
		return st;
	out->davies_bouldin = davies_bouldin(model, &ws);
	out->silhouette_n = s;
	return silhouette(model, n, s, seed, &ws, &out->silhouette, tick);
}

/* ---------------------------------------------------------------------
 * Matching the clusters of two models
 * ---------------------------------------------------------------------
 *
 * The workspace holds the k x k cost matrix, then the method's scratch:
 * row and column potentials, the slack of each column, and per column the
 * row it is paired with, the column before it on the augmenting path and
 * whether the current search has reached it.  Index 0 of the per-column
 * arrays is a virtual column the search starts from (1-based otherwise).
 */

typedef struct match_ws
{
	double	   *cost;			/* [k * k]: row = model cluster, column = ref cluster */
	double	   *pot_row;		/* [k + 1] */
	double	   *pot_col;		/* [k + 1] */
	double	   *slack;			/* [k + 1] */
	int		   *row_of;			/* [k + 1]: row paired with column c, 0 if none */
	int		   *prev_col;		/* [k + 1] */
	unsigned char *reached;		/* [k + 1] */
} match_ws;

static int
match_layout(int k, char *base, match_ws *ws, size_t *bytes)
{
	size_t		kk,
				n1 = (size_t) k + 1,
				off = 0,
				part;

	if (!sk_size_mul((size_t) k, (size_t) k, &kk) || !sk_size_mul(kk, sizeof(double), &part))
		return 0;
	if (ws != NULL)
		ws->cost = (double *) (base + off);
	off += part;
	if (ws != NULL)
	{
		ws->pot_row = (double *) (base + off);
		ws->pot_col = ws->pot_row + n1;
		ws->slack = ws->pot_col + n1;
	}
	off += 3 * n1 * sizeof(double);
	if (ws != NULL)
	{
		ws->row_of = (int *) (base + off);
		ws->prev_col = ws->row_of + n1;
	}
	off += 2 * n1 * sizeof(int);
	if (ws != NULL)
		ws->reached = (unsigned char *) (base + off);
	off += n1;
	*bytes = off;
	return 1;
}

sk_status
sk_km_match_work_size(int k, size_t *bytes)
{
	if (bytes == NULL || k < 1 || k > SK_KM_MAX_K)
		return k > SK_KM_MAX_K ? SK_ELIMIT : SK_EINVAL;
	return match_layout(k, NULL, NULL, bytes) ? SK_OK : SK_EOVERFLOW;
}

/*
 * Least-cost perfect pairing of the rows and columns of ws->cost
 * (shortest augmenting paths with potentials).  Rows are added one at a
 * time; each search grows a tree of reached columns along the least
 * reduced cost (cost - row potential - column potential, never negative)
 * until it reaches a free column, then flips the path.  On return
 * ws->row_of[c] (1-based) is the row paired with column c.
 */
static sk_status
hungarian(int k, match_ws *ws, const sk_tick *tick)
{
	int			row,
				c;

	for (c = 0; c <= k; c++)
	{
		ws->pot_row[c] = 0.0;
		ws->pot_col[c] = 0.0;
		ws->row_of[c] = 0;
		ws->prev_col[c] = 0;
	}
	for (row = 1; row <= k; row++)
	{
		int			col = 0;	/* the virtual column holding the new row */

		if (sk_tick_stop(tick))
			return SK_ECANCEL;
		ws->row_of[0] = row;
		for (c = 0; c <= k; c++)
		{
			ws->slack[c] = HUGE_VAL;
			ws->reached[c] = 0;
		}
		do
		{
			int			r = ws->row_of[col];
			int			next = 0;
			double		step = HUGE_VAL;

			ws->reached[col] = 1;
			for (c = 1; c <= k; c++)
			{
				double		reduced;

				if (ws->reached[c])
					continue;
				reduced = ws->cost[(size_t) (r - 1) * k + (c - 1)] - ws->pot_row[r] - ws->pot_col[c];
				if (reduced < ws->slack[c])
				{
					ws->slack[c] = reduced;
					ws->prev_col[c] = col;
				}
				if (ws->slack[c] < step)
				{
					step = ws->slack[c];
					next = c;
				}
			}
			/* shift the potentials so the cheapest edge out becomes tight */
			for (c = 0; c <= k; c++)
			{
				if (ws->reached[c])
				{
					ws->pot_row[ws->row_of[c]] += step;
					ws->pot_col[c] -= step;
				}
				else
					ws->slack[c] -= step;
			}
			col = next;
		} while (ws->row_of[col] != 0);
		/* flip the path back to the virtual column */
		do
		{
			int			before = ws->prev_col[col];

			ws->row_of[col] = ws->row_of[before];
			col = before;
		} while (col != 0);
	}
	return SK_OK;
}

sk_status
sk_km_match(const sk_km_model *model, const sk_km_model *ref, void *work,
			size_t work_bytes, int *to_ref, double *dist2, const sk_tick *tick)
{
	match_ws	ws = {0};
	size_t		need;
	int			k,
				dim,
				i,
				j,
				f;
	sk_status	st;

	if (!model_ok(model) || !model_ok(ref) || work == NULL || to_ref == NULL ||
		((uintptr_t) work % sizeof(double)) != 0)
		return SK_EINVAL;
	k = model->k;
	dim = model->dim;
	if (ref->k != k || ref->dim != dim || ref->transform != model->transform)
		return SK_EINVAL;
	st = sk_km_match_work_size(k, &need);
	if (st != SK_OK)
		return st;
	if (work_bytes < need)
		return SK_EINVAL;
	match_layout(k, (char *) work, &ws, &need);

	for (i = 0; i < k; i++)
	{
		const double *a = model->centroids + (size_t) i * dim;

		if (sk_tick_stop(tick))
			return SK_ECANCEL;
		for (j = 0; j < k; j++)
		{
			const double *b = ref->centroids + (size_t) j * dim;
			double		d2 = 0.0;

			for (f = 0; f < dim; f++)
			{
				/* ref's centroid in the space before scaling (the logs for
				 * log_zscore), then in model's scaled space */
				double		pre = ref->transform == SK_KM_NONE ? b[f] : b[f] * ref->scale[f] + ref->shift[f];
				double		z = model->transform == SK_KM_NONE ? pre : (pre - model->shift[f]) / model->scale[f];
				double		d = a[f] - z;

				d2 += d * d;
			}
			if (!isfinite(d2))
				return SK_EOVERFLOW;
			ws.cost[(size_t) i * k + j] = d2;
		}
	}
	st = hungarian(k, &ws, tick);
	if (st != SK_OK)
		return st;
	for (j = 1; j <= k; j++)
	{
		int			i0 = ws.row_of[j] - 1;

		to_ref[i0] = j - 1;
		if (dist2 != NULL)
			dist2[i0] = ws.cost[(size_t) i0 * k + (j - 1)];
	}
	return SK_OK;
}

sk_status
sk_km_relabel(const sk_km_model *src, const int *label, sk_km_model *dst)
{
	int			k,
				dim,
				j;
	uint64_t	seen[(SK_KM_MAX_K + 63) / 64];

	if (!model_ok(src) || dst == NULL || label == NULL || dst->centroids == NULL ||
		dst->k != src->k || dst->dim != src->dim || dst == src)
		return SK_EINVAL;
	k = src->k;
	dim = src->dim;
	memset(seen, 0, sizeof(seen));
	for (j = 0; j < k; j++)
	{
		if (label[j] < 0 || label[j] >= k || (seen[label[j] / 64] >> (label[j] % 64)) & 1)
			return SK_EINVAL;
		seen[label[j] / 64] |= (uint64_t) 1 << (label[j] % 64);
	}
	dst->transform = src->transform;
	dst->iterations = src->iterations;
	dst->converged = src->converged;
	dst->n = src->n;
	dst->inertia = src->inertia;
	memcpy(dst->shift, src->shift, sizeof(double) * dim);
	memcpy(dst->scale, src->scale, sizeof(double) * dim);
	for (j = 0; j < k; j++)
	{
		memcpy(dst->centroids + (size_t) label[j] * dim, src->centroids + (size_t) j * dim,
			   sizeof(double) * dim);
		dst->sizes[label[j]] = src->sizes[j];
		dst->wcss[label[j]] = src->wcss[j];
	}
	return SK_OK;
}
