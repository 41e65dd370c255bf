#!/usr/bin/env bash
# tests/guest/workloads.sh -- boot the test guest and assert its output and
# its exact exit counts (from --stats-json). Counts are portable: a PIO write
# is one exit on every KVM, whatever the host's speed.
source "$(dirname "$0")/lib.sh"

hello_bzimage() {
	boot hello-bz --kernel "$BZ" --cmdline "console=ttyS0 test=hello"
	want_success && want_output "Hello from the vireo test guest" &&
		want_output "boot=bzimage" && want_output "RESULT test=hello ops=1" &&
		[ "$(stat .boot.protocol)" = bzimage ] || fail "protocol $(stat .boot.protocol)"
}

hello_pvh() {
	boot hello-pvh --kernel "$ELF" --cmdline "console=ttyS0 test=hello"
	want_success && want_output "boot=pvh" && want_output "RESULT test=hello ops=1" &&
		[ "$(stat .boot.protocol)" = pvh ] || fail "protocol $(stat .boot.protocol)"
}

# The boot MSRs (one KVM_SET_MSRS for all): MTRRs on with write-back
# default, fast strings; the rest as the guest's CPL0 gate left them.
boot_msrs() {
	boot msrs --kernel "$ELF" --cmdline "test=msrs"
	want_success && want_output "RESULT test=msrs " || return 1
	[ "$(result_field msrs mtrr_def_type)" = 0x806 ] ||
		{ fail "MTRRdefType $(result_field msrs mtrr_def_type), want 0x806"; return 1; }
	[ $(($(result_field msrs misc_enable) & 1)) -eq 1 ] ||
		fail "IA32_MISC_ENABLE $(result_field msrs misc_enable): fast strings off"
}

# The guest writes the boot-timer port once, first thing.
boot_timer() {
	boot boot-timer --kernel "$BZ" --cmdline "test=hello"
	want_success && want_stat '.boot.first_instruction_us' -gt 0 &&
		want_stat '.pio["0x4f4"].exits' -eq 1
}

# 100000 writes to the test port: exactly 100000 userspace exits on it.
pio_exact() {
	boot pio --kernel "$BZ" --cmdline "test=pio count=100000"
	want_success && want_output "RESULT test=pio ops=100000" &&
		want_stat '.pio["0x4f0"].exits' -eq 100000
}

# Port 0x80 is swallowed by an ioeventfd: zero userspace exits, all counted in KVM.
quiet_pio() {
	boot quiet-pio --kernel "$BZ" --cmdline "test=quiet-pio count=20000"
	want_success && want_stat '.pio["0x80"].exits' -eq 0 &&
		want_stat '.pio["0x80"].in_kernel' -eq 20000 &&
		[ "$(stat .optimizations.ioeventfd)" = true ] || fail "ioeventfd not active"
}

# ... and with the optimization switched off, every write is an exit again.
quiet_pio_off() {
	boot quiet-pio-off --kernel "$BZ" --no-ioeventfd --cmdline "test=quiet-pio count=20000"
	want_success && want_stat '.pio["0x80"].exits' -eq 20000 &&
		[ "$(stat .optimizations.ioeventfd)" = false ] || fail "ioeventfd still reported active"
}

# kvmclock reads come from shared memory: no exit per read. 100000 reads
# produce no more userspace exits than 1000 reads beyond the serial output.
kvmclock() {
	local few many
	boot kvmclock-few --kernel "$BZ" --cmdline "test=kvmclock count=1000"
	want_success || return 1
	few=$(stat '.exits.io - .pio["0x3f8"].exits + (.exits.mmio // 0)')
	boot kvmclock --kernel "$BZ" --cmdline "test=kvmclock count=100000"
	want_success && want_output "RESULT test=kvmclock ops=100000" || return 1
	many=$(stat '.exits.io - .pio["0x3f8"].exits + (.exits.mmio // 0)')
	[ "$few" -eq "$many" ] || fail "non-serial userspace exits grew from $few to $many with 99000 more reads"
	# KVM's own exit counter cannot have one exit per read either.
	want_stat '.kvm.exits' -lt 50000
	[ "$(result_field kvmclock errors)" = 0 ] || fail "time went backwards"
}

# The guest sees the CPUID vireo set: with kvmclock switched off it finds
# none, on every host (CPL3's CPUID goes through the gate, see guest.h).
kvmclock_off() {
	boot kvmclock-off --kernel "$BZ" --no-kvmclock --cmdline "test=kvmclock count=1000"
	want_status 3 && want_output "FAIL: no kvmclock"
}

timer() {
	boot timer --kernel "$BZ" --cmdline "test=timer count=50"
	want_success && [ "$(result_field timer ticks)" -ge 50 ] || fail "ticks $(result_field timer ticks)"
	[ "$(result_field timer mode)" = periodic ] || fail "default mode $(result_field timer mode), want periodic"
	want_stat '.kvm.irq_injections' -ge 50
}

# want_timer MODE COUNT: the last boot ran the timer in MODE and, re-armed
# once per tick, took exactly COUNT ticks, each an injected interrupt.
want_timer() {
	want_success && [ "$(result_field timer mode)" = "$1" ] ||
		{ fail "mode $(result_field timer mode), want $1"; return 1; }
	[ "$(result_field timer ticks)" -eq "$2" ] || { fail "ticks $(result_field timer ticks), want $2"; return 1; }
	want_stat '.kvm.irq_injections' -ge "$2"
}

# The stats say whether KVM offers TSC-deadline at all (vireo reports a
# feature KVM lacks as false): only then can the guest be asked for it.
tsc_deadline_offered() {
	boot tsc-deadline-probe --kernel "$BZ" --cmdline "test=hello"
	want_success || return 1
	[ "$(stat '.optimizations["tsc-deadline"]')" = true ] ||
		skip "KVM does not offer the TSC-deadline timer here (optimizations.tsc-deadline false)"
}

# mode=deadline: IA32_TSC_DEADLINE written once per tick.
timer_deadline() {
	tsc_deadline_offered || return 1
	boot timer-deadline --kernel "$BZ" --cmdline "test=timer count=50 period_us=500 mode=deadline"
	want_timer deadline 50
}

# Without TSC-deadline in CPUID, mode=deadline stops at once with a usage
# error (status (2 << 1) | 1) instead of waiting for a timer that never fires.
timer_deadline_refused() {
	boot timer-deadline-off --kernel "$BZ" --no-tsc-deadline \
		--cmdline "test=timer count=50 mode=deadline"
	want_status 5 && want_output "FAIL: timer: mode=deadline needs the TSC-deadline timer" || return 1
	! grep -q '^RESULT test=timer' "$out" || fail "a RESULT line after the refusal"
}

# Userspace exits other than the serial port's, in the last boot.
non_serial_exits() {
	stat '([.exits[]] | add) - .pio["0x3f8"].exits'
}

# timer_auto_exits MODE ARGS...: mode=auto runs MODE (deadline with
# TSC-deadline, oneshot without: what Linux picks), and its re-arming is
# handled in KVM's LAPIC: 200 ticks cost no more userspace exits than 10.
timer_auto_exits() {
	local mode=$1 few
	shift
	boot "timer-auto-$mode-few" --kernel "$BZ" "$@" --cmdline "test=timer count=10 period_us=500 mode=auto"
	want_timer "$mode" 10 || return 1
	few=$(non_serial_exits)
	[[ "$few" =~ ^[0-9]+$ ]] || { fail "non-serial userspace exits '$few'"; return 1; }
	boot "timer-auto-$mode" --kernel "$BZ" "$@" --cmdline "test=timer count=200 period_us=500 mode=auto"
	want_timer "$mode" 200 || return 1
	[ "$(non_serial_exits)" -eq "$few" ] ||
		fail "non-serial userspace exits grew from $few to $(non_serial_exits) with 190 more ticks"
}
timer_auto_deadline() {
	tsc_deadline_offered && timer_auto_exits deadline
}
timer_auto_oneshot() { timer_auto_exits oneshot --no-tsc-deadline; }

# The CPL3 -> CPL0 gate and CPL3 port I/O on every KVM: int $0x80 works
# (as a gate, or as #UD where a KVM runs CPL3 natively: PVM), ud_isr's path
# is taken either way, and with IOPL 0 the TSS I/O bitmap alone lets the
# 1000 test-port writes through, one exit each.
gate() {
	local via ud
	boot gate --kernel "$BZ" --cmdline "test=gate count=1000"
	want_success && want_output "RESULT test=gate ops=1000 " &&
		want_stat '.pio["0x4f0"].exits' -eq 1000 || return 1
	via=$(result_field gate int80) ud=$(result_field gate ud_entries)
	case $via in
	gate) [ "$ud" -eq 1 ] || fail "int \$6 took ud_isr's path $ud times, want 1" ;;
	ud) [ "$ud" -ge 1000 ] || fail "only $ud of 1000+ int \$0x80s came through #UD" ;;
	*) fail "int80=$via" ;;
	esac
}

smp_n() {
	local n=$1 i
	boot "smp-$n" --kernel "$BZ" --cpus "$n" --cmdline "test=smp"
	want_success && want_output "RESULT test=smp ops=$n " && want_output "cpus=$n " || return 1
	for ((i = 1; i < n; i++)); do
		want_output "AP $i up" || return 1
	done
	[ "$(stat .vcpus)" -eq "$n" ] || fail "stats report $(stat .vcpus) vCPUs"
}
smp_1() { smp_n 1; }
smp_2() { smp_n 2; }
smp_4() { smp_n 4; }

smp_pvh() {
	boot smp-pvh --kernel "$ELF" --cpus 2 --cmdline "test=smp"
	want_success && want_output "RESULT test=smp ops=2 "
}

# The guest's exit code reaches the shell as (code << 1) | 1.
debug_exit_status() {
	boot bad-test --kernel "$BZ" --cmdline "test=no-such-test"
	want_output "FAIL" && [ "$status" -ne 1 ] && [ $((status & 1)) -eq 1 ] ||
		fail "status $status"
	[ "$(stat .stop_reason)" = debug-exit ] || fail "stop_reason $(stat .stop_reason)"
	[ "$(stat .exit_status)" -eq "$status" ] || fail "JSON exit_status differs"
}

# Without --debug-exit the port is not there: the guest's write is a stray
# exit, the guest halts, and only --timeout ends the VM.
no_debug_exit() {
	NO_DEBUG_EXIT=1 boot no-debug-exit --kernel "$BZ" --timeout 3 --cmdline "test=hello"
	want_status 124 && want_output "SUCCESS" &&
		[ "$(stat .stop_reason)" = timeout ] || fail "stop_reason $(stat .stop_reason)"
	[ "$(stat '.pio["0xf4"].name')" = unassigned ] || fail "port 0xf4 is $(stat '.pio["0xf4"].name')"
	want_stat '.pio["0xf4"].exits' -eq 1
}

# The CMOS clock is the host's UTC time, read on a vCPU under the sandbox
# (glibc's first gmtime_r() opens /etc/localtime: that must be done before).
rtc_host_time() {
	local got host
	boot rtc --kernel "$BZ" --cmdline "test=rtc"
	want_success || return 1
	got=$(sed -n 's/^rtc: //p' "$out" | tr -d '\r')
	host=$(date -u +%s)
	got=$(date -u -d "$got" +%s 2>/dev/null) || { fail "guest read '$got'"; return 1; }
	[ $((host - got)) -ge 0 ] && [ $((host - got)) -le 120 ] ||
		fail "guest's clock $got is $((host - got)) s from the host's"
}

# vireo's e820 map in the test guest's "memmap:" format.
e820_lines() {
	python3 -c 'import json, sys
for e in json.load(open(sys.argv[1]))["boot"]["e820"]:
    print("memmap: 0x%016x-0x%016x type %u" % (e["addr"], e["addr"] + e["size"] - 1, e["type"]))' "$1"
}

# The guest sees exactly the RAM of the e820 map vireo built, below and above the hole.
e820_matches() {
	local name=$1 kernel=$2 mem=$3 want_kib
	boot "$name" --kernel "$kernel" --mem "$mem" --cmdline "test=hello verbose=1"
	want_success || return 1
	want_kib=$(stat '[.boot["e820"][] | select(.type == 1) | .size] | add / 1024')
	want_output "KiB RAM" && grep -q "memmap: .* entries, $want_kib KiB RAM" "$out" ||
		fail "guest saw $(grep 'KiB RAM' "$out"), vireo built $want_kib KiB"
	diff <(grep '^memmap: 0x' "$out" | tr -d '\r') <(e820_lines "$json") >/dev/null ||
		fail "guest memmap differs from vireo's e820"
}
e820_small_bz() { e820_matches e820-64m-bz "$BZ" 64M; }
e820_hole_bz() { e820_matches e820-3500m-bz "$BZ" 3500M; }
e820_hole_pvh() { e820_matches e820-3500m-pvh "$ELF" 3500M; }

# Every optimization switch shows up as really off in the stats.
switches() {
	boot switches --kernel "$BZ" --no-hugepages --no-kvmclock --no-pv-eoi --prefault \
		--cmdline "test=hello"
	want_success || return 1
	[ "$(stat '.optimizations | [.hugepages, .kvmclock, .["pv-eoi"], .prefault] | map(tostring) | join(",")')" = "false,false,false,true" ] ||
		fail "optimizations $(jq -c .optimizations "$json")"
}

# TSC calibration against PIT channel 2 polls port 0x61: KVM answers it in
# the kernel (KVM_PIT_SPEAKER_DUMMY), so no poll reaches userspace.
pit_in_kernel() {
	boot pit --kernel "$BZ" --cmdline "test=hello tsc=pit"
	want_success && want_output "via=pit" &&
		[ "$(stat '.pio["0x61"].exits // 0')" -eq 0 ] || fail "port 0x61 exited $(stat '.pio["0x61"].exits') times"
}

# Every exit that reached userspace is attributed: the per-port counts add
# up to the io exit count.
accounting_adds_up() {
	boot accounting --kernel "$BZ" --cpus 2 --cmdline "test=pio,smp count=1000"
	want_success || return 1
	[ "$(stat '[.pio[].exits] | add')" -eq "$(stat '.exits.io')" ] ||
		fail "per-port sum $(stat '[.pio[].exits] | add') != io exits $(stat .exits.io)"
	[ "$(stat '.exits_per_vcpu | add')" -eq "$(stat '[.exits[]] | add')" ] ||
		fail "per-vCPU sum differs from per-reason sum"
}

case_run "hello (bzImage, 64-bit entry)" hello_bzimage
case_run "hello (PVH ELF)" hello_pvh
case_run "boot timer records the first instruction" boot_timer
case_run "boot MSRs: MTRRs write-back, fast strings (one KVM_SET_MSRS)" boot_msrs
case_run "pio count=100000 gives 100000 exits on 0x4f0" pio_exact
case_run "quiet-pio: zero userspace exits on 0x80" quiet_pio
case_run "quiet-pio --no-ioeventfd: one exit per write" quiet_pio_off
case_run "kvmclock: no exits per read" kvmclock
case_run "kvmclock: --no-kvmclock hides it from the guest's CPUID" kvmclock_off
case_run "timer: LAPIC timer interrupts arrive" timer
case_run "timer mode=deadline: one IA32_TSC_DEADLINE write a tick, ticks == count" timer_deadline
case_run "timer mode=deadline --no-tsc-deadline: refused with a usage error" timer_deadline_refused
case_run "timer mode=auto: TSC-deadline, no userspace exit per tick" timer_auto_deadline
case_run "timer mode=auto --no-tsc-deadline: oneshot, no userspace exit per tick" timer_auto_oneshot
case_run "gate: int \$0x80 and its #UD path, port I/O through the TSS bitmap" gate
case_run "smp with 1 vCPU" smp_1
case_run "smp with 2 vCPUs" smp_2
case_run "smp with 4 vCPUs" smp_4
case_run "smp through PVH" smp_pvh
case_run "debug-exit status propagates" debug_exit_status
case_run "no debug-exit port without --debug-exit" no_debug_exit
case_run "CMOS RTC: the host's UTC time, read under the sandbox" rtc_host_time
case_run "e820: 64M bzImage guest sees vireo's map" e820_small_bz
case_run "e820: 3500M bzImage guest spans the hole" e820_hole_bz
case_run "e820: 3500M PVH guest spans the hole" e820_hole_pvh
case_run "optimization switches are honoured" switches
case_run "PIT channel 2 polling stays in KVM" pit_in_kernel
case_run "exit accounting adds up" accounting_adds_up
