-- Bad input to the KPI pipeline: every case is an ERROR with a SQLSTATE,
-- or a documented result.  (Runs after kpi_hand, whose bindings exist.)
SET timezone = 'UTC';
CREATE SCHEMA bad;
CREATE TABLE bad.orders (cust bigint, at timestamptz, total numeric, note text, tcust text);

-- binding errors: missing column, wrong types, unknown source or role
SELECT sqlerr($$SELECT segkpi.bind_orders('bad.orders', 'cust', 'nope', 'total')$$);
SELECT sqlerr($$SELECT segkpi.bind_orders('bad.orders', 'cust', 'note', 'total')$$);
SELECT sqlerr($$SELECT segkpi.bind_orders('bad.orders', 'cust', 'at', 'note')$$);
SELECT sqlerr($$SELECT segkpi.bind_orders('bad.nope', 'cust', 'at', 'total')$$);
SELECT sqlerr($$SELECT segkpi.bind_orders('bad.orders', NULL, 'at', 'total')$$);
SELECT sqlerr($$SELECT segkpi.bind('invoices', 'bad.orders', '{}')$$);
SELECT sqlerr($$SELECT segkpi.bind('orders', 'bad.orders', '{"customer": "cust", "ordered_at": "at", "amount": "total", "colour": "note"}')$$);
SELECT sqlerr($$SELECT segkpi.bind('orders', 'bad.orders', '{"customer": "cust", "amount": "total"}')$$);
-- a customers key of another type than the orders key (bigint, from kpi_hand)
CREATE TABLE bad.customers (id text, joined timestamptz);
SELECT sqlerr($$SELECT segkpi.bind_customers('bad.customers', 'id', acquired_at => 'joined')$$);
SELECT sqlerr($$SELECT segkpi.bind_feedback('bad.customers', 'id', 'joined', 'joined')$$);
SELECT sqlerr($$SELECT segkpi.bind('orders', 'bad.orders', '{"customer": "cust", "ordered_at": "at", "amount": "total"}', '{note}')$$);
-- changing the key type while snapshots exist
SELECT sqlerr($$SELECT segkpi.bind_orders('bad.orders', 'tcust', 'at', 'total')$$);

-- the bound table altered or dropped since binding
CREATE TABLE bad.spend (day date, amount numeric);
SELECT segkpi.bind_marketing_spend('bad.spend', 'day', 'amount');
ALTER TABLE bad.spend RENAME COLUMN amount TO euros;
SELECT sqlerr($$SELECT segkpi.refresh('2024-04-01')$$);
ALTER TABLE bad.spend RENAME COLUMN euros TO amount;
ALTER TABLE bad.spend ALTER COLUMN amount TYPE text;
SELECT sqlerr($$SELECT segkpi.refresh('2024-04-01')$$);
DROP TABLE bad.spend;
SELECT sqlerr($$SELECT segkpi.refresh('2024-04-01')$$);
-- a failed refresh leaves no snapshot behind
SELECT count(*) AS snapshots FROM segkpi.snapshots;
SELECT segkpi.bind_marketing_spend('hand.spend', 'day', 'amount', channel => 'channel', target_segment => 'target');

-- refresh arguments
SELECT sqlerr($$SELECT segkpi.refresh(NULL)$$);
SELECT sqlerr($$SELECT segkpi.refresh('infinity')$$);

-- Rules are checked as they are written, naming the rule: an attribute
-- that is not bound (42703), a range on a text attribute (42804: it would
-- compare as text), an empty list, min above max, a bare value, junk in a
-- range (22023).
INSERT INTO segkpi.segmentations (name, method) VALUES ('bad_rules', 'rules');
SELECT sqlerr($$INSERT INTO segkpi.segment_rules VALUES ('bad_rules', 1, 'X', '{"colour": ["red"]}')$$);
SELECT sqlerr($$INSERT INTO segkpi.segment_rules VALUES ('bad_rules', 1, 'X', '{"size": {"min": 1}}')$$);
SELECT sqlerr($$INSERT INTO segkpi.segment_rules VALUES ('bad_rules', 1, 'X', '{"size": []}')$$);
SELECT sqlerr($$INSERT INTO segkpi.segment_rules VALUES ('bad_rules', 1, 'X', '{"size": {"min": 9, "max": 2}}')$$);
SELECT sqlerr($$INSERT INTO segkpi.segment_rules VALUES ('bad_rules', 1, 'X', '{"size": 5}')$$);
SELECT sqlerr($$INSERT INTO segkpi.segment_rules VALUES ('bad_rules', 1, 'X', '{"size": {"min": true}}')$$);
SELECT sqlerr($$INSERT INTO segkpi.segment_rules VALUES ('bad_rules', 1, 'X', '{"size": {"low": 1}}')$$);
SELECT sqlerr($$INSERT INTO segkpi.segment_rules VALUES ('bad_rules', 1, 'X', '{"size": [["S"]]}')$$);
-- a segmentation without rules puts everybody in Other
SELECT segkpi.refresh('2024-04-01') IS NOT NULL AS refreshed_without_rules;
SELECT DISTINCT segment FROM segkpi.customer_segments
 WHERE segmentation = 'bad_rules' AND snapshot_id = (SELECT max(snapshot_id) FROM segkpi.snapshots);
-- a binding that changes after the rules were written: refresh says so
INSERT INTO segkpi.segment_rules VALUES ('bad_rules', 1, 'X', '{"size": ["S"]}');
SELECT segkpi.bind_customers('hand.customers', 'id', acquired_at => 'joined', channel => 'channel');
SELECT sqlerr($$SELECT segkpi.refresh('2024-04-01')$$);
SELECT segkpi.bind_customers('hand.customers', 'id', acquired_at => 'joined', channel => 'channel', attributes => '{size}');
DELETE FROM segkpi.segmentations WHERE name = 'bad_rules';
-- k-means features must be built in or numeric bound attributes
INSERT INTO segkpi.segmentations (name, method, params) VALUES ('bad_kmeans', 'kmeans', '{"features": ["colour"]}');
SELECT sqlerr($$SELECT segkpi.refresh('2024-04-01')$$);
UPDATE segkpi.segmentations SET params = '{"features": ["size"]}' WHERE name = 'bad_kmeans';
SELECT sqlerr($$SELECT segkpi.refresh('2024-04-01')$$);
UPDATE segkpi.segmentations SET params = '{"features": []}' WHERE name = 'bad_kmeans';
SELECT sqlerr($$SELECT segkpi.refresh('2024-04-01')$$);
UPDATE segkpi.segmentations SET params = '{"k": 9}' WHERE name = 'bad_kmeans';
SELECT sqlerr($$SELECT segkpi.refresh('2024-04-01')$$);
DELETE FROM segkpi.segmentations WHERE name = 'bad_kmeans';
SELECT sqlerr($$INSERT INTO segkpi.segmentations (name, method) VALUES ('(all)', 'rfm')$$);
SELECT sqlerr($$INSERT INTO segkpi.segmentations (name, method) VALUES ('k', 'magic')$$);
SELECT sqlerr($$UPDATE segkpi.settings SET period_grain = 'week'$$);
-- an INSERT into settings replaces its single row (that is how a restore works)
INSERT INTO segkpi.settings (period_grain, min_segment_size) VALUES ('quarter', 3);
SELECT count(*), min(period_grain), min(min_segment_size) FROM segkpi.settings;
UPDATE segkpi.settings SET period_grain = 'month', min_segment_size = 0;
SELECT sqlerr($$INSERT INTO segkpi.settings (id) VALUES (2)$$);

-- NaN amounts in the bound orders
CREATE TABLE bad.nan_orders (cust bigint, at timestamptz, total numeric);
INSERT INTO bad.nan_orders VALUES (1, '2024-01-01', 'NaN');
SELECT segkpi.bind_orders('bad.nan_orders', 'cust', 'at', 'total');
SELECT sqlerr($$SELECT segkpi.refresh('2024-04-01')$$);

-- Empty orders: a snapshot with no customers and no KPI rows, not an error.
-- Division by zero anywhere gives NULL.
DELETE FROM bad.nan_orders;
SELECT segkpi.refresh('2024-04-01') IS NOT NULL AS refreshed;
SELECT customers FROM segkpi.snapshots ORDER BY snapshot_id DESC LIMIT 1;
SELECT count(*) AS kpi_rows FROM segkpi.segment_kpis WHERE snapshot_id = (SELECT max(snapshot_id) FROM segkpi.snapshots);

-- Orders alone are enough: no spend, leads, feedback or customers bound
-- means unknown (NULL) spend, CAC, ROI, conversion and CSAT.
DELETE FROM segkpi.bindings WHERE source <> 'orders';
DELETE FROM segkpi.segmentations WHERE method = 'rules';
INSERT INTO segkpi.segmentations (name, method) VALUES ('rfm_only', 'rfm');
SELECT segkpi.bind_orders('hand.orders', 'cust', 'at', 'total');
-- (the views show the snapshot with the greatest as_of: earlier ones go)
DELETE FROM segkpi.snapshots;
SELECT segkpi.refresh('2024-03-01') IS NOT NULL AS refreshed;
SELECT segment, period_start, customers, revenue, attributed_spend, cac, roi, leads, conversion_rate, csat
  FROM segkpi.kpi_trends WHERE segmentation = 'rfm_only' AND segment = '(all)' ORDER BY period_start;

-- The periods begin with the earliest row, a refund included: customer 9
-- has only a refund, a month before anyone's first order, so December
-- 2023 is a period with one customer, nobody active and revenue -5.
CREATE TABLE bad.early_refund AS SELECT cust, at, total FROM hand.orders;
INSERT INTO bad.early_refund VALUES (9, '2023-12-20', -5);
SELECT segkpi.bind_orders('bad.early_refund', 'cust', 'at', 'total');
DELETE FROM segkpi.snapshots;
SELECT segkpi.refresh('2024-03-01') IS NOT NULL AS refreshed;
SELECT segment, period_start, customers, active_customers, orders, revenue
  FROM segkpi.kpi_trends WHERE segmentation = 'rfm_only' AND segment = '(all)' ORDER BY period_start;

-- unbound orders
DELETE FROM segkpi.bindings WHERE source = 'orders';
SELECT sqlerr($$SELECT segkpi.refresh('2024-04-01')$$);
SELECT sqlerr($$SELECT segkpi.bind_customers('hand.customers', 'id')$$);

-- Privileges: the (non-superuser) extension owner runs the pipeline; a role
-- without grants can read neither customer-level data nor dashboards, and
-- cannot refresh, bind or erase.
SELECT has_function_privilege('regress_segkpi_owner', 'segkpi.refresh(timestamptz, boolean)', 'EXECUTE') AS owner_refresh,
       has_function_privilege('regress_segkpi_owner', 'segkpi.bind_orders(regclass, name, name, name, name, name)', 'EXECUTE') AS owner_bind,
       has_table_privilege('regress_segkpi_owner', 'segkpi.settings', 'UPDATE') AS owner_configure,
       has_table_privilege('regress_segkpi_owner', 'segkpi.rfm_rules', 'INSERT') AS owner_rules,
       has_table_privilege('regress_segkpi_owner', 'segkpi.kpi_trends', 'SELECT') AS owner_dashboards;
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_segkpi_nobody;
RESET client_min_messages;
CREATE ROLE regress_segkpi_nobody;
SELECT has_function_privilege('regress_segkpi_nobody', 'segkpi.refresh(timestamptz, boolean)', 'EXECUTE') AS refresh,
       has_function_privilege('regress_segkpi_nobody', 'segkpi.erase_customer(anyelement)', 'EXECUTE') AS erase,
       has_function_privilege('regress_segkpi_nobody', 'segkpi.compute_kpis(bigint, text, boolean, text, interval, timestamptz, boolean, boolean, text[], boolean)', 'EXECUTE') AS internals,
       has_table_privilege('regress_segkpi_nobody', 'segkpi.kpi_trends', 'SELECT') AS dashboards,
       has_table_privilege('regress_segkpi_nobody', 'segkpi.customer_segments', 'SELECT') AS customer_level,
       has_table_privilege('regress_segkpi_nobody', 'segkpi.rfm_rules', 'SELECT') AS rules_readable;
DROP ROLE regress_segkpi_nobody;
