#!/usr/bin/env bash
# test/bench/kmeans.sh - k-means in the database against scikit-learn, in one run.
#
# BENCH_SCALE customers (default 1,000,000) with 3 features (log recency,
# log frequency, log monetary), generated deterministically in SQL from
# hashint8extended (five latent segments plus Gaussian noise).  Times, as
# medians of BENCH_RUNS runs (default 3) after one warm-up:
#   (a) segkpi.kmeans(features, 5, 1) read from the table (serial plan,
#       and with 2 parallel workers), seed 1, scikit-learn's defaults
#       otherwise (one k-means++ run, max_iter 300, tol 1e-4, no transform);
#   (b) scikit-learn KMeans(n_clusters=5, n_init=1, algorithm="lloyd",
#       random_state=1).fit(X) on the same rows already in a numpy array
#       (the first fit of the process is reported separately);
#   (c) kmeans_assign over every row versus a bare SELECT of the same rows,
#       both consumed by an outer aggregate (no rows go to the client).
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


q_fit="SELECT segkpi.kmeans_inertia(m), segkpi.kmeans_iterations(m) FROM (SELECT segkpi.kmeans(features, 5, 1) AS m FROM customers) x"
psql -X -q -c "CREATE TABLE model AS SELECT segkpi.kmeans(features, 5, 1) AS m FROM customers"
q_assign="SELECT count(*), sum(c) FROM (SELECT segkpi.kmeans_assign((SELECT m FROM model), features) AS c FROM customers) x"
q_bare="SELECT count(*), sum(array_length(f, 1)) FROM (SELECT features AS f FROM customers) x"

echo "fitting (medians of $runs runs) ..."
fit=$(time_ms 0 "$q_fit")
fitp=$(time_ms 2 "$q_fit")
ours=$(psql -X -At -c "SELECT round(segkpi.kmeans_inertia(m)::numeric, 3) || ' ' || segkpi.kmeans_iterations(m) FROM model")

sk=$($py - "$tmp/x.csv" "$runs" <<'PY'
import sys, time
import numpy as np
from sklearn.cluster import KMeans
X = np.loadtxt(sys.argv[1], delimiter=",")
runs = int(sys.argv[2])
times = []
for r in range(runs + 1):
    t = time.perf_counter()
    km = KMeans(n_clusters=5, n_init=1, algorithm="lloyd", random_state=1).fit(X)
    times.append((time.perf_counter() - t) * 1000)
warm = sorted(times[1:])
print("%.1f %.1f %.3f %d" % (times[0], warm[len(warm) // 2], km.inertia_, km.n_iter_))
PY
)
read -r sk_first sk_med sk_inertia sk_iter <<<"$sk"

assign=$(time_ms 0 "$q_assign")
bare=$(time_ms 0 "$q_bare")

echo
echo "rows: $scale, 3 features, k = 5; segkpi inertia/iterations: $ours; scikit-learn: $sk_inertia $sk_iter"
awk -v f="$fit" -v fp="$fitp" -v s1="$sk_first" -v sm="$sk_med" -v a="$assign" -v b="$bare" 'BEGIN {
	printf "\n| step | time (ms) |\n|---|---:|\n"
	printf "| segkpi.kmeans, read from the table, serial | %.0f |\n", f
	printf "| segkpi.kmeans, read from the table, 2 workers | %.0f |\n", fp
	printf "| scikit-learn KMeans.fit, data in memory (median after warm-up) | %.0f |\n", sm
	printf "| scikit-learn KMeans.fit, first fit of the process | %.0f |\n", s1
	printf "| kmeans_assign on every row | %.0f |\n", a
	printf "| bare SELECT of the same rows | %.0f |\n\n", b
	best = (f < fp) ? f : fp
	printf "fit: segkpi / scikit-learn = %.2f (target <= 1); assign overhead = %.0f ms per million rows\n", best / sm, (a - b) * 1000000 / '"$scale"'
}'
