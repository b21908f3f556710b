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

#include "access/htup_details.h"
#include "access/hash.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tstoreReceiver.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "parser/parse_coerce.h"
#include "tcop/dest.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"

#include "glue.h"
#include "numdec.h"
#include "rank.h"
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

/* The SQL form: the same result, for the cases the fast path leaves. */
#define FALLBACK_SQL \
	"SELECT g.k, (g.st).first_order_at, (g.st).last_order_at, (g.st).orders," \
	"       (g.st).refunds, (g.st).monetary, (g.s).recency_days, (g.s).r, (g.s).f," \
	"       (g.s).m, (g.s).segment" \
	"  FROM (SELECT k, st, segkpi.rfm_score(st, $1, $2, $3) OVER () AS s" \
	"          FROM (SELECT %s AS k," \
	"                       segkpi.rfm_agg(%s::pg_catalog.timestamptz, %s::pg_catalog.numeric) AS st" \
	"                  FROM %s" \
	"                 WHERE %s IS NOT NULL AND %s::pg_catalog.timestamptz <= $1" \
	"                 GROUP BY 1) a) g"

#define SCAN_SQL \
	"SELECT %s, %s::pg_catalog.timestamptz, %s::pg_catalog.numeric" \
	"  FROM %s WHERE %s::pg_catalog.timestamptz <= $1"

typedef enum KeyKind
{
	KEY_INT2,
	KEY_INT4,
	KEY_INT8,
	KEY_HASHED					/* any other type: its hash function and equality */
} KeyKind;

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
	MemoryContext cxt;			/* the tables and key copies */
	Size		limit;			/* bytes */
	Size		key_bytes;		/* bytes of key copies */
	Stop		stop;
	KeyKind		kind;
	bool		key_byval;
	int16		key_len;
	Oid			key_coll;
	FmgrInfo	hash_fn;		/* KEY_HASHED only */
	FmgrInfo	eq_fn;
	Datum		probe;			/* the key being looked up */
	Datum	   *keys;			/* KEY_HASHED: copies, by customer number */
	uint64		slot_cap;
	uint64		cust_cap;
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

/* The column's type; 42703 when the relation has no such column. */
static Oid
column_type(Oid relid, const char *col, Oid *coll)
{
	AttrNumber	att = get_attnum(relid, col);
	Oid			typid;
	int32		typmod;

	if (att == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg(FNAME ": column \"%s\" of relation \"%s\" does not exist",
						col, get_rel_name(relid))));
	get_atttypetypmodcoll(relid, att, &typid, &typmod, coll);
	return typid;
}

/*
 * The column must convert to target implicitly, as it would when passed to
 * rfm_agg(timestamptz, numeric) in the SQL form (so date and integer
 * columns are taken, text and float8 are not).
 */
static void
check_implicit(Oid relid, const char *col, Oid target)
{
	Oid			coll;
	Oid			type = column_type(relid, col, &coll);

	if (!can_coerce_type(1, &type, &target, COERCION_IMPLICIT))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg(FNAME ": column \"%s\" is %s, which does not convert to %s implicitly",
						col, format_type_be(type), format_type_be(target)),
				 errhint("Cast the column in a view and pass the view.")));
}

static void
read_args(FunctionCallInfo fcinfo, Args *a)
{
	Oid			coll;
	Oid			col_type;

	a->key_type = get_fn_expr_argtype(fcinfo->flinfo, 0);
	a->relid = DatumGetObjectId(required_arg(fcinfo, 1, "orders"));
	a->customer = NameStr(*DatumGetName(required_arg(fcinfo, 2, "customer")));
	a->ordered_at = NameStr(*DatumGetName(required_arg(fcinfo, 3, "ordered_at")));
	a->amount = NameStr(*DatumGetName(required_arg(fcinfo, 4, "amount")));
	a->as_of = DatumGetTimestampTz(required_arg(fcinfo, 5, "as_of"));
	a->bins = DatumGetInt32(required_arg(fcinfo, 6, "bins"));
	a->ruleset = TextDatumGetCString(required_arg(fcinfo, 7, "ruleset"));

	if (get_rel_name(a->relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg(FNAME ": relation with OID %u does not exist", a->relid)));
	if (TIMESTAMP_NOT_FINITE(a->as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg(FNAME ": as_of must be finite")));
	if (a->bins < 1 || a->bins > SK_BINS_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg(FNAME ": bins must be between 1 and %d", SK_BINS_MAX),
				 errdetail("bins is %d.", a->bins)));

	col_type = column_type(a->relid, a->customer, &coll);
	if (col_type != a->key_type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg(FNAME ": key_type is %s, but column \"%s\" is %s",
						format_type_be(a->key_type), a->customer, format_type_be(col_type)),
				 errhint("Pass NULL::%s as key_type: the result's customer column has the key's own type.",
						 format_type_be(col_type))));
	a->key_coll = coll;
	check_implicit(a->relid, a->ordered_at, TIMESTAMPTZOID);
	check_implicit(a->relid, a->amount, NUMERICOID);
}

/* The text of SCAN_SQL or FALLBACK_SQL with the relation and columns quoted. */
static char *
build_query(bool fallback, const Args *a)
{
	const char *rel = quote_qualified_identifier(get_namespace_name(get_rel_namespace(a->relid)),
												 get_rel_name(a->relid));
	const char *k = quote_identifier(a->customer);
	const char *t = quote_identifier(a->ordered_at);
	const char *m = quote_identifier(a->amount);

	if (fallback)
		return psprintf(FALLBACK_SQL, k, t, m, rel, k, t);
	return psprintf(SCAN_SQL, k, t, m, rel, t);
}

/* ---- keys ------------------------------------------------------------ */

/* Does the customer numbered idx have the probe's key? */
static int
key_equal(void *arg, uint32_t idx)
{
	RfmScan	   *s = (RfmScan *) arg;

	return DatumGetBool(FunctionCall2Coll(&s->eq_fn, s->key_coll, s->keys[idx], s->probe));
}

/*
 * How keys of this type are hashed: integers exactly (custtab.h), other
 * types through their default hash operator class.  False when the type
 * has none.
 */
static bool
setup_keys(RfmScan *s, const Args *a)
{
	Oid			base = getBaseType(a->key_type);
	TypeCacheEntry *tc;
	Oid			eq;

	get_typlenbyval(a->key_type, &s->key_len, &s->key_byval);
	s->key_coll = a->key_coll;
	switch (base)
	{
		case INT2OID:
			s->kind = KEY_INT2;
			return true;
		case INT4OID:
			s->kind = KEY_INT4;
			return true;
		case INT8OID:
			s->kind = KEY_INT8;
			return true;
	}
	s->kind = KEY_HASHED;
	tc = lookup_type_cache(a->key_type, TYPECACHE_HASH_OPFAMILY | TYPECACHE_HASH_EXTENDED_PROC);
	if (!OidIsValid(tc->hash_opf) || !OidIsValid(tc->hash_extended_proc))
		return false;
	eq = get_opfamily_member(tc->hash_opf, tc->hash_opintype, tc->hash_opintype,
							 HTEqualStrategyNumber);
	if (!OidIsValid(eq))
		return false;
	fmgr_info_cxt(tc->hash_extended_proc, &s->hash_fn, s->cxt);
	fmgr_info_cxt(get_opcode(eq), &s->eq_fn, s->cxt);
	return true;
}

static uint64
int_key(const RfmScan *s, Datum d)
{
	switch (s->kind)
	{
		case KEY_INT2:
			return (uint64) (int64) DatumGetInt16(d);
		case KEY_INT4:
			return (uint64) (int64) DatumGetInt32(d);
		default:
			return (uint64) DatumGetInt64(d);
	}
}

static Datum
int_key_datum(const RfmScan *s, uint64 key)
{
	switch (s->kind)
	{
		case KEY_INT2:
			return Int16GetDatum((int16) (int64) key);
		case KEY_INT4:
			return Int32GetDatum((int32) (int64) key);
		default:
			return Int64GetDatum((int64) key);
	}
}

/* ---- memory ---------------------------------------------------------- */

static Size
bytes_for(const RfmScan *s, uint64 slot_cap, uint64 cust_cap)
{
	Size		b = sk_ctab_bytes(slot_cap) + (Size) cust_cap * sizeof(sk_rfm_cust);

	if (s->kind == KEY_HASHED)
		b += (Size) cust_cap * sizeof(Datum) + s->key_bytes;
	return b;
}

/* Make room for one more row; false (and s->stop) past the limit. */
static bool
grow(RfmScan *s)
{
	uint64		need = sk_rfmscan_count(&s->core) + SK_RFMSCAN_RING + 1;
	uint64		slot_cap = s->slot_cap;
	uint64		cust_cap = s->cust_cap;
	sk_ctab_slot *old_slots = s->core.tab.slots;
	sk_ctab_slot *slots = old_slots;
	sk_rfm_cust *cust = s->core.cust;

	while (need > slot_cap / 2)
		slot_cap *= 2;
	while (need > cust_cap)
		cust_cap *= 2;
	if (slot_cap > SK_CTAB_MAX_CAPACITY ||
		bytes_for(s, slot_cap, cust_cap) > s->limit)
	{
		s->stop = STOP_MEMORY;
		return false;
	}
	if (cust_cap != s->cust_cap)
	{
		cust = segkpi_realloc_huge(cust, (Size) cust_cap * sizeof(sk_rfm_cust));
		if (s->kind == KEY_HASHED)
			s->keys = repalloc_huge(s->keys, (Size) cust_cap * sizeof(Datum));
	}
	if (slot_cap != s->slot_cap)
		slots = segkpi_alloc_huge(s->cxt, sk_ctab_bytes(slot_cap));
	sk_rfmscan_grow(&s->core, slots, slot_cap, cust, cust_cap);
	if (slots != old_slots)
		pfree(old_slots);
	s->slot_cap = slot_cap;
	s->cust_cap = cust_cap;
	return true;
}

/* ---- the receiver ---------------------------------------------------- */

static bool
read_amount(Datum d, sk_dec *out)
{
	struct varlena *v = PG_DETOAST_DATUM_PACKED(d);
	sk_numkind	kind;
	sk_status	rc;

	rc = sk_numeric_decode((const unsigned char *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v),
						   &kind, out);
	if (rc == SK_EDATA)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg(FNAME ": amount is not a valid numeric value")));
	if (rc == SK_OK && kind != SK_NUM_FINITE)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg(FNAME ": amount must be finite"),
				 errdetail("The amount is %s.",
						   kind == SK_NUM_NAN ? "NaN" :
						   kind == SK_NUM_PINF ? "Infinity" : "-Infinity")));
	return rc == SK_OK;
}

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
		if (!read_amount(v[2], &amount))
		{
			s->stop = STOP_WIDE;
			return false;
		}
	}
	if (!sk_rfmscan_room(&s->core) && !grow(s))
		return false;

	if (s->kind != KEY_HASHED)
	{
		uint64		key = int_key(s, v[0]);

		sk_rfmscan_push(&s->core, sk_mix64(key), key, ts, amount, has_row);
	}
	else
	{
		uint32		idx;
		int			added;
		uint64		hash;

		s->probe = s->key_len == -1 ? PointerGetDatum(PG_DETOAST_DATUM_PACKED(v[0])) : v[0];
		hash = DatumGetUInt64(FunctionCall2Coll(&s->hash_fn, s->key_coll, s->probe,
												UInt64GetDatum(0)));
		sk_rfmscan_apply(&s->core, hash, ts, amount, has_row, &idx, &added);
		if (added)
		{
			MemoryContext old = MemoryContextSwitchTo(s->cxt);

			s->keys[idx] = datumCopy(s->probe, s->key_byval, s->key_len);
			MemoryContextSwitchTo(old);
			if (!s->key_byval)
				s->key_bytes += datumGetSize(s->keys[idx], false, s->key_len) + 16;
			if (s->key_bytes > s->limit)
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

static void
scan_startup(DestReceiver *self, int operation, TupleDesc desc)
{
	(void) self;
	(void) operation;
	if (desc->natts != 3)
		elog(ERROR, FNAME ": the scan query returned %d columns", desc->natts);
}

static void
scan_noop(DestReceiver *self)
{
	(void) self;
}

/* ---- running the queries --------------------------------------------- */

static ParamListInfo
make_params(const Args *a, int n)
{
	ParamListInfo p = makeParamList(n);

	p->params[0].value = TimestampTzGetDatum(a->as_of);
	p->params[0].isnull = false;
	p->params[0].ptype = TIMESTAMPTZOID;
	p->params[0].pflags = PARAM_FLAG_CONST;
	if (n > 1)
	{
		p->params[1].value = Int32GetDatum(a->bins);
		p->params[1].isnull = false;
		p->params[1].ptype = INT4OID;
		p->params[1].pflags = PARAM_FLAG_CONST;
		p->params[2].value = CStringGetTextDatum(a->ruleset);
		p->params[2].isnull = false;
		p->params[2].ptype = TEXTOID;
		p->params[2].pflags = PARAM_FLAG_CONST;
	}
	return p;
}

/* Run query (n parameters, see make_params) into dest; no parallel plan. */
static void
run_query(const char *query, const Args *a, int n, DestReceiver *dest)
{
	Oid			types[3] = {TIMESTAMPTZOID, INT4OID, TEXTOID};
	SPIPlanPtr	plan = SPI_prepare_cursor(query, n, types, 0);
	SPIExecuteOptions opt;
	int			rc;

	if (plan == NULL)
		elog(ERROR, FNAME ": could not prepare \"%s\": %s", query,
			 SPI_result_code_string(SPI_result));
	memset(&opt, 0, sizeof(opt));
	opt.params = make_params(a, n);
	opt.read_only = true;
	opt.dest = dest;
	rc = SPI_execute_plan_extended(plan, &opt);
	/* a SELECT into a receiver other than SPI's own reports SPI_OK_UTILITY */
	if (rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY)
		elog(ERROR, FNAME ": query failed: %s", SPI_result_code_string(rc));
	SPI_freeplan(plan);
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
		values[OUT_CUSTOMER] = s->kind == KEY_HASHED ? s->keys[i] : int_key_datum(s, c->key);
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

	read_args(fcinfo, &a);
	InitMaterializedSRF(fcinfo, 0);
	memset(&rules, 0, sizeof(rules));
	segkpi_rfm_rules_load(&rules, CurrentMemoryContext, a.ruleset);

	memset(&s, 0, sizeof(s));
	s.pub.receiveSlot = scan_receive;
	s.pub.rStartup = scan_startup;
	s.pub.rShutdown = scan_noop;
	s.pub.rDestroy = scan_noop;
	s.pub.mydest = DestNone;
	s.cxt = AllocSetContextCreate(CurrentMemoryContext, "rfm_scores customers",
								  ALLOCSET_DEFAULT_SIZES);
	s.limit = get_hash_memory_limit();
	s.slot_cap = 2048;
	s.cust_cap = 1024;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	fast = setup_keys(&s, &a);
	if (fast)
	{
		MemoryContext old = MemoryContextSwitchTo(s.cxt);

		if (s.kind == KEY_HASHED)
			s.keys = palloc((Size) s.cust_cap * sizeof(Datum));
		sk_rfmscan_init(&s.core, segkpi_alloc_huge(s.cxt, sk_ctab_bytes(s.slot_cap)), s.slot_cap,
						segkpi_alloc_huge(s.cxt, (Size) s.cust_cap * sizeof(sk_rfm_cust)),
						s.cust_cap, s.kind == KEY_HASHED ? key_equal : NULL, &s);
		MemoryContextSwitchTo(old);
		run_query(build_query(false, &a), &a, 1, &s.pub);
		if (s.stop == STOP_NONE && sk_rfmscan_finish(&s.core) != SK_OK)
			s.stop = STOP_WIDE;
		if (s.stop == STOP_NONE && !emit(&s, &a, &rules, rsinfo))
			s.stop = STOP_WIDE;
		fast = s.stop == STOP_NONE;
	}
	MemoryContextDelete(s.cxt);
	if (!fast)
	{
		DestReceiver *dest = CreateDestReceiver(DestTuplestore);

		ereport(DEBUG1,
				(errmsg_internal(FNAME ": computing with the SQL form: %s",
								 s.stop == STOP_MEMORY ? "the customers do not fit the hash memory limit" :
								 s.stop == STOP_WIDE ? "a total needs more than 38 digits" :
								 "the key type has no hash operator class")));

		SetTuplestoreDestReceiverParams(dest, rsinfo->setResult,
										rsinfo->econtext->ecxt_per_query_memory, false,
										rsinfo->setDesc,
										FNAME ": the SQL form returned unexpected columns");
		run_query(build_query(true, &a), &a, 3, dest);
		dest->rDestroy(dest);
	}
	SPI_finish();
	return (Datum) 0;
}
