#!/usr/bin/env python3
# tests/fuzz/gen-corpus-virtio_pci.py -- write the seed corpus of
# fuzz_virtio_pci (tests/fuzz/corpus/virtio_pci/): operation sequences in the
# input layout described in fuzz_virtio_pci.c (a flags byte, then opcodes
# with their arguments): a driver's start-up and requests, a reset with
# requests in flight, Bus Master toggled under I/O, MSI-X masking, a
# re-activation, INTx, the PCI_CFG window and config space itself.
# Re-run it after changing that layout; the files are committed.
import os
import struct
import sys

(CFG_WR, CFG_RD, MMIO_WR, MMIO_RD, COMMON_WR, STATUS, NOTIFY, MSIX_WR, RAM_WR, DESC, AVAIL,
 INIT, REQ, IO_RUN, IO_WAIT, COMMAND, MSIX_CTRL, WINDOW) = range(18)
# request types, as fuzz_virtio_pci.c's table indexes them
T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WZ = range(6)
# INIT choices
EVENT_IDX, INDIRECT, MSIX, NO_DRIVER_OK, NO_ENABLE, RINGS = 1, 2, 4, 8, 16, 32
MEM, MASTER, INTX_DISABLE = 0x2, 0x4, 0x400


def init(log2_qsize=4, how=EVENT_IDX | INDIRECT | MSIX):
    return bytes([INIT, log2_qsize, how])


def req(t, sector=0, sectors=1, how=0):
    return bytes([REQ, t, sector, sectors, how])


def status(v):
    return bytes([STATUS, v])


def command(v):
    return bytes([COMMAND]) + struct.pack("<H", v)


def msix_ctrl(enable, maskall):
    return bytes([MSIX_CTRL, (0x80 if enable else 0) | (0x40 if maskall else 0)])


def msix_entry(vector, word, value):
    return bytes([MSIX_WR, vector, word]) + struct.pack("<I", value)


def mmio_rd(off, size_code):
    return bytes([MMIO_RD]) + struct.pack("<HB", off, size_code)


def cfg_wr(reg, value, size_code=2):
    return bytes([CFG_WR, 0, reg, size_code]) + struct.pack("<I", value)


def cfg_rd(reg, size_code=2):
    return bytes([CFG_RD, 0, reg, size_code])


def window(off, size_code, write=False, value=0):
    return bytes([WINDOW, size_code | (8 if write else 0)]) + struct.pack("<HI", off, value)


seeds = {
    # A driver's start-up, then each kind of request, waited for.
    "init-requests": bytes([1]) + init() + req(T_OUT, 2, 2) + bytes([IO_WAIT]) +
    req(T_IN, 2, 2) + req(T_FLUSH) + req(T_GET_ID) + bytes([IO_WAIT]) +
    req(T_DISCARD, 4, 2) + req(T_WZ, 8, 3, 0x40) + req(T_IN, 0, 3, 1) + bytes([IO_WAIT]),
    # Requests in flight when the driver resets; then start again.
    "reset-mid-flight": bytes([1]) + init() + req(T_OUT, 0, 4) + req(T_IN, 8, 4) +
    req(T_WZ, 16, 2) + status(0) + bytes([IO_WAIT]) + init(3) + req(T_IN, 0, 1) +
    bytes([IO_WAIT]),
    # Bus Master cleared with a request in flight and a doorbell while it is off.
    "bme-toggle": bytes([1]) + init() + req(T_OUT, 1, 1) + command(MEM) + req(T_IN, 1, 1) +
    bytes([IO_RUN, IO_WAIT]) + command(MEM | MASTER | INTX_DISABLE) + bytes([IO_WAIT]),
    # Bus Master cleared while a 4-segment WRITE_ZEROES runs step by step,
    # and a request posted (no doorbell) meanwhile.
    "bme-multiseg": bytes([1]) + init() + req(T_WZ, 0, 8, 0x18) + command(MEM) +
    req(T_IN, 0, 1, 4) + bytes([IO_RUN, IO_RUN]) + command(MEM | MASTER) + bytes([IO_WAIT]),
    # Function mask, entry mask, the PBA, and the unmask that delivers.
    "msix-mask": bytes([1]) + init() + msix_ctrl(True, True) + req(T_IN) + bytes([IO_WAIT]) +
    mmio_rd(0x5000, 3) + msix_ctrl(True, False) + msix_entry(1, 3, 1) + req(T_GET_ID) +
    bytes([IO_WAIT]) + mmio_rd(0x5000, 3) + msix_entry(1, 2, 0x41) + msix_entry(1, 3, 0),
    # DRIVER_OK cleared and set again without a reset, requests in flight.
    "reactivate": bytes([1]) + init() + req(T_OUT, 0, 2) + req(T_OUT, 4, 2) + status(0x0b) +
    status(0x0f) + req(T_IN, 0, 2) + bytes([IO_WAIT]) + status(0) + bytes([IO_WAIT]),
    # No MSI-X: INTx and the ISR.
    "intx": bytes([0]) + init(2, 0) + req(T_IN, 3, 1) + bytes([IO_WAIT]) +
    mmio_rd(0x1000, 0) + cfg_wr(0x04, MEM | MASTER | INTX_DISABLE) + req(T_FLUSH) +
    bytes([IO_WAIT]) + mmio_rd(0x1000, 0),
    # The PCI_CFG window: read the features, drive the status register.
    "cfg-window": bytes([1]) + window(0x04, 2) + window(0x14, 0, True, 1) +
    window(0x14, 0, True, 3) + window(0x12, 1) + window(0x2000, 2) + window(0x4000, 2, True, 7),
    # Config space: header, BAR sizing and a relocation attempt, capabilities.
    "config-space": bytes([0]) + cfg_rd(0x00, 2) + cfg_rd(0x34, 0) + cfg_wr(0x10, 0xffffffff) +
    cfg_rd(0x10) + cfg_wr(0x14, 0xffffffff) + cfg_rd(0x14) + cfg_wr(0x10, 0xd0000000) +
    cfg_rd(0x10) + cfg_wr(0x04, 0) + mmio_rd(0x14, 0) + cfg_wr(0x04, MEM) + cfg_rd(0x40, 2) +
    cfg_rd(0x3c, 0),
    # Rings the device must refuse (used ring over the descriptors), a
    # queue never enabled, then a good start.
    "bad-rings": bytes([1]) + init(4, EVENT_IDX | RINGS) + struct.pack("<HHH", 0, 0x1000, 0x10) +
    req(T_IN) + status(0) + init(4, EVENT_IDX | NO_ENABLE) + req(T_IN) + init(8) +
    req(T_OUT, 0, 7) + bytes([IO_WAIT]),
    # Tiny queue, no EVENT_IDX, more requests than slots, and a hand-made avail entry.
    "small-queue": bytes([0]) + init(1, INDIRECT) + req(T_IN, 0, 1) + req(T_OUT, 0, 1, 1) +
    req(T_IN, 0, 7) + bytes([AVAIL, 9, NOTIFY, 0, IO_WAIT]),
}

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus",
                                                         "virtio_pci")
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
