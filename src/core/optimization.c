/* SPDX-License-Identifier: MIT */
#include "vireo/core/optimization.h"

/* One name a line (clang-format would pack them into columns). */
/* clang-format off */
const char *const optimization_names[OPT_COUNT] = {
    [OPT_HUGEPAGES] = "hugepages",
    [OPT_PREFAULT] = "prefault",
    [OPT_IOEVENTFD] = "ioeventfd",
    [OPT_PIT] = "pit",
    [OPT_EVENT_IDX] = "event-idx",
    [OPT_X2APIC] = "x2apic",
    [OPT_TSC_DEADLINE] = "tsc-deadline",
    [OPT_KVMCLOCK] = "kvmclock",
    [OPT_NOP_IO_DELAY] = "nop-io-delay",
    [OPT_ASYNC_PF] = "async-pf",
    [OPT_STEAL_TIME] = "steal-time",
    [OPT_PV_EOI] = "pv-eoi",
    [OPT_PV_UNHALT] = "pv-unhalt",
    [OPT_PV_TLB_FLUSH] = "pv-tlb-flush",
    [OPT_PV_SEND_IPI] = "pv-send-ipi",
    [OPT_PV_SCHED_YIELD] = "pv-sched-yield",
    [OPT_POLL_CONTROL] = "poll-control",
};
/* clang-format on */
