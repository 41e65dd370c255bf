/* SPDX-License-Identifier: MIT */
/*
 * sync.c -- the synchronous disk engine: preadv/pwritev/fdatasync/fallocate
 * right on the calling thread (the I/O thread), each request complete when
 * submit() returns. The fallback when io_uring is unavailable, and the
 * reference the io_uring engine is compared with (VIREO_BLK_BACKEND=sync).
 */
#include "vireo/block/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

static void sync_rw(int fd, struct disk_req *r)
{
	while (r->done < r->len) {
		off_t off = (off_t)(r->offset + r->done);
		int n = (int)(r->niov - r->cur);
		ssize_t got = r->op == DISK_READ ? preadv(fd, &r->iov[r->cur], n, off)
						 : pwritev(fd, &r->iov[r->cur], n, off);

		if (got < 0 && errno == EINTR)
			continue;
		/* An error, or end of file (the file shrank under us). A short
		 * transfer goes on with the remainder. */
		if (got <= 0 || (size_t)got > r->len - r->done) {
			r->result = got < 0 ? -errno : -EIO;
			return;
		}
		disk_req_advance(r, (size_t)got);
	}
}

/* Zeros written the plain way, for a file system without fallocate modes. */
static int sync_write_zeros(int fd, struct disk_req *r)
{
	uint64_t off;
	size_t n;

	while ((n = disk_range_zero_chunk(r, &off)) > 0) {
		ssize_t got = pwrite(fd, disk_zero_buf(), n, (off_t)off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		r->done += (size_t)got;
	}
	return 0;
}

static void sync_ranges(int fd, struct disk_req *r)
{
	while (r->cur < r->nrange) {
		const struct disk_range *g = &r->range[r->cur];

		if (r->range_how == DISK_RANGE_WRITE) {
			r->result = sync_write_zeros(fd, r);
			if (r->result)
				return;
		} else if (fallocate(fd, disk_range_fallocate_mode(r), (off_t)g->offset,
				     (off_t)g->len) < 0) {
			if (errno == EINTR || disk_range_failed(r, errno))
				continue; /* again, or another way */
			if (r->result)
				return;
		}
		disk_range_next(r);
	}
}

void disk_sync_execute(int fd, struct disk_req *r)
{
	r->result = 0;
	switch (r->op) {
	case DISK_READ:
	case DISK_WRITE:
		sync_rw(fd, r);
		break;
	case DISK_FLUSH:
		if (fdatasync(fd) < 0)
			r->result = -errno;
		break;
	case DISK_DISCARD:
	case DISK_WRITE_ZEROES:
		sync_ranges(fd, r);
		break;
	default:
		r->result = -EOPNOTSUPP;
	}
}

static bool sync_submit(struct disk_backend *disk, struct disk_req *r)
{
	disk_sync_execute(disk->fd, r);
	return true;
}

static void sync_kick(struct disk_backend *disk)
{
	(void)disk;
}

static unsigned sync_reap(struct disk_backend *disk)
{
	(void)disk;
	return 0;
}

static unsigned sync_cancel(struct disk_backend *disk, uint64_t timeout_ns)
{
	(void)disk, (void)timeout_ns;
	return 0; /* nothing is ever in flight: submit() finished it */
}

static void sync_destroy(struct disk_backend *disk)
{
	free(disk);
}

static const struct disk_backend_ops sync_ops = {
    .name = "sync",
    .submit = sync_submit,
    .kick = sync_kick,
    .reap = sync_reap,
    .cancel = sync_cancel,
    .destroy = sync_destroy,
};

struct disk_backend *disk_backend_sync_create(int fd)
{
	struct disk_backend *disk = calloc(1, sizeof(*disk));

	if (!disk)
		return NULL;
	disk->ops = &sync_ops;
	disk->fd = fd;
	disk->event_fd = -1;
	return disk;
}
