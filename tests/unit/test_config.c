/* SPDX-License-Identifier: MIT */
/*
 * test_config.c -- config_parse(): defaults, every option, the optimization
 * switches, help and version output, and the errors (each a single
 * "vireo: ..." line on stderr).
 */
#include "unit.h"

#include "vireo/machine/config.h"

#define MAX_ARGS 32

struct parsed {
	enum config_result rc;
	struct vm_config cfg;
	char out[8192]; /* what went to the FILE (help, version) */
	char err[4096]; /* what went to stderr */
};

/* Parse a NULL-terminated argument list (copied: getopt permutes argv). */
static void parse_argv(struct parsed *p, const char *const *args)
{
	char *argv[MAX_ARGS + 1];
	struct stderr_capture c;
	char *buf = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&buf, &size);
	int argc = 0;

	assert_non_null(out);
	while (args[argc]) {
		assert_true(argc < MAX_ARGS);
		argv[argc] = (char *)args[argc];
		argc++;
	}
	argv[argc] = NULL;
	memset(p, 0, sizeof(*p));
	stderr_capture_begin(&c);
	p->rc = config_parse(argc, argv, &p->cfg, out);
	stderr_capture_end(&c);
	fclose(out);
	snprintf(p->out, sizeof(p->out), "%s", buf ? buf : "");
	free(buf);
	snprintf(p->err, sizeof(p->err), "%s", c.text);
}

#define PARSE(p, ...) parse_argv((p), (const char *const[]){"vireo", __VA_ARGS__, NULL})

static void expect_ok(struct parsed *p)
{
	if (p->rc != CONFIG_RUN)
		fail_msg("config_parse gave %d, stderr: %s", p->rc, p->err);
	assert_string_equal(p->err, "");
	assert_string_equal(p->out, "");
}

/* An error: CONFIG_ERROR and exactly one line on stderr holding `why`. */
static void expect_error(struct parsed *p, const char *why)
{
	const char *nl;

	if (p->rc != CONFIG_ERROR)
		fail_msg("config_parse gave %d, expected CONFIG_ERROR (%s)", p->rc, why);
	assert_substr(p->err, "vireo: ");
	assert_substr(p->err, why);
	nl = strchr(p->err, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0');
	assert_string_equal(p->out, "");
}

static void test_defaults(void **state)
{
	struct parsed p;

	(void)state;
	PARSE(&p, "run", "--kernel", "bzImage");
	expect_ok(&p);
	assert_string_equal(p.cfg.kernel, "bzImage");
	assert_null(p.cfg.initrd);
	assert_string_equal(p.cfg.cmdline, CONFIG_DEFAULT_CMDLINE);
	assert_int_equal(p.cfg.mem_bytes, MIB(256));
	assert_int_equal(p.cfg.cpus, 1);
	assert_null(p.cfg.stats_json);
	assert_false(p.cfg.quiet);
	assert_int_equal(p.cfg.timeout_s, 0);
	assert_int_equal(p.cfg.iothreads, 0); /* as the devices need (devices.c) */
	assert_true(p.cfg.acpi);
	for (unsigned i = 0; i < OPT_COUNT; i++)
		assert_int_equal(p.cfg.want[i], i != OPT_PREFAULT);
}

static void test_all_options(void **state)
{
	struct parsed p;

	(void)state;
	PARSE(&p, "run", "--kernel", "k", "--initrd", "i.cpio", "--cmdline", "console=ttyS0 quiet",
	      "--mem", "1G", "--cpus", "4", "--stats-json", "s.json", "--quiet", "--timeout", "30",
	      "--prefault");
	expect_ok(&p);
	assert_string_equal(p.cfg.kernel, "k");
	assert_string_equal(p.cfg.initrd, "i.cpio");
	assert_string_equal(p.cfg.cmdline, "console=ttyS0 quiet");
	assert_int_equal(p.cfg.mem_bytes, GIB(1));
	assert_int_equal(p.cfg.cpus, 4);
	assert_string_equal(p.cfg.stats_json, "s.json");
	assert_true(p.cfg.quiet);
	assert_int_equal(p.cfg.timeout_s, 30);
	assert_true(p.cfg.want[OPT_PREFAULT]);
	/* --opt=value works as well, and the last one wins. */
	PARSE(&p, "run", "--mem=2G", "--kernel=a", "--kernel=b", "--cmdline=");
	expect_ok(&p);
	assert_int_equal(p.cfg.mem_bytes, GIB(2));
	assert_string_equal(p.cfg.kernel, "b");
	assert_string_equal(p.cfg.cmdline, "");
}

static void test_kernel_required(void **state)
{
	struct parsed p;

	(void)state;
	PARSE(&p, "run");
	expect_error(&p, "run needs --kernel IMAGE");
	PARSE(&p, "run", "--mem", "1G", "--cpus", "2");
	expect_error(&p, "--kernel");
	PARSE(&p, "run", "--kernel");
	expect_error(&p, "'--kernel'"); /* missing its argument */
}

static void test_mem(void **state)
{
	static const struct {
		const char *arg;
		uint64_t bytes;
	} ok[] = {
	    {"512", MIB(512)},	 {"512M", MIB(512)},   {"512m", MIB(512)}, {"512MiB", MIB(512)},
	    {"512MB", MIB(512)}, {"2G", GIB(2)},       {"1T", 1ull << 40}, {"32M", MIB(32)},
	    {"32768K", MIB(32)}, {"3500M", MIB(3500)},
	};
	static const char *const garbage[] = {"",   "abc", "M",	  "-1",	   "+5",    "1.5G",
					      "5X", "5 M", "5Mi", "5MiBs", "0x100", "12Gb"};
	struct parsed p;

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(ok); i++) {
		PARSE(&p, "run", "--kernel", "k", "--mem", ok[i].arg);
		expect_ok(&p);
		if (p.cfg.mem_bytes != ok[i].bytes)
			fail_msg("--mem %s gave %llu", ok[i].arg,
				 (unsigned long long)p.cfg.mem_bytes);
	}
	for (unsigned i = 0; i < ARRAY_SIZE(garbage); i++) {
		PARSE(&p, "run", "--kernel", "k", "--mem", garbage[i]);
		expect_error(&p, "not a size");
	}
	/* Overflow: of strtoull itself, and of the suffix shift. */
	PARSE(&p, "run", "--kernel", "k", "--mem", "99999999999999999999999");
	expect_error(&p, "not a size");
	PARSE(&p, "run", "--kernel", "k", "--mem", "16777216T");
	expect_error(&p, "not a size");
	PARSE(&p, "run", "--kernel", "k", "--mem", "17592186044416M"); /* 2^44 MiB = 2^64 */
	expect_error(&p, "not a size");
	/* Too small. */
	PARSE(&p, "run", "--kernel", "k", "--mem", "64KiB");
	expect_error(&p, "too small");
	PARSE(&p, "run", "--kernel", "k", "--mem", "31");
	expect_error(&p, "too small");
	PARSE(&p, "run", "--kernel", "k", "--mem", "0");
	expect_error(&p, "too small");
	PARSE(&p, "run", "--kernel", "k", "--mem", "32767K");
	expect_error(&p, "too small");
}

static void test_cpus(void **state)
{
	static const char *const bad[] = {"0",	"",    "x",  "-1",
					  "2x", "1.5", " 2", "99999999999999999999"};
	struct parsed p;

	(void)state;
	PARSE(&p, "run", "--kernel", "k", "--cpus", "1");
	expect_ok(&p);
	assert_int_equal(p.cfg.cpus, 1);
	PARSE(&p, "run", "--kernel", "k", "--cpus", "254");
	expect_ok(&p);
	assert_int_equal(p.cfg.cpus, 254);
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		PARSE(&p, "run", "--kernel", "k", "--cpus", bad[i]);
		expect_error(&p, "--cpus");
	}
}

static void test_timeout(void **state)
{
	struct parsed p;

	(void)state;
	PARSE(&p, "run", "--kernel", "k", "--timeout", "1");
	expect_ok(&p);
	assert_int_equal(p.cfg.timeout_s, 1);
	PARSE(&p, "run", "--kernel", "k", "--timeout", "0");
	expect_error(&p, "--timeout 0");
	PARSE(&p, "run", "--kernel", "k", "--timeout", "5s");
	expect_error(&p, "--timeout 5s");
	PARSE(&p, "run", "--kernel", "k", "--timeout", "-3");
	expect_error(&p, "--timeout");
}

static void test_iothreads(void **state)
{
	static const char *const bad[] = {"0", "9", "", "two", "-1", "2x"};
	struct parsed p;

	(void)state;
	PARSE(&p, "run", "--kernel", "k", "--iothreads", "1");
	expect_ok(&p);
	assert_int_equal(p.cfg.iothreads, 1);
	PARSE(&p, "run", "--kernel", "k", "--iothreads", "8");
	expect_ok(&p);
	assert_int_equal(p.cfg.iothreads, 8);
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		PARSE(&p, "run", "--kernel", "k", "--iothreads", bad[i]);
		expect_error(&p, "--iothreads");
	}
}

/* --no-acpi drops the ACPI tables and nothing else. */
static void test_no_acpi(void **state)
{
	struct parsed p;

	(void)state;
	PARSE(&p, "run", "--kernel", "k", "--no-acpi");
	expect_ok(&p);
	assert_false(p.cfg.acpi);
	for (unsigned i = 0; i < OPT_COUNT; i++)
		assert_int_equal(p.cfg.want[i], i != OPT_PREFAULT);
	PARSE(&p, "run", "--kernel", "k", "--no-acpi=1");
	expect_error(&p, "--no-acpi");
}

/* The sandbox: on by default; numeric ids, both or neither; --chroot; switches. */
static void test_sandbox_options(void **state)
{
	static const char *const bad_ids[] = {"", "nobody", "-1", "4294967295", "1x"};
	struct parsed p;

	(void)state;
	PARSE(&p, "run", "--kernel", "k");
	expect_ok(&p);
	assert_true(p.cfg.sandbox.seccomp);
	assert_true(p.cfg.sandbox.landlock);
	assert_int_equal(p.cfg.sandbox.uid, -1);
	assert_int_equal(p.cfg.sandbox.gid, -1);
	assert_null(p.cfg.sandbox.chroot);
	PARSE(&p, "run", "--kernel", "k", "--uid", "65534", "--gid", "0", "--chroot", "/var/empty",
	      "--no-seccomp", "--no-landlock");
	expect_ok(&p);
	assert_int_equal(p.cfg.sandbox.uid, 65534);
	assert_int_equal(p.cfg.sandbox.gid, 0);
	assert_string_equal(p.cfg.sandbox.chroot, "/var/empty");
	assert_false(p.cfg.sandbox.seccomp);
	assert_false(p.cfg.sandbox.landlock);
	PARSE(&p, "run", "--kernel", "k", "--uid", "1000");
	expect_error(&p, "--uid and --gid go together");
	PARSE(&p, "run", "--kernel", "k", "--gid", "1000");
	expect_error(&p, "--uid and --gid go together");
	for (unsigned i = 0; i < ARRAY_SIZE(bad_ids); i++) {
		PARSE(&p, "run", "--kernel", "k", "--uid", bad_ids[i], "--gid", "1");
		expect_error(&p, "--uid");
		PARSE(&p, "run", "--kernel", "k", "--uid", "1", "--gid", bad_ids[i]);
		expect_error(&p, "--gid");
	}
}

static void test_no_optimization_each(void **state)
{
	(void)state;
	for (unsigned i = 0; i < OPT_COUNT; i++) {
		char opt[64];
		struct parsed p;

		snprintf(opt, sizeof(opt), "--no-%s", optimization_names[i]);
		PARSE(&p, "run", "--kernel", "k", opt);
		expect_ok(&p);
		for (unsigned j = 0; j < OPT_COUNT; j++) {
			bool want = j != OPT_PREFAULT && j != i;

			if (p.cfg.want[j] != want)
				fail_msg("%s: want[%s] is %d", opt, optimization_names[j],
					 p.cfg.want[j]);
		}
	}
}

static void test_optimization_names(void **state)
{
	(void)state;
	/* Unique, non-empty, and usable as option names. */
	for (unsigned i = 0; i < OPT_COUNT; i++) {
		assert_non_null(optimization_names[i]);
		assert_true(strlen(optimization_names[i]) > 0);
		assert_null(strpbrk(optimization_names[i], " =_"));
		for (unsigned j = 0; j < i; j++)
			assert_true(strcmp(optimization_names[i], optimization_names[j]) != 0);
	}
	assert_string_equal(optimization_names[OPT_HUGEPAGES], "hugepages");
	assert_string_equal(optimization_names[OPT_PREFAULT], "prefault");
}

static void test_prefault_then_no_prefault(void **state)
{
	struct parsed p;

	(void)state;
	PARSE(&p, "run", "--kernel", "k", "--prefault", "--no-prefault");
	expect_ok(&p);
	assert_false(p.cfg.want[OPT_PREFAULT]);
	PARSE(&p, "run", "--kernel", "k", "--no-prefault", "--prefault", "--no-hugepages",
	      "--no-kvmclock");
	expect_ok(&p);
	assert_true(p.cfg.want[OPT_PREFAULT]);
	assert_false(p.cfg.want[OPT_HUGEPAGES]);
	assert_false(p.cfg.want[OPT_KVMCLOCK]);
	assert_true(p.cfg.want[OPT_X2APIC]);
}

static void test_help_and_version(void **state)
{
	char version[64];
	struct parsed p;

	(void)state;
	snprintf(version, sizeof(version), "vireo %s\n", VIREO_VERSION);
	PARSE(&p, "--help");
	assert_int_equal(p.rc, CONFIG_EXIT_OK);
	assert_substr(p.out, "usage: vireo run --kernel IMAGE");
	assert_string_equal(p.err, "");
	/* Every switch is documented. */
	for (unsigned i = 0; i < OPT_COUNT; i++)
		assert_substr(p.out, optimization_names[i]);
	assert_substr(p.out, "--prefault");
	assert_substr(p.out, "--timeout");
	PARSE(&p, "-h");
	assert_int_equal(p.rc, CONFIG_EXIT_OK);
	assert_substr(p.out, "usage:");
	PARSE(&p, "run", "--kernel", "k", "--help");
	assert_int_equal(p.rc, CONFIG_EXIT_OK);
	assert_substr(p.out, "usage:");

	PARSE(&p, "--version");
	assert_int_equal(p.rc, CONFIG_EXIT_OK);
	assert_string_equal(p.out, version);
	assert_string_equal(p.err, "");
	PARSE(&p, "-V");
	assert_int_equal(p.rc, CONFIG_EXIT_OK);
	assert_string_equal(p.out, version);
	PARSE(&p, "run", "--version");
	assert_int_equal(p.rc, CONFIG_EXIT_OK);
	assert_string_equal(p.out, version);
}

static void test_unknown_and_stray(void **state)
{
	struct parsed p;

	(void)state;
	PARSE(&p, "run", "--kernel", "k", "--bogus");
	expect_error(&p, "'--bogus'");
	PARSE(&p, "run", "--kernel", "k", "-x");
	expect_error(&p, "unknown or incomplete option");
	PARSE(&p, "run", "--kernel", "k", "extra");
	expect_error(&p, "unexpected argument 'extra'");
	PARSE(&p, "run", "stray", "--kernel", "k");
	expect_error(&p, "unexpected argument 'stray'");
	PARSE(&p, "run", "--kernel", "k", "--quiet=yes");
	expect_error(&p, "--quiet");
	PARSE(&p, "run", "--kernel", "k", "--no-such-thing");
	expect_error(&p, "--no-such-thing");
	PARSE(&p, "start", "--kernel", "k");
	expect_error(&p, "unknown command 'start'");
	parse_argv(&p, (const char *const[]){"vireo", NULL});
	expect_error(&p, "missing command");
}

/*
 * getopt keeps state between calls. A parse that stopped inside a cluster
 * of short options ("-xy") must not leak into the next parse.
 */
static void test_reparse_after_error(void **state)
{
	struct parsed p;

	(void)state;
	PARSE(&p, "run", "-xy", "--kernel", "k");
	expect_error(&p, "unknown or incomplete option '-x'");
	PARSE(&p, "run", "--kernel", "k2");
	expect_ok(&p);
	assert_string_equal(p.cfg.kernel, "k2");
	/* And a stray argument left by an earlier parse does not linger either. */
	PARSE(&p, "run", "a", "b", "--kernel", "k");
	expect_error(&p, "unexpected argument 'a'");
	PARSE(&p, "run", "--kernel", "k3", "--cpus", "2");
	expect_ok(&p);
	assert_int_equal(p.cfg.cpus, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_all_options),
	    cmocka_unit_test(test_kernel_required),
	    cmocka_unit_test(test_mem),
	    cmocka_unit_test(test_cpus),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_iothreads),
	    cmocka_unit_test(test_no_acpi),
	    cmocka_unit_test(test_sandbox_options),
	    cmocka_unit_test(test_no_optimization_each),
	    cmocka_unit_test(test_optimization_names),
	    cmocka_unit_test(test_prefault_then_no_prefault),
	    cmocka_unit_test(test_help_and_version),
	    cmocka_unit_test(test_unknown_and_stray),
	    cmocka_unit_test(test_reparse_after_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
