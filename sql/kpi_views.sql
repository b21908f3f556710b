-- kpi_views: what the dashboard views show over time and to whom.
-- Ten customers in four rule segments (A: 1 2 3 7 8, B: 4 5, C: 6, D: 9 10),
-- orders from January to April 2024; every figure below is worked out by
-- hand in the comments.
SET timezone = 'UTC';
SET datestyle = 'ISO, MDY';
CREATE SCHEMA kv;
CREATE TABLE kv.orders (cust bigint, at timestamptz, total numeric);
INSERT INTO kv.orders VALUES
    (1, '2024-01-10', 100), (1, '2024-02-10', 100), (1, '2024-03-10', 100),
    (2, '2024-01-10', 50), (2, '2024-03-10', 50),
    (3, '2024-02-10', 80),
    (7, '2024-01-10', 10), (7, '2024-02-10', 10), (7, '2024-03-10', 10),
    (8, '2024-01-10', 20), (8, '2024-03-10', 20),
    (4, '2024-01-10', 200), (4, '2024-02-10', 200),
    (5, '2024-03-10', 30),
    (6, '2024-01-10', 500), (6, '2024-04-05', 500),
    (9, '2024-01-10', 40), (9, '2024-03-10', 40),
    (10, '2024-02-10', 60), (10, '2024-03-10', 60);
CREATE TABLE kv.customers (cust bigint, tier text);
INSERT INTO kv.customers VALUES (1, 'A'), (2, 'A'), (3, 'A'), (7, 'A'), (8, 'A'),
    (4, 'B'), (5, 'B'), (6, 'C'), (9, 'D'), (10, 'D');
SELECT segkpi.bind_orders('kv.orders', 'cust', 'at', 'total');
SELECT segkpi.bind_customers('kv.customers', 'cust', attributes => '{tier}');
DELETE FROM segkpi.segmentations;
DELETE FROM segkpi.snapshots;
INSERT INTO segkpi.segmentations (name, method) VALUES ('tier', 'rules');
INSERT INTO segkpi.segment_rules VALUES ('tier', 1, 'A', '{"tier": ["A"]}'), ('tier', 2, 'B', '{"tier": ["B"]}'),
    ('tier', 3, 'C', '{"tier": ["C"]}'), ('tier', 4, 'D', '{"tier": ["D"]}');
UPDATE segkpi.settings SET period_grain = 'month', min_segment_size = 0;

-- "Latest" is the greatest as_of, not the newest row: a backfilled
-- snapshot (March 1st, taken second) does not replace April 1st.
SELECT segkpi.refresh('2024-04-01') AS april, segkpi.refresh('2024-03-01') AS backfill \gset
SELECT :backfill > :april AS backfill_is_newer;
SELECT DISTINCT snapshot_id = :april AS is_april, as_of FROM segkpi.kpi_latest;

-- April 1st ends March, so March is the last complete period.  Segment A
-- in March: 5 customers, 4 active (1 2 7 8), revenue 100 + 50 + 10 + 20;
-- active in February 3 (1 3 7), of whom 2 again in March (1 7).
SELECT segment, period_start, complete, customers, active_customers, revenue,
       previously_active, retained, retention_rate
  FROM segkpi.kpi_latest ORDER BY segment;

-- A refresh in mid-April: April is under way, flagged incomplete in
-- kpi_trends; kpi_latest still shows March (now from this snapshot).
SELECT segkpi.refresh('2024-04-15') AS mid_april \gset
SELECT period_start, complete, customers, active_customers, revenue
  FROM segkpi.kpi_trends WHERE segment = '(all)' ORDER BY period_start;
SELECT DISTINCT snapshot_id = :mid_april AS is_mid_april, period_start, complete FROM segkpi.kpi_latest;

-- Point-in-time history: each period from the latest snapshot that had
-- just completed it.  February: only the March 1st snapshot; March:
-- April 1st and April 15th both end with it, the later wins.
SELECT period_start, as_of, customers FROM segkpi.kpi_history
 WHERE segment = '(all)' ORDER BY period_start;

-- Small cells, k = 2: in March B has one active customer (5) and C one
-- customer (6): both hidden.  Together they hold 1 active customer, which
-- "(all)" minus A and D would give back, so the smallest shown segment, D
-- (2 customers), is hidden with them; A and "(all)" stay.
UPDATE segkpi.settings SET min_segment_size = 2;
SELECT segment, hidden, customers, active_customers, revenue
  FROM segkpi.kpi_latest ORDER BY segment;

-- Migration from April 1st to April 15th: nobody moved.  C -> C (1) is
-- small; hidden alone, the matrix total minus the rest would give it back,
-- so the smallest shown cell, B -> B, is hidden too.
SELECT snapshot_id = :mid_april AS to_mid_april, previous_snapshot_id = :april AS from_april,
       from_segment, to_segment, customers, hidden
  FROM segkpi.segment_migration ORDER BY from_segment, to_segment;

-- The RFM grid hides the same way: no hidden cell alone, and the hidden
-- ones hold at least k customers together (counted here from the rows).
SELECT count(*) FILTER (WHERE g.hidden) AS hidden_cells,
       count(*) FILTER (WHERE g.hidden AND c.n < 2) AS small_cells,
       coalesce(sum(c.n) FILTER (WHERE g.hidden), 0) AS hidden_customers
  FROM segkpi.rfm_grid g
  JOIN (SELECT r, f, count(*) AS n FROM segkpi.customer_features
         WHERE snapshot_id = :mid_april GROUP BY r, f) c USING (r, f);

-- One step gives a dashboard role every aggregate view, nothing customer-level.
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_segkpi_dash;
RESET client_min_messages;
CREATE ROLE regress_segkpi_dash;
SELECT segkpi.grant_dashboard_access('regress_segkpi_dash') ORDER BY 1;
SET ROLE regress_segkpi_dash;
SELECT count(*) AS latest_rows FROM segkpi.kpi_latest;
SELECT count(*) AS trend_rows FROM segkpi.kpi_trends;
SELECT count(*) AS history_rows FROM segkpi.kpi_history;
SELECT count(*) AS migration_rows FROM segkpi.segment_migration;
SELECT count(*) AS grid_rows FROM segkpi.rfm_grid;
SELECT count(*) AS cluster_rows FROM segkpi.cluster_profiles;
SELECT count(*) AS before_after_rows FROM segkpi.before_after;
SELECT sqlerr($$SELECT count(*) FROM segkpi.customer_features$$);
SELECT sqlerr($$SELECT count(*) FROM segkpi.customer_segments$$);
SELECT sqlerr($$SELECT count(*) FROM segkpi.segment_kpis$$);
SELECT sqlerr($$SELECT count(*) FROM segkpi.kpi_cells$$);
SELECT sqlerr($$SELECT segkpi.refresh()$$);
RESET ROLE;
SELECT segkpi.revoke_dashboard_access('regress_segkpi_dash') ORDER BY 1;
SELECT has_schema_privilege('regress_segkpi_dash', 'segkpi', 'USAGE') AS usage_left,
       has_table_privilege('regress_segkpi_dash', 'segkpi.kpi_latest', 'SELECT') AS select_left;
DROP ROLE regress_segkpi_dash;
UPDATE segkpi.settings SET min_segment_size = 0;

-- Retention: keep the latest snapshot's customer rows; the older ones
-- lose theirs but keep their KPIs and migration counts, so the history
-- and the migration view are unchanged.
SELECT sqlerr($$SELECT segkpi.prune_snapshots()$$);
SELECT sqlerr($$SELECT segkpi.prune_snapshots(keep_last => 0)$$);
SELECT segkpi.prune_snapshots(keep_last => 1) AS pruned;
SELECT snapshot_id = :mid_april AS is_mid_april, count(*) FROM segkpi.customer_features GROUP BY 1;
SELECT period_start, as_of, customers FROM segkpi.kpi_history WHERE segment = '(all)' ORDER BY period_start;
SELECT count(*) AS migration_rows FROM segkpi.segment_migration;
-- erasure then reaches only the rows that are left
SELECT segkpi.erase_customer(6::bigint) AS rows_erased;
-- and whole snapshots can go too
SELECT segkpi.prune_snapshots(keep_last => 1, customer_level_only => false) AS pruned;
SELECT count(*) AS snapshots_left FROM segkpi.snapshots;

-- Ratios never show a sign their economics contradict; each is NULL
-- outside its domain (by hand):
--   ROI 100 - 50 - 20 over 50 + 20 = 0.4286; a loss, -10 - 5 - 5 over 10,
--   is -2; an outlay of -50 + 20 <= 0 has no ROI (it was +182 % before);
--   marketing ROI needs spend > 0; AOV and the formula CLTV need revenue
--   > 0 (refunds outweighing orders); CAC needs spend >= 0.
SELECT round(segkpi.kpi_roi(100, 50, 20), 4) AS roi, segkpi.kpi_roi(-10, 5, 5) AS roi_loss,
       segkpi.kpi_roi(100, -50, 20) AS roi_negative_outlay, segkpi.kpi_roi(100, 0, 0) AS roi_no_outlay,
       segkpi.kpi_marketing_roi(100, 10, 0) AS mroi_no_spend, segkpi.kpi_marketing_roi(100, 10, -5) AS mroi_refunded_spend,
       round(segkpi.kpi_marketing_roi(100, 10, 30), 4) AS mroi;
SELECT segkpi.kpi_aov(-10, 2) AS aov_refunds, segkpi.kpi_aov(0, 2) AS aov_zero, segkpi.kpi_aov(90, 3) AS aov,
       segkpi.kpi_cac(-10, 2) AS cac_negative, segkpi.kpi_cac(0, 2) AS cac_free, segkpi.kpi_cac(30, 0) AS cac_nobody,
       segkpi.kpi_cltv_formula(-5, 1, 0.5, -10, 5, 12) AS cltv_loss_revenue,
       round(segkpi.kpi_cltv_formula(50, 1, 0.5, 100, 120, 12), 2) AS cltv_negative_margin,
       segkpi.kpi_cltv_formula(50, 1, 1, 100, 20, 12) AS cltv_no_churn;

-- A rule segment without members keeps its rows, its leads and the spend
-- tagged to it (before 0.6 it vanished and that spend went to others);
-- leads lack the attribute "tier", so the rules match no lead (a NOTICE
-- says so) and every lead is Other.
UPDATE segkpi.settings SET min_segment_size = 0;
INSERT INTO segkpi.segment_rules VALUES ('tier', 5, 'E', '{"tier": ["E"]}');
CREATE TABLE kv.spend (day date, amount numeric, target text);
INSERT INTO kv.spend VALUES ('2024-03-05', 70, 'E'), ('2024-03-06', 30, NULL);
CREATE TABLE kv.leads (created timestamptz, converted timestamptz, region text);
INSERT INTO kv.leads VALUES ('2024-03-02', '2024-03-09', 'north'), ('2024-03-03', NULL, 'south');
SELECT segkpi.bind_marketing_spend('kv.spend', 'day', 'amount', target_segment => 'target');
SELECT segkpi.bind_leads('kv.leads', 'created', 'converted', attributes => '{region}');
SELECT segkpi.refresh('2024-04-01') AS with_e \gset
-- (this snapshot is not the latest by as_of: read it by id)
SELECT segment, customers, attributed_spend, cac, leads, converted_leads
  FROM segkpi.kpi_cells WHERE snapshot_id = :with_e AND period_start = '2024-03-01' ORDER BY segment;

-- Historical CLTV counts the margin of the customers it divides by.
-- Customer 1 was acquired on February 20th (bound acquired_at) after
-- ordering in January, so A in January holds customers 2, 7 and 8:
-- margin 50 + 10 + 20 = 80, CLTV 26.67 (customer 1's 100 left out; 60
-- before 0.6).  From February on, customer 1 counts with every order.
ALTER TABLE kv.customers ADD COLUMN acquired timestamptz;
UPDATE kv.customers SET acquired = '2024-02-20' WHERE cust = 1;
SELECT segkpi.bind_customers('kv.customers', 'cust', acquired_at => 'acquired', attributes => '{tier}');
SELECT segkpi.refresh('2024-04-01') AS acquired_later \gset
SELECT period_start, customers, cltv_historical
  FROM segkpi.kpi_cells WHERE snapshot_id = :acquired_later AND segment = 'A' ORDER BY period_start;
