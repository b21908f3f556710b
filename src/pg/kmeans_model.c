/*
 * kmeans_model.c - the segkpi.kmeans_model type and everything that reads
 * a fitted model: kmeans_assign, the accessors and kmeans_centroids.
 *
 * A kmeans_model is a varlena holding the model's canonical text (the
 * core's format, kmeans.h).  The input function decodes and validates the
 * text and stores it re-encoded, so equal models are equal bytes and a
 * dump reproduces the stored value exactly (numbers use %.17g, which
 * round-trips).  Binary send/receive carry the same text, through the same
 * decoder.
 *
 * Functions that read a model keep the decoded form in fn_extra, keyed by
 * the datum's bytes: the model text itself, or the TOAST pointer when the
 * value is stored out of line (a TOAST pointer names one immutable value).
 * So kmeans_assign decodes a model once per query, not once per row.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

#include "kmeans_common.h"
#include "glue.h"
#include "status.h"

PG_FUNCTION_INFO_V1(segkpi_kmeans_model_in);
PG_FUNCTION_INFO_V1(segkpi_kmeans_model_out);
PG_FUNCTION_INFO_V1(segkpi_kmeans_model_recv);
PG_FUNCTION_INFO_V1(segkpi_kmeans_model_send);
PG_FUNCTION_INFO_V1(segkpi_kmeans_assign);
PG_FUNCTION_INFO_V1(segkpi_kmeans_inertia);
PG_FUNCTION_INFO_V1(segkpi_kmeans_k);
PG_FUNCTION_INFO_V1(segkpi_kmeans_dim);
PG_FUNCTION_INFO_V1(segkpi_kmeans_iterations);
PG_FUNCTION_INFO_V1(segkpi_kmeans_converged);
PG_FUNCTION_INFO_V1(segkpi_kmeans_transform);
PG_FUNCTION_INFO_V1(segkpi_kmeans_centroids);
PG_FUNCTION_INFO_V1(segkpi_kmeans_match);
PG_FUNCTION_INFO_V1(segkpi_kmeans_relabel);

/* ---- feature arrays ------------------------------------------------ */

/*
 * Arrays of a few doubles are usually stored with a 1-byte header, so the
 * fields are read relative to VARDATA_ANY with memcpy instead of making
 * an aligned copy of every row's array (DatumGetArrayTypeP would).
 */
#define ARR_FIELD_OFF(field) (offsetof(ArrayType, field) - VARHDRSZ)

int
segkpi_km_read_array(Datum d, double *out, const char *what)
{
	struct varlena *v = PG_DETOAST_DATUM_PACKED(d);
	const char *p = VARDATA_ANY(v);
	int32		ndim,
				dataoffset,
				n;
	Oid			elemtype;
	const char *data;
	int			i;

	memcpy(&ndim, p + ARR_FIELD_OFF(ndim), sizeof(int32));
	memcpy(&dataoffset, p + ARR_FIELD_OFF(dataoffset), sizeof(int32));
	memcpy(&elemtype, p + ARR_FIELD_OFF(elemtype), sizeof(Oid));
	if (elemtype != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be a float8 array", what)));
	if (ndim != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array with at least one element", what),
				 errdetail("The array has %d dimensions.", ndim)));
	memcpy(&n, p + sizeof(ArrayType) - VARHDRSZ, sizeof(int32));
	if (n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", what)));
	if (n > SK_KM_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s has %d elements, more than the %d supported",
						what, n, SK_KM_MAX_DIM)));
	if (dataoffset != 0)
	{
		/* a null bitmap: the rare path, through the ordinary macros */
		ArrayType  *a = DatumGetArrayTypeP(d);

		if (array_contains_nulls(a))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL elements", what)));
		data = ARR_DATA_PTR(a);
	}
	else
		data = p + ARR_OVERHEAD_NONULLS(1) - VARHDRSZ;
	memcpy(out, data, sizeof(double) * n);
	for (i = 0; i < n; i++)
	{
		if (!isfinite(out[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s must be finite", what),
					 errdetail("Element %d is %s.", i + 1,
							   isnan(out[i]) ? "NaN" : out[i] > 0 ? "Infinity" : "-Infinity")));
		out[i] += 0.0;			/* -0 becomes +0 */
	}
	return n;
}

/* ---- the transform enum ------------------------------------------- */

sk_km_transform
segkpi_km_transform_from_enum(Oid label)
{
	char	   *name = DatumGetCString(DirectFunctionCall1(enum_out, ObjectIdGetDatum(label)));
	sk_km_transform t;

	/* reachable when someone adds a label to segkpi.kmeans_transform */
	if (sk_km_transform_parse(name, strlen(name), &t) != SK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown k-means transform \"%s\"", name),
				 errhint("The transforms are none, zscore and log_zscore; segkpi.kmeans_transform must not be altered.")));
	return t;
}

Datum
segkpi_km_transform_to_enum(sk_km_transform t, Oid enumtype)
{
	return DirectFunctionCall2(enum_in, CStringGetDatum(sk_km_transform_name(t)),
							   ObjectIdGetDatum(enumtype));
}

/* ---- model text ----------------------------------------------------- */

struct varlena *
segkpi_km_model_to_datum(const sk_km_model *m)
{
	size_t		cap,
				len;
	struct varlena *v;
	sk_status	st;

	segkpi_check_status(sk_km_model_text_size(m->k, m->dim, &cap), "kmeans: model size");
	if (cap > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("kmeans: the model of %d clusters of %d features is larger than 1 GB",
						m->k, m->dim)));
	v = (struct varlena *) palloc(VARHDRSZ + cap);
	st = sk_km_model_encode(m, VARDATA(v), cap, &len);
	if (st == SK_EDATA)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("kmeans: the fitted model holds a value that is not finite"),
				 errhint("Use transform zscore or log_zscore for features of very different scales.")));
	segkpi_check_status(st, "kmeans: model text");
	SET_VARSIZE(v, VARHDRSZ + len);
	return v;
}

void
segkpi_km_model_decode(const char *text, size_t len, sk_km_model *m, bool type_input)
{
	int			k,
				dim;
	size_t		bytes;
	void	   *block;
	sk_status	st;

	st = sk_km_model_peek(text, len, &k, &dim);
	if (st == SK_OK)
		st = sk_km_model_size(k, dim, &bytes);
	if (st == SK_OK)
	{
		block = palloc(bytes);
		st = sk_km_model_bind(m, k, dim, block, bytes);
		if (st == SK_OK)
			st = sk_km_model_decode(text, len, m);
	}
	if (st == SK_OK)
		return;
	if (type_input)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type segkpi.kmeans_model: \"%s%s\"",
						pnstrdup(text, Min(len, 80)), len > 80 ? "..." : ""),
				 errdetail("A model is the text written by segkpi.kmeans: \"kmeans v1 k=... dim=... "
						   "transform=... n=... iterations=... converged=... inertia=... shift=... scale=...\" "
						   "followed by exactly k clusters \"cluster=size,wcss,centroid...\", "
						   "with sizes that add up to n and an inertia equal to the sum of the wcss.")));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("stored segkpi.kmeans_model value is corrupt")));
}

static struct varlena *
model_from_text(const char *text, size_t len)
{
	sk_km_model m;

	segkpi_km_model_decode(text, len, &m, true);
	return segkpi_km_model_to_datum(&m);
}

Datum
segkpi_kmeans_model_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);

	PG_RETURN_POINTER(model_from_text(str, strlen(str)));
}

Datum
segkpi_kmeans_model_out(PG_FUNCTION_ARGS)
{
	struct varlena *v = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));

	PG_RETURN_CSTRING(pnstrdup(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v)));
}

Datum
segkpi_kmeans_model_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			nbytes = buf->len - buf->cursor;
	const char *text = pq_getmsgbytes(buf, nbytes);

	PG_RETURN_POINTER(model_from_text(text, nbytes));
}

Datum
segkpi_kmeans_model_send(PG_FUNCTION_ARGS)
{
	struct varlena *v = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));

	PG_RETURN_BYTEA_P(segkpi_send_text(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v)));
}

/* ---- the per-query model cache ------------------------------------ */

typedef struct KmModelCache
{
	MemoryContext cxt;			/* holds key and model; reset on a new model */
	char	   *key;
	Size		keylen;
	sk_km_model m;
	double	   *scratch;		/* dim doubles for sk_km_assign */
	double	   *row;			/* SK_KM_MAX_DIM doubles */
} KmModelCache;

/*
 * The decoded model of argument argno, from the cache when its bytes are
 * those of the last call.
 */
static KmModelCache *
cached_model(FunctionCallInfo fcinfo, int argno)
{
	KmModelCache *c = (KmModelCache *) fcinfo->flinfo->fn_extra;
	struct varlena *raw = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(argno));
	struct varlena *v = NULL;
	const char *key;
	Size		keylen;
	MemoryContext old;

	if (VARATT_IS_EXTERNAL_ONDISK(raw))
	{
		key = (const char *) raw;
		keylen = VARSIZE_ANY(raw);
	}
	else
	{
		v = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(argno));
		key = VARDATA_ANY(v);
		keylen = VARSIZE_ANY_EXHDR(v);
	}
	if (c != NULL && c->keylen == keylen && memcmp(c->key, key, keylen) == 0)
		return c;

	if (c == NULL)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(KmModelCache));
		c->cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "segkpi kmeans model",
									   ALLOCSET_SMALL_SIZES);
		fcinfo->flinfo->fn_extra = c;
	}
	else
		MemoryContextReset(c->cxt);
	c->keylen = 0;
	if (v == NULL)
		v = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(argno));
	old = MemoryContextSwitchTo(c->cxt);
	segkpi_km_model_decode(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), &c->m, false);
	c->scratch = palloc(sizeof(double) * c->m.dim);
	c->row = palloc(sizeof(double) * SK_KM_MAX_DIM);
	c->key = palloc(keylen);
	memcpy(c->key, key, keylen);
	MemoryContextSwitchTo(old);
	c->keylen = keylen;
	return c;
}

/* ---- functions of a model ------------------------------------------ */

Datum
segkpi_kmeans_assign(PG_FUNCTION_ARGS)
{
	KmModelCache *c = cached_model(fcinfo, 0);
	int			dim = segkpi_km_read_array(PG_GETARG_DATUM(1), c->row, "kmeans_assign: features");
	int			cluster;

	if (dim != c->m.dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("kmeans_assign: features has %d elements, but the model has %d features",
						dim, c->m.dim)));
	segkpi_check_status(sk_km_assign(&c->m, c->row, c->scratch, &cluster, NULL),
						"kmeans_assign");
	PG_RETURN_INT32(cluster + 1);
}

Datum
segkpi_kmeans_inertia(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(cached_model(fcinfo, 0)->m.inertia);
}

Datum
segkpi_kmeans_k(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(cached_model(fcinfo, 0)->m.k);
}

Datum
segkpi_kmeans_dim(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(cached_model(fcinfo, 0)->m.dim);
}

Datum
segkpi_kmeans_iterations(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(cached_model(fcinfo, 0)->m.iterations);
}

Datum
segkpi_kmeans_converged(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(cached_model(fcinfo, 0)->m.converged != 0);
}

Datum
segkpi_kmeans_transform(PG_FUNCTION_ARGS)
{
	sk_km_transform t = cached_model(fcinfo, 0)->m.transform;

	PG_RETURN_DATUM(segkpi_km_transform_to_enum(t, get_fn_expr_rettype(fcinfo->flinfo)));
}

/*
 * One row per cluster: cluster (1..k), centroid in original units, size,
 * within-cluster sum of squares (transformed space).
 */
Datum
segkpi_kmeans_centroids(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	struct varlena *v = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	sk_km_model m;
	Datum	   *elems;
	double	   *c;
	int			j,
				f;

	segkpi_materialize(fcinfo, "kmeans_centroids");
	segkpi_km_model_decode(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), &m, false);
	c = palloc(sizeof(double) * m.dim);
	elems = palloc(sizeof(Datum) * m.dim);
	for (j = 0; j < m.k; j++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		sk_status	st = sk_km_centroid_original(&m, j, c);

		if (st == SK_EOVERFLOW)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("kmeans_centroids: the centroid of cluster %d is out of range in original units", j + 1)));
		segkpi_check_status(st, "kmeans_centroids");
		for (f = 0; f < m.dim; f++)
			elems[f] = Float8GetDatum(c[f]);
		values[0] = Int32GetDatum(j + 1);
		values[1] = PointerGetDatum(construct_array(elems, m.dim, FLOAT8OID, sizeof(float8),
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[2] = Int64GetDatum((int64) m.sizes[j]);
		values[3] = Float8GetDatum(m.wcss[j]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---- matching the clusters of two models --------------------------- */

/* Decode a model argument (storage form: corrupt data is 22P02/XX001). */
static void
model_arg(FunctionCallInfo fcinfo, int argno, sk_km_model *m)
{
	struct varlena *v = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(argno));

	segkpi_km_model_decode(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), m, false);
}

/*
 * One row per cluster of model: the cluster of reference paired with it
 * by the least total squared centroid distance, and their distance in
 * model's transformed space.
 */
Datum
segkpi_kmeans_match(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	sk_km_model m,
				ref;
	size_t		bytes;
	void	   *work;
	int		   *to_ref;
	double	   *d2;
	int			j;

	InitMaterializedSRF(fcinfo, 0);
	model_arg(fcinfo, 0, &m);
	model_arg(fcinfo, 1, &ref);
	if (m.k != ref.k || m.dim != ref.dim || m.transform != ref.transform)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kmeans_match: the models differ in %s",
						m.k != ref.k ? "k" : m.dim != ref.dim ? "the number of features" : "transform"),
				 errdetail("model has k = %d, %d features, transform %s; reference has k = %d, %d features, transform %s.",
						   m.k, m.dim, sk_km_transform_name(m.transform),
						   ref.k, ref.dim, sk_km_transform_name(ref.transform))));
	segkpi_check_status(sk_km_match_work_size(m.k, &bytes), "kmeans_match");
	work = palloc(bytes);
	to_ref = palloc(sizeof(int) * m.k);
	d2 = palloc(sizeof(double) * m.k);
	segkpi_check_status(sk_km_match(&m, &ref, work, bytes, to_ref, d2, &segkpi_interrupt_tick),
						"kmeans_match");
	for (j = 0; j < m.k; j++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int32GetDatum(j + 1);
		values[1] = Int32GetDatum(to_ref[j] + 1);
		values[2] = Float8GetDatum(sqrt(d2[j]));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* The model with cluster j renamed labels[j] (1-based, a permutation of 1..k). */
Datum
segkpi_kmeans_relabel(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(1);
	sk_km_model m,
				out;
	size_t		bytes;
	int		   *label;
	int32	   *elems;
	int			j;

	model_arg(fcinfo, 0, &m);
	if (ARR_ELEMTYPE(a) != INT4OID || ARR_NDIM(a) != 1 || array_contains_nulls(a) ||
		ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)) != m.k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kmeans_relabel: labels must be a one-dimensional integer array of k = %d elements without NULLs", m.k)));
	elems = (int32 *) ARR_DATA_PTR(a);
	label = palloc(sizeof(int) * m.k);
	for (j = 0; j < m.k; j++)
		label[j] = elems[j] - 1;
	segkpi_check_status(sk_km_model_size(m.k, m.dim, &bytes), "kmeans_relabel");
	segkpi_check_status(sk_km_model_bind(&out, m.k, m.dim, palloc(bytes), bytes), "kmeans_relabel");
	if (sk_km_relabel(&m, label, &out) != SK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("kmeans_relabel: labels must hold each of 1 .. %d once", m.k)));
	PG_RETURN_POINTER(segkpi_km_model_to_datum(&out));
}
