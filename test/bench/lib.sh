# test/bench/lib.sh - shared by the benchmarks (sourced after common.sh).
#
# time_ms WORKERS QUERY: the median wall time of $runs runs of QUERY with
# max_parallel_workers_per_gather = WORKERS, in ms, after one warm-up run
# that is not counted.  Every run is a new connection (a new backend).
# The runs themselves go to stderr, in the order they ran.
time_ms() {
	local workers=$1 q=$2 i t all=()
	for i in $(seq 0 "$runs"); do
		t=$(psql -X -q -c "SET max_parallel_workers_per_gather = $workers" -c '\timing on' -c "$q" |
			sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1)
		[ "$i" -gt 0 ] && all+=("$t")
	done
	printf 'runs (ms, in order): %s\n' "${all[*]}" >&2
	printf '%s\n' "${all[@]}" | sort -n |
		awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'
}

# time_ms_session WORKERS QUERY: as time_ms, but the warm-up and the $runs
# runs share one connection, as they would behind a connection pool: the
# runs see a backend that has already mapped the table's shared buffers
# and reused its memory, like a Python process on its second fit.
time_ms_session() {
	local workers=$1 q=$2 i
	{
		echo "SET max_parallel_workers_per_gather = $workers;"
		echo '\timing on'
		for i in $(seq 0 "$runs"); do echo "$q;"; done
	} | psql -X -q -v ON_ERROR_STOP=1 | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n "$runs" | sort -n |
		awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'
}
