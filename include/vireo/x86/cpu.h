/* SPDX-License-Identifier: MIT */
/*
 * cpu.h -- the initial state of an x86 vCPU: boot GDT and page tables,
 * registers for each entry path, FPU, boot MSRs, the CPUID table, and the
 * MP table that tells the guest how many CPUs it has.
 *
 * All of these are pure functions over KVM's structs and byte buffers, so
 * they are unit-tested without /dev/kvm.
 */
#ifndef VIREO_X86_CPU_H
#define VIREO_X86_CPU_H

#include "vireo/gmem.h"
#include "vireo/x86/boot.h"

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Entries of the boot GDT, indexed by selector >> 3. */
extern const uint64_t boot_gdt[6];

/* The cached form of descriptor `d` loaded through `selector`. */
struct kvm_segment segment_from_descriptor(uint64_t d, uint16_t selector);

/* Registers for the BSP entering kernel `k` (64-bit or PVH 32-bit entry). */
void boot_regs(const struct kernel_image *k, struct kvm_regs *regs, struct kvm_sregs *sregs);

/* x87/SSE state as after FNINIT with SSE exceptions masked. */
void boot_fpu(struct kvm_fpu *fpu);

struct boot_msr {
	uint32_t index;
	uint64_t value;
};
/* The MSRs every vCPU starts with; returns how many. */
unsigned boot_msrs(struct boot_msr *out, unsigned max);

/* Paravirtual features (CPUID 0x40000001 eax) vireo knows how to offer. */
#define KVM_FEATURE_BIT(n)     (1u << (n))
#define PVF_CLOCKSOURCE	       KVM_FEATURE_BIT(0)
#define PVF_NOP_IO_DELAY       KVM_FEATURE_BIT(1)
#define PVF_CLOCKSOURCE2       KVM_FEATURE_BIT(3)
#define PVF_ASYNC_PF	       KVM_FEATURE_BIT(4)
#define PVF_STEAL_TIME	       KVM_FEATURE_BIT(5)
#define PVF_PV_EOI	       KVM_FEATURE_BIT(6)
#define PVF_PV_UNHALT	       KVM_FEATURE_BIT(7)
#define PVF_PV_TLB_FLUSH       KVM_FEATURE_BIT(9)
#define PVF_ASYNC_PF_VMEXIT    KVM_FEATURE_BIT(10)
#define PVF_PV_SEND_IPI	       KVM_FEATURE_BIT(11)
#define PVF_POLL_CONTROL       KVM_FEATURE_BIT(12)
#define PVF_PV_SCHED_YIELD     KVM_FEATURE_BIT(13)
#define PVF_ASYNC_PF_INT       KVM_FEATURE_BIT(14)
#define PVF_MSI_EXT_DEST_ID    KVM_FEATURE_BIT(15)
#define PVF_CLOCKSOURCE_STABLE KVM_FEATURE_BIT(24)

struct cpuid_config {
	unsigned ncpus;
	uint32_t pv_features; /* wanted; ANDed with what KVM supports */
	bool x2apic;
	bool tsc_deadline; /* only when KVM_CAP_TSC_DEADLINE_TIMER */
};

/*
 * Turn KVM_GET_SUPPORTED_CPUID's table into vCPU `vcpu_id`'s: hypervisor
 * bit, APIC ID and topology for ncpus single-threaded cores in one package,
 * and the paravirt leaves filtered by cfg. Returns the PV features offered.
 */
uint32_t cpuid_fixup(struct kvm_cpuid_entry2 *e, unsigned n, unsigned vcpu_id,
		     const struct cpuid_config *cfg);

/* Find an entry; NULL when the table has none. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid_entry2 *e, unsigned n, uint32_t function,
				    uint32_t index);

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
bool pci_intx_owns_irq(const struct mp_pci_intx *pci, unsigned npci, unsigned irq);

/* Largest ncpus an MP table (one 8-bit APIC ID space, IOAPIC after the CPUs) allows. */
#define MPTABLE_MAX_CPUS 254

#endif
