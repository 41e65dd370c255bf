/* SPDX-License-Identifier: MIT */
/*
 * gmem.h -- guest physical memory: layout and the only door into it.
 *
 * Guest RAM is one anonymous host mapping, exposed to the guest as up to two
 * slots: [0, low_end) and, when the guest is larger than the 32-bit MMIO hole
 * start, [4 GiB, 4 GiB + rest). Every access from the VMM goes through
 * gmem_ptr()/gmem_read()/gmem_write(), which check the whole range.
 */
#ifndef VIREO_GMEM_H
#define VIREO_GMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A guest physical address. A struct, so it cannot be dereferenced by accident. */
typedef struct {
	uint64_t v;
} gpa_t;

static inline gpa_t gpa(uint64_t v)
{
	return (gpa_t){v};
}

/* Start of the 32-bit PCI/MMIO hole; RAM above it moves to 4 GiB. */
#define GMEM_HOLE_START 0xc0000000ull
#define GMEM_HOLE_END	0x100000000ull

#define GMEM_MAX_SLOTS 2

struct gmem_slot {
	uint64_t gpa;  /* guest physical start */
	uint64_t size; /* bytes */
	uint8_t *host; /* host address of gpa */
};

struct gmem {
	struct gmem_slot slot[GMEM_MAX_SLOTS];
	unsigned nr_slots;
	uint8_t *base;	   /* the whole mapping (for munmap/madvise) */
	uint64_t map_size; /* its length */
	uint64_t ram_size; /* total guest RAM */
};

/*
 * Lay out `ram_size` bytes of RAM starting at `host` into slots, splitting
 * around the MMIO hole. Needs no KVM: tests call it on a malloc'd buffer.
 */
void gmem_layout(struct gmem *m, uint8_t *host, uint64_t ram_size);

/*
 * Host address of [g, g + len) when all of it lies in one RAM slot; NULL
 * otherwise (overflow, a hole, or past the end). len 0 is treated as 1.
 */
void *gmem_ptr(const struct gmem *m, gpa_t g, size_t len);
bool gmem_read(const struct gmem *m, gpa_t g, void *dst, size_t len);
bool gmem_write(const struct gmem *m, gpa_t g, const void *src, size_t len);

/* Top of RAM below 4 GiB (end of slot 0). */
uint64_t gmem_low_end(const struct gmem *m);

/*
 * Allocate host memory for `ram_size` bytes of guest RAM, 2 MiB aligned.
 * hugepages: madvise(MADV_HUGEPAGE); prefault: populate every page now.
 * Returns 0, or -1 with a message printed.
 */
int gmem_alloc(struct gmem *m, uint64_t ram_size, bool hugepages, bool prefault);
void gmem_free(struct gmem *m);

/* Can madvise(MADV_HUGEPAGE) take effect here (THP not "never")? */
bool gmem_thp_available(void);

/* Bytes of guest RAM resident in host memory right now (mincore). */
uint64_t gmem_resident_bytes(const struct gmem *m);

#endif
