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
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/tuplestore.h"

#include "glue.h"

void
segkpi_require_agg_context(FunctionCallInfo fcinfo, const char *fname)
{
	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s can only be called as part of an aggregate", fname)));
}

/*
 * What InitMaterializedSRF does, minus its garbage: that resolves the
 * result type with get_call_result_type in per-query memory, and for a
 * polymorphic RETURNS TABLE function the lookup leaves about 1.5 kB there
 * on every call, which a rescanned call piles up for the whole query.
 * Here the type is resolved in the caller's short-lived context and only
 * the two things the executor frees itself (the tuplestore at a rescan or
 * the end, the descriptor copy after the call) go to per-query memory.
 */
void
segkpi_materialize(FunctionCallInfo fcinfo, const char *fname)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	desc;
	MemoryContext old;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s: called in a context that cannot accept a set", fname)));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "%s: the result type is not composite", fname);
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setDesc = CreateTupleDescCopy(desc);
	rsinfo->setResult = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0,
											  false, work_mem);
	MemoryContextSwitchTo(old);
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

static void
segkpi_map_callback(void *arg)
{
	segkpi_map_release((SegkpiMap *) arg);
}

void
segkpi_map_attach(SegkpiMap *m, MemoryContext cxt)
{
	m->p = NULL;
	m->len = 0;
	m->cb.func = segkpi_map_callback;
	m->cb.arg = m;
	MemoryContextRegisterResetCallback(cxt, &m->cb);
}

void *
segkpi_map_resize(SegkpiMap *m, Size size, Size keep)
{
	Size		len = (size + SEGKPI_HUGE_PAGE - 1) & ~(SEGKPI_HUGE_PAGE - 1);
	char	   *raw;
	char	   *p;
	Size		lead;

	Assert(keep <= size && keep <= m->len);
	if (len < size || len > SIZE_MAX - SEGKPI_HUGE_PAGE)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed on request of size %zu.", size)));
	/* over-map by one huge page, then trim to an aligned start */
	raw = mmap(NULL, len + SEGKPI_HUGE_PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed on request of size %zu.", size)));
	p = (char *) (((uintptr_t) raw + SEGKPI_HUGE_PAGE - 1) & ~(SEGKPI_HUGE_PAGE - 1));
	lead = p - raw;
	if (lead > 0)
		(void) munmap(raw, lead);
	if (SEGKPI_HUGE_PAGE - lead > 0)
		(void) munmap(p + len, SEGKPI_HUGE_PAGE - lead);
#ifdef MADV_HUGEPAGE
	(void) madvise(p, len, MADV_HUGEPAGE);
#endif
	if (keep > 0)
		memcpy(p, m->p, keep);
	segkpi_map_release(m);
	m->p = p;
	m->len = len;
	return p;
}

void
segkpi_map_release(SegkpiMap *m)
{
	if (m->p != NULL)
		(void) munmap(m->p, m->len);
	m->p = NULL;
	m->len = 0;
}

bool
segkpi_decimal(const char *fname, const char *what, Datum d, sk_dec *out)
{
	struct varlena *v = PG_DETOAST_DATUM_PACKED(d);
	sk_numkind	kind;
	sk_status	rc;

	rc = sk_numeric_decode((const unsigned char *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v),
						   &kind, out);
	if (rc == SK_EDATA)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%s: %s is not a valid numeric value", fname, what)));
	if (rc == SK_OK && kind != SK_NUM_FINITE)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s: %s must be finite", fname, what),
				 errdetail("The %s is %s.", what,
						   kind == SK_NUM_NAN ? "NaN" :
						   kind == SK_NUM_PINF ? "Infinity" : "-Infinity")));
	return rc == SK_OK;
}

static void
receiver_startup(DestReceiver *self, int operation, TupleDesc desc)
{
	(void) self;
	(void) operation;
	(void) desc;
}

static void
receiver_noop(DestReceiver *self)
{
	(void) self;
}

void
segkpi_receiver_init(DestReceiver *r, bool (*receive) (TupleTableSlot *slot, DestReceiver *self))
{
	r->receiveSlot = receive;
	r->rStartup = receiver_startup;
	r->rShutdown = receiver_noop;
	r->rDestroy = receiver_noop;
	r->mydest = DestNone;
}
