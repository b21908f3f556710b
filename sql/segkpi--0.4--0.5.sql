/*
 * segkpi 0.4 -> 0.5 - upgrade script.
 *
 * New in 0.5: RFM scores in two steps, without a window: the aggregate
 * segkpi.rfm_cuts gives a population's cut points (type segkpi.rfm_cuts)
 * and segkpi.rfm_apply scores any customer against them.
 *
 * refresh reads the orders and the customers in one statement: the
 * activities of segkpi.activities go straight into the customers'
 * temporary table instead of through a table of their own (a million
 * activities written and read once more cost ~4 s).  Its stage "orders"
 * now covers the customers' join as well; stage "customers" is their
 * statistics and the snapshot's row.  It scores RFM with rfm_cuts and
 * rfm_apply (the same scores as the window function), fitting k-means and
 * taking the cut points in one pass (stage "models", now always there);
 * the feature table no longer copies the activities: the cohorts read
 * them from the customers' table and work the segments out again.  It
 * joins feedback to the customers answer by answer and sums it per
 * distinct segments before the grouping sets, and groups leads in a
 * parallel plan.  Its cohorts no longer include a grouping over all
 * customers: compute_kpis takes a segmentation's own groups once more as
 * "(all)", and starts its periods at the earliest roll-up cell.  Since the
 * RFM segments are worked out twice, a refresh with a custom RFM ruleset
 * holds a SHARE lock on segkpi.rfm_rules; it runs with DateStyle ISO, so
 * the times it writes into its statements read back exactly.
 */

\echo Use "ALTER EXTENSION segkpi UPDATE TO '0.5'" to load this file. \quit

-- Names left unqualified resolve in pg_catalog only, never in schema
-- segkpi (where another role might have put a better match); added in 0.6.
SET LOCAL search_path = pg_catalog, pg_temp;

------------------------------------------------------------------------
-- RFM: cut points and scoring against them
------------------------------------------------------------------------

CREATE TYPE segkpi.rfm_cuts AS (
    as_of     timestamptz,
    bins      integer,
    customers bigint,
    r         timestamptz[],
    f         bigint[],
    m         numeric[]
);

COMMENT ON TYPE segkpi.rfm_cuts IS 'cut points of a population''s R, F and M values, from segkpi.rfm_cuts; segkpi.rfm_apply scores against them';
COMMENT ON COLUMN segkpi.rfm_cuts.as_of IS 'the as_of the scores are computed at';
COMMENT ON COLUMN segkpi.rfm_cuts.bins IS 'scores lie in 1..bins';
COMMENT ON COLUMN segkpi.rfm_cuts.customers IS 'customers n of the population (rows with non-NULL stats)';
COMMENT ON COLUMN segkpi.rfm_cuts.r IS 'bins - 1 ascending last_order_at cut points (-infinity: a customer without orders); R = 1 + the number strictly below the customer''s last order';
COMMENT ON COLUMN segkpi.rfm_cuts.f IS 'bins - 1 ascending orders cut points; F = 1 + the number strictly below the customer''s orders';
COMMENT ON COLUMN segkpi.rfm_cuts.m IS 'bins - 1 ascending monetary cut points; M = 1 + the number strictly below the customer''s monetary';

CREATE FUNCTION segkpi.rfm_cuts_sfunc(internal, segkpi.rfm_stats, timestamptz)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_rfm_cuts_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.rfm_cuts_sfunc(internal, segkpi.rfm_stats, timestamptz, integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_rfm_cuts_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.rfm_cuts_final(internal)
    RETURNS segkpi.rfm_cuts
    AS 'MODULE_PATHNAME', 'segkpi_rfm_cuts_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION segkpi.rfm_cuts_sfunc(internal, segkpi.rfm_stats, timestamptz) IS
    'transition function of segkpi.rfm_cuts(stats, as_of)';
COMMENT ON FUNCTION segkpi.rfm_cuts_sfunc(internal, segkpi.rfm_stats, timestamptz, integer) IS
    'transition function of segkpi.rfm_cuts(stats, as_of, bins)';
COMMENT ON FUNCTION segkpi.rfm_cuts_final(internal) IS
    'final function of segkpi.rfm_cuts: sorts the values and picks the cut points';

CREATE AGGREGATE segkpi.rfm_cuts(stats segkpi.rfm_stats, as_of timestamptz) (
    SFUNC = segkpi.rfm_cuts_sfunc,
    STYPE = internal,
    FINALFUNC = segkpi.rfm_cuts_final
);

CREATE AGGREGATE segkpi.rfm_cuts(stats segkpi.rfm_stats, as_of timestamptz, bins integer) (
    SFUNC = segkpi.rfm_cuts_sfunc,
    STYPE = internal,
    FINALFUNC = segkpi.rfm_cuts_final
);

COMMENT ON AGGREGATE segkpi.rfm_cuts(segkpi.rfm_stats, timestamptz) IS
    'cut points of the customers'' R, F, M values for 5 bins (NULL stats skipped; NULL when none)';
COMMENT ON AGGREGATE segkpi.rfm_cuts(segkpi.rfm_stats, timestamptz, integer) IS
    'cut points of the customers'' R, F, M values for 1..100 bins (NULL stats skipped; NULL when none)';

CREATE FUNCTION segkpi.rfm_apply(stats segkpi.rfm_stats, cuts segkpi.rfm_cuts,
                                 ruleset text DEFAULT 'default')
    RETURNS segkpi.rfm_result
    AS 'MODULE_PATHNAME', 'segkpi_rfm_apply'
    LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION segkpi.rfm_apply(segkpi.rfm_stats, segkpi.rfm_cuts, text) IS
    'RFM scores of one customer against cut points from segkpi.rfm_cuts: rfm_score''s scores for a customer of that population, min(bins, 1 + floor(bins * less / n)) for any other';

CREATE OR REPLACE FUNCTION segkpi.refresh(as_of timestamptz DEFAULT pg_catalog.now(), progress boolean DEFAULT false)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    -- JIT may still compile expressions and deform tuples, but LLVM's
    -- inlining and optimisation, which the planner's costs for a million
    -- rows always trigger, compiled for seconds per statement here.
    SET jit_inline_above_cost = -1
    SET jit_optimize_above_cost = -1
    -- Times go into the statements as literals (as_of, cut points): in
    -- ISO style they carry numeric UTC offsets and read back exactly,
    -- whatever the session's DateStyle and time zone abbreviations.
    SET DateStyle = 'ISO, MDY'
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
    step_months integer;
    sid bigint;
    segs segkpi.segmentations[];
    seg segkpi.segmentations;
    seg_names text[];
    i integer;
    ncust bigint;
    t_stage timestamptz := clock_timestamp();
    stage_times jsonb := '{}';
    kf record;
    cust_cols text := '';       -- per segmentation: rule segment or k-means features
    rfm_bins integer[] := '{}'; -- per segmentation: bins of an RFM one with its own cuts
    cuts segkpi.rfm_cuts;
    all_cuts segkpi.rfm_cuts[];    -- bins 5 first, then each rfm_bins[i] in order
    models segkpi.kmeans_model[];  -- NULL first, then each k-means fit in order
    ncut integer;
    nfit integer;
    fit_sql text;
    pred_join text := '';
    seg_exprs text[] := '{}';   -- per segmentation: its segment, from a row x of seg_rows
    seg_array text;             -- all of them, as a text[]
    seg_rows text;              -- segkpi_cust with each customer's RFM scores s
    seg_sets text := '';
    seg_which text := 'CASE';
    seg_value text := 'CASE';
    bins integer;
    ruleset text;
    model segkpi.kmeans_model;
    lead_attrs name[];
    lead_cases text[] := '{}';
    lead_rules text[] := '{}';
    lead_src text;
    lead_keys text;
    lead_nkeys integer;
    lead_period text;
    lead_n text;
    lead_conv text;
    saved_indexscan text;
    saved_sort text;
    saved_leader text;
    saved_nestloop text;
    saved_psetup text;
    saved_ptuple text;
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
    step_months := CASE grain WHEN 'month' THEN 1 ELSE 3 END;
    segs := ARRAY(SELECT s FROM segkpi.segmentations s WHERE s.active ORDER BY s.name);
    seg_names := ARRAY(SELECT (s).name FROM unnest(segs) s);
    -- The segments stage and the cohorts each work the RFM segments out,
    -- reading the ruleset's rules in two statements: edits of a custom
    -- ruleset wait until this refresh commits, so both read the same rules
    -- ("default" cannot change).
    IF EXISTS (SELECT FROM unnest(segs) s
                WHERE s.method NOT IN ('rules', 'kmeans')
                  AND coalesce(s.params ->> 'ruleset', 'default') <> 'default') THEN
        LOCK TABLE segkpi.rfm_rules IN SHARE MODE;
    END IF;

    -- What each segmentation needs from the per-customer pass, checked
    -- before the long stages run: rule segments read the bound customers'
    -- attributes, k-means features may too.
    FOR i IN 1 .. coalesce(cardinality(segs), 0) LOOP
        seg := segs[i];
        seg_sets := seg_sets || format('(a.segments[%s], @), ', i);
        seg_which := seg_which || format(' WHEN GROUPING(a.segments[%s]) = 0 THEN %L', i, seg.name);
        seg_value := seg_value || format(' WHEN GROUPING(a.segments[%1$s]) = 0 THEN a.segments[%1$s]', i);
        IF seg.method = 'rules' THEN
            IF bc IS NULL THEN
                RAISE EXCEPTION 'rule segmentation "%" needs bound customers', seg.name
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          HINT = 'Call segkpi.bind_customers(..., attributes => ...) first.';
            END IF;
            cust_cols := cust_cols || format(', %s AS seg_%s', segkpi.rule_case(seg.name, 'c', bc.attributes), i);
            seg_exprs := seg_exprs || format('x.seg_%s', i);
            IF bl IS NOT NULL THEN
                lead_rules := lead_rules || seg.name;
                lead_cases := lead_cases || segkpi.rule_case(seg.name, 'l', bl.attributes);
            END IF;
        ELSIF seg.method = 'kmeans' THEN
            kf := segkpi.kmeans_feature_sql(seg, bc, as_of);
            cust_cols := cust_cols || format(', %s AS kf_%s', kf.feature_sql, i);
            -- the model is filled in once it is fitted
            seg_exprs := seg_exprs || format('CASE WHEN array_position(x.kf_%1$s, NULL) IS NULL
                                                  THEN ''Cluster '' || segkpi.kmeans_assign(%%L::segkpi.kmeans_model, x.kf_%1$s)
                                                  ELSE ''(no features)'' END', i);
        ELSE
            bins := coalesce((seg.params ->> 'bins')::int, 5);
            ruleset := coalesce(seg.params ->> 'ruleset', 'default');
            IF bins = 5 THEN
                -- the scores customer_features keeps, named by this ruleset
                seg_exprs := seg_exprs || CASE WHEN ruleset = 'default' THEN 'coalesce((x.s).segment, ''(unnamed)'')'
                    ELSE format('coalesce(segkpi.rfm_segment((x.s).r, (x.s).f, (x.s).m, %L), ''(unnamed)'')', ruleset) END;
            ELSE
                -- its cuts are filled in once computed
                rfm_bins[i] := bins;
                seg_exprs := seg_exprs || format(
                    'coalesce((segkpi.rfm_apply(ROW(x.first_order_at, x.last_order_at, x.orders, x.refunds, x.monetary)::segkpi.rfm_stats,
                                                %%L::segkpi.rfm_cuts, %L)).segment, ''(unnamed)'')', ruleset);
            END IF;
        END IF;
    END LOOP;

    -- Grouping sets per segment of each segmentation plus one over all
    -- customers (segmentation NULL, segment "(all)"); @ stands for the
    -- other keys.  GROUPING() tells the sets apart.
    seg_sets := seg_sets || '(@)';
    seg_which := CASE WHEN seg_which = 'CASE' THEN 'NULL::text' ELSE seg_which || ' END' END;
    seg_value := CASE WHEN seg_value = 'CASE' THEN '''(all)''' ELSE seg_value || ' ELSE ''(all)'' END' END;

    -- the temporary tables of an earlier refresh in this transaction go
    PERFORM segkpi.drop_temp_tables();

    -- stage 1b (optional; it reads the orders itself, so it comes before
    -- the pass below): per-customer BG/NBD summaries, fits, predictions
    IF cfg.predict_clv THEN
        PERFORM segkpi.predict_clv(bo, as_of, cfg);
        stage_times := stage_times || jsonb_build_object('predict_clv', extract(epoch FROM clock_timestamp() - t_stage));
        IF progress THEN RAISE NOTICE 'refresh: predicted CLV in % s', stage_times -> 'predict_clv'; END IF;
        t_stage := clock_timestamp();
    END IF;

    -- stages 1 and 2 in one statement: one activity per customer (its
    -- orders by period), the one pass over the orders, and the customers
    -- with their totals and acquisition and what every segmentation reads
    -- of them (rule segments, k-means features).  segkpi.activities
    -- groups the orders in memory and gives the activities activity_agg
    -- gives grouped by customer, in about a third of the time; its rows go
    -- straight into the customers' table (written once: through a table
    -- of their own, a million activities cost ~4 s more).  When the
    -- customers do not fit work_mem x hash_mem_multiplier it runs that
    -- GROUP BY itself, and the settings below steer its plan: a hash
    -- aggregate reads the table once in order, where an index walk (which
    -- the planner may prefer when the groups look too many for work_mem)
    -- reads it at random; in a parallel plan the leader only gathers and
    -- combines, instead of adding a third partial state for most
    -- customers.  The summary is called in the select list (OFFSET 0
    -- keeps it to one call per row): as a LATERAL function scan it cost
    -- three times as much.  A nested loop would look each customer up in
    -- the customers' index: the planner guesses a thousand activities.
    saved_indexscan := current_setting('enable_indexscan');
    saved_sort := current_setting('enable_sort');
    saved_leader := current_setting('parallel_leader_participation');
    saved_nestloop := current_setting('enable_nestloop');
    PERFORM set_config('enable_indexscan', 'off', true), set_config('enable_sort', 'off', true),
            set_config('parallel_leader_participation', 'off', true), set_config('enable_nestloop', 'off', true);
    EXECUTE format($q$
        CREATE TEMP TABLE segkpi_cust ON COMMIT DROP AS
        SELECT t.customer_id, t.first_row_at, t.first_order_at, t.last_order_at, t.orders, t.refunds,
               t.revenue AS monetary, t.cost, a.acquired_at,
               date_trunc(%2$L, a.acquired_at)::date AS acq_period, %3$s AS channel, t.act %5$s
          FROM (SELECT r.customer_id, r.act, (r.s).first_row_at, (r.s).first_order_at, (r.s).last_order_at,
                       (r.s).orders, (r.s).refunds, (r.s).revenue, (r.s).cost
                  FROM (SELECT k.customer_id, k.act, segkpi.activity_summary(k.act) AS s
                          FROM (SELECT (x).customer AS customer_id, (x).activity AS act
                                  FROM (SELECT segkpi.activities(NULL::%6$s, %7$s::oid::regclass, %8$L, %9$L,
                                                                 %10$L, %11$L, %2$L, %12$L) AS x) y
                                 WHERE (x).activity IS NOT NULL) k
                        OFFSET 0) r) t
          %4$s
         CROSS JOIN LATERAL (SELECT coalesce(%1$s, t.first_order_at, t.first_row_at) AS acquired_at) a$q$,
        CASE WHEN bc.columns ? 'acquired_at' THEN format('c.%I::timestamptz', bc.columns ->> 'acquired_at') ELSE 'NULL::timestamptz' END,
        grain,
        CASE WHEN bc.columns ? 'channel' THEN format('c.%I::text', bc.columns ->> 'channel') ELSE 'NULL::text' END,
        CASE WHEN bc IS NULL THEN ''
             ELSE format('LEFT JOIN %s c ON c.%I = t.customer_id', bc.relation, bc.columns ->> 'customer') END,
        cust_cols,
        (SELECT a.atttypid::regtype FROM pg_attribute a
          WHERE a.attrelid = bo.relation AND a.attname = bo.columns ->> 'customer'),
        bo.relation::oid, bo.columns ->> 'customer', bo.columns ->> 'ordered_at',
        bo.columns ->> 'amount', bo.columns ->> 'cost', as_of);
    GET DIAGNOSTICS ncust = ROW_COUNT;
    PERFORM set_config('enable_indexscan', saved_indexscan, true), set_config('enable_sort', saved_sort, true),
            set_config('parallel_leader_participation', saved_leader, true),
            set_config('enable_nestloop', saved_nestloop, true);
    -- NaN or infinite amounts and times were rejected by activities (22000, 22008)
    stage_times := stage_times || jsonb_build_object('orders', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN
        RAISE NOTICE 'refresh: orders by customer and period, % customers, in % s', ncust, stage_times -> 'orders';
    END IF;
    t_stage := clock_timestamp();

    -- without statistics the planner guesses thousands of (segment,
    -- acquisition period, channel) groups and sorts a million rows
    ANALYZE segkpi_cust (customer_id, acq_period, channel);
    INSERT INTO segkpi.snapshots (as_of, timezone, period_grain, customers, segmentations)
    VALUES (as_of, current_setting('TimeZone'), grain, ncust, seg_names)
    RETURNING snapshot_id INTO sid;
    stage_times := stage_times || jsonb_build_object('customers', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN RAISE NOTICE 'refresh: customer statistics in % s', stage_times -> 'customers'; END IF;
    t_stage := clock_timestamp();

    -- stage 3: one pass over the customers for every k-means fit and
    -- every set of RFM cut points (the scores of rfm_score without a
    -- window); assignments and scores follow in stage 4
    fit_sql := format('SELECT ARRAY[segkpi.rfm_cuts(ROW(first_order_at, last_order_at, orders, refunds,
                                                        monetary)::segkpi.rfm_stats, %L)', as_of);
    FOR i IN 1 .. coalesce(cardinality(segs), 0) LOOP
        CONTINUE WHEN rfm_bins[i] IS NULL;
        fit_sql := fit_sql || format(', segkpi.rfm_cuts(ROW(first_order_at, last_order_at, orders, refunds,
                                                            monetary)::segkpi.rfm_stats, %L, %s)', as_of, rfm_bins[i]);
    END LOOP;
    fit_sql := fit_sql || ']::segkpi.rfm_cuts[], ARRAY[NULL';
    FOR i IN 1 .. coalesce(cardinality(segs), 0) LOOP
        seg := segs[i];
        CONTINUE WHEN seg.method <> 'kmeans' OR ncust = 0;
        fit_sql := fit_sql || format(', segkpi.kmeans(kf_%1$s, %2$s, %3$s, %4$L::segkpi.kmeans_transform, %5$s)
                                         FILTER (WHERE array_position(kf_%1$s, NULL) IS NULL)',
                                     i, coalesce((seg.params ->> 'k')::int, 4),
                                     coalesce((seg.params ->> 'seed')::bigint, 0),
                                     coalesce(seg.params ->> 'transform', 'log_zscore')::segkpi.kmeans_transform,
                                     coalesce((seg.params ->> 'restarts')::int, 3));
    END LOOP;
    EXECUTE fit_sql || ']::segkpi.kmeans_model[] FROM segkpi_cust' INTO all_cuts, models;
    cuts := all_cuts[1];
    ncut := 1;
    nfit := 1;
    FOR i IN 1 .. coalesce(cardinality(segs), 0) LOOP
        seg := segs[i];
        IF rfm_bins[i] IS NOT NULL THEN
            ncut := ncut + 1;
            seg_exprs[i] := format(seg_exprs[i], all_cuts[ncut]);
        ELSIF seg.method = 'kmeans' THEN
            model := NULL;
            IF ncust > 0 THEN
                nfit := nfit + 1;
                model := models[nfit];
                INSERT INTO segkpi.segment_models
                VALUES (sid, seg.name,
                        ARRAY(SELECT jsonb_array_elements_text(
                                  coalesce(seg.params -> 'features', '["recency_days", "frequency", "monetary"]'))),
                        model);
            END IF;
            seg_exprs[i] := format(seg_exprs[i], model);
        END IF;
    END LOOP;
    stage_times := stage_times || jsonb_build_object('models', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN RAISE NOTICE 'refresh: k-means models and RFM cut points in % s', stage_times -> 'models'; END IF;
    t_stage := clock_timestamp();

    -- stage 4: features, scores and the segment of every segmentation in
    -- one row per customer; customer_features gets them in key order, so
    -- its primary key grows at its right edge
    IF to_regclass('pg_temp.segkpi_pred') IS NOT NULL THEN
        pred_join := 'LEFT JOIN segkpi_pred p ON p.customer_id = x.customer_id';
    END IF;
    -- (the activities stay in segkpi_cust: the cohorts below read them
    -- there and work the segments out once more, which costs less than
    -- writing them a second time)
    seg_array := CASE WHEN cardinality(seg_exprs) = 0 THEN '''{}'''
                      ELSE 'ARRAY[' || array_to_string(seg_exprs, ', ') || ']' END;
    seg_rows := format('(SELECT k.*, segkpi.rfm_apply(ROW(k.first_order_at, k.last_order_at, k.orders, k.refunds,
                                                          k.monetary)::segkpi.rfm_stats, %L::segkpi.rfm_cuts) AS s
                           FROM segkpi_cust k OFFSET 0) x', cuts);
    EXECUTE format($q$
        CREATE TEMP TABLE segkpi_feat ON COMMIT DROP AS
        SELECT x.customer_id, x.first_row_at, x.acquired_at, x.first_order_at, x.last_order_at, x.orders,
               x.refunds, x.monetary, x.cost, (x.s).recency_days, (x.s).r, (x.s).f, (x.s).m,
               %2$s, %1$s::text[] AS segments
          FROM %3$s
          %4$s$q$,
        seg_array,
        CASE WHEN pred_join = '' THEN 'NULL::float8 AS p_alive, NULL::float8 AS clv_predicted'
             ELSE 'p.p_alive, p.clv AS clv_predicted' END,
        seg_rows, pred_join);
    ANALYZE segkpi_feat (customer_id);
    INSERT INTO segkpi.customer_features
        (snapshot_id, customer_id, acquired_at, first_order_at, last_order_at, orders, refunds, monetary, cost,
         recency_days, r, f, m, p_alive, clv_predicted, segments)
    SELECT sid, f.customer_id, f.acquired_at, f.first_order_at, f.last_order_at, f.orders, f.refunds, f.monetary,
           f.cost, f.recency_days, f.r, f.f, f.m, f.p_alive, f.clv_predicted, f.segments
      FROM segkpi_feat f
     ORDER BY f.customer_id;
    stage_times := stage_times || jsonb_build_object('segments', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN
        RAISE NOTICE 'refresh: features and % segmentations in % s', cardinality(segs), stage_times -> 'segments';
    END IF;
    t_stage := clock_timestamp();

    -- stage 5: sources other than orders, once for every segmentation
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
    -- feedback per segment and period, each answer joined to its customer
    -- (summing per customer first cost a second pass and a table), then
    -- summed per distinct segments and period: a few thousand groups,
    -- which the grouping sets read instead of every answer (the planner
    -- cannot tell how few segments there are, and sorted the answers)
    EXECUTE format($q$
        CREATE TEMP TABLE segkpi_fbs ON COMMIT DROP AS
        SELECT %1$s AS segmentation, %2$s AS segment, a.period,
               sum(a.score) / sum(a.n) AS csat, sum(a.n)::bigint AS n
          FROM (SELECT a.segments, f.period, sum(f.score) AS score, count(*) AS n
                  FROM %4$s f JOIN segkpi_feat a USING (customer_id)
                 GROUP BY 1, 2) a
         GROUP BY GROUPING SETS (%3$s)$q$,
        seg_which, seg_value, replace(seg_sets, '@', 'a.period'),
        CASE WHEN bf IS NULL
             THEN '(SELECT k.customer_id, NULL::date AS period, NULL::numeric AS score
                      FROM segkpi_feat k WHERE false)'
             ELSE format('(SELECT f.%1$I AS customer_id, date_trunc(%2$L, f.%3$I::timestamptz)::date AS period,
                                  f.%4$I::numeric AS score
                             FROM %5$s f WHERE f.%3$I::timestamptz < %6$L AND f.%4$I IS NOT NULL)',
                         bf.columns ->> 'customer', grain, bf.columns ->> 'answered_at', bf.columns ->> 'score',
                         bf.relation, as_of) END);
    EXECUTE format($q$
        CREATE TEMP TABLE segkpi_preds ON COMMIT DROP AS
        SELECT %1$s AS segmentation, %2$s AS segment, avg(a.clv_predicted) AS clv, avg(a.p_alive) AS p_alive
          FROM segkpi_feat a WHERE a.p_alive IS NOT NULL AND %4$L::boolean
         GROUP BY GROUPING SETS (%3$s)$q$,
        seg_which, seg_value, replace(replace(seg_sets, ', @', ''), '(@)', '()'),
        cfg.predict_clv);  -- without predictions, no scan
    -- leads are segmented by their own attributes, under the same rules;
    -- counted per distinct attribute values first when those can be grouped
    CREATE TEMP TABLE segkpi_leads (segmentation text, segment text, period date, n bigint, converted bigint)
        ON COMMIT DROP;
    IF cardinality(lead_rules) > 0 THEN
        lead_attrs := ARRAY(SELECT DISTINCT k::name FROM segkpi.segment_rules r, jsonb_object_keys(r.conditions) k
                             WHERE r.segmentation = ANY (lead_rules) ORDER BY 1);
        -- Values equal under the type's equality may differ as text (1.0 and
        -- 1.00), and list conditions compare text: such attributes are
        -- grouped by their text too, so every lead of a group meets the same
        -- conditions.
        lead_keys := '';
        lead_nkeys := 0;
        FOR i IN 1 .. cardinality(lead_attrs) LOOP
            lead_keys := lead_keys || format(', l.%I', lead_attrs[i]);
            lead_nkeys := lead_nkeys + 1;
            IF segkpi.binding_column_type(bl.relation, lead_attrs[i], 'lead attribute', NULL)
               NOT IN ('text'::regtype, 'character varying'::regtype, 'character'::regtype) THEN
                lead_keys := lead_keys || format(', l.%I::text AS _sk_text_%s', lead_attrs[i], i);
                lead_nkeys := lead_nkeys + 1;
            END IF;
        END LOOP;
        -- (names like the generated columns would collide: lead by lead then)
        IF segkpi.groupable_columns(bl.relation, lead_attrs)
           AND NOT EXISTS (SELECT FROM unnest(lead_attrs) a WHERE a LIKE '\_sk\_%') THEN
            -- The planner cannot know how few groups there are (it guesses
            -- one per five leads), so it judges partial aggregates in
            -- workers not worth their tuples; they halve this statement on
            -- millions of leads.  (Tables under min_parallel_table_scan_size
            -- get no parallel scan anyway.)
            saved_psetup := current_setting('parallel_setup_cost');
            saved_ptuple := current_setting('parallel_tuple_cost');
            PERFORM set_config('parallel_setup_cost', '0', true), set_config('parallel_tuple_cost', '0', true);
            EXECUTE format($q$
                CREATE TEMP TABLE segkpi_lead_groups ON COMMIT DROP AS
                SELECT date_trunc(%1$L, l.%2$I::timestamptz)::date AS _sk_period %6$s, count(*) AS _sk_n,
                       count(*) FILTER (WHERE l.%3$I IS NOT NULL AND l.%3$I::timestamptz < %4$L) AS _sk_converted
                  FROM %5$s l WHERE l.%2$I::timestamptz < %4$L
                 GROUP BY %7$s$q$,
                grain, bl.columns ->> 'created_at', bl.columns ->> 'converted_at', as_of, bl.relation,
                lead_keys, array_to_string(ARRAY(SELECT g FROM generate_series(1, lead_nkeys + 1) g), ', '));
            PERFORM set_config('parallel_setup_cost', saved_psetup, true),
                    set_config('parallel_tuple_cost', saved_ptuple, true);
            lead_src := 'segkpi_lead_groups l';
            lead_period := 'l._sk_period';
            lead_n := 'l._sk_n';
            lead_conv := 'l._sk_converted';
        ELSE
            lead_src := format('%s l WHERE l.%I::timestamptz < %L', bl.relation, bl.columns ->> 'created_at', as_of);
            lead_period := format('date_trunc(%L, l.%I::timestamptz)::date', grain, bl.columns ->> 'created_at');
            lead_n := '1';
            lead_conv := format('(l.%1$I IS NOT NULL AND l.%1$I::timestamptz < %2$L)::int', bl.columns ->> 'converted_at', as_of);
        END IF;
        FOR i IN 1 .. cardinality(lead_rules) LOOP
            EXECUTE format($q$
                INSERT INTO segkpi_leads
                SELECT %1$L, coalesce(segment, '(all)'), period, sum(n), sum(converted)
                  FROM (SELECT %3$s AS period, %2$s AS segment, %4$s AS n, %5$s AS converted FROM %6$s) x
                 GROUP BY GROUPING SETS ((segment, period), (period))$q$,
                lead_rules[i], lead_cases[i], lead_period, lead_n, lead_conv, lead_src);
        END LOOP;
    END IF;
    stage_times := stage_times || jsonb_build_object('sources', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN RAISE NOTICE 'refresh: spend, feedback and leads in % s', stage_times -> 'sources'; END IF;
    t_stage := clock_timestamp();

    -- stage 6: cohorts (segment, acquisition period, channel) with their
    -- activity roll-ups, for every segmentation in one pass over
    -- segkpi_cust (the segments worked out as for segkpi_feat); then KPIs
    EXECUTE format($q$
        CREATE TEMP TABLE segkpi_cohorts ON COMMIT DROP AS
        SELECT %1$s AS segmentation, %2$s AS segment, a.acq_period, a.channel, count(*) AS n,
               segkpi.activity_rollup(a.act, %4$s) AS r
          FROM (SELECT %5$s::text[] AS segments, x.acq_period, x.channel, x.act FROM %6$s OFFSET 0) a
         GROUP BY GROUPING SETS (%3$s)$q$,
        seg_which, seg_value,
        -- not over all customers: compute_kpis sums a segmentation's groups for "(all)"
        replace(CASE WHEN cardinality(segs) > 0 THEN left(seg_sets, -length(', (@)')) ELSE seg_sets END,
                '@', 'a.acq_period, a.channel'),
        step_months, seg_array, seg_rows);
    DROP TABLE segkpi_cust;
    FOR i IN 1 .. coalesce(cardinality(segs), 0) LOOP
        seg := segs[i];
        PERFORM segkpi.compute_kpis(sid, seg.name, seg.method = 'rules' AND bl IS NOT NULL, grain, step, as_of,
                                    bf IS NOT NULL, bs IS NOT NULL);
    END LOOP;
    stage_times := stage_times || jsonb_build_object('kpis', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN RAISE NOTICE 'refresh: KPIs in % s', stage_times -> 'kpis'; END IF;

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
BEGIN
    -- with_feedback stays in the signature of 0.1; segkpi_fbs is simply
    -- empty when feedback is not bound, which makes csat NULL.  refresh
    -- prepared every input of this statement for all segmentations at once.
    INSERT INTO segkpi.segment_kpis
    -- refresh grouped the customers of every segmentation by segment,
    -- acquisition period and channel, each group with its activity
    -- roll-up.  "(all)" is the same groups once more: every customer is
    -- in exactly one of them, and everything below sums over groups.
    WITH cohorts AS MATERIALIZED (
        SELECT s.segment, c.acq_period, c.channel, c.n, c.r
          FROM segkpi_cohorts c
         CROSS JOIN LATERAL (VALUES (c.segment), ('(all)')) s(segment)
         WHERE c.segmentation = compute_kpis.segmentation
    ),
    segs AS (SELECT segment FROM cohorts UNION SELECT '(all)'),
    act AS (
        SELECT c.segment, p.period, sum(p.active)::bigint AS active, sum(p.retained)::bigint AS retained,
               sum(p.orders)::bigint AS orders, sum(p.revenue) AS revenue, sum(p.cost) AS cost
          FROM cohorts c, unnest(c.r) p
         GROUP BY 1, 2
    ),
    -- from the period of the earliest row: every period of an activity
    -- has a row and a cell in its cohort's roll-up, so that is the
    -- earliest cell (reading segkpi_feat for min(first_row_at) cost a
    -- pass over the customers per segmentation)
    periods AS (
        SELECT p::date AS period_start, (p + step)::date AS period_end
          FROM generate_series((SELECT min(period) FROM act)::timestamp,
                               date_trunc(grain, as_of - interval '1 microsecond')::date::timestamp, step) p
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
    leads AS (
        SELECT l.segment, l.period, l.n, l.converted FROM segkpi_leads l
         WHERE l.segmentation = compute_kpis.segmentation
    ),
    fb AS (
        SELECT f.segment, f.period, f.csat, f.n FROM segkpi_fbs f
         WHERE f.segmentation = compute_kpis.segmentation OR f.segmentation IS NULL
    ),
    pred AS (
        SELECT p.segment, p.clv, p.p_alive FROM segkpi_preds p
         WHERE p.segmentation = compute_kpis.segmentation OR p.segmentation IS NULL
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
