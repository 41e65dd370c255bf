/* SPDX-License-Identifier: MIT */
/*
 * vcpu.c -- creating vCPUs and running them.
 *
 * Each vCPU has its own thread looping on KVM_RUN. Only the few exits that
 * KVM cannot handle in the kernel arrive here; each is counted by reason and
 * by device region, and its handling time goes into a log2 histogram. The
 * BSP (vCPU 0) starts at the kernel entry; the others stay in KVM's
 * wait-for-SIPI state until the guest starts them through the in-kernel LAPIC.
 */
#include "vireo/kvm.h"
#include "vireo/util.h"
#include "vireo/vm.h"
#include "vireo/x86/cpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#define APIC_LVT0	 0x350
#define APIC_LVT1	 0x360
#define APIC_MODE_NMI	 0x4
#define APIC_MODE_EXTINT 0x7

static struct kvm_cpuid2 *supported_cpuid(int kvm_fd)
{
	for (unsigned n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

		if (!c)
			return NULL;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG)
			break;
	}
	vireo_perror("KVM_GET_SUPPORTED_CPUID");
	return NULL;
}

/* The PV feature bits each optimization switch controls. */
static uint32_t wanted_pv_features(const struct vm *vm)
{
	static const struct {
		enum optimization opt;
		uint32_t bits;
	} map[] = {
	    {OPT_KVMCLOCK, PVF_CLOCKSOURCE | PVF_CLOCKSOURCE2 | PVF_CLOCKSOURCE_STABLE},
	    {OPT_NOP_IO_DELAY, PVF_NOP_IO_DELAY},
	    {OPT_ASYNC_PF, PVF_ASYNC_PF | PVF_ASYNC_PF_VMEXIT | PVF_ASYNC_PF_INT},
	    {OPT_STEAL_TIME, PVF_STEAL_TIME},
	    {OPT_PV_EOI, PVF_PV_EOI},
	    {OPT_PV_UNHALT, PVF_PV_UNHALT},
	    {OPT_PV_TLB_FLUSH, PVF_PV_TLB_FLUSH},
	    {OPT_PV_SEND_IPI, PVF_PV_SEND_IPI},
	    {OPT_PV_SCHED_YIELD, PVF_PV_SCHED_YIELD},
	    {OPT_POLL_CONTROL, PVF_POLL_CONTROL},
	};
	uint32_t want = PVF_MSI_EXT_DEST_ID; /* a capability, not an optimization */

	for (unsigned i = 0; i < ARRAY_SIZE(map); i++)
		if (vm->active[map[i].opt])
			want |= map[i].bits;
	return want;
}

/* Record which CPUID-borne optimizations the guest is really offered. */
static void note_active_cpuid_features(struct vm *vm, const struct kvm_cpuid2 *host)
{
	struct kvm_cpuid_entry2 *leaf1 =
	    cpuid_find((struct kvm_cpuid_entry2 *)host->entries, host->nent, 1, 0);
	bool host_x2apic = leaf1 && (leaf1->ecx & (1u << 21));

	vm->active[OPT_X2APIC] = vm->active[OPT_X2APIC] && host_x2apic;
	vm->active[OPT_TSC_DEADLINE] =
	    vm->active[OPT_TSC_DEADLINE] && kvm_cap(vm->kvm_fd, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
}

static void note_active_pv_features(struct vm *vm, uint32_t offered)
{
	vm->pv_features = offered;
	vm->active[OPT_KVMCLOCK] = offered & PVF_CLOCKSOURCE2;
	vm->active[OPT_NOP_IO_DELAY] = offered & PVF_NOP_IO_DELAY;
	vm->active[OPT_ASYNC_PF] = offered & PVF_ASYNC_PF;
	vm->active[OPT_STEAL_TIME] = offered & PVF_STEAL_TIME;
	vm->active[OPT_PV_EOI] = offered & PVF_PV_EOI;
	vm->active[OPT_PV_UNHALT] = offered & PVF_PV_UNHALT;
	vm->active[OPT_PV_TLB_FLUSH] = offered & PVF_PV_TLB_FLUSH;
	vm->active[OPT_PV_SEND_IPI] = offered & PVF_PV_SEND_IPI;
	vm->active[OPT_PV_SCHED_YIELD] = offered & PVF_PV_SCHED_YIELD;
	vm->active[OPT_POLL_CONTROL] = offered & PVF_POLL_CONTROL;
}

static int set_cpuid(struct vm *vm, struct vcpu *v, const struct kvm_cpuid2 *host)
{
	size_t size = sizeof(*host) + host->nent * sizeof(host->entries[0]);
	struct kvm_cpuid2 *c = malloc(size);
	struct cpuid_config cfg = {.ncpus = vm->cfg.cpus,
				   .pv_features = wanted_pv_features(vm),
				   .x2apic = vm->active[OPT_X2APIC],
				   .tsc_deadline = vm->active[OPT_TSC_DEADLINE]};
	uint32_t offered;
	int r;

	if (!c)
		return -1;
	memcpy(c, host, size);
	offered = cpuid_fixup(c->entries, c->nent, v->id, &cfg);
	r = ioctl(v->fd, KVM_SET_CPUID2, c);
	free(c);
	if (r < 0) {
		vireo_perror("vCPU %u: KVM_SET_CPUID2", v->id);
		return -1;
	}
	if (v->id == 0)
		note_active_pv_features(vm, offered);
	return 0;
}

static void set_boot_msrs(struct vcpu *v)
{
	struct boot_msr list[16];
	unsigned n = boot_msrs(list, ARRAY_SIZE(list));

	/*
	 * One at a time, best effort: an MSR this KVM does not know keeps its
	 * reset value, which for every MSR here is a valid (if slower) state.
	 */
	for (unsigned i = 0; i < n; i++) {
		struct {
			struct kvm_msrs hdr;
			struct kvm_msr_entry e;
		} m = {.hdr.nmsrs = 1, .e = {.index = list[i].index, .data = list[i].value}};

		(void)ioctl(v->fd, KVM_SET_MSRS, &m);
	}
}

static void set_lvt_mode(struct kvm_lapic_state *l, unsigned reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, &l->regs[reg], sizeof(v));
	v = (v & ~0x700u) | mode << 8;
	memcpy(&l->regs[reg], &v, sizeof(v));
}

/* LINT0 = ExtINT (the 8259 PIC), LINT1 = NMI, as a PC BIOS leaves them. */
static int set_lapic_lints(struct vcpu *v)
{
	struct kvm_lapic_state l;

	if (ioctl(v->fd, KVM_GET_LAPIC, &l) < 0)
		return -1;
	set_lvt_mode(&l, APIC_LVT0, APIC_MODE_EXTINT);
	set_lvt_mode(&l, APIC_LVT1, APIC_MODE_NMI);
	return ioctl(v->fd, KVM_SET_LAPIC, &l);
}

static int set_boot_registers(struct vm *vm, struct vcpu *v)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return -1;
	boot_regs(&vm->kernel, &regs, &sregs);
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return -1;
	return 0;
}

static int vcpu_create(struct vm *vm, struct vcpu *v, const struct kvm_cpuid2 *host)
{
	struct kvm_fpu fpu;

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
	/* CPUID first: KVM derives MSR and LAPIC behaviour from it. */
	if (set_cpuid(vm, v, host) < 0)
		return -1;
	set_boot_msrs(v);
	boot_fpu(&fpu);
	if (set_lapic_lints(v) < 0 || ioctl(v->fd, KVM_SET_FPU, &fpu) < 0) {
		vireo_perror("vCPU %u: LAPIC/FPU set-up", v->id);
		return -1;
	}
	if (v->id == 0 && set_boot_registers(vm, v) < 0) {
		vireo_perror("vCPU 0: boot registers");
		return -1;
	}
	if (vm->stats_fd >= 0)
		v->stats_fd = ioctl(v->fd, KVM_GET_STATS_FD, 0);
	return 0;
}

int vcpus_create(struct vm *vm)
{
	struct kvm_cpuid2 *host = supported_cpuid(vm->kvm_fd);
	int rc = 0;

	if (!host)
		return -1;
	note_active_cpuid_features(vm, host);
	vm->vcpus = calloc(vm->cfg.cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		free(host);
		return -1;
	}
	for (unsigned i = 0; i < vm->cfg.cpus && rc == 0; i++) {
		struct vcpu *v = &vm->vcpus[i];

		*v = (struct vcpu){.vm = vm, .id = i, .fd = -1, .stats_fd = -1};
		vm->nr_vcpus = i + 1;
		rc = vcpu_create(vm, v, host);
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
