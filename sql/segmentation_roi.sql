-- segmentation_roi: before_after per segmentation and segment, per
-- customer so that growth does not read as impact, against a comparison
-- group, and the ROI of segmenting.  Monthly periods; launch on March 1st;
-- the snapshot of May 1st has Jan, Feb (before) and Mar, Apr (after).
--   customers 1, 2: targeted, 100 a month before, 150 after
--   customers 3, 4: comparison group (control = true), 100 before, 110 after
--   customer 5: targeted, new in March, 150 a month
-- Segment A = 1, 3, 5; B = 2, 4 (a rule on the tier attribute).
SET timezone = 'UTC';
SET ROLE regress_segkpi_owner;  -- who owns customer_features
CREATE SCHEMA roi;
CREATE TABLE roi.customers (cust bigint, tier text, control boolean);
INSERT INTO roi.customers VALUES (1, 'A', false), (2, 'B', false), (3, 'A', true), (4, 'B', true), (5, 'A', false);
CREATE TABLE roi.orders (cust bigint, at timestamptz, total numeric);
INSERT INTO roi.orders
SELECT c, m, CASE WHEN m < '2024-03-01' THEN 100 WHEN c IN (3, 4) THEN 110 ELSE 150 END
  FROM generate_series(1, 4) c,
       generate_series('2024-01-10'::timestamptz, '2024-04-10', '1 month') m
UNION ALL
SELECT 5, m, 150 FROM generate_series('2024-03-10'::timestamptz, '2024-04-10', '1 month') m;
SELECT segkpi.bind_orders('roi.orders', 'cust', 'at', 'total');
DELETE FROM segkpi.bindings WHERE source <> 'orders';
SELECT segkpi.bind_customers('roi.customers', 'cust', attributes => '{tier,control}');
DELETE FROM segkpi.segmentations;
DELETE FROM segkpi.snapshots;
INSERT INTO segkpi.segmentations (name, method) VALUES ('tier', 'rules');
INSERT INTO segkpi.segment_rules VALUES ('tier', 1, 'A', '{"tier": ["A"]}'), ('tier', 2, 'B', '{"tier": ["B"]}');
UPDATE segkpi.settings SET min_segment_size = 0, period_grain = 'month', launch_date = '2024-03-01',
       segmentation_cost_once = 100, segmentation_cost_per_period = 20, comparison_attribute = 'control';
SELECT segkpi.refresh('2024-05-01') IS NOT NULL AS refreshed;
SELECT comparison FROM segkpi.snapshots;
-- (all): customers 4 in Jan and Feb (2 targeted), 5 in Mar and Apr (3).
SELECT period_start, customers, comparison_customers, revenue, comparison_revenue, comparison_orders
  FROM segkpi.segment_kpis WHERE segment = '(all)' ORDER BY period_start;

-- Revenue per period grows 400 -> 670 (+67.5 %), customers 4 -> 5: the
-- naive change is mostly the base and the market.  Per customer and
-- period, targeted: 400 / 4 = 100 before, 900 / 6 = 150 after; the
-- comparison group: 400 / 4 = 100, 440 / 4 = 110.  Impact: (150 - 100) -
-- (110 - 100) = 40 per customer and period (no cost bound: margin =
-- revenue).  Gain: 40 x 6 targeted customer-periods after = 240.  Cost:
-- 100 + 20 x 2 periods = 140.  ROI of segmentation: (240 - 140) / 140.
SELECT metric, before_segmentation AS before, after_segmentation AS after, change, impact_percent AS pct,
       population, comparison_before AS cmp_before, comparison_after AS cmp_after, impact
  FROM segkpi.before_after WHERE segment = '(all)' AND metric IN ('revenue per period', 'customers per period',
       'revenue per customer per period', 'margin per customer per period', 'orders per customer per period',
       'gain from segmentation', 'cost of segmentation', 'ROI of segmentation')
 ORDER BY array_position(ARRAY['revenue per period', 'customers per period', 'revenue per customer per period',
          'margin per customer per period', 'orders per customer per period', 'gain from segmentation',
          'cost of segmentation', 'ROI of segmentation'], metric);
-- Per segment.  A: targeted 1 (Jan, Feb: 200 / 2 = 100), then 1 and 5
-- (600 / 4 = 150); comparison 3: 100 -> 110; impact 40, gain 40 x 4 =
-- 160; A holds 6 of the 10 customer-periods after, so 0.6 x 140 = 84 of
-- the cost: ROI (160 - 84) / 84 = 0.9048.  B: 100 -> 150 against 100 ->
-- 110, gain 40 x 2 = 80, cost 56, ROI (80 - 56) / 56 = 0.4286.  The gains
-- and costs of A and B add up to those of (all).
SELECT segment, metric, before_segmentation AS before, after_segmentation AS after,
       comparison_before AS cmp_before, comparison_after AS cmp_after, impact, periods_before, periods_after
  FROM segkpi.before_after WHERE segment <> '(all)' AND (metric LIKE '%segmentation' OR metric = 'margin per customer per period')
 ORDER BY segment, metric;

-- Without a comparison group impact is after - before, and the gain
-- counts all members: 1, 2 and 5 against 3 and 4 no more.  (all):
-- before 800 / 8 = 100, after 1340 / 10 = 134: impact 34, gain 340.
UPDATE segkpi.settings SET comparison_attribute = NULL;
SELECT segkpi.refresh('2024-05-01') IS NOT NULL AS refreshed;
SELECT metric, before_segmentation AS before, after_segmentation AS after, population,
       comparison_before AS cmp_before, impact
  FROM segkpi.before_after WHERE segment = '(all)'
   AND metric IN ('margin per customer per period', 'gain from segmentation', 'ROI of segmentation')
 ORDER BY metric;
SELECT DISTINCT k.comparison_customers, s.comparison FROM segkpi.segment_kpis k JOIN segkpi.snapshots s USING (snapshot_id)
 WHERE s.snapshot_id = (SELECT max(snapshot_id) FROM segkpi.snapshots);

-- A hash holdout instead: the same customers at every refresh, the ones
-- segkpi.in_holdout names (campaigns must leave them out); a larger share
-- holds out a superset.
UPDATE segkpi.settings SET holdout_share = 0.5;
SELECT segkpi.refresh('2024-05-01') IS NOT NULL AS refreshed;
SELECT comparison FROM segkpi.snapshots ORDER BY snapshot_id DESC LIMIT 1;
SELECT c AS customer, segkpi.in_holdout(c) AS held_out,
       round(segkpi.holdout_bucket(c::text)::numeric, 4) AS bucket
  FROM generate_series(1::bigint, 5) c ORDER BY c;
SELECT k.comparison_customers = (SELECT count(*) FROM generate_series(1::bigint, 5) c WHERE segkpi.in_holdout(c))
       AS holdout_counted
  FROM segkpi.segment_kpis k JOIN segkpi.snapshots s USING (snapshot_id)
 WHERE k.segment = '(all)' AND k.period_start = '2024-04-01'
 ORDER BY s.snapshot_id DESC LIMIT 1;
SELECT count(*) FILTER (WHERE segkpi.holdout_bucket(c::text) < 0.2) <= count(*) FILTER (WHERE segkpi.holdout_bucket(c::text) < 0.5)
       AS nested, count(*) FILTER (WHERE segkpi.holdout_bucket(c::text) < 0.5) AS held_of_1000
  FROM generate_series(1, 1000) c;

-- Bad settings.
SELECT sqlerr($$UPDATE segkpi.settings SET comparison_attribute = 'control'$$);  -- both set
SELECT sqlerr($$UPDATE segkpi.settings SET holdout_share = 1$$);
SELECT sqlerr($$UPDATE segkpi.settings SET segmentation_cost_once = -1$$);
UPDATE segkpi.settings SET holdout_share = NULL, comparison_attribute = 'tier';
SELECT sqlerr($$SELECT segkpi.refresh('2024-05-01')$$);
UPDATE segkpi.settings SET comparison_attribute = 'nosuch';
SELECT sqlerr($$SELECT segkpi.refresh('2024-05-01')$$);

-- Small segments are hidden as in kpi_cells: with k = 3, B (2 customers)
-- is small in every period and A (2 in Jan and Feb) too; (all) shows.
UPDATE segkpi.settings SET comparison_attribute = NULL, min_segment_size = 3;
SELECT segment, bool_and(hidden) AS hidden, count(after_segmentation) AS shown_values
  FROM segkpi.before_after GROUP BY segment ORDER BY segment;

UPDATE segkpi.settings SET min_segment_size = 0, launch_date = NULL, segmentation_cost_once = 0,
       segmentation_cost_per_period = 0, comparison_attribute = NULL, holdout_share = NULL;
DELETE FROM segkpi.segmentations;
DELETE FROM segkpi.snapshots;
DELETE FROM segkpi.bindings WHERE source <> 'orders';
DROP SCHEMA roi CASCADE;
RESET ROLE;
