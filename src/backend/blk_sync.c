/* SPDX-License-Identifier: MIT */
/*
 * blk_sync.c -- the synchronous disk backend: preadv/pwritev/fdatasync/
 * fallocate right on the I/O thread, each request complete when submit()
 * returns. The fallback when io_uring is unavailable, and the reference the
 * io_uring backend is compared with (VIREO_BLK_BACKEND=sync).
 */
#include "vireo/virtio/blk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

static void sync_rw(int fd, struct blk_req *r)
{
	while (r->done < r->len) {
		off_t off = (off_t)(r->sector * VIRTIO_BLK_SECTOR_SIZE + r->done);
		int n = (int)(r->niov - r->cur);
		ssize_t got = r->type == VIRTIO_BLK_T_IN ? preadv(fd, &r->iov[r->cur], n, off)
							 : pwritev(fd, &r->iov[r->cur], n, off);

		if (got < 0 && errno == EINTR)
			continue;
		/* An error, or end of file (the file shrank under us): IOERR. A
		 * short transfer goes on with the remainder. */
		if (got <= 0 || (size_t)got > r->len - r->done) {
			r->status = VIRTIO_BLK_S_IOERR;
			return;
		}
		blk_req_advance(r, (size_t)got);
	}
}

/* Zeros written the plain way, for a file system without fallocate modes. */
static bool sync_write_zeros(int fd, struct blk_req *r)
{
	uint64_t off;
	size_t n;

	while ((n = blk_seg_zero_chunk(r, &off)) > 0) {
		ssize_t got = pwrite(fd, blk_zero_buf(), n, (off_t)off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return false;
		r->done += (size_t)got;
	}
	return true;
}

static void sync_segments(int fd, struct blk_req *r)
{
	while (r->cur < r->nseg) {
		const struct blk_seg *s = &r->seg[r->cur];

		if (r->seg_how == BLK_SEG_WRITE) {
			if (!sync_write_zeros(fd, r)) {
				r->status = VIRTIO_BLK_S_IOERR;
				return;
			}
		} else if (fallocate(fd, blk_seg_fallocate_mode(r),
				     (off_t)(s->sector * VIRTIO_BLK_SECTOR_SIZE),
				     (off_t)s->num_sectors * VIRTIO_BLK_SECTOR_SIZE) < 0) {
			if (errno == EINTR || blk_seg_failed(r, errno))
				continue; /* again, or another way */
			if (r->status != VIRTIO_BLK_S_OK)
				return;
		}
		blk_seg_next(r);
	}
}

void blk_sync_execute(int fd, struct blk_req *r)
{
	r->status = VIRTIO_BLK_S_OK;
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		sync_rw(fd, r);
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (fdatasync(fd) < 0)
			r->status = VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		sync_segments(fd, r);
		break;
	default:
		r->status = VIRTIO_BLK_S_UNSUPP;
	}
}

static bool sync_submit(struct blk_backend *b, struct blk_req *r)
{
	blk_sync_execute(b->fd, r);
	return true;
}

static void sync_kick(struct blk_backend *b)
{
	(void)b;
}

static unsigned sync_reap(struct blk_backend *b)
{
	(void)b;
	return 0;
}

static unsigned sync_cancel(struct blk_backend *b, uint64_t timeout_ns)
{
	(void)b, (void)timeout_ns;
	return 0; /* nothing is ever in flight: submit() finished it */
}

static void sync_destroy(struct blk_backend *b)
{
	free(b);
}

static const struct blk_backend_ops sync_ops = {
    .name = "sync",
    .submit = sync_submit,
    .kick = sync_kick,
    .reap = sync_reap,
    .cancel = sync_cancel,
    .destroy = sync_destroy,
};

struct blk_backend *blk_backend_sync_create(int fd)
{
	struct blk_backend *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->ops = &sync_ops;
	b->fd = fd;
	b->event_fd = -1;
	return b;
}
