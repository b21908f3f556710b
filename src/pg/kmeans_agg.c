/*
 * kmeans_agg.c - the aggregates segkpi.kmeans and segkpi.kmeans_choose_k.
 *
 * State.  Both aggregates collect their rows (n x dim doubles, row-major)
 * in an `internal` state and fit in the final function: k-means needs all
 * rows at once, and a state of hundreds of megabytes is not something to
 * move as text or to let nodeAgg copy whenever it grows.  The state is
 * PARALLEL SAFE: it has combine, serialize and deserialize functions, and
 * its bytea form is validated on the way in.
 *
 * Options.  PostgreSQL allows neither DEFAULT values nor named arguments
 * for aggregates, so each aggregate has one overload per number of
 * trailing options, all with the same C transition function, which reads
 * PG_NARGS().  The options are taken from the first row and every later
 * row must pass the same values (they are compared, cheaply).
 *
 * Determinism.  The model depends only on the multiset of rows, the
 * options and the seed: not on the physical order, the plan, or how a
 * parallel plan split the rows.  The core's fit is itself independent of
 * row order (exact fixed-point sums, k-means++ draws ranked by a seeded
 * hash of each row's values), so kmeans() fits the rows as they arrived.
 * With sample_cap the state keeps the sample_cap rows of smallest key
 * (bottom-k sampling, km_canonicalize), which is equally independent of
 * order and split, and can be compacted as rows arrive and merged in the
 * combine function.  kmeans_choose_k() puts all rows in key order before
 * it scores them, since its sampled silhouette walks the rows in order.
 *
 * Memory.  The rows, the sort keys (16 bytes a row) and the core's
 * workspace must fit in maintenance_work_mem (a fit is like an index
 * build); otherwise a 54000 error names the setting.  The rows grow in a
 * huge allocation, so settings above 1 GB work in a serial plan; a
 * parallel worker's partial state must serialize into a bytea (< 1 GB).
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "glue.h"
#include "kmeans_common.h"
#include "status.h"

PG_FUNCTION_INFO_V1(segkpi_kmeans_sfunc);
PG_FUNCTION_INFO_V1(segkpi_kmeans_init_sfunc);
PG_FUNCTION_INFO_V1(segkpi_kmeans_choose_k_sfunc);
PG_FUNCTION_INFO_V1(segkpi_kmeans_combine);
PG_FUNCTION_INFO_V1(segkpi_kmeans_serialize);
PG_FUNCTION_INFO_V1(segkpi_kmeans_deserialize);
PG_FUNCTION_INFO_V1(segkpi_kmeans_final);
PG_FUNCTION_INFO_V1(segkpi_kmeans_choose_k_final);

#define KM_STATE_VERSION	1
#define KM_DEFAULT_SIL_CAP	10000

/* Options as given; identical on every row and in every partial state. */
typedef struct KmOpts
{
	int32		k_min;			/* kmeans: k (k_min = k_max) */
	int32		k_max;
	int32		restarts;
	int32		max_iter;
	int32		transform;		/* sk_km_transform */
	int32		init_k;			/* rows of init, 0 without */
	int64		seed;
	int64		sample_cap;		/* 0: all rows */
	int64		silhouette_cap; /* choose_k only; 0: no silhouette */
	double		tol;
} KmOpts;

typedef struct KmState
{
	KmOpts		o;
	Oid			transform_oid;	/* the enum label, to compare rows cheaply */
	int32		dim;			/* 0 until the first row */
	double	   *init;			/* init_k * dim doubles, original units */
	uint64		n;				/* rows held */
	uint64		cap;			/* rows allocated */
	double	   *rows;			/* palloc'd while small, then in map */
	SegkpiMap	map;
} KmState;

/* ---- memory -------------------------------------------------------- */

/*
 * Blocks from this size on get a mapping of their own (segkpi_map_resize):
 * a million rows then cost a dozen huge-page faults instead of thousands
 * of small ones, which in a new connection took ~100 ms of a ~350 ms fit.
 * Smaller ones stay in palloc memory: a huge page for every group of a
 * GROUP BY with many small groups would waste memory.
 */
#define KM_MAP_MIN		((Size) 4 * 1024 * 1024)

static KmState *
km_new_state(MemoryContext cxt)
{
	KmState    *s = MemoryContextAllocZero(cxt, sizeof(KmState));

	segkpi_map_attach(&s->map, cxt);
	return s;
}

/* Room for cap rows, keeping the rows held. */
static void
km_rows_alloc(KmState *s, uint64 cap, MemoryContext cxt)
{
	Size		bytes = sizeof(double) * (Size) s->dim * cap;
	Size		keep = sizeof(double) * (Size) s->dim * s->n;
	double	   *old = s->rows;

	if (bytes < KM_MAP_MIN)
		s->rows = old == NULL ? MemoryContextAllocHuge(cxt, bytes) : repalloc_huge(old, bytes);
	else if (s->map.p != NULL)
		s->rows = segkpi_map_resize(&s->map, bytes, keep);
	else
	{
		s->rows = segkpi_map_resize(&s->map, bytes, 0);
		if (old != NULL)
		{
			memcpy(s->rows, old, keep);
			pfree(old);
		}
	}
	s->cap = cap;
}

/*
 * A scratch block of bytes, in a mapping when large; *mp (palloc'd in the
 * current context, which the mapping is attached to) goes to
 * km_scratch_free.
 */
static void *
km_scratch(Size bytes, SegkpiMap **mp)
{
	SegkpiMap  *m = palloc(sizeof(SegkpiMap));

	segkpi_map_attach(m, CurrentMemoryContext);
	*mp = m;
	if (bytes < KM_MAP_MIN)
		return MemoryContextAllocHuge(CurrentMemoryContext, bytes);
	return segkpi_map_resize(m, bytes, 0);
}

/* The mapping's callback stays registered, harmless once released. */
static void
km_scratch_free(SegkpiMap *m, void *p)
{
	if (m->p == NULL)
		pfree(p);
	segkpi_map_release(m);
}

static Size
km_budget(void)
{
	return (Size) maintenance_work_mem * 1024;
}

static void
km_over_budget(uint64 n, int dim, Size need)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("kmeans: the input needs more memory than maintenance_work_mem allows"),
			 errdetail("Fitting %llu rows of %d features needs about %zu kB; maintenance_work_mem is %d kB.",
					   (unsigned long long) n, dim, need / 1024, maintenance_work_mem),
			 errhint("Raise maintenance_work_mem, or pass sample_cap to fit a sample of the rows.")));
}

/*
 * Bytes for n rows held and sorted: the rows, and while sorting a second
 * copy with an 8-byte key each plus the keys once more.
 */
static Size
km_rows_need(uint64 n, int dim)
{
	double		b = (double) n * (2.0 * dim * sizeof(double) + 16.0);

	return b >= (double) (SIZE_MAX / 2) ? SIZE_MAX / 2 : (Size) b;
}

/* ---- canonical order ------------------------------------------------ */

/*
 * Records while sorting: the key, then the row.  Buckets by the key's top
 * bits keep each sort small and in cache; ties on the key (identical rows,
 * or a 64-bit collision) are broken by the values' bit patterns.
 */
static inline int
km_rec_cmp(const void *a, const void *b, int *dim)
{
	uint64		x,
				y;
	int			f;

	for (f = 0; f <= *dim; f++)
	{
		memcpy(&x, (const char *) a + f * sizeof(uint64), sizeof(x));
		memcpy(&y, (const char *) b + f * sizeof(uint64), sizeof(y));
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

#define ST_SORT km_sort_recs
#define ST_ELEMENT_TYPE_VOID
#define ST_COMPARE_ARG_TYPE int
#define ST_COMPARE(a, b, arg) km_rec_cmp(a, b, arg)
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * Put the rows in key order and keep the first `keep` of them.  One pass
 * hashes the rows and counts bucket sizes, one scatters (key, row) records
 * into their buckets, then each bucket is sorted in place and the rows are
 * copied back into the state's own block.  Sorting is idempotent, so calling this again
 * (a second final call, or compaction followed by the final function)
 * changes nothing.
 */
static void
km_canonicalize(KmState *s, uint64 keep)
{
	int			dim = s->dim;
	Size		rowbytes = sizeof(double) * dim;
	Size		recbytes = rowbytes + sizeof(uint64);
	uint64		n = s->n;
	uint64	   *keys;
	uint64	   *pos;
	char	   *rec;
	int			bits = 0;
	uint64		nb,
				b,
				i;

	if (n == 0)
		return;
	/* about 256 rows a bucket; at most 4096 buckets, so the scatter stays in cache */
	while (bits < 12 && ((uint64) 1 << (bits + 8)) < n)
		bits++;
	nb = (uint64) 1 << bits;
#define KM_BUCKET(key) (bits == 0 ? 0 : (key) >> (64 - bits))

	keys = segkpi_alloc_huge(CurrentMemoryContext, sizeof(uint64) * n);
	pos = palloc0(sizeof(uint64) * (nb + 1));
	for (i = 0; i < n; i++)
	{
		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		keys[i] = sk_km_row_key(s->rows + i * dim, dim, (uint64) s->o.seed);
		pos[KM_BUCKET(keys[i]) + 1]++;
	}
	for (b = 1; b <= nb; b++)
		pos[b] += pos[b - 1];
	rec = segkpi_alloc_huge(CurrentMemoryContext, recbytes * n);
	for (i = 0; i < n; i++)
	{
		char	   *r = rec + recbytes * pos[KM_BUCKET(keys[i])]++;

		memcpy(r, &keys[i], sizeof(uint64));
		memcpy(r + sizeof(uint64), s->rows + i * dim, rowbytes);
	}
	pfree(keys);
	/* pos[b] is now the end of bucket b */
	for (b = 0; b < nb; b++)
	{
		uint64		start = b == 0 ? 0 : pos[b - 1];

		if (pos[b] - start > 1)
			km_sort_recs(rec + recbytes * start, pos[b] - start, recbytes, &dim);
	}
	pfree(pos);
	/* back into the row block, which keeps its place and its capacity */
	for (i = 0; i < n; i++)
	{
		double	   *dst = s->rows + i * dim;
		const double *src = (const double *) (rec + recbytes * i + sizeof(uint64));
		int			f;

		for (f = 0; f < dim; f++)
			dst[f] = src[f];
	}
	pfree(rec);
	if (s->n > keep)
		s->n = keep;
#undef KM_BUCKET
}

/* ---- state ---------------------------------------------------------- */

static MemoryContext
km_agg_context(FunctionCallInfo fcinfo, const char *fname)
{
	MemoryContext cxt;

	if (!AggCheckCallContext(fcinfo, &cxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s can only be called as part of an aggregate", fname)));
	return cxt;
}

/* Rows the state may hold before it must grow past the budget. */
static uint64
km_row_limit(const KmState *s)
{
	if (s->o.sample_cap > 0)
		return 2 * (uint64) s->o.sample_cap;
	return UINT64_MAX;
}

/* Make room for `more` rows (allocated in cxt). */
static void
km_reserve(KmState *s, uint64 more, MemoryContext cxt)
{
	uint64		want = s->n + more;
	uint64		newcap;
	Size		need = km_rows_need(want, s->dim);

	if (want <= s->cap)
		return;
	if (need > km_budget() || need >= SIZE_MAX / 2)
		km_over_budget(want, s->dim, need);
	newcap = s->cap < 1024 ? 1024 : 2 * s->cap;
	if (newcap < want)
		newcap = want;
	if (newcap > km_row_limit(s))
		newcap = Max(km_row_limit(s), want);
	/* grow to the budget, not beyond it */
	if (km_rows_need(newcap, s->dim) > km_budget())
		newcap = want + (km_budget() - need) / (2 * s->dim * sizeof(double) + 16);
	km_rows_alloc(s, newcap, cxt);
}

static void
km_opts_check(const KmOpts *o, const char *fname)
{
	if (o->k_min < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: k must be at least 1", fname)));
	if (o->k_max > SK_KM_MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: k must be at most %d", fname, SK_KM_MAX_K)));
	if (o->k_max < o->k_min)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: k_max must not be less than k_min", fname)));
	if (o->restarts < 1 || o->restarts > SK_KM_MAX_RESTARTS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: restarts must be between 1 and %d", fname, SK_KM_MAX_RESTARTS)));
	if (o->max_iter < 1 || o->max_iter > SK_KM_MAX_ITER)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: max_iter must be between 1 and %d", fname, SK_KM_MAX_ITER)));
	if (!isfinite(o->tol) || o->tol < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: tol must be a finite number >= 0", fname)));
	if (o->sample_cap < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: sample_cap must be >= 0 (0 fits every row)", fname)));
	if (o->sample_cap > 0 && o->sample_cap < o->k_max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: sample_cap must be 0 or at least k", fname)));
	if (o->silhouette_cap < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: silhouette_cap must be >= 0 (0 skips the silhouette)", fname)));
}

static void
km_null_arg(FunctionCallInfo fcinfo, int argno, const char *fname, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: %s must not be NULL", fname, argname)));
}

/* Defaults, as documented: those of scikit-learn's KMeans, no sampling. */
static void
km_opts_default(KmOpts *o)
{
	memset(o, 0, sizeof(*o));
	o->restarts = 1;
	o->max_iter = 300;
	o->tol = 1e-4;
	o->transform = SK_KM_NONE;
	o->silhouette_cap = KM_DEFAULT_SIL_CAP;
}

/*
 * Read the trailing options that follow position `first` in the common
 * order seed, transform, restarts, max_iter, tol, sample_cap,
 * silhouette_cap (the last only when `sil` is set).
 */
static void
km_read_tail(FunctionCallInfo fcinfo, int first, bool sil, KmOpts *o,
			 Oid *transform_oid, const char *fname)
{
	static const char *const names[] = {"seed", "transform", "restarts", "max_iter",
	"tol", "sample_cap", "silhouette_cap"};
	int			nopts = PG_NARGS() - first;
	int			i;

	for (i = 0; i < nopts; i++)
		km_null_arg(fcinfo, first + i, fname, names[i]);
	if (nopts > 0)
		o->seed = PG_GETARG_INT64(first);
	if (nopts > 1)
		*transform_oid = PG_GETARG_OID(first + 1);
	if (nopts > 2)
		o->restarts = PG_GETARG_INT32(first + 2);
	if (nopts > 3)
		o->max_iter = PG_GETARG_INT32(first + 3);
	if (nopts > 4)
		o->tol = PG_GETARG_FLOAT8(first + 4);
	if (nopts > 5)
		o->sample_cap = PG_GETARG_INT64(first + 5);
	if (nopts > 6 && sil)
		o->silhouette_cap = PG_GETARG_INT64(first + 6);
}

/*
 * The common part of every transition function: create the state on the
 * first row, check that the options did not change, append the row.  what
 * names the features argument in messages ("kmeans: features"): a literal,
 * because formatting it on every row cost as much as the rest of the row.
 */
static Datum
km_accumulate(FunctionCallInfo fcinfo, const KmOpts *o, Oid transform_oid,
			  const char *fname, const char *what, const double *init,
			  int init_k, int init_dim)
{
	MemoryContext cxt = km_agg_context(fcinfo, fname);
	KmState    *s = PG_ARGISNULL(0) ? NULL : (KmState *) PG_GETARG_POINTER(0);
	double		row[SK_KM_MAX_DIM];
	int			dim;

	if (s == NULL)
	{
		km_opts_check(o, fname);
		s = km_new_state(cxt);
		s->o = *o;
		s->transform_oid = transform_oid;
		if (OidIsValid(transform_oid))
			s->o.transform = segkpi_km_transform_from_enum(transform_oid);
		if (init != NULL)
		{
			s->init = MemoryContextAlloc(cxt, sizeof(double) * init_k * init_dim);
			memcpy(s->init, init, sizeof(double) * init_k * init_dim);
			s->dim = init_dim;
		}
	}
	else if (memcmp(&s->o, o, offsetof(KmOpts, transform)) != 0 ||
			 s->o.init_k != o->init_k || s->o.seed != o->seed ||
			 s->o.sample_cap != o->sample_cap ||
			 s->o.silhouette_cap != o->silhouette_cap ||
			 s->transform_oid != transform_oid ||
			 !(s->o.tol == o->tol))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: the options must be the same on every row", fname),
				 errdetail("Only the features may change from row to row.")));

	/* a NULL features array: the row is skipped */
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(s);
	dim = segkpi_km_read_array(PG_GETARG_DATUM(1), row, what);
	if (s->dim == 0)
		s->dim = dim;
	else if (dim != s->dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: features has %d elements, but %s %d", fname, dim,
						s->init ? "init has rows of" : "earlier rows have", s->dim),
				 errdetail("Every row must have the same number of features.")));
	if (s->n == s->cap)
	{
		if (s->o.sample_cap > 0 && s->n >= km_row_limit(s))
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			km_canonicalize(s, (uint64) s->o.sample_cap);
			MemoryContextSwitchTo(old);
		}
		else
			km_reserve(s, 1, cxt);
	}
	memcpy(s->rows + s->n * s->dim, row, sizeof(double) * s->dim);
	s->n++;
	PG_RETURN_POINTER(s);
}

/* kmeans(features, k [, seed [, transform [, restarts [, max_iter [, tol [, sample_cap]]]]]]) */
Datum
segkpi_kmeans_sfunc(PG_FUNCTION_ARGS)
{
	KmOpts		o;
	Oid			transform_oid = InvalidOid;

	km_opts_default(&o);
	km_null_arg(fcinfo, 2, "kmeans", "k");
	o.k_min = o.k_max = PG_GETARG_INT32(2);
	km_read_tail(fcinfo, 3, false, &o, &transform_oid, "kmeans");
	return km_accumulate(fcinfo, &o, transform_oid, "kmeans", "kmeans: features", NULL, 0, 0);
}

/*
 * kmeans(features, init [, transform, max_iter, tol]): explicit initial
 * centroids (a k x dim array in original units), one run, no seeding.
 */
Datum
segkpi_kmeans_init_sfunc(PG_FUNCTION_ARGS)
{
	KmState    *s = PG_ARGISNULL(0) ? NULL : (KmState *) PG_GETARG_POINTER(0);
	KmOpts		o;
	Oid			transform_oid = InvalidOid;
	ArrayType  *init;
	int			k,
				dim;

	km_opts_default(&o);
	km_null_arg(fcinfo, 2, "kmeans", "init");
	if (PG_NARGS() > 3)
	{
		km_null_arg(fcinfo, 3, "kmeans", "transform");
		km_null_arg(fcinfo, 4, "kmeans", "max_iter");
		km_null_arg(fcinfo, 5, "kmeans", "tol");
		transform_oid = PG_GETARG_OID(3);
		o.max_iter = PG_GETARG_INT32(4);
		o.tol = PG_GETARG_FLOAT8(5);
	}
	if (s != NULL)
	{
		/* init was read and checked on the first row; compare it cheaply */
		o.k_min = o.k_max = o.init_k = s->o.init_k;
		return km_accumulate(fcinfo, &o, transform_oid, "kmeans", "kmeans: features", NULL, 0, 0);
	}
	init = PG_GETARG_ARRAYTYPE_P(2);
	if (ARR_NDIM(init) != 2 || array_contains_nulls(init))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kmeans: init must be a two-dimensional array without NULLs, one row per initial centroid")));
	k = ARR_DIMS(init)[0];
	dim = ARR_DIMS(init)[1];
	if (k > SK_KM_MAX_K || dim > SK_KM_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("kmeans: init is %d x %d; at most %d centroids of %d features are supported",
						k, dim, SK_KM_MAX_K, SK_KM_MAX_DIM)));
	{
		double	   *c = (double *) ARR_DATA_PTR(init);
		int			i;

		for (i = 0; i < k * dim; i++)
			if (!isfinite(c[i]))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("kmeans: init must be finite")));
		o.k_min = o.k_max = o.init_k = k;
		return km_accumulate(fcinfo, &o, transform_oid, "kmeans", "kmeans: features", c, k, dim);
	}
}

/* kmeans_choose_k(features, k_min, k_max [, seed [, ... [, silhouette_cap]]]) */
Datum
segkpi_kmeans_choose_k_sfunc(PG_FUNCTION_ARGS)
{
	KmOpts		o;
	Oid			transform_oid = InvalidOid;

	km_opts_default(&o);
	km_null_arg(fcinfo, 2, "kmeans_choose_k", "k_min");
	km_null_arg(fcinfo, 3, "kmeans_choose_k", "k_max");
	o.k_min = PG_GETARG_INT32(2);
	o.k_max = PG_GETARG_INT32(3);
	km_read_tail(fcinfo, 4, true, &o, &transform_oid, "kmeans_choose_k");
	return km_accumulate(fcinfo, &o, transform_oid, "kmeans_choose_k", "kmeans_choose_k: features", NULL, 0, 0);
}

/* ---- combine, serialize, deserialize -------------------------------- */

static KmState *
km_copy_header(const KmState *b, MemoryContext cxt)
{
	KmState    *s = km_new_state(cxt);

	s->o = b->o;
	s->transform_oid = b->transform_oid;
	s->dim = b->dim;
	if (b->init != NULL)
	{
		s->init = MemoryContextAlloc(cxt, sizeof(double) * b->o.init_k * b->dim);
		memcpy(s->init, b->init, sizeof(double) * b->o.init_k * b->dim);
	}
	return s;
}

/* Append b's rows to a (allocated in cxt), compacting a sample as needed. */
static void
km_append(KmState *a, const KmState *b, MemoryContext cxt)
{
	if (b->n == 0)
		return;
	if (a->dim == 0)
		a->dim = b->dim;
	else if (a->dim != b->dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("kmeans: features has %d elements in some rows and %d in others", a->dim, b->dim),
				 errdetail("Every row must have the same number of features.")));
	km_reserve(a, b->n, cxt);
	memcpy(a->rows + a->n * a->dim, b->rows, sizeof(double) * a->dim * b->n);
	a->n += b->n;
	if (a->o.sample_cap > 0 && a->n > (uint64) a->o.sample_cap)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		km_canonicalize(a, (uint64) a->o.sample_cap);
		MemoryContextSwitchTo(old);
	}
}

Datum
segkpi_kmeans_combine(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = km_agg_context(fcinfo, "kmeans_combine");
	KmState    *a = PG_ARGISNULL(0) ? NULL : (KmState *) PG_GETARG_POINTER(0);
	KmState    *b = PG_ARGISNULL(1) ? NULL : (KmState *) PG_GETARG_POINTER(1);

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	/* b may live in a short-lived context (deserialized): copy, never alias */
	if (a == NULL)
		a = km_copy_header(b, cxt);
	else if (memcmp(&a->o, &b->o, sizeof(KmOpts)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kmeans: the options must be the same on every row")));
	km_append(a, b, cxt);
	PG_RETURN_POINTER(a);
}

/*
 * bytea: version byte, KmOpts fields one by one, dim, n, init, rows.  Only
 * parallel workers write it and only the leader reads it, within one
 * server, so native byte order is fine; the reader still checks sizes.
 */
Datum
segkpi_kmeans_serialize(PG_FUNCTION_ARGS)
{
	KmState    *s = (KmState *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	Size		rows_bytes = sizeof(double) * (Size) s->dim * s->n;
	Size		init_bytes = sizeof(double) * (Size) s->dim * s->o.init_k;

	km_agg_context(fcinfo, "kmeans_serialize");
	if (rows_bytes + init_bytes + 256 >= MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("kmeans: a parallel worker's share of the rows exceeds 1 GB"),
				 errhint("Disable parallel query for this fit (SET max_parallel_workers_per_gather = 0), "
						 "or pass sample_cap.")));
	pq_begintypsend(&buf);
	enlargeStringInfo(&buf, rows_bytes + init_bytes + 128);
	pq_sendbyte(&buf, KM_STATE_VERSION);
	pq_sendbytes(&buf, (const char *) &s->o, sizeof(KmOpts));
	pq_sendint32(&buf, s->transform_oid);
	pq_sendint32(&buf, s->dim);
	pq_sendint64(&buf, s->n);
	if (init_bytes > 0)
		pq_sendbytes(&buf, (const char *) s->init, init_bytes);
	if (rows_bytes > 0)
		pq_sendbytes(&buf, (const char *) s->rows, rows_bytes);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

static void
km_bad_state(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("kmeans: invalid serialized aggregate state")));
}

Datum
segkpi_kmeans_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	KmState    *s;
	Size		init_bytes,
				rows_bytes;
	uint64		n;

	km_agg_context(fcinfo, "kmeans_deserialize");
	buf.data = VARDATA_ANY(b);
	buf.len = VARSIZE_ANY_EXHDR(b);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	if (buf.len < (int) (1 + sizeof(KmOpts) + 16) || pq_getmsgbyte(&buf) != KM_STATE_VERSION)
		km_bad_state();
	s = km_new_state(CurrentMemoryContext);
	memcpy(&s->o, pq_getmsgbytes(&buf, sizeof(KmOpts)), sizeof(KmOpts));
	s->transform_oid = pq_getmsgint(&buf, 4);
	s->dim = pq_getmsgint(&buf, 4);
	n = pq_getmsgint64(&buf);
	if (s->dim < 0 || s->dim > SK_KM_MAX_DIM || s->o.init_k < 0 || s->o.init_k > SK_KM_MAX_K ||
		(s->dim == 0 && (n > 0 || s->o.init_k > 0)))
		km_bad_state();
	init_bytes = sizeof(double) * (Size) s->dim * s->o.init_k;
	if (n > (uint64) (buf.len - buf.cursor) / sizeof(double))
		km_bad_state();
	rows_bytes = sizeof(double) * (Size) s->dim * n;
	if ((Size) (buf.len - buf.cursor) != init_bytes + rows_bytes)
		km_bad_state();
	if (init_bytes > 0)
	{
		s->init = palloc(init_bytes);
		memcpy(s->init, pq_getmsgbytes(&buf, init_bytes), init_bytes);
	}
	if (n > 0)
	{
		km_rows_alloc(s, n, CurrentMemoryContext);
		memcpy(s->rows, pq_getmsgbytes(&buf, rows_bytes), rows_bytes);
	}
	s->n = n;
	PG_RETURN_POINTER(s);
}

/* ---- fitting -------------------------------------------------------- */

/* The sorted rows and a core workspace of wbytes must fit the budget. */
static void
km_check_fit_budget(const KmState *s, size_t wbytes)
{
	Size		rows = sizeof(double) * (Size) s->dim * s->n;

	if (wbytes >= SIZE_MAX / 2 || rows + wbytes > km_budget())
		km_over_budget(s->n, s->dim, rows + wbytes);
}

static void
km_require_rows(const KmState *s, const char *fname)
{
	if (s == NULL || s->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: no rows to fit", fname),
				 errdetail("The input is empty, or every features value is NULL.")));
}

/* Fit k clusters to the state's (canonical) rows into a model in the current context. */
static void
km_fit(const KmState *s, int k, sk_km_model *m, const char *fname)
{
	sk_km_params p;
	size_t		mbytes,
				wbytes;
	void	   *work;
	SegkpiMap  *wm;
	sk_status	st;

	if ((uint64) k > s->n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: k (%d) is larger than the number of rows (%llu)",
						fname, k, (unsigned long long) s->n)));
	sk_km_params_init(&p, k);
	p.seed = (uint64_t) s->o.seed;
	p.restarts = s->o.restarts;
	p.max_iter = s->o.max_iter;
	p.tol = s->o.tol;
	p.transform = (sk_km_transform) s->o.transform;
	p.init = s->init;

	segkpi_check_status(sk_km_model_size(k, s->dim, &mbytes), fname);
	segkpi_check_status(sk_km_fit_work_size(s->n, s->dim, &p, &wbytes), fname);
	km_check_fit_budget(s, wbytes);
	sk_km_model_bind(m, k, s->dim, palloc(mbytes), mbytes);
	work = km_scratch(wbytes, &wm);
	st = sk_km_fit(s->rows, s->n, s->dim, &p, work, wbytes, m, &segkpi_interrupt_tick);
	km_scratch_free(wm, work);
	if (st == SK_EINVAL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: k (%d) is larger than the number of distinct rows", fname, k),
				 errdetail("k-means needs at least k different feature vectors%s.",
						   s->o.sample_cap > 0 ? " in the sample" : "")));
	if (st == SK_EOVERFLOW)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s: features are too large in magnitude", fname),
				 s->o.transform == SK_KM_NONE ?
				 errdetail("With transform none every value must lie within +-1e150.") :
				 errdetail("The variance of a feature does not fit a double precision number."),
				 errhint("Use transform log_zscore, or rescale the features.")));
	segkpi_check_status(st, fname);
}

Datum
segkpi_kmeans_final(PG_FUNCTION_ARGS)
{
	KmState    *s = PG_ARGISNULL(0) ? NULL : (KmState *) PG_GETARG_POINTER(0);
	sk_km_model m;

	km_agg_context(fcinfo, "kmeans_final");
	km_require_rows(s, "kmeans");
	/* the fit itself ignores the row order; only a sample must be drawn */
	if (s->o.sample_cap > 0 && s->n > (uint64) s->o.sample_cap)
		km_canonicalize(s, (uint64) s->o.sample_cap);
	km_fit(s, s->o.k_min, &m, "kmeans");
	PG_RETURN_POINTER(segkpi_km_model_to_datum(&m));
}

/*
 * One fit per k in k_min..k_max over the same rows, each scored with
 * inertia, a sampled silhouette and Davies-Bouldin; an array of
 * segkpi.kmeans_k_score, one element per k, in k order.
 */
Datum
segkpi_kmeans_choose_k_final(PG_FUNCTION_ARGS)
{
	KmState    *s = PG_ARGISNULL(0) ? NULL : (KmState *) PG_GETARG_POINTER(0);
	Oid			elemtype = get_element_type(get_fn_expr_rettype(fcinfo->flinfo));
	TupleDesc	desc;
	Datum	   *elems;
	int			nk,
				i;
	size_t		sil_cap;

	km_agg_context(fcinfo, "kmeans_choose_k_final");
	km_require_rows(s, "kmeans_choose_k");
	if (!OidIsValid(elemtype))
		elog(ERROR, "kmeans_choose_k must return an array of a composite type");
	desc = BlessTupleDesc(lookup_rowtype_tupdesc_copy(elemtype, -1));
	km_canonicalize(s, s->o.sample_cap > 0 ? (uint64) s->o.sample_cap : s->n);
	/* 0 skips the silhouette: one sampled row costs nothing and scores NaN */
	sil_cap = s->o.silhouette_cap == 0 ? 1 : (size_t) s->o.silhouette_cap;
	nk = s->o.k_max - s->o.k_min + 1;
	elems = palloc(sizeof(Datum) * nk);
	for (i = 0; i < nk; i++)
	{
		int			k = s->o.k_min + i;
		sk_km_model m;
		sk_km_scores sc;
		size_t		wbytes;
		void	   *work;
		SegkpiMap  *wm;
		Datum		values[KM_SCORE_NATTS];
		bool		nulls[KM_SCORE_NATTS] = {false};

		km_fit(s, k, &m, "kmeans_choose_k");
		segkpi_check_status(sk_km_score_work_size(s->n, s->dim, k, sil_cap, &wbytes),
							"kmeans_choose_k");
		km_check_fit_budget(s, wbytes);
		work = km_scratch(wbytes, &wm);
		segkpi_check_status(sk_km_score(&m, s->rows, s->n, sil_cap, (uint64_t) s->o.seed,
										work, wbytes, &sc, &segkpi_interrupt_tick),
							"kmeans_choose_k: scores");
		km_scratch_free(wm, work);
		values[KM_SCORE_K] = Int32GetDatum(k);
		values[KM_SCORE_INERTIA] = Float8GetDatum(sc.inertia);
		values[KM_SCORE_SILHOUETTE] = Float8GetDatum(sc.silhouette);
		nulls[KM_SCORE_SILHOUETTE] = isnan(sc.silhouette) || s->o.silhouette_cap == 0;
		values[KM_SCORE_DB] = Float8GetDatum(sc.davies_bouldin);
		nulls[KM_SCORE_DB] = isnan(sc.davies_bouldin);
		values[KM_SCORE_SIL_N] = Int64GetDatum(nulls[KM_SCORE_SILHOUETTE] ? 0 : (int64) sc.silhouette_n);
		values[KM_SCORE_ITER] = Int32GetDatum(m.iterations);
		values[KM_SCORE_MODEL] = PointerGetDatum(segkpi_km_model_to_datum(&m));
		elems[i] = HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, nk, elemtype, -1, false, TYPALIGN_DOUBLE));
}
