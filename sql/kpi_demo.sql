-- The KPI pipeline on generated demo data (test/demo/generate.sql, 3,000
-- customers): internal consistency of every snapshot figure.
SET client_min_messages = warning;
\set scale 3000
\set seed 7
\set ECHO none
\o /dev/null
\i test/demo/generate.sql
\o
\set ECHO all
RESET client_min_messages;
SET timezone = 'UTC';
DELETE FROM segkpi.segmentations;
DELETE FROM segkpi.bindings;
DELETE FROM segkpi.snapshots;
UPDATE segkpi.settings SET min_segment_size = 0, period_grain = 'quarter', launch_date = '2024-01-01',
                           predict_clv = true;
\set ECHO none
\o /dev/null
\i test/demo/pipeline.sql
\o
\set ECHO all
SELECT segkpi.refresh('2024-07-01') AS s1 \gset
SELECT segkpi.refresh('2025-01-01') AS s2 \gset
SELECT :s2 > :s1 AS two_snapshots;

-- Revenue, orders, customers and new customers of the segments add up to
-- "(all)" in every period, and "(all)" revenue equals the orders table.
SELECT k.segmentation, count(*) AS periods,
       count(*) FILTER (WHERE s.revenue <> k.revenue OR s.orders <> k.orders
                           OR s.customers <> k.customers OR s.new_customers <> k.new_customers) AS mismatches
  FROM segkpi.segment_kpis k
  JOIN (SELECT snapshot_id, segmentation, period_start, sum(revenue) revenue, sum(orders) orders,
               sum(customers) customers, sum(new_customers) new_customers
          FROM segkpi.segment_kpis WHERE segment <> '(all)' GROUP BY 1, 2, 3) s USING (snapshot_id, segmentation, period_start)
 WHERE k.segment = '(all)' AND k.snapshot_id = :s2
 GROUP BY 1 ORDER BY 1;
SELECT (SELECT sum(revenue) FROM segkpi.segment_kpis WHERE snapshot_id = :s2 AND segmentation = 'rfm' AND segment = '(all)')
     = (SELECT sum(amount) FROM demo.orders WHERE ordered_at < '2025-01-01') AS revenue_matches_orders;
-- retention + churn = 1 wherever defined; ratios are NULL, never infinite
SELECT count(*) FILTER (WHERE retention_rate + churn_rate <> 1) AS bad_sum,
       count(*) FILTER (WHERE retention_rate IS NOT NULL) > 0 AS some_defined,
       count(*) FILTER (WHERE retention_rate < 0 OR retention_rate > 1) AS out_of_range
  FROM segkpi.segment_kpis WHERE snapshot_id = :s2;
-- CAC x new customers = attributed spend (to 1e-6); spend is conserved:
-- the segments' attributed spend never exceeds the period's total spend,
-- and equals it whenever the period has new customers
SELECT count(*) FILTER (WHERE abs(cac * new_customers - attributed_spend) > 1e-6) AS cac_mismatch
  FROM segkpi.segment_kpis WHERE snapshot_id = :s2 AND new_customers > 0;
SELECT k.segmentation,
       count(*) FILTER (WHERE abs(s.spend - k.attributed_spend) > 1e-6 AND k.new_customers > 0) AS lost_spend,
       count(*) FILTER (WHERE s.spend > k.attributed_spend + 1e-6) AS over_attributed
  FROM segkpi.segment_kpis k
  JOIN (SELECT snapshot_id, segmentation, period_start, sum(attributed_spend) spend
          FROM segkpi.segment_kpis WHERE segment <> '(all)' GROUP BY 1, 2, 3) s USING (snapshot_id, segmentation, period_start)
 WHERE k.segment = '(all)' AND k.snapshot_id = :s2
 GROUP BY 1 ORDER BY 1;
-- conversion is defined for the rule segmentation only
SELECT segmentation, bool_and(conversion_rate IS NULL) AS all_null, bool_or(conversion_rate IS NOT NULL) AS some_set
  FROM segkpi.segment_kpis WHERE snapshot_id = :s2 AND segment <> '(all)' GROUP BY 1 ORDER BY 1;
-- every customer is assigned once per segmentation; migration conserves customers
SELECT segmentation, count(*) = (SELECT customers FROM segkpi.snapshots WHERE snapshot_id = :s2) AS everyone
  FROM segkpi.customer_segments WHERE snapshot_id = :s2 GROUP BY 1 ORDER BY 1;
SELECT segmentation, sum(customers) FILTER (WHERE to_segment <> '(none)') =
       (SELECT customers FROM segkpi.snapshots WHERE snapshot_id = :s2) AS conserved
  FROM segkpi.segment_migration GROUP BY 1 ORDER BY 1;
-- k-means: the profiles account for every customer with features, and the
-- planted loyal big spenders share one cluster
SELECT sum(customers) = (SELECT count(*) FROM segkpi.customer_segments
                          WHERE snapshot_id = :s2 AND segmentation = 'clusters' AND segment LIKE 'Cluster %') AS profiles_cover,
       count(*) AS clusters
  FROM segkpi.cluster_profiles;
SELECT max(n) * 100 / sum(n) >= 80 AS loyal_together
  FROM (SELECT s.segment, count(*) n FROM segkpi.customer_segments s JOIN demo.customers c USING (customer_id)
         WHERE s.snapshot_id = :s2 AND s.segmentation = 'clusters' AND c.planted_group = 'loyal_big'
         GROUP BY 1) x;
-- predicted CLV: P(alive) is a probability, predictions only in the last
-- period, and Champions are worth more than customers At Risk
SELECT count(*) FILTER (WHERE p_alive < 0 OR p_alive > 1) AS bad_p_alive,
       count(*) FILTER (WHERE p_alive IS NOT NULL AND period_start <> (SELECT max(period_start) FROM segkpi.segment_kpis WHERE snapshot_id = :s2)) AS outside_last
  FROM segkpi.segment_kpis WHERE snapshot_id = :s2;
SELECT max(cltv_predicted) FILTER (WHERE segment = 'Champions') > max(cltv_predicted) FILTER (WHERE segment = 'At Risk') AS champions_worth_more,
       max(p_alive) FILTER (WHERE segment = 'Champions') > max(p_alive) FILTER (WHERE segment = 'At Risk') AS champions_more_alive
  FROM segkpi.segment_kpis WHERE snapshot_id = :s2 AND segmentation = 'rfm';
-- the planted loyal big spenders land mostly in the best RFM segments
SELECT round(100.0 * count(*) FILTER (WHERE s.segment IN ('Champions', 'Loyal Customers')) / count(*)) >= 80 AS loyal_found
  FROM segkpi.customer_segments s JOIN demo.customers c USING (customer_id)
 WHERE s.snapshot_id = :s2 AND s.segmentation = 'rfm' AND c.planted_group = 'loyal_big';

-- An RFM segmentation with its own bins is scored against cut points of
-- its own (rfm_cuts, rfm_apply); one with 5 bins reuses the scores that
-- customer_features keeps, named by its ruleset.  All of them match the
-- window function rfm_score over the features.
SELECT segkpi.rfm_ruleset_copy('default', 'regress_mine');
UPDATE segkpi.rfm_rules SET segment = 'Stars' WHERE ruleset = 'regress_mine' AND segment = 'Champions';
INSERT INTO segkpi.segmentations (name, method, params) VALUES
    ('rfm3', 'rfm', '{"bins": 3}'), ('rfm_mine', 'rfm', '{"ruleset": "regress_mine"}');
SELECT segkpi.refresh('2025-01-01') AS s3 \gset
SELECT s.segmentation, count(*) AS customers,
       count(*) FILTER (WHERE s.segment IS DISTINCT FROM coalesce((x.r).segment, '(unnamed)')) AS mismatches
  FROM segkpi.customer_segments s
  JOIN (SELECT f.customer_id, v.segmentation,
               CASE v.segmentation
                   WHEN 'rfm3' THEN segkpi.rfm_score(ROW(f.first_order_at, f.last_order_at, f.orders, f.refunds,
                                                         f.monetary)::segkpi.rfm_stats, '2025-01-01', 3) OVER w
                   WHEN 'rfm_mine' THEN segkpi.rfm_score(ROW(f.first_order_at, f.last_order_at, f.orders, f.refunds,
                                                             f.monetary)::segkpi.rfm_stats, '2025-01-01', 5,
                                                         'regress_mine') OVER w
                   ELSE segkpi.rfm_score(ROW(f.first_order_at, f.last_order_at, f.orders, f.refunds,
                                             f.monetary)::segkpi.rfm_stats, '2025-01-01') OVER w END AS r
          FROM segkpi.customer_features f, (VALUES ('rfm'), ('rfm3'), ('rfm_mine')) v(segmentation)
         WHERE f.snapshot_id = :s3 WINDOW w AS (PARTITION BY v.segmentation)) x USING (segmentation, customer_id)
 WHERE s.snapshot_id = :s3
 GROUP BY 1 ORDER BY 1;
SELECT count(*) FILTER (WHERE segment = 'Stars') > 0 AS own_rules,
       count(*) FILTER (WHERE segment = 'Champions') AS champions
  FROM segkpi.customer_segments WHERE snapshot_id = :s3 AND segmentation = 'rfm_mine';
DELETE FROM segkpi.segmentations WHERE name IN ('rfm3', 'rfm_mine');
DELETE FROM segkpi.rfm_rules WHERE ruleset = 'regress_mine';
DELETE FROM segkpi.snapshots WHERE snapshot_id = :s3;

-- Deleting a snapshot removes its customer-level rows (a statement trigger
-- does the cascade: the customer tables carry no per-row foreign key).
SELECT count(*) AS snapshots, (SELECT count(DISTINCT snapshot_id) FROM segkpi.customer_segments) AS in_segments
  FROM segkpi.snapshots;
DELETE FROM segkpi.snapshots WHERE snapshot_id = (SELECT min(snapshot_id) FROM segkpi.snapshots);
SELECT count(*) AS orphans FROM segkpi.customer_segments s
 WHERE NOT EXISTS (SELECT FROM segkpi.snapshots n WHERE n.snapshot_id = s.snapshot_id);
SELECT count(*) AS orphans FROM segkpi.customer_features f
 WHERE NOT EXISTS (SELECT FROM segkpi.snapshots n WHERE n.snapshot_id = f.snapshot_id);
SELECT count(*) > 0 AS rows_left FROM segkpi.customer_features;
TRUNCATE segkpi.snapshots CASCADE;
SELECT (SELECT count(*) FROM segkpi.customer_features) AS features,
       (SELECT count(*) FROM segkpi.customer_segments) AS segments;
-- with no snapshot left, the customer key type may change (tables and
-- their views are rebuilt)
CREATE VIEW public.text_key_orders AS SELECT customer_id::text AS cust, ordered_at, amount FROM demo.orders;
SELECT segkpi.bind_orders('public.text_key_orders', 'cust', 'ordered_at', 'amount');
SELECT c.relname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'segkpi'::regnamespace AND a.attname = 'customer_id' ORDER BY 1;
SELECT count(*) AS views FROM pg_views
 WHERE schemaname = 'segkpi' AND viewname IN ('segment_migration', 'rfm_grid', 'customer_segments');

-- DROP EXTENSION leaves the customer-level tables in the schema (they are
-- not members); a new CREATE EXTENSION removes their orphaned rows and the
-- next binding brings back their views, so refresh works again.
SELECT segkpi.bind_orders('demo.orders', 'customer_id', 'ordered_at', 'amount');
SELECT segkpi.refresh('2025-01-01') IS NOT NULL AS refreshed;
SET client_min_messages = warning;
DROP EXTENSION segkpi CASCADE;
RESET client_min_messages;
SELECT count(*) > 0 AS rows_left_behind FROM segkpi.customer_features;
SET ROLE regress_segkpi_owner;
CREATE EXTENSION segkpi;
RESET ROLE;
-- the install script (superuser) leaves the old rows alone; binding, as
-- the table's owner, removes the rows of snapshots that no longer exist
SELECT count(*) AS features_after_install FROM segkpi.customer_features;
SELECT segkpi.bind_orders('demo.orders', 'customer_id', 'ordered_at', 'amount');
SELECT count(*) AS features_after_bind FROM segkpi.customer_features;
INSERT INTO segkpi.segmentations (name, method) VALUES ('rfm', 'rfm');
SELECT segkpi.refresh('2025-01-01') AS snapshot;
SELECT count(*) AS views FROM pg_views
 WHERE schemaname = 'segkpi' AND viewname IN ('segment_migration', 'rfm_grid', 'customer_segments');
SELECT sum(customers) = (SELECT customers FROM segkpi.snapshots) AS all_assigned
  FROM segkpi.segment_kpis WHERE segment <> '(all)'
   AND period_start = (SELECT max(period_start) FROM segkpi.segment_kpis);

-- Upgrading a 0.1 install that holds snapshots: the update (run as
-- superuser) leaves the customer-level tables as they are; the first
-- refresh after it, run by their owner, adopts them: the foreign keys give
-- way to the cascade trigger, customer_segments rows move into
-- customer_features.segments (0.3), the history stays and the refresh
-- continues it.
SET client_min_messages = warning;
DROP EXTENSION segkpi CASCADE;
DROP TABLE segkpi.customer_features;
RESET client_min_messages;
SET ROLE regress_segkpi_owner;
CREATE EXTENSION segkpi VERSION '0.1';
RESET ROLE;
SELECT segkpi.bind_orders('demo.orders', 'customer_id', 'ordered_at', 'amount');
INSERT INTO segkpi.segmentations (name, method, params) VALUES ('rfm', 'rfm', '{}'),
    ('clusters', 'kmeans', '{"k": 3, "seed": 7}');
SELECT segkpi.refresh('2024-07-01') AS snapshot_under_0_1;
SELECT count(*) AS foreign_keys FROM pg_constraint
 WHERE contype = 'f' AND conrelid IN ('segkpi.customer_features'::regclass, 'segkpi.customer_segments'::regclass);
-- a grant on the table carries over to the view
GRANT SELECT ON segkpi.customer_segments TO regress_segkpi_owner;
-- a customer missing from one segmentation stays missing (no NULL segment)
DELETE FROM segkpi.customer_segments WHERE segmentation = 'clusters'
   AND customer_id = (SELECT min(customer_id) FROM segkpi.customer_segments);
SELECT md5(string_agg(format('%s/%s/%s/%s', snapshot_id, segmentation, customer_id, segment), ','
                      ORDER BY snapshot_id, segmentation, customer_id)) AS segments_before,
       count(*) AS rows_before
  FROM segkpi.customer_segments \gset
SET ROLE regress_segkpi_owner;
ALTER EXTENSION segkpi UPDATE;
RESET ROLE;
SELECT extversion FROM pg_extension WHERE extname = 'segkpi';
SELECT c.relkind AS customer_segments_kind,
       (SELECT count(*) FROM pg_constraint
         WHERE contype = 'f' AND conrelid IN ('segkpi.customer_features'::regclass, c.oid)) AS foreign_keys
  FROM pg_class c WHERE c.oid = 'segkpi.customer_segments'::regclass;
SELECT segkpi.refresh('2025-01-01') AS snapshot_after_update;
-- the view adoption made belongs to the owner of customer_features (who
-- bound), outside the extension, like the views binding makes
SELECT md5(string_agg(format('%s/%s/%s/%s', snapshot_id, segmentation, customer_id, segment), ','
                      ORDER BY snapshot_id, segmentation, customer_id)) = :'segments_before' AS segments_kept,
       count(*) = :rows_before AS same_rows, count(*) FILTER (WHERE segment IS NULL) AS null_segments
  FROM segkpi.customer_segments WHERE snapshot_id = 1;
SELECT has_table_privilege('regress_segkpi_owner', 'segkpi.customer_segments', 'SELECT') AS grant_kept,
       has_table_privilege('regress_segkpi_owner', 'segkpi.customer_segments', 'UPDATE') AS no_more;
-- owner, extension membership and PUBLIC access of the customer-level objects
CREATE TEMP VIEW customer_level AS
SELECT c.relname, pg_get_userbyid(c.relowner) AS owner,
       EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                        AND d.deptype = 'e') AS extension_member,
       has_table_privilege('public', c.oid, 'SELECT') AS public_reads
  FROM pg_class c
 WHERE c.relnamespace = 'segkpi'::regnamespace
   AND c.relname IN ('customer_features', 'customer_segments', 'segment_migration', 'rfm_grid');
SELECT * FROM customer_level ORDER BY 1;
SELECT count(*) AS foreign_keys FROM pg_constraint
 WHERE contype = 'f' AND conrelid IN ('segkpi.customer_features'::regclass, 'segkpi.customer_segments'::regclass);
SELECT snapshot_id, count(*) FROM segkpi.customer_segments GROUP BY 1 ORDER BY 1;
SELECT sum(customers) AS customers_in_both FROM segkpi.segment_migration WHERE from_segment <> '(none)';
-- the counts kept at refresh, hidden cells included, match the customers
SELECT (SELECT sum(customers) FROM segkpi.segment_migrations WHERE snapshot_id = 2 AND from_segment <> '(none)')
     = (SELECT count(*) FROM segkpi.customer_segments a JOIN segkpi.customer_segments b USING (segmentation, customer_id)
         WHERE a.snapshot_id = 1 AND b.snapshot_id = 2) AS migration_counts_match;
DELETE FROM segkpi.snapshots WHERE snapshot_id = 1;
SELECT snapshot_id, count(*) FROM segkpi.customer_features GROUP BY 1 ORDER BY 1;

-- The extension's owner, not a superuser, installs, binds, refreshes and
-- reads the customer-level objects it made; PUBLIC reads none of them.
SET client_min_messages = warning;
DROP EXTENSION segkpi CASCADE;
DROP TABLE segkpi.customer_features;
RESET client_min_messages;
GRANT USAGE ON SCHEMA demo TO regress_segkpi_owner;
GRANT SELECT ON ALL TABLES IN SCHEMA demo TO regress_segkpi_owner;
SET ROLE regress_segkpi_owner;
CREATE EXTENSION segkpi;
SELECT segkpi.bind_orders('demo.orders', 'customer_id', 'ordered_at', 'amount');
INSERT INTO segkpi.segmentations (name, method, params) VALUES ('rfm', 'rfm', '{}');
SELECT segkpi.refresh('2024-07-01') IS NOT NULL AS first, segkpi.refresh('2025-01-01') IS NOT NULL AS second;
SELECT count(*) AS segments FROM segkpi.customer_segments;
SELECT count(*) > 0 AS migration_rows FROM segkpi.segment_migration;
SELECT segkpi.erase_customer((SELECT min(customer_id) FROM segkpi.customer_features)) AS rows_erased;
RESET ROLE;
SELECT * FROM customer_level ORDER BY 1;

-- A superuser does not write the customer-level table of a role without
-- superuser: that role's triggers would run as superuser.
SELECT sqlerr($$SELECT segkpi.refresh('2025-02-01')$$);
SELECT sqlerr($$SELECT segkpi.erase_customer((SELECT max(customer_id) FROM segkpi.customer_features))$$);
SELECT sqlerr($$DELETE FROM segkpi.snapshots$$);
SELECT count(*) AS snapshots_kept FROM segkpi.snapshots;
