#!/usr/bin/env python3
"""tests/emu-kvm/cpu-dump.py MONITOR_SOCKET KALLSYMS -- where are L1's CPUs?

run-in-vm.sh calls this when a run is about to time out: it asks QEMU's human
monitor for every vCPU's registers, three times a second apart, and names the
L1 kernel function each instruction pointer is in (from a copy of L1's
/proc/kallsyms; L1 boots with nokaslr, so its addresses hold from boot to
boot). An
address outside L1's kernel text is L1 user space or an L2 guest (under
nested SVM, QEMU shows the state of whatever the CPU runs now). Diagnostics
only: prints what it can and never fails the caller.
"""
import bisect
import re
import socket
import sys
import time


def monitor(sock_path, commands):
    out = []
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock_path)

    def until_prompt():
        buf = b""
        while not buf.endswith(b"(qemu) "):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf.decode(errors="replace")

    until_prompt()  # banner
    for c in commands:
        s.sendall(c.encode() + b"\n")
        text = until_prompt()
        # The monitor echoes the command line (with terminal escapes) first.
        out.append(text.split("\n", 1)[1] if "\n" in text else text)
    s.close()
    return out


def load_symbols(path):
    addrs, names = [], []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                # "ADDR t NAME" or "ADDR t NAME [MODULE]"
                if len(parts) >= 3 and parts[1] in "tT":
                    addrs.append(int(parts[0], 16))
                    names.append(" ".join(parts[2:]))
    except OSError:
        pass
    order = sorted(range(len(addrs)), key=addrs.__getitem__)
    return [addrs[i] for i in order], [names[i] for i in order]


def describe(rip, addrs, names):
    i = bisect.bisect_right(addrs, rip) - 1
    if i >= 0 and rip - addrs[i] < 0x10000 and rip >= 0xFFFF800000000000:
        return "L1 kernel %s+0x%x" % (names[i], rip - addrs[i])
    return "not L1 kernel text (L1 user space or an L2 guest)"


def main():
    sock_path, kallsyms = sys.argv[1], sys.argv[2]
    addrs, names = load_symbols(kallsyms)
    try:
        print(monitor(sock_path, ["info cpus"])[0].rstrip().replace("\r", ""))
        for sample in range(3):
            if sample:
                time.sleep(1)
            regs = monitor(sock_path, ["info registers -a"])[0].replace("\r", "")
            cpus = re.split(r"\n(?=CPU#\d+)", "\n" + regs.strip())
            for block in cpus:
                m = re.search(r"CPU#(\d+)", block)
                rip = re.search(r"RIP=([0-9a-f]+)", block)
                cpl = re.search(r"CPL=(\d)", block)
                hlt = re.search(r"HLT=(\d)", block)
                if not (m and rip):
                    continue
                r = int(rip.group(1), 16)
                print(
                    "sample %d CPU %s: RIP=%016x CPL=%s HLT=%s  %s"
                    % (
                        sample,
                        m.group(1),
                        r,
                        cpl.group(1) if cpl else "?",
                        hlt.group(1) if hlt else "?",
                        describe(r, addrs, names),
                    )
                )
            if sample == 0:
                print(regs.strip())
    except (OSError, IndexError) as e:
        print("cpu-dump: cannot read the monitor: %s" % e)


if __name__ == "__main__":
    main()
