-- activities: the in-memory pass gives exactly the activities of the SQL
-- form, activity_agg(date_trunc(grain, ordered_at)::date, ...) grouped by
-- customer, for every key type and on every path.
SET timezone = 'America/Sao_Paulo';
-- PostgreSQL's defaults, whatever the server's settings: the fast path's
-- memory limit is work_mem x hash_mem_multiplier.
SET work_mem = '4MB';
SET hash_mem_multiplier = 2;

-- Orders over 2017-2019 (Sao Paulo still had daylight saving time then),
-- with refunds, costs at several scales, NULL costs, amounts and times,
-- NULL customers, and customers whose only rows lack an amount.
CREATE TABLE ac_orders AS
SELECT CASE WHEN i % 101 = 0 THEN NULL ELSE (i * 7919) % 2000 - 300 END::bigint AS customer,
       CASE WHEN i % 89 = 0 THEN NULL
            ELSE timestamptz '2017-01-01' + ((i * 104729) % 1095) * interval '1 day'
                 + (i % 24) * interval '1 hour' + (i % 7) * interval '1 second' END AS ordered_at,
       CASE WHEN i % 83 = 0 THEN NULL
            WHEN i % 7 = 0 THEN round(((i * 15485863) % 50000) / 100.0 - 300, (i % 4)::int)
            ELSE round(((i * 15485863) % 50000) / 100.0 + 1, 2) END AS amount,
       CASE WHEN i % 5 = 0 THEN NULL ELSE round((i % 997) / 10.0, (i % 3)::int) END AS cost
  FROM generate_series(1::bigint, 30000) i;
INSERT INTO ac_orders VALUES (90001, '2018-03-01', NULL, 1), (90001, NULL, 5, 1);
ANALYZE ac_orders;

-- Rows only in one of the two, as text (every period, sum and scale).
CREATE FUNCTION ac_compare(fast_sql text, key text, grain text, before timestamptz, with_cost boolean)
    RETURNS TABLE (customers bigint, null_activities bigint, only_fast bigint, only_sql bigint)
    LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TEMP TABLE ac_fast AS SELECT customer::text AS k, activity::text AS a FROM (%s) x', fast_sql);
    EXECUTE format('CREATE TEMP TABLE ac_slow AS
        SELECT %1$I::text AS k,
               segkpi.activity_agg(date_trunc(%2$L, ordered_at)::date, ordered_at, amount, %3$s)::text AS a
          FROM %4$s WHERE %1$I IS NOT NULL AND (%5$L::timestamptz IS NULL OR ordered_at < %5$L)
         GROUP BY 1', key, grain, CASE WHEN with_cost THEN 'cost' ELSE 'NULL::numeric' END,
        CASE WHEN key = 'customer' THEN 'ac_orders' ELSE 'ac_keys' END, before);
    RETURN QUERY SELECT (SELECT count(*) FROM ac_fast), (SELECT count(*) FROM ac_fast WHERE a IS NULL),
                        (SELECT count(*) FROM (TABLE ac_fast EXCEPT ALL TABLE ac_slow) d),
                        (SELECT count(*) FROM (TABLE ac_slow EXCEPT ALL TABLE ac_fast) d);
    DROP TABLE ac_fast, ac_slow;
END $$;

SELECT * FROM ac_compare($$SELECT * FROM segkpi.activities(NULL::bigint, 'ac_orders', 'customer',
                           'ordered_at', 'amount', 'cost', 'month', '2019-06-01')$$,
                         'customer', 'month', '2019-06-01', true);
SELECT * FROM ac_compare($$SELECT * FROM segkpi.activities(NULL::bigint, 'ac_orders', 'customer',
                           'ordered_at', 'amount', grain => 'quarter')$$,
                         'customer', 'quarter', NULL, false);
-- in a select list the rows come one per call; the same rows
SELECT * FROM ac_compare($$SELECT (r).customer, (r).activity FROM (SELECT segkpi.activities(NULL::bigint,
                           'ac_orders', 'customer', 'ordered_at', 'amount', 'cost', 'month') AS r) s$$,
                         'customer', 'month', NULL, true);
SET timezone = 'UTC';
SELECT * FROM ac_compare($$SELECT * FROM segkpi.activities(NULL::bigint, 'ac_orders', 'customer',
                           'ordered_at', 'amount', 'cost', 'month', '2018-01-01')$$,
                         'customer', 'month', '2018-01-01', true);
-- the customer whose only dated row has no amount
SELECT customer, activity FROM segkpi.activities(NULL::bigint, 'ac_orders', 'customer', 'ordered_at', 'amount')
 WHERE customer = 90001;

-- Calls that stop early and start again (a LIMIT under a rescanned subquery)
SELECT g, (SELECT count(*) FROM (SELECT segkpi.activities(NULL::bigint, 'ac_orders', 'customer',
                                  'ordered_at', 'amount') AS r LIMIT 3) s) AS first_rows
  FROM generate_series(1, 3) g;

-- At the default work_mem (4MB, set above) these customers fit: no DEBUG
-- line, the fast path ran.
SET client_min_messages = debug1;
SELECT count(*) FROM segkpi.activities(NULL::bigint, 'ac_orders', 'customer', 'ordered_at', 'amount', 'cost');
RESET client_min_messages;

-- Key types.
CREATE TABLE ac_keys AS
SELECT customer::int AS k4, ('c' || customer) AS ktext, md5(customer::text)::uuid AS kuuid,
       customer::numeric / 7 AS knum, ordered_at, amount, cost
  FROM ac_orders WHERE customer IS NOT NULL;
SELECT * FROM ac_compare($$SELECT * FROM segkpi.activities(NULL::int, 'ac_keys', 'k4', 'ordered_at', 'amount', 'cost')$$,
                         'k4', 'month', NULL, true);
SELECT * FROM ac_compare($$SELECT * FROM segkpi.activities(NULL::text, 'ac_keys', 'ktext', 'ordered_at', 'amount', 'cost')$$,
                         'ktext', 'month', NULL, true);
SELECT * FROM ac_compare($$SELECT * FROM segkpi.activities(NULL::uuid, 'ac_keys', 'kuuid', 'ordered_at', 'amount', 'cost')$$,
                         'kuuid', 'month', NULL, true);
SELECT * FROM ac_compare($$SELECT * FROM segkpi.activities(NULL::numeric, 'ac_keys', 'knum', 'ordered_at', 'amount', 'cost')$$,
                         'knum', 'month', NULL, true);

-- The SQL form takes over when the fast path cannot give the rows.
CREATE TABLE ac_varbit AS SELECT (customer % 64)::bit(8)::varbit AS k, ordered_at, amount FROM ac_orders WHERE customer >= 0;
SET client_min_messages = debug1;
SET work_mem = '64kB';
SET hash_mem_multiplier = 1;
SELECT count(*) FROM segkpi.activities(NULL::bigint, 'ac_orders', 'customer', 'ordered_at', 'amount', 'cost');
SELECT count(*) FROM (SELECT segkpi.activities(NULL::bigint, 'ac_orders', 'customer', 'ordered_at', 'amount') r) s;
SET work_mem = '4MB';
SET hash_mem_multiplier = 2;
SELECT count(*) FROM segkpi.activities(NULL::varbit, 'ac_varbit', 'k', 'ordered_at', 'amount');
RESET client_min_messages;
SET work_mem = '64kB';
SET hash_mem_multiplier = 1;
SELECT * FROM ac_compare($$SELECT * FROM segkpi.activities(NULL::bigint, 'ac_orders', 'customer',
                           'ordered_at', 'amount', 'cost', 'month', '2019-06-01')$$,
                         'customer', 'month', '2019-06-01', true);
SET work_mem = '4MB';
SET hash_mem_multiplier = 2;
SELECT count(*) AS customers, count(*) FILTER (WHERE x.a = y.a) AS same
  FROM (SELECT customer::text AS k, activity::text AS a FROM segkpi.activities(NULL::varbit, 'ac_varbit', 'k', 'ordered_at', 'amount')) x
  JOIN (SELECT k::text, segkpi.activity_agg(date_trunc('month', ordered_at)::date, ordered_at, amount, NULL)::text AS a
          FROM ac_varbit GROUP BY k) y USING (k);

-- Bad input.
\set VERBOSITY sqlstate
SELECT * FROM segkpi.activities(NULL::bigint, NULL, 'customer', 'ordered_at', 'amount');
SELECT * FROM segkpi.activities(NULL::bigint, 'ac_orders', NULL, 'ordered_at', 'amount');
SELECT * FROM segkpi.activities(NULL::bigint, 'ac_orders', 'customer', 'ordered_at', 'amount', grain => NULL);
\set VERBOSITY default
SELECT * FROM segkpi.activities(NULL::bigint, 'ac_orders', 'customer', 'ordered_at', 'amount', grain => 'week');
SELECT * FROM segkpi.activities(NULL::bigint, 'ac_orders', 'customer', 'ordered_at', 'amount', before => 'infinity');
SELECT * FROM segkpi.activities(NULL::text, 'ac_orders', 'customer', 'ordered_at', 'amount');
-- system columns are not columns one can bind (42703)
SELECT sqlerr($$SELECT * FROM segkpi.activities(NULL::xid, 'ac_orders', 'xmin', 'ordered_at', 'amount')$$);
SELECT sqlerr($$SELECT * FROM segkpi.activities(NULL::bigint, 'ac_orders', 'customer', 'ctid', 'amount')$$);
SELECT sqlerr($$SELECT * FROM segkpi.activities(NULL::bigint, 'ac_orders', 'customer', 'ordered_at', 'xmax')$$);
SELECT sqlerr($$SELECT * FROM segkpi.activities(NULL::bigint, 'ac_orders', 'customer', 'ordered_at', 'amount', 'cmin')$$);
SELECT * FROM segkpi.activities(NULL::bigint, 'ac_orders', 'customer', 'ordered_at', 'amount', 'price');
CREATE TABLE ac_bad (customer bigint, ordered_at timestamptz, amount numeric, cost numeric, note text);
SELECT * FROM segkpi.activities(NULL::bigint, 'ac_bad', 'customer', 'ordered_at', 'amount', 'note');
INSERT INTO ac_bad VALUES (1, '2024-01-01', 1, 'NaN');
SELECT * FROM segkpi.activities(NULL::bigint, 'ac_bad', 'customer', 'ordered_at', 'amount', 'cost');
UPDATE ac_bad SET cost = 1, amount = 'Infinity';
SELECT * FROM segkpi.activities(NULL::bigint, 'ac_bad', 'customer', 'ordered_at', 'amount', 'cost');
UPDATE ac_bad SET amount = 1, ordered_at = '-infinity';
SELECT * FROM segkpi.activities(NULL::bigint, 'ac_bad', 'customer', 'ordered_at', 'amount', 'cost');
-- a sum past 38 digits is an error, as in activity_agg (there is no wider sum to fall back on)
UPDATE ac_bad SET ordered_at = '2024-01-01', amount = 9e37;
INSERT INTO ac_bad VALUES (1, '2024-01-02', 9e37, 0);
SELECT * FROM segkpi.activities(NULL::bigint, 'ac_bad', 'customer', 'ordered_at', 'amount', 'cost');
SELECT segkpi.activity_agg(date_trunc('month', ordered_at)::date, ordered_at, amount, cost) FROM ac_bad;

-- Memory ends with the call (issue 20): a call rescanned thousands of
-- times in one query (a lateral join) leaves nothing behind in query
-- memory, whether its rows run out or a rescan cuts them short.  The probe
-- reads the backend's memory contexts after the loop, still inside the
-- query; growth from 500 to 5000 calls must stay under 256 kB (it was
-- about 12 kB per call).
CREATE TABLE ac_small AS
SELECT i % 10 AS customer, timestamptz '2024-01-01' + i * interval '9 days' AS ordered_at,
       i::numeric AS amount
  FROM generate_series(1, 40) i;
-- varbit has no hash operator class: the SQL form runs
CREATE TABLE ac_small_vb AS SELECT customer::bit(8)::varbit AS k, ordered_at, amount FROM ac_small;
CREATE TABLE ac_loop AS SELECT g FROM generate_series(1, 5000) g;
CREATE FUNCTION ac_bytes_after(calls int, call text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    b bigint;
BEGIN
    EXECUTE format('WITH r AS MATERIALIZED (SELECT sum(c) FROM ac_loop l, LATERAL (%s) x(c) WHERE l.g <= %s)
                    SELECT (SELECT sum(total_bytes) FROM pg_backend_memory_contexts) FROM r', call, calls)
       INTO b;
    RETURN b;
END $$;
SELECT what, ac_bytes_after(5000, call) - ac_bytes_after(500, call) < 262144 AS flat
  FROM (VALUES
    ('in FROM', $$SELECT count(*) FROM segkpi.activities(NULL::int, 'ac_small', 'customer', 'ordered_at',
                  'amount', NULL, 'month', timestamptz '2025-01-01' + l.g * interval '1 microsecond')$$),
    ('in the select list', $$SELECT count(*) FROM (SELECT segkpi.activities(NULL::int, 'ac_small', 'customer',
                  'ordered_at', 'amount', NULL, 'month', timestamptz '2025-01-01' + l.g * interval '1 microsecond')) s$$),
    ('cut short', $$SELECT count(*) FROM (SELECT segkpi.activities(NULL::int, 'ac_small', 'customer',
                  'ordered_at', 'amount', NULL, 'month', timestamptz '2025-01-01' + l.g * interval '1 microsecond') LIMIT 2) s$$),
    ('on the SQL form', $$SELECT count(*) FROM segkpi.activities(NULL::varbit, 'ac_small_vb', 'k', 'ordered_at',
                  'amount', NULL, 'month', timestamptz '2025-01-01' + l.g * interval '1 microsecond')$$)) v(what, call)
 ORDER BY what;

-- The queries built in C name their operators with their schema (issue
-- 20): a caller whose search_path puts public ahead of pg_catalog does not
-- run operators planted there, on the fast path or on the SQL form.
CREATE FUNCTION public.ac_trap(timestamptz, timestamptz) RETURNS boolean
    LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'an operator in public ran'; END$$;
CREATE OPERATOR public.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = public.ac_trap);
CREATE OPERATOR public.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = public.ac_trap);
SET search_path = public, pg_catalog;
SELECT count(*) AS fast FROM segkpi.activities(NULL::int, 'ac_small', 'customer', 'ordered_at', 'amount',
                                               before => '2024-06-01');
SELECT count(*) AS sql_form FROM segkpi.activities(NULL::varbit, 'ac_small_vb', 'k', 'ordered_at', 'amount',
                                                   before => '2024-06-01');
RESET search_path;
DROP OPERATOR public.< (timestamptz, timestamptz);
DROP OPERATOR public.<= (timestamptz, timestamptz);
DROP FUNCTION public.ac_trap(timestamptz, timestamptz);

DROP TABLE ac_orders, ac_keys, ac_varbit, ac_bad, ac_small, ac_small_vb, ac_loop;
DROP FUNCTION ac_compare, ac_bytes_after;
