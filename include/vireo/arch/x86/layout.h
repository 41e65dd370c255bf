/* SPDX-License-Identifier: MIT */
/*
 * layout.h -- where vireo puts things in guest physical memory on x86.
 *
 *   0x000500  boot GDT (both boot paths)
 *   0x001000  PML4, 0x2000 PDPT, 0x3000..0x6fff four PDs: identity map of
 *             the first 4 GiB with 2 MiB pages, for the 64-bit entry
 *   0x007000  boot_params (bzImage) or hvm_start_info + memmap (PVH)
 *   0x008ff0  initial stack pointer
 *   0x020000  kernel command line
 *   0x09fc00  EBDA (reserved in e820)
 *   0x0e0000  ACPI tables, RSDP first (BIOS area, reserved; x86/acpi.h)
 *   0x0f0000  MP floating pointer + MP table (BIOS area, reserved)
 *   0x100000  kernel (bzImage protected-mode part; PVH ELFs load at p_paddr)
 *   ...       initrd, as high as fits below 4 GiB and the kernel's limit
 *   0xc0000000..4G  MMIO hole: PCI windows, IOAPIC, LAPIC, TSS
 */
#ifndef VIREO_X86_LAYOUT_H
#define VIREO_X86_LAYOUT_H

#define BOOT_GDT_ADDR	      0x500ull
#define BOOT_PML4_ADDR	      0x1000ull
#define BOOT_PDPT_ADDR	      0x2000ull
#define BOOT_PD_ADDR	      0x3000ull /* four pages */
#define BOOT_ZEROPAGE_ADDR    0x7000ull
#define BOOT_PVH_MODLIST_ADDR 0x7040ull
#define BOOT_PVH_MEMMAP_ADDR  0x7100ull
#define BOOT_STACK_ADDR	      0x8ff0ull
#define BOOT_CMDLINE_ADDR     0x20000ull
#define BOOT_CMDLINE_MAX      0x10000ull /* bytes, with the NUL */

#define EBDA_ADDR	 0x9fc00ull
#define BASE_MEM_END	 0xa0000ull
#define BIOS_AREA_ADDR	 0xf0000ull
#define MPTABLE_ADDR	 BIOS_AREA_ADDR
#define HIGH_MEM_ADDR	 0x100000ull
#define KERNEL_LOAD_ADDR HIGH_MEM_ADDR

/* Intel VMX needs three pages for a real-mode TSS and one for an identity
 * page table, outside every memslot; QEMU uses the same place. */
#define KVM_IDENTITY_MAP_ADDR 0xfeffc000ull
#define KVM_TSS_ADDR	      0xfeffd000ull
#define KVM_PRIVATE_END	      0xff000000ull

#define IOAPIC_ADDR 0xfec00000ull
#define LAPIC_ADDR  0xfee00000ull

/* GDT selectors, as the Linux boot protocol names them. */
#define BOOT_CS32 0x08 /* PVH: 32-bit flat code */
#define BOOT_CS64 0x10 /* __BOOT_CS */
#define BOOT_DS	  0x18 /* __BOOT_DS */
#define BOOT_TSS  0x20

#endif
