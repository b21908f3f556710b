/*
 * pg_compat.h - every difference between the PostgreSQL majors segkpi
 * supports (15, 17, 18; 19 as a release candidate), in one place.
 *
 * The rest of src/pg is written against the newest server API; each block
 * below supplies that API on the older majors, behind a PG_VERSION_NUM
 * guard, so that a version test never appears in the code itself.  Every
 * src/pg header includes this file right after postgres.h.  src/core never
 * sees it: it has no server headers at all.
 */
#ifndef SEGKPI_PG_COMPAT_H
#define SEGKPI_PG_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000
#error "segkpi needs PostgreSQL 15 or later"
#endif

/*
 * PostgreSQL 18 replaced pg_attribute_noreturn(), written after or before a
 * declaration, by pg_noreturn, which must come first (it may be C11's
 * _Noreturn).  Before 18 the old attribute is GCC's, which is also valid in
 * front, so we write pg_noreturn first everywhere.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * The varlena macros (VARDATA_ANY, VARSIZE_ANY_EXHDR, ...) moved to
 * varatt.h in PostgreSQL 16; postgres.h stopped including it in 19.
 */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#endif							/* SEGKPI_PG_COMPAT_H */
