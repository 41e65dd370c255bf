/* SPDX-License-Identifier: MIT */
/*
 * vm.h -- struct vm owns every piece of a virtual machine's state.
 *
 * There are no globals: tests build a struct vm around fake guest memory and
 * drive devices and exit handling without /dev/kvm. Life cycle:
 *
 *   vm_create()   open KVM, check capabilities, RAM, irqchip, load the kernel,
 *                 build boot tables, devices and vCPUs   (main thread)
 *   vm_run()      start one thread per vCPU, run the control loop (stdin,
 *                 signals, timeout) until something stops the VM
 *   vm_report()   exit table on stderr, JSON with --stats-json
 *   vm_destroy()  release everything; safe on a half-built VM
 */
#ifndef VIREO_VM_H
#define VIREO_VM_H

#include "vireo/bus.h"
#include "vireo/config.h"
#include "vireo/gmem.h"
#include "vireo/hw/i8042.h"
#include "vireo/hw/rtc.h"
#include "vireo/hw/serial.h"
#include "vireo/iothread.h"
#include "vireo/irq.h"
#include "vireo/pci.h"
#include "vireo/sandbox.h"
#include "vireo/stats.h"
#include "vireo/x86/boot.h"
#include "vireo/x86/internal_error.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct virtio_pci;

#define VM_MAX_VIRTIO 12

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
	struct vm_config cfg;

	int kvm_fd, vm_fd, stats_fd;
	int run_size;
	int max_vcpus;
	bool active[OPT_COUNT]; /* optimizations actually in force */
	uint32_t pv_features;	/* CPUID 0x40000001 eax offered */

	struct gmem mem;
	struct bus pio, mmio;

	uint8_t *kernel_file;
	size_t kernel_len;
	struct kernel_image kernel;
	struct e820_entry e820[E820_MAX_ENTRIES];
	unsigned nr_e820;
	uint64_t initrd_addr, initrd_size;

	struct vcpu *vcpus;
	unsigned nr_vcpus;

	struct serial serial;
	struct rtc rtc;
	struct i8042 i8042;
	bool platform_ready; /* rtc and i8042 initialised (so destroy knows) */
	struct pci_bus pci;
	struct irq_routing irq;
	/* Device work: virtio queues, io_uring completions. Device k on io[k % nr_io]. */
	struct iothread io[CONFIG_MAX_IOTHREADS];
	unsigned nr_io; /* initialised ones (so destroy knows) */
	struct virtio_pci *vdev[VM_MAX_VIRTIO];
	unsigned nr_vdev;
	struct virtio_pci *console_dev; /* --virtio-console, which takes stdin */
	int io_delay_eventfd;		/* port 0x80 writes consumed in KVM */

	/* Time line, monotonic ns. */
	uint64_t start_ns;		/* process start (main) */
	_Atomic uint64_t first_insn_ns; /* first write to the boot-timer port; 0 before */

	/* Stopping: the first vm_request_stop() wins and wakes the main loop. */
	pthread_mutex_t stop_lock;
	atomic_bool stopping;
	enum vm_stop_reason stop_reason;
	int exit_status;
	char stop_detail[INTERNAL_ERROR_LINE_LEN]; /* the longest detail is an internal error's */
	struct internal_error internal_error;	   /* its facts, when that is the stop_reason */
	int stop_eventfd;
	int signal_fd;

	/* Given up once the VM is built (sandbox.h). */
	struct sandbox sandbox;
	/* The report's files, opened before the sandbox closes the file system. */
	FILE *stats_json_file; /* --stats-json */
	int proc_status_fd;    /* /proc/self/status, for vireo's own RSS */

	struct kvm_stat_set kvm_vm_stats;
	struct kvm_stat_set kvm_vcpu_stats;
	uint64_t vmm_rss_kib;
};

/* Build the whole VM from cfg. 0, or -1 after printing one line. */
int vm_create(struct vm *vm, const struct vm_config *cfg, uint64_t start_ns);

/* Run until the VM stops; returns the process exit status. */
int vm_run(struct vm *vm);

/*
 * Open what the report will need (the --stats-json file, /proc/self/status)
 * while the file system is still open to vireo. 0, or -1 after one line.
 */
int vm_report_open(struct vm *vm);

/* Print/write the exit report as configured (after vm_run). */
void vm_report(struct vm *vm);

void vm_destroy(struct vm *vm);

/*
 * An I/O thread did not stop (stuck in a system call: a hung disk). Then
 * nothing it may touch can be freed: the caller ends the process instead
 * of calling vm_destroy().
 */
bool vm_io_stuck(const struct vm *vm);

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
void vm_init_state(struct vm *vm, const struct vm_config *cfg, uint64_t start_ns);

/* vcpu.c: create every vCPU (CPUID, MSRs, LAPIC, BSP registers). */
int vcpus_create(struct vm *vm);

/* vcpu.c: the KVM_RUN loop of one vCPU (thread entry) and its exit handler. */
void *vcpu_thread(void *arg);
void vcpu_handle_exit(struct vcpu *v);

/* platform.c: the legacy PC devices a guest expects at fixed ports. */
int platform_devices_init(struct vm *vm);

/* devices.c: PCI bus, I/O thread and the virtio devices the config asks for. */
int virtio_devices_init(struct vm *vm);
void virtio_devices_destroy(struct vm *vm);

#endif
