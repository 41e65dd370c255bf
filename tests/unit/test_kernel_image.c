/* SPDX-License-Identifier: MIT */
/*
 * test_kernel_image.c -- kernel_parse() and kernel_load() on synthetic
 * bzImages and PVH ELFs, malformed variants of both, and the real test guest
 * images when `make guest` has built them.
 */
#include "unit.h"

#define ERRLEN 256

struct parse_result {
	int rc;
	struct kernel_image k;
	char err[ERRLEN];
};

static void parse(const uint8_t *b, size_t len, struct parse_result *r)
{
	memset(r, 0, sizeof(*r));
	r->rc = kernel_parse(b, len, &r->k, r->err, sizeof(r->err));
}

/* Parse must fail with a message holding `why`. */
static void expect_reject(const uint8_t *b, size_t len, const char *why)
{
	struct parse_result r;

	parse(b, len, &r);
	if (r.rc != -1)
		fail_msg("image accepted; expected rejection with \"%s\"", why);
	assert_substr(r.err, why);
}

/* Parse a copy of exactly `len` bytes, so ASan sees any read past the end. */
static void parse_exact_copy(const uint8_t *b, size_t len, struct parse_result *r)
{
	uint8_t *copy = malloc(len ? len : 1);

	assert_non_null(copy);
	memcpy(copy, b, len);
	parse(copy, len, r);
	if (r->rc == 0) {
		/* Whatever was accepted must lie inside the bytes we gave. */
		for (unsigned i = 0; i < r->k.nr_seg; i++)
			assert_true(r->k.seg[i].offset + r->k.seg[i].filesz <= len);
	}
	free(copy);
}

/* ---- bzImage: valid ---- */

static void test_bz_valid(void **state)
{
	struct bz_spec s = bz_default();
	struct parse_result r;
	size_t len;
	uint8_t *b = bz_build(&s, &len);

	(void)state;
	parse(b, len, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.k.format, KERNEL_BZIMAGE);
	assert_ptr_equal(r.k.file, b);
	assert_int_equal(r.k.file_len, len);
	assert_int_equal(r.k.protocol, 0x020f);
	assert_int_equal(r.k.entry, 0x100200); /* startup_64 */
	/* init_size (256 KiB) is larger than the payload (64 KiB): it sets the end. */
	assert_int_equal(r.k.end, 0x100000 + 0x40000);
	assert_int_equal(r.k.cmdline_max, 2047);
	assert_int_equal(r.k.initrd_max, 0x7fffffff);
	assert_int_equal(r.k.setup_len, 5 * 512);
	assert_int_equal(r.k.hdr_end, 0x202 + 0x6a);
	assert_int_equal(r.k.nr_seg, 1);
	assert_int_equal(r.k.seg[0].paddr, 0x100000);
	assert_int_equal(r.k.seg[0].offset, 5 * 512);
	assert_int_equal(r.k.seg[0].filesz, 0x10000);
	assert_int_equal(r.k.seg[0].memsz, 0x10000);
	free(b);
}

static void test_bz_payload_larger_than_init_size(void **state)
{
	struct bz_spec s = bz_default();
	struct parse_result r;
	size_t len;
	uint8_t *b;

	(void)state;
	s.init_size = 0x1000;
	s.payload_len = 0x12345; /* not a multiple of 16: syssize rounds up */
	b = bz_build(&s, &len);
	parse(b, len, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.k.end, 0x100000 + 0x12345);
	assert_int_equal(r.k.seg[0].filesz, 0x12345);
	free(b);
}

static void test_bz_setup_sects_zero_means_four(void **state)
{
	struct bz_spec s = bz_default();
	struct parse_result r;
	size_t len;
	uint8_t *b;

	(void)state;
	s.setup_sects = 0;
	b = bz_build(&s, &len); /* bz_build lays out 4 sectors of setup for 0 */
	assert_int_equal(len, 5 * 512 + s.payload_len);
	parse(b, len, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.k.setup_len, 5 * 512);
	assert_int_equal(r.k.seg[0].offset, 5 * 512);
	assert_int_equal(r.k.seg[0].filesz, s.payload_len);
	free(b);

	s.setup_sects = 27; /* a real kernel's count */
	b = bz_build(&s, &len);
	parse(b, len, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.k.setup_len, 28 * 512);
	assert_int_equal(r.k.seg[0].offset, 28 * 512);
	free(b);
}

static void test_bz_protocol_2_12_is_enough(void **state)
{
	struct bz_spec s = bz_default();
	struct parse_result r;
	size_t len;
	uint8_t *b;

	(void)state;
	s.version = 0x020c;
	b = bz_build(&s, &len);
	parse(b, len, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.k.protocol, 0x020c);
	free(b);
}

static void test_bz_header_end_out_of_range_falls_back(void **state)
{
	struct bz_spec s = bz_default();
	struct parse_result r;
	size_t len;
	uint8_t *b;

	(void)state;
	s.jump = 0xff; /* 0x301: past the e820 table at 0x2d0 */
	b = bz_build(&s, &len);
	parse(b, len, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.k.hdr_end, BP_INIT_SIZE + 4);
	free(b);
}

/* ---- bzImage: malformed ---- */

static void test_bz_too_short(void **state)
{
	struct bz_spec s = bz_default();
	size_t len;
	uint8_t *b = bz_build(&s, &len);

	(void)state;
	/* Boot flag and "HdrS" present, but the file ends inside the header. */
	expect_reject(b, 0x240, "truncated inside its setup header");
	/* Too short to even hold the header magic. */
	expect_reject(b, 0x100, "not a kernel");
	free(b);
}

static void test_bz_protocol_too_old(void **state)
{
	struct bz_spec s = bz_default();
	size_t len;
	uint8_t *b;

	(void)state;
	s.version = 0x020b;
	b = bz_build(&s, &len);
	expect_reject(b, len, "2.11 is too old");
	free(b);
	s.version = 0x0200;
	b = bz_build(&s, &len);
	expect_reject(b, len, "2.00 is too old");
	free(b);
}

static void test_bz_no_64bit_entry(void **state)
{
	struct bz_spec s = bz_default();
	size_t len;
	uint8_t *b;

	(void)state;
	s.xloadflags = BZ_XLF_CAN_BE_LOADED_ABOVE_4G;
	b = bz_build(&s, &len);
	expect_reject(b, len, "XLF_KERNEL_64");
	free(b);
}

static void test_bz_not_loaded_high(void **state)
{
	struct bz_spec s = bz_default();
	size_t len;
	uint8_t *b;

	(void)state;
	s.loadflags = 0x80; /* CAN_USE_HEAP only */
	b = bz_build(&s, &len);
	expect_reject(b, len, "not loaded high");
	free(b);
}

static void test_bz_truncated_payload(void **state)
{
	struct bz_spec s = bz_default();
	struct parse_result r;
	size_t len;
	uint8_t *b = bz_build(&s, &len);

	(void)state;
	/* syssize counts paragraphs: losing one whole paragraph must show. */
	expect_reject(b, len - 16, "truncated");
	expect_reject(b, len - 0x8000, "header says 65536 bytes of kernel");
	/* Nothing after the setup sectors at all. */
	expect_reject(b, bz_setup_len(&s), "no protected-mode kernel");
	/* Less than a paragraph short is within syssize's rounding: accepted. */
	parse(b, len - 15, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.k.seg[0].filesz, s.payload_len - 15);
	free(b);
}

static void test_bz_boot_sector_without_hdrs(void **state)
{
	struct bz_spec s = bz_default();
	size_t len;
	uint8_t *b = bz_build(&s, &len);

	(void)state;
	put32(b, BP_HEADER, 0x12345678);
	expect_reject(b, len, "no \"HdrS\"");
	/* And "HdrS" without the boot flag is not a bzImage either. */
	put32(b, BP_HEADER, HDRS_MAGIC);
	put16(b, BP_BOOT_FLAG, 0);
	expect_reject(b, len, "neither a bzImage nor an ELF");
	free(b);
}

static void test_bz_every_truncation_is_safe(void **state)
{
	struct bz_spec s = bz_default();
	struct parse_result r;
	size_t len;
	uint8_t *b;

	(void)state;
	s.payload_len = 0x400;
	b = bz_build(&s, &len);
	for (size_t l = 0; l <= len; l++) {
		parse_exact_copy(b, l, &r);
		/* Only the last paragraph's worth of cuts may still be accepted. */
		if (l + 15 < len)
			assert_int_equal(r.rc, -1);
		else
			assert_int_equal(r.rc, 0);
	}
	free(b);
}

/* ---- PVH ELF: valid ---- */

static void check_elf_image(const struct parse_result *r)
{
	assert_int_equal(r->rc, 0);
	assert_int_equal(r->k.format, KERNEL_PVH_ELF);
	assert_int_equal(r->k.entry, ELF_T_ENTRY);
	assert_int_equal(r->k.nr_seg, 2);
	assert_int_equal(r->k.seg[0].paddr, ELF_T_SEG0_PADDR);
	assert_int_equal(r->k.seg[0].offset, ELF_T_SEG0_OFF);
	assert_int_equal(r->k.seg[0].filesz, ELF_T_SEG0_FILESZ);
	assert_int_equal(r->k.seg[0].memsz, ELF_T_SEG0_MEMSZ);
	assert_int_equal(r->k.seg[1].paddr, ELF_T_SEG1_PADDR);
	assert_int_equal(r->k.seg[1].offset, ELF_T_SEG1_OFF);
	assert_int_equal(r->k.seg[1].filesz, ELF_T_SEG1_FILESZ);
	assert_int_equal(r->k.seg[1].memsz, ELF_T_SEG1_FILESZ);
	assert_int_equal(r->k.end, ELF_T_SEG1_PADDR + ELF_T_SEG1_FILESZ);
	assert_int_equal(r->k.cmdline_max, BOOT_CMDLINE_MAX - 1);
	assert_int_equal(r->k.initrd_max, GMEM_HOLE_START - 1);
}

static void test_elf_pvh_note_8_bytes(void **state)
{
	struct parse_result r;
	size_t len;
	uint8_t *b = elf_build(8, &len);

	(void)state;
	parse(b, len, &r);
	check_elf_image(&r);
	free(b);
}

static void test_elf_pvh_note_4_bytes(void **state)
{
	struct parse_result r;
	size_t len;
	uint8_t *b = elf_build(4, &len);

	(void)state;
	parse(b, len, &r);
	check_elf_image(&r);
	free(b);
}

static void test_elf_end_is_highest_segment(void **state)
{
	struct parse_result r;
	size_t len;
	uint8_t *b = elf_build(8, &len);

	(void)state;
	/* Put seg1 below seg0: the end is then seg0's end including its bss. */
	elf_phdr(b, ELF_T_PH_SEG1)->p_paddr = 0x800000;
	parse(b, len, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.k.end, ELF_T_SEG0_PADDR + ELF_T_SEG0_MEMSZ);
	free(b);
}

static void test_elf_empty_load_segment_ignored(void **state)
{
	struct parse_result r;
	size_t len;
	uint8_t *b = elf_build(8, &len);

	(void)state;
	elf_phdr(b, ELF_T_PH_SEG1)->p_filesz = 0;
	elf_phdr(b, ELF_T_PH_SEG1)->p_memsz = 0;
	parse(b, len, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.k.nr_seg, 1);
	assert_int_equal(r.k.end, ELF_T_SEG0_PADDR + ELF_T_SEG0_MEMSZ);
	free(b);
}

/* ---- PVH ELF: malformed ---- */

static void test_elf_too_short(void **state)
{
	size_t len;
	uint8_t *b = elf_build(8, &len);

	(void)state;
	expect_reject(b, sizeof(Elf64_Ehdr) - 1, "truncated inside its header");
	expect_reject(b, SELFMAG, "truncated inside its header");
	free(b);
}

static void test_elf32_rejected(void **state)
{
	size_t len;
	uint8_t *b = elf_build(8, &len);

	(void)state;
	elf_ehdr(b)->e_ident[EI_CLASS] = ELFCLASS32;
	expect_reject(b, len, "not x86-64");
	free(b);
}

static void test_elf_big_endian_rejected(void **state)
{
	size_t len;
	uint8_t *b = elf_build(8, &len);

	(void)state;
	elf_ehdr(b)->e_ident[EI_DATA] = ELFDATA2MSB;
	expect_reject(b, len, "not x86-64");
	free(b);
}

static void test_elf_wrong_machine(void **state)
{
	size_t len;
	uint8_t *b = elf_build(8, &len);

	(void)state;
	elf_ehdr(b)->e_machine = EM_AARCH64;
	expect_reject(b, len, "not x86-64");
	elf_ehdr(b)->e_machine = EM_386;
	expect_reject(b, len, "not x86-64");
	free(b);
}

static void test_elf_program_headers_out_of_file(void **state)
{
	size_t len;
	uint8_t *b = elf_build(8, &len);
	Elf64_Ehdr *eh = elf_ehdr(b);

	(void)state;
	eh->e_phoff = len + 1;
	expect_reject(b, len, "program headers missing or truncated");
	eh->e_phoff = len - sizeof(Elf64_Phdr) * 2; /* room for 2 of 4 */
	expect_reject(b, len, "program headers missing or truncated");
	eh->e_phoff = UINT64_MAX - 8; /* would wrap if added */
	expect_reject(b, len, "program headers missing or truncated");
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_phnum = 0xffff;
	expect_reject(b, len, "program headers missing or truncated");
	eh->e_phnum = 0;
	expect_reject(b, len, "program headers missing or truncated");
	eh->e_phnum = ELF_T_PHNUM;
	eh->e_phentsize = 32;
	expect_reject(b, len, "program headers missing or truncated");
	free(b);
}

static void test_elf_segment_beyond_file(void **state)
{
	size_t len;
	uint8_t *b = elf_build(8, &len);
	Elf64_Phdr *ph = elf_phdr(b, ELF_T_PH_SEG1);

	(void)state;
	ph->p_filesz = ELF_T_SEG1_FILESZ + 1;
	ph->p_memsz = ph->p_filesz;
	expect_reject(b, len, "segment 2 truncated or inconsistent");
	ph->p_filesz = ELF_T_SEG1_FILESZ;
	ph->p_offset = len + 0x1000;
	expect_reject(b, len, "segment 2 truncated or inconsistent");
	ph->p_offset = UINT64_MAX - 0x10; /* offset + filesz wraps */
	expect_reject(b, len, "segment 2 truncated or inconsistent");
	ph->p_offset = ELF_T_SEG1_OFF;
	ph->p_memsz = ph->p_filesz - 1; /* filesz > memsz */
	expect_reject(b, len, "segment 2 truncated or inconsistent");
	free(b);
}

static void test_elf_wrapping_segment(void **state)
{
	size_t len;
	uint8_t *b = elf_build(8, &len);
	Elf64_Phdr *ph = elf_phdr(b, ELF_T_PH_SEG0);

	(void)state;
	ph->p_paddr = UINT64_MAX - 0xfff;
	expect_reject(b, len, "segment 1 wraps around");
	ph->p_paddr = 0x1000000;
	ph->p_memsz = UINT64_MAX;
	expect_reject(b, len, "segment 1 wraps around");
	free(b);
}

static void test_elf_no_load_segment(void **state)
{
	size_t len;
	uint8_t *b = elf_build(8, &len);

	(void)state;
	elf_phdr(b, ELF_T_PH_SEG0)->p_type = PT_NULL;
	elf_phdr(b, ELF_T_PH_SEG1)->p_type = PT_DYNAMIC;
	expect_reject(b, len, "no loadable segment");
	free(b);
}

static void test_elf_too_many_segments(void **state)
{
	const unsigned nload = KERNEL_MAX_SEGMENTS + 1;
	size_t len, big_len;
	uint8_t *b = elf_build(8, &len), *big;
	Elf64_Phdr note = *elf_phdr(b, ELF_T_PH_NOTE), seg = *elf_phdr(b, ELF_T_PH_SEG1);

	(void)state;
	/* A new program header table at the end: the note, then 17 small loads. */
	big_len = len + (1 + nload) * sizeof(Elf64_Phdr);
	big = calloc(1, big_len);
	assert_non_null(big);
	memcpy(big, b, len);
	elf_ehdr(big)->e_phoff = len;
	elf_ehdr(big)->e_phnum = (uint16_t)(1 + nload);
	*elf_phdr(big, 0) = note;
	for (unsigned i = 0; i < nload; i++) {
		seg.p_paddr = ELF_T_SEG1_PADDR + i * 0x1000ull;
		*elf_phdr(big, 1 + i) = seg;
	}
	expect_reject(big, big_len, "more than 16 loadable segments");
	/* Sixteen are fine. */
	elf_ehdr(big)->e_phnum = (uint16_t)nload;
	{
		struct parse_result r;

		parse(big, big_len, &r);
		assert_int_equal(r.rc, 0);
		assert_int_equal(r.k.nr_seg, KERNEL_MAX_SEGMENTS);
	}
	free(big);
	free(b);
}

static void test_elf_no_pvh_note(void **state)
{
	size_t len;
	uint8_t *b = elf_build(0, &len);

	(void)state;
	/* The GNU and the other Xen note are there; the PVH one is not. */
	expect_reject(b, len, "no PVH entry note");
	free(b);
	/* No PT_NOTE at all. */
	b = elf_build(8, &len);
	elf_phdr(b, ELF_T_PH_NOTE)->p_type = PT_NULL;
	expect_reject(b, len, "no PVH entry note");
	free(b);
}

static void test_elf_pvh_note_bad_sizes(void **state)
{
	const size_t nh = ELF_T_PVH_NOTE_OFF;
	size_t len;
	uint8_t *b = elf_build(8, &len);
	Elf64_Phdr *note = elf_phdr(b, ELF_T_PH_NOTE);
	Elf64_Nhdr n;

	(void)state;
	memcpy(&n, b + nh, sizeof(n));

	n.n_descsz = 2; /* neither a .long nor a .quad */
	memcpy(b + nh, &n, sizeof(n));
	expect_reject(b, len, "no PVH entry note");

	n.n_descsz = 16;
	memcpy(b + nh, &n, sizeof(n));
	note->p_filesz += 8; /* keep the note inside its segment */
	expect_reject(b, len, "no PVH entry note");
	note->p_filesz -= 8;

	n.n_descsz = 8;
	n.n_namesz = 3; /* "Xen" without its NUL */
	memcpy(b + nh, &n, sizeof(n));
	expect_reject(b, len, "no PVH entry note");

	n.n_namesz = 0x7fffffff; /* runs past the note segment */
	memcpy(b + nh, &n, sizeof(n));
	expect_reject(b, len, "no PVH entry note");

	n.n_namesz = 4;
	n.n_descsz = 0xfffffff0u;
	memcpy(b + nh, &n, sizeof(n));
	expect_reject(b, len, "no PVH entry note");

	/* The note itself intact, but its segment cut short of the descriptor. */
	n.n_descsz = 8;
	memcpy(b + nh, &n, sizeof(n));
	note->p_filesz -= 4;
	expect_reject(b, len, "no PVH entry note");

	/* The note segment outside the file. */
	note->p_filesz += 4;
	note->p_offset = len - 8;
	expect_reject(b, len, "no PVH entry note");
	note->p_offset = UINT64_MAX - 4;
	expect_reject(b, len, "no PVH entry note");

	/* Restored, it parses again (so the cases above failed for their reason). */
	note->p_offset = ELF_T_NOTE_OFF;
	{
		struct parse_result r;

		parse(b, len, &r);
		assert_int_equal(r.rc, 0);
		assert_int_equal(r.k.entry, ELF_T_ENTRY);
	}
	free(b);
}

static void test_elf_wrong_name_ignored(void **state)
{
	size_t len;
	uint8_t *b = elf_build(8, &len);

	(void)state;
	memcpy(b + ELF_T_PVH_NOTE_OFF + sizeof(Elf64_Nhdr), "Xan", 4);
	expect_reject(b, len, "no PVH entry note");
	free(b);
}

static void test_elf_every_truncation_is_safe(void **state)
{
	struct parse_result r;
	size_t len;
	uint8_t *b = elf_build(8, &len);

	(void)state;
	for (size_t l = 0; l <= len; l++) {
		parse_exact_copy(b, l, &r);
		assert_int_equal(r.rc, l == len ? 0 : -1);
	}
	free(b);
}

/* ---- neither ---- */

static void test_empty_file(void **state)
{
	uint8_t *b = malloc(1); /* what read_file returns for an empty file */

	(void)state;
	assert_non_null(b);
	expect_reject(b, 0, "not a kernel");
	free(b);
}

static void test_random_bytes(void **state)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	(void)state;
	for (unsigned round = 0; round < 200; round++) {
		size_t len = (size_t)(xorshift64(&seed) % 0x3000);
		uint8_t *b = malloc(len ? len : 1);

		assert_non_null(b);
		for (size_t i = 0; i < len; i++)
			b[i] = (uint8_t)xorshift64(&seed);
		expect_reject(b, len, "not a kernel");
		free(b);
	}
}

/* Flip bytes of valid images: whatever happens, no out-of-bounds read (ASan). */
static void test_mutated_images_are_safe(void **state)
{
	uint64_t seed = 42;
	struct parse_result r;

	(void)state;
	for (unsigned round = 0; round < 2000; round++) {
		struct bz_spec s = bz_default();
		size_t len;
		uint8_t *b;

		s.payload_len = 0x200;
		b = round & 1 ? elf_build(round & 2 ? 8 : 4, &len) : bz_build(&s, &len);
		for (unsigned k = 0; k < 4; k++) {
			/* Mostly in the headers, where the parser looks. */
			size_t at = (size_t)(xorshift64(&seed) % (k & 1 ? len : 0x300));

			b[at] = (uint8_t)xorshift64(&seed);
		}
		parse_exact_copy(b, len, &r);
		if (r.rc == -1)
			assert_true(strlen(r.err) > 0);
		free(b);
	}
}

/* ---- kernel_load ---- */

static void test_load_bzimage(void **state)
{
	struct bz_spec s = bz_default();
	struct parse_result r;
	struct fake_mem f;
	char err[ERRLEN];
	size_t len;
	uint8_t *b = bz_build(&s, &len);

	(void)state;
	parse(b, len, &r);
	assert_int_equal(r.rc, 0);
	fake_mem_init(&f, MIB(32));
	memset(f.buf + 0xff000, 0xcc, 0x1000);			/* just below 1 MiB */
	memset(f.buf + 0x100000 + s.payload_len, 0xcc, 0x1000); /* just above the payload */
	assert_int_equal(kernel_load(&r.k, &f.m, err, sizeof(err)), 0);
	assert_memory_equal(f.buf + 0x100000, b + bz_setup_len(&s), s.payload_len);
	for (size_t i = 0; i < 0x1000; i++) {
		assert_int_equal(f.buf[0xff000 + i], 0xcc);
		assert_int_equal(f.buf[0x100000 + s.payload_len + i], 0xcc);
	}
	fake_mem_free(&f);
	free(b);
}

static void test_load_bzimage_init_size_too_big(void **state)
{
	struct bz_spec s = bz_default();
	struct parse_result r;
	struct fake_mem f;
	char err[ERRLEN];
	size_t len;
	uint8_t *b;

	(void)state;
	s.init_size = (uint32_t)MIB(40); /* the decompressor needs 40 MiB from 1 MiB up */
	b = bz_build(&s, &len);
	parse(b, len, &r);
	assert_int_equal(r.rc, 0);
	fake_mem_init(&f, MIB(32));
	assert_int_equal(kernel_load(&r.k, &f.m, err, sizeof(err)), -1);
	assert_substr(err, "--mem too small");
	fake_mem_free(&f);

	/* With 41 MiB + 1 MiB below it is enough. */
	fake_mem_init(&f, MIB(41));
	assert_int_equal(kernel_load(&r.k, &f.m, err, sizeof(err)), 0);
	fake_mem_free(&f);
	free(b);
}

static void test_load_bzimage_payload_not_in_ram(void **state)
{
	struct bz_spec s = bz_default();
	struct parse_result r;
	struct fake_mem f;
	char err[ERRLEN];
	size_t len;
	uint8_t *b;

	(void)state;
	s.payload_len = 0x100000;
	b = bz_build(&s, &len);
	parse(b, len, &r);
	assert_int_equal(r.rc, 0);
	fake_mem_init(&f, 0x180000); /* 1.5 MiB: the payload would need 2 */
	assert_int_equal(kernel_load(&r.k, &f.m, err, sizeof(err)), -1);
	assert_substr(err, "not in guest RAM");
	fake_mem_free(&f);
	free(b);
}

static void test_load_elf_segments_and_bss(void **state)
{
	struct parse_result r;
	struct fake_mem f;
	char err[ERRLEN];
	size_t len;
	uint8_t *b = elf_build(8, &len);

	(void)state;
	parse(b, len, &r);
	assert_int_equal(r.rc, 0);
	fake_mem_init(&f, MIB(32));
	/* Dirty the destination, so bss zeroing is visible. */
	memset(f.buf + ELF_T_SEG0_PADDR - 0x1000, 0xcc, ELF_T_SEG0_MEMSZ + 0x2000);
	memset(f.buf + ELF_T_SEG1_PADDR, 0xcc, ELF_T_SEG1_FILESZ + 0x1000);
	assert_int_equal(kernel_load(&r.k, &f.m, err, sizeof(err)), 0);

	assert_memory_equal(f.buf + ELF_T_SEG0_PADDR, b + ELF_T_SEG0_OFF, ELF_T_SEG0_FILESZ);
	for (uint64_t a = ELF_T_SEG0_PADDR + ELF_T_SEG0_FILESZ;
	     a < ELF_T_SEG0_PADDR + ELF_T_SEG0_MEMSZ; a++)
		assert_int_equal(f.buf[a], 0);
	assert_int_equal(f.buf[ELF_T_SEG0_PADDR - 1], 0xcc);
	assert_int_equal(f.buf[ELF_T_SEG0_PADDR + ELF_T_SEG0_MEMSZ], 0xcc);
	assert_memory_equal(f.buf + ELF_T_SEG1_PADDR, b + ELF_T_SEG1_OFF, ELF_T_SEG1_FILESZ);
	assert_int_equal(f.buf[ELF_T_SEG1_PADDR + ELF_T_SEG1_FILESZ], 0xcc);
	fake_mem_free(&f);
	free(b);
}

static void test_load_elf_does_not_fit(void **state)
{
	struct parse_result r;
	struct fake_mem f;
	char err[ERRLEN];
	size_t len;
	uint8_t *b = elf_build(8, &len);
	Elf64_Phdr *ph = elf_phdr(b, ELF_T_PH_SEG1);

	(void)state;
	fake_mem_init(&f, MIB(32));

	/* Straddling the end of RAM. */
	ph->p_paddr = MIB(32) - 0x800;
	parse(b, len, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(kernel_load(&r.k, &f.m, err, sizeof(err)), -1);
	assert_substr(err, "not in guest RAM above 1 MiB");

	/* Entirely past it. */
	ph->p_paddr = GIB(5);
	parse(b, len, &r);
	assert_int_equal(kernel_load(&r.k, &f.m, err, sizeof(err)), -1);
	assert_substr(err, "not in guest RAM");

	/* Below 1 MiB, over the boot tables. */
	ph->p_paddr = 0x1000;
	parse(b, len, &r);
	assert_int_equal(kernel_load(&r.k, &f.m, err, sizeof(err)), -1);
	assert_substr(err, "[0x1000, 0x2000)");

	fake_mem_free(&f);
	free(b);
}

/* ---- the real test guest ---- */

static void test_real_elf(void **state)
{
	struct parse_result r;
	struct fake_mem f;
	char err[ERRLEN];
	size_t len;
	uint8_t *b = read_file_or_skip(TEST_GUEST_ELF, &len);
	bool entry_in_segment = false;

	(void)state;
	parse(b, len, &r);
	if (r.rc)
		fail_msg("%s: %s", TEST_GUEST_ELF, r.err);
	assert_int_equal(r.k.format, KERNEL_PVH_ELF);
	assert_true(r.k.nr_seg >= 1);
	for (unsigned i = 0; i < r.k.nr_seg; i++) {
		const struct kernel_segment *s = &r.k.seg[i];

		assert_true(s->paddr >= HIGH_MEM_ADDR);
		assert_true(s->paddr + s->memsz <= r.k.end);
		if (r.k.entry >= s->paddr && r.k.entry < s->paddr + s->memsz)
			entry_in_segment = true;
	}
	assert_true(entry_in_segment);
	fake_mem_init(&f, MIB(64));
	assert_int_equal(kernel_load(&r.k, &f.m, err, sizeof(err)), 0);
	for (unsigned i = 0; i < r.k.nr_seg; i++) {
		const struct kernel_segment *s = &r.k.seg[i];

		assert_memory_equal(f.buf + s->paddr, b + s->offset, s->filesz);
	}
	fake_mem_free(&f);
	free(b);
}

static void test_real_bzimage(void **state)
{
	struct parse_result r;
	struct fake_mem f;
	char err[ERRLEN];
	size_t len;
	uint8_t *b = read_file_or_skip(TEST_GUEST_BZ, &len);

	(void)state;
	parse(b, len, &r);
	if (r.rc)
		fail_msg("%s: %s", TEST_GUEST_BZ, r.err);
	assert_int_equal(r.k.format, KERNEL_BZIMAGE);
	assert_true(r.k.protocol >= 0x020c);
	assert_int_equal(r.k.entry, 0x100200);
	assert_int_equal(r.k.setup_len % 512, 0);
	assert_int_equal(r.k.seg[0].offset + r.k.seg[0].filesz, len);
	assert_true(r.k.end >= r.k.seg[0].paddr + r.k.seg[0].filesz);
	fake_mem_init(&f, MIB(64));
	assert_int_equal(kernel_load(&r.k, &f.m, err, sizeof(err)), 0);
	assert_memory_equal(f.buf + 0x100000, b + r.k.setup_len, r.k.seg[0].filesz);
	fake_mem_free(&f);
	/* The same file cut short by a paragraph is caught. */
	expect_reject(b, len - 16, "truncated");
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bz_valid),
	    cmocka_unit_test(test_bz_payload_larger_than_init_size),
	    cmocka_unit_test(test_bz_setup_sects_zero_means_four),
	    cmocka_unit_test(test_bz_protocol_2_12_is_enough),
	    cmocka_unit_test(test_bz_header_end_out_of_range_falls_back),
	    cmocka_unit_test(test_bz_too_short),
	    cmocka_unit_test(test_bz_protocol_too_old),
	    cmocka_unit_test(test_bz_no_64bit_entry),
	    cmocka_unit_test(test_bz_not_loaded_high),
	    cmocka_unit_test(test_bz_truncated_payload),
	    cmocka_unit_test(test_bz_boot_sector_without_hdrs),
	    cmocka_unit_test(test_bz_every_truncation_is_safe),
	    cmocka_unit_test(test_elf_pvh_note_8_bytes),
	    cmocka_unit_test(test_elf_pvh_note_4_bytes),
	    cmocka_unit_test(test_elf_end_is_highest_segment),
	    cmocka_unit_test(test_elf_empty_load_segment_ignored),
	    cmocka_unit_test(test_elf_too_short),
	    cmocka_unit_test(test_elf32_rejected),
	    cmocka_unit_test(test_elf_big_endian_rejected),
	    cmocka_unit_test(test_elf_wrong_machine),
	    cmocka_unit_test(test_elf_program_headers_out_of_file),
	    cmocka_unit_test(test_elf_segment_beyond_file),
	    cmocka_unit_test(test_elf_wrapping_segment),
	    cmocka_unit_test(test_elf_no_load_segment),
	    cmocka_unit_test(test_elf_too_many_segments),
	    cmocka_unit_test(test_elf_no_pvh_note),
	    cmocka_unit_test(test_elf_pvh_note_bad_sizes),
	    cmocka_unit_test(test_elf_wrong_name_ignored),
	    cmocka_unit_test(test_elf_every_truncation_is_safe),
	    cmocka_unit_test(test_empty_file),
	    cmocka_unit_test(test_random_bytes),
	    cmocka_unit_test(test_mutated_images_are_safe),
	    cmocka_unit_test(test_load_bzimage),
	    cmocka_unit_test(test_load_bzimage_init_size_too_big),
	    cmocka_unit_test(test_load_bzimage_payload_not_in_ram),
	    cmocka_unit_test(test_load_elf_segments_and_bss),
	    cmocka_unit_test(test_load_elf_does_not_fit),
	    cmocka_unit_test(test_real_elf),
	    cmocka_unit_test(test_real_bzimage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
