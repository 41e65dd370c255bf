/* SPDX-License-Identifier: MIT */
/*
 * disk.c -- choosing a disk's engine, and what both engines share: walking
 * a request's iovecs forward after a partial transfer, and the fallocate(2)
 * modes of DISCARD and WRITE_ZEROES with their fallback.
 */
#include "vireo/block/disk.h"
#include "vireo/lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

void disk_req_start(struct disk_req *r)
{
	r->result = 0;
	r->done = 0;
	r->cur = 0;
	r->range_how = DISK_RANGE_FALLOC;
	r->retries = 0;
	r->cancelled = false;
}

void disk_req_advance(struct disk_req *r, size_t n)
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

int disk_range_fallocate_mode(const struct disk_req *r)
{
	bool punch = r->op == DISK_DISCARD || r->range[r->cur].unmap;

	if (r->range_how == DISK_RANGE_FALLOC_OTHER)
		punch = !punch;
	return FALLOC_FL_KEEP_SIZE | (punch ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);
}

bool disk_range_failed(struct disk_req *r, int err)
{
	if (err == EOPNOTSUPP && r->op == DISK_WRITE_ZEROES && r->range_how != DISK_RANGE_WRITE) {
		r->range_how++; /* the other fallocate mode, then plain writes */
		r->done = 0;
		return true;
	}
	if (!(err == EOPNOTSUPP && r->op == DISK_DISCARD))
		r->result = -err;
	return false;
}

size_t disk_range_zero_chunk(const struct disk_req *r, uint64_t *off)
{
	const struct disk_range *g = &r->range[r->cur];
	uint64_t left = r->done < g->len ? g->len - r->done : 0;

	*off = g->offset + r->done;
	return left < DISK_ZERO_CHUNK ? (size_t)left : DISK_ZERO_CHUNK;
}

const void *disk_zero_buf(void)
{
	static const uint8_t zeros[DISK_ZERO_CHUNK] __attribute__((aligned(4096)));

	return zeros;
}

bool disk_range_next(struct disk_req *r)
{
	r->range_how = DISK_RANGE_FALLOC;
	r->done = 0;
	return ++r->cur < r->nrange;
}

static struct disk_backend *sync_or_oom(int fd, char *err, size_t errlen)
{
	struct disk_backend *disk = disk_backend_sync_create(fd);

	if (!disk)
		errf(err, errlen, "out of memory");
	return disk;
}

struct disk_backend *disk_backend_open(int fd, unsigned depth, char *err, size_t errlen)
{
	const char *want = getenv("VIREO_BLK_BACKEND");
	struct disk_backend *disk;
	char why[200];

	if (want && !strcmp(want, "sync"))
		return sync_or_oom(fd, err, errlen);
	if (want && *want && strcmp(want, "io_uring") && strcmp(want, "uring")) {
		errf(err, errlen, "VIREO_BLK_BACKEND=%s: expected sync or io_uring", want);
		return NULL;
	}
	disk = disk_backend_uring_create(fd, depth, why, sizeof(why));
	if (disk)
		return disk;
	if (want && *want) {
		errf(err, errlen, "VIREO_BLK_BACKEND=%s but io_uring is unavailable (%s)", want,
		     why);
		return NULL;
	}
	vireo_warn("io_uring unavailable (%s): using synchronous I/O on the I/O thread", why);
	return sync_or_oom(fd, err, errlen);
}
