#!/usr/bin/env bash
# test/demo.sh - `make demo`: the main job on a fresh machine.
#
# Installs what is missing, builds and installs segkpi, starts a throwaway
# cluster (as the postgres user), generates the demo warehouse
# (test/demo/generate.sql, deterministic), and prints the RFM segment
# summary.  DEMO_SCALE (customers, default 20000) and DEMO_SEED (default 42)
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
SELECT c.planted_group, (s).segment, count(*) AS customers
  FROM scored JOIN demo.customers c USING (customer_id)
 GROUP BY 1, 2
HAVING count(*) >= 0.05 * sum(count(*)) OVER (PARTITION BY c.planted_group)
 ORDER BY 1, 3 DESC;
SQL

if [ "${KEEP:-0}" = 1 ]; then
	echo "cluster kept: PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=postgres psql"
	echo "stop it with: runuser -u postgres -- $SK_PGBIN/pg_ctl -D $SK_CLUSTER_DIR/data stop"
fi
