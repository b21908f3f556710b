------------------------------------------------------------------------
-- KPI pipeline: privileges of the internal functions
------------------------------------------------------------------------

-- Used by refresh and the bind functions; not an interface.  They run with
-- the caller's rights anyway; keeping them from PUBLIC keeps the surface
-- small.  The extension's owner may call them (the refresh it runs does).
-- The owner is read from the catalog and quoted by regrole's output; the
-- list is written once, for the REVOKE and the GRANT, and the upgrade
-- script copies this block (sql/src/upgrade).
DO $$
DECLARE
    owner regrole := (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'segkpi');
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'segkpi.binding_column_type(regclass, name, text, text[])',
        'segkpi.checked_binding(text)',
        'segkpi.rule_predicate(jsonb, text, segkpi.bindings, text[])',
        'segkpi.rule_case(text, text, segkpi.bindings, text[], text)',
        'segkpi.drop_temp_tables()',
        'segkpi.work_tables()',
        'segkpi.work_table(text)',
        'segkpi.method_piece(text, segkpi.segmentations, integer, segkpi.refresh_run, text[])',
        'segkpi.method_rfm(text, segkpi.segmentations, integer, segkpi.refresh_run, text[])',
        'segkpi.method_rules(text, segkpi.segmentations, integer, segkpi.refresh_run, text[])',
        'segkpi.method_kmeans(text, segkpi.segmentations, integer, segkpi.refresh_run, text[])',
        'segkpi.kmeans_keep(segkpi.segmentations, integer, segkpi.refresh_run)',
        'segkpi.comparison_sql(segkpi.settings, segkpi.refresh_run, text[])',
        'segkpi.grouping_sql(integer, text, boolean)',
        'segkpi.segments_sql(text[])',
        'segkpi.stage_orders(segkpi.refresh_run, text, text[])',
        'segkpi.stage_customers(segkpi.refresh_run, segkpi.segmentations[])',
        'segkpi.stage_models(segkpi.refresh_run, segkpi.segmentations[], text[])',
        'segkpi.stage_segments(segkpi.refresh_run, text[], text[])',
        'segkpi.stage_sources(segkpi.refresh_run, text[], name[], text[])',
        'segkpi.stage_lead_groups(segkpi.refresh_run, text, integer)',
        'segkpi.stage_kpis(segkpi.refresh_run, segkpi.segmentations[], text[], boolean[], text[])',
        'segkpi.compute_kpis(bigint, text, boolean, text, interval, timestamptz, boolean, boolean, text[], boolean)',
        'segkpi.ensure_customer_tables(regtype)',
        'segkpi.kmeans_feature_sql(segkpi.segmentations, segkpi.bindings)',
        'segkpi.groupable_columns(regclass, name[])',
        'segkpi.predict_clv(segkpi.bindings, timestamptz, segkpi.settings)',
        'segkpi.bind_orders(regclass, name, name, name, name, name)',
        'segkpi.bind_customers(regclass, name, name, name, name[])',
        'segkpi.bind_marketing_spend(regclass, name, name, name, name)',
        'segkpi.bind_leads(regclass, name, name, name, name, name[])',
        'segkpi.bind_feedback(regclass, name, name, name)',
        'segkpi.bind_engagement(regclass, name, name, name, name)',
        'segkpi.binding_spec(text)',
        'segkpi.binding_types(text)',
        'segkpi.check_writer(regclass)',
        'segkpi.lock_snapshots()',
        'segkpi.adopt_customer_tables()',
        'segkpi.hide_migration_cells(bigint)',
        'segkpi.store_migration(bigint)',
        'segkpi.check_rule(text, integer, jsonb)'
    ]::regprocedure[] LOOP
        EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', f, owner);
    END LOOP;
END
$$;

-- Trigger functions fire whatever their EXECUTE privilege; nobody needs to
-- call them directly.
REVOKE EXECUTE ON FUNCTION
    segkpi.rfm_rules_guard(),
    segkpi.settings_replace(),
    segkpi.snapshots_cascade(),
    segkpi.settings_rehide(),
    segkpi.segment_rules_check()
    FROM PUBLIC;

-- The owner may empty the history as the README says (TRUNCATE
-- segkpi.snapshots CASCADE reaches the tables that refer to it).
GRANT TRUNCATE ON segkpi.snapshots, segkpi.segment_kpis, segkpi.segment_models TO @extowner@;
