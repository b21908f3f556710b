/*
 * test/demo/engagement.sql -- engagement events for the demo warehouse
 *
 * Usage, after test/demo/generate.sql (same variables, both optional):
 *
 *   psql -v ON_ERROR_STOP=1 -v seed=<int> -f test/demo/engagement.sql
 *
 * Makes demo.engagement (customer_id, at, kind, value): web visits, e-mail
 * opens and clicks, and campaign responses, in 2023 and 2024, from each
 * customer's acquisition on.  Deterministic as generate.sql: every draw is
 * hashint8extended(<customer x 64 + month>, <stream seed>) in [0,1), no
 * random(), no libm.  Planted patterns the demo recovers:
 *
 *   - events per month follow the planted group: loyal_big 1.5, new 1,
 *     regular 0.3, one_off 0.05, lapsed 0.3 until mid-2023 and none
 *     after; so Champions engage most and Hibernating / Lost hardly at all;
 *   - kinds: 60 % visits, 30 % e-mail opens, 10 % clicks;
 *   - campaign responses (kind "response", 2024 only): a customer of the
 *     Technology industry answers a month's campaign with probability
 *     0.15, any other 0.03: five times the rate.
 *
 * Not read by the refresh benchmark or the kpi_demo regression suite,
 * which bind the five sources of generate.sql only.
 */
\set ON_ERROR_STOP 1
\if :{?seed}
\else
\set seed 42
\endif

BEGIN;
SET LOCAL timezone = 'UTC';
DROP TABLE IF EXISTS demo.engagement;
CREATE TABLE demo.engagement (
  customer_id bigint NOT NULL,
  at          timestamptz NOT NULL,
  kind        text NOT NULL,
  value       numeric
);

-- u(key, stream): uniform in [0,1), as generate.sql's helper
CREATE FUNCTION pg_temp.eu(k bigint, stream int, seed bigint)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ((hashint8extended(k, hashint8extended(stream + 1000, seed)) >> 12)
          & 4503599627370495)::double precision / 4503599627370496.0
$$;

WITH months AS (
  SELECT m::date AS month, row_number() OVER (ORDER BY m) AS mi
    FROM generate_series('2023-01-01'::timestamp, '2024-12-01', '1 month') m
),
cm AS (
  SELECT c.customer_id, c.industry, m.month, m.mi,
         CASE c.planted_group
              WHEN 'loyal_big' THEN 1.5 WHEN 'new' THEN 1 WHEN 'regular' THEN 0.3 WHEN 'one_off' THEN 0.05
              WHEN 'lapsed' THEN CASE WHEN m.month < '2023-07-01' THEN 0.3 ELSE 0 END END AS rate
    FROM demo.customers c JOIN months m ON m.month >= date_trunc('month', c.acquired_at AT TIME ZONE 'UTC')
),
-- events of a month: floor(rate + u), whose mean is the rate
counted AS (
  SELECT cm.*, floor(cm.rate + pg_temp.eu(cm.customer_id * 64 + cm.mi, 1, :seed))::int AS n
    FROM cm
)
INSERT INTO demo.engagement
SELECT c.customer_id,
       to_timestamp(extract(epoch FROM c.month) + floor(pg_temp.eu((c.customer_id * 64 + c.mi) * 32 + e, 2, :seed) * 27 * 86400)),
       CASE WHEN pg_temp.eu((c.customer_id * 64 + c.mi) * 32 + e, 3, :seed) < 0.6 THEN 'visit'
            WHEN pg_temp.eu((c.customer_id * 64 + c.mi) * 32 + e, 3, :seed) < 0.9 THEN 'open'
            ELSE 'click' END,
       NULL
  FROM counted c, generate_series(1, c.n) e
UNION ALL
SELECT c.customer_id, to_timestamp(extract(epoch FROM c.month) + 14 * 86400), 'response', 1
  FROM cm c
 WHERE c.month >= '2024-01-01'
   AND pg_temp.eu(c.customer_id * 64 + c.mi, 4, :seed) < CASE WHEN c.industry = 'Technology' THEN 0.15 ELSE 0.03 END;

COMMENT ON TABLE demo.engagement IS
  'Demo engagement events (test/demo/engagement.sql): visits, opens, clicks by planted group; campaign responses 5x as likely in Technology';
COMMIT;
ANALYZE demo.engagement;
