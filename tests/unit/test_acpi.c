/* SPDX-License-Identifier: MIT */
/*
 * test_acpi.c -- the ACPI tables and the AML encoder: every pointer leads to
 * a table with the right signature and a zero checksum, the MADT lists what
 * it must, the DSDT names the host bridge, its links and the ISA devices in
 * well-formed AML, and the encoder's corner cases (PkgLength sizes, EISA
 * IDs, integer prefixes, name prefixes) come out as ACPI 6.3 spells them.
 */
#include "unit.h"

#include "vireo/arch/x86/acpi.h"
#include "vireo/arch/x86/aml.h"

#define BASE 0xe0000u

#define rd16(p) get16((p), 0)
#define rd32(p) get32((p), 0)
#define rd64(p) get64((p), 0)

static uint8_t tables[ACPI_TABLES_MAX];

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

/* The table at guest address `addr`, checked: signature, length inside the
 * blob, checksum. */
static const uint8_t *table_at(uint64_t addr, size_t blob, const char *sig)
{
	const uint8_t *t;

	assert_true(addr >= BASE && addr - BASE + 36 <= blob);
	t = tables + (addr - BASE);
	assert_memory_equal(t, sig, 4);
	assert_true(addr - BASE + rd32(t + 4) <= blob);
	assert_int_equal(sum(t, rd32(t + 4)), 0);
	return t;
}

static const struct mp_pci_intx two_lines[] = {{.slot = 1, .irq = 10}, {.slot = 2, .irq = 11}};

static size_t build(unsigned ncpus)
{
	size_t n = acpi_build(tables, sizeof(tables), BASE, ncpus, two_lines, 2);

	assert_true(n > 0);
	return n;
}

static void test_pointers_and_checksums(void **state)
{
	size_t n = build(2);
	const uint8_t *xsdt, *fadt;

	(void)state;
	assert_memory_equal(tables, "RSD PTR ", 8);
	assert_int_equal(sum(tables, 20), 0);
	assert_int_equal(sum(tables, 36), 0);
	assert_int_equal(tables[15], 2);	 /* revision: XSDT present */
	assert_int_equal(rd32(tables + 20), 36); /* RSDP length */
	xsdt = table_at(rd64(tables + 24), n, "XSDT");
	assert_int_equal(rd32(xsdt + 4), 36 + 2 * 8);
	fadt = table_at(rd64(xsdt + 36), n, "FACP");
	table_at(rd64(xsdt + 44), n, "APIC");
	assert_int_equal(rd32(fadt + 4), 276);
	assert_int_equal(fadt[8], 6); /* FADT revision for ACPI 6.x */
	/* DSDT and X_DSDT agree and lead to the DSDT. */
	assert_int_equal(rd32(fadt + 40), rd64(fadt + 140));
	table_at(rd64(fadt + 140), n, "DSDT");
	/* Hardware-reduced; i8042 and legacy devices there, no VGA. */
	assert_true(rd32(fadt + 112) & (1u << 20));
	assert_int_equal(rd16(fadt + 109), 0x7);
	assert_int_equal(rd16(fadt + 46), 0); /* no SCI */
}

static void test_madt(void **state)
{
	size_t n = build(4);
	const uint8_t *xsdt = tables + (rd64(tables + 24) - BASE);
	const uint8_t *m = table_at(rd64(xsdt + 44), n, "APIC");
	unsigned cpus = 0, ioapics = 0, overrides = 0, nmis = 0;

	(void)state;
	assert_int_equal(rd32(m + 36), 0xfee00000u);
	for (size_t off = 44; off < rd32(m + 4); off += m[off + 1]) {
		const uint8_t *e = m + off;

		assert_true(e[1] >= 2);
		switch (e[0]) {
		case 0: /* LAPIC: UID, APIC ID, enabled */
			assert_int_equal(e[2], cpus);
			assert_int_equal(e[3], cpus);
			assert_int_equal(rd32(e + 4), 1);
			cpus++;
			break;
		case 1: /* IOAPIC: ID after the CPUs, address, GSI base 0 */
			assert_int_equal(e[2], 4);
			assert_int_equal(rd32(e + 4), 0xfec00000u);
			assert_int_equal(rd32(e + 8), 0);
			ioapics++;
			break;
		case 2: /* override: ISA IRQ n is GSI n, level, active high */
			assert_int_equal(e[3], two_lines[overrides].irq);
			assert_int_equal(rd32(e + 4), two_lines[overrides].irq);
			assert_int_equal(rd16(e + 8), 0x000d);
			overrides++;
			break;
		case 4: /* NMI on LINT1 of every CPU */
			assert_int_equal(e[2], 0xff);
			assert_int_equal(e[5], 1);
			nmis++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
	}
	assert_int_equal(cpus, 4);
	assert_int_equal(ioapics, 1);
	assert_int_equal(overrides, 2);
	assert_int_equal(nmis, 1);
}

/* PkgLength as the grammar reads it; returns the bytes it took. */
static size_t read_pkglen(const uint8_t *p, size_t *value)
{
	size_t follow = p[0] >> 6;

	if (!follow) {
		*value = p[0] & 0x3f;
		return 1;
	}
	*value = p[0] & 0xf;
	for (size_t i = 0; i < follow; i++)
		*value |= (size_t)p[1 + i] << (4 + 8 * i);
	return 1 + follow;
}

static bool contains(const uint8_t *p, size_t n, const void *needle, size_t len)
{
	for (size_t i = 0; i + len <= n; i++)
		if (!memcmp(p + i, needle, len))
			return true;
	return false;
}

static void test_dsdt(void **state)
{
	size_t n = build(1), len, scope_len, used;
	const uint8_t *xsdt = tables + (rd64(tables + 24) - BASE);
	const uint8_t *fadt, *d;
	static const uint8_t pnp0a03[] = {0x0c, 0x41, 0xd0, 0x0a, 0x03};
	static const uint8_t pnp0c0f[] = {0x0c, 0x41, 0xd0, 0x0c, 0x0f};
	static const uint8_t level_high_irq11[] = {0x89, 6, 0, 0x09, 1, 11, 0, 0, 0};

	(void)state;
	fadt = table_at(rd64(xsdt + 36), n, "FACP");
	d = table_at(rd64(fadt + 140), n, "DSDT");
	len = rd32(d + 4);
	/* One Scope(\_SB_) that covers exactly the rest of the table. */
	assert_int_equal(d[36], 0x10);
	used = read_pkglen(d + 37, &scope_len);
	assert_int_equal(37 + scope_len, len);
	assert_memory_equal(d + 37 + used, "\\_SB_", 5);
	assert_true(contains(d, len, "PCI0", 4));
	assert_true(contains(d, len, pnp0a03, sizeof(pnp0a03)));
	assert_true(contains(d, len, "_PRT", 4));
	assert_true(contains(d, len, "LS01", 4) && contains(d, len, "LS02", 4));
	assert_true(contains(d, len, pnp0c0f, sizeof(pnp0c0f)));
	assert_true(contains(d, len, level_high_irq11, sizeof(level_high_irq11)));
	assert_true(contains(d, len, "COM1", 4) && contains(d, len, "KBD_", 4) &&
		    contains(d, len, "RTC_", 4));
}

/* Five devices on four lines: one override per line, and the MADT's
 * length still adds up to its entries. */
static void test_shared_lines(void **state)
{
	static const struct mp_pci_intx five[] = {
	    {.slot = 1, .irq = 10}, {.slot = 2, .irq = 11}, {.slot = 3, .irq = 5},
	    {.slot = 4, .irq = 9},  {.slot = 5, .irq = 10},
	};
	size_t n = acpi_build(tables, sizeof(tables), BASE, 1, five, 5);
	const uint8_t *xsdt = tables + (rd64(tables + 24) - BASE), *m;
	unsigned overrides = 0;
	size_t off;

	(void)state;
	assert_true(n > 0);
	m = table_at(rd64(xsdt + 44), n, "APIC");
	for (off = 44; off < rd32(m + 4); off += m[off + 1])
		overrides += m[off] == 2;
	assert_int_equal(off, rd32(m + 4));
	assert_int_equal(overrides, 4);
}

static void test_rejects_what_does_not_fit(void **state)
{
	const struct mp_pci_intx bad_slot = {.slot = 32, .irq = 10};

	(void)state;
	assert_int_equal(acpi_build(tables, sizeof(tables), BASE, 0, NULL, 0), 0);
	assert_int_equal(acpi_build(tables, sizeof(tables), BASE, ACPI_MAX_CPUS + 1, NULL, 0), 0);
	assert_int_equal(acpi_build(tables, 200, BASE, 1, NULL, 0), 0);
	assert_int_equal(acpi_build(tables, sizeof(tables), BASE, 1, &bad_slot, 1), 0);
	/* The most CPUs vireo allows, with no PCI lines, fit. */
	assert_true(acpi_build(tables, sizeof(tables), BASE, ACPI_MAX_CPUS, NULL, 0) > 0);
}

static void expect(const struct aml *a, const uint8_t *want, size_t n)
{
	assert_false(a->overflow);
	assert_int_equal(a->len, n);
	assert_memory_equal(a->buf, want, n);
}

static void test_aml_pkglen(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_pkglen(&a, 0);
	expect(&a, (const uint8_t[]){0x01}, 1);
	aml_init(&a);
	aml_pkglen(&a, 62);
	expect(&a, (const uint8_t[]){0x3f}, 1);
	aml_init(&a);
	aml_pkglen(&a, 63); /* 65 with its two bytes */
	expect(&a, (const uint8_t[]){0x41, 0x04}, 2);
	aml_init(&a);
	aml_pkglen(&a, 4093); /* 4095: the most two bytes hold */
	expect(&a, (const uint8_t[]){0x4f, 0xff}, 2);
	aml_init(&a);
	aml_pkglen(&a, 4094); /* 4097 with three bytes */
	expect(&a, (const uint8_t[]){0x81, 0x00, 0x01}, 3);
}

static void test_aml_atoms(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_integer(&a, 0);
	aml_integer(&a, 1);
	aml_integer(&a, 2);
	aml_integer(&a, 0x100);
	aml_integer(&a, 0x10000);
	aml_integer(&a, 1ull << 32);
	expect(&a,
	       (const uint8_t[]){0x00, 0x01, 0x0a, 0x02, 0x0b, 0x00, 0x01, 0x0c, 0x00, 0x00, 0x01,
				 0x00, 0x0e, 0,	   0,	 0,    0,    1,	   0,	 0,    0},
	       21);
	aml_init(&a);
	aml_eisaid(&a, "PNP0A03");
	expect(&a, (const uint8_t[]){0x0c, 0x41, 0xd0, 0x0a, 0x03}, 5);
	aml_init(&a);
	aml_name(&a, "PCI0");
	aml_name(&a, "\\_SB_LS1F");
	aml_name(&a, "_SB_PCI0COM1");
	expect(&a,
	       (const uint8_t *)"PCI0"
				"\\\x2e_SB_LS1F"
				"\x2f\x03_SB_PCI0COM1",
	       4 + 10 + 14);
	/* Names are whole 4-character segments; anything else is refused. */
	aml_init(&a);
	aml_name(&a, "PCI");
	assert_true(a.overflow);
	aml_init(&a);
	aml_eisaid(&a, "PNP0A0");
	assert_true(a.overflow);
}

static void test_aml_overflow_sticks(void **state)
{
	struct aml a;
	uint8_t big[512] = {0};

	(void)state;
	aml_init(&a);
	for (unsigned i = 0; i < sizeof(a.buf) / sizeof(big); i++)
		aml_bytes(&a, big, sizeof(big));
	assert_false(a.overflow);
	aml_byte(&a, 1);
	assert_true(a.overflow);
	assert_int_equal(a.len, sizeof(a.buf));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pointers_and_checksums),
	    cmocka_unit_test(test_madt),
	    cmocka_unit_test(test_dsdt),
	    cmocka_unit_test(test_shared_lines),
	    cmocka_unit_test(test_rejects_what_does_not_fit),
	    cmocka_unit_test(test_aml_pkglen),
	    cmocka_unit_test(test_aml_atoms),
	    cmocka_unit_test(test_aml_overflow_sticks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
