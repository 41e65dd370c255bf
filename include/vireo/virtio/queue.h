/* SPDX-License-Identifier: MIT */
/*
 * queue.h -- the one split-virtqueue implementation every device uses.
 *
 * The ring lives in guest memory and everything in it is untrusted: every
 * index, address and length is checked before use, a descriptor chain has a
 * hop limit (so a loop ends), indirect tables are bounds-checked, and the
 * iovecs point straight into guest RAM (no bounce buffers). Ring-level
 * corruption (an avail index that jumps by more than the queue size, or a
 * head index out of range, which cannot be returned to the driver) marks the
 * queue broken: the transport then sets DEVICE_NEEDS_RESET. A malformed chain
 * only fails that request.
 *
 * What a chain may be (virtio 1.2, 2.7.4-2.7.5): at most `size` descriptors
 * in the ring plus, at its end, one indirect table (VIRTQ_DESC_F_INDIRECT
 * without NEXT, only when negotiated, a non-empty multiple of 16 bytes of at
 * most VIRTQ_MAX_SIZE entries, inside one RAM slot, no nested indirect; its
 * WRITE flag is ignored, as the spec says). Every buffer [addr, addr + len)
 * must lie inside one RAM slot (a range across a slot boundary runs into the
 * MMIO hole and is malformed); len 0 is allowed and produces no iovec.
 * Readable descriptors come first: a readable one after a writable one is
 * malformed. A writable buffer must not overlap the avail ring (nor may the
 * used ring overlap the others): nothing the device writes can make new work,
 * so draining a queue ends once the guest stops adding to it. At most
 * VIRTQ_MAX_IOV iovecs.
 *
 * A queue is driven by exactly one thread at a time (its device's I/O
 * thread); configuration happens while the device is not running.
 */
#ifndef VIREO_VIRTIO_QUEUE_H
#define VIREO_VIRTIO_QUEUE_H

#include "vireo/core/gmem.h"

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
#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY	   1

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

/* Driver-written; followed by used_event (ring[size]) with EVENT_IDX. */
struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

/* Device-written; followed by avail_event (a le16 after ring[size]) with EVENT_IDX. */
struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[];
};

/* Ring sizes in bytes for a queue of `n` descriptors (event fields included). */
#define VIRTQ_DESC_BYTES(n)  ((size_t)(n) * sizeof(struct virtq_desc))
#define VIRTQ_AVAIL_BYTES(n) (6 + (size_t)(n) * sizeof(uint16_t))
#define VIRTQ_USED_BYTES(n)  (6 + (size_t)(n) * sizeof(struct virtq_used_elem))

/*
 * The EVENT_IDX test (virtio 1.2, 2.7.10), the same on both sides: does
 * moving an index from old to new_idx step over event_idx?
 */
static inline bool vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old);
}

/* Per-queue counters, reported under "devices" in the stats. */
struct virtq_stats {
	uint64_t notifications; /* doorbells received (kicks) */
	uint64_t requests;	/* chains completed (pushed to the used ring) */
	uint64_t interrupts;	/* interrupts raised */
	uint64_t suppressed;	/* interrupts not raised: driver said it needs none */
	uint64_t malformed;	/* chains rejected as malformed */
	uint64_t bytes;		/* payload bytes moved (device-specific meaning) */
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
	const char *error;	 /* why the last chain/ring was rejected (static string) */
	struct virtq_stats stats;

	/*
	 * Host views of the rings, from gmem_ptr() in virtq_init(); NULL until
	 * then, so a zeroed struct virtq is a queue without work. Valid until
	 * the next reset (guest RAM never moves while the VM runs).
	 */
	struct virtq_desc *desc_ring;
	struct virtq_avail *avail_ring;
	struct virtq_used *used_ring;
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
 * Check the configuration the driver wrote (size a power of 2, desc 16-byte,
 * avail 2-byte and used 4-byte aligned, each ring inside one RAM slot, the
 * used ring overlapping neither of the others) and reset device-side state
 * (indices 0). Stats are kept, to count over the VM's life across device
 * resets, so *q must start zeroed. Writes no guest memory. Returns false,
 * with the queue left not ready and q->error set, when the queue cannot be
 * used.
 */
bool virtq_init(struct virtq *q, const struct gmem *mem, uint16_t size, gpa_t desc, gpa_t avail,
		gpa_t used, bool event_idx, bool indirect);

/*
 * Take the next available chain. Returns 1 with *c filled, 0 when the ring is
 * empty or broken (check q->broken: an avail index that jumps by more than
 * size, or a head >= size, sets it and bumps stats.malformed), -1 when the
 * chain at the head is malformed: it has then been consumed, c->head names
 * it, c has no iovecs, stats.malformed was bumped, q->error says why, and
 * the caller must still complete it (virtq_push with len 0) so the driver
 * gets it back.
 */
int virtq_pop(struct virtq *q, struct virtq_chain *c);

/*
 * Return a chain to the driver with `written` bytes written into it: the
 * used element first, then (after a release barrier) the used index.
 */
void virtq_push(struct virtq *q, uint16_t head, uint32_t written);
/*
 * Return n chains at once, in order, under one used-index update (a merged
 * receive packet's buffers must appear together).
 */
void virtq_push_many(struct virtq *q, const uint16_t *heads, const uint32_t *written, unsigned n);
/*
 * Give the last n chains popped (and not pushed) back to the ring: the next
 * pops return them again. For a device that took buffers it then could not
 * use (a receive queue that took more than a packet needed; a transmit chain
 * the host cannot take now).
 */
void virtq_unpop(struct virtq *q, unsigned n);

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

/* Are there chains the device has not taken yet? (false once broken) */
bool virtq_has_work(struct virtq *q);

/*
 * Copy helpers over a chain's readable / writable iovecs, starting `off`
 * bytes into them; they stop at the end of the chain and return the bytes
 * copied.
 */
size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *dst, size_t len);
size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *src, size_t len);

#endif
