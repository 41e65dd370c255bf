/* SPDX-License-Identifier: MIT */
/*
 * rtc.c -- CMOS real-time clock: host UTC time, no interrupts (see rtc.h).
 */
#include "vireo/hw/rtc.h"

#include <string.h>

enum {
	REG_SECONDS = 0x00,
	REG_MINUTES = 0x02,
	REG_HOURS = 0x04,
	REG_WEEKDAY = 0x06,
	REG_MDAY = 0x07,
	REG_MONTH = 0x08,
	REG_YEAR = 0x09,
	REG_A = 0x0a,
	REG_B = 0x0b,
	REG_C = 0x0c,
	REG_D = 0x0d,
	REG_CENTURY = 0x32, /* where PC firmware keeps it (ACPI FADT's default) */
};

#define A_UIP	      0x80 /* update in progress: never */
#define A_DIVIDER_32K 0x26 /* 32.768 kHz time base, 1024 Hz periodic rate */
#define B_24H	      0x02
#define B_BINARY      0x04
#define B_WRITABLE    0x7f /* all but SET (bit 7): the clock is not the guest's to stop */
#define D_VALID	      0x80 /* valid RAM and time (battery good) */

void rtc_init(struct rtc *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->now = time;
	r->ram[REG_A] = A_DIVIDER_32K;
	r->ram[REG_B] = B_24H; /* BCD, 24-hour: what PC firmware leaves */
	r->ram[REG_D] = D_VALID;
}

void rtc_destroy(struct rtc *r)
{
	pthread_mutex_destroy(&r->lock);
}

static uint8_t to_bcd(unsigned v)
{
	return (uint8_t)((v / 10) << 4 | v % 10);
}

/* A clock field as register B asks: BCD or binary. */
static uint8_t field(const struct rtc *r, unsigned v)
{
	return r->ram[REG_B] & B_BINARY ? (uint8_t)v : to_bcd(v);
}

static uint8_t hours(const struct rtc *r, unsigned h)
{
	unsigned h12;

	if (r->ram[REG_B] & B_24H)
		return field(r, h);
	h12 = h % 12 ? h % 12 : 12;
	return (uint8_t)(field(r, h12) | (h >= 12 ? 0x80 : 0)); /* bit 7: PM */
}

static bool is_clock_reg(unsigned reg)
{
	switch (reg) {
	case REG_SECONDS:
	case REG_MINUTES:
	case REG_HOURS:
	case REG_WEEKDAY:
	case REG_MDAY:
	case REG_MONTH:
	case REG_YEAR:
	case REG_CENTURY:
		return true;
	}
	return false;
}

/* A clock register (is_clock_reg) from the host's time now. */
static uint8_t clock_reg(const struct rtc *r, unsigned reg)
{
	time_t t = r->now(NULL);
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	switch (reg) {
	case REG_SECONDS:
		return field(r, (unsigned)tm.tm_sec % 60);
	case REG_MINUTES:
		return field(r, (unsigned)tm.tm_min);
	case REG_HOURS:
		return hours(r, (unsigned)tm.tm_hour);
	case REG_WEEKDAY:
		return field(r, (unsigned)tm.tm_wday + 1); /* Sunday = 1 */
	case REG_MDAY:
		return field(r, (unsigned)tm.tm_mday);
	case REG_MONTH:
		return field(r, (unsigned)tm.tm_mon + 1);
	case REG_YEAR:
		return field(r, (unsigned)(tm.tm_year + 1900) % 100);
	case REG_CENTURY:
		return field(r, (unsigned)(tm.tm_year + 1900) / 100);
	}
	return 0xff; /* not a clock register: callers check is_clock_reg() first */
}

static uint8_t read_reg(struct rtc *r, unsigned reg)
{
	if (is_clock_reg(reg))
		return clock_reg(r, reg);
	if (reg == REG_C)
		return 0; /* no interrupt flags: no interrupts */
	return r->ram[reg];
}

static void write_reg(struct rtc *r, unsigned reg, uint8_t v)
{
	switch (reg) {
	case REG_A:
		r->ram[REG_A] = v & (uint8_t)~A_UIP;
		break;
	case REG_B:
		r->ram[REG_B] = v & B_WRITABLE;
		break;
	case REG_C:
	case REG_D:
		break; /* read-only */
	default:
		if (!is_clock_reg(reg))
			r->ram[reg] = v; /* alarms and NVRAM */
	}
}

void rtc_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	struct rtc *r = dev;

	if (len != 1) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&r->lock);
	if (offset == 0) {
		if (is_write)
			r->index = data[0] & 0x7f; /* bit 7 masks NMIs: nothing to mask here */
		else
			data[0] = 0xff; /* the index port is write-only */
	} else if (is_write) {
		write_reg(r, r->index, data[0]);
	} else {
		data[0] = read_reg(r, r->index);
	}
	pthread_mutex_unlock(&r->lock);
}
