/* SPDX-License-Identifier: MIT */
#include "vireo/pci/msix.h"
#include "vireo/lib/util.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MSIX_CTRL_ENABLE  0x8000
#define MSIX_CTRL_MASKALL 0x4000
#define MSIX_ENTRY_MASKED 1u

struct msix_cap {
	uint8_t id, next;
	uint16_t ctrl;	/* table size - 1, function mask, enable */
	uint32_t table; /* offset | BIR */
	uint32_t pba;	/* offset | BIR */
} __attribute__((packed));

#define ROUTED_VALID 1u

static uint16_t ctrl(const struct msix *msix)
{
	return __atomic_load_n(&msix->ctrl, __ATOMIC_ACQUIRE);
}

bool msix_enabled(const struct msix *msix)
{
	return msix->pci && (ctrl(msix) & MSIX_CTRL_ENABLE);
}

/* With the lock: may vector v's message go out now? */
static bool vector_masked(const struct msix *msix, unsigned v)
{
	uint16_t c = ctrl(msix);

	return !(c & MSIX_CTRL_ENABLE) || (c & MSIX_CTRL_MASKALL) ||
	       (msix->table[v].ctrl & MSIX_ENTRY_MASKED) ||
	       !(pci_command(msix->pci) & PCI_COMMAND_MASTER);
}

static void fire(struct msix *msix, unsigned v)
{
	uint64_t one = 1;

	if (msix->irqfd[v] >= 0 && write(msix->irqfd[v], &one, sizeof(one)) < 0)
		vireo_perror("MSI-X irqfd");
	msix->raised++;
}

/* With the lock: deliver what was held for vectors that are now unmasked. */
static void deliver_pending(struct msix *msix)
{
	for (unsigned v = 0; v < msix->nr; v++) {
		if ((msix->pending & (1ull << v)) && !vector_masked(msix, v)) {
			msix->pending &= ~(1ull << v);
			fire(msix, v);
		}
	}
}

int msix_init(struct msix *msix, struct pci_device *pci, struct irq_routing *r, int vm_fd,
	      unsigned nr, unsigned bar, uint32_t table_off, uint32_t pba_off)
{
	struct msix_cap cap = {.id = PCI_CAP_ID_MSIX,
			       .ctrl = (uint16_t)(nr - 1),
			       .table = table_off | bar,
			       .pba = pba_off | bar};

	memset(msix, 0, sizeof(*msix));
	pthread_mutex_init(&msix->lock, NULL);
	msix->pci = pci;
	msix->routing = r;
	msix->nr = nr;
	msix->set_route = irq_set_msi_route;
	if (nr == 0 || nr > MSIX_MAX_VECTORS)
		return -1;
	msix->cap = pci_device_add_cap(pci, &cap, sizeof(cap));
	if (!msix->cap)
		return -1;
	/* Only enable and function-mask are the guest's to write. */
	pci->wmask[msix->cap + 3] = (MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL) >> 8;
	__atomic_store_n(&msix->ctrl, pci_cfg_read16(pci, msix->cap + 2), __ATOMIC_RELEASE);
	for (unsigned v = 0; v < nr; v++) {
		struct kvm_irqfd irqfd = {0};

		msix->table[v].ctrl = MSIX_ENTRY_MASKED; /* reset state: masked */
		msix->irqfd[v] = -1;
		msix->gsi[v] = irq_alloc_msi_gsi(r);
		if (msix->gsi[v] < 0) {
			vireo_err("out of GSIs for MSI-X");
			return -1;
		}
		if (vm_fd < 0)
			continue;
		msix->irqfd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		irqfd.fd = (uint32_t)msix->irqfd[v];
		irqfd.gsi = (uint32_t)msix->gsi[v];
		if (msix->irqfd[v] < 0 || ioctl(vm_fd, KVM_IRQFD, &irqfd) < 0) {
			vireo_perror("KVM_IRQFD for MSI-X vector %u", v);
			return -1;
		}
	}
	return 0;
}

void msix_destroy(struct msix *msix)
{
	for (unsigned v = 0; v < msix->nr; v++)
		if (msix->irqfd[v] >= 0)
			close(msix->irqfd[v]);
	pthread_mutex_destroy(&msix->lock);
}

/*
 * With the lock, after entry v changed: send its route to KVM if the entry
 * is unmasked and its message is not the one KVM already has. A masked
 * entry's route can wait: nothing is delivered through it until its unmask,
 * which comes back here. A failed update stays not valid, to be retried.
 */
static void update_route(struct msix *msix, unsigned v)
{
	const struct msix_entry *e = &msix->table[v];
	struct msix_entry *r = &msix->routed[v];
	uint64_t addr = (uint64_t)e->addr_hi << 32 | e->addr_lo;

	if ((e->ctrl & MSIX_ENTRY_MASKED) || msix->gsi[v] < 0)
		return;
	if ((r->ctrl & ROUTED_VALID) && r->addr_lo == e->addr_lo && r->addr_hi == e->addr_hi &&
	    r->data == e->data)
		return;
	*r = (struct msix_entry){e->addr_lo, e->addr_hi, e->data, 0};
	if (msix->set_route(msix->routing, (unsigned)msix->gsi[v], addr, e->data) == 0)
		r->ctrl = ROUTED_VALID;
	msix->route_updates++;
}

void msix_table_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	struct msix *msix = opaque;
	unsigned v = (unsigned)(offset / MSIX_ENTRY_SIZE), word = (unsigned)(offset % 16) / 4;
	uint32_t *field;

	/* The spec allows aligned 32- and 64-bit accesses; take 32-bit ones. */
	if (v >= msix->nr || len != 4 || offset % 4)
		return;
	pthread_mutex_lock(&msix->lock);
	field = &msix->table[v].addr_lo + word;
	if (!is_write) {
		memcpy(data, field, 4);
	} else {
		memcpy(field, data, 4);
		if (word == 3)
			msix->table[v].ctrl &= MSIX_ENTRY_MASKED;
		update_route(msix, v);
		deliver_pending(msix);
	}
	pthread_mutex_unlock(&msix->lock);
}

void msix_pba_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	struct msix *msix = opaque;

	if (is_write || offset + len > 8)
		return; /* the PBA is read-only */
	pthread_mutex_lock(&msix->lock);
	memcpy(data, (uint8_t *)&msix->pending + offset, len);
	pthread_mutex_unlock(&msix->lock);
}

static bool touches(unsigned off, unsigned len, unsigned reg, unsigned reg_len)
{
	return off < reg + reg_len && off + len > reg;
}

void msix_config_written(struct msix *msix, unsigned off, unsigned len)
{
	if (!touches(off, len, msix->cap + 2, 2) && !touches(off, len, PCI_COMMAND, 2))
		return; /* neither message control nor COMMAND */
	pthread_mutex_lock(&msix->lock);
	__atomic_store_n(&msix->ctrl, pci_cfg_read16(msix->pci, msix->cap + 2), __ATOMIC_RELEASE);
	deliver_pending(msix);
	pthread_mutex_unlock(&msix->lock);
}

void msix_notify(struct msix *msix, unsigned vector)
{
	if (vector >= msix->nr)
		return;
	pthread_mutex_lock(&msix->lock);
	if (vector_masked(msix, vector)) {
		msix->pending |= 1ull << vector;
		msix->held++;
	} else {
		fire(msix, vector);
	}
	pthread_mutex_unlock(&msix->lock);
}
