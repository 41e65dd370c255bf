/* SPDX-License-Identifier: MIT */
/*
 * vm.h -- the core of a virtual machine, knowing no device: the KVM VM and
 * its vCPUs, guest RAM, the PIO and MMIO buses, GSI routing, the exit
 * counters and how the VM stops. What it boots is the machine's
 * (src/machine/boot.c), which hands the BSP's entry to vcpus_create().
 *
 * There are no globals: tests build a struct vm around fake guest memory and
 * drive exit handling without /dev/kvm. The machine that puts devices on
 * it embeds it (include/vireo/machine/machine.h); the core's life cycle:
 *
 *   vm_init_state()  the parts that need no kernel
 *   vm_create_kvm()  open KVM, check capabilities, create the VM (irqchip,
 *                    PIT, the keeper of keeper.h), give it RAM (main thread;
 *                    KVM's memslots are registered on a thread meanwhile)
 *   vcpus_create()   after the machine's boot image, devices and tables
 *   vcpus_start(), vcpus_stop()   the vCPU threads
 *   vm_destroy()     release the core; safe on a half-built VM
 */
#ifndef VIREO_VM_H
#define VIREO_VM_H

#include "vireo/core/bus.h"
#include "vireo/core/gmem.h"
#include "vireo/core/irq.h"
#include "vireo/core/keeper.h"
#include "vireo/core/optimization.h"
#include "vireo/core/sandbox.h"
#include "vireo/core/stats.h"
#include "vireo/arch/x86/internal_error.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct kernel_image; /* arch/x86/kernel_image.h: the BSP entry vcpus_create() sets */

/* What the core is asked to build (the machine derives it from its config). */
struct vm_params {
	uint64_t mem_bytes;
	unsigned cpus;
	bool want[OPT_COUNT]; /* optimizations asked for; vm.active: those in force */
	struct sandbox_config sandbox;
};

struct vcpu {
	struct vm *vm;
	unsigned id; /* also its APIC ID */
	int fd;
	struct kvm_run *run;
	int stats_fd;
	pthread_t thread;
	bool started;
	struct vcpu_stats stats; /* written only by this vCPU's thread */
};

/* Why the VM stopped; the first reason reported wins. */
enum vm_stop_reason {
	STOP_NONE,
	STOP_DEBUG_EXIT, /* guest wrote port 0xf4 */
	STOP_RESET,	 /* i8042 reset, KVM reset event */
	STOP_POWEROFF,	 /* KVM shutdown system event */
	STOP_TRIPLE_FAULT,
	STOP_SIGNAL,
	STOP_CONSOLE_QUIT, /* Ctrl-A x on the terminal */
	STOP_TIMEOUT,
	STOP_ERROR,	     /* the guest did something vireo cannot continue from */
	STOP_INTERNAL_ERROR, /* KVM could not go on with a vCPU (vm->internal_error) */
};

struct vm {
	struct vm_params params;

	int kvm_fd, vm_fd, stats_fd;
	struct keeper keeper; /* holds the VM so that KVM destroys it after our exit */

	/* KVM_GET_SUPPORTED_CPUID, asked on a thread meanwhile (vm_supported_cpuid). */
	pthread_t cpuid_thread;
	bool cpuid_pending; /* the thread runs or has not been joined */
	struct kvm_cpuid2 *supported_cpuid;
	/* Guest RAM's memslots, registered on a thread meanwhile (vm_memory_wait). */
	pthread_t memslot_thread;
	bool memslot_pending; /* the thread runs or has not been joined */
	atomic_bool memslot_failed;
	int run_size;
	int max_vcpus;
	bool active[OPT_COUNT]; /* optimizations actually in force */
	uint32_t pv_features;	/* CPUID 0x40000001 eax offered */

	struct gmem mem;
	struct bus pio, mmio;

	struct vcpu *vcpus;
	unsigned nr_vcpus;

	struct irq_routing irq;

	/* Time line, monotonic ns. */
	uint64_t start_ns; /* process start (main) */

	/* Stopping: the first vm_request_stop() wins and wakes the main loop. */
	pthread_mutex_t stop_lock;
	atomic_bool stopping;
	enum vm_stop_reason stop_reason;
	int exit_status;
	char stop_detail[INTERNAL_ERROR_LINE_LEN]; /* the longest detail is an internal error's */
	struct internal_error internal_error;	   /* its facts, when that is the stop_reason */
	int stop_eventfd;

	/* Given up once the VM is built (sandbox.h). */
	struct sandbox sandbox;

	struct kvm_stat_set kvm_vm_stats;
	struct kvm_stat_set kvm_vcpu_stats;
};

/*
 * After vm_init_state(): check the sizes against the host, open KVM, create
 * the VM (irqchip, PIT, stats) and give it RAM. 0, or -1 after printing one
 * line. Guest RAM is usable at once (to load the kernel into); KVM learns of
 * it on a thread, because each memslot costs an SRCU grace period (3 to 12
 * ms of waiting on our PVM host: docs/startup.md), which the rest of set-up
 * can overlap. Anything that needs KVM's memslot lock (an I/O bus change,
 * e.g. an ioeventfd) waits for it; vm_memory_wait() before the guest runs.
 */
int vm_create_kvm(struct vm *vm);

/*
 * What KVM supports of CPUID (KVM_GET_SUPPORTED_CPUID), asked on a thread
 * since /dev/kvm was opened: the caller owns it (free()). NULL after one
 * line when KVM would not say.
 */
struct kvm_cpuid2 *vm_supported_cpuid(struct vm *vm);

/* Waits for the memslots' registration: 0, or -1 (after one line) if it failed. */
int vm_memory_wait(struct vm *vm);

/* Close and free the vCPUs (before the devices they may still be using go). */
void vcpus_destroy(struct vm *vm);

/*
 * Release the core: vCPUs, fds, RAM. Safe on a half-built VM. The keeper's
 * socket stays open: the process's exit closes it, and the keeper then lets
 * KVM destroy the VM (keeper.h).
 */
void vm_destroy(struct vm *vm);

/*
 * Ask the VM to stop (any thread). The first caller's reason and exit status
 * stick; later calls only add nothing. Thread-safe and cheap.
 */
void vm_request_stop(struct vm *vm, enum vm_stop_reason why, int status, const char *detail);

/* vm_request_stop(STOP_INTERNAL_ERROR, status 3) described by e, kept for the report. */
void vm_request_stop_internal_error(struct vm *vm, const struct internal_error *e);

/* Raise or lower a legacy interrupt line (GSI) in the in-kernel irqchip. */
void vm_set_irq_line(void *vm, unsigned irq, bool level);

/* Initialise the parts of a struct vm that need no kernel (used by tests). */
void vm_init_state(struct vm *vm, const struct vm_params *params, uint64_t start_ns);

/* vcpu.c: create every vCPU (CPUID, MSRs, LAPIC; the BSP's registers at boot's entry). */
int vcpus_create(struct vm *vm, const struct kernel_image *boot);

/* vcpu.c: the KVM_RUN loop of one vCPU (thread entry) and its exit handler. */
void *vcpu_thread(void *arg);
void vcpu_handle_exit(struct vcpu *v);

/*
 * vcpu.c: start a thread per vCPU (SIGUSR1, which stops them, must already
 * be blocked: each thread unblocks it for itself). -1 after a stop request
 * if one cannot start.
 */
int vcpus_start(struct vm *vm);
/* Stop and join every started vCPU: immediate_exit, then SIGUSR1. */
void vcpus_stop(struct vm *vm);

#endif
