-- kmeans_stable: a k-means segmentation keeps its cluster numbers from
-- snapshot to snapshot, and its clusters can be given business names.
-- Nine customers in three groups by money spent (one feature, no
-- transform, so distances are in plain units): customers 1-3 spend 10-12
-- a month, 4-6 spend 97-99, 7-9 spend 994-996.  Each orders in January
-- and February, so the totals double from the first snapshot (Feb 1st:
-- means 11, 98, 995) to the second (Mar 1st: 22, 196, 1990).
SET timezone = 'UTC';
SET ROLE regress_segkpi_owner;  -- who owns customer_features
CREATE SCHEMA ks;
CREATE TABLE ks.orders (cust bigint, at timestamptz, total numeric);
INSERT INTO ks.orders
SELECT c, d, CASE WHEN c <= 3 THEN 9 + c WHEN c <= 6 THEN 93 + c ELSE 987 + c END
  FROM generate_series(1, 9) c, (VALUES ('2024-01-10'::timestamptz), ('2024-02-10')) v(d);
SELECT segkpi.bind_orders('ks.orders', 'cust', 'at', 'total');
DELETE FROM segkpi.bindings WHERE source <> 'orders';
DELETE FROM segkpi.segmentations;
DELETE FROM segkpi.snapshots;
UPDATE segkpi.settings SET min_segment_size = 0;
INSERT INTO segkpi.segmentations VALUES
    ('value', 'kmeans', '{"features": ["monetary"], "k": 3, "transform": "none", "restarts": 1}');

-- Fitted afresh, the two snapshots' data come out numbered differently
-- (k-means++ draws its first centre from other rows): the small spenders
-- are cluster 1 on Feb 1st but 3 on Mar 1st, the big ones 2 then 1.
SELECT as_of, (SELECT string_agg(segkpi.kmeans_assign(m, ARRAY[v * mult]) || '', ', ' ORDER BY v)
                 FROM (VALUES (11::float8), (98), (995)) x(v)) AS raw_small_mid_big
  FROM (VALUES ('2024-02-01'::timestamptz, 1), ('2024-03-01', 2)) a(as_of, mult),
       LATERAL (SELECT segkpi.kmeans(ARRAY[s::float8], 3, 0::bigint, 'none'::segkpi.kmeans_transform, 1) AS m
                  FROM (SELECT sum(total) AS s FROM ks.orders WHERE at < a.as_of GROUP BY cust) q) f
 ORDER BY as_of;

-- The pipeline matches the second fit to the first: the same numbers
-- (1 small, 2 big, 3 middle, as the first fit had them).
SELECT segkpi.refresh('2024-02-01') AS feb, segkpi.refresh('2024-03-01') AS mar \gset
SELECT s.as_of, c.cluster, round(c.centroid[1]::numeric, 1) AS centroid, c.size
  FROM segkpi.segment_models m JOIN segkpi.snapshots s USING (snapshot_id),
       LATERAL segkpi.kmeans_centroids(m.model) c
 ORDER BY s.as_of, c.cluster;
-- Feb 1st had no earlier model; Mar 1st is matched to it.  Drift: how far
-- each centroid moved (11 -> 22, 98 -> 196, 995 -> 1990).
SELECT snapshot_id = :mar AS is_mar, matched_to = :feb AS to_feb, match_note, drift
  FROM segkpi.segment_models ORDER BY snapshot_id;
-- So migration shows nobody moving: no relabelling moves.
SELECT from_segment, to_segment, customers FROM segkpi.segment_migration ORDER BY 1, 2;
SELECT DISTINCT segment, array_agg(customer_id) OVER (PARTITION BY snapshot_id, segment ORDER BY customer_id
                                                      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS members
  FROM segkpi.customer_segments WHERE snapshot_id = :mar ORDER BY 1;

-- Business names: shown beside the segment, which stays "Cluster n" (a
-- name given later applies to every snapshot and moves nobody).
INSERT INTO segkpi.cluster_names VALUES ('value', 2, 'Big spenders'), ('value', 1, 'Occasional');
SELECT segment, name, customers, centroid, matched, match_note, drift
  FROM segkpi.cluster_profiles ORDER BY segment;
SELECT segment, segment_name, customers, revenue FROM segkpi.kpi_latest ORDER BY segment;
SELECT segment, segment_name FROM segkpi.kpi_history ORDER BY segment;
SELECT from_segment_name, to_segment_name, customers FROM segkpi.segment_migration ORDER BY 1, 2;
SELECT sqlerr($$INSERT INTO segkpi.cluster_names VALUES ('value', 3, 'Big spenders')$$);
SELECT sqlerr($$INSERT INTO segkpi.cluster_names VALUES ('value', 0, 'None')$$);
SELECT sqlerr($$INSERT INTO segkpi.cluster_names VALUES ('nosuch', 1, 'X')$$);

-- A change of k cannot be matched, and says so; the clusters keep the
-- fit's own numbers.  The next snapshot with k = 2 again is matched.
UPDATE segkpi.segmentations SET params = params || '{"k": 2}' WHERE name = 'value';
SELECT segkpi.refresh('2024-03-02') AS k2 \gset
SELECT segkpi.refresh('2024-03-03') AS k2b \gset
SELECT snapshot_id - :mar AS after_mar, matched_to - :mar AS matched_after_mar, match_note
  FROM segkpi.segment_models WHERE snapshot_id > :mar ORDER BY snapshot_id;
SELECT DISTINCT matched, match_note FROM segkpi.cluster_profiles;
-- other features, another transform: not matched either
UPDATE segkpi.segmentations SET params = params || '{"features": ["monetary", "frequency"]}' WHERE name = 'value';
SELECT segkpi.refresh('2024-03-04') IS NOT NULL AS refreshed;
UPDATE segkpi.segmentations SET params = params || '{"transform": "zscore"}' WHERE name = 'value';
SELECT segkpi.refresh('2024-03-05') IS NOT NULL AS refreshed;
SELECT s.as_of, m.matched_to IS NOT NULL AS matched, m.match_note
  FROM segkpi.segment_models m JOIN segkpi.snapshots s USING (snapshot_id)
 WHERE s.as_of >= '2024-03-04' ORDER BY s.as_of;
-- A backfill is matched to the snapshot before it by as_of (Feb 1st).
UPDATE segkpi.segmentations SET params = '{"features": ["monetary"], "k": 3, "transform": "none", "restarts": 1}';
SELECT segkpi.refresh('2024-02-15') AS backfill \gset
SELECT matched_to = :feb AS to_feb, match_note FROM segkpi.segment_models WHERE snapshot_id = :backfill;

-- The primitives.  kmeans_match pairs the clusters with the least total
-- squared distance: centroids {0, 2} against {1.9, 4} pair 0 - 1.9 and
-- 2 - 4 (3.61 + 4), not the closest pair first (2 - 1.9, then 0 - 4: 16.01).
SELECT * FROM segkpi.kmeans_match(
    'kmeans v1 k=2 dim=1 transform=none n=2 iterations=1 converged=1 inertia=0 shift=0 scale=1 cluster=1,0,0 cluster=1,0,2',
    'kmeans v1 k=2 dim=1 transform=none n=2 iterations=1 converged=1 inertia=0 shift=0 scale=1 cluster=1,0,1.9 cluster=1,0,4')
 ORDER BY cluster;
SELECT segkpi.kmeans_relabel(
    'kmeans v1 k=2 dim=1 transform=none n=3 iterations=1 converged=1 inertia=0 shift=0 scale=1 cluster=1,0,0 cluster=2,0,2',
    '{2,1}');
SELECT sqlerr($$SELECT segkpi.kmeans_relabel(
    'kmeans v1 k=2 dim=1 transform=none n=3 iterations=1 converged=1 inertia=0 shift=0 scale=1 cluster=1,0,0 cluster=2,0,2',
    '{1,1}')$$);
SELECT sqlerr($$SELECT segkpi.kmeans_relabel(
    'kmeans v1 k=2 dim=1 transform=none n=3 iterations=1 converged=1 inertia=0 shift=0 scale=1 cluster=1,0,0 cluster=2,0,2',
    '{1,2,3}')$$);
SELECT sqlerr($$SELECT * FROM segkpi.kmeans_match(
    'kmeans v1 k=2 dim=1 transform=none n=2 iterations=1 converged=1 inertia=0 shift=0 scale=1 cluster=1,0,0 cluster=1,0,2',
    'kmeans v1 k=1 dim=1 transform=none n=2 iterations=1 converged=1 inertia=0 shift=0 scale=1 cluster=2,0,1')$$);

DELETE FROM segkpi.segmentations;
DELETE FROM segkpi.snapshots;
DROP SCHEMA ks CASCADE;
RESET ROLE;
