// SPDX-License-Identifier: MIT
/*
 * blk.c -- virtio-blk workloads (virtio 1.2, 5.2): blk-verify, blk-read,
 * blk-write, blk-ro and blk-bad. All at CPL3 on the driver in virtio.c.
 *
 * A request is {header (16 bytes, readable), data (one descriptor per
 * size_max bytes), status (1 byte, writable)}. The throughput loop keeps qd
 * requests in flight: it submits qd, kicks once, and after each wait refills
 * every completed slot and kicks once for the batch (the kick itself is
 * skipped when EVENT_IDX or NO_NOTIFY says the device is still looking).
 *
 * Keys: blk=N (the Nth virtio-blk device, default 0) and those of virtio.c,
 * plus per workload (see guest/README.md).
 */
#include "virtio.h"

#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX  2
#define VIRTIO_BLK_F_RO	      5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH    9

#define VIRTIO_BLK_T_IN	    0
#define VIRTIO_BLK_T_OUT    1
#define VIRTIO_BLK_T_FLUSH  4
#define VIRTIO_BLK_T_GET_ID 8

#define VIRTIO_BLK_S_OK	    0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2
#define STATUS_UNTOUCHED    0xff /* what the driver puts in the status byte */

#define BLK_CFG_CAPACITY 0
#define BLK_CFG_SIZE_MAX 8
#define BLK_CFG_SEG_MAX	 12
#define BLK_CFG_BLK_SIZE 20
#define BLK_CFG_MIN_LEN	 24

#define SECTOR	     512
#define BLK_ID_BYTES 20
#define MAX_SEGS     64
#define MAX_BS	     (4u << 20)
#define MAX_QD	     VQ_MAX_SIZE

/* blk_sync() results besides a status byte: vq_kick_and_take()'s, and one more. */
#define SYNC_TIMEOUT VQ_WAIT_TIMEOUT
#define SYNC_RESET   VQ_WAIT_RESET
#define SYNC_BAD_ID  VQ_WAIT_BAD_ID
#define SYNC_FULL    -4

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* One request slot, 64 bytes, in guest RAM the device reads and writes. */
struct blk_req {
	struct blk_hdr hdr; /* device-readable */
	uint8_t status;	    /* device-writable */
	uint8_t pad[7];
	uint64_t buf;	 /* this slot's data buffer */
	uint64_t sector; /* what the current request covers */
	uint32_t len;
	uint32_t pad2[3];
};

struct blk {
	struct vdev v;
	uint64_t capacity; /* sectors */
	uint32_t size_max, seg_max, blk_size;
	bool ro;
};

static struct blk blk;

static uint64_t per_sec(uint64_t n, uint64_t ns)
{
	return ns ? n * 1000000000ull / ns : 0;
}

/* MB/s (10^6 bytes), rounded down. */
static uint64_t mbps(uint64_t bytes, uint64_t ns)
{
	return ns ? bytes * 1000 / ns : 0;
}

static int blk_open(void)
{
	struct vdev *d = &blk.v;
	unsigned index = (unsigned)cmdline_u64("blk", 0);

	if (d->probed && d->index != index)
		d->probed = false;
	d->name = "blk";
	d->type = VIRTIO_ID_BLK;
	d->index = index;
	d->nr_vqs = 1;
	d->want = FEATURE(VIRTIO_BLK_F_SIZE_MAX) | FEATURE(VIRTIO_BLK_F_SEG_MAX) |
		  FEATURE(VIRTIO_BLK_F_RO) | FEATURE(VIRTIO_BLK_F_BLK_SIZE) |
		  FEATURE(VIRTIO_BLK_F_FLUSH);
	dma_scratch_reset();
	if (vdev_open(d))
		return -1;
	if (!d->devcfg || d->devcfg_len < BLK_CFG_MIN_LEN)
		return fail("blk: no device configuration (%u bytes)", d->devcfg_len);
	blk.capacity = vdev_cfg_read64(d, BLK_CFG_CAPACITY);
	blk.size_max =
	    vdev_has(d, VIRTIO_BLK_F_SIZE_MAX) ? vdev_cfg_read32(d, BLK_CFG_SIZE_MAX) : 0;
	blk.seg_max = vdev_has(d, VIRTIO_BLK_F_SEG_MAX) ? vdev_cfg_read32(d, BLK_CFG_SEG_MAX) : 0;
	blk.blk_size =
	    vdev_has(d, VIRTIO_BLK_F_BLK_SIZE) ? vdev_cfg_read32(d, BLK_CFG_BLK_SIZE) : SECTOR;
	blk.ro = vdev_has(d, VIRTIO_BLK_F_RO);
	if (blk.size_max && blk.size_max < SECTOR)
		blk.size_max = SECTOR;
	vdev_describe(d);
	kprintf("blk: capacity=%lu sectors (%lu KiB) size_max=%u seg_max=%u blk_size=%u ro=%u "
		"flush=%u indirect=%u\n",
		blk.capacity, blk.capacity / 2, blk.size_max, blk.seg_max, blk.blk_size, blk.ro,
		vdev_has(d, VIRTIO_BLK_F_FLUSH), vdev_has(d, VIRTIO_F_INDIRECT_DESC));
	if (blk.capacity == 0)
		return fail("blk: capacity is 0");
	return 0;
}

static unsigned blk_segs(uint32_t len)
{
	if (len == 0)
		return 0;
	return blk.size_max ? (len + blk.size_max - 1) / blk.size_max : 1;
}

/* Fill in r and put it on the queue (not kicked). 0, or -1 when the queue is full. */
static int blk_submit(struct vq *q, struct blk_req *r, uint32_t type, uint64_t sector,
		      uint64_t data, uint32_t len)
{
	struct vbuf b[MAX_SEGS + 2];
	bool dev_writes = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
	unsigned n = 0;

	r->hdr = (struct blk_hdr){type, 0, sector};
	r->status = STATUS_UNTOUCHED;
	r->sector = sector;
	r->len = len;
	b[n++] = (struct vbuf){pa(&r->hdr), sizeof(r->hdr), false};
	for (uint32_t off = 0; off < len;) {
		uint32_t l = len - off;

		if (blk.size_max && l > blk.size_max)
			l = blk.size_max;
		if (n == MAX_SEGS + 1)
			return -1;
		b[n++] = (struct vbuf){data + off, l, dev_writes};
		off += l;
	}
	b[n++] = (struct vbuf){pa(&r->status), 1, true};
	return vq_add(q, b, n, r) < 0 ? -1 : 0;
}

/* One request, waited for: its status byte, or SYNC_*. */
static int blk_sync(struct blk_req *r, uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
		    uint32_t *used_len)
{
	struct vq *q = &blk.v.vq[0];
	uint32_t ulen;
	int w;

	if (blk_submit(q, r, type, sector, data, len))
		return SYNC_FULL;
	w = vq_kick_and_take(q, r, blk.v.timeout_tsc, &ulen);
	if (w)
		return w;
	if (used_len)
		*used_len = ulen;
	return READ_ONCE(r->status);
}

static const char *sync_name(int s)
{
	switch (s) {
	case SYNC_TIMEOUT:
	case SYNC_RESET:
	case SYNC_BAD_ID:
		return vq_wait_name(s);
	case SYNC_FULL:
		return "queue full";
	case VIRTIO_BLK_S_OK:
		return "ok";
	case VIRTIO_BLK_S_IOERR:
		return "IOERR";
	case VIRTIO_BLK_S_UNSUPP:
		return "UNSUPP";
	case STATUS_UNTOUCHED:
		return "status not written";
	default:
		return "bad status";
	}
}

/* ---- The pattern: the le64 at disk byte offset o is o ^ seed -------------------------- */

static void pattern_fill(uint64_t buf, uint64_t sector, uint32_t len, uint64_t seed)
{
	uint64_t *w = phys(buf), o = sector * SECTOR;

	for (uint32_t i = 0; i < len / 8; i++)
		w[i] = (o + 8 * (uint64_t)i) ^ seed;
}

/* Mismatching sectors in buf (the first few are printed). */
static uint64_t pattern_check(uint64_t buf, uint64_t sector, uint32_t len, uint64_t seed,
			      uint64_t *printed)
{
	const uint64_t *w = phys(buf);
	uint64_t bad = 0;

	for (uint32_t s = 0; s < len / SECTOR; s++) {
		uint64_t o = (sector + s) * SECTOR;

		for (uint32_t i = 0; i < SECTOR / 8; i++) {
			uint64_t want = (o + 8 * (uint64_t)i) ^ seed, got = w[s * SECTOR / 8 + i];

			if (got == want)
				continue;
			if ((*printed)++ < 4)
				kprintf("blk: mismatch at byte 0x%lx: 0x%016lx, want 0x%016lx\n",
					o + 8 * (uint64_t)i, got, want);
			bad++;
			break;
		}
	}
	return bad;
}

/* ---- The request engine: count requests, qd in flight ----------------------------------- */

struct blk_job {
	uint32_t type; /* VIRTIO_BLK_T_IN or _OUT */
	uint64_t count;
	unsigned qd;
	uint32_t bs;	  /* bytes per request (the last of the region may be shorter) */
	uint64_t sectors; /* the region [0, sectors) */
	bool random, pattern;
	bool batch; /* refill only when every request is back (batch=1) */
	uint64_t seed;
	/* Results. */
	uint64_t done, bytes, ioerrs, mismatches, ns, notifies, irqs;
};

static uint64_t rand_state = 0x9e3779b97f4a7c15ull;

static uint64_t xorshift64(void)
{
	uint64_t x = rand_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rand_state = x;
}

/* Where request k of the job goes. */
static void job_place(const struct blk_job *j, uint64_t k, uint64_t *sector, uint32_t *len)
{
	uint64_t spb = j->bs / SECTOR, units = (j->sectors + spb - 1) / spb;
	uint64_t u = j->random ? xorshift64() % units : k % units;
	uint64_t left = j->sectors - u * spb;

	*sector = u * spb;
	*len = (uint32_t)((left < spb ? left : spb) * SECTOR);
}

static int job_check_params(const struct blk_job *j, const struct vq *q)
{
	unsigned segs = blk_segs(j->bs);

	if (j->qd == 0 || j->qd > MAX_QD)
		fail_exit(EXIT_USAGE, "blk: qd must be 1..%u", MAX_QD);
	if (j->bs == 0 || j->bs % SECTOR || j->bs > MAX_BS)
		fail_exit(EXIT_USAGE, "blk: bs must be a multiple of %u up to %u", SECTOR, MAX_BS);
	if (j->sectors == 0 || j->sectors > blk.capacity)
		fail_exit(EXIT_USAGE, "blk: sectors must be 1..%lu", blk.capacity);
	if (segs > MAX_SEGS || (blk.seg_max && segs > blk.seg_max))
		return fail("blk: bs=%u needs %u segments (size_max %u, seg_max %u)", j->bs, segs,
			    blk.size_max, blk.seg_max);
	if (j->qd * (segs + 2) > q->size)
		return fail("blk: qd=%u needs %u descriptors, the queue has %u", j->qd,
			    j->qd * (segs + 2), q->size);
	return 0;
}

static int job_refill(struct blk_job *j, struct vq *q, struct blk_req *r, uint64_t k)
{
	uint64_t sector;
	uint32_t len;

	job_place(j, k, &sector, &len);
	if (j->type == VIRTIO_BLK_T_OUT && j->pattern)
		pattern_fill(r->buf, sector, len, j->seed);
	if (blk_submit(q, r, j->type, sector, r->buf, len))
		return fail("blk: queue full at request %lu", k);
	return 0;
}

static int blk_job_run(struct blk_job *j)
{
	struct vq *q = &blk.v.vq[0];
	struct blk_req *reqs;
	uint8_t *data;
	uint64_t next = 0, printed = 0, t0, notifies0, irqs0;
	void *token;
	uint32_t len;
	int got, w;

	if (job_check_params(j, q))
		return -1;
	reqs = dma_scratch_alloc(j->qd * sizeof(*reqs));
	data = dma_scratch_alloc((size_t)j->qd * j->bs);
	if (!reqs || !data)
		return -1;
	if (j->type == VIRTIO_BLK_T_OUT && !j->pattern)
		memset(data, 0xa5, (size_t)j->qd * j->bs);
	for (unsigned s = 0; s < j->qd; s++)
		reqs[s].buf = pa(data + (size_t)s * j->bs);
	j->done = j->bytes = j->ioerrs = j->mismatches = 0;

	notifies0 = q->notifies;
	irqs0 = vdev_queue_irqs(&blk.v);
	t0 = rdtsc();
	for (unsigned s = 0; s < j->qd && next < j->count; s++)
		if (job_refill(j, q, &reqs[s], next++))
			return -1;
	vq_kick(q);
	while (j->done < j->count) {
		w = vq_wait(q, blk.v.timeout_tsc);
		if (w)
			return fail("blk: %s after %lu of %lu requests", vq_wait_name(w), j->done,
				    j->count);
		while ((got = vq_get_used(q, &token, &len)) > 0) {
			struct blk_req *r = token;
			uint8_t st = READ_ONCE(r->status);

			if (st != VIRTIO_BLK_S_OK) {
				if (j->ioerrs++ < 4)
					kprintf("blk: request type %u at sector %lu: %s (%u)\n",
						j->type, r->sector, sync_name(st), st);
			} else if (j->type == VIRTIO_BLK_T_IN && j->pattern) {
				j->mismatches +=
				    pattern_check(r->buf, r->sector, r->len, j->seed, &printed);
			}
			j->done++;
			j->bytes += r->len;
			if (!j->batch && next < j->count && job_refill(j, q, r, next++))
				return -1;
		}
		if (got < 0)
			return fail("blk: the device returned an id we did not submit");
		/* batch=1: the next qd requests go out together once all are back,
		 * so each kick carries exactly qd requests. */
		if (j->batch && j->done == next)
			for (unsigned s = 0; s < j->qd && next < j->count; s++)
				if (job_refill(j, q, &reqs[s], next++))
					return -1;
		vq_kick(q);
	}
	j->ns = tsc_to_ns(rdtsc() - t0);
	j->notifies = q->notifies - notifies0;
	j->irqs = vdev_queue_irqs(&blk.v) - irqs0;
	return 0;
}

/* ---- blk-verify -------------------------------------------------------------------------- */

static int blk_get_id(uint64_t *ops)
{
	struct blk_req *r = dma_scratch_alloc(sizeof(*r));
	char *id = dma_scratch_alloc(BLK_ID_BYTES + 1);
	char shown[BLK_ID_BYTES + 1];
	int st;

	if (!r || !id)
		return -1;
	st = blk_sync(r, VIRTIO_BLK_T_GET_ID, 0, pa(id), BLK_ID_BYTES, NULL);
	(*ops)++;
	if (st == VIRTIO_BLK_S_UNSUPP) {
		kprintf("blk-id: GET_ID unsupported\n");
		return 0;
	}
	if (st != VIRTIO_BLK_S_OK)
		return fail("blk-id: GET_ID: %s", sync_name(st));
	/* Up to 20 bytes, NUL-terminated only if shorter. */
	for (unsigned i = 0; i <= BLK_ID_BYTES; i++) {
		char c = i < BLK_ID_BYTES ? id[i] : 0;

		shown[i] = (c == 0 || (c >= 0x20 && c < 0x7f)) ? c : '?';
		if (!c)
			break;
	}
	kprintf("blk-id: \"%s\"\n", shown);
	return 0;
}

int run_blk_verify(void)
{
	struct blk_job w = {0}, r;
	uint64_t ops = 0, sectors, t0, ns, errors;
	struct blk_req *fr;
	int st;

	if (blk_open())
		return -1;
	if (blk.ro)
		return fail("blk-verify: the device is read-only (VIRTIO_BLK_F_RO)");
	sectors = cmdline_u64("sectors", blk.capacity);
	w.type = VIRTIO_BLK_T_OUT;
	w.qd = (unsigned)cmdline_u64("qd", 4);
	w.bs = (uint32_t)cmdline_u64("bs", 128 * 1024);
	w.sectors = sectors;
	w.pattern = true;
	w.seed = cmdline_u64("seed", 0);
	if (!w.seed)
		w.seed = (rdtsc() * 0x9e3779b97f4a7c15ull) | 1;
	if (w.bs && sectors)
		w.count = (sectors + w.bs / SECTOR - 1) / (w.bs / SECTOR);

	t0 = rdtsc();
	if (blk_get_id(&ops))
		return -1;
	kprintf("blk-verify: writing %lu sectors in %u-byte requests, qd=%u seed=0x%lx\n", sectors,
		w.bs, w.qd, w.seed);
	if (blk_job_run(&w))
		return -1;
	ops += w.done;
	if (vdev_has(&blk.v, VIRTIO_BLK_F_FLUSH)) {
		if (!(fr = dma_scratch_alloc(sizeof(*fr))))
			return -1;
		st = blk_sync(fr, VIRTIO_BLK_T_FLUSH, 0, 0, 0, NULL);
		ops++;
		if (st != VIRTIO_BLK_S_OK)
			return fail("blk-verify: FLUSH: %s", sync_name(st));
	}
	r = w;
	r.type = VIRTIO_BLK_T_IN;
	kprintf("blk-verify: reading back\n");
	if (blk_job_run(&r))
		return -1;
	ops += r.done;
	ns = tsc_to_ns(rdtsc() - t0);
	errors = r.mismatches + w.ioerrs + r.ioerrs;
	vdev_close(&blk.v);

	kprintf("RESULT test=blk-verify ops=%lu ns=%lu errors=%lu iops=%lu mbps=%lu sectors=%lu "
		"bytes=%lu write_mbps=%lu read_mbps=%lu mismatches=%lu ioerrs=%lu flush=%u "
		"notifies=%lu irqs=%lu seed=0x%lx\n",
		ops, ns, errors, per_sec(ops, ns), mbps(w.bytes + r.bytes, ns), sectors,
		w.bytes + r.bytes, mbps(w.bytes, w.ns), mbps(r.bytes, r.ns), r.mismatches,
		w.ioerrs + r.ioerrs, vdev_has(&blk.v, VIRTIO_BLK_F_FLUSH), w.notifies + r.notifies,
		w.irqs + r.irqs, w.seed);
	if (errors)
		return fail("blk-verify: %lu mismatching sectors, %lu failed requests",
			    r.mismatches, w.ioerrs + r.ioerrs);
	return 0;
}

/* ---- blk-read / blk-write ------------------------------------------------------------------ */

static int run_rw(const char *name, uint32_t type)
{
	struct blk_job j = {0};

	if (blk_open())
		return -1;
	j.type = type;
	j.count = cmdline_u64("count", 1000);
	j.qd = (unsigned)cmdline_u64("qd", 1);
	j.bs = (uint32_t)cmdline_u64("bs", 4096);
	j.sectors = cmdline_u64("sectors", blk.capacity);
	j.random = cmdline_u64("random", 0) != 0;
	j.batch = cmdline_u64("batch", 0) != 0;
	rand_state ^= rdtsc();
	if (j.count == 0)
		fail_exit(EXIT_USAGE, "%s: count must be > 0", name);
	if (blk_job_run(&j))
		return -1;
	vdev_close(&blk.v);
	kprintf("RESULT test=%s ops=%lu ns=%lu errors=%lu iops=%lu mbps=%lu qd=%u bs=%u random=%u "
		"bytes=%lu notifies=%lu irqs=%lu event_idx=%u irq=%s\n",
		name, j.done, j.ns, j.ioerrs, per_sec(j.done, j.ns), mbps(j.bytes, j.ns), j.qd,
		j.bs, j.random, j.bytes, j.notifies, j.irqs, blk.v.event_idx,
		blk.v.irq ? (blk.v.spin ? "spin" : "hlt") : "poll");
	if (j.ioerrs)
		return fail("%s: %lu of %lu requests failed", name, j.ioerrs, j.done);
	return 0;
}

int run_blk_read(void)
{
	return run_rw("blk-read", VIRTIO_BLK_T_IN);
}

int run_blk_write(void)
{
	return run_rw("blk-write", VIRTIO_BLK_T_OUT);
}

/* ---- blk-ro --------------------------------------------------------------------------------- */

int run_blk_ro(void)
{
	uint32_t len = SECTOR * 8;
	struct blk_req *r;
	uint8_t *before, *after, *wr;
	uint64_t t0, errors = 0;
	int st_read, st_write, st_again;

	if (blk_open())
		return -1;
	if (!blk.ro)
		return fail("blk-ro: the device does not offer VIRTIO_BLK_F_RO");
	if (blk.capacity < 8)
		len = SECTOR;
	r = dma_scratch_alloc(sizeof(*r));
	before = dma_scratch_alloc(len);
	after = dma_scratch_alloc(len);
	wr = dma_scratch_alloc(len);
	if (!r || !before || !after || !wr)
		return -1;
	t0 = rdtsc();
	st_read = blk_sync(r, VIRTIO_BLK_T_IN, 0, pa(before), len, NULL);
	for (uint32_t i = 0; i < len; i++)
		wr[i] = (uint8_t)~before[i];
	st_write = blk_sync(r, VIRTIO_BLK_T_OUT, 0, pa(wr), len, NULL);
	st_again = blk_sync(r, VIRTIO_BLK_T_IN, 0, pa(after), len, NULL);
	uint64_t ns = tsc_to_ns(rdtsc() - t0);

	kprintf("blk-ro: read %s, write %s, read again %s\n", sync_name(st_read),
		sync_name(st_write), sync_name(st_again));
	if (st_read != VIRTIO_BLK_S_OK)
		errors++;
	if (st_write != VIRTIO_BLK_S_IOERR)
		errors++;
	if (st_again != VIRTIO_BLK_S_OK || memcmp(before, after, len) != 0)
		errors++;
	vdev_close(&blk.v);
	kprintf("RESULT test=blk-ro ops=3 ns=%lu errors=%lu write_status=%d\n", ns, errors,
		st_write);
	if (errors)
		return fail("blk-ro: the write to a read-only disk did not fail cleanly (%s)",
			    sync_name(st_write));
	return 0;
}

/* ---- blk-bad: malformed submissions ---------------------------------------------------------- */

enum bad_case {
	BAD_ADDR_BEYOND_RAM,
	BAD_ADDR_PAST_RAM_END,
	BAD_LEN_ABSURD,
	BAD_LOOP,
	BAD_NEXT_OUT_OF_RANGE,
	BAD_HEAD_OUT_OF_RANGE,
	BAD_AVAIL_IDX_JUMP,
	BAD_HDR_SHORT,
	BAD_NO_WRITABLE,
	BAD_STATUS_READ_ONLY,
	BAD_IN_DATA_READ_ONLY,
	BAD_OUT_DATA_WRITABLE,
	BAD_TYPE,
	BAD_SECTOR_BEYOND_END,
	BAD_LEN_NOT_SECTORS,
	BAD_INDIRECT_LEN,
	BAD_INDIRECT_BEYOND_RAM,
	BAD_INDIRECT_NESTED,
	BAD_INDIRECT_LOOP,
	BAD_NR_CASES
};

static const char *const bad_names[BAD_NR_CASES] = {
    "addr-beyond-ram",
    "addr-past-ram-end",
    "len-absurd",
    "loop",
    "next-out-of-range",
    "head-out-of-range",
    "avail-idx-jump",
    "hdr-short",
    "no-writable",
    "status-read-only",
    "in-data-read-only",
    "out-data-writable",
    "bad-type",
    "sector-beyond-end",
    "len-not-sectors",
    "indirect-bad-len",
    "indirect-beyond-ram",
    "indirect-nested",
    "indirect-loop",
};

#define FAR_ADDR (1ull << 40) /* 1 TiB: no guest has RAM there */

struct bad_ctx {
	struct blk_req *req;
	uint64_t buf;		  /* 4 KiB data buffer */
	struct vring_desc *table; /* indirect table, 8 entries */
	uint64_t ram_end;
};

static void raw_desc(struct vring_desc *t, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	t[i] = (struct vring_desc){addr, len, flags, next};
}

/* hdr -> data -> status in t[0..2]. */
static void raw_chain3(struct vring_desc *t, const struct bad_ctx *c, uint32_t hdr_len,
		       uint64_t data, uint32_t data_len, uint16_t data_flags, uint16_t status_flags)
{
	raw_desc(t, 0, pa(&c->req->hdr), hdr_len, VRING_DESC_F_NEXT, 1);
	raw_desc(t, 1, data, data_len, data_flags | VRING_DESC_F_NEXT, 2);
	raw_desc(t, 2, pa(&c->req->status), 1, status_flags, 0);
}

static void raw_post(struct vq *q, uint16_t head)
{
	q->avail->ring[q->avail_idx & (q->size - 1)] = head;
	q->avail_idx++;
}

/*
 * Build case k on the fresh queue q and kick. Returns the head posted, or -1
 * if the case cannot run (no indirect descriptors, unknown RAM size).
 */
static int bad_build(enum bad_case k, struct vq *q, const struct bad_ctx *c)
{
	const uint16_t W = VRING_DESC_F_WRITE, N = VRING_DESC_F_NEXT, I = VRING_DESC_F_INDIRECT;
	struct vring_desc *d = q->desc, *t = c->table;
	uint16_t head = 0;

	c->req->hdr = (struct blk_hdr){VIRTIO_BLK_T_IN, 0, 0};
	c->req->status = STATUS_UNTOUCHED;
	if (k >= BAD_INDIRECT_LEN && !vdev_has(&blk.v, VIRTIO_F_INDIRECT_DESC))
		return -1;
	switch (k) {
	case BAD_ADDR_BEYOND_RAM:
		raw_chain3(d, c, 16, FAR_ADDR, 4096, W, W);
		break;
	case BAD_ADDR_PAST_RAM_END:
		if (!c->ram_end)
			return -1;
		raw_chain3(d, c, 16, c->ram_end - SECTOR, 4096, W, W);
		break;
	case BAD_LEN_ABSURD:
		raw_chain3(d, c, 16, c->buf, 0xffffffff, W, W);
		break;
	case BAD_LOOP: /* 0 -> 1 -> 0, all readable (a write): only the loop is wrong */
		c->req->hdr.type = VIRTIO_BLK_T_OUT;
		raw_desc(d, 0, pa(&c->req->hdr), 16, N, 1);
		raw_desc(d, 1, c->buf, 4096, N, 0);
		break;
	case BAD_NEXT_OUT_OF_RANGE:
		raw_desc(d, 0, pa(&c->req->hdr), 16, N, q->size);
		break;
	case BAD_HEAD_OUT_OF_RANGE:
		raw_chain3(d, c, 16, c->buf, 4096, W, W);
		head = q->size;
		break;
	case BAD_AVAIL_IDX_JUMP:
		raw_chain3(d, c, 16, c->buf, 4096, W, W);
		raw_post(q, 0);
		q->avail_idx = (uint16_t)(q->avail_idx + q->size); /* idx moves by size + 1 */
		vq_kick_always(q);
		return 0;
	case BAD_HDR_SHORT:
		raw_chain3(d, c, 8, c->buf, 4096, W, W);
		break;
	case BAD_NO_WRITABLE: /* an IN request with nothing the device may write */
		raw_desc(d, 0, pa(&c->req->hdr), 16, N, 1);
		raw_desc(d, 1, c->buf, 4096, 0, 0);
		break;
	case BAD_STATUS_READ_ONLY: /* readable after writable */
		raw_chain3(d, c, 16, c->buf, 4096, W, 0);
		break;
	case BAD_IN_DATA_READ_ONLY: /* the device must write into a read-only buffer */
		raw_chain3(d, c, 16, c->buf, 4096, 0, W);
		break;
	case BAD_OUT_DATA_WRITABLE: /* a write whose data the device may not read */
		c->req->hdr.type = VIRTIO_BLK_T_OUT;
		raw_chain3(d, c, 16, c->buf, 4096, W, W);
		break;
	case BAD_TYPE:
		c->req->hdr.type = 0xff;
		raw_chain3(d, c, 16, c->buf, 4096, W, W);
		break;
	case BAD_SECTOR_BEYOND_END:
		c->req->hdr.sector = blk.capacity;
		raw_chain3(d, c, 16, c->buf, 4096, W, W);
		break;
	case BAD_LEN_NOT_SECTORS:
		raw_chain3(d, c, 16, c->buf, 100, W, W);
		break;
	case BAD_INDIRECT_LEN:
		raw_chain3(t, c, 16, c->buf, 4096, W, W);
		raw_desc(d, 0, pa(t), 3 * sizeof(*t) + 1, I, 0);
		break;
	case BAD_INDIRECT_BEYOND_RAM:
		raw_desc(d, 0, FAR_ADDR, 3 * sizeof(*t), I, 0);
		break;
	case BAD_INDIRECT_NESTED:
		raw_desc(t, 0, pa(t), 3 * sizeof(*t), I, 0);
		raw_desc(d, 0, pa(t), 3 * sizeof(*t), I, 0);
		break;
	case BAD_INDIRECT_LOOP:
		c->req->hdr.type = VIRTIO_BLK_T_OUT;
		raw_desc(t, 0, pa(&c->req->hdr), 16, N, 1);
		raw_desc(t, 1, c->buf, 4096, N, 0);
		raw_desc(d, 0, pa(t), 2 * sizeof(*t), I, 0);
		break;
	case BAD_NR_CASES:
		return -1;
	}
	raw_post(q, head);
	vq_kick_always(q);
	return head;
}

/* The queue after a case whose chain came back: every descriptor free again. */
static void relink(struct vq *q)
{
	for (unsigned i = 0; i < q->size; i++) {
		q->desc[i] = (struct vring_desc){0, 0, 0, (uint16_t)(i + 1)};
		q->token[i] = NULL;
	}
	q->free_head = 0;
	q->num_free = q->size;
}

/* A normal 4 KiB read of sector 0: the device still works. */
static bool read_ok(struct bad_ctx *c, int *st)
{
	*st = blk_sync(c->req, VIRTIO_BLK_T_IN, 0, c->buf, 4096, NULL);
	return *st == VIRTIO_BLK_S_OK;
}

int run_blk_bad(void)
{
	uint64_t case_tsc = tsc_khz * cmdline_u64("case_timeout_ms", 2000);
	uint64_t t0, ran = 0, errors = 0, skipped = 0;
	uint64_t n_reset = 0, n_ioerr = 0, n_unsupp = 0, n_len0 = 0, n_timeout = 0, n_tolerated = 0;
	struct bad_ctx c;
	struct vq *q = &blk.v.vq[0];

	if (blk_open())
		return -1;
	c.req = dma_scratch_alloc(sizeof(*c.req));
	c.table = dma_scratch_alloc(8 * sizeof(*c.table));
	void *buf = dma_scratch_alloc(4096);

	if (!c.req || !c.table || !buf)
		return -1;
	c.buf = pa(buf);
	c.ram_end = ram_end();
	if (blk.capacity < 8)
		return fail("blk-bad: need a disk of at least 4 KiB");
	t0 = rdtsc();
	for (unsigned k = 0; k < BAD_NR_CASES; k++) {
		const char *result, *recovery, *recovery_after = "";
		bool bad = false, same_queue = false;
		int head, w, st = 0;

		if (vdev_reinit(&blk.v))
			return -1;
		head = bad_build((enum bad_case)k, q, &c);
		if (head < 0) {
			kprintf("blk-bad: case=%s result=skipped\n", bad_names[k]);
			skipped++;
			continue;
		}
		ran++;
		w = vq_wait(q, case_tsc);
		if (w == VQ_WAIT_RESET) {
			result = "needs-reset";
			n_reset++;
		} else if (w == VQ_WAIT_TIMEOUT) {
			result = "timeout";
			n_timeout++;
			bad = true;
		} else {
			struct vring_used_elem e = q->used->ring[q->last_used & (q->size - 1)];
			uint8_t s = READ_ONCE(c.req->status);

			q->last_used++;
			if (e.id != (uint32_t)head) {
				result = "wrong-id";
				bad = true;
			} else if (s == VIRTIO_BLK_S_IOERR) {
				result = "ioerr";
				n_ioerr++;
			} else if (s == VIRTIO_BLK_S_UNSUPP) {
				result = "unsupp";
				n_unsupp++;
			} else if (s == STATUS_UNTOUCHED && e.len == 0) {
				result = "len0";
				n_len0++;
			} else if (s == VIRTIO_BLK_S_OK &&
				   cmdline_list_has("lenient", bad_names[k])) {
				result = "status-ok-tolerated";
				n_tolerated++;
			} else {
				result = s == VIRTIO_BLK_S_OK ? "status-ok" : "bad-status";
				bad = true;
			}
			/* The chain is back: go on with the same queue unless the ring itself was
			 * corrupted. */
			same_queue = k != BAD_AVAIL_IDX_JUMP && k != BAD_HEAD_OUT_OF_RANGE;
		}
		/* Recovery: a normal read on the same queue if the chain came back, else
		 * (or if that read finds NEEDS_RESET) after a reset. */
		if (same_queue) {
			relink(q);
			if (read_ok(&c, &st)) {
				recovery = "read-ok";
			} else if (st == SYNC_RESET) {
				recovery = "read-needs-reset,";
			} else {
				recovery = "read-failed";
				bad = true;
			}
		} else {
			recovery = "";
		}
		if (!same_queue || st == SYNC_RESET) {
			if (vdev_reinit(&blk.v))
				return -1;
			recovery_after = read_ok(&c, &st) ? "reset-read-ok" : "reset-read-failed";
			bad |= st != VIRTIO_BLK_S_OK;
		}
		if (bad)
			errors++;
		kprintf("blk-bad: case=%s result=%s recovery=%s%s verdict=%s%s%s\n", bad_names[k],
			result, recovery, recovery_after, bad ? "BAD" : "ok",
			st != VIRTIO_BLK_S_OK ? " read=" : "",
			st != VIRTIO_BLK_S_OK ? sync_name(st) : "");
	}
	uint64_t ns = tsc_to_ns(rdtsc() - t0);

	vdev_close(&blk.v);
	kprintf("RESULT test=blk-bad ops=%lu ns=%lu errors=%lu needs_reset=%lu ioerr=%lu "
		"unsupp=%lu len0=%lu timeouts=%lu tolerated=%lu skipped=%lu\n",
		ran, ns, errors, n_reset, n_ioerr, n_unsupp, n_len0, n_timeout, n_tolerated,
		skipped);
	if (errors)
		return fail("blk-bad: %lu of %lu malformed submissions handled badly", errors, ran);
	return 0;
}
