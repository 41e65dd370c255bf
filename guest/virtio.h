/* SPDX-License-Identifier: MIT */
/*
 * virtio.h -- the test guest's PCI access and modern virtio-pci driver
 * (virtio 1.2, 4.1), shared by the blk, rng and console workloads.
 *
 * Everything here runs at CPL3: PCI configuration through 0xcf8/0xcfc (IOPL 3),
 * BAR MMIO through the identity map (the 4th GiB is uncached), rings in guest
 * RAM from GUEST_DMA_BASE. The only CPL0 code is the per-vector MSI-X stub in
 * entry.S (count, EOI).
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "guest.h"

#define READ_ONCE(x)	 (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

/* ---- pci.c ------------------------------------------------------------------- */

#define PCI_VENDOR_ID	  0x00
#define PCI_DEVICE_ID	  0x02
#define PCI_COMMAND	  0x04
#define PCI_STATUS	  0x06
#define PCI_HEADER_TYPE	  0x0e
#define PCI_BAR0	  0x10
#define PCI_SUBSYSTEM_ID  0x2e
#define PCI_CAP_PTR	  0x34
#define PCI_CMD_MEM	  0x0002
#define PCI_CMD_MASTER	  0x0004
#define PCI_CMD_INTX_OFF  0x0400
#define PCI_STATUS_CAPS	  0x0010
#define PCI_CAP_ID_MSIX	  0x11
#define PCI_CAP_ID_VENDOR 0x09

/* Where the guest puts BARs it finds unassigned (or above 4 GiB). */
#define PCI_ASSIGN_BASE 0xe0000000ull
#define PCI_ASSIGN_END	0xfec00000ull

struct pci_dev {
	uint8_t bus, dev, fn;
	uint16_t vendor, device;
};

uint8_t pci_read8(const struct pci_dev *p, unsigned off);
uint16_t pci_read16(const struct pci_dev *p, unsigned off);
uint32_t pci_read32(const struct pci_dev *p, unsigned off);
void pci_write16(const struct pci_dev *p, unsigned off, uint16_t v);
void pci_write32(const struct pci_dev *p, unsigned off, uint32_t v);

/*
 * The index-th virtio device of type `type` on bus 0: device ID 0x1040 + type,
 * or a transitional ID 0x1000-0x103f whose subsystem ID is `type`. 0 or -1.
 */
int pci_find_virtio(uint16_t type, unsigned index, struct pci_dev *out);

/*
 * Base address of memory BAR `bar`, assigning it from PCI_ASSIGN_BASE up when
 * it is 0, above 4 GiB (we map only 4 GiB) or `force`. 0 on failure (fail()).
 */
uint64_t pci_bar(const struct pci_dev *p, unsigned bar, bool force);

/* Offset of the next capability with `id` after `after` (0: from the start), or 0. */
uint8_t pci_find_cap(const struct pci_dev *p, uint8_t id, uint8_t after);

/* ---- virtio.c: transport -------------------------------------------------------- */

/* Device types (virtio 1.2, 5). */
#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLK	  2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG	  4

/* Feature bits (virtio 1.2, 6). */
#define VIRTIO_F_INDIRECT_DESC	28
#define VIRTIO_F_RING_EVENT_IDX 29
#define VIRTIO_F_VERSION_1	32
#define FEATURE(bit)		(1ull << (bit))

/* Device status (virtio 1.2, 2.1). */
#define VIRTIO_S_ACKNOWLEDGE 1
#define VIRTIO_S_DRIVER	     2
#define VIRTIO_S_DRIVER_OK   4
#define VIRTIO_S_FEATURES_OK 8
#define VIRTIO_S_NEEDS_RESET 64
#define VIRTIO_S_FAILED	     128

#define VIRTIO_MSI_NO_VECTOR 0xffff

/* Split virtqueue layout (virtio 1.2, 2.7). */
struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
#define VRING_DESC_F_NEXT     1
#define VRING_DESC_F_WRITE    2
#define VRING_DESC_F_INDIRECT 4

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* [size], then used_event */
};
#define VRING_AVAIL_F_NO_INTERRUPT 1

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[]; /* [size], then avail_event */
};
#define VRING_USED_F_NO_NOTIFY 1

/* Linux's vring_need_event(): has the index moved past `event` in (old, new]? */
static inline bool vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

#define VQ_MAX_SIZE	256 /* the guest's cap on a device's queue size */
#define VDEV_MAX_VQS	5   /* virtio-net with two pairs and its controlq */
#define VQ_WAIT_TIMEOUT -1
#define VQ_WAIT_RESET	-2
#define VQ_WAIT_BAD_ID	-3 /* vq_kick_and_take(): the device returned another id */

struct vdev;

struct vq {
	struct vdev *dev;
	uint16_t index;
	uint16_t size; /* what we configured: a power of 2 <= VQ_MAX_SIZE */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t *used_event;  /* &avail->ring[size] */
	uint16_t *avail_event; /* (uint16_t *)&used->ring[size] */
	uint64_t notify_pa;    /* doorbell: write the queue index (16 bits) */
	uint16_t msix_entry;   /* MSI-X table entry, or VIRTIO_MSI_NO_VECTOR */
	uint8_t vector;	       /* its IDT vector (0 without interrupts) */

	/* Driver state. */
	uint16_t free_head, num_free;
	uint16_t avail_idx;  /* our copy of avail->idx (next slot) */
	uint16_t kicked_idx; /* avail->idx at the last kick decision */
	uint16_t last_used;  /* next used slot to read */
	void *token[VQ_MAX_SIZE];
	uint64_t notifies; /* doorbell writes */
};

struct vdev {
	const char *name;
	uint16_t type;
	unsigned index; /* which device of this type */
	bool probed;
	struct pci_dev pci;
	uint64_t common, isr, devcfg, notify_base; /* physical addresses */
	uint32_t notify_mult, notify_len, devcfg_len;
	uint8_t msix_cap;
	uint16_t msix_size;
	uint64_t msix_table;
	uint8_t vec_base; /* IDT vector of MSI-X entry 0 */

	uint64_t want;	   /* device-specific features the workload accepts */
	uint64_t offered;  /* device_feature */
	uint64_t features; /* negotiated */
	unsigned nr_vqs;
	struct vq vq[VDEV_MAX_VQS];
	void *ring_mem[VDEV_MAX_VQS];

	/* Options (command line): irq=0 polls, wait=spin spins instead of halting. */
	bool irq, spin, event_idx;
	uint64_t timeout_tsc;
	uint32_t cfg_irqs_seen;
	uint64_t status_checked; /* TSC of the last device_status read while waiting */
};

/* Common configuration (virtio 1.2, 4.1.4.3). */
#define VIRTIO_PCI_DEVICE_FEATURE_SELECT 0x00
#define VIRTIO_PCI_DEVICE_FEATURE	 0x04
#define VIRTIO_PCI_DRIVER_FEATURE_SELECT 0x08
#define VIRTIO_PCI_DRIVER_FEATURE	 0x0c
#define VIRTIO_PCI_CONFIG_MSIX_VECTOR	 0x10
#define VIRTIO_PCI_NUM_QUEUES		 0x12
#define VIRTIO_PCI_DEVICE_STATUS	 0x14
#define VIRTIO_PCI_CONFIG_GENERATION	 0x15
#define VIRTIO_PCI_QUEUE_SELECT		 0x16
#define VIRTIO_PCI_QUEUE_SIZE		 0x18
#define VIRTIO_PCI_QUEUE_MSIX_VECTOR	 0x1a
#define VIRTIO_PCI_QUEUE_ENABLE		 0x1c
#define VIRTIO_PCI_QUEUE_NOTIFY_OFF	 0x1e
#define VIRTIO_PCI_QUEUE_DESC		 0x20
#define VIRTIO_PCI_QUEUE_DRIVER		 0x28
#define VIRTIO_PCI_QUEUE_DEVICE		 0x30

/* Physical address of a pointer into the identity map. */
static inline uint64_t pa(const volatile void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* Guest RAM for rings (kept for the whole run) and for a workload's buffers. */
void *dma_ring_alloc(size_t len);
void dma_scratch_reset(void);
void *dma_scratch_alloc(size_t len); /* NULL (fail()) when RAM runs out */
/* End of the highest RAM range in the memory map (0 if none). */
uint64_t ram_end(void);

/*
 * Find the device (type, index), map its BARs, set up MSI-X (irq=1) and bring
 * it up: reset, ACKNOWLEDGE, DRIVER, features (VERSION_1 + EVENT_IDX +
 * INDIRECT_DESC if offered + d->want), FEATURES_OK, nr_vqs queues, DRIVER_OK.
 * Set d->name/type/index/want/nr_vqs first. 0 or fail().
 *
 * vdev_setup() stops before DRIVER_OK so the caller can post buffers, then
 * calls vdev_driver_ok(); vdev_open() does both.
 */
int vdev_open(struct vdev *d);
int vdev_setup(struct vdev *d);
void vdev_driver_ok(struct vdev *d);
/* Reset the device (status 0, wait for it) and re-run the set-up. */
int vdev_reinit(struct vdev *d);
/* Reset the device and stop the watchdog: end of a workload. */
void vdev_close(struct vdev *d);

uint8_t vdev_status(struct vdev *d);
/*
 * Device configuration space, with the config_generation retry. Each field is
 * read with its own width (4.1.3.1): 8-bit for u8 (arrays too), 16-bit for
 * u16, 32-bit for u32 and u64.
 */
uint8_t vdev_cfg_read8(struct vdev *d, unsigned off);
uint16_t vdev_cfg_read16(struct vdev *d, unsigned off);
uint32_t vdev_cfg_read32(struct vdev *d, unsigned off);
uint64_t vdev_cfg_read64(struct vdev *d, unsigned off);
static inline bool vdev_has(const struct vdev *d, unsigned bit)
{
	return d->features & FEATURE(bit);
}
/* Interrupts taken on the queues' vectors / the config vector so far. */
uint64_t vdev_queue_irqs(const struct vdev *d);
uint32_t vdev_config_irqs(const struct vdev *d);
/* One line: "NAME: pci 00:04.0 id 1af4:1042 features 0x... queues N size N msix N". */
void vdev_describe(const struct vdev *d);

/* ---- virtio.c: split virtqueue (driver side) ------------------------------------- */

struct vbuf {
	uint64_t addr;
	uint32_t len;
	bool write; /* device-writable */
};

/* Put a chain in the avail ring (not yet visible: vq_kick). Head, or -1 if full. */
int vq_add(struct vq *q, const struct vbuf *b, unsigned n, void *token);
/* Publish the avail index and ring the doorbell if the device wants it. */
void vq_kick(struct vq *q);
/* Publish and ring the doorbell unconditionally (blk-bad). */
void vq_kick_always(struct vq *q);
/* Has the device returned something we have not read? */
bool vq_has_used(const struct vq *q);
/* Take one used element: 1 (token, len), 0 none, -1 the device returned a bad id. */
int vq_get_used(struct vq *q, void **token, uint32_t *len);
/*
 * Wait until the device returns something on q: 0, VQ_WAIT_TIMEOUT (the
 * device's timeout_tsc passed without progress) or VQ_WAIT_RESET (the device
 * set DEVICE_NEEDS_RESET). Halts (or spins) with interrupts enabled when
 * irq=1, polls otherwise.
 */
int vq_wait(struct vq *q, uint64_t timeout_tsc);
/*
 * One synchronous request: kick q, wait, and take the one used element,
 * which must be `token` (the only chain in flight). 0 with its length in
 * *len, or VQ_WAIT_TIMEOUT, VQ_WAIT_RESET, VQ_WAIT_BAD_ID.
 */
int vq_kick_and_take(struct vq *q, void *token, uint64_t timeout_tsc, uint32_t *len);
/* What a VQ_WAIT_* code means, for messages. */
const char *vq_wait_name(int w);
/* Forget every chain and re-link the free list (nothing may be in flight). */
void vq_reset_driver_state(struct vq *q);

#endif
