#!/usr/bin/env bash
# test/lib/run-unit.sh BIN... - run unit test programs from the repository
# root and sum their "N passed, N failed" lines into one such line.  A
# program that crashes or prints no summary counts as one failure.
set -u
pass=0
fail=0
for bin in "$@"; do
	out=$("$bin" 2>&1)
	rc=$?
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
	printf '%s\n' "$out" | grep -vE '^[0-9]+ passed, [0-9]+ failed$' | sed "s|^|  $(basename "$bin"): |"
	if [ -z "$line" ]; then
		echo "  $(basename "$bin"): no summary (exit $rc): counted as a failure"
		fail=$((fail + 1))
		continue
	fi
	p=${line%% *}
	f=$(echo "$line" | cut -d' ' -f3)
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	echo "  $(basename "$bin"): $line"
	pass=$((pass + p))
	fail=$((fail + f))
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
