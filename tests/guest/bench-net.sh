#!/usr/bin/env bash
# tests/guest/bench-net.sh -- a tiny bench/net (one run, tiny counts): the
# JSON has every row and the fields docs/bench-net.md names, vireo's rows
# have figures, and a QEMU that cannot run gives rows that say why instead of
# a failure. No assertion about time.
source "$(dirname "$0")/lib.sh"

# bench_net NAME ARGS...: run bench/net --tiny into $tmp/NAME; sets $json.
# Returns 2 (after a SKIP) when no tap can be made here. --no-trace: turning
# the kvm_userspace_exit tracepoint on patches kernel text on every CPU, and
# under QEMU TCG that has locked up the emulated machine (a soft lockup in
# text_poke's IPIs); the fields are checked, not the tracer.
bench_net() {
	local name=$1 dir=$tmp/$1 rc
	shift
	mkdir -p "$dir"
	VIREO=$VIREO bench/net --tiny --no-build --no-trace --out "$dir" "$@" \
		>"$logdir/$name.out" 2>"$logdir/$name.err"
	rc=$?
	json=$dir/net-latest.json
	[ -f "$json" ] && cp "$json" "$logdir/$name.json"
	if [ "$rc" -eq 2 ] && grep -q "cannot create a tap" "$logdir/$name.err"; then
		skip "$(grep -m1 'cannot create a tap' "$logdir/$name.err")"
		return 2
	fi
	[ "$rc" -eq 0 ] || { fail "bench/net $* exited $rc: $(tail -n 3 "$logdir/$name.err" | tr '\n' ' ')"; return 1; }
	[ -s "$json" ] || { fail "no $json"; return 1; }
}

# want_rows N VMM...: N rows, each with the common fields; each VMM named has
# a row per workload.
want_rows() {
	local n=$1 rows f v
	shift
	rows=$(stat '.rows | length')
	[ "$rows" -eq "$n" ] || { fail "$rows rows, want $n"; return 1; }
	for f in workload vmm available pps gbps cpu_us_per_packet exits_per_packet; do
		[ "$(stat "[.rows[] | has(\"$f\")] | all")" = true ] || { fail "a row lacks $f"; return 1; }
	done
	for v in "$@"; do
		[ "$(stat "[.rows[] | select(.vmm == \"$v\")] | length")" -gt 0 ] || { fail "no $v rows"; return 1; }
	done
	[ -n "$(stat .host)" ] && [ "$(stat .host)" != null ] || { fail "no host kind in the JSON"; return 1; }
}

# Every available row has figures; vireo's rows are all available.
want_figures() {
	local f
	[ "$(stat '[.rows[] | select(.vmm == "vireo") | .available] | all')" = true ] ||
		{ fail "a vireo row is not available: $(stat '[.rows[] | select(.available | not) | .workload] | @text')"; return 1; }
	for f in pps cpu_us_per_packet notifications_per_packet interrupts_per_packet packets runs; do
		[ "$(stat "[.rows[] | select(.available) | .$f | type == \"number\"] | all")" = true ] ||
			{ fail "an available row has no number for $f"; return 1; }
	done
	for f in exits_per_packet userspace_exits_per_packet offered_pps rtt_us; do
		[ "$(stat "[.rows[] | select(.available) | has(\"$f\")] | all")" = true ] ||
			{ fail "an available row lacks $f"; return 1; }
	done
	jq -e '[.rows[] | select(.available) | .pps > 0] | all' "$json" >/dev/null ||
		{ fail "a row with pps 0"; return 1; }
	jq -e '[.rows[] | select(.available and .workload == "echo 64B") | .rtt_us > 0] | all' "$json" >/dev/null ||
		{ fail "echo without a round-trip time"; return 1; }
	jq -e '[.rows[] | select(.available and (.workload | startswith("tx TSO"))) | .gbps > 0] | all' "$json" >/dev/null ||
		{ fail "TSO row without Gbit/s"; return 1; }
	jq -e '[.rows[] | select(.available and (.workload | startswith("rx"))) | .offered_pps > 0] | all' "$json" >/dev/null ||
		fail "an RX row without the sender's offered rate"
}

# vireo alone, every workload.
bench_net_vireo() {
	bench_net bench-net-vireo --vmm vireo || return 1
	want_rows 7 vireo && want_figures
}

# Both VMMs on one workload: QEMU's row has figures, or says why it has none.
bench_net_both() {
	bench_net bench-net-both --only tx-64B || return 1
	want_rows 2 vireo QEMU && want_figures || return 1
	jq -e '.rows[] | select(.vmm == "QEMU") | .available or (.why | type == "string" and length > 0)' \
		"$json" >/dev/null || { fail "QEMU row neither available nor explained"; return 1; }
	if [ "$(stat '.rows[] | select(.vmm == "QEMU") | .available')" = true ]; then
		jq -e '.goal.rows[0] | (.pps_goal == "met" or .pps_goal == "not met") and
			(.cpu_goal == "met" or .cpu_goal == "not met" or .cpu_goal == "n/a")' "$json" >/dev/null ||
			fail "no goal verdict: $(stat '.goal | @text')"
	fi
}

# No QEMU at all: its rows say so, and the run still succeeds.
bench_net_no_qemu() {
	QEMU=/nonexistent/qemu-system-x86_64 bench_net bench-net-noqemu --only tx-64B,echo-64B || return 1
	want_rows 4 vireo QEMU && want_figures || return 1
	jq -e '[.rows[] | select(.vmm == "QEMU") | (.available | not) and (.why | test("not found"))] | all' \
		"$json" >/dev/null || fail "QEMU rows: $(stat '[.rows[] | select(.vmm == "QEMU") | [.available, .why]] | @text')"
}

case_run "bench/net --tiny: vireo, every workload's row and field" bench_net_vireo
case_run "bench/net --tiny: vireo and QEMU side by side (or QEMU's reason)" bench_net_both
case_run "bench/net --tiny: without QEMU, rows that say so" bench_net_no_qemu
