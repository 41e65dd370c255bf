/* SPDX-License-Identifier: MIT */
/*
 * devices.h -- the small virtio devices: entropy and a console.
 * (virtio-blk has its own header.)
 */
#ifndef VIREO_VIRTIO_DEVICES_H
#define VIREO_VIRTIO_DEVICES_H

#include "vireo/virtio/virtio.h"

#include <stddef.h>
#include <stdint.h>

/* virtio-rng: every request buffer filled from getrandom(). */
void virtio_rng_setup(struct virtio_dev *d);

/*
 * virtio-console: one port, no multiport. What the driver transmits goes to
 * out_fd; virtio_console_input() queues host input for the receive queue.
 */
struct virtio_console;
int virtio_console_setup(struct virtio_dev *d, int out_fd);
void virtio_console_destroy(struct virtio_dev *d);

/* Queue host input (main thread); returns how many bytes were taken. */
size_t virtio_console_input(struct virtio_dev *d, const uint8_t *buf, size_t len);
/* Room left for input (the main loop reads no more than this). */
size_t virtio_console_room(struct virtio_dev *d);

/*
 * The console's output buffer (the main loop flushes it when stdout is
 * writable; its "dropped" is the device's tx_dropped), or NULL.
 */
struct console_out;
struct console_out *virtio_console_out(struct virtio_dev *d);
/* Bytes the guest transmitted that never went out (read once the I/O threads stopped). */
uint64_t virtio_console_tx_dropped(const struct virtio_dev *d);

#endif
