/*
 * numdec.h - exact decimals as scaled 128-bit integers.
 *
 * An sk_dec is the number v / 10^scale.  Money-like numerics (a dozen
 * significant digits, a few decimals) fit with a wide margin, so sums can
 * be kept exactly without the cost of PostgreSQL's arbitrary-precision
 * arithmetic on every row.  Whatever does not fit is reported as
 * SK_EOVERFLOW and the caller falls back to numeric arithmetic: no path
 * ever rounds.
 *
 * sk_numeric_decode reads PostgreSQL's stored numeric format (the bytes
 * after the varlena header).  That format is fixed by pg_upgrade's promise
 * that old data files stay readable, so reading it here is safe; it is
 * described in the comment above the decoder.
 */
#ifndef SK_NUMDEC_H
#define SK_NUMDEC_H

#include "sk_common.h"

#if !defined(__SIZEOF_INT128__)
#error "segkpi needs a compiler with a 128-bit integer type (gcc or clang on a 64-bit target)"
#endif

/*
 * Aligned to 8 bytes, not 16: callers keep these in arrays from allocators
 * that promise only 8-byte alignment (palloc), and with the natural 16-byte
 * alignment the compiler would emit aligned vector moves that fault there.
 */
typedef __int128 sk_i128 __attribute__((aligned(8)));

/* Largest power of ten an sk_i128 holds is 10^38. */
#define SK_DEC_MAX_DIGITS 38

typedef struct sk_dec
{
	sk_i128		v;
	int			scale;			/* 0 .. SK_DEC_MAX_DIGITS */
} sk_dec;

typedef enum sk_numkind
{
	SK_NUM_FINITE = 0,
	SK_NUM_NAN,
	SK_NUM_PINF,
	SK_NUM_NINF
} sk_numkind;

/*
 * Decode a stored numeric (len bytes at p, after the varlena header) into
 * *out at its own display scale.  *kind says whether it is finite; for a
 * special value *out is zero and the status is SK_OK.  Returns SK_EDATA for
 * bytes that are not a valid numeric and SK_EOVERFLOW when the value has
 * more than 38 significant digits at its scale.
 */
sk_status	sk_numeric_decode(const unsigned char *p, size_t len,
							  sk_numkind *kind, sk_dec *out);

/* 10^n for 0 <= n <= 38. */
sk_i128		sk_pow10_i128(int n);

/* Bring d to a larger-or-equal scale exactly; SK_EOVERFLOW if it won't fit. */
sk_status	sk_dec_rescale(sk_dec *d, int scale);

/* acc += x exactly, at the larger of the two scales. */
sk_status	sk_dec_add(sk_dec *acc, sk_dec x);

/* -1, 0, 1; both operands are brought to a common scale when they fit,
 * otherwise *status is SK_EOVERFLOW and the result is meaningless. */
int			sk_dec_cmp(sk_dec a, sk_dec b, sk_status *status);

/*
 * Plain decimal text ("-123.4500": sign, digits, a point and exactly scale
 * decimals).  buf needs SK_DEC_TEXT_MAX bytes.  Returns the length.
 */
#define SK_DEC_TEXT_MAX 48
int			sk_dec_format(sk_dec d, char *buf);

/*
 * Parse plain decimal text of the form [-+]digits[.digits] (no exponent,
 * no spaces) of exactly len bytes.  SK_EDATA for anything else,
 * SK_EOVERFLOW when it has more than 38 digits.
 */
sk_status	sk_dec_parse(const char *s, size_t len, sk_dec *out);

/* Order-preserving unsigned 128-bit key of v (for radix sorting). */
static inline void
sk_i128_key(sk_i128 v, uint64_t *hi, uint64_t *lo)
{
	unsigned __int128 u = (unsigned __int128) v;

	*hi = (uint64_t) (u >> 64) ^ UINT64_C(0x8000000000000000);
	*lo = (uint64_t) u;
}

#endif							/* SK_NUMDEC_H */
