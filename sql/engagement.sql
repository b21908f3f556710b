-- engagement: a bound source of engagement events (visits, e-mail opens,
-- clicks ...): per segment and period engaged customers, engagement rate,
-- events per engaged customer, and per kind; engagement to date as a
-- k-means feature and in rules, as of each snapshot's as_of.
SET timezone = 'UTC';
SET ROLE regress_segkpi_owner;  -- who owns customer_features
CREATE SCHEMA eg;
CREATE TABLE eg.customers (cust bigint, tier text);
INSERT INTO eg.customers VALUES (1, 'A'), (2, 'A'), (3, 'B'), (4, 'B');
CREATE TABLE eg.orders (cust bigint, at timestamptz, total numeric);
INSERT INTO eg.orders SELECT c, '2024-01-05', 100 FROM generate_series(1, 4) c;
CREATE TABLE eg.events (who bigint, at timestamptz, what text, worth numeric);
INSERT INTO eg.events VALUES
    (1, '2024-02-03', 'visit', NULL), (1, '2024-02-10', 'visit', NULL),
    (1, '2024-03-05', 'open', 1), (1, '2024-03-06', 'click', 2),
    (2, '2024-03-20', 'visit', NULL),
    (4, '2024-01-15', 'open', NULL),
    (4, '2024-04-02', 'visit', NULL),      -- after as_of: not counted
    (9, '2024-03-01', 'visit', NULL);      -- not a customer: not counted
SELECT segkpi.bind_orders('eg.orders', 'cust', 'at', 'total');
DELETE FROM segkpi.bindings WHERE source <> 'orders';
SELECT segkpi.bind_customers('eg.customers', 'cust', attributes => '{tier}');
SELECT sqlerr($$SELECT segkpi.bind_engagement('eg.events', 'who', 'at', 'worth')$$);  -- kind must be text
SELECT segkpi.bind_engagement('eg.events', 'who', 'at', 'what', value => 'worth');
SELECT source, columns - '_key_type' AS columns FROM segkpi.bindings WHERE source = 'engagement';
DELETE FROM segkpi.segmentations;
DELETE FROM segkpi.snapshots;
UPDATE segkpi.settings SET min_segment_size = 0, period_grain = 'month';
INSERT INTO segkpi.segmentations (name, method) VALUES ('tier', 'rules');
INSERT INTO segkpi.segment_rules VALUES ('tier', 1, 'A', '{"tier": ["A"]}'), ('tier', 2, 'B', '{"tier": ["B"]}');

-- Engagement to date in rules: as of Apr 1st customer 1 has 4 events
-- (Active fans, >= 3), 2 saw us 12 days before (Recently seen, <= 30
-- days); 3 has none and 4's last event (Jan 15th) is 77 days old: Other.
-- As of Mar 1st, 1 had 2 events, the last 20 days before: Recently seen;
-- 2 had none; 4's was 46 days old.
INSERT INTO segkpi.segmentations (name, method) VALUES ('fans', 'rules');
INSERT INTO segkpi.segment_rules VALUES
    ('fans', 1, 'Active fans', '{"engagement_events": {"min": 3}}'),
    ('fans', 2, 'Recently seen', '{"engagement_recency_days": {"max": 30}}');
-- ... and in k-means: events to date and monetary (all 100), two
-- clusters: customer 1 (4 events) alone.
INSERT INTO segkpi.segmentations VALUES
    ('eng_km', 'kmeans', '{"features": ["engagement_events", "monetary"], "k": 2, "transform": "none", "restarts": 1}');
SELECT segkpi.refresh('2024-03-01') AS mar, segkpi.refresh('2024-04-01') AS apr \gset
SELECT c.customer_id, f.segment AS fans_mar, a.segment AS fans_apr, k.segment AS cluster_apr
  FROM (SELECT generate_series(1, 4)::bigint AS customer_id) c
  LEFT JOIN segkpi.customer_segments f ON f.customer_id = c.customer_id AND f.snapshot_id = :mar AND f.segmentation = 'fans'
  LEFT JOIN segkpi.customer_segments a ON a.customer_id = c.customer_id AND a.snapshot_id = :apr AND a.segmentation = 'fans'
  LEFT JOIN segkpi.customer_segments k ON k.customer_id = c.customer_id AND k.snapshot_id = :apr AND k.segmentation = 'eng_km'
 ORDER BY 1;

-- KPIs per segment and period (Apr 1st snapshot):
--   Jan: B engaged 1 of 2 (4's open): rate 0.5, 1 event per engaged.
--   Feb: A engaged 1 of 2 (1's two visits): rate 0.5, 2 events per engaged.
--   Mar: A engaged 2 of 2 (1: open and click; 2: a visit): rate 1, 1.5
--        events per engaged; B none: rate 0; (all) 2 of 4: 0.5.
SELECT period_start, segment, customers, engaged_customers, engagement_events, engagement_rate, events_per_engaged
  FROM segkpi.kpi_trends WHERE segmentation = 'tier' AND period_start < '2024-04-01' ORDER BY 1, 2;
-- per kind, March: A has one customer per kind (open, click: 1; visit: 2)
SELECT segment, kind, engaged_customers, events, engagement_rate, events_per_engaged
  FROM segkpi.engagement_by_kind WHERE segmentation = 'tier' AND period_start = '2024-03-01' ORDER BY 1, 2;
-- other segmentations count the same events under their own segments
SELECT segment, sum(events) AS events FROM segkpi.engagement_by_kind
 WHERE segmentation = 'fans' GROUP BY 1 ORDER BY 1;
-- without engagement bound, the engagement figures are NULL (not 0)
DELETE FROM segkpi.segmentations WHERE name IN ('fans', 'eng_km');
DELETE FROM segkpi.bindings WHERE source = 'engagement';
SELECT segkpi.refresh('2024-04-01') AS unbound \gset
SELECT DISTINCT engaged_customers, engagement_rate FROM segkpi.segment_kpis WHERE snapshot_id = :unbound;
SELECT count(*) AS kind_rows FROM segkpi.segment_engagement WHERE snapshot_id = :unbound;
-- and a segmentation reading engagement says what is missing
INSERT INTO segkpi.segmentations (name, method) VALUES ('fans', 'rules');
INSERT INTO segkpi.segment_rules VALUES ('fans', 1, 'Active fans', '{"engagement_events": {"min": 3}}');
SELECT sqlerr($$SELECT segkpi.refresh('2024-04-01')$$);
DELETE FROM segkpi.segmentations WHERE name = 'fans';
INSERT INTO segkpi.segmentations VALUES ('eng_km', 'kmeans', '{"features": ["engagement_value"], "k": 2}');
SELECT sqlerr($$SELECT segkpi.refresh('2024-04-01')$$);

DELETE FROM segkpi.segmentations;
DELETE FROM segkpi.snapshots;
DELETE FROM segkpi.bindings WHERE source <> 'orders';
DROP SCHEMA eg CASCADE;
RESET ROLE;
