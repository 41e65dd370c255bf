/* SPDX-License-Identifier: MIT */
/*
 * test_stats.c -- exit accounting: the log2 handling-time histogram, stray
 * address slots, summing vCPUs, exit names, and reading KVM's binary stats
 * format from a synthetic file.
 */
#include "unit.h"

#include "vireo/core/stats.h"

#include <linux/kvm.h>

static struct vcpu_stats *new_stats(void)
{
	struct vcpu_stats *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	return s;
}

/* The one bucket holding a count, or -1 if not exactly one. */
static int only_bucket(const struct vcpu_stats *s)
{
	int found = -1;

	for (int i = 0; i < STATS_HIST_BUCKETS; i++) {
		if (!s->hist[i])
			continue;
		if (found >= 0 || s->hist[i] != 1)
			return -1;
		found = i;
	}
	return found;
}

static void test_handling_buckets(void **state)
{
	static const struct {
		uint64_t ns;
		int bucket;
	} cases[] = {
	    {0, 0},
	    {1, 0},
	    {2, 1},
	    {3, 1},
	    {1023, 9},
	    {1024, 10},
	    {1025, 10},
	    {2047, 10},
	    {1000000, 19},
	    {1ull << 46, 46},
	    {(1ull << 47) - 1, 46},
	    {1ull << 47, 47},
	    {1ull << 48, 47},
	    {UINT64_MAX, 47},
	};

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		struct vcpu_stats *s = new_stats();

		stats_count_handling(s, cases[i].ns);
		if (only_bucket(s) != cases[i].bucket)
			fail_msg("%llu ns went to bucket %d, expected %d",
				 (unsigned long long)cases[i].ns, only_bucket(s), cases[i].bucket);
		assert_int_equal(s->handled, 1);
		assert_int_equal(s->handle_ns, cases[i].ns);
		free(s);
	}
}

static void test_handling_totals(void **state)
{
	struct vcpu_stats *s = new_stats();

	(void)state;
	stats_count_handling(s, 100);
	stats_count_handling(s, 100);
	stats_count_handling(s, 5000);
	assert_int_equal(s->handled, 3);
	assert_int_equal(s->handle_ns, 5200);
	assert_int_equal(s->hist[6], 2);  /* 64..127 */
	assert_int_equal(s->hist[12], 1); /* 4096..8191 */
	free(s);
}

static void test_count_exit(void **state)
{
	struct vcpu_stats *s = new_stats();

	(void)state;
	stats_count_exit(s, KVM_EXIT_IO);
	stats_count_exit(s, KVM_EXIT_IO);
	stats_count_exit(s, KVM_EXIT_HLT);
	stats_count_exit(s, STATS_MAX_EXIT_REASON - 1);
	stats_count_exit(s, STATS_MAX_EXIT_REASON);
	stats_count_exit(s, UINT32_MAX);
	assert_int_equal(s->exits[KVM_EXIT_IO], 2);
	assert_int_equal(s->exits[KVM_EXIT_HLT], 1);
	assert_int_equal(s->exits[STATS_MAX_EXIT_REASON - 1], 3); /* large ones collect here */
	free(s);
}

static void test_stray_slots(void **state)
{
	struct stray_table t;

	(void)state;
	memset(&t, 0, sizeof(t));
	stats_count_stray(&t, 0x2f8);
	stats_count_stray(&t, 0x2f8);
	stats_count_stray(&t, 0x3e8);
	assert_int_equal(t.used, 2);
	assert_int_equal(t.slot[0].addr, 0x2f8);
	assert_int_equal(t.slot[0].count, 2);
	assert_int_equal(t.slot[1].addr, 0x3e8);
	assert_int_equal(t.slot[1].count, 1);
	assert_int_equal(t.overflow, 0);

	for (uint64_t a = 0; a < STATS_STRAY_SLOTS - 2; a++)
		stats_count_stray(&t, 0x1000 + a);
	assert_int_equal(t.used, STATS_STRAY_SLOTS);
	assert_int_equal(t.overflow, 0);
	/* Full: new addresses overflow, known ones still count in their slot. */
	stats_count_stray(&t, 0x9999);
	stats_count_stray(&t, 0x8888);
	stats_count_stray(&t, 0x2f8);
	assert_int_equal(t.used, STATS_STRAY_SLOTS);
	assert_int_equal(t.overflow, 2);
	assert_int_equal(t.slot[0].count, 3);
	/* Address 0 is an address like any other. */
	memset(&t, 0, sizeof(t));
	stats_count_stray(&t, 0);
	stats_count_stray(&t, 0);
	assert_int_equal(t.used, 1);
	assert_int_equal(t.slot[0].count, 2);
}

static void test_add(void **state)
{
	struct vcpu_stats *a = new_stats(), *b = new_stats();

	(void)state;
	a->exits[KVM_EXIT_IO] = 5;
	b->exits[KVM_EXIT_IO] = 7;
	b->exits[KVM_EXIT_MMIO] = 1;
	a->pio[3] = 10;
	b->pio[3] = 1;
	b->pio[BUS_MAX_REGIONS - 1] = 4;
	b->mmio[0] = 9;
	a->hist[0] = 1;
	b->hist[0] = 2;
	b->hist[STATS_HIST_BUCKETS - 1] = 6;
	a->handled = 3;
	b->handled = 8;
	a->handle_ns = 300;
	b->handle_ns = 800;
	/* Strays: one address in both, one only in b, plus overflow on both sides. */
	stats_count_stray(&a->pio_stray, 0x80);
	stats_count_stray(&b->pio_stray, 0x80);
	stats_count_stray(&b->pio_stray, 0x80);
	stats_count_stray(&b->pio_stray, 0x61);
	a->pio_stray.overflow = 1;
	b->pio_stray.overflow = 2;
	stats_count_stray(&b->mmio_stray, 0xfed00000);

	stats_add(a, b);
	assert_int_equal(a->exits[KVM_EXIT_IO], 12);
	assert_int_equal(a->exits[KVM_EXIT_MMIO], 1);
	assert_int_equal(a->pio[3], 11);
	assert_int_equal(a->pio[BUS_MAX_REGIONS - 1], 4);
	assert_int_equal(a->mmio[0], 9);
	assert_int_equal(a->hist[0], 3);
	assert_int_equal(a->hist[STATS_HIST_BUCKETS - 1], 6);
	assert_int_equal(a->handled, 11);
	assert_int_equal(a->handle_ns, 1100);
	assert_int_equal(a->pio_stray.used, 2);
	assert_int_equal(a->pio_stray.slot[0].addr, 0x80);
	assert_int_equal(a->pio_stray.slot[0].count, 3);
	assert_int_equal(a->pio_stray.slot[1].addr, 0x61);
	assert_int_equal(a->pio_stray.slot[1].count, 1);
	assert_int_equal(a->pio_stray.overflow, 3);
	assert_int_equal(a->mmio_stray.used, 1);
	assert_int_equal(a->mmio_stray.slot[0].addr, 0xfed00000);
	/* b is unchanged. */
	assert_int_equal(b->exits[KVM_EXIT_IO], 7);
	assert_int_equal(b->pio_stray.slot[0].count, 2);
	free(a);
	free(b);
}

static void test_add_stray_overflow(void **state)
{
	struct vcpu_stats *a = new_stats(), *b = new_stats();

	(void)state;
	for (unsigned i = 0; i < STATS_STRAY_SLOTS; i++)
		stats_count_stray(&a->pio_stray, 0x100 + i);
	/* b: one address a knows, one it has no room for (counted 5 times). */
	stats_count_stray(&b->pio_stray, 0x100);
	for (unsigned i = 0; i < 5; i++)
		stats_count_stray(&b->pio_stray, 0x900);
	stats_add(a, b);
	assert_int_equal(a->pio_stray.used, STATS_STRAY_SLOTS);
	assert_int_equal(a->pio_stray.slot[0].count, 2);
	assert_int_equal(a->pio_stray.overflow, 5);
	free(a);
	free(b);
}

static void test_exit_names(void **state)
{
	(void)state;
	assert_string_equal(stats_exit_name(KVM_EXIT_IO), "io");
	assert_string_equal(stats_exit_name(KVM_EXIT_MMIO), "mmio");
	assert_string_equal(stats_exit_name(KVM_EXIT_HLT), "hlt");
	assert_string_equal(stats_exit_name(KVM_EXIT_SHUTDOWN), "shutdown");
	assert_string_equal(stats_exit_name(KVM_EXIT_SYSTEM_EVENT), "system_event");
	assert_string_equal(stats_exit_name(KVM_EXIT_INTERNAL_ERROR), "internal_error");
	assert_string_equal(stats_exit_name(KVM_EXIT_UNKNOWN), "unknown");
	assert_string_equal(stats_exit_name(KVM_EXIT_DIRTY_RING_FULL), "dirty_ring_full");
	assert_string_equal(stats_exit_name(STATS_MAX_EXIT_REASON - 1), "other");
	/* Gaps and values past the table. */
	assert_null(stats_exit_name(KVM_EXIT_S390_SIEIC));
	assert_null(stats_exit_name(KVM_EXIT_DIRTY_RING_FULL + 1));
	assert_null(stats_exit_name(STATS_MAX_EXIT_REASON));
	assert_null(stats_exit_name(UINT32_MAX));
}

/* ---- KVM binary stats ---- */

#define NAME_SIZE 48

struct fake_desc {
	uint32_t flags;
	uint16_t size;
	const char *name;
	uint64_t value;
};

/* Write a stats "fd" as KVM lays it out: header, id, descriptors, data. */
static int make_stats_file(const struct fake_desc *d, unsigned n)
{
	const size_t desc_size = sizeof(struct kvm_stats_desc) + NAME_SIZE;
	struct kvm_stats_header h = {.name_size = NAME_SIZE,
				     .num_desc = n,
				     .id_offset = sizeof(h),
				     .desc_offset = sizeof(h) + 64,
				     .data_offset = (uint32_t)(sizeof(h) + 64 + n * desc_size)};
	FILE *f = tmpfile();
	uint64_t off = 0;
	int fd;

	assert_non_null(f);
	fd = dup(fileno(f));
	fclose(f);
	assert_true(pwrite(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h));
	assert_true(pwrite(fd, "kvm-1234", 8, h.id_offset) == 8);
	for (unsigned i = 0; i < n; i++) {
		uint64_t raw[(sizeof(struct kvm_stats_desc) + NAME_SIZE) / 8] = {0};
		struct kvm_stats_desc *kd = (struct kvm_stats_desc *)raw;
		uint64_t data[32] = {0};

		kd->flags = d[i].flags;
		kd->size = d[i].size;
		kd->offset = (uint32_t)off;
		snprintf(kd->name, NAME_SIZE, "%s", d[i].name);
		assert_true(pwrite(fd, raw, desc_size, h.desc_offset + i * desc_size) ==
			    (ssize_t)desc_size);
		for (unsigned j = 0; j < d[i].size && j < 32; j++)
			data[j] = d[i].value + j;
		assert_true(pwrite(fd, data, d[i].size * 8, h.data_offset + off) ==
			    (ssize_t)(d[i].size * 8));
		off += d[i].size * 8ull;
	}
	return fd;
}

static void test_kvm_stats_read(void **state)
{
	const struct fake_desc vcpu0[] = {
	    {KVM_STATS_TYPE_CUMULATIVE, 1, "exits", 100},
	    {KVM_STATS_TYPE_LOG_HIST, 32, "halt_poll_success_hist", 7},
	    {KVM_STATS_TYPE_PEAK, 1, "max_mmu_page_hash_collisions", 9},
	    {KVM_STATS_TYPE_INSTANT, 1, "pages_4k", 50},
	};
	const struct fake_desc vcpu1[] = {
	    {KVM_STATS_TYPE_CUMULATIVE, 1, "exits", 23},
	    {KVM_STATS_TYPE_PEAK, 1, "max_mmu_page_hash_collisions", 4},
	    {KVM_STATS_TYPE_CUMULATIVE, 1, "io_exits", 5},
	};
	struct kvm_stat_set *set = calloc(1, sizeof(*set));
	int fd0 = make_stats_file(vcpu0, ARRAY_SIZE(vcpu0));
	int fd1 = make_stats_file(vcpu1, ARRAY_SIZE(vcpu1));

	(void)state;
	assert_non_null(set);
	assert_int_equal(kvm_stats_read(fd0, set), 0);
	assert_int_equal(set->nr, 3); /* the histogram is skipped */
	assert_int_equal(kvm_stats_get(set, "exits"), 100);
	assert_int_equal(kvm_stats_get(set, "pages_4k"), 50);
	assert_int_equal(kvm_stats_get(set, "halt_poll_success_hist"), 0);
	/* A second vCPU: counters add, peaks take the maximum. */
	assert_int_equal(kvm_stats_read(fd1, set), 0);
	assert_int_equal(kvm_stats_get(set, "exits"), 123);
	assert_int_equal(kvm_stats_get(set, "max_mmu_page_hash_collisions"), 9);
	assert_int_equal(kvm_stats_get(set, "io_exits"), 5);
	assert_int_equal(kvm_stats_get(set, "nonexistent"), 0);
	assert_int_equal(set->nr, 4);
	/* Not a stats file. */
	assert_int_equal(kvm_stats_read(-1, set), -1);
	close(fd0);
	close(fd1);
	free(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handling_buckets),
	    cmocka_unit_test(test_handling_totals),
	    cmocka_unit_test(test_count_exit),
	    cmocka_unit_test(test_stray_slots),
	    cmocka_unit_test(test_add),
	    cmocka_unit_test(test_add_stray_overflow),
	    cmocka_unit_test(test_exit_names),
	    cmocka_unit_test(test_kvm_stats_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
