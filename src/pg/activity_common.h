/*
 * activity_common.h - what other server-layer files need of the
 * segkpi.activity type (activity.c).
 */
#ifndef SEGKPI_ACTIVITY_COMMON_H
#define SEGKPI_ACTIVITY_COMMON_H

#include "postgres.h"

#include "pg_compat.h"

#include "activity.h"

/* A segkpi.activity value holding h and its h->n entries, in the current context. */
Datum		segkpi_activity_make(const sk_act_head *h, const sk_act_entry *e);

/* 22003: a sum needs more than 38 digits (fname names the function). */
pg_noreturn void segkpi_activity_overflow(const char *fname);

#endif							/* SEGKPI_ACTIVITY_COMMON_H */
