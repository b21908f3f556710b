#!/usr/bin/env bash
# test/bench/rfm.sh - RFM speed against its baselines, in one run.
#
# On BENCH_SCALE customers (default 1,000,000; ~10 orders each, from the
# demo generator) it times, as medians of BENCH_RUNS runs (default 3) after
# one warm-up:
#   (a) segkpi   rfm_scores(...): the whole relation in one in-memory pass
#   (w) segkpi   rfm_score(rfm_agg(ordered_at, amount)) OVER () per customer,
#                the same result through the executor's hash aggregate
#   (b) builtin  max(ordered_at), count(*), sum(amount) GROUP BY customer_id
#   (c) ntile    the usual hand-written SQL RFM: (b) plus three ntile(5) windows
# serially, then (w) and (b) with a parallel plan (2 workers), and prints
# the ratios a/b, a/c, w/b and w/c, the parallel plan and its speed-up.
# Every query consumes all of its outputs in an outer aggregate, so the
# planner cannot drop any of the work and no rows travel to the client;
# (a) and (w) must give the same sums, which the script checks.
set -eu
cd "$(dirname "$0")/../.." || exit 2
. test/lib/common.sh
. test/bench/lib.sh

scale=${BENCH_SCALE:-1000000}
runs=${BENCH_RUNS:-3}
work_mem=${BENCH_WORK_MEM:-256MB}

sk_ensure_packages
sk_build_install
sk_cluster_start "shared_buffers=1GB" "max_parallel_workers_per_gather=0" \
	"max_worker_processes=8" "max_parallel_workers=4" "work_mem=$work_mem"
trap sk_cluster_stop EXIT

echo "generating $scale customers (demo generator, seed 42) ..."
t0=$(date +%s)
psql -X -q -v ON_ERROR_STOP=1 -v scale="$scale" -v seed=42 -f test/demo/generate.sql >/dev/null
echo "generated in $(($(date +%s) - t0)) s"
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION segkpi" -c "VACUUM ANALYZE demo.orders"
psql -X -At -c "SELECT count(*) || ' orders, ' || count(DISTINCT customer_id) || ' customers' FROM demo.orders"

q_scores="SELECT count(*), sum(r + f + m), sum(monetary), sum(recency_days)
  FROM segkpi.rfm_scores(NULL::bigint, 'demo.orders', 'customer_id', 'ordered_at', 'amount', '2025-01-01')"
q_segkpi="SELECT count(*), sum((s).r + (s).f + (s).m), sum((s).monetary), sum((s).recency_days)
  FROM (SELECT customer_id, segkpi.rfm_score(segkpi.rfm_agg(ordered_at, amount), '2025-01-01') OVER () AS s
          FROM demo.orders GROUP BY customer_id) x"
q_builtin="SELECT count(*), sum(extract(epoch FROM last_at)), sum(n), sum(m)
  FROM (SELECT customer_id, max(ordered_at) AS last_at, count(*) AS n, sum(amount) AS m
          FROM demo.orders GROUP BY customer_id) x"
q_ntile="SELECT count(*), sum(r + f + m)
  FROM (SELECT ntile(5) OVER (ORDER BY last_at) AS r, ntile(5) OVER (ORDER BY n) AS f,
               ntile(5) OVER (ORDER BY m) AS m
          FROM (SELECT customer_id, max(ordered_at) AS last_at, count(*) AS n, sum(amount) AS m
                  FROM demo.orders GROUP BY customer_id) c) x"


same=$(psql -X -At -c "SELECT a.n = w.n AND a.rfm = w.rfm AND a.m = w.m AND abs(a.rd - w.rd) < 1e-3
  FROM ($q_scores) a(n, rfm, m, rd), ($q_segkpi) w(n, rfm, m, rd)")
echo "rfm_scores and the window form give the same sums: $same"
[ "$same" = t ] || { echo "rfm.sh: the two segkpi forms disagree" >&2; exit 1; }

echo "work_mem = $work_mem, medians of $runs runs"
s=$(time_ms 0 "$q_scores")
a=$(time_ms 0 "$q_segkpi")
b=$(time_ms 0 "$q_builtin")
c=$(time_ms 0 "$q_ntile")
ap=$(time_ms 2 "$q_segkpi")
bp=$(time_ms 2 "$q_builtin")

echo
echo "parallel plan of (w):"
psql -X -q -c "SET max_parallel_workers_per_gather = 2" -c "EXPLAIN (COSTS OFF) $q_segkpi"

awk -v s="$s" -v a="$a" -v b="$b" -v c="$c" -v ap="$ap" -v bp="$bp" 'BEGIN {
	printf "\n| query | serial (ms) | 2 workers (ms) |\n|---|---:|---:|\n"
	printf "| (a) segkpi rfm_scores (one in-memory pass) | %.0f | - |\n", s
	printf "| (w) segkpi rfm_score(rfm_agg) window form | %.0f | %.0f |\n", a, ap
	printf "| (b) built-in max/count/sum GROUP BY | %.0f | %.0f |\n", b, bp
	printf "| (c) hand-written SQL with ntile(5) | %.0f | - |\n\n", c
	printf "a/b = %.2f (target <= 0.5), a/c = %.2f (target <= 0.4)\n", s / b, s / c
	printf "window form: w/b = %.2f, w/c = %.2f, parallel speed-up of (w) = %.2fx\n", a / b, a / c, a / ap
}'
