/* SPDX-License-Identifier: MIT */
/*
 * vm.c -- the core VM: check the sizes, open KVM, create the VM with its
 * in-kernel irqchip (and PIT, unless --no-pit), give it RAM; how it stops. Each step prints one
 * clear line and returns -1 when it cannot be done; vm_destroy() cleans up whatever was built.
 * The devices are the machine's (src/machine/).
 */
#include "vireo/core/kvm.h"
#include "vireo/lib/util.h"
#include "vireo/core/vm.h"
#include "vireo/arch/x86/mptable.h"
#include "vireo/arch/x86/vcpu_setup.h"
#include "vireo/arch/x86/layout.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

void vm_init_state(struct vm *vm, const struct vm_params *params, uint64_t start_ns)
{
	memset(vm, 0, sizeof(*vm));
	vm->params = *params;
	vm->kvm_fd = vm->vm_fd = vm->stats_fd = -1;
	vm->keeper.fd = -1;
	vm->stop_eventfd = -1;
	vm->start_ns = start_ns;
	sandbox_init(&vm->sandbox, &params->sandbox);
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	pthread_mutex_init(&vm->stop_lock, NULL);
	for (unsigned i = 0; i < OPT_COUNT; i++)
		vm->active[i] = params->want[i];
}

/* The first request's reason, status, detail and internal-error facts (ierr) stick. */
static void request_stop(struct vm *vm, enum vm_stop_reason why, int status, const char *detail,
			 const struct internal_error *ierr)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vm->stop_lock);
	if (vm->stop_reason == STOP_NONE) {
		vm->stop_reason = why;
		vm->exit_status = status;
		snprintf(vm->stop_detail, sizeof(vm->stop_detail), "%s", detail ? detail : "");
		if (ierr)
			vm->internal_error = *ierr;
	}
	pthread_mutex_unlock(&vm->stop_lock);
	atomic_store(&vm->stopping, true);
	if (vm->stop_eventfd >= 0 && write(vm->stop_eventfd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow in practice; the flag is set anyway. */
	}
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason why, int status, const char *detail)
{
	request_stop(vm, why, status, detail, NULL);
}

void vm_request_stop_internal_error(struct vm *vm, const struct internal_error *e)
{
	char detail[sizeof(vm->stop_detail)];

	internal_error_describe(e, detail, sizeof(detail));
	request_stop(vm, STOP_INTERNAL_ERROR, 3, detail, e);
}

void vm_set_irq_line(void *opaque, unsigned irq, bool level)
{
	struct vm *vm = opaque;
	struct kvm_irq_level l = {.irq = irq, .level = level};

	if (vm->vm_fd >= 0 && ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		vireo_perror("KVM_IRQ_LINE %u", irq);
}

/* --- sizes, checked before KVM is touched ------------------------------ */

static int check_sizes(struct vm *vm)
{
	uint64_t host = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);

	if (vm->params.mem_bytes > host) {
		vireo_err("--mem %llu MiB is more than this host's %llu MiB of RAM",
			  (unsigned long long)(vm->params.mem_bytes >> 20),
			  (unsigned long long)(host >> 20));
		return -1;
	}
	if (vm->params.cpus > MPTABLE_MAX_CPUS) {
		vireo_err("--cpus %u: vireo supports at most %d vCPUs", vm->params.cpus,
			  MPTABLE_MAX_CPUS);
		return -1;
	}
	return 0;
}

/* --- KVM VM, irqchip, RAM -------------------------------------------- */

static int max_vcpus(int kvm_fd)
{
	int n = kvm_cap(kvm_fd, KVM_CAP_MAX_VCPUS);

	if (n <= 0)
		n = kvm_cap(kvm_fd, KVM_CAP_NR_VCPUS);
	return n > 0 ? n : 4; /* the KVM API's documented default */
}

/*
 * The in-kernel PIT: its port reads cost no userspace exit, but it is the
 * dearest part of a VM to create and, above all, to destroy (KVM waits for an
 * SRCU grace period when it unregisters the PIT's interrupt-ack notifier:
 * 1 to 20 ms on our PVM host, measured in bench/startup). A guest that has
 * kvmclock and the LAPIC timer never needs it, hence --no-pit.
 */
static int create_pit(struct vm *vm)
{
	/*
	 * KVM_PIT_SPEAKER_DUMMY also puts port 0x61 (PIT channel 2 gate and
	 * output) in the kernel: guests poll it to calibrate the TSC, and
	 * without it every poll would be a userspace exit.
	 */
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};

	if (!vm->active[OPT_PIT])
		return 0;
	if (kvm_cap(vm->kvm_fd, KVM_CAP_PIT2) <= 0) {
		vm->active[OPT_PIT] = false; /* not offered: reported as off */
		return 0;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		vireo_perror("KVM_CREATE_PIT2");
		return -1;
	}
	return 0;
}

/*
 * KVM_GET_SUPPORTED_CPUID executes the host's CPUID for every leaf, and
 * where the host is itself a guest (PVM, nested) each one traps to its
 * hypervisor: about half a millisecond of CPU on our PVM host (perf), on the
 * way to the first guest instruction. Asked on a thread as soon as /dev/kvm
 * is open, it overlaps KVM_CREATE_VM and the irqchip's and PIT's set-up,
 * which mostly wait; vcpus_create() collects it (vm_supported_cpuid).
 */
static void *query_cpuid(void *arg)
{
	struct vm *vm = arg;

	vm->supported_cpuid = x86_supported_cpuid(vm->kvm_fd);
	return NULL;
}

/* A thread of set-up work that must not take signals (they stay with main). */
static bool start_setup_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	bool started;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	started = pthread_create(t, NULL, fn, arg) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return started;
}

/* The thread's answer, once it is done (NULL: none, or it failed). */
static struct kvm_cpuid2 *collect_cpuid(struct vm *vm)
{
	struct kvm_cpuid2 *c;

	if (vm->cpuid_pending)
		pthread_join(vm->cpuid_thread, NULL);
	vm->cpuid_pending = false;
	c = vm->supported_cpuid;
	vm->supported_cpuid = NULL;
	return c;
}

struct kvm_cpuid2 *vm_supported_cpuid(struct vm *vm)
{
	if (!vm->cpuid_pending)
		return x86_supported_cpuid(vm->kvm_fd); /* no thread: asked here */
	return collect_cpuid(vm);
}

static int create_kvm_vm(struct vm *vm)
{
	uint64_t ident = KVM_IDENTITY_MAP_ADDR;

	vm->kvm_fd = kvm_open();
	if (vm->kvm_fd < 0 || kvm_check_required(vm->kvm_fd) < 0)
		return -1;
	vm->cpuid_pending = start_setup_thread(&vm->cpuid_thread, query_cpuid, vm);
	vm->max_vcpus = max_vcpus(vm->kvm_fd);
	if ((int)vm->params.cpus > vm->max_vcpus) {
		vireo_err("--cpus %u: KVM on this host allows at most %d vCPUs", vm->params.cpus,
			  vm->max_vcpus);
		return -1;
	}
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size <= 0) {
		vireo_perror("KVM_GET_VCPU_MMAP_SIZE");
		return -1;
	}
	vm->vm_fd = kvm_ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		vireo_perror("KVM_CREATE_VM");
		return -1;
	}
	/* First, while we hold few fds and no guest RAM: the keeper closes the rest. */
	keeper_start(&vm->keeper, vm->vm_fd);
	/*
	 * Intel VMX needs these outside guest RAM before the first vCPU exists
	 * (real-mode emulation). AMD ignores them; a KVM without VMX's needs
	 * (e.g. software PVM) may refuse them, which is harmless there.
	 */
	(void)ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR);
	if (kvm_cap(vm->kvm_fd, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0)
		(void)ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident);
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		vireo_perror("KVM_CREATE_IRQCHIP");
		return -1;
	}
	if (create_pit(vm) < 0)
		return -1;
	if (kvm_cap(vm->kvm_fd, KVM_CAP_BINARY_STATS_FD) > 0)
		vm->stats_fd = ioctl(vm->vm_fd, KVM_GET_STATS_FD, 0);
	return 0;
}

/* Tells KVM about guest RAM, slot by slot (a thread of its own, or inline). */
static void *register_memslots(void *arg)
{
	struct vm *vm = arg;

	for (unsigned i = 0; i < vm->mem.nr_slots; i++) {
		const struct gmem_slot *s = &vm->mem.slot[i];
		struct kvm_userspace_memory_region r = {.slot = i,
							.guest_phys_addr = s->gpa,
							.memory_size = s->size,
							.userspace_addr = (uintptr_t)s->host};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
			vireo_perror("KVM_SET_USER_MEMORY_REGION slot %u", i);
			atomic_store(&vm->memslot_failed, true);
			break;
		}
	}
	return NULL;
}

static int setup_memory(struct vm *vm)
{
	if (vm->active[OPT_HUGEPAGES] && !gmem_thp_available()) {
		vireo_warn("transparent huge pages are disabled on this host: 4 KiB pages only");
		vm->active[OPT_HUGEPAGES] = false;
	}
	if (gmem_alloc(&vm->mem, vm->params.mem_bytes, vm->active[OPT_HUGEPAGES],
		       vm->active[OPT_PREFAULT]) < 0)
		return -1;
	vm->memslot_pending = start_setup_thread(&vm->memslot_thread, register_memslots, vm);
	if (!vm->memslot_pending)
		register_memslots(vm); /* no thread: the same work, waited for here */
	return vm->memslot_pending || !atomic_load(&vm->memslot_failed) ? 0 : -1;
}

int vm_memory_wait(struct vm *vm)
{
	if (vm->memslot_pending)
		pthread_join(vm->memslot_thread, NULL);
	vm->memslot_pending = false;
	return atomic_load(&vm->memslot_failed) ? -1 : 0;
}

int vm_create_kvm(struct vm *vm)
{
	return check_sizes(vm) < 0 || create_kvm_vm(vm) < 0 || setup_memory(vm) < 0 ? -1 : 0;
}

void vcpus_destroy(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (v->run)
			munmap(v->run, (size_t)vm->run_size);
		if (v->stats_fd >= 0)
			close(v->stats_fd);
		if (v->fd >= 0)
			close(v->fd);
	}
	free(vm->vcpus);
	vm->vcpus = NULL;
	vm->nr_vcpus = 0;
}

void vm_destroy(struct vm *vm)
{
	vm_memory_wait(vm);	 /* a set-up that failed early may have left it running */
	free(collect_cpuid(vm)); /* ... and this one, whose answer nobody took */
	vcpus_destroy(vm);
	int fds[] = {vm->stop_eventfd, vm->stats_fd, vm->vm_fd, vm->kvm_fd};
	for (unsigned i = 0; i < ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	sandbox_destroy(&vm->sandbox);
	gmem_free(&vm->mem);
	pthread_mutex_destroy(&vm->stop_lock);
}
