/* SPDX-License-Identifier: MIT */
/*
 * devices.c -- the PCI bus and the virtio devices on it, as the command line
 * asks: --disk (virtio-blk), --rng, --virtio-console, --net (virtio-net over
 * a tap). Each gets a virtio-pci function on bus 0, and its work units I/O
 * threads: a unit is a device, or one queue pair of a net device (a queue
 * group, which runs apart from the others: virtio.h). Unit k, in the order
 * disks, rng, console, then each net's pairs, runs on thread k mod N; so
 * with as many threads as units each has its own, as QEMU's iothread=
 * gives, and a net device's pairs run in parallel whenever N > 1.
 */
#include "vireo/machine/machine.h"
#include "vireo/lib/util.h"
#include "vireo/virtio/blk.h"
#include "vireo/virtio/devices.h"
#include "vireo/virtio/net.h"
#include "vireo/virtio/virtio_pci.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The I/O thread of the next work unit. */
static struct iothread *next_io(struct machine *m)
{
	return &m->io[m->nr_units++ % m->nr_io];
}

static struct virtio_pci *new_vdev(struct machine *m)
{
	struct virtio_pci *vp;

	if (m->nr_vdev == MACHINE_MAX_VIRTIO) {
		vireo_err("too many virtio devices (at most %d)", MACHINE_MAX_VIRTIO);
		return NULL;
	}
	/* units_wanted() sized the I/O threads: a kind of device it does not
	 * count would have none to run on. Say so rather than divide by zero. */
	if (m->nr_io == 0) {
		vireo_err("internal error: a virtio device but no I/O thread (units_wanted())");
		return NULL;
	}
	vp = calloc(1, sizeof(*vp));
	if (!vp)
		return NULL;
	vp->vdev.io = next_io(m);
	vp->vdev.mem = &m->vm.mem;
	m->vdev[m->nr_vdev++] = vp;
	return vp;
}

static int attach(struct machine *m, struct virtio_pci *vp, const char *kind, unsigned index)
{
	struct vm *vm = &m->vm;
	const struct virtio_pci_host host = {
	    .vm_fd = vm->vm_fd,
	    .mem = &vm->mem,
	    .mmio = &vm->mmio,
	    .pci = &m->pci,
	    .irq = &vm->irq,
	    .ioeventfd = vm->active[OPT_IOEVENTFD],
	    .event_idx = vm->active[OPT_EVENT_IDX],
	};
	char name[32];

	snprintf(name, sizeof(name), "virtio-%s%u", kind, index);
	return virtio_pci_init(vp, &host, vp->vdev.io, name);
}

static size_t vcon_room(void *dev)
{
	return virtio_console_room(dev);
}

static size_t vcon_input(void *dev, const uint8_t *buf, size_t len)
{
	return virtio_console_input(dev, buf, len);
}

/* --virtio-console: host input goes to it, and its output is drained too. */
static void console_takes_input(struct machine *m, struct virtio_dev *vdev)
{
	struct console_out *out = virtio_console_out(vdev);

	m->console.dev = vdev;
	m->console.room = vcon_room;
	m->console.input = vcon_input;
	if (out && m->console.nr_outputs < ARRAY_SIZE(m->console.outputs))
		m->console.outputs[m->console.nr_outputs++] = out;
}

static int add_disks(struct machine *m)
{
	for (unsigned i = 0; i < m->cfg.nr_disks; i++) {
		struct blk_disk_config dc;
		struct virtio_pci *vp;
		char err[256];

		if (blk_parse_disk_arg(m->cfg.disks[i], &dc, err, sizeof(err)) < 0) {
			vireo_err("--disk %s: %s", m->cfg.disks[i], err);
			return -1;
		}
		vp = new_vdev(m);
		if (!vp)
			return -1;
		if (virtio_blk_create(&vp->vdev, &dc, vp->vdev.io, err, sizeof(err)) < 0) {
			vireo_err("--disk %s: %s", m->cfg.disks[i], err);
			return -1;
		}
		if (attach(m, vp, "blk", i) < 0)
			return -1;
	}
	return 0;
}

/* The taps, before any device: a missing one is reported before the guest is built. */
static int open_taps(struct machine *m)
{
	for (unsigned i = 0; i < m->cfg.nr_nets; i++) {
		char err[256];

		if (tap_open(&m->tap[i], m->cfg.nets[i].tap, m->cfg.nets[i].queues, err,
			     sizeof(err)) < 0) {
			vireo_err("--net: %s", err);
			return -1;
		}
		m->nr_taps++;
	}
	return 0;
}

static int add_nets(struct machine *m)
{
	for (unsigned i = 0; i < m->cfg.nr_nets; i++) {
		struct virtio_pci *vp = new_vdev(m);

		if (!vp)
			return -1;
		/* Pair 0 on the device's thread (with the control queue), the rest on their own. */
		vp->vdev.group[0].io = vp->vdev.io;
		for (unsigned k = 1; k < m->cfg.nets[i].queues && k < VIRTIO_MAX_GROUPS; k++)
			vp->vdev.group[k].io = next_io(m);
		/* The device owns the tap from here, also when this fails. */
		int rc = virtio_net_setup(&vp->vdev, &m->cfg.nets[i], &m->tap[i], i);

		tap_init_closed(&m->tap[i]);
		if (rc < 0 || attach(m, vp, "net", i) < 0)
			return -1;
	}
	return 0;
}

/* The work units the command line asks for: every kind add_*() makes. */
static unsigned units_wanted(const struct machine *m)
{
	unsigned n = m->cfg.nr_disks + (m->cfg.rng ? 1 : 0) + (m->cfg.virtio_console ? 1 : 0);

	for (unsigned i = 0; i < m->cfg.nr_nets; i++)
		n += m->cfg.nets[i].queues;
	return n;
}

/* Without --iothreads: one, or as many as the widest net device has pairs. */
static unsigned default_iothreads(const struct machine *m)
{
	unsigned n = 1;

	for (unsigned i = 0; i < m->cfg.nr_nets; i++)
		if (m->cfg.nets[i].queues > n)
			n = m->cfg.nets[i].queues;
	return n;
}

/*
 * --iothreads N, but no more threads than work units: a thread with nothing
 * to run would only cost start-up time (a thread start and its filter) and
 * a wake-up at stop. Without devices, none.
 */
static int iothreads_init(struct machine *m)
{
	unsigned n = m->cfg.iothreads ? m->cfg.iothreads : default_iothreads(m);

	if (n > units_wanted(m))
		n = units_wanted(m);
	if (n > CONFIG_MAX_IOTHREADS) /* last, so the compiler sees the bound of the names */
		n = CONFIG_MAX_IOTHREADS;
	for (unsigned i = 0; i < n; i++) {
		m->nr_io++; /* counted even if it fails: destroy closes what it opened */
		if (iothread_init(&m->io[i]) < 0)
			return -1;
		snprintf(m->io[i].name, sizeof(m->io[i].name), "vireo-io%u", i);
	}
	return 0;
}

int virtio_devices_init(struct machine *m)
{
	struct vm *vm = &m->vm;
	struct virtio_pci *vp;

	if (pci_bus_init(&m->pci, &vm->pio) < 0)
		return -1;
	irq_routing_init(&vm->irq, vm->vm_fd);
	if (open_taps(m) < 0 || iothreads_init(m) < 0)
		return -1;
	if (add_disks(m) < 0)
		return -1;
	if (m->cfg.rng) {
		vp = new_vdev(m);
		if (!vp)
			return -1;
		virtio_rng_setup(&vp->vdev);
		if (attach(m, vp, "rng", 0) < 0)
			return -1;
	}
	if (m->cfg.virtio_console) {
		vp = new_vdev(m);
		if (!vp || virtio_console_setup(&vp->vdev, STDOUT_FILENO) < 0 ||
		    attach(m, vp, "console", 0) < 0)
			return -1;
		console_takes_input(m, &vp->vdev);
	}
	return add_nets(m);
}

void virtio_devices_destroy(struct machine *m)
{
	for (unsigned i = 0; i < m->nr_io; i++)
		iothread_stop(&m->io[i]); /* no handler runs once these return */
	for (unsigned i = 0; i < m->nr_vdev; i++) {
		struct virtio_pci *vp = m->vdev[i];
		const struct virtio_device_ops *ops = vp->vdev.ops;

		if (ops && ops->destroy)
			ops->destroy(&vp->vdev);
		if (ops)
			virtio_pci_destroy(vp);
		free(vp);
	}
	m->nr_vdev = 0;
	for (unsigned i = 0; i < m->nr_taps; i++)
		tap_close(&m->tap[i]); /* opened, not yet handed to a device */
	m->nr_taps = 0;
	for (unsigned i = 0; i < m->nr_io; i++)
		iothread_destroy(&m->io[i]);
	m->nr_io = 0;
	irq_routing_destroy(&m->vm.irq);
	pci_bus_destroy(&m->pci);
}
