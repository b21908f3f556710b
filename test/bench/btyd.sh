#!/usr/bin/env bash
# test/bench/btyd.sh - BG/NBD + Gamma-Gamma fit speed against a numpy/scipy
# baseline, in one run.
#
# Data sets: CDNOW (2,357 customers, from ../shared/data when present, via
# btyd_stats) and BENCH_SCALE synthetic customers (default 1,000,000; the
# deterministic generator of sql/btyd_fit.sql with a daily-grained T).
# For each it times
#   (a) segkpi   SELECT bgnbd_fit(x, t_x, T), gamma_gamma_fit(x, zbar) over
#                the summary table (median of BENCH_RUNS runs, default 3,
#                after a warm-up; serial plan)
#   (b) scipy    the same two fits the way the Python `lifetimes` package
#                does them: vectorised numpy likelihoods, one row per
#                customer, scipy Nelder-Mead (test/bench/btyd_baseline.py;
#                one run, loading excluded)
# and prints the ratio b/a (target: >= 10 at 1 million customers).
set -eu
cd "$(dirname "$0")/../.." || exit 2
. test/lib/common.sh

scale=${BENCH_SCALE:-1000000}
runs=${BENCH_RUNS:-3}
py=/usr/bin/python3

sk_ensure_packages
sk_ensure_optional python3-numpy python3-scipy
sk_build_install
sk_cluster_start "max_parallel_workers_per_gather=0" "work_mem=256MB"
tmp=$(mktemp -d /tmp/segkpi-bench.XXXXXX)
chmod 777 "$tmp"
trap 'sk_cluster_stop; rm -rf "$tmp"' EXIT

psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION segkpi"

if d=$(sk_data_dir); then
	psql -X -q -v ON_ERROR_STOP=1 \
		-c "CREATE TABLE elog (masterid int, sampleid int, date text, cds int, sales numeric)" \
		-c "\\copy elog FROM '$d/cdnowElog.csv' WITH (FORMAT csv, HEADER true)" \
		-c "SET timezone = 'UTC'" \
		-c "CREATE TABLE cdnow AS SELECT sampleid, (segkpi.btyd_stats(to_date(date, 'YYYYMMDD')::timestamptz, sales, '1997-09-30')).* FROM elog GROUP BY sampleid"
	sets="cdnow"
else
	echo "CDNOW data not found (../shared/data); benchmarking synthetic data only"
	sets=""
fi

echo "generating $scale synthetic customers ..."
psql -X -q -v ON_ERROR_STOP=1 -v scale="$scale" <<'SQL'
CREATE TABLE synth AS
WITH u AS (SELECT i, ((i * 7919) % 10007 + 0.5) / 10007 AS u1, ((i * 104729) % 9973 + 0.5) / 9973 AS u2,
                  ((i * 15485863) % 9967 + 0.5) / 9967 AS u3, ((i * 32452843) % 9949 + 0.5) / 9949 AS u4,
                  ((i * 49979687) % 9941 + 0.5) / 9941 AS u5
             FROM generate_series(1::bigint, :scale) i),
p AS (SELECT i, -ln(u1) / 3 AS lam, 1 - power(1 - u2, 1 / 2.0) AS drop,
             floor(100 + 200 * u4) AS tdays, u3, u5 FROM u),
s AS (SELECT i, tdays, floor(ln(u3) / ln(1 - drop)) AS g,
             floor(lam * tdays / 7 * (0.5 + u5)) AS n, u5 FROM p)
SELECT i AS id, least(g, n)::int AS x,
       (CASE WHEN least(g, n) = 0 THEN 0
             ELSE floor(tdays * least(g, n) / (n + 1) * (0.6 + 0.4 * u5)) END / 7)::float8 AS t_x,
       (tdays / 7)::float8 AS t,
       (CASE WHEN least(g, n) = 0 THEN 0
             ELSE round(5 + 60 * u5 * (0.3 + (i % 11) / 11.0), 2) END)::float8 AS zbar
  FROM s;
VACUUM ANALYZE synth;
SQL
sets="$sets synth"

# time_ms QUERY -> median of $runs runs after a warm-up, in ms
time_ms() {
	local q=$1 i t all=()
	for i in $(seq 0 "$runs"); do
		t=$(psql -X -q -c '\timing on' -c "$q" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1)
		[ "$i" -gt 0 ] && all+=("$t")
	done
	printf '%s\n' "${all[@]}" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'
}

rows=""
for s in $sets; do
	n=$(psql -X -At -c "SELECT count(*) || ' customers, ' || count(DISTINCT (x, t_x, t)) || ' distinct (x, t_x, T), ' || count(DISTINCT (x, zbar)) FILTER (WHERE x > 0) || ' distinct (x, zbar)' FROM $s")
	echo "== $s: $n"
	q="SELECT segkpi.bgnbd_fit(x, t_x, t)::text || ' ' || segkpi.gamma_gamma_fit(x, zbar)::text FROM $s"
	psql -X -At -c "$q"
	a=$(time_ms "$q")
	psql -X -q -c "\\copy (SELECT x, t_x, t, zbar FROM $s) TO '$tmp/$s.txt' WITH (DELIMITER ' ')"
	out=$($py test/bench/btyd_baseline.py "$tmp/$s.txt")
	echo "$out" | tail -n 2
	b=$(echo "$out" | head -n 1)
	rows="$rows$(awk -v s="$s" -v n="$n" -v a="$a" -v b="$b" 'BEGIN { printf "| %s (%s) | %.0f | %.0f | %.1f |\\n", s, n, a, b, b / a }')"
done
printf '\n| data | segkpi fit (ms) | scipy fit (ms) | scipy / segkpi |\n|---|---:|---:|---:|\n%b' "$rows"
