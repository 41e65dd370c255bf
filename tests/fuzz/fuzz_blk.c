/* SPDX-License-Identifier: MIT */
/*
 * fuzz_blk.c -- libFuzzer target for virtio-blk (src/virtio/blk.c) and its
 * synchronous backend (src/backend/blk_sync.c), over a small temporary file.
 *
 * Two modes, chosen by bit 0 of the first byte:
 *
 * Chain mode (0): the input describes a descriptor chain as iovecs into a
 * fake guest RAM image, which goes through blk_parse_request() and, when it
 * is a valid request, disk_sync_execute() on the file. All of guest RAM is
 * ASan-poisoned except the chain's iovecs, so the parser or a preadv/pwritev
 * (ASan checks their iovecs) touching anything else is reported; on top of
 * that, only bytes inside writable iovecs may change, the status byte must
 * be the chain's last writable byte and the length reported back may not
 * exceed the writable bytes.
 *
 * Device mode (1): the input is a virtqueue configuration and a guest RAM
 * image; a real virtio-blk device (sync backend) drains the queue through
 * virtio_process_queue() and is then reset, as a transport would do it.
 * Guest RAM is a malloc'd buffer of exactly its size, so ASan reports any
 * access outside it.
 *
 * Input layout (little-endian):
 *   chain:  0 flags (bit 1 read-only, bit 2 O_DIRECT-style 512 alignment)
 *           1 readable iovecs, 2 writable iovecs, 3 unused
 *           4.. one (le16 offset, le16 length) per iovec, clipped to RAM
 *           then the RAM image (RAM_SIZE bytes, zero-padded)
 *   device: 0 flags (bit 1 read-only disk), 1 log2(queue size) (capped at 8)
 *           2, 4, 6 guest addresses of desc, avail and used (le16)
 *           8 avail->idx (le16), 10 last_avail (le16)
 *           12.. the RAM image
 */
#include "vireo/core/gmem.h"
#include "vireo/lib/util.h"
#include "vireo/virtio/blk.h"
#include "vireo/virtio/queue.h"
#include "vireo/virtio/virtio.h"

#include <sanitizer/asan_interface.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RAM_SIZE   16384u
#define DISK_BYTES 65536u /* 128 sectors */
#define CHAIN_HDR  4u
#define DEV_HDR	   12u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Only the sync backend here: the fuzzer is not linked with liburing. */
struct disk_backend *disk_backend_uring_create(int fd, unsigned depth, char *err, size_t errlen)
{
	(void)fd, (void)depth;
	errf(err, errlen, "not in the fuzzer");
	return NULL;
}

static struct {
	bool ready;
	int fd;			  /* the chain mode's disk */
	struct virtio_dev dev[2]; /* read-write and read-only devices */
	struct virtq_chain chain;
	struct blk_req req;
	uint8_t before[RAM_SIZE];
	uint8_t writable[RAM_SIZE]; /* 1 where some writable iovec covers the byte */
} F;

static uint16_t le16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void raise_irq(struct virtio_dev *d, unsigned q)
{
	(void)d, (void)q;
}

static void needs_reset(struct virtio_dev *d)
{
	(void)d;
}

static int temp_disk(char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/vireo-fuzz-blk-XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, DISK_BYTES) < 0)
		__builtin_trap();
	return fd;
}

static void setup(void)
{
	char path[64], err[256];

	setenv("VIREO_BLK_BACKEND", "sync", 1);
	F.fd = temp_disk(path, sizeof(path));
	unlink(path);
	for (int i = 0; i < 2; i++) {
		struct blk_disk_config c = {.ro = i == 1};
		struct virtio_dev *d = &F.dev[i];
		int fd = temp_disk(path, sizeof(path));

		snprintf(c.path, sizeof(c.path), "%s", path);
		pthread_mutex_init(&d->lock, NULL);
		d->raise_irq = raise_irq;
		d->needs_reset = needs_reset;
		if (virtio_blk_create(d, &c, NULL, err, sizeof(err)) < 0) {
			fprintf(stderr, "fuzz_blk: %s: %s\n", path, err);
			__builtin_trap();
		}
		unlink(path);
		close(fd);
	}
	F.ready = true;
}

/* Is [p, p + 1) inside one of the chain's writable iovecs? */
static bool in_writable(const struct virtq_chain *c, const uint8_t *p)
{
	for (unsigned i = c->nr_out; i < c->nr_out + c->nr_in; i++) {
		const uint8_t *b = c->iov[i].iov_base;

		if (p >= b && p < b + c->iov[i].iov_len)
			return true;
	}
	return false;
}

static void chain_mode(const uint8_t *data, size_t size, uint8_t *ram)
{
	struct virtq_chain *c = &F.chain;
	struct blk_req *r = &F.req;
	struct blk_limits lim = {.capacity = DISK_BYTES / 512, .align = 1};
	unsigned n_out = data[1], n_in = data[2];
	const uint8_t *desc = data + CHAIN_HDR;
	size_t ndesc_bytes = (size_t)(n_out + n_in) * 4, in_total = 0;
	enum blk_parse_result res;

	lim.ro = data[0] & 2;
	if (data[0] & 4)
		lim.align = 512;
	memcpy(lim.id, "vireo-fuzz", 10);

	/* The RAM image follows the iovec table. */
	if (size > CHAIN_HDR + ndesc_bytes)
		memcpy(ram, desc + ndesc_bytes,
		       size - CHAIN_HDR - ndesc_bytes < RAM_SIZE ? size - CHAIN_HDR - ndesc_bytes
								 : RAM_SIZE);
	memset(c, 0, sizeof(*c));
	memset(F.writable, 0, sizeof(F.writable));
	ASAN_POISON_MEMORY_REGION(ram, RAM_SIZE);
	for (unsigned i = 0; i < n_out + n_in; i++) {
		size_t at = (size_t)i * 4;
		uint16_t off = 0, len = 0;

		if (CHAIN_HDR + at + 4 <= size) {
			off = le16_at(desc + at) % RAM_SIZE;
			len = le16_at(desc + at + 2);
		}
		if (len > RAM_SIZE - off)
			len = (uint16_t)(RAM_SIZE - off);
		c->iov[i] = (struct iovec){ram + off, len};
		ASAN_UNPOISON_MEMORY_REGION(ram + off, len);
		if (i < n_out) {
			c->out_len += len;
		} else {
			c->in_len += len;
			memset(F.writable + off, 1, len);
		}
	}
	c->nr_out = n_out;
	c->nr_in = n_in;
	c->head = 0x1234;
	in_total = c->in_len;
	/* The snapshot reads all of RAM: lift the poison around it. */
	ASAN_UNPOISON_MEMORY_REGION(ram, RAM_SIZE);
	memcpy(F.before, ram, RAM_SIZE);
	ASAN_POISON_MEMORY_REGION(ram, RAM_SIZE);
	for (unsigned i = 0; i < n_out + n_in; i++)
		ASAN_UNPOISON_MEMORY_REGION(c->iov[i].iov_base, c->iov[i].iov_len);

	res = blk_parse_request(&lim, c, r);
	if (r->head != c->head)
		__builtin_trap();
	if (res != BLK_REQ_MALFORMED) {
		if (!r->status_byte || !in_writable(c, r->status_byte))
			__builtin_trap();
		if (res == BLK_REQ_SUBMIT) {
			size_t sum = 0;

			for (unsigned i = 0; i < r->disk.niov; i++)
				sum += r->iov[i].iov_len;
			if (sum != r->disk.len || r->disk.niov > BLK_SEG_MAX ||
			    r->disk.len > BLK_MAX_DATA)
				__builtin_trap();
			/* A range the parser let through is inside the disk. */
			if ((r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT) &&
			    (r->sector > lim.capacity ||
			     r->disk.len / 512 > lim.capacity - r->sector || r->disk.len % 512))
				__builtin_trap();
			if (lim.ro && r->type != VIRTIO_BLK_T_IN && r->type != VIRTIO_BLK_T_FLUSH)
				__builtin_trap();
			disk_sync_execute(F.fd, &r->disk);
			r->status = blk_req_status(r);
			r->written = r->type == VIRTIO_BLK_T_IN && r->status == VIRTIO_BLK_S_OK
					 ? (uint32_t)r->disk.len + 1
					 : 1;
		}
		if (r->status > VIRTIO_BLK_S_UNSUPP || r->written == 0 || r->written > in_total)
			__builtin_trap();
		*r->status_byte = r->status;
	}

#ifdef FUZZ_VERBOSE
	fprintf(stderr, "fuzz_blk: chain: %s type %u sector %llu len %zu status %u written %u\n",
		res == BLK_REQ_MALFORMED ? "malformed"
		: res == BLK_REQ_DONE	 ? "answered"
					 : "executed",
		r->type, (unsigned long long)r->sector, r->disk.len, r->status, r->written);
#endif
	/* Nothing changed outside the writable iovecs. */
	ASAN_UNPOISON_MEMORY_REGION(ram, RAM_SIZE);
	for (size_t i = 0; i < RAM_SIZE; i++)
		if (!F.writable[i] && ram[i] != F.before[i])
			__builtin_trap();
	if (res == BLK_REQ_MALFORMED && memcmp(ram, F.before, RAM_SIZE))
		__builtin_trap();
}

static void device_mode(const uint8_t *data, size_t size, uint8_t *ram)
{
	struct virtio_dev *d = &F.dev[(data[0] >> 1) & 1];
	unsigned log2 = data[1] & 15;
	uint16_t qsize = (uint16_t)(1u << (log2 > 8 ? 8 : log2));
	struct gmem mem;
	struct virtq *q = &d->vq[0];

	if (size > DEV_HDR)
		memcpy(ram, data + DEV_HDR, size - DEV_HDR < RAM_SIZE ? size - DEV_HDR : RAM_SIZE);
	gmem_layout(&mem, ram, RAM_SIZE);
	d->mem = &mem;
	memset(q, 0, sizeof(*q));
	if (!virtq_init(q, &mem, qsize, gpa(le16_at(data + 2)), gpa(le16_at(data + 4)),
			gpa(le16_at(data + 6)), false, false))
		return;
	q->avail_ring->idx = le16_at(data + 8);
	q->last_avail = le16_at(data + 10);
	if (d->ops->activate(d) < 0)
		__builtin_trap();
	pthread_mutex_lock(&d->lock);
	d->ops->queue_notify(d, 0);
	d->ops->reset(d);
	pthread_mutex_unlock(&d->lock);
#ifdef FUZZ_VERBOSE
	{
		struct virtio_blk_stats s;

		virtio_blk_get_stats(d, &s);
		fprintf(stderr,
			"fuzz_blk: device: requests %llu malformed %llu bytes %llu io_errors %llu "
			"unsupported %llu (%s)\n",
			(unsigned long long)q->stats.requests,
			(unsigned long long)q->stats.malformed, (unsigned long long)q->stats.bytes,
			(unsigned long long)s.io_errors, (unsigned long long)s.unsupported,
			q->error ? q->error : "-");
	}
#endif
	memset(q, 0, sizeof(*q));
	d->mem = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *ram;

	if (size < DEV_HDR)
		return 0;
	if (!F.ready)
		setup();
	ram = calloc(1, RAM_SIZE);
	if (!ram)
		return 0;
	if (data[0] & 1)
		device_mode(data, size, ram);
	else
		chain_mode(data, size, ram);
	ASAN_UNPOISON_MEMORY_REGION(ram, RAM_SIZE);
	free(ram);
	return 0;
}
