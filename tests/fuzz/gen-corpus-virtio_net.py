#!/usr/bin/env python3
# tests/fuzz/gen-corpus-virtio_net.py -- write the seed corpus of
# fuzz_virtio_net (tests/fuzz/corpus/virtio_net/): transmit, receive, control
# and link-down scenarios in the input layout described in fuzz_virtio_net.c.
# Re-run it after changing that layout; the files are committed.
import os
import struct
import sys

HDR = 32
RAM = 16384
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4

# virtio-net feature bits (include/vireo/virtio/net.h), transport bits as the fuzzer maps them.
CSUM, GUEST_CSUM, MAC, GUEST_TSO4 = 1 << 0, 1 << 1, 1 << 5, 1 << 7
HOST_TSO4, HOST_TSO6, HOST_UFO, MRG_RXBUF = 1 << 11, 1 << 12, 1 << 14, 1 << 15
STATUS, CTRL_VQ, CTRL_RX, CTRL_MAC_ADDR = 1 << 16, 1 << 17, 1 << 18, 1 << 23
INDIRECT, EVENT_IDX = 1 << 28, 1 << 29

# Actions (byte 6).
KICK_TX, IO_ROUND, KICK_RX, KICK_CTRL, FILL, AGAIN = 0x01, 0x02, 0x04, 0x08, 0x10, 0x80
GONE = 1  # byte 7: the device over a detached tun fd

NEEDS_CSUM = 1
GSO_TCPV4 = 1
RXQ, TXQ, CTRLQ = 0, 1, 2
# Rings of queues 0, 1, 2 (room for 16 entries each), then buffers.
RINGS = [(0x100, 0x200, 0x280), (0x400, 0x500, 0x580), (0x700, 0x800, 0x880)]
DATA = 0x1000


def vnet_hdr(flags=0, gso=0, hdr_len=0, gso_size=0, csum_start=0, csum_offset=0, num_buffers=0):
    return struct.pack("<BBHHHHH", flags, gso, hdr_len, gso_size, csum_start, csum_offset,
                       num_buffers)


def pattern(n, seed):
    return bytes(((i * 131) ^ seed) & 0xFF for i in range(n))


def eth_frame(n, seed=0):
    # dst, src, IPv4 ethertype, then a pattern.
    return bytes.fromhex("525400123456" "525400abcdef" "0800") + pattern(n - 14, seed)


class Seed:
    def __init__(self, features=0, log2=(4, 4, 4), actions=0, mode=0, start=(0, 0, 0)):
        self.features = features
        self.log2 = log2
        self.actions = actions
        self.mode = mode
        self.start = list(start)
        self.frames = []
        self.ram = bytearray(RAM)
        self.data = DATA
        self.next_desc = [0, 0, 0]
        self.avail_idx = list(start)

    def alloc(self, n):
        g = self.data
        self.data = (self.data + n + 15) & ~15
        assert self.data <= RAM
        return g

    def buf(self, content_or_len):
        if isinstance(content_or_len, int):
            return self.alloc(content_or_len), content_or_len
        g = self.alloc(len(content_or_len))
        self.ram[g:g + len(content_or_len)] = content_or_len
        return g, len(content_or_len)

    def desc(self, q, i, addr, length, flags, nxt):
        struct.pack_into("<QIHH", self.ram, RINGS[q][0] + 16 * i, addr, length, flags, nxt)

    def publish(self, q, head):
        size = 1 << self.log2[q]
        avail = RINGS[q][1]
        struct.pack_into("<H", self.ram, avail + 4 + 2 * (self.avail_idx[q] % size), head)
        self.avail_idx[q] = (self.avail_idx[q] + 1) & 0xFFFF
        struct.pack_into("<H", self.ram, avail + 2, self.avail_idx[q])

    def chain(self, q, bufs):
        """bufs: (content-or-length, writable); returns the head."""
        size = 1 << self.log2[q]
        head = self.next_desc[q]
        for i, (b, w) in enumerate(bufs):
            addr, length = self.buf(b)
            idx = (head + i) % size
            flags = (F_NEXT if i + 1 < len(bufs) else 0) | (F_WRITE if w else 0)
            self.desc(q, idx, addr, length, flags, (idx + 1) % size)
        self.next_desc[q] = (head + len(bufs)) % size
        self.publish(q, head)
        return head

    def tx(self, pkt, cuts=()):
        pieces, off = [], 0
        for c in cuts:
            pieces.append((pkt[off:off + c], False))
            off += c
        pieces.append((pkt[off:], False))
        return self.chain(TXQ, pieces)

    def rx_buffers(self, n, size):
        for _ in range(n):
            self.chain(RXQ, [(size, True)])

    def ctrl(self, cmd):
        return self.chain(CTRLQ, [(cmd, False), (1, True)])

    def feed(self, pkt):
        self.frames.append(pkt)

    def bytes(self):
        assert len(self.frames) < 16
        head = struct.pack("<IBBBB", self.features, self.log2[0] | self.log2[1] << 4,
                           self.log2[2] | len(self.frames) << 4, self.actions, self.mode)
        for d, a, u in RINGS:
            head += struct.pack("<HHH", d, a, u)
        head += struct.pack("<HHH", *self.start)
        assert len(head) == HDR
        body = b"".join(struct.pack("<H", len(f)) + f for f in self.frames)
        return head + body + bytes(self.ram)


def seeds():
    # Two frames: header and frame in one buffer; header split, frame in two.
    s = Seed(actions=KICK_TX)
    s.tx(vnet_hdr() + eth_frame(60, 1))
    s.tx(vnet_hdr() + eth_frame(300, 2), cuts=(5, 7 + 20))
    yield "tx-simple", s

    # A TCPv4 GSO frame with a partial checksum, through an indirect table, EVENT_IDX.
    s = Seed(CSUM | HOST_TSO4 | INDIRECT | EVENT_IDX, actions=KICK_TX)
    pkt = vnet_hdr(NEEDS_CSUM, GSO_TCPV4, 54, 1448, 34, 16) + eth_frame(3000, 3)
    table = s.alloc(3 * 16)
    a, _ = s.buf(pkt[:12])
    b, _ = s.buf(pkt[12:1000])
    c, _ = s.buf(pkt[1000:])
    struct.pack_into("<QIHH", s.ram, table, a, 12, F_NEXT, 1)
    struct.pack_into("<QIHH", s.ram, table + 16, b, 988, F_NEXT, 2)
    struct.pack_into("<QIHH", s.ram, table + 32, c, len(pkt) - 1000, 0, 0)
    s.desc(TXQ, 0, table, 48, F_INDIRECT, 0)
    s.next_desc[TXQ] = 1
    s.publish(TXQ, 0)
    yield "tx-gso-indirect", s

    # Malformed: short, a writable buffer, NEEDS_CSUM without CSUM, a runt; then a good one.
    s = Seed(actions=KICK_TX)
    s.tx(vnet_hdr()[:11])
    s.chain(TXQ, [(vnet_hdr() + eth_frame(60), False), (64, True)])
    s.tx(vnet_hdr(NEEDS_CSUM, 0, 0, 0, 34, 16) + eth_frame(100))
    s.tx(vnet_hdr() + eth_frame(14)[:13])
    s.tx(vnet_hdr() + eth_frame(60, 4))
    yield "tx-malformed", s

    # GSO headers the features or the frame do not allow: UDP without HOST_UFO,
    # gso_size 0, hdr_len past the frame, an unknown type; then a good one.
    s = Seed(CSUM | HOST_TSO4 | HOST_TSO6, actions=KICK_TX)
    s.tx(vnet_hdr(NEEDS_CSUM, 3, 42, 1472, 34, 6) + eth_frame(2000))
    s.tx(vnet_hdr(NEEDS_CSUM, GSO_TCPV4, 54, 0, 34, 16) + eth_frame(2000))
    s.tx(vnet_hdr(NEEDS_CSUM, GSO_TCPV4, 2001, 1448, 34, 16) + eth_frame(2000))
    s.tx(vnet_hdr(NEEDS_CSUM, 2, 54, 1448, 34, 16) + eth_frame(200))
    s.tx(vnet_hdr(NEEDS_CSUM, 4, 74, 1428, 54, 16) + eth_frame(3000, 20))
    yield "tx-gso-bad", s

    # More than 64 KiB: six descriptors over the same 11 KiB buffer.
    s = Seed(actions=KICK_TX)
    a, n = s.buf(vnet_hdr() + eth_frame(11000, 21))
    for i in range(6):
        s.desc(TXQ, i, a, n, F_NEXT if i < 5 else 0, i + 1)
    s.next_desc[TXQ] = 6
    s.publish(TXQ, 0)
    yield "tx-over-64k", s

    # A full tap: the frames wait for EPOLLOUT.
    s = Seed(actions=FILL | KICK_TX)
    for i in range(3):
        s.tx(vnet_hdr() + eth_frame(100 + i, 5 + i))
    yield "tx-full-tap", s

    # Receive: two buffers, two frames from the tap.
    s = Seed(GUEST_CSUM, actions=IO_ROUND)
    s.rx_buffers(2, 12 + 1514)
    s.feed(vnet_hdr(2) + eth_frame(60, 6))
    s.feed(vnet_hdr(num_buffers=0xFFFF) + eth_frame(200, 7))
    yield "rx-simple", s

    # Mergeable buffers of 112 bytes: a 1000-byte frame over ten, then one more.
    s = Seed(MRG_RXBUF, actions=IO_ROUND)
    s.rx_buffers(16, 112)
    s.feed(vnet_hdr() + eth_frame(1000, 8))
    s.feed(vnet_hdr() + eth_frame(50, 9))
    yield "rx-mergeable", s

    # A GSO frame for a guest that takes them, into mergeable buffers it does not fit.
    s = Seed(MRG_RXBUF | GUEST_CSUM | GUEST_TSO4, actions=IO_ROUND)
    s.rx_buffers(8, 1024)
    s.feed(vnet_hdr(NEEDS_CSUM, GSO_TCPV4, 54, 1448, 34, 16) + eth_frame(12000, 10))
    yield "rx-gso-truncated", s

    # No buffers: the frame stays in the tap, through every action twice.
    s = Seed(actions=IO_ROUND | KICK_RX | AGAIN)
    s.feed(vnet_hdr() + eth_frame(80, 11))
    yield "rx-no-buffers", s

    # Buffers the device cannot use, then a good one; a frame shorter than a
    # header (dropped: the good frame behind it comes with the next EPOLLIN).
    s = Seed(actions=IO_ROUND | KICK_RX | AGAIN)
    s.chain(RXQ, [(11, True)])
    s.chain(RXQ, [(16, False), (2000, True)])
    s.chain(RXQ, [(0, True)])
    s.rx_buffers(1, 12 + 1514)
    s.feed(b"\x00" * 5)
    s.feed(vnet_hdr() + eth_frame(64, 12))
    yield "rx-bad-buffers", s

    # The control queue: promiscuous, all-multicast, MAC_ADDR_SET, a MAC table, unknown.
    s = Seed(CTRL_VQ | CTRL_RX | CTRL_MAC_ADDR | MAC, actions=KICK_CTRL)
    s.ctrl(bytes([0, 0, 1]))
    s.ctrl(bytes([0, 1, 0]))
    s.ctrl(bytes([1, 1, 0x02, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE]))
    s.ctrl(bytes([1, 0]) + struct.pack("<I", 0) + struct.pack("<I", 1) + bytes(6))
    s.ctrl(bytes([9, 9]))
    s.chain(CTRLQ, [(bytes([0]), False)])
    yield "ctrl", s

    # Link down: a frame to send and a buffer to fill on a tap that is gone.
    s = Seed(STATUS, actions=KICK_TX | IO_ROUND | KICK_RX, mode=GONE)
    s.rx_buffers(1, 12 + 1514)
    s.tx(vnet_hdr() + eth_frame(60, 13))
    yield "link-down", s

    # Link down found by a read (EPOLLERR, then EBADFD), before anything is sent.
    s = Seed(STATUS, actions=IO_ROUND | KICK_RX | KICK_TX, mode=GONE)
    s.rx_buffers(2, 12 + 1514)
    s.tx(vnet_hdr() + eth_frame(60, 22))
    yield "link-down-rx", s

    # Everything at once, indices about to wrap, every action twice.
    s = Seed(CSUM | GUEST_CSUM | MRG_RXBUF | CTRL_VQ | CTRL_RX | STATUS | EVENT_IDX,
             log2=(3, 2, 1), actions=0xFF, start=(65534, 65535, 65535))
    s.rx_buffers(6, 512)
    s.tx(vnet_hdr() + eth_frame(60, 14))
    s.tx(vnet_hdr(NEEDS_CSUM, 0, 0, 0, 34, 6) + eth_frame(500, 15), cuts=(12,))
    s.ctrl(bytes([0, 0, 1]))
    s.feed(vnet_hdr() + eth_frame(700, 16))
    s.feed(vnet_hdr() + eth_frame(60, 17))
    yield "everything-wrap", s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "virtio_net")
    os.makedirs(out, exist_ok=True)
    for name, s in seeds():
        with open(os.path.join(out, name), "wb") as f:
            f.write(s.bytes())


if __name__ == "__main__":
    main()
