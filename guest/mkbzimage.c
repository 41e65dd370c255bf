// SPDX-License-Identifier: MIT
/*
 * mkbzimage.c -- host tool: wrap the test guest in the Linux x86 boot
 * protocol (a "bzImage" with an uncompressed payload).
 *
 *   mkbzimage ELF BIN OUT
 *
 * ELF is the linked guest, BIN is `objcopy -O binary` of it. OUT gets a boot
 * sector and SETUP_SECTS setup sectors holding the setup header (protocol
 * 2.15, 64-bit entry, not relocatable, loaded at 1 MiB), then BIN. The tool
 * checks that BIN is exactly the ELF's single loadable segment, that it is
 * linked at LOAD_ADDR and that the ELF entry is the 64-bit entry at +0x200,
 * and derives init_size (image + .bss + stacks) from the segment's memsz.
 */
#define _POSIX_C_SOURCE 200809L
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOAD_ADDR	  0x100000u
#define ENTRY64_OFFSET	  0x200u
#define SETUP_SECTS	  4 /* like Linux: at least 4, loaders treat 0 as 4 */
#define SECTOR		  512
#define CMDLINE_SIZE	  4095 /* guest buffer is 4096 with the NUL */
#define PROTOCOL	  0x020f
#define LOADED_HIGH	  0x01
#define XLF_KERNEL_64	  0x0001
#define KERNEL_ALIGNMENT  0x200000u
#define MIN_ALIGNMENT_LG2 21
#define INITRD_ADDR_MAX	  0x7fffffffu

static const char *prog = "mkbzimage";

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		die("%s: %s", path, strerror(errno));
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (!buf)
				die("out of memory");
		}
		size_t got = fread(buf + n, 1, cap - n, f);

		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f))
		die("%s: read error", path);
	fclose(f);
	*len = n;
	return buf;
}

static void put16(uint8_t *p, size_t off, uint16_t v)
{
	p[off] = v & 0xff;
	p[off + 1] = v >> 8;
}

static void put32(uint8_t *p, size_t off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[off + i] = (v >> (8 * i)) & 0xff;
}

static void put64(uint8_t *p, size_t off, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[off + i] = (v >> (8 * i)) & 0xff;
}

/* The single PT_LOAD segment of the guest ELF. */
static const Elf64_Phdr *load_segment(const uint8_t *elf, size_t len, const Elf64_Ehdr **ehp)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)elf;
	const Elf64_Phdr *load = NULL;

	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != EM_X86_64)
		die("not an x86-64 ELF64 file");
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phoff > len ||
	    (len - eh->e_phoff) / sizeof(Elf64_Phdr) < eh->e_phnum)
		die("bad program header table");
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(elf + eh->e_phoff) + i;

		if (ph->p_type != PT_LOAD)
			continue;
		if (load)
			die("more than one PT_LOAD segment");
		load = ph;
	}
	if (!load)
		die("no PT_LOAD segment");
	if (load->p_offset > len || load->p_filesz > len - load->p_offset)
		die("PT_LOAD segment past the end of the file");
	*ehp = eh;
	return load;
}

int main(int argc, char **argv)
{
	size_t elf_len, bin_len;
	const Elf64_Ehdr *eh;

	if (argc != 4) {
		fprintf(stderr, "usage: %s ELF BIN OUT\n", prog);
		return 2;
	}
	uint8_t *elf = read_file(argv[1], &elf_len);
	uint8_t *bin = read_file(argv[2], &bin_len);
	const Elf64_Phdr *ph = load_segment(elf, elf_len, &eh);

	if (ph->p_paddr != LOAD_ADDR || ph->p_vaddr != LOAD_ADDR)
		die("segment at 0x%llx, want 0x%x", (unsigned long long)ph->p_paddr, LOAD_ADDR);
	if (eh->e_entry != LOAD_ADDR + ENTRY64_OFFSET)
		die("ELF entry 0x%llx is not the 64-bit entry at 0x%x",
		    (unsigned long long)eh->e_entry, LOAD_ADDR + ENTRY64_OFFSET);
	if (bin_len != ph->p_filesz || memcmp(bin, elf + ph->p_offset, bin_len) != 0)
		die("%s is not the loadable segment of %s", argv[2], argv[1]);
	if (ph->p_memsz > 0x40000000u)
		die("image too large");

	size_t setup_len = (SETUP_SECTS + 1) * SECTOR;
	uint8_t *setup = calloc(1, setup_len);
	uint32_t init_size = (uint32_t)((ph->p_memsz + 4095) & ~(uint64_t)4095);
	static const char version[] = "vireo test guest";

	if (!setup)
		die("out of memory");
	/* Boot sector: a real-mode stub that stops (cli; hlt; jmp $-1). */
	setup[0] = 0xfa;
	setup[1] = 0xf4;
	setup[2] = 0xeb;
	setup[3] = 0xfd;
	setup[0x1f1] = SETUP_SECTS;			      /* setup_sects */
	put16(setup, 0x1f2, 0);				      /* root_flags */
	put32(setup, 0x1f4, (uint32_t)((bin_len + 15) / 16)); /* syssize */
	put16(setup, 0x1fa, 0xffff);			      /* vid_mode: normal */
	put16(setup, 0x1fe, 0xaa55);			      /* boot_flag */
	/* 0x200: jump over the header to the (stopping) real-mode setup at 0x270. */
	setup[0x200] = 0xeb;
	setup[0x201] = 0x270 - 0x202;
	memcpy(setup + 0x202, "HdrS", 4);      /* header */
	put16(setup, 0x206, PROTOCOL);	       /* version */
	put16(setup, 0x20c, 0x1000);	       /* start_sys_seg (obsolete) */
	put16(setup, 0x20e, 0x300 - 0x200);    /* kernel_version */
	setup[0x211] = LOADED_HIGH;	       /* loadflags */
	put16(setup, 0x212, 0x8000);	       /* setup_move_size */
	put32(setup, 0x214, LOAD_ADDR);	       /* code32_start */
	put32(setup, 0x22c, INITRD_ADDR_MAX);  /* initrd_addr_max */
	put32(setup, 0x230, KERNEL_ALIGNMENT); /* kernel_alignment */
	setup[0x234] = 0;		       /* relocatable_kernel */
	setup[0x235] = MIN_ALIGNMENT_LG2;      /* min_alignment */
	put16(setup, 0x236, XLF_KERNEL_64);    /* xloadflags */
	put32(setup, 0x238, CMDLINE_SIZE);     /* cmdline_size */
	put64(setup, 0x258, LOAD_ADDR);	       /* pref_address */
	put32(setup, 0x260, init_size);	       /* init_size */
	/* 0x270: real-mode setup code, never used by a 64-bit loader: stop. */
	setup[0x270] = 0xfa;
	setup[0x271] = 0xf4;
	setup[0x272] = 0xeb;
	setup[0x273] = 0xfd;
	memcpy(setup + 0x300, version, sizeof(version));

	FILE *out = fopen(argv[3], "wb");

	if (!out)
		die("%s: %s", argv[3], strerror(errno));
	if (fwrite(setup, 1, setup_len, out) != setup_len ||
	    fwrite(bin, 1, bin_len, out) != bin_len || fclose(out) != 0)
		die("%s: write error", argv[3]);
	free(setup);
	free(bin);
	free(elf);
	return 0;
}
