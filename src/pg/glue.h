/*
 * glue.h - small fmgr helpers shared by the server-layer files.
 */
#ifndef SEGKPI_GLUE_H
#define SEGKPI_GLUE_H

#include "postgres.h"

#include "fmgr.h"

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

#endif							/* SEGKPI_GLUE_H */
