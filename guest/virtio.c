// SPDX-License-Identifier: MIT
/*
 * virtio.c -- the modern virtio-pci transport (virtio 1.2, 4.1) and the
 * driver side of the split virtqueue (2.7), all at CPL3.
 *
 * Interrupts: one MSI-X table entry per queue plus one for configuration
 * changes (entry 0), each aimed at this CPU's LAPIC with its own IDT vector
 * from VEC_MSI_BASE up; the CPL0 stub only counts and EOIs. A waiting driver
 * halts through SYS_WAIT_IRQ with a 10 ms LAPIC-timer watchdog, so a device
 * that never answers still hits the timeout.
 *
 * Command-line keys read here (every virtio workload):
 *   irq=0         poll the used ring; no MSI-X vectors (NO_VECTOR)
 *   wait=spin     with irq=1, spin on the used ring instead of halting
 *   event_idx=0   do not accept VIRTIO_F_RING_EVENT_IDX
 *   indirect=0    do not accept VIRTIO_F_INDIRECT_DESC
 *   qsize=N       cap queue sizes at N (a power of 2, default VQ_MAX_SIZE)
 *   timeout_ms=N  how long a wait may go without progress (default 10000)
 *   pci_assign=1  assign the device's BARs from PCI_ASSIGN_BASE even if set
 */
#include "virtio.h"

#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG	  3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4

#define MSIX_CTRL_ENABLE   0x8000
#define MSIX_CTRL_MASKALL  0x4000
#define MSIX_ENTRY_SIZE	   16
#define MSI_ADDR_BASE	   0xfee00000u
#define MSIX_VECTOR_MASKED 1

#define LVT_MASKED	 (1u << 16)
#define LVT_PERIODIC	 (1u << 17)
#define TIMER_DIV_16	 0x3
#define WATCHDOG_INITIAL 625000 /* 10 ms at the 1 GHz APIC bus KVM and QEMU model */
#define RESET_TIMEOUT_MS 1000
#define FOUR_GIB	 0x100000000ull
#define RING_ALLOC	 (3 * 4096) /* desc, avail, used: one page each for 256 entries */
#define USED_EVENT_FAR	 0x8000	    /* used_event this far ahead: no interrupts */

/* ---- Guest RAM for the driver --------------------------------------------------- */

static uint64_t ring_next = GUEST_DMA_BASE;
static uint64_t scratch_next = GUEST_DMA_BASE + GUEST_DMA_RING_LEN;

uint64_t ram_end(void)
{
	uint64_t end = 0;

	for (unsigned i = 0; i < boot.nr_mem; i++) {
		const struct mem_range *m = &boot.mem[i];

		if (m->type == 1 && m->addr + m->size > end)
			end = m->addr + m->size;
	}
	return end;
}

static void *dma_take(uint64_t *next, uint64_t limit, size_t len, const char *what)
{
	uint64_t base = (*next + 4095) & ~4095ull;

	if (base + len > limit || (boot.nr_mem && !mem_is_ram(base, len))) {
		fail("virtio: no RAM for %lu bytes of %s at 0x%lx", (uint64_t)len, what, base);
		return NULL;
	}
	*next = base + len;
	memset(phys(base), 0, len);
	return phys(base);
}

void *dma_ring_alloc(size_t len)
{
	return dma_take(&ring_next, GUEST_DMA_BASE + GUEST_DMA_RING_LEN, len, "rings");
}

void dma_scratch_reset(void)
{
	scratch_next = GUEST_DMA_BASE + GUEST_DMA_RING_LEN;
}

void *dma_scratch_alloc(size_t len)
{
	return dma_take(&scratch_next, FOUR_GIB, len, "buffers");
}

/* ---- MMIO helpers ----------------------------------------------------------------- */

static inline uint8_t common_read8(struct vdev *d, unsigned off)
{
	return phys_read8(d->common + off);
}

static inline uint16_t common_read16(struct vdev *d, unsigned off)
{
	return phys_read16(d->common + off);
}

static inline uint32_t common_read32(struct vdev *d, unsigned off)
{
	return phys_read32(d->common + off);
}

static inline void common_write8(struct vdev *d, unsigned off, uint8_t v)
{
	phys_write8(d->common + off, v);
}

static inline void common_write16(struct vdev *d, unsigned off, uint16_t v)
{
	phys_write16(d->common + off, v);
}

static inline void common_write32(struct vdev *d, unsigned off, uint32_t v)
{
	phys_write32(d->common + off, v);
}

/* 64-bit fields as two 32-bit writes, low half first (4.1.3.1). */
static void common_write64(struct vdev *d, unsigned off, uint64_t v)
{
	common_write32(d, off, (uint32_t)v);
	common_write32(d, off + 4, (uint32_t)(v >> 32));
}

uint8_t vdev_status(struct vdev *d)
{
	return common_read8(d, VIRTIO_PCI_DEVICE_STATUS);
}

static void set_status(struct vdev *d, uint8_t bits)
{
	common_write8(d, VIRTIO_PCI_DEVICE_STATUS, vdev_status(d) | bits);
}

uint8_t vdev_cfg_read8(struct vdev *d, unsigned off)
{
	uint8_t gen, v;

	do {
		gen = common_read8(d, VIRTIO_PCI_CONFIG_GENERATION);
		v = phys_read8(d->devcfg + off);
	} while (gen != common_read8(d, VIRTIO_PCI_CONFIG_GENERATION));
	return v;
}

uint16_t vdev_cfg_read16(struct vdev *d, unsigned off)
{
	uint8_t gen;
	uint16_t v;

	do {
		gen = common_read8(d, VIRTIO_PCI_CONFIG_GENERATION);
		v = phys_read16(d->devcfg + off);
	} while (gen != common_read8(d, VIRTIO_PCI_CONFIG_GENERATION));
	return v;
}

uint32_t vdev_cfg_read32(struct vdev *d, unsigned off)
{
	uint8_t gen;
	uint32_t v;

	do {
		gen = common_read8(d, VIRTIO_PCI_CONFIG_GENERATION);
		v = phys_read32(d->devcfg + off);
	} while (gen != common_read8(d, VIRTIO_PCI_CONFIG_GENERATION));
	return v;
}

uint64_t vdev_cfg_read64(struct vdev *d, unsigned off)
{
	uint8_t gen;
	uint64_t v;

	do {
		gen = common_read8(d, VIRTIO_PCI_CONFIG_GENERATION);
		v = phys_read32(d->devcfg + off) | (uint64_t)phys_read32(d->devcfg + off + 4) << 32;
	} while (gen != common_read8(d, VIRTIO_PCI_CONFIG_GENERATION));
	return v;
}

/* ---- Interrupts ---------------------------------------------------------------------- */

static unsigned next_vector = VEC_MSI_BASE;
static bool watchdog_on;

static void watchdog_start(void)
{
	if (watchdog_on)
		return;
	lapic_write(LAPIC_TIMER_DCR, TIMER_DIV_16);
	lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | VEC_TIMER);
	lapic_write(LAPIC_TIMER_ICR, WATCHDOG_INITIAL);
	watchdog_on = true;
}

static void watchdog_stop(void)
{
	if (!watchdog_on)
		return;
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	lapic_write(LAPIC_TIMER_ICR, 0);
	watchdog_on = false;
}

static unsigned vdev_vectors(const struct vdev *d)
{
	unsigned n = d->nr_vqs + 1;

	return d->msix_size < n ? d->msix_size : n;
}

/* MSI-X table entry of queue q (entry 0 is the configuration vector). */
static uint16_t queue_entry(const struct vdev *d, unsigned q)
{
	unsigned n = vdev_vectors(d);

	return (uint16_t)(q + 1 < n ? q + 1 : n - 1);
}

uint64_t vdev_queue_irqs(const struct vdev *d)
{
	uint64_t n = 0;

	if (!d->irq)
		return 0;
	/* Queues may share an entry (a short MSI-X table): count each vector once. */
	for (unsigned e = 1; e < vdev_vectors(d); e++)
		n += msi_counts[d->vec_base + e - VEC_MSI_BASE];
	return n;
}

uint32_t vdev_config_irqs(const struct vdev *d)
{
	return d->msix_size && d->irq ? msi_counts[d->vec_base - VEC_MSI_BASE] : 0;
}

/* Program the MSI-X table: entry j -> this CPU, vector vec_base + j. */
static void msix_setup(struct vdev *d)
{
	uint32_t apic_id = lapic_read(LAPIC_ID) >> 24;
	uint16_t ctrl = pci_read16(&d->pci, d->msix_cap + 2);

	pci_write16(&d->pci, d->msix_cap + 2, ctrl | MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
	for (unsigned j = 0; j < vdev_vectors(d); j++) {
		uint64_t e = d->msix_table + (uint64_t)j * MSIX_ENTRY_SIZE;

		phys_write32(e + 0, MSI_ADDR_BASE | apic_id << 12);
		phys_write32(e + 4, 0);
		phys_write32(e + 8, d->vec_base + j);
		phys_write32(e + 12, 0); /* unmasked */
	}
	pci_write16(&d->pci, d->msix_cap + 2, (ctrl | MSIX_CTRL_ENABLE) & ~MSIX_CTRL_MASKALL);
}

/* ---- Discovery --------------------------------------------------------------------------- */

struct vcap {
	bool found;
	uint8_t bar;
	uint32_t offset, length;
};

static int vdev_probe(struct vdev *d)
{
	struct vcap caps[VIRTIO_PCI_CAP_DEVICE_CFG + 1] = {0};
	uint64_t bars[6] = {0};
	bool force = cmdline_u64("pci_assign", 0) != 0;
	uint8_t notify_cap = 0, cap = 0;
	struct pci_dev *p = &d->pci;

	if (pci_find_virtio(d->type, d->index, p))
		return -1;
	while ((cap = pci_find_cap(p, PCI_CAP_ID_VENDOR, cap)) != 0) {
		uint8_t type = pci_read8(p, cap + 3), bar = pci_read8(p, cap + 4);

		/* The first capability of each type that we can use wins (4.1.4.1). */
		if (type > VIRTIO_PCI_CAP_DEVICE_CFG || caps[type].found || bar > 5)
			continue;
		caps[type] =
		    (struct vcap){true, bar, pci_read32(p, cap + 8), pci_read32(p, cap + 12)};
		if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
			notify_cap = cap;
	}
	for (unsigned t = VIRTIO_PCI_CAP_COMMON_CFG; t <= VIRTIO_PCI_CAP_DEVICE_CFG; t++) {
		static const char *const names[] = {"", "common", "notify", "isr", "device"};

		if (!caps[t].found) {
			/* Only the device-specific area is optional (rng has none). */
			if (t == VIRTIO_PCI_CAP_DEVICE_CFG)
				continue;
			return fail("%s: no VIRTIO_PCI_CAP_%s_CFG capability", d->name, names[t]);
		}
		if (!bars[caps[t].bar] && !(bars[caps[t].bar] = pci_bar(p, caps[t].bar, force)))
			return -1;
	}
	if (caps[VIRTIO_PCI_CAP_COMMON_CFG].length < 0x38)
		return fail("%s: common configuration is only %u bytes", d->name,
			    caps[VIRTIO_PCI_CAP_COMMON_CFG].length);
	d->common = bars[caps[1].bar] + caps[1].offset;
	d->notify_base = bars[caps[2].bar] + caps[2].offset;
	d->notify_len = caps[2].length;
	d->notify_mult = pci_read32(p, notify_cap + 16);
	d->isr = bars[caps[3].bar] + caps[3].offset;
	d->devcfg = caps[4].found ? bars[caps[4].bar] + caps[4].offset : 0;
	d->devcfg_len = caps[4].found ? caps[4].length : 0;

	d->msix_cap = pci_find_cap(p, PCI_CAP_ID_MSIX, 0);
	d->msix_size = 0;
	if (d->msix_cap) {
		uint32_t tbl = pci_read32(p, d->msix_cap + 4);
		unsigned bir = tbl & 7;

		if (bir > 5)
			return fail("%s: MSI-X table in BAR%u", d->name, bir);
		if (!bars[bir] && !(bars[bir] = pci_bar(p, bir, force)))
			return -1;
		d->msix_table = bars[bir] + (tbl & ~7u);
		d->msix_size = (pci_read16(p, d->msix_cap + 2) & 0x7ff) + 1;
	}
	/* Memory space, bus master, no INTx. */
	pci_write16(p, PCI_COMMAND,
		    pci_read16(p, PCI_COMMAND) | PCI_CMD_MEM | PCI_CMD_MASTER | PCI_CMD_INTX_OFF);

	if (!d->vec_base) {
		if (next_vector + d->nr_vqs + 1 > VEC_MSI_BASE + VEC_MSI_COUNT)
			return fail("%s: out of MSI-X vectors", d->name);
		d->vec_base = (uint8_t)next_vector;
		next_vector += d->nr_vqs + 1;
	}
	for (unsigned q = 0; q < d->nr_vqs; q++) {
		if (!d->ring_mem[q] && !(d->ring_mem[q] = dma_ring_alloc(RING_ALLOC)))
			return -1;
	}
	d->probed = true;
	return 0;
}

/* ---- Set-up -------------------------------------------------------------------------------- */

static int reset_device(struct vdev *d)
{
	uint64_t t0 = rdtsc();

	common_write8(d, VIRTIO_PCI_DEVICE_STATUS, 0);
	while (vdev_status(d) != 0) {
		if (rdtsc() - t0 > tsc_khz * RESET_TIMEOUT_MS)
			return fail("%s: device_status stays 0x%x after a reset", d->name,
				    vdev_status(d));
		cpu_relax();
	}
	return 0;
}

static uint64_t read_features(struct vdev *d)
{
	uint64_t f;

	common_write32(d, VIRTIO_PCI_DEVICE_FEATURE_SELECT, 0);
	f = common_read32(d, VIRTIO_PCI_DEVICE_FEATURE);
	common_write32(d, VIRTIO_PCI_DEVICE_FEATURE_SELECT, 1);
	f |= (uint64_t)common_read32(d, VIRTIO_PCI_DEVICE_FEATURE) << 32;
	return f;
}

static void write_features(struct vdev *d, uint64_t f)
{
	common_write32(d, VIRTIO_PCI_DRIVER_FEATURE_SELECT, 0);
	common_write32(d, VIRTIO_PCI_DRIVER_FEATURE, (uint32_t)f);
	common_write32(d, VIRTIO_PCI_DRIVER_FEATURE_SELECT, 1);
	common_write32(d, VIRTIO_PCI_DRIVER_FEATURE, (uint32_t)(f >> 32));
}

void vq_reset_driver_state(struct vq *q)
{
	for (unsigned i = 0; i < q->size; i++) {
		q->desc[i] = (struct vring_desc){0, 0, 0, (uint16_t)(i + 1)};
		q->token[i] = NULL;
	}
	q->free_head = 0;
	q->num_free = q->size;
	q->avail_idx = q->kicked_idx = q->last_used = 0;
	q->avail->flags = 0;
	q->avail->idx = 0;
	q->used->flags = 0;
	q->used->idx = 0;
	*q->avail_event = 0;
	if (q->dev->irq && q->vector) {
		*q->used_event = 0;
	} else {
		/* No interrupts wanted: the flag, or an event index far away. */
		*q->used_event = USED_EVENT_FAR;
		if (!q->dev->event_idx)
			q->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	}
}

static int setup_queue(struct vdev *d, unsigned index, unsigned cap)
{
	struct vq *q = &d->vq[index];
	uint8_t *mem = d->ring_mem[index];
	uint16_t max, size, vec, notify_off;

	common_write16(d, VIRTIO_PCI_QUEUE_SELECT, (uint16_t)index);
	max = common_read16(d, VIRTIO_PCI_QUEUE_SIZE);
	if (max == 0)
		return fail("%s: queue %u is not available (queue_size 0)", d->name, index);
	for (size = VQ_MAX_SIZE; size > max || size > cap; size >>= 1)
		;
	if (size == 0)
		return fail("%s: queue %u: no power-of-2 size <= %u", d->name, index, max);
	if (size != max)
		common_write16(d, VIRTIO_PCI_QUEUE_SIZE, size);

	q->dev = d;
	q->index = (uint16_t)index;
	q->size = size;
	memset(mem, 0, RING_ALLOC);
	q->desc = (struct vring_desc *)mem;
	q->avail = (struct vring_avail *)(mem + 4096);
	q->used = (struct vring_used *)(mem + 8192);
	q->used_event = &q->avail->ring[size];
	q->avail_event = (uint16_t *)&q->used->ring[size];
	common_write64(d, VIRTIO_PCI_QUEUE_DESC, pa(q->desc));
	common_write64(d, VIRTIO_PCI_QUEUE_DRIVER, pa(q->avail));
	common_write64(d, VIRTIO_PCI_QUEUE_DEVICE, pa(q->used));

	if (d->irq) {
		q->msix_entry = queue_entry(d, index);
		q->vector = (uint8_t)(d->vec_base + q->msix_entry);
	} else {
		q->msix_entry = VIRTIO_MSI_NO_VECTOR;
		q->vector = 0;
	}
	common_write16(d, VIRTIO_PCI_QUEUE_MSIX_VECTOR, q->msix_entry);
	vec = common_read16(d, VIRTIO_PCI_QUEUE_MSIX_VECTOR);
	if (vec != q->msix_entry)
		return fail("%s: queue %u: queue_msix_vector reads 0x%x, wrote 0x%x", d->name,
			    index, vec, q->msix_entry);

	notify_off = common_read16(d, VIRTIO_PCI_QUEUE_NOTIFY_OFF);
	if ((uint64_t)notify_off * d->notify_mult + 2 > d->notify_len)
		return fail("%s: queue %u: notify offset %u * %u outside the %u-byte area", d->name,
			    index, notify_off, d->notify_mult, d->notify_len);
	q->notify_pa = d->notify_base + (uint64_t)notify_off * d->notify_mult;
	q->notifies = 0;
	vq_reset_driver_state(q);
	common_write16(d, VIRTIO_PCI_QUEUE_ENABLE, 1);
	return 0;
}

static int vdev_negotiate(struct vdev *d)
{
	unsigned cap = (unsigned)cmdline_u64("qsize", VQ_MAX_SIZE);
	uint64_t want = FEATURE(VIRTIO_F_VERSION_1) | d->want;
	uint16_t nq, vec;

	if (reset_device(d))
		return -1;
	set_status(d, VIRTIO_S_ACKNOWLEDGE);
	set_status(d, VIRTIO_S_DRIVER);
	d->offered = read_features(d);
	if (!(d->offered & FEATURE(VIRTIO_F_VERSION_1))) {
		set_status(d, VIRTIO_S_FAILED);
		return fail("%s: device does not offer VIRTIO_F_VERSION_1 (legacy only)", d->name);
	}
	if (d->event_idx)
		want |= FEATURE(VIRTIO_F_RING_EVENT_IDX);
	if (cmdline_u64("indirect", 1))
		want |= FEATURE(VIRTIO_F_INDIRECT_DESC);
	d->features = d->offered & want;
	d->event_idx = vdev_has(d, VIRTIO_F_RING_EVENT_IDX);
	write_features(d, d->features);
	set_status(d, VIRTIO_S_FEATURES_OK);
	if (!(vdev_status(d) & VIRTIO_S_FEATURES_OK)) {
		set_status(d, VIRTIO_S_FAILED);
		return fail("%s: device refused features 0x%lx (FEATURES_OK not kept)", d->name,
			    d->features);
	}

	vec = d->irq ? 0 : VIRTIO_MSI_NO_VECTOR;
	common_write16(d, VIRTIO_PCI_CONFIG_MSIX_VECTOR, vec);
	if (d->irq && common_read16(d, VIRTIO_PCI_CONFIG_MSIX_VECTOR) != vec)
		return fail("%s: config_msix_vector does not read back 0x%x", d->name, vec);

	nq = common_read16(d, VIRTIO_PCI_NUM_QUEUES);
	if (nq < d->nr_vqs)
		return fail("%s: device has %u queues, need %u", d->name, nq, d->nr_vqs);
	for (unsigned q = 0; q < d->nr_vqs; q++)
		if (setup_queue(d, q, cap))
			return -1;
	return 0;
}

int vdev_setup(struct vdev *d)
{
	uint64_t timeout_ms = cmdline_u64("timeout_ms", 10000);

	if (d->nr_vqs == 0 || d->nr_vqs > VDEV_MAX_VQS)
		return fail("%s: bad queue count %u", d->name, d->nr_vqs);
	if (!d->probed && vdev_probe(d))
		return -1;
	d->irq = cmdline_u64("irq", 1) != 0;
	d->spin = cmdline_is("wait", "spin");
	d->event_idx = cmdline_u64("event_idx", 1) != 0;
	d->timeout_tsc = tsc_khz * timeout_ms;
	if (d->irq && !d->msix_cap) {
		kprintf("%s: no MSI-X capability: polling\n", d->name);
		d->irq = false;
	}
	/* The legacy PIC masked: only the LAPIC may interrupt us (the BIOS left the PIT
	 * on IRQ 0 at vector 8). */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	if (d->irq) {
		if (lapic_enable())
			return -1;
		msix_setup(d);
		if (!d->spin)
			watchdog_start();
	}
	d->cfg_irqs_seen = vdev_config_irqs(d);
	d->status_checked = rdtsc();
	return vdev_negotiate(d);
}

void vdev_driver_ok(struct vdev *d)
{
	set_status(d, VIRTIO_S_DRIVER_OK);
}

int vdev_open(struct vdev *d)
{
	if (vdev_setup(d))
		return -1;
	vdev_driver_ok(d);
	return 0;
}

int vdev_reinit(struct vdev *d)
{
	if (vdev_negotiate(d))
		return -1;
	vdev_driver_ok(d);
	return 0;
}

void vdev_close(struct vdev *d)
{
	if (d->probed)
		reset_device(d);
	watchdog_stop();
}

void vdev_describe(const struct vdev *d)
{
	const struct pci_dev *p = &d->pci;

	kprintf("%s: pci %02x:%02x.%u %04x:%04x common=0x%lx features=0x%lx accepted=0x%lx "
		"queues=%u size=%u msix=%u irq=%s event_idx=%u\n",
		d->name, p->bus, p->dev, p->fn, p->vendor, p->device, d->common, d->offered,
		d->features, d->nr_vqs, d->vq[0].size, d->msix_size,
		d->irq ? (d->spin ? "msix-spin" : "msix-hlt") : "poll", d->event_idx);
}

/* ---- Split virtqueue, driver side ------------------------------------------------------- */

int vq_add(struct vq *q, const struct vbuf *b, unsigned n, void *token)
{
	uint16_t head = q->free_head, i = head;

	if (n == 0 || n > q->num_free || !token)
		return -1;
	for (unsigned k = 0; k < n; k++) {
		struct vring_desc *desc = &q->desc[i];

		desc->addr = b[k].addr;
		desc->len = b[k].len;
		desc->flags = (uint16_t)((b[k].write ? VRING_DESC_F_WRITE : 0) |
					 (k + 1 < n ? VRING_DESC_F_NEXT : 0));
		i = desc->next; /* the free list is linked through next */
	}
	q->free_head = i;
	q->num_free = (uint16_t)(q->num_free - n);
	q->token[head] = token;
	q->avail->ring[q->avail_idx & (q->size - 1)] = head;
	q->avail_idx++;
	return head;
}

static void notify(struct vq *q)
{
	phys_write16(q->notify_pa, q->index);
	q->notifies++;
}

void vq_kick(struct vq *q)
{
	uint16_t old = q->kicked_idx, new_idx = q->avail_idx;
	bool need;

	if (old == new_idx)
		return;
	barrier(); /* descriptors and ring entries before the index (x86: stores in order) */
	WRITE_ONCE(q->avail->idx, new_idx);
	mb(); /* the index store before the avail_event / flags load */
	if (q->dev->event_idx)
		need = vring_need_event(READ_ONCE(*q->avail_event), new_idx, old);
	else
		need = !(READ_ONCE(q->used->flags) & VRING_USED_F_NO_NOTIFY);
	q->kicked_idx = new_idx;
	if (need)
		notify(q);
}

void vq_kick_always(struct vq *q)
{
	barrier();
	WRITE_ONCE(q->avail->idx, q->avail_idx);
	mb();
	q->kicked_idx = q->avail_idx;
	notify(q);
}

bool vq_has_used(const struct vq *q)
{
	return READ_ONCE(q->used->idx) != q->last_used;
}

int vq_get_used(struct vq *q, void **token, uint32_t *len)
{
	uint16_t i, n = 1;
	uint32_t id;

	if (!vq_has_used(q))
		return 0;
	barrier(); /* the element after the index (x86: loads in order) */
	id = READ_ONCE(q->used->ring[q->last_used & (q->size - 1)].id);
	*len = READ_ONCE(q->used->ring[q->last_used & (q->size - 1)].len);
	q->last_used++;
	if (!q->dev->irq || !q->vector)
		WRITE_ONCE(*q->used_event, (uint16_t)(q->last_used + USED_EVENT_FAR));
	if (id >= q->size || !q->token[id])
		return -1;
	*token = q->token[id];
	q->token[id] = NULL;
	/* Back to the free list: walk our own chain (bounded). */
	for (i = (uint16_t)id; (q->desc[i].flags & VRING_DESC_F_NEXT) && n < q->size; n++)
		i = q->desc[i].next;
	q->desc[i].next = q->free_head;
	q->free_head = (uint16_t)id;
	q->num_free = (uint16_t)(q->num_free + n);
	return 1;
}

int vq_wait(struct vq *q, uint64_t timeout_tsc)
{
	struct vdev *d = q->dev;
	bool use_irq = d->irq && q->vector;
	uint64_t start = rdtsc();
	int ret = 0;

	for (;;) {
		uint32_t seen = irq_seq_now(); /* before the check: see sys_wait_irq() */

		if (vq_has_used(q))
			break;
		if (use_irq && d->event_idx) {
			/* Interrupt on the next used entry; then look again (the race). */
			WRITE_ONCE(*q->used_event, q->last_used);
			mb();
			if (vq_has_used(q))
				break;
		}
		uint64_t now = rdtsc();
		uint32_t cfg = vdev_config_irqs(d);

		/* device_status is an MMIO read (an exit): after a config interrupt, or every ms.
		 */
		if (cfg != d->cfg_irqs_seen || now - d->status_checked > tsc_khz) {
			d->cfg_irqs_seen = cfg;
			d->status_checked = now;
			if (vdev_status(d) & VIRTIO_S_NEEDS_RESET) {
				ret = VQ_WAIT_RESET;
				break;
			}
		}
		if (now - start > timeout_tsc) {
			ret = VQ_WAIT_TIMEOUT;
			break;
		}
		if (use_irq && !d->spin)
			sys_wait_irq(seen);
		else
			cpu_relax();
	}
	return ret;
}

int vq_kick_and_take(struct vq *q, void *token, uint64_t timeout_tsc, uint32_t *len)
{
	void *got;
	int w;

	vq_kick(q);
	w = vq_wait(q, timeout_tsc);
	if (w)
		return w;
	if (vq_get_used(q, &got, len) != 1 || got != token)
		return VQ_WAIT_BAD_ID;
	return 0;
}

const char *vq_wait_name(int w)
{
	switch (w) {
	case VQ_WAIT_TIMEOUT:
		return "timeout";
	case VQ_WAIT_RESET:
		return "device needs reset";
	case VQ_WAIT_BAD_ID:
		return "device returned an id we did not submit";
	}
	return "ok";
}
