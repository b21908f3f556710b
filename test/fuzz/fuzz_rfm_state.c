/*
 * fuzz_rfm_state.c - libFuzzer target: the rfm_state text decoder and the
 * stored-numeric decoder must reject or accept any bytes without reading
 * out of bounds, and whatever they accept must satisfy the invariants and
 * format back to the same text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "numdec.h"
#include "rfmstate.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sk_rfm_state st;
	const char *total;
	size_t		total_len;
	sk_numkind	kind;
	sk_dec		d;
	char	   *copy = malloc(size + 1);	/* exact-size copy: ASan sees overreads */

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	if (sk_rfm_state_parse(copy, size, &st, &total, &total_len) == SK_OK &&
		sk_dec_parse(total, total_len, &d) == SK_OK)
	{
		sk_rfm_state_set_sum(&st, d);
		if (sk_rfm_state_check(&st) == SK_OK)
		{
			char		buf[SK_RFM_TEXT_PREFIX_MAX + SK_DEC_TEXT_MAX];
			sk_dec		back;

			sk_rfm_state_format(&st, buf);
			if (strncmp(buf, copy, strlen(buf)) != 0)
				abort();
			sk_dec_format(sk_rfm_state_sum(&st), buf);
			if (sk_dec_parse(buf, strlen(buf), &back) != SK_OK ||
				back.v != d.v || back.scale != d.scale)
				abort();
		}
	}
	if (sk_numeric_decode(data, size, &kind, &d) == SK_OK &&
		(d.scale < 0 || d.scale > SK_DEC_MAX_DIGITS))
		abort();
	free(copy);
	return 0;
}
