/*
 * rfm_agg.c - the segkpi.rfm_state type and the segkpi.rfm_agg aggregate.
 *
 * rfm_state is a varlena: a 4-byte length, 4 bytes of zero padding, the
 * core sk_rfm_state (8-byte aligned), then, only when SK_RFM_SPILL is set,
 * a numeric holding the part of the monetary total that did not fit the
 * exact 128-bit part.  Its text form is the core's (rfmstate.h), so a state
 * travels through Citus, postgres_fdw or a table unchanged.
 *
 * The state is not `internal`: the transition and combine functions update
 * it in place when called as aggregates (AggCheckCallContext), and return a
 * new value only on the rare spill path; nodeAgg then copies that value into
 * the aggregate context and frees the old one.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "numdec.h"
#include "rfm_common.h"
#include "rfmstate.h"
#include "glue.h"
#include "status.h"

PG_FUNCTION_INFO_V1(segkpi_rfm_state_in);
PG_FUNCTION_INFO_V1(segkpi_rfm_state_out);
PG_FUNCTION_INFO_V1(segkpi_rfm_state_recv);
PG_FUNCTION_INFO_V1(segkpi_rfm_state_send);
PG_FUNCTION_INFO_V1(segkpi_rfm_agg_sfunc);
PG_FUNCTION_INFO_V1(segkpi_rfm_agg_combine);
PG_FUNCTION_INFO_V1(segkpi_rfm_agg_final);

typedef struct RfmState
{
	int32		vl_len_;
	int32		pad;			/* always zero */
	sk_rfm_state st;
	/* numeric spill follows when st.flags & SK_RFM_SPILL */
} RfmState;

#define RFM_FIXED_SIZE (offsetof(RfmState, st) + sizeof(sk_rfm_state))
#define RFM_HAS_SPILL(s) (((s)->st.flags & SK_RFM_SPILL) != 0)
#define RFM_SPILL(s) ((Numeric) ((char *) (s) + RFM_FIXED_SIZE))

#define DatumGetRfmState(d) ((RfmState *) PG_DETOAST_DATUM(d))

/* A state with the given fixed part and optional spill, in the current context. */
static RfmState *
rfm_state_make(const sk_rfm_state *st, Numeric spill)
{
	Size		size = RFM_FIXED_SIZE + (spill ? VARSIZE(spill) : 0);
	RfmState   *s = (RfmState *) palloc0(size);

	SET_VARSIZE(s, size);
	s->st = *st;
	if (spill)
	{
		s->st.flags |= SK_RFM_SPILL;
		memcpy(RFM_SPILL(s), spill, VARSIZE(spill));
	}
	else
		s->st.flags &= ~SK_RFM_SPILL;
	return s;
}

static Numeric
numeric_plus(Numeric a, Numeric b)
{
	if (a == NULL)
		return b;
	if (b == NULL)
		return a;
	return DatumGetNumeric(DirectFunctionCall2(numeric_add,
											   NumericGetDatum(a),
											   NumericGetDatum(b)));
}

Numeric
segkpi_dec_to_numeric(sk_dec d)
{
	char		buf[SK_DEC_TEXT_MAX];

	if (d.v >= PG_INT64_MIN && d.v <= PG_INT64_MAX)
		return int64_div_fast_to_numeric((int64) d.v, d.scale);
	sk_dec_format(d, buf);
	return DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1)));
}

/* The whole monetary total of a state, as a numeric. */
static Numeric
rfm_state_total(const RfmState *s)
{
	Numeric		exact = segkpi_dec_to_numeric(sk_rfm_state_sum(&s->st));

	return RFM_HAS_SPILL(s) ? numeric_plus((Numeric) RFM_SPILL(s), exact) : exact;
}

/* ---- text and binary I/O ------------------------------------------ */

static RfmState *
rfm_state_from_text(const char *str, size_t len)
{
	sk_rfm_state st;
	const char *total;
	size_t		total_len;
	Numeric		spill = NULL;
	sk_dec		sum;
	sk_status	rc;

	rc = sk_rfm_state_parse(str, len, &st, &total, &total_len);
	if (rc == SK_OK)
	{
		rc = sk_dec_parse(total, total_len, &sum);
		if (rc == SK_OK)
			sk_rfm_state_set_sum(&st, sum);
		else if (rc == SK_EOVERFLOW)
		{
			char	   *t = pnstrdup(total, total_len);

			spill = DatumGetNumeric(DirectFunctionCall3(numeric_in,
														CStringGetDatum(t),
														ObjectIdGetDatum(InvalidOid),
														Int32GetDatum(-1)));
			rc = SK_OK;
		}
	}
	if (rc == SK_OK)
		rc = sk_rfm_state_check(&st);
	if (rc != SK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type segkpi.rfm_state: \"%s\"",
						pnstrdup(str, Min(len, 200))),
				 errdetail("Expected 1:<orders>:<refunds>:<first>:<last>:<total> "
						   "with orders + refunds >= 1, first <= last given "
						   "exactly when orders > 0, and a plain decimal total.")));
	return rfm_state_make(&st, spill);
}

Datum
segkpi_rfm_state_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);

	PG_RETURN_POINTER(rfm_state_from_text(str, strlen(str)));
}

static char *
rfm_state_to_text(const RfmState *s)
{
	StringInfoData buf;
	char		prefix[SK_RFM_TEXT_PREFIX_MAX];

	initStringInfo(&buf);
	sk_rfm_state_format(&s->st, prefix);
	appendStringInfoString(&buf, prefix);
	appendStringInfoString(&buf,
						   DatumGetCString(DirectFunctionCall1(numeric_out,
															   NumericGetDatum(rfm_state_total(s)))));
	return buf.data;
}

Datum
segkpi_rfm_state_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(rfm_state_to_text(DatumGetRfmState(PG_GETARG_DATUM(0))));
}

/* Binary form: the text form, so there is one validated decoder. */
Datum
segkpi_rfm_state_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			nbytes = buf->len - buf->cursor;
	const char *text = pq_getmsgbytes(buf, nbytes);

	PG_RETURN_POINTER(rfm_state_from_text(text, nbytes));
}

Datum
segkpi_rfm_state_send(PG_FUNCTION_ARGS)
{
	char	   *text = rfm_state_to_text(DatumGetRfmState(PG_GETARG_DATUM(0)));

	PG_RETURN_BYTEA_P(segkpi_send_text_cstring(text));
}

/* ---- aggregate ------------------------------------------------------ */


/* The rare path: the amount or the sum left the exact 128-bit range. */
static RfmState *
rfm_state_add_spill(RfmState *s, TimestampTz ts, Numeric amount)
{
	sk_rfm_state st;
	Numeric		zero = int64_to_numeric(0);
	int			is_order;

	is_order = DatumGetInt32(DirectFunctionCall2(numeric_cmp,
												 NumericGetDatum(amount),
												 NumericGetDatum(zero))) > 0;
	if (s == NULL)
		sk_rfm_state_init(&st);
	else
		st = s->st;
	sk_rfm_state_count(&st, ts, is_order);
	return rfm_state_make(&st, numeric_plus(s && RFM_HAS_SPILL(s) ? RFM_SPILL(s) : NULL,
											amount));
}

Datum
segkpi_rfm_agg_sfunc(PG_FUNCTION_ARGS)
{
	RfmState   *s = PG_ARGISNULL(0) ? NULL : (RfmState *) PG_GETARG_POINTER(0);
	TimestampTz ts;
	struct varlena *amount;
	sk_numkind	kind;
	sk_dec		dec;
	sk_status	rc;

	segkpi_require_agg_context(fcinfo, "rfm_agg_sfunc");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s);
	}
	ts = PG_GETARG_TIMESTAMPTZ(1);
	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("rfm_agg: ordered_at must be finite"),
				 errdetail("An order dated infinity or -infinity has no recency.")));

	/* Short-header numerics are read where they lie, without a copy. */
	amount = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(2));
	rc = sk_numeric_decode((const unsigned char *) VARDATA_ANY(amount),
						   VARSIZE_ANY_EXHDR(amount), &kind, &dec);
	if (rc == SK_EDATA)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("rfm_agg: amount is not a valid numeric value")));
	if (kind != SK_NUM_FINITE)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("rfm_agg: amount must be finite"),
				 errdetail("The amount is %s.",
						   kind == SK_NUM_NAN ? "NaN" :
						   kind == SK_NUM_PINF ? "Infinity" : "-Infinity")));

	if (rc == SK_OK && s == NULL)
	{
		sk_rfm_state st;

		sk_rfm_state_init(&st);
		if (sk_rfm_state_add(&st, ts, dec) == SK_OK)
			PG_RETURN_POINTER(rfm_state_make(&st, NULL));
	}
	else if (rc == SK_OK && sk_rfm_state_add(&s->st, ts, dec) == SK_OK)
		PG_RETURN_POINTER(s);	/* updated in place: the common case */

	PG_RETURN_POINTER(rfm_state_add_spill(s, ts, PG_GETARG_NUMERIC(2)));
}

Datum
segkpi_rfm_agg_combine(PG_FUNCTION_ARGS)
{
	RfmState   *a = PG_ARGISNULL(0) ? NULL : DatumGetRfmState(PG_GETARG_DATUM(0));
	RfmState   *b = PG_ARGISNULL(1) ? NULL : DatumGetRfmState(PG_GETARG_DATUM(1));
	sk_rfm_state st;
	Numeric		spill;

	segkpi_require_agg_context(fcinfo, "rfm_agg_combine");
	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	/* nodeAgg copies a returned value that is not its first argument */
	if (a == NULL)
		PG_RETURN_POINTER(b);
	if (!RFM_HAS_SPILL(a) && !RFM_HAS_SPILL(b) &&
		sk_rfm_state_merge(&a->st, &b->st) == SK_OK)
		PG_RETURN_POINTER(a);

	/* keep a's exact part; b's exact part and both spills go to the spill */
	st = a->st;
	sk_rfm_state_merge_counts(&st, &b->st);
	spill = numeric_plus(RFM_HAS_SPILL(a) ? RFM_SPILL(a) : NULL,
						 RFM_HAS_SPILL(b) ? RFM_SPILL(b) : NULL);
	spill = numeric_plus(spill, segkpi_dec_to_numeric(sk_rfm_state_sum(&b->st)));
	PG_RETURN_POINTER(rfm_state_make(&st, spill));
}

Datum
segkpi_rfm_agg_final(PG_FUNCTION_ARGS)
{
	RfmState   *s;
	TupleDesc	desc = (TupleDesc) fcinfo->flinfo->fn_extra;
	Datum		values[RFM_STATS_NATTS];
	bool		nulls[RFM_STATS_NATTS] = {false};

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = DatumGetRfmState(PG_GETARG_DATUM(0));
	if (desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "rfm_agg_final must return a composite type");
		desc = BlessTupleDesc(CreateTupleDescCopy(desc));
		fcinfo->flinfo->fn_extra = desc;
		MemoryContextSwitchTo(old);
	}

	values[RFM_STATS_FIRST] = TimestampTzGetDatum(s->st.first);
	values[RFM_STATS_LAST] = TimestampTzGetDatum(s->st.last);
	nulls[RFM_STATS_FIRST] = nulls[RFM_STATS_LAST] = s->st.orders == 0;
	values[RFM_STATS_ORDERS] = Int64GetDatum(s->st.orders);
	values[RFM_STATS_REFUNDS] = Int64GetDatum(s->st.refunds);
	values[RFM_STATS_MONETARY] = NumericGetDatum(rfm_state_total(s));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
