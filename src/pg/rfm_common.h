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

/*
 * Segment names of one ruleset of segkpi.rfm_rules, as a table over the
 * 5 x 5 x 5 scores (the first rule covering a cell names it; NULL: none).
 */
#define RFM_SEGMENT_BINS 5

typedef struct RfmRules
{
	char	   *ruleset;		/* NULL until loaded */
	text	   *cell[RFM_SEGMENT_BINS][RFM_SEGMENT_BINS][RFM_SEGMENT_BINS];
} RfmRules;

/*
 * Load ruleset into rules (names allocated in cxt) unless it is the one
 * already there.  Runs a query through SPI; 22023 when it does not exist.
 */
void		segkpi_rfm_rules_load(RfmRules *rules, MemoryContext cxt, const char *ruleset);

/* Score on 1..bins -> score on 1..5, as ceil(5 * s / bins). */
static inline int
segkpi_rfm_segment_bin(int score, int bins)
{
	return (RFM_SEGMENT_BINS * score + bins - 1) / bins;
}

/* The segment of scores r, f, m (each 1..bins); NULL when no rule covers them. */
static inline text *
segkpi_rfm_rules_segment(const RfmRules *rules, int r, int f, int m, int bins)
{
	return rules->cell[segkpi_rfm_segment_bin(r, bins) - 1]
		[segkpi_rfm_segment_bin(f, bins) - 1]
		[segkpi_rfm_segment_bin(m, bins) - 1];
}

/* Exact conversion of a scaled decimal to numeric (dscale = d.scale). */
Numeric		segkpi_dec_to_numeric(sk_dec d);

#endif							/* SEGKPI_RFM_COMMON_H */
