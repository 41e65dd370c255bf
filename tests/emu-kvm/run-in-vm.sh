#!/usr/bin/env bash
# tests/emu-kvm/run-in-vm.sh CMD [ARG...] -- run CMD on a real KVM inside an
# emulated machine, for hosts without /dev/kvm.
#
# Boots Debian's generic kernel (linux-image-amd64's concrete package) as an
# L1 machine under QEMU TCG with an emulated AMD EPYC CPU (SVM with nested
# paging), 2 vCPUs and 6 GiB of lazily allocated RAM, loads irqbypass, kvm and
# kvm_amd there, mounts the host's / read-write over virtio-9p, chroots into it
# (with its own /proc, /sys, devtmpfs /dev with /dev/kvm, and tmpfs /tmp and
# /run) and runs CMD as root with the repository root as the working
# directory, stdin /dev/null, the host's exported VIREO and VIREO_* variables, and
# VIREO_EMU_KVM=1. CMD's stdout and stderr come back, merged, on this
# script's stdout; its exit status is this script's.
#
# Exit status: CMD's; 124 when the whole run exceeds EMU_KVM_TIMEOUT; 125
# when L1's kernel reports a soft lockup (TCG wedging; see hold-vm.py), or
# when the emulated machine could not be prepared or booted, or KVM did not
# come up in it (the reason on stderr, in a line starting "emu-kvm: error: ").
#
# Environment:
#   EMU_KVM_TIMEOUT=SECONDS  limit for the whole run, boot included (default 2400)
#   EMU_KVM_SHELL=1          attach the terminal to L1's console and give a root
#                            shell in the chroot after CMD (CMD may be omitted);
#                            CMD's output is then printed after the machine stops
#   EMU_KVM_HOST_TMP=1       use the host's /tmp in the chroot instead of a tmpfs
#   EMU_KVM_MEM, EMU_KVM_CPUS, EMU_KVM_CPU   L1 RAM (6G), vCPUs (2), CPU model (EPYC)
#   EMU_KVM_VERBOSE=1        print the QEMU command line and L1's console log
#
# Inside, /tmp is not the host's: write files to look at later under the
# repository (or set EMU_KVM_HOST_TMP=1). `dmesg` in CMD shows L1's kernel log
# (KVM's complaints), e.g.
#   tests/emu-kvm/run-in-vm.sh sh -c 'build/vireo run ...; s=$?; dmesg | tail; exit $s'
#
# Everything downloaded or built is cached under build/emu-kvm/ (kernel .deb,
# extracted kernel and modules, initramfs), rebuilt when an input changes.
# Each run keeps its console log in build/emu-kvm/last/console.log; on a
# set-up failure its tail is printed. Shortly before a timeout (and on a soft
# lockup), cpu-dump.py asks QEMU's monitor where L1's CPUs are and which L1
# kernel function each one runs: build/emu-kvm/last/cpus.txt. L1 boots with
# nokaslr, and its first boot leaves its text symbols in the cache.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd "$here/../.." && pwd -P)
# shellcheck source=tests/lib/debian-kernel.sh
source "$root/tests/lib/debian-kernel.sh"
cache=$root/build/emu-kvm
timeout_s=${EMU_KVM_TIMEOUT:-2400}
shell=${EMU_KVM_SHELL:-0}
meta=linux-image-amd64
# The modules L1 needs; their dependencies are added from each .ko's modinfo.
want_mods="virtio_pci 9pnet_virtio 9p kvm_amd tun"

say() { echo "emu-kvm: $*" >&2; }
die() {
	say "error: $*"
	exit 125
}

if [[ $# -eq 0 && $shell != 1 ]]; then
	echo "usage: $0 CMD [ARG...]   (or EMU_KVM_SHELL=1 $0 [CMD...])" >&2
	exit 2
fi
[[ $root != *[[:space:]]* ]] || die "the repository path '$root' contains white space"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
for tool in apt-get apt-cache dpkg-deb objcopy cpio gzip flock; do
	command -v "$tool" >/dev/null || die "$tool not found"
done
[[ -x /bin/busybox ]] || die "/bin/busybox not found (apt-get install busybox-static)"

mkdir -p "$cache"

# ---- kernel: the concrete package behind linux-image-amd64, with 9p and kvm_amd as modules
kernel_pkg() {
	if ! apt-cache show "$meta" >/dev/null 2>&1; then
		say "$meta unknown to apt-cache; running apt-get update"
		apt-get update -q >&2 || die "apt-get update failed"
	fi
	debian_kernel_package "$meta" '^linux-image-[0-9][^ ]*-amd64( |$)'
}

# modinfo field of a .ko (plain, .xz or .zst)
ko_depends() {
	objcopy -O binary --only-section=.modinfo "$1" /dev/stdout 2>/dev/null | tr '\0' '\n' |
		sed -n 's/^depends=//p' | tr ',' ' '
}

prepare_kernel() { # sets $kdir: vmlinuz, modules/*.ko, modules/order
	kernel_pkg
	kdir=$cache/kernel-${pkg#linux-image-}_$ver
	# Cached, and for the same module list (a module added to want_mods
	# must reach the initramfs of an existing cache too).
	if [[ -s $kdir/vmlinuz && -s $kdir/modules/order &&
		"$(cat "$kdir/modules/wanted" 2>/dev/null)" == "$want_mods" ]]; then
		return 0
	fi
	local deb tmp
	deb=$(find "$cache" -maxdepth 1 -name "${pkg}_${ver//:/%3a}_*.deb" -print -quit)
	if [[ -z $deb ]]; then
		say "downloading $pkg $ver (once; cached in build/emu-kvm/)"
		tmp=$(mktemp -d "$cache/.dl.XXXXXX")
		chmod 0777 "$tmp" # apt drops privileges to _apt when the directory allows it
		(cd "$tmp" && apt-get download -q "$pkg=$ver" >&2) || {
			rm -rf "$tmp"
			die "apt-get download $pkg=$ver failed"
		}
		deb=$(find "$tmp" -maxdepth 1 -name '*.deb' -print -quit)
		[[ -n $deb ]] || die "apt-get download $pkg left no .deb"
		find "$cache" -maxdepth 1 -name 'linux-image-*.deb' -delete
		mv "$deb" "$cache/"
		deb=$cache/$(basename "$deb")
		rm -rf "$tmp"
	fi
	say "extracting $(basename "$deb")"
	find "$cache" -maxdepth 1 -name 'kernel-*' -exec rm -rf {} +
	tmp=$(mktemp -d "$cache/.x.XXXXXX")
	dpkg-deb -x "$deb" "$tmp" || die "dpkg-deb -x $deb failed"
	local vmlinuz release mdir
	vmlinuz=$(find "$tmp/boot" -name 'vmlinuz-*' -print -quit)
	[[ -n $vmlinuz ]] || die "$deb has no boot/vmlinuz-*"
	release=${vmlinuz##*/vmlinuz-}
	mdir=$tmp/lib/modules/$release/kernel
	[[ -d $mdir ]] || die "$deb has no lib/modules/$release"

	# index: module name (dashes as underscores) -> file
	declare -A file=()
	local f n
	while IFS= read -r f; do
		n=${f##*/}
		n=${n%%.ko*}
		file[${n//-/_}]=$f
	done < <(find "$mdir" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst')
	mkdir -p "$tmp/out/modules"
	# depth-first: dependencies before dependents
	declare -A done_=()
	local order=()
	visit() {
		local m=$1 f d
		[[ -n ${done_[$m]:-} ]] && return 0
		done_[$m]=1
		f=${file[$m]:-}
		[[ -n $f ]] || die "module $m not in $deb (built in? then drop it from want_mods)"
		case $f in
		*.xz) xz -dc "$f" >"$tmp/out/modules/$m.ko" ;;
		*.zst) zstd -qdc "$f" >"$tmp/out/modules/$m.ko" ;;
		*) cp "$f" "$tmp/out/modules/$m.ko" ;;
		esac
		for d in $(ko_depends "$tmp/out/modules/$m.ko"); do
			visit "${d//-/_}"
		done
		order+=("$m")
	}
	local m
	for m in $want_mods; do
		visit "$m"
	done
	printf '%s\n' "${order[@]}" >"$tmp/out/modules/order"
	echo "$want_mods" >"$tmp/out/modules/wanted"
	cp "$vmlinuz" "$tmp/out/vmlinuz"
	echo "$release" >"$tmp/out/release"
	mkdir -p "$(dirname "$kdir")"
	mv "$tmp/out" "$kdir"
	rm -rf "$tmp"
	say "kernel $release, modules: ${order[*]}"
}

prepare_initrd() { # sets $initrd
	local stamp want tmp
	initrd=$cache/initrd.cpio.gz
	stamp=$cache/initrd.stamp
	want=$({
		echo "$kdir"
		sha256sum "$here/init" /bin/busybox "$kdir/modules/order"
	})
	if [[ -s $initrd && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
		return 0
	fi
	tmp=$(mktemp -d "$cache/.i.XXXXXX")
	mkdir -p "$tmp"/{bin,dev,proc,sys,tmp,modules}
	cp /bin/busybox "$tmp/bin/busybox"
	cp "$here/init" "$tmp/init"
	chmod 0755 "$tmp/init"
	cp "$kdir"/modules/* "$tmp/modules/"
	(cd "$tmp" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$initrd.new" ||
		die "cannot build the initramfs"
	mv "$initrd.new" "$initrd"
	echo "$want" >"$stamp"
	rm -rf "$tmp"
}

t0=$(date +%s.%N)
{
	flock 9
	prepare_kernel
	prepare_initrd
} 9>"$cache/.lock"
t_prep=$(date +%s.%N)

# ---- the job: a script in the shared tree that the chroot runs
jobs_dir=$cache/jobs
mkdir -p "$jobs_dir"
job=$(mktemp -d "$jobs_dir/job.XXXXXX")
{
	echo '#!/bin/bash'
	echo 'export HOME=/root LANG=C.UTF-8 TERM=dumb VIREO_EMU_KVM=1'
	echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
	while IFS= read -r v; do
		printf 'export %s=%q\n' "$v" "${!v}"
	done < <(compgen -e | grep -E '^VIREO(_|$)' || true)
	printf 'cd %q || exit 125\n' "$root"
	# One idle VM held open for the whole run keeps KVM from live-patching
	# L1's kernel text per test VM, which wedges QEMU's TCG now and then
	# (hold-vm.py says why). It prints a line once its VM exists.
	printf 'read -r _ < <(exec python3 %q </dev/null 2>/dev/null)\n' "$here/hold-vm.py"
	if [[ $# -gt 0 ]]; then
		printf 'exec'
		printf ' %q' "$@"
		printf '\n'
	fi
} >"$job/job.sh"

# nokaslr: L1's kernel symbols stay where the first boot saw them, so the
# first boot copies /proc/kallsyms (text symbols) into the cache for
# cpu-dump.py (Debian's System.map is a stub).
append="console=ttyS0 quiet panic=-1 nokaslr emukvm.job=$job/job.sh emukvm.cwd=$root"
[[ -s $kdir/kallsyms ]] || append+=" emukvm.kallsyms=$kdir/kallsyms"
[[ ${EMU_KVM_HOST_TMP:-0} == 1 ]] && append+=" emukvm.hosttmp=1"
[[ $shell == 1 ]] && append+=" emukvm.shell=1"
if [[ $(id -u) -eq 0 ]]; then
	secmodel=passthrough
else
	secmodel=none # cannot chown as a user; files L1 creates are then owned by the caller
fi
# shellcheck disable=SC2054 # commas inside QEMU options
qemu=(qemu-system-x86_64 -nodefaults -no-user-config -machine pc -accel tcg,thread=multi
	-cpu "${EMU_KVM_CPU:-EPYC}" -smp "${EMU_KVM_CPUS:-2}" -m "${EMU_KVM_MEM:-6G}"
	-display none -no-reboot -monitor "unix:$job/monitor.sock,server=on,wait=off"
	-kernel "$kdir/vmlinuz" -initrd "$initrd" -append "$append"
	-virtfs "local,path=/,mount_tag=hostroot,security_model=$secmodel,multidevs=remap")
console=$job/console.log
out_fifo=$job/out
mkfifo "$out_fifo"
if [[ $shell == 1 ]]; then
	qemu+=(-serial mon:stdio -serial "file:$job/out.log")
else
	qemu+=(-serial "file:$console" -chardev "stdio,id=out,signal=off" -serial chardev:out)
fi
[[ ${EMU_KVM_VERBOSE:-0} == 1 ]] && say "${qemu[*]}"

dump_cpus() {
	python3 "$here/cpu-dump.py" "$job/monitor.sock" "$kdir/kallsyms" >"$job/cpus.txt" 2>&1 || true
}

qpid=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [[ -n $qpid ]] && kill -0 "$qpid" 2>/dev/null; then
		kill -TERM "$qpid" 2>/dev/null || true
		sleep 1
		kill -KILL "$qpid" 2>/dev/null || true
	fi
	# keep the last run's logs
	if [[ -d $job ]]; then
		rm -rf "$cache/last"
		rm -f "$out_fifo"
		mv "$job" "$cache/last" 2>/dev/null || rm -rf "$job"
	fi
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM HUP

status=
error=
ready=
t_ready=
if [[ $shell == 1 ]]; then
	touch "$console"
	timeout --foreground -s TERM -k 10 "$timeout_s" "${qemu[@]}" 2>"$job/qemu.err" && qrc=0 || qrc=$?
	while IFS= read -r line || [[ -n $line ]]; do
		line=${line%$'\r'}
		case $line in
		"EMU-KVM-READY "*) ready=${line#EMU-KVM-READY } ;;
		*"EMU-KVM-EXIT "*)
			# CMD's output may end without a newline.
			[[ -z ${line%%EMU-KVM-EXIT *} ]] || printf '%s' "${line%%EMU-KVM-EXIT *}"
			status=${line##*EMU-KVM-EXIT }
			;;
		"EMU-KVM-ERROR "*) say "error: ${line#EMU-KVM-ERROR }"; error=1 ;;
		"EMU-KVM-DMESG "*) say "  dmesg: ${line#EMU-KVM-DMESG }" ;;
		*) printf '%s\n' "$line" ;;
		esac
	done <"$job/out.log"
else
	timeout -s TERM -k 10 "$timeout_s" "${qemu[@]}" </dev/null >"$out_fifo" 2>"$job/qemu.err" &
	qpid=$!
	# Should TCG wedge L1 itself (hold-vm.py avoids the known cause) with a
	# soft-lockup report, nothing inside can recover, so do not wait for the
	# timeout: stop QEMU at once and let the caller decide (run-tests.sh
	# boots again). Shortly before the timeout, record where L1's CPUs are
	# (cpu-dump.py).
	(
		started=$SECONDS
		while kill -0 "$qpid" 2>/dev/null; do
			if grep -q 'soft lockup - CPU#[0-9]* stuck for [0-9][0-9]*s' "$console" 2>/dev/null; then
				: >"$job/locked-up"
				dump_cpus
				kill -TERM "$qpid" 2>/dev/null
				break
			fi
			if [[ ! -e $job/cpus.txt ]] && ((SECONDS - started >= timeout_s - 15)); then
				dump_cpus
			fi
			sleep 5
		done
	) &
	watchdog=$!
	while IFS= read -r line || [[ -n $line ]]; do
		line=${line%$'\r'}
		case $line in
		"EMU-KVM-READY "*)
			ready=${line#EMU-KVM-READY }
			t_ready=$(date +%s.%N)
			say "L1 up: Linux ${ready#* } on QEMU TCG (${EMU_KVM_CPU:-EPYC}, nested SVM), /dev/kvm ready after $(awk -v a="$t_prep" -v b="$t_ready" 'BEGIN { printf "%.1f", b - a }') s; running: $*"
			;;
		*"EMU-KVM-EXIT "*)
			# CMD's output may end without a newline.
			[[ -z ${line%%EMU-KVM-EXIT *} ]] || printf '%s' "${line%%EMU-KVM-EXIT *}"
			status=${line##*EMU-KVM-EXIT }
			;;
		"EMU-KVM-ERROR "*)
			say "error: ${line#EMU-KVM-ERROR }"
			error=1
			;;
		"EMU-KVM-DMESG "*) say "  dmesg: ${line#EMU-KVM-DMESG }" ;;
		*) printf '%s\n' "$line" ;;
		esac
	done <"$out_fifo"
	qrc=0
	wait "$qpid" || qrc=$?
	qpid=
	kill "$watchdog" 2>/dev/null || true
fi
t_end=$(date +%s.%N)

show_console() {
	if [[ -s $console ]]; then
		say "last lines of L1's console ($cache/last/console.log):"
		tail -n "${1:-30}" "$console" | tr -d '\r' | sed 's/^/emu-kvm:   /' >&2
	fi
	if [[ -s $job/qemu.err ]] && grep -qv "TCG doesn't support" "$job/qemu.err"; then
		say "QEMU's stderr:"
		grep -v "TCG doesn't support" "$job/qemu.err" | tail -n 10 | sed 's/^/emu-kvm:   /' >&2
	fi
}
[[ ${EMU_KVM_VERBOSE:-0} == 1 ]] && show_console 1000
show_cpus() {
	if [[ -s $job/cpus.txt ]]; then
		say "where L1's CPUs were ($cache/last/cpus.txt has their registers):"
		grep '^sample\|^\*\? *CPU #' "$job/cpus.txt" | sed 's/^/emu-kvm:   /' >&2
	fi
}

if [[ -e $job/locked-up ]]; then
	say "error: the emulated machine locked up (soft lockup in L1's kernel); QEMU stopped"
	show_console 8
	show_cpus
	exit 125
fi
if [[ $qrc -eq 124 || $qrc -eq 137 ]]; then
	say "error: timed out after $timeout_s s (EMU_KVM_TIMEOUT); QEMU killed"
	show_console
	show_cpus
	exit 124
fi
if [[ -n $error || -z $ready ]]; then
	[[ -n $error ]] || say "error: L1 did not come up (QEMU exited with status $qrc)"
	show_console
	exit 125
fi
if [[ -z $status ]]; then
	say "error: L1 stopped (QEMU status $qrc) before the command finished"
	show_console
	exit 125
fi
say "command exited with status $status; wall time $(awk -v a="$t0" -v b="$t_end" 'BEGIN { printf "%.1f", b - a }') s" \
	"(prepare $(awk -v a="$t0" -v b="$t_prep" 'BEGIN { printf "%.1f", b - a }') s)"
exit "$status"
