#!/usr/bin/env bash
# test/lib/check-codegen.sh - properties of the compiled core that no
# behaviour test can see.
#
# The in-memory passes over a relation (rfmscan, actscan) are fast only
# because they prefetch what a row will touch several rows ahead.  A
# prefetch changes no result, so a compiler may drop one without any test
# noticing: GCC 12 did, deleting a static function whose only effect was a
# prefetch as "pure" (the activity pass ran ~1.8x slower).  This compiles
# the two files as the build does (-O2) and counts the prefetch
# instructions in each: every prefetch site of the source must be there.
# Prints "N passed, N failed" like the other suites.
set -u
cd "$(dirname "$0")/../.." || exit 2
cc=${CC:-cc}
passed=0
failed=0
case "$(uname -m)" in
	x86_64) pat='prefetch' ;;
	aarch64) pat='prfm' ;;
	*)
		echo "skip: no prefetch pattern known for $(uname -m)"
		echo "0 passed, 0 failed"
		exit 0
		;;
esac
# file, prefetch sites in the source (slot, record[, two entries])
for spec in "rfmscan 2" "actscan 4"; do
	set -- $spec
	n=$($cc -std=gnu99 -O2 -Isrc/core -S -o - "src/core/$1.c" | grep -cE "^\s+$pat")
	if [ "$n" -ge "$2" ]; then
		echo "ok: src/core/$1.c keeps its $2 prefetches ($n instructions)"
		passed=$((passed + 1))
	else
		echo "FAILED: src/core/$1.c has $n prefetch instructions, expected at least $2"
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
