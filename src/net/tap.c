/* SPDX-License-Identifier: MIT */
/*
 * tap.c -- attach to a host tap interface (tap.h): open /dev/net/tun once per
 * queue, bind it to the interface with a virtio-net header, probe which
 * offloads the kernel takes, and move frames with readv/writev.
 */
#include "vireo/net/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TUN_PATH "/dev/net/tun"

static unsigned to_tun_flags(unsigned offloads)
{
	return (offloads & TAP_OFFLOAD_CSUM ? TUN_F_CSUM : 0) |
	       (offloads & TAP_OFFLOAD_TSO4 ? TUN_F_TSO4 : 0) |
	       (offloads & TAP_OFFLOAD_TSO6 ? TUN_F_TSO6 : 0) |
	       (offloads & TAP_OFFLOAD_ECN ? TUN_F_TSO_ECN : 0) |
	       (offloads & TAP_OFFLOAD_UFO ? TUN_F_UFO : 0);
}

/* Why TUNSETIFF refused an existing interface, in words a user can act on. */
static void explain_setiff(const char *name, int err, bool multi, char *msg, size_t len)
{
	if (err == EPERM || err == EACCES)
		snprintf(msg, len,
			 "tap %s: permission denied (needs CAP_NET_ADMIN, or a tap created "
			 "with `ip tuntap add %s mode tap user UID`)",
			 name, name);
	else if (err == EINVAL && multi)
		snprintf(msg, len,
			 "tap %s: not a tap created with multi_queue (queues > 1 needs "
			 "`ip tuntap add %s mode tap multi_queue`)",
			 name, name);
	else if (err == EINVAL)
		snprintf(msg, len,
			 "tap %s: cannot attach (a tun device, a multi_queue tap, or not a "
			 "tap at all?)",
			 name);
	else if (err == EBUSY)
		snprintf(msg, len, "tap %s: already in use by another process", name);
	else
		snprintf(msg, len, "tap %s: %s", name, strerror(err));
}

/* Open one queue's fd bound to the interface. fd, or -1 with err filled. */
static int open_queue(const char *name, bool multi, char *err, size_t errlen)
{
	struct ifreq ifr = {0};
	int hdr_len = TAP_VNET_HDR_LEN;
	int fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", TUN_PATH, strerror(errno));
		return -1;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (multi ? IFF_MULTI_QUEUE : 0);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		explain_setiff(name, errno, multi, err, errlen);
		close(fd);
		return -1;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
		snprintf(err, errlen, "tap %s: TUNSETVNETHDRSZ: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Which offloads does this kernel take? Asked once, then all turned off. */
static unsigned probe_offloads(int fd)
{
	const unsigned base =
	    TAP_OFFLOAD_CSUM | TAP_OFFLOAD_TSO4 | TAP_OFFLOAD_TSO6 | TAP_OFFLOAD_ECN;
	unsigned got = 0;

	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)to_tun_flags(base)) == 0)
		got = base;
	else if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)TUN_F_CSUM) == 0)
		got = TAP_OFFLOAD_CSUM;
	/* UFO went away in Linux 4.14 and came back later: ask, do not assume. */
	if (got &&
	    ioctl(fd, TUNSETOFFLOAD, (unsigned long)to_tun_flags(got | TAP_OFFLOAD_UFO)) == 0)
		got |= TAP_OFFLOAD_UFO;
	(void)ioctl(fd, TUNSETOFFLOAD, 0ul);
	return got;
}

void tap_init_closed(struct tap *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < TAP_MAX_QUEUES; i++)
		t->fd[i] = -1;
}

int tap_open(struct tap *t, const char *name, unsigned queues, char *err, size_t errlen)
{
	tap_init_closed(t);
	if (strlen(name) == 0 || strlen(name) >= IFNAMSIZ) {
		snprintf(err, errlen, "tap name \"%s\": want 1 to %d characters", name,
			 IFNAMSIZ - 1);
		return -1;
	}
	snprintf(t->name, sizeof(t->name), "%s", name);
	if (queues == 0 || queues > TAP_MAX_QUEUES) {
		snprintf(err, errlen, "tap %s: %u queues (want 1 to %d)", name, queues,
			 TAP_MAX_QUEUES);
		return -1;
	}
	/* TUNSETIFF would create a missing interface: vireo only attaches. */
	if (if_nametoindex(name) == 0) {
		snprintf(err, errlen,
			 "tap %s: no such interface (create it first: ip tuntap add %s mode tap)",
			 name, name);
		return -1;
	}
	for (unsigned i = 0; i < queues; i++) {
		t->fd[i] = open_queue(name, queues > 1, err, errlen);
		if (t->fd[i] < 0) {
			tap_close(t);
			return -1;
		}
		t->nr_queues++;
	}
	t->offloads = probe_offloads(t->fd[0]);
	return 0;
}

int tap_set_offloads(struct tap *t, unsigned offloads)
{
	/* The setting is the interface's: one fd sets it for every queue. */
	if (t->nr_queues == 0)
		return -EBADF;
	if (ioctl(t->fd[0], TUNSETOFFLOAD, (unsigned long)to_tun_flags(offloads & t->offloads)) < 0)
		return -errno;
	return 0;
}

int tap_enable_queue(int fd, bool on)
{
	struct ifreq ifr = {.ifr_flags = on ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE};

	/* Attaching an attached queue (or detaching a detached one) is EINVAL: fine. */
	if (ioctl(fd, TUNSETQUEUE, &ifr) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

ssize_t tap_send(int fd, const struct iovec *iov, unsigned niov)
{
	ssize_t n;

	do
		n = writev(fd, iov, (int)niov);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

ssize_t tap_recv(int fd, const struct iovec *iov, unsigned niov)
{
	ssize_t n;

	do
		n = readv(fd, iov, (int)niov);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

bool tap_error_is_gone(int err)
{
	/* The tun driver answers EBADFD once its interface was deleted. */
	return err == EBADFD || err == ENODEV || err == ENXIO;
}

void tap_close(struct tap *t)
{
	for (unsigned i = 0; i < TAP_MAX_QUEUES; i++) {
		if (t->fd[i] >= 0)
			close(t->fd[i]);
		t->fd[i] = -1;
	}
	t->nr_queues = 0;
}
