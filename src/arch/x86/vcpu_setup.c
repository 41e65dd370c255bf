/* SPDX-License-Identifier: MIT */
/*
 * vcpu_setup.c -- an x86 vCPU made ready for its first KVM_RUN (vcpu_setup.h):
 * the CPUID table with the paravirtual features the switches allow, the
 * boot MSRs, LINT0/LINT1 as a PC BIOS leaves them, the FPU and the BSP's
 * entry registers.
 */
#include "vireo/core/kvm.h"
#include "vireo/lib/util.h"
#include "vireo/arch/x86/cpuid.h"
#include "vireo/arch/x86/regs.h"
#include "vireo/arch/x86/vcpu_setup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define APIC_LVT0	 0x350
#define APIC_LVT1	 0x360
#define APIC_MODE_NMI	 0x4
#define APIC_MODE_EXTINT 0x7

struct kvm_cpuid2 *x86_supported_cpuid(int kvm_fd)
{
	for (unsigned n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

		if (!c)
			return NULL;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG)
			break;
	}
	vireo_perror("KVM_GET_SUPPORTED_CPUID");
	return NULL;
}

/* The PV feature bits each optimization switch controls. */
static uint32_t wanted_pv_features(const bool *active)
{
	static const struct {
		enum optimization opt;
		uint32_t bits;
	} map[] = {
	    {OPT_KVMCLOCK, PVF_CLOCKSOURCE | PVF_CLOCKSOURCE2 | PVF_CLOCKSOURCE_STABLE},
	    {OPT_NOP_IO_DELAY, PVF_NOP_IO_DELAY},
	    {OPT_ASYNC_PF, PVF_ASYNC_PF | PVF_ASYNC_PF_VMEXIT | PVF_ASYNC_PF_INT},
	    {OPT_STEAL_TIME, PVF_STEAL_TIME},
	    {OPT_PV_EOI, PVF_PV_EOI},
	    {OPT_PV_UNHALT, PVF_PV_UNHALT},
	    {OPT_PV_TLB_FLUSH, PVF_PV_TLB_FLUSH},
	    {OPT_PV_SEND_IPI, PVF_PV_SEND_IPI},
	    {OPT_PV_SCHED_YIELD, PVF_PV_SCHED_YIELD},
	    {OPT_POLL_CONTROL, PVF_POLL_CONTROL},
	};
	uint32_t want = PVF_MSI_EXT_DEST_ID; /* a capability, not an optimization */

	for (unsigned i = 0; i < ARRAY_SIZE(map); i++)
		if (active[map[i].opt])
			want |= map[i].bits;
	return want;
}

void x86_note_cpuid_features(bool active[OPT_COUNT], int kvm_fd, const struct kvm_cpuid2 *host)
{
	struct kvm_cpuid_entry2 *leaf1 =
	    cpuid_find((struct kvm_cpuid_entry2 *)host->entries, host->nent, 1, 0);
	bool host_x2apic = leaf1 && (leaf1->ecx & (1u << 21));

	active[OPT_X2APIC] = active[OPT_X2APIC] && host_x2apic;
	active[OPT_TSC_DEADLINE] =
	    active[OPT_TSC_DEADLINE] && kvm_cap(kvm_fd, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
}

void x86_note_pv_features(bool active[OPT_COUNT], uint32_t offered)
{
	active[OPT_KVMCLOCK] = offered & PVF_CLOCKSOURCE2;
	active[OPT_NOP_IO_DELAY] = offered & PVF_NOP_IO_DELAY;
	active[OPT_ASYNC_PF] = offered & PVF_ASYNC_PF;
	active[OPT_STEAL_TIME] = offered & PVF_STEAL_TIME;
	active[OPT_PV_EOI] = offered & PVF_PV_EOI;
	active[OPT_PV_UNHALT] = offered & PVF_PV_UNHALT;
	active[OPT_PV_TLB_FLUSH] = offered & PVF_PV_TLB_FLUSH;
	active[OPT_PV_SEND_IPI] = offered & PVF_PV_SEND_IPI;
	active[OPT_PV_SCHED_YIELD] = offered & PVF_PV_SCHED_YIELD;
	active[OPT_POLL_CONTROL] = offered & PVF_POLL_CONTROL;
}

static int set_cpuid(int fd, unsigned id, const struct kvm_cpuid2 *host,
		     const struct x86_vcpu_config *vc, uint32_t *offered)
{
	size_t size = sizeof(*host) + host->nent * sizeof(host->entries[0]);
	struct kvm_cpuid2 *c = malloc(size);
	struct cpuid_config cfg = {.ncpus = vc->ncpus,
				   .pv_features = wanted_pv_features(vc->active),
				   .x2apic = vc->active[OPT_X2APIC],
				   .tsc_deadline = vc->active[OPT_TSC_DEADLINE]};
	int r;

	if (!c)
		return -1;
	memcpy(c, host, size);
	*offered = cpuid_fixup(c->entries, c->nent, id, &cfg);
	r = ioctl(fd, KVM_SET_CPUID2, c);
	free(c);
	if (r < 0) {
		vireo_perror("vCPU %u: KVM_SET_CPUID2", id);
		return -1;
	}
	return 0;
}

static void set_boot_msrs(int fd)
{
	struct boot_msr list[16];
	unsigned n = boot_msrs(list, ARRAY_SIZE(list));
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[ARRAY_SIZE(list)];
	} m;

	/*
	 * All in one KVM_SET_MSRS (each vCPU ioctl loads the vCPU, which reads
	 * host MSRs: traps of their own where the host is itself a guest).
	 * Best effort: KVM stops at the first MSR it does not know and says how
	 * many it set; that one keeps its reset value, which for every MSR here
	 * is a valid (if slower) state, and the rest go in the next call.
	 */
	for (unsigned i = 0; i < n;) {
		int set;

		memset(&m, 0, sizeof(m));
		m.hdr.nmsrs = n - i;
		for (unsigned k = i; k < n; k++)
			m.e[k - i] =
			    (struct kvm_msr_entry){.index = list[k].index, .data = list[k].value};
		set = ioctl(fd, KVM_SET_MSRS, &m);
		i += set > 0 ? (unsigned)set : 0;
		if (i < n && (set < 0 || (unsigned)set < m.hdr.nmsrs))
			i++; /* the one KVM refused */
	}
}

static void set_lvt_mode(struct kvm_lapic_state *l, unsigned reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, &l->regs[reg], sizeof(v));
	v = (v & ~0x700u) | mode << 8;
	memcpy(&l->regs[reg], &v, sizeof(v));
}

/* LINT0 = ExtINT (the 8259 PIC), LINT1 = NMI, as a PC BIOS leaves them. */
static int set_lapic_lints(int fd)
{
	struct kvm_lapic_state l;

	if (ioctl(fd, KVM_GET_LAPIC, &l) < 0)
		return -1;
	set_lvt_mode(&l, APIC_LVT0, APIC_MODE_EXTINT);
	set_lvt_mode(&l, APIC_LVT1, APIC_MODE_NMI);
	return ioctl(fd, KVM_SET_LAPIC, &l);
}

static int set_boot_registers(int fd, const struct kernel_image *k)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		return -1;
	boot_regs(k, &regs, &sregs);
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(fd, KVM_SET_REGS, &regs) < 0)
		return -1;
	return 0;
}

int x86_vcpu_setup(int fd, unsigned id, const struct kvm_cpuid2 *host,
		   const struct x86_vcpu_config *cfg, uint32_t *pv_offered)
{
	struct kvm_fpu fpu;

	/* CPUID first: KVM derives MSR and LAPIC behaviour from it. */
	if (set_cpuid(fd, id, host, cfg, pv_offered) < 0)
		return -1;
	set_boot_msrs(fd);
	boot_fpu(&fpu);
	if (set_lapic_lints(fd) < 0 || ioctl(fd, KVM_SET_FPU, &fpu) < 0) {
		vireo_perror("vCPU %u: LAPIC/FPU set-up", id);
		return -1;
	}
	if (id == 0 && set_boot_registers(fd, cfg->kernel) < 0) {
		vireo_perror("vCPU 0: boot registers");
		return -1;
	}
	return 0;
}
