-- BG/NBD and Gamma-Gamma: model types, predictions against values computed
-- independently (scipy, see test/t/005_btyd_scipy.pl for the same check at
-- scale), fits with compressed rows, parallel fits, non-convergence.
SET extra_float_digits = 0;

-- models round-trip through text exactly; parameters as columns
CREATE TABLE m (bg segkpi.bgnbd_model, gg segkpi.gamma_gamma_model);
INSERT INTO m VALUES (
  'bgnbd/1 r=0.24259452251419639 alpha=4.4136020231624746 a=0.79292201642271642 b=2.4259067718504994 ll=-9582.4292066739326 n=2357 iter=24 converged=1',
  'gammagamma/1 p=6.249572262101571 q=3.74422466998664 gamma=15.443521003881813 ll=-4055.917694801916 n=946 iter=19 converged=1');
SELECT bg, gg FROM m;
SELECT (segkpi.bgnbd_params(bg)).*, (segkpi.gamma_gamma_params(gg)).* FROM m;
SELECT bg::text::segkpi.bgnbd_model::text = bg::text AS bg_round_trip,
       gg::text::segkpi.gamma_gamma_model::text = gg::text AS gg_round_trip FROM m;

-- predictions for a few CDNOW-like customers (weeks)
CREATE TABLE cust (id int, x int, t_x float8, t float8, zbar float8);
INSERT INTO cust VALUES (1, 0, 0, 38.86, 0), (2, 2, 30.43, 38.86, 22.35), (3, 1, 1.71, 38.86, 11.77),
                        (4, 7, 29.43, 35.71, 40), (5, 0, 0, 0, 0), (6, 12, 1.5, 30, 5);
SELECT id, round(segkpi.bgnbd_p_alive(bg, x, t_x, t)::numeric, 10) AS p_alive,
       round(segkpi.bgnbd_expected(bg, 39, x, t_x, t)::numeric, 10) AS e39,
       round(segkpi.bgnbd_expected(bg, 0, x, t_x, t)::numeric, 10) AS e0,
       round(segkpi.gamma_gamma_mean(gg, x, zbar)::numeric, 10) AS spend,
       round(segkpi.clv(bg, gg, x, t_x, t, zbar, 52, 0.01)::numeric, 8) AS clv_weekly,
       round(segkpi.clv(bg, gg, x, t_x, t, zbar, 52, 0.04, 4)::numeric, 8) AS clv_4weeks,
       round(segkpi.clv(bg, gg, x, t_x, t, zbar, 10, 0, 3)::numeric, 8) AS clv_undiscounted
  FROM cust, m ORDER BY id;
SELECT round(segkpi.bgnbd_expected_population(bg, 39)::numeric, 10) AS ex39,
       round(segkpi.bgnbd_expected_population(bg, 0)::numeric, 10) AS ex0,
       round(segkpi.bgnbd_expected_population(bg, 1e6)::numeric, 6) AS ex_long FROM m;
-- undiscounted CLV is expected purchases times expected spend, exactly
SELECT id, abs(segkpi.clv(bg, gg, x, t_x, t, zbar, 10, 0, 3)
               - segkpi.bgnbd_expected(bg, 10, x, t_x, t) * segkpi.gamma_gamma_mean(gg, x, zbar)) < 1e-12 AS same
  FROM cust, m ORDER BY id;
-- a customer with T = 0 is a customer just acquired
SELECT segkpi.bgnbd_expected(bg, 39, 0, 0, 0) = segkpi.bgnbd_expected_population(bg, 39) AS fresh FROM m;

-- Fits.  A deterministic population of 2000 customers from a generator in
-- SQL (rates and dropout vary by customer), summarised in weeks.  The
-- estimates below agree with scipy's maximum-likelihood fit of the same
-- rows (test/t/btyd_ref.py) to the digits shown.
CREATE TABLE pop2 AS
WITH u AS (SELECT i, ((i * 7919) % 10007 + 0.5) / 10007 AS u1, ((i * 104729) % 9973 + 0.5) / 9973 AS u2,
                  ((i * 15485863) % 9967 + 0.5) / 9967 AS u3, ((i * 32452843) % 9949 + 0.5) / 9949 AS u4,
                  ((i * 49979687) % 9941 + 0.5) / 9941 AS u5
             FROM generate_series(1::bigint, 2000) i),
p AS (SELECT i, -ln(u1) / 5 AS lam, 1 - power(1 - u2, 1 / 3.0) AS drop,
             floor(140 + 140 * u4) AS tdays, u3, u5 FROM u),
s AS (SELECT i, tdays, floor(ln(u3) / ln(1 - drop)) AS g,
             floor(lam * tdays / 7 * (0.5 + u5)) AS n, u5 FROM p)
SELECT i AS id, least(g, n)::int AS x,
       (CASE WHEN least(g, n) = 0 THEN 0
             ELSE floor(tdays * least(g, n) / (n + 1) * (0.6 + 0.4 * u5)) END / 7)::float8 AS t_x,
       (tdays / 7)::float8 AS t,
       (CASE WHEN least(g, n) = 0 THEN 0
             ELSE round(10 + 40 * u5 * (0.5 + (i % 7) / 7.0), 2) END)::float8 AS zbar
  FROM s;
SELECT count(*), sum(x), count(*) FILTER (WHERE x = 0) AS zeros,
       count(DISTINCT (x, t_x, t)) AS distinct_rows FROM pop2;

CREATE TABLE fits AS
SELECT segkpi.bgnbd_fit(x, t_x, t) AS bg, segkpi.gamma_gamma_fit(x, zbar) AS gg FROM pop2;
SELECT round((p).r::numeric, 5) r, round((p).alpha::numeric, 4) alpha, round((p).a::numeric, 3) a,
       round((p).b::numeric, 2) b, round((p).loglik::numeric, 4) ll, (p).n, (p).converged
  FROM (SELECT segkpi.bgnbd_params(bg) p FROM fits) s;
SELECT round((p).p::numeric, 4) p, round((p).q::numeric, 4) q, round((p).gamma::numeric, 4) gamma,
       round((p).loglik::numeric, 4) ll, (p).n, (p).converged
  FROM (SELECT segkpi.gamma_gamma_params(gg) p FROM fits) s;

-- compression is exact: every customer twice gives the same estimate and
-- twice the log-likelihood; the state holds distinct rows with counts
SELECT round(((p).r / (f).r - 1)::numeric, 7) dr, round(((p).a / (f).a - 1)::numeric, 7) da,
       round(((p).loglik / (f).loglik)::numeric, 9) ll_ratio, (p).n
  FROM (SELECT segkpi.bgnbd_params(segkpi.bgnbd_fit(x, t_x, t)) p
          FROM pop2, generate_series(1, 2)) s,
       (SELECT segkpi.bgnbd_params(bg) f FROM fits) f;
SELECT 'bgnbd_rows/1 skipped=3 0,0,2,4 1,0.5,2,1'::segkpi.bgnbd_fit_state;
SELECT 'gammagamma_rows/1 skipped=0 1,10.5,2 3,7.25,1'::segkpi.gamma_gamma_fit_state;

-- a parallel fit (partial states combined) gives the same model
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT segkpi.bgnbd_fit(x, t_x, t), segkpi.gamma_gamma_fit(x, zbar) FROM pop2;
SELECT abs((segkpi.bgnbd_params(p.bg)).r / (segkpi.bgnbd_params(f.bg)).r - 1) < 1e-9 AS bg_same,
       abs((segkpi.gamma_gamma_params(p.gg)).p / (segkpi.gamma_gamma_params(f.gg)).p - 1) < 1e-9 AS gg_same
  FROM (SELECT segkpi.bgnbd_fit(x, t_x, t) bg, segkpi.gamma_gamma_fit(x, zbar) gg FROM pop2) p, fits f;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;

-- per-group fits
SELECT id % 2 AS grp, (segkpi.bgnbd_params(segkpi.bgnbd_fit(x, t_x, t))).converged,
       (segkpi.bgnbd_params(segkpi.bgnbd_fit(x, t_x, t))).n
  FROM pop2 GROUP BY 1 ORDER BY 1;

-- rows (0, 0, 0) (first seen on the last day) carry no information: ignored
SELECT (segkpi.bgnbd_params(segkpi.bgnbd_fit(x, t_x, t))).n
  FROM (SELECT x, t_x, t FROM pop2 UNION ALL SELECT 0, 0, 0 FROM generate_series(1, 5)) s;

-- fits that do not converge: a WARNING, and converged = false in the
-- model (the parameters are the best found; the details vary by platform)
\set VERBOSITY terse
SELECT (segkpi.bgnbd_params(segkpi.bgnbd_fit(x, t_x, t))).converged
  FROM (VALUES (1, 1::float8, 10::float8), (1, 1, 10), (1, 1, 10), (2, 2, 10)) v(x, t_x, t);
SELECT (segkpi.gamma_gamma_params(segkpi.gamma_gamma_fit(x, zbar))).converged
  FROM (VALUES (1, 10::float8), (2, 10), (3, 10.5), (1, 11)) v(x, zbar);
-- spend that never varies: the likelihood is unbounded; still only a
-- WARNING and converged = false, never a silent result
SELECT (segkpi.gamma_gamma_params(segkpi.gamma_gamma_fit(x, zbar))).converged
  FROM (VALUES (1, 10::float8), (2, 10), (3, 10)) v(x, zbar);
\set VERBOSITY default
