/* SPDX-License-Identifier: MIT */
/*
 * cpuid.h -- the CPUID table an x86 vCPU is offered (cpuid.c): the
 * hypervisor bit, topology and the paravirtual features. Pure functions
 * over KVM's structs, unit-tested without /dev/kvm.
 */
#ifndef VIREO_X86_CPUID_H
#define VIREO_X86_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

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

#endif
