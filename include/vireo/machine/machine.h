/* SPDX-License-Identifier: MIT */
/*
 * machine.h -- the machine vireo builds from its command line: the core VM
 * (vm.h) with the devices put on it. The one place that knows every device
 * type; nothing below src/machine/ includes this.
 *
 *   machine_create()   the boot inputs checked, the core VM, the kernel and
 *                      initrd in its RAM, the platform devices, the PCI bus,
 *                      the I/O threads and virtio devices, the firmware
 *                      tables, the vCPUs                       (main thread)
 *   machine_run()      the sandbox, the I/O and vCPU threads, the control
 *                      loop (stdin, signals, timeout) until the VM stops
 *   machine_report()   exit table on stderr, JSON with --stats-json
 *   machine_destroy()  release everything; safe on a half-built machine
 */
#ifndef VIREO_MACHINE_H
#define VIREO_MACHINE_H

#include "vireo/machine/config.h"
#include "vireo/hw/i8042.h"
#include "vireo/hw/legacy.h"
#include "vireo/hw/rtc.h"
#include "vireo/hw/serial.h"
#include "vireo/arch/x86/bootinfo.h"
#include "vireo/core/iothread.h"
#include "vireo/pci/pci.h"
#include "vireo/core/vm.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct virtio_pci;

#define MACHINE_MAX_VIRTIO 16 /* 8 disks, rng, console, 4 nets */

/*
 * The console the machine chose, as the run loop sees it: where host input
 * goes (room, then input), and the output buffers it drains when stdout is
 * writable. COM1 by default; the virtio console takes input when there is
 * one. Set while the machine is built, so the run loop knows no device.
 */
struct console_sink {
	void *dev;
	size_t (*room)(void *dev);
	size_t (*input)(void *dev, const uint8_t *buf, size_t len);
	struct console_out *outputs[2];
	unsigned nr_outputs;
};

/* What the machine boots (boot.c). */
struct machine_boot {
	uint8_t *file; /* the kernel image as read */
	size_t len;
	struct kernel_image kernel;
	struct e820_entry e820[E820_MAX_ENTRIES];
	unsigned nr_e820;
	uint64_t initrd_addr, initrd_size;
};

struct machine {
	struct vm vm;	      /* the core: KVM, RAM, buses, vCPUs, stopping */
	struct vm_config cfg; /* the command line */
	struct machine_boot boot;

	struct serial serial;
	struct rtc rtc;
	struct i8042 i8042;
	bool platform_ready;  /* rtc and i8042 initialised (so destroy knows) */
	int io_delay_eventfd; /* port 0x80 writes consumed in KVM */
	struct debug_exit debug_exit;
	struct boot_timer boot_timer; /* the guest's first instruction, for the report */
	struct pci_bus pci;
	/*
	 * Device work: virtio queues, io_uring completions. Work unit k (a
	 * device, or a queue pair of a net device: see devices.c) on
	 * io[k % nr_io].
	 */
	struct iothread io[CONFIG_MAX_IOTHREADS];
	unsigned nr_io;			 /* initialised ones (so destroy knows) */
	unsigned nr_units;		 /* work units given a thread so far */
	struct tap tap[NET_MAX_DEVICES]; /* --net's, open until their device takes them */
	unsigned nr_taps;
	struct virtio_pci *vdev[MACHINE_MAX_VIRTIO];
	unsigned nr_vdev;
	struct console_sink console;

	int signal_fd; /* INT, TERM, HUP for the control loop */
	/* The report's files, opened before the sandbox closes the file system. */
	FILE *stats_json_file; /* --stats-json */
	int proc_status_fd;    /* /proc/self/status, for vireo's own RSS */
	uint64_t vmm_rss_kib;
};

/* The parts that need no kernel (tests build a machine around fake memory). */
void machine_init_state(struct machine *m, const struct vm_config *cfg, uint64_t start_ns);

/* Build the whole machine from cfg. 0, or -1 after printing one line. */
int machine_create(struct machine *m, const struct vm_config *cfg, uint64_t start_ns);

/* Run until the VM stops; returns the process exit status. */
int machine_run(struct machine *m);

/*
 * Open what the report will need (the --stats-json file, /proc/self/status)
 * while the file system is still open to vireo. 0, or -1 after one line.
 */
int machine_report_open(struct machine *m);

/* Print/write the exit report as configured (after machine_run). */
void machine_report(struct machine *m);

void machine_destroy(struct machine *m);

/*
 * An I/O thread did not stop (stuck in a system call: a hung disk). Then
 * nothing it may touch can be freed: the caller ends the process instead
 * of calling machine_destroy().
 */
bool machine_io_stuck(const struct machine *m);

/* boot.c: read and check the kernel and initrd (before KVM), 0 or -1 after one line. */
int boot_check_inputs(struct machine *m);
/* boot.c: kernel, initrd, boot information, GDT and page tables into guest RAM. */
int boot_load(struct machine *m);
void boot_destroy(struct machine *m);

/* platform.c: the legacy PC devices a guest expects at fixed ports. */
int platform_devices_init(struct machine *m);
/* platform.c: port 0x80's ioeventfd (last in set-up: it waits for the memslots). */
int platform_ioeventfds_init(struct machine *m);
void platform_devices_destroy(struct machine *m);

/* devices.c: PCI bus, I/O threads and the virtio devices the config asks for. */
int virtio_devices_init(struct machine *m);
void virtio_devices_destroy(struct machine *m);

#endif
