/* SPDX-License-Identifier: MIT */
/*
 * intx.h -- legacy INTx (pin INTA#) of a PCI device, for drivers that do not
 * enable MSI-X (Linux with pci=nomsi, older or simpler guests).
 *
 * INTx is level-triggered: the line must stay up while the device has an
 * interrupt pending. vireo gives each line an irqfd with a resample eventfd
 * (KVM_IRQFD_FLAG_RESAMPLE): a write to the irqfd raises the line and KVM
 * keeps it up until the guest's EOI; then KVM lowers it and signals the
 * resample eventfd, and the device raises it again if it still has an
 * interrupt pending (virtio: its ISR not yet read). Neither the interrupt
 * nor the EOI exits to userspace.
 *
 * The line's IRQ comes from pci_slot_irq() (one place for the numbers); it
 * is below 16, so the 8259 PICs and the IOAPIC both see it (KVM's default
 * GSI routing), and the MP table describes it for IOAPIC-mode guests.
 */
#ifndef VIREO_INTX_H
#define VIREO_INTX_H

#include "vireo/pci/pci.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct pci_intx {
	pthread_mutex_t lock; /* raises come from several I/O threads (queue groups) */
	struct pci_device *pci;
	unsigned irq;	 /* GSI and PCI_INTERRUPT_LINE; 0 when the device has no INTx */
	int vm_fd;	 /* -1 without KVM (tests): raises are only counted */
	int irqfd;	 /* -1 without KVM */
	bool assigned;	 /* KVM_IRQFD done: on the first raise, not before */
	bool broken;	 /* KVM refused the irqfd: INTx stays silent */
	int resamplefd;	 /* KVM signals it at the guest's EOI: the owner watches it */
	uint64_t raised; /* line raises sent (first raise and re-raises after EOI) */
};

/*
 * Give pci INTA# on `irq`: interrupt pin and line registers, and with a VM
 * (vm_fd >= 0) the irqfd and resample eventfds, registered with KVM on the
 * first raise. 0, or -1 with a message (then the device has no INTx: pin 0).
 */
int intx_init(struct pci_intx *x, struct pci_device *pci, int vm_fd, unsigned irq);
/* Also of a zeroed pci_intx that intx_init() never saw (a device whose set-up failed first). */
void intx_destroy(struct pci_intx *x);

/* Raise the line (any thread), unless the guest set COMMAND.INTX_DISABLE. */
void intx_raise(struct pci_intx *x);

#endif
