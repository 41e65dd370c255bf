#!/usr/bin/env bash
# tests/qemu/test-guest.sh -- the test guest itself, under QEMU TCG.
#
# Checks the guest independently of vireo: every workload through each entry
# (PVH note, bzImage 64-bit entry, bzImage 32-bit entry) on QEMU's software
# CPU. A failure here means the guest is wrong, not the VMM. The bzImage
# entries go through guest/bzshim, a test loader QEMU can boot.
set -u
cd "$(dirname "$0")/../.."
command -v qemu-system-x86_64 >/dev/null 2>&1 || { echo "SKIP: test guest under QEMU: no qemu-system-x86_64"; exit 0; }
for boot in pvh bzimage bzimage32; do
	log=$(BOOT=$boot TIMEOUT=60 guest/qemu-test.sh build/guest/test-guest.elf 2>&1)
	status=$?
	printf '%s\n' "$log" | sed -n -E "s/^(PASS|FAIL) +(.*[^ ]) +status=.*/\1: $boot \2/p"
	if [ "$status" -ne 0 ] && ! grep -q '^FAIL ' <<<"$log"; then
		echo "FAIL: $boot: guest/qemu-test.sh exited $status: $(tail -n 1 <<<"$log")"
	fi
done
