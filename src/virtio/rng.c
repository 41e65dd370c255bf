/* SPDX-License-Identifier: MIT */
/*
 * rng.c -- virtio-rng (device ID 4): one request queue whose writable
 * buffers the device fills with entropy from getrandom().
 */
#include "vireo/virtio/devices.h"

#include <sys/random.h>

#define RNG_MAX_PER_REQUEST 65536 /* bytes filled per chain, at most */

static long rng_fill(struct virtio_dev *vdev, unsigned q, struct virtq_chain *c)
{
	size_t done = 0;

	(void)vdev;
	/* Straight into the guest's buffers, no intermediate copy. */
	for (unsigned i = c->nr_out; i < c->nr_out + c->nr_in && done < RNG_MAX_PER_REQUEST; i++) {
		size_t want = c->iov[i].iov_len;
		ssize_t n;

		if (want > RNG_MAX_PER_REQUEST - done)
			want = RNG_MAX_PER_REQUEST - done;
		n = getrandom(c->iov[i].iov_base, want, 0);
		if (n <= 0)
			break;
		done += (size_t)n;
		if ((size_t)n < want)
			break;
	}
	vdev->vq[q].stats.bytes += done;
	return (long)done;
}

static bool rng_notify(struct virtio_dev *vdev, unsigned q)
{
	return virtio_process_queue(vdev, q, rng_fill);
}

static const struct virtio_device_ops rng_ops = {
    .name = "rng",
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .queue_max_size = 256,
    .queue_notify = rng_notify,
};

void virtio_rng_setup(struct virtio_dev *vdev)
{
	vdev->ops = &rng_ops;
	vdev->priv = NULL;
}
