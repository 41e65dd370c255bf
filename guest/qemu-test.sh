#!/bin/sh
# SPDX-License-Identifier: MIT
#
# qemu-test.sh -- boot the test guest under QEMU (TCG, or KVM with
# QEMU_ACCEL=kvm) and check every workload: exit status and output lines.
#
#   guest/qemu-test.sh [ELF]      (default build/guest/test-guest.elf)
#
# BOOT=pvh (default) boots the ELF through its PVH note. BOOT=bzimage boots
# build/guest/test-guest.bzImage through its 64-bit entry, BOOT=bzimage32
# through its 32-bit entry, both with the test loader build/guest/bzshim.elf
# (QEMU cannot enter a bzImage at +0x200 itself).
#
# Environment: QEMU (default qemu-system-x86_64), QEMU_ACCEL (default tcg),
# TIMEOUT seconds per case (default 120), VERBOSE=1 prints each guest's output.
# Exit status 0 when every case passed. Skips (status 77) without QEMU.

ELF=${1:-build/guest/test-guest.elf}
QEMU=${QEMU:-qemu-system-x86_64}
ACCEL=${QEMU_ACCEL:-tcg}
TIMEOUT=${TIMEOUT:-120}
BOOT=${BOOT:-pvh}
BZIMAGE=${BZIMAGE:-build/guest/test-guest.bzImage}
BZSHIM=${BZSHIM:-build/guest/bzshim.elf}

if ! command -v "$QEMU" >/dev/null 2>&1; then
	echo "SKIP: $QEMU not found"
	exit 77
fi
case $BOOT in
pvh) set -- -kernel "$ELF"; extra= ;;
bzimage) set -- -kernel "$BZSHIM" -initrd "$BZIMAGE"; extra= ;;
bzimage32) set -- -kernel "$BZSHIM" -initrd "$BZIMAGE"; extra=" bzshim=32" ;;
*) echo "BOOT must be pvh, bzimage or bzimage32" >&2; exit 2 ;;
esac
for f in "$@"; do
	case $f in -*) continue ;; esac
	if [ ! -f "$f" ]; then
		echo "no $f (make guest guest-bzshim)" >&2
		exit 2
	fi
done
KERNEL_ARGS="$*"
echo "boot=$BOOT accel=$ACCEL: $KERNEL_ARGS"

pass=0
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

now_ms() {
	date +%s%3N
}

# SeaBIOS's MP table lists only the first logical CPU of each package, so the
# MP-table smp cases give QEMU one CPU per socket.
#
# run NAME SMP WANT_STATUS CMDLINE PATTERN... : every PATTERN (grep -E) must match.
run() {
	name=$1 smp=$2 want=$3 cmdline=$4
	shift 4
	t0=$(now_ms)
	timeout "$TIMEOUT" "$QEMU" -accel "$ACCEL" -machine pc -cpu max -m 256 -smp "$smp" \
		-nographic -no-reboot -serial stdio -monitor none -display none \
		-device isa-debug-exit,iobase=0xf4,iosize=0x01 \
		$KERNEL_ARGS -append "$cmdline$extra" </dev/null >"$out" 2>&1
	status=$?
	ms=$(($(now_ms) - t0))
	ok=1
	[ "$status" -eq "$want" ] || ok=0
	for pat in "boot=$BOOT " "$@"; do
		grep -Eq -- "$pat" "$out" || {
			ok=0
			echo "  missing: $pat"
		}
	done
	if [ "$ok" -eq 1 ]; then
		pass=$((pass + 1))
		printf 'PASS %-28s status=%s %6d ms  %s\n' "$name" "$status" "$ms" \
			"$(grep -E '^(RESULT|FAIL)' "$out" | head -1)"
	else
		failed=$((failed + 1))
		printf 'FAIL %-28s status=%s (want %s) %d ms\n' "$name" "$status" "$want" "$ms"
		sed 's/^/  | /' "$out" | tr -d '\033' | tail -20
	fi
	[ -n "$VERBOSE" ] && tr -d '\033' <"$out" | sed 's/^/  > /'
}

run hello 1 1 "test=hello" \
	'^Hello from the vireo test guest$' '^RESULT test=hello ops=1 ns=[0-9]+ errors=0' '^SUCCESS$'
run "pio count=1000" 1 1 "test=pio count=1000" \
	'^RESULT test=pio ops=1000 ns=[0-9]+ errors=0' '^SUCCESS$'
run quiet-pio 1 1 "test=quiet-pio" \
	'^RESULT test=quiet-pio ops=1000 ns=[0-9]+ errors=0' '^SUCCESS$'
run timer 1 1 "test=timer" \
	'^RESULT test=timer ops=50 ns=[0-9]+ errors=0 ticks=[0-9]+' '^SUCCESS$'
run "timer wait=spin" 1 1 "test=timer wait=spin count=20" \
	'^RESULT test=timer ops=20 ns=[0-9]+ errors=0 ticks=[0-9]+' '^SUCCESS$'
run "smp -smp 1" 1 1 "test=smp" \
	'^RESULT test=smp ops=1 ns=[0-9]+ errors=0 cpus=1 source=mptable' '^SUCCESS$'
run "smp -smp 2,sockets=2" 2,sockets=2 1 "test=smp" \
	'^AP 1 up apic_id=[0-9]+$' \
	'^RESULT test=smp ops=2 ns=[0-9]+ errors=0 cpus=2 source=mptable' '^SUCCESS$'
run "smp -smp 4,sockets=4" 4,sockets=4 1 "test=smp" \
	'^AP 3 up apic_id=[0-9]+$' \
	'^RESULT test=smp ops=4 ns=[0-9]+ errors=0 cpus=4 source=mptable' '^SUCCESS$'
run "smp -smp 4 cpus=4" 4 1 "test=smp cpus=4" \
	'^RESULT test=smp ops=4 ns=[0-9]+ errors=0 cpus=4 source=cmdline' '^SUCCESS$'
run "smp -smp 2 cpus=3 (missing)" 2 3 "test=smp cpus=3 timeout_ms=500" \
	'^RESULT test=smp ops=2 ns=[0-9]+ errors=1 cpus=3' '^FAIL: smp: 1 of 3 cpus did not check in$'
if [ "$ACCEL" = kvm ]; then
	run kvmclock 1 1 "test=kvmclock" \
		'^RESULT test=kvmclock ops=100000 ns=[0-9]+ errors=0' '^SUCCESS$'
else
	run "kvmclock (none on TCG)" 1 3 "test=kvmclock" '^FAIL: no kvmclock$'
fi
run "hello,pio,timer" 2 1 "test=hello,pio,timer count=10" \
	'^RESULT test=hello ' '^RESULT test=pio ops=10 ' '^RESULT test=timer ops=10 ' '^SUCCESS$'
run "tsc=pit" 1 1 "test=hello tsc=pit" 'via=pit$' '^SUCCESS$'
run "trap (ud2 at CPL3)" 1 7 "test=trap" \
	'^FAIL: CPU exception vector=6 \(#UD\) error=0x0 rip=0x[0-9a-f]+ cs=0x33 '
run "reset (i8042)" 1 0 "test=reset" '^reset: pulsing the i8042 reset line'
run "unknown test" 1 5 "test=nosuch" '^FAIL: unknown test nosuch$'
run "no test" 1 5 "console=ttyS0" '^FAIL: no test= on the command line$'
run "bad number" 1 5 "test=pio count=12x" '^FAIL: bad value for count'

echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
