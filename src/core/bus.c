/* SPDX-License-Identifier: MIT */
#include "vireo/core/bus.h"
#include "vireo/lib/util.h"

#include <string.h>

void bus_init(struct bus *bus, const char *kind)
{
	memset(bus, 0, sizeof(*bus));
	bus->kind = kind;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	/* Both ranges are known not to wrap. */
	return a < b + blen && b < a + alen;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const char *name, bus_io_fn io,
		 void *dev)
{
	uint64_t end;

	if (len == 0 || __builtin_add_overflow(base, len, &end)) {
		vireo_err("%s region %s: empty or wrapping range", bus->kind, name);
		return -1;
	}
	for (unsigned i = 0; i < bus->nr; i++) {
		const struct bus_region *r = &bus->region[i];

		if (ranges_overlap(base, len, r->base, r->len)) {
			vireo_err("%s region %s [0x%llx, 0x%llx) overlaps %s [0x%llx, 0x%llx)",
				  bus->kind, name, (unsigned long long)base,
				  (unsigned long long)end, r->name, (unsigned long long)r->base,
				  (unsigned long long)(r->base + r->len));
			return -1;
		}
	}
	if (bus->nr == BUS_MAX_REGIONS) {
		vireo_err("%s bus full: cannot add %s", bus->kind, name);
		return -1;
	}
	bus->region[bus->nr] = (struct bus_region){
	    .base = base, .len = len, .name = name, .io = io, .dev = dev, .kernel_eventfd = -1};
	return (int)bus->nr++;
}

int bus_find(const struct bus *bus, uint64_t addr, unsigned len)
{
	for (unsigned i = 0; i < bus->nr; i++) {
		const struct bus_region *r = &bus->region[i];

		/* Written so that no sum can overflow. */
		if (addr >= r->base && addr - r->base < r->len && len <= r->len - (addr - r->base))
			return (int)i;
	}
	return -1;
}

int bus_dispatch(const struct bus *bus, uint64_t addr, uint8_t *data, unsigned len, bool is_write)
{
	int i = bus_find(bus, addr, len);

	if (!is_write)
		memset(data, 0xff, len);
	if (i < 0)
		return -1;
	if (bus->region[i].io)
		bus->region[i].io(bus->region[i].dev, addr - bus->region[i].base, data, len,
				  is_write);
	return i;
}
