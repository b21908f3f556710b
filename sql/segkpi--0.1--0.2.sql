/*
 * segkpi 0.1 -> 0.2 - upgrade script.
 *
 * 0.2 adds per-customer activities (orders by period in one value per
 * customer) and rebuilds the KPI refresh on them: one row per customer
 * instead of one per customer and period.  A fresh CREATE EXTENSION of
 * 0.2 runs the 0.1 script and then this one, so every install goes
 * through the upgrade path the tests check.
 */

\echo Use "ALTER EXTENSION segkpi UPDATE TO '0.2'" to load this file. \quit

-- Names left unqualified resolve in pg_catalog only, never in schema
-- segkpi (where another role might have put a better match); added in 0.6.
SET LOCAL search_path = pg_catalog, pg_temp;

------------------------------------------------------------------------
-- Activities: one customer's orders by period (type and aggregate)
------------------------------------------------------------------------

CREATE TYPE segkpi.activity;

CREATE FUNCTION segkpi.activity_in(cstring) RETURNS segkpi.activity
    AS 'MODULE_PATHNAME', 'segkpi_activity_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.activity_out(segkpi.activity) RETURNS cstring
    AS 'MODULE_PATHNAME', 'segkpi_activity_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.activity_recv(internal) RETURNS segkpi.activity
    AS 'MODULE_PATHNAME', 'segkpi_activity_recv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.activity_send(segkpi.activity) RETURNS bytea
    AS 'MODULE_PATHNAME', 'segkpi_activity_send'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE segkpi.activity (
    INPUT = segkpi.activity_in,
    OUTPUT = segkpi.activity_out,
    RECEIVE = segkpi.activity_recv,
    SEND = segkpi.activity_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE segkpi.activity IS
    'one customer''s orders by period, from segkpi.activity_agg; text form 1:<scale>:<orders>:<refunds>:<first row>:<first order>:<last order> then ;<period>,<orders>,<revenue>,<cost> per period';
COMMENT ON FUNCTION segkpi.activity_in(cstring) IS 'text input of segkpi.activity (validated)';
COMMENT ON FUNCTION segkpi.activity_out(segkpi.activity) IS 'text output of segkpi.activity';
COMMENT ON FUNCTION segkpi.activity_recv(internal) IS 'binary input of segkpi.activity (the text form)';
COMMENT ON FUNCTION segkpi.activity_send(segkpi.activity) IS 'binary output of segkpi.activity (the text form)';

CREATE FUNCTION segkpi.activity_agg_sfunc(segkpi.activity, date, timestamptz, numeric, numeric)
    RETURNS segkpi.activity
    AS 'MODULE_PATHNAME', 'segkpi_activity_agg_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.activity_agg_combine(segkpi.activity, segkpi.activity)
    RETURNS segkpi.activity
    AS 'MODULE_PATHNAME', 'segkpi_activity_agg_combine'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.activity_agg_final(segkpi.activity)
    RETURNS segkpi.activity
    AS 'MODULE_PATHNAME', 'segkpi_activity_agg_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.activity_agg(period date, ordered_at timestamptz, amount numeric, cost numeric) (
    SFUNC = segkpi.activity_agg_sfunc,
    STYPE = segkpi.activity,
    SSPACE = 300,
    COMBINEFUNC = segkpi.activity_agg_combine,
    FINALFUNC = segkpi.activity_agg_final,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.activity_agg_sfunc(segkpi.activity, date, timestamptz, numeric, numeric) IS 'transition function of segkpi.activity_agg';
COMMENT ON FUNCTION segkpi.activity_agg_combine(segkpi.activity, segkpi.activity) IS 'combine function of segkpi.activity_agg';
COMMENT ON FUNCTION segkpi.activity_agg_final(segkpi.activity) IS 'final function of segkpi.activity_agg';
COMMENT ON AGGREGATE segkpi.activity_agg(date, timestamptz, numeric, numeric) IS
    'one customer''s orders by period (period = first day of the row''s month or quarter, given by the caller): orders (amount > 0), exact revenue and cost per period; rows with a NULL period, ordered_at or amount are skipped, a NULL cost counts as 0';

CREATE TYPE segkpi.activity_summary AS (
    first_row_at   timestamptz,
    first_order_at timestamptz,
    last_order_at  timestamptz,
    orders         bigint,
    refunds        bigint,
    revenue        numeric,
    cost           numeric,
    periods        integer
);
COMMENT ON TYPE segkpi.activity_summary IS 'totals of one activity, from segkpi.activity_summary()';
COMMENT ON COLUMN segkpi.activity_summary.first_row_at IS 'earliest row, order or refund';
COMMENT ON COLUMN segkpi.activity_summary.first_order_at IS 'first order (amount > 0); NULL when there is none';
COMMENT ON COLUMN segkpi.activity_summary.last_order_at IS 'last order (amount > 0); NULL when there is none';
COMMENT ON COLUMN segkpi.activity_summary.orders IS 'rows with amount > 0';
COMMENT ON COLUMN segkpi.activity_summary.refunds IS 'rows with amount <= 0';
COMMENT ON COLUMN segkpi.activity_summary.revenue IS 'exact sum of every amount';
COMMENT ON COLUMN segkpi.activity_summary.cost IS 'exact sum of every cost';
COMMENT ON COLUMN segkpi.activity_summary.periods IS 'periods with at least one row';

CREATE FUNCTION segkpi.activity_summary(activity segkpi.activity)
    RETURNS segkpi.activity_summary
    AS 'MODULE_PATHNAME', 'segkpi_activity_summary'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segkpi.activity_summary(segkpi.activity) IS 'totals of an activity over all its periods';

------------------------------------------------------------------------
-- Activities: roll-up of many customers per period (aggregate)
------------------------------------------------------------------------

CREATE TYPE segkpi.activity_period AS (
    period    date,
    active    bigint,
    retained  bigint,
    orders    bigint,
    revenue   numeric,
    cost      numeric
);
COMMENT ON TYPE segkpi.activity_period IS 'one period of segkpi.activity_rollup';
COMMENT ON COLUMN segkpi.activity_period.period IS 'first day of the period';
COMMENT ON COLUMN segkpi.activity_period.active IS 'customers with at least one order (amount > 0) in the period';
COMMENT ON COLUMN segkpi.activity_period.retained IS 'of those, customers with an order in the period step_months before too';
COMMENT ON COLUMN segkpi.activity_period.orders IS 'orders in the period';
COMMENT ON COLUMN segkpi.activity_period.revenue IS 'exact sum of amounts in the period, refunds included';
COMMENT ON COLUMN segkpi.activity_period.cost IS 'exact sum of costs in the period';

CREATE FUNCTION segkpi.activity_rollup_sfunc(internal, segkpi.activity, integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_activity_rollup_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.activity_rollup_combine(internal, internal)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_activity_rollup_combine'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.activity_rollup_serialize(internal)
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'segkpi_activity_rollup_serialize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.activity_rollup_deserialize(bytea, internal)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_activity_rollup_deserialize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.activity_rollup_final(internal)
    RETURNS segkpi.activity_period[]
    AS 'MODULE_PATHNAME', 'segkpi_activity_rollup_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.activity_rollup(activity segkpi.activity, step_months integer) (
    SFUNC = segkpi.activity_rollup_sfunc,
    STYPE = internal,
    SSPACE = 2400,
    COMBINEFUNC = segkpi.activity_rollup_combine,
    SERIALFUNC = segkpi.activity_rollup_serialize,
    DESERIALFUNC = segkpi.activity_rollup_deserialize,
    FINALFUNC = segkpi.activity_rollup_final,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.activity_rollup_sfunc(internal, segkpi.activity, integer) IS 'transition function of segkpi.activity_rollup';
COMMENT ON FUNCTION segkpi.activity_rollup_combine(internal, internal) IS 'combine function of segkpi.activity_rollup';
COMMENT ON FUNCTION segkpi.activity_rollup_serialize(internal) IS 'serialization function of segkpi.activity_rollup';
COMMENT ON FUNCTION segkpi.activity_rollup_deserialize(bytea, internal) IS 'deserialization function of segkpi.activity_rollup';
COMMENT ON FUNCTION segkpi.activity_rollup_final(internal) IS 'final function of segkpi.activity_rollup';
COMMENT ON AGGREGATE segkpi.activity_rollup(segkpi.activity, integer) IS
    'per period over many customers'' activities: active and retained customers, orders, exact revenue and cost; step_months (1 month, 3 quarter) says which period comes before which; NULL activities are skipped';

------------------------------------------------------------------------
-- KPI pipeline: customer-level tables without per-row foreign key checks
------------------------------------------------------------------------

-- A refresh writes a million rows or more into each customer-level table;
-- a foreign key to segkpi.snapshots costs a trigger call per row (about
-- 3 us each).  Rows are only ever written by refresh, after its snapshot
-- row, so the cascade on delete is kept by a statement trigger on
-- snapshots instead, and TRUNCATE of snapshots empties them too.
CREATE OR REPLACE FUNCTION segkpi.ensure_customer_tables(key_type regtype)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    cur regtype;
BEGIN
    SELECT a.atttypid::regtype INTO cur FROM pg_attribute a
     WHERE a.attrelid = to_regclass('segkpi.customer_segments') AND a.attname = 'customer_id';
    IF cur IS DISTINCT FROM key_type THEN
        IF cur IS NOT NULL THEN
            IF EXISTS (SELECT FROM segkpi.snapshots) THEN
                RAISE EXCEPTION 'the customer key type changes from % to %, but snapshots exist', cur, key_type
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          HINT = 'DELETE FROM segkpi.snapshots first; that discards segment history.';
            END IF;
            -- segment_migration reads the tables through a function: no dependency
            DROP VIEW IF EXISTS segkpi.segment_migration;
            DROP TABLE segkpi.customer_segments, segkpi.customer_features CASCADE;
        END IF;
        EXECUTE format($ddl$
        CREATE TABLE segkpi.customer_features (
            snapshot_id    bigint NOT NULL,
            customer_id    %1$s NOT NULL,
            acquired_at    timestamptz,
            first_order_at timestamptz,
            last_order_at  timestamptz,
            orders         bigint NOT NULL,
            refunds        bigint NOT NULL,
            monetary       numeric NOT NULL,
            cost           numeric NOT NULL,
            recency_days   float8,
            r integer, f integer, m integer,
            p_alive        float8,
            clv_predicted  float8,
            PRIMARY KEY (snapshot_id, customer_id));
        CREATE TABLE segkpi.customer_segments (
            snapshot_id  bigint NOT NULL,
            segmentation text NOT NULL,
            customer_id  %1$s NOT NULL,
            segment      text NOT NULL,
            PRIMARY KEY (snapshot_id, segmentation, customer_id));
        REVOKE ALL ON segkpi.customer_features, segkpi.customer_segments FROM PUBLIC;
        COMMENT ON TABLE segkpi.customer_features IS 'per-customer features of each snapshot (customer-level: not for PUBLIC)';
        COMMENT ON TABLE segkpi.customer_segments IS 'segment of every customer in each snapshot and segmentation (customer-level: not for PUBLIC)';
        $ddl$, key_type);
    END IF;
    -- The views go with the extension (they use its objects) while these
    -- tables stay in the schema: after DROP EXTENSION ... CASCADE and a new
    -- CREATE EXTENSION the tables are still there and the views are not.
    IF to_regclass('segkpi.segment_migration') IS NULL OR to_regclass('segkpi.rfm_grid') IS NULL THEN
        IF to_regclass('segkpi.segment_migration') IS NOT NULL THEN
            DROP VIEW segkpi.segment_migration;
        END IF;
        IF to_regclass('segkpi.rfm_grid') IS NOT NULL THEN
            DROP VIEW segkpi.rfm_grid;
        END IF;
        EXECUTE $ddl$
        CREATE VIEW segkpi.segment_migration AS
        SELECT m.* FROM (SELECT max(snapshot_id) FILTER (WHERE rn = 2) AS f,
                                max(snapshot_id) FILTER (WHERE rn = 1) AS t
                           FROM (SELECT snapshot_id, row_number() OVER (ORDER BY snapshot_id DESC) AS rn
                                   FROM segkpi.snapshots) s) x,
               LATERAL segkpi.migration(x.f, x.t) m;
        CREATE VIEW segkpi.rfm_grid AS
        SELECT f.r, f.f, count(*) AS customers, round(avg(f.monetary), 2) AS mean_monetary
          FROM segkpi.customer_features f
         WHERE f.snapshot_id = (SELECT max(snapshot_id) FROM segkpi.snapshots) AND f.r IS NOT NULL
         GROUP BY f.r, f.f
        HAVING count(*) >= (SELECT min_segment_size FROM segkpi.settings);
        COMMENT ON VIEW segkpi.segment_migration IS 'customers moving between segments from the previous to the latest snapshot (cells below settings.min_segment_size hidden)';
        COMMENT ON VIEW segkpi.rfm_grid IS 'R x F grid of the latest snapshot (five bins): customers and mean monetary (cells below settings.min_segment_size hidden)';
        COMMENT ON COLUMN segkpi.segment_migration.segmentation IS 'the segmentation';
        COMMENT ON COLUMN segkpi.segment_migration.from_segment IS 'segment in the previous snapshot, (none) when absent';
        COMMENT ON COLUMN segkpi.segment_migration.to_segment IS 'segment in the latest snapshot, (none) when absent';
        COMMENT ON COLUMN segkpi.segment_migration.customers IS 'customers making this move';
        COMMENT ON COLUMN segkpi.rfm_grid.r IS 'recency score';
        COMMENT ON COLUMN segkpi.rfm_grid.f IS 'frequency score';
        COMMENT ON COLUMN segkpi.rfm_grid.customers IS 'customers in the cell';
        COMMENT ON COLUMN segkpi.rfm_grid.mean_monetary IS 'mean monetary total of the cell';
        $ddl$;
    END IF;
END
$$;
-- (0.6: the upgrade of the customer-level table that stood here ran as
-- superuser on a table another role owns; segkpi.adopt_customer_tables
-- does it now, as that owner, at the next bind or refresh.)


CREATE FUNCTION segkpi.snapshots_cascade() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['segkpi.customer_features', 'segkpi.customer_segments'] LOOP
        CONTINUE WHEN to_regclass(t) IS NULL;
        IF TG_OP = 'TRUNCATE' THEN
            EXECUTE format('TRUNCATE %s', t);
        ELSE
            EXECUTE format('DELETE FROM %s WHERE snapshot_id IN (SELECT snapshot_id FROM gone)', t);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION segkpi.snapshots_cascade() IS
    'deleting or truncating snapshots removes their customer-level rows (the cascade a foreign key would do)';
CREATE TRIGGER snapshots_cascade AFTER DELETE ON segkpi.snapshots
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION segkpi.snapshots_cascade();
CREATE TRIGGER snapshots_cascade_truncate AFTER TRUNCATE ON segkpi.snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION segkpi.snapshots_cascade();
REVOKE EXECUTE ON FUNCTION segkpi.snapshots_cascade() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION segkpi.snapshots_cascade() TO @extowner@;

------------------------------------------------------------------------
-- KPI pipeline: refresh on activities
------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION segkpi.drop_temp_tables()
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['segkpi_cp', 'segkpi_cust', 'segkpi_assign', 'segkpi_spend', 'segkpi_leads',
                             'segkpi_feedback', 'segkpi_fb', 'segkpi_btyd', 'segkpi_pred', 'segkpi_cp_raw', 'segkpi_cust_raw'] LOOP
        IF to_regclass('pg_temp.' || t) IS NOT NULL THEN
            EXECUTE format('DROP TABLE pg_temp.%I', t);
        END IF;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION segkpi.refresh(as_of timestamptz DEFAULT pg_catalog.now(), progress boolean DEFAULT false)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    bo segkpi.bindings := segkpi.checked_binding('orders');
    bc segkpi.bindings := segkpi.checked_binding('customers');
    bs segkpi.bindings := segkpi.checked_binding('marketing_spend');
    bl segkpi.bindings := segkpi.checked_binding('leads');
    bf segkpi.bindings := segkpi.checked_binding('feedback');
    cfg segkpi.settings;
    grain text;
    step interval;
    sid bigint;
    seg segkpi.segmentations;
    ncust bigint;
    t_stage timestamptz := clock_timestamp();
    stage_times jsonb := '{}';
    lead_case text;
    cust_case text;
    saved_indexscan text;
    saved_sort text;
BEGIN
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF bo IS NULL THEN
        RAISE EXCEPTION 'orders are not bound' USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Call segkpi.bind_orders(table, customer, ordered_at, amount) first.';
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('segkpi.refresh')) THEN
        RAISE NOTICE 'another segkpi.refresh is running; waiting for it to finish';
        PERFORM pg_advisory_xact_lock(hashtext('segkpi.refresh'));
    END IF;
    SELECT * INTO cfg FROM segkpi.settings;
    grain := cfg.period_grain;
    step := CASE grain WHEN 'month' THEN interval '1 month' ELSE interval '3 months' END;

    -- stage 1: one activity per customer (its orders by period): the one
    -- pass over the orders.  A hash aggregate reads the table once in
    -- order; an index walk (which the planner may prefer when the groups
    -- look too many for work_mem) reads it at random.  Only this statement
    -- is steered.
    PERFORM segkpi.drop_temp_tables();
    saved_indexscan := current_setting('enable_indexscan');
    saved_sort := current_setting('enable_sort');
    PERFORM set_config('enable_indexscan', 'off', true), set_config('enable_sort', 'off', true);
    EXECUTE format($q$
        CREATE TEMP TABLE segkpi_cust_raw ON COMMIT DROP AS
        SELECT o.%1$I AS customer_id,
               segkpi.activity_agg(date_trunc(%5$L, o.%2$I::timestamptz)::date, o.%2$I::timestamptz,
                                   o.%3$I::numeric, %4$s) AS act
          FROM %6$s o
         WHERE o.%2$I::timestamptz < %7$L AND o.%1$I IS NOT NULL AND o.%3$I IS NOT NULL
         GROUP BY 1$q$,
        bo.columns ->> 'customer', bo.columns ->> 'ordered_at', bo.columns ->> 'amount',
        CASE WHEN bo.columns ? 'cost' THEN format('o.%I::numeric', bo.columns ->> 'cost') ELSE 'NULL::numeric' END,
        grain, bo.relation, as_of);
    PERFORM set_config('enable_indexscan', saved_indexscan, true), set_config('enable_sort', saved_sort, true);
    -- NaN or infinite amounts and times were rejected by activity_agg (22000, 22008)
    stage_times := stage_times || jsonb_build_object('orders', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN RAISE NOTICE 'refresh: orders by customer and period in % s', stage_times -> 'orders'; END IF;
    t_stage := clock_timestamp();

    -- stage 1b (optional): per-customer BG/NBD summaries, fits, predictions
    IF cfg.predict_clv THEN
        PERFORM segkpi.predict_clv(bo, as_of, cfg);
        stage_times := stage_times || jsonb_build_object('predict_clv', extract(epoch FROM clock_timestamp() - t_stage));
        IF progress THEN RAISE NOTICE 'refresh: predicted CLV in % s', stage_times -> 'predict_clv'; END IF;
        t_stage := clock_timestamp();
    END IF;

    -- stage 2: customers, their totals and acquisition
    EXECUTE format($q$
        CREATE TEMP TABLE segkpi_cust ON COMMIT DROP AS
        SELECT k.customer_id, t.first_row_at, t.first_order_at, t.last_order_at, t.orders, t.refunds,
               t.revenue AS monetary, t.cost,
               coalesce(%1$s, t.first_order_at, t.first_row_at) AS acquired_at,
               date_trunc(%2$L, coalesce(%1$s, t.first_order_at, t.first_row_at))::date AS acq_period,
               %3$s AS channel, k.act
          FROM segkpi_cust_raw k CROSS JOIN LATERAL segkpi.activity_summary(k.act) t
          %4$s$q$,
        CASE WHEN bc.columns ? 'acquired_at' THEN format('c.%I::timestamptz', bc.columns ->> 'acquired_at') ELSE 'NULL::timestamptz' END,
        grain,
        CASE WHEN bc.columns ? 'channel' THEN format('c.%I::text', bc.columns ->> 'channel') ELSE 'NULL::text' END,
        CASE WHEN bc IS NULL THEN ''
             ELSE format('LEFT JOIN %s c ON c.%I = k.customer_id', bc.relation, bc.columns ->> 'customer') END);
    DROP TABLE segkpi_cust_raw;
    -- without statistics the planner guesses thousands of (segment,
    -- acquisition period, channel) groups and sorts a million rows
    ANALYZE segkpi_cust;
    SELECT count(*) INTO ncust FROM segkpi_cust;
    INSERT INTO segkpi.snapshots (as_of, timezone, period_grain, customers)
    VALUES (as_of, current_setting('TimeZone'), grain, ncust)
    RETURNING snapshot_id INTO sid;
    IF to_regclass('pg_temp.segkpi_pred') IS NULL THEN
        CREATE TEMP TABLE segkpi_pred ON COMMIT DROP AS
        SELECT k.customer_id, NULL::float8 AS p_alive, NULL::float8 AS clv FROM segkpi_cust k WHERE false;
    END IF;
    INSERT INTO segkpi.customer_features
    SELECT sid, x.customer_id, acquired_at, first_order_at, last_order_at, orders, refunds, monetary, cost,
           (s).recency_days, (s).r, (s).f, (s).m, p.p_alive, p.clv
      FROM (SELECT k.customer_id, k.acquired_at, k.first_order_at, k.last_order_at, k.orders, k.refunds,
                   k.monetary, k.cost,
                   segkpi.rfm_score(ROW(first_order_at, last_order_at, orders, refunds, monetary)::segkpi.rfm_stats,
                                         as_of) OVER () AS s
              FROM segkpi_cust k) x
      LEFT JOIN segkpi_pred p ON p.customer_id = x.customer_id
     ORDER BY x.customer_id;
    stage_times := stage_times || jsonb_build_object('customers', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN RAISE NOTICE 'refresh: % customers and their features in % s', ncust, stage_times -> 'customers'; END IF;
    t_stage := clock_timestamp();

    -- stage 3: sources other than orders, once for every segmentation
    EXECUTE format($q$
        CREATE TEMP TABLE segkpi_spend ON COMMIT DROP AS
        SELECT date_trunc(%1$L, s.%2$I::timestamptz)::date AS period, %3$s AS channel, %4$s AS target,
               s.%5$I::numeric AS amount
          FROM %6$s s WHERE s.%2$I::timestamptz < %7$L AND s.%5$I IS NOT NULL$q$,
        grain, coalesce(bs.columns ->> 'spent_on', 'day'),
        CASE WHEN bs.columns ? 'channel' THEN format('s.%I::text', bs.columns ->> 'channel') ELSE 'NULL::text' END,
        CASE WHEN bs.columns ? 'target_segment' THEN format('s.%I::text', bs.columns ->> 'target_segment') ELSE 'NULL::text' END,
        coalesce(bs.columns ->> 'amount', 'amount'),
        CASE WHEN bs IS NULL THEN '(SELECT NULL::date AS day, NULL::numeric AS amount WHERE false)'
             ELSE bs.relation::text END, as_of);
    -- feedback summed per customer and period once, for every segmentation
    IF bf IS NOT NULL THEN
        EXECUTE format($q$
            CREATE TEMP TABLE segkpi_fb ON COMMIT DROP AS
            SELECT f.%1$I AS customer_id, date_trunc(%2$L, f.%3$I::timestamptz)::date AS period,
                   sum(f.%4$I::numeric) AS score_sum, count(*) AS answers
              FROM %5$s f WHERE f.%3$I::timestamptz < %6$L AND f.%4$I IS NOT NULL
             GROUP BY 1, 2$q$,
            bf.columns ->> 'customer', grain, bf.columns ->> 'answered_at', bf.columns ->> 'score', bf.relation, as_of);
    ELSE
        CREATE TEMP TABLE segkpi_fb ON COMMIT DROP AS
        SELECT k.customer_id, NULL::date AS period, NULL::numeric AS score_sum, NULL::bigint AS answers
          FROM segkpi_cust k WHERE false;
    END IF;
    ANALYZE segkpi_fb;
    stage_times := stage_times || jsonb_build_object('sources', extract(epoch FROM clock_timestamp() - t_stage));
    t_stage := clock_timestamp();

    -- stage 4: every active segmentation: assignments, then KPIs
    FOR seg IN SELECT * FROM segkpi.segmentations WHERE active ORDER BY name LOOP
        IF to_regclass('pg_temp.segkpi_assign') IS NOT NULL THEN
            DROP TABLE pg_temp.segkpi_assign;
        END IF;
        IF seg.method = 'rfm' THEN
            CREATE TEMP TABLE segkpi_assign ON COMMIT DROP AS
            SELECT customer_id, coalesce((s).segment, '(unnamed)') AS segment
              FROM (SELECT customer_id,
                           segkpi.rfm_score(ROW(first_order_at, last_order_at, orders, refunds, monetary)::segkpi.rfm_stats,
                                            as_of, coalesce((seg.params ->> 'bins')::int, 5),
                                            coalesce(seg.params ->> 'ruleset', 'default')) OVER () AS s
                      FROM segkpi_cust) x;
        ELSIF seg.method = 'kmeans' THEN
            PERFORM segkpi.assign_kmeans(sid, seg, bc, as_of);
        ELSE
            IF bc IS NULL THEN
                RAISE EXCEPTION 'rule segmentation "%" needs bound customers', seg.name
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          HINT = 'Call segkpi.bind_customers(..., attributes => ...) first.';
            END IF;
            cust_case := segkpi.rule_case(seg.name, 'c', bc.attributes);
            EXECUTE format('CREATE TEMP TABLE segkpi_assign ON COMMIT DROP AS
                            SELECT k.customer_id, %s AS segment FROM segkpi_cust k LEFT JOIN %s c ON c.%I = k.customer_id',
                           cust_case, bc.relation, bc.columns ->> 'customer');
        END IF;
        -- in key order the primary key grows at its right edge: half the cost
        INSERT INTO segkpi.customer_segments
        SELECT sid, seg.name, customer_id, segment FROM segkpi_assign ORDER BY customer_id;
        ANALYZE segkpi_assign;

        -- leads are segmented by their own attributes, under the same rules
        IF to_regclass('pg_temp.segkpi_leads') IS NOT NULL THEN
            DROP TABLE pg_temp.segkpi_leads;
        END IF;
        IF seg.method = 'rules' AND bl IS NOT NULL THEN
            lead_case := segkpi.rule_case(seg.name, 'l', bl.attributes);
            EXECUTE format($q$
                CREATE TEMP TABLE segkpi_leads ON COMMIT DROP AS
                SELECT coalesce(segment, '(all)') AS segment, period, count(*) AS n,
                       count(*) FILTER (WHERE converted) AS converted
                  FROM (SELECT date_trunc(%1$L, l.%2$I::timestamptz)::date AS period, %3$s AS segment,
                               (l.%4$I IS NOT NULL AND l.%4$I::timestamptz < %5$L) AS converted
                          FROM %6$s l WHERE l.%2$I::timestamptz < %5$L) x
                 GROUP BY GROUPING SETS ((segment, period), (period))$q$,
                grain, bl.columns ->> 'created_at', lead_case, bl.columns ->> 'converted_at', as_of, bl.relation);
        ELSE
            CREATE TEMP TABLE segkpi_leads ON COMMIT DROP AS
            SELECT NULL::text AS segment, NULL::date AS period, NULL::bigint AS n, NULL::bigint AS converted
             WHERE false;
        END IF;

        PERFORM segkpi.compute_kpis(sid, seg.name, seg.method = 'rules' AND bl IS NOT NULL, grain, step, as_of,
                                    bf IS NOT NULL, bs IS NOT NULL);
        stage_times := stage_times || jsonb_build_object(seg.name, extract(epoch FROM clock_timestamp() - t_stage));
        IF progress THEN
            RAISE NOTICE 'refresh: segmentation "%" (%) in % s', seg.name, seg.method, stage_times -> seg.name;
        END IF;
        t_stage := clock_timestamp();
    END LOOP;

    UPDATE segkpi.snapshots SET stages = stage_times WHERE snapshot_id = sid;
    RETURN sid;
END
$$;

CREATE OR REPLACE FUNCTION segkpi.compute_kpis(sid bigint, segmentation text, with_leads boolean, grain text,
                                    step interval, as_of timestamptz, with_feedback boolean,
                                    with_spend boolean)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    -- one plan of some 40 nodes over small inputs: compiling it costs
    -- seconds and saves nothing
    SET jit = off
AS $$
DECLARE
    ppy integer := CASE grain WHEN 'month' THEN 12 ELSE 4 END;
    step_months integer := CASE grain WHEN 'month' THEN 1 ELSE 3 END;
BEGIN
    -- with_feedback stays in the signature of 0.1; segkpi_fb is simply
    -- empty when feedback is not bound, which makes csat NULL
    INSERT INTO segkpi.segment_kpis
    WITH periods AS (
        SELECT p::date AS period_start, (p + step)::date AS period_end
          FROM generate_series((SELECT date_trunc(grain, min(first_row_at))::date FROM segkpi_cust)::timestamp,
                               date_trunc(grain, as_of - interval '1 microsecond')::date::timestamp, step) p
    ),
    segs AS (SELECT DISTINCT segment FROM segkpi_assign UNION SELECT '(all)'),
    -- Segments are never NULL, so the NULL of an empty grouping set is "(all)":
    -- every customer is in segkpi_assign, so one join serves both.
    -- One pass over the customers serves activity and acquisition: groups
    -- by segment, acquisition period and channel, each with its roll-up.
    cohorts AS MATERIALIZED (
        SELECT coalesce(a.segment, '(all)') AS segment, k.acq_period, k.channel, count(*) AS n,
               segkpi.activity_rollup(k.act, step_months) AS r
          FROM segkpi_cust k JOIN segkpi_assign a USING (customer_id)
         GROUP BY GROUPING SETS ((a.segment, k.acq_period, k.channel), (k.acq_period, k.channel))
    ),
    act AS (
        SELECT c.segment, p.period, sum(p.active)::bigint AS active, sum(p.retained)::bigint AS retained,
               sum(p.orders)::bigint AS orders, sum(p.revenue) AS revenue, sum(p.cost) AS cost
          FROM cohorts c, unnest(c.r) p
         GROUP BY 1, 2
    ),
    margin_to_date AS (
        SELECT s.segment, p.period_start,
               coalesce(sum(act.revenue - act.cost), 0) AS margin
          FROM segs s CROSS JOIN periods p
          LEFT JOIN act ON act.segment = s.segment AND act.period <= p.period_start
         GROUP BY 1, 2
    ),
    acq AS (SELECT segment, acq_period, channel, n FROM cohorts),
    existing AS (
        SELECT s.segment, p.period_start, coalesce(sum(acq.n), 0) AS customers
          FROM segs s CROSS JOIN periods p
          LEFT JOIN acq ON acq.segment = s.segment AND acq.acq_period <= p.period_start
         GROUP BY 1, 2
    ),
    new AS (SELECT segment, acq_period AS period, sum(n) AS n FROM acq GROUP BY 1, 2),
    -- spend attribution: a segment tag of this segmentation wins; then a
    -- channel tag, split by the segments' share of that channel's new
    -- customers; the rest by the share of all new customers
    seg_names AS (SELECT segment FROM segs WHERE segment <> '(all)'),
    tagged AS (
        SELECT sp.target AS segment, sp.period, sum(sp.amount) AS amount
          FROM segkpi_spend sp WHERE sp.target IN (SELECT segment FROM seg_names)
         GROUP BY 1, 2
    ),
    rest AS (
        SELECT sp.period, sp.channel, sum(sp.amount) AS amount
          FROM segkpi_spend sp
         WHERE sp.target IS NULL OR sp.target NOT IN (SELECT segment FROM seg_names)
         GROUP BY 1, 2
    ),
    new_ch AS (
        SELECT segment, acq_period AS period, channel, sum(n) AS n FROM acq
         WHERE segment <> '(all)' AND channel IS NOT NULL GROUP BY 1, 2, 3
    ),
    new_ch_total AS (SELECT period, channel, sum(n) AS n FROM new_ch GROUP BY 1, 2),
    new_seg AS (SELECT segment, period, n FROM new WHERE segment <> '(all)'),
    new_total AS (SELECT period, sum(n) AS n FROM new_seg GROUP BY 1),
    by_channel AS (
        SELECT nc.segment, r.period, sum(r.amount * nc.n / nt.n) AS amount
          FROM rest r
          JOIN new_ch_total nt ON nt.period = r.period AND nt.channel = r.channel
          JOIN new_ch nc ON nc.period = r.period AND nc.channel = r.channel
         GROUP BY 1, 2
    ),
    by_share AS (
        SELECT ns.segment, r.period, sum(r.amount * ns.n / nt.n) AS amount
          FROM rest r
          JOIN new_total nt ON nt.period = r.period
          JOIN new_seg ns ON ns.period = r.period
         WHERE NOT EXISTS (SELECT FROM new_ch_total c WHERE c.period = r.period AND c.channel = r.channel)
         GROUP BY 1, 2
    ),
    spend AS (
        SELECT segment, period, sum(amount) AS amount
          FROM (SELECT * FROM tagged UNION ALL SELECT * FROM by_channel UNION ALL SELECT * FROM by_share) x
         GROUP BY 1, 2
        UNION ALL
        SELECT '(all)', period, sum(amount) FROM segkpi_spend GROUP BY 2
    ),
    -- leads were counted per segment and period, "(all)" included, as they were read
    leads AS (SELECT segment, period, n, converted FROM segkpi_leads),
    fb AS (
        SELECT coalesce(a.segment, '(all)') AS segment, f.period,
               sum(f.score_sum) / sum(f.answers) AS csat, sum(f.answers)::bigint AS n
          FROM segkpi_fb f JOIN segkpi_assign a USING (customer_id)
         GROUP BY GROUPING SETS ((a.segment, f.period), (f.period))
    ),
    pred AS (
        SELECT coalesce(a.segment, '(all)') AS segment, avg(f.clv_predicted) AS clv, avg(f.p_alive) AS p_alive
          FROM segkpi.customer_features f JOIN segkpi_assign a USING (customer_id)
         WHERE f.snapshot_id = sid AND f.p_alive IS NOT NULL
         GROUP BY GROUPING SETS ((a.segment), ())
    ),
    base AS (
        SELECT compute_kpis.segmentation AS segmentation, s.segment, p.period_start, p.period_end,
               e.customers,
               coalesce(act.active, 0) AS active,
               coalesce(new.n, 0) AS new_customers,
               coalesce(act.orders, 0) AS orders,
               coalesce(act.revenue, 0) AS revenue,
               coalesce(act.cost, 0) AS cost,
               prev.active AS prev_active,
               coalesce(act.retained, 0) AS retained,
               coalesce(spend.amount, 0) AS spend,
               leads.n AS leads, leads.converted AS converted,
               m.margin,
               fb.csat, coalesce(fb.n, 0) AS answers,
               CASE WHEN p.period_start = (SELECT max(period_start) FROM periods) THEN pred.clv END AS clv_pred,
               CASE WHEN p.period_start = (SELECT max(period_start) FROM periods) THEN pred.p_alive END AS p_alive
          FROM segs s CROSS JOIN periods p
          JOIN existing e ON e.segment = s.segment AND e.period_start = p.period_start
          JOIN margin_to_date m ON m.segment = s.segment AND m.period_start = p.period_start
          LEFT JOIN act ON act.segment = s.segment AND act.period = p.period_start
          LEFT JOIN act prev ON prev.segment = s.segment AND prev.period = (p.period_start - step)::date
          LEFT JOIN new ON new.segment = s.segment AND new.period = p.period_start
          LEFT JOIN spend ON spend.segment = s.segment AND spend.period = p.period_start
          LEFT JOIN leads ON leads.segment = s.segment AND leads.period = p.period_start
          LEFT JOIN fb ON fb.segment = s.segment AND fb.period = p.period_start
          LEFT JOIN pred ON pred.segment = s.segment
    ),
    ratios AS (
        SELECT b.*,
               b.revenue / nullif(b.orders, 0) AS aov,
               b.orders::numeric / nullif(b.active, 0) AS frequency,
               b.retained::numeric / nullif(b.prev_active, 0) AS retention,
               b.revenue - b.cost - b.spend AS net
          FROM base b
    )
    SELECT sid, r.segmentation, r.segment, r.period_start, r.period_end,
           r.customers,
           r.customers::numeric / nullif(max(r.customers) FILTER (WHERE r.segment = '(all)')
                                         OVER (PARTITION BY r.period_start), 0),
           r.active, r.new_customers, r.orders, r.revenue, r.cost, r.aov, r.frequency,
           r.retention, 1 - r.retention,
           CASE WHEN with_spend THEN r.spend END,
           CASE WHEN with_spend THEN r.spend / nullif(r.new_customers, 0) END,
           CASE WHEN with_leads THEN coalesce(r.leads, 0) END,
           CASE WHEN with_leads THEN coalesce(r.converted, 0) END,
           CASE WHEN with_leads THEN r.converted::numeric / nullif(r.leads, 0) END,
           r.margin / nullif(r.customers, 0),
           -- AOV x yearly frequency x expected lifespan in years x margin ratio
           r.aov * r.frequency * ppy / nullif(1 - power(r.retention, ppy), 0)
               * (r.revenue - r.cost) / nullif(r.revenue, 0),
           CASE WHEN with_spend THEN r.net / nullif(r.cost + r.spend, 0) END,
           CASE WHEN with_spend THEN r.net / nullif(r.spend, 0) END,
           r.csat, r.answers,
           r.prev_active, r.retained,
           r.clv_pred, r.p_alive
      FROM ratios r;
END
$$;

CREATE OR REPLACE FUNCTION segkpi.assign_kmeans(sid bigint, seg segkpi.segmentations, bc segkpi.bindings, as_of timestamptz)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    feats text[] := ARRAY(SELECT jsonb_array_elements_text(
                              coalesce(seg.params -> 'features', '["recency_days", "frequency", "monetary"]')));
    exprs text[] := '{}';
    f text;
    uses_attributes boolean := false;
    feature_sql text;
    join_sql text := '';
    model segkpi.kmeans_model;
BEGIN
    IF cardinality(feats) = 0 THEN
        RAISE EXCEPTION 'k-means segmentation "%" has no features', seg.name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH f IN ARRAY feats LOOP
        exprs := exprs || CASE f
            WHEN 'recency_days' THEN
                format('extract(epoch FROM %L::timestamptz - coalesce(k.last_order_at, k.first_row_at))::float8 / 86400', as_of)
            WHEN 'tenure_days' THEN
                format('extract(epoch FROM %L::timestamptz - k.acquired_at)::float8 / 86400', as_of)
            WHEN 'frequency' THEN 'k.orders::float8'
            WHEN 'monetary' THEN 'k.monetary::float8'
            ELSE NULL END;
        IF exprs[cardinality(exprs)] IS NULL THEN
            IF bc IS NULL OR NOT f::name = ANY (bc.attributes) THEN
                RAISE EXCEPTION 'k-means feature "%" is neither built in nor a bound customer attribute', f
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Built-in features: recency_days, tenure_days, frequency, monetary.';
            END IF;
            PERFORM segkpi.binding_column_type(bc.relation, f::name, 'k-means feature',
                                               segkpi.binding_types('n'));
            exprs[cardinality(exprs)] := format('c.%I::float8', f);
            uses_attributes := true;
        END IF;
    END LOOP;
    feature_sql := 'ARRAY[' || array_to_string(exprs, ', ') || ']';
    IF uses_attributes THEN
        join_sql := format('LEFT JOIN %s c ON c.%I = k.customer_id', bc.relation, bc.columns ->> 'customer');
    END IF;
    IF NOT EXISTS (SELECT FROM segkpi_cust) THEN
        CREATE TEMP TABLE segkpi_assign ON COMMIT DROP AS
        SELECT k.customer_id, NULL::text AS segment FROM segkpi_cust k WHERE false;
        RETURN;
    END IF;
    EXECUTE format('SELECT segkpi.kmeans(f, $1, $2, $3, $4)
                      FROM (SELECT %s AS f FROM segkpi_cust k %s) x
                     WHERE array_position(f, NULL) IS NULL', feature_sql, join_sql)
       INTO model
      USING coalesce((seg.params ->> 'k')::int, 4), coalesce((seg.params ->> 'seed')::bigint, 0),
            coalesce(seg.params ->> 'transform', 'log_zscore')::segkpi.kmeans_transform,
            coalesce((seg.params ->> 'restarts')::int, 3);
    INSERT INTO segkpi.segment_models VALUES (sid, seg.name, feats, model);
    EXECUTE format('CREATE TEMP TABLE segkpi_assign ON COMMIT DROP AS
                    SELECT customer_id,
                           CASE WHEN array_position(f, NULL) IS NULL
                                THEN ''Cluster '' || segkpi.kmeans_assign(%L::segkpi.kmeans_model, f)
                                ELSE ''(no features)'' END AS segment
                      FROM (SELECT k.customer_id, %s AS f FROM segkpi_cust k %s) x', model, feature_sql, join_sql);
END
$$;
