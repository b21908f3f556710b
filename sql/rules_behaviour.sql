-- rules_behaviour: rule conditions on purchase behaviour (frequency,
-- monetary, recency_days, tenure_days, aov, r, f, m) beside bound
-- attributes, as of each snapshot's as_of; leads have no behaviour.
SET timezone = 'UTC';
SET ROLE regress_segkpi_owner;  -- who owns customer_features
CREATE SCHEMA rb;
CREATE TABLE rb.orders (cust bigint, at timestamptz, total numeric);
-- 1 large: 100 on Jan 5, Feb 5, Mar 5        (3 orders by Apr 1, 2 by Mar 1)
-- 2 large: 50 on Jan 10
-- 3 small: 300 on Jan 10 and Mar 10          (600 by Apr 1, 300 by Mar 1)
-- 4 small: 20 on Mar 20                      (a customer from March on)
-- 5 small: 20 on Jan 2
-- 6 (no size): 40 on Feb 25
INSERT INTO rb.orders VALUES
    (1, '2024-01-05', 100), (1, '2024-02-05', 100), (1, '2024-03-05', 100),
    (2, '2024-01-10', 50),
    (3, '2024-01-10', 300), (3, '2024-03-10', 300),
    (4, '2024-03-20', 20),
    (5, '2024-01-02', 20),
    (6, '2024-02-25', 40);
CREATE TABLE rb.customers (cust bigint, size text);
INSERT INTO rb.customers VALUES (1, 'large'), (2, 'large'), (3, 'small'), (4, 'small'), (5, 'small'), (6, NULL);
CREATE TABLE rb.leads (created timestamptz, converted timestamptz, size text);
INSERT INTO rb.leads VALUES ('2024-02-01', '2024-02-20', 'large'), ('2024-02-02', NULL, 'large'),
                            ('2024-02-03', NULL, 'small');
SELECT segkpi.bind_orders('rb.orders', 'cust', 'at', 'total');
DELETE FROM segkpi.bindings WHERE source <> 'orders';
SELECT segkpi.bind_customers('rb.customers', 'cust', attributes => '{size}');
SELECT segkpi.bind_leads('rb.leads', 'created', 'converted', attributes => '{size}');
DELETE FROM segkpi.segmentations;
DELETE FROM segkpi.snapshots;
UPDATE segkpi.settings SET min_segment_size = 0, period_grain = 'month';

-- Size x behaviour, first match wins:
INSERT INTO segkpi.segmentations (name, method) VALUES ('b2b', 'rules');
INSERT INTO segkpi.segment_rules VALUES
    ('b2b', 1, 'Large frequent', '{"size": ["large"], "frequency": {"min": 3}}'),
    ('b2b', 2, 'Large', '{"size": ["large"]}'),
    ('b2b', 3, 'Small big spenders', '{"size": ["small"], "monetary": {"min": 500}}'),
    ('b2b', 4, 'Recent', '{"recency_days": {"max": 30}}');
-- As of Apr 1st: 1 has 3 orders (Large frequent); 2 is Large; 3 has spent
-- 600 (Small big spenders); 4 ordered 12 days before (Recent); 5's last
-- order is 90 days old (Other); 6 has no size, ordered 36 days before
-- (Other).
-- As of Mar 1st, nothing after it counts: 1 has 2 orders (Large); 3 has
-- spent 300 (Other, last order 51 days old); 4 is no customer yet; 6
-- ordered 5 days before (Recent: a rule without size takes a NULL size).
SELECT segkpi.refresh('2024-03-01') AS mar, segkpi.refresh('2024-04-01') AS apr \gset
SELECT snapshot_id = :apr AS apr, customer_id, segment FROM segkpi.customer_segments
 WHERE segmentation = 'b2b' ORDER BY 1, 2;
-- The KPIs follow (March of the Apr 1st snapshot): Large frequent = 1,
-- revenue 100 in March.  Leads have no behaviour: the large ones fall to
-- rule 2, "Large" (2 leads, 1 converted); the small one matches neither
-- rule 3 (behaviour) nor rule 4 (behaviour alone): Other.
SELECT segment, customers, revenue, leads, converted_leads
  FROM segkpi.kpi_latest WHERE segmentation = 'b2b' ORDER BY segment;
SELECT segment, period_start, leads, converted_leads FROM segkpi.segment_kpis
 WHERE snapshot_id = :apr AND segmentation = 'b2b' AND period_start = '2024-02-01' ORDER BY segment;

-- aov, tenure and the RFM scores, one rule each.  Monetary by customer
-- (Apr 1st): 3: 600, 1: 300, 2: 50, 6: 40, 4 and 5: 20; with 5 bins only
-- customer 3 has the top score m = 5 (as stored in customer_features).
-- Average order: 1: 100, 2: 50, 4 and 5: 20, 6: 40, so "Big baskets"
-- (aov >= 90) is customer 1.  Tenure (days since the first order): 2:
-- 82, 5: 90, so both are "Old hands" (>= 80, any R score); 4 (12) and 6
-- (36) are Other.
INSERT INTO segkpi.segmentations (name, method) VALUES ('beh', 'rules');
INSERT INTO segkpi.segment_rules VALUES
    ('beh', 1, 'Top M', '{"m": [5]}'),
    ('beh', 2, 'Big baskets', '{"aov": {"min": 90}}'),
    ('beh', 3, 'Old hands', '{"tenure_days": {"min": 80}, "r": [1, 2, 3, 4, 5]}');
SELECT segkpi.refresh('2024-04-01') AS apr2 \gset
SELECT s.customer_id, s.segment, f.m, round(f.monetary / f.orders, 2) AS aov,
       round(extract(epoch FROM '2024-04-01'::timestamptz - f.acquired_at) / 86400) AS tenure
  FROM segkpi.customer_segments s JOIN segkpi.customer_features f USING (snapshot_id, customer_id)
 WHERE s.snapshot_id = :apr2 AND s.segmentation = 'beh' ORDER BY 1;

-- Checked when written: behaviour takes numbers; an unknown name is no
-- bound attribute.
SELECT sqlerr($$INSERT INTO segkpi.segment_rules VALUES ('beh', 9, 'x', '{"frequency": {"min": "a lot"}}')$$);
SELECT sqlerr($$INSERT INTO segkpi.segment_rules VALUES ('beh', 9, 'x', '{"r": ["5"]}')$$);
SELECT sqlerr($$INSERT INTO segkpi.segment_rules VALUES ('beh', 9, 'x', '{"monetary": {"min": 500, "max": 100}}')$$);
SELECT sqlerr($$INSERT INTO segkpi.segment_rules VALUES ('beh', 9, 'x', '{"frequencies": {"min": 5}}')$$);

-- What the stages see: rules naming behaviour are split into each rule's
-- attribute conditions (stored per customer by the orders stage) and a
-- CASE over them and the behaviour of a customer row x.
SELECT regexp_replace(c.flags, '\s+', ' ', 'g') AS flags, regexp_replace(c.sql, '\s+', ' ', 'g') AS sql,
       c.vals, c.reads, c.behaviour
  FROM segkpi.rule_case('b2b', 'c', ROW('customers', 'rb.customers', '{}', '{size}', now())::segkpi.bindings,
                        '{}', 'x.in_1') c;

-- Rules on behaviour alone need no bound customers.
DELETE FROM segkpi.segmentations WHERE name = 'b2b';
DELETE FROM segkpi.bindings WHERE source IN ('customers', 'leads');
SELECT segkpi.refresh('2024-04-01') IS NOT NULL AS refreshed;

DELETE FROM segkpi.segmentations;
DELETE FROM segkpi.snapshots;
DELETE FROM segkpi.bindings WHERE source <> 'orders';
DROP SCHEMA rb CASCADE;
RESET ROLE;
