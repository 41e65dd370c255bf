// SPDX-License-Identifier: MIT
/*
 * pci.c -- PCI configuration mechanism #1 (0xcf8/0xcfc at CPL3 with IOPL 3),
 * a scan of bus 0 for virtio devices, memory BARs (read, or sized and
 * assigned from PCI_ASSIGN_BASE up) and the capability list.
 */
#include "virtio.h"

#define PCI_CONFIG_ADDR 0xcf8
#define PCI_CONFIG_DATA 0xcfc

#define PCI_VENDOR_VIRTIO 0x1af4

static uint64_t next_assign = PCI_ASSIGN_BASE;

static void pci_select(const struct pci_dev *p, unsigned off)
{
	outl(PCI_CONFIG_ADDR, 0x80000000u | (uint32_t)p->bus << 16 | (uint32_t)p->dev << 11 |
				  (uint32_t)p->fn << 8 | (off & 0xfc));
}

uint8_t pci_read8(const struct pci_dev *p, unsigned off)
{
	pci_select(p, off);
	return inb(PCI_CONFIG_DATA + (off & 3));
}

uint16_t pci_read16(const struct pci_dev *p, unsigned off)
{
	pci_select(p, off);
	return inw(PCI_CONFIG_DATA + (off & 2));
}

uint32_t pci_read32(const struct pci_dev *p, unsigned off)
{
	pci_select(p, off);
	return inl(PCI_CONFIG_DATA);
}

void pci_write16(const struct pci_dev *p, unsigned off, uint16_t v)
{
	pci_select(p, off);
	outw(PCI_CONFIG_DATA + (off & 2), v);
}

void pci_write32(const struct pci_dev *p, unsigned off, uint32_t v)
{
	pci_select(p, off);
	outl(PCI_CONFIG_DATA, v);
}

static bool is_virtio_type(const struct pci_dev *p, uint16_t type)
{
	if (p->vendor != PCI_VENDOR_VIRTIO)
		return false;
	if (p->device == 0x1040 + type)
		return true;
	/* Transitional device: the subsystem ID names the type. */
	return p->device >= 0x1000 && p->device <= 0x103f &&
	       pci_read16(p, PCI_SUBSYSTEM_ID) == type;
}

int pci_find_virtio(uint16_t type, unsigned index, struct pci_dev *out)
{
	unsigned seen = 0;

	for (unsigned dev = 0; dev < 32; dev++) {
		for (unsigned fn = 0; fn < 8; fn++) {
			struct pci_dev p = {.bus = 0, .dev = (uint8_t)dev, .fn = (uint8_t)fn};

			p.vendor = pci_read16(&p, PCI_VENDOR_ID);
			if (p.vendor == 0xffff) {
				if (fn == 0)
					break;
				continue;
			}
			p.device = pci_read16(&p, PCI_DEVICE_ID);
			if (is_virtio_type(&p, type) && seen++ == index) {
				*out = p;
				return 0;
			}
			/* Functions 1-7 only on a multi-function device. */
			if (fn == 0 && !(pci_read8(&p, PCI_HEADER_TYPE) & 0x80))
				break;
		}
	}
	return fail("pci: no virtio device of type %u (index %u) on bus 0", type, index);
}

uint64_t pci_bar(const struct pci_dev *p, unsigned bar, bool force)
{
	unsigned off = PCI_BAR0 + 4 * bar;
	uint32_t lo, size_lo, size_hi = 0xffffffff;
	uint64_t addr, size, base, got;
	bool is64;
	uint16_t cmd;

	if (bar > 5) {
		fail("pci %02x:%02x.%u: BAR%u does not exist", p->bus, p->dev, p->fn, bar);
		return 0;
	}
	lo = pci_read32(p, off);
	if (lo & 1) {
		fail("pci %02x:%02x.%u: BAR%u is an I/O BAR", p->bus, p->dev, p->fn, bar);
		return 0;
	}
	is64 = ((lo >> 1) & 3) == 2;
	if (is64 && bar == 5) {
		fail("pci %02x:%02x.%u: 64-bit BAR5", p->bus, p->dev, p->fn);
		return 0;
	}
	addr = lo & ~0xfull;
	if (is64)
		addr |= (uint64_t)pci_read32(p, off + 4) << 32;
	if (addr && addr < 0x100000000ull && !force)
		return addr;

	/* Size it with memory decoding off, then place it. */
	cmd = pci_read16(p, PCI_COMMAND);
	pci_write16(p, PCI_COMMAND, cmd & ~PCI_CMD_MEM);
	pci_write32(p, off, 0xffffffff);
	size_lo = pci_read32(p, off);
	if (is64) {
		pci_write32(p, off + 4, 0xffffffff);
		size_hi = pci_read32(p, off + 4);
	}
	size = ~(((uint64_t)size_hi << 32) | (size_lo & ~0xfull)) + 1;
	base = (next_assign + size - 1) & ~(size - 1);
	if (size_lo == 0 || size == 0 || (size & (size - 1)) || base + size > PCI_ASSIGN_END) {
		pci_write32(p, off, lo);
		if (is64)
			pci_write32(p, off + 4, (uint32_t)(addr >> 32));
		pci_write16(p, PCI_COMMAND, cmd);
		fail("pci %02x:%02x.%u: cannot place BAR%u (size 0x%lx)", p->bus, p->dev, p->fn,
		     bar, size);
		return 0;
	}
	pci_write32(p, off, (uint32_t)base);
	if (is64)
		pci_write32(p, off + 4, 0);
	pci_write16(p, PCI_COMMAND, cmd);
	/* A device may refuse to move (vireo's BARs are fixed): then the base
	 * that reads back is the one it decodes, and the one to use. */
	got = pci_read32(p, off) & ~0xfull;
	if (is64)
		got |= (uint64_t)pci_read32(p, off + 4) << 32;
	if (got == base)
		next_assign = base + size;
	kprintf("pci %02x:%02x.%u: BAR%u was 0x%lx, assigned 0x%lx (size 0x%lx)%s\n", p->bus,
		p->dev, p->fn, bar, addr, got, size,
		got == base ? "" : ": the device kept its base");
	return got;
}

uint8_t pci_find_cap(const struct pci_dev *p, uint8_t id, uint8_t after)
{
	uint8_t ptr;

	if (!(pci_read16(p, PCI_STATUS) & PCI_STATUS_CAPS))
		return 0;
	ptr = after ? pci_read8(p, after + 1) : pci_read8(p, PCI_CAP_PTR);
	/* At most 48 capabilities fit in 256 bytes: a hop limit against loops. */
	for (unsigned hops = 0; hops < 48 && ptr >= 0x40; hops++) {
		ptr &= 0xfc;
		if (pci_read8(p, ptr) == id)
			return ptr;
		ptr = pci_read8(p, ptr + 1);
	}
	return 0;
}
