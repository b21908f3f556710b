------------------------------------------------------------------------
-- KPI pipeline: privileges of the internal functions
------------------------------------------------------------------------

-- Used by refresh and the bind functions; not an interface.  They run with
-- the caller's rights anyway; keeping them from PUBLIC keeps the surface small.
REVOKE EXECUTE ON FUNCTION
    segkpi.binding_column_type(regclass, name, text, text[]),
    segkpi.checked_binding(text),
    segkpi.rule_predicate(jsonb, text, name[]),
    segkpi.rule_case(text, text, name[]),
    segkpi.drop_temp_tables(),
    segkpi.compute_kpis(bigint, text, boolean, text, interval, timestamptz, boolean, boolean),
    segkpi.ensure_customer_tables(regtype),
    segkpi.kmeans_feature_sql(segkpi.segmentations, segkpi.bindings, timestamptz),
    segkpi.groupable_columns(regclass, name[]),
    segkpi.predict_clv(segkpi.bindings, timestamptz, segkpi.settings),
    segkpi.bind_orders(regclass, name, name, name, name, name),
    segkpi.bind_customers(regclass, name, name, name, name[]),
    segkpi.bind_marketing_spend(regclass, name, name, name, name),
    segkpi.bind_leads(regclass, name, name, name, name, name[]),
    segkpi.bind_feedback(regclass, name, name, name),
    segkpi.binding_spec(text),
    segkpi.binding_types(text),
    segkpi.check_writer(regclass),
    segkpi.lock_snapshots(),
    segkpi.adopt_customer_tables(),
    segkpi.hide_migration_cells(bigint),
    segkpi.store_migration(bigint),
    segkpi.check_rule(text, integer, jsonb)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    segkpi.binding_column_type(regclass, name, text, text[]),
    segkpi.checked_binding(text),
    segkpi.rule_predicate(jsonb, text, name[]),
    segkpi.rule_case(text, text, name[]),
    segkpi.drop_temp_tables(),
    segkpi.compute_kpis(bigint, text, boolean, text, interval, timestamptz, boolean, boolean),
    segkpi.ensure_customer_tables(regtype),
    segkpi.kmeans_feature_sql(segkpi.segmentations, segkpi.bindings, timestamptz),
    segkpi.groupable_columns(regclass, name[]),
    segkpi.predict_clv(segkpi.bindings, timestamptz, segkpi.settings),
    segkpi.bind_orders(regclass, name, name, name, name, name),
    segkpi.bind_customers(regclass, name, name, name, name[]),
    segkpi.bind_marketing_spend(regclass, name, name, name, name),
    segkpi.bind_leads(regclass, name, name, name, name, name[]),
    segkpi.bind_feedback(regclass, name, name, name),
    segkpi.binding_spec(text),
    segkpi.binding_types(text),
    segkpi.check_writer(regclass),
    segkpi.lock_snapshots(),
    segkpi.adopt_customer_tables(),
    segkpi.hide_migration_cells(bigint),
    segkpi.store_migration(bigint),
    segkpi.check_rule(text, integer, jsonb)
    TO @extowner@;

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
