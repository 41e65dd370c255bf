/* SPDX-License-Identifier: MIT */
#include "vireo/core/kvm.h"
#include "vireo/lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* What vireo cannot run without, and why, for the error message. */
static const struct {
	long cap;
	const char *name;
	const char *why;
} required[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", "guest RAM from user memory"},
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", "in-kernel PIC/IOAPIC/LAPIC"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID", "KVM_GET_SUPPORTED_CPUID"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR", "real-mode TSS on Intel"},
    {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE", "INIT/SIPI for application processors"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD", "exit-free doorbells"},
    {KVM_CAP_IRQ_INJECT_STATUS, "KVM_CAP_IRQ_INJECT_STATUS", "KVM_IRQ_LINE"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", "race-free vCPU stop"},
};

int kvm_ioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && (errno == EINTR || errno == EAGAIN));
	return r;
}

int kvm_cap(int fd, long cap)
{
	return ioctl(fd, KVM_CHECK_EXTENSION, cap);
}

int kvm_open(void)
{
	const char *path = getenv("VIREO_KVM_DEV");
	int fd, version;

	if (!path || !*path)
		path = "/dev/kvm";
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
			vireo_err("%s: no such device: KVM is not available on this host "
				  "(no kvm module loaded, or the device is not exposed here)",
				  path);
		else if (errno == EACCES || errno == EPERM)
			vireo_err("%s: permission denied: run as root or join the group owning it",
				  path);
		else
			vireo_perror("cannot open %s", path);
		return -1;
	}
	version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		vireo_err("%s: KVM API version %d, vireo needs %d", path, version, KVM_API_VERSION);
		close(fd);
		return -1;
	}
	return fd;
}

int kvm_check_required(int kvm_fd)
{
	for (unsigned i = 0; i < ARRAY_SIZE(required); i++) {
		if (kvm_cap(kvm_fd, required[i].cap) <= 0) {
			vireo_err("KVM lacks %s (%s), which vireo needs", required[i].name,
				  required[i].why);
			return -1;
		}
	}
	return 0;
}
