/* SPDX-License-Identifier: MIT */
/*
 * test_bootinfo.c -- e820_build(), initrd_place() and boot_write_info() for
 * both boot paths, on fake guest memory of 32 MiB up to 3.5 GiB.
 */
#include "unit.h"

#define ERRLEN 256

/* ---- e820 ---- */

static uint64_t e820_end(const struct e820_entry *e)
{
	return e->addr + e->size;
}

static bool e820_has(const struct e820_entry *e, unsigned n, uint64_t addr, uint64_t size,
		     uint32_t type)
{
	for (unsigned i = 0; i < n; i++)
		if (e[i].addr == addr && e[i].size == size && e[i].type == type)
			return true;
	return false;
}

/*
 * The properties every map vireo hands a guest of `mem` bytes must have:
 * sorted, non-empty, non-overlapping entries; base memory up to the EBDA;
 * the EBDA/BIOS area and KVM's private pages reserved; RAM summing to `mem`
 * with nothing in the MMIO hole and everything above 3 GiB moved to 4 GiB.
 */
static void check_e820(const struct e820_entry *e, unsigned n, uint64_t mem)
{
	uint64_t ram = 0, ram_low = 0, ram_high = 0;
	uint64_t low = mem < GMEM_HOLE_START ? mem : GMEM_HOLE_START;

	assert_true(n >= 4);
	for (unsigned i = 0; i < n; i++) {
		assert_true(e[i].size > 0);
		assert_true(e[i].type == E820_RAM || e[i].type == E820_RESERVED);
		if (i + 1 < n)
			assert_true(e820_end(&e[i]) <= e[i + 1].addr);
		if (e[i].type != E820_RAM)
			continue;
		ram += e[i].size;
		/* RAM never touches [EBDA, 1 MiB) nor [3 GiB, 4 GiB). */
		assert_true(e820_end(&e[i]) <= EBDA_ADDR || e[i].addr >= HIGH_MEM_ADDR);
		assert_true(e820_end(&e[i]) <= GMEM_HOLE_START || e[i].addr >= GMEM_HOLE_END);
		if (e[i].addr >= GMEM_HOLE_END)
			ram_high += e[i].size;
		else
			ram_low = e820_end(&e[i]);
	}
	assert_true(e820_has(e, n, 0, EBDA_ADDR, E820_RAM));
	assert_true(e820_has(e, n, EBDA_ADDR, HIGH_MEM_ADDR - EBDA_ADDR, E820_RESERVED));
	assert_true(e820_has(e, n, HIGH_MEM_ADDR, low - HIGH_MEM_ADDR, E820_RAM));
	assert_true(e820_has(e, n, KVM_IDENTITY_MAP_ADDR, KVM_PRIVATE_END - KVM_IDENTITY_MAP_ADDR,
			     E820_RESERVED));
	/* The only thing in the hole is KVM's reserved range. */
	for (unsigned i = 0; i < n; i++)
		if (e[i].addr >= GMEM_HOLE_START && e[i].addr < GMEM_HOLE_END)
			assert_int_equal(e[i].addr, KVM_IDENTITY_MAP_ADDR);
	/* RAM lost to the EBDA/BIOS window is the 0x9fc00..1M gap. */
	assert_int_equal(ram, mem - (HIGH_MEM_ADDR - EBDA_ADDR));
	assert_int_equal(ram_low, low);
	assert_int_equal(ram_high, mem > GMEM_HOLE_START ? mem - GMEM_HOLE_START : 0);
}

static void e820_for(uint64_t mem, unsigned expect_n)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	struct fake_mem f;
	unsigned n;

	fake_mem_init(&f, mem);
	n = e820_build(&f.m, e, E820_MAX_ENTRIES);
	assert_int_equal(n, expect_n);
	check_e820(e, n, mem);
	fake_mem_free(&f);
}

static void test_e820_32m(void **state)
{
	(void)state;
	e820_for(MIB(32), 4);
}

static void test_e820_256m(void **state)
{
	(void)state;
	e820_for(MIB(256), 4);
}

static void test_e820_3g_exactly(void **state)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	struct fake_mem f;
	unsigned n;

	(void)state;
	fake_mem_init(&f, GIB(3));
	assert_int_equal(f.m.nr_slots, 1);
	n = e820_build(&f.m, e, E820_MAX_ENTRIES);
	assert_int_equal(n, 4);
	check_e820(e, n, GIB(3));
	for (unsigned i = 0; i < n; i++)
		assert_true(e[i].addr < GMEM_HOLE_END); /* nothing above 4 GiB */
	fake_mem_free(&f);
}

static void test_e820_3500m_spans_hole(void **state)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	struct fake_mem f;
	unsigned n;

	(void)state;
	fake_mem_init(&f, MIB(3500));
	n = e820_build(&f.m, e, E820_MAX_ENTRIES);
	assert_int_equal(n, 5);
	check_e820(e, n, MIB(3500));
	/* The last entry is RAM at 4 GiB holding exactly what did not fit below the hole. */
	assert_int_equal(e[n - 1].addr, GMEM_HOLE_END);
	assert_int_equal(e[n - 1].size, MIB(3500) - GIB(3));
	assert_int_equal(e[n - 1].type, E820_RAM);
	fake_mem_free(&f);
}

static void test_e820_64g_hand_built(void **state)
{
	/* e820_build only reads the slots: a 64 GiB guest needs no memory. */
	struct gmem m = {
	    .nr_slots = 2,
	    .slot = {{.gpa = 0, .size = GIB(3)}, {.gpa = GMEM_HOLE_END, .size = GIB(61)}},
	    .ram_size = GIB(64)};
	struct e820_entry e[E820_MAX_ENTRIES];
	unsigned n;

	(void)state;
	n = e820_build(&m, e, E820_MAX_ENTRIES);
	assert_int_equal(n, 5);
	check_e820(e, n, GIB(64));
}

static void test_e820_respects_max(void **state)
{
	struct e820_entry e[4];
	struct fake_mem f;
	unsigned n;

	(void)state;
	fake_mem_init(&f, MIB(64));
	memset(e, 0xa5, sizeof(e));
	n = e820_build(&f.m, e, 2);
	assert_int_equal(n, 2);
	assert_int_equal(e[0].addr, 0);
	assert_int_equal(e[1].addr, EBDA_ADDR);
	/* Nothing written past max. */
	for (size_t i = 0; i < sizeof(e[2]) * 2; i++)
		assert_int_equal(((uint8_t *)&e[2])[i], 0xa5);
	fake_mem_free(&f);
}

/* ---- initrd placement ---- */

static struct kernel_image bz_kernel(uint32_t init_size, uint32_t initrd_addr_max, uint8_t **file)
{
	struct bz_spec s = bz_default();
	struct kernel_image k;
	char err[ERRLEN];
	size_t len;

	s.init_size = init_size;
	s.initrd_addr_max = initrd_addr_max;
	*file = bz_build(&s, &len);
	if (kernel_parse(*file, len, &k, err, sizeof(err)))
		fail_msg("kernel_parse: %s", err);
	return k;
}

static void test_initrd_top_of_low_ram(void **state)
{
	uint8_t *file;
	struct kernel_image k = bz_kernel(0x40000, 0x7fffffff, &file);
	struct fake_mem f;
	char err[ERRLEN];
	uint64_t addr = 0, size = MIB(1) + 1;

	(void)state;
	fake_mem_init(&f, MIB(256));
	assert_int_equal(initrd_place(&k, &f.m, size, &addr, err, sizeof(err)), 0);
	assert_int_equal(addr % 4096, 0);
	assert_true(addr + size <= MIB(256));
	/* As high as possible: one page higher would not fit. */
	assert_true(addr + 4096 + size > MIB(256));
	assert_int_equal(addr, 0x0feff000);
	assert_true(addr >= k.end);
	fake_mem_free(&f);
	free(file);
}

static void test_initrd_respects_addr_max(void **state)
{
	uint8_t *file;
	struct kernel_image k = bz_kernel(0x40000, 0x07ffffff, &file); /* last byte below 128 MiB */
	struct fake_mem f;
	char err[ERRLEN];
	uint64_t addr = 0;

	(void)state;
	fake_mem_init(&f, MIB(256));
	assert_int_equal(initrd_place(&k, &f.m, MIB(1), &addr, err, sizeof(err)), 0);
	assert_int_equal(addr, MIB(128) - MIB(1));
	free(file);

	/* An initrd_addr_max that is not page aligned still bounds the last byte. */
	k = bz_kernel(0x40000, 0x07ffff7f, &file);
	assert_int_equal(initrd_place(&k, &f.m, 0x1800, &addr, err, sizeof(err)), 0);
	assert_int_equal(addr % 4096, 0);
	assert_true(addr + 0x1800 - 1 <= 0x07ffff7f);
	assert_int_equal(addr, 0x07fff000 - 0x2000);
	free(file);

	/* A limit above RAM changes nothing. */
	k = bz_kernel(0x40000, 0xffffffff, &file);
	assert_int_equal(initrd_place(&k, &f.m, MIB(1), &addr, err, sizeof(err)), 0);
	assert_int_equal(addr, MIB(255));
	fake_mem_free(&f);
	free(file);
}

static void test_initrd_below_hole_on_big_guest(void **state)
{
	uint8_t *file;
	struct kernel_image k = bz_kernel(0x40000, 0xffffffff, &file);
	struct fake_mem f;
	char err[ERRLEN];
	uint64_t addr = 0;

	(void)state;
	fake_mem_init(&f, MIB(3500));
	assert_int_equal(initrd_place(&k, &f.m, MIB(16), &addr, err, sizeof(err)), 0);
	/* Top of low RAM, not in the hole even though the kernel allows 4 GiB. */
	assert_int_equal(addr, GMEM_HOLE_START - MIB(16));
	fake_mem_free(&f);
	free(file);
}

static void test_initrd_above_kernel_or_error(void **state)
{
	uint8_t *file;
	/* A kernel that needs 200 MiB from 1 MiB up: it ends at 201 MiB. */
	struct kernel_image k = bz_kernel((uint32_t)MIB(200), 0x7fffffff, &file);
	struct fake_mem f;
	char err[ERRLEN];
	uint64_t addr = 0, room;

	(void)state;
	fake_mem_init(&f, MIB(256));
	room = MIB(256) - ALIGN_UP(k.end, 4096);
	assert_int_equal(initrd_place(&k, &f.m, MIB(50), &addr, err, sizeof(err)), 0);
	assert_true(addr >= k.end);
	/* Exactly the room between kernel and top fits, right above the kernel. */
	assert_int_equal(initrd_place(&k, &f.m, room, &addr, err, sizeof(err)), 0);
	assert_int_equal(addr, ALIGN_UP(k.end, 4096));
	/* One byte more does not. */
	addr = 0x1234;
	assert_int_equal(initrd_place(&k, &f.m, room + 1, &addr, err, sizeof(err)), -1);
	assert_substr(err, "does not fit");
	assert_int_equal(addr, 0x1234); /* untouched on failure */
	assert_int_equal(initrd_place(&k, &f.m, MIB(60), &addr, err, sizeof(err)), -1);
	assert_substr(err, "does not fit");
	/* Larger than all of RAM. */
	assert_int_equal(initrd_place(&k, &f.m, GIB(1), &addr, err, sizeof(err)), -1);
	assert_substr(err, "does not fit");
	fake_mem_free(&f);
	free(file);
}

static void test_initrd_pvh_limit(void **state)
{
	size_t len;
	uint8_t *file = elf_build(8, &len);
	struct kernel_image k;
	struct fake_mem f;
	char err[ERRLEN];
	uint64_t addr = 0;

	(void)state;
	assert_int_equal(kernel_parse(file, len, &k, err, sizeof(err)), 0);
	fake_mem_init(&f, MIB(64));
	assert_int_equal(initrd_place(&k, &f.m, 5000, &addr, err, sizeof(err)), 0);
	assert_int_equal(addr, MIB(64) - 0x2000);
	assert_true(addr >= k.end);
	fake_mem_free(&f);
	free(file);
}

/* ---- boot_write_info: bzImage ---- */

static bool in_range(size_t off, size_t start, size_t len)
{
	return off >= start && off < start + len;
}

static void test_boot_params_bzimage(void **state)
{
	static const char cmdline[] = "console=ttyS0 root=/dev/vda rw";
	struct bz_spec s = bz_default();
	struct e820_entry e[E820_MAX_ENTRIES];
	struct kernel_image k;
	struct fake_mem f;
	char err[ERRLEN];
	size_t len;
	uint8_t *file, *bp;
	uint64_t initrd_addr, initrd_size = 0x123456;
	unsigned n;

	(void)state;
	file = bz_build(&s, &len);
	assert_int_equal(kernel_parse(file, len, &k, err, sizeof(err)), 0);
	fake_mem_init(&f, MIB(256));
	memset(fake_at(&f, BOOT_ZEROPAGE_ADDR, BP_SIZE), 0xaa, BP_SIZE); /* stale contents */
	n = e820_build(&f.m, e, E820_MAX_ENTRIES);
	assert_int_equal(initrd_place(&k, &f.m, initrd_size, &initrd_addr, err, sizeof(err)), 0);
	{
		struct boot_info bi = {.cmdline = cmdline,
				       .initrd_addr = initrd_addr,
				       .initrd_size = initrd_size,
				       .e820 = e,
				       .nr_e820 = n,
				       .rsdp_addr = 0xe0000};

		if (boot_write_info(&k, &f.m, &bi, err, sizeof(err)))
			fail_msg("boot_write_info: %s", err);
	}
	bp = fake_at(&f, BOOT_ZEROPAGE_ADDR, BP_SIZE);

	/* Loader-owned fields. */
	assert_int_equal(bp[BP_TYPE_OF_LOADER], 0xff);
	assert_int_equal(get32(bp, BP_CMD_LINE_PTR), BOOT_CMDLINE_ADDR);
	assert_int_equal(get32(bp, BP_EXT_CMD_LINE_PTR), 0);
	assert_int_equal(get32(bp, BP_RAMDISK_IMAGE), initrd_addr);
	assert_int_equal(get32(bp, BP_RAMDISK_SIZE), initrd_size);
	assert_int_equal(get32(bp, BP_EXT_RAMDISK_IMAGE), 0);
	assert_int_equal(get32(bp, BP_EXT_RAMDISK_SIZE), 0);
	assert_int_equal(bp[BP_E820_ENTRIES], n);
	assert_memory_equal(bp + BP_E820_TABLE, e, n * sizeof(e[0]));
	assert_int_equal(get64(bp, BP_ACPI_RSDP_ADDR), 0xe0000);

	/* Every other byte: the image's setup header, or zero. */
	for (size_t off = 0; off < BP_SIZE; off++) {
		if (off == BP_TYPE_OF_LOADER || in_range(off, BP_CMD_LINE_PTR, 4) ||
		    in_range(off, BP_RAMDISK_IMAGE, 8) || in_range(off, BP_EXT_RAMDISK_IMAGE, 12) ||
		    off == BP_E820_ENTRIES || in_range(off, BP_E820_TABLE, n * sizeof(e[0])) ||
		    in_range(off, BP_ACPI_RSDP_ADDR, 8))
			continue;
		if (off >= BP_SETUP_SECTS && off < k.hdr_end) {
			if (bp[off] != file[off])
				fail_msg("boot_params[0x%zx] = 0x%02x, image has 0x%02x", off,
					 bp[off], file[off]);
		} else if (bp[off] != 0) {
			fail_msg("boot_params[0x%zx] = 0x%02x, expected 0", off, bp[off]);
		}
	}
	/* Spot checks that the header really is the image's. */
	assert_int_equal(get32(bp, BP_HEADER), HDRS_MAGIC);
	assert_int_equal(get16(bp, BP_VERSION), 0x020f);
	assert_int_equal(get16(bp, BP_BOOT_FLAG), 0xaa55);
	assert_int_equal(get32(bp, BP_INIT_SIZE), 0x40000);

	assert_string_equal((const char *)fake_at(&f, BOOT_CMDLINE_ADDR, sizeof(cmdline)), cmdline);
	fake_mem_free(&f);
	free(file);
}

static void test_boot_params_no_initrd_no_cmdline(void **state)
{
	struct bz_spec s = bz_default();
	struct e820_entry e[E820_MAX_ENTRIES];
	struct kernel_image k;
	struct fake_mem f;
	char err[ERRLEN];
	size_t len;
	uint8_t *file, *bp;

	(void)state;
	file = bz_build(&s, &len);
	assert_int_equal(kernel_parse(file, len, &k, err, sizeof(err)), 0);
	fake_mem_init(&f, MIB(32));
	memset(fake_at(&f, BOOT_CMDLINE_ADDR, 16), 'x', 16);
	{
		struct boot_info bi = {.e820 = e, .nr_e820 = e820_build(&f.m, e, E820_MAX_ENTRIES)};

		assert_int_equal(boot_write_info(&k, &f.m, &bi, err, sizeof(err)), 0);
	}
	bp = fake_at(&f, BOOT_ZEROPAGE_ADDR, BP_SIZE);
	assert_int_equal(get32(bp, BP_RAMDISK_IMAGE), 0);
	assert_int_equal(get32(bp, BP_RAMDISK_SIZE), 0);
	assert_int_equal(bp[BP_E820_ENTRIES], 4);
	/* A NULL command line is an empty one. */
	assert_int_equal(*fake_at(&f, BOOT_CMDLINE_ADDR, 1), '\0');
	fake_mem_free(&f);
	free(file);
}

static void test_cmdline_too_long(void **state)
{
	struct bz_spec s = bz_default();
	struct e820_entry e[E820_MAX_ENTRIES];
	struct kernel_image k;
	struct fake_mem f;
	char err[ERRLEN];
	size_t len;
	uint8_t *file;
	struct boot_info bi = {.e820 = e};

	(void)state;
	s.cmdline_size = 16;
	file = bz_build(&s, &len);
	assert_int_equal(kernel_parse(file, len, &k, err, sizeof(err)), 0);
	fake_mem_init(&f, MIB(32));
	bi.nr_e820 = e820_build(&f.m, e, E820_MAX_ENTRIES);

	bi.cmdline = "0123456789abcdefg"; /* 17 */
	assert_int_equal(boot_write_info(&k, &f.m, &bi, err, sizeof(err)), -1);
	assert_substr(err, "command line is 17 bytes; this kernel accepts at most 16");
	bi.cmdline = "0123456789abcdef"; /* 16: exactly cmdline_size */
	assert_int_equal(boot_write_info(&k, &f.m, &bi, err, sizeof(err)), 0);
	assert_string_equal((const char *)fake_at(&f, BOOT_CMDLINE_ADDR, 17), bi.cmdline);
	fake_mem_free(&f);
	free(file);
}

static void test_cmdline_too_long_pvh(void **state)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	struct kernel_image k;
	struct fake_mem f;
	char err[ERRLEN];
	size_t len;
	uint8_t *file = elf_build(8, &len);
	char *cmd = malloc(BOOT_CMDLINE_MAX + 1);
	struct boot_info bi = {.e820 = e, .cmdline = cmd};

	(void)state;
	assert_non_null(cmd);
	assert_int_equal(kernel_parse(file, len, &k, err, sizeof(err)), 0);
	fake_mem_init(&f, MIB(32));
	bi.nr_e820 = e820_build(&f.m, e, E820_MAX_ENTRIES);
	/* The command line area holds BOOT_CMDLINE_MAX bytes with the NUL. */
	memset(cmd, 'a', BOOT_CMDLINE_MAX);
	cmd[BOOT_CMDLINE_MAX] = '\0';
	assert_int_equal(boot_write_info(&k, &f.m, &bi, err, sizeof(err)), -1);
	assert_substr(err, "accepts at most");
	cmd[BOOT_CMDLINE_MAX - 1] = '\0';
	assert_int_equal(boot_write_info(&k, &f.m, &bi, err, sizeof(err)), 0);
	assert_int_equal(strlen((const char *)fake_at(&f, BOOT_CMDLINE_ADDR, BOOT_CMDLINE_MAX)),
			 BOOT_CMDLINE_MAX - 1);
	free(cmd);
	fake_mem_free(&f);
	free(file);
}

/* ---- boot_write_info: PVH ---- */

static void check_memmap(struct fake_mem *f, const struct e820_entry *e, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct hvm_memmap_table_entry me;

		assert_true(
		    gmem_read(&f->m, gpa(BOOT_PVH_MEMMAP_ADDR + i * sizeof(me)), &me, sizeof(me)));
		assert_int_equal(me.addr, e[i].addr);
		assert_int_equal(me.size, e[i].size);
		assert_int_equal(me.type, e[i].type);
		assert_int_equal(me.reserved, 0);
	}
}

static void test_start_info_pvh(void **state)
{
	static const char cmdline[] = "console=ttyS0 test=pvh";
	struct e820_entry e[E820_MAX_ENTRIES];
	struct hvm_start_info si;
	struct hvm_modlist_entry mod;
	struct kernel_image k;
	struct fake_mem f;
	char err[ERRLEN];
	size_t len;
	uint8_t *file = elf_build(8, &len);
	uint64_t initrd_addr;
	unsigned n;

	(void)state;
	assert_int_equal(kernel_parse(file, len, &k, err, sizeof(err)), 0);
	/* Spanning the hole, so the memmap has RAM above 4 GiB. */
	fake_mem_init(&f, MIB(3500));
	n = e820_build(&f.m, e, E820_MAX_ENTRIES);
	assert_int_equal(n, 5);
	assert_int_equal(initrd_place(&k, &f.m, MIB(3), &initrd_addr, err, sizeof(err)), 0);
	{
		struct boot_info bi = {.cmdline = cmdline,
				       .initrd_addr = initrd_addr,
				       .initrd_size = MIB(3),
				       .e820 = e,
				       .nr_e820 = n,
				       .rsdp_addr = 0xe0000};

		if (boot_write_info(&k, &f.m, &bi, err, sizeof(err)))
			fail_msg("boot_write_info: %s", err);
	}
	assert_true(gmem_read(&f.m, gpa(BOOT_ZEROPAGE_ADDR), &si, sizeof(si)));
	assert_int_equal(si.magic, HVM_START_MAGIC);
	assert_int_equal(si.version, 1);
	assert_int_equal(si.flags, 0);
	assert_int_equal(si.cmdline_paddr, BOOT_CMDLINE_ADDR);
	assert_int_equal(si.rsdp_paddr, 0xe0000);
	assert_int_equal(si.memmap_paddr, BOOT_PVH_MEMMAP_ADDR);
	assert_int_equal(si.memmap_entries, n);
	assert_int_equal(si.nr_modules, 1);
	assert_int_equal(si.modlist_paddr, BOOT_PVH_MODLIST_ADDR);

	assert_true(gmem_read(&f.m, gpa(si.modlist_paddr), &mod, sizeof(mod)));
	assert_int_equal(mod.paddr, initrd_addr);
	assert_int_equal(mod.size, MIB(3));
	assert_int_equal(mod.cmdline_paddr, 0);
	assert_int_equal(mod.reserved, 0);

	check_memmap(&f, e, n);
	assert_string_equal((const char *)fake_at(&f, si.cmdline_paddr, sizeof(cmdline)), cmdline);
	/* The structures do not overlap each other. */
	assert_true(BOOT_ZEROPAGE_ADDR + sizeof(si) <= BOOT_PVH_MODLIST_ADDR);
	assert_true(BOOT_PVH_MODLIST_ADDR + sizeof(mod) <= BOOT_PVH_MEMMAP_ADDR);
	fake_mem_free(&f);
	free(file);
}

static void test_start_info_pvh_no_initrd(void **state)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	struct hvm_start_info si;
	struct kernel_image k;
	struct fake_mem f;
	char err[ERRLEN];
	size_t len;
	uint8_t *file = elf_build(4, &len);
	unsigned n;

	(void)state;
	assert_int_equal(kernel_parse(file, len, &k, err, sizeof(err)), 0);
	fake_mem_init(&f, MIB(64));
	memset(fake_at(&f, BOOT_ZEROPAGE_ADDR, 0x1000), 0xaa, 0x1000);
	n = e820_build(&f.m, e, E820_MAX_ENTRIES);
	{
		struct boot_info bi = {.cmdline = "x", .e820 = e, .nr_e820 = n};

		assert_int_equal(boot_write_info(&k, &f.m, &bi, err, sizeof(err)), 0);
	}
	assert_true(gmem_read(&f.m, gpa(BOOT_ZEROPAGE_ADDR), &si, sizeof(si)));
	assert_int_equal(si.magic, HVM_START_MAGIC);
	assert_int_equal(si.nr_modules, 0);
	assert_int_equal(si.modlist_paddr, 0);
	assert_int_equal(si.reserved, 0);
	assert_int_equal(si.memmap_entries, 4);
	check_memmap(&f, e, n);
	fake_mem_free(&f);
	free(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_e820_32m),
	    cmocka_unit_test(test_e820_256m),
	    cmocka_unit_test(test_e820_3g_exactly),
	    cmocka_unit_test(test_e820_3500m_spans_hole),
	    cmocka_unit_test(test_e820_64g_hand_built),
	    cmocka_unit_test(test_e820_respects_max),
	    cmocka_unit_test(test_initrd_top_of_low_ram),
	    cmocka_unit_test(test_initrd_respects_addr_max),
	    cmocka_unit_test(test_initrd_below_hole_on_big_guest),
	    cmocka_unit_test(test_initrd_above_kernel_or_error),
	    cmocka_unit_test(test_initrd_pvh_limit),
	    cmocka_unit_test(test_boot_params_bzimage),
	    cmocka_unit_test(test_boot_params_no_initrd_no_cmdline),
	    cmocka_unit_test(test_cmdline_too_long),
	    cmocka_unit_test(test_cmdline_too_long_pvh),
	    cmocka_unit_test(test_start_info_pvh),
	    cmocka_unit_test(test_start_info_pvh_no_initrd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
