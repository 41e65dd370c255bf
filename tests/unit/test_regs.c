/* SPDX-License-Identifier: MIT */
/*
 * test_regs.c -- the boot GDT, its decoded segment caches, the identity page
 * tables and the registers of both entry paths, plus FPU and boot MSRs.
 */
#include "unit.h"

#include "vireo/arch/x86/regs.h"

#define CR0_PE	 (1ull << 0)
#define CR0_PG	 (1ull << 31)
#define CR4_PAE	 (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

/* A descriptor from its parts, written out bit by bit (Intel SDM vol. 3, 3.4.5). */
static uint64_t make_desc(uint32_t base, uint32_t limit, unsigned type, unsigned s, unsigned dpl,
			  unsigned p, unsigned avl, unsigned l, unsigned db, unsigned g)
{
	return (uint64_t)(limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
	       (uint64_t)(type & 0xf) << 40 | (uint64_t)s << 44 | (uint64_t)(dpl & 3) << 45 |
	       (uint64_t)p << 47 | (uint64_t)(limit >> 16 & 0xf) << 48 | (uint64_t)avl << 52 |
	       (uint64_t)l << 53 | (uint64_t)db << 54 | (uint64_t)g << 55 |
	       (uint64_t)(base >> 24) << 56;
}

static void test_segment_decoding(void **state)
{
	struct kvm_segment s;

	(void)state;
	/* Byte granular: the limit is taken as is; every base byte lands. */
	s = segment_from_descriptor(make_desc(0x12345678, 0xabcde, 0x3, 1, 3, 1, 1, 0, 1, 0), 0x2b);
	assert_int_equal(s.base, 0x12345678);
	assert_int_equal(s.limit, 0xabcde);
	assert_int_equal(s.selector, 0x2b);
	assert_int_equal(s.type, 3);
	assert_int_equal(s.s, 1);
	assert_int_equal(s.dpl, 3);
	assert_int_equal(s.present, 1);
	assert_int_equal(s.avl, 1);
	assert_int_equal(s.l, 0);
	assert_int_equal(s.db, 1);
	assert_int_equal(s.g, 0);
	assert_int_equal(s.unusable, 0);

	/* Page granular: the cache holds the limit in bytes. */
	s = segment_from_descriptor(make_desc(0, 0xabcde, 0xb, 1, 0, 1, 0, 1, 0, 1), 0x10);
	assert_int_equal(s.limit, 0xabcdefff);
	assert_int_equal(s.l, 1);
	assert_int_equal(s.db, 0);
	assert_int_equal(s.g, 1);
	s = segment_from_descriptor(make_desc(0, 0xfffff, 0x3, 1, 0, 1, 0, 0, 1, 1), 0x18);
	assert_int_equal(s.limit, 0xffffffff);
	s = segment_from_descriptor(make_desc(0, 0, 0x3, 1, 0, 1, 0, 0, 1, 1), 0x18);
	assert_int_equal(s.limit, 0xfff);

	/* Not present: unusable. */
	s = segment_from_descriptor(0, 0);
	assert_int_equal(s.present, 0);
	assert_int_equal(s.unusable, 1);
}

/* Each boot GDT entry decodes to what its comment promises. */
static void test_boot_gdt(void **state)
{
	struct kvm_segment cs32, cs64, ds, tss;

	(void)state;
	assert_int_equal(boot_gdt[0], 0);
	cs32 = segment_from_descriptor(boot_gdt[BOOT_CS32 >> 3], BOOT_CS32);
	cs64 = segment_from_descriptor(boot_gdt[BOOT_CS64 >> 3], BOOT_CS64);
	ds = segment_from_descriptor(boot_gdt[BOOT_DS >> 3], BOOT_DS);
	tss = segment_from_descriptor(boot_gdt[BOOT_TSS >> 3], BOOT_TSS);

	/* Flat 4 GiB 32-bit code, execute/read, accessed. */
	assert_int_equal(boot_gdt[BOOT_CS32 >> 3], make_desc(0, 0xfffff, 0xb, 1, 0, 1, 0, 0, 1, 1));
	assert_int_equal(cs32.base, 0);
	assert_int_equal(cs32.limit, 0xffffffff);
	assert_int_equal(cs32.db, 1);
	assert_int_equal(cs32.l, 0);
	/* 64-bit code: L=1, D=0. */
	assert_int_equal(boot_gdt[BOOT_CS64 >> 3], make_desc(0, 0xfffff, 0xb, 1, 0, 1, 0, 1, 0, 1));
	assert_int_equal(cs64.l, 1);
	assert_int_equal(cs64.db, 0);
	assert_int_equal(cs64.type, 0xb);
	/* Flat data, read/write, accessed. */
	assert_int_equal(boot_gdt[BOOT_DS >> 3], make_desc(0, 0xfffff, 0x3, 1, 0, 1, 0, 0, 1, 1));
	assert_int_equal(ds.limit, 0xffffffff);
	assert_int_equal(ds.type, 3);
	/* Busy 64-bit TSS, a system descriptor (S=0), byte granular. */
	assert_int_equal(tss.type, 0xb);
	assert_int_equal(tss.s, 0);
	assert_int_equal(tss.present, 1);
	assert_int_equal(tss.limit, 0x67);
	assert_int_equal(tss.g, 0);
	assert_int_equal(boot_gdt[(BOOT_TSS >> 3) + 1], 0); /* base 63..32 */
	for (unsigned i = 1; i < 5; i++)
		assert_true(boot_gdt[i] >> 47 & 1); /* every used entry present */
}

static void check_flat(const struct kvm_segment *s, uint16_t sel)
{
	struct kvm_segment want = segment_from_descriptor(boot_gdt[sel >> 3], sel);

	assert_int_equal(s->selector, sel);
	assert_memory_equal(s, &want, sizeof(want));
	assert_int_equal(s->base, 0);
	assert_int_equal(s->limit, 0xffffffff);
	assert_int_equal(s->present, 1);
	assert_int_equal(s->s, 1);
	assert_int_equal(s->unusable, 0);
}

static void test_boot_regs_bzimage(void **state)
{
	struct kernel_image k = {.format = KERNEL_BZIMAGE, .entry = 0x100200};
	struct kvm_regs r;
	struct kvm_sregs s;

	(void)state;
	memset(&r, 0xff, sizeof(r));
	memset(&s, 0, sizeof(s));
	boot_regs(&k, &r, &s);
	assert_int_equal(r.rip, 0x100200);
	assert_int_equal(r.rsi, BOOT_ZEROPAGE_ADDR);
	assert_int_equal(r.rflags, 0x2);
	assert_int_equal(r.rsp, BOOT_STACK_ADDR);
	assert_int_equal(r.rax, 0); /* the rest cleared */
	assert_int_equal(r.rbx, 0);
	assert_int_equal(r.rdi, 0);

	assert_true(s.cr0 & CR0_PE);
	assert_true(s.cr0 & CR0_PG);
	assert_true(s.cr4 & CR4_PAE);
	assert_true(s.efer & EFER_LME);
	assert_true(s.efer & EFER_LMA);
	assert_int_equal(s.cr3, BOOT_PML4_ADDR);

	assert_int_equal(s.cs.selector, 0x10);
	assert_int_equal(s.cs.l, 1);
	assert_int_equal(s.cs.db, 0);
	assert_int_equal(s.cs.type, 0xb);
	assert_int_equal(s.cs.present, 1);
	check_flat(&s.ds, 0x18);
	check_flat(&s.es, 0x18);
	check_flat(&s.fs, 0x18);
	check_flat(&s.gs, 0x18);
	check_flat(&s.ss, 0x18);
	assert_int_equal(s.tr.selector, BOOT_TSS);
	assert_int_equal(s.tr.type, 0xb);
	assert_int_equal(s.gdt.base, BOOT_GDT_ADDR);
	assert_int_equal(s.gdt.limit, sizeof(boot_gdt) - 1);
}

static void test_boot_regs_pvh(void **state)
{
	struct kernel_image k = {.format = KERNEL_PVH_ELF, .entry = 0x1000040};
	struct kvm_regs r;
	struct kvm_sregs s;

	(void)state;
	memset(&r, 0xff, sizeof(r));
	memset(&s, 0xff, sizeof(s)); /* stale long-mode state must be cleared */
	boot_regs(&k, &r, &s);
	assert_int_equal(r.rip, 0x1000040);
	assert_int_equal(r.rbx, BOOT_ZEROPAGE_ADDR);
	assert_int_equal(r.rflags, 0x2);
	assert_int_equal(r.rsi, 0);

	assert_true(s.cr0 & CR0_PE);
	assert_false(s.cr0 & CR0_PG);
	assert_int_equal(s.cr4, 0);
	assert_int_equal(s.efer, 0);

	check_flat(&s.cs, 0x08);
	assert_int_equal(s.cs.db, 1);
	assert_int_equal(s.cs.l, 0);
	assert_int_equal(s.cs.type, 0xb);
	check_flat(&s.ds, 0x18);
	check_flat(&s.ss, 0x18);
	assert_int_equal(s.gdt.base, BOOT_GDT_ADDR);
	assert_int_equal(s.gdt.limit, sizeof(boot_gdt) - 1);
}

/* Translate a virtual address through the 4-level tables at CR3 in fake memory. */
static bool translate(struct fake_mem *f, uint64_t cr3, uint64_t va, uint64_t *pa)
{
	const uint64_t addr_mask = 0x000ffffffffff000ull;
	uint64_t e;

	e = get64(fake_at(f, (cr3 & addr_mask) + (va >> 39 & 511) * 8, 8), 0);
	if (!(e & 1) || !(e & 2))
		return false;
	e = get64(fake_at(f, (e & addr_mask) + (va >> 30 & 511) * 8, 8), 0);
	if (!(e & 1) || !(e & 2))
		return false;
	if (e & 0x80) { /* 1 GiB page: not what we build */
		fail_msg("unexpected 1 GiB page for 0x%llx", (unsigned long long)va);
	}
	e = get64(fake_at(f, (e & addr_mask) + (va >> 21 & 511) * 8, 8), 0);
	if (!(e & 1) || !(e & 2) || !(e & 0x80)) /* present, writable, 2 MiB */
		return false;
	*pa = (e & 0x000fffffffe00000ull) | (va & 0x1fffff);
	return true;
}

static void test_page_tables_identity(void **state)
{
	static const uint64_t addrs[] = {
	    0,		0x1234,	    0x1fffff,	0x200000,   0x7000,	0x100200,
	    0x3fffffff, 0x40000000, 0x7fffffff, 0x80000000, 0xbfffffff, 0xc0000000,
	    0xfec00000, 0xfee00000, 0xfffff000, 0xffffffff,
	};
	struct fake_mem f;
	uint8_t gdt[sizeof(boot_gdt)];
	uint64_t pa;

	(void)state;
	fake_mem_init(&f, MIB(32));
	memset(f.buf, 0xcc, 0x8000); /* stale bytes the tables must overwrite */
	assert_int_equal(boot_write_gdt_and_page_tables(&f.m), 0);
	for (unsigned i = 0; i < ARRAY_SIZE(addrs); i++) {
		if (!translate(&f, BOOT_PML4_ADDR, addrs[i], &pa))
			fail_msg("0x%llx not mapped", (unsigned long long)addrs[i]);
		assert_int_equal(pa, addrs[i]);
	}
	/* Every 2 MiB page of the first 4 GiB, and nothing above. */
	for (uint64_t va = 0; va < GIB(4); va += MIB(2)) {
		assert_true(translate(&f, BOOT_PML4_ADDR, va + 0x1234, &pa));
		assert_int_equal(pa, va + 0x1234);
	}
	assert_false(translate(&f, BOOT_PML4_ADDR, GIB(4), &pa));
	assert_false(translate(&f, BOOT_PML4_ADDR, 1ull << 39, &pa));
	/* The GDT is where the sregs say. */
	assert_true(gmem_read(&f.m, gpa(BOOT_GDT_ADDR), gdt, sizeof(gdt)));
	assert_memory_equal(gdt, boot_gdt, sizeof(boot_gdt));
	fake_mem_free(&f);
}

static void test_page_tables_need_ram(void **state)
{
	uint8_t buf[0x4000];
	struct gmem m;

	(void)state;
	/* 16 KiB of RAM: the PDs at 0x3000..0x6fff do not fit. */
	gmem_layout(&m, buf, sizeof(buf));
	assert_int_equal(boot_write_gdt_and_page_tables(&m), -1);
}

static void test_fpu_and_msrs(void **state)
{
	struct kvm_fpu fpu;
	struct boot_msr msrs[32], few[2];
	unsigned n;
	bool misc = false, mtrr = false;

	(void)state;
	memset(&fpu, 0xff, sizeof(fpu));
	boot_fpu(&fpu);
	assert_int_equal(fpu.fcw, 0x37f);
	assert_int_equal(fpu.mxcsr, 0x1f80);
	assert_int_equal(fpu.fsw, 0);

	n = boot_msrs(msrs, ARRAY_SIZE(msrs));
	assert_true(n >= 10);
	for (unsigned i = 0; i < n; i++) {
		if (msrs[i].index == 0x1a0) {
			misc = true;
			assert_true(msrs[i].value & 1); /* fast strings */
		} else if (msrs[i].index == 0x2ff) {
			mtrr = true;
			assert_true(msrs[i].value & (1u << 11));   /* MTRRs enabled */
			assert_int_equal(msrs[i].value & 0xff, 6); /* default write-back */
		} else {
			assert_int_equal(msrs[i].value, 0);
		}
	}
	assert_true(misc && mtrr);
	/* A short array gets only what fits. */
	assert_int_equal(boot_msrs(few, ARRAY_SIZE(few)), 2);
	assert_int_equal(few[0].index, msrs[0].index);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_segment_decoding),
	    cmocka_unit_test(test_boot_gdt),
	    cmocka_unit_test(test_boot_regs_bzimage),
	    cmocka_unit_test(test_boot_regs_pvh),
	    cmocka_unit_test(test_page_tables_identity),
	    cmocka_unit_test(test_page_tables_need_ram),
	    cmocka_unit_test(test_fpu_and_msrs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
