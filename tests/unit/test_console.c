/* SPDX-License-Identifier: MIT */
/* test_console.c -- console_filter(): the Ctrl-A escape sequence on keyboard input. */
#include "unit.h"

#include "vireo/console.h"

#define CA "\x01"

struct filtered {
	uint8_t buf[64];
	size_t n;
	bool quit;
};

static void filter(struct console_input *c, const char *in, size_t len, struct filtered *f)
{
	assert_true(len <= sizeof(f->buf));
	memcpy(f->buf, in, len);
	f->quit = true; /* must be overwritten */
	f->n = console_filter(c, f->buf, len, &f->quit);
}

#define FILTER(c, lit, f) filter((c), (lit), sizeof(lit) - 1, (f))

static void test_plain_bytes_pass(void **state)
{
	struct console_input c = {0};
	struct filtered f;

	(void)state;
	FILTER(&c, "hello\r\n\x03\x1b[A", &f);
	assert_false(f.quit);
	assert_int_equal(f.n, 11);
	assert_memory_equal(f.buf, "hello\r\n\x03\x1b[A", 11);
	FILTER(&c, "", &f);
	assert_int_equal(f.n, 0);
	assert_false(f.quit);
}

static void test_ctrl_a_x_quits(void **state)
{
	struct console_input c = {0};
	struct filtered f;

	(void)state;
	FILTER(&c, "ab" CA "xcd", &f);
	assert_true(f.quit);
	assert_int_equal(f.n, 2); /* what came before still goes to the guest */
	assert_memory_equal(f.buf, "ab", 2);
	/* Upper case too. */
	memset(&c, 0, sizeof(c));
	FILTER(&c, CA "X", &f);
	assert_true(f.quit);
	assert_int_equal(f.n, 0);
}

static void test_ctrl_a_ctrl_a_sends_one(void **state)
{
	struct console_input c = {0};
	struct filtered f;

	(void)state;
	FILTER(&c, "a" CA CA "b", &f);
	assert_false(f.quit);
	assert_int_equal(f.n, 3);
	assert_memory_equal(f.buf, "a" CA "b", 3);
	/* Three in a row: one sent, the third starts a new sequence. */
	FILTER(&c, CA CA CA "x", &f);
	assert_true(f.quit);
	assert_int_equal(f.n, 1);
	assert_int_equal(f.buf[0], 0x01);
}

static void test_ctrl_a_other_passes_both(void **state)
{
	struct console_input c = {0};
	struct filtered f;

	(void)state;
	FILTER(&c, CA "c" CA "\r", &f);
	assert_false(f.quit);
	assert_int_equal(f.n, 4);
	assert_memory_equal(f.buf, CA "c" CA "\r", 4);
	assert_false(c.escape_seen);
}

static void test_escape_across_reads(void **state)
{
	struct console_input c = {0};
	struct filtered f;

	(void)state;
	/* Ctrl-A at the end of one read, x at the start of the next. */
	FILTER(&c, "ls" CA, &f);
	assert_false(f.quit);
	assert_int_equal(f.n, 2);
	assert_true(c.escape_seen);
	FILTER(&c, "x", &f);
	assert_true(f.quit);
	assert_int_equal(f.n, 0);

	/* Split Ctrl-A Ctrl-A and Ctrl-A other. */
	memset(&c, 0, sizeof(c));
	FILTER(&c, CA, &f);
	assert_int_equal(f.n, 0);
	FILTER(&c, CA "z", &f);
	assert_int_equal(f.n, 2);
	assert_memory_equal(f.buf, CA "z", 2);
	FILTER(&c, CA, &f);
	FILTER(&c, "q", &f);
	assert_false(f.quit);
	assert_int_equal(f.n, 2);
	assert_memory_equal(f.buf, CA "q", 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_bytes_pass),
	    cmocka_unit_test(test_ctrl_a_x_quits),
	    cmocka_unit_test(test_ctrl_a_ctrl_a_sends_one),
	    cmocka_unit_test(test_ctrl_a_other_passes_both),
	    cmocka_unit_test(test_escape_across_reads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
