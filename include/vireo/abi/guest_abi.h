/* SPDX-License-Identifier: MIT */
/*
 * guest_abi.h -- the contract between vireo and guests it runs.
 *
 * Everything a guest may rely on besides the standard PC devices lives here:
 * the I/O ports vireo gives meaning to and the exit status convention.
 * Included by the VMM and by the freestanding test guest, so it must stay
 * plain C with no libc dependencies.
 */
#ifndef VIREO_GUEST_ABI_H
#define VIREO_GUEST_ABI_H

/*
 * QEMU isa-debug-exit compatible: the guest writes a byte `code`, the VMM
 * exits with status (code << 1) | 1. So code 0 means status 1: a guest cannot
 * produce status 0 through this port; the harness treats 1 as "guest says OK".
 */
#define VIREO_PORT_DEBUG_EXIT 0xf4

/*
 * Boot timer: the guest writes any value once, as early as it can. vireo
 * records the time from its own process start to that write and reports it
 * as boot.first_instruction_us. (Firecracker has an MMIO equivalent.)
 */
#define VIREO_PORT_BOOT_TIMER 0x4f4

/*
 * Test port: every write is an ordinary userspace exit that vireo counts and
 * otherwise ignores. The `pio` workload of the test guest hammers it.
 */
#define VIREO_PORT_TEST 0x4f0

/*
 * Port 0x80 (the POST/IO-delay port) is consumed inside KVM by an ioeventfd:
 * a write costs no userspace exit. The `quiet-pio` workload writes it.
 */
#define VIREO_PORT_IO_DELAY 0x80

/* Serial console the guest prints to (8250, IRQ 4). */
#define VIREO_PORT_COM1 0x3f8
#define VIREO_IRQ_COM1	4

#endif
