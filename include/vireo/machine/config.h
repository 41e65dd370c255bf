/* SPDX-License-Identifier: MIT */
/*
 * config.h -- what the user asked for on the command line: the machine's
 * description (the core VM's part of it becomes a struct vm_params, the rest
 * chooses devices). Every optimization (core/optimization.h) has a --no-NAME
 * switch here.
 */
#ifndef VIREO_CONFIG_H
#define VIREO_CONFIG_H

#include "vireo/core/optimization.h"
#include "vireo/core/sandbox.h"
#include "vireo/virtio/net.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

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
	struct net_config nets[NET_MAX_DEVICES]; /* --net tap=NAME[,mac=...] */
	unsigned nr_nets;
	bool rng;	     /* --rng: a virtio-rng device */
	bool virtio_console; /* --virtio-console: a virtio-console on stdout/stdin */
	unsigned iothreads;  /* --iothreads: device threads (0: as devices.c sees fit) */
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
