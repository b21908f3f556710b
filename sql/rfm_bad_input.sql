-- Bad input to the RFM functions: every case is an ERROR with a SQLSTATE,
-- or a documented result.
SET timezone = 'UTC';

-- amounts that are not finite numbers (22000), orders dated +-infinity (22008)
SELECT sqlerr($$SELECT segkpi.rfm_agg(t, a) FROM (VALUES (now(), 'NaN'::numeric)) v(t, a)$$);
SELECT sqlerr($$SELECT segkpi.rfm_agg(t, a) FROM (VALUES (now(), 'Infinity'::numeric)) v(t, a)$$);
SELECT sqlerr($$SELECT segkpi.rfm_agg(t, a) FROM (VALUES (now(), '-Infinity'::numeric)) v(t, a)$$);
SELECT sqlerr($$SELECT segkpi.rfm_agg(t, 1) FROM (VALUES ('infinity'::timestamptz)) v(t)$$);
SELECT sqlerr($$SELECT segkpi.rfm_agg(t, 1) FROM (VALUES ('-infinity'::timestamptz)) v(t)$$);

-- state functions called directly, outside an aggregate (0A000)
SELECT sqlerr($$SELECT segkpi.rfm_agg_sfunc(NULL, now(), 1)$$);
SELECT sqlerr($$SELECT segkpi.rfm_agg_combine('1:1:0:5:5:1', '1:1:0:5:5:1')$$);

-- bins outside 1..100 (22023), NULL bins/as_of/ruleset (22004)
CREATE TABLE bad_orders (c int, t timestamptz, a numeric);
INSERT INTO bad_orders VALUES (1, '2024-01-01', 10), (2, '2024-02-01', 20);
SELECT sqlerr($$SELECT segkpi.rfm_score(segkpi.rfm_agg(t, a), '2025-01-01', 0) OVER () FROM bad_orders GROUP BY c$$);
SELECT sqlerr($$SELECT segkpi.rfm_score(segkpi.rfm_agg(t, a), '2025-01-01', 1000000) OVER () FROM bad_orders GROUP BY c$$);
SELECT sqlerr($$SELECT segkpi.rfm_score(segkpi.rfm_agg(t, a), '2025-01-01', -5) OVER () FROM bad_orders GROUP BY c$$);
SELECT sqlerr($$SELECT segkpi.rfm_score(segkpi.rfm_agg(t, a), '2025-01-01', NULL) OVER () FROM bad_orders GROUP BY c$$);
SELECT sqlerr($$SELECT segkpi.rfm_score(segkpi.rfm_agg(t, a), NULL) OVER () FROM bad_orders GROUP BY c$$);
SELECT sqlerr($$SELECT segkpi.rfm_score(segkpi.rfm_agg(t, a), 'infinity') OVER () FROM bad_orders GROUP BY c$$);
SELECT sqlerr($$SELECT segkpi.rfm_score(segkpi.rfm_agg(t, a), '2025-01-01', 5, NULL) OVER () FROM bad_orders GROUP BY c$$);
SELECT sqlerr($$SELECT segkpi.rfm_score(segkpi.rfm_agg(t, a), '2025-01-01', 5, 'no such') OVER () FROM bad_orders GROUP BY c$$);

-- an order after as_of: an error that says what to do
\set VERBOSITY default
SELECT segkpi.rfm_score(segkpi.rfm_agg(t, a), '2024-01-15') OVER () FROM bad_orders GROUP BY c;
SELECT sqlerr($$SELECT segkpi.rfm_score(segkpi.rfm_agg(t, a), '2024-01-15') OVER () FROM bad_orders GROUP BY c$$);

-- as_of, bins or ruleset changing within one partition
SELECT sqlerr($$SELECT segkpi.rfm_score(segkpi.rfm_agg(t, a), '2025-01-01', c) OVER () FROM bad_orders GROUP BY c$$);
SELECT sqlerr($$SELECT segkpi.rfm_score(segkpi.rfm_agg(t, a), timestamptz '2025-01-01' + c * interval '1 day') OVER () FROM bad_orders GROUP BY c$$);
-- ... but different per partition is fine
SELECT c, (segkpi.rfm_score(segkpi.rfm_agg(t, a), '2025-01-01', c) OVER (PARTITION BY c)).r
  FROM bad_orders GROUP BY c ORDER BY c;

-- stats values that rfm_agg cannot produce (22000)
SELECT sqlerr($$SELECT segkpi.rfm_score(ROW(NULL, NULL, -1, 0, 0)::segkpi.rfm_stats, '2025-01-01') OVER ()$$);
SELECT sqlerr($$SELECT segkpi.rfm_score(ROW(NULL, NULL, 2, 0, 0)::segkpi.rfm_stats, '2025-01-01') OVER ()$$);
SELECT sqlerr($$SELECT segkpi.rfm_score(ROW('2024-02-01', '2024-01-01', 2, 0, 0)::segkpi.rfm_stats, '2025-01-01') OVER ()$$);
SELECT sqlerr($$SELECT segkpi.rfm_score(ROW('2024-01-01', '2024-01-02', 2, 0, 'NaN')::segkpi.rfm_stats, '2025-01-01') OVER ()$$);
SELECT sqlerr($$SELECT segkpi.rfm_score(ROW('2024-01-01', '2024-01-02', 2, 0, NULL)::segkpi.rfm_stats, '2025-01-01') OVER ()$$);
SELECT sqlerr($$SELECT segkpi.rfm_score(ROW('-infinity', '2024-01-02', 2, 0, 1)::segkpi.rfm_stats, '2025-01-01') OVER ()$$);
-- a NULL stats value is a documented NULL result, and an empty input no row
SELECT segkpi.rfm_score(NULL::segkpi.rfm_stats, '2025-01-01') OVER () IS NULL AS null_stats;
SELECT count(*) FROM (SELECT segkpi.rfm_score(segkpi.rfm_agg(t, a), '2025-01-01') OVER ()
                        FROM bad_orders WHERE false GROUP BY c) x;
-- a stats value with a monetary total too wide for 128 bits still ranks exactly
SELECT (s).m FROM (SELECT segkpi.rfm_score(ROW('2024-01-01', '2024-01-01', 1, 0, v)::segkpi.rfm_stats, '2025-01-01') OVER () s, v
                     FROM (VALUES (1e50), (1e-50), (-1e60), (1e50)) x(v)) y ORDER BY (s).m, v;

-- malformed state text (22P02): wrong version, counts, order of times,
-- missing or extra fields, junk, bad totals
SELECT sqlerr($$SELECT '2:1:0:5:5:1'::segkpi.rfm_state$$);
SELECT sqlerr($$SELECT '1:1:0:5:5'::segkpi.rfm_state$$);
SELECT sqlerr($$SELECT '1:1:0:5:5:1:9'::segkpi.rfm_state$$);
SELECT sqlerr($$SELECT '1:0:0:::0'::segkpi.rfm_state$$);
SELECT sqlerr($$SELECT '1:-1:2:::0'::segkpi.rfm_state$$);
SELECT sqlerr($$SELECT '1:2:0:9:5:1'::segkpi.rfm_state$$);
SELECT sqlerr($$SELECT '1:1:0:5:6:1'::segkpi.rfm_state$$);
SELECT sqlerr($$SELECT '1:1:0:::1'::segkpi.rfm_state$$);
SELECT sqlerr($$SELECT '1:0:1:5:5:1'::segkpi.rfm_state$$);
SELECT sqlerr($$SELECT '1:1:0:05:05:1'::segkpi.rfm_state$$);
SELECT sqlerr($$SELECT '1:1:0:9223372036854775807:9223372036854775807:1'::segkpi.rfm_state$$);
SELECT sqlerr($$SELECT '1:1:0:5:5:1e5'::segkpi.rfm_state$$);
SELECT sqlerr($$SELECT '1:1:0:5:5:NaN'::segkpi.rfm_state$$);
SELECT sqlerr($$SELECT '1:1:0:5:5:1.'::segkpi.rfm_state$$);
SELECT sqlerr($$SELECT '1:1:0:5:5: 1'::segkpi.rfm_state$$);
SELECT sqlerr($$SELECT '1:99999999999999999999:0:5:5:1'::segkpi.rfm_state$$);
SELECT sqlerr($$SELECT ''::segkpi.rfm_state$$);
SELECT sqlerr($$SELECT 'garbage'::segkpi.rfm_state$$);
