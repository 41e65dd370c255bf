/* SPDX-License-Identifier: MIT */
/*
 * bus.h -- the port-I/O and MMIO maps that route guest accesses to devices.
 *
 * A device registers [base, base + len) with a handler; registration rejects
 * overlaps. The handler gets an offset into its own range, never an absolute
 * address (as Firecracker's BusDevice does), so a device does not care where
 * it was placed. Regions are registered before the vCPUs start and never
 * change afterwards, so lookups need no lock.
 */
#ifndef VIREO_BUS_H
#define VIREO_BUS_H

#include <stdbool.h>
#include <stdint.h>

#define BUS_MAX_REGIONS 64

/*
 * Handle one access of `len` bytes (1, 2, 4 or 8) at `offset` into the
 * region. On a write `data` holds the bytes; on a read the handler fills it
 * (it is pre-filled with 0xff, the value of an open bus).
 */
typedef void (*bus_io_fn)(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write);

struct bus_region {
	uint64_t base;
	uint64_t len;
	const char *name;
	bus_io_fn io;
	void *dev;
	/*
	 * Writes here are consumed inside KVM (ioeventfd or coalesced I/O):
	 * the fd counts them, so the stats can show what never exited.
	 */
	int kernel_eventfd;
	uint64_t kernel_writes; /* its counter, read when the report is made */
};

struct bus {
	const char *kind; /* "pio" or "mmio", for messages */
	struct bus_region region[BUS_MAX_REGIONS];
	unsigned nr;
};

void bus_init(struct bus *b, const char *kind);

/*
 * Add a region; returns its index (stable for the life of the bus) or -1,
 * with a message, on overlap, empty or wrapping range, or a full table.
 */
int bus_register(struct bus *b, uint64_t base, uint64_t len, const char *name, bus_io_fn io,
		 void *dev);

/* Index of the region holding [addr, addr + len), or -1. */
int bus_find(const struct bus *b, uint64_t addr, unsigned len);

/*
 * Route one access. Returns the region index, or -1 when nothing is there
 * (then a read returns all ones and a write is dropped).
 */
int bus_dispatch(const struct bus *b, uint64_t addr, uint8_t *data, unsigned len, bool is_write);

#endif
