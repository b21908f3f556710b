/*
 * act_scan.c - segkpi.activities: one activity per customer of an orders
 * relation, from one pass over its rows held in memory.
 *
 * The rows come from an ordinary query run through SPI (relscan.h), whose
 * rows feed a DestReceiver that adds each to its customer's activity (core
 * actscan.h) with the rule activity_agg applies.  The period of a row is
 * date_trunc(grain, ordered_at) as a date, in the session's time zone, as
 * the SQL form computes it; the bounds of the periods seen so far are
 * kept, so most rows find theirs by a binary search instead of a call.
 *
 * The result is by definition that of the SQL form (FALLBACK_SQL), which
 * runs instead when the customers outgrow the hash memory limit or the key
 * type has no hash function.  Called in a select list, the function
 * returns its rows one per call, so a million activities are never held
 * twice; elsewhere, or on the SQL form, it materialises them.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "activity_common.h"
#include "actscan.h"
#include "glue.h"
#include "relscan.h"

PG_FUNCTION_INFO_V1(segkpi_activities);

#define FNAME "activities"

/*
 * The last %s is the time filter: "t::timestamptz < $2", or "true" without
 * before.  Every operator and function is named with its schema, so that
 * the caller's search_path cannot substitute its own (see rfm_scan.c).
 */
#define SCAN_SQL \
	"SELECT %s, %s::pg_catalog.timestamptz, %s::pg_catalog.numeric, %s" \
	"  FROM %s WHERE %s"

#define FALLBACK_SQL \
	"SELECT %s, segkpi.activity_agg(pg_catalog.date_trunc($1, %s::pg_catalog.timestamptz)::pg_catalog.date," \
	"                                %s::pg_catalog.timestamptz, %s::pg_catalog.numeric, %s)" \
	"  FROM %s WHERE %s IS NOT NULL AND %s GROUP BY 1"

typedef struct Period
{
	TimestampTz start;			/* date_trunc(grain, ts) */
	TimestampTz end;			/* the next period's start */
	DateADT		date;
} Period;

/*
 * The customers' entries, in large blocks that the kernel may back with
 * huge pages (glue.h): a million customers' entries are hundreds of
 * megabytes reached at random, and with 4 kB pages nearly every access
 * also misses the TLB.  Blocks start small and double, so that a small
 * relation stays within a small work_mem.  Arrays come in powers of two;
 * one that grows is put on the free list of its size and reused.
 */
#define ARENA_FIRST_BLOCK ((Size) 64 * 1024)
#define ARENA_MAX_BLOCK ((Size) 64 * 1024 * 1024)
#define ARENA_CLASSES 32

typedef struct Arena
{
	char	   *next;			/* free space of the current block */
	Size		left;
	Size		block;			/* size of the next block: doubles up to the maximum */
	sk_act_entry *free[ARENA_CLASSES];	/* by log2 of the capacity */
} Arena;

typedef struct ActScan
{
	DestReceiver pub;
	sk_actscan	core;
	RelScanKeys keys;
	RelScanMem	mem;
	Arena		arena;
	bool		over;			/* the customers outgrew the limit */
	text	   *grain;
	Interval	step;
	Period	   *periods;		/* sorted by start */
	int			nperiods;
	int			period_cap;
} ActScan;

typedef struct Args
{
	Oid			key_type;
	Oid			key_coll;
	Oid			relid;
	const char *customer;
	const char *ordered_at;
	const char *amount;
	const char *cost;			/* NULL: none */
	text	   *grain;
	bool		has_before;
	TimestampTz before;
} Args;

/* What the calls after the first need. */
typedef struct ActRows
{
	ActScan	   *scan;
	uint64		next;
} ActRows;

/* ---- arguments ------------------------------------------------------- */

static const char *
name_arg(FunctionCallInfo fcinfo, int n, const char *what)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg(FNAME ": %s must not be null", what)));
	return NameStr(*PG_GETARG_NAME(n));
}

static void
read_args(FunctionCallInfo fcinfo, Args *a)
{
	char	   *grain;

	a->key_type = get_fn_expr_argtype(fcinfo->flinfo, 0);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg(FNAME ": orders must not be null")));
	a->relid = PG_GETARG_OID(1);
	a->customer = name_arg(fcinfo, 2, "customer");
	a->ordered_at = name_arg(fcinfo, 3, "ordered_at");
	a->amount = name_arg(fcinfo, 4, "amount");
	a->cost = PG_ARGISNULL(5) ? NULL : NameStr(*PG_GETARG_NAME(5));
	if (PG_ARGISNULL(6))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg(FNAME ": grain must not be null")));
	grain = text_to_cstring(PG_GETARG_TEXT_PP(6));
	if (strcmp(grain, "month") != 0 && strcmp(grain, "quarter") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg(FNAME ": grain must be month or quarter"),
				 errdetail("grain is \"%s\".", grain)));
	a->grain = cstring_to_text(grain);
	a->has_before = !PG_ARGISNULL(7);
	a->before = a->has_before ? PG_GETARG_TIMESTAMPTZ(7) : 0;
	if (a->has_before && TIMESTAMP_NOT_FINITE(a->before))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg(FNAME ": before must be finite (or NULL for every row)")));

	segkpi_relscan_check_relation(FNAME, a->relid);
	a->key_coll = segkpi_relscan_key_column(FNAME, a->relid, a->customer, a->key_type);
	segkpi_relscan_implicit(FNAME, a->relid, a->ordered_at, TIMESTAMPTZOID);
	segkpi_relscan_implicit(FNAME, a->relid, a->amount, NUMERICOID);
	if (a->cost != NULL)
		segkpi_relscan_implicit(FNAME, a->relid, a->cost, NUMERICOID);
}

static char *
build_query(bool fallback, const Args *a)
{
	const char *rel = segkpi_relscan_relation(a->relid);
	const char *k = quote_identifier(a->customer);
	const char *t = quote_identifier(a->ordered_at);
	const char *m = quote_identifier(a->amount);
	const char *c = a->cost == NULL ? "NULL::pg_catalog.numeric" :
		psprintf("%s::pg_catalog.numeric", quote_identifier(a->cost));
	const char *when = a->has_before ?
		psprintf("%s::pg_catalog.timestamptz OPERATOR(pg_catalog.<) $2", t) : "true";

	if (fallback)
		return psprintf(FALLBACK_SQL, k, t, t, m, c, rel, k, when);
	return psprintf(SCAN_SQL, k, t, m, c, rel, when);
}

/* ---- periods --------------------------------------------------------- */

static TimestampTz
trunc_to_period(const ActScan *s, TimestampTz ts)
{
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_trunc, PointerGetDatum(s->grain),
												   TimestampTzGetDatum(ts)));
}

/*
 * The period of ts: a known one found by binary search, or a new one cut
 * by date_trunc.  Its end is the truncation of start + step, so that no
 * time zone rule can make the bounds disagree with date_trunc.
 */
static DateADT
period_of(ActScan *s, TimestampTz ts)
{
	int			lo = 0,
				hi = s->nperiods;
	Period		p;

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (s->periods[mid].start <= ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && ts < s->periods[lo - 1].end)
		return s->periods[lo - 1].date;

	p.start = trunc_to_period(s, ts);
	p.end = trunc_to_period(s, DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
																	   TimestampTzGetDatum(p.start),
																	   PointerGetDatum(&s->step))));
	p.date = DatumGetDateADT(DirectFunctionCall1(timestamptz_date, TimestampTzGetDatum(p.start)));
	if (p.end <= ts || p.start > ts)
		return p.date;			/* not cacheable (cannot happen with month and quarter) */
	if (s->nperiods == s->period_cap)
	{
		s->period_cap *= 2;
		s->periods = repalloc(s->periods, sizeof(Period) * s->period_cap);
	}
	memmove(&s->periods[lo + 1], &s->periods[lo], sizeof(Period) * (s->nperiods - lo));
	s->periods[lo] = p;
	s->nperiods++;
	return p.date;
}

/* ---- the receiver ---------------------------------------------------- */

static sk_dec
read_dec(Datum d, const char *what)
{
	sk_dec		dec;

	if (!segkpi_decimal(FNAME, what, d, &dec))
		segkpi_activity_overflow(FNAME);
	return dec;
}

static int
size_class(int32_t cap)
{
	int			c = 0;

	while (((int32_t) 1 << c) < cap)
		c++;
	return c;
}

/*
 * The core's callback: cap entries (a power of two) holding the n of old.
 * NULL past the memory limit.
 */
static sk_act_entry *
alloc_entries(void *arg, sk_act_entry *old, int32_t n, int32_t cap)
{
	ActScan    *s = (ActScan *) arg;
	Arena	   *a = &s->arena;
	int			c = size_class(cap);
	Size		bytes = (Size) cap * sizeof(sk_act_entry);
	sk_act_entry *e;

	if (c >= ARENA_CLASSES)
		return NULL;
	e = a->free[c];
	if (e != NULL)
		a->free[c] = *(sk_act_entry **) e;
	else
	{
		if (a->left < bytes)
		{
			Size		block = Max(a->block, bytes);

			if (segkpi_relscan_mem_used(&s->mem, &s->keys) + block > s->mem.limit)
				return NULL;
			a->next = segkpi_alloc_huge(s->mem.cxt, block);
			a->left = block;
			a->block = Min(block * 2, ARENA_MAX_BLOCK);
			s->mem.other += block;
		}
		e = (sk_act_entry *) a->next;
		a->next += bytes;
		a->left -= bytes;
	}
	if (old != NULL)
	{
		int			oc = size_class(sk_actscan_cap(n));

		memcpy(e, old, (Size) n * sizeof(sk_act_entry));
		*(sk_act_entry **) old = a->free[oc];
		a->free[oc] = old;
	}
	return e;
}

static bool
grow(ActScan *s)
{
	sk_ctab_slot *slots = s->core.tab.slots;
	sk_ctab_slot *old_slots;
	void	   *cust = s->core.cust;

	if (!segkpi_relscan_mem_grow(&s->mem, &s->keys, sk_actscan_count(&s->core),
								 SK_ACTSCAN_RING, &slots, &old_slots, &cust))
		return false;
	sk_actscan_grow(&s->core, slots, s->mem.slot_cap, cust, s->mem.record_cap);
	if (slots != old_slots)
		pfree(old_slots);
	return true;
}

static bool
scan_receive(TupleTableSlot *slot, DestReceiver *self)
{
	ActScan    *s = (ActScan *) self;
	const Datum *v;
	const bool *isnull;
	sk_act_row	row;
	bool		has_row;

	slot_getsomeattrs(slot, 4);
	v = slot->tts_values;
	isnull = slot->tts_isnull;
	if (isnull[0])
		return true;			/* no customer */
	has_row = !isnull[1] && !isnull[2];
	memset(&row, 0, sizeof(row));
	if (has_row)
	{
		row.ts = DatumGetTimestampTz(v[1]);
		if (TIMESTAMP_NOT_FINITE(row.ts))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg(FNAME ": period and ordered_at must be finite")));
		row.period = period_of(s, row.ts);
		row.amount = read_dec(v[2], "amount");
		if (isnull[3])
			row.cost.scale = -1;
		else
			row.cost = read_dec(v[3], "cost");
	}
	if (!sk_actscan_room(&s->core) && !grow(s))
	{
		s->over = true;
		return false;
	}
	if (s->keys.kind != KEY_HASHED)
	{
		uint64		key = segkpi_keys_int(&s->keys, v[0]);

		sk_actscan_push(&s->core, sk_mix64(key), key, &row, has_row);
	}
	else
	{
		uint32		idx;
		int			added;

		sk_actscan_apply(&s->core, segkpi_keys_probe(&s->keys, v[0]), &row, has_row,
						 &idx, &added);
		if (added)
			segkpi_keys_keep(&s->keys, idx, s->mem.cxt);
		if (segkpi_relscan_mem_used(&s->mem, &s->keys) > s->mem.limit)
			s->core.failed = SK_ELIMIT;
	}
	if (s->core.failed == SK_ELIMIT)
	{
		s->over = true;
		return false;
	}
	if (s->core.failed != SK_OK)
		segkpi_activity_overflow(FNAME);
	return true;
}

/*
 * The in-memory pass, in the current memory context.  NULL (everything
 * freed) when the SQL form must run instead.
 */
static ActScan *
run_scan(const Args *a, const Oid *types, const Datum *values)
{
	ActScan    *s = palloc0(sizeof(ActScan));
	sk_ctab_slot *slots;
	void	   *cust;

	segkpi_receiver_init(&s->pub, scan_receive);
	if (!segkpi_keys_setup(&s->keys, a->key_type, a->key_coll, CurrentMemoryContext))
	{
		ereport(DEBUG1,
				(errmsg_internal(FNAME ": computing with the SQL form: the key type has no hash operator class")));
		return NULL;
	}
	s->grain = a->grain;
	memset(&s->step, 0, sizeof(s->step));
	s->step.month = strcmp(text_to_cstring(a->grain), "month") == 0 ? 1 : 3;
	s->arena.block = ARENA_FIRST_BLOCK;
	s->period_cap = 64;
	s->periods = palloc(sizeof(Period) * s->period_cap);
	segkpi_relscan_mem_init(&s->mem, sizeof(sk_act_cust), &s->keys, &slots, &cust);
	sk_actscan_init(&s->core, slots, s->mem.slot_cap, cust, s->mem.record_cap,
					s->keys.kind == KEY_HASHED ? segkpi_keys_equal : NULL, &s->keys,
					alloc_entries, s);
	segkpi_relscan_run(FNAME, build_query(false, a), 2, types, values, &s->pub, false);
	if (!s->over && sk_actscan_finish(&s->core) == SK_ELIMIT)
		s->over = true;
	if (s->core.failed != SK_OK && s->core.failed != SK_ELIMIT)
		segkpi_activity_overflow(FNAME);
	if (s->over)
	{
		ereport(DEBUG1,
				(errmsg_internal(FNAME ": computing with the SQL form: the customers do not fit the hash memory limit")));
		MemoryContextDelete(s->mem.cxt);
		return NULL;
	}
	return s;
}

/* One result row: the customer and its activity (NULL without a row). */
static HeapTuple
result_tuple(const ActScan *s, TupleDesc desc, uint64 i)
{
	const sk_act_cust *c = &s->core.cust[i];
	Datum		values[2];
	bool		nulls[2] = {false, c->head.n == 0};

	values[0] = segkpi_keys_datum(&s->keys, c->key, (uint32) i);
	values[1] = c->head.n == 0 ? (Datum) 0 : segkpi_activity_make(&c->head, c->e);
	return heap_form_tuple(desc, values, nulls);
}

/*
 * Memory: everything a call allocates, the customers included, lives in
 * one context of its own ("segkpi activities"), made under per-query
 * memory.  Materialising, the call deletes it before it returns.  Returning
 * a row per call, it moves the context under the SRF's multi-call context,
 * which the executor deletes when the rows run out, at a rescan and at the
 * end of the query: a call rescanned many times in one query (a lateral
 * join) leaves nothing behind.
 */
Datum
segkpi_activities(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FuncCallContext *funcctx;
	ActRows	   *res;

	if (SRF_IS_FIRSTCALL())
	{
		Args		a;
		Oid			types[2] = {TEXTOID, TIMESTAMPTZOID};
		Datum		values[2];
		ActScan    *scan;
		MemoryContext callcxt,
					old;

		if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg(FNAME ": called in a context that cannot accept a set")));
		callcxt = AllocSetContextCreate(rsinfo->econtext->ecxt_per_query_memory,
										"segkpi activities", ALLOCSET_DEFAULT_SIZES);
		old = MemoryContextSwitchTo(callcxt);
		read_args(fcinfo, &a);
		values[0] = PointerGetDatum(a.grain);
		values[1] = TimestampTzGetDatum(a.before);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		/* SPI_connect switched to its own context; the scan belongs to the call */
		MemoryContextSwitchTo(callcxt);
		scan = run_scan(&a, types, values);
		if (scan == NULL || !(rsinfo->allowedModes & SFRM_ValuePerCall))
		{
			/* the SQL form, or our rows, into a tuplestore */
			segkpi_materialize(fcinfo, FNAME);
			if (scan == NULL)
				segkpi_relscan_run_into(FNAME, build_query(true, &a), 2, types, values, rsinfo);
			else
			{
				uint64		i;

				for (i = 0; i < sk_actscan_count(&scan->core); i++)
				{
					HeapTuple	t = result_tuple(scan, rsinfo->setDesc, i);

					tuplestore_puttuple(rsinfo->setResult, t);
					heap_freetuple(t);
					if ((i & 4095) == 0)
						CHECK_FOR_INTERRUPTS();
				}
			}
			SPI_finish();
			MemoryContextSwitchTo(old);
			MemoryContextDelete(callcxt);
			return (Datum) 0;
		}
		SPI_finish();
		MemoryContextSwitchTo(old);

		funcctx = SRF_FIRSTCALL_INIT();
		MemoryContextSetParent(callcxt, funcctx->multi_call_memory_ctx);
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &funcctx->tuple_desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, FNAME ": the result type is not composite");
		funcctx->tuple_desc = BlessTupleDesc(CreateTupleDescCopy(funcctx->tuple_desc));
		res = palloc0(sizeof(ActRows));
		res->scan = scan;
		funcctx->user_fctx = res;
		MemoryContextSwitchTo(old);
	}

	funcctx = SRF_PERCALL_SETUP();
	res = (ActRows *) funcctx->user_fctx;
	if (res->next < sk_actscan_count(&res->scan->core))
	{
		HeapTuple	t = result_tuple(res->scan, funcctx->tuple_desc, res->next++);

		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(t));
	}
	/* deletes the multi-call context, and the scan's with it */
	SRF_RETURN_DONE(funcctx);
}
