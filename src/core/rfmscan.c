/*
 * rfmscan.c - see rfmscan.h.
 *
 * The ring holds at most SK_RFMSCAN_RING rows.  Counting from the oldest,
 * the first (pending - SK_RFMSCAN_DEPTH) rows have their number (stage 2:
 * record prefetched), the rest only their hash (stage 1: slot
 * prefetched).  A new row moves the ring one step: the oldest row is
 * applied when the ring is full, and the row SK_RFMSCAN_DEPTH places back
 * gets its number.
 */
#include <string.h>

#include "rfmscan.h"

void
sk_rfmscan_init(sk_rfmscan *s, sk_ctab_slot *slots, uint64_t slot_cap,
				sk_rfm_cust *cust, uint64_t cust_cap, sk_ctab_eq eq, void *eq_arg)
{
	memset(s, 0, sizeof(*s));
	sk_ctab_init(&s->tab, slots, slot_cap);
	s->cust = cust;
	s->cust_cap = cust_cap;
	s->eq = eq;
	s->eq_arg = eq_arg;
	s->failed = SK_OK;
}

int
sk_rfmscan_room(const sk_rfmscan *s)
{
	return sk_ctab_room(&s->tab, s->cust_cap, SK_RFMSCAN_RING);
}

void
sk_rfmscan_grow(sk_rfmscan *s, sk_ctab_slot *slots, uint64_t slot_cap,
				sk_rfm_cust *cust, uint64_t cust_cap)
{
	sk_ctab_move(&s->tab, slots, slot_cap);
	s->cust = cust;
	s->cust_cap = cust_cap;
}

/* A customer's number, with a fresh record when it is new. */
static inline uint32_t
number_of(sk_rfmscan *s, uint64_t hash, uint64_t key, int *added)
{
	uint32_t	idx = sk_ctab_find_or_add(&s->tab, hash, s->eq, s->eq_arg, added);

	if (*added)
	{
		s->cust[idx].key = key;
		sk_rfm_state_init(&s->cust[idx].st);
	}
	return idx;
}

/*
 * Add one row to a record.  The common case, an amount at the scale the
 * total already has, is one 128-bit addition; anything else goes through
 * the state's own rule (sk_rfm_state_add), which rescales.
 */
static inline void
update(sk_rfmscan *s, sk_rfm_state *st, int64_t ts, sk_dec amount)
{
	if (amount.scale == st->scale)
	{
		sk_dec		sum = sk_rfm_state_sum(st);

		if (!__builtin_add_overflow(sum.v, amount.v, &sum.v))
		{
			sk_rfm_state_set_sum(st, sum);
			sk_rfm_state_count(st, ts, amount.v > 0);
			return;
		}
	}
	if (sk_rfm_state_add(st, ts, amount) != SK_OK)
		s->failed = SK_EOVERFLOW;
}

static inline void
apply_row(sk_rfmscan *s, const sk_rfmscan_row *r)
{
	if (r->has_row && s->failed == SK_OK)
		update(s, &s->cust[r->idx].st, r->ts, r->amount);
}

sk_status
sk_rfmscan_apply(sk_rfmscan *s, uint64_t hash, int64_t ts, sk_dec amount,
				 int has_row, uint32_t *idx, int *added)
{
	*idx = number_of(s, hash, 0, added);
	if (has_row && s->failed == SK_OK)
		update(s, &s->cust[*idx].st, ts, amount);
	return s->failed;
}

sk_status
sk_rfmscan_push(sk_rfmscan *s, uint64_t hash, uint64_t key, int64_t ts,
				sk_dec amount, int has_row)
{
	sk_rfmscan_row *r;
	int			added;

	if (s->pending == SK_RFMSCAN_RING)
	{
		apply_row(s, &s->ring[s->head]);
		s->head = (s->head + 1) % SK_RFMSCAN_RING;
		s->pending--;
	}
	if (s->pending >= SK_RFMSCAN_DEPTH)
	{
		r = &s->ring[(s->head + s->pending - SK_RFMSCAN_DEPTH) % SK_RFMSCAN_RING];
		r->idx = number_of(s, r->hash, r->key, &added);
		__builtin_prefetch(&s->cust[r->idx], 1, 3);
	}
	r = &s->ring[(s->head + s->pending) % SK_RFMSCAN_RING];
	r->hash = hash;
	r->key = key;
	r->ts = ts;
	r->amount = amount;
	r->has_row = has_row;
	s->pending++;
	sk_ctab_prefetch(&s->tab, hash);
	return s->failed;
}

sk_status
sk_rfmscan_finish(sk_rfmscan *s)
{
	unsigned	numbered = s->pending > SK_RFMSCAN_DEPTH ? s->pending - SK_RFMSCAN_DEPTH : 0;
	unsigned	i;
	int			added;

	for (i = 0; i < s->pending; i++)
	{
		sk_rfmscan_row *r = &s->ring[(s->head + i) % SK_RFMSCAN_RING];

		if (i >= numbered)
			r->idx = number_of(s, r->hash, r->key, &added);
		apply_row(s, r);
	}
	s->head = 0;
	s->pending = 0;
	return s->failed;
}
