/* SPDX-License-Identifier: MIT */
/*
 * test_paging.c -- a vCPU's mode, CPL and code address from its registers,
 * and the page-table walk over page tables built in fake guest memory: no
 * paging, 32-bit (4 KiB, 4 MiB), PAE (4 KiB, 2 MiB), 4- and 5-level long
 * mode (4 KiB, 2 MiB, 1 GiB), not-present entries and tables outside RAM.
 */
#include "unit.h"

#include "vireo/arch/x86/paging.h"

#define RAM	 MIB(64)
#define P	 X86_PTE_PRESENT
#define RW	 (1ull << 1)
#define PS	 X86_PTE_PS
#define NX	 (1ull << 63)
#define PAT_BIG	 (1ull << 12) /* PAT bit of a 2 MiB or 1 GiB entry: not an address bit */
#define CR0_PROT (X86_CR0_PE | X86_CR0_PG)

/* A kernel text address, as Linux maps it: every index differs. */
#define KERNEL_LA 0xffffffff81234567ull

static unsigned idx(uint64_t la, unsigned shift)
{
	return (unsigned)((la >> shift) & 0x1ff);
}

static void put_entry(struct fake_mem *f, uint64_t table, unsigned index, uint64_t e)
{
	put64(fake_at(f, table + index * 8ull, 8), 0, e);
}

static void put_entry32(struct fake_mem *f, uint64_t table, unsigned index, uint32_t e)
{
	put32(fake_at(f, table + index * 4ull, 4), 0, e);
}

static struct kvm_sregs long_mode(uint64_t cr3)
{
	struct kvm_sregs s = {
	    .cr0 = CR0_PROT, .cr3 = cr3, .cr4 = X86_CR4_PAE, .efer = X86_EFER_LME | X86_EFER_LMA};

	s.cs.l = 1;
	return s;
}

static void assert_translates(struct fake_mem *f, const struct kvm_sregs *s, uint64_t la,
			      uint64_t want)
{
	gpa_t pa = gpa(~0ull);

	if (!x86_translate(&f->m, s, la, &pa))
		fail_msg("0x%llx does not translate, want 0x%llx", (unsigned long long)la,
			 (unsigned long long)want);
	assert_int_equal(pa.v, want);
}

static void assert_no_translation(struct fake_mem *f, const struct kvm_sregs *s, uint64_t la)
{
	gpa_t pa;

	if (x86_translate(&f->m, s, la, &pa))
		fail_msg("0x%llx translates to 0x%llx, want no translation", (unsigned long long)la,
			 (unsigned long long)pa.v);
}

/* PML4 at 0x10000, PDPT 0x11000, PD 0x12000, PT 0x13000 for KERNEL_LA's indices. */
static struct kvm_sregs build_long4(struct fake_mem *f)
{
	put_entry(f, 0x10000, idx(KERNEL_LA, 39), 0x11000 | P | RW);
	put_entry(f, 0x11000, idx(KERNEL_LA, 30), 0x12000 | P | RW);
	put_entry(f, 0x12000, idx(KERNEL_LA, 21), 0x13000 | P | RW);
	return long_mode(0x10000);
}

static void test_long_mode_4k(void **state)
{
	struct fake_mem f;
	struct kvm_sregs s;

	(void)state;
	fake_mem_init(&f, RAM);
	s = build_long4(&f);
	/* NX and flag bits are not address bits. */
	put_entry(&f, 0x13000, idx(KERNEL_LA, 12), NX | 0x345000 | 0x63);
	assert_translates(&f, &s, KERNEL_LA, 0x345567);
	/* CR3's low flag bits (PWT, PCD) are not address bits either. */
	s.cr3 |= 0x18;
	assert_translates(&f, &s, KERNEL_LA, 0x345567);
	/* The next page's PTE is empty. */
	assert_no_translation(&f, &s, KERNEL_LA + 0x1000);
	fake_mem_free(&f);
}

static void test_long_mode_2m(void **state)
{
	struct fake_mem f;
	struct kvm_sregs s;

	(void)state;
	fake_mem_init(&f, RAM);
	s = build_long4(&f);
	put_entry(&f, 0x12000, idx(KERNEL_LA, 21), 0x1000000 | PAT_BIG | PS | P);
	assert_translates(&f, &s, KERNEL_LA, 0x1000000 + (KERNEL_LA & 0x1fffff));
	fake_mem_free(&f);
}

static void test_long_mode_1g(void **state)
{
	struct fake_mem f;
	struct kvm_sregs s;

	(void)state;
	fake_mem_init(&f, RAM);
	s = build_long4(&f);
	put_entry(&f, 0x11000, idx(KERNEL_LA, 30), 0x40000000 | PAT_BIG | PS | P);
	assert_translates(&f, &s, KERNEL_LA, 0x40000000 + (KERNEL_LA & 0x3fffffff));
	/* A large-page bit in the PML4 is reserved: no 512 GiB pages. */
	put_entry(&f, 0x10000, idx(KERNEL_LA, 39), 0x11000 | PS | P);
	assert_no_translation(&f, &s, KERNEL_LA);
	fake_mem_free(&f);
}

/* CR4.LA57: one more level on top, 57-bit canonical addresses. */
static void test_long_mode_5_level(void **state)
{
	const uint64_t la = 0xff00123456789abcull;
	struct fake_mem f;
	struct kvm_sregs s = long_mode(0x20000);

	(void)state;
	fake_mem_init(&f, RAM);
	s.cr4 |= X86_CR4_LA57;
	put_entry(&f, 0x20000, idx(la, 48), 0x21000 | P);
	put_entry(&f, 0x21000, idx(la, 39), 0x22000 | P);
	put_entry(&f, 0x22000, idx(la, 30), 0x23000 | P);
	put_entry(&f, 0x23000, idx(la, 21), 0x200000 | PS | P);
	assert_translates(&f, &s, la, 0x200000 + (la & 0x1fffff));
	/* The same tables read as 4-level give another address: not canonical in 48 bits. */
	s.cr4 &= ~X86_CR4_LA57;
	assert_no_translation(&f, &s, la);
	fake_mem_free(&f);
}

static void test_long_mode_non_canonical(void **state)
{
	struct fake_mem f;
	struct kvm_sregs s;

	(void)state;
	fake_mem_init(&f, RAM);
	s = build_long4(&f);
	put_entry(&f, 0x13000, idx(KERNEL_LA, 12), 0x345000 | P);
	/* Same indices, but bits 63:48 do not copy bit 47. */
	assert_no_translation(&f, &s, KERNEL_LA & 0x0000ffffffffffffull);
	fake_mem_free(&f);
}

static void test_not_present_at_each_level(void **state)
{
	struct fake_mem f;
	struct kvm_sregs s;
	const uint64_t tables[] = {0x10000, 0x11000, 0x12000, 0x13000};
	const unsigned shifts[] = {39, 30, 21, 12};

	(void)state;
	fake_mem_init(&f, RAM);
	s = build_long4(&f);
	put_entry(&f, 0x13000, idx(KERNEL_LA, 12), 0x345000 | P);
	assert_translates(&f, &s, KERNEL_LA, 0x345567);
	for (unsigned i = 0; i < ARRAY_SIZE(tables); i++) {
		uint8_t *e = fake_at(&f, tables[i] + idx(KERNEL_LA, shifts[i]) * 8ull, 8);

		/* Everything but the present bit still there. */
		e[0] &= (uint8_t)~P;
		assert_no_translation(&f, &s, KERNEL_LA);
		e[0] |= (uint8_t)P;
	}
	assert_translates(&f, &s, KERNEL_LA, 0x345567);
	fake_mem_free(&f);
}

/* A table the guest points outside its RAM ends the walk, it is not read. */
static void test_tables_outside_ram(void **state)
{
	struct fake_mem f;
	struct kvm_sregs s;

	(void)state;
	fake_mem_init(&f, RAM);
	s = build_long4(&f);
	put_entry(&f, 0x12000, idx(KERNEL_LA, 21), (RAM + 0x1000) | P);
	assert_no_translation(&f, &s, KERNEL_LA);
	s.cr3 = RAM;
	assert_no_translation(&f, &s, KERNEL_LA);
	/* PAE's and 32-bit paging's first table too. */
	s = (struct kvm_sregs){.cr0 = CR0_PROT, .cr3 = RAM + 0x20, .cr4 = X86_CR4_PAE};
	assert_no_translation(&f, &s, 0x1000);
	s.cr4 = 0;
	assert_no_translation(&f, &s, 0x1000);
	fake_mem_free(&f);
}

static void test_pae(void **state)
{
	const uint32_t la = 0xc1234567u; /* PDPTE 3 */
	struct fake_mem f;
	/* CR3 in PAE mode is 32-byte aligned, not page aligned. */
	struct kvm_sregs s = {.cr0 = CR0_PROT, .cr3 = 0x30020, .cr4 = X86_CR4_PAE};

	(void)state;
	fake_mem_init(&f, RAM);
	put64(fake_at(&f, 0x30020 + 3 * 8, 8), 0, 0x31000 | P);
	put_entry(&f, 0x31000, idx(la, 21), 0x32000 | P | RW);
	put_entry(&f, 0x32000, idx(la, 12), NX | 0x456000 | P);
	assert_translates(&f, &s, la, 0x456567);
	/* 2 MiB pages. */
	put_entry(&f, 0x31000, idx(la, 21), 0x600000 | PAT_BIG | PS | P);
	assert_translates(&f, &s, la, 0x600000 + (la & 0x1fffff));
	/* Linear addresses are 32 bits: the upper half is dropped. */
	assert_translates(&f, &s, 0x500000000ull | la, 0x600000 + (la & 0x1fffff));
	/* Another PDPTE, not present. */
	assert_no_translation(&f, &s, la - 0x40000000u);
	fake_mem_free(&f);
}

static void test_32bit(void **state)
{
	const uint32_t la = 0xc0345678u;
	struct fake_mem f;
	struct kvm_sregs s = {.cr0 = CR0_PROT, .cr3 = 0x40000};

	(void)state;
	fake_mem_init(&f, RAM);
	put_entry32(&f, 0x40000, la >> 22, 0x41000 | P | RW);
	put_entry32(&f, 0x41000, (la >> 12) & 0x3ff, 0x789000 | P);
	assert_translates(&f, &s, la, 0x789678);
	assert_no_translation(&f, &s, la + 0x1000);

	/* 4 MiB pages need CR4.PSE; without it the PS bit is ignored. */
	put_entry32(&f, 0x40000, la >> 22, 0x41000 | PS | P);
	assert_translates(&f, &s, la, 0x789678);
	s.cr4 = X86_CR4_PSE;
	put_entry32(&f, 0x40000, la >> 22, 0x1800000 | PS | P);
	assert_translates(&f, &s, la, 0x1800000 + (la & 0x3fffff));
	/* PSE-36: PDE bits 20:13 are physical bits 39:32. */
	put_entry32(&f, 0x40000, la >> 22, 0x1800000 | (0x5u << 13) | PS | P);
	assert_translates(&f, &s, la, 0x500000000ull + 0x1800000 + (la & 0x3fffff));
	put_entry32(&f, 0x40000, la >> 22, 0x1800000 | PS);
	assert_no_translation(&f, &s, la);
	fake_mem_free(&f);
}

static void test_paging_off(void **state)
{
	struct fake_mem f;
	struct kvm_sregs s = {.cr0 = X86_CR0_PE, .cr3 = 0x12345000};

	(void)state;
	fake_mem_init(&f, RAM);
	assert_translates(&f, &s, 0x1234, 0x1234);
	assert_translates(&f, &s, 0xfffffff0, 0xfffffff0);
	/* Linear addresses are 32 bits outside long mode. */
	assert_translates(&f, &s, 0x100001234ull, 0x1234);
	s.cr0 = 0;
	assert_translates(&f, &s, 0xffff0, 0xffff0);
	fake_mem_free(&f);
}

/* Reads go page by page through the tables, and stop at the first hole. */
static void test_read_linear(void **state)
{
	const uint64_t la = KERNEL_LA & ~0xfffull;
	struct fake_mem f;
	struct kvm_sregs s;
	uint8_t buf[15];

	(void)state;
	fake_mem_init(&f, RAM);
	s = build_long4(&f);
	/* Two neighbouring linear pages on physical pages far apart. */
	put_entry(&f, 0x13000, idx(la, 12), 0x500000 | P);
	put_entry(&f, 0x13000, idx(la + 0x1000, 12), 0x300000 | P);
	memcpy(fake_at(&f, 0x500ff8, 8), "\x0f\xc7\x0e\x48\x89\xc7\x90\x90", 8);
	memcpy(fake_at(&f, 0x300000, 7), "\xcc\xcc\xcc\xcc\xcc\xcc\xcc", 7);
	assert_int_equal(x86_read_linear(&f.m, &s, la + 0xff8, buf, sizeof(buf)), 15);
	assert_memory_equal(buf, "\x0f\xc7\x0e\x48\x89\xc7\x90\x90\xcc\xcc\xcc\xcc\xcc\xcc\xcc",
			    15);
	/* The second page gone: the first page's bytes only. */
	put_entry(&f, 0x13000, idx(la + 0x1000, 12), 0);
	assert_int_equal(x86_read_linear(&f.m, &s, la + 0xff8, buf, sizeof(buf)), 8);
	/* The first gone: nothing. */
	assert_int_equal(x86_read_linear(&f.m, &s, la + 0x1ff8, buf, sizeof(buf)), 0);
	/* A page that translates to an address outside RAM: nothing either. */
	put_entry(&f, 0x13000, idx(la, 12), (RAM + 0x1000) | P);
	assert_int_equal(x86_read_linear(&f.m, &s, la + 0xff8, buf, sizeof(buf)), 0);
	fake_mem_free(&f);
}

static void test_cpu_mode(void **state)
{
	static const struct {
		uint64_t cr0, efer, rflags;
		unsigned l, db;
		enum x86_cpu_mode mode;
		const char *name;
	} cases[] = {
	    {0, 0, 0, 0, 0, X86_MODE_REAL, "real"},
	    /* In real mode the CS cache's bits mean nothing. */
	    {0, 0, 0, 1, 1, X86_MODE_REAL, "real"},
	    {X86_CR0_PE, 0, 0, 0, 0, X86_MODE_PROT16, "prot16"},
	    {X86_CR0_PE, 0, 0, 0, 1, X86_MODE_PROT32, "prot32"},
	    {CR0_PROT, 0, 0, 0, 1, X86_MODE_PROT32, "prot32"},
	    {X86_CR0_PE, 0, X86_RFLAGS_VM, 0, 0, X86_MODE_VM86, "vm86"},
	    /* LME alone (paging not yet on) is still legacy protected mode. */
	    {X86_CR0_PE, X86_EFER_LME, 0, 0, 1, X86_MODE_PROT32, "prot32"},
	    {CR0_PROT, X86_EFER_LME | X86_EFER_LMA, 0, 1, 0, X86_MODE_LONG64, "long64"},
	    {CR0_PROT, X86_EFER_LME | X86_EFER_LMA, 0, 0, 1, X86_MODE_COMPAT32, "compat32"},
	    {CR0_PROT, X86_EFER_LME | X86_EFER_LMA, 0, 0, 0, X86_MODE_COMPAT16, "compat16"},
	    /* Long mode has no virtual-8086 mode: RFLAGS.VM is ignored. */
	    {CR0_PROT, X86_EFER_LME | X86_EFER_LMA, X86_RFLAGS_VM, 1, 0, X86_MODE_LONG64, "long64"},
	};

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		struct kvm_sregs s = {.cr0 = cases[i].cr0, .efer = cases[i].efer};
		enum x86_cpu_mode m;

		s.cs.l = (uint8_t)cases[i].l;
		s.cs.db = (uint8_t)cases[i].db;
		m = x86_cpu_mode(&s, cases[i].rflags);
		if (m != cases[i].mode)
			fail_msg("case %u: mode %s, want %s", i, x86_cpu_mode_name(m),
				 cases[i].name);
		assert_string_equal(x86_cpu_mode_name(m), cases[i].name);
	}
	assert_string_equal(x86_cpu_mode_name((enum x86_cpu_mode)99), "?");
}

static void test_cpl(void **state)
{
	struct kvm_sregs s = {0};

	(void)state;
	s.ss.dpl = 3;
	s.cs.dpl = 3;
	assert_int_equal(x86_cpl(&s, X86_MODE_REAL), 0);
	s.ss.dpl = 0;
	s.cs.dpl = 0;
	assert_int_equal(x86_cpl(&s, X86_MODE_VM86), 3);
	assert_int_equal(x86_cpl(&s, X86_MODE_LONG64), 0);
	s.ss.dpl = 3;
	s.cs.dpl = 3;
	assert_int_equal(x86_cpl(&s, X86_MODE_LONG64), 3);
	/* A conforming code segment keeps its DPL 0 while CPL 3 code runs in it. */
	s.cs.dpl = 0;
	assert_int_equal(x86_cpl(&s, X86_MODE_PROT32), 3);
}

static void test_code_address(void **state)
{
	struct kvm_sregs s = {0};

	(void)state;
	s.cs.base = 0xf0000;
	assert_int_equal(x86_code_address(&s, X86_MODE_REAL, 0xfff0), 0xffff0);
	s.cs.base = 0x10000;
	assert_int_equal(x86_code_address(&s, X86_MODE_PROT32, 0x1234), 0x11234);
	/* 32-bit wrap-around outside 64-bit mode. */
	s.cs.base = 0xfffff000;
	assert_int_equal(x86_code_address(&s, X86_MODE_PROT32, 0x2000), 0x1000);
	assert_int_equal(x86_code_address(&s, X86_MODE_COMPAT32, 0x2000), 0x1000);
	/* 64-bit mode ignores the CS base. */
	assert_int_equal(x86_code_address(&s, X86_MODE_LONG64, KERNEL_LA), KERNEL_LA);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_long_mode_4k),
	    cmocka_unit_test(test_long_mode_2m),
	    cmocka_unit_test(test_long_mode_1g),
	    cmocka_unit_test(test_long_mode_5_level),
	    cmocka_unit_test(test_long_mode_non_canonical),
	    cmocka_unit_test(test_not_present_at_each_level),
	    cmocka_unit_test(test_tables_outside_ram),
	    cmocka_unit_test(test_pae),
	    cmocka_unit_test(test_32bit),
	    cmocka_unit_test(test_paging_off),
	    cmocka_unit_test(test_read_linear),
	    cmocka_unit_test(test_cpu_mode),
	    cmocka_unit_test(test_cpl),
	    cmocka_unit_test(test_code_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
