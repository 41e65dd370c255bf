// SPDX-License-Identifier: MIT
/*
 * shim.c -- a test-only loader that lets QEMU boot a bzImage through its
 * 64-bit entry, which QEMU's own -kernel cannot do.
 *
 *   qemu-system-x86_64 -kernel build/guest/bzshim.elf \
 *       -initrd build/guest/test-guest.bzImage -append "test=hello"
 *
 * QEMU boots this 32-bit PVH kernel with the bzImage as module 0. The shim
 * does what vireo's bzImage path does (include/vireo/arch/x86/layout.h): payload
 * at code32_start, boot_params at 0x7000 (setup header copied, e820 from the
 * PVH memory map, cmd_line_ptr -> 0x20000), identity page tables for 4 GiB
 * with 2 MiB pages at 0x1000, a GDT at 0x500 with CS 0x10 / DS 0x18, and
 * enters at code32_start + 0x200 in long mode with RSI = boot_params. With
 * `bzshim=32` on the command line it uses the 32-bit boot protocol entry at
 * code32_start instead (paging off, ESI = boot_params). The command line is
 * passed on unchanged.
 */
#include <stdint.h>

#define COM1	      0x3f8
#define GDT_ADDR      0x500
#define GDTR_ADDR     0x540
#define PML4_ADDR     0x1000
#define PDPT_ADDR     0x2000
#define PD_ADDR	      0x3000
#define ZEROPAGE_ADDR 0x7000
#define CMDLINE_ADDR  0x20000
#define CMDLINE_MAX   0x10000

void shim_main(uint32_t start_info) __attribute__((noreturn));
void enter64(uint32_t gdtr, uint32_t pml4, uint32_t boot_params, uint32_t entry)
    __attribute__((noreturn));
void enter32(uint32_t gdtr, uint32_t boot_params, uint32_t entry) __attribute__((noreturn));

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* Addresses are physical (paging is off); the asm keeps the compiler from
 * reasoning about small constant pointers. */
static inline uint8_t *ptr(uint32_t pa)
{
	__asm__("" : "+r"(pa));
	return (uint8_t *)pa;
}

static uint32_t rd32(uint32_t pa)
{
	return *(volatile uint32_t *)ptr(pa);
}

static uint16_t rd16(uint32_t pa)
{
	return *(volatile uint16_t *)ptr(pa);
}

static void wr32(uint32_t pa, uint32_t v)
{
	*(volatile uint32_t *)ptr(pa) = v;
}

static void wr64(uint32_t pa, uint64_t v)
{
	*(volatile uint64_t *)ptr(pa) = v;
}

static void copy(uint32_t dst, uint32_t src, uint32_t n)
{
	uint8_t *d = ptr(dst);
	const uint8_t *s = ptr(src);

	if (d < s || d >= s + n) {
		for (uint32_t i = 0; i < n; i++)
			d[i] = s[i];
	} else {
		while (n--)
			d[n] = s[n];
	}
}

static void zero(uint32_t dst, uint32_t n)
{
	uint8_t *d = ptr(dst);

	for (uint32_t i = 0; i < n; i++)
		d[i] = 0;
}

static void shim_puts(const char *s)
{
	for (; *s; s++) {
		while (!(inb(COM1 + 5) & 0x20))
			;
		outb(COM1, (uint8_t)*s);
	}
}

static void puthex(uint32_t v)
{
	char buf[11] = "0x";

	for (int i = 0; i < 8; i++)
		buf[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 0xf];
	buf[10] = '\0';
	shim_puts(buf);
}

static void __attribute__((noreturn)) die(const char *why)
{
	shim_puts("bzshim: FAIL: ");
	shim_puts(why);
	shim_puts("\n");
	outb(0xf4, 0x7f);
	for (;;)
		__asm__ volatile("cli; hlt");
}

static int has_token(const char *s, const char *tok)
{
	for (const char *p = s; *p; p++) {
		if (p != s && p[-1] != ' ')
			continue;
		const char *a = p, *b = tok;

		while (*b && *a == *b) {
			a++;
			b++;
		}
		if (!*b && (*a == ' ' || *a == '\0'))
			return 1;
	}
	return 0;
}

void shim_main(uint32_t si)
{
	if (rd32(si) != 0x336ec578u)
		die("bad hvm_start_info magic");
	if (rd32(si + 12) < 1)
		die("no module: give the bzImage with -initrd");
	uint32_t modlist = rd32(si + 16);
	uint32_t bz = rd32(modlist), bz_len = rd32(modlist + 8);
	uint32_t cmdline = rd32(si + 24);

	if (rd32(bz + 0x202) != 0x53726448u || rd16(bz + 0x1fe) != 0xaa55)
		die("module is not a bzImage (no HdrS)");
	uint16_t version = rd16(bz + 0x206);
	uint32_t setup_sects = *ptr(bz + 0x1f1) ? *ptr(bz + 0x1f1) : 4;
	uint32_t payload = bz + (setup_sects + 1) * 512;
	uint32_t payload_len = bz_len - (setup_sects + 1) * 512;
	uint32_t load = rd32(bz + 0x214), init_size = rd32(bz + 0x260);
	int mode32 = cmdline && has_token((const char *)ptr(cmdline), "bzshim=32");

	if (version < 0x020c || !(rd16(bz + 0x236) & 1))
		die("bzImage has no 64-bit entry (protocol < 2.12 or no XLF_KERNEL_64)");
	if (init_size < payload_len)
		init_size = payload_len;
	if (load + init_size > bz || load + init_size > 0x2000000)
		die("kernel would overlap the module or the shim");

	shim_puts("bzshim: bzImage protocol ");
	puthex(version);
	shim_puts(", ");
	puthex(payload_len);
	shim_puts(" bytes at ");
	puthex(load);
	shim_puts(mode32 ? ", 32-bit entry\n" : ", 64-bit entry at +0x200\n");

	copy(load, payload, payload_len);

	/* boot_params: the setup header as the image has it, then the loader's fields. */
	zero(ZEROPAGE_ADDR, 4096);
	copy(ZEROPAGE_ADDR + 0x1f1, bz + 0x1f1, 0x202 + *ptr(bz + 0x201) - 0x1f1);
	*ptr(ZEROPAGE_ADDR + 0x210) = 0xff; /* type_of_loader: undefined */
	zero(CMDLINE_ADDR, 1);
	if (cmdline) {
		uint32_t n = 0;

		while (n < CMDLINE_MAX - 1 && *ptr(cmdline + n))
			n++;
		copy(CMDLINE_ADDR, cmdline, n);
		*ptr(CMDLINE_ADDR + n) = 0;
	}
	wr32(ZEROPAGE_ADDR + 0x228, CMDLINE_ADDR);
	wr32(ZEROPAGE_ADDR + 0x0c8, 0);
	uint32_t nmap = rd32(si) && rd32(si + 4) >= 1 ? rd32(si + 48) : 0;
	uint32_t map = rd32(si + 40);

	if (nmap > 128)
		nmap = 128;
	for (uint32_t i = 0; i < nmap; i++) /* 24-byte PVH entries -> 20-byte e820 */
		copy(ZEROPAGE_ADDR + 0x2d0 + 20 * i, map + 24 * i, 20);
	*ptr(ZEROPAGE_ADDR + 0x1e8) = (uint8_t)nmap;

	/* GDT: 0x08 32-bit code, 0x10 code (64-bit, or 32-bit for the 32-bit entry), 0x18 data. */
	wr64(GDT_ADDR + 0x00, 0);
	wr64(GDT_ADDR + 0x08, 0x00cf9a000000ffffull);
	wr64(GDT_ADDR + 0x10, mode32 ? 0x00cf9a000000ffffull : 0x00af9a000000ffffull);
	wr64(GDT_ADDR + 0x18, 0x00cf92000000ffffull);
	*(volatile uint16_t *)ptr(GDTR_ADDR) = 4 * 8 - 1;
	wr32(GDTR_ADDR + 2, GDT_ADDR);

	if (mode32)
		enter32(GDTR_ADDR, ZEROPAGE_ADDR, load);

	/* Identity map of 4 GiB with 2 MiB pages (no U bit: the guest brings its own). */
	zero(PML4_ADDR, 4096 * 6);
	wr64(PML4_ADDR, PDPT_ADDR | 3);
	for (uint32_t i = 0; i < 4; i++)
		wr64(PDPT_ADDR + 8 * i, (PD_ADDR + 4096 * i) | 3);
	for (uint32_t i = 0; i < 2048; i++)
		wr64(PD_ADDR + 8 * i, ((uint64_t)i << 21) | 0x83);
	enter64(GDTR_ADDR, PML4_ADDR, ZEROPAGE_ADDR, load + 0x200);
}
