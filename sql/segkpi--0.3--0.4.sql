/*
 * segkpi 0.3 -> 0.4 - upgrade script.
 *
 * 0.4 adds segkpi.rfm_scores, the RFM scores of every customer of an
 * orders relation from one pass over its rows held in memory: the same
 * result as rfm_score(rfm_agg(...)) OVER () grouped by customer, without
 * the executor's hash aggregate.
 */

\echo Use "ALTER EXTENSION segkpi UPDATE TO '0.4'" to load this file. \quit

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
