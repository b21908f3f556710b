/*
 * test_actscan.c - the pipelined activity pass (actscan.h) against a plain
 * row-by-row reference: sk_act_add on one array per customer, found by
 * walking the keys.  Every scan must give the same customers in the same
 * order with identical heads and entries; tables start tiny so that the
 * slot table, the records and the entries all grow mid-pipeline.
 */
#include <stdlib.h>

#include "actscan.h"
#include "unit.h"

#define MAX_CUST 3000
#define MAX_PERIODS 64

typedef struct Ref
{
	uint64_t	key[MAX_CUST];
	sk_act_head head[MAX_CUST];
	sk_act_entry e[MAX_CUST][MAX_PERIODS];
	int			n;
	sk_status	failed;
} Ref;

static uint64_t
lcg(uint64_t *x)
{
	*x = *x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
	return *x >> 17;
}

static void
ref_row(Ref *ref, uint64_t key, const sk_act_row *row, int has_row)
{
	int			i;
	sk_status	rc;

	for (i = 0; i < ref->n && ref->key[i] != key; i++)
		;
	if (i == ref->n)
	{
		ref->key[i] = key;
		sk_act_init(&ref->head[i]);
		ref->n++;
	}
	if (!has_row || ref->failed != SK_OK)
		return;
	rc = sk_act_add(&ref->head[i], ref->e[i], MAX_PERIODS, row);
	if (rc != SK_OK)
		ref->failed = rc;
}

/* The entries allocator: realloc, refusing past a budget of entries. */
typedef struct Alloc
{
	long		entries;
	long		budget;
	int			calls;
} Alloc;

static sk_act_entry *
alloc_entries(void *arg, sk_act_entry *old, int32_t n, int32_t cap)
{
	Alloc	   *a = (Alloc *) arg;
	sk_act_entry *e;

	if (a->entries + cap > a->budget)
		return NULL;
	a->calls++;
	a->entries += cap;
	e = realloc(old, (size_t) cap * sizeof(sk_act_entry));
	(void) n;
	return e;
}

/* Keys behind numbers, for the equality callback of the non-exact runs. */
static uint64_t keys[MAX_CUST];
static uint64_t probe;

static int
key_eq(void *arg, uint32_t idx)
{
	(void) arg;
	return keys[idx] == probe;
}

typedef struct Mem
{
	sk_ctab_slot *slots;
	sk_act_cust *cust;
	uint64_t	slot_cap;
	uint64_t	cust_cap;
	int			grows;
} Mem;

static void
mem_grow(Mem *m, sk_actscan *s)
{
	sk_ctab_slot *old = m->slots;

	m->slot_cap *= 2;
	m->cust_cap *= 2;
	m->slots = malloc(sk_ctab_bytes(m->slot_cap));
	m->cust = realloc(m->cust, m->cust_cap * sizeof(sk_act_cust));
	sk_actscan_grow(s, m->slots, m->slot_cap, m->cust, m->cust_cap);
	free(old);
	m->grows++;
}

static void
random_row(uint64_t *x, sk_act_row *row, int wide, int ordered, int i)
{
	row->period = 8000 + (ordered ? i / 2000 : (int32_t) (lcg(x) % 40)) * 31;
	row->ts = (int64_t) row->period * INT64_C(86400000000) + (int64_t) (lcg(x) % 1000000);
	row->amount.scale = (int) (lcg(x) % 3);
	row->amount.v = (sk_i128) (lcg(x) % 100000) - 20000;
	if (wide)
		row->amount.v *= sk_pow10_i128(33);
	row->cost.scale = lcg(x) % 5 == 0 ? -1 : (int) (lcg(x) % 4);
	row->cost.v = (sk_i128) (lcg(x) % 5000);
}

/* One scan; expect is the status it must end with. */
static void
run(uint64_t seed, int nrows, int nkeys, int exact, int wide, int ordered, long budget,
	sk_status expect)
{
	static Ref	ref;
	sk_actscan	s;
	Mem			m = {0};
	Alloc		a = {0, budget, 0};
	uint64_t	x = seed;
	sk_status	rc = SK_OK;
	int			i,
				same = 1,
				valid = 1;

	memset(&ref, 0, sizeof(ref));
	m.slot_cap = 4;
	m.cust_cap = 1;
	m.slots = malloc(sk_ctab_bytes(m.slot_cap));
	m.cust = malloc(m.cust_cap * sizeof(sk_act_cust));
	sk_actscan_init(&s, m.slots, m.slot_cap, m.cust, m.cust_cap, exact ? NULL : key_eq, NULL,
					alloc_entries, &a);
	for (i = 0; i < nrows && rc == SK_OK; i++)
	{
		uint64_t	key = lcg(&x) % (uint64_t) nkeys;
		int			has_row = lcg(&x) % 19 != 0;
		sk_act_row	row;

		random_row(&x, &row, wide, ordered, i);
		while (!sk_actscan_room(&s))
			mem_grow(&m, &s);
		ref_row(&ref, key, &row, has_row);
		if (exact)
			rc = sk_actscan_push(&s, sk_mix64(key), key, &row, has_row);
		else
		{
			uint32_t	idx;
			int			added;

			/* a weak hash: keys equal mod 13 collide, the callback tells them apart */
			probe = key;
			rc = sk_actscan_apply(&s, sk_mix64(key % 13), &row, has_row, &idx, &added);
			if (added)
				keys[idx] = key;
		}
	}
	if (rc == SK_OK)
		rc = sk_actscan_finish(&s);
	CHECK_EQ_INT(rc, expect);
	if (expect == SK_OK)
	{
		CHECK(m.grows > 3);
		CHECK(a.calls > 0);
		CHECK_EQ_INT(sk_actscan_count(&s), ref.n);
		for (i = 0; i < ref.n && (uint64_t) i < sk_actscan_count(&s); i++)
		{
			const sk_act_cust *c = &s.cust[i];

			same &= (exact ? c->key : keys[i]) == ref.key[i];
			same &= memcmp(&c->head, &ref.head[i], sizeof(sk_act_head)) == 0;
			same &= c->head.n == 0 ||
				memcmp(c->e, ref.e[i], (size_t) c->head.n * sizeof(sk_act_entry)) == 0;
			valid &= c->head.n == 0 || sk_act_check(&c->head, c->e) == SK_OK;
		}
		CHECK(same);
		CHECK(valid);
	}
	for (i = 0; (uint64_t) i < sk_actscan_count(&s); i++)
		free(s.cust[i].e);
	free(m.slots);
	free(m.cust);
}

static void
test_exact(void)
{
	run(1, 1, 5, 1, 0, 0, 1000000, SK_OK);	/* one row: finish adds it */
	run(2, 30, 4, 1, 0, 0, 1000000, SK_OK);	/* fewer rows than the ring */
	run(3, 40000, 2500, 1, 0, 0, 10000000, SK_OK);	/* periods in any order */
	run(4, 40000, 2500, 1, 0, 1, 10000000, SK_OK);	/* periods in time order */
	run(5, 30000, 40, 1, 0, 0, 1000000, SK_OK);	/* few keys, repeats in flight */
}

static void
test_callback_path(void)
{
	run(6, 30000, 2000, 0, 0, 0, 10000000, SK_OK);
}

static void
test_failures(void)
{
	/* sums past 38 digits */
	run(7, 20000, 30, 1, 1, 0, 1000000, SK_EOVERFLOW);
	/* the allocator refuses: the scan stops with SK_ELIMIT */
	run(8, 20000, 2000, 1, 0, 0, 500, SK_ELIMIT);
	run(9, 20000, 2000, 0, 0, 0, 500, SK_ELIMIT);
}

static void
test_capacity(void)
{
	CHECK_EQ_INT(sk_actscan_cap(0), 0);
	CHECK_EQ_INT(sk_actscan_cap(1), 2);
	CHECK_EQ_INT(sk_actscan_cap(2), 2);
	CHECK_EQ_INT(sk_actscan_cap(3), 4);
	CHECK_EQ_INT(sk_actscan_cap(5), 8);
	CHECK_EQ_INT(sk_actscan_cap(64), 64);
	CHECK_EQ_INT(sizeof(sk_act_cust), 64);
}

int
main(void)
{
	RUN(test_capacity);
	RUN(test_exact);
	RUN(test_callback_path);
	RUN(test_failures);
	UNIT_DONE();
}
