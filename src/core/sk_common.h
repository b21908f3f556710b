/*
 * sk_common.h - shared vocabulary of segkpi's server-free core.
 *
 * Everything under src/core is plain C99 plus <math.h>, <stdint.h>,
 * <stddef.h>: no PostgreSQL headers, no allocation, no globals, no error
 * raising.  A core function returns an sk_status and fills an out-struct;
 * the server layer (src/pg/status.c) maps each status to one SQLSTATE.
 * Long loops call sk_tick() so the server can honour cancel and
 * statement_timeout; randomness comes only from an explicit sk_rng state,
 * so a seed reproduces a result on every run and in every process.
 */
#ifndef SK_COMMON_H
#define SK_COMMON_H

#include <stddef.h>
#include <stdint.h>

typedef enum sk_status
{
	SK_OK = 0,
	SK_EINVAL,		/* an argument is out of its domain (22023) */
	SK_EDATA,		/* input data is unusable: NaN, malformed text (22000/22P02) */
	SK_EOVERFLOW,	/* a result does not fit its type (22003) */
	SK_ELIMIT,		/* a size or count exceeds a documented limit (54000) */
	SK_ECANCEL,		/* the tick callback asked to stop */
	SK_ENOCONV		/* an iterative method did not converge */
} sk_status;

/*
 * Interrupt hook.  Core loops call it every few thousand units of work.
 * In the server it runs CHECK_FOR_INTERRUPTS(), which may not return;
 * elsewhere a nonzero return asks the core to stop with SK_ECANCEL.
 * Because the core owns no resources, leaving at any tick is safe.
 */
typedef struct sk_tick
{
	int			(*fn) (void *arg);
	void	   *arg;
} sk_tick;

static inline int
sk_tick_stop(const sk_tick *t)
{
	return t != NULL && t->fn != NULL && t->fn(t->arg) != 0;
}

/*
 * Explicit PRNG: xoshiro256** seeded through splitmix64.  The state is a
 * value the caller owns; the same seed gives the same stream everywhere.
 */
typedef struct sk_rng
{
	uint64_t	s[4];
} sk_rng;

static inline uint64_t
sk_splitmix64(uint64_t *x)
{
	uint64_t	z = (*x += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static inline void
sk_rng_seed(sk_rng *rng, uint64_t seed)
{
	uint64_t	x = seed;
	int			i;

	for (i = 0; i < 4; i++)
		rng->s[i] = sk_splitmix64(&x);
}

static inline uint64_t
sk_rotl64(uint64_t v, int k)
{
	return (v << k) | (v >> (64 - k));
}

static inline uint64_t
sk_rng_next(sk_rng *rng)
{
	uint64_t   *s = rng->s;
	uint64_t	result = sk_rotl64(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = sk_rotl64(s[3], 45);
	return result;
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline double
sk_rng_uniform(sk_rng *rng)
{
	return (double) (sk_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [0, bound) without modulo bias; bound > 0. */
static inline uint64_t
sk_rng_below(sk_rng *rng, uint64_t bound)
{
	uint64_t	threshold = (0 - bound) % bound;

	for (;;)
	{
		uint64_t	r = sk_rng_next(rng);

		if (r >= threshold)
			return r % bound;
	}
}

/* Size arithmetic with overflow checks, for the *_size() helpers. */
static inline int
sk_size_mul(size_t a, size_t b, size_t *out)
{
	if (a != 0 && b > SIZE_MAX / a)
		return 0;
	*out = a * b;
	return 1;
}

static inline int
sk_size_add(size_t a, size_t b, size_t *out)
{
	if (b > SIZE_MAX - a)
		return 0;
	*out = a + b;
	return 1;
}

#endif							/* SK_COMMON_H */
