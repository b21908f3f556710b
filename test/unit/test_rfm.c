/*
 * test_rfm.c - unit tests of the RFM core: numeric decoding, exact decimal
 * arithmetic, the quantile score rule, and rfm_agg's state.
 *
 * The score rule is checked against a brute-force count of strictly
 * smaller values; numeric decoding against an independent encoder of
 * PostgreSQL's stored format written here from its description.
 */
#include "numdec.h"
#include "rank.h"
#include "rfmstate.h"
#include "unit.h"

#include <stdint.h>
#include <stdlib.h>

/* ---- an independent encoder of the stored numeric format --------------- */

/*
 * Encode v / 10^scale as a stored numeric (bytes after the varlena
 * header), long form when force_long or when the short form cannot hold
 * it.  Returns the byte count.
 */
static size_t
encode_numeric(sk_i128 v, int scale, int force_long, unsigned char *out)
{
	char		dec[96];		/* decimal digits of |v|, most significant first */
	char		pad[128];
	uint16_t	groups[40];
	int			nd = 0;
	int			neg = v < 0;
	unsigned __int128 u = neg ? (unsigned __int128) 0 - (unsigned __int128) v : (unsigned __int128) v;
	int			intlen,
				fraclen,
				lead,
				total,
				ng,
				weight,
				first,
				last,
				i;
	size_t		len;
	uint16_t	header;

	do
	{
		dec[nd++] = (char) ('0' + (int) (u % 10));
		u /= 10;
	} while (u != 0);
	/* pad: integer digits left-padded to a multiple of 4, fraction right-padded */
	intlen = nd > scale ? nd - scale : 0;
	fraclen = scale;
	lead = (4 - intlen % 4) % 4;
	total = lead + intlen + fraclen + (4 - fraclen % 4) % 4;
	memset(pad, '0', sizeof(pad));
	for (i = 0; i < nd; i++)	/* dec[i] is the digit of 10^i in v */
		pad[lead + intlen + fraclen - 1 - i] = dec[i];
	ng = total / 4;
	for (i = 0; i < ng; i++)
		groups[i] = (uint16_t) ((pad[4 * i] - '0') * 1000 + (pad[4 * i + 1] - '0') * 100 +
								(pad[4 * i + 2] - '0') * 10 + (pad[4 * i + 3] - '0'));
	weight = (lead + intlen) / 4 - 1;
	first = 0;
	last = ng - 1;
	while (first <= last && groups[first] == 0)
	{
		first++;
		weight--;
	}
	while (last >= first && groups[last] == 0)
		last--;
	if (first > last)
	{
		header = (uint16_t) (0x8000 | (scale << 7));
		memcpy(out, &header, 2);
		return 2;
	}
	if (!force_long && scale <= 63 && weight >= -64 && weight <= 63)
	{
		header = (uint16_t) (0x8000 | (neg ? 0x2000 : 0) | (scale << 7) | (weight & 0x7F));
		memcpy(out, &header, 2);
		len = 2;
	}
	else
	{
		int16_t		w = (int16_t) weight;

		header = (uint16_t) ((neg ? 0x4000 : 0) | scale);
		memcpy(out, &header, 2);
		memcpy(out + 2, &w, 2);
		len = 4;
	}
	for (i = first; i <= last; i++)
	{
		memcpy(out + len, &groups[i], 2);
		len += 2;
	}
	return len;
}

static void
test_decode_handmade(void)
{
	/* 123.45: short form, scale 2, weight 0, digits 123 4500 */
	unsigned char a[] = {0x00, 0x81, 123, 0, 0x94, 0x11};
	/* -0.05: short, negative, scale 2, weight -1, digit 500 */
	unsigned char b[] = {0x7F, 0xA1, 0xF4, 0x01};
	/* 10000 in long form: header 0, weight 1, digit 1 */
	unsigned char c[] = {0x00, 0x00, 0x01, 0x00, 0x01, 0x00};
	unsigned char nan[] = {0x00, 0xC0};
	unsigned char pinf[] = {0x00, 0xD0};
	unsigned char ninf[] = {0x00, 0xF0};
	unsigned char badspecial[] = {0x00, 0xE0};
	unsigned char baddigit[] = {0x00, 0x80, 0x10, 0x27};	/* digit 10000 */
	unsigned char odd[] = {0x00, 0x80, 0x01};
	/* 10^40: weight 10, one digit 1 */
	unsigned char huge[] = {0x0A, 0x80, 0x01, 0x00};
	/* 0.0005 claimed with display scale 0: digits below the scale */
	unsigned char below[] = {0x7F, 0x80, 0x05, 0x00};
	sk_numkind	kind;
	sk_dec		d;

	CHECK_EQ_INT(sk_numeric_decode(a, sizeof(a), &kind, &d), SK_OK);
	CHECK(kind == SK_NUM_FINITE && d.v == 12345 && d.scale == 2);
	CHECK_EQ_INT(sk_numeric_decode(b, sizeof(b), &kind, &d), SK_OK);
	CHECK(d.v == -5 && d.scale == 2);
	CHECK_EQ_INT(sk_numeric_decode(c, sizeof(c), &kind, &d), SK_OK);
	CHECK(d.v == 10000 && d.scale == 0);
	CHECK_EQ_INT(sk_numeric_decode(nan, 2, &kind, &d), SK_OK);
	CHECK_EQ_INT(kind, SK_NUM_NAN);
	CHECK_EQ_INT(sk_numeric_decode(pinf, 2, &kind, &d), SK_OK);
	CHECK_EQ_INT(kind, SK_NUM_PINF);
	CHECK_EQ_INT(sk_numeric_decode(ninf, 2, &kind, &d), SK_OK);
	CHECK_EQ_INT(kind, SK_NUM_NINF);
	CHECK_EQ_INT(sk_numeric_decode(badspecial, 2, &kind, &d), SK_EDATA);
	CHECK_EQ_INT(sk_numeric_decode(baddigit, 4, &kind, &d), SK_EDATA);
	CHECK_EQ_INT(sk_numeric_decode(odd, 3, &kind, &d), SK_EDATA);
	CHECK_EQ_INT(sk_numeric_decode(a, 1, &kind, &d), SK_EDATA);
	CHECK_EQ_INT(sk_numeric_decode(c, 3, &kind, &d), SK_EDATA);
	CHECK_EQ_INT(sk_numeric_decode(huge, sizeof(huge), &kind, &d), SK_EOVERFLOW);
	CHECK_EQ_INT(sk_numeric_decode(below, sizeof(below), &kind, &d), SK_EDATA);
}

static sk_i128
random_i128(sk_rng *rng, int digits)
{
	sk_i128		v = 0;
	int			i;

	for (i = 0; i < digits; i++)
		v = v * 10 + (sk_i128) sk_rng_below(rng, 10);
	return (sk_rng_next(rng) & 1) ? -v : v;
}

static void
test_decode_roundtrip(void)
{
	sk_rng		rng;
	int			i;
	int			bad = 0;

	sk_rng_seed(&rng, 7);
	for (i = 0; i < 20000; i++)
	{
		int			digits = 1 + (int) sk_rng_below(&rng, 38);
		int			scale = (int) sk_rng_below(&rng, (uint64_t) digits + 1);
		sk_i128		v = random_i128(&rng, digits);
		unsigned char buf[128];
		size_t		len = encode_numeric(v, scale, (int) (sk_rng_next(&rng) & 1), buf);
		sk_numkind	kind;
		sk_dec		d;

		if (sk_numeric_decode(buf, len, &kind, &d) != SK_OK || d.v != v || d.scale != scale)
		{
			if (bad++ < 3)
				fprintf(stderr, "roundtrip: digits %d scale %d low %lld -> got %lld scale %d st %d\n",
						digits, scale, (long long) v, (long long) d.v, d.scale,
						(int) sk_numeric_decode(buf, len, &kind, &d));
		}
	}
	CHECK_EQ_INT(bad, 0);
}

static void
test_dec_text(void)
{
	char		buf[SK_DEC_TEXT_MAX];
	sk_dec		d;
	sk_status	st;

	d.v = -12345;
	d.scale = 2;
	sk_dec_format(d, buf);
	CHECK_STR(buf, "-123.45");
	d.v = 5;
	d.scale = 3;
	sk_dec_format(d, buf);
	CHECK_STR(buf, "0.005");
	d.v = 0;
	d.scale = 0;
	sk_dec_format(d, buf);
	CHECK_STR(buf, "0");

	CHECK_EQ_INT(sk_dec_parse("-0.50", 5, &d), SK_OK);
	CHECK(d.v == -50 && d.scale == 2);
	CHECK_EQ_INT(sk_dec_parse("00012", 5, &d), SK_OK);
	CHECK(d.v == 12 && d.scale == 0);
	CHECK_EQ_INT(sk_dec_parse("99999999999999999999999999999999999999", 38, &d), SK_OK);
	CHECK_EQ_INT(sk_dec_parse("100000000000000000000000000000000000000", 39, &d), SK_EOVERFLOW);
	/* found by the fuzzer: 39 and more integer digits must not overflow
	 * while being read (UBSan aborts the replay if they do) */
	CHECK_EQ_INT(sk_dec_parse("999999999999999999999999999999999999999999", 42, &d), SK_EOVERFLOW);
	CHECK_EQ_INT(sk_dec_parse("-99999999999999999999999999999999999999.5", 41, &d), SK_EOVERFLOW);
	CHECK_EQ_INT(sk_dec_parse("", 0, &d), SK_EDATA);
	CHECK_EQ_INT(sk_dec_parse("-", 1, &d), SK_EDATA);
	CHECK_EQ_INT(sk_dec_parse(".5", 2, &d), SK_EDATA);
	CHECK_EQ_INT(sk_dec_parse("5.", 2, &d), SK_EDATA);
	CHECK_EQ_INT(sk_dec_parse("1e5", 3, &d), SK_EDATA);
	CHECK_EQ_INT(sk_dec_parse("1.2.3", 5, &d), SK_EDATA);

	/* format then parse is the identity, also at the extremes */
	d.v = -(sk_pow10_i128(38) - 1);	/* 38 nines: the widest text it reads */
	d.scale = 38;
	sk_dec_format(d, buf);
	{
		sk_dec		e;

		st = sk_dec_parse(buf, strlen(buf), &e);
		CHECK_EQ_INT(st, SK_OK);
		CHECK(e.v == d.v && e.scale == d.scale);
	}
}

static void
test_dec_arith(void)
{
	sk_dec		a = {150, 1};	/* 15.0 */
	sk_dec		b = {-25, 2};	/* -0.25 */
	sk_dec		big = {sk_pow10_i128(37), 0};
	sk_status	st;

	CHECK_EQ_INT(sk_dec_add(&a, b), SK_OK);
	CHECK(a.v == 1475 && a.scale == 2);
	CHECK_EQ_INT(sk_dec_cmp(a, b, &st), 1);
	CHECK_EQ_INT(st, SK_OK);
	/* 10^37 * 100 does not fit: rescale fails and leaves the value alone */
	CHECK_EQ_INT(sk_dec_rescale(&big, 2), SK_EOVERFLOW);
	CHECK(big.v == sk_pow10_i128(37) && big.scale == 0);
	{
		sk_dec		acc = big;
		int			i;
		sk_status	last = SK_OK;

		for (i = 0; i < 20 && last == SK_OK; i++)
			last = sk_dec_add(&acc, big);
		CHECK_EQ_INT(last, SK_EOVERFLOW);
	}
}

/* ---- the score rule ---------------------------------------------------- */

static void
test_scores_handmade(void)
{
	/* values 10, 20, 20, 30, 40, 50 with bins 5, n 6: less = 0, 1, 1, 3, 4, 5 */
	int64_t		v[] = {30, 20, 50, 10, 20, 40};
	int			want[] = {3, 1, 5, 1, 1, 4};
	sk_key		keys[6];
	uint8_t		scores[6];
	static uint64_t work[64];
	int			i;

	for (i = 0; i < 6; i++)
		keys[i] = sk_key_i64(v[i]);
	CHECK(sk_scores_work_size(6) <= sizeof(work));
	CHECK_EQ_INT(sk_quantile_scores(keys, 6, 5, work, sizeof(work), scores, NULL), SK_OK);
	for (i = 0; i < 6; i++)
		CHECK_EQ_INT(scores[i], want[i]);

	CHECK_EQ_INT(sk_quantile_scores(keys, 6, 0, work, sizeof(work), scores, NULL), SK_EINVAL);
	CHECK_EQ_INT(sk_quantile_scores(keys, 6, 101, work, sizeof(work), scores, NULL), SK_EINVAL);
	CHECK_EQ_INT(sk_quantile_scores(keys, 6, 5, work, 8, scores, NULL), SK_EINVAL);
	CHECK_EQ_INT(sk_quantile_scores(keys, 0, 5, work, sizeof(work), scores, NULL), SK_OK);
	CHECK(sk_scores_work_size(SIZE_MAX / 2) == 0);
}

static int
stop_now(void *arg)
{
	(void) arg;
	return 1;
}

static void
test_scores_bruteforce(void)
{
	sk_rng		rng;
	int			trial;
	int			bad = 0;
	static sk_key keys[300];
	static uint8_t scores[300];
	static uint64_t work[300 * 6];

	sk_rng_seed(&rng, 42);
	for (trial = 0; trial < 2000; trial++)
	{
		size_t		n = 1 + (size_t) sk_rng_below(&rng, 300);
		int			bins = 1 + (int) sk_rng_below(&rng, 100);
		uint64_t	range = 1 + sk_rng_below(&rng, 1000);
		int			wide = (int) (sk_rng_next(&rng) & 1);
		size_t		i,
					j;

		for (i = 0; i < n; i++)
		{
			/* negative values, and keys that differ only in the high half */
			int64_t		v = (int64_t) sk_rng_below(&rng, range) - (int64_t) range / 2;

			if (wide)
			{
				sk_i128_key((sk_i128) v * ((sk_i128) 1 << 70), &keys[i].hi, &keys[i].lo);
			}
			else
				keys[i] = sk_key_i64(v);
		}
		if (sk_quantile_scores(keys, n, bins, work, sizeof(work), scores, NULL) != SK_OK)
		{
			bad++;
			continue;
		}
		for (i = 0; i < n; i++)
		{
			uint64_t	less = 0;

			for (j = 0; j < n; j++)
				if (keys[j].hi < keys[i].hi ||
					(keys[j].hi == keys[i].hi && keys[j].lo < keys[i].lo))
					less++;
			if (scores[i] != 1 + (bins * less) / n)
				bad++;
		}
	}
	CHECK_EQ_INT(bad, 0);

	{
		sk_tick		tick = {stop_now, NULL};

		CHECK_EQ_INT(sk_quantile_scores(keys, 100, 5, work, sizeof(work), scores, &tick),
					 SK_ECANCEL);
	}
}

/*
 * Cut points score every key as sk_quantile_scores does, and any other
 * value as 1 + floor(bins * less / n) against the keys, at most bins
 * (brute force).
 */
static void
test_cuts_bruteforce(void)
{
	sk_rng		rng;
	int			trial;
	int			bad = 0;
	static sk_key keys[300];
	static uint8_t scores[300];
	static uint64_t work[300 * 6];
	size_t		idx[SK_BINS_MAX];
	sk_key		cuts[SK_BINS_MAX];

	sk_rng_seed(&rng, 7);
	for (trial = 0; trial < 2000; trial++)
	{
		size_t		n = 1 + (size_t) sk_rng_below(&rng, 300);
		int			bins = 1 + (int) sk_rng_below(&rng, 100);
		int64_t		range = 1 + (int64_t) sk_rng_below(&rng, 1000);
		size_t		i,
					j;
		int			s;

		for (i = 0; i < n; i++)
			keys[i] = sk_key_i64((int64_t) sk_rng_below(&rng, (uint64_t) range) - range / 2);
		if (sk_quantile_scores(keys, n, bins, work, sizeof(work), scores, NULL) != SK_OK ||
			sk_quantile_cuts(keys, n, bins, work, sizeof(work), idx, NULL) != SK_OK)
		{
			bad++;
			continue;
		}
		for (s = 0; s < bins - 1; s++)
		{
			if (idx[s] >= n || (s > 0 && sk_key_cmp(keys[idx[s]], cuts[s - 1]) < 0))
				bad++;
			cuts[s] = keys[idx[s] < n ? idx[s] : 0];
		}
		for (i = 0; i < n; i++)
			if (sk_cut_score(keys[i], cuts, bins - 1) != scores[i])
				bad++;
		/* values between, below and above the keys */
		for (i = 0; i < 20; i++)
		{
			sk_key		v = sk_key_i64((int64_t) sk_rng_below(&rng, (uint64_t) range + 4) - range / 2 - 2);
			uint64_t	less = 0;
			uint64_t	want;

			for (j = 0; j < n; j++)
				less += sk_key_cmp(keys[j], v) < 0;
			/* above every key, less = n: the top score, not bins + 1 */
			want = 1 + (bins * less) / n;
			if (sk_cut_score(v, cuts, bins - 1) != (int) (want < (uint64_t) bins ? want : (uint64_t) bins))
				bad++;
		}
	}
	CHECK_EQ_INT(bad, 0);

	CHECK_EQ_INT(sk_quantile_cuts(keys, 0, 5, work, sizeof(work), idx, NULL), SK_EINVAL);
	CHECK_EQ_INT(sk_quantile_cuts(keys, 10, 0, work, sizeof(work), idx, NULL), SK_EINVAL);
	CHECK_EQ_INT(sk_quantile_cuts(keys, 10, 5, work, 8, idx, NULL), SK_EINVAL);
	{
		sk_tick		tick = {stop_now, NULL};

		CHECK_EQ_INT(sk_quantile_cuts(keys, 100, 5, work, sizeof(work), idx, &tick), SK_ECANCEL);
	}
}

/* ---- rfm_agg's state ----------------------------------------------------- */

static void
test_state_updates(void)
{
	sk_rfm_state a,
				b;
	sk_dec		amt = {1050, 2};
	sk_dec		refund = {-5, 0};
	sk_dec		sum;
	char		buf[SK_RFM_TEXT_PREFIX_MAX];

	sk_rfm_state_init(&a);
	CHECK_EQ_INT(sk_rfm_state_add(&a, 100, amt), SK_OK);
	CHECK_EQ_INT(sk_rfm_state_add(&a, 50, amt), SK_OK);
	CHECK_EQ_INT(sk_rfm_state_add(&a, 500, refund), SK_OK);
	CHECK(a.orders == 2 && a.refunds == 1 && a.first == 50 && a.last == 100);
	sum = sk_rfm_state_sum(&a);
	CHECK(sum.v == 1600 && sum.scale == 2);
	CHECK_EQ_INT(sk_rfm_state_check(&a), SK_OK);

	sk_rfm_state_init(&b);
	CHECK_EQ_INT(sk_rfm_state_add(&b, 700, refund), SK_OK);
	CHECK_EQ_INT(sk_rfm_state_check(&b), SK_OK);
	CHECK(b.orders == 0 && b.first == 0);
	CHECK_EQ_INT(sk_rfm_state_merge(&a, &b), SK_OK);
	CHECK(a.orders == 2 && a.refunds == 2 && a.last == 100);
	sum = sk_rfm_state_sum(&a);
	CHECK(sum.v == 1100 && sum.scale == 2);

	sk_rfm_state_format(&a, buf);
	CHECK_STR(buf, "1:2:2:50:100:");
	sk_rfm_state_format(&b, buf);
	CHECK_STR(buf, "1:0:1:::");

	/* an overflowing add leaves the state as it was */
	{
		sk_dec		huge = {sk_pow10_i128(38), 0};

		b = a;
		CHECK_EQ_INT(sk_rfm_state_add(&a, 1, huge), SK_EOVERFLOW);
		CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	}
}

static sk_status
parse_all(const char *text, sk_rfm_state *st)
{
	const char *total;
	size_t		total_len;
	sk_dec		d;
	sk_status	rc = sk_rfm_state_parse(text, strlen(text), st, &total, &total_len);

	if (rc != SK_OK)
		return rc;
	rc = sk_dec_parse(total, total_len, &d);
	if (rc != SK_OK)
		return rc;
	sk_rfm_state_set_sum(st, d);
	return sk_rfm_state_check(st);
}

static void
test_state_text(void)
{
	static const char *const good[] = {
		"1:3:1:100:200:150.25", "1:0:2:::-7.5", "1:1:0:-5:-5:0",
		"1:1:0:-211813488000000000:-211813488000000000:1",
	};
	static const char *const bad[] = {
		"", "1", "1:", "2:1:0:5:5:1", "1:1:0:5:5", "1:1:0:5:5:1:", "1:0:0:::0",
		"1:-1:2:::0", "1:2:0:9:5:1", "1:1:0:5:6:1", "1:1:0:::1", "1:0:1:5:5:1",
		"1:1:0:05:05:1", "1:1:0:-0:-0:1", "1:1:0:5:5:+1", "1:1:0:5:5:1e3",
		"1:1:0:5:5:.5", "1:1:0:5:5:1.", "01:1:0:5:5:1", "1:1:0:5:5: 1",
		"1:1:0:9223372036854775807:9223372036854775807:1",
		"1:1:0:-211813488000000001:-211813488000000001:1",
		"1:99999999999999999999:0:5:5:1", "1:9223372036854775807:1:5:6:1",
	};
	sk_rfm_state st;
	char		buf[SK_RFM_TEXT_PREFIX_MAX + SK_DEC_TEXT_MAX];
	size_t		i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
	{
		CHECK_EQ_INT(parse_all(good[i], &st), SK_OK);
		sk_rfm_state_format(&st, buf);
		sk_dec_format(sk_rfm_state_sum(&st), buf + strlen(buf));
		CHECK_STR(buf, good[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		sk_status	rc = parse_all(bad[i], &st);

		if (rc == SK_OK)
			fprintf(stderr, "accepted bad state text \"%s\"\n", bad[i]);
		CHECK(rc != SK_OK);
	}
}

int
main(void)
{
	RUN(test_decode_handmade);
	RUN(test_decode_roundtrip);
	RUN(test_dec_text);
	RUN(test_dec_arith);
	RUN(test_scores_handmade);
	RUN(test_scores_bruteforce);
	RUN(test_cuts_bruteforce);
	RUN(test_state_updates);
	RUN(test_state_text);
	UNIT_DONE();
}
