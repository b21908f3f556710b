/*
 * kmeans.h - server-free k-means: fit, assign, model text I/O, k selection.
 *
 * This is the math behind segkpi.kmeans(), kmeans_assign() and the
 * "choose k" helpers.  Like all of src/core it is plain C99: no allocation,
 * no globals, no error raising.  Every function returns an sk_status and
 * fills caller-owned memory; the *_size() helpers say how much to hand in.
 *
 * Spaces.  A model works in a "transformed" feature space:
 *   none        z = x
 *   zscore      z = (x - shift) / scale
 *   log_zscore  z = (g(x) - shift) / scale,  g(x) = sign(x) * ln(1 + |x|)
 * shift is the mean and scale the population standard deviation of the
 * (log-ed) feature over the rows the transform was estimated on; a feature
 * with zero variance gets scale 1, so it becomes the constant 0 and plays no
 * part in distances instead of dividing by zero.  For "none" the stored
 * shift is 0 and scale 1.  Centroids, inertia and within-cluster sums of
 * squares are all in the transformed space (that is where distances mean
 * something); sk_km_centroid_original() maps a centroid back to the units
 * of the input.
 *
 * Algorithm.  Seeding is greedy k-means++ (2 + floor(ln k) candidates per
 * centre, the best by resulting potential) driven by an sk_rng seeded from
 * the caller's seed, so the same rows, k, options and seed give the same
 * model bit for bit, in whatever order the rows come (without a core-side
 * sample): sums are exact in 128-bit fixed point, and the draws rank rows
 * by a seeded hash of their values, not by position.  Iterations are Lloyd's, accelerated with Hamerly's
 * bounds (exact: they only skip distance computations that cannot change
 * a label).  Stopping follows scikit-learn's Lloyd: after iteration i the
 * run stops when no label changed (strict convergence) or when the sum over
 * centroids of the squared centre shift is <= tol * (mean over features of
 * the variance of the transformed working rows).  With tol = 0 this means
 * "until no label changes".  Restarts keep the run with the lowest inertia
 * (the first one on ties).
 *
 * Empty clusters.  If a centre loses all its points during an iteration it
 * is moved onto the point farthest from its own assigned centre (the next
 * farthest for a second empty cluster, and so on), the way scikit-learn
 * does; a point that is the only member of its cluster is never taken.
 * The final model can still hold a cluster of size 0 only if max_iter ran
 * out right after such a move; sk_km_assign() never returns it unless it
 * is nearest.
 *
 * Limits.  1 <= dim <= SK_KM_MAX_DIM and 1 <= k <= SK_KM_MAX_K, otherwise
 * SK_EINVAL (below 1) or SK_ELIMIT (above).  k must not exceed the number of
 * distinct working rows (after transform and sampling): k-means++ finds a
 * zero total potential before k centres are chosen and the fit reports
 * SK_EINVAL.  NaN or infinite input is SK_EDATA.  With transform "none" a
 * value beyond 1e150 in magnitude is SK_EOVERFLOW (its squared distances
 * could overflow; the z-score transforms have no such limit except a
 * variance that overflows a double).
 *
 * Memory.  With transform "none" and no sampling the fit reads the
 * caller's rows in place; otherwise it keeps a transformed copy in the
 * workspace.  Per working row it also keeps a 64-bit key (the hash that
 * ranks rows for the draws), a label, and 8 bytes shared by k-means++'s
 * D^2 and Hamerly's two float bounds.
 *
 * Buffers passed as "work" or model storage must be aligned for double
 * (palloc and malloc memory is).
 */
#ifndef SK_KMEANS_H
#define SK_KMEANS_H

#include <string.h>

#include "sk_common.h"

/*
 * A seeded hash of a row's values (their bit patterns, so it is the same
 * on every platform).  The fit ranks its k-means++ draws by it and the
 * server layer's sample cap keeps rows in its order, so both use this one.
 */
static inline uint64_t
sk_km_row_key(const double *r, int dim, uint64_t seed)
{
	uint64_t	h = seed;
	int			f;

	for (f = 0; f < dim; f++)
	{
		uint64_t	bits;

		memcpy(&bits, &r[f], sizeof(bits));
		h ^= bits;
		h = sk_splitmix64(&h);
	}
	return h;
}

#define SK_KM_MAX_DIM		1000
#define SK_KM_MAX_K			1000
#define SK_KM_MAX_RESTARTS	1000
#define SK_KM_MAX_ITER		1000000
/* Most rows a model may say it was fitted on: INT64_MAX (a SQL bigint). */
#define SK_KM_MAX_N			((uint64_t) INT64_MAX)

typedef enum sk_km_transform
{
	SK_KM_NONE = 0,
	SK_KM_ZSCORE = 1,
	SK_KM_LOG_ZSCORE = 2
} sk_km_transform;

/* Name used in the model text and SQL ("none", "zscore", "log_zscore"). */
extern const char *sk_km_transform_name(sk_km_transform t);
/* Parse a name; SK_EINVAL if unknown.  len is the byte length of name. */
extern sk_status sk_km_transform_parse(const char *name, size_t len,
									   sk_km_transform *out);

/*
 * Fit options.  sk_km_params_init() fills the defaults, which match
 * scikit-learn's KMeans except restarts: restarts 1, max_iter 300,
 * tol 1e-4, transform none, sample_cap 0 (no sampling), init NULL.
 */
typedef struct sk_km_params
{
	int			k;				/* clusters, 1..SK_KM_MAX_K */
	uint64_t	seed;			/* PRNG seed (SQL bigint cast to unsigned) */
	int			restarts;		/* runs from different seeds, 1..MAX */
	int			max_iter;		/* Lloyd iterations per run, 1..MAX */
	double		tol;			/* relative tolerance, finite, >= 0 */
	sk_km_transform transform;
	/*
	 * When nonzero and n > sample_cap, fit a uniform sample of sample_cap
	 * rows (reservoir sampling with the seeded PRNG); the transform is
	 * still estimated on all n rows.
	 */
	size_t		sample_cap;
	/*
	 * Optional k * dim initial centroids, row-major, in ORIGINAL units.
	 * When given, k-means++ is skipped and exactly one run is made
	 * (restarts is ignored), as scikit-learn does for an explicit init.
	 */
	const double *init;
} sk_km_params;

extern void sk_km_params_init(sk_km_params *p, int k);

/*
 * A fitted model.  The arrays point into one caller-provided block laid
 * out by sk_km_model_bind(); the struct itself holds no other memory, so a
 * model is freed by freeing that block.
 */
typedef struct sk_km_model
{
	int			k;
	int			dim;
	sk_km_transform transform;
	int			iterations;		/* Lloyd iterations of the kept run */
	int			converged;		/* 1 if it stopped before max_iter ran out */
	uint64_t	n;				/* working rows fitted (after sampling) */
	double		inertia;		/* sum of wcss[] */
	double	   *shift;			/* [dim] */
	double	   *scale;			/* [dim], each > 0 */
	double	   *centroids;		/* [k * dim] row-major, transformed space */
	uint64_t   *sizes;			/* [k] rows nearest to each centroid */
	double	   *wcss;			/* [k] sum of squared distances to it */
} sk_km_model;

/* Bytes of the block that holds a model's arrays (0 dims are SK_EINVAL). */
extern sk_status sk_km_model_size(int k, int dim, size_t *bytes);

/*
 * Point model's arrays into buf (bytes >= sk_km_model_size(k, dim)) and set
 * k and dim; other fields are zeroed.  SK_EINVAL if buf is too small or
 * misaligned, or k/dim out of range.
 */
extern sk_status sk_km_model_bind(sk_km_model *model, int k, int dim,
								  void *buf, size_t bytes);

/* ---------------------------------------------------------------------
 * Fitting
 * ---------------------------------------------------------------------
 */

/*
 * Workspace for sk_km_fit() on n rows of dim features with params p:
 * about n' * (c * dim * 8 + 20) bytes, where n' is min(n, sample_cap) and
 * c is 1 with a transform or a sample, else 0, plus O(k * dim) and up to
 * 320 kB of key bins.  Status SK_EOVERFLOW if the size does not fit size_t.
 */
extern sk_status sk_km_fit_work_size(size_t n, int dim,
									 const sk_km_params *p, size_t *bytes);

/*
 * Fit k-means to x: n rows of dim doubles, row-major, original units.
 * model must already be bound for (p->k, dim).  tick may be NULL.
 * Returns SK_OK, SK_EINVAL (bad k/dim/n/params, k > distinct rows, work
 * too small), SK_ELIMIT, SK_EDATA (NaN/Inf in x or init), SK_EOVERFLOW or
 * SK_ECANCEL.  On failure the model's contents are unspecified.
 */
/*
 * Whether fits with few centres of few features label rows four at a time
 * with AVX2 (on by default where the CPU has it).  The result is the same
 * either way; tests turn it off to compare.  Returns the state in effect.
 */
extern int	sk_km_set_simd(int on);

extern sk_status sk_km_fit(const double *x, size_t n, int dim,
						   const sk_km_params *p,
						   void *work, size_t work_bytes,
						   sk_km_model *model, const sk_tick *tick);

/*
 * Reservoir step for callers that sample while streaming (an aggregate's
 * transition function): the row numbered seen (0-based count of rows
 * offered before it) is kept iff the result is 1, at *slot in [0, cap).
 * Rows below cap always go to slot seen.  Same algorithm as sk_km_fit's
 * own sampling.
 */
extern int	sk_km_reservoir_slot(sk_rng *rng, uint64_t seen, uint64_t cap,
								 uint64_t *slot);

/* ---------------------------------------------------------------------
 * Using a model
 * ---------------------------------------------------------------------
 */

/*
 * Transform one row (dim doubles, original units) into out[dim] with the
 * model's transform.  SK_EDATA if a value is NaN/Inf.
 */
extern sk_status sk_km_transform_row(const sk_km_model *model,
									 const double *x, double *out);

/*
 * Nearest centroid of one row in original units.  scratch holds dim
 * doubles.  *cluster gets 0..k-1 (the SQL layer adds 1); ties go to the
 * lowest index.  dist2 may be NULL, else gets the squared distance in the
 * transformed space.  SK_EDATA for NaN/Inf features.  The model is only
 * read, so one decoded model serves every row of a query.
 */
extern sk_status sk_km_assign(const sk_km_model *model, const double *x,
							  double *scratch, int *cluster, double *dist2);

/*
 * Centroid j (0-based) in original units, written to out[dim]: the
 * inverse of the transform applied to the centroid.  For log_zscore this is
 * g^-1 of the mean in log space (a geometric-style centre), not the
 * arithmetic mean of the raw values.  SK_EOVERFLOW if it does not fit a
 * double, SK_EINVAL if j is out of range.
 */
extern sk_status sk_km_centroid_original(const sk_km_model *model, int j,
										 double *out);

/* ---------------------------------------------------------------------
 * Model text
 * ---------------------------------------------------------------------
 *
 * One line of ASCII, fields separated by single spaces, no trailing
 * space or newline:
 *
 *   model    = "kmeans v1" SP "k=" uint SP "dim=" uint
 *              SP "transform=" ("none" | "zscore" | "log_zscore")
 *              SP "n=" uint SP "iterations=" uint SP "converged=" ("0"|"1")
 *              SP "inertia=" num SP "shift=" list SP "scale=" list
 *              1*(SP "cluster=" uint "," num "," list)     ; exactly k
 *   list     = num *("," num)                               ; exactly dim
 *   uint     = "0" | [1-9] *DIGIT                           ; no sign
 *   num      = ["-"] DIGIT *(DIGIT | "." | "e" | "E" | "+" | "-")
 *              ; a finite decimal that strtod reads completely, at most 40
 *              ; characters; written with "%.17g" so it round-trips exactly
 *
 * A cluster is "size,wcss,c1,...,cdim" with the centroid in the transformed
 * space.  The decoder also checks: 1 <= k, dim <= 1000; 1 <= n <=
 * SK_KM_MAX_N (so n and every size fit a signed 64-bit integer, the SQL
 * bigint the sizes are shown as); sizes sum to n; wcss >= 0 and 0 when the
 * size is 0; inertia equals the sum of wcss to a relative 1e-9; scale > 0;
 * for "none" every shift is 0 and scale 1; iterations >= 1.  Anything else
 * is SK_EDATA.
 */

/*
 * Read k and dim from a model text's first fields, so the caller can size
 * the model block.  Checks only what it reads; len is the text length (no
 * terminator needed).
 */
extern sk_status sk_km_model_peek(const char *text, size_t len,
								  int *k, int *dim);

/*
 * Parse and validate a whole model text into a model bound for the k and
 * dim that sk_km_model_peek() reported.  SK_EDATA if the text is
 * malformed or inconsistent (including a k/dim that differs from the
 * model's), SK_EINVAL for a NULL argument.
 */
extern sk_status sk_km_model_decode(const char *text, size_t len,
									sk_km_model *model);

/* Upper bound of the encoded text length including the terminating NUL. */
extern sk_status sk_km_model_text_size(int k, int dim, size_t *bytes);

/*
 * Write the model as NUL-terminated text into buf (cap bytes, at least
 * sk_km_model_text_size()); *len gets the length without the NUL.
 * SK_EINVAL if buf is too small, SK_EDATA if the model holds non-finite
 * numbers (it could not be read back).
 */
extern sk_status sk_km_model_encode(const sk_km_model *model, char *buf,
									size_t cap, size_t *len);

/* ---------------------------------------------------------------------
 * Choosing k
 * ---------------------------------------------------------------------
 */

typedef struct sk_km_scores
{
	double		inertia;		/* over all given rows, transformed space */
	/* NaN when undefined: fewer than 2 non-empty clusters (or, for the
	 * silhouette, every sampled row in its own cluster) */
	double		silhouette;		/* mean silhouette of the sampled rows */
	double		davies_bouldin;
	uint64_t	silhouette_n;	/* rows the silhouette was computed on */
} sk_km_scores;

/*
 * Workspace for sk_km_score() on n rows: the transformed rows, their
 * labels, per-cluster sums and the silhouette sample.
 */
extern sk_status sk_km_score_work_size(size_t n, int dim, int k,
									   size_t silhouette_cap, size_t *bytes);

/*
 * Quality of model on rows x (n x dim, original units), each row labelled
 * by its nearest centroid.  Definitions follow scikit-learn:
 *  - silhouette: s(i) = (b - a) / max(a, b) with a the mean Euclidean
 *    distance to the other rows of its cluster and b the lowest mean
 *    distance to another cluster's rows; 0 for a row alone in its cluster.
 *    When silhouette_cap is nonzero and below n, it is computed among a
 *    uniform sample of silhouette_cap rows drawn with seed (selection
 *    sampling), costing O(cap^2 * dim); otherwise among all rows, O(n^2).
 *  - Davies-Bouldin: mean over clusters i of max over j != i of
 *    (S_i + S_j) / d(m_i, m_j), where m are the means of the labelled rows
 *    and S the mean distance of a cluster's rows to its mean; pairs of
 *    coinciding means are skipped; 0 when all S or all d are ~0 (<= 1e-8).
 * Clusters with no rows take no part.  Errors as sk_km_fit().
 */
extern sk_status sk_km_score(const sk_km_model *model, const double *x,
							 size_t n, size_t silhouette_cap, uint64_t seed,
							 void *work, size_t work_bytes,
							 sk_km_scores *out, const sk_tick *tick);

/* ---------------------------------------------------------------------
 * Matching the clusters of two models
 * ---------------------------------------------------------------------
 *
 * A refit numbers its clusters in the order k-means++ happened to seed
 * them, so the same groups come out under other numbers.  sk_km_match()
 * pairs each cluster of model with one cluster of ref, one to one, so
 * that the sum of the squared distances between paired centroids is the
 * least possible (an exact assignment, the Hungarian method, O(k^3)).
 * Distances are taken in model's transformed space: ref's centroids are
 * mapped back through ref's transform and forward through model's, which
 * needs no exponentials when both use the same transform (they must).
 * Ties go to the lower-numbered pairing the method reaches first; the
 * result depends only on the two models.
 */

/* Workspace of sk_km_match() for k clusters: k*k costs and k-sized scratch. */
extern sk_status sk_km_match_work_size(int k, size_t *bytes);

/*
 * Pair model's clusters with ref's: to_ref[j] (0-based) gets the cluster
 * of ref paired with cluster j of model, dist2[j] (may be NULL) their
 * squared centroid distance in model's transformed space.  SK_EINVAL when
 * k, dim or transform differ, or work is too small; SK_ECANCEL when tick
 * asks to stop.
 */
extern sk_status sk_km_match(const sk_km_model *model, const sk_km_model *ref,
							 void *work, size_t work_bytes, int *to_ref,
							 double *dist2, const sk_tick *tick);

/*
 * Copy src into dst (bound for the same k and dim) with its clusters
 * renumbered: cluster j of src becomes cluster label[j] (0-based) of dst.
 * label must be a permutation of 0..k-1, else SK_EINVAL.  Only names
 * change: the rows nearest to each centroid are the same.
 */
extern sk_status sk_km_relabel(const sk_km_model *src, const int *label,
							   sk_km_model *dst);

#endif							/* SK_KMEANS_H */
