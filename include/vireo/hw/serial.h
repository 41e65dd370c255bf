/* SPDX-License-Identifier: MIT */
/*
 * serial.h -- an 8250/16550A UART, enough for Linux's 8250 driver and early
 * console. Output goes through a bounded buffer to an fd (console.h: never
 * blocking, dropping and counting what a stalled reader leaves no room for);
 * input is pushed in by the main loop. The IRQ line is driven through a callback, so tests can
 * watch it.
 */
#ifndef VIREO_HW_SERIAL_H
#define VIREO_HW_SERIAL_H

#include "vireo/lib/console_out.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERIAL_RX_SIZE 1024

typedef void (*irq_line_fn)(void *opaque, unsigned irq, bool level);

struct serial {
	pthread_mutex_t lock;	/* vCPU threads write, the main thread feeds input */
	struct console_out out; /* its own lock: the main loop flushes without ours */
	bool out_ready;
	unsigned irq;
	irq_line_fn set_irq;
	void *irq_opaque;
	bool irq_level;

	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thri_pending; /* "transmitter empty" interrupt raised, not yet seen */
	uint8_t rx[SERIAL_RX_SIZE];
	size_t rx_head, rx_count;
	uint64_t tx_bytes, rx_bytes; /* written by the guest (tx_bytes - out.dropped went out) */
};

/* -1 when the output buffer cannot be set up (then output is dropped). */
int serial_init(struct serial *s, int out_fd, unsigned irq, irq_line_fn set_irq, void *opaque);
void serial_destroy(struct serial *s);

/* Bus handler for the 8 registers at the UART's base port. */
void serial_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

/* Queue input bytes; returns how many fit. */
size_t serial_push_input(struct serial *s, const uint8_t *buf, size_t len);

/*
 * Bytes the guest wrote that never went out (no room while the reader
 * stalled). Read once nothing runs any more (the exit report).
 */
uint64_t serial_tx_dropped(const struct serial *s);

/* Room left in the receive buffer (the main loop reads no more than this). */
size_t serial_rx_room(struct serial *s);

#endif
