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
COMMENT ON COLUMN segkpi.rfm_rules.ruleset IS 'name of the rule set; "default" (11 segments) and "compact" (4) are maintained by the extension and read-only';
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

-- The compact ruleset: four segments for a business that wants three to
-- five, also on R and F and covering every cell once.  Best: recent and
-- frequent; Growing: recent, not yet frequent; Slipping: neither recent
-- nor gone (R 2-3), whatever they bought before; Gone: least recent.
INSERT INTO segkpi.rfm_rules (ruleset, rule_order, segment, r_min, r_max, f_min, f_max) VALUES
    ('compact', 10, 'Best',     4, 5, 4, 5),
    ('compact', 20, 'Growing',  4, 5, 1, 3),
    ('compact', 30, 'Slipping', 2, 3, 1, 5),
    ('compact', 40, 'Gone',     1, 1, 1, 5);

-- Rows of the extension's rulesets come back from this script on restore;
-- only the user's own rulesets are dumped.
SELECT pg_catalog.pg_extension_config_dump('segkpi.rfm_rules',
                                           'WHERE ruleset NOT IN (''default'', ''compact'')');

CREATE FUNCTION segkpi.rfm_rules_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       OR (TG_OP IN ('UPDATE', 'DELETE') AND OLD.ruleset IN ('default', 'compact'))
       OR (TG_OP IN ('INSERT', 'UPDATE') AND NEW.ruleset IN ('default', 'compact')) THEN
        RAISE EXCEPTION 'the "%" RFM ruleset is maintained by segkpi and cannot be changed',
                        CASE WHEN TG_OP IN ('UPDATE', 'DELETE') AND OLD.ruleset IN ('default', 'compact')
                             THEN OLD.ruleset ELSE coalesce(NEW.ruleset, 'default') END
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Copy it with segkpi.rfm_ruleset_copy(''default'', ''mine''), edit the copy, and pass ruleset => ''mine''.';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION segkpi.rfm_rules_guard() IS 'keeps the extension''s RFM rulesets ("default", "compact") unchanged (they are not dumped)';

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

CREATE FUNCTION segkpi.rfm_scores(key_type anyelement, orders regclass, customer name,
                                  ordered_at name, amount name, as_of timestamptz,
                                  bins integer DEFAULT 5, ruleset text DEFAULT 'default')
    RETURNS TABLE (customer anyelement, first_order_at timestamptz, last_order_at timestamptz,
                   orders bigint, refunds bigint, monetary numeric, recency_days float8,
                   r integer, f integer, m integer, segment text)
    AS 'MODULE_PATHNAME', 'segkpi_rfm_scores'
    LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION segkpi.rfm_scores(anyelement, regclass, name, name, name, timestamptz, integer, text) IS
    'RFM scores of every customer of an orders relation over its rows with ordered_at <= as_of, read in one pass and grouped in memory; the same rows as rfm_score(rfm_agg(ordered_at, amount), as_of, bins, ruleset) OVER () grouped by customer; key_type is NULL::<type of the customer column>';

------------------------------------------------------------------------
-- RFM: cut points and scoring against them
------------------------------------------------------------------------

CREATE TYPE segkpi.rfm_cuts AS (
    as_of     timestamptz,
    bins      integer,
    customers bigint,
    r         timestamptz[],
    f         bigint[],
    m         numeric[]
);

COMMENT ON TYPE segkpi.rfm_cuts IS 'cut points of a population''s R, F and M values, from segkpi.rfm_cuts; segkpi.rfm_apply scores against them';
COMMENT ON COLUMN segkpi.rfm_cuts.as_of IS 'the as_of the scores are computed at';
COMMENT ON COLUMN segkpi.rfm_cuts.bins IS 'scores lie in 1..bins';
COMMENT ON COLUMN segkpi.rfm_cuts.customers IS 'customers n of the population (rows with non-NULL stats)';
COMMENT ON COLUMN segkpi.rfm_cuts.r IS 'bins - 1 ascending last_order_at cut points (-infinity: a customer without orders); R = 1 + the number strictly below the customer''s last order';
COMMENT ON COLUMN segkpi.rfm_cuts.f IS 'bins - 1 ascending orders cut points; F = 1 + the number strictly below the customer''s orders';
COMMENT ON COLUMN segkpi.rfm_cuts.m IS 'bins - 1 ascending monetary cut points; M = 1 + the number strictly below the customer''s monetary';

CREATE FUNCTION segkpi.rfm_cuts_sfunc(internal, segkpi.rfm_stats, timestamptz)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_rfm_cuts_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.rfm_cuts_sfunc(internal, segkpi.rfm_stats, timestamptz, integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_rfm_cuts_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.rfm_cuts_final(internal)
    RETURNS segkpi.rfm_cuts
    AS 'MODULE_PATHNAME', 'segkpi_rfm_cuts_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION segkpi.rfm_cuts_sfunc(internal, segkpi.rfm_stats, timestamptz) IS
    'transition function of segkpi.rfm_cuts(stats, as_of)';
COMMENT ON FUNCTION segkpi.rfm_cuts_sfunc(internal, segkpi.rfm_stats, timestamptz, integer) IS
    'transition function of segkpi.rfm_cuts(stats, as_of, bins)';
COMMENT ON FUNCTION segkpi.rfm_cuts_final(internal) IS
    'final function of segkpi.rfm_cuts: sorts the values and picks the cut points';

CREATE AGGREGATE segkpi.rfm_cuts(stats segkpi.rfm_stats, as_of timestamptz) (
    SFUNC = segkpi.rfm_cuts_sfunc,
    STYPE = internal,
    FINALFUNC = segkpi.rfm_cuts_final
);

CREATE AGGREGATE segkpi.rfm_cuts(stats segkpi.rfm_stats, as_of timestamptz, bins integer) (
    SFUNC = segkpi.rfm_cuts_sfunc,
    STYPE = internal,
    FINALFUNC = segkpi.rfm_cuts_final
);

COMMENT ON AGGREGATE segkpi.rfm_cuts(segkpi.rfm_stats, timestamptz) IS
    'cut points of the customers'' R, F, M values for 5 bins (NULL stats skipped; NULL when none)';
COMMENT ON AGGREGATE segkpi.rfm_cuts(segkpi.rfm_stats, timestamptz, integer) IS
    'cut points of the customers'' R, F, M values for 1..100 bins (NULL stats skipped; NULL when none)';

CREATE FUNCTION segkpi.rfm_apply(stats segkpi.rfm_stats, cuts segkpi.rfm_cuts,
                                 ruleset text DEFAULT 'default')
    RETURNS segkpi.rfm_result
    AS 'MODULE_PATHNAME', 'segkpi_rfm_apply'
    LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION segkpi.rfm_apply(segkpi.rfm_stats, segkpi.rfm_cuts, text) IS
    'RFM scores of one customer against cut points from segkpi.rfm_cuts: rfm_score''s scores for a customer of that population, min(bins, 1 + floor(bins * less / n)) for any other';
