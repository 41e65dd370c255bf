/* SPDX-License-Identifier: MIT */
/*
 * vcpu_setup.h -- an x86 vCPU made ready for its first KVM_RUN: CPUID, boot
 * MSRs, LAPIC LINT0/LINT1, FPU and, for the BSP, the kernel's entry
 * registers (vcpu_setup.c). The core creates the vCPU fd and runs it; what
 * the CPU looks like is decided here.
 */
#ifndef VIREO_X86_VCPU_SETUP_H
#define VIREO_X86_VCPU_SETUP_H

#include "vireo/core/optimization.h"
#include "vireo/arch/x86/kernel_image.h"

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

/* KVM_GET_SUPPORTED_CPUID on the /dev/kvm fd (malloc'd); NULL after a message. */
struct kvm_cpuid2 *x86_supported_cpuid(int kvm_fd);

/* Turn off in active[] the CPUID-borne optimizations the host cannot offer. */
void x86_note_cpuid_features(bool active[OPT_COUNT], int kvm_fd, const struct kvm_cpuid2 *host);

/* Turn off in active[] the paravirtual optimizations CPUID does not offer. */
void x86_note_pv_features(bool active[OPT_COUNT], uint32_t offered);

struct x86_vcpu_config {
	unsigned ncpus;
	const bool *active;		   /* optimizations in force (OPT_COUNT of them) */
	const struct kernel_image *kernel; /* the BSP's entry */
};

/*
 * Set up vCPU `id` (fd) from host's CPUID: CPUID first (KVM derives MSR and
 * LAPIC behaviour from it), boot MSRs, LINT0 ExtINT and LINT1 NMI, FPU and,
 * for vCPU 0, the entry registers. *pv_offered: CPUID 0x40000001 eax as
 * offered. 0, or -1 after a message.
 */
int x86_vcpu_setup(int fd, unsigned id, const struct kvm_cpuid2 *host,
		   const struct x86_vcpu_config *cfg, uint32_t *pv_offered);

#endif
