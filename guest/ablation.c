// SPDX-License-Identifier: MIT
/*
 * ablation.c -- workloads that each exercise an optimization bench/ablation
 * turns on and off: memtouch (hugepages, prefault, async-pf), clock
 * (kvmclock), ipi (x2apic, pv-send-ipi, pv-eoi, pv-unhalt, poll-control,
 * pv-sched-yield, steal-time) and tlb-shootdown (pv-tlb-flush).
 *
 * Like a Linux guest, each uses a paravirtual feature only when CPUID
 * 0x40000001 offers it, so turning the VMM's switch off shows the fallback's
 * price. Everything runs at CPL3; MSR writes and hypercalls go through the
 * gate. See guest/README.md for the keys and the RESULT fields.
 */
#include "guest.h"

#define MSR_APIC_BASE	     0x1b
#define APIC_BASE_ENABLE     (1u << 11)
#define APIC_BASE_X2APIC     (1u << 10)
#define MSR_X2APIC_ICR	     0x830
#define MSR_KVM_STEAL_TIME   0x4b564d03
#define MSR_KVM_PV_EOI_EN    0x4b564d04
#define MSR_KVM_POLL_CONTROL 0x4b564d05

#define KVM_FEATURE_STEAL_TIME	   (1u << 5)
#define KVM_FEATURE_PV_EOI	   (1u << 6)
#define KVM_FEATURE_PV_UNHALT	   (1u << 7)
#define KVM_FEATURE_PV_TLB_FLUSH   (1u << 9)
#define KVM_FEATURE_PV_SEND_IPI	   (1u << 11)
#define KVM_FEATURE_POLL_CONTROL   (1u << 12)
#define KVM_FEATURE_PV_SCHED_YIELD (1u << 13)

#define KVM_HC_KICK_CPU	   5
#define KVM_HC_SEND_IPI	   10
#define KVM_HC_SCHED_YIELD 11

#define KVM_VCPU_PREEMPTED 1
#define KVM_VCPU_FLUSH_TLB 2

#define CPUID1_ECX_X2APIC (1u << 21)

#define PIT_HZ	 1193182ull
#define PIT_CH2	 0x42
#define PIT_MODE 0x43
#define PIT_GATE 0x61

/* ---- memtouch ---------------------------------------------------------------- */

/*
 * memtouch mib=N [base=ADDR]: the first write to each 4 KiB page of N MiB of
 * RAM from `base` (default 16 MiB, above the image). The guest maps it with
 * 2 MiB pages, so every fault it costs is the host's: 4 KiB or 2 MiB host
 * pages (hugepages), or none at all (prefault). Run it first in a boot: a
 * page some earlier workload touched is no first touch.
 */
int run_memtouch(void)
{
	uint64_t mib = cmdline_u64("mib", 64);
	uint64_t base = cmdline_u64("base", GUEST_DMA_BASE);
	uint64_t len = mib << 20, pages = len >> 12, t0, ns;

	if (mib == 0 || mib > 4096 || (base & 0xfff))
		fail_exit(EXIT_USAGE, "memtouch: mib must be 1..4096 and base page aligned");
	if (base + len > 0x100000000ull || (boot.nr_mem && !mem_is_ram(base, len)))
		return fail("memtouch: [0x%lx, +%lu MiB) is not RAM below 4 GiB (more --mem or "
			    "a smaller mib=)",
			    base, mib);
	t0 = rdtsc();
	for (uint64_t p = base; p < base + len; p += 4096)
		phys_write8(p, (uint8_t)(p >> 12));
	ns = tsc_to_ns(rdtsc() - t0);
	kprintf("RESULT test=memtouch ops=%lu ns=%lu errors=0 mib=%lu base=0x%lx ns_per_page=%lu\n",
		pages, ns, mib, base, per_op(ns, pages));
	return 0;
}

/* ---- clock --------------------------------------------------------------------- */

static uint64_t pit_ticks;
static uint16_t pit_last;

/* PIT channel 2 as a free-running clock: mode 2, reload 65536 (55 ms a turn). */
static void pit_clock_start(void)
{
	outb(PIT_GATE, (inb(PIT_GATE) & ~0x02) | 0x01);
	outb(PIT_MODE, 0xb4); /* channel 2, lobyte/hibyte, mode 2, binary */
	outb(PIT_CH2, 0);
	outb(PIT_CH2, 0);
	pit_ticks = 0;
	pit_last = 0;
}

/* Three port accesses: latch, low byte, high byte. Called more often than
 * every 55 ms, so the wrap is counted right. */
static uint64_t pit_clock_read(void)
{
	outb(PIT_MODE, 0x80); /* latch channel 2 */
	uint16_t now = inb(PIT_CH2);

	now |= (uint16_t)(inb(PIT_CH2) << 8);
	pit_ticks += (uint16_t)(pit_last - now); /* it counts down */
	pit_last = now;
	return pit_ticks * 1000000000ull / PIT_HZ;
}

/*
 * clock count=N [source=auto|kvmclock|pit]: read the time N times, the way a
 * guest's clocksource does: kvmclock when offered (shared memory: no exit),
 * else the PIT (three port accesses a read: in-kernel PIT, exits that do not
 * reach the VMM). Fails if it goes backwards.
 */
int run_clock(void)
{
	uint64_t count = cmdline_u64("count", 10000);
	bool want_pit = cmdline_is("source", "pit");
	volatile struct pvclock_vcpu_time_info *p = want_pit ? NULL : kvmclock_enable();
	uint64_t first, prev, now, t0, errors = 0;

	if (count == 0)
		fail_exit(EXIT_USAGE, "clock: count must be > 0");
	if (!p && cmdline_is("source", "kvmclock"))
		return fail("no kvmclock");
	if (!p)
		pit_clock_start();
	t0 = rdtsc();
	first = prev = p ? pvclock_read(p) : pit_clock_read();
	for (uint64_t i = 1; i < count; i++) {
		now = p ? pvclock_read(p) : pit_clock_read();
		if (now < prev)
			errors++;
		prev = now;
	}
	uint64_t ns = tsc_to_ns(rdtsc() - t0);

	kprintf("RESULT test=clock ops=%lu ns=%lu errors=%lu source=%s span_ns=%lu ns_per_op=%lu\n",
		count, ns, errors, p ? "kvmclock" : "pit", prev - first, per_op(ns, count));
	if (errors)
		return fail("clock went backwards %lu times", errors);
	return 0;
}

/* ---- ipi and tlb-shootdown --------------------------------------------------- */

enum via { VIA_XAPIC, VIA_X2APIC, VIA_PV, VIA_KICK };
static const char *const via_names[] = {"xapic", "x2apic", "pv", "kick"};

struct kvm_steal_time {
	uint64_t steal;
	uint32_t version;
	uint32_t flags;
	uint8_t preempted;
	uint8_t pad8[3];
	uint32_t pad[11];
} __attribute__((aligned(64)));

static struct kvm_steal_time steal[MAX_CPUS];

/* Shared by the BSP and the APs of one ipi or tlb-shootdown run. */
static struct {
	volatile uint32_t stop;
	volatile uint32_t ready; /* APs set up */
	volatile uint32_t done;	 /* APs finished */
	volatile uint32_t kick_req, kick_ack;
	bool spin;	   /* the target spins at CPL3 instead of halting */
	bool steal_on;	   /* every CPU registers steal time */
	bool pv_eoi_on;	   /* the target registers pv_eoi_word */
	bool hostpoll_off; /* the target turns host halt polling off */
	uint32_t target;   /* AP index that takes the IPIs */
} sh;

static void ap_ipi_task(uint32_t index)
{
	bool target = index == sh.target;

	lapic_enable(); /* an AP's LAPIC comes out of INIT software-disabled */
	if (sh.steal_on)
		sys_wrmsr(MSR_KVM_STEAL_TIME, (uint64_t)(uintptr_t)&steal[index] | 1);
	if (target && sh.pv_eoi_on)
		sys_wrmsr(MSR_KVM_PV_EOI_EN, (uint64_t)(uintptr_t)&pv_eoi_word | 1);
	if (target && sh.hostpoll_off)
		sys_wrmsr(MSR_KVM_POLL_CONTROL, 0);
	__atomic_add_fetch(&sh.ready, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		uint32_t seen = irq_seq_now(); /* before the checks: see sys_wait_irq() */

		if (sh.stop)
			break;
		if (target && sh.kick_req != sh.kick_ack) {
			sh.kick_ack = sh.kick_req;
			continue;
		}
		if (target && !sh.spin)
			sys_wait_irq(seen); /* an IPI or a kick (pv-unhalt) ends the hlt */
		else
			cpu_relax();
	}
	if (target && sh.pv_eoi_on)
		sys_wrmsr(MSR_KVM_PV_EOI_EN, 0);
	if (target && sh.hostpoll_off)
		sys_wrmsr(MSR_KVM_POLL_CONTROL, 1);
	if (sh.steal_on)
		sys_wrmsr(MSR_KVM_STEAL_TIME, 0);
	__atomic_add_fetch(&sh.done, 1, __ATOMIC_SEQ_CST);
}

static void send_ipi_via(enum via via, uint32_t apic_id, uint8_t vector)
{
	switch (via) {
	case VIA_XAPIC:
		lapic_write(LAPIC_ICR_HI, apic_id << 24);
		lapic_write(LAPIC_ICR_LO, vector); /* fixed, physical, no shorthand */
		break;
	case VIA_X2APIC:
		sys_wrmsr(MSR_X2APIC_ICR, (uint64_t)apic_id << 32 | vector);
		break;
	case VIA_PV: /* bitmap 1 << (apic_id - min), min = apic_id, ICR */
		sys_hypercall(KVM_HC_SEND_IPI, 1, 0, apic_id, vector);
		break;
	case VIA_KICK:
		sh.kick_req++;
		sys_hypercall(KVM_HC_KICK_CPU, 0, apic_id, 0, 0);
		break;
	}
}

/* The BSP's LAPIC in x2APIC mode (the APs stay in xAPIC mode: their EOI is
 * an MMIO write) and back: x2APIC -> xAPIC goes through disabled. */
static void bsp_x2apic(bool on)
{
	uint64_t base = sys_rdmsr(MSR_APIC_BASE);

	if (on) {
		sys_wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE | APIC_BASE_X2APIC);
		return;
	}
	sys_wrmsr(MSR_APIC_BASE, base & ~(uint64_t)(APIC_BASE_ENABLE | APIC_BASE_X2APIC));
	sys_wrmsr(MSR_APIC_BASE, (base & ~(uint64_t)APIC_BASE_X2APIC) | APIC_BASE_ENABLE);
	lapic_enable();
}

struct ipi_run {
	const char *name;
	enum via via;
	uint32_t pv; /* CPUID 0x40000001 EAX */
	struct smp_info si;
	uint32_t apic_id; /* the target's */
	uint64_t steal_ns;
};

/* Resolve via=, start the APs with ap_ipi_task and wait until they are set
 * up. The x2APIC-capable paths need CPUID.1:ECX.x2APIC, pv and kick their
 * PV feature bit; `via=auto` takes the best one offered, as Linux does. */
static int ipi_start(struct ipi_run *r, bool default_spin, const char *default_via)
{
	const char *v;
	size_t len;
	uint32_t base = kvm_cpuid_base();
	bool x2 = cpuid(1, 0).ecx & CPUID1_ECX_X2APIC;
	enum via apic = x2 ? VIA_X2APIC : VIA_XAPIC;
	char want[16];

	r->pv = base ? cpuid(base + 1, 0).eax : 0;
	if (!cmdline_get("via", &v, &len)) {
		v = default_via;
		len = strlen(v);
	}
	if (len >= sizeof(want))
		len = sizeof(want) - 1;
	memcpy(want, v, len);
	want[len] = '\0';
	if (!strcmp(want, "auto"))
		r->via = (r->pv & KVM_FEATURE_PV_SEND_IPI) ? VIA_PV : apic;
	else if (!strcmp(want, "apic"))
		r->via = apic;
	else if (!strcmp(want, "kick"))
		r->via = (r->pv & KVM_FEATURE_PV_UNHALT) ? VIA_KICK : apic;
	else if (!strcmp(want, "xapic"))
		r->via = VIA_XAPIC;
	else if (!strcmp(want, "x2apic") && x2)
		r->via = VIA_X2APIC;
	else if (!strcmp(want, "pv") && (r->pv & KVM_FEATURE_PV_SEND_IPI))
		r->via = VIA_PV;
	else if (!strcmp(want, "x2apic") || !strcmp(want, "pv"))
		return fail("%s: via=%s is not offered (CPUID)", r->name, want);
	else
		fail_exit(EXIT_USAGE, "%s: via must be auto, apic, kick, xapic, x2apic or pv",
			  r->name);

	memset(&sh, 0, sizeof(sh));
	memset(steal, 0, sizeof(steal));
	sh.spin = cmdline_is("wait", "spin") || (default_spin && !cmdline_is("wait", "halt"));
	sh.steal_on = (r->pv & KVM_FEATURE_STEAL_TIME) && cmdline_u64("steal", 1);
	sh.pv_eoi_on = (r->pv & KVM_FEATURE_PV_EOI) && cmdline_u64("pv_eoi", 1);
	sh.hostpoll_off = (r->pv & KVM_FEATURE_POLL_CONTROL) && cmdline_u64("hostpoll", 1) == 0;
	sh.target = 1;
	pv_eoi_word = 0;
	if (sh.steal_on)
		sys_wrmsr(MSR_KVM_STEAL_TIME, (uint64_t)(uintptr_t)&steal[0] | 1);

	ap_task = ap_ipi_task;
	int rc = smp_bringup(&r->si);

	ap_task = NULL;
	if (rc)
		return -1;
	if (r->si.up < 2)
		return fail("%s: needs a second CPU (vireo --cpus 2)", r->name);
	uint64_t deadline = rdtsc() + ns_to_tsc(2000000000ull);

	while (sh.ready < r->si.up - 1)
		if ((int64_t)(rdtsc() - deadline) > 0)
			return fail("%s: %u of %u APs set up", r->name, sh.ready, r->si.up - 1);
	r->apic_id = ap_apic_ids[sh.target];
	if (r->via == VIA_X2APIC)
		bsp_x2apic(true);
	return 0;
}

/* Stop the APs (waking the target), wait for them, undo the BSP's set-up. */
static int ipi_stop(struct ipi_run *r)
{
	uint64_t deadline;

	sh.stop = 1;
	mb();
	send_ipi_via(r->via, r->apic_id, VEC_IPI);
	deadline = rdtsc() + ns_to_tsc(2000000000ull);
	while (sh.done < r->si.up - 1)
		if ((int64_t)(rdtsc() - deadline) > 0)
			return fail("%s: %u of %u APs stopped", r->name, sh.done, r->si.up - 1);
	if (r->via == VIA_X2APIC)
		bsp_x2apic(false);
	if (sh.steal_on)
		sys_wrmsr(MSR_KVM_STEAL_TIME, 0);
	r->steal_ns = 0;
	for (unsigned i = 0; i < r->si.up && i < MAX_CPUS; i++)
		r->steal_ns += steal[i].steal;
	return 0;
}

static bool wait_for(volatile uint32_t *counter, uint32_t want, uint64_t limit_tsc)
{
	uint64_t t0 = rdtsc();

	while ((int32_t)(*counter - want) < 0) {
		if (rdtsc() - t0 > limit_tsc)
			return false;
		cpu_relax();
	}
	return true;
}

/*
 * ipi count=N [wait=halt|spin] [via=auto|apic|kick|xapic|x2apic|pv]
 *     [hostpoll=1] [steal=1] [pv_eoi=1] [yield=1] [cpus=N]:
 * the BSP sends N IPIs, one at a time, to AP 1, which halts between them
 * (wait=halt, the default) or spins at CPL3; each op ends when the AP's
 * handler has counted it (a round trip). via=kick wakes the halted AP with
 * KVM_HC_KICK_CPU instead (pv-unhalt; no interrupt). Other APs spin, to
 * load the host (overcommit). With steal time, when the target reads as
 * preempted after an IPI, the BSP yields to it (KVM_HC_SCHED_YIELD), as
 * Linux does, if offered and yield=1. via=pv, via=kick and yield=1 make
 * hypercalls (vmcall at CPL0, through the gate).
 */
int run_ipi(void)
{
	uint64_t count = cmdline_u64("count", 1000);
	bool yield = cmdline_u64("yield", 0) != 0;
	struct ipi_run r = {.name = "ipi"};
	uint64_t errors = 0, yields = 0, preempted = 0, t0, ns, limit;
	uint32_t irqs0, irqs;

	if (count == 0 || count > 0x7fffffff)
		fail_exit(EXIT_USAGE, "ipi: count must be 1..2^31-1");
	if (ipi_start(&r, false, "apic"))
		return -1;
	yield = yield && sh.steal_on && (r.pv & KVM_FEATURE_PV_SCHED_YIELD) && r.via != VIA_KICK;
	limit = ns_to_tsc(1000000000ull);
	irqs0 = ipi_count;
	t0 = rdtsc();
	for (uint64_t i = 0; i < count; i++) {
		send_ipi_via(r.via, r.apic_id, VEC_IPI);
		if (sh.steal_on && (steal[sh.target].preempted & KVM_VCPU_PREEMPTED)) {
			preempted++;
			if (yield) {
				sys_hypercall(KVM_HC_SCHED_YIELD, r.apic_id, 0, 0, 0);
				yields++;
			}
		}
		bool ok = r.via == VIA_KICK ? wait_for(&sh.kick_ack, sh.kick_req, limit)
					    : wait_for(&ipi_count, irqs0 + (uint32_t)i + 1, limit);
		if (!ok) {
			errors++;
			break;
		}
	}
	ns = tsc_to_ns(rdtsc() - t0);
	irqs = ipi_count - irqs0;
	if (ipi_stop(&r))
		return -1;
	kprintf("RESULT test=ipi ops=%lu ns=%lu errors=%lu via=%s wait=%s cpus=%u irqs=%u "
		"preempted=%lu yields=%lu pv_eoi=%u hostpoll=%s steal_ns=%lu ns_per_op=%lu\n",
		count, ns, errors, via_names[r.via], sh.spin ? "spin" : "halt", r.si.up, irqs,
		preempted, yields, sh.pv_eoi_on, sh.hostpoll_off ? "off" : "on", r.steal_ns,
		per_op(ns, count));
	if (errors)
		return fail("ipi: an IPI was not taken within 1 s (%u of %lu)", irqs, count);
	return 0;
}

/*
 * tlb-shootdown count=N [wait=spin|halt] [via=apic|...] [cpus=N]: N remote TLB
 * flushes of AP 1, Linux's way with pv-tlb-flush: when the target's steal-time
 * record says it is preempted, set KVM_VCPU_FLUSH_TLB there (KVM flushes
 * before it runs again) instead of sending the flush IPI and waiting; else
 * an IPI whose handler reloads CR3, and wait for it. The target spins by
 * default: only a runnable vCPU that lost its host CPU reads as preempted,
 * so the PV path needs more busy vCPUs than host CPUs (cpus=N).
 */
int run_tlb_shootdown(void)
{
	uint64_t count = cmdline_u64("count", 1000);
	struct ipi_run r = {.name = "tlb-shootdown"};
	uint64_t errors = 0, pv_flushes = 0, ipis = 0, t0, ns, limit;
	uint32_t flushes0;
	bool pv;

	if (count == 0 || count > 0x7fffffff)
		fail_exit(EXIT_USAGE, "tlb-shootdown: count must be 1..2^31-1");
	if (ipi_start(&r, true, "apic"))
		return -1;
	if (r.via == VIA_KICK)
		fail_exit(EXIT_USAGE, "tlb-shootdown: via=kick sends no interrupt");
	pv = sh.steal_on && (r.pv & KVM_FEATURE_PV_TLB_FLUSH);
	limit = ns_to_tsc(1000000000ull);
	flushes0 = tlb_flushes;
	t0 = rdtsc();
	for (uint64_t i = 0; i < count; i++) {
		volatile uint8_t *state = &steal[sh.target].preempted;
		uint8_t old = *state;

		if (pv && (old & KVM_VCPU_PREEMPTED) &&
		    __atomic_compare_exchange_n(state, &old, (uint8_t)(old | KVM_VCPU_FLUSH_TLB),
						false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
			pv_flushes++;
			continue;
		}
		send_ipi_via(r.via, r.apic_id, VEC_TLB);
		ipis++;
		if (!wait_for(&tlb_flushes, flushes0 + (uint32_t)ipis, limit)) {
			errors++;
			break;
		}
	}
	ns = tsc_to_ns(rdtsc() - t0);
	if (ipi_stop(&r))
		return -1;
	kprintf("RESULT test=tlb-shootdown ops=%lu ns=%lu errors=%lu via=%s wait=%s cpus=%u "
		"ipis=%lu pv_flushes=%lu flushes=%u pv_tlb_flush=%u steal_ns=%lu ns_per_op=%lu\n",
		count, ns, errors, via_names[r.via], sh.spin ? "spin" : "halt", r.si.up, ipis,
		pv_flushes, tlb_flushes - flushes0, pv, r.steal_ns, per_op(ns, count));
	if (errors)
		return fail("tlb-shootdown: a flush IPI was not taken within 1 s");
	return 0;
}
