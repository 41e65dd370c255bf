/* SPDX-License-Identifier: MIT */
/*
 * disk.h -- disk I/O engines over a host file or block device, knowing
 * nothing of the device that uses them (src/block/).
 *
 * A device turns its own requests into a struct disk_req: an operation, a
 * byte offset, the data's iovecs (pointing wherever the device likes, e.g.
 * straight into guest RAM: no copies) and, for DISCARD and WRITE_ZEROES, a
 * list of byte ranges. An engine runs it and leaves the outcome in `result`:
 * 0, or -errno. Two engines: io_uring (several requests in flight,
 * completions reaped through an eventfd) and a synchronous one (preadv/
 * pwritev/fdatasync/fallocate on the calling thread), chosen by
 * disk_backend_open().
 */
#ifndef VIREO_BLOCK_DISK_H
#define VIREO_BLOCK_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum disk_op {
	DISK_READ,
	DISK_WRITE,
	DISK_FLUSH,	   /* fdatasync */
	DISK_DISCARD,	   /* a hint: a range the file system cannot drop is skipped */
	DISK_WRITE_ZEROES, /* the ranges must read as zeros afterwards */
};

/* One DISCARD / WRITE_ZEROES range, in bytes. */
struct disk_range {
	uint64_t offset;
	uint64_t len;
	bool unmap; /* WRITE_ZEROES: a hole is preferred to written zeros */
};

/*
 * How a DISCARD / WRITE_ZEROES range is done: fallocate(2), punching a hole
 * for DISCARD and for WRITE_ZEROES with unmap, zeroing the range
 * (FALLOC_FL_ZERO_RANGE) otherwise; a WRITE_ZEROES the file system cannot do
 * that way (EOPNOTSUPP) tries the other mode (a hole reads as zeros too),
 * then plain writes of zeros. A discard the file system cannot do is
 * skipped: it is only a hint.
 */
enum { DISK_RANGE_FALLOC, DISK_RANGE_FALLOC_OTHER, DISK_RANGE_WRITE };

struct disk_req {
	/* Set by the device. */
	enum disk_op op;
	uint64_t offset;   /* READ, WRITE: bytes into the disk */
	struct iovec *iov; /* READ, WRITE: the data; advanced in place as it moves */
	unsigned niov;
	size_t len;			/* data bytes */
	const struct disk_range *range; /* DISCARD, WRITE_ZEROES */
	unsigned nrange;
	bool cancelled; /* the device gave up on it: finish at the next completion, no retries */

	/* The outcome: 0 or -errno (an I/O error, or end of file for a file
	 * that shrank under us: -EIO). */
	int result;

	/* Engine progress. READ/WRITE: bytes done, the next from iov[cur].
	 * DISCARD, WRITE_ZEROES: range range[cur], done bytes into it when
	 * writing zeros. */
	size_t done;
	unsigned cur;
	uint8_t range_how;     /* DISK_RANGE_*: how range[cur] is being done */
	unsigned retries;      /* EINTR/EAGAIN answers so far (bounded) */
	struct iovec zero_iov; /* io_uring: the piece of zeros being written */
};

/* Ready r for an engine: no progress, result 0 (the device's fields stay). */
void disk_req_start(struct disk_req *r);

/* Mark the first `n` bytes of r's data (from iov[cur]) as done: advance the iovecs. */
void disk_req_advance(struct disk_req *r, size_t n);

/* The fallocate(2) mode for r->range[r->cur] (FALLOC_FL_KEEP_SIZE always). */
int disk_range_fallocate_mode(const struct disk_req *r);

/*
 * Range r->range[r->cur] failed with errno err. Returns true to try it again
 * (r->range_how says how now); false to move on: r->result is then -err, or
 * still 0 for a discard the file system cannot do.
 */
bool disk_range_failed(struct disk_req *r, int err);

/* DISK_RANGE_WRITE: the next piece of zeros to write, [*off, *off + len); len 0: done. */
size_t disk_range_zero_chunk(const struct disk_req *r, uint64_t *off);
/* A read-only buffer of zeros, page-aligned, at least DISK_ZERO_CHUNK bytes. */
#define DISK_ZERO_CHUNK 65536u
const void *disk_zero_buf(void);

/* Range r->range[r->cur] is done: go to the next. False when it was the last. */
bool disk_range_next(struct disk_req *r);

/* ---- engines ---- */

struct disk_backend;

struct disk_backend_ops {
	const char *name; /* "io_uring", "sync" */
	/*
	 * Start r. Returns true when it is already complete (r->result set),
	 * false when in flight: the completion then comes through
	 * b->complete() from reap().
	 */
	bool (*submit)(struct disk_backend *disk, struct disk_req *r);
	/* After a batch of submits: hand them to the kernel. */
	void (*kick)(struct disk_backend *disk);
	/* Finish whatever completed, calling b->complete() for each request. */
	unsigned (*reap)(struct disk_backend *disk);
	/*
	 * Device reset or stop: cancel everything in flight (the device has
	 * marked those requests cancelled) and wait at most timeout_ns for the
	 * kernel to let go of them; each one that finishes comes back through
	 * b->complete(). Returns how many are still in flight: a hung disk's
	 * requests may stay so, and the device must not reuse them (or let the
	 * driver start over) until they come back.
	 */
	unsigned (*cancel)(struct disk_backend *disk, uint64_t timeout_ns);
	void (*destroy)(struct disk_backend *disk);
};

struct disk_backend {
	const struct disk_backend_ops *ops;
	int fd;	      /* the disk */
	int event_fd; /* readable when reap() has work; -1 for none */
	unsigned inflight;
	/* Test hook: cancel() submits no cancellation, like a disk whose I/O
	 * cannot be interrupted (a request then stays until the disk answers). */
	bool no_cancel;
	/* Set by the owner: a request finished asynchronously (r->result set). */
	void (*complete)(void *opaque, struct disk_req *r);
	void *opaque;
};

/* Synchronous I/O on the calling thread (preadv/pwritev/fdatasync/fallocate). */
struct disk_backend *disk_backend_sync_create(int fd);
/*
 * io_uring with `depth` entries: probes the ring (a NOP round trip and the
 * opcodes needed) and registers an eventfd. NULL with the reason in err.
 */
struct disk_backend *disk_backend_uring_create(int fd, unsigned depth, char *err, size_t errlen);
/*
 * The engine a disk uses: VIREO_BLK_BACKEND=sync forces the synchronous
 * one, =io_uring requires io_uring; unset, io_uring when the probe succeeds,
 * else the synchronous one with a warning. NULL (reason in err) only for a
 * bad VIREO_BLK_BACKEND or an unavailable forced io_uring.
 */
struct disk_backend *disk_backend_open(int fd, unsigned depth, char *err, size_t errlen);

/* Run r to completion with plain system calls; sets r->result. */
void disk_sync_execute(int fd, struct disk_req *r);

#endif
