/*
 * btyd_fit.c - the aggregates segkpi.bgnbd_fit and segkpi.gamma_gamma_fit
 * and their state types segkpi.bgnbd_fit_state and
 * segkpi.gamma_gamma_fit_state.
 *
 * A fit needs every customer at once (the optimiser passes over the data
 * many times), so the state collects the rows.  It collects them
 * compressed: identical rows are kept once with a count (their weight in
 * the core fit), which is exact, since the likelihood is a sum over rows.
 * Customers summarised in calendar days have few distinct (x, t_x, T), so
 * a million customers typically become tens of thousands of rows.
 *
 * Layout: one flat varlena, so that the state is an ordinary type with
 * text I/O (Citus, postgres_fdw) and can be updated in place under
 * AggCheckCallContext.  After the fixed header come `cap` rows of four
 * doubles (x, v1, v2, weight) and then an open-addressing hash index of
 * `nslots` int32 (0 = empty, else row number + 1; nslots is a power of
 * two >= 2 cap).  Gamma-Gamma rows are (x, zbar, 0, weight).  The index
 * holds positions, not pointers, so the value stays valid when nodeAgg
 * copies it.  When the rows fill up, a state twice the size is built and
 * returned; nodeAgg copies it into the aggregate context and frees the old
 * one (ExecAggTransReparent), so growth costs amortised O(1) per row.
 *
 * Invariants (checked on text input): rows are distinct, each passes the
 * core's row check, weights are finite and > 0, nrows <= cap.
 *
 * Memory: a state larger than work_mem is an error that names work_mem
 * (a fit cannot stream: BFGS revisits every row on every iteration).
 */
#include "postgres.h"

#include <math.h>
#include <stdlib.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "btyd_common.h"
#include "glue.h"
#include "status.h"

PG_FUNCTION_INFO_V1(segkpi_bgnbd_fit_state_in);
PG_FUNCTION_INFO_V1(segkpi_bgnbd_fit_state_out);
PG_FUNCTION_INFO_V1(segkpi_bgnbd_fit_state_recv);
PG_FUNCTION_INFO_V1(segkpi_bgnbd_fit_state_send);
PG_FUNCTION_INFO_V1(segkpi_gamma_gamma_fit_state_in);
PG_FUNCTION_INFO_V1(segkpi_gamma_gamma_fit_state_out);
PG_FUNCTION_INFO_V1(segkpi_gamma_gamma_fit_state_recv);
PG_FUNCTION_INFO_V1(segkpi_gamma_gamma_fit_state_send);
PG_FUNCTION_INFO_V1(segkpi_bgnbd_fit_sfunc);
PG_FUNCTION_INFO_V1(segkpi_gamma_gamma_fit_sfunc);
PG_FUNCTION_INFO_V1(segkpi_btyd_fit_combine);
PG_FUNCTION_INFO_V1(segkpi_bgnbd_fit_final);
PG_FUNCTION_INFO_V1(segkpi_gamma_gamma_fit_final);

#define FIT_VERSION		1
#define KIND_BGNBD		1
#define KIND_GG			2
#define MIN_CAP			16

typedef struct FitState
{
	int32		vl_len_;
	int16		version;
	int16		kind;			/* KIND_BGNBD or KIND_GG */
	int32		nrows;			/* distinct rows stored */
	int32		cap;			/* room for rows */
	int32		nslots;			/* hash slots, power of two >= 2 cap */
	int32		pad;
	double		skipped;		/* weight of rows that carry no information */
	/* double rows[cap][4]; int32 slots[nslots]; */
} FitState;

#define FIT_ROWS(s) ((double *) ((char *) (s) + MAXALIGN(sizeof(FitState))))
#define FIT_SLOTS(s) ((int32 *) (FIT_ROWS(s) + 4 * (Size) (s)->cap))

static const char *
kind_tag(int kind)
{
	return kind == KIND_BGNBD ? "bgnbd_rows/1" : "gammagamma_rows/1";
}

static const char *
kind_type(int kind)
{
	return kind == KIND_BGNBD ? "segkpi.bgnbd_fit_state" : "segkpi.gamma_gamma_fit_state";
}

static const char *
kind_agg(int kind)
{
	return kind == KIND_BGNBD ? "bgnbd_fit" : "gamma_gamma_fit";
}

/* Bytes of a state with room for cap rows; errors past work_mem. */
static Size
fit_state_bytes(int kind, int64 cap)
{
	int64		bytes = MAXALIGN(sizeof(FitState)) + cap * (4 * sizeof(double) + 2 * sizeof(int32));

	if (cap > (int64) (MaxAllocSize / 64) || bytes > (int64) work_mem * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: the distinct customer rows do not fit in work_mem", kind_agg(kind)),
				 errdetail("Room for %lld distinct rows needs %lld kB; work_mem is %d kB.",
						   (long long) cap, (long long) ((bytes + 1023) / 1024), work_mem),
				 errhint("Raise work_mem for this query (SET work_mem = ...), or fit on fewer distinct rows.")));
	return (Size) bytes;
}

static FitState *
fit_state_new(int kind, int32 cap)
{
	Size		bytes = fit_state_bytes(kind, cap);
	FitState   *s = (FitState *) palloc0(bytes);

	SET_VARSIZE(s, bytes);
	s->version = FIT_VERSION;
	s->kind = kind;
	s->cap = cap;
	s->nslots = 2 * cap;
	return s;
}

static uint32
row_hash(const double *key)
{
	return hash_bytes((const unsigned char *) key, 3 * sizeof(double));
}

/*
 * Add weight w to row key (3 doubles, -0 normalised by the caller).
 * Returns false when the row is new and there is no room.
 */
static bool
fit_state_add(FitState *s, const double *key, double w)
{
	double	   *rows = FIT_ROWS(s);
	int32	   *slots = FIT_SLOTS(s);
	uint32		mask = (uint32) s->nslots - 1;
	uint32		h = row_hash(key) & mask;
	double	   *r;

	for (;;)
	{
		int32		idx = slots[h];

		if (idx == 0)
			break;
		r = rows + 4 * (Size) (idx - 1);
		if (memcmp(r, key, 3 * sizeof(double)) == 0)
		{
			r[3] += w;
			return true;
		}
		h = (h + 1) & mask;
	}
	if (s->nrows >= s->cap)
		return false;
	r = rows + 4 * (Size) s->nrows;
	memcpy(r, key, 3 * sizeof(double));
	r[3] = w;
	slots[h] = ++s->nrows;
	return true;
}

/* A copy of s with room for at least need rows. */
static FitState *
fit_state_grow(const FitState *s, int64 need)
{
	int64		cap = Max(s->cap, MIN_CAP);
	FitState   *n;
	const double *rows = FIT_ROWS(s);
	int32		i;

	while (cap < need)
		cap *= 2;
	if (cap > PG_INT32_MAX / 4)
		fit_state_bytes(s->kind, PG_INT64_MAX / 64);	/* errors */
	n = fit_state_new(s->kind, (int32) cap);
	n->skipped = s->skipped;
	for (i = 0; i < s->nrows; i++)
		(void) fit_state_add(n, rows + 4 * (Size) i, rows[4 * (Size) i + 3]);
	return n;
}

/* Row checks shared by the transition function and text input. */
static void
check_bg_row(double x, double t_x, double T)
{
	if (sk_bgnbd_check_row(x, t_x, T) == SK_OK)
		return;
	if (x < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("bgnbd_fit: x must not be negative"),
				 errdetail("A row has x = %.0f.", x)));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("bgnbd_fit: invalid customer row (x = %.0f, t_x = %g, T = %g)", x, t_x, T),
			 errdetail("Every row needs finite values, x a whole number in 0..1000000, 0 <= t_x <= T, T > 0 and t_x = 0 when x = 0 (T = 0 is allowed only with x = 0).")));
}

static void
check_gg_row(double x, double zbar)
{
	if (sk_gg_check_row(x, zbar) == SK_OK)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("gamma_gamma_fit: invalid customer row (x = %.0f, zbar = %g)", x, zbar),
			 errdetail("Every row needs x a whole number in 0..1000000 and zbar finite, with zbar > 0 when x > 0 (the model describes positive spend) and zbar >= 0 when x = 0.")));
}

/* Checks a row; returns false for a row that carries no information. */
static bool
fit_row_key(int kind, double x, double v1, double v2, double *key)
{
	if (kind == KIND_BGNBD)
	{
		/* x = 0, t_x = 0, T = 0: likelihood 1 for every parameter value */
		if (x == 0 && v1 == 0 && v2 == 0)
			return false;
		check_bg_row(x, v1, v2);
	}
	else
	{
		check_gg_row(x, v1);
		if (x == 0)
			return false;
		v2 = 0;
	}
	key[0] = x + 0.0;
	key[1] = v1 + 0.0;			/* -0 becomes +0, so equal rows hash equal */
	key[2] = v2 + 0.0;
	return true;
}

/* Adds a row of weight w to s, returning s or its grown replacement. */
static FitState *
fit_state_put(FitState *s, double x, double v1, double v2, double w)
{
	double		key[3];

	if (!fit_row_key(s->kind, x, v1, v2, key))
	{
		s->skipped += w;
		return s;
	}
	if (!fit_state_add(s, key, w))
	{
		s = fit_state_grow(s, (int64) s->nrows + 1);
		(void) fit_state_add(s, key, w);
	}
	return s;
}

/* ---- text and binary I/O ------------------------------------------- */

/*
 * Text form: the tag, " skipped=W" and one " x,v1,v2,w" per row, numbers
 * as %.17g (an exact round trip).  Gamma-Gamma rows are " x,zbar,w".
 */
static char *
fit_state_to_text(const FitState *s)
{
	StringInfoData buf;
	const double *rows = FIT_ROWS(s);
	int32		i;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s skipped=%.17g", kind_tag(s->kind), s->skipped);
	for (i = 0; i < s->nrows; i++)
	{
		const double *r = rows + 4 * (Size) i;

		if (s->kind == KIND_BGNBD)
			appendStringInfo(&buf, " %.17g,%.17g,%.17g,%.17g", r[0], r[1], r[2], r[3]);
		else
			appendStringInfo(&buf, " %.17g,%.17g,%.17g", r[0], r[1], r[3]);
	}
	return buf.data;
}

/* A plain decimal number ending at a char in `ends` (or the end). */
static bool
parse_number(const char **p, const char *end, const char *ends, double *out)
{
	const char *q = *p;
	char		tmp[64];
	char	   *e;
	size_t		n;

	while (q < end && strchr(ends, *q) == NULL)
	{
		if (!((*q >= '0' && *q <= '9') || *q == '.' || *q == '-' ||
			  *q == 'e' || *q == 'E' || *q == '+'))
			return false;
		q++;
	}
	n = q - *p;
	if (n == 0 || n >= sizeof(tmp) || **p == '+')
		return false;
	memcpy(tmp, *p, n);
	tmp[n] = '\0';
	errno = 0;
	*out = strtod(tmp, &e);
	if (e != tmp + n || !isfinite(*out))
		return false;
	*p = q;
	return true;
}

static FitState *
fit_state_from_text(int kind, const char *str, size_t len)
{
	const char *p = str,
			   *end = str + len;
	const char *tag = kind_tag(kind);
	size_t		taglen = strlen(tag);
	int			ncol = kind == KIND_BGNBD ? 4 : 3;
	FitState   *s = fit_state_new(kind, MIN_CAP);
	double		skipped;
	bool		ok = false;

	if (len < taglen + 9 || memcmp(p, tag, taglen) != 0 ||
		memcmp(p + taglen, " skipped=", 9) != 0)
		goto fail;
	p += taglen + 9;
	if (!parse_number(&p, end, " ", &skipped) || skipped < 0)
		goto fail;
	s->skipped = skipped;
	while (p < end)
	{
		double		v[4] = {0, 0, 0, 0};
		double		key[3];
		int			c;

		if (*p++ != ' ')
			goto fail;
		for (c = 0; c < ncol; c++)
		{
			if (c > 0 && (p >= end || *p++ != ','))
				goto fail;
			if (!parse_number(&p, end, ", ", &v[c]))
				goto fail;
		}
		if (kind == KIND_GG)
		{
			v[3] = v[2];
			v[2] = 0;
		}
		if (!(v[3] > 0) ||
			(kind == KIND_BGNBD ? sk_bgnbd_check_row(v[0], v[1], v[2])
			 : sk_gg_check_row(v[0], v[1])) != SK_OK ||
			!fit_row_key(kind, v[0], v[1], v[2], key))
			goto fail;
		/* a stored state never repeats a row */
		if (!fit_state_add(s, key, 0.0))
			s = fit_state_grow(s, (int64) s->nrows + 1), (void) fit_state_add(s, key, 0.0);
		if (FIT_ROWS(s)[4 * (Size) (s->nrows - 1) + 3] != 0.0 ||
			memcmp(FIT_ROWS(s) + 4 * (Size) (s->nrows - 1), key, sizeof(key)) != 0)
			goto fail;
		FIT_ROWS(s)[4 * (Size) (s->nrows - 1) + 3] = v[3];
	}
	ok = true;
fail:
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s: \"%s\"", kind_type(kind),
						pnstrdup(str, Min(len, 200))),
				 errdetail(kind == KIND_BGNBD
						   ? "Expected \"bgnbd_rows/1 skipped=W\" followed by distinct rows \" x,t_x,T,weight\" that bgnbd_fit accepts, with weights > 0."
						   : "Expected \"gammagamma_rows/1 skipped=W\" followed by distinct rows \" x,zbar,weight\" with x > 0, zbar > 0 and weights > 0.")));
	return s;
}

static FitState *
fit_state_arg(Datum d, int kind)
{
	FitState   *s = (FitState *) PG_DETOAST_DATUM(d);

	if (s->version != FIT_VERSION || s->kind != kind || s->cap < 0 ||
		s->nrows < 0 || s->nrows > s->cap || s->nslots != 2 * s->cap ||
		VARSIZE(s) != MAXALIGN(sizeof(FitState)) + (Size) s->cap * (4 * sizeof(double) + 2 * sizeof(int32)))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored value of type %s is not valid", kind_type(kind))));
	return s;
}


#define FIT_IO(name, kind) \
Datum \
segkpi_##name##_fit_state_in(PG_FUNCTION_ARGS) \
{ \
	char	   *str = PG_GETARG_CSTRING(0); \
	PG_RETURN_POINTER(fit_state_from_text(kind, str, strlen(str))); \
} \
Datum \
segkpi_##name##_fit_state_out(PG_FUNCTION_ARGS) \
{ \
	PG_RETURN_CSTRING(fit_state_to_text(fit_state_arg(PG_GETARG_DATUM(0), kind))); \
} \
Datum \
segkpi_##name##_fit_state_recv(PG_FUNCTION_ARGS) \
{ \
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0); \
	int			nbytes = buf->len - buf->cursor; \
	PG_RETURN_POINTER(fit_state_from_text(kind, pq_getmsgbytes(buf, nbytes), nbytes)); \
} \
Datum \
segkpi_##name##_fit_state_send(PG_FUNCTION_ARGS) \
{ \
	PG_RETURN_BYTEA_P(segkpi_send_text_cstring(fit_state_to_text(fit_state_arg(PG_GETARG_DATUM(0), kind)))); \
}

FIT_IO(bgnbd, KIND_BGNBD)
FIT_IO(gamma_gamma, KIND_GG)

/* ---- aggregate ------------------------------------------------------ */


static double
float_arg(FunctionCallInfo fcinfo, int i, const char *agg, const char *name)
{
	double		v = PG_GETARG_FLOAT8(i);

	if (isnan(v) || isinf(v))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: %s must be a finite number", agg, name),
				 errdetail("A row has %s = %g.", name, v)));
	return v;
}

Datum
segkpi_bgnbd_fit_sfunc(PG_FUNCTION_ARGS)
{
	FitState   *s;

	segkpi_require_agg_context(fcinfo, "bgnbd_fit_sfunc");
	s = PG_ARGISNULL(0) ? NULL : fit_state_arg(PG_GETARG_DATUM(0), KIND_BGNBD);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s);
	}
	if (s == NULL)
		s = fit_state_new(KIND_BGNBD, MIN_CAP);
	PG_RETURN_POINTER(fit_state_put(s, PG_GETARG_INT32(1),
									float_arg(fcinfo, 2, "bgnbd_fit", "t_x"),
									float_arg(fcinfo, 3, "bgnbd_fit", "T"), 1.0));
}

Datum
segkpi_gamma_gamma_fit_sfunc(PG_FUNCTION_ARGS)
{
	FitState   *s;

	segkpi_require_agg_context(fcinfo, "gamma_gamma_fit_sfunc");
	s = PG_ARGISNULL(0) ? NULL : fit_state_arg(PG_GETARG_DATUM(0), KIND_GG);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s);
	}
	if (s == NULL)
		s = fit_state_new(KIND_GG, MIN_CAP);
	PG_RETURN_POINTER(fit_state_put(s, PG_GETARG_INT32(1),
									float_arg(fcinfo, 2, "gamma_gamma_fit", "zbar"),
									0.0, 1.0));
}

/* One combine function serves both kinds; the states say which. */
Datum
segkpi_btyd_fit_combine(PG_FUNCTION_ARGS)
{
	FitState   *a,
			   *b;
	const double *rows;
	int32		i;

	segkpi_require_agg_context(fcinfo, "btyd_fit_combine");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = (FitState *) PG_DETOAST_DATUM(PG_GETARG_DATUM(1));
	b = fit_state_arg(PointerGetDatum(b), b->kind == KIND_GG ? KIND_GG : KIND_BGNBD);
	/* nodeAgg copies a returned value that is not its first argument */
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(b);
	a = fit_state_arg(PG_GETARG_DATUM(0), b->kind);
	if (a->cap - a->nrows < b->nrows)
		a = fit_state_grow(a, (int64) a->nrows + b->nrows);
	a->skipped += b->skipped;
	rows = FIT_ROWS(b);
	for (i = 0; i < b->nrows; i++)
	{
		(void) fit_state_add(a, rows + 4 * (Size) i, rows[4 * (Size) i + 3]);
		if ((i & 4095) == 4095)
			CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_POINTER(a);
}

/* Errors for data a fit cannot use (the core said SK_EDATA). */
static void
no_fit(int kind, const FitState *s, double xmax)
{
	const char *agg = kind_agg(kind);

	if (s->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg(kind == KIND_BGNBD ? "%s: no customer has T > 0"
						: "%s: no customer has a repeat purchase (x > 0)", agg),
				 errdetail(kind == KIND_BGNBD
						   ? "Customers first seen at the end of calibration (T = 0) tell nothing about purchase rates."
						   : "The Gamma-Gamma model is fitted to the mean spend of repeat purchases; without any, it is undefined.")));
	if (kind == KIND_BGNBD && xmax == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: no customer has a repeat purchase (x > 0)", agg),
				 errdetail("Without repeat purchases the purchase rate and the dropout probability cannot be estimated.")));
	if (s->nrows < 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: needs at least two distinct customer rows", agg),
				 errdetail("The parameters are not identified from one customer, or from customers that are all alike.")));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("%s: the data cannot be fitted", agg)));
}

/*
 * Rows in a fixed order (x, then v1, then v2), so that the sums inside the
 * fit, and so the estimate to the last bit, do not depend on the order in
 * which rows arrived or partial states were combined.
 */
static int
row_cmp(const void *pa, const void *pb)
{
	const double *a = (const double *) pa;
	const double *b = (const double *) pb;
	int			i;

	for (i = 0; i < 3; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
}

/* Runs the core fit over the state's rows; fills bg or gg. */
static void
fit_run(FitState *s, sk_bgnbd_model *bg, sk_gg_model *gg)
{
	int			kind = s->kind;
	Size		n = s->nrows;
	double	   *rows = palloc(n * 4 * sizeof(double) + 1);
	double	   *x = palloc(n * sizeof(double) + 1);
	double	   *v1 = palloc(n * sizeof(double) + 1);
	double	   *v2 = palloc(n * sizeof(double) + 1);
	double	   *w = palloc(n * sizeof(double) + 1);
	double		xmax = 0;
	size_t		ws_bytes;
	void	   *ws;
	Size		i;
	sk_status	st;
	int			iters,
				conv;
	double		ll;

	/* sorted on a copy: the final function leaves the state as it was */
	memcpy(rows, FIT_ROWS(s), n * 4 * sizeof(double));
	qsort(rows, n, 4 * sizeof(double), row_cmp);
	for (i = 0; i < n; i++)
	{
		x[i] = rows[4 * i];
		v1[i] = rows[4 * i + 1];
		v2[i] = rows[4 * i + 2];
		w[i] = rows[4 * i + 3];
		xmax = Max(xmax, x[i]);
	}
	if (n == 0 || (kind == KIND_BGNBD && xmax == 0))
		no_fit(kind, s, xmax);
	st = kind == KIND_BGNBD ? sk_bgnbd_fit_size(xmax, &ws_bytes) : sk_gg_fit_size(xmax, &ws_bytes);
	segkpi_check_status(st, kind_agg(kind));
	ws = palloc(ws_bytes);
	if (kind == KIND_BGNBD)
		st = sk_bgnbd_fit(x, v1, v2, w, n, ws, ws_bytes, NULL, &segkpi_interrupt_tick, bg);
	else
		st = sk_gg_fit(x, v1, w, n, ws, ws_bytes, NULL, &segkpi_interrupt_tick, gg);
	if (st == SK_EDATA)
		no_fit(kind, s, xmax);
	if (st != SK_OK && st != SK_ENOCONV)
		segkpi_check_status(st, kind_agg(kind));
	iters = kind == KIND_BGNBD ? bg->iterations : gg->iterations;
	conv = kind == KIND_BGNBD ? bg->converged : gg->converged;
	ll = kind == KIND_BGNBD ? bg->loglik : gg->loglik;
	if (st == SK_ENOCONV || !conv)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("%s did not converge", kind_agg(kind)),
				 errdetail("The model holds the best parameters found after %d iterations (log-likelihood %g) and converged = false.",
						   iters, ll),
				 errhint(kind == KIND_BGNBD
						 ? "This happens when the data show no sign of dropout, or too little variation between customers; check the data before using the model."
						 : "This happens when spend hardly varies between customers; check the data before using the model.")));
	pfree(ws);
}

Datum
segkpi_bgnbd_fit_final(PG_FUNCTION_ARGS)
{
	sk_bgnbd_model m;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	fit_run(fit_state_arg(PG_GETARG_DATUM(0), KIND_BGNBD), &m, NULL);
	PG_RETURN_POINTER(segkpi_bgnbd_model_make(&m));
}

Datum
segkpi_gamma_gamma_fit_final(PG_FUNCTION_ARGS)
{
	sk_gg_model m;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	fit_run(fit_state_arg(PG_GETARG_DATUM(0), KIND_GG), NULL, &m);
	PG_RETURN_POINTER(segkpi_gg_model_make(&m));
}
