/* SPDX-License-Identifier: MIT */
/*
 * i8042.h -- the PS/2 controller at ports 0x60 (data) and 0x64 (status on
 * read, command on write), with no keyboard or mouse behind it.
 *
 * Why more than a reset line: Linux's i8042 driver reads the controller's
 * command byte (CTR) at boot, and when nothing answers it polls the status
 * port 10000 times (I8042_CTL_TIMEOUT) before it gives up: 10000 exits.
 * This controller answers its own commands at once: read and write the CTR,
 * the controller and keyboard-port self-tests, the output port, enable and
 * disable of either port, and the writes into its output buffer. So the probe
 * costs a few dozen exits.
 *
 * It has no AUX (mouse) port: the AUX loopback (0xd3) hands its byte back
 * without the AUX flag and the AUX port test (0xa9) reports a stuck clock
 * line, which is how Linux tells that a controller has none, without
 * waiting. Bytes sent to the keyboard (data writes with no command pending,
 * or through 0xd4 to the mouse) go nowhere; the driver's keyboard probe then
 * times out on its own, in guest time rather than in exits. IRQ 1 and 12 are
 * never raised: every byte this controller produces answers a command the
 * guest polls for.
 *
 * Reset: command 0xfe (or any 0xf0-0xff pulse with bit 0 clear), or an
 * output-port write (0xd1) with bit 0 (the CPU reset line) clear.
 */
#ifndef VIREO_HW_I8042_H
#define VIREO_HW_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT	0x64

/* Status register (read from 0x64). */
#define I8042_STR_OBF	  0x01 /* output buffer full: a byte waits at 0x60 */
#define I8042_STR_SYS	  0x04 /* system flag (self-test passed), copied from the CTR */
#define I8042_STR_CMD	  0x08 /* the last write went to 0x64, not 0x60 */
#define I8042_STR_UNLOCK  0x10 /* keyboard not inhibited (keylock off) */
#define I8042_STR_AUXDATA 0x20 /* the byte at 0x60 came from the AUX port */

/* Command byte (CTR). */
#define I8042_CTR_KBDINT 0x01
#define I8042_CTR_AUXINT 0x02
#define I8042_CTR_SYS	 0x04
#define I8042_CTR_KBDDIS 0x10
#define I8042_CTR_AUXDIS 0x20
#define I8042_CTR_XLATE	 0x40

/* Output port. */
#define I8042_OUT_RESET_HIGH 0x01 /* CPU reset line: 0 resets */
#define I8042_OUT_A20	     0x02

struct i8042 {
	pthread_mutex_t lock; /* a command and its data byte may come from two vCPUs */
	uint8_t ctr;
	uint8_t outport;
	uint8_t out;		  /* output buffer (0x60 reads return it) */
	bool out_full;		  /* status OBF */
	uint8_t pending;	  /* command waiting for its data byte at 0x60, or 0 */
	bool last_was_cmd;	  /* status CMD */
	uint64_t ignored;	  /* commands this controller does not implement */
	void (*reset)(void *ctx); /* the guest pulsed the CPU reset line */
	void *ctx;
};

void i8042_init(struct i8042 *k, void (*reset)(void *ctx), void *ctx);
void i8042_destroy(struct i8042 *k);

/* Bus handlers (dev = struct i8042) for 0x60 and 0x64. */
void i8042_data_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write);
void i8042_cmd_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

#endif
