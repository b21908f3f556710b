/*
 * test_kmeans.c - unit tests of src/core/kmeans.c.
 *
 * Expected values are worked out by hand in the comments next to each
 * check (tiny data sets), or are properties that must hold whatever the
 * data: same seed gives the same bytes, restarts never do worse, text
 * round-trips bit for bit, and bad input gets the documented status.
 * The test allocates freely; the core never does.
 */
#include <stdint.h>
#include <stdlib.h>

#include "kmeans.h"
#include "unit.h"

/* A model together with the block it lives in. */
typedef struct owned_model
{
	sk_km_model m;
	void	   *buf;
} owned_model;

static int
model_new(owned_model *om, int k, int dim)
{
	size_t		bytes;

	om->buf = NULL;
	if (sk_km_model_size(k, dim, &bytes) != SK_OK)
		return 0;
	om->buf = malloc(bytes);
	return om->buf != NULL &&
		sk_km_model_bind(&om->m, k, dim, om->buf, bytes) == SK_OK;
}

static void
model_free(owned_model *om)
{
	free(om->buf);
	om->buf = NULL;
}

/* Fit with a right-sized workspace; the model must be bound already. */
static sk_status
fit(const double *x, size_t n, int dim, const sk_km_params *p,
	sk_km_model *m, const sk_tick *tick)
{
	size_t		bytes;
	void	   *work;
	sk_status	st;

	st = sk_km_fit_work_size(n, dim, p, &bytes);
	if (st != SK_OK)
		return st;
	work = malloc(bytes);
	if (work == NULL)
		return SK_EOVERFLOW;
	st = sk_km_fit(x, n, dim, p, work, bytes, m, tick);
	free(work);
	return st;
}

/* Bind, fit, return status; keeps the model in om on success. */
static sk_status
fit_new(owned_model *om, const double *x, size_t n, int dim,
		const sk_km_params *p)
{
	if (!model_new(om, p->k, dim))
		return SK_EINVAL;
	return fit(x, n, dim, p, &om->m, NULL);
}

static sk_status
score(const sk_km_model *m, const double *x, size_t n, size_t cap,
	  uint64_t seed, sk_km_scores *out)
{
	size_t		bytes;
	void	   *work;
	sk_status	st;

	st = sk_km_score_work_size(n, m->dim, m->k, cap, &bytes);
	if (st != SK_OK)
		return st;
	work = malloc(bytes);
	st = sk_km_score(m, x, n, cap, seed, work, bytes, out, NULL);
	free(work);
	return st;
}

/* Encode into a malloc'ed string (NULL on failure). */
static char *
encode(const sk_km_model *m)
{
	size_t		cap,
				len;
	char	   *buf;

	if (sk_km_model_text_size(m->k, m->dim, &cap) != SK_OK)
		return NULL;
	buf = malloc(cap);
	if (buf != NULL && sk_km_model_encode(m, buf, cap, &len) != SK_OK)
	{
		free(buf);
		return NULL;
	}
	return buf;
}

/* Peek, bind and decode a text of len bytes. */
static sk_status
decode(const char *text, size_t len, owned_model *om)
{
	int			k,
				dim;
	sk_status	st;

	om->buf = NULL;
	st = sk_km_model_peek(text, len, &k, &dim);
	if (st != SK_OK)
		return st;
	if (!model_new(om, k, dim))
		return SK_EINVAL;
	st = sk_km_model_decode(text, len, &om->m);
	if (st != SK_OK)
		model_free(om);
	return st;
}

/* Deterministic pseudo-random data: g groups around spread centres. */
static double *
make_blobs(size_t n, int dim, int groups, uint64_t seed)
{
	double	   *x = malloc(sizeof(double) * n * dim);
	sk_rng		rng;
	size_t		i;
	int			f;

	sk_rng_seed(&rng, seed);
	for (i = 0; i < n; i++)
	{
		int			g = (int) (i % (size_t) groups);

		for (f = 0; f < dim; f++)
			x[i * dim + f] = 10.0 * ((g * 7 + f * 3) % 11) +
				3.0 * (sk_rng_uniform(&rng) - 0.5) +
				2.0 * (sk_rng_uniform(&rng) - 0.5);
	}
	return x;
}

static int
models_identical(const sk_km_model *a, const sk_km_model *b)
{
	size_t		kd = (size_t) a->k * a->dim;

	return a->k == b->k && a->dim == b->dim && a->transform == b->transform &&
		a->iterations == b->iterations && a->converged == b->converged &&
		a->n == b->n &&
		memcmp(&a->inertia, &b->inertia, sizeof(double)) == 0 &&
		memcmp(a->shift, b->shift, sizeof(double) * a->dim) == 0 &&
		memcmp(a->scale, b->scale, sizeof(double) * a->dim) == 0 &&
		memcmp(a->centroids, b->centroids, sizeof(double) * kd) == 0 &&
		memcmp(a->sizes, b->sizes, sizeof(uint64_t) * a->k) == 0 &&
		memcmp(a->wcss, b->wcss, sizeof(double) * a->k) == 0;
}

/* ---------------------------------------------------------------------
 * Transforms
 * ---------------------------------------------------------------------
 */

static void
test_transform_names(void)
{
	sk_km_transform t;

	CHECK_STR(sk_km_transform_name(SK_KM_NONE), "none");
	CHECK_STR(sk_km_transform_name(SK_KM_ZSCORE), "zscore");
	CHECK_STR(sk_km_transform_name(SK_KM_LOG_ZSCORE), "log_zscore");
	CHECK_EQ_INT(sk_km_transform_parse("log_zscore", 10, &t), SK_OK);
	CHECK_EQ_INT(t, SK_KM_LOG_ZSCORE);
	CHECK_EQ_INT(sk_km_transform_parse("zscore", 6, &t), SK_OK);
	CHECK_EQ_INT(t, SK_KM_ZSCORE);
	CHECK_EQ_INT(sk_km_transform_parse("zscor", 5, &t), SK_EINVAL);
	CHECK_EQ_INT(sk_km_transform_parse("log", 3, &t), SK_EINVAL);
}

static void
test_zscore(void)
{
	/* feature 0: 1,2,3 -> mean 2, sd sqrt(2/3); feature 1 constant 5 */
	double		x[] = {1, 5, 2, 5, 3, 5};
	double		row[] = {3, 7};
	double		z[2];
	double		c[2];
	sk_km_params p;
	owned_model om;

	sk_km_params_init(&p, 1);
	p.transform = SK_KM_ZSCORE;
	CHECK_EQ_INT(fit_new(&om, x, 3, 2, &p), SK_OK);
	CHECK_NEAR(om.m.shift[0], 2.0, 1e-15);
	CHECK_NEAR(om.m.scale[0], sqrt(2.0 / 3.0), 1e-15);
	/* zero variance: scale 1, shift is the value, z exactly 0 */
	CHECK(om.m.shift[1] == 5.0);
	CHECK(om.m.scale[1] == 1.0);
	CHECK_EQ_INT(sk_km_transform_row(&om.m, row, z), SK_OK);
	CHECK_NEAR(z[0], 1.0 / sqrt(2.0 / 3.0), 1e-15);
	CHECK(z[1] == 2.0);
	/* k = 1: the centroid is the mean, back in original units */
	CHECK_EQ_INT(sk_km_centroid_original(&om.m, 0, c), SK_OK);
	CHECK_NEAR(c[0], 2.0, 1e-14);
	CHECK(c[1] == 5.0);
	/* inertia of z-scored rows with k = 1 is n per non-constant feature */
	CHECK_NEAR(om.m.inertia, 3.0, 1e-14);
	model_free(&om);
}

static void
test_log_zscore(void)
{
	/* g(x) = sign(x) ln(1+|x|): e-1 -> 1, 0 -> 0, -(e-1) -> -1 */
	double		e1 = exp(1.0) - 1.0;
	double		x[] = {e1, 0.0, -e1};
	double		z[1];
	double		c[1];
	double		row[1];
	sk_km_params p;
	owned_model om;

	sk_km_params_init(&p, 1);
	p.transform = SK_KM_LOG_ZSCORE;
	CHECK_EQ_INT(fit_new(&om, x, 3, 1, &p), SK_OK);
	CHECK_NEAR(om.m.shift[0], 0.0, 1e-15);
	CHECK_NEAR(om.m.scale[0], sqrt(2.0 / 3.0), 1e-15);
	CHECK_EQ_INT(sk_km_transform_row(&om.m, &x[0], z), SK_OK);
	CHECK_NEAR(z[0], 1.0 / sqrt(2.0 / 3.0), 1e-14);
	CHECK_EQ_INT(sk_km_transform_row(&om.m, &x[2], z), SK_OK);
	CHECK_NEAR(z[0], -1.0 / sqrt(2.0 / 3.0), 1e-14);
	/* the inverse maps the log-space mean 0 back to 0 */
	CHECK_EQ_INT(sk_km_centroid_original(&om.m, 0, c), SK_OK);
	CHECK_NEAR(c[0], 0.0, 1e-14);
	/* round trip of a centroid placed at transformed(999) */
	row[0] = 999.0;
	CHECK_EQ_INT(sk_km_transform_row(&om.m, row, om.m.centroids), SK_OK);
	CHECK_EQ_INT(sk_km_centroid_original(&om.m, 0, c), SK_OK);
	CHECK_NEAR(c[0], 999.0, 1e-9);
	CHECK_EQ_INT(sk_km_centroid_original(&om.m, 1, c), SK_EINVAL);
	model_free(&om);
}

static void
test_transform_none_params(void)
{
	double		x[] = {1, 100, 2, 200, 3, 300};
	sk_km_params p;
	owned_model om;

	sk_km_params_init(&p, 2);
	CHECK_EQ_INT(fit_new(&om, x, 3, 2, &p), SK_OK);
	CHECK(om.m.shift[0] == 0.0 && om.m.shift[1] == 0.0);
	CHECK(om.m.scale[0] == 1.0 && om.m.scale[1] == 1.0);
	CHECK_EQ_INT(om.m.transform, SK_KM_NONE);
	model_free(&om);
}

/* ---------------------------------------------------------------------
 * Fitting
 * ---------------------------------------------------------------------
 */

static void
test_two_groups_by_hand(void)
{
	/* {0,1} and {10,11}: centroids 0.5 and 10.5, wcss 0.5 each */
	double		x[] = {10, 0, 11, 1};
	double		row[1];
	sk_km_params p;
	owned_model om;
	int			lo,
				hi,
				c;
	double		d2;

	sk_km_params_init(&p, 2);
	p.seed = 7;
	CHECK_EQ_INT(fit_new(&om, x, 4, 1, &p), SK_OK);
	lo = om.m.centroids[0] < om.m.centroids[1] ? 0 : 1;
	hi = 1 - lo;
	CHECK(om.m.centroids[lo] == 0.5);
	CHECK(om.m.centroids[hi] == 10.5);
	CHECK_EQ_INT(om.m.sizes[lo], 2);
	CHECK_EQ_INT(om.m.sizes[hi], 2);
	CHECK(om.m.wcss[lo] == 0.5 && om.m.wcss[hi] == 0.5);
	CHECK(om.m.inertia == 1.0);
	CHECK_EQ_INT(om.m.n, 4);
	CHECK_EQ_INT(om.m.converged, 1);
	/* assignment: 4 is nearer 0.5; 7 nearer 10.5 */
	row[0] = 4;
	CHECK_EQ_INT(sk_km_assign(&om.m, row, &d2, &c, &d2), SK_OK);
	CHECK_EQ_INT(c, lo);
	CHECK(d2 == 12.25);
	row[0] = 7;
	CHECK_EQ_INT(sk_km_assign(&om.m, row, &d2, &c, NULL), SK_OK);
	CHECK_EQ_INT(c, hi);
	/* exactly between: the lower index wins */
	row[0] = 5.5;
	CHECK_EQ_INT(sk_km_assign(&om.m, row, &d2, &c, NULL), SK_OK);
	CHECK_EQ_INT(c, 0);
	row[0] = NAN;
	CHECK_EQ_INT(sk_km_assign(&om.m, row, &d2, &c, NULL), SK_EDATA);
	model_free(&om);
}

static void
test_three_groups_2d(void)
{
	/* three squares of side 2 centred on (1,1), (21,1), (11,31) */
	double		x[] = {
		0, 0, 2, 0, 0, 2, 2, 2,
		20, 0, 22, 0, 20, 2, 22, 2,
		10, 30, 12, 30, 10, 32, 12, 32
	};
	sk_km_params p;
	owned_model om;
	int			j;
	int			seen = 0;

	sk_km_params_init(&p, 3);
	p.seed = 3;
	p.restarts = 3;
	CHECK_EQ_INT(fit_new(&om, x, 12, 2, &p), SK_OK);
	for (j = 0; j < 3; j++)
	{
		double	   *c = om.m.centroids + 2 * j;

		if (c[0] == 1 && c[1] == 1)
			seen |= 1;
		if (c[0] == 21 && c[1] == 1)
			seen |= 2;
		if (c[0] == 11 && c[1] == 31)
			seen |= 4;
		CHECK_EQ_INT(om.m.sizes[j], 4);
		/* each corner is at squared distance 2 from its centre */
		CHECK(om.m.wcss[j] == 8.0);
	}
	CHECK_EQ_INT(seen, 7);
	CHECK(om.m.inertia == 24.0);
	model_free(&om);
}

/*
 * Lloyd from init {0, 3} on {0, 2, 3, 9, 10}, worked by hand:
 *   it 1: 0 -> c0; 2, 3, 9, 10 -> c1            c = {0, 6}
 *   it 2: 0, 2 -> c0; 3 ties (3 vs 3) -> c0;     c = {5/3, 9.5}
 *   it 3: no label changes: strict convergence, iterations = 3.
 * Inertia 25/9 + 1/9 + 16/9 + 0.25 + 0.25 = 14/3 + 1/2.
 */
static void
test_strict_convergence_from_init(void)
{
	double		x[] = {0, 2, 3, 9, 10};
	double		init[] = {0, 3};
	sk_km_params p;
	owned_model om;

	sk_km_params_init(&p, 2);
	p.init = init;
	p.tol = 0.0;
	p.restarts = 5;				/* ignored with an init */
	CHECK_EQ_INT(fit_new(&om, x, 5, 1, &p), SK_OK);
	CHECK_NEAR(om.m.centroids[0], 5.0 / 3.0, 1e-15);
	CHECK(om.m.centroids[1] == 9.5);
	CHECK_EQ_INT(om.m.iterations, 3);
	CHECK_EQ_INT(om.m.converged, 1);
	CHECK_EQ_INT(om.m.sizes[0], 3);
	CHECK_EQ_INT(om.m.sizes[1], 2);
	CHECK_NEAR(om.m.inertia, 14.0 / 3.0 + 0.5, 1e-13);
	model_free(&om);

	/*
	 * max_iter 1: stops at c = {0, 6} unconverged; the final labels are
	 * recomputed against those centres (3 ties to c0): sizes 3 and 2,
	 * wcss 0 + 4 + 9 and 9 + 16.
	 */
	p.max_iter = 1;
	CHECK_EQ_INT(fit_new(&om, x, 5, 1, &p), SK_OK);
	CHECK(om.m.centroids[0] == 0.0 && om.m.centroids[1] == 6.0);
	CHECK_EQ_INT(om.m.iterations, 1);
	CHECK_EQ_INT(om.m.converged, 0);
	CHECK_EQ_INT(om.m.sizes[0], 3);
	CHECK(om.m.wcss[0] == 13.0 && om.m.wcss[1] == 25.0);
	CHECK(om.m.inertia == 38.0);
	model_free(&om);

	/*
	 * Relative tolerance: variance of x is 14.8; the first move is
	 * 0^2 + 3^2 = 9, so tol = 1 (threshold 14.8) stops after iteration 1
	 * as converged, and tol = 0.5 (7.4) does not.
	 */
	p.max_iter = 300;
	p.tol = 1.0;
	CHECK_EQ_INT(fit_new(&om, x, 5, 1, &p), SK_OK);
	CHECK_EQ_INT(om.m.iterations, 1);
	CHECK_EQ_INT(om.m.converged, 1);
	model_free(&om);
	p.tol = 0.5;
	CHECK_EQ_INT(fit_new(&om, x, 5, 1, &p), SK_OK);
	CHECK(om.m.iterations > 1);
	model_free(&om);
}

/*
 * Empty cluster: init {0, 11, 100} on {0,1,2,10,11,12}.  Iteration 1
 * leaves c2 empty; the row farthest from its own centre is 2 (distance^2
 * 4 to c0), so c2 = 2 and c0 = mean{0,1} = 0.5.  Iteration 2 moves 2 to
 * c2, the centres do not move (shift 0 <= tol 0): stop, iterations 2.
 */
static void
test_empty_cluster_relocation(void)
{
	double		x[] = {0, 1, 2, 10, 11, 12};
	double		init[] = {0, 11, 100};
	sk_km_params p;
	owned_model om;

	sk_km_params_init(&p, 3);
	p.init = init;
	p.tol = 0.0;
	CHECK_EQ_INT(fit_new(&om, x, 6, 1, &p), SK_OK);
	CHECK(om.m.centroids[0] == 0.5);
	CHECK(om.m.centroids[1] == 11.0);
	CHECK(om.m.centroids[2] == 2.0);
	CHECK_EQ_INT(om.m.sizes[0], 2);
	CHECK_EQ_INT(om.m.sizes[1], 3);
	CHECK_EQ_INT(om.m.sizes[2], 1);
	CHECK(om.m.inertia == 2.5);
	CHECK_EQ_INT(om.m.iterations, 2);
	model_free(&om);
}

/* Same data, k, options and seed: the same bytes; another seed differs. */
static void
test_seed_determinism(void)
{
	size_t		n = 3000;
	double	   *x = make_blobs(n, 3, 7, 11);
	sk_km_params p;
	owned_model a,
				b,
				c;
	char	   *ta,
			   *tb,
			   *tc;

	sk_km_params_init(&p, 5);
	p.seed = 12345;
	p.restarts = 2;
	p.transform = SK_KM_LOG_ZSCORE;
	CHECK_EQ_INT(fit_new(&a, x, n, 3, &p), SK_OK);
	CHECK_EQ_INT(fit_new(&b, x, n, 3, &p), SK_OK);
	p.seed = 54321;
	CHECK_EQ_INT(fit_new(&c, x, n, 3, &p), SK_OK);
	CHECK(models_identical(&a.m, &b.m));
	ta = encode(&a.m);
	tb = encode(&b.m);
	tc = encode(&c.m);
	CHECK(ta != NULL && tb != NULL && tc != NULL);
	if (ta && tb && tc)
	{
		CHECK_STR(ta, tb);
		CHECK(strcmp(ta, tc) != 0);
	}
	free(ta);
	free(tb);
	free(tc);
	model_free(&a);
	model_free(&b);
	model_free(&c);
	free(x);
}

/*
 * The model depends on the multiset of rows, not their order: a shuffled
 * copy (with duplicated rows and a forced empty-cluster relocation among
 * the cases) gives the same bytes, for every transform.
 */
static void
test_row_order_independence(void)
{
	size_t		n = 4000;
	int			dim = 3;
	double	   *x = make_blobs(n, dim, 6, 21);
	double	   *y = malloc(sizeof(double) * n * dim);
	double		init[] = {0, 0, 0, 1e3, 1e3, 1e3, 10, 10, 10};
	sk_rng		rng;
	size_t		i;
	int			t,
				same = 1;

	/* every 10th row repeats its predecessor: ties in the canonical order */
	for (i = 1; i < n; i += 10)
		memcpy(x + i * dim, x + (i - 1) * dim, sizeof(double) * dim);
	memcpy(y, x, sizeof(double) * n * dim);
	sk_rng_seed(&rng, 77);
	for (i = n - 1; i > 0; i--)
	{
		size_t		j = (size_t) sk_rng_below(&rng, i + 1);
		double		tmp[3];

		memcpy(tmp, y + i * dim, sizeof(tmp));
		memcpy(y + i * dim, y + j * dim, sizeof(tmp));
		memcpy(y + j * dim, tmp, sizeof(tmp));
	}
	for (t = 0; t < 4; t++)
	{
		sk_km_params p;
		owned_model a,
					b;

		sk_km_params_init(&p, 7);
		p.seed = 3 + t;
		p.restarts = 2;
		p.transform = (sk_km_transform) (t % 3);
		if (t == 3)
		{
			/* init far from the rows: a centre empties and is relocated */
			p.k = 3;
			p.init = init;
		}
		CHECK_EQ_INT(fit_new(&a, x, n, dim, &p), SK_OK);
		CHECK_EQ_INT(fit_new(&b, y, n, dim, &p), SK_OK);
		same &= models_identical(&a.m, &b.m);
		model_free(&a);
		model_free(&b);
	}
	CHECK(same);
	free(x);
	free(y);
}

/* Restarts keep the lowest inertia: never worse than run 1 of the seed. */
static void
test_restarts_pick_lowest(void)
{
	size_t		n = 600;
	double	   *x = make_blobs(n, 2, 9, 5);
	sk_km_params p;
	uint64_t	s;
	int			never_worse = 1,
				sometimes_better = 0;

	sk_km_params_init(&p, 6);
	for (s = 0; s < 20; s++)
	{
		owned_model one,
					many;

		p.seed = s;
		p.restarts = 1;
		CHECK_EQ_INT(fit_new(&one, x, n, 2, &p), SK_OK);
		p.restarts = 8;
		CHECK_EQ_INT(fit_new(&many, x, n, 2, &p), SK_OK);
		never_worse &= many.m.inertia <= one.m.inertia;
		sometimes_better |= many.m.inertia < one.m.inertia;
		model_free(&one);
		model_free(&many);
	}
	CHECK(never_worse);
	CHECK(sometimes_better);
	free(x);
}

/*
 * Hamerly's pruning must give what a plain Lloyd gives: the same labels
 * in every iteration, so the same iterations and cluster sizes.  The fit
 * sums clusters exactly in fixed point (order-independent), the plain
 * Lloyd here in doubles, so centroids agree to rounding, not bit for bit.
 */
static void
test_matches_plain_lloyd(void)
{
	size_t		n = 2000;
	int			dim = 3,
				k = 6;
	double	   *x = make_blobs(n, dim, 5, 99);
	double	   *c = malloc(sizeof(double) * k * dim);
	double	   *s = malloc(sizeof(double) * k * dim);
	int		   *lab = malloc(sizeof(int) * n);
	size_t		cnt[6];
	sk_km_params p;
	owned_model om;
	int			it,
				j,
				f;
	size_t		i;
	double		maxdiff = 0.0;

	/* init: rows 0, 1, 2, 3, 4, 10 (spread over the groups) */
	for (j = 0; j < k; j++)
		memcpy(c + j * dim, x + (j < 5 ? j : 10) * dim, sizeof(double) * dim);
	sk_km_params_init(&p, k);
	p.init = c;
	p.tol = 0.0;
	CHECK_EQ_INT(fit_new(&om, x, n, dim, &p), SK_OK);

	for (i = 0; i < n; i++)
		lab[i] = -1;
	for (it = 0; it < 300; it++)
	{
		int			changed = 0;

		memset(s, 0, sizeof(double) * k * dim);
		memset(cnt, 0, sizeof(cnt));
		for (i = 0; i < n; i++)
		{
			int			best = 0;
			double		bd = INFINITY;

			for (j = 0; j < k; j++)
			{
				double		d = 0;

				for (f = 0; f < dim; f++)
					d += (x[i * dim + f] - c[j * dim + f]) * (x[i * dim + f] - c[j * dim + f]);
				if (d < bd)
				{
					bd = d;
					best = j;
				}
			}
			changed |= best != lab[i];
			lab[i] = best;
			cnt[best]++;
			for (f = 0; f < dim; f++)
				s[best * dim + f] += x[i * dim + f];
		}
		for (j = 0; j < k; j++)
			for (f = 0; f < dim; f++)
				c[j * dim + f] = s[j * dim + f] / cnt[j];
		if (!changed)
			break;
	}
	CHECK_EQ_INT(om.m.iterations, it + 1);
	for (j = 0; j < k; j++)
		CHECK_EQ_INT(om.m.sizes[j], cnt[j]);
	for (j = 0; j < k * dim; j++)
		maxdiff = fmax(maxdiff, fabs(om.m.centroids[j] - c[j]));
	CHECK(maxdiff <= 1e-12);
	model_free(&om);
	free(x);
	free(c);
	free(s);
	free(lab);
}

/*
 * With few centres of few features the fit labels rows four at a time
 * (AVX2) instead of pruning with bounds; both must give the same model
 * bit for bit, including on ties: rows on a small integer grid, many
 * duplicates, equidistant from several centres.  Row counts that are not
 * multiples of 4 or of the 64-row block exercise the scalar tails.
 */
static void
test_blocks_match_bounds(void)
{
	static const int ks[] = {1, 2, 3, 5, 8};
	static const size_t ns[] = {9, 67, 1003, 4099};
	int			simd = sk_km_set_simd(1);
	int			dim,
				ki,
				ni,
				grid;

	if (!simd)
		printf("# note: no AVX2 on this CPU; the block path is the scalar one here\n");
	for (grid = 0; grid < 2; grid++)
		for (dim = 1; dim <= 4; dim++)
			for (ki = 0; ki < 5; ki++)
				for (ni = 0; ni < 4; ni++)
				{
					size_t		n = ns[ni];
					double	   *x = make_blobs(n, dim, 4, 7 + dim + ki);
					sk_km_params p;
					owned_model a,
								b;
					size_t		i;

					if (grid)	/* ties everywhere */
						for (i = 0; i < n * dim; i++)
							x[i] = (double) ((long) x[i] % 3);
					sk_km_params_init(&p, ks[ki]);
					p.seed = 11 + ni;
					p.restarts = 2;
					p.transform = ki % 2 ? SK_KM_ZSCORE : SK_KM_NONE;
					sk_km_set_simd(1);
					if (fit_new(&a, x, n, dim, &p) == SK_EINVAL)
					{
						/* fewer distinct rows than k: both paths agree on that */
						sk_km_set_simd(0);
						CHECK_EQ_INT(fit_new(&b, x, n, dim, &p), SK_EINVAL);
					}
					else
					{
						sk_km_set_simd(0);
						CHECK_EQ_INT(fit_new(&b, x, n, dim, &p), SK_OK);
						CHECK(models_identical(&a.m, &b.m));
					}
					model_free(&a);
					model_free(&b);
					free(x);
				}
	sk_km_set_simd(1);
}

static void
test_sample_cap(void)
{
	size_t		n = 5000;
	double	   *x = make_blobs(n, 2, 4, 1);
	sk_km_params p;
	owned_model a,
				b;
	sk_rng		rng;
	uint64_t	slot;

	sk_km_params_init(&p, 4);
	p.sample_cap = 500;
	p.seed = 9;
	p.transform = SK_KM_ZSCORE;
	CHECK_EQ_INT(fit_new(&a, x, n, 2, &p), SK_OK);
	CHECK_EQ_INT(fit_new(&b, x, n, 2, &p), SK_OK);
	CHECK_EQ_INT(a.m.n, 500);
	CHECK(models_identical(&a.m, &b.m));
	model_free(&a);
	model_free(&b);
	/* k larger than the sample is refused */
	p.k = 4;
	p.sample_cap = 3;
	CHECK_EQ_INT(fit_new(&a, x, n, 2, &p), SK_EINVAL);
	model_free(&a);
	/* reservoir: the first cap rows always go to their own slot */
	sk_rng_seed(&rng, 1);
	CHECK_EQ_INT(sk_km_reservoir_slot(&rng, 2, 10, &slot), 1);
	CHECK_EQ_INT(slot, 2);
	CHECK_EQ_INT(sk_km_reservoir_slot(&rng, 5, 0, &slot), 0);
	free(x);
}

static int
cancel_now(void *arg)
{
	int		   *calls = arg;

	return ++*calls >= 2;
}

static void
test_cancel(void)
{
	size_t		n = 20000;
	double	   *x = make_blobs(n, 2, 4, 1);
	sk_km_params p;
	owned_model om;
	sk_km_scores sc;
	int			calls = 0;
	sk_tick		tick = {cancel_now, &calls};
	size_t		bytes;
	void	   *work;

	sk_km_params_init(&p, 4);
	CHECK(model_new(&om, 4, 2));
	CHECK_EQ_INT(fit(x, n, 2, &p, &om.m, &tick), SK_ECANCEL);
	CHECK(calls >= 2);
	CHECK_EQ_INT(fit(x, n, 2, &p, &om.m, NULL), SK_OK);
	calls = 0;
	CHECK_EQ_INT(sk_km_score_work_size(n, 2, 4, 100, &bytes), SK_OK);
	work = malloc(bytes);
	CHECK_EQ_INT(sk_km_score(&om.m, x, n, 100, 1, work, bytes, &sc, &tick),
				 SK_ECANCEL);
	free(work);
	model_free(&om);
	free(x);
}

/* ---------------------------------------------------------------------
 * Bad input
 * ---------------------------------------------------------------------
 */

static void
test_bad_input(void)
{
	double		x[] = {0, 1, 2, 3, 4, 5, 6, 7};
	double		dup[] = {1, 1, 1, 2, 2, 1, 1, 2};	/* 2 distinct in 1-D */
	double		init3[] = {1, 2, 3};
	double		bad_init[] = {1, NAN};
	double		big[] = {1e200, -1e200, 0, 5};
	double		work[128];
	double		mbuf[64];
	sk_km_params p;
	sk_km_model m;
	size_t		bytes;

	CHECK_EQ_INT(sk_km_model_bind(&m, 2, 1, mbuf, sizeof(mbuf)), SK_OK);
	sk_km_params_init(&p, 2);
	CHECK_EQ_INT(sk_km_fit(x, 8, 1, &p, work, sizeof(work), &m, NULL), SK_OK);
	/* k */
	p.k = 0;
	CHECK_EQ_INT(sk_km_fit(x, 8, 1, &p, work, sizeof(work), &m, NULL), SK_EINVAL);
	p.k = -3;
	CHECK_EQ_INT(sk_km_fit(x, 8, 1, &p, work, sizeof(work), &m, NULL), SK_EINVAL);
	p.k = SK_KM_MAX_K + 1;
	CHECK_EQ_INT(sk_km_fit(x, 8, 1, &p, work, sizeof(work), &m, NULL), SK_ELIMIT);
	CHECK_EQ_INT(sk_km_fit_work_size(8, 1, &p, &bytes), SK_ELIMIT);
	CHECK_EQ_INT(sk_km_model_size(SK_KM_MAX_K + 1, 1, &bytes), SK_ELIMIT);
	p.k = 9;					/* more clusters than rows */
	CHECK_EQ_INT(sk_km_fit(x, 8, 1, &p, work, sizeof(work), &m, NULL), SK_EINVAL);
	/* dim */
	p.k = 2;
	CHECK_EQ_INT(sk_km_fit(x, 8, 0, &p, work, sizeof(work), &m, NULL), SK_EINVAL);
	CHECK_EQ_INT(sk_km_fit(x, 8, SK_KM_MAX_DIM + 1, &p, work, sizeof(work), &m, NULL),
				 SK_ELIMIT);
	CHECK_EQ_INT(sk_km_model_size(2, SK_KM_MAX_DIM + 1, &bytes), SK_ELIMIT);
	CHECK_EQ_INT(sk_km_model_size(2, 0, &bytes), SK_EINVAL);
	CHECK_EQ_INT(sk_km_fit(x, 4, 2, &p, work, sizeof(work), &m, NULL), SK_EINVAL);	/* model dim 1 */
	/* n */
	CHECK_EQ_INT(sk_km_fit(x, 0, 1, &p, work, sizeof(work), &m, NULL), SK_EINVAL);
	/* NaN / Inf anywhere */
	x[5] = NAN;
	CHECK_EQ_INT(sk_km_fit(x, 8, 1, &p, work, sizeof(work), &m, NULL), SK_EDATA);
	x[5] = -INFINITY;
	CHECK_EQ_INT(sk_km_fit(x, 8, 1, &p, work, sizeof(work), &m, NULL), SK_EDATA);
	p.transform = SK_KM_LOG_ZSCORE;
	x[5] = INFINITY;
	CHECK_EQ_INT(sk_km_fit(x, 8, 1, &p, work, sizeof(work), &m, NULL), SK_EDATA);
	x[5] = 5;
	p.transform = SK_KM_NONE;
	/* k > distinct rows, seen by k-means++ and by the init path */
	p.k = 3;
	CHECK_EQ_INT(sk_km_model_bind(&m, 3, 1, mbuf, sizeof(mbuf)), SK_OK);
	CHECK_EQ_INT(sk_km_fit(dup, 8, 1, &p, work, sizeof(work), &m, NULL), SK_EINVAL);
	p.init = init3;
	CHECK_EQ_INT(sk_km_fit(dup, 8, 1, &p, work, sizeof(work), &m, NULL), SK_EINVAL);
	p.init = NULL;
	p.k = 2;
	CHECK_EQ_INT(sk_km_model_bind(&m, 2, 1, mbuf, sizeof(mbuf)), SK_OK);
	CHECK_EQ_INT(sk_km_fit(dup, 8, 1, &p, work, sizeof(work), &m, NULL), SK_OK);
	/* exactly k distinct: two clusters of identical rows, inertia 0 */
	CHECK(m.inertia == 0.0);
	/* init with NaN */
	p.init = bad_init;
	CHECK_EQ_INT(sk_km_fit(x, 8, 1, &p, work, sizeof(work), &m, NULL), SK_EDATA);
	p.init = NULL;
	/* other params */
	p.restarts = 0;
	CHECK_EQ_INT(sk_km_fit(x, 8, 1, &p, work, sizeof(work), &m, NULL), SK_EINVAL);
	p.restarts = SK_KM_MAX_RESTARTS + 1;
	CHECK_EQ_INT(sk_km_fit(x, 8, 1, &p, work, sizeof(work), &m, NULL), SK_ELIMIT);
	p.restarts = 1;
	p.max_iter = 0;
	CHECK_EQ_INT(sk_km_fit(x, 8, 1, &p, work, sizeof(work), &m, NULL), SK_EINVAL);
	p.max_iter = 300;
	p.tol = -1;
	CHECK_EQ_INT(sk_km_fit(x, 8, 1, &p, work, sizeof(work), &m, NULL), SK_EINVAL);
	p.tol = NAN;
	CHECK_EQ_INT(sk_km_fit(x, 8, 1, &p, work, sizeof(work), &m, NULL), SK_EINVAL);
	p.tol = 1e-4;
	p.transform = (sk_km_transform) 7;
	CHECK_EQ_INT(sk_km_fit(x, 8, 1, &p, work, sizeof(work), &m, NULL), SK_EINVAL);
	p.transform = SK_KM_NONE;
	/* workspace too small, misaligned; model block too small */
	CHECK_EQ_INT(sk_km_fit(x, 8, 1, &p, work, 16, &m, NULL), SK_EINVAL);
	CHECK_EQ_INT(sk_km_fit(x, 8, 1, &p, (char *) work + 1, sizeof(work) - 8, &m, NULL),
				 SK_EINVAL);
	CHECK_EQ_INT(sk_km_model_bind(&m, 2, 1, mbuf, 8), SK_EINVAL);
	/* values whose squares overflow */
	CHECK_EQ_INT(sk_km_model_bind(&m, 2, 1, mbuf, sizeof(mbuf)), SK_OK);
	CHECK_EQ_INT(sk_km_fit(big, 4, 1, &p, work, sizeof(work), &m, NULL), SK_EOVERFLOW);
	p.transform = SK_KM_ZSCORE;
	CHECK_EQ_INT(sk_km_fit(big, 4, 1, &p, work, sizeof(work), &m, NULL), SK_EOVERFLOW);
	/* just inside the limit: distances beyond float range in the bounds */
	{
		double		huge[] = {-1e149, -0.9e149, 1e149, 0.9e149};
		double		init[] = {-1e149, -0.9e149};

		p.transform = SK_KM_NONE;
		p.init = init;
		CHECK_EQ_INT(sk_km_fit(huge, 4, 1, &p, work, sizeof(work), &m, NULL), SK_OK);
		CHECK_NEAR(m.centroids[0] / 1e149, -0.95, 1e-15);
		CHECK_NEAR(m.centroids[1] / 1e149, 0.95, 1e-15);
		p.init = NULL;
	}
	/* ...and the log transform tames the too-large ones */
	p.transform = SK_KM_LOG_ZSCORE;
	CHECK_EQ_INT(sk_km_fit(big, 4, 1, &p, work, sizeof(work), &m, NULL), SK_OK);
	/* size helpers report overflow */
	p.transform = SK_KM_NONE;
	p.k = 2;
	CHECK_EQ_INT(sk_km_fit_work_size(SIZE_MAX / 4, 1000, &p, &bytes), SK_EOVERFLOW);
	CHECK_EQ_INT(sk_km_score_work_size(SIZE_MAX / 4, 1000, 2, 0, &bytes), SK_EOVERFLOW);
	CHECK_EQ_INT(sk_km_model_text_size(SK_KM_MAX_K, SK_KM_MAX_DIM, &bytes), SK_OK);
	CHECK(bytes > (size_t) SK_KM_MAX_K * SK_KM_MAX_DIM * 25);
}

/* ---------------------------------------------------------------------
 * Choosing k: silhouette and Davies-Bouldin by hand
 * ---------------------------------------------------------------------
 */

/* A model with transform none and the given 1-D centroids. */
static void
hand_model(owned_model *om, const double *cen, int k)
{
	int			j;

	CHECK(model_new(om, k, 1));
	om->m.shift[0] = 0.0;
	om->m.scale[0] = 1.0;
	for (j = 0; j < k; j++)
		om->m.centroids[j] = cen[j];
	om->m.iterations = 1;
}

static void
test_scores_two_clusters(void)
{
	/*
	 * {0,1} {10,11}.  Silhouette: a = 1 for every row; b = 10.5 for the
	 * outer rows, 9.5 for the inner ones.  Davies-Bouldin: S = 0.5 each,
	 * centre distance 10, so (0.5 + 0.5) / 10 = 0.1.
	 */
	double		x[] = {0, 1, 10, 11};
	double		cen[] = {0.5, 10.5};
	owned_model om;
	sk_km_scores sc;

	hand_model(&om, cen, 2);
	CHECK_EQ_INT(score(&om.m, x, 4, 0, 0, &sc), SK_OK);
	CHECK(sc.inertia == 1.0);
	CHECK_NEAR(sc.silhouette, (9.5 / 10.5 + 8.5 / 9.5) / 2.0, 1e-15);
	CHECK_NEAR(sc.davies_bouldin, 0.1, 1e-15);
	CHECK_EQ_INT(sc.silhouette_n, 4);
	model_free(&om);
}

static void
test_scores_three_clusters(void)
{
	/*
	 * {0,2} {10} {20,22}: means 1, 10, 21; S = 1, 0, 1.
	 * DB: R_A = max(1/9, 2/20) = 1/9, R_B = max(1/9, 1/11) = 1/9,
	 *     R_C = max(2/20, 1/11) = 1/10; DB = (2/9 + 1/10) / 3.
	 * Silhouette: 0: a 2, b min(10, 21) -> 0.8; 2: a 2, b 8 -> 0.75;
	 *   10 alone -> 0; 20: a 2, b min(10, 19) -> 0.8;
	 *   22: a 2, b min(12, 21) -> 10/12.
	 */
	double		x[] = {0, 2, 10, 20, 22};
	double		cen[] = {1, 10, 21};
	owned_model om;
	sk_km_scores sc,
				sc2;

	hand_model(&om, cen, 3);
	CHECK_EQ_INT(score(&om.m, x, 5, 0, 0, &sc), SK_OK);
	CHECK_NEAR(sc.davies_bouldin, (2.0 / 9.0 + 0.1) / 3.0, 1e-15);
	CHECK_NEAR(sc.silhouette, (0.8 + 0.75 + 0 + 0.8 + 10.0 / 12.0) / 5.0, 1e-15);
	CHECK(sc.inertia == 4.0);
	/* sampled: 4 of 5 rows, reproducible by seed */
	CHECK_EQ_INT(score(&om.m, x, 5, 4, 42, &sc), SK_OK);
	CHECK_EQ_INT(score(&om.m, x, 5, 4, 42, &sc2), SK_OK);
	CHECK_EQ_INT(sc.silhouette_n, 4);
	CHECK(memcmp(&sc.silhouette, &sc2.silhouette, sizeof(double)) == 0);
	CHECK(sc.silhouette >= -1.0 && sc.silhouette <= 1.0);
	/* DB and inertia do not depend on the sample */
	CHECK_NEAR(sc.davies_bouldin, (2.0 / 9.0 + 0.1) / 3.0, 1e-15);
	model_free(&om);
}

static void
test_scores_undefined(void)
{
	double		x[] = {0, 1, 2};
	double		one[] = {1};
	double		far[] = {1, 1000};
	owned_model om;
	sk_km_scores sc;

	/* k = 1: inertia defined, the others not */
	hand_model(&om, one, 1);
	CHECK_EQ_INT(score(&om.m, x, 3, 0, 0, &sc), SK_OK);
	CHECK(sc.inertia == 2.0);
	CHECK(isnan(sc.silhouette));
	CHECK(isnan(sc.davies_bouldin));
	model_free(&om);
	/* second centroid attracts no row: only one cluster present */
	hand_model(&om, far, 2);
	CHECK_EQ_INT(score(&om.m, x, 3, 0, 0, &sc), SK_OK);
	CHECK(isnan(sc.silhouette));
	CHECK(isnan(sc.davies_bouldin));
	x[1] = NAN;
	CHECK_EQ_INT(score(&om.m, x, 3, 0, 0, &sc), SK_EDATA);
	model_free(&om);
}

/* ---------------------------------------------------------------------
 * Model text
 * ---------------------------------------------------------------------
 */

static const char *good_text =
"kmeans v1 k=2 dim=2 transform=zscore n=4 iterations=2 converged=1 "
"inertia=1.5 shift=2,-0.5 scale=1,0.25 "
"cluster=3,1,0.5,-1 cluster=1,0.5,0.10000000000000001,2";

static void
test_text_round_trip_fit(void)
{
	size_t		n = 1500;
	double	   *x = make_blobs(n, 4, 5, 77);
	sk_km_transform t;

	for (t = SK_KM_NONE; t <= SK_KM_LOG_ZSCORE; t++)
	{
		sk_km_params p;
		owned_model a,
					b;
		char	   *ta,
				   *tb;

		sk_km_params_init(&p, 5);
		p.transform = t;
		p.seed = 3;
		CHECK_EQ_INT(fit_new(&a, x, n, 4, &p), SK_OK);
		ta = encode(&a.m);
		CHECK(ta != NULL);
		if (ta == NULL)
			continue;
		CHECK_EQ_INT(decode(ta, strlen(ta), &b), SK_OK);
		if (b.buf != NULL)
		{
			CHECK(models_identical(&a.m, &b.m));
			tb = encode(&b.m);
			CHECK(tb != NULL && strcmp(ta, tb) == 0);
			free(tb);
			model_free(&b);
		}
		free(ta);
		model_free(&a);
	}
	free(x);
}

static void
test_text_round_trip_hand(void)
{
	owned_model om;
	char	   *t;

	CHECK_EQ_INT(decode(good_text, strlen(good_text), &om), SK_OK);
	if (om.buf == NULL)
		return;
	CHECK_EQ_INT(om.m.k, 2);
	CHECK_EQ_INT(om.m.dim, 2);
	CHECK_EQ_INT(om.m.transform, SK_KM_ZSCORE);
	CHECK_EQ_INT(om.m.n, 4);
	CHECK_EQ_INT(om.m.sizes[0], 3);
	CHECK(om.m.centroids[2] == 0.1);
	CHECK(om.m.scale[1] == 0.25);
	t = encode(&om.m);
	CHECK_STR(t, good_text);
	free(t);
	/* awkward doubles survive bit for bit */
	om.m.centroids[0] = -0.0;
	om.m.centroids[1] = 4.9406564584124654e-324;
	om.m.centroids[3] = 9.8765432109876543e+149;
	om.m.shift[0] = 1.0 / 3.0;
	om.m.wcss[1] = 0.1 + 0.2;
	om.m.inertia = om.m.wcss[0] + om.m.wcss[1];
	t = encode(&om.m);
	if (t != NULL)
	{
		owned_model b;

		CHECK_EQ_INT(decode(t, strlen(t), &b), SK_OK);
		if (b.buf != NULL)
		{
			CHECK(models_identical(&om.m, &b.m));
			CHECK(signbit(b.m.centroids[0]));
			model_free(&b);
		}
		free(t);
	}
	/* unprintable model; buffer too small */
	om.m.wcss[0] = NAN;
	{
		char		small[8];
		size_t		len;

		CHECK_EQ_INT(sk_km_model_encode(&om.m, small, sizeof(small), &len), SK_EDATA);
		om.m.wcss[0] = 1;
		CHECK_EQ_INT(sk_km_model_encode(&om.m, small, sizeof(small), &len), SK_EINVAL);
	}
	model_free(&om);
}

/* Replace the first occurrence of from by to in good_text. */
static char *
mutate(const char *from, const char *to)
{
	const char *at = strstr(good_text, from);
	size_t		len = strlen(good_text) - strlen(from) + strlen(to);
	char	   *out = malloc(len + 1);
	size_t		pre = (size_t) (at - good_text);

	memcpy(out, good_text, pre);
	memcpy(out + pre, to, strlen(to));
	strcpy(out + pre + strlen(to), at + strlen(from));
	return out;
}

static void
expect_rejected(const char *from, const char *to, int line)
{
	char	   *t = mutate(from, to);
	owned_model om;
	sk_status	st = decode(t, strlen(t), &om);

	if (st != SK_EDATA)
		fprintf(stderr, "line %d: accepted or wrong status %d: %s\n", line, (int) st, t);
	CHECK_EQ_INT(st, SK_EDATA);
	if (st == SK_OK)
		model_free(&om);
	free(t);
}

#define REJECT(from, to) expect_rejected((from), (to), __LINE__)

static void
test_text_rejects(void)
{
	size_t		len = strlen(good_text);
	size_t		cut;
	int			all_truncations_rejected = 1;
	owned_model om;

	/* every proper prefix is incomplete */
	for (cut = 0; cut < len; cut++)
	{
		sk_status	st = decode(good_text, cut, &om);

		if (st != SK_EDATA)
		{
			all_truncations_rejected = 0;
			fprintf(stderr, "prefix %zu: status %d\n", cut, (int) st);
			if (st == SK_OK)
				model_free(&om);
		}
	}
	/* the text ends in a one-digit number, so no prefix is complete */
	CHECK(all_truncations_rejected);
	/* an embedded NUL within the given length */
	{
		char	   *t = malloc(len + 1);

		memcpy(t, good_text, len);
		t[len] = '\0';
		CHECK_EQ_INT(decode(t, len + 1, &om), SK_EDATA);
		t[10] = '\0';
		CHECK_EQ_INT(decode(t, len, &om), SK_EDATA);
		free(t);
	}
	/* syntax */
	REJECT("kmeans v1", "kmeans v2");
	REJECT("kmeans v1", "kmeans  v1");
	REJECT(" dim=2", " dim=02");
	REJECT(" k=2", " k=+2");
	REJECT("n=4", "n=-4");
	REJECT("transform=zscore", "transform=log");
	REJECT("transform=zscore", "transform=");
	REJECT("inertia=1.5", "inertia=0x1.8p+0");
	REJECT("inertia=1.5", "inertia=nan");
	REJECT("inertia=1.5", "inertia=inf");
	REJECT("inertia=1.5", "inertia=1e999");
	REJECT("inertia=1.5", "inertia=1.5.5");
	REJECT("inertia=1.5", "inertia=");
	REJECT("inertia=1.5", "inertia=.5");
	REJECT("inertia=1.5", "inertia=1.50000000000000000000000000000000000000000000");
	REJECT("shift=2,-0.5", "shift=2");
	REJECT("shift=2,-0.5", "shift=2,-0.5,1");
	REJECT("shift=2,-0.5", "shift=2,,-0.5");
	REJECT("shift=2,-0.5", "shift=2;-0.5");
	REJECT("cluster=1,0.5,0.10000000000000001,2", "cluster=1,0.5,0.1");
	REJECT("cluster=1,0.5,0.10000000000000001,2",
		   "cluster=1,0.5,0.10000000000000001,2 cluster=0,0,1,1");
	REJECT("0.10000000000000001,2", "0.10000000000000001,2 ");
	REJECT("0.10000000000000001,2", "0.10000000000000001,2\n");
	REJECT("converged=1", "converged=2");
	REJECT("iterations=2", "iterations=0");
	/* out of range */
	REJECT("k=2", "k=0");
	REJECT("k=2", "k=1001");
	REJECT("k=2", "k=99999999999999999999999");
	REJECT("dim=2", "dim=1001");
	REJECT("n=4", "n=0");
	/* inconsistent */
	REJECT("k=2", "k=1");
	REJECT("k=2", "k=3");
	REJECT("dim=2", "dim=1");
	REJECT("n=4", "n=5");
	REJECT("cluster=3,1,", "cluster=2,1,");
	REJECT("inertia=1.5", "inertia=1.6");
	REJECT("cluster=3,1,", "cluster=3,-1,");
	REJECT("cluster=1,0.5,", "cluster=0,0.5,");
	REJECT("scale=1,0.25", "scale=1,0");
	REJECT("scale=1,0.25", "scale=1,-0.25");
	REJECT("transform=zscore", "transform=none");
	REJECT("0.5,-1 ", "0.5,1e151 ");
	/* n (and so a size) past INT64_MAX: a size SQL would show negative */
	{
		const char *fits = "kmeans v1 k=2 dim=2 transform=zscore n=9223372036854775807 "
			"iterations=2 converged=1 inertia=1.5 shift=2,-0.5 scale=1,0.25 "
			"cluster=9223372036854775806,1,0.5,-1 cluster=1,0.5,0.10000000000000001,2";
		const char *over = "kmeans v1 k=2 dim=2 transform=zscore n=9223372036854775808 "
			"iterations=2 converged=1 inertia=1.5 shift=2,-0.5 scale=1,0.25 "
			"cluster=9223372036854775807,1,0.5,-1 cluster=1,0.5,0.10000000000000001,2";

		CHECK_EQ_INT(decode(fits, strlen(fits), &om), SK_OK);
		if (om.buf != NULL)
		{
			CHECK(om.m.n == (uint64_t) INT64_MAX);
			model_free(&om);
		}
		CHECK_EQ_INT(decode(over, strlen(over), &om), SK_EDATA);
	}
	/* peek alone */
	CHECK_EQ_INT(sk_km_model_peek("kmeans v1 k=3", 13, &(int){0}, &(int){0}), SK_EDATA);
	CHECK_EQ_INT(sk_km_model_peek("", 0, &(int){0}, &(int){0}), SK_EDATA);
}

/* Every single-byte change either parses to a valid model or is EDATA. */
static void
test_text_byte_flips(void)
{
	size_t		len = strlen(good_text);
	char	   *t = malloc(len);
	const char	repl[] = "0 9-.,=eEkx\n\377";
	size_t		i,
				r;
	int			ok = 1;

	for (i = 0; i < len; i++)
		for (r = 0; r < sizeof(repl) - 1; r++)
		{
			owned_model om;
			sk_status	st;

			memcpy(t, good_text, len);
			t[i] = repl[r];
			st = decode(t, len, &om);
			if (st == SK_OK)
				model_free(&om);
			else if (st != SK_EDATA)
				ok = 0;
		}
	CHECK(ok);
	free(t);
}

/* A 1-feature model of k clusters bound by hand. */
static void
hand_model1(owned_model *om, int k, sk_km_transform t, double shift, double scale,
		   const double *centroids)
{
	int			j;

	model_new(om, k, 1);
	om->m.transform = t;
	om->m.iterations = 1;
	om->m.converged = 1;
	om->m.shift[0] = shift;
	om->m.scale[0] = scale;
	om->m.n = 0;
	for (j = 0; j < k; j++)
	{
		om->m.centroids[j] = centroids[j];
		om->m.sizes[j] = (uint64_t) (j + 1);
		om->m.wcss[j] = (double) j;
		om->m.n += (uint64_t) (j + 1);
		om->m.inertia += (double) j;
	}
}

static sk_status
match(const sk_km_model *m, const sk_km_model *ref, int *to_ref, double *d2)
{
	size_t		bytes;
	void	   *work;
	sk_status	st = sk_km_match_work_size(m->k, &bytes);

	if (st != SK_OK)
		return st;
	work = malloc(bytes);
	st = sk_km_match(m, ref, work, bytes, to_ref, d2, NULL);
	free(work);
	return st;
}

/*
 * Centroids {0, 2} against {1.9, 4}: the greedy pairing takes the closest
 * pair first (2 - 1.9, 0.01) and is left with 0 - 4 (16): 16.01 in all.
 * The least total pairs 0 - 1.9 (3.61) and 2 - 4 (4): 7.61.
 */
static void
test_match_least_total(void)
{
	double		a[] = {0, 2},
				b[] = {1.9, 4};
	owned_model m,
				r;
	int			to[2];
	double		d2[2];

	hand_model1(&m, 2, SK_KM_NONE, 0, 1, a);
	hand_model1(&r, 2, SK_KM_NONE, 0, 1, b);
	CHECK_EQ_INT(match(&m.m, &r.m, to, d2), SK_OK);
	CHECK_EQ_INT(to[0], 0);
	CHECK_EQ_INT(to[1], 1);
	CHECK_NEAR(d2[0], 3.61, 1e-12);
	CHECK_NEAR(d2[1], 4.0, 1e-12);
	model_free(&m);
	model_free(&r);
}

/*
 * Three groups refitted under other numbers: {0, 10, 20} against
 * {19, 1, 11} pairs 0 - 1 (ref 2nd), 10 - 11 (ref 3rd), 20 - 19 (ref 1st).
 * In z-score space with different shifts and scales: ref's z = -5 with
 * shift 10, scale 2 is x = 0, which is model's z = 0 (shift 0, scale 1).
 */
static void
test_match_permutation(void)
{
	double		a[] = {0, 10, 20},
				b[] = {19, 1, 11},
				bz[] = {4.5, -5, 0.5};	/* x = 19, 0, 11 with shift 10, scale 2 */
	owned_model m,
				r,
				rz,
				mz,
				out;
	int			to[3];
	double		d2[3];
	int			label[3];

	hand_model1(&m, 3, SK_KM_NONE, 0, 1, a);
	hand_model1(&r, 3, SK_KM_NONE, 0, 1, b);
	CHECK_EQ_INT(match(&m.m, &r.m, to, d2), SK_OK);
	CHECK_EQ_INT(to[0], 1);
	CHECK_EQ_INT(to[1], 2);
	CHECK_EQ_INT(to[2], 0);
	CHECK_NEAR(d2[0] + d2[1] + d2[2], 3.0, 1e-12);

	hand_model1(&mz, 3, SK_KM_ZSCORE, 0, 1, a);
	hand_model1(&rz, 3, SK_KM_ZSCORE, 10, 2, bz);
	CHECK_EQ_INT(match(&mz.m, &rz.m, to, d2), SK_OK);
	CHECK_EQ_INT(to[0], 1);
	CHECK_EQ_INT(to[1], 2);
	CHECK_EQ_INT(to[2], 0);
	CHECK_NEAR(d2[0], 0.0, 1e-12);	/* x = 0 in both */
	CHECK_NEAR(d2[1], 1.0, 1e-12);

	/* different transforms, or k, do not match */
	CHECK_EQ_INT(match(&m.m, &rz.m, to, d2), SK_EINVAL);

	/* relabelled by the pairing, model's clusters carry ref's numbers */
	model_new(&out, 3, 1);
	CHECK_EQ_INT(sk_km_relabel(&m.m, to, &out.m), SK_OK);
	CHECK_NEAR(out.m.centroids[0], 20, 0);
	CHECK_NEAR(out.m.centroids[1], 0, 0);
	CHECK_NEAR(out.m.centroids[2], 10, 0);
	CHECK_EQ_INT(out.m.sizes[0], 3);	/* model's 3rd cluster had size 3 */
	CHECK_NEAR(out.m.wcss[1], 0, 0);
	CHECK_EQ_INT(out.m.n, m.m.n);
	/* not a permutation */
	label[0] = 0;
	label[1] = 0;
	label[2] = 2;
	CHECK_EQ_INT(sk_km_relabel(&m.m, label, &out.m), SK_EINVAL);
	label[1] = 3;
	CHECK_EQ_INT(sk_km_relabel(&m.m, label, &out.m), SK_EINVAL);
	model_free(&m);
	model_free(&r);
	model_free(&mz);
	model_free(&rz);
	model_free(&out);
}

int
main(void)
{
	RUN(test_transform_names);
	RUN(test_zscore);
	RUN(test_log_zscore);
	RUN(test_transform_none_params);
	RUN(test_two_groups_by_hand);
	RUN(test_three_groups_2d);
	RUN(test_strict_convergence_from_init);
	RUN(test_empty_cluster_relocation);
	RUN(test_seed_determinism);
	RUN(test_row_order_independence);
	RUN(test_restarts_pick_lowest);
	RUN(test_matches_plain_lloyd);
	RUN(test_blocks_match_bounds);
	RUN(test_sample_cap);
	RUN(test_cancel);
	RUN(test_bad_input);
	RUN(test_scores_two_clusters);
	RUN(test_scores_three_clusters);
	RUN(test_scores_undefined);
	RUN(test_text_round_trip_fit);
	RUN(test_text_round_trip_hand);
	RUN(test_text_rejects);
	RUN(test_text_byte_flips);
	RUN(test_match_least_total);
	RUN(test_match_permutation);
	UNIT_DONE();
}
