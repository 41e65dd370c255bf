/* SPDX-License-Identifier: MIT */
/*
 * test_i8042.c -- the PS/2 controller through its two ports: Linux's probe
 * sequence gets its answers at once (no byte it would poll 10000 times
 * for), there is no AUX port by Linux's own tests, and the CPU reset line
 * is pulsed by 0xfe and by an output-port write, by nothing else.
 */
#include "unit.h"

#include "vireo/hw/i8042.h"

static unsigned resets;

static void count_reset(void *ctx)
{
	assert_ptr_equal(ctx, &resets);
	resets++;
}

static void setup(struct i8042 *k)
{
	resets = 0;
	i8042_init(k, count_reset, &resets);
}

static uint8_t status(struct i8042 *k)
{
	uint8_t v = 0;

	i8042_cmd_io(k, 0, &v, 1, false);
	return v;
}

static void command(struct i8042 *k, uint8_t cmd)
{
	i8042_cmd_io(k, 0, &cmd, 1, true);
}

static void put_data(struct i8042 *k, uint8_t byte)
{
	i8042_data_io(k, 0, &byte, 1, true);
}

static uint8_t get_data(struct i8042 *k)
{
	uint8_t v = 0;

	i8042_data_io(k, 0, &v, 1, false);
	return v;
}

/* Linux's i8042_command(): a command, its data bytes, then one reply byte
 * that must be waiting already (the driver would otherwise poll). */
static uint8_t command_reply(struct i8042 *k, uint8_t cmd)
{
	command(k, cmd);
	assert_true(status(k) & I8042_STR_OBF);
	return get_data(k);
}

static void test_idle_status(void **state)
{
	struct i8042 k;
	uint8_t s;

	(void)state;
	setup(&k);
	s = status(&k);
	assert_false(s & I8042_STR_OBF); /* nothing to read: Linux's flush ends at once */
	assert_false(s & 0x02);		 /* input buffer never full: writes never wait */
	assert_true(s & I8042_STR_SYS);
	assert_true(s & I8042_STR_UNLOCK); /* no "keylock active" warning */
	i8042_destroy(&k);
}

static void test_ctr_read_and_write(void **state)
{
	struct i8042 k;

	(void)state;
	setup(&k);
	assert_int_equal(command_reply(&k, 0x20),
			 I8042_CTR_KBDINT | I8042_CTR_SYS | I8042_CTR_XLATE);
	assert_false(status(&k) & I8042_STR_OBF); /* reading the byte empties the buffer */
	command(&k, 0x60);
	assert_true(status(&k) & I8042_STR_CMD);
	put_data(&k, 0x35);
	assert_false(status(&k) & I8042_STR_CMD);
	assert_false(status(&k) & I8042_STR_OBF);
	assert_int_equal(command_reply(&k, 0x20), 0x35);
	/* Port enables flip the CTR's disable bits. */
	command(&k, 0xad);
	command(&k, 0xa7);
	assert_int_equal(command_reply(&k, 0x20), 0x35 | I8042_CTR_KBDDIS | I8042_CTR_AUXDIS);
	command(&k, 0xae);
	command(&k, 0xa8);
	assert_int_equal(command_reply(&k, 0x20), 0x35 & ~(I8042_CTR_KBDDIS | I8042_CTR_AUXDIS));
	assert_int_equal(resets, 0);
	i8042_destroy(&k);
}

static void test_self_tests(void **state)
{
	struct i8042 k;

	(void)state;
	setup(&k);
	assert_int_equal(command_reply(&k, 0xaa), 0x55);
	assert_int_equal(command_reply(&k, 0xab), 0x00);
	i8042_destroy(&k);
}

/* Linux's i8042_check_aux(): the loopback answers without the AUX flag,
 * then the AUX port test reports something other than 0, 0xfa or 0xff. */
static void test_no_aux_port(void **state)
{
	struct i8042 k;
	uint8_t v;

	(void)state;
	setup(&k);
	command(&k, 0xd3);
	put_data(&k, 0x5a);
	assert_true(status(&k) & I8042_STR_OBF);
	assert_false(status(&k) & I8042_STR_AUXDATA);
	assert_int_equal(get_data(&k), 0x5a);
	v = command_reply(&k, 0xa9);
	assert_true(v != 0 && v != 0xfa && v != 0xff);
	/* A byte for the mouse goes nowhere and answers nothing. */
	command(&k, 0xd4);
	put_data(&k, 0xf2);
	assert_false(status(&k) & I8042_STR_OBF);
	i8042_destroy(&k);
}

static void test_keyboard_is_absent(void **state)
{
	struct i8042 k;

	(void)state;
	setup(&k);
	put_data(&k, 0xf2); /* GETID to the keyboard */
	put_data(&k, 0xff); /* reset the keyboard */
	assert_false(status(&k) & I8042_STR_OBF);
	/* 0xd2 puts a byte in the buffer as if the keyboard had sent it. */
	command(&k, 0xd2);
	put_data(&k, 0x1c);
	assert_true(status(&k) & I8042_STR_OBF);
	assert_int_equal(get_data(&k), 0x1c);
	/* An empty buffer reads its last byte again. */
	assert_int_equal(get_data(&k), 0x1c);
	assert_false(status(&k) & I8042_STR_OBF);
	assert_int_equal(resets, 0);
	i8042_destroy(&k);
}

static void test_reset_line(void **state)
{
	struct i8042 k;

	(void)state;
	setup(&k);
	assert_int_equal(command_reply(&k, 0xd0) & (I8042_OUT_RESET_HIGH | I8042_OUT_A20),
			 I8042_OUT_RESET_HIGH | I8042_OUT_A20);
	command(&k, 0xd1);
	put_data(&k, I8042_OUT_RESET_HIGH); /* A20 off, reset line high: no reset */
	assert_int_equal(resets, 0);
	assert_int_equal(command_reply(&k, 0xd0), I8042_OUT_RESET_HIGH);
	command(&k, 0xff); /* pulse no line */
	assert_int_equal(resets, 0);
	command(&k, 0xfe); /* Linux reboot=k */
	assert_int_equal(resets, 1);
	command(&k, 0xd1);
	put_data(&k, I8042_OUT_A20); /* reset line low */
	assert_int_equal(resets, 2);
	i8042_destroy(&k);
}

/* A command that waits for data is dropped by the next command, and unknown
 * commands and wide accesses change nothing. */
static void test_pending_and_unknown(void **state)
{
	struct i8042 k;
	uint16_t w = 0xfefe;

	(void)state;
	setup(&k);
	command(&k, 0xd1);
	command(&k, 0x20);
	assert_int_equal(get_data(&k), I8042_CTR_KBDINT | I8042_CTR_SYS | I8042_CTR_XLATE);
	put_data(&k, 0x00); /* goes to the keyboard, not to the output port */
	assert_int_equal(resets, 0);
	command(&k, 0xc0);
	assert_int_equal(k.ignored, 1);
	assert_false(status(&k) & I8042_STR_OBF);
	i8042_cmd_io(&k, 0, (uint8_t *)&w, 2, true);
	assert_int_equal(resets, 0);
	i8042_destroy(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idle_status),		cmocka_unit_test(test_ctr_read_and_write),
	    cmocka_unit_test(test_self_tests),		cmocka_unit_test(test_no_aux_port),
	    cmocka_unit_test(test_keyboard_is_absent),	cmocka_unit_test(test_reset_line),
	    cmocka_unit_test(test_pending_and_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
