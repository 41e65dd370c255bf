/* SPDX-License-Identifier: MIT */
/*
 * test_mptable.c -- mptable_build(): the MP floating pointer and table a
 * guest without ACPI reads its CPUs, IOAPIC and ISA and PCI interrupt routing from.
 * The checks parse the bytes independently, following the MP spec 1.4.
 */
#include "unit.h"

#include "vireo/arch/x86/mptable.h"

#define MPF_LEN	    16
#define MPC_HDR_LEN 44

static uint8_t sum8(const uint8_t *b, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *b++;
	return s;
}

/* Is ISA IRQ `irq` one of the PCI lines (then it has no ISA entry)? */
static bool is_pci_irq(unsigned irq, const struct mp_pci_intx *pci, unsigned npci)
{
	for (unsigned i = 0; i < npci; i++)
		if (pci[i].irq == irq)
			return true;
	return false;
}

/* Build for ncpus and the PCI lines at `base` and check every entry. */
static void check_mptable_pci(unsigned ncpus, uint64_t base, const struct mp_pci_intx *pci,
			      unsigned npci)
{
	size_t cap = 64 * 1024, used;
	uint8_t *buf = malloc(cap);
	const uint8_t *t, *p, *end;
	unsigned cpus = 0, buses = 0, ioapics = 0, ints = 0, lints = 0, entries = 0, pci_ints = 0;
	unsigned isa_expected = 0;
	bool isa_irq_seen[16] = {false};
	uint16_t length;

	assert_non_null(buf);
	memset(buf, 0xee, cap);
	used = mptable_build(buf, cap, base, ncpus, pci, npci);
	assert_true(used > MPF_LEN + MPC_HDR_LEN);
	/* Nothing written beyond what was reported. */
	for (size_t i = used; i < used + 64; i++)
		assert_int_equal(buf[i], 0xee);

	/* Floating pointer. */
	assert_memory_equal(buf, "_MP_", 4);
	assert_int_equal(get32(buf, 4), base + MPF_LEN); /* physptr: the table right after it */
	assert_int_equal(buf[8], 1);			 /* length in 16-byte units */
	assert_int_equal(buf[9], 4);			 /* spec revision 1.4 */
	assert_int_equal(sum8(buf, MPF_LEN), 0);
	assert_int_equal(buf[11], 0); /* feature byte 1: 0 = a table follows */

	/* Table header. */
	t = buf + MPF_LEN;
	length = get16(t, 4);
	assert_memory_equal(t, "PCMP", 4);
	assert_int_equal(length, used - MPF_LEN);
	assert_int_equal(t[6], 4);
	assert_int_equal(sum8(t, length), 0);
	assert_int_equal(get32(t, 36), 0xfee00000); /* local APIC address */
	assert_int_equal(get16(t, 40), 0);	    /* no extended table */

	/* Entries, by type. */
	p = t + MPC_HDR_LEN;
	end = t + length;
	while (p < end) {
		entries++;
		switch (p[0]) {
		case 0: /* processor */
			assert_true(p + 20 <= end);
			assert_int_equal(p[1], cpus);		   /* APIC IDs 0..N-1 in order */
			assert_true(p[2] != 0);			   /* an APIC version */
			assert_true(p[3] & 1);			   /* enabled */
			assert_int_equal(!!(p[3] & 2), cpus == 0); /* BSP flag on CPU 0 only */
			cpus++;
			p += 20;
			break;
		case 1: /* bus: PCI bus 0 is MP bus 0 (Linux matches them by number), then ISA */
			assert_int_equal(p[1], buses);
			assert_memory_equal(p + 2, buses == 0 ? "PCI   " : "ISA   ", 6);
			buses++;
			p += 8;
			break;
		case 2:				       /* IOAPIC */
			assert_int_equal(p[1], ncpus); /* its ID follows the CPUs' */
			assert_true(p[3] & 1);	       /* enabled */
			assert_int_equal(get32(p, 4), 0xfec00000);
			ioapics++;
			p += 8;
			break;
		case 3:				       /* I/O interrupt */
			assert_int_equal(p[1], 0);     /* INT */
			assert_int_equal(p[6], ncpus); /* to the IOAPIC */
			if (p[4] == 0) {	       /* PCI: in the order given */
				assert_true(pci_ints < npci);
				assert_int_equal(get16(p, 2), 0x0f); /* level, active high */
				assert_int_equal(p[5], pci[pci_ints].slot << 2); /* INTA# */
				assert_int_equal(p[7], pci[pci_ints].irq);
				pci_ints++;
			} else {
				assert_int_equal(p[4], 1);	  /* ISA */
				assert_int_equal(get16(p, 2), 0); /* conforms to the bus */
				assert_true(p[5] < 16);
				assert_false(isa_irq_seen[p[5]]);
				assert_false(is_pci_irq(p[5], pci, npci));
				isa_irq_seen[p[5]] = true;
				assert_int_equal(p[7], p[5]); /* ISA IRQ n -> pin n */
				ints++;
			}
			p += 8;
			break;
		case 4: /* local interrupt */
			if (p[1] == 3) {
				assert_int_equal(p[7], 0); /* ExtINT on LINT0 */
			} else {
				assert_int_equal(p[1], 1);    /* NMI ... */
				assert_int_equal(p[7], 1);    /* ... on LINT1 */
				assert_int_equal(p[6], 0xff); /* of every local APIC */
			}
			lints |= 1u << p[7];
			p += 8;
			break;
		default:
			fail_msg("unknown MP entry type %u at offset %td", p[0], p - t);
		}
	}
	assert_ptr_equal(p, end);
	for (unsigned irq = 0; irq < 16; irq++)
		isa_expected += !is_pci_irq(irq, pci, npci);
	assert_int_equal(cpus, ncpus);
	assert_int_equal(buses, 2);
	assert_int_equal(ioapics, 1);
	assert_int_equal(ints, isa_expected);
	assert_int_equal(pci_ints, npci);
	assert_int_equal(lints, 3);
	assert_int_equal(get16(t, 34), entries); /* entry count */
	free(buf);
}

static void check_mptable(unsigned ncpus, uint64_t base)
{
	check_mptable_pci(ncpus, base, NULL, 0);
}

/* Three devices' INTA# lines: PCI entries, and no ISA entries for those IRQs. */
static void test_mptable_pci_intx(void **state)
{
	static const struct mp_pci_intx pci[] = {{1, 11}, {2, 5}, {3, 9}};
	uint8_t buf[8192];

	(void)state;
	check_mptable_pci(2, MPTABLE_ADDR, pci, 3);
	/* A slot beyond bus 0's 32 or too many lines: refused. */
	assert_int_equal(mptable_build(buf, sizeof(buf), MPTABLE_ADDR, 1,
				       (const struct mp_pci_intx[]){{32, 10}}, 1),
			 0);
	assert_int_equal(
	    mptable_build(buf, sizeof(buf), MPTABLE_ADDR, 1, pci, MPTABLE_MAX_PCI_INTX + 1), 0);
}

static void test_mptable_1_cpu(void **state)
{
	(void)state;
	check_mptable(1, MPTABLE_ADDR);
}

static void test_mptable_2_cpus(void **state)
{
	(void)state;
	check_mptable(2, MPTABLE_ADDR);
}

static void test_mptable_4_cpus(void **state)
{
	(void)state;
	check_mptable(4, MPTABLE_ADDR);
}

static void test_mptable_254_cpus(void **state)
{
	(void)state;
	check_mptable(MPTABLE_MAX_CPUS, MPTABLE_ADDR);
}

static void test_mptable_other_base(void **state)
{
	(void)state;
	/* physptr follows the base it is told (e.g. the EBDA). */
	check_mptable(3, EBDA_ADDR);
}

static void test_mptable_bad_cpu_counts(void **state)
{
	uint8_t buf[8192];

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(mptable_build(buf, sizeof(buf), MPTABLE_ADDR, 0, NULL, 0), 0);
	assert_int_equal(
	    mptable_build(buf, sizeof(buf), MPTABLE_ADDR, MPTABLE_MAX_CPUS + 1, NULL, 0), 0);
	assert_int_equal(mptable_build(buf, sizeof(buf), MPTABLE_ADDR, 1000, NULL, 0), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xee);
}

static void test_mptable_buffer_too_small(void **state)
{
	uint8_t big[8192];
	size_t need;
	uint8_t *exact;

	(void)state;
	need = mptable_build(big, sizeof(big), MPTABLE_ADDR, 4, NULL, 0);
	assert_true(need > 0);
	/* One byte short: refused, nothing written (ASan checks the bound too). */
	exact = malloc(need);
	assert_non_null(exact);
	memset(exact, 0xee, need);
	assert_int_equal(mptable_build(exact, need - 1, MPTABLE_ADDR, 4, NULL, 0), 0);
	for (size_t i = 0; i < need; i++)
		assert_int_equal(exact[i], 0xee);
	assert_int_equal(mptable_build(exact, 0, MPTABLE_ADDR, 4, NULL, 0), 0);
	/* Exactly enough: the same table. */
	assert_int_equal(mptable_build(exact, need, MPTABLE_ADDR, 4, NULL, 0), need);
	assert_memory_equal(exact, big, need);
	free(exact);
}

static void test_mptable_fits_bios_area(void **state)
{
	uint8_t buf[0x10000];

	(void)state;
	/* The largest table must fit in the 64 KiB BIOS area it is placed in. */
	assert_true(mptable_build(buf, sizeof(buf), MPTABLE_ADDR, MPTABLE_MAX_CPUS, NULL, 0) > 0);
	assert_true(mptable_build(buf, sizeof(buf), MPTABLE_ADDR, MPTABLE_MAX_CPUS, NULL, 0) <
		    HIGH_MEM_ADDR - MPTABLE_ADDR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mptable_1_cpu),
	    cmocka_unit_test(test_mptable_2_cpus),
	    cmocka_unit_test(test_mptable_4_cpus),
	    cmocka_unit_test(test_mptable_254_cpus),
	    cmocka_unit_test(test_mptable_other_base),
	    cmocka_unit_test(test_mptable_pci_intx),
	    cmocka_unit_test(test_mptable_bad_cpu_counts),
	    cmocka_unit_test(test_mptable_buffer_too_small),
	    cmocka_unit_test(test_mptable_fits_bios_area),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
