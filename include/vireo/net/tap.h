/* SPDX-License-Identifier: MIT */
/*
 * tap.h -- a host tap interface as a packet backend, knowing nothing of the
 * device that uses it (src/net/tap.c).
 *
 * vireo attaches to an existing tap (`ip tuntap add NAME mode tap`): one
 * non-blocking fd per queue (IFF_MULTI_QUEUE when there are several), with a
 * 12-byte virtio-net header in front of every frame in both directions
 * (IFF_VNET_HDR, TUNSETVNETHDRSZ), so offload metadata (checksum needed, GSO
 * type and size) crosses without being looked at. A frame is sent with one
 * writev() from the caller's iovecs and received with one readv() into them:
 * no copies here. Errors are -errno; -EAGAIN means "not now" (a full queue on
 * send, nothing waiting on receive).
 */
#ifndef VIREO_NET_TAP_H
#define VIREO_NET_TAP_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#define TAP_MAX_QUEUES	 8
#define TAP_VNET_HDR_LEN 12 /* struct virtio_net_hdr_v1 (with num_buffers) */

/* Offloads the guest can take (TUNSETOFFLOAD): what the kernel may hand us. */
enum {
	TAP_OFFLOAD_CSUM = 1u << 0, /* partial checksums */
	TAP_OFFLOAD_TSO4 = 1u << 1,
	TAP_OFFLOAD_TSO6 = 1u << 2,
	TAP_OFFLOAD_ECN = 1u << 3,
	TAP_OFFLOAD_UFO = 1u << 4,
};

struct tap {
	char name[IFNAMSIZ];
	int fd[TAP_MAX_QUEUES];
	unsigned nr_queues;
	unsigned offloads; /* TAP_OFFLOAD_* this tap accepts (probed at open) */
};

/*
 * Attach to the existing tap `name` with `queues` queues (1 ..
 * TAP_MAX_QUEUES). 0, or -1 with a one-line reason in err: no such
 * interface, not a tap, no permission, multi-queue mismatch.
 */
int tap_open(struct tap *t, const char *name, unsigned queues, char *err, size_t errlen);

/* Tell the kernel which TAP_OFFLOAD_* the receiver can take. 0 or -errno. */
int tap_set_offloads(struct tap *t, unsigned offloads);

/*
 * Multi-queue: let the kernel steer frames to this queue's fd, or stop it
 * (TUNSETQUEUE attach/detach), so no frame waits on a queue nobody reads.
 * 0 or -errno.
 */
int tap_enable_queue(int fd, bool on);

/* One frame (vnet header first) from iov; bytes written or -errno. */
ssize_t tap_send(int fd, const struct iovec *iov, unsigned niov);

/* One frame (vnet header first) into iov; its length or -errno (-EAGAIN: none). */
ssize_t tap_recv(int fd, const struct iovec *iov, unsigned niov);

/* Does this error mean the interface is gone (link deleted)? */
bool tap_error_is_gone(int err);

/* Close every queue's fd; the struct is then as tap_init_closed() leaves it. */
void tap_close(struct tap *t);

/* No fds (so tap_close does nothing): a struct tap whose fds someone else took. */
void tap_init_closed(struct tap *t);

#endif
