/*
 * status.c - maps core status codes to SQLSTATEs, in exactly one place.
 *
 * Callers with a more specific message raise it themselves and use this
 * only for the generic cases; the SQLSTATE for a status is the same
 * everywhere either way.
 */
#include "postgres.h"

#include "miscadmin.h"

#include "status.h"

int
segkpi_status_sqlstate(sk_status st)
{
	switch (st)
	{
		case SK_OK:
			return ERRCODE_SUCCESSFUL_COMPLETION;
		case SK_EINVAL:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case SK_EDATA:
			return ERRCODE_DATA_EXCEPTION;
		case SK_EOVERFLOW:
			return ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
		case SK_ELIMIT:
			return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		case SK_ECANCEL:
			return ERRCODE_QUERY_CANCELED;
		case SK_ENOCONV:
			return ERRCODE_DATA_EXCEPTION;
	}
	return ERRCODE_INTERNAL_ERROR;
}

static const char *
status_text(sk_status st)
{
	switch (st)
	{
		case SK_OK:
			return "success";
		case SK_EINVAL:
			return "invalid argument";
		case SK_EDATA:
			return "invalid input data";
		case SK_EOVERFLOW:
			return "value out of range";
		case SK_ELIMIT:
			return "size limit exceeded";
		case SK_ECANCEL:
			return "canceled";
		case SK_ENOCONV:
			return "did not converge";
	}
	return "unknown status";
}

void
segkpi_check_status(sk_status st, const char *what)
{
	if (st == SK_OK)
		return;
	ereport(ERROR,
			(errcode(segkpi_status_sqlstate(st)),
			 errmsg("%s: %s", what, status_text(st))));
}

static int
interrupt_tick_fn(void *arg)
{
	(void) arg;
	CHECK_FOR_INTERRUPTS();
	return 0;
}

const sk_tick segkpi_interrupt_tick = {interrupt_tick_fn, NULL};
