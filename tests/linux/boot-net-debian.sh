#!/usr/bin/env bash
# boot-net-debian.sh -- a real client for vireo's virtio-net: Debian's stock
# cloud kernel and its own virtio_net driver, over a tap in a network
# namespace this test creates (host end 10.0.2.1/24, guest 10.0.2.15/24).
#
# The initramfs holds busybox and the kernel package's modules (virtio,
# virtio_pci, failover, net_failover, virtio_net). Its /init brings eth0 up,
# pings the host, sends 4 MiB to the host over TCP and receives 4 MiB from
# it (busybox nc against a Python end on the host), prints "T: ..." lines and
# resets the machine through the i8042 (reboot=k), which ends vireo with
# status 0. Checks, per boot:
#   - probe: virtio_net binds the device (ID 1) with VERSION_1, EVENT_IDX,
#     MRG_RXBUF, CSUM and HOST_TSO4 negotiated;
#   - ping: 5 of 5 echo replies from the host;
#   - TCP both ways: the host received exactly the 4 MiB the guest sent, and
#     the guest received exactly the 4 MiB the host sent; vireo counted the
#     frames (net.tx_packets, net.rx_packets) and, guest to host, TSO frames;
#   - the fast paths: no doorbell reached userspace, no malformed chain, the
#     interrupts came the way the driver chose.
# Three times: with MSI-X (Linux's choice); with pci=nomsi (legacy INTx); and
# with 2 vCPUs on a multi_queue tap with --net ...,queues=2, where Linux
# negotiates VIRTIO_NET_F_MQ and asks for both pairs (net.queue_pairs 2),
# each pair served by its own I/O thread (the queues' "iothread" in the stats).
#
# On our PVM machines a stock kernel does not get this far (see
# boot-debian-kernel.sh): each boot that KVM stops in early boot is one SKIP
# line with vireo's account of it (kvm-limit.sh). Without /dev/kvm, `make
# check` runs this inside tests/emu-kvm. Exit status: 0, or 77 to skip.
# VIREO overrides the vireo binary (default build/vireo).
set -euo pipefail
# shellcheck source=tests/linux/kvm-limit.sh
source "$(dirname "${BASH_SOURCE[0]}")/kvm-limit.sh"
# shellcheck source=tests/linux/stock-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/stock-lib.sh"

CACHE=build/linux-cache
VIREO=${VIREO:-build/vireo}
TIMEOUT=300 # seconds for a whole boot
SUITE="virtio-net"
LOGDIR=build/test-logs/boot-net-debian
MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover
net_failover virtio_net"
NS=vireo-lnet-$$
TAP=vtap0
BYTES=$((4 << 20))

tmp=
host_pid=
cleanup() {
	[[ -z $host_pid ]] || kill "$host_pid" 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	[[ -z $tmp ]] || rm -rf "$tmp"
}
trap cleanup EXIT

stock_require ip python3
stock_kernel_deb
tmp=$(mktemp -d)

# --- the network: a namespace with the tap, the host end at 10.0.2.1 -------
# Two taps on one subnet would confuse the host's routing: one at a time.
make_tap() { # multi_queue or nothing
	ip -n "$NS" link del "$TAP" 2>/dev/null || true
	ip -n "$NS" tuntap add "$TAP" mode tap vnet_hdr $1 &&
		ip -n "$NS" addr add 10.0.2.1/24 dev "$TAP" && ip -n "$NS" link set "$TAP" up
}
ip netns add "$NS" && ip -n "$NS" link set lo up && make_tap "" ||
	skip "cannot create a tap in a network namespace here"

# The host's TCP ends: 5001 counts what the guest sends, 5002 sends BYTES.
cat >"$tmp/host.py" <<'PY'
import socket, sys, threading
nbytes, result = int(sys.argv[1]), sys.argv[2]
def sink():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.0.2.1", 5001)); s.listen(1)
    c, _ = s.accept(); n = 0
    while True:
        b = c.recv(1 << 16)
        if not b: break
        n += len(b)
    open(result, "w").write("%d\n" % n)
def source():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("10.0.2.1", 5002)); s.listen(1)
    c, _ = s.accept(); c.sendall(bytes(nbytes)); c.close()
threads = [threading.Thread(target=f, daemon=True) for f in (sink, source)]
for t in threads: t.start()
print("listening", flush=True)
for t in threads: t.join()
PY

# --- the initramfs: busybox, the modules, /init ---------------------------
root=$tmp/root
stock_initramfs_tree "$root" "$MODULES" './lib/modules/*/kernel/drivers/virtio/*' \
	'./lib/modules/*/kernel/drivers/net/virtio_net.ko*' \
	'./lib/modules/*/kernel/drivers/net/net_failover.ko*' \
	'./lib/modules/*/kernel/net/core/failover.ko*'
cat >"$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(echo $MODULES); do
	insmod /lib/modules/\$m.ko || echo "T: insmod-failed \$m"
done
for i in 1 2 3 4 5 6 7 8 9 10; do [ -d /sys/class/net/eth0 ] && break; sleep 0.5; done
for d in /sys/bus/virtio/devices/*; do
	echo "T: device \$(cat \$d/device) \$(cat \$d/features)"
done
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
echo "T: ping-received \$(ping -c 5 -W 5 10.0.2.1 | sed -n 's/.* \([0-9]*\) packets received.*/\1/p')"
head -c $BYTES /dev/zero | nc 10.0.2.1 5001 && echo "T: sent"
echo "T: received \$(nc 10.0.2.1 5002 </dev/null | wc -c)"
echo "T: rx-queues \$(ls -d /sys/class/net/eth0/queues/rx-* | wc -l)"
echo "T: msi-lines \$(grep -c 'PCI-MSI.*virtio' /proc/interrupts)"
echo "T: intx-lines \$(grep -c 'IO-APIC.*virtio' /proc/interrupts)"
echo "T: done"
reboot -f
EOF
stock_pack_initramfs "$root" "$tmp/initrd.gz"

# Feature bit N of a virtio features string (bit 0 first).
bit() { [[ ${1:$2:1} == 1 ]]; }

boot() { # MODE (msix, intx or mq), extra command line, extra vireo options...
	local mode=$1 extra=$2 name rc=0 err detail feat n net=tap=$TAP
	out=$tmp/$mode-serial.log stats=$tmp/$mode-stats.json tlog=$tmp/$mode-t.log
	case $mode in
	msix) name="MSI-X" ;;
	intx) name="INTx, pci=nomsi" ;;
	mq) name="MSI-X, 2 queue pairs" net=tap=$TAP,queues=2 ;;
	esac
	shift 2
	rm -f "$tmp/sink"
	ip netns exec "$NS" python3 "$tmp/host.py" "$BYTES" "$tmp/sink" >"$tmp/host.log" 2>&1 &
	host_pid=$!
	for n in $(seq 100); do grep -q listening "$tmp/host.log" && break; sleep 0.1; done
	ip netns exec "$NS" "$VIREO" run --kernel "$CACHE/vmlinux" --initrd "$tmp/initrd.gz" \
		--mem 512M "$@" --net "$net" --cmdline "console=ttyS0 panic=-1 reboot=k$extra" \
		--timeout "$TIMEOUT" --quiet --stats-json "$stats" </dev/null >"$out" 2>"$tmp/$mode-stderr.log" || rc=$?
	kill "$host_pid" 2>/dev/null || true
	wait "$host_pid" 2>/dev/null || true
	host_pid=
	tr -d '\r' <"$out" | sed -nE 's/^(\[ *[0-9.]+\] )?T: //p' >"$tlog"
	err=
	if [[ $rc -ne 0 ]] && detail=$(kvm_cannot_run "$stats"); then
		echo "SKIP: stock Linux virtio-net ($name): KVM cannot run this kernel here: $detail"
		return
	fi
	[[ $rc -eq 0 ]] || err="vireo exited with status $rc, want 0 (guest reset); last line: $(tail -n 1 "$out")"
	[[ -n $err ]] || grep -q '^done$' "$tlog" || err="the guest's /init did not finish"
	[[ -n $err || -s $stats ]] || err="vireo wrote no stats"
	if [[ -n $err ]]; then
		verdict "virtio-net ($name): boot" "$err"
		return
	fi

	err=
	n=$(sed -n 's/^insmod-failed //p' "$tlog" | tr '\n' ' ')
	[[ -z $n ]] || err="insmod failed: $n"
	feat=$(sed -n 's/^device 0x0001 //p' "$tlog")
	[[ -n $err || -n $feat ]] || err="no virtio device with ID 1 (net)"
	if [[ -z $err ]]; then
		bit "$feat" 32 || err="VERSION_1 not negotiated ($feat)"
		[[ -n $err ]] || bit "$feat" 29 || err="EVENT_IDX not negotiated"
		[[ -n $err ]] || bit "$feat" 15 || err="MRG_RXBUF not negotiated"
		[[ -n $err ]] || bit "$feat" 0 || err="CSUM not negotiated"
		[[ -n $err ]] || bit "$feat" 11 || err="HOST_TSO4 not negotiated"
	fi
	verdict "virtio-net ($name): virtio_net binds, VERSION_1 EVENT_IDX MRG_RXBUF CSUM HOST_TSO4" "$err"

	err=
	[[ $(t ping-received) == 5 ]] || err="$(t ping-received) of 5 ping replies"
	verdict "virtio-net ($name): ping the host, 5 of 5 replies" "$err"

	err=
	[[ $(cat "$tmp/sink" 2>/dev/null) == "$BYTES" ]] ||
		err="the host received $(cat "$tmp/sink" 2>/dev/null || echo nothing) bytes, want $BYTES"
	[[ -n $err || $(t received) == "$BYTES" ]] || err="the guest received $(t received) bytes, want $BYTES"
	[[ -n $err || $(st '.devices["virtio-net0"].net.tso_frames') -ge 1 ]] ||
		err="no TSO frame: the guest sent 4 MiB in MTU-sized frames"
	[[ -n $err || $(st '.devices["virtio-net0"].net.tx_bytes') -ge "$BYTES" ]] || err="net.tx_bytes below 4 MiB"
	[[ -n $err || $(st '.devices["virtio-net0"].net.rx_bytes') -ge "$BYTES" ]] || err="net.rx_bytes below 4 MiB"
	verdict "virtio-net ($name): 4 MiB each way over TCP, byte-exact, with TSO" "$err"

	err=
	n=$(st '.mmio["virtio-net0.notify"].exits // 0')
	[[ $n == 0 ]] || err="$n doorbells reached userspace"
	[[ -n $err || $(st '.devices["virtio-net0"].queues | map(.malformed) | add') == 0 ]] || err="malformed chains"
	[[ -n $err || $(st '.devices["virtio-net0"].net.tx_malformed') == 0 ]] || err="malformed frames"
	if [[ $mode != intx ]]; then
		[[ -n $err || $(st '.devices["virtio-net0"].intx_raised') == 0 ]] || err="INTx used"
		[[ -n $err || $(t msi-lines) -ge 2 ]] || err="Linux lists $(t msi-lines) virtio MSI vectors"
	else
		[[ -n $err || $(st '.devices["virtio-net0"].msix_raised') == 0 ]] || err="MSI-X sent"
		[[ -n $err || $(st '.devices["virtio-net0"].intx_raised') -ge 1 ]] || err="INTx never raised"
	fi
	verdict "virtio-net ($name): exit-free doorbells, no malformed chains, ${name%%,*} interrupts" "$err"

	[[ $mode == mq ]] || return 0
	err=
	bit "$feat" 22 || err="MQ not negotiated ($feat)"
	[[ -n $err || $(t rx-queues) == 2 ]] || err="eth0 has $(t rx-queues) receive queues, want 2"
	[[ -n $err || $(st '.devices["virtio-net0"].net.queue_pairs') == 2 ]] ||
		err="vireo uses $(st '.devices["virtio-net0"].net.queue_pairs') queue pairs, want 2"
	[[ -n $err || $(st '.devices["virtio-net0"].queues | length') == 5 ]] || err="not 5 virtqueues"
	# One I/O thread per pair (the default with queues=2): pair 1 on its own.
	n=$(st '[.devices["virtio-net0"].queues[].iothread] | map(tostring) | join(",")')
	[[ -n $err || $n == 0,0,1,1,0 ]] || err="queue I/O threads $n, want 0,0,1,1,0"
	[[ -n $err || $(st '.iothreads | length') == 2 ]] || err="$(st '.iothreads | length') I/O threads, want 2"
	verdict "virtio-net ($name): Linux negotiates MQ and uses both pairs, each on its own I/O thread" "$err"
}

boot msix ""
boot intx " pci=nomsi"
make_tap multi_queue || die "cannot create a multi_queue tap"
boot mq "" --cpus 2

if ((fails)); then
	mkdir -p "$LOGDIR"
	cp -f "$tmp"/*.log "$tmp"/*.json "$LOGDIR"/ 2>/dev/null || true
fi
exit 0
