/*
 * glue.h - small fmgr helpers shared by the server-layer files.
 */
#ifndef SEGKPI_GLUE_H
#define SEGKPI_GLUE_H

#include "postgres.h"

#include "fmgr.h"
#include "tcop/dest.h"

#include "numdec.h"

/* ERROR (0A000) unless called as an aggregate's support function. */
void		segkpi_require_agg_context(FunctionCallInfo fcinfo, const char *fname);

/*
 * Set up a materialising SRF's result (rsinfo->setResult, setDesc) as
 * InitMaterializedSRF(fcinfo, 0) does, without leaving anything else in
 * per-query memory: a call rescanned many times in one query stays flat.
 */
void		segkpi_materialize(FunctionCallInfo fcinfo, const char *fname);

/* A binary send result carrying len bytes of text (our types send their text form). */
bytea	   *segkpi_send_text(const char *text, size_t len);

/* The same for a NUL-terminated text. */
static inline bytea *
segkpi_send_text_cstring(const char *text)
{
	return segkpi_send_text(text, strlen(text));
}

/*
 * MemoryContextAllocHuge for large scratch blocks (the records of a pass
 * over a relation), with a hint that the kernel may back them with
 * transparent huge pages where they are enabled on request (madvise).
 * Touching fresh memory 4 kB at a time costs more than the arithmetic of
 * a pass on many machines, virtual ones especially.  Only a hint: the
 * memory belongs to the memory context like any other.
 */
void	   *segkpi_alloc_huge(MemoryContext cxt, Size size);

/*
 * One large array in its own mapping, aligned to 2 MB and advised for
 * huge pages, so that a fresh backend faults it in 2 MB at a time (palloc
 * would hand it out at an arbitrary address, from memory that is faulted
 * 4 kB at a time at first touch).  The mapping is released by
 * segkpi_map_release, or when the memory context it was attached to is
 * reset or deleted (errors included); the SegkpiMap itself must live in
 * that context or a longer-lived one.
 */
typedef struct SegkpiMap
{
	char	   *p;				/* NULL when nothing is mapped */
	Size		len;			/* bytes mapped */
	MemoryContextCallback cb;
} SegkpiMap;

void		segkpi_map_attach(SegkpiMap *m, MemoryContext cxt);

/*
 * Map size bytes, carry over the first keep bytes of the old mapping and
 * unmap it; returns the new address.  ERROR (53200) when the kernel
 * refuses.
 */
void	   *segkpi_map_resize(SegkpiMap *m, Size size, Size keep);
void		segkpi_map_release(SegkpiMap *m);

/*
 * A numeric Datum as an exact decimal.  ERROR for bytes that are not a
 * numeric (XX001) and for NaN or +-Infinity (22000); the messages start
 * with "fname: what".  False when the value has more than 38 significant
 * digits (the caller decides what that means).
 */
bool		segkpi_decimal(const char *fname, const char *what, Datum d, sk_dec *out);

/*
 * A DestReceiver that hands each row to receive and needs no set-up or
 * clean-up (the in-memory passes over a relation).
 */
void		segkpi_receiver_init(DestReceiver *r,
								 bool (*receive) (TupleTableSlot *slot, DestReceiver *self));

#endif							/* SEGKPI_GLUE_H */
