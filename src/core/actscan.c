/*
 * actscan.c - see actscan.h.
 *
 * The ring holds at most SK_ACTSCAN_RING rows.  Counting from the oldest,
 * the first (pending - 2 * SK_ACTSCAN_DEPTH) rows have had their entries
 * prefetched (stage 3), the next SK_ACTSCAN_DEPTH have their number and
 * their record prefetched (stage 2), the newest SK_ACTSCAN_DEPTH only their
 * slot prefetched (stage 1).  A new row moves every stage one step.
 */
#include <string.h>

#include "actscan.h"

void
sk_actscan_init(sk_actscan *s, sk_ctab_slot *slots, uint64_t slot_cap,
				sk_act_cust *cust, uint64_t cust_cap, sk_ctab_eq eq, void *eq_arg,
				sk_actscan_alloc alloc, void *alloc_arg)
{
	memset(s, 0, sizeof(*s));
	sk_ctab_init(&s->tab, slots, slot_cap);
	s->cust = cust;
	s->cust_cap = cust_cap;
	s->eq = eq;
	s->eq_arg = eq_arg;
	s->alloc = alloc;
	s->alloc_arg = alloc_arg;
	s->failed = SK_OK;
}

int
sk_actscan_room(const sk_actscan *s)
{
	return sk_ctab_room(&s->tab, s->cust_cap, SK_ACTSCAN_RING);
}

void
sk_actscan_grow(sk_actscan *s, sk_ctab_slot *slots, uint64_t slot_cap,
				sk_act_cust *cust, uint64_t cust_cap)
{
	sk_ctab_move(&s->tab, slots, slot_cap);
	s->cust = cust;
	s->cust_cap = cust_cap;
}

static inline uint32_t
number_of(sk_actscan *s, uint64_t hash, uint64_t key)
{
	int			added;
	uint32_t	idx = sk_ctab_find_or_add(&s->tab, hash, s->eq, s->eq_arg, &added);

	if (added)
	{
		sk_act_cust *c = &s->cust[idx];

		c->key = key;
		sk_act_init(&c->head);
		c->e = NULL;
	}
	return idx;
}

/* Add one row to a customer, growing its entries once when it needs to. */
static void
add_row(sk_actscan *s, sk_act_cust *c, const sk_act_row *row)
{
	int32_t		cap = sk_actscan_cap(c->head.n);
	sk_status	rc = sk_act_add(&c->head, c->e, cap, row);

	if (rc == SK_ELIMIT)
	{
		sk_act_entry *e = s->alloc(s->alloc_arg, c->e, c->head.n, cap == 0 ? 2 : cap * 2);

		if (e == NULL)
		{
			s->failed = SK_ELIMIT;
			return;
		}
		c->e = e;
		rc = sk_act_add(&c->head, c->e, cap == 0 ? 2 : cap * 2, row);
	}
	if (rc != SK_OK)
		s->failed = rc;
}

static inline void
apply_row(sk_actscan *s, const sk_actscan_row *r)
{
	if (r->has_row && s->failed == SK_OK)
		add_row(s, &s->cust[r->idx], &r->row);
}

/*
 * The entries a row of this customer most likely touches: its latest
 * period's, which sk_act_add reads first, and the next one, where a row
 * of a new period goes (time-ordered orders start new periods often).
 *
 * A macro, not a function: GCC 12 judged a static function whose only
 * effect is a prefetch to be pure and deleted its calls, so the pass ran
 * without this stage (~35% of its time stalled on the entries load).
 */
#define SK_ACTSCAN_PREFETCH_ENTRIES(c) \
	do { \
		if ((c)->head.n > 0) \
			__builtin_prefetch(&(c)->e[(c)->head.n - 1], 1, 3); \
		if ((c)->head.n > 0 && (c)->head.n < sk_actscan_cap((c)->head.n)) \
			__builtin_prefetch(&(c)->e[(c)->head.n], 1, 3); \
	} while (0)

sk_status
sk_actscan_apply(sk_actscan *s, uint64_t hash, const sk_act_row *row, int has_row,
				 uint32_t *idx, int *added)
{
	uint64_t	before = s->tab.count;

	*idx = number_of(s, hash, 0);
	*added = s->tab.count != before;
	if (has_row && s->failed == SK_OK)
		add_row(s, &s->cust[*idx], row);
	return s->failed;
}

sk_status
sk_actscan_push(sk_actscan *s, uint64_t hash, uint64_t key, const sk_act_row *row,
				int has_row)
{
	sk_actscan_row *r;

	if (s->pending == SK_ACTSCAN_RING)
	{
		apply_row(s, &s->ring[s->head]);
		s->head = (s->head + 1) % SK_ACTSCAN_RING;
		s->pending--;
	}
	if (s->pending >= 2 * SK_ACTSCAN_DEPTH)
	{
		r = &s->ring[(s->head + s->pending - 2 * SK_ACTSCAN_DEPTH) % SK_ACTSCAN_RING];
		SK_ACTSCAN_PREFETCH_ENTRIES(&s->cust[r->idx]);
	}
	if (s->pending >= SK_ACTSCAN_DEPTH)
	{
		r = &s->ring[(s->head + s->pending - SK_ACTSCAN_DEPTH) % SK_ACTSCAN_RING];
		r->idx = number_of(s, r->hash, r->key);
		__builtin_prefetch(&s->cust[r->idx], 1, 3);
	}
	r = &s->ring[(s->head + s->pending) % SK_ACTSCAN_RING];
	r->hash = hash;
	r->key = key;
	r->row = *row;
	r->has_row = has_row;
	s->pending++;
	sk_ctab_prefetch(&s->tab, hash);
	return s->failed;
}

sk_status
sk_actscan_finish(sk_actscan *s)
{
	unsigned	numbered = s->pending > SK_ACTSCAN_DEPTH ? s->pending - SK_ACTSCAN_DEPTH : 0;
	unsigned	i;

	for (i = 0; i < s->pending; i++)
	{
		sk_actscan_row *r = &s->ring[(s->head + i) % SK_ACTSCAN_RING];

		if (i >= numbered)
			r->idx = number_of(s, r->hash, r->key);
		apply_row(s, r);
	}
	s->head = 0;
	s->pending = 0;
	return s->failed;
}
