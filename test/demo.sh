#!/usr/bin/env bash
# test/demo.sh - `make demo`: the main job on a fresh machine.
#
# Installs what is missing, builds and installs segkpi, starts a throwaway
# cluster (as the postgres user), generates the demo warehouse
# (test/demo/generate.sql, deterministic), prints the RFM segment summary,
# then runs the KPI pipeline (bind, configure RFM and a firmographic rule
# segmentation, refresh two snapshots) and prints the KPI views and the
# migration matrix.  DEMO_SCALE (customers, default 20000) and DEMO_SEED (default 42)
# change the data; KEEP=1 leaves the cluster running and prints how to
# connect.
set -eu
cd "$(dirname "$0")/.." || exit 2
. test/lib/common.sh

scale=${DEMO_SCALE:-20000}
seed=${DEMO_SEED:-42}

sk_ensure_packages
sk_log "building and installing segkpi"
sk_build_install
sk_log "starting a throwaway cluster"
sk_cluster_start
if [ "${KEEP:-0}" != 1 ]; then
	trap sk_cluster_stop EXIT
fi

sk_log "generating demo data: $scale customers, seed $seed"
start=$(date +%s)
psql -X -q -v ON_ERROR_STOP=1 -v scale="$scale" -v seed="$seed" -f test/demo/generate.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -v seed="$seed" -f test/demo/engagement.sql >/dev/null
sk_log "generated in $(($(date +%s) - start)) s"

psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION segkpi;
SET timezone = 'UTC';
\echo
\echo RFM segments of the demo customers as of 2025-01-01 (scores 1..5, default rules)
\echo
WITH scored AS (
    SELECT customer_id,
           segkpi.rfm_score(segkpi.rfm_agg(ordered_at, amount), '2025-01-01') OVER () AS s
      FROM demo.orders
     GROUP BY customer_id
)
SELECT (s).segment                                            AS segment,
       count(*)                                               AS customers,
       round(100.0 * count(*) / sum(count(*)) OVER (), 1)     AS "share %",
       sum((s).monetary)                                      AS revenue,
       round(sum((s).monetary) / nullif(sum((s).frequency), 0), 2) AS aov,
       round(avg((s).recency_days)::numeric, 1)               AS "mean recency (days)"
  FROM scored
 GROUP BY (s).segment
 ORDER BY revenue DESC;
\echo
\echo How the planted behaviour groups landed (customers per group and segment)
\echo
WITH scored AS (
    SELECT customer_id,
           segkpi.rfm_score(segkpi.rfm_agg(ordered_at, amount), '2025-01-01') OVER () AS s
      FROM demo.orders GROUP BY customer_id
)
SELECT planted_group, segment, customers
  FROM (SELECT c.planted_group, (s).segment, count(*) AS customers,
               sum(count(*)) OVER (PARTITION BY c.planted_group) AS group_size
          FROM scored JOIN demo.customers c USING (customer_id)
         GROUP BY 1, 2) x
 WHERE customers >= 0.05 * group_size
 ORDER BY 1, 3 DESC;
SQL

psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
SET timezone = 'UTC';
\echo
\echo The KPI pipeline: bind the warehouse, configure segmentations, refresh, read the views
\echo
\o /dev/null
\i test/demo/pipeline.sql
UPDATE segkpi.settings SET period_grain = 'quarter', launch_date = '2024-01-01';
-- engagement events (test/demo/engagement.sql), the k-means segmentation
-- choosing its k between 3 and 5, and a rule segmentation of company size
-- x purchase and engagement behaviour
SELECT segkpi.bind_engagement('demo.engagement', 'customer_id', 'at', 'kind', value => 'value');
UPDATE segkpi.segmentations SET params = params || '{"k": {"min": 3, "max": 5}}' WHERE name = 'clusters';
INSERT INTO segkpi.segmentations (name, method) VALUES ('b2b_behaviour', 'rules');
INSERT INTO segkpi.segment_rules VALUES
    ('b2b_behaviour', 1, 'Enterprise, frequent', '{"size_band": ["Enterprise"], "frequency": {"min": 10}}'),
    ('b2b_behaviour', 2, 'Enterprise, other', '{"size_band": ["Enterprise"]}'),
    ('b2b_behaviour', 3, 'Engaged, lapsing', '{"engagement_events": {"min": 6}, "recency_days": {"min": 180}}'),
    ('b2b_behaviour', 4, 'Recent buyers', '{"recency_days": {"max": 90}}');
-- the ROI of segmenting: a 10 % holdout (segkpi.in_holdout) and the costs
UPDATE segkpi.settings SET holdout_share = 0.1, segmentation_cost_once = 250000, segmentation_cost_per_period = 50000;
\o
\echo refreshing two snapshots (as of 2024-07-01 and 2025-01-01) ...
SELECT segkpi.refresh('2024-07-01', progress => true) AS snapshot;
-- name the clusters after the first snapshot, by what they spend: the
-- names stick because the second snapshot's clusters are matched to these
INSERT INTO segkpi.cluster_names
SELECT 'clusters', substring(p.segment FROM 9)::int,
       (ARRAY['Top spenders', 'Solid', 'Modest', 'Small', 'Minimal'])[row_number() OVER (ORDER BY (p.centroid ->> 'monetary')::numeric DESC)]
  FROM segkpi.cluster_profiles p WHERE p.segmentation = 'clusters';
SELECT segkpi.refresh('2025-01-01', progress => true) AS snapshot;
\echo
\echo KPIs per RFM segment, latest quarter (segkpi.kpi_latest)
\echo
SELECT segment, customers, active_customers AS active, new_customers AS new, revenue, aov,
       retention_rate AS retention, cac, cltv_historical AS cltv_hist, cltv_formula AS cltv_formula,
       roi, csat
  FROM segkpi.kpi_latest WHERE segmentation = 'rfm' ORDER BY revenue DESC;
\echo
\echo KPIs per firmographic segment (company size x industry), latest quarter: top 8 by revenue
\echo
SELECT segment, customers, revenue, cac, conversion_rate AS conversion, marketing_roi, csat
  FROM segkpi.kpi_latest WHERE segmentation = 'firmographic' ORDER BY revenue DESC LIMIT 8;
\echo
\echo k-means clusters on log recency, frequency and monetary, k chosen between 3 and 5 (scores per k),
\echo matched to the first snapshot clusters and named then (segkpi.cluster_profiles), and their KPIs
\echo
SELECT s.as_of, t ->> 'k' AS k, t ->> 'silhouette' AS silhouette, t ->> 'davies_bouldin' AS davies_bouldin,
       (m.scores ->> 'k') = (t ->> 'k') AS kept
  FROM segkpi.segment_models m JOIN segkpi.snapshots s USING (snapshot_id),
       jsonb_array_elements(m.scores -> 'tried') t
 ORDER BY s.as_of, (t ->> 'k')::int;
SELECT p.segment, p.name, p.customers, p.centroid, p.match_note, p.drift, k.revenue,
       k.retention_rate AS retention, k.engagement_rate AS engagement
  FROM segkpi.cluster_profiles p
  JOIN segkpi.kpi_latest k USING (snapshot_id, segmentation, segment)
 ORDER BY k.revenue DESC;
\echo
\echo Engagement per RFM segment, latest quarter (planted: loyal big buyers engage most, lapsed ones not at all)
\echo
SELECT segment, customers, engaged_customers AS engaged, engagement_rate AS rate, events_per_engaged AS per_engaged
  FROM segkpi.kpi_latest WHERE segmentation = 'rfm' ORDER BY engagement_rate DESC NULLS LAST;
\echo
\echo Campaign responses per industry in 2024 (planted: Technology five times as likely; segkpi.engagement_by_kind)
\echo
SELECT split_part(e.segment, ' ', 2) AS industry, sum(e.engaged_customers) AS responders,
       round(sum(e.engaged_customers)::numeric / sum(k.customers), 4) AS response_rate
  FROM segkpi.engagement_by_kind e
  JOIN segkpi.kpi_trends k USING (snapshot_id, segmentation, segment, period_start)
 WHERE e.segmentation = 'firmographic' AND e.kind = 'response' AND e.period_start >= '2024-01-01'
   AND e.segment NOT IN ('(all)', 'Other')
 GROUP BY 1 ORDER BY 3 DESC;
\echo
\echo Company size x purchase and engagement behaviour (a rule segmentation; segkpi.kpi_latest)
\echo
SELECT segment, customers, revenue, engagement_rate, retention_rate
  FROM segkpi.kpi_latest WHERE segmentation = 'b2b_behaviour' ORDER BY segment;
\echo
\echo RFM segment migration between the two snapshots (segkpi.segment_migration, customers)
\echo
SELECT from_segment AS "from \ to",
       sum(customers) FILTER (WHERE to_segment = 'Champions') AS "Champions",
       sum(customers) FILTER (WHERE to_segment = 'Loyal Customers') AS "Loyal",
       sum(customers) FILTER (WHERE to_segment = 'Potential Loyalist') AS "Pot. Loyalist",
       sum(customers) FILTER (WHERE to_segment IN ('New Customers', 'Promising')) AS "New/Promising",
       sum(customers) FILTER (WHERE to_segment IN ('Need Attention', 'About To Sleep')) AS "Attention/Sleep",
       sum(customers) FILTER (WHERE to_segment IN ('At Risk', 'Can''t Lose Them')) AS "At Risk/Can't Lose",
       sum(customers) FILTER (WHERE to_segment IN ('Hibernating', 'Lost')) AS "Hibernating/Lost"
  FROM segkpi.segment_migration WHERE segmentation = 'rfm'
 GROUP BY from_segment ORDER BY sum(customers) DESC;
\echo
\echo Before / after segmentation (launch 2024-01-01; RFM, all customers; a 10 % hash holdout as the
\echo comparison group: the generator planted no campaign effect, so the impact against it is sampling noise
\echo while before/after alone shows the growth; segkpi.before_after)
\echo
SELECT metric, before_segmentation AS before, after_segmentation AS after, impact_percent AS "change %",
       comparison_before AS holdout_before, comparison_after AS holdout_after, impact
  FROM segkpi.before_after WHERE segmentation = 'rfm' AND segment = '(all)';
SQL

if [ "${KEEP:-0}" = 1 ]; then
	echo "cluster kept: PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=postgres psql"
	echo "stop it with: runuser -u postgres -- $SK_PGBIN/pg_ctl -D $SK_CLUSTER_DIR/data stop"
fi
