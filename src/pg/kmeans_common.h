/*
 * kmeans_common.h - what the k-means files of the server layer share:
 * reading float8[] feature arguments, the model type's storage (its
 * canonical text), the transform enum, and the column positions of the
 * composite types declared in sql/segkpi--*.sql (keep them in step).
 */
#ifndef SEGKPI_KMEANS_COMMON_H
#define SEGKPI_KMEANS_COMMON_H

#include "postgres.h"

#include "pg_compat.h"

#include "fmgr.h"

#include "kmeans.h"

/* segkpi.kmeans_k_score, the element type of kmeans_choose_k's result */
#define KM_SCORE_K			0
#define KM_SCORE_INERTIA	1
#define KM_SCORE_SILHOUETTE	2
#define KM_SCORE_DB			3
#define KM_SCORE_SIL_N		4
#define KM_SCORE_ITER		5
#define KM_SCORE_MODEL		6
#define KM_SCORE_NATTS		7

/*
 * Copy the elements of a float8[] argument into out (room for
 * SK_KM_MAX_DIM doubles) and return how many there are.  Raises the
 * documented errors: not one-dimensional or empty (22023), more than
 * SK_KM_MAX_DIM elements (54000), a NULL element (22004), NaN or
 * infinity (22000).  -0 is stored as +0, so equal numbers are equal bytes.
 * what names the function and argument in messages ("kmeans: features").
 */
extern int	segkpi_km_read_array(Datum d, double *out, const char *what);

/* The enum segkpi.kmeans_transform <-> the core's transform. */
extern sk_km_transform segkpi_km_transform_from_enum(Oid label);
extern Datum segkpi_km_transform_to_enum(sk_km_transform t, Oid enumtype);

/*
 * A segkpi.kmeans_model value: a varlena holding the model's canonical
 * text (kmeans.h, "Model text"), written by sk_km_model_encode().
 */
extern struct varlena *segkpi_km_model_to_datum(const sk_km_model *m);

/*
 * Decode a model text into a model whose block is palloc'd in the current
 * memory context.  Invalid text raises 22P02; type_input says whether the
 * text came from a user (its message then quotes the text) or from
 * storage (a stored value that does not decode is corrupt data).
 */
extern void segkpi_km_model_decode(const char *text, size_t len,
								   sk_km_model *m, bool type_input);

#endif							/* SEGKPI_KMEANS_COMMON_H */
