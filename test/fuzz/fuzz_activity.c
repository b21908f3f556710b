/*
 * fuzz_activity.c - libFuzzer target: the activity text decoder must
 * reject or accept any bytes without reading out of bounds; whatever it
 * accepts must satisfy the invariants, format back to the same text, and
 * survive a merge with itself and a roll-up.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "activity.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *copy = malloc(size + 1);	/* exact-size copy: ASan sees overreads */
	sk_act_head h;
	int32_t		n;

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	if (sk_act_parse_count(copy, size, &n) == SK_OK && n <= 4096)
	{
		sk_act_entry *e = malloc(sizeof(sk_act_entry) * (size_t) (n + 1));
		sk_act_entry *m = malloc(sizeof(sk_act_entry) * (size_t) (2 * n + 1));
		sk_rollup_cell *c = malloc(sizeof(sk_rollup_cell) * (size_t) (n + 1));

		if (e != NULL && m != NULL && c != NULL &&
			sk_act_parse(copy, size, &h, e, n) == SK_OK)
		{
			size_t		tsize = sk_act_text_size(h.n);
			char	   *buf = malloc(tsize);
			sk_act_head mh;
			sk_rollup_head r;

			if (buf == NULL)
				abort();
			if (sk_act_check(&h, e) != SK_OK || sk_act_format(&h, e, buf) != size ||
				memcmp(buf, copy, size) != 0)
				abort();
			if (sk_act_merge(&h, e, &h, e, &mh, m) == SK_OK &&
				(sk_act_check(&mh, m) != SK_OK || mh.n != h.n || mh.orders != 2 * h.orders))
				abort();
			sk_rollup_init(&r, 1);
			if (sk_rollup_need(&r, c, &h, e) != h.n)
				abort();
			if (sk_rollup_add(&r, c, n, &h, e) == SK_OK && sk_rollup_check(&r, c) != SK_OK)
				abort();
			free(buf);
		}
		free(e);
		free(m);
		free(c);
	}
	free(copy);
	return 0;
}
