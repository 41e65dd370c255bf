#!/usr/bin/env python3
# tests/fuzz/gen-corpus-virtqueue.py -- write the seed corpus of
# fuzz_virtqueue (tests/fuzz/corpus/virtqueue/): a few well-formed and
# malformed queues in the input layout described in fuzz_virtqueue.c.
# Re-run it after changing that layout; the files are committed.
import os
import struct
import sys

HDR = 28
RAM = 4096
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4
EVENT_IDX, INDIRECT, TWO_SLOTS, PROCESS = 0x10, 0x20, 0x40, 0x80
DESC, AVAIL, USED = 0x100, 0x400, 0x600


class Seed:
    def __init__(self, log2size, flags=0, rounds=1, last_avail=0, used_idx=0, ram=RAM,
                 rings=(DESC, AVAIL, USED), ram_shift=0):
        self.size = 1 << log2size
        self.ram_shift = ram_shift  # RAM >= 4 KiB << ram_shift, the image repeated
        self.rings = rings
        self.cfg = log2size | flags
        self.rounds = rounds
        self.last_avail = last_avail
        self.used_idx = used_idx
        self.script = bytearray(16)
        self.ram = bytearray(ram)
        self.avail_idx = last_avail
        self.put16(rings[1] + 2, last_avail)  # the driver's idx; the script adds to it
        self.put16(rings[2] + 2, used_idx)

    def put16(self, off, v):
        struct.pack_into("<H", self.ram, off, v & 0xFFFF)

    def desc(self, i, addr, length, flags=0, nxt=0, table=None):
        table = self.rings[0] if table is None else table
        struct.pack_into("<QIHH", self.ram, table + 16 * i, addr, length, flags, nxt)

    def avail(self, head):
        """Put head in the next avail slot (the script publishes it)."""
        self.put16(self.rings[1] + 4 + 2 * (self.avail_idx % self.size), head)
        self.avail_idx += 1

    def data(self):
        hdr = struct.pack("<BBHHHHH", self.cfg, (self.rounds - 1) | self.ram_shift << 4, *self.rings,
                          self.last_avail, self.used_idx)
        assert len(hdr) + len(self.script) == HDR
        return hdr + bytes(self.script) + bytes(self.ram)


def seeds():
    # Two plain chains: out+in, in only.
    s = Seed(3)
    s.desc(0, 0x800, 16, F_NEXT, 1)
    s.desc(1, 0x900, 32, F_WRITE)
    s.desc(2, 0xA00, 8, F_WRITE)
    s.avail(0)
    s.avail(2)
    s.script[0] = 2
    yield "simple", s

    # The same, completed later in reverse order, through virtio_process_queue.
    s.cfg |= PROCESS
    s.script[0] = 2 | 0x40
    yield "process-keep", s

    # Indirect table with EVENT_IDX, two rounds.
    s = Seed(3, EVENT_IDX | INDIRECT, rounds=2)
    s.desc(0, 0xC00, 48, F_INDIRECT)
    s.desc(0, 0x800, 16, F_NEXT, 2, table=0xC00)
    s.desc(2, 0x900, 16, F_NEXT, 1, table=0xC00)
    s.desc(1, 0xA00, 64, F_WRITE, table=0xC00)
    s.desc(1, 0xB00, 4, F_NEXT, 2)
    s.desc(2, 0xC00, 48, F_INDIRECT)
    s.avail(0)
    s.avail(1)
    s.script[0] = 1 | 0x20
    s.script[1] = 1 | 0x10
    yield "indirect-event-idx", s

    # Indices about to wrap.
    s = Seed(2, EVENT_IDX | PROCESS, rounds=3, last_avail=65534, used_idx=65534)
    for i in range(4):
        s.desc(i, 0x800 + 0x40 * i, 16, F_WRITE)
    for i in range(4):
        s.avail(i)
    s.script[0] = 2
    s.script[1] = 2 | 0x20
    s.script[2] = 0x80
    yield "wraparound", s

    # A buffer in the second RAM slot, at 4 GiB.
    s = Seed(3, TWO_SLOTS, ram=8192)
    s.desc(0, 0x800, 16, F_NEXT, 1)
    s.desc(1, (1 << 32) + 0x10, 32, F_WRITE)
    s.avail(0)
    s.script[0] = 1
    yield "two-slots", s

    # Malformed: a loop, a readable after a writable, a next out of range.
    s = Seed(3, rounds=2)
    s.desc(0, 0x800, 16, F_NEXT, 1)
    s.desc(1, 0x800, 16, F_NEXT, 0)
    s.desc(2, 0x800, 16, F_WRITE | F_NEXT, 3)
    s.desc(3, 0x800, 16, 0)
    s.desc(4, 0x800, 16, F_NEXT, 9)
    s.avail(0)
    s.avail(2)
    s.avail(4)
    s.script[0] = 3
    s.script[1] = 15
    yield "malformed", s

    # A big queue, many descriptors in one chain.
    s = Seed(8, PROCESS | INDIRECT, ram=8192, rings=(0x100, 0x1100, 0x1400))
    for i in range(64):
        s.desc(i, 0x1C00 + 8 * i, 8, (F_WRITE if i >= 32 else 0) | (F_NEXT if i < 63 else 0),
               i + 1)
    s.avail(0)
    s.script[0] = 1
    yield "long-chain", s

    # More than VIRTQ_MAX_IOV buffers: a two-entry loop in a 1040-entry
    # indirect table, in 32 KiB of RAM made of the 4 KiB image repeated (the
    # table at 0x1000 starts with the image's first bytes).
    s = Seed(3, INDIRECT, ram_shift=3)
    s.desc(0, 0x1000, 1040 * 16, F_INDIRECT)
    s.desc(0, 0x800, 1, F_NEXT, 1, table=0)
    s.desc(1, 0x800, 1, F_NEXT, 0, table=0)
    s.avail(0)
    s.script[0] = 1
    yield "too-many-buffers", s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "virtqueue")
    os.makedirs(out, exist_ok=True)
    for name, s in seeds():
        with open(os.path.join(out, name), "wb") as f:
            f.write(s.data())


if __name__ == "__main__":
    main()
