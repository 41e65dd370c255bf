/* SPDX-License-Identifier: MIT */
/*
 * test_rtc.c -- the CMOS clock through its two ports, at a fixed host time:
 * BCD and binary, 24- and 12-hour, never "update in progress", read-only
 * clock, NVRAM that keeps what is written.
 */
#include "unit.h"

#include "vireo/hw/rtc.h"

/* Thursday 2026-11-26 16:05:09 UTC. */
#define FIXED_TIME 1795709109

static time_t fixed_clock(time_t *t)
{
	if (t)
		*t = FIXED_TIME;
	return FIXED_TIME;
}

static uint8_t rd(struct rtc *r, uint8_t reg)
{
	uint8_t v = reg;

	rtc_io(r, 0, &v, 1, true);
	rtc_io(r, 1, &v, 1, false);
	return v;
}

static void wr(struct rtc *r, uint8_t reg, uint8_t val)
{
	rtc_io(r, 0, &reg, 1, true);
	rtc_io(r, 1, &val, 1, true);
}

static void rtc_fixed(struct rtc *r)
{
	rtc_init(r);
	r->now = fixed_clock;
}

static void test_fixed_time_is_right(void **state)
{
	struct tm tm;
	time_t t = FIXED_TIME;

	(void)state;
	/* The constant is the time the other tests say it is. */
	assert_non_null(gmtime_r(&t, &tm));
	assert_int_equal(tm.tm_year, 126);
	assert_int_equal(tm.tm_mon, 10);
	assert_int_equal(tm.tm_mday, 26);
	assert_int_equal(tm.tm_hour, 16);
	assert_int_equal(tm.tm_min, 5);
	assert_int_equal(tm.tm_sec, 9);
	assert_int_equal(tm.tm_wday, 4);
}

static void test_bcd_24h(void **state)
{
	struct rtc r;

	(void)state;
	rtc_fixed(&r);
	assert_int_equal(rd(&r, 0x00), 0x09);
	assert_int_equal(rd(&r, 0x02), 0x05);
	assert_int_equal(rd(&r, 0x04), 0x16);
	assert_int_equal(rd(&r, 0x06), 5); /* Thursday, Sunday = 1 */
	assert_int_equal(rd(&r, 0x07), 0x26);
	assert_int_equal(rd(&r, 0x08), 0x11);
	assert_int_equal(rd(&r, 0x09), 0x26);
	assert_int_equal(rd(&r, 0x32), 0x20);
	assert_int_equal(rd(&r, 0x0a) & 0x80, 0); /* never an update in progress */
	assert_int_equal(rd(&r, 0x0b), 0x02);	  /* BCD, 24-hour */
	assert_int_equal(rd(&r, 0x0c), 0);
	assert_int_equal(rd(&r, 0x0d), 0x80); /* valid */
	rtc_destroy(&r);
}

static void test_binary_and_12h(void **state)
{
	struct rtc r;

	(void)state;
	rtc_fixed(&r);
	wr(&r, 0x0b, 0x06); /* binary, 24-hour */
	assert_int_equal(rd(&r, 0x04), 16);
	assert_int_equal(rd(&r, 0x07), 26);
	assert_int_equal(rd(&r, 0x09), 26);
	wr(&r, 0x0b, 0x04); /* binary, 12-hour: 4 PM */
	assert_int_equal(rd(&r, 0x04), 0x80 | 4);
	wr(&r, 0x0b, 0x00); /* BCD, 12-hour */
	assert_int_equal(rd(&r, 0x04), 0x84);
	/* SET (bit 7) would stop the clock: not the guest's to do. */
	wr(&r, 0x0b, 0x82);
	assert_int_equal(rd(&r, 0x0b), 0x02);
	rtc_destroy(&r);
}

static void test_clock_is_read_only_nvram_is_not(void **state)
{
	struct rtc r;
	uint8_t v = 0x77;

	(void)state;
	rtc_fixed(&r);
	wr(&r, 0x00, 0x59);
	assert_int_equal(rd(&r, 0x00), 0x09);
	wr(&r, 0x32, 0x19);
	assert_int_equal(rd(&r, 0x32), 0x20);
	wr(&r, 0x0a, 0xa6); /* UIP cannot be set */
	assert_int_equal(rd(&r, 0x0a), 0x26);
	wr(&r, 0x0d, 0);
	assert_int_equal(rd(&r, 0x0d), 0x80);
	wr(&r, 0x01, 0x30); /* alarm seconds */
	assert_int_equal(rd(&r, 0x01), 0x30);
	wr(&r, 0x40, 0xab); /* NVRAM */
	wr(&r, 0x7f, 0xcd);
	assert_int_equal(rd(&r, 0x40), 0xab);
	assert_int_equal(rd(&r, 0x7f), 0xcd);
	/* Bit 7 of the index masks NMIs; the register is the low seven bits. */
	assert_int_equal(rd(&r, 0x80 | 0x40), 0xab);
	/* The index port reads as all ones; wider accesses do nothing. */
	rtc_io(&r, 0, &v, 1, false);
	assert_int_equal(v, 0xff);
	{
		uint16_t w = 0x1234;

		rtc_io(&r, 0, (uint8_t *)&w, 2, false);
		assert_int_equal(w, 0xffff);
	}
	rtc_destroy(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixed_time_is_right),
	    cmocka_unit_test(test_bcd_24h),
	    cmocka_unit_test(test_binary_and_12h),
	    cmocka_unit_test(test_clock_is_read_only_nvram_is_not),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
