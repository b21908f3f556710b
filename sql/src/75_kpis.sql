------------------------------------------------------------------------
-- KPI pipeline: KPI formulas
------------------------------------------------------------------------

-- Each ratio KPI is written once, here, and read by compute_kpis (per
-- segment and period) and by the views that roll periods up (before_after:
-- the same formula over sums).  They are plain SQL with a parsed body
-- (RETURN ...) and no SET clause, so the planner inlines them into the
-- calling query: no function call per row, and a body parsed at CREATE
-- time cannot be redirected by a caller's search_path.  Executable by
-- everyone: a dashboard that rolls segments or periods up can use the
-- very formulas of the views, and the views call them as their reader.
-- A zero denominator gives NULL (the README's rule), never an error or
-- infinity; a NULL input gives NULL.  No ratio shows a sign its economics
-- contradict: each states its domain below and is NULL outside it (a
-- loss-making segment never shows a positive ROI).

CREATE FUNCTION segkpi.kpi_ratio(num numeric, den numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN num / nullif(den, 0);
COMMENT ON FUNCTION segkpi.kpi_ratio(numeric, numeric) IS
    'num / den, NULL when den is 0 (every ratio KPI divides through this)';

CREATE FUNCTION segkpi.kpi_share(customers numeric, all_customers numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN segkpi.kpi_ratio(customers, all_customers);
COMMENT ON FUNCTION segkpi.kpi_share(numeric, numeric) IS 'share: customers of a segment / customers of all segments';

CREATE FUNCTION segkpi.kpi_aov(revenue numeric, orders numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN revenue > 0 THEN segkpi.kpi_ratio(revenue, orders) END;
COMMENT ON FUNCTION segkpi.kpi_aov(numeric, numeric) IS
    'average order value: revenue / orders; NULL unless revenue > 0 (refunds outweighing orders leave no order value)';

CREATE FUNCTION segkpi.kpi_purchase_frequency(orders numeric, active_customers numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN segkpi.kpi_ratio(orders, active_customers);
COMMENT ON FUNCTION segkpi.kpi_purchase_frequency(numeric, numeric) IS
    'purchase frequency: orders / customers active in the period';

CREATE FUNCTION segkpi.kpi_retention_rate(retained numeric, previously_active numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN segkpi.kpi_ratio(retained, previously_active);
COMMENT ON FUNCTION segkpi.kpi_retention_rate(numeric, numeric) IS
    'retention rate: customers active in the previous period and this one / customers active in the previous period';

CREATE FUNCTION segkpi.kpi_churn_rate(retained numeric, previously_active numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 1 - segkpi.kpi_retention_rate(retained, previously_active);
COMMENT ON FUNCTION segkpi.kpi_churn_rate(numeric, numeric) IS 'churn rate: 1 - retention rate';

CREATE FUNCTION segkpi.kpi_cac(spend numeric, new_customers numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN spend >= 0 THEN segkpi.kpi_ratio(spend, new_customers) END;
COMMENT ON FUNCTION segkpi.kpi_cac(numeric, numeric) IS
    'customer acquisition cost: attributed spend / new customers; NULL when spend < 0 or nobody was acquired';

CREATE FUNCTION segkpi.kpi_conversion_rate(converted numeric, leads numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN segkpi.kpi_ratio(converted, leads);
COMMENT ON FUNCTION segkpi.kpi_conversion_rate(numeric, numeric) IS
    'conversion rate: leads created in the period and converted before as_of / leads created in the period';

CREATE FUNCTION segkpi.kpi_cltv_historical(margin numeric, customers numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN segkpi.kpi_ratio(margin, customers);
COMMENT ON FUNCTION segkpi.kpi_cltv_historical(numeric, numeric) IS
    'historical CLTV: gross margin to date / customers acquired to date';

-- The operations stay in the order they always had: numeric division
-- chooses its scale from its operands, so another order could change the
-- digits of a stored value.
CREATE FUNCTION segkpi.kpi_cltv_formula(aov numeric, purchase_frequency numeric, retention_rate numeric,
                                        revenue numeric, cost numeric, periods_per_year integer)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN revenue > 0 THEN
           aov * purchase_frequency * periods_per_year / nullif(1 - power(retention_rate, periods_per_year), 0)
           * (revenue - cost) / nullif(revenue, 0) END;
COMMENT ON FUNCTION segkpi.kpi_cltv_formula(numeric, numeric, numeric, numeric, numeric, integer) IS
    'formula CLTV: AOV x yearly purchase frequency x expected lifespan in years (1 / yearly churn) x margin ratio (revenue - cost) / revenue; NULL unless revenue > 0 (a margin ratio of a negative revenue has the wrong sign), and when churn is 0';

CREATE FUNCTION segkpi.kpi_roi(revenue numeric, cost numeric, spend numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN cost + spend > 0 THEN segkpi.kpi_ratio(revenue - cost - spend, cost + spend) END;
COMMENT ON FUNCTION segkpi.kpi_roi(numeric, numeric, numeric) IS
    'ROI: (revenue - cost - attributed spend) / (cost + attributed spend); NULL unless cost + spend > 0 (a negative outlay would flip the sign)';

CREATE FUNCTION segkpi.kpi_marketing_roi(revenue numeric, cost numeric, spend numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN spend > 0 THEN segkpi.kpi_ratio(revenue - cost - spend, spend) END;
COMMENT ON FUNCTION segkpi.kpi_marketing_roi(numeric, numeric, numeric) IS
    'marketing ROI: (revenue - cost - attributed spend) / attributed spend; NULL unless spend > 0';

CREATE FUNCTION segkpi.kpi_csat(score_sum numeric, answers numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN segkpi.kpi_ratio(score_sum, answers);
COMMENT ON FUNCTION segkpi.kpi_csat(numeric, numeric) IS 'CSAT: sum of feedback scores / answers';

CREATE FUNCTION segkpi.kpi_engagement_rate(engaged numeric, customers numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN segkpi.kpi_ratio(engaged, customers);
COMMENT ON FUNCTION segkpi.kpi_engagement_rate(numeric, numeric) IS
    'engagement rate: members with an engagement event in the period / members';

CREATE FUNCTION segkpi.kpi_events_per_engaged(events numeric, engaged numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN segkpi.kpi_ratio(events, engaged);
COMMENT ON FUNCTION segkpi.kpi_events_per_engaged(numeric, numeric) IS
    'events per engaged customer: engagement events / members with one';

CREATE FUNCTION segkpi.kpi_segmentation_roi(gain numeric, cost numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN cost > 0 THEN segkpi.kpi_ratio(gain - cost, cost) END;
COMMENT ON FUNCTION segkpi.kpi_segmentation_roi(numeric, numeric) IS
    'ROI of segmentation: (gain from segmentation - cost of segmentation) / cost; NULL unless cost > 0';

------------------------------------------------------------------------
-- KPI pipeline: KPIs per segment and period
------------------------------------------------------------------------

CREATE FUNCTION segkpi.compute_kpis(sid bigint, segmentation text, with_leads boolean, grain text,
                                    step interval, as_of timestamptz, with_feedback boolean,
                                    with_spend boolean, defined text[], with_engagement boolean)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    -- one plan of some 40 nodes over small inputs: compiling it costs
    -- seconds and saves nothing
    SET jit = off
AS $$
DECLARE
    ppy integer := CASE grain WHEN 'month' THEN 12 ELSE 4 END;
    -- the members of the comparison group are counted apart as well
    with_comparison boolean := (SELECT s.comparison IS NOT NULL FROM segkpi.snapshots s WHERE s.snapshot_id = sid);
BEGIN
    -- with_feedback stays in the signature of 0.1; segkpi_fbs is simply
    -- empty when feedback is not bound, which makes csat NULL.  refresh
    -- prepared every input of this statement for all segmentations at once.
    INSERT INTO segkpi.segment_kpis
    -- refresh grouped the customers of every segmentation by segment,
    -- acquisition period and channel, each group with its activity
    -- roll-up.  "(all)" is the same groups once more: every customer is
    -- in exactly one of them, and everything below sums over groups.
    WITH cohorts AS MATERIALIZED (
        SELECT s.segment, c.acq_period, c.channel, c.held_out, c.n, c.r
          FROM segkpi_cohorts c
         CROSS JOIN LATERAL (VALUES (c.segment), ('(all)')) s(segment)
         WHERE c.segmentation = compute_kpis.segmentation
    ),
    -- every segment the method defines has its rows, members or not (a
    -- rule segment nobody matches still has its leads and tagged spend)
    segs AS (SELECT segment FROM cohorts UNION SELECT unnest(defined) UNION SELECT '(all)'),
    act AS (
        SELECT c.segment, p.period, sum(p.active)::bigint AS active, sum(p.retained)::bigint AS retained,
               sum(p.orders)::bigint AS orders, sum(p.revenue) AS revenue, sum(p.cost) AS cost,
               coalesce(sum(p.active) FILTER (WHERE c.held_out), 0)::bigint AS c_active,
               coalesce(sum(p.orders) FILTER (WHERE c.held_out), 0)::bigint AS c_orders,
               coalesce(sum(p.revenue) FILTER (WHERE c.held_out), 0) AS c_revenue,
               coalesce(sum(p.cost) FILTER (WHERE c.held_out), 0) AS c_cost
          FROM cohorts c, unnest(c.r) p
         GROUP BY 1, 2
    ),
    -- from the period of the earliest row: every period of an activity
    -- has a row and a cell in its cohort's roll-up, so that is the
    -- earliest cell (reading segkpi_feat for min(first_row_at) cost a
    -- pass over the customers per segmentation)
    periods AS (
        SELECT p::date AS period_start, (p + step)::date AS period_end
          FROM generate_series((SELECT min(period) FROM act)::timestamp,
                               date_trunc(grain, as_of - interval '1 microsecond')::date::timestamp, step) p
    ),
    -- historical CLTV divides by the customers acquired by the period's
    -- end, so its margin is theirs too: a customer acquired later (a bound
    -- acquired_at after earlier orders) counts, orders and all, from the
    -- period of its acquisition on
    margin_by_cohort AS (
        SELECT c.segment, c.acq_period, p.period, sum(p.revenue - p.cost) AS margin
          FROM cohorts c, unnest(c.r) p
         GROUP BY 1, 2, 3
    ),
    margin_to_date AS (
        SELECT s.segment, p.period_start, coalesce(sum(m.margin), 0) AS margin
          FROM segs s CROSS JOIN periods p
          LEFT JOIN margin_by_cohort m ON m.segment = s.segment AND m.period <= p.period_start
                                      AND m.acq_period <= p.period_start
         GROUP BY 1, 2
    ),
    acq AS (SELECT segment, acq_period, channel, held_out, n FROM cohorts),
    existing AS (
        SELECT s.segment, p.period_start, coalesce(sum(acq.n), 0) AS customers,
               coalesce(sum(acq.n) FILTER (WHERE acq.held_out), 0) AS c_customers
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
    -- leads were counted per segment and period, "(all)" included, as they were read
    leads AS (
        SELECT l.segment, l.period, l.n, l.converted FROM segkpi_leads l
         WHERE l.segmentation = compute_kpis.segmentation
    ),
    eng AS (
        SELECT e.segment, e.period, e.engaged, e.events FROM segkpi_engs e
         WHERE (e.segmentation = compute_kpis.segmentation OR e.segmentation IS NULL) AND e.kind IS NULL
    ),
    fb AS (
        SELECT f.segment, f.period, f.csat, f.n FROM segkpi_fbs f
         WHERE f.segmentation = compute_kpis.segmentation OR f.segmentation IS NULL
    ),
    pred AS (
        SELECT p.segment, p.clv, p.p_alive FROM segkpi_preds p
         WHERE p.segmentation = compute_kpis.segmentation OR p.segmentation IS NULL
    ),
    base AS (
        SELECT compute_kpis.segmentation AS segmentation, s.segment, p.period_start, p.period_end,
               e.customers, e.c_customers,
               coalesce(act.c_active, 0) AS c_active, coalesce(act.c_orders, 0) AS c_orders,
               coalesce(act.c_revenue, 0) AS c_revenue, coalesce(act.c_cost, 0) AS c_cost,
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
               coalesce(eng.engaged, 0) AS engaged, coalesce(eng.events, 0) AS eng_events,
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
          LEFT JOIN eng ON eng.segment = s.segment AND eng.period = p.period_start
          LEFT JOIN pred ON pred.segment = s.segment
    ),
    ratios AS (
        SELECT b.*,
               segkpi.kpi_aov(b.revenue, b.orders) AS aov,
               segkpi.kpi_purchase_frequency(b.orders, b.active) AS frequency,
               segkpi.kpi_retention_rate(b.retained, b.prev_active) AS retention
          FROM base b
    )
    SELECT sid, r.segmentation, r.segment, r.period_start, r.period_end,
           r.customers,
           segkpi.kpi_share(r.customers, max(r.customers) FILTER (WHERE r.segment = '(all)')
                                         OVER (PARTITION BY r.period_start)),
           r.active, r.new_customers, r.orders, r.revenue, r.cost, r.aov, r.frequency,
           r.retention, segkpi.kpi_churn_rate(r.retained, r.prev_active),
           CASE WHEN with_spend THEN r.spend END,
           CASE WHEN with_spend THEN segkpi.kpi_cac(r.spend, r.new_customers) END,
           CASE WHEN with_leads THEN coalesce(r.leads, 0) END,
           CASE WHEN with_leads THEN coalesce(r.converted, 0) END,
           CASE WHEN with_leads THEN segkpi.kpi_conversion_rate(r.converted, r.leads) END,
           segkpi.kpi_cltv_historical(r.margin, r.customers),
           segkpi.kpi_cltv_formula(r.aov, r.frequency, r.retention, r.revenue, r.cost, ppy),
           CASE WHEN with_spend THEN segkpi.kpi_roi(r.revenue, r.cost, r.spend) END,
           CASE WHEN with_spend THEN segkpi.kpi_marketing_roi(r.revenue, r.cost, r.spend) END,
           r.csat, r.answers,
           r.prev_active, r.retained,
           r.clv_pred, r.p_alive,
           CASE WHEN with_comparison THEN r.c_customers END, CASE WHEN with_comparison THEN r.c_active END,
           CASE WHEN with_comparison THEN r.c_orders END, CASE WHEN with_comparison THEN r.c_revenue END,
           CASE WHEN with_comparison THEN r.c_cost END,
           CASE WHEN with_engagement THEN r.engaged END, CASE WHEN with_engagement THEN r.eng_events END,
           CASE WHEN with_engagement THEN segkpi.kpi_engagement_rate(r.engaged, r.customers) END,
           CASE WHEN with_engagement THEN segkpi.kpi_events_per_engaged(r.eng_events, r.engaged) END
      FROM ratios r;
    -- engagement per kind, in the periods of the KPI rows
    INSERT INTO segkpi.segment_engagement
    SELECT sid, compute_kpis.segmentation, e.segment, e.period, e.kind, e.engaged, e.events
      FROM segkpi_engs e
     WHERE (e.segmentation = compute_kpis.segmentation OR e.segmentation IS NULL) AND e.kind IS NOT NULL
       AND EXISTS (SELECT FROM segkpi.segment_kpis k
                    WHERE k.snapshot_id = sid AND k.segmentation = compute_kpis.segmentation
                      AND k.segment = e.segment AND k.period_start = e.period);
END
$$;
COMMENT ON FUNCTION segkpi.compute_kpis(bigint, text, boolean, text, interval, timestamptz, boolean, boolean, text[], boolean) IS
    'KPIs of one segmentation and snapshot for every period (used by segkpi.refresh)';
