/* SPDX-License-Identifier: MIT */
/*
 * virtio_pci.h -- the modern virtio-pci transport (virtio 1.2, 4.1).
 *
 * One 64-bit memory BAR holds every structure:
 *   0x0000 common configuration      0x3000 notify (one doorbell per queue)
 *   0x1000 ISR status                0x4000 MSI-X table, 0x5000 MSI-X PBA
 *   0x2000 device configuration
 * Each queue's doorbell is an ioeventfd (any write length), so a kick wakes
 * the device's I/O thread without leaving KVM; with --no-ioeventfd the
 * doorbell is an ordinary MMIO exit that signals the same eventfd. Interrupts
 * go out through MSI-X irqfds: one vector per queue plus the config vector.
 *
 * PCI COMMAND is honoured. Memory Space Enable clear: the BAR is not decoded
 * (reads all ones, writes dropped, doorbell ioeventfds deassigned from KVM);
 * the PCI_CFG window, a config-space access, still works. Bus Master Enable
 * clear: no DMA, so no chains are taken (doorbells are counted, and every
 * queue is looked at again once it is set) and MSI-X messages are held in
 * the PBA (msix.h); INTx, a wire and not a memory write, still goes out.
 * Requests already handed to a backend still complete.
 */
#ifndef VIREO_VIRTIO_PCI_H
#define VIREO_VIRTIO_PCI_H

#include "vireo/core/bus.h"
#include "vireo/pci/intx.h"
#include "vireo/pci/msix.h"
#include "vireo/pci/pci.h"
#include "vireo/virtio/virtio.h"

#define VPCI_BAR_SIZE	       0x8000
#define VPCI_COMMON_OFF	       0x0000
#define VPCI_ISR_OFF	       0x1000
#define VPCI_DEVCFG_OFF	       0x2000
#define VPCI_NOTIFY_OFF	       0x3000
#define VPCI_MSIX_TABLE_OFF    0x4000
#define VPCI_MSIX_PBA_OFF      0x5000
#define VPCI_NOTIFY_MULTIPLIER 4

struct virtio_pci_queue {
	uint16_t size;
	uint16_t msix_vector;
	uint16_t enable;
	uint64_t desc, driver, device;
	int kick_fd; /* eventfd: doorbell (ioeventfd or written by the MMIO handler) */
};

struct virtio_pci;

/* What an I/O-thread watch on a queue's kick eventfd points at. */
struct virtio_pci_kick {
	struct virtio_pci *vp;
	unsigned q;
};

struct virtio_pci {
	struct virtio_dev vdev;
	struct pci_device pci;
	struct msix msix;
	struct pci_intx intx; /* used while the driver has MSI-X off */
	char name[32];	      /* e.g. "virtio-blk0" */
	char region_name[3][48];
	uint64_t bar;
	bool ioeventfd;
	bool event_idx; /* offer VIRTIO_F_RING_EVENT_IDX */
	int vm_fd;
	struct virtio_pci_kick kick[VIRTIO_MAX_QUEUES];

	/* Common configuration registers (under vdev.lock). */
	uint32_t device_feature_select, driver_feature_select;
	uint16_t msix_config, queue_select;
	uint8_t config_generation;
	uint8_t isr;
	struct virtio_pci_queue q[VIRTIO_MAX_QUEUES];
	bool activated;	   /* DRIVER_OK was acted on since the last reset: once only */
	int notify_region; /* index on the MMIO bus, for the stats */
	unsigned cfg_cap;  /* offset of the VIRTIO_PCI_CAP_PCI_CFG window */

	/* PCI COMMAND as the device last acted on it (under the bus lock). */
	bool ioeventfds_on;	/* doorbells assigned in KVM: memory decoding is on */
	uint32_t ioeventfd_len; /* the length KVM took them with (0: any) */
};

struct gmem;
struct irq_routing;

/* What the transport needs of the machine it is put in, and nothing more. */
struct virtio_pci_host {
	int vm_fd;		 /* ioeventfds, irqfds, MSI routes; -1 without KVM (tests) */
	struct gmem *mem;	 /* where the rings and buffers are */
	struct bus *mmio;	 /* the BAR's regions */
	struct pci_bus *pci;	 /* the function's slot and BAR */
	struct irq_routing *irq; /* the MSI-X vectors' routes */
	bool ioeventfd;		 /* doorbells as ioeventfds (if vm_fd allows) */
	bool event_idx;		 /* offer VIRTIO_F_RING_EVENT_IDX */
};

/*
 * Put a virtio device on the PCI bus: config header, capabilities, BAR
 * regions on the MMIO bus, MSI-X, one kick eventfd per queue (an ioeventfd
 * when host->ioeventfd), watched by `io`. vdev->ops and vdev->priv must be
 * set. 0, or -1 with a message.
 */
int virtio_pci_init(struct virtio_pci *vp, const struct virtio_pci_host *host, struct iothread *io,
		    const char *name);
void virtio_pci_destroy(struct virtio_pci *vp);

#endif
