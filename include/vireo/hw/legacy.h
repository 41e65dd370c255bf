/* SPDX-License-Identifier: MIT */
/*
 * legacy.h -- small fixed-port devices: the ports of vireo's guest ABI
 * (guest_abi.h). Each is a bus handler whose dev is the struct vm (the
 * i8042 has its own header, hw/i8042.h).
 */
#ifndef VIREO_HW_LEGACY_H
#define VIREO_HW_LEGACY_H

#include <stdbool.h>
#include <stdint.h>

/* isa-debug-exit at 0xf4: stop with (code << 1) | 1. */
void debug_exit_io(void *vm, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

/* Boot timer: the first write records time-to-first-instruction. */
void boot_timer_io(void *vm, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

/* A port that accepts every write and reads as zero (test port, 0x80 without ioeventfd). */
void sink_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

#endif
