/*
 * status.h - the one place where a core status becomes a PostgreSQL error.
 */
#ifndef SEGKPI_STATUS_H
#define SEGKPI_STATUS_H

#include "postgres.h"

#include "pg_compat.h"

#include "sk_common.h"

/*
 * Raise the error that corresponds to st (returns only for SK_OK).  what
 * names the operation or argument in the message, as in "rfm_score: bins".
 */
void		segkpi_check_status(sk_status st, const char *what);

/* The SQLSTATE for a status (SK_OK maps to 00000). */
int			segkpi_status_sqlstate(sk_status st);

/* Tick for core loops: runs CHECK_FOR_INTERRUPTS(), never asks to stop. */
extern const sk_tick segkpi_interrupt_tick;

#endif							/* SEGKPI_STATUS_H */
