-- k-means: the model type and the transform enum
------------------------------------------------------------------------

CREATE TYPE segkpi.kmeans_transform AS ENUM ('none', 'zscore', 'log_zscore');

COMMENT ON TYPE segkpi.kmeans_transform IS
    'feature transform of a k-means model: none (raw values), zscore ((x - mean) / sd), log_zscore (z-score of sign(x) * ln(1 + |x|)); mean and population sd are estimated on the fitted rows and stored in the model';

CREATE TYPE segkpi.kmeans_model;

CREATE FUNCTION segkpi.kmeans_model_in(cstring) RETURNS segkpi.kmeans_model
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_model_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.kmeans_model_out(segkpi.kmeans_model) RETURNS cstring
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_model_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.kmeans_model_recv(internal) RETURNS segkpi.kmeans_model
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_model_recv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.kmeans_model_send(segkpi.kmeans_model) RETURNS bytea
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_model_send'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE segkpi.kmeans_model (
    INPUT = segkpi.kmeans_model_in,
    OUTPUT = segkpi.kmeans_model_out,
    RECEIVE = segkpi.kmeans_model_recv,
    SEND = segkpi.kmeans_model_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = int4,
    STORAGE = extended
);

COMMENT ON TYPE segkpi.kmeans_model IS
    'a fitted k-means model: transform, its shift and scale, centroids, sizes and within-cluster sums of squares; text form "kmeans v1 k=... dim=... transform=... ..." (validated on input)';
COMMENT ON FUNCTION segkpi.kmeans_model_in(cstring) IS 'text input of segkpi.kmeans_model (validated, stored canonically)';
COMMENT ON FUNCTION segkpi.kmeans_model_out(segkpi.kmeans_model) IS 'text output of segkpi.kmeans_model';
COMMENT ON FUNCTION segkpi.kmeans_model_recv(internal) IS 'binary input of segkpi.kmeans_model (the text form, validated)';
COMMENT ON FUNCTION segkpi.kmeans_model_send(segkpi.kmeans_model) IS 'binary output of segkpi.kmeans_model (the text form)';

------------------------------------------------------------------------
-- k-means: fitting (aggregate; one overload per number of options)
------------------------------------------------------------------------

CREATE FUNCTION segkpi.kmeans_combine(internal, internal)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_combine'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.kmeans_serialize(internal)
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_serialize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.kmeans_deserialize(bytea, internal)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_deserialize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.kmeans_final(internal)
    RETURNS segkpi.kmeans_model
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION segkpi.kmeans_combine(internal, internal) IS 'combine function of segkpi.kmeans and segkpi.kmeans_choose_k (appends rows)';
COMMENT ON FUNCTION segkpi.kmeans_serialize(internal) IS 'serialize function of segkpi.kmeans and segkpi.kmeans_choose_k (parallel plans)';
COMMENT ON FUNCTION segkpi.kmeans_deserialize(bytea, internal) IS 'deserialize function of segkpi.kmeans and segkpi.kmeans_choose_k (parallel plans)';
COMMENT ON FUNCTION segkpi.kmeans_final(internal) IS 'final function of segkpi.kmeans: sorts the rows by their seeded key and fits';

CREATE FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans(
    features float8[],
    k integer) (
    SFUNC = segkpi.kmeans_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer) IS 'transition function of segkpi.kmeans(float8[], integer)';
COMMENT ON AGGREGATE segkpi.kmeans(float8[], integer) IS
    'k-means model of the rows'' features (k-means++ seeding, Lloyd iterations); same rows, options and seed give the same model in any order or plan; seed 0, transform none, restarts 1, max_iter 300, tol 1e-4, sample_cap 0 (every row)';

CREATE FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans(
    features float8[],
    k integer,
    seed bigint) (
    SFUNC = segkpi.kmeans_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint) IS 'transition function of segkpi.kmeans(float8[], integer, bigint)';
COMMENT ON AGGREGATE segkpi.kmeans(float8[], integer, bigint) IS
    'k-means model of the rows'' features (k-means++ seeding, Lloyd iterations); same rows, options and seed give the same model in any order or plan; transform none, restarts 1, max_iter 300, tol 1e-4, sample_cap 0 (every row)';

CREATE FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans(
    features float8[],
    k integer,
    seed bigint,
    transform segkpi.kmeans_transform) (
    SFUNC = segkpi.kmeans_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform) IS 'transition function of segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform)';
COMMENT ON AGGREGATE segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform) IS
    'k-means model of the rows'' features (k-means++ seeding, Lloyd iterations); same rows, options and seed give the same model in any order or plan; restarts 1, max_iter 300, tol 1e-4, sample_cap 0 (every row)';

CREATE FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform, integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans(
    features float8[],
    k integer,
    seed bigint,
    transform segkpi.kmeans_transform,
    restarts integer) (
    SFUNC = segkpi.kmeans_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform, integer) IS 'transition function of segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform, integer)';
COMMENT ON AGGREGATE segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform, integer) IS
    'k-means model of the rows'' features (k-means++ seeding, Lloyd iterations); same rows, options and seed give the same model in any order or plan; max_iter 300, tol 1e-4, sample_cap 0 (every row)';

CREATE FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform, integer, integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans(
    features float8[],
    k integer,
    seed bigint,
    transform segkpi.kmeans_transform,
    restarts integer,
    max_iter integer) (
    SFUNC = segkpi.kmeans_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform, integer, integer) IS 'transition function of segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform, integer, integer)';
COMMENT ON AGGREGATE segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform, integer, integer) IS
    'k-means model of the rows'' features (k-means++ seeding, Lloyd iterations); same rows, options and seed give the same model in any order or plan; tol 1e-4, sample_cap 0 (every row)';

CREATE FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform, integer, integer, float8)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans(
    features float8[],
    k integer,
    seed bigint,
    transform segkpi.kmeans_transform,
    restarts integer,
    max_iter integer,
    tol float8) (
    SFUNC = segkpi.kmeans_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform, integer, integer, float8) IS 'transition function of segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform, integer, integer, float8)';
COMMENT ON AGGREGATE segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform, integer, integer, float8) IS
    'k-means model of the rows'' features (k-means++ seeding, Lloyd iterations); same rows, options and seed give the same model in any order or plan; sample_cap 0 (every row)';

CREATE FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans(
    features float8[],
    k integer,
    seed bigint,
    transform segkpi.kmeans_transform,
    restarts integer,
    max_iter integer,
    tol float8,
    sample_cap bigint) (
    SFUNC = segkpi.kmeans_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint) IS 'transition function of segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint)';
COMMENT ON AGGREGATE segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint) IS
    'k-means model of the rows'' features (k-means++ seeding, Lloyd iterations); same rows, options and seed give the same model in any order or plan';


-- Explicit initial centroids (a k x dim array in original units): one
-- run from them, no k-means++ (as scikit-learn does for an init array).
CREATE FUNCTION segkpi.kmeans_init_sfunc(internal, float8[], float8[])
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_init_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans(
    features float8[],
    init float8[]) (
    SFUNC = segkpi.kmeans_init_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_init_sfunc(internal, float8[], float8[]) IS 'transition function of segkpi.kmeans(float8[], float8[])';
COMMENT ON AGGREGATE segkpi.kmeans(float8[], float8[]) IS
    'k-means model from explicit initial centroids init (k x dim, original units): one Lloyd run; transform none, max_iter 300, tol 1e-4';

CREATE FUNCTION segkpi.kmeans_init_sfunc(internal, float8[], float8[], segkpi.kmeans_transform, integer, float8)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_init_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans(
    features float8[],
    init float8[],
    transform segkpi.kmeans_transform,
    max_iter integer,
    tol float8) (
    SFUNC = segkpi.kmeans_init_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_init_sfunc(internal, float8[], float8[], segkpi.kmeans_transform, integer, float8) IS 'transition function of segkpi.kmeans(float8[], float8[], kmeans_transform, integer, float8)';
COMMENT ON AGGREGATE segkpi.kmeans(float8[], float8[], segkpi.kmeans_transform, integer, float8) IS
    'k-means model from explicit initial centroids init (k x dim, original units) with a transform, max_iter and tol: one Lloyd run (tol 0 runs until no label changes)';

------------------------------------------------------------------------
-- k-means: using a model
------------------------------------------------------------------------

CREATE FUNCTION segkpi.kmeans_assign(model segkpi.kmeans_model, features float8[])
    RETURNS integer
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_assign'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION segkpi.kmeans_assign(segkpi.kmeans_model, float8[]) IS
    'cluster 1..k whose centroid is nearest to features after the model''s own transform (ties: the lowest cluster)';

CREATE FUNCTION segkpi.kmeans_inertia(model segkpi.kmeans_model) RETURNS float8
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_inertia'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segkpi.kmeans_k(model segkpi.kmeans_model) RETURNS integer
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_k'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segkpi.kmeans_dim(model segkpi.kmeans_model) RETURNS integer
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_dim'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segkpi.kmeans_iterations(model segkpi.kmeans_model) RETURNS integer
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_iterations'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segkpi.kmeans_converged(model segkpi.kmeans_model) RETURNS boolean
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_converged'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segkpi.kmeans_transform(model segkpi.kmeans_model) RETURNS segkpi.kmeans_transform
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_transform'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION segkpi.kmeans_inertia(segkpi.kmeans_model) IS
    'sum over fitted rows of the squared distance to their centroid, in the transformed space';
COMMENT ON FUNCTION segkpi.kmeans_k(segkpi.kmeans_model) IS 'number of clusters';
COMMENT ON FUNCTION segkpi.kmeans_dim(segkpi.kmeans_model) IS 'number of features';
COMMENT ON FUNCTION segkpi.kmeans_iterations(segkpi.kmeans_model) IS 'Lloyd iterations of the kept run';
COMMENT ON FUNCTION segkpi.kmeans_converged(segkpi.kmeans_model) IS 'true when the kept run stopped before max_iter ran out';
COMMENT ON FUNCTION segkpi.kmeans_transform(segkpi.kmeans_model) IS 'the feature transform the model applies';

CREATE FUNCTION segkpi.kmeans_centroids(model segkpi.kmeans_model,
    OUT cluster integer, OUT centroid float8[], OUT size bigint, OUT wcss float8)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_centroids'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    ROWS 5;

COMMENT ON FUNCTION segkpi.kmeans_centroids(segkpi.kmeans_model) IS
    'one row per cluster: cluster 1..k, centroid in original feature units (for log_zscore the back-transformed mean of the logs), size (fitted rows nearest to it), wcss (their sum of squared distances, transformed space)';

------------------------------------------------------------------------
-- k-means: keeping cluster numbers across refits
------------------------------------------------------------------------

CREATE FUNCTION segkpi.kmeans_match(model segkpi.kmeans_model, reference segkpi.kmeans_model,
    OUT cluster integer, OUT reference_cluster integer, OUT distance float8)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_match'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    ROWS 5;

COMMENT ON FUNCTION segkpi.kmeans_match(segkpi.kmeans_model, segkpi.kmeans_model) IS
    'pairs each cluster of model with one cluster of reference (same k, features and transform), one to one, with the least total squared centroid distance in model''s transformed space (exact, Hungarian method); distance is the pair''s Euclidean distance there';

CREATE FUNCTION segkpi.kmeans_relabel(model segkpi.kmeans_model, labels integer[])
    RETURNS segkpi.kmeans_model
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_relabel'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION segkpi.kmeans_relabel(segkpi.kmeans_model, integer[]) IS
    'the model with cluster j renumbered labels[j] (a permutation of 1..k); centroids, sizes and assignments are otherwise unchanged';

------------------------------------------------------------------------
-- k-means: choosing k (aggregate returning one score per k)
------------------------------------------------------------------------

CREATE TYPE segkpi.kmeans_k_score AS (
    k              integer,
    inertia        float8,
    silhouette     float8,
    davies_bouldin float8,
    silhouette_n   bigint,
    iterations     integer,
    model          segkpi.kmeans_model
);

COMMENT ON TYPE segkpi.kmeans_k_score IS 'quality of one k-means fit, from segkpi.kmeans_choose_k';
COMMENT ON COLUMN segkpi.kmeans_k_score.k IS 'number of clusters';
COMMENT ON COLUMN segkpi.kmeans_k_score.inertia IS 'sum of squared distances of the rows to their centroid (transformed space); lower is tighter';
COMMENT ON COLUMN segkpi.kmeans_k_score.silhouette IS 'mean silhouette (-1..1, higher is better) over a seeded sample of silhouette_n rows; NULL when undefined or skipped';
COMMENT ON COLUMN segkpi.kmeans_k_score.davies_bouldin IS 'Davies-Bouldin index over all rows (>= 0, lower is better); NULL when undefined (one non-empty cluster)';
COMMENT ON COLUMN segkpi.kmeans_k_score.silhouette_n IS 'rows the silhouette was computed on (0 when skipped)';
COMMENT ON COLUMN segkpi.kmeans_k_score.iterations IS 'Lloyd iterations of the kept run';
COMMENT ON COLUMN segkpi.kmeans_k_score.model IS 'the fitted model, usable with kmeans_assign';

CREATE FUNCTION segkpi.kmeans_choose_k_final(internal)
    RETURNS segkpi.kmeans_k_score[]
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_choose_k_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION segkpi.kmeans_choose_k_final(internal) IS 'final function of segkpi.kmeans_choose_k: one fit and its scores per k';

CREATE FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_choose_k_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans_choose_k(
    features float8[],
    k_min integer,
    k_max integer) (
    SFUNC = segkpi.kmeans_choose_k_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_choose_k_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer) IS 'transition function of segkpi.kmeans_choose_k(float8[], integer, integer)';
COMMENT ON AGGREGATE segkpi.kmeans_choose_k(float8[], integer, integer) IS
    'for each k in k_min..k_max: a fit with its inertia, sampled silhouette and Davies-Bouldin index, as an array (unnest it); seed 0, transform none, restarts 1, max_iter 300, tol 1e-4, sample_cap 0 (every row), silhouette_cap 10000';

CREATE FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_choose_k_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans_choose_k(
    features float8[],
    k_min integer,
    k_max integer,
    seed bigint) (
    SFUNC = segkpi.kmeans_choose_k_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_choose_k_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint) IS 'transition function of segkpi.kmeans_choose_k(float8[], integer, integer, bigint)';
COMMENT ON AGGREGATE segkpi.kmeans_choose_k(float8[], integer, integer, bigint) IS
    'for each k in k_min..k_max: a fit with its inertia, sampled silhouette and Davies-Bouldin index, as an array (unnest it); transform none, restarts 1, max_iter 300, tol 1e-4, sample_cap 0 (every row), silhouette_cap 10000';

CREATE FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_choose_k_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans_choose_k(
    features float8[],
    k_min integer,
    k_max integer,
    seed bigint,
    transform segkpi.kmeans_transform) (
    SFUNC = segkpi.kmeans_choose_k_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_choose_k_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform) IS 'transition function of segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform)';
COMMENT ON AGGREGATE segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform) IS
    'for each k in k_min..k_max: a fit with its inertia, sampled silhouette and Davies-Bouldin index, as an array (unnest it); restarts 1, max_iter 300, tol 1e-4, sample_cap 0 (every row), silhouette_cap 10000';

CREATE FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_choose_k_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans_choose_k(
    features float8[],
    k_min integer,
    k_max integer,
    seed bigint,
    transform segkpi.kmeans_transform,
    restarts integer) (
    SFUNC = segkpi.kmeans_choose_k_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_choose_k_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer) IS 'transition function of segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer)';
COMMENT ON AGGREGATE segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer) IS
    'for each k in k_min..k_max: a fit with its inertia, sampled silhouette and Davies-Bouldin index, as an array (unnest it); max_iter 300, tol 1e-4, sample_cap 0 (every row), silhouette_cap 10000';

CREATE FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_choose_k_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans_choose_k(
    features float8[],
    k_min integer,
    k_max integer,
    seed bigint,
    transform segkpi.kmeans_transform,
    restarts integer,
    max_iter integer) (
    SFUNC = segkpi.kmeans_choose_k_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_choose_k_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer) IS 'transition function of segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer)';
COMMENT ON AGGREGATE segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer) IS
    'for each k in k_min..k_max: a fit with its inertia, sampled silhouette and Davies-Bouldin index, as an array (unnest it); tol 1e-4, sample_cap 0 (every row), silhouette_cap 10000';

CREATE FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_choose_k_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans_choose_k(
    features float8[],
    k_min integer,
    k_max integer,
    seed bigint,
    transform segkpi.kmeans_transform,
    restarts integer,
    max_iter integer,
    tol float8) (
    SFUNC = segkpi.kmeans_choose_k_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_choose_k_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8) IS 'transition function of segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8)';
COMMENT ON AGGREGATE segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8) IS
    'for each k in k_min..k_max: a fit with its inertia, sampled silhouette and Davies-Bouldin index, as an array (unnest it); sample_cap 0 (every row), silhouette_cap 10000';

CREATE FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_choose_k_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans_choose_k(
    features float8[],
    k_min integer,
    k_max integer,
    seed bigint,
    transform segkpi.kmeans_transform,
    restarts integer,
    max_iter integer,
    tol float8,
    sample_cap bigint) (
    SFUNC = segkpi.kmeans_choose_k_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_choose_k_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint) IS 'transition function of segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint)';
COMMENT ON AGGREGATE segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint) IS
    'for each k in k_min..k_max: a fit with its inertia, sampled silhouette and Davies-Bouldin index, as an array (unnest it); silhouette_cap 10000';

CREATE FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint, bigint)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_choose_k_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans_choose_k(
    features float8[],
    k_min integer,
    k_max integer,
    seed bigint,
    transform segkpi.kmeans_transform,
    restarts integer,
    max_iter integer,
    tol float8,
    sample_cap bigint,
    silhouette_cap bigint) (
    SFUNC = segkpi.kmeans_choose_k_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_choose_k_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint, bigint) IS 'transition function of segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint, bigint)';
COMMENT ON AGGREGATE segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint, bigint) IS
    'for each k in k_min..k_max: a fit with its inertia, sampled silhouette and Davies-Bouldin index, as an array (unnest it)';


