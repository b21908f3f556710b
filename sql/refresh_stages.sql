-- The pieces segkpi.refresh is built from: the one dispatch of the
-- segmentation methods, the methods' pieces, the working tables and the
-- KPI formulas.  Runs after kpi_demo, whose last part installed the
-- extension fresh as regress_segkpi_owner, with demo.orders bound.
SET ROLE regress_segkpi_owner;

-- An unknown method is an error that names the segmentation and the
-- method, never RFM by default.  The CHECK on segmentations.method keeps
-- such a row out of the table, so the dispatch is called directly.
SELECT sqlerr($$INSERT INTO segkpi.segmentations (name, method) VALUES ('k', 'magic')$$);
SELECT sqlerr($$SELECT segkpi.method_piece('assign', ROW('k', 'magic', '{}', true)::segkpi.segmentations, 1, NULL, '{}')$$);
SELECT sqlerr($$SELECT segkpi.method_piece('assign', ROW('k', NULL, '{}', true)::segkpi.segmentations, 1, NULL, '{}')$$);
SELECT sqlerr($$SELECT segkpi.method_piece('colour', ROW('k', 'rfm', '{}', true)::segkpi.segmentations, 1, NULL, '{}')$$);
-- every known method is dispatched: the segment of a customer row x, and
-- the values the piece appended to vals (read as $3[n], never pasted)
SELECT m AS method, regexp_replace(p.sql, '\s+', ' ', 'g') AS assign, p.vals
  FROM unnest(ARRAY['rfm', 'rules', 'kmeans']) m,
       segkpi.method_piece('assign', ROW('s', m, '{"ruleset": "custom"}', true)::segkpi.segmentations, 2, NULL,
                           '{x,s}') p
 ORDER BY 1;
SELECT regexp_replace(p.sql, '\s+', ' ', 'g') AS fit, p.vals
  FROM segkpi.method_piece('fit', ROW('s', 'rfm', '{"bins": 3}', true)::segkpi.segmentations, 1, NULL, '{s}') p;

-- Rule values, however they are spelled, are parameters: quotes, dollar
-- signs and placeholders in them are data.  Bounds are read by the
-- attribute's type; a JSON null in a list matches nothing.
CREATE SCHEMA stages;
CREATE TABLE stages.attrs (customer_id bigint, label text, size integer);
INSERT INTO stages.attrs VALUES (1, 'it''s', 5), (2, 'a$3[1]', 50), (3, 'x', 12), (4, NULL, NULL);
INSERT INTO segkpi.segmentations VALUES ('quoted', 'rules', '{}', false);
INSERT INTO segkpi.segment_rules VALUES
    ('quoted', 1, 'O''Brien''s $1', '{"label": ["it''s", null]}'),
    ('quoted', 2, '$3[1]', '{"label": ["a$3[1]"], "size": {"max": "50"}}'),
    ('quoted', 3, 'Mid', '{"size": {"min": 10, "max": 20}}');
CREATE FUNCTION pg_temp.rule_segments(b segkpi.bindings)
    RETURNS TABLE (customer_id bigint, segment text) LANGUAGE plpgsql AS $$
DECLARE
    c record := segkpi.rule_case('quoted', 'c', b, '{}');
BEGIN
    RETURN QUERY EXECUTE 'SELECT c.customer_id, ' || c.sql || ' FROM stages.attrs c ORDER BY 1'
        USING NULL::timestamptz, NULL::text, c.vals;
END $$;
SELECT regexp_replace(c.sql, '\s+', ' ', 'g') AS rule_case, c.vals, c.reads
  FROM segkpi.rule_case('quoted', 'c', ROW('customers', 'stages.attrs', '{}', '{label,size}', now())::segkpi.bindings,
                        '{}') c;
SELECT * FROM pg_temp.rule_segments(ROW('customers', 'stages.attrs', '{}', '{label,size}', now())::segkpi.bindings);
-- only bound attributes
SELECT sqlerr($$SELECT * FROM pg_temp.rule_segments(ROW('customers', 'stages.attrs', '{}', '{label}', now())::segkpi.bindings)$$);
DELETE FROM segkpi.segmentations WHERE name = 'quoted';

-- Working tables are declared in one place; nothing else is created.
SELECT name, stage FROM segkpi.work_tables() ORDER BY 1;
SELECT sqlerr($$SELECT segkpi.work_table('segkpi_other')$$);

-- A refresh reads rule bounds and compares attributes as text in one
-- DateStyle (ISO, MDY), whatever the session's: 01/02/2024 is 2 January.
SELECT segkpi.bind_customers('demo.customers', 'customer_id', attributes => '{acquired_at,size_band}');
INSERT INTO segkpi.segmentations (name, method) VALUES ('joined', 'rules');
INSERT INTO segkpi.segment_rules VALUES ('joined', 1, 'since 2 January', '{"acquired_at": {"min": "01/02/2024"}}');
SET DateStyle = 'SQL, DMY';
SELECT segkpi.refresh('2025-01-01') IS NOT NULL AS refreshed;
RESET DateStyle;
SELECT (SELECT customers FROM segkpi.segment_kpis
         WHERE snapshot_id = (SELECT max(snapshot_id) FROM segkpi.snapshots)
           AND segmentation = 'joined' AND segment = 'since 2 January'
           AND period_start = '2024-12-01')
     = (SELECT count(*) FROM demo.customers c JOIN segkpi.customer_features f USING (customer_id)
         WHERE f.snapshot_id = (SELECT max(snapshot_id) FROM segkpi.snapshots)
           AND c.acquired_at >= '2024-01-02') AS same_as_2_january,
       (SELECT count(*) > 0 FROM demo.customers c
         WHERE c.acquired_at >= '2024-01-02' AND c.acquired_at < '2024-02-01') AS a_test_that_tells;
-- every stage reports its time (predict_clv is off)
SELECT array_agg(k ORDER BY k) AS stages
  FROM segkpi.snapshots s, jsonb_object_keys(s.stages) k
 WHERE s.snapshot_id = (SELECT max(snapshot_id) FROM segkpi.snapshots);
DELETE FROM segkpi.segmentations WHERE name = 'joined';
DELETE FROM segkpi.bindings WHERE source = 'customers';

-- The stages and the methods are internal: PUBLIC cannot call them.
RESET ROLE;
SELECT p.oid::regprocedure AS callable_by_public
  FROM pg_proc p
 WHERE p.pronamespace = 'segkpi'::regnamespace
   AND (p.proname LIKE 'stage\_%' OR p.proname LIKE 'method\_%' OR p.proname IN ('work_table', 'work_tables'))
   AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY 1;

-- KPI formulas: defined once, inlined into the queries that use them,
-- NULL on a zero denominator, and a loss-making segment never shows a
-- positive ROI.
SELECT segkpi.kpi_aov(100, 0) AS aov, segkpi.kpi_cac(10, 0) AS cac, segkpi.kpi_churn_rate(3, 4) AS churn,
       segkpi.kpi_roi(80, 100, 20) AS roi, segkpi.kpi_marketing_roi(80, 100, 0) AS marketing_roi,
       round(segkpi.kpi_cltv_formula(50, 2, 0.5, 100, 40, 12), 4) AS cltv_formula;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT segkpi.kpi_roi(sum(r), sum(c), sum(s)) FROM (VALUES (1.0, 2.0, 3.0)) v(r, c, s);
DROP SCHEMA stages CASCADE;
