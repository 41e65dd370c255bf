#!/usr/bin/env bash
# tests/fuzz/run-fuzz-smoke.sh -- a short libFuzzer run of each fuzz target.
#
#   tests/fuzz/run-fuzz-smoke.sh [--no-build] [NAME...]
#
# Builds build/fuzz/fuzz_NAME (make fuzz) unless --no-build, then runs each
# one (all tests/fuzz/fuzz_*.c by default) for FUZZ_TIME seconds (default 20,
# 5 s per input at most) from its committed seeds, tests/fuzz/corpus/NAME/;
# new inputs go to build/fuzz/corpus/NAME/, a crashing input to
# build/fuzz/artifacts/NAME/, the whole output to build/fuzz/NAME.log.
# One line per target, as tests/run-tests.sh counts them:
#   PASS: fuzz NAME (N runs) | FAIL: fuzz NAME: why | SKIP: fuzz: why (exit 77)
set -u
cd "$(dirname "$0")/../.." || exit 1

build=1
if [ "${1:-}" = --no-build ]; then
	build=0
	shift
fi
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do
		n=${f##*/fuzz_}
		names+=("${n%.c}")
	done
fi
time=${FUZZ_TIME:-20}
mkdir -p build/fuzz

if ! command -v clang >/dev/null 2>&1; then
	echo "SKIP: fuzz: clang is not installed (mk/deps.sh installs it)"
	exit 77
fi
if [ "$build" = 1 ] && ! make --no-print-directory -s fuzz >build/fuzz/build.log 2>&1; then
	for n in "${names[@]}"; do
		echo "FAIL: fuzz $n: build failed (see build/fuzz/build.log)"
	done
	exit 1
fi

status=0
for n in "${names[@]}"; do
	bin=build/fuzz/fuzz_$n
	log=build/fuzz/$n.log
	art=build/fuzz/artifacts/$n/
	if [ ! -x "$bin" ]; then
		echo "FAIL: fuzz $n: $bin not built"
		status=1
		continue
	fi
	mkdir -p "build/fuzz/corpus/$n" "$art"
	start=$(date +%s)
	"$bin" -max_total_time="$time" -timeout=5 -print_final_stats=1 -artifact_prefix="$art" \
		"build/fuzz/corpus/$n" "tests/fuzz/corpus/$n" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ] && [ -n "$runs" ] && [ "$runs" -gt 0 ]; then
		echo "fuzz $n: $runs runs in ${secs} s ($((runs / (secs > 0 ? secs : 1))) per second)," \
			"$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)"
		echo "PASS: fuzz $n ($runs runs)"
	else
		why=$(grep -m 1 -E '^(==[0-9]+==ERROR|SUMMARY)|runtime error|deadly signal|ALARM' "$log")
		crash=$(find "$art" -type f -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -n 1 | cut -d' ' -f2-)
		echo "FAIL: fuzz $n: exit $rc: ${why:-no final stats}${crash:+ (input: $crash)} (see $log)"
		status=1
	fi
done
exit $status
