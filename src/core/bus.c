/* SPDX-License-Identifier: MIT */
#include "vireo/core/bus.h"
#include "vireo/lib/util.h"

#include <string.h>

void bus_init(struct bus *b, const char *kind)
{
	memset(b, 0, sizeof(*b));
	b->kind = kind;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	/* Both ranges are known not to wrap. */
	return a < b + blen && b < a + alen;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, const char *name, bus_io_fn io,
		 void *dev)
{
	uint64_t end;

	if (len == 0 || __builtin_add_overflow(base, len, &end)) {
		vireo_err("%s region %s: empty or wrapping range", b->kind, name);
		return -1;
	}
	for (unsigned i = 0; i < b->nr; i++) {
		const struct bus_region *r = &b->region[i];

		if (ranges_overlap(base, len, r->base, r->len)) {
			vireo_err("%s region %s [0x%llx, 0x%llx) overlaps %s [0x%llx, 0x%llx)",
				  b->kind, name, (unsigned long long)base, (unsigned long long)end,
				  r->name, (unsigned long long)r->base,
				  (unsigned long long)(r->base + r->len));
			return -1;
		}
	}
	if (b->nr == BUS_MAX_REGIONS) {
		vireo_err("%s bus full: cannot add %s", b->kind, name);
		return -1;
	}
	b->region[b->nr] = (struct bus_region){
	    .base = base, .len = len, .name = name, .io = io, .dev = dev, .kernel_eventfd = -1};
	return (int)b->nr++;
}

int bus_find(const struct bus *b, uint64_t addr, unsigned len)
{
	for (unsigned i = 0; i < b->nr; i++) {
		const struct bus_region *r = &b->region[i];

		/* Written so that no sum can overflow. */
		if (addr >= r->base && addr - r->base < r->len && len <= r->len - (addr - r->base))
			return (int)i;
	}
	return -1;
}

int bus_dispatch(const struct bus *b, uint64_t addr, uint8_t *data, unsigned len, bool is_write)
{
	int i = bus_find(b, addr, len);

	if (!is_write)
		memset(data, 0xff, len);
	if (i < 0)
		return -1;
	if (b->region[i].io)
		b->region[i].io(b->region[i].dev, addr - b->region[i].base, data, len, is_write);
	return i;
}
