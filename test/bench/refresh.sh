#!/usr/bin/env bash
# test/bench/refresh.sh - segkpi.refresh() against the built-in GROUP BY.
#
# On BENCH_SCALE customers (default 1,000,000, ~10 million orders) with
# every source bound and two segmentations (RFM and a 15-segment rule
# segmentation), times refresh() and the built-in
# max/count/sum GROUP BY customer_id of the RFM benchmark, medians of
# BENCH_RUNS runs.  Target: refresh < 2 x GROUP BY.
set -eu
cd "$(dirname "$0")/../.." || exit 2
. test/lib/common.sh

scale=${BENCH_SCALE:-1000000}
runs=${BENCH_RUNS:-3}
work_mem=${BENCH_WORK_MEM:-256MB}

sk_ensure_packages
sk_build_install
sk_cluster_start "shared_buffers=1GB" "max_parallel_workers_per_gather=2" "work_mem=$work_mem"
trap sk_cluster_stop EXIT
psql -X -q -v ON_ERROR_STOP=1 -v scale="$scale" -v seed=42 -f test/demo/generate.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION segkpi;
VACUUM ANALYZE demo.orders;
SELECT segkpi.bind_orders('demo.orders', 'customer_id', 'ordered_at', 'amount', cost => 'cost', channel => 'channel');
SELECT segkpi.bind_customers('demo.customers', 'customer_id', acquired_at => 'acquired_at', channel => 'channel',
                             attributes => '{size_band,industry,region,employees}');
SELECT segkpi.bind_marketing_spend('demo.marketing_spend', 'spend_month', 'amount', channel => 'channel',
                                   target_segment => 'target_segment');
SELECT segkpi.bind_leads('demo.leads', 'created_at', 'converted_at', customer => 'customer_id', channel => 'channel',
                         attributes => '{size_band,industry,region}');
SELECT segkpi.bind_feedback('demo.feedback', 'customer_id', 'answered_at', 'score');
INSERT INTO segkpi.segmentations (name, method) VALUES ('rfm', 'rfm'), ('firmographic', 'rules');
INSERT INTO segkpi.segment_rules (segmentation, rule_order, segment, conditions)
SELECT 'firmographic', row_number() OVER (ORDER BY sb, ind), sb || ' ' || ind,
       jsonb_build_object('size_band', jsonb_build_array(sb), 'industry', jsonb_build_array(ind))
  FROM unnest('{Small,Mid-size,Enterprise}'::text[]) sb, unnest('{Healthcare,Retail,Technology,Manufacturing,Finance}'::text[]) ind;
SQL

median_ms() {
	local q=$1 i t all=()
	for i in $(seq 0 "$runs"); do
		t=$(psql -X -q -c '\timing on' -c "$q" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1)
		[ "$i" -gt 0 ] && all+=("$t")
	done
	printf '%s\n' "${all[@]}" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'
}
b=$(median_ms "SELECT count(*), sum(extract(epoch FROM l)), sum(n), sum(m) FROM (SELECT customer_id, max(ordered_at) l, count(*) n, sum(amount) m FROM demo.orders GROUP BY customer_id) x")
r=$(median_ms "SELECT segkpi.refresh('2025-01-01')")
echo "stage times of the last refresh (s):"
psql -X -At -c "SELECT stages FROM segkpi.snapshots ORDER BY snapshot_id DESC LIMIT 1"
awk -v b="$b" -v r="$r" 'BEGIN {
	printf "| query | median (ms) |\n|---|---:|\n| built-in GROUP BY customer_id | %.0f |\n| segkpi.refresh() (2 segmentations, all sources) | %.0f |\n", b, r
	printf "refresh / GROUP BY = %.2f (target < 2)\n", r / b }'
