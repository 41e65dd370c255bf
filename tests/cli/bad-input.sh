#!/usr/bin/env bash
# tests/cli/bad-input.sh -- bad input gets one clear line and a non-zero exit.
#
# Runs the sanitized build (build/vireo-san): a crash, leak or undefined
# behaviour on any of these paths fails the case. None of these cases needs
# /dev/kvm: vireo checks every input before it opens KVM.
set -u
cd "$(dirname "$0")/../.."
VIREO=${VIREO_SAN:-build/vireo-san}
ELF=build/guest/test-guest.elf
BZ=build/guest/test-guest.bzImage
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
export UBSAN_OPTIONS=halt_on_error=1:exitcode=98

# expect NAME STATUS SUBSTRING -- vireo ARGS...
expect() {
	local name=$1 want=$2 substr=$3
	shift 4
	local err status lines
	err=$("$@" 2>&1 >/dev/null)
	status=$?
	lines=$(printf '%s\n' "$err" | grep -c .)
	if [ "$status" -ne "$want" ]; then
		echo "FAIL: $name: exit status $status, want $want: $err"
	elif [ "$lines" -ne 1 ]; then
		echo "FAIL: $name: want one line on stderr, got $lines: $err"
	elif [[ "$err" != "vireo: "*"$substr"* ]]; then
		echo "FAIL: $name: message '$err' lacks '$substr'"
	else
		echo "PASS: $name"
	fi
}

head -c 3000 "$BZ" >"$tmp/trunc.bzImage"
head -c 200 "$ELF" >"$tmp/trunc-hdr.elf"
head -c 3000 "$ELF" >"$tmp/trunc.elf"
head -c 100000 /dev/urandom >"$tmp/random.bin"
: >"$tmp/empty"
head -c $((40 << 20)) /dev/zero >"$tmp/40M.img"
mkdir "$tmp/dir"
# A bzImage whose protocol is too old for a 64-bit entry (2.11).
cp "$BZ" "$tmp/old.bzImage" && printf '\x0b\x02' | dd of="$tmp/old.bzImage" bs=1 seek=$((0x206)) conv=notrunc status=none
long=$(head -c 5000 /dev/zero | tr '\0' a)

expect "no arguments" 2 "missing command" -- "$VIREO"
expect "unknown command" 2 "unknown command" -- "$VIREO" frobnicate
expect "run without --kernel" 2 "needs --kernel" -- "$VIREO" run
expect "unknown option" 2 "unknown or incomplete option" -- "$VIREO" run --kernel "$ELF" --frob
expect "option missing its value" 2 "unknown or incomplete option" -- "$VIREO" run --kernel
expect "stray argument" 2 "unexpected argument" -- "$VIREO" run --kernel "$ELF" extra
expect "missing kernel" 2 "No such file or directory" -- "$VIREO" run --kernel "$tmp/nope"
expect "kernel is a directory" 2 "Is a directory" -- "$VIREO" run --kernel "$tmp/dir"
expect "empty kernel" 2 "not a kernel" -- "$VIREO" run --kernel "$tmp/empty"
expect "random bytes" 2 "not a kernel" -- "$VIREO" run --kernel "$tmp/random.bin"
expect "text file" 2 "not a kernel" -- "$VIREO" run --kernel /etc/hostname
expect "truncated bzImage" 2 "bzImage truncated" -- "$VIREO" run --kernel "$tmp/trunc.bzImage"
expect "old boot protocol" 2 "too old" -- "$VIREO" run --kernel "$tmp/old.bzImage"
expect "ELF header only" 2 "ELF" -- "$VIREO" run --kernel "$tmp/trunc-hdr.elf"
expect "truncated ELF" 2 "truncated" -- "$VIREO" run --kernel "$tmp/trunc.elf"
expect "ELF without PVH note" 2 "no PVH entry note" -- "$VIREO" run --kernel /bin/true
expect "missing initrd" 2 "initrd" -- "$VIREO" run --kernel "$ELF" --initrd "$tmp/nope"
expect "initrd is a directory" 2 "initrd" -- "$VIREO" run --kernel "$ELF" --initrd "$tmp/dir"
expect "initrd does not fit" 2 "does not fit" -- "$VIREO" run --kernel "$ELF" --mem 32M --initrd "$tmp/40M.img"
expect "command line too long" 2 "accepts at most" -- "$VIREO" run --kernel "$BZ" --cmdline "$long"
expect "--mem garbage" 2 "not a size" -- "$VIREO" run --kernel "$ELF" --mem lots
expect "--mem too small" 2 "too small" -- "$VIREO" run --kernel "$ELF" --mem 8M
expect "--mem absurd" 2 "more than this host" -- "$VIREO" run --kernel "$ELF" --mem 100T
expect "--mem overflow" 2 "not a size" -- "$VIREO" run --kernel "$ELF" --mem 99999999999999999999
expect "--cpus 0" 2 "at least 1" -- "$VIREO" run --kernel "$ELF" --cpus 0
expect "--cpus garbage" 2 "at least 1" -- "$VIREO" run --kernel "$ELF" --cpus two
expect "--cpus beyond the MP table" 2 "at most 254" -- "$VIREO" run --kernel "$ELF" --cpus 300
expect "--timeout 0" 2 "--timeout" -- "$VIREO" run --kernel "$ELF" --timeout 0
expect "--iothreads 0" 2 "1 to 8" -- "$VIREO" run --kernel "$ELF" --iothreads 0
expect "--iothreads 9" 2 "1 to 8" -- "$VIREO" run --kernel "$ELF" --iothreads 9
expect "--uid without --gid" 2 "--uid and --gid go together" -- "$VIREO" run --kernel "$ELF" --uid 65534
expect "--uid by name" 2 "numeric user id" -- "$VIREO" run --kernel "$ELF" --uid nobody --gid 65534
expect "no /dev/kvm" 2 "no such device" -- env VIREO_KVM_DEV="$tmp/kvm-missing" "$VIREO" run --kernel "$ELF"

if [ -e /dev/kvm ]; then
	max=$(python3 -c 'import fcntl,os; fd=os.open("/dev/kvm",os.O_RDWR); print(fcntl.ioctl(fd,0xAE03,66))' 2>/dev/null || echo 0)
	if [ "$max" -gt 0 ] && [ "$max" -lt 254 ]; then
		expect "--cpus beyond KVM" 2 "KVM on this host allows at most" -- "$VIREO" run --kernel "$ELF" --cpus $((max + 1))
	else
		echo "SKIP: --cpus beyond KVM: KVM allows $max vCPUs, more than the MP table's 254"
	fi
else
	echo "SKIP: --cpus beyond KVM: no /dev/kvm"
fi

# --help and --version succeed and say what they should.
if "$VIREO" --help | grep -q -- "--kernel IMAGE" && [ "$("$VIREO" --version)" = "vireo 0.1.0" ]; then
	echo "PASS: --help and --version"
else
	echo "FAIL: --help and --version"
fi
