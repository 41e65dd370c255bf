/* SPDX-License-Identifier: MIT */
/*
 * pci.c -- bus 0, configuration mechanism #1, BARs and capability lists.
 *
 * Configuration space is a byte array per device with a write mask: reads
 * return what is there, writes change only the writable bits. That one rule
 * gives BAR sizing for free (the low bits of a BAR are read-only zeros, so
 * writing all ones reads back the size mask) and keeps read-only fields
 * read-only whatever the guest writes.
 */
#include "vireo/pci/pci.h"
#include "vireo/lib/util.h"

#include <string.h>

#define CONFIG_ENABLE (1u << 31)

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void pci_device_init(struct pci_device *pdev, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys)
{
	memset(pdev, 0, sizeof(*pdev));
	pdev->name = name;
	put16(&pdev->cfg[PCI_VENDOR_ID], vendor);
	put16(&pdev->cfg[PCI_DEVICE_ID], device);
	pdev->cfg[PCI_REVISION] = revision;
	pdev->cfg[PCI_CLASS_PROG] = (uint8_t)class_code;
	put16(&pdev->cfg[PCI_CLASS_PROG + 1], (uint16_t)(class_code >> 8));
	put16(&pdev->cfg[PCI_SUBSYSTEM_VENDOR_ID], subsys_vendor);
	put16(&pdev->cfg[PCI_SUBSYSTEM_ID], subsys);
	/* Memory space and bus mastering are the guest's to switch. */
	put16(&pdev->wmask[PCI_COMMAND], PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	pdev->wmask[PCI_INTERRUPT_LINE] = 0xff;
	pdev->next_cap = 0x40;
}

uint64_t pci_alloc_mmio(struct pci_bus *pci, uint64_t size)
{
	uint64_t base = ALIGN_UP(pci->mmio_next, size);

	if (size == 0 || base + size > PCI_MMIO_END || base + size < base)
		return 0;
	pci->mmio_next = base + size;
	return base;
}

uint64_t pci_device_add_bar64(struct pci_bus *pci, struct pci_device *pdev, unsigned bar,
			      uint64_t size)
{
	uint64_t mask = ~(size - 1);
	uint64_t base;

	if (bar > 4 || size < 4096 || (size & (size - 1)))
		return 0;
	base = pci_alloc_mmio(pci, size);
	if (!base)
		return 0;
	/* Bits 2:1 = 10b: 64-bit memory BAR, not prefetchable. */
	put32(&pdev->cfg[PCI_BAR0 + 4 * bar], (uint32_t)base | 0x4);
	put32(&pdev->cfg[PCI_BAR0 + 4 * bar + 4], (uint32_t)(base >> 32));
	put32(&pdev->wmask[PCI_BAR0 + 4 * bar], (uint32_t)mask & ~0xfu);
	put32(&pdev->wmask[PCI_BAR0 + 4 * bar + 4], (uint32_t)(mask >> 32));
	pdev->bar_size[bar] = size;
	pdev->bar_base[bar] = base;
	/* Placed, so decoded, as firmware leaves a device it assigned. */
	put16(&pdev->cfg[PCI_COMMAND], pci_cfg_read16(pdev, PCI_COMMAND) | PCI_COMMAND_MEMORY);
	__atomic_store_n(&pdev->command, pci_cfg_read16(pdev, PCI_COMMAND), __ATOMIC_RELEASE);
	return base;
}

unsigned pci_device_add_cap(struct pci_device *pdev, const void *cap, unsigned len)
{
	unsigned off = pdev->next_cap;

	if (len < 2 || off + len > PCI_CFG_SIZE)
		return 0;
	memcpy(&pdev->cfg[off], cap, len);
	pdev->cfg[off + 1] = 0; /* end of list, for now */
	if (pdev->last_cap)
		pdev->cfg[pdev->last_cap + 1] = (uint8_t)off;
	else
		pdev->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
	pdev->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	pdev->last_cap = (uint8_t)off;
	pdev->next_cap = (uint8_t)ALIGN_UP(off + len, 4);
	return off;
}

int pci_bus_add(struct pci_bus *pci, struct pci_device *pdev)
{
	for (int slot = 1; slot < PCI_MAX_DEVICES; slot++) {
		if (!pci->dev[slot]) {
			pci->dev[slot] = pdev;
			return slot;
		}
	}
	vireo_err("PCI bus 0 is full: cannot add %s", pdev->name);
	return -1;
}

unsigned pci_slot_irq(unsigned slot)
{
	static const uint8_t link_irq[] = {10, 11, 5, 9};

	return link_irq[slot % ARRAY_SIZE(link_irq)];
}

/* The device the latched address selects, or NULL (bus != 0, function != 0, empty slot). */
static struct pci_device *selected(const struct pci_bus *pci, unsigned *reg)
{
	uint32_t a = pci->config_address;
	unsigned busno = (a >> 16) & 0xff, slot = (a >> 11) & 0x1f, fn = (a >> 8) & 0x7;

	*reg = a & 0xfc;
	if (!(a & CONFIG_ENABLE) || busno != 0 || fn != 0)
		return NULL;
	return pci->dev[slot];
}

/*
 * BARs do not move (see pci.h): a BAR dword the guest wrote keeps all ones
 * (sizing: it reads back the size mask), anything else becomes the base in
 * use again, so config space never names an address that is not decoded.
 */
static void refuse_relocation(struct pci_device *pdev, unsigned off, unsigned len)
{
	for (unsigned bar = 0; bar < 6; bar++) {
		unsigned reg = PCI_BAR0 + 4 * bar;

		if (!pdev->bar_size[bar] || off >= reg + 8 || off + len <= reg)
			continue;
		for (unsigned half = 0; half < 2; half++) {
			unsigned at = reg + 4 * half;
			uint32_t v = pci_cfg_read32(pdev, at), wm = get32(&pdev->wmask[at]);
			uint32_t base = (uint32_t)(pdev->bar_base[bar] >> (32 * half));

			if ((v & wm) != wm)
				put32(&pdev->cfg[at], (v & ~wm) | (base & wm));
		}
	}
}

static void cfg_write(struct pci_device *pdev, unsigned off, const uint8_t *data, unsigned len)
{
	for (unsigned i = 0; i < len; i++) {
		uint8_t m = pdev->wmask[off + i];

		pdev->cfg[off + i] = (uint8_t)((pdev->cfg[off + i] & ~m) | (data[i] & m));
	}
	refuse_relocation(pdev, off, len);
	/* Published before the device reacts, so it sees the new value too. */
	__atomic_store_n(&pdev->command, pci_cfg_read16(pdev, PCI_COMMAND), __ATOMIC_RELEASE);
	if (pdev->cfg_write)
		pdev->cfg_write(pdev, off, len);
}

void pci_config_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
	struct pci_bus *pci = opaque;
	struct pci_device *pdev;
	unsigned reg, off;

	pthread_mutex_lock(&pci->lock);
	if (offset < 4) {
		/* CONFIG_ADDRESS takes only whole 32-bit accesses. */
		if (offset == 0 && len == 4) {
			if (is_write)
				memcpy(&pci->config_address, data, 4);
			else
				memcpy(data, &pci->config_address, 4);
		}
		goto out;
	}
	pdev = selected(pci, &reg);
	off = reg + (unsigned)(offset - 4);
	if (!pdev || off + len > PCI_CFG_SIZE)
		goto out; /* no device: reads stay all ones */
	if (is_write) {
		cfg_write(pdev, off, data, len);
	} else {
		if (pdev->cfg_read)
			pdev->cfg_read(pdev, off, len);
		memcpy(data, &pdev->cfg[off], len);
	}
out:
	pthread_mutex_unlock(&pci->lock);
}

int pci_bus_init(struct pci_bus *pci, struct bus *pio)
{
	memset(pci, 0, sizeof(*pci));
	pthread_mutex_init(&pci->lock, NULL);
	pci->mmio_next = PCI_MMIO_START;
	/* 00:00.0 host bridge (Intel's i440FX ID): Linux's conf1 probe looks
	 * for a host bridge on bus 0 before it trusts the mechanism. */
	pci_device_init(&pci->host_bridge, "host-bridge", 0x8086, 0x1237, 0x060000, 2, 0, 0);
	pci->dev[0] = &pci->host_bridge;
	return bus_register(pio, PCI_CONFIG_ADDRESS, 8, "pci-config", pci_config_io, pci) < 0 ? -1
											      : 0;
}

void pci_bus_destroy(struct pci_bus *pci)
{
	pthread_mutex_destroy(&pci->lock);
}
