/* SPDX-License-Identifier: MIT */
/*
 * virtio.h -- what a virtio device implements; the transport does the rest.
 *
 * A device (blk, rng, console) says what it is through virtio_device_ops:
 * its ID, features, queues and config space, and what to do when the driver
 * starts it, kicks a queue, or resets it. The virtio-pci transport
 * (virtio_pci.c) owns feature negotiation, device status, queue
 * configuration, doorbells (ioeventfds) and interrupts (MSI-X through
 * irqfd); a device never sees the PCI layer.
 */
#ifndef VIREO_VIRTIO_VIRTIO_H
#define VIREO_VIRTIO_VIRTIO_H

#include "vireo/core/gmem.h"
#include "vireo/virtio/queue.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

/* Transport-level feature bits (virtio 1.2, 6). */
#define VIRTIO_F_INDIRECT_DESC	28
#define VIRTIO_F_RING_EVENT_IDX 29
#define VIRTIO_F_VERSION_1	32

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER	  2
#define VIRTIO_STATUS_DRIVER_OK	  4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED	  128

#define VIRTIO_MAX_QUEUES 17 /* virtio-net: 8 queue pairs and its control queue */
#define VIRTIO_MAX_GROUPS 8  /* virtio-net: a group per queue pair */

/* Device IDs (virtio 1.2, 5). */
#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLOCK	  2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG	  4

struct virtio_dev;
struct iothread;

/* What an exit report asks a device for (report hook). */
enum virtio_report_format {
	VIRTIO_REPORT_TABLE, /* lines of the table on stderr, after the device's queues */
	VIRTIO_REPORT_JSON,  /* members of the device's JSON object: `, "key": value` */
};

struct virtio_device_ops {
	const char *name;   /* "blk", "rng", "console": for stats and messages */
	uint16_t device_id; /* VIRTIO_ID_* */
	uint64_t features;  /* device-specific features offered */
	unsigned num_queues;
	uint16_t queue_max_size;
	size_t config_size;
	/* Device configuration space (len 1, 2, 4 or 8, within config_size). */
	void (*config_read)(struct virtio_dev *vdev, size_t off, void *buf, size_t len);
	void (*config_write)(struct virtio_dev *vdev, size_t off, const void *buf, size_t len);
	/* The driver set DRIVER_OK: queues are valid. -1 -> DEVICE_NEEDS_RESET. */
	int (*activate)(struct virtio_dev *vdev);
	/*
	 * I/O thread, queue q's lock held (virtio_lock_queue): queue q was
	 * kicked (chains may be waiting), or is called back after returning
	 * true: it stopped with work left (see virtio_process_queue's budget).
	 */
	bool (*queue_notify)(struct virtio_dev *vdev, unsigned q);
	/* Device reset: I/O has been quiesced; drop all queue and request state. */
	void (*reset)(struct virtio_dev *vdev);

	/* Optional hooks of the machine that owns the device (none takes the lock). */
	/* The engine behind the device, for the report ("io_uring"); NULL: none. */
	const char *(*backend)(const struct virtio_dev *vdev);
	/* The device's own counters in the exit report, in fmt, named after `name`. */
	void (*report)(const struct virtio_dev *vdev, const char *name, FILE *f,
		       enum virtio_report_format fmt);
	/* Stopping, after the I/O threads: release what the device's create took. */
	void (*destroy)(struct virtio_dev *vdev);
};

/*
 * A queue group: queues that share no state with the device's other queues
 * (virtio-net's receive/transmit pair) and so can run on their own I/O
 * thread under their own lock, in parallel with the other groups.
 */
struct virtio_group {
	pthread_mutex_t lock;
	struct iothread *io; /* NULL: the device's */
};

/*
 * Locking. A device without groups has one lock, vdev->lock: its I/O
 * thread's work and the transport's register accesses take it. A device
 * with groups has a lock per group too; queue q of group g is worked on
 * under group g's lock only, so groups never wait for each other. What is
 * the whole device's (status, features, config space, reset, queues in no
 * group such as a control queue) is changed under every lock: the group
 * locks in index order, then vdev->lock (virtio_lock_all). Order: group
 * locks before the device lock, so group work may take vdev->lock for a
 * moment (a link status change) but whoever holds vdev->lock takes no group
 * lock. What a group's thread may change that others read without its lock
 * is atomic: the NEEDS_RESET status bit, the transport's ISR, the config
 * generation; and MSI-X and INTx signalling lock themselves.
 */
struct virtio_dev {
	const struct virtio_device_ops *ops;
	void *priv; /* the device's own state */
	const struct gmem *mem;
	struct iothread *io; /* the device's I/O thread: queues in no group, its own fds */

	pthread_mutex_t lock; /* the device lock (see above) */
	unsigned nr_groups;   /* 0: every queue is the device's */
	struct virtio_group group[VIRTIO_MAX_GROUPS];
	uint8_t queue_group[VIRTIO_MAX_QUEUES]; /* >= nr_groups: the device's queue */
	uint64_t driver_features;		/* negotiated (valid after FEATURES_OK) */
	uint8_t status;				/* virtio_status() to read it outside the locks */
	/*
	 * The transport may not touch guest memory now (PCI: the driver cleared
	 * Bus Master Enable): take no chains. Under lock; the transport calls
	 * queue_notify again for every queue once it is clear.
	 */
	bool dma_off;
	struct virtq vq[VIRTIO_MAX_QUEUES];

	/* Set by the transport: raise queue q's interrupt (MSI-X vector). */
	void (*raise_irq)(struct virtio_dev *vdev, unsigned q);
	/* Set by the transport: the device hit an unrecoverable guest error. */
	void (*needs_reset)(struct virtio_dev *vdev);
	/* Set by the transport: the device changed its config space (link status). */
	void (*config_changed)(struct virtio_dev *vdev);
	void *transport;
};

static inline bool virtio_has_feature(const struct virtio_dev *vdev, unsigned bit)
{
	return vdev->driver_features & (1ull << bit);
}

/* The status byte, as any thread may read it (NEEDS_RESET is set atomically). */
static inline uint8_t virtio_status(const struct virtio_dev *vdev)
{
	return __atomic_load_n(&vdev->status, __ATOMIC_ACQUIRE);
}

/* Locks of a virtio_dev (see struct virtio_dev): initialise and destroy them all. */
void virtio_locks_init(struct virtio_dev *vdev);
void virtio_locks_destroy(struct virtio_dev *vdev);
/* Every lock of the device, in order: for what is the whole device's. */
void virtio_lock_all(struct virtio_dev *vdev);
void virtio_unlock_all(struct virtio_dev *vdev);
/* What queue q's work runs under: its group's lock, or all of them. */
void virtio_lock_queue(struct virtio_dev *vdev, unsigned q);
void virtio_unlock_queue(struct virtio_dev *vdev, unsigned q);
/* The I/O thread queue q's work runs on. */
struct iothread *virtio_queue_io(const struct virtio_dev *vdev, unsigned q);

/*
 * Devices call this after pushing completions to queue q: interrupts the
 * driver unless it asked not to be (flags or EVENT_IDX). Safe with the lock.
 */
void virtio_notify_used(struct virtio_dev *d, unsigned q);

/*
 * Standard device loop body for queue q: drain the ring with notifications
 * suppressed, calling handle() for each chain, then re-enable notifications
 * and look once more (the driver may have added work in between).
 * handle() returns the bytes written into the chain (clamped to its
 * writable length), or -1 to keep it (asynchronous completion: the device
 * later calls virtq_push(c->head, ...) and virtio_notify_used()), or
 * VIRTIO_CHAIN_LATER: the host side cannot take it now (a full tap, no
 * input): the chain goes back to the ring untouched and the loop stops with
 * kicks on; the device calls the loop again when the host side is ready.
 * VIRTIO_CHAIN_PUSHED: the device pushed the chain itself (with others it
 * popped: a merged receive packet); it counts toward the batch's interrupt. *c is
 * reused for the next chain: a device that keeps a chain copies what it needs
 * (its head and iovecs, which stay valid: they point into guest RAM).
 * A malformed chain is completed with length 0 without reaching handle();
 * when the ring itself turns out broken, d->needs_reset() is called once.
 * One interrupt at most per batch, as the driver's suppression allows.
 *
 * Budget: at most virtio_queue_budget() chains per call. A driver can refill
 * the ring as fast as the device drains it, and the I/O thread has other
 * queues to serve; so when the budget is spent with chains still waiting,
 * this returns true with kicks left off, and the caller returns true to the
 * I/O thread, which calls it back after the others have had their turn.
 */
#define VIRTIO_CHAIN_LATER  (-2L)
#define VIRTIO_CHAIN_PUSHED (-3L)
typedef long (*virtio_chain_fn)(struct virtio_dev *d, unsigned q, struct virtq_chain *c);
bool virtio_process_queue(struct virtio_dev *d, unsigned q, virtio_chain_fn handle);

/*
 * The same loop, budget and all, for a queue whose chains are only worth
 * taking while the device has something for them (a receive queue: input
 * waiting). ready() is asked before every chain is taken; when it says no,
 * the loop stops with kicks on, leaving the driver's buffers posted. So a
 * guest that posts zero-length or malformed receive buffers as fast as the
 * device returns them costs at most a budget per call, like any other queue.
 */
typedef bool (*virtio_ready_fn)(struct virtio_dev *d, unsigned q);
bool virtio_process_queue_if(struct virtio_dev *d, unsigned q, virtio_chain_fn handle,
			     virtio_ready_fn ready);

/*
 * The same pop loop, budget and all, for a device that is polling the ring
 * (requests in flight: a completion brings it back): notifications are left
 * as they are, and nothing is looked at twice. Returns true when the budget
 * ran out with chains still waiting.
 */
bool virtio_drain_queue(struct virtio_dev *d, unsigned q, virtio_chain_fn handle);

/* Chains per call: one ring's worth, what a driver can post in one go. */
static inline unsigned virtio_queue_budget(const struct virtq *vq)
{
	return vq->size ? vq->size : 1;
}

#endif
