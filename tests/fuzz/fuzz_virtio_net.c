/* SPDX-License-Identifier: MIT */
/*
 * fuzz_virtio_net.c -- libFuzzer target for virtio-net (src/virtio/net.c):
 * the transmit path, the receive path (plain and mergeable buffers), the
 * control queue and link down, over the real queue walker and device loop.
 *
 * No KVM and no tap: the rings and buffers are in fake guest RAM (a malloc'd
 * buffer of exactly RAM_SIZE bytes, so ASan reports any access outside it);
 * the tap is one end of an AF_UNIX SOCK_SEQPACKET socketpair (one frame per
 * readv/writev, like a tap), the other end is the network, which the fuzzer
 * reads everything from and writes the input's frames to. A second device
 * sits on an fd of /dev/net/tun attached to no interface (the tun driver's
 * path for a deleted interface: EBADFD, EPOLLERR), for link down, when it can
 * be opened. tap_set_offloads() is wrapped (-Wl,--wrap): a socket takes no
 * TUNSETOFFLOAD, and the wrapper checks what the device asks for. The I/O
 * thread is not started: io_round() runs its dispatch of the tap's watch on
 * this thread, so everything is deterministic.
 *
 * Each input negotiates features, sets up the three queues from the input,
 * starts the device (DRIVER_OK), feeds frames to the tap, kicks queues and
 * runs I/O rounds as its action byte says, then resets the device. Input
 * layout (little-endian):
 *   0..3    driver features: bits 0-23 virtio-net's (only what the device
 *           offers is kept), bit 28 INDIRECT_DESC, bit 29 EVENT_IDX
 *   4       log2 queue size of the receiveq (bits 0-3) and transmitq (4-7),
 *           at most 8 (256, the device's maximum)
 *   5       bits 0-3 log2 size of the controlq; bits 4-7 frames to feed
 *   6       actions, in this order: bit 4 fill the tap's queue first (sends
 *           get EAGAIN); bit 3 kick the controlq; bit 0 kick the transmitq;
 *           bit 1 an I/O round (the tap's EPOLLIN); bit 2 kick the receiveq;
 *           then, with bit 4, the network reads everything and an I/O round
 *           runs (EPOLLOUT); bit 7 once more: I/O rounds and every kick
 *   7       bit 0 the device over the detached tun fd instead (link down)
 *   8..25   desc, avail and used addresses of queues 0, 1, 2 (le16 each)
 *   26..31  each queue's starting index (last_avail = used_idx), so the
 *           indices start anywhere, wrap-around included
 *   32..    the frames to feed: each a le16 length and its bytes (vnet
 *           header first, as a tap hands them over), clipped to the input
 *   then    the guest RAM image (zero-filled past the input's end)
 *
 * Invariants, beyond ASan and UBSan: every frame that reaches the network is
 * a header and a frame that virtio_net_check_tx() accepts under the
 * negotiated features (the device sends the header it checked, not one the
 * guest may have rewritten); the frames there are exactly the ones counted
 * in tx_packets; no more frames are received than were fed; the offloads the
 * device asks of the tap follow the GUEST_* features; nothing needs more
 * than a bounded number of handler calls; no lock is left held.
 */
#include "vireo/core/gmem.h"
#include "vireo/core/iothread.h"
#include "vireo/lib/util.h"
#include "vireo/net/tap.h"
#include "vireo/virtio/net.h"
#include "vireo/virtio/queue.h"
#include "vireo/virtio/virtio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define RAM_SIZE  16384u
#define HDR	  32u
#define NQ	  3u
#define TXQ	  1u
#define MAX_CALLS 1000u /* handler calls one step may take before it counts as a hang */
#define JUNK_LEN  1u	/* the filler's datagrams: shorter than any frame */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int __wrap_tap_set_offloads(struct tap *t, unsigned offloads);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_virtio_net: %s:%d: invariant broken: %s\n",          \
				__FILE__, __LINE__, #cond);                                        \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct rig {
	struct virtio_dev d;
	int fd; /* the device's tap fd */
};

static struct {
	bool ready;
	struct iothread io;
	int sp[2]; /* sp[0] the tap's fd, sp[1] the network */
	struct rig net, gone;
	bool have_gone;
	struct rig *cur;
	uint8_t frame[65536 + 64];
} F;

static uint16_t le16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void raise_irq(struct virtio_dev *d, unsigned q)
{
	(void)d;
	CHECK(q < NQ);
}

static void needs_reset(struct virtio_dev *d)
{
	(void)d;
}

static void config_changed(struct virtio_dev *d)
{
	(void)d;
}

/* What the device asks of the tap: only offloads the guest negotiated. */
int __wrap_tap_set_offloads(struct tap *t, unsigned offloads)
{
	const struct virtio_dev *d = &F.cur->d;

	CHECK(t->fd[0] == F.cur->fd);
	if (!virtio_has_feature(d, VIRTIO_NET_F_GUEST_CSUM))
		CHECK(offloads == 0);
	if (offloads & TAP_OFFLOAD_TSO4)
		CHECK(virtio_has_feature(d, VIRTIO_NET_F_GUEST_TSO4));
	if (offloads & TAP_OFFLOAD_TSO6)
		CHECK(virtio_has_feature(d, VIRTIO_NET_F_GUEST_TSO6));
	if (offloads & TAP_OFFLOAD_ECN)
		CHECK(virtio_has_feature(d, VIRTIO_NET_F_GUEST_ECN));
	if (offloads & TAP_OFFLOAD_UFO)
		CHECK(virtio_has_feature(d, VIRTIO_NET_F_GUEST_UFO));
	return 0;
}

static void rig_init(struct rig *r, int fd, unsigned index)
{
	struct net_config cfg;
	struct tap tap;
	char err[64];

	virtio_locks_init(&r->d);
	r->d.io = &F.io;
	r->d.raise_irq = raise_irq;
	r->d.needs_reset = needs_reset;
	r->d.config_changed = config_changed;
	r->fd = fd;
	if (virtio_net_parse_arg("tap=fuzz0", &cfg, err, sizeof(err)) < 0)
		abort();
	tap_init_closed(&tap);
	snprintf(tap.name, sizeof(tap.name), "fuzz%u", index);
	tap.fd[0] = fd;
	tap.nr_queues = 1;
	tap.offloads = TAP_OFFLOAD_CSUM | TAP_OFFLOAD_TSO4 | TAP_OFFLOAD_TSO6 | TAP_OFFLOAD_ECN |
		       TAP_OFFLOAD_UFO;
	if (virtio_net_setup(&r->d, &cfg, &tap, index) < 0)
		abort();
}

static void setup(void)
{
	int fd;

	if (iothread_init(&F.io) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, F.sp) < 0)
		abort();
	rig_init(&F.net, F.sp[0], 0);
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		rig_init(&F.gone, fd, 1);
		F.have_gone = true;
	}
	F.ready = true;
}

/* Read everything waiting on fd; check what the device sent if it is the network. */
static unsigned drain(int fd, bool check, uint64_t features)
{
	unsigned frames = 0;
	ssize_t n;

	while ((n = recv(fd, F.frame, sizeof(F.frame), MSG_DONTWAIT)) >= 0) {
		struct virtio_net_hdr h;

		if (!check || n == JUNK_LEN)
			continue;
		CHECK((size_t)n >= sizeof(h) + NET_ETH_HLEN);
		memcpy(&h, F.frame, sizeof(h));
		CHECK(!virtio_net_check_tx(&h, (size_t)n - sizeof(h), features));
		frames++;
	}
	CHECK(errno == EAGAIN);
	return frames;
}

static void kick(unsigned q)
{
	struct virtio_dev *d = &F.cur->d;
	unsigned calls = 0;
	bool more;

	do {
		CHECK(++calls < MAX_CALLS);
		virtio_lock_queue(d, q);
		more = d->ops->queue_notify(d, q);
		virtio_unlock_queue(d, q);
	} while (more);
}

/* One round of the I/O thread for the tap's raw watch, on this thread. */
static void io_round(void)
{
	struct epoll_event ev[8];
	int n = epoll_wait(F.io.epfd, ev, 8, 0);

	for (int i = 0; i < n; i++) {
		uint64_t slot = ev[i].data.u64;
		struct iothread_watch *w;
		unsigned calls = 0;

		if (slot >= IOTHREAD_MAX_FDS || !F.io.watch[slot].used)
			continue;
		w = &F.io.watch[slot];
		if (w->opaque != &F.cur->d)
			continue; /* the other device: not started */
		for (uint64_t events = ev[i].events; w->fn(w->opaque, events); events = 0)
			CHECK(++calls < MAX_CALLS);
	}
}

/* Fill the tap's queue until a send would get EAGAIN. */
static void fill_tap(void)
{
	static const uint8_t junk[JUNK_LEN];

	while (send(F.sp[0], junk, sizeof(junk), MSG_DONTWAIT) == (ssize_t)sizeof(junk))
		;
}

static void start(const uint8_t *data, struct gmem *mem)
{
	struct virtio_dev *d = &F.cur->d;
	uint32_t f = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
		     (uint32_t)data[3] << 24;
	unsigned log2[NQ] = {data[4] & 15, data[4] >> 4, data[5] & 15};

	d->mem = mem;
	d->driver_features = (f & 0xffffff & d->ops->features) | 1ull << VIRTIO_F_VERSION_1 |
			     (f & 1u << 28 ? 1ull << VIRTIO_F_INDIRECT_DESC : 0) |
			     (f & 1u << 29 ? 1ull << VIRTIO_F_RING_EVENT_IDX : 0);
	for (unsigned q = 0; q < NQ; q++) {
		struct virtq *vq = &d->vq[q];
		const uint8_t *a = data + 8 + 6 * q;
		uint16_t start_idx = le16_at(data + 26 + 2 * q);

		memset(vq, 0, sizeof(*vq));
		if (!virtq_init(vq, mem, (uint16_t)(1u << (log2[q] > 8 ? 8 : log2[q])),
				gpa(le16_at(a)), gpa(le16_at(a + 2)), gpa(le16_at(a + 4)),
				virtio_has_feature(d, VIRTIO_F_RING_EVENT_IDX),
				virtio_has_feature(d, VIRTIO_F_INDIRECT_DESC)))
			continue; /* not ready: no work */
		vq->last_avail = vq->used_idx = start_idx;
	}
	virtio_lock_all(d);
	d->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		    VIRTIO_STATUS_DRIVER_OK;
	CHECK(d->ops->activate(d) == 0);
	virtio_unlock_all(d);
}

static void stop(void)
{
	struct virtio_dev *d = &F.cur->d;

	virtio_lock_all(d);
	d->ops->reset(d);
	d->status = 0;
	d->driver_features = 0;
	for (unsigned q = 0; q < NQ; q++)
		memset(&d->vq[q], 0, sizeof(d->vq[q]));
	d->mem = NULL;
	virtio_unlock_all(d);
	/* No lock left held. */
	CHECK(pthread_mutex_trylock(&d->lock) == 0);
	pthread_mutex_unlock(&d->lock);
	for (unsigned g = 0; g < d->nr_groups; g++) {
		CHECK(pthread_mutex_trylock(&d->group[g].lock) == 0);
		pthread_mutex_unlock(&d->group[g].lock);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned nframes, fed = 0, sent = 0;
	const uint8_t *p, *end = data + size;
	struct virtio_net_stats before, after;
	uint64_t features;
	struct gmem mem;
	uint8_t *ram, act;
	bool net;

	if (size < HDR)
		return 0;
	if (!F.ready)
		setup();
	net = !(data[7] & 1) || !F.have_gone;
	F.cur = net ? &F.net : &F.gone;
	nframes = data[5] >> 4;
	act = data[6];

	ram = calloc(1, RAM_SIZE);
	if (!ram)
		return 0;
	/* The frames, then the RAM image. */
	p = data + HDR;
	for (unsigned i = 0; i < nframes && end - p >= 2; i++) {
		size_t len = le16_at(p);

		p += 2;
		if (len > (size_t)(end - p))
			len = (size_t)(end - p);
		if (net && len && send(F.sp[1], p, len, MSG_DONTWAIT) == (ssize_t)len)
			fed++;
		p += len;
	}
	memcpy(ram, p, (size_t)(end - p) < RAM_SIZE ? (size_t)(end - p) : RAM_SIZE);
	gmem_layout(&mem, ram, RAM_SIZE);

	before = virtio_net_get_stats(&F.cur->d);
	start(data, &mem);
	features = F.cur->d.driver_features;
	if (net && (act & 0x10))
		fill_tap();
	for (unsigned round = 0; round < (act & 0x80 ? 2u : 1u); round++) {
		if (act & 0x08 || round)
			kick(2);
		if (act & 0x01 || round)
			kick(TXQ);
		if (act & 0x02 || round)
			io_round();
		if (act & 0x04 || round)
			kick(0);
		if (net && (act & 0x10)) {
			sent += drain(F.sp[1], true, features);
			io_round(); /* EPOLLOUT */
		}
	}
	if (net)
		sent += drain(F.sp[1], true, features);
	after = virtio_net_get_stats(&F.cur->d);
	CHECK(after.tx_packets - before.tx_packets == sent);
	CHECK(after.rx_packets - before.rx_packets <= fed);
	CHECK(after.rx_packets - before.rx_packets + after.rx_dropped - before.rx_dropped <= fed);
	stop();
	/* Frames the device did not take: gone before the next input. */
	if (net)
		drain(F.sp[0], false, 0);
#ifdef FUZZ_VERBOSE
	fprintf(stderr,
		"fuzz_virtio_net: %s: fed %u sent %u; tx %llu malformed %llu dropped %llu "
		"blocked %llu; rx %llu dropped %llu bad buffers %llu\n",
		net ? "net" : "gone", fed, sent,
		(unsigned long long)(after.tx_packets - before.tx_packets),
		(unsigned long long)(after.tx_malformed - before.tx_malformed),
		(unsigned long long)(after.tx_dropped - before.tx_dropped),
		(unsigned long long)(after.tx_blocked - before.tx_blocked),
		(unsigned long long)(after.rx_packets - before.rx_packets),
		(unsigned long long)(after.rx_dropped - before.rx_dropped),
		(unsigned long long)(after.rx_bad_buffers - before.rx_bad_buffers));
#endif
	free(ram);
	return 0;
}
