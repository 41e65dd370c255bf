/* SPDX-License-Identifier: MIT */
/*
 * test_virtio_pci.c -- the virtio-pci transport without KVM: a struct vm
 * around fake guest memory, a virtio-rng (or virtio-blk) device on the PCI
 * bus, a real I/O thread, and a "driver" that speaks to it through the MMIO
 * bus exactly as a guest's accesses would arrive (doorbells take the
 * --no-ioeventfd path). Counters the I/O thread writes are read under the
 * lock that guards them: this test also runs under ThreadSanitizer.
 */
#include "unit.h"

#include "vireo/virtio/blk.h"
#include "vireo/virtio/devices.h"
#include "vireo/virtio/virtio_pci.h"
#include "vireo/machine/machine.h"

#include <time.h>

#define RAM   MIB(4)
#define DESC  0x10000
#define AVAIL 0x11000
#define USED  0x12000
#define BUF   0x20000
#define QSIZE 16

struct rig {
	struct machine m;
	struct fake_mem f;
	struct virtio_pci *vp;
	uint64_t bar;
	/* The device's ops, with activate() counted. */
	struct virtio_device_ops ops;
	int (*real_activate)(struct virtio_dev *d);
	unsigned activations;
	char disk[64];
};

static int count_activate(struct virtio_dev *d)
{
	/* d->ops is the rig's own copy: the way back to the rig. */
	struct rig *r = (struct rig *)((char *)d->ops - offsetof(struct rig, ops));

	r->activations++; /* under d->lock, as every transport call */
	return r->real_activate ? r->real_activate(d) : 0;
}

enum rig_kind { RIG_RNG, RIG_BLK_URING };

struct rig_opts {
	enum rig_kind kind;
	bool no_event_idx; /* as --no-event-idx */
	bool io_later;	   /* the test starts the I/O thread itself (rig_start_io) */
};

/* A virtio-blk disk over a fresh 1 MiB file; skips when io_uring is unavailable. */
static void blk_setup(struct rig *r)
{
	struct blk_disk_config c = {0};
	char err[256];
	int fd;

	snprintf(r->disk, sizeof(r->disk), "/tmp/vireo-test-vpci-XXXXXX");
	fd = mkstemp(r->disk);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, MIB(1)), 0);
	close(fd);
	snprintf(c.path, sizeof(c.path), "%s", r->disk);
	setenv("VIREO_BLK_BACKEND", "io_uring", 1);
	if (virtio_blk_create(&r->vp->vdev, &c, &r->m.io[0], err, sizeof(err)) < 0) {
		unlink(r->disk);
		fprintf(stderr, "# %s: skipping\n", err);
		skip();
	}
	unsetenv("VIREO_BLK_BACKEND");
}

static struct rig *rig_new_opts(struct rig_opts o)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct vm_config cfg = {.cpus = 1};
	struct virtio_pci_host host;

	for (unsigned i = 0; i < OPT_COUNT; i++)
		cfg.want[i] = true;
	cfg.want[OPT_EVENT_IDX] = !o.no_event_idx;
	machine_init_state(&r->m, &cfg, 0);
	fake_mem_init(&r->f, RAM);
	r->m.vm.mem = r->f.m;
	assert_int_equal(pci_bus_init(&r->m.pci, &r->m.vm.pio), 0);
	irq_routing_init(&r->m.vm.irq, -1);
	assert_int_equal(iothread_init(&r->m.io[0]), 0);
	r->m.nr_io = 1;
	r->vp = calloc(1, sizeof(*r->vp));
	r->m.vdev[r->m.nr_vdev++] = r->vp;
	if (o.kind == RIG_BLK_URING)
		blk_setup(r);
	else
		virtio_rng_setup(&r->vp->vdev);
	r->ops = *r->vp->vdev.ops;
	r->real_activate = r->ops.activate;
	r->ops.activate = count_activate;
	r->vp->vdev.ops = &r->ops;
	host = (struct virtio_pci_host){.vm_fd = -1,
					.mem = &r->m.vm.mem,
					.mmio = &r->m.vm.mmio,
					.pci = &r->m.pci,
					.irq = &r->m.vm.irq,
					.event_idx = r->m.vm.active[OPT_EVENT_IDX]};
	assert_int_equal(virtio_pci_init(r->vp, &host, &r->m.io[0],
					 o.kind == RIG_RNG ? "virtio-rng0" : "virtio-blk0"),
			 0);
	if (!o.io_later)
		assert_int_equal(iothread_start(&r->m.io[0]), 0);
	r->bar = r->vp->bar;
	return r;
}

static struct rig *rig_new(void)
{
	return rig_new_opts((struct rig_opts){RIG_RNG, false, false});
}

static void rig_free(struct rig *r)
{
	struct gmem none = {0};

	virtio_devices_destroy(&r->m);
	r->m.vm.mem = none; /* the fake buffer is not vireo's to munmap */
	fake_mem_free(&r->f);
	pthread_mutex_destroy(&r->m.vm.stop_lock);
	if (r->disk[0])
		unlink(r->disk);
	free(r);
}

/* A counter the I/O thread updates under the device lock. */
static uint64_t locked_u64(struct rig *r, const uint64_t *p)
{
	uint64_t v;

	pthread_mutex_lock(&r->vp->vdev.lock);
	v = *p;
	pthread_mutex_unlock(&r->vp->vdev.lock);
	return v;
}

static uint64_t msix_sent(struct rig *r)
{
	uint64_t v;

	pthread_mutex_lock(&r->vp->msix.lock);
	v = r->vp->msix.raised + r->vp->msix.held;
	pthread_mutex_unlock(&r->vp->msix.lock);
	return v;
}

static uint64_t rd(struct rig *r, unsigned off, unsigned len)
{
	uint64_t v = 0;

	assert_true(bus_dispatch(&r->m.vm.mmio, r->bar + off, (uint8_t *)&v, len, false) >= 0);
	return v;
}

static void wr(struct rig *r, unsigned off, uint64_t v, unsigned len)
{
	assert_true(bus_dispatch(&r->m.vm.mmio, r->bar + off, (uint8_t *)&v, len, true) >= 0);
}

static uint32_t cfg_rd(struct rig *r, unsigned reg, unsigned len)
{
	uint32_t a = 0x80000000u | 1u << 11 | (reg & 0xfc), v = 0;

	bus_dispatch(&r->m.vm.pio, 0xcf8, (uint8_t *)&a, 4, true);
	bus_dispatch(&r->m.vm.pio, 0xcfc + (reg & 3), (uint8_t *)&v, len, false);
	return v;
}

static void cfg_wr(struct rig *r, unsigned reg, uint32_t v, unsigned len)
{
	uint32_t a = 0x80000000u | 1u << 11 | (reg & 0xfc);

	bus_dispatch(&r->m.vm.pio, 0xcf8, (uint8_t *)&a, 4, true);
	bus_dispatch(&r->m.vm.pio, 0xcfc + (reg & 3), (uint8_t *)&v, len, true);
}

/* COMMAND as a driver sets it: memory decoding and bus mastering on. */
static void enable_device(struct rig *r)
{
	cfg_wr(r, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
}

/* Feature negotiation as a driver does it; returns the status read back. */
static uint8_t negotiate(struct rig *r, uint64_t features)
{
	wr(r, 0x14, 0, 1);
	wr(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	wr(r, 0x08, 0, 4);
	wr(r, 0x0c, (uint32_t)features, 4);
	wr(r, 0x08, 1, 4);
	wr(r, 0x0c, (uint32_t)(features >> 32), 4);
	wr(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK,
	   1);
	return (uint8_t)rd(r, 0x14, 1);
}

static uint64_t offered(struct rig *r)
{
	wr(r, 0x00, 0, 4);
	uint64_t lo = rd(r, 0x04, 4);
	wr(r, 0x00, 1, 4);
	return lo | rd(r, 0x04, 4) << 32;
}

static void setup_queue(struct rig *r, uint64_t desc)
{
	wr(r, 0x16, 0, 2);
	wr(r, 0x18, QSIZE, 2);
	wr(r, 0x1a, 1, 2); /* vector 1 */
	wr(r, 0x20, desc, 4);
	wr(r, 0x24, desc >> 32, 4);
	wr(r, 0x28, AVAIL, 4);
	wr(r, 0x2c, 0, 4);
	wr(r, 0x30, USED, 4);
	wr(r, 0x34, 0, 4);
	wr(r, 0x1c, 1, 2);
}

/* The device publishes used->idx with a release store: read it so. */
static uint16_t used_idx(struct rig *r)
{
	return __atomic_load_n((uint16_t *)fake_at(&r->f, USED + 2, 2), __ATOMIC_ACQUIRE);
}

static void test_registers(void **state)
{
	struct rig *r = rig_new();
	uint64_t f = offered(r);

	(void)state;
	assert_true(f & (1ull << VIRTIO_F_VERSION_1));
	assert_true(f & (1ull << VIRTIO_F_RING_EVENT_IDX));
	assert_true(f & (1ull << VIRTIO_F_INDIRECT_DESC));
	assert_int_equal(rd(r, 0x12, 2), 1);   /* num_queues */
	assert_int_equal(rd(r, 0x18, 2), 256); /* queue_size = max */
	assert_int_equal(rd(r, 0x1e, 2), 0);   /* notify_off of queue 0 */
	wr(r, 0x16, 5, 2);		       /* no queue 5 */
	assert_int_equal(rd(r, 0x18, 2), 0);
	wr(r, 0x16, 0, 2);
	wr(r, 0x18, 100, 2); /* not a power of two: ignored */
	assert_int_equal(rd(r, 0x18, 2), 256);
	wr(r, 0x18, 512, 2); /* larger than offered: ignored */
	assert_int_equal(rd(r, 0x18, 2), 256);
	wr(r, 0x1a, 7, 2); /* past the MSI-X table (2 vectors) */
	assert_int_equal(rd(r, 0x1a, 2), MSIX_NO_VECTOR);
	rig_free(r);
}

static void test_features_ok_checked(void **state)
{
	struct rig *r = rig_new();

	(void)state;
	/* Without VERSION_1: FEATURES_OK does not stick. */
	assert_false(negotiate(r, 0) & VIRTIO_STATUS_FEATURES_OK);
	/* A bit that was never offered: refused too. */
	assert_false(negotiate(r, 1ull << VIRTIO_F_VERSION_1 | 1ull << 40) &
		     VIRTIO_STATUS_FEATURES_OK);
	assert_true(negotiate(r, 1ull << VIRTIO_F_VERSION_1) & VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(r->vp->vdev.driver_features, 1ull << VIRTIO_F_VERSION_1);
	/* Reset clears status and features. */
	wr(r, 0x14, 0, 1);
	assert_int_equal(rd(r, 0x14, 1), 0);
	assert_int_equal(r->vp->vdev.driver_features, 0);
	rig_free(r);
}

static void test_bad_ring_needs_reset(void **state)
{
	struct rig *r = rig_new();

	(void)state;
	assert_true(negotiate(r, 1ull << VIRTIO_F_VERSION_1) & VIRTIO_STATUS_FEATURES_OK);
	setup_queue(r, RAM - 8); /* descriptor table runs past guest RAM */
	wr(r, 0x14, 0x0f, 1);
	assert_true(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
	rig_free(r);
}

static bool wait_used(struct rig *r, uint16_t want)
{
	for (int i = 0; i < 2000; i++) {
		if (used_idx(r) == want) {
			/*
			 * The device wrote the used ring and the buffers under its
			 * lock: taking it orders those writes before our reads in
			 * a way ThreadSanitizer sees (it does not model the fences
			 * queue.c uses against the guest).
			 */
			pthread_mutex_lock(&r->vp->vdev.lock);
			pthread_mutex_unlock(&r->vp->vdev.lock);
			return true;
		}
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	return false;
}

static void test_request_round_trip(void **state)
{
	struct rig *r = rig_new();
	uint8_t *desc = fake_at(&r->f, DESC, 16), *avail = fake_at(&r->f, AVAIL, 8);
	uint8_t *buf = fake_at(&r->f, BUF, 64);
	unsigned nonzero = 0;

	(void)state;
	enable_device(r);
	assert_true(negotiate(r, 1ull << VIRTIO_F_VERSION_1) & VIRTIO_STATUS_FEATURES_OK);
	setup_queue(r, DESC);
	wr(r, 0x14, 0x0f, 1);
	assert_int_equal(rd(r, 0x14, 1), 0x0f);
	/* Queue registers are frozen while the driver runs. */
	wr(r, 0x18, 2, 2);
	assert_int_equal(rd(r, 0x18, 2), QSIZE);
	/* One writable 64-byte buffer. */
	put64(desc, 0, BUF);
	put32(desc, 8, 64);
	put16(desc, 12, VIRTQ_DESC_F_WRITE);
	put16(avail, 4, 0);	      /* ring[0] = head 0 */
	put16(avail, 2, 1);	      /* idx = 1 */
	wr(r, VPCI_NOTIFY_OFF, 0, 2); /* the doorbell */
	assert_true(wait_used(r, 1));
	assert_int_equal(get32(fake_at(&r->f, USED + 8, 4), 0), 64); /* used len */
	for (unsigned i = 0; i < 64; i++)
		nonzero += buf[i] != 0;
	assert_true(nonzero > 32); /* entropy, not zeros */
	pthread_mutex_lock(&r->vp->vdev.lock);
	assert_int_equal(r->vp->vdev.vq[0].stats.notifications, 1);
	assert_int_equal(r->vp->vdev.vq[0].stats.requests, 1);
	assert_int_equal(r->vp->vdev.vq[0].stats.bytes, 64);
	pthread_mutex_unlock(&r->vp->vdev.lock);
	/* MSI-X is not enabled: the interrupt is INTx, and the ISR says why. */
	assert_int_equal(msix_sent(r), 0);
	assert_int_equal(locked_u64(r, &r->vp->intx.raised), 1);
	assert_int_equal(rd(r, VPCI_ISR_OFF, 1), 1);
	assert_int_equal(rd(r, VPCI_ISR_OFF, 1), 0); /* reading cleared it */
	rig_free(r);
}

static void test_isr_and_devcfg_bounds(void **state)
{
	struct rig *r = rig_new();

	(void)state;
	/* rng has no device config: reads stay all ones, writes vanish. */
	assert_int_equal(rd(r, VPCI_DEVCFG_OFF, 4), 0xffffffff);
	assert_int_equal(rd(r, VPCI_ISR_OFF, 1), 0);
	rig_free(r);
}

/* The VIRTIO_PCI_CAP_PCI_CFG window reaches the BAR through config space. */
static void test_pci_cfg_window(void **state)
{
	struct rig *r = rig_new();
	unsigned cap = cfg_rd(r, 0x34, 1), window = 0, types = 0;

	(void)state;
	for (; cap; cap = cfg_rd(r, cap + 1, 1)) {
		if (cfg_rd(r, cap, 1) != 0x09)
			continue;
		types |= 1u << cfg_rd(r, cap + 3, 1);
		if (cfg_rd(r, cap + 3, 1) == 5)
			window = cap;
	}
	assert_int_equal(types, 1u << 1 | 1u << 2 | 1u << 3 | 1u << 5); /* no device cfg for rng */
	assert_int_not_equal(window, 0);
	cfg_wr(r, window + 4, 0, 1);	/* bar 0 */
	cfg_wr(r, window + 8, 0x12, 4); /* num_queues */
	cfg_wr(r, window + 12, 2, 4);
	assert_int_equal(cfg_rd(r, window + 16, 2), 1);
	/* A write through the window: device_feature_select = 1, then read it back. */
	cfg_wr(r, window + 8, 0x00, 4);
	cfg_wr(r, window + 12, 4, 4);
	cfg_wr(r, window + 16, 1, 4);
	assert_int_equal(r->vp->device_feature_select, 1);
	cfg_wr(r, window + 8, 0x04, 4);
	assert_int_equal(cfg_rd(r, window + 16, 4), 1); /* VERSION_1 is bit 32 */
	/* A bad length leaves the data alone. */
	cfg_wr(r, window + 12, 3, 4);
	cfg_wr(r, window + 16, 7, 4);
	assert_int_equal(r->vp->device_feature_select, 1);
	rig_free(r);
}

/* Raise queue 0's interrupt as the device does (lock held). */
static void raise_q0(struct rig *r)
{
	pthread_mutex_lock(&r->vp->vdev.lock);
	r->vp->vdev.raise_irq(&r->vp->vdev, 0);
	pthread_mutex_unlock(&r->vp->vdev.lock);
}

/*
 * INTx: pin A on the IRQ pci_slot_irq() gives slot 1, used while MSI-X is
 * off, silenced by COMMAND.INTX_DISABLE, and never used once MSI-X is on.
 */
static void test_intx(void **state)
{
	struct rig *r = rig_new();
	unsigned cap = cfg_rd(r, 0x34, 1), msix = 0;

	(void)state;
	assert_int_equal(cfg_rd(r, PCI_INTERRUPT_PIN, 1), 1);
	assert_int_equal(cfg_rd(r, PCI_INTERRUPT_LINE, 1), pci_slot_irq(1));
	assert_int_equal(r->vp->intx.irq, 11);
	cfg_wr(r, PCI_INTERRUPT_LINE, 0x42, 1); /* the guest's scratch byte */
	assert_int_equal(cfg_rd(r, PCI_INTERRUPT_LINE, 1), 0x42);
	assert_int_equal(r->vp->intx.irq, 11); /* the wiring does not move */

	raise_q0(r);
	assert_int_equal(r->vp->intx.raised, 1);
	assert_int_equal(rd(r, VPCI_ISR_OFF, 1), 1);

	cfg_wr(r, PCI_COMMAND, cfg_rd(r, PCI_COMMAND, 2) | PCI_COMMAND_INTX_DISABLE, 2);
	assert_true(cfg_rd(r, PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE);
	raise_q0(r);
	assert_int_equal(r->vp->intx.raised, 1);
	assert_int_equal(rd(r, VPCI_ISR_OFF, 1), 1); /* the ISR still says it */
	cfg_wr(r, PCI_COMMAND, cfg_rd(r, PCI_COMMAND, 2) & ~PCI_COMMAND_INTX_DISABLE, 2);

	for (; cap; cap = cfg_rd(r, cap + 1, 1))
		if (cfg_rd(r, cap, 1) == PCI_CAP_ID_MSIX)
			msix = cap;
	assert_int_not_equal(msix, 0);
	cfg_wr(r, msix + 2, cfg_rd(r, msix + 2, 2) | 0x8000, 2); /* MSI-X enable */
	raise_q0(r); /* queue 0 has no vector yet: no interrupt at all */
	assert_int_equal(r->vp->intx.raised + r->vp->msix.held + r->vp->msix.raised, 1);
	wr(r, 0x16, 0, 2);
	wr(r, 0x1a, 1, 2); /* queue 0 -> vector 1 */
	raise_q0(r);
	assert_int_equal(r->vp->intx.raised, 1);
	assert_int_equal(r->vp->msix.held + r->vp->msix.raised, 1);
	rig_free(r);
}

static void put_desc(struct rig *r, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t *d = fake_at(&r->f, DESC + 16ull * i, 16);

	put64(d, 0, addr);
	put32(d, 8, len);
	put16(d, 12, flags);
	put16(d, 14, next);
}

/* Make chain `head` the driver's next available entry, number `n` (from 0). */
static void publish(struct rig *r, unsigned n, uint16_t head)
{
	uint8_t *avail = fake_at(&r->f, AVAIL, 4 + 2 * QSIZE);

	put16(avail, 4 + 2 * (n % QSIZE), head);
	__atomic_store_n((uint16_t *)(avail + 2), (uint16_t)(n + 1), __ATOMIC_RELEASE);
}

/* One writable 64-byte buffer, for virtio-rng, as entry n. */
static void publish_rng(struct rig *r, unsigned n)
{
	put_desc(r, n, BUF + 64ull * n, 64, VIRTQ_DESC_F_WRITE, 0);
	publish(r, n, (uint16_t)n);
}

#define WR_STRIDE 0x2000ull

/* A virtio-blk write of one 4 KiB block of byte 0x40 + n at sector 8n, as entry n. */
static void publish_blk_write(struct rig *r, unsigned n)
{
	uint64_t hdr = BUF + WR_STRIDE * n, status = hdr + 0x100, data = hdr + 0x1000;
	uint8_t *h = fake_at(&r->f, hdr, 16);
	uint16_t d = (uint16_t)(3 * n);

	put32(h, 0, VIRTIO_BLK_T_OUT);
	put32(h, 4, 0);
	put64(h, 8, 8ull * n);
	memset(fake_at(&r->f, data, 4096), 0x40 + (int)n, 4096);
	*fake_at(&r->f, status, 1) = 0xff;
	put_desc(r, d, hdr, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 1));
	put_desc(r, d + 1u, data, 4096, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 2));
	put_desc(r, d + 2u, status, 1, VIRTQ_DESC_F_WRITE, 0);
	publish(r, n, d);
}

static unsigned activations(struct rig *r)
{
	unsigned n;

	pthread_mutex_lock(&r->vp->vdev.lock);
	n = r->activations;
	pthread_mutex_unlock(&r->vp->vdev.lock);
	return n;
}

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000}, NULL);
}

#define N_WRITES 4

/*
 * Issue 8, item 4: status 0x0f, writes in flight on io_uring, then 0x0b and
 * 0x0f again without a reset. That used to start the device a second time:
 * the rings' indices zeroed and the request slots freed under the kernel's
 * feet, the in-flight count underflowing, and the next doorbell replaying
 * the writes. Now clearing DRIVER_OK asks for a reset, and nothing restarts.
 */
static void test_no_second_start_in_flight(void **state)
{
	struct rig *r = rig_new_opts((struct rig_opts){RIG_BLK_URING, false, true});
	struct virtio_blk_stats s;

	(void)state;
	enable_device(r);
	assert_true(negotiate(r, 1ull << VIRTIO_F_VERSION_1) & VIRTIO_STATUS_FEATURES_OK);
	setup_queue(r, DESC);
	wr(r, 0x14, 0x0f, 1);
	assert_int_equal(activations(r), 1);
	for (unsigned i = 0; i < N_WRITES; i++)
		publish_blk_write(r, i);
	/*
	 * The doorbell, handled here as the I/O thread would: the writes go to
	 * io_uring. That thread is not running yet, so no completion is reaped
	 * before the status writes below: they are in flight.
	 */
	pthread_mutex_lock(&r->vp->vdev.lock);
	r->vp->vdev.ops->queue_notify(&r->vp->vdev, 0);
	pthread_mutex_unlock(&r->vp->vdev.lock);
	wr(r, 0x14, 0x0b, 1);
	wr(r, 0x14, 0x0f, 1);
	wr(r, VPCI_NOTIFY_OFF, 0, 2); /* a restarted queue would replay the ring */
	assert_int_equal(iothread_start(&r->m.io[0]), 0);
	assert_true(wait_used(r, N_WRITES));
	sleep_ms(100); /* room for replays, if any */
	assert_int_equal(used_idx(r), N_WRITES);
	assert_int_equal(activations(r), 1);
	pthread_mutex_lock(&r->vp->vdev.lock);
	virtio_blk_get_stats(&r->vp->vdev, &s);
	pthread_mutex_unlock(&r->vp->vdev.lock);
	assert_int_equal(s.writes, N_WRITES);	    /* none replayed */
	assert_int_equal(s.max_inflight, N_WRITES); /* no underflow */
	for (unsigned i = 0; i < N_WRITES; i++)
		assert_int_equal(*fake_at(&r->f, BUF + WR_STRIDE * i + 0x100, 1), VIRTIO_BLK_S_OK);
	/* The device asks for a reset and still says DRIVER_OK: the driver cleared nothing. */
	assert_int_equal(rd(r, 0x14, 1), 0x0f | VIRTIO_STATUS_NEEDS_RESET);
	rig_free(r);
}

/* Clearing a status bit (not by writing 0) asks for a reset; a reset allows a new start. */
static void test_status_bit_cleared(void **state)
{
	struct rig *r = rig_new();

	(void)state;
	enable_device(r);
	assert_true(negotiate(r, 1ull << VIRTIO_F_VERSION_1) & VIRTIO_STATUS_FEATURES_OK);
	wr(r, 0x14, 0x03, 1); /* FEATURES_OK cleared */
	assert_int_equal(rd(r, 0x14, 1), 0x0b | VIRTIO_STATUS_NEEDS_RESET);
	setup_queue(r, DESC);
	wr(r, 0x14, 0x0f, 1); /* no start while a reset is wanted */
	assert_int_equal(activations(r), 0);
	assert_true(negotiate(r, 1ull << VIRTIO_F_VERSION_1) & VIRTIO_STATUS_FEATURES_OK);
	assert_false(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
	setup_queue(r, DESC);
	wr(r, 0x14, 0x0f, 1);
	assert_int_equal(activations(r), 1);
	wr(r, 0x14, 0x4f, 1); /* NEEDS_RESET is the device's bit: the driver cannot set it */
	assert_int_equal(rd(r, 0x14, 1), 0x0f);
	rig_free(r);
}

/*
 * DRIVER_OK without FEATURES_OK: the features were never checked. It used to
 * start the device with them anyway, here with EVENT_IDX that
 * --no-event-idx did not offer. Now: no start, DEVICE_NEEDS_RESET.
 */
static void test_driver_ok_without_features_ok(void **state)
{
	struct rig *r = rig_new_opts((struct rig_opts){RIG_RNG, true, false});
	uint64_t f = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_RING_EVENT_IDX;

	(void)state;
	assert_false(offered(r) & (1ull << VIRTIO_F_RING_EVENT_IDX));
	enable_device(r);
	wr(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	wr(r, 0x08, 0, 4);
	wr(r, 0x0c, (uint32_t)f, 4);
	wr(r, 0x08, 1, 4);
	wr(r, 0x0c, (uint32_t)(f >> 32), 4);
	setup_queue(r, DESC);
	wr(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK, 1);
	assert_int_equal(activations(r), 0);
	assert_true(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
	pthread_mutex_lock(&r->vp->vdev.lock);
	assert_false(r->vp->vdev.vq[0].event_idx);
	pthread_mutex_unlock(&r->vp->vdev.lock);
	publish_rng(r, 0);
	wr(r, VPCI_NOTIFY_OFF, 0, 2);
	sleep_ms(20);
	assert_int_equal(used_idx(r), 0); /* the queue does not run */
	rig_free(r);
}

/*
 * COMMAND.MEMORY clear: the BAR is not decoded (reads all ones, writes
 * lost, doorbells too); the PCI_CFG window, a config access, still works.
 */
static void test_memory_space_enable(void **state)
{
	struct rig *r = rig_new();

	(void)state;
	cfg_wr(r, PCI_COMMAND, PCI_COMMAND_MASTER, 2);
	assert_int_equal(rd(r, 0x12, 2), 0xffff);
	assert_int_equal(rd(r, VPCI_MSIX_TABLE_OFF + 8, 4), 0xffffffff);
	wr(r, 0x00, 1, 4); /* device_feature_select: lost */
	wr(r, VPCI_MSIX_TABLE_OFF + 8, 0x55, 4);
	enable_device(r);
	assert_int_equal(rd(r, 0x00, 4), 0);
	assert_int_equal(rd(r, VPCI_MSIX_TABLE_OFF + 8, 4), 0);
	assert_int_equal(rd(r, 0x12, 2), 1);

	/* A running queue's doorbell is lost too while decoding is off. */
	assert_true(negotiate(r, 1ull << VIRTIO_F_VERSION_1) & VIRTIO_STATUS_FEATURES_OK);
	setup_queue(r, DESC);
	wr(r, 0x14, 0x0f, 1);
	publish_rng(r, 0);
	cfg_wr(r, PCI_COMMAND, PCI_COMMAND_MASTER, 2);
	wr(r, VPCI_NOTIFY_OFF, 0, 2);
	sleep_ms(20);
	assert_int_equal(used_idx(r), 0);
	assert_int_equal(locked_u64(r, &r->vp->vdev.vq[0].stats.notifications), 0);
	enable_device(r);
	wr(r, VPCI_NOTIFY_OFF, 0, 2);
	assert_true(wait_used(r, 1));

	/* A new BAR base is refused: config space names the one decoded. */
	cfg_wr(r, PCI_BAR0, 0xd0000000, 4);
	assert_int_equal(cfg_rd(r, PCI_BAR0, 4) & ~0xfu, (uint32_t)r->bar);
	assert_int_equal(rd(r, 0x12, 2), 1);
	rig_free(r);
}

/*
 * COMMAND.MASTER clear: no DMA, so a doorbell is counted but no chain is
 * taken; setting it makes the device look at its queues. INTx, not a
 * memory write, is not held.
 */
static void test_bus_master_enable(void **state)
{
	struct rig *r = rig_new();

	(void)state;
	cfg_wr(r, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_true(negotiate(r, 1ull << VIRTIO_F_VERSION_1) & VIRTIO_STATUS_FEATURES_OK);
	setup_queue(r, DESC);
	wr(r, 0x14, 0x0f, 1);
	publish_rng(r, 0);
	wr(r, VPCI_NOTIFY_OFF, 0, 2);
	sleep_ms(20);
	assert_int_equal(locked_u64(r, &r->vp->vdev.vq[0].stats.notifications), 1);
	assert_int_equal(used_idx(r), 0);
	assert_int_equal(locked_u64(r, &r->vp->intx.raised), 0);
	enable_device(r); /* no doorbell: setting bus mastering is enough */
	assert_true(wait_used(r, 1));
	assert_int_equal(locked_u64(r, &r->vp->vdev.vq[0].stats.requests), 1);
	for (int i = 0; i < 200 && locked_u64(r, &r->vp->intx.raised) == 0; i++)
		sleep_ms(1);
	assert_int_equal(locked_u64(r, &r->vp->intx.raised), 1);
	rig_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registers),
	    cmocka_unit_test(test_features_ok_checked),
	    cmocka_unit_test(test_bad_ring_needs_reset),
	    cmocka_unit_test(test_request_round_trip),
	    cmocka_unit_test(test_isr_and_devcfg_bounds),
	    cmocka_unit_test(test_pci_cfg_window),
	    cmocka_unit_test(test_intx),
	    cmocka_unit_test(test_no_second_start_in_flight),
	    cmocka_unit_test(test_status_bit_cleared),
	    cmocka_unit_test(test_driver_ok_without_features_ok),
	    cmocka_unit_test(test_memory_space_enable),
	    cmocka_unit_test(test_bus_master_enable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
