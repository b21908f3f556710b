------------------------------------------------------------------------
-- KPI pipeline: configuration
------------------------------------------------------------------------

-- Bound warehouse tables: one row per source, columns by role.
CREATE TABLE segkpi.bindings (
    source     text PRIMARY KEY
               CONSTRAINT bindings_source_check
               CHECK (source IN ('orders', 'customers', 'marketing_spend', 'leads', 'feedback', 'engagement')),
    relation   regclass NOT NULL,
    columns    jsonb NOT NULL,
    attributes name[] NOT NULL DEFAULT '{}',
    bound_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE segkpi.bindings IS 'warehouse tables bound to segkpi, one per source; written by the segkpi.bind_* functions';
COMMENT ON COLUMN segkpi.bindings.source IS 'orders, customers, marketing_spend, leads, feedback or engagement';
COMMENT ON COLUMN segkpi.bindings.relation IS 'the bound table or view';
COMMENT ON COLUMN segkpi.bindings.columns IS 'role -> column name, e.g. {"customer": "customer_id", "amount": "total"}';
COMMENT ON COLUMN segkpi.bindings.attributes IS 'attribute columns (customers, leads) usable by rule segmentations';
COMMENT ON COLUMN segkpi.bindings.bound_at IS 'when the binding was made';

-- Settings: exactly one row.
CREATE TABLE segkpi.settings (
    id                integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    period_grain      text NOT NULL DEFAULT 'month' CHECK (period_grain IN ('month', 'quarter')),
    clv_horizon_days  integer NOT NULL DEFAULT 365 CHECK (clv_horizon_days > 0),
    clv_discount_rate numeric NOT NULL DEFAULT 0.10 CHECK (clv_discount_rate > -1),
    min_segment_size  integer NOT NULL DEFAULT 10 CHECK (min_segment_size >= 0),
    launch_date       date,
    predict_clv       boolean NOT NULL DEFAULT false,
    segmentation_cost_once numeric NOT NULL DEFAULT 0 CHECK (segmentation_cost_once >= 0),
    segmentation_cost_per_period numeric NOT NULL DEFAULT 0 CHECK (segmentation_cost_per_period >= 0),
    comparison_attribute name,
    holdout_share     numeric CHECK (holdout_share > 0 AND holdout_share < 1),
    CONSTRAINT settings_comparison_check CHECK (comparison_attribute IS NULL OR holdout_share IS NULL)
);
INSERT INTO segkpi.settings DEFAULT VALUES;
COMMENT ON TABLE segkpi.settings IS 'pipeline settings (one row; an INSERT replaces it)';

-- The single settings row exists from CREATE EXTENSION on, and pg_dump
-- copies it back on restore: an INSERT therefore replaces the row.
CREATE FUNCTION segkpi.settings_replace() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
BEGIN
    IF EXISTS (SELECT FROM segkpi.settings WHERE id = NEW.id) THEN
        UPDATE segkpi.settings
           SET period_grain = NEW.period_grain, clv_horizon_days = NEW.clv_horizon_days,
               clv_discount_rate = NEW.clv_discount_rate, min_segment_size = NEW.min_segment_size,
               launch_date = NEW.launch_date, predict_clv = NEW.predict_clv,
               segmentation_cost_once = NEW.segmentation_cost_once,
               segmentation_cost_per_period = NEW.segmentation_cost_per_period,
               comparison_attribute = NEW.comparison_attribute, holdout_share = NEW.holdout_share
         WHERE id = NEW.id;
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION segkpi.settings_replace() IS 'makes an INSERT into segkpi.settings replace its single row (restores)';
CREATE TRIGGER settings_replace BEFORE INSERT ON segkpi.settings
    FOR EACH ROW EXECUTE FUNCTION segkpi.settings_replace();
COMMENT ON COLUMN segkpi.settings.id IS 'always 1';
COMMENT ON COLUMN segkpi.settings.period_grain IS 'KPI period: calendar month or quarter, in the TimeZone of the session that refreshes';
COMMENT ON COLUMN segkpi.settings.clv_horizon_days IS 'horizon of predicted CLTV, in days';
COMMENT ON COLUMN segkpi.settings.clv_discount_rate IS 'yearly discount rate of predicted CLTV';
COMMENT ON COLUMN segkpi.settings.min_segment_size IS 'dashboard views hide segments with fewer customers than this';
COMMENT ON COLUMN segkpi.settings.launch_date IS 'start of segment-based marketing, for segkpi.before_after';
COMMENT ON COLUMN segkpi.settings.segmentation_cost_once IS 'one-off cost of segmenting (tools, analysis, set-up), for the ROI of segmentation in segkpi.before_after';
COMMENT ON COLUMN segkpi.settings.segmentation_cost_per_period IS 'running cost of segmenting per period from launch_date on, for the ROI of segmentation in segkpi.before_after';
COMMENT ON COLUMN segkpi.settings.comparison_attribute IS
    'a boolean bound customer attribute, true for customers not targeted: the comparison group of segkpi.before_after';
COMMENT ON COLUMN segkpi.settings.holdout_share IS
    'instead of comparison_attribute: the share (0..1, exclusive) of customers held out by a hash of their key (segkpi.in_holdout), the comparison group of segkpi.before_after';
COMMENT ON COLUMN segkpi.settings.predict_clv IS 'fit BG/NBD + Gamma-Gamma at each refresh for predicted CLTV and P(alive) (one more pass over the orders)';

-- Segmentations to compute at each refresh.
CREATE TABLE segkpi.segmentations (
    name    text PRIMARY KEY CHECK (name <> '' AND name <> '(all)'),
    method  text NOT NULL CHECK (method IN ('rfm', 'rules', 'kmeans')),
    params  jsonb NOT NULL DEFAULT '{}',
    active  boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE segkpi.segmentations IS 'segmentations computed by segkpi.refresh';
COMMENT ON COLUMN segkpi.segmentations.name IS 'name of the segmentation';
COMMENT ON COLUMN segkpi.segmentations.method IS
    'rfm (params bins, ruleset), rules (segkpi.segment_rules) or kmeans (params features, k, seed, transform, restarts)';
COMMENT ON COLUMN segkpi.segmentations.params IS 'method parameters: rfm {"bins": 5, "ruleset": "default"}';
COMMENT ON COLUMN segkpi.segmentations.active IS 'only active segmentations are refreshed';

-- Ordered rules of rule segmentations: first match wins.
CREATE TABLE segkpi.segment_rules (
    segmentation text NOT NULL REFERENCES segkpi.segmentations ON DELETE CASCADE,
    rule_order   integer NOT NULL,
    segment      text NOT NULL CHECK (segment <> '' AND segment <> '(all)'),
    conditions   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(conditions) = 'object'),
    PRIMARY KEY (segmentation, rule_order)
);
COMMENT ON TABLE segkpi.segment_rules IS 'rules of rule segmentations; a customer (or lead) gets the segment of the first rule whose conditions all hold, else "Other"';
COMMENT ON COLUMN segkpi.segment_rules.segmentation IS 'the rule segmentation';
COMMENT ON COLUMN segkpi.segment_rules.rule_order IS 'rules are tried in ascending order';
COMMENT ON COLUMN segkpi.segment_rules.segment IS 'segment name';
COMMENT ON COLUMN segkpi.segment_rules.conditions IS '{"attr": ["v1", "v2"]} (value in list) or {"attr": {"min": 50, "max": 999}} (inclusive range); all must hold; {} matches everything';

SELECT pg_catalog.pg_extension_config_dump('segkpi.bindings', '');
SELECT pg_catalog.pg_extension_config_dump('segkpi.settings', '');
SELECT pg_catalog.pg_extension_config_dump('segkpi.segmentations', '');
SELECT pg_catalog.pg_extension_config_dump('segkpi.segment_rules', '');

------------------------------------------------------------------------
-- KPI pipeline: snapshots
------------------------------------------------------------------------

CREATE TABLE segkpi.snapshots (
    snapshot_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    as_of       timestamptz NOT NULL,
    taken_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    timezone    text NOT NULL,
    period_grain text NOT NULL,
    customers   bigint NOT NULL,
    stages      jsonb NOT NULL DEFAULT '{}',
    segmentations text[] NOT NULL DEFAULT '{}',
    comparison  text
);
COMMENT ON TABLE segkpi.snapshots IS 'one row per refresh';
COMMENT ON COLUMN segkpi.snapshots.snapshot_id IS 'snapshot number, increasing';
COMMENT ON COLUMN segkpi.snapshots.as_of IS 'the snapshot covers everything strictly before as_of';
COMMENT ON COLUMN segkpi.snapshots.taken_at IS 'when the refresh ran';
COMMENT ON COLUMN segkpi.snapshots.timezone IS 'TimeZone in which periods were cut';
COMMENT ON COLUMN segkpi.snapshots.period_grain IS 'month or quarter';
COMMENT ON COLUMN segkpi.snapshots.customers IS 'customers with at least one order row up to as_of';
COMMENT ON COLUMN segkpi.snapshots.stages IS 'seconds spent per refresh stage';
COMMENT ON COLUMN segkpi.snapshots.segmentations IS
    'the segmentations of the snapshot, in the order of customer_features.segments';
COMMENT ON COLUMN segkpi.snapshots.comparison IS
    'the comparison group of the snapshot''s KPIs (segment_kpis.comparison_*): attribute "<name>" or holdout <share>; NULL: none';

CREATE TABLE segkpi.segment_kpis (
    snapshot_id        bigint NOT NULL REFERENCES segkpi.snapshots ON DELETE CASCADE,
    segmentation       text NOT NULL,
    segment            text NOT NULL,
    period_start       date NOT NULL,
    period_end         date NOT NULL,
    customers          bigint NOT NULL,
    share              numeric,
    active_customers   bigint NOT NULL,
    new_customers      bigint NOT NULL,
    orders             bigint NOT NULL,
    revenue            numeric NOT NULL,
    cost               numeric NOT NULL,
    aov                numeric,
    purchase_frequency numeric,
    retention_rate     numeric,
    churn_rate         numeric,
    attributed_spend   numeric,
    cac                numeric,
    leads              bigint,
    converted_leads    bigint,
    conversion_rate    numeric,
    cltv_historical    numeric,
    cltv_formula       numeric,
    roi                numeric,
    marketing_roi      numeric,
    csat               numeric,
    feedback_answers   bigint NOT NULL,
    previously_active  bigint,
    retained           bigint NOT NULL,
    cltv_predicted     numeric,
    p_alive            numeric,
    comparison_customers bigint,
    comparison_active  bigint,
    comparison_orders  bigint,
    comparison_revenue numeric,
    comparison_cost    numeric,
    engaged_customers  bigint,
    engagement_events  bigint,
    engagement_rate    numeric,
    events_per_engaged numeric,
    PRIMARY KEY (snapshot_id, segmentation, segment, period_start)
);
COMMENT ON TABLE segkpi.segment_kpis IS 'KPIs per snapshot, segmentation, segment and period; segment "(all)" is the total over all customers';
COMMENT ON COLUMN segkpi.segment_kpis.snapshot_id IS 'the snapshot';
COMMENT ON COLUMN segkpi.segment_kpis.segmentation IS 'the segmentation';
COMMENT ON COLUMN segkpi.segment_kpis.segment IS 'segment name, or "(all)"';
COMMENT ON COLUMN segkpi.segment_kpis.period_start IS 'first day of the period (inclusive)';
COMMENT ON COLUMN segkpi.segment_kpis.period_end IS 'first day after the period (exclusive)';
COMMENT ON COLUMN segkpi.segment_kpis.customers IS 'segment members acquired before period_end';
COMMENT ON COLUMN segkpi.segment_kpis.share IS 'customers / customers of "(all)" in the period';
COMMENT ON COLUMN segkpi.segment_kpis.active_customers IS 'members with at least one order (amount > 0) in the period';
COMMENT ON COLUMN segkpi.segment_kpis.new_customers IS 'members acquired in the period (acquired_at when bound and set, else first order)';
COMMENT ON COLUMN segkpi.segment_kpis.orders IS 'order rows with amount > 0 in the period';
COMMENT ON COLUMN segkpi.segment_kpis.revenue IS 'sum of all amounts in the period, refunds included (exact)';
COMMENT ON COLUMN segkpi.segment_kpis.cost IS 'sum of order cost in the period (0 when no cost column is bound)';
COMMENT ON COLUMN segkpi.segment_kpis.aov IS 'revenue / orders';
COMMENT ON COLUMN segkpi.segment_kpis.purchase_frequency IS 'orders / active_customers';
COMMENT ON COLUMN segkpi.segment_kpis.retention_rate IS 'members active in the previous period and in this one / members active in the previous period';
COMMENT ON COLUMN segkpi.segment_kpis.churn_rate IS '1 - retention_rate';
COMMENT ON COLUMN segkpi.segment_kpis.attributed_spend IS 'marketing spend of the period attributed to the segment (see README); NULL when no spend is bound';
COMMENT ON COLUMN segkpi.segment_kpis.cac IS 'attributed_spend / new_customers';
COMMENT ON COLUMN segkpi.segment_kpis.leads IS 'leads created in the period (rule segmentations; NULL otherwise)';
COMMENT ON COLUMN segkpi.segment_kpis.converted_leads IS 'of those leads, the ones ever converted';
COMMENT ON COLUMN segkpi.segment_kpis.conversion_rate IS 'converted_leads / leads';
COMMENT ON COLUMN segkpi.segment_kpis.cltv_historical IS 'gross margin (revenue - cost) up to period_end / customers';
COMMENT ON COLUMN segkpi.segment_kpis.cltv_formula IS 'aov x yearly purchase frequency x 1 / yearly churn x margin ratio';
COMMENT ON COLUMN segkpi.segment_kpis.roi IS '(revenue - cost - attributed_spend) / (cost + attributed_spend)';
COMMENT ON COLUMN segkpi.segment_kpis.marketing_roi IS '(revenue - cost - attributed_spend) / attributed_spend';
COMMENT ON COLUMN segkpi.segment_kpis.csat IS 'mean feedback score of members answered in the period';
COMMENT ON COLUMN segkpi.segment_kpis.feedback_answers IS 'feedback answers in the period';
COMMENT ON COLUMN segkpi.segment_kpis.previously_active IS 'members active in the previous period (NULL in the first period)';
COMMENT ON COLUMN segkpi.segment_kpis.retained IS 'of those, the members active again in this period';
COMMENT ON COLUMN segkpi.segment_kpis.cltv_predicted IS 'mean predicted CLV of the members (BG/NBD x Gamma-Gamma, discounted) over settings.clv_horizon_days; last period only, when settings.predict_clv';
COMMENT ON COLUMN segkpi.segment_kpis.p_alive IS 'mean P(alive) of the members at as_of; last period only, when settings.predict_clv';
COMMENT ON COLUMN segkpi.segment_kpis.comparison_customers IS 'of customers, those in the comparison group (not targeted); NULL when the snapshot has none';
COMMENT ON COLUMN segkpi.segment_kpis.comparison_active IS 'of active_customers, those in the comparison group';
COMMENT ON COLUMN segkpi.segment_kpis.comparison_orders IS 'of orders, those of the comparison group';
COMMENT ON COLUMN segkpi.segment_kpis.comparison_revenue IS 'of revenue, that of the comparison group';
COMMENT ON COLUMN segkpi.segment_kpis.comparison_cost IS 'of cost, that of the comparison group';
COMMENT ON COLUMN segkpi.segment_kpis.engaged_customers IS 'members with at least one engagement event in the period; NULL when engagement is not bound';
COMMENT ON COLUMN segkpi.segment_kpis.engagement_events IS 'engagement events of the members in the period';
COMMENT ON COLUMN segkpi.segment_kpis.engagement_rate IS 'engaged_customers / customers';
COMMENT ON COLUMN segkpi.segment_kpis.events_per_engaged IS 'engagement_events / engaged_customers';

-- Snapshot history is data the business keeps: dumped as well.
-- Engagement per kind (visit, e-mail open, click, ...), per snapshot,
-- segmentation, segment and period; the totals over kinds are in segment_kpis.
CREATE TABLE segkpi.segment_engagement (
    snapshot_id       bigint NOT NULL REFERENCES segkpi.snapshots ON DELETE CASCADE,
    segmentation      text NOT NULL,
    segment           text NOT NULL,
    period_start      date NOT NULL,
    kind              text NOT NULL,
    engaged_customers bigint NOT NULL,
    events            bigint NOT NULL,
    PRIMARY KEY (snapshot_id, segmentation, segment, period_start, kind)
);
COMMENT ON TABLE segkpi.segment_engagement IS 'engagement per snapshot, segmentation, segment, period and kind of event (segment "(all)": every customer)';
COMMENT ON COLUMN segkpi.segment_engagement.snapshot_id IS 'the snapshot';
COMMENT ON COLUMN segkpi.segment_engagement.segmentation IS 'the segmentation';
COMMENT ON COLUMN segkpi.segment_engagement.segment IS 'segment name, or "(all)"';
COMMENT ON COLUMN segkpi.segment_engagement.period_start IS 'first day of the period';
COMMENT ON COLUMN segkpi.segment_engagement.kind IS 'the kind of event, as bound (visit, open, click, response ...)';
COMMENT ON COLUMN segkpi.segment_engagement.engaged_customers IS 'members with at least one event of this kind in the period';
COMMENT ON COLUMN segkpi.segment_engagement.events IS 'events of this kind of the members in the period';
SELECT pg_catalog.pg_extension_config_dump('segkpi.segment_engagement', '');
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON segkpi.segment_engagement TO @extowner@;

SELECT pg_catalog.pg_extension_config_dump('segkpi.snapshots', '');
SELECT pg_catalog.pg_extension_config_dump('segkpi.segment_kpis', '');
SELECT pg_catalog.pg_extension_config_dump('segkpi.snapshots_snapshot_id_seq', '');

GRANT SELECT, INSERT, UPDATE, DELETE ON segkpi.bindings, segkpi.settings, segkpi.segmentations,
    segkpi.segment_rules, segkpi.snapshots, segkpi.segment_kpis TO @extowner@;
GRANT INSERT, UPDATE, DELETE ON segkpi.rfm_rules TO @extowner@;


------------------------------------------------------------------------
-- KPI pipeline: k-means segmentations
------------------------------------------------------------------------

-- The model of every k-means segmentation in every snapshot.
CREATE TABLE segkpi.segment_models (
    snapshot_id  bigint NOT NULL REFERENCES segkpi.snapshots ON DELETE CASCADE,
    segmentation text NOT NULL,
    features     text[] NOT NULL,
    model        segkpi.kmeans_model NOT NULL,
    matched_to   bigint,
    match_note   text,
    drift        float8[],
    scores       jsonb,
    PRIMARY KEY (snapshot_id, segmentation)
);
COMMENT ON TABLE segkpi.segment_models IS 'k-means model fitted for a segmentation at a snapshot';
COMMENT ON COLUMN segkpi.segment_models.snapshot_id IS 'the snapshot';
COMMENT ON COLUMN segkpi.segment_models.segmentation IS 'the k-means segmentation';
COMMENT ON COLUMN segkpi.segment_models.features IS 'feature names, in the order of the model''s dimensions';
COMMENT ON COLUMN segkpi.segment_models.model IS 'the fitted model (segment "Cluster n" is cluster n), its clusters renumbered to match matched_to''s';
COMMENT ON COLUMN segkpi.segment_models.matched_to IS
    'the earlier snapshot whose model the clusters were matched to (Cluster n is the same group there); NULL when they could not be (see match_note)';
COMMENT ON COLUMN segkpi.segment_models.match_note IS
    'matched, or why the clusters could not be matched: no earlier model, features changed, transform changed, k changed';
COMMENT ON COLUMN segkpi.segment_models.drift IS
    'per cluster: distance from its centroid to the matched centroid of matched_to, in this model''s transformed space (NULL when not matched)';
COMMENT ON COLUMN segkpi.segment_models.scores IS
    'when params.k is a range: the score of every k tried ({"k": .., "silhouette": .., "davies_bouldin": .., "inertia": ..}) and the rule that chose k; NULL for a fixed k';
SELECT pg_catalog.pg_extension_config_dump('segkpi.segment_models', '');
GRANT SELECT, INSERT, UPDATE, DELETE ON segkpi.segment_models TO @extowner@;

-- Business names of the clusters of k-means segmentations.  The segment a
-- customer is stored under stays "Cluster n" (refresh keeps n meaning the
-- same group from snapshot to snapshot), so a name given or changed later
-- applies to every snapshot, and migration never counts a renaming as a
-- move; the dashboard views show the name beside the segment.
CREATE TABLE segkpi.cluster_names (
    segmentation text NOT NULL REFERENCES segkpi.segmentations ON DELETE CASCADE ON UPDATE CASCADE,
    cluster      integer NOT NULL CHECK (cluster >= 1),
    name         text NOT NULL CHECK (name <> '' AND name <> '(all)'),
    PRIMARY KEY (segmentation, cluster),
    UNIQUE (segmentation, name)
);
COMMENT ON TABLE segkpi.cluster_names IS 'business names of k-means clusters, shown by the dashboard views beside "Cluster n"';
COMMENT ON COLUMN segkpi.cluster_names.segmentation IS 'the k-means segmentation';
COMMENT ON COLUMN segkpi.cluster_names.cluster IS 'the cluster number n of segment "Cluster n"';
COMMENT ON COLUMN segkpi.cluster_names.name IS 'the name the views show (segment_name, name)';
SELECT pg_catalog.pg_extension_config_dump('segkpi.cluster_names', '');
GRANT SELECT, INSERT, UPDATE, DELETE ON segkpi.cluster_names TO @extowner@;


