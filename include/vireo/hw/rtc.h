/* SPDX-License-Identifier: MIT */
/*
 * rtc.h -- the CMOS real-time clock (MC146818) at ports 0x70 (index) and
 * 0x71 (data), read-only clock.
 *
 * Without it every CMOS read returned all ones, and a stock Linux kernel,
 * which reads the wall clock at boot, saw "update in progress" for good and
 * polled the two ports until it gave up: 40000 exits. Here
 * the clock registers show the host's UTC time, in BCD or binary and 12- or
 * 24-hour form as status register B says, and "update in progress" is never
 * set. Writes to the clock registers are ignored (the guest cannot move the
 * host's clock; its own time stays its own); the alarm registers, status
 * register B's mode bits and the 114 bytes of NVRAM keep what is written.
 * No periodic, alarm or update interrupts (IRQ 8 is never raised).
 */
#ifndef VIREO_HW_RTC_H
#define VIREO_HW_RTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define RTC_PORT  0x70 /* 0x70 index (bit 7: NMI mask), 0x71 data */
#define RTC_NREGS 128

struct rtc {
	pthread_mutex_t lock; /* index and data are two accesses, from any vCPU */
	uint8_t index;
	uint8_t ram[RTC_NREGS];
	time_t (*now)(time_t *); /* time(); tests put a fixed clock here */
};

void rtc_init(struct rtc *r);
void rtc_destroy(struct rtc *r);

/* Bus handler for the two ports (dev = struct rtc). */
void rtc_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

#endif
