/*
 * rfm_common.h - what the RFM files of the server layer share: the column
 * positions of the composite types declared in sql/segkpi--*.sql (keep
 * them in step) and numeric conversion.
 */
#ifndef SEGKPI_RFM_COMMON_H
#define SEGKPI_RFM_COMMON_H

#include "postgres.h"

#include "utils/numeric.h"

#include "numdec.h"

/* segkpi.rfm_stats */
#define RFM_STATS_FIRST		0
#define RFM_STATS_LAST		1
#define RFM_STATS_ORDERS	2
#define RFM_STATS_REFUNDS	3
#define RFM_STATS_MONETARY	4
#define RFM_STATS_NATTS		5

/* segkpi.rfm_result */
#define RFM_RESULT_RECENCY		0
#define RFM_RESULT_FREQUENCY	1
#define RFM_RESULT_MONETARY		2
#define RFM_RESULT_R			3
#define RFM_RESULT_F			4
#define RFM_RESULT_M			5
#define RFM_RESULT_SEGMENT		6
#define RFM_RESULT_NATTS		7

/* Exact conversion of a scaled decimal to numeric (dscale = d.scale). */
Numeric		segkpi_dec_to_numeric(sk_dec d);

#endif							/* SEGKPI_RFM_COMMON_H */
