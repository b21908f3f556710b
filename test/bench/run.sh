#!/usr/bin/env bash
# test/bench/run.sh - every benchmark, one after the other.
set -eu
cd "$(dirname "$0")"
for b in rfm.sh refresh.sh kmeans.sh btyd.sh; do
	echo "== $b"
	bash "$b"
done
