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
                                  'rfm_grid', 'segment_migration', 'engagement_by_kind']::name[])
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

REVOKE EXECUTE ON FUNCTION segkpi.grant_dashboard_access(regrole), segkpi.revoke_dashboard_access(regrole)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION segkpi.grant_dashboard_access(regrole), segkpi.revoke_dashboard_access(regrole)
    TO @extowner@;
