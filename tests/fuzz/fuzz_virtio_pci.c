/* SPDX-License-Identifier: MIT */
/*
 * fuzz_virtio_pci.c -- libFuzzer target for the virtio-pci transport
 * (src/virtio/virtio_pci.c) and PCI configuration space, MSI-X and INTx
 * (src/pci/), driving a virtio-blk device (src/virtio/blk.c) with the
 * io_uring disk engine (the sync one where io_uring is unavailable, both
 * src/block/) over a small memory-backed file. No KVM: the host side is the
 * fuzzer's own PIO and MMIO buses, PCI bus, GSI routing table (vm_fd -1) and
 * fake guest RAM, handed to the transport as a struct virtio_pci_host; MSI-X
 * routes go through the set_route hook to a recorder, irqfds are plain
 * eventfds the fuzzer reads, doorbells take the --no-ioeventfd path, and the
 * I/O thread's loop is run by the fuzzer itself, one round at a time, on
 * this thread (deterministic, and completions land between operations).
 *
 * Each input starts from the rig in its power-on state, runs a sequence of
 * operations against it, and resets the device. Input layout: byte 0 flags
 * (bit 0 offer EVENT_IDX), then operations, each an opcode byte followed by
 * its arguments (little-endian, zero once the input runs out); see op().
 *
 * After every operation one I/O round runs (requests submitted in it stay
 * in flight into the next operation; OP_IO_WAIT waits for them), then the
 * invariants are checked; a violation aborts:
 *  - the disk engine never has more requests in flight than the pool, never
 *    gets a request that is already in flight (a slot reused), and
 *    completions come only for requests in flight; after a drain nothing is
 *    in flight;
 *  - the device's used index advances only by completions: the chains it
 *    took (last_avail) minus the ones it returned (used_idx) are exactly
 *    the requests in flight;
 *  - the device touches no guest memory while it may not (not started, or
 *    Bus Master off) with nothing in flight, takes no chains with Bus
 *    Master off, and never reaches outside the fake RAM (guard pages around
 *    it, ASan-poisoned and pattern-checked against kernel writes; every
 *    iovec handed to the engine, and the status byte of virtio-blk's request
 *    around it, checked to be in RAM);
 *  - an MSI-X vector fires only when enabled, unmasked, with Bus Master on,
 *    and through the route of its current table entry; INTx only while
 *    MSI-X is off and INTx is not disabled; no lock is left held.
 * ASan and UBSan watch everything else.
 */
#include "vireo/block/disk.h"
#include "vireo/core/bus.h"
#include "vireo/core/gmem.h"
#include "vireo/core/iothread.h"
#include "vireo/core/irq.h"
#include "vireo/pci/msix.h"
#include "vireo/pci/pci.h"
#include "vireo/lib/util.h"
#include "vireo/virtio/blk.h"
#include "vireo/virtio/virtio_pci.h"

#include <errno.h>
#include <poll.h>
#include <sanitizer/asan_interface.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define RAM_SIZE   0x8000u
#define GUARD	   4096u
#define GUARD_BYTE 0xa5
#define DISK_BYTES 65536u
#define MAX_OPS	   512
#define SLOT	   1u /* the device's PCI slot (slot 0: the host bridge) */

/* Where OP_INIT puts the rings (room for 256 entries), and request buffers. */
#define DESC	 0x0000u
#define AVAIL	 0x1000u
#define USED	 0x2000u
#define BUFS	 0x3000u
#define NR_BUFS	 5u
#define BUF_SIZE 0x1000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_virtio_pci: %s:%d: invariant broken: %s\n",          \
				__FILE__, __LINE__, #cond);                                        \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* ---- the disk engine, watched ------------------------------------------- */

/* The real opener, under -Wl,--wrap=disk_backend_open. */
struct disk_backend *__real_disk_backend_open(int fd, unsigned depth, char *err, size_t errlen);
struct disk_backend *__wrap_disk_backend_open(int fd, unsigned depth, char *err, size_t errlen);

static struct {
	bool ready;
	int disk_fd;
	char disk_path[64];
	uint8_t *map; /* guard | RAM | guard */
	uint8_t *ram;
	uint8_t shadow[RAM_SIZE]; /* RAM as of the last check */

	/* The rig: the machine's side (what struct virtio_pci_host points at), the device. */
	struct gmem mem;
	struct bus pio, mmio;
	struct pci_bus pci;
	struct irq_routing irq;
	struct iothread io;
	struct virtio_pci *vp;

	/* The engine of the current rig, its real ops and what is in flight. */
	struct disk_backend *be;
	const struct disk_backend_ops *real;
	struct disk_backend_ops ops;
	void (*real_complete)(void *opaque, struct disk_req *r);
	struct disk_req *inflight[BLK_QUEUE_SIZE];
	unsigned nr_inflight;

	/* The device's ops, with resets counted. */
	struct virtio_device_ops dev_ops;
	void (*real_reset)(struct virtio_dev *d);
	uint64_t resets;

	/* MSI-X routes as KVM would have them, by GSI (0: none yet). */
	struct {
		bool valid;
		uint64_t addr;
		uint32_t data;
	} route[IRQ_MAX_ROUTES];
	int irqfd[MSIX_MAX_VECTORS];
	uint8_t cfg0[PCI_CFG_SIZE], host0[PCI_CFG_SIZE];
	struct msix_entry table0[MSIX_MAX_VECTORS];

	/* The driver's side. */
	unsigned next_desc, next_buf; /* the next request's descriptors and buffer */
	uint64_t intx_raised;
} F;

static bool in_ram(const void *p, size_t len)
{
	const uint8_t *b = p;

	return b >= F.ram && b <= F.ram + RAM_SIZE && len <= (size_t)(F.ram + RAM_SIZE - b);
}

static int inflight_find(const struct disk_req *r)
{
	for (unsigned i = 0; i < F.nr_inflight; i++)
		if (F.inflight[i] == r)
			return (int)i;
	return -1;
}

/*
 * The engine sees only a struct disk_req; virtio-blk embeds it in its own
 * request (blk_req.h), which holds the status byte the completion will write.
 */
static const struct blk_req *blk_of(const struct disk_req *r)
{
	return container_of(r, struct blk_req, disk);
}

static bool w_submit(struct disk_backend *b, struct disk_req *r)
{
	const struct blk_req *br = blk_of(r);
	bool done;

	/* A request still in flight is never handed out again. */
	CHECK(inflight_find(r) < 0);
	CHECK(br->status_byte && in_ram(br->status_byte, 1));
	if (r->op == DISK_READ || r->op == DISK_WRITE) {
		/* The data the engine will move: the request's own iovecs, all in RAM. */
		CHECK(r->iov == br->iov && r->niov <= BLK_SEG_MAX);
		for (unsigned i = 0; i < r->niov; i++)
			CHECK(in_ram(r->iov[i].iov_base, r->iov[i].iov_len));
	}
	done = F.real->submit(b, r);
	if (!done) {
		CHECK(F.nr_inflight < BLK_QUEUE_SIZE);
		F.inflight[F.nr_inflight++] = r;
	}
	CHECK(b->inflight <= BLK_QUEUE_SIZE);
	return done;
}

static void w_complete(void *opaque, struct disk_req *r)
{
	int i = inflight_find(r);

	CHECK(i >= 0); /* only what is in flight completes, once */
	CHECK(in_ram(blk_of(r)->status_byte, 1));
	F.inflight[i] = F.inflight[--F.nr_inflight];
	F.real_complete(opaque, r);
}

static unsigned w_reap(struct disk_backend *b)
{
	unsigned n;

	F.real_complete = b->complete;
	b->complete = w_complete;
	n = F.real->reap(b);
	b->complete = F.real_complete;
	CHECK(b->inflight <= BLK_QUEUE_SIZE);
	return n;
}

/* Reset or stop: what finishes comes back through w_complete; the rest
 * (a hung disk: not here, on a plain file) would stay in flight. */
static unsigned w_cancel(struct disk_backend *b, uint64_t timeout_ns)
{
	unsigned left;

	F.real_complete = b->complete;
	b->complete = w_complete;
	left = F.real->cancel(b, timeout_ns);
	b->complete = F.real_complete;
	CHECK(left == b->inflight && left == F.nr_inflight);
	return left;
}

struct disk_backend *__wrap_disk_backend_open(int fd, unsigned depth, char *err, size_t errlen)
{
	struct disk_backend *b = __real_disk_backend_open(fd, depth, err, errlen);

	if (!b)
		return NULL;
	F.be = b;
	F.real = b->ops;
	F.ops = *b->ops;
	F.ops.submit = w_submit;
	F.ops.reap = w_reap;
	F.ops.cancel = w_cancel;
	b->ops = &F.ops;
	F.nr_inflight = 0;
	return b;
}

static void w_reset(struct virtio_dev *d)
{
	F.resets++;
	F.real_reset(d);
}

/* The set_route hook: what KVM_SET_GSI_ROUTING would now say for gsi. */
static int record_route(struct irq_routing *r, unsigned gsi, uint64_t addr, uint32_t data)
{
	(void)r;
	CHECK(gsi < IRQ_MAX_ROUTES);
	F.route[gsi].valid = true;
	F.route[gsi].addr = addr;
	F.route[gsi].data = data;
	return 0;
}

/* ---- the rig ------------------------------------------------------------ */

static void rig_new(void);

static void setup(void)
{
	char why[256];
	struct disk_backend *probe;

	/* io_uring where it works (the point of this target), else sync. */
	probe = disk_backend_uring_create(-1, 8, why, sizeof(why));
	if (probe) {
		probe->ops->destroy(probe);
		setenv("VIREO_BLK_BACKEND", "io_uring", 1);
	} else {
		fprintf(stderr, "fuzz_virtio_pci: io_uring unavailable (%s): sync backend\n", why);
		setenv("VIREO_BLK_BACKEND", "sync", 1);
	}
	snprintf(why, sizeof(why), "%s/vireo-fuzz-vpci-XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	F.disk_fd = mkstemp(why);
	if (F.disk_fd < 0 || ftruncate(F.disk_fd, DISK_BYTES) < 0)
		__builtin_trap();
	unlink(why);
	/* Each rig opens the (unlinked) file anew, as --disk would. */
	snprintf(F.disk_path, sizeof(F.disk_path), "/proc/self/fd/%d", F.disk_fd);

	F.map = mmap(NULL, GUARD + RAM_SIZE + GUARD, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (F.map == MAP_FAILED)
		__builtin_trap();
	F.ram = F.map + GUARD;
	memset(F.map, GUARD_BYTE, GUARD);
	memset(F.ram + RAM_SIZE, GUARD_BYTE, GUARD);
	ASAN_POISON_MEMORY_REGION(F.map, GUARD);
	ASAN_POISON_MEMORY_REGION(F.ram + RAM_SIZE, GUARD);
	rig_new();
	F.ready = true;
}

/*
 * The rig is built once (a disk's io_uring and request pool are costly to
 * set up under ASan) and put back to its power-on state before each input
 * by rig_reset().
 */
static void rig_new(void)
{
	struct blk_disk_config c = {0};
	struct virtio_pci_host host = {.vm_fd = -1,
				       .mem = &F.mem,
				       .mmio = &F.mmio,
				       .pci = &F.pci,
				       .irq = &F.irq,
				       .ioeventfd = false,
				       .event_idx = true};
	char err[256];

	gmem_layout(&F.mem, F.ram, RAM_SIZE);
	bus_init(&F.pio, "pio");
	bus_init(&F.mmio, "mmio");
	if (pci_bus_init(&F.pci, &F.pio) < 0)
		__builtin_trap();
	irq_routing_init(&F.irq, -1);
	if (iothread_init(&F.io) < 0)
		__builtin_trap();
	F.vp = calloc(1, sizeof(*F.vp));
	if (!F.vp)
		__builtin_trap();
	snprintf(c.path, sizeof(c.path), "%s", F.disk_path);
	if (virtio_blk_create(&F.vp->vdev, &c, &F.io, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_virtio_pci: %s\n", err);
		__builtin_trap();
	}
	F.dev_ops = *F.vp->vdev.ops;
	F.real_reset = F.dev_ops.reset;
	F.dev_ops.reset = w_reset;
	F.vp->vdev.ops = &F.dev_ops;
	if (virtio_pci_init(F.vp, &host, &F.io, "virtio-blk0") < 0)
		__builtin_trap();
	/* KVM's side of MSI-X: routes recorded, irqfds read by the checks. */
	F.vp->msix.set_route = record_route;
	for (unsigned v = 0; v < F.vp->msix.nr; v++) {
		F.irqfd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (F.irqfd[v] < 0)
			__builtin_trap();
		F.vp->msix.irqfd[v] = F.irqfd[v];
	}
	/* Power-on configuration space, and MSI-X as msix_init() left it. */
	memcpy(F.cfg0, F.vp->pci.cfg, PCI_CFG_SIZE);
	memcpy(F.host0, F.pci.host_bridge.cfg, PCI_CFG_SIZE);
	memcpy(F.table0, F.vp->msix.table, sizeof(F.table0));
}

/* ---- the I/O thread's loop, one round on this thread -------------------- */

static uint64_t drain_fd(int fd)
{
	uint64_t v = 0;

	return read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v) ? v : 0;
}

/* Every watch whose eventfd fired, or that asked to be called back, once. */
static void io_round(void)
{
	struct iothread *t = &F.io;

	for (unsigned i = 0; i < IOTHREAD_MAX_FDS; i++) {
		struct iothread_watch *w = &t->watch[i];
		uint64_t n;

		if (!w->used)
			continue;
		n = drain_fd(w->fd);
		if (n || w->again)
			w->again = w->fn(w->opaque, n);
	}
}

static bool io_busy(void)
{
	struct iothread *t = &F.io;

	if (F.nr_inflight)
		return true;
	for (unsigned i = 0; i < IOTHREAD_MAX_FDS; i++)
		if (t->watch[i].used && t->watch[i].again)
			return true;
	return false;
}

/* Until nothing is in flight or waiting (bounded: a stuck request does not hang us). */
static void io_wait(void)
{
	for (int i = 0; i < 64 && io_busy(); i++) {
		io_round();
		if (F.nr_inflight && F.be->event_fd >= 0) {
			struct pollfd p = {.fd = F.be->event_fd, .events = POLLIN};

			poll(&p, 1, 2);
		}
	}
}

/* ---- the guest's accesses ----------------------------------------------- */

static const uint8_t *in_p, *in_end;

static uint8_t u8(void)
{
	return in_p < in_end ? *in_p++ : 0;
}

static uint16_t u16(void)
{
	return (uint16_t)(u8() | u8() << 8);
}

static uint32_t u32(void)
{
	return u16() | (uint32_t)u16() << 16;
}

static uint64_t u64(void)
{
	return u32() | (uint64_t)u32() << 32;
}

static void cfg_access(unsigned slot, unsigned reg, uint8_t *v, unsigned len, bool is_write)
{
	uint32_t a = 0x80000000u | slot << 11 | (reg & 0xfc);

	bus_dispatch(&F.pio, PCI_CONFIG_ADDRESS, (uint8_t *)&a, 4, true);
	bus_dispatch(&F.pio, PCI_CONFIG_DATA + (reg & 3), v, len, is_write);
}

static void cfg_wr(unsigned reg, uint32_t v, unsigned len)
{
	cfg_access(SLOT, reg, (uint8_t *)&v, len, true);
}

static uint32_t cfg_rd(unsigned reg, unsigned len)
{
	uint32_t v = 0;

	cfg_access(SLOT, reg, (uint8_t *)&v, len, false);
	return v;
}

static void bar_wr(unsigned off, uint64_t v, unsigned len)
{
	bus_dispatch(&F.mmio, F.vp->bar + off, (uint8_t *)&v, len, true);
}

static uint64_t bar_rd(unsigned off, unsigned len)
{
	uint64_t v = 0;

	bus_dispatch(&F.mmio, F.vp->bar + off, (uint8_t *)&v, len, false);
	return v;
}

/* The driver writes guest RAM (not the device): the shadow follows. */
static void ram_wr(uint64_t at, const void *src, size_t len)
{
	if (at >= RAM_SIZE || len > RAM_SIZE - at)
		return;
	memcpy(F.ram + at, src, len);
	memcpy(F.shadow + at, src, len);
}

static void ram_wr16(uint64_t at, uint16_t v)
{
	ram_wr(at, &v, 2);
}

static uint16_t ram_rd16(uint64_t at)
{
	uint16_t v = 0;

	if (at < RAM_SIZE - 1)
		memcpy(&v, F.ram + at, 2);
	return v;
}

/* Descriptor idx of the table at `table`. */
static void put_desc_at(uint64_t table, unsigned idx, uint64_t addr, uint32_t len, uint16_t flags,
			uint16_t next)
{
	uint8_t d[16];

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	ram_wr(table + 16ull * idx, d, 16);
}

/* Descriptor idx of the ring the driver configured. */
static void put_desc(unsigned idx, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	put_desc_at(F.vp->q[0].desc, idx, addr, len, flags, next);
}

/* Post head in the next avail slot (the driver's view of the queue size). */
static void avail_put(uint16_t head)
{
	uint64_t avail = F.vp->q[0].driver;
	uint16_t idx = ram_rd16(avail + 2), qs = F.vp->q[0].size ? F.vp->q[0].size : 1;

	ram_wr16(avail + 4 + 2ull * (idx & (qs - 1)), head);
	ram_wr16(avail + 2, (uint16_t)(idx + 1));
}

static void notify(unsigned q)
{
	bar_wr(VPCI_NOTIFY_OFF + q * VPCI_NOTIFY_MULTIPLIER, q, 2);
}

enum {
	CC_STATUS = 0x14,
};

/*
 * A driver's whole start-up (virtio 1.2, 3.1.1). a: log2 of the queue size;
 * b: bit 0 EVENT_IDX, 1 INDIRECT_DESC, 2 MSI-X, 3 no DRIVER_OK, 4 queue not
 * enabled, 5 ring addresses from the input (three le16 offsets).
 */
static void driver_init(uint8_t a, uint8_t b)
{
	uint16_t qs = (uint16_t)(1u << (a % 9));
	uint64_t f = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_BLK_F_FLUSH |
		     1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_DISCARD |
		     1ull << VIRTIO_BLK_F_WRITE_ZEROES;
	unsigned cap = F.vp->msix.cap;

	if (b & 1)
		f |= 1ull << VIRTIO_F_RING_EVENT_IDX;
	if (b & 2)
		f |= 1ull << VIRTIO_F_INDIRECT_DESC;
	cfg_wr(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	bar_wr(CC_STATUS, 0, 1);
	bar_wr(CC_STATUS, VIRTIO_STATUS_ACKNOWLEDGE, 1);
	bar_wr(CC_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	bar_wr(0x08, 0, 4);
	bar_wr(0x0c, (uint32_t)f, 4);
	bar_wr(0x08, 1, 4);
	bar_wr(0x0c, (uint32_t)(f >> 32), 4);
	bar_wr(CC_STATUS, 0x0b, 1);
	bar_wr(0x10, 0, 2); /* config vector 0 */
	bar_wr(0x16, 0, 2);
	bar_wr(0x18, qs, 2);
	bar_wr(0x1a, 1, 2); /* queue vector 1 */
	if (b & 32) {
		bar_wr(0x20, u16(), 8);
		bar_wr(0x28, u16(), 8);
		bar_wr(0x30, u16(), 8);
	} else {
		bar_wr(0x20, DESC, 8);
		bar_wr(0x28, AVAIL, 8);
		bar_wr(0x30, USED, 8);
	}
	if (!(b & 16))
		bar_wr(0x1c, 1, 2);
	F.next_desc = 0;
	if (b & 4) {
		/* MSI-X: program the vectors masked, enable, then unmask. */
		for (unsigned v = 0; v < F.vp->msix.nr; v++) {
			unsigned e = VPCI_MSIX_TABLE_OFF + v * MSIX_ENTRY_SIZE;

			bar_wr(e, 0xfee00000u, 4);
			bar_wr(e + 4, 0, 4);
			bar_wr(e + 8, 0x40 + v, 4);
		}
		cfg_wr(cap + 2, 0x8000, 2);
		for (unsigned v = 0; v < F.vp->msix.nr; v++)
			bar_wr(VPCI_MSIX_TABLE_OFF + v * MSIX_ENTRY_SIZE + 12, 0, 4);
		cfg_wr(PCI_COMMAND,
		       PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE, 2);
	}
	if (!(b & 8))
		bar_wr(CC_STATUS, 0x0f, 1);
}

/* One virtio-blk request in the next buffer slot, posted (and kicked). */
static void request(void)
{
	static const uint32_t types[] = {VIRTIO_BLK_T_IN,      VIRTIO_BLK_T_OUT,
					 VIRTIO_BLK_T_FLUSH,   VIRTIO_BLK_T_GET_ID,
					 VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES};
	uint8_t t = u8(), sector = u8(), n = u8(), how = u8();
	uint32_t type = t < 6 * 40 ? types[t % 6] : t;
	uint64_t buf = BUFS + BUF_SIZE * (F.next_buf++ % NR_BUFS);
	uint32_t len = (n % 8) * 512u;
	uint16_t qs = F.vp->q[0].size ? F.vp->q[0].size : 1;
	unsigned d0 = F.next_desc % qs, d1 = (F.next_desc + 1) % qs, d2 = (F.next_desc + 2) % qs;
	uint8_t hdr[16] = {0};
	bool writes = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;

	F.next_desc += 3;
	memcpy(hdr, &type, 4);
	if (type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES) {
		/* 1 to 4 segments (bits 3-4), one after the other on the disk. */
		unsigned nseg = 1 + ((how >> 3) & 3);

		for (unsigned i = 0; i < nseg; i++) {
			struct virtio_blk_discard_write_zeroes s = {sector + 16 * i, n % 16,
								    how >> 6};

			ram_wr(buf + 0x20 + sizeof(s) * i, &s, sizeof(s));
		}
		len = (uint32_t)(nseg * sizeof(struct virtio_blk_discard_write_zeroes));
	} else {
		uint64_t s = sector;

		memcpy(hdr + 8, &s, 8);
	}
	if (type == VIRTIO_BLK_T_GET_ID)
		len = 20;
	ram_wr(buf, hdr, 16);
	ram_wr(buf + 0x10, &(uint8_t){0xff}, 1);
	if (how & 1) {
		/* Indirect: the table in the buffer slot, one ring descriptor. */
		uint64_t at = buf + 0xf00;

		put_desc_at(at, 0, buf, 16, VIRTQ_DESC_F_NEXT, 1);
		put_desc_at(at, 1, buf + 0x20, len,
			    VIRTQ_DESC_F_NEXT | (writes ? VIRTQ_DESC_F_WRITE : 0), 2);
		put_desc_at(at, 2, buf + 0x10, 1, VIRTQ_DESC_F_WRITE, 0);
		put_desc(d0, at, 48, VIRTQ_DESC_F_INDIRECT, 0);
	} else if (how & 2) {
		/* Header and status only. */
		put_desc(d0, buf, 16, VIRTQ_DESC_F_NEXT, (uint16_t)d2);
		put_desc(d2, buf + 0x10, 1, VIRTQ_DESC_F_WRITE, 0);
	} else {
		put_desc(d0, buf, 16, VIRTQ_DESC_F_NEXT, (uint16_t)d1);
		put_desc(d1, buf + 0x20, len, VIRTQ_DESC_F_NEXT | (writes ? VIRTQ_DESC_F_WRITE : 0),
			 (uint16_t)d2);
		put_desc(d2, buf + 0x10, 1, VIRTQ_DESC_F_WRITE, 0);
	}
	avail_put((uint16_t)d0);
	if (!(how & 4))
		notify(0);
}

enum {
	OP_CFG_WR,
	OP_CFG_RD,
	OP_MMIO_WR,
	OP_MMIO_RD,
	OP_COMMON_WR,
	OP_STATUS,
	OP_NOTIFY,
	OP_MSIX_WR,
	OP_RAM_WR,
	OP_DESC,
	OP_AVAIL,
	OP_INIT,
	OP_REQ,
	OP_IO_RUN,
	OP_IO_WAIT,
	OP_COMMAND,
	OP_MSIX_CTRL,
	OP_WINDOW,
	OP_COUNT
};

static const unsigned sizes[] = {1, 2, 4, 8};

/* The common configuration's registers with their natural sizes. */
static const struct {
	uint8_t off, len;
} common_regs[] = {{0x00, 4}, {0x04, 4}, {0x08, 4}, {0x0c, 4}, {0x10, 2}, {0x12, 2},
		   {0x14, 1}, {0x15, 1}, {0x16, 2}, {0x18, 2}, {0x1a, 2}, {0x1c, 2},
		   {0x1e, 2}, {0x20, 4}, {0x24, 4}, {0x28, 4}, {0x2c, 4}, {0x30, 4},
		   {0x34, 4}, {0x20, 8}, {0x28, 8}, {0x30, 8}};

static void op(uint8_t code)
{
#ifdef FUZZ_VERBOSE
	fprintf(stderr, "op %u at +%zu: activated %d dma_off %d status 0x%x inflight %u avail %u\n",
		code % OP_COUNT, (size_t)(in_end - in_p), F.vp->activated, F.vp->vdev.dma_off,
		F.vp->vdev.status, F.nr_inflight, F.vp->vdev.vq[0].last_avail);
#endif
	switch (code % OP_COUNT) {
	case OP_CFG_WR: {
		uint8_t s = u8(), reg = u8(), l = u8();
		uint32_t v = u32();

		cfg_access(s & 0x80 ? s & 31 : SLOT, reg, (uint8_t *)&v, sizes[l % 3], true);
		break;
	}
	case OP_CFG_RD: {
		uint8_t s = u8(), reg = u8(), l = u8();
		uint32_t v = 0;

		cfg_access(s & 0x80 ? s & 31 : SLOT, reg, (uint8_t *)&v, sizes[l % 3], false);
		break;
	}
	case OP_MMIO_WR: {
		uint16_t off = u16();
		uint8_t l = u8();

		bar_wr(off % (VPCI_BAR_SIZE + 0x100), u64(), sizes[l % 4]);
		break;
	}
	case OP_MMIO_RD: {
		uint16_t off = u16();

		bar_rd(off % (VPCI_BAR_SIZE + 0x100), sizes[u8() % 4]);
		break;
	}
	case OP_COMMON_WR: {
		uint8_t r = u8() % ARRAY_SIZE(common_regs);

		bar_wr(common_regs[r].off, u64(), common_regs[r].len);
		break;
	}
	case OP_STATUS:
		bar_wr(CC_STATUS, u8(), 1);
		break;
	case OP_NOTIFY: {
		uint8_t q = u8();

		bar_wr(VPCI_NOTIFY_OFF + (q % 3) * VPCI_NOTIFY_MULTIPLIER, q, sizes[(q >> 4) % 3]);
		break;
	}
	case OP_MSIX_WR: {
		uint8_t v = u8(), w = u8();

		bar_wr(VPCI_MSIX_TABLE_OFF + (v % 4) * MSIX_ENTRY_SIZE + (w % 4) * 4, u32(), 4);
		break;
	}
	case OP_RAM_WR: {
		uint16_t at = u16();
		uint8_t n = u8(), b[255];

		for (unsigned i = 0; i < n; i++)
			b[i] = u8();
		ram_wr(at % RAM_SIZE, b, n);
		break;
	}
	case OP_DESC: {
		uint8_t i = u8();
		uint16_t addr = u16(), len = u16(), flags = u8(), next = u8();

		put_desc(i, addr, len, flags, next);
		break;
	}
	case OP_AVAIL:
		avail_put(u8());
		break;
	case OP_INIT: {
		uint8_t a = u8();

		driver_init(a, u8());
		break;
	}
	case OP_REQ:
		request();
		break;
	case OP_IO_RUN:
		io_round();
		break;
	case OP_IO_WAIT:
		io_wait();
		break;
	case OP_COMMAND:
		cfg_wr(PCI_COMMAND, u16(), 2);
		break;
	case OP_MSIX_CTRL:
		cfg_wr(F.vp->msix.cap + 2, (uint32_t)u8() << 8, 2);
		break;
	case OP_WINDOW: {
		/* The VIRTIO_PCI_CAP_PCI_CFG window: bar, offset, length, then the data. */
		unsigned cap = F.vp->cfg_cap;
		uint8_t how = u8();
		uint16_t off = u16();
		uint32_t v = u32();

		cfg_wr(cap + 4, how >> 4, 1);
		cfg_wr(cap + 8, off, 4);
		cfg_wr(cap + 12, sizes[how % 4], 4);
		if (how & 8)
			cfg_wr(cap + 16, v, 4);
		else
			cfg_rd(cap + 16, 4);
		break;
	}
	}
}

/* ---- the invariants ------------------------------------------------------ */

struct before {
	bool quiet;
	bool dma_off;
	uint64_t resets;
	unsigned inflight;
	uint16_t last_avail;
	uint64_t raised[MSIX_MAX_VECTORS];
};

/* Nothing may touch guest RAM: not started, or no bus mastering, with nothing in flight. */
static bool quiet(void)
{
	return F.nr_inflight == 0 && (!F.vp->activated || F.vp->vdev.dma_off);
}

static void no_lock_held(pthread_mutex_t *m)
{
	CHECK(pthread_mutex_trylock(m) == 0);
	pthread_mutex_unlock(m);
}

static void check_guards(void)
{
	static uint8_t pattern[GUARD];

	if (!pattern[0])
		memset(pattern, GUARD_BYTE, GUARD);
	ASAN_UNPOISON_MEMORY_REGION(F.map, GUARD);
	ASAN_UNPOISON_MEMORY_REGION(F.ram + RAM_SIZE, GUARD);
	CHECK(memcmp(F.map, pattern, GUARD) == 0);
	CHECK(memcmp(F.ram + RAM_SIZE, pattern, GUARD) == 0);
	ASAN_POISON_MEMORY_REGION(F.map, GUARD);
	ASAN_POISON_MEMORY_REGION(F.ram + RAM_SIZE, GUARD);
}

static void check(const struct before *b)
{
	struct virtio_pci *vp = F.vp;
	struct virtio_dev *d = &vp->vdev;
	struct virtq *vq = &d->vq[0];
	struct msix *m = &vp->msix;
	struct virtio_blk_stats s;
	uint16_t cmd = pci_command(&vp->pci), ctrl;

	no_lock_held(&d->lock);
	no_lock_held(&m->lock);
	no_lock_held(&F.pci.lock);
	no_lock_held(&F.irq.lock);
	check_guards();

	/* In flight: within the pool, and what the backend says. */
	virtio_blk_get_stats(d, &s);
	CHECK(s.max_inflight <= BLK_QUEUE_SIZE);
	CHECK(F.be->inflight <= BLK_QUEUE_SIZE);
	CHECK(F.nr_inflight == F.be->inflight); /* one operation per request in flight */
	/* Nothing in flight without a started device (a reset drains). */
	if (!vp->activated)
		CHECK(F.nr_inflight == 0);

	/* Chains taken = chains returned + chains in flight (+1 that broke the ring). */
	if (vq->avail_ring) {
		uint16_t out = (uint16_t)(vq->last_avail - vq->used_idx);

		CHECK(out == F.nr_inflight || (vq->broken && out == F.nr_inflight + 1));
	} else {
		CHECK(vq->last_avail == 0 && vq->used_idx == 0);
	}
	/*
	 * No bus mastering all along (and no reset): no chain taken, also by
	 * virtio-blk's busy path when a completion comes in while others are
	 * still in flight (seed bme-multiseg caught blk_drain, now
	 * virtio_drain_queue, doing so).
	 */
	if (b->dma_off && d->dma_off && b->resets == F.resets)
		CHECK(vq->last_avail == b->last_avail);
	/* Quiet all along: guest RAM is as the driver left it. */
	if (b->quiet && quiet())
		CHECK(memcmp(F.ram, F.shadow, RAM_SIZE) == 0);
	else
		memcpy(F.shadow, F.ram, RAM_SIZE);

	/* Interrupts: MSI-X only as allowed, through the current route. */
	ctrl = pci_cfg_read16(&vp->pci, m->cap + 2);
	CHECK((m->pending >> m->nr) == 0);
	for (unsigned v = 0; v < m->nr; v++) {
		const struct msix_entry *e = &m->table[v];
		uint64_t n = drain_fd(F.irqfd[v]);

		if (!n)
			continue;
		CHECK((ctrl & 0x8000) && !(ctrl & 0x4000) && !(e->ctrl & 1) &&
		      (cmd & PCI_COMMAND_MASTER));
		CHECK(m->gsi[v] >= 0 && F.route[m->gsi[v]].valid);
		CHECK(F.route[m->gsi[v]].addr == ((uint64_t)e->addr_hi << 32 | e->addr_lo));
		CHECK(F.route[m->gsi[v]].data == e->data);
	}
	if (vp->intx.raised != F.intx_raised) {
		CHECK(!(ctrl & 0x8000) && !(cmd & PCI_COMMAND_INTX_DISABLE));
		F.intx_raised = vp->intx.raised;
	}
}

static void snapshot(struct before *b)
{
	b->quiet = quiet();
	b->dma_off = F.vp->vdev.dma_off;
	b->last_avail = F.vp->vdev.vq[0].last_avail;
	b->resets = F.resets;
	b->inflight = F.nr_inflight;
}

/*
 * Power-on state again, between inputs: the device was reset (status 0) at
 * the end of the last one, so nothing is in flight; what a guest cannot undo
 * (config space it wrote, the MSI-X table, held interrupts) is put back here.
 */
static void rig_reset(uint8_t flags)
{
	struct virtio_pci *vp = F.vp;
	struct msix *m = &vp->msix;
	struct iothread *t = &F.io;

	CHECK(F.nr_inflight == 0 && !vp->activated);
	memcpy(vp->pci.cfg, F.cfg0, PCI_CFG_SIZE);
	memcpy(F.pci.host_bridge.cfg, F.host0, PCI_CFG_SIZE);
	__atomic_store_n(&F.pci.host_bridge.command,
			 pci_cfg_read16(&F.pci.host_bridge, PCI_COMMAND), __ATOMIC_RELEASE);
	/* Through the bus, so the transport and MSI-X see COMMAND and message control. */
	cfg_wr(PCI_COMMAND, pci_cfg_read16(&vp->pci, PCI_COMMAND), 2);
	cfg_wr(m->cap + 2, pci_cfg_read16(&vp->pci, m->cap + 2), 2);
	F.pci.config_address = 0;
	memcpy(m->table, F.table0, sizeof(F.table0));
	memset(m->routed, 0, sizeof(m->routed));
	m->pending = 0;
	memset(F.route, 0, sizeof(F.route));
	vp->event_idx = flags & 1;
	/* Doorbells and interrupts of the last input are forgotten. */
	for (unsigned i = 0; i < IOTHREAD_MAX_FDS; i++) {
		if (t->watch[i].used) {
			drain_fd(t->watch[i].fd);
			t->watch[i].again = false;
		}
	}
	for (unsigned v = 0; v < m->nr; v++)
		drain_fd(F.irqfd[v]);
	F.intx_raised = vp->intx.raised;
	memset(F.ram, 0, RAM_SIZE);
	memset(F.shadow, 0, RAM_SIZE);
	F.next_desc = F.next_buf = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct before b;
	unsigned n = 0;

	if (size < 1)
		return 0;
	if (!F.ready)
		setup();
	rig_reset(data[0]);
	in_p = data + 1;
	in_end = data + size;
	while (in_p < in_end && n++ < MAX_OPS) {
		snapshot(&b);
		op(u8());
		io_round();
		check(&b);
	}
	/* The driver goes away with whatever is in flight: reset, as a guest would. */
	snapshot(&b);
	cfg_wr(PCI_COMMAND, pci_command(&F.vp->pci) | PCI_COMMAND_MEMORY, 2);
	bar_wr(CC_STATUS, 0, 1);
	check(&b);
	CHECK(F.nr_inflight == 0);
#ifdef FUZZ_VERBOSE
	{
		struct virtio_blk_stats st;
		const struct virtq_stats *q = &F.vp->vdev.vq[0].stats;

		virtio_blk_get_stats(&F.vp->vdev, &st);
		fprintf(stderr,
			"fuzz_virtio_pci: %u ops, %s: requests %llu malformed %llu reads %llu "
			"writes %llu max_inflight %llu io_errors %llu; msix raised %llu held %llu "
			"routes %llu; intx %llu\n",
			n, F.be->ops->name, (unsigned long long)q->requests,
			(unsigned long long)q->malformed, (unsigned long long)st.reads,
			(unsigned long long)st.writes, (unsigned long long)st.max_inflight,
			(unsigned long long)st.io_errors, (unsigned long long)F.vp->msix.raised,
			(unsigned long long)F.vp->msix.held,
			(unsigned long long)F.vp->msix.route_updates,
			(unsigned long long)F.vp->intx.raised);
	}
#endif
	return 0;
}
