------------------------------------------------------------------------
-- KPI pipeline: views for dashboards (aggregates only; small segments hidden)
------------------------------------------------------------------------

CREATE VIEW segkpi.kpi_trends WITH (security_barrier = true) AS
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

CREATE VIEW segkpi.kpi_latest WITH (security_barrier = true) AS
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
           segkpi.kpi_cac(sum(attributed_spend), sum(new_customers)) AS cac,
           segkpi.kpi_aov(sum(revenue), sum(orders)) AS aov,
           segkpi.kpi_retention_rate(sum(retained), sum(previously_active)) AS retention_rate,
           segkpi.kpi_churn_rate(sum(retained), sum(previously_active)) AS churn_rate,
           (array_agg(cltv_historical ORDER BY period_start DESC))[1] AS cltv_historical,
           segkpi.kpi_roi(sum(revenue), sum(cost), sum(attributed_spend)) AS roi,
           segkpi.kpi_marketing_roi(sum(revenue), sum(cost), sum(attributed_spend)) AS marketing_roi,
           segkpi.kpi_csat(sum(csat * feedback_answers), sum(feedback_answers)) AS csat,
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
COMMENT ON COLUMN segkpi.before_after.metric IS 'KPI over all customers';
COMMENT ON COLUMN segkpi.before_after.before_segmentation IS 'value over the periods before settings.launch_date (ratios of sums; CLTV at the last period)';
COMMENT ON COLUMN segkpi.before_after.after_segmentation IS 'value over the periods from settings.launch_date on';
COMMENT ON COLUMN segkpi.before_after.change IS 'after - before';
COMMENT ON COLUMN segkpi.before_after.impact_percent IS '100 x change / |before|';
COMMENT ON SEQUENCE segkpi.snapshots_snapshot_id_seq IS 'numbers snapshots';
-- SELECT lets the owner's pg_dump read the sequence, UPDATE lets the
-- restore set it (the dump restores snapshot ids: refresh continues after them)
GRANT USAGE, SELECT, UPDATE ON SEQUENCE segkpi.snapshots_snapshot_id_seq TO @extowner@;

COMMENT ON FUNCTION segkpi.migration(bigint, bigint) IS 'customers per (segmentation, from segment, to segment) between two snapshots; (none) for customers in only one';

GRANT SELECT ON segkpi.kpi_trends, segkpi.kpi_latest, segkpi.before_after TO @extowner@ WITH GRANT OPTION;
REVOKE EXECUTE ON FUNCTION segkpi.erase_customer(anyelement), segkpi.refresh(timestamptz, boolean),
    segkpi.bind(text, regclass, jsonb, name[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION segkpi.erase_customer(anyelement), segkpi.refresh(timestamptz, boolean),
    segkpi.bind(text, regclass, jsonb, name[]) TO @extowner@;

CREATE VIEW segkpi.cluster_profiles WITH (security_barrier = true) AS
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
