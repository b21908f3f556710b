#!/usr/bin/env bash
# test/fuzz/run.sh [replay|fuzz] [SECONDS]
#   replay  (default) build every target with gcc + ASan/UBSan and run it
#           over its corpus; ends with "N passed, N failed"
#   fuzz    build with clang -fsanitize=fuzzer and fuzz each target for
#           SECONDS (default 60), growing test/fuzz/corpus/<target>
# Targets are test/fuzz/fuzz_<name>.c with seeds in test/fuzz/corpus/<name>/.
set -u
cd "$(dirname "$0")/../.." || exit 2
mode=${1:-replay}
secs=${2:-60}
core=$(make -s --no-print-directory print-core-srcs)
mkdir -p test/fuzz/bin
pass=0
fail=0
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
for src in test/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	name=${name#fuzz_}
	corpus=test/fuzz/corpus/$name
	mkdir -p "$corpus"
	if [ "$mode" = fuzz ]; then
		clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc/core "$src" $core -lm \
			-o "test/fuzz/bin/fuzz_$name" || { fail=$((fail + 1)); continue; }
		if "test/fuzz/bin/fuzz_$name" -max_total_time="$secs" -max_len=4096 "$corpus" \
			2>"test/fuzz/bin/$name.log"; then
			echo "fuzz $name: $(grep -o 'Done [0-9]* runs' "test/fuzz/bin/$name.log" | tail -1) in ${secs}s, no crash"
			pass=$((pass + 1))
		else
			tail -n 30 "test/fuzz/bin/$name.log"
			fail=$((fail + 1))
		fi
		continue
	fi
	if ! gcc -std=gnu99 -g -O1 $san -Isrc/core "$src" test/fuzz/replay.c $core -lm \
		-o "test/fuzz/bin/replay_$name" 2>"test/fuzz/bin/$name.build.log"; then
		# no sanitizer runtime: replay without it rather than not at all
		gcc -std=gnu99 -g -O1 -Isrc/core "$src" test/fuzz/replay.c $core -lm \
			-o "test/fuzz/bin/replay_$name" || { fail=$((fail + 1)); continue; }
	fi
	if out=$("test/fuzz/bin/replay_$name" "$corpus" 2>&1); then
		n=$(echo "$out" | tail -n 1 | cut -d' ' -f1)
		echo "replay $name: $n inputs, no crash"
		pass=$((pass + n))
	else
		echo "$out" | tail -n 20
		echo "replay $name: crashed"
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
