// SPDX-License-Identifier: MIT
/*
 * smp.c -- the `smp` workload: find the CPUs in the MP table, start every AP
 * with INIT-SIPI-SIPI, and count the ones that check in.
 *
 * Keys: cpus=N (override: APIC IDs 0..N-1, no MP table needed),
 *       timeout_ms=N (default 2000), init_us=N (INIT to SIPI delay, 10000).
 */
#include "guest.h"

#define ICR_INIT    0x00004500 /* INIT, level assert */
#define ICR_STARTUP 0x00004600 /* start-up IPI; low byte = vector */
#define ICR_BUSY    (1u << 12) /* delivery status */

#define MP_PROCESSOR   0
#define MP_CPU_ENABLED 0x01

static volatile uint32_t ap_checked_in;
static volatile uint32_t ap_printed;

static uint8_t apic_ids[MAX_CPUS];
static unsigned nr_cpus;

/* ---- MP table ------------------------------------------------------------------- */

static uint8_t checksum(uint64_t pa, uint64_t len)
{
	uint8_t sum = 0;

	for (uint64_t i = 0; i < len; i++)
		sum += phys_read8(pa + i);
	return sum;
}

/* The MP floating pointer structure in [base, base + len), or 0. */
static uint64_t mp_scan(uint64_t base, uint64_t len)
{
	for (uint64_t p = base; p + 16 <= base + len; p += 16) {
		if (phys_read32(p) != 0x5f504d5f) /* "_MP_" */
			continue;
		uint8_t paragraphs = phys_read8(p + 8);

		if (paragraphs == 1 && checksum(p, 16) == 0)
			return p;
	}
	return 0;
}

static uint64_t mp_find(void)
{
	uint64_t ebda = (uint64_t)phys_read16(0x40e) << 4;
	uint64_t base_kib = phys_read16(0x413);
	uint64_t mpf = 0;

	if (base_kib == 0 || base_kib > 640)
		base_kib = 639;
	if (ebda)
		mpf = mp_scan(ebda, 1024);
	if (!mpf)
		mpf = mp_scan((base_kib - 1) * 1024, 1024);
	if (!mpf)
		mpf = mp_scan(0xf0000, 0x10000);
	return mpf;
}

static void add_cpu(uint8_t apic_id)
{
	if (nr_cpus < MAX_CPUS)
		apic_ids[nr_cpus] = apic_id;
	nr_cpus++;
}

/* Fill apic_ids[] from the MP table; 0 or fail(). */
static int mp_parse(uint64_t mpf)
{
	uint64_t cfg = phys_read32(mpf + 4);
	uint8_t feature1 = phys_read8(mpf + 11);

	if (feature1) { /* a default configuration: two CPUs, APIC IDs 0 and 1 */
		add_cpu(0);
		add_cpu(1);
		return 0;
	}
	if (!cfg || cfg >= 0x100000000ull || phys_read32(cfg) != 0x504d4350) /* "PCMP" */
		return fail("smp: MP floating pointer at 0x%lx has no PCMP table", mpf);
	uint16_t len = phys_read16(cfg + 4);
	uint16_t count = phys_read16(cfg + 0x22);

	if (len < 0x2c || checksum(cfg, len) != 0)
		return fail("smp: MP configuration table at 0x%lx: bad length or checksum", cfg);
	uint64_t e = cfg + 0x2c, end = cfg + len;

	for (unsigned i = 0; i < count && e < end; i++) {
		uint8_t type = phys_read8(e);

		if (cmdline_is("verbose", "1"))
			kprintf("smp: MP entry %u at 0x%lx type %u: %02x %02x %02x %02x\n", i, e,
				type, phys_read8(e + 1), phys_read8(e + 2), phys_read8(e + 3),
				phys_read8(e + 4));

		if (type == MP_PROCESSOR) {
			if (e + 20 > end)
				break;
			if (phys_read8(e + 3) & MP_CPU_ENABLED)
				add_cpu(phys_read8(e + 1));
			e += 20;
		} else if (type <= 4) {
			e += 8;
		} else {
			return fail("smp: MP table entry %u has unknown type %u", i, type);
		}
	}
	if (nr_cpus == 0)
		return fail("smp: MP table lists no enabled processor");
	return 0;
}

/* ---- AP start-up ------------------------------------------------------------------- */

static int send_ipi(uint8_t apic_id, uint32_t icr)
{
	lapic_write(LAPIC_ICR_HI, (uint32_t)apic_id << 24);
	lapic_write(LAPIC_ICR_LO, icr);
	for (unsigned i = 0; i < 100000; i++) {
		if (!(lapic_read(LAPIC_ICR_LO) & ICR_BUSY))
			return 0;
		cpu_relax();
	}
	return fail("smp: IPI 0x%x to APIC %u not delivered", icr, apic_id);
}

/* What the APs run once up (NULL: halt); ipi.c sets it before smp_bringup(). */
void (*volatile ap_task)(uint32_t index);
volatile uint32_t ap_apic_ids[MAX_CPUS];

/* Called from ap_user_entry (entry.S) at CPL3 on the AP's own stacks. */
NORETURN void ap_main(uint32_t index);

NORETURN void ap_main(uint32_t index)
{
	uint32_t apic_id = lapic_read(LAPIC_ID) >> 24;
	void (*task)(uint32_t) = ap_task;

	if (index < MAX_CPUS)
		ap_apic_ids[index] = apic_id;
	uint32_t n = __atomic_add_fetch(&ap_checked_in, 1, __ATOMIC_SEQ_CST);

	kprintf("AP %u up apic_id=%u\n", n, apic_id);
	__atomic_add_fetch(&ap_printed, 1, __ATOMIC_SEQ_CST);
	if (task && index < MAX_CPUS)
		task(index);
	sys_halt();
}

int smp_bringup(struct smp_info *si)
{
	uint64_t override = cmdline_u64("cpus", 0);
	uint64_t timeout_ms = cmdline_u64("timeout_ms", 2000);
	uint64_t init_us = cmdline_u64("init_us", 10000);
	const size_t tramp_len = (size_t)(ap_tramp_end - ap_tramp_start);
	uint8_t bsp_id;
	uint64_t t0, deadline;
	unsigned started = 0;

	if (lapic_enable())
		return -1;
	bsp_id = (uint8_t)(lapic_read(LAPIC_ID) >> 24);

	nr_cpus = 0;
	if (override) {
		if (override > 255)
			fail_exit(EXIT_USAGE, "smp: cpus=%lu is more than 255", override);
		for (unsigned i = 0; i < override; i++)
			add_cpu((uint8_t)i);
		si->source = "cmdline";
	} else {
		uint64_t mpf = mp_find();

		if (!mpf)
			return fail("smp: no MP table (give cpus=N)");
		kprintf("smp: MP floating pointer at 0x%lx\n", mpf);
		if (mp_parse(mpf))
			return -1;
		si->source = "mptable";
	}
	si->expected = nr_cpus;
	si->bsp_id = bsp_id;

	if (boot.nr_mem && !mem_is_ram(AP_TRAMPOLINE_ADDR, 4096))
		return fail("smp: trampoline page 0x%x is not RAM", AP_TRAMPOLINE_ADDR);
	memcpy(phys(AP_TRAMPOLINE_ADDR), ap_tramp_start, tramp_len);
	ap_checked_in = 0;
	ap_printed = 0;
	ap_next_index = 1;

	t0 = rdtsc();
	/* INIT to every AP, wait, then two start-up IPIs each (MP spec B.4). */
	for (unsigned i = 0; i < nr_cpus && i < MAX_CPUS; i++) {
		if (apic_ids[i] == bsp_id)
			continue;
		if (send_ipi(apic_ids[i], ICR_INIT))
			return -1;
		started++;
	}
	if (started) {
		delay_us(init_us);
		for (int round = 0; round < 2; round++) {
			for (unsigned i = 0; i < nr_cpus && i < MAX_CPUS; i++) {
				if (apic_ids[i] == bsp_id)
					continue;
				if (send_ipi(apic_ids[i], ICR_STARTUP | (AP_TRAMPOLINE_ADDR >> 12)))
					return -1;
			}
			delay_us(200);
		}
	}

	deadline = t0 + ns_to_tsc(timeout_ms * 1000000);
	while (ap_printed < started && (int64_t)(rdtsc() - deadline) < 0)
		cpu_relax();
	si->ns = tsc_to_ns(rdtsc() - t0);
	si->up = 1 + ap_checked_in;

	/* An AP still printing would garble our lines: give it the rest of the timeout. */
	while (ap_printed < ap_checked_in && (int64_t)(rdtsc() - deadline) < 0)
		cpu_relax();
	return 0;
}

int run_smp(void)
{
	struct smp_info si;

	ap_task = NULL;
	if (smp_bringup(&si))
		return -1;

	unsigned missing = si.up < si.expected ? si.expected - si.up : 0;

	kprintf("RESULT test=smp ops=%u ns=%lu errors=%u cpus=%u source=%s bsp_apic_id=%u\n", si.up,
		si.ns, missing, si.expected, si.source, si.bsp_id);
	if (missing)
		return fail("smp: %u of %u cpus did not check in", missing, si.expected);
	if (si.up > si.expected)
		return fail("smp: %u cpus checked in, expected %u", si.up, si.expected);
	return 0;
}
