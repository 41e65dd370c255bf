#!/usr/bin/env bash
# tests/run-tests.sh -- run every test and end with "N passed, N failed, N skipped".
#
# Three kinds of tests, all run from the repository root:
#  - unit tests: build/tests/test_* (cmocka, no KVM), read through TAP output;
#  - script tests: tests/guest/*.sh, tests/cli/*.sh, tests/linux/boot-*.sh. A
#    script prints one line per case, "PASS: name", "FAIL: name: why" or
#    "SKIP: name: why"; a script that prints none counts as one case by its
#    exit status (0 pass, 77 skip, anything else fail).
# Guest tests skip (not fail) when /dev/kvm is absent.
set -u
cd "$(dirname "$0")/.."

passed=0 failed=0 skipped=0
failures=()
logdir=build/test-logs
mkdir -p "$logdir"

count_line() { # $1 = suite, $2 = line
	case "$2" in
	"PASS: "*) passed=$((passed + 1)) ;;
	"FAIL: "*) failed=$((failed + 1)); failures+=("$1: ${2#FAIL: }") ;;
	"SKIP: "*) skipped=$((skipped + 1)) ;;
	*) return 1 ;;
	esac
	return 0
}

run_unit() { # cmocka binary
	local t=$1 name out rc lines=0
	name=$(basename "$t")
	out=$(CMOCKA_MESSAGE_OUTPUT=TAP "$t" 2>&1)
	rc=$?
	printf '%s\n' "$out" >"$logdir/$name.log"
	while IFS= read -r line; do
		case "$line" in
		"ok "*"# SKIP"*) count_line "$name" "SKIP: ${line#ok }"; lines=$((lines + 1)) ;;
		"ok "*) count_line "$name" "PASS: ${line#ok }"; lines=$((lines + 1)) ;;
		"not ok "*) count_line "$name" "FAIL: ${line#not ok }"; lines=$((lines + 1)) ;;
		esac
	done <<<"$out"
	if [ "$lines" -eq 0 ] || { [ "$rc" -ne 0 ] && ! grep -q '^not ok' <<<"$out"; }; then
		count_line "$name" "FAIL: $name exited $rc without a TAP verdict (see $logdir/$name.log)"
	fi
	echo "unit   $name: done"
}

run_script() {
	local t=$1 name rc lines=0
	name=${t#tests/}
	name=${name%.sh}
	"$t" >"$logdir/${name//\//_}.log" 2>&1
	rc=$?
	while IFS= read -r line; do
		if count_line "$name" "$line"; then
			lines=$((lines + 1))
			echo "       $name: $line"
		fi
	done <"$logdir/${name//\//_}.log"
	if [ "$lines" -eq 0 ]; then
		case $rc in
		0) count_line "$name" "PASS: $name" ;;
		77) count_line "$name" "SKIP: $name: $(tail -n 1 "$logdir/${name//\//_}.log")" ;;
		*) count_line "$name" "FAIL: $name exited $rc (see $logdir/${name//\//_}.log)" ;;
		esac
	elif [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && ! grep -q '^FAIL: ' "$logdir/${name//\//_}.log"; then
		count_line "$name" "FAIL: $name exited $rc after its cases"
	fi
	echo "script $name: done"
}

for t in build/tests/test_*; do
	[ -x "$t" ] && run_unit "$t"
done
for t in tests/cli/*.sh tests/qemu/*.sh tests/guest/*.sh tests/linux/boot-*.sh; do
	[ -x "$t" ] && run_script "$t"
done

if [ ${#failures[@]} -gt 0 ]; then
	echo "failures:"
	printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
