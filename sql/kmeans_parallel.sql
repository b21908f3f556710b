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
EXPLAIN (COSTS OFF)
SELECT segkpi.kmeans_assign((SELECT m FROM serial_models WHERE what = 'all'), f) AS c, count(*)
  FROM par_pts GROUP BY 1;
-- the model's cluster sizes are what assignment gives on the same rows
SELECT array_agg(size ORDER BY cluster) = (
           SELECT array_agg(n ORDER BY c) FROM (
               SELECT segkpi.kmeans_assign((SELECT m FROM serial_models WHERE what = 'all'), f) AS c, count(*) AS n
                 FROM par_pts GROUP BY 1) x) AS sizes_match_assignment
  FROM segkpi.kmeans_centroids((SELECT m FROM serial_models WHERE what = 'all'));
