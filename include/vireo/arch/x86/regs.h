/* SPDX-License-Identifier: MIT */
/*
 * regs.h -- the initial state of an x86 vCPU (regs.c): boot GDT and page
 * tables, registers for each entry path, FPU, boot MSRs. Pure functions
 * over KVM's structs and guest memory, unit-tested without /dev/kvm.
 */
#ifndef VIREO_X86_REGS_H
#define VIREO_X86_REGS_H

#include "vireo/core/gmem.h"
#include "vireo/arch/x86/kernel_image.h"

#include <linux/kvm.h>
#include <stdint.h>

/* The GDT and identity page tables both entry paths rely on. */
int boot_write_gdt_and_page_tables(struct gmem *m);

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

#endif
