/* SPDX-License-Identifier: MIT */
/*
 * kernel_image.c -- recognise, validate and load bzImage and PVH ELF kernels.
 *
 * Every field read from the file is bounds-checked against the file length
 * before use: the image is untrusted input.
 */
#include "vireo/lib/util.h"
#include "vireo/arch/x86/kernel_image.h"
#include "vireo/arch/x86/layout.h"

#include <elf.h>
#include <stdio.h>
#include <string.h>

static uint8_t le8(const uint8_t *b, size_t off)
{
	return b[off];
}

static uint16_t le16(const uint8_t *b, size_t off)
{
	return (uint16_t)(b[off] | b[off + 1] << 8);
}

static uint32_t le32(const uint8_t *b, size_t off)
{
	return (uint32_t)le16(b, off) | (uint32_t)le16(b, off + 2) << 16;
}

static bool looks_like_bzimage(const uint8_t *b, size_t len)
{
	return len >= BP_VERSION + 2 && le16(b, BP_BOOT_FLAG) == 0xaa55 &&
	       le32(b, BP_HEADER) == HDRS_MAGIC;
}

static bool looks_like_elf(const uint8_t *b, size_t len)
{
	return len >= SELFMAG && memcmp(b, ELFMAG, SELFMAG) == 0;
}

static int parse_bzimage(const uint8_t *b, size_t len, struct kernel_image *k, char *err,
			 size_t errlen)
{
	unsigned setup_sects;
	uint32_t init_size;
	size_t payload;

	k->format = KERNEL_BZIMAGE;
	k->protocol = le16(b, BP_VERSION);
	if (k->protocol < 0x020c)
		return errf(err, errlen,
			    "bzImage boot protocol %u.%02u is too old: vireo needs 2.12 or later "
			    "(64-bit entry)",
			    k->protocol >> 8, k->protocol & 0xff);
	/* Fields up to init_size (0x264) exist from protocol 2.10 on. */
	if (len < BP_INIT_SIZE + 4)
		return errf(err, errlen, "bzImage truncated inside its setup header");
	if (!(le16(b, BP_XLOADFLAGS) & XLF_KERNEL_64))
		return errf(err, errlen, "bzImage has no 64-bit entry point (XLF_KERNEL_64 unset)");
	if (!(le8(b, BP_LOADFLAGS) & LOADED_HIGH))
		return errf(err, errlen, "bzImage is a zImage (not loaded high): unsupported");

	setup_sects = le8(b, BP_SETUP_SECTS);
	if (setup_sects == 0)
		setup_sects = 4; /* the boot protocol's historical default */
	k->setup_len = ((size_t)setup_sects + 1) * 512;
	if (k->setup_len >= len)
		return errf(err, errlen,
			    "bzImage truncated: no protected-mode kernel after %zu "
			    "bytes of setup",
			    k->setup_len);
	payload = len - k->setup_len;
	/* syssize counts 16-byte paragraphs, rounded up: allow that slack. */
	if ((uint64_t)le32(b, BP_SYSSIZE) * 16 > ALIGN_UP((uint64_t)payload, 16))
		return errf(err, errlen,
			    "bzImage truncated: header says %llu bytes of kernel, "
			    "file holds %zu",
			    (unsigned long long)le32(b, BP_SYSSIZE) * 16, payload);

	/* The setup header ends where the jump at 0x200 lands. */
	k->hdr_end = BP_HEADER + le8(b, BP_JUMP + 1);
	/* A 2.12+ header reaches at least init_size; never copy past setup. */
	if (k->hdr_end < BP_INIT_SIZE + 4 || k->hdr_end > k->setup_len ||
	    k->hdr_end > BP_E820_TABLE)
		k->hdr_end = BP_INIT_SIZE + 4;

	init_size = le32(b, BP_INIT_SIZE);
	k->entry = KERNEL_LOAD_ADDR + 0x200; /* startup_64 */
	k->end = KERNEL_LOAD_ADDR + (init_size > payload ? init_size : payload);
	k->cmdline_max = le32(b, BP_CMDLINE_SIZE);
	k->initrd_max = le32(b, BP_INITRD_ADDR_MAX);
	k->nr_seg = 1;
	k->seg[0] = (struct kernel_segment){
	    .paddr = KERNEL_LOAD_ADDR, .offset = k->setup_len, .filesz = payload, .memsz = payload};
	return 0;
}

/* Find the PVH entry among the notes in [off, off + size) of the file. */
static bool find_pvh_note(const uint8_t *b, size_t len, uint64_t off, uint64_t size,
			  uint64_t *entry)
{
	uint64_t end;

	if (__builtin_add_overflow(off, size, &end) || end > len)
		return false;
	while (off + sizeof(Elf64_Nhdr) <= end) {
		Elf64_Nhdr n;
		uint64_t name_off, desc_off, next;

		memcpy(&n, b + off, sizeof(n));
		name_off = off + sizeof(n);
		desc_off = name_off + ALIGN_UP((uint64_t)n.n_namesz, 4);
		next = desc_off + ALIGN_UP((uint64_t)n.n_descsz, 4);
		if (next > end)
			return false;
		if (n.n_type == XEN_ELFNOTE_PHYS32_ENTRY && n.n_namesz == 4 &&
		    memcmp(b + name_off, "Xen", 4) == 0 && (n.n_descsz == 4 || n.n_descsz == 8)) {
			/* Linux emits a .quad, Xen-style guests a .long. Either way the
			 * entry is 32-bit code: an address above 4 GiB is no entry. */
			*entry = le32(b, desc_off);
			return n.n_descsz == 4 || le32(b, desc_off + 4) == 0;
		}
		off = next;
	}
	return false;
}

static int parse_elf(const uint8_t *b, size_t len, struct kernel_image *k, char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	bool have_entry = false;

	k->format = KERNEL_PVH_ELF;
	if (len < sizeof(eh))
		return errf(err, errlen, "ELF file truncated inside its header");
	memcpy(&eh, b, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64)
		return errf(err, errlen, "ELF file is not x86-64 (64-bit little-endian)");
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phoff > len ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
		return errf(err, errlen, "ELF program headers missing or truncated");

	k->nr_seg = 0;
	k->end = 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		uint64_t seg_end;

		memcpy(&ph, b + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_NOTE && !have_entry)
			have_entry = find_pvh_note(b, len, ph.p_offset, ph.p_filesz, &k->entry);
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (ph.p_filesz > ph.p_memsz || ph.p_offset > len ||
		    ph.p_filesz > len - ph.p_offset)
			return errf(err, errlen, "ELF segment %u truncated or inconsistent", i);
		if (__builtin_add_overflow(ph.p_paddr, ph.p_memsz, &seg_end))
			return errf(err, errlen, "ELF segment %u wraps around", i);
		if (k->nr_seg == KERNEL_MAX_SEGMENTS)
			return errf(err, errlen, "ELF file has more than %d loadable segments",
				    KERNEL_MAX_SEGMENTS);
		k->seg[k->nr_seg++] = (struct kernel_segment){.paddr = ph.p_paddr,
							      .offset = ph.p_offset,
							      .filesz = ph.p_filesz,
							      .memsz = ph.p_memsz};
		if (seg_end > k->end)
			k->end = seg_end;
	}
	if (!have_entry)
		return errf(err, errlen,
			    "ELF file has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): "
			    "vireo boots ELF kernels only through PVH");
	if (k->nr_seg == 0)
		return errf(err, errlen, "ELF file has no loadable segment");
	k->cmdline_max = BOOT_CMDLINE_MAX - 1;
	k->initrd_max = GMEM_HOLE_START - 1;
	return 0;
}

int kernel_parse(const uint8_t *buf, size_t len, struct kernel_image *k, char *err, size_t errlen)
{
	memset(k, 0, sizeof(*k));
	k->file = buf;
	k->file_len = len;
	if (looks_like_bzimage(buf, len))
		return parse_bzimage(buf, len, k, err, errlen);
	if (looks_like_elf(buf, len))
		return parse_elf(buf, len, k, err, errlen);
	if (len >= 0x200 && le16(buf, BP_BOOT_FLAG) == 0xaa55)
		return errf(err, errlen,
			    "not a kernel: a boot sector without a Linux setup "
			    "header (no \"HdrS\")");
	return errf(err, errlen, "not a kernel: neither a bzImage nor an ELF file");
}

int kernel_load(const struct kernel_image *k, struct gmem *mem, char *err, size_t errlen)
{
	for (unsigned i = 0; i < k->nr_seg; i++) {
		const struct kernel_segment *s = &k->seg[i];
		uint8_t *dst = gmem_ptr(mem, gpa(s->paddr), s->memsz);

		if (s->paddr < HIGH_MEM_ADDR || !dst)
			return errf(
			    err, errlen,
			    "kernel segment [0x%llx, 0x%llx) is not in guest RAM above 1 MiB "
			    "(--mem too small?)",
			    (unsigned long long)s->paddr,
			    (unsigned long long)(s->paddr + s->memsz));
		memcpy(dst, k->file + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
	}
	/* The bzImage decompressor uses init_size bytes from the load address. */
	if (!gmem_ptr(mem, gpa(KERNEL_LOAD_ADDR), k->end - KERNEL_LOAD_ADDR) &&
	    k->format == KERNEL_BZIMAGE)
		return errf(err, errlen, "kernel needs %llu MiB from 1 MiB up: --mem too small",
			    (unsigned long long)((k->end - KERNEL_LOAD_ADDR) >> 20) + 1);
	return 0;
}
