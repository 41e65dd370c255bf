/* SPDX-License-Identifier: MIT */
/*
 * layout.h -- constants shared by the test guest's C and assembler sources.
 *
 * Only #defines: included from .S files too.
 */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

/* Load address of the image (linker script, bzImage code32_start/pref_address). */
#define GUEST_LOAD_ADDR 0x100000
/* Offset of the 64-bit boot-protocol entry (Linux startup_64). */
#define GUEST_ENTRY64_OFFSET 0x200

/* How we were entered; passed from the CPL0 entry code to guest_main in %edi. */
#define BOOT_PVH     1 /* PVH: 32-bit, EBX = hvm_start_info */
#define BOOT_LINUX64 2 /* boot protocol 64-bit entry: RSI = boot_params */
#define BOOT_LINUX32 3 /* boot protocol 32-bit entry: ESI = boot_params */
#define BOOT_AP	     4 /* application processor from the SMP trampoline */

/* GDT selectors (the first three as the Linux boot protocol names them). */
#define SEL_CODE32  0x08 /* 32-bit flat code, used on the way to long mode */
#define SEL_KCODE   0x10 /* 64-bit kernel code (__BOOT_CS) */
#define SEL_KDATA   0x18 /* kernel data (__BOOT_DS) */
#define SEL_UCODE32 0x23 /* unused 32-bit user code, keeps the SYSRET layout */
#define SEL_UDATA   0x2b /* user data / stack, RPL 3 */
#define SEL_UCODE   0x33 /* 64-bit user code, RPL 3 */
#define SEL_TSS0    0x38 /* TSS of CPU 0; CPU i uses SEL_TSS0 + 16 * i */

#define MAX_CPUS 64

/* Per-CPU stacks. TSS stride 128 bytes: MAX_CPUS TSSs fill 8 KiB. */
#define TSS_STRIDE	128
#define KSTACK_SIZE	4096  /* CPL0 stack of each CPU (TSS.RSP0) */
#define BSP_USTACK_SIZE 65536 /* CPL3 stack of the BSP */
#define AP_USTACK_SIZE	8192  /* CPL3 stack of each AP */

/* The one I/O permission bitmap every TSS shares: right after the TSS array,
 * one bit per port (tables.S). */
#define IO_BITMAP_OFFSET (MAX_CPUS * TSS_STRIDE)
#define IO_BITMAP_SIZE	 (65536 / 8)

/*
 * User-mode RFLAGS: IOPL 3, IF 1, bit 1. CPL3 code runs with interrupts on
 * and never uses cli/sti: a KVM that runs CPL3 natively (PVM) keeps IF set
 * there whatever the guest asks, and faults cli/sti. IOPL 3 lets in/out
 * through on hardware; the TSS I/O bitmap does where IOPL is ignored.
 */
#define USER_RFLAGS 0x3202

/* Interrupt vectors. */
#define VEC_UD	      0x06 /* #UD: also int $0x80 where it arrives as #UD */
#define VEC_TIMER     0x40 /* LAPIC timer */
#define VEC_IPI	      0x41 /* ipi workload: count, EOI */
#define VEC_TLB	      0x42 /* tlb-shootdown workload: reload CR3, count, EOI */
#define VEC_MSI_BASE  0x50 /* virtio MSI-X vectors: count, EOI */
#define VEC_MSI_COUNT 16
#define VEC_SYSCALL   0x80 /* the CPL3 -> CPL0 gate (DPL 3) */
#define VEC_SPURIOUS  0xff /* LAPIC spurious vector */

/* System calls through int $0x80: number in %eax, arguments in %rdi, %rsi. */
#define SYS_WAIT_IRQ  1 /* hlt until an interrupt, unless irq_seq != %esi already */
#define SYS_HALT      2 /* hlt forever, interrupts off */
#define SYS_WRMSR     3 /* wrmsr(%edi, %rsi) */
#define SYS_RDMSR     4 /* %rax = rdmsr(%edi) */
#define SYS_SET_IOPL  5 /* the caller's RFLAGS.IOPL = %edi (0..3) */
#define SYS_CPUID     6 /* cpuid(leaf %edi, subleaf %esi) into eax, ebx, ecx, edx */
#define SYS_HYPERCALL 7 /* KVM hypercall %edi, a0..a3 in rbx, rcx, rdx, rsi; result in rax */

/* SMP trampoline: copied below 1 MiB, SIPI vector = address >> 12. */
#define AP_TRAMPOLINE_ADDR 0x8000

/*
 * Guest RAM the virtio driver takes for itself (rings, then request buffers):
 * from 16 MiB up, above the image (link.ld keeps it below 16 MiB). The first
 * MiB holds the rings, the rest is scratch for each workload's buffers.
 */
#define GUEST_DMA_BASE	   0x1000000
#define GUEST_DMA_RING_LEN 0x100000

/* The xAPIC page (also hard-coded in the timer ISR). */
#define LAPIC_BASE     0xfee00000
#define LAPIC_EOI_ADDR 0xfee000b0

#endif
