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
 */

\echo Use "ALTER EXTENSION segkpi UPDATE TO '0.6'" to load this file. \quit

-- names left unqualified resolve in pg_catalog only (see the install script)
SET LOCAL search_path = pg_catalog, pg_temp;


------------------------------------------------------------------------
-- Customer-level table: written only by its owner, adopted by it
------------------------------------------------------------------------

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
    -- read it; now it reads the counts refresh keeps)
    IF NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = to_regclass('segkpi.segment_migration')
                      AND pg_get_viewdef(c.oid) LIKE '%segment_migrations%') THEN
        CREATE OR REPLACE VIEW segkpi.segment_migration WITH (security_barrier = true) AS
        SELECT m.segmentation, m.from_segment, m.to_segment,
               CASE WHEN NOT m.hidden THEN m.customers END AS customers,
               m.snapshot_id, m.previous_snapshot_id, s.as_of, p.as_of AS previous_as_of, m.hidden
          FROM segkpi.segment_migrations m
          JOIN segkpi.snapshots s ON s.snapshot_id = m.snapshot_id
          LEFT JOIN segkpi.snapshots p ON p.snapshot_id = m.previous_snapshot_id
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

------------------------------------------------------------------------
-- Cascade and erasure
------------------------------------------------------------------------

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
-- Segment migration kept as counts, small cells hidden
------------------------------------------------------------------------

------------------------------------------------------------------------
-- KPI pipeline: segment migration, kept as counts
------------------------------------------------------------------------

-- How many customers moved from each segment to each other one between a
-- snapshot and the one before it (by as_of), counted when the snapshot is
-- taken.  Aggregates only, so the dashboard view over it needs no access
-- to customer-level rows.  "(none)" stands for a customer in only one of
-- the two snapshots.
CREATE TABLE segkpi.segment_migrations (
    snapshot_id          bigint NOT NULL REFERENCES segkpi.snapshots ON DELETE CASCADE,
    previous_snapshot_id bigint NOT NULL,
    segmentation         text NOT NULL,
    from_segment         text NOT NULL,
    to_segment           text NOT NULL,
    customers            bigint NOT NULL,
    hidden               boolean NOT NULL DEFAULT false,
    PRIMARY KEY (snapshot_id, segmentation, from_segment, to_segment)
);
COMMENT ON TABLE segkpi.segment_migrations IS
    'customers per (segmentation, from segment, to segment) between each snapshot and the one before it by as_of, counted at refresh';
COMMENT ON COLUMN segkpi.segment_migrations.snapshot_id IS 'the later snapshot';
COMMENT ON COLUMN segkpi.segment_migrations.previous_snapshot_id IS 'the snapshot before it (greatest as_of below its as_of, when it was taken)';
COMMENT ON COLUMN segkpi.segment_migrations.segmentation IS 'the segmentation';
COMMENT ON COLUMN segkpi.segment_migrations.from_segment IS 'segment in the previous snapshot, (none) when absent there';
COMMENT ON COLUMN segkpi.segment_migrations.to_segment IS 'segment in the later snapshot, (none) when absent there';
COMMENT ON COLUMN segkpi.segment_migrations.customers IS 'customers making this move';
COMMENT ON COLUMN segkpi.segment_migrations.hidden IS 'hidden from dashboards: a small cell, or one hidden with it so that no row or column total gives a small one back';
SELECT pg_catalog.pg_extension_config_dump('segkpi.segment_migrations', '');

GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON segkpi.segment_migrations TO @extowner@;

-- Small-cell hiding of one snapshot's migration matrices (one per
-- segmentation), with k = settings.min_segment_size: a cell of 1 .. k - 1
-- customers is hidden; then, until nothing changes, any row (from
-- segment) or column (to segment), or the whole matrix, whose hidden
-- cells number one, or hold fewer than k customers together, also hides
-- its smallest shown cell.  Row and column totals are segment sizes and
-- the matrix total the customers of both snapshots, which the KPI views
-- show, so a single hidden cell in any of them could be computed back.
CREATE FUNCTION segkpi.hide_migration_cells(sid bigint)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    k integer := (SELECT s.min_segment_size FROM segkpi.settings s);
    changed bigint;
BEGIN
    UPDATE segkpi.segment_migrations m SET hidden = m.customers BETWEEN 1 AND k - 1
     WHERE m.snapshot_id = sid AND m.hidden IS DISTINCT FROM (m.customers BETWEEN 1 AND k - 1);
    LOOP
        WITH lines AS (
            SELECT m.segmentation, 'from' AS side, m.from_segment AS seg,
                   count(*) FILTER (WHERE m.hidden) AS n, coalesce(sum(m.customers) FILTER (WHERE m.hidden), 0) AS c
              FROM segkpi.segment_migrations m WHERE m.snapshot_id = sid GROUP BY 1, 2, 3
            UNION ALL
            SELECT m.segmentation, 'to', m.to_segment,
                   count(*) FILTER (WHERE m.hidden), coalesce(sum(m.customers) FILTER (WHERE m.hidden), 0)
              FROM segkpi.segment_migrations m WHERE m.snapshot_id = sid GROUP BY 1, 2, 3
            UNION ALL
            SELECT m.segmentation, 'all', '',
                   count(*) FILTER (WHERE m.hidden), coalesce(sum(m.customers) FILTER (WHERE m.hidden), 0)
              FROM segkpi.segment_migrations m WHERE m.snapshot_id = sid GROUP BY 1
        ),
        weak AS (
            SELECT l.* FROM lines l WHERE l.n > 0 AND (l.n = 1 OR l.c < k)
        ),
        pick AS (
            SELECT DISTINCT ON (w.segmentation, w.side, w.seg) m.segmentation, m.from_segment, m.to_segment
              FROM weak w
              JOIN segkpi.segment_migrations m
                ON m.snapshot_id = sid AND m.segmentation = w.segmentation AND NOT m.hidden
               AND (w.side = 'all' OR (w.side = 'from' AND m.from_segment = w.seg)
                    OR (w.side = 'to' AND m.to_segment = w.seg))
             ORDER BY w.segmentation, w.side, w.seg, m.customers, m.from_segment, m.to_segment
        )
        UPDATE segkpi.segment_migrations m SET hidden = true
          FROM pick p
         WHERE m.snapshot_id = sid AND m.segmentation = p.segmentation
           AND m.from_segment = p.from_segment AND m.to_segment = p.to_segment;
        GET DIAGNOSTICS changed = ROW_COUNT;
        EXIT WHEN changed = 0;
    END LOOP;
END
$$;
COMMENT ON FUNCTION segkpi.hide_migration_cells(bigint) IS
    'marks the migration cells of a snapshot that dashboards must not see (small ones, and enough others per row and column)';

-- Counted in one merge of the two snapshots' rows on the customer key
-- (both in key order in the primary key); segmentations are matched by
-- name, so one added or dropped between the snapshots shows everybody
-- moving from or to (none).
CREATE FUNCTION segkpi.store_migration(sid bigint)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    SET enable_hashjoin = off
    SET enable_sort = off
AS $$
DECLARE
    cur segkpi.snapshots;
    prev segkpi.snapshots;
    names text[];
BEGIN
    SELECT * INTO cur FROM segkpi.snapshots s WHERE s.snapshot_id = sid;
    SELECT * INTO prev FROM segkpi.snapshots s
     WHERE (s.as_of, s.snapshot_id) < (cur.as_of, cur.snapshot_id)
     ORDER BY s.as_of DESC, s.snapshot_id DESC LIMIT 1;
    IF prev IS NULL OR to_regclass('segkpi.customer_features') IS NULL THEN
        RETURN;
    END IF;
    names := ARRAY(SELECT DISTINCT u FROM unnest(prev.segmentations || cur.segmentations) u ORDER BY 1);
    INSERT INTO segkpi.segment_migrations
        (snapshot_id, previous_snapshot_id, segmentation, from_segment, to_segment, customers)
    SELECT sid, prev.snapshot_id, u.name, coalesce(a.segments[u.pa], '(none)'), coalesce(b.segments[u.pb], '(none)'),
           count(*)
      FROM (SELECT f.customer_id, f.segments FROM segkpi.customer_features f WHERE f.snapshot_id = prev.snapshot_id) a
      FULL JOIN (SELECT f.customer_id, f.segments FROM segkpi.customer_features f WHERE f.snapshot_id = sid) b
        ON a.customer_id = b.customer_id
     CROSS JOIN LATERAL unnest(names, ARRAY(SELECT array_position(prev.segmentations, n) FROM unnest(names) n),
                               ARRAY(SELECT array_position(cur.segmentations, n) FROM unnest(names) n)) AS u(name, pa, pb)
     WHERE a.segments[u.pa] IS NOT NULL OR b.segments[u.pb] IS NOT NULL
     GROUP BY 3, 4, 5;
    PERFORM segkpi.hide_migration_cells(sid);
END
$$;
COMMENT ON FUNCTION segkpi.store_migration(bigint) IS
    'counts the customers moving between segments from the previous snapshot to this one (used by segkpi.refresh)';

-- A change of settings.min_segment_size marks the migration cells anew.
CREATE FUNCTION segkpi.settings_rehide() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
DECLARE
    sid bigint;
BEGIN
    IF NEW.min_segment_size IS DISTINCT FROM OLD.min_segment_size THEN
        FOR sid IN SELECT DISTINCT m.snapshot_id FROM segkpi.segment_migrations m LOOP
            PERFORM segkpi.hide_migration_cells(sid);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION segkpi.settings_rehide() IS
    'marks the hidden migration cells of every snapshot again when settings.min_segment_size changes';
CREATE TRIGGER settings_rehide AFTER UPDATE ON segkpi.settings
    FOR EACH ROW EXECUTE FUNCTION segkpi.settings_rehide();

------------------------------------------------------------------------
-- Refresh: the snapshot lock, rules locked, adoption first, migration counted
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

-- CASE expression naming the segment of a row of alias under a rule segmentation.
CREATE OR REPLACE FUNCTION segkpi.rule_case(segmentation text, alias text, allowed name[])
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

------------------------------------------------------------------------
-- KPI views: latest = greatest as_of, complete periods, history, complementary hiding
------------------------------------------------------------------------

------------------------------------------------------------------------
-- KPI pipeline: views for dashboards (aggregates only; small segments hidden)
------------------------------------------------------------------------

-- Every KPI row of every snapshot as dashboards may see it: ratios
-- rounded, the snapshot's as_of, whether the period had ended by then, and
-- small cells hidden.  Internal: the public views below pick from it (all
-- snapshots together would let a reader difference one snapshot's members
-- against another's).  Every window is partitioned by snapshot, so a
-- view's condition on snapshot_id reaches the scan of segment_kpis.
--
-- Small-cell hiding, per snapshot, segmentation and period (one "(all)"
-- row and its segments): a segment is small when it has 1 to k - 1
-- customers or 1 to k - 1 active customers, k = settings.min_segment_size.
-- Hiding only the small ones would let "(all)" minus the visible segments
-- give them back, so while anything is hidden the hidden set also holds
-- at least two segments with at least k customers together (and no
-- active customers, or at least k), adding the smallest visible segments
-- until it does (complementary suppression).  When no such set exists,
-- every segment of the group is hidden; "(all)" is hidden when it is small
-- itself.  A hidden row keeps its keys and flags; its measures are NULL.
-- Whether a set of hidden cells is safe to leave hidden beside a total:
-- at least two cells, at least k customers together, and no active
-- customers among them or at least k (so no one customer's purchases can
-- be told from the rest).  The views below add the smallest shown cells
-- to the hidden ones until the set is safe.
CREATE FUNCTION segkpi.hidden_set_safe(cells bigint, customers numeric, active numeric, k integer)
    RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN cells >= 2 AND customers >= k AND (active = 0 OR active >= k);
COMMENT ON FUNCTION segkpi.hidden_set_safe(bigint, numeric, numeric, integer) IS
    'true when hidden cells are at least two, hold at least k customers together and no or at least k active ones';

-- k-means clusters of the latest snapshot (greatest as_of) in original
-- units.  A cluster of 1 .. k - 1 customers is hidden, with the smallest
-- shown ones until the hidden set is safe (cluster sizes add up to the
-- customers fitted).
CREATE OR REPLACE VIEW segkpi.cluster_profiles WITH (security_barrier = true) AS
WITH clusters AS (
    SELECT m.snapshot_id, s.as_of, m.segmentation, m.features, c.cluster, c.size, c.centroid, c.wcss,
           st.min_segment_size AS k, c.size BETWEEN 1 AND st.min_segment_size - 1 AS small
      FROM segkpi.segment_models m
      JOIN segkpi.snapshots s ON s.snapshot_id = m.snapshot_id
     CROSS JOIN segkpi.settings st
     CROSS JOIN LATERAL segkpi.kmeans_centroids(m.model) c
     WHERE m.snapshot_id = (SELECT x.snapshot_id FROM segkpi.snapshots x ORDER BY x.as_of DESC, x.snapshot_id DESC LIMIT 1)
),
running AS (
    SELECT c.*,
           count(*) FILTER (WHERE c.small) OVER seg AS n_small,
           coalesce(sum(c.size) FILTER (WHERE c.small) OVER seg, 0) AS c_small,
           CASE WHEN NOT c.small THEN count(*) OVER vis END AS v_rank,
           sum(c.size) OVER vis AS v_size
      FROM clusters c
    WINDOW seg AS (PARTITION BY c.segmentation),
           vis AS (PARTITION BY c.segmentation, c.small ORDER BY c.size, c.cluster ROWS UNBOUNDED PRECEDING)
),
flagged AS (
    SELECT r.*,
           r.small OR r.v_rank <= CASE WHEN r.n_small = 0 OR segkpi.hidden_set_safe(r.n_small, r.c_small, 0, r.k) THEN 0
                                       ELSE coalesce(min(r.v_rank) FILTER (
                                                WHERE segkpi.hidden_set_safe(r.n_small + r.v_rank, r.c_small + r.v_size, 0, r.k))
                                                OVER (PARTITION BY r.segmentation), 2147483647) END AS hidden
      FROM running r
)
SELECT f.snapshot_id, f.segmentation, 'Cluster ' || f.cluster AS segment,
       CASE WHEN NOT f.hidden THEN f.size END AS customers,
       CASE WHEN NOT f.hidden THEN (SELECT jsonb_object_agg(u.feature, round(u.value::numeric, 4))
                                      FROM unnest(f.features, f.centroid) AS u(feature, value)) END AS centroid,
       CASE WHEN NOT f.hidden THEN round(f.wcss::numeric, 4) END AS wcss,
       f.as_of, f.hidden
  FROM flagged f;
COMMENT ON VIEW segkpi.cluster_profiles IS
    'k-means clusters of the latest snapshot (greatest as_of) in original feature units, so a person can name them; small clusters hidden';
COMMENT ON COLUMN segkpi.cluster_profiles.snapshot_id IS 'the snapshot';
COMMENT ON COLUMN segkpi.cluster_profiles.segmentation IS 'the k-means segmentation';
COMMENT ON COLUMN segkpi.cluster_profiles.segment IS 'Cluster n (the segment name in the KPI views)';
COMMENT ON COLUMN segkpi.cluster_profiles.customers IS 'customers fitted to the cluster';
COMMENT ON COLUMN segkpi.cluster_profiles.centroid IS 'feature -> centroid value in original units';
COMMENT ON COLUMN segkpi.cluster_profiles.wcss IS 'within-cluster sum of squares (transformed space)';
COMMENT ON COLUMN segkpi.cluster_profiles.as_of IS 'as_of of the snapshot';
COMMENT ON COLUMN segkpi.cluster_profiles.hidden IS 'a small cluster, or one hidden with it (settings.min_segment_size): its figures are NULL';

CREATE VIEW segkpi.kpi_cells WITH (security_barrier = true) AS
WITH cells AS (
    SELECT k.*, s.as_of, s.timezone, st.min_segment_size AS min_size,
           (k.period_end::timestamp AT TIME ZONE s.timezone) <= s.as_of AS complete,
           (k.customers BETWEEN 1 AND st.min_segment_size - 1
            OR k.active_customers BETWEEN 1 AND st.min_segment_size - 1) AS small
      FROM segkpi.segment_kpis k
      JOIN segkpi.snapshots s ON s.snapshot_id = k.snapshot_id
     CROSS JOIN segkpi.settings st
),
running AS (
    SELECT c.*,
           count(*) FILTER (WHERE c.small AND c.segment <> '(all)') OVER grp AS n_small,
           coalesce(sum(c.customers) FILTER (WHERE c.small AND c.segment <> '(all)') OVER grp, 0) AS c_small,
           coalesce(sum(c.active_customers) FILTER (WHERE c.small AND c.segment <> '(all)') OVER grp, 0) AS a_small,
           CASE WHEN c.segment <> '(all)' AND NOT c.small THEN count(*) OVER vis END AS v_rank,
           sum(c.customers) OVER vis AS v_customers,
           sum(c.active_customers) OVER vis AS v_active
      FROM cells c
    WINDOW grp AS (PARTITION BY c.snapshot_id, c.segmentation, c.period_start),
           vis AS (PARTITION BY c.snapshot_id, c.segmentation, c.period_start, c.segment <> '(all)' AND NOT c.small
                   ORDER BY c.customers, c.active_customers, c.segment ROWS UNBOUNDED PRECEDING)
),
hiding AS (
    -- hide_upto: how many of the smallest visible segments join the hidden ones
    SELECT r.*,
           CASE WHEN r.n_small = 0 THEN 0
                WHEN segkpi.hidden_set_safe(r.n_small, r.c_small, r.a_small, r.min_size) THEN 0
                ELSE coalesce(min(r.v_rank) FILTER (
                         WHERE segkpi.hidden_set_safe(r.n_small + r.v_rank, r.c_small + r.v_customers,
                                                      r.a_small + r.v_active, r.min_size)) OVER grp,
                         2147483647)
           END AS hide_upto
      FROM running r
    WINDOW grp AS (PARTITION BY r.snapshot_id, r.segmentation, r.period_start)
),
flagged AS (
    SELECT h.*,
           CASE WHEN h.segment = '(all)' THEN h.small
                ELSE h.small OR h.v_rank <= h.hide_upto END AS hidden,
           h.period_start = max(h.period_start) FILTER (WHERE h.complete)
                            OVER (PARTITION BY h.snapshot_id) AS last_complete
      FROM hiding h
)
SELECT f.snapshot_id, f.segmentation, f.segment, f.period_start, f.period_end,
       v.customers, round(v.share, 4) AS share, v.active_customers, v.new_customers, v.orders,
       v.revenue, v.cost, round(v.aov, 2) AS aov, round(v.purchase_frequency, 4) AS purchase_frequency,
       round(v.retention_rate, 4) AS retention_rate, round(v.churn_rate, 4) AS churn_rate,
       round(v.attributed_spend, 2) AS attributed_spend, round(v.cac, 2) AS cac,
       v.leads, v.converted_leads, round(v.conversion_rate, 4) AS conversion_rate,
       round(v.cltv_historical, 2) AS cltv_historical, round(v.cltv_formula, 2) AS cltv_formula,
       round(v.roi, 4) AS roi, round(v.marketing_roi, 4) AS marketing_roi, round(v.csat, 2) AS csat,
       round(v.cltv_predicted, 2) AS cltv_predicted, round(v.p_alive, 4) AS p_alive,
       f.as_of, f.complete, f.hidden, v.previously_active, v.retained, v.feedback_answers,
       f.last_complete
  FROM flagged f
  LEFT JOIN LATERAL (SELECT f.* WHERE NOT f.hidden) v ON true;

-- The latest snapshot (greatest as_of; ties: highest id): its members'
-- KPIs in every period, back to the first (a cohort view: today's members
-- in the past), the current period included and flagged incomplete.
CREATE OR REPLACE VIEW segkpi.kpi_trends WITH (security_barrier = true) AS
SELECT c.snapshot_id, c.segmentation, c.segment, c.period_start, c.period_end,
       c.customers, c.share, c.active_customers, c.new_customers, c.orders,
       c.revenue, c.cost, c.aov, c.purchase_frequency, c.retention_rate, c.churn_rate,
       c.attributed_spend, c.cac, c.leads, c.converted_leads, c.conversion_rate,
       c.cltv_historical, c.cltv_formula, c.roi, c.marketing_roi, c.csat, c.cltv_predicted, c.p_alive,
       c.as_of, c.complete, c.hidden, c.previously_active, c.retained, c.feedback_answers
  FROM segkpi.kpi_cells c
 WHERE c.snapshot_id = (SELECT s.snapshot_id FROM segkpi.snapshots s
                         ORDER BY s.as_of DESC, s.snapshot_id DESC LIMIT 1);

-- The latest snapshot's last complete period.
CREATE OR REPLACE VIEW segkpi.kpi_latest WITH (security_barrier = true) AS
SELECT c.snapshot_id, c.segmentation, c.segment, c.period_start, c.period_end,
       c.customers, c.share, c.active_customers, c.new_customers, c.orders,
       c.revenue, c.cost, c.aov, c.purchase_frequency, c.retention_rate, c.churn_rate,
       c.attributed_spend, c.cac, c.leads, c.converted_leads, c.conversion_rate,
       c.cltv_historical, c.cltv_formula, c.roi, c.marketing_roi, c.csat, c.cltv_predicted, c.p_alive,
       c.as_of, c.complete, c.hidden, c.previously_active, c.retained, c.feedback_answers
  FROM segkpi.kpi_cells c
 WHERE c.snapshot_id = (SELECT s.snapshot_id FROM segkpi.snapshots s
                         ORDER BY s.as_of DESC, s.snapshot_id DESC LIMIT 1)
   AND c.last_complete;

-- Point-in-time history, for trend charts: every period as the snapshot
-- that had just completed it saw it, with that snapshot's own members.  A
-- snapshot's last complete period is the latest one ending at or before
-- its as_of; when several snapshots share it (daily refreshes in monthly
-- grain), the one with the greatest as_of gives the period's rows.
CREATE VIEW segkpi.kpi_history WITH (security_barrier = true) AS
SELECT c.snapshot_id, c.segmentation, c.segment, c.period_start, c.period_end,
       c.customers, c.share, c.active_customers, c.new_customers, c.orders,
       c.revenue, c.cost, c.aov, c.purchase_frequency, c.retention_rate, c.churn_rate,
       c.attributed_spend, c.cac, c.leads, c.converted_leads, c.conversion_rate,
       c.cltv_historical, c.cltv_formula, c.roi, c.marketing_roi, c.csat, c.cltv_predicted, c.p_alive,
       c.as_of, c.complete, c.hidden, c.previously_active, c.retained, c.feedback_answers
  FROM segkpi.kpi_cells c
 WHERE c.last_complete
   AND c.snapshot_id = ANY (ARRAY(
       SELECT DISTINCT ON (s.period_grain, l.last_start) s.snapshot_id
         FROM segkpi.snapshots s
        CROSS JOIN LATERAL (SELECT date_trunc(s.period_grain, (s.as_of - interval '1 microsecond') AT TIME ZONE s.timezone)
                                       AS cur_start,
                                   CASE s.period_grain WHEN 'month' THEN interval '1 month'
                                                       ELSE interval '3 months' END AS step) p
        CROSS JOIN LATERAL (SELECT CASE WHEN ((p.cur_start + p.step) AT TIME ZONE s.timezone) <= s.as_of
                                        THEN p.cur_start ELSE p.cur_start - p.step END AS last_start) l
        ORDER BY s.period_grain, l.last_start, s.as_of DESC, s.snapshot_id DESC));

COMMENT ON VIEW segkpi.kpi_cells IS 'every KPI row of every snapshot with ratios rounded, its as_of, completeness and small-cell hiding (internal: the KPI views read it)';
COMMENT ON VIEW segkpi.kpi_trends IS 'cohort view: KPIs of the latest snapshot''s members (greatest as_of) in every period, the unfinished one flagged; small cells hidden';
COMMENT ON VIEW segkpi.kpi_latest IS 'KPIs of the latest snapshot (greatest as_of) in its last complete period; small cells hidden';
COMMENT ON VIEW segkpi.kpi_history IS 'point-in-time history for trends: each period as the latest snapshot that had just completed it saw it, with its own members; small cells hidden';
-- The KPI views show the columns of segment_kpis (ratios rounded): same comments.
DO $$
DECLARE
    v text;
    c record;
BEGIN
    FOREACH v IN ARRAY ARRAY['kpi_cells', 'kpi_trends', 'kpi_latest', 'kpi_history'] LOOP
        FOR c IN SELECT a.attname, pg_catalog.col_description('segkpi.segment_kpis'::pg_catalog.regclass, a.attnum) AS d
                   FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = 'segkpi.segment_kpis'::pg_catalog.regclass AND a.attnum > 0 AND NOT a.attisdropped LOOP
            IF EXISTS (SELECT FROM pg_catalog.pg_attribute
                        WHERE attrelid = pg_catalog.to_regclass(pg_catalog.concat('segkpi.', v))
                          AND attname = c.attname) THEN
                EXECUTE pg_catalog.format('COMMENT ON COLUMN segkpi.%I.%I IS %L', v, c.attname, c.d);
            END IF;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON COLUMN segkpi.kpi_cells.as_of IS 'the snapshot covers everything strictly before as_of';
COMMENT ON COLUMN segkpi.kpi_cells.complete IS 'the period had ended by as_of (period_end <= as_of in the snapshot''s time zone); false: figures to date';
COMMENT ON COLUMN segkpi.kpi_cells.hidden IS 'small cell (or hidden with one): every measure is NULL (settings.min_segment_size)';
COMMENT ON COLUMN segkpi.kpi_trends.as_of IS 'the snapshot covers everything strictly before as_of';
COMMENT ON COLUMN segkpi.kpi_trends.complete IS 'the period had ended by as_of (period_end <= as_of in the snapshot''s time zone); false: figures to date';
COMMENT ON COLUMN segkpi.kpi_trends.hidden IS 'small cell (or hidden with one): every measure is NULL (settings.min_segment_size)';
COMMENT ON COLUMN segkpi.kpi_latest.as_of IS 'the snapshot covers everything strictly before as_of';
COMMENT ON COLUMN segkpi.kpi_latest.complete IS 'the period had ended by as_of (period_end <= as_of in the snapshot''s time zone); false: figures to date';
COMMENT ON COLUMN segkpi.kpi_latest.hidden IS 'small cell (or hidden with one): every measure is NULL (settings.min_segment_size)';
COMMENT ON COLUMN segkpi.kpi_history.as_of IS 'the snapshot covers everything strictly before as_of';
COMMENT ON COLUMN segkpi.kpi_history.complete IS 'the period had ended by as_of (period_end <= as_of in the snapshot''s time zone); false: figures to date';
COMMENT ON COLUMN segkpi.kpi_history.hidden IS 'small cell (or hidden with one): every measure is NULL (settings.min_segment_size)';
COMMENT ON COLUMN segkpi.kpi_cells.last_complete IS 'the last complete period of its snapshot';
GRANT SELECT ON segkpi.kpi_history TO @extowner@ WITH GRANT OPTION;
GRANT SELECT ON segkpi.kpi_cells TO @extowner@;

------------------------------------------------------------------------
-- Dashboard access in one step
------------------------------------------------------------------------

------------------------------------------------------------------------
-- Dashboard access: one step gives a role every aggregate view
------------------------------------------------------------------------

-- The views a dashboard reads: aggregates only, small cells hidden.  The
-- customer-level objects (customer_features, customer_segments) are not
-- among them; rfm_grid and segment_migration exist once orders are bound.
CREATE FUNCTION segkpi.dashboard_views()
    RETURNS SETOF regclass
    LANGUAGE sql STABLE
    SET search_path = pg_catalog
BEGIN ATOMIC
    SELECT c.oid::regclass
      FROM pg_class c
     WHERE c.relnamespace = 'segkpi'::regnamespace AND c.relkind = 'v'
       AND c.relname = ANY (ARRAY['kpi_latest', 'kpi_trends', 'kpi_history', 'before_after', 'cluster_profiles',
                                  'rfm_grid', 'segment_migration']::name[])
     ORDER BY c.relname;
END;
COMMENT ON FUNCTION segkpi.dashboard_views() IS
    'the aggregate views a dashboard role may read (segkpi.grant_dashboard_access grants them)';

-- Run by the extension's owner (or a role holding the same grant options):
-- USAGE on the schema and SELECT on every dashboard view; nothing
-- customer-level.  Run it again after binding orders for the first time
-- or after a change of the customer key type (rfm_grid and
-- segment_migration are made then).
CREATE FUNCTION segkpi.grant_dashboard_access(role regrole)
    RETURNS SETOF text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    v regclass;
BEGIN
    IF role IS NULL THEN
        RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA segkpi TO %s', role);
    RETURN NEXT 'USAGE ON SCHEMA segkpi';
    FOR v IN SELECT segkpi.dashboard_views() LOOP
        EXECUTE format('GRANT SELECT ON %s TO %s', v, role);
        RETURN NEXT format('SELECT ON %s', v);
    END LOOP;
END
$$;
COMMENT ON FUNCTION segkpi.grant_dashboard_access(regrole) IS
    'gives a role USAGE on schema segkpi and SELECT on every dashboard view (aggregates only); returns what it granted';

CREATE FUNCTION segkpi.revoke_dashboard_access(role regrole)
    RETURNS SETOF text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    v regclass;
BEGIN
    IF role IS NULL THEN
        RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    FOR v IN SELECT segkpi.dashboard_views() LOOP
        EXECUTE format('REVOKE SELECT ON %s FROM %s', v, role);
        RETURN NEXT format('SELECT ON %s', v);
    END LOOP;
    EXECUTE format('REVOKE USAGE ON SCHEMA segkpi FROM %s', role);
    RETURN NEXT 'USAGE ON SCHEMA segkpi';
END
$$;
COMMENT ON FUNCTION segkpi.revoke_dashboard_access(regrole) IS
    'takes back what segkpi.grant_dashboard_access gave a role; returns what it revoked';

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
    segkpi.hide_migration_cells(bigint),
    segkpi.store_migration(bigint),
    segkpi.grant_dashboard_access(regrole),
    segkpi.revoke_dashboard_access(regrole),
    segkpi.rfm_rules_guard(),
    segkpi.settings_replace(),
    segkpi.snapshots_cascade(),
    segkpi.settings_rehide()
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    segkpi.binding_spec(text),
    segkpi.binding_types(text),
    segkpi.check_writer(regclass),
    segkpi.lock_snapshots(),
    segkpi.adopt_customer_tables(),
    segkpi.hide_migration_cells(bigint),
    segkpi.store_migration(bigint),
    segkpi.grant_dashboard_access(regrole),
    segkpi.revoke_dashboard_access(regrole)
    TO @extowner@;
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
------------------------------------------------------------------------
-- Rules checked when written; snapshot retention
------------------------------------------------------------------------

-- Customer-level tables carry the warehouse's key type, so they are made
------------------------------------------------------------------------
-- Rule segmentations: rules checked when written
------------------------------------------------------------------------

-- A rule's conditions are checked as the row is written, so a typo fails
-- there, naming the rule, instead of silently matching nobody:
--   - each condition is a non-empty list of scalar values, or an object
--     with "min" and/or "max" numbers (min <= max) and nothing else;
--   - once customers are bound, each attribute is a bound attribute
--     (42703), and a range is only allowed on a numeric one (42804): a
--     range on text would compare as text ('1000' < '50').
-- Refresh checks the rules against the bindings again, since a binding can
-- change after the rules were written.
CREATE FUNCTION segkpi.check_rule(segmentation text, rule_order integer, conditions jsonb)
    RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    bc segkpi.bindings;
    attr text;
    cond jsonb;
    what text := format('rule %s of segmentation "%s"', rule_order, segmentation);
    t regtype;
BEGIN
    SELECT * INTO bc FROM segkpi.bindings b WHERE b.source = 'customers';
    FOR attr, cond IN SELECT * FROM jsonb_each(conditions) LOOP
        IF jsonb_typeof(cond) = 'array' THEN
            IF jsonb_array_length(cond) = 0 THEN
                RAISE EXCEPTION '%: the list of values for "%" is empty', what, attr
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'An empty list matches nobody; leave the attribute out to match everybody.';
            END IF;
            IF EXISTS (SELECT FROM jsonb_array_elements(cond) v WHERE jsonb_typeof(v) IN ('array', 'object', 'null')) THEN
                RAISE EXCEPTION '%: the list for "%" may hold only strings, numbers and booleans', what, attr
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        ELSIF jsonb_typeof(cond) = 'object' THEN
            IF NOT (cond ? 'min' OR cond ? 'max')
               OR EXISTS (SELECT FROM jsonb_object_keys(cond) k WHERE k NOT IN ('min', 'max')) THEN
                RAISE EXCEPTION '%: the range for "%" must be {"min": .., "max": ..} (either may be left out)', what, attr
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF (cond ? 'min' AND jsonb_typeof(cond -> 'min') <> 'number')
               OR (cond ? 'max' AND jsonb_typeof(cond -> 'max') <> 'number') THEN
                RAISE EXCEPTION '%: the bounds of "%" must be numbers', what, attr
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF (cond ->> 'min')::numeric > (cond ->> 'max')::numeric THEN
                RAISE EXCEPTION '%: the range for "%" has min % above max %', what, attr, cond -> 'min', cond -> 'max'
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        ELSE
            RAISE EXCEPTION '%: the condition on "%" must be a list of values or {"min": .., "max": ..}', what, attr
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        CONTINUE WHEN bc IS NULL;
        IF NOT attr::name = ANY (bc.attributes) THEN
            RAISE EXCEPTION '%: "%" is not a bound customer attribute', what, attr
                USING ERRCODE = 'undefined_column',
                      HINT = format('Bound attributes: %s.', coalesce(nullif(array_to_string(bc.attributes, ', '), ''), 'none'));
        END IF;
        IF jsonb_typeof(cond) = 'object' THEN
            SELECT a.atttypid::regtype INTO t FROM pg_attribute a
             WHERE a.attrelid = bc.relation AND a.attname = attr AND a.attnum > 0 AND NOT a.attisdropped;
            IF t IS NOT NULL AND NOT t::text = ANY (segkpi.binding_types('n')) THEN
                RAISE EXCEPTION '%: "%" has type %, so it cannot take a range', what, attr, t
                    USING ERRCODE = 'datatype_mismatch',
                          HINT = 'Ranges compare numbers; list the values of a text attribute instead.';
            END IF;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION segkpi.check_rule(text, integer, jsonb) IS
    'raises an error naming the rule when its conditions are malformed or name an attribute the bindings lack';

CREATE FUNCTION segkpi.segment_rules_check() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
BEGIN
    PERFORM segkpi.check_rule(NEW.segmentation, NEW.rule_order, NEW.conditions);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION segkpi.segment_rules_check() IS 'checks each rule of segkpi.segment_rules as it is written';
CREATE TRIGGER segment_rules_check BEFORE INSERT OR UPDATE ON segkpi.segment_rules
    FOR EACH ROW EXECUTE FUNCTION segkpi.segment_rules_check();

REVOKE EXECUTE ON FUNCTION segkpi.check_rule(text, integer, jsonb), segkpi.segment_rules_check() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION segkpi.check_rule(text, integer, jsonb) TO @extowner@;

------------------------------------------------------------------------
-- KPI pipeline: snapshot retention
------------------------------------------------------------------------

-- A daily refresh of a million customers adds a million rows a day to
-- customer_features.  prune_snapshots keeps a snapshot when it is among
-- the keep_last latest (by as_of) or younger than keep_for (as_of after
-- now() - keep_for); of the others it removes the customer-level rows
-- only (their KPIs, models and migration counts stay, so trends and
-- history keep them), or, with customer_level_only => false, the whole
-- snapshot.  Serialised with refresh and erasure.  Schedule it next to
-- refresh, e.g. SELECT segkpi.prune_snapshots(keep_last => 7).
CREATE FUNCTION segkpi.prune_snapshots(keep_last integer DEFAULT NULL, keep_for interval DEFAULT NULL,
                                       customer_level_only boolean DEFAULT true)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    doomed bigint[];
BEGIN
    IF keep_last IS NULL AND keep_for IS NULL THEN
        RAISE EXCEPTION 'give keep_last, keep_for or both' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF keep_last < 1 THEN
        RAISE EXCEPTION 'keep_last must be at least 1 (got %)', keep_last USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'The next refresh counts segment migration against the latest snapshot''s customers.';
    END IF;
    IF keep_for < interval '0' THEN
        RAISE EXCEPTION 'keep_for must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM segkpi.lock_snapshots();
    doomed := ARRAY(
        SELECT s.snapshot_id
          FROM (SELECT s.*, row_number() OVER (ORDER BY s.as_of DESC, s.snapshot_id DESC) AS rank
                  FROM segkpi.snapshots s) s
         WHERE (keep_last IS NULL OR s.rank > keep_last)
           AND (keep_for IS NULL OR s.as_of < now() - keep_for));
    IF customer_level_only THEN
        IF to_regclass('segkpi.customer_features') IS NOT NULL THEN
            PERFORM segkpi.check_writer('segkpi.customer_features');
            DELETE FROM segkpi.customer_features f WHERE f.snapshot_id = ANY (doomed);
        END IF;
    ELSE
        DELETE FROM segkpi.snapshots s WHERE s.snapshot_id = ANY (doomed);
    END IF;
    RETURN cardinality(doomed);
END
$$;
COMMENT ON FUNCTION segkpi.prune_snapshots(integer, interval, boolean) IS
    'keeps the keep_last latest snapshots and those younger than keep_for; of the others removes the customer-level rows (or, customer_level_only => false, everything); returns how many snapshots it pruned';

REVOKE EXECUTE ON FUNCTION segkpi.prune_snapshots(integer, interval, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION segkpi.prune_snapshots(integer, interval, boolean) TO @extowner@;
