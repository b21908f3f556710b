/*
 * rfm_score.c - the segkpi.rfm_score window function and segkpi.rfm_segment.
 *
 * rfm_score scores every customer of a window partition at once: on the
 * partition's first row it reads all rfm_stats values, computes R, F and M
 * scores with the core's tie-aware quantile rule (rank.h), and keeps only
 * three bytes per row; each row then re-reads its own stats to build its
 * result.  as_of, bins and ruleset must be the same on every row of a
 * partition, because the scores of one row depend on all the others.
 *
 * Segment names come from segkpi.rfm_rules, read once per query and
 * ruleset into a 5 x 5 x 5 table (scores are rescaled to five bins first).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "windowapi.h"

#include "numdec.h"
#include "rank.h"
#include "rfm_common.h"
#include "status.h"

PG_FUNCTION_INFO_V1(segkpi_rfm_score);
PG_FUNCTION_INFO_V1(segkpi_rfm_segment);

/* Per-query cache (fn_extra): result type, stats type, one ruleset. */
typedef struct RfmCache
{
	TupleDesc	result_desc;
	TupleDesc	stats_desc;
	RfmRules	rules;
} RfmCache;

/* Per-partition state (WinGetPartitionLocalMemory, zeroed at start). */
typedef struct RfmPartition
{
	bool		ready;
	int			bins;
	TimestampTz as_of;
	char	   *ruleset;
	uint8	   *scores;			/* r, f, m per row; r == 0 marks a NULL row */
} RfmPartition;

static RfmCache *
get_cache(FmgrInfo *flinfo)
{
	if (flinfo->fn_extra == NULL)
		flinfo->fn_extra = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(RfmCache));
	return (RfmCache *) flinfo->fn_extra;
}

/* ---- rules ---------------------------------------------------------- */

static int
get_int_column(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? -1 : DatumGetInt32(d);
}

void
segkpi_rfm_rules_load(RfmRules *rules, MemoryContext cxt, const char *ruleset)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	uint64		i;
	int			r,
				f,
				m;

	if (rules->ruleset != NULL && strcmp(rules->ruleset, ruleset) == 0)
		return;

	args[0] = CStringGetTextDatum(ruleset);
	memset(rules->cell, 0, sizeof(rules->cell));
	rules->ruleset = NULL;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT segment, r_min, r_max, f_min, f_max, m_min, m_max"
							  "  FROM segkpi.rfm_rules WHERE ruleset OPERATOR(pg_catalog.=) $1"
							  " ORDER BY rule_order",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read segkpi.rfm_rules");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("RFM ruleset \"%s\" does not exist", ruleset),
				 errhint("The rulesets are in segkpi.rfm_rules; \"default\" is always there.")));

	/* Earlier rules win: fill each still-empty cell a rule covers. */
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *segment = SPI_getvalue(tup, desc, 1);
		size_t		len = strlen(segment);
		text	   *name = (text *) MemoryContextAlloc(cxt, VARHDRSZ + len);
		int			lo[3],
					hi[3],
					d;

		SET_VARSIZE(name, VARHDRSZ + len);
		memcpy(VARDATA(name), segment, len);
		for (d = 0; d < 3; d++)
		{
			lo[d] = get_int_column(tup, desc, 2 + 2 * d);
			hi[d] = get_int_column(tup, desc, 3 + 2 * d);
		}
		for (r = Max(lo[0], 1); r <= Min(hi[0], RFM_SEGMENT_BINS); r++)
			for (f = Max(lo[1], 1); f <= Min(hi[1], RFM_SEGMENT_BINS); f++)
				for (m = Max(lo[2], 1); m <= Min(hi[2], RFM_SEGMENT_BINS); m++)
					if (rules->cell[r - 1][f - 1][m - 1] == NULL)
						rules->cell[r - 1][f - 1][m - 1] = name;
	}
	SPI_finish();
	rules->ruleset = MemoryContextStrdup(cxt, ruleset);
}

static void
load_rules(FmgrInfo *flinfo, const char *ruleset)
{
	segkpi_rfm_rules_load(&get_cache(flinfo)->rules, flinfo->fn_mcxt, ruleset);
}

Datum
segkpi_rfm_segment(PG_FUNCTION_ARGS)
{
	int32		score[3];
	char	   *ruleset = text_to_cstring(PG_GETARG_TEXT_PP(3));
	static const char *const names[3] = {"r", "f", "m"};
	RfmCache   *cache;
	text	   *seg;
	int			d;

	for (d = 0; d < 3; d++)
	{
		score[d] = PG_GETARG_INT32(d);
		if (score[d] < 1 || score[d] > RFM_SEGMENT_BINS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rfm_segment: %s must be between 1 and %d",
							names[d], RFM_SEGMENT_BINS),
					 errdetail("The score given is %d.", score[d]),
					 errhint("Scores from rfm_score with bins other than 5 are "
							 "rescaled as ceil(5 * score / bins).")));
	}
	load_rules(fcinfo->flinfo, ruleset);
	cache = get_cache(fcinfo->flinfo);
	seg = cache->rules.cell[score[0] - 1][score[1] - 1][score[2] - 1];
	if (seg == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(seg);
}

/* ---- reading rfm_stats values --------------------------------------- */

TupleDesc
segkpi_rfm_stats_desc(FmgrInfo *flinfo, int argno, TupleDesc *cached)
{
	if (*cached == NULL)
	{
		Oid			typid = get_fn_expr_argtype(flinfo, argno);
		MemoryContext old = MemoryContextSwitchTo(flinfo->fn_mcxt);

		*cached = lookup_rowtype_tupdesc_copy(typid, -1);
		MemoryContextSwitchTo(old);
		if ((*cached)->natts != RFM_STATS_NATTS)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("segkpi.rfm_stats has %d columns, expected %d",
							(*cached)->natts, RFM_STATS_NATTS),
					 errhint("The type belongs to the extension; reinstall it instead of altering it.")));
	}
	return *cached;
}

static TupleDesc
stats_desc(FunctionCallInfo fcinfo)
{
	return segkpi_rfm_stats_desc(fcinfo->flinfo, 0, &get_cache(fcinfo->flinfo)->stats_desc);
}

static void
stats_error(const char *fn, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("%s: invalid rfm_stats value", fn),
			 errdetail("%s", detail),
			 errhint("Pass the result of segkpi.rfm_agg.")));
}

void
segkpi_rfm_read_stats(Datum d, TupleDesc desc, RfmRow *row, const char *fn)
{
	HeapTupleHeader th = DatumGetHeapTupleHeader(d);
	HeapTupleData tuple;
	Datum		values[RFM_STATS_NATTS];
	bool		nulls[RFM_STATS_NATTS];

	tuple.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = th;
	heap_deform_tuple(&tuple, desc, values, nulls);

	if (nulls[RFM_STATS_ORDERS] || nulls[RFM_STATS_MONETARY])
		stats_error(fn, "orders and monetary must not be null.");
	row->orders = DatumGetInt64(values[RFM_STATS_ORDERS]);
	row->monetary = values[RFM_STATS_MONETARY];
	if (row->orders < 0)
		stats_error(fn, "orders must not be negative.");
	row->has_orders = row->orders > 0;
	if (row->has_orders)
	{
		if (nulls[RFM_STATS_LAST] || nulls[RFM_STATS_FIRST])
			stats_error(fn, "first_order_at and last_order_at must be set when orders > 0.");
		row->last = DatumGetTimestampTz(values[RFM_STATS_LAST]);
		if (TIMESTAMP_NOT_FINITE(row->last) ||
			TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(values[RFM_STATS_FIRST])) ||
			DatumGetTimestampTz(values[RFM_STATS_FIRST]) > row->last)
			stats_error(fn, "first_order_at <= last_order_at must be finite timestamps.");
	}
	else
		row->last = 0;
}

static void
read_stats(Datum d, TupleDesc desc, RfmRow *row)
{
	segkpi_rfm_read_stats(d, desc, row, "rfm_score");
}

sk_dec
segkpi_rfm_read_monetary(Datum d, const char *fn)
{
	struct varlena *v = PG_DETOAST_DATUM_PACKED(d);
	sk_numkind	kind;
	sk_dec		dec;
	sk_status	rc;

	rc = sk_numeric_decode((const unsigned char *) VARDATA_ANY(v),
						   VARSIZE_ANY_EXHDR(v), &kind, &dec);
	if (rc == SK_OK && kind != SK_NUM_FINITE)
		stats_error(fn, "monetary must be finite.");
	if (rc == SK_EDATA)
		stats_error(fn, "monetary is not a valid numeric value.");
	if (rc == SK_EOVERFLOW)
		dec.scale = -1;			/* too wide: rank by numeric comparison */
	return dec;
}

void
segkpi_rfm_check_as_of(const RfmRow *row, TimestampTz as_of, const char *fn)
{
	if (row->has_orders && row->last > as_of)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: a customer has an order after as_of", fn),
				 errdetail("last_order_at is %s, as_of is %s.",
						   pstrdup(timestamptz_to_str(row->last)),
						   pstrdup(timestamptz_to_str(as_of))),
				 errhint("Filter the orders with ordered_at <= as_of, or pass a later as_of.")));
}

/* ---- scoring a partition -------------------------------------------- */

typedef struct MoneyRank
{
	Datum		value;
	uint32		idx;
} MoneyRank;

static int
money_cmp(const void *a, const void *b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
											 ((const MoneyRank *) a)->value,
											 ((const MoneyRank *) b)->value));
}

void
segkpi_rfm_rank_numerics(const Datum *values, size_t n, sk_key *keys)
{
	MoneyRank  *mr = palloc_extended(n * sizeof(MoneyRank) + 1, MCXT_ALLOC_HUGE);
	uint64		rank = 0;
	size_t		i;

	for (i = 0; i < n; i++)
	{
		mr[i].value = values[i];
		mr[i].idx = (uint32) i;
	}
	qsort(mr, n, sizeof(MoneyRank), money_cmp);
	for (i = 0; i < n; i++)
	{
		if (i > 0 && money_cmp(&mr[i - 1], &mr[i]) != 0)
			rank++;
		keys[mr[i].idx].hi = 0;
		keys[mr[i].idx].lo = rank;
		if ((i & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	pfree(mr);
}

/*
 * Monetary keys for n customers.  Normally every total is brought to the
 * largest scale among them and keyed exactly; if that does not fit in 128
 * bits, the totals are sorted as numerics and keyed by dense rank instead,
 * which orders them identically.
 */
static void
money_keys(WindowObject winobj, TupleDesc desc, const uint32 *rowpos,
		   const sk_dec *money, size_t n, sk_key *keys)
{
	Datum	   *values;
	size_t		i;

	if (sk_dec_keys(money, n, keys) == SK_OK)
		return;
	values = palloc_extended(n * sizeof(Datum) + 1, MCXT_ALLOC_HUGE);
	for (i = 0; i < n; i++)
	{
		bool		isnull,
					isout;
		RfmRow		row;
		Datum		d = WinGetFuncArgInPartition(winobj, 0, rowpos[i],
												 WINDOW_SEEK_HEAD, false,
												 &isnull, &isout);

		read_stats(d, desc, &row);
		values[i] = datumCopy(row.monetary, false, -1);
		CHECK_FOR_INTERRUPTS();
	}
	segkpi_rfm_rank_numerics(values, n, keys);
	pfree(values);
}

static void
score_dimension(const sk_key *keys, size_t n, int bins, void *work,
				size_t work_size, uint8 *tmp, uint8 *scores,
				const uint32 *rowpos, int dim)
{
	size_t		i;

	segkpi_check_status(sk_quantile_scores(keys, n, bins, work, work_size, tmp,
										   &segkpi_interrupt_tick),
						"rfm_score");
	for (i = 0; i < n; i++)
		scores[3 * (size_t) rowpos[i] + dim] = tmp[i];
}

static void
score_partition(FunctionCallInfo fcinfo, WindowObject winobj, RfmPartition *part)
{
	int64		nrows = WinGetPartitionRowCount(winobj);
	TupleDesc	desc = stats_desc(fcinfo);
	MemoryContext partcxt = GetMemoryChunkContext(part);
	MemoryContext old;
	uint32	   *rowpos;
	sk_dec	   *money;
	sk_key	   *rkeys,
			   *fkeys,
			   *mkeys;
	uint8	   *tmp;
	void	   *work;
	size_t		work_size;
	size_t		n = 0;
	int64		i;

	if (nrows > (int64) PG_UINT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("rfm_score: a window partition may hold at most %u rows",
						PG_UINT32_MAX)));

	old = MemoryContextSwitchTo(partcxt);
	part->scores = palloc_extended((Size) nrows * 3 + 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	MemoryContextSwitchTo(old);

	/* Scratch lives in the caller's per-call context only as long as needed. */
	rowpos = palloc_extended((Size) nrows * sizeof(uint32) + 1, MCXT_ALLOC_HUGE);
	money = palloc_extended((Size) nrows * sizeof(sk_dec) + 1, MCXT_ALLOC_HUGE);
	rkeys = palloc_extended((Size) nrows * sizeof(sk_key) + 1, MCXT_ALLOC_HUGE);
	fkeys = palloc_extended((Size) nrows * sizeof(sk_key) + 1, MCXT_ALLOC_HUGE);

	for (i = 0; i < nrows; i++)
	{
		bool		isnull,
					isout;
		RfmRow		row;
		Datum		d = WinGetFuncArgInPartition(winobj, 0, i, WINDOW_SEEK_HEAD,
												 false, &isnull, &isout);

		if ((i & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		if (isnull)
			continue;			/* NULL stats: no score, not counted in n */
		read_stats(d, desc, &row);
		segkpi_rfm_check_as_of(&row, part->as_of, "rfm_score");
		rowpos[n] = (uint32) i;
		/* no orders (refunds only): older than any real last order */
		rkeys[n] = row.has_orders ? sk_key_i64(row.last) : sk_key_i64(PG_INT64_MIN);
		fkeys[n] = sk_key_i64(row.orders);
		money[n] = segkpi_rfm_read_monetary(row.monetary, "rfm_score");
		n++;
	}

	mkeys = palloc_extended(n * sizeof(sk_key) + 1, MCXT_ALLOC_HUGE);
	money_keys(winobj, desc, rowpos, money, n, mkeys);
	pfree(money);

	work_size = sk_scores_work_size(n);
	if (work_size == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("rfm_score: window partition too large")));
	work = palloc_extended(work_size, MCXT_ALLOC_HUGE);
	tmp = palloc_extended(n + 1, MCXT_ALLOC_HUGE);
	score_dimension(rkeys, n, part->bins, work, work_size, tmp, part->scores, rowpos, 0);
	score_dimension(fkeys, n, part->bins, work, work_size, tmp, part->scores, rowpos, 1);
	score_dimension(mkeys, n, part->bins, work, work_size, tmp, part->scores, rowpos, 2);

	pfree(work);
	pfree(tmp);
	pfree(mkeys);
	pfree(fkeys);
	pfree(rkeys);
	pfree(rowpos);
	part->ready = true;
}

/* ---- the result row -------------------------------------------------- */

Datum
segkpi_rfm_result(FunctionCallInfo fcinfo, TupleDesc *desc_cache, const RfmRules *rules,
				  const RfmRow *row, TimestampTz as_of, const int *sc, int bins)
{
	Datum		values[RFM_RESULT_NATTS];
	bool		nulls[RFM_RESULT_NATTS] = {false};
	text	   *seg;
	int			dim;

	if (*desc_cache == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		TupleDesc	desc;

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "the RFM result must be a composite type");
		*desc_cache = BlessTupleDesc(CreateTupleDescCopy(desc));
		MemoryContextSwitchTo(old);
	}
	if (row->has_orders)
		values[RFM_RESULT_RECENCY] =
			Float8GetDatum((double) (as_of - row->last) / (double) USECS_PER_DAY);
	else
		nulls[RFM_RESULT_RECENCY] = true;
	values[RFM_RESULT_FREQUENCY] = Int64GetDatum(row->orders);
	values[RFM_RESULT_MONETARY] = row->monetary;
	for (dim = 0; dim < 3; dim++)
		values[RFM_RESULT_R + dim] = Int32GetDatum(sc[dim]);
	seg = segkpi_rfm_rules_segment(rules, sc[0], sc[1], sc[2], bins);
	if (seg == NULL)
		nulls[RFM_RESULT_SEGMENT] = true;
	else
		values[RFM_RESULT_SEGMENT] = PointerGetDatum(seg);
	return HeapTupleGetDatum(heap_form_tuple(*desc_cache, values, nulls));
}

/* ---- the window function -------------------------------------------- */

static void
read_partition_args(WindowObject winobj, RfmPartition *part, MemoryContext partcxt)
{
	bool		isnull;
	Datum		d;

	d = WinGetFuncArgCurrent(winobj, 1, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rfm_score: as_of must not be null")));
	part->as_of = DatumGetTimestampTz(d);
	if (TIMESTAMP_NOT_FINITE(part->as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rfm_score: as_of must be finite")));

	d = WinGetFuncArgCurrent(winobj, 2, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rfm_score: bins must not be null")));
	part->bins = DatumGetInt32(d);
	if (part->bins < 1 || part->bins > SK_BINS_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rfm_score: bins must be between 1 and %d", SK_BINS_MAX),
				 errdetail("bins is %d.", part->bins)));

	d = WinGetFuncArgCurrent(winobj, 3, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rfm_score: ruleset must not be null")));
	part->ruleset = MemoryContextStrdup(partcxt, TextDatumGetCString(d));
}

/* as_of, bins and ruleset must not change within a partition. */
static void
check_same_args(WindowObject winobj, const RfmPartition *part)
{
	bool		n1,
				n2,
				n3;
	Datum		as_of = WinGetFuncArgCurrent(winobj, 1, &n1);
	Datum		bins = WinGetFuncArgCurrent(winobj, 2, &n2);
	Datum		ruleset = WinGetFuncArgCurrent(winobj, 3, &n3);

	if (n1 || n2 || n3 ||
		DatumGetTimestampTz(as_of) != part->as_of ||
		DatumGetInt32(bins) != part->bins ||
		strcmp(TextDatumGetCString(ruleset), part->ruleset) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rfm_score: as_of, bins and ruleset must be the same for every row of a window partition"),
				 errdetail("Scores compare each customer with the whole partition.")));
}

Datum
segkpi_rfm_score(PG_FUNCTION_ARGS)
{
	WindowObject winobj = PG_WINDOW_OBJECT();
	RfmPartition *part;
	RfmCache   *cache = get_cache(fcinfo->flinfo);
	int64		pos = WinGetCurrentPosition(winobj);
	const uint8 *sc;
	int			score[3];
	bool		isnull;
	Datum		d;
	Datum		result;
	RfmRow		row;
	int			dim;

	part = (RfmPartition *) WinGetPartitionLocalMemory(winobj, sizeof(RfmPartition));
	if (!part->ready)
	{
		read_partition_args(winobj, part, GetMemoryChunkContext(part));
		load_rules(fcinfo->flinfo, part->ruleset);
		score_partition(fcinfo, winobj, part);
	}
	else
		check_same_args(winobj, part);

	d = WinGetFuncArgCurrent(winobj, 0, &isnull);
	if (isnull)
		PG_RETURN_NULL();
	read_stats(d, stats_desc(fcinfo), &row);
	sc = &part->scores[3 * pos];

	for (dim = 0; dim < 3; dim++)
		score[dim] = sc[dim];
	result = segkpi_rfm_result(fcinfo, &cache->result_desc, &cache->rules, &row,
							   part->as_of, score, part->bins);
	WinSetMarkPosition(winobj, pos);
	PG_RETURN_DATUM(result);
}
