/*
 * fuzz_btyd_model.c - libFuzzer target for the BG/NBD and Gamma-Gamma
 * model text decoders (src/core/btyd.c).
 *
 * Invariants checked on every input: decoding never crashes or reads past
 * the given length; anything accepted re-encodes and decodes to the same
 * bits (exact round trip); an accepted model is usable by the predictions
 * (they return a status, never crash).  The replay driver test/fuzz/replay.c
 * runs this target over the corpus without libFuzzer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "btyd.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_bgnbd(const char *text, size_t size)
{
	sk_bgnbd_model m,
				back;
	char		buf[SK_BTYD_TEXT_MAX];
	size_t		len;
	double		v;

	if (sk_bgnbd_decode(text, size, &m) != SK_OK)
		return;
	if (sk_bgnbd_encode(&m, buf, sizeof(buf), &len) != SK_OK ||
		sk_bgnbd_decode(buf, len, &back) != SK_OK ||
		memcmp(&m.r, &back.r, 6 * sizeof(double)) != 0 ||
		m.iterations != back.iterations || m.converged != back.converged)
		abort();
	(void) sk_bgnbd_p_alive(&m, 3, 5.0, 10.0, &v);
	(void) sk_bgnbd_expected(&m, 1.0, 3, 5.0, 10.0, NULL, &v);
	(void) sk_bgnbd_expected_new(&m, 1.0, NULL, &v);
}

static void
check_gg(const char *text, size_t size)
{
	sk_gg_model m,
				back;
	char		buf[SK_BTYD_TEXT_MAX];
	size_t		len;
	double		v;

	if (sk_gg_decode(text, size, &m) != SK_OK)
		return;
	if (sk_gg_encode(&m, buf, sizeof(buf), &len) != SK_OK ||
		sk_gg_decode(buf, len, &back) != SK_OK ||
		memcmp(&m.p, &back.p, 5 * sizeof(double)) != 0 ||
		m.iterations != back.iterations || m.converged != back.converged)
		abort();
	(void) sk_gg_expected_spend(&m, 2, 10.0, &v);
	(void) sk_gg_expected_spend(&m, 0, 0.0, &v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a private copy, so reading one byte too far is caught by ASan */
	char	   *text = malloc(size ? size : 1);

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	check_bgnbd(text, size);
	check_gg(text, size);
	free(text);
	return 0;
}
