/* SPDX-License-Identifier: MIT */
/*
 * console_out.h -- console output that never blocks the VMM, shared by the
 * guest's consoles (the UART, virtio-console); the main loop flushes it.
 */
#ifndef VIREO_CONSOLE_OUT_H
#define VIREO_CONSOLE_OUT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
