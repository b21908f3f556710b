/*
 * btyd_stats.c - the aggregate segkpi.btyd_stats and its state type
 * segkpi.btyd_state: one customer's calibration summary (x, t_x, T, zbar)
 * from their order rows.
 *
 * Days are calendar days in UTC: day = floor(ordered_at / 24 h) counted
 * from 2000-01-01 00:00 UTC.  That keeps the aggregate IMMUTABLE and gives
 * the same answer in every session and on every shard (postgres_fdw runs
 * remote sessions with TimeZone = UTC; a day boundary taken from the
 * session would silently move there).  A caller who wants local days
 * passes local wall-clock time, see the README.
 *
 * The state keeps one entry per calendar day: the exact net amount of that
 * day's rows at or before calibration_end, as a scaled 128-bit decimal
 * (so totals never depend on row order, and parallel plans give the same
 * bits as serial ones).  Net amounts must be kept per day until the end,
 * because a later row (a refund) can still change whether a day counts.
 *
 * Layout: one flat varlena updated in place under AggCheckCallContext:
 * header, then `cap` entries.  Entries [0, sorted) are sorted by day with
 * distinct days; entries after that are appended as rows arrive (a row on
 * the same day as the last entry is added to it directly, the common case
 * for orders that arrive in time order).  When the entries fill up they
 * are sorted and merged; if that does not free half the room, a state of
 * twice the room is returned (nodeAgg copies it into the aggregate
 * context), so each row costs amortised O(log n).
 *
 * The text form is always sorted and merged:
 *   1:<calibration_end>:<unit>:<day>=<net>,<day>=<net>...
 * with calibration_end in PostgreSQL microseconds since 2000-01-01 UTC,
 * unit in microseconds, days strictly increasing and at most the day of
 * calibration_end, nets as plain decimals.  Input validates all of it.
 */
#include "postgres.h"

#include <math.h>
#include <stdlib.h>

#include "access/htup_details.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "btyd_common.h"
#include "numdec.h"
#include "glue.h"
#include "status.h"

PG_FUNCTION_INFO_V1(segkpi_btyd_state_in);
PG_FUNCTION_INFO_V1(segkpi_btyd_state_out);
PG_FUNCTION_INFO_V1(segkpi_btyd_state_recv);
PG_FUNCTION_INFO_V1(segkpi_btyd_state_send);
PG_FUNCTION_INFO_V1(segkpi_btyd_stats_sfunc);
PG_FUNCTION_INFO_V1(segkpi_btyd_stats_combine);
PG_FUNCTION_INFO_V1(segkpi_btyd_stats_final);

#define STATE_VERSION	1
#define MIN_CAP			8
#define DEFAULT_UNIT	(7 * USECS_PER_DAY)

typedef struct DayEntry
{
	sk_i128		v;				/* net amount * 10^scale */
	int32		day;			/* days since 2000-01-01 UTC */
	int32		scale;
} DayEntry;

typedef struct BtydState
{
	int32		vl_len_;
	int32		version;
	TimestampTz cal_end;
	int64		unit;			/* microseconds, > 0 */
	int32		n;				/* entries used */
	int32		cap;
	int32		sorted;			/* entries [0, sorted) sorted, distinct */
	int32		pad;
	DayEntry	e[FLEXIBLE_ARRAY_MEMBER];
} BtydState;

#define STATE_BYTES(cap) (offsetof(BtydState, e) + (Size) (cap) * sizeof(DayEntry))

static int32
day_of(TimestampTz ts)
{
	int64		d = ts / USECS_PER_DAY;

	if (ts < 0 && d * USECS_PER_DAY != ts)
		d--;
	return (int32) d;
}

static BtydState *
state_new(TimestampTz cal_end, int64 unit, int64 cap)
{
	BtydState  *s;

	if (cap > (int64) (MaxAllocSize / sizeof(DayEntry) / 2) || STATE_BYTES(cap) > (Size) work_mem * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("btyd_stats: one customer's purchase days do not fit in work_mem"),
				 errdetail("Room for %lld days needs %zu kB; work_mem is %d kB.",
						   (long long) cap, (STATE_BYTES(cap) + 1023) / 1024, work_mem),
				 errhint("Raise work_mem for this query, or check that the rows are grouped by customer.")));
	s = (BtydState *) palloc0(STATE_BYTES(cap));
	SET_VARSIZE(s, STATE_BYTES(cap));
	s->version = STATE_VERSION;
	s->cal_end = cal_end;
	s->unit = unit;
	s->cap = (int32) cap;
	return s;
}

static void
amount_overflow(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("btyd_stats: a day's total amount has more than 38 significant digits")));
}

static int
entry_cmp(const void *a, const void *b)
{
	int32		x = ((const DayEntry *) a)->day;
	int32		y = ((const DayEntry *) b)->day;

	return (x > y) - (x < y);
}

/* Sort all entries and merge equal days; afterwards sorted == n. */
static void
state_compact(BtydState *s)
{
	int32		i,
				out = 0;

	if (s->sorted == s->n)
		return;
	qsort(s->e, s->n, sizeof(DayEntry), entry_cmp);
	for (i = 0; i < s->n; i++)
	{
		if (out > 0 && s->e[out - 1].day == s->e[i].day)
		{
			sk_dec		acc = {s->e[out - 1].v, s->e[out - 1].scale};
			sk_dec		add = {s->e[i].v, s->e[i].scale};

			if (sk_dec_add(&acc, add) != SK_OK)
				amount_overflow();
			s->e[out - 1].v = acc.v;
			s->e[out - 1].scale = acc.scale;
		}
		else
			s->e[out++] = s->e[i];
	}
	s->n = s->sorted = out;
}

/* Adds one day's amount; returns s or a grown replacement. */
static BtydState *
state_add(BtydState *s, int32 day, sk_dec amount)
{
	if (s->n > 0 && s->e[s->n - 1].day == day)
	{
		sk_dec		acc = {s->e[s->n - 1].v, s->e[s->n - 1].scale};

		if (sk_dec_add(&acc, amount) != SK_OK)
			amount_overflow();
		s->e[s->n - 1].v = acc.v;
		s->e[s->n - 1].scale = acc.scale;
		/* the last entry may now equal an earlier day: no longer sorted */
		if (s->sorted == s->n && s->n > 1 && s->e[s->n - 2].day >= day)
			s->sorted = 0;
		return s;
	}
	if (s->n == s->cap)
	{
		state_compact(s);
		if (s->n * 2 > s->cap)
		{
			BtydState  *g = state_new(s->cal_end, s->unit, (int64) s->cap * 2);

			memcpy(g->e, s->e, s->n * sizeof(DayEntry));
			g->n = g->sorted = s->n;
			s = g;
		}
	}
	if (s->sorted == s->n && (s->n == 0 || s->e[s->n - 1].day < day))
		s->sorted++;
	s->e[s->n].v = amount.v;
	s->e[s->n].scale = amount.scale;
	s->e[s->n].day = day;
	s->n++;
	return s;
}

/* ---- text and binary I/O ------------------------------------------- */

static char *
state_to_text(const BtydState *in)
{
	StringInfoData buf;
	BtydState  *s = (BtydState *) palloc(VARSIZE(in));
	char		num[SK_DEC_TEXT_MAX];
	int32		i;

	memcpy(s, in, VARSIZE(in));
	state_compact(s);
	initStringInfo(&buf);
	appendStringInfo(&buf, "%d:" INT64_FORMAT ":" INT64_FORMAT ":", STATE_VERSION,
					 s->cal_end, s->unit);
	for (i = 0; i < s->n; i++)
	{
		sk_dec		d = {s->e[i].v, s->e[i].scale};

		sk_dec_format(d, num);
		appendStringInfo(&buf, "%s%d=%s", i > 0 ? "," : "", s->e[i].day, num);
	}
	pfree(s);
	return buf.data;
}

/* An optionally negative decimal integer without leading zeros or '+'. */
static bool
parse_int64(const char **p, const char *end, int64 *out)
{
	const char *q = *p;
	bool		neg = false;
	uint64		v = 0;

	if (q < end && *q == '-')
		neg = true, q++;
	if (q >= end || *q < '0' || *q > '9' || (*q == '0' && q + 1 < end && q[1] >= '0' && q[1] <= '9'))
		return false;
	while (q < end && *q >= '0' && *q <= '9')
	{
		if (v > (PG_UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (*q++ - '0');
	}
	if (v > (uint64) PG_INT64_MAX)
		return false;
	*out = neg ? -(int64) v : (int64) v;
	if (neg && v == 0)
		return false;
	*p = q;
	return true;
}

static BtydState *
state_from_text(const char *str, size_t len)
{
	const char *p = str,
			   *end = str + len;
	int64		version,
				cal_end,
				unit;
	BtydState  *s = NULL;
	bool		ok = false;

	if (!parse_int64(&p, end, &version) || version != STATE_VERSION ||
		p >= end || *p++ != ':' ||
		!parse_int64(&p, end, &cal_end) || p >= end || *p++ != ':' ||
		!parse_int64(&p, end, &unit) || p >= end || *p++ != ':')
		goto fail;
	if (cal_end < MIN_TIMESTAMP || cal_end >= END_TIMESTAMP || unit <= 0)
		goto fail;
	s = state_new(cal_end, unit, MIN_CAP);
	while (p < end)
	{
		int64		day;
		const char *q;
		sk_dec		d;

		if (s->n > 0 && *p++ != ',')
			goto fail;
		if (!parse_int64(&p, end, &day) || p >= end || *p++ != '=')
			goto fail;
		for (q = p; q < end && *q != ','; q++)
			;
		if (sk_dec_parse(p, q - p, &d) != SK_OK)
			goto fail;
		p = q;
		if (day > day_of(cal_end) || day < day_of(MIN_TIMESTAMP) ||
			(s->n > 0 && day <= s->e[s->n - 1].day))
			goto fail;
		s = state_add(s, (int32) day, d);
	}
	ok = true;
fail:
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type segkpi.btyd_state: \"%s\"",
						pnstrdup(str, Min(len, 200))),
				 errdetail("Expected 1:<calibration_end>:<unit>:<day>=<net>,... with calibration_end a finite "
						   "timestamp in microseconds, unit > 0 microseconds, days strictly increasing and "
						   "not after the day of calibration_end, and plain decimal nets.")));
	return s;
}

static BtydState *
state_arg(Datum d)
{
	BtydState  *s = (BtydState *) PG_DETOAST_DATUM(d);

	if (VARSIZE(s) < offsetof(BtydState, e) || s->version != STATE_VERSION ||
		s->cap < 0 || VARSIZE(s) != STATE_BYTES(s->cap) || s->n < 0 ||
		s->n > s->cap || s->sorted < 0 || s->sorted > s->n || s->unit <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored value of type segkpi.btyd_state is not valid")));
	return s;
}

Datum
segkpi_btyd_state_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);

	PG_RETURN_POINTER(state_from_text(str, strlen(str)));
}

Datum
segkpi_btyd_state_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(state_to_text(state_arg(PG_GETARG_DATUM(0))));
}

Datum
segkpi_btyd_state_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			nbytes = buf->len - buf->cursor;

	PG_RETURN_POINTER(state_from_text(pq_getmsgbytes(buf, nbytes), nbytes));
}

Datum
segkpi_btyd_state_send(PG_FUNCTION_ARGS)
{
	char	   *text = state_to_text(state_arg(PG_GETARG_DATUM(0)));

	PG_RETURN_BYTEA_P(segkpi_send_text_cstring(text));
}

/* ---- aggregate ------------------------------------------------------ */


/* The unit interval in microseconds; a fixed length, > 0. */
static int64
unit_usecs(const Interval *u)
{
	int64		days_us,
				us;

	if (u->month != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("btyd_stats: unit must have a fixed length"),
				 errdetail("Months and years have no fixed number of days."),
				 errhint("Use days or weeks, for example '30 days' instead of '1 month'.")));
	if (pg_mul_s64_overflow((int64) u->day, USECS_PER_DAY, &days_us) ||
		pg_add_s64_overflow(days_us, u->time, &us))
		us = 0;
	if (us <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("btyd_stats: unit must be a positive interval")));
	return us;
}

static void
mismatch(const char *arg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("btyd_stats: %s must be the same for every row of a customer", arg),
			 errdetail("One summary is computed against one calibration period and one time unit.")));
}

Datum
segkpi_btyd_stats_sfunc(PG_FUNCTION_ARGS)
{
	BtydState  *s;
	TimestampTz ts,
				cal_end;
	int64		unit = DEFAULT_UNIT;
	struct varlena *amount;
	sk_numkind	kind;
	sk_dec		dec;
	sk_status	rc;

	segkpi_require_agg_context(fcinfo, "btyd_stats_sfunc");
	s = PG_ARGISNULL(0) ? NULL : state_arg(PG_GETARG_DATUM(0));
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s);
	}
	if (PG_ARGISNULL(3) || (PG_NARGS() > 4 && PG_ARGISNULL(4)))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("btyd_stats: %s must not be NULL", PG_ARGISNULL(3) ? "calibration_end" : "unit")));
	cal_end = PG_GETARG_TIMESTAMPTZ(3);
	if (TIMESTAMP_NOT_FINITE(cal_end))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("btyd_stats: calibration_end must be finite")));
	if (PG_NARGS() > 4)
		unit = unit_usecs(PG_GETARG_INTERVAL_P(4));
	if (s != NULL && s->cal_end != cal_end)
		mismatch("calibration_end");
	if (s != NULL && s->unit != unit)
		mismatch("unit");

	ts = PG_GETARG_TIMESTAMPTZ(1);
	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("btyd_stats: ordered_at must be finite"),
				 errdetail("An order dated infinity or -infinity has no calendar day.")));
	amount = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(2));
	rc = sk_numeric_decode((const unsigned char *) VARDATA_ANY(amount),
						   VARSIZE_ANY_EXHDR(amount), &kind, &dec);
	if (rc == SK_EDATA)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("btyd_stats: amount is not a valid numeric value")));
	if (kind != SK_NUM_FINITE)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("btyd_stats: amount must be finite"),
				 errdetail("The amount is %s.",
						   kind == SK_NUM_NAN ? "NaN" :
						   kind == SK_NUM_PINF ? "Infinity" : "-Infinity")));
	if (rc == SK_EOVERFLOW)
		amount_overflow();

	if (s == NULL)
		s = state_new(cal_end, unit, MIN_CAP);
	if (ts > cal_end)
		PG_RETURN_POINTER(s);	/* after calibration: not part of the summary */
	PG_RETURN_POINTER(state_add(s, day_of(ts), dec));
}

Datum
segkpi_btyd_stats_combine(PG_FUNCTION_ARGS)
{
	BtydState  *a,
			   *b;
	int32		i;

	segkpi_require_agg_context(fcinfo, "btyd_stats_combine");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = state_arg(PG_GETARG_DATUM(1));
	/* nodeAgg copies a returned value that is not its first argument */
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(b);
	a = state_arg(PG_GETARG_DATUM(0));
	if (a->cal_end != b->cal_end)
		mismatch("calibration_end");
	if (a->unit != b->unit)
		mismatch("unit");
	for (i = 0; i < b->n; i++)
	{
		sk_dec		d = {b->e[i].v, b->e[i].scale};

		a = state_add(a, b->e[i].day, d);
	}
	PG_RETURN_POINTER(a);
}

/* Exact decimal to the nearest double. */
static double
dec_to_double(sk_dec d)
{
	char		buf[SK_DEC_TEXT_MAX];

	sk_dec_format(d, buf);
	return strtod(buf, NULL);
}

/*
 * days * 24 h / unit.  days * 86400e6 is exact in a double for spans up to
 * 285 years, and unit always is, so this is one correctly rounded division
 * (for unit = 1 week exactly days / 7 rounded once).
 */
static double
days_in_units(int32 days, int64 unit)
{
	return ((double) days * (double) USECS_PER_DAY) / (double) unit;
}

Datum
segkpi_btyd_stats_final(PG_FUNCTION_ARGS)
{
	BtydState  *s;
	TupleDesc	desc;
	Datum		values[BTYD_SUMMARY_NATTS];
	bool		nulls[BTYD_SUMMARY_NATTS] = {false};
	int32		i,
				first = 0,
				last = 0,
				x = -1;
	sk_dec		sum = {0, 0};

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = state_arg(PG_GETARG_DATUM(0));
	/* the final function must leave the state as it found it */
	if (s->sorted != s->n)
	{
		BtydState  *copy = (BtydState *) palloc(VARSIZE(s));

		memcpy(copy, s, VARSIZE(s));
		s = copy;
		state_compact(s);
	}
	for (i = 0; i < s->n; i++)
	{
		sk_dec		d = {s->e[i].v, s->e[i].scale};

		if (d.v < 0)
			continue;			/* a refund day: not a purchase */
		if (x < 0)
			first = s->e[i].day;
		else if (sk_dec_add(&sum, d) != SK_OK)
			amount_overflow();
		last = s->e[i].day;
		x++;
	}
	if (x < 0)
		PG_RETURN_NULL();		/* no purchase day by calibration_end */

	desc = segkpi_result_desc(fcinfo);
	values[BTYD_SUMMARY_X] = Int32GetDatum(x);
	values[BTYD_SUMMARY_TX] = Float8GetDatum(days_in_units(last - first, s->unit));
	values[BTYD_SUMMARY_T] = Float8GetDatum(days_in_units(day_of(s->cal_end) - first, s->unit));
	values[BTYD_SUMMARY_ZBAR] = Float8GetDatum(x > 0 ? dec_to_double(sum) / x : 0.0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
