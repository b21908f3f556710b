/*
 * custtab.h - customer key -> dense number, by open addressing on 64-bit
 * hashes.
 *
 * The caller hashes each key to 64 bits; the table numbers customers 0, 1,
 * 2 ... in order of first appearance and finds the number of a hash.  A
 * slot holds the whole 64-bit hash next to the number, so a probe reads
 * one slot and nothing else when the hash decides equality by itself:
 *
 *   exact keys  the hash is a bijection of the key (integer keys through
 *               sk_mix64), so equal hashes are equal keys and no equality
 *               callback is needed (pass NULL);
 *   other keys  an equal hash is confirmed by the caller's callback, which
 *               compares the probe with the key of an existing number.
 *
 * The caller owns the memory (the core never allocates): slots holds
 * capacity entries, capacity a power of two, and the table is kept at most
 * half full (sk_ctab_full), which keeps linear probes short.  To grow, the
 * caller allocates twice the capacity and calls sk_ctab_rehash; numbers do
 * not change.
 */
#ifndef SK_CUSTTAB_H
#define SK_CUSTTAB_H

#include "sk_common.h"

typedef struct sk_ctab_slot
{
	uint64_t	hash;
	uint32_t	idx_plus_1;		/* 0: empty */
	uint32_t	reserved;
} sk_ctab_slot;

typedef struct sk_ctab
{
	sk_ctab_slot *slots;
	uint64_t	mask;			/* capacity - 1 */
	uint64_t	count;			/* numbers given out */
} sk_ctab;

/* Does the key behind number idx equal the caller's current probe? */
typedef int (*sk_ctab_eq) (void *arg, uint32_t idx);

/*
 * A bijective 64-bit mixer (the finalizer of MurmurHash3, a published
 * constant pair): spreads integer keys over all bits, so the low bits of
 * the result can pick the slot.
 */
static inline uint64_t
sk_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

/* The largest capacity: numbers are 32-bit and the table at most half full. */
#define SK_CTAB_MAX_CAPACITY (UINT64_C(1) << 32)

/* Bytes of slots for a capacity; 0 if it is not a power of two in range. */
size_t		sk_ctab_bytes(uint64_t capacity);

/* An empty table over slots (capacity entries, zeroed here). */
void		sk_ctab_init(sk_ctab *t, sk_ctab_slot *slots, uint64_t capacity);

/* Half full: the caller must grow before the next insertion. */
static inline int
sk_ctab_full(const sk_ctab *t)
{
	return t->count >= (t->mask + 1) / 2;
}

/* Ask the CPU to start loading the slot a probe for hash starts at. */
static inline void
sk_ctab_prefetch(const sk_ctab *t, uint64_t hash)
{
	__builtin_prefetch(&t->slots[hash & t->mask], 1, 3);
}

/*
 * The number of hash (confirmed by eq unless eq is NULL); when absent, a
 * new number (count before the call) and *added = 1.  The table must not
 * be full.
 */
static inline uint32_t
sk_ctab_find_or_add(sk_ctab *t, uint64_t hash, sk_ctab_eq eq, void *arg, int *added)
{
	uint64_t	i = hash & t->mask;

	for (;;)
	{
		sk_ctab_slot *s = &t->slots[i];

		if (s->idx_plus_1 == 0)
		{
			s->hash = hash;
			s->idx_plus_1 = (uint32_t) t->count + 1;
			*added = 1;
			return (uint32_t) t->count++;
		}
		if (s->hash == hash && (eq == NULL || eq(arg, s->idx_plus_1 - 1)))
		{
			*added = 0;
			return s->idx_plus_1 - 1;
		}
		i = (i + 1) & t->mask;
	}
}

/* Move every entry of from into to (empty, and larger than from's count allows). */
void		sk_ctab_rehash(const sk_ctab *from, sk_ctab *to);

/* Continue t in slots (capacity entries, larger than t's): rehashed, same numbers. */
void		sk_ctab_move(sk_ctab *t, sk_ctab_slot *slots, uint64_t capacity);

/*
 * Room for one more row when up to inflight earlier rows may still add a
 * customer each: the table stays at most half full and the caller's
 * records (records_cap of them) suffice.
 */
static inline int
sk_ctab_room(const sk_ctab *t, uint64_t records_cap, unsigned inflight)
{
	uint64_t	after = t->count + inflight + 1;

	return after <= (t->mask + 1) / 2 && after <= records_cap;
}

#endif							/* SK_CUSTTAB_H */
