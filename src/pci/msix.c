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

static uint16_t ctrl(const struct msix *m)
{
	return __atomic_load_n(&m->ctrl, __ATOMIC_ACQUIRE);
}

bool msix_enabled(const struct msix *m)
{
	return m->pci && (ctrl(m) & MSIX_CTRL_ENABLE);
}

/* With the lock: may vector v's message go out now? */
static bool vector_masked(const struct msix *m, unsigned v)
{
	uint16_t c = ctrl(m);

	return !(c & MSIX_CTRL_ENABLE) || (c & MSIX_CTRL_MASKALL) ||
	       (m->table[v].ctrl & MSIX_ENTRY_MASKED) ||
	       !(pci_command(m->pci) & PCI_COMMAND_MASTER);
}

static void fire(struct msix *m, unsigned v)
{
	uint64_t one = 1;

	if (m->irqfd[v] >= 0 && write(m->irqfd[v], &one, sizeof(one)) < 0)
		vireo_perror("MSI-X irqfd");
	m->raised++;
}

/* With the lock: deliver what was held for vectors that are now unmasked. */
static void deliver_pending(struct msix *m)
{
	for (unsigned v = 0; v < m->nr; v++) {
		if ((m->pending & (1ull << v)) && !vector_masked(m, v)) {
			m->pending &= ~(1ull << v);
			fire(m, v);
		}
	}
}

int msix_init(struct msix *m, struct pci_device *pci, struct irq_routing *r, int vm_fd, unsigned nr,
	      unsigned bar, uint32_t table_off, uint32_t pba_off)
{
	struct msix_cap cap = {.id = PCI_CAP_ID_MSIX,
			       .ctrl = (uint16_t)(nr - 1),
			       .table = table_off | bar,
			       .pba = pba_off | bar};

	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->pci = pci;
	m->routing = r;
	m->nr = nr;
	m->set_route = irq_set_msi_route;
	if (nr == 0 || nr > MSIX_MAX_VECTORS)
		return -1;
	m->cap = pci_device_add_cap(pci, &cap, sizeof(cap));
	if (!m->cap)
		return -1;
	/* Only enable and function-mask are the guest's to write. */
	pci->wmask[m->cap + 3] = (MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL) >> 8;
	__atomic_store_n(&m->ctrl, pci_cfg_read16(pci, m->cap + 2), __ATOMIC_RELEASE);
	for (unsigned v = 0; v < nr; v++) {
		struct kvm_irqfd irqfd = {0};

		m->table[v].ctrl = MSIX_ENTRY_MASKED; /* reset state: masked */
		m->irqfd[v] = -1;
		m->gsi[v] = irq_alloc_msi_gsi(r);
		if (m->gsi[v] < 0) {
			vireo_err("out of GSIs for MSI-X");
			return -1;
		}
		if (vm_fd < 0)
			continue;
		m->irqfd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		irqfd.fd = (uint32_t)m->irqfd[v];
		irqfd.gsi = (uint32_t)m->gsi[v];
		if (m->irqfd[v] < 0 || ioctl(vm_fd, KVM_IRQFD, &irqfd) < 0) {
			vireo_perror("KVM_IRQFD for MSI-X vector %u", v);
			return -1;
		}
	}
	return 0;
}

void msix_destroy(struct msix *m)
{
	for (unsigned v = 0; v < m->nr; v++)
		if (m->irqfd[v] >= 0)
			close(m->irqfd[v]);
	pthread_mutex_destroy(&m->lock);
}

/*
 * With the lock, after entry v changed: send its route to KVM if the entry
 * is unmasked and its message is not the one KVM already has. A masked
 * entry's route can wait: nothing is delivered through it until its unmask,
 * which comes back here. A failed update stays not valid, to be retried.
 */
static void update_route(struct msix *m, unsigned v)
{
	const struct msix_entry *e = &m->table[v];
	struct msix_entry *r = &m->routed[v];
	uint64_t addr = (uint64_t)e->addr_hi << 32 | e->addr_lo;

	if ((e->ctrl & MSIX_ENTRY_MASKED) || m->gsi[v] < 0)
		return;
	if ((r->ctrl & ROUTED_VALID) && r->addr_lo == e->addr_lo && r->addr_hi == e->addr_hi &&
	    r->data == e->data)
		return;
	*r = (struct msix_entry){e->addr_lo, e->addr_hi, e->data, 0};
	if (m->set_route(m->routing, (unsigned)m->gsi[v], addr, e->data) == 0)
		r->ctrl = ROUTED_VALID;
	m->route_updates++;
}

void msix_table_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	struct msix *m = opaque;
	unsigned v = (unsigned)(offset / MSIX_ENTRY_SIZE), word = (unsigned)(offset % 16) / 4;
	uint32_t *field;

	/* The spec allows aligned 32- and 64-bit accesses; take 32-bit ones. */
	if (v >= m->nr || len != 4 || offset % 4)
		return;
	pthread_mutex_lock(&m->lock);
	field = &m->table[v].addr_lo + word;
	if (!is_write) {
		memcpy(data, field, 4);
	} else {
		memcpy(field, data, 4);
		if (word == 3)
			m->table[v].ctrl &= MSIX_ENTRY_MASKED;
		update_route(m, v);
		deliver_pending(m);
	}
	pthread_mutex_unlock(&m->lock);
}

void msix_pba_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	struct msix *m = opaque;

	if (is_write || offset + len > 8)
		return; /* the PBA is read-only */
	pthread_mutex_lock(&m->lock);
	memcpy(data, (uint8_t *)&m->pending + offset, len);
	pthread_mutex_unlock(&m->lock);
}

static bool touches(unsigned off, unsigned len, unsigned reg, unsigned reg_len)
{
	return off < reg + reg_len && off + len > reg;
}

void msix_config_written(struct msix *m, unsigned off, unsigned len)
{
	if (!touches(off, len, m->cap + 2, 2) && !touches(off, len, PCI_COMMAND, 2))
		return; /* neither message control nor COMMAND */
	pthread_mutex_lock(&m->lock);
	__atomic_store_n(&m->ctrl, pci_cfg_read16(m->pci, m->cap + 2), __ATOMIC_RELEASE);
	deliver_pending(m);
	pthread_mutex_unlock(&m->lock);
}

void msix_notify(struct msix *m, unsigned vector)
{
	if (vector >= m->nr)
		return;
	pthread_mutex_lock(&m->lock);
	if (vector_masked(m, vector)) {
		m->pending |= 1ull << vector;
		m->held++;
	} else {
		fire(m, vector);
	}
	pthread_mutex_unlock(&m->lock);
}
