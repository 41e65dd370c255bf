/* SPDX-License-Identifier: MIT */
/*
 * test_gmem.c -- the guest memory layout and its only door: gmem_ptr(),
 * gmem_read(), gmem_write() at every boundary, and gmem_alloc() with the
 * resident-size accounting.
 *
 * The boundary tests use a real 3 GiB + 64 KiB layout (so the hole and the
 * high slot are where vireo puts them) over a MAP_NORESERVE mapping: only
 * the few pages the tests touch ever exist.
 */
#include "unit.h"

#define HIGH_SIZE KIB(64)
#define RAM	  (GIB(3) + HIGH_SIZE)

struct big {
	struct fake_mem f;
};

static int big_setup(void **state)
{
	struct big *b = calloc(1, sizeof(*b));

	if (!b)
		return -1;
	fake_mem_init(&b->f, RAM);
	*state = b;
	return 0;
}

static int big_teardown(void **state)
{
	struct big *b = *state;

	fake_mem_free(&b->f);
	free(b);
	return 0;
}

static const struct gmem *mem_of(void **state)
{
	return &((struct big *)*state)->f.m;
}

static uint8_t *host_of(void **state)
{
	return ((struct big *)*state)->f.buf;
}

static void test_layout(void **state)
{
	const struct gmem *m = mem_of(state);
	struct gmem small, exact, one_more;
	uint8_t byte;

	assert_int_equal(m->nr_slots, 2);
	assert_int_equal(m->ram_size, RAM);
	assert_int_equal(m->slot[0].gpa, 0);
	assert_int_equal(m->slot[0].size, GIB(3));
	assert_ptr_equal(m->slot[0].host, host_of(state));
	assert_int_equal(m->slot[1].gpa, GIB(4));
	assert_int_equal(m->slot[1].size, HIGH_SIZE);
	assert_ptr_equal(m->slot[1].host, host_of(state) + GIB(3));
	assert_int_equal(gmem_low_end(m), GIB(3));

	/* Below the hole: one slot. Exactly 3 GiB: still one. One byte more: two. */
	gmem_layout(&small, host_of(state), MIB(64));
	assert_int_equal(small.nr_slots, 1);
	assert_int_equal(small.slot[0].size, MIB(64));
	assert_int_equal(gmem_low_end(&small), MIB(64));
	gmem_layout(&exact, host_of(state), GIB(3));
	assert_int_equal(exact.nr_slots, 1);
	gmem_layout(&one_more, host_of(state), GIB(3) + 1);
	assert_int_equal(one_more.nr_slots, 2);
	assert_int_equal(one_more.slot[1].size, 1);
	assert_int_equal(one_more.slot[1].gpa, GMEM_HOLE_END);

	/* An empty gmem has no RAM at all. */
	memset(&small, 0, sizeof(small));
	assert_int_equal(gmem_low_end(&small), 0);
	assert_null(gmem_ptr(&small, gpa(0), 1));
	assert_false(gmem_read(&small, gpa(0), &byte, 1));
}

static void test_ptr_low_slot(void **state)
{
	const struct gmem *m = mem_of(state);
	uint8_t *h = host_of(state);

	assert_ptr_equal(gmem_ptr(m, gpa(0), 1), h);
	assert_ptr_equal(gmem_ptr(m, gpa(0x1234), 16), h + 0x1234);
	assert_ptr_equal(gmem_ptr(m, gpa(0), GIB(3)), h); /* the whole slot */
	assert_null(gmem_ptr(m, gpa(0), GIB(3) + 1));
	/* Last byte, last 16 bytes. */
	assert_ptr_equal(gmem_ptr(m, gpa(GIB(3) - 1), 1), h + GIB(3) - 1);
	assert_ptr_equal(gmem_ptr(m, gpa(GIB(3) - 16), 16), h + GIB(3) - 16);
	/* One past the end is the hole; so is anything straddling into it. */
	assert_null(gmem_ptr(m, gpa(GIB(3)), 1));
	assert_null(gmem_ptr(m, gpa(GIB(3) - 1), 2));
	assert_null(gmem_ptr(m, gpa(GIB(3) - 16), 17));
	assert_null(gmem_ptr(m, gpa(0xfee00000), 4)); /* LAPIC, in the hole */
}

static void test_ptr_high_slot(void **state)
{
	const struct gmem *m = mem_of(state);
	uint8_t *h = host_of(state);

	/* The last byte of the hole and a range from the hole into the high slot. */
	assert_null(gmem_ptr(m, gpa(GIB(4) - 1), 1));
	assert_null(gmem_ptr(m, gpa(GIB(4) - 1), 2));
	assert_null(gmem_ptr(m, gpa(GIB(3) - 8), GIB(1) + 16)); /* across the whole hole */
	/* The high slot: start, last byte, all of it. */
	assert_ptr_equal(gmem_ptr(m, gpa(GIB(4)), 1), h + GIB(3));
	assert_ptr_equal(gmem_ptr(m, gpa(GIB(4) + HIGH_SIZE - 1), 1), h + GIB(3) + HIGH_SIZE - 1);
	assert_ptr_equal(gmem_ptr(m, gpa(GIB(4)), HIGH_SIZE), h + GIB(3));
	/* Past it. */
	assert_null(gmem_ptr(m, gpa(GIB(4)), HIGH_SIZE + 1));
	assert_null(gmem_ptr(m, gpa(GIB(4) + HIGH_SIZE), 1));
	assert_null(gmem_ptr(m, gpa(GIB(4) + HIGH_SIZE - 8), 16));
	assert_null(gmem_ptr(m, gpa(GIB(64)), 1));
}

static void test_ptr_len_zero(void **state)
{
	const struct gmem *m = mem_of(state);
	uint8_t *h = host_of(state);

	/* len 0 checks one byte: fine in RAM, refused where a 1-byte access would be. */
	assert_ptr_equal(gmem_ptr(m, gpa(0), 0), h);
	assert_ptr_equal(gmem_ptr(m, gpa(GIB(3) - 1), 0), h + GIB(3) - 1);
	assert_null(gmem_ptr(m, gpa(GIB(3)), 0));
	assert_null(gmem_ptr(m, gpa(GIB(4) + HIGH_SIZE), 0));
	assert_null(gmem_ptr(m, gpa(UINT64_MAX), 0));
}

static void test_ptr_overflow(void **state)
{
	const struct gmem *m = mem_of(state);

	/*
	 * gpa + len wraps past 2^64 and the wrapped end lands back in RAM:
	 * a check of the end alone would accept these.
	 */
	assert_null(gmem_ptr(m, gpa(UINT64_MAX - 0xf), 0x20));
	assert_null(gmem_ptr(m, gpa(UINT64_MAX), 2));
	assert_null(gmem_ptr(m, gpa(UINT64_MAX), 1));
	assert_null(gmem_ptr(m, gpa(GIB(4) + 1), SIZE_MAX));
	assert_null(gmem_ptr(m, gpa(1), SIZE_MAX));
	assert_null(gmem_ptr(m, gpa(0), SIZE_MAX));
	assert_null(gmem_ptr(m, gpa(UINT64_MAX - GIB(1)), GIB(2)));
	/*
	 * The start in RAM and the wrapped end back in the same slot: only the
	 * overflow check stands between these and a pointer to 2^64 bytes.
	 */
	assert_null(gmem_ptr(m, gpa(2), SIZE_MAX));
	assert_null(gmem_ptr(m, gpa(0x1000), SIZE_MAX - 0x800));
	assert_null(gmem_ptr(m, gpa(GIB(4) + 8), SIZE_MAX - 3));
}

static void test_read_write_boundaries(void **state)
{
	const struct gmem *m = mem_of(state);
	uint8_t *h = host_of(state);
	const uint8_t src[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	uint8_t dst[16];

	/* The last 16 bytes below the hole. */
	assert_true(gmem_write(m, gpa(GIB(3) - 16), src, 16));
	assert_memory_equal(h + GIB(3) - 16, src, 16);
	memset(dst, 0, sizeof(dst));
	assert_true(gmem_read(m, gpa(GIB(3) - 16), dst, 16));
	assert_memory_equal(dst, src, 16);

	/* One byte too far: refused, memory and buffer unchanged. */
	memset(h + GIB(3) - 16, 0xaa, 16);
	memset(dst, 0x55, sizeof(dst));
	assert_false(gmem_write(m, gpa(GIB(3) - 15), src, 16));
	assert_false(gmem_read(m, gpa(GIB(3) - 15), dst, 16));
	for (unsigned i = 0; i < 16; i++) {
		assert_int_equal(h[GIB(3) - 16 + i], 0xaa);
		assert_int_equal(dst[i], 0x55);
	}

	/* The first and last bytes of the high slot. */
	assert_true(gmem_write(m, gpa(GIB(4)), src, 16));
	assert_memory_equal(h + GIB(3), src, 16);
	assert_true(gmem_write(m, gpa(GIB(4) + HIGH_SIZE - 16), src, 16));
	assert_memory_equal(h + GIB(3) + HIGH_SIZE - 16, src, 16);
	assert_true(gmem_read(m, gpa(GIB(4) + HIGH_SIZE - 1), dst, 1));
	assert_int_equal(dst[0], 16);
	assert_false(gmem_write(m, gpa(GIB(4) + HIGH_SIZE - 15), src, 16));
	assert_false(gmem_read(m, gpa(GIB(4) - 8), dst, 16)); /* hole into slot */
	assert_false(gmem_write(m, gpa(UINT64_MAX - 7), src, 16));

	/* len 0: true in RAM, false outside, and nothing copied either way. */
	assert_true(gmem_write(m, gpa(0x1000), src, 0));
	assert_true(gmem_read(m, gpa(0x1000), dst, 0));
	assert_false(gmem_write(m, gpa(GIB(3)), src, 0));
	assert_false(gmem_read(m, gpa(GIB(4) + HIGH_SIZE), dst, 0));
}

/* A hand-built layout whose low slot does not start at 0. */
static void test_hand_built_slots(void **state)
{
	uint8_t lo[0x1000], hi[0x800];
	struct gmem m = {.nr_slots = 2,
			 .slot = {{.gpa = 0x10000, .size = sizeof(lo), .host = lo},
				  {.gpa = 0x20000, .size = sizeof(hi), .host = hi}}};

	(void)state;
	assert_null(gmem_ptr(&m, gpa(0xffff), 1));
	assert_null(gmem_ptr(&m, gpa(0xffff), 2));
	assert_ptr_equal(gmem_ptr(&m, gpa(0x10000), 1), lo);
	assert_ptr_equal(gmem_ptr(&m, gpa(0x10fff), 1), lo + 0xfff);
	assert_null(gmem_ptr(&m, gpa(0x10fff), 2));
	assert_null(gmem_ptr(&m, gpa(0x11000), 1));
	assert_ptr_equal(gmem_ptr(&m, gpa(0x20000), sizeof(hi)), hi);
	assert_null(gmem_ptr(&m, gpa(0x20000), sizeof(hi) + 1));
	/* A range covering both slots and the gap between is not one slot. */
	assert_null(gmem_ptr(&m, gpa(0x10000), 0x10800));
	/* Slots past nr_slots are ignored. */
	m.nr_slots = 1;
	assert_null(gmem_ptr(&m, gpa(0x20000), 1));
}

/* ---- gmem_alloc ---- */

static void alloc_case(bool hugepages, bool prefault)
{
	struct gmem m;
	uint64_t resident;

	memset(&m, 0x5a, sizeof(m));
	assert_int_equal(gmem_alloc(&m, MIB(64), hugepages, prefault), 0);
	assert_non_null(m.base);
	assert_int_equal((uintptr_t)m.base % MIB(2), 0); /* 2 MiB aligned for THP */
	assert_int_equal(m.map_size, MIB(64));
	assert_int_equal(m.ram_size, MIB(64));
	assert_int_equal(m.nr_slots, 1);
	assert_ptr_equal(m.slot[0].host, m.base);
	assert_int_equal(m.slot[0].size, MIB(64));

	resident = gmem_resident_bytes(&m);
	if (prefault) {
		assert_int_equal(resident, MIB(64));
	} else {
		assert_int_equal(resident, 0);
		/* Touch one byte: a 4 KiB page, or a 2 MiB one with THP. */
		assert_true(gmem_write(&m, gpa(MIB(10) + 5), "x", 1));
		resident = gmem_resident_bytes(&m);
		assert_true(resident >= 4096 && resident <= MIB(2));
	}
	/* The memory is usable to its last byte. */
	assert_true(gmem_write(&m, gpa(MIB(64) - 1), "y", 1));
	gmem_free(&m);
	assert_null(m.base);
	assert_int_equal(m.nr_slots, 0);
	assert_int_equal(gmem_resident_bytes(&m), 0);
}

static void test_alloc_plain(void **state)
{
	(void)state;
	alloc_case(false, false);
}

static void test_alloc_hugepages(void **state)
{
	(void)state;
	alloc_case(true, false);
}

static void test_alloc_prefault(void **state)
{
	(void)state;
	alloc_case(false, true);
}

static void test_alloc_hugepages_prefault(void **state)
{
	(void)state;
	alloc_case(true, true);
}

static void test_alloc_spanning_hole(void **state)
{
	struct gmem m;

	(void)state;
	/* Address space only: nothing is touched but two bytes. */
	assert_int_equal(gmem_alloc(&m, MIB(3500), false, false), 0);
	assert_int_equal(m.nr_slots, 2);
	assert_int_equal(m.slot[1].gpa, GIB(4));
	assert_int_equal(m.slot[1].size, MIB(3500) - GIB(3));
	assert_ptr_equal(m.slot[1].host, m.base + GIB(3));
	assert_true(gmem_write(&m, gpa(GIB(4) + MIB(428) - 1), "z", 1));
	assert_int_equal(m.base[MIB(3500) - 1], 'z');
	assert_true(gmem_resident_bytes(&m) <= MIB(2));
	gmem_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_layout, big_setup, big_teardown),
	    cmocka_unit_test_setup_teardown(test_ptr_low_slot, big_setup, big_teardown),
	    cmocka_unit_test_setup_teardown(test_ptr_high_slot, big_setup, big_teardown),
	    cmocka_unit_test_setup_teardown(test_ptr_len_zero, big_setup, big_teardown),
	    cmocka_unit_test_setup_teardown(test_ptr_overflow, big_setup, big_teardown),
	    cmocka_unit_test_setup_teardown(test_read_write_boundaries, big_setup, big_teardown),
	    cmocka_unit_test(test_hand_built_slots),
	    cmocka_unit_test(test_alloc_plain),
	    cmocka_unit_test(test_alloc_hugepages),
	    cmocka_unit_test(test_alloc_prefault),
	    cmocka_unit_test(test_alloc_hugepages_prefault),
	    cmocka_unit_test(test_alloc_spanning_hole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
