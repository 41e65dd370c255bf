/* SPDX-License-Identifier: MIT */
/*
 * test_pci.c -- PCI configuration space, BARs, capabilities and MSI-X,
 * driven through the same 0xcf8/0xcfc and MMIO handlers a guest reaches.
 */
#include "unit.h"

#include "vireo/core/bus.h"
#include "vireo/pci/msix.h"
#include "vireo/pci/pci.h"

struct rig {
	struct bus pio;
	struct pci_bus pci;
	struct pci_device dev;
	struct irq_routing irq;
	struct msix msix;
	int slot;
};

static struct rig *rig_new(void)
{
	struct rig *r = calloc(1, sizeof(*r));

	bus_init(&r->pio, "pio");
	assert_int_equal(pci_bus_init(&r->pci, &r->pio), 0);
	pci_device_init(&r->dev, "dev", 0x1af4, 0x1042, 0x018000, 1, 0x1af4, 0x40);
	assert_int_not_equal(pci_device_add_bar64(&r->pci, &r->dev, 0, 0x8000), 0);
	irq_routing_init(&r->irq, -1);
	assert_int_equal(msix_init(&r->msix, &r->dev, &r->irq, -1, 3, 0, 0x4000, 0x5000), 0);
	r->slot = pci_bus_add(&r->pci, &r->dev);
	assert_int_equal(r->slot, 1);
	return r;
}

static void rig_free(struct rig *r)
{
	msix_destroy(&r->msix);
	irq_routing_destroy(&r->irq);
	pci_bus_destroy(&r->pci);
	free(r);
}

static uint32_t cfg_addr(int slot, unsigned reg)
{
	return 0x80000000u | (unsigned)slot << 11 | (reg & 0xfc);
}

static uint32_t cfg_read(struct rig *r, int slot, unsigned reg, unsigned len)
{
	uint8_t d[4];
	uint32_t a = cfg_addr(slot, reg), v = 0;

	bus_dispatch(&r->pio, PCI_CONFIG_ADDRESS, (uint8_t *)&a, 4, true);
	bus_dispatch(&r->pio, PCI_CONFIG_DATA + (reg & 3), d, len, false);
	memcpy(&v, d, len);
	return v;
}

static void cfg_write(struct rig *r, int slot, unsigned reg, uint32_t v, unsigned len)
{
	uint32_t a = cfg_addr(slot, reg);

	bus_dispatch(&r->pio, PCI_CONFIG_ADDRESS, (uint8_t *)&a, 4, true);
	bus_dispatch(&r->pio, PCI_CONFIG_DATA + (reg & 3), (uint8_t *)&v, len, true);
}

static void test_ids_and_host_bridge(void **state)
{
	struct rig *r = rig_new();

	(void)state;
	assert_int_equal(cfg_read(r, 0, 0, 4), 0x12378086);	  /* host bridge */
	assert_int_equal(cfg_read(r, 0, 0x08, 4) >> 8, 0x060000); /* class: host bridge */
	assert_int_equal(cfg_read(r, 1, 0, 4), 0x10421af4);
	assert_int_equal(cfg_read(r, 1, 0x02, 2), 0x1042);
	assert_int_equal(cfg_read(r, 1, 0x2c, 4), 0x00401af4);
	/* Empty slots, other buses and functions read as all ones. */
	assert_int_equal(cfg_read(r, 2, 0, 4), 0xffffffff);
	uint32_t a = 0x80010000u, v;
	bus_dispatch(&r->pio, PCI_CONFIG_ADDRESS, (uint8_t *)&a, 4, true);
	bus_dispatch(&r->pio, PCI_CONFIG_DATA, (uint8_t *)&v, 4, false);
	assert_int_equal(v, 0xffffffff);
	/* Without the enable bit nothing is selected either. */
	a = 0x00000800u;
	bus_dispatch(&r->pio, PCI_CONFIG_ADDRESS, (uint8_t *)&a, 4, true);
	bus_dispatch(&r->pio, PCI_CONFIG_DATA, (uint8_t *)&v, 4, false);
	assert_int_equal(v, 0xffffffff);
	rig_free(r);
}

static void test_read_only_fields(void **state)
{
	struct rig *r = rig_new();

	(void)state;
	cfg_write(r, 1, 0, 0xdeadbeef, 4);
	assert_int_equal(cfg_read(r, 1, 0, 4), 0x10421af4);
	cfg_write(r, 1, PCI_COMMAND, 0xffff, 2);
	assert_int_equal(cfg_read(r, 1, PCI_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	rig_free(r);
}

static void test_bar_sizing(void **state)
{
	struct rig *r = rig_new();
	uint32_t lo = cfg_read(r, 1, PCI_BAR0, 4), hi = cfg_read(r, 1, PCI_BAR0 + 4, 4);

	(void)state;
	assert_int_equal(lo & 0xf, 0x4); /* 64-bit memory */
	assert_int_equal(lo & ~0xfu, PCI_MMIO_START);
	assert_int_equal(hi, 0);
	cfg_write(r, 1, PCI_BAR0, 0xffffffff, 4);
	cfg_write(r, 1, PCI_BAR0 + 4, 0xffffffff, 4);
	assert_int_equal(cfg_read(r, 1, PCI_BAR0, 4), 0xffff8004u); /* size 0x8000 */
	assert_int_equal(cfg_read(r, 1, PCI_BAR0 + 4, 4), 0xffffffffu);
	/* Unused BARs read as zero and stay so. */
	cfg_write(r, 1, PCI_BAR0 + 8, 0xffffffff, 4);
	assert_int_equal(cfg_read(r, 1, PCI_BAR0 + 8, 4), 0);
	rig_free(r);
}

/*
 * BARs do not move: a new base is refused and the old one reads back, so
 * config space always names the address that is decoded; sizing still works.
 */
static void test_bar_relocation_refused(void **state)
{
	struct rig *r = rig_new();

	(void)state;
	cfg_write(r, 1, PCI_BAR0, 0xd0000000, 4);
	assert_int_equal(cfg_read(r, 1, PCI_BAR0, 4), PCI_MMIO_START | 0x4);
	cfg_write(r, 1, PCI_BAR0 + 4, 0x1, 4);
	assert_int_equal(cfg_read(r, 1, PCI_BAR0 + 4, 4), 0);
	cfg_write(r, 1, PCI_BAR0, 0xd0000000, 2); /* a partial write too */
	assert_int_equal(cfg_read(r, 1, PCI_BAR0, 4), PCI_MMIO_START | 0x4);
	/* Sizing, then the base written back, as firmware and Linux do it. */
	cfg_write(r, 1, PCI_BAR0, 0xffffffff, 4);
	assert_int_equal(cfg_read(r, 1, PCI_BAR0, 4), 0xffff8004u);
	cfg_write(r, 1, PCI_BAR0, (uint32_t)PCI_MMIO_START, 4);
	assert_int_equal(cfg_read(r, 1, PCI_BAR0, 4), PCI_MMIO_START | 0x4);
	assert_int_equal(r->dev.bar_base[0], PCI_MMIO_START);
	rig_free(r);
}

/* Placed BARs are decoded from the start, as firmware leaves them; no bus mastering yet. */
static void test_command_at_start(void **state)
{
	struct rig *r = rig_new();

	(void)state;
	assert_int_equal(cfg_read(r, 1, PCI_COMMAND, 2), PCI_COMMAND_MEMORY);
	assert_int_equal(pci_command(&r->dev), PCI_COMMAND_MEMORY);
	cfg_write(r, 1, PCI_COMMAND, PCI_COMMAND_MASTER, 2);
	assert_int_equal(pci_command(&r->dev), PCI_COMMAND_MASTER); /* published */
	rig_free(r);
}

static void test_mmio_allocation(void **state)
{
	struct pci_bus b;
	struct bus pio;

	(void)state;
	bus_init(&pio, "pio");
	assert_int_equal(pci_bus_init(&b, &pio), 0);
	assert_int_equal(pci_alloc_mmio(&b, 0x1000), PCI_MMIO_START);
	/* Natural alignment: a 64 KiB region skips to the next 64 KiB. */
	assert_int_equal(pci_alloc_mmio(&b, 0x10000), PCI_MMIO_START + 0x10000);
	assert_int_equal(pci_alloc_mmio(&b, 1ull << 40), 0); /* does not fit */
	pci_bus_destroy(&b);
}

static void test_capability_chain(void **state)
{
	struct rig *r = rig_new();
	unsigned off;

	(void)state;
	assert_true(cfg_read(r, 1, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	off = cfg_read(r, 1, PCI_CAPABILITY_LIST, 1);
	assert_int_equal(off, 0x40);
	assert_int_equal(cfg_read(r, 1, off, 1), PCI_CAP_ID_MSIX);
	assert_int_equal(cfg_read(r, 1, off + 1, 1), 0);	 /* last */
	assert_int_equal(cfg_read(r, 1, off + 2, 2) & 0x7ff, 2); /* 3 vectors */
	assert_int_equal(cfg_read(r, 1, off + 4, 4), 0x4000);	 /* table in BAR 0 */
	assert_int_equal(cfg_read(r, 1, off + 8, 4), 0x5000);
	rig_free(r);
}

static void table_write(struct rig *r, unsigned v, unsigned word, uint32_t val)
{
	msix_table_io(&r->msix, v * 16 + word * 4, (uint8_t *)&val, 4, true);
}

static uint64_t pba(struct rig *r)
{
	uint64_t p = 0;

	msix_pba_io(&r->msix, 0, (uint8_t *)&p, 8, false);
	return p;
}

static void test_msix_masking(void **state)
{
	struct rig *r = rig_new();
	unsigned cap = cfg_read(r, 1, PCI_CAPABILITY_LIST, 1);

	(void)state;
	cfg_write(r, 1, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	msix_config_written(&r->msix, PCI_COMMAND, 2);
	/* Disabled: an interrupt is held in the PBA. */
	msix_notify(&r->msix, 1);
	assert_int_equal(r->msix.raised, 0);
	assert_int_equal(pba(r), 1u << 1);
	/* Enable the function; vector 1 is still masked (reset state). */
	cfg_write(r, 1, cap + 2, 0x8000, 2);
	msix_config_written(&r->msix, cap + 2, 2);
	assert_int_equal(r->msix.raised, 0);
	/* Program and unmask vector 1: the held interrupt goes out. */
	table_write(r, 1, 0, 0xfee00000);
	table_write(r, 1, 2, 0x51);
	table_write(r, 1, 3, 0);
	assert_int_equal(r->msix.raised, 1);
	assert_int_equal(pba(r), 0);
	msix_notify(&r->msix, 1);
	assert_int_equal(r->msix.raised, 2);
	/* Function mask holds everything again, clearing it delivers. */
	cfg_write(r, 1, cap + 2, 0xc000, 2);
	msix_config_written(&r->msix, cap + 2, 2);
	msix_notify(&r->msix, 1);
	assert_int_equal(r->msix.raised, 2);
	cfg_write(r, 1, cap + 2, 0x8000, 2);
	msix_config_written(&r->msix, cap + 2, 2);
	assert_int_equal(r->msix.raised, 3);
	/* Vectors past the table are ignored. */
	msix_notify(&r->msix, 3);
	msix_notify(&r->msix, MSIX_NO_VECTOR);
	assert_int_equal(r->msix.raised, 3);
	assert_int_equal(pba(r), 0);
	rig_free(r);
}

static void test_msix_table_and_routes(void **state)
{
	struct rig *r = rig_new();
	uint32_t v = 0;
	int found = 0;

	(void)state;
	table_write(r, 2, 0, 0xfee01000);
	table_write(r, 2, 1, 0);
	table_write(r, 2, 2, 0x62);
	table_write(r, 2, 3, 0); /* unmask: the route goes to KVM now */
	msix_table_io(&r->msix, 2 * 16 + 8, (uint8_t *)&v, 4, false);
	assert_int_equal(v, 0x62);
	/* The vector's GSI now routes to that message. */
	for (unsigned i = 0; i < r->irq.nr; i++) {
		if (r->irq.entry[i].gsi == (unsigned)r->msix.gsi[2]) {
			assert_int_equal(r->irq.entry[i].type, KVM_IRQ_ROUTING_MSI);
			assert_int_equal(r->irq.entry[i].u.msi.address_lo, 0xfee01000);
			assert_int_equal(r->irq.entry[i].u.msi.data, 0x62);
			found++;
		}
	}
	assert_int_equal(found, 1);
	/* Out-of-table and misaligned accesses do nothing. */
	v = 0x1234;
	msix_table_io(&r->msix, 3 * 16, (uint8_t *)&v, 4, true);
	msix_table_io(&r->msix, 2 * 16 + 2, (uint8_t *)&v, 4, true);
	msix_table_io(&r->msix, 2 * 16 + 8, (uint8_t *)&v, 4, false);
	assert_int_equal(v, 0x62);
	rig_free(r);
}

/* Counts the routes that would have gone to KVM (KVM_SET_GSI_ROUTING). */
static unsigned route_calls;

static int count_route(struct irq_routing *irq, unsigned gsi, uint64_t addr, uint32_t data)
{
	route_calls++;
	return irq_set_msi_route(irq, gsi, addr, data);
}

/*
 * A route goes to KVM only when an unmasked entry's message changes: writes
 * to a masked entry (a guest could make thousands) cost nothing, an unmask
 * sends the route once, rewriting the same message sends nothing.
 */
static void test_msix_route_updates(void **state)
{
	struct rig *r = rig_new();

	(void)state;
	route_calls = 0;
	r->msix.set_route = count_route;
	for (unsigned i = 0; i < 1000; i++) {
		table_write(r, 1, 0, 0xfee00000 | (i & 0xff) << 12);
		table_write(r, 1, 1, i);
		table_write(r, 1, 2, 0x40 + i);
		table_write(r, 1, 3, 1); /* still masked */
	}
	assert_int_equal(route_calls, 0);
	assert_int_equal(r->msix.route_updates, 0);
	table_write(r, 1, 1, 0);
	table_write(r, 1, 3, 0); /* unmask: one route */
	assert_int_equal(route_calls, 1);
	table_write(r, 1, 3, 0); /* again, same message: none */
	table_write(r, 1, 2, 0x40 + 999);
	assert_int_equal(route_calls, 1);
	table_write(r, 1, 2, 0x41); /* an unmasked entry's data changes: one */
	assert_int_equal(route_calls, 2);
	table_write(r, 1, 3, 1); /* mask, reprogram to what KVM has, unmask: none */
	table_write(r, 1, 2, 0x77);
	table_write(r, 1, 2, 0x41);
	table_write(r, 1, 3, 0);
	assert_int_equal(route_calls, 2);
	assert_int_equal(r->msix.route_updates, 2);
	rig_free(r);
}

/*
 * Bus Master Enable clear: an MSI-X message is a memory write the function
 * may not make, so it is held in the PBA, and goes out when BME is set.
 */
static void test_msix_bus_master(void **state)
{
	struct rig *r = rig_new();
	unsigned cap = cfg_read(r, 1, PCI_CAPABILITY_LIST, 1);

	(void)state;
	cfg_write(r, 1, cap + 2, 0x8000, 2);
	msix_config_written(&r->msix, cap + 2, 2);
	table_write(r, 0, 0, 0xfee00000);
	table_write(r, 0, 3, 0);
	msix_notify(&r->msix, 0); /* COMMAND is MEMORY only: no bus mastering */
	assert_int_equal(r->msix.raised, 0);
	assert_int_equal(r->msix.held, 1);
	assert_int_equal(pba(r), 1);
	cfg_write(r, 1, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	msix_config_written(&r->msix, PCI_COMMAND, 2);
	assert_int_equal(r->msix.raised, 1);
	assert_int_equal(pba(r), 0);
	msix_notify(&r->msix, 0);
	assert_int_equal(r->msix.raised, 2);
	cfg_write(r, 1, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	msix_config_written(&r->msix, PCI_COMMAND, 2);
	msix_notify(&r->msix, 0);
	assert_int_equal(r->msix.raised, 2);
	assert_int_equal(pba(r), 1);
	rig_free(r);
}

static void test_default_routes(void **state)
{
	struct irq_routing r;
	unsigned ioapic = 0, pic = 0;

	(void)state;
	irq_routing_init(&r, -1);
	for (unsigned i = 0; i < r.nr; i++) {
		if (r.entry[i].u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC) {
			assert_int_equal(r.entry[i].u.irqchip.pin, r.entry[i].gsi);
			ioapic++;
		} else {
			assert_int_equal(r.entry[i].u.irqchip.pin, r.entry[i].gsi % 8);
			pic++;
		}
	}
	assert_int_equal(ioapic, 24);
	assert_int_equal(pic, 16);
	assert_int_equal(irq_alloc_msi_gsi(&r), IRQ_FIRST_MSI_GSI);
	assert_int_equal(irq_alloc_msi_gsi(&r), IRQ_FIRST_MSI_GSI + 1);
	assert_int_equal(irq_set_msi_route(&r, 5, 0xfee00000, 1), -1); /* not an MSI GSI */
	irq_routing_destroy(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ids_and_host_bridge),
	    cmocka_unit_test(test_read_only_fields),
	    cmocka_unit_test(test_bar_sizing),
	    cmocka_unit_test(test_bar_relocation_refused),
	    cmocka_unit_test(test_command_at_start),
	    cmocka_unit_test(test_mmio_allocation),
	    cmocka_unit_test(test_capability_chain),
	    cmocka_unit_test(test_msix_masking),
	    cmocka_unit_test(test_msix_table_and_routes),
	    cmocka_unit_test(test_msix_route_updates),
	    cmocka_unit_test(test_msix_bus_master),
	    cmocka_unit_test(test_default_routes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
