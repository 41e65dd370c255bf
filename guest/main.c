// SPDX-License-Identifier: MIT
/*
 * main.c -- the CPL3 entry: normalize the boot information of either boot
 * path, parse the command line, run the workloads, report, exit.
 */
#include "guest.h"

struct boot_info boot;

static char fail_reason[256];

/* ---- Boot information ------------------------------------------------------ */

/* struct boot_params offsets (Linux arch/x86/include/uapi/asm/bootparam.h). */
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES	    0x1e8
#define BP_CMD_LINE_PTR	    0x228
#define BP_E820_TABLE	    0x2d0
#define BP_E820_MAX	    128

/* struct hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h). */
#define HVM_START_MAGIC	      0x336ec578u
#define HVM_MAGIC	      0x00
#define HVM_VERSION	      0x04
#define HVM_CMDLINE_PADDR     0x18
#define HVM_MEMMAP_PADDR      0x28
#define HVM_MEMMAP_ENTRIES    0x30
#define HVM_MEMMAP_ENTRY_SIZE 24

#define FOUR_GIB 0x100000000ull

static void copy_cmdline(uint64_t pa)
{
	size_t n = 0;

	if (pa == 0)
		return;
	if (pa >= FOUR_GIB)
		fail_exit(EXIT_BOOT, "command line at 0x%lx, above the 4 GiB we map", pa);
	while (n < CMDLINE_MAX - 1 && pa + n < FOUR_GIB) {
		char c = (char)phys_read8(pa + n);

		if (!c)
			break;
		boot.cmdline[n++] = c;
	}
	boot.cmdline[n] = '\0';
}

static void add_mem(uint64_t addr, uint64_t size, uint32_t type)
{
	if (boot.nr_mem < MEMMAP_MAX)
		boot.mem[boot.nr_mem++] = (struct mem_range){addr, size, type};
}

static void boot_from_pvh(uint64_t info)
{
	uint32_t magic = phys_read32(info + HVM_MAGIC);
	uint32_t version = phys_read32(info + HVM_VERSION);

	boot.name = "pvh";
	if (magic != HVM_START_MAGIC)
		fail_exit(EXIT_BOOT, "bad hvm_start_info magic 0x%x at 0x%lx", magic, info);
	copy_cmdline(phys_read64(info + HVM_CMDLINE_PADDR));
	if (version >= 1) {
		uint64_t map = phys_read64(info + HVM_MEMMAP_PADDR);
		uint32_t n = phys_read32(info + HVM_MEMMAP_ENTRIES);

		for (uint32_t i = 0; map && i < n; i++) {
			uint64_t e = map + (uint64_t)i * HVM_MEMMAP_ENTRY_SIZE;

			add_mem(phys_read64(e), phys_read64(e + 8), phys_read32(e + 16));
		}
	}
}

static void boot_from_linux(uint64_t bp)
{
	uint64_t cmd = phys_read32(bp + BP_CMD_LINE_PTR) |
		       (uint64_t)phys_read32(bp + BP_EXT_CMD_LINE_PTR) << 32;
	unsigned n = phys_read8(bp + BP_E820_ENTRIES);

	if (n > BP_E820_MAX)
		n = BP_E820_MAX;
	copy_cmdline(cmd);
	for (unsigned i = 0; i < n; i++) {
		uint64_t e = bp + BP_E820_TABLE + 20ull * i;

		add_mem(phys_read64(e), phys_read64(e + 8), phys_read32(e + 16));
	}
}

bool mem_is_ram(uint64_t addr, uint64_t len)
{
	for (unsigned i = 0; i < boot.nr_mem; i++) {
		const struct mem_range *m = &boot.mem[i];

		if (m->type == 1 && addr >= m->addr && addr + len <= m->addr + m->size)
			return true;
	}
	return false;
}

/* ---- Command line ------------------------------------------------------------ */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool cmdline_get(const char *key, const char **val, size_t *len)
{
	size_t klen = strlen(key);
	const char *p = boot.cmdline;
	bool found = false;

	/* The last occurrence wins, as in Linux. */
	while (*p) {
		while (is_space(*p))
			p++;
		const char *tok = p;

		while (*p && !is_space(*p))
			p++;
		if ((size_t)(p - tok) > klen && memcmp(tok, key, klen) == 0 && tok[klen] == '=') {
			*val = tok + klen + 1;
			*len = (size_t)(p - tok) - klen - 1;
			found = true;
		}
	}
	return found;
}

uint64_t cmdline_u64(const char *key, uint64_t def)
{
	const char *v;
	size_t len;
	uint64_t n;

	if (!cmdline_get(key, &v, &len))
		return def;
	if (!parse_u64(v, len, &n))
		fail_exit(EXIT_USAGE, "bad value for %s (want a number)", key);
	return n;
}

bool cmdline_is(const char *key, const char *value)
{
	const char *v;
	size_t len;

	return cmdline_get(key, &v, &len) && len == strlen(value) && memcmp(v, value, len) == 0;
}

bool cmdline_list_has(const char *key, const char *name)
{
	size_t len, n = strlen(name), start = 0;
	const char *v;

	if (!cmdline_get(key, &v, &len))
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && v[i] != ',')
			continue;
		if (i - start == n && memcmp(v + start, name, n) == 0)
			return true;
		start = i + 1;
	}
	return false;
}

/* ---- Exit and failure ------------------------------------------------------------ */

NORETURN void guest_exit(unsigned code)
{
	outb(VIREO_PORT_DEBUG_EXIT, (uint8_t)code);
	/* Still here: no debug-exit device. Stop for good. */
	if (current_cpl() == 0) {
		for (;;)
			__asm__ volatile("cli; hlt");
	}
	sys_halt();
}

NORETURN void fail_exit(unsigned code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(fail_reason, sizeof(fail_reason), fmt, ap);
	va_end(ap);
	kprintf("FAIL: %s\n", fail_reason);
	guest_exit(code);
}

int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(fail_reason, sizeof(fail_reason), fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- Traps (CPL0) ----------------------------------------------------------------- */

struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

/* Called by isr_common at CPL0 for every exception and unexpected interrupt. */
NORETURN void trap_fatal(struct trap_frame *f);

NORETURN void trap_fatal(struct trap_frame *f)
{
	static const char *const names[] = {
	    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
	    "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
	};
	const char *name = f->vector < ARRAY_SIZE(names) ? names[f->vector] : "interrupt";
	uint64_t cr2;

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	console_break_lock();
	kprintf("\nFAIL: CPU exception vector=%lu (%s) error=0x%lx rip=0x%lx cs=0x%lx "
		"rflags=0x%lx rsp=0x%lx cr2=0x%lx\n",
		f->vector, name, f->error, f->rip, f->cs, f->rflags, f->rsp, cr2);
	kprintf("  rax=%lx rbx=%lx rcx=%lx rdx=%lx rsi=%lx rdi=%lx rbp=%lx\n", f->rax, f->rbx,
		f->rcx, f->rdx, f->rsi, f->rdi, f->rbp);
	guest_exit(EXIT_TRAP);
}

/* ---- Workloads ------------------------------------------------------------------------ */

struct workload {
	const char *name;
	int (*run)(void);
};

static const struct workload workloads[] = {
    {"hello", run_hello},
    {"msrs", run_msrs},
    {"pio", run_pio},
    {"quiet-pio", run_quiet_pio},
    {"timer", run_timer},
    {"smp", run_smp},
    {"kvmclock", run_kvmclock},
    {"gate", run_gate},
    {"rtc", run_rtc},
    {"trap", run_trap},
    {"reset", run_reset},
    {"echo", run_echo},
    {"blk-verify", run_blk_verify},
    {"blk-read", run_blk_read},
    {"blk-write", run_blk_write},
    {"blk-bad", run_blk_bad},
    {"blk-ro", run_blk_ro},
    {"rng", run_rng},
    {"console", run_console},
    {"net-tx", run_net_tx},
    {"net-rx", run_net_rx},
    {"net-echo", run_net_echo},
    {"net-bad", run_net_bad},
    {"memtouch", run_memtouch},
    {"clock", run_clock},
    {"ipi", run_ipi},
    {"tlb-shootdown", run_tlb_shootdown},
};

static const struct workload *find_workload(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(workloads); i++)
		if (strlen(workloads[i].name) == len && memcmp(workloads[i].name, name, len) == 0)
			return &workloads[i];
	return NULL;
}

/* Split "a,b,c" into at most `max` workloads; exits on an unknown name. */
static size_t parse_tests(const char *v, size_t len, const struct workload **out, size_t max)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && v[i] != ',')
			continue;
		const struct workload *w = find_workload(v + start, i - start);

		if (!w) {
			char name[64];
			size_t l = i - start < sizeof(name) - 1 ? i - start : sizeof(name) - 1;

			memcpy(name, v + start, l);
			name[l] = '\0';
			fail_exit(EXIT_USAGE, "unknown test %s", name);
		}
		if (n == max)
			fail_exit(EXIT_USAGE, "more than %zu tests", max);
		out[n++] = w;
		start = i + 1;
	}
	return n;
}

/* Called from user_entry (entry.S) at CPL3 with .bss zeroed. */
NORETURN void guest_main(uint32_t type, uint64_t info);

NORETURN void guest_main(uint32_t type, uint64_t info)
{
	const struct workload *tests[8];
	const char *v;
	size_t len, n;

	boot.type = type;
	if (type == BOOT_PVH) {
		boot_from_pvh(info);
	} else {
		boot.name = type == BOOT_LINUX64 ? "bzimage" : "bzimage32";
		boot_from_linux(info);
	}

	kprintf("\nvireo test guest: boot=%s cmdline=\"%s\"\n", boot.name, boot.cmdline);
	uint64_t ram = 0;

	for (unsigned i = 0; i < boot.nr_mem; i++) {
		if (boot.mem[i].type == 1)
			ram += boot.mem[i].size;
		if (cmdline_is("verbose", "1"))
			kprintf("memmap: 0x%016lx-0x%016lx type %u\n", boot.mem[i].addr,
				boot.mem[i].addr + boot.mem[i].size - 1, boot.mem[i].type);
	}
	kprintf("memmap: %u entries, %lu KiB RAM\n", boot.nr_mem, ram >> 10);

	if (!cmdline_get("test", &v, &len) || len == 0)
		fail_exit(EXIT_USAGE, "no test= on the command line");
	n = parse_tests(v, len, tests, ARRAY_SIZE(tests));

	time_init();

	for (size_t i = 0; i < n; i++) {
		if (tests[i]->run() != 0)
			fail_exit(EXIT_FAIL, "%s", fail_reason);
	}
	kprintf("SUCCESS\n");
	guest_exit(EXIT_OK);
}
