/* SPDX-License-Identifier: MIT */
/*
 * guest.h -- the test guest's internal interfaces.
 *
 * All C code runs at CPL3 on an identity map of the first 4 GiB, except
 * trap_fatal(), which the CPL0 interrupt stubs call. CPL3 runs with
 * interrupts on and never uses cli/sti; port I/O is allowed by IOPL 3 and by
 * the TSS I/O bitmap (layout.h says why both). Privileged work goes through
 * the int $0x80 gate (sys_*()).
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vireo/abi/guest_abi.h"
#include "layout.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NORETURN      __attribute__((noreturn))
#define PRINTF(f, a)  __attribute__((format(printf, f, a)))

/* Exit codes written to VIREO_PORT_DEBUG_EXIT (status = (code << 1) | 1). */
#define EXIT_OK	   0 /* every workload passed */
#define EXIT_FAIL  1 /* a workload failed */
#define EXIT_USAGE 2 /* bad command line: unknown test, bad value */
#define EXIT_TRAP  3 /* unexpected exception or interrupt */
#define EXIT_BOOT  4 /* bad boot information, no usable clock */

/* ---- CPU helpers (usable at CPL3) ------------------------------------------ */

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

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* rdtsc not executed before earlier loads (Linux's rdtsc_ordered). */
static inline uint64_t rdtsc_ordered(void)
{
	uint32_t lo, hi;
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

struct cpuid {
	uint32_t eax, ebx, ecx, edx;
};

/*
 * CPUID as the VMM set it, through the gate: CPUID at CPL0 always reaches
 * KVM, while a KVM that runs CPL3 natively (PVM) does not intercept it
 * there, and CPL3 would see the host CPU's values.
 */
static inline struct cpuid cpuid(uint32_t leaf, uint32_t subleaf)
{
	struct cpuid r;
	__asm__ volatile("int $0x80"
			 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
			 : "a"(SYS_CPUID), "D"(leaf), "S"(subleaf)
			 : "memory");
	return r;
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

static inline void barrier(void)
{
	__asm__ volatile("" ::: "memory");
}

/* Full fence: orders earlier stores before later loads (virtio_mb). */
static inline void mb(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline unsigned current_cpl(void)
{
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return cs & 3;
}

/*
 * A pointer to physical address `pa` (identity mapped below 4 GiB). The asm
 * hides the constant from the compiler, which otherwise warns about
 * dereferencing small constant addresses such as 0x40e.
 */
static inline void *phys(uint64_t pa)
{
	__asm__("" : "+r"(pa));
	return (void *)(uintptr_t)pa;
}

static inline uint8_t phys_read8(uint64_t pa)
{
	return *(volatile uint8_t *)phys(pa);
}

static inline uint16_t phys_read16(uint64_t pa)
{
	return *(volatile uint16_t *)phys(pa);
}

static inline uint32_t phys_read32(uint64_t pa)
{
	return *(volatile uint32_t *)phys(pa);
}

static inline uint64_t phys_read64(uint64_t pa)
{
	return *(volatile uint64_t *)phys(pa);
}

static inline void phys_write8(uint64_t pa, uint8_t v)
{
	*(volatile uint8_t *)phys(pa) = v;
}

static inline void phys_write16(uint64_t pa, uint16_t v)
{
	*(volatile uint16_t *)phys(pa) = v;
}

static inline void phys_write32(uint64_t pa, uint32_t v)
{
	*(volatile uint32_t *)phys(pa) = v;
}

/* ---- The CPL0 gate -------------------------------------------------------- */

/*
 * Wait for an interrupt without losing one: read irq_seq_now() *before*
 * checking the condition, then pass it here. The gate sleeps only if no
 * interrupt has come since, so one that lands between the check and the
 * call just makes this return at once.
 */
static inline void sys_wait_irq(uint32_t seen)
{
	__asm__ volatile("int $0x80" : : "a"(SYS_WAIT_IRQ), "S"(seen) : "memory");
}

/* Timer and MSI-X interrupts taken so far (entry.S). */
extern volatile uint32_t irq_seq;

static inline uint32_t irq_seq_now(void)
{
	return irq_seq;
}

NORETURN static inline void sys_halt(void)
{
	__asm__ volatile("int $0x80" : : "a"(SYS_HALT) : "memory");
	__builtin_unreachable();
}

/* KVM hypercall `nr` (KVM_HC_*) with up to four arguments; KVM's return value. */
static inline long sys_hypercall(uint32_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	long r;
	__asm__ volatile("int $0x80"
			 : "=a"(r), "+b"(a0), "+c"(a1), "+d"(a2), "+S"(a3)
			 : "0"((uint64_t)SYS_HYPERCALL), "D"(nr)
			 : "memory");
	return r;
}

static inline void sys_wrmsr(uint32_t msr, uint64_t v)
{
	uint64_t nr = SYS_WRMSR;
	__asm__ volatile("int $0x80" : "+a"(nr) : "D"(msr), "S"(v) : "rcx", "rdx", "memory");
}

static inline uint64_t sys_rdmsr(uint32_t msr)
{
	uint64_t v = SYS_RDMSR;
	__asm__ volatile("int $0x80" : "+a"(v) : "D"(msr) : "rcx", "rdx", "memory");
	return v;
}

/* Port I/O permission of the caller: IOPL 0 leaves only the TSS bitmap. */
static inline void sys_set_iopl(unsigned iopl)
{
	__asm__ volatile("int $0x80" : "+D"(iopl) : "a"(SYS_SET_IOPL) : "memory");
}

/* ---- lib.c ----------------------------------------------------------------- */

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
/* Parse a decimal (or 0x hex) number of exactly `len` characters. */
bool parse_u64(const char *s, size_t len, uint64_t *out);

/* ---- console.c: COM1, polled ----------------------------------------------- */

void kprintf(const char *fmt, ...) PRINTF(1, 2);
void kvprintf(const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t len, const char *fmt, ...) PRINTF(3, 4);
int kvsnprintf(char *buf, size_t len, const char *fmt, va_list ap);
/* Print without taking the console lock (trap path). */
void console_break_lock(void);

/* ---- main.c ----------------------------------------------------------------- */

#define CMDLINE_MAX 4096 /* with the NUL; the bzImage header says 4095 */
#define MEMMAP_MAX  128

struct mem_range {
	uint64_t addr;
	uint64_t size;
	uint32_t type; /* e820: 1 = RAM */
};

struct boot_info {
	unsigned type; /* BOOT_PVH, BOOT_LINUX64, BOOT_LINUX32 */
	const char *name;
	char cmdline[CMDLINE_MAX];
	unsigned nr_mem;
	struct mem_range mem[MEMMAP_MAX];
};

extern struct boot_info boot;

/* Is [addr, addr + len) inside one RAM range of the memory map? */
bool mem_is_ram(uint64_t addr, uint64_t len);

/*
 * Command line access. cmdline_u64() returns `def` when the key is absent and
 * fails the run (usage) when the value is not a number.
 */
bool cmdline_get(const char *key, const char **val, size_t *len);
uint64_t cmdline_u64(const char *key, uint64_t def);
bool cmdline_is(const char *key, const char *value);
/* Is `name` one of the comma-separated items of key's value (lenient=a,b)? */
bool cmdline_list_has(const char *key, const char *name);

NORETURN void guest_exit(unsigned code);
NORETURN void fail_exit(unsigned code, const char *fmt, ...) PRINTF(2, 3);

/* Workloads return 0 on success or set a reason with fail(). */
int fail(const char *fmt, ...) PRINTF(1, 2);

/* ---- time.c ----------------------------------------------------------------- */

struct pvclock_vcpu_time_info {
	uint32_t version;
	uint32_t pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags;
	uint8_t pad[2];
} __attribute__((aligned(32)));

#define PVCLOCK_TSC_STABLE_BIT 0x01

extern uint64_t tsc_khz;

/* Determine the TSC frequency (kvmclock, CPUID 0x15/0x16, or the PIT). */
void time_init(void);
uint64_t tsc_to_ns(uint64_t ticks);
uint64_t ns_to_tsc(uint64_t ns);
void delay_us(uint64_t us);

/* KVM paravirt: CPUID base (0 if not KVM) and kvmclock. */
uint32_t kvm_cpuid_base(void);
bool kvmclock_available(void);
/* Enable kvmclock on this CPU (BSP only); NULL when it is not available. */
volatile struct pvclock_vcpu_time_info *kvmclock_enable(void);
uint64_t pvclock_read(volatile struct pvclock_vcpu_time_info *p);

/* ---- LAPIC (workloads.c) ---------------------------------------------------- */

#define LAPIC_ID	0x020
#define LAPIC_EOI	0x0b0
#define LAPIC_SVR	0x0f0
#define LAPIC_ICR_LO	0x300
#define LAPIC_ICR_HI	0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_ICR 0x380
#define LAPIC_TIMER_CCR 0x390
#define LAPIC_TIMER_DCR 0x3e0

static inline uint32_t lapic_read(uint32_t reg)
{
	return *(volatile uint32_t *)phys(LAPIC_BASE + reg);
}

static inline void lapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)phys(LAPIC_BASE + reg) = v;
}

/* Check the xAPIC is there at LAPIC_BASE in xAPIC mode and software-enable it. */
int lapic_enable(void);

/* ---- workloads ---------------------------------------------------------------- */

/* ns per operation for a RESULT line (0 when there were none). */
static inline uint64_t per_op(uint64_t ns, uint64_t ops)
{
	return ops ? ns / ops : 0;
}

int run_hello(void);
int run_msrs(void);
int run_pio(void);
int run_quiet_pio(void);
int run_timer(void);
int run_kvmclock(void);
int run_smp(void);
int run_memtouch(void);
int run_clock(void);
int run_ipi(void);
int run_tlb_shootdown(void);

/* smp.c: start the APs named by cpus= or the MP table; each runs ap_task
 * (then halts for good), or just halts when ap_task is NULL. */
struct smp_info {
	unsigned expected; /* CPUs listed, the BSP included */
	unsigned up;	   /* CPUs running, the BSP included */
	const char *source;
	uint8_t bsp_id;
	uint64_t ns;
};
int smp_bringup(struct smp_info *si);
extern void (*volatile ap_task)(uint32_t index);
/* LAPIC ID of AP index i (1..), filled as each AP checks in. */
extern volatile uint32_t ap_apic_ids[MAX_CPUS];
int run_trap(void);
int run_gate(void);
int run_rtc(void);
int run_reset(void);
int run_echo(void);
/* blk.c, rng_console.c (the virtio driver is in virtio.h) */
int run_blk_verify(void);
int run_blk_read(void);
int run_blk_write(void);
int run_blk_bad(void);
int run_blk_ro(void);
int run_rng(void);
int run_console(void);
/* net.c */
int run_net_tx(void);
int run_net_rx(void);
int run_net_echo(void);
int run_net_bad(void);

/* Set by entry.S / used by smp.c and the timer ISR. */
extern volatile uint32_t timer_ticks;
/* int $0x80s that reached the gate through #UD (entry.S ud_isr). */
extern volatile uint32_t gate_ud_entries;
/* Interrupts taken on vector VEC_MSI_BASE + i (the MSI-X stubs in entry.S). */
extern volatile uint32_t msi_counts[VEC_MSI_COUNT];
/* VEC_IPI and VEC_TLB interrupts taken (entry.S stubs). */
extern volatile uint32_t ipi_count;
extern volatile uint32_t tlb_flushes;
/* Bit 0: KVM says the next EOI may be skipped (PV EOI, the ipi AP only). */
extern volatile uint64_t pv_eoi_word;
extern volatile uint32_t ap_next_index;
extern const uint8_t ap_tramp_start[], ap_tramp_end[];

#endif
