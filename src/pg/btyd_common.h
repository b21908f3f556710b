/*
 * btyd_common.h - what the BG/NBD and Gamma-Gamma files of the server layer
 * share: the stored form of the two model types, and the column positions
 * of the composite types declared in sql/segkpi--*.sql (keep them in step).
 */
#ifndef SEGKPI_BTYD_COMMON_H
#define SEGKPI_BTYD_COMMON_H

#include "postgres.h"

#include "pg_compat.h"

#include "access/tupdesc.h"
#include "fmgr.h"

#include "btyd.h"

/*
 * segkpi.bgnbd_model and segkpi.gamma_gamma_model are varlenas holding a
 * format version and the core struct.  Only our input functions (which
 * validate through the core decoder) and our fit aggregates create them.
 * The binary send/receive form is the core's text form, so nothing
 * platform-specific ever leaves the server.
 */
#define BTYD_MODEL_VERSION 1

typedef struct BgnbdModel
{
	int32		vl_len_;
	int32		version;
	sk_bgnbd_model m;
} BgnbdModel;

typedef struct GgModel
{
	int32		vl_len_;
	int32		version;
	sk_gg_model m;
} GgModel;

/* segkpi.btyd_summary */
#define BTYD_SUMMARY_X		0
#define BTYD_SUMMARY_TX		1
#define BTYD_SUMMARY_T		2
#define BTYD_SUMMARY_ZBAR	3
#define BTYD_SUMMARY_NATTS	4

/* Model datums, checked for our version and size (22000 otherwise). */
BgnbdModel *segkpi_bgnbd_model_arg(Datum d);
GgModel    *segkpi_gg_model_arg(Datum d);

/* A new model value holding m. */
BgnbdModel *segkpi_bgnbd_model_make(const sk_bgnbd_model *m);
GgModel    *segkpi_gg_model_make(const sk_gg_model *m);

/* A blessed copy of the function's composite result type, cached in flinfo. */
TupleDesc	segkpi_result_desc(FunctionCallInfo fcinfo);

#endif							/* SEGKPI_BTYD_COMMON_H */
