/* SPDX-License-Identifier: MIT */
/*
 * fuzz_virtqueue.c -- libFuzzer target for the split-virtqueue walker
 * (src/virtio/queue.c) and the generic device loop (src/virtio/device.c).
 *
 * The input is a configuration header, a short driver "script" and an image
 * of guest RAM. Guest RAM is a malloc'd buffer of exactly its size, so ASan
 * reports any access outside it; on top of that every chain's iovecs are
 * checked to lie inside it, and every round must end in a bounded number of
 * pops. Whatever the bytes, nothing may crash, hang or touch host memory
 * outside guest RAM.
 *
 * Input layout (all little-endian):
 *   0       cfg: bits 0-3 log2(queue size) (1..16384 entries; 15: any size,
 *           taken from bytes 8-9); bit 4 EVENT_IDX; bit 5 INDIRECT_DESC;
 *           bit 6 two RAM slots (the second half of RAM at 4 GiB, as above
 *           the MMIO hole); bit 7 drive the queue through
 *           virtio_process_queue() instead of by hand
 *   1       bits 0-3 rounds - 1; bits 4-6 RAM of at least 4 KiB << n (n <= 4),
 *           the image repeated to fill it (so a small input can hold a
 *           table of thousands of descriptors)
 *   2, 4, 6 guest addresses of desc, avail and used rings (16-bit)
 *   8, 10   initial last_avail and used_idx (so indices start anywhere)
 *   12..27  one script byte per round, the driver's moves before the round:
 *           bits 0-3 avail->idx += n; bit 4 toggle NO_INTERRUPT; bit 5
 *           used_event = used_idx + 1; bits 6-7 how the device completes
 *           chains: 0 all written, 1 later in reverse order, 2 claim an
 *           absurd length, 3 zero
 *   28..    the guest RAM image (zero-filled when empty)
 */
#include "vireo/core/gmem.h"
#include "vireo/virtio/queue.h"
#include "vireo/virtio/virtio.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR_LEN	      28
#define SCRIPT_OFF    12
#define SCRIPT_LEN    16
#define MIN_RAM	      4096u
#define MAX_RAM_SHIFT 4
#define MAX_KEPT      256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The run's state, shared with the process_queue handler. */
static struct {
	uint8_t *ram;
	size_t ram_size;
	unsigned mode; /* completion mode of the current round */
	uint16_t kept[MAX_KEPT];
	unsigned nr_kept;
	unsigned handled; /* chains handled this round */
	uint8_t scratch[65536];
} F;

static uint16_t le16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Every iovec must point into guest RAM; lengths must add up. */
static void check_chain(const struct virtq *q, const struct virtq_chain *c)
{
	size_t out = 0, in = 0;

	if (c->nr_out + c->nr_in > VIRTQ_MAX_IOV || c->head >= q->size)
		__builtin_trap();
	for (unsigned i = 0; i < c->nr_out + c->nr_in; i++) {
		uintptr_t b = (uintptr_t)c->iov[i].iov_base, lo = (uintptr_t)F.ram;

		if (c->iov[i].iov_len == 0 || b < lo || c->iov[i].iov_len > F.ram_size ||
		    b - lo > F.ram_size - c->iov[i].iov_len)
			__builtin_trap();
		if (i < c->nr_out)
			out += c->iov[i].iov_len;
		else
			in += c->iov[i].iov_len;
	}
	if (out != c->out_len || in != c->in_len)
		__builtin_trap();
}

/* What a device does with a chain: read it all, write some; returns "written". */
static long use_chain(const struct virtq *q, const struct virtq_chain *c)
{
	check_chain(q, c);
	virtq_chain_read(c, 0, F.scratch, sizeof(F.scratch));
	if (c->out_len > 3)
		virtq_chain_read(c, c->out_len - 3, F.scratch, 8);
	virtq_chain_write(c, c->in_len / 2, F.scratch, 64);
	switch (F.mode) {
	case 0:
		return (long)c->in_len;
	case 1:
		if (F.nr_kept < MAX_KEPT) {
			F.kept[F.nr_kept++] = c->head;
			return -1;
		}
		return 0;
	case 2:
		return LONG_MAX;
	default:
		return 0;
	}
}

static long handle(struct virtio_dev *d, unsigned qi, struct virtq_chain *c)
{
	/* Nothing the device writes makes new work: a round ends within `size` chains. */
	if (++F.handled > d->vq[qi].size)
		__builtin_trap();
	return use_chain(&d->vq[qi], c);
}

static void complete_kept(struct virtq *q)
{
	while (F.nr_kept)
		virtq_push(q, F.kept[--F.nr_kept], 1);
}

static void raise_irq(struct virtio_dev *d, unsigned qi)
{
	(void)d;
	(void)qi;
}

static void needs_reset(struct virtio_dev *d)
{
	(void)d;
}

/* One round by hand, as a device without virtio_process_queue would. */
static void round_by_hand(struct virtq *q, struct virtq_chain *c)
{
	unsigned pops = 0;
	int r;

	virtq_set_notify(q, false);
	while ((r = virtq_pop(q, c)) != 0) {
		long n;

		/* At most `size` chains are available at once: more means no progress. */
		if (++pops > q->size)
			__builtin_trap();
		if (r < 0) {
			if (c->nr_out || c->nr_in)
				__builtin_trap();
			virtq_push(q, c->head, 0);
			continue;
		}
		n = use_chain(q, c);
		if (n >= 0)
			virtq_push(q, c->head, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n);
	}
	/* Empty means empty: a ring that is not broken has no work left. */
	if (!q->broken && virtq_has_work(q))
		__builtin_trap();
	virtq_should_interrupt(q);
	virtq_set_notify(q, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_chain chain;
	static struct virtio_dev dev;
	struct virtq *q = &dev.vq[0];
	struct gmem mem;
	size_t image, min_ram;
	uint8_t cfg;
	unsigned rounds, shift;
	uint16_t qsize;

	if (size < HDR_LEN)
		return 0;
	image = size - HDR_LEN;
	cfg = data[0];
	rounds = 1 + (data[1] & 15);
	shift = (data[1] >> 4) & 7;
	min_ram = (size_t)MIN_RAM << (shift > MAX_RAM_SHIFT ? MAX_RAM_SHIFT : shift);
	qsize = (cfg & 15) == 15 ? le16_at(data + 8) : (uint16_t)(1u << (cfg & 15));

	F.ram_size = image < min_ram ? min_ram : image;
	F.ram = calloc(1, F.ram_size);
	if (!F.ram)
		return 0;
	for (size_t off = 0; image && off < F.ram_size; off += image)
		memcpy(F.ram + off, data + HDR_LEN,
		       F.ram_size - off < image ? F.ram_size - off : image);
	F.nr_kept = 0;
	if (cfg & 0x40) {
		size_t low = F.ram_size / 2;

		memset(&mem, 0, sizeof(mem));
		mem.slot[0] = (struct gmem_slot){.gpa = 0, .size = low, .host = F.ram};
		mem.slot[1] = (struct gmem_slot){
		    .gpa = GMEM_HOLE_END, .size = F.ram_size - low, .host = F.ram + low};
		mem.nr_slots = 2;
		mem.ram_size = F.ram_size;
	} else {
		gmem_layout(&mem, F.ram, F.ram_size);
	}

	memset(&dev, 0, sizeof(dev));
	dev.mem = &mem;
	dev.raise_irq = raise_irq;
	dev.needs_reset = needs_reset;
	if (!virtq_init(q, &mem, qsize, gpa(le16_at(data + 2)), gpa(le16_at(data + 4)),
			gpa(le16_at(data + 6)), cfg & 0x10, cfg & 0x20))
		goto out;
	q->last_avail = le16_at(data + 8);
	q->used_idx = le16_at(data + 10);

	for (unsigned r = 0; r < rounds; r++) {
		uint8_t s = data[SCRIPT_OFF + r % SCRIPT_LEN];
		struct virtq_avail *avail = q->avail_ring;

		/* The driver's moves: plain stores, as the guest would make them. */
		avail->idx = (uint16_t)(avail->idx + (s & 15));
		if (s & 0x10)
			avail->flags ^= VIRTQ_AVAIL_F_NO_INTERRUPT;
		if (s & 0x20)
			avail->ring[qsize] = (uint16_t)(q->used_idx + 1);
		F.mode = s >> 6;
		F.handled = 0;

		if (cfg & 0x80)
			virtio_process_queue(&dev, 0, handle);
		else
			round_by_hand(q, &chain);
		complete_kept(q);
		virtio_notify_used(&dev, 0);
		if (q->broken)
			break;
	}
out:
	/* -DFUZZ_VERBOSE: what an input did (to check that the seeds do what they say). */
#ifdef FUZZ_VERBOSE
	fprintf(
	    stderr,
	    "fuzz_virtqueue: init %s, requests %llu malformed %llu broken %d (%s) irq %llu/%llu\n",
	    q->desc_ring ? "ok" : "failed", (unsigned long long)q->stats.requests,
	    (unsigned long long)q->stats.malformed, q->broken, q->error ? q->error : "-",
	    (unsigned long long)q->stats.interrupts, (unsigned long long)q->stats.suppressed);
#endif
	free(F.ram);
	F.ram = NULL;
	return 0;
}
