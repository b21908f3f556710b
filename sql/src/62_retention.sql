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
