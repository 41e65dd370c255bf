// SPDX-License-Identifier: MIT
/*
 * net.c -- virtio-net workloads (virtio 1.2, 5.1): net-tx, net-rx, net-echo
 * and net-bad, on the driver in virtio.c, all at CPL3.
 *
 * The driver accepts MAC, STATUS and MRG_RXBUF (keys mac=0, status=0, mrg=0
 * refuse them), and CTRL_VQ and MQ only for net-tx pairs=2: otherwise the
 * device has receiveq0 (0) and transmitq0 (1) only. With pairs=2 it also
 * has receiveq1 (2), transmitq1 (3) and the controlq (4); the driver asks for
 * both pairs (VQ_PAIRS_SET) and sends the frames alternately on the two
 * transmitqs. net-tx also takes CSUM and HOST_TSO4 for frames over
 * 1514 bytes (tso=0 refuses), net-bad CSUM when offered (csum=0 refuses), so
 * that its checksum-offset case checks bounds and not only the feature.
 *
 * With VERSION_1 every packet starts with the 12-byte struct virtio_net_hdr_v1.
 *
 * Transmit: one device-readable descriptor per frame, header then frame
 * (split=1: the header in a descriptor of its own). A frame is broadcast
 * (ff:ff:ff:ff:ff:ff) from the device's MAC, EtherType 0x88b5, and its payload
 * is the 32-bit big-endian sequence number followed by "vireo" repeated.
 * Frames over 1514 bytes are one TSO super-frame each: IPv4 (192.0.2.1 ->
 * 192.0.2.2, DF) and TCP headers (54 bytes with Ethernet), gso_type TCPV4,
 * gso_size 1448, NEEDS_CSUM at csum_start 34 / csum_offset 16 with the
 * pseudo-header sum in the TCP checksum; the TCP payload is seq + "vireo".
 *
 * Receive: every buffer is one device-writable 2048-byte descriptor, with or
 * without MRG_RXBUF (2048 >= the 1526 bytes 5.1.6.3.1 asks for when no
 * GUEST_TSO/UFO is negotiated). With MRG_RXBUF a frame may take num_buffers
 * used buffers, which are joined; without, num_buffers must be 1.
 */
#include "virtio.h"

#define VIRTIO_NET_F_CSUM      0
#define VIRTIO_NET_F_MAC       5
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS    16
#define VIRTIO_NET_F_CTRL_VQ   17
#define VIRTIO_NET_F_MQ	       22

#define NET_RXQ	      0
#define NET_TXQ	      1
#define NET_TXQ_OF(k) (2 * (k) + 1) /* transmitq of pair k */
#define NET_CTRLQ2    4		    /* the controlq with two pairs */
#define NET_MAX_PAIRS 2

#define CTRL_MQ		     4
#define CTRL_MQ_VQ_PAIRS_SET 0
#define CTRL_OK		     0

#define NET_CFG_MAC	0
#define NET_CFG_STATUS	6
#define NET_CFG_MIN_LEN 8 /* mac and status */
#define NET_S_LINK_UP	1

#define VNET_HDR_LEN	      12
#define VNET_HDR_F_NEEDS_CSUM 1
#define VNET_GSO_NONE	      0
#define VNET_GSO_TCPV4	      1

#define ETH_ALEN	 6
#define ETH_HLEN	 14
#define ETH_MIN		 60   /* without the FCS */
#define ETH_MAX		 1514 /* 1500-byte MTU */
#define FRAME_MAX	 65535
#define ETH_P_IPV4	 0x0800
#define ETH_P_VIREO	 0x88b5 /* local experimental EtherType 1 */
#define ETH_P_VIREO_ECHO 0x88b6 /* local experimental EtherType 2: the host's answer */

#define IP_HLEN	    20
#define TCP_HLEN    20
#define TSO_HDRS    (ETH_HLEN + IP_HLEN + TCP_HLEN) /* 54 */
#define TSO_MSS	    1448
#define TCP_CSUM_AT 16 /* offset of the checksum in the TCP header */

#define RX_BUF_LEN     2048
#define RX_FRAME_MAX   (FRAME_MAX + ETH_HLEN) /* what a joined frame may reach */
#define TX_MEM_BUDGET  (4u << 20)	      /* transmit buffers in flight, at most */
#define SEQ_LEN	       4
#define MAX_COMPLAINTS 4 /* malformed-frame messages printed per workload */

/* struct virtio_net_hdr_v1 (5.1.6). */
struct vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};
_Static_assert(sizeof(struct vnet_hdr) == VNET_HDR_LEN, "virtio_net_hdr_v1 is 12 bytes");

/* What rx_next() found. */
#define RX_NONE	     0
#define RX_FRAME     1
#define RX_MALFORMED 2
#define RX_BAD_ID    -1

struct net {
	struct vdev v;
	uint8_t mac[ETH_ALEN];
	bool link_up, mrg;
	/* Receive side. */
	uint8_t *rx_bufs;
	uint8_t *frame; /* the last frame rx_next() returned (joined, header removed) */
	uint32_t frame_len;
	uint64_t rx_used;      /* buffers the device returned */
	uint64_t rx_malformed; /* frames (or stray buffers) that were malformed */
	uint64_t complaints;
};

static struct net net;

/* Our MAC when the device gives none (VIRTIO_NET_F_MAC refused): locally administered. */
static const uint8_t fallback_mac[ETH_ALEN] = {0x02, 'v', 'i', 'r', 'e', 'o'};
static const uint8_t pad_text[5] = {'v', 'i', 'r', 'e', 'o'};

/* ---- Bytes on the wire --------------------------------------------------------------- */

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)get_be16(p) << 16 | get_be16(p + 2);
}

/* The payload pattern: seq (big endian), then "vireo" repeated to the end. */
static void payload_fill(uint8_t *p, uint32_t len, uint32_t seq)
{
	uint8_t s[SEQ_LEN];

	put_be32(s, seq);
	for (uint32_t i = 0; i < len; i++)
		p[i] = i < SEQ_LEN ? s[i] : pad_text[(i - SEQ_LEN) % sizeof(pad_text)];
}

static bool payload_ok(const uint8_t *p, uint32_t len)
{
	if (len < SEQ_LEN)
		return false;
	for (uint32_t i = SEQ_LEN; i < len; i++)
		if (p[i] != pad_text[(i - SEQ_LEN) % sizeof(pad_text)])
			return false;
	return true;
}

static void eth_fill(uint8_t *f, const uint8_t *src, uint16_t type)
{
	memset(f, 0xff, ETH_ALEN);
	memcpy(f + ETH_ALEN, src, ETH_ALEN);
	put_be16(f + 2 * ETH_ALEN, type);
}

/* The Internet checksum's folded one's-complement sum of len bytes, plus sum. */
static uint16_t csum_fold(const uint8_t *p, uint32_t len, uint32_t sum)
{
	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += get_be16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/*
 * An Ethernet + IPv4 + TCP frame of len bytes whose TCP payload is the
 * pattern. The IPv4 header checksum is complete; the TCP checksum field holds
 * the pseudo-header sum, as NEEDS_CSUM wants it (5.1.6.2: the device adds the
 * rest from csum_start on).
 */
static void tcp_frame_fill(uint8_t *f, uint32_t len, const uint8_t *src, uint32_t seq)
{
	static const uint8_t saddr[4] = {192, 0, 2, 1}, daddr[4] = {192, 0, 2, 2};
	uint8_t *ip = f + ETH_HLEN, *tcp = ip + IP_HLEN;
	uint32_t tcp_len = len - ETH_HLEN - IP_HLEN;

	eth_fill(f, src, ETH_P_IPV4);
	memset(ip, 0, IP_HLEN + TCP_HLEN);
	ip[0] = 0x45; /* version 4, 5 words */
	put_be16(ip + 2, (uint16_t)(len - ETH_HLEN));
	put_be16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;		  /* TTL */
	ip[9] = 6;		  /* TCP */
	memcpy(ip + 12, saddr, 4);
	memcpy(ip + 16, daddr, 4);
	put_be16(ip + 10, (uint16_t)~csum_fold(ip, IP_HLEN, 0));
	put_be16(tcp, 0x88b5);	   /* source port */
	put_be16(tcp + 2, 0x88b6); /* destination port */
	put_be32(tcp + 4, 1);	   /* sequence */
	tcp[12] = 5 << 4;	   /* data offset: 5 words */
	tcp[13] = 0x18;		   /* PSH, ACK */
	put_be16(tcp + 14, 0xffff);
	put_be16(tcp + TCP_CSUM_AT, csum_fold(ip + 12, 8, 6 + tcp_len));
	payload_fill(tcp + TCP_HLEN, tcp_len - TCP_HLEN, seq);
}

/* The header of a TSO super-frame built by tcp_frame_fill(). */
static struct vnet_hdr tso_hdr(void)
{
	return (struct vnet_hdr){
	    .flags = VNET_HDR_F_NEEDS_CSUM,
	    .gso_type = VNET_GSO_TCPV4,
	    .hdr_len = TSO_HDRS,
	    .gso_size = TSO_MSS,
	    .csum_start = ETH_HLEN + IP_HLEN,
	    .csum_offset = TCP_CSUM_AT,
	};
}

/* ---- Device set-up ----------------------------------------------------------------------- */

static void read_config(struct net *n)
{
	struct vdev *d = &n->v;

	if (vdev_has(d, VIRTIO_NET_F_MAC)) {
		for (unsigned i = 0; i < ETH_ALEN; i++)
			n->mac[i] = vdev_cfg_read8(d, NET_CFG_MAC + i);
	} else {
		memcpy(n->mac, fallback_mac, ETH_ALEN);
	}
	/* Without STATUS the link is assumed up (5.1.5). */
	n->link_up = !vdev_has(d, VIRTIO_NET_F_STATUS) ||
		     (vdev_cfg_read16(d, NET_CFG_STATUS) & NET_S_LINK_UP);
	n->mrg = vdev_has(d, VIRTIO_NET_F_MRG_RXBUF);
}

static void describe(struct net *n)
{
	const uint8_t *m = n->mac;
	struct vdev *d = &n->v;

	vdev_describe(d);
	kprintf("net: mac=%02x:%02x:%02x:%02x:%02x:%02x link=%s mac_feature=%u status_feature=%u "
		"mrg_rxbuf=%u csum=%u host_tso4=%u rxq=%u txq=%u\n",
		m[0], m[1], m[2], m[3], m[4], m[5], n->link_up ? "up" : "down",
		vdev_has(d, VIRTIO_NET_F_MAC), vdev_has(d, VIRTIO_NET_F_STATUS), n->mrg,
		vdev_has(d, VIRTIO_NET_F_CSUM), vdev_has(d, VIRTIO_NET_F_HOST_TSO4),
		d->vq[NET_RXQ].size, d->vq[NET_TXQ].size);
}

/* Post buffer buf on the receiveq (not kicked); the ring has room for every buffer. */
static void rx_post(struct net *n, uint8_t *buf)
{
	struct vbuf b = {pa(buf), RX_BUF_LEN, true};

	vq_add(&n->v.vq[NET_RXQ], &b, 1, buf);
}

/* One RX_BUF_LEN buffer per receiveq entry, posted before DRIVER_OK (3.1.1 step 7). */
static int rx_setup(struct net *n)
{
	struct vq *q = &n->v.vq[NET_RXQ];

	n->rx_bufs = dma_scratch_alloc((size_t)q->size * RX_BUF_LEN);
	n->frame = dma_scratch_alloc(RX_FRAME_MAX);
	if (!n->rx_bufs || !n->frame)
		return -1;
	for (unsigned i = 0; i < q->size; i++)
		rx_post(n, n->rx_bufs + (size_t)i * RX_BUF_LEN);
	n->rx_used = n->rx_malformed = n->complaints = 0;
	return 0;
}

/* VQ_PAIRS_SET `pairs` on the controlq (after DRIVER_OK, 5.1.6.5.5). 0 or fail(). */
static int set_pairs(struct net *n, unsigned pairs)
{
	uint8_t *cmd = dma_scratch_alloc(8);
	struct vq *q = &n->v.vq[NET_CTRLQ2];
	struct vbuf b[2];
	uint32_t len;
	int w;

	if (!cmd)
		return -1;
	cmd[0] = CTRL_MQ;
	cmd[1] = CTRL_MQ_VQ_PAIRS_SET;
	cmd[2] = (uint8_t)pairs; /* le16 */
	cmd[3] = 0;
	cmd[4] = 0xff; /* the ack: the device writes it */
	b[0] = (struct vbuf){pa(cmd), 4, false};
	b[1] = (struct vbuf){pa(cmd + 4), 1, true};
	if (vq_add(q, b, 2, cmd) < 0)
		return fail("net: controlq full");
	if ((w = vq_kick_and_take(q, cmd, n->v.timeout_tsc, &len)) != 0)
		return fail("net: VQ_PAIRS_SET: %s", vq_wait_name(w));
	if (len != 1 || cmd[4] != CTRL_OK)
		return fail("net: VQ_PAIRS_SET %u: ack %u (length %u)", pairs, cmd[4], len);
	return 0;
}

/*
 * Find and bring up the net=N device with the common features plus `extra`,
 * using `pairs` queue pairs (2: CTRL_VQ and MQ, asked for after DRIVER_OK);
 * with `rx`, fill the receiveq before DRIVER_OK. Prints the describe lines.
 */
static int net_open_pairs(uint64_t extra, bool rx, unsigned pairs)
{
	struct vdev *d = &net.v;
	unsigned index = (unsigned)cmdline_u64("net", 0);

	if (d->probed && d->index != index)
		d->probed = false;
	d->name = "net";
	d->type = VIRTIO_ID_NET;
	d->index = index;
	d->nr_vqs = pairs > 1 ? NET_CTRLQ2 + 1 : 2; /* receiveq0, transmitq0, ... */
	d->want = extra;
	if (pairs > 1)
		d->want |= FEATURE(VIRTIO_NET_F_CTRL_VQ) | FEATURE(VIRTIO_NET_F_MQ);
	if (cmdline_u64("mac", 1))
		d->want |= FEATURE(VIRTIO_NET_F_MAC);
	if (cmdline_u64("status", 1))
		d->want |= FEATURE(VIRTIO_NET_F_STATUS);
	if (cmdline_u64("mrg", 1))
		d->want |= FEATURE(VIRTIO_NET_F_MRG_RXBUF);
	dma_scratch_reset();
	if (vdev_setup(d))
		return -1;
	if (!d->devcfg || d->devcfg_len < NET_CFG_MIN_LEN)
		return fail("net: device configuration is %u bytes, need %u", d->devcfg_len,
			    NET_CFG_MIN_LEN);
	if (pairs > 1 && !(vdev_has(d, VIRTIO_NET_F_CTRL_VQ) && vdev_has(d, VIRTIO_NET_F_MQ)))
		return fail("net: pairs=%u needs CTRL_VQ and MQ, not offered (a --net queues=1?)",
			    pairs);
	read_config(&net);
	if (rx && rx_setup(&net))
		return -1;
	vdev_driver_ok(d);
	if (rx)
		vq_kick(&d->vq[NET_RXQ]);
	if (pairs > 1 && set_pairs(&net, pairs))
		return -1;
	describe(&net);
	return 0;
}

static int net_open(uint64_t extra, bool rx)
{
	return net_open_pairs(extra, rx, 1);
}

/* ---- Receive ------------------------------------------------------------------------------- */

static void PRINTF(2, 3) rx_complain(struct net *n, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	n->rx_malformed++;
	if (n->complaints++ >= MAX_COMPLAINTS)
		return;
	va_start(ap, fmt);
	kvsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kprintf("net: malformed receive: %s\n", msg);
}

/* Copy what a used buffer holds onto the frame being joined; repost the buffer. */
static void rx_absorb(struct net *n, uint8_t *buf, uint32_t skip, uint32_t len)
{
	uint32_t room = n->frame_len < RX_FRAME_MAX ? RX_FRAME_MAX - n->frame_len : 0;
	uint32_t take = len - skip;

	memcpy(n->frame + n->frame_len, buf + skip, take < room ? take : room);
	n->frame_len += take; /* past RX_FRAME_MAX: rx_next() calls it malformed */
	rx_post(n, buf);
}

/* The next used buffer, waiting for it when `wait`: 1, 0 (none), RX_BAD_ID. */
static int rx_take(struct net *n, uint8_t **buf, uint32_t *len, bool wait)
{
	struct vq *q = &n->v.vq[NET_RXQ];
	void *token;
	int got = vq_get_used(q, &token, len);

	if (got == 0 && wait) {
		vq_kick(q); /* the reposted buffers, in case the device waits for them */
		if (vq_wait(q, n->v.timeout_tsc) == 0)
			got = vq_get_used(q, &token, len);
	}
	if (got < 0)
		return RX_BAD_ID;
	if (got == 0)
		return 0;
	*buf = token;
	n->rx_used++;
	return 1;
}

/* Is the header of a received frame what we negotiated? The reason if not. */
static const char *rx_hdr_problem(const struct net *n, const struct vnet_hdr *h)
{
	if (h->gso_type != VNET_GSO_NONE)
		return "gso_type set without GUEST_TSO4/6/UFO";
	if (h->flags & VNET_HDR_F_NEEDS_CSUM)
		return "NEEDS_CSUM without GUEST_CSUM";
	if (!n->mrg && h->num_buffers != 1 && !cmdline_list_has("lenient", "num_buffers"))
		return "num_buffers is not 1 without MRG_RXBUF";
	return NULL;
}

/*
 * Take the next frame from the receiveq into n->frame (without the header):
 * RX_FRAME, RX_NONE, RX_MALFORMED (counted and printed) or RX_BAD_ID. Every
 * buffer taken is posted again; the caller kicks.
 */
static int rx_next(struct net *n)
{
	struct vnet_hdr h;
	uint8_t *buf;
	uint32_t len, nb;
	const char *why;
	int r = rx_take(n, &buf, &len, false);

	if (r <= 0)
		return r;
	if (len < VNET_HDR_LEN || len > RX_BUF_LEN) {
		rx_complain(n, "used length %u (header %u, buffer %u bytes)", len, VNET_HDR_LEN,
			    RX_BUF_LEN);
		rx_post(n, buf);
		return RX_MALFORMED;
	}
	memcpy(&h, buf, sizeof(h));
	n->frame_len = 0;
	rx_absorb(n, buf, VNET_HDR_LEN, len);
	nb = n->mrg ? h.num_buffers : 1;
	if (nb == 0 || nb > n->v.vq[NET_RXQ].size) {
		rx_complain(n, "num_buffers %u with %u buffers posted", nb, n->v.vq[NET_RXQ].size);
		return RX_MALFORMED;
	}
	/* The rest of a merged frame: the next nb - 1 used buffers, whole. */
	for (uint32_t k = 1; k < nb; k++) {
		r = rx_take(n, &buf, &len, true);
		if (r < 0)
			return r;
		if (r == 0) {
			rx_complain(n, "num_buffers %u, but only %u came", nb, k);
			return RX_MALFORMED;
		}
		if (len > RX_BUF_LEN) {
			rx_complain(n, "used length %u in buffer %u of %u", len, k + 1, nb);
			rx_post(n, buf);
			return RX_MALFORMED;
		}
		rx_absorb(n, buf, 0, len);
	}
	if ((why = rx_hdr_problem(n, &h)) != NULL) {
		rx_complain(n, "%s (flags 0x%x gso_type %u num_buffers %u)", why, h.flags,
			    h.gso_type, h.num_buffers);
		return RX_MALFORMED;
	}
	if (n->frame_len < ETH_HLEN || n->frame_len > RX_FRAME_MAX) {
		rx_complain(n, "frame of %u bytes", n->frame_len);
		return RX_MALFORMED;
	}
	return RX_FRAME;
}

static uint16_t frame_type(const struct net *n)
{
	return get_be16(n->frame + 2 * ETH_ALEN);
}

/* The sequence number of a vireo frame, or -1 if the frame is too short for one. */
static int64_t frame_seq(const struct net *n)
{
	if (n->frame_len < ETH_HLEN + SEQ_LEN)
		return -1;
	return get_be32(n->frame + ETH_HLEN);
}

/* ---- Transmit ------------------------------------------------------------------------------ */

struct tx_ring {
	struct vq *q;
	uint8_t *mem;	 /* slots * stride bytes: header then frame, per slot */
	uint32_t stride; /* bytes per slot */
	uint32_t size;	 /* frame bytes */
	bool tso, split;
	unsigned slots, nfree;
	uint16_t free[VQ_MAX_SIZE]; /* free slot numbers (a stack) */
};

static struct vnet_hdr *slot_hdr(const struct tx_ring *t, unsigned s)
{
	return (struct vnet_hdr *)(t->mem + (size_t)s * t->stride);
}

static uint8_t *slot_frame(const struct tx_ring *t, unsigned s)
{
	return t->mem + (size_t)s * t->stride + VNET_HDR_LEN;
}

/* Header and frame of a slot as they go out, but for the sequence number. */
static void slot_fill(const struct tx_ring *t, unsigned s, uint16_t type)
{
	struct vnet_hdr *h = slot_hdr(t, s);
	uint8_t *f = slot_frame(t, s);

	*h = t->tso ? tso_hdr() : (struct vnet_hdr){0};
	if (t->tso) {
		tcp_frame_fill(f, t->size, net.mac, 0);
	} else {
		eth_fill(f, net.mac, type);
		payload_fill(f + ETH_HLEN, t->size - ETH_HLEN, 0);
	}
}

/* The sequence number's place: the Ethernet payload, or the TCP payload for TSO. */
static void slot_set_seq(const struct tx_ring *t, unsigned s, uint32_t seq)
{
	put_be32(slot_frame(t, s) + (t->tso ? TSO_HDRS : ETH_HLEN), seq);
}

/*
 * Buffers for `want` frames in flight (fewer if the queue or TX_MEM_BUDGET
 * says so), each filled once: only the sequence number changes per frame.
 */
static int tx_setup_on(struct tx_ring *t, unsigned q, uint32_t size, bool tso, bool split,
		       unsigned want, uint16_t type)
{
	unsigned per_frame = split ? 2 : 1;

	t->q = &net.v.vq[q];
	t->size = size;
	t->tso = tso;
	t->split = split;
	t->stride = (VNET_HDR_LEN + size + 63) & ~63u;
	t->slots = t->q->size / per_frame;
	if (t->slots > TX_MEM_BUDGET / t->stride)
		t->slots = TX_MEM_BUDGET / t->stride;
	if (t->slots > want)
		t->slots = want;
	if (t->slots == 0)
		return fail("net: no room for a %u-byte frame in a %u-entry transmitq", size,
			    t->q->size);
	if (!(t->mem = dma_scratch_alloc((size_t)t->slots * t->stride)))
		return -1;
	for (unsigned s = 0; s < t->slots; s++) {
		slot_fill(t, s, type);
		t->free[s] = (uint16_t)s;
	}
	t->nfree = t->slots;
	return 0;
}

static int tx_setup(struct tx_ring *t, uint32_t size, bool tso, bool split, unsigned want,
		    uint16_t type)
{
	return tx_setup_on(t, NET_TXQ, size, tso, split, want, type);
}

/* Queue the frame of a free slot with sequence number seq (not kicked). Slot or -1. */
static int tx_send(struct tx_ring *t, uint32_t seq)
{
	struct vbuf b[2];
	unsigned s;

	if (t->nfree == 0)
		return -1;
	s = t->free[--t->nfree];
	slot_set_seq(t, s, seq);
	if (t->split) {
		b[0] = (struct vbuf){pa(slot_hdr(t, s)), VNET_HDR_LEN, false};
		b[1] = (struct vbuf){pa(slot_frame(t, s)), t->size, false};
	} else {
		b[0] = (struct vbuf){pa(slot_hdr(t, s)), VNET_HDR_LEN + t->size, false};
	}
	if (vq_add(t->q, b, t->split ? 2 : 1, slot_hdr(t, s)) < 0) {
		t->free[t->nfree++] = (uint16_t)s;
		return -1;
	}
	return (int)s;
}

/* Take every completed frame back: how many, or -1 if the device returned a bad id. */
static int tx_reclaim(struct tx_ring *t)
{
	void *token;
	uint32_t len;
	int got, n = 0;

	while ((got = vq_get_used(t->q, &token, &len)) > 0) {
		t->free[t->nfree++] = (uint16_t)(((uint8_t *)token - t->mem) / t->stride);
		n++;
	}
	return got < 0 ? -1 : n;
}

/* Wait until a slot is free (the device finished with its frame). 0 or fail(). */
static int tx_get_slot(struct tx_ring *t)
{
	for (;;) {
		int w;

		if (tx_reclaim(t) < 0)
			return fail("net: the device returned a transmit id we did not submit");
		if (t->nfree)
			return 0;
		if ((w = vq_wait(t->q, net.v.timeout_tsc)) != 0)
			return fail("net: transmitq: %s", vq_wait_name(w));
	}
}

static uint64_t per_sec(uint64_t n, uint64_t ns)
{
	return ns ? n * 1000000000ull / ns : 0;
}

/* ---- net-tx -------------------------------------------------------------------------------- */

/*
 * Fill every pair's transmitq as full as it goes with the next frames, the
 * pairs taking turns frame by frame; one kick per queue for the batch.
 */
static void tx_fill_pairs(struct tx_ring *t, unsigned pairs, uint64_t *sent, uint64_t count)
{
	bool progress = true;

	while (*sent < count && progress) {
		progress = false;
		for (unsigned k = 0; k < pairs && *sent < count; k++)
			if (tx_send(&t[k], (uint32_t)*sent) >= 0) {
				(*sent)++;
				progress = true;
			}
	}
	for (unsigned k = 0; k < pairs; k++)
		vq_kick(t[k].q);
}

/* Wait for each pair with frames out, take them back: how many, or fail(). */
static int tx_wait_pairs(struct tx_ring *t, unsigned pairs, uint64_t done, uint64_t count)
{
	uint64_t n = 0;

	for (unsigned k = 0; k < pairs; k++) {
		int w, got;

		if (t[k].nfree == t[k].slots)
			continue; /* nothing out on this pair */
		if ((w = vq_wait(t[k].q, net.v.timeout_tsc)) != 0)
			return fail("net-tx: %s after %lu of %lu frames", vq_wait_name(w), done + n,
				    count);
		if ((got = tx_reclaim(&t[k])) < 0)
			return fail("net-tx: the device returned an id we did not submit");
		n += (uint64_t)got;
	}
	return (int)n;
}

int run_net_tx(void)
{
	uint64_t count = cmdline_u64("count", 1000), size = cmdline_u64("size", 64);
	uint64_t pairs = cmdline_u64("pairs", 1);
	bool split = cmdline_u64("split", 0) != 0, tso = size > ETH_MAX;
	uint64_t sent = 0, done = 0, t0, ns, notifies0 = 0, notifies = 0, irqs0;
	struct tx_ring *t = (struct tx_ring[NET_MAX_PAIRS]){0};
	unsigned want;
	int got;

	if (count == 0)
		fail_exit(EXIT_USAGE, "net-tx: count must be > 0");
	if (pairs < 1 || pairs > NET_MAX_PAIRS)
		fail_exit(EXIT_USAGE, "net-tx: pairs must be 1..%u", NET_MAX_PAIRS);
	if (size < ETH_MIN || size > FRAME_MAX)
		fail_exit(EXIT_USAGE, "net-tx: size must be %u..%u", ETH_MIN, FRAME_MAX);
	if (tso && !cmdline_u64("tso", 1))
		fail_exit(EXIT_USAGE, "net-tx: size over %u needs TSO, which tso=0 refuses",
			  ETH_MAX);
	if (net_open_pairs(tso ? FEATURE(VIRTIO_NET_F_CSUM) | FEATURE(VIRTIO_NET_F_HOST_TSO4) : 0,
			   false, (unsigned)pairs))
		return -1;
	if (tso && !vdev_has(&net.v, VIRTIO_NET_F_HOST_TSO4))
		return fail("net-tx: size=%lu needs VIRTIO_NET_F_HOST_TSO4, not offered", size);
	want = (unsigned)(count < VQ_MAX_SIZE ? count : VQ_MAX_SIZE);
	for (unsigned k = 0; k < pairs; k++) {
		if (tx_setup_on(&t[k], NET_TXQ_OF(k), (uint32_t)size, tso, split, want,
				ETH_P_VIREO))
			return -1;
		notifies0 += t[k].q->notifies;
	}

	irqs0 = vdev_queue_irqs(&net.v);
	t0 = rdtsc();
	while (done < count) {
		tx_fill_pairs(t, (unsigned)pairs, &sent, count);
		if ((got = tx_wait_pairs(t, (unsigned)pairs, done, count)) < 0)
			return -1;
		done += (uint64_t)got;
	}
	ns = tsc_to_ns(rdtsc() - t0);
	for (unsigned k = 0; k < pairs; k++)
		notifies += t[k].q->notifies;
	vdev_close(&net.v);
	kprintf("RESULT test=net-tx ops=%lu ns=%lu errors=0 bytes=%lu pps=%lu mbps=%lu size=%lu "
		"tso=%u split=%u inflight=%u notifies=%lu irqs=%lu pairs=%lu\n",
		done, ns, done * size, per_sec(done, ns), ns ? done * size * 1000 / ns : 0, size,
		tso, split, t[0].slots, notifies - notifies0, vdev_queue_irqs(&net.v) - irqs0,
		pairs);
	return 0;
}

/* ---- net-rx -------------------------------------------------------------------------------- */

struct rx_count {
	uint64_t frames, bytes, pattern, other;
};

/*
 * Take every frame the device has returned, count the vireo ones, repost and
 * kick. 0, or fail() when the device returned a bad id.
 */
static int rx_drain(struct net *n, struct rx_count *c, uint64_t limit)
{
	int r;

	while (c->frames < limit && (r = rx_next(n)) != RX_NONE) {
		if (r == RX_BAD_ID)
			return fail("net: the device returned a receive id we did not post");
		if (r != RX_FRAME)
			continue;
		if (frame_type(n) != ETH_P_VIREO) {
			c->other++;
			continue;
		}
		c->frames++;
		c->bytes += n->frame_len;
		if (payload_ok(n->frame + ETH_HLEN, n->frame_len - ETH_HLEN))
			c->pattern++;
	}
	vq_kick(&n->v.vq[NET_RXQ]);
	return 0;
}

int run_net_rx(void)
{
	uint64_t count = cmdline_u64("count", 100);
	uint64_t deadline, first = 0, last = 0, ns, notifies0, irqs0;
	struct vq *q = &net.v.vq[NET_RXQ];
	struct rx_count c = {0};
	bool timed_out = false;

	if (count == 0)
		fail_exit(EXIT_USAGE, "net-rx: count must be > 0");
	if (net_open(0, true))
		return -1;
	notifies0 = q->notifies;
	irqs0 = vdev_queue_irqs(&net.v);
	kprintf("net-rx: ready\n");
	deadline = rdtsc() + tsc_khz * cmdline_u64("timeout_ms", 10000);
	while (c.frames < count) {
		uint64_t now = rdtsc(), before = c.frames;
		int w;

		if (now >= deadline) {
			timed_out = true;
			break;
		}
		w = vq_wait(q, deadline - now);
		if (w == VQ_WAIT_RESET)
			return fail("net-rx: device needs reset after %lu frames", c.frames);
		now = rdtsc();
		if (rx_drain(&net, &c, count))
			return -1;
		/* ns and pps over the frames themselves, not the wait for the host to start. */
		if (c.frames > before) {
			if (!before)
				first = now;
			last = rdtsc();
		}
	}
	ns = tsc_to_ns(last - first);
	vdev_close(&net.v);
	kprintf("RESULT test=net-rx ops=%lu ns=%lu errors=%lu bytes=%lu pps=%lu pattern=%lu "
		"other=%lu bufs=%lu mrg_rxbuf=%u timeout=%u notifies=%lu irqs=%lu\n",
		c.frames, ns, net.rx_malformed, c.bytes, per_sec(c.frames, ns), c.pattern, c.other,
		net.rx_used, net.mrg, timed_out, q->notifies - notifies0,
		vdev_queue_irqs(&net.v) - irqs0);
	if (net.rx_malformed)
		return fail("net-rx: %lu malformed frames", net.rx_malformed);
	return 0;
}

/* ---- net-echo ------------------------------------------------------------------------------ */

struct echo {
	uint64_t ok, timeouts, wrong, other, rtt_sum, bytes;
};

/* Wait for the 0x88b6 frame carrying seq: true when it came before the deadline. */
static int echo_wait(struct echo *e, uint32_t seq, uint64_t deadline, bool *got)
{
	struct vq *q = &net.v.vq[NET_RXQ];
	int r;

	*got = false;
	for (;;) {
		while (!*got && (r = rx_next(&net)) != RX_NONE) {
			if (r == RX_BAD_ID)
				return fail(
				    "net-echo: the device returned a receive id we did not post");
			if (r != RX_FRAME)
				continue;
			if (frame_type(&net) != ETH_P_VIREO_ECHO) {
				e->other++;
			} else if (frame_seq(&net) != seq) {
				if (e->wrong++ < MAX_COMPLAINTS)
					kprintf("net-echo: got seq %ld waiting for %u\n",
						frame_seq(&net), seq);
			} else {
				e->bytes += net.frame_len;
				*got = true;
			}
		}
		vq_kick(q);
		uint64_t now = rdtsc();

		if (*got || now >= deadline)
			return 0;
		int w = vq_wait(q, deadline - now);

		if (w == VQ_WAIT_RESET)
			return fail("net-echo: device needs reset");
	}
}

int run_net_echo(void)
{
	uint64_t count = cmdline_u64("count", 100), size = cmdline_u64("size", 64);
	uint64_t round_tsc = tsc_khz * cmdline_u64("timeout_ms", 1000);
	uint64_t t0, ns, notifies0, irqs0;
	struct tx_ring *t = &(struct tx_ring){0};
	struct echo e = {0};

	if (count == 0)
		fail_exit(EXIT_USAGE, "net-echo: count must be > 0");
	if (size < ETH_MIN || size > ETH_MAX)
		fail_exit(EXIT_USAGE, "net-echo: size must be %u..%u", ETH_MIN, ETH_MAX);
	if (net_open(0, true) || tx_setup(t, (uint32_t)size, false, false, 2, ETH_P_VIREO))
		return -1;
	notifies0 = t->q->notifies + net.v.vq[NET_RXQ].notifies;
	irqs0 = vdev_queue_irqs(&net.v);
	kprintf("net-echo: ready\n");
	t0 = rdtsc();
	for (uint64_t i = 0; i < count; i++) {
		uint64_t start;
		bool got;

		if (tx_get_slot(t))
			return -1;
		start = rdtsc();
		if (tx_send(t, (uint32_t)i) < 0)
			return fail("net-echo: transmitq full");
		vq_kick(t->q);
		if (echo_wait(&e, (uint32_t)i, start + round_tsc, &got))
			return -1;
		if (got) {
			e.ok++;
			e.rtt_sum += tsc_to_ns(rdtsc() - start);
		} else {
			e.timeouts++;
		}
	}
	ns = tsc_to_ns(rdtsc() - t0);
	vdev_close(&net.v);
	uint64_t errors = e.timeouts + e.wrong + net.rx_malformed;

	kprintf("RESULT test=net-echo ops=%lu ns=%lu errors=%lu bytes=%lu pps=%lu rtt_ns=%lu "
		"timeouts=%lu wrong_seq=%lu malformed=%lu other=%lu size=%lu notifies=%lu "
		"irqs=%lu\n",
		e.ok, ns, errors, e.bytes, per_sec(e.ok, ns), e.ok ? e.rtt_sum / e.ok : 0,
		e.timeouts, e.wrong, net.rx_malformed, e.other, size,
		t->q->notifies + net.v.vq[NET_RXQ].notifies - notifies0,
		vdev_queue_irqs(&net.v) - irqs0);
	if (errors)
		return fail("net-echo: %lu timeouts, %lu wrong sequence numbers, %lu malformed "
			    "frames in %lu round trips",
			    e.timeouts, e.wrong, net.rx_malformed, count);
	return 0;
}

/* ---- net-bad: malformed transmit chains ---------------------------------------------------- */

enum net_bad_case {
	NB_HDR_SHORT,
	NB_HDR_ONLY,
	NB_FRAME_RUNT,
	NB_FRAME_TOO_LONG,
	NB_WRITABLE_DESC,
	NB_GSO_WITHOUT_TSO,
	NB_CSUM_WITHOUT_FEATURE,
	NB_CSUM_PAST_FRAME,
	NB_ADDR_BEYOND_RAM,
	NB_ADDR_PAST_RAM_END,
	NB_NR_CASES
};

static const char *const nb_names[NB_NR_CASES] = {
    "hdr-short",       "hdr-only",	    "frame-runt",	    "frame-too-long",
    "writable-desc",   "gso-without-tso",   "csum-without-feature", "csum-past-frame",
    "addr-beyond-ram", "addr-past-ram-end",
};

#define NB_FRAME_LEN 64	    /* a valid 0x88b5 frame */
#define NB_TCP_LEN   200    /* a valid IPv4/TCP frame */
#define NB_RUNT_LEN  10	    /* less than an Ethernet header */
#define NB_CHUNK     0x6000 /* frame-too-long: 3 descriptors of 24 KiB = 72 KiB */
#define NB_CHUNKS    3
#define NB_FAR_ADDR  (1ull << 40) /* 1 TiB: no guest has RAM there */
#define NB_MAX_DESCS (1 + NB_CHUNKS)

struct nb_ctx {
	struct vnet_hdr *hdr;
	uint8_t *frame, *tcp, *big;
	uint64_t ram_end;
};

/*
 * The chain of case k in b[] (header in c->hdr): how many descriptors, or 0
 * when the case cannot run here (the feature it abuses was negotiated, RAM
 * size unknown).
 */
static unsigned nb_chain(enum net_bad_case k, const struct nb_ctx *c, struct vbuf *b)
{
	uint64_t hdr = pa(c->hdr);
	struct vnet_hdr *h = c->hdr;

	memset(h, 0, sizeof(*h));
	b[0] = (struct vbuf){hdr, VNET_HDR_LEN, false};
	b[1] = (struct vbuf){pa(c->frame), NB_FRAME_LEN, false};
	switch (k) {
	case NB_HDR_SHORT: /* the whole chain is 8 bytes */
		b[0].len = 8;
		return 1;
	case NB_HDR_ONLY: /* a header and no frame */
		return 1;
	case NB_FRAME_RUNT:
		b[1].len = NB_RUNT_LEN;
		return 2;
	case NB_FRAME_TOO_LONG: /* 73728 frame bytes > 65535 */
		for (unsigned i = 0; i < NB_CHUNKS; i++)
			b[1 + i] = (struct vbuf){pa(c->big), NB_CHUNK, false};
		return 1 + NB_CHUNKS;
	case NB_WRITABLE_DESC: /* the frame is device-writable */
		b[1].write = true;
		return 2;
	case NB_GSO_WITHOUT_TSO: /* a well-formed TSO header, but HOST_TSO4 was not negotiated */
		if (vdev_has(&net.v, VIRTIO_NET_F_HOST_TSO4))
			return 0;
		*h = tso_hdr();
		h->flags = 0; /* only the GSO part is wrong */
		h->csum_start = h->csum_offset = 0;
		b[1] = (struct vbuf){pa(c->tcp), NB_TCP_LEN, false};
		return 2;
	case NB_CSUM_WITHOUT_FEATURE: /* sane offsets, but CSUM was not negotiated */
		if (vdev_has(&net.v, VIRTIO_NET_F_CSUM))
			return 0;
		*h = (struct vnet_hdr){.flags = VNET_HDR_F_NEEDS_CSUM,
				       .csum_start = ETH_HLEN + IP_HLEN,
				       .csum_offset = TCP_CSUM_AT};
		b[1] = (struct vbuf){pa(c->tcp), NB_TCP_LEN, false};
		return 2;
	case NB_CSUM_PAST_FRAME: /* the checksum would land at 74..75 of a 64-byte frame */
		*h = (struct vnet_hdr){
		    .flags = VNET_HDR_F_NEEDS_CSUM, .csum_start = ETH_HLEN, .csum_offset = 60};
		return 2;
	case NB_ADDR_BEYOND_RAM:
		b[1].addr = NB_FAR_ADDR;
		return 2;
	case NB_ADDR_PAST_RAM_END: /* the frame straddles the end of RAM */
		if (!c->ram_end)
			return 0;
		b[1].addr = c->ram_end - NB_FRAME_LEN / 2;
		return 2;
	case NB_NR_CASES:
		break;
	}
	return 0;
}

/* What happened to one case. */
struct nb_result {
	const char *what; /* completed, needs-reset, timeout, wrong-id */
	uint32_t len;	  /* used length when completed */
	bool bad;	  /* the device did not return the chain and stay alive */
};

static struct nb_result nb_wait(const struct nb_ctx *c, uint64_t case_tsc)
{
	struct vq *q = &net.v.vq[NET_TXQ];
	struct nb_result r = {"completed", 0, false};
	int w = vq_wait(q, case_tsc);
	void *token = NULL;

	/* device_status every time: vq_wait() looks only once a millisecond. */
	if (w == VQ_WAIT_RESET || (vdev_status(&net.v) & (VIRTIO_S_NEEDS_RESET | VIRTIO_S_FAILED)))
		return (struct nb_result){"needs-reset", 0, true};
	if (w == VQ_WAIT_TIMEOUT)
		return (struct nb_result){"timeout", 0, true};
	if (vq_get_used(q, &token, &r.len) != 1 || token != c->hdr)
		return (struct nb_result){"wrong-id", 0, true};
	return r;
}

/* A valid frame after the cases, in one descriptor or scattered (header split). */
static int nb_valid(const struct nb_ctx *c, bool scattered)
{
	struct vq *q = &net.v.vq[NET_TXQ];
	struct vnet_hdr *h = c->hdr;
	struct vbuf b[4];
	unsigned n = 0;
	uint32_t len;
	int w;

	memset(h, 0, sizeof(*h));
	if (scattered) {
		/* Header across two descriptors, the frame across two more. */
		b[n++] = (struct vbuf){pa(h), 5, false};
		b[n++] = (struct vbuf){pa(h) + 5, VNET_HDR_LEN - 5, false};
		b[n++] = (struct vbuf){pa(c->frame), 20, false};
		b[n++] = (struct vbuf){pa(c->frame) + 20, NB_FRAME_LEN - 20, false};
	} else {
		/* Header and frame in one buffer: the frame copied right after the header. */
		memcpy((uint8_t *)h + VNET_HDR_LEN, c->frame, NB_FRAME_LEN);
		b[n++] = (struct vbuf){pa(h), VNET_HDR_LEN + NB_FRAME_LEN, false};
	}
	if (vq_add(q, b, n, h) < 0)
		return fail("net-bad: transmitq full for the valid frame");
	w = vq_kick_and_take(q, h, net.v.timeout_tsc, &len);
	if (w || (vdev_status(&net.v) & (VIRTIO_S_NEEDS_RESET | VIRTIO_S_FAILED)))
		return fail("net-bad: a valid %s frame after the cases: %s",
			    scattered ? "scattered" : "one-descriptor",
			    w ? vq_wait_name(w) : "device needs reset");
	kprintf("net-bad: valid=%s completed len=%u\n", scattered ? "scattered" : "single", len);
	return 0;
}

static int nb_alloc(struct nb_ctx *c)
{
	c->hdr = dma_scratch_alloc(VNET_HDR_LEN + NB_FRAME_LEN);
	c->frame = dma_scratch_alloc(NB_FRAME_LEN);
	c->tcp = dma_scratch_alloc(NB_TCP_LEN);
	c->big = dma_scratch_alloc(NB_CHUNK);
	if (!c->hdr || !c->frame || !c->tcp || !c->big)
		return -1;
	eth_fill(c->frame, net.mac, ETH_P_VIREO);
	payload_fill(c->frame + ETH_HLEN, NB_FRAME_LEN - ETH_HLEN, 0);
	tcp_frame_fill(c->tcp, NB_TCP_LEN, net.mac, 0);
	eth_fill(c->big, net.mac, ETH_P_VIREO);
	payload_fill(c->big + ETH_HLEN, NB_CHUNK - ETH_HLEN, 0);
	c->ram_end = ram_end();
	return 0;
}

int run_net_bad(void)
{
	uint64_t case_tsc = tsc_khz * cmdline_u64("case_timeout_ms", 2000);
	uint64_t extra = cmdline_u64("csum", 1) ? FEATURE(VIRTIO_NET_F_CSUM) : 0;
	uint64_t ran = 0, errors = 0, skipped = 0, completed = 0, resets = 0, timeouts = 0;
	uint64_t tolerated = 0, t0, ns, notifies0, irqs0;
	struct vq *q = &net.v.vq[NET_TXQ];
	struct vbuf b[NB_MAX_DESCS];
	struct nb_ctx c;

	if (net_open(extra, false) || nb_alloc(&c))
		return -1;
	notifies0 = q->notifies;
	irqs0 = vdev_queue_irqs(&net.v);
	t0 = rdtsc();
	for (unsigned k = 0; k < NB_NR_CASES; k++) {
		unsigned n = nb_chain((enum net_bad_case)k, &c, b);
		struct nb_result r;
		const char *verdict = "ok";

		/* skip=: cases a device cannot take at all (QEMU 7.2 aborts on hdr-short
		 * when its peer has no vnet header). */
		if (cmdline_list_has("skip", nb_names[k]))
			n = 0;
		if (n == 0) {
			kprintf("net-bad: case=%s result=skipped\n", nb_names[k]);
			skipped++;
			continue;
		}
		if (vq_add(q, b, n, c.hdr) < 0)
			return fail("net-bad: case %s needs %u descriptors, the transmitq has %u",
				    nb_names[k], n, q->num_free);
		vq_kick(q);
		ran++;
		r = nb_wait(&c, case_tsc);
		completed += !r.bad;
		resets += !strcmp(r.what, "needs-reset");
		timeouts += !strcmp(r.what, "timeout");
		if (r.bad && cmdline_list_has("lenient", nb_names[k])) {
			verdict = "tolerated";
			tolerated++;
		} else if (r.bad) {
			verdict = "BAD";
			errors++;
		}
		kprintf("net-bad: case=%s result=%s len=%u verdict=%s\n", nb_names[k], r.what,
			r.len, verdict);
		/* A device that did not give the chain back is reset before the next case. */
		if (r.bad && vdev_reinit(&net.v))
			return -1;
	}
	if (nb_valid(&c, false) || nb_valid(&c, true))
		return -1;
	ns = tsc_to_ns(rdtsc() - t0);
	vdev_close(&net.v);
	kprintf("net-bad: cases=%lu\n", ran);
	kprintf("RESULT test=net-bad ops=%lu ns=%lu errors=%lu bytes=%u pps=%lu bad=%lu "
		"completed=%lu needs_reset=%lu timeouts=%lu tolerated=%lu skipped=%lu valid=2 "
		"csum=%u notifies=%lu irqs=%lu\n",
		ran, ns, errors, 2 * NB_FRAME_LEN, per_sec(ran, ns), ran, completed, resets,
		timeouts, tolerated, skipped, vdev_has(&net.v, VIRTIO_NET_F_CSUM),
		q->notifies - notifies0, vdev_queue_irqs(&net.v) - irqs0);
	if (errors)
		return fail("net-bad: %lu of %lu malformed submissions handled badly", errors, ran);
	return 0;
}
