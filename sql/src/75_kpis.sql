------------------------------------------------------------------------
-- KPI pipeline: KPIs per segment and period
------------------------------------------------------------------------

CREATE FUNCTION segkpi.compute_kpis(sid bigint, segmentation text, with_leads boolean, grain text,
                                    step interval, as_of timestamptz, with_feedback boolean,
                                    with_spend boolean)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    -- one plan of some 40 nodes over small inputs: compiling it costs
    -- seconds and saves nothing
    SET jit = off
AS $$
DECLARE
    ppy integer := CASE grain WHEN 'month' THEN 12 ELSE 4 END;
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
        SELECT s.segment, c.acq_period, c.channel, c.n, c.r
          FROM segkpi_cohorts c
         CROSS JOIN LATERAL (VALUES (c.segment), ('(all)')) s(segment)
         WHERE c.segmentation = compute_kpis.segmentation
    ),
    segs AS (SELECT segment FROM cohorts UNION SELECT '(all)'),
    act AS (
        SELECT c.segment, p.period, sum(p.active)::bigint AS active, sum(p.retained)::bigint AS retained,
               sum(p.orders)::bigint AS orders, sum(p.revenue) AS revenue, sum(p.cost) AS cost
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
    margin_to_date AS (
        SELECT s.segment, p.period_start,
               coalesce(sum(act.revenue - act.cost), 0) AS margin
          FROM segs s CROSS JOIN periods p
          LEFT JOIN act ON act.segment = s.segment AND act.period <= p.period_start
         GROUP BY 1, 2
    ),
    acq AS (SELECT segment, acq_period, channel, n FROM cohorts),
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
    -- leads were counted per segment and period, "(all)" included, as they were read
    leads AS (
        SELECT l.segment, l.period, l.n, l.converted FROM segkpi_leads l
         WHERE l.segmentation = compute_kpis.segmentation
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
