/* SPDX-License-Identifier: MIT */
/*
 * intx.c -- legacy INTx through a resampling irqfd (see intx.h).
 */
#include "vireo/pci/intx.h"
#include "vireo/lib/util.h"

#include <linux/kvm.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void no_intx(struct pci_intx *x)
{
	x->pci->cfg[PCI_INTERRUPT_PIN] = 0;
	x->pci->cfg[PCI_INTERRUPT_LINE] = 0;
	x->pci->wmask[PCI_INTERRUPT_LINE] = 0;
	x->irq = 0;
}

static void close_fds(struct pci_intx *x)
{
	if (x->irqfd >= 0)
		close(x->irqfd);
	if (x->resamplefd >= 0)
		close(x->resamplefd);
	x->irqfd = x->resamplefd = -1;
}

int intx_init(struct pci_intx *x, struct pci_device *pci, int vm_fd, unsigned irq)
{
	*x = (struct pci_intx){
	    .pci = pci, .irq = irq, .vm_fd = vm_fd, .irqfd = -1, .resamplefd = -1};
	pthread_mutex_init(&x->lock, NULL);
	pci->cfg[PCI_INTERRUPT_PIN] = 1; /* INTA# */
	pci->cfg[PCI_INTERRUPT_LINE] = (uint8_t)irq;
	pci->wmask[PCI_INTERRUPT_LINE] = 0xff; /* firmware's scratch byte: the guest may write it */
	/* The guest turns INTx off while it uses MSI-X (PCI 3.0 command bit 10). */
	pci->wmask[PCI_COMMAND + 1] |= PCI_COMMAND_INTX_DISABLE >> 8;
	if (vm_fd < 0)
		return 0;
	x->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	x->resamplefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (x->irqfd < 0 || x->resamplefd < 0) {
		vireo_perror("%s: INTx eventfds (the device offers MSI-X only)", pci->name);
		close_fds(x);
		no_intx(x);
		return -1;
	}
	return 0;
}

/*
 * Hand the line to KVM on its first use, not at start: a guest that only
 * uses MSI-X (the common case) then leaves no resampler in KVM, whose ack
 * notifiers would otherwise watch every EOI of that pin for nothing.
 */
static bool assign(struct pci_intx *x)
{
	struct kvm_irqfd req = {.fd = (uint32_t)x->irqfd,
				.gsi = x->irq,
				.flags = KVM_IRQFD_FLAG_RESAMPLE,
				.resamplefd = (uint32_t)x->resamplefd};

	if (x->assigned || x->broken)
		return x->assigned;
	if (ioctl(x->vm_fd, KVM_IRQFD, &req) < 0) {
		vireo_perror("%s: KVM_IRQFD (resampling) for INTx on IRQ %u: no INTx", x->pci->name,
			     x->irq);
		x->broken = true;
		return false;
	}
	x->assigned = true;
	return true;
}

void intx_destroy(struct pci_intx *x)
{
	if (!x->pci)
		return; /* never initialised: its zeroed fds are not ours to close */
	if (x->assigned) {
		struct kvm_irqfd req = {
		    .fd = (uint32_t)x->irqfd, .gsi = x->irq, .flags = KVM_IRQFD_FLAG_DEASSIGN};

		ioctl(x->vm_fd, KVM_IRQFD, &req); /* the VM is going away: errors do not matter */
		x->assigned = false;
	}
	close_fds(x);
	pthread_mutex_destroy(&x->lock);
	x->pci = NULL;
}

void intx_raise(struct pci_intx *x)
{
	uint64_t one = 1;

	/* COMMAND through its published copy: the caller does not hold the bus lock. */
	if (!x->irq || (pci_command(x->pci) & PCI_COMMAND_INTX_DISABLE))
		return;
	pthread_mutex_lock(&x->lock); /* one KVM_IRQFD however many threads raise at once */
	if (x->irqfd < 0 || assign(x)) {
		x->raised++;
		if (x->irqfd >= 0 && write(x->irqfd, &one, sizeof(one)) < 0)
			vireo_perror("%s: INTx irqfd", x->pci->name);
	}
	pthread_mutex_unlock(&x->lock);
}
