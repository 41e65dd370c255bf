/* SPDX-License-Identifier: MIT */
/* main.c -- vireo's entry point: parse, build, run, report. */
#include "vireo/config.h"
#include "vireo/util.h"
#include "vireo/vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	uint64_t start_ns = now_ns();
	struct vm_config cfg;
	struct vm *vm;
	int status;

	switch (config_parse(argc, argv, &cfg, stdout)) {
	case CONFIG_EXIT_OK:
		return 0;
	case CONFIG_ERROR:
		return 2;
	case CONFIG_RUN:
		break;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		vireo_err("out of memory");
		return 2;
	}
	if (vm_create(vm, &cfg, start_ns) < 0) {
		vm_destroy(vm);
		free(vm);
		return 2;
	}
	status = vm_run(vm);
	vm_report(vm);
	if (vm_io_stuck(vm)) {
		/* Stopping wins: the process ends, and the stuck thread with it.
		 * exit_group itself: a sanitizer's _exit hook would check for the
		 * leaks we leave on purpose. */
		fflush(NULL);
		syscall(SYS_exit_group, status);
	}
	vm_destroy(vm);
	free(vm);
	return status;
}
