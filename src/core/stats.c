/* SPDX-License-Identifier: MIT */
#include "vireo/core/stats.h"
#include "vireo/lib/util.h"

#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void stats_count_stray(struct stray_table *t, uint64_t addr)
{
	for (unsigned i = 0; i < t->used; i++) {
		if (t->slot[i].addr == addr) {
			t->slot[i].count++;
			return;
		}
	}
	if (t->used < STATS_STRAY_SLOTS) {
		t->slot[t->used++] = (struct stray_count){.addr = addr, .count = 1};
		return;
	}
	t->overflow++;
}

void stats_count_handling(struct vcpu_stats *s, uint64_t ns)
{
	unsigned b = ns ? 63 - (unsigned)__builtin_clzll(ns) : 0;

	s->hist[b < STATS_HIST_BUCKETS ? b : STATS_HIST_BUCKETS - 1]++;
	s->handled++;
	s->handle_ns += ns;
}

static void stray_add(struct stray_table *a, const struct stray_table *b)
{
	for (unsigned i = 0; i < b->used; i++) {
		unsigned j = 0;

		while (j < a->used && a->slot[j].addr != b->slot[i].addr)
			j++;
		if (j < a->used)
			a->slot[j].count += b->slot[i].count;
		else if (a->used < STATS_STRAY_SLOTS)
			a->slot[a->used++] = b->slot[i];
		else
			a->overflow += b->slot[i].count;
	}
	a->overflow += b->overflow;
}

void stats_add(struct vcpu_stats *a, const struct vcpu_stats *b)
{
	for (unsigned i = 0; i < STATS_MAX_EXIT_REASON; i++)
		a->exits[i] += b->exits[i];
	for (unsigned i = 0; i < BUS_MAX_REGIONS; i++) {
		a->pio[i] += b->pio[i];
		a->mmio[i] += b->mmio[i];
	}
	for (unsigned i = 0; i < STATS_HIST_BUCKETS; i++)
		a->hist[i] += b->hist[i];
	stray_add(&a->pio_stray, &b->pio_stray);
	stray_add(&a->mmio_stray, &b->mmio_stray);
	a->handled += b->handled;
	a->handle_ns += b->handle_ns;
}

const char *stats_exit_name(unsigned reason)
{
	static const char *const names[] = {
	    [KVM_EXIT_UNKNOWN] = "unknown",
	    [KVM_EXIT_EXCEPTION] = "exception",
	    [KVM_EXIT_IO] = "io",
	    [KVM_EXIT_HYPERCALL] = "hypercall",
	    [KVM_EXIT_DEBUG] = "debug",
	    [KVM_EXIT_HLT] = "hlt",
	    [KVM_EXIT_MMIO] = "mmio",
	    [KVM_EXIT_IRQ_WINDOW_OPEN] = "irq_window_open",
	    [KVM_EXIT_SHUTDOWN] = "shutdown",
	    [KVM_EXIT_FAIL_ENTRY] = "fail_entry",
	    [KVM_EXIT_INTR] = "intr",
	    [KVM_EXIT_SET_TPR] = "set_tpr",
	    [KVM_EXIT_TPR_ACCESS] = "tpr_access",
	    [KVM_EXIT_NMI] = "nmi",
	    [KVM_EXIT_INTERNAL_ERROR] = "internal_error",
	    [KVM_EXIT_SYSTEM_EVENT] = "system_event",
	    [KVM_EXIT_IOAPIC_EOI] = "ioapic_eoi",
	    [KVM_EXIT_HYPERV] = "hyperv",
	    [KVM_EXIT_X86_RDMSR] = "x86_rdmsr",
	    [KVM_EXIT_X86_WRMSR] = "x86_wrmsr",
	    [KVM_EXIT_DIRTY_RING_FULL] = "dirty_ring_full",
	};

	if (reason == STATS_MAX_EXIT_REASON - 1)
		return "other";
	return reason < ARRAY_SIZE(names) ? names[reason] : NULL;
}

static int stat_slot(struct kvm_stat_set *set, const char *name)
{
	for (unsigned i = 0; i < set->nr; i++)
		if (strcmp(set->name[i], name) == 0)
			return (int)i;
	if (set->nr == KVM_STATS_MAX)
		return -1;
	snprintf(set->name[set->nr], KVM_STAT_NAME_MAX, "%s", name);
	set->value[set->nr] = 0;
	return (int)set->nr++;
}

int kvm_stats_read(int fd, struct kvm_stat_set *set)
{
	struct kvm_stats_header h;
	size_t desc_size;
	uint8_t *descs;
	int rc = -1;

	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.num_desc > 4096 ||
	    h.name_size > 1024)
		return -1;
	desc_size = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = calloc(h.num_desc, desc_size);
	if (!descs)
		return -1;
	if (pread(fd, descs, h.num_desc * desc_size, h.desc_offset) !=
	    (ssize_t)(h.num_desc * desc_size))
		goto out;
	for (unsigned i = 0; i < h.num_desc; i++) {
		const struct kvm_stats_desc *desc = (const void *)(descs + i * desc_size);
		char name[KVM_STAT_NAME_MAX];
		uint64_t v;
		int slot;

		/* Histograms and arrays have size > 1; only scalars are reported. */
		if (desc->size != 1)
			continue;
		if (pread(fd, &v, sizeof(v), h.data_offset + desc->offset) != (ssize_t)sizeof(v))
			goto out;
		snprintf(name, sizeof(name), "%.*s", (int)h.name_size, desc->name);
		slot = stat_slot(set, name);
		if (slot < 0)
			continue;
		/* Peaks (e.g. max_mmu_page_hash_collisions) take the max, counters add. */
		if ((desc->flags & KVM_STATS_TYPE_MASK) == KVM_STATS_TYPE_PEAK)
			set->value[slot] = v > set->value[slot] ? v : set->value[slot];
		else
			set->value[slot] += v;
	}
	rc = 0;
out:
	free(descs);
	return rc;
}

uint64_t kvm_stats_get(const struct kvm_stat_set *set, const char *name)
{
	for (unsigned i = 0; i < set->nr; i++)
		if (strcmp(set->name[i], name) == 0)
			return set->value[i];
	return 0;
}
