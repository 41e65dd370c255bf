/* SPDX-License-Identifier: MIT */
/*
 * boot.c -- what the machine boots: the kernel image and initrd named on the
 * command line, checked before KVM is opened (so bad input reads the same
 * with or without /dev/kvm), then loaded into guest RAM with the boot
 * information (zero page or PVH start info, e820, command line) and the boot
 * GDT and page tables. The image formats are arch/x86's (kernel_image.c,
 * bootinfo.c, regs.c); this file reads the files and reports errors.
 */
#include "vireo/machine/machine.h"
#include "vireo/lib/util.h"
#include "vireo/arch/x86/acpi.h"
#include "vireo/arch/x86/layout.h"
#include "vireo/arch/x86/regs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- inputs, checked before KVM is touched ---------------------------- */

static int load_kernel_file(struct machine *m)
{
	char err[256];

	m->boot.file = read_file(m->cfg.kernel, &m->boot.len);
	if (!m->boot.file) {
		vireo_perror("kernel %s", m->cfg.kernel);
		return -1;
	}
	if (kernel_parse(m->boot.file, m->boot.len, &m->boot.kernel, err, sizeof(err)) < 0) {
		vireo_err("kernel %s: %s", m->cfg.kernel, err);
		return -1;
	}
	return 0;
}

static int check_initrd_file(struct machine *m)
{
	struct stat st;

	if (!m->cfg.initrd)
		return 0;
	if (stat(m->cfg.initrd, &st) < 0 || access(m->cfg.initrd, R_OK) < 0) {
		vireo_perror("initrd %s", m->cfg.initrd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		vireo_err("initrd %s: not a regular file", m->cfg.initrd);
		return -1;
	}
	m->boot.initrd_size = (uint64_t)st.st_size;
	return 0;
}

/*
 * Would the command line and the initrd fit this kernel and this much RAM?
 * Asked on a dry layout (no memory behind it), so the answer comes before
 * KVM is opened: bad input is reported the same with or without /dev/kvm.
 */
static int check_boot_fits(struct machine *m)
{
	struct gmem dry;
	char err[256];
	uint64_t addr;
	size_t len = strlen(m->cfg.cmdline);

	gmem_layout(&dry, NULL, m->cfg.mem_bytes);
	if (len > m->boot.kernel.cmdline_max || len >= BOOT_CMDLINE_MAX) {
		vireo_err("--cmdline is %zu bytes; kernel %s accepts at most %u", len,
			  m->cfg.kernel,
			  m->boot.kernel.cmdline_max < BOOT_CMDLINE_MAX - 1
			      ? m->boot.kernel.cmdline_max
			      : (unsigned)BOOT_CMDLINE_MAX - 1);
		return -1;
	}
	if (m->boot.kernel.end > gmem_low_end(&dry)) {
		vireo_err("kernel %s needs %llu MiB of RAM below the MMIO hole: --mem too small",
			  m->cfg.kernel, (unsigned long long)(m->boot.kernel.end >> 20) + 1);
		return -1;
	}
	if (m->cfg.initrd &&
	    initrd_place(&m->boot.kernel, &dry, m->boot.initrd_size, &addr, err, sizeof(err)) < 0) {
		vireo_err("initrd %s: %s", m->cfg.initrd, err);
		return -1;
	}
	return 0;
}

/* --- into guest RAM: kernel, initrd, boot information ----------------- */

static int load_initrd(struct machine *m)
{
	char err[256];
	uint8_t *dst;
	size_t done = 0;
	int fd;

	if (!m->cfg.initrd)
		return 0;
	if (initrd_place(&m->boot.kernel, &m->vm.mem, m->boot.initrd_size, &m->boot.initrd_addr,
			 err, sizeof(err)) < 0) {
		vireo_err("initrd %s: %s", m->cfg.initrd, err);
		return -1;
	}
	dst = gmem_ptr(&m->vm.mem, gpa(m->boot.initrd_addr), m->boot.initrd_size);
	fd = open(m->cfg.initrd, O_RDONLY | O_CLOEXEC);
	if (!dst || fd < 0) {
		vireo_perror("initrd %s", m->cfg.initrd);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* Straight into guest RAM: no bounce buffer for a large initrd. */
	while (done < m->boot.initrd_size) {
		ssize_t n = read(fd, dst + done, m->boot.initrd_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			vireo_err("initrd %s: short read", m->cfg.initrd);
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	close(fd);
	return 0;
}

int boot_load(struct machine *m)
{
	struct boot_info bi;
	char err[256];

	if (kernel_load(&m->boot.kernel, &m->vm.mem, err, sizeof(err)) < 0) {
		vireo_err("kernel %s: %s", m->cfg.kernel, err);
		return -1;
	}
	if (load_initrd(m) < 0)
		return -1;
	m->boot.nr_e820 = e820_build(&m->vm.mem, m->boot.e820, E820_MAX_ENTRIES);
	bi = (struct boot_info){.cmdline = m->cfg.cmdline,
				.rsdp_addr = m->cfg.acpi ? ACPI_TABLES_ADDR : 0,
				.initrd_addr = m->boot.initrd_addr,
				.initrd_size = m->boot.initrd_size,
				.e820 = m->boot.e820,
				.nr_e820 = m->boot.nr_e820};
	if (boot_write_info(&m->boot.kernel, &m->vm.mem, &bi, err, sizeof(err)) < 0) {
		vireo_err("%s", err);
		return -1;
	}
	if (boot_write_gdt_and_page_tables(&m->vm.mem) < 0) {
		vireo_err("cannot write boot tables into guest memory");
		return -1;
	}
	return 0;
}

int boot_check_inputs(struct machine *m)
{
	return load_kernel_file(m) < 0 || check_initrd_file(m) < 0 || check_boot_fits(m) < 0 ? -1
											     : 0;
}

void boot_destroy(struct machine *m)
{
	free(m->boot.file);
	m->boot.file = NULL;
}
