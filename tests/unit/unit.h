/* SPDX-License-Identifier: MIT */
/*
 * unit.h -- helpers shared by the cmocka unit tests (tests/unit/test_*.c).
 *
 * Everything here is static inline so each test binary stays one file:
 * fake guest memory over a host buffer, builders for synthetic bzImage and
 * PVH ELF kernels, little-endian accessors and a stderr catcher for checking
 * the one-line messages vireo prints.
 */
#ifndef VIREO_TESTS_UNIT_H
#define VIREO_TESTS_UNIT_H

/* cmocka needs these before its own header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vireo/core/gmem.h"
#include "vireo/lib/util.h"
#include "vireo/arch/x86/bootinfo.h"
#include "vireo/arch/x86/layout.h"

#include <elf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Fail unless `haystack` contains `needle`, showing both. */
#define assert_substr(haystack, needle)                                                            \
	do {                                                                                       \
		const char *h_ = (haystack), *n_ = (needle);                                       \
		if (!h_ || !strstr(h_, n_))                                                        \
			fail_msg("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_);        \
	} while (0)

/* ---- little-endian byte access (x86 is little-endian; memcpy avoids alignment UB) ---- */

static inline void put16(uint8_t *b, size_t off, uint16_t v)
{
	memcpy(b + off, &v, sizeof(v));
}

static inline void put32(uint8_t *b, size_t off, uint32_t v)
{
	memcpy(b + off, &v, sizeof(v));
}

static inline void put64(uint8_t *b, size_t off, uint64_t v)
{
	memcpy(b + off, &v, sizeof(v));
}

static inline uint16_t get16(const uint8_t *b, size_t off)
{
	uint16_t v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

static inline uint32_t get32(const uint8_t *b, size_t off)
{
	uint32_t v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

static inline uint64_t get64(const uint8_t *b, size_t off)
{
	uint64_t v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

/* ---- fake guest memory ---- */

/*
 * Guest RAM of `size` bytes over a host buffer, laid out by gmem_layout()
 * exactly as vireo does it. Up to 512 MiB the buffer is calloc'ed, so ASan's
 * redzones catch any write past the end of guest RAM. Larger guests (3.5 GiB
 * to span the MMIO hole) use an anonymous MAP_NORESERVE mapping: only the
 * pages a test touches become real, whereas ASan's calloc of 3.5 GiB costs
 * seconds and ~450 MB of shadow memory on free.
 */
#define FAKE_MEM_CALLOC_MAX MIB(512)

struct fake_mem {
	struct gmem m;
	uint8_t *buf;
	uint64_t size;
	bool mapped;
};

static inline void fake_mem_init(struct fake_mem *f, uint64_t size)
{
	memset(f, 0, sizeof(*f));
	f->size = size;
	if (size <= FAKE_MEM_CALLOC_MAX) {
		f->buf = calloc(1, size);
	} else {
		void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		f->buf = p == MAP_FAILED ? NULL : p;
		f->mapped = true;
	}
	assert_non_null(f->buf);
	gmem_layout(&f->m, f->buf, size);
}

static inline void fake_mem_free(struct fake_mem *f)
{
	if (f->mapped)
		munmap(f->buf, f->size);
	else
		free(f->buf);
	memset(f, 0, sizeof(*f));
}

/* Host address of guest range [gpa, gpa + len), failing the test if it is not RAM. */
static inline uint8_t *fake_at(struct fake_mem *f, uint64_t gpa_v, size_t len)
{
	uint8_t *p = gmem_ptr(&f->m, gpa(gpa_v), len);

	if (!p)
		fail_msg("guest range [0x%llx, +0x%zx) is not RAM", (unsigned long long)gpa_v, len);
	return p;
}

/* A deterministic byte pattern, so misplaced copies show. */
static inline uint8_t pattern_byte(uint64_t i)
{
	return (uint8_t)((i * 131) ^ (i >> 8) ^ 0x5a);
}

static inline void fill_pattern(uint8_t *b, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = pattern_byte(i + seed);
}

/* A reproducible pseudo-random sequence (xorshift64). */
static inline uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

/* ---- synthetic bzImage ---- */

struct bz_spec {
	uint8_t setup_sects; /* as stored at 0x1f1: 0 means 4 */
	uint16_t version;
	uint8_t loadflags;
	uint16_t xloadflags;
	uint32_t init_size;
	uint32_t cmdline_size;
	uint32_t initrd_addr_max;
	size_t payload_len; /* protected-mode kernel bytes after the setup */
	uint8_t jump;	    /* byte at 0x201: the header ends at 0x202 + jump */
};

#define BZ_XLF_CAN_BE_LOADED_ABOVE_4G (1u << 1)
#define BZ_PAYLOAD_SEED		      0x1234

/* A modern (protocol 2.15) 64-bit bzImage with a 64 KiB payload. */
static inline struct bz_spec bz_default(void)
{
	return (struct bz_spec){
	    .setup_sects = 4,
	    .version = 0x020f,
	    .loadflags = LOADED_HIGH,
	    .xloadflags = XLF_KERNEL_64 | BZ_XLF_CAN_BE_LOADED_ABOVE_4G,
	    .init_size = 0x40000,
	    .cmdline_size = 2047,
	    .initrd_addr_max = 0x7fffffff,
	    .payload_len = 0x10000,
	    .jump = 0x6a, /* header ends at 0x26c, as in Linux 6.x */
	};
}

static inline size_t bz_setup_len(const struct bz_spec *s)
{
	return ((size_t)(s->setup_sects ? s->setup_sects : 4) + 1) * 512;
}

/*
 * Build the image into a malloc'd buffer. Header bytes the parser does not
 * read carry a pattern, so tests can see that boot_params got a faithful copy.
 */
static inline uint8_t *bz_build(const struct bz_spec *s, size_t *len)
{
	size_t setup = bz_setup_len(s);
	uint8_t *b;

	*len = setup + s->payload_len;
	b = malloc(*len);
	assert_non_null(b);
	fill_pattern(b, setup, 0);
	fill_pattern(b + setup, s->payload_len, BZ_PAYLOAD_SEED);
	b[BP_SETUP_SECTS] = s->setup_sects;
	put32(b, BP_SYSSIZE, (uint32_t)((s->payload_len + 15) / 16));
	put16(b, BP_BOOT_FLAG, 0xaa55);
	b[BP_JUMP] = 0xeb;
	b[BP_JUMP + 1] = s->jump;
	put32(b, BP_HEADER, HDRS_MAGIC);
	put16(b, BP_VERSION, s->version);
	b[BP_LOADFLAGS] = s->loadflags;
	put32(b, BP_CODE32_START, 0x100000);
	put32(b, BP_INITRD_ADDR_MAX, s->initrd_addr_max);
	put32(b, BP_KERNEL_ALIGNMENT, 0x200000);
	b[BP_RELOCATABLE] = 1;
	put16(b, BP_XLOADFLAGS, s->xloadflags);
	put32(b, BP_CMDLINE_SIZE, s->cmdline_size);
	put64(b, BP_PREF_ADDRESS, 0x1000000);
	put32(b, BP_INIT_SIZE, s->init_size);
	return b;
}

/* ---- synthetic PVH ELF ---- */

/*
 * Layout of the ELF built by elf_build():
 *   0x0000  ELF header, e_entry a 64-bit virtual address (must be ignored)
 *   0x0040  4 program headers: PT_NOTE, PT_LOAD seg0, PT_LOAD seg1, PT_GNU_STACK
 *   0x0200  notes: GNU build-id, a Xen note of another type, the PVH note
 *   0x1000  seg0 file bytes (0x1800), loaded at 16 MiB with 0x1800 bytes of bss
 *   0x2800  seg1 file bytes (0x1000), loaded at 20 MiB, no bss
 */
#define ELF_T_ENTRY	    0x1000040ull
#define ELF_T_NOTE_OFF	    0x200u
#define ELF_T_GNU_NOTE_LEN  (12u + 4u + 20u)
#define ELF_T_XEN_OTHER_LEN (12u + 4u + 8u)
#define ELF_T_PVH_NOTE_OFF  (ELF_T_NOTE_OFF + ELF_T_GNU_NOTE_LEN + ELF_T_XEN_OTHER_LEN)
#define ELF_T_SEG0_PADDR    0x1000000ull
#define ELF_T_SEG0_OFF	    0x1000u
#define ELF_T_SEG0_FILESZ   0x1800u
#define ELF_T_SEG0_MEMSZ    0x3000u
#define ELF_T_SEG1_PADDR    0x1400000ull
#define ELF_T_SEG1_OFF	    0x2800u
#define ELF_T_SEG1_FILESZ   0x1000u
#define ELF_T_LEN	    0x3800u
#define ELF_T_PHNUM	    4u
#define ELF_T_PH_NOTE	    0u
#define ELF_T_PH_SEG0	    1u
#define ELF_T_PH_SEG1	    2u
#define XEN_ELFNOTE_ENTRY   1

static inline Elf64_Ehdr *elf_ehdr(uint8_t *b)
{
	return (Elf64_Ehdr *)b;
}

static inline Elf64_Phdr *elf_phdr(uint8_t *b, unsigned i)
{
	return (Elf64_Phdr *)(b + elf_ehdr(b)->e_phoff + (size_t)i * sizeof(Elf64_Phdr));
}

static inline size_t elf_put_note(uint8_t *b, size_t off, uint32_t type, const char *name,
				  uint32_t namesz, const void *desc, uint32_t descsz)
{
	Elf64_Nhdr n = {.n_namesz = namesz, .n_descsz = descsz, .n_type = type};

	memcpy(b + off, &n, sizeof(n));
	off += sizeof(n);
	memcpy(b + off, name, namesz);
	off += ALIGN_UP(namesz, 4);
	memcpy(b + off, desc, descsz);
	return off + ALIGN_UP(descsz, 4);
}

/* pvh_desc_size: 4 (.long, Xen style), 8 (.quad, as Linux emits) or 0 for no PVH note. */
static inline uint8_t *elf_build(unsigned pvh_desc_size, size_t *len)
{
	static const uint8_t build_id[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
	const uint64_t entry = ELF_T_ENTRY, xen_entry = 0xffffffff81000000ull;
	uint8_t *b = calloc(1, ELF_T_LEN);
	Elf64_Ehdr *eh = elf_ehdr(b);
	size_t off = ELF_T_NOTE_OFF;

	assert_non_null(b);
	*len = ELF_T_LEN;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = 0xffffffff81000000ull;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = ELF_T_PHNUM;

	off = elf_put_note(b, off, 3 /* NT_GNU_BUILD_ID */, "GNU", 4, build_id, 20);
	off = elf_put_note(b, off, XEN_ELFNOTE_ENTRY, "Xen", 4, &xen_entry, 8);
	if (pvh_desc_size)
		off =
		    elf_put_note(b, off, XEN_ELFNOTE_PHYS32_ENTRY, "Xen", 4, &entry, pvh_desc_size);

	*elf_phdr(b, ELF_T_PH_NOTE) = (Elf64_Phdr){.p_type = PT_NOTE,
						   .p_offset = ELF_T_NOTE_OFF,
						   .p_filesz = off - ELF_T_NOTE_OFF,
						   .p_memsz = off - ELF_T_NOTE_OFF,
						   .p_align = 4};
	*elf_phdr(b, ELF_T_PH_SEG0) = (Elf64_Phdr){.p_type = PT_LOAD,
						   .p_flags = PF_R | PF_X,
						   .p_offset = ELF_T_SEG0_OFF,
						   .p_vaddr = ELF_T_SEG0_PADDR,
						   .p_paddr = ELF_T_SEG0_PADDR,
						   .p_filesz = ELF_T_SEG0_FILESZ,
						   .p_memsz = ELF_T_SEG0_MEMSZ,
						   .p_align = 0x1000};
	*elf_phdr(b, ELF_T_PH_SEG1) = (Elf64_Phdr){.p_type = PT_LOAD,
						   .p_flags = PF_R | PF_W,
						   .p_offset = ELF_T_SEG1_OFF,
						   .p_vaddr = ELF_T_SEG1_PADDR,
						   .p_paddr = ELF_T_SEG1_PADDR,
						   .p_filesz = ELF_T_SEG1_FILESZ,
						   .p_memsz = ELF_T_SEG1_FILESZ,
						   .p_align = 0x1000};
	*elf_phdr(b, 3) = (Elf64_Phdr){.p_type = PT_GNU_STACK, .p_flags = PF_R | PF_W};
	fill_pattern(b + ELF_T_SEG0_OFF, ELF_T_LEN - ELF_T_SEG0_OFF, 77);
	return b;
}

/* ---- real images built by `make guest` ---- */

#define TEST_GUEST_ELF "build/guest/test-guest.elf"
#define TEST_GUEST_BZ  "build/guest/test-guest.bzImage"

/* Read a file, or skip the current test when it is not there. */
static inline uint8_t *read_file_or_skip(const char *path, size_t *len)
{
	uint8_t *b = read_file(path, len);

	if (!b) {
		fprintf(stderr, "# %s absent (run `make guest`): skipping\n", path);
		skip();
	}
	return b;
}

/* ---- capturing stderr, for the one-line messages ---- */

struct stderr_capture {
	int saved_fd;
	FILE *tmp;
	char text[4096];
};

static inline void stderr_capture_begin(struct stderr_capture *c)
{
	fflush(stderr);
	c->tmp = tmpfile();
	assert_non_null(c->tmp);
	c->saved_fd = dup(STDERR_FILENO);
	assert_true(c->saved_fd >= 0);
	assert_true(dup2(fileno(c->tmp), STDERR_FILENO) >= 0);
}

/* Restore stderr and return what was written to it meanwhile. */
static inline const char *stderr_capture_end(struct stderr_capture *c)
{
	size_t n;

	fflush(stderr);
	dup2(c->saved_fd, STDERR_FILENO);
	close(c->saved_fd);
	rewind(c->tmp);
	n = fread(c->text, 1, sizeof(c->text) - 1, c->tmp);
	c->text[n] = '\0';
	fclose(c->tmp);
	return c->text;
}

#endif
