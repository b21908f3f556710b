------------------------------------------------------------------------
-- KPI pipeline: refresh
------------------------------------------------------------------------

-- A binding that still holds: the table exists and every column still has
-- a usable type.  Returns the binding, or NULL when the source is unbound.
CREATE FUNCTION segkpi.checked_binding(src text)
    RETURNS segkpi.bindings
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    b segkpi.bindings;
    role text;
    t regtype;
    a name;
BEGIN
    SELECT * INTO b FROM segkpi.bindings WHERE source = src;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_class WHERE oid = b.relation) THEN
        RAISE EXCEPTION 'the table bound as % no longer exists', src
            USING ERRCODE = 'undefined_table',
                  HINT = format('Bind it again with segkpi.bind_%s(...).', src);
    END IF;
    FOR role IN SELECT k FROM jsonb_object_keys(b.columns) k WHERE k NOT LIKE '\_%' LOOP
        t := segkpi.binding_column_type(b.relation, (b.columns ->> role)::name, src || ' ' || role,
                                        segkpi.binding_types(segkpi.binding_spec(src) -> role ->> 1));
        IF role = 'customer' AND t::text <> (SELECT o.columns ->> '_key_type' FROM segkpi.bindings o
                                              WHERE o.source = 'orders') THEN
            RAISE EXCEPTION 'the customer key of % has changed type to %', src, t
                USING ERRCODE = 'datatype_mismatch',
                      HINT = 'All bound customer keys must have the type they had when orders were bound.';
        END IF;
    END LOOP;
    FOREACH a IN ARRAY b.attributes LOOP
        PERFORM segkpi.binding_column_type(b.relation, a, src || ' attribute', NULL);
    END LOOP;
    RETURN b;
END
$$;
COMMENT ON FUNCTION segkpi.checked_binding(text) IS
    'the binding of a source after checking that its table and columns still exist; NULL when unbound';

-- SQL predicate of one rule's conditions over the columns of alias; only
-- bound attribute names are accepted, all quoted.
CREATE FUNCTION segkpi.rule_predicate(conditions jsonb, alias text, allowed name[])
    RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    attr text;
    cond jsonb;
    parts text[] := '{}';
BEGIN
    FOR attr, cond IN SELECT * FROM jsonb_each(conditions) LOOP
        IF NOT attr::name = ANY (allowed) THEN
            RAISE EXCEPTION 'rule condition on "%", which is not a bound attribute', attr
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('Bound attributes: %s.', coalesce(array_to_string(allowed, ', '), 'none'));
        END IF;
        IF jsonb_typeof(cond) = 'array' THEN
            parts := parts || format('%I.%I::text IN (%s)', alias, attr,
                (SELECT coalesce(string_agg(quote_literal(v), ', '), 'NULL') FROM jsonb_array_elements_text(cond) v));
        ELSIF jsonb_typeof(cond) = 'object' AND (cond ? 'min' OR cond ? 'max') THEN
            IF cond ? 'min' THEN
                parts := parts || format('%I.%I >= %L', alias, attr, cond ->> 'min');
            END IF;
            IF cond ? 'max' THEN
                parts := parts || format('%I.%I <= %L', alias, attr, cond ->> 'max');
            END IF;
        ELSE
            RAISE EXCEPTION 'rule condition on "%" must be a list of values or {"min": .., "max": ..}', attr
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    RETURN CASE WHEN cardinality(parts) = 0 THEN 'true' ELSE array_to_string(parts, ' AND ') END;
END
$$;
COMMENT ON FUNCTION segkpi.rule_predicate(jsonb, text, name[]) IS
    'SQL condition of a rule (quoted identifiers and literals only)';

-- CASE expression naming the segment of a row of alias under a rule segmentation.
CREATE FUNCTION segkpi.rule_case(segmentation text, alias text, allowed name[])
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    r record;
    sql text := 'CASE';
BEGIN
    FOR r IN SELECT * FROM segkpi.segment_rules sr WHERE sr.segmentation = rule_case.segmentation ORDER BY rule_order LOOP
        sql := sql || format(' WHEN %s THEN %L', segkpi.rule_predicate(r.conditions, alias, allowed), r.segment);
    END LOOP;
    -- no rules: everybody is Other ("CASE ELSE ... END" is not SQL)
    RETURN CASE WHEN sql = 'CASE' THEN '''Other''' ELSE sql || ' ELSE ''Other'' END' END;
END
$$;
COMMENT ON FUNCTION segkpi.rule_case(text, text, name[]) IS
    'CASE expression of a rule segmentation: first matching rule, else Other';

-- The refresh's working tables are temporary and dropped at commit; a
-- second refresh in the same transaction drops the first one's.
CREATE FUNCTION segkpi.drop_temp_tables()
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['segkpi_cust_raw', 'segkpi_cust', 'segkpi_rfm', 'segkpi_feat', 'segkpi_spend', 'segkpi_fb',
                             'segkpi_btyd', 'segkpi_pred', 'segkpi_cohorts', 'segkpi_fbs', 'segkpi_preds',
                             'segkpi_lead_groups', 'segkpi_leads',
                             -- 0.2 and 0.1 names, in case an older refresh ran earlier in this transaction
                             'segkpi_cp', 'segkpi_assign', 'segkpi_feedback', 'segkpi_cp_raw'] LOOP
        IF to_regclass('pg_temp.' || t) IS NOT NULL THEN
            EXECUTE format('DROP TABLE pg_temp.%I', t);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION segkpi.drop_temp_tables() IS 'drops the working tables of an earlier refresh in this session';

CREATE FUNCTION segkpi.refresh(as_of timestamptz DEFAULT pg_catalog.now(), progress boolean DEFAULT false)
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
    -- one refresh (or erasure) at a time, on a lock only roles that may
    -- change segkpi.snapshots can take
    PERFORM segkpi.lock_snapshots();
    -- the customer-level table as this version writes it, written by its owner
    PERFORM segkpi.ensure_customer_tables((bo.columns ->> '_key_type')::regtype);
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
    -- Rule segments are read once into a CASE here, and their attributes
    -- again for the leads: edits of the rules wait until this refresh
    -- commits, so both see the same rules.
    IF EXISTS (SELECT FROM unnest(segs) s WHERE s.method = 'rules') THEN
        LOCK TABLE segkpi.segment_rules IN SHARE MODE;
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
            -- written once the model is fitted (stage 3)
            seg_exprs := seg_exprs || NULL::text;
        ELSE
            bins := coalesce((seg.params ->> 'bins')::int, 5);
            ruleset := coalesce(seg.params ->> 'ruleset', 'default');
            IF bins = 5 THEN
                -- the scores customer_features keeps, named by this ruleset
                seg_exprs := seg_exprs || CASE WHEN ruleset = 'default' THEN 'coalesce((x.s).segment, ''(unnamed)'')'
                    ELSE format('coalesce(segkpi.rfm_segment((x.s).r, (x.s).f, (x.s).m, %L), ''(unnamed)'')', ruleset) END;
            ELSE
                -- written once its cuts are computed (stage 3)
                rfm_bins[i] := bins;
                seg_exprs := seg_exprs || NULL::text;
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
            seg_exprs[i] := format(
                'coalesce((segkpi.rfm_apply(ROW(x.first_order_at, x.last_order_at, x.orders, x.refunds, x.monetary)::segkpi.rfm_stats,
                                            %L::segkpi.rfm_cuts, %L)).segment, ''(unnamed)'')',
                all_cuts[ncut], coalesce(seg.params ->> 'ruleset', 'default'));
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
            seg_exprs[i] := format('CASE WHEN array_position(x.kf_%1$s, NULL) IS NULL
                                         THEN ''Cluster '' || segkpi.kmeans_assign(%2$L::segkpi.kmeans_model, x.kf_%1$s)
                                         ELSE ''(no features)'' END', i, model);
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
    t_stage := clock_timestamp();

    -- stage 7: segment migration from the previous snapshot, as counts
    PERFORM segkpi.store_migration(sid);
    stage_times := stage_times || jsonb_build_object('migration', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN RAISE NOTICE 'refresh: segment migration in % s', stage_times -> 'migration'; END IF;

    UPDATE segkpi.snapshots SET stages = stage_times WHERE snapshot_id = sid;
    RETURN sid;
END
$$;
COMMENT ON FUNCTION segkpi.refresh(timestamptz, boolean) IS
    'takes a snapshot of every active segmentation as of a time, in one transaction; returns the snapshot id';

-- KPIs of one segmentation for every period, from the refresh's temporary
-- tables (segkpi_cp, segkpi_cust, segkpi_spend, segkpi_leads and, when
-- feedback is bound, segkpi_feedback).  Segment "(all)" is every customer.

------------------------------------------------------------------------
-- k-means features as SQL
------------------------------------------------------------------------

-- The feature array of a k-means segmentation as an SQL expression over
-- the activity summary t, the acquisition time a.acquired_at and the bound
-- customers c (for attribute features).  Sets uses_customers when c is read.
CREATE FUNCTION segkpi.kmeans_feature_sql(seg segkpi.segmentations, bc segkpi.bindings, as_of timestamptz,
                                          OUT feature_sql text, OUT uses_customers boolean)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    feats text[] := ARRAY(SELECT jsonb_array_elements_text(
                              coalesce(seg.params -> 'features', '["recency_days", "frequency", "monetary"]')));
    exprs text[] := '{}';
    f text;
BEGIN
    uses_customers := false;
    IF cardinality(feats) = 0 THEN
        RAISE EXCEPTION 'k-means segmentation "%" has no features', seg.name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH f IN ARRAY feats LOOP
        exprs := exprs || CASE f
            WHEN 'recency_days' THEN
                format('extract(epoch FROM %L::timestamptz - coalesce(t.last_order_at, t.first_row_at))::float8 / 86400', as_of)
            WHEN 'tenure_days' THEN
                format('extract(epoch FROM %L::timestamptz - a.acquired_at)::float8 / 86400', as_of)
            WHEN 'frequency' THEN 't.orders::float8'
            WHEN 'monetary' THEN 't.revenue::float8'
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
            uses_customers := true;
        END IF;
    END LOOP;
    feature_sql := 'ARRAY[' || array_to_string(exprs, ', ') || ']';
END
$$;
COMMENT ON FUNCTION segkpi.kmeans_feature_sql(segkpi.segmentations, segkpi.bindings, timestamptz) IS
    'feature array of a k-means segmentation as SQL over the refresh''s per-customer query';


-- Whether every column of a relation named here can be grouped (has a
-- default btree or hash operator class): leads are then counted per
-- distinct attribute values before the rules run, instead of per lead.
CREATE FUNCTION segkpi.groupable_columns(rel regclass, cols name[])
    RETURNS boolean
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    t oid;
    nxt oid;
BEGIN
    FOR t IN SELECT a.atttypid FROM pg_attribute a
              WHERE a.attrelid = rel AND a.attname = ANY (cols) AND NOT a.attisdropped LOOP
        -- a domain groups like its base type, an array like its elements
        LOOP
            SELECT CASE WHEN y.typtype = 'd' THEN y.typbasetype
                        WHEN y.typelem <> 0 AND y.typlen = -1 THEN y.typelem ELSE 0 END
              INTO nxt FROM pg_type y WHERE y.oid = t;
            EXIT WHEN nxt = 0;
            t := nxt;
        END LOOP;
        IF NOT EXISTS (SELECT FROM pg_opclass o JOIN pg_am am ON am.oid = o.opcmethod
                        WHERE o.opcdefault AND am.amname IN ('btree', 'hash')
                          AND o.opcintype = (SELECT CASE WHEN y.typtype = 'e' THEN 'anyenum'::regtype::oid
                                                         ELSE y.oid END
                                               FROM pg_type y WHERE y.oid = t)) THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN true;
END
$$;
COMMENT ON FUNCTION segkpi.groupable_columns(regclass, name[]) IS
    'true when every named column of the relation has a default btree or hash operator class';