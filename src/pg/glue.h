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

/* A binary send result carrying len bytes of text (our types send their text form). */
bytea	   *segkpi_send_text(const char *text, size_t len);

/* The same for a NUL-terminated text. */
static inline bytea *
segkpi_send_text_cstring(const char *text)
{
	return segkpi_send_text(text, strlen(text));
}

/*
 * MemoryContextAllocHuge / repalloc_huge for large scratch blocks (rows of
 * a fit, its workspace), with a hint that the kernel may back them with
 * transparent huge pages where they are enabled on request (madvise).
 * Touching fresh memory 4 kB at a time costs more than the arithmetic of
 * a fit on many machines, virtual ones especially.  Only a hint: the
 * memory belongs to the memory context like any other.
 */
void	   *segkpi_alloc_huge(MemoryContext cxt, Size size);
void	   *segkpi_realloc_huge(void *p, Size size);

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
