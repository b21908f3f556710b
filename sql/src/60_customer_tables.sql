------------------------------------------------------------------------
-- KPI pipeline: customer-level tables
------------------------------------------------------------------------

-- The customer-level table (customer_features, and the views over it)
-- carries the warehouse's customer key type, so it is made when orders
-- are bound, by a function running as the role that binds, who owns it.
-- It is not an extension member (pg_extension_config_dump cannot register
-- a table made after CREATE EXTENSION), so pg_dump keeps it like any
-- table, and DROP EXTENSION ... CASCADE leaves it in the schema.
--
-- The install and upgrade scripts run as superuser and never touch it:
-- a trigger or default its owner added would run as superuser.  For the
-- same reason nothing here lets a superuser write it when it belongs to
-- someone else (segkpi.check_writer).  Adopting an older table (the shapes
-- of 0.1 and 0.2, or rows left by a dropped installation) happens here,
-- when its owner binds or refreshes.

-- Refuses a superuser writing a customer-level table that a role without
-- superuser owns: the owner's triggers, defaults, rules and operators
-- would run with superuser rights.
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

-- Serialises refresh, erasure and snapshot retention: a lock only roles
-- that may change segkpi.snapshots can take (readers' locks do not
-- conflict with it), held until the transaction ends.
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

CREATE FUNCTION segkpi.ensure_customer_tables(key_type regtype)
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
            DROP VIEW IF EXISTS segkpi.customer_segments, segkpi.rfm_grid;
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
    -- (before 0.6 this view counted the moves from customer_features itself,
    -- through a function running as the reader: a dashboard role could not
    -- read it; now it reads the counts refresh keeps, and shows clusters'
    -- business names as the other views do)
    IF NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = to_regclass('segkpi.segment_migration')
                      AND pg_get_viewdef(c.oid) LIKE '%cluster_names%') THEN
        CREATE OR REPLACE VIEW segkpi.segment_migration WITH (security_barrier = true) AS
        SELECT m.segmentation, m.from_segment, m.to_segment,
               CASE WHEN NOT m.hidden THEN m.customers END AS customers,
               m.snapshot_id, m.previous_snapshot_id, s.as_of, p.as_of AS previous_as_of, m.hidden,
               coalesce(nf.name, m.from_segment) AS from_segment_name,
               coalesce(nt.name, m.to_segment) AS to_segment_name
          FROM segkpi.segment_migrations m
          JOIN segkpi.snapshots s ON s.snapshot_id = m.snapshot_id
          LEFT JOIN segkpi.snapshots p ON p.snapshot_id = m.previous_snapshot_id
          LEFT JOIN segkpi.cluster_names nf
            ON nf.segmentation = m.segmentation AND 'Cluster ' || nf.cluster = m.from_segment
          LEFT JOIN segkpi.cluster_names nt
            ON nt.segmentation = m.segmentation AND 'Cluster ' || nt.cluster = m.to_segment
         WHERE m.snapshot_id = (SELECT x.snapshot_id FROM segkpi.snapshots x
                                 ORDER BY x.as_of DESC, x.snapshot_id DESC LIMIT 1);
        COMMENT ON VIEW segkpi.segment_migration IS 'customers moving between segments from the previous snapshot to the latest (by as_of), counted at refresh; small cells hidden';
        COMMENT ON COLUMN segkpi.segment_migration.segmentation IS 'the segmentation';
        COMMENT ON COLUMN segkpi.segment_migration.from_segment IS 'segment in the previous snapshot, (none) when absent';
        COMMENT ON COLUMN segkpi.segment_migration.to_segment IS 'segment in the latest snapshot, (none) when absent';
        COMMENT ON COLUMN segkpi.segment_migration.customers IS 'customers making this move; NULL when hidden';
        COMMENT ON COLUMN segkpi.segment_migration.snapshot_id IS 'the latest snapshot (greatest as_of)';
        COMMENT ON COLUMN segkpi.segment_migration.previous_snapshot_id IS 'the snapshot before it when it was taken';
        COMMENT ON COLUMN segkpi.segment_migration.as_of IS 'as_of of the latest snapshot';
        COMMENT ON COLUMN segkpi.segment_migration.previous_as_of IS 'as_of of the previous snapshot';
        COMMENT ON COLUMN segkpi.segment_migration.hidden IS 'a small cell, or one hidden with it so that no row or column total gives it back (settings.min_segment_size)';
        COMMENT ON COLUMN segkpi.segment_migration.from_segment_name IS 'from_segment''s business name (segkpi.cluster_names), else from_segment';
        COMMENT ON COLUMN segkpi.segment_migration.to_segment_name IS 'to_segment''s business name (segkpi.cluster_names), else to_segment';
    END IF;
    -- R x F cells of the latest snapshot (greatest as_of); a cell of 1 .. k - 1
    -- customers is hidden, with the smallest shown ones until the hidden
    -- set is safe (the cells add up to the snapshot's customers)
    IF NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = to_regclass('segkpi.rfm_grid')
                      AND pg_get_viewdef(c.oid) LIKE '%hidden_set_safe%') THEN
        CREATE OR REPLACE VIEW segkpi.rfm_grid WITH (security_barrier = true) AS
        WITH latest AS (
            SELECT x.snapshot_id, x.as_of FROM segkpi.snapshots x ORDER BY x.as_of DESC, x.snapshot_id DESC LIMIT 1
        ),
        cells AS (
            SELECT f.r, f.f, count(*) AS n, avg(f.monetary) AS mean_monetary, l.snapshot_id, l.as_of,
                   (SELECT st.min_segment_size FROM segkpi.settings st) AS k
              FROM segkpi.customer_features f JOIN latest l ON l.snapshot_id = f.snapshot_id
             WHERE f.r IS NOT NULL
             GROUP BY f.r, f.f, l.snapshot_id, l.as_of
        ),
        running AS (
            SELECT c.*, c.n BETWEEN 1 AND c.k - 1 AS small,
                   count(*) FILTER (WHERE c.n BETWEEN 1 AND c.k - 1) OVER () AS n_small,
                   coalesce(sum(c.n) FILTER (WHERE c.n BETWEEN 1 AND c.k - 1) OVER (), 0) AS c_small,
                   CASE WHEN NOT c.n BETWEEN 1 AND c.k - 1 THEN count(*) OVER vis END AS v_rank,
                   sum(c.n) OVER vis AS v_n
              FROM cells c
            WINDOW vis AS (PARTITION BY c.n BETWEEN 1 AND c.k - 1 ORDER BY c.n, c.r, c.f ROWS UNBOUNDED PRECEDING)
        ),
        flagged AS (
            SELECT g.*,
                   g.small OR g.v_rank <= CASE WHEN g.n_small = 0 OR segkpi.hidden_set_safe(g.n_small, g.c_small, 0, g.k) THEN 0
                                               ELSE coalesce(min(g.v_rank) FILTER (
                                                        WHERE segkpi.hidden_set_safe(g.n_small + g.v_rank, g.c_small + g.v_n, 0, g.k))
                                                        OVER (), 2147483647) END AS hidden
              FROM running g
        )
        SELECT g.r, g.f, CASE WHEN NOT g.hidden THEN g.n END AS customers,
               CASE WHEN NOT g.hidden THEN round(g.mean_monetary, 2) END AS mean_monetary,
               g.snapshot_id, g.as_of, g.hidden
          FROM flagged g;
        COMMENT ON VIEW segkpi.rfm_grid IS 'R x F grid of the latest snapshot (greatest as_of; five bins): customers and mean monetary; small cells hidden';
        COMMENT ON COLUMN segkpi.rfm_grid.r IS 'recency score';
        COMMENT ON COLUMN segkpi.rfm_grid.f IS 'frequency score';
        COMMENT ON COLUMN segkpi.rfm_grid.customers IS 'customers in the cell; NULL when hidden';
        COMMENT ON COLUMN segkpi.rfm_grid.mean_monetary IS 'mean monetary total of the cell; NULL when hidden';
        COMMENT ON COLUMN segkpi.rfm_grid.snapshot_id IS 'the latest snapshot';
        COMMENT ON COLUMN segkpi.rfm_grid.as_of IS 'its as_of';
        COMMENT ON COLUMN segkpi.rfm_grid.hidden IS 'a small cell, or one hidden with it (settings.min_segment_size)';
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

-- An older customer-level table, brought to the current shape by its
-- owner (what the 0.1 -> 0.2 and 0.2 -> 0.3 upgrade scripts did as
-- superuser before 0.6):
--   - foreign keys to segkpi.snapshots (0.1) give way to the cascade
--     trigger segkpi.snapshots_cascade;
--   - a customer_segments table (0.1, 0.2) moves into
--     customer_features.segments, its grants onto the view of that name;
--   - rows of snapshots that no longer exist (left by an installation that
--     was dropped) go: new snapshot numbers would collide with them.
-- Each check reads the catalog or a few index entries; with nothing to do
-- it costs well under a millisecond.
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
        DROP VIEW IF EXISTS segkpi.rfm_grid;
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

------------------------------------------------------------------------
-- Cascade and erasure
------------------------------------------------------------------------

CREATE FUNCTION segkpi.snapshots_cascade() RETURNS trigger
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
CREATE TRIGGER snapshots_cascade AFTER DELETE ON segkpi.snapshots
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION segkpi.snapshots_cascade();
CREATE TRIGGER snapshots_cascade_truncate AFTER TRUNCATE ON segkpi.snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION segkpi.snapshots_cascade();

-- Right to erasure.  Serialised with refresh (segkpi.lock_snapshots), so
-- a refresh in flight finishes first and its snapshot is erased too, and
-- one starting later does not see the customer's old rows (it reads the
-- warehouse, where the customer must be erased as well).  The key type is
-- the table's own, so it works whether or not orders are still bound.
-- Besides the customer's rows it removes what would identify them in the
-- aggregates: the KPI rows of a segment, and the k-means model of a
-- snapshot holding a cluster, that had fewer members than
-- greatest(settings.min_segment_size, 2) with them.  Larger aggregates
-- are not recomputed: they keep the customer's share of sums and counts.
CREATE FUNCTION segkpi.erase_customer(customer anyelement)
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
    -- and their engagement per kind
    DELETE FROM segkpi.segment_engagement g
     WHERE EXISTS (SELECT FROM segkpi_erased e WHERE e.snapshot_id = g.snapshot_id AND e.segmentation = g.segmentation
                      AND e.segment = g.segment)
       AND NOT EXISTS (SELECT FROM segkpi.segment_kpis k WHERE k.snapshot_id = g.snapshot_id
                          AND k.segmentation = g.segmentation AND k.segment = g.segment);
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
