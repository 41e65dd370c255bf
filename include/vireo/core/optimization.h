/* SPDX-License-Identifier: MIT */
/*
 * optimization.h -- every optimization vireo applies, in one table with a
 * name, so each has a --no-NAME switch and a benchmark can turn it off and
 * show what it buys (bench/ablation). The core keeps which are in force
 * (struct vm.active): a host that cannot offer one turns it off there.
 */
#ifndef VIREO_OPTIMIZATION_H
#define VIREO_OPTIMIZATION_H

enum optimization {
	OPT_HUGEPAGES,	    /* THP-backed guest RAM: 2 MiB host and KVM mappings */
	OPT_PREFAULT,	    /* populate guest RAM before boot (off by default) */
	OPT_IOEVENTFD,	    /* doorbells and no-op ports (0x80) consumed inside KVM */
	OPT_PIT,	    /* in-kernel i8254 PIT and port 0x61; off: no PIT at all */
	OPT_EVENT_IDX,	    /* virtio EVENT_IDX: notification suppression via the rings */
	OPT_X2APIC,	    /* x2APIC: APIC access by MSR instead of MMIO */
	OPT_TSC_DEADLINE,   /* TSC-deadline LAPIC timer */
	OPT_KVMCLOCK,	    /* pvclock shared page: time without exits */
	OPT_NOP_IO_DELAY,   /* tell the guest port-0x80 delays are unneeded */
	OPT_ASYNC_PF,	    /* asynchronous page faults */
	OPT_STEAL_TIME,	    /* shared steal-time page */
	OPT_PV_EOI,	    /* EOI through shared memory, no exit */
	OPT_PV_UNHALT,	    /* PV spinlock kick */
	OPT_PV_TLB_FLUSH,   /* skip flush IPIs to preempted vCPUs */
	OPT_PV_SEND_IPI,    /* many IPIs per hypercall */
	OPT_PV_SCHED_YIELD, /* yield to the preempted vCPU an IPI waits for */
	OPT_POLL_CONTROL,   /* guest-controlled host halt polling */
	OPT_COUNT
};

/* Name of an optimization as used in --no-NAME and in the stats. */
extern const char *const optimization_names[OPT_COUNT];

#endif
