/* SPDX-License-Identifier: MIT */
/*
 * tables.S -- page tables, GDT, IDT and TSSs, all prebuilt as data so the
 * CPL0 boot path only loads registers and never loops.
 *
 * Addresses that the CPU wants split into pieces (IDT gate offsets, TSS
 * descriptor bases) come from absolute symbols the linker script computes
 * (__isr_lo, __isr_hi16, __tss_lo, __tss_b2, __tss_b3).
 */
#include "layout.h"

#define PTE_P 0x1
#define PTE_W 0x2
#define PTE_U 0x4
#define PTE_PWT 0x8
#define PTE_PCD 0x10
#define PTE_PS 0x80

	.section .data.pagetables, "aw"
/*
 * Identity map of the first 4 GiB with 2 MiB pages, all user accessible (the
 * CPL3 part reaches RAM, the BIOS area, the MP table and the LAPIC directly).
 * The fourth GiB (PCI hole, IOAPIC, LAPIC at 0xfee00000) is uncached.
 */
	.balign 4096
	.globl pml4
pml4:
	.quad pdpt + (PTE_P | PTE_W | PTE_U)
	.fill 511, 8, 0
pdpt:
	.quad pd + 0x0000 + (PTE_P | PTE_W | PTE_U)
	.quad pd + 0x1000 + (PTE_P | PTE_W | PTE_U)
	.quad pd + 0x2000 + (PTE_P | PTE_W | PTE_U)
	.quad pd + 0x3000 + (PTE_P | PTE_W | PTE_U)
	.fill 508, 8, 0
pd:
	.set i, 0
	.rept 2048
	.if i >= 1536
	.quad (i << 21) | (PTE_P | PTE_W | PTE_U | PTE_PS | PTE_PCD | PTE_PWT)
	.else
	.quad (i << 21) | (PTE_P | PTE_W | PTE_U | PTE_PS)
	.endif
	.set i, i + 1
	.endr

	.section .data.descriptors, "aw"
/* GDT: layout.h names the selectors. */
	.balign 16
	.globl gdt, gdt_end, gdt_desc
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08 SEL_CODE32: 32-bit code, DPL 0 */
	.quad 0x00af9a000000ffff	/* 0x10 SEL_KCODE: 64-bit code, DPL 0 */
	.quad 0x00cf92000000ffff	/* 0x18 SEL_KDATA: data, DPL 0 */
	.quad 0x00cffa000000ffff	/* 0x20 SEL_UCODE32: 32-bit code, DPL 3 */
	.quad 0x00cff2000000ffff	/* 0x28 SEL_UDATA: data, DPL 3 */
	.quad 0x00affa000000ffff	/* 0x30 SEL_UCODE: 64-bit code, DPL 3 */
	/* 0x38 + 16 * i: 64-bit available TSS of CPU i. The limit reaches past
	 * the shared I/O bitmap's terminating byte (see tss_array). */
	.set c, 0
	.rept MAX_CPUS
	.word IO_BITMAP_OFFSET - c * TSS_STRIDE + IO_BITMAP_SIZE
	.word __tss_lo + c * TSS_STRIDE
	.byte __tss_b2
	.byte 0x89
	.byte 0
	.byte __tss_b3
	.long 0
	.long 0
	.set c, c + 1
	.endr
gdt_end:
	.balign 8
gdt_desc:
	.word gdt_end - gdt - 1
	.quad gdt

/* IDT: vector v -> isr_table + 16 * v, interrupt gates (IF cleared), DPL 0
 * except the system call gate and #UD: `int $6; int $0x80` lets the gate
 * workload take ud_isr's path on a CPU whose int $0x80 is an ordinary gate
 * (a #UD raised by the CPU ignores the DPL). */
	.balign 16
	.globl idt, idt_desc
idt:
	.set vec, 0
	.rept 256
	.word __isr_lo + vec * 16
	.word SEL_KCODE
	.byte 0
	.if vec == VEC_SYSCALL || vec == VEC_UD
	.byte 0xee
	.else
	.byte 0x8e
	.endif
	.word __isr_hi16
	.long 0
	.long 0
	.set vec, vec + 1
	.endr
	.balign 8
idt_desc:
	.word 256 * 16 - 1
	.quad idt

/* One 104-byte TSS per CPU, TSS_STRIDE apart: RSP0 = top of that CPU's
 * kernel stack. Every TSS's I/O map base points at the one I/O permission
 * bitmap after the array, which allows every port. User code runs with IOPL 3
 * as well, and on hardware IOPL alone would do; the bitmap is for a KVM that
 * ignores IOPL at CPL3 (PVM): its instruction emulator still honours the
 * bitmap when the in/out faults. So CPL3 port I/O works on both, with one
 * exit per access either way. */
	.balign 8192
	.globl tss_array
tss_array:
	.set c, 0
	.rept MAX_CPUS
	.long 0				/* reserved */
	.quad kstacks + (c + 1) * KSTACK_SIZE	/* rsp0 */
	.quad 0, 0			/* rsp1, rsp2 */
	.quad 0				/* reserved */
	.quad 0, 0, 0, 0, 0, 0, 0	/* ist1..ist7 */
	.quad 0				/* reserved */
	.word 0				/* reserved */
	.word IO_BITMAP_OFFSET - c * TSS_STRIDE	/* I/O map base: io_bitmap */
	.fill TSS_STRIDE - 104, 1, 0
	.set c, c + 1
	.endr
	.globl io_bitmap
io_bitmap:			/* tss_array + IO_BITMAP_OFFSET */
	.fill IO_BITMAP_SIZE, 1, 0	/* bit clear: port allowed; all 65536 */
	.byte 0xff		/* the CPU reads two bytes at a time: this one ends the map */

	.section .note.GNU-stack, "", @progbits
