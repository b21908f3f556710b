-- btyd_stats: per-customer calibration summaries (x, t_x, T, zbar) from
-- order rows; UTC calendar days, same-day rows merged, refund days, units,
-- the state's text form, parallel plans, and an oracle written in SQL.
SET timezone = 'UTC';
SET extra_float_digits = 0;

CREATE TABLE bo (c int, t timestamptz, a numeric);
INSERT INTO bo VALUES
    -- 1: two rows on Jan 1 merge (15); Jan 8 (20); Jan 22 (30.50); Feb 5 is after calibration
    (1, '2024-01-01 09:00', 10), (1, '2024-01-01 17:00', 5), (1, '2024-01-08', 20),
    (1, '2024-01-22', 30.50), (1, '2024-02-05', 100),
    -- 2: one purchase exactly at calibration_end (midnight of its day): in, T = 0
    (2, '2024-01-29 00:00', 12),
    -- 3: first purchase after calibration_end: no summary (NULL)
    (3, '2024-01-29 00:00:01', 12),
    -- 4: refunds.  Jan 10 nets -10 (not a purchase), Jan 15 is a refund only,
    --    Jan 20 a zero-value purchase (a purchase)
    (4, '2024-01-01', 50), (4, '2024-01-10', 20), (4, '2024-01-10', -30),
    (4, '2024-01-15', -5), (4, '2024-01-20', 0),
    -- 5: only refunds: no summary
    (5, '2024-01-03', -10),
    -- 6: NULL time or amount rows are skipped
    (6, '2024-01-05', 7), (6, NULL, 100), (6, '2024-01-12', NULL), (6, '2024-01-19', 9),
    -- 7: times of day: 23:59:59 and the next midnight are different days
    (7, '2024-01-27 23:59:59', 1.25), (7, '2024-01-28 00:00', 2.75);

SELECT c, (s).x, (s).t_x, (s).t, (s).zbar, s IS NULL AS is_null
  FROM (SELECT c, segkpi.btyd_stats(t, a, '2024-01-29') s FROM bo GROUP BY c) q ORDER BY c;

-- units: a fixed-length interval; the 3-argument form is weeks
SELECT u, (segkpi.btyd_stats(t, a, '2024-01-29', u)).*
  FROM bo, (VALUES (interval '1 week'), (interval '1 day'), (interval '12 hours'), (interval '30 days')) v(u)
 WHERE c = 1 GROUP BY u ORDER BY u;

-- calendar days are UTC days whatever the session time zone: 10:00 and
-- 20:00 in New York on Jan 1 fall on Jan 1 and Jan 2 UTC
SET timezone = 'America/New_York';
SELECT (segkpi.btyd_stats(t, 1, '2024-01-10 00:00+00')).*
  FROM (VALUES (timestamptz '2024-01-01 10:00'), ('2024-01-01 20:00')) v(t);
-- ... and local days come from local wall-clock time read as UTC
SELECT (segkpi.btyd_stats((t AT TIME ZONE 'America/New_York') AT TIME ZONE 'UTC', 1,
                          timestamptz '2024-01-10 00:00+00')).*
  FROM (VALUES (timestamptz '2024-01-01 10:00'), ('2024-01-01 20:00')) v(t);
SET timezone = 'UTC';

-- empty input: NULL
SELECT segkpi.btyd_stats(t, a, '2024-01-29') IS NULL AS empty FROM bo WHERE false;

-- the state's text form: sorted days with exact nets, and its round trip
SELECT '1:432000000000:604800000000:-3=1.50,0=-2,5=0.001'::segkpi.btyd_state;
SELECT '1:0:604800000000:'::segkpi.btyd_state;
SELECT segkpi.btyd_state_out(segkpi.btyd_state_in('1:86400000000:86400000000:-10=1,1=2'));

-- many days of one customer in reverse order (state growth and merging):
-- 300 rows on 100 distinct days
SELECT (segkpi.btyd_stats(timestamptz '2024-01-01' + (i % 100) * interval '1 day', i, '2024-12-31', '1 day')).*
  FROM generate_series(300, 1, -1) i;

-- A larger deterministic data set, against the rule written in SQL
CREATE TABLE gen AS
SELECT i % 700 AS c,
       timestamptz '2023-01-01' + ((i * 7919) % 400) * interval '1 day' + ((i * 31) % 24) * interval '1 hour' AS t,
       ((i * 104729) % 10000) / 100.0 - CASE WHEN i % 17 = 0 THEN 80 ELSE 0 END AS a
  FROM generate_series(1::bigint, 30000) i;
ANALYZE gen;
CREATE TABLE gen_oracle AS
WITH d AS (SELECT c, (t AT TIME ZONE 'UTC')::date AS day, sum(a) AS net
             FROM gen WHERE t <= '2023-12-01' GROUP BY c, day),
     p AS (SELECT c, day, net, row_number() OVER (PARTITION BY c ORDER BY day) AS rn
             FROM d WHERE net >= 0)
SELECT c, (count(*) - 1)::int AS x, (max(day) - min(day)) / 7.0 AS t_x,
       (date '2023-12-01' - min(day)) / 7.0 AS t,
       coalesce(avg(net) FILTER (WHERE rn > 1), 0) AS zbar
  FROM p GROUP BY c;
CREATE TABLE gen_serial AS
SELECT c, segkpi.btyd_stats(t, a, '2023-12-01') s FROM gen GROUP BY c;
SELECT count(*) AS customers, count(s) AS with_summary,
       count(*) FILTER (WHERE (s).x IS DISTINCT FROM o.x
                           OR abs((s).t_x - o.t_x) > 1e-12 OR abs((s).t - o.t) > 1e-12
                           OR abs((s).zbar - o.zbar) > 1e-9) AS mismatches,
       sum((s).x) AS sum_x
  FROM gen_serial g FULL JOIN gen_oracle o USING (c);

-- parallel plan (partial aggregation + combine) gives the same bits
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT c, segkpi.btyd_stats(t, a, '2023-12-01') FROM gen GROUP BY c;
EXPLAIN (COSTS OFF) SELECT segkpi.btyd_stats(t, a, '2023-12-01') FROM gen;
SELECT count(*) AS customers,
       count(*) FILTER (WHERE p.s IS DISTINCT FROM g.s) AS differ
  FROM (SELECT c, segkpi.btyd_stats(t, a, '2023-12-01') s FROM gen GROUP BY c) p
  JOIN gen_serial g USING (c);
-- all rows as one customer, split across workers and combined
SELECT (segkpi.btyd_stats(t, a, '2023-12-01')).* FROM gen;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
SELECT (segkpi.btyd_stats(t, a, '2023-12-01')).* FROM gen;
