/*
 * relscan.h - what the in-memory passes over a relation (rfm_scan.c,
 * act_scan.c) share: checking the relation and columns they are given,
 * hashing customer keys, the customer table's memory under the hash
 * memory limit, and running a query whose rows go to a DestReceiver.
 *
 * The rows always come from an ordinary query run through SPI, so
 * privileges, row-level security, views, inheritance and partitions apply
 * as to any SELECT; only the grouping is done here.
 */
#ifndef SEGKPI_RELSCAN_H
#define SEGKPI_RELSCAN_H

#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "tcop/dest.h"

#include "custtab.h"
#include "glue.h"

/* ---- the relation and its columns ------------------------------------- */

/* 42P01 unless relid names a relation. */
void		segkpi_relscan_check_relation(const char *fname, Oid relid);

/*
 * The column's type and collation; 42703 when there is no such column or
 * it is a system column (xmin, ctid, ...).
 */
Oid			segkpi_relscan_column(const char *fname, Oid relid, const char *col, Oid *coll);

/*
 * The customer column must have exactly key_type (the type of the
 * function's anyelement argument): 42804 otherwise, with a hint naming the
 * column's type.  Returns the column's collation.
 */
Oid			segkpi_relscan_key_column(const char *fname, Oid relid, const char *col,
									  Oid key_type);

/* 42804 unless the column converts implicitly to target (as for an aggregate's argument). */
void		segkpi_relscan_implicit(const char *fname, Oid relid, const char *col, Oid target);

/* The relation's name, schema-qualified and quoted. */
char	   *segkpi_relscan_relation(Oid relid);

/* ---- customer keys ---------------------------------------------------- */

typedef enum RelScanKeyKind
{
	KEY_INT2,
	KEY_INT4,
	KEY_INT8,					/* integers: hashed exactly (custtab.h) */
	KEY_HASHED					/* others: their hash opclass and its equality */
} RelScanKeyKind;

typedef struct RelScanKeys
{
	RelScanKeyKind kind;
	bool		byval;
	int16		len;
	Oid			coll;
	FmgrInfo	hash_fn;
	FmgrInfo	eq_fn;
	Datum		probe;			/* the key being looked up */
	Datum	   *copies;			/* KEY_HASHED: the keys, by customer number */
	Size		bytes;			/* memory of the copies */
} RelScanKeys;

/*
 * How keys of type (collation coll) are hashed, with function data in cxt.
 * False when the type has no hash operator class.
 */
bool		segkpi_keys_setup(RelScanKeys *k, Oid type, Oid coll, MemoryContext cxt);

static inline uint64
segkpi_keys_int(const RelScanKeys *k, Datum d)
{
	switch (k->kind)
	{
		case KEY_INT2:
			return (uint64) (int64) DatumGetInt16(d);
		case KEY_INT4:
			return (uint64) (int64) DatumGetInt32(d);
		default:
			return (uint64) DatumGetInt64(d);
	}
}

/* The key of customer idx, as a Datum of the key type. */
Datum		segkpi_keys_datum(const RelScanKeys *k, uint64 stored, uint32 idx);

/* KEY_HASHED: make d the probe and return its hash. */
uint64		segkpi_keys_probe(RelScanKeys *k, Datum d);

/* Equality callback for the core (arg: the RelScanKeys): probe == key of idx? */
int			segkpi_keys_equal(void *arg, uint32_t idx);

/* KEY_HASHED: keep a copy of the probe as the key of new customer idx. */
void		segkpi_keys_keep(RelScanKeys *k, uint32 idx, MemoryContext cxt);

/* ---- memory ----------------------------------------------------------- */

typedef struct RelScanMem
{
	MemoryContext cxt;
	Size		limit;			/* work_mem x hash_mem_multiplier */
	Size		record_size;
	uint64		slot_cap;
	uint64		record_cap;
	Size		other;			/* further bytes the caller has allocated */
	SegkpiMap  *records_map;	/* the records' mapping (in cxt) */
} RelScanMem;

/*
 * Start with room for a thousand customers: *slots and *records are
 * allocated in a new child context of the current one.
 */
void		segkpi_relscan_mem_init(RelScanMem *m, Size record_size, RelScanKeys *k,
									sk_ctab_slot **slots, void **records);

/* Bytes in use, key copies and the caller's other bytes included. */
Size		segkpi_relscan_mem_used(const RelScanMem *m, const RelScanKeys *k);

/*
 * Room for count + inflight + 1 customers.  On success *slots is a new
 * slot array (the caller rehashes into it and then frees *old_slots) and
 * *records the records moved to a larger array; false, with nothing
 * changed, when that would pass the limit.
 */
bool		segkpi_relscan_mem_grow(RelScanMem *m, RelScanKeys *k, uint64 count,
									unsigned inflight, sk_ctab_slot **slots,
									sk_ctab_slot **old_slots, void **records);

/* ---- queries ---------------------------------------------------------- */

/*
 * Run query with n parameters (types, values; none NULL) read-only, its
 * rows going to dest, with a parallel plan only when parallel (rows that
 * all pass through one receiver gain nothing from workers that only scan).
 * The caller is connected to SPI.
 */
void		segkpi_relscan_run(const char *fname, const char *query, int n,
							   const Oid *types, const Datum *values, DestReceiver *dest,
							   bool parallel);

/*
 * The same, with the rows going into the result of a materialising SRF,
 * and a parallel plan allowed (for the SQL forms, which aggregate).
 */
void		segkpi_relscan_run_into(const char *fname, const char *query, int n,
									const Oid *types, const Datum *values,
									ReturnSetInfo *rsinfo);

#endif							/* SEGKPI_RELSCAN_H */
