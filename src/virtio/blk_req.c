/* SPDX-License-Identifier: MIT */
/*
 * blk_req.c -- the virtio-blk request parser: a chain of guest buffers
 * becomes a struct blk_req, validated against the disk's limits, whose
 * struct disk_req a disk engine runs as is; and the engine's result as a
 * status byte.
 */
#include "vireo/virtio/blk_req.h"
#include "vireo/lib/util.h"

#include <endian.h>
#include <string.h>

_Static_assert(sizeof(struct virtio_blk_discard_write_zeroes) == 16, "discard segment");
_Static_assert(BLK_MAX_DATA + 1 <= UINT32_MAX, "written fits the used ring's u32");

/* Bytes in iov[0..n); false when the sum overflows. */
static bool iov_total(const struct iovec *iov, unsigned n, size_t *total)
{
	*total = 0;
	for (unsigned i = 0; i < n; i++)
		if (__builtin_add_overflow(*total, iov[i].iov_len, total))
			return false;
	return true;
}

/*
 * r->iov = bytes [skip, skip + len) of iov[0..n), empty pieces dropped.
 * The caller has checked that iov[0..n) holds skip + len bytes. False when
 * that takes more than BLK_SEG_MAX pieces.
 */
static bool collect_data(struct blk_req *r, const struct iovec *iov, unsigned n, size_t skip,
			 size_t len)
{
	struct disk_req *dr = &r->disk;

	dr->niov = 0;
	dr->len = len;
	for (unsigned i = 0; i < n && len; i++) {
		size_t l = iov[i].iov_len, k;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		k = l - skip < len ? l - skip : len;
		if (dr->niov == BLK_SEG_MAX)
			return false;
		r->iov[dr->niov++] =
		    (struct iovec){.iov_base = (uint8_t *)iov[i].iov_base + skip, .iov_len = k};
		len -= k;
		skip = 0;
	}
	return true;
}

static enum blk_parse_result answer(struct blk_req *r, uint8_t status)
{
	r->status = status;
	r->written = 1;
	return BLK_REQ_DONE;
}

/* Is [sector, sector + count) inside the disk? (No overflow: capacity - sector.) */
static bool in_range(const struct blk_limits *lim, uint64_t sector, uint64_t count)
{
	return sector <= lim->capacity && count <= lim->capacity - sector;
}

static bool aligned_for_direct(const struct blk_limits *lim, const struct blk_req *r)
{
	uint64_t a = lim->align;

	if (a <= 1)
		return true;
	if (r->disk.offset % a)
		return false;
	for (unsigned i = 0; i < r->disk.niov; i++)
		if ((uintptr_t)r->iov[i].iov_base % a || r->iov[i].iov_len % a)
			return false;
	return true;
}

static enum blk_parse_result parse_rw(const struct blk_limits *lim, struct blk_req *r,
				      const struct iovec *iov, unsigned n, size_t skip, size_t len)
{
	if (r->type == VIRTIO_BLK_T_OUT && lim->ro)
		return answer(r, VIRTIO_BLK_S_IOERR);
	if (len % VIRTIO_BLK_SECTOR_SIZE || len > BLK_MAX_DATA)
		return answer(r, VIRTIO_BLK_S_IOERR);
	if (!in_range(lim, r->sector, len / VIRTIO_BLK_SECTOR_SIZE))
		return answer(r, VIRTIO_BLK_S_IOERR);
	if (!collect_data(r, iov, n, skip, len))
		return answer(r, VIRTIO_BLK_S_IOERR); /* more segments than seg_max */
	if (!aligned_for_direct(lim, r)) {
		r->unaligned = true;
		return answer(r, VIRTIO_BLK_S_IOERR);
	}
	if (len == 0)
		return answer(r, VIRTIO_BLK_S_OK); /* nothing to move */
	return BLK_REQ_SUBMIT;
}

static enum blk_parse_result parse_segments(const struct blk_limits *lim, struct blk_req *r,
					    const struct iovec *iov, unsigned n, size_t payload)
{
	if (lim->ro)
		return answer(r, VIRTIO_BLK_S_IOERR);
	if (payload == 0 || payload % sizeof(struct virtio_blk_discard_write_zeroes) ||
	    payload / sizeof(struct virtio_blk_discard_write_zeroes) > BLK_DISCARD_SEG_MAX)
		return answer(r, VIRTIO_BLK_S_IOERR);
	r->disk.nrange = 0;
	for (size_t off = 0; off < payload; off += sizeof(struct virtio_blk_discard_write_zeroes)) {
		uint8_t raw[sizeof(struct virtio_blk_discard_write_zeroes)];
		uint64_t sector;
		uint32_t num, flags;

		iov_to_buf(iov, n, VIRTIO_BLK_HDR_SIZE + off, raw, sizeof(raw));
		memcpy(&sector, raw, 8);
		memcpy(&num, raw + 8, 4);
		memcpy(&flags, raw + 12, 4);
		sector = le64toh(sector);
		num = le32toh(num);
		flags = le32toh(flags);
		/* 5.2.6.2: unknown flags, or unmap on a discard, are UNSUPP. */
		if (flags & ~VIRTIO_BLK_WZ_F_UNMAP ||
		    (r->type == VIRTIO_BLK_T_DISCARD && flags & VIRTIO_BLK_WZ_F_UNMAP))
			return answer(r, VIRTIO_BLK_S_UNSUPP);
		if (num > BLK_DISCARD_SECTORS || !in_range(lim, sector, num))
			return answer(r, VIRTIO_BLK_S_IOERR);
		if (num)
			r->seg[r->disk.nrange++] = (struct disk_range){
			    .offset = sector * VIRTIO_BLK_SECTOR_SIZE,
			    .len = (uint64_t)num * VIRTIO_BLK_SECTOR_SIZE,
			    .unmap = flags & VIRTIO_BLK_WZ_F_UNMAP,
			};
	}
	if (r->disk.nrange == 0)
		return answer(r, VIRTIO_BLK_S_OK);
	return BLK_REQ_SUBMIT;
}

/* The disk operation of a request type the engines run (the others never reach one). */
static enum disk_op disk_op_of(uint32_t type)
{
	switch (type) {
	case VIRTIO_BLK_T_IN:
		return DISK_READ;
	case VIRTIO_BLK_T_OUT:
		return DISK_WRITE;
	case VIRTIO_BLK_T_DISCARD:
		return DISK_DISCARD;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return DISK_WRITE_ZEROES;
	default:
		return DISK_FLUSH;
	}
}

enum blk_parse_result blk_parse_request(const struct blk_limits *lim, const struct virtq_chain *c,
					struct blk_req *r)
{
	const struct iovec *rd = c->iov, *wr;
	uint8_t hdr[VIRTIO_BLK_HDR_SIZE];
	size_t out_total, in_total;
	unsigned last;
	uint32_t type;
	uint64_t sector;

	r->head = c->head;
	r->type = UINT32_MAX;
	r->sector = 0;
	r->status_byte = NULL;
	r->disk.iov = r->iov;
	r->disk.range = r->seg;
	r->disk.niov = r->disk.nrange = 0;
	r->disk.len = 0;
	r->disk.offset = 0;
	disk_req_start(&r->disk);
	r->unaligned = false;
	r->status = VIRTIO_BLK_S_OK;
	r->written = 0;

	/* A chain the queue code could not have built: nothing in it is trusted. */
	if (c->nr_out > VIRTQ_MAX_IOV || c->nr_in > VIRTQ_MAX_IOV - c->nr_out)
		return BLK_REQ_MALFORMED;
	wr = c->iov + c->nr_out;

	/* The status byte: the last byte of the last non-empty writable iovec. */
	for (last = c->nr_in; last > 0 && wr[last - 1].iov_len == 0; last--)
		;
	if (last == 0)
		return BLK_REQ_MALFORMED;
	r->status_byte = (uint8_t *)wr[last - 1].iov_base + wr[last - 1].iov_len - 1;

	if (!iov_total(rd, c->nr_out, &out_total) || !iov_total(wr, last, &in_total))
		return answer(r, VIRTIO_BLK_S_IOERR);
	if (iov_to_buf(rd, c->nr_out, 0, hdr, sizeof(hdr)) < sizeof(hdr))
		return answer(r, VIRTIO_BLK_S_IOERR); /* no complete header */
	memcpy(&type, hdr, 4);
	memcpy(&sector, hdr + 8, 8);
	r->type = le32toh(type);
	r->sector = le64toh(sector);
	r->disk.offset = r->sector * VIRTIO_BLK_SECTOR_SIZE;
	r->disk.op = disk_op_of(r->type);

	/*
	 * The layout (5.2.6): IN and GET_ID have nothing readable but the
	 * header; OUT, DISCARD and WRITE_ZEROES nothing writable but the status.
	 * Data on the wrong side is a driver bug, and a transfer the driver did
	 * not mean: IOERR. (FLUSH ignores whatever it carries.)
	 */
	if (((r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_GET_ID) &&
	     out_total != VIRTIO_BLK_HDR_SIZE) ||
	    ((r->type == VIRTIO_BLK_T_OUT || r->type == VIRTIO_BLK_T_DISCARD ||
	      r->type == VIRTIO_BLK_T_WRITE_ZEROES) &&
	     in_total != 1))
		return answer(r, VIRTIO_BLK_S_IOERR);

	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		/* The data: every writable byte but the status. */
		return parse_rw(lim, r, wr, last, 0, in_total - 1);
	case VIRTIO_BLK_T_OUT:
		return parse_rw(lim, r, rd, c->nr_out, VIRTIO_BLK_HDR_SIZE,
				out_total - VIRTIO_BLK_HDR_SIZE);
	case VIRTIO_BLK_T_FLUSH:
		/* The sector field and any data are ignored (5.2.6.1). */
		return BLK_REQ_SUBMIT;
	case VIRTIO_BLK_T_GET_ID: {
		size_t n = in_total - 1 < VIRTIO_BLK_ID_BYTES ? in_total - 1 : VIRTIO_BLK_ID_BYTES;

		if (!collect_data(r, wr, last, 0, n))
			return answer(r, VIRTIO_BLK_S_IOERR);
		iov_from_buf(r->iov, r->disk.niov, 0, lim->id, n);
		r->status = VIRTIO_BLK_S_OK;
		r->written = (uint32_t)n + 1;
		return BLK_REQ_DONE;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return parse_segments(lim, r, rd, c->nr_out, out_total - VIRTIO_BLK_HDR_SIZE);
	default:
		return answer(r, VIRTIO_BLK_S_UNSUPP);
	}
}

uint8_t blk_req_status(const struct blk_req *r)
{
	return r->disk.result ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
}
