/*
 * rfm_cuts.c - the segkpi.rfm_cuts aggregate and segkpi.rfm_apply.
 *
 * rfm_score ranks every customer against its window partition, so the
 * whole partition passes through the window's row store.  The same scores
 * follow from bins - 1 cut points per dimension (rank.h): rfm_cuts keeps
 * only each customer's three ranking values, sorts them once and returns
 * the cut points as a plain composite (segkpi.rfm_cuts); rfm_apply then
 * scores any rfm_stats value against them, row by row, with no window.
 * For a customer of the population the cuts came from, rfm_apply gives
 * exactly what rfm_score gives; for anyone else, the score that customer
 * would get against that population (capped at bins).
 *
 * The cuts are user-visible and may be edited or stored, so rfm_apply
 * checks every field; it decodes them once per distinct value (fn_extra).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "glue.h"
#include "numdec.h"
#include "rank.h"
#include "rfm_common.h"
#include "status.h"

PG_FUNCTION_INFO_V1(segkpi_rfm_cuts_sfunc);
PG_FUNCTION_INFO_V1(segkpi_rfm_cuts_final);
PG_FUNCTION_INFO_V1(segkpi_rfm_apply);

/* segkpi.rfm_cuts */
#define CUTS_AS_OF		0
#define CUTS_BINS		1
#define CUTS_CUSTOMERS	2
#define CUTS_R			3
#define CUTS_F			4
#define CUTS_M			5
#define CUTS_NATTS		6

#define CUTS_MAX (SK_BINS_MAX - 1)

/* ---- the aggregate ----------------------------------------------------- */

/*
 * Per customer: the R key (last order; INT64_MIN, which is -infinity,
 * without orders), orders, and the total as a decimal.  Totals too wide
 * for 128 bits keep their numeric in wide[] (allocated on the first one).
 */
typedef struct CutsState
{
	TimestampTz as_of;
	int			bins;
	TupleDesc	stats_desc;
	size_t		n;
	size_t		cap;
	int64	   *last;
	int64	   *orders;
	sk_dec	   *money;
	Datum	   *wide;
} CutsState;

static void *
grow(void *p, size_t old_bytes, size_t new_bytes)
{
	if (p == NULL)
		return MemoryContextAllocExtended(CurrentMemoryContext, new_bytes,
										  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	p = repalloc_huge(p, new_bytes);
	memset((char *) p + old_bytes, 0, new_bytes - old_bytes);
	return p;
}

static void
cuts_reserve(CutsState *st)
{
	size_t		cap;

	if (st->n < st->cap)
		return;
	if (st->n >= PG_UINT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("rfm_cuts: at most %u customers", PG_UINT32_MAX)));
	cap = st->cap == 0 ? 1024 : st->cap * 2;
	st->last = grow(st->last, st->cap * sizeof(int64), cap * sizeof(int64));
	st->orders = grow(st->orders, st->cap * sizeof(int64), cap * sizeof(int64));
	st->money = grow(st->money, st->cap * sizeof(sk_dec), cap * sizeof(sk_dec));
	if (st->wide != NULL)
		st->wide = grow(st->wide, st->cap * sizeof(Datum), cap * sizeof(Datum));
	st->cap = cap;
}

static TimestampTz
arg_as_of(FunctionCallInfo fcinfo, int argno, const char *fn)
{
	TimestampTz as_of;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: as_of must not be null", fn)));
	as_of = PG_GETARG_TIMESTAMPTZ(argno);
	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: as_of must be finite", fn)));
	return as_of;
}

static int
arg_bins(FunctionCallInfo fcinfo, int argno)
{
	int32		bins;

	if (PG_NARGS() <= argno)
		return 5;
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rfm_cuts: bins must not be null")));
	bins = PG_GETARG_INT32(argno);
	if (bins < 1 || bins > SK_BINS_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rfm_cuts: bins must be between 1 and %d", SK_BINS_MAX),
				 errdetail("bins is %d.", bins)));
	return bins;
}

/* rfm_cuts_sfunc(state, stats, as_of [, bins]) */
Datum
segkpi_rfm_cuts_sfunc(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	MemoryContext old;
	CutsState  *st;
	TimestampTz as_of;
	int			bins;
	RfmRow		row;

	segkpi_require_agg_context(fcinfo, "rfm_cuts_sfunc");
	AggCheckCallContext(fcinfo, &aggcxt);
	as_of = arg_as_of(fcinfo, 2, "rfm_cuts");
	bins = arg_bins(fcinfo, 3);

	old = MemoryContextSwitchTo(aggcxt);
	if (PG_ARGISNULL(0))
	{
		st = palloc0(sizeof(CutsState));
		st->as_of = as_of;
		st->bins = bins;
	}
	else
	{
		st = (CutsState *) PG_GETARG_POINTER(0);
		if (as_of != st->as_of || bins != st->bins)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rfm_cuts: as_of and bins must be the same for every row")));
	}
	if (!PG_ARGISNULL(1))		/* NULL stats: no orders left; not counted */
	{
		TupleDesc	desc = segkpi_rfm_stats_desc(fcinfo->flinfo, 1, &st->stats_desc);
		sk_dec		dec;

		segkpi_rfm_read_stats(PG_GETARG_DATUM(1), desc, &row, "rfm_cuts");
		segkpi_rfm_check_as_of(&row, as_of, "rfm_cuts");
		dec = segkpi_rfm_read_monetary(row.monetary, "rfm_cuts");
		cuts_reserve(st);
		if (dec.scale < 0)
		{
			if (st->wide == NULL)
				st->wide = grow(NULL, 0, st->cap * sizeof(Datum));
			st->wide[st->n] = datumCopy(row.monetary, false, -1);
		}
		st->last[st->n] = row.has_orders ? row.last : PG_INT64_MIN;
		st->orders[st->n] = row.orders;
		st->money[st->n] = dec;
		st->n++;
	}
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(st);
}

/* Monetary keys: exact at the largest scale, else dense ranks of numerics. */
static void
cuts_money_keys(const CutsState *st, sk_key *keys)
{
	Datum	   *values;
	size_t		i;

	if (st->wide == NULL && sk_dec_keys(st->money, st->n, keys) == SK_OK)
		return;
	values = palloc_extended(st->n * sizeof(Datum) + 1, MCXT_ALLOC_HUGE);
	for (i = 0; i < st->n; i++)
		values[i] = st->money[i].scale < 0 ? st->wide[i]
			: NumericGetDatum(segkpi_dec_to_numeric(st->money[i]));
	segkpi_rfm_rank_numerics(values, st->n, keys);
	pfree(values);
}

/* idx[0..bins-1) of the cut customers of one dimension. */
static void
cuts_of(const sk_key *keys, size_t n, int bins, void *work, size_t work_size,
		size_t *idx)
{
	segkpi_check_status(sk_quantile_cuts(keys, n, bins, work, work_size, idx,
										 &segkpi_interrupt_tick),
						"rfm_cuts");
}

static ArrayType *
int8_array(const int64 *v, const size_t *idx, int k, Oid elemtype)
{
	Datum		d[CUTS_MAX];
	int			j;

	for (j = 0; j < k; j++)
		d[j] = Int64GetDatum(v[idx[j]]);
	return construct_array(d, k, elemtype, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

Datum
segkpi_rfm_cuts_final(PG_FUNCTION_ARGS)
{
	CutsState  *st;
	sk_key	   *keys;
	void	   *work;
	size_t		work_size;
	size_t		idx[CUTS_MAX];
	Datum		m[CUTS_MAX];
	Datum		values[CUTS_NATTS];
	bool		nulls[CUTS_NATTS] = {false};
	TupleDesc	desc;
	size_t		i;
	int			k,
				j;

	segkpi_require_agg_context(fcinfo, "rfm_cuts_final");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (CutsState *) PG_GETARG_POINTER(0);
	if (st->n == 0)
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "rfm_cuts must return a composite type");
	if (desc->natts != CUTS_NATTS)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("segkpi.rfm_cuts has %d columns, expected %d", desc->natts, CUTS_NATTS),
				 errhint("The type belongs to the extension; reinstall it instead of altering it.")));

	k = st->bins - 1;
	work_size = sk_scores_work_size(st->n);
	if (work_size == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("rfm_cuts: too many customers")));
	work = palloc_extended(work_size, MCXT_ALLOC_HUGE);
	keys = palloc_extended(st->n * sizeof(sk_key), MCXT_ALLOC_HUGE);

	values[CUTS_AS_OF] = TimestampTzGetDatum(st->as_of);
	values[CUTS_BINS] = Int32GetDatum(st->bins);
	values[CUTS_CUSTOMERS] = Int64GetDatum((int64) st->n);

	/* R: -infinity (no orders) sorts below every real last order */
	for (i = 0; i < st->n; i++)
		keys[i] = sk_key_i64(st->last[i]);
	cuts_of(keys, st->n, st->bins, work, work_size, idx);
	values[CUTS_R] = PointerGetDatum(int8_array(st->last, idx, k, TIMESTAMPTZOID));

	for (i = 0; i < st->n; i++)
		keys[i] = sk_key_i64(st->orders[i]);
	cuts_of(keys, st->n, st->bins, work, work_size, idx);
	values[CUTS_F] = PointerGetDatum(int8_array(st->orders, idx, k, INT8OID));

	cuts_money_keys(st, keys);
	cuts_of(keys, st->n, st->bins, work, work_size, idx);
	for (j = 0; j < k; j++)
		m[j] = st->money[idx[j]].scale < 0 ? st->wide[idx[j]]
			: NumericGetDatum(segkpi_dec_to_numeric(st->money[idx[j]]));
	values[CUTS_M] = PointerGetDatum(construct_array(m, k, NUMERICOID, -1, false, TYPALIGN_INT));

	pfree(keys);
	pfree(work);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/* ---- applying cuts ----------------------------------------------------- */

/* Decoded cuts, kept with a copy of the value they came from. */
typedef struct ApplyCache
{
	MemoryContext cxt;			/* raw and m_num; reset for each new value */
	struct varlena *raw;		/* NULL until the first value */
	TimestampTz as_of;
	int			bins;
	sk_key		r[CUTS_MAX];
	sk_key		f[CUTS_MAX];
	sk_dec		m[CUTS_MAX];	/* scale -1: wide, compare m_num */
	Datum		m_num[CUTS_MAX];
	TupleDesc	stats_desc;
	TupleDesc	result_desc;
	RfmRules	rules;
	bool		cuts_const;		/* a constant in the query: decode once */
	text	   *ruleset;		/* the ruleset argument the rules were loaded for */
} ApplyCache;

static void
cuts_error(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("rfm_apply: invalid rfm_cuts value"),
			 errdetail("%s", detail),
			 errhint("Pass the result of segkpi.rfm_cuts.")));
}

/* The k elements of a one-dimensional cut array without NULLs. */
static Datum *
cut_elements(Datum d, bool isnull, Oid elemtype, int k, const char *name)
{
	ArrayType  *a;
	Datum	   *elems;
	bool	   *enulls;
	int			n,
				j;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (isnull)
		cuts_error(psprintf("%s must not be null.", name));
	a = DatumGetArrayTypeP(d);
	if (ARR_ELEMTYPE(a) != elemtype || (ARR_NDIM(a) != 1 && !(k == 0 && ARR_NDIM(a) == 0)))
		cuts_error(psprintf("%s must be a one-dimensional array.", name));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(a, elemtype, typlen, typbyval, typalign, &elems, &enulls, &n);
	if (n != k)
		cuts_error(psprintf("%s must hold bins - 1 = %d values, not %d.", name, k, n));
	for (j = 0; j < n; j++)
		if (enulls[j])
			cuts_error(psprintf("%s must not contain nulls.", name));
	return elems;
}

static void
check_ascending_keys(const sk_key *keys, int k, const char *name)
{
	int			j;

	for (j = 1; j < k; j++)
		if (sk_key_cmp(keys[j - 1], keys[j]) > 0)
			cuts_error(psprintf("%s must be in ascending order.", name));
}

static void
decode_money_cuts(ApplyCache *c, const Datum *elems, int k)
{
	int			j;

	for (j = 0; j < k; j++)
	{
		struct varlena *v = PG_DETOAST_DATUM_PACKED(elems[j]);
		sk_numkind	kind;
		sk_status	rc = sk_numeric_decode((const unsigned char *) VARDATA_ANY(v),
										   VARSIZE_ANY_EXHDR(v), &kind, &c->m[j]);

		if (rc == SK_EDATA || (rc == SK_OK && kind != SK_NUM_FINITE))
			cuts_error("m must hold finite numbers.");
		if (rc == SK_EOVERFLOW)
			c->m[j].scale = -1;
		c->m_num[j] = datumCopy(elems[j], false, -1);
		if (j > 0 && DatumGetInt32(DirectFunctionCall2(numeric_cmp, c->m_num[j - 1],
													   c->m_num[j])) > 0)
			cuts_error("m must be in ascending order.");
	}
}

static void
decode_cuts(ApplyCache *c, HeapTupleHeader th)
{
	TupleDesc	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(th),
											  HeapTupleHeaderGetTypMod(th));
	HeapTupleData tuple;
	Datum		values[CUTS_NATTS];
	bool		nulls[CUTS_NATTS];
	Datum	   *elems;
	int			k,
				j;

	if (desc->natts != CUTS_NATTS)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("segkpi.rfm_cuts has %d columns, expected %d", desc->natts, CUTS_NATTS)));
	tuple.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = th;
	heap_deform_tuple(&tuple, desc, values, nulls);
	ReleaseTupleDesc(desc);

	if (nulls[CUTS_AS_OF] || TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(values[CUTS_AS_OF])))
		cuts_error("as_of must be a finite time.");
	if (nulls[CUTS_BINS] || DatumGetInt32(values[CUTS_BINS]) < 1 ||
		DatumGetInt32(values[CUTS_BINS]) > SK_BINS_MAX)
		cuts_error(psprintf("bins must be between 1 and %d.", SK_BINS_MAX));
	if (nulls[CUTS_CUSTOMERS] || DatumGetInt64(values[CUTS_CUSTOMERS]) < 1)
		cuts_error("customers must be at least 1.");
	c->as_of = DatumGetTimestampTz(values[CUTS_AS_OF]);
	c->bins = DatumGetInt32(values[CUTS_BINS]);
	k = c->bins - 1;

	elems = cut_elements(values[CUTS_R], nulls[CUTS_R], TIMESTAMPTZOID, k, "r");
	for (j = 0; j < k; j++)
		c->r[j] = sk_key_i64(DatumGetTimestampTz(elems[j]));
	check_ascending_keys(c->r, k, "r");

	elems = cut_elements(values[CUTS_F], nulls[CUTS_F], INT8OID, k, "f");
	for (j = 0; j < k; j++)
		c->f[j] = sk_key_i64(DatumGetInt64(elems[j]));
	check_ascending_keys(c->f, k, "f");

	elems = cut_elements(values[CUTS_M], nulls[CUTS_M], NUMERICOID, k, "m");
	decode_money_cuts(c, elems, k);
}

/*
 * True when argument argno is a constant of the query: then its value is
 * the same on every call through this FmgrInfo.  An external parameter is
 * not: PL/pgSQL evaluates a simple expression through the same FmgrInfo
 * while the variable behind the parameter changes.
 */
static bool
arg_is_const(FmgrInfo *flinfo, int argno)
{
	List	   *args;

	if (flinfo->fn_expr == NULL || !IsA(flinfo->fn_expr, FuncExpr))
		return false;
	args = ((FuncExpr *) flinfo->fn_expr)->args;
	return argno < list_length(args) && IsA(list_nth(args, argno), Const);
}

/*
 * The cache for this cuts value, decoding it when its bytes differ from
 * the last value's; a constant is decoded once without comparing.
 */
static ApplyCache *
apply_cache(FunctionCallInfo fcinfo, Datum cuts)
{
	FmgrInfo   *flinfo = fcinfo->flinfo;
	ApplyCache *c = flinfo->fn_extra;
	struct varlena *raw;
	MemoryContext old;

	if (c == NULL)
	{
		c = flinfo->fn_extra = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(ApplyCache));
		c->cxt = AllocSetContextCreate(flinfo->fn_mcxt, "rfm_apply cuts", ALLOCSET_SMALL_SIZES);
		c->cuts_const = arg_is_const(flinfo, 1);
	}
	if (c->raw != NULL && c->cuts_const)
		return c;
	raw = PG_DETOAST_DATUM(cuts);
	if (c->raw != NULL && VARSIZE(c->raw) == VARSIZE(raw) &&
		memcmp(c->raw, raw, VARSIZE(raw)) == 0)
		return c;

	/* cuts that change from row to row must not pile up in fn_mcxt */
	c->raw = NULL;
	MemoryContextReset(c->cxt);
	old = MemoryContextSwitchTo(c->cxt);
	decode_cuts(c, (HeapTupleHeader) raw);
	c->raw = palloc(VARSIZE(raw));
	memcpy(c->raw, raw, VARSIZE(raw));
	MemoryContextSwitchTo(old);
	return c;
}

static int
money_score(const ApplyCache *c, sk_dec v, Datum num)
{
	int			s = 1;
	int			j;

	for (j = 0; j < c->bins - 1; j++)
	{
		sk_status	st = SK_EOVERFLOW;
		int			cmp = 0;

		if (v.scale >= 0 && c->m[j].scale >= 0)
			cmp = sk_dec_cmp(v, c->m[j], &st);
		if (st != SK_OK)
			cmp = DatumGetInt32(DirectFunctionCall2(numeric_cmp, num, c->m_num[j]));
		s += cmp > 0;
	}
	return s;
}

/* rfm_apply(stats, cuts, ruleset) */
Datum
segkpi_rfm_apply(PG_FUNCTION_ARGS)
{
	ApplyCache *c;
	text	   *ruleset;
	RfmRow		row;
	int			sc[3];

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rfm_apply: ruleset must not be null")));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	c = apply_cache(fcinfo, PG_GETARG_DATUM(1));
	ruleset = PG_GETARG_TEXT_PP(2);
	if (c->ruleset == NULL || VARSIZE_ANY_EXHDR(c->ruleset) != VARSIZE_ANY_EXHDR(ruleset) ||
		memcmp(VARDATA_ANY(c->ruleset), VARDATA_ANY(ruleset), VARSIZE_ANY_EXHDR(ruleset)) != 0)
	{
		if (c->ruleset != NULL)
			pfree(c->ruleset);
		c->ruleset = NULL;
		segkpi_rfm_rules_load(&c->rules, fcinfo->flinfo->fn_mcxt, text_to_cstring(ruleset));
		c->ruleset = (text *) MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, VARSIZE_ANY(ruleset));
		memcpy(c->ruleset, ruleset, VARSIZE_ANY(ruleset));
	}

	segkpi_rfm_read_stats(PG_GETARG_DATUM(0),
						  segkpi_rfm_stats_desc(fcinfo->flinfo, 0, &c->stats_desc),
						  &row, "rfm_apply");
	segkpi_rfm_check_as_of(&row, c->as_of, "rfm_apply");
	sc[0] = sk_cut_score(sk_key_i64(row.has_orders ? row.last : PG_INT64_MIN), c->r, c->bins - 1);
	sc[1] = sk_cut_score(sk_key_i64(row.orders), c->f, c->bins - 1);
	sc[2] = money_score(c, segkpi_rfm_read_monetary(row.monetary, "rfm_apply"), row.monetary);

	PG_RETURN_DATUM(segkpi_rfm_result(fcinfo, &c->result_desc, &c->rules, &row, c->as_of, sc, c->bins));
}
