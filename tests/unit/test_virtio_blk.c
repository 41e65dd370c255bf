/* SPDX-License-Identifier: MIT */
/*
 * test_virtio_blk.c -- virtio-blk: the --disk argument, the request parser
 * over hand-made chains, device creation and config space, and the device
 * end to end over a temporary file with both backends (io_uring and sync).
 *
 * The parser tests put every buffer of a chain in its own piece of a host
 * buffer and poison (ASan) everything between the pieces, so a parser that
 * reads or writes outside the chain's iovecs fails the test.
 *
 * The end-to-end tests play the driver: the three rings and every buffer
 * live in fake guest RAM, a chain is published the way a guest does it, the
 * "doorbell" is queue_notify() with the device lock held (as the transport
 * calls it), and completions arrive through a real I/O thread, which reaps
 * io_uring's eventfd. Each of these runs once per backend.
 */
#include "unit.h"

#include "vireo/core/iothread.h"
#include "vireo/virtio/blk.h"
#include "vireo/virtio/queue.h"
#include "vireo/virtio/virtio.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sanitizer/asan_interface.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#define CAP 2048u /* sectors of the parser tests' disk: 1 MiB */

/* ---- hand-made chains for the parser ---- */

#define PC_BUF KIB(64)

struct pchain {
	struct virtq_chain c;
	struct blk_req r;
	struct blk_limits lim;
	uint8_t *buf; /* PC_BUF bytes, poisoned except where iovecs point */
	size_t used;
};

static int pc_setup(void **state)
{
	struct pchain *p = calloc(1, sizeof(*p));

	if (!p)
		return -1;
	p->buf = aligned_alloc(4096, PC_BUF);
	if (!p->buf)
		return -1;
	memset(p->buf, 0xee, PC_BUF);
	ASAN_POISON_MEMORY_REGION(p->buf, PC_BUF);
	p->lim.capacity = CAP;
	p->lim.align = 1;
	memcpy(p->lim.id, "vireo-unit-test", 15);
	*state = p;
	return 0;
}

static int pc_teardown(void **state)
{
	struct pchain *p = *state;

	ASAN_UNPOISON_MEMORY_REGION(p->buf, PC_BUF);
	free(p->buf);
	free(p);
	return 0;
}

/* Append a buffer of len bytes (16 poisoned bytes after the previous one). */
static uint8_t *pc_add_aligned(struct pchain *p, size_t len, bool writable, size_t align)
{
	uint8_t *b;

	p->used = ALIGN_UP(p->used + 16, align);
	assert_true(p->used + len <= PC_BUF);
	b = p->buf + p->used;
	p->used += len;
	ASAN_UNPOISON_MEMORY_REGION(b, len);
	if (writable) {
		p->c.iov[p->c.nr_out + p->c.nr_in++] = (struct iovec){b, len};
		p->c.in_len += len;
	} else {
		assert_int_equal(p->c.nr_in, 0); /* readable ones first */
		p->c.iov[p->c.nr_out++] = (struct iovec){b, len};
		p->c.out_len += len;
	}
	return b;
}

static uint8_t *pc_add(struct pchain *p, size_t len, bool writable)
{
	return pc_add_aligned(p, len, writable, 16);
}

static void put_hdr(uint8_t *b, uint32_t type, uint64_t sector)
{
	put32(b, 0, type);
	put32(b, 4, 0);
	put64(b, 8, sector);
}

static void put_seg(uint8_t *b, uint64_t sector, uint32_t num, uint32_t flags)
{
	put64(b, 0, sector);
	put32(b, 8, num);
	put32(b, 12, flags);
}

/* A plain request: header, data buffers of the given lengths, status. */
static uint8_t *pc_simple(struct pchain *p, uint32_t type, uint64_t sector, size_t data_len,
			  bool data_writable)
{
	put_hdr(pc_add(p, 16, false), type, sector);
	if (data_len)
		pc_add(p, data_len, data_writable);
	return pc_add(p, 1, true);
}

static enum blk_parse_result parse(struct pchain *p)
{
	p->c.head = 7;
	return blk_parse_request(&p->lim, &p->c, &p->r);
}

static void expect_done(struct pchain *p, uint8_t status)
{
	assert_int_equal(parse(p), BLK_REQ_DONE);
	assert_int_equal(p->r.status, status);
	assert_int_equal(p->r.written, 1);
	assert_int_equal(p->r.head, 7);
}

static void test_header_split(void **state)
{
	struct pchain *p = *state;
	uint8_t hdr[16], *a, *b, *c, *data, *status;

	put_hdr(hdr, VIRTIO_BLK_T_OUT, 100);
	a = pc_add(p, 5, false);
	b = pc_add(p, 7, false);
	c = pc_add(p, 4 + 512, false); /* the header's last 4 bytes, then data */
	memcpy(a, hdr, 5);
	memcpy(b, hdr + 5, 7);
	memcpy(c, hdr + 12, 4);
	data = pc_add(p, 1024, false);
	status = pc_add(p, 1, true);

	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
	assert_int_equal(p->r.type, VIRTIO_BLK_T_OUT);
	assert_int_equal(p->r.sector, 100);
	assert_int_equal(p->r.disk.len, 1536);
	assert_int_equal(p->r.disk.niov, 2);
	assert_ptr_equal(p->r.iov[0].iov_base, c + 4);
	assert_int_equal(p->r.iov[0].iov_len, 512);
	assert_ptr_equal(p->r.iov[1].iov_base, data);
	assert_int_equal(p->r.iov[1].iov_len, 1024);
	assert_ptr_equal(p->r.status_byte, status);
	assert_int_equal(p->r.head, 7);
}

static void test_in_data_and_status_share(void **state)
{
	struct pchain *p = *state;
	uint8_t *w1, *w2;

	put_hdr(pc_add(p, 16, false), VIRTIO_BLK_T_IN, 8);
	w1 = pc_add(p, 512, true);
	pc_add(p, 0, true); /* empty ones are skipped */
	w2 = pc_add(p, 513, true);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
	assert_int_equal(p->r.disk.len, 1024);
	assert_int_equal(p->r.disk.niov, 2);
	assert_ptr_equal(p->r.iov[0].iov_base, w1);
	assert_ptr_equal(p->r.iov[1].iov_base, w2);
	assert_int_equal(p->r.iov[1].iov_len, 512);
	assert_ptr_equal(p->r.status_byte, w2 + 512);
	/* Nothing written by the parser for a read. */
	assert_int_equal(w2[512], 0xee);
}

static void test_missing_status(void **state)
{
	struct pchain *p = *state;

	/* Only readable buffers. */
	put_hdr(pc_add(p, 16, false), VIRTIO_BLK_T_IN, 0);
	pc_add(p, 512, false);
	assert_int_equal(parse(p), BLK_REQ_MALFORMED);

	/* Writable buffers, but all empty. */
	pc_add(p, 0, true);
	pc_add(p, 0, true);
	assert_int_equal(parse(p), BLK_REQ_MALFORMED);

	/* A chain no queue could have built. */
	p->c.nr_out = VIRTQ_MAX_IOV;
	p->c.nr_in = 1;
	assert_int_equal(parse(p), BLK_REQ_MALFORMED);
}

/* Data on the wrong side of the chain: IOERR, nothing transferred. */
static void test_wrong_side_data(void **state)
{
	struct pchain *p = *state;
	static const uint32_t readers[] = {VIRTIO_BLK_T_IN, VIRTIO_BLK_T_GET_ID};
	static const uint32_t writers[] = {VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_DISCARD,
					   VIRTIO_BLK_T_WRITE_ZEROES};
	uint8_t *b;

	/* IN / GET_ID whose data buffer is readable. */
	for (size_t i = 0; i < ARRAY_SIZE(readers); i++) {
		memset(&p->c, 0, sizeof(p->c));
		pc_simple(p, readers[i], 0, 4096, false);
		expect_done(p, VIRTIO_BLK_S_IOERR);
		assert_int_equal(p->r.disk.niov, 0);
	}
	/* OUT / DISCARD / WRITE_ZEROES with a writable buffer before the status. */
	for (size_t i = 0; i < ARRAY_SIZE(writers); i++) {
		memset(&p->c, 0, sizeof(p->c));
		put_hdr(pc_add(p, 16, false), writers[i], 0);
		put_seg(pc_add(p, 16, false), 0, 8, 0);
		b = pc_add(p, 4096, true);
		pc_add(p, 1, true);
		expect_done(p, VIRTIO_BLK_S_IOERR);
		assert_int_equal(b[0], 0xee);
	}
	/* A header in two readable halves is still just a header. */
	memset(&p->c, 0, sizeof(p->c));
	b = pc_add(p, 8, false);
	put32(b, 0, VIRTIO_BLK_T_IN);
	put32(b, 4, 0);
	put64(pc_add(p, 8, false), 0, 3);
	pc_add(p, 513, true);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
	assert_int_equal(p->r.sector, 3);
	/* FLUSH carries what it likes. */
	memset(&p->c, 0, sizeof(p->c));
	put_hdr(pc_add(p, 16, false), VIRTIO_BLK_T_FLUSH, 0);
	pc_add(p, 64, false);
	pc_add(p, 64, true);
	pc_add(p, 1, true);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
}

static void test_short_header(void **state)
{
	struct pchain *p = *state;
	uint8_t *status;

	pc_add(p, 8, false);
	pc_add(p, 7, false);
	status = pc_add(p, 1, true);
	expect_done(p, VIRTIO_BLK_S_IOERR);
	assert_ptr_equal(p->r.status_byte, status);

	/* No readable buffer at all. */
	memset(&p->c, 0, sizeof(p->c));
	pc_add(p, 1, true);
	expect_done(p, VIRTIO_BLK_S_IOERR);
}

static void test_zero_length_data(void **state)
{
	struct pchain *p = *state;

	pc_simple(p, VIRTIO_BLK_T_IN, 5, 0, true);
	expect_done(p, VIRTIO_BLK_S_OK);

	memset(&p->c, 0, sizeof(p->c));
	pc_simple(p, VIRTIO_BLK_T_OUT, CAP, 0, false); /* at the very end: still inside */
	expect_done(p, VIRTIO_BLK_S_OK);
}

static void test_unaligned_length(void **state)
{
	struct pchain *p = *state;

	pc_simple(p, VIRTIO_BLK_T_IN, 0, 100, true);
	expect_done(p, VIRTIO_BLK_S_IOERR);

	memset(&p->c, 0, sizeof(p->c));
	put_hdr(pc_add(p, 16, false), VIRTIO_BLK_T_OUT, 0);
	pc_add(p, 256, false);
	pc_add(p, 257, false);
	pc_add(p, 1, true);
	expect_done(p, VIRTIO_BLK_S_IOERR);
}

static void test_beyond_capacity(void **state)
{
	struct pchain *p = *state;
	static const struct {
		uint64_t sector;
		size_t len;
		enum blk_parse_result want;
	} cases[] = {
	    {CAP - 1, 512, BLK_REQ_SUBMIT},
	    {CAP - 2, 1024, BLK_REQ_SUBMIT},
	    {CAP, 512, BLK_REQ_DONE},
	    {CAP - 1, 1024, BLK_REQ_DONE},
	    {CAP + 1, 0, BLK_REQ_DONE},
	    {UINT64_MAX, 512, BLK_REQ_DONE},
	    {UINT64_MAX - 1, 1024, BLK_REQ_DONE}, /* sector + count overflows */
	    {1ull << 55, 512, BLK_REQ_DONE},	  /* sector * 512 overflows */
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		for (int t = 0; t < 2; t++) {
			memset(&p->c, 0, sizeof(p->c));
			pc_simple(p, t ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, cases[i].sector,
				  cases[i].len, !t);
			assert_int_equal(parse(p), cases[i].want);
			if (cases[i].want == BLK_REQ_DONE)
				assert_int_equal(p->r.status, VIRTIO_BLK_S_IOERR);
		}
	}
}

static void test_too_big(void **state)
{
	struct pchain *p = *state;
	uint8_t *small;

	/* The parser never touches data: a huge iovec over a small buffer is safe. */
	put_hdr(pc_add(p, 16, false), VIRTIO_BLK_T_OUT, 0);
	small = pc_add(p, 512, false);
	p->c.iov[1].iov_len = BLK_MAX_DATA + 512;
	pc_add(p, 1, true);
	p->lim.capacity = UINT64_MAX / 1024;
	expect_done(p, VIRTIO_BLK_S_IOERR);
	p->c.iov[1].iov_len = BLK_MAX_DATA;
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
	assert_ptr_equal(p->r.iov[0].iov_base, small);

	/* As many data segments as seg_max, then one more. */
	for (unsigned extra = 0; extra < 2; extra++) {
		uint8_t *status;

		memset(&p->c, 0, sizeof(p->c));
		put_hdr(pc_add(p, 16, false), VIRTIO_BLK_T_OUT, 0);
		small = pc_add(p, 512, false);
		for (unsigned i = 1; i < BLK_SEG_MAX + extra; i++)
			p->c.iov[p->c.nr_out++] = (struct iovec){small, 512};
		status = pc_add(p, 1, true);
		if (extra) {
			expect_done(p, VIRTIO_BLK_S_IOERR);
		} else {
			assert_int_equal(parse(p), BLK_REQ_SUBMIT);
			assert_int_equal(p->r.disk.niov, BLK_SEG_MAX);
		}
		assert_ptr_equal(p->r.status_byte, status);
	}
}

static void test_readonly(void **state)
{
	struct pchain *p = *state;
	uint8_t *b;

	p->lim.ro = true;
	pc_simple(p, VIRTIO_BLK_T_OUT, 0, 512, false);
	expect_done(p, VIRTIO_BLK_S_IOERR);

	memset(&p->c, 0, sizeof(p->c));
	pc_simple(p, VIRTIO_BLK_T_IN, 0, 512, true);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);

	memset(&p->c, 0, sizeof(p->c));
	pc_simple(p, VIRTIO_BLK_T_FLUSH, 0, 0, false);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);

	for (uint32_t t = VIRTIO_BLK_T_DISCARD; t <= VIRTIO_BLK_T_WRITE_ZEROES; t += 2) {
		memset(&p->c, 0, sizeof(p->c));
		put_hdr(pc_add(p, 16, false), t, 0);
		b = pc_add(p, 16, false);
		put_seg(b, 0, 8, 0);
		pc_add(p, 1, true);
		expect_done(p, VIRTIO_BLK_S_IOERR);
	}
}

static void test_unknown_type(void **state)
{
	struct pchain *p = *state;
	static const uint32_t types[] = {2, 3, 5, 10, 12, 14, 0x80000000u, UINT32_MAX};

	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		memset(&p->c, 0, sizeof(p->c));
		pc_simple(p, types[i], 0, 512, true);
		expect_done(p, VIRTIO_BLK_S_UNSUPP);
	}
}

static void test_flush_with_sector_and_data(void **state)
{
	struct pchain *p = *state;

	pc_simple(p, VIRTIO_BLK_T_FLUSH, 12345678, 512, false);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
	assert_int_equal(p->r.type, VIRTIO_BLK_T_FLUSH);
}

/* A DISCARD / WRITE_ZEROES with the given segments (header, segments, status). */
static void pc_segments(struct pchain *p, uint32_t type,
			const struct virtio_blk_discard_write_zeroes *s, unsigned n)
{
	uint8_t *b;

	memset(&p->c, 0, sizeof(p->c));
	put_hdr(pc_add(p, 16, false), type, 999);
	b = pc_add(p, 16u * n, false);
	for (unsigned i = 0; i < n; i++)
		put_seg(b + 16 * i, s[i].sector, s[i].num_sectors, s[i].flags);
	pc_add(p, 1, true);
}

static void test_discard_segments(void **state)
{
	struct pchain *p = *state;
	struct virtio_blk_discard_write_zeroes s[BLK_DISCARD_SEG_MAX + 1];
	uint8_t *a, *b;

	/* Good: two ranges, one empty (dropped), the last one ending at capacity. */
	s[0] = (struct virtio_blk_discard_write_zeroes){8, 16, 0};
	s[1] = (struct virtio_blk_discard_write_zeroes){100, 0, 0};
	s[2] = (struct virtio_blk_discard_write_zeroes){CAP - 8, 8, 0};
	pc_segments(p, VIRTIO_BLK_T_DISCARD, s, 3);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
	assert_int_equal(p->r.disk.nrange, 2);
	assert_int_equal(p->r.seg[0].offset, 8 * 512);
	assert_int_equal(p->r.seg[0].len, 16 * 512);
	assert_int_equal(p->r.seg[1].offset, (CAP - 8) * 512);

	/* Only empty ranges: nothing to do. */
	pc_segments(p, VIRTIO_BLK_T_DISCARD, s + 1, 1);
	expect_done(p, VIRTIO_BLK_S_OK);

	/* Unmap on a discard, or an unknown flag: UNSUPP. On write-zeroes unmap is fine. */
	s[3] = (struct virtio_blk_discard_write_zeroes){0, 8, VIRTIO_BLK_WZ_F_UNMAP};
	pc_segments(p, VIRTIO_BLK_T_DISCARD, s + 3, 1);
	expect_done(p, VIRTIO_BLK_S_UNSUPP);
	pc_segments(p, VIRTIO_BLK_T_WRITE_ZEROES, s + 3, 1);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
	assert_true(p->r.seg[0].unmap);
	s[3].flags = 2;
	pc_segments(p, VIRTIO_BLK_T_WRITE_ZEROES, s + 3, 1);
	expect_done(p, VIRTIO_BLK_S_UNSUPP);

	/* Out of range, with and without overflow; too long a segment. */
	s[4] = (struct virtio_blk_discard_write_zeroes){CAP - 8, 9, 0};
	pc_segments(p, VIRTIO_BLK_T_DISCARD, s + 4, 1);
	expect_done(p, VIRTIO_BLK_S_IOERR);
	s[4] = (struct virtio_blk_discard_write_zeroes){UINT64_MAX - 2, 8, 0};
	pc_segments(p, VIRTIO_BLK_T_WRITE_ZEROES, s + 4, 1);
	expect_done(p, VIRTIO_BLK_S_IOERR);
	p->lim.capacity = UINT64_MAX;
	s[4] = (struct virtio_blk_discard_write_zeroes){0, BLK_DISCARD_SECTORS + 1, 0};
	pc_segments(p, VIRTIO_BLK_T_DISCARD, s + 4, 1);
	expect_done(p, VIRTIO_BLK_S_IOERR);
	p->lim.capacity = CAP;

	/* Too many segments. */
	for (unsigned i = 0; i <= BLK_DISCARD_SEG_MAX; i++)
		s[i] = (struct virtio_blk_discard_write_zeroes){i, 1, 0};
	pc_segments(p, VIRTIO_BLK_T_DISCARD, s, BLK_DISCARD_SEG_MAX);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
	assert_int_equal(p->r.disk.nrange, BLK_DISCARD_SEG_MAX);
	pc_segments(p, VIRTIO_BLK_T_DISCARD, s, BLK_DISCARD_SEG_MAX + 1);
	expect_done(p, VIRTIO_BLK_S_IOERR);

	/* A payload that is not whole segments, or none. */
	memset(&p->c, 0, sizeof(p->c));
	put_hdr(pc_add(p, 16, false), VIRTIO_BLK_T_DISCARD, 0);
	pc_add(p, 20, false);
	pc_add(p, 1, true);
	expect_done(p, VIRTIO_BLK_S_IOERR);
	memset(&p->c, 0, sizeof(p->c));
	pc_simple(p, VIRTIO_BLK_T_WRITE_ZEROES, 0, 0, false);
	expect_done(p, VIRTIO_BLK_S_IOERR);

	/* A segment split across buffers, header included. */
	memset(&p->c, 0, sizeof(p->c));
	a = pc_add(p, 20, false);
	b = pc_add(p, 12, false);
	{
		uint8_t raw[32];

		put_hdr(raw, VIRTIO_BLK_T_WRITE_ZEROES, 0);
		put_seg(raw + 16, 40, 24, 0);
		memcpy(a, raw, 20);
		memcpy(b, raw + 20, 12);
	}
	pc_add(p, 1, true);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
	assert_int_equal(p->r.disk.nrange, 1);
	assert_int_equal(p->r.seg[0].offset, 40 * 512);
	assert_int_equal(p->r.seg[0].len, 24 * 512);
}

static void test_get_id(void **state)
{
	struct pchain *p = *state;
	uint8_t *id, *status;

	put_hdr(pc_add(p, 16, false), VIRTIO_BLK_T_GET_ID, 0);
	id = pc_add(p, 12, true);
	status = pc_add(p, 9, true); /* 8 more id bytes, then the status */
	assert_int_equal(parse(p), BLK_REQ_DONE);
	assert_int_equal(p->r.status, VIRTIO_BLK_S_OK);
	assert_int_equal(p->r.written, 21);
	assert_memory_equal(id, "vireo-unit-t", 12);
	assert_memory_equal(status, "est\0\0\0\0\0", 8);
	assert_ptr_equal(p->r.status_byte, status + 8);

	/* A short buffer gets what fits. */
	memset(&p->c, 0, sizeof(p->c));
	put_hdr(pc_add(p, 16, false), VIRTIO_BLK_T_GET_ID, 0);
	id = pc_add(p, 5, true);
	pc_add(p, 1, true);
	assert_int_equal(parse(p), BLK_REQ_DONE);
	assert_int_equal(p->r.written, 6);
	assert_memory_equal(id, "vireo", 5);

	/* A long one gets 20 bytes. */
	memset(&p->c, 0, sizeof(p->c));
	put_hdr(pc_add(p, 16, false), VIRTIO_BLK_T_GET_ID, 0);
	id = pc_add(p, 64, true);
	assert_int_equal(parse(p), BLK_REQ_DONE);
	assert_int_equal(p->r.written, 21);
	assert_int_equal(id[20], 0xee);
}

static void test_direct_alignment(void **state)
{
	struct pchain *p = *state;

	p->lim.align = 512;
	put_hdr(pc_add(p, 16, false), VIRTIO_BLK_T_IN, 8);
	pc_add_aligned(p, 1024, true, 512);
	pc_add(p, 1, true);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
	assert_false(p->r.unaligned);

	/* A buffer off by 16 bytes. */
	memset(&p->c, 0, sizeof(p->c));
	pc_simple(p, VIRTIO_BLK_T_OUT, 8, 512, false);
	p->c.iov[1].iov_base = (uint8_t *)ALIGN_UP((uintptr_t)p->c.iov[1].iov_base, 512) + 16;
	p->c.iov[1].iov_len = 512;
	ASAN_UNPOISON_MEMORY_REGION(p->c.iov[1].iov_base, 512);
	expect_done(p, VIRTIO_BLK_S_IOERR);
	assert_true(p->r.unaligned);

	/* Aligned pieces whose lengths are not: 256 + 768. */
	memset(&p->c, 0, sizeof(p->c));
	put_hdr(pc_add(p, 16, false), VIRTIO_BLK_T_OUT, 8);
	pc_add_aligned(p, 256, false, 512);
	pc_add_aligned(p, 768, false, 512);
	pc_add(p, 1, true);
	expect_done(p, VIRTIO_BLK_S_IOERR);
	assert_true(p->r.unaligned);

	/* 4 KiB alignment: the offset counts too. */
	p->lim.align = 4096;
	memset(&p->c, 0, sizeof(p->c));
	put_hdr(pc_add(p, 16, false), VIRTIO_BLK_T_IN, 4);
	pc_add_aligned(p, 4096, true, 4096);
	pc_add(p, 1, true);
	expect_done(p, VIRTIO_BLK_S_IOERR);
	put_hdr(p->c.iov[0].iov_base, VIRTIO_BLK_T_IN, 8);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
}

static void test_req_advance(void **state)
{
	struct pchain *p = *state;
	uint8_t *a, *b;

	put_hdr(pc_add(p, 16, false), VIRTIO_BLK_T_IN, 0);
	a = pc_add(p, 512, true);
	b = pc_add(p, 1024, true);
	pc_add(p, 1, true);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
	disk_req_advance(&p->r.disk, 100);
	assert_int_equal(p->r.disk.cur, 0);
	assert_ptr_equal(p->r.iov[0].iov_base, a + 100);
	assert_int_equal(p->r.iov[0].iov_len, 412);
	disk_req_advance(&p->r.disk, 412);
	assert_int_equal(p->r.disk.cur, 1);
	assert_ptr_equal(p->r.iov[1].iov_base, b);
	disk_req_advance(&p->r.disk, 1000);
	assert_int_equal(p->r.disk.cur, 1);
	assert_ptr_equal(p->r.iov[1].iov_base, b + 1000);
	disk_req_advance(&p->r.disk, 24);
	assert_int_equal(p->r.disk.cur, 2);
	assert_int_equal(p->r.disk.done, 1536);
}

/* A fresh file of `size` bytes in `dir` (NULL: /tmp); its name into path. */
static int make_file_in(const char *dir, char *path, size_t len, uint64_t size)
{
	int fd;

	snprintf(path, len, "%s/vireo-blk-XXXXXX", dir ? dir : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static int make_file(char *path, size_t len, uint64_t size)
{
	return make_file_in(NULL, path, len, size);
}

/* The way a WRITE_ZEROES / DISCARD segment falls back when the file system cannot. */
static void test_seg_fallback_states(void **state)
{
	struct pchain *p = *state;
	struct virtio_blk_discard_write_zeroes s[2] = {{8, 16, 0}, {64, 8, VIRTIO_BLK_WZ_F_UNMAP}};
	uint64_t off;

	pc_segments(p, VIRTIO_BLK_T_WRITE_ZEROES, s, 2);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
	assert_int_equal(p->r.disk.range_how, DISK_RANGE_FALLOC);
	assert_int_equal(disk_range_fallocate_mode(&p->r.disk),
			 FALLOC_FL_KEEP_SIZE | FALLOC_FL_ZERO_RANGE);
	assert_true(disk_range_failed(&p->r.disk, EOPNOTSUPP));
	assert_int_equal(disk_range_fallocate_mode(&p->r.disk),
			 FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE);
	assert_true(disk_range_failed(&p->r.disk, EOPNOTSUPP));
	assert_int_equal(p->r.disk.range_how, DISK_RANGE_WRITE);
	assert_int_equal(disk_range_zero_chunk(&p->r.disk, &off), 16 * 512);
	assert_int_equal(off, 8 * 512);
	p->r.disk.done = 4096;
	assert_int_equal(disk_range_zero_chunk(&p->r.disk, &off), 4096);
	assert_int_equal(off, 8 * 512 + 4096);
	assert_false(disk_range_failed(&p->r.disk, EIO)); /* writing zeros failed: the end */
	assert_int_equal(p->r.disk.result, -EIO);

	/* The next segment starts over; unmap prefers a hole. */
	p->r.disk.result = 0;
	assert_true(disk_range_next(&p->r.disk));
	assert_int_equal(p->r.disk.range_how, DISK_RANGE_FALLOC);
	assert_int_equal(p->r.disk.done, 0);
	assert_int_equal(disk_range_fallocate_mode(&p->r.disk),
			 FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE);
	assert_false(disk_range_failed(&p->r.disk, EIO));
	assert_int_equal(p->r.disk.result, -EIO);
	assert_false(disk_range_next(&p->r.disk));

	/* A discard the file system cannot do is skipped, still OK. */
	pc_segments(p, VIRTIO_BLK_T_DISCARD, s, 1);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
	assert_int_equal(disk_range_fallocate_mode(&p->r.disk),
			 FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE);
	assert_false(disk_range_failed(&p->r.disk, EOPNOTSUPP));
	assert_int_equal(p->r.disk.result, 0);
	assert_false(disk_range_failed(&p->r.disk, EINVAL));
	assert_int_equal(p->r.disk.result, -EINVAL);
}

/* ---- the backends on their own ---- */

struct be_done {
	struct disk_req *r;
	unsigned n;
};

static void be_complete(void *opaque, struct disk_req *r)
{
	struct be_done *d = opaque;

	d->r = r;
	d->n++;
}

/* Run r on backend b to completion, reaping on its eventfd as the I/O thread does. */
static void be_run(struct disk_backend *b, struct disk_req *r)
{
	struct be_done done = {0};

	b->complete = be_complete;
	b->opaque = &done;
	if (b->ops->submit(b, r))
		return;
	b->ops->kick(b);
	while (!done.n) {
		struct pollfd pfd = {.fd = b->event_fd, .events = POLLIN};
		uint64_t v;

		assert_int_equal(poll(&pfd, 1, 5000), 1);
		assert_int_equal(read(b->event_fd, &v, sizeof(v)), (ssize_t)sizeof(v));
		b->ops->reap(b);
		b->ops->kick(b);
	}
	assert_int_equal(done.n, 1);
	assert_ptr_equal(done.r, r);
	assert_int_equal(b->inflight, 0);
}

/* Zeros by plain writes, in several chunks, on both backends. */
static void test_backend_write_zeros(void **state)
{
	struct pchain *p = *state;
	struct virtio_blk_discard_write_zeroes s = {.sector = 8,
						    .num_sectors = 300}; /* 150 KiB: three chunks */
	uint8_t *pat = malloc(KIB(256)), *got = malloc(KIB(256));
	char path[64], why[200];
	int fd = make_file(path, sizeof(path), MIB(1));

	assert_non_null(pat);
	assert_non_null(got);
	fill_pattern(pat, KIB(256), 11);
	for (int i = 0; i < 2; i++) {
		struct disk_backend *b = i ? disk_backend_uring_create(fd, 8, why, sizeof(why))
					   : disk_backend_sync_create(fd);

		if (!b) {
			fprintf(stderr, "# io_uring: %s: not tested\n", why);
			continue;
		}
		assert_int_equal(pwrite(fd, pat, KIB(256), 0), (ssize_t)KIB(256));
		pc_segments(p, VIRTIO_BLK_T_WRITE_ZEROES, &s, 1);
		assert_int_equal(parse(p), BLK_REQ_SUBMIT);
		p->r.disk.range_how = DISK_RANGE_WRITE; /* as after two EOPNOTSUPP */
		be_run(b, &p->r.disk);
		assert_int_equal(p->r.disk.result, 0);
		assert_int_equal(pread(fd, got, KIB(256), 0), (ssize_t)KIB(256));
		assert_memory_equal(got, pat, 4096);
		for (size_t k = 4096; k < 4096 + 300 * 512; k++)
			if (got[k])
				fail_msg("byte %zu not zeroed (%s)", k, b->ops->name);
		assert_memory_equal(got + 4096 + 300 * 512, pat + 4096 + 300 * 512,
				    KIB(256) - 4096 - 300 * 512);
		b->ops->destroy(b);
	}
	close(fd);
	unlink(path);
	free(pat);
	free(got);
}

/* io_uring on its own: a short read's remainder, segments one after the other, flush. */
static void test_backend_uring_rw(void **state)
{
	struct pchain *p = *state;
	struct virtio_blk_discard_write_zeroes s[3] = {
	    {0, 8, 0}, {16, 8, 0}, {32, 8, VIRTIO_BLK_WZ_F_UNMAP}};
	uint8_t pat[8192], got[8192];
	char path[64], why[200];
	int fd = make_file(path, sizeof(path), KIB(64));
	struct disk_backend *b = disk_backend_uring_create(fd, 8, why, sizeof(why));
	uint8_t *d0, *d1;

	if (!b) {
		close(fd);
		unlink(path);
		fprintf(stderr, "# io_uring: %s: skipping\n", why);
		skip();
	}
	fill_pattern(pat, sizeof(pat), 2);
	assert_int_equal(pwrite(fd, pat, sizeof(pat), 8192), (ssize_t)sizeof(pat));

	/* A read over two buffers; then again with the file cut after the first
	 * half: a short read, whose remainder is resubmitted and meets the end
	 * of the file: IOERR. */
	put_hdr(pc_add(p, 16, false), VIRTIO_BLK_T_IN, 16);
	d0 = pc_add(p, 4096, true);
	d1 = pc_add(p, 4097, true);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
	be_run(b, &p->r.disk);
	assert_int_equal(p->r.disk.result, 0);
	assert_memory_equal(d0, pat, 4096);
	assert_memory_equal(d1, pat + 4096, 4096);
	assert_int_equal(ftruncate(fd, 8192 + 4096), 0);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
	be_run(b, &p->r.disk);
	assert_int_equal(p->r.disk.result, -EIO);
	assert_int_equal(p->r.disk.done, 4096); /* the first half came, then end of file */
	assert_int_equal(ftruncate(fd, KIB(64)), 0);

	/* Three write-zeroes segments, one after the other. */
	assert_int_equal(pwrite(fd, pat, sizeof(pat), 0), (ssize_t)sizeof(pat));
	assert_int_equal(pwrite(fd, pat, sizeof(pat), 8192), (ssize_t)sizeof(pat));
	assert_int_equal(pwrite(fd, pat, sizeof(pat), 16384), (ssize_t)sizeof(pat));
	pc_segments(p, VIRTIO_BLK_T_WRITE_ZEROES, s, 3);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
	be_run(b, &p->r.disk);
	assert_int_equal(p->r.disk.result, 0);
	assert_int_equal(p->r.disk.cur, 3);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(pread(fd, got, 8192, 8192 * k), 8192);
		for (size_t j = 0; j < 4096; j++)
			assert_int_equal(got[j], 0);
		assert_memory_equal(got + 4096, pat + 4096, 4096);
	}

	/* A flush; then the cancel of a ring with nothing in flight returns at once. */
	memset(&p->c, 0, sizeof(p->c));
	pc_simple(p, VIRTIO_BLK_T_FLUSH, 0, 0, false);
	assert_int_equal(parse(p), BLK_REQ_SUBMIT);
	be_run(b, &p->r.disk);
	assert_int_equal(p->r.disk.result, 0);
	assert_int_equal(b->ops->cancel(b, 1000000000ull), 0);
	b->ops->destroy(b);
	close(fd);
	unlink(path);
}

/*
 * In a forked child: make system call `nr` fail with `err` from now on
 * (seccomp), as a host without that call would. 0, or -1.
 */
static int refuse_syscall(int nr, int err)
{
	struct sock_filter filter[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (uint32_t)err),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = ARRAY_SIZE(filter), .filter = filter};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return -1;
	return 0;
}

/* With fallocate(2) refused (seccomp, in a child): write-zeroes writes zeros. */
static void test_sync_without_fallocate(void **state)
{
	struct pchain *p = *state;
	char path[64];
	int fd = make_file(path, sizeof(path), KIB(64)), status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct virtio_blk_discard_write_zeroes s = {.sector = 2, .num_sectors = 4};
		uint8_t pat[4096], got[4096];

		fill_pattern(pat, sizeof(pat), 8);
		if (pwrite(fd, pat, sizeof(pat), 0) != (ssize_t)sizeof(pat))
			_exit(9);
		if (refuse_syscall(__NR_fallocate, EOPNOTSUPP) < 0)
			_exit(10);
		if (fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0, 512) == 0 ||
		    errno != EOPNOTSUPP)
			_exit(11);
		pc_segments(p, VIRTIO_BLK_T_WRITE_ZEROES, &s, 1);
		if (parse(p) != BLK_REQ_SUBMIT)
			_exit(12);
		disk_sync_execute(fd, &p->r.disk);
		if (p->r.disk.result != 0 || p->r.disk.range_how != DISK_RANGE_FALLOC)
			_exit(13);
		if (pread(fd, got, sizeof(got), 0) != (ssize_t)sizeof(got) ||
		    memcmp(got, pat, 1024) || memcmp(got + 3072, pat + 3072, 1024))
			_exit(14);
		for (int i = 1024; i < 3072; i++)
			if (got[i])
				_exit(15);
		/* A discard: skipped, OK, nothing changed. */
		pc_segments(p, VIRTIO_BLK_T_DISCARD, &s, 1);
		if (parse(p) != BLK_REQ_SUBMIT)
			_exit(16);
		if (pwrite(fd, pat, sizeof(pat), 0) != (ssize_t)sizeof(pat))
			_exit(17);
		disk_sync_execute(fd, &p->r.disk);
		if (p->r.disk.result != 0 ||
		    pread(fd, got, sizeof(got), 0) != (ssize_t)sizeof(got) ||
		    memcmp(got, pat, sizeof(pat)))
			_exit(18);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(fd);
	unlink(path);
}

/* ---- the --disk argument ---- */

static void test_parse_disk_arg(void **state)
{
	struct blk_disk_config c;
	char err[256], longp[PATH_MAX + 8];

	(void)state;
	assert_int_equal(blk_parse_disk_arg("disk.img", &c, err, sizeof(err)), 0);
	assert_string_equal(c.path, "disk.img");
	assert_false(c.ro);
	assert_false(c.direct);
	assert_int_equal(blk_parse_disk_arg("/x/y.raw,ro", &c, err, sizeof(err)), 0);
	assert_string_equal(c.path, "/x/y.raw");
	assert_true(c.ro);
	assert_false(c.direct);
	assert_int_equal(blk_parse_disk_arg("a,direct,ro,ro", &c, err, sizeof(err)), 0);
	assert_string_equal(c.path, "a");
	assert_true(c.ro);
	assert_true(c.direct);

	assert_int_equal(blk_parse_disk_arg("a,rw", &c, err, sizeof(err)), -1);
	assert_substr(err, "unknown option 'rw'");
	assert_int_equal(blk_parse_disk_arg("a,ro,directx", &c, err, sizeof(err)), -1);
	assert_substr(err, "'directx'");
	assert_int_equal(blk_parse_disk_arg("a,", &c, err, sizeof(err)), -1);
	assert_substr(err, "unknown option ''");
	assert_int_equal(blk_parse_disk_arg(",ro", &c, err, sizeof(err)), -1);
	assert_substr(err, "no file name");
	assert_int_equal(blk_parse_disk_arg("", &c, err, sizeof(err)), -1);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(blk_parse_disk_arg(longp, &c, err, sizeof(err)), -1);
	assert_substr(err, "file name longer than");
}

/* ---- creation and config space ---- */

static struct virtio_dev *dev_new(void)
{
	struct virtio_dev *d = calloc(1, sizeof(*d));

	assert_non_null(d);
	pthread_mutex_init(&d->lock, NULL);
	return d;
}

static void dev_free(struct virtio_dev *d)
{
	virtio_blk_destroy(d);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static int create(struct virtio_dev *d, const char *path, bool ro, bool direct, char *err,
		  size_t errlen)
{
	struct blk_disk_config c = {.ro = ro, .direct = direct};

	snprintf(c.path, sizeof(c.path), "%s", path);
	return virtio_blk_create(d, &c, NULL, err, errlen);
}

static void test_create_errors(void **state)
{
	struct virtio_dev *d = dev_new(), *d2 = dev_new();
	char err[256], path[64], dir[] = "/tmp/vireo-blk-dir-XXXXXX", fifo[80];
	int fd;

	(void)state;
	setenv("VIREO_BLK_BACKEND", "sync", 1);
	assert_int_equal(create(d, "/nonexistent/disk.img", false, false, err, sizeof(err)), -1);
	assert_string_equal(err, "No such file or directory");
	assert_null(d->ops);

	assert_non_null(mkdtemp(dir));
	assert_int_equal(create(d, dir, false, false, err, sizeof(err)), -1);
	assert_string_equal(err, "is a directory");
	assert_int_equal(create(d, dir, true, false, err, sizeof(err)), -1);
	assert_string_equal(err, "is a directory");

	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(create(d, fifo, true, false, err, sizeof(err)), -1);
	assert_string_equal(err, "not a regular file or block device");
	assert_int_equal(create(d, "/dev/null", false, false, err, sizeof(err)), -1);
	assert_string_equal(err, "not a regular file or block device");
	unlink(fifo);
	rmdir(dir);

	/* One writer at a time; readers share. */
	fd = make_file(path, sizeof(path), KIB(64));
	assert_int_equal(create(d, path, false, false, err, sizeof(err)), 0);
	assert_int_equal(create(d2, path, false, false, err, sizeof(err)), -1);
	assert_substr(err, "in use");
	assert_int_equal(create(d2, path, true, false, err, sizeof(err)), -1);
	virtio_blk_destroy(d);
	assert_int_equal(create(d, path, true, false, err, sizeof(err)), 0);
	assert_int_equal(create(d2, path, true, false, err, sizeof(err)), 0);

	/* A bad backend override. */
	setenv("VIREO_BLK_BACKEND", "aio", 1);
	virtio_blk_destroy(d2);
	assert_int_equal(create(d2, path, true, false, err, sizeof(err)), -1);
	assert_substr(err, "VIREO_BLK_BACKEND=aio");
	unsetenv("VIREO_BLK_BACKEND");

	dev_free(d);
	dev_free(d2);
	close(fd);
	unlink(path);
}

static uint64_t cfg_read(struct virtio_dev *d, size_t off, size_t len)
{
	uint64_t v = 0;

	d->ops->config_read(d, off, &v, len);
	return v;
}

static void test_config_space(void **state)
{
	struct virtio_dev *d = dev_new();
	struct stderr_capture cap;
	const char *msg;
	char err[256], path[64];
	uint64_t v = ~0ull;
	int fd;

	(void)state;
	setenv("VIREO_BLK_BACKEND", "sync", 1);
	fd = make_file(path, sizeof(path), MIB(1) + 100);
	stderr_capture_begin(&cap);
	assert_int_equal(create(d, path, false, false, err, sizeof(err)), 0);
	msg = stderr_capture_end(&cap);
	assert_substr(msg, "not a multiple of 512");
	assert_substr(msg, "last 100 bytes");

	assert_string_equal(d->ops->name, "blk");
	assert_int_equal(d->ops->device_id, VIRTIO_ID_BLOCK);
	assert_int_equal(d->ops->num_queues, 1);
	assert_int_equal(d->ops->queue_max_size, 256);
	assert_int_equal(d->ops->config_size, 72);
	assert_int_equal(d->ops->features,
			 (1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
			     (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |
			     (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
	assert_int_equal(virtio_blk_capacity(d), 2048);
	assert_string_equal(virtio_blk_backend_name(d), "sync");

	/* The fields at their virtio 1.2 offsets, little-endian. */
	assert_int_equal(cfg_read(d, 0, 8), 2048);
	assert_int_equal(cfg_read(d, 0, 4), 2048);
	assert_int_equal(cfg_read(d, 8, 4), BLK_SIZE_MAX);
	assert_int_equal(cfg_read(d, 12, 4), BLK_SEG_MAX);
	assert_int_equal(cfg_read(d, 20, 4), 512);
	assert_int_equal(cfg_read(d, 34, 2), 1);
	assert_int_equal(cfg_read(d, 36, 4), BLK_DISCARD_SECTORS);
	assert_int_equal(cfg_read(d, 40, 4), BLK_DISCARD_SEG_MAX);
	{
		struct stat st;

		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(cfg_read(d, 44, 4),
				 st.st_blksize > 512 ? (uint64_t)st.st_blksize / 512 : 1);
	}
	assert_int_equal(cfg_read(d, 48, 4), BLK_DISCARD_SECTORS);
	assert_int_equal(cfg_read(d, 52, 4), BLK_DISCARD_SEG_MAX);
	assert_int_equal(cfg_read(d, 56, 1), 1);
	assert_int_equal(cfg_read(d, 68, 4), 0);
	/* Out of bounds: zeros, nothing read past the end. */
	assert_int_equal(cfg_read(d, 70, 4), 0);
	assert_int_equal(cfg_read(d, 72, 1), 0);
	d->ops->config_read(d, SIZE_MAX - 2, &v, 8);
	assert_int_equal(v, 0);
	d->ops->config_write(d, 0, &v, 8); /* ignored */
	assert_int_equal(cfg_read(d, 0, 8), 2048);
	virtio_blk_destroy(d);

	/* Read-only: the RO feature. An empty file: a warning, capacity 0. */
	stderr_capture_begin(&cap);
	assert_int_equal(create(d, path, true, false, err, sizeof(err)), 0);
	stderr_capture_end(&cap);
	assert_true(d->ops->features & (1ull << VIRTIO_BLK_F_RO));
	virtio_blk_destroy(d);
	assert_int_equal(ftruncate(fd, 0), 0);
	stderr_capture_begin(&cap);
	assert_int_equal(create(d, path, false, false, err, sizeof(err)), 0);
	assert_substr(stderr_capture_end(&cap), "0 sectors");
	assert_int_equal(virtio_blk_capacity(d), 0);

	unsetenv("VIREO_BLK_BACKEND");
	dev_free(d);
	close(fd);
	unlink(path);
}

/* Is io_uring usable here (the probe the device does)? */
static bool uring_available(void)
{
	char why[200];
	struct disk_backend *b = disk_backend_uring_create(-1, 8, why, sizeof(why));

	if (!b)
		return false;
	b->ops->destroy(b);
	return true;
}

static void test_backend_choice(void **state)
{
	struct virtio_dev *d = dev_new();
	char err[256], path[64];
	int fd = make_file(path, sizeof(path), KIB(64));

	(void)state;
	setenv("VIREO_BLK_BACKEND", "sync", 1);
	assert_int_equal(create(d, path, false, false, err, sizeof(err)), 0);
	assert_string_equal(virtio_blk_backend_name(d), "sync");
	virtio_blk_destroy(d);
	unsetenv("VIREO_BLK_BACKEND");
	if (!uring_available()) {
		dev_free(d);
		close(fd);
		unlink(path);
		fprintf(stderr, "# io_uring unavailable here: skipping\n");
		skip();
	}
	assert_int_equal(create(d, path, false, false, err, sizeof(err)), 0);
	assert_string_equal(virtio_blk_backend_name(d), "io_uring");
	virtio_blk_destroy(d);
	setenv("VIREO_BLK_BACKEND", "io_uring", 1);
	assert_int_equal(create(d, path, false, false, err, sizeof(err)), 0);
	assert_string_equal(virtio_blk_backend_name(d), "io_uring");
	unsetenv("VIREO_BLK_BACKEND");
	dev_free(d);
	close(fd);
	unlink(path);
}

/* In a child where io_uring_setup fails (seccomp): a warning, then the sync backend. */
static void test_uring_fallback(void **state)
{
	char path[64];
	int fd = make_file(path, sizeof(path), KIB(64)), status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct virtio_dev d;
		struct stderr_capture cap;
		const char *msg;
		char err[256];
		int rc;

		memset(&d, 0, sizeof(d));
		pthread_mutex_init(&d.lock, NULL);
		if (refuse_syscall(__NR_io_uring_setup, ENOSYS) < 0)
			_exit(10);
		unsetenv("VIREO_BLK_BACKEND");
		stderr_capture_begin(&cap);
		rc = create(&d, path, false, false, err, sizeof(err));
		msg = stderr_capture_end(&cap);
		if (rc != 0)
			_exit(11);
		if (!strstr(msg, "io_uring unavailable (io_uring_setup: Function not "
				 "implemented): using synchronous I/O on the I/O thread"))
			_exit(12);
		if (strcmp(virtio_blk_backend_name(&d), "sync"))
			_exit(13);
		/* Forcing io_uring is an error there. */
		virtio_blk_destroy(&d);
		setenv("VIREO_BLK_BACKEND", "io_uring", 1);
		if (create(&d, path, false, false, err, sizeof(err)) != -1 ||
		    !strstr(err, "io_uring is unavailable"))
			_exit(14);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(fd);
	unlink(path);
}

/* ---- end to end: a fake driver, a real I/O thread, a temporary file ---- */

#define T_RAM	  MIB(16)
#define T_DESC	  0x10000ull
#define T_AVAIL	  0x20000ull
#define T_USED	  0x30000ull
#define T_DATA	  0x100000ull
#define T_QSIZE	  256u
#define DISK_SIZE MIB(1)
#define DISK_SECT (DISK_SIZE / 512)

struct e2e {
	const char *backend; /* VIREO_BLK_BACKEND */
	uint8_t *ram;
	struct gmem mem;
	struct virtio_dev d;
	bool have_dev;
	struct iothread io;
	char path[64];
	int fd; /* the test's own view of the disk file */
	uint16_t avail_idx, next_desc, used_seen;
	uint64_t data;
	unsigned irqs;
	bool event_idx;	      /* negotiate VIRTIO_F_RING_EVENT_IDX */
	unsigned refill_left; /* GET_IDs the "driver" still adds, from its interrupt handler */
};

static void refill_get_ids(struct e2e *e);

static void count_irq(struct virtio_dev *d, unsigned q)
{
	struct e2e *e = (struct e2e *)((char *)d - offsetof(struct e2e, d));

	(void)q;
	__atomic_fetch_add(&e->irqs, 1, __ATOMIC_RELAXED);
	if (e->refill_left)
		refill_get_ids(e);
}

static int e2e_setup(void **state, const char *backend)
{
	struct e2e *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	e->backend = backend;
	e->ram = mmap(NULL, T_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (e->ram == MAP_FAILED)
		return -1;
	gmem_layout(&e->mem, e->ram, T_RAM);
	if (iothread_init(&e->io) < 0)
		return -1;
	e->fd = -1;
	e->data = T_DATA;
	*state = e;
	return 0;
}

static int e2e_setup_uring(void **state)
{
	return e2e_setup(state, "io_uring");
}

static int e2e_setup_sync(void **state)
{
	return e2e_setup(state, "sync");
}

static int e2e_teardown(void **state)
{
	struct e2e *e = *state;

	iothread_stop(&e->io);
	if (e->have_dev) {
		virtio_blk_destroy(&e->d);
		pthread_mutex_destroy(&e->d.lock);
	}
	iothread_destroy(&e->io);
	if (e->fd >= 0) {
		close(e->fd);
		unlink(e->path);
	}
	munmap(e->ram, T_RAM);
	free(e);
	unsetenv("VIREO_BLK_BACKEND");
	return 0;
}

/* (Re)start the queue as a transport does at DRIVER_OK. */
static void e2e_activate(struct e2e *e)
{
	memset(e->ram + T_DESC, 0, T_DATA - T_DESC);
	memset(&e->d.vq[0], 0, sizeof(e->d.vq[0]));
	e->avail_idx = e->next_desc = e->used_seen = 0;
	assert_true(virtq_init(&e->d.vq[0], &e->mem, T_QSIZE, gpa(T_DESC), gpa(T_AVAIL),
			       gpa(T_USED), e->event_idx, false));
	assert_int_equal(e->d.ops->activate(&e->d), 0);
}

/* A disk over a fresh file in dir (NULL: /tmp), the queue ready, the I/O thread running. */
static void e2e_start_at(struct e2e *e, const char *dir, bool ro, bool direct)
{
	struct blk_disk_config c = {.ro = ro, .direct = direct};
	char err[256];

	e->fd = make_file_in(dir, e->path, sizeof(e->path), DISK_SIZE);
	snprintf(c.path, sizeof(c.path), "%s", e->path);
	setenv("VIREO_BLK_BACKEND", e->backend, 1);
	if (virtio_blk_create(&e->d, &c, &e->io, err, sizeof(err)) < 0) {
		if (strstr(err, "io_uring is unavailable") || direct) {
			fprintf(stderr, "# %s: skipping\n", err);
			skip();
		}
		fail_msg("virtio_blk_create: %s", err);
	}
	e->have_dev = true;
	assert_string_equal(virtio_blk_backend_name(&e->d), e->backend);
	pthread_mutex_init(&e->d.lock, NULL);
	e->d.mem = &e->mem;
	e->d.raise_irq = count_irq;
	e2e_activate(e);
	assert_int_equal(iothread_start(&e->io), 0);
}

static void e2e_start(struct e2e *e, bool ro)
{
	e2e_start_at(e, NULL, ro, false);
}

static uint8_t *g(struct e2e *e, uint64_t gpa_v, size_t len)
{
	uint8_t *p = gmem_ptr(&e->mem, gpa(gpa_v), len);

	assert_non_null(p);
	return p;
}

static uint64_t g_alloc(struct e2e *e, size_t len, size_t align)
{
	uint64_t a = ALIGN_UP(e->data, align);

	e->data = a + len;
	assert_true(e->data <= T_RAM);
	return a;
}

struct buf {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* Descriptors for the buffers, then the avail entry, then the index. */
static uint16_t publish_chain(struct e2e *e, const struct buf *b, unsigned n)
{
	uint16_t head = e->next_desc;
	uint8_t *avail = g(e, T_AVAIL, VIRTQ_AVAIL_BYTES(T_QSIZE));

	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % T_QSIZE);
		uint8_t *dsc = g(e, T_DESC + 16ull * idx, 16);

		put64(dsc, 0, b[i].gpa);
		put32(dsc, 8, b[i].len);
		put16(dsc, 12,
		      (uint16_t)((i + 1 < n ? VIRTQ_DESC_F_NEXT : 0) |
				 (b[i].write ? VIRTQ_DESC_F_WRITE : 0)));
		put16(dsc, 14, (uint16_t)((idx + 1) % T_QSIZE));
	}
	e->next_desc = (uint16_t)((head + n) % T_QSIZE);
	put16(avail, 4 + 2u * (e->avail_idx % T_QSIZE), head);
	__atomic_store_n((uint16_t *)(avail + 2), (uint16_t)(e->avail_idx + 1), __ATOMIC_RELEASE);
	e->avail_idx++;
	return head;
}

struct rq {
	uint16_t head;
	uint64_t hdr, status;
	uint64_t data[4];
	uint32_t dlen[4];
	unsigned nd;
};

/* A request with data buffers of the given lengths (0-terminated), published. */
static void rq_add(struct e2e *e, struct rq *r, uint32_t type, uint64_t sector,
		   const uint32_t *dlen, bool data_write)
{
	struct buf b[6];
	unsigned n = 0;

	memset(r, 0, sizeof(*r));
	r->hdr = g_alloc(e, 16, 16);
	put_hdr(g(e, r->hdr, 16), type, sector);
	b[n++] = (struct buf){r->hdr, 16, false};
	for (; dlen && dlen[r->nd]; r->nd++) {
		r->dlen[r->nd] = dlen[r->nd];
		r->data[r->nd] = g_alloc(e, dlen[r->nd], 4096);
		b[n++] = (struct buf){r->data[r->nd], dlen[r->nd], data_write};
	}
	r->status = g_alloc(e, 1, 1);
	*g(e, r->status, 1) = 0xff;
	b[n++] = (struct buf){r->status, 1, true};
	r->head = publish_chain(e, b, n);
}

/* The doorbell: what the transport does when the queue's eventfd fires. */
static void kick(struct e2e *e)
{
	pthread_mutex_lock(&e->d.lock);
	e->d.vq[0].stats.notifications++;
	e->d.ops->queue_notify(&e->d, 0);
	pthread_mutex_unlock(&e->d.lock);
}

static uint16_t used_idx(struct e2e *e)
{
	return __atomic_load_n((uint16_t *)g(e, T_USED + 2, 2), __ATOMIC_ACQUIRE);
}

/* GET_ID chains (3 descriptors) the ring's table holds at once. */
#define GET_ID_SLOTS (T_QSIZE / 3)

/*
 * A driver that keeps the ring full: GET_IDs (answered at once by either
 * backend) in every free slot, refill_left of them in all. Completion is in
 * order, so the descriptors reused are those of completed chains.
 */
static void refill_get_ids(struct e2e *e)
{
	static const uint32_t idl[] = {VIRTIO_BLK_ID_BYTES, 0};
	unsigned busy = (uint16_t)(e->avail_idx - used_idx(e));
	struct rq r;

	while (e->refill_left && busy < GET_ID_SLOTS) {
		rq_add(e, &r, VIRTIO_BLK_T_GET_ID, 0, idl, true);
		e->refill_left--;
		busy++;
	}
}

/* Wait until the device has returned `n` more chains. */
static void wait_used(struct e2e *e, unsigned n)
{
	uint16_t want = (uint16_t)(e->used_seen + n);
	struct timespec ts = {0, 200000};

	for (int i = 0; i < 25000 && used_idx(e) != want; i++)
		nanosleep(&ts, NULL);
	assert_int_equal(used_idx(e), want);
	e->used_seen = want;
}

/* The used element for `head` (searching the ring), its length. */
static uint32_t used_len_of(struct e2e *e, uint16_t head)
{
	const uint8_t *u = g(e, T_USED, VIRTQ_USED_BYTES(T_QSIZE));

	for (uint16_t i = 0; i < e->used_seen && i < T_QSIZE; i++)
		if (get32(u, 4 + 8u * i) == head)
			return get32(u, 8 + 8u * i);
	fail_msg("head %u not in the used ring", head);
	return 0;
}

static uint8_t status_of(struct e2e *e, const struct rq *r)
{
	return *g(e, r->status, 1);
}

/* One request, start to finish. */
static uint8_t run1(struct e2e *e, struct rq *r, uint32_t type, uint64_t sector,
		    const uint32_t *dlen, bool data_write)
{
	rq_add(e, r, type, sector, dlen, data_write);
	kick(e);
	wait_used(e, 1);
	return status_of(e, r);
}

static void file_read(struct e2e *e, uint64_t off, void *buf, size_t len)
{
	assert_int_equal(pread(e->fd, buf, len, (off_t)off), (ssize_t)len);
}

static void test_e2e_write_read(void **state)
{
	struct e2e *e = *state;
	static const uint32_t wl[] = {4096, 2048, 2048, 0}, rl[] = {512, 7680, 0};
	struct virtio_blk_stats s;
	uint8_t *want = malloc(8192), *got = malloc(8192);
	struct rq w, r;
	size_t off = 0;

	e2e_start(e, false);
	rq_add(e, &w, VIRTIO_BLK_T_OUT, 10, wl, false);
	for (unsigned i = 0; i < w.nd; off += w.dlen[i], i++)
		fill_pattern(g(e, w.data[i], w.dlen[i]), w.dlen[i], off);
	fill_pattern(want, 8192, 0);
	kick(e);
	wait_used(e, 1);
	assert_int_equal(status_of(e, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(used_len_of(e, w.head), 1);
	file_read(e, 10 * 512, got, 8192);
	assert_memory_equal(got, want, 8192);

	assert_int_equal(run1(e, &r, VIRTIO_BLK_T_IN, 10, rl, true), VIRTIO_BLK_S_OK);
	assert_int_equal(used_len_of(e, r.head), 8193);
	assert_memory_equal(g(e, r.data[0], 512), want, 512);
	assert_memory_equal(g(e, r.data[1], 7680), want + 512, 7680);

	virtio_blk_get_stats(&e->d, &s);
	assert_int_equal(s.writes, 1);
	assert_int_equal(s.reads, 1);
	assert_int_equal(s.io_errors, 0);
	assert_int_equal(e->d.vq[0].stats.bytes, 16384);
	assert_int_equal(e->d.vq[0].stats.requests, 2);
	assert_true(__atomic_load_n(&e->irqs, __ATOMIC_RELAXED) >= 2);
	free(want);
	free(got);
}

static void test_e2e_flush_and_id(void **state)
{
	struct e2e *e = *state;
	static const uint32_t idl[] = {20, 0};
	struct virtio_blk_stats s;
	struct rq r;
	char id[21] = {0};

	e2e_start(e, false);
	/* FLUSH with a sector: still a flush, still OK. */
	assert_int_equal(run1(e, &r, VIRTIO_BLK_T_FLUSH, 77, NULL, false), VIRTIO_BLK_S_OK);
	assert_int_equal(used_len_of(e, r.head), 1);
	assert_int_equal(run1(e, &r, VIRTIO_BLK_T_GET_ID, 0, idl, true), VIRTIO_BLK_S_OK);
	assert_int_equal(used_len_of(e, r.head), 21);
	memcpy(id, g(e, r.data[0], 20), 20);
	assert_int_equal(strncmp(id, "vireo-", 6), 0);
	assert_int_equal(strlen(id), 18);
	virtio_blk_get_stats(&e->d, &s);
	assert_int_equal(s.flushes, 1);
	assert_int_equal(s.get_ids, 1);
}

/* Is [off, off + len) one hole in the file? */
static bool is_hole(int fd, off_t off, off_t len)
{
	return lseek(fd, off, SEEK_HOLE) == off && lseek(fd, off, SEEK_DATA) >= off + len;
}

static void test_e2e_discard(void **state)
{
	struct e2e *e = *state;
	uint8_t *pat = malloc(KIB(256)), *got = malloc(KIB(256));
	static const uint32_t segl[] = {32, 0};
	struct virtio_blk_stats s;
	struct stat st0, st1;
	struct rq r;
	uint8_t *seg;

	e2e_start(e, false);
	fill_pattern(pat, KIB(256), 3);
	assert_int_equal(pwrite(e->fd, pat, KIB(256), 0), (ssize_t)KIB(256));
	assert_int_equal(fsync(e->fd), 0);
	assert_int_equal(fstat(e->fd, &st0), 0);

	/* Two ranges: [64K, 128K) and [160K, 192K). */
	rq_add(e, &r, VIRTIO_BLK_T_DISCARD, 0, segl, false);
	seg = g(e, r.data[0], 32);
	put_seg(seg, 128, 128, 0);
	put_seg(seg + 16, 320, 64, 0);
	kick(e);
	wait_used(e, 1);
	assert_int_equal(status_of(e, &r), VIRTIO_BLK_S_OK);

	assert_int_equal(fstat(e->fd, &st1), 0);
	assert_int_equal(st1.st_size, DISK_SIZE);
	assert_true(st1.st_blocks < st0.st_blocks);
	assert_true(is_hole(e->fd, KIB(64), KIB(64)));
	assert_true(is_hole(e->fd, KIB(160), KIB(32)));
	file_read(e, 0, got, KIB(256));
	assert_memory_equal(got, pat, KIB(64));
	for (size_t i = KIB(64); i < KIB(128); i++)
		assert_int_equal(got[i], 0);
	assert_memory_equal(got + KIB(128), pat + KIB(128), KIB(32));
	assert_memory_equal(got + KIB(192), pat + KIB(192), KIB(64));
	virtio_blk_get_stats(&e->d, &s);
	assert_int_equal(s.discards, 1);
	free(pat);
	free(got);
}

static void test_e2e_write_zeroes(void **state)
{
	struct e2e *e = *state;
	uint8_t *pat = malloc(KIB(64)), *got = malloc(KIB(64));
	static const uint32_t segl[] = {16, 0};
	struct rq r;

	e2e_start(e, false);
	fill_pattern(pat, KIB(64), 9);
	assert_int_equal(pwrite(e->fd, pat, KIB(64), 0), (ssize_t)KIB(64));

	/* [4K, 12K) zeroed in place; [32K, 48K) with unmap: a hole. */
	rq_add(e, &r, VIRTIO_BLK_T_WRITE_ZEROES, 0, segl, false);
	put_seg(g(e, r.data[0], 16), 8, 16, 0);
	kick(e);
	wait_used(e, 1);
	assert_int_equal(status_of(e, &r), VIRTIO_BLK_S_OK);
	rq_add(e, &r, VIRTIO_BLK_T_WRITE_ZEROES, 0, segl, false);
	put_seg(g(e, r.data[0], 16), 64, 32, VIRTIO_BLK_WZ_F_UNMAP);
	kick(e);
	wait_used(e, 1);
	assert_int_equal(status_of(e, &r), VIRTIO_BLK_S_OK);

	file_read(e, 0, got, KIB(64));
	assert_memory_equal(got, pat, KIB(4));
	for (size_t i = KIB(4); i < KIB(12); i++)
		assert_int_equal(got[i], 0);
	assert_memory_equal(got + KIB(12), pat + KIB(12), KIB(20));
	for (size_t i = KIB(32); i < KIB(48); i++)
		assert_int_equal(got[i], 0);
	assert_memory_equal(got + KIB(48), pat + KIB(48), KIB(16));
	assert_true(is_hole(e->fd, KIB(32), KIB(16)));
	free(pat);
	free(got);
}

/* tmpfs cannot FALLOC_FL_ZERO_RANGE: write-zeroes falls back to punching a hole. */
static void test_e2e_write_zeroes_fallback(void **state)
{
	struct e2e *e = *state;
	static const uint32_t segl[] = {16, 0};
	uint8_t pat[8192], got[8192];
	struct stat st;
	struct rq r;

	if (stat("/dev/shm", &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "# no /dev/shm: skipping\n");
		skip();
	}
	e2e_start_at(e, "/dev/shm", false, false);
	fill_pattern(pat, sizeof(pat), 4);
	assert_int_equal(pwrite(e->fd, pat, sizeof(pat), 0), (ssize_t)sizeof(pat));
	assert_int_equal(fallocate(e->fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_ZERO_RANGE, 0, 4096), -1);
	assert_int_equal(errno, EOPNOTSUPP);

	rq_add(e, &r, VIRTIO_BLK_T_WRITE_ZEROES, 0, segl, false);
	put_seg(g(e, r.data[0], 16), 0, 8, 0);
	kick(e);
	wait_used(e, 1);
	assert_int_equal(status_of(e, &r), VIRTIO_BLK_S_OK);
	file_read(e, 0, got, sizeof(got));
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(got[i], 0);
	assert_memory_equal(got + 4096, pat + 4096, 4096);
}

static void test_e2e_errors(void **state)
{
	struct e2e *e = *state;
	static const uint32_t one[] = {512, 0}, two[] = {1024, 0};
	struct virtio_blk_stats s;
	struct rq r;
	struct buf b[2];
	uint16_t head;
	uint64_t hdr;

	e2e_start(e, false);
	assert_int_equal(run1(e, &r, VIRTIO_BLK_T_IN, DISK_SECT, one, true), VIRTIO_BLK_S_IOERR);
	assert_int_equal(used_len_of(e, r.head), 1);
	assert_int_equal(run1(e, &r, VIRTIO_BLK_T_OUT, DISK_SECT - 1, two, false),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(run1(e, &r, VIRTIO_BLK_T_OUT, ~0ull, one, false), VIRTIO_BLK_S_IOERR);
	assert_int_equal(run1(e, &r, 99, 0, one, true), VIRTIO_BLK_S_UNSUPP);

	/* No status byte: back with length 0, counted as malformed. */
	hdr = g_alloc(e, 16, 16);
	put_hdr(g(e, hdr, 16), VIRTIO_BLK_T_IN, 0);
	b[0] = (struct buf){hdr, 16, false};
	b[1] = (struct buf){g_alloc(e, 512, 512), 512, false};
	head = publish_chain(e, b, 2);
	kick(e);
	wait_used(e, 1);
	assert_int_equal(used_len_of(e, head), 0);
	assert_int_equal(e->d.vq[0].stats.malformed, 1);

	virtio_blk_get_stats(&e->d, &s);
	assert_int_equal(s.io_errors, 3);
	assert_int_equal(s.unsupported, 1);

	/* The file shrank under the disk: the end of file is an I/O error. */
	assert_int_equal(ftruncate(e->fd, 4096), 0);
	assert_int_equal(run1(e, &r, VIRTIO_BLK_T_IN, 100, one, true), VIRTIO_BLK_S_IOERR);
	assert_int_equal(run1(e, &r, VIRTIO_BLK_T_IN, 0, one, true), VIRTIO_BLK_S_OK);
}

static void test_e2e_readonly(void **state)
{
	struct e2e *e = *state;
	static const uint32_t one[] = {512, 0}, segl[] = {16, 0};
	uint8_t got[512], zero[512] = {0};
	struct rq r;

	e2e_start(e, true);
	assert_true(e->d.ops->features & (1ull << VIRTIO_BLK_F_RO));
	rq_add(e, &r, VIRTIO_BLK_T_OUT, 0, one, false);
	memset(g(e, r.data[0], 512), 0xab, 512);
	kick(e);
	wait_used(e, 1);
	assert_int_equal(status_of(e, &r), VIRTIO_BLK_S_IOERR);
	file_read(e, 0, got, 512);
	assert_memory_equal(got, zero, 512);

	rq_add(e, &r, VIRTIO_BLK_T_WRITE_ZEROES, 0, segl, false);
	put_seg(g(e, r.data[0], 16), 0, 8, 0);
	kick(e);
	wait_used(e, 1);
	assert_int_equal(status_of(e, &r), VIRTIO_BLK_S_IOERR);

	assert_int_equal(run1(e, &r, VIRTIO_BLK_T_IN, 0, one, true), VIRTIO_BLK_S_OK);
	assert_int_equal(run1(e, &r, VIRTIO_BLK_T_FLUSH, 0, NULL, false), VIRTIO_BLK_S_OK);
}

#define N_INFLIGHT 16

static void test_e2e_many_in_flight(void **state)
{
	struct e2e *e = *state;
	static const uint32_t len[] = {16384, 0};
	struct virtio_blk_stats s;
	struct rq w[N_INFLIGHT], r[N_INFLIGHT];
	uint8_t *got = malloc(16384);

	e2e_start(e, false);
	/* 16 writes published, one doorbell. */
	for (unsigned i = 0; i < N_INFLIGHT; i++) {
		rq_add(e, &w[i], VIRTIO_BLK_T_OUT, 64ull * i, len, false);
		fill_pattern(g(e, w[i].data[0], 16384), 16384, 1000 * i);
	}
	kick(e);
	wait_used(e, N_INFLIGHT);
	for (unsigned i = 0; i < N_INFLIGHT; i++)
		assert_int_equal(status_of(e, &w[i]), VIRTIO_BLK_S_OK);
	/* Then 16 reads of the same, again all at once. */
	for (unsigned i = 0; i < N_INFLIGHT; i++)
		rq_add(e, &r[i], VIRTIO_BLK_T_IN, 64ull * i, len, true);
	kick(e);
	wait_used(e, N_INFLIGHT);
	for (unsigned i = 0; i < N_INFLIGHT; i++) {
		assert_int_equal(status_of(e, &r[i]), VIRTIO_BLK_S_OK);
		assert_int_equal(used_len_of(e, r[i].head), 16385);
		assert_memory_equal(g(e, r[i].data[0], 16384), g(e, w[i].data[0], 16384), 16384);
		file_read(e, 64ull * 512 * i, got, 16384);
		assert_memory_equal(got, g(e, w[i].data[0], 16384), 16384);
	}
	virtio_blk_get_stats(&e->d, &s);
	if (!strcmp(e->backend, "io_uring"))
		assert_int_equal(s.max_inflight, N_INFLIGHT); /* all submitted in one batch */
	else
		assert_int_equal(s.max_inflight, 0); /* the sync backend completes in place */
	assert_int_equal(e->d.vq[0].stats.requests, 2 * N_INFLIGHT);
	free(got);
}

static void test_e2e_reset_in_flight(void **state)
{
	struct e2e *e = *state;
	static const uint32_t len[] = {65536, 0}, one[] = {512, 0};
	struct timespec ts = {0, 50 * 1000 * 1000};
	struct rq w[N_INFLIGHT], r;
	uint16_t before;
	unsigned irqs;

	e2e_start(e, false);
	for (unsigned i = 0; i < N_INFLIGHT; i++)
		rq_add(e, &w[i], VIRTIO_BLK_T_OUT, 128ull * i, len, false);
	/* Doorbell and reset in one go (as a vCPU writing status 0 right after). */
	pthread_mutex_lock(&e->d.lock);
	e->d.ops->queue_notify(&e->d, 0);
	before = used_idx(e);
	e->d.ops->reset(&e->d);
	pthread_mutex_unlock(&e->d.lock);
	/*
	 * io_uring: all were in flight, and the reset must drop them. sync:
	 * each finished inside the doorbell, and the reset must not undo or
	 * repeat any of that: all used, each OK.
	 */
	assert_int_equal(before, strcmp(e->backend, "io_uring") ? N_INFLIGHT : 0);
	irqs = __atomic_load_n(&e->irqs, __ATOMIC_RELAXED);
	nanosleep(&ts, NULL);
	/* Nothing completed after the reset: no used entry, no interrupt. */
	assert_int_equal(used_idx(e), before);
	assert_int_equal(__atomic_load_n(&e->irqs, __ATOMIC_RELAXED), irqs);
	for (unsigned i = 0; i < N_INFLIGHT; i++)
		assert_int_equal(status_of(e, &w[i]), before ? VIRTIO_BLK_S_OK : 0xff);

	/* The driver starts over: the device works. */
	e2e_activate(e);
	assert_int_equal(run1(e, &r, VIRTIO_BLK_T_IN, 0, one, true), VIRTIO_BLK_S_OK);
}

/*
 * A hung disk: the disk's fd becomes a FIFO nobody writes (a read on it
 * never finishes by itself). Returns the FIFO's own fd, for the test to
 * feed when it wants the disk to answer.
 */
static int hang_disk(struct e2e *e)
{
	char path[64];
	int fifo;

	snprintf(path, sizeof(path), "/tmp/vireo-hung-%d", getpid());
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	fifo = open(path, O_RDWR | O_CLOEXEC); /* O_RDWR: opening does not wait */
	unlink(path);
	assert_true(fifo >= 0);
	assert_true(dup2(fifo, virtio_blk_backend(&e->d)->fd) >= 0);
	return fifo;
}

struct reset_call {
	struct e2e *e;
	uint64_t ns;
};

/* A vCPU writing status 0: the transport resets the device under its lock. */
static void *reset_thread(void *arg)
{
	struct reset_call *rc = arg;
	uint64_t t0 = now_ns();

	pthread_mutex_lock(&rc->e->d.lock);
	rc->e->d.ops->reset(&rc->e->d);
	pthread_mutex_unlock(&rc->e->d.lock);
	rc->ns = now_ns() - t0;
	return NULL;
}

/* Reset with a request in flight on a hung disk; fail (not hang) when it does not return. */
static void reset_hung(struct e2e *e, struct rq *r, int fifo)
{
	static const uint32_t one[] = {512, 0};
	struct reset_call rc = {e, 0};
	struct timespec until;
	pthread_t t;
	uint8_t sector[512] = {0};

	rq_add(e, r, VIRTIO_BLK_T_IN, 0, one, true);
	kick(e);
	assert_int_equal(used_idx(e), 0); /* in flight: the disk does not answer */
	assert_int_equal(pthread_create(&t, NULL, reset_thread, &rc), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	if (pthread_timedjoin_np(t, NULL, &until) != 0) {
		/* Let the disk answer so the thread ends, then report. */
		assert_int_equal(write(fifo, sector, sizeof(sector)), (ssize_t)sizeof(sector));
		pthread_join(t, NULL);
		fail_msg("reset with a hung request in flight did not return in 5 s");
	}
	assert_true(rc.ns < 2000000000ull);
}

/*
 * A device reset with a request stuck on a hung disk returns within a
 * bound (the old reset waited for the disk: for ever); the request is
 * cancelled, its chain never completed, and the device starts over.
 */
static void test_e2e_reset_hung_disk(void **state)
{
	struct e2e *e = *state;
	struct rq r;
	int fifo;

	e2e_start(e, false);
	fifo = hang_disk(e);
	reset_hung(e, &r, fifo);
	assert_int_equal(used_idx(e), 0);
	assert_int_equal(status_of(e, &r), 0xff);
	assert_int_equal(virtio_blk_backend(&e->d)->inflight, 0); /* cancelled */
	e2e_activate(e); /* nothing stuck: the driver may start over */
	close(fifo);
}

/*
 * The same with a disk whose I/O cannot be cancelled (the test hook): reset
 * still returns within its bound; the stuck request keeps its slot and the
 * device refuses to start again; when the disk answers at last, the stale
 * completion reaches neither the status byte nor the used ring, and after
 * the next reset the device works.
 */
static void test_e2e_reset_stuck_quarantined(void **state)
{
	struct e2e *e = *state;
	struct timespec ts = {0, 20 * 1000 * 1000};
	uint8_t sector[512];
	struct rq r;
	int fifo;

	e2e_start(e, false);
	fifo = hang_disk(e);
	virtio_blk_backend(&e->d)->no_cancel = true;
	reset_hung(e, &r, fifo);
	assert_int_equal(virtio_blk_backend(&e->d)->inflight, 1);
	memset(e->ram + T_DESC, 0, T_DATA - T_DESC);
	memset(&e->d.vq[0], 0, sizeof(e->d.vq[0]));
	assert_true(virtq_init(&e->d.vq[0], &e->mem, T_QSIZE, gpa(T_DESC), gpa(T_AVAIL),
			       gpa(T_USED), false, false));
	pthread_mutex_lock(&e->d.lock);
	assert_int_equal(e->d.ops->activate(&e->d), -1); /* DEVICE_NEEDS_RESET */
	pthread_mutex_unlock(&e->d.lock);

	/* The disk answers: the I/O thread reaps a stale completion. */
	memset(sector, 0x5a, sizeof(sector));
	assert_int_equal(write(fifo, sector, sizeof(sector)), (ssize_t)sizeof(sector));
	for (int i = 0; i < 250 && virtio_blk_backend(&e->d)->inflight; i++)
		nanosleep(&ts, NULL);
	assert_int_equal(virtio_blk_backend(&e->d)->inflight, 0);
	assert_int_equal(used_idx(e), 0);
	assert_int_equal(status_of(e, &r), 0xff);

	/* The next reset finds nothing stuck: the device starts again. */
	pthread_mutex_lock(&e->d.lock);
	e->d.ops->reset(&e->d);
	pthread_mutex_unlock(&e->d.lock);
	e2e_activate(e);
	close(fifo);
}

/* Stopping with a request stuck on a hung disk: destroy returns within a bound. */
static void test_e2e_destroy_hung_disk(void **state)
{
	struct e2e *e = *state;
	static const uint32_t one[] = {512, 0};
	struct rq r;
	uint64_t t0;
	int fifo;

	e2e_start(e, false);
	fifo = hang_disk(e);
	virtio_blk_backend(&e->d)->no_cancel = true;
	rq_add(e, &r, VIRTIO_BLK_T_IN, 0, one, true);
	kick(e);
	iothread_stop(&e->io);
	t0 = now_ns();
	virtio_blk_destroy(&e->d);
	assert_true(now_ns() - t0 < 3000000000ull);
	pthread_mutex_destroy(&e->d.lock);
	e->have_dev = false;
	close(fifo);
}

/*
 * A driver refilling the ring from its interrupt handler as fast as the
 * device drains it: one doorbell takes at most a ring's worth of chains, then
 * returns "more" with kicks left off (the I/O thread calls back later, after
 * other queues); called back, the device goes on where it stopped.
 */
static void test_e2e_budget(void **state)
{
	struct e2e *e = *state;
	struct virtio_blk_stats s;
	const unsigned total = 600;
	unsigned calls = 1;
	bool more;

	e2e_start(e, false);
	e->refill_left = total;
	refill_get_ids(e);
	pthread_mutex_lock(&e->d.lock);
	more = e->d.ops->queue_notify(&e->d, 0);
	assert_true(more);
	assert_int_equal(used_idx(e), T_QSIZE); /* the budget: one ring's worth */
	assert_int_equal(get16(g(e, T_USED, 2), 0) & VIRTQ_USED_F_NO_NOTIFY,
			 VIRTQ_USED_F_NO_NOTIFY);
	while (more && calls < 10) {
		more = e->d.ops->queue_notify(&e->d, 0); /* the I/O thread's call back */
		calls++;
	}
	pthread_mutex_unlock(&e->d.lock);
	assert_false(more);
	assert_int_equal(calls, (total + T_QSIZE - 1) / T_QSIZE);
	assert_int_equal(used_idx(e), total);
	assert_int_equal(get16(g(e, T_USED, 2), 0) & VIRTQ_USED_F_NO_NOTIFY, 0);
	virtio_blk_get_stats(&e->d, &s);
	assert_int_equal(s.get_ids, total);
	assert_int_equal(e->d.vq[0].stats.malformed, 0);
}

/*
 * While requests are in flight the device takes no doorbells and finds new
 * work when their completions come in; idle again, it asks for kicks.
 */
static void test_e2e_polling(void **state)
{
	struct e2e *e = *state;
	static const uint32_t len[] = {16384, 0};
	bool uring;
	struct rq w[N_INFLIGHT], late;

	e2e_start(e, false);
	uring = !strcmp(e->backend, "io_uring");
	for (unsigned i = 0; i < N_INFLIGHT; i++)
		rq_add(e, &w[i], VIRTIO_BLK_T_OUT, 32ull * i, len, false);
	pthread_mutex_lock(&e->d.lock);
	e->d.ops->queue_notify(&e->d, 0);
	/* In flight (io_uring): no kicks wanted. Done (sync): kicks wanted. */
	assert_int_equal(get16(g(e, T_USED, 2), 0) & VIRTQ_USED_F_NO_NOTIFY,
			 uring ? VIRTQ_USED_F_NO_NOTIFY : 0);
	/* A request the driver adds now, and does not kick for. */
	rq_add(e, &late, VIRTIO_BLK_T_IN, 1024, len, true); /* past what the writes touch */
	memset(g(e, late.data[0], 16384), 0xaa, 16384);
	pthread_mutex_unlock(&e->d.lock);
	if (!uring)
		kick(e); /* nothing in flight: the doorbell is needed */
	wait_used(e, N_INFLIGHT + 1);
	assert_int_equal(status_of(e, &late), VIRTIO_BLK_S_OK);
	for (size_t i = 0; i < 16384; i++)
		assert_int_equal(g(e, late.data[0], 16384)[i], 0);
	/* Idle: kicks wanted again. */
	pthread_mutex_lock(&e->d.lock);
	assert_int_equal(get16(g(e, T_USED, 2), 0) & VIRTQ_USED_F_NO_NOTIFY, 0);
	pthread_mutex_unlock(&e->d.lock);
}

/*
 * A driver streaming writes, qd requests in flight, kicking only when the
 * device asks for it (EVENT_IDX's avail_event, or NO_NOTIFY), then a FLUSH
 * on an idle device: nothing may be lost between polling and doorbells.
 */
#define S_QD	4u
#define S_N	128u
#define S_BYTES 131072u

struct stream {
	struct e2e *e;
	uint64_t hdr[S_QD], data[S_QD], status[S_QD];
	uint16_t kicked_idx, last_used;
	unsigned kicks;
};

/* Publish what was added since the last kick; kick if the device wants it. */
static void s_kick(struct stream *s)
{
	struct e2e *e = s->e;
	uint16_t old = s->kicked_idx, new_idx = e->avail_idx;
	bool need;

	if (old == new_idx)
		return;
	__atomic_store_n((uint16_t *)g(e, T_AVAIL + 2, 2), new_idx, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (e->event_idx)
		need = vring_need_event(
		    __atomic_load_n((uint16_t *)g(e, T_USED + 4 + 8ull * T_QSIZE, 2),
				    __ATOMIC_ACQUIRE),
		    new_idx, old);
	else
		need = !(__atomic_load_n((uint16_t *)g(e, T_USED, 2), __ATOMIC_ACQUIRE) &
			 VIRTQ_USED_F_NO_NOTIFY);
	s->kicked_idx = new_idx;
	if (need) {
		s->kicks++;
		kick(e);
	}
}

/* Add request slot `k` (descriptors 3k..3k+2) to the avail ring, not yet published. */
static void s_add(struct stream *s, unsigned k, uint32_t type, uint64_t sector, bool data)
{
	struct e2e *e = s->e;
	uint8_t *avail = g(e, T_AVAIL, VIRTQ_AVAIL_BYTES(T_QSIZE));
	struct buf b[3] = {
	    {s->hdr[k], 16, false}, {s->data[k], S_BYTES, false}, {s->status[k], 1, true}};
	unsigned n = 0;

	put_hdr(g(e, s->hdr[k], 16), type, sector);
	*g(e, s->status[k], 1) = 0xff;
	for (unsigned i = 0; i < 3; i++) {
		uint8_t *dsc;

		if (i == 1 && !data)
			continue;
		dsc = g(e, T_DESC + 16ull * (3 * k + n), 16);
		put64(dsc, 0, b[i].gpa);
		put32(dsc, 8, b[i].len);
		put16(dsc, 12,
		      (uint16_t)((i < 2 ? VIRTQ_DESC_F_NEXT : 0) |
				 (b[i].write ? VIRTQ_DESC_F_WRITE : 0)));
		put16(dsc, 14, (uint16_t)(3 * k + n + 1));
		n++;
	}
	put16(avail, 4 + 2u * (e->avail_idx % T_QSIZE), (uint16_t)(3 * k));
	e->avail_idx++;
}

/* Wait for the next used element; returns its slot. */
static unsigned s_wait(struct stream *s, const char *what)
{
	struct e2e *e = s->e;
	struct timespec ts = {0, 100000};
	const uint8_t *u;
	uint32_t id;

	for (int i = 0; i < 50000 && used_idx(e) == s->last_used; i++)
		nanosleep(&ts, NULL);
	if (used_idx(e) == s->last_used)
		fail_msg(
		    "%s: timeout: avail %u used %u last_avail %u avail_event %u flags %u kicks %u",
		    what, e->avail_idx, used_idx(e), e->d.vq[0].last_avail,
		    get16(g(e, T_USED, VIRTQ_USED_BYTES(T_QSIZE) + 2), 4 + 8u * T_QSIZE),
		    get16(g(e, T_USED, 2), 0), s->kicks);
	u = g(e, T_USED, VIRTQ_USED_BYTES(T_QSIZE));
	id = get32(u, 4 + 8u * (s->last_used % T_QSIZE));
	s->last_used++;
	assert_true(id % 3 == 0 && id / 3 < S_QD);
	return id / 3;
}

static void stream_run(struct e2e *e)
{
	struct stream s = {.e = e};
	unsigned next = 0, done = 0, free_slots[S_QD], nfree = S_QD;
	uint8_t *got = malloc(S_BYTES);

	e2e_start(e, false);
	for (unsigned k = 0; k < S_QD; k++) {
		s.hdr[k] = g_alloc(e, 16, 16);
		s.data[k] = g_alloc(e, S_BYTES, 4096);
		s.status[k] = g_alloc(e, 1, 1);
		free_slots[k] = k;
	}
	while (done < S_N) {
		while (nfree && next < S_N) {
			unsigned k = free_slots[--nfree];

			memset(g(e, s.data[k], S_BYTES), (int)(next & 0xff), S_BYTES);
			s_add(&s, k, VIRTIO_BLK_T_OUT,
			      (uint64_t)next * (S_BYTES / 512) % (DISK_SECT - 256), true);
			next++;
		}
		s_kick(&s);
		{
			unsigned k = s_wait(&s, "write");

			assert_int_equal(*g(e, s.status[k], 1), VIRTIO_BLK_S_OK);
			free_slots[nfree++] = k;
			done++;
		}
		/* Reap whatever else is there before refilling, as a driver does. */
		while (used_idx(e) != s.last_used && done < S_N) {
			unsigned k = s_wait(&s, "write");

			free_slots[nfree++] = k;
			done++;
		}
	}
	s_add(&s, 0, VIRTIO_BLK_T_FLUSH, 0, false);
	s_kick(&s);
	assert_int_equal(s_wait(&s, "flush"), 0);
	assert_int_equal(*g(e, s.status[0], 1), VIRTIO_BLK_S_OK);
	/* The last write of each place is on the file. */
	assert_int_equal(pread(e->fd, got, S_BYTES, 0), (ssize_t)S_BYTES);
	free(got);
}

static void test_e2e_stream_no_notify(void **state)
{
	stream_run(*state);
}

static void test_e2e_stream_event_idx(void **state)
{
	struct e2e *e = *state;

	e->event_idx = true;
	stream_run(e);
}

static void test_e2e_direct(void **state)
{
	struct e2e *e = *state;
	static const uint32_t len[] = {4096, 0};
	struct virtio_blk_stats s;
	struct rq w, r, bad;
	struct buf b[3];
	uint64_t data;

	e2e_start_at(e, NULL, false, true);
	assert_true(cfg_read(&e->d, 20, 4) >= 512);

	rq_add(e, &w, VIRTIO_BLK_T_OUT, 8, len, false);
	fill_pattern(g(e, w.data[0], 4096), 4096, 5);
	kick(e);
	wait_used(e, 1);
	assert_int_equal(status_of(e, &w), VIRTIO_BLK_S_OK);
	assert_int_equal(run1(e, &r, VIRTIO_BLK_T_IN, 8, len, true), VIRTIO_BLK_S_OK);
	assert_memory_equal(g(e, r.data[0], 4096), g(e, w.data[0], 4096), 4096);

	/* A buffer 8 bytes off: refused, counted. */
	memset(&bad, 0, sizeof(bad));
	bad.hdr = g_alloc(e, 16, 16);
	put_hdr(g(e, bad.hdr, 16), VIRTIO_BLK_T_IN, 8);
	data = g_alloc(e, 4096 + 8, 4096) + 8;
	bad.status = g_alloc(e, 1, 1);
	b[0] = (struct buf){bad.hdr, 16, false};
	b[1] = (struct buf){data, 4096, true};
	b[2] = (struct buf){bad.status, 1, true};
	publish_chain(e, b, 3);
	kick(e);
	wait_used(e, 1);
	assert_int_equal(status_of(e, &bad), VIRTIO_BLK_S_IOERR);
	virtio_blk_get_stats(&e->d, &s);
	assert_int_equal(s.unaligned, 1);
}

/* Each end-to-end test twice, named after its backend. */
#define E2E_NAME(f, suffix) #f suffix
#define E2E_ONE(f, suffix, setup)                                                                  \
	{                                                                                          \
		.name = E2E_NAME(f, suffix), .test_func = f, .setup_func = setup,                  \
		.teardown_func = e2e_teardown                                                      \
	}
#define E2E(f) E2E_ONE(f, "_uring", e2e_setup_uring), E2E_ONE(f, "_sync", e2e_setup_sync)
#define PC(f)  cmocka_unit_test_setup_teardown(f, pc_setup, pc_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    PC(test_header_split),
	    PC(test_in_data_and_status_share),
	    PC(test_missing_status),
	    PC(test_short_header),
	    PC(test_wrong_side_data),
	    PC(test_zero_length_data),
	    PC(test_unaligned_length),
	    PC(test_beyond_capacity),
	    PC(test_too_big),
	    PC(test_readonly),
	    PC(test_unknown_type),
	    PC(test_flush_with_sector_and_data),
	    PC(test_discard_segments),
	    PC(test_get_id),
	    PC(test_direct_alignment),
	    PC(test_req_advance),
	    PC(test_seg_fallback_states),
	    PC(test_backend_write_zeros),
	    PC(test_backend_uring_rw),
	    PC(test_sync_without_fallocate),
	    cmocka_unit_test(test_parse_disk_arg),
	    cmocka_unit_test(test_create_errors),
	    cmocka_unit_test(test_config_space),
	    cmocka_unit_test(test_backend_choice),
	    cmocka_unit_test(test_uring_fallback),
	    E2E(test_e2e_write_read),
	    E2E(test_e2e_flush_and_id),
	    E2E(test_e2e_discard),
	    E2E(test_e2e_write_zeroes),
	    E2E(test_e2e_write_zeroes_fallback),
	    E2E(test_e2e_errors),
	    E2E(test_e2e_readonly),
	    E2E(test_e2e_many_in_flight),
	    E2E(test_e2e_reset_in_flight),
	    E2E_ONE(test_e2e_reset_hung_disk, "_uring", e2e_setup_uring),
	    E2E_ONE(test_e2e_reset_stuck_quarantined, "_uring", e2e_setup_uring),
	    E2E_ONE(test_e2e_destroy_hung_disk, "_uring", e2e_setup_uring),
	    E2E(test_e2e_polling),
	    E2E(test_e2e_budget),
	    E2E(test_e2e_stream_no_notify),
	    E2E(test_e2e_stream_event_idx),
	    E2E(test_e2e_direct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
