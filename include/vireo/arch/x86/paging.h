/* SPDX-License-Identifier: MIT */
/*
 * paging.h -- how a vCPU addresses memory: its CPU mode, its privilege
 * level, and the walk from a linear address to a guest physical one through
 * the guest's own page tables.
 *
 * For looking at a guest from outside (the instruction a vCPU stopped on),
 * not for emulating it: access rights, accessed/dirty bits and reserved bits
 * other than a misplaced large-page bit are ignored, and nothing is written.
 * Pure functions over KVM's register structs and struct gmem, so the unit
 * tests walk page tables in fake guest memory without /dev/kvm.
 */
#ifndef VIREO_X86_PAGING_H
#define VIREO_X86_PAGING_H

#include "vireo/core/gmem.h"

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define X86_CR0_PE	(1ull << 0)
#define X86_CR0_PG	(1ull << 31)
#define X86_CR4_PSE	(1ull << 4)
#define X86_CR4_PAE	(1ull << 5)
#define X86_CR4_LA57	(1ull << 12)
#define X86_EFER_LME	(1ull << 8)
#define X86_EFER_LMA	(1ull << 10)
#define X86_RFLAGS_VM	(1ull << 17)
#define X86_PTE_PRESENT (1ull << 0)
#define X86_PTE_PS	(1ull << 7) /* in a directory entry: it maps a large page */

enum x86_cpu_mode {
	X86_MODE_REAL,
	X86_MODE_VM86,	   /* virtual-8086: real-mode addressing at CPL 3 */
	X86_MODE_PROT16,   /* protected mode, 16-bit code segment */
	X86_MODE_PROT32,   /* protected mode, 32-bit code segment */
	X86_MODE_COMPAT16, /* long mode, 16-bit code segment */
	X86_MODE_COMPAT32, /* long mode, 32-bit code segment */
	X86_MODE_LONG64,   /* long mode, 64-bit code segment */
};

/* The mode the vCPU executes in: from CR0.PE, RFLAGS.VM, EFER.LMA, CS.L and CS.DB. */
enum x86_cpu_mode x86_cpu_mode(const struct kvm_sregs *s, uint64_t rflags);

/* "real", "vm86", "prot16", "prot32", "compat16", "compat32", "long64"; "?" otherwise. */
const char *x86_cpu_mode_name(enum x86_cpu_mode mode);

/*
 * The current privilege level: 0 in real mode, 3 in virtual-8086 mode, else
 * SS.DPL, which KVM keeps equal to the CPL on Intel and AMD alike (CS.DPL is
 * not: a conforming code segment keeps its own DPL).
 */
unsigned x86_cpl(const struct kvm_sregs *s, enum x86_cpu_mode mode);

/* The linear address of the instruction at rip: CS.base + rip, in 32 bits outside 64-bit mode. */
uint64_t x86_code_address(const struct kvm_sregs *s, enum x86_cpu_mode mode, uint64_t rip);

/*
 * Translate linear address `la` as the vCPU would, from CR0.PG, CR4.PAE,
 * CR4.PSE, CR4.LA57, EFER.LMA and CR3: no paging (identity), 32-bit (4 KiB
 * and, with CR4.PSE, 4 MiB pages), PAE (4 KiB and 2 MiB), 4- or 5-level
 * (4 KiB, 2 MiB and 1 GiB). false when an entry is not present, a table or
 * entry lies outside guest RAM, or a large-page bit sits where none may be.
 */
bool x86_translate(const struct gmem *m, const struct kvm_sregs *s, uint64_t la, gpa_t *out);

/*
 * Copy up to len bytes from linear address `la` into dst, page by page: the
 * bytes up to the first page that does not translate or is not RAM. Returns
 * how many were copied (0 when the first one cannot be read).
 */
size_t x86_read_linear(const struct gmem *m, const struct kvm_sregs *s, uint64_t la, void *dst,
		       size_t len);

#endif
