/* SPDX-License-Identifier: MIT */
/*
 * console.h -- the host terminal behind the guest's serial console.
 *
 * When stdin is a terminal it is put in raw mode so keys reach the guest
 * unchanged; the saved settings are restored on every way out: normal
 * return, exit(), and fatal signals. That saved state is process-wide by
 * nature (there is one terminal), so it lives in console.c, not in struct vm.
 */
#ifndef VIREO_CONSOLE_H
#define VIREO_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Raw mode on stdin if it is a terminal; no-op otherwise. */
void console_raw_begin(void);
void console_raw_end(void);

/* Escape sequence Ctrl-A x quits, as in QEMU. */
#define CONSOLE_ESCAPE 0x01

struct console_input {
	bool escape_seen;
};

/*
 * Filter keyboard input for the escape sequence. Bytes for the guest are
 * compacted in place; returns their count and sets *quit on Ctrl-A x.
 * Ctrl-A Ctrl-A sends one Ctrl-A.
 */
size_t console_filter(struct console_input *c, uint8_t *buf, size_t len, bool *quit);

#endif
