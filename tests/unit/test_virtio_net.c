/* SPDX-License-Identifier: MIT */
/*
 * test_virtio_net.c -- virtio-net (src/virtio/net.c) over fake guest memory
 * and a fake tap, without KVM.
 *
 * The fake tap is one end of an AF_UNIX SOCK_SEQPACKET socketpair, handed to
 * the device as the tap's fd: like a tap it moves one frame (vnet header
 * first) per readv/writev, keeps frame boundaries, is non-blocking and
 * answers EAGAIN when full or empty. The test holds the other end: what the
 * device transmits arrives there, and what the test writes there is a frame
 * the device receives. A tap whose interface was deleted is an fd of
 * /dev/net/tun that is attached to no interface: the tun driver then takes
 * the same path as after the deletion (read and write answer EBADFD, poll
 * EPOLLERR).
 *
 * The test plays the driver: the three rings and every buffer live in fake
 * guest RAM, the doorbell is queue_notify() with the device lock held (as
 * the transport calls it). The I/O thread is not running (except in one
 * test): io_round() does what one round of it does for the tap's raw watch,
 * deterministically, on the test's thread: epoll_wait() without sleeping on
 * the thread's epoll fd, then the watch's handler with the events. So these
 * tests also check what the device waits for (a device that forgets to wait
 * for EPOLLIN never gets the frame; one that waits for what it cannot act on
 * is dispatched again and again).
 */
#include "unit.h"

#include "vireo/core/iothread.h"
#include "vireo/net/tap.h"
#include "vireo/virtio/net.h"
#include "vireo/virtio/queue.h"
#include "vireo/virtio/virtio.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>

#define RAM	MIB(2)
#define QSIZE	64u
#define RXQ	0
#define TXQ	1
#define CTRLQ	2
#define RXQ1	2 /* with two pairs: the second pair's queues, then control */
#define TXQ1	3
#define CTRLQ2	4
#define NQ	5 /* queues at most (two pairs) */
#define DATA	0x80000ull
#define HDR_LEN 12u
#define BIG	70000u /* more than any frame */

#define F(bit) (1ull << (bit))

/* The rings of queue q: desc, avail and used, 4 KiB apart. */
static uint64_t ring_gpa(unsigned q, unsigned which)
{
	return 0x10000ull * (q + 1) + 0x1000ull * which;
}

/* A doorbell of the two-pair tests: an eventfd on the queue's I/O thread. */
struct tkick {
	struct virtio_dev *d;
	unsigned q;
	int fd;
};

struct tnet {
	struct fake_mem f;
	struct iothread io;
	struct virtio_dev d;
	int sp[2];    /* sp[0]: the fake tap's fd (the device's), sp[1]: the network */
	int tap_fd;   /* the fd handed to the device (-1: none yet) */
	bool created; /* virtio_net_setup() ran: destroy closes tap_fd */
	/* The second queue pair's tap queue and I/O thread (two-pair tests). */
	struct iothread io1;
	int sp1[2];
	bool two_pairs; /* the device took sp1[0] too */
	struct tkick kick[NQ];
	uint16_t avail_idx[NQ], next_desc[NQ];
	uint64_t data; /* bump allocator for buffers */
	unsigned irqs[NQ], config_changes;
	uint8_t buf[BIG];
};

static struct tnet *of(struct virtio_dev *d)
{
	return container_of(d, struct tnet, d);
}

static void count_irq(struct virtio_dev *d, unsigned q)
{
	assert_true(q < NQ);
	__atomic_fetch_add(&of(d)->irqs[q], 1, __ATOMIC_RELAXED);
}

static void count_config(struct virtio_dev *d)
{
	of(d)->config_changes++;
}

static int setup(void **state)
{
	struct tnet *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	fake_mem_init(&t->f, RAM);
	if (iothread_init(&t->io) < 0 || iothread_init(&t->io1) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, t->sp) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, t->sp1) < 0)
		return -1;
	for (unsigned q = 0; q < NQ; q++)
		t->kick[q].fd = -1;
	virtio_locks_init(&t->d);
	t->d.io = &t->io;
	t->d.mem = &t->f.m;
	t->d.raise_irq = count_irq;
	t->d.config_changed = count_config;
	t->tap_fd = -1;
	t->data = DATA;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tnet *t = *state;

	iothread_stop(&t->io);
	iothread_stop(&t->io1);
	if (t->created)
		t->d.ops->destroy(&t->d); /* closes tap_fd */
	if (t->tap_fd != t->sp[0])
		close(t->sp[0]);
	if (!t->two_pairs)
		close(t->sp1[0]);
	close(t->sp[1]);
	close(t->sp1[1]);
	for (unsigned q = 0; q < NQ; q++)
		if (t->kick[q].fd >= 0)
			close(t->kick[q].fd);
	iothread_destroy(&t->io);
	iothread_destroy(&t->io1);
	virtio_locks_destroy(&t->d);
	fake_mem_free(&t->f);
	free(t);
	return 0;
}

/* ---- the device ---- */

/* TAP_OFFLOAD_* of the fake tap: all, so every feature can be offered. */
#define ALL_OFFLOADS                                                                               \
	(TAP_OFFLOAD_CSUM | TAP_OFFLOAD_TSO4 | TAP_OFFLOAD_TSO6 | TAP_OFFLOAD_ECN | TAP_OFFLOAD_UFO)

/* virtio_net_setup() over fd (the device takes it), features negotiated, queues set up. */
/*
 * virtio_net_setup() for --net `arg` over a fake tap with a queue per fd
 * (the device takes them), features negotiated, every virtqueue set up.
 */
static void net_create_tap(struct tnet *t, const char *arg, const int *fds, unsigned nfds,
			   uint64_t features)
{
	struct net_config cfg;
	struct tap tap;
	char err[128];

	assert_int_equal(virtio_net_parse_arg(arg, &cfg, err, sizeof(err)), 0);
	tap_init_closed(&tap);
	snprintf(tap.name, sizeof(tap.name), "fake0");
	for (unsigned i = 0; i < nfds; i++)
		tap.fd[i] = fds[i];
	tap.nr_queues = nfds;
	tap.offloads = ALL_OFFLOADS;
	t->tap_fd = fds[0];
	assert_int_equal(virtio_net_setup(&t->d, &cfg, &tap, 0), 0);
	t->created = true;
	features |= F(VIRTIO_F_VERSION_1);
	/* Only what the device offers (VERSION_1 is the transport's). */
	assert_int_equal(features & ~t->d.ops->features & ~F(VIRTIO_F_VERSION_1), 0);
	t->d.driver_features = features;
	for (unsigned q = 0; q < t->d.ops->num_queues; q++)
		assert_true(virtq_init(&t->d.vq[q], &t->f.m, QSIZE, gpa(ring_gpa(q, 0)),
				       gpa(ring_gpa(q, 1)), gpa(ring_gpa(q, 2)), false, false));
}

/* The same with one tap queue, fd, and an optional mac= argument. */
static void net_create_fd(struct tnet *t, uint64_t features, int fd, const char *mac_arg)
{
	char arg[64];

	snprintf(arg, sizeof(arg), "tap=fake0%s%s", mac_arg ? ",mac=" : "", mac_arg ? mac_arg : "");
	net_create_tap(t, arg, &fd, 1, features);
}

/* DRIVER_OK, as the transport does it: status first, then activate. */
static void net_activate(struct tnet *t)
{
	struct stderr_capture cap;
	const char *text;
	int rc;

	t->d.status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		      VIRTIO_STATUS_DRIVER_OK;
	stderr_capture_begin(&cap);
	rc = t->d.ops->activate(&t->d);
	text = stderr_capture_end(&cap);
	assert_int_equal(rc, 0);
	/* The fake tap is no tap: the offloads cannot be set (and that is all). */
	if (text[0])
		assert_substr(text, "TUNSETOFFLOAD");
}

static void net_start(struct tnet *t, uint64_t features)
{
	net_create_fd(t, features, t->sp[0], NULL);
	net_activate(t);
}

static struct virtio_net_stats stats(struct tnet *t)
{
	return virtio_net_get_stats(&t->d);
}

/* The doorbell of queue q. */
static bool kick(struct tnet *t, unsigned q)
{
	bool more;

	virtio_lock_queue(&t->d, q); /* as the transport's doorbell handler does */
	more = t->d.ops->queue_notify(&t->d, q);
	virtio_unlock_queue(&t->d, q);
	return more;
}

/*
 * One round of the I/O thread, on this thread and without sleeping: the
 * handlers of the fds epoll reports, with their events. Returns how many
 * times the tap's handler ran.
 */
static unsigned io_round(struct tnet *t)
{
	struct epoll_event ev[8];
	unsigned tap_calls = 0;
	int n = epoll_wait(t->io.epfd, ev, 8, 0);

	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		uint64_t slot = ev[i].data.u64;
		struct iothread_watch *w;

		if (slot >= IOTHREAD_MAX_FDS || !t->io.watch[slot].used)
			continue;
		w = &t->io.watch[slot];
		assert_true(w->raw);
		tap_calls += w->fd == t->tap_fd;
		while (w->fn(w->opaque, ev[i].events))
			; /* "more": called back (count 0), as the thread does */
	}
	return tap_calls;
}

static void config_read(struct tnet *t, size_t off, void *buf, size_t len)
{
	virtio_lock_all(&t->d);
	t->d.ops->config_read(&t->d, off, buf, len);
	virtio_unlock_all(&t->d);
}

static uint16_t config_status(struct tnet *t)
{
	uint16_t s;

	config_read(t, 6, &s, 2);
	return s;
}

/* ---- the driver's side of the rings ---- */

struct buf {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

static uint8_t *ram(struct tnet *t, uint64_t g, size_t len)
{
	return fake_at(&t->f, g, len);
}

static uint64_t alloc(struct tnet *t, uint32_t len)
{
	uint64_t g = t->data;

	t->data = ALIGN_UP(t->data + len + 16, 16); /* a gap, so overruns show */
	assert_true(t->data <= RAM);
	return g;
}

/* Make head available on queue q: the ring entry, then the index. */
static void publish(struct tnet *t, unsigned q, uint16_t head)
{
	uint8_t *avail = ram(t, ring_gpa(q, 1), VIRTQ_AVAIL_BYTES(QSIZE));

	put16(avail, 4 + 2u * (t->avail_idx[q] % QSIZE), head);
	t->avail_idx[q]++;
	__atomic_store_n((uint16_t *)(avail + 2), t->avail_idx[q], __ATOMIC_RELEASE);
}

/* A chain over buffers b[0..n) on queue q, published; returns its head. */
static uint16_t chain(struct tnet *t, unsigned q, const struct buf *b, unsigned n)
{
	uint16_t head = t->next_desc[q];
	uint8_t *desc = ram(t, ring_gpa(q, 0), VIRTQ_DESC_BYTES(QSIZE));

	for (unsigned i = 0; i < n; i++) {
		unsigned idx = (head + i) % QSIZE;

		put64(desc, 16 * idx, b[i].gpa);
		put32(desc, 16 * idx + 8, b[i].len);
		put16(desc, 16 * idx + 12,
		      (uint16_t)((i + 1 < n ? VIRTQ_DESC_F_NEXT : 0) |
				 (b[i].write ? VIRTQ_DESC_F_WRITE : 0)));
		put16(desc, 16 * idx + 14, (uint16_t)((idx + 1) % QSIZE));
	}
	t->next_desc[q] = (uint16_t)((head + n) % QSIZE);
	publish(t, q, head);
	return head;
}

static uint16_t used_idx(struct tnet *t, unsigned q)
{
	return __atomic_load_n((uint16_t *)(ram(t, ring_gpa(q, 2), 4) + 2), __ATOMIC_ACQUIRE);
}

static uint32_t used_id(struct tnet *t, unsigned q, unsigned i)
{
	return get32(ram(t, ring_gpa(q, 2), VIRTQ_USED_BYTES(QSIZE)), 4 + 8 * (i % QSIZE));
}

static uint32_t used_len(struct tnet *t, unsigned q, unsigned i)
{
	return get32(ram(t, ring_gpa(q, 2), VIRTQ_USED_BYTES(QSIZE)), 8 + 8 * (i % QSIZE));
}

/* ---- frames ---- */

static struct virtio_net_hdr hdr0(void)
{
	return (struct virtio_net_hdr){0};
}

/* Header then frame_len pattern bytes into out; returns the length. */
static size_t make_pkt(uint8_t *out, const struct virtio_net_hdr *h, size_t frame_len,
		       uint64_t seed)
{
	memcpy(out, h, HDR_LEN);
	fill_pattern(out + HDR_LEN, frame_len, seed);
	return HDR_LEN + frame_len;
}

/*
 * A transmit chain carrying pkt[0..len), cut into readable buffers of the
 * given lengths (the last takes the rest). Returns its head.
 */
static uint16_t tx_chain(struct tnet *t, const uint8_t *pkt, size_t len, const uint32_t *cuts,
			 unsigned ncuts)
{
	struct buf b[16];
	size_t off = 0;
	unsigned n = 0;

	assert_true(ncuts < 16);
	for (unsigned i = 0; i <= ncuts; i++) {
		uint32_t l = i < ncuts ? cuts[i] : (uint32_t)(len - off);

		assert_true(off + l <= len);
		b[n] = (struct buf){alloc(t, l), l, false};
		memcpy(ram(t, b[n].gpa, l ? l : 1), pkt + off, l);
		off += l;
		n++;
	}
	return chain(t, TXQ, b, n);
}

/* The next frame on the network side: its length, or -errno. */
static ssize_t net_recv(struct tnet *t, uint8_t *out, size_t len)
{
	ssize_t n = recv(t->sp[1], out, len, MSG_DONTWAIT);

	return n < 0 ? -errno : n;
}

static void net_send(struct tnet *t, const uint8_t *pkt, size_t len)
{
	assert_int_equal(send(t->sp[1], pkt, len, MSG_DONTWAIT), (ssize_t)len);
}

/* Bytes of the frame waiting on the device's end, or -errno (it stays there). */
static ssize_t waiting_for_device(struct tnet *t)
{
	ssize_t n = recv(t->sp[0], t->buf, sizeof(t->buf), MSG_PEEK | MSG_DONTWAIT);

	return n < 0 ? -errno : n;
}

/* An RX buffer: one writable descriptor of len bytes, filled with 0xee. */
static uint64_t rx_buffer(struct tnet *t, uint32_t len, uint16_t *head)
{
	struct buf b = {alloc(t, len), len, true};

	memset(ram(t, b.gpa, len), 0xee, len);
	*head = chain(t, RXQ, &b, 1);
	return b.gpa;
}

/* ==== the --net argument ==== */

static void test_parse_arg_good(void **state)
{
	struct net_config c;
	char err[160] = "";

	(void)state;
	assert_int_equal(virtio_net_parse_arg("tap=tap0", &c, err, sizeof(err)), 0);
	assert_string_equal(c.tap, "tap0");
	assert_false(c.has_mac);

	assert_int_equal(
	    virtio_net_parse_arg("tap=vm1,mac=52:54:00:Ab:cD:0f", &c, err, sizeof(err)), 0);
	assert_string_equal(c.tap, "vm1");
	assert_true(c.has_mac);
	assert_memory_equal(c.mac, ((uint8_t[]){0x52, 0x54, 0x00, 0xab, 0xcd, 0x0f}), 6);

	/* Any order; the longest name a Linux interface can have (IFNAMSIZ - 1). */
	assert_int_equal(
	    virtio_net_parse_arg("mac=02:00:00:00:00:01,tap=abcdefghijklmno", &c, err, sizeof(err)),
	    0);
	assert_string_equal(c.tap, "abcdefghijklmno");
	assert_memory_equal(c.mac, ((uint8_t[]){2, 0, 0, 0, 0, 1}), 6);
}

static void test_parse_arg_bad(void **state)
{
	static const struct {
		const char *arg, *why;
	} bad[] = {
	    {"tap=t,mac=01:00:5e:00:00:01", "bad MAC"}, /* multicast */
	    {"tap=t,mac=ff:ff:ff:ff:ff:ff", "bad MAC"}, /* broadcast */
	    {"tap=t,mac=52:54:00:12:34", "bad MAC"},	/* short */
	    {"tap=t,mac=52:54:00:12:34:567", "bad MAC"},
	    {"tap=t,mac=52:54:00:12:34:5g", "bad MAC"}, /* bad hex */
	    {"tap=t,mac=52:54:00:12:3x:56", "bad MAC"},
	    {"tap=t,mac=52-54-00-12-34-56", "bad MAC"}, /* bad separator */
	    {"tap=t,mac=", "unknown option"},
	    {"mac=52:54:00:12:34:56", "no tap=NAME"},
	    {"", "no tap=NAME"},
	    {"tap=t,speed=10", "unknown option 'speed=10'"},
	    {"tap=t,,mac=52:54:00:12:34:56", "unknown option"},
	    {"tap=abcdefghijklmnop", "longer than 15"},
	    {"tap=", "empty tap name"},
	};
	struct net_config c;
	char err[160];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		if (virtio_net_parse_arg(bad[i].arg, &c, err, sizeof(err)) != -1)
			fail_msg("'%s' was accepted", bad[i].arg);
		assert_substr(err, bad[i].why);
	}
}

/* ==== virtio_net_check_tx ==== */

#define ALL_TX                                                                                     \
	(F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) |            \
	 F(VIRTIO_NET_F_HOST_UFO) | F(VIRTIO_NET_F_HOST_ECN))

static void expect_tx(const struct virtio_net_hdr *h, size_t len, uint64_t features,
		      const char *why)
{
	const char *r = virtio_net_check_tx(h, len, features);

	if (!why && r)
		fail_msg(
		    "rejected (%s): flags %#x gso %#x hdr_len %u gso_size %u csum %u+%u len %zu", r,
		    h->flags, h->gso_type, h->hdr_len, h->gso_size, h->csum_start, h->csum_offset,
		    len);
	if (why && !r)
		fail_msg("accepted, want \"%s\": flags %#x gso %#x len %zu", why, h->flags,
			 h->gso_type, len);
	if (why)
		assert_substr(r, why);
}

static void test_check_tx_sizes_and_flags(void **state)
{
	struct virtio_net_hdr h = hdr0();

	(void)state;
	expect_tx(&h, 60, 0, NULL);
	expect_tx(&h, NET_ETH_HLEN, 0, NULL);
	expect_tx(&h, NET_ETH_HLEN - 1, 0, "shorter than an Ethernet header");
	expect_tx(&h, 0, ALL_TX, "shorter than an Ethernet header");
	expect_tx(&h, NET_MAX_FRAME, 0, NULL);
	expect_tx(&h, NET_MAX_FRAME + 1, ALL_TX, "over 64 KiB");
	/* num_buffers means nothing on transmit. */
	h.num_buffers = 0xffff;
	expect_tx(&h, 60, 0, NULL);

	h = hdr0();
	h.flags = VIRTIO_NET_HDR_F_DATA_VALID; /* the device's flag, not the driver's */
	expect_tx(&h, 60, ALL_TX, "flags a driver may not send");
	h.flags = 4;
	expect_tx(&h, 60, ALL_TX, "flags a driver may not send");
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM | 0x80;
	expect_tx(&h, 60, ALL_TX, "flags a driver may not send");
}

static void test_check_tx_csum(void **state)
{
	struct virtio_net_hdr h = hdr0();

	(void)state;
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = 34;
	h.csum_offset = 16; /* TCP: the checksum at 50..51 */
	expect_tx(&h, 100, 0, "NEEDS_CSUM without CSUM");
	expect_tx(&h, 100, ALL_TX & ~F(VIRTIO_NET_F_CSUM), "NEEDS_CSUM without CSUM");
	expect_tx(&h, 100, F(VIRTIO_NET_F_CSUM), NULL);
	/* The checksum's two bytes end exactly at the frame's end; one byte past. */
	expect_tx(&h, 34 + 16 + 2, F(VIRTIO_NET_F_CSUM), NULL);
	expect_tx(&h, 34 + 16 + 1, F(VIRTIO_NET_F_CSUM), "checksum offsets past the frame");
	/* No 16-bit wrap: both at their largest. */
	h.csum_start = 0xffff;
	h.csum_offset = 0xffff;
	expect_tx(&h, NET_MAX_FRAME, F(VIRTIO_NET_F_CSUM), "checksum offsets past the frame");
	h.csum_start = 0xfff0;
	h.csum_offset = 0x20;
	expect_tx(&h, 0x10, F(VIRTIO_NET_F_CSUM), "checksum offsets past the frame");
	/* Without NEEDS_CSUM the offsets are not looked at. */
	h.flags = 0;
	expect_tx(&h, 60, 0, NULL);
}

static void test_check_tx_gso(void **state)
{
	static const struct {
		uint8_t type;
		unsigned feature;
	} gso[] = {
	    {VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_F_HOST_TSO4},
	    {VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_F_HOST_TSO6},
	    {VIRTIO_NET_HDR_GSO_UDP, VIRTIO_NET_F_HOST_UFO},
	};
	struct virtio_net_hdr h;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(gso); i++) {
		h = hdr0();
		h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h.gso_type = gso[i].type;
		h.gso_size = 1448;
		h.hdr_len = 66;
		h.csum_start = 34;
		h.csum_offset = 16;
		expect_tx(&h, 30000, F(VIRTIO_NET_F_CSUM) | F(gso[i].feature), NULL);
		expect_tx(&h, 30000, ALL_TX, NULL);
		expect_tx(&h, 30000, ALL_TX & ~F(gso[i].feature), "without HOST_");
		expect_tx(&h, 30000, 0, "NEEDS_CSUM without CSUM");
		/* hdr_len: up to the end of the frame, not past it. */
		h.hdr_len = 30000;
		expect_tx(&h, 30000, ALL_TX, NULL);
		h.hdr_len = 30001;
		expect_tx(&h, 30000, ALL_TX, "hdr_len past the frame");
		h.hdr_len = 66;
		h.gso_size = 0;
		expect_tx(&h, 30000, ALL_TX, "gso_size 0");
		/* ECN: only with HOST_ECN. */
		h.gso_size = 1448;
		h.gso_type = gso[i].type | VIRTIO_NET_HDR_GSO_ECN;
		expect_tx(&h, 30000, ALL_TX, NULL);
		expect_tx(&h, 30000, ALL_TX & ~F(VIRTIO_NET_F_HOST_ECN),
			  "ECN bit without HOST_ECN");
	}
	h = hdr0();
	h.gso_size = 1448;
	h.gso_type = VIRTIO_NET_HDR_GSO_ECN; /* ECN of no GSO type */
	expect_tx(&h, 60, ALL_TX, "ECN bit without a GSO type");
	expect_tx(&h, 60, 0, "ECN bit without HOST_ECN");
	for (unsigned type = 2; type < 0x80; type++) {
		if (type == VIRTIO_NET_HDR_GSO_UDP || type == VIRTIO_NET_HDR_GSO_TCPV6)
			continue;
		h.gso_type = (uint8_t)type;
		expect_tx(&h, 60, ALL_TX, "unknown GSO type");
	}
	/* gso_size and hdr_len mean nothing without a GSO type. */
	h = hdr0();
	h.hdr_len = 0xffff;
	expect_tx(&h, 60, 0, NULL);
}

/* ==== set-up and config space ==== */

static void test_features_and_config(void **state)
{
	struct tnet *t = *state;
	struct net_config cfg;
	struct tap tap;
	uint8_t mac[6];
	uint16_t pairs;
	char err[64];

	assert_int_equal(virtio_net_parse_arg("tap=fake0", &cfg, err, sizeof(err)), 0);
	tap_init_closed(&tap);
	tap.fd[0] = t->sp[0];
	tap.nr_queues = 1;
	tap.offloads = TAP_OFFLOAD_CSUM | TAP_OFFLOAD_TSO4; /* no TSO6, ECN, UFO */
	t->tap_fd = t->sp[0];
	assert_int_equal(virtio_net_setup(&t->d, &cfg, &tap, 2), 0);
	t->created = true;
	assert_int_equal(t->d.ops->device_id, VIRTIO_ID_NET);
	assert_int_equal(t->d.ops->num_queues, 3);
	/* What the guest may send: always; what it may receive: what the tap takes. */
	assert_int_equal(t->d.ops->features,
			 F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MRG_RXBUF) |
			     F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX) |
			     F(VIRTIO_NET_F_CTRL_MAC_ADDR) | F(VIRTIO_NET_F_CSUM) |
			     F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) |
			     F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4));
	/* The default MAC of device 2; the link up; one queue pair. */
	config_read(t, 0, mac, 6);
	assert_memory_equal(mac, ((uint8_t[]){0x52, 0x54, 0x00, 0x12, 0x34, 0x58}), 6);
	assert_int_equal(config_status(t), VIRTIO_NET_S_LINK_UP);
	config_read(t, 8, &pairs, 2);
	assert_int_equal(pairs, 1);
}

static void test_config_mac_from_arg(void **state)
{
	struct tnet *t = *state;
	uint8_t mac[6];

	net_create_fd(t, 0, t->sp[0], "02:11:22:33:44:55");
	config_read(t, 0, mac, 6);
	assert_memory_equal(mac, ((uint8_t[]){0x02, 0x11, 0x22, 0x33, 0x44, 0x55}), 6);
}

/* ==== transmit ==== */

/*
 * A frame whose header and data are cut across five descriptors (the header
 * itself in two) arrives on the network byte for byte, header included, in
 * one datagram; the chain comes back with used length 0.
 */
static void test_tx_split_frame(void **state)
{
	struct tnet *t = *state;
	static const uint32_t cuts[] = {5, 7 + 20, 100, 0, 300};
	struct virtio_net_hdr h = hdr0();
	uint8_t pkt[HDR_LEN + 1000];
	size_t len;
	uint16_t head;

	net_start(t, F(VIRTIO_NET_F_CSUM));
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = 34;
	h.csum_offset = 6;
	h.num_buffers = 0x1234; /* carried as the driver wrote it */
	len = make_pkt(pkt, &h, 1000, 1);
	head = tx_chain(t, pkt, len, cuts, ARRAY_SIZE(cuts));
	kick(t, TXQ);

	assert_int_equal(net_recv(t, t->buf, sizeof(t->buf)), len);
	assert_memory_equal(t->buf, pkt, len);
	assert_int_equal(net_recv(t, t->buf, sizeof(t->buf)), -EAGAIN);
	assert_int_equal(used_idx(t, TXQ), 1);
	assert_int_equal(used_id(t, TXQ, 0), head);
	assert_int_equal(used_len(t, TXQ, 0), 0);
	assert_int_equal(t->irqs[TXQ], 1);
	assert_int_equal(stats(t).tx_packets, 1);
	assert_int_equal(stats(t).tx_bytes, 1000);
	assert_int_equal(stats(t).tx_malformed, 0);
	assert_int_equal(stats(t).tso_frames, 0);
	assert_int_equal(t->d.vq[TXQ].stats.bytes, 1000);
}

/* A GSO frame (TSO4 negotiated) goes out as it is, and is counted as one. */
static void test_tx_gso_frame(void **state)
{
	struct tnet *t = *state;
	struct virtio_net_hdr h = hdr0();
	static uint8_t pkt[HDR_LEN + 20000];
	size_t len;

	net_start(t, F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4));
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = 1448;
	h.hdr_len = 54;
	h.csum_start = 34;
	h.csum_offset = 16;
	len = make_pkt(pkt, &h, 20000, 2);
	tx_chain(t, pkt, len, (uint32_t[]){HDR_LEN}, 1);
	kick(t, TXQ);
	assert_int_equal(net_recv(t, t->buf, sizeof(t->buf)), len);
	assert_memory_equal(t->buf, pkt, len);
	assert_int_equal(stats(t).tso_frames, 1);
	assert_int_equal(stats(t).tx_bytes, 20000);
}

/*
 * Malformed chains -- no room for a header, a writable buffer, a header the
 * features do not allow, a runt frame, a buffer outside guest RAM -- come
 * back with length 0, reach the network not at all, and are each counted
 * once as tx_malformed; the good frame after them goes out.
 */
static void test_tx_malformed(void **state)
{
	struct tnet *t = *state;
	struct virtio_net_hdr h = hdr0();
	uint8_t pkt[HDR_LEN + 200], good[HDR_LEN + 60];
	uint16_t heads[6];
	uint64_t wbuf;
	size_t len;

	net_start(t, 0);
	len = make_pkt(pkt, &h, 200, 3);
	/* 1: 11 bytes, less than a header. */
	heads[0] = tx_chain(t, pkt, HDR_LEN - 1, NULL, 0);
	/* 2: a good frame followed by a writable buffer. */
	wbuf = alloc(t, 64);
	memset(ram(t, wbuf, 64), 0xee, 64);
	{
		struct buf b[2] = {{alloc(t, (uint32_t)len), (uint32_t)len, false},
				   {wbuf, 64, true}};

		memcpy(ram(t, b[0].gpa, len), pkt, len);
		heads[1] = chain(t, TXQ, b, 2);
	}
	/* 3: NEEDS_CSUM, CSUM not negotiated. */
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	make_pkt(pkt, &h, 200, 3);
	heads[2] = tx_chain(t, pkt, len, NULL, 0);
	/* 4: a runt: 13 bytes after the header. */
	h = hdr0();
	make_pkt(pkt, &h, 13, 3);
	heads[3] = tx_chain(t, pkt, HDR_LEN + 13, NULL, 0);
	/* 5: a buffer outside guest RAM (the queue itself rejects it). */
	{
		struct buf b = {RAM - 16, 64, false};

		heads[4] = chain(t, TXQ, &b, 1);
	}
	/* 6: a good one. */
	heads[5] = tx_chain(t, good, make_pkt(good, &h, 60, 4), NULL, 0);

	kick(t, TXQ);
	assert_int_equal(used_idx(t, TXQ), 6);
	for (unsigned i = 0; i < 6; i++) {
		assert_int_equal(used_id(t, TXQ, i), heads[i]);
		assert_int_equal(used_len(t, TXQ, i), 0);
	}
	assert_int_equal(net_recv(t, t->buf, sizeof(t->buf)), sizeof(good));
	assert_memory_equal(t->buf, good, sizeof(good));
	assert_int_equal(net_recv(t, t->buf, sizeof(t->buf)), -EAGAIN);
	assert_int_equal(stats(t).tx_malformed, 5);
	assert_int_equal(t->d.vq[TXQ].stats.malformed, 1);
	assert_int_equal(stats(t).tx_packets, 1);
	assert_int_equal(stats(t).tx_dropped, 0);
	assert_int_equal(t->irqs[TXQ], 1);
	/* The writable buffer was not written. */
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(ram(t, wbuf, 64)[i], 0xee);
}

/* Several frames in one kick: all go out, in order, under one interrupt. */
static void test_tx_one_irq_per_batch(void **state)
{
	struct tnet *t = *state;
	struct virtio_net_hdr h = hdr0();
	uint8_t pkt[5][HDR_LEN + 100];

	net_start(t, 0);
	for (unsigned i = 0; i < 5; i++)
		tx_chain(t, pkt[i], make_pkt(pkt[i], &h, 60 + 10 * i, 10 + i), NULL, 0);
	kick(t, TXQ);
	assert_int_equal(used_idx(t, TXQ), 5);
	assert_int_equal(t->irqs[TXQ], 1);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(net_recv(t, t->buf, sizeof(t->buf)), HDR_LEN + 60 + 10 * i);
		assert_memory_equal(t->buf, pkt[i], HDR_LEN + 60 + 10 * i);
	}
	assert_int_equal(stats(t).tx_packets, 5);

	/* The next batch, the next interrupt. */
	tx_chain(t, pkt[0], HDR_LEN + 60, NULL, 0);
	tx_chain(t, pkt[1], HDR_LEN + 70, NULL, 0);
	kick(t, TXQ);
	assert_int_equal(used_idx(t, TXQ), 7);
	assert_int_equal(t->irqs[TXQ], 2);
}

/* Fill the fake tap's queue until it answers EAGAIN; returns the datagrams sent. */
static unsigned fill_tap(struct tnet *t)
{
	uint8_t junk[256];
	unsigned n = 0;

	memset(junk, 0x77, sizeof(junk));
	while (send(t->sp[0], junk, sizeof(junk), MSG_DONTWAIT) == (ssize_t)sizeof(junk))
		n++;
	assert_int_equal(errno, EAGAIN);
	assert_true(n > 0);
	return n;
}

/*
 * A full tap: the chain goes back on the ring (not completed, nothing
 * sent), the device waits for EPOLLOUT instead of retrying on every kick,
 * and once there is room the frames go out, in order, under one interrupt.
 */
static void test_tx_full_tap_waits(void **state)
{
	struct tnet *t = *state;
	struct virtio_net_hdr h = hdr0();
	uint8_t pkt[2][HDR_LEN + 300];
	uint16_t heads[2];
	unsigned junk;

	net_start(t, 0);
	junk = fill_tap(t);
	for (unsigned i = 0; i < 2; i++)
		heads[i] = tx_chain(t, pkt[i], make_pkt(pkt[i], &h, 300, 20 + i), NULL, 0);
	assert_false(kick(t, TXQ));
	assert_int_equal(used_idx(t, TXQ), 0);
	assert_int_equal(t->irqs[TXQ], 0);
	assert_int_equal(stats(t).tx_blocked, 1);
	assert_int_equal(t->d.vq[TXQ].last_avail, 0); /* put back */
	/* Kicked again while full: not even tried. */
	kick(t, TXQ);
	assert_int_equal(stats(t).tx_blocked, 1);
	assert_int_equal(io_round(t), 0); /* still full: nothing to wake for */

	/* The network reads: only the junk was there. */
	for (unsigned i = 0; i < junk; i++)
		assert_int_equal(net_recv(t, t->buf, sizeof(t->buf)), 256);
	assert_int_equal(net_recv(t, t->buf, sizeof(t->buf)), -EAGAIN);

	/* Room: EPOLLOUT, and the frames go. */
	assert_int_equal(io_round(t), 1);
	assert_int_equal(used_idx(t, TXQ), 2);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(used_id(t, TXQ, i), heads[i]);
		assert_int_equal(used_len(t, TXQ, i), 0);
		assert_int_equal(net_recv(t, t->buf, sizeof(t->buf)), sizeof(pkt[i]));
		assert_memory_equal(t->buf, pkt[i], sizeof(pkt[i]));
	}
	assert_int_equal(t->irqs[TXQ], 1);
	assert_int_equal(stats(t).tx_packets, 2);
	assert_int_equal(stats(t).tx_dropped, 0);
	/* Not blocked any more: no EPOLLOUT wake-ups (the tap stays writable). */
	assert_int_equal(io_round(t), 0);
}

/* ==== receive ==== */

/*
 * A frame from the network lands in the posted buffer behind its header,
 * num_buffers set to 1 (whatever the tap left there), used length the
 * frame's; the device then waits for EPOLLIN again.
 */
static void test_rx_one_buffer(void **state)
{
	struct tnet *t = *state;
	struct virtio_net_hdr h = hdr0(), *got;
	uint8_t pkt[HDR_LEN + 60];
	uint16_t head, head2;
	uint64_t g, g2;

	net_start(t, F(VIRTIO_NET_F_GUEST_CSUM));
	g = rx_buffer(t, HDR_LEN + 1514, &head);
	g2 = rx_buffer(t, HDR_LEN + 1514, &head2);
	assert_int_equal(io_round(t), 0); /* nothing yet */
	h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	h.num_buffers = 0xabcd;
	net_send(t, pkt, make_pkt(pkt, &h, 60, 30));
	assert_int_equal(io_round(t), 1);

	assert_int_equal(used_idx(t, RXQ), 1);
	assert_int_equal(used_id(t, RXQ, 0), head);
	assert_int_equal(used_len(t, RXQ, 0), sizeof(pkt));
	got = (struct virtio_net_hdr *)ram(t, g, HDR_LEN);
	assert_int_equal(got->num_buffers, 1);
	assert_int_equal(got->flags, VIRTIO_NET_HDR_F_DATA_VALID);
	assert_memory_equal(ram(t, g + HDR_LEN, 60), pkt + HDR_LEN, 60);
	assert_int_equal(ram(t, g, HDR_LEN + 61)[HDR_LEN + 60], 0xee); /* nothing more */
	assert_int_equal(t->irqs[RXQ], 1);
	assert_int_equal(stats(t).rx_packets, 1);
	assert_int_equal(stats(t).rx_bytes, 60);
	assert_int_equal(t->d.vq[RXQ].stats.bytes, 60);
	assert_int_equal(waiting_for_device(t), -EAGAIN);

	/* The second buffer found the tap empty: waiting again, the next frame is seen. */
	assert_int_equal(t->d.vq[RXQ].last_avail, 1);
	assert_int_equal(io_round(t), 0);
	net_send(t, pkt, sizeof(pkt));
	assert_int_equal(io_round(t), 1);
	assert_int_equal(used_idx(t, RXQ), 2);
	assert_int_equal(used_id(t, RXQ, 1), head2);
	assert_memory_equal(ram(t, g2 + HDR_LEN, 60), pkt + HDR_LEN, 60);
	assert_int_equal(t->irqs[RXQ], 2);
}

/* A frame larger than the buffers is dropped and counted, never cut; the buffer is kept. */
static void test_rx_too_large_dropped(void **state)
{
	struct tnet *t = *state;
	struct virtio_net_hdr h = hdr0();
	uint8_t pkt[HDR_LEN + 200];
	uint16_t head;
	uint64_t g;

	net_start(t, F(VIRTIO_NET_F_GUEST_CSUM));
	g = rx_buffer(t, HDR_LEN + 100, &head);
	net_send(t, pkt, make_pkt(pkt, &h, 200, 50));
	io_round(t);
	assert_int_equal(used_idx(t, RXQ), 0); /* nothing handed over */
	assert_int_equal(stats(t).rx_dropped, 1);
	assert_int_equal(stats(t).rx_packets, 0);
	/* A frame that fills the buffer exactly is not mistaken for one too large. */
	net_send(t, pkt, make_pkt(pkt, &h, 100, 51));
	io_round(t);
	assert_int_equal(used_idx(t, RXQ), 1);
	assert_int_equal(used_id(t, RXQ, 0), head);
	assert_int_equal(used_len(t, RXQ, 0), HDR_LEN + 100);
	assert_memory_equal(ram(t, g + HDR_LEN, 100), pkt + HDR_LEN, 100);
	assert_int_equal(stats(t).rx_dropped, 1);
}

/* Received GSO frames are counted in tso_frames, the others not. */
static void test_rx_counts_gso_frames(void **state)
{
	struct tnet *t = *state;
	struct virtio_net_hdr h = hdr0();
	static uint8_t pkt[HDR_LEN + 3000];
	uint16_t head;

	net_start(t, F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4));
	for (unsigned i = 0; i < 4; i++)
		rx_buffer(t, HDR_LEN + 4000, &head);
	net_send(t, pkt, make_pkt(pkt, &h, 60, 40));
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = 1448;
	h.hdr_len = 54;
	h.csum_start = 34;
	h.csum_offset = 16;
	net_send(t, pkt, make_pkt(pkt, &h, 3000, 41));
	net_send(t, pkt, make_pkt(pkt, &(struct virtio_net_hdr){0}, 100, 42));
	assert_int_equal(io_round(t), 1);
	assert_int_equal(used_idx(t, RXQ), 3);
	assert_int_equal(stats(t).rx_packets, 3);
	assert_int_equal(stats(t).rx_bytes, 60 + 3000 + 100);
	assert_int_equal(stats(t).tso_frames, 1);
}

/*
 * MRG_RXBUF with 112-byte buffers (header + 100): a 1000-byte frame takes
 * ten of them (9 * 112 < 1012 <= 10 * 112), published together with
 * num_buffers 10 in the first one's header; the buffers taken but not
 * needed go back to the ring, and the next frame lands in the first of them.
 */
static void test_rx_mergeable(void **state)
{
	struct tnet *t = *state;
	struct virtio_net_hdr h = hdr0(), *got;
	uint8_t pkt[HDR_LEN + 1000], flat[16 * 112], pkt2[HDR_LEN + 50];
	uint64_t g[16];
	uint16_t head[16];
	size_t off = 0;

	net_start(t, F(VIRTIO_NET_F_MRG_RXBUF));
	for (unsigned i = 0; i < 16; i++)
		g[i] = rx_buffer(t, 112, &head[i]);
	net_send(t, pkt, make_pkt(pkt, &h, 1000, 50));
	assert_int_equal(io_round(t), 1);

	assert_int_equal(used_idx(t, RXQ), 10);
	for (unsigned i = 0; i < 10; i++) {
		assert_int_equal(used_id(t, RXQ, i), head[i]);
		assert_int_equal(used_len(t, RXQ, i), i < 9 ? 112 : 1012 - 9 * 112);
		memcpy(flat + off, ram(t, g[i], 112), used_len(t, RXQ, i));
		off += used_len(t, RXQ, i);
	}
	assert_int_equal(off, sizeof(pkt));
	got = (struct virtio_net_hdr *)flat;
	assert_int_equal(got->num_buffers, 10);
	assert_memory_equal(flat + HDR_LEN, pkt + HDR_LEN, 1000);
	assert_int_equal(ram(t, g[9], 112)[1012 - 9 * 112], 0xee);
	for (unsigned i = 10; i < 16; i++) /* untouched */
		assert_int_equal(ram(t, g[i], 1)[0], 0xee);
	assert_int_equal(t->d.vq[RXQ].last_avail, 10);
	assert_int_equal(t->irqs[RXQ], 1);
	assert_int_equal(stats(t).rx_packets, 1);
	assert_int_equal(stats(t).rx_bytes, 1000);

	/* The next frame: buffer 10, alone. */
	net_send(t, pkt2, make_pkt(pkt2, &h, 50, 51));
	assert_int_equal(io_round(t), 1);
	assert_int_equal(used_idx(t, RXQ), 11);
	assert_int_equal(used_id(t, RXQ, 10), head[10]);
	assert_int_equal(used_len(t, RXQ, 10), sizeof(pkt2));
	assert_int_equal(((struct virtio_net_hdr *)ram(t, g[10], HDR_LEN))->num_buffers, 1);
	assert_memory_equal(ram(t, g[10] + HDR_LEN, 50), pkt2 + HDR_LEN, 50);
	assert_int_equal(t->d.vq[RXQ].last_avail, 11);
	assert_int_equal(t->irqs[RXQ], 2);
}

/*
 * MRG_RXBUF, a malformed chain (outside guest RAM) behind the first buffer:
 * the frame goes into the first buffer alone, the malformed chain comes back
 * empty after it, and it is counted once as malformed.
 */
static void test_rx_mergeable_malformed_next(void **state)
{
	struct tnet *t = *state;
	struct buf bad = {RAM - 16, 64, true};
	uint8_t pkt[HDR_LEN + 60];
	uint16_t head, bad_head;
	uint64_t g;

	net_start(t, F(VIRTIO_NET_F_MRG_RXBUF));
	g = rx_buffer(t, HDR_LEN + 100, &head);
	bad_head = chain(t, RXQ, &bad, 1);
	net_send(t, pkt, make_pkt(pkt, &(struct virtio_net_hdr){0}, 60, 55));
	assert_int_equal(io_round(t), 1);
	assert_int_equal(used_idx(t, RXQ), 2);
	assert_int_equal(used_id(t, RXQ, 0), head);
	assert_int_equal(used_len(t, RXQ, 0), sizeof(pkt));
	assert_int_equal(((struct virtio_net_hdr *)ram(t, g, HDR_LEN))->num_buffers, 1);
	assert_memory_equal(ram(t, g + HDR_LEN, 60), pkt + HDR_LEN, 60);
	assert_int_equal(used_id(t, RXQ, 1), bad_head);
	assert_int_equal(used_len(t, RXQ, 1), 0);
	assert_int_equal(t->d.vq[RXQ].stats.malformed, 1);
	assert_int_equal(stats(t).rx_packets, 1);
	assert_int_equal(t->irqs[RXQ], 1);
}

/*
 * No receive buffers: the frame stays in the tap (not read, not dropped)
 * and the device stops waiting for EPOLLIN (level-triggered, it would be
 * woken for ever); a receiveq kick with a buffer brings the frame in.
 */
static void test_rx_no_buffers_not_read(void **state)
{
	struct tnet *t = *state;
	uint8_t pkt[HDR_LEN + 80];
	uint16_t head;
	uint64_t g;

	net_start(t, 0);
	net_send(t, pkt, make_pkt(pkt, &(struct virtio_net_hdr){0}, 80, 60));
	assert_int_equal(io_round(t), 1);
	assert_int_equal(waiting_for_device(t), sizeof(pkt));
	assert_int_equal(stats(t).rx_packets, 0);
	assert_int_equal(stats(t).rx_dropped, 0);
	assert_int_equal(io_round(t), 0);
	assert_int_equal(io_round(t), 0);

	g = rx_buffer(t, HDR_LEN + 1514, &head);
	kick(t, RXQ);
	assert_int_equal(used_idx(t, RXQ), 1);
	assert_int_equal(used_len(t, RXQ, 0), sizeof(pkt));
	assert_memory_equal(ram(t, g + HDR_LEN, 80), pkt + HDR_LEN, 80);
	assert_int_equal(waiting_for_device(t), -EAGAIN);
	assert_int_equal(t->irqs[RXQ], 1);
}

/*
 * Receive buffers the device cannot use -- no room for the header, or
 * device-readable -- come back empty and are counted; the frame lands in the
 * good buffer after them.
 */
static void test_rx_bad_buffers(void **state)
{
	struct tnet *t = *state;
	uint8_t pkt[HDR_LEN + 64];
	uint16_t h1, h2, h3;
	uint64_t g;

	net_start(t, 0);
	rx_buffer(t, HDR_LEN - 1, &h1);
	{
		struct buf b[2] = {{alloc(t, 16), 16, false}, {alloc(t, 2000), 2000, true}};

		h2 = chain(t, RXQ, b, 2);
	}
	g = rx_buffer(t, HDR_LEN + 1514, &h3);
	net_send(t, pkt, make_pkt(pkt, &(struct virtio_net_hdr){0}, 64, 70));
	assert_int_equal(io_round(t), 1);
	assert_int_equal(used_idx(t, RXQ), 3);
	assert_int_equal(used_id(t, RXQ, 0), h1);
	assert_int_equal(used_len(t, RXQ, 0), 0);
	assert_int_equal(used_id(t, RXQ, 1), h2);
	assert_int_equal(used_len(t, RXQ, 1), 0);
	assert_int_equal(used_id(t, RXQ, 2), h3);
	assert_int_equal(used_len(t, RXQ, 2), sizeof(pkt));
	assert_memory_equal(ram(t, g + HDR_LEN, 64), pkt + HDR_LEN, 64);
	assert_int_equal(stats(t).rx_bad_buffers, 2);
	assert_int_equal(stats(t).rx_packets, 1);
	assert_int_equal(t->irqs[RXQ], 1);
}

/* The real I/O thread: EPOLLIN on the tap brings a frame in, unprompted. */
static void test_rx_through_iothread(void **state)
{
	struct tnet *t = *state;
	uint8_t pkt[HDR_LEN + 200];
	uint16_t head;
	uint64_t g, t0;

	net_start(t, 0);
	g = rx_buffer(t, HDR_LEN + 1514, &head);
	assert_int_equal(iothread_start(&t->io), 0);
	net_send(t, pkt, make_pkt(pkt, &(struct virtio_net_hdr){0}, 200, 80));
	t0 = now_ns();
	while (used_idx(t, RXQ) == 0 && now_ns() - t0 < 5000000000ull)
		usleep(1000);
	iothread_stop(&t->io);
	assert_int_equal(used_idx(t, RXQ), 1);
	assert_int_equal(used_len(t, RXQ, 0), sizeof(pkt));
	assert_memory_equal(ram(t, g + HDR_LEN, 200), pkt + HDR_LEN, 200);
	assert_int_equal(t->irqs[RXQ], 1);
}

/* ==== link down: a tap whose interface is gone ==== */

/* An fd of /dev/net/tun attached to no interface, or skip. */
static int detached_tun(void)
{
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "# /dev/net/tun: %s: skipping\n", strerror(errno));
		skip();
	}
	return fd;
}

/*
 * The tap answers EBADFD: the link goes down once (status bit cleared, one
 * config interrupt, a warning), the tap's EPOLLERR wakes the device no more,
 * transmitted frames are completed and counted as dropped, and receive
 * buffers stay with the driver.
 */
static void test_link_down(void **state)
{
	struct tnet *t = *state;
	struct virtio_net_hdr h = hdr0();
	uint8_t pkt[HDR_LEN + 60];
	struct stderr_capture cap;
	const char *text;
	uint16_t head;
	unsigned calls;

	net_create_fd(t, F(VIRTIO_NET_F_STATUS), detached_tun(), NULL);
	net_activate(t);
	assert_int_equal(config_status(t), VIRTIO_NET_S_LINK_UP);
	rx_buffer(t, HDR_LEN + 1514, &head);

	stderr_capture_begin(&cap);
	calls = io_round(t);
	text = stderr_capture_end(&cap);
	assert_int_equal(calls, 1);
	assert_substr(text, "net fake0: the tap went away: link down");
	assert_int_equal(stats(t).link_down, 1);
	assert_int_equal(config_status(t), 0);
	assert_int_equal(t->config_changes, 1);
	assert_int_equal(used_idx(t, RXQ), 0);
	assert_int_equal(stats(t).rx_dropped, 0);
	/* At most one more wake-up from it (EPOLLONESHOT re-armed), then none. */
	assert_true(io_round(t) <= 1);
	assert_int_equal(io_round(t), 0);
	assert_int_equal(io_round(t), 0);

	/* Frames sent now: completed, dropped, counted; no second config interrupt. */
	tx_chain(t, pkt, make_pkt(pkt, &h, 60, 90), NULL, 0);
	tx_chain(t, pkt, sizeof(pkt), NULL, 0);
	kick(t, TXQ);
	assert_int_equal(used_idx(t, TXQ), 2);
	assert_int_equal(used_len(t, TXQ, 0), 0);
	assert_int_equal(stats(t).tx_dropped, 2);
	assert_int_equal(stats(t).tx_packets, 0);
	assert_int_equal(stats(t).tx_malformed, 0);
	assert_int_equal(t->config_changes, 1);
	/* Receive buffers are left alone. */
	kick(t, RXQ);
	assert_int_equal(used_idx(t, RXQ), 0);
	assert_int_equal(io_round(t), 0);

	/* A device reset keeps the link down. */
	virtio_lock_all(&t->d);
	t->d.ops->reset(&t->d);
	virtio_unlock_all(&t->d);
	assert_int_equal(config_status(t), 0);
}

/* The same found by a transmit: without STATUS, no config interrupt. */
static void test_link_down_on_transmit(void **state)
{
	struct tnet *t = *state;
	uint8_t pkt[HDR_LEN + 60];
	struct stderr_capture cap;

	net_create_fd(t, 0, detached_tun(), NULL);
	net_activate(t);
	tx_chain(t, pkt, make_pkt(pkt, &(struct virtio_net_hdr){0}, 60, 91), NULL, 0);
	stderr_capture_begin(&cap);
	kick(t, TXQ);
	assert_substr(stderr_capture_end(&cap), "link down");
	assert_int_equal(used_idx(t, TXQ), 1);
	assert_int_equal(stats(t).tx_dropped, 1);
	assert_int_equal(stats(t).link_down, 1);
	assert_int_equal(config_status(t), 0);
	assert_int_equal(t->config_changes, 0);
}

/* Wake-ups of the tap's handler over `rounds` rounds of the I/O thread. */
static unsigned tap_wakeups(struct tnet *t, unsigned rounds)
{
	unsigned calls = 0;

	for (unsigned i = 0; i < rounds; i++)
		calls += io_round(t);
	return calls;
}

/*
 * A tap deleted while the device has no receive buffers: epoll reports
 * EPOLLERR whatever the watch waits for, and the device cannot act on it
 * until the guest posts a buffer. It must not be woken for it again and
 * again meanwhile (the I/O thread would spin); the buffer's kick then finds
 * the link gone.
 */
static void test_tap_gone_without_rx_buffers(void **state)
{
	struct tnet *t = *state;
	struct stderr_capture cap;
	uint16_t head;

	net_create_fd(t, F(VIRTIO_NET_F_STATUS), detached_tun(), NULL);
	net_activate(t);
	assert_true(tap_wakeups(t, 20) <= 2);
	assert_int_equal(tap_wakeups(t, 5), 0);
	assert_int_equal(stats(t).link_down, 0); /* not known yet: nothing was read */

	rx_buffer(t, HDR_LEN + 1514, &head);
	stderr_capture_begin(&cap);
	kick(t, RXQ);
	assert_substr(stderr_capture_end(&cap), "link down");
	assert_int_equal(stats(t).link_down, 1);
	assert_int_equal(config_status(t), 0);
	assert_int_equal(t->config_changes, 1);
	assert_int_equal(used_idx(t, RXQ), 0);
	assert_int_equal(tap_wakeups(t, 5), 0);
}

/*
 * The same before the driver set DRIVER_OK (a guest without a virtio-net
 * driver, or one that reset the device): nothing to do with the tap, so no
 * wake-ups for it either.
 */
static void test_tap_gone_before_driver_ok(void **state)
{
	struct tnet *t = *state;

	net_create_fd(t, F(VIRTIO_NET_F_STATUS), detached_tun(), NULL);
	assert_true(tap_wakeups(t, 20) <= 1);
	assert_int_equal(tap_wakeups(t, 5), 0);

	/* Started with no receive buffers, then reset. */
	net_activate(t);
	assert_true(tap_wakeups(t, 20) <= 2);
	virtio_lock_all(&t->d);
	t->d.ops->reset(&t->d);
	t->d.status = 0;
	virtio_unlock_all(&t->d);
	assert_true(tap_wakeups(t, 20) <= 1);
	assert_int_equal(tap_wakeups(t, 5), 0);
	assert_int_equal(stats(t).link_down, 0);
}

/* ==== control queue ==== */

#define CTRL_OK	 0
#define CTRL_ERR 1

/* Send {class, command, data...} with a one-byte ack buffer; returns the ack. */
/* A command on control queue q, answered at once: its ack byte. */
static uint8_t ctrl_on(struct tnet *t, unsigned q, const uint8_t *cmd, uint32_t len)
{
	struct buf b[2] = {{alloc(t, len), len, false}, {alloc(t, 1), 1, true}};
	uint16_t before = used_idx(t, q);
	uint16_t head;

	memcpy(ram(t, b[0].gpa, len), cmd, len);
	ram(t, b[1].gpa, 1)[0] = 0xee;
	head = chain(t, q, b, 2);
	kick(t, q);
	assert_int_equal(used_idx(t, q), (uint16_t)(before + 1));
	assert_int_equal(used_id(t, q, before), head);
	assert_int_equal(used_len(t, q, before), 1);
	return ram(t, b[1].gpa, 1)[0];
}

static uint8_t ctrl(struct tnet *t, const uint8_t *cmd, uint32_t len)
{
	return ctrl_on(t, CTRLQ, cmd, len);
}

static void test_ctrl(void **state)
{
	struct tnet *t = *state;
	uint8_t mac[6];

	net_start(t, F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX) |
			 F(VIRTIO_NET_F_CTRL_MAC_ADDR));
	/* RX: promiscuous and all-multicast, on and off: a tap does both already. */
	assert_int_equal(ctrl(t, (uint8_t[]){0, 0, 1}, 3), CTRL_OK);
	assert_int_equal(ctrl(t, (uint8_t[]){0, 0, 0}, 3), CTRL_OK);
	assert_int_equal(ctrl(t, (uint8_t[]){0, 1, 1}, 3), CTRL_OK);
	/* An RX command it does not know, or without its byte. */
	assert_int_equal(ctrl(t, (uint8_t[]){0, 5, 1}, 3), CTRL_ERR);
	assert_int_equal(ctrl(t, (uint8_t[]){0, 0}, 2), CTRL_ERR);
	/* MAC_ADDR_SET: the config space's mac follows. */
	assert_int_equal(ctrl(t, (uint8_t[]){1, 1, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}, 8),
			 CTRL_OK);
	config_read(t, 0, mac, 6);
	assert_memory_equal(mac, ((uint8_t[]){0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}), 6);
	/* ... only with exactly six bytes. */
	assert_int_equal(ctrl(t, (uint8_t[]){1, 1, 0x02, 0x11, 0x22, 0x33, 0x44}, 7), CTRL_ERR);
	config_read(t, 0, mac, 6);
	assert_memory_equal(mac, ((uint8_t[]){0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}), 6);
	/* MAC_TABLE_SET (two empty tables): accepted, the guest filters. */
	assert_int_equal(ctrl(t, (uint8_t[]){1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 10), CTRL_OK);
	/* Unknown class, unknown MAC command. */
	assert_int_equal(ctrl(t, (uint8_t[]){9, 0}, 2), CTRL_ERR);
	assert_int_equal(ctrl(t, (uint8_t[]){1, 7}, 2), CTRL_ERR);
	assert_int_equal(t->irqs[CTRLQ], 10);
}

/* Without CTRL_RX or CTRL_MAC_ADDR negotiated, those commands fail. */
static void test_ctrl_not_negotiated(void **state)
{
	struct tnet *t = *state;
	uint8_t mac[6];

	net_start(t, F(VIRTIO_NET_F_CTRL_VQ));
	assert_int_equal(ctrl(t, (uint8_t[]){0, 0, 1}, 3), CTRL_ERR);
	assert_int_equal(ctrl(t, (uint8_t[]){1, 1, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}, 8),
			 CTRL_ERR);
	config_read(t, 0, mac, 6);
	assert_memory_equal(mac, ((uint8_t[]){0x52, 0x54, 0x00, 0x12, 0x34, 0x56}), 6);
}

/*
 * A device reset gives back the MAC the device was configured with: the
 * driver that comes next (a rebooted guest) reads the configured one, not
 * what the last one set with MAC_ADDR_SET.
 */
static void test_reset_restores_mac(void **state)
{
	struct tnet *t = *state;
	uint8_t mac[6];

	net_create_fd(t, F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_MAC_ADDR), t->sp[0],
		      "02:11:22:33:44:55");
	net_activate(t);
	assert_int_equal(ctrl(t, (uint8_t[]){1, 1, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}, 8),
			 CTRL_OK);
	config_read(t, 0, mac, 6);
	assert_memory_equal(mac, ((uint8_t[]){0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}), 6);
	virtio_lock_all(&t->d);
	t->d.ops->reset(&t->d);
	t->d.status = 0;
	virtio_unlock_all(&t->d);
	config_read(t, 0, mac, 6);
	assert_memory_equal(mac, ((uint8_t[]){0x02, 0x11, 0x22, 0x33, 0x44, 0x55}), 6);
}

/* A chain with no command or no ack byte comes back with nothing written. */
static void test_ctrl_malformed(void **state)
{
	struct tnet *t = *state;
	struct buf b[2];

	net_start(t, F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX));
	b[0] = (struct buf){alloc(t, 3), 3, false};
	memcpy(ram(t, b[0].gpa, 3), (uint8_t[]){0, 0, 1}, 3);
	chain(t, CTRLQ, b, 1); /* no ack buffer */
	b[0] = (struct buf){alloc(t, 1), 1, false};
	b[1] = (struct buf){alloc(t, 1), 1, true};
	ram(t, b[1].gpa, 1)[0] = 0xee;
	chain(t, CTRLQ, b, 2); /* one byte of command */
	kick(t, CTRLQ);
	assert_int_equal(used_idx(t, CTRLQ), 2);
	assert_int_equal(used_len(t, CTRLQ, 0), 0);
	assert_int_equal(used_len(t, CTRLQ, 1), 0);
	assert_int_equal(ram(t, b[1].gpa, 1)[0], 0xee);
}

/* ==== two queue pairs, each on its own I/O thread ==== */

/* The transport's doorbell handler (virtio_pci.c), for these tests without one. */
static bool doorbell(void *opaque, uint64_t count)
{
	struct tkick *k = opaque;
	bool more;

	(void)count;
	virtio_lock_queue(k->d, k->q);
	more = k->d->ops->queue_notify(k->d, k->q);
	virtio_unlock_queue(k->d, k->q);
	return more;
}

static void ring_doorbell(struct tnet *t, unsigned q)
{
	uint64_t one = 1;

	assert_int_equal(write(t->kick[q].fd, &one, sizeof(one)), sizeof(one));
}

/*
 * A two-pair device over sp and sp1, pair k's thread io / io1 (as the
 * machine sets them), both pairs in use (VQ_PAIRS_SET 2), a doorbell per
 * queue on the queue's thread. The threads are not started.
 */
static void two_pairs_start(struct tnet *t)
{
	const uint8_t pairs2[] = {4 /* MQ */, 0 /* VQ_PAIRS_SET */, 2, 0};

	t->d.group[0].io = &t->io;
	t->d.group[1].io = &t->io1;
	net_create_tap(t, "tap=fake0,queues=2", (const int[]){t->sp[0], t->sp1[0]}, 2,
		       F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ) | F(VIRTIO_NET_F_STATUS));
	t->two_pairs = true;
	assert_int_equal(t->d.ops->num_queues, NQ);
	net_activate(t);
	assert_int_equal(ctrl_on(t, CTRLQ2, pairs2, sizeof(pairs2)), 0);
	assert_int_equal(stats(t).queue_pairs, 2);
	for (unsigned q = 0; q < TXQ1 + 1; q++) {
		t->kick[q] = (struct tkick){.d = &t->d, .q = q, .fd = eventfd(0, EFD_NONBLOCK)};
		assert_true(t->kick[q].fd >= 0);
		assert_int_equal(
		    iothread_add(virtio_queue_io(&t->d, q), t->kick[q].fd, doorbell, &t->kick[q]),
		    0);
	}
}

/* Does thread io watch fd? */
static bool watches(const struct iothread *io, int fd)
{
	for (unsigned i = 0; i < IOTHREAD_MAX_FDS; i++)
		if (io->watch[i].used && io->watch[i].fd == fd)
			return true;
	return false;
}

/* Pair k's receiveq and transmitq, and the network's end of its tap queue. */
static unsigned pair_rxq(unsigned k)
{
	return 2 * k;
}

static unsigned pair_txq(unsigned k)
{
	return 2 * k + 1;
}

static int pair_net_fd(const struct tnet *t, unsigned k)
{
	return k ? t->sp1[1] : t->sp[1];
}

/* Pair k's frame i, as sent either way: a seed no other frame has. */
static uint64_t pair_seed(unsigned k, bool tx, unsigned i)
{
	return 1000u * (k + 1) + (tx ? 500u : 0) + i;
}

#define PAIR_FRAMES 24u
#define PAIR_LEN    300u

/* Pair k: PAIR_FRAMES receive buffers and transmit frames posted. */
static void pair_post(struct tnet *t, unsigned k, uint64_t rx_gpa[])
{
	uint8_t pkt[HDR_LEN + PAIR_LEN];
	struct virtio_net_hdr h = hdr0();

	for (unsigned i = 0; i < PAIR_FRAMES; i++) {
		struct buf rx = {alloc(t, HDR_LEN + 1514), HDR_LEN + 1514, true};
		size_t len = make_pkt(pkt, &h, PAIR_LEN, pair_seed(k, true, i));
		struct buf tx = {alloc(t, (uint32_t)len), (uint32_t)len, false};

		rx_gpa[i] = rx.gpa;
		chain(t, pair_rxq(k), &rx, 1);
		memcpy(ram(t, tx.gpa, len), pkt, len);
		chain(t, pair_txq(k), &tx, 1);
	}
}

/* The network sends pair k's frames to its tap queue. */
static void pair_send(struct tnet *t, unsigned k)
{
	uint8_t pkt[HDR_LEN + PAIR_LEN];

	for (unsigned i = 0; i < PAIR_FRAMES; i++) {
		size_t len =
		    make_pkt(pkt, &(struct virtio_net_hdr){0}, PAIR_LEN, pair_seed(k, false, i));

		assert_int_equal(send(pair_net_fd(t, k), pkt, len, MSG_DONTWAIT), (ssize_t)len);
	}
}

/*
 * Wait (at most 10 s) until pair k has received every frame on its ring and
 * the network has every frame it sent, in order, on pair k's tap queue; with
 * `stir`, reading the config space (all locks) all the while.
 */
static void pair_wait(struct tnet *t, unsigned k, bool stir)
{
	uint8_t pkt[HDR_LEN + PAIR_LEN];
	unsigned got = 0;
	uint64_t t0 = now_ns();

	while ((got < PAIR_FRAMES || used_idx(t, pair_rxq(k)) < PAIR_FRAMES) &&
	       now_ns() - t0 < 10000000000ull) {
		ssize_t n = recv(pair_net_fd(t, k), t->buf, sizeof(t->buf), MSG_DONTWAIT);

		if (n > 0) {
			assert_int_equal(n, make_pkt(pkt, &(struct virtio_net_hdr){0}, PAIR_LEN,
						     pair_seed(k, true, got)));
			assert_memory_equal(t->buf, pkt, (size_t)n);
			got++;
		} else if (stir) {
			uint8_t mac[6];

			config_read(t, 0, mac, sizeof(mac));
		} else {
			usleep(200);
		}
	}
	assert_int_equal(got, PAIR_FRAMES);
	assert_int_equal(used_idx(t, pair_rxq(k)), PAIR_FRAMES);
}

/* What pair k's receive buffers hold (read after the threads stopped). */
static void pair_check_rx(struct tnet *t, unsigned k, const uint64_t rx_gpa[])
{
	uint8_t pkt[HDR_LEN + PAIR_LEN];

	for (unsigned i = 0; i < PAIR_FRAMES; i++) {
		make_pkt(pkt, &(struct virtio_net_hdr){0}, PAIR_LEN, pair_seed(k, false, i));
		assert_int_equal(used_len(t, pair_rxq(k), i), sizeof(pkt));
		assert_memory_equal(ram(t, rx_gpa[i] + HDR_LEN, PAIR_LEN), pkt + HDR_LEN, PAIR_LEN);
	}
}

/*
 * Each pair is a queue group with its own thread and lock: its queues and
 * its tap queue are served by its thread, and it moves frames both ways
 * while the other pair's lock is held (a device-wide lock would stall it);
 * then the other pair catches up while the config space is read (all locks)
 * over and over. Every frame arrives once, on its own pair, intact. (Also
 * built with ThreadSanitizer: the pairs share nothing unlocked.)
 */
static void test_two_pairs_two_threads(void **state)
{
	struct tnet *t = *state;
	uint64_t rx0[PAIR_FRAMES], rx1[PAIR_FRAMES];
	struct virtio_net_stats s;

	two_pairs_start(t);
	assert_ptr_equal(virtio_queue_io(&t->d, RXQ), &t->io);
	assert_ptr_equal(virtio_queue_io(&t->d, TXQ), &t->io);
	assert_ptr_equal(virtio_queue_io(&t->d, RXQ1), &t->io1);
	assert_ptr_equal(virtio_queue_io(&t->d, TXQ1), &t->io1);
	assert_ptr_equal(virtio_queue_io(&t->d, CTRLQ2), t->d.io); /* the device's */
	assert_true(watches(&t->io, t->sp[0]) && !watches(&t->io, t->sp1[0]));
	assert_true(watches(&t->io1, t->sp1[0]) && !watches(&t->io1, t->sp[0]));
	pair_post(t, 0, rx0);
	pair_post(t, 1, rx1);
	assert_int_equal(iothread_start(&t->io), 0);
	assert_int_equal(iothread_start(&t->io1), 0);

	/* Pair 0 held: pair 1 does all its work; pair 0 does none. */
	virtio_lock_queue(&t->d, RXQ);
	pair_send(t, 0);
	pair_send(t, 1);
	for (unsigned q = 0; q <= TXQ1; q++)
		ring_doorbell(t, q);
	pair_wait(t, 1, false);
	assert_int_equal(used_idx(t, RXQ), 0);
	assert_int_equal(used_idx(t, TXQ), 0);
	assert_int_equal(net_recv(t, t->buf, sizeof(t->buf)), -EAGAIN);
	virtio_unlock_queue(&t->d, RXQ);

	/* Released: pair 0 catches up, with the config space read meanwhile. */
	pair_wait(t, 0, true);
	iothread_stop(&t->io);
	iothread_stop(&t->io1);
	assert_int_equal(used_idx(t, TXQ), PAIR_FRAMES);
	assert_int_equal(used_idx(t, TXQ1), PAIR_FRAMES);
	pair_check_rx(t, 0, rx0);
	pair_check_rx(t, 1, rx1);
	s = stats(t);
	assert_int_equal(s.tx_packets, 2 * PAIR_FRAMES);
	assert_int_equal(s.rx_packets, 2 * PAIR_FRAMES);
	assert_int_equal(s.tx_bytes, 2 * PAIR_FRAMES * PAIR_LEN);
	assert_int_equal(s.rx_dropped + s.tx_dropped + s.tx_malformed, 0);
	assert_true(t->irqs[RXQ1] >= 1 && t->irqs[TXQ1] >= 1);
	assert_true(t->io.wakeups >= 1 && t->io1.wakeups >= 1);
}

/*
 * The tap goes away under one pair while the other runs on and the config
 * space is read: the link goes down once (one config interrupt), taken
 * under the device lock from the pair's thread, with no deadlock against
 * the config reader's all-locks order.
 */
static void test_two_pairs_link_down(void **state)
{
	struct tnet *t = *state;
	int gone = detached_tun();
	uint64_t t0;

	/* Pair 1's tap queue is a detached tun fd: its first transmit finds it gone. */
	close(t->sp1[0]);
	t->sp1[0] = gone;
	two_pairs_start(t);
	{
		uint8_t pkt[HDR_LEN + 60];
		size_t len = make_pkt(pkt, &(struct virtio_net_hdr){0}, 60, 7);
		struct buf tx = {alloc(t, (uint32_t)len), (uint32_t)len, false};

		memcpy(ram(t, tx.gpa, len), pkt, len);
		chain(t, TXQ1, &tx, 1);
	}
	assert_int_equal(iothread_start(&t->io), 0);
	assert_int_equal(iothread_start(&t->io1), 0);
	ring_doorbell(t, TXQ1);
	t0 = now_ns();
	while (config_status(t) & VIRTIO_NET_S_LINK_UP && now_ns() - t0 < 10000000000ull)
		usleep(100);
	iothread_stop(&t->io);
	iothread_stop(&t->io1);
	assert_int_equal(config_status(t), 0);
	assert_int_equal(used_idx(t, TXQ1), 1);
	assert_int_equal(stats(t).tx_dropped, 1);
	assert_int_equal(stats(t).link_down, 1);
	assert_int_equal(t->config_changes, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_arg_good),
	    cmocka_unit_test(test_parse_arg_bad),
	    cmocka_unit_test(test_check_tx_sizes_and_flags),
	    cmocka_unit_test(test_check_tx_csum),
	    cmocka_unit_test(test_check_tx_gso),
	    cmocka_unit_test_setup_teardown(test_features_and_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_mac_from_arg, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_split_frame, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_gso_frame, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_one_irq_per_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_full_tap_waits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_one_buffer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_too_large_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_counts_gso_frames, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_mergeable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_mergeable_malformed_next, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_no_buffers_not_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_bad_buffers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_through_iothread, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_link_down, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_link_down_on_transmit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tap_gone_without_rx_buffers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tap_gone_before_driver_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ctrl, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ctrl_not_negotiated, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ctrl_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_restores_mac, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_pairs_two_threads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_pairs_link_down, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
