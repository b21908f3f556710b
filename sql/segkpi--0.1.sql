/*
 * segkpi 0.1 - install script.
 *
 * Every object is schema-qualified; the script runs with search_path set to
 * the extension schema by CREATE EXTENSION, but nothing relies on it.
 * Objects are created once (no CREATE OR REPLACE): a name clash is an error.
 */

\echo Use "CREATE EXTENSION segkpi" to load this file. \quit

-- (0.6: the guard below and pg_catalog-only names were added to this
-- first release's script: CREATE EXTENSION segkpi VERSION '0.1' runs it
-- as superuser too.)

-- Names this script leaves unqualified (functions, operators, types)
-- resolve in pg_catalog only: never in schema segkpi, where another role
-- might have put a better match, nor in pg_temp, which is searched last
-- for relations and types and never for functions and operators.  The
-- extension's own objects are always written segkpi.<name>.
SET LOCAL search_path = pg_catalog, pg_temp;

------------------------------------------------------------------------
-- Install guard: the schema is the installer's, and empty
------------------------------------------------------------------------

-- CREATE EXTENSION creates schema segkpi as the installing role, or uses
-- one that exists.  An existing schema owned by another role, or holding
-- functions, operators or types, could hand this script (which runs as
-- superuser) an object of someone else's: refuse it.  The only objects
-- accepted are the customer-level tables an earlier installation left
-- behind (DROP EXTENSION keeps them: they are not members); nothing here
-- touches them, and segkpi.ensure_customer_tables adopts them later,
-- running as their owner.
DO $guard$
DECLARE
    installer oid;
    schema_owner oid;
    found text;
BEGIN
    SELECT e.extowner INTO installer
      FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'segkpi';
    SELECT n.nspowner INTO schema_owner
      FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) 'segkpi';
    IF schema_owner OPERATOR(pg_catalog.<>) installer
       AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) schema_owner) THEN
        RAISE EXCEPTION 'schema "segkpi" belongs to role %, not to the role installing segkpi',
                        schema_owner::pg_catalog.regrole
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Its owner could place objects in it that this script, running as superuser, would use.',
                  HINT = 'Drop or rename that schema, or have its owner install segkpi.';
    END IF;
    SELECT pg_catalog.string_agg(o.what, ', ' ORDER BY o.what) INTO found
      FROM (SELECT pg_catalog.format('%s %s', k.kind, k.name) AS what
              FROM (SELECT 'relation' AS kind, c.relname::text AS name, c.oid AS rel, c.relkind, i.indrelid
                      FROM pg_catalog.pg_class c
                      LEFT JOIN pg_catalog.pg_index i ON i.indexrelid OPERATOR(pg_catalog.=) c.oid
                     WHERE c.relnamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'type', t.typname::text, t.typrelid, NULL, NULL
                      FROM pg_catalog.pg_type t
                     WHERE t.typnamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                       AND t.typelem OPERATOR(pg_catalog.=) 0
                    UNION ALL
                    SELECT 'array type', t.typname::text, e.typrelid, NULL, NULL
                      FROM pg_catalog.pg_type t JOIN pg_catalog.pg_type e ON e.oid OPERATOR(pg_catalog.=) t.typelem
                     WHERE t.typnamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'function', p.oid::pg_catalog.regprocedure::text, NULL, NULL, NULL
                      FROM pg_catalog.pg_proc p
                     WHERE p.pronamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'operator', o.oid::pg_catalog.regoperator::text, NULL, NULL, NULL
                      FROM pg_catalog.pg_operator o
                     WHERE o.oprnamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'collation', c.collname::text, NULL, NULL, NULL
                      FROM pg_catalog.pg_collation c
                     WHERE c.collnamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'conversion', c.conname::text, NULL, NULL, NULL
                      FROM pg_catalog.pg_conversion c
                     WHERE c.connamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'operator family', f.opfname::text, NULL, NULL, NULL
                      FROM pg_catalog.pg_opfamily f
                     WHERE f.opfnamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'text search configuration', c.cfgname::text, NULL, NULL, NULL
                      FROM pg_catalog.pg_ts_config c
                     WHERE c.cfgnamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'statistics object', s.stxname::text, NULL, NULL, NULL
                      FROM pg_catalog.pg_statistic_ext s
                     WHERE s.stxnamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace) k
             -- a leftover table, its indexes, its row type and the array of it
             WHERE NOT (COALESCE(k.indrelid, k.rel) OPERATOR(pg_catalog.=) ANY (ARRAY(
                            SELECT c.oid FROM pg_catalog.pg_class c
                             WHERE c.relnamespace OPERATOR(pg_catalog.=) 'segkpi'::pg_catalog.regnamespace
                               AND c.relkind OPERATOR(pg_catalog.=) 'r'
                               AND c.relname OPERATOR(pg_catalog.=) ANY (ARRAY['customer_features', 'customer_segments']::name[])))
                        AND COALESCE(k.relkind, 'r') OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'i']::"char"[]))) o;
    IF found IS NOT NULL THEN
        RAISE EXCEPTION 'schema "segkpi" already holds objects that are not segkpi''s: %', found
            USING ERRCODE = 'duplicate_object',
                  DETAIL = 'Only the customer-level tables of an earlier segkpi installation may be there.',
                  HINT = 'Move those objects to another schema or drop them, then install segkpi.';
    END IF;
END
$guard$;

------------------------------------------------------------------------
-- RFM: the aggregate's state type
------------------------------------------------------------------------

CREATE TYPE segkpi.rfm_state;

CREATE FUNCTION segkpi.rfm_state_in(cstring) RETURNS segkpi.rfm_state
    AS 'MODULE_PATHNAME', 'segkpi_rfm_state_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.rfm_state_out(segkpi.rfm_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'segkpi_rfm_state_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.rfm_state_recv(internal) RETURNS segkpi.rfm_state
    AS 'MODULE_PATHNAME', 'segkpi_rfm_state_recv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.rfm_state_send(segkpi.rfm_state) RETURNS bytea
    AS 'MODULE_PATHNAME', 'segkpi_rfm_state_send'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE segkpi.rfm_state (
    INPUT = segkpi.rfm_state_in,
    OUTPUT = segkpi.rfm_state_out,
    RECEIVE = segkpi.rfm_state_recv,
    SEND = segkpi.rfm_state_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = plain
);

COMMENT ON TYPE segkpi.rfm_state IS
    'running state of segkpi.rfm_agg; text form 1:<orders>:<refunds>:<first>:<last>:<total>';
COMMENT ON FUNCTION segkpi.rfm_state_in(cstring) IS 'text input of segkpi.rfm_state (validated)';
COMMENT ON FUNCTION segkpi.rfm_state_out(segkpi.rfm_state) IS 'text output of segkpi.rfm_state';
COMMENT ON FUNCTION segkpi.rfm_state_recv(internal) IS 'binary input of segkpi.rfm_state (the text form)';
COMMENT ON FUNCTION segkpi.rfm_state_send(segkpi.rfm_state) IS 'binary output of segkpi.rfm_state (the text form)';

------------------------------------------------------------------------
-- RFM: per-customer statistics (aggregate)
------------------------------------------------------------------------

CREATE TYPE segkpi.rfm_stats AS (
    first_order_at timestamptz,
    last_order_at  timestamptz,
    orders         bigint,
    refunds        bigint,
    monetary       numeric
);

COMMENT ON TYPE segkpi.rfm_stats IS 'one customer''s order statistics, from segkpi.rfm_agg';
COMMENT ON COLUMN segkpi.rfm_stats.first_order_at IS 'time of the first order (amount > 0); NULL when there is none';
COMMENT ON COLUMN segkpi.rfm_stats.last_order_at IS 'time of the last order (amount > 0); NULL when there is none';
COMMENT ON COLUMN segkpi.rfm_stats.orders IS 'rows with amount > 0';
COMMENT ON COLUMN segkpi.rfm_stats.refunds IS 'rows with amount <= 0 (refunds and adjustments)';
COMMENT ON COLUMN segkpi.rfm_stats.monetary IS 'exact sum of every amount, refunds included';

CREATE FUNCTION segkpi.rfm_agg_sfunc(segkpi.rfm_state, timestamptz, numeric)
    RETURNS segkpi.rfm_state
    AS 'MODULE_PATHNAME', 'segkpi_rfm_agg_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.rfm_agg_combine(segkpi.rfm_state, segkpi.rfm_state)
    RETURNS segkpi.rfm_state
    AS 'MODULE_PATHNAME', 'segkpi_rfm_agg_combine'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.rfm_agg_final(segkpi.rfm_state)
    RETURNS segkpi.rfm_stats
    AS 'MODULE_PATHNAME', 'segkpi_rfm_agg_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.rfm_agg(ordered_at timestamptz, amount numeric) (
    SFUNC = segkpi.rfm_agg_sfunc,
    STYPE = segkpi.rfm_state,
    SSPACE = 64,
    COMBINEFUNC = segkpi.rfm_agg_combine,
    FINALFUNC = segkpi.rfm_agg_final,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.rfm_agg_sfunc(segkpi.rfm_state, timestamptz, numeric) IS 'transition function of segkpi.rfm_agg';
COMMENT ON FUNCTION segkpi.rfm_agg_combine(segkpi.rfm_state, segkpi.rfm_state) IS 'combine function of segkpi.rfm_agg';
COMMENT ON FUNCTION segkpi.rfm_agg_final(segkpi.rfm_state) IS 'final function of segkpi.rfm_agg';
COMMENT ON AGGREGATE segkpi.rfm_agg(timestamptz, numeric) IS
    'per-customer RFM statistics: first and last order, orders, refunds, exact monetary total; rows with a NULL argument are skipped';

------------------------------------------------------------------------
-- RFM: named segments (rules)
------------------------------------------------------------------------

CREATE TABLE segkpi.rfm_rules (
    ruleset    text NOT NULL,
    rule_order integer NOT NULL,
    segment    text NOT NULL,
    r_min      integer NOT NULL DEFAULT 1,
    r_max      integer NOT NULL DEFAULT 5,
    f_min      integer NOT NULL DEFAULT 1,
    f_max      integer NOT NULL DEFAULT 5,
    m_min      integer NOT NULL DEFAULT 1,
    m_max      integer NOT NULL DEFAULT 5,
    PRIMARY KEY (ruleset, rule_order),
    CONSTRAINT rfm_rules_ranges CHECK (
        r_min BETWEEN 1 AND 5 AND r_max BETWEEN r_min AND 5 AND
        f_min BETWEEN 1 AND 5 AND f_max BETWEEN f_min AND 5 AND
        m_min BETWEEN 1 AND 5 AND m_max BETWEEN m_min AND 5),
    CONSTRAINT rfm_rules_segment CHECK (segment <> '')
);

COMMENT ON TABLE segkpi.rfm_rules IS
    'named RFM segments: within a ruleset, the first rule (by rule_order) whose ranges hold the R, F and M scores (on 1..5) names the segment';
COMMENT ON COLUMN segkpi.rfm_rules.ruleset IS 'name of the rule set; "default" is maintained by the extension and read-only';
COMMENT ON COLUMN segkpi.rfm_rules.rule_order IS 'rules are tried in ascending order; the first match wins';
COMMENT ON COLUMN segkpi.rfm_rules.segment IS 'segment name given to matching customers';
COMMENT ON COLUMN segkpi.rfm_rules.r_min IS 'lowest R score (1..5) the rule matches';
COMMENT ON COLUMN segkpi.rfm_rules.r_max IS 'highest R score (1..5) the rule matches';
COMMENT ON COLUMN segkpi.rfm_rules.f_min IS 'lowest F score (1..5) the rule matches';
COMMENT ON COLUMN segkpi.rfm_rules.f_max IS 'highest F score (1..5) the rule matches';
COMMENT ON COLUMN segkpi.rfm_rules.m_min IS 'lowest M score (1..5) the rule matches';
COMMENT ON COLUMN segkpi.rfm_rules.m_max IS 'highest M score (1..5) the rule matches';

-- The default ruleset: eleven segments on R and F; every R x F cell is
-- covered exactly once, so every customer gets a name.
INSERT INTO segkpi.rfm_rules (ruleset, rule_order, segment, r_min, r_max, f_min, f_max) VALUES
    ('default',  10, 'Champions',          5, 5, 4, 5),
    ('default',  20, 'Loyal Customers',    3, 4, 4, 5),
    ('default',  30, 'Potential Loyalist', 4, 5, 2, 3),
    ('default',  40, 'New Customers',      5, 5, 1, 1),
    ('default',  50, 'Promising',          4, 4, 1, 1),
    ('default',  60, 'Need Attention',     3, 3, 3, 3),
    ('default',  70, 'About To Sleep',     3, 3, 1, 2),
    ('default',  80, 'Can''t Lose Them',   1, 2, 5, 5),
    ('default',  90, 'At Risk',            1, 2, 3, 4),
    ('default', 100, 'Hibernating',        2, 2, 1, 2),
    ('default', 110, 'Lost',               1, 1, 1, 2);

-- Rows of the default ruleset come back from this script on restore; only
-- the user's own rulesets are dumped.
SELECT pg_catalog.pg_extension_config_dump('segkpi.rfm_rules',
                                           'WHERE ruleset <> ''default''');

CREATE FUNCTION segkpi.rfm_rules_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       OR (TG_OP IN ('UPDATE', 'DELETE') AND OLD.ruleset = 'default')
       OR (TG_OP IN ('INSERT', 'UPDATE') AND NEW.ruleset = 'default') THEN
        RAISE EXCEPTION 'the "default" RFM ruleset is maintained by segkpi and cannot be changed'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Copy it with segkpi.rfm_ruleset_copy(''default'', ''mine''), edit the copy, and pass ruleset => ''mine''.';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION segkpi.rfm_rules_guard() IS 'keeps the extension''s "default" RFM ruleset unchanged (it is not dumped)';

CREATE TRIGGER rfm_rules_guard BEFORE INSERT OR UPDATE OR DELETE ON segkpi.rfm_rules
    FOR EACH ROW EXECUTE FUNCTION segkpi.rfm_rules_guard();
CREATE TRIGGER rfm_rules_guard_truncate BEFORE TRUNCATE ON segkpi.rfm_rules
    FOR EACH STATEMENT EXECUTE FUNCTION segkpi.rfm_rules_guard();

CREATE FUNCTION segkpi.rfm_ruleset_copy(source text, target text) RETURNS integer
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog
BEGIN ATOMIC
    INSERT INTO segkpi.rfm_rules (ruleset, rule_order, segment, r_min, r_max, f_min, f_max, m_min, m_max)
    SELECT target, rule_order, segment, r_min, r_max, f_min, f_max, m_min, m_max
      FROM segkpi.rfm_rules WHERE ruleset = source;
    SELECT count(*)::integer FROM segkpi.rfm_rules WHERE ruleset = target;
END;

COMMENT ON FUNCTION segkpi.rfm_ruleset_copy(text, text) IS
    'copies every rule of ruleset source into a new ruleset target; returns the number of rules in target';

CREATE FUNCTION segkpi.rfm_segment(r integer, f integer, m integer,
                                   ruleset text DEFAULT 'default')
    RETURNS text
    AS 'MODULE_PATHNAME', 'segkpi_rfm_segment'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION segkpi.rfm_segment(integer, integer, integer, text) IS
    'segment name of scores r, f, m (each 1..5) under a ruleset: the first matching rule, or NULL when none matches';

GRANT SELECT ON segkpi.rfm_rules TO PUBLIC;

------------------------------------------------------------------------
-- RFM: scores (window function)
------------------------------------------------------------------------

CREATE TYPE segkpi.rfm_result AS (
    recency_days float8,
    frequency    bigint,
    monetary     numeric,
    r            integer,
    f            integer,
    m            integer,
    segment      text
);

COMMENT ON TYPE segkpi.rfm_result IS 'one customer''s RFM scores, from segkpi.rfm_score';
COMMENT ON COLUMN segkpi.rfm_result.recency_days IS 'days from last_order_at to as_of (fractional); NULL without orders';
COMMENT ON COLUMN segkpi.rfm_result.frequency IS 'orders (rows with amount > 0)';
COMMENT ON COLUMN segkpi.rfm_result.monetary IS 'exact monetary total, refunds included';
COMMENT ON COLUMN segkpi.rfm_result.r IS 'recency score 1..bins on last_order_at: more recent is higher';
COMMENT ON COLUMN segkpi.rfm_result.f IS 'frequency score 1..bins on orders';
COMMENT ON COLUMN segkpi.rfm_result.m IS 'monetary score 1..bins on monetary';
COMMENT ON COLUMN segkpi.rfm_result.segment IS 'segment name from the ruleset, scores rescaled to 1..5 as ceil(5 * score / bins)';

CREATE FUNCTION segkpi.rfm_score(stats segkpi.rfm_stats, as_of timestamptz,
                                 bins integer DEFAULT 5,
                                 ruleset text DEFAULT 'default')
    RETURNS segkpi.rfm_result
    AS 'MODULE_PATHNAME', 'segkpi_rfm_score'
    LANGUAGE C STABLE WINDOW PARALLEL SAFE;

COMMENT ON FUNCTION segkpi.rfm_score(segkpi.rfm_stats, timestamptz, integer, text) IS
    'window function: RFM scores of each customer against its partition, score = 1 + floor(bins * (customers with a strictly smaller value) / customers)';

------------------------------------------------------------------------
-- KPI pipeline: configuration
------------------------------------------------------------------------

-- Bound warehouse tables: one row per source, columns by role.
CREATE TABLE segkpi.bindings (
    source     text PRIMARY KEY
               CHECK (source IN ('orders', 'customers', 'marketing_spend', 'leads', 'feedback')),
    relation   regclass NOT NULL,
    columns    jsonb NOT NULL,
    attributes name[] NOT NULL DEFAULT '{}',
    bound_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE segkpi.bindings IS 'warehouse tables bound to segkpi, one per source; written by the segkpi.bind_* functions';
COMMENT ON COLUMN segkpi.bindings.source IS 'orders, customers, marketing_spend, leads or feedback';
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
    predict_clv       boolean NOT NULL DEFAULT false
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
               launch_date = NEW.launch_date, predict_clv = NEW.predict_clv
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
COMMENT ON COLUMN segkpi.settings.predict_clv IS 'fit BG/NBD + Gamma-Gamma at each refresh for predicted CLTV and P(alive) (one more pass over the orders)';

-- Segmentations to compute at each refresh.
CREATE TABLE segkpi.segmentations (
    name    text PRIMARY KEY CHECK (name <> '' AND name <> '(all)'),
    method  text NOT NULL CHECK (method IN ('rfm', 'rules')),
    params  jsonb NOT NULL DEFAULT '{}',
    active  boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE segkpi.segmentations IS 'segmentations computed by segkpi.refresh';
COMMENT ON COLUMN segkpi.segmentations.name IS 'name of the segmentation';
COMMENT ON COLUMN segkpi.segmentations.method IS 'rfm (params bins, ruleset) or rules (segkpi.segment_rules)';
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
    stages      jsonb NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE segkpi.snapshots IS 'one row per refresh';
COMMENT ON COLUMN segkpi.snapshots.snapshot_id IS 'snapshot number, increasing';
COMMENT ON COLUMN segkpi.snapshots.as_of IS 'the snapshot covers everything strictly before as_of';
COMMENT ON COLUMN segkpi.snapshots.taken_at IS 'when the refresh ran';
COMMENT ON COLUMN segkpi.snapshots.timezone IS 'TimeZone in which periods were cut';
COMMENT ON COLUMN segkpi.snapshots.period_grain IS 'month or quarter';
COMMENT ON COLUMN segkpi.snapshots.customers IS 'customers with at least one order row up to as_of';
COMMENT ON COLUMN segkpi.snapshots.stages IS 'seconds spent per refresh stage';

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

-- Snapshot history is data the business keeps: dumped as well.
SELECT pg_catalog.pg_extension_config_dump('segkpi.snapshots', '');
SELECT pg_catalog.pg_extension_config_dump('segkpi.segment_kpis', '');
SELECT pg_catalog.pg_extension_config_dump('segkpi.snapshots_snapshot_id_seq', '');

GRANT SELECT, INSERT, UPDATE, DELETE ON segkpi.bindings, segkpi.settings, segkpi.segmentations,
    segkpi.segment_rules, segkpi.snapshots, segkpi.segment_kpis TO @extowner@;
GRANT INSERT, UPDATE, DELETE ON segkpi.rfm_rules TO @extowner@;

------------------------------------------------------------------------
-- KPI pipeline: binding functions
------------------------------------------------------------------------

-- The type of column col of rel, checked against a role; errors say what
-- is wrong and which argument it came from.
CREATE FUNCTION segkpi.binding_column_type(rel regclass, col name, role text, allowed text[])
    RETURNS regtype
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    t regtype;
BEGIN
    IF col IS NULL THEN
        RAISE EXCEPTION 'column for % must not be null', role USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT a.atttypid::regtype INTO t
      FROM pg_attribute a
     WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', col, rel
            USING ERRCODE = 'undefined_column',
                  DETAIL = format('It was given as the %s column.', role);
    END IF;
    IF allowed IS NOT NULL AND NOT (t::text = ANY (allowed)) THEN
        RAISE EXCEPTION 'column "%" of relation % has type %, which cannot be the % column', col, rel, t, role
            USING ERRCODE = 'datatype_mismatch',
                  HINT = format('Allowed types: %s.', array_to_string(allowed, ', '));
    END IF;
    RETURN t;
END
$$;
COMMENT ON FUNCTION segkpi.binding_column_type(regclass, name, text, text[]) IS
    'type of a column to bind, or an error naming the column, its role and the allowed types';

-- The column roles of a source: role -> [required, type class], where the
-- class is t (time), n (number), s (text) or null (customer key: any type).
CREATE FUNCTION segkpi.binding_spec(source text)
    RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog
RETURN CASE source
    WHEN 'orders' THEN '{"customer": [true, null], "ordered_at": [true, "t"], "amount": [true, "n"], "cost": [false, "n"], "channel": [false, "s"]}'::jsonb
    WHEN 'customers' THEN '{"customer": [true, null], "acquired_at": [false, "t"], "channel": [false, "s"]}'::jsonb
    WHEN 'marketing_spend' THEN '{"spent_on": [true, "t"], "amount": [true, "n"], "channel": [false, "s"], "target_segment": [false, "s"]}'::jsonb
    WHEN 'leads' THEN '{"created_at": [true, "t"], "converted_at": [true, "t"], "customer": [false, null], "channel": [false, "s"]}'::jsonb
    WHEN 'feedback' THEN '{"customer": [true, null], "answered_at": [true, "t"], "score": [true, "n"]}'::jsonb
END;
COMMENT ON FUNCTION segkpi.binding_spec(text) IS
    'column roles of a source: role -> [required, type class (t time, n number, s text, null any)]';

CREATE FUNCTION segkpi.binding_types(class text)
    RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog
RETURN CASE class
    WHEN 't' THEN ARRAY['timestamp with time zone', 'timestamp without time zone', 'date']
    WHEN 'n' THEN ARRAY['numeric', 'integer', 'bigint', 'smallint', 'double precision', 'real']
    WHEN 's' THEN ARRAY['text', 'character varying', 'character', 'name']
END;
COMMENT ON FUNCTION segkpi.binding_types(text) IS 'column types accepted for a type class of segkpi.binding_spec';

CREATE FUNCTION segkpi.bind(source text, relation regclass, columns jsonb, attributes name[] DEFAULT '{}')
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    spec    jsonb;
    role    text;
    req     boolean;
    key_t   regtype;
    t       regtype;
    a       name;
BEGIN
    spec := segkpi.binding_spec(source);
    IF spec IS NULL THEN
        RAISE EXCEPTION 'unknown source "%"', source USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Sources are orders, customers, marketing_spend, leads and feedback.';
    END IF;
    FOR role IN SELECT jsonb_object_keys(columns) LOOP
        IF NOT spec ? role THEN
            RAISE EXCEPTION 'source % has no column role "%"', source, role USING ERRCODE = 'invalid_parameter_value',
                HINT = format('Roles of %s: %s.', source, (SELECT string_agg(k, ', ') FROM jsonb_object_keys(spec) k));
        END IF;
    END LOOP;
    IF source = 'orders' THEN
        key_t := NULL;
    ELSE
        SELECT (b.columns ->> '_key_type')::regtype INTO key_t FROM segkpi.bindings b WHERE b.source = 'orders';
    END IF;
    FOR role, req IN SELECT k, (spec -> k ->> 0)::boolean FROM jsonb_object_keys(spec) k LOOP
        IF columns ->> role IS NULL THEN
            IF req THEN
                RAISE EXCEPTION 'source % needs a column for "%"', source, role USING ERRCODE = 'invalid_parameter_value';
            END IF;
            CONTINUE;
        END IF;
        t := segkpi.binding_column_type(relation, (columns ->> role)::name, role,
                 segkpi.binding_types(spec -> role ->> 1));
        IF role = 'customer' THEN
            IF source = 'orders' THEN
                key_t := t;
            ELSIF key_t IS NULL THEN
                RAISE EXCEPTION 'bind orders before %', source USING ERRCODE = 'object_not_in_prerequisite_state',
                    DETAIL = 'The orders binding fixes the type of the customer key.';
            ELSIF t <> key_t THEN
                RAISE EXCEPTION 'customer column "%" of % has type %, but the orders customer key is %',
                    columns ->> role, relation, t, key_t USING ERRCODE = 'datatype_mismatch';
            END IF;
        END IF;
    END LOOP;
    FOREACH a IN ARRAY coalesce(attributes, '{}') LOOP
        IF source NOT IN ('customers', 'leads') THEN
            RAISE EXCEPTION 'only customers and leads have attribute columns' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        PERFORM segkpi.binding_column_type(relation, a, 'attribute', NULL);
    END LOOP;
    IF source = 'orders' THEN
        columns := columns || jsonb_build_object('_key_type', key_t::text);
        PERFORM segkpi.ensure_customer_tables(key_t);
    END IF;
    INSERT INTO segkpi.bindings AS b (source, relation, columns, attributes)
    VALUES (source, relation, columns, coalesce(attributes, '{}'))
    ON CONFLICT ON CONSTRAINT bindings_pkey DO UPDATE
        SET relation = excluded.relation, columns = excluded.columns,
            attributes = excluded.attributes, bound_at = pg_catalog.now();
END
$$;
COMMENT ON FUNCTION segkpi.bind(text, regclass, jsonb, name[]) IS
    'binds a warehouse table to a source after checking that every column exists with a usable type';

CREATE FUNCTION segkpi.bind_orders(relation regclass, customer name, ordered_at name, amount name,
                                   cost name DEFAULT NULL, channel name DEFAULT NULL)
    RETURNS void LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT segkpi.bind('orders', relation, jsonb_strip_nulls(jsonb_build_object(
        'customer', customer, 'ordered_at', ordered_at, 'amount', amount, 'cost', cost, 'channel', channel)));
END;
COMMENT ON FUNCTION segkpi.bind_orders(regclass, name, name, name, name, name) IS
    'binds the orders table: customer key, order time, amount (refunds <= 0), optional cost and channel';

CREATE FUNCTION segkpi.bind_customers(relation regclass, customer name, acquired_at name DEFAULT NULL,
                                      channel name DEFAULT NULL, attributes name[] DEFAULT '{}')
    RETURNS void LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT segkpi.bind('customers', relation, jsonb_strip_nulls(jsonb_build_object(
        'customer', customer, 'acquired_at', acquired_at, 'channel', channel)), attributes);
END;
COMMENT ON FUNCTION segkpi.bind_customers(regclass, name, name, name, name[]) IS
    'binds the customers table: key (same type as the orders key), optional acquisition time and channel, attribute columns';

CREATE FUNCTION segkpi.bind_marketing_spend(relation regclass, spent_on name, amount name,
                                            channel name DEFAULT NULL, target_segment name DEFAULT NULL)
    RETURNS void LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT segkpi.bind('marketing_spend', relation, jsonb_strip_nulls(jsonb_build_object(
        'spent_on', spent_on, 'amount', amount, 'channel', channel, 'target_segment', target_segment)));
END;
COMMENT ON FUNCTION segkpi.bind_marketing_spend(regclass, name, name, name, name) IS
    'binds acquisition spend: date, amount, optional channel and target segment tags';

CREATE FUNCTION segkpi.bind_leads(relation regclass, created_at name, converted_at name,
                                  customer name DEFAULT NULL, channel name DEFAULT NULL,
                                  attributes name[] DEFAULT '{}')
    RETURNS void LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT segkpi.bind('leads', relation, jsonb_strip_nulls(jsonb_build_object(
        'created_at', created_at, 'converted_at', converted_at, 'customer', customer, 'channel', channel)), attributes);
END;
COMMENT ON FUNCTION segkpi.bind_leads(regclass, name, name, name, name, name[]) IS
    'binds leads: creation and conversion times, optional customer, channel and attribute columns';

CREATE FUNCTION segkpi.bind_feedback(relation regclass, customer name, answered_at name, score name)
    RETURNS void LANGUAGE sql VOLATILE
BEGIN ATOMIC
    SELECT segkpi.bind('feedback', relation, jsonb_build_object(
        'customer', customer, 'answered_at', answered_at, 'score', score));
END;
COMMENT ON FUNCTION segkpi.bind_feedback(regclass, name, name, name) IS
    'binds satisfaction feedback: customer, answer time, score';

-- Customer-level tables carry the warehouse's key type, so they are made
-- when orders are bound (and remade, while empty, when the type changes).
-- They are not readable by PUBLIC.
CREATE FUNCTION segkpi.ensure_customer_tables(key_type regtype)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    cur regtype;
BEGIN
    SELECT a.atttypid::regtype INTO cur FROM pg_attribute a
     WHERE a.attrelid = to_regclass('segkpi.customer_segments') AND a.attname = 'customer_id';
    IF cur = key_type THEN
        RETURN;
    END IF;
    IF cur IS NOT NULL THEN
        IF EXISTS (SELECT FROM segkpi.snapshots) THEN
            RAISE EXCEPTION 'the customer key type changes from % to %, but snapshots exist', cur, key_type
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'DELETE FROM segkpi.snapshots first; that discards segment history.';
        END IF;
        DROP TABLE segkpi.customer_segments, segkpi.customer_features CASCADE;
    END IF;
    EXECUTE format($ddl$
        CREATE TABLE segkpi.customer_features (
            snapshot_id    bigint NOT NULL REFERENCES segkpi.snapshots ON DELETE CASCADE,
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
            PRIMARY KEY (snapshot_id, customer_id));
        CREATE TABLE segkpi.customer_segments (
            snapshot_id  bigint NOT NULL REFERENCES segkpi.snapshots ON DELETE CASCADE,
            segmentation text NOT NULL,
            customer_id  %1$s NOT NULL,
            segment      text NOT NULL,
            PRIMARY KEY (snapshot_id, segmentation, customer_id));
        REVOKE ALL ON segkpi.customer_features, segkpi.customer_segments FROM PUBLIC;
        CREATE VIEW segkpi.segment_migration AS
        SELECT m.* FROM (SELECT max(snapshot_id) FILTER (WHERE rn = 2) AS f,
                                max(snapshot_id) FILTER (WHERE rn = 1) AS t
                           FROM (SELECT snapshot_id, row_number() OVER (ORDER BY snapshot_id DESC) AS rn
                                   FROM segkpi.snapshots) s) x,
               LATERAL segkpi.migration(x.f, x.t) m;
        CREATE VIEW segkpi.rfm_grid AS
        SELECT f.r, f.f, count(*) AS customers, round(avg(f.monetary), 2) AS mean_monetary
          FROM segkpi.customer_features f
         WHERE f.snapshot_id = (SELECT max(snapshot_id) FROM segkpi.snapshots) AND f.r IS NOT NULL
         GROUP BY f.r, f.f
        HAVING count(*) >= (SELECT min_segment_size FROM segkpi.settings);
        COMMENT ON VIEW segkpi.segment_migration IS 'customers moving between segments from the previous to the latest snapshot (cells below settings.min_segment_size hidden)';
        COMMENT ON VIEW segkpi.rfm_grid IS 'R x F grid of the latest snapshot (five bins): customers and mean monetary (cells below settings.min_segment_size hidden)';
        COMMENT ON COLUMN segkpi.segment_migration.segmentation IS 'the segmentation';
        COMMENT ON COLUMN segkpi.segment_migration.from_segment IS 'segment in the previous snapshot, (none) when absent';
        COMMENT ON COLUMN segkpi.segment_migration.to_segment IS 'segment in the latest snapshot, (none) when absent';
        COMMENT ON COLUMN segkpi.segment_migration.customers IS 'customers making this move';
        COMMENT ON COLUMN segkpi.rfm_grid.r IS 'recency score';
        COMMENT ON COLUMN segkpi.rfm_grid.f IS 'frequency score';
        COMMENT ON COLUMN segkpi.rfm_grid.customers IS 'customers in the cell';
        COMMENT ON COLUMN segkpi.rfm_grid.mean_monetary IS 'mean monetary total of the cell';
        COMMENT ON TABLE segkpi.customer_features IS 'per-customer features of each snapshot (customer-level: not for PUBLIC)';
        COMMENT ON TABLE segkpi.customer_segments IS 'segment of every customer in each snapshot and segmentation (customer-level: not for PUBLIC)';
        $ddl$, key_type);
END
$$;
COMMENT ON FUNCTION segkpi.ensure_customer_tables(regtype) IS
    'creates the customer-level snapshot tables with the customer key type of the orders binding';

------------------------------------------------------------------------
-- KPI pipeline: refresh
------------------------------------------------------------------------

-- A binding that still holds: the table exists and every column still has
-- a usable type.  Returns the binding, or NULL when the source is unbound.
CREATE FUNCTION segkpi.checked_binding(src text)
    RETURNS segkpi.bindings
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    b segkpi.bindings;
    role text;
    t regtype;
    a name;
BEGIN
    SELECT * INTO b FROM segkpi.bindings WHERE source = src;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_class WHERE oid = b.relation) THEN
        RAISE EXCEPTION 'the table bound as % no longer exists', src
            USING ERRCODE = 'undefined_table',
                  HINT = format('Bind it again with segkpi.bind_%s(...).', src);
    END IF;
    FOR role IN SELECT k FROM jsonb_object_keys(b.columns) k WHERE k NOT LIKE '\_%' LOOP
        t := segkpi.binding_column_type(b.relation, (b.columns ->> role)::name, src || ' ' || role,
                                        segkpi.binding_types(segkpi.binding_spec(src) -> role ->> 1));
        IF role = 'customer' AND t::text <> (SELECT o.columns ->> '_key_type' FROM segkpi.bindings o
                                              WHERE o.source = 'orders') THEN
            RAISE EXCEPTION 'the customer key of % has changed type to %', src, t
                USING ERRCODE = 'datatype_mismatch',
                      HINT = 'All bound customer keys must have the type they had when orders were bound.';
        END IF;
    END LOOP;
    FOREACH a IN ARRAY b.attributes LOOP
        PERFORM segkpi.binding_column_type(b.relation, a, src || ' attribute', NULL);
    END LOOP;
    RETURN b;
END
$$;
COMMENT ON FUNCTION segkpi.checked_binding(text) IS
    'the binding of a source after checking that its table and columns still exist; NULL when unbound';

-- SQL predicate of one rule's conditions over the columns of alias; only
-- bound attribute names are accepted, all quoted.
CREATE FUNCTION segkpi.rule_predicate(conditions jsonb, alias text, allowed name[])
    RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    attr text;
    cond jsonb;
    parts text[] := '{}';
BEGIN
    FOR attr, cond IN SELECT * FROM jsonb_each(conditions) LOOP
        IF NOT attr::name = ANY (allowed) THEN
            RAISE EXCEPTION 'rule condition on "%", which is not a bound attribute', attr
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('Bound attributes: %s.', coalesce(array_to_string(allowed, ', '), 'none'));
        END IF;
        IF jsonb_typeof(cond) = 'array' THEN
            parts := parts || format('%I.%I::text IN (%s)', alias, attr,
                (SELECT coalesce(string_agg(quote_literal(v), ', '), 'NULL') FROM jsonb_array_elements_text(cond) v));
        ELSIF jsonb_typeof(cond) = 'object' AND (cond ? 'min' OR cond ? 'max') THEN
            IF cond ? 'min' THEN
                parts := parts || format('%I.%I >= %L', alias, attr, cond ->> 'min');
            END IF;
            IF cond ? 'max' THEN
                parts := parts || format('%I.%I <= %L', alias, attr, cond ->> 'max');
            END IF;
        ELSE
            RAISE EXCEPTION 'rule condition on "%" must be a list of values or {"min": .., "max": ..}', attr
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    RETURN CASE WHEN cardinality(parts) = 0 THEN 'true' ELSE array_to_string(parts, ' AND ') END;
END
$$;
COMMENT ON FUNCTION segkpi.rule_predicate(jsonb, text, name[]) IS
    'SQL condition of a rule (quoted identifiers and literals only)';

-- CASE expression naming the segment of a row of alias under a rule segmentation.
CREATE FUNCTION segkpi.rule_case(segmentation text, alias text, allowed name[])
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
    RETURN sql || ' ELSE ''Other'' END';
END
$$;
COMMENT ON FUNCTION segkpi.rule_case(text, text, name[]) IS
    'CASE expression of a rule segmentation: first matching rule, else Other';

-- The refresh's working tables are temporary and dropped at commit; a
-- second refresh in the same transaction drops the first one's.
CREATE FUNCTION segkpi.drop_temp_tables()
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['segkpi_cp', 'segkpi_cust', 'segkpi_assign', 'segkpi_spend', 'segkpi_leads',
                             'segkpi_feedback', 'segkpi_fb', 'segkpi_btyd', 'segkpi_pred', 'segkpi_cp_raw'] LOOP
        IF to_regclass('pg_temp.' || t) IS NOT NULL THEN
            EXECUTE format('DROP TABLE pg_temp.%I', t);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION segkpi.drop_temp_tables() IS 'drops the working tables of an earlier refresh in this session';

CREATE FUNCTION segkpi.refresh(as_of timestamptz DEFAULT pg_catalog.now(), progress boolean DEFAULT false)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
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
    sid bigint;
    seg segkpi.segmentations;
    ncust bigint;
    t_stage timestamptz := clock_timestamp();
    stage_times jsonb := '{}';
    lead_case text;
    cust_case text;
    saved_indexscan text;
    saved_sort text;
BEGIN
    IF as_of IS NULL OR NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite timestamp' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF bo IS NULL THEN
        RAISE EXCEPTION 'orders are not bound' USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Call segkpi.bind_orders(table, customer, ordered_at, amount) first.';
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('segkpi.refresh')) THEN
        RAISE NOTICE 'another segkpi.refresh is running; waiting for it to finish';
        PERFORM pg_advisory_xact_lock(hashtext('segkpi.refresh'));
    END IF;
    SELECT * INTO cfg FROM segkpi.settings;
    grain := cfg.period_grain;
    step := CASE grain WHEN 'month' THEN interval '1 month' ELSE interval '3 months' END;

    -- stage 1: orders per customer and period: the one pass over the orders.
    -- A hash aggregate reads the table once in order; an index walk (which
    -- the planner may prefer when the groups look too many for work_mem)
    -- reads it at random.  Only this statement is steered.
    PERFORM segkpi.drop_temp_tables();
    saved_indexscan := current_setting('enable_indexscan');
    saved_sort := current_setting('enable_sort');
    PERFORM set_config('enable_indexscan', 'off', true), set_config('enable_sort', 'off', true);
    EXECUTE format($q$
        CREATE TEMP TABLE segkpi_cp_raw ON COMMIT DROP AS
        SELECT customer_id, period, (s).monetary AS revenue, coalesce((c).monetary, 0) AS cost,
               (s).orders, (s).refunds, first_row_at, (s).first_order_at, (s).last_order_at
          FROM (SELECT o.%1$I AS customer_id, date_trunc(%5$L, o.%2$I::timestamptz)::date AS period,
                       -- rfm_agg's small exact state is also the cheapest exact sum
                       segkpi.rfm_agg(o.%2$I::timestamptz, o.%3$I::numeric) AS s,
                       segkpi.rfm_agg(o.%2$I::timestamptz, %4$s) AS c,
                       min(o.%2$I::timestamptz) AS first_row_at
                  FROM %6$s o
                 WHERE o.%2$I::timestamptz < %7$L AND o.%1$I IS NOT NULL AND o.%3$I IS NOT NULL
                 GROUP BY 1, 2) x$q$,
        bo.columns ->> 'customer', bo.columns ->> 'ordered_at', bo.columns ->> 'amount',
        CASE WHEN bo.columns ? 'cost' THEN format('o.%I::numeric', bo.columns ->> 'cost') ELSE 'NULL::numeric' END,
        grain, bo.relation, as_of);
    PERFORM set_config('enable_indexscan', saved_indexscan, true), set_config('enable_sort', saved_sort, true);
    -- retained: active in this period and in the one before.  A customer
    -- has one row per period, so the period before, if it has a row, is
    -- the previous row in period order: one sorted pass, once for all
    -- segmentations.
    CREATE TEMP TABLE segkpi_cp ON COMMIT DROP AS
    SELECT c.*,
           coalesce(c.orders > 0 AND lag(c.orders) OVER w > 0
                    AND lag(c.period) OVER w = (c.period - step)::date, false) AS retained
      FROM segkpi_cp_raw c
    WINDOW w AS (PARTITION BY c.customer_id ORDER BY c.period);
    DROP TABLE segkpi_cp_raw;
    -- NaN or infinite amounts and times were rejected by rfm_agg (22000, 22008)
    ANALYZE segkpi_cp;
    stage_times := stage_times || jsonb_build_object('orders', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN RAISE NOTICE 'refresh: orders by customer and period in % s', stage_times -> 'orders'; END IF;
    t_stage := clock_timestamp();

    -- stage 1b (optional): per-customer BG/NBD summaries, fits, predictions
    IF cfg.predict_clv THEN
        PERFORM segkpi.predict_clv(bo, as_of, cfg);
        stage_times := stage_times || jsonb_build_object('predict_clv', extract(epoch FROM clock_timestamp() - t_stage));
        IF progress THEN RAISE NOTICE 'refresh: predicted CLV in % s', stage_times -> 'predict_clv'; END IF;
        t_stage := clock_timestamp();
    END IF;

    -- stage 2: customers
    EXECUTE format($q$
        CREATE TEMP TABLE segkpi_cust ON COMMIT DROP AS
        SELECT k.*, coalesce(%1$s, k.first_order_at, k.first_row_at) AS acquired_at,
               date_trunc(%2$L, coalesce(%1$s, k.first_order_at, k.first_row_at))::date AS acq_period,
               %3$s AS channel
          FROM (SELECT customer_id, min(first_row_at) AS first_row_at, min(first_order_at) AS first_order_at,
                       max(last_order_at) AS last_order_at, sum(orders) AS orders, sum(refunds) AS refunds,
                       sum(revenue) AS monetary, sum(cost) AS cost
                  FROM segkpi_cp GROUP BY customer_id) k
          %4$s$q$,
        CASE WHEN bc.columns ? 'acquired_at' THEN format('c.%I::timestamptz', bc.columns ->> 'acquired_at') ELSE 'NULL::timestamptz' END,
        grain,
        CASE WHEN bc.columns ? 'channel' THEN format('c.%I::text', bc.columns ->> 'channel') ELSE 'NULL::text' END,
        CASE WHEN bc IS NULL THEN ''
             ELSE format('LEFT JOIN %s c ON c.%I = k.customer_id', bc.relation, bc.columns ->> 'customer') END);
    SELECT count(*) INTO ncust FROM segkpi_cust;
    INSERT INTO segkpi.snapshots (as_of, timezone, period_grain, customers)
    VALUES (as_of, current_setting('TimeZone'), grain, ncust)
    RETURNING snapshot_id INTO sid;
    IF to_regclass('pg_temp.segkpi_pred') IS NULL THEN
        CREATE TEMP TABLE segkpi_pred ON COMMIT DROP AS
        SELECT k.customer_id, NULL::float8 AS p_alive, NULL::float8 AS clv FROM segkpi_cust k WHERE false;
    END IF;
    INSERT INTO segkpi.customer_features
    SELECT sid, x.customer_id, acquired_at, first_order_at, last_order_at, orders, refunds, monetary, cost,
           (s).recency_days, (s).r, (s).f, (s).m, p.p_alive, p.clv
      FROM (SELECT k.*, segkpi.rfm_score(ROW(first_order_at, last_order_at, orders, refunds, monetary)::segkpi.rfm_stats,
                                         as_of) OVER () AS s
              FROM segkpi_cust k) x
      LEFT JOIN segkpi_pred p ON p.customer_id = x.customer_id;
    stage_times := stage_times || jsonb_build_object('customers', extract(epoch FROM clock_timestamp() - t_stage));
    IF progress THEN RAISE NOTICE 'refresh: % customers and their features in % s', ncust, stage_times -> 'customers'; END IF;
    t_stage := clock_timestamp();

    -- stage 3: sources other than orders, once for every segmentation
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
    IF bf IS NOT NULL THEN
        EXECUTE format($q$
            CREATE TEMP TABLE segkpi_feedback ON COMMIT DROP AS
            SELECT f.%1$I AS customer_id, date_trunc(%2$L, f.%3$I::timestamptz)::date AS period, f.%4$I::numeric AS score
              FROM %5$s f WHERE f.%3$I::timestamptz < %6$L AND f.%4$I IS NOT NULL$q$,
            bf.columns ->> 'customer', grain, bf.columns ->> 'answered_at', bf.columns ->> 'score', bf.relation, as_of);
    END IF;
    stage_times := stage_times || jsonb_build_object('sources', extract(epoch FROM clock_timestamp() - t_stage));
    t_stage := clock_timestamp();

    -- stage 4: every active segmentation: assignments, then KPIs
    FOR seg IN SELECT * FROM segkpi.segmentations WHERE active ORDER BY name LOOP
        IF seg.method = 'rfm' THEN
            INSERT INTO segkpi.customer_segments
            SELECT sid, seg.name, customer_id, coalesce((s).segment, '(unnamed)')
              FROM (SELECT customer_id,
                           segkpi.rfm_score(ROW(first_order_at, last_order_at, orders, refunds, monetary)::segkpi.rfm_stats,
                                            as_of, coalesce((seg.params ->> 'bins')::int, 5),
                                            coalesce(seg.params ->> 'ruleset', 'default')) OVER () AS s
                      FROM segkpi_cust) x;
        ELSIF seg.method = 'kmeans' THEN
            PERFORM segkpi.assign_kmeans(sid, seg, bc, as_of);
        ELSE
            IF bc IS NULL THEN
                RAISE EXCEPTION 'rule segmentation "%" needs bound customers', seg.name
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          HINT = 'Call segkpi.bind_customers(..., attributes => ...) first.';
            END IF;
            cust_case := segkpi.rule_case(seg.name, 'c', bc.attributes);
            EXECUTE format('INSERT INTO segkpi.customer_segments
                            SELECT %s, %L, k.customer_id, %s FROM segkpi_cust k LEFT JOIN %s c ON c.%I = k.customer_id',
                           sid, seg.name, cust_case, bc.relation, bc.columns ->> 'customer');
        END IF;

        -- leads are segmented by their own attributes, under the same rules
        IF to_regclass('pg_temp.segkpi_leads') IS NOT NULL THEN
            DROP TABLE pg_temp.segkpi_leads;
        END IF;
        IF seg.method = 'rules' AND bl IS NOT NULL THEN
            lead_case := segkpi.rule_case(seg.name, 'l', bl.attributes);
            EXECUTE format($q$
                CREATE TEMP TABLE segkpi_leads ON COMMIT DROP AS
                SELECT date_trunc(%1$L, l.%2$I::timestamptz)::date AS period, %3$s AS segment,
                       (l.%4$I IS NOT NULL AND l.%4$I::timestamptz < %5$L) AS converted
                  FROM %6$s l WHERE l.%2$I::timestamptz < %5$L$q$,
                grain, bl.columns ->> 'created_at', lead_case, bl.columns ->> 'converted_at', as_of, bl.relation);
        ELSE
            CREATE TEMP TABLE segkpi_leads ON COMMIT DROP AS
            SELECT NULL::date AS period, NULL::text AS segment, NULL::boolean AS converted WHERE false;
        END IF;

        PERFORM segkpi.compute_kpis(sid, seg.name, seg.method = 'rules' AND bl IS NOT NULL, grain, step, as_of,
                                    bf IS NOT NULL, bs IS NOT NULL);
        stage_times := stage_times || jsonb_build_object(seg.name, extract(epoch FROM clock_timestamp() - t_stage));
        IF progress THEN
            RAISE NOTICE 'refresh: segmentation "%" (%) in % s', seg.name, seg.method, stage_times -> seg.name;
        END IF;
        t_stage := clock_timestamp();
    END LOOP;

    UPDATE segkpi.snapshots SET stages = stage_times WHERE snapshot_id = sid;
    RETURN sid;
END
$$;
COMMENT ON FUNCTION segkpi.refresh(timestamptz, boolean) IS
    'takes a snapshot of every active segmentation as of a time, in one transaction; returns the snapshot id';

-- KPIs of one segmentation for every period, from the refresh's temporary
-- tables (segkpi_cp, segkpi_cust, segkpi_spend, segkpi_leads and, when
-- feedback is bound, segkpi_feedback).  Segment "(all)" is every customer.
CREATE FUNCTION segkpi.compute_kpis(sid bigint, segmentation text, with_leads boolean, grain text,
                                    step interval, as_of timestamptz, with_feedback boolean,
                                    with_spend boolean)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ppy integer := CASE grain WHEN 'month' THEN 12 ELSE 4 END;
BEGIN
    IF to_regclass('pg_temp.segkpi_assign') IS NOT NULL THEN
        DROP TABLE pg_temp.segkpi_assign, pg_temp.segkpi_fb;
    END IF;
    -- real segments only; "(all)" comes from grouping sets over the same join
    CREATE TEMP TABLE segkpi_assign ON COMMIT DROP AS
    SELECT cs.customer_id, cs.segment FROM segkpi.customer_segments cs
     WHERE cs.snapshot_id = sid AND cs.segmentation = compute_kpis.segmentation;
    ANALYZE segkpi_assign;
    IF with_feedback THEN
        CREATE TEMP TABLE segkpi_fb ON COMMIT DROP AS SELECT * FROM segkpi_feedback;
    ELSE
        CREATE TEMP TABLE segkpi_fb ON COMMIT DROP AS
        SELECT k.customer_id, NULL::date AS period, NULL::numeric AS score FROM segkpi_cust k WHERE false;
    END IF;

    INSERT INTO segkpi.segment_kpis
    WITH periods AS (
        SELECT p::date AS period_start, (p + step)::date AS period_end
          FROM generate_series((SELECT min(period) FROM segkpi_cp)::timestamp,
                               date_trunc(grain, as_of - interval '1 microsecond')::date::timestamp, step) p
    ),
    segs AS (SELECT DISTINCT segment FROM segkpi_assign UNION SELECT '(all)'),
    assign_all AS (
        SELECT customer_id, segment FROM segkpi_assign
        UNION ALL
        SELECT customer_id, '(all)' FROM segkpi_cust
    ),
    act AS (
        SELECT coalesce(a.segment, '(all)') AS segment, cp.period,
               count(*) FILTER (WHERE cp.orders > 0) AS active,
               count(*) FILTER (WHERE cp.retained) AS retained,
               sum(cp.orders) AS orders, sum(cp.revenue) AS revenue, sum(cp.cost) AS cost
          FROM segkpi_cp cp JOIN segkpi_assign a USING (customer_id)
         GROUP BY GROUPING SETS ((a.segment, cp.period), (cp.period))
    ),
    margin_to_date AS (
        SELECT s.segment, p.period_start,
               coalesce(sum(act.revenue - act.cost), 0) AS margin
          FROM segs s CROSS JOIN periods p
          LEFT JOIN act ON act.segment = s.segment AND act.period <= p.period_start
         GROUP BY 1, 2
    ),
    acq AS (
        SELECT a.segment, k.acq_period, k.channel, count(*) AS n
          FROM segkpi_cust k JOIN assign_all a USING (customer_id)
         GROUP BY 1, 2, 3
    ),
    existing AS (
        SELECT s.segment, p.period_start, coalesce(sum(acq.n), 0) AS customers
          FROM segs s CROSS JOIN periods p
          LEFT JOIN acq ON acq.segment = s.segment AND acq.acq_period <= p.period_start
         GROUP BY 1, 2
    ),
    new AS (SELECT segment, acq_period AS period, sum(n) AS n FROM acq GROUP BY 1, 2),
    -- spend attribution: a segment tag of this segmentation wins; then a
    -- channel tag, split by the segments' share of that channel's new
    -- customers; the rest by the share of all new customers
    seg_names AS (SELECT segment FROM segs WHERE segment <> '(all)'),
    tagged AS (
        SELECT sp.target AS segment, sp.period, sum(sp.amount) AS amount
          FROM segkpi_spend sp WHERE sp.target IN (SELECT segment FROM seg_names)
         GROUP BY 1, 2
    ),
    rest AS (
        SELECT sp.period, sp.channel, sum(sp.amount) AS amount
          FROM segkpi_spend sp
         WHERE sp.target IS NULL OR sp.target NOT IN (SELECT segment FROM seg_names)
         GROUP BY 1, 2
    ),
    new_ch AS (
        SELECT segment, acq_period AS period, channel, sum(n) AS n FROM acq
         WHERE segment <> '(all)' AND channel IS NOT NULL GROUP BY 1, 2, 3
    ),
    new_ch_total AS (SELECT period, channel, sum(n) AS n FROM new_ch GROUP BY 1, 2),
    new_seg AS (SELECT segment, period, n FROM new WHERE segment <> '(all)'),
    new_total AS (SELECT period, sum(n) AS n FROM new_seg GROUP BY 1),
    by_channel AS (
        SELECT nc.segment, r.period, sum(r.amount * nc.n / nt.n) AS amount
          FROM rest r
          JOIN new_ch_total nt ON nt.period = r.period AND nt.channel = r.channel
          JOIN new_ch nc ON nc.period = r.period AND nc.channel = r.channel
         GROUP BY 1, 2
    ),
    by_share AS (
        SELECT ns.segment, r.period, sum(r.amount * ns.n / nt.n) AS amount
          FROM rest r
          JOIN new_total nt ON nt.period = r.period
          JOIN new_seg ns ON ns.period = r.period
         WHERE NOT EXISTS (SELECT FROM new_ch_total c WHERE c.period = r.period AND c.channel = r.channel)
         GROUP BY 1, 2
    ),
    spend AS (
        SELECT segment, period, sum(amount) AS amount
          FROM (SELECT * FROM tagged UNION ALL SELECT * FROM by_channel UNION ALL SELECT * FROM by_share) x
         GROUP BY 1, 2
        UNION ALL
        SELECT '(all)', period, sum(amount) FROM segkpi_spend GROUP BY 2
    ),
    leads AS (
        SELECT segment, period, count(*) AS n, count(*) FILTER (WHERE converted) AS converted
          FROM segkpi_leads GROUP BY 1, 2
        UNION ALL
        SELECT '(all)', period, count(*), count(*) FILTER (WHERE converted) FROM segkpi_leads GROUP BY 2
    ),
    fb AS (
        SELECT a.segment, f.period, avg(f.score) AS csat, count(*) AS n
          FROM segkpi_fb f JOIN assign_all a USING (customer_id)
         GROUP BY 1, 2
    ),
    pred AS (
        SELECT a.segment, avg(f.clv_predicted) AS clv, avg(f.p_alive) AS p_alive
          FROM segkpi.customer_features f JOIN assign_all a USING (customer_id)
         WHERE f.snapshot_id = sid AND f.p_alive IS NOT NULL
         GROUP BY 1
    ),
    base AS (
        SELECT compute_kpis.segmentation AS segmentation, s.segment, p.period_start, p.period_end,
               e.customers,
               coalesce(act.active, 0) AS active,
               coalesce(new.n, 0) AS new_customers,
               coalesce(act.orders, 0) AS orders,
               coalesce(act.revenue, 0) AS revenue,
               coalesce(act.cost, 0) AS cost,
               prev.active AS prev_active,
               coalesce(act.retained, 0) AS retained,
               coalesce(spend.amount, 0) AS spend,
               leads.n AS leads, leads.converted AS converted,
               m.margin,
               fb.csat, coalesce(fb.n, 0) AS answers,
               CASE WHEN p.period_start = (SELECT max(period_start) FROM periods) THEN pred.clv END AS clv_pred,
               CASE WHEN p.period_start = (SELECT max(period_start) FROM periods) THEN pred.p_alive END AS p_alive
          FROM segs s CROSS JOIN periods p
          JOIN existing e ON e.segment = s.segment AND e.period_start = p.period_start
          JOIN margin_to_date m ON m.segment = s.segment AND m.period_start = p.period_start
          LEFT JOIN act ON act.segment = s.segment AND act.period = p.period_start
          LEFT JOIN act prev ON prev.segment = s.segment AND prev.period = (p.period_start - step)::date
          LEFT JOIN new ON new.segment = s.segment AND new.period = p.period_start
          LEFT JOIN spend ON spend.segment = s.segment AND spend.period = p.period_start
          LEFT JOIN leads ON leads.segment = s.segment AND leads.period = p.period_start
          LEFT JOIN fb ON fb.segment = s.segment AND fb.period = p.period_start
          LEFT JOIN pred ON pred.segment = s.segment
    ),
    ratios AS (
        SELECT b.*,
               b.revenue / nullif(b.orders, 0) AS aov,
               b.orders::numeric / nullif(b.active, 0) AS frequency,
               b.retained::numeric / nullif(b.prev_active, 0) AS retention,
               b.revenue - b.cost - b.spend AS net
          FROM base b
    )
    SELECT sid, r.segmentation, r.segment, r.period_start, r.period_end,
           r.customers,
           r.customers::numeric / nullif(max(r.customers) FILTER (WHERE r.segment = '(all)')
                                         OVER (PARTITION BY r.period_start), 0),
           r.active, r.new_customers, r.orders, r.revenue, r.cost, r.aov, r.frequency,
           r.retention, 1 - r.retention,
           CASE WHEN with_spend THEN r.spend END,
           CASE WHEN with_spend THEN r.spend / nullif(r.new_customers, 0) END,
           CASE WHEN with_leads THEN coalesce(r.leads, 0) END,
           CASE WHEN with_leads THEN coalesce(r.converted, 0) END,
           CASE WHEN with_leads THEN r.converted::numeric / nullif(r.leads, 0) END,
           r.margin / nullif(r.customers, 0),
           -- AOV x yearly frequency x expected lifespan in years x margin ratio
           r.aov * r.frequency * ppy / nullif(1 - power(r.retention, ppy), 0)
               * (r.revenue - r.cost) / nullif(r.revenue, 0),
           CASE WHEN with_spend THEN r.net / nullif(r.cost + r.spend, 0) END,
           CASE WHEN with_spend THEN r.net / nullif(r.spend, 0) END,
           r.csat, r.answers,
           r.prev_active, r.retained,
           r.clv_pred, r.p_alive
      FROM ratios r;
END
$$;
COMMENT ON FUNCTION segkpi.compute_kpis(bigint, text, boolean, text, interval, timestamptz, boolean, boolean) IS
    'KPIs of one segmentation and snapshot for every period (used by segkpi.refresh)';

------------------------------------------------------------------------
-- KPI pipeline: views for dashboards (aggregates only; small segments hidden)
------------------------------------------------------------------------

CREATE VIEW segkpi.kpi_trends AS
SELECT k.snapshot_id, k.segmentation, k.segment, k.period_start, k.period_end,
       k.customers, round(k.share, 4) AS share, k.active_customers, k.new_customers, k.orders,
       k.revenue, k.cost, round(k.aov, 2) AS aov, round(k.purchase_frequency, 4) AS purchase_frequency,
       round(k.retention_rate, 4) AS retention_rate, round(k.churn_rate, 4) AS churn_rate,
       round(k.attributed_spend, 2) AS attributed_spend, round(k.cac, 2) AS cac,
       k.leads, k.converted_leads, round(k.conversion_rate, 4) AS conversion_rate,
       round(k.cltv_historical, 2) AS cltv_historical, round(k.cltv_formula, 2) AS cltv_formula,
       round(k.roi, 4) AS roi, round(k.marketing_roi, 4) AS marketing_roi, round(k.csat, 2) AS csat,
       round(k.cltv_predicted, 2) AS cltv_predicted, round(k.p_alive, 4) AS p_alive
  FROM segkpi.segment_kpis k
 WHERE k.snapshot_id = (SELECT max(snapshot_id) FROM segkpi.snapshots)
   AND (k.segment = '(all)' OR k.customers >= (SELECT min_segment_size FROM segkpi.settings));

CREATE VIEW segkpi.kpi_latest AS
SELECT t.* FROM segkpi.kpi_trends t
 WHERE t.period_start = (SELECT date_trunc(s.period_grain, (s.as_of - interval '1 microsecond') AT TIME ZONE s.timezone)::date
                           FROM segkpi.snapshots s WHERE s.snapshot_id = t.snapshot_id);

CREATE FUNCTION segkpi.migration(from_snapshot bigint, to_snapshot bigint)
    RETURNS TABLE (segmentation text, from_segment text, to_segment text, customers bigint)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
BEGIN
    IF to_regclass('segkpi.customer_segments') IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE $q$
        SELECT coalesce(a.segmentation, b.segmentation), coalesce(a.segment, '(none)'),
               coalesce(b.segment, '(none)'), count(*)
          FROM (SELECT * FROM segkpi.customer_segments WHERE snapshot_id = $1) a
          FULL JOIN (SELECT * FROM segkpi.customer_segments WHERE snapshot_id = $2) b
            ON a.segmentation = b.segmentation AND a.customer_id = b.customer_id
         GROUP BY 1, 2, 3
        HAVING count(*) >= (SELECT min_segment_size FROM segkpi.settings)
         ORDER BY 1, 2, 3$q$ USING from_snapshot, to_snapshot;
END
$$;

CREATE VIEW segkpi.before_after AS
WITH totals AS (
    SELECT k.*, k.period_start >= st.launch_date AS after
      FROM segkpi.segment_kpis k, segkpi.settings st
     WHERE st.launch_date IS NOT NULL AND k.segment = '(all)'
       AND k.snapshot_id = (SELECT max(snapshot_id) FROM segkpi.snapshots)
       AND k.segmentation = (SELECT min(segmentation) FROM segkpi.segment_kpis WHERE snapshot_id = k.snapshot_id)
),
sides AS (
    SELECT after,
           sum(attributed_spend) / nullif(sum(new_customers), 0) AS cac,
           sum(revenue) / nullif(sum(orders), 0) AS aov,
           sum(retained)::numeric / nullif(sum(previously_active), 0) AS retention_rate,
           1 - sum(retained)::numeric / nullif(sum(previously_active), 0) AS churn_rate,
           (array_agg(cltv_historical ORDER BY period_start DESC))[1] AS cltv_historical,
           (sum(revenue) - sum(cost) - sum(attributed_spend)) / nullif(sum(cost) + sum(attributed_spend), 0) AS roi,
           (sum(revenue) - sum(cost) - sum(attributed_spend)) / nullif(sum(attributed_spend), 0) AS marketing_roi,
           sum(csat * feedback_answers) / nullif(sum(feedback_answers), 0) AS csat,
           sum(revenue) / count(*) AS revenue_per_period
      FROM totals GROUP BY after
),
metrics AS (
    SELECT m.ord, m.metric, s.after, m.value
      FROM sides s,
           LATERAL (VALUES (1, 'CAC', s.cac), (2, 'AOV', s.aov), (3, 'retention rate', s.retention_rate),
                           (4, 'churn rate', s.churn_rate), (5, 'CLTV (historical)', s.cltv_historical),
                           (6, 'ROI', s.roi), (7, 'marketing ROI', s.marketing_roi), (8, 'CSAT', s.csat),
                           (9, 'revenue per period', s.revenue_per_period)) m(ord, metric, value)
)
SELECT b.metric, round(b.value, 4) AS before_segmentation, round(a.value, 4) AS after_segmentation,
       round(a.value - b.value, 4) AS change,
       round(100 * (a.value - b.value) / nullif(abs(b.value), 0), 1) AS impact_percent
  FROM metrics b JOIN metrics a ON a.ord = b.ord AND a.after AND NOT b.after
 ORDER BY b.ord;

COMMENT ON VIEW segkpi.kpi_trends IS 'KPIs per segmentation, segment and period of the latest snapshot; segments below settings.min_segment_size are hidden';
COMMENT ON VIEW segkpi.kpi_latest IS 'KPIs of the last period of the latest snapshot (the one holding the instant just before as_of); same columns as kpi_trends';
COMMENT ON VIEW segkpi.before_after IS 'KPIs before and after settings.launch_date, over all customers: the before/after segmentation report';
-- The KPI views show the columns of segment_kpis (ratios rounded): same comments.
DO $$
DECLARE
    v text;
    c record;
BEGIN
    FOREACH v IN ARRAY ARRAY['kpi_trends', 'kpi_latest'] LOOP
        FOR c IN SELECT a.attname, col_description('segkpi.segment_kpis'::regclass, a.attnum) AS d
                   FROM pg_attribute a
                  WHERE a.attrelid = 'segkpi.segment_kpis'::regclass AND a.attnum > 0 AND NOT a.attisdropped LOOP
            IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = ('segkpi.' || v)::regclass AND attname = c.attname) THEN
                EXECUTE format('COMMENT ON COLUMN segkpi.%I.%I IS %L', v, c.attname, c.d);
            END IF;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON COLUMN segkpi.before_after.metric IS 'KPI over all customers';
COMMENT ON COLUMN segkpi.before_after.before_segmentation IS 'value over the periods before settings.launch_date (ratios of sums; CLTV at the last period)';
COMMENT ON COLUMN segkpi.before_after.after_segmentation IS 'value over the periods from settings.launch_date on';
COMMENT ON COLUMN segkpi.before_after.change IS 'after - before';
COMMENT ON COLUMN segkpi.before_after.impact_percent IS '100 x change / |before|';
COMMENT ON SEQUENCE segkpi.snapshots_snapshot_id_seq IS 'numbers snapshots';
GRANT USAGE ON SEQUENCE segkpi.snapshots_snapshot_id_seq TO @extowner@;

COMMENT ON FUNCTION segkpi.migration(bigint, bigint) IS 'customers per (segmentation, from segment, to segment) between two snapshots; (none) for customers in only one';

-- erasure: one customer out of every customer-level table
CREATE FUNCTION segkpi.erase_customer(customer anyelement)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog
AS $$
DECLARE
    key_t regtype;
    n bigint;
    m bigint;
BEGIN
    SELECT (columns ->> '_key_type')::regtype INTO key_t FROM segkpi.bindings WHERE source = 'orders';
    IF key_t IS NULL THEN
        RETURN 0;
    END IF;
    IF pg_typeof(customer) <> key_t THEN
        RAISE EXCEPTION 'customer has type %, but the bound customer key is %', pg_typeof(customer), key_t
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    EXECUTE 'DELETE FROM segkpi.customer_features WHERE customer_id = $1' USING customer;
    GET DIAGNOSTICS n = ROW_COUNT;
    EXECUTE 'DELETE FROM segkpi.customer_segments WHERE customer_id = $1' USING customer;
    GET DIAGNOSTICS m = ROW_COUNT;
    RETURN n + m;
END
$$;
COMMENT ON FUNCTION segkpi.erase_customer(anyelement) IS
    'right to erasure: deletes a customer from every customer-level table segkpi keeps; returns rows deleted (aggregates are not recomputed)';

GRANT SELECT ON segkpi.kpi_trends, segkpi.kpi_latest, segkpi.before_after TO @extowner@ WITH GRANT OPTION;
REVOKE EXECUTE ON FUNCTION segkpi.erase_customer(anyelement), segkpi.refresh(timestamptz, boolean),
    segkpi.bind(text, regclass, jsonb, name[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION segkpi.erase_customer(anyelement), segkpi.refresh(timestamptz, boolean),
    segkpi.bind(text, regclass, jsonb, name[]) TO @extowner@;
-- k-means: the model type and the transform enum
------------------------------------------------------------------------

CREATE TYPE segkpi.kmeans_transform AS ENUM ('none', 'zscore', 'log_zscore');

COMMENT ON TYPE segkpi.kmeans_transform IS
    'feature transform of a k-means model: none (raw values), zscore ((x - mean) / sd), log_zscore (z-score of sign(x) * ln(1 + |x|)); mean and population sd are estimated on the fitted rows and stored in the model';

CREATE TYPE segkpi.kmeans_model;

CREATE FUNCTION segkpi.kmeans_model_in(cstring) RETURNS segkpi.kmeans_model
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_model_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.kmeans_model_out(segkpi.kmeans_model) RETURNS cstring
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_model_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.kmeans_model_recv(internal) RETURNS segkpi.kmeans_model
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_model_recv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.kmeans_model_send(segkpi.kmeans_model) RETURNS bytea
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_model_send'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE segkpi.kmeans_model (
    INPUT = segkpi.kmeans_model_in,
    OUTPUT = segkpi.kmeans_model_out,
    RECEIVE = segkpi.kmeans_model_recv,
    SEND = segkpi.kmeans_model_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = int4,
    STORAGE = extended
);

COMMENT ON TYPE segkpi.kmeans_model IS
    'a fitted k-means model: transform, its shift and scale, centroids, sizes and within-cluster sums of squares; text form "kmeans v1 k=... dim=... transform=... ..." (validated on input)';
COMMENT ON FUNCTION segkpi.kmeans_model_in(cstring) IS 'text input of segkpi.kmeans_model (validated, stored canonically)';
COMMENT ON FUNCTION segkpi.kmeans_model_out(segkpi.kmeans_model) IS 'text output of segkpi.kmeans_model';
COMMENT ON FUNCTION segkpi.kmeans_model_recv(internal) IS 'binary input of segkpi.kmeans_model (the text form, validated)';
COMMENT ON FUNCTION segkpi.kmeans_model_send(segkpi.kmeans_model) IS 'binary output of segkpi.kmeans_model (the text form)';

------------------------------------------------------------------------
-- k-means: fitting (aggregate; one overload per number of options)
------------------------------------------------------------------------

CREATE FUNCTION segkpi.kmeans_combine(internal, internal)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_combine'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.kmeans_serialize(internal)
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_serialize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.kmeans_deserialize(bytea, internal)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_deserialize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.kmeans_final(internal)
    RETURNS segkpi.kmeans_model
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION segkpi.kmeans_combine(internal, internal) IS 'combine function of segkpi.kmeans and segkpi.kmeans_choose_k (appends rows)';
COMMENT ON FUNCTION segkpi.kmeans_serialize(internal) IS 'serialize function of segkpi.kmeans and segkpi.kmeans_choose_k (parallel plans)';
COMMENT ON FUNCTION segkpi.kmeans_deserialize(bytea, internal) IS 'deserialize function of segkpi.kmeans and segkpi.kmeans_choose_k (parallel plans)';
COMMENT ON FUNCTION segkpi.kmeans_final(internal) IS 'final function of segkpi.kmeans: sorts the rows by their seeded key and fits';

CREATE FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans(
    features float8[],
    k integer) (
    SFUNC = segkpi.kmeans_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer) IS 'transition function of segkpi.kmeans(float8[], integer)';
COMMENT ON AGGREGATE segkpi.kmeans(float8[], integer) IS
    'k-means model of the rows'' features (k-means++ seeding, Lloyd iterations); same rows, options and seed give the same model in any order or plan; seed 0, transform none, restarts 1, max_iter 300, tol 1e-4, sample_cap 0 (every row)';

CREATE FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans(
    features float8[],
    k integer,
    seed bigint) (
    SFUNC = segkpi.kmeans_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint) IS 'transition function of segkpi.kmeans(float8[], integer, bigint)';
COMMENT ON AGGREGATE segkpi.kmeans(float8[], integer, bigint) IS
    'k-means model of the rows'' features (k-means++ seeding, Lloyd iterations); same rows, options and seed give the same model in any order or plan; transform none, restarts 1, max_iter 300, tol 1e-4, sample_cap 0 (every row)';

CREATE FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans(
    features float8[],
    k integer,
    seed bigint,
    transform segkpi.kmeans_transform) (
    SFUNC = segkpi.kmeans_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform) IS 'transition function of segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform)';
COMMENT ON AGGREGATE segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform) IS
    'k-means model of the rows'' features (k-means++ seeding, Lloyd iterations); same rows, options and seed give the same model in any order or plan; restarts 1, max_iter 300, tol 1e-4, sample_cap 0 (every row)';

CREATE FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform, integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans(
    features float8[],
    k integer,
    seed bigint,
    transform segkpi.kmeans_transform,
    restarts integer) (
    SFUNC = segkpi.kmeans_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform, integer) IS 'transition function of segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform, integer)';
COMMENT ON AGGREGATE segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform, integer) IS
    'k-means model of the rows'' features (k-means++ seeding, Lloyd iterations); same rows, options and seed give the same model in any order or plan; max_iter 300, tol 1e-4, sample_cap 0 (every row)';

CREATE FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform, integer, integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans(
    features float8[],
    k integer,
    seed bigint,
    transform segkpi.kmeans_transform,
    restarts integer,
    max_iter integer) (
    SFUNC = segkpi.kmeans_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform, integer, integer) IS 'transition function of segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform, integer, integer)';
COMMENT ON AGGREGATE segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform, integer, integer) IS
    'k-means model of the rows'' features (k-means++ seeding, Lloyd iterations); same rows, options and seed give the same model in any order or plan; tol 1e-4, sample_cap 0 (every row)';

CREATE FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform, integer, integer, float8)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans(
    features float8[],
    k integer,
    seed bigint,
    transform segkpi.kmeans_transform,
    restarts integer,
    max_iter integer,
    tol float8) (
    SFUNC = segkpi.kmeans_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform, integer, integer, float8) IS 'transition function of segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform, integer, integer, float8)';
COMMENT ON AGGREGATE segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform, integer, integer, float8) IS
    'k-means model of the rows'' features (k-means++ seeding, Lloyd iterations); same rows, options and seed give the same model in any order or plan; sample_cap 0 (every row)';

CREATE FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans(
    features float8[],
    k integer,
    seed bigint,
    transform segkpi.kmeans_transform,
    restarts integer,
    max_iter integer,
    tol float8,
    sample_cap bigint) (
    SFUNC = segkpi.kmeans_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_sfunc(internal, float8[], integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint) IS 'transition function of segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint)';
COMMENT ON AGGREGATE segkpi.kmeans(float8[], integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint) IS
    'k-means model of the rows'' features (k-means++ seeding, Lloyd iterations); same rows, options and seed give the same model in any order or plan';


-- Explicit initial centroids (a k x dim array in original units): one
-- run from them, no k-means++ (as scikit-learn does for an init array).
CREATE FUNCTION segkpi.kmeans_init_sfunc(internal, float8[], float8[])
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_init_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans(
    features float8[],
    init float8[]) (
    SFUNC = segkpi.kmeans_init_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_init_sfunc(internal, float8[], float8[]) IS 'transition function of segkpi.kmeans(float8[], float8[])';
COMMENT ON AGGREGATE segkpi.kmeans(float8[], float8[]) IS
    'k-means model from explicit initial centroids init (k x dim, original units): one Lloyd run; transform none, max_iter 300, tol 1e-4';

CREATE FUNCTION segkpi.kmeans_init_sfunc(internal, float8[], float8[], segkpi.kmeans_transform, integer, float8)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_init_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans(
    features float8[],
    init float8[],
    transform segkpi.kmeans_transform,
    max_iter integer,
    tol float8) (
    SFUNC = segkpi.kmeans_init_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_init_sfunc(internal, float8[], float8[], segkpi.kmeans_transform, integer, float8) IS 'transition function of segkpi.kmeans(float8[], float8[], kmeans_transform, integer, float8)';
COMMENT ON AGGREGATE segkpi.kmeans(float8[], float8[], segkpi.kmeans_transform, integer, float8) IS
    'k-means model from explicit initial centroids init (k x dim, original units) with a transform, max_iter and tol: one Lloyd run (tol 0 runs until no label changes)';

------------------------------------------------------------------------
-- k-means: using a model
------------------------------------------------------------------------

CREATE FUNCTION segkpi.kmeans_assign(model segkpi.kmeans_model, features float8[])
    RETURNS integer
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_assign'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION segkpi.kmeans_assign(segkpi.kmeans_model, float8[]) IS
    'cluster 1..k whose centroid is nearest to features after the model''s own transform (ties: the lowest cluster)';

CREATE FUNCTION segkpi.kmeans_inertia(model segkpi.kmeans_model) RETURNS float8
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_inertia'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segkpi.kmeans_k(model segkpi.kmeans_model) RETURNS integer
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_k'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segkpi.kmeans_dim(model segkpi.kmeans_model) RETURNS integer
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_dim'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segkpi.kmeans_iterations(model segkpi.kmeans_model) RETURNS integer
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_iterations'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segkpi.kmeans_converged(model segkpi.kmeans_model) RETURNS boolean
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_converged'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segkpi.kmeans_transform(model segkpi.kmeans_model) RETURNS segkpi.kmeans_transform
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_transform'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION segkpi.kmeans_inertia(segkpi.kmeans_model) IS
    'sum over fitted rows of the squared distance to their centroid, in the transformed space';
COMMENT ON FUNCTION segkpi.kmeans_k(segkpi.kmeans_model) IS 'number of clusters';
COMMENT ON FUNCTION segkpi.kmeans_dim(segkpi.kmeans_model) IS 'number of features';
COMMENT ON FUNCTION segkpi.kmeans_iterations(segkpi.kmeans_model) IS 'Lloyd iterations of the kept run';
COMMENT ON FUNCTION segkpi.kmeans_converged(segkpi.kmeans_model) IS 'true when the kept run stopped before max_iter ran out';
COMMENT ON FUNCTION segkpi.kmeans_transform(segkpi.kmeans_model) IS 'the feature transform the model applies';

CREATE FUNCTION segkpi.kmeans_centroids(model segkpi.kmeans_model,
    OUT cluster integer, OUT centroid float8[], OUT size bigint, OUT wcss float8)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_centroids'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    ROWS 5;

COMMENT ON FUNCTION segkpi.kmeans_centroids(segkpi.kmeans_model) IS
    'one row per cluster: cluster 1..k, centroid in original feature units (for log_zscore the back-transformed mean of the logs), size (fitted rows nearest to it), wcss (their sum of squared distances, transformed space)';

------------------------------------------------------------------------
-- k-means: choosing k (aggregate returning one score per k)
------------------------------------------------------------------------

CREATE TYPE segkpi.kmeans_k_score AS (
    k              integer,
    inertia        float8,
    silhouette     float8,
    davies_bouldin float8,
    silhouette_n   bigint,
    iterations     integer,
    model          segkpi.kmeans_model
);

COMMENT ON TYPE segkpi.kmeans_k_score IS 'quality of one k-means fit, from segkpi.kmeans_choose_k';
COMMENT ON COLUMN segkpi.kmeans_k_score.k IS 'number of clusters';
COMMENT ON COLUMN segkpi.kmeans_k_score.inertia IS 'sum of squared distances of the rows to their centroid (transformed space); lower is tighter';
COMMENT ON COLUMN segkpi.kmeans_k_score.silhouette IS 'mean silhouette (-1..1, higher is better) over a seeded sample of silhouette_n rows; NULL when undefined or skipped';
COMMENT ON COLUMN segkpi.kmeans_k_score.davies_bouldin IS 'Davies-Bouldin index over all rows (>= 0, lower is better); NULL when undefined (one non-empty cluster)';
COMMENT ON COLUMN segkpi.kmeans_k_score.silhouette_n IS 'rows the silhouette was computed on (0 when skipped)';
COMMENT ON COLUMN segkpi.kmeans_k_score.iterations IS 'Lloyd iterations of the kept run';
COMMENT ON COLUMN segkpi.kmeans_k_score.model IS 'the fitted model, usable with kmeans_assign';

CREATE FUNCTION segkpi.kmeans_choose_k_final(internal)
    RETURNS segkpi.kmeans_k_score[]
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_choose_k_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION segkpi.kmeans_choose_k_final(internal) IS 'final function of segkpi.kmeans_choose_k: one fit and its scores per k';

CREATE FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_choose_k_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans_choose_k(
    features float8[],
    k_min integer,
    k_max integer) (
    SFUNC = segkpi.kmeans_choose_k_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_choose_k_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer) IS 'transition function of segkpi.kmeans_choose_k(float8[], integer, integer)';
COMMENT ON AGGREGATE segkpi.kmeans_choose_k(float8[], integer, integer) IS
    'for each k in k_min..k_max: a fit with its inertia, sampled silhouette and Davies-Bouldin index, as an array (unnest it); seed 0, transform none, restarts 1, max_iter 300, tol 1e-4, sample_cap 0 (every row), silhouette_cap 10000';

CREATE FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_choose_k_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans_choose_k(
    features float8[],
    k_min integer,
    k_max integer,
    seed bigint) (
    SFUNC = segkpi.kmeans_choose_k_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_choose_k_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint) IS 'transition function of segkpi.kmeans_choose_k(float8[], integer, integer, bigint)';
COMMENT ON AGGREGATE segkpi.kmeans_choose_k(float8[], integer, integer, bigint) IS
    'for each k in k_min..k_max: a fit with its inertia, sampled silhouette and Davies-Bouldin index, as an array (unnest it); transform none, restarts 1, max_iter 300, tol 1e-4, sample_cap 0 (every row), silhouette_cap 10000';

CREATE FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_choose_k_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans_choose_k(
    features float8[],
    k_min integer,
    k_max integer,
    seed bigint,
    transform segkpi.kmeans_transform) (
    SFUNC = segkpi.kmeans_choose_k_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_choose_k_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform) IS 'transition function of segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform)';
COMMENT ON AGGREGATE segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform) IS
    'for each k in k_min..k_max: a fit with its inertia, sampled silhouette and Davies-Bouldin index, as an array (unnest it); restarts 1, max_iter 300, tol 1e-4, sample_cap 0 (every row), silhouette_cap 10000';

CREATE FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_choose_k_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans_choose_k(
    features float8[],
    k_min integer,
    k_max integer,
    seed bigint,
    transform segkpi.kmeans_transform,
    restarts integer) (
    SFUNC = segkpi.kmeans_choose_k_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_choose_k_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer) IS 'transition function of segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer)';
COMMENT ON AGGREGATE segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer) IS
    'for each k in k_min..k_max: a fit with its inertia, sampled silhouette and Davies-Bouldin index, as an array (unnest it); max_iter 300, tol 1e-4, sample_cap 0 (every row), silhouette_cap 10000';

CREATE FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_choose_k_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans_choose_k(
    features float8[],
    k_min integer,
    k_max integer,
    seed bigint,
    transform segkpi.kmeans_transform,
    restarts integer,
    max_iter integer) (
    SFUNC = segkpi.kmeans_choose_k_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_choose_k_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer) IS 'transition function of segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer)';
COMMENT ON AGGREGATE segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer) IS
    'for each k in k_min..k_max: a fit with its inertia, sampled silhouette and Davies-Bouldin index, as an array (unnest it); tol 1e-4, sample_cap 0 (every row), silhouette_cap 10000';

CREATE FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_choose_k_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans_choose_k(
    features float8[],
    k_min integer,
    k_max integer,
    seed bigint,
    transform segkpi.kmeans_transform,
    restarts integer,
    max_iter integer,
    tol float8) (
    SFUNC = segkpi.kmeans_choose_k_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_choose_k_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8) IS 'transition function of segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8)';
COMMENT ON AGGREGATE segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8) IS
    'for each k in k_min..k_max: a fit with its inertia, sampled silhouette and Davies-Bouldin index, as an array (unnest it); sample_cap 0 (every row), silhouette_cap 10000';

CREATE FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_choose_k_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans_choose_k(
    features float8[],
    k_min integer,
    k_max integer,
    seed bigint,
    transform segkpi.kmeans_transform,
    restarts integer,
    max_iter integer,
    tol float8,
    sample_cap bigint) (
    SFUNC = segkpi.kmeans_choose_k_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_choose_k_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint) IS 'transition function of segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint)';
COMMENT ON AGGREGATE segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint) IS
    'for each k in k_min..k_max: a fit with its inertia, sampled silhouette and Davies-Bouldin index, as an array (unnest it); silhouette_cap 10000';

CREATE FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint, bigint)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_kmeans_choose_k_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.kmeans_choose_k(
    features float8[],
    k_min integer,
    k_max integer,
    seed bigint,
    transform segkpi.kmeans_transform,
    restarts integer,
    max_iter integer,
    tol float8,
    sample_cap bigint,
    silhouette_cap bigint) (
    SFUNC = segkpi.kmeans_choose_k_sfunc,
    STYPE = internal,
    SSPACE = 100000000,
    COMBINEFUNC = segkpi.kmeans_combine,
    SERIALFUNC = segkpi.kmeans_serialize,
    DESERIALFUNC = segkpi.kmeans_deserialize,
    FINALFUNC = segkpi.kmeans_choose_k_final,
    FINALFUNC_MODIFY = READ_WRITE,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.kmeans_choose_k_sfunc(internal, float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint, bigint) IS 'transition function of segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint, bigint)';
COMMENT ON AGGREGATE segkpi.kmeans_choose_k(float8[], integer, integer, bigint, segkpi.kmeans_transform, integer, integer, float8, bigint, bigint) IS
    'for each k in k_min..k_max: a fit with its inertia, sampled silhouette and Davies-Bouldin index, as an array (unnest it)';


------------------------------------------------------------------------
-- KPI pipeline: k-means segmentations
------------------------------------------------------------------------

-- The model of every k-means segmentation in every snapshot.
CREATE TABLE segkpi.segment_models (
    snapshot_id  bigint NOT NULL REFERENCES segkpi.snapshots ON DELETE CASCADE,
    segmentation text NOT NULL,
    features     text[] NOT NULL,
    model        segkpi.kmeans_model NOT NULL,
    PRIMARY KEY (snapshot_id, segmentation)
);
COMMENT ON TABLE segkpi.segment_models IS 'k-means model fitted for a segmentation at a snapshot';
COMMENT ON COLUMN segkpi.segment_models.snapshot_id IS 'the snapshot';
COMMENT ON COLUMN segkpi.segment_models.segmentation IS 'the k-means segmentation';
COMMENT ON COLUMN segkpi.segment_models.features IS 'feature names, in the order of the model''s dimensions';
COMMENT ON COLUMN segkpi.segment_models.model IS 'the fitted model (segment "Cluster n" is cluster n)';
SELECT pg_catalog.pg_extension_config_dump('segkpi.segment_models', '');
GRANT SELECT, INSERT, UPDATE, DELETE ON segkpi.segment_models TO @extowner@;

ALTER TABLE segkpi.segmentations DROP CONSTRAINT segmentations_method_check;
ALTER TABLE segkpi.segmentations ADD CONSTRAINT segmentations_method_check
    CHECK (method IN ('rfm', 'rules', 'kmeans'));
COMMENT ON COLUMN segkpi.segmentations.method IS
    'rfm (params bins, ruleset), rules (segkpi.segment_rules) or kmeans (params features, k, seed, transform, restarts)';

-- Fits k-means on the snapshot's customers (refresh's temporary table
-- segkpi_cust) and assigns every customer to "Cluster n"; customers with a
-- NULL feature are not fitted and get "(no features)".
CREATE FUNCTION segkpi.assign_kmeans(sid bigint, seg segkpi.segmentations, bc segkpi.bindings, as_of timestamptz)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    feats text[] := ARRAY(SELECT jsonb_array_elements_text(
                              coalesce(seg.params -> 'features', '["recency_days", "frequency", "monetary"]')));
    exprs text[] := '{}';
    f text;
    uses_attributes boolean := false;
    feature_sql text;
    join_sql text := '';
    model segkpi.kmeans_model;
BEGIN
    IF cardinality(feats) = 0 THEN
        RAISE EXCEPTION 'k-means segmentation "%" has no features', seg.name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH f IN ARRAY feats LOOP
        exprs := exprs || CASE f
            WHEN 'recency_days' THEN
                format('extract(epoch FROM %L::timestamptz - coalesce(k.last_order_at, k.first_row_at))::float8 / 86400', as_of)
            WHEN 'tenure_days' THEN
                format('extract(epoch FROM %L::timestamptz - k.acquired_at)::float8 / 86400', as_of)
            WHEN 'frequency' THEN 'k.orders::float8'
            WHEN 'monetary' THEN 'k.monetary::float8'
            ELSE NULL END;
        IF exprs[cardinality(exprs)] IS NULL THEN
            IF bc IS NULL OR NOT f::name = ANY (bc.attributes) THEN
                RAISE EXCEPTION 'k-means feature "%" is neither built in nor a bound customer attribute', f
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Built-in features: recency_days, tenure_days, frequency, monetary.';
            END IF;
            PERFORM segkpi.binding_column_type(bc.relation, f::name, 'k-means feature',
                                               segkpi.binding_types('n'));
            exprs[cardinality(exprs)] := format('c.%I::float8', f);
            uses_attributes := true;
        END IF;
    END LOOP;
    feature_sql := 'ARRAY[' || array_to_string(exprs, ', ') || ']';
    IF uses_attributes THEN
        join_sql := format('LEFT JOIN %s c ON c.%I = k.customer_id', bc.relation, bc.columns ->> 'customer');
    END IF;
    IF NOT EXISTS (SELECT FROM segkpi_cust) THEN
        RETURN;
    END IF;
    EXECUTE format('SELECT segkpi.kmeans(f, $1, $2, $3, $4)
                      FROM (SELECT %s AS f FROM segkpi_cust k %s) x
                     WHERE array_position(f, NULL) IS NULL', feature_sql, join_sql)
       INTO model
      USING coalesce((seg.params ->> 'k')::int, 4), coalesce((seg.params ->> 'seed')::bigint, 0),
            coalesce(seg.params ->> 'transform', 'log_zscore')::segkpi.kmeans_transform,
            coalesce((seg.params ->> 'restarts')::int, 3);
    INSERT INTO segkpi.segment_models VALUES (sid, seg.name, feats, model);
    EXECUTE format('INSERT INTO segkpi.customer_segments
                    SELECT $1, $2, customer_id,
                           CASE WHEN array_position(f, NULL) IS NULL
                                THEN ''Cluster '' || segkpi.kmeans_assign($3, f) ELSE ''(no features)'' END
                      FROM (SELECT k.customer_id, %s AS f FROM segkpi_cust k %s) x', feature_sql, join_sql)
      USING sid, seg.name, model;
END
$$;
COMMENT ON FUNCTION segkpi.assign_kmeans(bigint, segkpi.segmentations, segkpi.bindings, timestamptz) IS
    'fits and applies the k-means model of a segmentation during segkpi.refresh';

CREATE VIEW segkpi.cluster_profiles AS
SELECT m.snapshot_id, m.segmentation, 'Cluster ' || c.cluster AS segment, c.size AS customers,
       (SELECT jsonb_object_agg(u.feature, round(u.value::numeric, 4))
          FROM unnest(m.features, c.centroid) AS u(feature, value)) AS centroid,
       round(c.wcss::numeric, 4) AS wcss
  FROM segkpi.segment_models m, LATERAL segkpi.kmeans_centroids(m.model) c
 WHERE m.snapshot_id = (SELECT max(snapshot_id) FROM segkpi.snapshots)
   AND c.size >= (SELECT min_segment_size FROM segkpi.settings);
COMMENT ON VIEW segkpi.cluster_profiles IS
    'k-means clusters of the latest snapshot in original feature units, so a person can name them; small clusters hidden';
COMMENT ON COLUMN segkpi.cluster_profiles.snapshot_id IS 'the snapshot';
COMMENT ON COLUMN segkpi.cluster_profiles.segmentation IS 'the k-means segmentation';
COMMENT ON COLUMN segkpi.cluster_profiles.segment IS 'Cluster n (the segment name in the KPI views)';
COMMENT ON COLUMN segkpi.cluster_profiles.customers IS 'customers fitted to the cluster';
COMMENT ON COLUMN segkpi.cluster_profiles.centroid IS 'feature -> centroid value in original units';
COMMENT ON COLUMN segkpi.cluster_profiles.wcss IS 'within-cluster sum of squares (transformed space)';
GRANT SELECT ON segkpi.cluster_profiles TO @extowner@ WITH GRANT OPTION;
-- BG/NBD, Gamma-Gamma, CLV: per-customer calibration summary (aggregate)
------------------------------------------------------------------------

CREATE TYPE segkpi.btyd_state;

CREATE FUNCTION segkpi.btyd_state_in(cstring) RETURNS segkpi.btyd_state
    AS 'MODULE_PATHNAME', 'segkpi_btyd_state_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.btyd_state_out(segkpi.btyd_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'segkpi_btyd_state_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.btyd_state_recv(internal) RETURNS segkpi.btyd_state
    AS 'MODULE_PATHNAME', 'segkpi_btyd_state_recv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.btyd_state_send(segkpi.btyd_state) RETURNS bytea
    AS 'MODULE_PATHNAME', 'segkpi_btyd_state_send'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE segkpi.btyd_state (
    INPUT = segkpi.btyd_state_in,
    OUTPUT = segkpi.btyd_state_out,
    RECEIVE = segkpi.btyd_state_recv,
    SEND = segkpi.btyd_state_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE segkpi.btyd_state IS
    'running state of segkpi.btyd_stats: exact net amount per UTC calendar day; text form 1:<calibration_end>:<unit>:<day>=<net>,...';
COMMENT ON FUNCTION segkpi.btyd_state_in(cstring) IS 'text input of segkpi.btyd_state (validated)';
COMMENT ON FUNCTION segkpi.btyd_state_out(segkpi.btyd_state) IS 'text output of segkpi.btyd_state';
COMMENT ON FUNCTION segkpi.btyd_state_recv(internal) IS 'binary input of segkpi.btyd_state (the text form)';
COMMENT ON FUNCTION segkpi.btyd_state_send(segkpi.btyd_state) IS 'binary output of segkpi.btyd_state (the text form)';

CREATE TYPE segkpi.btyd_summary AS (
    x    integer,
    t_x  float8,
    t    float8,
    zbar float8
);

COMMENT ON TYPE segkpi.btyd_summary IS
    'one customer''s calibration summary for BG/NBD and Gamma-Gamma, from segkpi.btyd_stats';
COMMENT ON COLUMN segkpi.btyd_summary.x IS 'repeat purchase days: calendar days (UTC) with net amount >= 0 up to calibration_end, minus the first';
COMMENT ON COLUMN segkpi.btyd_summary.t_x IS 'last purchase day - first purchase day, in units';
COMMENT ON COLUMN segkpi.btyd_summary.t IS 'T: day of calibration_end - first purchase day, in units';
COMMENT ON COLUMN segkpi.btyd_summary.zbar IS 'mean net amount of the x repeat purchase days; 0 when x = 0';

CREATE FUNCTION segkpi.btyd_stats_sfunc(segkpi.btyd_state, timestamptz, numeric, timestamptz)
    RETURNS segkpi.btyd_state
    AS 'MODULE_PATHNAME', 'segkpi_btyd_stats_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.btyd_stats_sfunc(segkpi.btyd_state, timestamptz, numeric, timestamptz, interval)
    RETURNS segkpi.btyd_state
    AS 'MODULE_PATHNAME', 'segkpi_btyd_stats_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.btyd_stats_combine(segkpi.btyd_state, segkpi.btyd_state)
    RETURNS segkpi.btyd_state
    AS 'MODULE_PATHNAME', 'segkpi_btyd_stats_combine'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.btyd_stats_final(segkpi.btyd_state)
    RETURNS segkpi.btyd_summary
    AS 'MODULE_PATHNAME', 'segkpi_btyd_stats_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Aggregates take no DEFAULT arguments: the 3-argument form is unit = 1 week.
CREATE AGGREGATE segkpi.btyd_stats(ordered_at timestamptz, amount numeric,
                                   calibration_end timestamptz) (
    SFUNC = segkpi.btyd_stats_sfunc,
    STYPE = segkpi.btyd_state,
    SSPACE = 256,
    COMBINEFUNC = segkpi.btyd_stats_combine,
    FINALFUNC = segkpi.btyd_stats_final,
    PARALLEL = SAFE
);

CREATE AGGREGATE segkpi.btyd_stats(ordered_at timestamptz, amount numeric,
                                   calibration_end timestamptz, unit interval) (
    SFUNC = segkpi.btyd_stats_sfunc,
    STYPE = segkpi.btyd_state,
    SSPACE = 256,
    COMBINEFUNC = segkpi.btyd_stats_combine,
    FINALFUNC = segkpi.btyd_stats_final,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.btyd_stats_sfunc(segkpi.btyd_state, timestamptz, numeric, timestamptz) IS 'transition function of segkpi.btyd_stats (unit 1 week)';
COMMENT ON FUNCTION segkpi.btyd_stats_sfunc(segkpi.btyd_state, timestamptz, numeric, timestamptz, interval) IS 'transition function of segkpi.btyd_stats';
COMMENT ON FUNCTION segkpi.btyd_stats_combine(segkpi.btyd_state, segkpi.btyd_state) IS 'combine function of segkpi.btyd_stats';
COMMENT ON FUNCTION segkpi.btyd_stats_final(segkpi.btyd_state) IS 'final function of segkpi.btyd_stats';
COMMENT ON AGGREGATE segkpi.btyd_stats(timestamptz, numeric, timestamptz) IS
    'per-customer calibration summary (x, t_x, T, zbar) in weeks; same-day rows merged (UTC days), rows after calibration_end ignored, rows with a NULL order time or amount skipped';
COMMENT ON AGGREGATE segkpi.btyd_stats(timestamptz, numeric, timestamptz, interval) IS
    'per-customer calibration summary (x, t_x, T, zbar) in units of a fixed-length interval; same-day rows merged (UTC days), rows after calibration_end ignored, rows with a NULL order time or amount skipped';

------------------------------------------------------------------------
-- BG/NBD, Gamma-Gamma, CLV: model types
------------------------------------------------------------------------

CREATE TYPE segkpi.bgnbd_model;

CREATE FUNCTION segkpi.bgnbd_model_in(cstring) RETURNS segkpi.bgnbd_model
    AS 'MODULE_PATHNAME', 'segkpi_bgnbd_model_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.bgnbd_model_out(segkpi.bgnbd_model) RETURNS cstring
    AS 'MODULE_PATHNAME', 'segkpi_bgnbd_model_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.bgnbd_model_recv(internal) RETURNS segkpi.bgnbd_model
    AS 'MODULE_PATHNAME', 'segkpi_bgnbd_model_recv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.bgnbd_model_send(segkpi.bgnbd_model) RETURNS bytea
    AS 'MODULE_PATHNAME', 'segkpi_bgnbd_model_send'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE segkpi.bgnbd_model (
    INPUT = segkpi.bgnbd_model_in,
    OUTPUT = segkpi.bgnbd_model_out,
    RECEIVE = segkpi.bgnbd_model_recv,
    SEND = segkpi.bgnbd_model_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = plain
);

COMMENT ON TYPE segkpi.bgnbd_model IS
    'a BG/NBD model; text form bgnbd/1 r=... alpha=... a=... b=... ll=... n=... iter=... converged=0|1';
COMMENT ON FUNCTION segkpi.bgnbd_model_in(cstring) IS 'text input of segkpi.bgnbd_model (validated)';
COMMENT ON FUNCTION segkpi.bgnbd_model_out(segkpi.bgnbd_model) IS 'text output of segkpi.bgnbd_model (exact round trip)';
COMMENT ON FUNCTION segkpi.bgnbd_model_recv(internal) IS 'binary input of segkpi.bgnbd_model (the text form)';
COMMENT ON FUNCTION segkpi.bgnbd_model_send(segkpi.bgnbd_model) IS 'binary output of segkpi.bgnbd_model (the text form)';

CREATE TYPE segkpi.gamma_gamma_model;

CREATE FUNCTION segkpi.gamma_gamma_model_in(cstring) RETURNS segkpi.gamma_gamma_model
    AS 'MODULE_PATHNAME', 'segkpi_gamma_gamma_model_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.gamma_gamma_model_out(segkpi.gamma_gamma_model) RETURNS cstring
    AS 'MODULE_PATHNAME', 'segkpi_gamma_gamma_model_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.gamma_gamma_model_recv(internal) RETURNS segkpi.gamma_gamma_model
    AS 'MODULE_PATHNAME', 'segkpi_gamma_gamma_model_recv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.gamma_gamma_model_send(segkpi.gamma_gamma_model) RETURNS bytea
    AS 'MODULE_PATHNAME', 'segkpi_gamma_gamma_model_send'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE segkpi.gamma_gamma_model (
    INPUT = segkpi.gamma_gamma_model_in,
    OUTPUT = segkpi.gamma_gamma_model_out,
    RECEIVE = segkpi.gamma_gamma_model_recv,
    SEND = segkpi.gamma_gamma_model_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = plain
);

COMMENT ON TYPE segkpi.gamma_gamma_model IS
    'a Gamma-Gamma spend model; text form gammagamma/1 p=... q=... gamma=... ll=... n=... iter=... converged=0|1';
COMMENT ON FUNCTION segkpi.gamma_gamma_model_in(cstring) IS 'text input of segkpi.gamma_gamma_model (validated)';
COMMENT ON FUNCTION segkpi.gamma_gamma_model_out(segkpi.gamma_gamma_model) IS 'text output of segkpi.gamma_gamma_model (exact round trip)';
COMMENT ON FUNCTION segkpi.gamma_gamma_model_recv(internal) IS 'binary input of segkpi.gamma_gamma_model (the text form)';
COMMENT ON FUNCTION segkpi.gamma_gamma_model_send(segkpi.gamma_gamma_model) IS 'binary output of segkpi.gamma_gamma_model (the text form)';

CREATE TYPE segkpi.bgnbd_parameters AS (
    r          float8,
    alpha      float8,
    a          float8,
    b          float8,
    loglik     float8,
    n          float8,
    iterations integer,
    converged  boolean
);

COMMENT ON TYPE segkpi.bgnbd_parameters IS 'the fields of a segkpi.bgnbd_model, from segkpi.bgnbd_params';
COMMENT ON COLUMN segkpi.bgnbd_parameters.r IS 'shape of the Gamma prior on the purchase rate';
COMMENT ON COLUMN segkpi.bgnbd_parameters.alpha IS 'scale of the Gamma prior on the purchase rate, in time units';
COMMENT ON COLUMN segkpi.bgnbd_parameters.a IS 'first shape of the Beta prior on the dropout probability';
COMMENT ON COLUMN segkpi.bgnbd_parameters.b IS 'second shape of the Beta prior on the dropout probability';
COMMENT ON COLUMN segkpi.bgnbd_parameters.loglik IS 'log-likelihood at the estimate (0 for a hand-made model)';
COMMENT ON COLUMN segkpi.bgnbd_parameters.n IS 'customers the fit used';
COMMENT ON COLUMN segkpi.bgnbd_parameters.iterations IS 'optimiser iterations';
COMMENT ON COLUMN segkpi.bgnbd_parameters.converged IS 'false when the fit did not converge (a WARNING was raised)';

CREATE TYPE segkpi.gamma_gamma_parameters AS (
    p          float8,
    q          float8,
    gamma      float8,
    loglik     float8,
    n          float8,
    iterations integer,
    converged  boolean
);

COMMENT ON TYPE segkpi.gamma_gamma_parameters IS 'the fields of a segkpi.gamma_gamma_model, from segkpi.gamma_gamma_params';
COMMENT ON COLUMN segkpi.gamma_gamma_parameters.p IS 'shape of the Gamma distribution of one purchase''s value';
COMMENT ON COLUMN segkpi.gamma_gamma_parameters.q IS 'shape of the Gamma prior on that distribution''s rate';
COMMENT ON COLUMN segkpi.gamma_gamma_parameters.gamma IS 'rate of that prior, in money units';
COMMENT ON COLUMN segkpi.gamma_gamma_parameters.loglik IS 'log-likelihood at the estimate (0 for a hand-made model)';
COMMENT ON COLUMN segkpi.gamma_gamma_parameters.n IS 'customers with x > 0 the fit used';
COMMENT ON COLUMN segkpi.gamma_gamma_parameters.iterations IS 'optimiser iterations';
COMMENT ON COLUMN segkpi.gamma_gamma_parameters.converged IS 'false when the fit did not converge (a WARNING was raised)';

CREATE FUNCTION segkpi.bgnbd_params(model segkpi.bgnbd_model) RETURNS segkpi.bgnbd_parameters
    AS 'MODULE_PATHNAME', 'segkpi_bgnbd_params'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.gamma_gamma_params(model segkpi.gamma_gamma_model) RETURNS segkpi.gamma_gamma_parameters
    AS 'MODULE_PATHNAME', 'segkpi_gamma_gamma_params'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION segkpi.bgnbd_params(segkpi.bgnbd_model) IS 'the parameters and fit details of a BG/NBD model, as columns';
COMMENT ON FUNCTION segkpi.gamma_gamma_params(segkpi.gamma_gamma_model) IS 'the parameters and fit details of a Gamma-Gamma model, as columns';

------------------------------------------------------------------------
-- BG/NBD, Gamma-Gamma, CLV: fits (aggregates)
------------------------------------------------------------------------

CREATE TYPE segkpi.bgnbd_fit_state;

CREATE FUNCTION segkpi.bgnbd_fit_state_in(cstring) RETURNS segkpi.bgnbd_fit_state
    AS 'MODULE_PATHNAME', 'segkpi_bgnbd_fit_state_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.bgnbd_fit_state_out(segkpi.bgnbd_fit_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'segkpi_bgnbd_fit_state_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.bgnbd_fit_state_recv(internal) RETURNS segkpi.bgnbd_fit_state
    AS 'MODULE_PATHNAME', 'segkpi_bgnbd_fit_state_recv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.bgnbd_fit_state_send(segkpi.bgnbd_fit_state) RETURNS bytea
    AS 'MODULE_PATHNAME', 'segkpi_bgnbd_fit_state_send'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE segkpi.bgnbd_fit_state (
    INPUT = segkpi.bgnbd_fit_state_in,
    OUTPUT = segkpi.bgnbd_fit_state_out,
    RECEIVE = segkpi.bgnbd_fit_state_recv,
    SEND = segkpi.bgnbd_fit_state_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE segkpi.bgnbd_fit_state IS
    'running state of segkpi.bgnbd_fit: distinct (x, t_x, T) rows with counts; text form bgnbd_rows/1 skipped=W x,t_x,T,w ...';
COMMENT ON FUNCTION segkpi.bgnbd_fit_state_in(cstring) IS 'text input of segkpi.bgnbd_fit_state (validated)';
COMMENT ON FUNCTION segkpi.bgnbd_fit_state_out(segkpi.bgnbd_fit_state) IS 'text output of segkpi.bgnbd_fit_state';
COMMENT ON FUNCTION segkpi.bgnbd_fit_state_recv(internal) IS 'binary input of segkpi.bgnbd_fit_state (the text form)';
COMMENT ON FUNCTION segkpi.bgnbd_fit_state_send(segkpi.bgnbd_fit_state) IS 'binary output of segkpi.bgnbd_fit_state (the text form)';

CREATE TYPE segkpi.gamma_gamma_fit_state;

CREATE FUNCTION segkpi.gamma_gamma_fit_state_in(cstring) RETURNS segkpi.gamma_gamma_fit_state
    AS 'MODULE_PATHNAME', 'segkpi_gamma_gamma_fit_state_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.gamma_gamma_fit_state_out(segkpi.gamma_gamma_fit_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'segkpi_gamma_gamma_fit_state_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.gamma_gamma_fit_state_recv(internal) RETURNS segkpi.gamma_gamma_fit_state
    AS 'MODULE_PATHNAME', 'segkpi_gamma_gamma_fit_state_recv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.gamma_gamma_fit_state_send(segkpi.gamma_gamma_fit_state) RETURNS bytea
    AS 'MODULE_PATHNAME', 'segkpi_gamma_gamma_fit_state_send'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE segkpi.gamma_gamma_fit_state (
    INPUT = segkpi.gamma_gamma_fit_state_in,
    OUTPUT = segkpi.gamma_gamma_fit_state_out,
    RECEIVE = segkpi.gamma_gamma_fit_state_recv,
    SEND = segkpi.gamma_gamma_fit_state_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE segkpi.gamma_gamma_fit_state IS
    'running state of segkpi.gamma_gamma_fit: distinct (x, zbar) rows with x > 0 and counts; text form gammagamma_rows/1 skipped=W x,zbar,w ...';
COMMENT ON FUNCTION segkpi.gamma_gamma_fit_state_in(cstring) IS 'text input of segkpi.gamma_gamma_fit_state (validated)';
COMMENT ON FUNCTION segkpi.gamma_gamma_fit_state_out(segkpi.gamma_gamma_fit_state) IS 'text output of segkpi.gamma_gamma_fit_state';
COMMENT ON FUNCTION segkpi.gamma_gamma_fit_state_recv(internal) IS 'binary input of segkpi.gamma_gamma_fit_state (the text form)';
COMMENT ON FUNCTION segkpi.gamma_gamma_fit_state_send(segkpi.gamma_gamma_fit_state) IS 'binary output of segkpi.gamma_gamma_fit_state (the text form)';

CREATE FUNCTION segkpi.bgnbd_fit_sfunc(segkpi.bgnbd_fit_state, integer, float8, float8)
    RETURNS segkpi.bgnbd_fit_state
    AS 'MODULE_PATHNAME', 'segkpi_bgnbd_fit_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.bgnbd_fit_combine(segkpi.bgnbd_fit_state, segkpi.bgnbd_fit_state)
    RETURNS segkpi.bgnbd_fit_state
    AS 'MODULE_PATHNAME', 'segkpi_btyd_fit_combine'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.bgnbd_fit_final(segkpi.bgnbd_fit_state)
    RETURNS segkpi.bgnbd_model
    AS 'MODULE_PATHNAME', 'segkpi_bgnbd_fit_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.bgnbd_fit(x integer, t_x float8, "T" float8) (
    SFUNC = segkpi.bgnbd_fit_sfunc,
    STYPE = segkpi.bgnbd_fit_state,
    SSPACE = 4096,
    COMBINEFUNC = segkpi.bgnbd_fit_combine,
    FINALFUNC = segkpi.bgnbd_fit_final,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.bgnbd_fit_sfunc(segkpi.bgnbd_fit_state, integer, float8, float8) IS 'transition function of segkpi.bgnbd_fit';
COMMENT ON FUNCTION segkpi.bgnbd_fit_combine(segkpi.bgnbd_fit_state, segkpi.bgnbd_fit_state) IS 'combine function of segkpi.bgnbd_fit';
COMMENT ON FUNCTION segkpi.bgnbd_fit_final(segkpi.bgnbd_fit_state) IS 'final function of segkpi.bgnbd_fit: the maximum-likelihood fit';
COMMENT ON AGGREGATE segkpi.bgnbd_fit(integer, float8, float8) IS
    'maximum-likelihood BG/NBD model of customers (x, t_x, T); identical rows compressed; rows with a NULL skipped, rows (0, 0, 0) ignored; WARNING and converged = false when the fit does not converge';

CREATE FUNCTION segkpi.gamma_gamma_fit_sfunc(segkpi.gamma_gamma_fit_state, integer, float8)
    RETURNS segkpi.gamma_gamma_fit_state
    AS 'MODULE_PATHNAME', 'segkpi_gamma_gamma_fit_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.gamma_gamma_fit_combine(segkpi.gamma_gamma_fit_state, segkpi.gamma_gamma_fit_state)
    RETURNS segkpi.gamma_gamma_fit_state
    AS 'MODULE_PATHNAME', 'segkpi_btyd_fit_combine'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.gamma_gamma_fit_final(segkpi.gamma_gamma_fit_state)
    RETURNS segkpi.gamma_gamma_model
    AS 'MODULE_PATHNAME', 'segkpi_gamma_gamma_fit_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.gamma_gamma_fit(x integer, zbar float8) (
    SFUNC = segkpi.gamma_gamma_fit_sfunc,
    STYPE = segkpi.gamma_gamma_fit_state,
    SSPACE = 4096,
    COMBINEFUNC = segkpi.gamma_gamma_fit_combine,
    FINALFUNC = segkpi.gamma_gamma_fit_final,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.gamma_gamma_fit_sfunc(segkpi.gamma_gamma_fit_state, integer, float8) IS 'transition function of segkpi.gamma_gamma_fit';
COMMENT ON FUNCTION segkpi.gamma_gamma_fit_combine(segkpi.gamma_gamma_fit_state, segkpi.gamma_gamma_fit_state) IS 'combine function of segkpi.gamma_gamma_fit';
COMMENT ON FUNCTION segkpi.gamma_gamma_fit_final(segkpi.gamma_gamma_fit_state) IS 'final function of segkpi.gamma_gamma_fit: the maximum-likelihood fit';
COMMENT ON AGGREGATE segkpi.gamma_gamma_fit(integer, float8) IS
    'maximum-likelihood Gamma-Gamma spend model of customers (x, zbar); rows with x = 0 carry no spend and are ignored; rows with a NULL skipped; WARNING and converged = false when the fit does not converge';

------------------------------------------------------------------------
-- BG/NBD, Gamma-Gamma, CLV: predictions
------------------------------------------------------------------------

CREATE FUNCTION segkpi.bgnbd_p_alive(model segkpi.bgnbd_model, x integer, t_x float8, "T" float8)
    RETURNS float8
    AS 'MODULE_PATHNAME', 'segkpi_bgnbd_p_alive'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.bgnbd_expected(model segkpi.bgnbd_model, t float8, x integer, t_x float8, "T" float8)
    RETURNS float8
    AS 'MODULE_PATHNAME', 'segkpi_bgnbd_expected'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.bgnbd_expected_population(model segkpi.bgnbd_model, t float8)
    RETURNS float8
    AS 'MODULE_PATHNAME', 'segkpi_bgnbd_expected_population'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.gamma_gamma_mean(model segkpi.gamma_gamma_model, x integer, zbar float8)
    RETURNS float8
    AS 'MODULE_PATHNAME', 'segkpi_gamma_gamma_mean'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.clv(bgnbd segkpi.bgnbd_model, gamma_gamma segkpi.gamma_gamma_model,
                           x integer, t_x float8, "T" float8, zbar float8,
                           horizon float8, discount_rate float8, step float8 DEFAULT 1)
    RETURNS float8
    AS 'MODULE_PATHNAME', 'segkpi_clv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION segkpi.bgnbd_p_alive(segkpi.bgnbd_model, integer, float8, float8) IS
    'probability that a customer with history (x, t_x, T) is still active at T; 1 when x = 0';
COMMENT ON FUNCTION segkpi.bgnbd_expected(segkpi.bgnbd_model, float8, integer, float8, float8) IS
    'expected purchases in the next t time units of a customer with history (x, t_x, T)';
COMMENT ON FUNCTION segkpi.bgnbd_expected_population(segkpi.bgnbd_model, float8) IS
    'expected purchases in the first t time units of a customer just acquired, E[X(t)]';
COMMENT ON FUNCTION segkpi.gamma_gamma_mean(segkpi.gamma_gamma_model, integer, float8) IS
    'expected value of one purchase of a customer with x repeat purchases of mean value zbar: (gamma + x zbar) p / (p x + q - 1)';
COMMENT ON FUNCTION segkpi.clv(segkpi.bgnbd_model, segkpi.gamma_gamma_model, integer, float8, float8, float8, float8, float8, float8) IS
    'discounted expected value of a customer''s purchases over the next horizon time units: per step, expected purchases times gamma_gamma_mean, divided by (1 + discount_rate) ^ (end of step / step)';

------------------------------------------------------------------------
-- KPI pipeline: predicted CLV
------------------------------------------------------------------------

-- During refresh: BG/NBD summaries of every customer in weeks, with the
-- calibration period ending just before as_of; both fits; then P(alive)
-- and the discounted CLV over settings.clv_horizon_days into the temporary
-- table segkpi_pred.  A fit that fails (too little repeat data) leaves the
-- predictions NULL with a WARNING; a fit that does not converge warns and
-- is used.
CREATE FUNCTION segkpi.predict_clv(bo segkpi.bindings, as_of timestamptz, cfg segkpi.settings)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bg segkpi.bgnbd_model;
    gg segkpi.gamma_gamma_model;
    horizon float8 := cfg.clv_horizon_days / 7.0;
    weekly_rate float8 := power(1 + cfg.clv_discount_rate::float8, 1.0 / 52) - 1;
BEGIN
    EXECUTE format($q$
        CREATE TEMP TABLE segkpi_btyd ON COMMIT DROP AS
        SELECT o.%1$I AS customer_id,
               segkpi.btyd_stats(o.%2$I::timestamptz, o.%3$I::numeric, %4$L::timestamptz - interval '1 microsecond',
                                 interval '1 week') AS s
          FROM %5$s o
         WHERE o.%2$I::timestamptz < %4$L AND o.%1$I IS NOT NULL AND o.%3$I IS NOT NULL
         GROUP BY 1$q$,
        bo.columns ->> 'customer', bo.columns ->> 'ordered_at', bo.columns ->> 'amount', as_of, bo.relation);
    CREATE TEMP TABLE segkpi_pred ON COMMIT DROP AS
    SELECT b.customer_id, NULL::float8 AS p_alive, NULL::float8 AS clv FROM segkpi_btyd b WHERE false;
    BEGIN
        SELECT segkpi.bgnbd_fit((s).x, (s).t_x, (s).t) INTO bg FROM segkpi_btyd WHERE s IS NOT NULL;
        SELECT segkpi.gamma_gamma_fit((s).x, (s).zbar) INTO gg FROM segkpi_btyd WHERE (s).x > 0;
    EXCEPTION WHEN data_exception OR invalid_parameter_value OR program_limit_exceeded THEN
        RAISE WARNING 'segkpi.refresh: no predicted CLV: %', SQLERRM
            USING HINT = 'It needs repeat purchases (and work_mem for the fit state).';
        RETURN;
    END;
    IF bg IS NULL OR gg IS NULL THEN
        RETURN;
    END IF;
    -- E[spend] = (gamma + x zbar) p / (p x + q - 1) exists only when
    -- p x + q > 1; where it does not (q <= 1 and few repeats) CLV is NULL
    INSERT INTO segkpi_pred
    SELECT b.customer_id, segkpi.bgnbd_p_alive(bg, (s).x, (s).t_x, (s).t),
           CASE WHEN gp.p * (s).x + gp.q > 1
                THEN segkpi.clv(bg, gg, (s).x, (s).t_x, (s).t, (s).zbar, horizon, weekly_rate) END
      FROM segkpi_btyd b, segkpi.gamma_gamma_params(gg) gp
     WHERE s IS NOT NULL;
END
$$;
COMMENT ON FUNCTION segkpi.predict_clv(segkpi.bindings, timestamptz, segkpi.settings) IS
    'predicted CLV and P(alive) of every customer during segkpi.refresh (settings.predict_clv)';

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
    segkpi.assign_kmeans(bigint, segkpi.segmentations, segkpi.bindings, timestamptz),
    segkpi.predict_clv(segkpi.bindings, timestamptz, segkpi.settings),
    segkpi.bind_orders(regclass, name, name, name, name, name),
    segkpi.bind_customers(regclass, name, name, name, name[]),
    segkpi.bind_marketing_spend(regclass, name, name, name, name),
    segkpi.bind_leads(regclass, name, name, name, name, name[]),
    segkpi.bind_feedback(regclass, name, name, name)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    segkpi.binding_column_type(regclass, name, text, text[]),
    segkpi.checked_binding(text),
    segkpi.rule_predicate(jsonb, text, name[]),
    segkpi.rule_case(text, text, name[]),
    segkpi.drop_temp_tables(),
    segkpi.compute_kpis(bigint, text, boolean, text, interval, timestamptz, boolean, boolean),
    segkpi.ensure_customer_tables(regtype),
    segkpi.assign_kmeans(bigint, segkpi.segmentations, segkpi.bindings, timestamptz),
    segkpi.predict_clv(segkpi.bindings, timestamptz, segkpi.settings),
    segkpi.bind_orders(regclass, name, name, name, name, name),
    segkpi.bind_customers(regclass, name, name, name, name[]),
    segkpi.bind_marketing_spend(regclass, name, name, name, name),
    segkpi.bind_leads(regclass, name, name, name, name, name[]),
    segkpi.bind_feedback(regclass, name, name, name)
    TO @extowner@;
