/* SPDX-License-Identifier: MIT */
/*
 * blk_backend.c -- choosing a disk's backend, and what both backends share:
 * walking a request's iovecs forward after a partial transfer, and the
 * fallocate(2) modes of DISCARD and WRITE_ZEROES with their fallback.
 */
#include "vireo/util.h"
#include "vireo/virtio/blk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

void blk_req_advance(struct blk_req *r, size_t n)
{
	r->done += n;
	while (n && r->cur < r->niov) {
		struct iovec *v = &r->iov[r->cur];

		if (n < v->iov_len) {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= n;
			return;
		}
		n -= v->iov_len;
		r->cur++;
	}
}

int blk_seg_fallocate_mode(const struct blk_req *r)
{
	bool punch =
	    r->type == VIRTIO_BLK_T_DISCARD || (r->seg[r->cur].flags & VIRTIO_BLK_WZ_F_UNMAP);

	if (r->seg_how == BLK_SEG_FALLOC_OTHER)
		punch = !punch;
	return FALLOC_FL_KEEP_SIZE | (punch ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);
}

bool blk_seg_failed(struct blk_req *r, int err)
{
	if (err == EOPNOTSUPP && r->type == VIRTIO_BLK_T_WRITE_ZEROES &&
	    r->seg_how != BLK_SEG_WRITE) {
		r->seg_how++; /* the other fallocate mode, then plain writes */
		r->done = 0;
		return true;
	}
	if (!(err == EOPNOTSUPP && r->type == VIRTIO_BLK_T_DISCARD))
		r->status = VIRTIO_BLK_S_IOERR;
	return false;
}

size_t blk_seg_zero_chunk(const struct blk_req *r, uint64_t *off)
{
	const struct blk_seg *s = &r->seg[r->cur];
	uint64_t bytes = (uint64_t)s->num_sectors * VIRTIO_BLK_SECTOR_SIZE, left;

	left = r->done < bytes ? bytes - r->done : 0;
	*off = s->sector * VIRTIO_BLK_SECTOR_SIZE + r->done;
	return left < BLK_ZERO_CHUNK ? (size_t)left : BLK_ZERO_CHUNK;
}

const void *blk_zero_buf(void)
{
	static const uint8_t zeros[BLK_ZERO_CHUNK] __attribute__((aligned(4096)));

	return zeros;
}

bool blk_seg_next(struct blk_req *r)
{
	r->seg_how = BLK_SEG_FALLOC;
	r->done = 0;
	return ++r->cur < r->nseg;
}

static struct blk_backend *sync_or_oom(int fd, char *err, size_t errlen)
{
	struct blk_backend *b = blk_backend_sync_create(fd);

	if (!b)
		errf(err, errlen, "out of memory");
	return b;
}

struct blk_backend *blk_backend_open(int fd, unsigned depth, char *err, size_t errlen)
{
	const char *want = getenv("VIREO_BLK_BACKEND");
	struct blk_backend *b;
	char why[200];

	if (want && !strcmp(want, "sync"))
		return sync_or_oom(fd, err, errlen);
	if (want && *want && strcmp(want, "io_uring") && strcmp(want, "uring")) {
		errf(err, errlen, "VIREO_BLK_BACKEND=%s: expected sync or io_uring", want);
		return NULL;
	}
	b = blk_backend_uring_create(fd, depth, why, sizeof(why));
	if (b)
		return b;
	if (want && *want) {
		errf(err, errlen, "VIREO_BLK_BACKEND=%s but io_uring is unavailable (%s)", want,
		     why);
		return NULL;
	}
	vireo_warn("io_uring unavailable (%s): using synchronous I/O on the I/O thread", why);
	return sync_or_oom(fd, err, errlen);
}
