/* SPDX-License-Identifier: MIT */
/*
 * machine.c -- assembling the machine: the core VM, then the platform
 * devices, the PCI bus with the virtio devices, the firmware tables that
 * describe them, and the vCPUs; and taking it apart again.
 */
#include "vireo/machine/machine.h"
#include "vireo/lib/util.h"
#include "vireo/arch/x86/acpi.h"
#include "vireo/arch/x86/mptable.h"
#include "vireo/arch/x86/layout.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void machine_init_state(struct machine *m, const struct vm_config *cfg, uint64_t start_ns)
{
	struct vm_params params = {
	    .mem_bytes = cfg->mem_bytes, .cpus = cfg->cpus, .sandbox = cfg->sandbox};

	memset(m, 0, sizeof(*m));
	m->cfg = *cfg;
	memcpy(params.want, cfg->want, sizeof(params.want));
	vm_init_state(&m->vm, &params, start_ns);
	m->io_delay_eventfd = m->signal_fd = m->proc_status_fd = -1;
}

/* The PCI devices' INTx lines, for the tables that describe them. */
static unsigned pci_intx_lines(const struct machine *m, struct mp_pci_intx *intx)
{
	unsigned n = 0;

	for (unsigned slot = 0; slot < PCI_MAX_DEVICES && n < MPTABLE_MAX_PCI_INTX; slot++) {
		const struct pci_device *pdev = m->pci.dev[slot];

		if (pdev && pdev->cfg[PCI_INTERRUPT_PIN])
			intx[n++] = (struct mp_pci_intx){.slot = (uint8_t)slot,
							 .irq = pdev->cfg[PCI_INTERRUPT_LINE]};
	}
	return n;
}

/*
 * After the devices, whose INTx lines they describe: the MP table always,
 * and the ACPI tables unless --no-acpi (a guest with ACPI reads those and
 * ignores the MP table).
 */
static int write_firmware_tables(struct machine *m)
{
	struct vm *vm = &m->vm;
	const size_t size = ACPI_TABLES_MAX; /* fits both: a few KiB + 254 CPUs' entries */
	struct mp_pci_intx intx[MPTABLE_MAX_PCI_INTX];
	unsigned n = pci_intx_lines(m, intx);
	uint8_t *buf = malloc(size);
	int ret = -1;
	size_t len;

	if (!buf) {
		vireo_err("out of memory for the firmware tables");
		return -1;
	}
	len = mptable_build(buf, size, MPTABLE_ADDR, m->cfg.cpus, intx, n);
	if (len == 0 || !gmem_write(&vm->mem, gpa(MPTABLE_ADDR), buf, len)) {
		vireo_err("cannot write the MP table into guest memory");
		goto out;
	}
	if (m->cfg.acpi) {
		len = acpi_build(buf, size, ACPI_TABLES_ADDR, m->cfg.cpus, intx, n);
		if (len == 0 || !gmem_write(&vm->mem, gpa(ACPI_TABLES_ADDR), buf, len)) {
			vireo_err("cannot write the ACPI tables into guest memory");
			goto out;
		}
	}
	ret = 0;
out:
	free(buf);
	return ret;
}

int machine_create(struct machine *m, const struct vm_config *cfg, uint64_t start_ns)
{
	machine_init_state(m, cfg, start_ns);
	if (boot_check_inputs(m) < 0 || vm_create_kvm(&m->vm) < 0 || boot_load(m) < 0)
		return -1;
	if (platform_devices_init(m) < 0 || virtio_devices_init(m) < 0 ||
	    write_firmware_tables(m) < 0 || vcpus_create(&m->vm, &m->boot.kernel) < 0)
		return -1;
	/* All of that overlapped KVM's registration of guest RAM; now wait for it. */
	return platform_ioeventfds_init(m) < 0 || vm_memory_wait(&m->vm) < 0 ? -1 : 0;
}

bool machine_io_stuck(const struct machine *m)
{
	for (unsigned i = 0; i < m->nr_io; i++)
		if (m->io[i].stuck)
			return true;
	return false;
}

void machine_destroy(struct machine *m)
{
	vcpus_destroy(&m->vm); /* first: nothing runs the devices any more */
	virtio_devices_destroy(m);
	platform_devices_destroy(m);
	if (m->signal_fd >= 0)
		close(m->signal_fd);
	m->signal_fd = -1;
	if (m->stats_json_file)
		fclose(m->stats_json_file);
	m->stats_json_file = NULL;
	if (m->proc_status_fd >= 0)
		close(m->proc_status_fd);
	m->proc_status_fd = -1;
	vm_destroy(&m->vm);
	boot_destroy(m);
}
