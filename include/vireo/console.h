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

#include <pthread.h>
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

/*
 * Console output that never blocks the VMM. A guest's console is written
 * from a vCPU (COM1) or an I/O thread (virtio-console), with the device lock
 * held, and whoever reads vireo's stdout may stop reading: a write that
 * waits for it would freeze the device, then the main loop that takes the
 * same lock, then stopping itself. So bytes go into a bounded buffer, are
 * written as far as the fd takes them without blocking, and the rest waits
 * for the main loop, which polls the fd for POLLOUT and flushes. What does
 * not fit in the buffer is dropped and counted, like a UART overrun.
 *
 * The fd is made non-blocking by reopening it (/proc/self/fd/N: a pipe,
 * FIFO or terminal gets a description of its own, so the shared one, and
 * whoever else writes through it, is left alone). Where that is impossible
 * (a socket), a write is tried only when poll() says the fd is writable,
 * and at most PIPE_BUF bytes at a time.
 */
#define CONSOLE_OUT_SIZE 65536

struct console_out {
	pthread_mutex_t lock; /* writers (vCPU, I/O thread) and the main loop's flushes */
	int fd;		      /* where the bytes go */
	bool own_fd;	      /* fd is our non-blocking reopen (closed by destroy) */
	bool nonblock;	      /* writes to fd cannot block; else poll before each */
	bool stalled;	      /* fd took less than we had: wait for POLLOUT */
	int wake_fd;	      /* eventfd, written when output stalls: the main loop polls it */
	uint8_t buf[CONSOLE_OUT_SIZE];
	size_t head, len;
	uint64_t written; /* bytes the fd took */
	uint64_t dropped; /* bytes that found the buffer full, or the fd closed */
};

/* Output to fd (not taken over: closing it stays the caller's). -1 on failure. */
int console_out_init(struct console_out *o, int fd);
void console_out_destroy(struct console_out *o);

/*
 * Queue len bytes and write what the fd takes now; never blocks. Bytes that
 * do not fit are dropped and counted. Returns the bytes queued.
 */
size_t console_out_put(struct console_out *o, const void *p, size_t len);

/* Write what is buffered, as far as the fd takes it without blocking. True when empty. */
bool console_out_flush(struct console_out *o);

/* Bytes are waiting for the fd to become writable (the main loop polls it for POLLOUT). */
bool console_out_stalled(struct console_out *o);

/*
 * At exit: flush, waiting for the fd until the CLOCK_MONOTONIC deadline
 * (now_ns() units); what is still buffered then is dropped and counted.
 */
void console_out_finish(struct console_out *o, uint64_t deadline_ns);

#endif
