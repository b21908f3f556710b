-- The KPI pipeline on a data set small enough to check by hand.  Every
-- expected number is worked out in the comments; the output must match.
SET timezone = 'UTC';
CREATE SCHEMA hand;
CREATE TABLE hand.customers (id bigint PRIMARY KEY, joined timestamptz, channel text, size text);
INSERT INTO hand.customers VALUES
    (1, '2024-01-05', 'ads', 'S'), (2, '2024-01-20', 'seo', 'L'),
    (3, '2024-02-10', 'ads', 'S'), (4, '2024-02-15', 'ads', 'L');
CREATE TABLE hand.orders (cust bigint, at timestamptz, total numeric(10,2), cost numeric(10,2));
INSERT INTO hand.orders VALUES
    (1, '2024-01-05', 100, 60), (1, '2024-02-03', 50, 30), (1, '2024-02-20', -20, 0),
    (2, '2024-01-25', 200, 100),
    (3, '2024-02-10', 80, 40),
    (4, '2024-02-15', 40, 30), (4, '2024-02-16', -50, 0),   -- refund larger than the purchase
    (1, '2024-03-01', 999, 0);                              -- at as_of: outside the snapshot
CREATE TABLE hand.spend (day date, channel text, target text, amount numeric);
INSERT INTO hand.spend VALUES
    ('2024-01-01', 'ads', NULL, 100),   -- Jan: ads brought c1 (Small) -> Small 100
    ('2024-01-15', NULL, NULL, 60),     -- Jan: untagged -> by Jan new (c1 S, c2 L): 30 / 30
    ('2024-02-01', 'seo', 'Large', 90), -- Feb: the segment tag wins -> Large 90
    ('2024-02-01', 'seo', NULL, 30),    -- Feb: seo brought nobody -> by Feb new (c3 S, c4 L): 15 / 15
    ('2024-02-05', NULL, 'Unknown', 10);-- Feb: unknown tag = untagged -> 5 / 5
CREATE TABLE hand.leads (created timestamptz, converted timestamptz, cust bigint, size text);
INSERT INTO hand.leads VALUES
    ('2024-01-02', '2024-01-05', 1, 'S'), ('2024-01-10', NULL, NULL, 'L'),
    ('2024-01-18', '2024-01-20', 2, 'L'),
    ('2024-02-01', '2024-03-05', NULL, 'S'),   -- converts after as_of: not converted yet
    ('2024-02-08', '2024-02-10', 3, 'S'),
    ('2024-02-12', NULL, NULL, NULL);          -- no attributes: segment Other
CREATE TABLE hand.feedback (cust bigint, at timestamptz, score int);
INSERT INTO hand.feedback VALUES (1, '2024-01-10', 4), (2, '2024-02-01', 2), (3, '2024-02-20', 5), (1, '2024-02-25', 3);

SELECT segkpi.bind_orders('hand.orders', 'cust', 'at', 'total', cost => 'cost');
SELECT segkpi.bind_customers('hand.customers', 'id', acquired_at => 'joined', channel => 'channel', attributes => '{size}');
SELECT segkpi.bind_marketing_spend('hand.spend', 'day', 'amount', channel => 'channel', target_segment => 'target');
SELECT segkpi.bind_leads('hand.leads', 'created', 'converted', customer => 'cust', attributes => '{size}');
SELECT segkpi.bind_feedback('hand.feedback', 'cust', 'at', 'score');
SELECT source, relation, columns - '_key_type' AS columns, attributes FROM segkpi.bindings ORDER BY source;

INSERT INTO segkpi.segmentations (name, method) VALUES ('size', 'rules');
INSERT INTO segkpi.segment_rules VALUES ('size', 1, 'Small', '{"size": ["S"]}'), ('size', 2, 'Large', '{"size": ["L"]}');
UPDATE segkpi.settings SET min_segment_size = 0;

SELECT segkpi.refresh('2024-03-01') AS snapshot;

-- Jan: customers (all) 2, Small 1 (c1), Large 1 (c2); all active and new.
--   revenue: Small 100, Large 200, all 300; cost 60 / 100 / 160.
--   spend: Small 100 + 30 = 130, Large 30, all 160; CAC 130, 30, 80.
--   ROI: Small (100-60-130)/(60+130) = -0.4737, Large 70/130 = 0.5385, all -20/320 = -0.0625
--   marketing ROI: -90/130 = -0.6923, 70/30 = 2.3333, -20/160 = -0.125
--   CLTV historical: margin to date / customers: 40, 100, 70.  Retention: NULL (first period).
--   leads: Small 1 of 1 converted, Large 1 of 2, all 2 of 3.  CSAT: Small 4, all 4.
-- Feb: customers 2 / 2 / 4 (share 0.5); active Small 2 (c1, c3), Large 1 (c4), all 3.
--   new 1 / 1 / 2; orders 2 / 1 / 3 (refunds are not orders).
--   revenue Small 50-20+80 = 110, Large 40-50 = -10, all 100; cost 70, 30, 100.
--   AOV 55, -10, 33.33; retention: Small 1/1, Large 0/1, all 1/2; churn 0, 1, 0.5.
--   spend Small 15+5 = 20, Large 90+15+5 = 110, all 130; CAC 20, 110, 65.
--   ROI 20/90 = 0.2222, -150/140 = -1.0714, -130/230 = -0.5652.
--   CLTV historical (40+40)/2 = 40, (100-40)/2 = 30, 140/4 = 35.
--   CLTV formula: Small retention 1 -> churn 0 -> NULL; Large AOV -10 x 1 x 12 / 1 x (-40/-10) = -480;
--     all 33.33 x 12 / (1 - 0.5^12) x 0/100 = 0.
--   leads Small 2 (1 converted), Large 0 (NULL rate), all 3 (1); CSAT Small 4 (5, 3), Large 2, all 3.33.
SELECT segment, period_start, customers, share, active_customers AS act, new_customers AS new, orders,
       revenue, cost, aov, retention_rate AS ret, churn_rate AS churn
  FROM segkpi.kpi_trends WHERE segmentation = 'size' ORDER BY period_start, segment;
SELECT segment, period_start, attributed_spend AS spend, cac, roi, marketing_roi AS mroi,
       cltv_historical AS cltv_h, cltv_formula AS cltv_f, leads, converted_leads AS conv,
       conversion_rate AS conv_rate, csat
  FROM segkpi.kpi_trends WHERE segmentation = 'size' ORDER BY period_start, segment;
-- the latest period only
SELECT segment, period_start, customers FROM segkpi.kpi_latest ORDER BY segment;
-- assignments keep the warehouse's key type: they join back without casts
SELECT c.id, c.size, s.segment FROM hand.customers c
  JOIN segkpi.customer_segments s ON s.customer_id = c.id ORDER BY c.id;
SELECT pg_typeof(customer_id) FROM segkpi.customer_features LIMIT 1;

-- a second snapshot: c2 buys again in March; migration and before/after
INSERT INTO hand.orders VALUES (2, '2024-03-10', 30, 10);
UPDATE segkpi.settings SET launch_date = '2024-02-01';
SELECT segkpi.refresh('2024-04-01') AS snapshot;
SELECT * FROM segkpi.segment_migration ORDER BY 1, 2, 3;
-- before (Jan) / after (Feb, Mar): CAC 160/2 = 80 -> 130/2 = 65; retention Jan NULL -> (1 + 1)/(2 + 3)
-- (the figures of all customers; the view has more, per segment: sql/segmentation_roi.sql)
SELECT metric, before_segmentation, after_segmentation, change, impact_percent FROM segkpi.before_after
 WHERE segmentation = 'size' AND segment = '(all)' AND metric IN ('CAC', 'AOV', 'retention rate', 'churn rate',
       'CLTV (historical)', 'ROI', 'marketing ROI', 'CSAT', 'revenue per period');
SELECT r, f, customers, mean_monetary FROM segkpi.rfm_grid ORDER BY r, f;

-- Privacy: with a minimum size of 2, one-customer rows disappear from dashboards.
UPDATE segkpi.settings SET min_segment_size = 2;
SELECT segment, period_start, customers FROM segkpi.kpi_trends WHERE segmentation = 'size' ORDER BY 2, 1;
-- customer-level tables are not for PUBLIC
SELECT has_table_privilege('public', 'segkpi.customer_segments', 'SELECT') AS public_can_read;

-- Erasure: customer 3 leaves every customer-level table.
SELECT segkpi.erase_customer(3::bigint) AS rows_erased;
SELECT count(*) FROM segkpi.customer_segments WHERE customer_id = 3;
SELECT count(*) FROM segkpi.customer_features WHERE customer_id = 3;
SELECT sqlerr($$SELECT segkpi.erase_customer('3'::text)$$);


-- Leads whose attribute types cannot be grouped (xml has no equality) are
-- segmented lead by lead; those that can are counted per distinct value
-- first.  Both give the same counts.
SELECT segkpi.refresh('2024-04-01') AS grouped \gset
CREATE VIEW hand.leads_xml AS SELECT created, converted, cust, size::xml AS size FROM hand.leads;
SELECT segkpi.bind_leads('hand.leads_xml', 'created', 'converted', customer => 'cust', attributes => '{size}');
SELECT segkpi.groupable_columns('hand.leads_xml', '{size}') AS xml_groupable,
       segkpi.groupable_columns('hand.leads', '{size}') AS text_groupable;
-- arrays group by their elements' equality (json has none), domains by their base type
CREATE DOMAIN hand.band AS text;
CREATE TABLE hand.kinds (a int[], b json[], c hand.band[], d point);
SELECT segkpi.groupable_columns('hand.kinds', '{a}') AS int_array, segkpi.groupable_columns('hand.kinds', '{b}') AS json_array,
       segkpi.groupable_columns('hand.kinds', '{c}') AS domain_array, segkpi.groupable_columns('hand.kinds', '{d}') AS point;
SELECT segkpi.refresh('2024-04-01') AS per_lead \gset
SELECT count(*) AS kpi_rows, sum(a.leads) AS leads,
       count(*) FILTER (WHERE a.leads IS NOT DISTINCT FROM b.leads
                          AND a.converted_leads IS NOT DISTINCT FROM b.converted_leads) AS same
  FROM segkpi.segment_kpis a JOIN segkpi.segment_kpis b USING (segmentation, segment, period_start)
 WHERE a.snapshot_id = :grouped AND b.snapshot_id = :per_lead;
SELECT segkpi.bind_leads('hand.leads', 'created', 'converted', customer => 'cust', attributes => '{size}');
DELETE FROM segkpi.snapshots WHERE snapshot_id IN (:grouped, :per_lead);
