-- rfm_cuts and rfm_apply: the window's scores in two steps, and scoring
-- customers outside the population.
SET timezone = 'UTC';

CREATE TABLE cu_orders (customer text, region text, ordered_at timestamptz, amount numeric);
INSERT INTO cu_orders VALUES
    ('a', 'north', '2024-06-30', 50),  ('a', 'north', '2024-06-01', 50),
    ('b', 'north', '2024-06-30', 100),
    ('c', 'north', '2024-01-01', 5),   ('c', 'north', '2024-02-01', 5), ('c', 'north', '2024-03-01', 5),
    ('d', 'south', '2023-01-01', 1000),
    ('e', 'south', '2024-05-01', 20),  ('e', 'south', '2024-05-02', -20),
    ('f', 'south', '2024-04-01', -10);
CREATE TABLE cu_stats AS
SELECT customer, region, segkpi.rfm_agg(ordered_at, amount) AS st FROM cu_orders GROUP BY customer, region;

-- n = 6, bins 5: the cut of score s is the value at sorted position
-- ceil((s - 1) * 6 / 5) = 2, 3, 4, 5.  R sorted: f (no orders: -infinity),
-- d, c, e, a/b; F sorted: e, f (0 orders), d, b, a, c; M sorted: f -10,
-- e 0, c 15, a 100, b 100, d 1000.
SELECT * FROM (SELECT (segkpi.rfm_cuts(st, '2024-07-01')).* FROM cu_stats) x;

-- every customer gets the window's scores and segment
SELECT customer, (segkpi.rfm_apply(st, c)).*
  FROM cu_stats, (SELECT segkpi.rfm_cuts(st, '2024-07-01') AS c FROM cu_stats) k
 ORDER BY customer;
SELECT count(*) AS differences
  FROM ((SELECT customer, segkpi.rfm_score(st, '2024-07-01') OVER () AS s FROM cu_stats
         EXCEPT ALL
         SELECT customer, segkpi.rfm_apply(st, c) FROM cu_stats,
                (SELECT segkpi.rfm_cuts(st, '2024-07-01') AS c FROM cu_stats) k)
        UNION ALL
        (SELECT customer, segkpi.rfm_apply(st, c) FROM cu_stats,
                (SELECT segkpi.rfm_cuts(st, '2024-07-01') AS c FROM cu_stats) k
         EXCEPT ALL
         SELECT customer, segkpi.rfm_score(st, '2024-07-01') OVER () FROM cu_stats)) d;

-- Per group: cuts per region score like PARTITION BY region.
SELECT s.region, s.customer, (segkpi.rfm_apply(s.st, k.c)).r AS r_cuts,
       (segkpi.rfm_score(s.st, '2024-07-01') OVER (PARTITION BY s.region)).r AS r_window
  FROM cu_stats s
  JOIN (SELECT region, segkpi.rfm_cuts(st, '2024-07-01') AS c FROM cu_stats GROUP BY region) k USING (region)
 ORDER BY 1, 2;

-- 3,000 customers with many ties, refunds-only customers, NULL stats and
-- totals of mixed scales; bins 1, 2, 3, 5, 7 and 100: no differences with
-- the window function, in either direction.
CREATE TABLE cu_big AS
SELECT (i * 7919) % 3000 AS customer,
       CASE WHEN i % 997 = 0 THEN NULL
            ELSE timestamptz '2022-01-01' + ((i * 104729) % 700) * interval '1 day' END AS ordered_at,
       CASE WHEN i % 3 = 0 THEN round(((i * 15485863) % 50000) / 100.0 - 20, 2)
            ELSE ((i * 15485863) % 500) - 100 END AS amount
  FROM generate_series(1::bigint, 20000) i;
CREATE TABLE cu_big_stats AS
SELECT customer, segkpi.rfm_agg(ordered_at, amount) AS st FROM cu_big GROUP BY customer;
INSERT INTO cu_big_stats SELECT 5000 + i, NULL FROM generate_series(1, 3) i;
SELECT count(*) FILTER (WHERE (st).orders = 0) AS refunds_only, count(*) FILTER (WHERE st IS NULL) AS null_stats
  FROM cu_big_stats;
SELECT b.bins,
       (SELECT count(*) FROM (SELECT customer, segkpi.rfm_score(st, '2024-01-01', b.bins) OVER () AS s
                                FROM cu_big_stats
                              EXCEPT ALL
                              SELECT customer, segkpi.rfm_apply(st, c) FROM cu_big_stats,
                                     (SELECT segkpi.rfm_cuts(st, '2024-01-01', b.bins) AS c FROM cu_big_stats) k) d)
       + (SELECT count(*) FROM (SELECT customer, segkpi.rfm_apply(st, c) FROM cu_big_stats,
                                       (SELECT segkpi.rfm_cuts(st, '2024-01-01', b.bins) AS c FROM cu_big_stats) k
                                EXCEPT ALL
                                SELECT customer, segkpi.rfm_score(st, '2024-01-01', b.bins) OVER ()
                                  FROM cu_big_stats) d) AS differences,
       (SELECT (segkpi.rfm_cuts(st, '2024-01-01', b.bins)).customers FROM cu_big_stats) AS customers
  FROM (VALUES (1), (2), (3), (5), (7), (100)) b(bins)
 ORDER BY b.bins;

-- Totals beyond 38 digits are ranked as numerics: still the window's scores.
CREATE TABLE cu_wide AS
SELECT i AS customer,
       segkpi.rfm_agg(timestamptz '2024-01-01' + i * interval '1 day',
                      CASE WHEN i % 4 = 0 THEN 1e40 + i WHEN i % 4 = 1 THEN 0.000000001 * i ELSE i END) AS st
  FROM generate_series(1, 40) i GROUP BY i;
SELECT (SELECT m FROM (SELECT (segkpi.rfm_cuts(st, '2025-01-01')).m FROM cu_wide) x) AS m_cuts,
       count(*) FILTER (WHERE (w.s).m <> (segkpi.rfm_apply(w.st, k.c)).m) AS differences
  FROM (SELECT st, segkpi.rfm_score(st, '2025-01-01') OVER () AS s FROM cu_wide) w,
       (SELECT segkpi.rfm_cuts(st, '2025-01-01') AS c FROM cu_wide) k;

-- Customers outside the population: 1 + floor(bins * less / n), capped at
-- bins.  Against the six customers above: a customer ahead of everyone
-- gets 5s; one behind everyone 1s; one between (last order 2024-04-15,
-- 2 orders, monetary 50: less = 3, 4, 3) gets 3, 4, 3.
SELECT v.label, (segkpi.rfm_apply(v.st, k.c)).*
  FROM (SELECT segkpi.rfm_cuts(st, '2024-07-01') AS c FROM cu_stats) k,
       (VALUES ('ahead', ROW('2024-06-01', '2024-07-01', 9, 0, 5000)::segkpi.rfm_stats),
               ('behind', ROW(NULL, NULL, 0, 1, -50)::segkpi.rfm_stats),
               ('between', ROW('2024-01-01', '2024-04-15', 2, 0, 50)::segkpi.rfm_stats)) v(label, st)
 ORDER BY v.label;

-- The cuts are a plain composite: they survive text and a table, and a
-- stored population scores next month's customers.
CREATE TABLE cu_saved AS SELECT segkpi.rfm_cuts(st, '2024-07-01', 4) AS c FROM cu_stats;
SELECT c::text FROM cu_saved;
SELECT count(*) AS differences
  FROM cu_stats s, cu_saved k
 WHERE segkpi.rfm_apply(s.st, k.c) IS DISTINCT FROM segkpi.rfm_apply(s.st, k.c::text::segkpi.rfm_cuts);
-- Cuts written into the query as a constant are decoded once for the
-- whole query (refresh scores that way); the scores are the same.
SELECT c::text AS saved_cuts FROM cu_saved \gset
SELECT count(*) AS differences
  FROM cu_stats s, cu_saved k
 WHERE segkpi.rfm_apply(s.st, k.c) IS DISTINCT FROM segkpi.rfm_apply(s.st, :'saved_cuts'::segkpi.rfm_cuts);

-- PL/pgSQL evaluates a simple expression through the same call site while
-- the variable behind it changes (issue 20): each cuts value is its own,
-- whether the bins or only the as_of differ.
CREATE FUNCTION cu_loop() RETURNS TABLE (bins int, as_of date, r int, recency_days float8)
    LANGUAGE plpgsql AS $$
DECLARE
    c record;
    k segkpi.rfm_cuts;
    s segkpi.rfm_stats := (SELECT st FROM cu_stats WHERE customer = 'a');
    x segkpi.rfm_result;
BEGIN
    FOR c IN SELECT segkpi.rfm_cuts(st, v.as_of, v.bins) AS cuts
               FROM cu_stats, (VALUES (2, timestamptz '2024-07-01'), (5, '2024-07-01'), (5, '2025-07-01')) v(bins, as_of)
              GROUP BY v.bins, v.as_of ORDER BY v.bins, v.as_of
    LOOP
        k := c.cuts;
        x := segkpi.rfm_apply(s, k);
        bins := k.bins;
        as_of := k.as_of;
        r := x.r;
        recency_days := x.recency_days;
        RETURN NEXT;
    END LOOP;
END $$;
SELECT l.*, l.r = w.r AS same_as_window
  FROM cu_loop() l,
       LATERAL (SELECT customer, (segkpi.rfm_score(st, l.as_of, l.bins) OVER ()).r FROM cu_stats) w
 WHERE w.customer = 'a'
 ORDER BY l.bins, l.as_of;
DROP FUNCTION cu_loop();

-- A NULL stats or NULL cuts gives NULL; no customers give NULL cuts.
SELECT segkpi.rfm_apply(NULL, c) IS NULL AS null_stats, segkpi.rfm_apply(st, NULL) IS NULL AS null_cuts
  FROM cu_saved, cu_stats WHERE customer = 'a';
SELECT segkpi.rfm_cuts(st, '2024-07-01') IS NULL AS empty FROM cu_stats WHERE false;
SELECT segkpi.rfm_cuts(NULL::segkpi.rfm_stats, '2024-07-01') IS NULL AS only_null_stats;

-- Another ruleset names the segments.
SELECT segkpi.rfm_ruleset_copy('default', 'cu_rules');
UPDATE segkpi.rfm_rules SET segment = 'Gone' WHERE ruleset = 'cu_rules' AND segment = 'Lost';
SELECT customer, (segkpi.rfm_apply(st, c, 'cu_rules')).segment
  FROM cu_stats, (SELECT segkpi.rfm_cuts(st, '2024-07-01') AS c FROM cu_stats) k ORDER BY customer;
-- the ruleset may change from row to row (d is Gone, f still Lost)
SELECT customer, (segkpi.rfm_apply(st, c, CASE WHEN customer IN ('a', 'd') THEN 'cu_rules'
                                              ELSE 'default' END)).segment
  FROM cu_stats, (SELECT segkpi.rfm_cuts(st, '2024-07-01') AS c FROM cu_stats) k ORDER BY customer;
DELETE FROM segkpi.rfm_rules WHERE ruleset = 'cu_rules';

-- Bad input.  Aggregate arguments: NULL as_of or bins (22004), infinite
-- as_of and bins outside 1..100 (22023), as_of or bins changing between
-- rows (22023), an order after as_of (22023), a stats value rfm_agg cannot
-- produce (22000).  (The support functions take internal: SQL cannot
-- call them.)
SELECT sqlerr($$SELECT segkpi.rfm_cuts(st, NULL) FROM cu_stats$$);
SELECT sqlerr($$SELECT segkpi.rfm_cuts(st, 'infinity') FROM cu_stats$$);
SELECT sqlerr($$SELECT segkpi.rfm_cuts(st, '2024-07-01', NULL) FROM cu_stats$$);
SELECT sqlerr($$SELECT segkpi.rfm_cuts(st, '2024-07-01', 0) FROM cu_stats$$);
SELECT sqlerr($$SELECT segkpi.rfm_cuts(st, '2024-07-01', 101) FROM cu_stats$$);
SELECT sqlerr($$SELECT segkpi.rfm_cuts(st, '2024-07-01'::timestamptz + (customer = 'c')::int * interval '1 day') FROM cu_stats$$);
SELECT sqlerr($$SELECT segkpi.rfm_cuts(st, '2024-07-01', CASE WHEN customer = 'c' THEN 4 ELSE 5 END) FROM cu_stats$$);
SELECT sqlerr($$SELECT segkpi.rfm_cuts(st, '2024-06-15') FROM cu_stats$$);
SELECT sqlerr($$SELECT segkpi.rfm_cuts(ROW(NULL, NULL, -1, 0, 5)::segkpi.rfm_stats, '2024-07-01')$$);
SELECT sqlerr($$SELECT segkpi.rfm_cuts(ROW(NULL, NULL, 0, 1, 'NaN')::segkpi.rfm_stats, '2024-07-01')$$);

-- rfm_apply: a NULL or unknown ruleset (22004, 22023), an order after the
-- cuts' as_of (22023), and cuts that rfm_cuts cannot produce (22023,
-- with a detail that says what is wrong).
CREATE FUNCTION cu_detail(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    EXECUTE stmt;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || ': ' || detail;
END
$$;
SELECT sqlerr($$SELECT segkpi.rfm_apply(st, c, NULL) FROM cu_stats, cu_saved$$);
SELECT sqlerr($$SELECT segkpi.rfm_apply(st, c, 'no such') FROM cu_stats, cu_saved$$);
SELECT sqlerr($$SELECT segkpi.rfm_apply(ROW('2024-01-01', '2024-08-01', 1, 0, 5)::segkpi.rfm_stats, c) FROM cu_saved$$);
SELECT label, cu_detail(format($$SELECT segkpi.rfm_apply(ROW('2024-01-01', '2024-02-01', 1, 0, 5)::segkpi.rfm_stats, %L::segkpi.rfm_cuts)$$, cuts))
  FROM (VALUES ('null as_of', '(,4,6,"{-infinity,2024-03-01,2024-05-01}","{0,1,2}","{0,15,100}")'),
               ('infinite as_of', '(infinity,4,6,"{-infinity,2024-03-01,2024-05-01}","{0,1,2}","{0,15,100}")'),
               ('bins 0', '("2024-07-01",0,6,"{}","{}","{}")'),
               ('bins 101', '("2024-07-01",101,6,"{}","{}","{}")'),
               ('no customers', '("2024-07-01",4,0,"{-infinity,2024-03-01,2024-05-01}","{0,1,2}","{0,15,100}")'),
               ('null r', '("2024-07-01",4,6,,"{0,1,2}","{0,15,100}")'),
               ('short f', '("2024-07-01",4,6,"{-infinity,2024-03-01,2024-05-01}","{0,1}","{0,15,100}")'),
               ('long m', '("2024-07-01",4,6,"{-infinity,2024-03-01,2024-05-01}","{0,1,2}","{0,15,100,200}")'),
               ('2-D f', '("2024-07-01",4,6,"{-infinity,2024-03-01,2024-05-01}","{{0,1,2}}","{0,15,100}")'),
               ('null element', '("2024-07-01",4,6,"{-infinity,NULL,2024-05-01}","{0,1,2}","{0,15,100}")'),
               ('descending r', '("2024-07-01",4,6,"{2024-05-01,2024-03-01,2024-06-01}","{0,1,2}","{0,15,100}")'),
               ('descending f', '("2024-07-01",4,6,"{-infinity,2024-03-01,2024-05-01}","{0,2,1}","{0,15,100}")'),
               ('descending m', '("2024-07-01",4,6,"{-infinity,2024-03-01,2024-05-01}","{0,1,2}","{0,100,15}")'),
               ('NaN m', '("2024-07-01",4,6,"{-infinity,2024-03-01,2024-05-01}","{0,1,2}","{0,15,NaN}")'),
               ('infinite m', '("2024-07-01",4,6,"{-infinity,2024-03-01,2024-05-01}","{0,1,2}","{0,15,Infinity}")'))
       v(label, cuts)
 ORDER BY label;
-- the hint says where valid cuts come from
\set VERBOSITY default
SELECT segkpi.rfm_apply(ROW('2024-01-01', '2024-02-01', 1, 0, 5)::segkpi.rfm_stats,
                        '("2024-07-01",4,6,"{-infinity,2024-03-01,2024-05-01}","{0,1}","{0,15,100}")');
