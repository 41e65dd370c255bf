/* SPDX-License-Identifier: MIT */
/*
 * i8042.c -- a PS/2 controller that answers its own commands at once and
 * has nothing plugged in (see i8042.h for why, and for what a guest sees).
 */
#include "vireo/hw/i8042.h"

#include <string.h>

enum {
	CMD_READ_CTR = 0x20,
	CMD_WRITE_CTR = 0x60,
	CMD_AUX_DISABLE = 0xa7,
	CMD_AUX_ENABLE = 0xa8,
	CMD_AUX_TEST = 0xa9,
	CMD_SELF_TEST = 0xaa,
	CMD_KBD_TEST = 0xab,
	CMD_KBD_DISABLE = 0xad,
	CMD_KBD_ENABLE = 0xae,
	CMD_READ_OUTPORT = 0xd0,
	CMD_WRITE_OUTPORT = 0xd1,
	CMD_WRITE_KBD_OUTBUF = 0xd2,
	CMD_WRITE_AUX_OUTBUF = 0xd3,
	CMD_WRITE_AUX_DEV = 0xd4,
	CMD_PULSE_FIRST = 0xf0, /* 0xf0-0xff: pulse the output lines whose bit is 0 */
};

#define SELF_TEST_OK	0x55
#define PORT_TEST_OK	0x00
#define PORT_CLOCK_HIGH 0x02 /* port test result: clock line stuck high (nothing there) */

/* What a BIOS leaves: keyboard interrupt on, self-test passed, translation. */
#define CTR_AT_BOOT (I8042_CTR_KBDINT | I8042_CTR_SYS | I8042_CTR_XLATE)

void i8042_init(struct i8042 *k, void (*reset)(void *ctx), void *ctx)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->ctr = CTR_AT_BOOT;
	k->outport = I8042_OUT_RESET_HIGH | I8042_OUT_A20;
	k->reset = reset;
	k->ctx = ctx;
}

void i8042_destroy(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}

static void put_output(struct i8042 *k, uint8_t byte)
{
	k->out = byte;
	k->out_full = true;
}

static uint8_t status(const struct i8042 *k)
{
	uint8_t s = I8042_STR_UNLOCK;

	if (k->out_full)
		s |= I8042_STR_OBF;
	if (k->ctr & I8042_CTR_SYS)
		s |= I8042_STR_SYS;
	if (k->last_was_cmd)
		s |= I8042_STR_CMD;
	/* I8042_STR_AUXDATA never: there is no AUX port (see i8042.h). */
	return s;
}

/* A command written to 0x64. Returns true when it pulses the reset line. */
static bool run_command(struct i8042 *k, uint8_t cmd)
{
	k->pending = 0; /* a new command abandons one still waiting for its data */
	switch (cmd) {
	case CMD_READ_CTR:
		put_output(k, k->ctr);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTPORT:
	case CMD_WRITE_KBD_OUTBUF:
	case CMD_WRITE_AUX_OUTBUF:
	case CMD_WRITE_AUX_DEV:
		k->pending = cmd; /* the byte comes next, at 0x60 */
		break;
	case CMD_AUX_DISABLE:
		k->ctr |= I8042_CTR_AUXDIS;
		break;
	case CMD_AUX_ENABLE:
		k->ctr &= ~I8042_CTR_AUXDIS;
		break;
	case CMD_AUX_TEST:
		put_output(k, PORT_CLOCK_HIGH);
		break;
	case CMD_SELF_TEST:
		k->ctr |= I8042_CTR_SYS;
		put_output(k, SELF_TEST_OK);
		break;
	case CMD_KBD_TEST:
		put_output(k, PORT_TEST_OK);
		break;
	case CMD_KBD_DISABLE:
		k->ctr |= I8042_CTR_KBDDIS;
		break;
	case CMD_KBD_ENABLE:
		k->ctr &= ~I8042_CTR_KBDDIS;
		break;
	case CMD_READ_OUTPORT:
		put_output(k, k->outport);
		break;
	default:
		if (cmd >= CMD_PULSE_FIRST)
			return !(cmd & I8042_OUT_RESET_HIGH);
		k->ignored++;
		break;
	}
	return false;
}

/* A byte written to 0x60. Returns true when it pulls the reset line low. */
static bool write_data(struct i8042 *k, uint8_t byte)
{
	uint8_t cmd = k->pending;

	k->pending = 0;
	switch (cmd) {
	case CMD_WRITE_CTR:
		k->ctr = byte;
		break;
	case CMD_WRITE_OUTPORT:
		k->outport = byte;
		return !(byte & I8042_OUT_RESET_HIGH);
	case CMD_WRITE_KBD_OUTBUF:
		put_output(k, byte);
		break;
	case CMD_WRITE_AUX_OUTBUF:
		/* Back without the AUX flag: Linux reads that as "no AUX port". */
		put_output(k, byte);
		break;
	default:
		/* To the keyboard (or, via 0xd4, the mouse): nobody is there. */
		break;
	}
	return false;
}

static uint8_t read_data(struct i8042 *k)
{
	k->out_full = false;
	return k->out; /* an empty buffer repeats its last byte, as hardware does */
}

/* One byte at either port; other widths do nothing. */
static void port_io(struct i8042 *k, bool cmd_port, uint8_t *data, unsigned len, bool is_write)
{
	bool reset = false;

	if (len != 1)
		return;
	pthread_mutex_lock(&k->lock);
	if (is_write) {
		k->last_was_cmd = cmd_port;
		reset = cmd_port ? run_command(k, data[0]) : write_data(k, data[0]);
	} else {
		data[0] = cmd_port ? status(k) : read_data(k);
	}
	pthread_mutex_unlock(&k->lock);
	if (reset && k->reset)
		k->reset(k->ctx); /* outside the lock: stopping the VM kicks vCPUs */
}

void i8042_data_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	(void)offset;
	port_io(dev, false, data, len, is_write);
}

void i8042_cmd_io(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	(void)offset;
	port_io(dev, true, data, len, is_write);
}
