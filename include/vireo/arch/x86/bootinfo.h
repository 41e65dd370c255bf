/* SPDX-License-Identifier: MIT */
/*
 * bootinfo.h -- what a loader hands an x86 kernel besides itself
 * (bootinfo.c): the e820 memory map, the initrd's place, the command line and
 * boot_params (bzImage) or hvm_start_info (PVH). Pure functions over struct
 * gmem, so unit tests need no KVM.
 */
#ifndef VIREO_X86_BOOTINFO_H
#define VIREO_X86_BOOTINFO_H

#include "vireo/arch/x86/kernel_image.h"
#include "vireo/core/gmem.h"

#include <stddef.h>
#include <stdint.h>

/* One e820 entry, laid out as in boot_params (packed, 20 bytes). */
struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

#define E820_RAM	 1
#define E820_RESERVED	 2
#define E820_MAX_ENTRIES 128

/* The memory map vireo gives every guest; returns the entry count. */
unsigned e820_build(const struct gmem *m, struct e820_entry *e, unsigned max);

/* What the loader hands the kernel besides itself. */
struct boot_info {
	const char *cmdline;
	uint64_t initrd_addr; /* 0 when there is none */
	uint64_t initrd_size;
	const struct e820_entry *e820;
	unsigned nr_e820;
	uint64_t rsdp_addr; /* ACPI RSDP, 0 when there are no ACPI tables */
};

/*
 * Choose where an initrd of `size` bytes goes: page aligned, as high as it
 * fits below the kernel's limit and the top of low RAM, above the kernel.
 * Returns 0 and sets *addr, or -1 with a reason.
 */
int initrd_place(const struct kernel_image *k, const struct gmem *m, uint64_t size, uint64_t *addr,
		 char *err, size_t errlen);

/*
 * Write the command line and boot_params (bzImage) or hvm_start_info with its
 * memmap and initrd module (PVH) into guest memory. -1 with a reason.
 */
int boot_write_info(const struct kernel_image *k, struct gmem *m, const struct boot_info *bi,
		    char *err, size_t errlen);

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

#endif
