/* SPDX-License-Identifier: MIT */
/*
 * devices.c -- the PCI bus and the virtio devices on it, as the command line
 * asks: --disk (virtio-blk), --rng, --virtio-console. Each gets a virtio-pci
 * function on bus 0 and one of the --iothreads I/O threads: device k (in the
 * order disks, rng, console) runs on thread k mod N, so with as many threads
 * as devices each device has its own, as QEMU's iothread= gives.
 */
#include "vireo/util.h"
#include "vireo/virtio/blk.h"
#include "vireo/virtio/devices.h"
#include "vireo/virtio/virtio_pci.h"
#include "vireo/vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static struct virtio_pci *new_vdev(struct vm *vm)
{
	struct virtio_pci *vp;

	if (vm->nr_vdev == VM_MAX_VIRTIO) {
		vireo_err("too many virtio devices (at most %d)", VM_MAX_VIRTIO);
		return NULL;
	}
	vp = calloc(1, sizeof(*vp));
	if (!vp)
		return NULL;
	vp->vdev.io = &vm->io[vm->nr_vdev % vm->nr_io];
	vp->vdev.mem = &vm->mem;
	vm->vdev[vm->nr_vdev++] = vp;
	return vp;
}

static int attach(struct vm *vm, struct virtio_pci *vp, const char *kind, unsigned index)
{
	char name[32];

	snprintf(name, sizeof(name), "virtio-%s%u", kind, index);
	return virtio_pci_init(vp, vm, vp->vdev.io, vm->active[OPT_IOEVENTFD], name);
}

static int add_disks(struct vm *vm)
{
	for (unsigned i = 0; i < vm->cfg.nr_disks; i++) {
		struct blk_disk_config dc;
		struct virtio_pci *vp;
		char err[256];

		if (blk_parse_disk_arg(vm->cfg.disks[i], &dc, err, sizeof(err)) < 0) {
			vireo_err("--disk %s: %s", vm->cfg.disks[i], err);
			return -1;
		}
		vp = new_vdev(vm);
		if (!vp)
			return -1;
		if (virtio_blk_create(&vp->vdev, &dc, vp->vdev.io, err, sizeof(err)) < 0) {
			vireo_err("--disk %s: %s", vm->cfg.disks[i], err);
			return -1;
		}
		if (attach(vm, vp, "blk", i) < 0)
			return -1;
	}
	return 0;
}

static int iothreads_init(struct vm *vm)
{
	unsigned n = vm->cfg.iothreads ? vm->cfg.iothreads : 1;

	if (n > CONFIG_MAX_IOTHREADS)
		n = CONFIG_MAX_IOTHREADS;
	for (unsigned i = 0; i < n; i++) {
		vm->nr_io++; /* counted even if it fails: destroy closes what it opened */
		if (iothread_init(&vm->io[i]) < 0)
			return -1;
		snprintf(vm->io[i].name, sizeof(vm->io[i].name), "vireo-io%u", i);
	}
	return 0;
}

int virtio_devices_init(struct vm *vm)
{
	struct virtio_pci *vp;

	if (pci_bus_init(&vm->pci, &vm->pio) < 0)
		return -1;
	irq_routing_init(&vm->irq, vm->vm_fd);
	if (iothreads_init(vm) < 0)
		return -1;
	if (add_disks(vm) < 0)
		return -1;
	if (vm->cfg.rng) {
		vp = new_vdev(vm);
		if (!vp)
			return -1;
		virtio_rng_setup(&vp->vdev);
		if (attach(vm, vp, "rng", 0) < 0)
			return -1;
	}
	if (vm->cfg.virtio_console) {
		vp = new_vdev(vm);
		if (!vp || virtio_console_setup(&vp->vdev, STDOUT_FILENO) < 0 ||
		    attach(vm, vp, "console", 0) < 0)
			return -1;
		vm->console_dev = vp;
	}
	return 0;
}

void virtio_devices_destroy(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_io; i++)
		iothread_stop(&vm->io[i]); /* no handler runs once these return */
	for (unsigned i = 0; i < vm->nr_vdev; i++) {
		struct virtio_pci *vp = vm->vdev[i];
		const struct virtio_device_ops *ops = vp->vdev.ops;

		if (ops && ops->device_id == 2)
			virtio_blk_destroy(&vp->vdev);
		else if (ops && ops->device_id == 3)
			virtio_console_destroy(&vp->vdev);
		if (ops)
			virtio_pci_destroy(vp);
		free(vp);
	}
	vm->nr_vdev = 0;
	for (unsigned i = 0; i < vm->nr_io; i++)
		iothread_destroy(&vm->io[i]);
	vm->nr_io = 0;
	irq_routing_destroy(&vm->irq);
	pci_bus_destroy(&vm->pci);
}
