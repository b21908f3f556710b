-- rfm_score: the scoring rule, ties, bins, partitions, key types.
SET timezone = 'UTC';

CREATE TABLE sc_orders (customer text, region text, ordered_at timestamptz, amount numeric);
INSERT INTO sc_orders VALUES
    ('a', 'north', '2024-06-30', 50),  ('a', 'north', '2024-06-01', 50),
    ('b', 'north', '2024-06-30', 100),                      -- same last order as a
    ('c', 'north', '2024-01-01', 5),   ('c', 'north', '2024-02-01', 5), ('c', 'north', '2024-03-01', 5),
    ('d', 'south', '2023-01-01', 1000),
    ('e', 'south', '2024-05-01', 20),  ('e', 'south', '2024-05-02', -20), -- monetary 0
    ('f', 'south', '2024-04-01', -10);                       -- refunds only

-- Whole base: n = 6.  Hand check of R (on last_order_at):
--   f: no order (lowest) less=0 -> 1 + floor(5*0/6) = 1
--   d: 2023-01-01 less=1 -> 1;   c: 2024-03-01 less=2 -> 2;  e: 2024-05-01 less=3 -> 3
--   a, b: 2024-06-30 tie, less=4 -> 1 + floor(20/6) = 4 (equal values, equal scores)
SELECT customer, (segkpi.rfm_score(segkpi.rfm_agg(ordered_at, amount), '2024-07-01') OVER ()).*
  FROM sc_orders GROUP BY customer ORDER BY customer;

-- Per-partition scoring: PARTITION BY region scores each region on its own.
SELECT region, customer, (s).r, (s).f, (s).m, (s).segment
  FROM (SELECT region, customer,
               segkpi.rfm_score(segkpi.rfm_agg(ordered_at, amount), '2024-07-01')
                   OVER (PARTITION BY region) AS s
          FROM sc_orders GROUP BY region, customer) x
 ORDER BY region, customer;

-- bins = 1 puts everyone in score 1; bins = 100 on 6 customers skips scores.
SELECT customer, (s).r, (s).f, (s).m
  FROM (SELECT customer, segkpi.rfm_score(segkpi.rfm_agg(ordered_at, amount), '2024-07-01', 1) OVER () s
          FROM sc_orders GROUP BY customer) x ORDER BY customer;
SELECT customer, (s).r, (s).f, (s).m, (s).segment
  FROM (SELECT customer, segkpi.rfm_score(segkpi.rfm_agg(ordered_at, amount), '2024-07-01', bins => 100) OVER () s
          FROM sc_orders GROUP BY customer) x ORDER BY customer;

-- The customer key keeps its type: uuid and bigint keys join back without casts.
CREATE TABLE sc_uuid (id uuid, ordered_at timestamptz, amount numeric);
INSERT INTO sc_uuid
SELECT md5(i::text)::uuid, timestamptz '2024-01-01' + (i * 7 % 90) * interval '1 day', i % 13 + 1
  FROM generate_series(1, 40) i;
SELECT pg_typeof(id), count(*)
  FROM (SELECT id, segkpi.rfm_score(segkpi.rfm_agg(ordered_at, amount), '2024-06-01') OVER () s
          FROM sc_uuid GROUP BY id) x
  JOIN sc_uuid USING (id) GROUP BY 1;

-- Oracle: the rule written in plain SQL.  rank() - 1 is the number of
-- strictly smaller values, so score = 1 + floor(bins * (rank() - 1) / n).
-- 3,000 customers with many ties, bins 3, 5 and 7: no differences.
CREATE TABLE sc_big AS
SELECT (i * 7919) % 3000 AS customer,
       timestamptz '2022-01-01' + ((i * 104729) % 700) * interval '1 day' AS ordered_at,
       round(((i * 15485863) % 50000) / 100.0 - 20, 2) AS amount
  FROM generate_series(1::bigint, 30000) i;
CREATE TABLE sc_stats AS
SELECT customer, segkpi.rfm_agg(ordered_at, amount) AS st FROM sc_big GROUP BY customer;
SELECT b.bins, count(*) FILTER (WHERE (x.s).r <> x.r_sql OR (x.s).f <> x.f_sql OR (x.s).m <> x.m_sql) AS mismatches,
       count(*) AS customers,
       count(DISTINCT (x.s).r) AS distinct_r
  FROM (VALUES (3), (5), (7)) b(bins),
  LATERAL (
    SELECT segkpi.rfm_score(st, '2024-01-01', b.bins) OVER () AS s,
           1 + floor(b.bins * (rank() OVER (ORDER BY (st).last_order_at) - 1)::numeric / count(*) OVER ()) AS r_sql,
           1 + floor(b.bins * (rank() OVER (ORDER BY (st).orders) - 1)::numeric / count(*) OVER ()) AS f_sql,
           1 + floor(b.bins * (rank() OVER (ORDER BY (st).monetary) - 1)::numeric / count(*) OVER ()) AS m_sql
      FROM sc_stats) x
 GROUP BY b.bins ORDER BY b.bins;

-- Recency is fractional days to as_of.
SELECT (segkpi.rfm_score(segkpi.rfm_agg(t, 1), '2024-01-02 12:00') OVER ()).recency_days
  FROM (VALUES (timestamptz '2024-01-01 00:00')) v(t);

-- NULL stats (a customer with only NULL rows) get a NULL result and do not
-- count in n: two real customers score as a base of two.
SELECT c, (s).r, (s).segment
  FROM (SELECT c, segkpi.rfm_score(segkpi.rfm_agg(t, a), '2024-12-31') OVER () s
          FROM (VALUES (1, timestamptz '2024-01-01', 1::numeric),
                       (2, '2024-06-01', 2),
                       (3, NULL, 3)) v(c, t, a)
         GROUP BY c) x ORDER BY c;

-- An ORDER BY in the window does not change the scores.
SELECT customer, (segkpi.rfm_score(segkpi.rfm_agg(ordered_at, amount), '2024-07-01')
                      OVER (ORDER BY customer DESC)).r
  FROM sc_orders GROUP BY customer ORDER BY customer;
