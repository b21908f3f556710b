/*
 * glue.c - small fmgr helpers shared by the server-layer files.
 *
 * Every segkpi type sends its validated text form as its binary form, so
 * there is one decoder per type; and every state function refuses to run
 * outside an aggregate, where in-place updates would not be safe.
 */
#include "postgres.h"

#include <sys/mman.h>

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

/* Below this a huge page cannot fit inside the block anyway. */
#define SEGKPI_HUGE_PAGE	((uintptr_t) 2 * 1024 * 1024)

static void
segkpi_advise_huge(void *p, Size size)
{
#ifdef MADV_HUGEPAGE
	uintptr_t	start = ((uintptr_t) p + SEGKPI_HUGE_PAGE - 1) & ~(SEGKPI_HUGE_PAGE - 1);
	uintptr_t	end = ((uintptr_t) p + size) & ~(SEGKPI_HUGE_PAGE - 1);

	/* a failure only means the hint was not taken */
	if (end > start)
		(void) madvise((void *) start, end - start, MADV_HUGEPAGE);
#endif
}

void *
segkpi_alloc_huge(MemoryContext cxt, Size size)
{
	void	   *p = MemoryContextAllocHuge(cxt, size);

	segkpi_advise_huge(p, size);
	return p;
}

void *
segkpi_realloc_huge(void *p, Size size)
{
	p = repalloc_huge(p, size);
	segkpi_advise_huge(p, size);
	return p;
}
