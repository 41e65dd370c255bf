#!/usr/bin/env python3
# tests/fuzz/gen-corpus-blk.py -- write the seed corpus of fuzz_blk
# (tests/fuzz/corpus/blk/): well-formed and malformed virtio-blk requests in
# the input layout described in fuzz_blk.c, in both of its modes.
# Re-run it after changing that layout; the files are committed.
import os
import struct
import sys

RAM = 16384
T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WZ = 0, 1, 4, 8, 11, 13
F_NEXT, F_WRITE = 1, 2


def hdr(t, sector):
    return struct.pack("<IIQ", t, 0, sector)


def seg(sector, num, flags=0):
    return struct.pack("<QII", sector, num, flags)


def chain(out, inn, flags=0):
    """out/inn: lists of (offset, bytes-or-length); returns a chain-mode input."""
    ram = bytearray(RAM)
    table = b""
    for off, b in out + inn:
        if isinstance(b, int):
            table += struct.pack("<HH", off, b)
        else:
            ram[off:off + len(b)] = b
            table += struct.pack("<HH", off, len(b))
    return bytes([flags & ~1, len(out), len(inn), 0]) + table + bytes(ram)


def device(chains, log2size=3, flags=0, rings=(0x100, 0x200, 0x300)):
    """chains: lists of (addr, bytes-or-length, writable) buffers; device-mode input."""
    size = 1 << log2size
    ram = bytearray(RAM)
    d = 0
    for n, c in enumerate(chains):
        head = d
        for i, (addr, b, w) in enumerate(c):
            length = b if isinstance(b, int) else len(b)
            if not isinstance(b, int):
                ram[addr:addr + len(b)] = b
            fl = (F_NEXT if i + 1 < len(c) else 0) | (F_WRITE if w else 0)
            struct.pack_into("<QIHH", ram, rings[0] + 16 * d, addr, length, fl, d + 1)
            d += 1
        struct.pack_into("<H", ram, rings[1] + 4 + 2 * (n % size), head)
    head = struct.pack("<BBHHHHH", 1 | flags, log2size, *rings, len(chains), 0)
    return head + bytes(ram)


def pattern(n, seed):
    return bytes(((i * 131) ^ seed) & 0xFF for i in range(n))


seeds = {
    "out": chain([(0, hdr(T_OUT, 4)), (512, pattern(1024, 1))], [(4000, 1)]),
    "in-split-header": chain([(0, hdr(T_IN, 8)[:5]), (64, hdr(T_IN, 8)[5:])],
                             [(1024, 512), (2048, 513)]),
    "discard": chain([(0, hdr(T_DISCARD, 0) + seg(8, 16) + seg(64, 8))], [(900, 1)]),
    "write-zeroes-unmap": chain([(0, hdr(T_WZ, 0)), (32, seg(0, 24, 1))], [(900, 1)]),
    "get-id": chain([(0, hdr(T_GET_ID, 0))], [(100, 20), (200, 1)]),
    "flush": chain([(0, hdr(T_FLUSH, 99))], [(100, 1)]),
    "no-status": chain([(0, hdr(T_IN, 0)), (512, 512)], []),
    "ro-write": chain([(0, hdr(T_OUT, 0)), (512, 512)], [(2000, 1)], flags=2),
    "direct-unaligned": chain([(0, hdr(T_IN, 0))], [(520, 512), (2000, 1)], flags=4),
    "beyond-capacity": chain([(0, hdr(T_IN, 127))], [(512, 1024), (2000, 1)]),
    "device-rw": device([
        [(0x1000, hdr(T_OUT, 2), False), (0x1200, pattern(1024, 7), False), (0x1800, 1, True)],
        [(0x2000, hdr(T_IN, 2), False), (0x2200, 1024, True), (0x2800, 1, True)],
        [(0x3000, hdr(T_FLUSH, 0), False), (0x3010, 1, True)],
    ]),
    "device-ro-discard": device([
        [(0x1000, hdr(T_DISCARD, 0) + seg(0, 8), False), (0x1100, 1, True)],
        [(0x2000, hdr(T_GET_ID, 0), False), (0x2100, 21, True)],
    ], flags=2),
}

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "blk")
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    # The fuzzer zero-pads RAM (and the iovec table): trailing zeros need not be stored.
    data = data.rstrip(b"\0")
    data += bytes(max(0, 12 - len(data)))
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
