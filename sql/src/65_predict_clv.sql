------------------------------------------------------------------------
-- KPI pipeline: predicted CLV
------------------------------------------------------------------------

-- During refresh: BG/NBD summaries of every customer in weeks, with the
-- calibration period ending just before as_of; both fits; then P(alive)
-- and the discounted CLV over settings.clv_horizon_days into the temporary
-- table segkpi_pred.  A fit that fails (too little repeat data) leaves the
-- predictions NULL with a WARNING; a fit that does not converge warns and
-- is used.
CREATE FUNCTION segkpi.predict_clv(bo segkpi.bindings, as_of timestamptz, cfg segkpi.settings)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bg segkpi.bgnbd_model;
    gg segkpi.gamma_gamma_model;
    horizon float8 := cfg.clv_horizon_days / 7.0;
    weekly_rate float8 := power(1 + cfg.clv_discount_rate::float8, 1.0 / 52) - 1;
BEGIN
    EXECUTE segkpi.work_table('segkpi_btyd') || format($q$
        SELECT o.%1$I AS customer_id,
               segkpi.btyd_stats(o.%2$I::timestamptz, o.%3$I::numeric, $1 - interval '1 microsecond',
                                 interval '1 week') AS s
          FROM %4$s o
         WHERE o.%2$I::timestamptz < $1 AND o.%1$I IS NOT NULL AND o.%3$I IS NOT NULL
         GROUP BY 1$q$,
        bo.columns ->> 'customer', bo.columns ->> 'ordered_at', bo.columns ->> 'amount', bo.relation)
      USING as_of;
    EXECUTE segkpi.work_table('segkpi_pred')
         || 'SELECT b.customer_id, NULL::float8 AS p_alive, NULL::float8 AS clv FROM segkpi_btyd b WHERE false';
    BEGIN
        SELECT segkpi.bgnbd_fit((s).x, (s).t_x, (s).t) INTO bg FROM segkpi_btyd WHERE s IS NOT NULL;
        SELECT segkpi.gamma_gamma_fit((s).x, (s).zbar) INTO gg FROM segkpi_btyd WHERE (s).x > 0;
    EXCEPTION WHEN data_exception OR invalid_parameter_value OR program_limit_exceeded THEN
        RAISE WARNING 'segkpi.refresh: no predicted CLV: %', SQLERRM
            USING HINT = 'It needs repeat purchases (and work_mem for the fit state).';
        RETURN;
    END;
    IF bg IS NULL OR gg IS NULL THEN
        RETURN;
    END IF;
    -- E[spend] = (gamma + x zbar) p / (p x + q - 1) exists only when
    -- p x + q > 1; where it does not (q <= 1 and few repeats) CLV is NULL
    INSERT INTO segkpi_pred
    SELECT b.customer_id, segkpi.bgnbd_p_alive(bg, (s).x, (s).t_x, (s).t),
           CASE WHEN gp.p * (s).x + gp.q > 1
                THEN segkpi.clv(bg, gg, (s).x, (s).t_x, (s).t, (s).zbar, horizon, weekly_rate) END
      FROM segkpi_btyd b, segkpi.gamma_gamma_params(gg) gp
     WHERE s IS NOT NULL;
END
$$;
COMMENT ON FUNCTION segkpi.predict_clv(segkpi.bindings, timestamptz, segkpi.settings) IS
    'predicted CLV and P(alive) of every customer during segkpi.refresh (settings.predict_clv)';

