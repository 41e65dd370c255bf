/* SPDX-License-Identifier: MIT */
/*
 * pci.h -- PCI bus 0: a host bridge, type-1 configuration access
 * (0xcf8/0xcfc), devices with memory BARs in the 32-bit MMIO hole, capability
 * lists, and MSI-X.
 *
 * Addresses and interrupt numbers are handed out here and nowhere else:
 * pci_alloc_mmio() for BARs, irq_alloc_gsi() (irq.h) for MSI routes. BARs are
 * placed by vireo before boot (as firmware would, which also turns memory
 * decoding on) and do not move: a write of any other base is refused, so the
 * BAR reads back the base in use; sizing (writing all ones, which reads back
 * the size mask until the base is written again) works.
 *
 * Locking: configuration space belongs to pci_bus.lock, held by the vCPU
 * doing a config cycle. Other threads (I/O threads raising interrupts, vCPUs
 * in a BAR's MMIO handlers) read the COMMAND register through the snapshot
 * pci_command() returns, published under that lock after every config write:
 * they cannot take the bus lock, because a config write itself takes device
 * locks (the virtio PCI_CFG window), and the I/O thread holds those.
 */
#ifndef VIREO_PCI_H
#define VIREO_PCI_H

#include "vireo/core/bus.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA	   0xcfc
#define PCI_MAX_DEVICES	   32
#define PCI_CFG_SIZE	   256

/* Where BARs go: the MMIO hole below the IOAPIC. */
#define PCI_MMIO_START 0xc0000000ull
#define PCI_MMIO_END   0xfec00000ull

/* Config space offsets. */
#define PCI_VENDOR_ID		0x00
#define PCI_DEVICE_ID		0x02
#define PCI_COMMAND		0x04
#define PCI_STATUS		0x06
#define PCI_REVISION		0x08
#define PCI_CLASS_PROG		0x09
#define PCI_HEADER_TYPE		0x0e
#define PCI_BAR0		0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID	0x2e
#define PCI_CAPABILITY_LIST	0x34
#define PCI_INTERRUPT_LINE	0x3c
#define PCI_INTERRUPT_PIN	0x3d

#define PCI_COMMAND_MEMORY	 0x2
#define PCI_COMMAND_MASTER	 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_CAP_LIST	 0x10
#define PCI_CAP_ID_MSIX		 0x11
#define PCI_CAP_ID_VNDR		 0x09

struct pci_device;

/* Called after the guest wrote config bytes [off, off + len). */
typedef void (*pci_cfg_write_fn)(struct pci_device *d, unsigned off, unsigned len);
/* Called before the guest reads config bytes [off, off + len): refresh them. */
typedef void (*pci_cfg_read_fn)(struct pci_device *d, unsigned off, unsigned len);

struct pci_device {
	const char *name;
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE]; /* bits the guest may write */
	uint64_t bar_size[6];
	uint64_t bar_base[6]; /* where vireo placed the BAR: the one address decoded */
	uint16_t command;     /* COMMAND, published for lock-free readers: pci_command() */
	uint8_t next_cap;     /* where the next capability goes */
	uint8_t last_cap;     /* offset of the last one, to chain it */
	pci_cfg_write_fn cfg_write;
	pci_cfg_read_fn cfg_read;
	void *opaque;
};

struct pci_bus {
	pthread_mutex_t lock; /* config cycles may come from any vCPU */
	uint32_t config_address;
	struct pci_device *dev[PCI_MAX_DEVICES];
	struct pci_device host_bridge;
	uint64_t mmio_next;
};

/* Set up bus 0 with its host bridge; register 0xcf8-0xcff on the PIO bus. */
int pci_bus_init(struct pci_bus *b, struct bus *pio);
void pci_bus_destroy(struct pci_bus *b);

/* Start a type-0 config header; the device is not on the bus yet. */
void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		     uint16_t subsys);

/*
 * Give BAR `bar` (and bar+1: it is 64-bit) `size` bytes of MMIO (a power of
 * 2, at least 4 KiB) from the hole. Returns its guest address, 0 when full.
 */
uint64_t pci_device_add_bar64(struct pci_bus *b, struct pci_device *d, unsigned bar, uint64_t size);

/* Append a capability of `len` bytes (id and next filled in); returns its offset or 0. */
unsigned pci_device_add_cap(struct pci_device *d, const void *cap, unsigned len);

/* Put the device in the first free slot of bus 0; returns the slot or -1. */
int pci_bus_add(struct pci_bus *b, struct pci_device *d);

/*
 * The IRQ of INTA# of the device in `slot`: 10, 11, 5, 9 in turn (the PCI
 * interrupt links of a PC; free of vireo's ISA devices), below 16 so both
 * the PICs and the IOAPIC see it.
 */
unsigned pci_slot_irq(unsigned slot);

/* Hand out [size] bytes of the MMIO hole, size-aligned; 0 when exhausted. */
uint64_t pci_alloc_mmio(struct pci_bus *b, uint64_t size);

/* The 0xcf8-0xcff bus handler (dev = struct pci_bus). */
void pci_config_io(void *bus, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

/* Config space accessors (device side, little-endian). */
static inline uint16_t pci_cfg_read16(const struct pci_device *pdev, unsigned off)
{
	return (uint16_t)(pdev->cfg[off] | pdev->cfg[off + 1] << 8);
}

/*
 * The COMMAND register as last written, from any thread, without the bus
 * lock (see "Locking" above): an acquire load of the published copy.
 */
static inline uint16_t pci_command(const struct pci_device *pdev)
{
	return __atomic_load_n(&pdev->command, __ATOMIC_ACQUIRE);
}

static inline uint32_t pci_cfg_read32(const struct pci_device *pdev, unsigned off)
{
	return pci_cfg_read16(pdev, off) | (uint32_t)pci_cfg_read16(pdev, off + 2) << 16;
}

#endif
