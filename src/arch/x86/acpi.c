/* SPDX-License-Identifier: MIT */
/*
 * acpi.c -- RSDP, XSDT, FADT (hardware-reduced), MADT and DSDT, laid out
 * one after another from `base` (see acpi.h for what a guest makes of
 * them). Layouts follow ACPI 6.3, sections 5.2.5 to 5.2.12.
 */
#include "vireo/arch/x86/acpi.h"

#include "vireo/pci/pci.h"
#include "vireo/lib/util.h"
#include "vireo/arch/x86/aml.h"
#include "vireo/arch/x86/layout.h"

#include <string.h>

struct acpi_rsdp {
	char signature[8]; /* "RSD PTR " */
	uint8_t checksum;  /* the first 20 bytes (the ACPI 1.0 part) sum to 0 */
	char oem_id[6];
	uint8_t revision; /* 2: XSDT, length and extended checksum follow */
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum; /* all 36 bytes sum to 0 */
	uint8_t reserved[3];
} __attribute__((packed));

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum; /* the whole table sums to 0 */
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

/* Generic Address Structure; all zero means "not implemented". */
struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));

struct acpi_fadt {
	struct acpi_header h;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
	uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk;
	uint32_t pm2_cnt_blk, pm_tmr_blk, gpe0_blk, gpe1_blk;
	uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len;
	uint8_t gpe0_blk_len, gpe1_blk_len, gpe1_base, cst_cnt;
	uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
	uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_revision;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk, x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk;
	struct acpi_gas sleep_control_reg, sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} __attribute__((packed));

_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP is 36 bytes");
_Static_assert(sizeof(struct acpi_header) == 36, "table header is 36 bytes");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT (6.3) is 276 bytes");

#define FADT_REVISION	    6
#define FADT_MINOR_REVISION 3
/* IAPC_BOOT_ARCH: the i8042 and the CMOS RTC are there (no "CMOS RTC not
 * present" bit), a VGA is not. */
#define BOOT_ARCH_LEGACY_DEVICES (1u << 0)
#define BOOT_ARCH_8042		 (1u << 1)
#define BOOT_ARCH_VGA_NOT_THERE	 (1u << 2)
/* Flags: power and sleep buttons, if any, would be control-method devices;
 * hardware-reduced: no fixed-feature hardware at all. */
#define FADT_PWR_BUTTON (1u << 4)
#define FADT_SLP_BUTTON (1u << 5)
#define FADT_HW_REDUCED (1u << 20)

#define MADT_REVISION	  5
#define MADT_PCAT_COMPAT  1u /* KVM's irqchip has the dual 8259 too */
#define MADT_LAPIC	  0
#define MADT_IOAPIC	  1
#define MADT_INT_OVERRIDE 2
#define MADT_LAPIC_NMI	  4
#define LAPIC_ENABLED	  1u
/* MPS INTI flags: polarity active high (1), trigger level (3 << 2). */
#define INTI_LEVEL_HIGH 0x000d

struct madt_lapic {
	uint8_t type, length, processor_uid, apic_id;
	uint32_t flags;
} __attribute__((packed));

struct madt_ioapic {
	uint8_t type, length, ioapic_id, reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));

struct madt_override {
	uint8_t type, length, bus, source_irq;
	uint32_t gsi;
	uint16_t flags;
} __attribute__((packed));

struct madt_lapic_nmi {
	uint8_t type, length, processor_uid;
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));

static void header(struct acpi_header *h, const char *sig, uint32_t length, uint8_t revision)
{
	memcpy(h->signature, sig, 4);
	h->length = length;
	h->revision = revision;
	memcpy(h->oem_id, "VIREO ", 6);
	memcpy(h->oem_table_id, "VIREOVM ", 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, "VIRO", 4);
	h->creator_revision = 1;
}

/* Fill the table's checksum once everything else in it is written. */
static void seal(uint8_t *table)
{
	struct acpi_header *h = (struct acpi_header *)table;

	h->checksum = 0;
	h->checksum = sum_to_zero(table, h->length);
}

/* The ISA IRQs that are PCI lines, each once however many devices share it. */
static unsigned pci_line_count(const struct mp_pci_intx *pci, unsigned npci)
{
	unsigned n = 0;

	for (unsigned irq = 0; irq < ISA_IRQS; irq++)
		n += mp_irq_is_pci_line(pci, npci, irq);
	return n;
}

static size_t madt_size(unsigned ncpus, const struct mp_pci_intx *pci, unsigned npci)
{
	return sizeof(struct acpi_header) + 8 + ncpus * sizeof(struct madt_lapic) +
	       sizeof(struct madt_ioapic) +
	       pci_line_count(pci, npci) * sizeof(struct madt_override) +
	       sizeof(struct madt_lapic_nmi);
}

static void build_madt(uint8_t *t, unsigned ncpus, const struct mp_pci_intx *pci, unsigned npci)
{
	uint32_t lapic_addr = (uint32_t)LAPIC_ADDR, flags = MADT_PCAT_COMPAT;
	size_t pos = sizeof(struct acpi_header);

	header((struct acpi_header *)t, "APIC", (uint32_t)madt_size(ncpus, pci, npci),
	       MADT_REVISION);
	memcpy(t + pos, &lapic_addr, 4);
	memcpy(t + pos + 4, &flags, 4);
	pos += 8;
	for (unsigned i = 0; i < ncpus; i++) {
		struct madt_lapic e = {.type = MADT_LAPIC,
				       .length = sizeof(e),
				       .processor_uid = (uint8_t)i,
				       .apic_id = (uint8_t)i,
				       .flags = LAPIC_ENABLED};

		memcpy(t + pos, &e, sizeof(e));
		pos += sizeof(e);
	}
	{
		struct madt_ioapic e = {.type = MADT_IOAPIC,
					.length = sizeof(e),
					.ioapic_id =
					    (uint8_t)ncpus, /* after the CPUs, as in the MP table */
					.address = (uint32_t)IOAPIC_ADDR};

		memcpy(t + pos, &e, sizeof(e));
		pos += sizeof(e);
	}
	/* ISA IRQ n is GSI n (KVM's default routing): only the PCI lines need
	 * saying, as level-triggered and active high. */
	for (unsigned irq = 0; irq < ISA_IRQS; irq++) {
		struct madt_override e = {.type = MADT_INT_OVERRIDE,
					  .length = sizeof(e),
					  .source_irq = (uint8_t)irq,
					  .gsi = irq,
					  .flags = INTI_LEVEL_HIGH};

		if (!mp_irq_is_pci_line(pci, npci, irq))
			continue;
		memcpy(t + pos, &e, sizeof(e));
		pos += sizeof(e);
	}
	{
		struct madt_lapic_nmi e = {
		    .type = MADT_LAPIC_NMI, .length = sizeof(e), .processor_uid = 0xff, .lint = 1};

		memcpy(t + pos, &e, sizeof(e));
	}
	seal(t);
}

static void build_fadt(struct acpi_fadt *f, uint64_t dsdt)
{
	memset(f, 0, sizeof(*f));
	header(&f->h, "FACP", sizeof(*f), FADT_REVISION);
	f->dsdt = (uint32_t)dsdt;
	f->x_dsdt = dsdt;
	f->iapc_boot_arch = BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_8042 | BOOT_ARCH_VGA_NOT_THERE;
	f->flags = FADT_PWR_BUTTON | FADT_SLP_BUTTON | FADT_HW_REDUCED;
	f->minor_revision = FADT_MINOR_REVISION;
	memcpy(&f->hypervisor_vendor_id, "VIREO\0\0\0", 8);
	seal((uint8_t *)f);
}

/* Device(NAME) { Name(_HID, EISAID(hid)) Name(_CRS, <res>) } */
static void legacy_device(struct aml *scope, const char *name, const char *hid,
			  const struct aml *res)
{
	struct aml dev, crs;

	aml_init(&dev);
	aml_init(&crs);
	aml_named_eisaid(&dev, "_HID", hid);
	aml_resource_buffer(&crs, res);
	aml_named(&dev, "_CRS", &crs);
	aml_device(scope, name, &dev);
}

/* The ISA devices, so that a hardware-reduced guest maps their IRQs. */
static void legacy_devices(struct aml *scope)
{
	struct aml res;

	aml_init(&res);
	aml_res_io(&res, 0x3f8, 8);
	aml_res_irq_noflags(&res, 4);
	legacy_device(scope, "COM1", "PNP0501", &res);
	aml_init(&res);
	aml_res_io(&res, 0x60, 1);
	aml_res_io(&res, 0x64, 1);
	aml_res_irq_noflags(&res, 1);
	legacy_device(scope, "KBD_", "PNP0303", &res);
	aml_init(&res);
	aml_res_io(&res, 0x70, 2);
	aml_res_irq_noflags(&res, 8);
	legacy_device(scope, "RTC_", "PNP0B00", &res);
}

/* "LSxx": the interrupt link of the device in slot xx. */
static void link_name(char out[5], unsigned slot)
{
	static const char hex[] = "0123456789ABCDEF";

	out[0] = 'L';
	out[1] = 'S';
	out[2] = hex[(slot >> 4) & 0xf];
	out[3] = hex[slot & 0xf];
	out[4] = 0;
}

/*
 * One PCI interrupt link per INTx line, with that line as its only choice:
 * Linux routes a _PRT entry that names a link with the link's own trigger
 * and polarity (level, active high: what the resampling irqfd implements);
 * a _PRT entry with a bare GSI it would program active low.
 */
static void interrupt_link(struct aml *scope, const struct mp_pci_intx *l)
{
	struct aml dev, irq, res;
	char name[5];

	link_name(name, l->slot);
	aml_init(&dev);
	aml_init(&res);
	aml_named_eisaid(&dev, "_HID", "PNP0C0F");
	aml_named_int(&dev, "_UID", l->slot);
	aml_res_interrupt_level_high(&res, l->irq);
	aml_init(&irq);
	aml_resource_buffer(&irq, &res);
	aml_named(&dev, "_PRS", &irq);
	aml_named(&dev, "_CRS", &irq);
	aml_empty_method(&dev, "_SRS", 1); /* the one choice is already set */
	aml_empty_method(&dev, "_DIS", 0);
	aml_device(scope, name, &dev);
}

/* Package() { Package() { slot address, INTA#, \_SB_.LSxx, 0 }, ... } */
static void pci_routing_table(struct aml *a, const struct mp_pci_intx *pci, unsigned npci)
{
	struct aml entries, entry;
	char target[] = "\\_SB_LSxx";

	aml_init(&entries);
	for (unsigned i = 0; i < npci; i++) {
		link_name(target + 5, pci[i].slot);
		aml_init(&entry);
		aml_integer(&entry, (uint64_t)pci[i].slot << 16 | 0xffff); /* any function */
		aml_integer(&entry, 0);					   /* INTA# */
		aml_name(&entry, target);
		aml_integer(&entry, 0);
		aml_package(&entries, 4, &entry);
	}
	aml_package(a, npci, &entries);
}

/* The host bridge: bus 0, the config ports, and the windows BARs live in. */
static void pci_host_bridge(struct aml *scope, const struct mp_pci_intx *pci, unsigned npci)
{
	struct aml dev, res, obj;

	aml_init(&dev);
	aml_named_eisaid(&dev, "_HID", "PNP0A03");
	aml_named_int(&dev, "_UID", 0);
	aml_init(&res);
	aml_res_word_bus(&res, 0, 0);
	aml_res_io(&res, PCI_CONFIG_ADDRESS, 8);
	aml_res_word_io(&res, 0x0000, PCI_CONFIG_ADDRESS - 1);
	aml_res_word_io(&res, PCI_CONFIG_ADDRESS + 8, 0xffff);
	aml_res_dword_memory(&res, (uint32_t)PCI_MMIO_START, (uint32_t)(PCI_MMIO_END - 1));
	aml_init(&obj);
	aml_resource_buffer(&obj, &res);
	aml_named(&dev, "_CRS", &obj);
	aml_init(&obj);
	pci_routing_table(&obj, pci, npci);
	aml_named(&dev, "_PRT", &obj);
	aml_device(scope, "PCI0", &dev);
}

/* DSDT: Scope(\_SB) { PCI0, its interrupt links, COM1, KBD_, RTC_ }. */
static size_t build_dsdt(uint8_t *t, size_t room, const struct mp_pci_intx *pci, unsigned npci)
{
	struct aml sb, body;
	size_t len;

	aml_init(&sb);
	pci_host_bridge(&sb, pci, npci);
	for (unsigned i = 0; i < npci; i++)
		interrupt_link(&sb, &pci[i]);
	legacy_devices(&sb);
	aml_init(&body);
	aml_scope(&body, "\\_SB_", &sb);
	len = sizeof(struct acpi_header) + body.len;
	if (body.overflow || len > room)
		return 0;
	header((struct acpi_header *)t, "DSDT", (uint32_t)len, 2);
	memcpy(t + sizeof(struct acpi_header), body.buf, body.len);
	seal(t);
	return len;
}

size_t acpi_build(uint8_t *buf, size_t len, uint64_t base, unsigned ncpus,
		  const struct mp_pci_intx *pci, unsigned npci)
{
	/* Layout: RSDP, XSDT (two entries), FADT, MADT, DSDT; 8-byte aligned. */
	const size_t rsdp = 0, xsdt = 40, fadt = xsdt + sizeof(struct acpi_header) + 16;
	const size_t madt = (fadt + sizeof(struct acpi_fadt) + 7) & ~(size_t)7;
	const size_t dsdt = (madt + madt_size(ncpus, pci, npci) + 7) & ~(size_t)7;
	size_t dsdt_len;
	struct acpi_rsdp r = {.signature = "RSD PTR ",
			      .oem_id = "VIREO ",
			      .revision = 2,
			      .length = sizeof(r),
			      .xsdt_address = base + xsdt};
	uint64_t entries[2] = {base + fadt, base + madt};

	if (ncpus == 0 || ncpus > ACPI_MAX_CPUS || npci > MPTABLE_MAX_PCI_INTX || dsdt > len)
		return 0;
	for (unsigned i = 0; i < npci; i++)
		if (pci[i].slot >= 32)
			return 0;
	memset(buf, 0, dsdt);
	dsdt_len = build_dsdt(buf + dsdt, len - dsdt, pci, npci);
	if (dsdt_len == 0)
		return 0;

	header((struct acpi_header *)(buf + xsdt), "XSDT", sizeof(struct acpi_header) + 16, 1);
	memcpy(buf + xsdt + sizeof(struct acpi_header), entries, sizeof(entries));
	seal(buf + xsdt);

	build_fadt((struct acpi_fadt *)(buf + fadt), base + dsdt);

	build_madt(buf + madt, ncpus, pci, npci);

	r.checksum = sum_to_zero(&r, 20);
	r.extended_checksum = sum_to_zero(&r, sizeof(r));
	memcpy(buf + rsdp, &r, sizeof(r));
	return dsdt + dsdt_len;
}
