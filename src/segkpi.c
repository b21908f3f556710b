/*
 * segkpi.c - module entry point: PG_MODULE_MAGIC and _PG_init, nothing else.
 *
 * segkpi keeps no session state in static variables; every setting lives
 * in the GUC machinery (so parallel workers and RESET see it) and every
 * per-query cache hangs off fn_extra in a query-lifetime memory context.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	/* No settings yet; reserve the prefix so typos are reported. */
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("segkpi");
#else
	EmitWarningsOnPlaceholders("segkpi");
#endif
}
