/* SPDX-License-Identifier: MIT */
/*
 * report.c -- the exit report: a table on stderr and, with --stats-json,
 * the same numbers as JSON (schema in README.md). Everything is gathered
 * once, after the vCPU threads have been joined.
 */
#include "vireo/machine/machine.h"
#include "vireo/lib/util.h"
#include "vireo/virtio/virtio_pci.h"
#include "vireo/arch/x86/acpi.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const stop_names[] = {
    [STOP_NONE] = "none",
    [STOP_DEBUG_EXIT] = "debug-exit",
    [STOP_RESET] = "reset",
    [STOP_POWEROFF] = "poweroff",
    [STOP_TRIPLE_FAULT] = "triple-fault",
    [STOP_SIGNAL] = "signal",
    [STOP_CONSOLE_QUIT] = "console-quit",
    [STOP_TIMEOUT] = "timeout",
    [STOP_ERROR] = "error",
    [STOP_INTERNAL_ERROR] = "internal-error",
};

int machine_report_open(struct machine *m)
{
	/* Re-read at exit with pread: procfs regenerates the text at offset 0. */
	m->proc_status_fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (!m->cfg.stats_json)
		return 0;
	m->stats_json_file = fopen(m->cfg.stats_json, "we");
	if (!m->stats_json_file) {
		vireo_perror("--stats-json %s", m->cfg.stats_json);
		return -1;
	}
	return 0;
}

static uint64_t vm_rss_kib(const struct machine *m)
{
	char buf[4096];
	const char *line;
	uint64_t kib = 0;
	ssize_t n = m->proc_status_fd >= 0 ? pread(m->proc_status_fd, buf, sizeof(buf) - 1, 0) : -1;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	line = strstr(buf, "\nVmRSS:");
	if (line)
		sscanf(line + 1, "VmRSS: %" SCNu64, &kib);
	return kib;
}

/* An eventfd's counter is exactly the number of writes KVM consumed for it. */
static void read_kernel_counts(struct bus *bus)
{
	for (unsigned i = 0; i < bus->nr; i++) {
		uint64_t n = 0;

		if (bus->region[i].kernel_eventfd >= 0 &&
		    read(bus->region[i].kernel_eventfd, &n, sizeof(n)) == (ssize_t)sizeof(n))
			bus->region[i].kernel_writes += n;
	}
}

/* Gather what the report needs; vCPU threads must have stopped. */
static void collect(struct machine *m, struct vcpu_stats *total)
{
	struct vm *vm = &m->vm;
	uint64_t guest_kib = gmem_resident_bytes(&vm->mem) >> 10;
	uint64_t rss = vm_rss_kib(m);

	memset(total, 0, sizeof(*total));
	memset(&vm->kvm_vcpu_stats, 0, sizeof(vm->kvm_vcpu_stats));
	memset(&vm->kvm_vm_stats, 0, sizeof(vm->kvm_vm_stats));
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		stats_add(total, &vm->vcpus[i].stats);
		if (vm->vcpus[i].stats_fd >= 0)
			kvm_stats_read(vm->vcpus[i].stats_fd, &vm->kvm_vcpu_stats);
	}
	if (vm->stats_fd >= 0)
		kvm_stats_read(vm->stats_fd, &vm->kvm_vm_stats);
	m->vmm_rss_kib = rss > guest_kib ? rss - guest_kib : 0;
	read_kernel_counts(&vm->pio);
	read_kernel_counts(&vm->mmio);
}

static double first_insn_ms(const struct machine *m)
{
	const struct vm *vm = &m->vm;
	uint64_t t = atomic_load(&m->boot_timer.first_write_ns);

	return t ? (double)(t - vm->start_ns) / 1e6 : -1.0;
}

/* --- table ------------------------------------------------------------- */

static void table_bus(FILE *f, const struct bus *bus, const uint64_t *counts,
		      const struct stray_table *stray)
{
	for (unsigned i = 0; i < bus->nr; i++) {
		uint64_t k = bus->region[i].kernel_writes;

		if (!counts[i] && !k)
			continue;
		fprintf(f, "  %-12s 0x%-10" PRIx64 " %12" PRIu64, bus->region[i].name,
			bus->region[i].base, counts[i]);
		if (bus->region[i].kernel_eventfd >= 0)
			fprintf(f, "   (+%" PRIu64 " consumed in KVM)", k);
		fputc('\n', f);
	}
	for (unsigned i = 0; i < stray->used; i++)
		fprintf(f, "  %-12s 0x%-10" PRIx64 " %12" PRIu64 "\n", "(nothing)",
			stray->slot[i].addr, stray->slot[i].count);
}

/* The engine behind a device ("io_uring"), "" when it has none. */
static const char *device_backend(const struct virtio_pci *vp)
{
	const struct virtio_device_ops *ops = vp->vdev.ops;

	return ops->backend ? ops->backend(&vp->vdev) : "";
}

/* A device's own counters, in the device's words (its report hook). */
static void device_report(const struct virtio_pci *vp, FILE *f, enum virtio_report_format fmt)
{
	if (vp->vdev.ops->report)
		vp->vdev.ops->report(&vp->vdev, vp->name, f, fmt);
}

/* Which of m->io[] runs device vp (its queues in no group, its own fds). */
static unsigned iothread_of(const struct machine *m, const struct virtio_pci *vp)
{
	return (unsigned)(vp->vdev.io - m->io);
}

/* Which of m->io[] runs queue q of vp (a queue group may have its own). */
static unsigned queue_iothread(const struct machine *m, const struct virtio_pci *vp, unsigned q)
{
	return (unsigned)(virtio_queue_io(&vp->vdev, q) - m->io);
}

/* Does thread i run anything of vp? */
static bool runs_on(const struct machine *m, const struct virtio_pci *vp, unsigned i)
{
	if (iothread_of(m, vp) == i)
		return true;
	for (unsigned q = 0; q < vp->vdev.ops->num_queues; q++)
		if (queue_iothread(m, vp, q) == i)
			return true;
	return false;
}

/*
 * Per I/O thread: epoll wakeups, and calls back of a queue that used up its
 * budget (a busy queue sharing the thread with others).
 */
static void table_iothreads(FILE *f, const struct machine *m)
{
	fprintf(f, "I/O threads:              %10s %10s  devices\n", "wakeups", "callbacks");
	for (unsigned i = 0; i < m->nr_io; i++) {
		fprintf(f, "  %-23s %10" PRIu64 " %10" PRIu64 " ", m->io[i].name, m->io[i].wakeups,
			m->io[i].callbacks);
		for (unsigned d = 0; d < m->nr_vdev; d++)
			if (runs_on(m, m->vdev[d], i))
				fprintf(f, " %s", m->vdev[d]->name);
		fprintf(f, "\n");
	}
}

static void table_devices(FILE *f, const struct machine *m)
{
	if (!m->nr_vdev)
		return;
	table_iothreads(f, m);
	fprintf(f, "virtio devices, by queue: %10s %10s %10s %10s %9s %12s\n", "kicks", "requests",
		"irqs", "irqs-saved", "malformed", "bytes");
	for (unsigned i = 0; i < m->nr_vdev; i++) {
		const struct virtio_pci *vp = m->vdev[i];

		for (unsigned q = 0; q < vp->vdev.ops->num_queues; q++) {
			const struct virtq_stats *st = &vp->vdev.vq[q].stats;

			fprintf(f,
				"  %-16s q%u %-4s %10" PRIu64 " %10" PRIu64 " %10" PRIu64
				" %10" PRIu64 " %9" PRIu64 " %12" PRIu64 "\n",
				vp->name, q, q ? "" : device_backend(vp), st->notifications,
				st->requests, st->interrupts, st->suppressed, st->malformed,
				st->bytes);
		}
		device_report(vp, f, VIRTIO_REPORT_TABLE);
	}
}

static void table_sandbox(FILE *f, const struct sandbox *sb)
{
	fprintf(f, "sandbox: seccomp %s, Landlock %s",
		sb->seccomp ? (sb->seccomp_log ? "log only" : "on") : "off",
		sb->landlock	       ? "on"
		: sb->landlock_note[0] ? sb->landlock_note
				       : "off");
	fprintf(f, ", uid %u gid %u%s%s\n", sb->uid, sb->gid, sb->cfg.chroot ? ", chroot " : "",
		sb->cfg.chroot ? sb->cfg.chroot : "");
}

static void print_table(FILE *f, const struct machine *m, const struct vcpu_stats *t)
{
	const struct vm *vm = &m->vm;
	double ms = first_insn_ms(m);

	fprintf(f, "\nvireo: VM stopped: %s (exit status %d)\n", vm->stop_detail, vm->exit_status);
	fprintf(f, "boot: %s, %u vCPU(s), %" PRIu64 " MiB, %s",
		m->boot.kernel.format == KERNEL_BZIMAGE ? "bzImage" : "PVH", vm->nr_vcpus,
		m->cfg.mem_bytes >> 20, m->cfg.acpi ? "ACPI and MP tables" : "MP table only");
	if (ms >= 0)
		fprintf(f, ", first guest instruction after %.3f ms", ms);
	fprintf(f, "\n");
	table_sandbox(f, &vm->sandbox);
	fprintf(f, "exits to userspace, by reason:\n");
	for (unsigned r = 0; r < STATS_MAX_EXIT_REASON; r++) {
		if (!t->exits[r])
			continue;
		fprintf(f, "  %-16s %12" PRIu64 "\n", stats_exit_name(r) ? stats_exit_name(r) : "?",
			t->exits[r]);
	}
	fprintf(f, "port I/O exits, by device:\n");
	table_bus(f, &vm->pio, t->pio, &t->pio_stray);
	if (vm->mmio.nr || t->mmio_stray.used) {
		fprintf(f, "MMIO exits, by device:\n");
		table_bus(f, &vm->mmio, t->mmio, &t->mmio_stray);
	}
	if (t->handled) {
		fprintf(f, "userspace handling time: %" PRIu64 " exits, mean %" PRIu64 " ns\n",
			t->handled, t->handle_ns / t->handled);
		for (unsigned b = 0; b < STATS_HIST_BUCKETS; b++)
			if (t->hist[b])
				fprintf(f, "  [%8llu ns, %8llu ns) %12" PRIu64 "\n", 1ull << b,
					2ull << b, t->hist[b]);
	}
	if (vm->kvm_vcpu_stats.nr) {
		static const char *const keys[] = {"exits",	    "io_exits",	      "mmio_exits",
						   "halt_exits",    "irq_injections", "pf_taken",
						   "insn_emulation"};

		fprintf(f, "KVM in-kernel counters (all vCPUs):\n");
		for (unsigned i = 0; i < ARRAY_SIZE(keys); i++)
			fprintf(f, "  %-16s %12" PRIu64 "\n", keys[i],
				kvm_stats_get(&vm->kvm_vcpu_stats, keys[i]));
	}
	fprintf(f, "serial (COM1): %" PRIu64 " bytes out, %" PRIu64 " dropped, %" PRIu64 " in\n",
		m->serial.tx_bytes, serial_tx_dropped(&m->serial), m->serial.rx_bytes);
	table_devices(f, m);
	fprintf(f, "memory: VMM resident %" PRIu64 " KiB besides guest RAM\n", m->vmm_rss_kib);
	fprintf(f, "optimizations:");
	for (unsigned i = 0; i < OPT_COUNT; i++)
		fprintf(f, " %s%s", vm->active[i] ? "+" : "-", optimization_names[i]);
	fprintf(f, "\n");
}

/* --- JSON -------------------------------------------------------------- */

static void json_str(FILE *f, const char *s);

/* What vireo gave up (sandbox.h): filters, Landlock, the ids it ran as, its root. */
static void json_sandbox(FILE *f, const struct sandbox *sb)
{
	fprintf(f,
		"  \"sandbox\": {\"seccomp\": %s, \"seccomp_log\": %s, \"landlock\": %s, "
		"\"landlock_abi\": %d, \"landlock_note\": ",
		sb->seccomp && !sb->seccomp_log ? "true" : "false",
		sb->seccomp_log ? "true" : "false", sb->landlock ? "true" : "false",
		sb->landlock_abi > 0 ? sb->landlock_abi : 0);
	if (sb->landlock_note[0])
		json_str(f, sb->landlock_note);
	else
		fprintf(f, "null");
	fprintf(f, ", \"uid\": %u, \"gid\": %u, \"chroot\": ", sb->uid, sb->gid);
	if (sb->cfg.chroot)
		json_str(f, sb->cfg.chroot);
	else
		fprintf(f, "null");
	fprintf(f, "},\n");
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void json_bus(FILE *f, const struct bus *bus, const uint64_t *counts,
		     const struct stray_table *stray, bool by_port)
{
	bool first = true;

	fprintf(f, "{");
	for (unsigned i = 0; i < bus->nr; i++) {
		char key[40];

		if (by_port)
			snprintf(key, sizeof(key), "0x%" PRIx64, bus->region[i].base);
		else
			snprintf(key, sizeof(key), "%s", bus->region[i].name);
		fprintf(f, "%s\n    ", first ? "" : ",");
		json_str(f, key);
		fprintf(f, ": {\"name\": ");
		json_str(f, bus->region[i].name);
		fprintf(f, ", \"base\": %" PRIu64 ", \"exits\": %" PRIu64, bus->region[i].base,
			counts[i]);
		if (bus->region[i].kernel_eventfd >= 0)
			fprintf(f, ", \"in_kernel\": %" PRIu64, bus->region[i].kernel_writes);
		fprintf(f, "}");
		first = false;
	}
	for (unsigned i = 0; i < stray->used; i++) {
		fprintf(f,
			"%s\n    \"0x%" PRIx64 "\": {\"name\": \"unassigned\", \"base\": %" PRIu64
			", \"exits\": %" PRIu64 "}",
			first ? "" : ",", stray->slot[i].addr, stray->slot[i].addr,
			stray->slot[i].count);
		first = false;
	}
	fprintf(f, "\n  }");
}

static void json_kvm(FILE *f, const struct kvm_stat_set *s)
{
	fprintf(f, "{");
	for (unsigned i = 0; i < s->nr; i++) {
		fprintf(f, "%s\n    ", i ? "," : "");
		json_str(f, s->name[i]);
		fprintf(f, ": %" PRIu64, s->value[i]);
	}
	fprintf(f, "\n  }");
}

static void json_devices(FILE *f, const struct machine *m)
{
	fprintf(f, "  \"devices\": {");
	for (unsigned i = 0; i < m->nr_vdev; i++) {
		const struct virtio_pci *vp = m->vdev[i];

		fprintf(f, "%s\n    ", i ? "," : "");
		json_str(f, vp->name);
		fprintf(f, ": {\"type\": ");
		json_str(f, vp->vdev.ops->name);
		fprintf(f, ", \"backend\": ");
		json_str(f, device_backend(vp));
		fprintf(f,
			", \"iothread\": %u, \"status\": %u, \"msix_raised\": %" PRIu64
			", \"msix_held\": %" PRIu64 ", \"msix_route_updates\": %" PRIu64
			", \"intx_irq\": %u, \"intx_raised\": %" PRIu64 ", \"queues\": [",
			iothread_of(m, vp), vp->vdev.status, vp->msix.raised, vp->msix.held,
			vp->msix.route_updates, vp->intx.irq, vp->intx.raised);
		for (unsigned q = 0; q < vp->vdev.ops->num_queues; q++) {
			const struct virtq_stats *st = &vp->vdev.vq[q].stats;

			fprintf(f,
				"%s\n      {\"notifications\": %" PRIu64 ", \"requests\": %" PRIu64
				", \"interrupts\": %" PRIu64 ", \"suppressed\": %" PRIu64
				", \"malformed\": %" PRIu64 ", \"bytes\": %" PRIu64
				", \"iothread\": %u}",
				q ? "," : "", st->notifications, st->requests, st->interrupts,
				st->suppressed, st->malformed, st->bytes, queue_iothread(m, vp, q));
		}
		fprintf(f, "]");
		device_report(vp, f, VIRTIO_REPORT_JSON);
		fprintf(f, "}");
	}
	fprintf(f, "%s},\n", m->nr_vdev ? "\n  " : "");
	fprintf(f, "  \"iothreads\": [");
	for (unsigned i = 0; i < m->nr_io; i++) {
		fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
		json_str(f, m->io[i].name);
		fprintf(f, ", \"wakeups\": %" PRIu64 ", \"callbacks\": %" PRIu64 "}",
			m->io[i].wakeups, m->io[i].callbacks);
	}
	fprintf(f, "%s],\n", m->nr_io ? "\n  " : "");
}

static void json_str_or_null(FILE *f, const char *s)
{
	if (s)
		json_str(f, s);
	else
		fprintf(f, "null");
}

/*
 * The facts of a KVM internal error, null for any other stop. 64-bit values
 * (RIP, KVM's data words) are hex strings: JSON readers hold numbers as
 * doubles, which would round a kernel address.
 */
static void json_internal_error(FILE *f, const struct machine *m)
{
	const struct vm *vm = &m->vm;
	const struct internal_error *e = &vm->internal_error;
	char hex[INTERNAL_ERROR_HEX_LEN];

	fprintf(f, "  \"internal_error\": ");
	if (vm->stop_reason != STOP_INTERNAL_ERROR) {
		fprintf(f, "null,\n");
		return;
	}
	fprintf(f, "{\"vcpu\": %u, \"suberror\": %" PRIu32 ", \"suberror_name\": ", e->vcpu,
		e->suberror);
	json_str_or_null(f, internal_error_suberror_name(e->suberror));
	if (e->have_regs) {
		fprintf(f, ", \"rip\": \"0x%" PRIx64 "\", \"cpl\": %u, \"mode\": ", e->rip, e->cpl);
		json_str(f, x86_cpu_mode_name(e->mode));
	} else {
		fprintf(f, ", \"rip\": null, \"cpl\": null, \"mode\": null");
	}
	internal_error_insn_hex(e, hex, sizeof(hex));
	fprintf(f, ", \"insn_bytes\": ");
	json_str_or_null(f, e->insn_len ? hex : NULL);
	fprintf(f, ", \"insn_source\": ");
	json_str_or_null(f, !e->insn_len ? NULL : e->insn_from_kvm ? "kvm" : "guest-memory");
	fprintf(f, ", \"data\": [");
	for (unsigned i = 0; i < e->ndata; i++)
		fprintf(f, "%s\"0x%" PRIx64 "\"", i ? ", " : "", e->data[i]);
	fprintf(f, "]},\n");
}

static void write_json(FILE *f, const struct machine *m, const struct vcpu_stats *t)
{
	const struct vm *vm = &m->vm;
	double ms = first_insn_ms(m);
	bool first = true;

	fprintf(f, "{\n  \"version\": 1,\n  \"exit_status\": %d,\n  \"stop_reason\": \"%s\",\n",
		vm->exit_status, stop_names[vm->stop_reason]);
	fprintf(f, "  \"stop_detail\": ");
	json_str(f, vm->stop_detail);
	fprintf(f, ",\n");
	json_internal_error(f, m);
	fprintf(f, "  \"vcpus\": %u,\n  \"exits\": {", vm->nr_vcpus);
	for (unsigned r = 0; r < STATS_MAX_EXIT_REASON; r++) {
		if (!t->exits[r])
			continue;
		fprintf(f, "%s\"%s\": %" PRIu64, first ? "" : ", ",
			stats_exit_name(r) ? stats_exit_name(r) : "other", t->exits[r]);
		first = false;
	}
	fprintf(f, "},\n  \"exits_per_vcpu\": [");
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		uint64_t sum = 0;

		for (unsigned r = 0; r < STATS_MAX_EXIT_REASON; r++)
			sum += vm->vcpus[i].stats.exits[r];
		fprintf(f, "%s%" PRIu64, i ? ", " : "", sum);
	}
	fprintf(f, "],\n  \"pio\": ");
	json_bus(f, &vm->pio, t->pio, &t->pio_stray, true);
	fprintf(f, ",\n  \"mmio\": ");
	json_bus(f, &vm->mmio, t->mmio, &t->mmio_stray, false);
	fprintf(f,
		",\n  \"handling_ns\": {\"count\": %" PRIu64 ", \"total\": %" PRIu64
		", \"log2_histogram\": [",
		t->handled, t->handle_ns);
	for (unsigned b = 0; b < STATS_HIST_BUCKETS; b++)
		fprintf(f, "%s%" PRIu64, b ? ", " : "", t->hist[b]);
	fprintf(f, "]},\n  \"kvm\": ");
	json_kvm(f, &vm->kvm_vcpu_stats);
	fprintf(f, ",\n  \"kvm_vm\": ");
	json_kvm(f, &vm->kvm_vm_stats);
	fprintf(f, ",\n  \"boot\": {\"protocol\": \"%s\", \"first_instruction_us\": ",
		m->boot.kernel.format == KERNEL_BZIMAGE ? "bzimage" : "pvh");
	if (ms >= 0)
		fprintf(f, "%.0f", ms * 1000.0);
	else
		fprintf(f, "null");
	if (m->cfg.acpi)
		fprintf(f, ", \"acpi_rsdp\": %llu", (unsigned long long)ACPI_TABLES_ADDR);
	else
		fprintf(f, ", \"acpi_rsdp\": null");
	fprintf(f, ", \"e820\": [");
	for (unsigned i = 0; i < m->boot.nr_e820; i++)
		fprintf(f, "%s\n    {\"addr\": %" PRIu64 ", \"size\": %" PRIu64 ", \"type\": %u}",
			i ? "," : "", m->boot.e820[i].addr, m->boot.e820[i].size,
			m->boot.e820[i].type);
	fprintf(f,
		"\n  ]},\n  \"memory\": {\"guest_mib\": %" PRIu64 ", \"vmm_rss_kib\": %" PRIu64
		"},\n",
		m->cfg.mem_bytes >> 20, m->vmm_rss_kib);
	fprintf(f,
		"  \"serial\": {\"tx_bytes\": %" PRIu64 ", \"tx_dropped\": %" PRIu64
		", \"rx_bytes\": %" PRIu64 "},\n",
		m->serial.tx_bytes, serial_tx_dropped(&m->serial), m->serial.rx_bytes);
	json_devices(f, m);
	json_sandbox(f, &vm->sandbox);
	fprintf(f, "  \"cpuid_pv_features\": %u,\n  \"optimizations\": {", vm->pv_features);
	for (unsigned i = 0; i < OPT_COUNT; i++)
		fprintf(f, "%s\"%s\": %s", i ? ", " : "", optimization_names[i],
			vm->active[i] ? "true" : "false");
	fprintf(f, "}\n}\n");
}

void machine_report(struct machine *m)
{
	struct vm *vm = &m->vm;
	struct vcpu_stats total;

	collect(m, &total);
	if (!m->cfg.quiet)
		print_table(stderr, m, &total);
	/* Not opened early when vm_run() never ran (tests build a VM by hand);
	 * never under the sandbox, which would trap the open. */
	if (m->cfg.stats_json && !m->stats_json_file && !vm->sandbox.entered &&
	    machine_report_open(m) < 0)
		return;
	if (m->stats_json_file) {
		FILE *f = m->stats_json_file;

		m->stats_json_file = NULL;
		write_json(f, m, &total);
		if (fclose(f) != 0)
			vireo_perror("--stats-json %s", m->cfg.stats_json);
	}
}
