/*
 * segkpi 0.2 -> 0.3 - upgrade script.
 *
 * 0.3 makes the refresh write one row per customer and snapshot: the
 * segments of every segmentation travel in customer_features.segments, in
 * the order of snapshots.segmentations, and customer_segments becomes a
 * view over them.  The refresh computes every segmentation's assignments
 * in one pass over the customers and every segmentation's cohorts,
 * feedback and leads in one pass each, instead of one of each per
 * segmentation.
 */

\echo Use "ALTER EXTENSION segkpi UPDATE TO '0.3'" to load this file. \quit

-- Names left unqualified resolve in pg_catalog only, never in schema
-- segkpi (where another role might have put a better match); added in 0.6.
SET LOCAL search_path = pg_catalog, pg_temp;

------------------------------------------------------------------------
-- Snapshots name their segmentations; customer rows carry the segments
------------------------------------------------------------------------

ALTER TABLE segkpi.snapshots ADD COLUMN segmentations text[] NOT NULL DEFAULT '{}';
COMMENT ON COLUMN segkpi.snapshots.segmentations IS
    'the segmentations of the snapshot, in the order of customer_features.segments';

CREATE OR REPLACE FUNCTION segkpi.ensure_customer_tables(key_type regtype)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    cur regtype;
BEGIN
    SELECT a.atttypid::regtype INTO cur FROM pg_attribute a
     WHERE a.attrelid = to_regclass('segkpi.customer_features') AND a.attname = 'customer_id';
    IF cur IS DISTINCT FROM key_type THEN
        IF cur IS NOT NULL THEN
            IF EXISTS (SELECT FROM segkpi.snapshots) THEN
                RAISE EXCEPTION 'the customer key type changes from % to %, but snapshots exist', cur, key_type
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          HINT = 'DELETE FROM segkpi.snapshots first; that discards segment history.';
            END IF;
            -- segment_migration reads the tables through a function: no dependency
            DROP VIEW IF EXISTS segkpi.segment_migration, segkpi.customer_segments, segkpi.rfm_grid;
            DROP TABLE segkpi.customer_features;
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
            segments       text[],
            PRIMARY KEY (snapshot_id, customer_id));
        REVOKE ALL ON segkpi.customer_features FROM PUBLIC;
        COMMENT ON TABLE segkpi.customer_features IS 'per-customer features and segments of each snapshot (customer-level: not for PUBLIC)';
        COMMENT ON COLUMN segkpi.customer_features.segments IS 'the customer''s segment in each of snapshots.segmentations, in that order';
        $ddl$, key_type);
    END IF;
    -- The views go with the extension (they use its objects) while the
    -- table stays in the schema: after DROP EXTENSION ... CASCADE and a new
    -- CREATE EXTENSION the table is still there and the views are not.
    IF to_regclass('segkpi.customer_segments') IS NULL THEN
        CREATE VIEW segkpi.customer_segments AS
        SELECT f.snapshot_id, s.segmentation, f.customer_id, f.segments[s.ord] AS segment
          FROM segkpi.customer_features f
          JOIN segkpi.snapshots sn ON sn.snapshot_id = f.snapshot_id
         CROSS JOIN LATERAL unnest(sn.segmentations) WITH ORDINALITY AS s(segmentation, ord)
         WHERE f.segments[s.ord] IS NOT NULL;
        REVOKE ALL ON segkpi.customer_segments FROM PUBLIC;
        COMMENT ON VIEW segkpi.customer_segments IS 'segment of every customer in each snapshot and segmentation (customer-level: not for PUBLIC)';
        COMMENT ON COLUMN segkpi.customer_segments.snapshot_id IS 'the snapshot';
        COMMENT ON COLUMN segkpi.customer_segments.segmentation IS 'the segmentation';
        COMMENT ON COLUMN segkpi.customer_segments.customer_id IS 'the customer key, in the warehouse''s type';
        COMMENT ON COLUMN segkpi.customer_segments.segment IS 'the customer''s segment';
    END IF;
    IF to_regclass('segkpi.segment_migration') IS NULL THEN
        CREATE VIEW segkpi.segment_migration AS
        SELECT m.* FROM (SELECT max(snapshot_id) FILTER (WHERE rn = 2) AS f,
                                max(snapshot_id) FILTER (WHERE rn = 1) AS t
                           FROM (SELECT snapshot_id, row_number() OVER (ORDER BY snapshot_id DESC) AS rn
                                   FROM segkpi.snapshots) s) x,
               LATERAL segkpi.migration(x.f, x.t) m;
        COMMENT ON VIEW segkpi.segment_migration IS 'customers moving between segments from the previous to the latest snapshot (cells below settings.min_segment_size hidden)';
        COMMENT ON COLUMN segkpi.segment_migration.segmentation IS 'the segmentation';
        COMMENT ON COLUMN segkpi.segment_migration.from_segment IS 'segment in the previous snapshot, (none) when absent';
        COMMENT ON COLUMN segkpi.segment_migration.to_segment IS 'segment in the latest snapshot, (none) when absent';
        COMMENT ON COLUMN segkpi.segment_migration.customers IS 'customers making this move';
    END IF;
    IF to_regclass('segkpi.rfm_grid') IS NULL THEN
        CREATE VIEW segkpi.rfm_grid AS
        SELECT f.r, f.f, count(*) AS customers, round(avg(f.monetary), 2) AS mean_monetary
          FROM segkpi.customer_features f
         WHERE f.snapshot_id = (SELECT max(snapshot_id) FROM segkpi.snapshots) AND f.r IS NOT NULL
         GROUP BY f.r, f.f
        HAVING count(*) >= (SELECT min_segment_size FROM segkpi.settings);
        COMMENT ON VIEW segkpi.rfm_grid IS 'R x F grid of the latest snapshot (five bins): customers and mean monetary (cells below settings.min_segment_size hidden)';
        COMMENT ON COLUMN segkpi.rfm_grid.r IS 'recency score';
        COMMENT ON COLUMN segkpi.rfm_grid.f IS 'frequency score';
        COMMENT ON COLUMN segkpi.rfm_grid.customers IS 'customers in the cell';
        COMMENT ON COLUMN segkpi.rfm_grid.mean_monetary IS 'mean monetary total of the cell';
    END IF;
END
$$;
-- (0.6: the upgrade of the customer-level table that stood here ran as
-- superuser on a table another role owns; segkpi.adopt_customer_tables
-- does it now, as that owner, at the next bind or refresh.)


------------------------------------------------------------------------
-- Cascade, erasure and the working tables
------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION segkpi.snapshots_cascade() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
BEGIN
    IF to_regclass('segkpi.customer_features') IS NOT NULL THEN
        IF TG_OP = 'TRUNCATE' THEN
            TRUNCATE segkpi.customer_features;
        ELSE
            DELETE FROM segkpi.customer_features WHERE snapshot_id IN (SELECT snapshot_id FROM gone);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION segkpi.erase_customer(customer anyelement)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    key_t regtype;
    n bigint;
BEGIN
    SELECT (columns ->> '_key_type')::regtype INTO key_t FROM segkpi.bindings WHERE source = 'orders';
    IF key_t IS NULL THEN
        RETURN 0;
    END IF;
    IF pg_typeof(customer) <> key_t THEN
        RAISE EXCEPTION 'customer has type %, but the bound customer key is %', pg_typeof(customer), key_t
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    -- rows of customer_features plus the customer_segments rows they held
    EXECUTE 'WITH gone AS (DELETE FROM segkpi.customer_features WHERE customer_id = $1 RETURNING segments)
             SELECT count(*) + coalesce(sum(cardinality(array_remove(segments, NULL))), 0) FROM gone'
       INTO n USING customer;
    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION segkpi.drop_temp_tables()
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

DROP FUNCTION segkpi.assign_kmeans(bigint, segkpi.segmentations, segkpi.bindings, timestamptz);

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
REVOKE EXECUTE ON FUNCTION segkpi.kmeans_feature_sql(segkpi.segmentations, segkpi.bindings, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION segkpi.kmeans_feature_sql(segkpi.segmentations, segkpi.bindings, timestamptz) TO @extowner@;

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
REVOKE EXECUTE ON FUNCTION segkpi.groupable_columns(regclass, name[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION segkpi.groupable_columns(regclass, name[]) TO @extowner@;

------------------------------------------------------------------------
-- KPI pipeline: refresh with one pass per stage for all segmentations
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
    -- pass over the orders.  A hash aggregate reads the table once in
    -- order; an index walk (which the planner may prefer when the groups
    -- look too many for work_mem) reads it at random.  In a parallel plan
    -- the leader only gathers and combines: as a third partial aggregator
    -- it competed with the workers and added a third partial state for
    -- most customers (1M customers on 2 cores: 11.4-12.0 s -> 10.4 s).
    -- Only this statement is steered.
    PERFORM segkpi.drop_temp_tables();
    saved_indexscan := current_setting('enable_indexscan');
    saved_sort := current_setting('enable_sort');
    saved_leader := current_setting('parallel_leader_participation');
    PERFORM set_config('enable_indexscan', 'off', true), set_config('enable_sort', 'off', true),
            set_config('parallel_leader_participation', 'off', true);
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
    PERFORM set_config('enable_indexscan', saved_indexscan, true), set_config('enable_sort', saved_sort, true),
            set_config('parallel_leader_participation', saved_leader, true);
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
    WITH periods AS (
        SELECT p::date AS period_start, (p + step)::date AS period_end
          FROM generate_series((SELECT date_trunc(grain, min(first_row_at))::date FROM segkpi_feat)::timestamp,
                               date_trunc(grain, as_of - interval '1 microsecond')::date::timestamp, step) p
    ),
    -- refresh grouped the customers of every segmentation by segment,
    -- acquisition period and channel, each group with its activity
    -- roll-up; the rows of a NULL segmentation are "(all)"
    cohorts AS MATERIALIZED (
        SELECT c.segment, c.acq_period, c.channel, c.n, c.r
          FROM segkpi_cohorts c
         WHERE c.segmentation = compute_kpis.segmentation OR c.segmentation IS NULL
    ),
    segs AS (SELECT segment FROM cohorts UNION SELECT '(all)'),
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
