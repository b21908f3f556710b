/*
 * rfm_common.h - what the RFM files of the server layer share: the column
 * positions of the composite types declared in sql/segkpi--*.sql (keep
 * them in step) and numeric conversion.
 */
#ifndef SEGKPI_RFM_COMMON_H
#define SEGKPI_RFM_COMMON_H

#include "postgres.h"

#include "pg_compat.h"

#include "fmgr.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "numdec.h"
#include "rank.h"

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

/* One customer's stats, as read from an rfm_stats value. */
typedef struct RfmRow
{
	bool		has_orders;
	TimestampTz last;			/* 0 without orders */
	int64		orders;
	Datum		monetary;
} RfmRow;

/*
 * The row type of argument argno (an rfm_stats), looked up once per query
 * into *cached (in flinfo's context); 55000 when the type was altered.
 */
TupleDesc	segkpi_rfm_stats_desc(FmgrInfo *flinfo, int argno, TupleDesc *cached);

/* Deform and validate one rfm_stats value; 22000 names fn. */
void		segkpi_rfm_read_stats(Datum d, TupleDesc desc, RfmRow *row, const char *fn);

/* A total as a decimal (scale -1: too wide for 128 bits); 22000 if not finite. */
sk_dec		segkpi_rfm_read_monetary(Datum d, const char *fn);

/* 22023 when the customer's last order is after as_of. */
void		segkpi_rfm_check_as_of(const RfmRow *row, TimestampTz as_of, const char *fn);

/*
 * keys[i] = dense rank of values[i] (numerics) among the n values: the
 * order of totals whose exact keys do not fit 128 bits.
 */
void		segkpi_rfm_rank_numerics(const Datum *values, size_t n, sk_key *keys);

/*
 * An rfm_result for row with scores sc (1..bins) at as_of, the segment
 * from rules; the result's row type is looked up once into *desc_cache.
 */
Datum		segkpi_rfm_result(FunctionCallInfo fcinfo, TupleDesc *desc_cache, const RfmRules *rules,
							  const RfmRow *row, TimestampTz as_of, const int *sc, int bins);

/* Exact conversion of a scaled decimal to numeric (dscale = d.scale). */
Numeric		segkpi_dec_to_numeric(sk_dec d);

#endif							/* SEGKPI_RFM_COMMON_H */
