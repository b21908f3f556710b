/*
 * btyd_model.c - the model types segkpi.bgnbd_model and
 * segkpi.gamma_gamma_model, their parameters as columns, and everything
 * computed from a fitted model: P(alive), expected purchases, expected
 * spend and discounted CLV.
 *
 * A model's text form is the core's (btyd.h): one line with a tag, a format
 * version and every field, decoded strictly.  All arguments are checked
 * here with messages that name them, before the core sees them, so a core
 * SK_EINVAL can only mean a parameter the core itself rejects.
 *
 * A customer with T = 0 (x = 0, first seen on the last calibration day) is
 * a customer just acquired: nothing has been observed about them yet, so
 * their posterior is the prior and the new-customer formulas apply
 * (P(alive) = 1, E[Y(t)] = E[X(t)]).  The core requires T > 0, so that
 * case is routed here.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"

#include "btyd_common.h"
#include "glue.h"
#include "status.h"

PG_FUNCTION_INFO_V1(segkpi_bgnbd_model_in);
PG_FUNCTION_INFO_V1(segkpi_bgnbd_model_out);
PG_FUNCTION_INFO_V1(segkpi_bgnbd_model_recv);
PG_FUNCTION_INFO_V1(segkpi_bgnbd_model_send);
PG_FUNCTION_INFO_V1(segkpi_gamma_gamma_model_in);
PG_FUNCTION_INFO_V1(segkpi_gamma_gamma_model_out);
PG_FUNCTION_INFO_V1(segkpi_gamma_gamma_model_recv);
PG_FUNCTION_INFO_V1(segkpi_gamma_gamma_model_send);
PG_FUNCTION_INFO_V1(segkpi_bgnbd_params);
PG_FUNCTION_INFO_V1(segkpi_gamma_gamma_params);
PG_FUNCTION_INFO_V1(segkpi_bgnbd_p_alive);
PG_FUNCTION_INFO_V1(segkpi_bgnbd_expected);
PG_FUNCTION_INFO_V1(segkpi_bgnbd_expected_population);
PG_FUNCTION_INFO_V1(segkpi_gamma_gamma_mean);
PG_FUNCTION_INFO_V1(segkpi_clv);

/* ---- storage ------------------------------------------------------- */

BgnbdModel *
segkpi_bgnbd_model_make(const sk_bgnbd_model *m)
{
	BgnbdModel *v = (BgnbdModel *) palloc0(sizeof(BgnbdModel));

	SET_VARSIZE(v, sizeof(BgnbdModel));
	v->version = BTYD_MODEL_VERSION;
	v->m = *m;
	return v;
}

GgModel *
segkpi_gg_model_make(const sk_gg_model *m)
{
	GgModel    *v = (GgModel *) palloc0(sizeof(GgModel));

	SET_VARSIZE(v, sizeof(GgModel));
	v->version = BTYD_MODEL_VERSION;
	v->m = *m;
	return v;
}

static void
bad_stored_model(const char *type)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("stored value of type %s is not valid", type),
			 errdetail("Its size or format version is not one this version of segkpi writes.")));
}

BgnbdModel *
segkpi_bgnbd_model_arg(Datum d)
{
	BgnbdModel *v = (BgnbdModel *) PG_DETOAST_DATUM(d);

	if (VARSIZE(v) != sizeof(BgnbdModel) || v->version != BTYD_MODEL_VERSION)
		bad_stored_model("segkpi.bgnbd_model");
	return v;
}

GgModel *
segkpi_gg_model_arg(Datum d)
{
	GgModel    *v = (GgModel *) PG_DETOAST_DATUM(d);

	if (VARSIZE(v) != sizeof(GgModel) || v->version != BTYD_MODEL_VERSION)
		bad_stored_model("segkpi.gamma_gamma_model");
	return v;
}

TupleDesc
segkpi_result_desc(FunctionCallInfo fcinfo)
{
	TupleDesc	desc = (TupleDesc) fcinfo->flinfo->fn_extra;

	if (desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("function returning a record called in a context that cannot accept it")));
		desc = BlessTupleDesc(CreateTupleDescCopy(desc));
		fcinfo->flinfo->fn_extra = desc;
		MemoryContextSwitchTo(old);
	}
	return desc;
}

/* ---- text and binary I/O ------------------------------------------- */

static BgnbdModel *
bgnbd_from_text(const char *str, size_t len)
{
	sk_bgnbd_model m;

	if (sk_bgnbd_decode(str, len, &m) != SK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type segkpi.bgnbd_model: \"%s\"",
						pnstrdup(str, Min(len, 200))),
				 errdetail("Expected \"bgnbd/1 r=R alpha=A a=A b=B ll=L n=N iter=I converged=0|1\" "
						   "with single spaces, plain decimal numbers, r, alpha, a, b finite and "
						   "positive, ll finite and n >= 0.")));
	return segkpi_bgnbd_model_make(&m);
}

static GgModel *
gg_from_text(const char *str, size_t len)
{
	sk_gg_model m;

	if (sk_gg_decode(str, len, &m) != SK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type segkpi.gamma_gamma_model: \"%s\"",
						pnstrdup(str, Min(len, 200))),
				 errdetail("Expected \"gammagamma/1 p=P q=Q gamma=G ll=L n=N iter=I converged=0|1\" "
						   "with single spaces, plain decimal numbers, p, q, gamma finite and "
						   "positive, ll finite and n >= 0.")));
	return segkpi_gg_model_make(&m);
}

static char *
bgnbd_to_text(const BgnbdModel *v)
{
	char		buf[SK_BTYD_TEXT_MAX];
	size_t		len;

	if (sk_bgnbd_encode(&v->m, buf, sizeof(buf), &len) != SK_OK)
		bad_stored_model("segkpi.bgnbd_model");
	return pnstrdup(buf, len);
}

static char *
gg_to_text(const GgModel *v)
{
	char		buf[SK_BTYD_TEXT_MAX];
	size_t		len;

	if (sk_gg_encode(&v->m, buf, sizeof(buf), &len) != SK_OK)
		bad_stored_model("segkpi.gamma_gamma_model");
	return pnstrdup(buf, len);
}


Datum
segkpi_bgnbd_model_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);

	PG_RETURN_POINTER(bgnbd_from_text(str, strlen(str)));
}

Datum
segkpi_bgnbd_model_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(bgnbd_to_text(segkpi_bgnbd_model_arg(PG_GETARG_DATUM(0))));
}

Datum
segkpi_bgnbd_model_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			nbytes = buf->len - buf->cursor;

	PG_RETURN_POINTER(bgnbd_from_text(pq_getmsgbytes(buf, nbytes), nbytes));
}

Datum
segkpi_bgnbd_model_send(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(segkpi_send_text_cstring(bgnbd_to_text(segkpi_bgnbd_model_arg(PG_GETARG_DATUM(0)))));
}

Datum
segkpi_gamma_gamma_model_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);

	PG_RETURN_POINTER(gg_from_text(str, strlen(str)));
}

Datum
segkpi_gamma_gamma_model_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(gg_to_text(segkpi_gg_model_arg(PG_GETARG_DATUM(0))));
}

Datum
segkpi_gamma_gamma_model_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			nbytes = buf->len - buf->cursor;

	PG_RETURN_POINTER(gg_from_text(pq_getmsgbytes(buf, nbytes), nbytes));
}

Datum
segkpi_gamma_gamma_model_send(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(segkpi_send_text_cstring(gg_to_text(segkpi_gg_model_arg(PG_GETARG_DATUM(0)))));
}

/* ---- parameters as columns ----------------------------------------- */

Datum
segkpi_bgnbd_params(PG_FUNCTION_ARGS)
{
	const sk_bgnbd_model *m = &segkpi_bgnbd_model_arg(PG_GETARG_DATUM(0))->m;
	TupleDesc	desc = segkpi_result_desc(fcinfo);
	Datum		values[8];
	bool		nulls[8] = {false};

	values[0] = Float8GetDatum(m->r);
	values[1] = Float8GetDatum(m->alpha);
	values[2] = Float8GetDatum(m->a);
	values[3] = Float8GetDatum(m->b);
	values[4] = Float8GetDatum(m->loglik);
	values[5] = Float8GetDatum(m->n);
	values[6] = Int32GetDatum(m->iterations);
	values[7] = BoolGetDatum(m->converged != 0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

Datum
segkpi_gamma_gamma_params(PG_FUNCTION_ARGS)
{
	const sk_gg_model *m = &segkpi_gg_model_arg(PG_GETARG_DATUM(0))->m;
	TupleDesc	desc = segkpi_result_desc(fcinfo);
	Datum		values[7];
	bool		nulls[7] = {false};

	values[0] = Float8GetDatum(m->p);
	values[1] = Float8GetDatum(m->q);
	values[2] = Float8GetDatum(m->gamma);
	values[3] = Float8GetDatum(m->loglik);
	values[4] = Float8GetDatum(m->n);
	values[5] = Int32GetDatum(m->iterations);
	values[6] = BoolGetDatum(m->converged != 0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/* ---- argument checks ------------------------------------------------ */

static void
bad_arg(const char *fn, const char *msg, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s: %s", fn, msg),
			 detail ? errdetail("%s", detail) : 0));
}

/*
 * A customer's (x, t_x, T) as a prediction argument.  Returns true when the
 * customer is "just acquired" (T = 0, hence x = 0 and t_x = 0).
 */
static bool
check_customer(const char *fn, int32 x, double t_x, double T)
{
	if (x < 0)
		bad_arg(fn, "x must not be negative", "x counts repeat purchases.");
	if (x > SK_BTYD_MAX_X)
		bad_arg(fn, "x is too large", "x may be at most 1000000.");
	if (isnan(t_x) || isinf(t_x) || isnan(T) || isinf(T))
		bad_arg(fn, "t_x and T must be finite numbers", NULL);
	if (T < 0)
		bad_arg(fn, "T must not be negative",
				"T is the time from the first purchase to the end of calibration.");
	if (t_x < 0 || t_x > T)
		bad_arg(fn, "t_x must lie between 0 and T",
				"t_x is the time from the first to the last purchase, within the calibration period.");
	if (x == 0 && t_x != 0)
		bad_arg(fn, "t_x must be 0 when x is 0",
				"A customer without repeat purchases has no last repeat purchase.");
	if (T == 0 && x > 0)
		bad_arg(fn, "T must be positive when x is positive", NULL);
	return T == 0;
}

static void
check_time(const char *fn, const char *name, double v)
{
	if (isnan(v) || isinf(v) || v < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: %s must be a finite number >= 0", fn, name)));
}

/* Core status of a prediction: SK_EINVAL here means the model's parameters. */
static void
prediction_status(sk_status st, const char *fn)
{
	if (st == SK_ENOCONV)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s: the hypergeometric series did not converge", fn),
				 errdetail("The horizon is very long compared with alpha + T for this many purchases."),
				 errhint("Use a shorter horizon.")));
	segkpi_check_status(st, fn);
}

/* E[Y(t) | x, t_x, T], new customers included. */
static double
bg_expected(const char *fn, const sk_bgnbd_model *m, double t,
			int32 x, double t_x, double T, bool fresh)
{
	double		v;

	prediction_status(fresh ? sk_bgnbd_expected_new(m, t, &segkpi_interrupt_tick, &v)
					  : sk_bgnbd_expected(m, t, x, t_x, T, &segkpi_interrupt_tick, &v), fn);
	return v;
}

/* ---- BG/NBD predictions --------------------------------------------- */

Datum
segkpi_bgnbd_p_alive(PG_FUNCTION_ARGS)
{
	const sk_bgnbd_model *m = &segkpi_bgnbd_model_arg(PG_GETARG_DATUM(0))->m;
	int32		x = PG_GETARG_INT32(1);
	double		t_x = PG_GETARG_FLOAT8(2);
	double		T = PG_GETARG_FLOAT8(3);
	double		v;

	if (check_customer("bgnbd_p_alive", x, t_x, T))
		PG_RETURN_FLOAT8(1.0);
	prediction_status(sk_bgnbd_p_alive(m, x, t_x, T, &v), "bgnbd_p_alive");
	PG_RETURN_FLOAT8(v);
}

Datum
segkpi_bgnbd_expected(PG_FUNCTION_ARGS)
{
	const sk_bgnbd_model *m = &segkpi_bgnbd_model_arg(PG_GETARG_DATUM(0))->m;
	double		t = PG_GETARG_FLOAT8(1);
	int32		x = PG_GETARG_INT32(2);
	double		t_x = PG_GETARG_FLOAT8(3);
	double		T = PG_GETARG_FLOAT8(4);
	bool		fresh;

	check_time("bgnbd_expected", "t", t);
	fresh = check_customer("bgnbd_expected", x, t_x, T);
	PG_RETURN_FLOAT8(bg_expected("bgnbd_expected", m, t, x, t_x, T, fresh));
}

Datum
segkpi_bgnbd_expected_population(PG_FUNCTION_ARGS)
{
	const sk_bgnbd_model *m = &segkpi_bgnbd_model_arg(PG_GETARG_DATUM(0))->m;
	double		t = PG_GETARG_FLOAT8(1);

	check_time("bgnbd_expected_population", "t", t);
	PG_RETURN_FLOAT8(bg_expected("bgnbd_expected_population", m, t, 0, 0, 0, true));
}

/* ---- Gamma-Gamma ----------------------------------------------------- */

static double
gg_mean(const char *fn, const sk_gg_model *m, int32 x, double zbar)
{
	double		v;
	sk_status	st;

	if (x < 0)
		bad_arg(fn, "x must not be negative", "x counts repeat purchases.");
	if (x > SK_BTYD_MAX_X)
		bad_arg(fn, "x is too large", "x may be at most 1000000.");
	if (isnan(zbar) || isinf(zbar))
		bad_arg(fn, "zbar must be a finite number", NULL);
	if (x > 0 && zbar <= 0)
		bad_arg(fn, "zbar must be positive when x is positive",
				"The Gamma-Gamma model describes positive spend; zbar is the mean value of the repeat purchases.");
	if (x == 0)
		zbar = 0;				/* not used: the population mean applies */
	st = sk_gg_expected_spend(m, x, zbar, &v);
	if (st == SK_EOVERFLOW)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s: the expected spend is infinite for this model", fn),
				 errdetail("The mean (gamma + x zbar) p / (p x + q - 1) needs p x + q > 1; the model has p = %g, q = %g and x is %d.",
						   m->p, m->q, x)));
	segkpi_check_status(st, fn);
	return v;
}

Datum
segkpi_gamma_gamma_mean(PG_FUNCTION_ARGS)
{
	const sk_gg_model *m = &segkpi_gg_model_arg(PG_GETARG_DATUM(0))->m;

	PG_RETURN_FLOAT8(gg_mean("gamma_gamma_mean", m, PG_GETARG_INT32(1),
							 PG_GETARG_FLOAT8(2)));
}

/* ---- CLV -------------------------------------------------------------- */

Datum
segkpi_clv(PG_FUNCTION_ARGS)
{
	const sk_bgnbd_model *bg = &segkpi_bgnbd_model_arg(PG_GETARG_DATUM(0))->m;
	const sk_gg_model *gg = &segkpi_gg_model_arg(PG_GETARG_DATUM(1))->m;
	int32		x = PG_GETARG_INT32(2);
	double		t_x = PG_GETARG_FLOAT8(3);
	double		T = PG_GETARG_FLOAT8(4);
	double		zbar = PG_GETARG_FLOAT8(5);
	double		horizon = PG_GETARG_FLOAT8(6);
	double		rate = PG_GETARG_FLOAT8(7);
	double		step = PG_GETARG_FLOAT8(8);
	double		spend,
				v;
	sk_status	st;

	/* a customer just acquired is T = 0, which the core takes as such */
	(void) check_customer("clv", x, t_x, T);
	check_time("clv", "horizon", horizon);
	if (isnan(step) || isinf(step) || step <= 0)
		bad_arg("clv", "step must be a finite number > 0", NULL);
	if (isnan(rate) || isinf(rate) || rate <= -1)
		bad_arg("clv", "discount_rate must be a finite number > -1",
				"discount_rate is the rate per step: a value v one step ahead is worth v / (1 + discount_rate) now.");
	if (horizon / step > SK_BTYD_CLV_MAX_STEPS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("clv: horizon / step is more than %d steps", SK_BTYD_CLV_MAX_STEPS),
				 errhint("Use a larger step.")));
	spend = gg_mean("clv", gg, x, zbar);
	st = sk_bgnbd_clv(bg, x, t_x, T, spend, horizon, step, rate,
					  SK_BTYD_CLV_MAX_TERMS, &segkpi_interrupt_tick, &v);
	if (st == SK_ELIMIT)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("clv: the prediction needs more than %llu series terms",
						(unsigned long long) SK_BTYD_CLV_MAX_TERMS),
				 errdetail("Each step sums series whose length grows with (r + x) * horizon / (alpha + T); this horizon is very long compared with alpha + T = %g.",
						   bg->alpha + T),
				 errhint("Use a larger step or a shorter horizon.")));
	prediction_status(st, "clv");
	PG_RETURN_FLOAT8(v);
}
