/* SPDX-License-Identifier: MIT */
/*
 * startup-guest.S -- the smallest guest bench/startup boots: a PVH ELF whose
 * 32-bit entry marks its first instruction and leaves at once.
 *
 *   out 0x4f4        vireo's boot timer (boot.first_instruction_us); the
 *                    bare program times it too; QEMU ignores the port
 *   out 'X', 0x3f8   one byte on COM1: the bench times its arrival, the
 *                    same way for every VMM
 *   out 0, 0xf4      debug-exit, code 0: exit status 1 (vireo, QEMU, bare)
 *
 * No stack, no memory access, no paging: nothing a VMM has to set up
 * beyond the PVH entry state, so what is timed is the VMM alone.
 */
	.code32
	.section .text.entry, "ax"
	.globl pvh_entry
pvh_entry:
	movw $0x4f4, %dx
	outb %al, %dx
	movw $0x3f8, %dx
	movb $'X', %al
	outb %al, %dx
	xorl %eax, %eax
	outb %al, $0xf4
1:	hlt
	jmp 1b

/* PVH entry note: XEN_ELFNOTE_PHYS32_ENTRY, the 32-bit physical entry. */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4			/* namesz: "Xen\0" */
	.long 4			/* descsz */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long pvh_entry

	.section .note.GNU-stack, "", @progbits
