/* SPDX-License-Identifier: MIT */
/*
 * entry.S -- the CPL0 part of the test guest: boot entries, the way to long
 * mode, the drop to CPL3, interrupt stubs, the system-call gate and the SMP
 * trampoline.
 *
 * Under PVM every CPL0 instruction is emulated (~1 us each), so this file is
 * written for instruction count: boot takes ~20 CPL0 instructions from either
 * 64-bit entry to the iretq into CPL3, and all tables are prebuilt data
 * (tables.S). Everything else -- zeroing .bss included -- runs at CPL3.
 *
 * Entry points (see guest/README.md):
 *   0x100000  entry32_linux  boot protocol, 32-bit: ESI = boot_params
 *   0x100200  entry64_linux  boot protocol, 64-bit (startup_64): RSI = boot_params
 *   pvh_entry                PVH (XEN_ELFNOTE_PHYS32_ENTRY): EBX = hvm_start_info
 *   ap_tramp_start           SMP trampoline, copied to AP_TRAMPOLINE_ADDR
 */
#include "vireo/abi/guest_abi.h"
#include "layout.h"

#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define CR0_PE 0x1
#define CR0_PG 0x80000000
#define CR4_PAE 0x20

/* ------------------------------------------------------------------------ */
/* The head: fixed offsets from the load address. */

	.section .text.head, "ax"
	.code32
	.globl entry32_linux
entry32_linux:			/* load address + 0: 32-bit boot protocol entry */
	movw $VIREO_PORT_BOOT_TIMER, %dx
	outb %al, %dx		/* the guest's first I/O */
	movl $BOOT_LINUX32, %edi
	jmp entry32_common

	.org GUEST_ENTRY64_OFFSET, 0xcc
	.code64
	.globl entry64_linux
entry64_linux:			/* load address + 0x200: 64-bit boot protocol entry */
	movw $VIREO_PORT_BOOT_TIMER, %dx
	outb %al, %dx		/* the guest's first I/O */
	movl $BOOT_LINUX64, %edi
	jmp entry64_common

/* ------------------------------------------------------------------------ */
/* 32-bit paths: PVH and the APs (and the 32-bit boot protocol entry). */

	.text
	.code32
	.globl pvh_entry
pvh_entry:
	movw $VIREO_PORT_BOOT_TIMER, %dx
	outb %al, %dx		/* the guest's first I/O */
	movl %ebx, %esi
	movl $BOOT_PVH, %edi
	jmp entry32_common

ap_entry32:			/* from the trampoline, CS = SEL_CODE32 */
	movl $SEL_KDATA, %eax	/* DS still holds its real-mode limit (64 KiB) */
	movl %eax, %ds		/* and gdt_desc lies above it: lgdt would #GP */
	movl $BOOT_AP, %edi

/* Flat 32-bit protected mode, paging off -> long mode with our tables.
 * In: EDI = boot type, ESI = boot info pointer. No stack needed. */
entry32_common:
	lgdt gdt_desc
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_PE), %eax
	movl %eax, %cr0
	ljmp $SEL_KCODE, $entry64_from32

	.code64
entry64_from32:
	movl %esi, %esi		/* upper halves are undefined after the switch */
	movl %edi, %edi
	cmpl $BOOT_AP, %edi
	je ap_entry64

/* Long mode, any identity map and GDT. In: EDI = boot type, RSI = info.
 * Take over with our own GDT, page tables, TSS and IDT, then iretq to CPL3. */
entry64_common:
	lgdt gdt_desc(%rip)
	movl $pml4, %eax
	movq %rax, %cr3
	movl $CR4_PAE, %eax	/* no TSD (rdtsc at CPL3), no SMEP/SMAP (U pages) */
	movq %rax, %cr4
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl $SEL_TSS0, %eax
	ltr %ax
	lidt idt_desc(%rip)
	/* CPL3 runs with interrupts on: mask the 8259s first, whose vectors a
	 * BIOS may have left on the exceptions' (QEMU's PIT: IRQ 0 = #DF). */
	movb $0xff, %al
	outb %al, $0x21
	outb %al, $0xa1
	movl $(kstacks + KSTACK_SIZE), %esp
	pushq $SEL_UDATA
	pushq $bsp_ustack_top
	pushq $USER_RFLAGS
	pushq $SEL_UCODE
	pushq $user_entry
	iretq			/* to CPL3: user_entry(EDI = type, RSI = info) */

/* An AP in long mode: take an index, its TSS and stacks, then iretq to CPL3. */
ap_entry64:
	movl $1, %eax
	lock xaddl %eax, ap_next_index(%rip)
	cmpl $MAX_CPUS, %eax
	jae 2f
	leal SEL_TSS0(,%eax,8), %ecx	/* SEL_TSS0 + 16 * index */
	leal (%ecx,%eax,8), %ecx
	ltr %cx
	lidt idt_desc(%rip)
	imull $KSTACK_SIZE, %eax, %ecx
	leaq (kstacks + KSTACK_SIZE)(%rcx), %rsp
	imull $AP_USTACK_SIZE, %eax, %edx
	leaq (ap_ustacks + AP_USTACK_SIZE)(%rdx), %rdx
	pushq $SEL_UDATA
	pushq %rdx
	pushq $USER_RFLAGS
	pushq $SEL_UCODE
	pushq $ap_user_entry
	movl %eax, %edi
	iretq			/* to CPL3: ap_main(EDI = cpu index) */
2:	cli			/* more CPUs than we have stacks for */
	hlt
	jmp 2b

/* ------------------------------------------------------------------------ */
/* CPL3 entries. */

user_entry:
	movq %rdi, %r12
	movq %rsi, %r13
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	cld
	rep stosb		/* zero .bss at CPL3 */
	movq %r12, %rdi
	movq %r13, %rsi
	call guest_main
	ud2

ap_user_entry:
	call ap_main
	ud2

/* ------------------------------------------------------------------------ */
/* Interrupt stubs: 256 slots of 16 bytes, so the prebuilt IDT (tables.S) can
 * point vector v at isr_table + 16 * v. The linker script checks the size. */

#define HAS_ERROR_CODE(v) \
	(((v) == 8) || (((v) >= 10) && ((v) <= 14)) || ((v) == 17) || ((v) == 21) || \
	 ((v) == 29) || ((v) == 30))

	.balign 4096
	.globl isr_table, isr_table_end
isr_table:
	.set vec, 0
	.rept 256
	.balign 16, 0xcc
	.if vec == VEC_TIMER
	jmp timer_isr
	.elseif vec == VEC_IPI
	jmp ipi_isr
	.elseif vec == VEC_TLB
	jmp tlb_isr
	.elseif vec == VEC_UD
	jmp ud_isr
	.elseif vec >= VEC_MSI_BASE && vec < VEC_MSI_BASE + VEC_MSI_COUNT
	incl msi_counts + 4 * (vec - VEC_MSI_BASE)(%rip)	/* 6 bytes */
	jmp lapic_eoi_iret
	.elseif vec == VEC_SYSCALL
	jmp syscall_isr
	.elseif vec == VEC_SPURIOUS
	iretq			/* LAPIC spurious: no EOI */
	.else
	.if HAS_ERROR_CODE(vec)
	.else
	pushq $0
	.endif
	pushq $vec
	jmp isr_common
	.endif
	.set vec, vec + 1
	.endr
	.balign 16, 0xcc
isr_table_end:

/* LAPIC timer: count and EOI. 7 instructions. The virtio MSI-X stubs
 * (vectors VEC_MSI_BASE..+VEC_MSI_COUNT-1) count in their slot and join at
 * lapic_eoi_iret: 8 instructions. irq_seq counts them all, for SYS_WAIT_IRQ. */
timer_isr:
	incl timer_ticks(%rip)
lapic_eoi_iret:
	incl irq_seq(%rip)
	pushq %rax
	xorl %eax, %eax
	movabs %eax, LAPIC_EOI_ADDR
	popq %rax
	iretq

/* The ipi workload's vector: count, then EOI -- through shared memory when
 * KVM set the PV EOI bit (pv_eoi_word, registered by the one AP that takes
 * these IPIs), else the LAPIC's EOI register. 4 instructions, then
 * lapic_eoi_iret or 2 more. */
ipi_isr:
	incl ipi_count(%rip)
	btrl $0, pv_eoi_word(%rip)
	jnc lapic_eoi_iret
	incl irq_seq(%rip)
	iretq

/* tlb-shootdown's flush request: the whole TLB (CR3 reload), count, EOI.
 * 6 instructions, then lapic_eoi_iret. */
tlb_isr:
	pushq %rax
	movq %cr3, %rax
	movq %rax, %cr3
	popq %rax
	incl tlb_flushes(%rip)
	jmp lapic_eoi_iret

/*
 * #UD. A KVM that runs CPL3 natively but not IDT gates to CPL0 (PVM) turns
 * int $0x80 from CPL3 into #UD at the int. When the bytes at the faulting
 * RIP are `int $0x80`, step over them, as the int would have, and run the
 * gate: 7 instructions more. Anything else is a real #UD, and fatal.
 */
ud_isr:
	pushq %rcx
	movq 8(%rsp), %rcx	/* the faulting RIP */
	cmpw $0x80cd, (%rcx)	/* cd 80: int $0x80 */
	popq %rcx
	jne 1f
	incl gate_ud_entries(%rip)
	addq $2, (%rsp)
	jmp syscall_isr
1:	pushq $0
	pushq $VEC_UD
	jmp isr_common

/*
 * The gate (int $0x80, DPL 3; or ud_isr). EAX = number, EDI/RSI = arguments.
 * Entered through an interrupt gate, so IF is 0 here; iretq restores the
 * caller's (always 1: CPL3 runs with interrupts on, see USER_RFLAGS).
 */
syscall_isr:
	cmpl $SYS_WAIT_IRQ, %eax
	je 1f
	cmpl $SYS_WRMSR, %eax
	je 3f
	cmpl $SYS_RDMSR, %eax
	je 4f
	cmpl $SYS_SET_IOPL, %eax
	je 5f
	cmpl $SYS_CPUID, %eax
	je 7f
	cmpl $SYS_HALT, %eax
	je 2f
	cmpl $SYS_HYPERCALL, %eax
	je 8f
	movq $-1, %rax
	iretq
/* Sleep unless an interrupt came since the caller read irq_seq (ESI): with
 * IF 0 since the gate, none can slip between this check and the hlt, which
 * the sti's interrupt shadow covers. */
1:	cmpl %esi, irq_seq(%rip)
	jne 6f
	sti
	hlt
6:	iretq
2:	hlt			/* IF is 0: for good */
	jmp 2b
3:	movl %edi, %ecx
	movl %esi, %eax
	movq %rsi, %rdx
	shrq $32, %rdx
	wrmsr
	iretq
4:	movl %edi, %ecx
	rdmsr
	shlq $32, %rdx
	orq %rdx, %rax
	iretq
5:	andl $~0x3000, 16(%rsp)	/* the caller's RFLAGS.IOPL = EDI */
	shll $12, %edi
	orl %edi, 16(%rsp)
	iretq
7:	movl %edi, %eax
	movl %esi, %ecx
	cpuid
	iretq
/* KVM hypercall: number in EDI, a0..a3 already in RBX, RCX, RDX, RSI. vmcall
 * on every CPU: KVM emulates it on AMD too (#UD intercept). */
8:	movl %edi, %eax
	vmcall
	iretq

/* Everything else is fatal: save the registers and report (trap_fatal). */
isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	cld
	call trap_fatal
1:	cli
	hlt
	jmp 1b

/* ------------------------------------------------------------------------ */
/* SMP trampoline. Position independent; the BSP copies it to
 * AP_TRAMPOLINE_ADDR and sends SIPI vector AP_TRAMPOLINE_ADDR >> 12. The AP
 * starts in real mode at CS:IP = (addr >> 4):0, loads our GDT and jumps
 * straight into ap_entry32 in the image. */

	.balign 16
	.globl ap_tramp_start, ap_tramp_end
ap_tramp_start:
	.code16
	cli
	lgdtl %cs:(ap_tramp_gdtr - ap_tramp_start)
	movl %cr0, %eax
	orl $CR0_PE, %eax
	movl %eax, %cr0
	ljmpl $SEL_CODE32, $ap_entry32
	.balign 8
ap_tramp_gdtr:
	.word __gdt_limit		/* gdt_end - gdt - 1, from the linker script */
	.long gdt
ap_tramp_end:
	.code64

/* ------------------------------------------------------------------------ */

	.data
	.balign 4
	.globl ap_next_index, timer_ticks, irq_seq, gate_ud_entries, msi_counts
	.globl ipi_count, tlb_flushes, pv_eoi_word
ap_next_index:			/* next AP index; the BSP is 0. Reset by smp.c. */
	.long 1
timer_ticks:			/* incremented by timer_isr */
	.long 0
irq_seq:			/* incremented by every timer and MSI-X interrupt */
	.long 0
gate_ud_entries:		/* int $0x80s that arrived as #UD (ud_isr) */
	.long 0
msi_counts:			/* msi_counts[v - VEC_MSI_BASE]: incremented by the MSI-X stubs */
	.fill VEC_MSI_COUNT, 4, 0
ipi_count:			/* VEC_IPI interrupts taken (all CPUs) */
	.long 0
tlb_flushes:			/* VEC_TLB interrupts taken (all CPUs) */
	.long 0
	.balign 8
pv_eoi_word:			/* MSR_KVM_PV_EOI_EN target of the ipi workload's AP */
	.quad 0

/* PVH entry note: XEN_ELFNOTE_PHYS32_ENTRY, 32-bit physical address. */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4			/* namesz: "Xen\0" */
	.long 4			/* descsz */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long pvh_entry

/* Stacks: not part of .bss, so zeroing .bss at CPL3 never touches a live stack. */
	.section .stacks, "aw", @nobits
	.balign 4096
	.globl kstacks
kstacks:			/* CPL0 stack of CPU i ends at kstacks + (i + 1) * KSTACK_SIZE */
	.skip MAX_CPUS * KSTACK_SIZE
bsp_ustack:
	.skip BSP_USTACK_SIZE
bsp_ustack_top:
ap_ustacks:			/* CPL3 stack of AP i ends at ap_ustacks + (i + 1) * AP_USTACK_SIZE */
	.skip MAX_CPUS * AP_USTACK_SIZE

	.section .note.GNU-stack, "", @progbits
