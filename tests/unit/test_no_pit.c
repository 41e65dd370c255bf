/* SPDX-License-Identifier: MIT */
/*
 * test_no_pit.c -- the PIT's ports with --no-pit: counters that read 0, and
 * port 0x61 with channel 2's output high and no NMI reason, so a guest's
 * PIT probe ends at its first read (no_pit.h says why each value).
 */
#include "unit.h"

#include "vireo/hw/no_pit.h"

static void test_counters_read_zero_and_drop_writes(void **state)
{
	(void)state;
	for (unsigned off = 0; off < NO_PIT_PORTS; off++) {
		uint8_t v = 0xb0;

		no_pit_io(NULL, off, &v, 1, true); /* dropped: nothing to check but no crash */
		v = 0xaa;
		no_pit_io(NULL, off, &v, 1, false);
		assert_int_equal(v, 0);
	}
	{
		uint32_t w = 0xffffffff;

		no_pit_io(NULL, 0, (uint8_t *)&w, 4, false);
		assert_int_equal(w, 0);
	}
}

static void test_port61_output_high_no_nmi_reason(void **state)
{
	uint8_t v = 0xff;

	(void)state;
	no_pit_port61_io(NULL, 0, &v, 1, false);
	assert_int_equal(v, 0x20);
	assert_int_equal(v & 0xc0, 0); /* no SERR, no IOCHK */
	v = 0x03;		       /* gate and speaker on: dropped */
	no_pit_port61_io(NULL, 0, &v, 1, true);
	v = 0;
	no_pit_port61_io(NULL, 0, &v, 1, false);
	assert_int_equal(v, NO_PIT_PORT61_OUT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counters_read_zero_and_drop_writes),
	    cmocka_unit_test(test_port61_output_high_no_nmi_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
