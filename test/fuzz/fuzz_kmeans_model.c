/*
 * fuzz_kmeans_model.c - libFuzzer target for the k-means model text decoder.
 *
 * The input is taken as model text of exactly its length (no terminator).
 * Properties checked on every input:
 *  - peek and decode never crash, read out of bounds or return anything
 *    but SK_OK or SK_EDATA;
 *  - a text that decodes re-encodes to a text that decodes to the very
 *    same model and re-encodes to the same bytes (exact round trip);
 *  - a decoded model can be used: assign and centroid_original do not
 *    crash.
 * A violated property aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kmeans.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
same_model(const sk_km_model *a, const sk_km_model *b)
{
	size_t		kd = (size_t) a->k * a->dim;

	return a->k == b->k && a->dim == b->dim && a->transform == b->transform &&
		a->n == b->n && a->iterations == b->iterations &&
		a->converged == b->converged &&
		memcmp(&a->inertia, &b->inertia, sizeof(double)) == 0 &&
		memcmp(a->shift, b->shift, sizeof(double) * a->dim) == 0 &&
		memcmp(a->scale, b->scale, sizeof(double) * a->dim) == 0 &&
		memcmp(a->centroids, b->centroids, sizeof(double) * kd) == 0 &&
		memcmp(a->sizes, b->sizes, sizeof(uint64_t) * a->k) == 0 &&
		memcmp(a->wcss, b->wcss, sizeof(double) * a->k) == 0;
}

/* Re-encode, decode again, compare; abort on any difference. */
static void
check_round_trip(const sk_km_model *m, void *buf2, size_t bytes)
{
	sk_km_model m2;
	size_t		cap,
				len,
				len2;
	char	   *t1,
			   *t2;

	if (sk_km_model_text_size(m->k, m->dim, &cap) != SK_OK)
		abort();
	t1 = malloc(cap);
	t2 = malloc(cap);
	if (t1 == NULL || t2 == NULL)
		abort();
	if (sk_km_model_encode(m, t1, cap, &len) != SK_OK ||
		sk_km_model_bind(&m2, m->k, m->dim, buf2, bytes) != SK_OK ||
		sk_km_model_decode(t1, len, &m2) != SK_OK ||
		!same_model(m, &m2) ||
		sk_km_model_encode(&m2, t2, cap, &len2) != SK_OK ||
		len2 != len || memcmp(t1, t2, len) != 0)
		abort();
	free(t1);
	free(t2);
}

static void
use_model(const sk_km_model *m)
{
	double	   *row = calloc((size_t) m->dim * 2, sizeof(double));
	int			c;
	int			j;

	if (row == NULL)
		abort();
	if (sk_km_assign(m, row, row + m->dim, &c, NULL) != SK_OK ||
		c < 0 || c >= m->k)
		abort();
	for (j = 0; j < m->k; j++)
	{
		sk_status	st = sk_km_centroid_original(m, j, row);

		if (st != SK_OK && st != SK_EOVERFLOW)
			abort();
	}
	free(row);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *) data;
	sk_km_model m;
	int			k,
				dim;
	size_t		bytes;
	void	   *buf,
			   *buf2;
	sk_status	st;

	st = sk_km_model_peek(text, size, &k, &dim);
	if (st != SK_OK)
	{
		if (st != SK_EDATA)
			abort();
		return 0;
	}
	if (sk_km_model_size(k, dim, &bytes) != SK_OK)
		abort();
	buf = malloc(bytes);
	buf2 = malloc(bytes);
	if (buf == NULL || buf2 == NULL ||
		sk_km_model_bind(&m, k, dim, buf, bytes) != SK_OK)
		abort();
	st = sk_km_model_decode(text, size, &m);
	if (st == SK_OK)
	{
		check_round_trip(&m, buf2, bytes);
		use_model(&m);
	}
	else if (st != SK_EDATA)
		abort();
	free(buf);
	free(buf2);
	return 0;
}
