-- Bad input to the BG/NBD, Gamma-Gamma and CLV functions: every case is an
-- ERROR with a SQLSTATE, or a documented result.  Never a crash.
SET timezone = 'UTC';
CREATE TABLE bm (bg segkpi.bgnbd_model, gg segkpi.gamma_gamma_model);
INSERT INTO bm VALUES ('bgnbd/1 r=0.25 alpha=4.5 a=0.8 b=2.5 ll=0 n=0 iter=0 converged=0',
                       'gammagamma/1 p=6 q=4 gamma=15 ll=0 n=0 iter=0 converged=0');

-- btyd_stats: NaN/Infinity amounts (22000), infinite times (22008),
-- NULL or infinite calibration_end and unit (22004, 22023), units that are
-- not a fixed positive length (22023), arguments that vary within a group
SELECT sqlerr($$SELECT segkpi.btyd_stats(now(), 'NaN'::numeric, now())$$);
SELECT sqlerr($$SELECT segkpi.btyd_stats(now(), '-Infinity'::numeric, now())$$);
SELECT sqlerr($$SELECT segkpi.btyd_stats('infinity', 1, now())$$);
SELECT sqlerr($$SELECT segkpi.btyd_stats(now(), 1, NULL)$$);
SELECT sqlerr($$SELECT segkpi.btyd_stats(now(), 1, 'infinity')$$);
SELECT sqlerr($$SELECT segkpi.btyd_stats(now(), 1, now(), NULL)$$);
SELECT sqlerr($$SELECT segkpi.btyd_stats(now(), 1, now(), '1 month')$$);
SELECT sqlerr($$SELECT segkpi.btyd_stats(now(), 1, now(), '1 year')$$);
SELECT sqlerr($$SELECT segkpi.btyd_stats(now(), 1, now(), '0 days')$$);
SELECT sqlerr($$SELECT segkpi.btyd_stats(now(), 1, now(), '-1 day')$$);
SELECT sqlerr($$SELECT segkpi.btyd_stats(t, 1, t) FROM (VALUES (timestamptz '2024-01-01'), ('2024-01-02')) v(t)$$);
SELECT sqlerr($$SELECT segkpi.btyd_stats(t, 1, '2024-02-01', u) FROM (VALUES (timestamptz '2024-01-01', interval '1 day'), ('2024-01-02', '1 week')) v(t, u)$$);
-- an amount too wide for exact day totals (22003)
SELECT sqlerr($$SELECT segkpi.btyd_stats(now(), 1e40, now())$$);
-- state functions outside an aggregate (0A000)
SELECT sqlerr($$SELECT segkpi.btyd_stats_sfunc(NULL, now(), 1, now())$$);
SELECT sqlerr($$SELECT segkpi.btyd_stats_combine('1:0:1:', '1:0:1:')$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_fit_sfunc(NULL, 1, 1, 2)$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_fit_combine('bgnbd_rows/1 skipped=0', 'bgnbd_rows/1 skipped=0')$$);
SELECT sqlerr($$SELECT segkpi.gamma_gamma_fit_sfunc(NULL, 1, 1)$$);
-- the final function on a state made by hand is fine (it is a value)
SELECT segkpi.btyd_stats_final('1:864000000000:604800000000:0=5,3=-1,7=2.5');
SELECT segkpi.btyd_stats_final('1:864000000000:604800000000:');

-- malformed state text (22P02)
SELECT sqlerr($$SELECT '2:0:1:'::segkpi.btyd_state$$);
SELECT sqlerr($$SELECT '1:0:0:'::segkpi.btyd_state$$);
SELECT sqlerr($$SELECT '1:0:-5:'::segkpi.btyd_state$$);
SELECT sqlerr($$SELECT '1:0:1'::segkpi.btyd_state$$);
SELECT sqlerr($$SELECT '1:0:1:1=5'::segkpi.btyd_state$$);
SELECT sqlerr($$SELECT '1:0:1:-1=5,-1=2'::segkpi.btyd_state$$);
SELECT sqlerr($$SELECT '1:0:1:-1=5,-2=2'::segkpi.btyd_state$$);
SELECT sqlerr($$SELECT '1:0:1:-1=NaN'::segkpi.btyd_state$$);
SELECT sqlerr($$SELECT '1:0:1:-1=1e5'::segkpi.btyd_state$$);
SELECT sqlerr($$SELECT '1:0:1:-1='::segkpi.btyd_state$$);
SELECT sqlerr($$SELECT '1:0:1:-1=5,'::segkpi.btyd_state$$);
SELECT sqlerr($$SELECT '1:01:1:'::segkpi.btyd_state$$);
SELECT sqlerr($$SELECT '1:-0:1:'::segkpi.btyd_state$$);
SELECT sqlerr($$SELECT '1:9223372036854775807:1:'::segkpi.btyd_state$$);
SELECT sqlerr($$SELECT '1:0:99999999999999999999:'::segkpi.btyd_state$$);
SELECT sqlerr($$SELECT ''::segkpi.btyd_state$$);
SELECT sqlerr($$SELECT 'garbage'::segkpi.btyd_state$$);

-- bgnbd_fit rows: negative x, t_x > T, T <= 0, NaN and infinity (22000)
SELECT sqlerr($$SELECT segkpi.bgnbd_fit(x, tx, t) FROM (VALUES (-1, 0::float8, 5::float8)) v(x, tx, t)$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_fit(x, tx, t) FROM (VALUES (2, 6::float8, 5::float8)) v(x, tx, t)$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_fit(x, tx, t) FROM (VALUES (0, 0::float8, -1::float8)) v(x, tx, t)$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_fit(x, tx, t) FROM (VALUES (1, 0::float8, 0::float8)) v(x, tx, t)$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_fit(x, tx, t) FROM (VALUES (0, 1::float8, 5::float8)) v(x, tx, t)$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_fit(x, tx, t) FROM (VALUES (1, 'NaN'::float8, 5::float8)) v(x, tx, t)$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_fit(x, tx, t) FROM (VALUES (1, 1::float8, 'Infinity'::float8)) v(x, tx, t)$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_fit(x, tx, t) FROM (VALUES (2000000, 1::float8, 5::float8)) v(x, tx, t)$$);
-- data a fit cannot use (22000): everyone x = 0, one customer, identical
-- customers, only T = 0 customers
SELECT sqlerr($$SELECT segkpi.bgnbd_fit(0, 0, i) FROM generate_series(1, 10) i$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_fit(2, 3, 5)$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_fit(2, 3, 5) FROM generate_series(1, 10)$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_fit(0, 0, 0) FROM generate_series(1, 10)$$);
-- empty input, or only NULL rows: NULL
SELECT segkpi.bgnbd_fit(x, 1, 2) IS NULL AS empty FROM generate_series(1, 0) x;
SELECT segkpi.bgnbd_fit(NULL, 1, 2) IS NULL AS nulls FROM generate_series(1, 3);
SELECT segkpi.gamma_gamma_fit(NULL, 1) IS NULL AS nulls FROM generate_series(1, 3);

-- gamma_gamma_fit rows: x > 0 needs zbar > 0; NaN; no customer with x > 0
SELECT sqlerr($$SELECT segkpi.gamma_gamma_fit(x, z) FROM (VALUES (1, 0::float8)) v(x, z)$$);
SELECT sqlerr($$SELECT segkpi.gamma_gamma_fit(x, z) FROM (VALUES (1, -5::float8)) v(x, z)$$);
SELECT sqlerr($$SELECT segkpi.gamma_gamma_fit(x, z) FROM (VALUES (-1, 5::float8)) v(x, z)$$);
SELECT sqlerr($$SELECT segkpi.gamma_gamma_fit(x, z) FROM (VALUES (1, 'NaN'::float8)) v(x, z)$$);
SELECT sqlerr($$SELECT segkpi.gamma_gamma_fit(0, 0) FROM generate_series(1, 10)$$);
SELECT sqlerr($$SELECT segkpi.gamma_gamma_fit(3, 12.5)$$);

-- fit states: malformed text (22P02)
SELECT sqlerr($$SELECT 'bgnbd_rows/2 skipped=0'::segkpi.bgnbd_fit_state$$);
SELECT sqlerr($$SELECT 'bgnbd_rows/1 skipped=-1'::segkpi.bgnbd_fit_state$$);
SELECT sqlerr($$SELECT 'bgnbd_rows/1 skipped=0 1,2,1,1'::segkpi.bgnbd_fit_state$$);
SELECT sqlerr($$SELECT 'bgnbd_rows/1 skipped=0 1,1,2,0'::segkpi.bgnbd_fit_state$$);
SELECT sqlerr($$SELECT 'bgnbd_rows/1 skipped=0 1,1,2,1 1,1,2,1'::segkpi.bgnbd_fit_state$$);
SELECT sqlerr($$SELECT 'bgnbd_rows/1 skipped=0 0,0,0,1'::segkpi.bgnbd_fit_state$$);
SELECT sqlerr($$SELECT 'bgnbd_rows/1 skipped=0 1,1,2'::segkpi.bgnbd_fit_state$$);
SELECT sqlerr($$SELECT 'bgnbd_rows/1 skipped=0 1,1,nan,1'::segkpi.bgnbd_fit_state$$);
SELECT sqlerr($$SELECT 'bgnbd_rows/1 skipped=0 1,1,1e999,1'::segkpi.bgnbd_fit_state$$);
SELECT sqlerr($$SELECT 'bgnbd_rows/1 skipped=0  1,1,2,1'::segkpi.bgnbd_fit_state$$);
SELECT sqlerr($$SELECT 'bgnbd_rows/1 skipped=0 1.5,1,2,1'::segkpi.bgnbd_fit_state$$);
SELECT sqlerr($$SELECT 'gammagamma_rows/1 skipped=0 0,0,1'::segkpi.gamma_gamma_fit_state$$);
SELECT sqlerr($$SELECT 'gammagamma_rows/1 skipped=0 1,0,1'::segkpi.gamma_gamma_fit_state$$);
SELECT sqlerr($$SELECT 'bgnbd_rows/1 skipped=0'::segkpi.gamma_gamma_fit_state$$);
-- a valid but empty state: the fit says why it cannot run
SELECT sqlerr($$SELECT segkpi.bgnbd_fit_final('bgnbd_rows/1 skipped=0')$$);
SELECT sqlerr($$SELECT segkpi.gamma_gamma_fit_final('gammagamma_rows/1 skipped=4')$$);

-- malformed model text (22P02)
SELECT sqlerr($$SELECT 'bgnbd/1 r=0.25 alpha=4.5 a=0.8 b=-2.5 ll=0 n=0 iter=0 converged=0'::segkpi.bgnbd_model$$);
SELECT sqlerr($$SELECT 'bgnbd/1 r=nan alpha=4.5 a=0.8 b=2.5 ll=0 n=0 iter=0 converged=0'::segkpi.bgnbd_model$$);
SELECT sqlerr($$SELECT 'bgnbd/1 r=0.25 alpha=4.5 a=0.8 b=2.5 ll=0 n=0 iter=0'::segkpi.bgnbd_model$$);
SELECT sqlerr($$SELECT 'bgnbd/2 r=0.25 alpha=4.5 a=0.8 b=2.5 ll=0 n=0 iter=0 converged=0'::segkpi.bgnbd_model$$);
SELECT sqlerr($$SELECT 'gammagamma/1 p=6 q=4 gamma=15 ll=0 n=0 iter=0 converged=2'::segkpi.gamma_gamma_model$$);
SELECT sqlerr($$SELECT 'bgnbd/1 r=0.25 alpha=4.5 a=0.8 b=2.5 ll=0 n=0 iter=0 converged=0'::segkpi.gamma_gamma_model$$);
SELECT sqlerr($$SELECT ''::segkpi.bgnbd_model$$);

-- predictions: bad customers and arguments (22023), NULLs give NULL
SELECT sqlerr($$SELECT segkpi.bgnbd_p_alive(bg, -1, 0, 5) FROM bm$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_p_alive(bg, 1, 6, 5) FROM bm$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_p_alive(bg, 0, 0, -1) FROM bm$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_p_alive(bg, 1, 0, 0) FROM bm$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_p_alive(bg, 0, 1, 5) FROM bm$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_p_alive(bg, 1, 'NaN', 5) FROM bm$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_p_alive(bg, 1, 1, 'Infinity') FROM bm$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_expected(bg, -1, 1, 1, 5) FROM bm$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_expected(bg, 'NaN', 1, 1, 5) FROM bm$$);
SELECT sqlerr($$SELECT segkpi.bgnbd_expected_population(bg, -1) FROM bm$$);
SELECT sqlerr($$SELECT segkpi.gamma_gamma_mean(gg, 2, 0) FROM bm$$);
SELECT sqlerr($$SELECT segkpi.gamma_gamma_mean(gg, -2, 10) FROM bm$$);
SELECT sqlerr($$SELECT segkpi.gamma_gamma_mean(gg, 2, 'NaN') FROM bm$$);
-- a model with q <= 1 has no finite mean spend for x = 0 (22003)
SELECT sqlerr($$SELECT segkpi.gamma_gamma_mean('gammagamma/1 p=6 q=0.5 gamma=15 ll=0 n=0 iter=0 converged=0', 0, 0)$$);
SELECT segkpi.bgnbd_p_alive(bg, NULL, 1, 5) IS NULL AS null_x FROM bm;
-- clv: horizon < 0, discount_rate <= -1, step <= 0, too many steps
SELECT sqlerr($$SELECT segkpi.clv(bg, gg, 1, 1, 5, 10, -1, 0.01) FROM bm$$);
SELECT sqlerr($$SELECT segkpi.clv(bg, gg, 1, 1, 5, 10, 52, -1) FROM bm$$);
SELECT sqlerr($$SELECT segkpi.clv(bg, gg, 1, 1, 5, 10, 52, 'NaN') FROM bm$$);
SELECT sqlerr($$SELECT segkpi.clv(bg, gg, 1, 1, 5, 10, 52, 0.01, 0) FROM bm$$);
SELECT sqlerr($$SELECT segkpi.clv(bg, gg, 1, 1, 5, 10, 52, 0.01, -1) FROM bm$$);
SELECT sqlerr($$SELECT segkpi.clv(bg, gg, 1, 1, 5, 10, 1e9, 0.01, 1) FROM bm$$);
SELECT sqlerr($$SELECT segkpi.clv(bg, gg, 1, 1, 5, 0, 52, 0.01) FROM bm$$);
-- documented results: horizon 0 gives 0; a rate in (-1, 0) is allowed
SELECT segkpi.clv(bg, gg, 1, 1, 5, 10, 0, 0.01) AS zero_horizon,
       segkpi.clv(bg, gg, 1, 1, 5, 10, 4, -0.5) > segkpi.clv(bg, gg, 1, 1, 5, 10, 4, 0) AS negative_rate
  FROM bm;
