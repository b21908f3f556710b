------------------------------------------------------------------------
-- KPI pipeline: customer-level tables
------------------------------------------------------------------------

CREATE FUNCTION segkpi.ensure_customer_tables(key_type regtype)
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
COMMENT ON FUNCTION segkpi.ensure_customer_tables(regtype) IS
    'creates the customer-level snapshot tables with the customer key type of the orders binding';

------------------------------------------------------------------------
-- Cascade, erasure and the working tables
------------------------------------------------------------------------

CREATE FUNCTION segkpi.snapshots_cascade() RETURNS trigger
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
COMMENT ON FUNCTION segkpi.snapshots_cascade() IS
    'deleting or truncating snapshots removes their customer-level rows (the cascade a foreign key would do)';
CREATE TRIGGER snapshots_cascade AFTER DELETE ON segkpi.snapshots
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION segkpi.snapshots_cascade();
CREATE TRIGGER snapshots_cascade_truncate AFTER TRUNCATE ON segkpi.snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION segkpi.snapshots_cascade();
REVOKE EXECUTE ON FUNCTION segkpi.snapshots_cascade() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION segkpi.snapshots_cascade() TO @extowner@;

-- erasure: one customer out of every customer-level table
CREATE FUNCTION segkpi.erase_customer(customer anyelement)
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
COMMENT ON FUNCTION segkpi.erase_customer(anyelement) IS
    'right to erasure: deletes a customer from every customer-level table segkpi keeps; returns rows deleted (aggregates are not recomputed)';