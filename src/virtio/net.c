/* SPDX-License-Identifier: MIT */
/*
 * net.c -- virtio-net (device ID 1) over a host tap: the --net argument, the
 * transmit and receive paths, the control queue and the config space.
 *
 * Each receive/transmit pair is a queue group (virtio.h): it runs on its own
 * I/O thread under its own lock, with its own tap queue, scratch and
 * counters, so pairs run in parallel and share nothing but the link state
 * (atomic; changed under the device lock). The control queue is the
 * device's: it runs under all locks. The vCPU only writes registers (a
 * doorbell is an ioeventfd KVM signals). The paths:
 *
 *   transmit   a kick drains the transmitq: each chain is checked (shape,
 *              vnet header against the negotiated features) and written to
 *              the tap with one writev straight from guest memory; one
 *              interrupt for the batch. A full tap (EAGAIN) puts the chain
 *              back on the ring and waits for EPOLLOUT.
 *   receive    while the tap has frames and the guest has buffers: one readv
 *              straight into the posted buffers (with MRG_RXBUF, as many
 *              buffers as the frame needs, published together); one
 *              interrupt for the batch. No buffers: the tap is not read (its
 *              kernel queue fills and drops, counted by the tap), and a
 *              receiveq kick resumes. No frames: wait for EPOLLIN.
 *   control    RX mode, MAC table and MAC address commands, acknowledged.
 *
 * The tap's fd is watched level-triggered with only what the device waits
 * for (EPOLLIN when it ran dry with buffers posted, EPOLLOUT when it was
 * full), so an idle or blocked device costs no wake-ups; waiting for
 * nothing, it takes EPOLLERR (which epoll reports whatever the events) at
 * most once. A tap whose interface was deleted answers EBADFD: the link goes
 * down (STATUS, a config interrupt), frames sent are dropped and counted,
 * and the VM runs on.
 */
#include "vireo/virtio/net.h"
#include "vireo/core/iothread.h"
#include "vireo/lib/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

/* Pair k: receiveq 2k, transmitq 2k+1; the control queue after the last pair. */
#define NET_RXQ(k)   (2 * (k))
#define NET_TXQ(k)   (2 * (k) + 1)
#define NET_PAIR(q)  ((q) / 2)
#define NET_IS_TX(q) ((q) % 2 == 1)

#define NET_QUEUE_SIZE	256
#define NET_HDR_LEN	sizeof(struct virtio_net_hdr)
#define NET_IOV_MAX	1024 /* UIO_MAXIOV: what one readv/writev takes */
#define NET_MRG_BUFFERS 64   /* receive buffers one merged frame may use, at most */

_Static_assert(sizeof(struct virtio_net_hdr) == TAP_VNET_HDR_LEN, "tap header = virtio's");
_Static_assert(2 * NET_MAX_PAIRS + 1 <= VIRTIO_MAX_QUEUES, "every pair and the control queue");

/* Control queue (virtio 1.2, 5.1.6.5). */
#define CTRL_RX		     0
#define CTRL_RX_PROMISC	     0
#define CTRL_RX_ALLMULTI     1
#define CTRL_MAC	     1
#define CTRL_MAC_TABLE_SET   0
#define CTRL_MAC_ADDR_SET    1
#define CTRL_MQ		     4
#define CTRL_MQ_VQ_PAIRS_SET 0
#define CTRL_OK		     0
#define CTRL_ERR	     1

struct net_config_space {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
} __attribute__((packed));

struct net_dev;

/*
 * A receive/transmit queue pair and its tap queue (one fd each): a queue
 * group, all of it under the group's lock on the group's I/O thread.
 */
struct net_pair {
	struct net_dev *net;
	unsigned index;
	int fd;
	struct iothread *io; /* the pair's I/O thread */
	int watch;	     /* the fd's slot in io */
	uint32_t watch_events;
	bool rx_readable;	       /* the tap may have frames: read until EAGAIN */
	bool tx_blocked;	       /* the tap was full: wait for EPOLLOUT */
	struct virtio_net_stats stats; /* summed over the pairs by virtio_net_get_stats */

	/* Scratch of the pair's thread: no allocation per frame. */
	struct iovec iov[NET_IOV_MAX + 1];
	struct virtq_chain extra; /* a further receive buffer of a merged frame */
	uint8_t overflow;	  /* where a frame too large for the buffers spills */
};

struct net_dev {
	/* First, so the device's memory is one allocation: the features differ by tap. */
	struct virtio_device_ops ops;
	struct virtio_dev *vdev;
	struct tap tap;
	struct net_pair pair[TAP_MAX_QUEUES];
	unsigned nr_pairs;     /* the tap's queues */
	unsigned active_pairs; /* in use: 1 until the driver sets more (MQ) */
	unsigned ctrlq;	       /* the control queue's index */
	struct net_config_space cfg;
	uint8_t mac[6]; /* the MAC it was given: the driver may set another until a reset */

	bool link_up;	/* read by every pair: link_is_up(); set under the device lock */
	bool link_lost; /* the tap went away (under the device lock) */
};

/* ---- the --net argument ---- */

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)(ch | 0x20);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* xx:xx:xx:xx:xx:xx, a unicast address. */
static int parse_mac(const char *s, size_t n, uint8_t mac[6])
{
	if (n != 17)
		return -1;
	for (unsigned i = 0; i < 6; i++) {
		int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -1;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return mac[0] & 1 ? -1 : 0; /* a multicast address cannot be a NIC's */
}

int virtio_net_parse_arg(const char *arg, struct net_config *out, char *err, size_t errlen)
{
	const char *p = arg;

	memset(out, 0, sizeof(*out));
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (n >= 4 && !memcmp(p, "tap=", 4)) {
			if (n == 4)
				return errf(err, errlen, "empty tap name");
			if (n - 4 >= sizeof(out->tap))
				return errf(err, errlen, "tap name longer than %zu characters",
					    sizeof(out->tap) - 1);
			memcpy(out->tap, p + 4, n - 4);
			out->tap[n - 4] = '\0';
		} else if (n > 4 && !memcmp(p, "mac=", 4)) {
			if (parse_mac(p + 4, n - 4, out->mac) < 0)
				return errf(err, errlen,
					    "bad MAC '%.*s' (want six hex bytes like "
					    "52:54:00:12:34:56, not multicast)",
					    (int)(n - 4), p + 4);
			out->has_mac = true;
		} else if (n > 7 && !memcmp(p, "queues=", 7)) {
			char num[8] = "";
			char *end;
			unsigned long v;

			memcpy(num, p + 7, n - 7 < sizeof(num) - 1 ? n - 7 : sizeof(num) - 1);
			v = strtoul(num, &end, 10);
			if (*end || n - 7 >= sizeof(num) || v < 1 || v > NET_MAX_PAIRS)
				return errf(err, errlen, "queues=%.*s: want 1 to %d", (int)(n - 7),
					    p + 7, NET_MAX_PAIRS);
			out->queues = (unsigned)v;
		} else {
			return errf(err, errlen,
				    "unknown option '%.*s' (known: tap=NAME, mac=MAC, queues=N)",
				    (int)n, p);
		}
		p += n + (comma ? 1 : 0);
	}
	if (!out->tap[0])
		return errf(err, errlen, "no tap=NAME");
	if (!out->queues)
		out->queues = 1;
	return 0;
}

/* ---- transmit ---- */

static bool has(uint64_t features, unsigned bit)
{
	return features & (1ull << bit);
}

static const char *check_gso(const struct virtio_net_hdr *h, size_t frame_len, uint64_t features)
{
	uint8_t type = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;

	if (h->gso_type & VIRTIO_NET_HDR_GSO_ECN && !has(features, VIRTIO_NET_F_HOST_ECN))
		return "GSO ECN bit without HOST_ECN";
	if (type == VIRTIO_NET_HDR_GSO_NONE)
		return h->gso_type ? "ECN bit without a GSO type" : NULL;
	if (type == VIRTIO_NET_HDR_GSO_TCPV4 && !has(features, VIRTIO_NET_F_HOST_TSO4))
		return "GSO TCPv4 without HOST_TSO4";
	if (type == VIRTIO_NET_HDR_GSO_TCPV6 && !has(features, VIRTIO_NET_F_HOST_TSO6))
		return "GSO TCPv6 without HOST_TSO6";
	if (type == VIRTIO_NET_HDR_GSO_UDP && !has(features, VIRTIO_NET_F_HOST_UFO))
		return "GSO UDP without HOST_UFO";
	if (type != VIRTIO_NET_HDR_GSO_TCPV4 && type != VIRTIO_NET_HDR_GSO_TCPV6 &&
	    type != VIRTIO_NET_HDR_GSO_UDP)
		return "unknown GSO type";
	if (h->gso_size == 0)
		return "GSO with gso_size 0";
	if (h->hdr_len > frame_len)
		return "GSO hdr_len past the frame";
	return NULL;
}

const char *virtio_net_check_tx(const struct virtio_net_hdr *h, size_t frame_len, uint64_t features)
{
	if (frame_len < NET_ETH_HLEN)
		return "frame shorter than an Ethernet header";
	if (frame_len > NET_MAX_FRAME)
		return "frame over 64 KiB";
	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return "header flags a driver may not send";
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!has(features, VIRTIO_NET_F_CSUM))
			return "NEEDS_CSUM without CSUM";
		if ((size_t)h->csum_start + h->csum_offset + 2 > frame_len)
			return "checksum offsets past the frame";
	}
	return check_gso(h, frame_len, features);
}

static bool link_is_up(const struct net_dev *net)
{
	return __atomic_load_n(&net->link_up, __ATOMIC_ACQUIRE);
}

static bool pair_active(const struct net_pair *p)
{
	return p->index < p->net->active_pairs;
}

static void update_watch(struct net_pair *p)
{
	struct net_dev *net = p->net;
	uint32_t want = 0;

	if (link_is_up(net) && pair_active(p) &&
	    (virtio_status(net->vdev) & VIRTIO_STATUS_DRIVER_OK)) {
		if (!p->rx_readable)
			want |= EPOLLIN;
		if (p->tx_blocked)
			want |= EPOLLOUT;
	}
	/*
	 * epoll reports EPOLLERR and EPOLLHUP whatever the events, and a deleted
	 * tap reports EPOLLERR for ever. Waiting for nothing (stopped, no
	 * receive buffers, link down, pair unused), the device cannot act on
	 * it: once is enough, or the I/O thread spins until the guest does
	 * something.
	 */
	if (!want)
		want = EPOLLONESHOT;
	if (want != p->watch_events && iothread_watch_events(p->io, p->watch, want) == 0)
		p->watch_events = want;
}

static void update_watches(struct net_dev *net)
{
	for (unsigned i = 0; i < net->nr_pairs; i++)
		update_watch(&net->pair[i]);
}

/*
 * A pair found the tap gone (its group's lock held). The config space is the
 * device's: take the device lock (after a group lock: the order of
 * struct virtio_dev), so a driver reading it sees the change whole.
 */
static void link_down(struct net_dev *net)
{
	struct virtio_dev *vdev = net->vdev;

	pthread_mutex_lock(&vdev->lock);
	if (link_is_up(net)) {
		__atomic_store_n(&net->link_up, false, __ATOMIC_RELEASE);
		net->link_lost = true;
		net->cfg.status &= (uint16_t)~VIRTIO_NET_S_LINK_UP;
		vireo_warn("net %s: the tap went away: link down", net->tap.name);
		if (virtio_has_feature(vdev, VIRTIO_NET_F_STATUS) && vdev->config_changed)
			vdev->config_changed(vdev);
	}
	pthread_mutex_unlock(&vdev->lock);
}

/*
 * The chain's iovecs after the header, behind a copy of the header: the tap
 * then sends exactly the header that was checked, whatever the guest writes
 * meanwhile. Returns the iovec count, or 0 when there are too many.
 */
static unsigned tx_iovecs(struct net_pair *p, const struct virtq_chain *c, struct virtio_net_hdr *h)
{
	size_t skip = NET_HDR_LEN;
	unsigned n = 1;

	p->iov[0] = (struct iovec){.iov_base = h, .iov_len = NET_HDR_LEN};
	for (unsigned i = 0; i < c->nr_out; i++) {
		const struct iovec *v = &c->iov[i];

		if (skip >= v->iov_len) {
			skip -= v->iov_len;
			continue;
		}
		if (n > NET_IOV_MAX - 1)
			return 0;
		p->iov[n++] = (struct iovec){.iov_base = (uint8_t *)v->iov_base + skip,
					     .iov_len = v->iov_len - skip};
		skip = 0;
	}
	return n;
}

static long tx_malformed(struct net_pair *p)
{
	p->stats.tx_malformed++;
	return 0; /* dropped: returned to the driver untouched */
}

static long net_tx(struct virtio_dev *vdev, unsigned q, struct virtq_chain *c)
{
	struct net_dev *net = vdev->priv;
	struct net_pair *p = &net->pair[NET_PAIR(q)];
	struct virtio_net_hdr h;
	size_t frame_len;
	unsigned niov;
	ssize_t n;

	if (c->nr_in || c->out_len < NET_HDR_LEN)
		return tx_malformed(p); /* writable buffers, or no room for a header */
	virtq_chain_read(c, 0, &h, sizeof(h));
	frame_len = c->out_len - NET_HDR_LEN;
	if (virtio_net_check_tx(&h, frame_len, vdev->driver_features))
		return tx_malformed(p);
	niov = tx_iovecs(p, c, &h);
	if (niov == 0)
		return tx_malformed(p);
	if (!link_is_up(net)) {
		p->stats.tx_dropped++;
		return 0;
	}
	n = tap_send(p->fd, p->iov, niov);
	if (n == -EAGAIN) {
		p->tx_blocked = true;
		p->stats.tx_blocked++;
		return VIRTIO_CHAIN_LATER;
	}
	if (n < 0) {
		if (tap_error_is_gone((int)-n))
			link_down(net);
		p->stats.tx_dropped++;
		return 0;
	}
	p->stats.tx_packets++;
	p->stats.tx_bytes += frame_len;
	p->stats.tso_frames += h.gso_type != VIRTIO_NET_HDR_GSO_NONE;
	vdev->vq[q].stats.bytes += frame_len;
	return 0;
}

static bool tx_ready(struct virtio_dev *vdev, unsigned q)
{
	const struct net_dev *net = vdev->priv;

	return !net->pair[NET_PAIR(q)].tx_blocked;
}

/* ---- receive ---- */

/* The largest frame the tap may hand us, header included. */
static size_t rx_frame_max(const struct virtio_dev *vdev)
{
	bool gso = virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO4) ||
		   virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO6) ||
		   virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_UFO);

	return NET_HDR_LEN + (gso ? 65550 : 1514);
}

/* A receive buffer the device can use: writable only, room for the header. */
static bool rx_buffer_ok(const struct virtq_chain *c)
{
	return c->nr_out == 0 && c->in_len >= NET_HDR_LEN;
}

static unsigned append_iov(struct net_pair *p, unsigned niov, const struct virtq_chain *c)
{
	for (unsigned i = 0; i < c->nr_in && niov < NET_IOV_MAX; i++)
		p->iov[niov++] = c->iov[c->nr_out + i];
	return niov;
}

struct rx_buffers {
	uint16_t head[NET_MRG_BUFFERS];
	size_t cap[NET_MRG_BUFFERS];
	unsigned n; /* the first is the loop's chain; the rest were popped here */
	unsigned niov;
	size_t total;
};

/*
 * MRG_RXBUF: take further buffers until the largest frame fits. A buffer
 * that is malformed or unusable goes back to the ring and ends the search:
 * the loop returns it to the driver as its next chain.
 */
static void rx_take_more(struct net_pair *p, struct virtq *vq, struct rx_buffers *b, size_t need)
{
	while (b->total < need && b->n < NET_MRG_BUFFERS) {
		int r = virtq_pop(vq, &p->extra);

		if (r == 0)
			break;
		if (r < 0)
			vq->stats.malformed--; /* popped again by the loop, and counted then */
		if (r < 0 || !rx_buffer_ok(&p->extra) || b->niov + p->extra.nr_in > NET_IOV_MAX) {
			virtq_unpop(vq, 1);
			break;
		}
		b->niov = append_iov(p, b->niov, &p->extra);
		b->head[b->n] = p->extra.head;
		b->cap[b->n++] = p->extra.in_len;
		b->total += p->extra.in_len;
	}
}

/* How many of the buffers a frame of len bytes fills: at least the first. */
static unsigned rx_span(const struct rx_buffers *b, size_t len)
{
	unsigned n = 1;

	for (size_t cap = b->cap[0]; cap < len && n < b->n; n++)
		cap += b->cap[n];
	return n;
}

/* Publish a frame of len bytes over the `used` buffers it fills; give back the rest. */
static void rx_publish(struct virtq *vq, struct rx_buffers *b, size_t len, unsigned used)
{
	uint32_t written[NET_MRG_BUFFERS];

	for (unsigned i = 0; i < used; i++) {
		written[i] = (uint32_t)(len < b->cap[i] ? len : b->cap[i]);
		len -= written[i];
	}
	virtq_unpop(vq, b->n - used);
	virtq_push_many(vq, b->head, written, used);
}

static void rx_count(struct net_pair *p, const struct virtq_chain *c, size_t len, unsigned q)
{
	struct virtio_net_hdr h;

	/* The header the tap wrote: a receive buffer is writable (not virtq_chain_read's). */
	iov_to_buf(c->iov + c->nr_out, c->nr_in, 0, &h, sizeof(h));
	p->stats.rx_packets++;
	p->stats.rx_bytes += len - NET_HDR_LEN;
	p->stats.tso_frames += h.gso_type != VIRTIO_NET_HDR_GSO_NONE;
	p->net->vdev->vq[q].stats.bytes += len - NET_HDR_LEN;
}

static long net_rx(struct virtio_dev *vdev, unsigned q, struct virtq_chain *c)
{
	struct net_dev *net = vdev->priv;
	struct net_pair *p = &net->pair[NET_PAIR(q)];
	struct virtq *vq = &vdev->vq[q];
	bool mrg = virtio_has_feature(vdev, VIRTIO_NET_F_MRG_RXBUF);
	struct rx_buffers b = {.head = {c->head}, .cap = {c->in_len}, .n = 1, .total = c->in_len};
	uint16_t num_buffers;
	ssize_t len;

	if (!rx_buffer_ok(c)) {
		p->stats.rx_bad_buffers++;
		return 0;
	}
	b.niov = append_iov(p, 0, c);
	if (mrg)
		rx_take_more(p, vq, &b, rx_frame_max(vdev));
	/*
	 * One byte of ours after the guest's buffers: a frame that does not fit
	 * reads one byte more than they hold (a tap returns what it copied), so
	 * it is told apart from one that fills them exactly.
	 */
	if (b.niov < NET_IOV_MAX)
		p->iov[b.niov++] = (struct iovec){.iov_base = &p->overflow, .iov_len = 1};
	len = tap_recv(p->fd, p->iov, b.niov);
	if (len < 0 || (size_t)len < NET_HDR_LEN) {
		virtq_unpop(vq, b.n - 1);
		if (len == -EAGAIN) {
			p->rx_readable = false; /* dry: wait for EPOLLIN */
			return VIRTIO_CHAIN_LATER;
		}
		if (len < 0 && tap_error_is_gone((int)-len))
			link_down(net);
		else
			p->stats.rx_dropped++; /* the kernel consumed the frame */
		/* Next read after EPOLLIN (at once if more wait): an error cannot loop here. */
		p->rx_readable = false;
		return VIRTIO_CHAIN_LATER;
	}
	if ((size_t)len > b.total) {
		/* Larger than every buffer we could give it: the guest would get a
		 * cut frame. Drop it (counted), keep the buffers. */
		virtq_unpop(vq, b.n - 1);
		p->stats.rx_dropped++;
		return VIRTIO_CHAIN_LATER;
	}
	rx_count(p, c, (size_t)len, q);
	/* How many buffers the frame used goes in the first one's header. */
	num_buffers = (uint16_t)rx_span(&b, (size_t)len);
	virtq_chain_write(c, offsetof(struct virtio_net_hdr, num_buffers), &num_buffers, 2);
	if (b.n == 1)
		return len; /* one buffer: the loop returns it */
	rx_publish(vq, &b, (size_t)len, num_buffers);
	return VIRTIO_CHAIN_PUSHED;
}

static bool rx_ready(struct virtio_dev *vdev, unsigned q)
{
	const struct net_dev *net = vdev->priv;
	const struct net_pair *p = &net->pair[NET_PAIR(q)];

	return p->rx_readable && link_is_up(net) && pair_active(p);
}

/* ---- control queue ---- */

static uint8_t ctrl_mac(struct net_dev *net, uint8_t cmd, const struct virtq_chain *c)
{
	uint8_t mac[6];

	if (cmd == CTRL_MAC_TABLE_SET)
		return CTRL_OK; /* the tap hands us every frame: the guest filters */
	if (cmd == CTRL_MAC_ADDR_SET && virtio_has_feature(net->vdev, VIRTIO_NET_F_CTRL_MAC_ADDR) &&
	    c->out_len == 2 + 6) {
		virtq_chain_read(c, 2, mac, sizeof(mac));
		memcpy(net->cfg.mac, mac, sizeof(mac));
		return CTRL_OK;
	}
	return CTRL_ERR;
}

/* Attach the tap queues of the pairs in use and detach the rest, so the
 * kernel steers no frame to a queue nobody reads. */
static void steer_pairs(struct net_dev *net)
{
	if (net->nr_pairs == 1)
		return; /* not a multi-queue tap: nothing to steer */
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		int err = tap_enable_queue(net->pair[i].fd, i < net->active_pairs);

		if (err < 0)
			vireo_warn("net %s: queue %u: TUNSETQUEUE: %s", net->tap.name, i,
				   strerror(-err));
	}
}

static uint8_t ctrl_mq(struct net_dev *net, const struct virtq_chain *c)
{
	uint16_t pairs;

	if (!virtio_has_feature(net->vdev, VIRTIO_NET_F_MQ) || c->out_len != 2 + 2)
		return CTRL_ERR;
	virtq_chain_read(c, 2, &pairs, sizeof(pairs));
	if (pairs < 1 || pairs > net->nr_pairs)
		return CTRL_ERR;
	net->active_pairs = pairs;
	steer_pairs(net);
	update_watches(net);
	return CTRL_OK;
}

static long net_ctrl(struct virtio_dev *vdev, unsigned q, struct virtq_chain *c)
{
	struct net_dev *net = vdev->priv;
	uint8_t cmd[2], ack = CTRL_ERR;

	(void)q;
	/* {class, command, data...} readable, then the ack byte writable. */
	if (c->out_len < 2 || c->in_len < 1)
		return 0;
	virtq_chain_read(c, 0, cmd, sizeof(cmd));
	if (cmd[0] == CTRL_RX && virtio_has_feature(vdev, VIRTIO_NET_F_CTRL_RX) &&
	    (cmd[1] == CTRL_RX_PROMISC || cmd[1] == CTRL_RX_ALLMULTI) && c->out_len == 3)
		ack = CTRL_OK; /* a tap is promiscuous already */
	else if (cmd[0] == CTRL_MAC)
		ack = ctrl_mac(net, cmd[1], c);
	else if (cmd[0] == CTRL_MQ && cmd[1] == CTRL_MQ_VQ_PAIRS_SET)
		ack = ctrl_mq(net, c);
	virtq_chain_write(c, 0, &ack, 1);
	return 1;
}

/* ---- the device ---- */

static bool pair_process(struct net_pair *p)
{
	struct virtio_dev *vdev = p->net->vdev;
	bool more = false;

	more |= virtio_process_queue_if(vdev, NET_TXQ(p->index), net_tx, tx_ready);
	more |= virtio_process_queue_if(vdev, NET_RXQ(p->index), net_rx, rx_ready);
	update_watch(p);
	return more;
}

static bool net_notify(struct virtio_dev *vdev, unsigned q)
{
	struct net_dev *net = vdev->priv;
	struct net_pair *p = &net->pair[NET_PAIR(q)];
	bool more;

	if (q == net->ctrlq)
		return virtio_process_queue(vdev, q, net_ctrl);
	if (NET_IS_TX(q))
		more = virtio_process_queue_if(vdev, q, net_tx, tx_ready);
	else
		more = virtio_process_queue_if(vdev, q, net_rx, rx_ready);
	update_watch(p);
	return more;
}

/* A tap queue's fd (the pair's thread): events, or 0 when called back for more. */
static bool tap_ready(void *opaque, uint64_t events)
{
	struct net_pair *p = opaque;
	struct virtio_dev *vdev = p->net->vdev;
	unsigned rxq = NET_RXQ(p->index);
	bool more = false;

	virtio_lock_queue(vdev, rxq);
	if (!(virtio_status(vdev) & VIRTIO_STATUS_DRIVER_OK) || !link_is_up(p->net)) {
		update_watch(p);
		virtio_unlock_queue(vdev, rxq);
		return false;
	}
	if (events & EPOLLOUT)
		p->tx_blocked = false;
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		p->rx_readable = true; /* an error shows itself on the next read */
	more = pair_process(p);
	virtio_unlock_queue(vdev, rxq);
	return more;
}

/* The offloads the guest said it takes, in the tap's terms. */
static unsigned guest_offloads(const struct virtio_dev *vdev)
{
	if (!virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_CSUM))
		return 0; /* GSO without partial checksums is not a thing */
	return TAP_OFFLOAD_CSUM |
	       (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO4) ? TAP_OFFLOAD_TSO4 : 0) |
	       (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO6) ? TAP_OFFLOAD_TSO6 : 0) |
	       (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_ECN) ? TAP_OFFLOAD_ECN : 0) |
	       (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_UFO) ? TAP_OFFLOAD_UFO : 0);
}

/* DRIVER_OK (a vCPU's register write): offloads, then wait for frames. */
static int net_activate(struct virtio_dev *vdev)
{
	struct net_dev *net = vdev->priv;
	int err = tap_set_offloads(&net->tap, guest_offloads(vdev));

	if (err < 0)
		vireo_warn("net %s: TUNSETOFFLOAD: %s", net->tap.name, strerror(-err));
	net->active_pairs = 1; /* until the driver asks for more (virtio 1.2, 5.1.6.5.5) */
	steer_pairs(net);
	for (unsigned i = 0; i < net->nr_pairs; i++)
		net->pair[i].rx_readable = net->pair[i].tx_blocked = false;
	update_watches(net);
	return 0;
}

static void net_reset(struct virtio_dev *vdev)
{
	struct net_dev *net = vdev->priv;

	for (unsigned i = 0; i < net->nr_pairs; i++) {
		struct net_pair *p = &net->pair[i];

		p->rx_readable = p->tx_blocked = false;
		/* nothing until DRIVER_OK (update_watch) */
		if (iothread_watch_events(p->io, p->watch, EPOLLONESHOT) == 0)
			p->watch_events = EPOLLONESHOT;
	}
	net->cfg.status = link_is_up(net) ? VIRTIO_NET_S_LINK_UP : 0;
	memcpy(net->cfg.mac, net->mac, 6); /* undo MAC_ADDR_SET: a new driver reads ours */
}

static void net_config_read(struct virtio_dev *vdev, size_t off, void *buf, size_t len)
{
	const struct net_dev *net = vdev->priv;

	memcpy(buf, (const uint8_t *)&net->cfg + off, len);
}

static void net_report(const struct virtio_dev *vdev, const char *name, FILE *f,
		       enum virtio_report_format fmt)
{
	struct virtio_net_stats s = virtio_net_get_stats(vdev);

	if (fmt == VIRTIO_REPORT_TABLE) {
		fprintf(f,
			"  %-16s tx %" PRIu64 " packets %" PRIu64 " bytes, rx %" PRIu64
			" packets %" PRIu64 " bytes, dropped tx %" PRIu64 " rx %" PRIu64
			", malformed %" PRIu64 ", tso %" PRIu64 "%s\n",
			name, s.tx_packets, s.tx_bytes, s.rx_packets, s.rx_bytes, s.tx_dropped,
			s.rx_dropped, s.tx_malformed, s.tso_frames,
			s.link_down ? ", link down" : "");
		return;
	}
	fprintf(f,
		", \"net\": {\"tx_packets\": %" PRIu64 ", \"rx_packets\": %" PRIu64
		", \"tx_bytes\": %" PRIu64 ", \"rx_bytes\": %" PRIu64 ", \"tx_dropped\": %" PRIu64
		", \"rx_dropped\": %" PRIu64 ", \"tx_malformed\": %" PRIu64
		", \"tso_frames\": %" PRIu64 ", \"rx_bad_buffers\": %" PRIu64
		", \"tx_blocked\": %" PRIu64 ", \"queue_pairs\": %u, \"link_up\": %s}",
		s.tx_packets, s.rx_packets, s.tx_bytes, s.rx_bytes, s.tx_dropped, s.rx_dropped,
		s.tx_malformed, s.tso_frames, s.rx_bad_buffers, s.tx_blocked, s.queue_pairs,
		s.link_down ? "false" : "true");
}

static const char *net_backend(const struct virtio_dev *vdev)
{
	(void)vdev;
	return "tap";
}

static void net_destroy(struct virtio_dev *vdev)
{
	struct net_dev *net = vdev->priv;

	if (!net)
		return;
	for (unsigned i = 0; i < net->nr_pairs; i++)
		if (net->pair[i].watch >= 0)
			iothread_del(net->pair[i].io, net->pair[i].fd);
	tap_close(&net->tap);
	free(net);
	vdev->priv = NULL;
}

/* The tap's capabilities decide: one table per device (features and queues). */
static uint64_t offered_features(const struct tap *tap)
{
	uint64_t f = 1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_STATUS |
		     1ull << VIRTIO_NET_F_MRG_RXBUF | 1ull << VIRTIO_NET_F_CTRL_VQ |
		     1ull << VIRTIO_NET_F_CTRL_RX | 1ull << VIRTIO_NET_F_CTRL_MAC_ADDR;

	/* Frames from the guest: the tap takes partial checksums and GSO as they are. */
	f |= 1ull << VIRTIO_NET_F_CSUM | 1ull << VIRTIO_NET_F_HOST_TSO4 |
	     1ull << VIRTIO_NET_F_HOST_TSO6;
	if (tap->nr_queues > 1)
		f |= 1ull << VIRTIO_NET_F_MQ;
	/* Frames to the guest: only what the tap can be told to hand over. */
	if (tap->offloads & TAP_OFFLOAD_CSUM)
		f |= 1ull << VIRTIO_NET_F_GUEST_CSUM;
	if (tap->offloads & TAP_OFFLOAD_TSO4)
		f |= 1ull << VIRTIO_NET_F_GUEST_TSO4;
	if (tap->offloads & TAP_OFFLOAD_TSO6)
		f |= 1ull << VIRTIO_NET_F_GUEST_TSO6;
	if (tap->offloads & TAP_OFFLOAD_ECN)
		f |= 1ull << VIRTIO_NET_F_GUEST_ECN;
	if (tap->offloads & TAP_OFFLOAD_UFO)
		f |= 1ull << VIRTIO_NET_F_GUEST_UFO | 1ull << VIRTIO_NET_F_HOST_UFO;
	return f;
}

static const struct virtio_device_ops net_ops_template = {
    .name = "net",
    .device_id = VIRTIO_ID_NET,
    .num_queues = 3,
    .queue_max_size = NET_QUEUE_SIZE,
    .config_size = sizeof(struct net_config_space),
    .config_read = net_config_read,
    .activate = net_activate,
    .queue_notify = net_notify,
    .reset = net_reset,
    .backend = net_backend,
    .report = net_report,
    .destroy = net_destroy,
};

/*
 * Pair k is queue group k (its thread: vdev->group[k].io, as the machine set
 * it; else the device's); the control queue is in none: the device's.
 */
static void set_groups(struct virtio_dev *vdev, unsigned pairs)
{
	vdev->nr_groups = pairs;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vdev->queue_group[q] = q < 2 * pairs ? (uint8_t)NET_PAIR(q) : UINT8_MAX;
}

int virtio_net_setup(struct virtio_dev *vdev, const struct net_config *cfg, struct tap *tap,
		     unsigned index)
{
	struct net_dev *net = calloc(1, sizeof(*net));

	if (!net) {
		vireo_err("net %s: out of memory", tap->name);
		tap_close(tap);
		return -1;
	}
	net->ops = net_ops_template;
	net->ops.features = offered_features(tap);
	net->vdev = vdev;
	net->tap = *tap;
	net->nr_pairs = tap->nr_queues;
	net->active_pairs = 1;
	net->ctrlq = 2 * net->nr_pairs;
	net->ops.num_queues = net->ctrlq + 1;
	net->link_up = true;
	if (cfg->has_mac)
		memcpy(net->mac, cfg->mac, 6);
	else
		memcpy(net->mac,
		       (uint8_t[6]){0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + index)}, 6);
	memcpy(net->cfg.mac, net->mac, 6);
	net->cfg.status = VIRTIO_NET_S_LINK_UP;
	net->cfg.max_virtqueue_pairs = (uint16_t)net->nr_pairs;
	vdev->ops = &net->ops;
	vdev->priv = net;
	set_groups(vdev, net->nr_pairs);
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		struct net_pair *p = &net->pair[i];

		p->net = net;
		p->index = i;
		p->fd = tap->fd[i];
		p->io = virtio_queue_io(vdev, NET_RXQ(i));
		p->watch = -1;
	}
	for (unsigned i = 0; i < net->nr_pairs; i++) {
		struct net_pair *p = &net->pair[i];

		p->watch = iothread_add_raw(p->io, p->fd, EPOLLONESHOT, tap_ready, p);
		if (p->watch < 0) {
			vireo_err("net %s: cannot watch the tap", tap->name);
			return -1;
		}
		p->watch_events = EPOLLONESHOT;
	}
	return 0;
}

struct virtio_net_stats virtio_net_get_stats(const struct virtio_dev *vdev)
{
	const struct net_dev *net = vdev->priv;
	struct virtio_net_stats s = {.link_down = net->link_lost, .queue_pairs = net->active_pairs};

	for (unsigned i = 0; i < net->nr_pairs; i++) {
		const struct virtio_net_stats *ps = &net->pair[i].stats;

		s.tx_packets += ps->tx_packets;
		s.tx_bytes += ps->tx_bytes;
		s.rx_packets += ps->rx_packets;
		s.rx_bytes += ps->rx_bytes;
		s.tx_dropped += ps->tx_dropped;
		s.rx_dropped += ps->rx_dropped;
		/* Chains the queue itself rejected were transmit frames the guest got wrong too. */
		s.tx_malformed += ps->tx_malformed + vdev->vq[NET_TXQ(i)].stats.malformed;
		s.tso_frames += ps->tso_frames;
		s.rx_bad_buffers += ps->rx_bad_buffers;
		s.tx_blocked += ps->tx_blocked;
	}
	return s;
}
