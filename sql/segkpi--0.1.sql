/*
 * segkpi 0.1 - install script.
 *
 * Every object is schema-qualified; the script runs with search_path set to
 * the extension schema by CREATE EXTENSION, but nothing relies on it.
 * Objects are created once (no CREATE OR REPLACE): a name clash is an error.
 */

\echo Use "CREATE EXTENSION segkpi" to load this file. \quit

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
