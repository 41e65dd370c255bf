/* SPDX-License-Identifier: MIT */
/*
 * irq.h -- the VM's GSI routing table: the legacy pins and the MSI routes
 * that MSI-X vectors use. KVM_SET_GSI_ROUTING replaces the whole table, so
 * vireo keeps the whole table, starting with the routes KVM would have by
 * default (GSI 0-15 to both PICs and the IOAPIC, 16-23 to the IOAPIC).
 */
#ifndef VIREO_IRQ_H
#define VIREO_IRQ_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdint.h>

#define IRQ_MAX_ROUTES	  1024
#define IRQ_FIRST_MSI_GSI 24

struct irq_routing {
	pthread_mutex_t lock;
	int vm_fd; /* -1 in tests: the table is kept but not sent to KVM */
	unsigned next_gsi;
	unsigned nr;
	struct kvm_irq_routing_entry entry[IRQ_MAX_ROUTES];
};

void irq_routing_init(struct irq_routing *r, int vm_fd);
void irq_routing_destroy(struct irq_routing *r);

/* A fresh GSI for an MSI route, or -1 when the table is full. */
int irq_alloc_msi_gsi(struct irq_routing *r);

/* Point gsi at an MSI message and tell KVM. 0, or -1 with a message. */
int irq_set_msi_route(struct irq_routing *r, unsigned gsi, uint64_t addr, uint32_t data);

#endif
