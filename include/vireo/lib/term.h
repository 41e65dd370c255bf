/* SPDX-License-Identifier: MIT */
/*
 * term.h -- the host terminal behind the guest's console (not a device:
 * vireo's own stdin).
 *
 * When stdin is a terminal it is put in raw mode so keys reach the guest
 * unchanged; the saved settings are restored on every way out: normal
 * return, exit(), fatal signals and the sandbox's SIGSYS handler. That saved
 * state is process-wide by nature (there is one terminal), so it lives in
 * term.c, not in a struct, and in src/lib/: the core's sandbox restores it.
 */
#ifndef VIREO_TERM_H
#define VIREO_TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Raw mode on stdin if it is a terminal; no-op otherwise. */
void term_raw_begin(void);
void term_raw_end(void);

/* Escape sequence Ctrl-A x quits, as in QEMU. */
#define TERM_ESCAPE 0x01

struct term_input {
	bool escape_seen;
};

/*
 * Filter keyboard input for the escape sequence. Bytes for the guest are
 * compacted in place; returns their count and sets *quit on Ctrl-A x.
 * Ctrl-A Ctrl-A sends one Ctrl-A.
 */
size_t term_filter(struct term_input *c, uint8_t *buf, size_t len, bool *quit);

#endif
