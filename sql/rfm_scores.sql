-- rfm_scores: the in-memory pass gives exactly the rows of the SQL form,
-- rfm_score(rfm_agg(...)) OVER () grouped by customer, for every key type
-- and on every path (fast, or the SQL form it falls back to).
SET timezone = 'UTC';
-- PostgreSQL's defaults, whatever the server's settings: the fast path's
-- memory limit is work_mem x hash_mem_multiplier.
SET work_mem = '4MB';
SET hash_mem_multiplier = 2;

-- The SQL form for a relation, written out once.
CREATE FUNCTION rs_sql(rel regclass, key text, as_of timestamptz, bins int DEFAULT 5,
                       ruleset text DEFAULT 'default')
    RETURNS TABLE (customer text, first_order_at timestamptz, last_order_at timestamptz,
                   orders bigint, refunds bigint, monetary numeric, recency_days float8,
                   r int, f int, m int, segment text)
    LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT k::text, (st).first_order_at, (st).last_order_at, (st).orders, (st).refunds,
                (st).monetary, (s).recency_days, (s).r, (s).f, (s).m, (s).segment
           FROM (SELECT k, st, segkpi.rfm_score(st, $1, $2, $3) OVER () AS s
                   FROM (SELECT %I AS k, segkpi.rfm_agg(ordered_at, amount) AS st
                           FROM %s WHERE %I IS NOT NULL AND ordered_at <= $1 GROUP BY 1) a) g',
        key, rel, key) USING as_of, bins, ruleset;
END $$;

-- Orders with every case: refunds, zero amounts, refunds only, NULL times
-- and amounts (a customer whose rows all lack one), NULL customers, mixed
-- scales, ties, rows after as_of.
CREATE TABLE rs_orders AS
SELECT CASE WHEN i % 97 = 0 THEN NULL ELSE (i * 7919) % 3000 - 500 END::bigint AS customer,
       CASE WHEN i % 89 = 0 THEN NULL
            ELSE timestamptz '2022-01-01' + ((i * 104729) % 1000) * interval '1 day'
                 + (i % 5) * interval '1 second' END AS ordered_at,
       CASE WHEN i % 83 = 0 THEN NULL
            WHEN i % 7 = 0 THEN round(((i * 15485863) % 50000) / 100.0 - 300, (i % 4)::int)
            WHEN i % 11 = 0 THEN 0
            ELSE round(((i * 15485863) % 50000) / 100.0 + 1, 2) END AS amount
  FROM generate_series(1::bigint, 30000) i;
INSERT INTO rs_orders VALUES (90001, NULL, 5), (90001, '2022-03-01', NULL),  -- no usable row
                             (90002, '2022-03-01', -5), (90002, '2022-04-01', -1); -- refunds only
ANALYZE rs_orders;

-- The comparison used throughout: rows only in one of the two, as text.
CREATE FUNCTION rs_compare(fast_sql text, rel regclass, key text, as_of timestamptz,
                           bins int DEFAULT 5, ruleset text DEFAULT 'default')
    RETURNS TABLE (rows bigint, only_fast bigint, only_sql bigint)
    LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TEMP TABLE rs_fast AS SELECT customer::text, first_order_at, last_order_at,
                           orders, refunds, monetary::text, recency_days, r, f, m, segment FROM (%s) x',
                   fast_sql);
    CREATE TEMP TABLE rs_slow AS
    SELECT s.customer, s.first_order_at, s.last_order_at, s.orders, s.refunds, s.monetary::text,
           s.recency_days, s.r, s.f, s.m, s.segment
      FROM rs_sql(rel, key, as_of, bins, ruleset) s;
    RETURN QUERY SELECT (SELECT count(*) FROM rs_fast),
                        (SELECT count(*) FROM (TABLE rs_fast EXCEPT ALL TABLE rs_slow) d),
                        (SELECT count(*) FROM (TABLE rs_slow EXCEPT ALL TABLE rs_fast) d);
    DROP TABLE rs_fast, rs_slow;
END $$;

SELECT * FROM rs_compare($$SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer',
                           'ordered_at', 'amount', '2024-06-01')$$, 'rs_orders', 'customer', '2024-06-01');
-- bins, another ruleset, and an as_of that leaves rows out
INSERT INTO segkpi.rfm_rules (ruleset, rule_order, segment, r_min, r_max, f_min, f_max, m_min, m_max)
VALUES ('rs_two', 1, 'recent', 4, 5, 1, 5, 1, 5), ('rs_two', 2, 'old', 1, 2, 1, 5, 1, 5);
SELECT * FROM rs_compare($$SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer',
                           'ordered_at', 'amount', '2023-01-01', 7, 'rs_two')$$,
                         'rs_orders', 'customer', '2023-01-01', 7, 'rs_two');
SELECT * FROM rs_compare($$SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer',
                           'ordered_at', 'amount', '2024-06-01', bins => 1)$$,
                         'rs_orders', 'customer', '2024-06-01', 1);

-- The two special customers, spelled out.
SELECT customer, first_order_at, orders, refunds, monetary, recency_days, r, f, m, segment
  FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer', 'ordered_at', 'amount', '2024-06-01')
 WHERE customer IN (90001, 90002) ORDER BY customer;
-- Customers are those with a row dated by as_of; NULL customers are not one.
SELECT count(*) AS customers, count(*) FILTER (WHERE customer IS NULL) AS null_customers,
       (SELECT count(DISTINCT customer) FROM rs_orders WHERE ordered_at <= '2024-06-01') AS expected
  FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer', 'ordered_at', 'amount', '2024-06-01');

-- At the default work_mem (4MB, set above) these customers fit: no DEBUG
-- line, the fast path ran.
SET client_min_messages = debug1;
SELECT count(*) FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer', 'ordered_at', 'amount', '2024-06-01');
RESET client_min_messages;

-- Key types: integers are hashed exactly, others through their hash
-- opclass; the customer column keeps its type.
CREATE TABLE rs_keys AS
SELECT customer::int AS k4, (customer % 30000)::smallint AS k2, ('c' || customer) AS ktext,
       md5(customer::text)::uuid AS kuuid, customer::numeric / 7 AS knum,
       ordered_at, amount
  FROM rs_orders WHERE customer IS NOT NULL;
CREATE DOMAIN rs_id AS bigint CHECK (VALUE > -1000);
ALTER TABLE rs_keys ADD COLUMN kdom rs_id;
UPDATE rs_keys SET kdom = k4;
SELECT * FROM rs_compare($$SELECT * FROM segkpi.rfm_scores(NULL::int, 'rs_keys', 'k4', 'ordered_at', 'amount', '2024-06-01')$$,
                         'rs_keys', 'k4', '2024-06-01');
SELECT * FROM rs_compare($$SELECT * FROM segkpi.rfm_scores(NULL::smallint, 'rs_keys', 'k2', 'ordered_at', 'amount', '2024-06-01')$$,
                         'rs_keys', 'k2', '2024-06-01');
SELECT * FROM rs_compare($$SELECT * FROM segkpi.rfm_scores(NULL::text, 'rs_keys', 'ktext', 'ordered_at', 'amount', '2024-06-01')$$,
                         'rs_keys', 'ktext', '2024-06-01');
SELECT * FROM rs_compare($$SELECT * FROM segkpi.rfm_scores(NULL::uuid, 'rs_keys', 'kuuid', 'ordered_at', 'amount', '2024-06-01')$$,
                         'rs_keys', 'kuuid', '2024-06-01');
SELECT * FROM rs_compare($$SELECT * FROM segkpi.rfm_scores(NULL::numeric, 'rs_keys', 'knum', 'ordered_at', 'amount', '2024-06-01')$$,
                         'rs_keys', 'knum', '2024-06-01');
SELECT * FROM rs_compare($$SELECT * FROM segkpi.rfm_scores(NULL::rs_id, 'rs_keys', 'kdom', 'ordered_at', 'amount', '2024-06-01')$$,
                         'rs_keys', 'kdom', '2024-06-01');
SELECT pg_typeof(customer) AS uuid_key, count(*)
  FROM segkpi.rfm_scores(NULL::uuid, 'rs_keys', 'kuuid', 'ordered_at', 'amount', '2024-06-01')
  JOIN rs_keys ON kuuid = customer GROUP BY 1;

-- The SQL form takes over, with the same rows, when the fast path cannot
-- give them; DEBUG1 says why.
CREATE TABLE rs_wide (customer int, ordered_at timestamptz, amount numeric);
INSERT INTO rs_wide SELECT i % 3, '2024-01-01'::timestamptz + i * interval '1 hour', 9e36 + i
  FROM generate_series(1, 60) i;
INSERT INTO rs_wide VALUES (7, '2024-01-01', 1.5);
CREATE TABLE rs_varbit AS SELECT (customer % 64)::bit(8)::varbit AS k, ordered_at, amount
  FROM rs_orders WHERE customer >= 0;
SET client_min_messages = debug1;
-- the customers outgrow work_mem x hash_mem_multiplier
SET work_mem = '64kB';
SET hash_mem_multiplier = 1;
SELECT count(*) FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer', 'ordered_at', 'amount', '2024-06-01');
-- totals past 38 digits
SELECT customer, monetary, m FROM segkpi.rfm_scores(NULL::int, 'rs_wide', 'customer', 'ordered_at', 'amount', '2024-06-01')
 ORDER BY customer;
-- a key type with no hash operator class (bit varying: btree only)
SELECT count(*) FROM segkpi.rfm_scores(NULL::varbit, 'rs_varbit', 'k', 'ordered_at', 'amount', '2024-06-01');
RESET client_min_messages;
SELECT * FROM rs_compare($$SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer',
                           'ordered_at', 'amount', '2024-06-01')$$, 'rs_orders', 'customer', '2024-06-01');
SET work_mem = '4MB';
SET hash_mem_multiplier = 2;
SELECT * FROM rs_compare($$SELECT * FROM segkpi.rfm_scores(NULL::int, 'rs_wide', 'customer',
                           'ordered_at', 'amount', '2024-06-01')$$, 'rs_wide', 'customer', '2024-06-01');
SELECT * FROM rs_compare($$SELECT * FROM segkpi.rfm_scores(NULL::varbit, 'rs_varbit', 'k',
                           'ordered_at', 'amount', '2024-06-01')$$, 'rs_varbit', 'k', '2024-06-01');

-- Any relation a SELECT can read: a view, a partitioned table; an empty one.
CREATE VIEW rs_view AS SELECT customer, ordered_at, amount * 2 AS amount FROM rs_orders WHERE customer % 2 = 0;
SELECT * FROM rs_compare($$SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_view', 'customer',
                           'ordered_at', 'amount', '2024-06-01')$$, 'rs_view', 'customer', '2024-06-01');
CREATE TABLE rs_parts (customer bigint, ordered_at timestamptz, amount numeric) PARTITION BY RANGE (ordered_at);
CREATE TABLE rs_parts_a PARTITION OF rs_parts FOR VALUES FROM (MINVALUE) TO ('2023-01-01');
CREATE TABLE rs_parts_b PARTITION OF rs_parts FOR VALUES FROM ('2023-01-01') TO (MAXVALUE);
INSERT INTO rs_parts SELECT * FROM rs_orders WHERE ordered_at IS NOT NULL;
SELECT * FROM rs_compare($$SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_parts', 'customer',
                           'ordered_at', 'amount', '2024-06-01')$$, 'rs_parts', 'customer', '2024-06-01');
CREATE TABLE rs_empty (customer bigint, ordered_at timestamptz, amount numeric);
SELECT count(*) FROM segkpi.rfm_scores(NULL::bigint, 'rs_empty', 'customer', 'ordered_at', 'amount', '2024-06-01');
-- date and integer columns are cast as the SQL form casts them
CREATE TABLE rs_cast (customer bigint, ordered_at date, amount int);
INSERT INTO rs_cast VALUES (1, '2024-01-01', 10), (1, '2024-02-01', -3), (2, '2024-03-01', 7);
SELECT customer, last_order_at, orders, monetary, r, f, m
  FROM segkpi.rfm_scores(NULL::bigint, 'rs_cast', 'customer', 'ordered_at', 'amount', '2024-06-01')
 ORDER BY customer;

-- Privileges and row-level security apply as to any SELECT.
CREATE ROLE regress_rs_reader;
GRANT USAGE ON SCHEMA segkpi TO regress_rs_reader;
CREATE TABLE rs_secret (customer bigint, ordered_at timestamptz, amount numeric, owner_name text);
INSERT INTO rs_secret VALUES (1, '2024-01-01', 10, 'regress_rs_reader'), (2, '2024-01-02', 20, 'someone');
SET ROLE regress_rs_reader;
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_secret', 'customer', 'ordered_at', 'amount', '2024-06-01');
RESET ROLE;
GRANT SELECT ON rs_secret TO regress_rs_reader;
ALTER TABLE rs_secret ENABLE ROW LEVEL SECURITY;
CREATE POLICY rs_own ON rs_secret FOR SELECT USING (owner_name = current_user);
SET ROLE regress_rs_reader;
SELECT customer, monetary FROM segkpi.rfm_scores(NULL::bigint, 'rs_secret', 'customer', 'ordered_at', 'amount', '2024-06-01');
RESET ROLE;
DROP TABLE rs_secret;
REVOKE USAGE ON SCHEMA segkpi FROM regress_rs_reader;
DROP ROLE regress_rs_reader;

-- Bad input: each a clear error with its SQLSTATE.
\set VERBOSITY sqlstate
SELECT * FROM segkpi.rfm_scores(NULL::bigint, NULL, 'customer', 'ordered_at', 'amount', '2024-06-01');
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', NULL, 'ordered_at', 'amount', '2024-06-01');
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer', 'ordered_at', 'amount', NULL);
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer', 'ordered_at', 'amount', '2024-06-01', NULL);
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer', 'ordered_at', 'amount', '2024-06-01', 5, NULL);
\set VERBOSITY default
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer', 'ordered_at', 'amount', 'infinity');
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer', 'ordered_at', 'amount', '2024-06-01', 0);
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer', 'ordered_at', 'amount', '2024-06-01', 101);
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer', 'ordered_at', 'amount', '2024-06-01', 5, 'nope');
SELECT * FROM segkpi.rfm_scores(NULL::int, 'rs_orders', 'customer', 'ordered_at', 'amount', '2024-06-01');
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'client', 'ordered_at', 'amount', '2024-06-01');
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer', 'ordered', 'amount', '2024-06-01');
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer', 'ordered_at', 'price', '2024-06-01');
-- system columns are not columns one can bind (42703)
SELECT sqlerr($$SELECT * FROM segkpi.rfm_scores(NULL::xid, 'rs_orders', 'xmin', 'ordered_at', 'amount', '2024-06-01')$$);
SELECT sqlerr($$SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer', 'ctid', 'amount', '2024-06-01')$$);
SELECT sqlerr($$SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_orders', 'customer', 'ordered_at', 'cmax', '2024-06-01')$$);
SELECT sqlerr($$SELECT * FROM segkpi.rfm_scores(NULL::oid, 'rs_orders', 'tableoid', 'ordered_at', 'amount', '2024-06-01')$$);
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'no_such_table', 'customer', 'ordered_at', 'amount', '2024-06-01');
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 99999999::oid::regclass, 'customer', 'ordered_at', 'amount', '2024-06-01');
CREATE TABLE rs_bad (customer bigint, ordered_at timestamptz, amount numeric, note text);
INSERT INTO rs_bad VALUES (1, '2024-01-01', 'NaN');
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_bad', 'customer', 'ordered_at', 'amount', '2024-06-01');
UPDATE rs_bad SET amount = 1, ordered_at = '-infinity';
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_bad', 'customer', 'ordered_at', 'amount', '2024-06-01');
-- columns of types the aggregates would not take without a cast
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_bad', 'customer', 'ordered_at', 'note', '2024-06-01');
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_bad', 'customer', 'note', 'amount', '2024-06-01');
ALTER TABLE rs_bad ADD COLUMN price float8;
SELECT * FROM segkpi.rfm_scores(NULL::bigint, 'rs_bad', 'customer', 'ordered_at', 'price', '2024-06-01');
-- quoted identifiers are quoted, not spliced
CREATE TABLE "rs odd ""name""" ("the customer" bigint, "ordered at" timestamptz, "amount;" numeric);
INSERT INTO "rs odd ""name""" VALUES (1, '2024-01-01', 5);
SELECT customer, orders, monetary
  FROM segkpi.rfm_scores(NULL::bigint, '"rs odd ""name"""', 'the customer', 'ordered at', 'amount;', '2024-06-01');

-- Memory ends with the call (issue 20): rescanned thousands of times in
-- one query, the call leaves nothing behind in query memory (it was about
-- 2 kB per call); see activities.sql for the probe.
CREATE TABLE rs_small AS
SELECT i % 10 AS customer, timestamptz '2024-01-01' + i * interval '9 days' AS ordered_at,
       i::numeric AS amount
  FROM generate_series(1, 40) i;
CREATE TABLE rs_small_vb AS SELECT customer::bit(8)::varbit AS k, ordered_at, amount FROM rs_small;
CREATE TABLE rs_loop AS SELECT g FROM generate_series(1, 5000) g;
CREATE FUNCTION rs_bytes_after(calls int, call text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    b bigint;
BEGIN
    EXECUTE format('WITH r AS MATERIALIZED (SELECT sum(c) FROM rs_loop l, LATERAL (%s) x(c) WHERE l.g <= %s)
                    SELECT (SELECT sum(total_bytes) FROM pg_backend_memory_contexts) FROM r', call, calls)
       INTO b;
    RETURN b;
END $$;
SELECT what, rs_bytes_after(5000, call) - rs_bytes_after(500, call) < 262144 AS flat
  FROM (VALUES
    ('in FROM', $$SELECT count(*) FROM segkpi.rfm_scores(NULL::int, 'rs_small', 'customer', 'ordered_at',
                  'amount', timestamptz '2025-06-01' + l.g * interval '1 microsecond')$$),
    ('cut short', $$SELECT count(*) FROM (SELECT segkpi.rfm_scores(NULL::int, 'rs_small', 'customer',
                  'ordered_at', 'amount', timestamptz '2025-06-01' + l.g * interval '1 microsecond') LIMIT 2) s$$),
    ('on the SQL form', $$SELECT count(*) FROM segkpi.rfm_scores(NULL::varbit, 'rs_small_vb', 'k', 'ordered_at',
                  'amount', timestamptz '2025-06-01' + l.g * interval '1 microsecond')$$)) v(what, call)
 ORDER BY what;

-- The queries built in C name their operators with their schema (issue
-- 20): a caller whose search_path puts public ahead of pg_catalog does not
-- run operators planted there, on the fast path, on the SQL form, or when
-- the rules are read.
CREATE FUNCTION public.rs_trap(timestamptz, timestamptz) RETURNS boolean
    LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'an operator in public ran'; END$$;
CREATE FUNCTION public.rs_trap(text, text) RETURNS boolean
    LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'an operator in public ran'; END$$;
-- first the time filter of the scans alone
CREATE OPERATOR public.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = public.rs_trap);
CREATE OPERATOR public.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = public.rs_trap);
SET search_path = public, pg_catalog;
SELECT count(*) AS fast FROM segkpi.rfm_scores(NULL::int, 'rs_small', 'customer', 'ordered_at', 'amount', '2025-06-01');
SELECT count(*) AS sql_form FROM segkpi.rfm_scores(NULL::varbit, 'rs_small_vb', 'k', 'ordered_at', 'amount', '2025-06-01');
RESET search_path;
DROP OPERATOR public.<= (timestamptz, timestamptz);
DROP OPERATOR public.< (timestamptz, timestamptz);
-- then the rules query alone
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.rs_trap);
SET search_path = public, pg_catalog;
SELECT count(*) AS fast FROM segkpi.rfm_scores(NULL::int, 'rs_small', 'customer', 'ordered_at', 'amount', '2025-06-01');
SELECT count(segment) AS window_rules
  FROM (SELECT (segkpi.rfm_score(st, '2025-06-01') OVER ()).segment
          FROM (SELECT segkpi.rfm_agg(ordered_at, amount) AS st FROM rs_small GROUP BY customer) a) b;
RESET search_path;
DROP OPERATOR public.= (text, text);
DROP FUNCTION public.rs_trap(timestamptz, timestamptz), public.rs_trap(text, text);

DROP TABLE rs_orders, rs_keys, rs_wide, rs_varbit, rs_parts, rs_empty, rs_cast, rs_bad, "rs odd ""name""",
    rs_small, rs_small_vb, rs_loop CASCADE;
DROP DOMAIN rs_id;
DELETE FROM segkpi.rfm_rules WHERE ruleset = 'rs_two';
DROP FUNCTION rs_sql, rs_compare, rs_bytes_after;
