/* SPDX-License-Identifier: MIT */
/*
 * virtio_pci.c -- the modern virtio-pci transport (see virtio_pci.h).
 *
 * Register accesses come from vCPU threads and take all the device's locks;
 * a queue's work runs on its I/O thread under its group's lock (or all of
 * them: see struct virtio_dev), so the ISR, the status's NEEDS_RESET bit and
 * the config generation, which queue work may change, are atomic. Everything
 * the driver writes is checked here, before a device sees it: feature bits it
 * was not offered, queue sizes that are not powers of two, vectors past the
 * MSI-X table, rings outside guest RAM.
 */
#include "vireo/virtio/virtio_pci.h"
#include "vireo/core/iothread.h"
#include "vireo/lib/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* virtio_pci_cap cfg_type values (virtio 1.2, 4.1.4). */
enum { CAP_COMMON = 1, CAP_NOTIFY = 2, CAP_ISR = 3, CAP_DEVICE = 4, CAP_PCI_CFG = 5 };

struct virtio_pci_cap {
	uint8_t cap_vndr, cap_next, cap_len, cfg_type;
	uint8_t bar, id, padding[2];
	uint32_t offset, length;
} __attribute__((packed));

struct virtio_pci_notify_cap {
	struct virtio_pci_cap cap;
	uint32_t notify_off_multiplier;
} __attribute__((packed));

/* A window into the BAR through config space (virtio 1.2, 4.1.4.9). */
struct virtio_pci_cfg_cap {
	struct virtio_pci_cap cap; /* bar, offset, length: chosen by the driver */
	uint8_t pci_cfg_data[4];
} __attribute__((packed));

/* Common configuration layout (virtio 1.2, 4.1.4.3). */
enum {
	CC_DFSELECT = 0x00,
	CC_DF = 0x04,
	CC_GFSELECT = 0x08,
	CC_GF = 0x0c,
	CC_MSIX_CONFIG = 0x10,
	CC_NUM_QUEUES = 0x12,
	CC_STATUS = 0x14,
	CC_CFG_GENERATION = 0x15,
	CC_Q_SELECT = 0x16,
	CC_Q_SIZE = 0x18,
	CC_Q_MSIX_VECTOR = 0x1a,
	CC_Q_ENABLE = 0x1c,
	CC_Q_NOTIFY_OFF = 0x1e,
	CC_Q_DESC = 0x20,
	CC_Q_DRIVER = 0x28,
	CC_Q_DEVICE = 0x30,
	CC_SIZE = 0x38,
};

static uint64_t offered_features(const struct virtio_pci *vp)
{
	uint64_t f =
	    vp->vdev.ops->features | 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_INDIRECT_DESC;

	if (vp->event_idx)
		f |= 1ull << VIRTIO_F_RING_EVENT_IDX;
	return f;
}

static uint32_t class_of(uint16_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_BLOCK:
		return 0x018000; /* mass storage, other */
	case VIRTIO_ID_CONSOLE:
		return 0x078000; /* communication, other */
	default:
		return 0xff0000; /* unclassified */
	}
}

/* --- reset and start ---------------------------------------------------- */

static void queue_defaults(struct virtio_pci *vp)
{
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		struct virtio_pci_queue *q = &vp->q[i];

		q->size = vp->vdev.ops->queue_max_size;
		q->msix_vector = MSIX_NO_VECTOR;
		q->enable = 0;
		q->desc = q->driver = q->device = 0;
		/* The ring state goes, the counters stay: they cover the VM's life. */
		struct virtq_stats keep = vp->vdev.vq[i].stats;

		memset(&vp->vdev.vq[i], 0, sizeof(vp->vdev.vq[i]));
		vp->vdev.vq[i].stats = keep;
	}
}

/* With all locks held. */
static void device_reset(struct virtio_pci *vp)
{
	struct virtio_dev *vdev = &vp->vdev;

	if (vdev->ops->reset)
		vdev->ops->reset(vdev);
	__atomic_store_n(&vdev->status, 0, __ATOMIC_RELEASE);
	vdev->driver_features = 0;
	vp->device_feature_select = vp->driver_feature_select = 0;
	vp->msix_config = MSIX_NO_VECTOR;
	vp->queue_select = 0;
	__atomic_store_n(&vp->isr, 0, __ATOMIC_RELEASE);
	vp->activated = false;
	queue_defaults(vp);
}

/*
 * Interrupt the driver (from any queue's thread): the ISR bit for an INTx
 * driver to read, set before the line goes up, and the MSI-X vector, or
 * INTx while the driver has MSI-X off.
 */
static void signal_driver(struct virtio_pci *vp, uint8_t isr_bit, uint16_t vector)
{
	__atomic_fetch_or(&vp->isr, isr_bit, __ATOMIC_SEQ_CST);
	if (msix_enabled(&vp->msix))
		msix_notify(&vp->msix, vector);
	else
		intx_raise(&vp->intx);
}

static void set_needs_reset(struct virtio_dev *vdev)
{
	struct virtio_pci *vp = vdev->transport;

	/* Atomic: two groups' threads may find their rings broken at once. */
	__atomic_fetch_or(&vdev->status, VIRTIO_STATUS_NEEDS_RESET, __ATOMIC_ACQ_REL);
	signal_driver(vp, 2 /* configuration change */, vp->msix_config);
}

static void config_changed(struct virtio_dev *vdev)
{
	struct virtio_pci *vp = vdev->transport;

	/* A driver reading several fields retries. Under the device lock (a
	 * group's thread takes it to change the config): config reads wait. */
	__atomic_add_fetch(&vp->config_generation, 1, __ATOMIC_RELEASE);
	signal_driver(vp, 2 /* configuration change */, vp->msix_config);
}

static void raise_irq(struct virtio_dev *vdev, unsigned q)
{
	struct virtio_pci *vp = vdev->transport;

	signal_driver(vp, 1 /* used buffers */, vp->q[q].msix_vector);
}

/* DRIVER_OK: check and adopt every enabled queue, then start the device. */
static void driver_ok(struct virtio_pci *vp)
{
	struct virtio_dev *vdev = &vp->vdev;
	bool event_idx = virtio_has_feature(vdev, VIRTIO_F_RING_EVENT_IDX);
	bool indirect = virtio_has_feature(vdev, VIRTIO_F_INDIRECT_DESC);

	for (unsigned i = 0; i < vdev->ops->num_queues; i++) {
		struct virtio_pci_queue *q = &vp->q[i];

		if (!q->enable)
			continue;
		if (!virtq_init(&vdev->vq[i], vdev->mem, q->size, gpa(q->desc), gpa(q->driver),
				gpa(q->device), event_idx, indirect)) {
			set_needs_reset(vdev);
			return;
		}
	}
	if (vdev->ops->activate && vdev->ops->activate(vdev) < 0)
		set_needs_reset(vdev);
}

/*
 * The driver set DRIVER_OK: start the device, at most once per reset. A
 * second start would re-initialise the rings and the device under requests
 * still in flight (their slots freed and reused, their chains replayed).
 * Without FEATURES_OK the features were never validated (nothing says the
 * driver even read them): a modern driver sets FEATURES_OK before DRIVER_OK
 * (virtio 1.2, 3.1.1) and vireo has no legacy interface, so this is a driver
 * error, and a device in error asks for a reset (2.1.2) instead of running on
 * unchecked features (e.g. EVENT_IDX that --no-event-idx did not offer).
 */
static void start(struct virtio_pci *vp)
{
	struct virtio_dev *vdev = &vp->vdev;

	vp->activated = true;
	if (vdev->status & VIRTIO_STATUS_NEEDS_RESET)
		return; /* only a reset gets it going again */
	if (!(vdev->status & VIRTIO_STATUS_FEATURES_OK)) {
		set_needs_reset(vdev);
		return;
	}
	driver_ok(vp);
}

static void write_status(struct virtio_pci *vp, uint8_t v)
{
	struct virtio_dev *vdev = &vp->vdev;
	uint8_t old = vdev->status & (uint8_t)~VIRTIO_STATUS_NEEDS_RESET;

	if (v == 0) {
		device_reset(vp);
		return;
	}
	v &= (uint8_t)~VIRTIO_STATUS_NEEDS_RESET; /* the device's bit, not the driver's */
	/*
	 * "The driver MUST NOT clear a device status bit" (virtio 1.2, 2.1.2),
	 * except by writing 0. One that does has lost track of the device: keep
	 * the status (the device keeps running as it was) and ask for a reset.
	 */
	if (old & ~v) {
		set_needs_reset(vdev);
		return;
	}
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		/* Only what was offered, and only the modern interface. */
		if ((vdev->driver_features & ~offered_features(vp)) ||
		    !virtio_has_feature(vdev, VIRTIO_F_VERSION_1))
			v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	}
	__atomic_store_n(&vdev->status, v | (vdev->status & VIRTIO_STATUS_NEEDS_RESET),
			 __ATOMIC_RELEASE);
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !vp->activated)
		start(vp);
}

/* --- common configuration ---------------------------------------------- */

static struct virtio_pci_queue *selected_queue(struct virtio_pci *vp)
{
	return vp->queue_select < vp->vdev.ops->num_queues ? &vp->q[vp->queue_select] : NULL;
}

static uint64_t common_read(struct virtio_pci *vp, unsigned off)
{
	struct virtio_dev *vdev = &vp->vdev;
	struct virtio_pci_queue *q = selected_queue(vp);

	switch (off) {
	case CC_DFSELECT:
		return vp->device_feature_select;
	case CC_DF:
		return vp->device_feature_select < 2
			   ? (uint32_t)(offered_features(vp) >> (32 * vp->device_feature_select))
			   : 0;
	case CC_GFSELECT:
		return vp->driver_feature_select;
	case CC_GF:
		return vp->driver_feature_select < 2
			   ? (uint32_t)(vdev->driver_features >> (32 * vp->driver_feature_select))
			   : 0;
	case CC_MSIX_CONFIG:
		return vp->msix_config;
	case CC_NUM_QUEUES:
		return vdev->ops->num_queues;
	case CC_STATUS:
		return vdev->status;
	case CC_CFG_GENERATION:
		return __atomic_load_n(&vp->config_generation, __ATOMIC_ACQUIRE);
	case CC_Q_SELECT:
		return vp->queue_select;
	case CC_Q_SIZE:
		return q ? q->size : 0;
	case CC_Q_MSIX_VECTOR:
		return q ? q->msix_vector : MSIX_NO_VECTOR;
	case CC_Q_ENABLE:
		return q ? q->enable : 0;
	case CC_Q_NOTIFY_OFF:
		return q ? vp->queue_select : 0;
	case CC_Q_DESC:
		return q ? q->desc : 0;
	case CC_Q_DESC + 4:
		return q ? q->desc >> 32 : 0;
	case CC_Q_DRIVER:
		return q ? q->driver : 0;
	case CC_Q_DRIVER + 4:
		return q ? q->driver >> 32 : 0;
	case CC_Q_DEVICE:
		return q ? q->device : 0;
	case CC_Q_DEVICE + 4:
		return q ? q->device >> 32 : 0;
	default:
		return 0;
	}
}

static void set_half(uint64_t *field, unsigned off, unsigned base, uint64_t v, unsigned len)
{
	if (len == 8 && off == base)
		*field = v;
	else if (off == base)
		*field = (*field & ~0xffffffffull) | (uint32_t)v;
	else
		*field = (*field & 0xffffffffull) | (uint64_t)(uint32_t)v << 32;
}

static uint16_t valid_vector(const struct virtio_pci *vp, uint64_t v)
{
	return v < vp->msix.nr ? (uint16_t)v : MSIX_NO_VECTOR;
}

static void common_write(struct virtio_pci *vp, unsigned off, uint64_t v, unsigned len)
{
	struct virtio_dev *vdev = &vp->vdev;
	struct virtio_pci_queue *q = selected_queue(vp);
	/* Queue registers are frozen once the driver is running (4.1.4.3.2). */
	bool q_writable = q && !(vdev->status & VIRTIO_STATUS_DRIVER_OK) && !q->enable;

	switch (off) {
	case CC_DFSELECT:
		vp->device_feature_select = (uint32_t)v;
		break;
	case CC_GFSELECT:
		vp->driver_feature_select = (uint32_t)v;
		break;
	case CC_GF:
		if (vp->driver_feature_select < 2 && !(vdev->status & VIRTIO_STATUS_FEATURES_OK)) {
			unsigned shift = 32 * vp->driver_feature_select;

			vdev->driver_features =
			    (vdev->driver_features & ~(0xffffffffull << shift)) |
			    (uint64_t)(uint32_t)v << shift;
		}
		break;
	case CC_MSIX_CONFIG:
		vp->msix_config = valid_vector(vp, v);
		break;
	case CC_STATUS:
		write_status(vp, (uint8_t)v);
		break;
	case CC_Q_SELECT:
		vp->queue_select = (uint16_t)v;
		break;
	case CC_Q_SIZE:
		/* A power of two no larger than what the device offers. */
		if (q_writable && v && !(v & (v - 1)) && v <= vdev->ops->queue_max_size)
			q->size = (uint16_t)v;
		break;
	case CC_Q_MSIX_VECTOR:
		if (q)
			q->msix_vector = valid_vector(vp, v);
		break;
	case CC_Q_ENABLE:
		if (q_writable && v == 1)
			q->enable = 1;
		break;
	case CC_Q_DESC:
	case CC_Q_DESC + 4:
		if (q_writable)
			set_half(&q->desc, off, CC_Q_DESC, v, len);
		break;
	case CC_Q_DRIVER:
	case CC_Q_DRIVER + 4:
		if (q_writable)
			set_half(&q->driver, off, CC_Q_DRIVER, v, len);
		break;
	case CC_Q_DEVICE:
	case CC_Q_DEVICE + 4:
		if (q_writable)
			set_half(&q->device, off, CC_Q_DEVICE, v, len);
		break;
	default:
		break; /* read-only or reserved */
	}
}

/* Common, ISR and device configuration: one handler for [0, 0x3000). */
static void config_io(struct virtio_pci *vp, uint64_t offset, uint8_t *data, unsigned len,
		      bool is_write)
{
	struct virtio_dev *vdev = &vp->vdev;
	uint64_t v = 0;

	virtio_lock_all(vdev);
	if (offset < CC_SIZE) {
		if (is_write) {
			memcpy(&v, data, len);
			common_write(vp, (unsigned)offset, v, len);
		} else {
			v = common_read(vp, (unsigned)offset);
			memcpy(data, &v, len);
		}
	} else if (offset == VPCI_ISR_OFF && !is_write) {
		data[0] =
		    __atomic_exchange_n(&vp->isr, 0, __ATOMIC_SEQ_CST); /* reading clears it */
	} else if (offset >= VPCI_DEVCFG_OFF && offset - VPCI_DEVCFG_OFF < vdev->ops->config_size &&
		   len <= vdev->ops->config_size - (offset - VPCI_DEVCFG_OFF)) {
		size_t off = (size_t)(offset - VPCI_DEVCFG_OFF);

		if (!is_write && vdev->ops->config_read)
			vdev->ops->config_read(vdev, off, data, len);
		else if (is_write && vdev->ops->config_write)
			vdev->ops->config_write(vdev, off, data, len);
	}
	virtio_unlock_all(vdev);
}

/* A doorbell that reached userspace (--no-ioeventfd, or an odd access). */
static void notify_io(struct virtio_pci *vp, uint64_t offset, uint8_t *data, unsigned len,
		      bool is_write)
{
	unsigned q = (unsigned)(offset / VPCI_NOTIFY_MULTIPLIER);
	uint64_t one = 1;

	(void)len;
	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	/* Hand it to the I/O thread exactly as KVM would have: the vCPU does no device work. */
	if (q < vp->vdev.ops->num_queues && write(vp->q[q].kick_fd, &one, sizeof(one)) < 0)
		vireo_perror("%s: doorbell", vp->name);
}

/* Any access at `offset` of the BAR, by what lives there. */
static void bar_io(struct virtio_pci *vp, uint64_t offset, uint8_t *data, unsigned len,
		   bool is_write)
{
	if (offset < VPCI_NOTIFY_OFF)
		config_io(vp, offset, data, len, is_write);
	else if (offset < VPCI_MSIX_TABLE_OFF)
		notify_io(vp, offset - VPCI_NOTIFY_OFF, data, len, is_write);
	else if (offset < VPCI_MSIX_PBA_OFF)
		msix_table_io(&vp->msix, offset - VPCI_MSIX_TABLE_OFF, data, len, is_write);
	else
		msix_pba_io(&vp->msix, offset - VPCI_MSIX_PBA_OFF, data, len, is_write);
}

/*
 * The BAR's MMIO handler (each region registers its own base, for the
 * stats): decoded only while COMMAND.MEMORY is set; otherwise the access
 * hits nothing, as on a bus: reads all ones, writes lost.
 */
static void mmio_at(struct virtio_pci *vp, uint64_t base, uint64_t offset, uint8_t *data,
		    unsigned len, bool is_write)
{
	if (pci_command(&vp->pci) & PCI_COMMAND_MEMORY)
		bar_io(vp, base + offset, data, len, is_write);
	else if (!is_write)
		memset(data, 0xff, len);
}

static void mmio_config(void *vp, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	mmio_at(vp, VPCI_COMMON_OFF, offset, data, len, is_write);
}

static void mmio_notify(void *vp, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	mmio_at(vp, VPCI_NOTIFY_OFF, offset, data, len, is_write);
}

static void mmio_msix_table(void *vp, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	mmio_at(vp, VPCI_MSIX_TABLE_OFF, offset, data, len, is_write);
}

static void mmio_msix_pba(void *vp, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	mmio_at(vp, VPCI_MSIX_PBA_OFF, offset, data, len, is_write);
}

/* --- I/O thread side ----------------------------------------------------- */

/* A doorbell (count kicks), or a call back after the queue's budget ran out (0). */
static bool kicked(void *opaque, uint64_t count)
{
	struct virtio_pci_kick *k = opaque;
	struct virtio_dev *vdev = &k->vp->vdev;
	bool more = false;

	virtio_lock_queue(vdev, k->q);
	vdev->vq[k->q].stats.notifications += count;
	/* Started (not merely DRIVER_OK: see start()), sane, and allowed DMA. */
	if (k->vp->activated && !(virtio_status(vdev) & VIRTIO_STATUS_NEEDS_RESET) &&
	    !vdev->dma_off && k->vp->q[k->q].enable && vdev->ops->queue_notify)
		more = vdev->ops->queue_notify(vdev, k->q);
	virtio_unlock_queue(vdev, k->q);
	return more;
}

/*
 * The guest EOI'd our INTx: KVM lowered the line. Still pending (the ISR
 * not read yet, or set again since)? Then raise it again: it is level.
 * No device lock: the ISR is atomic and the line locks itself; a signal
 * racing with this raises the line itself.
 */
static bool intx_eoi(void *opaque, uint64_t count)
{
	struct virtio_pci *vp = opaque;

	(void)count;
	if (__atomic_load_n(&vp->isr, __ATOMIC_SEQ_CST) && !msix_enabled(&vp->msix))
		intx_raise(&vp->intx);
	return false;
}

/* --- set-up ------------------------------------------------------------ */

/*
 * The VIRTIO_PCI_CAP_PCI_CFG window: an access to pci_cfg_data becomes an
 * access of `length` bytes at `offset` of the BAR, through the same handlers
 * as MMIO (but whatever COMMAND.MEMORY says: it is a config access). Returns
 * 1 + the BAR offset to access, or 0 when the window is not touched or not
 * valid (then the data bytes are left alone).
 */
static uint64_t cfg_window(const struct virtio_pci *vp, unsigned off, unsigned len, unsigned *wlen)
{
	const uint8_t *cap = &vp->pci.cfg[vp->cfg_cap];
	unsigned data = vp->cfg_cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);
	uint32_t boff, blen;

	if (!vp->cfg_cap || off + len <= data || off >= data + 4)
		return 0;
	memcpy(&boff, cap + offsetof(struct virtio_pci_cap, offset), 4);
	memcpy(&blen, cap + offsetof(struct virtio_pci_cap, length), 4);
	if (cap[offsetof(struct virtio_pci_cap, bar)] != 0 ||
	    (blen != 1 && blen != 2 && blen != 4) || boff % blen || boff >= VPCI_BAR_SIZE)
		return 0;
	*wlen = blen;
	return 1 + (uint64_t)boff;
}

static int ioeventfd_ioctl(struct virtio_pci *vp, unsigned q, uint32_t len, uint32_t flags)
{
	struct kvm_ioeventfd io = {.addr = vp->bar + VPCI_NOTIFY_OFF + q * VPCI_NOTIFY_MULTIPLIER,
				   .len = len,
				   .fd = vp->q[q].kick_fd,
				   .flags = flags};

	return ioctl(vp->vm_fd, KVM_IOEVENTFD, &io);
}

/* The doorbell of queue q as an ioeventfd: KVM signals kick_fd, no exit. */
static int add_ioeventfd(struct virtio_pci *vp, unsigned q)
{
	if (ioeventfd_ioctl(vp, q, vp->ioeventfd_len, 0) == 0)
		return 0;
	if (q == 0 && ioeventfd_ioctl(vp, q, 2, 0) == 0) {
		vp->ioeventfd_len = 2; /* older KVMs: the 16-bit write drivers use */
		return 0;
	}
	vireo_perror("%s: KVM_IOEVENTFD for queue %u", vp->name, q);
	return -1;
}

/*
 * Memory decoding switched (bus lock held): doorbells are BAR writes, so
 * their ioeventfds go with it; KVM would otherwise take them while the BAR
 * is not decoded. Failing to (re)assign one leaves that doorbell to the MMIO
 * exit path, which works the same.
 */
static void set_ioeventfds(struct virtio_pci *vp, bool on)
{
	if (!vp->ioeventfd || vp->ioeventfds_on == on)
		return;
	vp->ioeventfds_on = on;
	for (unsigned q = 0; q < vp->vdev.ops->num_queues; q++)
		if (ioeventfd_ioctl(vp, q, vp->ioeventfd_len, on ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN))
			vireo_perror("%s: KVM_IOEVENTFD %s for queue %u", vp->name,
				     on ? "assign" : "deassign", q);
}

/*
 * Bus mastering switched (bus lock held). Off: no chains are taken. On
 * again: doorbells that came meanwhile were not acted on, and a device that
 * was polling its ring stopped; so every queue gets a kick, on its I/O
 * thread, as a doorbell would.
 */
static void set_bus_master(struct virtio_pci *vp, bool on)
{
	struct virtio_dev *vdev = &vp->vdev;
	bool was_off, kick;
	uint64_t one = 1;

	virtio_lock_all(vdev);
	was_off = vdev->dma_off;
	vdev->dma_off = !on;
	kick = on && was_off && vp->activated;
	virtio_unlock_all(vdev);
	for (unsigned q = 0; kick && q < vdev->ops->num_queues; q++)
		if (write(vp->q[q].kick_fd, &one, sizeof(one)) < 0)
			vireo_perror("%s: kick after bus mastering", vp->name);
}

static void pci_cfg_written(struct pci_device *pci, unsigned off, unsigned len)
{
	struct virtio_pci *vp = pci->opaque;
	uint16_t cmd = pci_command(pci);
	unsigned wlen;
	uint64_t at = cfg_window(vp, off, len, &wlen);

	if (off < PCI_COMMAND + 2 && off + len > PCI_COMMAND) {
		set_ioeventfds(vp, cmd & PCI_COMMAND_MEMORY);
		set_bus_master(vp, cmd & PCI_COMMAND_MASTER);
	}
	msix_config_written(&vp->msix, off, len);
	if (at)
		bar_io(vp, at - 1,
		       &pci->cfg[vp->cfg_cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data)],
		       wlen, true);
}

static void pci_cfg_read(struct pci_device *pci, unsigned off, unsigned len)
{
	struct virtio_pci *vp = pci->opaque;
	unsigned wlen;
	uint64_t at = cfg_window(vp, off, len, &wlen);

	if (at)
		bar_io(vp, at - 1,
		       &pci->cfg[vp->cfg_cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data)],
		       wlen, false);
}

static void add_virtio_caps(struct virtio_pci *vp)
{
	struct virtio_pci_cap common = {.cap_vndr = PCI_CAP_ID_VNDR,
					.cap_len = sizeof(common),
					.cfg_type = CAP_COMMON,
					.offset = VPCI_COMMON_OFF,
					.length = CC_SIZE};
	struct virtio_pci_cap isr = {.cap_vndr = PCI_CAP_ID_VNDR,
				     .cap_len = sizeof(isr),
				     .cfg_type = CAP_ISR,
				     .offset = VPCI_ISR_OFF,
				     .length = 1};
	struct virtio_pci_cap device = {.cap_vndr = PCI_CAP_ID_VNDR,
					.cap_len = sizeof(device),
					.cfg_type = CAP_DEVICE,
					.offset = VPCI_DEVCFG_OFF,
					.length = (uint32_t)vp->vdev.ops->config_size};
	struct virtio_pci_notify_cap notify = {
	    .cap = {.cap_vndr = PCI_CAP_ID_VNDR,
		    .cap_len = sizeof(notify),
		    .cfg_type = CAP_NOTIFY,
		    .offset = VPCI_NOTIFY_OFF,
		    .length = VIRTIO_MAX_QUEUES * VPCI_NOTIFY_MULTIPLIER},
	    .notify_off_multiplier = VPCI_NOTIFY_MULTIPLIER};

	pci_device_add_cap(&vp->pci, &common, sizeof(common));
	pci_device_add_cap(&vp->pci, &notify, sizeof(notify));
	struct virtio_pci_cfg_cap window = {.cap = {.cap_vndr = PCI_CAP_ID_VNDR,
						    .cap_len = sizeof(window),
						    .cfg_type = CAP_PCI_CFG}};

	pci_device_add_cap(&vp->pci, &isr, sizeof(isr));
	if (vp->vdev.ops->config_size)
		pci_device_add_cap(&vp->pci, &device, sizeof(device));
	vp->cfg_cap = pci_device_add_cap(&vp->pci, &window, sizeof(window));
	/* The driver picks bar, offset and length, and reads/writes the data. */
	memset(&vp->pci.wmask[vp->cfg_cap + offsetof(struct virtio_pci_cap, bar)], 0xff, 1);
	memset(&vp->pci.wmask[vp->cfg_cap + offsetof(struct virtio_pci_cap, offset)], 0xff, 8);
	memset(&vp->pci.wmask[vp->cfg_cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data)],
	       0xff, 4);
}

static int add_regions(struct virtio_pci *vp, struct bus *mmio)
{
	snprintf(vp->region_name[0], sizeof(vp->region_name[0]), "%s", vp->name);
	snprintf(vp->region_name[1], sizeof(vp->region_name[1]), "%s.notify", vp->name);
	snprintf(vp->region_name[2], sizeof(vp->region_name[2]), "%s.msix", vp->name);
	if (bus_register(mmio, vp->bar, VPCI_NOTIFY_OFF, vp->region_name[0], mmio_config, vp) < 0)
		return -1;
	vp->notify_region = bus_register(mmio, vp->bar + VPCI_NOTIFY_OFF, 0x1000,
					 vp->region_name[1], mmio_notify, vp);
	if (vp->notify_region < 0 ||
	    bus_register(mmio, vp->bar + VPCI_MSIX_TABLE_OFF, 0x1000, vp->region_name[2],
			 mmio_msix_table, vp) < 0 ||
	    bus_register(mmio, vp->bar + VPCI_MSIX_PBA_OFF, 0x1000, vp->region_name[2],
			 mmio_msix_pba, vp) < 0)
		return -1;
	return 0;
}

int virtio_pci_init(struct virtio_pci *vp, const struct virtio_pci_host *host, struct iothread *io,
		    const char *name)
{
	struct virtio_dev *vdev = &vp->vdev;
	const struct virtio_device_ops *ops = vdev->ops;
	unsigned nvec = ops->num_queues + 1;
	int slot;

	snprintf(vp->name, sizeof(vp->name), "%s", name);
	vp->vm_fd = host->vm_fd;
	vp->ioeventfd = host->ioeventfd && host->vm_fd >= 0;
	vp->event_idx = host->event_idx;
	vdev->mem = host->mem;
	vdev->io = io;
	vdev->transport = vp;
	vdev->raise_irq = raise_irq;
	vdev->needs_reset = set_needs_reset;
	vdev->config_changed = config_changed;
	vdev->dma_off = true; /* COMMAND starts with bus mastering off: the driver turns it on */
	virtio_locks_init(vdev);
	device_reset(vp);

	pci_device_init(&vp->pci, vp->name, 0x1af4, (uint16_t)(0x1040 + ops->device_id),
			class_of(ops->device_id), 1, 0x1af4, 0x40);
	vp->pci.opaque = vp;
	vp->pci.cfg_write = pci_cfg_written;
	vp->pci.cfg_read = pci_cfg_read;
	vp->bar = pci_device_add_bar64(host->pci, &vp->pci, 0, VPCI_BAR_SIZE);
	if (!vp->bar) {
		vireo_err("%s: no room for its BAR in the MMIO hole", vp->name);
		return -1;
	}
	add_virtio_caps(vp);
	if (msix_init(&vp->msix, &vp->pci, host->irq, host->vm_fd, nvec, 0, VPCI_MSIX_TABLE_OFF,
		      VPCI_MSIX_PBA_OFF) < 0 ||
	    add_regions(vp, host->mmio) < 0)
		return -1;
	slot = pci_bus_add(host->pci, &vp->pci);
	if (slot < 0)
		return -1;
	/* Without INTx (no resampling irqfd) the device still works with MSI-X. */
	if (intx_init(&vp->intx, &vp->pci, host->vm_fd, pci_slot_irq((unsigned)slot)) == 0 &&
	    vp->intx.resamplefd >= 0 && iothread_add(io, vp->intx.resamplefd, intx_eoi, vp) < 0)
		return -1;

	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vp->q[q].kick_fd = -1;
	for (unsigned q = 0; q < ops->num_queues; q++) {
		struct virtio_pci_kick *k = &vp->kick[q];

		*k = (struct virtio_pci_kick){.vp = vp, .q = q};
		vp->q[q].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vp->q[q].kick_fd < 0 || (vp->ioeventfd && add_ioeventfd(vp, q) < 0) ||
		    iothread_add(virtio_queue_io(vdev, q), vp->q[q].kick_fd, kicked, k) < 0)
			return -1;
	}
	vp->ioeventfds_on = vp->ioeventfd; /* decoding is on from the start (pci.h) */
	return 0;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (vp->q[q].kick_fd >= 0)
			close(vp->q[q].kick_fd);
	msix_destroy(&vp->msix);
	intx_destroy(&vp->intx);
	virtio_locks_destroy(&vp->vdev);
}
