#!/usr/bin/env bash
# test/bench/kmeans.sh - k-means in the database against scikit-learn, in one run.
#
# BENCH_SCALE customers (default 1,000,000) with 3 features (log recency,
# log frequency, log monetary), generated deterministically in SQL from
# hashint8extended (five latent segments plus Gaussian noise).
#
# One seed of two different random generators says more about the luck of
# the draw than about speed (the iteration count alone varies 6 to 60), so
# the fit is timed over the seeds BENCH_SEEDS (default 1..5) and compared by
# the median over seeds; the seed-1 ratio is printed as well.  Each seed's
# time is the median of BENCH_RUNS runs (default 3) after one warm-up:
#   (a) segkpi.kmeans(features, 5, s) read from the table (serial plan, and
#       with 2 parallel workers); its defaults are scikit-learn's (one
#       k-means++ run, max_iter 300, tol 1e-4, no transform).  The warm-up
#       and the runs share one connection, as scikit-learn's runs share one
#       process; the serial fit is also timed with a new connection for
#       each run (a fresh backend first maps the table's shared buffers and
#       faults in its memory: about 150-250 ms more here);
#   (b) scikit-learn KMeans(n_clusters=5, n_init=1, algorithm="lloyd",
#       max_iter=300, tol=1e-4, random_state=s).fit(X) on the same rows
#       already in a numpy array (the first fit of the process is reported
#       separately);
#   (c) kmeans_assign over every row versus a bare SELECT of the same rows,
#       both consumed by an outer aggregate (no rows go to the client).
# The table gives iterations and inertia of both sides for every seed, so a
# fast time bought with a worse optimum shows.
set -eu
cd "$(dirname "$0")/../.." || exit 2
. test/lib/common.sh
. test/bench/lib.sh

scale=${BENCH_SCALE:-1000000}
runs=${BENCH_RUNS:-3}
py=/usr/bin/python3

sk_ensure_packages
sk_ensure_optional python3-sklearn
if ! $py -c 'import sklearn' 2>/dev/null; then
	echo "scikit-learn is not installed ($py cannot import sklearn): no baseline, stopping" >&2
	exit 1
fi
sk_build_install
sk_cluster_start "shared_buffers=1GB" "max_parallel_workers_per_gather=0" \
	"max_worker_processes=8" "max_parallel_workers=4" "maintenance_work_mem=256MB"
tmp=$(mktemp -d /tmp/segkpi-kmbench.XXXXXX)
chmod 777 "$tmp"
trap 'sk_cluster_stop; rm -rf "$tmp"' EXIT

echo "generating $scale customers ..."
psql -X -q -v ON_ERROR_STOP=1 -v scale="$scale" <<'SQL'
CREATE EXTENSION segkpi;
CREATE TABLE customers AS
WITH u AS (
    SELECT i, i % 5 AS seg,
           (hashint8extended(i, 11) & 4503599627370495)::float8 / 4503599627370496 AS u1,
           (hashint8extended(i, 12) & 4503599627370495)::float8 / 4503599627370496 AS u2,
           (hashint8extended(i, 13) & 4503599627370495)::float8 / 4503599627370496 AS u3,
           (hashint8extended(i, 14) & 4503599627370495)::float8 / 4503599627370496 AS u4
      FROM generate_series(1, :scale) i),
z AS (
    SELECT i, seg,
           sqrt(-2 * ln(1 - u1)) * cos(2 * pi() * u2) AS z1,
           sqrt(-2 * ln(1 - u1)) * sin(2 * pi() * u2) AS z2,
           sqrt(-2 * ln(1 - u3)) * cos(2 * pi() * u4) AS z3
      FROM u)
SELECT i AS customer_id,
       ARRAY[(ARRAY[1.5, 3.0, 4.5, 5.5, 2.5])[seg + 1] + 0.5 * z1,    -- log(1 + recency days)
             (ARRAY[2.5, 1.8, 0.7, 0.3, 1.2])[seg + 1] + 0.4 * z2,    -- log(orders)
             (ARRAY[6.5, 5.5, 4.0, 3.5, 7.5])[seg + 1] + 0.6 * z3     -- log(monetary)
            ]::float8[] AS features
  FROM z;
VACUUM ANALYZE customers;
SQL
psql -X -q -c "\copy (SELECT features[1], features[2], features[3] FROM customers ORDER BY customer_id) TO '$tmp/x.csv' CSV"


seeds=${BENCH_SEEDS:-"1 2 3 4 5"}
q_fit() { echo "SELECT segkpi.kmeans_inertia(m), segkpi.kmeans_iterations(m) FROM (SELECT segkpi.kmeans(features, 5, $1) AS m FROM customers) x"; }

echo "fitting seeds $seeds (each a median of $runs runs after a warm-up) ..."
: >"$tmp/ours"
for s in $seeds; do
	t0=$(time_ms_session 0 "$(q_fit "$s")")
	tc=$(time_ms 0 "$(q_fit "$s")")
	t2=$(time_ms_session 2 "$(q_fit "$s")")
	r=$(psql -X -At -F ' ' -c "SELECT round(segkpi.kmeans_inertia(m)::numeric, 3), segkpi.kmeans_iterations(m) FROM (SELECT segkpi.kmeans(features, 5, $s) AS m FROM customers) x")
	echo "$s $t0 $tc $t2 $r" >>"$tmp/ours"
done

$py - "$tmp/x.csv" "$runs" $seeds >"$tmp/theirs" <<'PY'
import sys, time
import numpy as np
from sklearn.cluster import KMeans
X = np.loadtxt(sys.argv[1], delimiter=",")
runs = int(sys.argv[2])
first = None
for s in map(int, sys.argv[3:]):
    times = []
    for r in range(runs + 1):
        t = time.perf_counter()
        km = KMeans(n_clusters=5, n_init=1, algorithm="lloyd", max_iter=300,
                    tol=1e-4, random_state=s).fit(X)
        times.append((time.perf_counter() - t) * 1000)
    if first is None:
        first = times[0]
    warm = sorted(times[1:])
    med = warm[len(warm) // 2] if len(warm) % 2 else (warm[len(warm) // 2 - 1] + warm[len(warm) // 2]) / 2
    print("%d %.1f %.3f %d %.1f" % (s, med, km.inertia_, km.n_iter_, first))
PY

psql -X -q -c "CREATE TABLE model AS SELECT segkpi.kmeans(features, 5, 1) AS m FROM customers"
q_assign="SELECT count(*), sum(c) FROM (SELECT segkpi.kmeans_assign((SELECT m FROM model), features) AS c FROM customers) x"
q_bare="SELECT count(*), sum(array_length(f, 1)) FROM (SELECT features AS f FROM customers) x"
assign=$(time_ms 0 "$q_assign")
bare=$(time_ms 0 "$q_bare")

echo
echo "rows: $scale, 3 features, k = 5; one k-means++ run per seed, max_iter 300, tol 1e-4 on both sides"
join "$tmp/ours" "$tmp/theirs" | awk -v a="$assign" -v b="$bare" -v scale="$scale" '
function median(v, n,   i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j-1] > v[j]; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
	return (n % 2) ? v[(n+1)/2] : (v[n/2] + v[n/2+1]) / 2
}
# fields: seed, ours (serial, serial new connection, 2 workers, inertia,
# iterations), theirs (time, inertia, iterations, first fit)
BEGIN {
	printf "\n| seed | segkpi serial (ms) | segkpi serial, new connection (ms) | segkpi 2 workers (ms) | segkpi iterations | segkpi inertia | scikit-learn (ms) | scikit-learn iterations | scikit-learn inertia |\n"
	printf "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
}
{
	n++; s0[n] = $2; sc[n] = $3; s2[n] = $4; sk[n] = $7; first = $10
	best = ($2 < $4) ? $2 : $4
	if ($1 == 1) { r1 = best / $7; r1c = $3 / $7 }
	printf "| %d | %.0f | %.0f | %.0f | %d | %.3f | %.0f | %d | %.3f |\n", $1, $2, $3, $4, $6, $5, $7, $9, $8
}
END {
	m0 = median(s0, n); mc = median(sc, n); m2 = median(s2, n); ms = median(sk, n)
	mb = (m0 < m2) ? m0 : m2
	printf "| median | %.0f | %.0f | %.0f | | | %.0f | | |\n\n", m0, mc, m2, ms
	printf "scikit-learn first fit of the process (first seed, not in the table): %.0f ms\n", first
	printf "kmeans_assign on every row: %.0f ms; bare SELECT of the same rows: %.0f ms\n\n", a, b
	printf "fit, median over seeds: segkpi / scikit-learn = %.2f (target <= 1)\n", mb / ms
	if (r1 != "") printf "fit, seed 1 only:        segkpi / scikit-learn = %.2f\n", r1
	printf "fit in a new connection each run, median over seeds: %.2f; seed 1: %.2f\n", mc / ms, r1c
	printf "assign overhead = %.0f ms per million rows\n", (a - b) * 1000000 / scale
}'
