/* SPDX-License-Identifier: MIT */
/*
 * stats.h -- exit accounting.
 *
 * Each vCPU thread owns a struct vcpu_stats and is its only writer, so the
 * hot path uses plain increments, no atomics; the main thread reads them only
 * after the vCPU threads have been joined. KVM's own counters (exits handled
 * in the kernel) come from its binary stats fd (KVM_GET_STATS_FD).
 */
#ifndef VIREO_STATS_H
#define VIREO_STATS_H

#include "vireo/core/bus.h"

#include <stdbool.h>
#include <stdint.h>

#define STATS_MAX_EXIT_REASON 64 /* KVM_EXIT_* values; larger ones count in the last slot */
#define STATS_HIST_BUCKETS    48 /* bucket i: handling took [2^i, 2^(i+1)) ns */
#define STATS_STRAY_SLOTS     16 /* distinct unassigned ports/addresses tracked per vCPU */

/* Accesses to addresses where no device sits, by address. */
struct stray_count {
	uint64_t addr;
	uint64_t count;
};

struct stray_table {
	struct stray_count slot[STATS_STRAY_SLOTS];
	unsigned used;
	uint64_t overflow; /* accesses past the first STATS_STRAY_SLOTS addresses */
};

struct vcpu_stats {
	uint64_t exits[STATS_MAX_EXIT_REASON];
	uint64_t pio[BUS_MAX_REGIONS];
	uint64_t mmio[BUS_MAX_REGIONS];
	struct stray_table pio_stray;
	struct stray_table mmio_stray;
	uint64_t hist[STATS_HIST_BUCKETS];
	uint64_t handled;   /* exits timed into hist */
	uint64_t handle_ns; /* their total handling time */
};

static inline void stats_count_exit(struct vcpu_stats *s, uint32_t reason)
{
	s->exits[reason < STATS_MAX_EXIT_REASON ? reason : STATS_MAX_EXIT_REASON - 1]++;
}

/* Count one access to an unassigned address. */
void stats_count_stray(struct stray_table *t, uint64_t addr);

/* Record that handling one exit in userspace took ns nanoseconds. */
void stats_count_handling(struct vcpu_stats *s, uint64_t ns);

/* Add b into a (for summing vCPUs). */
void stats_add(struct vcpu_stats *a, const struct vcpu_stats *b);

/* Name of a KVM_EXIT_* reason, e.g. "io", "mmio"; NULL when unknown. */
const char *stats_exit_name(unsigned reason);

/* KVM binary statistics (KVM_GET_STATS_FD), the scalar ones only. */
#define KVM_STATS_MAX	  128
#define KVM_STAT_NAME_MAX 48

struct kvm_stat_set {
	char name[KVM_STATS_MAX][KVM_STAT_NAME_MAX];
	uint64_t value[KVM_STATS_MAX];
	unsigned nr;
};

/*
 * Read every scalar counter behind a stats fd into set, adding to values
 * already there under the same name (so vCPUs sum up). Returns 0 or -1.
 */
int kvm_stats_read(int stats_fd, struct kvm_stat_set *set);

/* Value of a named stat, or 0 when absent. */
uint64_t kvm_stats_get(const struct kvm_stat_set *set, const char *name);

#endif
