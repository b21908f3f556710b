/*
 * segkpi 0.3 -> 0.4 - upgrade script.
 *
 * 0.4 adds two functions that read an orders relation in one pass and
 * group its rows in memory instead of through the executor's hash
 * aggregate: segkpi.rfm_scores (the rows of rfm_score(rfm_agg(...)) OVER ()
 * grouped by customer) and segkpi.activities (the rows of activity_agg
 * grouped by customer).  refresh reads the orders through activities.
 */

\echo Use "ALTER EXTENSION segkpi UPDATE TO '0.4'" to load this file. \quit

-- Names left unqualified resolve in pg_catalog only, never in schema
-- segkpi (where another role might have put a better match); added in 0.6.
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE FUNCTION segkpi.rfm_scores(key_type anyelement, orders regclass, customer name,
                                  ordered_at name, amount name, as_of timestamptz,
                                  bins integer DEFAULT 5, ruleset text DEFAULT 'default')
    RETURNS TABLE (customer anyelement, first_order_at timestamptz, last_order_at timestamptz,
                   orders bigint, refunds bigint, monetary numeric, recency_days float8,
                   r integer, f integer, m integer, segment text)
    AS 'MODULE_PATHNAME', 'segkpi_rfm_scores'
    LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION segkpi.rfm_scores(anyelement, regclass, name, name, name, timestamptz, integer, text) IS
    'RFM scores of every customer of an orders relation over its rows with ordered_at <= as_of, read in one pass and grouped in memory; the same rows as rfm_score(rfm_agg(ordered_at, amount), as_of, bins, ruleset) OVER () grouped by customer; key_type is NULL::<type of the customer column>';

CREATE FUNCTION segkpi.activities(key_type anyelement, orders regclass, customer name,
                                  ordered_at name, amount name, cost name DEFAULT NULL,
                                  grain text DEFAULT 'month', before timestamptz DEFAULT NULL)
    RETURNS TABLE (customer anyelement, activity segkpi.activity)
    AS 'MODULE_PATHNAME', 'segkpi_activities'
    LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION segkpi.activities(anyelement, regclass, name, name, name, name, text, timestamptz) IS
    'one activity per customer of an orders relation (rows with ordered_at < before, all rows when before is NULL), read in one pass and grouped in memory; the same rows as activity_agg(date_trunc(grain, ordered_at)::date, ordered_at, amount, cost) grouped by customer; key_type is NULL::<type of the customer column>';

------------------------------------------------------------------------
-- KPI pipeline: refresh reads the orders through activities
------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION segkpi.refresh(as_of timestamptz DEFAULT pg_catalog.now(), progress boolean DEFAULT false)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    -- JIT may still compile expressions and deform tuples, but LLVM's
    -- inlining and optimisation, which the planner's costs for a million
    -- rows always trigger, compiled for seconds per statement here.
    SET jit_inline_above_cost = -1
    SET jit_optimize_above_cost = -1
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
    rfm_cols text := '';        -- per RFM segmentation with its own bins or rules
    seg_exprs text[] := '{}';   -- per segmentation: its segment in segkpi_feat
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
            IF bins = 5 AND ruleset = 'default' THEN
                -- the scores customer_features keeps
                seg_exprs := seg_exprs || 'coalesce((r.s).segment, ''(unnamed)'')'::text;
            ELSE
                rfm_cols := rfm_cols || format(
                    ', segkpi.rfm_score(ROW(first_order_at, last_order_at, orders, refunds, monetary)::segkpi.rfm_stats,
                                        %L, %s, %L) OVER () AS s_%s', as_of, bins, ruleset, i);
                seg_exprs := seg_exprs || format('coalesce((r.s_%s).segment, ''(unnamed)'')', i);
            END IF;
        END IF;
    END LOOP;

    -- Grouping sets per segment of each segmentation plus one over all
    -- customers (segmentation NULL, segment "(all)"); @ stands for the
    -- other keys.  GROUPING() tells the sets apart.
    seg_sets := seg_sets || '(@)';
    seg_which := CASE WHEN seg_which = 'CASE' THEN 'NULL::text' ELSE seg_which || ' END' END;
    seg_value := CASE WHEN seg_value = 'CASE' THEN '''(all)''' ELSE seg_value || ' ELSE ''(all)'' END' END;

    -- stage 1: one activity per customer (its orders by period): the one
    -- pass over the orders.  segkpi.activities groups the rows in memory
    -- and gives the activities activity_agg gives grouped by customer, in
    -- about a third of the time (1M customers, 10M orders: 10.4 -> ~4 s).
    -- When the customers do not fit work_mem x hash_mem_multiplier it
    -- runs that GROUP BY itself, and the settings below steer its plan: a
    -- hash aggregate reads the table once in order, where an index walk
    -- (which the planner may prefer when the groups look too many for
    -- work_mem) reads it at random; in a parallel plan the leader only
    -- gathers and combines, instead of adding a third partial state for
    -- most customers.  Only this statement is steered.
    PERFORM segkpi.drop_temp_tables();
    saved_indexscan := current_setting('enable_indexscan');
    saved_sort := current_setting('enable_sort');
    saved_leader := current_setting('parallel_leader_participation');
    PERFORM set_config('enable_indexscan', 'off', true), set_config('enable_sort', 'off', true),
            set_config('parallel_leader_participation', 'off', true);
    EXECUTE format($q$
        CREATE TEMP TABLE segkpi_cust_raw ON COMMIT DROP AS
        SELECT (r).customer AS customer_id, (r).activity AS act
          FROM (SELECT segkpi.activities(NULL::%1$s, %2$s::oid::regclass, %3$L, %4$L, %5$L, %6$L,
                                         %7$L, %8$L) AS r) s
         WHERE (r).activity IS NOT NULL$q$,
        (SELECT a.atttypid::regtype FROM pg_attribute a
          WHERE a.attrelid = bo.relation AND a.attname = bo.columns ->> 'customer'),
        bo.relation::oid, bo.columns ->> 'customer', bo.columns ->> 'ordered_at',
        bo.columns ->> 'amount', bo.columns ->> 'cost', grain, as_of);
    PERFORM set_config('enable_indexscan', saved_indexscan, true), set_config('enable_sort', saved_sort, true),
            set_config('parallel_leader_participation', saved_leader, true);
    -- NaN or infinite amounts and times were rejected by activities (22000, 22008)
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

    -- stage 2: customers, their totals and acquisition, with what every
    -- segmentation reads of them (rule segments, k-means features).  The
    -- summary is called in the select list (OFFSET 0 keeps it to one call
    -- per row): as a LATERAL function scan it cost three times as much.
    EXECUTE format($q$
        CREATE TEMP TABLE segkpi_cust ON COMMIT DROP AS
        SELECT t.customer_id, t.first_row_at, t.first_order_at, t.last_order_at, t.orders, t.refunds,
               t.revenue AS monetary, t.cost, a.acquired_at,
               date_trunc(%2$L, a.acquired_at)::date AS acq_period, %3$s AS channel, t.act %5$s
          FROM (SELECT r.customer_id, r.act, (r.s).first_row_at, (r.s).first_order_at, (r.s).last_order_at,
                       (r.s).orders, (r.s).refunds, (r.s).revenue, (r.s).cost
                  FROM (SELECT k.customer_id, k.act, segkpi.activity_summary(k.act) AS s
                          FROM segkpi_cust_raw k OFFSET 0) r) t
          %4$s
         CROSS JOIN LATERAL (SELECT coalesce(%1$s, t.first_order_at, t.first_row_at) AS acquired_at) a$q$,
        CASE WHEN bc.columns ? 'acquired_at' THEN format('c.%I::timestamptz', bc.columns ->> 'acquired_at') ELSE 'NULL::timestamptz' END,
        grain,
        CASE WHEN bc.columns ? 'channel' THEN format('c.%I::text', bc.columns ->> 'channel') ELSE 'NULL::text' END,
        CASE WHEN bc IS NULL THEN ''
             ELSE format('LEFT JOIN %s c ON c.%I = t.customer_id', bc.relation, bc.columns ->> 'customer') END,
        cust_cols);
    GET DIAGNOSTICS ncust = ROW_COUNT;
    DROP TABLE segkpi_cust_raw;
    -- without statistics the planner guesses thousands of (segment,
    -- acquisition period, channel) groups and sorts a million rows
    ANALYZE segkpi_cust (customer_id);
    INSERT INTO segkpi.snapshots (as_of, timezone, period_grain, customers, segmentations)
    VALUES (as_of, current_setting('TimeZone'), grain, ncust, seg_names)
    RETURNING snapshot_id INTO sid;
    stage_times := stage_times || jsonb_build_object('customers', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN RAISE NOTICE 'refresh: % customers in % s', ncust, stage_times -> 'customers'; END IF;
    t_stage := clock_timestamp();

    -- stage 3: k-means fits (assignment follows in stage 4)
    FOR i IN 1 .. coalesce(cardinality(segs), 0) LOOP
        seg := segs[i];
        CONTINUE WHEN seg.method <> 'kmeans';
        model := NULL;
        IF ncust > 0 THEN
            EXECUTE format('SELECT segkpi.kmeans(kf_%1$s, $1, $2, $3, $4) FROM segkpi_cust
                             WHERE array_position(kf_%1$s, NULL) IS NULL', i)
               INTO model
              USING coalesce((seg.params ->> 'k')::int, 4), coalesce((seg.params ->> 'seed')::bigint, 0),
                    coalesce(seg.params ->> 'transform', 'log_zscore')::segkpi.kmeans_transform,
                    coalesce((seg.params ->> 'restarts')::int, 3);
            INSERT INTO segkpi.segment_models
            VALUES (sid, seg.name,
                    ARRAY(SELECT jsonb_array_elements_text(
                              coalesce(seg.params -> 'features', '["recency_days", "frequency", "monetary"]'))),
                    model);
        END IF;
        seg_exprs[i] := format(seg_exprs[i], model);
    END LOOP;
    IF 'kmeans' = ANY (ARRAY(SELECT (s).method FROM unnest(segs) s)) THEN
        stage_times := stage_times || jsonb_build_object('models', extract(epoch FROM clock_timestamp() - t_stage));
        IF progress THEN RAISE NOTICE 'refresh: k-means models in % s', stage_times -> 'models'; END IF;
        t_stage := clock_timestamp();
    END IF;

    -- stage 4: RFM scores in a narrow window pass (only the scores' inputs
    -- go through the window's row store: whole rows made it spill to disk),
    -- then features, the segment of every segmentation and the activity in
    -- one row per customer; customer_features gets them in key order, so
    -- its primary key grows at its right edge
    IF to_regclass('pg_temp.segkpi_pred') IS NULL THEN
        CREATE TEMP TABLE segkpi_pred ON COMMIT DROP AS
        SELECT k.customer_id, NULL::float8 AS p_alive, NULL::float8 AS clv FROM segkpi_cust k WHERE false;
    END IF;
    EXECUTE format($q$
        CREATE TEMP TABLE segkpi_rfm ON COMMIT DROP AS
        SELECT k.customer_id, p.p_alive, p.clv,
               segkpi.rfm_score(ROW(first_order_at, last_order_at, orders, refunds, monetary)::segkpi.rfm_stats,
                                %1$L) OVER () AS s %2$s
          FROM segkpi_cust k LEFT JOIN segkpi_pred p ON p.customer_id = k.customer_id$q$,
        as_of, rfm_cols);
    -- statistics, so that the narrow scores (with the predictions) rather
    -- than the wide customer rows are hashed for the join
    ANALYZE segkpi_rfm (customer_id);
    EXECUTE format($q$
        CREATE TEMP TABLE segkpi_feat ON COMMIT DROP AS
        SELECT x.customer_id, x.first_row_at, x.acquired_at, x.first_order_at, x.last_order_at, x.orders,
               x.refunds, x.monetary, x.cost, (r.s).recency_days, (r.s).r, (r.s).f, (r.s).m,
               r.p_alive, r.clv AS clv_predicted, %1$s::text[] AS segments, x.acq_period, x.channel, x.act
          FROM segkpi_cust x JOIN segkpi_rfm r ON r.customer_id = x.customer_id$q$,
        CASE WHEN cardinality(seg_exprs) = 0 THEN '''{}'''
             ELSE 'ARRAY[' || array_to_string(seg_exprs, ', ') || ']' END);
    DROP TABLE segkpi_rfm, segkpi_cust;
    ANALYZE segkpi_feat (customer_id, acq_period, channel);
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
    -- feedback summed per customer and period, then per segment
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
          FROM segkpi_feat k WHERE false;
    END IF;
    -- a NULL segmentation is "(all)": every customer once
    EXECUTE format($q$
        CREATE TEMP TABLE segkpi_fbs ON COMMIT DROP AS
        SELECT %1$s AS segmentation, %2$s AS segment, f.period,
               sum(f.score_sum) / sum(f.answers) AS csat, sum(f.answers)::bigint AS n
          FROM segkpi_fb f JOIN segkpi_feat a USING (customer_id)
         GROUP BY GROUPING SETS (%3$s)$q$,
        seg_which, seg_value, replace(seg_sets, '@', 'f.period'));
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
            EXECUTE format($q$
                CREATE TEMP TABLE segkpi_lead_groups ON COMMIT DROP AS
                SELECT date_trunc(%1$L, l.%2$I::timestamptz)::date AS _sk_period %6$s, count(*) AS _sk_n,
                       count(*) FILTER (WHERE l.%3$I IS NOT NULL AND l.%3$I::timestamptz < %4$L) AS _sk_converted
                  FROM %5$s l WHERE l.%2$I::timestamptz < %4$L
                 GROUP BY %7$s$q$,
                grain, bl.columns ->> 'created_at', bl.columns ->> 'converted_at', as_of, bl.relation,
                lead_keys, array_to_string(ARRAY(SELECT g FROM generate_series(1, lead_nkeys + 1) g), ', '));
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
    -- activity roll-ups, for every segmentation in one pass; then KPIs
    EXECUTE format($q$
        CREATE TEMP TABLE segkpi_cohorts ON COMMIT DROP AS
        SELECT %1$s AS segmentation, %2$s AS segment, a.acq_period, a.channel, count(*) AS n,
               segkpi.activity_rollup(a.act, %4$s) AS r
          FROM segkpi_feat a
         GROUP BY GROUPING SETS (%3$s)$q$,
        seg_which, seg_value, replace(seg_sets, '@', 'a.acq_period, a.channel'), step_months);
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
