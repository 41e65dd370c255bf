/* SPDX-License-Identifier: MIT */
/*
 * mptable.h -- the MP table (mptable.c) that tells the guest its CPUs, its
 * IOAPIC and how ISA and PCI interrupts are routed; the ACPI MADT and DSDT
 * (acpi.h) describe the same lines.
 */
#ifndef VIREO_X86_MPTABLE_H
#define VIREO_X86_MPTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* INTA# of the PCI device in `slot` of bus 0 is wired to IOAPIC pin `irq`. */
struct mp_pci_intx {
	uint8_t slot;
	uint8_t irq; /* < 16: that ISA IRQ is then left out (it is the PCI line) */
};

/*
 * Build an MP floating pointer and configuration table for ncpus CPUs and
 * the npci PCI interrupt lines, as they will sit at guest physical `base`,
 * into buf. Returns the bytes used, or 0 when buf is too small.
 */
size_t mptable_build(uint8_t *buf, size_t len, uint64_t base, unsigned ncpus,
		     const struct mp_pci_intx *pci, unsigned npci);

#define MPTABLE_MAX_PCI_INTX 32

#define ISA_IRQS 16

/* Is ISA IRQ `irq` one of the npci PCI lines (then not an ISA edge IRQ)? */
bool mp_irq_is_pci_line(const struct mp_pci_intx *pci, unsigned npci, unsigned irq);

/* Largest ncpus an MP table (one 8-bit APIC ID space, IOAPIC after the CPUs) allows. */
#define MPTABLE_MAX_CPUS 254

#endif
