/* SPDX-License-Identifier: MIT */
/*
 * no_pit.h -- what a guest finds at the PIT's ports with --no-pit: no PIT,
 * answered so that code probing for one gives up at once instead of spinning.
 *
 * 0x40-0x43 (counters, mode): reads 0, writes dropped. A counter that never
 * moves ends a calibration that waits for it to pass a value at its first
 * read: Linux's quick_pit_calibrate() waits for channel 2's MSB to leave
 * 0xff, so a floating bus (all ones) would cost it 50000 loops of two exits.
 *
 * 0x61 (system control port B): reads 0x20, writes dropped. Bit 5 is PIT
 * channel 2's output, already high, so a loop waiting for it ends at once
 * and a calibration sees no time pass, which it rejects (Linux's
 * pit_calibrate_tsc() waits for that bit with no bound: zero would hang it).
 * Bits 6 and 7 (NMI reasons: SERR, IOCHK) read clear: all ones would have
 * Linux report both errors on any unknown NMI.
 *
 * Every access is a userspace exit, counted under its port in the report.
 */
#ifndef VIREO_HW_NO_PIT_H
#define VIREO_HW_NO_PIT_H

#include <stdbool.h>
#include <stdint.h>

#define NO_PIT_PORT	  0x40 /* channels 0-2 and the mode register */
#define NO_PIT_PORTS	  4
#define NO_PIT_PORT61	  0x61
#define NO_PIT_PORT61_OUT 0x20 /* channel 2 output high; nothing else set */

/* 0x40-0x43 without a PIT. dev is unused. */
void no_pit_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write);
/* Port 0x61 without a PIT. dev is unused. */
void no_pit_port61_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

#endif
