/* SPDX-License-Identifier: MIT */
/*
 * acpi.h -- the ACPI tables vireo gives a guest: RSDP, XSDT, FADT, MADT and
 * a DSDT describing the devices.
 *
 * Why: a kernel built without MP-table parsing (Debian's) finds its CPUs and
 * IOAPIC only through ACPI's MADT; without it such a kernel runs on one CPU
 * whatever --cpus says.
 *
 * The FADT declares a hardware-reduced platform: no PM timer, SCI, GPEs or
 * fixed-feature registers to emulate, so nothing there costs an exit. Linux
 * then leaves the 8259 and the PIT alone and maps only the interrupts that
 * the DSDT names, so the DSDT has to name everything (ACPI 6.3, 5.2.9 and
 * chapter 6):
 *   - \_SB.PCI0, the PCI host bridge (PNP0A03): with ACPI, Linux finds PCI
 *     buses only through such objects. Its _CRS gives bus 0, the config
 *     ports and the windows (I/O around them, the MMIO hole for BARs); its
 *     _PRT routes each device's INTA# to an interrupt link;
 *   - \_SB.LSxx, one interrupt link (PNP0C0F) per INTx line, whose only
 *     interrupt is the device's IOAPIC pin, level-triggered and active high
 *     (what the resampling irqfd implements; a _PRT entry naming a bare GSI
 *     would be programmed active low);
 *   - \_SB.COM1, KBD_, RTC_: the UART, the i8042 and the CMOS clock with
 *     their ports and ISA IRQs 4, 1 and 8.
 * The MADT lists the CPUs, the IOAPIC, an interrupt source override per PCI
 * line (as the MP table does) and LINT1 as NMI.
 *
 * `--no-acpi` leaves the tables out; the MP table, always written, then
 * describes the machine alone.
 */
#ifndef VIREO_X86_ACPI_H
#define VIREO_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "vireo/arch/x86/mptable.h"

/* In the BIOS area (reserved in the e820 map), inside the 0xe0000-0xfffff
 * window where a guest without a pointer from the loader searches for the
 * RSDP, below the MP table at 0xf0000. */
#define ACPI_TABLES_ADDR 0xe0000ull
#define ACPI_TABLES_MAX	 0x10000ull

/* Largest ncpus (one xAPIC ID space with the IOAPIC's ID after the CPUs). */
#define ACPI_MAX_CPUS MPTABLE_MAX_CPUS

/*
 * Build the tables for ncpus CPUs (APIC IDs 0..ncpus-1), the IOAPIC (ID
 * ncpus) and the npci PCI lines (slot and IOAPIC pin of each INTA#) into
 * buf, as they will sit at guest physical `base`: RSDP first, then XSDT,
 * FADT, MADT, DSDT. Returns the bytes used, or 0 when buf is too small or
 * an argument is out of range.
 */
size_t acpi_build(uint8_t *buf, size_t len, uint64_t base, unsigned ncpus,
		  const struct mp_pci_intx *pci, unsigned npci);

#endif
