/* SPDX-License-Identifier: MIT */
#include "vireo/machine/config.h"
#include "vireo/lib/util.h"

#include <getopt.h>
#include <string.h>

void config_usage(FILE *out)
{
	fprintf(out,
		"usage: vireo run --kernel IMAGE [options]\n"
		"       vireo --help | --version\n"
		"\n"
		"Run a virtual machine on KVM. IMAGE is a Linux bzImage (boot protocol\n"
		">= 2.12, entered at its 64-bit entry) or an ELF kernel with a PVH note.\n"
		"The guest's serial console (COM1) is on stdin/stdout.\n"
		"\n"
		"options for run:\n"
		"  --kernel IMAGE      kernel to boot (required)\n"
		"  --initrd FILE       initial ramdisk\n"
		"  --cmdline STRING    kernel command line (default \"%s\")\n"
		"  --mem SIZE          guest RAM, e.g. 512M, 4G; a bare number is MiB\n"
		"                      (default 256M, at least 32M)\n"
		"  --cpus N            number of vCPUs (default 1)\n"
		"  --stats-json FILE   write the exit report as JSON to FILE at exit\n"
		"  --quiet             do not print the exit report on stderr\n"
		"  --timeout SECONDS   stop the VM after SECONDS (exit status 124)\n"
		"  --prefault          populate all guest RAM before boot\n"
		"  --disk PATH[,ro][,direct]\n"
		"                      a virtio-blk disk (repeatable): read-only, O_DIRECT\n"
		"  --rng               a virtio-rng device (entropy from getrandom)\n"
		"  --virtio-console    a virtio-console on stdout; stdin then feeds it, not COM1\n"
		"  --net tap=NAME[,mac=52:54:00:xx:xx:xx][,queues=N]\n"
		"                      a virtio-net device on the existing tap NAME (repeatable,\n"
		"                      up to 4; create it with `ip tuntap add NAME mode tap`);\n"
		"                      queues=N: N queue pairs (1-8) on a multi_queue tap\n"
		"  --iothreads N       I/O threads for the virtio devices (at most 8; default 1,\n"
		"                      or the largest queues=N of a --net); unit k (a device,\n"
		"                      or a net queue pair; disks first, then rng, console,\n"
		"                      nets) runs on thread k mod N\n"
		"  --no-acpi           no ACPI tables: the guest finds its CPUs, IOAPIC and PCI\n"
		"                      INTx lines in the MP table alone\n"
		"  --debug-exit        a debug-exit port at 0xf4 (QEMU's isa-debug-exit): a guest\n"
		"                      writing C there ends the VM with status (C << 1) | 1\n"
		"  --uid N --gid N     run as uid N, gid N (no supplementary groups) once\n"
		"                      every file and /dev/kvm is open\n"
		"  --chroot DIR        chroot to DIR once every file is open\n"
		"  --no-seccomp        no seccomp system-call filters (debugging)\n"
		"  --no-landlock       no Landlock file-system ruleset\n"
		"  --no-OPTIMIZATION   turn an optimization off; one of:\n"
		"                      ",
		CONFIG_DEFAULT_CMDLINE);
	for (unsigned i = 0; i < OPT_COUNT; i++) {
		if (i == OPT_PREFAULT)
			continue;
		fprintf(out, "%s%s", optimization_names[i], i + 1 < OPT_COUNT ? ", " : "\n");
		if (i == OPT_KVMCLOCK)
			fprintf(out, "\n                      ");
	}
	fprintf(out, "\n"
		     "exit status: 0 when the guest resets or powers off; 124 on --timeout;\n"
		     "128+N on signal N; 2 when the VM cannot be built (bad image, options or\n"
		     "host); 3 when KVM cannot go on; 4 when the sandbox stopped a forbidden\n"
		     "system call; with --debug-exit, (C << 1) | 1 for the guest's code C\n"
		     "(which can collide with these: the guest chooses it).\n");
}

enum {
	O_KERNEL = 256,
	O_INITRD,
	O_CMDLINE,
	O_MEM,
	O_CPUS,
	O_STATS_JSON,
	O_QUIET,
	O_TIMEOUT,
	O_PREFAULT,
	O_DISK,
	O_NET,
	O_RNG,
	O_VIRTIO_CONSOLE,
	O_IOTHREADS,
	O_NO_ACPI,
	O_DEBUG_EXIT,
	/* sandbox */
	O_UID,
	O_GID,
	O_CHROOT,
	O_NO_SECCOMP,
	O_NO_LANDLOCK,
	O_HELP,
	O_VERSION,
	O_NO_FIRST, /* O_NO_FIRST + i: --no-<optimization_names[i]> */
};

static void config_defaults(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->cmdline = CONFIG_DEFAULT_CMDLINE;
	cfg->mem_bytes = CONFIG_DEFAULT_MEM;
	cfg->cpus = 1;
	cfg->iothreads = 0; /* as the devices need: devices.c */
	cfg->acpi = true;
	cfg->sandbox.seccomp = true;
	cfg->sandbox.landlock = true;
	cfg->sandbox.uid = cfg->sandbox.gid = -1;
	for (unsigned i = 0; i < OPT_COUNT; i++)
		cfg->want[i] = i != OPT_PREFAULT;
}

static enum config_result bad(const char *fmt, const char *arg)
{
	char msg[512];

	snprintf(msg, sizeof(msg), fmt, arg);
	vireo_err("%s (see vireo --help)", msg);
	return CONFIG_ERROR;
}

/* --net tap=NAME[,mac=MAC][,queues=N]: checked here, so a bad MAC is
 * reported before KVM is touched. */
static enum config_result parse_net(const char *arg, struct vm_config *cfg)
{
	char err[256];

	if (cfg->nr_nets == NET_MAX_DEVICES)
		return bad("--net %s: at most 4 network devices", arg);
	if (virtio_net_parse_arg(arg, &cfg->nets[cfg->nr_nets], err, sizeof(err)) < 0) {
		vireo_err("--net %s: %s (see vireo --help)", arg, err);
		return CONFIG_ERROR;
	}
	cfg->nr_nets++;
	return CONFIG_RUN;
}

/* Ids are numbers, not names: the lookup would need files a chroot lacks. */
static enum config_result parse_sandbox_option(int c, const char *arg, struct sandbox_config *sb)
{
	uint64_t v;

	switch (c) {
	case O_UID:
	case O_GID:
		if (!parse_uint(arg, 0, UINT32_MAX - 1, &v))
			return bad(c == O_UID ? "--uid %s: need a numeric user id"
					      : "--gid %s: need a numeric group id",
				   arg);
		*(c == O_UID ? &sb->uid : &sb->gid) = (long)v;
		break;
	case O_CHROOT:
		sb->chroot = arg;
		break;
	case O_NO_SECCOMP:
		sb->seccomp = false;
		break;
	case O_NO_LANDLOCK:
		sb->landlock = false;
		break;
	}
	return CONFIG_RUN;
}

static enum config_result parse_run(int argc, char **argv, struct vm_config *cfg, FILE *out)
{
	static char no_names[OPT_COUNT][40];
	/* The options besides --no-OPTIMIZATION, which are added below. */
	static const struct option fixed[] = {
	    {"kernel", required_argument, NULL, O_KERNEL},
	    {"initrd", required_argument, NULL, O_INITRD},
	    {"cmdline", required_argument, NULL, O_CMDLINE},
	    {"mem", required_argument, NULL, O_MEM},
	    {"cpus", required_argument, NULL, O_CPUS},
	    {"stats-json", required_argument, NULL, O_STATS_JSON},
	    {"quiet", no_argument, NULL, O_QUIET},
	    {"timeout", required_argument, NULL, O_TIMEOUT},
	    {"prefault", no_argument, NULL, O_PREFAULT},
	    {"disk", required_argument, NULL, O_DISK},
	    {"net", required_argument, NULL, O_NET},
	    {"rng", no_argument, NULL, O_RNG},
	    {"virtio-console", no_argument, NULL, O_VIRTIO_CONSOLE},
	    {"no-acpi", no_argument, NULL, O_NO_ACPI},
	    {"debug-exit", no_argument, NULL, O_DEBUG_EXIT},
	    {"iothreads", required_argument, NULL, O_IOTHREADS},
	    /* sandbox */
	    {"uid", required_argument, NULL, O_UID},
	    {"gid", required_argument, NULL, O_GID},
	    {"chroot", required_argument, NULL, O_CHROOT},
	    {"no-seccomp", no_argument, NULL, O_NO_SECCOMP},
	    {"no-landlock", no_argument, NULL, O_NO_LANDLOCK},
	    {"help", no_argument, NULL, O_HELP},
	    {"version", no_argument, NULL, O_VERSION},
	};
	struct option opts[ARRAY_SIZE(fixed) + OPT_COUNT + 1];
	unsigned n = ARRAY_SIZE(fixed);
	uint64_t v;
	int c;

	memcpy(opts, fixed, sizeof(fixed));
	for (unsigned i = 0; i < OPT_COUNT; i++) {
		snprintf(no_names[i], sizeof(no_names[i]), "no-%s", optimization_names[i]);
		opts[n++] = (struct option){no_names[i], no_argument, NULL, O_NO_FIRST + (int)i};
	}
	opts[n] = (struct option){0};

	/*
	 * 0, not 1: glibc then also resets getopt's hidden state (the position
	 * inside a "-xy" cluster, the permutation bounds). With 1, a parse that
	 * stopped early leaked into the next one: after "run -xy", the next
	 * config_parse() went on with the stale "y" and failed.
	 */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_KERNEL:
			cfg->kernel = optarg;
			break;
		case O_INITRD:
			cfg->initrd = optarg;
			break;
		case O_CMDLINE:
			cfg->cmdline = optarg;
			break;
		case O_MEM:
			if (!parse_size(optarg, &cfg->mem_bytes))
				return bad("--mem %s: not a size (try 512M or 2G)", optarg);
			if (cfg->mem_bytes < CONFIG_MIN_MEM)
				return bad("--mem %s: too small, a guest needs at least 32M",
					   optarg);
			break;
		case O_CPUS:
			if (!parse_uint(optarg, 1, 1u << 16, &v))
				return bad("--cpus %s: need a number of vCPUs, at least 1", optarg);
			cfg->cpus = (unsigned)v;
			break;
		case O_STATS_JSON:
			cfg->stats_json = optarg;
			break;
		case O_QUIET:
			cfg->quiet = true;
			break;
		case O_TIMEOUT:
			if (!parse_uint(optarg, 1, 1u << 30, &v))
				return bad("--timeout %s: need a number of seconds, at least 1",
					   optarg);
			cfg->timeout_s = (unsigned)v;
			break;
		case O_PREFAULT:
			cfg->want[OPT_PREFAULT] = true;
			break;
		case O_DISK:
			if (cfg->nr_disks == CONFIG_MAX_DISKS)
				return bad("--disk %s: at most 8 disks", optarg);
			cfg->disks[cfg->nr_disks++] = optarg;
			break;
		case O_NET:
			if (parse_net(optarg, cfg) == CONFIG_ERROR)
				return CONFIG_ERROR;
			break;
		case O_RNG:
			cfg->rng = true;
			break;
		case O_VIRTIO_CONSOLE:
			cfg->virtio_console = true;
			break;
		case O_NO_ACPI:
			cfg->acpi = false;
			break;
		case O_DEBUG_EXIT:
			cfg->debug_exit = true;
			break;
		case O_IOTHREADS:
			if (!parse_uint(optarg, 1, CONFIG_MAX_IOTHREADS, &v))
				return bad("--iothreads %s: need a number of I/O threads, 1 to 8",
					   optarg);
			cfg->iothreads = (unsigned)v;
			break;
		case O_UID:
		case O_GID:
		case O_CHROOT:
		case O_NO_SECCOMP:
		case O_NO_LANDLOCK:
			if (parse_sandbox_option(c, optarg, &cfg->sandbox) != CONFIG_RUN)
				return CONFIG_ERROR;
			break;
		case O_HELP:
			config_usage(out);
			return CONFIG_EXIT_OK;
		case O_VERSION:
			fprintf(out, "vireo %s\n", VIREO_VERSION);
			return CONFIG_EXIT_OK;
		case '?':
			/* Inside a short-option cluster argv[optind - 1] is not the
			 * culprit: name the letter, which getopt leaves in optopt. */
			if (optopt > 0 && optopt < O_KERNEL)
				return bad("unknown or incomplete option '-%s'",
					   (char[]){(char)optopt, '\0'});
			return bad("unknown or incomplete option '%s'", argv[optind - 1]);
		default:
			if (c >= O_NO_FIRST && c < O_NO_FIRST + OPT_COUNT) {
				cfg->want[c - O_NO_FIRST] = false;
				break;
			}
			return bad("unexpected option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);
	if (!cfg->kernel)
		return bad("%srun needs --kernel IMAGE", "");
	if ((cfg->sandbox.uid < 0) != (cfg->sandbox.gid < 0))
		return bad("%s--uid and --gid go together", "");
	return CONFIG_RUN;
}

enum config_result config_parse(int argc, char **argv, struct vm_config *cfg, FILE *out)
{
	config_defaults(cfg);
	if (argc < 2)
		return bad("%smissing command: try 'vireo run --kernel IMAGE'", "");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		config_usage(out);
		return CONFIG_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		fprintf(out, "vireo %s\n", VIREO_VERSION);
		return CONFIG_EXIT_OK;
	}
	if (strcmp(argv[1], "run") != 0)
		return bad("unknown command '%s'", argv[1]);
	return parse_run(argc - 1, argv + 1, cfg, out);
}
