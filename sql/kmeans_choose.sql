-- kmeans_choose: a k-means segmentation may give "k": {"min": a, "max": b};
-- the refresh fits every k, records the scores with the model and keeps
-- the k segkpi.kmeans_pick_k takes.
SET timezone = 'UTC';

-- The rule, on scores made up by hand (k, inertia, silhouette,
-- Davies-Bouldin, silhouette_n, iterations, model):
CREATE TEMP TABLE cases (name text, scores segkpi.kmeans_k_score[], previous_k integer);
INSERT INTO cases VALUES
    -- highest silhouette: k = 4
    ('first fit', ARRAY[ROW(3, 90, 0.50, 0.90, 100, 5, NULL), ROW(4, 60, 0.62, 0.70, 100, 5, NULL),
                        ROW(5, 50, 0.55, 0.80, 100, 5, NULL)]::segkpi.kmeans_k_score[], NULL),
    -- the previous k = 3 scores 0.50: 0.62 is 0.12 above it, more than 0.05: k = 4
    ('clearly better', ARRAY[ROW(3, 90, 0.50, 0.90, 100, 5, NULL), ROW(4, 60, 0.62, 0.70, 100, 5, NULL),
                             ROW(5, 50, 0.55, 0.80, 100, 5, NULL)]::segkpi.kmeans_k_score[], 3),
    -- the previous k = 3 scores 0.60: 0.62 is only 0.02 above it: k stays 3
    ('not clearly', ARRAY[ROW(3, 90, 0.60, 0.90, 100, 5, NULL), ROW(4, 60, 0.62, 0.70, 100, 5, NULL)]::segkpi.kmeans_k_score[], 3),
    -- 0.615, 0.62 and 0.612 are within 0.01 of the highest: the lowest
    -- Davies-Bouldin index among them (0.5, k = 5) wins
    ('tie-break', ARRAY[ROW(3, 90, 0.615, 0.80, 100, 5, NULL), ROW(4, 60, 0.62, 0.60, 100, 5, NULL),
                        ROW(5, 50, 0.612, 0.50, 100, 5, NULL), ROW(6, 40, 0.40, 0.10, 100, 5, NULL)]::segkpi.kmeans_k_score[], NULL),
    -- no silhouette (skipped): the lowest Davies-Bouldin index
    ('no silhouette', ARRAY[ROW(3, 90, NULL, 0.90, 0, 5, NULL), ROW(4, 60, NULL, 0.70, 0, 5, NULL)]::segkpi.kmeans_k_score[], NULL),
    -- a previous k outside the range is no candidate
    ('previous outside', ARRAY[ROW(3, 90, 0.50, 0.90, 100, 5, NULL), ROW(4, 60, 0.52, 0.70, 100, 5, NULL)]::segkpi.kmeans_k_score[], 6);
SELECT c.name, p.k, p.best_k, p.reason FROM cases c, segkpi.kmeans_pick_k(c.scores, c.previous_k, 0.05) p ORDER BY c.name;

-- In the pipeline: thirty customers in three groups by money spent (ten
-- each around 10, 100 and 1000; one feature, no transform).  k from 2 to
-- 4: three groups give the highest silhouette, so k = 3.
SET ROLE regress_segkpi_owner;  -- who owns customer_features
CREATE SCHEMA kc;
CREATE TABLE kc.orders (cust bigint, at timestamptz, total numeric);
INSERT INTO kc.orders
SELECT c, '2024-01-10', CASE WHEN c <= 10 THEN 5 + c WHEN c <= 20 THEN 90 + c ELSE 980 + c END
  FROM generate_series(1, 30) c;
SELECT segkpi.bind_orders('kc.orders', 'cust', 'at', 'total');
DELETE FROM segkpi.bindings WHERE source <> 'orders';
DELETE FROM segkpi.segmentations;
DELETE FROM segkpi.snapshots;
UPDATE segkpi.settings SET min_segment_size = 0;
INSERT INTO segkpi.segmentations VALUES
    ('value', 'kmeans', '{"features": ["monetary"], "k": {"min": 2, "max": 4}, "transform": "none", "restarts": 1}');
SELECT segkpi.refresh('2024-02-01') AS feb \gset
-- every k tried, with its scores; the k kept and why
SELECT t ->> 'k' AS k, round((t ->> 'silhouette')::numeric, 2) AS silhouette,
       (t ->> 'davies_bouldin')::numeric < 0.5 AS db_below_half, t ->> 'silhouette_n' AS sampled
  FROM segkpi.segment_models m, jsonb_array_elements(m.scores -> 'tried') t ORDER BY 1;
SELECT scores -> 'k' AS k, scores -> 'best_k' AS best_k, scores -> 'previous_k' AS previous_k,
       segkpi.kmeans_k(model) AS model_k, match_note
  FROM segkpi.segment_models;
-- the segments follow the kept model: three clusters of ten
SELECT segment, customers FROM segkpi.kpi_latest ORDER BY segment;
SELECT segment, count(*) FROM segkpi.customer_segments GROUP BY 1 ORDER BY 1;

-- The next snapshot fits again; k = 3 stays and the clusters are matched.
INSERT INTO kc.orders SELECT c, '2024-02-10', 1 FROM generate_series(1, 30) c;
SELECT segkpi.refresh('2024-03-01') AS mar \gset
SELECT snapshot_id = :mar AS is_mar, scores -> 'k' AS k, scores -> 'previous_k' AS previous_k, match_note
  FROM segkpi.segment_models ORDER BY snapshot_id;
SELECT from_segment, to_segment, customers FROM segkpi.segment_migration ORDER BY 1, 2;

-- A fixed k records no scores.
UPDATE segkpi.segmentations SET params = params || '{"k": 3}';
SELECT segkpi.refresh('2024-03-02') IS NOT NULL AS refreshed;
SELECT scores IS NULL AS no_scores, match_note FROM segkpi.segment_models ORDER BY snapshot_id DESC LIMIT 1;

-- Bad ranges.
UPDATE segkpi.segmentations SET params = params || '{"k": {"min": 1, "max": 3}}';
SELECT sqlerr($$SELECT segkpi.refresh('2024-03-03')$$);
UPDATE segkpi.segmentations SET params = params || '{"k": {"min": 4, "max": 3}}';
SELECT sqlerr($$SELECT segkpi.refresh('2024-03-03')$$);
UPDATE segkpi.segmentations SET params = params || '{"k": {"max": 3}}';
SELECT sqlerr($$SELECT segkpi.refresh('2024-03-03')$$);

DELETE FROM segkpi.segmentations;
DELETE FROM segkpi.snapshots;
DROP SCHEMA kc CASCADE;
RESET ROLE;
