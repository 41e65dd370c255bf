/* SPDX-License-Identifier: MIT */
/*
 * queue.h -- the one split-virtqueue implementation every device uses.
 *
 * The ring lives in guest memory and everything in it is untrusted: every
 * index, address and length is checked before use, a descriptor chain has a
 * hop limit (so a loop ends), indirect tables are bounds-checked, and the
 * iovecs point straight into guest RAM (no bounce buffers). Ring-level
 * corruption (an avail index that jumps by more than the queue size) marks
 * the queue broken: the transport then sets DEVICE_NEEDS_RESET.
 *
 * A queue is driven by exactly one thread at a time (its device's I/O
 * thread); configuration happens while the device is not running.
 */
#ifndef VIREO_VIRTIO_QUEUE_H
#define VIREO_VIRTIO_QUEUE_H

#include "vireo/gmem.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define VIRTQ_MAX_SIZE 32768
/* Most iovecs one chain may produce; longer chains are malformed. */
#define VIRTQ_MAX_IOV 1024

/* Ring layout (virtio 1.2, 2.7). All fields little-endian. */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

/* Per-queue counters, reported under "devices" in the stats. */
struct virtq_stats {
	uint64_t notifications;	 /* doorbells received (kicks) */
	uint64_t requests;	 /* chains completed (pushed to the used ring) */
	uint64_t interrupts;	 /* interrupts raised */
	uint64_t suppressed;	 /* interrupts not raised: driver said it needs none */
	uint64_t malformed;	 /* chains rejected as malformed */
	uint64_t bytes;		 /* payload bytes moved (device-specific meaning) */
};

struct virtq {
	/* Set by the transport from the driver's configuration. */
	const struct gmem *mem;
	uint16_t size; /* number of descriptors, a power of 2 <= VIRTQ_MAX_SIZE */
	gpa_t desc, avail, used;
	bool event_idx; /* VIRTIO_F_RING_EVENT_IDX negotiated */
	bool indirect;	/* VIRTIO_F_INDIRECT_DESC negotiated */

	/* Device-side state. */
	uint16_t last_avail;	 /* next avail ring slot to consume */
	uint16_t used_idx;	 /* our copy of used->idx */
	uint16_t signalled_used; /* used_idx when we last interrupted */
	bool signalled_valid;	 /* signalled_used means something */
	bool broken;		 /* ring-level corruption seen */
	struct virtq_stats stats;
};

/* A descriptor chain, as iovecs into guest memory: readable ones first. */
struct virtq_chain {
	uint16_t head;
	unsigned nr_out; /* driver -> device (readable) */
	unsigned nr_in;	 /* device -> driver (writable), at iov[nr_out ...] */
	size_t out_len, in_len;
	struct iovec iov[VIRTQ_MAX_IOV];
};

/*
 * Check the configuration the driver wrote (size a power of 2, rings inside
 * guest RAM and suitably aligned) and reset device-side state. Returns false
 * when the queue cannot be used.
 */
bool virtq_init(struct virtq *q, const struct gmem *mem, uint16_t size, gpa_t desc, gpa_t avail,
		gpa_t used, bool event_idx, bool indirect);

/*
 * Take the next available chain. Returns 1 with *c filled, 0 when the ring is
 * empty (or broken), -1 when the chain at the head is malformed: it has then
 * been consumed, c->head names it, stats.malformed was bumped, and the caller
 * must still complete it (virtq_push with len 0) so the driver gets it back.
 */
int virtq_pop(struct virtq *q, struct virtq_chain *c);

/* Return a chain to the driver with `written` bytes written into it. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t written);

/*
 * After a batch of pushes: does the driver want an interrupt now? Honours
 * VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX. Counts the
 * decision in stats (interrupts or suppressed) and remembers it.
 */
bool virtq_should_interrupt(struct virtq *q);

/*
 * Device-side notification suppression: with EVENT_IDX publish avail_event
 * (= last_avail, so the next kick comes only for new work), otherwise set or
 * clear VIRTQ_USED_F_NO_NOTIFY. Call with enable=false while draining and
 * enable=true before going idle, then re-check virtq_has_work() to close the
 * race with a driver that added work in between.
 */
void virtq_set_notify(struct virtq *q, bool enable);

/* Are there chains the device has not taken yet? */
bool virtq_has_work(struct virtq *q);

/* Copy helpers over a chain's readable / writable iovecs (bounds-checked). */
size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *dst, size_t len);
size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *src, size_t len);

#endif
