/*
 * actscan.h - every customer's activity (activity.h) in one pass over the
 * order rows, held in memory.
 *
 * The same scheme as rfmscan.h, one level deeper.  Each customer gets a
 * number (custtab.h) and a 64-byte record: its key, the activity's head
 * and a pointer to its entries (one per period), which grow by doubling
 * through the caller's allocation callback.  A row is added with
 * sk_act_add, the rule activity_agg applies, so both give the same
 * activity.  On a table much larger than the CPU caches a row costs three
 * cache misses (slot, record, entries); with exact keys they are
 * pipelined: when a row arrives its slot is prefetched, SK_ACTSCAN_DEPTH
 * rows later its record, another SK_ACTSCAN_DEPTH rows later the entry of
 * its customer's latest period, and after a third SK_ACTSCAN_DEPTH rows it
 * is added.  Rows are added in arrival order.
 *
 * The caller owns all memory.  Before each row it asks sk_actscan_room and
 * grows the slot table and record array when needed (sk_actscan_grow).  A
 * failure is sticky and stops the scan: SK_EOVERFLOW when a sum passes 38
 * digits (or a period its 2^31 - 1 orders), SK_ELIMIT when the allocation
 * callback refuses memory.  Rows without a period, time or amount
 * (has_row = 0) only make their customer known, with no entries.
 */
#ifndef SK_ACTSCAN_H
#define SK_ACTSCAN_H

#include "activity.h"
#include "custtab.h"

#define SK_ACTSCAN_DEPTH 16
#define SK_ACTSCAN_RING (3 * SK_ACTSCAN_DEPTH)

typedef struct sk_act_cust
{
	uint64_t	key;			/* exact keys: the key; others: unused (0) */
	sk_act_head head;			/* head.n == 0: no row with a time and amount */
	sk_act_entry *e;			/* sk_actscan_cap(head.n) entries, or NULL */
} sk_act_cust;

/*
 * Entries for a customer: a new array of cap entries holding the n
 * entries of old (NULL when n is 0), old released if the callback wishes.
 * NULL when the memory is not there.
 */
typedef sk_act_entry *(*sk_actscan_alloc) (void *arg, sk_act_entry *old, int32_t n,
										   int32_t cap);

typedef struct sk_actscan_row
{
	uint64_t	hash;
	uint64_t	key;
	sk_act_row	row;
	uint32_t	idx;
	int			has_row;
} sk_actscan_row;

typedef struct sk_actscan
{
	sk_ctab		tab;
	sk_act_cust *cust;			/* tab.count records in use */
	uint64_t	cust_cap;
	sk_ctab_eq	eq;				/* NULL: exact keys, pipelined */
	void	   *eq_arg;
	sk_actscan_alloc alloc;
	void	   *alloc_arg;
	sk_status	failed;
	unsigned	head;			/* ring[head] is the oldest pending row */
	unsigned	pending;
	sk_actscan_row ring[SK_ACTSCAN_RING];
} sk_actscan;

/* The capacity of the entries of a customer with n periods. */
static inline int32_t
sk_actscan_cap(int32_t n)
{
	int32_t		cap = 2;

	if (n == 0)
		return 0;
	while (cap < n)
		cap *= 2;
	return cap;
}

void		sk_actscan_init(sk_actscan *s, sk_ctab_slot *slots, uint64_t slot_cap,
							sk_act_cust *cust, uint64_t cust_cap,
							sk_ctab_eq eq, void *eq_arg,
							sk_actscan_alloc alloc, void *alloc_arg);

/* Can one more row be given without growing first? */
int			sk_actscan_room(const sk_actscan *s);

/* As sk_rfmscan_grow. */
void		sk_actscan_grow(sk_actscan *s, sk_ctab_slot *slots, uint64_t slot_cap,
							sk_act_cust *cust, uint64_t cust_cap);

/* One row of an exact-key scan; hash = sk_mix64 of the key.  Returns s->failed. */
sk_status	sk_actscan_push(sk_actscan *s, uint64_t hash, uint64_t key,
							const sk_act_row *row, int has_row);

/*
 * One row of a scan with an equality callback, applied at once (see
 * sk_rfmscan_apply).  Returns s->failed.
 */
sk_status	sk_actscan_apply(sk_actscan *s, uint64_t hash, const sk_act_row *row,
							 int has_row, uint32_t *idx, int *added);

/* Add the rows still in the pipeline.  Returns s->failed. */
sk_status	sk_actscan_finish(sk_actscan *s);

static inline uint64_t
sk_actscan_count(const sk_actscan *s)
{
	return s->tab.count;
}

#endif							/* SK_ACTSCAN_H */
