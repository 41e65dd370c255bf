/* SPDX-License-Identifier: MIT */
/*
 * uring.c -- the io_uring disk engine (liburing).
 *
 * One ring per disk, as deep as the device asks (its queue size). Reads and writes go straight
 * from and to the guest's buffers (READV/WRITEV on the chain's iovecs), a
 * FLUSH is an FSYNC with IORING_FSYNC_DATASYNC, DISCARD and WRITE_ZEROES are
 * FALLOCATE. Completions raise an eventfd that the disk's I/O thread
 * watches; reap() then finishes them.
 *
 * A request has at most one operation in flight: a short transfer is
 * resubmitted for the remainder, a multi-segment DISCARD runs its segments
 * one after the other. So the operations in flight never outnumber the
 * requests, which never outnumber the ring (the device's request pool is
 * as large as the ring): the submission queue cannot fill up and the
 * completion queue (twice as deep) cannot overflow.
 *
 * Not thread-safe: the owner serialises every call (the device's lock).
 */
#include "vireo/block/disk.h"
#include "vireo/lib/util.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* At destroy, what a hung disk may still hold gets this long, then is left behind. */
#define URING_STOP_WAIT_NS 200000000ull

struct uring_backend {
	struct disk_backend disk;
	struct io_uring ring;
	bool ring_ok;
	bool warned;
};

static struct uring_backend *to_uring(struct disk_backend *disk)
{
	return (struct uring_backend *)disk;
}

/* Queue r's next operation. False when there is no submission slot. */
static bool prep(struct uring_backend *u, struct disk_req *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
	int fd = u->disk.fd;

	if (!sqe) {
		/* Cannot happen (see the top of the file); flush and retry anyway. */
		io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
		if (!sqe)
			return false;
	}
	switch (r->op) {
	case DISK_READ:
	case DISK_WRITE: {
		__u64 off = r->offset + r->done;

		if (r->op == DISK_READ)
			io_uring_prep_readv(sqe, fd, &r->iov[r->cur], r->niov - r->cur, off);
		else
			io_uring_prep_writev(sqe, fd, &r->iov[r->cur], r->niov - r->cur, off);
		break;
	}
	case DISK_FLUSH:
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		break;
	default: { /* DISCARD, WRITE_ZEROES: submit lets nothing else through */
		const struct disk_range *g = &r->range[r->cur];

		if (r->range_how == DISK_RANGE_WRITE) {
			uint64_t off;

			r->zero_iov.iov_len = disk_range_zero_chunk(r, &off);
			r->zero_iov.iov_base = (void *)disk_zero_buf();
			io_uring_prep_writev(sqe, fd, &r->zero_iov, 1, off);
			break;
		}
		io_uring_prep_fallocate(sqe, fd, disk_range_fallocate_mode(r), (off_t)g->offset,
					(off_t)g->len);
		break;
	}
	}
	io_uring_sqe_set_data(sqe, r);
	u->disk.inflight++;
	return true;
}

static bool uring_submit(struct disk_backend *disk, struct disk_req *r)
{
	struct uring_backend *u = to_uring(disk);

	r->result = 0;
	if (r->op != DISK_READ && r->op != DISK_WRITE && r->op != DISK_FLUSH &&
	    r->op != DISK_DISCARD && r->op != DISK_WRITE_ZEROES) {
		r->result = -EOPNOTSUPP;
		return true;
	}
	if ((r->op == DISK_DISCARD || r->op == DISK_WRITE_ZEROES) && r->nrange == 0)
		return true;
	if (!prep(u, r)) {
		r->result = -EIO;
		return true;
	}
	return false;
}

static void uring_kick(struct disk_backend *disk)
{
	struct uring_backend *u = to_uring(disk);

	while (io_uring_sq_ready(&u->ring)) {
		int ret = io_uring_submit(&u->ring);

		if (ret > 0 || ret == -EINTR)
			continue;
		/* Left in the submission queue: the next kick (a doorbell or a
		 * completion) tries again. Cannot happen while the operations in
		 * flight fit the completion queue, which they always do. */
		if (!u->warned)
			vireo_warn("disk: io_uring submit: %s",
				   ret ? strerror(-ret) : "nothing taken");
		u->warned = true;
		return;
	}
}

/* EINTR/EAGAIN from the kernel: try again, but not forever. */
static bool again(struct disk_req *r, int res)
{
	return (res == -EINTR || res == -EAGAIN) && ++r->retries <= 16;
}

/*
 * The operation of r finished with result res. Returns true when r is
 * complete (r->result final), false when its next operation is queued.
 */
static bool step(struct uring_backend *u, struct disk_req *r, int res)
{
	if (r->cancelled)
		return true; /* reset under it: no remainder, no retry */
	switch (r->op) {
	case DISK_READ:
	case DISK_WRITE:
		if (again(r, res))
			break;
		/* An error, or end of file (the file shrank under us). */
		if (res <= 0 || (size_t)res > r->len - r->done) {
			r->result = res < 0 ? res : -EIO;
			return true;
		}
		disk_req_advance(r, (size_t)res);
		if (r->done == r->len)
			return true;
		break; /* short: the remainder */
	case DISK_FLUSH:
		if (again(r, res))
			break;
		if (res < 0)
			r->result = res;
		return true;
	default:
		if (again(r, res))
			break;
		if (r->range_how == DISK_RANGE_WRITE && res >= 0) {
			uint64_t off;

			if (res == 0 || (size_t)res > r->zero_iov.iov_len) {
				r->result = -EIO;
				return true;
			}
			r->done += (size_t)res;
			if (disk_range_zero_chunk(r, &off))
				break; /* more zeros for this range */
		} else if (res < 0) {
			if (disk_range_failed(r, -res))
				break; /* this range again, the other way */
			if (r->result)
				return true;
			/* A discard the file system cannot do: skipped. */
		}
		if (!disk_range_next(r))
			return true;
		break;
	}
	if (!prep(u, r)) {
		r->result = -EIO;
		return true;
	}
	return false;
}

static unsigned uring_reap(struct disk_backend *disk)
{
	struct uring_backend *u = to_uring(disk);
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		struct disk_req *r = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&u->ring, cqe);
		if (!r)
			continue; /* not ours (the probe's NOP) */
		disk->inflight--;
		if (step(u, r, res)) {
			disk->complete(disk->opaque, r);
			n++;
		}
	}
	return n;
}

/* Ask the kernel to cancel every request of the ring (one ASYNC_CANCEL, any user_data). */
static void cancel_all(struct uring_backend *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe)
		return; /* cannot happen: requests never fill the ring (see the top) */
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	io_uring_sqe_set_data(sqe, NULL); /* its own completion is not a request's */
	uring_kick(&u->disk);
}

static unsigned uring_cancel(struct disk_backend *disk, uint64_t timeout_ns)
{
	struct uring_backend *u = to_uring(disk);
	uint64_t deadline = now_ns() + timeout_ns;

	uring_kick(disk); /* queued operations too: the kernel must know them to cancel them */
	uring_reap(disk);
	if (disk->inflight && !disk->no_cancel)
		cancel_all(u);
	while (disk->inflight) {
		struct io_uring_cqe *cqe;
		uint64_t now = now_ns(), left;
		struct __kernel_timespec ts;
		int ret;

		if (now >= deadline)
			break;
		left = deadline - now;
		ts.tv_sec = (long long)(left / 1000000000ull);
		ts.tv_nsec = (long long)(left % 1000000000ull);
		ret = io_uring_wait_cqe_timeout(&u->ring, &cqe, &ts);
		if (ret == -EINTR)
			continue;
		if (ret < 0)
			break; /* -ETIME: the disk keeps them; the caller quarantines */
		uring_reap(disk);
	}
	return disk->inflight;
}

static void uring_destroy(struct disk_backend *disk)
{
	struct uring_backend *u = to_uring(disk);

	if (u->ring_ok) {
		/* Bounded: closing the ring leaves what is still stuck to the kernel. */
		uring_cancel(disk, URING_STOP_WAIT_NS);
		io_uring_queue_exit(&u->ring);
	}
	if (disk->event_fd >= 0)
		close(disk->event_fd);
	free(u);
}

static const struct disk_backend_ops uring_ops = {
    .name = "io_uring",
    .submit = uring_submit,
    .kick = uring_kick,
    .reap = uring_reap,
    .cancel = uring_cancel,
    .destroy = uring_destroy,
};

/* Can this ring do what a disk needs? A NOP round trip and the opcodes. */
static int probe(struct io_uring *ring, char *err, size_t errlen)
{
	static const struct {
		int op;
		const char *name;
	} need[] = {
	    {IORING_OP_READV, "READV"},
	    {IORING_OP_WRITEV, "WRITEV"},
	    {IORING_OP_FSYNC, "FSYNC"},
	    {IORING_OP_FALLOCATE, "FALLOCATE"},
	};
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int ret;

	if (!p)
		return errf(err, errlen, "no opcode probe: kernel older than 5.6");
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (!io_uring_opcode_supported(p, need[i].op)) {
			io_uring_free_probe(p);
			return errf(err, errlen, "no IORING_OP_%s", need[i].name);
		}
	}
	io_uring_free_probe(p);

	sqe = io_uring_get_sqe(ring);
	if (!sqe)
		return errf(err, errlen, "no submission slot");
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data(sqe, NULL);
	ret = io_uring_submit(ring);
	if (ret != 1)
		return errf(err, errlen, "NOP submit: %s", ret < 0 ? strerror(-ret) : "not taken");
	do
		ret = io_uring_wait_cqe(ring, &cqe);
	while (ret == -EINTR);
	if (ret < 0)
		return errf(err, errlen, "NOP completion: %s", strerror(-ret));
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	if (ret < 0)
		return errf(err, errlen, "NOP: %s", strerror(-ret));
	return 0;
}

struct disk_backend *disk_backend_uring_create(int fd, unsigned depth, char *err, size_t errlen)
{
	struct uring_backend *u = calloc(1, sizeof(*u));
	int ret;

	if (!u) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	u->disk.ops = &uring_ops;
	u->disk.fd = fd;
	u->disk.event_fd = -1;
	ret = io_uring_queue_init(depth, &u->ring, 0);
	if (ret < 0) {
		errf(err, errlen, "io_uring_setup: %s", strerror(-ret));
		goto fail;
	}
	u->ring_ok = true;
	if (probe(&u->ring, err, errlen) < 0)
		goto fail;
	u->disk.event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->disk.event_fd < 0) {
		errf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	ret = io_uring_register_eventfd(&u->ring, u->disk.event_fd);
	if (ret < 0) {
		errf(err, errlen, "io_uring_register_eventfd: %s", strerror(-ret));
		goto fail;
	}
	return &u->disk;
fail:
	uring_destroy(&u->disk);
	return NULL;
}
