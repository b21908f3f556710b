-- k-means: fitting, models, assignment, accessors, centroids, choosing k.
-- Every expected number is checked against an independent SQL oracle
-- (group means, silhouette and Davies-Bouldin written out in SQL) or is
-- small enough to verify by hand (see the comments).

-- Six points on a line: k = 2 gives {0,1,2} and {10,11,12}, centroids 1
-- and 11, each cluster's wcss 1 + 0 + 1 = 2, inertia 4.
CREATE TABLE line (x float8);
INSERT INTO line VALUES (0), (1), (2), (10), (11), (12);
SELECT c.centroid, c.size, c.wcss
  FROM (SELECT segkpi.kmeans(ARRAY[x], 2) AS m FROM line) f, segkpi.kmeans_centroids(f.m) c
 ORDER BY c.centroid;
SELECT segkpi.kmeans_inertia(m), segkpi.kmeans_k(m), segkpi.kmeans_dim(m),
       segkpi.kmeans_transform(m), segkpi.kmeans_converged(m), segkpi.kmeans_iterations(m) >= 1 AS iterated
  FROM (SELECT segkpi.kmeans(ARRAY[x], 2) AS m FROM line) f;
-- the model text: canonical, and read back unchanged
SELECT m FROM (SELECT segkpi.kmeans(ARRAY[x], 2, 5) AS m FROM line) f;
SELECT m::text::segkpi.kmeans_model::text = m::text AS round_trip
  FROM (SELECT segkpi.kmeans(ARRAY[x], 2, 5) AS m FROM line) f;

-- Three groups of ten points in 2-D (g = i % 3), far apart; the fit finds
-- the groups, so every centroid equals its group's mean (oracle: avg()).
CREATE TABLE blobs AS
SELECT i, i % 3 AS g,
       ARRAY[(i % 3) * 10 + (i * 7 % 5) / 10.0 + 1, (i % 3) * 5 + (i * 11 % 7) / 10.0 + 1]::float8[] AS f
  FROM generate_series(1, 30) i;
CREATE TABLE blob_models AS
SELECT t, segkpi.kmeans(f, 3, 42, t) AS m
  FROM blobs, unnest(enum_range(NULL::segkpi.kmeans_transform)) t GROUP BY t;
-- none and zscore: arithmetic means; log_zscore: expm1(mean(log1p(x)))
WITH oracle AS (
    SELECT g, avg(f[1]) AS a1, avg(f[2]) AS a2,
           exp(avg(ln(1 + f[1]))) - 1 AS l1, exp(avg(ln(1 + f[2]))) - 1 AS l2
      FROM blobs GROUP BY g),
fitted AS (
    SELECT bm.t, c.cluster, c.centroid, c.size
      FROM blob_models bm, segkpi.kmeans_centroids(bm.m) c)
SELECT t, count(*) AS clusters, sum(size) AS rows,
       max(CASE WHEN t = 'log_zscore' THEN greatest(abs(centroid[1] - l1), abs(centroid[2] - l2))
                ELSE greatest(abs(centroid[1] - a1), abs(centroid[2] - a2)) END) < 1e-9 AS centroids_match
  FROM fitted JOIN oracle
    ON (CASE WHEN t = 'log_zscore' THEN abs(centroid[1] - l1) ELSE abs(centroid[1] - a1) END) < 1
 GROUP BY t ORDER BY t;
-- assignment reproduces the groups; each cluster's wcss is the sum of
-- squared distances of its rows in the transformed space, and their sum
-- is the inertia
SELECT t, count(DISTINCT (g, segkpi.kmeans_assign(m, f))) AS group_cluster_pairs,
       count(DISTINCT segkpi.kmeans_assign(m, f)) AS clusters
  FROM blobs, blob_models GROUP BY t ORDER BY t;
SELECT t, abs(segkpi.kmeans_inertia(m) - (SELECT sum(wcss) FROM segkpi.kmeans_centroids(m))) < 1e-12 AS inertia_is_sum
  FROM blob_models ORDER BY t;
-- transform none: wcss by hand-written SQL
WITH c AS (SELECT cl.* FROM blob_models, segkpi.kmeans_centroids(m) cl WHERE t = 'none')
SELECT c.cluster, round(c.wcss::numeric, 9) AS wcss,
       round(sum((b.f[1] - c.centroid[1]) ^ 2 + (b.f[2] - c.centroid[2]) ^ 2)::numeric, 9) AS oracle
  FROM c JOIN blobs b ON segkpi.kmeans_assign((SELECT m FROM blob_models WHERE t = 'none'), b.f) = c.cluster
 GROUP BY c.cluster, c.wcss ORDER BY c.cluster;

-- Determinism: the model depends on the rows, not on their order
SELECT count(DISTINCT m::text) AS distinct_models FROM (
    SELECT segkpi.kmeans(f, 3, 7 ORDER BY i) AS m FROM blobs
    UNION ALL SELECT segkpi.kmeans(f, 3, 7 ORDER BY -i) FROM blobs
    UNION ALL SELECT segkpi.kmeans(f, 3, 7 ORDER BY hashint4(i)) FROM blobs
    UNION ALL SELECT segkpi.kmeans(f, 3, 7, 'none', 1, 300, 1e-4, 0 ORDER BY f[2] DESC) FROM blobs) x;
-- ... and with restarts and a sample too
SELECT count(DISTINCT m::text) AS distinct_models FROM (
    SELECT segkpi.kmeans(f, 3, 7, 'zscore', 4, 300, 0, 12 ORDER BY i) AS m FROM blobs
    UNION ALL SELECT segkpi.kmeans(f, 3, 7, 'zscore', 4, 300, 0, 12 ORDER BY -i) FROM blobs
    UNION ALL SELECT segkpi.kmeans(f, 3, 7, 'zscore', 4, 300, 0, 12 ORDER BY hashint4(i)) FROM blobs) x;
-- a sample of 12 rows: the model was fitted on 12
SELECT sum(size) FROM segkpi.kmeans_centroids(
    (SELECT segkpi.kmeans(f, 3, 7, 'zscore', 4, 300, 0, 12) FROM blobs));
-- rows with a NULL features array are skipped
SELECT sum(size) FROM segkpi.kmeans_centroids(
    (SELECT segkpi.kmeans(CASE WHEN i <= 6 THEN NULL ELSE f END, 3) FROM blobs));

-- Explicit initial centroids: (0,0) and (100,100) on the line data in
-- 2-D; the first takes every point within reach, the second the far
-- group: by hand, centroids (1,1) and (11,11) after one move.
SELECT c.cluster, c.centroid, c.size
  FROM (SELECT segkpi.kmeans(ARRAY[x, x], ARRAY[[0, 0], [100, 100]]::float8[]) AS m FROM line) f,
       segkpi.kmeans_centroids(f.m) c ORDER BY c.cluster;
SELECT segkpi.kmeans_iterations(m), segkpi.kmeans_transform(m)
  FROM (SELECT segkpi.kmeans(ARRAY[x, x], ARRAY[[0, 0], [100, 100]]::float8[], 'zscore', 50, 0) AS m FROM line) f;

-- Choosing k on the blobs: scores against SQL oracles for silhouette
-- (mean over rows of (b - a) / max(a, b)) and Davies-Bouldin.
CREATE TABLE choose AS
SELECT s.* FROM unnest((SELECT segkpi.kmeans_choose_k(f, 1, 5, 3) FROM blobs)) s;
SELECT k, round(inertia::numeric, 6) AS inertia, round(silhouette::numeric, 6) AS silhouette,
       round(davies_bouldin::numeric, 6) AS davies_bouldin, silhouette_n,
       abs(inertia - segkpi.kmeans_inertia(model)) < 1e-9 AS model_matches
  FROM choose ORDER BY k;
WITH lab AS (
    SELECT c.k, b.i, b.f, segkpi.kmeans_assign(c.model, b.f) AS cl FROM choose c, blobs b WHERE c.k >= 2),
pair AS (
    SELECT p.k, p.i, p.cl, q.cl AS qcl, avg(sqrt((p.f[1] - q.f[1]) ^ 2 + (p.f[2] - q.f[2]) ^ 2)) AS d,
           count(*) AS cnt
      FROM lab p JOIN lab q ON p.k = q.k AND p.i <> q.i GROUP BY p.k, p.i, p.cl, q.cl),
s AS (
    SELECT k, i,
           max(d) FILTER (WHERE qcl = cl) AS a, min(d) FILTER (WHERE qcl <> cl) AS b
      FROM pair GROUP BY k, i),
sil AS (SELECT k, avg(CASE WHEN a IS NULL THEN 0 ELSE (b - a) / greatest(a, b) END) AS silhouette FROM s GROUP BY k),
cen AS (SELECT k, cl, avg(f[1]) AS m1, avg(f[2]) AS m2 FROM lab GROUP BY k, cl),
sc AS (SELECT l.k, l.cl, avg(sqrt((l.f[1] - c.m1) ^ 2 + (l.f[2] - c.m2) ^ 2)) AS s
         FROM lab l JOIN cen c USING (k, cl) GROUP BY l.k, l.cl),
db AS (SELECT k, avg(r) AS db FROM (
         SELECT x.k, x.cl, max((x.s + y.s) / sqrt((cx.m1 - cy.m1) ^ 2 + (cx.m2 - cy.m2) ^ 2)) AS r
           FROM sc x JOIN sc y ON x.k = y.k AND x.cl <> y.cl
           JOIN cen cx ON cx.k = x.k AND cx.cl = x.cl JOIN cen cy ON cy.k = y.k AND cy.cl = y.cl
          GROUP BY x.k, x.cl) r GROUP BY k)
SELECT c.k, abs(c.silhouette - sil.silhouette) < 1e-9 AS silhouette_ok,
       abs(c.davies_bouldin - db.db) < 1e-9 AS davies_bouldin_ok
  FROM choose c JOIN sil USING (k) JOIN db USING (k) ORDER BY c.k;
-- a sampled silhouette (8 of 30 rows) and one skipped (cap 0)
SELECT k, silhouette_n, silhouette IS NULL AS skipped
  FROM unnest((SELECT segkpi.kmeans_choose_k(f, 2, 3, 3, 'none', 1, 300, 1e-4, 0, 8) FROM blobs)) ORDER BY k;
SELECT k, silhouette_n, silhouette IS NULL AS skipped, davies_bouldin IS NOT NULL AS has_db
  FROM unnest((SELECT segkpi.kmeans_choose_k(f, 2, 3, 3, 'none', 1, 300, 1e-4, 0, 0) FROM blobs)) ORDER BY k;

-- a model stored in a table and used on every row (the cache is keyed by
-- the model's bytes, so two models in one query each give their own answer)
CREATE TABLE stored (name text, m segkpi.kmeans_model);
INSERT INTO stored SELECT 'k2', segkpi.kmeans(f, 2, 1) FROM blobs;
INSERT INTO stored SELECT 'k3', segkpi.kmeans(f, 3, 1) FROM blobs;
SELECT s.name, count(DISTINCT segkpi.kmeans_assign(s.m, b.f)) AS clusters_used
  FROM stored s CROSS JOIN blobs b GROUP BY s.name ORDER BY s.name;
