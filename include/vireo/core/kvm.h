/* SPDX-License-Identifier: MIT */
/* kvm.h -- opening /dev/kvm and checking what vireo relies on. */
#ifndef VIREO_KVM_H
#define VIREO_KVM_H

#include <stdbool.h>

/* Open /dev/kvm (path overridable by $VIREO_KVM_DEV for tests); -1 with a message. */
int kvm_open(void);

/* Fail, naming the first missing one, unless every required capability is there. */
int kvm_check_required(int kvm_fd);

/* KVM_CHECK_EXTENSION; <= 0 means absent. */
int kvm_cap(int fd, long cap);

/* An ioctl retried on EINTR/EAGAIN, as KVM asks for a few calls. */
int kvm_ioctl(int fd, unsigned long req, void *arg);

#endif
