------------------------------------------------------------------------
-- KPI pipeline: views for dashboards (aggregates only; small segments hidden)
------------------------------------------------------------------------

-- Every KPI row of every snapshot as dashboards may see it: ratios
-- rounded, the snapshot's as_of, whether the period had ended by then, and
-- small cells hidden.  Internal: the public views below pick from it (all
-- snapshots together would let a reader difference one snapshot's members
-- against another's).  Every window is partitioned by snapshot, so a
-- view's condition on snapshot_id reaches the scan of segment_kpis.
--
-- Small-cell hiding, per snapshot, segmentation and period (one "(all)"
-- row and its segments): a segment is small when it has 1 to k - 1
-- customers or 1 to k - 1 active customers, k = settings.min_segment_size.
-- Hiding only the small ones would let "(all)" minus the visible segments
-- give them back, so while anything is hidden the hidden set also holds
-- at least two segments with at least k customers together (and no
-- active customers, or at least k), adding the smallest visible segments
-- until it does (complementary suppression).  When no such set exists,
-- every segment of the group is hidden; "(all)" is hidden when it is small
-- itself.  A hidden row keeps its keys and flags; its measures are NULL.
-- Whether a set of hidden cells is safe to leave hidden beside a total:
-- at least two cells, at least k customers together, and no active
-- customers among them or at least k (so no one customer's purchases can
-- be told from the rest).  The views below add the smallest shown cells
-- to the hidden ones until the set is safe.
CREATE FUNCTION segkpi.hidden_set_safe(cells bigint, customers numeric, active numeric, k integer)
    RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN cells >= 2 AND customers >= k AND (active = 0 OR active >= k);
COMMENT ON FUNCTION segkpi.hidden_set_safe(bigint, numeric, numeric, integer) IS
    'true when hidden cells are at least two, hold at least k customers together and no or at least k active ones';

CREATE VIEW segkpi.kpi_cells WITH (security_barrier = true) AS
WITH cells AS (
    SELECT k.*, s.as_of, s.timezone, st.min_segment_size AS min_size,
           (k.period_end::timestamp AT TIME ZONE s.timezone) <= s.as_of AS complete,
           (k.customers BETWEEN 1 AND st.min_segment_size - 1
            OR k.active_customers BETWEEN 1 AND st.min_segment_size - 1) AS small
      FROM segkpi.segment_kpis k
      JOIN segkpi.snapshots s ON s.snapshot_id = k.snapshot_id
     CROSS JOIN segkpi.settings st
),
running AS (
    SELECT c.*,
           count(*) FILTER (WHERE c.small AND c.segment <> '(all)') OVER grp AS n_small,
           coalesce(sum(c.customers) FILTER (WHERE c.small AND c.segment <> '(all)') OVER grp, 0) AS c_small,
           coalesce(sum(c.active_customers) FILTER (WHERE c.small AND c.segment <> '(all)') OVER grp, 0) AS a_small,
           CASE WHEN c.segment <> '(all)' AND NOT c.small AND c.customers > 0 THEN count(*) OVER vis END AS v_rank,
           sum(c.customers) OVER vis AS v_customers,
           sum(c.active_customers) OVER vis AS v_active
      FROM cells c
    WINDOW grp AS (PARTITION BY c.snapshot_id, c.segmentation, c.period_start),
           -- the shown segments with members, smallest first (an empty one
           -- hidden beside a small one would hide nothing)
           vis AS (PARTITION BY c.snapshot_id, c.segmentation, c.period_start,
                                c.segment <> '(all)' AND NOT c.small AND c.customers > 0
                   ORDER BY c.customers, c.active_customers, c.segment ROWS UNBOUNDED PRECEDING)
),
hiding AS (
    -- hide_upto: how many of the smallest visible segments join the hidden ones
    SELECT r.*,
           CASE WHEN r.n_small = 0 THEN 0
                WHEN segkpi.hidden_set_safe(r.n_small, r.c_small, r.a_small, r.min_size) THEN 0
                ELSE coalesce(min(r.v_rank) FILTER (
                         WHERE segkpi.hidden_set_safe(r.n_small + r.v_rank, r.c_small + r.v_customers,
                                                      r.a_small + r.v_active, r.min_size)) OVER grp,
                         2147483647)
           END AS hide_upto
      FROM running r
    WINDOW grp AS (PARTITION BY r.snapshot_id, r.segmentation, r.period_start)
),
flagged AS (
    SELECT h.*,
           CASE WHEN h.segment = '(all)' THEN h.small
                ELSE h.small OR coalesce(h.v_rank <= h.hide_upto, false) END AS hidden,
           h.period_start = max(h.period_start) FILTER (WHERE h.complete)
                            OVER (PARTITION BY h.snapshot_id) AS last_complete
      FROM hiding h
)
SELECT f.snapshot_id, f.segmentation, f.segment, f.period_start, f.period_end,
       v.customers, round(v.share, 4) AS share, v.active_customers, v.new_customers, v.orders,
       v.revenue, v.cost, round(v.aov, 2) AS aov, round(v.purchase_frequency, 4) AS purchase_frequency,
       round(v.retention_rate, 4) AS retention_rate, round(v.churn_rate, 4) AS churn_rate,
       round(v.attributed_spend, 2) AS attributed_spend, round(v.cac, 2) AS cac,
       v.leads, v.converted_leads, round(v.conversion_rate, 4) AS conversion_rate,
       round(v.cltv_historical, 2) AS cltv_historical, round(v.cltv_formula, 2) AS cltv_formula,
       round(v.roi, 4) AS roi, round(v.marketing_roi, 4) AS marketing_roi, round(v.csat, 2) AS csat,
       round(v.cltv_predicted, 2) AS cltv_predicted, round(v.p_alive, 4) AS p_alive,
       f.as_of, f.complete, f.hidden, v.previously_active, v.retained, v.feedback_answers,
       f.last_complete, coalesce(n.name, f.segment) AS segment_name,
       v.engaged_customers, v.engagement_events, round(v.engagement_rate, 4) AS engagement_rate,
       round(v.events_per_engaged, 2) AS events_per_engaged
  FROM flagged f
  LEFT JOIN LATERAL (SELECT f.* WHERE NOT f.hidden) v ON true
  LEFT JOIN segkpi.cluster_names n ON n.segmentation = f.segmentation AND 'Cluster ' || n.cluster = f.segment;

-- The latest snapshot (greatest as_of; ties: highest id): its members'
-- KPIs in every period, back to the first (a cohort view: today's members
-- in the past), the current period included and flagged incomplete.
CREATE VIEW segkpi.kpi_trends WITH (security_barrier = true) AS
SELECT c.snapshot_id, c.segmentation, c.segment, c.period_start, c.period_end,
       c.customers, c.share, c.active_customers, c.new_customers, c.orders,
       c.revenue, c.cost, c.aov, c.purchase_frequency, c.retention_rate, c.churn_rate,
       c.attributed_spend, c.cac, c.leads, c.converted_leads, c.conversion_rate,
       c.cltv_historical, c.cltv_formula, c.roi, c.marketing_roi, c.csat, c.cltv_predicted, c.p_alive,
       c.as_of, c.complete, c.hidden, c.previously_active, c.retained, c.feedback_answers,
       c.segment_name, c.engaged_customers, c.engagement_events, c.engagement_rate, c.events_per_engaged
  FROM segkpi.kpi_cells c
 WHERE c.snapshot_id = (SELECT s.snapshot_id FROM segkpi.snapshots s
                         ORDER BY s.as_of DESC, s.snapshot_id DESC LIMIT 1);

-- The latest snapshot's last complete period.
CREATE VIEW segkpi.kpi_latest WITH (security_barrier = true) AS
SELECT c.snapshot_id, c.segmentation, c.segment, c.period_start, c.period_end,
       c.customers, c.share, c.active_customers, c.new_customers, c.orders,
       c.revenue, c.cost, c.aov, c.purchase_frequency, c.retention_rate, c.churn_rate,
       c.attributed_spend, c.cac, c.leads, c.converted_leads, c.conversion_rate,
       c.cltv_historical, c.cltv_formula, c.roi, c.marketing_roi, c.csat, c.cltv_predicted, c.p_alive,
       c.as_of, c.complete, c.hidden, c.previously_active, c.retained, c.feedback_answers,
       c.segment_name, c.engaged_customers, c.engagement_events, c.engagement_rate, c.events_per_engaged
  FROM segkpi.kpi_cells c
 WHERE c.snapshot_id = (SELECT s.snapshot_id FROM segkpi.snapshots s
                         ORDER BY s.as_of DESC, s.snapshot_id DESC LIMIT 1)
   AND c.last_complete;

-- Point-in-time history, for trend charts: every period as the snapshot
-- that had just completed it saw it, with that snapshot's own members.  A
-- snapshot's last complete period is the latest one ending at or before
-- its as_of; when several snapshots share it (daily refreshes in monthly
-- grain), the one with the greatest as_of gives the period's rows.
CREATE VIEW segkpi.kpi_history WITH (security_barrier = true) AS
SELECT c.snapshot_id, c.segmentation, c.segment, c.period_start, c.period_end,
       c.customers, c.share, c.active_customers, c.new_customers, c.orders,
       c.revenue, c.cost, c.aov, c.purchase_frequency, c.retention_rate, c.churn_rate,
       c.attributed_spend, c.cac, c.leads, c.converted_leads, c.conversion_rate,
       c.cltv_historical, c.cltv_formula, c.roi, c.marketing_roi, c.csat, c.cltv_predicted, c.p_alive,
       c.as_of, c.complete, c.hidden, c.previously_active, c.retained, c.feedback_answers,
       c.segment_name, c.engaged_customers, c.engagement_events, c.engagement_rate, c.events_per_engaged
  FROM segkpi.kpi_cells c
 WHERE c.last_complete
   AND c.snapshot_id = ANY (ARRAY(
       SELECT DISTINCT ON (s.period_grain, l.last_start) s.snapshot_id
         FROM segkpi.snapshots s
        CROSS JOIN LATERAL (SELECT date_trunc(s.period_grain, (s.as_of - interval '1 microsecond') AT TIME ZONE s.timezone)
                                       AS cur_start,
                                   CASE s.period_grain WHEN 'month' THEN interval '1 month'
                                                       ELSE interval '3 months' END AS step) p
        CROSS JOIN LATERAL (SELECT CASE WHEN ((p.cur_start + p.step) AT TIME ZONE s.timezone) <= s.as_of
                                        THEN p.cur_start ELSE p.cur_start - p.step END AS last_start) l
        ORDER BY s.period_grain, l.last_start, s.as_of DESC, s.snapshot_id DESC));

-- Engagement per kind of event, per segment and period of the latest
-- snapshot (greatest as_of); a row is hidden when its segment's KPI row
-- of the period is (kpi_cells), so the kinds hide with their cell.
CREATE VIEW segkpi.engagement_by_kind WITH (security_barrier = true) AS
SELECT e.snapshot_id, e.segmentation, e.segment, c.segment_name, e.period_start, e.kind,
       CASE WHEN NOT c.hidden THEN e.engaged_customers END AS engaged_customers,
       CASE WHEN NOT c.hidden THEN e.events END AS events,
       CASE WHEN NOT c.hidden THEN round(segkpi.kpi_engagement_rate(e.engaged_customers, c.customers), 4) END
           AS engagement_rate,
       CASE WHEN NOT c.hidden THEN round(segkpi.kpi_events_per_engaged(e.events, e.engaged_customers), 2) END
           AS events_per_engaged,
       c.as_of, c.complete, c.hidden
  FROM segkpi.segment_engagement e
  JOIN segkpi.kpi_cells c ON c.snapshot_id = e.snapshot_id AND c.segmentation = e.segmentation
                         AND c.segment = e.segment AND c.period_start = e.period_start
 WHERE e.snapshot_id = (SELECT s.snapshot_id FROM segkpi.snapshots s ORDER BY s.as_of DESC, s.snapshot_id DESC LIMIT 1)
   AND c.snapshot_id = (SELECT s.snapshot_id FROM segkpi.snapshots s ORDER BY s.as_of DESC, s.snapshot_id DESC LIMIT 1);
COMMENT ON VIEW segkpi.engagement_by_kind IS
    'engagement per kind of event, segment and period of the latest snapshot (greatest as_of); hidden with its segment''s small KPI cell';
COMMENT ON COLUMN segkpi.engagement_by_kind.snapshot_id IS 'the latest snapshot';
COMMENT ON COLUMN segkpi.engagement_by_kind.segmentation IS 'the segmentation';
COMMENT ON COLUMN segkpi.engagement_by_kind.segment IS 'segment name, or "(all)"';
COMMENT ON COLUMN segkpi.engagement_by_kind.segment_name IS 'the segment''s business name (segkpi.cluster_names), else the segment';
COMMENT ON COLUMN segkpi.engagement_by_kind.period_start IS 'first day of the period';
COMMENT ON COLUMN segkpi.engagement_by_kind.kind IS 'the kind of event';
COMMENT ON COLUMN segkpi.engagement_by_kind.engaged_customers IS 'members with an event of this kind in the period; NULL when hidden';
COMMENT ON COLUMN segkpi.engagement_by_kind.events IS 'events of this kind of the members in the period; NULL when hidden';
COMMENT ON COLUMN segkpi.engagement_by_kind.engagement_rate IS 'engaged_customers / customers of the segment in the period';
COMMENT ON COLUMN segkpi.engagement_by_kind.events_per_engaged IS 'events / engaged_customers';
COMMENT ON COLUMN segkpi.engagement_by_kind.as_of IS 'the snapshot covers everything strictly before as_of';
COMMENT ON COLUMN segkpi.engagement_by_kind.complete IS 'the period had ended by as_of';
COMMENT ON COLUMN segkpi.engagement_by_kind.hidden IS 'the segment''s KPI cell of the period is hidden (small cells): figures NULL';
GRANT SELECT ON segkpi.engagement_by_kind TO @extowner@ WITH GRANT OPTION;

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

-- The before/after report of segment-based marketing, per segmentation and
-- segment of the latest snapshot (greatest as_of), its complete periods
-- split at settings.launch_date.  The first five columns are those of
-- 0.1 - 0.5 (which showed the "(all)" rows of one segmentation only).
-- Every segment is its latest members in every period, before the launch
-- too (a cohort view).  A segment hidden in any of those periods of
-- kpi_cells (small cells) is hidden here.
--
-- Metrics 1 - 9 are the KPIs of all members over each side's periods
-- (ratios of sums).  10 - 13 are per customer and period, so that a
-- larger customer base does not read as impact: customers per period,
-- and revenue, gross margin and orders per customer and period of the
-- targeted members (all members when there is no comparison group).
-- With a comparison group (settings.comparison_attribute or
-- holdout_share), comparison_before/after are the same figures of its
-- members and impact is the difference in differences
-- (after - before) - (comparison_after - comparison_before); without one,
-- impact is after - before.  14 - 16, after the launch: the gain from
-- segmentation (impact on margin per customer and period x the targeted
-- customer-periods after the launch), the cost of segmentation (the
-- one-off cost + the cost per period x periods after the launch; a
-- segment bears its share of the segmentation's customer-periods) and the
-- ROI of segmentation, (gain - cost) / cost.
CREATE VIEW segkpi.before_after WITH (security_barrier = true) AS
WITH latest AS (
    SELECT x.snapshot_id, x.as_of, x.timezone, x.comparison
      FROM segkpi.snapshots x ORDER BY x.as_of DESC, x.snapshot_id DESC LIMIT 1
),
cells AS (
    SELECT k.*, l.as_of, l.comparison IS NOT NULL AS with_comparison, k.period_start >= st.launch_date AS after,
           st.segmentation_cost_once AS cost_once, st.segmentation_cost_per_period AS cost_per_period,
           coalesce(c.hidden, true) AS hidden
      FROM latest l
      JOIN segkpi.segment_kpis k ON k.snapshot_id = l.snapshot_id
     CROSS JOIN segkpi.settings st
      LEFT JOIN segkpi.kpi_cells c
        ON c.snapshot_id = (SELECT y.snapshot_id FROM latest y) AND c.segmentation = k.segmentation
       AND c.segment = k.segment AND c.period_start = k.period_start
     WHERE st.launch_date IS NOT NULL
       AND (k.period_end::timestamp AT TIME ZONE l.timezone) <= l.as_of
),
sides AS (
    SELECT c.snapshot_id, c.as_of, c.segmentation, c.segment, c.after, bool_or(c.hidden) AS hidden,
           bool_and(c.with_comparison) AS with_comparison, count(*) AS periods,
           max(c.cost_once) AS cost_once, max(c.cost_per_period) AS cost_per_period,
           segkpi.kpi_cac(sum(c.attributed_spend), sum(c.new_customers)) AS cac,
           segkpi.kpi_aov(sum(c.revenue), sum(c.orders)) AS aov,
           segkpi.kpi_retention_rate(sum(c.retained), sum(c.previously_active)) AS retention_rate,
           segkpi.kpi_churn_rate(sum(c.retained), sum(c.previously_active)) AS churn_rate,
           (array_agg(c.cltv_historical ORDER BY c.period_start DESC))[1] AS cltv_historical,
           segkpi.kpi_roi(sum(c.revenue), sum(c.cost), sum(c.attributed_spend)) AS roi,
           segkpi.kpi_marketing_roi(sum(c.revenue), sum(c.cost), sum(c.attributed_spend)) AS marketing_roi,
           segkpi.kpi_csat(sum(c.csat * c.feedback_answers), sum(c.feedback_answers)) AS csat,
           sum(c.revenue) / count(*) AS revenue_per_period,
           sum(c.customers) AS cust_periods,
           sum(c.customers - coalesce(c.comparison_customers, 0)) AS t_cust_periods,
           sum(c.revenue - coalesce(c.comparison_revenue, 0)) AS t_revenue,
           sum(c.cost - coalesce(c.comparison_cost, 0)) AS t_cost,
           sum(c.orders - coalesce(c.comparison_orders, 0)) AS t_orders,
           sum(c.comparison_customers) AS c_cust_periods, sum(c.comparison_revenue) AS c_revenue,
           sum(c.comparison_cost) AS c_cost, sum(c.comparison_orders) AS c_orders
      FROM cells c
     GROUP BY c.snapshot_id, c.as_of, c.segmentation, c.segment, c.after
),
metrics AS (
    SELECT s.snapshot_id, s.as_of, s.segmentation, s.segment, s.after, s.hidden, s.with_comparison, s.periods,
           m.ord, m.metric, m.value, m.comparison
      FROM sides s,
           LATERAL (VALUES (1, 'CAC', s.cac, NULL::numeric), (2, 'AOV', s.aov, NULL), (3, 'retention rate', s.retention_rate, NULL),
                           (4, 'churn rate', s.churn_rate, NULL), (5, 'CLTV (historical)', s.cltv_historical, NULL),
                           (6, 'ROI', s.roi, NULL), (7, 'marketing ROI', s.marketing_roi, NULL), (8, 'CSAT', s.csat, NULL),
                           (9, 'revenue per period', s.revenue_per_period, NULL),
                           (10, 'customers per period', s.cust_periods::numeric / s.periods, NULL),
                           (11, 'revenue per customer per period', segkpi.kpi_ratio(s.t_revenue, s.t_cust_periods),
                                segkpi.kpi_ratio(s.c_revenue, s.c_cust_periods)),
                           (12, 'margin per customer per period', segkpi.kpi_ratio(s.t_revenue - s.t_cost, s.t_cust_periods),
                                segkpi.kpi_ratio(s.c_revenue - s.c_cost, s.c_cust_periods)),
                           (13, 'orders per customer per period', segkpi.kpi_ratio(s.t_orders, s.t_cust_periods),
                                segkpi.kpi_ratio(s.c_orders, s.c_cust_periods))) m(ord, metric, value, comparison)
),
paired AS (
    SELECT a.snapshot_id, a.as_of, a.segmentation, a.segment, a.ord, a.metric, b.periods AS periods_before,
           a.periods AS periods_after, a.hidden OR b.hidden AS hidden, a.with_comparison,
           b.value AS before_value, a.value AS after_value, b.comparison AS comparison_before,
           a.comparison AS comparison_after,
           CASE WHEN a.ord >= 11 THEN a.value - b.value - CASE WHEN a.with_comparison THEN a.comparison - b.comparison ELSE 0 END
           END AS impact
      FROM metrics b JOIN metrics a
        ON a.segmentation = b.segmentation AND a.segment = b.segment AND a.ord = b.ord AND a.after AND NOT b.after
),
-- the gain on margin, the cost of segmenting and their ROI, per segment
roi AS (
    SELECT p.*, s.t_cust_periods * p.impact AS gain,
           (s.cost_once + s.cost_per_period * s.periods)
           * CASE WHEN p.segment = '(all)' THEN 1
                  ELSE segkpi.kpi_share(s.cust_periods, (SELECT t.cust_periods FROM sides t
                                                          WHERE t.segmentation = s.segmentation AND t.segment = '(all)'
                                                            AND t.after)) END AS seg_cost
      FROM paired p JOIN sides s ON s.segmentation = p.segmentation AND s.segment = p.segment AND s.after
     WHERE p.ord = 12
),
report AS (
    SELECT p.snapshot_id, p.as_of, p.segmentation, p.segment, p.ord, p.metric, p.periods_before, p.periods_after,
           p.hidden, CASE WHEN p.ord >= 11 AND p.with_comparison THEN 'targeted members' ELSE 'all members' END AS population,
           p.before_value, p.after_value, p.comparison_before, p.comparison_after, p.impact
      FROM paired p
    UNION ALL
    SELECT r.snapshot_id, r.as_of, r.segmentation, r.segment, r.ord + x.d, x.metric, r.periods_before, r.periods_after,
           r.hidden, CASE WHEN r.with_comparison THEN 'targeted members' ELSE 'all members' END,
           NULL, x.value, NULL, NULL, NULL
      FROM roi r,
           LATERAL (VALUES (2, 'gain from segmentation', r.gain), (3, 'cost of segmentation', r.seg_cost),
                           (4, 'ROI of segmentation', segkpi.kpi_segmentation_roi(r.gain, r.seg_cost))) x(d, metric, value)
)
SELECT r.metric,
       CASE WHEN NOT r.hidden THEN round(r.before_value, 4) END AS before_segmentation,
       CASE WHEN NOT r.hidden THEN round(r.after_value, 4) END AS after_segmentation,
       CASE WHEN NOT r.hidden THEN round(r.after_value - r.before_value, 4) END AS change,
       CASE WHEN NOT r.hidden THEN round(100 * (r.after_value - r.before_value) / nullif(abs(r.before_value), 0), 1) END
           AS impact_percent,
       r.segmentation, r.segment, coalesce(n.name, r.segment) AS segment_name, r.population,
       CASE WHEN NOT r.hidden THEN round(r.comparison_before, 4) END AS comparison_before,
       CASE WHEN NOT r.hidden THEN round(r.comparison_after, 4) END AS comparison_after,
       CASE WHEN NOT r.hidden THEN round(r.impact, 4) END AS impact,
       r.periods_before, r.periods_after, r.snapshot_id, r.as_of, r.hidden,
       (SELECT st.launch_date FROM segkpi.settings st) AS launch_date
  FROM report r
  LEFT JOIN segkpi.cluster_names n ON n.segmentation = r.segmentation AND 'Cluster ' || n.cluster = r.segment
 ORDER BY r.segmentation, r.segment, r.ord;
COMMENT ON VIEW segkpi.before_after IS
    'before/after segment-based marketing (settings.launch_date) per segmentation and segment of the latest snapshot, complete periods: KPIs, per-customer figures against an optional comparison group, and the ROI of segmentation';
COMMENT ON COLUMN segkpi.before_after.metric IS 'the figure: the KPIs (CAC .. revenue per period), per-customer figures, gain, cost and ROI of segmentation';
COMMENT ON COLUMN segkpi.before_after.before_segmentation IS 'value over the complete periods before settings.launch_date (ratios of sums; CLTV at the last period)';
COMMENT ON COLUMN segkpi.before_after.after_segmentation IS 'value over the complete periods from settings.launch_date on (gain, cost and ROI of segmentation: this column only)';
COMMENT ON COLUMN segkpi.before_after.change IS 'after - before';
COMMENT ON COLUMN segkpi.before_after.impact_percent IS '100 x change / |before|';
COMMENT ON COLUMN segkpi.before_after.segmentation IS 'the segmentation';
COMMENT ON COLUMN segkpi.before_after.segment IS 'the segment (its latest members, before the launch too), or (all)';
COMMENT ON COLUMN segkpi.before_after.segment_name IS 'the segment''s business name (segkpi.cluster_names), else the segment';
COMMENT ON COLUMN segkpi.before_after.population IS 'whose figures before/after are: all members, or the targeted ones (members not in the comparison group)';
COMMENT ON COLUMN segkpi.before_after.comparison_before IS 'per-customer figures: the comparison group''s value before the launch (NULL without one)';
COMMENT ON COLUMN segkpi.before_after.comparison_after IS 'per-customer figures: the comparison group''s value after the launch';
COMMENT ON COLUMN segkpi.before_after.impact IS
    'per-customer figures: (after - before) - (comparison_after - comparison_before) with a comparison group, else after - before';
COMMENT ON COLUMN segkpi.before_after.periods_before IS 'complete periods before the launch';
COMMENT ON COLUMN segkpi.before_after.periods_after IS 'complete periods from the launch on';
COMMENT ON COLUMN segkpi.before_after.snapshot_id IS 'the latest snapshot (greatest as_of)';
COMMENT ON COLUMN segkpi.before_after.as_of IS 'its as_of';
COMMENT ON COLUMN segkpi.before_after.hidden IS 'the segment is a small cell (or hidden with one) in a period: its figures are NULL';
COMMENT ON COLUMN segkpi.before_after.launch_date IS 'settings.launch_date: the first day counted as after (a dashboard role cannot read settings)';

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
COMMENT ON COLUMN segkpi.kpi_cells.segment_name IS 'the segment''s business name: segkpi.cluster_names for a k-means cluster, else the segment';
COMMENT ON COLUMN segkpi.kpi_trends.segment_name IS 'the segment''s business name: segkpi.cluster_names for a k-means cluster, else the segment';
COMMENT ON COLUMN segkpi.kpi_latest.segment_name IS 'the segment''s business name: segkpi.cluster_names for a k-means cluster, else the segment';
COMMENT ON COLUMN segkpi.kpi_history.segment_name IS 'the segment''s business name: segkpi.cluster_names for a k-means cluster, else the segment';
-- (the engagement columns of the KPI views have the comments of segment_kpis, set above)
COMMENT ON SEQUENCE segkpi.snapshots_snapshot_id_seq IS 'numbers snapshots';
-- SELECT lets the owner's pg_dump read the sequence, UPDATE lets the
-- restore set it (the dump restores snapshot ids: refresh continues after them)
GRANT USAGE, SELECT, UPDATE ON SEQUENCE segkpi.snapshots_snapshot_id_seq TO @extowner@;

COMMENT ON FUNCTION segkpi.migration(bigint, bigint) IS 'customers per (segmentation, from segment, to segment) between two snapshots; (none) for customers in only one';

GRANT SELECT ON segkpi.kpi_trends, segkpi.kpi_latest, segkpi.kpi_history, segkpi.before_after
    TO @extowner@ WITH GRANT OPTION;
GRANT SELECT ON segkpi.kpi_cells TO @extowner@;
REVOKE EXECUTE ON FUNCTION segkpi.erase_customer(anyelement), segkpi.refresh(timestamptz, boolean),
    segkpi.bind(text, regclass, jsonb, name[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION segkpi.erase_customer(anyelement), segkpi.refresh(timestamptz, boolean),
    segkpi.bind(text, regclass, jsonb, name[]) TO @extowner@;

-- k-means clusters of the latest snapshot (greatest as_of) in original
-- units.  A cluster of 1 .. k - 1 customers is hidden, with the smallest
-- shown ones until the hidden set is safe (cluster sizes add up to the
-- customers fitted).
CREATE VIEW segkpi.cluster_profiles WITH (security_barrier = true) AS
WITH clusters AS (
    SELECT m.snapshot_id, s.as_of, m.segmentation, m.features, c.cluster, c.size, c.centroid, c.wcss,
           st.min_segment_size AS k, c.size BETWEEN 1 AND st.min_segment_size - 1 AS small,
           m.matched_to, m.match_note, m.drift[c.cluster] AS drift
      FROM segkpi.segment_models m
      JOIN segkpi.snapshots s ON s.snapshot_id = m.snapshot_id
     CROSS JOIN segkpi.settings st
     CROSS JOIN LATERAL segkpi.kmeans_centroids(m.model) c
     WHERE m.snapshot_id = (SELECT x.snapshot_id FROM segkpi.snapshots x ORDER BY x.as_of DESC, x.snapshot_id DESC LIMIT 1)
),
running AS (
    SELECT c.*,
           count(*) FILTER (WHERE c.small) OVER seg AS n_small,
           coalesce(sum(c.size) FILTER (WHERE c.small) OVER seg, 0) AS c_small,
           CASE WHEN NOT c.small THEN count(*) OVER vis END AS v_rank,
           sum(c.size) OVER vis AS v_size
      FROM clusters c
    WINDOW seg AS (PARTITION BY c.segmentation),
           vis AS (PARTITION BY c.segmentation, c.small ORDER BY c.size, c.cluster ROWS UNBOUNDED PRECEDING)
),
flagged AS (
    SELECT r.*,
           r.small OR r.v_rank <= CASE WHEN r.n_small = 0 OR segkpi.hidden_set_safe(r.n_small, r.c_small, 0, r.k) THEN 0
                                       ELSE coalesce(min(r.v_rank) FILTER (
                                                WHERE segkpi.hidden_set_safe(r.n_small + r.v_rank, r.c_small + r.v_size, 0, r.k))
                                                OVER (PARTITION BY r.segmentation), 2147483647) END AS hidden
      FROM running r
)
SELECT f.snapshot_id, f.segmentation, 'Cluster ' || f.cluster AS segment,
       CASE WHEN NOT f.hidden THEN f.size END AS customers,
       CASE WHEN NOT f.hidden THEN (SELECT jsonb_object_agg(u.feature, round(u.value::numeric, 4))
                                      FROM unnest(f.features, f.centroid) AS u(feature, value)) END AS centroid,
       CASE WHEN NOT f.hidden THEN round(f.wcss::numeric, 4) END AS wcss,
       f.as_of, f.hidden,
       coalesce(n.name, 'Cluster ' || f.cluster) AS name,
       f.matched_to IS NOT NULL AS matched, f.match_note,
       CASE WHEN NOT f.hidden THEN round(f.drift::numeric, 4) END AS drift
  FROM flagged f
  LEFT JOIN segkpi.cluster_names n ON n.segmentation = f.segmentation AND n.cluster = f.cluster;
COMMENT ON VIEW segkpi.cluster_profiles IS
    'k-means clusters of the latest snapshot (greatest as_of) in original feature units, so a person can name them; small clusters hidden';
COMMENT ON COLUMN segkpi.cluster_profiles.snapshot_id IS 'the snapshot';
COMMENT ON COLUMN segkpi.cluster_profiles.segmentation IS 'the k-means segmentation';
COMMENT ON COLUMN segkpi.cluster_profiles.segment IS 'Cluster n (the segment name in the KPI views)';
COMMENT ON COLUMN segkpi.cluster_profiles.customers IS 'customers fitted to the cluster';
COMMENT ON COLUMN segkpi.cluster_profiles.centroid IS 'feature -> centroid value in original units';
COMMENT ON COLUMN segkpi.cluster_profiles.wcss IS 'within-cluster sum of squares (transformed space)';
COMMENT ON COLUMN segkpi.cluster_profiles.as_of IS 'as_of of the snapshot';
COMMENT ON COLUMN segkpi.cluster_profiles.hidden IS 'a small cluster, or one hidden with it (settings.min_segment_size): its figures are NULL';
COMMENT ON COLUMN segkpi.cluster_profiles.name IS 'the cluster''s business name (segkpi.cluster_names), else its segment';
COMMENT ON COLUMN segkpi.cluster_profiles.matched IS
    'true when the clusters were matched to the previous model (Cluster n is the same group as there); false: numbered afresh, see match_note';
COMMENT ON COLUMN segkpi.cluster_profiles.match_note IS 'matched, or why not: no earlier model, features changed, transform changed, k changed';
COMMENT ON COLUMN segkpi.cluster_profiles.drift IS
    'distance the centroid moved since the matched model (transformed space; NULL when not matched or hidden)';
GRANT SELECT ON segkpi.cluster_profiles TO @extowner@ WITH GRANT OPTION;
