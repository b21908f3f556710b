------------------------------------------------------------------------
-- Activities: one customer's orders by period (type and aggregate)
------------------------------------------------------------------------

CREATE TYPE segkpi.activity;

CREATE FUNCTION segkpi.activity_in(cstring) RETURNS segkpi.activity
    AS 'MODULE_PATHNAME', 'segkpi_activity_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.activity_out(segkpi.activity) RETURNS cstring
    AS 'MODULE_PATHNAME', 'segkpi_activity_out'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.activity_recv(internal) RETURNS segkpi.activity
    AS 'MODULE_PATHNAME', 'segkpi_activity_recv'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.activity_send(segkpi.activity) RETURNS bytea
    AS 'MODULE_PATHNAME', 'segkpi_activity_send'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE segkpi.activity (
    INPUT = segkpi.activity_in,
    OUTPUT = segkpi.activity_out,
    RECEIVE = segkpi.activity_recv,
    SEND = segkpi.activity_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE segkpi.activity IS
    'one customer''s orders by period, from segkpi.activity_agg; text form 1:<scale>:<orders>:<refunds>:<first row>:<first order>:<last order> then ;<period>,<orders>,<revenue>,<cost> per period';
COMMENT ON FUNCTION segkpi.activity_in(cstring) IS 'text input of segkpi.activity (validated)';
COMMENT ON FUNCTION segkpi.activity_out(segkpi.activity) IS 'text output of segkpi.activity';
COMMENT ON FUNCTION segkpi.activity_recv(internal) IS 'binary input of segkpi.activity (the text form)';
COMMENT ON FUNCTION segkpi.activity_send(segkpi.activity) IS 'binary output of segkpi.activity (the text form)';

CREATE FUNCTION segkpi.activity_agg_sfunc(segkpi.activity, date, timestamptz, numeric, numeric)
    RETURNS segkpi.activity
    AS 'MODULE_PATHNAME', 'segkpi_activity_agg_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.activity_agg_combine(segkpi.activity, segkpi.activity)
    RETURNS segkpi.activity
    AS 'MODULE_PATHNAME', 'segkpi_activity_agg_combine'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.activity_agg_final(segkpi.activity)
    RETURNS segkpi.activity
    AS 'MODULE_PATHNAME', 'segkpi_activity_agg_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.activity_agg(period date, ordered_at timestamptz, amount numeric, cost numeric) (
    SFUNC = segkpi.activity_agg_sfunc,
    STYPE = segkpi.activity,
    SSPACE = 300,
    COMBINEFUNC = segkpi.activity_agg_combine,
    FINALFUNC = segkpi.activity_agg_final,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.activity_agg_sfunc(segkpi.activity, date, timestamptz, numeric, numeric) IS 'transition function of segkpi.activity_agg';
COMMENT ON FUNCTION segkpi.activity_agg_combine(segkpi.activity, segkpi.activity) IS 'combine function of segkpi.activity_agg';
COMMENT ON FUNCTION segkpi.activity_agg_final(segkpi.activity) IS 'final function of segkpi.activity_agg';
COMMENT ON AGGREGATE segkpi.activity_agg(date, timestamptz, numeric, numeric) IS
    'one customer''s orders by period (period = first day of the row''s month or quarter, given by the caller): orders (amount > 0), exact revenue and cost per period; rows with a NULL period, ordered_at or amount are skipped, a NULL cost counts as 0';

CREATE TYPE segkpi.activity_summary AS (
    first_row_at   timestamptz,
    first_order_at timestamptz,
    last_order_at  timestamptz,
    orders         bigint,
    refunds        bigint,
    revenue        numeric,
    cost           numeric,
    periods        integer
);
COMMENT ON TYPE segkpi.activity_summary IS 'totals of one activity, from segkpi.activity_summary()';
COMMENT ON COLUMN segkpi.activity_summary.first_row_at IS 'earliest row, order or refund';
COMMENT ON COLUMN segkpi.activity_summary.first_order_at IS 'first order (amount > 0); NULL when there is none';
COMMENT ON COLUMN segkpi.activity_summary.last_order_at IS 'last order (amount > 0); NULL when there is none';
COMMENT ON COLUMN segkpi.activity_summary.orders IS 'rows with amount > 0';
COMMENT ON COLUMN segkpi.activity_summary.refunds IS 'rows with amount <= 0';
COMMENT ON COLUMN segkpi.activity_summary.revenue IS 'exact sum of every amount';
COMMENT ON COLUMN segkpi.activity_summary.cost IS 'exact sum of every cost';
COMMENT ON COLUMN segkpi.activity_summary.periods IS 'periods with at least one row';

CREATE FUNCTION segkpi.activity_summary(activity segkpi.activity)
    RETURNS segkpi.activity_summary
    AS 'MODULE_PATHNAME', 'segkpi_activity_summary'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segkpi.activity_summary(segkpi.activity) IS 'totals of an activity over all its periods';

------------------------------------------------------------------------
-- Activities: roll-up of many customers per period (aggregate)
------------------------------------------------------------------------

CREATE TYPE segkpi.activity_period AS (
    period    date,
    active    bigint,
    retained  bigint,
    orders    bigint,
    revenue   numeric,
    cost      numeric
);
COMMENT ON TYPE segkpi.activity_period IS 'one period of segkpi.activity_rollup';
COMMENT ON COLUMN segkpi.activity_period.period IS 'first day of the period';
COMMENT ON COLUMN segkpi.activity_period.active IS 'customers with at least one order (amount > 0) in the period';
COMMENT ON COLUMN segkpi.activity_period.retained IS 'of those, customers with an order in the period step_months before too';
COMMENT ON COLUMN segkpi.activity_period.orders IS 'orders in the period';
COMMENT ON COLUMN segkpi.activity_period.revenue IS 'exact sum of amounts in the period, refunds included';
COMMENT ON COLUMN segkpi.activity_period.cost IS 'exact sum of costs in the period';

CREATE FUNCTION segkpi.activity_rollup_sfunc(internal, segkpi.activity, integer)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_activity_rollup_sfunc'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.activity_rollup_combine(internal, internal)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_activity_rollup_combine'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segkpi.activity_rollup_serialize(internal)
    RETURNS bytea
    AS 'MODULE_PATHNAME', 'segkpi_activity_rollup_serialize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.activity_rollup_deserialize(bytea, internal)
    RETURNS internal
    AS 'MODULE_PATHNAME', 'segkpi_activity_rollup_deserialize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segkpi.activity_rollup_final(internal)
    RETURNS segkpi.activity_period[]
    AS 'MODULE_PATHNAME', 'segkpi_activity_rollup_final'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE segkpi.activity_rollup(activity segkpi.activity, step_months integer) (
    SFUNC = segkpi.activity_rollup_sfunc,
    STYPE = internal,
    SSPACE = 2400,
    COMBINEFUNC = segkpi.activity_rollup_combine,
    SERIALFUNC = segkpi.activity_rollup_serialize,
    DESERIALFUNC = segkpi.activity_rollup_deserialize,
    FINALFUNC = segkpi.activity_rollup_final,
    PARALLEL = SAFE
);

COMMENT ON FUNCTION segkpi.activity_rollup_sfunc(internal, segkpi.activity, integer) IS 'transition function of segkpi.activity_rollup';
COMMENT ON FUNCTION segkpi.activity_rollup_combine(internal, internal) IS 'combine function of segkpi.activity_rollup';
COMMENT ON FUNCTION segkpi.activity_rollup_serialize(internal) IS 'serialization function of segkpi.activity_rollup';
COMMENT ON FUNCTION segkpi.activity_rollup_deserialize(bytea, internal) IS 'deserialization function of segkpi.activity_rollup';
COMMENT ON FUNCTION segkpi.activity_rollup_final(internal) IS 'final function of segkpi.activity_rollup';
COMMENT ON AGGREGATE segkpi.activity_rollup(segkpi.activity, integer) IS
    'per period over many customers'' activities: active and retained customers, orders, exact revenue and cost; step_months (1 month, 3 quarter) says which period comes before which; NULL activities are skipped';

------------------------------------------------------------------------
-- Activities of every customer of an orders relation, in one pass
------------------------------------------------------------------------

CREATE FUNCTION segkpi.activities(key_type anyelement, orders regclass, customer name,
                                  ordered_at name, amount name, cost name DEFAULT NULL,
                                  grain text DEFAULT 'month', before timestamptz DEFAULT NULL)
    RETURNS TABLE (customer anyelement, activity segkpi.activity)
    AS 'MODULE_PATHNAME', 'segkpi_activities'
    LANGUAGE C STABLE PARALLEL RESTRICTED;

COMMENT ON FUNCTION segkpi.activities(anyelement, regclass, name, name, name, name, text, timestamptz) IS
    'one activity per customer of an orders relation (rows with ordered_at < before, all rows when before is NULL), read in one pass and grouped in memory; the same rows as activity_agg(date_trunc(grain, ordered_at)::date, ordered_at, amount, cost) grouped by customer; key_type is NULL::<type of the customer column>';
