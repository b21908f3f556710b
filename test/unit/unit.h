/*
 * unit.h - the smallest test framework that does the job.
 *
 * Each test program includes this header, calls CHECK* inside functions
 * listed in main() through RUN(), and ends with UNIT_DONE(), which prints
 * "N passed, N failed" (the line the harness sums) and returns nonzero on
 * any failure.  A check is one assertion; a failing check prints where and
 * why and lets the program continue.
 */
#ifndef SEGKPI_UNIT_H
#define SEGKPI_UNIT_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int	unit_passed;
static int	unit_failed;

#define CHECK(cond) \
	do { \
		if (cond) \
			unit_passed++; \
		else \
		{ \
			unit_failed++; \
			fprintf(stderr, "%s:%d: check failed: %s\n", \
					__FILE__, __LINE__, #cond); \
		} \
	} while (0)

#define CHECK_EQ_INT(a, b) \
	do { \
		long long	unit_a_ = (long long) (a); \
		long long	unit_b_ = (long long) (b); \
		if (unit_a_ == unit_b_) \
			unit_passed++; \
		else \
		{ \
			unit_failed++; \
			fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", \
					__FILE__, __LINE__, #a, #b, unit_a_, unit_b_); \
		} \
	} while (0)

/* |a - b| <= tol, where tol is absolute */
#define CHECK_NEAR(a, b, tol) \
	do { \
		double		unit_a_ = (double) (a); \
		double		unit_b_ = (double) (b); \
		if (fabs(unit_a_ - unit_b_) <= (tol)) \
			unit_passed++; \
		else \
		{ \
			unit_failed++; \
			fprintf(stderr, "%s:%d: %s ~ %s failed: %.17g vs %.17g (tol %g)\n", \
					__FILE__, __LINE__, #a, #b, unit_a_, unit_b_, (double) (tol)); \
		} \
	} while (0)

#define CHECK_STR(a, b) \
	do { \
		const char *unit_a_ = (a); \
		const char *unit_b_ = (b); \
		if (unit_a_ != NULL && unit_b_ != NULL && strcmp(unit_a_, unit_b_) == 0) \
			unit_passed++; \
		else \
		{ \
			unit_failed++; \
			fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" vs \"%s\"\n", \
					__FILE__, __LINE__, #a, #b, \
					unit_a_ ? unit_a_ : "(null)", unit_b_ ? unit_b_ : "(null)"); \
		} \
	} while (0)

/* A skipped group is reported, never counted as passed. */
#define SKIP(why) \
	fprintf(stdout, "skip: %s\n", (why))

#define RUN(fn) \
	do { \
		int unit_before_ = unit_failed; \
		fn(); \
		if (unit_failed != unit_before_) \
			fprintf(stderr, "  in %s\n", #fn); \
	} while (0)

#define UNIT_DONE() \
	do { \
		printf("%d passed, %d failed\n", unit_passed, unit_failed); \
		return unit_failed == 0 ? 0 : 1; \
	} while (0)

#endif							/* SEGKPI_UNIT_H */
