/* SPDX-License-Identifier: MIT */
/*
 * cpuid.c -- the CPUID table each vCPU sees.
 *
 * Start from what KVM supports on this host, then say three things the host
 * cannot know: that this is a VM (hypervisor bit), where this vCPU sits in the
 * topology (APIC ID, cores per package), and which paravirtual features the
 * VMM wants the guest to use. The PV features are the "shared memory instead
 * of exits" techniques (kvmclock, steal time, PV EOI) and the batched ones
 * (PV TLB flush, PV send-IPI): offering them costs the VMM nothing but a
 * correct table.
 */
#include "vireo/lib/util.h"
#include "vireo/arch/x86/cpuid.h"

#define CPUID_1_ECX_X2APIC	 (1u << 21)
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_1_ECX_HYPERVISOR	 (1u << 31)
#define CPUID_1_EDX_HTT		 (1u << 28)

#define KVM_CPUID_SIGNATURE 0x40000000u
#define KVM_CPUID_FEATURES  0x40000001u

/* Level types in leaves 0xb and 0x1f, ECX[15:8]. */
#define LEVEL_SMT  1u
#define LEVEL_CORE 2u

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid_entry2 *e, unsigned n, uint32_t function,
				    uint32_t index)
{
	for (unsigned i = 0; i < n; i++) {
		bool indexed = e[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX;

		if (e[i].function == function && (!indexed || e[i].index == index))
			return &e[i];
	}
	return NULL;
}

/* Bits needed to number n things: 0 for 1, 1 for 2, 2 for 3..4, ... */
static unsigned order_base_2(unsigned n)
{
	unsigned bits = 0;

	while ((1u << bits) < n)
		bits++;
	return bits;
}

static void fix_leaf1(struct kvm_cpuid_entry2 *e, unsigned vcpu_id, const struct cpuid_config *c)
{
	unsigned logical = 1u << order_base_2(c->ncpus);

	e->ecx |= CPUID_1_ECX_HYPERVISOR;
	e->ecx = c->x2apic ? e->ecx | CPUID_1_ECX_X2APIC : e->ecx & ~CPUID_1_ECX_X2APIC;
	e->ecx = c->tsc_deadline ? e->ecx | CPUID_1_ECX_TSC_DEADLINE
				 : e->ecx & ~CPUID_1_ECX_TSC_DEADLINE;
	/* EBX[31:24] initial APIC ID, [23:16] addressable logical CPUs per package. */
	e->ebx =
	    (e->ebx & 0x0000ffffu) | (vcpu_id & 0xff) << 24 | (logical > 255 ? 255 : logical) << 16;
	if (c->ncpus > 1)
		e->edx |= CPUID_1_EDX_HTT;
	else
		e->edx &= ~CPUID_1_EDX_HTT;
}

/* Deterministic cache parameters: who shares each cache. */
static void fix_leaf4(struct kvm_cpuid_entry2 *e, const struct cpuid_config *c)
{
	unsigned level = (e->eax >> 5) & 7;
	unsigned cores = 1u << order_base_2(c->ncpus);
	unsigned sharing = level >= 3 ? cores : 1;

	if ((e->eax & 0x1f) == 0) /* no cache at this subleaf */
		return;
	if (cores > 64)
		cores = 64;
	e->eax = (e->eax & 0x3fff) | ((sharing - 1) & 0xfff) << 14 | (cores - 1) << 26;
}

/* Extended topology: one thread per core, ncpus cores in one package. */
static void fix_topology_leaf(struct kvm_cpuid_entry2 *e, unsigned vcpu_id,
			      const struct cpuid_config *c)
{
	e->edx = vcpu_id; /* x2APIC ID */
	switch (e->index) {
	case 0:
		e->eax = 0; /* no bits for threads */
		e->ebx = 1;
		e->ecx = LEVEL_SMT << 8 | e->index;
		break;
	case 1:
		e->eax = order_base_2(c->ncpus);
		e->ebx = c->ncpus;
		e->ecx = LEVEL_CORE << 8 | e->index;
		break;
	default:
		e->eax = e->ebx = 0;
		e->ecx = e->index; /* level type 0: no more levels */
		break;
	}
}

static uint32_t fix_pv_features(struct kvm_cpuid_entry2 *e, const struct cpuid_config *c)
{
	e->eax &= c->pv_features;
	e->edx = 0; /* no hints: we do not promise dedicated physical CPUs */
	return e->eax;
}

uint32_t cpuid_fixup(struct kvm_cpuid_entry2 *e, unsigned n, unsigned vcpu_id,
		     const struct cpuid_config *c)
{
	uint32_t pv = 0;

	for (unsigned i = 0; i < n; i++) {
		switch (e[i].function) {
		case 1:
			fix_leaf1(&e[i], vcpu_id, c);
			break;
		case 4:
			fix_leaf4(&e[i], c);
			break;
		case 0xb:
		case 0x1f:
			fix_topology_leaf(&e[i], vcpu_id, c);
			break;
		case 0x80000008:
			/* AMD: ECX[7:0] cores - 1, [15:12] APIC ID bits. */
			e[i].ecx =
			    (e[i].ecx & ~0xf0ffu) | (c->ncpus - 1) | order_base_2(c->ncpus) << 12;
			break;
		case 0x8000001e:
			/* AMD extended APIC ID; one thread per core, node 0. */
			e[i].eax = vcpu_id;
			e[i].ebx = vcpu_id & 0xff;
			e[i].ecx = 0;
			break;
		case KVM_CPUID_FEATURES:
			pv = fix_pv_features(&e[i], c);
			break;
		default:
			break;
		}
	}
	return pv;
}
