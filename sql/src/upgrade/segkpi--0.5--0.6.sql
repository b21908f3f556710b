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
-- k-means models: matched clusters, their names, the scores of choosing k
-- (first: the views below read them)
------------------------------------------------------------------------

--@ create function segkpi.kmeans_match
--@ create function segkpi.kmeans_relabel
ALTER TABLE segkpi.segment_models
    ADD COLUMN matched_to bigint,
    ADD COLUMN match_note text,
    ADD COLUMN drift float8[],
    ADD COLUMN scores jsonb;
--@ statement ^COMMENT ON COLUMN segkpi\.segment_models\.model IS
--@ statement ^COMMENT ON COLUMN segkpi\.segment_models\.matched_to IS
--@ statement ^COMMENT ON COLUMN segkpi\.segment_models\.match_note IS
--@ statement ^COMMENT ON COLUMN segkpi\.segment_models\.drift IS
--@ statement ^COMMENT ON COLUMN segkpi\.segment_models\.scores IS
--@ create table segkpi.cluster_names
GRANT SELECT, INSERT, UPDATE, DELETE ON segkpi.cluster_names TO @extowner@;

------------------------------------------------------------------------
-- The ROI of segmenting: its cost, a comparison group, per-customer figures
------------------------------------------------------------------------

ALTER TABLE segkpi.settings
    ADD COLUMN segmentation_cost_once numeric NOT NULL DEFAULT 0 CHECK (segmentation_cost_once >= 0),
    ADD COLUMN segmentation_cost_per_period numeric NOT NULL DEFAULT 0 CHECK (segmentation_cost_per_period >= 0),
    ADD COLUMN comparison_attribute name,
    ADD COLUMN holdout_share numeric CHECK (holdout_share > 0 AND holdout_share < 1),
    ADD CONSTRAINT settings_comparison_check CHECK (comparison_attribute IS NULL OR holdout_share IS NULL);
--@ statement ^COMMENT ON COLUMN segkpi\.settings\.segmentation_cost_once IS
--@ statement ^COMMENT ON COLUMN segkpi\.settings\.segmentation_cost_per_period IS
--@ statement ^COMMENT ON COLUMN segkpi\.settings\.comparison_attribute IS
--@ statement ^COMMENT ON COLUMN segkpi\.settings\.holdout_share IS
--@ replace function segkpi.settings_replace
ALTER TABLE segkpi.snapshots ADD COLUMN comparison text;
--@ statement ^COMMENT ON COLUMN segkpi\.snapshots\.comparison IS
ALTER TABLE segkpi.segment_kpis
    ADD COLUMN comparison_customers bigint,
    ADD COLUMN comparison_active bigint,
    ADD COLUMN comparison_orders bigint,
    ADD COLUMN comparison_revenue numeric,
    ADD COLUMN comparison_cost numeric;
--@ statement ^COMMENT ON COLUMN segkpi\.segment_kpis\.comparison_customers IS
--@ statement ^COMMENT ON COLUMN segkpi\.segment_kpis\.comparison_active IS
--@ statement ^COMMENT ON COLUMN segkpi\.segment_kpis\.comparison_orders IS
--@ statement ^COMMENT ON COLUMN segkpi\.segment_kpis\.comparison_revenue IS
--@ statement ^COMMENT ON COLUMN segkpi\.segment_kpis\.comparison_cost IS

------------------------------------------------------------------------
-- Engagement: a source, KPIs per segment and period, per kind
------------------------------------------------------------------------

ALTER TABLE segkpi.bindings DROP CONSTRAINT bindings_source_check,
    ADD CONSTRAINT bindings_source_check
    CHECK (source IN ('orders', 'customers', 'marketing_spend', 'leads', 'feedback', 'engagement'));
--@ statement ^COMMENT ON COLUMN segkpi\.bindings\.source IS
ALTER TABLE segkpi.segment_kpis
    ADD COLUMN engaged_customers bigint,
    ADD COLUMN engagement_events bigint,
    ADD COLUMN engagement_rate numeric,
    ADD COLUMN events_per_engaged numeric;
--@ statement ^COMMENT ON COLUMN segkpi\.segment_kpis\.engaged_customers IS
--@ statement ^COMMENT ON COLUMN segkpi\.segment_kpis\.engagement_events IS
--@ statement ^COMMENT ON COLUMN segkpi\.segment_kpis\.engagement_rate IS
--@ statement ^COMMENT ON COLUMN segkpi\.segment_kpis\.events_per_engaged IS
--@ create table segkpi.segment_engagement
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON segkpi.segment_engagement TO @extowner@;
--@ replace function segkpi.binding_spec
--@ replace function segkpi.bind
--@ create function segkpi.bind_engagement

------------------------------------------------------------------------
-- Customer-level table: written only by its owner, adopted by it
------------------------------------------------------------------------

--@ create function segkpi.check_writer
--@ create function segkpi.lock_snapshots
--@ create function segkpi.adopt_customer_tables
--@ replace function segkpi.ensure_customer_tables
--@ replace function segkpi.snapshots_cascade
--@ replace function segkpi.erase_customer
------------------------------------------------------------------------
-- Segment migration kept as counts, small cells hidden
------------------------------------------------------------------------

--@ create table segkpi.segment_migrations
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON segkpi.segment_migrations TO @extowner@;

--@ create function segkpi.hide_migration_cells
--@ create function segkpi.store_migration
--@ create function segkpi.settings_rehide
------------------------------------------------------------------------
-- Refresh made of stages: one function per stage, one unit per
-- segmentation method, values passed as parameters, KPI formulas once
------------------------------------------------------------------------

-- replaced by versions that pass their values as parameters
DROP FUNCTION segkpi.rule_case(text, text, name[]);
DROP FUNCTION segkpi.rule_predicate(jsonb, text, name[]);
DROP FUNCTION segkpi.kmeans_feature_sql(segkpi.segmentations, segkpi.bindings, timestamptz);

--@ create type segkpi.refresh_run
--@ create function segkpi.work_tables
--@ create function segkpi.work_table
--@ replace function segkpi.drop_temp_tables
--@ create function segkpi.method_piece
--@ create function segkpi.grouping_sql
--@ create function segkpi.segments_sql
--@ create function segkpi.method_rfm
--@ create function segkpi.rule_behaviour
--@ create function segkpi.rule_predicate
--@ create function segkpi.rule_case
--@ create function segkpi.method_rules
--@ create function segkpi.kmeans_feature_sql
--@ create function segkpi.method_kmeans
--@ create function segkpi.stage_orders
--@ create function segkpi.stage_customers
--@ create function segkpi.stage_models
--@ create function segkpi.stage_segments
--@ create function segkpi.stage_sources
--@ create function segkpi.stage_lead_groups
--@ create function segkpi.stage_kpis
--@ replace function segkpi.refresh
--@ replace function segkpi.predict_clv
--@ create function segkpi.kpi_ratio
--@ create function segkpi.kpi_share
--@ create function segkpi.kpi_aov
--@ create function segkpi.kpi_purchase_frequency
--@ create function segkpi.kpi_retention_rate
--@ create function segkpi.kpi_churn_rate
--@ create function segkpi.kpi_cac
--@ create function segkpi.kpi_conversion_rate
--@ create function segkpi.kpi_cltv_historical
--@ create function segkpi.kpi_cltv_formula
--@ create function segkpi.kpi_roi
--@ create function segkpi.kpi_marketing_roi
--@ create function segkpi.kpi_csat
-- compute_kpis learns the segments each method defines
DROP FUNCTION segkpi.compute_kpis(bigint, text, boolean, text, interval, timestamptz, boolean, boolean);
--@ create function segkpi.compute_kpis
--@ create function segkpi.kpi_segmentation_roi
--@ create function segkpi.kpi_engagement_rate
--@ create function segkpi.kpi_events_per_engaged



------------------------------------------------------------------------
-- KPI views: latest = greatest as_of, complete periods, history, complementary hiding
------------------------------------------------------------------------

--@ create function segkpi.hidden_set_safe
--@ replace view segkpi.cluster_profiles
--@ create view segkpi.kpi_cells
--@ replace view segkpi.kpi_trends
--@ replace view segkpi.kpi_latest
--@ create view segkpi.kpi_history
--@ replace view segkpi.before_after
--@ create view segkpi.engagement_by_kind
GRANT SELECT ON segkpi.engagement_by_kind TO @extowner@ WITH GRANT OPTION;
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

--@ create function segkpi.dashboard_views
--@ create function segkpi.grant_dashboard_access
--@ create function segkpi.revoke_dashboard_access
------------------------------------------------------------------------
-- The compact RFM ruleset (a user ruleset of that name is renamed first)
------------------------------------------------------------------------

DO $$
BEGIN
    IF EXISTS (SELECT FROM segkpi.rfm_rules WHERE ruleset = 'compact') THEN
        UPDATE segkpi.rfm_rules SET ruleset = 'compact (renamed in 0.6)' WHERE ruleset = 'compact';
        RAISE NOTICE 'your RFM ruleset "compact" is now "compact (renamed in 0.6)": segkpi 0.6 ships its own "compact"';
    END IF;
END
$$;
--@ statement ^INSERT INTO segkpi\.rfm_rules .*'compact', 10
--@ replace function segkpi.rfm_rules_guard
--@ statement ^SELECT pg_catalog\.pg_extension_config_dump\('segkpi\.rfm_rules'
COMMENT ON COLUMN segkpi.rfm_rules.ruleset IS 'name of the rule set; "default" (11 segments) and "compact" (4) are maintained by the extension and read-only';

------------------------------------------------------------------------
-- Privileges
------------------------------------------------------------------------

GRANT SELECT, UPDATE ON SEQUENCE segkpi.snapshots_snapshot_id_seq TO @extowner@;
GRANT TRUNCATE ON segkpi.snapshots, segkpi.segment_kpis, segkpi.segment_models TO @extowner@;
REVOKE EXECUTE ON FUNCTION
    segkpi.rfm_rules_guard(),
    segkpi.settings_replace(),
    segkpi.snapshots_cascade(),
    segkpi.settings_rehide()
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
------------------------------------------------------------------------
-- Rules checked when written; snapshot retention
------------------------------------------------------------------------

--@ create function segkpi.check_rule
--@ create function segkpi.segment_rules_check
REVOKE EXECUTE ON FUNCTION segkpi.segment_rules_check() FROM PUBLIC;

--@ create function segkpi.prune_snapshots
REVOKE EXECUTE ON FUNCTION segkpi.prune_snapshots(integer, interval, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION segkpi.prune_snapshots(integer, interval, boolean) TO @extowner@;

------------------------------------------------------------------------
-- Stable k-means clusters: matched to the previous model, named
------------------------------------------------------------------------

--@ create function segkpi.kmeans_pick_k
--@ create function segkpi.kmeans_keep
--@ statement ^COMMENT ON COLUMN segkpi\.kpi_cells\.segment_name IS
--@ statement ^COMMENT ON COLUMN segkpi\.kpi_trends\.segment_name IS
--@ statement ^COMMENT ON COLUMN segkpi\.kpi_latest\.segment_name IS
--@ statement ^COMMENT ON COLUMN segkpi\.kpi_history\.segment_name IS

-- the comparison group of before_after
--@ create function segkpi.holdout_bucket
--@ create function segkpi.in_holdout
--@ create function segkpi.comparison_sql

------------------------------------------------------------------------
-- The internal functions, new and old, are not an interface: the install
-- script's own blocks, once every function exists
------------------------------------------------------------------------

--@ statement ^DO \$\$.*'segkpi\.binding_column_type\(
--@ statement ^REVOKE EXECUTE ON FUNCTION segkpi\.grant_dashboard_access
--@ statement ^GRANT EXECUTE ON FUNCTION segkpi\.grant_dashboard_access
