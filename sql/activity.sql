-- activity: segkpi.activity_agg, activity_summary and activity_rollup.
SET search_path = public;
SET TimeZone = 'UTC';
CREATE TABLE act_orders (cust int, at timestamptz, total numeric, cost numeric);
INSERT INTO act_orders VALUES
    (1, '2024-01-05', 10.50, 4),   (1, '2024-01-20', 5, NULL),  (1, '2024-02-03', -2.25, NULL),
    (1, '2024-03-10', 7.125, 1),   (2, '2024-02-14', 100, 60),  (2, '2024-03-01', 50, 30),
    (3, '2024-01-31 23:59', -1, 0), (3, NULL, 5, 5),             (3, '2024-01-02', NULL, 1);

-- one value per customer: periods increasing, sums exact at the largest scale
SELECT cust, segkpi.activity_agg(date_trunc('month', at)::date, at, total, cost)
  FROM act_orders GROUP BY cust ORDER BY cust;
SELECT cust, (segkpi.activity_summary(segkpi.activity_agg(date_trunc('month', at)::date, at, total, cost))).*
  FROM act_orders GROUP BY cust ORDER BY cust;
-- no rows, or only rows with NULLs: NULL
SELECT segkpi.activity_agg(NULL::date, now(), 1, 1) IS NULL AS all_null,
       (SELECT segkpi.activity_agg(at::date, at, total, cost) FROM act_orders WHERE false) IS NULL AS empty;

-- text form round trip
SELECT a::text::segkpi.activity::text = a::text AS round_trip
  FROM (SELECT segkpi.activity_agg(date_trunc('month', at)::date, at, total, cost) AS a
          FROM act_orders GROUP BY cust) x;

-- roll-up by month and by quarter; (all) through grouping sets
SELECT p.* FROM (SELECT segkpi.activity_rollup(a, 1) AS r
                   FROM (SELECT segkpi.activity_agg(date_trunc('month', at)::date, at, total, cost) AS a
                           FROM act_orders GROUP BY cust) x) y, unnest(y.r) p ORDER BY p.period;
SELECT p.* FROM (SELECT segkpi.activity_rollup(a, 3) AS r
                   FROM (SELECT segkpi.activity_agg(date_trunc('quarter', at)::date, at, total, cost) AS a
                           FROM act_orders GROUP BY cust) x) y, unnest(y.r) p ORDER BY p.period;

-- against a plain SQL oracle on generated data, serial and parallel
CREATE TABLE act_gen AS
SELECT (hashint8extended(i, 1) & 2047) AS cust,
       timestamptz '2022-01-01' + (abs(hashint8extended(i, 2) % 1096) * interval '1 day')
           + (abs(hashint8extended(i, 3) % 86400) * interval '1 second') AS at,
       ((hashint8extended(i, 4) % 50000) / 100.0)::numeric AS total,
       CASE WHEN i % 5 = 0 THEN NULL ELSE ((hashint8extended(i, 5) & 1023) / 10.0)::numeric END AS cost
  FROM generate_series(1, 60000) i;
ANALYZE act_gen;
CREATE TABLE act_oracle AS
WITH cp AS (
    SELECT cust, date_trunc('month', at)::date AS period, count(*) FILTER (WHERE total > 0) AS orders,
           sum(total) AS revenue, coalesce(sum(cost), 0) AS cost
      FROM act_gen GROUP BY 1, 2
), flagged AS (
    SELECT cp.*, (orders > 0 AND lag(orders) OVER w > 0
                  AND lag(period) OVER w = (period - interval '1 month')::date) AS retained
      FROM cp WINDOW w AS (PARTITION BY cust ORDER BY period)
)
SELECT period, count(*) FILTER (WHERE orders > 0) AS active, count(*) FILTER (WHERE retained) AS retained,
       sum(orders)::bigint AS orders, sum(revenue) AS revenue, sum(cost) AS cost
  FROM flagged GROUP BY period;
CREATE TABLE act_cust AS
SELECT cust, segkpi.activity_agg(date_trunc('month', at)::date, at, total, cost) AS a
  FROM act_gen GROUP BY cust;
SELECT count(*) AS mismatches
  FROM (SELECT p.* FROM (SELECT segkpi.activity_rollup(a, 1) AS r FROM act_cust) y, unnest(y.r) p) s
  FULL JOIN act_oracle o USING (period)
 WHERE s IS DISTINCT FROM o;
SELECT count(*) AS periods FROM act_oracle;
-- customer totals against plain aggregates
SELECT count(*) AS mismatches
  FROM act_cust c, segkpi.activity_summary(c.a) s,
       (SELECT cust, min(at) AS first_row, max(at) FILTER (WHERE total > 0) AS last_order,
               count(*) FILTER (WHERE total > 0) AS orders, sum(total) AS revenue, coalesce(sum(cost), 0) AS cost
          FROM act_gen GROUP BY cust) o
 WHERE o.cust = c.cust
   AND (s.first_row_at, s.last_order_at, s.orders, s.revenue, s.cost)
       IS DISTINCT FROM (o.first_row, o.last_order, o.orders, o.revenue, o.cost);
-- sums past 64 bits switch a state to wide entries on the way; growth
-- through several sizes (60 periods), narrow and wide, keeps every sum
CREATE TABLE act_wide AS
SELECT c AS cust, timestamptz '2020-01-15' + (m * interval '1 month') + (r * interval '1 hour') AS at,
       CASE WHEN c = 1 THEN 1.5 ELSE round(1.2345678 * 10::numeric ^ (m / 4), 7) END AS total
  FROM generate_series(1, 2) c, generate_series(0, 59) m, generate_series(1, 3) r;
SELECT cust, s.periods, s.orders, s.revenue = (SELECT sum(total) FROM act_wide w WHERE w.cust = x.cust) AS exact,
       a::text::segkpi.activity::text = a::text AS round_trip
  FROM (SELECT cust, segkpi.activity_agg(date_trunc('month', at)::date, at, total, NULL) AS a
          FROM act_wide GROUP BY cust) x, segkpi.activity_summary(x.a) s ORDER BY cust;
DROP TABLE act_wide;
-- parallel plans: partial activities per customer are combined, roll-ups merged
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET enable_hashagg = off;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF)
SELECT cust, segkpi.activity_agg(date_trunc('month', at)::date, at, total, cost) FROM act_gen GROUP BY cust;
SELECT count(*) AS differ
  FROM (SELECT cust, segkpi.activity_agg(date_trunc('month', at)::date, at, total, cost)::text AS t
          FROM act_gen GROUP BY cust) p JOIN act_cust c USING (cust)
 WHERE p.t <> c.a::text;
EXPLAIN (COSTS OFF) SELECT segkpi.activity_rollup(a, 1) FROM act_cust;
SELECT count(*) AS mismatches
  FROM (SELECT p.* FROM (SELECT segkpi.activity_rollup(a, 1) AS r FROM act_cust) y, unnest(y.r) p) s
  FULL JOIN act_oracle o USING (period)
 WHERE s IS DISTINCT FROM o;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET enable_hashagg;
RESET parallel_leader_participation;

-- bad input: each an ERROR with its SQLSTATE
SELECT sqlerr($$SELECT segkpi.activity_agg(now()::date, now(), 'NaN', 0)$$);
SELECT sqlerr($$SELECT segkpi.activity_agg(now()::date, now(), 1, '-Infinity')$$);
SELECT sqlerr($$SELECT segkpi.activity_agg('infinity'::date, now(), 1, 0)$$);
SELECT sqlerr($$SELECT segkpi.activity_agg(now()::date, 'infinity', 1, 0)$$);
SELECT sqlerr($$SELECT segkpi.activity_agg(now()::date, now(), x, 0)
                  FROM (VALUES (99999999999999999999999999999999999999::numeric),
                               (99999999999999999999999999999999999999::numeric)) v(x)$$);
SELECT sqlerr($$SELECT segkpi.activity_agg(now()::date, now(), 1e40, 0)$$);
SELECT sqlerr($$SELECT segkpi.activity_rollup(a, 0) FROM act_cust$$);
SELECT sqlerr($$SELECT segkpi.activity_rollup(a, 13) FROM act_cust$$);
SELECT sqlerr($$SELECT segkpi.activity_rollup(a, NULL) FROM act_cust$$);
SELECT sqlerr($$SELECT segkpi.activity_rollup(a, ((cust % 2) + 1)::int) FROM act_cust$$);
SELECT sqlerr($$SELECT segkpi.activity_agg_sfunc(NULL, now()::date, now(), 1, 1)$$);
-- malformed text: wrong version, no periods, orders that do not add up,
-- periods out of order, first row after first order, junk, too long
SELECT sqlerr($$SELECT '2:0:1:0:0:0:0;0,1,5,0'::segkpi.activity$$);
SELECT sqlerr($$SELECT '1:0:0:0:0:0:0'::segkpi.activity$$);
SELECT sqlerr($$SELECT '1:0:2:0:0:0:0;0,1,5,0'::segkpi.activity$$);
SELECT sqlerr($$SELECT '1:0:2:0:0:0:0;31,1,5,0;0,1,5,0'::segkpi.activity$$);
SELECT sqlerr($$SELECT '1:0:1:0:9:0:0;0,1,5,0'::segkpi.activity$$);
SELECT sqlerr($$SELECT '1:0:1:0:0:0:0;0,1,5,0 '::segkpi.activity$$);
SELECT sqlerr($$SELECT '1:0:1:0:0:0:0;0,1,5,0;'::segkpi.activity$$);
SELECT sqlerr($$SELECT ('1:0:1:0:0:0:0;0,1,' || repeat('9', 40) || ',0')::segkpi.activity$$);
SELECT '1:0:0:1:0:0:0;0,0,-5,0'::segkpi.activity AS refund_only;
DROP TABLE act_orders, act_gen, act_oracle, act_cust;
