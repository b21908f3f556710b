#!/usr/bin/env bash
# test/quick.sh - `make quick`: the edit-test loop.  Builds with -Werror,
# installs (into $SK_PREFIX when set), runs the C unit tests and the
# pg_regress suites on a throwaway cluster, and ends with one line
# "N passed, N failed".  Unlike `make test` it installs no packages and
# runs no TAP, fuzz or version matrix: run `make test` once first.
set -u
cd "$(dirname "$0")/.." || exit 2
. test/lib/common.sh

pass=0
fail=0
trap sk_cluster_stop EXIT
if [ ! -x "$SK_PG_CONFIG" ]; then
	echo "quick: $SK_PG_CONFIG is missing; run make test once (it installs the packages)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
if ! sk_build_install; then
	echo "0 passed, 1 failed"
	exit 1
fi
unit_line=$(make -s --no-print-directory unit 2>&1 | tee /dev/stderr | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
if [ -n "$unit_line" ]; then
	pass=$((pass + ${unit_line%% *}))
	fail=$((fail + $(echo "$unit_line" | cut -d' ' -f3)))
else
	fail=$((fail + 1))
fi
if sk_cluster_start "max_parallel_workers_per_gather=2" "max_worker_processes=8"; then
	rm -rf results regression.diffs regression.out
	out=$(make -s --no-print-directory PG_CONFIG="$SK_PG_CONFIG" installcheck 2>&1)
	echo "$out" | grep -E '\.\.\. |^ok |^not ok '
	pass=$((pass + $(echo "$out" | grep -cE '\.\.\. ok|^ok ')))
	fail=$((fail + $(echo "$out" | grep -cE '\.\.\. FAILED|^not ok ')))
	[ -f regression.diffs ] && head -n 100 regression.diffs
else
	fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
