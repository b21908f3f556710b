/*
 * rfmscan.h - the RFM statistics of every customer, in one pass over the
 * rows of an orders table, held in memory.
 *
 * Each customer gets a number (custtab.h) and a 64-byte record, its key
 * and the same sk_rfm_state that segkpi.rfm_agg keeps, so both paths
 * apply one set of rules.  A row costs one probe of the slot table and
 * one update of a record; on a table much larger than the CPU caches both
 * are cache misses, and they decide the speed.  With exact keys
 * (custtab.h) rows are therefore pipelined: when a row arrives its slot is
 * prefetched; SK_RFMSCAN_DEPTH rows later its number is looked up and its
 * record prefetched; another SK_RFMSCAN_DEPTH rows later the record is
 * updated.  Rows are applied in arrival order, so the result is the one a
 * row-by-row pass gives.  Keys that need an equality callback (text, uuid)
 * are looked up when they arrive, while the caller's probe is valid.
 *
 * The caller owns the memory.  Before each row it asks sk_rfmscan_room;
 * when that says no, it allocates a larger slot table and record array
 * and calls sk_rfmscan_grow.  An amount whose sum does not fit 38 digits
 * makes the scan fail with SK_EOVERFLOW (sticky): the caller then computes
 * the result another way.  Rows without a time or amount (has_row = 0)
 * only make their customer known, with no orders and no refunds.
 */
#ifndef SK_RFMSCAN_H
#define SK_RFMSCAN_H

#include "custtab.h"
#include "rfmstate.h"

#define SK_RFMSCAN_DEPTH 16
#define SK_RFMSCAN_RING (2 * SK_RFMSCAN_DEPTH)

typedef struct sk_rfm_cust
{
	uint64_t	key;			/* exact keys: the key; others: the caller's reference */
	sk_rfm_state st;			/* orders + refunds == 0: no row with time and amount */
} sk_rfm_cust;

typedef struct sk_rfmscan_row
{
	uint64_t	hash;
	uint64_t	key;
	int64_t		ts;
	sk_dec		amount;
	uint32_t	idx;
	int			has_row;
} sk_rfmscan_row;

typedef struct sk_rfmscan
{
	sk_ctab		tab;
	sk_rfm_cust *cust;			/* tab.count records in use */
	uint64_t	cust_cap;
	sk_ctab_eq	eq;				/* NULL: exact keys, pipelined */
	void	   *eq_arg;
	sk_status	failed;			/* SK_OK, or SK_EOVERFLOW once a sum overflowed */
	unsigned	head;			/* ring[head] is the oldest pending row */
	unsigned	pending;		/* rows in the ring */
	sk_rfmscan_row ring[SK_RFMSCAN_RING];
} sk_rfmscan;

/*
 * A scan over slots (slot_cap entries, see custtab.h) and records (room
 * for cust_cap).  eq as in custtab.h: NULL for exact keys.
 */
void		sk_rfmscan_init(sk_rfmscan *s, sk_ctab_slot *slots, uint64_t slot_cap,
							sk_rfm_cust *cust, uint64_t cust_cap,
							sk_ctab_eq eq, void *eq_arg);

/* Can one more row be given without growing first? */
int			sk_rfmscan_room(const sk_rfmscan *s);

/*
 * Continue in larger memory: slots is a new, larger slot array (filled
 * here); cust holds the records in use (the caller moved them, e.g. by
 * reallocating) with room for cust_cap.
 */
void		sk_rfmscan_grow(sk_rfmscan *s, sk_ctab_slot *slots, uint64_t slot_cap,
							sk_rfm_cust *cust, uint64_t cust_cap);

/*
 * One row of an exact-key scan (eq == NULL): hash = sk_mix64 of the key.
 * Returns s->failed.
 */
sk_status	sk_rfmscan_push(sk_rfmscan *s, uint64_t hash, uint64_t key,
							int64_t ts, sk_dec amount, int has_row);

/*
 * One row of a scan with an equality callback, applied at once; the
 * caller's probe must be what eq compares with.  *idx is the customer's
 * number; when *added, the caller sets s->cust[*idx].key to a reference
 * that outlives the probe.  Returns s->failed.
 */
sk_status	sk_rfmscan_apply(sk_rfmscan *s, uint64_t hash, int64_t ts, sk_dec amount,
							 int has_row, uint32_t *idx, int *added);

/* Apply the rows still in the pipeline.  Returns s->failed. */
sk_status	sk_rfmscan_finish(sk_rfmscan *s);

/* Customers so far (valid after sk_rfmscan_finish). */
static inline uint64_t
sk_rfmscan_count(const sk_rfmscan *s)
{
	return s->tab.count;
}

#endif							/* SK_RFMSCAN_H */
