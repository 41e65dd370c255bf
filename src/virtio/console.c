/* SPDX-License-Identifier: MIT */
/*
 * console.c -- virtio-console (device ID 3) with a single port and no
 * multiport: queue 0 receives (host -> guest), queue 1 transmits.
 *
 * Output is copied from the guest's buffers into a bounded console buffer
 * (console_out.h): written on without blocking, so a reader that stops reading
 * costs dropped (and counted) bytes, never a stuck I/O thread. Input is
 * buffered by the main thread and handed to the I/O thread through an
 * eventfd, which moves it into whatever receive buffers the driver posted.
 */
#include "vireo/lib/console_out.h"
#include "vireo/core/iothread.h"
#include "vireo/lib/util.h"
#include "vireo/virtio/devices.h"

#include <inttypes.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define CONSOLE_RXQ 0
#define CONSOLE_TXQ 1
#define CONSOLE_BUF 4096

struct virtio_console {
	struct console_out out;
	bool out_ready;
	int input_fd; /* eventfd: input waiting */
	uint8_t in[CONSOLE_BUF];
	size_t in_head, in_len;
};

struct virtio_console_config {
	uint16_t cols, rows;
	uint32_t max_nr_ports, emerg_wr;
} __attribute__((packed));

static long console_tx(struct virtio_dev *vdev, unsigned q, struct virtq_chain *c)
{
	struct virtio_console *con = vdev->priv;

	for (unsigned i = 0; i < c->nr_out; i++)
		console_out_put(&con->out, c->iov[i].iov_base, c->iov[i].iov_len);
	vdev->vq[q].stats.bytes += c->out_len;
	return 0; /* nothing written into the chain */
}

/* virtio_process_queue_if's handler: buffered input into one receive buffer. */
static long console_rx(struct virtio_dev *vdev, unsigned q, struct virtq_chain *c)
{
	struct virtio_console *con = vdev->priv;
	size_t n = 0;

	while (con->in_len && n < c->in_len) {
		size_t chunk = CONSOLE_BUF - con->in_head;

		if (chunk > con->in_len)
			chunk = con->in_len;
		if (chunk > c->in_len - n)
			chunk = c->in_len - n;
		virtq_chain_write(c, n, con->in + con->in_head, chunk);
		n += chunk;
		con->in_head = (con->in_head + chunk) % CONSOLE_BUF;
		con->in_len -= chunk;
	}
	vdev->vq[q].stats.bytes += n;
	return (long)n;
}

/* A receive buffer is worth taking only while input waits. */
static bool console_has_input(struct virtio_dev *vdev, unsigned q)
{
	const struct virtio_console *con = vdev->priv;

	(void)q;
	return con->in_len > 0;
}

/*
 * With the lock: move buffered input into posted receive buffers, through
 * the shared loop and its budget (a guest re-posting empty or malformed
 * buffers cannot keep the I/O thread here). True: called back for more.
 */
static bool console_fill_rx(struct virtio_dev *vdev)
{
	return virtio_process_queue_if(vdev, CONSOLE_RXQ, console_rx, console_has_input);
}

static bool console_notify(struct virtio_dev *vdev, unsigned q)
{
	if (q == CONSOLE_TXQ)
		return virtio_process_queue(vdev, q, console_tx);
	return console_fill_rx(vdev); /* new receive buffers: input may be waiting */
}

static bool console_input_ready(void *opaque, uint64_t count)
{
	struct virtio_dev *vdev = opaque;
	bool more = false;

	(void)count;
	pthread_mutex_lock(&vdev->lock);
	if (vdev->status & VIRTIO_STATUS_DRIVER_OK)
		more = console_fill_rx(vdev);
	pthread_mutex_unlock(&vdev->lock);
	return more;
}

static void console_config_read(struct virtio_dev *vdev, size_t off, void *buf, size_t len)
{
	struct virtio_console_config cfg = {.cols = 80, .rows = 25, .max_nr_ports = 1};

	(void)vdev;
	memcpy(buf, (uint8_t *)&cfg + off, len);
}

static void console_reset(struct virtio_dev *vdev)
{
	(void)vdev; /* buffered input is kept for the next driver */
}

/* The exit report: output that never reached the host (see console_out.h). */
static void console_report(const struct virtio_dev *vdev, const char *name, FILE *f,
			   enum virtio_report_format fmt)
{
	if (fmt == VIRTIO_REPORT_TABLE)
		fprintf(f, "  %-16s tx_dropped %" PRIu64 " bytes\n", name,
			virtio_console_tx_dropped(vdev));
	else
		fprintf(f, ", \"console\": {\"tx_dropped\": %" PRIu64 "}",
			virtio_console_tx_dropped(vdev));
}

static const struct virtio_device_ops console_ops = {
    .name = "console",
    .device_id = VIRTIO_ID_CONSOLE,
    .num_queues = 2,
    .queue_max_size = 256,
    .config_size = sizeof(struct virtio_console_config),
    .config_read = console_config_read,
    .queue_notify = console_notify,
    .reset = console_reset,
    .report = console_report,
    .destroy = virtio_console_destroy,
};

int virtio_console_setup(struct virtio_dev *vdev, int out_fd)
{
	struct virtio_console *con = calloc(1, sizeof(*con));

	if (!con)
		return -1;
	con->input_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vdev->ops = &console_ops;
	vdev->priv = con;
	con->out_ready = console_out_init(&con->out, out_fd) == 0;
	if (!con->out_ready || con->input_fd < 0 ||
	    iothread_add(vdev->io, con->input_fd, console_input_ready, vdev) < 0) {
		vireo_perror("virtio-console input");
		return -1;
	}
	return 0;
}

void virtio_console_destroy(struct virtio_dev *vdev)
{
	struct virtio_console *con = vdev->priv;

	if (!con)
		return;
	if (con->input_fd >= 0)
		close(con->input_fd);
	if (con->out_ready)
		console_out_destroy(&con->out);
	free(con);
	vdev->priv = NULL;
}

size_t virtio_console_input(struct virtio_dev *vdev, const uint8_t *buf, size_t len)
{
	struct virtio_console *con = vdev->priv;
	uint64_t one = 1;
	size_t n = 0;

	pthread_mutex_lock(&vdev->lock);
	while (n < len && con->in_len < CONSOLE_BUF) {
		con->in[(con->in_head + con->in_len) % CONSOLE_BUF] = buf[n++];
		con->in_len++;
	}
	pthread_mutex_unlock(&vdev->lock);
	if (n && write(con->input_fd, &one, sizeof(one)) < 0)
		vireo_perror("virtio-console input");
	return n;
}

size_t virtio_console_room(struct virtio_dev *vdev)
{
	struct virtio_console *con = vdev->priv;
	size_t room;

	pthread_mutex_lock(&vdev->lock);
	room = CONSOLE_BUF - con->in_len;
	pthread_mutex_unlock(&vdev->lock);
	return room;
}

struct console_out *virtio_console_out(struct virtio_dev *vdev)
{
	struct virtio_console *con = vdev->priv;

	return con && con->out_ready ? &con->out : NULL;
}

uint64_t virtio_console_tx_dropped(const struct virtio_dev *vdev)
{
	const struct virtio_console *con = vdev->priv;

	return con && con->out_ready ? con->out.dropped : 0;
}
