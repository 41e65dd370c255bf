/* SPDX-License-Identifier: MIT */
/*
 * bootinfo.c -- what the loader tells the kernel: e820 map, command line,
 * initrd, and the boot_params (bzImage) or hvm_start_info (PVH) around them.
 */
#include "vireo/lib/util.h"
#include "vireo/arch/x86/bootinfo.h"
#include "vireo/arch/x86/layout.h"

#include <stdio.h>
#include <string.h>

static unsigned e820_add(struct e820_entry *e, unsigned n, unsigned max, uint64_t addr,
			 uint64_t size, uint32_t type)
{
	if (n < max && size)
		e[n++] = (struct e820_entry){.addr = addr, .size = size, .type = type};
	return n;
}

unsigned e820_build(const struct gmem *mem, struct e820_entry *e, unsigned max)
{
	uint64_t low_end = gmem_low_end(mem);
	unsigned n = 0;

	/*
	 * Base memory below the EBDA, then one reserved range over the EBDA,
	 * the VGA/ROM window and the BIOS area (the MP table lives there).
	 * One range, not three: Linux itself marks 0xa0000-0xfffff reserved
	 * and merges neighbours, so this map is exactly the one it prints.
	 */
	n = e820_add(e, n, max, 0, EBDA_ADDR, E820_RAM);
	n = e820_add(e, n, max, EBDA_ADDR, HIGH_MEM_ADDR - EBDA_ADDR, E820_RESERVED);
	if (low_end > HIGH_MEM_ADDR)
		n = e820_add(e, n, max, HIGH_MEM_ADDR, low_end - HIGH_MEM_ADDR, E820_RAM);
	/* KVM's private TSS and identity-map pages on Intel (see layout.h). */
	n = e820_add(e, n, max, KVM_IDENTITY_MAP_ADDR, KVM_PRIVATE_END - KVM_IDENTITY_MAP_ADDR,
		     E820_RESERVED);
	for (unsigned i = 1; i < mem->nr_slots; i++)
		n = e820_add(e, n, max, mem->slot[i].gpa, mem->slot[i].size, E820_RAM);
	return n;
}

int initrd_place(const struct kernel_image *k, const struct gmem *mem, uint64_t size,
		 uint64_t *addr, char *err, size_t errlen)
{
	uint64_t top = gmem_low_end(mem);
	uint64_t start;

	/* initrd_addr_max is the last byte the initrd may occupy. */
	if (k->initrd_max && k->initrd_max < top - 1)
		top = k->initrd_max + 1;
	top = ALIGN_DOWN(top, 4096);
	if (size > top || ALIGN_DOWN(top - size, 4096) < ALIGN_UP(k->end, 4096))
		return errf(err, errlen,
			    "initrd of %llu KiB does not fit between the kernel (ends at %llu "
			    "KiB) and %llu KiB: give the guest more --mem",
			    (unsigned long long)(size >> 10), (unsigned long long)(k->end >> 10),
			    (unsigned long long)(top >> 10));
	start = ALIGN_DOWN(top - size, 4096);
	*addr = start;
	return 0;
}

static int write_cmdline(const struct kernel_image *k, struct gmem *mem, const char *cmdline,
			 char *err, size_t errlen)
{
	size_t len = strlen(cmdline);
	size_t max = k->cmdline_max < BOOT_CMDLINE_MAX - 1 ? k->cmdline_max : BOOT_CMDLINE_MAX - 1;

	if (len > max)
		return errf(err, errlen,
			    "command line is %zu bytes; this kernel accepts at most %zu", len, max);
	if (!gmem_write(mem, gpa(BOOT_CMDLINE_ADDR), cmdline, len + 1))
		return errf(err, errlen, "no guest RAM for the command line");
	return 0;
}

static void put32(uint8_t *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, sizeof(v));
}

static int write_zero_page(const struct kernel_image *k, struct gmem *mem,
			   const struct boot_info *bi, char *err, size_t errlen)
{
	uint8_t *bp = gmem_ptr(mem, gpa(BOOT_ZEROPAGE_ADDR), BP_SIZE);
	unsigned n = bi->nr_e820 < E820_MAX_ENTRIES ? bi->nr_e820 : E820_MAX_ENTRIES;

	if (!bp)
		return errf(err, errlen, "no guest RAM for boot_params");
	memset(bp, 0, BP_SIZE);
	/* The kernel reads its own setup header back from boot_params. */
	memcpy(bp + BP_SETUP_SECTS, k->file + BP_SETUP_SECTS, k->hdr_end - BP_SETUP_SECTS);
	bp[BP_TYPE_OF_LOADER] = 0xff; /* "undefined" boot loader */
	put32(bp, BP_CMD_LINE_PTR, (uint32_t)BOOT_CMDLINE_ADDR);
	put32(bp, BP_EXT_CMD_LINE_PTR, 0);
	/* Saves the guest its scan of the BIOS area for "RSD PTR ". */
	memcpy(bp + BP_ACPI_RSDP_ADDR, &bi->rsdp_addr, sizeof(bi->rsdp_addr));
	put32(bp, BP_RAMDISK_IMAGE, (uint32_t)bi->initrd_addr);
	put32(bp, BP_RAMDISK_SIZE, (uint32_t)bi->initrd_size);
	put32(bp, BP_EXT_RAMDISK_IMAGE, (uint32_t)(bi->initrd_addr >> 32));
	put32(bp, BP_EXT_RAMDISK_SIZE, (uint32_t)(bi->initrd_size >> 32));
	bp[BP_E820_ENTRIES] = (uint8_t)n;
	memcpy(bp + BP_E820_TABLE, bi->e820, n * sizeof(struct e820_entry));
	return 0;
}

static int write_start_info(struct gmem *mem, const struct boot_info *bi, char *err, size_t errlen)
{
	struct hvm_start_info si = {
	    .magic = HVM_START_MAGIC,
	    .version = 1,
	    .cmdline_paddr = BOOT_CMDLINE_ADDR,
	    .memmap_paddr = BOOT_PVH_MEMMAP_ADDR,
	    .memmap_entries = bi->nr_e820,
	    .rsdp_paddr = bi->rsdp_addr,
	};
	struct hvm_modlist_entry mod = {.paddr = bi->initrd_addr, .size = bi->initrd_size};

	if (bi->initrd_size) {
		si.nr_modules = 1;
		si.modlist_paddr = BOOT_PVH_MODLIST_ADDR;
		if (!gmem_write(mem, gpa(BOOT_PVH_MODLIST_ADDR), &mod, sizeof(mod)))
			return errf(err, errlen, "no guest RAM for the PVH module list");
	}
	for (unsigned i = 0; i < bi->nr_e820; i++) {
		struct hvm_memmap_table_entry me = {
		    .addr = bi->e820[i].addr, .size = bi->e820[i].size, .type = bi->e820[i].type};
		uint64_t at = BOOT_PVH_MEMMAP_ADDR + (uint64_t)i * sizeof(me);

		if (at + sizeof(me) > BOOT_STACK_ADDR - 0x100 ||
		    !gmem_write(mem, gpa(at), &me, sizeof(me)))
			return errf(err, errlen, "PVH memory map too large");
	}
	if (!gmem_write(mem, gpa(BOOT_ZEROPAGE_ADDR), &si, sizeof(si)))
		return errf(err, errlen, "no guest RAM for hvm_start_info");
	return 0;
}

int boot_write_info(const struct kernel_image *k, struct gmem *mem, const struct boot_info *bi,
		    char *err, size_t errlen)
{
	if (write_cmdline(k, mem, bi->cmdline ? bi->cmdline : "", err, errlen) < 0)
		return -1;
	if (k->format == KERNEL_BZIMAGE)
		return write_zero_page(k, mem, bi, err, errlen);
	return write_start_info(mem, bi, err, errlen);
}
