/* SPDX-License-Identifier: MIT */
/* main.c -- vireo's entry point: parse, build, run, report. */
#include "vireo/machine/config.h"
#include "vireo/lib/util.h"
#include "vireo/machine/machine.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	uint64_t start_ns = now_ns();
	struct vm_config cfg;
	struct machine *m;
	int status;

	switch (config_parse(argc, argv, &cfg, stdout)) {
	case CONFIG_EXIT_OK:
		return 0;
	case CONFIG_ERROR:
		return 2;
	case CONFIG_RUN:
		break;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		vireo_err("out of memory");
		return 2;
	}
	if (machine_create(m, &cfg, start_ns) < 0) {
		machine_destroy(m);
		free(m);
		return 2;
	}
	status = machine_run(m);
	machine_report(m);
	if (machine_io_stuck(m)) {
		/* Stopping wins: the process ends, and the stuck thread with it.
		 * exit_group itself: a sanitizer's _exit hook would check for the
		 * leaks we leave on purpose. */
		fflush(NULL);
		syscall(SYS_exit_group, status);
	}
	machine_destroy(m);
	free(m);
	return status;
}
