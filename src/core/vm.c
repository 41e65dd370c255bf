/* SPDX-License-Identifier: MIT */
/*
 * vm.c -- the core VM: check the inputs, open KVM, create the VM with its
 * in-kernel irqchip and PIT, give it RAM, load the kernel and its boot
 * information; how it stops. Each step prints one clear line and returns -1
 * when it cannot be done; vm_destroy() cleans up whatever was built. The
 * devices are the machine's (src/machine/).
 */
#include "vireo/kvm.h"
#include "vireo/util.h"
#include "vireo/vm.h"
#include "vireo/x86/acpi.h"
#include "vireo/x86/regs.h"
#include "vireo/x86/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void vm_init_state(struct vm *vm, const struct vm_config *cfg, uint64_t start_ns)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg = *cfg;
	vm->kvm_fd = vm->vm_fd = vm->stats_fd = -1;
	vm->stop_eventfd = -1;
	vm->start_ns = start_ns;
	sandbox_init(&vm->sandbox, &cfg->sandbox);
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	pthread_mutex_init(&vm->stop_lock, NULL);
	for (unsigned i = 0; i < OPT_COUNT; i++)
		vm->active[i] = cfg->want[i];
}

/* The first request's reason, status, detail and internal-error facts (ierr) stick. */
static void request_stop(struct vm *vm, enum vm_stop_reason why, int status, const char *detail,
			 const struct internal_error *ierr)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vm->stop_lock);
	if (vm->stop_reason == STOP_NONE) {
		vm->stop_reason = why;
		vm->exit_status = status;
		snprintf(vm->stop_detail, sizeof(vm->stop_detail), "%s", detail ? detail : "");
		if (ierr)
			vm->internal_error = *ierr;
	}
	pthread_mutex_unlock(&vm->stop_lock);
	atomic_store(&vm->stopping, true);
	if (vm->stop_eventfd >= 0 && write(vm->stop_eventfd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow in practice; the flag is set anyway. */
	}
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason why, int status, const char *detail)
{
	request_stop(vm, why, status, detail, NULL);
}

void vm_request_stop_internal_error(struct vm *vm, const struct internal_error *e)
{
	char detail[sizeof(vm->stop_detail)];

	internal_error_describe(e, detail, sizeof(detail));
	request_stop(vm, STOP_INTERNAL_ERROR, 3, detail, e);
}

void vm_set_irq_line(void *opaque, unsigned irq, bool level)
{
	struct vm *vm = opaque;
	struct kvm_irq_level l = {.irq = irq, .level = level};

	if (vm->vm_fd >= 0 && ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		vireo_perror("KVM_IRQ_LINE %u", irq);
}

/* --- inputs: files and sizes, checked before KVM is touched ----------- */

static int load_kernel_file(struct vm *vm)
{
	char err[256];

	vm->kernel_file = read_file(vm->cfg.kernel, &vm->kernel_len);
	if (!vm->kernel_file) {
		vireo_perror("kernel %s", vm->cfg.kernel);
		return -1;
	}
	if (kernel_parse(vm->kernel_file, vm->kernel_len, &vm->kernel, err, sizeof(err)) < 0) {
		vireo_err("kernel %s: %s", vm->cfg.kernel, err);
		return -1;
	}
	return 0;
}

static int check_initrd_file(struct vm *vm)
{
	struct stat st;

	if (!vm->cfg.initrd)
		return 0;
	if (stat(vm->cfg.initrd, &st) < 0 || access(vm->cfg.initrd, R_OK) < 0) {
		vireo_perror("initrd %s", vm->cfg.initrd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		vireo_err("initrd %s: not a regular file", vm->cfg.initrd);
		return -1;
	}
	vm->initrd_size = (uint64_t)st.st_size;
	return 0;
}

/*
 * Would the command line and the initrd fit this kernel and this much RAM?
 * Asked on a dry layout (no memory behind it), so the answer comes before
 * KVM is opened: bad input is reported the same with or without /dev/kvm.
 */
static int check_boot_fits(struct vm *vm)
{
	struct gmem dry;
	char err[256];
	uint64_t addr;
	size_t len = strlen(vm->cfg.cmdline);

	gmem_layout(&dry, NULL, vm->cfg.mem_bytes);
	if (len > vm->kernel.cmdline_max || len >= BOOT_CMDLINE_MAX) {
		vireo_err(
		    "--cmdline is %zu bytes; kernel %s accepts at most %u", len, vm->cfg.kernel,
		    vm->kernel.cmdline_max < BOOT_CMDLINE_MAX - 1 ? vm->kernel.cmdline_max
								  : (unsigned)BOOT_CMDLINE_MAX - 1);
		return -1;
	}
	if (vm->kernel.end > gmem_low_end(&dry)) {
		vireo_err("kernel %s needs %llu MiB of RAM below the MMIO hole: --mem too small",
			  vm->cfg.kernel, (unsigned long long)(vm->kernel.end >> 20) + 1);
		return -1;
	}
	if (vm->cfg.initrd &&
	    initrd_place(&vm->kernel, &dry, vm->initrd_size, &addr, err, sizeof(err)) < 0) {
		vireo_err("initrd %s: %s", vm->cfg.initrd, err);
		return -1;
	}
	return 0;
}

static int check_sizes(struct vm *vm)
{
	uint64_t host = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);

	if (vm->cfg.mem_bytes > host) {
		vireo_err("--mem %llu MiB is more than this host's %llu MiB of RAM",
			  (unsigned long long)(vm->cfg.mem_bytes >> 20),
			  (unsigned long long)(host >> 20));
		return -1;
	}
	if (vm->cfg.cpus > MPTABLE_MAX_CPUS) {
		vireo_err("--cpus %u: vireo supports at most %d vCPUs", vm->cfg.cpus,
			  MPTABLE_MAX_CPUS);
		return -1;
	}
	return 0;
}

/* --- KVM VM, irqchip, RAM -------------------------------------------- */

static int max_vcpus(int kvm_fd)
{
	int n = kvm_cap(kvm_fd, KVM_CAP_MAX_VCPUS);

	if (n <= 0)
		n = kvm_cap(kvm_fd, KVM_CAP_NR_VCPUS);
	return n > 0 ? n : 4; /* the KVM API's documented default */
}

static int create_kvm_vm(struct vm *vm)
{
	/*
	 * KVM_PIT_SPEAKER_DUMMY also puts port 0x61 (PIT channel 2 gate and
	 * output) in the kernel: guests poll it to calibrate the TSC, and
	 * without it every poll would be a userspace exit.
	 */
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	uint64_t ident = KVM_IDENTITY_MAP_ADDR;

	vm->kvm_fd = kvm_open();
	if (vm->kvm_fd < 0 || kvm_check_required(vm->kvm_fd) < 0)
		return -1;
	vm->max_vcpus = max_vcpus(vm->kvm_fd);
	if ((int)vm->cfg.cpus > vm->max_vcpus) {
		vireo_err("--cpus %u: KVM on this host allows at most %d vCPUs", vm->cfg.cpus,
			  vm->max_vcpus);
		return -1;
	}
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size <= 0) {
		vireo_perror("KVM_GET_VCPU_MMAP_SIZE");
		return -1;
	}
	vm->vm_fd = kvm_ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		vireo_perror("KVM_CREATE_VM");
		return -1;
	}
	/*
	 * Intel VMX needs these outside guest RAM before the first vCPU exists
	 * (real-mode emulation). AMD ignores them; a KVM without VMX's needs
	 * (e.g. software PVM) may refuse them, which is harmless there.
	 */
	(void)ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR);
	if (kvm_cap(vm->kvm_fd, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0)
		(void)ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident);
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		vireo_perror("KVM_CREATE_IRQCHIP");
		return -1;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		vireo_perror("KVM_CREATE_PIT2");
		return -1;
	}
	if (kvm_cap(vm->kvm_fd, KVM_CAP_BINARY_STATS_FD) > 0)
		vm->stats_fd = ioctl(vm->vm_fd, KVM_GET_STATS_FD, 0);
	return 0;
}

static int setup_memory(struct vm *vm)
{
	if (vm->active[OPT_HUGEPAGES] && !gmem_thp_available()) {
		vireo_warn("transparent huge pages are disabled on this host: 4 KiB pages only");
		vm->active[OPT_HUGEPAGES] = false;
	}
	if (gmem_alloc(&vm->mem, vm->cfg.mem_bytes, vm->active[OPT_HUGEPAGES],
		       vm->active[OPT_PREFAULT]) < 0)
		return -1;
	for (unsigned i = 0; i < vm->mem.nr_slots; i++) {
		const struct gmem_slot *s = &vm->mem.slot[i];
		struct kvm_userspace_memory_region r = {.slot = i,
							.guest_phys_addr = s->gpa,
							.memory_size = s->size,
							.userspace_addr = (uintptr_t)s->host};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
			vireo_perror("KVM_SET_USER_MEMORY_REGION slot %u", i);
			return -1;
		}
	}
	return 0;
}

/* --- boot: kernel, initrd, tables ------------------------------------ */

static int load_initrd(struct vm *vm)
{
	char err[256];
	uint8_t *dst;
	size_t done = 0;
	int fd;

	if (!vm->cfg.initrd)
		return 0;
	if (initrd_place(&vm->kernel, &vm->mem, vm->initrd_size, &vm->initrd_addr, err,
			 sizeof(err)) < 0) {
		vireo_err("initrd %s: %s", vm->cfg.initrd, err);
		return -1;
	}
	dst = gmem_ptr(&vm->mem, gpa(vm->initrd_addr), vm->initrd_size);
	fd = open(vm->cfg.initrd, O_RDONLY | O_CLOEXEC);
	if (!dst || fd < 0) {
		vireo_perror("initrd %s", vm->cfg.initrd);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* Straight into guest RAM: no bounce buffer for a large initrd. */
	while (done < vm->initrd_size) {
		ssize_t n = read(fd, dst + done, vm->initrd_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			vireo_err("initrd %s: short read", vm->cfg.initrd);
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	close(fd);
	return 0;
}

static int setup_boot(struct vm *vm)
{
	struct boot_info bi;
	char err[256];

	if (kernel_load(&vm->kernel, &vm->mem, err, sizeof(err)) < 0) {
		vireo_err("kernel %s: %s", vm->cfg.kernel, err);
		return -1;
	}
	if (load_initrd(vm) < 0)
		return -1;
	vm->nr_e820 = e820_build(&vm->mem, vm->e820, E820_MAX_ENTRIES);
	bi = (struct boot_info){.cmdline = vm->cfg.cmdline,
				.rsdp_addr = vm->cfg.acpi ? ACPI_TABLES_ADDR : 0,
				.initrd_addr = vm->initrd_addr,
				.initrd_size = vm->initrd_size,
				.e820 = vm->e820,
				.nr_e820 = vm->nr_e820};
	if (boot_write_info(&vm->kernel, &vm->mem, &bi, err, sizeof(err)) < 0) {
		vireo_err("%s", err);
		return -1;
	}
	if (boot_write_gdt_and_page_tables(&vm->mem) < 0) {
		vireo_err("cannot write boot tables into guest memory");
		return -1;
	}
	return 0;
}

int vm_create_kvm(struct vm *vm)
{
	if (load_kernel_file(vm) < 0 || check_initrd_file(vm) < 0 || check_sizes(vm) < 0 ||
	    check_boot_fits(vm) < 0)
		return -1;
	return create_kvm_vm(vm) < 0 || setup_memory(vm) < 0 || setup_boot(vm) < 0 ? -1 : 0;
}

void vcpus_destroy(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (v->run)
			munmap(v->run, (size_t)vm->run_size);
		if (v->stats_fd >= 0)
			close(v->stats_fd);
		if (v->fd >= 0)
			close(v->fd);
	}
	free(vm->vcpus);
	vm->vcpus = NULL;
	vm->nr_vcpus = 0;
}

void vm_destroy(struct vm *vm)
{
	vcpus_destroy(vm);
	int fds[] = {vm->stop_eventfd, vm->stats_fd, vm->vm_fd, vm->kvm_fd};
	for (unsigned i = 0; i < ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	sandbox_destroy(&vm->sandbox);
	gmem_free(&vm->mem);
	free(vm->kernel_file);
	vm->kernel_file = NULL;
	pthread_mutex_destroy(&vm->stop_lock);
}
