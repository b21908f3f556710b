-- rfm_agg: per-customer statistics, exact totals, NULL rows, refunds,
-- the state type's text form.
SET timezone = 'UTC';

CREATE TABLE agg_orders (customer text, ordered_at timestamptz, amount numeric);
INSERT INTO agg_orders VALUES
    ('a', '2024-01-10', 10.50), ('a', '2024-03-01', 20), ('a', '2024-03-05', -5.25),
    ('b', '2023-06-01', 100),
    ('c', '2024-06-01', 1), ('c', '2024-06-01', 1),      -- same instant twice
    ('d', '2024-02-01', -3),                              -- refunds only
    ('e', NULL, 7), ('e', '2024-01-01', NULL),            -- only NULL rows
    ('f', '2024-05-05', 0);                               -- a zero amount

SELECT customer, (segkpi.rfm_agg(ordered_at, amount)).*
  FROM agg_orders GROUP BY customer ORDER BY customer;

-- monetary equals the built-in exact sum of the non-NULL rows, scale and all
SELECT customer, (segkpi.rfm_agg(ordered_at, amount)).monetary::text AS segkpi_sum,
       sum(amount) FILTER (WHERE ordered_at IS NOT NULL)::text AS builtin_sum
  FROM agg_orders GROUP BY customer ORDER BY customer;

-- empty input gives NULL
SELECT segkpi.rfm_agg(ordered_at, amount) IS NULL AS empty_is_null
  FROM agg_orders WHERE false;

-- Exactness over many rows and awkward scales: 20,000 amounts with up to
-- 20 decimals; the sum must match sum(numeric) digit for digit.
CREATE TABLE agg_many AS
SELECT (i % 37) AS customer,
       timestamptz '2020-01-01' + i * interval '17 minutes' AS ordered_at,
       CASE i % 5
           WHEN 0 THEN round((i * 7919 % 100000) / 100.0, 2)
           WHEN 1 THEN -round((i * 104729 % 1000) / 1000.0, 3)
           WHEN 2 THEN (i::numeric / 3)                    -- 20 decimals
           WHEN 3 THEN 1e15 + i                              -- large
           ELSE 0.000001 * i
       END AS amount
  FROM generate_series(1, 20000) AS i;
SELECT count(*) AS customers_mismatched
  FROM (SELECT customer, (segkpi.rfm_agg(ordered_at, amount)).monetary AS m,
               sum(amount) AS s, count(*) FILTER (WHERE amount > 0) AS o,
               (segkpi.rfm_agg(ordered_at, amount)).orders AS ro
          FROM agg_many GROUP BY customer) x
 WHERE m::text <> s::text OR o <> ro;

-- Values beyond 38 digits take the numeric spill path and stay exact.
CREATE TABLE agg_huge (customer int, ordered_at timestamptz, amount numeric);
INSERT INTO agg_huge
SELECT i % 3, timestamptz '2021-01-01' + i * interval '1 hour',
       CASE WHEN i % 4 = 0 THEN 1e40 * i + 0.5
            WHEN i % 4 = 1 THEN 99999999999999999999999999999999999999 -- 38 nines
            WHEN i % 4 = 2 THEN 1.0e-30 * i
            ELSE -i END
  FROM generate_series(1, 400) i;
SELECT customer, (segkpi.rfm_agg(ordered_at, amount)).monetary = sum(amount) AS exact,
       (segkpi.rfm_agg(ordered_at, amount)).orders
  FROM agg_huge GROUP BY customer ORDER BY customer;

-- rfm_agg as a window aggregate (running statistics per customer)
SELECT customer, ordered_at,
       (segkpi.rfm_agg(ordered_at, amount) OVER w).orders,
       (segkpi.rfm_agg(ordered_at, amount) OVER w).monetary
  FROM agg_orders WHERE customer IN ('a', 'c')
WINDOW w AS (PARTITION BY customer ORDER BY ordered_at, amount
             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
 ORDER BY customer, ordered_at, amount;

-- The state type: text form round trip and validation.
SELECT '1:3:1:100:200:150.25'::segkpi.rfm_state;
SELECT '1:0:2:::-7.5'::segkpi.rfm_state;
SELECT '1:1:0:5:5:123456789012345678901234567890123456789012.5'::segkpi.rfm_state;
SELECT '1:2:0:-211813488000000000:0:0'::segkpi.rfm_state;
CREATE TABLE agg_states (s segkpi.rfm_state);
INSERT INTO agg_states VALUES ('1:3:1:100:200:150.25'), ('1:0:2:::-7.5');
SELECT s::text, s::text::segkpi.rfm_state::text = s::text AS round_trip FROM agg_states ORDER BY 1;
-- binary send/receive goes through the same validated text form
SELECT segkpi.rfm_state_send('1:3:1:100:200:150.25') = convert_to('1:3:1:100:200:150.25', 'UTF8') AS send_is_text;
