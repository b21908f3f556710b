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

------------------------------------------------------------------------
-- KPI pipeline: what a refresh passes from stage to stage
------------------------------------------------------------------------

-- One refresh as the stages and the segmentation methods see it: its
-- arguments, settings and bindings, and what the early stages found out.
CREATE TYPE segkpi.refresh_run AS (
    as_of           timestamptz,
    grain           text,
    period_months   integer,
    predict_clv     boolean,
    bound_orders    segkpi.bindings,
    bound_customers segkpi.bindings,
    bound_spend     segkpi.bindings,
    bound_leads     segkpi.bindings,
    bound_feedback  segkpi.bindings,
    bound_engagement segkpi.bindings,
    customers       bigint,
    snapshot_id     bigint,
    comparison      text
);
COMMENT ON TYPE segkpi.refresh_run IS 'one refresh as its stages and the segmentation methods see it (internal)';
COMMENT ON COLUMN segkpi.refresh_run.as_of IS 'the refresh covers everything strictly before as_of';
COMMENT ON COLUMN segkpi.refresh_run.grain IS 'period grain: month or quarter';
COMMENT ON COLUMN segkpi.refresh_run.period_months IS 'months in a period (1 or 3)';
COMMENT ON COLUMN segkpi.refresh_run.predict_clv IS 'settings.predict_clv';
COMMENT ON COLUMN segkpi.refresh_run.bound_orders IS 'the checked binding of orders';
COMMENT ON COLUMN segkpi.refresh_run.bound_customers IS 'the checked binding of customers, NULL when unbound';
COMMENT ON COLUMN segkpi.refresh_run.bound_spend IS 'the checked binding of marketing spend, NULL when unbound';
COMMENT ON COLUMN segkpi.refresh_run.bound_leads IS 'the checked binding of leads, NULL when unbound';
COMMENT ON COLUMN segkpi.refresh_run.bound_feedback IS 'the checked binding of feedback, NULL when unbound';
COMMENT ON COLUMN segkpi.refresh_run.bound_engagement IS 'the checked binding of engagement events, NULL when unbound';
COMMENT ON COLUMN segkpi.refresh_run.customers IS 'customers found by the orders stage (NULL before it)';
COMMENT ON COLUMN segkpi.refresh_run.snapshot_id IS 'the snapshot, once the customers stage has written it (NULL before)';
COMMENT ON COLUMN segkpi.refresh_run.comparison IS 'the comparison group (snapshots.comparison), NULL when none';

------------------------------------------------------------------------
-- KPI pipeline: the refresh's working tables
------------------------------------------------------------------------

-- Every working table of a refresh, the one place their names are
-- declared.  They are temporary and dropped at commit, each written once,
-- by one stage, and read by the later ones.
CREATE FUNCTION segkpi.work_tables()
    RETURNS TABLE (name text, stage text, holds text)
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog
AS $$
    VALUES ('segkpi_btyd', 'predict_clv', 'BG/NBD summary of every customer'),
           ('segkpi_pred', 'predict_clv', 'P(alive) and predicted CLV of every customer'),
           ('segkpi_cust', 'orders', 'every customer: activity, its summary, acquisition, engagement to date (eng_*), what the methods read (in_<i>), the comparison flag (held_out)'),
           ('segkpi_fits', 'models', 'one row: the 5-bin RFM cut points (cuts) and each method''s fit (fit_<i>)'),
           ('segkpi_feat', 'segments', 'every customer: features, scores, segments (written to customer_features)'),
           ('segkpi_spend', 'sources', 'marketing spend by period, channel and target segment'),
           ('segkpi_fbs', 'sources', 'CSAT per segmentation, segment and period'),
           ('segkpi_engs', 'sources', 'engaged customers and events per segmentation, segment, period and kind (NULL: all kinds)'),
           ('segkpi_preds', 'sources', 'mean predicted CLV and P(alive) per segmentation and segment'),
           ('segkpi_lead_groups', 'sources', 'leads counted per period and distinct attribute values'),
           ('segkpi_leads', 'sources', 'leads and conversions per segmentation, segment and period'),
           ('segkpi_cohorts', 'kpis', 'activity roll-ups per segmentation, segment, acquisition period, channel and comparison flag')
$$;
COMMENT ON FUNCTION segkpi.work_tables() IS 'the working tables of segkpi.refresh: name, the stage that writes it, what it holds';

-- The statement prefix that creates a declared working table from a query.
CREATE FUNCTION segkpi.work_table(name text)
    RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM segkpi.work_tables() w WHERE w.name = work_table.name) THEN
        RAISE EXCEPTION 'undeclared working table "%"', name USING ERRCODE = 'internal_error';
    END IF;
    RETURN format('CREATE TEMP TABLE %I ON COMMIT DROP AS ', name);
END
$$;
COMMENT ON FUNCTION segkpi.work_table(text) IS
    'CREATE TEMP TABLE ... ON COMMIT DROP AS, for a working table declared by segkpi.work_tables()';

-- A second refresh in the same transaction drops the first one's tables.
CREATE FUNCTION segkpi.drop_temp_tables()
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT w.name FROM segkpi.work_tables() w
             -- names of 0.1 - 0.5, in case an older refresh ran earlier in this transaction
             UNION ALL SELECT unnest(ARRAY['segkpi_cust_raw', 'segkpi_rfm', 'segkpi_fb', 'segkpi_cp',
                                           'segkpi_assign', 'segkpi_feedback', 'segkpi_cp_raw']) LOOP
        IF to_regclass('pg_temp.' || t) IS NOT NULL THEN
            EXECUTE format('DROP TABLE pg_temp.%I', t);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION segkpi.drop_temp_tables() IS 'drops the working tables of an earlier refresh in this session';

------------------------------------------------------------------------
-- KPI pipeline: segmentation methods, the one dispatch
------------------------------------------------------------------------

-- A segmentation method is one unit (sql/src/7N_method_<name>.sql): a
-- function segkpi.method_<name> with this signature that supplies its
-- pieces to the stages.  Each piece is SQL text (NULL: none) that may use
-- the parameters every stage statement carrying pieces has:
--   $1 as_of, $2 the period grain, $3 vals (text[]: the segmentation
--   names first, then every value a piece appended), $4 the row of
--   segkpi_fits (only once the models stage has written it).
-- A piece appends the values it needs to vals and reads them as $3[n]:
-- values are never written into SQL text.
--   inputs  (before the stages; checks, locks) what the method reads per
--           customer: an expression over the activity summary t, a.acquired_at
--           and the bound customers c; stored in segkpi_cust as in_<i>
--   leads   the segment of a lead row l (NULL: the method has no lead
--           segments, conversion is undefined); reads: attributes it reads
--   fit     an aggregate over segkpi_cust, stored in segkpi_fits as fit_<i>
--   keep    (after the fit) keeps what the snapshot needs of it
--   assign  the segment of a customer row x (segkpi_cust's columns and its
--           5-bin RFM scores x.s): never NULL
--   segments (called with empty vals) every segment the method defines,
--           in vals: each gets its KPI rows in every period, members or not;
--           sql 'notice' asks for a NOTICE naming those without a member
-- An unknown method is an error; adding a method is adding its unit, one
-- line here and its name in the CHECK of segkpi.segmentations.method.
CREATE FUNCTION segkpi.method_piece(piece text, seg segkpi.segmentations, i integer, run segkpi.refresh_run,
                                    INOUT vals text[], OUT sql text, OUT reads name[])
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    p record;
BEGIN
    IF piece IS NULL OR piece NOT IN ('inputs', 'leads', 'fit', 'keep', 'assign', 'segments') THEN
        RAISE EXCEPTION 'unknown piece "%" of a segmentation method', piece USING ERRCODE = 'invalid_parameter_value';
    END IF;
    CASE seg.method
    WHEN 'rfm' THEN SELECT * INTO p FROM segkpi.method_rfm(piece, seg, i, run, vals);
    WHEN 'rules' THEN SELECT * INTO p FROM segkpi.method_rules(piece, seg, i, run, vals);
    WHEN 'kmeans' THEN SELECT * INTO p FROM segkpi.method_kmeans(piece, seg, i, run, vals);
    ELSE
        RAISE EXCEPTION 'segmentation "%" has unknown method "%"', seg.name, seg.method
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Known methods: rfm, rules, kmeans.';
    END CASE;
    IF piece = 'assign' AND p.sql IS NULL THEN
        RAISE EXCEPTION 'method "%" gave no segment for segmentation "%"', seg.method, seg.name
            USING ERRCODE = 'internal_error';
    END IF;
    vals := p.vals;
    sql := p.sql;
    reads := p.reads;
END
$$;
COMMENT ON FUNCTION segkpi.method_piece(text, segkpi.segmentations, integer, segkpi.refresh_run, text[]) IS
    'a piece of SQL (and its values) that a segmentation''s method supplies to the refresh stages; unknown methods are an error';

------------------------------------------------------------------------
-- KPI pipeline: SQL shared by the stages
------------------------------------------------------------------------

-- The grouping sets of a statement over rows a with a.segments (one
-- segment per segmentation): one set per segmentation, its segment and
-- keys, and with_all one set of the keys alone (over all customers); with
-- the segmentation ($3[i]) and the segment each result row stands for
-- ("(all)" for the set over all customers).  GROUPING() tells them apart.
CREATE FUNCTION segkpi.grouping_sql(n integer, keys text, with_all boolean,
                                    OUT sets text, OUT segmentation text, OUT segment text)
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    g integer;
BEGIN
    sets := '';
    segmentation := 'CASE';
    segment := 'CASE';
    FOR g IN 1 .. n LOOP
        sets := sets || format('(a.segments[%s]%s), ', g, CASE WHEN keys = '' THEN '' ELSE ', ' || keys END);
        segmentation := segmentation || format(' WHEN GROUPING(a.segments[%1$s]) = 0 THEN $3[%1$s]', g);
        segment := segment || format(' WHEN GROUPING(a.segments[%1$s]) = 0 THEN a.segments[%1$s]', g);
    END LOOP;
    sets := CASE WHEN with_all THEN sets || format('(%s)', keys) ELSE left(sets, -2) END;
    segmentation := CASE WHEN n = 0 THEN 'NULL::text' ELSE segmentation || ' END' END;
    segment := CASE WHEN n = 0 THEN '''(all)''' ELSE segment || ' ELSE ''(all)'' END' END;
END
$$;
COMMENT ON FUNCTION segkpi.grouping_sql(integer, text, boolean) IS
    'GROUPING SETS per segmentation (and over all customers) with the segmentation and segment of each result row, as SQL';

-- Every customer of segkpi_cust with its 5-bin RFM scores (x.s, against
-- the cut points of segkpi_fits), and the array of its segments, one per
-- segmentation, from the methods' assign pieces.
CREATE FUNCTION segkpi.segments_sql(assign text[], OUT customer_rows text, OUT segments text)
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog
AS $$
    SELECT '(SELECT k.*, segkpi.rfm_apply(ROW(k.first_order_at, k.last_order_at, k.orders, k.refunds,
                                              k.monetary)::segkpi.rfm_stats, ($4).cuts) AS s
               FROM segkpi_cust k OFFSET 0) x',
           CASE WHEN coalesce(cardinality(assign), 0) = 0 THEN '''{}'''
                ELSE 'ARRAY[' || array_to_string(assign, ', ') || ']' END
$$;
COMMENT ON FUNCTION segkpi.segments_sql(text[]) IS
    'the customers with their RFM scores, and the array of their segments, as SQL over segkpi_cust and segkpi_fits';

------------------------------------------------------------------------
-- KPI pipeline: the comparison group
------------------------------------------------------------------------

-- A customer's place in [0, 1) for the hash holdout: a seeded 64-bit hash
-- of the key's text, so the same customers are held out at every refresh
-- and in every session, and a larger share holds out a superset.
CREATE FUNCTION segkpi.holdout_bucket(customer_key text)
    RETURNS float8
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (pg_catalog.hashtextextended(customer_key, 1296) & 9007199254740991)::float8 / 9007199254740992;
COMMENT ON FUNCTION segkpi.holdout_bucket(text) IS
    'a customer key''s place in [0, 1) for the hash holdout (seeded 64-bit hash of its text, 53 bits kept)';

-- Whether a customer is in the hash holdout of settings.holdout_share: the
-- customers a campaign must leave out, so that they stay a fair
-- comparison group.  False when no holdout is set.
CREATE FUNCTION segkpi.in_holdout(customer anyelement)
    RETURNS boolean
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog
AS $$
    SELECT coalesce(segkpi.holdout_bucket(customer::text) < (SELECT s.holdout_share FROM segkpi.settings s), false)
$$;
COMMENT ON FUNCTION segkpi.in_holdout(anyelement) IS
    'true when the customer (key in the warehouse''s type) is in the hash holdout of settings.holdout_share: leave them out of campaigns';

-- The SQL of a customer's comparison flag in the orders stage (over the
-- bound customers c and the activity summary t); the holdout share is the
-- next value refresh appends to vals.
CREATE FUNCTION segkpi.comparison_sql(cfg segkpi.settings, run segkpi.refresh_run, vals text[])
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
BEGIN
    IF cfg.comparison_attribute IS NOT NULL THEN
        IF run.bound_customers IS NULL OR NOT cfg.comparison_attribute = ANY ((run.bound_customers).attributes) THEN
            RAISE EXCEPTION 'settings.comparison_attribute "%" is not a bound customer attribute', cfg.comparison_attribute
                USING ERRCODE = 'undefined_column',
                      HINT = 'Bind it with segkpi.bind_customers(..., attributes => ...), or set it to NULL.';
        END IF;
        PERFORM segkpi.binding_column_type((run.bound_customers).relation, cfg.comparison_attribute,
                                           'comparison attribute', ARRAY['boolean']);
        RETURN format('coalesce(c.%I, false)', cfg.comparison_attribute);
    ELSIF cfg.holdout_share IS NOT NULL THEN
        RETURN format('segkpi.holdout_bucket(t.customer_id::text) < $3[%s]::float8', coalesce(cardinality(vals), 0) + 1);
    END IF;
    RETURN 'false';
END
$$;
COMMENT ON FUNCTION segkpi.comparison_sql(segkpi.settings, segkpi.refresh_run, text[]) IS
    'SQL of a customer''s comparison-group flag for the orders stage (settings.comparison_attribute or holdout_share)';

------------------------------------------------------------------------
-- KPI pipeline: refresh
------------------------------------------------------------------------

-- The stages run in order, each one function (sql/src/74_stages.sql):
--   predict_clv (optional)  BG/NBD and Gamma-Gamma over the orders
--   orders                  one pass over the orders: every customer
--   customers               statistics, the snapshot row
--   models                  one pass over the customers: every fit
--   segments                every customer's scores and segments
--   sources                 spend, feedback, predictions, leads
--   kpis                    cohort roll-ups, then KPIs per segmentation
-- The time of each goes into snapshots.stages.
CREATE FUNCTION segkpi.refresh(as_of timestamptz DEFAULT pg_catalog.now(), progress boolean DEFAULT false)
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
    run segkpi.refresh_run;
    cfg segkpi.settings;
    segs segkpi.segmentations[];
    vals text[];
    p record;
    i integer;
    inputs text := '';          -- the methods' per-customer columns
    leads text[] := '{}';       -- per segmentation: its segment of a lead, or NULL
    lead_reads name[] := '{}';  -- the lead attributes those read
    assign text[];
    t_stage timestamptz := clock_timestamp();
    stage_times jsonb := '{}';
BEGIN
    run.bound_orders := segkpi.checked_binding('orders');
    run.bound_customers := segkpi.checked_binding('customers');
    run.bound_spend := segkpi.checked_binding('marketing_spend');
    run.bound_leads := segkpi.checked_binding('leads');
    run.bound_feedback := segkpi.checked_binding('feedback');
    run.bound_engagement := segkpi.checked_binding('engagement');
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF run.bound_orders IS NULL THEN
        RAISE EXCEPTION 'orders are not bound' USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Call segkpi.bind_orders(table, customer, ordered_at, amount) first.';
    END IF;
    -- one refresh (or erasure) at a time, on a lock only roles that may
    -- change segkpi.snapshots can take
    PERFORM segkpi.lock_snapshots();
    -- the customer-level table as this version writes it, written by its owner
    PERFORM segkpi.ensure_customer_tables(((run.bound_orders).columns ->> '_key_type')::regtype);
    SELECT * INTO cfg FROM segkpi.settings;
    run.as_of := as_of;
    run.grain := cfg.period_grain;
    run.period_months := CASE cfg.period_grain WHEN 'month' THEN 1 ELSE 3 END;
    run.predict_clv := cfg.predict_clv;
    segs := ARRAY(SELECT s FROM segkpi.segmentations s WHERE s.active ORDER BY s.name);
    vals := ARRAY(SELECT (s).name FROM unnest(segs) s);

    -- What each segmentation reads per customer and how it names leads,
    -- checked before the long stages run.
    FOR i IN 1 .. coalesce(cardinality(segs), 0) LOOP
        SELECT * INTO p FROM segkpi.method_piece('inputs', segs[i], i, run, vals);
        vals := p.vals;
        IF p.sql IS NOT NULL THEN
            inputs := inputs || format(', %s AS in_%s', p.sql, i);
        END IF;
        SELECT * INTO p FROM segkpi.method_piece('leads', segs[i], i, run, vals);
        vals := p.vals;
        leads := leads || p.sql;
        lead_reads := lead_reads || p.reads;
    END LOOP;

    -- the comparison group of before_after: a boolean customer attribute
    -- (true: not targeted) or a hash holdout; every customer's flag is
    -- worked out in the orders stage and rides along to the KPIs
    inputs := inputs || format(', %s AS held_out', segkpi.comparison_sql(cfg, run, vals));
    IF cfg.comparison_attribute IS NOT NULL THEN
        run.comparison := format('attribute "%s"', cfg.comparison_attribute);
    ELSIF cfg.holdout_share IS NOT NULL THEN
        run.comparison := format('holdout %s', cfg.holdout_share);
        vals := vals || cfg.holdout_share::text;
    END IF;

    PERFORM segkpi.drop_temp_tables();

    -- (it reads the orders itself, so it comes before the pass below)
    IF run.predict_clv THEN
        PERFORM segkpi.predict_clv(run.bound_orders, as_of, cfg);
        stage_times := stage_times || jsonb_build_object('predict_clv', extract(epoch FROM clock_timestamp() - t_stage));
        IF progress THEN RAISE NOTICE 'refresh: predicted CLV in % s', stage_times -> 'predict_clv'; END IF;
        t_stage := clock_timestamp();
    END IF;

    run.customers := segkpi.stage_orders(run, inputs, vals);
    stage_times := stage_times || jsonb_build_object('orders', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN
        RAISE NOTICE 'refresh: orders by customer and period, % customers, in % s', run.customers, stage_times -> 'orders';
    END IF;
    t_stage := clock_timestamp();

    run.snapshot_id := segkpi.stage_customers(run, segs);
    stage_times := stage_times || jsonb_build_object('customers', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN RAISE NOTICE 'refresh: customer statistics in % s', stage_times -> 'customers'; END IF;
    t_stage := clock_timestamp();

    SELECT m.vals, m.assign INTO vals, assign FROM segkpi.stage_models(run, segs, vals) m;
    stage_times := stage_times || jsonb_build_object('models', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN RAISE NOTICE 'refresh: k-means models and RFM cut points in % s', stage_times -> 'models'; END IF;
    t_stage := clock_timestamp();

    PERFORM segkpi.stage_segments(run, assign, vals);
    stage_times := stage_times || jsonb_build_object('segments', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN
        RAISE NOTICE 'refresh: features and % segmentations in % s', cardinality(segs), stage_times -> 'segments';
    END IF;
    t_stage := clock_timestamp();

    PERFORM segkpi.stage_sources(run, leads, lead_reads, vals);
    stage_times := stage_times || jsonb_build_object('sources', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN RAISE NOTICE 'refresh: spend, feedback and leads in % s', stage_times -> 'sources'; END IF;
    t_stage := clock_timestamp();

    PERFORM segkpi.stage_kpis(run, segs, assign, ARRAY(SELECT l.sql IS NOT NULL FROM unnest(leads) WITH ORDINALITY l(sql, n) ORDER BY l.n), vals);
    stage_times := stage_times || jsonb_build_object('kpis', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN RAISE NOTICE 'refresh: KPIs in % s', stage_times -> 'kpis'; END IF;
    t_stage := clock_timestamp();

    -- stage 7: segment migration from the previous snapshot, as counts
    PERFORM segkpi.store_migration(run.snapshot_id);
    stage_times := stage_times || jsonb_build_object('migration', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN RAISE NOTICE 'refresh: segment migration in % s', stage_times -> 'migration'; END IF;

    UPDATE segkpi.snapshots SET stages = stage_times WHERE snapshot_id = run.snapshot_id;
    RETURN run.snapshot_id;
END
$$;
COMMENT ON FUNCTION segkpi.refresh(timestamptz, boolean) IS
    'takes a snapshot of every active segmentation as of a time, in one transaction; returns the snapshot id';

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