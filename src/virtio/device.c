/* SPDX-License-Identifier: MIT */
/*
 * device.c -- the generic part of a virtio device: its locks, the queue loop
 * every device runs on its I/O thread, and interrupt suppression.
 */
#include "vireo/virtio/virtio.h"

/* ---- locks (see struct virtio_dev) ---- */

void virtio_locks_init(struct virtio_dev *vdev)
{
	pthread_mutex_init(&vdev->lock, NULL);
	for (unsigned g = 0; g < VIRTIO_MAX_GROUPS; g++)
		pthread_mutex_init(&vdev->group[g].lock, NULL);
}

void virtio_locks_destroy(struct virtio_dev *vdev)
{
	for (unsigned g = 0; g < VIRTIO_MAX_GROUPS; g++)
		pthread_mutex_destroy(&vdev->group[g].lock);
	pthread_mutex_destroy(&vdev->lock);
}

void virtio_lock_all(struct virtio_dev *vdev)
{
	for (unsigned g = 0; g < vdev->nr_groups; g++)
		pthread_mutex_lock(&vdev->group[g].lock);
	pthread_mutex_lock(&vdev->lock);
}

void virtio_unlock_all(struct virtio_dev *vdev)
{
	pthread_mutex_unlock(&vdev->lock);
	for (unsigned g = vdev->nr_groups; g-- > 0;)
		pthread_mutex_unlock(&vdev->group[g].lock);
}

/* Queue q's group, or nr_groups when it is the device's. */
static unsigned group_of(const struct virtio_dev *vdev, unsigned q)
{
	unsigned g = q < VIRTIO_MAX_QUEUES ? vdev->queue_group[q] : vdev->nr_groups;

	return g < vdev->nr_groups ? g : vdev->nr_groups;
}

void virtio_lock_queue(struct virtio_dev *vdev, unsigned q)
{
	unsigned g = group_of(vdev, q);

	if (g < vdev->nr_groups)
		pthread_mutex_lock(&vdev->group[g].lock);
	else
		virtio_lock_all(vdev);
}

void virtio_unlock_queue(struct virtio_dev *vdev, unsigned q)
{
	unsigned g = group_of(vdev, q);

	if (g < vdev->nr_groups)
		pthread_mutex_unlock(&vdev->group[g].lock);
	else
		virtio_unlock_all(vdev);
}

struct iothread *virtio_queue_io(const struct virtio_dev *vdev, unsigned q)
{
	unsigned g = group_of(vdev, q);

	return g < vdev->nr_groups && vdev->group[g].io ? vdev->group[g].io : vdev->io;
}

/* ---- the queue loop ---- */

void virtio_notify_used(struct virtio_dev *vdev, unsigned q)
{
	if (virtq_should_interrupt(&vdev->vq[q]) && vdev->raise_irq)
		vdev->raise_irq(vdev, q);
}

/* Chains waiting that the device wants now. */
static bool wanted(struct virtio_dev *vdev, unsigned q, virtio_ready_fn ready)
{
	return virtq_has_work(&vdev->vq[q]) && (!ready || ready(vdev, q));
}

/*
 * Pop and handle what the queue has, up to *budget chains, while ready()
 * allows; push what is answered and interrupt once. False when the ring
 * turned out broken (d->needs_reset() called, the first time).
 */
static bool pop_batch(struct virtio_dev *vdev, unsigned q, virtio_chain_fn handle,
		      virtio_ready_fn ready, unsigned *budget, bool was_broken)
{
	struct virtq *vq = &vdev->vq[q];
	struct virtq_chain c; /* 16 KiB of iovecs: fine on an I/O thread's stack */
	bool pushed = false;
	int r;

	while (*budget && (!ready || ready(vdev, q)) && (r = virtq_pop(vq, &c)) != 0) {
		long n = r > 0 ? handle(vdev, q, &c) : 0; /* malformed: return it empty */

		if (n == VIRTIO_CHAIN_LATER) {
			virtq_unpop(vq, 1); /* back to the ring, untouched; stop here */
			break;
		}
		(*budget)--;
		if (n == VIRTIO_CHAIN_PUSHED) {
			pushed = true; /* returned by the device itself (with others) */
			continue;
		}
		if (n < 0)
			continue; /* kept: completed later by the device */
		/* Never claim more than the driver gave (nor more than 32 bits). */
		if ((size_t)n > c.in_len)
			n = (long)c.in_len;
		if (n > (long)UINT32_MAX)
			n = (long)UINT32_MAX;
		virtq_push(vq, c.head, (uint32_t)n);
		pushed = true;
	}
	if (pushed)
		virtio_notify_used(vdev, q); /* one interrupt per batch */
	if (vq->broken) {
		if (!was_broken && vdev->needs_reset)
			vdev->needs_reset(vdev);
		return false;
	}
	return true;
}

bool virtio_process_queue_if(struct virtio_dev *vdev, unsigned q, virtio_chain_fn handle,
			     virtio_ready_fn ready)
{
	struct virtq *vq = &vdev->vq[q];
	bool was_broken = vq->broken;
	unsigned budget = virtio_queue_budget(vq);

	if (vdev->dma_off)
		return false; /* the ring is guest memory: not now (see dma_off) */
	do {
		/* No kicks while we drain: we will look at the ring anyway. */
		virtq_set_notify(vq, false);
		if (!pop_batch(vdev, q, handle, ready, &budget, was_broken))
			return false;
		/* Budget spent: kicks stay off, the I/O thread calls us back. */
		if (!budget && wanted(vdev, q, ready))
			return true;
		/* Idle again: ask for kicks, then look once more (the race). */
		virtq_set_notify(vq, true);
	} while (wanted(vdev, q, ready));
	return false;
}

bool virtio_drain_queue(struct virtio_dev *vdev, unsigned q, virtio_chain_fn handle)
{
	struct virtq *vq = &vdev->vq[q];
	unsigned budget = virtio_queue_budget(vq);

	if (vdev->dma_off)
		return false; /* bus mastering off: no ring access (setting it kicks us) */
	if (!pop_batch(vdev, q, handle, NULL, &budget, vq->broken))
		return false;
	return !budget && virtq_has_work(vq);
}

bool virtio_process_queue(struct virtio_dev *vdev, unsigned q, virtio_chain_fn handle)
{
	return virtio_process_queue_if(vdev, q, handle, NULL);
}
