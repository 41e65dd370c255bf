#!/usr/bin/env bash
# boot-virtio-debian.sh -- a real client for vireo's virtio devices: Debian's
# stock cloud kernel and its own virtio drivers.
#
# Boots the cached vmlinux (fetch-debian-kernel.sh) with an initramfs of
# busybox and the kernel package's own modules (virtio_ring, virtio,
# virtio_pci{,_modern_dev,_legacy_dev}, virtio_blk, virtio-rng,
# virtio_console), with --disk, --rng and --virtio-console. Its /init loads
# them, exercises each device, prints "T: ..." lines and resets the machine
# through the i8042 (reboot=k), which ends vireo with status 0. Checks, one
# case each:
#   - probe: Linux's virtio-pci driver binds all three devices (IDs 2, 4, 3)
#     and negotiates VIRTIO_F_VERSION_1 and RING_EVENT_IDX;
#   - blk: the disk's size; the first MiB reads back as the host wrote it
#     (buffered and O_DIRECT); the guest copies it to the second MiB with
#     fsync and discards the fifth, and the host file then holds the copy
#     and zeros there;
#   - rng: /dev/hwrng is virtio_rng and gives bytes that vireo counted;
#   - console: a line written to /dev/hvc0 comes out of vireo's stdout;
#   - the fast paths: no doorbell reached userspace (ioeventfd), no malformed
#     chain, and every interrupt came the way the driver chose;
#   - the CMOS clock: Linux's wall clock, set from vireo's RTC at boot, is the
#     host's, and reading it took a few hundred exits, not 40000;
#   - the i8042: Linux's driver finds the controller (its keyboard port) and
#     its probe takes a few dozen exits, not the 10000 status polls of a
#     controller that does not answer.
#   - ACPI: Linux reads vireo's tables and, with --cpus 2, brings up both
#     vCPUs (the MADT is where Debian's kernel learns about them).
# All of it three times: with MSI-X (Linux's choice, 2 vCPUs); with
# pci=nomsi, where the drivers fall back to legacy INTx, routed through the
# DSDT's _PRT links to the IOAPIC; and with pci=nomsi and --no-acpi, where
# INTx goes through the 8259 (Debian's kernel, without MP-table parsing,
# then sees no IOAPIC).
#
# On our PVM machines a stock kernel does not get this far (see
# boot-debian-kernel.sh): KVM stops it in early boot with an emulation
# failure, and each boot that ends so is one SKIP line with vireo's account
# of it (kvm-limit.sh); any other early end is a FAIL. Without /dev/kvm,
# `make check` runs this inside tests/emu-kvm, where it takes about 40 s and
# passes. Exit status: 0, or 77 to skip; one line per case.
# VIREO overrides the vireo binary (default build/vireo).
set -euo pipefail
# shellcheck source=tests/linux/kvm-limit.sh
source "$(dirname "${BASH_SOURCE[0]}")/kvm-limit.sh"
# shellcheck source=tests/linux/stock-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/stock-lib.sh"

CACHE=build/linux-cache
VIREO=${VIREO:-build/vireo}
TIMEOUT=240 # seconds for the whole boot
SUITE="virtio drivers"
LOGDIR=build/test-logs/boot-virtio-debian
MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk
virtio-rng virtio_console"
MARK="hvc0 says hello to vireo"

tmp=
cleanup() { [[ -z $tmp ]] || rm -rf "$tmp"; }
trap cleanup EXIT

stock_require md5sum cmp
stock_kernel_deb
tmp=$(mktemp -d)

# --- the initramfs: busybox, the modules, /init ---------------------------
root=$tmp/root
stock_initramfs_tree "$root" "$MODULES" './lib/modules/*/kernel/drivers/virtio/*' \
	'./lib/modules/*/kernel/drivers/block/virtio_blk.ko*' \
	'./lib/modules/*/kernel/drivers/char/virtio_console.ko*' \
	'./lib/modules/*/kernel/drivers/char/hw_random/virtio-rng.ko*'
cat >"$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(echo $MODULES); do
	insmod /lib/modules/\$m.ko || echo "T: insmod-failed \$m"
done
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.5; done
# hvc0 first: its line reaches vireo's stdout at once, while the UART is still
# draining earlier lines, so later it could land in the middle of a T: line.
echo "$MARK" >/dev/hvc0
sleep 0.5
for d in /sys/bus/virtio/devices/*; do
	echo "T: device \$(cat \$d/device) \$(cat \$d/features)"
done
echo "T: vda-sectors \$(cat /sys/block/vda/size)"
echo "T: md5-mib0 \$(dd if=/dev/vda bs=1048576 count=1 2>/dev/null | md5sum | cut -d' ' -f1)"
echo "T: md5-mib0-direct \$(dd if=/dev/vda bs=1048576 count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
dd if=/dev/vda of=/dev/vda bs=1048576 count=1 seek=1 conv=fsync 2>/dev/null && echo "T: copied"
blkdiscard -o 4194304 -l 1048576 /dev/vda && echo "T: discarded"
echo "T: rng \$(cat /sys/class/misc/hw_random/rng_current) \$(dd if=/dev/hwrng bs=64 count=1 2>/dev/null | wc -c)"
echo "T: msi-lines \$(grep -c 'PCI-MSI.*virtio' /proc/interrupts)"
echo "T: pic-lines \$(grep -c 'XT-PIC.*virtio' /proc/interrupts)"
echo "T: ioapic-lines \$(grep -c 'IO-APIC.*fasteoi.*virtio' /proc/interrupts)"
echo "T: epoch \$(date +%s)"
echo "T: cpus-online \$(cat /sys/devices/system/cpu/online)"
echo "T: acpi-xsdt \$(dmesg | grep -c 'ACPI: XSDT 0x00000000000E0028')"
echo "T: i8042-kbd-port \$(dmesg | grep -c 'serio: i8042 KBD port at 0x60,0x64')"
echo "T: done"
reboot -f
EOF
stock_pack_initramfs "$root" "$tmp/initrd.gz"

# --- one boot: MODE (msix or intx), extra command line ----------------------
boot() { # MODE (msix or intx), extra command line, extra vireo options...
	local mode=$1 extra=$2 name rc=0 err n dev rng_name rng_bytes failed_mods ids detail
	local id feat
	out=$tmp/$mode-serial.log stats=$tmp/$mode-stats.json tlog=$tmp/$mode-t.log
	case $mode in
	msix) name="MSI-X" ;;
	intx) name="INTx, pci=nomsi" ;;
	intx-mp) name="INTx, pci=nomsi, --no-acpi" ;;
	esac
	head -c $((8 << 20)) /dev/urandom >"$disk"
	md5_mib0=$(mib 0 | md5sum | cut -d' ' -f1)
	t0=$(date +%s)
	shift 2
	"$VIREO" run --kernel "$CACHE/vmlinux" --initrd "$tmp/initrd.gz" --mem 512M "$@" \
		--disk "$disk" --rng --virtio-console --cmdline "console=ttyS0 panic=-1 reboot=k$extra" \
		--timeout "$TIMEOUT" --quiet --stats-json "$stats" </dev/null >"$out" 2>"$tmp/$mode-stderr.log" || rc=$?
	t1=$(date +%s)
	tr -d '\r' <"$out" | sed -nE 's/^(\[ *[0-9.]+\] )?T: //p' >"$tlog"
	err=
	if [[ $rc -ne 0 ]] && detail=$(kvm_cannot_run "$stats"); then
		echo "SKIP: stock Linux virtio ($name): KVM cannot run this kernel here: $detail"
		return
	fi
	[[ $rc -eq 0 ]] || err="vireo exited with status $rc, want 0 (guest reset); last line: $(tail -n 1 "$out")"
	[[ -n $err ]] || grep -q '^done$' "$tlog" || err="the guest's /init did not finish"
	[[ -n $err || -s $stats ]] || err="vireo wrote no stats"
	if [[ -n $err ]]; then
		verdict "virtio ($name): boot" "$err"
		return
	fi

	# probe
	failed_mods=$(sed -n 's/^insmod-failed //p' "$tlog" | tr '\n' ' ')
	[[ -z $failed_mods ]] || err="insmod failed: $failed_mods"
	ids=$(sed -n 's/^device 0x\([0-9a-f]*\) .*/\1/p' "$tlog" | sort | tr '\n' ' ')
	[[ -n $err || $ids == "0002 0003 0004 " ]] || err="virtio devices seen: '$ids', want blk, console, rng"
	while read -r id feat; do
		[[ -n $err ]] && break
		[[ ${feat:32:1} == 1 ]] || err="device $id did not negotiate VERSION_1 ($feat)"
		[[ $id == 0x0004 || ${feat:29:1} == 1 ]] || err="device $id did not negotiate EVENT_IDX"
	done < <(sed -n 's/^device //p' "$tlog")
	verdict "virtio-pci ($name): probes blk, rng and console, VERSION_1 and EVENT_IDX" "$err"

	# blk
	err=
	[[ $(t vda-sectors) == $((8 << 11)) ]] || err="vda has $(t vda-sectors) sectors, want $((8 << 11))"
	[[ -n $err || $(t md5-mib0) == "$md5_mib0" ]] || err="first MiB reads as $(t md5-mib0), host wrote $md5_mib0"
	[[ -n $err || $(t md5-mib0-direct) == "$md5_mib0" ]] || err="O_DIRECT read of the first MiB differs"
	[[ -n $err ]] || grep -q '^copied$' "$tlog" || err="the guest's dd to the disk failed"
	[[ -n $err ]] || cmp -s <(mib 0) <(mib 1) || err="host file's second MiB is not the copy of the first"
	[[ -n $err ]] || grep -q '^discarded$' "$tlog" || err="blkdiscard failed in the guest"
	[[ -n $err ]] || cmp -s <(mib 4) <(head -c 1048576 /dev/zero) || err="the discarded MiB is not zero on the host"
	[[ -n $err || $(st '.devices["virtio-blk0"].blk.discards') -ge 1 ]] || err="no DISCARD reached vireo"
	verdict "virtio-blk ($name): reads, O_DIRECT, write+fsync and discard land in the host file" "$err"

	# rng
	err=
	read -r rng_name rng_bytes <<<"$(t rng)"
	[[ $rng_name == virtio_rng.* ]] || err="hwrng is '$rng_name', not virtio_rng"
	[[ -n $err || $rng_bytes == 64 ]] || err="read $rng_bytes bytes from /dev/hwrng, want 64"
	[[ -n $err || $(st '.devices["virtio-rng0"].queues[0].bytes') -ge 64 ]] || err="vireo counted fewer than 64 rng bytes"
	verdict "virtio-rng ($name): /dev/hwrng is fed by vireo" "$err"

	# console
	err=
	grep -qF "$MARK" "$out" || err="'$MARK' written to /dev/hvc0 is not on vireo's stdout"
	[[ -n $err || $(st '.devices["virtio-console0"].queues[1].bytes') -ge ${#MARK} ]] ||
		err="vireo counted fewer console bytes than the line"
	verdict "virtio-console ($name): /dev/hvc0 reaches stdout" "$err"

	# the fast paths, and the interrupt kind
	err=
	for dev in virtio-blk0 virtio-rng0 virtio-console0; do
		[[ -z $err ]] || break
		n=$(st ".mmio[\"$dev.notify\"].exits // 0")
		[[ $n == 0 ]] || err="$n doorbells of $dev reached userspace"
		[[ -n $err || $(st ".devices[\"$dev\"].queues | map(.malformed) | add") == 0 ]] ||
			err="$dev saw malformed chains"
		if [[ $mode == msix ]]; then
			[[ -n $err || $(st ".devices[\"$dev\"].intx_raised") == 0 ]] || err="$dev used INTx"
		else
			[[ -n $err || $(st ".devices[\"$dev\"].msix_raised") == 0 ]] || err="$dev sent MSI-X"
			[[ -n $err || $(st ".devices[\"$dev\"].intx_raised") -ge 1 ]] || err="$dev never raised INTx"
		fi
	done
	if [[ $mode == msix ]]; then
		[[ -n $err || $(st '.devices["virtio-blk0"].msix_raised') -ge 1 ]] || err="no MSI-X message from virtio-blk0"
		[[ -n $err || $(t msi-lines) -ge 3 ]] || err="Linux lists $(t msi-lines) virtio MSI vectors"
	elif [[ $mode == intx ]]; then
		# ACPI: each line through its _PRT link to the IOAPIC, level-triggered.
		[[ -n $err || $(t ioapic-lines) == 3 ]] || err="Linux lists $(t ioapic-lines) level-triggered virtio IOAPIC lines, want 3"
	else
		# MP table only: Debian's kernel does not parse it and sees no IOAPIC.
		[[ -n $err || $(t pic-lines) == 3 ]] || err="Linux lists $(t pic-lines) virtio lines on its 8259, want 3"
	fi
	verdict "virtio ($name): exit-free doorbells, no malformed chains, ${name%%,*} interrupts" "$err"

	[[ $mode == msix ]] || return 0
	err=
	n=$(t epoch)
	[[ $n =~ ^[0-9]+$ ]] && ((n >= t0 - 2 && n <= t1 + 2)) ||
		err="guest clock reads $n, host time was $t0..$t1"
	n=$(st '[.pio | to_entries[] | select(.key == "0x70" or .key == "rtc") | .value.exits] | add // 0')
	[[ -n $err || $n -lt 1000 ]] || err="$n exits on the CMOS ports"
	verdict "CMOS RTC: the guest's wall clock is the host's, in few exits" "$err"

	err=
	[[ $(t i8042-kbd-port) == 1 ]] || err="Linux did not find the i8042 (no 'serio: i8042 KBD port' in its log)"
	n=$(st '[.pio | to_entries[] | select(.key == "0x60" or .key == "0x64") | .value.exits] | add // 0')
	[[ -n $err || $n -lt 200 ]] || err="$n exits on the i8042 ports"
	verdict "i8042: Linux's probe gets its answers, in few exits" "$err"

	err=
	[[ $(t acpi-xsdt) == 1 ]] || err="Linux did not list vireo's XSDT at 0xe0028"
	[[ -n $err || $(t cpus-online) == 0-1 ]] || err="CPUs online: '$(t cpus-online)', want 0-1"
	verdict "ACPI: Linux reads vireo's tables and brings up both vCPUs" "$err"
}


disk=$tmp/disk.img # 8 MiB of random data, fresh for each boot
mib() { dd if="$disk" bs=1048576 skip="$1" count=1 2>/dev/null; }

boot msix "" --cpus 2
boot intx " pci=nomsi"
boot intx-mp " pci=nomsi" --no-acpi

if ((fails)); then
	mkdir -p "$LOGDIR"
	cp -f "$tmp"/*.log "$tmp"/*.json "$LOGDIR"/ 2>/dev/null || true
fi
exit 0
