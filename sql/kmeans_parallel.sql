-- Parallel plans: kmeans and kmeans_choose_k are split into partial
-- states (serialized by the workers, combined in the leader), and the
-- models are identical, byte for byte, to those of a serial plan: the
-- final function sorts the rows by their seeded key before fitting.
CREATE TABLE par_pts AS
SELECT i, i % 4 AS region,
       ARRAY[(i % 5) * 3 + (hashint4(i) % 1000) / 1000.0,
             (i % 5) * -2 + (hashint4(i + 7) % 1000) / 1000.0,
             ln(1 + i % 97)]::float8[] AS f
  FROM generate_series(1, 20000) i;
ANALYZE par_pts;

CREATE TABLE serial_models AS
SELECT 'all' AS what, segkpi.kmeans(f, 5, 11, 'zscore', 3) AS m FROM par_pts
UNION ALL SELECT 'sample', segkpi.kmeans(f, 5, 11, 'zscore', 3, 300, 1e-4, 2000) FROM par_pts
UNION ALL SELECT 'region ' || region, segkpi.kmeans(f, 3, 5) FROM par_pts GROUP BY region;
CREATE TABLE serial_k AS
SELECT s.k, s.inertia, s.silhouette, s.davies_bouldin, s.model
  FROM unnest((SELECT segkpi.kmeans_choose_k(f, 2, 4, 9, 'zscore', 1, 300, 1e-4, 0, 500) FROM par_pts)) s;

SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET parallel_leader_participation = off;
SET work_mem = '4MB';  -- the grouped plan below depends on it

EXPLAIN (COSTS OFF) SELECT segkpi.kmeans(f, 5, 11, 'zscore', 3) FROM par_pts;
EXPLAIN (COSTS OFF) SELECT region, segkpi.kmeans(f, 3, 5) FROM par_pts GROUP BY region;

CREATE TABLE parallel_models AS
SELECT 'all' AS what, segkpi.kmeans(f, 5, 11, 'zscore', 3) AS m FROM par_pts
UNION ALL SELECT 'sample', segkpi.kmeans(f, 5, 11, 'zscore', 3, 300, 1e-4, 2000) FROM par_pts
UNION ALL SELECT 'region ' || region, segkpi.kmeans(f, 3, 5) FROM par_pts GROUP BY region;
CREATE TABLE parallel_k AS
SELECT s.k, s.inertia, s.silhouette, s.davies_bouldin, s.model
  FROM unnest((SELECT segkpi.kmeans_choose_k(f, 2, 4, 9, 'zscore', 1, 300, 1e-4, 0, 500) FROM par_pts)) s;

SELECT s.what, s.m::text = p.m::text AS same_model, segkpi.kmeans_k(p.m) AS k,
       (SELECT sum(size) FROM segkpi.kmeans_centroids(p.m)) AS rows_fitted
  FROM serial_models s JOIN parallel_models p USING (what) ORDER BY s.what;
SELECT s.k, s.model::text = p.model::text AS same_model, s.inertia = p.inertia AS same_inertia,
       s.silhouette = p.silhouette AS same_silhouette, s.davies_bouldin = p.davies_bouldin AS same_db
  FROM serial_k s JOIN parallel_k p USING (k) ORDER BY s.k;

-- assignment in a parallel scan, with the model from a scalar subquery
-- (an init plan); its shape, since the text form writes the init plan's
-- parameter differently from PostgreSQL 17 on
SELECT plan_shape($$
SELECT segkpi.kmeans_assign((SELECT m FROM serial_models WHERE what = 'all'), f) AS c, count(*)
  FROM par_pts GROUP BY 1$$);
-- the model's cluster sizes are what assignment gives on the same rows
SELECT array_agg(size ORDER BY cluster) = (
           SELECT array_agg(n ORDER BY c) FROM (
               SELECT segkpi.kmeans_assign((SELECT m FROM serial_models WHERE what = 'all'), f) AS c, count(*) AS n
                 FROM par_pts GROUP BY 1) x) AS sizes_match_assignment
  FROM segkpi.kmeans_centroids((SELECT m FROM serial_models WHERE what = 'all'));

-- Inputs of 4 MB and more: the rows (here 240000 x 3 doubles, 5.5 MB) and
-- the fit's workspace live in mappings of their own, grown by copying and
-- unmapped when the aggregate's memory goes.  Serial and parallel fits
-- agree; an error after the rows were mapped leaves the session usable;
-- small groups of a GROUP BY still fit beside a large one.
CREATE TABLE big_pts AS
SELECT i, ARRAY[(i % 5) * 3 + (hashint4(i) % 1000) / 1000.0,
                (i % 5) * -2 + (hashint4(i + 7) % 1000) / 1000.0,
                (hashint4(i + 13) % 1000) / 1000.0]::float8[] AS f
  FROM generate_series(1, 240000) i;
ANALYZE big_pts;
EXPLAIN (COSTS OFF) SELECT segkpi.kmeans(f, 5, 3) AS m FROM big_pts;
CREATE TABLE big_parallel AS SELECT segkpi.kmeans(f, 5, 3) AS m FROM big_pts;
RESET max_parallel_workers_per_gather;
SET max_parallel_workers_per_gather = 0;
SELECT segkpi.kmeans(f, 5, 3)::text = (SELECT m::text FROM big_parallel) AS same_model,
       segkpi.kmeans_iterations(segkpi.kmeans(f, 5, 3)) > 0 AS fitted
  FROM big_pts;
SELECT sum(size) AS rows_fitted FROM segkpi.kmeans_centroids((SELECT m FROM big_parallel));
-- a bad row after 240000 good ones
SELECT segkpi.kmeans(f, 5, 3)
  FROM (SELECT f FROM big_pts UNION ALL SELECT ARRAY[1, 'NaN', 2]::float8[]) x;
SELECT i % 2 AS half, (SELECT sum(size) FROM segkpi.kmeans_centroids(segkpi.kmeans(f, 2, 1))) AS rows_fitted
  FROM (SELECT i, f FROM big_pts UNION ALL SELECT -1, ARRAY[0, 0, 0]::float8[]
        UNION ALL SELECT -3, ARRAY[1, 1, 1]::float8[]) x
 WHERE i > 0 OR i IN (-1, -3)
 GROUP BY i % 2 ORDER BY 1;
