/* SPDX-License-Identifier: MIT */
/*
 * blk.h -- virtio-blk (virtio 1.2, 5.2) over a host file or block device.
 *
 * The device parses each chain into a struct blk_req whose data iovecs are
 * the chain's own (pointing into guest RAM: no copies) and hands it to a
 * backend: io_uring (several requests in flight, completions reaped on the
 * I/O thread through an eventfd) or, when io_uring is unavailable or
 * VIREO_BLK_BACKEND=sync, plain preadv/pwritev/fdatasync/fallocate on the
 * I/O thread. A vCPU thread never does disk I/O.
 *
 * Guest-caused errors fail the request (IOERR or UNSUPP) and are counted;
 * a chain without a status byte goes back to the driver with length 0 and
 * counts as malformed.
 */
#ifndef VIREO_VIRTIO_BLK_H
#define VIREO_VIRTIO_BLK_H

#include "vireo/virtio/queue.h"
#include "vireo/virtio/virtio.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VIRTIO_ID_BLOCK 2

/* Feature bits (virtio 1.2, 5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX	  1
#define VIRTIO_BLK_F_SEG_MAX	  2
#define VIRTIO_BLK_F_GEOMETRY	  4
#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_BLK_SIZE	  6
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_BLK_F_TOPOLOGY	  10
#define VIRTIO_BLK_F_CONFIG_WCE	  11
#define VIRTIO_BLK_F_MQ		  12
#define VIRTIO_BLK_F_DISCARD	  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types (5.2.6). */
#define VIRTIO_BLK_T_IN		  0
#define VIRTIO_BLK_T_OUT	  1
#define VIRTIO_BLK_T_FLUSH	  4
#define VIRTIO_BLK_T_GET_ID	  8
#define VIRTIO_BLK_T_DISCARD	  11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

/* Status byte values. */
#define VIRTIO_BLK_S_OK	    0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_SECTOR_SIZE 512u
#define VIRTIO_BLK_ID_BYTES    20u
/* The request header: le32 type, le32 reserved, le64 sector. */
#define VIRTIO_BLK_HDR_SIZE 16u

/* Flags of a discard / write-zeroes segment. */
#define VIRTIO_BLK_WZ_F_UNMAP 1u

/* One discard / write-zeroes range as the driver sends it (16 bytes, LE). */
struct virtio_blk_discard_write_zeroes {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

/* Device configuration layout (5.2.4); all multi-byte fields little-endian. */
struct virtio_blk_config {
	uint64_t capacity; /* in 512-byte sectors */
	uint32_t size_max; /* largest segment, bytes */
	uint32_t seg_max;  /* most data segments in one request */
	struct {
		uint16_t cylinders;
		uint8_t heads;
		uint8_t sectors;
	} geometry;
	uint32_t blk_size; /* logical block size, bytes */
	struct {
		uint8_t physical_block_exp;
		uint8_t alignment_offset;
		uint16_t min_io_size;
		uint32_t opt_io_size;
	} topology;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
	uint32_t max_secure_erase_sectors;
	uint32_t max_secure_erase_seg;
	uint32_t secure_erase_sector_alignment;
};

/* What vireo offers (and enforces). */
#define BLK_QUEUE_SIZE	    256u		 /* queue_max_size, and requests in flight */
#define BLK_SEG_MAX	    (BLK_QUEUE_SIZE - 2) /* seg_max: header and status take two */
#define BLK_SIZE_MAX	    (1u << 20)		 /* size_max: 1 MiB per segment */
#define BLK_MAX_DATA	    ((uint64_t)BLK_SIZE_MAX * BLK_SEG_MAX) /* bytes per request */
#define BLK_DISCARD_SEG_MAX 16u	       /* max_discard_seg = max_write_zeroes_seg */
#define BLK_DISCARD_SECTORS (1u << 22) /* max sectors per discard/write-zeroes segment (2 GiB) */

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

/* ---- requests ---- */

/* What the parser checks a request against: the disk's shape and mode. */
struct blk_limits {
	uint64_t capacity; /* sectors */
	uint32_t align;	   /* O_DIRECT: buffers, lengths and offsets must be multiples; else 1 */
	uint32_t discard_align; /* sectors: discard_sector_alignment (the file's block size) */
	bool ro;		/* read-only disk */
	char id[VIRTIO_BLK_ID_BYTES]; /* GET_ID answer, NUL-padded */
};

/* A discard / write-zeroes range, decoded and range-checked. */
struct blk_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

struct blk_req {
	/* Filled by blk_parse_request(). */
	uint16_t head;		       /* the chain, for virtq_push() */
	uint32_t type;		       /* VIRTIO_BLK_T_* */
	uint64_t sector;	       /* from the header */
	uint8_t *status_byte;	       /* the chain's last writable byte (guest RAM) */
	struct iovec iov[BLK_SEG_MAX]; /* the data: the chain's iovecs, trimmed */
	unsigned niov;
	size_t len; /* data bytes */
	struct blk_seg seg[BLK_DISCARD_SEG_MAX];
	unsigned nseg;

	/* The outcome. */
	uint8_t status;	  /* VIRTIO_BLK_S_* */
	uint32_t written; /* bytes written into the chain, status byte included */
	bool unaligned;	  /* refused: misaligned for O_DIRECT */

	/* Backend progress. IN/OUT: bytes done, the next from iov[cur]. DISCARD,
	 * WRITE_ZEROES: segment seg[cur], done bytes into it when writing zeros. */
	size_t done;
	unsigned cur;
	uint8_t seg_how;  /* BLK_SEG_*: how segment seg[cur] is being done */
	unsigned retries; /* EINTR/EAGAIN answers so far (bounded) */
	bool busy;	  /* taken from the device's pool */
	/* The device generation (reset count) it belongs to; a completion of
	 * another generation is stale: it touches neither the guest nor the ring. */
	uint32_t gen;
	bool cancelled; /* reset while in flight: finish at the next completion, no retries */
};

enum blk_parse_result {
	BLK_REQ_SUBMIT,	   /* valid I/O: hand it to the backend */
	BLK_REQ_DONE,	   /* answered: status (and GET_ID's id) decided, written set */
	BLK_REQ_MALFORMED, /* no status byte: return the chain with length 0 */
};

/*
 * Parse chain c (readable iovecs, then writable ones, all in guest RAM) into
 * r. The 16-byte header may span several readable iovecs; the status byte is
 * the last writable byte; the data are the readable bytes after the header
 * (OUT, DISCARD, WRITE_ZEROES) or the writable bytes before the status (IN,
 * GET_ID). Data on the wrong side (readable bytes after an IN's or GET_ID's
 * header, writable ones besides an OUT's, DISCARD's or WRITE_ZEROES' status)
 * is IOERR; FLUSH ignores what it carries. Validation failures become
 * BLK_REQ_DONE with IOERR or UNSUPP.
 * GET_ID is answered here: the id is written into the chain. Nothing outside
 * the chain's iovecs is touched, and nothing but the id is written.
 */
enum blk_parse_result blk_parse_request(const struct blk_limits *lim, const struct virtq_chain *c,
					struct blk_req *r);

/* Mark the first `n` bytes of r's data (from iov[cur]) as done: advance the iovecs. */
void blk_req_advance(struct blk_req *r, size_t n);

/*
 * How a DISCARD / WRITE_ZEROES segment is done: fallocate(2), punching a
 * hole for DISCARD and for WRITE_ZEROES with the unmap flag, zeroing the
 * range (FALLOC_FL_ZERO_RANGE) otherwise; a WRITE_ZEROES the file system
 * cannot do that way (EOPNOTSUPP) tries the other mode (a hole reads as
 * zeros too), then plain writes of zeros. A discard the file system cannot
 * do is skipped: it is only a hint.
 */
enum { BLK_SEG_FALLOC, BLK_SEG_FALLOC_OTHER, BLK_SEG_WRITE };

/* The fallocate(2) mode for r->seg[r->cur] (FALLOC_FL_KEEP_SIZE always). */
int blk_seg_fallocate_mode(const struct blk_req *r);

/*
 * Segment r->seg[r->cur] failed with errno err. Returns true to try it again
 * (r->seg_how says how now); false to move on: r->status is then IOERR, or
 * still OK for a discard the file system cannot do.
 */
bool blk_seg_failed(struct blk_req *r, int err);

/* BLK_SEG_WRITE: the next piece of zeros to write, [*off, *off + len); len 0: done. */
size_t blk_seg_zero_chunk(const struct blk_req *r, uint64_t *off);
/* A read-only buffer of zeros, page-aligned, at least BLK_ZERO_CHUNK bytes. */
#define BLK_ZERO_CHUNK 65536u
const void *blk_zero_buf(void);

/* Segment r->seg[r->cur] is done: go to the next. False when it was the last. */
bool blk_seg_next(struct blk_req *r);

/* ---- backends ---- */

struct blk_backend;

struct blk_backend_ops {
	const char *name; /* "io_uring", "sync" */
	/*
	 * Start r (parsed, BLK_REQ_SUBMIT). Returns true when it is already
	 * complete (r->status set), false when in flight: the completion then
	 * comes through b->complete() from reap().
	 */
	bool (*submit)(struct blk_backend *b, struct blk_req *r);
	/* After a batch of submits: hand them to the kernel. */
	void (*kick)(struct blk_backend *b);
	/* Finish whatever completed, calling b->complete() for each request. */
	unsigned (*reap)(struct blk_backend *b);
	/*
	 * Device reset or stop: cancel everything in flight (the device has
	 * marked those requests cancelled) and wait at most timeout_ns for the
	 * kernel to let go of them; each one that finishes comes back through
	 * b->complete(). Returns how many are still in flight: a hung disk's
	 * requests may stay so, and the device must not reuse them (or let the
	 * driver start over) until they come back.
	 */
	unsigned (*cancel)(struct blk_backend *b, uint64_t timeout_ns);
	void (*destroy)(struct blk_backend *b);
};

struct blk_backend {
	const struct blk_backend_ops *ops;
	int fd;	      /* the disk */
	int event_fd; /* readable when reap() has work; -1 for none */
	unsigned inflight;
	/* Test hook: cancel() submits no cancellation, like a disk whose I/O
	 * cannot be interrupted (a request then stays until the disk answers). */
	bool no_cancel;
	/* Set by the owner: a request finished asynchronously (r->status set). */
	void (*complete)(void *opaque, struct blk_req *r);
	void *opaque;
};

/* Synchronous I/O on the calling thread (preadv/pwritev/fdatasync/fallocate). */
struct blk_backend *blk_backend_sync_create(int fd);
/*
 * io_uring with `depth` entries: probes the ring (a NOP round trip and the
 * opcodes needed) and registers an eventfd. NULL with the reason in err.
 */
struct blk_backend *blk_backend_uring_create(int fd, unsigned depth, char *err, size_t errlen);
/*
 * The backend a disk uses: VIREO_BLK_BACKEND=sync forces the synchronous
 * one, =io_uring requires io_uring; unset, io_uring when the probe succeeds,
 * else the synchronous one with a warning. NULL (reason in err) only for a
 * bad VIREO_BLK_BACKEND or an unavailable forced io_uring.
 */
struct blk_backend *blk_backend_open(int fd, unsigned depth, char *err, size_t errlen);

/* Run r to completion with plain system calls; sets r->status. */
void blk_sync_execute(int fd, struct blk_req *r);

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
struct blk_backend *virtio_blk_backend(struct virtio_dev *d);
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
