/* SPDX-License-Identifier: MIT */
/*
 * regs.c -- boot GDT, identity page tables and the registers of each entry.
 *
 * The segment caches we hand KVM must agree with the GDT we write into guest
 * memory: a guest that reloads a selector must get what it already had.
 */
#include "vireo/lib/util.h"
#include "vireo/arch/x86/regs.h"
#include "vireo/arch/x86/layout.h"

#include <string.h>

#define CR0_PE	 (1ull << 0)
#define CR0_MP	 (1ull << 1)
#define CR0_ET	 (1ull << 4)
#define CR0_NE	 (1ull << 5)
#define CR0_PG	 (1ull << 31)
#define CR4_PAE	 (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

#define PTE_P  (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_PS (1ull << 7)

/* flags in the descriptor's bits 40..55, as Linux's GDT_ENTRY() takes them. */
#define GDT_ENTRY(flags, base, limit)                                                              \
	((((base)&0xff000000ull) << (56 - 24)) | (((uint64_t)(flags)&0xf0ffull) << 40) |           \
	 (((limit)&0xf0000ull) << (48 - 16)) | (((base)&0x00ffffffull) << 16) |                    \
	 ((limit)&0x0ffffull))

const uint64_t boot_gdt[6] = {
    [0] = 0,
    [BOOT_CS32 >> 3] = GDT_ENTRY(0xc09b, 0, 0xfffff), /* 32-bit code, 4 GiB */
    [BOOT_CS64 >> 3] = GDT_ENTRY(0xa09b, 0, 0xfffff), /* 64-bit code */
    [BOOT_DS >> 3] = GDT_ENTRY(0xc093, 0, 0xfffff),   /* data, 4 GiB */
    [BOOT_TSS >> 3] = GDT_ENTRY(0x008b, 0, 0x67),     /* busy TSS (16 bytes in long mode) */
    [5] = 0,					      /* its upper half: base 63..32 = 0 */
};

struct kvm_segment segment_from_descriptor(uint64_t d, uint16_t selector)
{
	struct kvm_segment s = {
	    .base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24),
	    .limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000)),
	    .selector = selector,
	    .type = (d >> 40) & 0xf,
	    .present = (d >> 47) & 1,
	    .dpl = (d >> 45) & 3,
	    .db = (d >> 54) & 1,
	    .s = (d >> 44) & 1,
	    .l = (d >> 53) & 1,
	    .g = (d >> 55) & 1,
	    .avl = (d >> 52) & 1,
	};

	if (s.g) /* the cache holds the limit in bytes */
		s.limit = (s.limit << 12) | 0xfff;
	s.unusable = !s.present;
	return s;
}

int boot_write_gdt_and_page_tables(struct gmem *mem)
{
	uint64_t *pml4 = gmem_ptr(mem, gpa(BOOT_PML4_ADDR), 4096);
	uint64_t *pdpt = gmem_ptr(mem, gpa(BOOT_PDPT_ADDR), 4096);
	uint64_t *pd = gmem_ptr(mem, gpa(BOOT_PD_ADDR), 4 * 4096);

	if (!pml4 || !pdpt || !pd ||
	    !gmem_write(mem, gpa(BOOT_GDT_ADDR), boot_gdt, sizeof(boot_gdt)))
		return -1;
	/* Identity-map 4 GiB with 2 MiB pages: the 64-bit entry needs the
	 * kernel, boot_params, command line and initrd reachable. */
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT_ADDR | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_ADDR + i * 4096) | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
	return 0;
}

static void set_flat_segments(struct kvm_sregs *s, uint16_t cs)
{
	struct kvm_segment data = segment_from_descriptor(boot_gdt[BOOT_DS >> 3], BOOT_DS);

	s->cs = segment_from_descriptor(boot_gdt[cs >> 3], cs);
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->tr = segment_from_descriptor(boot_gdt[BOOT_TSS >> 3], BOOT_TSS);
	s->gdt.base = BOOT_GDT_ADDR;
	s->gdt.limit = sizeof(boot_gdt) - 1;
	/* No IDT: interrupts stay off until the kernel installs its own. */
	s->idt.base = 0;
	s->idt.limit = 0;
}

void boot_regs(const struct kernel_image *k, struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	memset(regs, 0, sizeof(*regs));
	regs->rflags = 0x2; /* bit 1 is reserved, always set; IF off */
	regs->rip = k->entry;

	if (k->format == KERNEL_BZIMAGE) {
		/* Linux boot protocol, 64-bit entry: long mode, identity paging,
		 * __BOOT_CS/__BOOT_DS, RSI = boot_params. */
		set_flat_segments(sregs, BOOT_CS64);
		sregs->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_PG;
		sregs->cr3 = BOOT_PML4_ADDR;
		sregs->cr4 = CR4_PAE;
		sregs->efer = EFER_LME | EFER_LMA;
		regs->rsi = BOOT_ZEROPAGE_ADDR;
		regs->rsp = regs->rbp = BOOT_STACK_ADDR;
	} else {
		/* PVH: 32-bit protected mode, paging off, EBX = hvm_start_info. */
		set_flat_segments(sregs, BOOT_CS32);
		sregs->cr0 = CR0_PE | CR0_ET;
		sregs->cr3 = 0;
		sregs->cr4 = 0;
		sregs->efer = 0;
		regs->rbx = BOOT_ZEROPAGE_ADDR;
	}
}

void boot_fpu(struct kvm_fpu *fpu)
{
	memset(fpu, 0, sizeof(*fpu));
	fpu->fcw = 0x37f;    /* FNINIT: all x87 exceptions masked, 64-bit precision */
	fpu->mxcsr = 0x1f80; /* all SSE exceptions masked */
}

unsigned boot_msrs(struct boot_msr *out, unsigned max)
{
	static const struct boot_msr msrs[] = {
	    {0x174, 0},		     /* IA32_SYSENTER_CS */
	    {0x175, 0},		     /* IA32_SYSENTER_ESP */
	    {0x176, 0},		     /* IA32_SYSENTER_EIP */
	    {0xc0000081, 0},	     /* STAR */
	    {0xc0000082, 0},	     /* LSTAR */
	    {0xc0000083, 0},	     /* CSTAR */
	    {0xc0000084, 0},	     /* SYSCALL_MASK */
	    {0xc0000102, 0},	     /* KERNEL_GS_BASE */
	    {0x1a0, 1},		     /* IA32_MISC_ENABLE: fast strings */
	    {0x2ff, (1u << 11) | 6}, /* MTRRdefType: MTRRs on, default write-back */
	};
	unsigned n = ARRAY_SIZE(msrs) < max ? ARRAY_SIZE(msrs) : max;

	memcpy(out, msrs, n * sizeof(*out));
	return n;
}
