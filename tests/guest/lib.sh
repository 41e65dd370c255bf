# tests/guest/lib.sh -- helpers for tests that boot the test guest under vireo.
# Sourced, not run. A case is a shell function; `case_run NAME FUNC` runs it
# and prints PASS/FAIL/SKIP for tests/run-tests.sh. Inside a case, `boot`
# starts a VM and the `want_*` helpers assert; the first failed assertion
# ends the case.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

VIREO=${VIREO:-build/vireo}
ELF=build/guest/test-guest.elf
BZ=build/guest/test-guest.bzImage
TIMEOUT=${VIREO_TEST_TIMEOUT:-120}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
logdir=build/test-logs/guest
mkdir -p "$logdir"

have_kvm() { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }

# Where each thread of a process is, for a run that outlived its --timeout.
thread_report() {
	local pid=$1 t
	for t in /proc/"$pid"/task/*; do
		echo "thread $(cat "$t/comm" 2>/dev/null) $(grep '^State' "$t/status" 2>/dev/null | tr -s '\t ' ' ')" \
			"wchan=$(cat "$t/wchan" 2>/dev/null)"
		sed 's/^/    /' "$t/stack" 2>/dev/null
	done
	echo "end of the kernel log:"
	dmesg 2>/dev/null | tail -n 20
}

# bounded SECONDS REPORT CMD... : run CMD (stdin and redirections as given);
# when it is still running after SECONDS, write thread_report into REPORT and
# kill it (status 137). vireo stops itself at --timeout; this catches the
# case where that fails, so a hang is a failed case with a report, not a
# test run that never ends.
bounded() {
	local limit=$1 report=$2 pid watchdog rc
	shift 2
	rm -f "$report"
	"$@" <&0 &
	pid=$!
	(
		trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
		sleep "$limit" &
		sleeper=$!
		wait "$sleeper"
		thread_report "$pid" >"$report" 2>&1
		kill -KILL "$pid"
	) </dev/null >/dev/null 2>&1 &
	watchdog=$!
	wait "$pid"
	rc=$?
	kill -TERM "$watchdog" 2>/dev/null
	wait "$watchdog" 2>/dev/null
	return "$rc"
}

# boot NAME ARGS... : run vireo; sets $out (serial output file), $json, $status.
# A vireo that outlives its --timeout by 30 s is killed and fails the case.
# The test guest ends through the debug-exit port: --debug-exit, unless
# NO_DEBUG_EXIT is set.
boot() {
	local name=$1 debug_exit=(--debug-exit)
	shift
	[ -n "${NO_DEBUG_EXIT:-}" ] && debug_exit=()
	out=$tmp/$name.out
	json=$tmp/$name.json
	rm -f "$json"
	bounded $((TIMEOUT + 30)) "$tmp/$name.hang" \
		"$VIREO" run --quiet --timeout "$TIMEOUT" --stats-json "$json" "${debug_exit[@]}" "$@" </dev/null >"$out" 2>"$tmp/$name.err"
	status=$?
	cp "$out" "$logdir/$name.out"
	cp "$tmp/$name.err" "$logdir/$name.err"
	[ -f "$json" ] && cp "$json" "$logdir/$name.json"
	if [ -s "$tmp/$name.hang" ]; then
		cp "$tmp/$name.hang" "$logdir/$name.hang"
		fail "vireo still ran $((TIMEOUT + 30)) s after it started (--timeout $TIMEOUT); killed; its threads: $(grep '^thread' "$tmp/$name.hang" | tr '\n' ';') (see $logdir/$name.hang)"
	fi
	return 0
}

fail() {
	echo "FAIL: $case_name: $*"
	case_failed=1
	return 1
}

# The host cannot run this case: say why (measured), and end it.
skip() {
	echo "SKIP: $case_name: $*"
	case_failed=1
	return 1
}

# jq on the last run's stats; prints the value.
stat() { jq -r "$1" "$json"; }

want_status() {
	[ "$status" -eq "$1" ] || fail "exit status $status, want $1 ($(tail -n 2 "$out" | tr '\n' ' ')$(cat "$tmp"/*.err 2>/dev/null | tail -n 1))"
}
want_output() {
	grep -qF -- "$1" "$out" || fail "output lacks '$1' (last line: $(tail -n 1 "$out"))"
}
want_success() {
	want_status 1 && want_output "SUCCESS"
}
# want_stat JQ-EXPR OP VALUE (OP: -eq -le -ge -gt -lt)
want_stat() {
	local v
	v=$(stat "$1" 2>/dev/null)
	[[ "$v" =~ ^[0-9]+$ ]] || { fail "stat $1 is '$v', not a number"; return 1; }
	[ "$v" "$2" "$3" ] || fail "stat $1 = $v, want $2 $3"
}
# Value of key=value in the RESULT line of a test.
result_field() {
	grep "^RESULT test=$1 " "$out" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# VIREO_TEST_FILTER=REGEX runs only the cases whose name matches.
case_run() {
	case_name=$1
	case_failed=0
	if [ -n "${VIREO_TEST_FILTER:-}" ] && ! [[ "$case_name" =~ $VIREO_TEST_FILTER ]]; then
		return
	fi
	if ! have_kvm; then
		echo "SKIP: $case_name: no /dev/kvm"
		return
	fi
	"$2" || true
	[ "$case_failed" -eq 0 ] && echo "PASS: $case_name"
}
