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

-- Counted in one merge of the two snapshots' rows on the customer key:
-- each is read in key order from the primary key (ORDER BY in the
-- subqueries lets the planner see that order, which it does not for a
-- full join of filtered scans), so there is no hash table of a million
-- rows and no sort, and the time does not grow with the snapshots kept, as
-- a sequential scan's would.  Segmentations are matched by name, so one
-- added or dropped between the snapshots shows everybody moving from or
-- to (none).
CREATE FUNCTION segkpi.store_migration(sid bigint)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
    SET enable_hashjoin = off
    SET enable_sort = off
    SET enable_seqscan = off
    SET enable_bitmapscan = off
AS $$
DECLARE
    cur segkpi.snapshots;
    prev segkpi.snapshots;
    names text[];
    pa integer[];
    pb integer[];
BEGIN
    SELECT * INTO cur FROM segkpi.snapshots s WHERE s.snapshot_id = sid;
    SELECT * INTO prev FROM segkpi.snapshots s
     WHERE (s.as_of, s.snapshot_id) < (cur.as_of, cur.snapshot_id)
     ORDER BY s.as_of DESC, s.snapshot_id DESC LIMIT 1;
    IF prev IS NULL OR to_regclass('segkpi.customer_features') IS NULL THEN
        RETURN;
    END IF;
    names := ARRAY(SELECT DISTINCT u FROM unnest(prev.segmentations || cur.segmentations) u ORDER BY 1);
    -- where each segmentation sits in either snapshot's segments arrays
    pa := ARRAY(SELECT array_position(prev.segmentations, n) FROM unnest(names) n);
    pb := ARRAY(SELECT array_position(cur.segmentations, n) FROM unnest(names) n);
    -- customers counted per pair of segments arrays first: a few thousand
    -- distinct pairs, unnested per segmentation afterwards, instead of a
    -- row per customer and segmentation
    INSERT INTO segkpi.segment_migrations
        (snapshot_id, previous_snapshot_id, segmentation, from_segment, to_segment, customers)
    SELECT sid, prev.snapshot_id, u.name, coalesce(p.a[u.pa], '(none)'), coalesce(p.b[u.pb], '(none)'),
           sum(p.n)::bigint
      FROM (SELECT a.segments AS a, b.segments AS b, count(*) AS n
              FROM (SELECT f.customer_id, f.segments FROM segkpi.customer_features f
                     WHERE f.snapshot_id = prev.snapshot_id ORDER BY f.customer_id) a
              FULL JOIN (SELECT f.customer_id, f.segments FROM segkpi.customer_features f
                          WHERE f.snapshot_id = sid ORDER BY f.customer_id) b
                ON a.customer_id = b.customer_id
             GROUP BY 1, 2) p
     CROSS JOIN LATERAL unnest(names, pa, pb) AS u(name, pa, pb)
     WHERE p.a[u.pa] IS NOT NULL OR p.b[u.pb] IS NOT NULL
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
