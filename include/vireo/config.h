/* SPDX-License-Identifier: MIT */
/*
 * config.h -- what the user asked for on the command line.
 *
 * Every optimization vireo applies is listed in one table (optimization_names)
 * with a switch, so a benchmark can turn each one off and show what it buys.
 */
#ifndef VIREO_CONFIG_H
#define VIREO_CONFIG_H

#include "vireo/sandbox.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum optimization {
	OPT_HUGEPAGES,	    /* THP-backed guest RAM: 2 MiB host and KVM mappings */
	OPT_PREFAULT,	    /* populate guest RAM before boot (off by default) */
	OPT_IOEVENTFD,	    /* doorbells and no-op ports (0x80) consumed inside KVM */
	OPT_EVENT_IDX,	    /* virtio EVENT_IDX: notification suppression via the rings */
	OPT_X2APIC,	    /* x2APIC: APIC access by MSR instead of MMIO */
	OPT_TSC_DEADLINE,   /* TSC-deadline LAPIC timer */
	OPT_KVMCLOCK,	    /* pvclock shared page: time without exits */
	OPT_NOP_IO_DELAY,   /* tell the guest port-0x80 delays are unneeded */
	OPT_ASYNC_PF,	    /* asynchronous page faults */
	OPT_STEAL_TIME,	    /* shared steal-time page */
	OPT_PV_EOI,	    /* EOI through shared memory, no exit */
	OPT_PV_UNHALT,	    /* PV spinlock kick */
	OPT_PV_TLB_FLUSH,   /* skip flush IPIs to preempted vCPUs */
	OPT_PV_SEND_IPI,    /* many IPIs per hypercall */
	OPT_PV_SCHED_YIELD, /* yield to the preempted vCPU an IPI waits for */
	OPT_POLL_CONTROL,   /* guest-controlled host halt polling */
	OPT_COUNT
};

/* Name of an optimization as used in --no-NAME and in the stats. */
extern const char *const optimization_names[OPT_COUNT];

#define CONFIG_MAX_DISKS     8
#define CONFIG_MAX_IOTHREADS 8

struct vm_config {
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	uint64_t mem_bytes;
	unsigned cpus;
	const char *stats_json;
	bool quiet;
	unsigned timeout_s; /* 0: none */
	bool want[OPT_COUNT];
	const char *disks[CONFIG_MAX_DISKS]; /* --disk PATH[,ro][,direct], parsed by blk */
	unsigned nr_disks;
	bool rng;	     /* --rng: a virtio-rng device */
	bool virtio_console; /* --virtio-console: a virtio-console on stdout/stdin */
	unsigned iothreads;  /* --iothreads: device threads, devices spread over them */
	bool acpi;	     /* ACPI tables besides the MP table (--no-acpi: none) */
	bool debug_exit;     /* --debug-exit: the guest may end the VM through port 0xf4 */
	struct sandbox_config sandbox; /* --no-seccomp, --no-landlock, --uid/--gid, --chroot */
};

#define CONFIG_DEFAULT_MEM     (256ull << 20)
#define CONFIG_MIN_MEM	       (32ull << 20)
#define CONFIG_DEFAULT_CMDLINE "console=ttyS0"

enum config_result { CONFIG_RUN, CONFIG_EXIT_OK, CONFIG_ERROR };

/*
 * Parse argv ("vireo run ...", "vireo --help", "vireo --version").
 * CONFIG_EXIT_OK: help or version was printed to out. CONFIG_ERROR: one line
 * was printed to stderr. Checks only syntax and ranges: files and host
 * limits are checked when the VM is built.
 */
enum config_result config_parse(int argc, char **argv, struct vm_config *cfg, FILE *out);

void config_usage(FILE *out);

#define VIREO_VERSION "0.1.0"

#endif
