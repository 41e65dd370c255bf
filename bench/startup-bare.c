/* SPDX-License-Identifier: MIT */
/*
 * startup-bare.c -- the floor bench/startup compares vireo with: the least a
 * KVM program does to run a PVH guest to its first port write and exit.
 *
 *   startup-bare [--pit] [--no-close] [--mem MIB] KERNEL
 *
 * KVM_CREATE_VM, an in-kernel irqchip (LAPIC/IOAPIC/PIC, as vireo), the PIT
 * only with --pit, MIB MiB of RAM (default 128) in one memslot, one vCPU in
 * the PVH entry state (flat 32-bit protected mode, paging off), the ELF's
 * PT_LOAD segments copied in. Then KVM_RUN until the guest writes port 0xf4:
 *   0x4f4  boot timer: the first instruction's time is taken here
 *   0x3f8  a byte of COM1, written to stdout
 *   0xf4   debug-exit: status (code << 1) | 1, as vireo and QEMU
 * Then teardown: vCPU, VM and /dev/kvm fds closed, the time of the VM fd's
 * close() taken; with --no-close the process exits with them open and the
 * kernel tears the VM down in exit_group().
 *
 * One line on stderr says what it measured, from main() (CLOCK_MONOTONIC)
 * and of this process's CPU (CLOCK_PROCESS_CPUTIME_ID):
 *   startup-bare: first_instruction_us=N first_instruction_cpu_us=N
 *                 run_us=N close_vm_us=N pit=0|1
 * No CPUID, MSR, LAPIC or FPU set-up: the guest needs none of it.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PORT_DEBUG_EXIT		 0xf4
#define PORT_BOOT_TIMER		 0x4f4
#define PORT_COM1		 0x3f8
#define XEN_ELFNOTE_PHYS32_ENTRY 18
/* Out of a small guest's way, below 4 GiB: where vireo puts them too. */
#define TSS_ADDR	  0xfeffd000ul
#define IDENTITY_MAP_ADDR 0xfeffc000ull

struct opts {
	bool pit, close_fds;
	uint64_t mem_bytes;
	const char *kernel;
};

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "startup-bare: %s: %s\n", what, errno ? strerror(errno) : "failed");
	exit(2);
}

static int parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.close_fds = true, .mem_bytes = 128ull << 20};
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pit"))
			o->pit = true;
		else if (!strcmp(argv[i], "--no-close"))
			o->close_fds = false;
		else if (!strcmp(argv[i], "--mem") && i + 1 < argc)
			o->mem_bytes = strtoull(argv[++i], NULL, 0) << 20;
		else if (argv[i][0] != '-' && !o->kernel)
			o->kernel = argv[i];
		else
			return -1;
	}
	return o->kernel && o->mem_bytes >= (2ull << 20) ? 0 : -1;
}

/* The PVH entry point from the ELF's notes; 0 when there is none. */
static uint32_t pvh_entry(const uint8_t *img, size_t size, const Elf64_Ehdr *eh)
{
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const void *)(img + eh->e_phoff + i * sizeof(*ph));
		size_t off = ph->p_offset, end = ph->p_offset + ph->p_filesz;

		if (ph->p_type != PT_NOTE || end > size)
			continue;
		while (off + sizeof(Elf64_Nhdr) <= end) {
			const Elf64_Nhdr *n = (const void *)(img + off);
			size_t name = (n->n_namesz + 3) & ~3u, desc = (n->n_descsz + 3) & ~3u;
			size_t d = off + sizeof(*n) + name;

			if (n->n_type == XEN_ELFNOTE_PHYS32_ENTRY && n->n_descsz >= 4 &&
			    d + 4 <= end) {
				uint32_t e;

				memcpy(&e, img + d, sizeof(e));
				return e;
			}
			off = d + desc;
		}
	}
	return 0;
}

/* Copies the PT_LOAD segments into guest RAM; returns the PVH entry. */
static uint32_t load_kernel(const char *path, uint8_t *ram, uint64_t ram_size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *img;
	const Elf64_Ehdr *eh;
	uint32_t entry;

	if (fd < 0 || fstat(fd, &st) < 0)
		die(path);
	img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (img == MAP_FAILED)
		die("mmap of the kernel");
	eh = (const void *)img;
	errno = 0;
	if ((size_t)st.st_size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > (uint64_t)st.st_size)
		die("not a 64-bit ELF");
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const void *)(img + eh->e_phoff + i * sizeof(*ph));

		if (ph->p_type != PT_LOAD)
			continue;
		if (ph->p_paddr + ph->p_memsz > ram_size || ph->p_filesz > ph->p_memsz ||
		    ph->p_offset + ph->p_filesz > (uint64_t)st.st_size)
			die("a segment outside RAM or the file");
		memcpy(ram + ph->p_paddr, img + ph->p_offset, ph->p_filesz);
	}
	entry = pvh_entry(img, (size_t)st.st_size, eh);
	munmap(img, (size_t)st.st_size);
	if (!entry)
		die("no PVH entry note");
	return entry;
}

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	*s = (struct kvm_segment){.base = 0,
				  .limit = 0xffffffff,
				  .selector = sel,
				  .type = type,
				  .present = 1,
				  .dpl = 0,
				  .db = 1,
				  .s = 1,
				  .g = 1};
}

/* The PVH entry state: flat 32-bit protected mode, paging off. */
static void set_pvh_regs(int vcpu, uint32_t entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = {.rip = entry, .rflags = 2};

	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	flat_segment(&sregs.cs, 0x8, 11);
	flat_segment(&sregs.ds, 0x10, 3);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.cr0 = 0x11; /* PE | ET */
	sregs.cr3 = sregs.cr4 = sregs.efer = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		die("KVM_SET_SREGS/REGS");
}

int main(int argc, char **argv)
{
	uint64_t t0 = clock_ns(CLOCK_MONOTONIC), first_ns = 0, first_cpu_ns = 0, run_ns;
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	uint64_t ident = IDENTITY_MAP_ADDR, close_ns = 0;
	struct opts o;
	int kvm, vm, vcpu, status = -1;
	struct kvm_run *run;
	uint8_t *ram;
	long run_size;

	if (parse(argc, argv, &o) < 0) {
		fprintf(stderr, "usage: startup-bare [--pit] [--no-close] [--mem MIB] KERNEL\n");
		return 2;
	}
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	/* As vireo: VMX wants these before the first vCPU; others may refuse them. */
	(void)ioctl(vm, KVM_SET_TSS_ADDR, TSS_ADDR);
	(void)ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &ident);
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		die("KVM_CREATE_IRQCHIP");
	if (o.pit && ioctl(vm, KVM_CREATE_PIT2, &pit) < 0)
		die("KVM_CREATE_PIT2");
	ram = mmap(NULL, o.mem_bytes, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED)
		die("mmap of guest RAM");
	struct kvm_userspace_memory_region mr = {
	    .slot = 0, .memory_size = o.mem_bytes, .userspace_addr = (uintptr_t)ram};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &mr) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	uint32_t entry = load_kernel(o.kernel, ram, o.mem_bytes);
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vcpu < 0 || run_size <= 0)
		die("KVM_CREATE_VCPU");
	run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap of kvm_run");
	set_pvh_regs(vcpu, entry);

	while (status < 0) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			die("KVM_RUN");
		}
		if (run->exit_reason != KVM_EXIT_IO) {
			fprintf(stderr, "startup-bare: unexpected exit reason %u\n",
				run->exit_reason);
			return 3;
		}
		uint8_t *data = (uint8_t *)run + run->io.data_offset;

		if (run->io.direction != KVM_EXIT_IO_OUT)
			memset(data, 0xff, run->io.size * run->io.count);
		else if (run->io.port == PORT_BOOT_TIMER && !first_ns) {
			first_ns = clock_ns(CLOCK_MONOTONIC);
			first_cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
		} else if (run->io.port == PORT_COM1 && write(STDOUT_FILENO, data, 1) < 0)
			die("write to stdout");
		else if (run->io.port == PORT_DEBUG_EXIT)
			status = (data[0] << 1) | 1;
	}
	run_ns = clock_ns(CLOCK_MONOTONIC);
	if (o.close_fds) {
		munmap(run, (size_t)run_size);
		close(vcpu);
		close_ns = clock_ns(CLOCK_MONOTONIC);
		close(vm); /* KVM destroys the VM here: the PIT's cost is in this call */
		close_ns = clock_ns(CLOCK_MONOTONIC) - close_ns;
		close(kvm);
		munmap(ram, o.mem_bytes);
	}
	fprintf(stderr,
		"startup-bare: first_instruction_us=%llu first_instruction_cpu_us=%llu "
		"run_us=%llu close_vm_us=%llu pit=%d\n",
		(unsigned long long)(first_ns ? (first_ns - t0) / 1000 : 0),
		(unsigned long long)(first_cpu_ns / 1000),
		(unsigned long long)((run_ns - t0) / 1000), (unsigned long long)(close_ns / 1000),
		o.pit);
	return status;
}
