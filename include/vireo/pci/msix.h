/* SPDX-License-Identifier: MIT */
/*
 * msix.h -- MSI-X for a PCI device: the capability, the vector table and the
 * pending-bit array (both in a BAR), and delivery through irqfd.
 *
 * Each vector owns a GSI with an MSI route and an irqfd, so raising an
 * interrupt from the I/O thread is one eventfd write and KVM injects it
 * without any exit. A masked vector (or a masked/disabled function) records
 * the interrupt in the PBA instead, and it is delivered on unmask, as the
 * PCI spec requires. So does a function whose driver cleared Bus Master
 * Enable: an MSI-X message is a memory write, which a function may not issue
 * without bus mastering (PCI 3.0, 6.8.1.3; PCIe 7.5.1.1.3), so it is held
 * and goes out once bus mastering is back, like an unmask.
 *
 * Routes: KVM_SET_GSI_ROUTING replaces the whole table, so a vector's route
 * is sent only when it matters: when an unmasked entry's address or data
 * changes, or an entry is unmasked with contents other than those last
 * routed. Writes to a masked entry (how drivers program vectors) cost no
 * ioctl; route_updates counts the ones sent.
 */
#ifndef VIREO_MSIX_H
#define VIREO_MSIX_H

#include "vireo/core/irq.h"
#include "vireo/pci/pci.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define MSIX_MAX_VECTORS 32
#define MSIX_ENTRY_SIZE	 16
#define MSIX_NO_VECTOR	 0xffff

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl; /* ctrl bit 0: masked */
};

/* How a vector's route reaches KVM: irq_set_msi_route(), or a test's counter. */
typedef int (*msix_route_fn)(struct irq_routing *r, unsigned gsi, uint64_t addr, uint32_t data);

struct msix {
	pthread_mutex_t lock; /* the vCPU thread programs, the I/O thread raises */
	struct pci_device *pci;
	struct irq_routing *routing;
	unsigned cap; /* capability offset in config space */
	unsigned nr;
	/*
	 * Message control as last written, published under lock by
	 * msix_config_written() (the vCPU doing the config cycle holds the bus
	 * lock too): msix_enabled() reads it from I/O threads, which may not take
	 * the bus lock (see pci.h, "Locking"). Atomic so that read needs no lock.
	 */
	uint16_t ctrl;
	struct msix_entry table[MSIX_MAX_VECTORS];
	struct msix_entry routed[MSIX_MAX_VECTORS]; /* what KVM has; ctrl 1: valid */
	uint64_t pending;			    /* PBA: one bit per vector */
	int gsi[MSIX_MAX_VECTORS];
	int irqfd[MSIX_MAX_VECTORS];
	msix_route_fn set_route;
	uint64_t raised;	/* interrupts sent through an irqfd */
	uint64_t held;		/* interrupts held pending: masked, or no bus mastering */
	uint64_t route_updates; /* routes sent to KVM (KVM_SET_GSI_ROUTING) */
};

/*
 * Add the MSI-X capability for `nr` vectors whose table and PBA sit in BAR
 * `bar` at the given offsets, allocate a GSI and irqfd per vector (vm_fd < 0:
 * none, for tests). 0, or -1 with a message.
 */
int msix_init(struct msix *m, struct pci_device *pci, struct irq_routing *r, int vm_fd, unsigned nr,
	      unsigned bar, uint32_t table_off, uint32_t pba_off);
void msix_destroy(struct msix *m);

/* Bus handlers for the table and the PBA (dev = struct msix). */
void msix_table_io(void *m, uint64_t offset, uint8_t *data, unsigned len, bool is_write);
void msix_pba_io(void *m, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

/*
 * The guest wrote config space [off, off + len) (bus lock held): react to
 * enable/function-mask changes and to Bus Master Enable in COMMAND.
 */
void msix_config_written(struct msix *m, unsigned off, unsigned len);

/* The guest enabled MSI-X (then the device must not use INTx). Any thread, no lock. */
bool msix_enabled(const struct msix *m);

/* Raise `vector` (any thread). Ignored for MSIX_NO_VECTOR or out of range. */
void msix_notify(struct msix *m, unsigned vector);

#endif
