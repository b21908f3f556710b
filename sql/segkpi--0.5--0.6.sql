/*
 * segkpi 0.5 -> 0.6 - upgrade script.
 *
 * From 0.6 on, the install script is built from the files of sql/src and an
 * upgrade script holds only what changed; test/t/015_install_upgrade.pl
 * checks that the two give the same catalog.
 *
 * 0.6 closes the ways a role without superuser could run code as the
 * superuser that executes CREATE/ALTER EXTENSION: the scripts no longer
 * touch the customer-level table (its owner's functions adopt an older
 * one), names resolve in pg_catalog only, and a superuser never writes a
 * customer-level table someone else owns.  Refresh and erasure serialise
 * on a lock of segkpi.snapshots instead of an advisory lock anyone could
 * hold; refresh also locks the rule segmentations' rules it reads.  The
 * views that hide small segments are security barriers.  The owner may
 * dump and restore the snapshot sequence and truncate the history.
 *
 * refresh is made of stages: one function per stage with its planner
 * settings as SET clauses, values passed as parameters (no more literals,
 * so no DateStyle of its own), one unit per segmentation method behind
 * one dispatch that rejects unknown methods; the KPI formulas are SQL
 * functions that compute_kpis and before_after share.
 */

\echo Use "ALTER EXTENSION segkpi UPDATE TO '0.6'" to load this file. \quit

-- names left unqualified resolve in pg_catalog only (see the install script)
SET LOCAL search_path = pg_catalog, pg_temp;

------------------------------------------------------------------------
-- Customer-level table: written only by its owner, adopted by it
------------------------------------------------------------------------

CREATE FUNCTION segkpi.check_writer(rel regclass)
    RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    owner_oid oid;
BEGIN
    SELECT c.relowner INTO owner_oid FROM pg_class c WHERE c.oid = rel;
    IF owner_oid IS NOT NULL
       AND (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = current_user::regrole)
       AND NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = owner_oid) THEN
        RAISE EXCEPTION 'a superuser may not write %, which belongs to role %', rel, owner_oid::regrole
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Triggers, rules or defaults its owner adds would run with superuser rights.',
                  HINT = format('Run this as %s (SET ROLE %s), or make a superuser own the table.',
                                owner_oid::regrole, owner_oid::regrole);
    END IF;
END
$$;
COMMENT ON FUNCTION segkpi.check_writer(regclass) IS
    'raises 42501 when a superuser would write a customer-level table that a role without superuser owns';

CREATE FUNCTION segkpi.lock_snapshots()
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
BEGIN
    BEGIN
        LOCK TABLE segkpi.snapshots IN SHARE ROW EXCLUSIVE MODE NOWAIT;
    EXCEPTION WHEN lock_not_available THEN
        RAISE NOTICE 'another segkpi.refresh is running; waiting for it to finish'
            USING DETAIL = 'A refresh, an erasure or a change of segkpi.snapshots holds its lock.';
        LOCK TABLE segkpi.snapshots IN SHARE ROW EXCLUSIVE MODE;
    END;
END
$$;
COMMENT ON FUNCTION segkpi.lock_snapshots() IS
    'waits for (and then blocks) any refresh, erasure or change of segkpi.snapshots until the transaction ends';

CREATE FUNCTION segkpi.adopt_customer_tables()
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    c record;
    acl aclitem[];
    orphans boolean;
BEGIN
    FOR c IN SELECT k.conrelid::regclass AS rel, k.conname FROM pg_constraint k
              WHERE k.contype = 'f' AND k.confrelid = 'segkpi.snapshots'::regclass
                AND k.conrelid IN (to_regclass('segkpi.customer_features'), to_regclass('segkpi.customer_segments'))
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.rel, c.conname);
    END LOOP;
    IF NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = 'segkpi.customer_features'::regclass
                      AND a.attname = 'segments' AND NOT a.attisdropped) THEN
        ALTER TABLE segkpi.customer_features ADD COLUMN segments text[];
    END IF;
    IF EXISTS (SELECT FROM pg_class WHERE oid = to_regclass('segkpi.customer_segments') AND relkind = 'r') THEN
        PERFORM segkpi.check_writer('segkpi.customer_segments');
        SELECT relacl INTO acl FROM pg_class WHERE oid = 'segkpi.customer_segments'::regclass;
        -- the snapshot's segmentations in name order, the order refresh uses
        UPDATE segkpi.snapshots sn
           SET segmentations = ARRAY(SELECT DISTINCT cs.segmentation FROM segkpi.customer_segments cs
                                      WHERE cs.snapshot_id = sn.snapshot_id ORDER BY 1)
         WHERE EXISTS (SELECT FROM segkpi.customer_segments cs WHERE cs.snapshot_id = sn.snapshot_id);
        UPDATE segkpi.customer_features f SET segments = x.segs
          FROM (SELECT f2.snapshot_id, f2.customer_id, array_agg(cs.segment ORDER BY u.ord) AS segs
                  FROM segkpi.snapshots sn
                  JOIN segkpi.customer_features f2 ON f2.snapshot_id = sn.snapshot_id
                 CROSS JOIN LATERAL unnest(sn.segmentations) WITH ORDINALITY AS u(segmentation, ord)
                  LEFT JOIN segkpi.customer_segments cs
                    ON cs.snapshot_id = f2.snapshot_id AND cs.segmentation = u.segmentation
                   AND cs.customer_id = f2.customer_id
                 GROUP BY 1, 2) x
         WHERE f.snapshot_id = x.snapshot_id AND f.customer_id = x.customer_id;
        DROP VIEW IF EXISTS segkpi.segment_migration, segkpi.rfm_grid;
        DROP TABLE segkpi.customer_segments;
        PERFORM segkpi.ensure_customer_tables(
            (SELECT a.atttypid::regtype FROM pg_attribute a
              WHERE a.attrelid = 'segkpi.customer_features'::regclass AND a.attname = 'customer_id'));
        FOR c IN SELECT e.grantee, e.privilege_type, e.is_grantable FROM aclexplode(acl) e
                  WHERE e.grantee <> (SELECT relowner FROM pg_class WHERE oid = 'segkpi.customer_features'::regclass)
        LOOP
            EXECUTE format('GRANT %s ON segkpi.customer_segments TO %s%s', c.privilege_type,
                           CASE WHEN c.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(c.grantee::regrole::text) END,
                           CASE WHEN c.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
        END LOOP;
    END IF;
    -- distinct snapshot numbers of the table, one index probe each
    WITH RECURSIVE ids(id) AS (
        SELECT min(snapshot_id) FROM segkpi.customer_features
        UNION ALL
        SELECT (SELECT min(f.snapshot_id) FROM segkpi.customer_features f WHERE f.snapshot_id > ids.id)
          FROM ids WHERE ids.id IS NOT NULL
    )
    SELECT EXISTS (SELECT FROM ids WHERE ids.id IS NOT NULL
                      AND NOT EXISTS (SELECT FROM segkpi.snapshots s WHERE s.snapshot_id = ids.id))
      INTO orphans;
    IF orphans THEN
        DELETE FROM segkpi.customer_features f
         WHERE NOT EXISTS (SELECT FROM segkpi.snapshots s WHERE s.snapshot_id = f.snapshot_id);
    END IF;
END
$$;
COMMENT ON FUNCTION segkpi.adopt_customer_tables() IS
    'brings a customer-level table of an older version or a dropped installation to the current shape, as its owner';

CREATE OR REPLACE FUNCTION segkpi.ensure_customer_tables(key_type regtype)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    cur regtype;
    v text;
BEGIN
    IF to_regclass('segkpi.customer_features') IS NOT NULL THEN
        PERFORM segkpi.check_writer('segkpi.customer_features');
        PERFORM segkpi.adopt_customer_tables();
    END IF;
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
        CREATE VIEW segkpi.segment_migration WITH (security_barrier = true) AS
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
        CREATE VIEW segkpi.rfm_grid WITH (security_barrier = true) AS
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
    -- views made before 0.6 filter small cells without being barriers
    FOREACH v IN ARRAY ARRAY['segkpi.segment_migration', 'segkpi.rfm_grid'] LOOP
        IF NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = v::regclass
                          AND 'security_barrier=true' = ANY (coalesce(c.reloptions, '{}'))) THEN
            EXECUTE format('ALTER VIEW %s SET (security_barrier = true)', v);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION segkpi.ensure_customer_tables(regtype) IS
    'creates the customer-level snapshot table (and its views) with the customer key type of the orders binding, or adopts an older one';

CREATE OR REPLACE FUNCTION segkpi.snapshots_cascade() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
BEGIN
    IF to_regclass('segkpi.customer_features') IS NOT NULL THEN
        PERFORM segkpi.check_writer('segkpi.customer_features');
        IF TG_OP = 'TRUNCATE' THEN
            TRUNCATE segkpi.customer_features;
        ELSE
            DELETE FROM segkpi.customer_features WHERE snapshot_id IN (SELECT snapshot_id FROM gone);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION segkpi.snapshots_cascade() IS
    'deleting or truncating snapshots removes their customer-level rows (the cascade a foreign key would do)';

CREATE OR REPLACE FUNCTION segkpi.erase_customer(customer anyelement)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    key_t regtype;
    n bigint;
    small bigint;
    kpi_rows bigint;
    model_rows bigint;
BEGIN
    PERFORM segkpi.lock_snapshots();
    SELECT a.atttypid::regtype INTO key_t FROM pg_attribute a
     WHERE a.attrelid = to_regclass('segkpi.customer_features') AND a.attname = 'customer_id';
    IF key_t IS NULL THEN
        RETURN 0;
    END IF;
    IF pg_typeof(customer) <> key_t THEN
        RAISE EXCEPTION 'customer has type %, but the customer key of segkpi.customer_features is %',
                        pg_typeof(customer), key_t
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    PERFORM segkpi.check_writer('segkpi.customer_features');
    SELECT greatest(s.min_segment_size, 2) INTO small FROM segkpi.settings s;
    CREATE TEMP TABLE segkpi_erased ON COMMIT DROP AS
    SELECT f.snapshot_id, u.segmentation, u.segment
      FROM segkpi.customer_features f
      JOIN segkpi.snapshots sn ON sn.snapshot_id = f.snapshot_id
     CROSS JOIN LATERAL unnest(sn.segmentations, f.segments) AS u(segmentation, segment)
     WHERE f.customer_id = customer AND u.segment IS NOT NULL;
    -- rows of customer_features plus the customer_segments rows they held
    EXECUTE 'WITH gone AS (DELETE FROM segkpi.customer_features WHERE customer_id = $1 RETURNING segments)
             SELECT count(*) + coalesce(sum(cardinality(array_remove(segments, NULL))), 0) FROM gone'
       INTO n USING customer;
    DELETE FROM segkpi.segment_kpis k
     USING (SELECT e.snapshot_id, e.segmentation, e.segment
              FROM segkpi_erased e JOIN segkpi.segment_kpis k2 USING (snapshot_id, segmentation, segment)
             GROUP BY 1, 2, 3 HAVING max(k2.customers) < small) s
     WHERE k.snapshot_id = s.snapshot_id AND k.segmentation = s.segmentation AND k.segment = s.segment;
    GET DIAGNOSTICS kpi_rows = ROW_COUNT;
    DELETE FROM segkpi.segment_models m
     USING segkpi_erased e
     WHERE m.snapshot_id = e.snapshot_id AND m.segmentation = e.segmentation
       AND EXISTS (SELECT FROM segkpi.kmeans_centroids(m.model) c
                    WHERE 'Cluster ' || c.cluster = e.segment AND c.size < small);
    GET DIAGNOSTICS model_rows = ROW_COUNT;
    DROP TABLE segkpi_erased;
    IF kpi_rows > 0 OR model_rows > 0 THEN
        RAISE NOTICE 'erase_customer: also removed % KPI rows and % k-means models of segments with fewer than % customers',
                     kpi_rows, model_rows, small;
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION segkpi.erase_customer(anyelement) IS
    'right to erasure: deletes a customer from every customer-level row segkpi keeps, and the KPI rows and k-means models of segments too small to hide them; returns the customer-level rows deleted (larger aggregates are not recomputed)';

------------------------------------------------------------------------
-- Refresh made of stages: one function per stage, one unit per
-- segmentation method, values passed as parameters, KPI formulas once
------------------------------------------------------------------------

-- replaced by versions that pass their values as parameters
DROP FUNCTION segkpi.rule_case(text, text, name[]);
DROP FUNCTION segkpi.rule_predicate(jsonb, text, name[]);
DROP FUNCTION segkpi.kmeans_feature_sql(segkpi.segmentations, segkpi.bindings, timestamptz);


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
    customers       bigint,
    snapshot_id     bigint
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
COMMENT ON COLUMN segkpi.refresh_run.customers IS 'customers found by the orders stage (NULL before it)';
COMMENT ON COLUMN segkpi.refresh_run.snapshot_id IS 'the snapshot, once the customers stage has written it (NULL before)';

CREATE FUNCTION segkpi.work_tables()
    RETURNS TABLE (name text, stage text, holds text)
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog
AS $$
    VALUES ('segkpi_btyd', 'predict_clv', 'BG/NBD summary of every customer'),
           ('segkpi_pred', 'predict_clv', 'P(alive) and predicted CLV of every customer'),
           ('segkpi_cust', 'orders', 'every customer: activity, its summary, acquisition, what the methods read (in_<i>)'),
           ('segkpi_fits', 'models', 'one row: the 5-bin RFM cut points (cuts) and each method''s fit (fit_<i>)'),
           ('segkpi_feat', 'segments', 'every customer: features, scores, segments (written to customer_features)'),
           ('segkpi_spend', 'sources', 'marketing spend by period, channel and target segment'),
           ('segkpi_fbs', 'sources', 'CSAT per segmentation, segment and period'),
           ('segkpi_preds', 'sources', 'mean predicted CLV and P(alive) per segmentation and segment'),
           ('segkpi_lead_groups', 'sources', 'leads counted per period and distinct attribute values'),
           ('segkpi_leads', 'sources', 'leads and conversions per segmentation, segment and period'),
           ('segkpi_cohorts', 'kpis', 'activity roll-ups per segmentation, segment, acquisition period and channel')
$$;
COMMENT ON FUNCTION segkpi.work_tables() IS 'the working tables of segkpi.refresh: name, the stage that writes it, what it holds';

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

CREATE OR REPLACE FUNCTION segkpi.drop_temp_tables()
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

CREATE FUNCTION segkpi.method_piece(piece text, seg segkpi.segmentations, i integer, run segkpi.refresh_run,
                                    INOUT vals text[], OUT sql text, OUT reads name[])
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    p record;
BEGIN
    IF piece IS NULL OR piece NOT IN ('inputs', 'leads', 'fit', 'keep', 'assign') THEN
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

    UPDATE segkpi.snapshots SET stages = stage_times WHERE snapshot_id = run.snapshot_id;
    RETURN run.snapshot_id;
END
$$;
COMMENT ON FUNCTION segkpi.refresh(timestamptz, boolean) IS
    'takes a snapshot of every active segmentation as of a time, in one transaction; returns the snapshot id';

CREATE FUNCTION segkpi.method_rfm(piece text, seg segkpi.segmentations, i integer, run segkpi.refresh_run,
                                  INOUT vals text[], OUT sql text, OUT reads name[])
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    bins integer := coalesce((seg.params ->> 'bins')::int, 5);
    ruleset text := coalesce(seg.params ->> 'ruleset', 'default');
BEGIN
    CASE piece
    WHEN 'inputs' THEN
        -- The segments stage and the cohorts each name the scores, reading
        -- the ruleset's rules in two statements: edits of a custom ruleset
        -- wait until this refresh commits, so both read the same rules
        -- ("default" cannot change).
        IF ruleset <> 'default' THEN
            LOCK TABLE segkpi.rfm_rules IN SHARE MODE;
        END IF;
    WHEN 'fit' THEN
        IF bins <> 5 THEN
            vals := vals || bins::text;
            sql := format('segkpi.rfm_cuts(ROW(first_order_at, last_order_at, orders, refunds, monetary)::segkpi.rfm_stats,
                                           $1, $3[%s]::integer)', cardinality(vals));
        END IF;
    WHEN 'assign' THEN
        IF bins <> 5 THEN
            vals := vals || ruleset;
            sql := format('coalesce((segkpi.rfm_apply(ROW(x.first_order_at, x.last_order_at, x.orders, x.refunds,
                                                          x.monetary)::segkpi.rfm_stats,
                                                      ($4).fit_%s, $3[%s])).segment, ''(unnamed)'')',
                          i, cardinality(vals));
        ELSIF ruleset = 'default' THEN
            sql := 'coalesce((x.s).segment, ''(unnamed)'')';
        ELSE
            vals := vals || ruleset;
            sql := format('coalesce(segkpi.rfm_segment((x.s).r, (x.s).f, (x.s).m, $3[%s]), ''(unnamed)'')',
                          cardinality(vals));
        END IF;
    ELSE
        NULL;  -- keep, leads: nothing to keep, no lead segments
    END CASE;
END
$$;
COMMENT ON FUNCTION segkpi.method_rfm(text, segkpi.segmentations, integer, segkpi.refresh_run, text[]) IS
    'the pieces of an RFM segmentation for the refresh stages (see segkpi.method_piece)';

CREATE FUNCTION segkpi.rule_predicate(conditions jsonb, alias text, b segkpi.bindings,
                                      INOUT vals text[], OUT sql text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    attr text;
    cond jsonb;
    v text;
    refs text[];
    parts text[] := '{}';
    typ regtype;
BEGIN
    FOR attr, cond IN SELECT * FROM jsonb_each(conditions) LOOP
        IF NOT attr::name = ANY (b.attributes) THEN
            RAISE EXCEPTION 'rule condition on "%", which is not a bound attribute', attr
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('Bound attributes: %s.', coalesce(array_to_string(b.attributes, ', '), 'none'));
        END IF;
        IF jsonb_typeof(cond) = 'array' THEN
            -- listed values compare as text; a JSON null in the list matches nothing
            refs := '{}';
            FOR v IN SELECT e FROM jsonb_array_elements_text(cond) e WHERE e IS NOT NULL LOOP
                vals := vals || v;
                refs := refs || format('$3[%s]', cardinality(vals));
            END LOOP;
            parts := parts || format('%I.%I::text IN (%s)', alias, attr,
                                     CASE WHEN cardinality(refs) = 0 THEN 'NULL' ELSE array_to_string(refs, ', ') END);
        ELSIF jsonb_typeof(cond) = 'object' AND (cond ? 'min' OR cond ? 'max') THEN
            -- A bound is read by the input function of the attribute's type,
            -- as a literal compared with the attribute would be; in a
            -- subquery, because some input functions (dates, enums) are only
            -- STABLE: the planner would otherwise convert the bound once per row.
            typ := segkpi.binding_column_type(b.relation, attr::name, 'rule attribute', NULL);
            IF cond ? 'min' THEN
                vals := vals || (cond ->> 'min');
                parts := parts || format('%I.%I >= (SELECT $3[%s]::%s)', alias, attr, cardinality(vals), typ);
            END IF;
            IF cond ? 'max' THEN
                vals := vals || (cond ->> 'max');
                parts := parts || format('%I.%I <= (SELECT $3[%s]::%s)', alias, attr, cardinality(vals), typ);
            END IF;
        ELSE
            RAISE EXCEPTION 'rule condition on "%" must be a list of values or {"min": .., "max": ..}', attr
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    sql := CASE WHEN cardinality(parts) = 0 THEN 'true' ELSE array_to_string(parts, ' AND ') END;
END
$$;
COMMENT ON FUNCTION segkpi.rule_predicate(jsonb, text, segkpi.bindings, text[]) IS
    'SQL condition of a rule over bound attributes (quoted names; its values appended to vals, read as $3[n])';

CREATE FUNCTION segkpi.rule_case(segmentation text, alias text, b segkpi.bindings,
                                 INOUT vals text[], OUT sql text, OUT reads name[])
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    r record;
    cond text;
BEGIN
    sql := 'CASE';
    FOR r IN SELECT * FROM segkpi.segment_rules sr WHERE sr.segmentation = rule_case.segmentation ORDER BY rule_order LOOP
        SELECT p.vals, p.sql INTO vals, cond FROM segkpi.rule_predicate(r.conditions, alias, b, vals) p;
        vals := vals || r.segment;
        sql := sql || format(' WHEN %s THEN $3[%s]', cond, cardinality(vals));
    END LOOP;
    sql := sql || ' ELSE ''Other'' END';
    reads := ARRAY(SELECT DISTINCT k::name FROM segkpi.segment_rules sr, jsonb_object_keys(sr.conditions) k
                    WHERE sr.segmentation = rule_case.segmentation ORDER BY 1);
END
$$;
COMMENT ON FUNCTION segkpi.rule_case(text, text, segkpi.bindings, text[]) IS
    'CASE expression of a rule segmentation (first matching rule, else Other) and the attributes it reads';

CREATE FUNCTION segkpi.method_rules(piece text, seg segkpi.segmentations, i integer, run segkpi.refresh_run,
                                    INOUT vals text[], OUT sql text, OUT reads name[])
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
BEGIN
    CASE piece
    WHEN 'inputs' THEN
        IF run.bound_customers IS NULL THEN
            RAISE EXCEPTION 'rule segmentation "%" needs bound customers', seg.name
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Call segkpi.bind_customers(..., attributes => ...) first.';
        END IF;
        -- The rules are read here for the customers and again for the
        -- leads: edits wait until this refresh commits, so both see the
        -- same rules.
        LOCK TABLE segkpi.segment_rules IN SHARE MODE;
        SELECT c.vals, c.sql, c.reads INTO vals, sql, reads
          FROM segkpi.rule_case(seg.name, 'c', run.bound_customers, vals) c;
    WHEN 'assign' THEN
        sql := format('x.in_%s', i);
    WHEN 'leads' THEN
        IF run.bound_leads IS NOT NULL THEN
            SELECT c.vals, c.sql, c.reads INTO vals, sql, reads
              FROM segkpi.rule_case(seg.name, 'l', run.bound_leads, vals) c;
        END IF;
    ELSE
        NULL;  -- fit, keep: the rules are the model
    END CASE;
END
$$;
COMMENT ON FUNCTION segkpi.method_rules(text, segkpi.segmentations, integer, segkpi.refresh_run, text[]) IS
    'the pieces of a rule segmentation for the refresh stages (see segkpi.method_piece)';

CREATE FUNCTION segkpi.kmeans_feature_sql(seg segkpi.segmentations, bc segkpi.bindings,
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
            WHEN 'recency_days' THEN 'extract(epoch FROM $1 - coalesce(t.last_order_at, t.first_row_at))::float8 / 86400'
            WHEN 'tenure_days' THEN 'extract(epoch FROM $1 - a.acquired_at)::float8 / 86400'
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
COMMENT ON FUNCTION segkpi.kmeans_feature_sql(segkpi.segmentations, segkpi.bindings) IS
    'feature array of a k-means segmentation as SQL over the refresh''s per-customer query';

CREATE FUNCTION segkpi.method_kmeans(piece text, seg segkpi.segmentations, i integer, run segkpi.refresh_run,
                                     INOUT vals text[], OUT sql text, OUT reads name[])
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    k integer;
    seed bigint;
    transform segkpi.kmeans_transform;
    restarts integer;
BEGIN
    CASE piece
    WHEN 'inputs' THEN
        sql := (segkpi.kmeans_feature_sql(seg, run.bound_customers)).feature_sql;
    WHEN 'fit' THEN
        IF run.customers = 0 THEN
            -- nothing to fit; assign still names the (absent) model
            sql := 'NULL::segkpi.kmeans_model';
        ELSE
            -- checked here, so that a bad parameter names its type
            k := coalesce((seg.params ->> 'k')::int, 4);
            seed := coalesce((seg.params ->> 'seed')::bigint, 0);
            transform := coalesce(seg.params ->> 'transform', 'log_zscore')::segkpi.kmeans_transform;
            restarts := coalesce((seg.params ->> 'restarts')::int, 3);
            vals := vals || ARRAY[k::text, seed::text, transform::text, restarts::text];
            -- (the transform in a subquery: the enum's input function is
            -- only STABLE, so a cast of the parameter would run per row)
            sql := format('segkpi.kmeans(in_%1$s, $3[%2$s]::integer, $3[%3$s]::bigint,
                                         (SELECT $3[%4$s]::segkpi.kmeans_transform), $3[%5$s]::integer)
                               FILTER (WHERE array_position(in_%1$s, NULL) IS NULL)',
                          i, cardinality(vals) - 3, cardinality(vals) - 2, cardinality(vals) - 1, cardinality(vals));
        END IF;
    WHEN 'keep' THEN
        IF run.customers > 0 THEN
            EXECUTE format('INSERT INTO segkpi.segment_models SELECT $1, $2, $3, f.%I FROM segkpi_fits f', 'fit_' || i)
              USING run.snapshot_id, seg.name,
                    ARRAY(SELECT jsonb_array_elements_text(
                              coalesce(seg.params -> 'features', '["recency_days", "frequency", "monetary"]')));
        END IF;
    WHEN 'assign' THEN
        sql := format('CASE WHEN array_position(x.in_%1$s, NULL) IS NULL
                            THEN ''Cluster '' || segkpi.kmeans_assign(($4).fit_%1$s, x.in_%1$s)
                            ELSE ''(no features)'' END', i);
    ELSE
        NULL;  -- leads: no lead segments
    END CASE;
END
$$;
COMMENT ON FUNCTION segkpi.method_kmeans(text, segkpi.segmentations, integer, segkpi.refresh_run, text[]) IS
    'the pieces of a k-means segmentation for the refresh stages (see segkpi.method_piece)';

CREATE FUNCTION segkpi.stage_orders(run segkpi.refresh_run, inputs text, vals text[])
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    SET enable_indexscan = off
    SET enable_sort = off
    SET parallel_leader_participation = off
    SET enable_nestloop = off
    SET DateStyle = 'ISO, MDY'
AS $$
DECLARE
    bo segkpi.bindings := run.bound_orders;
    bc segkpi.bindings := run.bound_customers;
    ncust bigint;
BEGIN
    EXECUTE segkpi.work_table('segkpi_cust') || format($q$
        SELECT t.customer_id, t.first_row_at, t.first_order_at, t.last_order_at, t.orders, t.refunds,
               t.revenue AS monetary, t.cost, a.acquired_at,
               date_trunc($2, a.acquired_at)::date AS acq_period, %2$s AS channel, t.act %4$s
          FROM (SELECT r.customer_id, r.act, (r.s).first_row_at, (r.s).first_order_at, (r.s).last_order_at,
                       (r.s).orders, (r.s).refunds, (r.s).revenue, (r.s).cost
                  FROM (SELECT k.customer_id, k.act, segkpi.activity_summary(k.act) AS s
                          FROM (SELECT (x).customer AS customer_id, (x).activity AS act
                                  FROM (SELECT segkpi.activities(NULL::%5$s, $4, $5, $6, $7, $8, $2, $1) AS x) y
                                 WHERE (x).activity IS NOT NULL) k
                        OFFSET 0) r) t
          %3$s
         CROSS JOIN LATERAL (SELECT coalesce(%1$s, t.first_order_at, t.first_row_at) AS acquired_at) a$q$,
        CASE WHEN bc.columns ? 'acquired_at' THEN format('c.%I::timestamptz', bc.columns ->> 'acquired_at')
             ELSE 'NULL::timestamptz' END,
        CASE WHEN bc.columns ? 'channel' THEN format('c.%I::text', bc.columns ->> 'channel') ELSE 'NULL::text' END,
        CASE WHEN bc IS NULL THEN ''
             ELSE format('LEFT JOIN %s c ON c.%I = t.customer_id', bc.relation, bc.columns ->> 'customer') END,
        inputs,
        (SELECT a.atttypid::regtype FROM pg_attribute a
          WHERE a.attrelid = bo.relation AND a.attname = bo.columns ->> 'customer'))
      USING run.as_of, run.grain, vals, bo.relation, (bo.columns ->> 'customer')::name,
            (bo.columns ->> 'ordered_at')::name, (bo.columns ->> 'amount')::name, (bo.columns ->> 'cost')::name;
    GET DIAGNOSTICS ncust = ROW_COUNT;
    -- NaN or infinite amounts and times were rejected by activities (22000, 22008)
    RETURN ncust;
END
$$;
COMMENT ON FUNCTION segkpi.stage_orders(segkpi.refresh_run, text, text[]) IS
    'refresh stage "orders": every customer''s activity, summary, acquisition and method inputs into segkpi_cust; returns the customers';

CREATE FUNCTION segkpi.stage_customers(run segkpi.refresh_run, segs segkpi.segmentations[])
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    sid bigint;
BEGIN
    ANALYZE segkpi_cust (customer_id, acq_period, channel);
    INSERT INTO segkpi.snapshots (as_of, timezone, period_grain, customers, segmentations)
    VALUES (run.as_of, current_setting('TimeZone'), run.grain, run.customers,
            ARRAY(SELECT (s).name FROM unnest(segs) s))
    RETURNING snapshot_id INTO sid;
    RETURN sid;
END
$$;
COMMENT ON FUNCTION segkpi.stage_customers(segkpi.refresh_run, segkpi.segmentations[]) IS
    'refresh stage "customers": statistics of segkpi_cust and the snapshot row; returns the snapshot id';

CREATE FUNCTION segkpi.stage_models(run segkpi.refresh_run, segs segkpi.segmentations[],
                                    INOUT vals text[], OUT assign text[])
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    fits text := 'segkpi.rfm_cuts(ROW(first_order_at, last_order_at, orders, refunds, monetary)::segkpi.rfm_stats,
                                  $1) AS cuts';
    p record;
    i integer;
BEGIN
    FOR i IN 1 .. coalesce(cardinality(segs), 0) LOOP
        SELECT * INTO p FROM segkpi.method_piece('fit', segs[i], i, run, vals);
        vals := p.vals;
        IF p.sql IS NOT NULL THEN
            fits := fits || format(', %s AS fit_%s', p.sql, i);
        END IF;
    END LOOP;
    EXECUTE segkpi.work_table('segkpi_fits') || 'SELECT ' || fits || ' FROM segkpi_cust'
      USING run.as_of, run.grain, vals;
    assign := '{}';
    FOR i IN 1 .. coalesce(cardinality(segs), 0) LOOP
        PERFORM segkpi.method_piece('keep', segs[i], i, run, vals);
        SELECT * INTO p FROM segkpi.method_piece('assign', segs[i], i, run, vals);
        vals := p.vals;
        assign := assign || p.sql;
    END LOOP;
END
$$;
COMMENT ON FUNCTION segkpi.stage_models(segkpi.refresh_run, segkpi.segmentations[], text[]) IS
    'refresh stage "models": RFM cut points and every method''s fit in one pass into segkpi_fits; returns the segment expressions';

CREATE FUNCTION segkpi.stage_segments(run segkpi.refresh_run, assign text[], vals text[])
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    q record := segkpi.segments_sql(assign);
    predicted boolean := to_regclass('pg_temp.segkpi_pred') IS NOT NULL;
BEGIN
    EXECUTE segkpi.work_table('segkpi_feat') || format($q$
        SELECT x.customer_id, x.first_row_at, x.acquired_at, x.first_order_at, x.last_order_at, x.orders,
               x.refunds, x.monetary, x.cost, (x.s).recency_days, (x.s).r, (x.s).f, (x.s).m,
               %2$s, %1$s::text[] AS segments
          FROM %3$s
          %4$s$q$,
        q.segments,
        CASE WHEN predicted THEN 'p.p_alive, p.clv AS clv_predicted'
             ELSE 'NULL::float8 AS p_alive, NULL::float8 AS clv_predicted' END,
        q.customer_rows,
        CASE WHEN predicted THEN 'LEFT JOIN segkpi_pred p ON p.customer_id = x.customer_id' ELSE '' END)
      USING run.as_of, run.grain, vals, (SELECT f FROM segkpi_fits f);
    ANALYZE segkpi_feat (customer_id);
    INSERT INTO segkpi.customer_features
        (snapshot_id, customer_id, acquired_at, first_order_at, last_order_at, orders, refunds, monetary, cost,
         recency_days, r, f, m, p_alive, clv_predicted, segments)
    SELECT run.snapshot_id, f.customer_id, f.acquired_at, f.first_order_at, f.last_order_at, f.orders, f.refunds,
           f.monetary, f.cost, f.recency_days, f.r, f.f, f.m, f.p_alive, f.clv_predicted, f.segments
      FROM segkpi_feat f
     ORDER BY f.customer_id;
END
$$;
COMMENT ON FUNCTION segkpi.stage_segments(segkpi.refresh_run, text[], text[]) IS
    'refresh stage "segments": every customer''s features, scores and segments into segkpi_feat and customer_features';

CREATE FUNCTION segkpi.stage_sources(run segkpi.refresh_run, leads text[], lead_reads name[], vals text[])
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    SET DateStyle = 'ISO, MDY'
AS $$
DECLARE
    bs segkpi.bindings := run.bound_spend;
    bf segkpi.bindings := run.bound_feedback;
    bl segkpi.bindings := run.bound_leads;
    n integer := cardinality(leads);  -- one per segmentation
    g record;
    i integer;
    lead_attrs name[];
    lead_keys text := '';
    lead_nkeys integer := 0;
    lead_src text;
    lead_period text;
    lead_n text;
    lead_conv text;
BEGIN
    EXECUTE segkpi.work_table('segkpi_spend') || format($q$
        SELECT date_trunc($2, s.%1$I::timestamptz)::date AS period, %2$s AS channel, %3$s AS target,
               s.%4$I::numeric AS amount
          FROM %5$s s WHERE s.%1$I::timestamptz < $1 AND s.%4$I IS NOT NULL$q$,
        coalesce(bs.columns ->> 'spent_on', 'day'),
        CASE WHEN bs.columns ? 'channel' THEN format('s.%I::text', bs.columns ->> 'channel') ELSE 'NULL::text' END,
        CASE WHEN bs.columns ? 'target_segment' THEN format('s.%I::text', bs.columns ->> 'target_segment')
             ELSE 'NULL::text' END,
        coalesce(bs.columns ->> 'amount', 'amount'),
        CASE WHEN bs IS NULL THEN '(SELECT NULL::date AS day, NULL::numeric AS amount WHERE false)'
             ELSE bs.relation::text END)
      USING run.as_of, run.grain;

    -- feedback per segment and period, each answer joined to its customer
    -- (summing per customer first cost a second pass and a table), then
    -- summed per distinct segments and period: a few thousand groups,
    -- which the grouping sets read instead of every answer (the planner
    -- cannot tell how few segments there are, and sorted the answers)
    g := segkpi.grouping_sql(n, 'a.period', true);
    EXECUTE segkpi.work_table('segkpi_fbs') || format($q$
        SELECT %1$s AS segmentation, %2$s AS segment, a.period,
               segkpi.kpi_csat(sum(a.score), sum(a.n)) AS csat, sum(a.n)::bigint AS n
          FROM (SELECT a.segments, f.period, sum(f.score) AS score, count(*) AS n
                  FROM %4$s f JOIN segkpi_feat a USING (customer_id)
                 GROUP BY 1, 2) a
         GROUP BY GROUPING SETS (%3$s)$q$,
        g.segmentation, g.segment, g.sets,
        CASE WHEN bf IS NULL
             THEN '(SELECT k.customer_id, NULL::date AS period, NULL::numeric AS score
                      FROM segkpi_feat k WHERE false)'
             ELSE format('(SELECT f.%1$I AS customer_id, date_trunc($2, f.%2$I::timestamptz)::date AS period,
                                  f.%3$I::numeric AS score
                             FROM %4$s f WHERE f.%2$I::timestamptz < $1 AND f.%3$I IS NOT NULL)',
                         bf.columns ->> 'customer', bf.columns ->> 'answered_at', bf.columns ->> 'score',
                         bf.relation) END)
      USING run.as_of, run.grain, vals;

    -- without predictions, no scan ($4 is false)
    g := segkpi.grouping_sql(n, '', true);
    EXECUTE segkpi.work_table('segkpi_preds') || format($q$
        SELECT %1$s AS segmentation, %2$s AS segment, avg(a.clv_predicted) AS clv, avg(a.p_alive) AS p_alive
          FROM segkpi_feat a WHERE a.p_alive IS NOT NULL AND $4
         GROUP BY GROUPING SETS (%3$s)$q$,
        g.segmentation, g.segment, g.sets)
      USING run.as_of, run.grain, vals, run.predict_clv;

    -- Leads are named by the segmentations that name them (their methods'
    -- lead pieces), from their own attributes; counted per distinct
    -- attribute values first when those can be grouped.
    EXECUTE segkpi.work_table('segkpi_leads') || 'SELECT NULL::text AS segmentation, NULL::text AS segment,
        NULL::date AS period, NULL::bigint AS n, NULL::bigint AS converted WHERE false';
    IF NOT EXISTS (SELECT FROM unnest(leads) l WHERE l IS NOT NULL) THEN
        RETURN;
    END IF;
    lead_attrs := ARRAY(SELECT DISTINCT a FROM unnest(lead_reads) a ORDER BY 1);
    -- Values equal under the type's equality may differ as text (1.0 and
    -- 1.00), and list conditions compare text: such attributes are
    -- grouped by their text too, so every lead of a group meets the same
    -- conditions.
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
        PERFORM segkpi.stage_lead_groups(run, lead_keys, lead_nkeys);
        lead_src := 'segkpi_lead_groups l';
        lead_period := 'l._sk_period';
        lead_n := 'l._sk_n';
        lead_conv := 'l._sk_converted';
    ELSE
        lead_src := format('%s l WHERE l.%I::timestamptz < $1', bl.relation, bl.columns ->> 'created_at');
        lead_period := format('date_trunc($2, l.%I::timestamptz)::date', bl.columns ->> 'created_at');
        lead_n := '1';
        lead_conv := format('(l.%1$I IS NOT NULL AND l.%1$I::timestamptz < $1)::int', bl.columns ->> 'converted_at');
    END IF;
    FOR i IN 1 .. n LOOP
        CONTINUE WHEN leads[i] IS NULL;
        EXECUTE format($q$
            INSERT INTO segkpi_leads
            SELECT $3[%1$s], coalesce(segment, '(all)'), period, sum(n), sum(converted)
              FROM (SELECT %3$s AS period, %2$s AS segment, %4$s AS n, %5$s AS converted FROM %6$s) x
             GROUP BY GROUPING SETS ((segment, period), (period))$q$,
            i, leads[i], lead_period, lead_n, lead_conv, lead_src)
          USING run.as_of, run.grain, vals;
    END LOOP;
END
$$;
COMMENT ON FUNCTION segkpi.stage_sources(segkpi.refresh_run, text[], name[], text[]) IS
    'refresh stage "sources": spend, feedback, predictions and leads per segmentation and segment';

CREATE FUNCTION segkpi.stage_lead_groups(run segkpi.refresh_run, keys text, nkeys integer)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    SET parallel_setup_cost = 0
    SET parallel_tuple_cost = 0
AS $$
DECLARE
    bl segkpi.bindings := run.bound_leads;
BEGIN
    EXECUTE segkpi.work_table('segkpi_lead_groups') || format($q$
        SELECT date_trunc($2, l.%1$I::timestamptz)::date AS _sk_period %4$s, count(*) AS _sk_n,
               count(*) FILTER (WHERE l.%2$I IS NOT NULL AND l.%2$I::timestamptz < $1) AS _sk_converted
          FROM %3$s l WHERE l.%1$I::timestamptz < $1
         GROUP BY %5$s$q$,
        bl.columns ->> 'created_at', bl.columns ->> 'converted_at', bl.relation, keys,
        array_to_string(ARRAY(SELECT g FROM generate_series(1, nkeys + 1) g), ', '))
      USING run.as_of, run.grain;
END
$$;
COMMENT ON FUNCTION segkpi.stage_lead_groups(segkpi.refresh_run, text, integer) IS
    'part of refresh stage "sources": leads counted per period and distinct attribute values into segkpi_lead_groups';

CREATE FUNCTION segkpi.stage_kpis(run segkpi.refresh_run, segs segkpi.segmentations[], assign text[],
                                  with_leads boolean[], vals text[])
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    n integer := coalesce(cardinality(segs), 0);
    -- not over all customers: compute_kpis sums a segmentation's groups for "(all)"
    g record := segkpi.grouping_sql(n, 'a.acq_period, a.channel', n = 0);
    q record := segkpi.segments_sql(assign);
    i integer;
BEGIN
    EXECUTE segkpi.work_table('segkpi_cohorts') || format($q$
        SELECT %1$s AS segmentation, %2$s AS segment, a.acq_period, a.channel, count(*) AS n,
               segkpi.activity_rollup(a.act, $5) AS r
          FROM (SELECT %4$s::text[] AS segments, x.acq_period, x.channel, x.act FROM %5$s OFFSET 0) a
         GROUP BY GROUPING SETS (%3$s)$q$,
        g.segmentation, g.segment, g.sets, q.segments, q.customer_rows)
      USING run.as_of, run.grain, vals, (SELECT f FROM segkpi_fits f), run.period_months;
    DROP TABLE segkpi_cust;
    FOR i IN 1 .. n LOOP
        PERFORM segkpi.compute_kpis(run.snapshot_id, (segs[i]).name, with_leads[i], run.grain,
                                    make_interval(months => run.period_months), run.as_of,
                                    run.bound_feedback IS NOT NULL, run.bound_spend IS NOT NULL);
    END LOOP;
END
$$;
COMMENT ON FUNCTION segkpi.stage_kpis(segkpi.refresh_run, segkpi.segmentations[], text[], boolean[], text[]) IS
    'refresh stage "kpis": cohort roll-ups of every segmentation into segkpi_cohorts, then compute_kpis for each';

CREATE OR REPLACE FUNCTION segkpi.predict_clv(bo segkpi.bindings, as_of timestamptz, cfg segkpi.settings)
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

CREATE FUNCTION segkpi.kpi_ratio(num numeric, den numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN num / nullif(den, 0);
COMMENT ON FUNCTION segkpi.kpi_ratio(numeric, numeric) IS
    'num / den, NULL when den is 0 (every ratio KPI divides through this)';

CREATE FUNCTION segkpi.kpi_share(customers numeric, all_customers numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN segkpi.kpi_ratio(customers, all_customers);
COMMENT ON FUNCTION segkpi.kpi_share(numeric, numeric) IS 'share: customers of a segment / customers of all segments';

CREATE FUNCTION segkpi.kpi_aov(revenue numeric, orders numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN segkpi.kpi_ratio(revenue, orders);
COMMENT ON FUNCTION segkpi.kpi_aov(numeric, numeric) IS 'average order value: revenue / orders';

CREATE FUNCTION segkpi.kpi_purchase_frequency(orders numeric, active_customers numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN segkpi.kpi_ratio(orders, active_customers);
COMMENT ON FUNCTION segkpi.kpi_purchase_frequency(numeric, numeric) IS
    'purchase frequency: orders / customers active in the period';

CREATE FUNCTION segkpi.kpi_retention_rate(retained numeric, previously_active numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN segkpi.kpi_ratio(retained, previously_active);
COMMENT ON FUNCTION segkpi.kpi_retention_rate(numeric, numeric) IS
    'retention rate: customers active in the previous period and this one / customers active in the previous period';

CREATE FUNCTION segkpi.kpi_churn_rate(retained numeric, previously_active numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 1 - segkpi.kpi_retention_rate(retained, previously_active);
COMMENT ON FUNCTION segkpi.kpi_churn_rate(numeric, numeric) IS 'churn rate: 1 - retention rate';

CREATE FUNCTION segkpi.kpi_cac(spend numeric, new_customers numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN segkpi.kpi_ratio(spend, new_customers);
COMMENT ON FUNCTION segkpi.kpi_cac(numeric, numeric) IS 'customer acquisition cost: attributed spend / new customers';

CREATE FUNCTION segkpi.kpi_conversion_rate(converted numeric, leads numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN segkpi.kpi_ratio(converted, leads);
COMMENT ON FUNCTION segkpi.kpi_conversion_rate(numeric, numeric) IS
    'conversion rate: leads created in the period and converted before as_of / leads created in the period';

CREATE FUNCTION segkpi.kpi_cltv_historical(margin numeric, customers numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN segkpi.kpi_ratio(margin, customers);
COMMENT ON FUNCTION segkpi.kpi_cltv_historical(numeric, numeric) IS
    'historical CLTV: gross margin to date / customers acquired to date';

CREATE FUNCTION segkpi.kpi_cltv_formula(aov numeric, purchase_frequency numeric, retention_rate numeric,
                                        revenue numeric, cost numeric, periods_per_year integer)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN aov * purchase_frequency * periods_per_year / nullif(1 - power(retention_rate, periods_per_year), 0)
       * (revenue - cost) / nullif(revenue, 0);
COMMENT ON FUNCTION segkpi.kpi_cltv_formula(numeric, numeric, numeric, numeric, numeric, integer) IS
    'formula CLTV: AOV x yearly purchase frequency x expected lifespan in years (1 / yearly churn) x margin ratio';

CREATE FUNCTION segkpi.kpi_roi(revenue numeric, cost numeric, spend numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN segkpi.kpi_ratio(revenue - cost - spend, cost + spend);
COMMENT ON FUNCTION segkpi.kpi_roi(numeric, numeric, numeric) IS
    'ROI: (revenue - cost - attributed spend) / (cost + attributed spend)';

CREATE FUNCTION segkpi.kpi_marketing_roi(revenue numeric, cost numeric, spend numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN segkpi.kpi_ratio(revenue - cost - spend, spend);
COMMENT ON FUNCTION segkpi.kpi_marketing_roi(numeric, numeric, numeric) IS
    'marketing ROI: (revenue - cost - attributed spend) / attributed spend';

CREATE FUNCTION segkpi.kpi_csat(score_sum numeric, answers numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN segkpi.kpi_ratio(score_sum, answers);
COMMENT ON FUNCTION segkpi.kpi_csat(numeric, numeric) IS 'CSAT: sum of feedback scores / answers';

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
               segkpi.kpi_aov(b.revenue, b.orders) AS aov,
               segkpi.kpi_purchase_frequency(b.orders, b.active) AS frequency,
               segkpi.kpi_retention_rate(b.retained, b.prev_active) AS retention
          FROM base b
    )
    SELECT sid, r.segmentation, r.segment, r.period_start, r.period_end,
           r.customers,
           segkpi.kpi_share(r.customers, max(r.customers) FILTER (WHERE r.segment = '(all)')
                                         OVER (PARTITION BY r.period_start)),
           r.active, r.new_customers, r.orders, r.revenue, r.cost, r.aov, r.frequency,
           r.retention, segkpi.kpi_churn_rate(r.retained, r.prev_active),
           CASE WHEN with_spend THEN r.spend END,
           CASE WHEN with_spend THEN segkpi.kpi_cac(r.spend, r.new_customers) END,
           CASE WHEN with_leads THEN coalesce(r.leads, 0) END,
           CASE WHEN with_leads THEN coalesce(r.converted, 0) END,
           CASE WHEN with_leads THEN segkpi.kpi_conversion_rate(r.converted, r.leads) END,
           segkpi.kpi_cltv_historical(r.margin, r.customers),
           segkpi.kpi_cltv_formula(r.aov, r.frequency, r.retention, r.revenue, r.cost, ppy),
           CASE WHEN with_spend THEN segkpi.kpi_roi(r.revenue, r.cost, r.spend) END,
           CASE WHEN with_spend THEN segkpi.kpi_marketing_roi(r.revenue, r.cost, r.spend) END,
           r.csat, r.answers,
           r.prev_active, r.retained,
           r.clv_pred, r.p_alive
      FROM ratios r;
END
$$;
COMMENT ON FUNCTION segkpi.compute_kpis(bigint, text, boolean, text, interval, timestamptz, boolean, boolean) IS
    'KPIs of one segmentation and snapshot for every period (used by segkpi.refresh)';

CREATE OR REPLACE VIEW segkpi.before_after AS
WITH totals AS (
    SELECT k.*, k.period_start >= st.launch_date AS after
      FROM segkpi.segment_kpis k, segkpi.settings st
     WHERE st.launch_date IS NOT NULL AND k.segment = '(all)'
       AND k.snapshot_id = (SELECT max(snapshot_id) FROM segkpi.snapshots)
       AND k.segmentation = (SELECT min(segmentation) FROM segkpi.segment_kpis WHERE snapshot_id = k.snapshot_id)
),
sides AS (
    SELECT after,
           segkpi.kpi_cac(sum(attributed_spend), sum(new_customers)) AS cac,
           segkpi.kpi_aov(sum(revenue), sum(orders)) AS aov,
           segkpi.kpi_retention_rate(sum(retained), sum(previously_active)) AS retention_rate,
           segkpi.kpi_churn_rate(sum(retained), sum(previously_active)) AS churn_rate,
           (array_agg(cltv_historical ORDER BY period_start DESC))[1] AS cltv_historical,
           segkpi.kpi_roi(sum(revenue), sum(cost), sum(attributed_spend)) AS roi,
           segkpi.kpi_marketing_roi(sum(revenue), sum(cost), sum(attributed_spend)) AS marketing_roi,
           segkpi.kpi_csat(sum(csat * feedback_answers), sum(feedback_answers)) AS csat,
           sum(revenue) / count(*) AS revenue_per_period
      FROM totals GROUP BY after
),
metrics AS (
    SELECT m.ord, m.metric, s.after, m.value
      FROM sides s,
           LATERAL (VALUES (1, 'CAC', s.cac), (2, 'AOV', s.aov), (3, 'retention rate', s.retention_rate),
                           (4, 'churn rate', s.churn_rate), (5, 'CLTV (historical)', s.cltv_historical),
                           (6, 'ROI', s.roi), (7, 'marketing ROI', s.marketing_roi), (8, 'CSAT', s.csat),
                           (9, 'revenue per period', s.revenue_per_period)) m(ord, metric, value)
)
SELECT b.metric, round(b.value, 4) AS before_segmentation, round(a.value, 4) AS after_segmentation,
       round(a.value - b.value, 4) AS change,
       round(100 * (a.value - b.value) / nullif(abs(b.value), 0), 1) AS impact_percent
  FROM metrics b JOIN metrics a ON a.ord = b.ord AND a.after AND NOT b.after
 ORDER BY b.ord;

-- the new internal functions, as the older ones: not an interface
REVOKE EXECUTE ON FUNCTION
    segkpi.rule_predicate(jsonb, text, segkpi.bindings, text[]),
    segkpi.rule_case(text, text, segkpi.bindings, text[]),
    segkpi.work_tables(),
    segkpi.work_table(text),
    segkpi.method_piece(text, segkpi.segmentations, integer, segkpi.refresh_run, text[]),
    segkpi.method_rfm(text, segkpi.segmentations, integer, segkpi.refresh_run, text[]),
    segkpi.method_rules(text, segkpi.segmentations, integer, segkpi.refresh_run, text[]),
    segkpi.method_kmeans(text, segkpi.segmentations, integer, segkpi.refresh_run, text[]),
    segkpi.grouping_sql(integer, text, boolean),
    segkpi.segments_sql(text[]),
    segkpi.stage_orders(segkpi.refresh_run, text, text[]),
    segkpi.stage_customers(segkpi.refresh_run, segkpi.segmentations[]),
    segkpi.stage_models(segkpi.refresh_run, segkpi.segmentations[], text[]),
    segkpi.stage_segments(segkpi.refresh_run, text[], text[]),
    segkpi.stage_sources(segkpi.refresh_run, text[], name[], text[]),
    segkpi.stage_lead_groups(segkpi.refresh_run, text, integer),
    segkpi.stage_kpis(segkpi.refresh_run, segkpi.segmentations[], text[], boolean[], text[]),
    segkpi.kmeans_feature_sql(segkpi.segmentations, segkpi.bindings)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    segkpi.rule_predicate(jsonb, text, segkpi.bindings, text[]),
    segkpi.rule_case(text, text, segkpi.bindings, text[]),
    segkpi.work_tables(),
    segkpi.work_table(text),
    segkpi.method_piece(text, segkpi.segmentations, integer, segkpi.refresh_run, text[]),
    segkpi.method_rfm(text, segkpi.segmentations, integer, segkpi.refresh_run, text[]),
    segkpi.method_rules(text, segkpi.segmentations, integer, segkpi.refresh_run, text[]),
    segkpi.method_kmeans(text, segkpi.segmentations, integer, segkpi.refresh_run, text[]),
    segkpi.grouping_sql(integer, text, boolean),
    segkpi.segments_sql(text[]),
    segkpi.stage_orders(segkpi.refresh_run, text, text[]),
    segkpi.stage_customers(segkpi.refresh_run, segkpi.segmentations[]),
    segkpi.stage_models(segkpi.refresh_run, segkpi.segmentations[], text[]),
    segkpi.stage_segments(segkpi.refresh_run, text[], text[]),
    segkpi.stage_sources(segkpi.refresh_run, text[], name[], text[]),
    segkpi.stage_lead_groups(segkpi.refresh_run, text, integer),
    segkpi.stage_kpis(segkpi.refresh_run, segkpi.segmentations[], text[], boolean[], text[]),
    segkpi.kmeans_feature_sql(segkpi.segmentations, segkpi.bindings)
    TO @extowner@;

------------------------------------------------------------------------
-- Views that hide small segments are security barriers
------------------------------------------------------------------------

ALTER VIEW segkpi.kpi_trends SET (security_barrier = true);
ALTER VIEW segkpi.kpi_latest SET (security_barrier = true);
ALTER VIEW segkpi.cluster_profiles SET (security_barrier = true);

------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------

GRANT SELECT, UPDATE ON SEQUENCE segkpi.snapshots_snapshot_id_seq TO @extowner@;
GRANT TRUNCATE ON segkpi.snapshots, segkpi.segment_kpis, segkpi.segment_models TO @extowner@;
REVOKE EXECUTE ON FUNCTION
    segkpi.binding_spec(text),
    segkpi.binding_types(text),
    segkpi.check_writer(regclass),
    segkpi.lock_snapshots(),
    segkpi.adopt_customer_tables(),
    segkpi.rfm_rules_guard(),
    segkpi.settings_replace(),
    segkpi.snapshots_cascade()
    FROM PUBLIC;
-- 0.2 granted the trigger function to the installing role; when that role
-- also owns it (a superuser installed), its own privilege stays
DO $$
DECLARE
    installer oid := (SELECT e.extowner FROM pg_extension e WHERE e.extname = 'segkpi');
BEGIN
    IF installer <> (SELECT p.proowner FROM pg_proc p WHERE p.oid = 'segkpi.snapshots_cascade()'::regprocedure) THEN
        EXECUTE format('REVOKE EXECUTE ON FUNCTION segkpi.snapshots_cascade() FROM %s', installer::regrole);
    END IF;
END
$$;
GRANT EXECUTE ON FUNCTION
    segkpi.binding_spec(text),
    segkpi.binding_types(text),
    segkpi.check_writer(regclass),
    segkpi.lock_snapshots(),
    segkpi.adopt_customer_tables()
    TO @extowner@;
