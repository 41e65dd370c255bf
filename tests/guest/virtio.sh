#!/usr/bin/env bash
# tests/guest/virtio.sh -- virtio-pci devices under the test guest's driver:
# exact doorbell and interrupt counts from --stats-json, data on the host
# file, and a VMM that survives malformed rings.
source "$(dirname "$0")/lib.sh"

DISK=build/test-disks
mkdir -p "$DISK"

# A fresh disk image of SIZE.
new_disk() {
	rm -f "$DISK/$1"
	truncate -s "$2" "$DISK/$1"
	echo "$DISK/$1"
}

# The value of a device queue counter: dev_stat DEVICE FIELD [QUEUE]
dev_stat() { stat ".devices[\"$1\"].queues[${3:-0}].$2"; }

# Does FILE hold the test guest's pattern (le64 at offset o is o ^ SEED) over BYTES?
holds_pattern() {
	python3 - "$1" "$2" "$3" <<'PY'
import struct, sys
path, seed, nbytes = sys.argv[1], int(sys.argv[2], 16), int(sys.argv[3])
with open(path, "rb") as f:
    data = f.read(nbytes)
if len(data) != nbytes:
    sys.exit("short file")
bad = sum(1 for i, (w,) in enumerate(struct.iter_unpack("<Q", data)) if w != (8 * i) ^ seed)
sys.exit("%d words differ" % bad if bad else 0)
PY
}

SEED=0x5eed0123456789ab

# blk-verify writes the whole disk, flushes, reads back; the host file then
# holds exactly the guest's pattern.
blk_verify() {
	local d
	d=$(new_disk verify.img 16M)
	boot blk-verify --kernel "$BZ" --disk "$d" --cmdline "test=blk-verify seed=$SEED timeout_ms=60000"
	want_success && want_output "RESULT test=blk-verify" || return 1
	[ "$(result_field blk-verify errors)" = 0 ] || fail "guest saw mismatches"
	holds_pattern "$d" "$SEED" $((16 << 20)) || fail "host file does not hold the pattern"
	want_stat '.devices["virtio-blk0"].queues[0].malformed' -eq 0
}

# With ioeventfd, no doorbell reaches userspace; every request completes.
blk_read_ioeventfd() {
	local d
	d=$(new_disk read.img 16M)
	boot blk-read --kernel "$BZ" --disk "$d" --cmdline "test=blk-read count=2000 qd=32"
	want_success && want_output "RESULT test=blk-read ops=2000 " || return 1
	want_stat '.mmio["virtio-blk0.notify"].exits' -eq 0 &&
		want_stat '.devices["virtio-blk0"].queues[0].requests' -ge 2000 &&
		want_stat '.devices["virtio-blk0"].queues[0].notifications' -eq "$(result_field blk-read notifies)"
}

# The guest sizes and places the BAR as firmware does: memory decoding off
# and on again (vireo takes the doorbells' ioeventfds out of KVM and back,
# from the vCPU thread, under its seccomp filter), and a move that vireo
# refuses (the guest then uses the base that reads back). Doorbells still
# never exit afterwards.
blk_read_bar_sizing() {
	local d
	d=$(new_disk sizing.img 16M)
	boot blk-sizing --kernel "$BZ" --disk "$d" --cmdline "test=blk-read count=200 pci_assign=1"
	want_success && want_output "the device kept its base" || return 1
	[ "$(stat .sandbox.seccomp)" = true ] || fail "seccomp was off"
	want_stat '.mmio["virtio-blk0.notify"].exits' -eq 0 &&
		want_stat '.devices["virtio-blk0"].queues[0].requests' -ge 200
}

# Without ioeventfd, each doorbell is exactly one userspace exit.
blk_read_no_ioeventfd() {
	local d
	d=$(new_disk read2.img 16M)
	boot blk-read-noioev --kernel "$BZ" --disk "$d" --no-ioeventfd --cmdline "test=blk-read count=1000 qd=8"
	want_success || return 1
	local kicks exits
	kicks=$(dev_stat virtio-blk0 notifications)
	exits=$(stat '.mmio["virtio-blk0.notify"].exits')
	[ "$kicks" -gt 0 ] && [ "$exits" -eq "$kicks" ] || fail "notify exits $exits, kicks $kicks"
	[ "$kicks" -eq "$(result_field blk-read notifies)" ] || fail "device saw $kicks kicks, guest made $(result_field blk-read notifies)"
}

# EVENT_IDX with qd=Q: the guest kicks about once per Q requests.
blk_event_idx_batching() {
	local d n=2048 q=32
	d=$(new_disk batch.img 16M)
	boot blk-batch --kernel "$BZ" --disk "$d" --cmdline "test=blk-write count=$n qd=$q batch=1"
	want_success || return 1
	want_stat '.devices["virtio-blk0"].queues[0].notifications' -le $((n / q + 4)) &&
		want_stat '.devices["virtio-blk0"].queues[0].requests' -ge "$n" &&
		[ "$(stat '.optimizations["event-idx"]')" = true ] || fail "event-idx not active"
}

# Switched off, the ring still works (the driver then honours NO_NOTIFY).
blk_no_event_idx() {
	local d
	d=$(new_disk noevidx.img 16M)
	boot blk-noevidx --kernel "$BZ" --disk "$d" --no-event-idx --cmdline "test=blk-read count=500 qd=8"
	want_success && want_output "event_idx=0" &&
		[ "$(stat '.optimizations["event-idx"]')" = false ] || fail "event-idx still on"
}

# A read-only disk: a write comes back IOERR, the file is untouched.
blk_read_only() {
	local d sum
	d=$(new_disk ro.img 4M)
	printf 'vireo-ro' | dd of="$d" conv=notrunc status=none
	sum=$(md5sum <"$d")
	boot blk-ro --kernel "$BZ" --disk "$d,ro" --cmdline "test=blk-ro"
	want_success || return 1
	[ "$(md5sum <"$d")" = "$sum" ] || fail "read-only disk changed"
}

# Malformed chains fail their request (or reset the device); vireo lives on.
blk_bad() {
	local d
	d=$(new_disk bad.img 4M)
	boot blk-bad --kernel "$BZ" --disk "$d" --cmdline "test=blk-bad"
	want_success && want_stat '.devices["virtio-blk0"].queues[0].malformed' -gt 0 &&
		[ "$(stat .stop_reason)" = debug-exit ] || fail "stop_reason $(stat .stop_reason)"
}

# FLUSH is a real fdatasync before the status: data flushed before SIGKILL
# is in the file afterwards.
blk_flush_survives_sigkill() {
	local d pid
	d=$(new_disk kill.img 16M)
	out=$tmp/kill.out
	"$VIREO" run --quiet --debug-exit --kernel "$BZ" --disk "$d" \
		--cmdline "test=blk-verify seed=$SEED timeout_ms=60000" </dev/null >"$out" 2>&1 &
	pid=$!
	for _ in $(seq 1200); do
		grep -q "blk-verify: reading back" "$out" && break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	grep -q "blk-verify: reading back" "$out" || { fail "guest never flushed"; return 1; }
	holds_pattern "$d" "$SEED" $((16 << 20)) || fail "flushed data missing after SIGKILL"
}

# The synchronous fallback backend does the same work.
blk_sync_backend() {
	local d
	d=$(new_disk sync.img 16M)
	VIREO_BLK_BACKEND=sync boot blk-sync --kernel "$BZ" --disk "$d" --cmdline "test=blk-verify seed=$SEED timeout_ms=60000"
	want_success && [ "$(stat '.devices["virtio-blk0"].backend')" = sync ] ||
		fail "backend $(stat '.devices["virtio-blk0"].backend')"
	holds_pattern "$d" "$SEED" $((16 << 20)) || fail "host file does not hold the pattern"
}

rng() {
	boot rng --kernel "$BZ" --rng --cmdline "test=rng count=4096"
	want_success && want_stat '.devices["virtio-rng0"].queues[0].bytes' -ge 4096
}

# --iothreads 2: blk on thread 0, rng on thread 1; each workload wakes only
# its own device's thread, and the data is right.
iothreads() {
	local d
	d=$(new_disk iothreads.img 16M)
	boot iot-blk --kernel "$BZ" --disk "$d" --rng --iothreads 2 \
		--cmdline "test=blk-verify seed=$SEED timeout_ms=60000"
	want_success || return 1
	holds_pattern "$d" "$SEED" $((16 << 20)) || fail "host file does not hold the pattern"
	want_stat '.iothreads | length' -eq 2 &&
		want_stat '.devices["virtio-blk0"].iothread' -eq 0 &&
		want_stat '.devices["virtio-rng0"].iothread' -eq 1 &&
		want_stat '.iothreads[0].wakeups' -ge 1 &&
		want_stat '.iothreads[1].wakeups' -eq 0 || return 1
	boot iot-rng --kernel "$BZ" --disk "$d" --rng --iothreads 2 --cmdline "test=rng count=4096"
	want_success && want_stat '.devices["virtio-rng0"].queues[0].bytes' -ge 4096 &&
		want_stat '.iothreads[0].wakeups' -eq 0 &&
		want_stat '.iothreads[1].wakeups' -ge 1
}

console() {
	out=$tmp/vcon.out json=$tmp/vcon.json
	printf 'ping' | "$VIREO" run --quiet --timeout "$TIMEOUT" --stats-json "$json" --debug-exit --kernel "$BZ" \
		--virtio-console --cmdline "test=console echo=4" >"$out" 2>"$tmp/vcon.err"
	status=$?
	cp "$out" "$logdir/vcon.out"
	want_success && want_output "virtio-console: hello from the guest" &&
		want_output "ping" && want_stat '.devices["virtio-console0"].queues[0].bytes' -eq 4
}

case_run "blk-verify: host file holds the guest's data" blk_verify
case_run "blk-read: zero userspace exits on the doorbell (ioeventfd)" blk_read_ioeventfd
case_run "blk-read --no-ioeventfd: one exit per doorbell" blk_read_no_ioeventfd
case_run "BAR sizing with decoding off and a refused move: doorbells stay exit-free" blk_read_bar_sizing
case_run "blk-write qd=32: EVENT_IDX batches doorbells" blk_event_idx_batching
case_run "blk-read --no-event-idx works" blk_no_event_idx
case_run "read-only disk: writes fail, file unchanged" blk_read_only
case_run "blk-bad: malformed chains, VMM lives" blk_bad
case_run "FLUSH survives SIGKILL" blk_flush_survives_sigkill
case_run "synchronous backend" blk_sync_backend
case_run "virtio-rng" rng
case_run "--iothreads 2: each device on its own thread" iothreads
case_run "virtio-console" console
