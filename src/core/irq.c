/* SPDX-License-Identifier: MIT */
#include "vireo/core/irq.h"
#include "vireo/lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

static void add_irqchip(struct irq_routing *r, unsigned gsi, unsigned chip, unsigned pin)
{
	r->entry[r->nr++] =
	    (struct kvm_irq_routing_entry){.gsi = gsi,
					   .type = KVM_IRQ_ROUTING_IRQCHIP,
					   .u.irqchip = {.irqchip = chip, .pin = pin}};
}

void irq_routing_init(struct irq_routing *r, int vm_fd)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->vm_fd = vm_fd;
	r->next_gsi = IRQ_FIRST_MSI_GSI;
	/* KVM's default table (kvm_setup_default_irq_routing): keep it intact. */
	for (unsigned gsi = 0; gsi < 24; gsi++) {
		add_irqchip(r, gsi, KVM_IRQCHIP_IOAPIC, gsi);
		if (gsi < 16)
			add_irqchip(r, gsi,
				    gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
				    gsi % 8);
	}
}

void irq_routing_destroy(struct irq_routing *r)
{
	pthread_mutex_destroy(&r->lock);
}

int irq_alloc_msi_gsi(struct irq_routing *r)
{
	int gsi = -1;

	pthread_mutex_lock(&r->lock);
	if (r->nr < IRQ_MAX_ROUTES) {
		gsi = (int)r->next_gsi++;
		r->entry[r->nr++] = (struct kvm_irq_routing_entry){
		    .gsi = (uint32_t)gsi,
		    .type = KVM_IRQ_ROUTING_MSI,
		    .u.msi = {.address_lo = 0xfee00000u}}; /* parked until the guest programs it */
	}
	pthread_mutex_unlock(&r->lock);
	return gsi;
}

static int commit(struct irq_routing *r)
{
	struct kvm_irq_routing *t;
	int rc;

	if (r->vm_fd < 0)
		return 0;
	t = calloc(1, sizeof(*t) + r->nr * sizeof(t->entries[0]));
	if (!t)
		return -1;
	t->nr = r->nr;
	memcpy(t->entries, r->entry, r->nr * sizeof(t->entries[0]));
	rc = ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t);
	free(t);
	if (rc < 0)
		vireo_perror("KVM_SET_GSI_ROUTING");
	return rc;
}

int irq_set_msi_route(struct irq_routing *r, unsigned gsi, uint64_t addr, uint32_t data)
{
	int rc = -1;

	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < r->nr; i++) {
		struct kvm_irq_routing_entry *e = &r->entry[i];

		if (e->gsi != gsi || e->type != KVM_IRQ_ROUTING_MSI)
			continue;
		e->u.msi.address_lo = (uint32_t)addr;
		e->u.msi.address_hi = (uint32_t)(addr >> 32);
		e->u.msi.data = data;
		rc = commit(r);
		break;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}
