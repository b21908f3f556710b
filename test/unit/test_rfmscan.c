/*
 * test_rfmscan.c - the customer table and the pipelined RFM pass
 * (custtab.h, rfmscan.h) against a plain row-by-row reference.
 *
 * The reference finds a customer by walking all keys seen so far and adds
 * each row with sk_rfm_state_add, the rule rfm_agg applies; every scan
 * must give the same customers, in the same order of first appearance,
 * with bit-identical states.  Tables start tiny so that growth happens in
 * the middle of the pipeline.
 */
#include <stdlib.h>

#include "rfmscan.h"
#include "unit.h"

#define MAX_CUST 5000

typedef struct Ref
{
	uint64_t	key[MAX_CUST];
	sk_rfm_state st[MAX_CUST];
	int			n;
	int			overflow;
} Ref;

static uint64_t
lcg(uint64_t *x)
{
	*x = *x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
	return *x >> 17;
}

static void
ref_row(Ref *ref, uint64_t key, int64_t ts, sk_dec amount, int has_row)
{
	int			i;

	for (i = 0; i < ref->n && ref->key[i] != key; i++)
		;
	if (i == ref->n)
	{
		ref->key[i] = key;
		sk_rfm_state_init(&ref->st[i]);
		ref->n++;
	}
	if (has_row && !ref->overflow && sk_rfm_state_add(&ref->st[i], ts, amount) != SK_OK)
		ref->overflow = 1;
}

/* The scan's memory, grown by doubling as a server caller would. */
typedef struct Mem
{
	sk_ctab_slot *slots;
	sk_rfm_cust *cust;
	uint64_t	slot_cap;
	uint64_t	cust_cap;
	int			grows;
} Mem;

static void
mem_init(Mem *m, uint64_t slot_cap, uint64_t cust_cap)
{
	m->slot_cap = slot_cap;
	m->cust_cap = cust_cap;
	m->slots = malloc(sk_ctab_bytes(slot_cap));
	m->cust = malloc(cust_cap * sizeof(sk_rfm_cust));
	m->grows = 0;
}

static void
mem_grow(Mem *m, sk_rfmscan *s)
{
	sk_ctab_slot *old = m->slots;

	m->slot_cap *= 2;
	m->cust_cap *= 2;
	m->slots = malloc(sk_ctab_bytes(m->slot_cap));
	m->cust = realloc(m->cust, m->cust_cap * sizeof(sk_rfm_cust));
	sk_rfmscan_grow(s, m->slots, m->slot_cap, m->cust, m->cust_cap);
	free(old);
	m->grows++;
}

static void
mem_free(Mem *m)
{
	free(m->slots);
	free(m->cust);
}

static sk_dec
random_amount(uint64_t *x, int wide)
{
	sk_dec		d;

	d.scale = (int) (lcg(x) % 4);
	d.v = (sk_i128) (lcg(x) % 200000) - 40000;	/* some refunds, some zeros */
	if (lcg(x) % 50 == 0)
		d.v = 0;
	if (wide)
		d.v *= sk_pow10_i128(32);	/* sums soon pass 38 digits */
	return d;
}

static int
same_state(const sk_rfm_state *a, const sk_rfm_state *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* Exact (integer) keys through the pipeline. */
static void
run_exact(uint64_t seed, int nrows, int nkeys, int scales, int wide)
{
	static Ref	ref;
	sk_rfmscan	s;
	Mem			m;
	uint64_t	x = seed;
	sk_status	rc = SK_OK;
	int			i,
				same = 1,
				valid = 1;

	memset(&ref, 0, sizeof(ref));
	mem_init(&m, 4, 1);
	sk_rfmscan_init(&s, m.slots, m.slot_cap, m.cust, m.cust_cap, NULL, NULL);
	for (i = 0; i < nrows; i++)
	{
		/* signed keys, negative ones included */
		uint64_t	key = (uint64_t) ((int64_t) (lcg(&x) % (uint64_t) nkeys) - nkeys / 3);
		int64_t		ts = (int64_t) (lcg(&x) % 1000000) - 500000;
		sk_dec		amount = random_amount(&x, wide);
		int			has_row = lcg(&x) % 17 != 0;

		if (!scales)
			amount.scale = 2;
		while (!sk_rfmscan_room(&s))
			mem_grow(&m, &s);
		ref_row(&ref, key, ts, amount, has_row);
		rc = sk_rfmscan_push(&s, sk_mix64(key), key, ts, amount, has_row);
		if (rc != SK_OK)
			break;
	}
	if (rc == SK_OK)
		rc = sk_rfmscan_finish(&s);
	if (wide)
	{
		CHECK_EQ_INT(rc, SK_EOVERFLOW);
		CHECK(ref.overflow);
		mem_free(&m);
		return;
	}
	CHECK_EQ_INT(rc, SK_OK);
	CHECK(m.grows > 3);
	CHECK_EQ_INT(sk_rfmscan_count(&s), ref.n);
	for (i = 0; i < ref.n && (uint64_t) i < sk_rfmscan_count(&s); i++)
		same &= s.cust[i].key == ref.key[i] && same_state(&s.cust[i].st, &ref.st[i]);
	CHECK(same);
	/* every record is a valid state, except those of customers without a row */
	for (i = 0; i < ref.n; i++)
		valid &= sk_rfm_state_check(&s.cust[i].st) ==
			(s.cust[i].st.orders + s.cust[i].st.refunds > 0 ? SK_OK : SK_EDATA);
	CHECK(valid);
	mem_free(&m);
}

static void
test_exact_keys(void)
{
	run_exact(1, 1, 10, 1, 0);	/* one row: finish applies it */
	run_exact(2, 20, 3, 1, 0);	/* fewer rows than the ring */
	run_exact(3, 40000, 3000, 1, 0);
	run_exact(4, 40000, 3000, 0, 0);	/* one scale: the fast path only */
	run_exact(5, 30000, 50, 1, 0);	/* few keys, many repeats in flight */
	run_exact(6, 20000, 40, 1, 1);	/* sums past 38 digits */
}

/* Keys with a weak hash and an equality callback: collisions on purpose. */
typedef struct Probe
{
	uint64_t	probe;
	uint64_t   *keys;			/* by number */
	int			calls;
} Probe;

static int
probe_eq(void *arg, uint32_t idx)
{
	Probe	   *p = (Probe *) arg;

	p->calls++;
	return p->keys[idx] == p->probe;
}

static void
test_callback_keys(void)
{
	static Ref	ref;
	static uint64_t keys[MAX_CUST];
	sk_rfmscan	s;
	Mem			m;
	Probe		p = {0, keys, 0};
	uint64_t	x = 7;
	int			i,
				same = 1,
				order = 1,
				applied = 1;

	memset(&ref, 0, sizeof(ref));
	mem_init(&m, 4, 1);
	sk_rfmscan_init(&s, m.slots, m.slot_cap, m.cust, m.cust_cap, probe_eq, &p);
	for (i = 0; i < 30000; i++)
	{
		uint64_t	key = lcg(&x) % 2000;
		int64_t		ts = (int64_t) (lcg(&x) % 1000);
		sk_dec		amount = random_amount(&x, 0);
		uint32_t	idx;
		int			added;

		while (!sk_rfmscan_room(&s))
			mem_grow(&m, &s);
		ref_row(&ref, key, ts, amount, 1);
		p.probe = key;
		/* hash collides for keys equal mod 97 */
		applied &= sk_rfmscan_apply(&s, sk_mix64(key % 97), ts, amount, 1, &idx, &added) == SK_OK;
		if (added)
		{
			order &= idx == (uint32_t) ref.n - 1;
			keys[idx] = key;
			s.cust[idx].key = key;
		}
	}
	CHECK(applied);
	CHECK(order);
	CHECK(p.calls > 30000);		/* collisions were resolved by the callback */
	CHECK_EQ_INT(sk_rfmscan_finish(&s), SK_OK);
	CHECK_EQ_INT(sk_rfmscan_count(&s), ref.n);
	for (i = 0; i < ref.n; i++)
		same &= s.cust[i].key == ref.key[i] && same_state(&s.cust[i].st, &ref.st[i]);
	CHECK(same);
	mem_free(&m);
}

static void
test_table(void)
{
	sk_ctab_slot slots[8];
	sk_ctab		t;
	int			added,
				i;

	CHECK_EQ_INT(sk_ctab_bytes(0), 0);
	CHECK_EQ_INT(sk_ctab_bytes(3), 0);
	CHECK_EQ_INT(sk_ctab_bytes(SK_CTAB_MAX_CAPACITY * 2), 0);
	CHECK_EQ_INT(sk_ctab_bytes(8), 8 * sizeof(sk_ctab_slot));
	sk_ctab_init(&t, slots, 8);
	/* four hashes with the same home slot: linear probing keeps them apart */
	for (i = 0; i < 4; i++)
	{
		CHECK(!sk_ctab_full(&t));
		CHECK_EQ_INT(sk_ctab_find_or_add(&t, 5 + 8 * (uint64_t) i, NULL, NULL, &added), i);
		CHECK_EQ_INT(added, 1);
	}
	CHECK(sk_ctab_full(&t));
	for (i = 3; i >= 0; i--)
	{
		CHECK_EQ_INT(sk_ctab_find_or_add(&t, 5 + 8 * (uint64_t) i, NULL, NULL, &added), i);
		CHECK_EQ_INT(added, 0);
	}
	/* the probe wrapped around the end of the table */
	CHECK_EQ_INT(slots[0].idx_plus_1, 4);
	CHECK_EQ_INT(sk_mix64(0), 0);
	CHECK(sk_mix64(1) != 1 && sk_mix64(1) != sk_mix64(2));
}

int
main(void)
{
	RUN(test_table);
	RUN(test_exact_keys);
	RUN(test_callback_keys);
	UNIT_DONE();
}
