#!/usr/bin/env bash
# tests/guest/net.sh -- virtio-net over a tap, under the test guest's driver.
#
# Each case gets a network namespace with one tap in it (`ip tuntap add ...
# mode tap vnet_hdr`, IPv6 off so the kernel sends the guest nothing of its
# own); vireo runs inside it, and tests/guest/net_host.py is the host end
# (AF_PACKET: sends, echoes, deletes the tap). Asserted: every frame sent
# arrives (counted on both ends), no userspace exit per frame with
# ioeventfd, one doorbell per batch, malformed frames dropped and counted
# exactly, a deleted tap taking the link down while the VM runs on, and the
# one-line errors for a missing tap, a bad MAC, a tap without permission.
source "$(dirname "$0")/lib.sh"

NS=vireo-net-$$
TAP=vtap0
HOST_PID=

in_ns() { ip netns exec "$NS" "$@"; }

# A fresh namespace with the tap up; vireo (through a wrapper) runs in it.
net_setup() {
	net_teardown
	ip netns add "$NS" &&
		in_ns ip tuntap add "$TAP" mode tap vnet_hdr &&
		in_ns sysctl -q -w "net.ipv6.conf.$TAP.disable_ipv6=1" &&
		in_ns ip link set "$TAP" up || { skip "cannot create a tap in a network namespace here"; return 1; }
	printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$NS" "$PWD/${VIREO_BIN:-build/vireo}" >"$tmp/vireo-in-ns"
	chmod +x "$tmp/vireo-in-ns"
	VIREO=$tmp/vireo-in-ns
}

net_teardown() {
	[ -n "$HOST_PID" ] && kill "$HOST_PID" 2>/dev/null
	HOST_PID=
	ip netns del "$NS" 2>/dev/null
	VIREO=${VIREO_BIN:-build/vireo}
	return 0
}
VIREO_BIN=$VIREO
trap 'net_teardown; rm -rf "$tmp"' EXIT

# host MODE ARGS...: the host end, in the background, for the next boot.
# Returns once its socket is open, so nothing the guest sends first is missed.
host() {
	local i
	: >"$tmp/host.out"
	in_ns python3 tests/guest/net_host.py "$@" >"$tmp/host.out" 2>&1 &
	HOST_PID=$!
	for i in $(seq 100); do
		grep -q "net_host: listening" "$tmp/host.out" && return 0
		sleep 0.1
	done
	fail "the host end did not start: $(cat "$tmp/host.out")"
}
host_done() {
	wait "$HOST_PID"
	local rc=$?
	HOST_PID=
	[ "$rc" -eq 0 ] || fail "host end: $(cat "$tmp/host.out")"
}

tap_stat() { # rx|tx packets, as the tap counts them (rx = frames from vireo)
	ip -n "$NS" -j -s link show "$TAP" | jq -r ".[0].stats64.$1.$2"
}

net_stat() { stat ".devices[\"virtio-net0\"].net.$1"; }

# TX: every frame reaches the tap; doorbells in KVM; one kick per batch.
net_tx() {
	local n=2000 before
	net_setup || return 1
	before=$(tap_stat rx packets)
	boot net-tx --kernel "$ELF" --net tap=$TAP --cmdline "test=net-tx count=$n size=64"
	want_success && want_output "RESULT test=net-tx ops=$n " || return 1
	[ $(($(tap_stat rx packets) - before)) -eq "$n" ] ||
		fail "the tap got $(($(tap_stat rx packets) - before)) frames, want $n"
	want_stat '.devices["virtio-net0"].net.tx_packets' -eq "$n" &&
		want_stat '.devices["virtio-net0"].net.tx_bytes' -eq $((n * 64)) &&
		want_stat '.devices["virtio-net0"].net.tx_malformed' -eq 0 &&
		want_stat '.mmio["virtio-net0.notify"].exits' -eq 0 &&
		want_stat '.devices["virtio-net0"].queues[1].notifications' -eq "$(result_field net-tx notifies)" &&
		want_stat '.devices["virtio-net0"].queues[1].notifications' -le $((n / 64))
}

# Without ioeventfd: every doorbell the guest rings is one userspace exit.
net_tx_no_ioeventfd() {
	local n=500
	net_setup || return 1
	boot net-tx-noioev --no-ioeventfd --kernel "$ELF" --net tap=$TAP --cmdline "test=net-tx count=$n size=64"
	want_success && want_output "RESULT test=net-tx ops=$n " || return 1
	want_stat '.mmio["virtio-net0.notify"].exits' -eq "$(result_field net-tx notifies)" &&
		want_stat '.mmio["virtio-net0.notify"].exits' -ge 1
}

# RX: paced frames from the host all arrive; the tap is read into the guest's buffers.
net_rx() {
	local n=1000
	net_setup || return 1
	host send $TAP $n 64 "$tmp/net-rx.out" || return 1
	boot net-rx --kernel "$ELF" --net tap=$TAP --cmdline "test=net-rx count=$n timeout_ms=20000"
	host_done || return 1
	want_success && want_output "RESULT test=net-rx ops=$n " || return 1
	[ "$(result_field net-rx errors)" = 0 ] || fail "the guest saw malformed frames"
	want_stat '.devices["virtio-net0"].net.rx_packets' -eq "$n" &&
		want_stat '.devices["virtio-net0"].net.rx_dropped' -eq 0 &&
		want_stat '.devices["virtio-net0"].queues[0].interrupts' -le "$n"
}

# RX of 1500-byte frames into mergeable buffers, polling (no MSI-X).
net_rx_large_polled() {
	local n=300
	net_setup || return 1
	host send $TAP $n 1514 "$tmp/net-rx-large.out" || return 1
	boot net-rx-large --kernel "$ELF" --net tap=$TAP --cmdline "test=net-rx count=$n timeout_ms=20000 irq=0"
	host_done || return 1
	want_success && want_output "RESULT test=net-rx ops=$n " || return 1
	want_stat '.devices["virtio-net0"].net.rx_bytes' -eq $((n * 1514)) &&
		[ "$(result_field net-rx irqs)" = 0 ] || fail "the guest took $(result_field net-rx irqs) interrupts"
}

# A frame larger than every buffer the guest posted (2 KiB each, no
# MRG_RXBUF) is dropped and counted, never handed over cut; later frames that
# fit still arrive.
net_rx_too_large() {
	net_setup || return 1
	in_ns ip link set "$TAP" mtu 9000 || { skip "cannot raise the tap's MTU"; return 1; }
	host send $TAP 20 4000 "$tmp/net-rx-big.out" || return 1
	boot net-rx-big --kernel "$ELF" --net tap=$TAP --cmdline "test=net-rx count=20 timeout_ms=3000 mrg=0"
	host_done || return 1
	want_success && want_output "RESULT test=net-rx ops=0 " || return 1
	want_stat '.devices["virtio-net0"].net.rx_dropped' -eq 20 &&
		want_stat '.devices["virtio-net0"].net.rx_packets' -eq 0
}

# Ping-pong with the host: every frame comes back.
net_echo() {
	local n=200
	net_setup || return 1
	host echo $TAP $n "$tmp/net-echo.out" || return 1
	boot net-echo --kernel "$ELF" --net tap=$TAP --cmdline "test=net-echo count=$n"
	host_done || return 1
	want_success && want_output "RESULT test=net-echo ops=$n " || return 1
	[ "$(result_field net-echo errors)" = 0 ] || fail "echo errors: $(result_field net-echo errors)"
	want_stat '.devices["virtio-net0"].net.tx_packets' -eq "$n" &&
		want_stat '.devices["virtio-net0"].net.rx_packets' -eq "$n"
}

# Malformed transmit chains: each dropped and counted, the device lives on.
net_bad() {
	local bad
	net_setup || return 1
	boot net-bad --kernel "$ELF" --net tap=$TAP --cmdline "test=net-bad"
	want_success && want_output "RESULT test=net-bad " || return 1
	bad=$(result_field net-bad bad)
	[ "$(result_field net-bad errors)" = 0 ] || fail "the guest saw bad handling: $(grep 'verdict=' "$out" | grep -v 'verdict=ok' | head -n 2 | tr '\n' ' ')"
	[ "${bad:-0}" -ge 5 ] || { fail "only ${bad:-0} bad cases ran"; return 1; }
	want_stat '.devices["virtio-net0"].net.tx_malformed' -eq "$bad" &&
		want_stat '.devices["virtio-net0"].net.tx_packets' -eq "$(result_field net-bad valid)" &&
		[ "$(net_stat link_up)" = true ] || fail "link went down"
}

# The tap deleted under a running guest: link down, the VM runs on to its end.
net_tap_deleted() {
	net_setup || return 1
	host delete $TAP "$tmp/net-gone.out" || return 1
	boot net-gone --kernel "$ELF" --net tap=$TAP --cmdline "test=net-rx count=10 timeout_ms=3000"
	host_done || return 1
	want_success && want_output "RESULT test=net-rx ops=0 " || return 1
	[ "$(net_stat link_up)" = false ] || fail "link_up is $(net_stat link_up), want false"
}

# Multi-queue: a tap with two queues gives the device 2 pairs + control; the
# test guest's driver uses pair 0 and never asks for more.
net_mq() {
	local n=500
	net_setup || return 1
	in_ns ip link del "$TAP" && in_ns ip tuntap add "$TAP" mode tap vnet_hdr multi_queue &&
		in_ns sysctl -q -w "net.ipv6.conf.$TAP.disable_ipv6=1" && in_ns ip link set "$TAP" up ||
		{ skip "no multi_queue tap here"; return 1; }
	boot net-mq --kernel "$ELF" --net tap=$TAP,queues=2 --cmdline "test=net-tx count=$n size=64"
	want_success && want_output "RESULT test=net-tx ops=$n " || return 1
	want_stat '.devices["virtio-net0"].queues | length' -eq 5 &&
		want_stat '.devices["virtio-net0"].net.queue_pairs' -eq 1 &&
		want_stat '.devices["virtio-net0"].net.tx_packets' -eq "$n"
}

# Two pairs in use, each on its own I/O thread (the default with queues=2):
# the guest asks for both (VQ_PAIRS_SET) and alternates its frames between
# the two transmitqs. Every frame reaches the tap once; each pair's queues
# are served by its own thread, and both threads worked.
net_mq_pairs() {
	local n=2000 before
	net_setup || return 1
	in_ns ip link del "$TAP" && in_ns ip tuntap add "$TAP" mode tap vnet_hdr multi_queue &&
		in_ns sysctl -q -w "net.ipv6.conf.$TAP.disable_ipv6=1" && in_ns ip link set "$TAP" up ||
		{ skip "no multi_queue tap here"; return 1; }
	before=$(tap_stat rx packets)
	boot net-pairs --kernel "$ELF" --net tap=$TAP,queues=2 --cmdline "test=net-tx count=$n size=64 pairs=2"
	want_success && want_output "RESULT test=net-tx ops=$n " && want_output " pairs=2" || return 1
	[ $(($(tap_stat rx packets) - before)) -eq "$n" ] ||
		{ fail "the tap got $(($(tap_stat rx packets) - before)) frames, want $n"; return 1; }
	want_stat '.devices["virtio-net0"].net.queue_pairs' -eq 2 &&
		want_stat '.devices["virtio-net0"].net.tx_packets' -eq "$n" &&
		want_stat '.devices["virtio-net0"].queues[1].requests' -ge 1 &&
		want_stat '.devices["virtio-net0"].queues[3].requests' -ge 1 &&
		want_stat '.devices["virtio-net0"].queues[1].requests + .devices["virtio-net0"].queues[3].requests' -eq "$n" &&
		want_stat '.mmio["virtio-net0.notify"].exits' -eq 0 &&
		want_stat '.iothreads | length' -eq 2 || return 1
	[ "$(stat '[.devices["virtio-net0"].queues[].iothread] | map(tostring) | join(",")')" = "0,0,1,1,0" ] ||
		{ fail "queue threads $(stat '[.devices["virtio-net0"].queues[].iothread]' | tr -d ' \n'), want pair 0 and control on 0, pair 1 on 1"; return 1; }
	want_stat '.iothreads[0].wakeups' -ge 1 && want_stat '.iothreads[1].wakeups' -ge 1
}

# Bad input: one line, exit status 2.
net_bad_input() {
	local err
	net_setup || return 1
	boot net-missing --kernel "$ELF" --net tap=nosuchtap0 --cmdline "test=hello"
	want_status 2 || return 1
	err=$(cat "$tmp/net-missing.err")
	[ "$(wc -l <"$tmp/net-missing.err")" -eq 1 ] && [[ "$err" == *"nosuchtap0: no such interface"* ]] ||
		{ fail "missing tap: '$err'"; return 1; }
	boot net-badmac --kernel "$ELF" --net tap=$TAP,mac=01:00:5e:00:00:01 --cmdline "test=hello"
	want_status 2 || return 1
	[[ "$(cat "$tmp/net-badmac.err")" == *"bad MAC"* ]] || { fail "bad MAC: '$(cat "$tmp/net-badmac.err")'"; return 1; }
	# Two queue pairs need a tap made with multi_queue.
	boot net-notmq --kernel "$ELF" --net tap=$TAP,queues=2 --cmdline "test=hello"
	want_status 2 || return 1
	[[ "$(cat "$tmp/net-notmq.err")" == *"multi_queue"* ]] || { fail "queues=2: '$(cat "$tmp/net-notmq.err")'"; return 1; }
	# Not the tap's owner, no CAP_NET_ADMIN: refused with the reason. vireo
	# and the guest are copied where uid 65534 may read them (the checkout
	# may be in a directory only root can enter).
	local pub
	pub=$(mktemp -d) && chmod 755 "$pub" && cp "${VIREO_BIN:-build/vireo}" "$pub/vireo" &&
		cp "$ELF" "$pub/guest.elf" && chmod 644 "$pub/guest.elf" ||
		{ fail "cannot copy vireo for uid 65534"; return 1; }
	in_ns setpriv --reuid=65534 --regid=65534 --clear-groups "$pub/vireo" run --kernel "$pub/guest.elf" \
		--net tap=$TAP --cmdline "test=hello" >"$tmp/perm.out" 2>"$tmp/perm.err"
	status=$?
	rm -rf "$pub"
	[ "$status" -eq 2 ] && [[ "$(cat "$tmp/perm.err")" == *"permission denied"* ]] ||
		fail "no permission: status $status, '$(cat "$tmp/perm.err")'"
}

case_run "net: TX frames all reach the tap, doorbells in KVM, one kick per batch" net_tx
case_run "net: without ioeventfd every doorbell is a userspace exit" net_tx_no_ioeventfd
case_run "net: RX frames from the host all arrive" net_rx
case_run "net: 1514-byte RX frames, polled" net_rx_large_polled
case_run "net: a frame larger than the guest's buffers is dropped and counted" net_rx_too_large
case_run "net: echo with a host responder" net_echo
case_run "net: malformed TX chains dropped and counted exactly" net_bad
case_run "net: a deleted tap takes the link down, the VM runs on" net_tap_deleted
case_run "net: queues=2 on a multi_queue tap: 2 pairs offered, pair 0 used" net_mq
case_run "net: two pairs used, each on its own I/O thread, every frame once" net_mq_pairs
case_run "net: missing tap, bad MAC, no MQ tap, no permission: one line, exit 2" net_bad_input
net_teardown
