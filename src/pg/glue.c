/*
 * glue.c - small fmgr helpers shared by the server-layer files.
 *
 * Every segkpi type sends its validated text form as its binary form, so
 * there is one decoder per type; and every state function refuses to run
 * outside an aggregate, where in-place updates would not be safe.
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq/pqformat.h"

#include "glue.h"

void
segkpi_require_agg_context(FunctionCallInfo fcinfo, const char *fname)
{
	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s can only be called as part of an aggregate", fname)));
}

bytea *
segkpi_send_text(const char *text, size_t len)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, text, len);
	return pq_endtypsend(&buf);
}
