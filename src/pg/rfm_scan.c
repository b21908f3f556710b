/*
 * rfm_scan.c - segkpi.rfm_scores: the RFM scores of every customer of an
 * orders relation, from one pass over its rows held in memory.
 *
 * The rows come from an ordinary query run through SPI,
 *
 *     SELECT customer, ordered_at::timestamptz, amount::numeric
 *       FROM relation WHERE ordered_at::timestamptz <= as_of
 *
 * so privileges, row-level security, views, inheritance and partitions
 * apply as to any SELECT.  Instead of a result set, the query feeds a
 * DestReceiver of ours that folds each row into its customer's record
 * (core rfmscan.h) and keeps nothing of the row.  What this replaces is the
 * executor's hash aggregate: there each row reaches its group through a
 * bucket, a grouping tuple, a per-group entry and a separately allocated
 * state, four cache misses on a million customers; here it is a 16-byte
 * slot and a 64-byte record, both prefetched ahead (rfmscan.h).
 *
 * The result is by definition that of the SQL form (FALLBACK_SQL below):
 * rfm_agg per customer, rfm_score over all of them.  When the fast path
 * cannot give it, the function runs that form instead: when the customers
 * outgrow the hash memory limit (work_mem x hash_mem_multiplier, the limit
 * a hash aggregate has before it spills), when a sum needs more than 38
 * digits, or when the key type has no hash function.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "glue.h"
#include "numdec.h"
#include "rank.h"
#include "relscan.h"
#include "rfm_common.h"
#include "rfmscan.h"
#include "status.h"

PG_FUNCTION_INFO_V1(segkpi_rfm_scores);

#define FNAME "rfm_scores"

/* Columns of the result (RETURNS TABLE in sql/segkpi--0.3--0.4.sql). */
enum
{
	OUT_CUSTOMER,
	OUT_FIRST,
	OUT_LAST,
	OUT_ORDERS,
	OUT_REFUNDS,
	OUT_MONETARY,
	OUT_RECENCY,
	OUT_R,
	OUT_F,
	OUT_M,
	OUT_SEGMENT,
	OUT_NATTS
};

/*
 * The SQL form: the same result, for the cases the fast path leaves.
 * These queries run with the caller's search_path, so every operator,
 * function and type in them is named with its schema: an operator of the
 * same name in a schema ahead of pg_catalog must not run in their place.
 */
#define FALLBACK_SQL \
	"SELECT g.k, (g.st).first_order_at, (g.st).last_order_at, (g.st).orders," \
	"       (g.st).refunds, (g.st).monetary, (g.s).recency_days, (g.s).r, (g.s).f," \
	"       (g.s).m, (g.s).segment" \
	"  FROM (SELECT k, st, segkpi.rfm_score(st, $1, $2, $3) OVER () AS s" \
	"          FROM (SELECT %s AS k," \
	"                       segkpi.rfm_agg(%s::pg_catalog.timestamptz, %s::pg_catalog.numeric) AS st" \
	"                  FROM %s" \
	"                 WHERE %s IS NOT NULL" \
	"                   AND %s::pg_catalog.timestamptz OPERATOR(pg_catalog.<=) $1" \
	"                 GROUP BY 1) a) g"

#define SCAN_SQL \
	"SELECT %s, %s::pg_catalog.timestamptz, %s::pg_catalog.numeric" \
	"  FROM %s WHERE %s::pg_catalog.timestamptz OPERATOR(pg_catalog.<=) $1"

typedef enum Stop
{
	STOP_NONE,
	STOP_MEMORY,				/* the customers outgrew the limit */
	STOP_WIDE					/* a sum needs more than 38 digits */
} Stop;

typedef struct RfmScan
{
	DestReceiver pub;
	sk_rfmscan	core;
	RelScanKeys keys;
	RelScanMem	mem;
	Stop		stop;
} RfmScan;

typedef struct Args
{
	Oid			relid;
	const char *customer;
	const char *ordered_at;
	const char *amount;
	TimestampTz as_of;
	int			bins;
	char	   *ruleset;
	Oid			key_type;
	Oid			key_coll;
} Args;

/* ---- arguments ------------------------------------------------------- */

static Datum
required_arg(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg(FNAME ": %s must not be null", name)));
	return PG_GETARG_DATUM(n);
}

static void
read_args(FunctionCallInfo fcinfo, Args *a)
{
	a->key_type = get_fn_expr_argtype(fcinfo->flinfo, 0);
	a->relid = DatumGetObjectId(required_arg(fcinfo, 1, "orders"));
	a->customer = NameStr(*DatumGetName(required_arg(fcinfo, 2, "customer")));
	a->ordered_at = NameStr(*DatumGetName(required_arg(fcinfo, 3, "ordered_at")));
	a->amount = NameStr(*DatumGetName(required_arg(fcinfo, 4, "amount")));
	a->as_of = DatumGetTimestampTz(required_arg(fcinfo, 5, "as_of"));
	a->bins = DatumGetInt32(required_arg(fcinfo, 6, "bins"));
	a->ruleset = TextDatumGetCString(required_arg(fcinfo, 7, "ruleset"));

	segkpi_relscan_check_relation(FNAME, a->relid);
	if (TIMESTAMP_NOT_FINITE(a->as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg(FNAME ": as_of must be finite")));
	if (a->bins < 1 || a->bins > SK_BINS_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg(FNAME ": bins must be between 1 and %d", SK_BINS_MAX),
				 errdetail("bins is %d.", a->bins)));
	a->key_coll = segkpi_relscan_key_column(FNAME, a->relid, a->customer, a->key_type);
	segkpi_relscan_implicit(FNAME, a->relid, a->ordered_at, TIMESTAMPTZOID);
	segkpi_relscan_implicit(FNAME, a->relid, a->amount, NUMERICOID);
}

/* The text of SCAN_SQL or FALLBACK_SQL with the relation and columns quoted. */
static char *
build_query(bool fallback, const Args *a)
{
	const char *rel = segkpi_relscan_relation(a->relid);
	const char *k = quote_identifier(a->customer);
	const char *t = quote_identifier(a->ordered_at);
	const char *m = quote_identifier(a->amount);

	if (fallback)
		return psprintf(FALLBACK_SQL, k, t, m, rel, k, t);
	return psprintf(SCAN_SQL, k, t, m, rel, t);
}

/* Make room for one more row; false (and s->stop) past the limit. */
static bool
grow(RfmScan *s)
{
	sk_ctab_slot *slots = s->core.tab.slots;
	sk_ctab_slot *old_slots;
	void	   *cust = s->core.cust;

	if (!segkpi_relscan_mem_grow(&s->mem, &s->keys, sk_rfmscan_count(&s->core),
								 SK_RFMSCAN_RING, &slots, &old_slots, &cust))
	{
		s->stop = STOP_MEMORY;
		return false;
	}
	sk_rfmscan_grow(&s->core, slots, s->mem.slot_cap, cust, s->mem.record_cap);
	if (slots != old_slots)
		pfree(old_slots);
	return true;
}

/* ---- the receiver ---------------------------------------------------- */

static bool
scan_receive(TupleTableSlot *slot, DestReceiver *self)
{
	RfmScan	   *s = (RfmScan *) self;
	const Datum *v;
	const bool *isnull;
	int64		ts = 0;
	sk_dec		amount = {0, 0};
	bool		has_row;

	slot_getsomeattrs(slot, 3);
	v = slot->tts_values;
	isnull = slot->tts_isnull;
	if (isnull[0])
		return true;			/* no customer: not counted anywhere */
	has_row = !isnull[1] && !isnull[2];
	if (has_row)
	{
		ts = DatumGetTimestampTz(v[1]);
		if (TIMESTAMP_NOT_FINITE(ts))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg(FNAME ": ordered_at must be finite"),
					 errdetail("An order dated infinity or -infinity has no recency.")));
		if (!segkpi_decimal(FNAME, "amount", v[2], &amount))
		{
			s->stop = STOP_WIDE;
			return false;
		}
	}
	if (!sk_rfmscan_room(&s->core) && !grow(s))
		return false;

	if (s->keys.kind != KEY_HASHED)
	{
		uint64		key = segkpi_keys_int(&s->keys, v[0]);

		sk_rfmscan_push(&s->core, sk_mix64(key), key, ts, amount, has_row);
	}
	else
	{
		uint32		idx;
		int			added;

		sk_rfmscan_apply(&s->core, segkpi_keys_probe(&s->keys, v[0]), ts, amount, has_row,
						 &idx, &added);
		if (added)
		{
			segkpi_keys_keep(&s->keys, idx, s->mem.cxt);
			if (segkpi_relscan_mem_used(&s->mem, &s->keys) > s->mem.limit)
			{
				s->stop = STOP_MEMORY;
				return false;
			}
		}
	}
	if (s->core.failed != SK_OK)
	{
		s->stop = STOP_WIDE;
		return false;
	}
	return true;
}

/* ---- the result ------------------------------------------------------ */

static void
score_keys(const sk_key *keys, size_t n, int bins, void *work, size_t work_size, uint8 *out)
{
	segkpi_check_status(sk_quantile_scores(keys, n, bins, work, work_size, out,
										   &segkpi_interrupt_tick),
						FNAME);
}

/*
 * Score the scanned customers and put one row per customer into the
 * result.  False, with nothing written, when the monetary totals cannot be
 * compared at one scale in 128 bits (the SQL form handles that).
 */
static bool
emit(RfmScan *s, const Args *a, const RfmRules *rules, ReturnSetInfo *rsinfo)
{
	uint64		n = sk_rfmscan_count(&s->core);
	uint64		nscored = 0;
	uint32	   *pos = palloc_extended(n * sizeof(uint32) + 1, MCXT_ALLOC_HUGE);
	sk_key	   *keys = palloc_extended(n * sizeof(sk_key) + 1, MCXT_ALLOC_HUGE);
	sk_dec	   *money = palloc_extended(n * sizeof(sk_dec) + 1, MCXT_ALLOC_HUGE);
	uint8	   *score[3];
	uint8	   *scores;
	size_t		work_size = sk_scores_work_size(n);
	void	   *work;
	MemoryContext rowcxt;
	uint64		i,
				j;
	int			d;

	for (i = 0; i < n; i++)
	{
		const sk_rfm_state *st = &s->core.cust[i].st;

		if (st->orders + st->refunds == 0)
			continue;
		pos[nscored] = (uint32) i;
		money[nscored] = sk_rfm_state_sum(st);
		nscored++;
	}
	if (sk_dec_keys(money, nscored, keys) != SK_OK)
	{
		pfree(money);
		pfree(keys);
		pfree(pos);
		return false;
	}
	pfree(money);

	if (work_size == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg(FNAME ": too many customers")));
	work = palloc_extended(work_size, MCXT_ALLOC_HUGE);
	scores = palloc_extended(3 * nscored + 1, MCXT_ALLOC_HUGE);
	for (d = 0; d < 3; d++)
		score[d] = scores + d * nscored;

	score_keys(keys, nscored, a->bins, work, work_size, score[2]);
	for (j = 0; j < nscored; j++)
	{
		const sk_rfm_state *st = &s->core.cust[pos[j]].st;

		/* no orders (refunds only): older than any real last order */
		keys[j] = sk_key_i64(st->orders > 0 ? st->last : PG_INT64_MIN);
	}
	score_keys(keys, nscored, a->bins, work, work_size, score[0]);
	for (j = 0; j < nscored; j++)
		keys[j] = sk_key_i64(s->core.cust[pos[j]].st.orders);
	score_keys(keys, nscored, a->bins, work, work_size, score[1]);
	pfree(work);
	pfree(keys);

	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "rfm_scores rows",
								   ALLOCSET_DEFAULT_SIZES);
	for (i = 0, j = 0; i < n; i++)
	{
		const sk_rfm_cust *c = &s->core.cust[i];
		Datum		values[OUT_NATTS];
		bool		nulls[OUT_NATTS];
		MemoryContext old;
		text	   *seg;

		if ((i & 4095) == 0)
		{
			CHECK_FOR_INTERRUPTS();
			MemoryContextReset(rowcxt);
		}
		old = MemoryContextSwitchTo(rowcxt);
		memset(nulls, true, sizeof(nulls));
		values[OUT_CUSTOMER] = segkpi_keys_datum(&s->keys, c->key, (uint32) i);
		nulls[OUT_CUSTOMER] = false;
		if (c->st.orders + c->st.refunds > 0)
		{
			const uint8 r = score[0][j],
						f = score[1][j],
						m = score[2][j];

			j++;
			if (c->st.orders > 0)
			{
				values[OUT_FIRST] = TimestampTzGetDatum(c->st.first);
				values[OUT_LAST] = TimestampTzGetDatum(c->st.last);
				values[OUT_RECENCY] =
					Float8GetDatum((double) (a->as_of - c->st.last) / (double) USECS_PER_DAY);
				nulls[OUT_FIRST] = nulls[OUT_LAST] = nulls[OUT_RECENCY] = false;
			}
			values[OUT_ORDERS] = Int64GetDatum(c->st.orders);
			values[OUT_REFUNDS] = Int64GetDatum(c->st.refunds);
			values[OUT_MONETARY] = NumericGetDatum(segkpi_dec_to_numeric(sk_rfm_state_sum(&c->st)));
			values[OUT_R] = Int32GetDatum(r);
			values[OUT_F] = Int32GetDatum(f);
			values[OUT_M] = Int32GetDatum(m);
			nulls[OUT_ORDERS] = nulls[OUT_REFUNDS] = nulls[OUT_MONETARY] = false;
			nulls[OUT_R] = nulls[OUT_F] = nulls[OUT_M] = false;
			seg = segkpi_rfm_rules_segment(rules, r, f, m, a->bins);
			if (seg != NULL)
			{
				values[OUT_SEGMENT] = PointerGetDatum(seg);
				nulls[OUT_SEGMENT] = false;
			}
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
	}
	MemoryContextDelete(rowcxt);
	pfree(scores);
	pfree(pos);
	return true;
}

Datum
segkpi_rfm_scores(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Args		a;
	RfmScan		s;
	RfmRules	rules;
	bool		fast;
	Oid			types[3] = {TIMESTAMPTZOID, INT4OID, TEXTOID};
	Datum		values[3];

	read_args(fcinfo, &a);
	values[0] = TimestampTzGetDatum(a.as_of);
	values[1] = Int32GetDatum(a.bins);
	values[2] = CStringGetTextDatum(a.ruleset);
	segkpi_materialize(fcinfo, FNAME);
	memset(&rules, 0, sizeof(rules));
	segkpi_rfm_rules_load(&rules, CurrentMemoryContext, a.ruleset);

	memset(&s, 0, sizeof(s));
	segkpi_receiver_init(&s.pub, scan_receive);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	fast = segkpi_keys_setup(&s.keys, a.key_type, a.key_coll, CurrentMemoryContext);
	if (fast)
	{
		sk_ctab_slot *slots;
		void	   *cust;

		segkpi_relscan_mem_init(&s.mem, sizeof(sk_rfm_cust), &s.keys, &slots, &cust);
		sk_rfmscan_init(&s.core, slots, s.mem.slot_cap, cust, s.mem.record_cap,
						s.keys.kind == KEY_HASHED ? segkpi_keys_equal : NULL, &s.keys);
		segkpi_relscan_run(FNAME, build_query(false, &a), 1, types, values, &s.pub, false);
		if (s.stop == STOP_NONE && sk_rfmscan_finish(&s.core) != SK_OK)
			s.stop = STOP_WIDE;
		if (s.stop == STOP_NONE && !emit(&s, &a, &rules, rsinfo))
			s.stop = STOP_WIDE;
		fast = s.stop == STOP_NONE;
		MemoryContextDelete(s.mem.cxt);
	}
	if (!fast)
	{
		ereport(DEBUG1,
				(errmsg_internal(FNAME ": computing with the SQL form: %s",
								 s.stop == STOP_MEMORY ? "the customers do not fit the hash memory limit" :
								 s.stop == STOP_WIDE ? "a total needs more than 38 digits" :
								 "the key type has no hash operator class")));
		segkpi_relscan_run_into(FNAME, build_query(true, &a), 3, types, values, rsinfo);
	}
	SPI_finish();
	return (Datum) 0;
}
