/* SPDX-License-Identifier: MIT */
/*
 * test_mptable.c -- mptable_build(): the MP floating pointer and table a
 * guest without ACPI reads its CPUs, IOAPIC and ISA interrupt routing from.
 * The checks parse the bytes independently, following the MP spec 1.4.
 */
#include "unit.h"

#include "vireo/x86/cpu.h"

#define MPF_LEN	    16
#define MPC_HDR_LEN 44

static uint8_t sum8(const uint8_t *b, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s += *b++;
	return s;
}

/* Build for ncpus at `base` and check every entry. */
static void check_mptable(unsigned ncpus, uint64_t base)
{
	size_t cap = 64 * 1024, used;
	uint8_t *buf = malloc(cap);
	const uint8_t *t, *p, *end;
	unsigned cpus = 0, buses = 0, ioapics = 0, ints = 0, lints = 0, entries = 0;
	bool isa_irq_seen[16] = {false};
	uint16_t length;

	assert_non_null(buf);
	memset(buf, 0xee, cap);
	used = mptable_build(buf, cap, base, ncpus);
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
		case 1: /* bus */
			assert_int_equal(p[1], 0);
			assert_memory_equal(p + 2, "ISA   ", 6);
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
		case 3:				   /* I/O interrupt */
			assert_int_equal(p[1], 0); /* INT */
			assert_int_equal(get16(p, 2), 0);
			assert_int_equal(p[4], 0); /* ISA bus */
			assert_true(p[5] < 16);
			assert_false(isa_irq_seen[p[5]]);
			isa_irq_seen[p[5]] = true;
			assert_int_equal(p[6], ncpus); /* to the IOAPIC */
			assert_int_equal(p[7], p[5]);  /* ISA IRQ n -> pin n */
			ints++;
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
	assert_int_equal(cpus, ncpus);
	assert_int_equal(buses, 1);
	assert_int_equal(ioapics, 1);
	assert_int_equal(ints, 16);
	assert_int_equal(lints, 3);
	assert_int_equal(get16(t, 34), entries); /* entry count */
	free(buf);
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
	assert_int_equal(mptable_build(buf, sizeof(buf), MPTABLE_ADDR, 0), 0);
	assert_int_equal(mptable_build(buf, sizeof(buf), MPTABLE_ADDR, MPTABLE_MAX_CPUS + 1), 0);
	assert_int_equal(mptable_build(buf, sizeof(buf), MPTABLE_ADDR, 1000), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xee);
}

static void test_mptable_buffer_too_small(void **state)
{
	uint8_t big[8192];
	size_t need;
	uint8_t *exact;

	(void)state;
	need = mptable_build(big, sizeof(big), MPTABLE_ADDR, 4);
	assert_true(need > 0);
	/* One byte short: refused, nothing written (ASan checks the bound too). */
	exact = malloc(need);
	assert_non_null(exact);
	memset(exact, 0xee, need);
	assert_int_equal(mptable_build(exact, need - 1, MPTABLE_ADDR, 4), 0);
	for (size_t i = 0; i < need; i++)
		assert_int_equal(exact[i], 0xee);
	assert_int_equal(mptable_build(exact, 0, MPTABLE_ADDR, 4), 0);
	/* Exactly enough: the same table. */
	assert_int_equal(mptable_build(exact, need, MPTABLE_ADDR, 4), need);
	assert_memory_equal(exact, big, need);
	free(exact);
}

static void test_mptable_fits_bios_area(void **state)
{
	uint8_t buf[0x10000];

	(void)state;
	/* The largest table must fit in the 64 KiB BIOS area it is placed in. */
	assert_true(mptable_build(buf, sizeof(buf), MPTABLE_ADDR, MPTABLE_MAX_CPUS) > 0);
	assert_true(mptable_build(buf, sizeof(buf), MPTABLE_ADDR, MPTABLE_MAX_CPUS) <
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
	    cmocka_unit_test(test_mptable_bad_cpu_counts),
	    cmocka_unit_test(test_mptable_buffer_too_small),
	    cmocka_unit_test(test_mptable_fits_bios_area),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
