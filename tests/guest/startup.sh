#!/usr/bin/env bash
# tests/guest/startup.sh -- start-up and teardown (issue 11): --no-pit and
# what a guest finds without the PIT, the keeper that lets KVM destroy the
# VM after vireo's exit, and bench/startup's programs. Counts and behaviour
# only, never time.
source "$(dirname "$0")/lib.sh"

BENCH_GUEST=build/bench/startup-guest.elf
BARE=build/bench/startup-bare

# --no-pit: reported off, and the test guest (kvmclock, LAPIC timer) boots
# without touching the PIT's ports; with the PIT they are not userspace's.
no_pit_boots() {
	boot no-pit-hello --kernel "$BZ" --no-pit --cmdline "test=hello"
	want_success && [ "$(stat .optimizations.pit)" = false ] ||
		{ fail "optimizations.pit is $(stat .optimizations.pit), want false"; return 1; }
	want_stat '.pio["0x40"].exits' -eq 0 && want_stat '.pio["0x61"].exits' -eq 0 || return 1
	[ "$(stat '.pio["0x40"].name')" = no-pit ] || { fail "0x40 is $(stat '.pio["0x40"].name')"; return 1; }
	boot pit-hello --kernel "$BZ" --cmdline "test=hello"
	want_success && [ "$(stat .optimizations.pit)" = true ] ||
		{ fail "optimizations.pit is $(stat .optimizations.pit) by default, want true"; return 1; }
	[ "$(stat '.pio["0x40"]')" = null ] || fail "PIT ports in userspace with the PIT on"
}

# The PIT clock workload: latch + two reads a read. Without the PIT each
# access is one userspace exit on the no-pit ports (exactly 3 per read, plus
# 3 to program channel 2 and 2 on port 0x61), and the clock never moves.
# With it, none of them reaches userspace and the clock moves.
no_pit_reads_counted() {
	local n=1000
	boot no-pit-clock --kernel "$BZ" --no-pit --cmdline "test=clock source=pit count=$n"
	want_success && want_stat '.pio["0x40"].exits' -eq $((3 * n + 3)) &&
		want_stat '.pio["0x61"].exits' -eq 2 || return 1
	[ "$(result_field clock source)" = pit ] && [ "$(result_field clock span_ns)" = 0 ] ||
		{ fail "without a PIT: source $(result_field clock source), span_ns $(result_field clock span_ns), want pit and 0"; return 1; }
	boot pit-clock --kernel "$BZ" --cmdline "test=clock source=pit count=$n"
	want_success && want_stat '.exits.io' -lt "$n" || return 1
	[ "$(result_field clock span_ns)" -gt 0 ] || fail "with the PIT the clock did not move"
}

# tsc=pit without a PIT: channel 2's output is high before it counted, so the
# guest says there is no PIT and stops (EXIT_BOOT, 4: status 9) instead of
# calibrating its TSC to nonsense.
no_pit_tsc_calibration() {
	boot no-pit-tsc --kernel "$BZ" --no-pit --cmdline "test=hello tsc=pit"
	want_status 9 && want_output "tsc: no PIT"
}

# pid of the child of $1 named $2, if any.
child_named() {
	local s
	for s in /proc/[0-9]*/stat; do
		read -r -a f <"$s" 2>/dev/null || continue
		[ "${f[3]:-}" = "$1" ] && [ "${f[1]:-}" = "($2)" ] && echo "${f[0]}" && return 0
	done
	return 1
}

# The keeper: while vireo runs, one child in strict seccomp that holds only
# the VM fd and its socket (so not stdout: a reader sees EOF at vireo's
# exit); when vireo ends, its status and report are as ever and the keeper
# goes too.
keeper() {
	local k fds i
	out=$tmp/keeper.out json=$tmp/keeper.json
	"$VIREO" run --quiet --stats-json "$json" --debug-exit --kernel "$BZ" \
		--cmdline "test=timer count=100000000 timeout_ms=600000" </dev/null >"$out" 2>"$tmp/keeper.err" &
	pid=$!
	for _ in $(seq 600); do
		grep -q "tsc_khz=" "$out" 2>/dev/null && break
		sleep 0.1
	done
	k=$(child_named "$pid" vireo-keeper) || { kill -KILL "$pid"; fail "vireo has no vireo-keeper child"; return 1; }
	grep -Eq "^Seccomp:[[:space:]]+1$" "/proc/$k/status" ||
		{ kill -KILL "$pid"; fail "keeper not in strict seccomp: $(grep ^Seccomp: "/proc/$k/status")"; return 1; }
	fds=$(for i in /proc/"$k"/fd/*; do readlink "$i"; done | sort | tr '\n' ' ')
	[[ "$fds" =~ ^anon_inode:kvm-vm\ socket:\[[0-9]+\]\ $ ]] ||
		{ kill -KILL "$pid"; fail "keeper holds: $fds (want the VM fd and a socket)"; return 1; }
	kill -TERM "$pid"
	wait "$pid"
	status=$?
	want_status 143 && [ "$(stat .stop_reason)" = signal ] || { fail "stop_reason $(stat .stop_reason)"; return 1; }
	for _ in $(seq 100); do
		[ -d "/proc/$k" ] && ! grep -q "^State:[[:space:]]*Z" "/proc/$k/status" 2>/dev/null || return 0
		sleep 0.1
	done
	fail "the keeper still runs 10 s after vireo exited"
}

# bench/startup's guest under vireo: boot-timer, one COM1 byte, debug-exit,
# nothing else.
bench_guest() {
	boot bench-guest --kernel "$BENCH_GUEST"
	want_status 1 && want_output X && want_stat '.exits.io' -eq 3 &&
		want_stat '.pio["0x4f4"].exits' -eq 1 && want_stat '.pio["0x3f8"].exits' -eq 1 &&
		want_stat '.pio["0xf4"].exits' -eq 1 && want_stat '.boot.first_instruction_us' -gt 0
}

# The bench's floor runs the same guest, with and without the PIT.
bench_bare() {
	local flag pit
	for flag in "" --pit; do
		pit=0
		[ -n "$flag" ] && pit=1
		out=$tmp/bare$flag.out
		# shellcheck disable=SC2086
		"$BARE" $flag "$BENCH_GUEST" >"$out" 2>"$tmp/bare.err"
		status=$?
		want_status 1 && want_output X || return 1
		grep -Eq "^startup-bare: first_instruction_us=[1-9][0-9]* .* pit=$pit$" "$tmp/bare.err" ||
			{ fail "startup-bare $flag said: $(cat "$tmp/bare.err")"; return 1; }
	done
}

# bench/startup, one round without QEMU: it runs and writes its JSON.
bench_startup_once() {
	local dir=$tmp/bench
	VIREO=$VIREO bench/startup --runs 1 --no-build --no-qemu --out "$dir" \
		>"$logdir/startup-bench.out" 2>"$logdir/startup-bench.err" ||
		{ fail "bench/startup failed: $(tail -n 3 "$logdir/startup-bench.err" | tr '\n' ' ')"; return 1; }
	json=$dir/startup-latest.json
	cp "$json" "$logdir/startup-bench.json"
	[ "$(stat '[.subjects[].name] | join(",")')" = "vireo,vireo --no-pit,bare,bare --pit" ] ||
		{ fail "subjects: $(stat '[.subjects[].name] | join(",")')"; return 1; }
	[ "$(stat '[.subjects[] | .summary.runs == 1 and .summary.exit_wall_ms.median > 0] | all')" = true ] ||
		fail "a subject lacks its run or its exit wall time"
}

case_run "--no-pit: pit off in the stats, the test guest boots without the PIT" no_pit_boots
case_run "--no-pit: PIT accesses land in userspace, counted exactly; the clock stands still" no_pit_reads_counted
case_run "--no-pit: tsc=pit finds no PIT and says so" no_pit_tsc_calibration
case_run "keeper: strict seccomp, VM fd and socket only; gone after vireo" keeper
case_run "bench/startup's guest: 3 userspace exits, first instruction timed" bench_guest
case_run "bench/startup-bare runs the guest, with and without the PIT" bench_bare
case_run "bench/startup: one round without QEMU" bench_startup_once
