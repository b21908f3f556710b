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

