/*
 * custtab.c - see custtab.h.
 */
#include <string.h>

#include "custtab.h"

size_t
sk_ctab_bytes(uint64_t capacity)
{
	if (capacity < 2 || capacity > SK_CTAB_MAX_CAPACITY ||
		(capacity & (capacity - 1)) != 0 ||
		capacity > SIZE_MAX / sizeof(sk_ctab_slot))
		return 0;
	return (size_t) capacity * sizeof(sk_ctab_slot);
}

void
sk_ctab_init(sk_ctab *t, sk_ctab_slot *slots, uint64_t capacity)
{
	memset(slots, 0, (size_t) capacity * sizeof(sk_ctab_slot));
	t->slots = slots;
	t->mask = capacity - 1;
	t->count = 0;
}

void
sk_ctab_rehash(const sk_ctab *from, sk_ctab *to)
{
	uint64_t	i;

	for (i = 0; i <= from->mask; i++)
	{
		const sk_ctab_slot *s = &from->slots[i];
		uint64_t	j;

		if (s->idx_plus_1 == 0)
			continue;
		for (j = s->hash & to->mask; to->slots[j].idx_plus_1 != 0; j = (j + 1) & to->mask)
			;
		to->slots[j] = *s;
	}
	to->count = from->count;
}

void
sk_ctab_move(sk_ctab *t, sk_ctab_slot *slots, uint64_t capacity)
{
	sk_ctab		bigger;

	sk_ctab_init(&bigger, slots, capacity);
	sk_ctab_rehash(t, &bigger);
	*t = bigger;
}
