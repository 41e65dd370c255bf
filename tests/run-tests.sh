#!/usr/bin/env bash
# tests/run-tests.sh -- run every test and end with "N passed, N failed, N skipped".
#
# Three kinds of tests, all run from the repository root:
#  - unit tests: build/tests/test_* (cmocka, no KVM), read through TAP output,
#    and build/tests-tsan/test_* (the threaded ones, ThreadSanitizer) as tsan-test_*;
#  - script tests: tests/style/*.sh, tests/cli/*.sh, tests/qemu/*.sh, tests/fuzz/run-fuzz-smoke.sh
#    (a short libFuzzer run, FUZZ_TIME seconds per target, default 10),
#    tests/guest/*.sh, tests/linux/boot-*.sh. A
#    script prints one line per case, "PASS: name", "FAIL: name: why" or
#    "SKIP: name: why"; a script that prints none counts as one case by its
#    exit status (0 pass, 77 skip, anything else fail).
# The guest tests (tests/guest/*.sh, tests/linux/boot-*.sh) need KVM. Without
# /dev/kvm, when qemu-system-x86_64 is installed and VIREO_NO_EMU_KVM is unset,
# they all run in one boot of an emulated machine with a real KVM inside
# (tests/emu-kvm/run-in-vm.sh: QEMU TCG, nested AMD SVM); its console output is
# in build/test-logs/emu-kvm.log, and a machine that does not come up counts as
# a failure. Otherwise, without /dev/kvm, they skip.
#
# `tests/run-tests.sh --run-scripts SCRIPT...` (what the emulated machine runs)
# only runs the scripts, leaving each one's output and exit status in
# build/test-logs/NAME.log and NAME.rc, and counts nothing.
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

run_unit() { # cmocka binary [name in the summary]
	local t=$1 name=${2:-} out rc lines=0
	[ -n "$name" ] || name=$(basename "$t")
	out=$(CMOCKA_MESSAGE_OUTPUT=TAP "$t" 2>&1)
	rc=$?
	printf '%s\n' "$out" >"$logdir/$name.log"
	while IFS= read -r line; do
		case "$line" in
		"ok "*"# SKIP"*) count_line "$name" "SKIP: ${line#ok }"; lines=$((lines + 1)) ;;
		# cmocka 1.1.5 (Debian) prints a skip() as "not ok N # SKIP name".
		"not ok "*"# SKIP"*) count_line "$name" "SKIP: ${line#not ok }"; lines=$((lines + 1)) ;;
		"ok "*) count_line "$name" "PASS: ${line#ok }"; lines=$((lines + 1)) ;;
		"not ok "*) count_line "$name" "FAIL: ${line#not ok }"; lines=$((lines + 1)) ;;
		esac
	done <<<"$out"
	if [ "$lines" -eq 0 ] || { [ "$rc" -ne 0 ] && ! grep -q '^not ok' <<<"$out"; }; then
		count_line "$name" "FAIL: $name exited $rc without a TAP verdict (see $logdir/$name.log)"
	fi
	echo "unit   $name: done"
}

script_name() { # tests/guest/workloads.sh -> guest/workloads
	local name=${1#tests/}
	echo "${name%.sh}"
}
script_log() { # the log file of a script
	local name
	name=$(script_name "$1")
	echo "$logdir/${name//\//_}.log"
}

run_script() {
	local t=$1 rc
	"$t" >"$(script_log "$t")" 2>&1
	rc=$?
	count_script "$t" "$rc"
}

count_script() { # script, its exit status; its output is in its log
	local t=$1 rc=$2 name lines=0
	name=$(script_name "$t")
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

# Inside the emulated machine: run the given scripts, count nothing.
if [ "${1:-}" = --run-scripts ]; then
	shift
	for t in "$@"; do
		log=$(script_log "$t")
		rc_file=${log%.log}.rc
		rm -f "$rc_file"
		start=$(date +%s)
		"$t" >"$log" 2>&1
		rc=$?
		echo "$rc" >"$rc_file"
		echo "$(script_name "$t"): exit status $rc after $(($(date +%s) - start)) s"
	done
	exit 0
fi

# The guest tests in the emulated machine: one boot for all of them.
# One boot of the emulated machine running the given scripts.
emulated_boot() {
	local start=$(date +%s) rc
	# Progress as it happens; everything in the log.
	tests/emu-kvm/run-in-vm.sh tests/run-tests.sh --run-scripts "$@" 2>&1 </dev/null |
		tee -a "$logdir/emu-kvm.log" |
		grep --line-buffered -E '^(emu-kvm: (L1 up|command exited|error)|[a-z]+/[^ ]+: exit status)' |
		sed -u 's/^/       /'
	rc=${PIPESTATUS[0]}
	echo "guest tests: emulated machine done after $(($(date +%s) - start)) s (run-in-vm.sh status $rc)"
	return 0
}

run_emulated() {
	local t log rc=0 ran=0 start reason fetched=
	echo "guest tests: running them on KVM inside QEMU TCG (nested SVM, emulated AMD EPYC); log in $logdir/emu-kvm.log"
	for t in "$@"; do
		log=$(script_log "$t")
		rm -f "$log" "${log%.log}.rc"
		case $t in
		tests/linux/*)
			# The emulated machine has no network: fetch the kernel here first.
			if [ -z "$fetched" ]; then
				fetched=1
				tests/linux/fetch-debian-kernel.sh >"$logdir/fetch-debian-kernel.log" 2>&1 ||
					echo "guest tests: tests/linux/fetch-debian-kernel.sh failed (see $logdir/fetch-debian-kernel.log)"
			fi
			;;
		esac
	done
	: >"$logdir/emu-kvm.log"
	# One boot per script: a script starts on a fresh machine, whatever the
	# previous one left behind. Should the emulated machine itself hang
	# (QEMU's TCG; run-in-vm.sh keeps a VM open against the known cause, see
	# tests/emu-kvm/hold-vm.py), that is the harness failing, not vireo, so
	# each boot is bounded (EMU_KVM_TIMEOUT) and the scripts that did not
	# finish get one more boot. A second failure counts. The longest script
	# takes about 75 s here; 360 s leaves room for a slower machine while a
	# hung one costs six minutes, not fifteen.
	export EMU_KVM_TIMEOUT=${EMU_KVM_TIMEOUT:-360}
	for t in "$@"; do
		emulated_boot "$t"
	done
	local left=()
	for t in "$@"; do
		log=$(script_log "$t")
		[ -f "${log%.log}.rc" ] || left+=("$t")
	done
	if [ ${#left[@]} -gt 0 ] && grep -q '^emu-kvm: error: ' "$logdir/emu-kvm.log"; then
		echo "guest tests: $(grep -m 1 '^emu-kvm: error: ' "$logdir/emu-kvm.log" | sed 's/^emu-kvm: error: //'); booting the emulated machine once more for: ${left[*]}"
		for t in "${left[@]}"; do
			emulated_boot "$t"
		done
	fi
	for t in "$@"; do
		log=$(script_log "$t")
		if [ -f "${log%.log}.rc" ] && [ -f "$log" ]; then
			ran=$((ran + 1))
			count_script "$t" "$(cat "${log%.log}.rc")"
		fi
	done
	if [ "$ran" -lt $# ]; then
		reason=$(grep -m 1 '^emu-kvm: error: ' "$logdir/emu-kvm.log")
		reason=${reason#emu-kvm: error: }
		[ -n "$reason" ] || reason="run-in-vm.sh exited with status $rc"
		if [ "$ran" -eq 0 ]; then
			count_line emu-kvm "FAIL: no guest test ran on KVM in the emulated machine: $reason (see $logdir/emu-kvm.log)"
		else
			for t in "$@"; do
				log=$(script_log "$t")
				[ -f "${log%.log}.rc" ] ||
					count_line "$(script_name "$t")" "FAIL: $(script_name "$t") did not finish in the emulated machine: $reason (see $logdir/emu-kvm.log)"
			done
		fi
	fi
}

# Which kind of KVM the guest tests meet, in one line. Only the harness asks;
# vireo and the test guest do not (README, "Hosts").
host_kind() {
	if [ ! -e /dev/kvm ]; then
		echo "no /dev/kvm: guest tests run on KVM inside an emulated machine (QEMU TCG, nested SVM)"
	elif [ -d /sys/module/kvm_pvm ]; then
		echo "PVM /dev/kvm (software KVM: CPL0 emulated, CPL3 native): guest tests run on it directly"
	elif [ -d /sys/module/kvm_intel ]; then
		echo "hardware /dev/kvm (kvm_intel, VT-x): guest tests run on it directly"
	elif [ -d /sys/module/kvm_amd ]; then
		echo "hardware /dev/kvm (kvm_amd, SVM): guest tests run on it directly"
	else
		echo "/dev/kvm of an unknown kind: guest tests run on it directly"
	fi
}
if [ -n "${VIREO_EMU_KVM:-}" ]; then
	echo "host: $(host_kind); VIREO_EMU_KVM=1: guest tests run in the emulated machine instead"
else
	echo "host: $(host_kind)"
fi

export FUZZ_TIME=${FUZZ_TIME:-10}
for t in build/tests/test_*; do
	[ -x "$t" ] && run_unit "$t"
done
# The threaded ones again under ThreadSanitizer: any report ends the binary
# with an error, which fails it (see tests/tests.mk).
for t in build/tests-tsan/test_*; do
	[ -x "$t" ] && TSAN_OPTIONS="halt_on_error=1 suppressions=tests/unit/tsan.supp" \
		run_unit "$t" "tsan-$(basename "$t")"
done
for t in tests/style/*.sh tests/cli/*.sh tests/qemu/*.sh tests/fuzz/run-fuzz-smoke.sh; do
	[ -x "$t" ] && run_script "$t"
done
# The scripts that need KVM.
kvm_scripts=()
for t in tests/guest/*.sh tests/linux/boot-*.sh; do
	[ -x "$t" ] && kvm_scripts+=("$t")
done
# VIREO_EMU_KVM=1 takes the emulated machine even where /dev/kvm exists: a
# PVM host can then check what a host without /dev/kvm will run.
if [ ${#kvm_scripts[@]} -gt 0 ] && { [ ! -e /dev/kvm ] || [ -n "${VIREO_EMU_KVM:-}" ]; } &&
	[ -z "${VIREO_NO_EMU_KVM:-}" ] && command -v qemu-system-x86_64 >/dev/null 2>&1; then
	run_emulated "${kvm_scripts[@]}"
else
	for t in "${kvm_scripts[@]}"; do
		run_script "$t"
	done
fi

if [ ${#failures[@]} -gt 0 ]; then
	echo "failures:"
	printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
