/* SPDX-License-Identifier: MIT */
/*
 * blk.h -- virtio-blk (virtio 1.2, 5.2) over a host file or block device.
 *
 * The device parses each chain into a struct blk_req (blk_req.h) whose data
 * iovecs are the chain's own (pointing into guest RAM: no copies) and hands
 * its struct disk_req to a disk engine (include/vireo/block/disk.h): io_uring (several requests in
 * flight, completions reaped on the I/O thread through an eventfd) or, when io_uring is unavailable
 * or VIREO_BLK_BACKEND=sync, plain preadv/pwritev/fdatasync/fallocate on the I/O thread. A vCPU
 * thread never does disk I/O.
 *
 * Guest-caused errors fail the request (IOERR or UNSUPP) and are counted;
 * a chain without a status byte goes back to the driver with length 0 and
 * counts as malformed.
 */
#ifndef VIREO_VIRTIO_BLK_H
#define VIREO_VIRTIO_BLK_H

#include "vireo/block/disk.h"
#include "vireo/virtio/blk_req.h"
#include "vireo/virtio/virtio.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct iothread;

/* ---- the --disk argument ---- */

struct blk_disk_config {
	char path[PATH_MAX];
	bool ro;     /* ",ro": read-only, VIRTIO_BLK_F_RO; writes fail with IOERR */
	bool direct; /* ",direct": O_DIRECT */
};

/*
 * Parse "PATH[,ro][,direct]" (options in any order, repeats allowed; a path
 * cannot contain a comma). Returns 0, or -1 with the reason in err (an empty
 * path, an unknown option named, a path too long), without the "--disk ARG: "
 * the caller puts in front. Touches no file.
 */
int blk_parse_disk_arg(const char *arg, struct blk_disk_config *out, char *err, size_t errlen);

/* ---- the device ---- */

/* Per-disk counters (the queue's own are in d->vq[0].stats). */
struct virtio_blk_stats {
	uint64_t reads, writes, flushes, discards, write_zeroes, get_ids;
	uint64_t unsupported; /* UNSUPP answers */
	uint64_t io_errors;   /* IOERR answers (guest-caused or host I/O errors) */
	uint64_t unaligned;   /* ,direct: requests refused for misaligned buffers */
	uint64_t no_slot;     /* more chains in flight than the ring size: refused */
	uint64_t max_inflight;
};

/*
 * Make d a virtio-blk device over cfg->path: open it (O_RDWR, or O_RDONLY
 * with ro; O_DIRECT with direct), refuse what is not a regular file or block
 * device, take a lock on it (flock: exclusive, shared with ro) so two
 * writers cannot share it, size it (capacity = size / 512, rounded down with
 * a warning), choose the backend and, for io_uring, watch its completion
 * eventfd on io (io may be NULL: then the owner drives completions with
 * virtio_blk_process_completions()). Fills d->ops and d->priv; d->lock,
 * d->mem and the queues belong to the transport (which may initialise them
 * after this). Returns 0, or -1 with the reason in err ("is a directory",
 * "No such file or directory", ...), without the "--disk ARG: " the caller
 * puts in front.
 *
 * With direct, the guest's buffers, lengths and offsets must be multiples
 * of the O_DIRECT alignment (512, or what statx reports for the file, at
 * most 4096), which is advertised as blk_size: a request that is not gets
 * IOERR and counts in stats.unaligned (no bounce buffers).
 */
int virtio_blk_create(struct virtio_dev *d, const struct blk_disk_config *cfg, struct iothread *io,
		      char *err, size_t errlen);

/*
 * Stop watching the eventfd, cancel in-flight requests with a bounded wait
 * (a hung disk cannot keep vireo from stopping; no completion reaches the
 * guest afterwards), close the disk. Takes d->lock, so it must
 * still be initialised; call without it held (iothread_del takes the I/O
 * thread's lock, which comes first). Nothing if create failed.
 */
void virtio_blk_destroy(struct virtio_dev *d);

/* "io_uring" or "sync". */
const char *virtio_blk_backend_name(const struct virtio_dev *d);
/* The disk's backend (tests: its fd, its no_cancel hook). */
struct disk_backend *virtio_blk_backend(struct virtio_dev *d);
/* Capacity in 512-byte sectors. */
uint64_t virtio_blk_capacity(const struct virtio_dev *d);
void virtio_blk_get_stats(const struct virtio_dev *d, struct virtio_blk_stats *out);

/*
 * Reap finished asynchronous requests, push them and interrupt once: what
 * the I/O thread does when the backend's eventfd fires. Takes d->lock.
 * Returns true when chains are still waiting in the ring because the queue's
 * budget ran out (call again after other work, as the I/O thread does).
 */
bool virtio_blk_process_completions(struct virtio_dev *d);

#endif
