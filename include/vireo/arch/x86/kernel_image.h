/* SPDX-License-Identifier: MIT */
/*
 * kernel_image.h -- the kernel images vireo boots on x86 (kernel_image.c).
 *
 * Two formats: a bzImage (Linux x86 boot protocol >= 2.12, entered at its
 * 64-bit entry) and an ELF with a PVH note (entered in 32-bit protected mode
 * with an hvm_start_info). Parsing is a pure function over a byte buffer, so
 * unit tests need no KVM.
 */
#ifndef VIREO_X86_KERNEL_IMAGE_H
#define VIREO_X86_KERNEL_IMAGE_H

#include "vireo/core/gmem.h"

#include <stddef.h>
#include <stdint.h>

enum kernel_format { KERNEL_BZIMAGE, KERNEL_PVH_ELF };

#define KERNEL_MAX_SEGMENTS 16

struct kernel_segment {
	uint64_t paddr;
	uint64_t offset; /* in the file */
	uint64_t filesz;
	uint64_t memsz;
};

struct kernel_image {
	enum kernel_format format;
	const uint8_t *file;
	size_t file_len;
	uint64_t entry;	      /* 64-bit entry (bzImage) or 32-bit PVH entry */
	uint64_t end;	      /* first byte above everything the kernel occupies */
	uint32_t cmdline_max; /* longest command line it accepts, without NUL */
	uint64_t initrd_max;  /* last byte an initrd may occupy */
	/* bzImage */
	uint16_t protocol;
	size_t setup_len; /* boot sector + setup code, in bytes */
	size_t hdr_end;	  /* end of the setup header, as an offset */
	/* PVH ELF */
	struct kernel_segment seg[KERNEL_MAX_SEGMENTS];
	unsigned nr_seg;
};

/*
 * Recognise and validate a kernel image held in `buf`. On failure returns -1
 * and writes a one-line reason into err (no "vireo:" prefix).
 */
int kernel_parse(const uint8_t *buf, size_t len, struct kernel_image *k, char *err, size_t errlen);

/* Copy the kernel into guest memory. -1 with a reason when it does not fit. */
int kernel_load(const struct kernel_image *k, struct gmem *m, char *err, size_t errlen);

/* Offsets of boot_params fields used by the loader and its tests. */
#define BP_ACPI_RSDP_ADDR    0x070 /* u64, read by Linux 5.0 and later */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_EXT_CMD_LINE_PTR  0x0c8
#define BP_E820_ENTRIES	     0x1e8
#define BP_SETUP_SECTS	     0x1f1
#define BP_SYSSIZE	     0x1f4
#define BP_BOOT_FLAG	     0x1fe
#define BP_JUMP		     0x200
#define BP_HEADER	     0x202
#define BP_VERSION	     0x206
#define BP_TYPE_OF_LOADER    0x210
#define BP_LOADFLAGS	     0x211
#define BP_CODE32_START	     0x214
#define BP_RAMDISK_IMAGE     0x218
#define BP_RAMDISK_SIZE	     0x21c
#define BP_CMD_LINE_PTR	     0x228
#define BP_INITRD_ADDR_MAX   0x22c
#define BP_KERNEL_ALIGNMENT  0x230
#define BP_RELOCATABLE	     0x234
#define BP_XLOADFLAGS	     0x236
#define BP_CMDLINE_SIZE	     0x238
#define BP_PREF_ADDRESS	     0x258
#define BP_INIT_SIZE	     0x260
#define BP_E820_TABLE	     0x2d0
#define BP_SIZE		     0x1000

#define HDRS_MAGIC    0x53726448u /* "HdrS" */
#define XLF_KERNEL_64 (1u << 0)
#define LOADED_HIGH   (1u << 0)

/* PVH (xen/include/public/arch-x86/hvm/start_info.h). */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC		 0x336ec578u

#endif
