/* SPDX-License-Identifier: MIT */
/*
 * test_bus.c -- bus_register() overlap and range checks, bus_find() and
 * bus_dispatch(): offsets not addresses, open-bus reads, unassigned and
 * straddling accesses.
 */
#include "unit.h"

#include "vireo/core/bus.h"

/* What the handler saw on its last call. */
struct probe {
	unsigned calls;
	void *dev;
	uint64_t offset;
	unsigned len;
	bool is_write;
	uint8_t seen[8]; /* data as the handler received it */
};

static struct probe probe;

static void probe_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	probe.calls++;
	probe.dev = dev;
	probe.offset = offset;
	probe.len = len;
	probe.is_write = is_write;
	memcpy(probe.seen, data, len);
	if (!is_write)
		for (unsigned i = 0; i < len; i++)
			data[i] = (uint8_t)(0x10 + offset + i);
}

static int reset_probe(void **state)
{
	(void)state;
	memset(&probe, 0, sizeof(probe));
	return 0;
}

/* Register and expect rejection with a message naming the problem. */
static void expect_reject(struct bus *b, uint64_t base, uint64_t len, const char *why)
{
	struct stderr_capture c;
	unsigned nr = b->nr;
	int rc;

	stderr_capture_begin(&c);
	rc = bus_register(b, base, len, "newdev", probe_io, NULL);
	stderr_capture_end(&c);
	if (rc != -1)
		fail_msg("[0x%llx, +0x%llx) accepted as region %d", (unsigned long long)base,
			 (unsigned long long)len, rc);
	assert_int_equal(b->nr, nr); /* nothing added */
	assert_substr(c.text, "vireo: ");
	assert_substr(c.text, why);
}

static void test_register_overlaps(void **state)
{
	struct bus b;
	int dev;

	(void)state;
	bus_init(&b, "pio");
	assert_string_equal(b.kind, "pio");
	assert_int_equal(b.nr, 0);
	assert_int_equal(bus_register(&b, 0x100, 8, "uart", probe_io, &dev), 0);
	assert_int_equal(b.region[0].base, 0x100);
	assert_int_equal(b.region[0].len, 8);
	assert_string_equal(b.region[0].name, "uart");
	assert_ptr_equal(b.region[0].dev, &dev);
	assert_int_equal(b.region[0].kernel_eventfd, -1);

	expect_reject(&b, 0x100, 8, "overlaps uart [0x100, 0x108)"); /* exact */
	expect_reject(&b, 0xfc, 8, "overlaps uart");		     /* partial, from below */
	expect_reject(&b, 0x104, 8, "overlaps uart");		     /* partial, from above */
	expect_reject(&b, 0x107, 1, "overlaps uart");		     /* last byte */
	expect_reject(&b, 0xff, 2, "overlaps uart");		     /* first byte */
	expect_reject(&b, 0x102, 2, "overlaps uart");		     /* contained */
	expect_reject(&b, 0x0, 0x1000, "overlaps uart");	     /* containing */

	/* Adjacent on both sides is fine. */
	assert_int_equal(bus_register(&b, 0xf8, 8, "below", probe_io, NULL), 1);
	assert_int_equal(bus_register(&b, 0x108, 8, "above", probe_io, NULL), 2);
	assert_int_equal(b.nr, 3);
	/* And the message names the region actually hit. */
	expect_reject(&b, 0x10f, 4, "overlaps above");
}

static void test_register_bad_ranges(void **state)
{
	struct bus b;

	(void)state;
	bus_init(&b, "mmio");
	expect_reject(&b, 0x1000, 0, "empty or wrapping");
	expect_reject(&b, UINT64_MAX - 1, 4, "empty or wrapping");
	expect_reject(&b, 0x8000000000000000ull, 0x8000000000000001ull, "empty or wrapping");
	expect_reject(&b, 0x1000, UINT64_MAX, "mmio region newdev");
	/* The largest range that ends just below 2^64 is fine. */
	assert_int_equal(bus_register(&b, 0xfffffffffffff000ull, 0xfff, "top", probe_io, NULL), 0);
}

static void test_register_full_table(void **state)
{
	struct bus b;

	(void)state;
	bus_init(&b, "pio");
	for (unsigned i = 0; i < BUS_MAX_REGIONS; i++)
		assert_int_equal(bus_register(&b, 0x1000 + i * 0x10, 0x10, "r", probe_io, NULL), i);
	expect_reject(&b, 0x9000, 1, "full");
	assert_int_equal(b.nr, BUS_MAX_REGIONS);
	/* Every earlier region still routes. */
	assert_int_equal(bus_find(&b, 0x1000 + 63 * 0x10 + 0xf, 1), 63);
}

static void test_find(void **state)
{
	struct bus b;

	(void)state;
	bus_init(&b, "mmio");
	assert_int_equal(bus_find(&b, 0, 1), -1);
	assert_int_equal(bus_register(&b, 0x1000, 0x100, "a", probe_io, NULL), 0);
	assert_int_equal(bus_register(&b, 0xfffffffffffffff0ull, 0xf, "top", probe_io, NULL), 1);
	assert_int_equal(bus_find(&b, 0x1000, 8), 0);
	assert_int_equal(bus_find(&b, 0x10f8, 8), 0);
	assert_int_equal(bus_find(&b, 0x10fc, 8), -1); /* straddles the end */
	assert_int_equal(bus_find(&b, 0xffc, 8), -1);  /* straddles the start */
	assert_int_equal(bus_find(&b, 0x1100, 1), -1);
	assert_int_equal(bus_find(&b, 0xfff, 1), -1);
	/* Near 2^64 nothing overflows. */
	assert_int_equal(bus_find(&b, 0xfffffffffffffff0ull, 8), 1);
	assert_int_equal(bus_find(&b, 0xfffffffffffffffaull, 8), -1);
	assert_int_equal(bus_find(&b, UINT64_MAX, 1), -1);
}

static void test_dispatch_offset_and_data(void **state)
{
	struct bus b;
	int dev;
	uint8_t data[8];

	(void)state;
	bus_init(&b, "pio");
	assert_int_equal(bus_register(&b, 0x3f8, 8, "uart", probe_io, &dev), 0);
	assert_int_equal(bus_register(&b, 0x60, 1, "kbd", probe_io, NULL), 1);

	/* A read: the handler sees the offset and a buffer pre-filled with 0xff. */
	memset(data, 0, sizeof(data));
	assert_int_equal(bus_dispatch(&b, 0x3fd, data, 1, false), 0);
	assert_int_equal(probe.calls, 1);
	assert_ptr_equal(probe.dev, &dev);
	assert_int_equal(probe.offset, 5);
	assert_int_equal(probe.len, 1);
	assert_false(probe.is_write);
	assert_int_equal(probe.seen[0], 0xff);
	assert_int_equal(data[0], 0x15);

	memset(data, 0, sizeof(data));
	assert_int_equal(bus_dispatch(&b, 0x3fa, data, 4, false), 0);
	assert_int_equal(probe.offset, 2);
	assert_memory_equal(probe.seen, "\xff\xff\xff\xff", 4);
	assert_memory_equal(data, "\x12\x13\x14\x15", 4);

	/* A write: the data goes through untouched. */
	memcpy(data, "\x01\x02", 2);
	assert_int_equal(bus_dispatch(&b, 0x3f8, data, 2, true), 0);
	assert_int_equal(probe.offset, 0);
	assert_true(probe.is_write);
	assert_memory_equal(probe.seen, "\x01\x02", 2);
	assert_memory_equal(data, "\x01\x02", 2);

	/* The second region gets offset 0 too, and its own dev. */
	assert_int_equal(bus_dispatch(&b, 0x60, data, 1, false), 1);
	assert_int_equal(probe.offset, 0);
	assert_null(probe.dev);
	assert_int_equal(probe.calls, 4);
}

static void test_dispatch_unassigned(void **state)
{
	struct bus b;
	uint8_t data[8];

	(void)state;
	bus_init(&b, "pio");
	assert_int_equal(bus_register(&b, 0x3f8, 8, "uart", probe_io, NULL), 0);

	/* Nothing there: reads float high, writes are dropped, the handler is not called. */
	memset(data, 0, sizeof(data));
	assert_int_equal(bus_dispatch(&b, 0x2f8, data, 4, false), -1);
	assert_memory_equal(data, "\xff\xff\xff\xff\x00", 5); /* only len bytes */
	memcpy(data, "\x01\x02\x03\x04", 4);
	assert_int_equal(bus_dispatch(&b, 0x2f8, data, 4, true), -1);
	assert_memory_equal(data, "\x01\x02\x03\x04", 4);

	/* Straddling the region's end is not the region's. */
	memset(data, 0, sizeof(data));
	assert_int_equal(bus_dispatch(&b, 0x3fe, data, 4, false), -1);
	assert_memory_equal(data, "\xff\xff\xff\xff", 4);
	assert_int_equal(bus_dispatch(&b, 0x3ff, data, 2, true), -1);
	assert_int_equal(probe.calls, 0);

	/* The last byte alone is. */
	assert_int_equal(bus_dispatch(&b, 0x3ff, data, 1, false), 0);
	assert_int_equal(probe.offset, 7);
	assert_int_equal(probe.calls, 1);
}

static void test_dispatch_no_handler(void **state)
{
	struct bus b;
	uint8_t data[4] = {0};

	(void)state;
	bus_init(&b, "mmio");
	assert_int_equal(bus_register(&b, 0xd0000000, 0x1000, "sink", NULL, NULL), 0);
	/* A region with no handler is still the region: reads all ones. */
	assert_int_equal(bus_dispatch(&b, 0xd0000010, data, 4, false), 0);
	assert_memory_equal(data, "\xff\xff\xff\xff", 4);
	assert_int_equal(bus_dispatch(&b, 0xd0000010, data, 4, true), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_register_overlaps, reset_probe),
	    cmocka_unit_test_setup(test_register_bad_ranges, reset_probe),
	    cmocka_unit_test_setup(test_register_full_table, reset_probe),
	    cmocka_unit_test_setup(test_find, reset_probe),
	    cmocka_unit_test_setup(test_dispatch_offset_and_data, reset_probe),
	    cmocka_unit_test_setup(test_dispatch_unassigned, reset_probe),
	    cmocka_unit_test_setup(test_dispatch_no_handler, reset_probe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
