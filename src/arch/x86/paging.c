/* SPDX-License-Identifier: MIT */
/*
 * paging.c -- a vCPU's mode and privilege level, and a read-only walk of its
 * page tables (Intel SDM vol. 3A, chapter 4), for reporting where it stopped.
 */
#include "vireo/arch/x86/paging.h"

#include "vireo/lib/util.h"

#define PAGE_SIZE     0x1000ull
#define PAE_ADDR_MASK 0x000ffffffffff000ull /* bits 51:12 of a 64-bit entry */

enum x86_cpu_mode x86_cpu_mode(const struct kvm_sregs *s, uint64_t rflags)
{
	if (!(s->cr0 & X86_CR0_PE))
		return X86_MODE_REAL;
	if (s->efer & X86_EFER_LMA) {
		if (s->cs.l)
			return X86_MODE_LONG64;
		return s->cs.db ? X86_MODE_COMPAT32 : X86_MODE_COMPAT16;
	}
	/* RFLAGS.VM only counts in legacy protected mode; long mode has no vm86. */
	if (rflags & X86_RFLAGS_VM)
		return X86_MODE_VM86;
	return s->cs.db ? X86_MODE_PROT32 : X86_MODE_PROT16;
}

const char *x86_cpu_mode_name(enum x86_cpu_mode mode)
{
	static const char *const names[] = {
	    [X86_MODE_REAL] = "real",	      [X86_MODE_VM86] = "vm86",
	    [X86_MODE_PROT16] = "prot16",     [X86_MODE_PROT32] = "prot32",
	    [X86_MODE_COMPAT16] = "compat16", [X86_MODE_COMPAT32] = "compat32",
	    [X86_MODE_LONG64] = "long64",
	};

	if ((unsigned)mode >= ARRAY_SIZE(names) || !names[mode])
		return "?";
	return names[mode];
}

unsigned x86_cpl(const struct kvm_sregs *s, enum x86_cpu_mode mode)
{
	if (mode == X86_MODE_REAL)
		return 0;
	if (mode == X86_MODE_VM86)
		return 3;
	return s->ss.dpl & 3;
}

uint64_t x86_code_address(const struct kvm_sregs *s, enum x86_cpu_mode mode, uint64_t rip)
{
	/* 64-bit mode ignores the CS base; elsewhere linear addresses are 32 bits. */
	if (mode == X86_MODE_LONG64)
		return rip;
	return (uint32_t)(s->cs.base + rip);
}

static bool read_entry64(const struct gmem *mem, uint64_t addr, uint64_t *e)
{
	return gmem_read(mem, gpa(addr), e, sizeof(*e));
}

/* 32-bit paging: a page directory of 1024 4-byte entries, 4 KiB or 4 MiB pages. */
static bool walk32(const struct gmem *mem, const struct kvm_sregs *s, uint32_t la, gpa_t *out)
{
	uint32_t pde, pte;

	if (!gmem_read(mem, gpa((s->cr3 & 0xfffff000u) + (la >> 22) * 4ull), &pde, sizeof(pde)) ||
	    !(pde & X86_PTE_PRESENT))
		return false;
	if ((pde & X86_PTE_PS) && (s->cr4 & X86_CR4_PSE)) {
		/* PSE-36: PDE bits 20:13 are physical address bits 39:32. */
		uint64_t high = (uint64_t)((pde >> 13) & 0xff) << 32;

		*out = gpa(high | (pde & 0xffc00000u) | (la & 0x3fffffu));
		return true;
	}
	if (!gmem_read(mem, gpa((pde & 0xfffff000u) + ((la >> 12) & 0x3ff) * 4ull), &pte,
		       sizeof(pte)) ||
	    !(pte & X86_PTE_PRESENT))
		return false;
	*out = gpa((pte & 0xfffff000u) | (la & 0xfffu));
	return true;
}

/*
 * The 512-entry levels shared by PAE and long mode, from the table at `table`
 * whose entries each cover 2^shift bytes, down to a 4 KiB page. A large-page
 * bit maps 1 GiB at shift 30 and 2 MiB at 21; above that it is reserved.
 */
static bool walk_levels(const struct gmem *mem, uint64_t table, unsigned shift, uint64_t la,
			gpa_t *out)
{
	for (;; shift -= 9) {
		uint64_t e;

		if (!read_entry64(mem, table + ((la >> shift) & 0x1ff) * 8, &e) ||
		    !(e & X86_PTE_PRESENT))
			return false;
		if (shift == 12 || (e & X86_PTE_PS)) {
			uint64_t size = 1ull << shift;

			if (shift > 30)
				return false;
			*out = gpa((e & PAE_ADDR_MASK & ~(size - 1)) | (la & (size - 1)));
			return true;
		}
		table = e & PAE_ADDR_MASK;
	}
}

/* PAE: CR3 points at four PDPTEs, each a page directory covering 1 GiB. */
static bool walk_pae(const struct gmem *mem, const struct kvm_sregs *s, uint32_t la, gpa_t *out)
{
	uint64_t pdpte;

	if (!read_entry64(mem, (s->cr3 & 0xffffffe0u) + (la >> 30) * 8ull, &pdpte) ||
	    !(pdpte & X86_PTE_PRESENT))
		return false;
	return walk_levels(mem, pdpte & PAE_ADDR_MASK, 21, la, out);
}

/* 4- or 5-level paging; a non-canonical address has no translation. */
static bool walk_long(const struct gmem *mem, const struct kvm_sregs *s, uint64_t la, gpa_t *out)
{
	unsigned top = s->cr4 & X86_CR4_LA57 ? 48 : 39;
	unsigned bits = top + 9; /* 48 or 57 significant bits, sign-extended */
	int64_t sext = (int64_t)(la << (64 - bits)) >> (64 - bits);

	if ((uint64_t)sext != la)
		return false;
	return walk_levels(mem, s->cr3 & PAE_ADDR_MASK, top, la, out);
}

bool x86_translate(const struct gmem *mem, const struct kvm_sregs *s, uint64_t la, gpa_t *out)
{
	if (!(s->cr0 & X86_CR0_PG)) {
		*out = gpa(s->efer & X86_EFER_LMA ? la : (uint32_t)la);
		return true;
	}
	if (s->efer & X86_EFER_LMA)
		return walk_long(mem, s, la, out);
	if (s->cr4 & X86_CR4_PAE)
		return walk_pae(mem, s, (uint32_t)la, out);
	return walk32(mem, s, (uint32_t)la, out);
}

size_t x86_read_linear(const struct gmem *mem, const struct kvm_sregs *s, uint64_t la, void *dst,
		       size_t len)
{
	uint8_t *d = dst;
	size_t done = 0;

	while (done < len) {
		uint64_t at = la + done;
		size_t chunk = PAGE_SIZE - (at & (PAGE_SIZE - 1));
		gpa_t pa;

		if (chunk > len - done)
			chunk = len - done;
		if (!x86_translate(mem, s, at, &pa) || !gmem_read(mem, pa, d + done, chunk))
			break;
		done += chunk;
	}
	return done;
}
