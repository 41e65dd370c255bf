/* SPDX-License-Identifier: MIT */
/*
 * vcpu.c -- creating vCPUs and running them (what an x86 vCPU looks like
 * at its first KVM_RUN is arch/x86/vcpu_setup.c's).
 *
 * Each vCPU has its own thread looping on KVM_RUN. Only the few exits that
 * KVM cannot handle in the kernel arrive here; each is counted by reason and
 * by device region, and its handling time goes into a log2 histogram. The
 * BSP (vCPU 0) starts at the kernel entry; the others stay in KVM's
 * wait-for-SIPI state until the guest starts them through the in-kernel LAPIC.
 */
#include "vireo/core/kvm.h"
#include "vireo/lib/util.h"
#include "vireo/core/vm.h"
#include "vireo/arch/x86/vcpu_setup.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

static int vcpu_create(struct vm *vm, struct vcpu *v, const struct kvm_cpuid2 *host,
		       const struct kernel_image *boot)
{
	const struct x86_vcpu_config cfg = {
	    .ncpus = vm->params.cpus, .active = vm->active, .kernel = boot};
	uint32_t offered;

	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)v->id);
	if (v->fd < 0) {
		vireo_perror("KVM_CREATE_VCPU %u", v->id);
		return -1;
	}
	v->run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		vireo_perror("vCPU %u: mmap kvm_run", v->id);
		return -1;
	}
	if (x86_vcpu_setup(v->fd, v->id, host, &cfg, &offered) < 0)
		return -1;
	if (v->id == 0) {
		/* What the BSP is offered is what every vCPU is: the report's truth. */
		vm->pv_features = offered;
		x86_note_pv_features(vm->active, offered);
	}
	if (vm->stats_fd >= 0)
		v->stats_fd = ioctl(v->fd, KVM_GET_STATS_FD, 0);
	return 0;
}

int vcpus_create(struct vm *vm, const struct kernel_image *boot)
{
	struct kvm_cpuid2 *host = vm_supported_cpuid(vm); /* asked on a thread: vm.c */
	int rc = 0;

	if (!host)
		return -1;
	x86_note_cpuid_features(vm->active, vm->kvm_fd, host);
	vm->vcpus = calloc(vm->params.cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		free(host);
		return -1;
	}
	for (unsigned i = 0; i < vm->params.cpus && rc == 0; i++) {
		struct vcpu *v = &vm->vcpus[i];

		*v = (struct vcpu){.vm = vm, .id = i, .fd = -1, .stats_fd = -1};
		vm->nr_vcpus = i + 1;
		rc = vcpu_create(vm, v, host, boot);
	}
	free(host);
	return rc;
}

/* --- running ----------------------------------------------------------- */

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	int region = -1;

	/* A string instruction (rep outs/ins) brings `count` items in one exit. */
	for (uint32_t i = 0; i < run->io.count; i++)
		region = bus_dispatch(&v->vm->pio, run->io.port, data + i * run->io.size,
				      run->io.size, is_write);
	if (region >= 0)
		v->stats.pio[region]++;
	else
		stats_count_stray(&v->stats.pio_stray, run->io.port);
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	unsigned len = run->mmio.len <= 8 ? run->mmio.len : 8;
	int region = bus_dispatch(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len,
				  run->mmio.is_write);

	if (region >= 0)
		v->stats.mmio[region]++;
	else
		stats_count_stray(&v->stats.mmio_stray, run->mmio.phys_addr);
}

static void handle_system_event(struct vcpu *v)
{
	switch (v->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(v->vm, STOP_POWEROFF, 0, "guest powered off");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(v->vm, STOP_RESET, 0, "guest reset");
		break;
	default:
		vm_request_stop(v->vm, STOP_ERROR, 3, "guest crashed (system event)");
		break;
	}
}

static void stop_with_error(struct vcpu *v, const char *what, unsigned long long code)
{
	char detail[128];

	snprintf(detail, sizeof(detail), "vCPU %u: %s 0x%llx", v->id, what, code);
	vm_request_stop(v->vm, STOP_ERROR, 3, detail);
}

/*
 * KVM cannot go on with this vCPU (often: its instruction emulator met an
 * instruction it does not know). Say which failure, where and on what bytes;
 * the registers are read here, everything else is internal_error_capture().
 */
static void stop_with_internal_error(struct vcpu *v)
{
	struct internal_error e;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	bool have_regs =
	    ioctl(v->fd, KVM_GET_REGS, &regs) == 0 && ioctl(v->fd, KVM_GET_SREGS, &sregs) == 0;

	internal_error_capture(&e, v->id, v->run, have_regs ? &regs : NULL,
			       have_regs ? &sregs : NULL, &v->vm->mem);
	vm_request_stop_internal_error(v->vm, &e);
}

void vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		break;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(v);
		break;
	case KVM_EXIT_SHUTDOWN: {
		char detail[64];

		/* A triple fault: how some guests reboot, how others crash. */
		snprintf(detail, sizeof(detail), "vCPU %u: triple fault (guest reset)", v->id);
		vm_request_stop(v->vm, STOP_TRIPLE_FAULT, 0, detail);
		break;
	}
	case KVM_EXIT_FAIL_ENTRY:
		stop_with_error(v, "KVM entry failed, hardware reason",
				run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		stop_with_internal_error(v);
		break;
	case KVM_EXIT_HLT:
	case KVM_EXIT_INTR:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
	case KVM_EXIT_DEBUG:
		/* Nothing to do: the in-kernel irqchip handles halts and interrupts. */
		break;
	default:
		stop_with_error(v, "unexpected exit reason", run->exit_reason);
		break;
	}
}

/* SIGUSR1 only interrupts KVM_RUN; the handler has nothing to do. */
static void kick_handler(int sig)
{
	(void)sig;
}

void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct sigaction sa = {.sa_handler = kick_handler};
	sigset_t kick;
	char name[16];

	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&kick);
	sigaddset(&kick, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	/* Its own filter before its first KVM_RUN: the guest never runs unfiltered. */
	snprintf(name, sizeof(name), "vireo-vcpu%u", v->id);
	if (sandbox_thread(&v->vm->sandbox, SANDBOX_VCPU, name) < 0) {
		vm_request_stop(v->vm, STOP_ERROR, 2, "vCPU sandbox set-up failed");
		return NULL;
	}

	while (!atomic_load(&v->vm->stopping)) {
		uint64_t t0;

		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			/* EINTR: kicked (or immediate_exit); EAGAIN: an AP not yet
			 * started may report this; both mean "look again". */
			if (errno == EINTR || errno == EAGAIN)
				continue;
			stop_with_error(v, "KVM_RUN failed, errno", (unsigned long long)errno);
			break;
		}
		t0 = now_ns();
		stats_count_exit(&v->stats, v->run->exit_reason);
		vcpu_handle_exit(v);
		stats_count_handling(&v->stats, now_ns() - t0);
	}
	return NULL;
}

int vcpus_start(struct vm *vm)
{
	/* No guest code before the keeper, which shares our memory, is confined. */
	keeper_wait_ready(&vm->keeper);
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		int err = pthread_create(&vm->vcpus[i].thread, NULL, vcpu_thread, &vm->vcpus[i]);

		if (err) {
			errno = err;
			vireo_perror("cannot start vCPU %u thread", i);
			vm_request_stop(vm, STOP_ERROR, 2, "thread creation failed");
			return -1;
		}
		vm->vcpus[i].started = true;
	}
	return 0;
}

void vcpus_stop(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (!v->started)
			continue;
		/* Order matters: immediate_exit first, then the signal. */
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		pthread_kill(v->thread, SIGUSR1);
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		if (vm->vcpus[i].started)
			pthread_join(vm->vcpus[i].thread, NULL);
		vm->vcpus[i].started = false;
	}
}
