-- Parallel plans: rfm_agg is split into partial aggregates and combined,
-- with the same results as a serial plan.
SET timezone = 'UTC';
CREATE TABLE par_orders AS
SELECT (i * 7919) % 5000 AS customer, (i % 7) AS region,
       timestamptz '2022-01-01' + ((i * 104729) % 900) * interval '1 day' AS ordered_at,
       CASE WHEN i % 97 = 0 THEN -round((i % 500) / 10.0, 1)
            WHEN i % 1013 = 0 THEN 1e39 + i            -- forces the spill path in some groups
            ELSE round(((i * 15485863) % 90000) / 100.0, 2) END AS amount
  FROM generate_series(1::bigint, 100000) i;
ANALYZE par_orders;

SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET parallel_leader_participation = off;

-- grouping by region: every group's state is combined from both workers
EXPLAIN (COSTS OFF)
SELECT region, segkpi.rfm_agg(ordered_at, amount) FROM par_orders GROUP BY region;
CREATE TABLE par_result AS
SELECT region, segkpi.rfm_agg(ordered_at, amount) AS st FROM par_orders GROUP BY region;

-- grouping by customer, scored by the window function above the Gather
-- (the plan's shape: from PostgreSQL 18 on, the text form adds the window
-- definition)
SELECT plan_shape($$
SELECT customer, segkpi.rfm_score(segkpi.rfm_agg(ordered_at, amount), '2025-01-01') OVER ()
  FROM par_orders GROUP BY customer$$);
CREATE TABLE par_scores AS
SELECT customer, segkpi.rfm_score(segkpi.rfm_agg(ordered_at, amount), '2025-01-01') OVER () AS s
  FROM par_orders GROUP BY customer;

RESET max_parallel_workers_per_gather;
SET max_parallel_workers_per_gather = 0;
SELECT count(*) AS region_differences
  FROM (SELECT region, st::text FROM par_result
        EXCEPT
        SELECT region, segkpi.rfm_agg(ordered_at, amount)::text FROM par_orders GROUP BY region) d;
SELECT count(*) AS score_differences
  FROM (SELECT customer, s::text FROM par_scores
        EXCEPT
        SELECT customer, (segkpi.rfm_score(segkpi.rfm_agg(ordered_at, amount), '2025-01-01') OVER ())::text
          FROM par_orders GROUP BY customer) d;
-- and the totals equal the built-in sum
SELECT count(*) AS sum_differences
  FROM par_result p JOIN (SELECT region, sum(amount) s FROM par_orders GROUP BY region) b USING (region)
 WHERE (p.st).monetary <> b.s;
