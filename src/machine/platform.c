/* SPDX-License-Identifier: MIT */
/*
 * platform.c -- the devices every vireo VM has, at their fixed places.
 * Devices are registered here and nowhere else, so this file is the map.
 */
#include "vireo/abi/guest_abi.h"
#include "vireo/hw/legacy.h"
#include "vireo/hw/no_pit.h"
#include "vireo/lib/util.h"
#include "vireo/machine/machine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

/*
 * Port 0x80 is the "I/O delay" port: Linux writes it between slow legacy
 * accesses, purely to waste time. Giving those writes an exit to userspace
 * is the classic avoidable exit: an ioeventfd lets KVM swallow them (the fd
 * merely counts), and the delay itself is what the guest wanted anyway.
 *
 * KVM takes its memslot lock to change an I/O bus, so this waits for guest
 * RAM's registration (vm_create_kvm) to finish: machine_create() calls it
 * last, after everything that can overlap that registration.
 */
int platform_ioeventfds_init(struct machine *m)
{
	struct vm *vm = &m->vm;
	struct kvm_ioeventfd io = {
	    .addr = VIREO_PORT_IO_DELAY, .len = 1, .flags = KVM_IOEVENTFD_FLAG_PIO};
	int region = bus_find(&vm->pio, VIREO_PORT_IO_DELAY, 1);

	if (region < 0 || !vm->active[OPT_IOEVENTFD] || vm->vm_fd < 0)
		return 0;
	io.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (io.fd < 0 || ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0) {
		vireo_warn("ioeventfd for port 0x80 failed (%s): its writes will exit to userspace",
			   strerror(errno));
		if (io.fd >= 0)
			close(io.fd);
		vm->active[OPT_IOEVENTFD] = false;
		return 0;
	}
	m->io_delay_eventfd = io.fd;
	vm->pio.region[region].kernel_eventfd = io.fd;
	return 0;
}

/*
 * Without the in-kernel PIT (--no-pit) its ports would be unassigned and read
 * all ones, which sends PIT probes into long loops; no_pit.h answers them
 * so they give up at once. The exits are counted under these names.
 */
static int no_pit_init(struct machine *m)
{
	struct bus *pio = &m->vm.pio;

	if (m->vm.active[OPT_PIT])
		return 0;
	if (bus_register(pio, NO_PIT_PORT, NO_PIT_PORTS, "no-pit", no_pit_io, NULL) < 0 ||
	    bus_register(pio, NO_PIT_PORT61, 1, "no-pit-port61", no_pit_port61_io, NULL) < 0)
		return -1;
	return 0;
}

/* The guest's exit status, through the debug-exit port (--debug-exit). */
static void debug_exit_stop(void *vm, unsigned code)
{
	char detail[64];

	snprintf(detail, sizeof(detail), "guest wrote %u to the debug-exit port", code);
	vm_request_stop(vm, STOP_DEBUG_EXIT, (int)((code << 1) | 1), detail);
}

static void reset_through_i8042(void *vm)
{
	vm_request_stop(vm, STOP_RESET, 0, "guest reset through the i8042");
}

static size_t serial_room(void *dev)
{
	return serial_rx_room(dev);
}

static size_t serial_input(void *dev, const uint8_t *buf, size_t len)
{
	return serial_push_input(dev, buf, len);
}

int platform_devices_init(struct machine *m)
{
	struct vm *vm = &m->vm;
	struct bus *pio = &vm->pio;

	if (serial_init(&m->serial, STDOUT_FILENO, VIREO_IRQ_COM1, vm_set_irq_line, vm) < 0)
		vireo_perror("serial console output");
	m->console =
	    (struct console_sink){.dev = &m->serial, .room = serial_room, .input = serial_input};
	if (m->serial.out_ready)
		m->console.outputs[m->console.nr_outputs++] = &m->serial.out;
	rtc_init(&m->rtc);
	i8042_init(&m->i8042, reset_through_i8042, vm);
	m->platform_ready = true;
	m->debug_exit = (struct debug_exit){.exit = debug_exit_stop, .opaque = vm};
	if (bus_register(pio, VIREO_PORT_COM1, 8, "serial", serial_io, &m->serial) < 0 ||
	    bus_register(pio, RTC_PORT, 2, "rtc", rtc_io, &m->rtc) < 0 ||
	    bus_register(pio, I8042_DATA_PORT, 1, "i8042", i8042_data_io, &m->i8042) < 0 ||
	    bus_register(pio, I8042_CMD_PORT, 1, "i8042-cmd", i8042_cmd_io, &m->i8042) < 0 ||
	    bus_register(pio, VIREO_PORT_BOOT_TIMER, 4, "boot-timer", boot_timer_io,
			 &m->boot_timer) < 0 ||
	    bus_register(pio, VIREO_PORT_TEST, 4, "test", sink_io, NULL) < 0)
		return -1;
	/* Opt-in, as QEMU's isa-debug-exit: it hands the guest vireo's exit
	 * status, and (C << 1) | 1 can read as one of vireo's own. */
	if (m->cfg.debug_exit && bus_register(pio, VIREO_PORT_DEBUG_EXIT, 1, "debug-exit",
					      debug_exit_io, &m->debug_exit) < 0)
		return -1;
	if (bus_register(pio, VIREO_PORT_IO_DELAY, 1, "io-delay", sink_io, NULL) < 0)
		return -1; /* its ioeventfd comes last: platform_ioeventfds_init() */
	return no_pit_init(m);
}

void platform_devices_destroy(struct machine *m)
{
	serial_destroy(&m->serial);
	if (m->platform_ready) {
		rtc_destroy(&m->rtc);
		i8042_destroy(&m->i8042);
	}
	m->platform_ready = false;
	if (m->io_delay_eventfd >= 0)
		close(m->io_delay_eventfd);
	m->io_delay_eventfd = -1;
}
