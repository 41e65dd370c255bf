/* SPDX-License-Identifier: MIT */
/*
 * legacy.h -- small fixed-port devices: the ports of vireo's guest ABI
 * (guest_abi.h). Each is a bus handler whose dev is its own struct below
 * (the i8042 has its own header, hw/i8042.h); what a port means to the VM
 * is the owner's callback.
 */
#ifndef VIREO_HW_LEGACY_H
#define VIREO_HW_LEGACY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* isa-debug-exit at 0xf4: the guest asks to stop with (code << 1) | 1. */
struct debug_exit {
	void (*exit)(void *opaque, unsigned code); /* the guest wrote code (any thread) */
	void *opaque;
};
void debug_exit_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

/* Boot timer: the first write records time-to-first-instruction. */
struct boot_timer {
	_Atomic uint64_t first_write_ns; /* now_ns() of the first write; 0 before */
};
void boot_timer_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

/* A port that accepts every write and reads as zero (test port, 0x80 without ioeventfd). */
void sink_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

#endif
