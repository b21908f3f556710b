-- Bad input to the k-means functions: every case is an ERROR with a
-- SQLSTATE (shown by sqlerr), or a documented result.
CREATE TABLE kb AS
SELECT i, ARRAY[i % 4, i % 3]::float8[] AS f FROM generate_series(1, 12) i;

-- k out of range: below 1 (22023), above 1000 (54000), above the number
-- of rows or of distinct rows (22023)
SELECT sqlerr($$SELECT segkpi.kmeans(f, 0) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, -3) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, 1001) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, 2147483647) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, 13) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(ARRAY[1, 2]::float8[], 2) FROM generate_series(1, 100)$$);
-- (the 12 rows (i % 4, i % 3) are all distinct, so k = 12 is fine)
SELECT segkpi.kmeans_k(segkpi.kmeans(f, 12)) FROM kb;
-- empty input and all-NULL input: an error, not a NULL model (22023)
SELECT sqlerr($$SELECT segkpi.kmeans(f, 2) FROM kb WHERE false$$);
SELECT sqlerr($$SELECT segkpi.kmeans(NULL::float8[], 2) FROM kb$$);
-- ... but with GROUP BY there are no empty groups
SELECT count(*) FROM (SELECT segkpi.kmeans(f, 2) FROM kb WHERE false GROUP BY i % 2) x;

-- features: mismatched lengths (22000), NULL elements (22004), NaN and
-- infinities (22000), not one-dimensional or empty (22023), 10^4
-- dimensions (54000)
SELECT sqlerr($$SELECT segkpi.kmeans(CASE WHEN i = 7 THEN f || 1.0::float8 ELSE f END, 2) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(CASE WHEN i = 7 THEN ARRAY[1, NULL]::float8[] ELSE f END, 2) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(CASE WHEN i = 7 THEN ARRAY[1, 'NaN']::float8[] ELSE f END, 2) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(CASE WHEN i = 7 THEN ARRAY['Infinity', 1]::float8[] ELSE f END, 2) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(CASE WHEN i = 7 THEN ARRAY[1, '-Infinity']::float8[] ELSE f END, 2) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(ARRAY[[1, 2], [3, 4]]::float8[], 1) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans('{}'::float8[], 1) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(array_fill(i::float8, ARRAY[10000]), 2) FROM kb$$);
-- values too large for squared distances without a transform, or for a
-- variance with zscore (22003); log_zscore takes them
SELECT sqlerr($$SELECT segkpi.kmeans(ARRAY[i * 1e200]::float8[], 2) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(ARRAY[i * 1e200]::float8[], 2, 0, 'zscore') FROM kb$$);
SELECT segkpi.kmeans_k(segkpi.kmeans(ARRAY[i * 1e200]::float8[], 2, 0, 'log_zscore')) FROM kb;

-- options: NULL (22004), out of range (22023, 54000), changing between rows (22023)
SELECT sqlerr($$SELECT segkpi.kmeans(f, NULL::int) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, 2, NULL) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, 2, 0, NULL) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, 2, 0, 'none', 0) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, 2, 0, 'none', 1001) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, 2, 0, 'none', 1, 0) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, 2, 0, 'none', 1, 300, -1) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, 2, 0, 'none', 1, 300, 'NaN') FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, 2, 0, 'none', 1, 300, 'Infinity') FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, 2, 0, 'none', 1, 300, 1e-4, -1) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, 3, 0, 'none', 1, 300, 1e-4, 2) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, 2, 0, 'nonesuch') FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, 1 + i / 7) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, 2, i) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, 2, 0, CASE WHEN i < 5 THEN 'none' ELSE 'zscore' END::segkpi.kmeans_transform) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans_choose_k(f, 3, 2) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans_choose_k(f, 0, 2) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans_choose_k(f, 2, 1001) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans_choose_k(f, 2, 20) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans_choose_k(f, 2, 3, 0, 'none', 1, 300, 1e-4, 0, -1) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans_choose_k(f, NULL, 3) FROM kb$$);

-- initial centroids: shape, NULLs, non-finite, size, dimensions, duplicates
SELECT sqlerr($$SELECT segkpi.kmeans(f, ARRAY[1, 2]::float8[]) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, ARRAY[[1, NULL]]::float8[]) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, ARRAY[[1, 'NaN']]::float8[]) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, ARRAY[[1, 2, 3]]::float8[]) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, array_fill(0::float8, ARRAY[1001, 2])) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(ARRAY[1, 1]::float8[], ARRAY[[1, 1], [2, 2]]::float8[]) FROM kb$$);
SELECT sqlerr($$SELECT segkpi.kmeans(f, NULL::float8[]) FROM kb$$);

-- the support functions take `internal`, so SQL cannot call them (42883)
SELECT sqlerr($$SELECT segkpi.kmeans_sfunc(NULL, '{1}', 2)$$);
SELECT sqlerr($$SELECT segkpi.kmeans_final(NULL)$$);

-- memory: a fit larger than maintenance_work_mem (54000, naming it)
SET maintenance_work_mem = '1MB';
SELECT sqlerr($$SELECT segkpi.kmeans(ARRAY[i, i % 7, i % 11]::float8[], 2) FROM generate_series(1, 100000) i$$);
-- ... while a sample of it fits
SELECT segkpi.kmeans_k(segkpi.kmeans(ARRAY[i, i % 7, i % 11]::float8[], 2, 0, 'none', 1, 300, 1e-4, 1000))
  FROM generate_series(1, 100000) i;
RESET maintenance_work_mem;

-- kmeans_assign: dimensions, NULL elements, NaN; NULL arguments give NULL
CREATE TABLE km AS SELECT segkpi.kmeans(f, 2) AS m FROM kb;
SELECT sqlerr($$SELECT segkpi.kmeans_assign(m, ARRAY[1]::float8[]) FROM km$$);
SELECT sqlerr($$SELECT segkpi.kmeans_assign(m, ARRAY[1, 2, 3]::float8[]) FROM km$$);
SELECT sqlerr($$SELECT segkpi.kmeans_assign(m, ARRAY[1, NULL]::float8[]) FROM km$$);
SELECT sqlerr($$SELECT segkpi.kmeans_assign(m, ARRAY[1, 'NaN']::float8[]) FROM km$$);
SELECT sqlerr($$SELECT segkpi.kmeans_assign(m, '{}') FROM km$$);
SELECT segkpi.kmeans_assign(m, NULL) IS NULL AS null_features, segkpi.kmeans_assign(NULL, ARRAY[1, 2]::float8[]) IS NULL AS null_model FROM km;

-- model text: malformed, truncated or inconsistent text is 22P02.
-- First the valid text these cases are cut from or altered.
SELECT sqlerr($$SELECT 'kmeans v1 k=2 dim=1 transform=none n=6 iterations=1 converged=1 inertia=4 shift=0 scale=1 cluster=3,2,1 cluster=3,2,11'::segkpi.kmeans_model$$);
-- truncated at several places
SELECT sqlerr($$SELECT 'kmeans v1 k=2 dim=1 transform=none n=6 iterations=1 converged=1 inertia=4 shift=0 scale=1 cluster=3,2,1 cluster=3,2'::segkpi.kmeans_model$$);
SELECT sqlerr($$SELECT 'kmeans v1 k=2 dim=1 transform=none n=6 iterations=1 converged=1 inertia=4 shift=0 scale=1 cluster=3,2,1'::segkpi.kmeans_model$$);
SELECT sqlerr($$SELECT 'kmeans v1 k=2 dim=1 transform=none n=6 iterations=1 converged=1 inertia=4 shift=0 scale=1 cluster=3,2,1 cluster=3,2,'::segkpi.kmeans_model$$);
SELECT sqlerr($$SELECT 'kmeans v1 k=2 dim=1 transform=none'::segkpi.kmeans_model$$);
SELECT sqlerr($$SELECT 'kmeans v1'::segkpi.kmeans_model$$);
SELECT sqlerr($$SELECT ''::segkpi.kmeans_model$$);
-- inconsistent: sizes do not add up to n, inertia is not the sum of
-- wcss, a shift for "none", a scale of 0, k and cluster count differ,
-- a negative wcss, an unknown transform or version, extra text
SELECT sqlerr($$SELECT 'kmeans v1 k=2 dim=1 transform=none n=7 iterations=1 converged=1 inertia=4 shift=0 scale=1 cluster=3,2,1 cluster=3,2,11'::segkpi.kmeans_model$$);
SELECT sqlerr($$SELECT 'kmeans v1 k=2 dim=1 transform=none n=6 iterations=1 converged=1 inertia=5 shift=0 scale=1 cluster=3,2,1 cluster=3,2,11'::segkpi.kmeans_model$$);
SELECT sqlerr($$SELECT 'kmeans v1 k=2 dim=1 transform=none n=6 iterations=1 converged=1 inertia=4 shift=1 scale=1 cluster=3,2,1 cluster=3,2,11'::segkpi.kmeans_model$$);
SELECT sqlerr($$SELECT 'kmeans v1 k=2 dim=1 transform=zscore n=6 iterations=1 converged=1 inertia=4 shift=1 scale=0 cluster=3,2,1 cluster=3,2,11'::segkpi.kmeans_model$$);
SELECT sqlerr($$SELECT 'kmeans v1 k=3 dim=1 transform=none n=6 iterations=1 converged=1 inertia=4 shift=0 scale=1 cluster=3,2,1 cluster=3,2,11'::segkpi.kmeans_model$$);
SELECT sqlerr($$SELECT 'kmeans v1 k=2 dim=1 transform=none n=6 iterations=1 converged=1 inertia=0 shift=0 scale=1 cluster=3,-2,1 cluster=3,2,11'::segkpi.kmeans_model$$);
SELECT sqlerr($$SELECT 'kmeans v1 k=2 dim=1 transform=cube n=6 iterations=1 converged=1 inertia=4 shift=0 scale=1 cluster=3,2,1 cluster=3,2,11'::segkpi.kmeans_model$$);
SELECT sqlerr($$SELECT 'kmeans v2 k=2 dim=1 transform=none n=6 iterations=1 converged=1 inertia=4 shift=0 scale=1 cluster=3,2,1 cluster=3,2,11'::segkpi.kmeans_model$$);
SELECT sqlerr($$SELECT 'kmeans v1 k=2 dim=1 transform=none n=6 iterations=1 converged=1 inertia=4 shift=0 scale=1 cluster=3,2,1 cluster=3,2,11 '::segkpi.kmeans_model$$);
SELECT sqlerr($$SELECT 'kmeans v1 k=2 dim=1 transform=none n=6 iterations=1 converged=1 inertia=NaN shift=0 scale=1 cluster=3,2,1 cluster=3,2,11'::segkpi.kmeans_model$$);
SELECT sqlerr($$SELECT 'kmeans v1 k=2 dim=2 transform=none n=6 iterations=1 converged=1 inertia=4 shift=0 scale=1 cluster=3,2,1 cluster=3,2,11'::segkpi.kmeans_model$$);
SELECT sqlerr($$SELECT 'kmeans v1 k=1001 dim=1 transform=none n=6 iterations=1 converged=1 inertia=4 shift=0 scale=1 cluster=3,2,1 cluster=3,2,11'::segkpi.kmeans_model$$);
SELECT sqlerr($$SELECT 'garbage'::segkpi.kmeans_model$$);
-- n past the largest bigint (issue 20): the sizes are shown as bigint, so
-- such a model is refused; the largest bigint itself is fine and shown as is
SELECT sqlerr($$SELECT 'kmeans v1 k=2 dim=1 transform=none n=9223372036854775808 iterations=1 converged=1 inertia=4 shift=0 scale=1 cluster=9223372036854775807,2,1 cluster=1,2,11'::segkpi.kmeans_model$$);
SELECT sqlerr($$SELECT * FROM segkpi.kmeans_centroids('kmeans v1 k=2 dim=1 transform=none n=18446744073709551615 iterations=1 converged=1 inertia=4 shift=0 scale=1 cluster=18446744073709551614,2,1 cluster=1,2,11')$$);
SELECT cluster, size FROM segkpi.kmeans_centroids('kmeans v1 k=2 dim=1 transform=none n=9223372036854775807 iterations=1 converged=1 inertia=4 shift=0 scale=1 cluster=9223372036854775806,2,1 cluster=1,2,11') ORDER BY cluster;
-- the message quotes at most 80 characters of a long text
\set VERBOSITY default
SELECT ('kmeans v1 k=2 dim=1 transform=none n=6 iterations=1 converged=1 inertia=4 shift=0 scale=1 cluster=3,2,1 cluster=3,2,' || repeat('9', 100))::segkpi.kmeans_model;
\set VERBOSITY terse
-- a valid text is stored canonically (numbers rewritten with %.17g)
SELECT 'kmeans v1 k=2 dim=1 transform=none n=6 iterations=1 converged=1 inertia=4.0 shift=0 scale=1 cluster=3,2,1.0 cluster=3,2,11E0'::segkpi.kmeans_model;
