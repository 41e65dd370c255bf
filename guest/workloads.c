// SPDX-License-Identifier: MIT
/*
 * workloads.c -- hello, pio, quiet-pio, echo, timer, kvmclock, gate, trap, reset (smp
 * is in smp.c).
 *
 * Each prints one `RESULT test=NAME ops=N ns=N errors=N ...` line and returns
 * 0, or returns fail(reason). All loops run at CPL3.
 */
#include "guest.h"

#define MSR_APIC_BASE	 0x1b
#define APIC_BASE_ENABLE (1u << 11)
#define APIC_BASE_X2APIC (1u << 10)

#define MSR_IA32_TSC_DEADLINE	0x6e0
#define CPUID1_ECX_TSC_DEADLINE (1u << 24)

#define LVT_MASKED	 (1u << 16)
#define LVT_PERIODIC	 (1u << 17)
#define LVT_TSC_DEADLINE (2u << 17)
#define SVR_ENABLE	 (1u << 8)
#define TIMER_DIV_16	 0x3

#define PIC1_DATA 0x21
#define PIC2_DATA 0xa1

/* hello [count=N]: the greeting N times (a lot of console output, on demand). */
int run_hello(void)
{
	uint64_t count = cmdline_u64("count", 1);
	uint64_t t0 = rdtsc();

	for (uint64_t i = 0; i < count; i++)
		kprintf("Hello from the vireo test guest\n");
	uint64_t ns = tsc_to_ns(rdtsc() - t0);

	kprintf("RESULT test=hello ops=%lu ns=%lu errors=0\n", count, ns);
	return 0;
}

/*
 * msrs: the MSRs the VMM sets for the boot (regs.c boot_msrs), as this vCPU
 * reads them: vireo writes them all in one KVM_SET_MSRS, and a batch that
 * lost some would leave them at their reset values (MTRRdefType 0: all
 * memory uncached).
 */
int run_msrs(void)
{
	uint64_t mtrr = sys_rdmsr(0x2ff), misc = sys_rdmsr(0x1a0);
	uint64_t sysenter_cs = sys_rdmsr(0x174), lstar = sys_rdmsr(0xc0000082);

	kprintf("RESULT test=msrs ops=4 ns=0 errors=0 mtrr_def_type=0x%lx misc_enable=0x%lx "
		"sysenter_cs=0x%lx lstar=0x%lx\n",
		mtrr, misc, sysenter_cs, lstar);
	return 0;
}

static void pio_loop(uint16_t port, uint64_t count)
{
	for (uint64_t i = 0; i < count; i++)
		outb(port, (uint8_t)i);
}

int run_pio(void)
{
	uint64_t count = cmdline_u64("count", 1000);
	uint64_t t0 = rdtsc();

	pio_loop(VIREO_PORT_TEST, count);
	uint64_t ns = tsc_to_ns(rdtsc() - t0);

	kprintf("RESULT test=pio ops=%lu ns=%lu errors=0 port=0x%x ns_per_op=%lu\n", count, ns,
		VIREO_PORT_TEST, per_op(ns, count));
	return 0;
}

/*
 * echo count=N: read N bytes from the UART (polling LSR.DR at CPL3) and print
 * them back, so a test can check the console input path end to end. Gives
 * up after timeout_ms (default 20 s) without input.
 */
int run_echo(void)
{
	uint64_t count = cmdline_u64("count", 5), got = 0;
	uint64_t limit = tsc_khz * cmdline_u64("timeout_ms", 20000);
	uint64_t t0 = rdtsc();
	char buf[64];

	if (count >= sizeof(buf))
		return fail("echo: count must be below %lu", (uint64_t)sizeof(buf));
	while (got < count) {
		if (inb(VIREO_PORT_COM1 + 5) & 0x01)
			buf[got++] = (char)inb(VIREO_PORT_COM1);
		else if (rdtsc() - t0 > limit)
			return fail("echo: only %lu of %lu bytes arrived", got, count);
		else
			cpu_relax();
	}
	buf[got] = '\0';
	uint64_t ns = tsc_to_ns(rdtsc() - t0);

	kprintf("echo: %s\n", buf);
	kprintf("RESULT test=echo ops=%lu ns=%lu errors=0\n", count, ns);
	return 0;
}

int run_quiet_pio(void)
{
	uint64_t count = cmdline_u64("count", 1000);
	uint64_t t0 = rdtsc();

	pio_loop(VIREO_PORT_IO_DELAY, count);
	uint64_t ns = tsc_to_ns(rdtsc() - t0);

	kprintf("RESULT test=quiet-pio ops=%lu ns=%lu errors=0 port=0x%x ns_per_op=%lu\n", count,
		ns, VIREO_PORT_IO_DELAY, per_op(ns, count));
	return 0;
}

int lapic_enable(void)
{
	uint64_t base;

	if (!(cpuid(1, 0).edx & (1u << 9)))
		return fail("no local APIC (CPUID.1:EDX.APIC = 0)");
	base = sys_rdmsr(MSR_APIC_BASE);
	if (!(base & APIC_BASE_ENABLE) || (base & APIC_BASE_X2APIC) ||
	    (base & ~0xfffull) != LAPIC_BASE)
		return fail("local APIC not in xAPIC mode at 0x%x (IA32_APIC_BASE=0x%lx)",
			    LAPIC_BASE, base);
	lapic_write(LAPIC_SVR, SVR_ENABLE | VEC_SPURIOUS);
	return 0;
}

/* LAPIC timer counts (divide by 16) per millisecond, measured against the TSC. */
static uint64_t lapic_timer_per_ms(void)
{
	const uint64_t cal_us = 10000;
	uint64_t t0, t1;
	uint32_t left;

	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	lapic_write(LAPIC_TIMER_DCR, TIMER_DIV_16);
	lapic_write(LAPIC_TIMER_ICR, 0xffffffff);
	t0 = rdtsc();
	delay_us(cal_us);
	left = lapic_read(LAPIC_TIMER_CCR);
	t1 = rdtsc();
	lapic_write(LAPIC_TIMER_ICR, 0);
	uint64_t us = tsc_to_ns(t1 - t0) / 1000;

	return us ? (0xffffffffull - left) * 1000 / us : 0;
}

/*
 * The LAPIC timer modes of `timer mode=`. Periodic needs no re-arming; the
 * other two are what a tickless kernel does: one interrupt per arming, the
 * next armed after it (Linux prefers TSC-deadline when CPUID offers it).
 */
enum timer_mode { TIMER_PERIODIC, TIMER_ONESHOT, TIMER_DEADLINE };

static const char *const timer_mode_names[] = {
    [TIMER_PERIODIC] = "periodic",
    [TIMER_ONESHOT] = "oneshot",
    [TIMER_DEADLINE] = "deadline",
};

struct timer_run {
	enum timer_mode mode;
	uint32_t initial;    /* TMICT counts a period (periodic, oneshot) */
	uint64_t period_tsc; /* TSC ticks a period (deadline) */
};

/*
 * mode=periodic|oneshot|deadline|auto (periodic). auto: deadline when
 * CPUID.1:ECX[24] offers it, else oneshot (CPUID only then: periodic runs
 * keep their exit counts). Asking for deadline where it is
 * not offered ends the run: the MSR would be ignored (or fault), and a timer
 * that never fires would only show up as a timeout.
 */
static bool cpu_has_tsc_deadline(void)
{
	return cpuid(1, 0).ecx & CPUID1_ECX_TSC_DEADLINE;
}

static enum timer_mode timer_mode_parse(void)
{
	const char *v;
	size_t len;

	if (!cmdline_get("mode", &v, &len) || cmdline_is("mode", "periodic"))
		return TIMER_PERIODIC;
	if (cmdline_is("mode", "oneshot"))
		return TIMER_ONESHOT;
	if (cmdline_is("mode", "auto"))
		return cpu_has_tsc_deadline() ? TIMER_DEADLINE : TIMER_ONESHOT;
	if (!cmdline_is("mode", "deadline"))
		fail_exit(EXIT_USAGE, "timer: mode must be periodic, oneshot, deadline or auto");
	if (!cpu_has_tsc_deadline())
		fail_exit(EXIT_USAGE,
			  "timer: mode=deadline needs the TSC-deadline timer, which this CPU does "
			  "not offer (CPUID.1:ECX[24] = 0); mode=auto falls back to oneshot");
	return TIMER_DEADLINE;
}

/* Arm the timer for its next tick, one period from now. */
static void timer_arm(const struct timer_run *t)
{
	if (t->mode == TIMER_DEADLINE)
		sys_wrmsr(MSR_IA32_TSC_DEADLINE, rdtsc() + t->period_tsc);
	else
		lapic_write(LAPIC_TIMER_ICR, t->initial);
}

static void timer_start(const struct timer_run *t)
{
	static const uint32_t lvt_mode[] = {
	    [TIMER_PERIODIC] = LVT_PERIODIC,
	    [TIMER_ONESHOT] = 0,
	    [TIMER_DEADLINE] = LVT_TSC_DEADLINE,
	};

	lapic_write(LAPIC_LVT_TIMER, lvt_mode[t->mode] | VEC_TIMER);
	/* The SDM asks for a fence between the LVT write (MMIO) and the
	 * IA32_TSC_DEADLINE write, which KVM ignores outside deadline mode. */
	mb();
	timer_arm(t);
}

static void timer_stop(const struct timer_run *t)
{
	if (t->mode == TIMER_DEADLINE)
		sys_wrmsr(MSR_IA32_TSC_DEADLINE, 0);
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TIMER);
	lapic_write(LAPIC_TIMER_ICR, 0);
}

/*
 * Wait for `count` ticks (re-arming after each one but the last, outside
 * periodic mode, so ticks == count exactly there); false on a timeout.
 */
static bool timer_wait_ticks(const struct timer_run *t, uint64_t count, uint64_t timeout_tsc,
			     bool spin, uint32_t *ticks_out)
{
	uint64_t deadline = rdtsc() + timeout_tsc;
	uint32_t armed = 1, ticks;

	for (;;) {
		uint32_t seen = irq_seq_now(); /* before the check: see sys_wait_irq() */

		if ((ticks = timer_ticks) >= count)
			break;
		if (t->mode != TIMER_PERIODIC && ticks >= armed) {
			timer_arm(t);
			armed++;
		}
		if ((int64_t)(rdtsc() - deadline) > 0)
			break;
		/* hlt only once ticks flow, so a silent timer still hits the deadline. */
		if (!spin && ticks > 0)
			sys_wait_irq(seen);
		else
			cpu_relax();
	}
	*ticks_out = ticks;
	return ticks >= count;
}

int run_timer(void)
{
	uint64_t count = cmdline_u64("count", 50);
	uint64_t period_us = cmdline_u64("period_us", 1000);
	bool spin = cmdline_is("wait", "spin");
	struct timer_run t = {.mode = timer_mode_parse()};
	uint64_t per_ms, initial, t0, t1, errors = 0;
	uint32_t ticks;

	if (count == 0 || count > 0xffffffffull || period_us == 0)
		fail_exit(EXIT_USAGE, "timer: count and period_us must be > 0");
	if (lapic_enable())
		return -1;
	/* Keep the legacy PIC quiet: nothing but the LAPIC may interrupt us. */
	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);

	per_ms = lapic_timer_per_ms();
	initial = per_ms * period_us / 1000;
	if (initial == 0 || initial > 0xffffffffull)
		return fail("timer: cannot program a %lu us period (%lu counts/ms)", period_us,
			    per_ms);
	t.initial = (uint32_t)initial;
	t.period_tsc = ns_to_tsc(period_us * 1000);

	timer_ticks = 0;
	t0 = rdtsc();
	timer_start(&t);
	/* Generous: ten times the expected time plus a second. */
	if (!timer_wait_ticks(&t, count, ns_to_tsc(count * period_us * 10000 + 1000000000ull), spin,
			      &ticks))
		errors = 1;
	t1 = rdtsc();
	timer_stop(&t);

	uint64_t ns = tsc_to_ns(t1 - t0);

	kprintf("RESULT test=timer ops=%lu ns=%lu errors=%lu ticks=%u period_us=%lu "
		"lapic_khz=%lu ns_per_tick=%lu wait=%s mode=%s\n",
		count, ns, errors, ticks, period_us, per_ms * 16, per_op(ns, ticks),
		spin ? "spin" : "hlt", timer_mode_names[t.mode]);
	if (errors)
		return fail("timer: timeout, %u of %lu ticks", ticks, count);
	return 0;
}

int run_kvmclock(void)
{
	uint64_t count = cmdline_u64("count", 100000);
	volatile struct pvclock_vcpu_time_info *p;
	uint64_t first, prev, now, t0, errors = 0;

	if (!kvmclock_available())
		return fail("no kvmclock");
	p = kvmclock_enable();
	if (!p)
		return fail("kvmclock: MSR_KVM_SYSTEM_TIME_NEW did not fill the time page");
	if (count == 0)
		fail_exit(EXIT_USAGE, "kvmclock: count must be > 0");

	t0 = rdtsc();
	first = prev = pvclock_read(p);
	for (uint64_t i = 1; i < count; i++) {
		now = pvclock_read(p);
		if (now < prev)
			errors++;
		prev = now;
	}
	uint64_t ns = tsc_to_ns(rdtsc() - t0);

	kprintf("RESULT test=kvmclock ops=%lu ns=%lu errors=%lu span_ns=%lu stable=%u "
		"ns_per_op=%lu\n",
		count, ns, errors, prev - first, p->flags & PVCLOCK_TSC_STABLE_BIT,
		per_op(ns, count));
	if (prev <= first)
		return fail("kvmclock never advanced");
	if (errors)
		return fail("kvmclock went backwards %lu times", errors);
	return 0;
}

/* The gate as ud_isr takes it on a KVM whose int $0x80 arrives as #UD:
 * int $6 (DPL 3) enters ud_isr with RIP at the int $0x80 that follows. */
static uint64_t sys_rdmsr_via_ud(uint32_t msr)
{
	uint64_t v = SYS_RDMSR;
	__asm__ volatile("int $6; int $0x80" : "+a"(v) : "D"(msr) : "rcx", "rdx", "memory");
	return v;
}

/*
 * gate count=N: the CPL3 -> CPL0 gate and CPL3 port I/O, the two things a
 * KVM that runs CPL3 natively (PVM) does differently from hardware.
 *  - N int $0x80 calls (rdmsr IA32_APIC_BASE) agree with each other; a
 *    wait for an interrupt that already came returns at once (no hlt).
 *  - ud_isr's path: where int $0x80 already arrived as #UD it was taken N
 *    times; elsewhere it is taken once more, on purpose (int $6).
 *  - With IOPL 0 only the TSS I/O bitmap allows port I/O: N writes to the
 *    test port, each one exit as always.
 */
int run_gate(void)
{
	uint64_t count = cmdline_u64("count", 1000);
	uint32_t ud_before = gate_ud_entries;
	uint64_t base, errors = 0, t0, t1;

	if (count == 0)
		fail_exit(EXIT_USAGE, "gate: count must be > 0");
	base = sys_rdmsr(MSR_APIC_BASE);
	t0 = rdtsc();
	for (uint64_t i = 0; i < count; i++)
		errors += sys_rdmsr(MSR_APIC_BASE) != base;
	t1 = rdtsc();
	bool int80_is_ud = gate_ud_entries != ud_before;

	if (!int80_is_ud) {
		errors += sys_rdmsr_via_ud(MSR_APIC_BASE) != base;
		errors += gate_ud_entries != ud_before + 1;
	}
	sys_wait_irq(irq_seq_now() - 1); /* an interrupt "came": must not halt */

	sys_set_iopl(0);
	pio_loop(VIREO_PORT_TEST, count);
	kprintf("gate: %lu port writes and this line with IOPL 0\n", count);
	sys_set_iopl(3);

	uint64_t ns = tsc_to_ns(t1 - t0);

	kprintf("RESULT test=gate ops=%lu ns=%lu errors=%lu ns_per_op=%lu int80=%s ud_entries=%u "
		"iopl0_pio=%lu\n",
		count, ns, errors, per_op(ns, count), int80_is_ud ? "ud" : "gate",
		gate_ud_entries - ud_before, count);
	if (errors)
		return fail("gate: %lu calls returned a wrong value or missed ud_isr", errors);
	return 0;
}

/* Fault on purpose (ud2 at CPL3): checks that a guest crash is reported as
 * "FAIL: CPU exception vector=6 (#UD) ..." with exit code EXIT_TRAP. */
int run_trap(void)
{
	kprintf("trap: executing ud2 at CPL3\n");
	__asm__ volatile("ud2");
	return fail("trap: ud2 did not fault");
}

static unsigned cmos_bcd(uint8_t reg)
{
	uint8_t v;

	outb(0x70, reg);
	v = inb(0x71);
	return (v >> 4) * 10 + (v & 0xf);
}

/*
 * rtc: read the CMOS clock (BCD, as firmware leaves it) and print it, so a
 * test can compare it with the host's UTC time.
 */
int run_rtc(void)
{
	unsigned s = cmos_bcd(0x00), m = cmos_bcd(0x02), h = cmos_bcd(0x04);
	unsigned d = cmos_bcd(0x07), mo = cmos_bcd(0x08), y = cmos_bcd(0x09);
	unsigned c = cmos_bcd(0x32);

	kprintf("rtc: %02u%02u-%02u-%02u %02u:%02u:%02u\n", c, y, mo, d, h, m, s);
	kprintf("RESULT test=rtc ops=7 ns=0 errors=0\n");
	return 0;
}

/* Reset the machine through the i8042 (as Linux's reboot=k does): the VMM
 * ends the VM with status 0, QEMU -no-reboot exits 0. */
int run_reset(void)
{
	kprintf("reset: pulsing the i8042 reset line\n");
	outb(0x64, 0xfe);
	return fail("reset: still running after the i8042 reset command");
}
