#!/usr/bin/env bash
# tests/guest/lifecycle.sh -- how a VM ends, and the console: reset, signals,
# timeout, console input, and the terminal restored after raw mode.
source "$(dirname "$0")/lib.sh"

# A guest reset through the i8042 ends the VM cleanly with status 0.
i8042_reset() {
	boot reset --kernel "$BZ" --cmdline "test=reset"
	want_status 0 && want_output "reset: pulsing the i8042 reset line" &&
		[ "$(stat .stop_reason)" = reset ] || fail "stop_reason $(stat .stop_reason)"
}

# Bytes on vireo's stdin reach the guest's UART, in order, none lost.
console_input() {
	out=$tmp/echo.out json=$tmp/echo.json
	printf 'vireo-console' | "$VIREO" run --quiet --timeout "$TIMEOUT" --stats-json "$json" \
		--debug-exit --kernel "$BZ" --cmdline "test=echo count=13" >"$out" 2>"$tmp/echo.err"
	status=$?
	cp "$out" "$logdir/echo.out"
	want_success && want_output "echo: vireo-console"
}

# Start a guest that runs for a long time; wait until it is up.
start_long_guest() {
	out=$tmp/$1.out json=$tmp/$1.json
	"$VIREO" run --quiet --stats-json "$json" --debug-exit --kernel "$BZ" \
		--cmdline "test=timer count=100000000 timeout_ms=600000" </dev/null >"$out" 2>"$tmp/$1.err" &
	pid=$!
	for _ in $(seq 600); do
		grep -q "tsc_khz=" "$out" && return 0
		sleep 0.1
	done
	kill -KILL "$pid"
	fail "guest did not come up in 60 s"
}

# SIGTERM stops the VM: status 128 + 15, and the report is still written.
sigterm() {
	start_long_guest sigterm || return 1
	kill -TERM "$pid"
	wait "$pid"
	status=$?
	want_status 143 && [ "$(stat .stop_reason)" = signal ] || fail "stop_reason $(stat .stop_reason)"
}

timeout_stops() {
	boot timeout --kernel "$BZ" --timeout 3 --cmdline "test=timer count=100000000 timeout_ms=600000"
	want_status 124 && [ "$(stat .stop_reason)" = timeout ] || fail "stop_reason $(stat .stop_reason)"
}

# A reader that stops reading vireo's stdout must not freeze it: console
# output is buffered (bounded), the rest dropped and counted, and --timeout
# still stops the VM on time. stdout is a 4 KiB pipe nobody reads while the
# guest prints far more than that plus the 64 KiB buffer could hold.
stalled_stdout() {
	out=$tmp/stalled.out json=$tmp/stalled.json
	rm -f "$json"
	python3 - "$VIREO" "$BZ" "$json" <<'PY' >"$out" 2>&1 || fail "$(tail -n 3 "$out")"
import fcntl, os, subprocess, sys, time
vireo, image, stats = sys.argv[1:4]
r, w = os.pipe()
fcntl.fcntl(w, 1031, 4096)  # F_SETPIPE_SZ: the smallest pipe, filled at once
t0 = time.monotonic()
p = subprocess.Popen([vireo, "run", "--quiet", "--timeout", "5", "--stats-json", stats,
                      "--kernel", image, "--cmdline", "test=hello count=1000000"],
                     stdin=subprocess.DEVNULL, stdout=w, stderr=subprocess.DEVNULL)
os.close(w)
try:
    status = p.wait(timeout=30)
except subprocess.TimeoutExpired:
    p.kill()
    p.wait()
    sys.exit("vireo still ran 30 s after it started with --timeout 5 (stdout not read)")
took = time.monotonic() - t0
assert status == 124, "exit status %d, want 124 (--timeout)" % status
assert took < 15, "vireo took %.1f s to stop after --timeout 5" % took
print("stopped after %.1f s" % took)
PY
	[ "$case_failed" -eq 0 ] || return 1
	cp "$out" "$logdir/stalled.out"
	[ -f "$json" ] && cp "$json" "$logdir/stalled.json"
	[ "$(stat .stop_reason)" = timeout ] || fail "stop_reason $(stat .stop_reason)"
	want_stat .serial.tx_dropped -gt 0 && want_stat .serial.tx_bytes -gt 4096
}

# On a terminal: raw mode while running, Ctrl-A x quits, settings restored.
terminal() {
	python3 - "$VIREO" "$BZ" "$tmp/tty.json" <<'PY' >"$tmp/tty.out" 2>&1 || fail "$(tail -n 3 "$tmp/tty.out")"
import os, pty, select, subprocess, sys, termios, time
vireo, image, stats = sys.argv[1:4]
master, slave = pty.openpty()
before = termios.tcgetattr(slave)
p = subprocess.Popen([vireo, "run", "--quiet", "--stats-json", stats, "--kernel", image,
                      "--cmdline", "test=timer count=100000000 timeout_ms=600000"],
                     stdin=slave, stdout=slave, stderr=subprocess.DEVNULL)
seen, deadline = b"", time.time() + 60
while b"tsc_khz=" not in seen and time.time() < deadline:
    if select.select([master], [], [], 1)[0]:
        seen += os.read(master, 4096)
assert b"tsc_khz=" in seen, "guest did not come up: %r" % seen[-200:]
during = termios.tcgetattr(slave)
assert during[3] & termios.ICANON == 0, "terminal not in raw mode while running"
os.write(master, b"\x01x")
status = p.wait(timeout=60)
after = termios.tcgetattr(slave)
assert status == 0, "Ctrl-A x: exit status %d" % status
assert after == before, "terminal settings not restored"
print("terminal ok")
PY
	json=$tmp/tty.json
	[ "$case_failed" -eq 0 ] && { [ "$(stat .stop_reason)" = console-quit ] || fail "stop_reason $(stat .stop_reason)"; }
}

case_run "i8042 reset ends the VM with status 0" i8042_reset
case_run "console input reaches the guest" console_input
case_run "a stdout nobody reads: output dropped and counted, --timeout still stops" stalled_stdout
case_run "SIGTERM stops the VM and writes the report" sigterm
case_run "--timeout stops the VM with 124" timeout_stops
case_run "raw terminal, Ctrl-A x, terminal restored" terminal
