/* SPDX-License-Identifier: MIT */
/* test_util.c -- parse_size(), parse_uint(), read_file() and the message helpers. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>

static void test_parse_size_ok(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} cases[] = {
	    {"0", 0},
	    {"1", MIB(1)}, /* a bare number is MiB */
	    {"512", MIB(512)},
	    {"512M", MIB(512)},
	    {"512m", MIB(512)},
	    {"512MB", MIB(512)},
	    {"512MiB", MIB(512)},
	    {"64K", KIB(64)},
	    {"64k", KIB(64)},
	    {"64KiB", KIB(64)},
	    {"64KB", KIB(64)},
	    {"2G", GIB(2)},
	    {"2g", GIB(2)},
	    {"2GiB", GIB(2)},
	    {"1T", 1ull << 40},
	    {"1t", 1ull << 40},
	    {"1TiB", 1ull << 40},
	    {"007M", MIB(7)},
	    {"16777215T", 16777215ull << 40},		  /* the largest T that fits */
	    {"17592186044415M", 17592186044415ull << 20}, /* the largest M */
	};

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t v = 0xdead;

		if (!parse_size(cases[i].s, &v))
			fail_msg("parse_size(\"%s\") refused", cases[i].s);
		if (v != cases[i].v)
			fail_msg("parse_size(\"%s\") = %llu, expected %llu", cases[i].s,
				 (unsigned long long)v, (unsigned long long)cases[i].v);
	}
}

static void test_parse_size_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "M",
	    "K512",
	    "-1",
	    "+1",
	    " 1",
	    "1 ",
	    "1.5G",
	    "1e3",
	    "0x10",
	    "1X",
	    "1P",
	    "1E",
	    "1Mi",
	    "1MiBx",
	    "1Mb",
	    "1mib",
	    "1GG",
	    "1B",
	    "16777216T",
	    "17592186044416M",
	    "18446744073709551616",
	    "99999999999999999999999K",
	};

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		uint64_t v = 0xdead;

		if (parse_size(bad[i], &v))
			fail_msg("parse_size(\"%s\") accepted: %llu", bad[i],
				 (unsigned long long)v);
		assert_int_equal(v, 0xdead); /* untouched on failure */
	}
	assert_false(parse_size(NULL, &(uint64_t){0}));
}

static void test_parse_uint(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_true(parse_uint("0", 0, 10, &v));
	assert_int_equal(v, 0);
	assert_true(parse_uint("10", 0, 10, &v));
	assert_int_equal(v, 10);
	assert_true(parse_uint("5", 5, 5, &v));
	assert_int_equal(v, 5);
	assert_true(parse_uint("18446744073709551615", 0, UINT64_MAX, &v));
	assert_int_equal(v, UINT64_MAX);
	assert_true(parse_uint("0042", 1, 100, &v));
	assert_int_equal(v, 42);

	v = 7;
	assert_false(parse_uint("11", 0, 10, &v)); /* above max */
	assert_false(parse_uint("4", 5, 10, &v));  /* below min */
	assert_false(parse_uint("", 0, 10, &v));
	assert_false(parse_uint("x", 0, 10, &v));
	assert_false(parse_uint("1x", 0, 10, &v));
	assert_false(parse_uint("-1", 0, UINT64_MAX, &v)); /* strtoull would wrap it */
	assert_false(parse_uint("+1", 0, 10, &v));
	assert_false(parse_uint(" 1", 0, 10, &v));
	assert_false(parse_uint("1 ", 0, 10, &v));
	assert_false(parse_uint("18446744073709551616", 0, UINT64_MAX, &v)); /* overflow */
	assert_false(parse_uint(NULL, 0, 10, &v));
	assert_int_equal(v, 7);
}

static void test_read_file(void **state)
{
	char path[] = "/tmp/vireo-test-XXXXXX";
	static const char text[] = "hello, vireo\n";
	size_t len = 0;
	char *b;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), sizeof(text) - 1);
	close(fd);
	b = read_file(path, &len);
	assert_non_null(b);
	assert_int_equal(len, sizeof(text) - 1);
	assert_memory_equal(b, text, len);
	free(b);

	/* An empty file: a valid buffer, length 0. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	close(fd);
	len = 99;
	b = read_file(path, &len);
	assert_non_null(b);
	assert_int_equal(len, 0);
	free(b);
	unlink(path);

	errno = 0;
	assert_null(read_file(path, &len));
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_null(read_file("/tmp", &len));
	assert_int_equal(errno, EISDIR);
}

static void test_messages(void **state)
{
	struct stderr_capture c;

	(void)state;
	stderr_capture_begin(&c);
	vireo_err("bad %s %d", "thing", 42);
	stderr_capture_end(&c);
	assert_string_equal(c.text, "vireo: bad thing 42\n");

	stderr_capture_begin(&c);
	vireo_warn("careful");
	stderr_capture_end(&c);
	assert_string_equal(c.text, "vireo: warning: careful\n");

	stderr_capture_begin(&c);
	errno = ENOENT;
	vireo_perror("open %s", "x");
	stderr_capture_end(&c);
	assert_string_equal(c.text, "vireo: open x: No such file or directory\n");
}

static void test_errf(void **state)
{
	char err[16];

	(void)state;
	memset(err, 'z', sizeof(err));
	assert_int_equal(errf(err, sizeof(err), "bad %s %u", "thing", 7u), -1);
	assert_string_equal(err, "bad thing 7");
	/* A long reason is cut to fit, still NUL-terminated, nothing past errlen. */
	memset(err, 'z', sizeof(err));
	assert_int_equal(errf(err, 8, "%s", "0123456789abcdef"), -1);
	assert_string_equal(err, "0123456");
	assert_int_equal(err[8], 'z');
}

static void test_now_ns_monotonic(void **state)
{
	uint64_t a, b;

	(void)state;
	a = now_ns();
	usleep(2000);
	b = now_ns();
	assert_true(b > a);
	assert_true(b - a >= 2000000);
}

static void test_sum_to_zero(void **state)
{
	uint8_t t[5] = {0x12, 0xff, 0x80, 0x01, 0};

	(void)state;
	assert_int_equal(sum_to_zero(t, 0), 0);
	assert_int_equal(sum_to_zero(t, 4), (uint8_t) - (0x12 + 0xff + 0x80 + 0x01));
	t[4] = sum_to_zero(t, 4); /* as a table fills in its checksum byte */
	assert_int_equal(sum_to_zero(t, 5), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_size_ok),    cmocka_unit_test(test_parse_size_bad),
	    cmocka_unit_test(test_parse_uint),	     cmocka_unit_test(test_read_file),
	    cmocka_unit_test(test_messages),	     cmocka_unit_test(test_errf),
	    cmocka_unit_test(test_now_ns_monotonic), cmocka_unit_test(test_sum_to_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
