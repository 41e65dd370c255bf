// SPDX-License-Identifier: MIT
/*
 * time.c -- the TSC frequency and kvmclock.
 *
 * tsc_khz comes from, in order: kvmclock (tsc_to_system_mul/tsc_shift), CPUID
 * leaf 0x15 (crystal ratio) or 0x16 (base frequency), or a ~10 ms
 * calibration against PIT channel 2. `tsc=pit` on the command line forces the
 * PIT, `tsc=cpuid` skips kvmclock.
 */
#include "guest.h"

#define MSR_KVM_SYSTEM_TIME_NEW	 0x4b564d01
#define KVM_FEATURE_CLOCKSOURCE2 (1u << 3)

#define PIT_HZ	   1193182ull
#define PIT_CAL_MS 10
#define PIT_CH2	   0x42
#define PIT_MODE   0x43
#define PIT_GATE   0x61 /* bit 0: ch2 gate, bit 1: speaker, bit 5: ch2 output */

uint64_t tsc_khz;

static struct pvclock_vcpu_time_info kvmclock_page;
static bool kvmclock_on;

uint64_t tsc_to_ns(uint64_t t)
{
	/* t * 1e6 / khz without overflowing 64 bits. */
	return t / tsc_khz * 1000000 + t % tsc_khz * 1000000 / tsc_khz;
}

uint64_t ns_to_tsc(uint64_t ns)
{
	return ns / 1000000 * tsc_khz + ns % 1000000 * tsc_khz / 1000000;
}

void delay_us(uint64_t us)
{
	uint64_t end = rdtsc() + ns_to_tsc(us * 1000);

	while ((int64_t)(rdtsc() - end) < 0)
		cpu_relax();
}

uint32_t kvm_cpuid_base(void)
{
	if (!(cpuid(1, 0).ecx & (1u << 31))) /* no hypervisor */
		return 0;
	for (uint32_t base = 0x40000000; base < 0x40001000; base += 0x100) {
		struct cpuid r = cpuid(base, 0);
		char sig[12];

		memcpy(sig, &r.ebx, 4);
		memcpy(sig + 4, &r.ecx, 4);
		memcpy(sig + 8, &r.edx, 4);
		/* Old KVMs leave EAX 0; Linux then assumes base + 1 exists. */
		if (memcmp(sig, "KVMKVMKVM\0\0\0", 12) == 0)
			return base;
	}
	return 0;
}

bool kvmclock_available(void)
{
	uint32_t base = kvm_cpuid_base();

	return base && (cpuid(base + 1, 0).eax & KVM_FEATURE_CLOCKSOURCE2);
}

volatile struct pvclock_vcpu_time_info *kvmclock_enable(void)
{
	volatile struct pvclock_vcpu_time_info *p = &kvmclock_page;

	if (kvmclock_on)
		return p;
	if (!kvmclock_available())
		return NULL;
	sys_wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (uint64_t)(uintptr_t)&kvmclock_page | 1);
	/* KVM fills the page before the next guest entry; allow for slowness. */
	for (unsigned i = 0; i < 1000000; i++) {
		uint32_t v = p->version;

		barrier();
		if (v && !(v & 1) && p->tsc_to_system_mul) {
			kvmclock_on = true;
			return p;
		}
		cpu_relax();
	}
	return NULL;
}

static uint64_t pvclock_scale(uint64_t delta, uint32_t mul, int8_t shift)
{
	if (shift < 0)
		delta >>= -shift;
	else
		delta <<= shift;
	return (uint64_t)(((unsigned __int128)delta * mul) >> 32);
}

uint64_t pvclock_read(volatile struct pvclock_vcpu_time_info *p)
{
	uint32_t version;
	uint64_t ns;

	do {
		version = p->version;
		barrier();
		uint64_t tsc = rdtsc_ordered();

		ns = p->system_time +
		     pvclock_scale(tsc - p->tsc_timestamp, p->tsc_to_system_mul, p->tsc_shift);
		barrier();
	} while ((version & 1) || version != p->version);
	return ns;
}

static uint64_t khz_from_kvmclock(void)
{
	volatile struct pvclock_vcpu_time_info *p = kvmclock_enable();
	uint64_t khz;
	int8_t shift;

	if (!p)
		return 0;
	/* Linux pvclock_tsc_khz(). */
	khz = (1000000ull << 32) / p->tsc_to_system_mul;
	shift = p->tsc_shift;
	if (shift < 0)
		khz <<= -shift;
	else
		khz >>= shift;
	return khz;
}

static uint64_t khz_from_cpuid(const char **via)
{
	uint32_t max = cpuid(0, 0).eax;

	if (max >= 0x15) {
		struct cpuid r = cpuid(0x15, 0); /* eax: denominator, ebx: numerator, ecx: Hz */

		if (r.eax && r.ebx && r.ecx) {
			*via = "cpuid15";
			return (uint64_t)r.ecx * r.ebx / r.eax / 1000;
		}
	}
	if (max >= 0x16) {
		uint32_t mhz = cpuid(0x16, 0).eax & 0xffff;

		if (mhz) {
			*via = "cpuid16";
			return (uint64_t)mhz * 1000;
		}
	}
	return 0;
}

static uint64_t khz_from_pit(void)
{
	const uint64_t latch = PIT_HZ * PIT_CAL_MS / 1000;
	uint64_t t0, t1;
	unsigned long spins = 0;

	/* Gate high, speaker off; channel 2, lobyte/hibyte, mode 0 (interrupt on terminal
	 * count), binary. The output goes high when the count reaches zero. */
	outb(PIT_GATE, (inb(PIT_GATE) & ~0x02) | 0x01);
	outb(PIT_MODE, 0xb0);
	outb(PIT_CH2, latch & 0xff);
	outb(PIT_CH2, (latch >> 8) & 0xff);
	t0 = rdtsc();
	while (!(inb(PIT_GATE) & 0x20)) {
		if (++spins > 100000000ul)
			return 0;
	}
	t1 = rdtsc();
	outb(PIT_GATE, inb(PIT_GATE) & ~0x03);
	/* Mode 0 drives the output low when the count is written: high at the
	 * first look means no PIT counted (vireo --no-pit says so on purpose). */
	if (spins == 0) {
		kprintf("tsc: no PIT (channel 2 output high before counting)\n");
		return 0;
	}
	/* (t1 - t0) ticks in latch / PIT_HZ seconds. */
	return (t1 - t0) * PIT_HZ / (latch * 1000);
}

void time_init(void)
{
	const char *via = "none";

	if (!cmdline_is("tsc", "pit") && !cmdline_is("tsc", "cpuid")) {
		tsc_khz = khz_from_kvmclock();
		if (tsc_khz)
			via = "kvmclock";
	}
	if (!tsc_khz && !cmdline_is("tsc", "pit"))
		tsc_khz = khz_from_cpuid(&via);
	if (!tsc_khz) {
		tsc_khz = khz_from_pit();
		if (tsc_khz)
			via = "pit";
	}
	if (!tsc_khz)
		fail_exit(EXIT_BOOT, "cannot determine the TSC frequency");
	kprintf("tsc_khz=%lu via=%s\n", tsc_khz, via);
}
