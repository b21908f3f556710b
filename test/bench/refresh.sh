#!/usr/bin/env bash
# test/bench/refresh.sh - segkpi.refresh() against the built-in GROUP BY.
#
# On BENCH_SCALE customers (default 1,000,000, ~10 million orders) with
# every source bound and three segmentations (RFM, k-means with 4 clusters,
# and 15 firmographic rules), times refresh() and the built-in
# max/count/sum GROUP BY customer_id of the RFM benchmark, medians of
# BENCH_RUNS runs.  Target: refresh < 2 x GROUP BY.  maintenance_work_mem is
# 256MB: a k-means segmentation of a million customers needs about 68MB.
set -eu
cd "$(dirname "$0")/../.." || exit 2
. test/lib/common.sh
. test/bench/lib.sh

scale=${BENCH_SCALE:-1000000}
runs=${BENCH_RUNS:-3}
work_mem=${BENCH_WORK_MEM:-256MB}

sk_ensure_packages
sk_build_install
sk_cluster_start "shared_buffers=1GB" "max_parallel_workers_per_gather=2" "work_mem=$work_mem" \
	"maintenance_work_mem=256MB"
trap sk_cluster_stop EXIT
psql -X -q -v ON_ERROR_STOP=1 -v scale="$scale" -v seed=42 -f test/demo/generate.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION segkpi" -c "VACUUM ANALYZE demo.orders" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -f test/demo/pipeline.sql >/dev/null

b=$(time_ms 2 "SELECT count(*), sum(extract(epoch FROM l)), sum(n), sum(m) FROM (SELECT customer_id, max(ordered_at) l, count(*) n, sum(amount) m FROM demo.orders GROUP BY customer_id) x")
r=$(time_ms 2 "SELECT segkpi.refresh('2025-01-01')")
echo "stage times of the last refresh (s):"
psql -X -At -c "SELECT stages FROM segkpi.snapshots ORDER BY snapshot_id DESC LIMIT 1"
awk -v b="$b" -v r="$r" 'BEGIN {
	printf "| query | median (ms) |\n|---|---:|\n| built-in GROUP BY customer_id | %.0f |\n| segkpi.refresh() (3 segmentations: RFM, k-means, 15 rules; all sources) | %.0f |\n", b, r
	printf "refresh / GROUP BY = %.2f (target < 2)\n", r / b }'
