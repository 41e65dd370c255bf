#!/usr/bin/env bash
# tests/guest/ablation.sh -- a tiny bench/ablation (one run, 500 ops) of two
# rows, and the directions that are certain on every KVM:
#  - ioeventfd: a port-0x80 write is no userspace exit with it, exactly one
#    without (quiet-pio);
#  - kvmclock: a clock read costs no exit with it; without, the guest's clock
#    is the PIT (latch + two reads), which costs exits on every read;
#  - tsc-deadline: the timer re-armed every tick runs in TSC-deadline mode
#    with it (where KVM offers it), one-shot without, and neither costs a
#    userspace exit a tick (the LAPIC is KVM's).
# Also checks that the JSON has the schema of docs/ablation.md.
source "$(dirname "$0")/lib.sh"

ablation_tiny() {
	local dir=$tmp/ablation rows
	mkdir -p "$dir"
	VIREO=$VIREO bench/ablation --tiny --no-build --only ioeventfd,kvmclock,tsc-deadline --out "$dir" \
		>"$logdir/ablation.out" 2>"$logdir/ablation.err" ||
		{ fail "bench/ablation failed: $(tail -n 3 "$logdir/ablation.err" | tr '\n' ' ')"; return 1; }
	json=$dir/ablation-latest.json
	cp "$json" "$logdir/ablation.json"
	[ -n "$(stat .host)" ] || { fail "no host in the JSON"; return 1; }
	rows=$(stat '.rows | length')
	[ "$rows" -eq 3 ] || { fail "$rows rows, want 3"; return 1; }
	local f
	for f in optimization technique workload exits_per_op_on exits_per_op_off \
		userspace_exits_per_op_on userspace_exits_per_op_off cpu_us_per_op_on \
		cpu_us_per_op_off ns_per_op_on ns_per_op_off runs; do
		[ "$(stat "[.rows[] | has(\"$f\")] | all")" = true ] || { fail "a row lacks $f"; return 1; }
	done
	# ioeventfd: 0 userspace exits per write on, 1 off
	jq -e '.rows[] | select(.optimization == "ioeventfd") |
		.userspace_exits_per_op_on < 0.1 and .userspace_exits_per_op_off > 0.9 and
		.userspace_exits_per_op_off < 1.1' "$json" >/dev/null ||
		{ fail "ioeventfd: userspace exits/op $(stat '.rows[] | select(.optimization == "ioeventfd") | [.userspace_exits_per_op_on, .userspace_exits_per_op_off] | @text'), want ~0 on, ~1 off"; return 1; }
	# kvmclock: no exit per read on; exits per read off (the PIT)
	jq -e '.rows[] | select(.optimization == "kvmclock") |
		.exits_per_op_on < 0.5 and .exits_per_op_off > 1 and
		.result_on.source == "kvmclock" and .result_off.source == "pit"' "$json" >/dev/null ||
		{ fail "kvmclock: exits/op $(stat '.rows[] | select(.optimization == "kvmclock") | [.exits_per_op_on, .exits_per_op_off, .result_on.source, .result_off.source] | @text'), want < 0.5 on (kvmclock), > 1 off (pit)"; return 1; }
	# tsc-deadline: deadline on (where offered), oneshot off, no userspace exit a tick
	jq -e '.rows[] | select(.optimization == "tsc-deadline") |
		(.result_on.mode == "deadline" or .offered_by_host == false) and
		.result_off.mode == "oneshot" and
		.userspace_exits_per_op_on < 0.1 and .userspace_exits_per_op_off < 0.1' "$json" >/dev/null ||
		{ fail "tsc-deadline: mode and userspace exits/op $(stat '.rows[] | select(.optimization == "tsc-deadline") | [.result_on.mode, .result_off.mode, .userspace_exits_per_op_on, .userspace_exits_per_op_off] | @text'), want deadline and oneshot, < 0.1 both"; return 1; }
	if command -v gnuplot >/dev/null; then
		[ -s "$dir/ablation-latest-exits.png" ] && [ -s "$dir/ablation-latest-cpu.png" ] ||
			fail "no plots"
	fi
}

case_run "bench/ablation --tiny: ioeventfd, kvmclock and tsc-deadline rows, certain directions" ablation_tiny
