/* SPDX-License-Identifier: MIT */
/*
 * mptable.c -- Intel MultiProcessor Specification 1.4 tables.
 *
 * Without ACPI this is how a guest learns how many CPUs it has, where the
 * IOAPIC is and how ISA IRQs reach it. ISA IRQ n goes to IOAPIC pin n, which
 * is what KVM's default GSI routing does; LINT0 is ExtINT (the 8259) and
 * LINT1 NMI, as on a PC.
 *
 * PCI INTx: bus 0 is MP bus 0 (Linux looks PCI interrupts up by PCI bus
 * number = MP bus ID), ISA is bus 1. Each device's INTA# gets an entry to
 * its IOAPIC pin, level-triggered and active high (what KVM's IOAPIC and the
 * resampling irqfd implement), and the ISA entry for that pin is left out,
 * as SeaBIOS does, so the pin is not also described as an edge ISA IRQ.
 */
#include "vireo/lib/util.h"
#include "vireo/arch/x86/mptable.h"
#include "vireo/arch/x86/layout.h"

#include <string.h>

#define MPC_SPEC_REV   4
#define APIC_VERSION   0x14
#define IOAPIC_VERSION 0x11

enum { MP_PROCESSOR = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_INTSRC = 3, MP_LINTSRC = 4 };
enum { MP_IRQ_INT = 0, MP_IRQ_NMI = 1, MP_IRQ_EXTINT = 3 };

struct mpf_intel {
	char signature[4]; /* "_MP_" */
	uint32_t physptr;
	uint8_t length; /* in 16-byte units */
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mpc_table {
	char signature[4]; /* "PCMP" */
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount; /* number of entries */
	uint32_t lapic;
	uint16_t reserved_ext_len;
	uint8_t reserved_ext_sum;
	uint8_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag; /* bit 0 enabled, bit 1 boot processor */
	uint32_t cpufeature;
	uint32_t featureflag;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;
	uint8_t busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc {
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag;
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
} __attribute__((packed));

_Static_assert(sizeof(struct mpf_intel) == 16, "MP floating pointer is 16 bytes");
_Static_assert(sizeof(struct mpc_table) == 44, "MP table header is 44 bytes");
_Static_assert(sizeof(struct mpc_cpu) == 20, "MP processor entry is 20 bytes");

#define PCI_BUS_ID   0
#define ISA_BUS_ID   1
#define MP_IRQ_LEVEL 0x0f /* irqflag: trigger level (3 << 2), polarity active high (3) */

bool mp_irq_is_pci_line(const struct mp_pci_intx *pci, unsigned npci, unsigned irq)
{
	for (unsigned i = 0; i < npci; i++)
		if (pci[i].irq == irq)
			return true;
	return false;
}

static unsigned isa_entries(const struct mp_pci_intx *pci, unsigned npci)
{
	unsigned n = 0;

	for (unsigned irq = 0; irq < ISA_IRQS; irq++)
		n += !mp_irq_is_pci_line(pci, npci, irq);
	return n;
}

static size_t table_size(unsigned ncpus, const struct mp_pci_intx *pci, unsigned npci)
{
	return sizeof(struct mpf_intel) + sizeof(struct mpc_table) +
	       ncpus * sizeof(struct mpc_cpu) + 2 * sizeof(struct mpc_bus) +
	       sizeof(struct mpc_ioapic) +
	       (isa_entries(pci, npci) + npci + 2) * sizeof(struct mpc_intsrc);
}

/* Append one entry at *pos, counting it. */
static void put(uint8_t *buf, size_t *pos, uint16_t *count, const void *e, size_t len)
{
	memcpy(buf + *pos, e, len);
	*pos += len;
	(*count)++;
}

size_t mptable_build(uint8_t *buf, size_t len, uint64_t base, unsigned ncpus,
		     const struct mp_pci_intx *pci, unsigned npci)
{
	size_t need, pos = sizeof(struct mpf_intel) + sizeof(struct mpc_table);
	const size_t table = sizeof(struct mpf_intel);
	struct mpf_intel mpf = {.signature = "_MP_", .length = 1, .specification = MPC_SPEC_REV};
	struct mpc_table mpc = {.signature = "PCMP",
				.spec = MPC_SPEC_REV,
				.oem = "VIREO   ",
				.productid = "VIREO VM    ",
				.lapic = (uint32_t)LAPIC_ADDR};
	const uint8_t ioapic_id = (uint8_t)ncpus;
	uint16_t count = 0;

	if (ncpus == 0 || ncpus > MPTABLE_MAX_CPUS || npci > MPTABLE_MAX_PCI_INTX)
		return 0;
	for (unsigned i = 0; i < npci; i++)
		if (pci[i].slot >= 32)
			return 0;
	need = table_size(ncpus, pci, npci);
	if (len < need)
		return 0;
	memset(buf, 0, need);
	for (unsigned i = 0; i < ncpus; i++) {
		struct mpc_cpu cpu = {.type = MP_PROCESSOR,
				      .apicid = (uint8_t)i,
				      .apicver = APIC_VERSION,
				      .cpuflag = 1 | (i == 0 ? 2 : 0),
				      .cpufeature = 0x600,   /* family 6 */
				      .featureflag = 0x201}; /* FPU, APIC */
		put(buf, &pos, &count, &cpu, sizeof(cpu));
	}
	struct mpc_bus pcibus = {.type = MP_BUS, .busid = PCI_BUS_ID, .bustype = "PCI   "};
	struct mpc_bus isa = {.type = MP_BUS, .busid = ISA_BUS_ID, .bustype = "ISA   "};
	put(buf, &pos, &count, &pcibus, sizeof(pcibus));
	put(buf, &pos, &count, &isa, sizeof(isa));
	struct mpc_ioapic ioapic = {.type = MP_IOAPIC,
				    .apicid = ioapic_id,
				    .apicver = IOAPIC_VERSION,
				    .flags = 1,
				    .apicaddr = (uint32_t)IOAPIC_ADDR};
	put(buf, &pos, &count, &ioapic, sizeof(ioapic));
	for (uint8_t irq = 0; irq < ISA_IRQS; irq++) {
		struct mpc_intsrc src = {.type = MP_INTSRC,
					 .irqtype = MP_IRQ_INT,
					 .srcbus = ISA_BUS_ID,
					 .srcbusirq = irq,
					 .dstapic = ioapic_id,
					 .dstirq = irq};

		if (!mp_irq_is_pci_line(pci, npci, irq))
			put(buf, &pos, &count, &src, sizeof(src));
	}
	for (unsigned i = 0; i < npci; i++) {
		struct mpc_intsrc src = {.type = MP_INTSRC,
					 .irqtype = MP_IRQ_INT,
					 .irqflag = MP_IRQ_LEVEL,
					 .srcbus = PCI_BUS_ID,
					 .srcbusirq =
					     (uint8_t)(pci[i].slot << 2), /* pin INTA# = 0 */
					 .dstapic = ioapic_id,
					 .dstirq = pci[i].irq};

		put(buf, &pos, &count, &src, sizeof(src));
	}
	struct mpc_intsrc lint0 = {
	    .type = MP_LINTSRC, .irqtype = MP_IRQ_EXTINT, .dstapic = 0, .dstirq = 0};
	struct mpc_intsrc lint1 = {
	    .type = MP_LINTSRC, .irqtype = MP_IRQ_NMI, .dstapic = 0xff, .dstirq = 1};
	put(buf, &pos, &count, &lint0, sizeof(lint0));
	put(buf, &pos, &count, &lint1, sizeof(lint1));

	mpc.length = (uint16_t)(pos - table);
	mpc.oemcount = count;
	memcpy(buf + table, &mpc, sizeof(mpc));
	buf[table + offsetof(struct mpc_table, checksum)] = sum_to_zero(buf + table, mpc.length);

	mpf.physptr = (uint32_t)(base + table);
	mpf.checksum = sum_to_zero(&mpf, sizeof(mpf));
	memcpy(buf, &mpf, sizeof(mpf));
	return pos;
}
