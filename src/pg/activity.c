/*
 * activity.c - the segkpi.activity type, its aggregate and its roll-up.
 *
 * An activity (see src/core/activity.h) is a varlena: a 4-byte length, a
 * 4-byte capacity, the core header and `cap` entries of which the first
 * head.n are used.  Values built by the input functions and returned by
 * the aggregate's final function have cap == n; only a transition state
 * keeps spare entries, so that adding a period seldom reallocates.
 *
 * The transition function updates the state in place when called as an
 * aggregate.  When the state must grow it builds a bigger copy in the
 * per-call context and returns it; nodeAgg copies that into the aggregate
 * context and frees the old one (never repalloc the old one ourselves:
 * nodeAgg would free it a second time).
 *
 * activity_rollup keeps an `internal` state (a core roll-up in the
 * aggregate context) with serialize/deserialize for parallel plans; its
 * final function returns one segkpi.activity_period per period.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "activity.h"
#include "activity_common.h"
#include "glue.h"
#include "rfm_common.h"
#include "status.h"

PG_FUNCTION_INFO_V1(segkpi_activity_in);
PG_FUNCTION_INFO_V1(segkpi_activity_out);
PG_FUNCTION_INFO_V1(segkpi_activity_recv);
PG_FUNCTION_INFO_V1(segkpi_activity_send);
PG_FUNCTION_INFO_V1(segkpi_activity_agg_sfunc);
PG_FUNCTION_INFO_V1(segkpi_activity_agg_combine);
PG_FUNCTION_INFO_V1(segkpi_activity_agg_final);
PG_FUNCTION_INFO_V1(segkpi_activity_summary);
PG_FUNCTION_INFO_V1(segkpi_activity_rollup_sfunc);
PG_FUNCTION_INFO_V1(segkpi_activity_rollup_combine);
PG_FUNCTION_INFO_V1(segkpi_activity_rollup_serialize);
PG_FUNCTION_INFO_V1(segkpi_activity_rollup_deserialize);
PG_FUNCTION_INFO_V1(segkpi_activity_rollup_final);

typedef struct Activity
{
	int32		vl_len_;
	int32		cap;			/* entries there is room for */
	sk_act_head head;			/* flags: ACT_NARROW or 0 */
	char		data[FLEXIBLE_ARRAY_MEMBER];	/* cap entries */
} Activity;

/*
 * Entries whose sums all fit 64 bits (nearly always: money at a few
 * decimals) are stored narrow, 24 bytes instead of 40, which keeps a
 * million customers' states within a hash aggregate's memory.  The core
 * sees only wide entries: narrow ones are widened on the way in.
 */
#define ACT_NARROW 0x80

typedef struct ActNarrow
{
	int32		period;
	int32		orders;
	int64		revenue;
	int64		cost;
} ActNarrow;

#define ACT_IS_NARROW(a) (((a)->head.flags & ACT_NARROW) != 0)
#define ACT_ENTRY_SIZE(narrow) ((Size) ((narrow) ? sizeof(ActNarrow) : sizeof(sk_act_entry)))
#define ACT_SIZE(cap, narrow) (offsetof(Activity, data) + (Size) (cap) * ACT_ENTRY_SIZE(narrow))

/* Room for this many wide entries on the stack in the transition function. */
#define ACT_LOCAL 32

/* segkpi.activity_summary */
enum
{
	SUM_FIRST_ROW, SUM_FIRST_ORDER, SUM_LAST_ORDER, SUM_ORDERS, SUM_REFUNDS,
	SUM_REVENUE, SUM_COST, SUM_PERIODS, SUM_NATTS
};

/* segkpi.activity_period */
enum
{
	PER_PERIOD, PER_ACTIVE, PER_RETAINED, PER_ORDERS, PER_REVENUE, PER_COST, PER_NATTS
};

void
segkpi_activity_overflow(const char *fname)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("%s: a sum needs more than %d significant digits", fname,
					SK_DEC_MAX_DIGITS),
			 errdetail("Activities keep exact sums of up to %d digits per period.",
					   SK_DEC_MAX_DIGITS)));
}

/*
 * A stored activity, detoasted.  The layout is checked cheaply here (the
 * input functions checked everything when the value was made).
 */
static Activity *
act_get(Datum d)
{
	Activity   *a = (Activity *) PG_DETOAST_DATUM(d);

	if (VARSIZE(a) < offsetof(Activity, data) || a->cap < a->head.n || a->head.n < 0 ||
		(a->head.flags & ~ACT_NARROW) != 0 ||
		VARSIZE(a) != ACT_SIZE(a->cap, ACT_IS_NARROW(a)) || a->head.version != SK_ACT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid segkpi.activity value")));
	return a;
}

/* The core's view of a: head without our flag, entries widened into buf. */
static sk_act_entry *
act_entries(const Activity *a, sk_act_head *h, sk_act_entry *buf)
{
	int32		i;

	*h = a->head;
	h->flags = 0;
	if (!ACT_IS_NARROW(a))
	{
		memcpy(buf, a->data, (Size) a->head.n * sizeof(sk_act_entry));
		return buf;
	}
	for (i = 0; i < a->head.n; i++)
	{
		const ActNarrow *x = &((const ActNarrow *) a->data)[i];

		buf[i].period = x->period;
		buf[i].orders = x->orders;
		buf[i].revenue = x->revenue;
		buf[i].cost = x->cost;
	}
	return buf;
}

/* The same into a new palloc'd array (with room for extra more entries). */
static sk_act_entry *
act_entries_copy(const Activity *a, sk_act_head *h, int32 extra)
{
	sk_act_entry *buf = palloc_extended(sizeof(sk_act_entry) * ((Size) a->head.n + extra + 1),
										MCXT_ALLOC_HUGE);

	return act_entries(a, h, buf);
}

static bool
fits_narrow(const sk_act_entry *e, int32 n)
{
	int32		i;

	for (i = 0; i < n; i++)
		if (e[i].revenue < PG_INT64_MIN || e[i].revenue > PG_INT64_MAX ||
			e[i].cost < PG_INT64_MIN || e[i].cost > PG_INT64_MAX)
			return false;
	return true;
}

/* Store h and its entries into a (which has room), narrow when a is. */
static void
act_store(Activity *a, const sk_act_head *h, const sk_act_entry *e)
{
	bool		narrow = ACT_IS_NARROW(a);
	int32		i;

	a->head = *h;
	a->head.flags = narrow ? ACT_NARROW : 0;
	if (!narrow)
	{
		memcpy(a->data, e, (Size) h->n * sizeof(sk_act_entry));
		return;
	}
	for (i = 0; i < h->n; i++)
	{
		ActNarrow  *x = &((ActNarrow *) a->data)[i];

		x->period = e[i].period;
		x->orders = e[i].orders;
		x->revenue = (int64) e[i].revenue;
		x->cost = (int64) e[i].cost;
	}
}

/* A new activity holding h and e, with room for cap entries. */
static Activity *
act_make(const sk_act_head *h, const sk_act_entry *e, int32 cap)
{
	bool		narrow = fits_narrow(e, h->n);
	Activity   *a = (Activity *) palloc0(ACT_SIZE(cap, narrow));

	SET_VARSIZE(a, ACT_SIZE(cap, narrow));
	a->cap = cap;
	a->head.flags = narrow ? ACT_NARROW : 0;
	act_store(a, h, e);
	return a;
}

Datum
segkpi_activity_make(const sk_act_head *h, const sk_act_entry *e)
{
	return PointerGetDatum(act_make(h, e, h->n));
}

/* ---- text and binary I/O -------------------------------------------- */

static Activity *
act_from_text(const char *str, size_t len)
{
	int32		n;

	if (sk_act_parse_count(str, len, &n) == SK_OK)
	{
		sk_act_head h;
		sk_act_entry *e = palloc_extended(sizeof(sk_act_entry) * ((Size) n + 1), MCXT_ALLOC_HUGE);

		if (sk_act_parse(str, len, &h, e, n) == SK_OK && h.n == n)
			return act_make(&h, e, n);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type segkpi.activity: \"%s\"",
					pnstrdup(str, Min(len, 200))),
			 errdetail("Expected 1:<scale>:<orders>:<refunds>:<first row>:<first order>:<last order> "
					   "then ;<period>,<orders>,<revenue>,<cost> per period, periods increasing, "
					   "orders adding up.")));
	return NULL;				/* not reached */
}

static char *
act_to_text(const Activity *a)
{
	size_t		size = sk_act_text_size(a->head.n);
	sk_act_head h;
	sk_act_entry *e;
	char	   *buf;

	if (size == 0 || size > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("segkpi.activity value too large to print")));
	buf = palloc(size);
	e = act_entries_copy(a, &h, 0);
	sk_act_format(&h, e, buf);
	return buf;
}

Datum
segkpi_activity_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);

	PG_RETURN_POINTER(act_from_text(str, strlen(str)));
}

Datum
segkpi_activity_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(act_to_text(act_get(PG_GETARG_DATUM(0))));
}

Datum
segkpi_activity_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			nbytes = buf->len - buf->cursor;
	const char *text = pq_getmsgbytes(buf, nbytes);

	PG_RETURN_POINTER(act_from_text(text, nbytes));
}

Datum
segkpi_activity_send(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(segkpi_send_text_cstring(act_to_text(act_get(PG_GETARG_DATUM(0)))));
}

/* ---- activity_agg ---------------------------------------------------- */

/* A numeric argument as an exact decimal; errors name the argument. */
static sk_dec
arg_dec(Datum d, const char *what)
{
	sk_dec		dec;

	if (!segkpi_decimal("activity_agg", what, d, &dec))
		segkpi_activity_overflow("activity_agg");
	return dec;
}

/*
 * Room after growing: as many entries as fill the allocation size class
 * (a power of two) that holds at least one more entry.
 */
static int32
grown_cap(int32 cap, bool narrow)
{
	Size		size = pg_nextpower2_size_t(ACT_SIZE(cap + 1, narrow));

	return (int32) Min((size - offsetof(Activity, data)) / ACT_ENTRY_SIZE(narrow),
					   (Size) SK_ACT_MAX_PERIODS);
}

/*
 * Add a row to the transition state a: in place while it has room and its
 * layout still holds the sums, else into a new value in the per-call
 * context, which nodeAgg moves into its own (see the header).
 */
static Activity *
act_add_row(Activity *a, const sk_act_row *row)
{
	sk_act_entry local[ACT_LOCAL];
	sk_act_entry *e;
	sk_act_head h;
	int32		cap = a->cap;
	sk_status	rc;

	if (a->head.n >= SK_ACT_MAX_PERIODS)
		segkpi_activity_overflow("activity_agg");
	/* one spare entry, so that growing needs no second pass */
	e = act_entries(a, &h, a->head.n + 1 <= ACT_LOCAL ? local :
					palloc_extended(sizeof(sk_act_entry) * ((Size) a->head.n + 1), MCXT_ALLOC_HUGE));
	rc = sk_act_add(&h, e, Min(cap, a->head.n + 1), row);
	if (rc == SK_ELIMIT)
	{
		cap = grown_cap(cap, ACT_IS_NARROW(a));
		rc = sk_act_add(&h, e, a->head.n + 1, row);
	}
	if (rc != SK_OK)
		segkpi_activity_overflow("activity_agg");
	/* h.n <= a->cap holds already; checked again because a miss would overrun */
	if (cap == a->cap && h.n <= a->cap && (!ACT_IS_NARROW(a) || fits_narrow(e, h.n)))
	{
		act_store(a, &h, e);
		return a;
	}
	return act_make(&h, e, Max(cap, h.n));
}

Datum
segkpi_activity_agg_sfunc(PG_FUNCTION_ARGS)
{
	Activity   *a = PG_ARGISNULL(0) ? NULL : (Activity *) PG_GETARG_POINTER(0);
	sk_act_row	row;
	DateADT		period;

	segkpi_require_agg_context(fcinfo, "activity_agg_sfunc");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	period = PG_GETARG_DATEADT(1);
	row.ts = PG_GETARG_TIMESTAMPTZ(2);
	if (DATE_NOT_FINITE(period) || TIMESTAMP_NOT_FINITE(row.ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("activity_agg: period and ordered_at must be finite")));
	row.period = period;
	row.amount = arg_dec(PG_GETARG_DATUM(3), "amount");
	if (PG_ARGISNULL(4))
		row.cost.scale = -1;
	else
		row.cost = arg_dec(PG_GETARG_DATUM(4), "cost");

	if (a == NULL)
	{
		sk_act_head h;
		sk_act_entry e[1];

		sk_act_init(&h);
		if (sk_act_add(&h, e, 1, &row) != SK_OK)
			segkpi_activity_overflow("activity_agg");
		/* 3 narrow entries make 128 bytes, an allocation size class */
		PG_RETURN_POINTER(act_make(&h, e, 3));
	}
	PG_RETURN_POINTER(act_add_row(a, &row));
}

Datum
segkpi_activity_agg_combine(PG_FUNCTION_ARGS)
{
	Activity   *a = PG_ARGISNULL(0) ? NULL : act_get(PG_GETARG_DATUM(0));
	Activity   *b = PG_ARGISNULL(1) ? NULL : act_get(PG_GETARG_DATUM(1));
	Activity   *out;

	segkpi_require_agg_context(fcinfo, "activity_agg_combine");
	if (b == NULL || b->head.n == 0)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
		PG_RETURN_POINTER(b);	/* nodeAgg copies it */
	{
		sk_act_head ha,
					hb,
					ho;
		sk_act_entry *ea = act_entries_copy(a, &ha, 0);
		sk_act_entry *eb = act_entries_copy(b, &hb, 0);
		sk_act_entry *eo = palloc_extended(sizeof(sk_act_entry) * ((Size) ha.n + hb.n),
										   MCXT_ALLOC_HUGE);

		if (sk_act_merge(&ha, ea, &hb, eb, &ho, eo) != SK_OK)
			segkpi_activity_overflow("activity_agg");
		out = act_make(&ho, eo, ho.n);
	}
	PG_RETURN_POINTER(out);
}

Datum
segkpi_activity_agg_final(PG_FUNCTION_ARGS)
{
	Activity   *a;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	a = act_get(PG_GETARG_DATUM(0));
	if (a->head.n == 0)
		PG_RETURN_NULL();
	/* a final function must not change its state: trim a copy */
	{
		sk_act_head h;
		sk_act_entry *e = act_entries_copy(a, &h, 0);

		PG_RETURN_POINTER(act_make(&h, e, h.n));
	}
}

/* ---- activity_summary ------------------------------------------------ */

static TupleDesc
result_desc(FunctionCallInfo fcinfo, const char *fname)
{
	TupleDesc	desc = (TupleDesc) fcinfo->flinfo->fn_extra;

	if (desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "%s must return a composite type", fname);
		desc = BlessTupleDesc(CreateTupleDescCopy(desc));
		fcinfo->flinfo->fn_extra = desc;
		MemoryContextSwitchTo(old);
	}
	return desc;
}

/* Sum of a column of scaled values as a numeric, exact past 38 digits too. */
static Numeric
sum_entries(const sk_act_head *h, const sk_act_entry *e, bool cost)
{
	Numeric		total = int64_to_numeric(0);
	int32		i;

	for (i = 0; i < h->n; i++)
	{
		sk_dec		d;

		d.v = cost ? e[i].cost : e[i].revenue;
		d.scale = h->scale;
		total = DatumGetNumeric(DirectFunctionCall2(numeric_add, NumericGetDatum(total),
													NumericGetDatum(segkpi_dec_to_numeric(d))));
	}
	return total;
}

Datum
segkpi_activity_summary(PG_FUNCTION_ARGS)
{
	Activity   *a = act_get(PG_GETARG_DATUM(0));
	TupleDesc	desc = result_desc(fcinfo, "activity_summary");
	Datum		values[SUM_NATTS];
	bool		nulls[SUM_NATTS] = {false};
	sk_dec		revenue,
				cost;
	sk_act_head h;
	sk_act_entry *e = act_entries_copy(a, &h, 0);

	values[SUM_FIRST_ROW] = TimestampTzGetDatum(a->head.first_row);
	values[SUM_FIRST_ORDER] = TimestampTzGetDatum(a->head.first_order);
	values[SUM_LAST_ORDER] = TimestampTzGetDatum(a->head.last_order);
	nulls[SUM_FIRST_ORDER] = nulls[SUM_LAST_ORDER] = a->head.orders == 0;
	values[SUM_ORDERS] = Int64GetDatum(a->head.orders);
	values[SUM_REFUNDS] = Int64GetDatum(a->head.refunds);
	if (sk_act_totals(&h, e, &revenue, &cost) == SK_OK)
	{
		values[SUM_REVENUE] = NumericGetDatum(segkpi_dec_to_numeric(revenue));
		values[SUM_COST] = NumericGetDatum(segkpi_dec_to_numeric(cost));
	}
	else
	{
		values[SUM_REVENUE] = NumericGetDatum(sum_entries(&h, e, false));
		values[SUM_COST] = NumericGetDatum(sum_entries(&h, e, true));
	}
	values[SUM_PERIODS] = Int32GetDatum(a->head.n);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/* ---- activity_rollup ------------------------------------------------- */

typedef struct Rollup
{
	sk_rollup_head head;
	int32		cap;
	sk_rollup_cell *c;
} Rollup;

static Rollup *
rollup_new(MemoryContext cxt, int32 step, int32 cap)
{
	Rollup	   *r = MemoryContextAllocZero(cxt, sizeof(Rollup));

	segkpi_check_status(sk_rollup_init(&r->head, step), "activity_rollup: step_months");
	r->cap = Max(cap, 8);
	r->c = MemoryContextAllocZero(cxt, (Size) r->cap * sizeof(sk_rollup_cell));
	return r;
}

static void
rollup_reserve(Rollup *r, int32 need)
{
	if (need > r->cap)
	{
		int32		cap = Max(need, r->cap * 2);

		r->c = repalloc(r->c, (Size) cap * sizeof(sk_rollup_cell));
		r->cap = cap;
	}
}

Datum
segkpi_activity_rollup_sfunc(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	Rollup	   *r = PG_ARGISNULL(0) ? NULL : (Rollup *) PG_GETARG_POINTER(0);
	Activity   *a;
	sk_act_entry local[ACT_LOCAL];
	sk_act_entry *e;
	sk_act_head h;
	int32		step;
	sk_status	rc;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		segkpi_require_agg_context(fcinfo, "activity_rollup_sfunc");
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("activity_rollup: step_months must not be null")));
	step = PG_GETARG_INT32(2);
	if (r == NULL)
		r = rollup_new(aggcxt, step, 8);
	else if (r->head.step != step)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activity_rollup: step_months must be the same on every row")));
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(r);
	a = act_get(PG_GETARG_DATUM(1));
	if (a->head.n == 0)
		PG_RETURN_POINTER(r);
	e = act_entries(a, &h, a->head.n <= ACT_LOCAL ? local :
					palloc_extended(sizeof(sk_act_entry) * (Size) a->head.n, MCXT_ALLOC_HUGE));
	rc = sk_rollup_add(&r->head, r->c, r->cap, &h, e);
	if (rc == SK_ELIMIT)
	{
		rollup_reserve(r, sk_rollup_need(&r->head, r->c, &h, e));
		rc = sk_rollup_add(&r->head, r->c, r->cap, &h, e);
	}
	if (rc != SK_OK)
		segkpi_activity_overflow("activity_rollup");
	PG_RETURN_POINTER(r);
}

Datum
segkpi_activity_rollup_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	Rollup	   *a = PG_ARGISNULL(0) ? NULL : (Rollup *) PG_GETARG_POINTER(0);
	Rollup	   *b = PG_ARGISNULL(1) ? NULL : (Rollup *) PG_GETARG_POINTER(1);
	Rollup	   *out;
	sk_status	rc;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		segkpi_require_agg_context(fcinfo, "activity_rollup_combine");
	if (b == NULL)
		PG_RETURN_POINTER(a);
	/* copy rather than alias b: it may live in another group's memory */
	out = rollup_new(aggcxt, b->head.step, (a ? a->head.n : 0) + b->head.n);
	if (a == NULL)
	{
		out->head = b->head;
		memcpy(out->c, b->c, (Size) b->head.n * sizeof(sk_rollup_cell));
		PG_RETURN_POINTER(out);
	}
	rc = sk_rollup_merge(&a->head, a->c, &b->head, b->c, &out->head, out->c);
	if (rc == SK_EINVAL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("activity_rollup: step_months must be the same on every row")));
	if (rc != SK_OK)
		segkpi_activity_overflow("activity_rollup");
	PG_RETURN_POINTER(out);
}

/* Serialized: the core header, then its cells, as raw bytes (same build). */
Datum
segkpi_activity_rollup_serialize(PG_FUNCTION_ARGS)
{
	Rollup	   *r = (Rollup *) PG_GETARG_POINTER(0);
	Size		cells = (Size) r->head.n * sizeof(sk_rollup_cell);
	bytea	   *out;

	segkpi_require_agg_context(fcinfo, "activity_rollup_serialize");
	out = (bytea *) palloc(VARHDRSZ + sizeof(sk_rollup_head) + cells);
	SET_VARSIZE(out, VARHDRSZ + sizeof(sk_rollup_head) + cells);
	memcpy(VARDATA(out), &r->head, sizeof(sk_rollup_head));
	memcpy(VARDATA(out) + sizeof(sk_rollup_head), r->c, cells);
	PG_RETURN_BYTEA_P(out);
}

Datum
segkpi_activity_rollup_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	Size		len = VARSIZE_ANY_EXHDR(in);
	sk_rollup_head head;
	Rollup	   *r;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		segkpi_require_agg_context(fcinfo, "activity_rollup_deserialize");
	if (len < sizeof(sk_rollup_head))
		goto bad;
	memcpy(&head, VARDATA_ANY(in), sizeof(head));
	if (head.n < 0 || head.n > SK_ACT_MAX_PERIODS ||
		len != sizeof(sk_rollup_head) + (Size) head.n * sizeof(sk_rollup_cell))
		goto bad;
	r = rollup_new(aggcxt, 1, head.n);
	r->head = head;
	memcpy(r->c, VARDATA_ANY(in) + sizeof(head), (Size) head.n * sizeof(sk_rollup_cell));
	if (sk_rollup_check(&r->head, r->c) != SK_OK)
		goto bad;
	PG_RETURN_POINTER(r);
bad:
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("activity_rollup: invalid serialized state")));
	PG_RETURN_NULL();			/* not reached */
}

Datum
segkpi_activity_rollup_final(PG_FUNCTION_ARGS)
{
	Rollup	   *r;
	Oid			elemtype;
	TupleDesc	desc;
	Datum	   *elems;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int32		i;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	r = (Rollup *) PG_GETARG_POINTER(0);
	elemtype = get_element_type(get_fn_expr_rettype(fcinfo->flinfo));
	if (!OidIsValid(elemtype))
		elog(ERROR, "activity_rollup_final must return an array");
	desc = (TupleDesc) fcinfo->flinfo->fn_extra;
	if (desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		desc = BlessTupleDesc(lookup_rowtype_tupdesc_copy(elemtype, -1));
		fcinfo->flinfo->fn_extra = desc;
		MemoryContextSwitchTo(old);
	}
	if (desc->natts != PER_NATTS)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("segkpi.activity_period has %d columns, expected %d", desc->natts, PER_NATTS),
				 errhint("The type belongs to the extension; reinstall it instead of altering it.")));
	elems = palloc((Size) Max(r->head.n, 1) * sizeof(Datum));
	for (i = 0; i < r->head.n; i++)
	{
		const sk_rollup_cell *c = &r->c[i];
		Datum		values[PER_NATTS];
		bool		nulls[PER_NATTS] = {false};
		sk_dec		d;

		values[PER_PERIOD] = DateADTGetDatum(c->period);
		values[PER_ACTIVE] = Int64GetDatum(c->active);
		values[PER_RETAINED] = Int64GetDatum(c->retained);
		values[PER_ORDERS] = Int64GetDatum(c->orders);
		d.scale = r->head.scale;
		d.v = c->revenue;
		values[PER_REVENUE] = NumericGetDatum(segkpi_dec_to_numeric(d));
		d.v = c->cost;
		values[PER_COST] = NumericGetDatum(segkpi_dec_to_numeric(d));
		elems[i] = HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
	}
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, r->head.n, elemtype, typlen, typbyval, typalign));
}
