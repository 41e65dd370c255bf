/* SPDX-License-Identifier: MIT */
/*
 * blk_req.h -- virtio-blk's wire format (virtio 1.2, 5.2) and the request
 * parser: a chain of guest buffers becomes a struct blk_req, whose
 * struct disk_req (include/vireo/block/disk.h) a disk engine can run as is.
 * Pure: no file, no device state; the unit tests and the fuzzer drive it
 * with hand-made chains.
 */
#ifndef VIREO_VIRTIO_BLK_REQ_H
#define VIREO_VIRTIO_BLK_REQ_H

#include "vireo/block/disk.h"
#include "vireo/virtio/queue.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

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

/* ---- requests ---- */

/* What the parser checks a request against: the disk's shape and mode. */
struct blk_limits {
	uint64_t capacity; /* sectors */
	uint32_t align;	   /* O_DIRECT: buffers, lengths and offsets must be multiples; else 1 */
	uint32_t discard_align; /* sectors: discard_sector_alignment (the file's block size) */
	bool ro;		/* read-only disk */
	char id[VIRTIO_BLK_ID_BYTES]; /* GET_ID answer, NUL-padded */
};

struct blk_req {
	/*
	 * What a disk engine runs, filled by blk_parse_request(): the operation,
	 * the byte offset, the data (disk.iov = iov below, disk.niov, disk.len)
	 * and the ranges (disk.range = seg below, disk.nrange); the engine's
	 * progress and result (0 or -errno) are there too.
	 */
	struct disk_req disk;

	/* Filled by blk_parse_request(). */
	uint16_t head;				    /* the chain, for virtq_push() */
	uint32_t type;				    /* VIRTIO_BLK_T_* */
	uint64_t sector;			    /* from the header */
	uint8_t *status_byte;			    /* the chain's last writable byte (guest RAM) */
	struct iovec iov[BLK_SEG_MAX];		    /* the data: the chain's iovecs, trimmed */
	struct disk_range seg[BLK_DISCARD_SEG_MAX]; /* DISCARD, WRITE_ZEROES: decoded, checked */

	/* The outcome. */
	uint8_t status;	  /* VIRTIO_BLK_S_*: the parser's answer, or the engine's result mapped */
	uint32_t written; /* bytes written into the chain, status byte included */
	bool unaligned;	  /* refused: misaligned for O_DIRECT */

	/* The device's pool. */
	bool busy; /* taken from the pool */
	/* The device generation (reset count) it belongs to; a completion of
	 * another generation is stale: it touches neither the guest nor the ring. */
	uint32_t gen;
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

/* VIRTIO_BLK_S_* for what the engine left in r->disk.result. */
uint8_t blk_req_status(const struct blk_req *r);

#endif
