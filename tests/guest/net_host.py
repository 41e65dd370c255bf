#!/usr/bin/env python3
"""The host end of the virtio-net tests: a raw AF_PACKET socket on the tap.

    net_host.py send IFACE COUNT SIZE READY_FILE   send COUNT frames (EtherType
        0x88b5, seq in the first 4 payload bytes) once READY_FILE holds a line
        ending in ': ready'; paced (a pause every 32 frames) so none is lost
        to a full tap queue.
    net_host.py echo IFACE COUNT READY_FILE        turn COUNT 0x88b5 frames
        around as 0x88b6 (same payload), to the sender's MAC.
    net_host.py delete IFACE READY_FILE            delete the interface once
        the guest is ready (the tap goes away under a running VM).

Prints one line with what it did; exits 1 when it could not (no ready line
within the time limit, a receive timeout).
"""
import os
import socket
import struct
import subprocess
import sys
import time

ETH_P_TEST = 0x88B5
ETH_P_ECHO = 0x88B6
WAIT_S = 60


def wait_ready(path):
    end = time.monotonic() + WAIT_S
    while time.monotonic() < end:
        try:
            with open(path, errors="replace") as f:
                if any(line.rstrip().endswith(": ready") for line in f):
                    return True
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    print("net_host: the guest never said it was ready")
    return False


def open_socket(iface, proto):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
    s.bind((iface, 0))
    # The test boots the guest only after this line: a frame the guest sends
    # at once must find the socket there.
    print("net_host: listening", flush=True)
    return s


def send(iface, count, size, ready):
    s = open_socket(iface, ETH_P_TEST)
    src = bytes.fromhex("020000000001")
    if not wait_ready(ready):
        return 1
    pad = b"vireo" * (size // 5 + 1)
    for i in range(count):
        frame = b"\xff" * 6 + src + struct.pack(">HI", ETH_P_TEST, i)
        frame += pad[: max(0, size - len(frame))]
        s.send(frame)
        if i % 32 == 31:
            time.sleep(0.002)
    print(f"net_host: sent {count} frames of {size} bytes")
    return 0


def echo(iface, count, ready):
    s = open_socket(iface, ETH_P_TEST)
    s.settimeout(WAIT_S)
    if not wait_ready(ready):
        return 1
    for i in range(count):
        try:
            frame = s.recv(65536)
        except socket.timeout:
            print(f"net_host: echoed {i} of {count} frames, then nothing came")
            return 1
        s.send(frame[6:12] + frame[6:12] + struct.pack(">H", ETH_P_ECHO) + frame[14:])
    print(f"net_host: echoed {count} frames")
    return 0


def delete(iface, ready):
    print("net_host: listening", flush=True)
    if not wait_ready(ready):
        return 1
    subprocess.run(["ip", "link", "del", iface], check=True)
    print(f"net_host: deleted {iface}")
    return 0


def main(argv):
    mode, iface = argv[1], argv[2]
    if mode == "send":
        return send(iface, int(argv[3]), int(argv[4]), argv[5])
    if mode == "echo":
        return echo(iface, int(argv[3]), argv[4])
    if mode == "delete":
        return delete(iface, argv[3])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
