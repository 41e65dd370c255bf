/* SPDX-License-Identifier: MIT */
/*
 * test_cpuid.c -- cpuid_fixup() and cpuid_find() on a synthetic table shaped
 * like KVM_GET_SUPPORTED_CPUID's: hypervisor bit, APIC IDs, topology leaves,
 * cache sharing, and the paravirtual feature mask.
 */
#include "unit.h"

#include "vireo/arch/x86/cpuid.h"

#define IDX KVM_CPUID_FLAG_SIGNIFCANT_INDEX

#define L1_ECX_X2APIC	    (1u << 21)
#define L1_ECX_TSC_DEADLINE (1u << 24)
#define L1_ECX_HYPERVISOR   (1u << 31)
#define L1_EDX_HTT	    (1u << 28)

/* What our hosts report for 0x40000001 eax. */
#define HOST_PV_FEATURES 0x1007efbu

/* Host leaf 4 values: cache type in [4:0], level in [7:5], self-init bit 8,
 * and the host's own sharing/core counts in [25:14]/[31:26] to be replaced. */
#define L4_HOST_SHARE ((15u << 14) | (7u << 26))
#define L4_L1D	      (1u | 1u << 5 | 1u << 8)
#define L4_L1I	      (2u | 1u << 5 | 1u << 8)
#define L4_L2	      (3u | 2u << 5 | 1u << 8)
#define L4_L3	      (3u | 3u << 5 | 1u << 8)

#define MAX_ENTRIES 32

struct table {
	struct kvm_cpuid_entry2 e[MAX_ENTRIES];
	unsigned n;
};

static void add(struct table *t, uint32_t fn, uint32_t idx, uint32_t flags, uint32_t eax,
		uint32_t ebx, uint32_t ecx, uint32_t edx)
{
	assert_true(t->n < MAX_ENTRIES);
	t->e[t->n++] = (struct kvm_cpuid_entry2){.function = fn,
						 .index = idx,
						 .flags = flags,
						 .eax = eax,
						 .ebx = ebx,
						 .ecx = ecx,
						 .edx = edx};
}

/*
 * A host table. host_bits: whether x2APIC and TSC-deadline are set in leaf 1
 * as the host reports it (so tests can see them turned on and off).
 */
static void host_table(struct table *t, bool host_bits)
{
	uint32_t l1_ecx = 0x77fa3203u & ~(L1_ECX_X2APIC | L1_ECX_TSC_DEADLINE | L1_ECX_HYPERVISOR);

	if (host_bits)
		l1_ecx |= L1_ECX_X2APIC | L1_ECX_TSC_DEADLINE;
	memset(t, 0, sizeof(*t));
	add(t, 0, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69); /* GenuineIntel */
	/* APIC ID 5 and 16 logical CPUs from the host; clflush 8; HTT set. */
	add(t, 1, 0, 0, 0x000906ea, 0x05100800, l1_ecx, 0x1f8bfbff | L1_EDX_HTT);
	add(t, 4, 0, IDX, L4_L1D | L4_HOST_SHARE, 0x01c0003f, 0x3f, 0);
	add(t, 4, 1, IDX, L4_L1I | L4_HOST_SHARE, 0x01c0003f, 0x3f, 0);
	add(t, 4, 2, IDX, L4_L2 | L4_HOST_SHARE, 0x01c0003f, 0x3ff, 0);
	add(t, 4, 3, IDX, L4_L3 | L4_HOST_SHARE, 0x03c0003f, 0x3fff, 4);
	add(t, 4, 4, IDX, 0 | L4_HOST_SHARE, 0, 0, 0); /* type 0: no more caches */
	add(t, 0xb, 0, IDX, 1, 2, 0x100, 5);
	add(t, 0xb, 1, IDX, 4, 16, 0x201, 5);
	add(t, 0xb, 2, IDX, 0, 0, 2, 5);
	add(t, 0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d);
	add(t, 0x40000001, 0, 0, HOST_PV_FEATURES, 0, 0, 1 /* KVM_HINTS_REALTIME */);
	add(t, 0x80000000, 0, 0, 0x80000008, 0, 0, 0);
	add(t, 0x80000008, 0, 0, 0x3030, 0, 0x0003700f, 0);
	add(t, 0x8000001e, 0, 0, 0x12, 0x0103, 0x0300, 0);
}

static struct kvm_cpuid_entry2 *get(struct table *t, uint32_t fn, uint32_t idx)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(t->e, t->n, fn, idx);

	if (!e)
		fail_msg("no CPUID leaf 0x%x.%u", fn, idx);
	return e;
}

static uint32_t fixup(struct table *t, unsigned vcpu, unsigned ncpus, uint32_t pv, bool x2apic,
		      bool tscd)
{
	struct cpuid_config c = {
	    .ncpus = ncpus, .pv_features = pv, .x2apic = x2apic, .tsc_deadline = tscd};

	return cpuid_fixup(t->e, t->n, vcpu, &c);
}

static unsigned pow2_ceil(unsigned n)
{
	unsigned p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static unsigned log2_ceil(unsigned n)
{
	unsigned b = 0;

	while ((1u << b) < n)
		b++;
	return b;
}

static void test_find(void **state)
{
	struct table t;

	(void)state;
	host_table(&t, true);
	/* Indexed leaves match on the subleaf... */
	assert_int_equal(get(&t, 4, 2)->eax & 0x1f, 3);
	assert_int_equal((get(&t, 4, 3)->eax >> 5) & 7, 3);
	assert_int_equal(get(&t, 0xb, 1)->index, 1);
	assert_null(cpuid_find(t.e, t.n, 4, 9));
	/* ... others ignore it. */
	assert_ptr_equal(cpuid_find(t.e, t.n, 1, 7), cpuid_find(t.e, t.n, 1, 0));
	assert_null(cpuid_find(t.e, t.n, 0x7, 0));
	assert_null(cpuid_find(t.e, 0, 1, 0));
}

static void test_hypervisor_bit_and_untouched_leaves(void **state)
{
	struct table t, orig;

	(void)state;
	host_table(&t, true);
	orig = t;
	fixup(&t, 0, 1, 0, true, true);
	assert_true(get(&t, 1, 0)->ecx & L1_ECX_HYPERVISOR);
	/* Leaf 1's other ECX/EAX bits and the untouched leaves stay as the host said. */
	assert_int_equal(get(&t, 1, 0)->ecx & ~L1_ECX_HYPERVISOR, get(&orig, 1, 0)->ecx);
	assert_int_equal(get(&t, 1, 0)->eax, get(&orig, 1, 0)->eax);
	assert_int_equal(get(&t, 1, 0)->ebx & 0xffff, 0x0800); /* clflush size, brand */
	assert_memory_equal(get(&t, 0, 0), get(&orig, 0, 0), sizeof(struct kvm_cpuid_entry2));
	assert_memory_equal(get(&t, 0x40000000, 0), get(&orig, 0x40000000, 0),
			    sizeof(struct kvm_cpuid_entry2));
	assert_memory_equal(get(&t, 0x80000000, 0), get(&orig, 0x80000000, 0),
			    sizeof(struct kvm_cpuid_entry2));
	/* The table's shape (functions, indexes, flags) is unchanged. */
	for (unsigned i = 0; i < t.n; i++) {
		assert_int_equal(t.e[i].function, orig.e[i].function);
		assert_int_equal(t.e[i].index, orig.e[i].index);
		assert_int_equal(t.e[i].flags, orig.e[i].flags);
	}
}

static void test_apic_ids(void **state)
{
	(void)state;
	for (unsigned ncpus = 1; ncpus <= 4; ncpus++) {
		for (unsigned k = 0; k < ncpus; k++) {
			struct table t;

			host_table(&t, true);
			fixup(&t, k, ncpus, 0, true, true);
			assert_int_equal(get(&t, 1, 0)->ebx >> 24, k);
			for (uint32_t sub = 0; sub < 3; sub++)
				assert_int_equal(get(&t, 0xb, sub)->edx, k);
			assert_int_equal(get(&t, 0x8000001e, 0)->eax, k);
			assert_int_equal(get(&t, 0x8000001e, 0)->ebx & 0xff, k);
			assert_int_equal(get(&t, 0x8000001e, 0)->ebx >> 8 & 0xff,
					 0);				  /* 1 thread/core */
			assert_int_equal(get(&t, 0x8000001e, 0)->ecx, 0); /* node 0 */
		}
	}
	/* The highest APIC ID an MP table allows. */
	{
		struct table t;

		host_table(&t, true);
		fixup(&t, 253, 254, 0, true, true);
		assert_int_equal(get(&t, 1, 0)->ebx >> 24, 253);
		assert_int_equal(get(&t, 0xb, 0)->edx, 253);
	}
}

static void test_topology(void **state)
{
	(void)state;
	for (unsigned ncpus = 1; ncpus <= 4; ncpus++) {
		struct table t;
		struct kvm_cpuid_entry2 *e;

		host_table(&t, true);
		fixup(&t, ncpus - 1, ncpus, 0, true, true);

		/* Leaf 0xb: SMT level with one thread, core level with ncpus, then the end. */
		e = get(&t, 0xb, 0);
		assert_int_equal(e->ecx >> 8 & 0xff, 1); /* level type SMT */
		assert_int_equal(e->ecx & 0xff, 0);	 /* level number */
		assert_int_equal(e->ebx & 0xffff, 1);
		assert_int_equal(e->eax & 0x1f, 0);
		e = get(&t, 0xb, 1);
		assert_int_equal(e->ecx >> 8 & 0xff, 2); /* level type core */
		assert_int_equal(e->ecx & 0xff, 1);
		assert_int_equal(e->ebx & 0xffff, ncpus);
		assert_int_equal(e->eax & 0x1f, log2_ceil(ncpus)); /* 0, 1, 2, 2 */
		e = get(&t, 0xb, 2);
		assert_int_equal(e->ecx >> 8 & 0xff, 0); /* invalid: no more levels */
		assert_int_equal(e->ecx & 0xff, 2);
		assert_int_equal(e->ebx, 0);
		assert_int_equal(e->eax, 0);

		/* Leaf 1: addressable IDs per package and HTT. */
		e = get(&t, 1, 0);
		assert_int_equal(e->ebx >> 16 & 0xff, pow2_ceil(ncpus)); /* 1, 2, 4, 4 */
		assert_int_equal(!!(e->edx & L1_EDX_HTT), ncpus > 1);

		/* AMD: cores - 1 and APIC ID size; other ECX bits kept. */
		e = get(&t, 0x80000008, 0);
		assert_int_equal(e->ecx & 0xff, ncpus - 1);
		assert_int_equal(e->ecx >> 12 & 0xf, log2_ceil(ncpus));
		assert_int_equal(e->ecx & ~0xf0ffu, 0x00030000u);
		assert_int_equal(e->eax, 0x3030);
	}
}

static void test_leaf4_core_counts(void **state)
{
	static const unsigned counts[] = {1, 2, 3, 4, 8, 254};

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(counts); i++) {
		unsigned ncpus = counts[i], cores = pow2_ceil(ncpus);
		struct table t, orig;

		host_table(&t, true);
		orig = t;
		fixup(&t, 0, ncpus, 0, true, true);
		for (uint32_t sub = 0; sub < 4; sub++) {
			uint32_t eax = get(&t, 4, sub)->eax;
			unsigned level = (eax >> 5) & 7;
			unsigned share = level == 3 ? cores : 1; /* L3 shared, L1/L2 per core */

			assert_int_equal(eax & 0x3fff, get(&orig, 4, sub)->eax & 0x3fff);
			assert_int_equal((eax >> 14 & 0xfff) + 1, share);
			assert_int_equal((eax >> 26) + 1, cores > 64 ? 64 : cores);
			assert_int_equal(get(&t, 4, sub)->ebx, get(&orig, 4, sub)->ebx);
		}
		/* The terminating null subleaf is left alone. */
		assert_int_equal(get(&t, 4, 4)->eax, get(&orig, 4, 4)->eax);
	}
}

static void test_pv_features_masked(void **state)
{
	struct table t;
	uint32_t want, got;

	(void)state;
	/* Ask for two the host has and one it lacks (MSI_EXT_DEST_ID, bit 15). */
	want = PVF_CLOCKSOURCE2 | PVF_PV_EOI | PVF_MSI_EXT_DEST_ID;
	host_table(&t, true);
	got = fixup(&t, 0, 2, want, true, true);
	assert_int_equal(got, PVF_CLOCKSOURCE2 | PVF_PV_EOI);
	assert_int_equal(get(&t, 0x40000001, 0)->eax, got);
	assert_int_equal(get(&t, 0x40000001, 0)->edx, 0); /* no hints promised */

	/* Everything wanted: exactly what the host has. */
	host_table(&t, true);
	got = fixup(&t, 0, 2, UINT32_MAX, true, true);
	assert_int_equal(got, HOST_PV_FEATURES);
	assert_int_equal(get(&t, 0x40000001, 0)->eax, HOST_PV_FEATURES);

	/* Nothing wanted: nothing offered. */
	host_table(&t, true);
	got = fixup(&t, 0, 2, 0, true, true);
	assert_int_equal(got, 0);
	assert_int_equal(get(&t, 0x40000001, 0)->eax, 0);

	/* Each single feature the host has comes through alone. */
	for (unsigned bit = 0; bit < 32; bit++) {
		host_table(&t, true);
		got = fixup(&t, 0, 1, 1u << bit, true, true);
		assert_int_equal(got, HOST_PV_FEATURES & (1u << bit));
	}
}

static void test_pv_features_without_kvm_leaf(void **state)
{
	struct table t;

	(void)state;
	host_table(&t, true);
	t.n = 2; /* leaves 0 and 1 only */
	assert_int_equal(fixup(&t, 0, 1, UINT32_MAX, true, true), 0);
}

static void test_x2apic_tsc_deadline_switches(void **state)
{
	struct table t;

	(void)state;
	/* Off, though the host has them. */
	host_table(&t, true);
	fixup(&t, 0, 1, 0, false, false);
	assert_false(get(&t, 1, 0)->ecx & L1_ECX_X2APIC);
	assert_false(get(&t, 1, 0)->ecx & L1_ECX_TSC_DEADLINE);
	assert_true(get(&t, 1, 0)->ecx & L1_ECX_HYPERVISOR);

	/* On, though the host table lacks them (KVM emulates both). */
	host_table(&t, false);
	fixup(&t, 0, 1, 0, true, true);
	assert_true(get(&t, 1, 0)->ecx & L1_ECX_X2APIC);
	assert_true(get(&t, 1, 0)->ecx & L1_ECX_TSC_DEADLINE);

	/* Independently. */
	host_table(&t, false);
	fixup(&t, 0, 1, 0, true, false);
	assert_true(get(&t, 1, 0)->ecx & L1_ECX_X2APIC);
	assert_false(get(&t, 1, 0)->ecx & L1_ECX_TSC_DEADLINE);
	host_table(&t, true);
	fixup(&t, 0, 1, 0, false, true);
	assert_false(get(&t, 1, 0)->ecx & L1_ECX_X2APIC);
	assert_true(get(&t, 1, 0)->ecx & L1_ECX_TSC_DEADLINE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_find),
	    cmocka_unit_test(test_hypervisor_bit_and_untouched_leaves),
	    cmocka_unit_test(test_apic_ids),
	    cmocka_unit_test(test_topology),
	    cmocka_unit_test(test_leaf4_core_counts),
	    cmocka_unit_test(test_pv_features_masked),
	    cmocka_unit_test(test_pv_features_without_kvm_leaf),
	    cmocka_unit_test(test_x2apic_tsc_deadline_switches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
