/* SPDX-License-Identifier: MIT */
/*
 * net.h -- virtio-net (virtio 1.2, 5.1) over a host tap (net/tap.h).
 *
 * Queues: receiveq 2k and transmitq 2k+1 for pair k (one tap queue each;
 * several pairs with VIRTIO_NET_F_MQ), then the controlq. Frames move between the
 * guest's buffers and the tap with one readv/writev each, vnet header
 * included: no copies of the frame (only the 12-byte transmit header is
 * copied, so what is checked is what the tap gets).
 */
#ifndef VIREO_VIRTIO_NET_H
#define VIREO_VIRTIO_NET_H

#include "vireo/net/tap.h"
#include "vireo/virtio/virtio.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Feature bits (virtio 1.2, 5.1.3). */
#define VIRTIO_NET_F_CSUM	   0
#define VIRTIO_NET_F_GUEST_CSUM	   1
#define VIRTIO_NET_F_MAC	   5
#define VIRTIO_NET_F_GUEST_TSO4	   7
#define VIRTIO_NET_F_GUEST_TSO6	   8
#define VIRTIO_NET_F_GUEST_ECN	   9
#define VIRTIO_NET_F_GUEST_UFO	   10
#define VIRTIO_NET_F_HOST_TSO4	   11
#define VIRTIO_NET_F_HOST_TSO6	   12
#define VIRTIO_NET_F_HOST_ECN	   13
#define VIRTIO_NET_F_HOST_UFO	   14
#define VIRTIO_NET_F_MRG_RXBUF	   15
#define VIRTIO_NET_F_STATUS	   16
#define VIRTIO_NET_F_CTRL_VQ	   17
#define VIRTIO_NET_F_CTRL_RX	   18
#define VIRTIO_NET_F_MQ		   22
#define VIRTIO_NET_F_CTRL_MAC_ADDR 23

#define VIRTIO_NET_S_LINK_UP 1

/* The header in front of every frame (VERSION_1: always with num_buffers). */
struct virtio_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE	    0
#define VIRTIO_NET_HDR_GSO_TCPV4    1
#define VIRTIO_NET_HDR_GSO_UDP	    3
#define VIRTIO_NET_HDR_GSO_TCPV6    4
#define VIRTIO_NET_HDR_GSO_ECN	    0x80

#define NET_ETH_HLEN	14
#define NET_MAX_FRAME	65536u /* a transmitted frame, header not counted */
#define NET_MAX_DEVICES 4
/* Queue pairs of one device: a tap queue each, 2 virtqueues each, plus control. */
#define NET_MAX_PAIRS TAP_MAX_QUEUES

/* --net tap=NAME[,mac=52:54:00:xx:xx:xx][,queues=N] as parsed. */
struct net_config {
	char tap[IFNAMSIZ];
	uint8_t mac[6];
	bool has_mac;	 /* else 52:54:00:12:34:(0x56 + index) */
	unsigned queues; /* queue pairs (VIRTIO_NET_F_MQ when > 1), a tap queue each */
};

/* 0, or -1 with a one-line reason in err (no "vireo:" prefix). */
int virtio_net_parse_arg(const char *arg, struct net_config *out, char *err, size_t errlen);

/*
 * Why a transmitted frame of frame_len bytes (header excluded) with header h
 * cannot go out under the negotiated features: NULL when it can.
 */
const char *virtio_net_check_tx(const struct virtio_net_hdr *h, size_t frame_len,
				uint64_t features);

/* Counters, reported as "net" in the device's JSON. */
struct virtio_net_stats {
	uint64_t tx_packets, tx_bytes;
	uint64_t rx_packets, rx_bytes;
	uint64_t tx_dropped;   /* the tap refused a frame (or the link is gone) */
	uint64_t rx_dropped;   /* a frame read failed */
	uint64_t tx_malformed; /* guest's fault: bad chain or header */
	uint64_t tso_frames;   /* frames that carried a GSO type, either way */
	uint64_t rx_bad_buffers;
	uint64_t tx_blocked;  /* times the tap's queue was full */
	uint64_t link_down;   /* 1 once the tap went away */
	unsigned queue_pairs; /* in use (virtio_net_get_stats) */
};

/*
 * Make vdev a virtio-net over tap `tap` (already open; the device takes it
 * and closes it). vdev->io must be set: the tap's fds are watched there.
 * `index` picks the default MAC. 0, or -1 after one line.
 */
int virtio_net_setup(struct virtio_dev *vdev, const struct net_config *cfg, struct tap *tap,
		     unsigned index);

/* The device's counters (read after the I/O threads stopped, or in tests). */
struct virtio_net_stats virtio_net_get_stats(const struct virtio_dev *vdev);

#endif
