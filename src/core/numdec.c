/*
 * numdec.c - exact scaled-integer decimals and PostgreSQL numeric decoding.
 *
 * Invariants: every operation is exact or fails; a failing operation leaves
 * its output unchanged; no input, however malformed, reads outside the
 * bytes it was given.
 */
#include "numdec.h"

#include <string.h>

#define I128_MAX ((sk_i128) (((unsigned __int128) 1 << 127) - 1))
#define I128_MIN (-I128_MAX - 1)

sk_i128
sk_pow10_i128(int n)
{
	sk_i128		p = 1;

	while (n-- > 0)
		p *= 10;
	return p;
}

static int
mul_ok(sk_i128 a, sk_i128 b, sk_i128 *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

static int
add_ok(sk_i128 a, sk_i128 b, sk_i128 *out)
{
	return !__builtin_add_overflow(a, b, out);
}

sk_status
sk_dec_rescale(sk_dec *d, int scale)
{
	sk_i128		v;

	if (scale < d->scale || scale > SK_DEC_MAX_DIGITS)
		return SK_EOVERFLOW;
	if (scale == d->scale)
		return SK_OK;
	if (!mul_ok(d->v, sk_pow10_i128(scale - d->scale), &v))
		return SK_EOVERFLOW;
	d->v = v;
	d->scale = scale;
	return SK_OK;
}

sk_status
sk_dec_add(sk_dec *acc, sk_dec x)
{
	sk_dec		a = *acc;
	sk_i128		sum;

	if (x.scale > a.scale && sk_dec_rescale(&a, x.scale) != SK_OK)
		return SK_EOVERFLOW;
	if (a.scale > x.scale && sk_dec_rescale(&x, a.scale) != SK_OK)
		return SK_EOVERFLOW;
	if (!add_ok(a.v, x.v, &sum))
		return SK_EOVERFLOW;
	acc->v = sum;
	acc->scale = a.scale;
	return SK_OK;
}

int
sk_dec_cmp(sk_dec a, sk_dec b, sk_status *status)
{
	int			s = a.scale > b.scale ? a.scale : b.scale;

	*status = SK_OK;
	/* the common case, one scale: nothing to bring to it */
	if (a.scale == b.scale && s <= SK_DEC_MAX_DIGITS)
		return (a.v > b.v) - (a.v < b.v);
	if (sk_dec_rescale(&a, s) != SK_OK || sk_dec_rescale(&b, s) != SK_OK)
	{
		*status = SK_EOVERFLOW;
		return 0;
	}
	return (a.v > b.v) - (a.v < b.v);
}

int
sk_dec_format(sk_dec d, char *buf)
{
	char		digits[SK_DEC_TEXT_MAX];
	unsigned __int128 u;
	int			nd = 0;
	int			len = 0;
	int			i;

	/* magnitude without overflow, also for the most negative value */
	u = d.v < 0 ? (unsigned __int128) 0 - (unsigned __int128) d.v
		: (unsigned __int128) d.v;
	do
	{
		digits[nd++] = (char) ('0' + (int) (u % 10));
		u /= 10;
	} while (u != 0);
	while (nd <= d.scale)
		digits[nd++] = '0';		/* at least one digit before the point */

	if (d.v < 0)
		buf[len++] = '-';
	for (i = nd - 1; i >= 0; i--)
	{
		if (i == d.scale - 1)
			buf[len++] = '.';
		buf[len++] = digits[i];
	}
	buf[len] = '\0';
	return len;
}

sk_status
sk_dec_parse(const char *s, size_t len, sk_dec *out)
{
	size_t		i = 0;
	int			neg = 0;
	int			int_digits = 0;
	int			scale = 0;
	int			significant = 0;
	sk_i128		v = 0;

	if (len > 0 && (s[0] == '-' || s[0] == '+'))
		neg = s[i++] == '-';
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, int_digits++)
	{
		if (v != 0 || s[i] != '0')
			significant++;
		/* check before multiplying: a 39th digit would overflow */
		if (significant > SK_DEC_MAX_DIGITS)
			return SK_EOVERFLOW;
		v = v * 10 + (s[i] - '0');
	}
	if (int_digits == 0)
		return SK_EDATA;
	if (i < len && s[i] == '.')
	{
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, scale++)
		{
			if (v != 0 || s[i] != '0')
				significant++;
			if (significant > SK_DEC_MAX_DIGITS || scale >= SK_DEC_MAX_DIGITS)
				return SK_EOVERFLOW;
			v = v * 10 + (s[i] - '0');
		}
		if (scale == 0)
			return SK_EDATA;
	}
	if (i != len)
		return SK_EDATA;
	out->v = neg ? -v : v;
	out->scale = scale;
	return SK_OK;
}

/*
 * The stored numeric format (PostgreSQL 9.1 and later), all fields in the
 * machine's byte order:
 *
 *   uint16 header
 *     header & 0xC000 == 0xC000  special value: 0xC000 NaN, 0xD000 +Inf,
 *                                0xF000 -Inf; nothing follows
 *     header & 0x8000            short form: bit 0x2000 = negative,
 *                                bits 0x1F80 = display scale (6 bits),
 *                                bits 0x007F = weight (7-bit two's complement)
 *     otherwise                  long form: bit 0x4000 = negative, bits
 *                                0x3FFF = display scale, then int16 weight
 *   int16 digits[]               base-10000 digits, most significant first,
 *                                leading and trailing zero digits stripped
 *
 * The value is sum(digits[i] * 10000^(weight - i)).
 */
static uint16_t
read_u16(const unsigned char *p)
{
	uint16_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

sk_status
sk_numeric_decode(const unsigned char *p, size_t len, sk_numkind *kind,
				  sk_dec *out)
{
	uint16_t	header;
	size_t		hdrlen;
	size_t		ndigits;
	int			neg;
	int			dscale;
	int			weight;
	int			kcur = 0;
	size_t		i;
	sk_i128		acc = 0;

	if (len < 2)
		return SK_EDATA;
	header = read_u16(p);
	*kind = SK_NUM_FINITE;
	if ((header & 0xC000) == 0xC000)
	{
		switch (header & 0xF000)
		{
			case 0xC000:
				*kind = SK_NUM_NAN;
				break;
			case 0xD000:
				*kind = SK_NUM_PINF;
				break;
			case 0xF000:
				*kind = SK_NUM_NINF;
				break;
			default:
				return SK_EDATA;
		}
		out->v = 0;
		out->scale = 0;
		return SK_OK;
	}
	if (header & 0x8000)
	{
		hdrlen = 2;
		neg = (header & 0x2000) != 0;
		dscale = (header & 0x1F80) >> 7;
		weight = header & 0x003F;
		if (header & 0x0040)
			weight -= 64;
	}
	else
	{
		if (len < 4)
			return SK_EDATA;
		hdrlen = 4;
		neg = (header & 0x4000) != 0;
		dscale = header & 0x3FFF;
		weight = (int16_t) read_u16(p + 2);
	}
	if ((len - hdrlen) % 2 != 0)
		return SK_EDATA;
	ndigits = (len - hdrlen) / 2;
	if (dscale > SK_DEC_MAX_DIGITS || ndigits > 20)
		return SK_EOVERFLOW;

	/*
	 * Digit i counts units of 10^k in value * 10^dscale, with k = dscale +
	 * 4 * (weight - i).  Whole groups (k >= 0) accumulate by Horner's rule,
	 * leaving acc = (value so far) / 10^k; the group that straddles the
	 * display scale (-4 < k < 0) contributes only its leading digits, and
	 * groups wholly below it must be zero.  acc never exceeds the final
	 * value, so it overflows only when the value does not fit.
	 */
	for (i = 0; i < ndigits; i++)
	{
		uint16_t	d = read_u16(p + hdrlen + 2 * i);
		int			k = dscale + 4 * (weight - (int) i);

		if (d > 9999)
			return SK_EDATA;
		if (k >= 0)
		{
			if (!mul_ok(acc, 10000, &acc) || !add_ok(acc, d, &acc))
				return SK_EOVERFLOW;
			kcur = k;
		}
		else if (k > -4)
		{
			int			div = (int) sk_pow10_i128(-k);

			if (d % div != 0)
				return SK_EDATA;
			if (!mul_ok(acc, sk_pow10_i128(4 + k), &acc) || !add_ok(acc, d / div, &acc))
				return SK_EOVERFLOW;
			kcur = 0;
		}
		else if (d != 0)
			return SK_EDATA;
	}
	if (acc != 0 && kcur > 0 &&
		(kcur > SK_DEC_MAX_DIGITS || !mul_ok(acc, sk_pow10_i128(kcur), &acc)))
		return SK_EOVERFLOW;
	out->v = neg ? -acc : acc;
	out->scale = dscale;
	return SK_OK;
}
