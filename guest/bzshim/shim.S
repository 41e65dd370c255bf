/* SPDX-License-Identifier: MIT */
/*
 * shim.S -- entry and exits of the bzImage test shim (a PVH kernel, 32-bit).
 * QEMU enters shim_pvh_entry with EBX = hvm_start_info; shim_main() loads the
 * bzImage module and returns here through enter64() or enter32().
 */
	.section .text.entry, "ax"
	.code32
	.globl shim_pvh_entry
shim_pvh_entry:
	cli
	movl $shim_stack_top, %esp
	pushl %ebx
	call shim_main		/* does not return */
1:	hlt
	jmp 1b

/* void enter64(uint32_t gdtr, uint32_t pml4, uint32_t boot_params, uint32_t entry)
 * Long mode with the loader's GDT (CS 0x10, DS 0x18) and identity map, then
 * jump to entry with RSI = boot_params, like vireo's bzImage path. */
	.globl enter64
enter64:
	movl 4(%esp), %eax
	lgdt (%eax)
	movl 8(%esp), %eax
	movl %eax, %cr3
	movl 12(%esp), %esi
	movl 16(%esp), %edi
	movl %cr4, %eax
	orl $0x20, %eax		/* PAE */
	movl %eax, %cr4
	movl $0xc0000080, %ecx
	rdmsr
	orl $0x100, %eax	/* LME */
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax	/* PG | PE */
	movl %eax, %cr0
	ljmp $0x10, $1f
	.code64
1:	movl $0x18, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %esi, %esi
	movl %edi, %edi
	movl $0x8ff0, %esp
	xorl %eax, %eax
	xorl %ebx, %ebx
	xorl %ebp, %ebp
	jmp *%rdi
	.code32

/* void enter32(uint32_t gdtr, uint32_t boot_params, uint32_t entry)
 * The 32-bit boot protocol: flat protected mode, paging off, ESI = boot_params. */
	.globl enter32
enter32:
	movl 4(%esp), %eax
	lgdt (%eax)
	movl 8(%esp), %esi
	movl 12(%esp), %edi
	ljmp $0x10, $1f
1:	movl $0x18, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl $0x8ff0, %esp
	xorl %eax, %eax
	xorl %ebx, %ebx
	xorl %ebp, %ebp
	jmp *%edi

	.section .note.Xen, "a", @note
	.balign 4
	.long 4, 4, 18
	.asciz "Xen"
	.long shim_pvh_entry

	.section .bss
	.balign 16
	.skip 16384
shim_stack_top:

	.section .note.GNU-stack, "", @progbits
